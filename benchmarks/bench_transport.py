"""Frame transport throughput: zero-copy multipart vs shared memory vs ``send_pyobj`` vs memcpy.

Run ``python benchmarks/bench_transport.py [--frames N] [--rounds R]``.

A receiver process pulls frames over ``ipc://`` from this process, as the saver and locators do
in the live pipeline. The ways are measured side by side, interleaved round by round so that
background load on a shared machine hits all of them alike:

- ``zero-copy``: :func:`napari_pynta.live.transport.send_frame` / ``recv_frame`` (JSON header +
  raw buffer, ``copy=False`` both ways, no pickle);
- ``send_pyobj``: ``socket.send_pyobj(frame)`` / ``recv_pyobj()`` (pickles the array: the path of
  the 2018 PyNTA);
- ``shared memory``: the live pipeline's per-frame path to its locators on one host, through
  its own classes and calls, as the acquisition and a locator make them: the sender keeps each
  frame in the lowest free slot of the acquisition's ring (``FrameKeeper.keep``, room for 64
  frames, the locators' hold: the copy into the slot in the sending thread, as the acquisition
  copies in its loop) and writes its binary header alone into the locators' pipe (``send_kept``
  with ``read_at`` and a :class:`~napari_pynta.live.locate_pipe.LocatePipe`: one record per
  frame); the receiver waits on the pipe in a ``zmq.Poller``, reads one record
  (``LocatePipe.receive``: decoded and checked like any message), views the slot read-only
  through ``RingViews`` (no copy), checks the slot still holds its frame (``RingViews.intact``)
  and gives it back as a locator does, through the ring's release cell (``RingViews.release``:
  no message). The receivers keep up: the sender waits while the receiver holds
  :data:`MAX_HELD` frames (a locator holds the records waiting in the pipe and the frame it
  locates; the pipe holds at most ``PIPE_FRAMES`` unread records, as in the pipeline; the
  sender counts them only when a header waits to be sent, since the acquisition never does);
- ``shm zmq header``: as ``shared memory``, but each header is a ZeroMQ message over ipc
  (``recv_messages`` on a PULL socket): the locators' path before the pipe, for comparison;
- ``shm batched``: as ``shm zmq header``, but the headers of frames kept while the receiver
  still holds frames sent to it wait, and leave in one message once it has released them all
  (one message per frame while the receiver waits for each, fewer when it is behind; it may
  hold :data:`BATCHED_MAX_HELD` frames); the
  pipeline batches so only the saver's frames that wait behind its full socket, not the
  locators';
- ``memcpy``: ``np.copyto`` of a frame into a preallocated one in one process: the cost of
  touching the bytes once, the floor any transport pays at least (the same frame each time, so
  it is cache-warm: an optimistic floor, the baseline of the goal "shared memory >= 50 % of
  memcpy"; a slot released at once is reused at once, so the ring's copy is a warm one too);
  ``memcpy cold`` copies into 64 frames in turn (the destination not in the cache).

The ring and the memcpy targets are written once before the timing (memory reserved and mapped,
as in a pipeline that has run for a while), and the sender starts once the receiver is connected,
so no mode times first page faults or the receiver's start-up.

Each transport run sends N frames and the receiver times from the first to the last frame and
touches one pixel of each (so the frame is really there). The figures are frames per second and
GB/s, the medians over the rounds, the ratios to ``send_pyobj`` and to the warm and the cold
memcpy, the CPU time per frame of the sender and of the receiver (which side limits the rate)
and, for the ring modes, how many slots the frames went to (the fewer, the more of them stay
in the caches). Then, per mode, every round's share of the warm memcpy of the same round (the
spread, the median and the worst round: the goal must hold in each, not in the best), and how
often the sender was preempted per frame in each round (``getrusage``'s involuntary context
switches): ~1 when the receiver ran on the sender's core and took its turn after every header,
~0 when the two ran on different cores. The kernel decides that placement for a whole run,
and it is what most sets a round's rate at 512² (docs/live-pipeline.md).
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import resource
import statistics
import tempfile
import time

import numpy as np
import zmq

from napari_pynta.live import transport
from napari_pynta.live.frame_ring import RingViews
from napari_pynta.live.locate_pipe import PIPE_FRAMES, LocatePipe
from napari_pynta.live.workers.kept_frames import LOCATORS_HOLD, FrameKeeper, KeptFrame, send_kept

SHAPES = ((256, 256), (512, 512), (1024, 1024))
MODES = ("zero-copy", "shared memory", "shm zmq header", "shm batched", "send_pyobj")
RING_MODES = ("shared memory", "shm zmq header", "shm batched")
#: the mode whose headers go through the locators' pipe (the others' through ZeroMQ)
PIPE_MODES = ("shared memory",)
#: frames the shared-memory ring holds (as many as the sender's ZeroMQ queue in the other modes)
RING_FRAMES = 64
#: shared memory: frames the receiver may hold (sent, not yet released) before the sender waits
#: for it, as a locator holds the frames waiting for it (``PIPE_FRAMES``) and the one it locates:
#: the receivers keep up, the ring is not filled ahead of them
MAX_HELD = 4
assert PIPE_FRAMES + 1 < MAX_HELD  # RingSender.send counts on it
#: ``shm batched``: frames the receiver may hold (room for batches to form while it is busy)
BATCHED_MAX_HELD = 16


def receiver(address: str, fifo: str, mode: str, n_frames: int, ready, results) -> None:
    """Pull ``n_frames`` frames; put the seconds from first to last, CPU seconds and a checksum."""
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.connect(address)
    pipe = LocatePipe(fifo) if mode in PIPE_MODES else None
    poller = zmq.Poller()  # as a locator waits: the pipe beside its sockets
    if pipe is not None:
        poller.register(pipe.fileno(), zmq.POLLIN)
    ready.set()
    views = RingViews()
    waiting: collections.deque[transport.Message] = collections.deque()
    checksum = 0
    start = cpu = 0.0
    for index in range(n_frames):
        if mode == "zero-copy":
            frame = transport.recv_frame(pull)[2]
        elif pipe is not None:  # as a locator: wait on the pipe, then read one record
            while not poller.poll() or (received := pipe.receive()) is None:
                pass
            message = received
            frame = views.frame(message)
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
            if not views.intact(message):  # as a locator: was the slot rewritten meanwhile?
                raise AssertionError(f"{mode}: frame {message.header['seq']} overwritten")
            views.release(message)  # as a locator: through the ring's release cell
    results.put((time.perf_counter() - start, time.process_time() - cpu, checksum))
    views.close()
    if pipe is not None:
        pipe.close()
    pull.close(0)
    context.term()


class RingSender:
    """The sending side of the shared-memory modes: the acquisition's frame keeper and ring.

    Each frame is kept for the locator pool's hold (released through the ring's release cells)
    by ``FrameKeeper.keep`` (the copy into the slot in this thread, as in the acquisition's
    loop) and its header sent alone at once, with the host time it was read, as the
    acquisition feeds its locators. ``batched``: the headers of the frames kept while the
    receiver still holds frames sent to it wait, and leave together in one message once it has
    released them all.
    """

    def __init__(self, frame: np.ndarray, push: zmq.Socket, pipe: LocatePipe | None, batched: bool):
        prefix = f"pynta_bench_{os.getpid()}"
        self.keeper = FrameKeeper(RING_FRAMES * frame.nbytes / 1e6, prefix, print)
        self.keeper.prepare(frame.shape, frame.dtype)
        self.ring = self.keeper.ring
        assert self.ring is not None
        # a ring in use for a while: memory reserved and mapped (the pipeline's ring lives as
        # long as the run; a fresh one would time the first page faults, not the transport)
        self.ring.reserve_to(self.ring.n_slots)
        for slot in range(self.ring.n_slots):
            self.ring.write(slot, frame, -1)
        self.push, self.pipe, self.batched = push, pipe, batched
        self.queue: collections.deque[KeptFrame] = collections.deque()
        self.slots_used: set[int] = set()  # slots the frames went to (how many stay cached)

    def send(self, frame: np.ndarray, seq: int) -> None:
        """Keep ``frame`` in a free slot (waiting for one) and send the waiting headers."""
        # through the pipe, while no header waits to be sent the receiver holds at most the
        # PIPE_FRAMES records unread and the frame it reads, fewer than MAX_HELD: the count (a
        # look at the release cells, which the acquisition does not make) is then not needed
        bounded = self.pipe is not None and not self.queue
        while not bounded and self.held() >= (BATCHED_MAX_HELD if self.batched else MAX_HELD):
            self.flush(block=False)
            time.sleep(0)  # let the receiver run (it releases through the ring's memory)
        kept = self.keeper.keep(frame, seq, 0.0, [LOCATORS_HOLD])
        assert kept is not None and kept.ring is self.ring
        self.slots_used.add(kept.slot)
        self.queue.append(kept)
        self.flush(block=False)

    def flush(self, block: bool = True) -> None:
        """Send the headers of the kept frames (all of them, with ``block``)."""
        if self.batched:
            if self.queue and (block or self.held() == len(self.queue)):
                send_kept(self.push, list(self.queue), flags=0)
                self.queue.clear()
            return
        while self.queue:
            try:
                send_kept(self.push, [self.queue[0]], flags=0, read_at=time.time(), pipe=self.pipe)
            except zmq.Again:  # the pipe is full
                if not block:
                    return
                time.sleep(0)
                continue
            self.queue.popleft()

    def held(self) -> int:
        """Frames kept and not yet released by the receiver (sent or not)."""
        return self.ring.n_slots - self.ring.n_free

    def close(self) -> None:
        """Close the ring."""
        self.keeper.close()


def transport_rate(
    mode: str, frame: np.ndarray, n_frames: int, workdir: str
) -> tuple[float, float, float, int, float]:
    """Frames per second through ``mode`` to a receiver process; CPU s per frame of both sides;
    ring slots the frames went to (0 without a ring); the sender's involuntary context switches
    per frame (~1: the receiver shared its core)."""
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, RING_FRAMES)
    address = f"ipc://{workdir}/{mode.replace(' ', '-')}"
    push.bind(address)
    fifo = os.path.join(workdir, f"{mode.replace(' ', '-')}.fifo")
    pipe = LocatePipe(fifo) if mode in PIPE_MODES else None
    ring = RingSender(frame, push, pipe, batched=mode == "shm batched")
    spawn = multiprocessing.get_context("spawn")
    results, ready = spawn.Queue(), spawn.Event()
    process = spawn.Process(target=receiver, args=(address, fifo, mode, n_frames, ready, results))
    process.start()
    ready.wait(60)  # the receiver's start-up is not timed (nor frames piling up meanwhile)
    preempted = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
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
    preempted = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - preempted
    slots_used = len(ring.slots_used) if mode in RING_MODES else 0
    seconds, receiver_cpu, checksum = results.get(timeout=300)
    process.join()
    ring.close()
    if pipe is not None:
        pipe.close()
        os.unlink(fifo)
    push.close(0)
    context.term()
    if checksum != int(frame[-1, -1]) * n_frames:
        raise AssertionError(f"{mode}: frames arrived damaged")
    return (
        (n_frames - 1) / seconds,
        sender_cpu / n_frames,
        receiver_cpu / n_frames,
        slots_used,
        preempted / n_frames,
    )


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
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        choices=[shape[0] for shape in SHAPES],
        default=[shape[0] for shape in SHAPES],
        help="frame sides (default all)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"frame transport, {args.frames} uint16 frames per run, median of {args.rounds} "
        f"interleaved rounds, receiver in another process over ipc; load average "
        f"{os.getloadavg()[0]:.1f} at the start"
    )
    with tempfile.TemporaryDirectory(prefix="pynta-bench-") as workdir:
        for shape in (shape for shape in SHAPES if shape[0] in args.sizes):
            frame = rng.integers(90, 4000, size=shape, dtype=np.uint16)
            modes = args.modes
            rates: dict[str, list[float]] = {m: [] for m in (*modes, "memcpy", "memcpy cold")}
            cpu: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
            slots: dict[str, list[int]] = {mode: [] for mode in modes}
            preempted: dict[str, list[float]] = {mode: [] for mode in modes}
            for _ in range(args.rounds):
                for mode in modes:
                    fps, sender_s, receiver_s, n_slots, switches = transport_rate(
                        mode, frame, args.frames, workdir
                    )
                    rates[mode].append(fps)
                    cpu[mode].append((sender_s, receiver_s))
                    slots[mode].append(n_slots)
                    preempted[mode].append(switches)
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
                if mode in RING_MODES:
                    line += f"  slots used {min(slots[mode])}-{max(slots[mode])}"
                print(line)
            for mode in (m for m in modes if m != "send_pyobj"):
                shares = [
                    fps / warm for fps, warm in zip(rates[mode], rates["memcpy"], strict=True)
                ]
                print(
                    f"  {mode} reaches {median[mode] / median['memcpy']:.0%} of one memcpy"
                    + (" (the goal: >= 50 %)" if mode in RING_MODES else "")
                    + f"; per round {' '.join(f'{share:.0%}' for share in shares)}: median "
                    f"{statistics.median(shares):.0%}, worst {min(shares):.0%}; sender "
                    f"preempted per frame {' '.join(f'{n:.2f}' for n in preempted[mode])}"
                )


if __name__ == "__main__":
    main()
