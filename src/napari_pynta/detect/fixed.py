"""Fixed bright spots: features found at the same place in a large share of the frames.

Hot pixels (on every real camera), particles stuck to the cell window and dust on the optics
give a feature at the same pixel frame after frame. Linked, they are tracks that never move;
sized with the diffusing particles they pull the ensemble toward infinite diameters. A diffusing
particle cannot stay within a pixel for a large share of a movie: the expected number of
features of a movie within one pixel of a given point is its density per pixel times 9 pixels
times the frames (about 0.002 per frame at 30 particles in 256² pixels). A point with a feature
in at least :data:`FIXED_MIN_FRAME_SHARE` of the frames of a movie of at least
:data:`FIXED_MIN_FRAMES` frames is therefore not Brownian (a particle would need to move less
than about 1 px² per 100 frames, i.e. sizes of micrometres at hundreds of frames per second): its
features are left out of the analysis and counted in a warning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

#: a spot with a feature within one pixel in at least this share of the frames is fixed
FIXED_MIN_FRAME_SHARE = 0.5
#: movies with fewer frames are not searched: in a short movie a slow particle (a few pixels of
#: motion over the movie) can stay near one point for half of it
FIXED_MIN_FRAMES = 100


def fixed_spots(localizations: pd.DataFrame, n_frames: int) -> np.ndarray:
    """True for the localizations at a fixed spot.

    A localization is at a fixed spot when the 3 × 3 pixels around its rounded position hold
    features in at least ``FIXED_MIN_FRAME_SHARE * n_frames`` frames (features of one frame are
    at least a feature diameter apart, so each frame adds at most one).

    Parameters
    ----------
    localizations : pandas.DataFrame
        Columns ``frame``, ``y``, ``x`` (pixels).
    n_frames : int
        Frames of the movie.

    Returns
    -------
    numpy.ndarray of bool
        One entry per row, in row order.
    """
    fixed = np.zeros(len(localizations), dtype=bool)
    if n_frames < FIXED_MIN_FRAMES or localizations.empty:
        return fixed
    rows = np.rint(localizations["y"].to_numpy(dtype=float)).astype(np.int64)
    cols = np.rint(localizations["x"].to_numpy(dtype=float)).astype(np.int64)
    # one key per pixel; the offset keeps the neighbours of edge pixels distinct
    width = int(cols.max()) + 3
    keys = (rows + 1) * width + (cols + 1)
    pixel, counts = np.unique(keys, return_counts=True)
    around = np.zeros(len(keys), dtype=np.int64)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            neighbour = keys + dy * width + dx
            where = np.searchsorted(pixel, neighbour).clip(max=len(pixel) - 1)
            around += np.where(pixel[where] == neighbour, counts[where], 0)
    fixed[:] = around >= FIXED_MIN_FRAME_SHARE * n_frames
    return fixed


def fixed_spot_count(localizations: pd.DataFrame) -> int:
    """Number of distinct fixed spots among ``localizations`` (those :func:`fixed_spots`
    marked): rounded positions within 2 px of each other belong to one spot."""
    if localizations.empty:
        return 0
    pixels = np.unique(np.rint(localizations[["y", "x"]].to_numpy(dtype=float)), axis=0)
    pairs = cKDTree(pixels).query_pairs(2.0, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(pixels),) * 2)
    return int(connected_components(graph, directed=False)[0])
