"""Detection speed: the fast engine against trackpy, side by side on one core; linking cost.

Run ``python benchmarks/bench_detect.py`` (``--no-live`` skips the end-to-end live run;
``--against REF`` also times the fast engine of git revision REF, interleaved with this one (the
order alternating from frame to frame, as the second call on a frame finds it in cache), and
prints the speed-up and the largest position difference, and the CPU time of each of its numba
kernels, ours and REF's, timed in the same interleaved calls).
Frames are simulated NTA frames (``napari_pynta.simulate``) at 256x256 with 25 particles,
512x512 with 100 and 1024x1024 with 400 (same density). Both engines see the same frames in an
interleaved order (fast, trackpy, fast, ...), so background load on the machine hits both alike.
Each call is timed by the CPU time of this thread (what the call costs a core, insensitive to
other processes taking the core away) and by the wall clock; the figure to read is the median
over back-to-back pairs of the CPU-time ratio (a pair sees the same load). JIT compilation is
done before timing.

The live part replays a simulated 512x512 movie (100 particles) through the whole live pipeline
(playback camera -> acquisition -> saver recording to zarr + locator pool -> linker/sizer ->
a subscriber in this process, as the GUI) at a requested frame rate, and reports the rate at
which frames come out linked, frames left untracked or not saved, and the tracking latency
(time from a frame's preview to its tracks reaching the subscriber). This part is not pinned:
the pipeline's processes share all cores of the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# one core, one thread: set before numpy/numba start their thread pools
for _name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import trackpy  # noqa: E402

from napari_pynta import detect, simulate  # noqa: E402
from napari_pynta.detect import fast as fast_engine  # noqa: E402
from napari_pynta.detect.fast import locate_fast, warm_up  # noqa: E402
from napari_pynta.link import StreamingLinker  # noqa: E402
from napari_pynta.store import MovieStore  # noqa: E402

DIAMETER = 7
CASES = (((256, 256), 25), ((512, 512), 100), ((1024, 1024), 400))
#: the fast engine's numba kernels, timed one by one with --against
KERNELS = ("_bandpass", "_scan", "_histogram", "_select_features")


def pin_to_one_core() -> str:
    """Pin this process to one CPU (Linux); return a description for the report."""
    if hasattr(os, "sched_setaffinity"):
        core = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def movie(shape: tuple[int, int], n_particles: int, n_frames: int) -> simulate.SimulatedMovie:
    settings = simulate.SimulationSettings(
        shape=shape, n_particles=n_particles, seed=1, exposure_s=0.002
    )
    return simulate.simulate_movie(n_frames, settings)


def timed(function, *args, **kwargs) -> tuple[float, object]:
    """CPU seconds this thread spent in the call, and its result."""
    start = time.thread_time()
    result = function(*args, **kwargs)
    return time.thread_time() - start, result


def wall_timed(function, *args, **kwargs) -> tuple[float, object]:
    """Wall-clock seconds of the call, and its result."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def compare_engines(frames: np.ndarray, minmass: float, repeats: int) -> dict[str, list[float]]:
    """Interleaved timings (s) of each engine on every frame, ``repeats`` times over."""
    times: dict[str, list[float]] = {
        name: []
        for name in (
            "fast",
            "trackpy",
            "detect fast",
            "detect trackpy",
            "wall fast",
            "wall trackpy",
        )
    }
    params = dict(diameter=DIAMETER, minmass=minmass)
    for _ in range(repeats):
        for frame in frames:
            t_fast, fast = timed(locate_fast, frame, **params)
            t_ref, ref = timed(trackpy.locate, frame, DIAMETER, minmass=minmass)
            if len(fast) != len(ref):
                raise AssertionError(f"engines disagree: {len(fast)} vs {len(ref)} features")
            times["fast"].append(t_fast)
            times["trackpy"].append(t_ref)
            times["detect fast"].append(timed(detect.locate, frame, "fast", **params)[0])
            times["detect trackpy"].append(timed(detect.locate, frame, "trackpy", **params)[0])
            times["wall fast"].append(wall_timed(locate_fast, frame, **params)[0])
            times["wall trackpy"].append(
                wall_timed(trackpy.locate, frame, DIAMETER, minmass=minmass)[0]
            )
    return times


