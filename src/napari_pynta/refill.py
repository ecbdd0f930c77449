"""Track-guided re-detection of the frames a track skipped (opt-in ``refill_gaps``).

The detector misses the frames in which a small, fast particle smeared most: its band-passed
mass in the 7 px mask falls just under ``minmass`` although its light is plain in the raw frame
(independent simulator, 50 nm at 30 fps: the missed particles' background-subtracted sum in a
3.5 px disk is a median 12.6 noise standard deviations, docs/accuracy.md, "Track-guided
re-detection"). After linking, each missed frame inside a track's gap (seen at ``t0`` and
``t1``, ``1 < t1 - t0 <= memory + 1``) is searched near the position interpolated between the
two ends, within :data:`RADIUS_SDS` standard deviations of the Brownian bridge there
(``s² (t - t0)(t1 - t) / (t1 - t0)`` per axis, ``s`` the per-axis rms step), away from every
localization of that frame (:data:`EXCLUSION_PX`). The brightest point of the raw frame's
disk sums there is moved to its wide centroid
(:func:`napari_pynta.detect.wide.refine_positions`) and kept when the disk sum at it, less
the median of a ring around it, is at least :data:`MIN_SNR` times the noise of such a sum.
The search area is small (about 200 px² at 50 nm / 30 fps), so noise alone reaches that
level there far less often than once in 10⁶ gaps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from napari_pynta.detect.wide import refine_positions

#: search radius around the interpolated position, in standard deviations of the bridge
RADIUS_SDS = 3.0
#: radius (px) of the disk whose background-subtracted sum tests a candidate
APERTURE_PX = 3.5
#: the background ring around the disk: from this many px beyond it ...
RING_GAP_PX = 2.0
#: ... out to this radius (px)
RING_OUTER_PX = 8.0
#: a candidate is kept when its disk sum is at least this many noise SDs of such a sum
MIN_SNR = 8.0
#: no candidate closer than this (px) to a localization of its frame (another particle's image
#: or a part of it)
EXCLUSION_PX = 6.0
#: disk radius (px) of the wide centroid that places a kept candidate
WIDE_RADIUS_PX = 5


def gap_frames(tracks: pd.DataFrame, memory: int, rms_step_px: float) -> pd.DataFrame:
    """The frames each track skipped, with the position interpolated between its two ends.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Linked localizations (``particle, frame, y, x``).
    memory : int
        The linker's memory: gaps of up to ``memory`` missed frames.
    rms_step_px : float
        Per-axis rms one-frame step (px).

    Returns
    -------
    pandas.DataFrame
        ``particle, frame, y, x, radius_px`` (``radius_px``: :data:`RADIUS_SDS` bridge SDs).
    """
    ordered = tracks.sort_values(["particle", "frame"], kind="stable")
    owner = ordered["particle"].to_numpy()
    frame = ordered["frame"].to_numpy(dtype=np.int64)
    y, x = ordered["y"].to_numpy(dtype=float), ordered["x"].to_numpy(dtype=float)
    gap = np.diff(frame)
    ends = np.flatnonzero((owner[1:] == owner[:-1]) & (gap > 1) & (gap <= memory + 1))
    rows: dict[str, list[Any]] = {name: [] for name in ("particle", "frame", "y", "x", "radius_px")}
    for i in ends:
        n = int(gap[i])
        for k in range(1, n):
            share = k / n
            rows["particle"].append(owner[i])
            rows["frame"].append(int(frame[i]) + k)
            rows["y"].append(y[i] + share * (y[i + 1] - y[i]))
            rows["x"].append(x[i] + share * (x[i + 1] - x[i]))
            rows["radius_px"].append(RADIUS_SDS * rms_step_px * math.sqrt(k * (n - k) / n))
    return pd.DataFrame(rows)


def _disk(radius: float) -> np.ndarray:
    reach = int(math.ceil(radius))
    yy, xx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    return (np.hypot(yy, xx) <= radius).astype(np.float64)


def aperture_snr(frame: np.ndarray, y: float, x: float, noise_sd: float) -> float:
    """Background-subtracted sum of ``frame`` in a disk of :data:`APERTURE_PX` at ``(y, x)``
    (less the median of the ring from :data:`RING_GAP_PX` beyond it to :data:`RING_OUTER_PX`),
    in noise SDs of such a sum (``noise_sd`` per pixel); NaN where the ring leaves the frame."""
    reach = int(math.ceil(RING_OUTER_PX))
    row, column = int(round(y)), int(round(x))
    height, width = frame.shape
    if row < reach or column < reach or row >= height - reach or column >= width - reach:
        return math.nan
    patch = frame[row - reach : row + reach + 1, column - reach : column + reach + 1]
    yy, xx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    distance = np.hypot(yy + row - y, xx + column - x)
    inside = distance <= APERTURE_PX
    ring = (distance > APERTURE_PX + RING_GAP_PX) & (distance <= RING_OUTER_PX)
    total = float(np.sum(patch[inside] - np.median(patch[ring])))
    return total / (noise_sd * math.sqrt(int(inside.sum())))


def refill(
    frames: Any,
    tracks: pd.DataFrame,
    localizations: pd.DataFrame,
    *,
    memory: int,
    rms_step_px: float,
    noise_sd: float,
    invert: bool = False,
) -> pd.DataFrame:
    """Localizations found again in the frames the tracks skipped (module docstring).

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        The movie (hot pixels repaired); ``frame`` indexes it.
    tracks : pandas.DataFrame
        Linked localizations (``particle, frame, y, x``).
    localizations : pandas.DataFrame
        Every localization (``frame, y, x``): no candidate is taken near one.
    memory : int
        The linker's memory.
    rms_step_px : float
        Per-axis rms one-frame step (px).
    noise_sd : float
        Noise per pixel of the frames (the detection threshold's noise model).
    invert : bool
        Dark particles on a bright field.

    Returns
    -------
    pandas.DataFrame
        ``frame, y, x, particle, snr`` of the kept candidates, ``mass`` NaN (not measured by
        the detector).
    """
    wanted = gap_frames(tracks, memory, rms_step_px)
    found: list[dict[str, float]] = []
    if wanted.empty or not noise_sd > 0:
        return pd.DataFrame(found, columns=["frame", "y", "x", "particle", "snr", "mass"])
    disk = _disk(APERTURE_PX)
    norm = noise_sd * math.sqrt(float(disk.sum()))
    by_frame = {
        int(number): table[["y", "x"]].to_numpy(dtype=float)
        for number, table in localizations.groupby("frame")
    }
    sign = -1.0 if invert else 1.0
    for number, group in wanted.groupby("frame", sort=True):
        image = sign * np.asarray(frames[int(number)], dtype=np.float64)
        height, width = image.shape
        others = by_frame.get(int(number), np.empty((0, 2)))
        for row in group.itertuples():
            pad = row.radius_px + RING_OUTER_PX
            top, bottom = max(0, int(row.y - pad)), min(height, int(row.y + pad) + 2)
            left, right = max(0, int(row.x - pad)), min(width, int(row.x + pad) + 2)
            window = image[top:bottom, left:right]
            sums = ndimage.correlate(window - np.median(window), disk, mode="nearest") / norm
            rows_, columns_ = np.mgrid[top:bottom, left:right]
            allowed = np.hypot(rows_ - row.y, columns_ - row.x) <= row.radius_px
            for other in others:
                allowed &= np.hypot(rows_ - other[0], columns_ - other[1]) > EXCLUSION_PX
            if not allowed.any():
                continue
            best = np.unravel_index(np.argmax(np.where(allowed, sums, -np.inf)), sums.shape)
            y, x = refine_positions(
                sign * image,
                np.array([float(top + best[0])]),
                np.array([float(left + best[1])]),
                WIDE_RADIUS_PX,
                invert=invert,
            )
            # the centroid may have slid onto a neighbour's image: kept only away from it
            clear = not len(others) or bool(
                np.min(np.hypot(others[:, 0] - y[0], others[:, 1] - x[0])) > EXCLUSION_PX
            )
            snr = aperture_snr(image, float(y[0]), float(x[0]), noise_sd)
            if clear and snr >= MIN_SNR:
                found.append(
                    {
                        "frame": int(number),
                        "y": float(y[0]),
                        "x": float(x[0]),
                        "particle": row.particle,
                        "snr": snr,
                    }
                )
    table = pd.DataFrame(found, columns=["frame", "y", "x", "particle", "snr"])
    # a candidate two tracks found: neither keeps it
    table = table[~table.duplicated(["frame", "y", "x"], keep=False)]
    return table.assign(mass=np.nan).reset_index(drop=True)
