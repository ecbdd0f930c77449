"""Broad samples and mixtures at the track level: how often two or more peaks are reported.

Each set is ``simulate_tracks`` (430 tracks of mean 20 frames, 100 fps, σ 30 nm: the sized
tracks of a 600-frame movie with 28 particles in view) of one log-normal population around
150 nm or of a mixture, deconvolved as the analysis does (30 bootstrap resamples). Printed per
set: the peaks reported, whether two or more passed the bootstrap (``before``: the test against
one population, ``deconvolve.unimodal_test``, ran only then), its draws (multimodal/drawn), p,
and the CPU seconds of the deconvolution and of the test alone. Tables: docs/accuracy.md,
"Broad samples (p15-poly)".

Run: python benchmarks/bench_polydisperse.py [--seeds 6] [--samples "ln 0.4" "80+200" ...]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from napari_pynta import deconvolve  # noqa: E402
from napari_pynta.simulate_tracks import simulate_tracks  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from simulated_acquisition import ACQUISITION, per_track  # noqa: E402

#: mixtures: diameters (nm) and number fractions
MIXTURES = {
    "80+200": ((80.0, 200.0), None),
    "50+100": ((50.0, 100.0), None),
    "100+300 3:1": ((100.0, 300.0), (0.75, 0.25)),
    "100+150": ((100.0, 150.0), None),
}
SAMPLES = ["ln 0.05", "ln 0.25", "ln 0.4", "ln 0.6", *MIXTURES]


def population(sample: str, seed: int) -> tuple[np.ndarray, tuple[float, ...] | None]:
    """Diameters (nm) to draw the particles from, and their fractions (None: equal)."""
    if sample.startswith("ln "):
        sigma_log = float(sample.split()[1])
        rng = np.random.default_rng(1000 + seed)
        return 150.0 * np.exp(sigma_log * rng.standard_normal(2000)), None
    diameters, fractions = MIXTURES[sample]
    return np.asarray(diameters), fractions


def measure(sample: str, seed: int) -> str:
    diameters, fractions = population(sample, seed)
    rng = np.random.default_rng(seed)
    tracks = simulate_tracks(
        430, rng, diameters_nm=diameters, fractions=fractions, mean_length=20.0
    )
    start = time.process_time()
    sizes = deconvolve.deconvolve_tracks(tracks, per_track(tracks), **ACQUISITION, n_bootstrap=30)
    total = time.process_time() - start
    assert sizes is not None and sizes.peaks is not None
    peaks = sorted(round(peak["diameter_nm"]) for peak in sizes.peaks)
    test = sizes.unimodal
    if test is None:
        return f"{sample:12s} s{seed} peaks {peaks} before 1 | cpu {total:.1f} s"
    # the test alone, again (deterministic: same seed, same draws)
    steps_model = _steps_and_model(tracks)
    start = time.process_time()
    deconvolve.unimodal_test(*steps_model, sizes.deconvolved)
    alone = time.process_time() - start
    return (
        f"{sample:12s} s{seed} peaks {peaks} before >=2 | draws {test.multimodal_draws}/"
        f"{test.n_draws} p {test.p_value:.3f} width {test.critical_width_ln:.3f} | "
        f"cpu {total:.1f} s, test {alone:.1f} s"
    )


def _steps_and_model(tracks):
    """The tracks and step model that ``deconvolve_tracks`` builds (for timing the test)."""
    table = per_track(tracks)
    sigma = deconvolve.localization_error_by_brightness(
        tracks,
        ACQUISITION["pixel_size_um"],
        ACQUISITION["frame_interval_s"],
        ACQUISITION["exposure_s"],
    )
    usable = table[(table["msd1_um2"] > 0) & (table["n_steps"] >= 1)]
    steps = deconvolve.TrackSteps.from_table(usable, sigma, deconvolve.step_dispersion(tracks))
    model = deconvolve.StepModel(
        ACQUISITION["frame_interval_s"],
        ACQUISITION["exposure_s"],
        0.0,
        ACQUISITION["temperature_c"],
        ACQUISITION["viscosity_pa_s"],
    )
    return steps, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--samples", nargs="+", default=SAMPLES, choices=SAMPLES)
    args = parser.parse_args()
    for sample in args.samples:
        for seed in range(args.seeds):
            print(measure(sample, seed), flush=True)


if __name__ == "__main__":
    main()
