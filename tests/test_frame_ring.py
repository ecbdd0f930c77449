"""The shared-memory frame ring: readers in other processes see the frames, slots are reused only
after every reader released them, the memory lives as long as its writer."""

from __future__ import annotations

import collections
import json
import multiprocessing
import os
import threading
import time

import numpy as np
import pytest
import zmq

from napari_pynta.errors import PyntaInputError
from napari_pynta.live import frame_ring, transport
from napari_pynta.live.frame_ring import (
    SHM_DIR,
    FrameRing,
    RingReader,
    RingViews,
    unlink_rings,
)
from napari_pynta.live.transport import Message
from napari_pynta.live.workers.acquisition import Acquisition, SaveBuffer
from napari_pynta.live.workers.base import Worker
from napari_pynta.live.workers.kept_frames import LOCATORS_HOLD, FrameKeeper

SHAPE = (64, 48)


def frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 65535, size=SHAPE, dtype=np.uint16) for _ in range(n)]


def read_in_child(headers: list[dict], results) -> None:
    """Another process: attach, view every frame, report copies and whether views were writable."""
    with RingReader(headers[0]) as reader:
        views = [reader.view(header) for header in headers]
        results.put(([view.copy() for view in views], [view.flags.writeable for view in views]))
        del views


def test_a_reader_in_another_process_sees_the_frames_read_only():
    sent = frames(3)
    with FrameRing(1.0, SHAPE, np.uint16) as ring:
        headers = [
            ring.header(ring.put(frame, ["viewer"]), seq, 0.01 * seq)
            for seq, frame in enumerate(sent)
        ]
        spawn = multiprocessing.get_context("spawn")
        results = spawn.Queue()
        child = spawn.Process(target=read_in_child, args=(headers, results))
        child.start()
        received, writable = results.get(timeout=60)
        child.join(60)
        assert child.exitcode == 0
        # the reader's exit did not unlink the writer's memory: a new reader still attaches
        with RingReader(headers[0]) as again:
            np.testing.assert_array_equal(again.view(headers[2]), sent[2])
    for frame, copy in zip(sent, received, strict=True):
        np.testing.assert_array_equal(copy, frame)
    assert writable == [False, False, False]
    assert [h["seq"] for h in headers] == [0, 1, 2] and headers[1]["t"] == 0.01


def test_a_slot_is_reused_only_after_every_reader_released_it():
    first, second, third = frames(3)
    frame_mb = first.nbytes / 1e6
    with FrameRing(2.5 * frame_mb, SHAPE, np.uint16) as ring:
        assert ring.n_slots == 2
        assert ring.put(first, ["saver", "locator"]) == 0
        assert ring.put(second, ["saver"]) == 1
        assert ring.put(third, ["saver"]) is None  # slot 0 still held by both
        ring.release(0, "saver")
        assert ring.put(third, ["saver"]) is None  # the locator still holds it
        ring.release(0, "locator")
        ring.release(0, "locator")  # twice: ignored
        assert ring.put(third, ["saver"]) == 0
        with RingReader(ring.header(0, 2, 0.0)) as reader:
            np.testing.assert_array_equal(reader.view(ring.header(0, 2, 0.0)), third)
            # slot 1 kept its frame all along
            np.testing.assert_array_equal(reader.view(ring.header(1, 1, 0.0)), second)
        # a reader that died holds nothing any more
        ring.release_all("saver")
        assert ring.n_free == 2


def test_the_ring_refuses_what_does_not_fit():
    frame = frames(1)[0]
    with pytest.raises(PyntaInputError, match="size_mb"):
        FrameRing(frame.nbytes / 1e6, SHAPE, np.uint16)  # one slot only
    with FrameRing(1.0, SHAPE, np.uint16) as ring:
        with pytest.raises(ValueError, match="does not fit"):
            ring.put(frame.astype(np.float32), ["saver"])
        with pytest.raises(ValueError, match="at least one reader"):
            ring.put(frame, [])
        header = ring.header(ring.put(frame, ["saver"]), 0, 0.0)
        with RingReader(header) as reader, pytest.raises(ValueError, match="slot"):
            reader.view({**header, "slot": ring.n_slots})


