"""The acquisition's frame rate, measured on the frames' own times (the camera's clock).

The rate shown while live was frames over the span of their arrival times on the host in the
last second: arrivals jitter (the acquisition waits for a CPU, then reads the frames the camera
buffered in a burst), and a window whose first frame came late is short, so 100 fps showed as
107.5. The camera's timestamps (its own clock, or the due time of a paced source such as the
simulated camera) do not jitter: the rate over them is right on average, and exact for a paced
source. A playback's frame times are the recording's (the sizes need them): its rate is
measured on its replay's due times (``rate_time_s`` of the camera), so that a recording of 100
fps replayed with ``--fps 20`` reports 20 fps (it reported the recording's 100).
"""

from __future__ import annotations

import collections
import math


class FrameRate:
    """Frames per second over the last ``window_s`` seconds of frame time, and over the run.

    A frame time that is not after the previous one (the camera's clock went back: a reset, a
    wrapped counter, see :mod:`napari_pynta.live.workers.camera_clock`) or not finite starts
    the measure afresh, as a new run does (:meth:`restart`). Frames the camera lost lengthen the
    span without being counted: the rate is that of the frames delivered.

    Parameters
    ----------
    window_s : float
        The span of the live rate (s of frame time).
    """

    def __init__(self, window_s: float) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be positive, got {window_s!r}")
        self.window_s = float(window_s)
        self._window: collections.deque[float] = collections.deque()
        self._first = math.nan
        self._frames = 0

    def restart(self) -> None:
        """Forget every frame (the camera restarted: its clock starts again)."""
        self._window.clear()
        self._first = math.nan
        self._frames = 0

    def add(self, t: float) -> None:
        """Count a frame of time ``t`` (s, the camera's clock)."""
        if not math.isfinite(t) or (self._window and t <= self._window[-1]):
            self.restart()
            if not math.isfinite(t):
                return
        if not self._frames:
            self._first = t
        self._frames += 1
        self._window.append(t)
        while len(self._window) > 2 and t - self._window[0] > self.window_s:
            self._window.popleft()

    def live(self) -> float:
        """Frames per second over the last ``window_s`` of frame time (0 before two frames)."""
        return _rate(len(self._window), self._window[0], self._window[-1]) if self._window else 0.0

    def run(self) -> float:
        """Frames per second from the first frame to the last (0 before two frames)."""
        return _rate(self._frames, self._first, self._window[-1]) if self._window else 0.0


def _rate(frames: int, first: float, last: float) -> float:
    """``frames`` frames from time ``first`` to ``last``: the frames per second (0 if none)."""
    return (frames - 1) / (last - first) if frames > 1 and last > first else 0.0
