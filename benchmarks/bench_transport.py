"""Frame transport throughput: zero-copy multipart vs shared memory vs ``send_pyobj`` vs memcpy.

Run ``python benchmarks/bench_transport.py [--frames N] [--rounds R]``.

A receiver process pulls frames over ``ipc://`` from this process, as the saver and locators do
in the live pipeline. Three ways are measured side by side, interleaved round by round so that
background load on a shared machine hits all of them alike:

- ``zero-copy``: :func:`napari_pynta.live.transport.send_frame` / ``recv_frame`` (JSON header +
  raw buffer, ``copy=False`` both ways, no pickle);
- ``send_pyobj``: ``socket.send_pyobj(frame)`` / ``recv_pyobj()`` (pickles the array: the path of
  the 2018 PyNTA);
- ``shared memory``: the live pipeline's path on one host: the sender copies the frame once into
  the lowest free slot of a :class:`~napari_pynta.live.frame_ring.FrameRing` (room for 64 frames)
  and sends only the header (``transport.send_ring_frame``); the receiver decodes and checks it
  like any message and views the slot read-only through ``RingViews`` (no copy), then releases
  the slots in batches (as the saver's acknowledgements do);
- ``memcpy``: ``np.copyto`` of a frame into a preallocated one in one process: the cost of
  touching the bytes once, the floor any transport pays at least (the same frame each time, so
  it is cache-warm: an optimistic floor, the baseline of the goal "shared memory >= 50 % of
  memcpy"); ``memcpy cold`` copies into 64 frames in turn (the destination not in the cache).

Each transport run sends N frames and the receiver times from the first to the last frame and
touches one pixel of each (so the frame is really there). The figures are frames per second and
GB/s, the medians over the rounds, the ratios to ``send_pyobj`` and to memcpy, and the CPU time
per frame of the sender and of the receiver (which side limits the rate).
"""

from __future__ import annotations

import argparse
import collections
import math
import multiprocessing
import os
import statistics
import tempfile
import time

import numpy as np
import zmq

from napari_pynta.live import transport
from napari_pynta.live.frame_ring import FrameRing, RingViews

SHAPES = ((512, 512), (1024, 1024))
MODES = ("zero-copy", "shared memory", "send_pyobj")
#: frames the shared-memory ring holds (as many as the sender's ZeroMQ queue in the other modes)
RING_FRAMES = 64
#: the receiver releases slots in batches of at most this many (fewer messages, fewer wake-ups)
RELEASE_BATCH = 16


def receiver(address: str, mode: str, n_frames: int, results) -> None:
    """Pull ``n_frames`` frames; put the seconds from first to last, CPU seconds and a checksum."""
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.connect(address)
    release = context.socket(zmq.PUSH)
    release.connect(address + "-release")
    views = RingViews()
    done: list[tuple[int, int, float, float]] = []
    waiting: collections.deque[transport.Message] = collections.deque()
    checksum = 0
    start = cpu = 0.0
    for index in range(n_frames):
        if mode == "zero-copy":
            frame = transport.recv_frame(pull)[2]
        elif mode == "shared memory":
            if not waiting:
                waiting.extend(transport.recv_messages(pull))
            message = waiting.popleft()
            frame = views.frame(message)
        else:
            frame = pull.recv_pyobj()
        if index == 0:
            start, cpu = time.perf_counter(), time.process_time()
        checksum += int(frame[-1, -1])
        if mode == "shared memory":
            del frame
            header = message.header
            done.append((header["slot"], header["seq"], 0.0, math.nan))
            if len(done) >= RELEASE_BATCH or not (waiting or pull.poll(0)):
                prefix = transport.ring_prefix_of(header)
                transport.send_ring_frames(release, transport.TOPIC_RELEASE, prefix, done)
                done.clear()
    results.put((time.perf_counter() - start, time.process_time() - cpu, checksum))
    views.close()
    pull.close(0)
    release.close()
    context.term()


