"""The frame rate the status shows, measured on the frames' camera times against a known clock."""

from __future__ import annotations

import numpy as np
import pytest

from napari_pynta.live.frame_rate import FrameRate

FPS = 100.0


def _rates(times) -> tuple[list[float], FrameRate]:
    rate = FrameRate(1.0)
    shown = []
    for t in times:
        rate.add(float(t))
        shown.append(rate.live())
    return shown, rate


def test_a_paced_camera_read_in_bursts_shows_its_rate_never_more():
    """100 fps asked showed 107.5 fps: the rate was measured on the host's arrival times of the
    last second, which a starved acquisition reading the buffered frames in bursts makes short.
    The camera's times of the same frames give the rate exactly, whenever it is read."""
    seq = np.arange(1000)
    shown, rate = _rates(seq / FPS)
    assert np.allclose(shown[1:], FPS, rtol=1e-9)
    assert rate.run() == pytest.approx(FPS, rel=1e-12)


def test_frames_lost_by_the_camera_lower_the_rate_to_what_was_delivered():
    """Every 10th frame lost (seq gaps): 90 of every 100 frames are delivered. The live rate
    over a 1 s window is that to within one frame of the window; the run's is exact, and no
    window ever shows more than the camera's rate."""
    seq = np.array([s for s in range(2001) if s % 10 != 5])
    shown, rate = _rates(seq / FPS)
    assert max(shown) <= FPS
    assert np.all(np.abs(np.array(shown[200:]) - 0.9 * FPS) <= 1.0)
    assert rate.run() == pytest.approx((len(seq) - 1) / (seq[-1] / FPS), rel=1e-12)
    assert rate.run() == pytest.approx(0.9 * FPS, abs=0.1)


def test_a_camera_clock_that_goes_back_starts_the_measure_afresh():
    """A camera reset (times start at 0 again) or a wrapped counter: the rate is measured on the
    frames after it, not over a negative or huge span."""
    before = np.arange(300) / FPS
    after = np.arange(150) / 50.0  # the camera was reset and now runs at 50 fps
    shown, rate = _rates(np.concatenate([before, after]))
    assert np.allclose(shown[301:], 50.0, rtol=1e-9)
    assert rate.run() == pytest.approx(50.0, rel=1e-12)
    rate.add(float("nan"))  # an unknown time: nothing to measure on until two frames come
    assert rate.live() == rate.run() == 0.0
    rate.add(10.0)
    rate.add(10.02)
    assert rate.live() == pytest.approx(50.0)


def test_nothing_to_measure_before_two_frames_and_a_bad_window_is_refused():
    rate = FrameRate(1.0)
    assert rate.live() == rate.run() == 0.0
    rate.add(0.0)
    assert rate.live() == rate.run() == 0.0
    with pytest.raises(ValueError, match="window_s must be positive"):
        FrameRate(0.0)
