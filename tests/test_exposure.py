"""Exposure aid: saturated fraction and histogram against counted pixels."""

from __future__ import annotations

import numpy as np

from napari_pynta.exposure import exposure_stats


def test_saturated_fraction_counts_pixels_at_the_camera_limit_not_the_dtype_limit():
    frame = np.full((10, 10), 100, np.uint16)
    frame[0, :7] = 4095  # 12-bit camera: saturated at 4095, far below 65535
    frame[1, 0] = 4094
    stats = exposure_stats(frame, saturation_level=4095, bins=16)
    assert stats.saturated_fraction == 0.07
    assert stats.counts.sum() == 100
    assert stats.counts[-1] == 8 and stats.counts[0] == 92  # 4094 and 4095 share the top bin
    assert stats.edges[0] == 100 and stats.edges[-1] > 4095 and stats.saturation_on_scale


def occupied_bins(stats) -> int:
    return int(np.count_nonzero(stats.counts))


def test_the_bins_cover_the_intensities_the_frame_holds_not_the_whole_camera_range():
    """Before: the simulated camera's 100-400 ADU of a 65535 range all fell in the first of 64
    bins (each 1024 ADU wide); the histogram said nothing about the exposure."""
    frame = np.random.default_rng(0).integers(100, 401, (256, 256)).astype(np.uint16)
    stats = exposure_stats(frame, saturation_level=65535, bins=64)
    assert occupied_bins(stats) >= 48  # of at most 64
    assert stats.edges[0] <= 100 and stats.edges[-1] > 400
    assert stats.edges[-1] - stats.edges[0] < 2 * 301  # the range is the data's
    assert stats.counts.sum() == frame.size
    assert stats.saturated_fraction == 0 and not stats.saturation_on_scale


def test_integer_pixels_fall_evenly_into_bins_of_whole_intensity_steps():
    """Bins of 301/64 ADU would hold 4 or 5 integer values each: a flat frame would look
    jagged. Each bin spans the same whole number of intensities."""
    frame = np.repeat(np.arange(100, 401, dtype=np.uint16), 10)  # 10 pixels of every value
    stats = exposure_stats(frame, saturation_level=65535, bins=64)
    widths = np.diff(stats.edges)
    assert np.all(widths == widths[0]) and widths[0] == round(widths[0])
    inner = stats.counts[:-1]  # the last bin may be cut by the top of the data
    assert np.all(inner == inner[0]) and inner[0] == 10 * widths[0]


def test_a_frame_clipped_far_above_its_background_is_reported_saturated_with_its_bins_kept():
    """A real camera that clips a bright particle: 1 % of the pixels at 4095 (12 bit) over a
    background of 100-400. Saturation is counted and stated, the background still fills the bins."""
    frame = np.random.default_rng(1).integers(100, 401, (100, 100)).astype(np.uint16)
    frame[:1, :] = 4095
    stats = exposure_stats(frame, saturation_level=4095, bins=64)
    assert stats.saturated_fraction == 0.01 and stats.saturated_pixels == 100
    assert occupied_bins(stats) >= 48
    assert not stats.saturation_on_scale  # said in words beside the plot, not drawn
    assert stats.counts.sum() + stats.saturated_pixels == frame.size


def test_a_frame_reaching_its_saturation_level_shows_the_level_in_the_plot():
    frame = np.linspace(2000, 4095, 10_000).astype(np.uint16).reshape(100, 100)
    stats = exposure_stats(frame, saturation_level=4095, bins=64)
    assert stats.saturation_on_scale and stats.edges[0] <= 2000 < 4095 < stats.edges[-1]
    assert stats.counts.sum() == frame.size  # the saturated pixels are in the top bin
    assert stats.counts[-1] >= stats.saturated_pixels > 0
    assert stats.saturated_fraction == np.count_nonzero(frame == 4095) / frame.size


def test_a_flat_or_fully_saturated_frame_still_gives_a_histogram():
    flat = exposure_stats(np.full((8, 8), 120, np.uint16), saturation_level=65535)
    assert flat.counts.sum() == 64 and flat.edges[0] <= 120 < flat.edges[-1]
    full = exposure_stats(np.full((8, 8), 255, np.uint8), saturation_level=255)
    assert full.saturated_fraction == 1.0 and full.saturation_on_scale
    assert full.counts.sum() == 64


def test_pixels_that_step_by_16_fill_every_bin_they_can():
    """12-bit pixels shifted into 16 bits (values 16 apart): bins of a width that is not a
    multiple of 16 would leave every few bins empty, a comb that is not in the light."""
    rng = np.random.default_rng(2)
    frame = (rng.integers(100, 401, (128, 128)) * 16).astype(np.uint16)
    stats = exposure_stats(frame, saturation_level=65520, bins=64)
    assert np.all(np.diff(stats.edges) % 16 == 0)
    assert np.all(stats.counts > 0)  # every bin holds the same number of possible values
