"""Frame transport throughput: zero-copy multipart vs ``send_pyobj`` (the original PyNTA) vs memcpy.

Run ``python benchmarks/bench_transport.py [--frames N] [--rounds R]``.

A receiver process pulls frames over ``ipc://`` from this process, as the saver and locators do
in the live pipeline. Three ways are measured side by side, interleaved round by round so that
background load on a shared machine hits all of them alike:

- ``zero-copy``: :func:`napari_pynta.live.transport.send_frame` / ``recv_frame`` (JSON header +
  raw buffer, ``copy=False`` both ways, no pickle);
- ``send_pyobj``: ``socket.send_pyobj(frame)`` / ``recv_pyobj()`` (pickles the array: the path of
  the 2018 PyNTA);
- ``shared memory``: :class:`napari_pynta.live.frame_ring.FrameRing`: the sender copies the frame
  once into a slot of a shared-memory ring (64 frames) and sends only the header; the receiver
  views the slot read-only (no copy) and sends the slot back as released (the ring's way on one
  host);
- ``memcpy``: ``np.copyto`` of a frame into a preallocated one in one process: the cost of
  touching the bytes once, the floor any transport pays at least (the same frame each time, so
  it is largely cache-warm: an optimistic floor).

Each transport run sends N frames and the receiver times from the first to the last frame and
touches one pixel of each (so the frame is really there). The figures are frames per second and
GB/s, the medians over the rounds, and the ratios to ``send_pyobj``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time

import numpy as np
import zmq

from napari_pynta.live import transport
from napari_pynta.live.frame_ring import FrameRing, RingReader

SHAPES = ((512, 512), (1024, 1024))
MODES = ("zero-copy", "shared memory", "send_pyobj")
#: frames the shared-memory ring holds (as many as the sender's ZeroMQ queue in the other modes)
RING_FRAMES = 64
#: the receiver releases slots in batches of at most this many (fewer messages, fewer wake-ups)
RELEASE_BATCH = 16


def receiver(address: str, mode: str, n_frames: int, results) -> None:
    """Pull ``n_frames`` frames and put the seconds from first to last on ``results``."""
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.connect(address)
    release = context.socket(zmq.PUSH)
    release.connect(address + "-release")
    reader = None
    done: list[int] = []
    checksum = 0
    start = 0.0
    for index in range(n_frames):
        if mode == "zero-copy":
            frame = transport.recv_frame(pull)[2]
        elif mode == "shared memory":
            header = transport.recv_message(pull).header
            reader = reader or RingReader(header)
            frame = reader.view(header)
        else:
            frame = pull.recv_pyobj()
        if index == 0:
            start = time.perf_counter()
        checksum += int(frame[-1, -1])
        if mode == "shared memory":
            del frame
            done.append(header["slot"])
            if len(done) >= RELEASE_BATCH or not pull.poll(0):  # release in batches
                release.send(np.array(done, dtype=np.int32).tobytes())
                done.clear()
    results.put((time.perf_counter() - start, checksum))
    if reader is not None:
        reader.close()
    pull.close(0)
    release.close()
    context.term()


def transport_rate(mode: str, frame: np.ndarray, n_frames: int, workdir: str) -> float:
    """Frames per second through ``mode`` from this process to a receiver process."""
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, 64)
    address = f"ipc://{workdir}/{mode}"
    push.bind(address)
    released = context.socket(zmq.PULL)
    released.bind(address + "-release")
    ring = FrameRing(RING_FRAMES * frame.nbytes / 1e6, frame.shape, frame.dtype)
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    process = spawn.Process(target=receiver, args=(address, mode, n_frames, results))
    process.start()
    for index in range(n_frames):
        if mode == "zero-copy":
            transport.send_frame(push, transport.TOPIC_FRAMES, index, 0.0, frame)
        elif mode == "shared memory":
            while (slot := ring.put(frame, ["receiver"])) is None:  # wait for a free slot
                release_slots(ring, released.recv())
            transport.send_json(push, transport.TOPIC_FRAMES, ring.header(slot, index, 0.0))
            while released.poll(0):
                release_slots(ring, released.recv())
        else:
            push.send_pyobj(frame)
    seconds, checksum = results.get(timeout=300)
    process.join()
    ring.close()
    push.close(0)
    released.close(0)
    context.term()
    if checksum != int(frame[-1, -1]) * n_frames:
        raise AssertionError(f"{mode}: frames arrived damaged")
    return (n_frames - 1) / seconds


def release_slots(ring: FrameRing, message: bytes) -> None:
    """Release the slots listed in a receiver's message (int32 slot numbers)."""
    for slot in np.frombuffer(message, dtype=np.int32):
        ring.release(int(slot), "receiver")


def memcpy_rate(frame: np.ndarray, n_frames: int) -> float:
    """Frames per second copied by ``np.copyto`` into a preallocated frame."""
    target = np.empty_like(frame)
    start = time.perf_counter()
    for _ in range(n_frames):
        np.copyto(target, frame)
    return n_frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400, help="frames per run (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"frame transport, {args.frames} uint16 frames per run, median of {args.rounds} "
        f"interleaved rounds, receiver in another process over ipc"
    )
    with tempfile.TemporaryDirectory(prefix="pynta-bench-") as workdir:
        for shape in SHAPES:
            frame = rng.integers(90, 4000, size=shape, dtype=np.uint16)
            rates: dict[str, list[float]] = {mode: [] for mode in (*MODES, "memcpy")}
            for _ in range(args.rounds):
                for mode in MODES:
                    rates[mode].append(transport_rate(mode, frame, args.frames, workdir))
                rates["memcpy"].append(memcpy_rate(frame, args.frames))
            median = {mode: statistics.median(values) for mode, values in rates.items()}
            print(f"\n{shape[0]}x{shape[1]} ({frame.nbytes / 1e6:.2f} MB per frame)")
            for mode, fps in median.items():
                print(
                    f"  {mode:13s} {fps:9.0f} frames/s  {fps * frame.nbytes / 1e9:6.2f} GB/s  "
                    f"x{fps / median['send_pyobj']:.2f} vs send_pyobj"
                )
            print(
                f"  zero-copy / send_pyobj = {median['zero-copy'] / median['send_pyobj']:.2f}; "
                f"zero-copy reaches {median['zero-copy'] / median['memcpy']:.0%} of one memcpy, "
                f"shared memory {median['shared memory'] / median['memcpy']:.0%} "
                "(the issue's goal: >= 50 %)"
            )


if __name__ == "__main__":
    main()
