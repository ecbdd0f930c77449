"""Detection speed: the fast engine against trackpy, side by side on one core; linking cost.

Run ``python benchmarks/bench_detect.py`` (add ``--live`` for the end-to-end live rate, see
``bench_live.py``). Frames are simulated NTA frames (``napari_pynta.simulate``) at 512x512 with
100 particles and 1024x1024 with 400 (same density). Both engines see the same frames in an
interleaved order (fast, trackpy, fast, ...), so background load on the machine hits both alike.
Each call is timed by the CPU time of this thread (what the call costs a core, insensitive to
other processes taking the core away) and by the wall clock; the ratio of the median CPU times is
the figure to read. JIT compilation is done before timing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

# one core, one thread: set before numpy/numba start their thread pools
for _name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import trackpy  # noqa: E402

from napari_pynta import detect, simulate  # noqa: E402
from napari_pynta.detect_fast import locate_fast, warm_up  # noqa: E402
from napari_pynta.link import StreamingLinker  # noqa: E402

DIAMETER = 7
CASES = (((512, 512), 100), ((1024, 1024), 400))


def pin_to_one_core() -> str:
    """Pin this process to one CPU (Linux); return a description for the report."""
    if hasattr(os, "sched_setaffinity"):
        core = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def movie(shape: tuple[int, int], n_particles: int, n_frames: int) -> simulate.SimulatedMovie:
    settings = simulate.SimulationSettings(shape=shape, n_particles=n_particles, seed=1,
                                           exposure_s=0.002)
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
    times: dict[str, list[float]] = {name: [] for name in (
        "fast", "trackpy", "detect fast", "detect trackpy", "wall fast", "wall trackpy")}
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
            times["wall trackpy"].append(wall_timed(trackpy.locate, frame, DIAMETER,
                                                    minmass=minmass)[0])
    return times


def linking_cost(frames: np.ndarray, minmass: float) -> tuple[float, float]:
    """Median seconds per frame of StreamingLinker.add, and mean features per frame."""
    features = [locate_fast(frame, diameter=DIAMETER, minmass=minmass, frame_number=index)
                for index, frame in enumerate(frames)]
    linker = StreamingLinker(search_range_px=5.0, memory=3)
    times = [timed(linker.add, table)[0] for table in features]  # CPU time
    return statistics.median(times[1:]), float(np.mean([len(table) for table in features]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10, help="distinct frames per size")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the frames")
    parser.add_argument("--live", action="store_true", help="also run bench_live.py")
    args = parser.parse_args()
    trackpy.quiet()
    print(f"one core: {pin_to_one_core()}; NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}")
    warm_up()
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
        print(f"\n{label}, {n_particles} particles simulated, {n_found} found in frame 0, "
              f"minmass {minmass:.0f}, {len(times['fast'])} timed calls per engine")
        print(f"  engine, CPU   : fast {med['fast']:7.2f} ms  trackpy {med['trackpy']:7.2f} ms"
              f"  -> fast/trackpy speed-up x{med['trackpy'] / med['fast']:.1f} (median),"
              f" x{best['trackpy'] / best['fast']:.1f} (best)")
        print(f"  engine, wall  : fast {med['wall fast']:7.2f} ms  trackpy "
              f"{med['wall trackpy']:7.2f} ms  -> x{med['wall trackpy'] / med['wall fast']:.1f}"
              f" (median), x{best['wall trackpy'] / best['wall fast']:.1f} (best)")
        print(f"  detect, CPU   : fast {med['detect fast']:7.2f} ms  trackpy "
              f"{med['detect trackpy']:7.2f} ms  -> x{med['detect trackpy'] / med['detect fast']:.1f}"
              f" (includes the table standardization of detect.locate)")
        print(f"  fast engine alone: {1e3 / med['fast']:.0f} frames/s per core (CPU time)")
        if shape == (512, 512):
            link_s, per_frame = linking_cost(sim.frames, minmass)
            print(f"  StreamingLinker.add: {link_s * 1e3:.2f} ms per frame with "
                  f"{per_frame:.0f} features -> {1 / link_s:.0f} frames/s on one core")
    if args.live:
        from bench_live import main as live_main

        live_main([])


if __name__ == "__main__":
    main()