def engine_at(revision: str):
    """The fast engine's module as it was at git ``revision`` (imported from temporary files).

    The revision's kernel modules (``detect/fast_*.py``, where it has them) are imported from
    there too, under names of their own, so that its kernels are timed, not this checkout's.
    """
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=here, capture_output=True, text=True, check=True
        ).stdout

    detect_files = git(
        "ls-tree", "--full-tree", "--name-only", revision, "src/napari_pynta/detect/"
    ).split()
    kernels = [Path(path).stem for path in detect_files if Path(path).stem.startswith("fast_")]
    renamed = {f"napari_pynta.detect.{name}": f"baseline_{name}" for name in kernels}
    folder = Path(tempfile.mkdtemp(prefix="pynta-bench-"))

    def load(name: str, module_name: str):
        source = git("show", f"{revision}:src/napari_pynta/detect/{name}.py")
        for imported, baseline_name in renamed.items():
            source = source.replace(imported, baseline_name)
        path = folder / f"{module_name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module

    for name in kernels:
        load(name, f"baseline_{name}")
    return load("fast", "fast_baseline")


def timing_kernels(module, times: dict[str, list[float]]) -> None:
    """Wrap ``module``'s numba kernels so that each call adds its CPU seconds to ``times``."""
    for name in KERNELS:
        kernel = getattr(module, name, None)
        if kernel is None or hasattr(kernel, "timed_kernel"):
            continue

        def timed_kernel(*args, _kernel=kernel, _name=name):
            seconds, result = timed(_kernel, *args)
            times.setdefault(_name, []).append(seconds)
            return result

        timed_kernel.timed_kernel = kernel
        setattr(module, name, timed_kernel)


def untiming_kernels(module) -> None:
    """Undo :func:`timing_kernels`."""
    for name in KERNELS:
        kernel = getattr(module, name, None)
        if kernel is not None and hasattr(kernel, "timed_kernel"):
            setattr(module, name, kernel.timed_kernel)


def in_turns(turn: int, calls: tuple) -> tuple:
    """``calls`` in order on even turns, reversed on odd ones: of two calls on the same frame
    the second finds it in cache (≈ 2-3 % faster at 1024²), so neither revision may always go
    second."""
    return calls if turn % 2 == 0 else calls[::-1]