def test_closing_the_writer_removes_the_shared_memory():
    ring = FrameRing(1.0, SHAPE, np.uint16)
    header = ring.header(ring.put(frames(1)[0], ["saver"]), 0, 0.0)
    ring.close()
    with pytest.raises(FileNotFoundError):
        RingReader(header)


def test_the_lowest_free_slot_is_reused_and_a_late_release_frees_nothing():
    first, second, third = frames(3)
    with FrameRing(3.5 * first.nbytes / 1e6, SHAPE, np.uint16) as ring:
        assert [ring.put(f, ["saver"], seq) for seq, f in enumerate(frames(3))] == [0, 1, 2]
        ring.release(1, "saver", seq=1)
        assert ring.put(first, ["locators"], seq=3) == 1  # the freed slot, not the oldest
        # a release naming the frame that was in slot 1 before must not free the new one
        ring.release(1, "locators", seq=1)
        assert ring.holders(1) == {"locators"}
        assert ring.put(second, ["saver"], seq=4) is None
        # the oldest frame held only by the locators (one that never came back) is reclaimed
        assert ring.oldest_held_only_by("locators") == 1
        header = ring.header(1, 3, 0.0)
        with RingReader(header) as reader:
            assert reader.intact(header)
            ring.reclaim(1)
            assert ring.put(third, ["saver"], seq=5) == 1
            # the reader that still had frame 3 sees that its slot was rewritten
            assert not reader.intact(header)
            assert reader.intact(ring.header(1, 5, 0.0))
            np.testing.assert_array_equal(reader.view(header), third)


def _message(parts: list) -> Message:
    return transport.decode([part if isinstance(part, bytes) else part.tobytes() for part in parts])


def _ring_message(ring: FrameRing, slot: int, seq: int, t: float) -> Message:
    """The message the readers get for frame ``seq`` in ``slot``, as it travels."""
    header = transport.pack_ring_header(ring.prefix, [(slot, seq, t, float("nan"))])
    return _message([b"frames", header])


def test_ring_views_give_the_pixels_or_a_view_and_refuse_what_does_not_point_into_a_ring():
    frame = frames(1)[0]
    views = RingViews()
    with FrameRing(1.0, SHAPE, np.uint16) as ring:
        in_ring = _ring_message(ring, ring.put(frame, ["saver"], seq=7), 7, 0.5)
        assert in_ring.header == ring.header(0, 7, 0.5)
        view = views.frame(in_ring)
        assert not view.flags.writeable and not view.flags.owndata
        np.testing.assert_array_equal(view, frame)
        assert views.intact(in_ring) and views.ring == ring.name
        pixels = {"kind": "frame", "seq": 8, "t": 0.0, "shape": list(SHAPE), "dtype": "<u2"}
        in_message = _message([b"frames", json.dumps(pixels).encode()] + [frame])
        np.testing.assert_array_equal(views.frame(in_message), frame)
        # a block that is not there, a ring name that is no name (a slot outside the ring is
        # refused when the header is decoded: tests/test_transport.py)
        for name in ("pynta_no_such_ring", "../etc"):
            prefix = transport.ring_prefix(name, ring.n_slots, SHAPE, "<u2")
            header = transport.pack_ring_header(prefix, [(0, 7, 0.5, float("nan"))])
            with pytest.raises(transport.BadMessage, match="cannot attach"):
                views.frame(_message([b"frames", header]))
        # pixels after a ring header: its third part is only for the fields its frames share
        with pytest.raises(transport.BadMessage, match="shared ring fields are not JSON"):
            _message(
                [b"frames", transport.pack_ring_header(ring.prefix, [(0, 7, 0.5, 0.0)]), frame]
            )
        del view
        views.close()


def _write_and_wait(name: str, written) -> None:
    """Another process: create a ring, write a frame, then wait to be killed."""
    ring = FrameRing(1.0, SHAPE, np.uint16, name=name)
    ring.put(frames(1)[0], ["saver"])
    written.set()
    time.sleep(600)


