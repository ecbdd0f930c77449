"""Hot-pixel repair of the live locators (one frame, own buffer) and the map's checks."""

from __future__ import annotations

import numpy as np
import pytest

from napari_pynta.detect.hot_pixels import FrameRepair, repair_hot_pixels
from napari_pynta.errors import PyntaInputError
from napari_pynta.live.config import LiveConfig, check_hot_pixels, moved_hot_pixels


def _independent_repair(frame: np.ndarray, hot: np.ndarray) -> np.ndarray:
    """Each hot pixel replaced by the rounded median of its 8 raw neighbours (edge pixels
    repeated), written out pixel by pixel."""
    out = frame.copy()
    ny, nx = frame.shape
    for row, col in hot:
        around = [
            frame[min(max(row + dy, 0), ny - 1), min(max(col + dx, 0), nx - 1)]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if dy or dx
        ]
        out[row, col] = np.rint(np.median(np.asarray(around, np.float64)))
    return out


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8, np.float32])
def test_a_locator_repairs_hot_pixels_in_its_own_copy_as_the_offline_analysis_does(dtype):
    """A locator's frame is a read-only view of shared memory: the repair copies it into the
    locator's buffer and replaces the listed pixels there, the same values the offline repair
    gives (a pair of hot neighbours and the frame's corners included)."""
    rng = np.random.default_rng(0)
    frames = (rng.random((3, 40, 50)) * 200).astype(dtype)
    frames[:, 10, 10:12] += dtype(50)  # a pair of hot pixels
    hot = np.array([[0, 0], [39, 49], [10, 10], [10, 11], [25, 0], [7, 30]])
    repair = FrameRepair(hot)
    offline = repair_hot_pixels(frames, hot)
    for frame, expected in zip(frames, offline, strict=True):
        frame.flags.writeable = False
        kept = frame.copy()
        repaired = repair(frame)
        np.testing.assert_array_equal(frame, kept)  # never written
        np.testing.assert_array_equal(repaired, expected)
        if dtype is not np.float32:
            np.testing.assert_array_equal(repaired, _independent_repair(frame, hot))


def test_hot_pixels_outside_a_frame_are_left_out_and_none_costs_no_copy():
    frame = np.arange(36, dtype=np.uint16).reshape(6, 6)
    frame[2, 2] = 1000
    assert FrameRepair([])(frame) is frame
    assert FrameRepair([[8, 1], [1, 9]])(frame) is frame  # all outside this (smaller) ROI
    repaired = FrameRepair([[8, 1], [2, 2]])(frame)
    assert repaired is not frame and repaired[2, 2] == 14  # of 7, 8, 9, 13, 15, 19, 20, 21
    np.testing.assert_array_equal(np.delete(repaired.ravel(), 14), np.delete(frame.ravel(), 14))


def test_a_new_roi_moves_the_hot_pixels_with_its_origin():
    """The same sensor pixels in the frames of a new ROI; those outside it are left out."""
    before = {"camera_settings": {"roi": None}}
    after = {"camera_settings": {"roi": [10, 20, 30, 40]}}
    moved = moved_hot_pixels([[15, 25], [5, 25], [39, 59], [40, 25]], before, after, (30, 40))
    assert moved == [[5, 5], [29, 39]]
    back = moved_hot_pixels(moved, after, {"camera_settings": {"roi": None}}, (100, 100))
    assert back == [[15, 25], [39, 59]]


@pytest.mark.parametrize(
    "value", [[[1, 2, 3]], [[1.5, 2]], [[-1, 2]], "12", [[1, 2], [3]], [[True, False]]]
)
def test_a_malformed_hot_pixel_map_is_refused_with_its_format(value):
    with pytest.raises(PyntaInputError, match=r"\[row, column\] pairs"):
        LiveConfig(hot_pixels=value).validate()


def test_a_hot_pixel_map_is_kept_as_integer_pairs():
    assert check_hot_pixels(np.array([[3, 4]], np.int32)) == [[3, 4]]
    assert check_hot_pixels([]) == []