def compare_revisions(frames: np.ndarray, minmass: float, repeats: int, baseline) -> list[str]:
    """Interleaved CPU time of this fast engine and ``baseline``'s, in total and per kernel."""
    params = dict(diameter=DIAMETER, minmass=minmass)
    baseline.locate_fast(frames[0], **params)  # compile / load its kernels
    ours, theirs, moved = [], [], 0.0
    revisions = (("old", baseline.locate_fast), ("new", locate_fast))
    for turn, frame in enumerate(list(frames) * repeats):
        runs = {
            name: timed(function, frame, **params) for name, function in in_turns(turn, revisions)
        }
        (t_old, old), (t_new, new) = runs["old"], runs["new"]
        if len(old) != len(new):
            raise AssertionError(f"revisions disagree: {len(old)} vs {len(new)} features")
        theirs.append(t_old)
        ours.append(t_new)
        moved = max(moved, float(np.abs(old[["y", "x"]] - new[["y", "x"]]).max().max()))
    paired = statistics.median(o / n for o, n in zip(theirs, ours, strict=True))
    lines = [
        f"  against the baseline revision: {statistics.median(theirs) * 1e3:.2f} -> "
        f"{statistics.median(ours) * 1e3:.2f} ms, x{paired:.2f} (median of back-to-back pairs),"
        f" same features, positions within {moved:.1e} px"
    ]
    kernels_old: dict[str, list[float]] = {}
    kernels_new: dict[str, list[float]] = {}
    timing_kernels(baseline, kernels_old)
    timing_kernels(fast_engine, kernels_new)
    try:
        for turn, frame in enumerate(list(frames) * repeats):
            for _, function in in_turns(turn, revisions):
                function(frame, **params)
    finally:
        untiming_kernels(baseline)
        untiming_kernels(fast_engine)
    calls = len(frames) * repeats
    for name in KERNELS:
        old_times, new_times = kernels_old.get(name, []), kernels_new.get(name, [])
        if not old_times and not new_times:
            continue
        # per frame: a kernel that runs on some frames only is averaged over all of them
        old_ms, new_ms = (sum(t) / calls * 1e3 for t in (old_times, new_times))
        lines.append(
            f"    {name:17s} {old_ms:6.3f} -> {new_ms:6.3f} ms per frame (mean CPU time; "
            f"best call {min(old_times, default=0) * 1e3:.3f} -> "
            f"{min(new_times, default=0) * 1e3:.3f}; runs on {len(old_times)} -> {len(new_times)}"
            f" of {calls} frames)"
        )
    return lines


def linking_cost(frames: np.ndarray, minmass: float) -> tuple[float, float, float]:
    """Median seconds per frame of StreamingLinker.add and of the live linker's step
    (``link_frame``: linking the received columns), and mean features per frame."""
    from napari_pynta.live.workers.linker import link_frame

    features = [
        locate_fast(frame, diameter=DIAMETER, minmass=minmass, frame_number=index)
        for index, frame in enumerate(frames)
    ]
    linker = StreamingLinker(search_range_px=5.0, memory=3)
    times = [timed(linker.add, table)[0] for table in features]  # CPU time
    linker = StreamingLinker(search_range_px=5.0, memory=3)
    live = [timed(link_frame, linker, table, index)[0] for index, table in enumerate(features)]
    per_frame = float(np.mean([len(table) for table in features]))
    return statistics.median(times[1:]), statistics.median(live[1:]), per_frame


def write_movie(path: Path, sim: simulate.SimulatedMovie) -> None:
    """Save a simulated movie as a pynta store for the playback camera."""
    store = MovieStore.create(path, sim.frames.shape[1:], sim.frames.dtype, sim.metadata)
    store.append(sim.frames)
    store.close()


def worker_cpu_s(pipeline) -> dict[str, float]:
    """CPU seconds used so far by each worker process of ``pipeline`` (by worker name)."""
    import psutil

    used = {}
    for name, process in list(pipeline._processes.items()):  # benchmark-only peek
        try:
            times = psutil.Process(process.pid).cpu_times()
        except (psutil.NoSuchProcess, ValueError):
            continue
        used[name] = times.user + times.system
    return used


