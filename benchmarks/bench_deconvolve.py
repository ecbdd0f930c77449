"""Time of the Walker EM deconvolution versus the number of tracks.

Goal (issue 5): 10^4 tracks in seconds, not minutes. Prints, for each number of tracks, the time
to build the likelihood matrix, the EM time and iterations, the log-normal fit time, and side by
side the time per EM iteration of the precomputed-matrix implementation against a naive one that
re-evaluates the Gamma density every iteration (scipy.stats.gamma.pdf), measured in the same run.

Times are CPU seconds of this process with BLAS limited to one thread, so that other work on a
shared machine does not change them much (wall time on an idle core is about the same).

Run: python benchmarks/bench_deconvolve.py [--max-tracks N]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from napari_pynta.deconvolve import (  # noqa: E402
    StepModel,
    TrackSteps,
    diameter_grid,
    log_likelihood_matrix,
    lognormal_fit,
    walker_em,
)
from napari_pynta.physics import water_viscosity_pa_s  # noqa: E402

NAIVE_ITERATIONS = 5


def synthetic_tracks(n_tracks: int, model: StepModel, rng: np.random.Generator) -> TrackSteps:
    """A 100 + 200 nm mixture, tracks of 5-50 steps, drawn from the Gamma model."""
    diameters = rng.choice([100.0, 200.0], size=n_tracks)
    n_steps = rng.integers(5, 51, size=n_tracks)
    theta = model.expected_msd1_um2(diameters)
    return TrackSteps(n_steps, rng.gamma(n_steps, theta / n_steps))


def naive_iteration_s(tracks: TrackSteps, model: StepModel, grid: np.ndarray) -> float:
    """Seconds per EM iteration when the Gamma densities are recomputed every iteration."""
    theta = model.expected_msd1_um2(grid)
    weights = np.full(grid.size, 1.0 / grid.size)
    start = time.process_time()
    for _ in range(NAIVE_ITERATIONS):
        density = stats.gamma.pdf(
            tracks.msd1_um2[:, None],
            tracks.n_steps[:, None],
            scale=theta[None, :] / tracks.n_steps[:, None],
        )
        posterior = density * weights
        posterior /= posterior.sum(axis=1, keepdims=True)
        weights = posterior.mean(axis=0)
    return (time.process_time() - start) / NAIVE_ITERATIONS


def main(max_tracks: int = 30_000) -> None:
    rng = np.random.default_rng(0)
    model = StepModel(0.01, 0.01, 0.03, 22.0, water_viscosity_pa_s(22.0))
    grid = diameter_grid()
    print(f"grid: {grid.size} diameters, {grid[0]:g}-{grid[-1]:g} nm")
    print(
        f"{'tracks':>8} {'matrix s':>9} {'EM s':>7} {'iter':>5} {'EM ms/iter':>10} "
        f"{'naive ms/iter':>13} {'speed-up':>8} {'lognormal s':>11} {'peaks nm':>14}"
    )
    n_tracks = 100
    while n_tracks <= max_tracks:
        tracks = synthetic_tracks(n_tracks, model, rng)
        start = time.process_time()
        log_likelihood_matrix(tracks, grid, model)
        matrix_s = time.process_time() - start
        start = time.process_time()
        result = walker_em(tracks, model, grid)
        em_s = time.process_time() - start
        start = time.process_time()
        lognormal_fit(tracks, model, grid)
        fit_s = time.process_time() - start
        per_iteration = (em_s - matrix_s) / result.n_iterations
        naive = naive_iteration_s(tracks, model, grid)
        peaks = "/".join(f"{p:.0f}" for p in sorted(result.statistics()["peaks"]))
        print(
            f"{n_tracks:>8} {matrix_s:>9.3f} {em_s:>7.2f} {result.n_iterations:>5} "
            f"{1000 * per_iteration:>10.2f} {1000 * naive:>13.1f} "
            f"{naive / per_iteration:>7.0f}x {fit_s:>11.2f} {peaks:>14}"
        )
        n_tracks *= 10 if n_tracks < 10_000 else 3


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-tracks", type=int, default=30_000, help="largest number of tracks (from 100 up)"
    )
    main(parser.parse_args().max_tracks)
