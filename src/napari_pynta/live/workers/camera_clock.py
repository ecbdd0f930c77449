"""Watching the camera's clock: frame times that go back are counted and said, never changed.

A camera's timestamps can jump back (the camera was reset, a hardware counter wrapped, a driver
bug). The acquisition keeps every frame and stores the time the camera gave: rewriting it would
hide what happened. What depends on the frame interval copes: the live rate starts afresh at a
jump (:class:`~napari_pynta.live.frame_rate.FrameRate`), the latency uses the host clock, the
live sizes the nominal interval, and the offline analysis measures the interval
from the steps that go forward (:func:`napari_pynta.timing.measure_frame_interval`; `pynta
verify` notes the places and that interval).
"""

from __future__ import annotations

import math


class CameraClock:
    """Counts the frames whose camera time is not after the previous frame's.

    Attributes
    ----------
    jumps : int
        Frames whose time went back or stood still, over the pipeline's life (every run).
    """

    def __init__(self) -> None:
        self.jumps = 0
        self._last: float | None = None

    def restart(self) -> None:
        """The camera restarted (a new run): its clock starts again, which is no jump."""
        self._last = None

    def check(self, seq: int, t: float) -> str | None:
        """Take frame ``seq``'s time ``t``; return a warning for the first jump, else None.

        Unknown times (not finite) are neither compared nor remembered.
        """
        if not math.isfinite(t):
            return None
        last, self._last = self._last, t
        if last is None or t > last:
            return None
        self.jumps += 1
        if self.jumps > 1:
            return None
        return (
            f"the camera's clock went back {last - t:.3g} s at frame {seq} (a camera reset or a "
            "counter's wrap?): every frame is kept with the time the camera gave; later jumps "
            "are counted in camera_clock_jumps, and the analysis measures the frame interval from "
            "the steps that go forward"
        )
