"""The two-parameter alternative to the EM: a maximum-likelihood log-normal fit."""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from napari_pynta.deconvolve.distribution import SizeDistribution
from napari_pynta.deconvolve.grid import _check_grid, diameter_grid
from napari_pynta.deconvolve.likelihood import Likelihood, StepModel, TrackSteps, _likelihood


def _lognormal_weights(log_grid: np.ndarray, ln_median: float, sigma_log: float) -> np.ndarray:
    """Log-normal distribution discretised on the grid cells (exact cell probabilities)."""
    mid = 0.5 * (log_grid[1:] + log_grid[:-1])
    edges = np.concatenate([[-np.inf], mid, [np.inf]])
    cdf = special.ndtr((edges - ln_median) / sigma_log)
    return np.diff(cdf)


def lognormal_fit(
    tracks: TrackSteps,
    model: StepModel,
    grid_nm: np.ndarray | None = None,
    *,
    likelihood: Likelihood | None = None,
) -> SizeDistribution:
    """Maximum-likelihood log-normal size distribution, accounting for track length.

    The likelihood of every track is the Gamma model of :func:`log_likelihood_matrix` averaged
    over a log-normal distribution of diameters (median, sigma_log), discretised on the grid.
    This is a two-parameter alternative to :func:`walker_em` for unimodal samples; it is labelled
    'log-normal fit'.

    Parameters
    ----------
    tracks : TrackSteps
        Per-track step counts and mean squared lag-1 steps.
    model : StepModel
        Acquisition physics.
    grid_nm : ndarray, optional
        Diameter grid, nm; default :func:`diameter_grid`.
    likelihood : (ndarray, ndarray), optional
        As for :func:`walker_em`.

    Returns
    -------
    SizeDistribution
        ``method="log-normal fit"``, ``parameters`` = ``{"median_nm", "sigma_log"}`` (sigma_log
        is the standard deviation of ln d; it cannot resolve widths below the grid spacing).
    """
    grid = _check_grid(diameter_grid() if grid_nm is None else grid_nm)
    matrix, offset = _likelihood(tracks, grid, model, likelihood)
    log_grid = np.log(grid)
    min_sigma = 0.5 * float(np.min(np.diff(log_grid)))

    def unpack(params: np.ndarray) -> tuple[float, float]:
        return float(params[0]), min_sigma + float(np.exp(params[1]))

    def negative_log_likelihood(params: np.ndarray) -> float:
        ln_median, sigma_log = unpack(params)
        per_track = matrix @ _lognormal_weights(log_grid, ln_median, sigma_log)
        return -float(np.sum(np.log(np.maximum(per_track, 1e-300))))

    # start from the EM-free estimate: the grid point that best explains the tracks alone
    start_index = int(np.argmax(np.log(np.maximum(matrix, 1e-300)).sum(axis=0)))
    start = np.array([log_grid[start_index], np.log(0.2)])
    result = optimize.minimize(
        negative_log_likelihood,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000},
    )
    ln_median, sigma_log = unpack(result.x)
    weights = _lognormal_weights(log_grid, ln_median, sigma_log)
    weights /= weights.sum()
    return SizeDistribution(
        diameter_nm=grid,
        weights=weights,
        n_tracks=len(tracks),
        log_likelihood=float(-result.fun + offset.sum()),
        n_iterations=int(result.nit),
        converged=bool(result.success),
        method="log-normal fit",
        parameters={"median_nm": float(np.exp(ln_median)), "sigma_log": sigma_log},
    )
