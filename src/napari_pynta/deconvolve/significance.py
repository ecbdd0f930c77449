"""Peaks that the bootstrap resamples confirm (a sequential test), with the uncertainties of their
positions and fractions."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from napari_pynta.deconvolve.grid import smoothed_density
from napari_pynta.deconvolve.peaks import (
    PEAK_SMOOTHING_LN,
    _basin_bounds,
    _peak_indices,
    _refined_position,
)
from napari_pynta.deconvolve.uncertainty import LocalizationErrorResponse

#: share of the bootstrap resamples that must show a peak
PEAK_SIGNIFICANCE = 0.8
#: the peak test is sequential: while a share of resamples showing a peak lies within
#: PEAK_TEST_Z Monte-Carlo standard errors (sqrt(s (1 - s) / n) at the threshold s) of the
#: threshold, the number of resamples is doubled, up to PEAK_TEST_MAX_RESAMPLES
PEAK_TEST_Z = 2.0
PEAK_TEST_MAX_RESAMPLES = 240
#: central share (%) of the resamples' positions of a peak given as its interval
PEAK_INTERVAL = 68.0
#: the fractions of another distribution than the peaks' are split at its lowest point between
#: two peaks, but at least this share of the way (in ln d) from either peak
FRACTION_SPLIT_KEEP_OFF = 0.25


def significant_peaks(
    grid_nm: np.ndarray,
    weights: np.ndarray,
    resampled: np.ndarray,
    min_significance: float = PEAK_SIGNIFICANCE,
    *,
    fractions_of: tuple[np.ndarray, np.ndarray] | None = None,
    number_fractions_of: tuple[np.ndarray, np.ndarray] | None = None,
    response: LocalizationErrorResponse | None = None,
    more_resamples: MoreResamples | None = None,
) -> list[dict]:
    """Peaks of a distribution that its bootstrap resamples confirm, with fraction uncertainties.

    A candidate peak (:func:`find_peaks`) is significant when at least ``min_significance`` of the
    resamples have a peak in its basin: a peak that is noise (one latex showing two) comes and
    goes between resamples, and so does a dip that is not there. The least significant candidate
    is merged with a neighbour that fails too, else with its neighbour across the higher saddle
    (the higher of the two stays), and the merged basin tested again, until every peak is
    significant or one is left: two bumps of one population that take turns between resamples
    are one peak, not a lost one. The significant
    peaks split the distribution at the lowest point between neighbours; each gets the fraction
    of tracks in its basin and the standard deviation of that fraction over the resamples, and
    the uncertainty of its position: the standard deviation and the central
    :data:`PEAK_INTERVAL` % of the positions of the highest peak in its basin of every resample
    that has one there (moved like the quantiles of :func:`quantile_standard_errors` when a
    ``response`` is given).

    Parameters
    ----------
    grid_nm, weights : ndarray
        The distribution of all tracks.
    resampled : ndarray, shape (n_bootstrap, n_grid)
        Distributions of bootstrap resamples (:func:`bootstrap_distributions`).
    min_significance : float
        Share of resamples that must show the peak.
    fractions_of : (ndarray, ndarray), optional
        Weights and resamples (same shapes as ``weights`` and ``resampled``) of the distribution
        whose sum over each basin gives the fractions, e.g. the
        :func:`brightness_conditioned` one; default: ``weights`` and ``resampled``. The peaks
        are those of ``weights``; the basins are split at this distribution's lowest point
        between them, at least :data:`FRACTION_SPLIT_KEEP_OFF` of the way from either peak.
    number_fractions_of : (ndarray, ndarray), optional
        Weights and resamples of a second distribution (e.g. of the particles in view) summed
        over the same basins: ``number_fraction`` and ``number_fraction_se`` of every peak.
    response : LocalizationErrorResponse, optional
        :func:`localization_error_response` of the tracks: each resample's peak position is
        also moved by the noise of the pooled localization errors.
    more_resamples : callable, optional
        ``more_resamples(first, n)`` gives the distributions of ``n`` more resamples of the same
        bootstrap, numbered from ``first``: the test is then sequential (a share within
        :data:`PEAK_TEST_Z` Monte-Carlo standard errors of ``min_significance`` draws as many
        resamples again, up to :data:`PEAK_TEST_MAX_RESAMPLES`), so the decision does not
        depend on which few resamples were drawn. Positions and fractions come from
        ``resampled`` alone.

    Returns
    -------
    list of dict
        ``diameter_nm``, ``diameter_se_nm``, ``diameter_interval_nm`` ([low, high]),
        ``fraction``, ``fraction_se``, ``significance``, ``test_resamples`` (how many resamples
        the significance is the share of), ``basin`` (its grid indices ``[start, stop)``, split
        at the lowest point of the smoothed ``weights`` between peaks) (and with
        ``number_fractions_of``
        ``number_fraction``, ``number_fraction_se``); largest fraction first.
    """
    tested = _tested_peaks(grid_nm, weights, resampled, min_significance, more_resamples)
    return _peak_table(
        grid_nm, weights, resampled, tested, fractions_of, number_fractions_of, response
    )


#: draws ``n`` more resamples numbered from ``first`` (:func:`bootstrap_distributions`
#: ``first_resample``): their distributions, shape (n, n_grid)
MoreResamples = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class _TestedPeaks:
    """The peaks :func:`significant_peaks` keeps: grid indices, their significance (share of
    the ``n_tested`` resamples that showed each), the smoothed curve they are maxima of, and
    the peaks (grid indices) and curve of each of the given resamples (not of the extra ones
    the sequential test drew)."""

    indices: np.ndarray
    significance: np.ndarray
    smooth: np.ndarray
    resample_peaks: list[tuple[np.ndarray, np.ndarray]]
    n_tested: int


def _tested_peaks(
    grid_nm: np.ndarray,
    weights: np.ndarray,
    resampled: np.ndarray,
    min_significance: float = PEAK_SIGNIFICANCE,
    more_resamples: MoreResamples | None = None,
) -> _TestedPeaks:
    """The candidate peaks of ``weights`` tested against the resamples (merged where they fail).

    Sequential: while a share compared with ``min_significance`` lies within
    :data:`PEAK_TEST_Z` Monte-Carlo standard errors of it, ``more_resamples`` (if given) draws
    as many resamples again, up to :data:`PEAK_TEST_MAX_RESAMPLES` in all; the decision is then
    that of the share's estimate from all of them.
    """
    candidates, smooth = _peak_indices(grid_nm, weights)
    resample_peaks = [_peak_indices(grid_nm, resample) for resample in resampled]
    found = [indices for indices, _ in resample_peaks]
    while True:
        kept, significance, closest = _merge_insignificant(
            candidates, smooth, found, min_significance
        )
        n = len(found)
        margin = PEAK_TEST_Z * math.sqrt(min_significance * (1.0 - min_significance) / max(n, 1))
        if more_resamples is None or closest >= margin or n >= PEAK_TEST_MAX_RESAMPLES:
            return _TestedPeaks(kept, significance, smooth, resample_peaks, n)
        extra = more_resamples(n, min(n, PEAK_TEST_MAX_RESAMPLES - n))
        found += [_peak_indices(grid_nm, resample)[0] for resample in extra]


def _highest_only(tested: _TestedPeaks) -> _TestedPeaks:
    """The tested peaks reduced to the highest, whose basin is then the whole grid (every
    resample has a peak there: significance 1)."""
    highest = tested.indices[np.argmax(tested.smooth[tested.indices])]
    return replace(tested, indices=np.array([highest]), significance=np.ones(1))


def _position_in_basin(
    grid_nm: np.ndarray, indices: np.ndarray, smooth: np.ndarray, start: int, stop: int
) -> float:
    """Position (nm) of the highest of the peaks ``indices`` of the curve ``smooth`` in the
    basin ``[start, stop)`` of the grid; NaN without one there."""
    inside = indices[(indices >= start) & (indices < stop)]
    if not inside.size:
        return math.nan
    return _refined_position(grid_nm, smooth, int(inside[np.argmax(smooth[inside])]))


def _resampled_positions(
    grid_nm: np.ndarray,
    tested: _TestedPeaks,
    start: int,
    stop: int,
    position: float,
    response: LocalizationErrorResponse | None,
) -> np.ndarray:
    """A peak's position (nm) in every resample (NaN: none in its basin ``[start, stop)``),
    moved by the response to the resample's localization errors where known (like the
    quantiles of :func:`quantile_standard_errors`); ``position`` is the peak's own."""
    positions = np.array(
        [
            _position_in_basin(grid_nm, indices, smooth, start, stop)
            for indices, smooth in tested.resample_peaks
        ]
    )
    if response is not None and response.moved is not None:
        indices, smooth = _peak_indices(grid_nm, response.moved)
        moved = _position_in_basin(grid_nm, indices, smooth, start, stop)
        if np.isfinite(moved):
            positions = positions + response.change * (moved - position) / response.delta
    return positions


