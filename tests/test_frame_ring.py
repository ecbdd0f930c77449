"""The shared-memory frame ring: readers in other processes see the frames, slots are reused only
after every reader released them, the memory lives as long as its writer."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from napari_pynta.errors import PyntaInputError
from napari_pynta.live.frame_ring import FrameRing, RingReader

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
