"""Re-analysis of a napari layer without a file: its pixels are checked as a file's are."""

from __future__ import annotations

import numpy as np
import pytest

from napari_pynta.errors import PyntaDataError
from napari_pynta.widgets.reanalysis import open_for_analysis
from napari_pynta.widgets.settings import SizingConditions


@pytest.mark.parametrize("dtype", [np.float32, np.float64, bool])
def test_a_layer_of_non_integer_pixels_is_refused_like_a_file(dtype, tmp_path):
    """A float layer (a processed image, no file behind it) went to the analysis: 0.1 % NaN
    pixels gave eight times the localizations and 36 nm for a 100 nm sample, without a
    warning, where a float TIFF is refused."""
    frames = np.full((4, 16, 16), 100, dtype=dtype)
    with pytest.raises(PyntaDataError, match=f"the layer holds {np.dtype(dtype)} pixels; pynta "
                       r"analyzes integer camera data \(uint8, uint16"):  # fmt: skip
        open_for_analysis(frames, None, SizingConditions())
    gone = str(tmp_path / "moved.tif")  # a layer whose file is gone is named by it
    with pytest.raises(PyntaDataError, match="moved.tif' holds"):
        open_for_analysis(frames, gone, SizingConditions())


def test_a_layer_of_integer_pixels_is_analysed_from_its_data():
    frames = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    movie = open_for_analysis(frames, None, SizingConditions())
    assert np.array_equal(np.asarray(movie.frames), frames)
