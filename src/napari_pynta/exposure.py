"""Exposure aid: how much of a frame is saturated and how its intensities are spread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: bins of the intensity histogram (from 0 to the saturation level)
HISTOGRAM_BINS = 64


@dataclass(frozen=True)
class ExposureStats:
    """Intensity statistics of one frame.

    Attributes
    ----------
    saturated_fraction : float
        Fraction of pixels at the saturation level (their true intensity is unknown).
    counts : numpy.ndarray
        Pixels per histogram bin.
    edges : numpy.ndarray
        Bin edges, from 0 to the saturation level.
    saturation_level : int
        The largest value the camera delivers.
    """

    saturated_fraction: float
    counts: np.ndarray
    edges: np.ndarray
    saturation_level: int


def exposure_stats(
    frame: np.ndarray, saturation_level: int, bins: int = HISTOGRAM_BINS
) -> ExposureStats:
    """Saturated fraction and intensity histogram of ``frame``.

    Parameters
    ----------
    frame : numpy.ndarray
        One camera frame (integer pixels).
    saturation_level : int
        The camera's largest value (e.g. 4095 for 12-bit pixels in a uint16 frame).
    bins : int
        Histogram bins between 0 and ``saturation_level``.

    Returns
    -------
    ExposureStats
    """
    pixels = np.asarray(frame).ravel()
    saturated = float(np.count_nonzero(pixels >= saturation_level)) / max(pixels.size, 1)
    counts, edges = np.histogram(pixels, bins=bins, range=(0, saturation_level + 1))
    return ExposureStats(saturated, counts, edges, int(saturation_level))
