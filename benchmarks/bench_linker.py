"""CPU per frame of the live linker's work, step by step, tables received as columns or as
DataFrames.

Run ``python benchmarks/bench_linker.py [--frames N] [--repeats R]``.

Replays the localizations of a simulated 512x512 movie (100 particles, the fast engine) through the
linker worker's own per-frame steps, in one process over ZeroMQ inproc sockets: receive and check
the table (:func:`~napari_pynta.live.workers.linker._incoming`), link it
(:func:`~napari_pynta.live.workers.linker.link_frame`, with the worker's flow estimate), publish
localizations and tracks on a PUB socket read by a subscriber thread, hand the frame to the sizer
feed (a PULL socket read by the same thread) and record the latency. Each step is timed by the CPU
time of this thread, so the figures are what the linker process spends per frame, not wall time. The
two ways of receiving a table (``as_columns=True``, the worker's; a DataFrame, as before) take turns
on every frame (which goes first alternates), each with a linker of its own, so load on the machine
hits both alike; printed are the mean CPU ms per frame of every step and the ratio of the totals.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import zmq

from napari_pynta import detect, simulate
from napari_pynta.detect.columns import LOCALIZATION_COLUMNS
from napari_pynta.detect.fast import locate_fast
from napari_pynta.link import StreamingLinker
from napari_pynta.live import transport
from napari_pynta.live.flow import LiveFlow
from napari_pynta.live.workers.linker import Latencies, _incoming, link_frame
from napari_pynta.live.workers.sizer import SizerFeed

STEPS = ("receive", "check", "link_frame", "publish locs", "publish tracks", "sizer feed")
MODES = {"columns": True, "DataFrame": False}


def localizations(n_frames: int) -> list:
    """Fast-engine localization tables of a simulated 512x512 movie at 400 fps."""
    settings = simulate.SimulationSettings(
        shape=(512, 512), n_particles=100, seed=1, frame_interval_s=0.0025, exposure_s=0.002
    )
    movie = simulate.simulate_movie(n_frames, settings)
    minmass = detect.estimate_minmass(movie.frames[:50], "trackpy")
    return [
        locate_fast(frame, diameter=7, minmass=minmass, frame_number=i)
        for i, frame in enumerate(movie.frames)
    ]


class Sink(threading.Thread):
    """Reads and drops whatever arrives on the given sockets until stopped."""

    def __init__(self, sockets: list[zmq.Socket]):
        super().__init__(daemon=True)
        self.sockets, self.running = sockets, True

    def run(self) -> None:
        poller = zmq.Poller()
        for socket in self.sockets:
            poller.register(socket, zmq.POLLIN)
        while self.running:
            for socket, _ in poller.poll(50):
                while True:
                    try:
                        socket.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames of the movie")
    parser.add_argument(
        "--repeats", type=int, default=4, help="passes over the movie (the first not counted)"
    )
    args = parser.parse_args()
    tables = localizations(args.frames)
    context = zmq.Context()

    def pair(kind_out: int, kind_in: int, name: str) -> tuple[zmq.Socket, zmq.Socket]:
        sender, receiver = context.socket(kind_out), context.socket(kind_in)
        sender.bind(f"inproc://{name}")
        receiver.connect(f"inproc://{name}")
        return sender, receiver

    locs_out, locs_in = pair(zmq.PUSH, zmq.PULL, "locs")
    results, viewer = pair(zmq.PUB, zmq.SUB, "results")
    viewer.setsockopt(zmq.SUBSCRIBE, b"")
    to_sizer, sizer = pair(zmq.PUSH, zmq.PULL, "sizer")
    sink = Sink([viewer, sizer])
    sink.start()
    time.sleep(0.2)  # the subscriber connects
    cpu = {mode: dict.fromkeys(STEPS, 0.0) for mode in MODES}
    feed = SizerFeed(to_sizer, {"bench": True}, 0)
    latencies = Latencies()
    n_linked = 0
    for repeat in range(args.repeats):
        linkers = {mode: StreamingLinker(6.0, memory=3) for mode in MODES}
        flows = {mode: LiveFlow() for mode in MODES}  # the worker's flow estimate, as live
        for number, table in enumerate(tables):
            seq = repeat * len(tables) + number
            order = list(MODES) if number % 2 else list(MODES)[::-1]  # who goes first alternates
            for mode in order:
                as_columns = MODES[mode]
                transport.send_table(locs_out, transport.TOPIC_LOCS, table, seq=seq, read_at=0.0)
                step = cpu[mode]
                start = time.thread_time()
                message = transport.recv_message(locs_in, 0, as_columns)
                now = time.thread_time()
                step["receive"] += now - start
                start = now
                if as_columns:
                    _incoming(message)
                now = time.thread_time()
                step["check"] += now - start
                start = now
                tracks = link_frame(linkers[mode], message.data, number, flows[mode])
                now = time.thread_time()
                step["link_frame"] += now - start
                start = now
                locs = {name: tracks[name] for name in LOCALIZATION_COLUMNS}
                transport.send_columns(results, transport.TOPIC_LOCS, locs, seq=seq)
                now = time.thread_time()
                step["publish locs"] += now - start
                start = now
                transport.send_columns(results, transport.TOPIC_TRACKS, tracks, seq=seq)
                now = time.thread_time()
                step["publish tracks"] += now - start
                start = now
                feed.add(tracks, seq, flows[mode].velocity)
                latencies.add(time.time())
                step["sizer feed"] += time.thread_time() - start
            if repeat == 0:  # the first pass warms up (imports, caches): not counted
                cpu = {mode: dict.fromkeys(STEPS, 0.0) for mode in MODES}
            else:
                n_linked += 1
    sink.running = False
    sink.join()
    particles = np.mean([len(table) for table in tables])
    print(
        f"linker steps, CPU ms per frame, {particles:.0f} particles per frame, {n_linked} frames "
        f"per mode (load average {os.getloadavg()[0]:.1f})"
    )
    print("| step | " + " | ".join(MODES) + " |")
    print("|---|" + "---|" * len(MODES))
    for name in STEPS:
        row = " | ".join(f"{cpu[mode][name] / n_linked * 1e3:.3f}" for mode in MODES)
        print(f"| {name} | {row} |")
    totals = {mode: sum(cpu[mode].values()) / n_linked * 1e3 for mode in MODES}
    print("| total | " + " | ".join(f"{totals[mode]:.3f}" for mode in MODES) + " |")
    print(f"columns / DataFrame: {totals['columns'] / totals['DataFrame']:.2f}")


if __name__ == "__main__":
    main()
