"""The two maxima of one smeared image, told from two particles by the dip between them.

A particle that moves during the exposure draws a streak, and the noise along a streak can leave
two local maxima a few pixels apart: the engines report two features, and the linker then
follows one of them and starts a track at the other, losing the particle's large steps (at
50 nm / 30 fps a few % of the features; "Split images" in docs/accuracy.md). Widening the
engines' separation to hold the streak removes them, but it removes every second particle that
close as well. Between the two images of two particles the light falls to the background;
between the two maxima of one streak it does not, since the particle passed there.

:func:`merge_split_images` joins features closer than ``within_px`` whose profile along the
line between them (the frame smoothed by a :data:`SMOOTHING_SIGMA_PX` Gaussian, less the
local background) never falls below :data:`SADDLE_FRACTION` of the dimmer maximum. The joined
feature sits at the mass-weighted mean of the maxima, carries their summed mass and raw mass,
and the other columns of the brightest.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates
from scipy.spatial import cKDTree

from napari_pynta.errors import require_positive

#: the saddle between two maxima of one streak stays above this fraction of the dimmer maximum
#: (two particles 8–12 px apart: near 0; measured on both simulators, docs/accuracy.md)
SADDLE_FRACTION = 0.3
#: the frame is smoothed by a Gaussian this wide (px) before the profile is read
SMOOTHING_SIGMA_PX = 1.0
#: points read along the line between two maxima
PROFILE_SAMPLES = 25
#: pixels around the two maxima kept for the smoothing; the patch's rim (this far out, past a
#: smeared image) gives the background
PATCH_MARGIN_PX = 8
#: columns summed when features are joined (the others are the brightest feature's)
SUMMED_COLUMNS = ("mass", "raw_mass")


def one_image(frame: np.ndarray, first: np.ndarray, second: np.ndarray) -> bool:
    """Whether the maxima at ``first`` and ``second`` ((y, x) px) are one image of ``frame``.

    The profile between them on the smoothed patch around both, less the median of the patch's
    rim, stays above :data:`SADDLE_FRACTION` of its lower end.
    """
    height, width = frame.shape
    low = np.floor(np.minimum(first, second)).astype(int) - PATCH_MARGIN_PX
    high = np.ceil(np.maximum(first, second)).astype(int) + PATCH_MARGIN_PX + 1
    low = np.maximum(low, 0)
    high = np.minimum(high, (height, width))
    patch = gaussian_filter(
        frame[low[0] : high[0], low[1] : high[1]].astype(np.float64),
        SMOOTHING_SIGMA_PX,
        mode="nearest",
    )
    rim = np.concatenate((patch[0], patch[-1], patch[1:-1, 0], patch[1:-1, -1]))
    along = np.linspace(0.0, 1.0, PROFILE_SAMPLES)[:, None]
    points = first - low + along * (second - first)
    profile = map_coordinates(patch, points.T, order=1, mode="nearest") - np.median(rim)
    ends = min(profile[0], profile[-1])
    return bool(ends > 0 and profile.min() > SADDLE_FRACTION * ends)


def merge_split_images(
    frame: np.ndarray, columns: dict[str, np.ndarray], within_px: float
) -> dict[str, np.ndarray]:
    """Join the features of one frame that are the maxima of one smeared image.

    Parameters
    ----------
    frame : numpy.ndarray, shape (Y, X)
        The frame as the engines saw it (bright features).
    columns : dict of str to numpy.ndarray
        The features' columns (at least ``y``, ``x``, ``mass``; positions in pixels).
    within_px : float
        Only features closer than this are compared (the separation that holds the exposure
        streak, :func:`napari_pynta.detect.blur_separation_px`).

    Returns
    -------
    dict of str to numpy.ndarray
        The columns with each group of joined features in one row, at the position and in the
        order of its brightest feature (the position moved to the group's mass-weighted mean).
    """
    require_positive("within_px", within_px)
    positions = np.column_stack((columns["y"], columns["x"])).astype(np.float64)
    if len(positions) < 2:
        return columns
    tree = cKDTree(positions)
    pairs = tree.query_pairs(within_px, output_type="ndarray")
    if not len(pairs):
        return columns
    group = np.arange(len(positions))

    def root(index: int) -> int:
        while group[index] != index:
            index = group[index]
        return index

    for first, second in pairs:
        if one_image(frame, positions[first], positions[second]):
            group[root(second)] = root(first)
    roots = np.array([root(index) for index in range(len(positions))])
    if np.all(roots == np.arange(len(positions))):
        return columns
    return _joined(columns, positions, roots)


def _joined(
    columns: dict[str, np.ndarray], positions: np.ndarray, roots: np.ndarray
) -> dict[str, np.ndarray]:
    """One row per group of ``roots``: summed mass, mass-weighted position, else the brightest."""
    mass = np.asarray(columns["mass"], dtype=np.float64)
    weight = np.maximum(mass, 0.0)
    order = np.lexsort((-mass, roots))  # by group, brightest first
    ordered_roots = roots[order]
    starts = np.flatnonzero(np.r_[True, ordered_roots[1:] != ordered_roots[:-1]])
    keep = np.sort(order[starts])  # each group's brightest, in the features' order
    _, group_of = np.unique(roots, return_inverse=True)
    group_of_kept = group_of[keep]
    total_weight = np.bincount(group_of, weight)[group_of_kept]
    safe = np.where(total_weight > 0, total_weight, 1.0)
    joined = {name: np.asarray(values)[keep] for name, values in columns.items()}
    for axis, name in enumerate(("y", "x")):
        weighted = np.bincount(group_of, weight * positions[:, axis])[group_of_kept] / safe
        joined[name] = np.where(total_weight > 0, weighted, positions[keep, axis]).astype(
            np.asarray(columns[name]).dtype
        )
    for name in SUMMED_COLUMNS:
        if name in columns:
            values = np.asarray(columns[name])
            joined[name] = np.bincount(group_of, values.astype(np.float64))[group_of_kept].astype(
                values.dtype
            )
    return joined
