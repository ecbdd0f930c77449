"""Sustained end-to-end rate of the live pipeline while saving and tracking (100 particles).

Run ``python benchmarks/bench_live.py [--seconds S] [--runs 512:400:1 1024:100:1 ...]``.

Each run replays a simulated movie (``SHAPE`` pixels, 100 particles of 100 nm, 100 frames looped,
``--movie-frames``)
through the playback camera at the requested rate for ``S`` seconds, with the whole pipeline on:
acquisition -> saver (zarr store on disk) + locator pool -> linker -> sizer. The playback camera is
used because simulating a 512x512 scene costs more than a frame interval at 400 fps; it delivers
the frames on the same fixed clock as any camera.

Printed side by side for every run: the rate the acquisition achieved (and its ratio to the
requested rate), frames saved and dropped (the saver must never drop) and lost by the camera
(frames the acquisition did not fetch in time), frames left untracked, the frame-to-linked
latency (p50/p95/max, measured in the linker), how long after the last frame the tracking
finished, the CPU time per frame of each worker and their sum as a fraction of the machine (sum x
achieved rate / cores), and the load average before and after the run (the machine may be
shared). A markdown table of all runs closes the output. Issue 12's goal on 2 cores: 512² at
400 fps and 1024² at 100 fps every frame saved, >= 99 % tracked, >= 95 % of the rate, latency
p95 <= 1 s (<= 0.5 s at 256², 200 fps).

``--cli`` runs each pipeline with the settings `pynta acquire` builds from the issue's command
line (``pynta acquire --camera playback --camera-option path=M.zarr --camera-option loop=true
--fps F --frames N --track --locators L --out R.zarr --json``, printed): the threshold and the
search range are then chosen from the first frames as in a user's run, instead of the bench's
fixed ones. Everything else (movie, measurement) is the same, so the two modes compare the
settings alone; the CLI's own process only polls the pipeline's status.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from napari_pynta import detect, simulate
from napari_pynta.live import LiveConfig, LivePipeline
from napari_pynta.store import MovieStore

N_PARTICLES = 100
MOVIE_FRAMES = 100


def write_movie(path: Path, size: int, n_frames: int = MOVIE_FRAMES) -> float:
    """Save a simulated movie for the playback camera; return the detection threshold."""
    settings = simulate.SimulationSettings(
        shape=(size, size),
        n_particles=N_PARTICLES,
        seed=1,
        frame_interval_s=0.0025,
        exposure_s=0.002,
    )
    movie = simulate.simulate_movie(n_frames, settings)
    with MovieStore.create(path, (size, size), "uint16", movie.metadata) as store:
        store.append(movie.frames)
    return detect.estimate_minmass(movie.frames, "trackpy")


def cpu_seconds(pipeline: LivePipeline) -> dict[str, float]:
    """CPU seconds used so far by each worker (benchmark-only look at the processes)."""
    used = {}
    for name, process in list(pipeline._processes.items()):
        try:
            times = psutil.Process(process.pid).cpu_times()
        except (psutil.NoSuchProcess, ValueError):
            continue
        kind = "locators" if name.startswith("locator") else name
        used[kind] = used.get(kind, 0.0) + times.user + times.system
    return used


def bench_config(
    movie: Path, minmass: float, fps: float, n_frames: int, n_locators: int, out: Path
) -> LiveConfig:
    """The bench's own settings: the movie's threshold, a 6 px search range."""
    return LiveConfig(
        camera="playback",
        camera_settings=dict(path=str(movie), loop=True, fps=fps),
        n_frames=n_frames,
        record_path=str(out),
        overwrite=True,
        track=True,
        n_locators=n_locators,
        detection=dict(minmass=minmass),
        search_range_px=6.0,
    )


def cli_command(movie: Path, fps: float, n_frames: int, n_locators: int, out: Path) -> list[str]:
    """The `pynta acquire` command line of issue 12 for this run (arguments after ``pynta``)."""
    return [
        "acquire",
        *("--camera", "playback", "--camera-option", f"path={movie}"),
        *("--camera-option", "loop=true", "--fps", f"{fps:g}", "--frames", str(n_frames)),
        *("--track", "--locators", str(n_locators), "--out", str(out), "--overwrite", "--json"),
    ]


def cli_config(
    movie: Path, minmass: float, fps: float, n_frames: int, n_locators: int, out: Path
) -> LiveConfig:
    """The settings `pynta acquire` builds from :func:`cli_command` (threshold and search range
    chosen from the first frames; ``minmass`` is not used)."""
    from napari_pynta.cli import build_parser
    from napari_pynta.cli.acquire import build_config

    return build_config(
        build_parser().parse_args(cli_command(movie, fps, n_frames, n_locators, out))
    )


def run(
    movie: Path,
    minmass: float,
    fps: float,
    n_locators: int,
    seconds: float,
    workdir: Path,
    frame_ring: bool = True,
    settings: Any = bench_config,
) -> dict:
    """One timed run with the pipeline ``settings(movie, minmass, fps, n_frames, n_locators,
    out)`` builds; returns the measured figures."""
    load_before = os.getloadavg()[0]
    n_frames = int(round(fps * seconds))
    out = workdir / f"live-{fps:g}.zarr"
    config = settings(movie, minmass, fps, n_frames, n_locators, out)
    config.frame_ring = frame_ring
    with LivePipeline(config) as pipeline:
        engine = pipeline.config.engine
        chosen = (pipeline.config.detection.get("minmass"), pipeline.config.search_range_px)
        cpu0 = cpu_seconds(pipeline)
        while not pipeline.status().finished:
            time.sleep(0.02)
        acquired_at = time.perf_counter()
        status = pipeline.status()
        cpu1 = cpu_seconds(pipeline)
        pipeline.wait_finished(600)
        tracking_lag = time.perf_counter() - acquired_at
        linker = dict(pipeline._reports.get("linker", {}))  # benchmark-only look at the report
        final = pipeline.stop()
    with MovieStore.open(out) as store:
        stored = store.n_frames
    return {
        "requested": fps,
        "acquired_fps": status.fps,
        "lost_by_camera": final.frames_lost_by_camera,
        "latency": final.tracking_latency_s or {},
        "load": (load_before, os.getloadavg()[0]),
        "n_frames": n_frames,
        "stored": stored,
        "dropped": final.frames_dropped,
        "untracked": final.frames_untracked,
        "tracked": final.frames_tracked,
        "tracking_lag_s": tracking_lag,
        "engine": engine,
        "minmass": chosen[0],
        "search_range_px": chosen[1],
        "errors": final.errors,
        "particles": final.particles_per_frame,
        "sizing_s": linker.get("sizing_s", 0.0),
        "last_sizing_s": linker.get("last_sizing_s", 0.0),
        "run_s": tracking_lag + n_frames / fps,
        "cpu_ms": {k: (cpu1[k] - cpu0.get(k, 0.0)) / n_frames * 1e3 for k in cpu1},
    }


def parse_run(text: str) -> tuple[int, float, int]:
    size, fps, locators = text.split(":")
    return int(size), float(fps), int(locators)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per run (default 5)")
    parser.add_argument(
        "--runs",
        type=parse_run,
        nargs="+",
        default=[(512, 200, 1), (512, 400, 1), (512, 400, 2), (1024, 100, 1), (1024, 200, 2)],
        help="SIZE:FPS:LOCATORS per run",
    )
    parser.add_argument(
        "--movie-frames",
        type=int,
        default=MOVIE_FRAMES,
        help=f"frames of the looped movie (default {MOVIE_FRAMES}; issue 12's M.zarr has 400)",
    )
    parser.add_argument(
        "--cli",
        action="store_true",
        help="the settings `pynta acquire` builds (threshold and search range calibrated)",
    )
    parser.add_argument(
        "--no-frame-ring",
        action="store_true",
        help="send the pixels in the messages instead of the shared-memory frame ring",
    )
    args = parser.parse_args()
    print(
        f"live pipeline, saving + tracking, {N_PARTICLES} particles, {args.seconds:g} s per run, "
        f"{os.cpu_count()} cores (load average now {os.getloadavg()[0]:.1f}), frames to the "
        f"saver and locators {'in the messages' if args.no_frame_ring else 'in the frame ring'}"
    )
    results: list[tuple[int, int, dict]] = []
    with tempfile.TemporaryDirectory(prefix="pynta-bench-") as tmp:
        movies: dict[int, tuple[Path, float]] = {}
        for size, fps, n_locators in args.runs:
            if size not in movies:
                path = Path(tmp) / f"movie{size}.zarr"
                movies[size] = (path, write_movie(path, size, args.movie_frames))
            settings = cli_config if args.cli else bench_config
            r = run(
                *movies[size],
                fps,
                n_locators,
                args.seconds,
                Path(tmp),
                not args.no_frame_ring,
                settings,
            )
            print(f"\n{size}x{size} at {fps:g} fps, {n_locators} locator(s), engine {r['engine']}:")
            if args.cli:
                command = cli_command(
                    movies[size][0], fps, r["n_frames"], n_locators, Path("R.zarr")
                )
                print(f"  settings of: pynta {' '.join(command)}")
            print(
                f"  minmass {r['minmass']:.1f}, search range {r['search_range_px']:.2f} px "
                f"({'chosen from the first frames' if args.cli else 'fixed by the bench'})"
            )
            print(
                f"  acquired {r['acquired_fps']:6.1f} fps = x{r['acquired_fps'] / fps:.2f} of "
                f"the requested rate; saved {r['stored']}/{r['n_frames']} frames, dropped "
                f"{r['dropped']}"
            )
            print(
                f"  tracked {r['tracked']}/{r['n_frames']} frames ({r['particles']:.0f} particles"
                f"/frame), untracked {r['untracked']}, tracking finished "
                f"{r['tracking_lag_s']:.1f} s after the last frame"
            )
            print(
                f"  live sizes (sizer process): the last summary (all {r['tracked']} frames) "
                f"took {r['last_sizing_s']:.2f} s CPU; sizing took {r['sizing_s']:.1f} s CPU = "
                f"{100 * r['sizing_s'] / r['run_s']:.0f} % of the run's wall time"
            )
            latency = r["latency"]
            if latency:
                print(
                    f"  tracking latency p50 {latency['p50']:.2f} s, p95 {latency['p95']:.2f} s, "
                    f"max {latency['max']:.2f} s; {r['lost_by_camera']} frames lost by the camera"
                )
            costs = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["cpu_ms"].items()))
            print(
                f"  CPU ms per frame while acquiring: {costs}; sum {sum(r['cpu_ms'].values()):.2f}"
                f" = {machine_fraction(r):.0%} of the machine at the achieved rate"
            )
            print(f"  load average {r['load'][0]:.1f} before, {r['load'][1]:.1f} after the run")
            for error in r["errors"][:3]:
                print(f"  error: {error.splitlines()[0]}")
            results.append((size, n_locators, r))
        print_table(results)


def machine_fraction(r: dict) -> float:
    """The workers' summed CPU time per frame times the achieved rate, over the cores."""
    return sum(r["cpu_ms"].values()) * 1e-3 * r["acquired_fps"] / (os.cpu_count() or 1)


def print_table(results: list[tuple[int, int, dict]]) -> None:
    """All runs as one markdown table."""
    print(
        "\n| run | fps achieved/asked | saved/dropped | lost by camera | untracked | latency "
        "p50/p95 s | CPU ms/frame acq/saver/loc/linker/sizer (sum, machine) | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size, n_locators, r in results:
        cpu = r["cpu_ms"]
        parts = "/".join(
            f"{cpu.get(k, 0.0):.2f}"
            for k in ("acquisition", "saver", "locators", "linker", "sizer")
        )
        latency = r["latency"]
        latency_text = f"{latency['p50']:.2f}/{latency['p95']:.2f}" if latency else "-"
        print(
            f"| {size}², {r['requested']:g} fps, {n_locators} loc | {r['acquired_fps']:.0f}/"
            f"{r['requested']:g} | {r['stored']}/{r['n_frames']}, {r['dropped']} | "
            f"{r['lost_by_camera']} | {r['untracked']} | {latency_text} | {parts} "
            f"({sum(cpu.values()):.2f}, {machine_fraction(r):.0%}) | "
            f"{r['load'][0]:.1f}-{r['load'][1]:.1f} |"
        )


if __name__ == "__main__":
    main()
