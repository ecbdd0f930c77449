"""Exposure aid: how much of a frame is saturated and how its intensities are spread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: most bins of the intensity histogram (over the intensities the frame holds)
HISTOGRAM_BINS = 64
#: the saturation level is put on the histogram's scale when it lies at most this share of the
#: data's span above the brightest unsaturated pixel; farther, the data would be squeezed into
#: the first few bins (a simulated 100-400 of 65535 filled one bin of 64), and the level is
#: stated beside the plot instead
SATURATION_MARGIN = 0.25
#: pixels sampled to find the frame's intensity step (12-bit pixels shifted into 16 bits step by
#: 16: bins of another width would be empty in a regular pattern)
STEP_SAMPLE = 4096


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
        Bin edges over the intensities of the frame's pixels (each bin the same whole number of
        intensity steps); up to the saturation level when ``saturation_on_scale``.
    saturation_level : int
        The largest value the camera delivers.
    saturated_pixels : int
        Pixels at (or above) the saturation level.
    saturation_on_scale : bool
        Whether the bins reach the saturation level (and hold the saturated pixels). When not,
        the saturated pixels are not in ``counts``: the level lies far above the other pixels.
    """

    saturated_fraction: float
    counts: np.ndarray
    edges: np.ndarray
    saturation_level: int
    saturated_pixels: int
    saturation_on_scale: bool


def exposure_stats(
    frame: np.ndarray, saturation_level: int, bins: int = HISTOGRAM_BINS
) -> ExposureStats:
    """Saturated fraction and intensity histogram of ``frame``.

    The bins span the intensities the frame holds, from its darkest pixel to its brightest
    unsaturated one, and on to the saturation level when that is near
    (:data:`SATURATION_MARGIN`); saturated pixels are always counted.

    Parameters
    ----------
    frame : numpy.ndarray
        One camera frame (integer pixels).
    saturation_level : int
        The camera's largest value (e.g. 4095 for 12-bit pixels in a uint16 frame).
    bins : int
        Most histogram bins (fewer when the frame holds fewer intensity values).

    Returns
    -------
    ExposureStats
    """
    pixels = np.asarray(frame).ravel()
    saturated = int(np.count_nonzero(pixels >= saturation_level))
    shown = pixels[pixels < saturation_level] if saturated else pixels
    if shown.size:
        low, high = int(shown.min()), int(shown.max())
    else:  # every pixel saturated
        low = high = int(saturation_level)
    on_scale = saturation_level - high <= SATURATION_MARGIN * (high - low + 1)
    if on_scale:
        shown = pixels
        high = max(int(saturation_level), int(pixels.max()))
    step = intensity_step(shown, low)
    span = high - low + 1
    width = step * -(-span // (step * bins))  # whole steps per bin: pixels spread evenly
    n_bins = -(-span // width)
    counts, edges = np.histogram(shown, bins=n_bins, range=(low, low + n_bins * width))
    return ExposureStats(
        saturated / max(pixels.size, 1), counts, edges, int(saturation_level), saturated, on_scale
    )


def intensity_step(pixels: np.ndarray, low: int) -> int:
    """The step between the intensities a frame's pixels take (1 for most cameras, 16 for 12-bit
    pixels shifted into 16 bits), from the greatest common divisor of up to
    :data:`STEP_SAMPLE` pixels' distances to ``low``; 1 when they are all equal."""
    sample = pixels[:: max(1, pixels.size // STEP_SAMPLE)].astype(np.int64) - low
    return max(1, int(np.gcd.reduce(sample))) if sample.size else 1