def transport_rate(
    mode: str, frame: np.ndarray, n_frames: int, workdir: str
) -> tuple[float, float, float]:
    """Frames per second through ``mode`` to a receiver process; CPU s per frame of both sides."""
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, RING_FRAMES)
    address = f"ipc://{workdir}/{mode.replace(' ', '-')}"
    push.bind(address)
    released = context.socket(zmq.PULL)
    released.bind(address + "-release")
    ring = FrameRing(RING_FRAMES * frame.nbytes / 1e6, frame.shape, frame.dtype)
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    process = spawn.Process(target=receiver, args=(address, mode, n_frames, results))
    process.start()
    cpu = time.process_time()
    for index in range(n_frames):
        if mode == "zero-copy":
            transport.send_frame(push, transport.TOPIC_FRAMES, index, 0.0, frame)
        elif mode == "shared memory":
            while (slot := ring.put(frame, ["receiver"], index)) is None:  # wait for a slot
                release_slots(ring, transport.recv_messages(released))
            entry = (slot, index, 0.0, math.nan)
            transport.send_ring_frames(push, transport.TOPIC_FRAMES, ring.prefix, [entry])
            while released.get(zmq.EVENTS) & zmq.POLLIN:
                release_slots(ring, transport.recv_messages(released))
        else:
            push.send_pyobj(frame)
    sender_cpu = time.process_time() - cpu
    seconds, receiver_cpu, checksum = results.get(timeout=300)
    process.join()
    ring.close()
    push.close(0)
    released.close(0)
    context.term()
    if checksum != int(frame[-1, -1]) * n_frames:
        raise AssertionError(f"{mode}: frames arrived damaged")
    return (n_frames - 1) / seconds, sender_cpu / n_frames, receiver_cpu / n_frames


def release_slots(ring: FrameRing, releases: list[transport.Message]) -> None:
    """Release the slots of a receiver's release message (a ring header: slot, seq)."""
    for release in releases:
        ring.release(release.header["slot"], "receiver", release.header["seq"])


def memcpy_rate(frame: np.ndarray, n_frames: int, n_targets: int = 1) -> float:
    """Frames per second copied by ``np.copyto`` into ``n_targets`` preallocated frames in turn."""
    targets = [np.zeros_like(frame) for _ in range(n_targets)]
    start = time.perf_counter()
    for index in range(n_frames):
        np.copyto(targets[index % n_targets], frame)
    return n_frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400, help="frames per run (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"frame transport, {args.frames} uint16 frames per run, median of {args.rounds} "
        f"interleaved rounds, receiver in another process over ipc; load average "
        f"{os.getloadavg()[0]:.1f} at the start"
    )
    with tempfile.TemporaryDirectory(prefix="pynta-bench-") as workdir:
        for shape in SHAPES:
            frame = rng.integers(90, 4000, size=shape, dtype=np.uint16)
            rates: dict[str, list[float]] = {m: [] for m in (*MODES, "memcpy", "memcpy cold")}
            cpu: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
            for _ in range(args.rounds):
                for mode in MODES:
                    fps, sender_s, receiver_s = transport_rate(mode, frame, args.frames, workdir)
                    rates[mode].append(fps)
                    cpu[mode].append((sender_s, receiver_s))
                rates["memcpy"].append(memcpy_rate(frame, args.frames))
                rates["memcpy cold"].append(memcpy_rate(frame, args.frames, RING_FRAMES))
            median = {mode: statistics.median(values) for mode, values in rates.items()}
            print(f"\n{shape[0]}x{shape[1]} ({frame.nbytes / 1e6:.2f} MB per frame)")
            for mode, fps in median.items():
                line = (
                    f"  {mode:13s} {fps:9.0f} frames/s  {fps * frame.nbytes / 1e9:6.2f} GB/s  "
                    f"x{fps / median['send_pyobj']:5.2f} vs send_pyobj  "
                    f"{fps / median['memcpy']:4.0%} of memcpy"
                )
                if mode in cpu:
                    sender = statistics.median(s for s, _ in cpu[mode]) * 1e6
                    receiver = statistics.median(r for _, r in cpu[mode]) * 1e6
                    line += f"  CPU us/frame sender {sender:6.0f} receiver {receiver:6.0f}"
                print(line)
            print(
                f"  shared memory reaches {median['shared memory'] / median['memcpy']:.0%} of one "
                f"memcpy (the goal: >= 50 %), zero-copy ZeroMQ "
                f"{median['zero-copy'] / median['memcpy']:.0%}"
            )


if __name__ == "__main__":
    main()
