"""Diffusion coefficients and sizes from tracks, their statistics, and quality warnings.

The estimator is the covariance estimator of Vestergaard, Blainey & Flyvbjerg (Phys. Rev. E 89,
022726, 2014), per axis and averaged over y and x::

    D       = <dx_n^2> / (2 dt) + <dx_n dx_{n+1}> / dt
    sigma^2 = R <dx_n^2> + (2R - 1) <dx_n dx_{n+1}>,      R = exposure / (6 dt)

It is unbiased whatever the localization error and the motion blur (D does not depend on R);
only the localization-error estimate needs the exposure time.

**Steps across gaps.** Where the linker bridged missed frames (memory), the step across the gap
(k frames) is used too: the frames a detector misses are those in which a fast particle smeared
most, so dropping their steps keeps the small motions and sizes small particles too large. With
exposure <= frame interval a k-frame step has, per axis,
``E[dx_k^2] = 2 D k dt - 2 c`` with ``c = <dx_n dx_{n+1}> = 2 R D dt - sigma^2`` the same for
every pair of adjacent steps (they share only the middle frame's exposure and noise). Summed over
a track's ``N`` steps spanning ``K`` frames::

    D = (sum dx_k^2 + 2 N c) / (2 dt K),     <dx_1^2> = 2 D dt - 2 c  (lag-1 equivalent)

which is the formula above when every step is one frame long (N = K). Everything is computed
from per-track sums (:func:`track_sums`), so per-track values, pooled ensemble values and their
leave-one-track-out (jackknife) errors all come from the same formulas.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from napari_pynta.errors import PyntaInputError, require_positive
from napari_pynta.parameters import SETTINGS
from napari_pynta.physics import diameter_nm as stokes_einstein_diameter_nm

#: steps spanning up to this many frames enter the estimator (1: consecutive frames only). The
#: estimator is unbiased with gap steps too (module docstring), and the steps across one missed
#: frame undo the loss of the frames a fast particle smeared most: the linker follows particles
#: across a missed frame with steps as large as the true ones (docs/accuracy.md). Longer gaps
#: add few steps, more of them wrong.
MAX_STEP_FRAMES = 2
#: lags (in frames) of the mean-squared-displacement fit used as a diagnostic
MSD_LAGS = (1, 2, 3, 4)
#: lags of the long-lag MSD fit: beyond the step correlations of compressed video, vibration or
#: convection, so it gives D even when short lags are not Brownian
LONG_MSD_LAGS = (5, 6, 7, 8, 9, 10)
#: lags (in steps) at which successive steps must be uncorrelated for Brownian motion, whatever
#: the blur and the localization noise (they only correlate neighbouring steps)
STEP_CORRELATION_LAGS = (2, 3, 4)
#: step correlations smaller than this are not flagged, however significant
MIN_STEP_CORRELATION = 0.02
#: columns of :func:`subtract_drift`'s corrected tracks holding the drift taken out of ``y`` and
#: ``x`` (pixels): :func:`track_sums` weights a step for the field by where it was in the image
DRIFT_COLUMNS = ("drift_y", "drift_x")
#: the drift is smoothed over enough frames to hold this many steps (its noise then takes about
#: 3/this of D with it)
DRIFT_STEPS_PER_WINDOW = 5000
#: a stretch of more than this many frames in which no track has a localization separates two
#: recordings (the captures that :mod:`napari_pynta.pooled` numbers far apart): the drift of
#: each is estimated on its own, as when it is analysed alone
DRIFT_BREAK_FRAMES = 500

#: columns of the per-track table returned by :func:`track_diffusion`
PER_TRACK_COLUMNS = (
    "particle",
    "n_frames",
    "n_steps",
    "D_um2_s",
    "D_msd_um2_s",
    "sigma_um",
    "msd1_um2",
    "diameter_nm",
)

#: thresholds of :func:`quality_warnings`
MIN_TRACKS = 20
MIN_MEDIAN_STEPS = 10
#: with the track lengths before the length filter, the step-weighted median must reach this many
#: times ``min_median_steps``
STEP_WEIGHTED_MEDIAN_FACTOR = 2
#: lag-1 covariance ratio beyond the Brownian bound by this many standard errors is flagged
SIGNIFICANCE_SE = 3.0
#: relative disagreement between the MSD-slope and covariance D that is flagged
MSD_DISAGREEMENT = 0.15
#: drift whose bias on D exceeds this fraction of D is flagged
DRIFT_BIAS_FRACTION = 0.02
#: fraction of tracks with D <= 0 that is flagged
INVALID_TRACK_FRACTION = 0.1

_SUM_COLUMNS = (
    (
        "n_frames",
        "n_steps",
        "sum_w",
        "sum_lag",
        "sum_dy",
        "sum_dx",
        "sum_dy2",
        "sum_dx2",
        "n_pairs",
        "sum_pair_w",
        "sum_cyy",
        "sum_cxx",
    )
    + tuple(name for lag in STEP_CORRELATION_LAGS for name in (f"n_pairs{lag}", f"sum_c{lag}"))
    + tuple(
        name for lag in MSD_LAGS + LONG_MSD_LAGS for name in (f"n_lag{lag}", f"sum_sq_lag{lag}")
    )
)


def blur_factor(exposure_s: float, frame_interval_s: float) -> float:
    """Motion-blur coefficient ``R = exposure / (6 dt)`` of a uniform (rectangular) shutter.

    Parameters
    ----------
    exposure_s : float
        Exposure time, 0..``frame_interval_s``.
    frame_interval_s : float
        Time between frames.

    Returns
    -------
    float
        R, between 0 (no blur) and 1/6 (exposure = frame interval).
    """
    frame_interval_s = require_positive("frame_interval_s", frame_interval_s)
    exposure_s = require_positive("exposure_s", exposure_s, allow_zero=True)
    if exposure_s > frame_interval_s * (1 + 1e-9):
        raise PyntaInputError(
            f"exposure_s must be <= frame_interval_s ({frame_interval_s:g} s), got {exposure_s:g}"
        )
    return min(exposure_s, frame_interval_s) / (6.0 * frame_interval_s)


class GapSpread(NamedTuple):
    """What :func:`gap_spread` found: the linker's spread per missed frame and why."""

    #: each frame a track was missed in adds this many one-frame spreads (1: no blur)
    factor: float
    #: how the factor came about, in words (recorded in the summary)
    reason: str


