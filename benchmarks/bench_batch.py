"""Speed-up of `pynta analyze` on a local dask cluster against the serial pipeline.

Simulates one movie (default 1 000 frames of 1024 x 1024 px, written frame by frame into a
compressed pynta store in a temporary folder), analyses it serially with
:func:`napari_pynta.analysis.analyze`, then with :func:`napari_pynta.batch.analyze_batch` on a
``LocalCluster`` of ``--workers`` single-threaded processes, checks that both results are identical
and prints the times side by side, the ratio, and the peak memory of each worker.

    python benchmarks/bench_batch.py                 # the issue's 1000-frame 1024^2 movie
    python benchmarks/bench_batch.py --frames 200    # quicker
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from distributed import get_task_stream

from napari_pynta import analysis
from napari_pynta.batch import analyze_batch
from napari_pynta.cluster import dask_client
from napari_pynta.readers import open_movie
from napari_pynta.simulate import BrownianScene, SimulationSettings
from napari_pynta.store import METADATA_KEYS, MovieStore

FRAMES_PER_APPEND = 50


def write_movie(path: Path, n_frames: int, size: int, n_particles: int, seed: int) -> None:
    """Simulate ``n_frames`` frames into a pynta store without holding the movie in memory."""
    scene = BrownianScene(
        SimulationSettings(shape=(size, size), n_particles=n_particles, seed=seed)
    )
    metadata = {key: value for key, value in scene.metadata.items() if key in METADATA_KEYS}
    store = MovieStore.create(path, (size, size), "uint16", metadata)
    try:
        for start in range(0, n_frames, FRAMES_PER_APPEND):
            block = [scene.next_frame()[0] for _ in range(min(FRAMES_PER_APPEND, n_frames - start))]
            store.append(block)
    finally:
        store.close()


def _peak_rss_mib() -> float:
    """Peak resident memory of the calling process in MiB (``VmHWM``; Linux only).

    Unlike ``getrusage``'s ``ru_maxrss``, ``VmHWM`` restarts at ``exec``, so a worker spawned by
    this process does not report this process's peak as its own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s() -> float:
    """CPU seconds used so far by the calling process (all its threads)."""
    return time.process_time()


def _task_seconds(task_stream: list[dict]) -> dict[str, float]:
    """Compute seconds per kind of task (prepare, detect, finish) from dask's task stream."""
    totals: dict[str, float] = {}
    for task in task_stream:
        kind = str(task["key"]).split("-")[-2 if "-detect-" in str(task["key"]) else -1]
        compute = [span for span in task["startstops"] if span["action"] == "compute"]
        totals[kind] = totals.get(kind, 0.0) + sum(span["stop"] - span["start"] for span in compute)
    return totals


def _warm_up() -> None:
    """Import the pipeline in a worker (the serial run's imports are not timed either)."""
    import napari_pynta.analysis  # noqa: F401


def make_params(movie):
    return analysis.AnalysisParams.from_metadata(movie.metadata)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024, help="frame side in pixels")
    parser.add_argument(
        "--particles", type=int, default=200, help="mean number of particles in the imaged volume"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--chunk-frames",
        type=int,
        default=None,
        help="frames per detection task (default: automatic)",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pynta-bench-") as folder:
        path = Path(folder) / "movie.zarr"
        start = time.perf_counter()
        write_movie(path, args.frames, args.size, args.particles, args.seed)
        print(
            f"movie: {args.frames} frames of {args.size}x{args.size} px, {args.particles} "
            f"particles, simulated and stored in {time.perf_counter() - start:.1f} s"
        )

        print(
            f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other "
            "programs running at the same time slow both runs down)"
        )
        start, cpu_start = time.perf_counter(), _cpu_s()
        movie = open_movie(path)
        serial = analysis.analyze(movie, make_params(movie))
        serial_s, serial_cpu_s = time.perf_counter() - start, _cpu_s() - cpu_start
        print(
            f"serial:      {serial_s:8.1f} s  ({args.frames / serial_s:.1f} frames/s, "
            f"{serial_cpu_s:.0f} CPU-s, peak {_peak_rss_mib():.0f} MiB in this process)"
        )

        start = time.perf_counter()
        with dask_client("local", args.workers) as client:
            client.run(_warm_up)
            started_s = time.perf_counter() - start
            cpu_before = client.run(_cpu_s)
            start = time.perf_counter()
            with get_task_stream(client) as stream:
                (outcome,) = analyze_batch(
                    [path], client, make_params, chunk_frames=args.chunk_frames, progress=False
                )
            batch_s = time.perf_counter() - start
            batch_cpu_s = sum(client.run(_cpu_s).values()) - sum(cpu_before.values())
            worker_mib = client.run(_peak_rss_mib)
        if not outcome.ok:
            print(f"distributed run failed: {outcome.error}", file=sys.stderr)
            return 1
        print(
            f"{args.workers} workers:   {batch_s:8.1f} s  ({args.frames / batch_s:.1f} frames/s, "
            f"{batch_cpu_s:.0f} CPU-s in the workers; +{started_s:.1f} s to start the cluster)"
        )
        print(
            "task compute time: "
            + ", ".join(
                f"{kind} {seconds:.1f} s" for kind, seconds in _task_seconds(stream.data).items()
            )
        )
        print(
            f"speed-up:    {serial_s / batch_s:8.2f}x  ({serial_s / (batch_s + started_s):.2f}x "
            "including cluster start-up)"
        )
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        print(
            "peak memory per worker: "
            + ", ".join(f"{mib:.0f} MiB" for mib in sorted(worker_mib.values()))
        )
        identical = outcome.result.summary == serial.summary and outcome.result.tracks.equals(
            serial.tracks
        )
        print(
            f"identical to serial: {identical} ({serial.summary['n_tracks']} tracks, "
            f"d = {serial.summary['diameter_nm']:.1f} nm)"
        )
        return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