def test_a_ring_left_by_a_killed_writer_is_removed_by_name():
    prefix = f"pynta_test_{os.getpid()}"
    spawn = multiprocessing.get_context("spawn")
    written = spawn.Event()
    writer = spawn.Process(target=_write_and_wait, args=(f"{prefix}_0", written))
    writer.start()
    try:
        assert written.wait(60)
    finally:
        writer.kill()
        writer.join(10)
    if os.path.isdir(SHM_DIR):
        assert os.path.exists(os.path.join(SHM_DIR, f"{prefix}_0"))  # SIGKILL left it behind
    assert unlink_rings([f"{prefix}_0"], prefix=prefix) == [f"{prefix}_0"]
    with pytest.raises(FileNotFoundError):
        RingReader({"ring": f"{prefix}_0", "n_slots": 2, "shape": list(SHAPE), "dtype": "<u2"})
    assert unlink_rings(prefix=prefix) == []


def test_without_room_for_the_ring_frames_travel_in_the_messages():
    warnings: list[str] = []
    keeper = FrameKeeper(1e12, f"pynta_test_{os.getpid()}", warnings.append)
    keeper.prepare(SHAPE, np.uint16)
    assert keeper.ring_name is None
    assert len(warnings) == 1 and "could not be created" in warnings[0]
    frame = frames(1)[0]
    kept = keeper.keep(frame, 3, 0.1, ["saver"])
    assert kept.ring is None and kept.frame is frame and kept.seq == 3
    keeper.close()


class _Worker:
    """What the acquisition's hand-on step uses of its worker: reports, kept for the test."""

    def __init__(self):
        self.errors: list[str] = []
        self.reports: list[tuple[str, dict]] = []

    def error(self, text: str) -> None:
        self.errors.append(text)

    def warn(self, text: str) -> None:
        self.errors.append(text)

    def report(self, event: str, **payload) -> None:
        self.reports.append((event, payload))

    def receive(self, socket: zmq.Socket, where: str) -> Message | None:
        try:
            return transport.recv_message(socket, zmq.NOBLOCK)
        except zmq.Again:
            return None


def _inproc_pair(context: zmq.Context, name: str) -> tuple[zmq.Socket, zmq.Socket]:
    """A PULL socket bound to ``inproc://name`` and a PUSH socket connected to it."""
    pull = context.socket(zmq.PULL)
    pull.bind(f"inproc://{name}")
    push = context.socket(zmq.PUSH)
    push.connect(f"inproc://{name}")
    return pull, push


def _acquisition(n_slots: int, linker) -> Acquisition:
    """An acquisition without camera or processes: a ring of ``n_slots``, recording, tracking."""
    acquisition = Acquisition.__new__(Acquisition)
    acquisition.w = _Worker()
    acquisition.frames = FrameKeeper(n_slots * 64 * 48 * 2 / 1e6, f"pynta_t{os.getpid()}", print)
    acquisition.frames.prepare(SHAPE, np.uint16)
    acquisition.save_buffer = SaveBuffer(10**9)
    acquisition.track_queue = collections.deque()
    acquisition.track_bytes = 0
    acquisition.track_buffer_bytes = 10**9
    acquisition.to_linker = linker
    acquisition.recording = True
    acquisition.recording_broken = False
    acquisition.end_requested = acquisition.end_reason = None
    acquisition.last_recorded_seq = -1
    acquisition.recording_number = 1
    acquisition.counters = {"frames_untracked": 0, "recording_frames": 0, "record_refused": 0}
    acquisition.seq = 0
    return acquisition


