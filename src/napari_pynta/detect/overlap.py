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


def overlapping(localizations: pd.DataFrame, diameter_px: int) -> np.ndarray:
    """True for the localizations with another one of the same frame closer than
    ``diameter_px + 1`` pixels (the distance under which trackpy merges features).

    Parameters
    ----------
    localizations : pandas.DataFrame
        Columns ``frame``, ``y``, ``x``.
    diameter_px : int
        The feature diameter of the detection.

    Returns
    -------
    numpy.ndarray of bool
        One entry per row, in row order.
    """
    return nearest_neighbour_distances(localizations) < diameter_px + 1
