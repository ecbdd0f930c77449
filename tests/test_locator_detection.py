"""The locator's new detection settings: checked and compiled off its main loop."""

from __future__ import annotations

import time

from napari_pynta.detect.hot_pixels import FrameRepair
from napari_pynta.errors import PyntaInputError
from napari_pynta.live.workers.locator import _PendingDetection


def _finished(pending: _PendingDetection, timeout_s: float = 120.0) -> _PendingDetection:
    deadline = time.monotonic() + timeout_s
    while not pending.ready():
        assert time.monotonic() < deadline, "the detection settings never finished compiling"
        time.sleep(0.05)
    return pending


def test_new_settings_are_checked_in_the_background_and_refused_with_the_reason():
    refused = _PendingDetection("fast", {"diameter": 4})
    accepted = _PendingDetection("fast", {"diameter": 9, "minmass": 50.0})
    assert isinstance(_finished(refused).error, PyntaInputError)
    assert "diameter" in str(refused.error)
    assert _finished(accepted).error is None


def test_new_hot_pixels_come_with_the_settings_and_bad_ones_are_refused():
    """A ``detect`` command may carry a new hot-pixel map (a camera ROI moved): it replaces the
    locator's repair once checked; without one the repair is kept; a malformed one is refused
    with the settings, which the locator then keeps."""
    current = FrameRepair([[1, 1]])
    kept = _finished(_PendingDetection("fast", {"diameter": 9}, current))
    assert kept.error is None and kept.repair is current
    moved = _finished(_PendingDetection("fast", {"diameter": 9}, current, [[2, 3], [4, 5]]))
    assert moved.error is None and moved.repair.hot.tolist() == [[2, 3], [4, 5]]
    bad = _finished(_PendingDetection("fast", {"diameter": 9}, current, [[2, 3, 4]]))
    assert isinstance(bad.error, PyntaInputError) and "[row, column]" in str(bad.error)