def gap_spread(exposure_s: float | None, frame_interval_s: float | None) -> GapSpread:
    """The linker's spread per missed frame under motion blur: ``k = 1 / (1 - exposure / 3 dt)``.

    A particle imaged through an exposure ``tau`` is localized at its mean position over the
    exposure, so a one-frame step has per-axis variance ``2 D dt (1 - tau / 3 dt) + 2 sigma^2``
    (``1 - 2R``, :func:`blur_factor`), while every further frame adds the full ``2 D dt``
    (module docstring: ``E[dx_k^2] = 2 D k dt - 2 c``). With the one-frame spread ``s^2`` and
    little localization noise, a step across ``g`` frames has ``s^2 (1 + k (g - 1))``: 1.5
    one-frame spreads per missed frame at full-frame exposure, 1 without blur (noise makes the
    true factor smaller, so ``k`` is its upper end). :class:`napari_pynta.link.StreamingLinker`
    takes it as ``gap_spread``.

    Parameters
    ----------
    exposure_s, frame_interval_s : float or None
        Exposure and frame interval (s); either None gives ``k = 1`` with the reason.

    Returns
    -------
    GapSpread

    Raises
    ------
    PyntaInputError
        For a negative exposure, a frame interval that is not positive, or an exposure longer
        than the frame interval.
    """
    if exposure_s is None or frame_interval_s is None:
        missing = "exposure_s" if exposure_s is None else "frame_interval_s"
        if exposure_s is None and frame_interval_s is None:
            missing = "exposure_s or frame_interval_s"
        return GapSpread(1.0, f"no {missing}: missed frames spread as without motion blur (k = 1)")
    factor = 1.0 / (1.0 - 2.0 * blur_factor(exposure_s, frame_interval_s))
    return GapSpread(
        factor,
        f"exposure {exposure_s:g} s of a {frame_interval_s:g} s frame interval: each missed "
        f"frame adds k = {factor:.3f} one-frame spreads",
    )


def _check_tracks(tracks: pd.DataFrame) -> None:
    missing = [name for name in ("particle", "frame", "y", "x") if name not in tracks.columns]
    if missing:
        raise PyntaInputError(f"tracks must have columns {', '.join(missing)}")


def edge_weights(dy_px: np.ndarray, dx_px: np.ndarray, field_px: tuple[float, float]) -> np.ndarray:
    """Horvitz–Thompson weights that undo the loss of long steps at the edges of the field.

    A step (dy, dx) is seen only when both ends lie in the detectable area (height Ly, width Lx);
    for particles spread uniformly that happens with probability (1 - |dy|/Ly)(1 - |dx|/Lx), so
    long steps are under-represented and D comes out low by about sqrt(2/pi)·s/L per axis (s:
    rms step). Weighting every step by the inverse of that probability removes the bias. The
    step is the one in the image, with any flow: a flow as large as the steps makes those along
    it long whatever their Brownian part, and weighting them as if at rest overcorrects D along
    the flow (+1.3 % at 2 px per frame for 2.5 px steps in a 122 px field; docs/accuracy.md,
    "A slow flow's size").

    Parameters
    ----------
    dy_px, dx_px : ndarray
        Steps in the image (the drift not taken out), pixels.
    field_px : (float, float)
        Height and width of the detectable area, pixels.

    Returns
    -------
    ndarray
        Weights >= 1 (NaN for steps longer than the field, which cannot be seen).
    """
    height, width = (require_positive("field_px", float(side)) for side in field_px)
    with np.errstate(divide="ignore"):
        seen = (1.0 - np.abs(dy_px) / height) * (1.0 - np.abs(dx_px) / width)
        return np.where(seen > 0, 1.0 / seen, np.nan)


