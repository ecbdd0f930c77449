"""The saver worker alone, driven through its sockets as the supervisor and the acquisition do."""

from __future__ import annotations

import itertools
import multiprocessing
import shutil
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import zmq

# the fixture asserting that every test leaves no worker process behind
from test_live_pipeline import no_leftover_processes  # noqa: F401

from napari_pynta.live import transport
from napari_pynta.live.config import LiveEndpoints
from napari_pynta.live.protocol import SAVER, Command, Event
from napari_pynta.live.workers.saver import saver_worker
from napari_pynta.store import MovieStore

pytestmark = pytest.mark.slow

SHAPE = (8, 8)
#: seconds to wait for an answer of the saver (its start imports zarr and numpy)
ANSWER_TIMEOUT_S = 60.0


class SaverHarness:
    """A saver process with the supervisor's and the acquisition's ends of its sockets."""

    def __init__(self) -> None:
        self.endpoints = LiveEndpoints.create()
        self.context = zmq.Context()
        self.control = self._bind(zmq.PUB, self.endpoints.control)
        self.status = self._bind(zmq.PULL, self.endpoints.status)
        self.save = self._bind(zmq.PUSH, self.endpoints.save)
        self.acks = self._bind(zmq.PULL, self.endpoints.save_ack)
        self.ids = itertools.count(1)
        self.reports: list[dict[str, Any]] = []
        self.process = self._start()

    def _start(self) -> multiprocessing.process.BaseProcess:
        """A saver process on these sockets, once it is ready."""
        process = multiprocessing.get_context("spawn").Process(
            target=saver_worker, args=(SAVER, self.endpoints), daemon=True
        )
        process.start()
        self.wait_report(Event.READY)
        return process

    def restart(self) -> None:
        """Kill the saver (SIGKILL, as a crash) and start another, as the supervisor does."""
        self.process.kill()
        self.process.join()
        self.process = self._start()

    def _bind(self, kind: int, address: str) -> zmq.Socket:
        socket = self.context.socket(kind)
        socket.setsockopt(zmq.LINGER, 0)
        socket.bind(address)
        return socket

    def wait_report(self, event: str, **fields: Any) -> dict[str, Any]:
        """The first report ``event`` (with ``fields``) not yet waited for."""
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        seen = 0
        while time.monotonic() < deadline:
            for report in self.reports[seen:]:
                if report["event"] == event and fields.items() <= report.items():
                    self.reports.remove(report)
                    return report
            seen = len(self.reports)
            if self.status.poll(100):
                self.reports.append(transport.recv_message(self.status).header)
        raise AssertionError(f"no {event} {fields} from the saver; it said {self.reports}")

    def read_reports(self, seconds: float) -> None:
        """Keep the reports the saver sends within ``seconds`` (in :attr:`reports`)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.status.poll(int(left * 1000) + 1):
                self.reports.append(transport.recv_message(self.status).header)

    def command(self, cmd: str, **payload: Any) -> None:
        """Send a command until the saver acknowledges it (a SUB misses what came before it)."""
        ident = next(self.ids)
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while time.monotonic() < deadline:
            transport.send_json(self.control, SAVER, {"id": ident, "cmd": cmd, **payload})
            try:
                self.wait_report(Event.ACK, id=ident)
                return
            except AssertionError:
                continue
        raise AssertionError(f"the saver did not acknowledge {cmd}")

    def record(self, number: int, path: str, resume: bool = False) -> dict[str, Any]:
        """Start (or with ``resume``, resume) recording ``number`` into ``path``; return the
        saver's hello."""
        self.command(
            Command.RECORD,
            recording=number,
            path=path,
            frame_shape=list(SHAPE),
            dtype="<u2",
            metadata={"frame_interval_s": 0.01, "pixel_size_um": 0.1},
            resume=resume,
        )
        self.wait_report(Event.RECORDING, path=path)
        while not (hello := transport.recv_message(self.acks).header).get("hello"):
            pass  # the acknowledgements of the frames written before
        assert hello["recording"] == number
        return hello

    def send_frames(self, seqs: range, recording: int | None) -> None:
        """Send frames ``seqs`` of ``recording`` (None: headers without the field), each frame
        filled with its seq."""
        named = {} if recording is None else {"recording": recording}
        for seq in seqs:
            frame = np.full(SHAPE, seq, dtype=np.uint16)
            transport.send_frame(self.save, transport.TOPIC_FRAMES, seq, seq * 0.01, frame, **named)

    def send_end(self, last_seq: int, recording: int) -> None:
        end = {"end": True, "recording": recording, "last_seq": last_seq}
        transport.send_json(self.save, transport.TOPIC_END, end)

    def wait_saved(self, seq: int) -> None:
        """Wait until the saver acknowledges frame ``seq`` as written."""
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.acks.poll(100) and transport.recv_message(self.acks).header["saved_seq"] >= seq:
                return
        raise AssertionError(f"the saver did not write frame {seq}")

    def close(self) -> None:
        if self.process.is_alive():
            transport.send_json(self.control, SAVER, {"id": next(self.ids), "cmd": Command.STOP})
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.context.destroy(linger=0)
        shutil.rmtree(str(self.endpoints.directory), ignore_errors=True)


