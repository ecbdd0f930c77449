"""A track-weighted size distribution on the diameter grid and its statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from napari_pynta.deconvolve.grid import _cell_edges, _check_grid, cumulative_fraction, quantile
from napari_pynta.deconvolve.peaks import find_peaks


@dataclass(frozen=True)
class SizeDistribution:
    """A track-weighted size distribution on a log-spaced diameter grid.

    Attributes
    ----------
    diameter_nm : ndarray
        Grid diameters, nm.
    weights : ndarray
        Fraction of tracks at each grid diameter (sums to 1).
    n_tracks : int
        Number of tracks the distribution was estimated from.
    log_likelihood : float
        Log-likelihood of the tracks under this distribution.
    n_iterations : int
        EM iterations run (0 for a parametric fit).
    converged : bool
        Whether the stopping rule was met before the iteration cap.
    method : str
        ``"walker EM"`` or ``"log-normal fit"``.
    parameters : dict
        Fitted parameters of a parametric fit, or the EMS smoothing width of EM.
    """

    diameter_nm: np.ndarray
    weights: np.ndarray
    n_tracks: int
    log_likelihood: float
    n_iterations: int = 0
    converged: bool = True
    method: str = "walker EM"
    parameters: dict = field(default_factory=dict)

    def statistics(self) -> dict:
        """Statistics users expect, as plain floats (see :func:`distribution_statistics`)."""
        return distribution_statistics(self.diameter_nm, self.weights)

    def density_per_nm(self) -> np.ndarray:
        """Fraction of tracks per nm at each grid diameter (for plotting on a linear size axis)."""
        return self.weights / np.diff(_cell_edges(self.diameter_nm))

    def fraction_between(self, low_nm: float, high_nm: float) -> float:
        """Fraction of tracks with diameters in [low_nm, high_nm] (cell-wise interpolation).

        Parameters
        ----------
        low_nm, high_nm : float
            The range, nm.

        Returns
        -------
        float
            The fraction (:func:`cumulative_fraction` at ``high_nm`` minus at ``low_nm``).
        """
        cdf = cumulative_fraction(self.diameter_nm, self.weights, np.array([low_nm, high_nm]))
        return float(cdf[1] - cdf[0])


def distribution_statistics(grid_nm: np.ndarray, weights: np.ndarray) -> dict:
    """Mean, mode, SD, D10/D50/D90, span and peaks of a gridded distribution.

    Parameters
    ----------
    grid_nm, weights : ndarray
        The distribution (weights sum to 1).

    Returns
    -------
    dict
        ``mean, mode, sd, d10, d50, d90, span`` (nm; span = (d90-d10)/d50, dimensionless).
        The mode is the position of the largest peak on a logarithmic size axis (as in
        ``sizing.size_statistics``); for a log-normal it is the median.
        ``peaks`` (list of peak diameters, nm, largest population first) and
        ``peak_fractions`` (fraction of tracks in each peak).
    """
    grid = _check_grid(grid_nm)
    w = np.asarray(weights, dtype=float)
    mean = float(np.sum(w * grid))
    sd = float(np.sqrt(max(np.sum(w * (grid - mean) ** 2), 0.0)))
    d10, d50, d90 = (quantile(grid, w, q) for q in (0.1, 0.5, 0.9))
    peaks = find_peaks(grid, w)
    return {
        "mean": mean,
        "mode": peaks[0]["diameter_nm"],
        "sd": sd,
        "d10": d10,
        "d50": d50,
        "d90": d90,
        "span": (d90 - d10) / d50,
        "peaks": [peak["diameter_nm"] for peak in peaks],
        "peak_fractions": [peak["fraction"] for peak in peaks],
    }
