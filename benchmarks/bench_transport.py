"""Frame transport throughput: zero-copy multipart vs shared memory vs ``send_pyobj`` vs memcpy.

Run ``python benchmarks/bench_transport.py [--frames N] [--rounds R]``.

A receiver process pulls frames over ``ipc://`` from this process, as the saver and locators do
in the live pipeline. The ways are measured side by side, interleaved round by round so that
background load on a shared machine hits all of them alike:

- ``zero-copy``: :func:`napari_pynta.live.transport.send_frame` / ``recv_frame`` (JSON header +
  raw buffer, ``copy=False`` both ways, no pickle);
- ``send_pyobj``: ``socket.send_pyobj(frame)`` / ``recv_pyobj()`` (pickles the array: the path of
  the 2018 PyNTA);
- ``shared memory``: the live pipeline's path on one host: the sender copies the frame once into
  the lowest free slot of a :class:`~napari_pynta.live.frame_ring.FrameRing` (room for 64 frames)
  and sends only its binary header (``transport.send_ring_frames``, one message per frame: what
  the acquisition does while its receivers keep up); the receiver decodes and checks it like any
  message (``recv_messages``) and views the slot read-only through ``RingViews`` (no copy), then
  releases the slots (ring headers on a ``release`` socket) when nothing more is waiting or 16
  are done;
- ``shm batched``: the same, but a frame waits while the receiver has not released the header
  message sent before it (it is busy), and the frames that waited leave in one header message
  (at most 32) when it has: one message per frame while the receiver keeps up, fewer per frame
  when it does not (the acquisition batches the saver's frames that wait behind a full socket);
- ``memcpy``: ``np.copyto`` of a frame into a preallocated one in one process: the cost of
  touching the bytes once, the floor any transport pays at least (the same frame each time, so
  it is cache-warm: an optimistic floor, the baseline of the goal "shared memory >= 50 % of
  memcpy"); ``memcpy cold`` copies into 64 frames in turn (the destination not in the cache).

The ring and the memcpy targets are written once before the timing (memory reserved and mapped,
as in a pipeline that has run for a while), so no mode times first page faults.

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
MODES = ("zero-copy", "shared memory", "shm batched", "send_pyobj")
RING_MODES = ("shared memory", "shm batched")
#: frames the shared-memory ring holds (as many as the sender's ZeroMQ queue in the other modes)
RING_FRAMES = 64
#: the receiver releases slots in batches of at most this many (fewer messages, fewer wake-ups)
RELEASE_BATCH = 16
#: ``shm batched``: a frame waits (with the ones after it) while this many header messages are
#: unreleased, i.e. while the receiver still has frames to work on
IN_FLIGHT_MESSAGES = 1
#: ``shm batched``: most frames one header message carries
MAX_BATCH = 32


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
        elif mode in RING_MODES:
            if not waiting:
                waiting.extend(transport.recv_messages(pull))
            message = waiting.popleft()
            frame = views.frame(message)
        else:
            frame = pull.recv_pyobj()
        if index == 0:
            start, cpu = time.perf_counter(), time.process_time()
        checksum += int(frame[-1, -1])
        if mode in RING_MODES:
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


class RingSender:
    """The sending side of the shared-memory modes: ring, header socket, released slots.

    ``batched``: a frame is sent at once while fewer than :data:`IN_FLIGHT_MESSAGES` header
    messages are unreleased (the receiver waits for it); otherwise it waits, and the frames
    that wait leave together in one header when the receiver releases what it had.
    """

    def __init__(self, frame: np.ndarray, push: zmq.Socket, released: zmq.Socket, batched: bool):
        self.ring = FrameRing(RING_FRAMES * frame.nbytes / 1e6, frame.shape, frame.dtype)
        # a ring in use for a while: memory reserved and mapped (the pipeline's ring lives as
        # long as the run; a fresh one would time the first page faults, not the transport)
        self.ring.reserve_to(self.ring.n_slots)
        for slot in range(self.ring.n_slots):
            self.ring.write(slot, frame, -1)
        self.push, self.released, self.batched = push, released, batched
        self.waiting: list[tuple[int, int, float, float]] = []
        self.in_flight: collections.deque[int] = collections.deque()  # last seq per message

    def send(self, frame: np.ndarray, seq: int) -> None:
        """Copy ``frame`` into a free slot (waiting for one) and send or queue its header."""
        while (slot := self.ring.put(frame, ["receiver"], seq)) is None:
            self.read_releases(block=True)
        self.waiting.append((slot, seq, 0.0, math.nan))
        self.read_releases()  # flushes the waiting headers once nothing is in flight
        if not self.batched:
            self.flush()
        elif len(self.waiting) >= MAX_BATCH:
            self.read_releases(block=True)
            self.flush()

    def flush(self) -> None:
        """Send the waiting headers in one message."""
        if self.waiting:
            entries, self.waiting = self.waiting, []
            transport.send_ring_frames(self.push, transport.TOPIC_FRAMES, self.ring.prefix, entries)
            self.in_flight.append(entries[-1][1])

    def read_releases(self, block: bool = False) -> None:
        """Free the slots the receiver released (all waiting messages, at least one if
        ``block``); send the waiting headers once no message is in flight."""
        while block or self.released.get(zmq.EVENTS) & zmq.POLLIN:
            block = False
            for release in transport.recv_messages(self.released):
                seq = release.header["seq"]
                self.ring.release(release.header["slot"], "receiver", seq)
                while self.in_flight and self.in_flight[0] <= seq:
                    self.in_flight.popleft()
        if self.batched and len(self.in_flight) < IN_FLIGHT_MESSAGES:
            self.flush()


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
    ring = RingSender(frame, push, released, batched=mode == "shm batched")
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    process = spawn.Process(target=receiver, args=(address, mode, n_frames, results))
    process.start()
    cpu = time.process_time()
    for index in range(n_frames):
        if mode == "zero-copy":
            transport.send_frame(push, transport.TOPIC_FRAMES, index, 0.0, frame)
        elif mode in RING_MODES:
            ring.send(frame, index)
        else:
            push.send_pyobj(frame)
    ring.flush()
    sender_cpu = time.process_time() - cpu
    seconds, receiver_cpu, checksum = results.get(timeout=300)
    process.join()
    ring.ring.close()
    push.close(0)
    released.close(0)
    context.term()
    if checksum != int(frame[-1, -1]) * n_frames:
        raise AssertionError(f"{mode}: frames arrived damaged")
    return (n_frames - 1) / seconds, sender_cpu / n_frames, receiver_cpu / n_frames


def memcpy_rate(frame: np.ndarray, n_frames: int, n_targets: int = 1) -> float:
    """Frames per second copied by ``np.copyto`` into ``n_targets`` preallocated frames in turn."""
    targets = [frame.copy() for _ in range(n_targets)]  # mapped and written once, as the ring
    start = time.perf_counter()
    for index in range(n_frames):
        np.copyto(targets[index % n_targets], frame)
    return n_frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400, help="frames per run (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--modes", nargs="+", choices=MODES, default=list(MODES), help="transports (default all)"
    )
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
            modes = args.modes
            rates: dict[str, list[float]] = {m: [] for m in (*modes, "memcpy", "memcpy cold")}
            cpu: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
            for _ in range(args.rounds):
                for mode in modes:
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
                    f"{fps / median['memcpy']:4.0%} of memcpy  "
                    f"{fps / median['memcpy cold']:4.0%} of cold memcpy"
                )
                if "send_pyobj" in median:
                    line += f"  x{fps / median['send_pyobj']:5.2f} vs send_pyobj"
                if mode in cpu:
                    sender = statistics.median(s for s, _ in cpu[mode]) * 1e6
                    receiver = statistics.median(r for _, r in cpu[mode]) * 1e6
                    line += f"  CPU us/frame sender {sender:6.0f} receiver {receiver:6.0f}"
                print(line)
            for mode in (m for m in modes if m != "send_pyobj"):
                print(
                    f"  {mode} reaches {median[mode] / median['memcpy']:.0%} of one memcpy"
                    + (" (the goal: >= 50 %)" if mode in RING_MODES else "")
                )


if __name__ == "__main__":
    main()
