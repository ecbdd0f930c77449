"""Bootstrap resamples of the tracks: their EM distributions and the stable Poisson counts that draw
them."""

from __future__ import annotations

import math

import numpy as np

from napari_pynta.deconvolve.distribution import SizeDistribution
from napari_pynta.deconvolve.em import (
    EM_SMOOTHING_LN,
    NEGLIGIBLE_LIKELIHOOD,
    _em_iterations,
    _initial_weights,
)
from napari_pynta.deconvolve.grid import _smoothing_kernel
from napari_pynta.deconvolve.likelihood import Likelihood, StepModel, TrackSteps, _likelihood
from napari_pynta.errors import PyntaInputError

#: bootstrap resamples of the tracks that test the peaks
PEAK_BOOTSTRAP = 30
#: seed of the resampling
BOOTSTRAP_SEED = 20261
#: resamples start at the solution of all tracks: a looser tolerance and fewer iterations suffice
BOOTSTRAP_REL_TOL = 1e-4
BOOTSTRAP_MAX_ITER = 1000


def bootstrap_distributions(
    tracks: TrackSteps,
    model: StepModel,
    distribution: SizeDistribution,
    n_bootstrap: int = PEAK_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
    *,
    track_ids: np.ndarray | None = None,
    starts: np.ndarray | None = None,
    likelihood: Likelihood | None = None,
    first_resample: int = 0,
) -> np.ndarray:
    """Walker EM distributions of ``n_bootstrap`` resamples of the tracks (with replacement).

    Each resample starts from ``distribution`` (the EM solution of all tracks, same grid and
    smoothing), so few iterations are needed; the likelihood matrix is computed once.

    Parameters
    ----------
    tracks, model : TrackSteps, StepModel
        The tracks and the physics of :func:`walker_em`.
    distribution : SizeDistribution
        The EM solution of all tracks.
    n_bootstrap : int
        Number of resamples.
    seed : int
        Seed of the resampling.
    track_ids : ndarray, optional
        One id per track (the particle ids): resample ``b`` then counts each track
        :func:`stable_bootstrap_counts` times, a number fixed by ``(seed, id, b)``, instead of
        drawing tracks with replacement. Adding tracks leaves the counts of the others alone,
        so a resample of more tracks is the previous one plus the new tracks (the live summary
        warm-starts each resample from the previous one). Statistically the same bootstrap.
    starts : ndarray, shape (n_bootstrap, n_grid), optional
        Where each resample's EM starts (e.g. the resamples of the previous live summary, same
        grid); mixed with :data:`WARM_START_UNIFORM` of the uniform start like
        :func:`walker_em`'s ``start``. Default: ``distribution``.
    likelihood : (ndarray, ndarray), optional
        As for :func:`walker_em`.
    first_resample : int
        With ``track_ids``: the number of the first resample (:func:`stable_bootstrap_counts`
        ``first``), to draw more resamples of the same bootstrap later.

    Returns
    -------
    ndarray, shape (n_bootstrap, n_grid)
        Weights of every resample's distribution on ``distribution.diameter_nm``.
    """
    grid = distribution.diameter_nm
    full_likelihood, _ = _likelihood(tracks, grid, model, likelihood)
    support = full_likelihood.max(axis=0) > NEGLIGIBLE_LIKELIHOOD
    supported = np.ascontiguousarray(full_likelihood[:, support])
    smoothing = distribution.parameters.get("smoothing_ln", EM_SMOOTHING_LN)
    kernel = _smoothing_kernel(grid[support], smoothing) if smoothing > 0 else None
    start = distribution.weights[support] + 1e-12
    start /= start.sum()
    if starts is not None and np.shape(starts) != (int(n_bootstrap), grid.size):
        raise PyntaInputError("starts must hold one distribution on the grid per resample")
    counts = (
        None
        if track_ids is None
        else stable_bootstrap_counts(track_ids, n_bootstrap, seed, first_resample)
    )
    rng = np.random.default_rng(seed if not first_resample else (seed, int(first_resample)))
    resampled = np.zeros((int(n_bootstrap), grid.size))
    for index in range(int(n_bootstrap)):
        first = start
        if starts is not None:
            previous = SizeDistribution(grid, starts[index], len(tracks), math.nan)
            first = _initial_weights(grid, support, previous)
        if counts is None:
            rows = rng.integers(0, len(tracks), len(tracks))
            weights, _, _ = _em_iterations(
                supported[rows], first, kernel, BOOTSTRAP_REL_TOL, BOOTSTRAP_MAX_ITER
            )
        else:  # tracks counted 0 times play no part: leave their rows out
            rows = np.flatnonzero(counts[index])
            if rows.size == 0:  # a small group of tracks none of which was drawn
                resampled[index, support] = first
                continue
            weights, _, _ = _em_iterations(
                supported[rows],
                first,
                kernel,
                BOOTSTRAP_REL_TOL,
                BOOTSTRAP_MAX_ITER,
                counts[index, rows],
            )
        resampled[index, support] = weights
    return resampled


#: cumulative distribution of a Poisson(1) count, 0..19 (the rest: 1e-18)
_POISSON1_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(20)])


def stable_bootstrap_counts(
    track_ids: np.ndarray, n_bootstrap: int, seed: int = BOOTSTRAP_SEED, first: int = 0
) -> np.ndarray:
    """How often each track counts in each bootstrap resample: Poisson(1), fixed by its id.

    The Poisson bootstrap (each track counted a Poisson(1) number of times, independently) is
    the multinomial bootstrap for many tracks. Here the count of track ``i`` in resample ``b``
    is a hash (splitmix64) of ``(seed, track_ids[i], b)``, not a draw from a running generator:
    the same tracks give the same resamples in any order, and new tracks leave the counts of the
    others unchanged. ``first`` numbers the first resample: resamples ``first`` to
    ``first + n_bootstrap - 1`` (more resamples of the same bootstrap, e.g. for the peak test).

    Returns
    -------
    ndarray, shape (n_bootstrap, n_tracks)
        Counts (float).
    """
    ids = np.asarray(track_ids).astype(np.int64).astype(np.uint64)
    resample = np.arange(int(first), int(first) + int(n_bootstrap), dtype=np.uint64)[:, None]
    with np.errstate(over="ignore"):
        x = (
            ids[None, :] * np.uint64(0x9E3779B97F4A7C15)
            + resample * np.uint64(0xD1B54A32D192ED03)
            + np.uint64(seed)
        )
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    uniform = (x >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.searchsorted(_POISSON1_CDF, uniform, side="right").astype(np.float64)
