"""Particle localization: find bright spots in frames and measure their sub-pixel positions.

Every engine returns the same table (trackpy's columns, see :data:`LOCALIZATION_COLUMNS`), so the
linker, the sizer and the GUI never need to know which engine produced it. Engines are plain
functions registered in :data:`ENGINES`; ``engine="trackpy"`` wraps :func:`trackpy.locate`.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd
import trackpy

from napari_pynta.errors import PyntaInputError

#: columns of a localization table, in this order (``frame`` is int64, the others float64)
LOCALIZATION_COLUMNS = ("frame", "y", "x", "mass", "size", "ecc", "signal", "raw_mass", "ep")

#: number of frames read at once by :func:`locate_frames` (one dask/zarr read per block)
FRAMES_PER_READ = 16

#: frames sampled by :func:`estimate_minmass`
MINMASS_SAMPLE_FRAMES = 10
#: automatic minmass = noise median x exp(this many dim-side widths of the noise peak in ln mass)
MINMASS_NOISE_WIDTHS = 6.0
#: the lower quartile of a normal law lies this many standard deviations below its median
NORMAL_QUARTILE = 0.6745


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


#: extra keyword arguments the trackpy engine accepts (passed on to :func:`trackpy.locate`)
TRACKPY_PARAMS = frozenset(
    {"maxsize", "noise_size", "smoothing_size", "threshold", "topn", "preprocess",
     "max_iterations", "characterize"}
)


def _locate_trackpy(
    frame: np.ndarray,
    *,
    diameter: int,
    minmass: float | None,
    separation: float | None,
    invert: bool,
    percentile: float,
    **engine_params: Any,
) -> pd.DataFrame:
    """Localize with :func:`trackpy.locate` (Crocker–Grier with iterative centroid refinement)."""
    unknown = sorted(set(engine_params) - TRACKPY_PARAMS)
    if unknown:
        raise PyntaInputError(
            f"unknown parameter(s) for engine 'trackpy': {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(TRACKPY_PARAMS))}"
        )
    with warnings.catch_warnings():
        # an empty (black) frame or a tiny test frame is not a problem worth a warning
        warnings.filterwarnings("ignore", message="Image is completely black")
        warnings.filterwarnings("ignore", message="I am interpreting the image as")
        warnings.filterwarnings("ignore", message="No maxima survived")
        return trackpy.locate(
            frame,
            diameter,
            minmass=minmass,
            separation=separation,
            invert=invert,
            percentile=percentile,
            **engine_params,
        )


def _locate_fast(frame: np.ndarray, **params: Any) -> pd.DataFrame:
    """Localize with :func:`napari_pynta.detect_fast.locate_fast` (numba; imported on first use)."""
    from napari_pynta.detect_fast import locate_fast

    return locate_fast(frame, **params)


#: engine name -> localization function
ENGINES: dict[str, Engine] = {"trackpy": _locate_trackpy, "fast": _locate_fast}


def empty_localizations() -> pd.DataFrame:
    """Return an empty localization table with the standard columns and dtypes."""
    return _standardize(pd.DataFrame(columns=list(LOCALIZATION_COLUMNS)), frame_number=0)


def _is_standard(features: pd.DataFrame) -> bool:
    """True if ``features`` already has the standard columns, dtypes and a 0..n-1 index."""
    index = features.index
    return (tuple(features.columns) == LOCALIZATION_COLUMNS
            and isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
            and all(dtype == (np.int64 if name == "frame" else np.float64)
                    for name, dtype in zip(LOCALIZATION_COLUMNS, features.dtypes)))


def _standardize(features: pd.DataFrame, frame_number: int) -> pd.DataFrame:
    """Give an engine's output the standard columns, order and dtypes, and set ``frame``."""
    if _is_standard(features):  # e.g. the fast engine's table: 4x cheaper than rebuilding it
        features["frame"] = np.int64(frame_number)
        return features
    table = features.reindex(columns=LOCALIZATION_COLUMNS[1:]).astype(np.float64)
    table.insert(0, "frame", np.full(len(table), frame_number, dtype=np.int64))
    return table.reset_index(drop=True)


