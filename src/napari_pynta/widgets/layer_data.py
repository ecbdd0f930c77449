"""Turn pynta tables and movies into napari layer data (plain numpy/pandas, no Qt, no viewer).

Shared by the reader in ``_napari_io.py`` and by :mod:`napari_pynta.widgets.viewer_link`, so that a
store re-opened from disk looks exactly like the layers drawn live.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: key under which pynta keeps its own information in ``layer.metadata``
METADATA_KEY = "pynta"

#: layer names used everywhere (live and re-opened)
LIVE_IMAGE_NAME = "PyNTA live"
POINTS_NAME = "PyNTA localizations"
TRACKS_NAME = "PyNTA tracks"

POINTS_STYLE: dict[str, Any] = {
    "face_color": "transparent",
    "border_color": "#00e5ff",
    "border_width": 0.15,
    "border_width_is_relative": True,
    "symbol": "ring",
    "size": 9,
    "opacity": 0.9,
}
TRACKS_STYLE: dict[str, Any] = {"tail_length": 40, "tail_width": 2, "colormap": "hsv"}


def known_pixel_size_um(metadata: dict[str, Any]) -> float | None:
    """The movie's pixel size in micrometres, or None when missing or not a positive number."""
    try:
        pixel_size = float(metadata["pixel_size_um"])
    except (KeyError, TypeError, ValueError):
        return None
    return pixel_size if np.isfinite(pixel_size) and pixel_size > 0 else None


def pixel_scale(metadata: dict[str, Any]) -> tuple[float, float]:
    """(y, x) scale in micrometres per pixel; 1.0 when the movie does not say."""
    pixel_size = known_pixel_size_um(metadata)
    return (1.0, 1.0) if pixel_size is None else (pixel_size, pixel_size)


def movie_layer_kwargs(metadata: dict[str, Any], source: str, name: str) -> dict[str, Any]:
    """Keyword arguments of a (T, Y, X) image layer with the physical pixel scale.

    The time axis stays in frames, so that the dims slider, the points and the tracks all count
    frames; the frame interval is kept in the layer metadata for the analysis. The spatial scale
    is in micrometres (1 when the pixel size is unknown).
    """
    return {
        "name": name,
        "scale": (1.0, *pixel_scale(metadata)),
        "axis_labels": ("frame", "y", "x"),
        "metadata": {METADATA_KEY: {"source": source, "movie_metadata": dict(metadata)}},
    }


def fixed_contrast_limits(frame: np.ndarray) -> tuple[float, float]:
    """Robust contrast limits (0.5 and 99.95 percentiles) computed once and then kept fixed."""
    low, high = np.percentile(np.asarray(frame), [0.5, 99.95])
    if high <= low:
        high = low + 1.0
    return (float(low), float(high))


def points_data(localizations: pd.DataFrame, with_frame: bool = True) -> np.ndarray:
    """(N, 3) ``frame, y, x`` (or (N, 2) ``y, x``) coordinates in pixels of a localization table."""
    columns = ["frame", "y", "x"] if with_frame else ["y", "x"]
    if localizations is None or len(localizations) == 0:
        return np.empty((0, len(columns)))
    return localizations[columns].to_numpy(dtype=float)


def tracks_data(tracks: pd.DataFrame) -> np.ndarray:
    """(N, 4) ``particle, frame, y, x`` array sorted the way the napari tracks layer wants it."""
    if tracks is None or len(tracks) == 0:
        return np.empty((0, 4))
    ordered = tracks.sort_values(["particle", "frame"], kind="stable")
    return ordered[["particle", "frame", "y", "x"]].to_numpy(dtype=float)


def _check_track_rows(array: np.ndarray) -> None:
    """Refuse a row whose track id or frame is not a whole number or whose position is not
    finite: as integers a NaN id became -9223372036854775808 and a frame 1.5 became 1."""
    whole = np.isfinite(array[:, :2]) & (array[:, :2] == np.round(array[:, :2]))
    checks = (
        ("track id", "a whole number", whole[:, 0]),
        ("frame", "a whole number", whole[:, 1]),
        ("position", "finite", np.isfinite(array[:, 2:]).all(axis=1)),
    )
    for what, allowed, ok in checks:
        rows = np.flatnonzero(~ok)
        if len(rows):
            values = ", ".join(f"{value:g}" for value in array[rows[0]])
            raise ValueError(
                f"row {rows[0]} ({values}): its {what} is not {allowed} "
                f"({len(rows)} of {len(array)} rows so)"
            )


def tracks_table(data: np.ndarray, scale: tuple[float, ...] | None = None) -> pd.DataFrame:
    """Inverse of :func:`tracks_data`: a tracks-layer array back to a ``particle, frame, y, x``
    table.

    Parameters
    ----------
    data : ndarray
        (N, 4) ``ID, T, Y, X`` or (N, 5) ``ID, T, Z, Y, X`` array of a napari tracks layer.
    scale : tuple of float, optional
        Layer scale (one per dimension, without the ID column); adds ``y_um`` and ``x_um``.
    """
    array = np.asarray(data, dtype=float)
    if array.ndim != 2 or array.shape[1] not in (4, 5):
        raise ValueError(f"tracks data must be (N, 4) or (N, 5), got shape {array.shape}")
    _check_track_rows(array)
    table = pd.DataFrame(
        {
            "particle": array[:, 0].astype(np.int64),
            "frame": array[:, 1].astype(np.int64),
            "y": array[:, -2],
            "x": array[:, -1],
        }
    )
    if scale is not None and len(scale) >= 2:
        table["y_um"] = table["y"] * float(scale[-2])
        table["x_um"] = table["x"] * float(scale[-1])
    return table
