"""The wide centroid: a second pass that moves each feature to the exposure-mean position.

The engines' centroid is taken on the band-passed frame inside the feature mask. On a smeared
image (a particle that moved during the exposure) it leans toward the streak's brightest,
middle part rather than the mean of the positions during the exposure, and its error follows
the particle's motion: on the independent simulator's 50 nm at 30 fps its slope on (position
at mid-exposure − exposure mean) is 0.18–0.20 and the sizes come out 1.7–2.8 % large
(docs/accuracy.md, "The localization part is an error that follows the motion"). The light
of a smeared image is the PSF convolved with the path, so its centre of mass on the raw frame,
less the background, *is* the exposure-mean position (up to noise), if the disk holds the
whole image.

:func:`refine_positions` takes that centre of mass in a disk of :func:`wide_radius_px`
(:data:`WIDE_RADIUS_WIDTHS` image widths: the spot's sigma and the exposure streak's spread in
quadrature) about each feature, iterated from the detected position until the disk's pixel
centre stops moving, less the median of a ring around the disk (:data:`RING_GAP_PX` ..
:data:`RING_GAP_PX` + :data:`RING_WIDTH_PX` px beyond it). On smeared 50 nm spots at 30 fps
(``tests/streaked_movies.py``) the error's slope on (mid-exposure − exposure-mean position)
falls from 0.24–0.35 to 0.08–0.12 and the rms error from 0.95 to 0.6 px; on sharp spots the
wider disk adds noise (0.10 → 0.15 px rms, 3000 photons: the radius follows the image width
so that it stays small there). Measured choices (docs/accuracy.md, "The wide centroid built"):

- **background**: the ring's median, not a plane fitted to the ring. A plane's gradient,
  fitted on the ~100 ring pixels, multiplies its noise by the disk's second moment and raised
  the rms error on the smeared movies (0.59 → 0.62 px); a real slope ``g`` (counts/px) under the
  disk shifts the position by ``g Σ dy² / mass`` along it (R = 6 px: ``1018 g / mass``), a
  constant offset at a place in the field, which cancels out of the steps.
- **neighbours**: a feature with another of its frame inside its disk (closer than
  :data:`NEIGHBOUR_RADII` radius) keeps its detected position. Two features of one smeared
  image (a split image, 8–12 px apart) are both moved onto it, which is most of the pass's gain
  by default (independent 50 nm at 30 fps, seed 0: +14.5 → +7.9 %; keeping every pair closer
  than 2 radii: +13.8 %); the cost is two particles 1–2 radii apart, pulled toward each other
  (sharp pairs 8 px apart, R = 6 px: 0.67 px rms error, from 10 px the isolated spot's).
- **edges**: the disk is clipped at the border (pixels outside the frame are left out); the
  spot's own light is still centred in it: 3 px from the edge, the error is that of the
  middle of the frame (0.17 against 0.15–0.18 px rms).
- **empty disks**: no positive mass over the background (a flat or empty disk), no ring pixel
  inside the frame, or a refined position outside the frame: the detected position is kept.
- **hot pixels** are repaired before this pass as before detection
  (:mod:`napari_pynta.detect.hot_pixels`): the pass reads the frame the engine read.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from napari_pynta.detect.blur import SHARP_DIAMETER_PX

#: the disk radius in image widths (``hypot(spot sigma, streak sd)``): measured over the
#: validated movies (docs/accuracy.md, "The two together over the validated movies")
WIDE_RADIUS_WIDTHS = 2.5
#: the smallest disk radius, px: the sharp spot's mask (a spot sigma that could not be measured
#: gives this)
MIN_WIDE_RADIUS_PX = SHARP_DIAMETER_PX // 2
#: the largest disk radius, px (a wider one holds more neighbours than it gains)
MAX_WIDE_RADIUS_PX = 15
#: the background ring starts this many px beyond the disk ...
RING_GAP_PX = 1
#: ... and is this many px wide
RING_WIDTH_PX = 2
#: a feature with another closer than this many disk radii keeps its detected position
NEIGHBOUR_RADII = 1.0
#: the most recentrings of the disk (it settles in 2–3 on a smeared spot)
MAX_ITERATIONS = 10


def wide_radius_px(spot_sigma_px: float, streak_sd_px: float) -> int:
    """The disk radius (px) for spots of this sigma smeared by a streak of this spread.

    ``round(WIDE_RADIUS_WIDTHS · hypot(spot_sigma_px, streak_sd_px))`` within
    :data:`MIN_WIDE_RADIUS_PX` .. :data:`MAX_WIDE_RADIUS_PX`; a value that was not measured
    (NaN) counts as 0.

    Parameters
    ----------
    spot_sigma_px : float
        The spots' PSF sigma (:func:`napari_pynta.detect.spot.spot_width`).
    streak_sd_px : float
        The exposure streak's per-axis spread (:func:`napari_pynta.detect.streak_sd_px`).

    Returns
    -------
    int
    """
    widths = [value if math.isfinite(value) else 0.0 for value in (spot_sigma_px, streak_sd_px)]
    radius = round(WIDE_RADIUS_WIDTHS * math.hypot(*widths))
    return int(min(max(radius, MIN_WIDE_RADIUS_PX), MAX_WIDE_RADIUS_PX))


def _offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) offsets of the disk of ``radius`` and of its background ring."""
    outer = radius + RING_GAP_PX + RING_WIDTH_PX
    offsets = np.mgrid[-outer : outer + 1, -outer : outer + 1].reshape(2, -1)
    squared = (offsets**2).sum(axis=0)
    disk = offsets[:, squared <= radius**2]
    ring = offsets[:, (squared > (radius + RING_GAP_PX) ** 2) & (squared <= outer**2)]
    return disk, ring


