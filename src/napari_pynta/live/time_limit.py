"""The time limit of a run (`pynta acquire --seconds S`), on the frames' own clock.

The limit was a timer in the command: at ``S`` seconds after the pipeline said the camera had
started, the acquisition was asked to finish. The camera had started a moment before the
command heard of it, and finished a moment after it was asked, so a run kept a few frames more
than ``S`` times the frame rate (62 at 30 fps for 2 s). The acquisition now applies the limit
itself to each frame's time, as the camera gave it: a run of ``S`` s at ``F`` fps keeps the frames
of times 0, 1/F, ... before ``S``, i.e. ``ceil(S * F)`` frames (300 for 10 s at 30 fps).
"""

from __future__ import annotations

import math

#: a frame this close before the limit (s) is at the limit, i.e. past it: the times of a paced
#: camera, ``t0 + k / fps``, carry float rounding (``t0`` is the host's clock, 1e5 s and more)
TOLERANCE_S = 1e-6


class TimeLimit:
    """Whether each frame falls within ``seconds`` of the run's first frame.

    The time elapsed is measured on the clock the camera's rate is measured on
    (:meth:`~napari_pynta.cameras.base.BaseCamera.rate_time_s`: the camera's own, a playback's
    replay). A step back of that clock (a camera whose clock was reset) adds nothing: the time
    before the step is kept and the count goes on from the new time. A time that is not finite
    adds nothing either.

    Parameters
    ----------
    seconds : float
        The length of the run (s, positive).
    """

    def __init__(self, seconds: float) -> None:
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds must be positive and finite, got {seconds!r}")
        self.seconds = float(seconds)
        self.restart()

    def restart(self) -> None:
        """Start counting again from the next frame (the camera restarted)."""
        self._before = 0.0  # elapsed before the last step back of the clock
        self._origin = math.nan  # the time the current stretch started at
        self._last = math.nan

    def elapsed_s(self, t: float) -> float:
        """Count the frame of time ``t``; return the time since the first frame (s)."""
        if math.isfinite(t):
            if math.isnan(self._origin):
                self._origin = t
            elif t < self._last:  # the clock went back
                self._before += self._last - self._origin
                self._origin = t
            self._last = t
        return self._before + (0.0 if math.isnan(self._last) else self._last - self._origin)

    def within(self, t: float) -> bool:
        """Count the frame of time ``t``; True while it falls before the limit."""
        return self.elapsed_s(t) < self.seconds - TOLERANCE_S
