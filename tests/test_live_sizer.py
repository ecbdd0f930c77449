"""The sizer's size summaries run beside its reading of frames, without losing or mixing frames."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
import zmq

from napari_pynta.live import transport
from napari_pynta.live.workers.sizer import BackgroundSizer, SizerFeed


class SlowSizer:
    """A sizer whose summary blocks until released, recording what it was given."""

    def __init__(self) -> None:
        self.added: list[int] = []
        self.flows: list[object] = []  # the flow taken out of each frame added
        self.release = threading.Event()
        self.summarizing = threading.Event()
        self.fail_with: BaseException | None = None

    def add(
        self, linked: pd.DataFrame, seq: int | None = None, flow_px_per_frame: object = None
    ) -> None:
        assert not self.summarizing.is_set(), "add() while a summary runs"
        assert seq is None or seq == int(linked["frame"].iloc[0])
        self.added.append(int(linked["frame"].iloc[0]))
        self.flows.append(flow_px_per_frame)

    def summary(self, n_frames: int) -> tuple[dict, list[float]]:
        self.summarizing.set()
        self.release.wait(10)
        self.summarizing.clear()
        if self.fail_with is not None:
            raise self.fail_with
        return {"n_frames": n_frames, "frames": list(self.added)}, [100.0]


def frame(number: int) -> pd.DataFrame:
    return pd.DataFrame({"frame": [number], "y": [1.0], "x": [2.0], "particle": [0]})


def test_frames_linked_during_a_summary_join_the_next_one():
    sizer = SlowSizer()
    sizing = BackgroundSizer(sizer)
    sizing.add(frame(0))
    sizing.add(frame(1))
    sizing.start(n_frames=2, frames_sized=2)
    assert sizer.summarizing.wait(10) and sizing.running
    sizing.add(frame(2), 2, [0.0, 6.0])  # linking goes on while the summary runs: held back,
    sizing.add(frame(3))  # not lost, with the flow taken out of it
    assert sizing.collect() is None  # not finished: the linking loop does not wait
    sizer.release.set()
    summary, diameters, error, seconds = sizing.collect(wait=True)
    assert summary == {"n_frames": 2, "frames": [0, 1], "frames_sized": 2}
    assert diameters == [100.0] and error == "" and seconds >= 0
    assert sizer.added == [0, 1, 2, 3] and not sizing.running
    assert sizer.flows == [None, None, [0.0, 6.0], None]
    sizing.start(n_frames=4, frames_sized=4)
    assert sizing.collect(wait=True)[0]["frames"] == [0, 1, 2, 3]


def test_sizing_trouble_is_reported_and_other_errors_reach_the_linker():
    sizer = SlowSizer()
    sizer.release.set()
    sizing = BackgroundSizer(sizer)
    sizer.fail_with = ValueError("too few tracks")
    sizing.start(n_frames=0, frames_sized=0)
    assert sizing.collect(wait=True)[:3] == (None, [], "too few tracks")
    sizer.fail_with = KeyError("bug")
    sizing.start(n_frames=0, frames_sized=0)
    with pytest.raises(KeyError, match="bug"):
        sizing.collect(wait=True)


def test_new_settings_drop_the_running_summary_and_the_held_frames():
    old, new = SlowSizer(), SlowSizer()
    sizing = BackgroundSizer(old)
    sizing.start(n_frames=0, frames_sized=0)
    sizing.add(frame(5))
    old.release.set()
    sizing.replace(new)
    assert not sizing.running and old.added == [] and new.added == []
    sizing.add(frame(6))
    assert new.added == [6]


def _received(socket: zmq.Socket) -> list[transport.Message]:
    """Every message waiting on ``socket`` (waits a moment for the first)."""
    messages = []
    while socket.poll(1000 if not messages else 200):
        messages.append(transport.recv_message(socket))
    return messages


def test_the_feed_keeps_frames_until_a_sizer_takes_them_and_resends_them_to_a_new_one(tmp_path):
    context = zmq.Context()
    address = f"ipc://{tmp_path}/sizer_in"
    push = context.socket(zmq.PUSH)
    push.bind(address)
    settings = {"sizes_interval_s": 0.5}
    feed = SizerFeed(push, settings, first_seq=10)
    columns = {"frame": np.array([10]), "y": np.array([1.0]), "particle": np.array([0])}
    for seq in range(10, 15):  # no sizer connected: nothing is lost, everything waits
        feed.add({**columns, "frame": np.array([seq])}, seq, (0.0, 0.5 * seq))
    assert feed.waiting == 5 and feed.blocked > 0
    sizer = context.socket(zmq.PULL)
    sizer.connect(address)
    feed.end(next_seq=17)  # frames 15, 16 were lost on the way: covered, not sized
    while not feed.flush():
        time.sleep(0.01)
    messages = _received(sizer)
    assert [m.topic for m in messages] == ["reset"] + ["tracks"] * 5 + ["end"]
    # the settings, with the first frame the sizer's summaries cover
    assert messages[0].header["settings"] == {**settings, "first_seq": 10}
    assert {m.header["run"] for m in messages} == {feed.run}
    assert [int(m.data["frame"].iloc[0]) for m in messages[1:-1]] == [10, 11, 12, 13, 14]
    assert [m.header["covered"] for m in messages[1:]] == [1, 2, 3, 4, 5, 7]
    # with the flow the linker took out of each frame
    assert [m.header["flow_px_per_frame"] for m in messages[1:-1]] == [
        [0.0, 0.5 * seq] for seq in range(10, 15)
    ]
    # a restarted sizer says hello: it gets every frame again, under a new run id
    old_run = feed.run
    feed.resend()
    again = _received(sizer)
    assert [m.topic for m in again] == ["reset"] + ["tracks"] * 5 + ["end"]
    assert [m.header["flow_px_per_frame"] for m in again[1:-1]] == [
        [0.0, 0.5 * seq] for seq in range(10, 15)
    ]
    assert feed.run != old_run and {m.header["run"] for m in again} == {feed.run}
    # new settings: a new run without the old frames
    feed.reset({"sizes_interval_s": 1.0}, first_seq=20)
    feed.add({**columns, "frame": np.array([20])}, 20)
    fresh = _received(sizer)
    assert [m.topic for m in fresh] == ["reset", "tracks"]
    assert fresh[0].header["settings"] == {"sizes_interval_s": 1.0, "first_seq": 20}
    assert fresh[1].header["covered"] == 1
    context.destroy(linger=0)


def test_the_feed_lets_sent_frames_go_beyond_its_memory_and_a_new_sizer_covers_the_rest(tmp_path):
    context = zmq.Context()
    address = f"ipc://{tmp_path}/sizer_in"
    push = context.socket(zmq.PUSH)
    push.bind(address)
    sizer = context.socket(zmq.PULL)
    sizer.connect(address)
    columns = {
        "frame": np.zeros(10),
        "y": np.zeros(10),
        "x": np.zeros(10),
        "particle": np.arange(10),
    }
    frame_bytes = sum(values.nbytes for values in columns.values())
    feed = SizerFeed(push, {}, first_seq=0, keep_bytes=4.5 * frame_bytes)
    for seq in range(10):
        feed.add({**columns, "frame": np.full(10, seq)}, seq)
        while not feed.flush():
            time.sleep(0.01)
    assert [int(m.data["frame"].iloc[0]) for m in _received(sizer)[1:]] == list(range(10))
    # the four newest frames are kept, the six oldest let go
    assert [seq for _, seq, *_ in feed.frames] == [6, 7, 8, 9] and feed.forgotten == 6
    assert feed.linked == 10
    # a restarted sizer gets those four, counted from the oldest of them, and the end
    feed.resend()
    feed.end(next_seq=10)
    again = _received(sizer)
    assert [m.topic for m in again] == ["reset"] + ["tracks"] * 4 + ["end"]
    assert [m.header["covered"] for m in again[1:]] == [1, 2, 3, 4, 4]
    context.destroy(linger=0)


@pytest.mark.parametrize(
    ("flow", "said"),
    [
        (None, "missing field 'flow_px_per_frame'"),
        ([1.0], "flow is not two finite numbers"),
        ([1.0, float("nan")], "flow is not two finite numbers"),
        ([True, 0.0], "flow is not two finite numbers"),
    ],
)
def test_a_tracks_message_without_a_flow_of_two_numbers_is_a_bad_message(flow, said):
    from napari_pynta.live.workers.sizer import _incoming

    header = {"kind": "table", "run": "1-1", "seq": 3, "covered": 4}
    if flow is not None:
        header["flow_px_per_frame"] = flow
    columns = {"frame": np.array([3]), "particle": np.array([0])}
    with pytest.raises(transport.BadMessage, match=said):
        _incoming(transport.Message(transport.TOPIC_TRACKS, header, columns))
    header["flow_px_per_frame"] = [0.0, 6.0]
    assert _incoming(transport.Message(transport.TOPIC_TRACKS, header, columns))[0] == "tracks"
