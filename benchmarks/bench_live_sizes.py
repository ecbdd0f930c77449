"""Cost of a live size summary as the run grows, incremental (warm-started) vs from scratch,
and whether the deconvolved D50's bootstrap standard error covers its real scatter.

1. Cost: tracks of a 100 + 200 nm sample (``simulate_tracks``) are fed to a ``LiveSizer`` in
   steps of a few percent of the run, the way the linker feeds it; after each step three
   summaries of the same tracks are timed: ``before``, the summary the live linker computed
   before warm starts (``analysis.summarize_tracks`` with its defaults: EM from a uniform
   start, 30 freshly drawn resamples, no D50 error), ``scratch``, a fresh ``LiveSizer`` (no
   warm start, with the D50 error), and ``incr.``, the running sizer (the deconvolution and
   each resample start from the previous summary). Printed: tracks, CPU s of each, the ratios
   to ``before``, and D50 ± SE of scratch and incremental (equal to within the EM tolerances).
2. SE: for independent samples (seeds) of one size distribution, the final summary's D50 and
   ``d50_se``; printed: the scatter of D50 across seeds, the mean SE, their ratio (1 = the SE
   is honest) and the SD of the z-scores (D50 - mean) / SE.

CPU times of this process with BLAS on one thread; on a shared machine read the ratios.

Run: python benchmarks/bench_live_sizes.py [--tracks 8000] [--steps 20] [--seeds 12]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from napari_pynta.analysis import summarize_tracks  # noqa: E402
from napari_pynta.live.sizes import LiveSizer  # noqa: E402
from napari_pynta.simulate_tracks import LIVE_SETTINGS, simulate_tracks  # noqa: E402

SETTINGS = LIVE_SETTINGS


def timed_summary(sizer: LiveSizer, n_frames: int) -> tuple[dict, float]:
    """The sizer's summary and the CPU seconds it took."""
    start = time.process_time()
    summary, _ = sizer.summary(n_frames)
    return summary, time.process_time() - start


def cost(n_tracks: int, n_steps: int) -> None:
    tracks = simulate_tracks(
        n_tracks, np.random.default_rng(1), diameters_nm=(100.0, 200.0), fractions=(0.7, 0.3)
    )
    n_frames = int(tracks["frame"].max()) + 1
    print(f"1. cost of a summary, {n_tracks} particles in {n_frames} frames, {n_steps} steps")
    print(
        f"{'tracks':>7} {'before s':>8} {'scratch s':>9} {'incr. s':>8} {'scratch/before':>14} "
        f"{'incr./before':>12} {'D50 scratch':>16} {'D50 incremental':>16}"
    )
    running = LiveSizer(SETTINGS)
    done = 0
    ratios = []
    for end in np.linspace(0, n_frames, n_steps + 1)[1:].astype(int):
        running.add(tracks[(tracks["frame"] >= done) & (tracks["frame"] < end)])
        done = end
        incremental, incremental_s = timed_summary(running, end)
        fresh = LiveSizer(SETTINGS)
        fresh.add(tracks[tracks["frame"] < end])
        scratch, scratch_s = timed_summary(fresh, end)
        start = time.process_time()
        summarize_tracks(
            fresh.tracks, fresh.params, n_frames=end, frame_shape=SETTINGS["frame_shape"]
        )
        before_s = time.process_time() - start
        ratios.append((scratch_s / before_s, incremental_s / before_s))
        a, b = scratch["deconvolved_nm"], incremental["deconvolved_nm"]
        print(
            f"{scratch['n_tracks']:>7} {before_s:>8.2f} {scratch_s:>9.2f} {incremental_s:>8.2f} "
            f"{ratios[-1][0]:>14.2f} {ratios[-1][1]:>12.2f} {a['d50']:>8.2f} ± {a['d50_se']:<5.2f} "
            f"{b['d50']:>8.2f} ± {b['d50_se']:<5.2f}"
        )
    half = np.array(ratios[len(ratios) // 2 :])
    print(
        "   second half of the run, median ratio to before: scratch "
        f"{np.median(half[:, 0]):.2f}, incremental {np.median(half[:, 1]):.2f}"
    )


def standard_error(n_tracks: int, n_seeds: int) -> None:
    print(f"2. D50 standard error against the scatter over {n_seeds} seeds, {n_tracks} tracks")
    print(f"{'sample':>20} {'scatter nm':>10} {'mean SE nm':>10} {'SE/scatter':>10} {'SD(z)':>6}")
    for name, diameters, fractions in (
        ("100 nm", (100.0,), None),
        ("100+200 nm 7:3", (100.0, 200.0), (0.7, 0.3)),
    ):
        d50, se = [], []
        for seed in range(n_seeds):
            sizer = LiveSizer(SETTINGS)
            tracks = simulate_tracks(
                n_tracks,
                np.random.default_rng(100 + seed),
                diameters_nm=diameters,
                fractions=fractions,
            )
            sizer.add(tracks)
            summary, _ = sizer.summary(int(tracks["frame"].max()) + 1)
            d50.append(summary["deconvolved_nm"]["d50"])
            se.append(summary["deconvolved_nm"]["d50_se"])
        d50_array, se_array = np.array(d50), np.array(se)
        scatter = float(np.std(d50_array, ddof=1))
        z = (d50_array - d50_array.mean()) / se_array
        print(
            f"{name:>20} {scatter:>10.2f} {se_array.mean():>10.2f} "
            f"{se_array.mean() / scatter:>10.2f} {np.std(z, ddof=1):>6.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=8000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--seeds", type=int, default=12, help="independent samples for the SE check (at least 2)"
    )
    parser.add_argument("--se-tracks", type=int, default=1000)
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error(f"--seeds must be at least 2 (a scatter needs two samples), got {args.seeds}")
    cost(args.tracks, args.steps)
    standard_error(args.se_tracks, args.seeds)


if __name__ == "__main__":
    main()