def track_sums(
    tracks: pd.DataFrame,
    pixel_size_um: float,
    *,
    max_step_frames: int = MAX_STEP_FRAMES,
    field_px: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Per-track sums of steps, squared steps, lag-1 step products and squared displacements.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Linked localizations (``particle, frame, y, x``; positions in pixels), optionally with
        the drift taken out of them (:data:`DRIFT_COLUMNS`, as :func:`subtract_drift` gives
        them): the edge weights are computed from the steps in the image, drift included.
    pixel_size_um : float
        Pixel size in µm.
    max_step_frames : int
        Steps between successive localizations of a track that span up to this many frames are
        used (1: consecutive frames only; more: also the steps across gaps the linker bridged).
    field_px : (float, float), optional
        Height and width (pixels) of the detectable area: steps are weighted by
        :func:`edge_weights` (None: unweighted).

    Returns
    -------
    pandas.DataFrame
        Indexed by particle; columns ``n_frames``, ``n_steps`` (steps used), ``sum_w`` (their
        summed edge weights; ``n_steps`` without ``field_px``), ``sum_lag`` (weighted frames
        those steps span), ``sum_dy``, ``sum_dx``, ``sum_dy2``, ``sum_dx2`` (weighted, µm, µm²),
        ``n_pairs``, ``sum_pair_w`` (their edge weights: all three points inside) and
        ``sum_cyy``, ``sum_cxx`` (weighted products of adjacent steps, µm²), for every lag k in
        :data:`STEP_CORRELATION_LAGS` ``n_pairs{k}``, ``sum_c{k}`` (products of steps k frames
        apart within an unbroken stretch, y and x summed, µm²), and for every lag in
        :data:`MSD_LAGS` and :data:`LONG_MSD_LAGS` ``n_lag{k}``, ``sum_sq_lag{k}`` (squared 2-D
        displacements, µm²).
    """
    _check_tracks(tracks)
    pixel_size_um = require_positive("pixel_size_um", pixel_size_um)
    ordered = tracks.sort_values(["particle", "frame"], kind="stable")
    particles, owner = np.unique(ordered["particle"].to_numpy(), return_inverse=True)
    frame = ordered["frame"].to_numpy(dtype=np.int64)
    y = ordered["y"].to_numpy(dtype=np.float64) * pixel_size_um
    x = ordered["x"].to_numpy(dtype=np.float64) * pixel_size_um
    # where the particles were in the image (pixels): the field's edges cut steps there
    image_y, image_x = (
        ordered[axis].to_numpy(dtype=np.float64)
        + (ordered[drift].to_numpy(dtype=np.float64) if drift in ordered else 0.0)
        for axis, drift in zip(("y", "x"), DRIFT_COLUMNS, strict=True)
    )
    n_tracks = len(particles)

    def per_track(index: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(owner[index], weights=values, minlength=n_tracks)

    sums = {"n_frames": np.bincount(owner, minlength=n_tracks).astype(np.float64)}
    # steps: rows i -> i+1 of the same track, 1..max_step_frames frames apart
    span = frame[1:] - frame[:-1]
    step = np.flatnonzero((owner[1:] == owner[:-1]) & (span <= max_step_frames))
    dy, dx = y[step + 1] - y[step], x[step + 1] - x[step]
    weight = (
        np.ones(len(step))
        if field_px is None
        else edge_weights(
            image_y[step + 1] - image_y[step], image_x[step + 1] - image_x[step], field_px
        )
    )
    sums.update(
        n_steps=per_track(step),
        sum_w=per_track(step, weight),
        sum_lag=per_track(step, weight * span[step]),
        sum_dy=per_track(step, weight * dy),
        sum_dx=per_track(step, weight * dx),
        sum_dy2=per_track(step, weight * dy * dy),
        sum_dx2=per_track(step, weight * dx * dx),
    )
    # adjacent steps share their middle point (rows i, i+1, i+2 of one track, gaps or not)
    is_step = np.zeros(len(frame), dtype=bool)
    is_step[step] = True
    pair = np.flatnonzero(is_step[:-1] & is_step[1:])
    # the correlation diagnostics at lags >= 2 use one-frame steps of unbroken stretches only
    is_step[step[frame[step + 1] - frame[step] != 1]] = False
    if field_px is None:
        pair_weight = np.ones(len(pair))
    else:
        # a pair is seen when its three points are inside: weight by the span of the three
        three_y = np.stack([image_y[pair], image_y[pair + 1], image_y[pair + 2]])
        three_x = np.stack([image_x[pair], image_x[pair + 1], image_x[pair + 2]])
        pair_weight = edge_weights(np.ptp(three_y, axis=0), np.ptp(three_x, axis=0), field_px)
    sums.update(
        n_pairs=per_track(pair),
        sum_pair_w=per_track(pair, pair_weight),
        sum_cyy=per_track(
            pair, pair_weight * (y[pair + 1] - y[pair]) * (y[pair + 2] - y[pair + 1])
        ),
        sum_cxx=per_track(
            pair, pair_weight * (x[pair + 1] - x[pair]) * (x[pair + 2] - x[pair + 1])
        ),
    )
    for lag in STEP_CORRELATION_LAGS:
        # steps k rows apart with k frames between them: the stretch between them is unbroken
        first = np.flatnonzero(is_step[:-lag] & is_step[lag:])
        first = first[frame[first + lag] - frame[first] == lag]
        products = (y[first + 1] - y[first]) * (y[first + lag + 1] - y[first + lag]) + (
            x[first + 1] - x[first]
        ) * (x[first + lag + 1] - x[first + lag])
        sums[f"n_pairs{lag}"] = per_track(first)
        sums[f"sum_c{lag}"] = per_track(first, products)
    for lag in MSD_LAGS + LONG_MSD_LAGS:
        # frames increase within a track, so frame t + lag is at most `lag` rows further
        starts, squares = [], []
        for rows in range(1, lag + 1):
            start = np.flatnonzero(
                (owner[rows:] == owner[:-rows]) & (frame[rows:] - frame[:-rows] == lag)
            )
            starts.append(start)
            squares.append((y[start + rows] - y[start]) ** 2 + (x[start + rows] - x[start]) ** 2)
        start, square = np.concatenate(starts), np.concatenate(squares)
        sums[f"n_lag{lag}"] = per_track(start)
        sums[f"sum_sq_lag{lag}"] = per_track(start, square)
    return pd.DataFrame(sums, index=pd.Index(particles, name="particle"))[list(_SUM_COLUMNS)]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def _mean_sq_step(sums: pd.DataFrame) -> np.ndarray:
    """Mean squared lag-1 step per axis, averaged over y and x (µm²).

    Steps across gaps (k frames) enter through ``E[dx_k^2] = 2 D k dt - 2 c``: the lag-1
    equivalent is ``(sum dx_k^2 + 2 N c) / K - 2 c`` (N steps spanning K frames), the plain mean
    squared step when there are no gaps.
    """
    n_steps, n_frames = sums["sum_w"].to_numpy(), sums["sum_lag"].to_numpy()
    per_axis_sum = 0.5 * (sums["sum_dy2"].to_numpy() + sums["sum_dx2"].to_numpy())
    product = _mean_step_product(sums)
    # without a step pair (c unknown) only gap-free tracks have a lag-1 mean squared step
    product = np.where(np.isfinite(product), product, np.where(n_frames == n_steps, 0.0, np.nan))
    return _ratio(per_axis_sum + 2 * n_steps * product, n_frames) - 2 * product


def _mean_step_product(sums: pd.DataFrame) -> np.ndarray:
    """Mean product of successive steps per axis, averaged over y and x (µm²)."""
    return _ratio(
        sums["sum_cyy"].to_numpy() + sums["sum_cxx"].to_numpy(), 2 * sums["sum_pair_w"].to_numpy()
    )


def covariance_D(sums: pd.DataFrame, frame_interval_s: float) -> np.ndarray:
    """Covariance-estimator D (µm²/s) for every row of ``sums``; NaN without a step pair."""
    return (
        _mean_sq_step(sums) / (2 * frame_interval_s) + _mean_step_product(sums) / frame_interval_s
    )


def localization_variance(sums: pd.DataFrame, blur: float) -> np.ndarray:
    """Covariance-estimator localization variance per axis (µm²); may come out negative."""
    return blur * _mean_sq_step(sums) + (2 * blur - 1) * _mean_step_product(sums)


def lag1_covariance_ratio(sums: pd.DataFrame) -> np.ndarray:
    """<dx_n dx_{n+1}> / <dx_n^2>: 0 for pure diffusion, -1/2 for pure noise, up to
    R / (1 - 2R) with motion blur, above that for drift or directed motion."""
    return _ratio(_mean_step_product(sums), _mean_sq_step(sums))


def msd_slope_D(
    sums: pd.DataFrame, frame_interval_s: float, lags: tuple[int, ...] = MSD_LAGS
) -> np.ndarray:
    """D (µm²/s) from a straight-line fit of the 2-D MSD over ``lags`` (default :data:`MSD_LAGS`).

    The intercept absorbs localization noise and blur, so the slope estimates D without bias for
    Brownian motion. Rows with data at fewer than two lags give NaN.
    """
    lag_array = np.asarray(lags, dtype=np.float64)
    msd = np.column_stack(
        [
            _ratio(sums[f"sum_sq_lag{lag}"].to_numpy(), sums[f"n_lag{lag}"].to_numpy())
            for lag in lags
        ]
    )
    used = np.isfinite(msd)
    count = used.sum(axis=1)
    weights = used.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lag_mean = (weights * lag_array).sum(axis=1) / count
        msd_mean = np.where(used, msd, 0).sum(axis=1) / count
        centred_lag = np.where(used, lag_array - lag_mean[:, None], 0)
        slope = (centred_lag * np.where(used, msd - msd_mean[:, None], 0)).sum(axis=1) / (
            centred_lag**2
        ).sum(axis=1)
    return np.where(count >= 2, slope / (4 * frame_interval_s), np.nan)


def step_correlation(sums: pd.DataFrame, lag: int) -> np.ndarray:
    """<dx_n dx_{n+lag}> / <dx_n^2> (per axis, y and x pooled): 0 for Brownian motion at lag >= 2.

    Blur and localization noise correlate only neighbouring steps (lag 1), so a correlation at
    lag 2 or more means the motion itself is correlated (flow, vibration, convection, crowding)
    or the frames are (video compression).
    """
    mean_product = _ratio(sums[f"sum_c{lag}"].to_numpy(), 2 * sums[f"n_pairs{lag}"].to_numpy())
    return _ratio(mean_product, _mean_sq_step(sums))


def subtract_drift(tracks: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Remove the common motion of all particles (like ``trackpy.compute_drift``), smoothed.

    The mean step of all particles between consecutive frames, averaged over a moving window of
    enough frames to hold :data:`DRIFT_STEPS_PER_WINDOW` steps, is accumulated and subtracted.
    The noise of that estimate takes about 3/``DRIFT_STEPS_PER_WINDOW`` of D with it (variance
    and lag-1 covariance together): 0.06 %. Drifts that change faster than the window are not
    removed (nor is a flow that varies across the field). Frames more than
    :data:`DRIFT_BREAK_FRAMES` apart with no track between them are separate recordings (pooled
    captures): each has its own drift, estimated from its own steps.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Linked localizations (``particle, frame, y, x``; pixels).

    Returns
    -------
    corrected : pandas.DataFrame
        ``tracks`` with the drift subtracted from ``y`` and ``x``, and the drift so taken out
        (added to any already there) in :data:`DRIFT_COLUMNS`, for the edge weights of
        :func:`track_sums`.
    drift : pandas.DataFrame
        Indexed by frame (those of each recording, first to last): cumulative drift ``y``,
        ``x`` (pixels) that was subtracted.
    """
    _check_tracks(tracks)
    if tracks.empty:
        return tracks.copy(), pd.DataFrame({"y": [], "x": []}, dtype=float)
    ordered = tracks.sort_values(["particle", "frame"], kind="stable")
    steps = ordered.groupby("particle")[["frame", "y", "x"]].diff()
    valid = steps["frame"] == 1
    per_frame = (
        pd.DataFrame(
            {"frame": ordered["frame"][valid], "y": steps["y"][valid], "x": steps["x"][valid]}
        )
        .groupby("frame")
        .agg(y=("y", "sum"), x=("x", "sum"), n=("y", "size"))
    )
    present = np.unique(tracks["frame"].to_numpy())
    breaks = np.flatnonzero(np.diff(present) > DRIFT_BREAK_FRAMES) + 1
    drift = pd.concat(
        [
            _segment_drift(per_frame, int(segment[0]), int(segment[-1]))
            for segment in np.split(present, breaks)
        ]
    )
    offsets = drift.reindex(tracks["frame"].to_numpy()).to_numpy()
    corrected = tracks.copy()
    corrected["y"] = tracks["y"].to_numpy() - offsets[:, 0]
    corrected["x"] = tracks["x"].to_numpy() - offsets[:, 1]
    for column, offset in zip(DRIFT_COLUMNS, offsets.T, strict=True):
        corrected[column] = offset + (tracks[column].to_numpy() if column in tracks else 0.0)
    return corrected, drift


def _segment_drift(per_frame: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    """The cumulative drift (``y``, ``x``, pixels) of frames ``first`` to ``last`` from the
    summed steps ``per_frame`` (by frame: ``y``, ``x``, ``n``), smoothed over
    :data:`DRIFT_STEPS_PER_WINDOW` steps (see :func:`subtract_drift`)."""
    frames = np.arange(first, last + 1)
    steps = per_frame.reindex(frames, fill_value=0.0)
    mean_steps = steps["n"].sum() / max(len(frames) - 1, 1)
    window = int(
        min(len(frames), max(1, math.ceil(DRIFT_STEPS_PER_WINDOW / max(mean_steps, 1e-9))))
    )
    rolling = steps[["y", "x", "n"]].rolling(window, center=True, min_periods=1).sum()
    velocity = rolling[["y", "x"]].div(rolling["n"].where(rolling["n"] > 0), axis=0).fillna(0.0)
    velocity.iloc[0] = 0.0  # a frame's step comes from the frame before: none for the first
    return velocity.cumsum()


def track_diffusion(
    tracks: pd.DataFrame,
    pixel_size_um: float,
    frame_interval_s: float,
    exposure_s: float,
    temperature_c: float,
    viscosity_pa_s: float,
    *,
    max_step_frames: int = MAX_STEP_FRAMES,
    field_px: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Diffusion coefficient and hydrodynamic diameter of every track.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Linked localizations (``particle, frame, y, x``; pixels).
    pixel_size_um : float
        Pixel size, µm.
    frame_interval_s : float
        Time between frames, s.
    exposure_s : float
        Exposure time, s (only the localization-error estimate depends on it).
    temperature_c : float
        Sample temperature, °C.
    viscosity_pa_s : float
        Solvent viscosity, Pa·s.
    max_step_frames : int
        Longest step used, in frames (:func:`track_sums`).
    field_px : (float, float), optional
        Detectable area (height, width; pixels) for the edge weights (:func:`track_sums`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PER_TRACK_COLUMNS`: ``D_um2_s`` (covariance estimator; NaN for tracks
        without two successive steps), ``D_msd_um2_s`` (MSD-slope diagnostic), ``sigma_um``
        (localization error, NaN where its estimate is negative), ``msd1_um2`` (mean squared
        lag-1 step summed over both axes) and ``diameter_nm`` (Stokes–Einstein; NaN for D <= 0).
    """
    frame_interval_s = require_positive("frame_interval_s", frame_interval_s)
    blur = blur_factor(exposure_s, frame_interval_s)
    sums = track_sums(tracks, pixel_size_um, max_step_frames=max_step_frames, field_px=field_px)
    diffusion = covariance_D(sums, frame_interval_s)
    variance = localization_variance(sums, blur)
    with np.errstate(invalid="ignore"):
        sigma = np.where(variance >= 0, np.sqrt(np.abs(variance)), np.nan)
    table = pd.DataFrame(
        {
            "particle": sums.index.to_numpy(),
            "n_frames": sums["n_frames"].to_numpy(dtype=np.int64),
            "n_steps": sums["n_steps"].to_numpy(dtype=np.int64),
            "D_um2_s": diffusion,
            "D_msd_um2_s": msd_slope_D(sums, frame_interval_s),
            "sigma_um": sigma,
            "msd1_um2": 2 * _mean_sq_step(sums),
            "diameter_nm": np.asarray(
                stokes_einstein_diameter_nm(diffusion, temperature_c, viscosity_pa_s), dtype=float
            ).reshape(-1),
        }
    )
    return table[list(PER_TRACK_COLUMNS)]


@dataclass(frozen=True)
class EnsembleEstimate:
    """Pooled estimate over all steps of all tracks (each track weighted by its steps).

    Standard errors are leave-one-track-out jackknife errors, so they include track-to-track
    differences (polydispersity) as well as the noise of the steps. NaN where not computable.
    """

    D_um2_s: float
    sigma_um: float
    lag1_cov_ratio: float
    n_steps: int
    n_pairs: int = 0
    n_tracks: int = 0
    D_se_um2_s: float = math.nan
    lag1_cov_ratio_se: float = math.nan
    D_msd_um2_s: float = math.nan
    D_msd_se_um2_s: float = math.nan
    #: localization variance per axis, µm² (negative values kept: they are a diagnostic)
    sigma2_um2: float = math.nan
    sigma2_se_um2: float = math.nan
    drift_y_um_s: float = math.nan
    drift_x_um_s: float = math.nan
    drift_y_se_um_s: float = math.nan
    drift_x_se_um_s: float = math.nan
    #: the blur coefficient R used for sigma (NaN when the exposure was not given)
    blur_R: float = math.nan
    frame_interval_s: float = math.nan
    #: step correlation at each lag of :data:`STEP_CORRELATION_LAGS` and its jackknife error
    step_correlation: tuple[float, ...] = ()
    step_correlation_se: tuple[float, ...] = ()
    #: D from the MSD slope over :data:`LONG_MSD_LAGS`, and its jackknife error
    D_long_lag_um2_s: float = math.nan
    D_long_lag_se_um2_s: float = math.nan

    def correlated_lags(self) -> list[int]:
        """Lags >= 2 whose step correlation is significant (and at least
        :data:`MIN_STEP_CORRELATION`): the motion is not Brownian at those time scales."""
        return [
            lag
            for lag, value, se in zip(
                STEP_CORRELATION_LAGS, self.step_correlation, self.step_correlation_se, strict=False
            )
            if _beyond(abs(value), MIN_STEP_CORRELATION, se)
        ]


def _jackknife_se(statistic: Callable[[pd.DataFrame], np.ndarray], sums: pd.DataFrame) -> float:
    """Leave-one-track-out jackknife standard error of ``statistic(sums-like table)``."""
    n_tracks = len(sums)
    if n_tracks < 3:
        return math.nan
    leave_one_out = sums.sum().to_numpy()[None, :] - sums.to_numpy()
    values = statistic(pd.DataFrame(leave_one_out, columns=sums.columns))
    values = values[np.isfinite(values)]
    if len(values) < 3:
        return math.nan
    return float(np.sqrt((len(values) - 1) / len(values) * np.sum((values - values.mean()) ** 2)))


def ensemble_diffusion(
    tracks: pd.DataFrame,
    pixel_size_um: float,
    frame_interval_s: float,
    exposure_s: float | None = None,
    *,
    max_step_frames: int = MAX_STEP_FRAMES,
    field_px: tuple[float, float] | None = None,
) -> EnsembleEstimate:
    """Pooled covariance estimate of D over all steps of all tracks, with diagnostics.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Linked localizations (``particle, frame, y, x``; pixels).
    pixel_size_um : float
        Pixel size, µm.
    frame_interval_s : float
        Time between frames, s.
    exposure_s : float, optional
        Exposure time, s; needed only for ``sigma_um`` (NaN without it).
    max_step_frames : int
        Longest step used, in frames (:func:`track_sums`).
    field_px : (float, float), optional
        Detectable area (height, width; pixels) for the edge weights (:func:`track_sums`).

    Returns
    -------
    EnsembleEstimate
        D, its jackknife error, localization error, lag-1 covariance ratio, MSD-slope D and
        mean drift velocity.
    """
    frame_interval_s = require_positive("frame_interval_s", frame_interval_s)
    blur = math.nan if exposure_s is None else blur_factor(exposure_s, frame_interval_s)
    sums = track_sums(tracks, pixel_size_um, max_step_frames=max_step_frames, field_px=field_px)
    total = sums.sum().to_frame().T

    def one(values: np.ndarray) -> float:
        return float(values[0]) if len(values) else math.nan

    def D(table: pd.DataFrame) -> np.ndarray:
        return covariance_D(table, frame_interval_s)

    def D_msd(table: pd.DataFrame) -> np.ndarray:
        return msd_slope_D(table, frame_interval_s)

    def drift(axis: str) -> Callable[[pd.DataFrame], np.ndarray]:
        return lambda table: (
            _ratio(table[f"sum_d{axis}"].to_numpy(), table["sum_lag"].to_numpy()) / frame_interval_s
        )

    def D_long(table: pd.DataFrame) -> np.ndarray:
        return msd_slope_D(table, frame_interval_s, LONG_MSD_LAGS)

    def correlation(lag: int) -> Callable[[pd.DataFrame], np.ndarray]:
        return lambda table: step_correlation(table, lag)

    variance = one(localization_variance(total, blur)) if len(sums) else math.nan
    return EnsembleEstimate(
        D_um2_s=one(D(total)),
        sigma_um=math.sqrt(variance) if variance >= 0 else math.nan,
        lag1_cov_ratio=one(lag1_covariance_ratio(total)),
        n_steps=int(sums["n_steps"].sum()),
        n_pairs=int(sums["n_pairs"].sum()),
        n_tracks=len(sums),
        D_se_um2_s=_jackknife_se(D, sums),
        lag1_cov_ratio_se=_jackknife_se(lag1_covariance_ratio, sums),
        D_msd_um2_s=one(D_msd(total)),
        D_msd_se_um2_s=_jackknife_se(D_msd, sums),
        sigma2_um2=variance,
        sigma2_se_um2=_jackknife_se(lambda table: localization_variance(table, blur), sums),
        drift_y_um_s=one(drift("y")(total)),
        drift_x_um_s=one(drift("x")(total)),
        drift_y_se_um_s=_jackknife_se(drift("y"), sums),
        drift_x_se_um_s=_jackknife_se(drift("x"), sums),
        blur_R=blur,
        frame_interval_s=frame_interval_s,
        step_correlation=tuple(one(correlation(lag)(total)) for lag in STEP_CORRELATION_LAGS),
        step_correlation_se=tuple(
            _jackknife_se(correlation(lag), sums) for lag in STEP_CORRELATION_LAGS
        ),
        D_long_lag_um2_s=one(D_long(total)),
        D_long_lag_se_um2_s=_jackknife_se(D_long, sums),
    )


def systematic_errors(
    ensemble: EnsembleEstimate,
    *,
    before_drift_D_um2_s: float = math.nan,
    bright_D_um2_s: float = math.nan,
    relinked_D_um2_s: Sequence[float] = (),
) -> dict[str, float]:
    """Relative systematic uncertainty of the ensemble D, by cause (the jackknife is separate).

    - ``estimators``: the standard deviation of ln D over the covariance estimator, the MSD slope
      over lags 1-4 and the MSD slope over :data:`LONG_MSD_LAGS` (they agree for Brownian motion
      whatever the blur and noise; their spread measures how far the movie is from that model).
    - ``drift``: half the change made by subtracting the drift (the drift need not be uniform).
    - ``threshold``: half the change of D when tracks near the detection threshold (mean mass
      under twice ``minmass``) are left out: how much the threshold shapes the result.
    - ``linking``: the largest change of D when the localizations are linked again with a
      narrower and a wider search range: where particles are crowded for their steps, links are
      ambiguous and the result depends on the range (fast, small particles at high density).
      The whole change, not half: the linker's bias (large true steps lost to nearer
      localizations, against wrong links) is one-sided and was seen beyond the wider range's
      result (50 nm at 30 fps on an independent simulator, docs/accuracy.md "Held-out").
    - ``total``: their root sum of squares.

    Parameters
    ----------
    ensemble : EnsembleEstimate
        The estimate reported (after drift subtraction).
    before_drift_D_um2_s : float
        The covariance D of the same tracks without drift subtraction (NaN: no drift term).
    bright_D_um2_s : float
        The covariance D of the tracks away from the threshold (NaN: no threshold term).
    relinked_D_um2_s : sequence of float
        The covariance D of the same localizations linked with other search ranges (empty or
        NaN: no linking term).

    Returns
    -------
    dict
        ``estimators``, ``drift``, ``threshold``, ``linking``, ``total`` (fractions of D;
        d ∝ 1/D, so also fractions of the diameter).
    """
    D = ensemble.D_um2_s

    def change(other: float) -> float:
        if not (np.isfinite(other) and other > 0 and np.isfinite(D) and D > 0):
            return 0.0
        return abs(math.log(other / D))

    def half_change(other: float) -> float:
        return change(other) / 2

    estimates = [
        value
        for value in (D, ensemble.D_msd_um2_s, ensemble.D_long_lag_um2_s)
        if np.isfinite(value) and value > 0
    ]
    estimators = float(np.std(np.log(estimates), ddof=1)) if len(estimates) >= 2 else 0.0
    parts = {
        "estimators": estimators,
        "drift": half_change(before_drift_D_um2_s),
        "threshold": half_change(bright_D_um2_s),
        "linking": max((change(other) for other in relinked_D_um2_s), default=0.0),
    }
    parts["total"] = math.sqrt(sum(value**2 for value in parts.values()))
    return parts


def size_statistics(diameters_nm: ArrayLike) -> dict[str, float]:
    """Summary statistics of a size distribution (each track counts once).

    Parameters
    ----------
    diameters_nm : array-like
        Diameters in nm; NaN (tracks with D <= 0) are excluded but counted in ``n_excluded``.

    Returns
    -------
    dict
        ``n``, ``n_excluded``, ``mean``, ``mode``, ``sd`` (sample SD), ``d10``, ``d50``, ``d90``
        (percentiles) and ``span = (d90 - d10) / d50``. The mode is the maximum of a Gaussian
        kernel density estimate of log10(diameter) (Scott's bandwidth), i.e. the most frequent
        size on a logarithmic size axis. NaN where there are too few values.
    """
    values = np.asarray(diameters_nm, dtype=np.float64).reshape(-1)
    valid = values[np.isfinite(values) & (values > 0)]
    result = {
        "n": int(len(valid)),
        "n_excluded": int(len(values) - len(valid)),
        "mean": math.nan,
        "mode": math.nan,
        "sd": math.nan,
        "d10": math.nan,
        "d50": math.nan,
        "d90": math.nan,
        "span": math.nan,
    }
    if not len(valid):
        return result
    d10, d50, d90 = np.percentile(valid, [10, 50, 90])
    result.update(
        mean=float(valid.mean()),
        mode=_log_kde_mode(valid),
        d10=float(d10),
        d50=float(d50),
        d90=float(d90),
        span=float((d90 - d10) / d50),
    )
    if len(valid) > 1:
        result["sd"] = float(valid.std(ddof=1))
    return result


def _log_kde_mode(diameters_nm: np.ndarray) -> float:
    """Mode of a Gaussian KDE of log10(diameter), on a fine grid (the value itself if all equal)."""
    logs = np.log10(diameters_nm)
    if len(logs) < 2 or np.ptp(logs) == 0:
        return float(10 ** logs[0])
    kde = stats.gaussian_kde(logs)
    bandwidth = float(np.sqrt(kde.covariance[0, 0]))
    grid = np.linspace(logs.min() - 3 * bandwidth, logs.max() + 3 * bandwidth, 2048)
    return float(10 ** grid[np.argmax(kde(grid))])


def cli_flag(name: str) -> str:
    """How the command line names a setting: its flag (``min_track_length`` ->
    ``--min-track-length``), the default naming of :meth:`NoTracks.reason`."""
    return SETTINGS[name].flag


@dataclass(frozen=True)
class NoTracks:
    """Why no track was sized: the counts the reason is said from (the summary's
    ``no_tracks``), so that each front end can say it naming its own controls.

    Attributes
    ----------
    n_localizations : int or None
        Particles found in all the frames analysed (0: the detection found nothing).
    n_linked : int
        Tracks linked over more than one frame, before the length filter.
    longest_frames : int
        Frames of the longest of them (0 when none).
    min_track_length : int
        The length filter's minimum (frames).
    """

    n_localizations: int | None
    n_linked: int
    longest_frames: int
    min_track_length: int

    @classmethod
    def of(
        cls,
        track_lengths: ArrayLike | None,
        min_track_length: int,
        n_localizations: int | None = None,
    ) -> NoTracks:
        """The counts of an analysis that sized no track.

        Parameters
        ----------
        track_lengths : array-like or None
            Frames of every linked track before the length filter (a localization linked to
            none is a track of 1 frame: only 1-frame tracks say none was linked).
        min_track_length : int
            The length filter's minimum (frames).
        n_localizations : int, optional
            Particles found in all the frames analysed.
        """
        lengths = np.asarray([] if track_lengths is None else track_lengths, dtype=float)
        linked = lengths[lengths > 1]  # a localization linked to none is a "track" of 1 frame
        return cls(
            None if n_localizations is None else int(n_localizations),
            len(linked),
            int(linked.max()) if len(linked) else 0,
            int(min_track_length),
        )

    def reason(self, name: Callable[[str], str] = cli_flag) -> str:
        """Why no track was sized, and what to try: no particle found at all, every linked
        track shorter than the length filter, or none linked from the particles found.

        Parameters
        ----------
        name : callable
            Setting name (of :data:`napari_pynta.parameters.SETTINGS`) -> how the text names
            it where it is shown: the command-line flag by default (:func:`cli_flag`); the GUI
            passes the labels of its Tracking form.

        Returns
        -------
        str
            One warning sentence (the summary's ``unsized_reason`` is said with the flags).
        """
        if self.n_localizations == 0:
            return (
                "No track was sized: no particle was found in the frames analysed (0 "
                "localizations). Look at the frames: a dark, empty or out-of-focus movie has "
                "none; else the detection threshold is too high, the spot size wrong or the "
                f"particles dark on a bright background: lower {name('minmass')}, set "
                f"{name('diameter_px')} to the spots' size, or switch on {name('invert')}."
            )
        length = name("min_track_length")
        if (
            self.n_linked
            and 0 < self.min_track_length
            and self.longest_frames < self.min_track_length
        ):
            were = "track was" if self.n_linked == 1 else "tracks were"
            return (
                f"No track is as long as {length} ({self.min_track_length} frames): "
                f"{self.n_linked} {were} linked, the longest {self.longest_frames} "
                f"frames. Lower {length} (at least 3), or record longer tracks (a lower "
                "concentration, a higher frame rate, particles that stay in focus)."
            )
        found = (
            ""
            if self.n_localizations is None
            else f" from the {self.n_localizations} localizations"
        )
        return (
            f"No tracks were found{found}: check the detection settings "
            f"({name('diameter_px')}, {name('minmass')}) and the linking search range "
            f"({name('search_range_px')}), or whether the frames show particles at all."
        )


def quality_warnings(
    per_track: pd.DataFrame,
    ensemble: EnsembleEstimate,
    *,
    min_tracks: int = MIN_TRACKS,
    min_median_steps: int = MIN_MEDIAN_STEPS,
    track_lengths: ArrayLike | None = None,
    min_track_length: int = 0,
    n_localizations: int | None = None,
    before_drift: EnsembleEstimate | None = None,
    diameter_of: Callable[[float], float] | None = None,
) -> list[str]:
    """Plain-language warnings about a measurement whose sizes should not be trusted blindly.

    Parameters
    ----------
    per_track : pandas.DataFrame
        Output of :func:`track_diffusion` (the tracks that were sized).
    ensemble : EnsembleEstimate
        Output of :func:`ensemble_diffusion` for the same tracks (with ``exposure_s``).
    min_tracks : int
        Fewer tracks than this give a warning.
    min_median_steps : int
        A median track shorter than this (in steps) gives a warning.
    track_lengths : array-like, optional
        Frames of every linked track *before* the length filter (judged instead of the sized
        tracks, which the filter made long).
    min_track_length : int
        The length filter's minimum (frames), to say how many tracks it dropped.
    n_localizations : int, optional
        Particles found in the frames analysed (to say why no track was sized).
    before_drift : EnsembleEstimate, optional
        The estimate before drift subtraction (for the drift warning); default ``ensemble``.
    diameter_of : callable, optional
        D (µm²/s) -> diameter (nm), to state diameters in the warnings.

    Returns
    -------
    list of str
        One sentence per problem found; empty when nothing looks wrong.
    """
    warnings: list[str] = []
    n_tracks = len(per_track)
    if n_tracks == 0:
        return [NoTracks.of(track_lengths, min_track_length, n_localizations).reason()]
    if n_tracks < min_tracks:
        were = "track was" if n_tracks == 1 else "tracks were"
        warnings.append(
            f"Only {n_tracks} {were} sized; at least {min_tracks} are needed "
            "for a meaningful size distribution (record longer or more particles)."
        )
    short = _short_track_warning(per_track, track_lengths, min_track_length, min_median_steps)
    if short:
        warnings.append(short)
    invalid = float(np.mean(~(per_track["D_um2_s"] > 0)))
    if invalid > INVALID_TRACK_FRACTION:
        warnings.append(
            f"{invalid:.0%} of the tracks have no positive diffusion coefficient (noise "
            "dominates their steps); they are left out of the size distribution."
        )
    warnings.extend(_motion_warnings(ensemble, before_drift or ensemble, diameter_of))
    return warnings


def _short_track_warning(
    per_track: pd.DataFrame,
    track_lengths: ArrayLike | None,
    min_track_length: int,
    min_median_steps: int,
) -> str | None:
    """Judge the track lengths before the length filter (the sized tracks are long by choice).

    Many tiny fragments (particles grazing the focal layer) are normal; what matters is where the
    steps are: half of all steps lie in tracks shorter than the step-weighted median length.
    """
    advice = (
        "per-track sizes are broad, and fast particles, which leave the focus soonest, are "
        "under-counted in mixtures; raise --memory, lower the particle concentration or the frame "
        "interval."
    )
    lengths = np.asarray(track_lengths if track_lengths is not None else [], dtype=float)
    steps = lengths - 1
    if steps.sum() <= 0:
        median_steps = float(np.median(per_track["n_steps"]))
        if median_steps < min_median_steps:
            return f"Tracks are short (median {median_steps:.0f} steps): {advice}"
        return None
    order = np.argsort(steps)
    cumulative = np.cumsum(steps[order])
    weighted_median = float(steps[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])
    if weighted_median >= STEP_WEIGHTED_MEDIAN_FACTOR * min_median_steps:
        return None
    dropped = float(steps[lengths < min_track_length].sum() / steps.sum())
    return (
        f"Tracks are short: half of all steps are in tracks of {weighted_median:.0f} steps or "
        f"fewer, and the length filter (--min-track-length {min_track_length}) dropped "
        f"{dropped:.0%} of the steps: {advice}"
    )


def _beyond(value: float, limit: float, se: float) -> bool:
    """True when ``value`` exceeds ``limit`` by more than :data:`SIGNIFICANCE_SE` errors."""
    margin = SIGNIFICANCE_SE * se if np.isfinite(se) else 0.0
    return bool(np.isfinite(value) and value - margin > limit)


def _non_brownian_warning(
    ensemble: EnsembleEstimate, diameter_of: Callable[[float], float] | None
) -> str | None:
    """Plain words when steps are correlated beyond one frame, with the long-lag size."""
    lags = ensemble.correlated_lags()
    if not lags:
        return None
    values = dict(zip(STEP_CORRELATION_LAGS, ensemble.step_correlation, strict=False))
    errors = dict(zip(STEP_CORRELATION_LAGS, ensemble.step_correlation_se, strict=False))
    listed = ", ".join(f"lag {lag}: {values[lag]:+.2f} ± {errors[lag]:.2f}" for lag in lags)
    first, last = LONG_MSD_LAGS[0], LONG_MSD_LAGS[-1]
    D, D_long = ensemble.D_um2_s, ensemble.D_long_lag_um2_s
    if diameter_of is not None and np.isfinite(D_long) and D_long > 0:
        sizes = (
            f"The covariance estimate ({diameter_of(D):.0f} nm) assumes Brownian steps; the "
            f"mean squared displacement over lags {first}-{last} frames, beyond the correlation, "
            f"gives {diameter_of(D_long):.0f} nm (summary: diameter_long_lag_nm)."
        )
    else:
        sizes = f"Compare with the MSD over lags {first}-{last} frames (D_long_lag_um2_s)."
    return (
        f"The motion is not Brownian at short time scales: steps are correlated with the steps "
        f"{', '.join(str(lag) for lag in lags)} frames later ({listed}), which Brownian motion "
        "never gives, whatever the blur and the noise. Likely causes: compressed video (a codec "
        "that predicts frames from earlier ones), vibration of the stage or the camera, flow or "
        "convection, crowding (particles pushing each other), or confinement (negative "
        f"correlations). {sizes}"
    )


def _motion_warnings(
    ensemble: EnsembleEstimate,
    before_drift: EnsembleEstimate,
    diameter_of: Callable[[float], float] | None = None,
) -> list[str]:
    """Warnings about drift, directed or correlated motion and wrong exposure."""
    warnings: list[str] = []
    D = ensemble.D_um2_s
    if not np.isfinite(D) or D <= 0:
        warnings.append(
            "The ensemble diffusion coefficient is not positive: the steps look like "
            "localization noise only (particles stuck, or wrong linking)."
        )
        return warnings
    R = ensemble.blur_R
    bound = R / (1 - 2 * R) if np.isfinite(R) else 0.25  # 0.25: the largest blur (R = 1/6)
    if _beyond(ensemble.lag1_cov_ratio, bound + 0.02, ensemble.lag1_cov_ratio_se):
        warnings.append(
            f"Successive steps are positively correlated (ratio {ensemble.lag1_cov_ratio:.2f}; "
            f"Brownian motion with this exposure gives at most {bound:.2f}): drift, flow or "
            "directed motion, or an exposure time longer than stated."
        )
    non_brownian = _non_brownian_warning(ensemble, diameter_of)
    if non_brownian:
        warnings.append(non_brownian)
    speed2 = before_drift.drift_y_um_s**2 + before_drift.drift_x_um_s**2
    significant = any(
        _beyond(abs(velocity), 0.0, se)
        for velocity, se in (
            (before_drift.drift_y_um_s, before_drift.drift_y_se_um_s),
            (before_drift.drift_x_um_s, before_drift.drift_x_se_um_s),
        )
    )
    # a drift v adds 1.5 v^2 dt per axis to the covariance estimate
    bias = 0.75 * speed2 * ensemble.frame_interval_s
    if significant and bias > DRIFT_BIAS_FRACTION * D:
        subtracted = "was subtracted" if before_drift is not ensemble else "was not subtracted"
        warnings.append(
            f"The sample drifts ({math.sqrt(speed2):.2f} µm/s on average), which would inflate D "
            f"by about {bias / D:.0%}; the common drift {subtracted}, but a flow that varies "
            "across the field still biases sizes: let the sample settle or close the flow cell."
        )
    D_msd = ensemble.D_msd_um2_s
    difference = abs(D_msd - D)
    if difference > MSD_DISAGREEMENT * D and _beyond(difference, 0.0, ensemble.D_msd_se_um2_s):
        warnings.append(
            f"The MSD slope (D = {D_msd:.3g} µm²/s) disagrees with the covariance estimate "
            f"(D = {D:.3g} µm²/s) by {abs(D_msd / D - 1):.0%}: the motion is not simple "
            "diffusion (confinement, drift or linking errors)."
        )
    if _beyond(-ensemble.sigma2_um2, 0.0, ensemble.sigma2_se_um2):
        warnings.append(
            "The estimated localization variance is negative: the exposure time is probably "
            "longer than stated (check --exposure-s)."
        )
    return warnings
