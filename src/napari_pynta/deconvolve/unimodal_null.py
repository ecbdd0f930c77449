"""The test of several peaks against a single population (Silverman's test, by simulated tracks).

The bootstrap of :mod:`significance` resamples the tracks: it measures how much the peaks move
with the sampling of the tracks, not the EM's own tendency to split a broad distribution. A
single log-normal population with σ_ln 0.4 of a few hundred tracks deconvolves into two bumps
(dips of 50-100 %) that every resample shows again. The question here is whether the tracks
need more than one population at all (Silverman, J. R. Stat. Soc. B 43, 97, 1981): the
distribution is smoothed in ln d just enough to show one peak (the critical width), track sets
are drawn from that single-peaked distribution (its spread rescaled to the unsmoothed one's) with
the observed tracks' step counts, localization errors and dispersion under the same step model,
each is deconvolved the same way and smoothed by the same width, and the peaks stand only if
few of these show more than one peak. The null is the tracks' own distribution made unimodal,
so a skewed or cut single population (small particles missed by detection) is a single
population here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from napari_pynta.deconvolve.distribution import SizeDistribution
from napari_pynta.deconvolve.em import EM_SMOOTHING_LN, walker_em
from napari_pynta.deconvolve.grid import _cell_edges
from napari_pynta.deconvolve.likelihood import StepModel, TrackSteps, log_likelihood_matrix
from napari_pynta.deconvolve.peaks import PEAK_SMOOTHING_LN, _peak_indices

#: most track sets drawn from the single-peaked distribution (p-values in steps of 1/40)
UNIMODAL_DRAWS = 39
#: the peaks stand when the single population's p-value is at most this
UNIMODAL_LEVEL = 0.05
#: seed of the draws
UNIMODAL_SEED = 20262
#: a warm start's rejection of one population stands until the tracks have grown this many times
UNIMODAL_RETEST_GROWTH = 2.0
#: the critical width is searched up to this (ln d) and to this precision
_WIDEST_LN = 2.0
_WIDTH_PRECISION_LN = 0.002


@dataclass(frozen=True)
class UnimodalTest:
    """The result of :func:`unimodal_test`.

    Attributes
    ----------
    critical_width_ln : float
        The smallest smoothing (standard deviation in ln d) that leaves one peak.
    multimodal_draws : int
        How many of the drawn track sets showed more than one peak at that width.
    n_draws : int
        Track sets drawn (fewer than :data:`UNIMODAL_DRAWS` when the test stopped early).
    p_value : float
        ``(1 + multimodal_draws) / (1 + n_draws)``.
    n_tracks : int
        Tracks the test was made with.
    rejected : bool
        Whether one population is rejected (``p_value`` <= :data:`UNIMODAL_LEVEL`): only then do
        the tracks show more than one population.
    """

    critical_width_ln: float
    multimodal_draws: int
    n_draws: int
    p_value: float
    rejected: bool
    n_tracks: int


def _n_peaks(grid_nm: np.ndarray, weights: np.ndarray, width_ln: float) -> int:
    """Candidate peaks (:func:`find_peaks`' rule) of the weights smoothed by ``width_ln``."""
    return len(_peak_indices(grid_nm, weights, smoothing_ln=width_ln)[0])


def critical_width(grid_nm: np.ndarray, weights: np.ndarray) -> float:
    """The smallest smoothing width (standard deviation in ln d, at least the candidate peaks'
    :data:`PEAK_SMOOTHING_LN`) at which a distribution shows one peak (bisection)."""
    low, high = PEAK_SMOOTHING_LN, _WIDEST_LN
    if _n_peaks(grid_nm, weights, low) <= 1:
        return low
    while high - low > _WIDTH_PRECISION_LN:
        middle = 0.5 * (low + high)
        if _n_peaks(grid_nm, weights, middle) > 1:
            low = middle
        else:
            high = middle
    return high


def unimodal_diameters(
    grid_nm: np.ndarray, weights: np.ndarray, width_ln: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` diameters (nm) drawn from the distribution smoothed by ``width_ln`` in ln d, their
    spread about the mean of ln d shrunk back to the unsmoothed distribution's (Silverman's
    rescaled smoothed bootstrap)."""
    log_edges = np.log(_cell_edges(grid_nm))
    cells = rng.choice(grid_nm.size, int(n), p=weights / weights.sum())
    log_d = rng.uniform(log_edges[cells], log_edges[cells + 1])
    log_grid = np.log(grid_nm)
    mean = float(np.sum(weights * log_grid) / weights.sum())
    variance = float(np.sum(weights * (log_grid - mean) ** 2) / weights.sum())
    smoothed = log_d + width_ln * rng.standard_normal(int(n))
    return np.exp(mean + (smoothed - mean) / math.sqrt(1.0 + width_ln**2 / max(variance, 1e-12)))


def null_tracks(
    tracks: TrackSteps, model: StepModel, diameters_nm: np.ndarray, rng: np.random.Generator
) -> TrackSteps:
    """Tracks with the step counts, localization errors and dispersion of ``tracks`` of
    particles of ``diameters_nm`` (one per track), whose mean squared steps are drawn from the
    Gamma model of :func:`log_likelihood_matrix`.

    Parameters
    ----------
    tracks : TrackSteps
        The observed tracks.
    model : StepModel
        Acquisition physics.
    diameters_nm : ndarray
        One diameter per track, nm.
    rng : numpy.random.Generator
        Random source.
    """
    theta = model.expected_msd1_um2(diameters_nm, tracks.sigma_um)
    rho = model.step_correlation(diameters_nm, tracks.sigma_um)
    k = tracks.n_steps
    shape = k / (tracks.dispersion + 2.0 * (k - 1.0) / k * rho**2)
    msd1 = np.maximum(rng.gamma(shape, theta / shape), np.finfo(float).tiny)
    return TrackSteps(k, msd1, tracks.sigma_um, tracks.dispersion)


def unimodal_test(
    tracks: TrackSteps,
    model: StepModel,
    deconvolved: SizeDistribution,
    n_draws: int = UNIMODAL_DRAWS,
    seed: int = UNIMODAL_SEED,
    level: float = UNIMODAL_LEVEL,
) -> UnimodalTest:
    """Whether the tracks show more than one population (Silverman's test, module docstring).

    Each draw takes one diameter per track from the distribution smoothed to one peak
    (:func:`unimodal_diameters`), its mean squared step from the step model
    (:func:`null_tracks`), is deconvolved by :func:`walker_em` (grid and smoothing of
    ``deconvolved``) and counts when that solution, smoothed by the critical width, shows more
    than one peak. The draws stop as soon as one population can no longer be rejected.

    Parameters
    ----------
    tracks : TrackSteps
        The tracks that ``deconvolved`` was computed from.
    model : StepModel
        Acquisition physics.
    deconvolved : SizeDistribution
        :func:`walker_em` of the tracks.
    n_draws : int
        Most track sets drawn.
    seed : int
        Seed of the draws.
    level : float
        Largest p-value that rejects one population.

    Returns
    -------
    UnimodalTest
    """
    grid, weights = deconvolved.diameter_nm, deconvolved.weights
    smoothing = deconvolved.parameters.get("smoothing_ln", EM_SMOOTHING_LN)
    width = critical_width(grid, weights)
    allowed = level * (1 + int(n_draws)) - 1  # multimodal draws that still reject
    rng = np.random.default_rng(seed)
    multimodal = drawn_sets = 0
    for drawn_sets in range(1, int(n_draws) + 1):  # noqa: B007 (the count is reported)
        diameters = unimodal_diameters(grid, weights, width, len(tracks), rng)
        drawn = null_tracks(tracks, model, diameters, rng)
        likelihood = log_likelihood_matrix(drawn, grid, model)
        solution = walker_em(drawn, model, grid, smoothing_ln=smoothing, likelihood=likelihood)
        multimodal += _n_peaks(grid, solution.weights, width) > 1
        if multimodal > allowed:
            break
    p_value = (1 + multimodal) / (1 + drawn_sets)
    return UnimodalTest(width, multimodal, drawn_sets, p_value, p_value <= level, len(tracks))
