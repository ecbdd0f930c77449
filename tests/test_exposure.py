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
    assert stats.edges[0] == 0 and stats.edges[-1] == 4096