@pytest.fixture
def saver() -> Iterator[SaverHarness]:
    harness = SaverHarness()
    yield harness
    harness.close()


def _stored_seq(path: str) -> list[int]:
    with MovieStore.open(path) as store:
        return [int(seq) for seq in store.seq]


def test_what_comes_for_an_ended_recording_stays_out_of_the_next_one(saver, tmp_path):
    """The acquisition resends a recording's unwritten frames and its end marker when that
    recording's hello reaches it late, after the recording ended: the saver, idle by then, left
    them on its socket, and the next recording read them first: its new store took the frames
    of the one before, and the stale end marker after them ended it at once (it held [2, 3, 4]
    and none of its own frames)."""
    first, second = str(tmp_path / "first.zarr"), str(tmp_path / "second.zarr")
    saver.record(1, first)
    saver.send_frames(range(0, 5), recording=1)
    saver.send_end(4, recording=1)
    saver.wait_report(Event.FINISHED, path=first, frames_saved=5)
    # the late hello's answer: the frames not acknowledged yet, and the end marker again
    saver.send_frames(range(2, 5), recording=1)
    saver.send_end(4, recording=1)
    # and the end marker of a recording that held no frame, resent alike
    saver.send_end(-1, recording=0)
    time.sleep(0.5)  # the idle saver reads them (it polls every 0.1 s)
    saver.record(2, second)
    saver.send_frames(range(10, 14), recording=2)
    saver.send_end(13, recording=2)
    finished = saver.wait_report(Event.FINISHED, path=second)
    assert _stored_seq(first) == [0, 1, 2, 3, 4]
    assert _stored_seq(second) == [10, 11, 12, 13]
    assert finished["frames_saved"] == 4 and finished["frames_missing"] == 0
    assert not [report for report in saver.reports if report["event"] == Event.ERROR]


def test_a_resend_of_the_last_recording_stays_out_of_the_next_one_once_it_started(saver, tmp_path):
    """The late hello's resend (recording 1's unwritten frames and its end marker) came after
    the saver had started recording 2: the new store took frames 2..4 of recording 1, and their
    end marker ended recording 2 at once, before any of its own frames. Every message on the
    save socket now names its recording; the saver writes only the one it was told to record,
    and drops (and counts) the others, and headers that name none."""
    first, second = str(tmp_path / "first.zarr"), str(tmp_path / "second.zarr")
    saver.record(1, first)
    saver.send_frames(range(0, 5), recording=1)
    saver.send_end(4, recording=1)
    saver.wait_report(Event.FINISHED, path=first, frames_saved=5)
    saver.record(2, second)  # the saver reported ``recording`` for recording 2
    saver.send_frames(range(2, 5), recording=1)  # recording 1's resend, late
    saver.send_end(4, recording=1)
    saver.send_frames(range(10, 12), recording=2)
    saver.send_frames(range(12, 13), recording=None)  # a header without the field
    saver.send_frames(range(12, 15), recording=2)
    saver.wait_saved(14)
    saver.read_reports(0.3)
    assert Event.FINISHED not in [report["event"] for report in saver.reports]  # not ended yet
    saver.send_end(14, recording=2)
    finished = saver.wait_report(Event.FINISHED, path=second)
    assert _stored_seq(first) == [0, 1, 2, 3, 4]
    assert _stored_seq(second) == [10, 11, 12, 13, 14]
    with MovieStore.open(second) as store:
        stored = store.read_frames(0, store.n_frames)
    expected = np.stack([np.full(SHAPE, seq, dtype=np.uint16) for seq in range(10, 15)])
    np.testing.assert_array_equal(stored, expected)
    assert finished["frames_saved"] == 5 and finished["frames_missing"] == 0
    assert finished["bad_messages"] == 5  # recording 1's 3 frames and end marker, the unnamed one


def test_a_restarted_saver_takes_the_resent_frames_of_its_own_recording(saver, tmp_path):
    """A saver that died during recording 3 is restarted with the same number (``resume``): it
    takes the frames the acquisition sends again after its hello, from the first one not
    stored on, and still leaves out a late resend of recording 2."""
    path = str(tmp_path / "resumed.zarr")
    saver.record(3, path)
    saver.send_frames(range(0, 4), recording=3)
    saver.wait_saved(3)
    saver.restart()
    hello = saver.record(3, path, resume=True)
    assert hello["saved_seq"] == 3
    saver.send_frames(range(2, 5), recording=3)  # the unacknowledged frames, and on
    saver.send_frames(range(0, 2), recording=2)
    saver.send_frames(range(5, 8), recording=3)
    saver.send_end(7, recording=3)
    finished = saver.wait_report(Event.FINISHED, path=path)
    assert _stored_seq(path) == list(range(8))
    assert finished["frames_saved"] == 8 and finished["frames_missing"] == 0
    assert finished["bad_messages"] == 2