def validate_detection_params(
    *,
    engine: str,
    diameter: int,
    minmass: float | None,
    separation: float | None,
    invert: bool,
    percentile: float,
) -> None:
    """Check the detection parameters shared by all engines.

    Raises
    ------
    PyntaInputError
        Naming the first bad parameter and what is allowed.
    """
    if engine not in ENGINES:
        raise PyntaInputError(
            f"engine must be one of {', '.join(sorted(ENGINES))}, got {engine!r}"
        )
    if (
        isinstance(diameter, bool)
        or not isinstance(diameter, (int, np.integer))
        or diameter < 3
        or diameter % 2 == 0
    ):
        raise PyntaInputError(
            f"diameter must be an odd integer >= 3 (pixels), got {diameter!r}"
        )
    if minmass is not None and not (np.isfinite(minmass) and minmass >= 0):
        raise PyntaInputError(f"minmass must be a number >= 0 (or None), got {minmass!r}")
    if separation is not None and not (np.isfinite(separation) and separation > 0):
        raise PyntaInputError(
            f"separation must be a number > 0 (pixels, or None), got {separation!r}"
        )
    if not isinstance(invert, (bool, np.bool_)):
        raise PyntaInputError(f"invert must be True or False, got {invert!r}")
    if not (np.isfinite(percentile) and 0 <= percentile < 100):
        raise PyntaInputError(f"percentile must be in [0, 100), got {percentile!r}")


def _as_frame(frame: Any) -> np.ndarray:
    """Return ``frame`` as a 2-D real-valued numpy array or raise :class:`PyntaInputError`."""
    array = np.asarray(frame)
    if array.ndim != 2:
        raise PyntaInputError(f"frame must be a 2-D image (Y, X), got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise PyntaInputError(f"frame must hold integers or floats, got dtype {array.dtype}")
    return array


def locate(
    frame: Any,
    engine: str = "trackpy",
    *,
    diameter: int = 7,
    minmass: float | None = None,
    separation: float | None = None,
    invert: bool = False,
    percentile: float = 64,
    frame_number: int = 0,
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
    **engine_params
        Extra engine-specific options (for trackpy: see :data:`TRACKPY_PARAMS`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LOCALIZATION_COLUMNS`; positions in pixels.
    """
    validate_detection_params(
        engine=engine, diameter=diameter, minmass=minmass, separation=separation,
        invert=invert, percentile=percentile,
    )
    if isinstance(frame_number, bool) or not isinstance(frame_number, (int, np.integer)) \
            or frame_number < 0:
        raise PyntaInputError(f"frame_number must be an integer >= 0, got {frame_number!r}")
    image = _as_frame(frame)
    features = ENGINES[engine](
        image, diameter=int(diameter), minmass=minmass, separation=separation,
        invert=bool(invert), percentile=percentile, **engine_params,
    )
    return _standardize(features, int(frame_number))


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
        block = np.asarray(frames[start:start + FRAMES_PER_READ])
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


def estimate_minmass(
    frames: Any,
    engine: str = "trackpy",
    *,
    n_sample: int = MINMASS_SAMPLE_FRAMES,
    **params: Any,
) -> float:
    """Choose ``minmass`` automatically, just above the brightness of noise features.

    Without a mass threshold every local maximum of the background noise is a "feature". In
    NTA images particles are sparse, so most local maxima are noise: the median of ln(mass) of
    all candidates is the centre of the noise peak and the distance from the lower quartile to
    the median measures its width (both quantiles lie on the dim side, which particles do not
    contaminate). The threshold is :data:`MINMASS_NOISE_WIDTHS` widths above the noise median.

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        The movie (numpy or dask); ``n_sample`` evenly spaced frames are analysed.
    engine : str
        A key of :data:`ENGINES`.
    n_sample : int
        Number of frames to sample.
    **params
        Detection parameters passed to :func:`locate` (``minmass`` is ignored).

    Returns
    -------
    float
        The threshold (0 when the sampled frames have fewer than 4 local maxima).

    Notes
    -----
    The assumption fails when particles outnumber noise maxima (very dense samples or a
    noiseless image); give ``minmass`` explicitly then.
    """
    if getattr(frames, "ndim", None) != 3 or frames.shape[0] == 0:
        raise PyntaInputError(
            f"frames must be a non-empty 3-D stack (T, Y, X), got shape "
            f"{getattr(frames, 'shape', None)}"
        )
    params = {key: value for key, value in params.items() if key != "minmass"}
    picks = np.unique(np.linspace(0, frames.shape[0] - 1, max(1, n_sample)).round().astype(int))
    masses = np.concatenate([
        locate(np.asarray(frames[index]), engine, minmass=0, **params)["mass"].to_numpy()
        for index in picks
    ])
    log_mass = np.log(masses[masses > 0])
    if len(log_mass) < 4:
        return 0.0
    # quantiles of the dim half only: particles (bright) barely move them
    lower_quartile, noise_median = np.percentile(log_mass, [25, 50])
    half_width = (noise_median - lower_quartile) / NORMAL_QUARTILE
    return float(np.exp(noise_median + MINMASS_NOISE_WIDTHS * half_width))
