"""The spot's width: a feature diameter whose mask holds the particle's image.

The refinement's centroid mask (radius ``diameter // 2``) must hold the spot. The default 7 px
mask was tuned for a PSF of sigma 1.2 px; two kinds of movies have spots it does not hold, and then
the centroid is pulled to the mask's centre (the positions lock to the pixel grid, steps shrink
and sizes come out too large, or a mixture's bright population goes wrong):

- **saturated spots**: their flat top (pixels at the camera's top value) is as wide as or wider
  than the mask; the mask must hold the plateau and its sloping shoulders
  (:meth:`~napari_pynta.detect.threshold.ThresholdEstimate.saturated_diameter_px`);
- **a PSF wider in pixels** (higher magnification, smaller pixels, defocus): the spot's sigma is
  measured on bright, isolated, unsaturated features (:func:`measure_spot_sigma_px`); above
  :data:`HELD_SIGMA_PX` the mask radius holds :data:`SPOT_WIDTHS` sigmas
  (:func:`spot_diameter_px`), the rule the motion-blur diameter follows for its streak
  (:mod:`napari_pynta.detect.blur`).

:func:`spot_choice` applies both to a movie's sampled frames; a movie whose spots the 7 px mask
holds keeps it exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage, optimize

from napari_pynta.detect.blur import (
    MAX_AUTOMATIC_DIAMETER_PX,
    SHARP_DIAMETER_PX,
    DiameterChoice,
)
from napari_pynta.detect.columns import as_detected
from napari_pynta.detect.threshold import (
    MINMASS_SAMPLE_FRAMES,
    SATURATED_FEATURE_SHARE,
    sample_indices,
    saturated_diameter_px,
    saturated_spots,
)
from napari_pynta.robust import MAD_TO_SD

#: the 7 px mask holds spots up to this measured sigma (px): the independent simulator's movies,
#: whose defocused spots measure 1.75-2.24 px, are sized within their uncertainty with it
#: (docs/accuracy.md, "The mask holds the spot")
HELD_SIGMA_PX = 2.4
#: a wider spot gets a mask radius of this many sigmas (as many as the blur rule's streak widths)
SPOT_WIDTHS = 2.0
#: half-width (px) of the window a spot is fitted in: sigmas up to about 4 px are measured
SPOT_WINDOW_PX = 9
#: a spot is measured when its smoothed peak is at least this many noise SDs (of the smoothed
#: frame) above the background ...
SPOT_MIN_SNR = 10.0
#: ... and it is the brightest within twice the window (no neighbour inside its window)
SPOT_ISOLATION_WINDOWS = 2
#: the brightest spots measured (over all sampled frames)
SPOT_MAX_FEATURES = 100
#: fewer measured spots than this: no measurement (the 7 px mask is kept)
SPOT_MIN_FEATURES = 5


@dataclass(frozen=True)
class SpotWidth:
    """What the sampled frames say about the spots' width.

    Attributes
    ----------
    sigma_px : float
        The median, over the measured spots, of each spot's narrower Gaussian sigma (the width
        across an exposure streak, so that motion blur widens it little); NaN when fewer than
        :data:`SPOT_MIN_FEATURES` spots could be measured.
    n_spots : int
        Spots measured.
    saturated_radius_px : float
        The saturated spots' 90th-percentile equivalent radius (0 without saturation).
    saturated_share : float
        Saturated spots per sampled frame over the bright spots per frame (0 without).
    """

    sigma_px: float
    n_spots: int
    saturated_radius_px: float = 0.0
    saturated_share: float = 0.0

    @property
    def saturated(self) -> bool:
        """True when saturated spots are :data:`SATURATED_FEATURE_SHARE` of the bright ones."""
        return self.saturated_radius_px > 0 and self.saturated_share >= SATURATED_FEATURE_SHARE

    def diameter_px(self) -> int:
        """The odd diameter that holds these spots: the sharp-spot diameter when it does, the
        widest of :func:`spot_diameter_px` and (for saturated spots) the saturated plateau's
        :func:`~napari_pynta.detect.threshold.saturated_diameter_px` otherwise, at most
        :data:`~napari_pynta.detect.blur.MAX_AUTOMATIC_DIAMETER_PX`."""
        wanted = spot_diameter_px(self.sigma_px)
        if self.saturated:
            wanted = max(wanted, saturated_diameter_px(self.saturated_radius_px))
        return int(min(wanted, MAX_AUTOMATIC_DIAMETER_PX))

    def reason(self) -> str:
        """Why :meth:`diameter_px` is wider than the sharp-spot diameter ("" when it is not)."""
        if self.diameter_px() <= SHARP_DIAMETER_PX:
            return ""
        parts = []
        if spot_diameter_px(self.sigma_px) > SHARP_DIAMETER_PX:
            parts.append(f"the spots' PSF sigma is {self.sigma_px:.1f} px")
        if self.saturated and saturated_diameter_px(self.saturated_radius_px) > SHARP_DIAMETER_PX:
            parts.append(
                f"saturated spots have flat tops of radius {self.saturated_radius_px:.1f} px"
            )
        return " and ".join(parts)


def spot_diameter_px(sigma_px: float) -> int:
    """The odd diameter that holds spots of this sigma: the sharp-spot diameter up to
    :data:`HELD_SIGMA_PX` (and for NaN), above it ``2 round(SPOT_WIDTHS sigma) + 1``."""
    if not math.isfinite(sigma_px) or sigma_px <= HELD_SIGMA_PX:
        return SHARP_DIAMETER_PX
    return max(2 * round(SPOT_WIDTHS * sigma_px) + 1, SHARP_DIAMETER_PX)


def _gaussian(params: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """An elliptical Gaussian on a constant: amplitude, centre, two sigmas, angle, offset."""
    amplitude, y0, x0, sigma_a, sigma_b, angle, offset = params
    cos, sin = math.cos(angle), math.sin(angle)
    u = cos * (x - x0) + sin * (y - y0)
    v = -sin * (x - x0) + cos * (y - y0)
    return amplitude * np.exp(-0.5 * ((u / sigma_a) ** 2 + (v / sigma_b) ** 2)) + offset


def _fitted_sigma_px(window: np.ndarray) -> float:
    """The narrower sigma of an elliptical Gaussian fitted to a spot's window (NaN if the fit
    fails or leaves the window)."""
    half = window.shape[0] // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    offset = float(np.median(np.concatenate([window[0], window[-1], window[:, 0], window[:, -1]])))
    start = np.array([window[half, half] - offset, 0.0, 0.0, 1.5, 1.5, 0.0, offset])
    low = [0.0, -2.0, -2.0, 0.3, 0.3, -math.pi, -np.inf]
    high = [np.inf, 2.0, 2.0, half / 2.0, half / 2.0, math.pi, np.inf]
    try:
        fit = optimize.least_squares(
            lambda p: (_gaussian(p, y, x) - window).ravel(), start, bounds=(low, high)
        )
    except ValueError:  # a window that is not finite
        return math.nan
    sigma = float(min(fit.x[3], fit.x[4]))
    return sigma if fit.success and sigma < half / 2.0 - 1e-3 else math.nan


def _bright_peaks(
    frame: np.ndarray, top: float = math.nan, reach: int = SHARP_DIAMETER_PX
) -> list[tuple[float, int, int]]:
    """(smoothed amplitude, row, column) of a frame's bright peaks (:data:`SPOT_MIN_SNR`), the
    brightest within ``reach`` px, a fitting window from the edges and, with a finite ``top``,
    no pixel near them at that value."""
    smooth = ndimage.gaussian_filter(frame.astype(np.float64), 1.0)
    background = float(np.median(smooth))
    noise = MAD_TO_SD * float(np.median(np.abs(smooth - background)))
    peaks = (smooth == ndimage.maximum_filter(smooth, size=reach)) & (
        smooth - background >= SPOT_MIN_SNR * max(noise, 1e-12)
    )
    half = SPOT_WINDOW_PX
    peaks[:half], peaks[-half:], peaks[:, :half], peaks[:, -half:] = False, False, False, False
    if math.isfinite(top):  # leave saturated spots (and their neighbourhood) out
        peaks &= ~ndimage.binary_dilation(frame >= top, iterations=2)
    rows, columns = np.nonzero(peaks)
    amplitudes = smooth[rows, columns] - background
    return [(float(a), int(r), int(c)) for a, r, c in zip(amplitudes, rows, columns, strict=True)]


def measure_spot_sigma_px(frames: list[np.ndarray], top: float = math.nan) -> tuple[float, int]:
    """The spots' PSF sigma (px) on the brightest isolated, unsaturated peaks of ``frames``.

    Each of the :data:`SPOT_MAX_FEATURES` brightest peaks (smoothed peak at least
    :data:`SPOT_MIN_SNR` noise SDs above the background, brightest within
    :data:`SPOT_ISOLATION_WINDOWS` windows, no pixel near it at the camera's ``top``) is fitted
    with an elliptical Gaussian on a constant in a window of ±:data:`SPOT_WINDOW_PX` px of the
    raw frame; its narrower sigma is the PSF's across a motion-blur streak.

    Returns
    -------
    (float, int)
        The median narrower sigma (NaN with fewer than :data:`SPOT_MIN_FEATURES` spots) and the
        number of spots measured.
    """
    candidates = [
        (amplitude, index, row, column)
        for index, frame in enumerate(frames)
        for amplitude, row, column in _bright_peaks(
            frame, top, 2 * SPOT_ISOLATION_WINDOWS * SPOT_WINDOW_PX + 1
        )
    ]
    candidates.sort(reverse=True)
    half = SPOT_WINDOW_PX
    sigmas = [
        _fitted_sigma_px(
            frames[index][row - half : row + half + 1, column - half : column + half + 1].astype(
                np.float64
            )
        )
        for _, index, row, column in candidates[:SPOT_MAX_FEATURES]
    ]
    sigmas = [sigma for sigma in sigmas if math.isfinite(sigma)]
    if len(sigmas) < SPOT_MIN_FEATURES:
        return math.nan, len(sigmas)
    return float(np.median(sigmas)), len(sigmas)


def spot_width(
    frames: Any, n_sample: int = MINMASS_SAMPLE_FRAMES, *, invert: bool = False
) -> SpotWidth:
    """The spots' width and saturation on ``n_sample`` evenly spaced frames of a movie.

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        The movie (numpy or dask), hot pixels already repaired.
    n_sample : int
        Frames sampled (the detection threshold samples the same ones).
    invert : bool
        The particles are dark on a bright field: their spots are measured on the inverted
        frames (:func:`~napari_pynta.detect.columns.as_detected`), and a clipped bright
        background is not taken for saturated spots.

    Returns
    -------
    SpotWidth
    """
    sampled = [
        as_detected(np.asarray(frames[index]), invert)
        for index in sample_indices(frames.shape[0], n_sample)
    ]
    top, saturated_per_frame, saturated_radius = saturated_spots(sampled)
    sigma, n_spots = measure_spot_sigma_px(sampled, top)
    bright_per_frame = sum(len(_bright_peaks(frame)) for frame in sampled) / len(sampled)
    share = saturated_per_frame / max(bright_per_frame, 1.0) if saturated_per_frame else 0.0
    return SpotWidth(sigma, n_spots, saturated_radius, share)


def holding_the_spot(
    choice: DiameterChoice, frames: Any, *, invert: bool = False
) -> DiameterChoice:
    """``choice`` widened to the :meth:`SpotWidth.diameter_px` of the movie's spots when that is
    wider (with :attr:`~DiameterChoice.widened_for` saying why, and the engines' separation
    ``diameter + 1``), else kept; either way with the measured
    :attr:`~DiameterChoice.spot_sigma_px`.

    Parameters
    ----------
    choice : DiameterChoice
        The diameter chosen so far (the sharp-spot default, or one that holds the motion blur).
    frames : array-like, shape (T, Y, X)
        The movie, hot pixels repaired (:func:`spot_width` samples it).
    invert : bool
        The particles are dark on a bright field (the detection's ``invert``).
    """
    spot = spot_width(frames, invert=invert)
    wanted = spot.diameter_px()
    if wanted <= choice.diameter_px:
        return replace(choice, spot_sigma_px=spot.sigma_px)
    return replace(
        choice,
        diameter_px=wanted,
        separation_px=None,  # the engines' diameter + 1: the spots are that wide
        spot_sigma_px=spot.sigma_px,
        widened_for=spot.reason(),
    )
