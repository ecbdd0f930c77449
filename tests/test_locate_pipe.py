"""The locators' pipe: ring headers reach the locator pool through a FIFO, each frame exactly
once to exactly one locator, and a locator that dies loses only the frame it was locating."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import numpy as np
import pytest
import zmq
from test_frame_ring import SHAPE, _acquisition

from napari_pynta.live import transport
from napari_pynta.live.frame_ring import RingViews
from napari_pynta.live.locate_pipe import RECORD_BYTES, LocatePipe, fifo_path
from napari_pynta.live.workers.kept_frames import LOCATORS_HOLD

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")


def _frame(seq: int) -> np.ndarray:
    """Frame ``seq``: every pixel says which frame it is (so a reader checks what it got)."""
    return np.full(SHAPE, seq + 1, np.uint16)


def locate_in_child(path: str, done, results, hang: bool) -> None:
    """A locator: take frames from the pipe, check their pixels, release their slots; report the
    seqs of the frames it got intact. With ``hang``, stop after the first frame, holding it (a
    locator stuck or about to be killed)."""
    pipe = LocatePipe(path)
    poller = zmq.Poller()
    poller.register(pipe.fileno(), zmq.POLLIN)
    views = RingViews()
    located = []
    while True:
        message = pipe.receive()
        if message is None:
            if done.is_set() and not pipe.waiting():
                break
            poller.poll(50)
            continue
        frame = views.frame(message)
        seq = message.header["seq"]
        whole = bool(np.all(frame == seq + 1))
        del frame
        if views.intact(message) and whole:
            located.append(seq)
        if hang:
            results.put(("hung", seq))
            time.sleep(600)
        views.release(message)
    results.put(("located", located))
    views.close()
    pipe.close()


def _feed(acquisition, seqs: range) -> None:
    """Hand frames ``seqs`` to the locators as the acquisition does, waiting for a free slot
    before each (the locators keep up: nothing is skipped or reclaimed)."""
    ring = acquisition.frames.ring
    for seq in seqs:
        while not ring.n_free:
            acquisition.feed_locators()
            time.sleep(0.001)
        acquisition.seq = seq
        acquisition.hand_on(_frame(seq), 0.01 * seq)
        acquisition.feed_locators()
    while acquisition.track_queue:
        acquisition.feed_locators()
        time.sleep(0.001)


def _start(spawn, path, done, results, hang=False):
    child = spawn.Process(target=locate_in_child, args=(str(path), done, results, hang))
    child.start()
    return child


def _tracking_acquisition(tmp_path, n_slots: int):
    acquisition = _acquisition(n_slots, object())  # tracking (skips would fail on object())
    acquisition.recording = False
    acquisition.locate = None  # ring frames never use the socket when there is a pipe
    acquisition.locate_pipe = LocatePipe(str(tmp_path / "locate.fifo"))
    return acquisition


def test_two_locators_get_every_frame_once_through_the_pipe(tmp_path):
    acquisition = _tracking_acquisition(tmp_path, 6)
    spawn = multiprocessing.get_context("spawn")
    done, results = spawn.Event(), spawn.Queue()
    children = [_start(spawn, tmp_path / "locate.fifo", done, results) for _ in range(2)]
    n = 300
    try:
        _feed(acquisition, range(n))
        done.set()
        got = [results.get(timeout=60) for _ in children]
    finally:
        done.set()
        for child in children:
            child.join(60)
        acquisition.locate_pipe.close()
        acquisition.frames.close()
    located = [seqs for kind, seqs in got if kind == "located"]
    assert len(located) == 2
    everything = sorted(located[0] + located[1])
    assert everything == list(range(n))  # each frame once, to one locator, its pixels whole
    assert acquisition.counters["frames_untracked"] == 0
    assert all(child.exitcode == 0 for child in children)


def test_a_killed_locator_loses_only_the_frame_it_held_and_the_ring_can_reclaim_it(tmp_path):
    acquisition = _tracking_acquisition(tmp_path, 6)
    ring = acquisition.frames.ring
    spawn = multiprocessing.get_context("spawn")
    done, results = spawn.Event(), spawn.Queue()
    path = tmp_path / "locate.fifo"
    # the stuck locator reports on a queue of its own: killed right after its put, it may still
    # hold the queue's write lock, which would block the survivor's report on a shared queue
    hung = spawn.Queue()
    stuck = _start(spawn, path, done, hung, hang=True)
    survivor = None
    try:
        _feed(acquisition, range(3))  # the stuck locator takes one, the pipe holds the others
        kind, held_seq = hung.get(timeout=60)
        assert kind == "hung"
        os.kill(stuck.pid, signal.SIGKILL)
        stuck.join(60)
        survivor = _start(spawn, path, done, results)
        _feed(acquisition, range(3, 200))
        done.set()
        kind, located = results.get(timeout=60)
    finally:
        done.set()
        if survivor is not None:
            survivor.join(60)
        acquisition.locate_pipe.close()
    try:
        assert kind == "located"
        # every frame but the dead locator's reached the survivor (the records it had not
        # read stayed in the pipe), each once
        assert sorted(located) == [seq for seq in range(200) if seq != held_seq]
        # the dead locator's frame is the only one still held: the acquisition reclaims it
        # when the ring is full and counts it untracked (the linker's gap timeout, meanwhile)
        held = [slot for slot in range(ring.n_slots) if ring.holders(slot)]
        assert len(held) == 1 and ring.oldest_held_only_by(LOCATORS_HOLD) == held[0]
        assert acquisition.counters["frames_untracked"] == 0
    finally:
        acquisition.frames.close()


def test_a_record_is_whole_or_refused(tmp_path):
    path = str(tmp_path / "locate.fifo")
    writer, reader = LocatePipe(path), LocatePipe(path)
    try:
        prefix = transport.ring_prefix("pynta_x_0", 4, SHAPE, "<u2")
        writer.send(transport.pack_ring_header(prefix, [(2, 7, 0.5, 1.5)]))
        writer.send(transport.pack_ring_header(prefix, [(3, 8, 0.5, float("nan"))]))
        with pytest.raises(zmq.Again):  # two records wait: the pipe is full for the writer
            writer.send(transport.pack_ring_header(prefix, [(0, 9, 0.5, 1.5)]))
        assert writer.waiting() == 2
        message = reader.receive()
        assert message.header["slot"] == 2 and message.header["seq"] == 7
        assert message.header["read_at"] == 1.5 and message.header["shape"] == SHAPE
        assert "read_at" not in reader.receive().header
        assert reader.receive() is None  # nothing waits: no blocking, no EOF
        with pytest.raises(ValueError):  # a batch does not fit a record
            writer.send(transport.pack_ring_header(prefix, [(0, s, 0.0, 0.0) for s in range(9)]))
        os.write(writer.fd, b"\x00PR1".ljust(RECORD_BYTES, b"\x00"))  # damaged
        with pytest.raises(transport.BadMessage):
            reader.receive()
        os.write(writer.fd, b"{}")  # cut short
        with pytest.raises(transport.BadMessage):
            reader.receive()
    finally:
        writer.close()
        reader.close()
    assert fifo_path(None) is None
    assert fifo_path(str(tmp_path)) == str(tmp_path / "locate.fifo")


def test_a_frame_record_is_packed_and_read_as_any_header(tmp_path):
    """``send_frame`` writes the bytes ``send(pack_ring_header(...))`` writes, and the reader's
    shortcut for records of the ring it read last gives what ``decode_ring`` gives, checks
    the slot as strictly, and follows a change of ring (a camera change)."""
    path = str(tmp_path / "locate.fifo")
    writer, reader = LocatePipe(path), LocatePipe(path)
    small = transport.ring_prefix("pynta_x_0", 4, SHAPE, "<u2")
    other = transport.ring_prefix("pynta_x_1", 9, (16, 8), "<f4")
    try:
        entries = [(small, 2, 7, 0.5, 1.5), (small, 3, 8, 0.25, float("nan"))]
        entries += [(other, 8, 9, 1.0, 2.0), (other, 0, 10, 2.0, 4.0), (small, 1, 11, 1.5, 3.0)]
        for prefix, slot, seq, t, read_at in entries:
            writer.send_frame(prefix, slot, seq, t, read_at)
            record = os.read(reader.fd, RECORD_BYTES)
            writer.send(transport.pack_ring_header(prefix, [(slot, seq, t, read_at)]))
            assert os.read(reader.fd, RECORD_BYTES) == record
            os.write(writer.fd, record)
            writer.send_frame(prefix, slot, seq, t, read_at)  # the first: slow, then known
            for _ in range(2):
                message = reader.receive()
                (expected,) = transport.decode_ring(
                    transport.TOPIC_FRAMES,
                    transport.pack_ring_header(prefix, [(slot, seq, t, read_at)]),
                )
                assert message == expected
        # a slot outside the ring read last is refused as by decode_ring
        writer.send_frame(small, 4, 12, 0.0, 0.0)
        with pytest.raises(transport.BadMessage, match="slot outside"):
            reader.receive()
        # a batch behind the known ring's prefix is refused too (the pipe carries one frame)
        writer.send(transport.pack_ring_header(small, [(0, 13, 0.0, 0.0), (1, 14, 0.0, 0.0)]))
        with pytest.raises(transport.BadMessage, match="batch"):
            reader.receive()
        with pytest.raises(ValueError, match="does not fit"):
            writer.send_frame(b"\x00" * RECORD_BYTES, 0, 0, 0.0, 0.0)
    finally:
        writer.close()
        reader.close()


def test_the_writer_never_lets_more_records_wait_than_its_limit(tmp_path):
    """The writer asks the kernel how many records wait only when its own count could have
    reached the limit: whatever the order of writes and reads, a write is refused exactly when
    ``limit`` records wait unread, and the reader gets every accepted record once, in order."""
    path = str(tmp_path / "locate.fifo")
    writer, reader = LocatePipe(path), LocatePipe(path)
    prefix = transport.ring_prefix("pynta_x_0", 4, SHAPE, "<u2")
    rng = np.random.default_rng(3)
    limit, accepted, received = 3, [], []
    try:
        for seq in range(400):
            if rng.random() < 0.55:
                unread = len(accepted) - len(received)  # the truth, counted by the test
                try:
                    writer.send(transport.pack_ring_header(prefix, [(1, seq, 0.0, 0.0)]), limit)
                except zmq.Again:
                    assert unread == limit
                else:
                    assert unread < limit
                    accepted.append(seq)
            elif (message := reader.receive()) is not None:
                received.append(message.header["seq"])
            assert reader.waiting() == len(accepted) - len(received) <= limit
        while (message := reader.receive()) is not None:
            received.append(message.header["seq"])
    finally:
        writer.close()
        reader.close()
    assert received == accepted and len(accepted) > 100