def _position_uncertainty(positions: np.ndarray) -> dict:
    """``diameter_se_nm`` (SD) and ``diameter_interval_nm`` (the central 68 %, nm) of a peak's
    positions in the resamples (NaN entries left out); NaN with fewer than two."""
    positions = positions[np.isfinite(positions)]
    if positions.size < 2:
        return {"diameter_se_nm": math.nan, "diameter_interval_nm": [math.nan, math.nan]}
    low, high = np.percentile(positions, [50.0 - PEAK_INTERVAL / 2, 50.0 + PEAK_INTERVAL / 2])
    return {
        "diameter_se_nm": float(np.std(positions, ddof=1)),
        "diameter_interval_nm": [float(low), float(high)],
    }


def _peak_table(
    grid_nm: np.ndarray,
    weights: np.ndarray,
    resampled: np.ndarray,
    tested: _TestedPeaks,
    fractions_of: tuple[np.ndarray, np.ndarray] | None = None,
    number_fractions_of: tuple[np.ndarray, np.ndarray] | None = None,
    response: LocalizationErrorResponse | None = None,
) -> list[dict]:
    """The tested peaks with their fractions (see :func:`significant_peaks`)."""
    kept, significance, smooth = tested.indices, tested.significance, tested.smooth
    if fractions_of is None:
        shares, shares_resampled = weights, resampled
        share_bounds = _basin_bounds(kept, smooth, grid_nm.size)
    else:
        shares, shares_resampled = fractions_of
        share_smooth = smoothed_density(grid_nm, shares, PEAK_SMOOTHING_LN)
        share_bounds = _basin_bounds(kept, share_smooth, grid_nm.size, FRACTION_SPLIT_KEEP_OFF)
    sums = {"fraction": (shares, shares_resampled)}
    if number_fractions_of is not None:
        sums["number_fraction"] = number_fractions_of
    peak_bounds = _basin_bounds(kept, smooth, grid_nm.size)
    peaks = []
    for number, (index, share, start, stop) in enumerate(
        zip(kept, significance, share_bounds[:-1], share_bounds[1:], strict=True)
    ):
        position = _refined_position(grid_nm, smooth, index)
        positions = _resampled_positions(
            grid_nm, tested, peak_bounds[number], peak_bounds[number + 1], position, response
        )
        peak = {"diameter_nm": position} | _position_uncertainty(positions)
        peak["basin"] = (peak_bounds[number], peak_bounds[number + 1])
        for name, (distribution, resamples) in sums.items():
            fractions = resamples[:, start:stop].sum(axis=1)
            peak[name] = float(distribution[start:stop].sum())
            peak[f"{name}_se"] = (
                float(np.std(fractions, ddof=1)) if len(fractions) > 1 else math.nan
            )
        peak["significance"] = float(share)
        peak["test_resamples"] = tested.n_tested
        peaks.append(peak)
    peaks.sort(key=lambda peak: peak["fraction"], reverse=True)
    return peaks