def refine_positions(
    frame: np.ndarray, y: np.ndarray, x: np.ndarray, radius: int, *, invert: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Features of one frame moved to their wide centroid (module docstring).

    Parameters
    ----------
    frame : numpy.ndarray, shape (Y, X)
        The frame the features were found in (hot pixels repaired), not band-passed.
    y, x : numpy.ndarray
        The detected positions (px).
    radius : int
        The disk radius (px, :func:`wide_radius_px`).
    invert : bool
        The particles are dark on a bright field (the detection's ``invert``): the centroid is
        taken on the ring's median less the frame.

    Returns
    -------
    y, x : numpy.ndarray of float
        The refined positions; the detected ones where the pass does not apply.
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    if len(y) == 0:
        return y.copy(), x.copy()
    applies = np.isfinite(y) & np.isfinite(x)
    if len(y) > 1:
        points = np.column_stack([y, x])
        points[~applies] = 0.0
        crowded = cKDTree(points).query_pairs(NEIGHBOUR_RADII * radius, output_type="ndarray")
        applies[crowded.reshape(-1)] = False
    from napari_pynta.detect.wide_kernel import refine_kernel  # numba: imported when used

    disk, ring = _offsets(int(radius))
    return refine_kernel(
        np.asarray(frame),
        y,
        x,
        applies,
        np.ascontiguousarray(disk.T),
        np.ascontiguousarray(ring.T),
        -1.0 if invert else 1.0,
        MAX_ITERATIONS,
    )


def wide_centroids(
    frames: Any, localizations: pd.DataFrame, radius: int, *, invert: bool = False
) -> pd.DataFrame:
    """``localizations`` (columns ``frame``, ``y``, ``x`` and any others, kept) with ``y`` and
    ``x`` moved to their wide centroids (:func:`refine_positions`) on ``frames[frame]``.

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        The movie (hot pixels repaired); ``frame`` indexes it.
    localizations : pandas.DataFrame
        The detected features.
    radius : int
        The disk radius (px, :func:`wide_radius_px`).
    invert : bool
        Dark particles on a bright field.
    """
    y = localizations["y"].to_numpy(dtype=np.float64).copy()
    x = localizations["x"].to_numpy(dtype=np.float64).copy()
    for number, rows in localizations.groupby("frame", sort=True).indices.items():
        y[rows], x[rows] = refine_positions(
            np.asarray(frames[int(number)]), y[rows], x[rows], radius, invert=invert
        )
    return localizations.assign(y=y, x=x)
