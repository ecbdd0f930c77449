"""Fast particle localization: trackpy's ``locate`` rebuilt from fused numba kernels.

The ``"fast"`` engine of :mod:`napari_pynta.detect` follows the Crocker-Grier algorithm exactly
as trackpy 0.7 implements it, with the same parameters and the same output columns, but it
works on one image in a handful of cache-friendly passes instead of a dozen numpy/scipy calls:

1. **bandpass** — Gaussian blur (``sigma = noise_size``, truncated at 4 sigma, zero outside the
   image) minus a boxcar average (side ``smoothing_size``, edge values repeated outside the
   image; truncated to integers after each axis for integer images, like trackpy), clipped to
   zero below ``threshold``;
2. **local maxima** — pixels equal to the grey dilation of the bandpassed image with the
   largest square inside a circle of diameter ``separation``, brighter than the ``percentile``
   of the non-zero pixels (exactly: from a histogram of trackpy's integer rescaling of the
   bandpassed image, or not at all when an upper bound from the levels' sum already lets every
   feature above ``minmass`` through), outside trackpy's edge margin;
3. **refinement** — iterative centre of mass within the circular mask of radius
   ``diameter // 2``, moving the mask by one pixel while the centroid is more than 0.6 px off
   centre (at most ``max_iterations`` times); characterization of mass, radius of gyration,
   eccentricity, signal and raw mass in the final mask;
4. **duplicates** — of two features closer than ``separation`` the dimmer one is dropped;
5. **filters** — ``mass > minmass`` and ``size < maxsize``, then the ``topn`` brightest;
6. **static error** ``ep`` — from the mean and standard deviation of the raw pixels farther
   than the mask radius from any non-zero bandpassed pixel (Savin & Doyle 2005, as trackpy).

Differences from trackpy are deliberate and small: arithmetic is done in float32 on the
bandpassed image instead of trackpy's rescaling to integers (so ``mass`` differs by the
rescaling's rounding, far below the noise) and no warnings are emitted for empty frames.
Only isotropic 2-D images are supported.

The kernels are single-threaded numba functions (the live pipeline runs one locator process
per core): those of the passes over the whole image (steps 1-3) are in
:mod:`napari_pynta.detect.fast_passes`, those of the work per feature (steps 3-6) in
:mod:`napari_pynta.detect.fast_features`; this module checks the parameters, keeps each
thread's buffers and runs the kernels. numba's cache (``cache=True``) checks only the file a
kernel is defined in, and keeps the values of the globals it was compiled with: a kernel must
call only kernels and read only constants of its own file, or an edit of the other file would
leave it running the old code.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from napari_pynta.detect.blur import edge_margin_px
from napari_pynta.detect.columns import (
    LOCALIZATION_COLUMNS,
    as_detected,
    empty_localizations,
    validate_detection_params,
)
from napari_pynta.detect.fast_features import _select_features
from napari_pynta.detect.fast_passes import (
    _SPARE_BINS,
    _bandpass,
    _block_tier,
    _histogram,
    _percentile_level,
    _scan,
)
from napari_pynta.errors import PyntaInputError, require_int, require_number
from napari_pynta.parameters import MAX_DIAMETER_PX

try:  # pandas >= 3: a table from its two blocks (int64 frame, float64 rest) without copies
    from pandas.api.internals import create_dataframe_from_blocks as _from_blocks
except ImportError:  # pragma: no cover - pandas 2
    _from_blocks = None

__all__ = ["COLUMNS", "FAST_PARAMS", "locate_fast", "warm_up"]

#: Output columns, in order (the localization table of :mod:`napari_pynta.detect`).
COLUMNS = LOCALIZATION_COLUMNS

_GAUSS_TRUNCATE = 4.0  # sigmas; trackpy's lowpass default
_MAX_LEVELS = 65535  # trackpy rescales the bandpass to the input's integer range (uint16 at most)
_MAX_DIAMETER = MAX_DIAMETER_PX  # the background test stores distances up to the radius in uint8


# --------------------------------------------------------------------------------------------
# geometry shared by every call with the same parameters
# --------------------------------------------------------------------------------------------
class _Geometry:
    """Masks and kernels of one (radius, noise_size) pair, as trackpy builds them."""

    def __init__(self, radius: int, noise_size: float):
        offsets = np.arange(-radius, radius + 1)
        dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
        inside = dy**2 + dx**2 <= radius**2  # trackpy's binary_mask
        self.mask_y, self.mask_x = (a.astype(np.int64) for a in np.nonzero(inside))
        self.n_pixels = int(inside.sum())
        self.r2 = (dy**2 + dx**2)[inside].astype(np.float64)
        theta = np.arctan2(dy, dx)
        self.cos2 = np.cos(2 * theta)[inside]
        self.sin2 = np.sin(2 * theta)[inside]
        # half-width of each mask row (every row holds its centre pixel)
        self.half_widths = np.abs(np.where(inside, dx, 0)).max(axis=1).astype(np.int64)
        self.disk = tuple(int(half) for half in self.half_widths)  # for loops that unroll
        # sqrt(sum y^2 over the mask): trackpy's _root_sum_x_squared, for ep
        self.root_sum_y2 = float(np.sqrt((dy**2)[inside].sum()))
        if noise_size > 0:
            half = int(_GAUSS_TRUNCATE * noise_size + 0.5)
            taps = np.arange(-half, half + 1)
            kernel = np.exp(taps**2 / (-2 * noise_size**2))
            taps = (kernel / kernel.sum()).astype(np.float32)[: half + 1]
        else:
            taps = np.ones(1, dtype=np.float32)  # no noise filter: the image itself
        # outermost tap first, centre last (a tuple: the kernels unroll their loops over it)
        self.gauss = tuple(np.float32(tap) for tap in taps)


_GEOMETRY: dict[tuple[int, float], _Geometry] = {}
# the table's columns, built once: an Index from a list of names cost a third of the
# DataFrame's construction (pandas 3 infers their string dtype at every call)
_FEATURE_INDEX = pd.Index(COLUMNS[1:])
_TABLE_INDEX = pd.Index(COLUMNS)
_FRAME_PLACEMENT = np.array([0])  # where each block's columns go in the table
_FEATURE_PLACEMENT = np.arange(1, len(COLUMNS))
_THREAD_STATE = threading.local()
_histogram_loaded = False  # whether the histogram kernel ran in this process


def _geometry(radius: int, noise_size: float) -> _Geometry:
    key = (radius, noise_size)
    if key not in _GEOMETRY:
        _GEOMETRY[key] = _Geometry(radius, noise_size)
    return _GEOMETRY[key]


class _Workspace:
    """Scratch buffers of one thread for one frame shape and geometry (reused across frames)."""

    def __init__(self, key: tuple[tuple[int, int], np.dtype, int, int, int, int, int]):
        shape, dtype, lw, rb, lo, hi, r = key
        ny, nx = shape
        lead = max(hi, r)
        self.key = key
        self.bp = np.empty(shape, np.float32)
        self.bp_bits = self.bp.view(np.int32)
        # running column sums of the boxcar: exact in int32 for uint16 pixels (at most
        # 65535 * smoothing_size; larger sums and other pixels go to float64)
        wide = dtype != np.uint16 or 65535 * (2 * rb + 1) >= 2**31
        self.acc = np.empty(nx, np.float64 if wide else np.int32)
        self.v_pad = np.empty(nx + 2 * lw, np.float32)
        self.box_pad = np.empty(nx + 2 * rb, np.float32)
        self.hist = np.empty(_MAX_LEVELS + 1 + _SPARE_BINS, np.int32)
        # one row per local maximum (at most one per pixel); pages are touched only when used
        self.cand = np.empty((ny * nx, 2), np.int32)
        self.cand_float = np.empty((ny * nx, 4), np.float64)
        # horizontal maxima of the last rows, and their maxima over 2, 4, 8, ... rows
        n_levels = _block_tier(lo + hi + 1) + 1
        self.ring_h = np.empty((n_levels, lead + lo + 1, nx), np.int32)
        # distance to the nearest foreground pixel in each row, with r rows of margin
        self.near_rows = np.empty((ny + 2 * r, nx), np.uint8)
        self.pad_i = np.empty(nx + lo + hi, np.int32)
        self.doubling = np.empty((2, nx + lo + hi), np.int32)
        self.pad_u = np.empty(nx + 2 * r, np.uint8)
        self.peaks = np.empty(-(-nx // 8) * 8, np.uint8)  # local-maximum flags, whole words
        self.flags = np.empty(-(-nx // 8) * 8, np.uint8)  # background flags, whole words
        self.words = np.empty(len(self.peaks) // 8, np.int64)  # words holding a maximum
        self.lev = np.empty(nx, np.int32)


def _workspace(
    shape: tuple[int, int], dtype: np.dtype, lw: int, rb: int, lo: int, hi: int, r: int
) -> _Workspace:
    """This thread's workspace for frames of this shape and pixel type and these dimensions
    (threads never share buffers)."""
    key = (shape, dtype, lw, rb, lo, hi, r)
    work = getattr(_THREAD_STATE, "workspace", None)
    if work is None or work.key != key:
        work = _THREAD_STATE.workspace = _Workspace(key)
    return work


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
#: options of the fast engine beyond the shared detection parameters (trackpy's meaning)
FAST_PARAMS = frozenset(
    {"noise_size", "smoothing_size", "threshold", "maxsize", "topn", "max_iterations"}
)


def locate_fast(
    frame: np.ndarray,
    *,
    diameter: int = 7,
    minmass: float | None = None,
    separation: float | None = None,
    invert: bool = False,
    percentile: float = 64,
    frame_number: int = 0,
    noise_size: float = 1,
    smoothing_size: int | None = None,
    threshold: float | None = None,
    maxsize: float | None = None,
    topn: int | None = None,
    max_iterations: int = 10,
    as_columns: bool = False,
    **unknown: object,
) -> pd.DataFrame | dict[str, np.ndarray]:
    """Locate Gaussian-like spots in one 2-D frame, like ``trackpy.locate`` but faster.

    Parameters
    ----------
    frame : ndarray (Y, X)
        One image of any integer or float dtype (uint16 and float32 are used without a copy).
    diameter : int
        Odd feature diameter in pixels (>= 3); the mask radius is ``diameter // 2``.
    minmass : float, optional
        Keep features whose integrated bandpassed brightness is above this (default 0).
    separation : float, optional
        Minimum distance between features in pixels (default ``diameter + 1``).
    invert : bool
        Features are darker than the background.
    percentile : float
        Local maxima must be brighter than this percentile of the non-zero bandpassed pixels.
    frame_number : int
        Value of the ``frame`` column.
    noise_size : float
        Sigma of the Gaussian noise filter in pixels (0 disables it).
    smoothing_size : int, optional
        Odd side of the boxcar background filter (default ``diameter``).
    threshold : float, optional
        Bandpassed values below this become 0 (default 1 for integer, 1/255 for float images).
    maxsize : float, optional
        Keep features whose radius of gyration is below this.
    topn : int, optional
        Keep only the ``topn`` brightest features.
    max_iterations : int
        Maximum number of one-pixel moves of the mask during refinement.
    as_columns : bool
        Return the table's columns instead of a DataFrame (the live locator sends them as they
        are: building the DataFrame cost ~0.2 ms per frame, a sixth of locating a 512² frame).

    Returns
    -------
    DataFrame or dict of str to ndarray
        Columns ``frame, y, x, mass, size, ecc, signal, raw_mass, ep`` (:data:`COLUMNS`; ``frame``
        int64, the others float64), one row per feature in raster order of the local maxima (as
        trackpy orders them).

    Raises
    ------
    PyntaInputError
        If the frame is not a 2-D numeric image or a parameter is out of range or unknown.
    """
    if unknown:
        raise PyntaInputError(
            f"unknown parameter(s) for engine 'fast': {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(FAST_PARAMS))}"
        )
    plan = _plan(
        diameter,
        minmass,
        separation,
        invert,
        percentile,
        noise_size,
        smoothing_size,
        threshold,
        maxsize,
        topn,
        max_iterations,
    )
    frame_number = require_int("frame_number", frame_number, minimum=0)
    image, integer_input, levels = _as_kernel_image(frame, plan.invert)
    features = _find_features(image, integer_input, levels, plan)
    if features is None:
        features = np.empty((0, len(COLUMNS) - 1))
    if plan.maxsize is not None:
        features = features[features[:, 3] < plan.maxsize]
    if plan.topn is not None and len(features) > plan.topn:
        features = features[np.sort(np.argsort(features[:, 2], kind="stable")[-plan.topn :])]
    if as_columns:
        columns = {"frame": np.full(len(features), frame_number, np.int64)}
        columns.update(zip(COLUMNS[1:], np.ascontiguousarray(features.T), strict=True))
        return columns
    if len(features) == 0:
        return empty_localizations()
    return _table(features, frame_number)


def _table(features: np.ndarray, frame_number: int) -> pd.DataFrame:
    """The localization table of ``features`` (n, 8: the columns after ``frame``), no copy.

    pandas stores a table as blocks of columns, one per dtype; from its two blocks the table
    is made in a third of the time of ``DataFrame`` plus ``insert`` (≈ 10 against 30 µs warm,
    ≈ 0.1 against 0.25 ms after another program's work left the caches cold, as in a live
    locator between frames).
    """
    n = len(features)
    frame = np.full((1, n), frame_number, np.int64)
    if _from_blocks is None:  # pandas 2
        table = pd.DataFrame(features, columns=_FEATURE_INDEX, copy=False)
        table.insert(0, "frame", frame[0])
        return table
    return _from_blocks(
        [(frame, _FRAME_PLACEMENT), (features.T, _FEATURE_PLACEMENT)],
        index=pd.RangeIndex(n),
        columns=_TABLE_INDEX,
    )


class _Plan(NamedTuple):
    """The checked parameters of a call and what follows from them alone."""

    radius: int
    separation: float
    smoothing: int
    noise_size: float
    minmass: float
    threshold: float | None  # None: the pixel type's default
    max_iterations: int
    maxsize: float | None
    topn: int | None
    invert: bool
    percentile: float
    geometry: _Geometry
    box_lo: int  # reach of the dilation box below and above a pixel
    box_hi: int
    margin: int  # trackpy's edge margin


def _plan(*params: Any) -> _Plan:
    """:func:`_make_plan`, remembered for the last parameter sets (a live locator repeats one:
    checking them again cost ≈ 0.05 ms per frame once other work had left the caches cold)."""
    try:
        return _remembered_plan(*params)
    except TypeError:  # an unhashable parameter (e.g. a 0-d array): checked, not remembered
        return _make_plan(*params)


def _make_plan(
    diameter: Any,
    minmass: Any,
    separation: Any,
    invert: Any,
    percentile: Any,
    noise_size: Any,
    smoothing_size: Any,
    threshold: Any,
    maxsize: Any,
    topn: Any,
    max_iterations: Any,
) -> _Plan:
    """Check the parameters of :func:`locate_fast` (in its order) and derive the geometry."""
    validate_detection_params(
        diameter=diameter,
        minmass=minmass,
        separation=separation,
        invert=invert,
        percentile=percentile,
    )
    diameter = int(diameter)
    if diameter > _MAX_DIAMETER:
        raise PyntaInputError(
            f"diameter must be <= {_MAX_DIAMETER} for engine 'fast', got {diameter}"
        )
    radius = diameter // 2
    separation = diameter + 1.0 if separation is None else float(separation)
    smoothing = (
        diameter
        if smoothing_size is None
        else require_int("smoothing_size", smoothing_size, minimum=1, odd=True)
    )
    noise_size = require_number("noise_size", noise_size, minimum=0, maximum=smoothing - 1e-9)
    if threshold is not None:
        threshold = require_number("threshold", threshold)  # < 0 acts as 0
    max_iterations = require_int("max_iterations", max_iterations, minimum=1)
    if maxsize is not None:
        maxsize = require_number("maxsize", maxsize, minimum=0)
    if topn is not None:
        topn = require_int("topn", topn, minimum=1)
    box_lo, box_hi = _dilation_window(separation)
    return _Plan(
        radius=radius,
        separation=separation,
        smoothing=smoothing,
        noise_size=noise_size,
        minmass=0.0 if minmass is None else float(minmass),
        threshold=threshold,
        max_iterations=max_iterations,
        maxsize=maxsize,
        topn=topn,
        invert=bool(invert),
        percentile=float(percentile),
        geometry=_geometry(radius, noise_size),
        box_lo=box_lo,
        box_hi=box_hi,
        margin=edge_margin_px(diameter, separation, smoothing),
    )


# typed: 1, 1.0 and True are different keys (a boolean diameter must still be refused)
_remembered_plan = functools.lru_cache(maxsize=16, typed=True)(_make_plan)


def _find_features(
    image: np.ndarray, integer_input: bool, levels: int, plan: _Plan
) -> np.ndarray | None:
    """Run the kernels: features above ``minmass``, one row each (:data:`COLUMNS` but frame)."""
    global _histogram_loaded
    geometry = plan.geometry
    radius, separation, smoothing = plan.radius, plan.separation, plan.smoothing
    noise_size, percentile, minmass = plan.noise_size, plan.percentile, plan.minmass
    if plan.threshold is not None:
        threshold = plan.threshold
    else:
        threshold = 1.0 if integer_input else 1 / 255.0
    box_lo, box_hi = plan.box_lo, plan.box_hi
    work = _workspace(
        image.shape,
        image.dtype,
        len(geometry.gauss) - 1,
        smoothing // 2,
        box_lo,
        box_hi,
        radius,
    )
    peak_bits = _bandpass(
        image,
        geometry.gauss,
        (0,) * (smoothing // 2 + 1),
        np.float32(threshold),
        integer_input,
        work.bp,
        work.bp_bits,
        work.acc,
        work.v_pad,
        work.box_pad,
    )
    peak = float(np.int32(peak_bits).view(np.float32))
    if not peak > 0:
        return None
    scale = levels / peak
    # trackpy's "non-zero" pixels of the rescaled bandpass are those with floor(bp*scale) >= 1
    min_bits = np.float32(1.0 / scale).view(np.int32)
    n_cand, n_background, bg_sum, bg_sum_sq, n_nonzero, level_sum, n_heavy, min_heavy_peak = _scan(
        work.bp,
        work.bp_bits,
        image,
        np.float32(scale),
        box_lo,
        box_hi,
        plan.margin,
        min_bits,
        geometry.half_widths,
        geometry.disk,
        plan.max_iterations,
        levels,
        work.cand,
        work.cand_float,
        work.ring_h,
        work.near_rows,
        work.pad_i,
        work.doubling,
        work.pad_u,
        work.peaks,
        work.flags,
        work.words,
        minmass,
    )
    if not n_heavy or not n_nonzero:  # none above minmass, or trackpy's percentile is NaN
        return None
    # The exact percentile needs a histogram of every pixel's level (a pass over the image).
    # An upper bound of it from the level sum does when every candidate above minmass is
    # brighter than the bound: the exact threshold then keeps all of them too.
    # The first call of a process always makes the histogram, so that a worker's warm-up
    # compiles (or loads) its kernel too, not a live frame later.
    min_peak = (_percentile_level_bound(n_nonzero, level_sum, percentile) + 1) / scale
    if min_heavy_peak < min_peak or not _histogram_loaded:
        hist = work.hist[: levels + 1 + _SPARE_BINS]
        _histogram(work.bp, np.float32(scale), levels, hist, work.lev)
        _histogram_loaded = True
        level = _percentile_level(hist[: levels + 1], percentile)
        min_peak = (math.floor(level) + 1) / scale
    # trackpy keeps maxima whose integer level floor(bp * scale) exceeds the percentile level.
    # Features at or below minmass are dropped before the duplicate removal, unlike trackpy,
    # with the same result: of two close features the dimmer one goes, so a feature at or
    # below minmass can never remove one above it.
    refined = _select_features(
        image,
        work.bp,
        work.cand,
        work.cand_float,
        n_cand,
        min_peak,
        minmass,
        radius,
        separation,
        geometry.mask_y,
        geometry.mask_x,
        geometry.r2,
        geometry.cos2,
        geometry.sin2,
        *_mean_and_std(n_background, bg_sum, bg_sum_sq),
        geometry.n_pixels,
        noise_size,
        geometry.root_sum_y2,
    )
    if len(refined) == 0:
        return None
    return refined


def _as_kernel_image(frame: np.ndarray, invert: bool) -> tuple[np.ndarray, bool, int]:
    """Return (image for the kernels, integer input?, number of rescaling levels)."""
    image = np.asarray(frame)
    if image.ndim != 2 or min(image.shape) < 1:
        raise PyntaInputError(
            f"frame must be a non-empty 2-D image (Y, X), got shape {image.shape}"
        )
    if image.dtype.kind not in "uif":
        raise PyntaInputError(f"frame must hold integers or floats, got dtype {image.dtype}")
    integer_input = image.dtype.kind in "ui"
    image = as_detected(image, invert)
    # trackpy rescales the bandpass to the integer range of the input (uint8 for floats)
    levels = min(np.iinfo(image.dtype).max, _MAX_LEVELS) if integer_input else 255
    if image.dtype == np.uint8:
        image = image.astype(np.uint16)  # exact; one compiled kernel set fewer
    elif image.dtype != np.uint16:
        image = image.astype(np.float32, copy=False)  # the kernels compute in float32 anyway
    return np.ascontiguousarray(image), integer_input, levels


def _percentile_level_bound(n_nonzero: int, level_sum: int, percentile: float) -> int:
    """An integer at least the floor of :func:`_percentile_level`, from the levels' sum alone.

    The percentile lies between the sorted non-zero levels ``v[k_lo]`` and ``v[k_hi]``
    (numpy's interpolation), and ``n - k_hi`` levels are at least ``v[k_hi]``, so
    ``v[k_hi] <= level_sum // (n - k_hi)`` (levels are non-negative integers).
    """
    k_lo = int(math.floor(percentile / 100.0 * (n_nonzero - 1)))
    k_hi = min(k_lo + 1, n_nonzero - 1)
    return int(level_sum) // (n_nonzero - k_hi)


def _mean_and_std(count: int, total: float, total_sq: float) -> tuple[float, float]:
    """Mean and (population) standard deviation from running sums; NaN where undefined."""
    if count == 0:
        return math.nan, math.nan
    mean = total / count
    if count == 1:
        return mean, math.nan
    return mean, math.sqrt(max(total_sq / count - mean * mean, 0.0))


def _dilation_window(separation: float) -> tuple[int, int]:
    """Reach (below, above) of trackpy's dilation box, the largest square in the circle."""
    side = int(2 * separation / math.sqrt(2))
    if side < 1:
        return 0, 0
    return (side - 1) // 2, side // 2


def warm_up(dtypes: tuple[type, ...] = (np.uint16,)) -> None:
    """Compile (or load from numba's cache) the kernels for frames of ``dtypes``.

    Call once at start-up of a worker so that the first live frame is not slowed by the JIT.

    Parameters
    ----------
    dtypes : tuple of numpy scalar types
        Pixel types of the frames to come (uint8 frames use the uint16 kernels, other types
        than uint16 the float32 ones).
    """
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    spot = 50 * np.exp(-((yy - 20.3) ** 2 + (xx - 25.6) ** 2) / 3.0)
    for dtype in dtypes:
        scale = 1.0 / 255 if np.dtype(dtype).kind == "f" else 1.0
        image = ((10 + spot + rng.normal(0, 2, spot.shape)).clip(0) * scale).astype(dtype)
        locate_fast(image, diameter=7)