def _merge_insignificant(
    candidates: np.ndarray, smooth: np.ndarray, found: list[np.ndarray], min_significance: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Candidates merged until each basin holds a peak in ``min_significance`` of the resamples.

    The least confirmed candidate is merged with a neighbour that fails too if there is one, else
    with the neighbour across the higher saddle; the lower of the two goes. ``found`` holds the
    peak indices of every resample. Returns the kept candidate indices, the share of resamples
    with a peak in each one's basin, and how close (absolute difference) the closest share
    compared with ``min_significance`` on the way came to it (inf: no comparison, one candidate).
    """
    kept = np.asarray(candidates)
    closest = math.inf
    while True:
        bounds = _basin_bounds(kept, smooth, smooth.size)
        seen = np.zeros(len(kept))
        for indices in found:
            for number, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
                seen[number] += bool(np.any((indices >= start) & (indices < stop)))
        significance = seen / max(len(found), 1)
        if len(kept) == 1:
            return kept, significance, closest
        closest = min(closest, float(np.min(np.abs(significance - min_significance))))
        if np.all(significance >= min_significance):
            return kept, significance, closest
        weakest = int(np.argmin(significance))
        neighbours = [n for n in (weakest - 1, weakest + 1) if 0 <= n < len(kept)]
        # a failing neighbour first: two candidates that each show in only part of the
        # resamples are one feature moving between them, and merging either into a confirmed
        # peak would leave the other alone to fail too
        failing = [n for n in neighbours if significance[n] < min_significance]
        choices = failing or neighbours
        saddles = [
            smooth[min(kept[weakest], kept[n]) : max(kept[weakest], kept[n]) + 1].min()
            for n in choices
        ]
        partner = choices[int(np.argmax(saddles))]
        lower = weakest if smooth[kept[weakest]] < smooth[kept[partner]] else partner
        kept = np.delete(kept, lower)