def test_a_full_ring_frees_tracking_slots_first_and_never_the_saver_s():
    context = zmq.Context()
    linker, to_linker = _inproc_pair(context, "linker")
    acquisition = _acquisition(4, to_linker)
    try:
        sent = frames(6)
        for frame in sent[:4]:  # four frames, each for the saver and the locators
            acquisition.hand_on(frame, 0.0)
            acquisition.seq += 1
        ring = acquisition.frames.ring
        assert ring.n_free == 0 and len(acquisition.track_queue) == 4
        acquisition.track_queue.popleft()  # frame 0 "sent" to a locator that then died
        acquisition.save_buffer.acknowledge(3)  # the saver wrote 0..3
        # a fifth frame: the oldest frame still queued for the locators (1) makes room
        acquisition.hand_on(sent[4], 0.0)
        acquisition.seq += 1
        assert transport.recv_message(linker).header["skip"] == [1]
        assert [kept.seq for kept, _ in acquisition.track_queue] == [2, 3, 4]
        acquisition.track_queue.clear()  # 2, 3, 4 in flight
        # a sixth: the oldest in-flight frame never released (0, its locator died) is reclaimed
        acquisition.hand_on(sent[5], 0.0)
        assert acquisition.counters["frames_untracked"] == 2
        header = ring.header(0, 5, 0.0)
        with RingReader(header) as reader:
            np.testing.assert_array_equal(reader.view(header), sent[5])
            assert not reader.intact(ring.header(0, 0, 0.0))  # frame 0's locator would see it
        # the saver holds every slot: the recording stops loudly, nothing is overwritten
        acquisition.to_linker = None  # recording only from here on
        acquisition.track_queue.clear()
        acquisition.save_buffer.acknowledge(5)  # the saver wrote everything so far
        ring.release_all(LOCATORS_HOLD)  # and the locators are done
        for seq in range(6, 10):
            acquisition.seq = seq
            acquisition.hand_on(sent[0], 0.0)
        assert ring.n_free == 0 and acquisition.recording
        acquisition.seq = 10
        acquisition.hand_on(sent[1], 0.0)
        assert not acquisition.recording and acquisition.counters["record_refused"] == 1
        assert any("recording stopped" in error for error in acquisition.w.errors)
        assert [kept.seq for kept in acquisition.save_buffer.frames][-4:] == [6, 7, 8, 9]
        assert acquisition.last_recorded_seq == 9
    finally:
        acquisition.frames.close()
        context.destroy(linger=0)


@pytest.mark.parametrize(
    ("hello_of", "resent"),
    [(1, [0, 1, 2, 3, 4, "end"]), (2, []), (0, [])],
    ids=["this recording's saver", "the next recording's", "an older one's"],
)
def test_a_savers_hello_gets_the_unwritten_frames_of_its_own_recording_only(hello_of, resent):
    """Recording 1 recorded frames 0..4 and ended before the saver wrote any (frozen, given up;
    or its hello, sent before the recording started, was read late on a loaded machine).

    The hello of recording 1's saver (restarted, or late) gets them again with the end marker:
    they are that store's. The hello of the saver that the next recording started, which comes
    before the acquisition's own ``record`` command, once got them too, and the old end marker
    after them ended the new recording at once; now they are forgotten (the supervisor counts
    them as dropped). An older recording's hello changes nothing."""
    context = zmq.Context()
    saver, save = _inproc_pair(context, "save")
    acks, to_acks = _inproc_pair(context, "save_ack")
    acquisition = _acquisition(8, None)
    acquisition.save, acquisition.acks = save, acks
    try:
        for frame in frames(5):
            acquisition.hand_on(frame, 0.0)
            acquisition.seq += 1
        acquisition.feed_saver()  # sent to the saver, which writes none of them
        acquisition.end_recording("stopped")
        acquisition.feed_saver()
        while transport.recv_messages(saver, zmq.NOBLOCK) if saver.poll(0) else []:
            pass  # what the first saver got: gone with it
        hello = {"hello": True, "recording": hello_of, "saved_seq": -1}
        transport.send_json(to_acks, transport.TOPIC_ACK, hello)
        acquisition.read_acks()
        acquisition.feed_saver()
        got: list[int | str] = []
        while saver.poll(0):
            for message in transport.recv_messages(saver, zmq.NOBLOCK):
                end = message.topic == transport.TOPIC_END
                got.append("end" if end else message.header["seq"])
                assert message.header["recording"] == 1  # the saver writes only its own
        assert got == resent
        assert len(acquisition.save_buffer.frames) == (5 if hello_of < 2 else 0)
    finally:
        acquisition.frames.close()
        context.destroy(linger=0)


