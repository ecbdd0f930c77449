"""The log-spaced diameter grid and the gridded distribution's cumulative fraction, quantiles and
smoothing."""

from __future__ import annotations

import numpy as np

from napari_pynta.errors import PyntaInputError, require_positive

#: default diameter grid: 5 nm to 5 µm, 100 points per decade (2.3 % spacing)
DEFAULT_GRID_RANGE_NM = (5.0, 5000.0)
DEFAULT_POINTS_PER_DECADE = 100


def diameter_grid(
    min_nm: float = DEFAULT_GRID_RANGE_NM[0],
    max_nm: float = DEFAULT_GRID_RANGE_NM[1],
    points_per_decade: int = DEFAULT_POINTS_PER_DECADE,
) -> np.ndarray:
    """Log-spaced diameters (nm) on which distributions are represented.

    Parameters
    ----------
    min_nm, max_nm : float
        Range of the grid, nm (0 < min_nm < max_nm).
    points_per_decade : int
        Grid density; 100 gives a 2.3 % spacing.

    Returns
    -------
    ndarray
        Increasing diameters, nm.
    """
    require_positive("min_nm", min_nm)
    require_positive("max_nm", max_nm)
    if max_nm <= min_nm:
        raise PyntaInputError(f"max_nm must be > min_nm ({min_nm}), got {max_nm}")
    if int(points_per_decade) < 2:
        raise PyntaInputError(f"points_per_decade must be >= 2, got {points_per_decade}")
    n_points = int(np.ceil(np.log10(max_nm / min_nm) * int(points_per_decade))) + 1
    return np.geomspace(min_nm, max_nm, n_points)


def _check_grid(grid_nm: np.ndarray) -> np.ndarray:
    grid = np.asarray(grid_nm, dtype=float)
    if grid.ndim != 1 or grid.size < 3 or np.any(grid <= 0) or np.any(np.diff(grid) <= 0):
        raise PyntaInputError("grid_nm must be >= 3 increasing positive diameters (nm)")
    return grid


def _cell_edges(grid_nm: np.ndarray) -> np.ndarray:
    """Edges (nm) of the cells around grid points: geometric midpoints, extended at the ends."""
    log_grid = np.log(grid_nm)
    mid = 0.5 * (log_grid[1:] + log_grid[:-1])
    edges = np.concatenate(
        [[log_grid[0] - (mid[0] - log_grid[0])], mid, [log_grid[-1] + (log_grid[-1] - mid[-1])]]
    )
    return np.exp(edges)


def cumulative_fraction(grid_nm: np.ndarray, weights: np.ndarray, diameters_nm) -> np.ndarray:
    """Fraction of the distribution below each diameter.

    Each grid weight is spread uniformly in ln d over its cell, so the result is continuous.

    Parameters
    ----------
    grid_nm, weights : ndarray
        The distribution (weights sum to 1).
    diameters_nm : array_like
        Where to evaluate, nm.

    Returns
    -------
    ndarray
        Cumulative fractions in [0, 1].
    """
    edges = _cell_edges(grid_nm)
    cdf_at_edges = np.concatenate([[0.0], np.cumsum(weights)])
    return np.interp(np.log(np.asarray(diameters_nm, dtype=float)), np.log(edges), cdf_at_edges)


def quantile(grid_nm: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Diameter (nm) below which a fraction ``q`` of the distribution lies.

    Each grid weight is spread uniformly in ln d over its cell (as in
    :func:`cumulative_fraction`); empty cells are skipped.

    Parameters
    ----------
    grid_nm, weights : ndarray
        The distribution (weights sum to 1).
    q : float
        Fraction, in [0, 1] (0.5 gives the median, D50).

    Returns
    -------
    float
        The diameter, nm.
    """
    edges = _cell_edges(grid_nm)
    cdf_at_edges = np.concatenate([[0.0], np.cumsum(weights)])
    # strictly increasing support for interpolation: skip empty cells
    keep = np.concatenate([[True], np.diff(cdf_at_edges) > 0])
    return float(np.exp(np.interp(q, cdf_at_edges[keep], np.log(edges[keep]))))


def _smoothing_kernel(grid_nm: np.ndarray, width_ln: float) -> np.ndarray:
    """Gaussian kernel in ln d whose columns sum to 1, so ``kernel @ weights`` conserves weight."""
    log_grid = np.log(grid_nm)
    kernel = np.exp(-0.5 * ((log_grid[:, None] - log_grid[None, :]) / width_ln) ** 2)
    return kernel / kernel.sum(axis=0, keepdims=True)


def smoothed_density(grid_nm: np.ndarray, weights: np.ndarray, width_ln: float) -> np.ndarray:
    """Weights smoothed with a Gaussian kernel of standard deviation ``width_ln`` in ln d.

    Each grid point's weight is spread over its neighbours, so the total weight is conserved.

    Parameters
    ----------
    grid_nm, weights : ndarray
        The distribution.
    width_ln : float
        Standard deviation of the kernel in ln d (> 0).

    Returns
    -------
    ndarray
        The smoothed weights on ``grid_nm``.
    """
    return _smoothing_kernel(grid_nm, width_ln) @ weights
