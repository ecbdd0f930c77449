"""Localizations whose centroid mask holds another feature's light.

The refinement's centroid is the centre of mass inside a circle of the feature diameter: when
another particle's spot reaches into that circle, the centroid is pulled toward it, and the
steps of both tracks mix their motions (too small, so sizes too large). With the automatic
diameter, features are told apart at the sharp spot's separation (counts stay complete) while
the mask is wider: such localizations are counted but not used for sizes
(:func:`napari_pynta.analysis.summarize_tracks`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree


def nearest_neighbour_distances(localizations: pd.DataFrame) -> np.ndarray:
    """Distance (pixels) from each localization to the nearest other one of its frame.

    Parameters
    ----------
    localizations : pandas.DataFrame
        Columns ``frame``, ``y``, ``x``.

    Returns
    -------
    numpy.ndarray of float
        One entry per row, in row order; infinite for a localization alone in its frame.
    """
    distances = np.full(len(localizations), np.inf)
    if len(localizations) < 2:
        return distances
    points = localizations[["y", "x"]].to_numpy(dtype=float)
    for rows in localizations.groupby("frame", sort=False).indices.values():
        if len(rows) > 1:
            distances[rows] = cKDTree(points[rows]).query(points[rows], k=2)[0][:, 1]
    return distances


def overlapping(localizations: pd.DataFrame, within_px: float | np.ndarray) -> np.ndarray:
    """True for the localizations with another one of the same frame closer than
    ``within_px`` pixels (``diameter + 1`` for a feature mask that holds the other's light:
    the distance under which trackpy merges features).

    Parameters
    ----------
    localizations : pandas.DataFrame
        Columns ``frame``, ``y``, ``x``.
    within_px : float or ndarray
        The distance, or one per row (0: never overlapping).

    Returns
    -------
    numpy.ndarray of bool
        One entry per row, in row order.
    """
    within = np.broadcast_to(np.asarray(within_px, dtype=float), (len(localizations),))
    if not np.any(within > 0):
        return np.zeros(len(localizations), dtype=bool)
    return nearest_neighbour_distances(localizations) < within