def live_rate(
    engine: str,
    fps: float,
    n_locators: int,
    seconds: float,
    minmass: float,
    movie_path: Path,
    workdir: Path,
) -> dict[str, float]:
    """Run the live pipeline on the replayed movie; measure rates and latency after warm-up."""
    from napari_pynta.live import LiveConfig, LivePipeline, LiveSubscriber

    config = LiveConfig(
        camera="playback",
        camera_settings=dict(path=str(movie_path), loop=True, fps=fps),
        record_path=str(workdir / f"live-{engine}-{fps:g}.zarr"),
        overwrite=True,
        track=True,
        n_locators=n_locators,
        engine=engine,
        detection=dict(diameter=DIAMETER, minmass=minmass),
        search_range_px=5.0,
    )
    seen: dict[int, float] = {}
    latencies: list[float] = []
    with LivePipeline(config) as pipeline, LiveSubscriber(pipeline.endpoints) as viewer:

        def drain(measure: bool) -> None:
            update = viewer.poll()
            now = time.perf_counter()
            if update.frame_header is not None:
                seen[int(update.frame_header["seq"])] = now
            if measure and len(update.tracks):
                latencies.extend(
                    now - seen[seq] for seq in update.tracks["frame"].unique() if seq in seen
                )

        warm_end = time.perf_counter() + 3.0
        while time.perf_counter() < warm_end:
            drain(False)
            time.sleep(0.002)
        start, t0, cpu0 = pipeline.status(), time.perf_counter(), worker_cpu_s(pipeline)
        while time.perf_counter() - t0 < seconds:
            drain(True)
            time.sleep(0.002)
        end, elapsed, cpu1 = pipeline.status(), time.perf_counter() - t0, worker_cpu_s(pipeline)
        final = pipeline.stop()
    acquired = max(end.frames_acquired - start.frames_acquired, 1)
    tracked = max(end.frames_tracked - start.frames_tracked, 1)
    cpu_ms = {}  # CPU ms per frame each kind of worker spent
    for name in cpu1:
        kind = "locators" if name.startswith("locator") else name
        frames = tracked if kind in ("locators", "linker") else acquired
        cpu_ms[kind] = cpu_ms.get(kind, 0.0) + (cpu1[name] - cpu0.get(name, 0.0)) / frames * 1e3
    return {
        "acquired_fps": (end.frames_acquired - start.frames_acquired) / elapsed,
        "tracked_fps": (end.frames_tracked - start.frames_tracked) / elapsed,
        "untracked": end.frames_untracked - start.frames_untracked,
        "saved_behind": end.frames_acquired - end.frames_saved,
        "dropped": final.frames_dropped,
        "errors": final.errors,
        "particles": end.particles_per_frame,
        "latency_median_s": float(np.median(latencies)) if latencies else float("nan"),
        "latency_p95_s": float(np.percentile(latencies, 95)) if latencies else float("nan"),
        "cpu_ms": cpu_ms,
    }


def report_live(args: argparse.Namespace) -> None:
    """Print the sustained live rates at the requested frame rates."""
    print(
        f"\nlive pipeline, 512x512, 100 particles, {os.cpu_count()} cores shared by all "
        f"processes, {args.live_seconds:g} s per run after 3 s warm-up"
    )
    sim = movie((512, 512), 100, 200)
    minmass = detect.estimate_minmass(sim.frames, "fast", diameter=DIAMETER)
    with tempfile.TemporaryDirectory(prefix="pynta-bench-") as tmp:
        movie_path = Path(tmp) / "movie.zarr"
        write_movie(movie_path, sim)
        for engine, fps, n_locators in args.live_runs:
            r = live_rate(
                engine, fps, n_locators, args.live_seconds, minmass, movie_path, Path(tmp)
            )
            print(
                f"  {engine:7s} {n_locators} locator(s), camera at {fps:5.0f} fps: acquired "
                f"{r['acquired_fps']:5.0f} fps, linked {r['tracked_fps']:5.0f} fps "
                f"({r['particles']:.0f} particles/frame), untracked {r['untracked']}, "
                f"not yet saved at the end {r['saved_behind']}, dropped {r['dropped']}, "
                f"errors {len(r['errors'])}; tracking latency median "
                f"{r['latency_median_s'] * 1e3:.0f} ms, 95 % {r['latency_p95_s'] * 1e3:.0f} ms"
            )
            for error in r["errors"][:3]:
                print(f"      error: {error}")
            costs = ", ".join(f"{kind} {ms:.2f}" for kind, ms in sorted(r["cpu_ms"].items()))
            total = sum(r["cpu_ms"].values())
            print(
                f"      CPU ms per frame: {costs}; total {total:.2f} ms -> at most "
                f"{2e3 / total:.0f} fps on 2 idle cores"
            )


