"""Tracks grouped by brightness, and the localization error pooled per brightness class."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_pynta.errors import PyntaInputError
from napari_pynta.sizing import blur_factor, localization_variance, track_sums

#: brightness classes of :func:`localization_error_by_brightness` and their smallest size
BRIGHTNESS_CLASSES = 6
MIN_TRACKS_PER_CLASS = 10
EQUAL_COUNT_CLASS_TRACKS = 30


def localization_error_by_brightness(
    tracks: pd.DataFrame,
    pixel_size_um: float,
    frame_interval_s: float,
    exposure_s: float,
    n_classes: int = BRIGHTNESS_CLASSES,
    *,
    field_px: tuple[float, float] | None = None,
) -> pd.Series:
    """Localization error of every track, pooled over tracks of similar brightness.

    Bright particles are localized more precisely than dim ones, and in NTA brightness grows
    steeply with size, so one ensemble value over-corrects big particles and under-corrects small
    ones (a 100 + 200 nm mixture shows the 200 nm peak too large). Tracks are grouped by mean
    ``mass`` into up to ``n_classes`` classes (:func:`brightness_classes`) and each class gets the
    pooled covariance-estimator variance of its steps (clipped at 0).

    Parameters
    ----------
    tracks : DataFrame
        Linked localizations (``particle, frame, y, x`` in pixels and ``mass``; without ``mass``
        every track gets the ensemble value).
    pixel_size_um, frame_interval_s, exposure_s : float
        Pixel size (µm), frame interval (s) and exposure (s).
    n_classes : int
        Largest number of brightness classes.
    field_px : (float, float), optional
        Detectable area (height, width; pixels) for the edge weights of
        :func:`napari_pynta.sizing.track_sums`, as used for the sizes.

    Returns
    -------
    Series
        Localization error (µm, per axis) indexed by particle id.
    """
    if int(n_classes) < 1:
        raise PyntaInputError(f"n_classes must be >= 1, got {n_classes}")
    sums = track_sums(tracks, pixel_size_um, field_px=field_px)
    blur = blur_factor(exposure_s, frame_interval_s)
    if "mass" in tracks.columns:
        classes = brightness_classes(_log_mean_mass(tracks, sums.index), int(n_classes))
    else:
        classes = [np.arange(len(sums))]
    sigma = np.empty(len(sums))
    for members in classes:
        pooled = sums.iloc[members].sum().to_frame().T
        variance = float(localization_variance(pooled, blur)[0])
        sigma[members] = np.sqrt(variance) if variance > 0 else 0.0
    return pd.Series(sigma, index=sums.index, name="sigma_um")


def brightness_groups(log_mass: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Tracks grouped by brightness: equally wide steps of ln(mass), >= MIN_TRACKS_PER_CLASS each.

    The groups span the 1st to 99th percentiles of ``log_mass`` in equal steps, so a bright
    population (e.g. the large particles of a mixture, 10x brighter) gets groups of its own
    instead of sharing one with dim particles; groups with too few tracks are merged into their
    smaller neighbour.

    Returns
    -------
    list of ndarray
        Track indices of every group, dimmest first (one group of all tracks when there are
        fewer than ``2 * MIN_TRACKS_PER_CLASS`` tracks or ``n_groups <= 1``).
    """
    if len(log_mass) < 2 * MIN_TRACKS_PER_CLASS or n_groups <= 1:
        return [np.arange(len(log_mass))]
    low, high = np.nanpercentile(log_mass, [1, 99])  # NaN (no mass): the brightest group
    edges = np.linspace(low, high, n_groups + 1)[1:-1]
    labels = np.searchsorted(edges, log_mass)
    members = [np.flatnonzero(labels == label) for label in range(n_groups)]
    members = [group for group in members if len(group)]
    while len(members) > 1 and min(len(group) for group in members) < MIN_TRACKS_PER_CLASS:
        smallest = int(np.argmin([len(group) for group in members]))
        neighbours = [i for i in (smallest - 1, smallest + 1) if 0 <= i < len(members)]
        target = min(neighbours, key=lambda i: len(members[i]))
        members[target] = np.sort(np.concatenate([members[target], members[smallest]]))
        del members[smallest]
    return members


def brightness_classes(log_mass: np.ndarray, n_classes: int) -> list[np.ndarray]:
    """Tracks grouped into classes of similar brightness, each of >= MIN_TRACKS_PER_CLASS tracks.

    The :func:`brightness_groups` come first; each group is then split into equal-count classes
    of at least :data:`EQUAL_COUNT_CLASS_TRACKS` tracks (up to ``n_classes``), which follow the
    localization error's change with brightness among similar particles.

    Returns
    -------
    list of ndarray
        Track indices of every class, dimmest first.
    """
    classes: list[np.ndarray] = []
    for group in brightness_groups(log_mass, n_classes):
        ordered = group[np.argsort(log_mass[group], kind="stable")]
        n_split = max(1, min(n_classes, len(group) // EQUAL_COUNT_CLASS_TRACKS))
        classes.extend(np.sort(part) for part in np.array_split(ordered, n_split))
    return classes


def _log_mean_mass(localizations: pd.DataFrame, ids: pd.Index | np.ndarray) -> np.ndarray:
    """ln of the mean ``mass`` of each track of ``localizations``, for the particle ``ids`` in
    that order (NaN for an id without localizations)."""
    mass = localizations.groupby("particle")["mass"].mean().reindex(ids).to_numpy()
    return np.log(np.maximum(mass, 1e-300))
