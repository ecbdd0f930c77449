"""When to redraw a layer whose redraw costs GUI time: as soon as there is something new to
draw, but never more often than the image is drawn, nor so often that the redraws take more
than a set share of the GUI thread."""

from __future__ import annotations

import math

#: a redraw waits at least this many times as long as the previous one took, so redrawing takes
#: at most 1 / (1 + this) of the GUI thread
REDRAW_WAIT_FACTOR = 4.0


class RedrawPacer:
    """Says when a layer may be redrawn.

    Parameters
    ----------
    min_interval_s : float
        Shortest time between two redraws (e.g. the live image's display interval: the layer
        need not change faster than the frame under it).
    wait_factor : float
        After a redraw that took ``t`` seconds, the next one waits at least ``wait_factor * t``.
    """

    def __init__(self, min_interval_s: float, wait_factor: float = REDRAW_WAIT_FACTOR) -> None:
        self.min_interval_s = float(min_interval_s)
        self.wait_factor = float(wait_factor)
        self._last_start = -math.inf
        self._last_duration = 0.0

    def due(self, now: float) -> bool:
        """Whether a redraw may start at monotonic time ``now``."""
        wait = max(self.min_interval_s, (1.0 + self.wait_factor) * self._last_duration)
        return now - self._last_start >= wait

    def drawn(self, started: float, ended: float) -> None:
        """Record a redraw that ran from ``started`` to ``ended`` (monotonic seconds)."""
        self._last_start = started
        self._last_duration = max(ended - started, 0.0)