def test_frames_waiting_for_the_saver_leave_in_one_message_and_arrive_one_by_one():
    """Frames that queued up while the saver's socket was full leave as one ring header; the
    saver's receive hands them out one by one, exactly as if they had come one by one."""
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.bind("inproc://saver")
    push = context.socket(zmq.PUSH)
    push.connect("inproc://saver")
    keeper = FrameKeeper(1.0, f"pynta_b{os.getpid()}", print)
    keeper.prepare(SHAPE, np.uint16)
    buffer = SaveBuffer(10**9)
    sent = frames(6)
    try:
        buffer.add(keeper.keep(sent[0], 0, 0.0, ["saver"]))
        buffer.send(push, 4)  # alone: sent at once, alone
        for seq in range(1, 6):  # the saver's socket was full meanwhile: five frames wait
            buffer.add(keeper.keep(sent[seq], seq, 0.1 * seq, ["saver"]))
        buffer.send(push, 4)
        assert buffer.all_sent and buffer.highest_sent == 5
        alone = transport.recv_messages(pull)
        batch = transport.recv_messages(pull)
        assert [len(alone), len(batch)] == [1, 5]
        with pytest.raises(zmq.Again):
            pull.recv(zmq.NOBLOCK)
        ring = keeper.ring
        assert [m.header for m in alone + batch] == [  # each names recording 4
            {**ring.header(seq, seq, 0.1 * seq), "recording": 4} for seq in range(6)
        ]
        worker = _Receiver()
        for message in alone + batch:  # the same frames, sent again as one message
            header = message.header
            entry = (header["slot"], header["seq"], header["t"], float("nan"))
            transport.send_ring_frames(push, transport.TOPIC_FRAMES, ring.prefix, [entry])
        transport.send_ring_frames(
            push, transport.TOPIC_FRAMES, ring.prefix, [(s, s, 0.1 * s, np.nan) for s in range(6)]
        )
        one_by_one = [worker.receive(pull, "save") for _ in range(6)]
        received = [worker.receive(pull, "save") for _ in range(6)]
        assert not worker.has_pending(pull) and worker.receive(pull, "save") is None
        assert [m.header for m in received] == [m.header for m in one_by_one]
        views = RingViews()
        for seq, message in enumerate(received):
            np.testing.assert_array_equal(views.frame(message), sent[seq])
        views.close()
    finally:
        keeper.close()
        context.destroy(linger=0)


class _Receiver(Worker):
    """A worker's receive step, without its processes and sockets to the supervisor."""

    def __init__(self):
        self.name = "saver"
        self.bad_messages = transport.BadMessageLog(print)
        self._pending = {}


def test_a_growing_ring_reserves_its_memory_in_a_thread_ahead_of_use(monkeypatch):
    """Reserving ring memory takes milliseconds: the acquisition's loop must not wait for it."""
    reserved_by: list[tuple[str, int]] = []
    reserve = frame_ring._reserve

    def record(memory, offset, length):
        reserved_by.append((threading.current_thread().name, offset + length))
        reserve(memory, offset, length)

    monkeypatch.setattr(frame_ring, "_reserve", record)
    keeper = FrameKeeper(100 * 64 * 48 * 2 / 1e6, f"pynta_g{os.getpid()}", print)
    keeper.prepare(SHAPE, np.uint16)
    ring = keeper.ring
    frame = frames(1)[0]
    try:
        reserved_by.clear()  # creating the ring reserved its stamps
        for seq in range(60):  # every frame held: the ring grows slot after slot
            kept = keeper.keep(frame, seq, 0.0, ["saver"])
            keeper._reserving.result()  # the reservation ahead is done (the loop never waits)
            assert kept.slot == seq and ring.reserved_slots > seq + frame_ring.RESERVE_SLOTS
        threads = [name for name, _ in reserved_by]
        assert threads[0] == "MainThread"  # the first slot, before any reservation ahead
        assert len(threads) > 2 and all(
            name.startswith("pynta-ring-reserve") for name in threads[1:]
        )
        assert [end for _, end in reserved_by] == sorted(end for _, end in reserved_by)
        with RingReader(ring.header(59, 59, 0.0)) as reader:
            np.testing.assert_array_equal(reader.view(ring.header(59, 59, 0.0)), frame)
    finally:
        keeper.close()


def release_in_child(ring_message_parts: list[bytes], done) -> None:
    """Another process (a locator): view the frame, then give its slot back through the ring."""
    views = RingViews()
    message = _message(ring_message_parts)
    views.frame(message)
    views.release(message)
    views.close()
    done.set()