def parse_run(text: str) -> tuple[str, float, int]:
    """``engine:fps:locators`` -> (engine, fps, locators)."""
    engine, fps, n_locators = text.split(":")
    return engine, float(fps), int(n_locators)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10, help="distinct frames per size")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the frames")
    parser.add_argument("--no-live", action="store_true", help="skip the live pipeline runs")
    parser.add_argument(
        "--against", metavar="REF", help="also time the fast engine of this git revision"
    )
    parser.add_argument("--live-seconds", type=float, default=8.0, help="measured s per run")
    parser.add_argument(
        "--live-runs",
        type=parse_run,
        nargs="+",
        default=[("fast", 400.0, 2), ("fast", 400.0, 1), ("trackpy", 400.0, 2)],
        help="live runs as engine:fps:locators",
    )
    args = parser.parse_args()
    trackpy.quiet()
    warm_up()  # compiles once and fills numba's on-disk cache, which the live workers load
    baseline = engine_at(args.against) if args.against else None
    if not args.no_live:  # before pinning: the pipeline's processes inherit the affinity
        report_live(args)
    print(f"\none core: {pin_to_one_core()}; NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}")
    for shape, n_particles in CASES:
        sim = movie(shape, n_particles, args.frames)
        minmass = detect.estimate_minmass(sim.frames, "fast", diameter=DIAMETER)
        locate_fast(sim.frames[0], diameter=DIAMETER)  # first call at this shape: buffers
        trackpy.locate(sim.frames[0], DIAMETER)
        times = compare_engines(sim.frames, minmass, args.repeats)
        med = {name: statistics.median(values) * 1e3 for name, values in times.items()}
        best = {name: min(values) * 1e3 for name, values in times.items()}
        n_found = len(locate_fast(sim.frames[0], diameter=DIAMETER, minmass=minmass))
        label = f"{shape[0]}x{shape[1]}"
        print(
            f"\n{label}, {n_particles} particles simulated, {n_found} found in frame 0, "
            f"minmass {minmass:.0f}, {len(times['fast'])} timed calls per engine"
        )
        paired = statistics.median(
            r / f for r, f in zip(times["trackpy"], times["fast"], strict=False)
        )
        print(
            f"  engine, CPU   : fast {med['fast']:7.2f} ms  trackpy {med['trackpy']:7.2f} ms"
            f"  -> fast/trackpy speed-up x{paired:.1f} (median of back-to-back pairs),"
            f" x{med['trackpy'] / med['fast']:.1f} (ratio of medians),"
            f" x{best['trackpy'] / best['fast']:.1f} (best)"
        )
        print(
            f"  engine, wall  : fast {med['wall fast']:7.2f} ms  trackpy "
            f"{med['wall trackpy']:7.2f} ms  -> x{med['wall trackpy'] / med['wall fast']:.1f}"
            f" (median), x{best['wall trackpy'] / best['wall fast']:.1f} (best)"
        )
        ratio = med["detect trackpy"] / med["detect fast"]
        print(
            f"  detect, CPU   : fast {med['detect fast']:7.2f} ms  trackpy "
            f"{med['detect trackpy']:7.2f} ms  -> x{ratio:.1f}"
            f" (through detect.locate, which standardizes the table)"
        )
        print(f"  fast engine alone: {1e3 / med['fast']:.0f} frames/s per core (CPU time)")
        if baseline is not None:
            print("\n".join(compare_revisions(sim.frames, minmass, args.repeats, baseline)))
        if shape == (512, 512):
            link_s, live_s, per_frame = linking_cost(sim.frames, minmass)
            print(
                f"  StreamingLinker.add: {link_s * 1e3:.2f} ms per frame with "
                f"{per_frame:.0f} features -> {1 / link_s:.0f} frames/s on one core; "
                f"the live linker's step (link_frame) {live_s * 1e3:.2f} ms"
            )


if __name__ == "__main__":
    main()
