"""Particle localization: find bright spots in frames and measure their sub-pixel positions.

Engines are registered by name in a registry (:func:`register_engine`); each module is imported
the first time its engine is used, so ``import napari_pynta.detect`` loads neither trackpy nor
numba. Every engine returns the table of :mod:`napari_pynta.detect.columns`.

- ``"trackpy"``: :func:`trackpy.locate` (:mod:`napari_pynta.detect.trackpy_engine`);
- ``"fast"``: the same algorithm as numba kernels (:mod:`napari_pynta.detect.fast`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from napari_pynta.detect.blur import (
    SHARP_DIAMETER_PX,
    DiameterChoice,
    blur_diameter_px,
    blur_separation_px,
    edge_margin_px,
    streak_sd_px,
)
from napari_pynta.detect.columns import (
    LOCALIZATION_COLUMNS,
    as_detected,
    as_frame,
    empty_localizations,
    standardize,
    validate_detection_params,
)
from napari_pynta.detect.overlap import nearest_neighbour_distances, overlapping
from napari_pynta.detect.split_images import merge_split_images
from napari_pynta.detect.threshold import ThresholdEstimate, estimate_minmass, estimate_threshold
from napari_pynta.errors import PyntaInputError, require_int

__all__ = [
    "AFTER_ENGINE_OPTIONS",
    "after_engine",
    "DiameterChoice",
    "ENGINES",
    "FRAMES_PER_READ",
    "LOCALIZATION_COLUMNS",
    "SHARP_DIAMETER_PX",
    "Engine",
    "blur_diameter_px",
    "blur_separation_px",
    "check_engine",
    "edge_margin_px",
    "empty_localizations",
    "engine_options",
    "get_engine",
    "estimate_minmass",
    "estimate_threshold",
    "ThresholdEstimate",
    "locate",
    "locate_frames",
    "nearest_neighbour_distances",
    "overlapping",
    "register_engine",
    "streak_sd_px",
    "validate_detection_params",
]

#: number of frames read at once by :func:`locate_frames` (one dask/zarr read per block)
FRAMES_PER_READ = 16


class Engine(Protocol):
    """A localization engine: one 2-D frame in, a table of features (without ``frame``) out."""

    def __call__(
        self,
        frame: np.ndarray,
        *,
        diameter: int,
        minmass: float | None,
        separation: float | None,
        invert: bool,
        percentile: float,
        **engine_params: Any,
    ) -> pd.DataFrame: ...


class _EngineRegistry(Mapping[str, Engine]):
    """Engine name -> localization function, imported from ``"module:function"`` on first use."""

    def __init__(self) -> None:
        self._targets: dict[str, str] = {}
        self._loaded: dict[str, Engine] = {}

    def register(self, name: str, target: str) -> None:
        self._targets[name] = target
        self._loaded.pop(name, None)

    def __getitem__(self, name: str) -> Engine:
        if name not in self._loaded:
            module_name, function_name = self._targets[name].split(":")
            self._loaded[name] = getattr(importlib.import_module(module_name), function_name)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


#: engine name -> localization function (a read-only mapping; add engines with
#: :func:`register_engine`)
ENGINES = _EngineRegistry()


def register_engine(name: str, target: str) -> None:
    """Register a localization engine.

    Parameters
    ----------
    name : str
        The engine's name (``engine=`` of :func:`locate`, the GUI's engine choice).
    target : str
        ``"package.module:function"``; the module is imported when the engine is first used and
        the function must follow :class:`Engine`.
    """
    ENGINES.register(name, target)


register_engine("trackpy", "napari_pynta.detect.trackpy_engine:locate_trackpy")
register_engine("fast", "napari_pynta.detect.fast:locate_fast")


def check_engine(name: str) -> str:
    """Return ``name`` if an engine is registered under it (nothing is imported).

    Raises
    ------
    PyntaInputError
        When no engine has that name (the message lists the registered ones).
    """
    if name not in ENGINES:
        raise PyntaInputError(
            f"engine must be one of {', '.join(sorted(ENGINES))}, got {name!r}", "engine"
        )
    return name


def get_engine(name: str) -> Engine:
    """Return the localization function registered as ``name`` (see :func:`check_engine`)."""
    return ENGINES[check_engine(name)]


def locate(
    frame: Any,
    engine: str = "trackpy",
    *,
    diameter: int = SHARP_DIAMETER_PX,
    minmass: float | None = None,
    separation: float | None = None,
    invert: bool = False,
    percentile: float = 64,
    frame_number: int = 0,
    split_within: float | None = None,
    wide_radius_px: int | None = None,
    **engine_params: Any,
) -> pd.DataFrame:
    """Find particles in one frame.

    Parameters
    ----------
    frame : array-like, shape (Y, X)
        The image.
    engine : str
        A key of :data:`ENGINES` (``"trackpy"``; ``"fast"`` once registered).
    diameter : int
        Feature size in pixels, odd; a bit larger than the visible spot.
    minmass : float or None
        Minimum integrated brightness of a feature (engine units); None keeps all.
    separation : float or None
        Minimum distance between features in pixels; None means ``diameter + 1``.
    invert : bool
        Look for dark particles on a bright background.
    percentile : float
        Local maxima must be brighter than this percentile of the frame.
    frame_number : int
        Value written in the ``frame`` column.
    split_within : float or None
        Join features closer than this (px) that are the maxima of one smeared image
        (:func:`napari_pynta.detect.split_images.merge_split_images`); None joins none.
    wide_radius_px : int, optional
        Move each feature to its wide centroid in a disk of this radius
        (:func:`napari_pynta.detect.wide.refine_positions`); None: the engine's positions.
    **engine_params
        Extra engine-specific options (for trackpy: see :data:`TRACKPY_PARAMS`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LOCALIZATION_COLUMNS`; positions in pixels.
    """
    locate_features = get_engine(engine)
    if diameter is None:
        raise PyntaInputError(
            "diameter must be a number here: an automatic diameter is chosen from the movie "
            "(napari_pynta.analysis.choose_diameter) before locating",
            "diameter_px",
        )
    validate_detection_params(
        diameter=diameter,
        minmass=minmass,
        separation=separation,
        invert=invert,
        percentile=percentile,
    )
    require_int("frame_number", frame_number, minimum=0)
    if wide_radius_px is not None:
        require_int("wide_radius_px", wide_radius_px, minimum=1, unit="px")
    image = as_frame(frame)
    features = locate_features(
        image,
        diameter=int(diameter),
        minmass=minmass,
        separation=separation,
        invert=bool(invert),
        percentile=percentile,
        **engine_params,
    )
    table = standardize(features, int(frame_number))
    if split_within is None and wide_radius_px is None:
        return table
    columns = {name: table[name].to_numpy() for name in table.columns}
    passed = after_engine(
        image,
        columns,
        invert=bool(invert),
        split_within=split_within,
        wide_radius_px=wide_radius_px,
    )
    return pd.DataFrame(passed)


#: the options of the passes after the engine (:func:`after_engine`), which the engines, the noise
#: model and the pilot never see: they count and link the engines' own maxima, neither joined nor
#: moved
AFTER_ENGINE_OPTIONS = ("split_within", "wide_radius_px")


def engine_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` without :data:`AFTER_ENGINE_OPTIONS`: what the engine alone is run with.

    Parameters
    ----------
    options : Mapping
        Keyword options of :func:`locate`.

    Returns
    -------
    dict
        A new dict of the remaining options.
    """
    return {key: value for key, value in options.items() if key not in AFTER_ENGINE_OPTIONS}


def after_engine(
    image: np.ndarray,
    columns: dict[str, np.ndarray],
    *,
    invert: bool,
    split_within: float | None,
    wide_radius_px: int | None,
) -> dict[str, np.ndarray]:
    """The passes over one frame's features after the engine, in order: the maxima of one
    smeared image joined (``split_within``, :func:`merge_split_images`), then every feature moved
    to its wide centroid (``wide_radius_px``, :func:`napari_pynta.detect.wide.refine_positions`);
    None skips a pass. :func:`locate` and the live fast locator both call it.

    Parameters
    ----------
    image : numpy.ndarray, shape (Y, X)
        The frame the engine located (hot pixels repaired), not band-passed.
    columns : dict of str to numpy.ndarray
        The features' columns (``y``, ``x``, ``mass``, ...).
    invert : bool
        The particles are dark on a bright field.
    split_within, wide_radius_px : float or int or None
        As in :func:`locate`.

    Returns
    -------
    dict of str to numpy.ndarray
        The columns after the passes (``columns`` itself when neither changes anything).
    """
    if split_within is not None:
        columns = merge_split_images(as_detected(image, invert), columns, split_within)
    if wide_radius_px is None or not len(columns["y"]):
        return columns
    from napari_pynta.detect.wide import refine_positions

    y, x = refine_positions(image, columns["y"], columns["x"], int(wide_radius_px), invert=invert)
    return columns | {"y": y, "x": x}


def locate_frames(
    frames: Any,
    first_frame: int = 0,
    engine: str = "trackpy",
    *,
    progress: Callable[[int, int], None] | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Find particles in every frame of a stack.

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        numpy or dask array (read :data:`FRAMES_PER_READ` frames at a time).
    first_frame : int
        Frame number of ``frames[0]`` (to analyse a slice of a longer movie).
    engine : str
        A key of :data:`ENGINES`.
    progress : callable, optional
        Called as ``progress(done, total)`` after each block of frames.
    **params
        Passed to :func:`locate` (diameter, minmass, separation, invert, percentile, ...).

    Returns
    -------
    pandas.DataFrame
        All localizations, sorted by frame.
    """
    if getattr(frames, "ndim", None) != 3:
        raise PyntaInputError(
            f"frames must be a 3-D stack (T, Y, X), got shape {getattr(frames, 'shape', None)}"
        )
    n_frames = int(frames.shape[0])
    tables = []
    for start in range(0, n_frames, FRAMES_PER_READ):
        block = np.asarray(frames[start : start + FRAMES_PER_READ])
        for offset, frame in enumerate(block):
            tables.append(
                locate(frame, engine, frame_number=first_frame + start + offset, **params)
            )
        if progress is not None:
            progress(min(start + FRAMES_PER_READ, n_frames), n_frames)
    non_empty = [table for table in tables if len(table)]
    if not non_empty:
        return empty_localizations()
    return pd.concat(non_empty, ignore_index=True)
