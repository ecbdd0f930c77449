"""The candidate peaks of a gridded distribution: smoothed maxima, their basins and refined
positions."""

from __future__ import annotations

import numpy as np

from napari_pynta.deconvolve.grid import smoothed_density

#: peaks must rise above their surroundings by this fraction of the highest peak
PEAK_MIN_PROMINENCE = 0.1
#: width (standard deviation in ln d) of the smoothing applied before looking for peaks
PEAK_SMOOTHING_LN = 0.04


def _peak_indices(
    grid_nm: np.ndarray,
    weights: np.ndarray,
    min_prominence: float = PEAK_MIN_PROMINENCE,
    smoothing_ln: float = PEAK_SMOOTHING_LN,
) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices of the peaks of the smoothed weights (at least the maximum), and the curve."""
    from scipy.signal import find_peaks as scipy_find_peaks

    smooth = smoothed_density(grid_nm, weights, smoothing_ln)
    padded = np.concatenate([[0.0], smooth, [0.0]])
    indices, _ = scipy_find_peaks(padded, prominence=min_prominence * smooth.max())
    indices = indices - 1
    if indices.size == 0:
        indices = np.array([int(np.argmax(smooth))])
    return indices, smooth


def _basin_bounds(
    indices: np.ndarray, smooth: np.ndarray, size: int, keep_off: float = 0.0
) -> list[int]:
    """Basin edges: split at the minimum of the smoothed curve between consecutive peaks.

    ``keep_off`` (a share of the grid points between the two peaks, < 0.5) keeps the split that
    far from either peak: a curve without a dip between them has its minimum at one of them.
    """
    splits = []
    for left, right in zip(indices, indices[1:], strict=False):
        margin = max(1, round(keep_off * (right - left))) if keep_off and right - left >= 2 else 0
        low, high = left + margin, right - margin
        splits.append(low + int(np.argmin(smooth[low : high + 1])))
    return [0, *splits, size]


def _refined_position(grid_nm: np.ndarray, smooth: np.ndarray, index: int) -> float:
    """Peak diameter (nm): parabolic refinement of the smoothed maximum in ln d."""
    log_grid = np.log(grid_nm)
    position = log_grid[index]
    if 0 < index < grid_nm.size - 1:
        y0, y1, y2 = smooth[index - 1 : index + 2]
        curvature = y0 - 2 * y1 + y2
        if curvature < 0:
            step = log_grid[index + 1] - log_grid[index]
            position += 0.5 * step * (y0 - y2) / curvature
    return float(np.exp(position))


def find_peaks(
    grid_nm: np.ndarray,
    weights: np.ndarray,
    min_prominence: float = PEAK_MIN_PROMINENCE,
    smoothing_ln: float = PEAK_SMOOTHING_LN,
) -> list[dict]:
    """Peaks of a distribution, largest first (candidates: see :func:`significant_peaks`).

    The weights are smoothed (EM solutions can be spiky), local maxima that rise by at least
    ``min_prominence`` times the highest peak above the valleys around them are kept, and each
    peak gets the tracks of its basin (split at the lowest point between neighbouring peaks).

    Parameters
    ----------
    grid_nm, weights : ndarray
        The distribution.
    min_prominence : float
        Relative prominence a maximum needs to count as a peak.
    smoothing_ln : float
        Smoothing width in ln d.

    Returns
    -------
    list of dict
        ``{"diameter_nm": position of the smoothed maximum, "fraction": basin weight}``.
    """
    indices, smooth = _peak_indices(grid_nm, weights, min_prominence, smoothing_ln)
    bounds = _basin_bounds(indices, smooth, grid_nm.size)
    peaks = [
        {
            "diameter_nm": _refined_position(grid_nm, smooth, index),
            "fraction": float(weights[start:stop].sum()),
        }
        for index, start, stop in zip(indices, bounds[:-1], bounds[1:], strict=True)
    ]
    peaks.sort(key=lambda peak: peak["fraction"], reverse=True)
    return peaks
