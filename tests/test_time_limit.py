"""The time limit of a run (`pynta acquire --seconds`), applied to the frames' own times."""

from __future__ import annotations

import math

import pytest

from napari_pynta.live.time_limit import TimeLimit


def frames_within(limit: TimeLimit, times) -> int:
    """How many of ``times`` the limit keeps before the first one past it."""
    kept = 0
    for t in times:
        if not limit.within(t):
            break
        kept += 1
    return kept


@pytest.mark.parametrize(
    ("seconds", "fps", "expected"),
    [(10.0, 30.0, 300), (2.0, 30.0, 60), (1.5, 40.0, 60), (0.05, 100.0, 5), (0.055, 100.0, 6)],
)
def test_a_paced_camera_keeps_ceil_seconds_times_fps_frames(seconds, fps, expected):
    # the host clock the times are taken on is large: t0 + k / fps carries its rounding
    t0 = 123_456.789
    times = [(t0 + k / fps) - t0 for k in range(2 * expected + 10)]
    assert frames_within(TimeLimit(seconds), times) == expected
    assert frames_within(TimeLimit(seconds), [t0 + k / fps for k in range(400)]) == expected


def test_a_clock_that_goes_back_keeps_the_time_already_elapsed():
    # 0.0 .. 0.4 s, then the camera's clock restarts at 0: 0.4 s elapsed at its 0, 0.6 at 0.2
    times = [0.0, 0.1, 0.2, 0.3, 0.4, 0.0, 0.1, 0.2]
    assert frames_within(TimeLimit(0.55), times) == 7
    limit = TimeLimit(1.0)
    assert [limit.elapsed_s(t) for t in times] == pytest.approx(
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.4, 0.5, 0.6]
    )


def test_times_that_are_not_finite_add_nothing_and_restart_forgets_the_run():
    limit = TimeLimit(1.0)
    assert limit.within(5.0) and limit.within(math.nan) and limit.within(5.5)
    assert not limit.within(6.0)
    limit.restart()
    assert limit.within(0.0) and limit.elapsed_s(0.25) == 0.25


@pytest.mark.parametrize("seconds", [0.0, -1.0, math.nan, math.inf])
def test_a_limit_that_is_not_a_positive_time_is_refused(seconds):
    with pytest.raises(ValueError, match="seconds must be positive"):
        TimeLimit(seconds)