def test_a_locator_gives_its_slot_back_through_the_ring_and_only_the_frame_it_got():
    acquisition = _acquisition(4, None)
    acquisition.recording = False
    sent = frames(3)
    try:
        for frame in sent[:2]:  # frames 0 and 1 for the locators only, in slots 0 and 1
            acquisition.keep(frame, 0.0, [LOCATORS_HOLD])
            acquisition.seq += 1
        ring = acquisition.frames.ring
        assert ring.n_free == 2
        # a locator in another process releases frame 1: no message, the slot is free at once
        spawn = multiprocessing.get_context("spawn")
        done = spawn.Event()
        header = transport.pack_ring_header(ring.prefix, [(1, 1, 0.0, float("nan"))])
        child = spawn.Process(target=release_in_child, args=([b"frames", header], done))
        child.start()
        assert done.wait(60)
        child.join(60)
        assert ring.n_free == 3 and ring.holders(0) == {LOCATORS_HOLD}
        # ... and it is the slot the next frame goes to (the lowest free one, still cached)
        assert acquisition.keep(sent[2], 0.0, [LOCATORS_HOLD]).slot == 1
        acquisition.seq += 1
        views = RingViews()
        views.frame(_ring_message(ring, 0, 0, 0.0))
        # a release naming another frame than the slot holds frees nothing (frame 1 was
        # replaced by frame 2 in slot 1)
        views.release(_ring_message(ring, 1, 1, 0.0))
        views.release(_ring_message(ring, 0, 7, 0.0))
        assert ring.n_free == 2 and ring.holders(1) == {LOCATORS_HOLD}
        # a reclaimed slot: the late release of its old frame does not free the new one
        ring.reclaim(0)
        assert acquisition.keep(sent[0], 0.0, [LOCATORS_HOLD]).slot == 0
        views.release(_ring_message(ring, 0, 0, 0.0))
        assert ring.n_free == 2
        views.release(_ring_message(ring, 0, 3, 0.0))
        views.release(_ring_message(ring, 0, 3, 0.0))  # twice: nothing more
        assert ring.n_free == 3 and ring.holders(0) == frozenset()
        # the acquisition frees a frame it never sent (the tracking queue was full) itself
        kept = acquisition.keep(sent[1], 0.0, [LOCATORS_HOLD])
        assert ring.n_free == 2
        kept.release(LOCATORS_HOLD)
        assert ring.n_free == 3
        views.close()
    finally:
        acquisition.frames.close()


@pytest.mark.parametrize("n_awaited", [5, frame_ring.FEW_AWAITED + 9])
def test_releases_through_the_cells_free_exactly_their_slots_few_or_many_awaited(n_awaited):
    # the writer reads the cells of a few awaited slots one by one and compares many at once:
    # either way a cell frees its slot only when it names the slot's frame
    frame = frames(1)[0]
    with FrameRing(
        (n_awaited + 1.5) * frame.nbytes / 1e6, SHAPE, np.uint16, None, "locators"
    ) as ring:
        seqs = [100 + slot for slot in range(n_awaited)]
        assert [ring.put(frame, ["locators"], seq) for seq in seqs] == list(range(n_awaited))
        with RingReader(ring.header(0, seqs[0], 0.0)) as reader:
            reader.release(ring.header(2, seqs[2], 0.0))
            reader.release(ring.header(1, seqs[0], 0.0))  # another frame's seq: nothing
            reader.release(ring.header(n_awaited - 1, seqs[-1], 0.0))
            assert ring.n_free == 1 + 2
            assert ring.holders(1) == {"locators"} and ring.holders(2) == frozenset()
            # the lowest released slot is reused; its old frame's late release frees nothing
            assert ring.put(frame, ["locators"], 7) == 2
            reader.release(ring.header(2, seqs[2], 0.0))
            assert ring.holders(2) == {"locators"}
            reader.release(ring.header(2, 7, 0.0))
            assert ring.holders(2) == frozenset()
            for slot in range(n_awaited - 1):
                reader.release(ring.header(slot, seqs[slot], 0.0))
            assert ring.n_free == ring.n_slots
