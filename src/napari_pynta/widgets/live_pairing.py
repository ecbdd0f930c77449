"""Which live frame to draw, so that the detections drawn over it are its own.

Tracking runs behind the camera (the localizations of a frame arrive tens of milliseconds to
seconds after its pixels). Drawing the newest frame with the newest localizations puts the
circles where the particles were a while ago, beside them, not on them. :class:`LivePairing`
keeps the recent preview frames and draws the newest frame whose localizations have arrived,
with exactly those localizations; it never goes back in time. When tracking falls further
behind than the frames kept, it draws the newest frame without circles and says how far behind
the detections are. Without tracking it simply draws the newest frame. No Qt here.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict, deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: memory for the kept preview frames (bytes) ...
DEFAULT_MAX_BYTES = 128e6
#: ... and most frames kept, whatever their size
DEFAULT_MAX_FRAMES = 256
#: longest a frame waits for its localizations before it is drawn without them (s); tracking
#: latency on a busy machine reaches seconds
DEFAULT_MAX_WAIT_S = 5.0
#: frames are kept at most this often (s): no faster than they can be drawn
DEFAULT_KEEP_INTERVAL_S = 1.0 / 30.0


@dataclass
class LiveDrawing:
    """What to draw now.

    Attributes
    ----------
    seq : int
        Camera sequence number of ``frame``.
    frame : ndarray
        The pixels to draw.
    localizations : DataFrame or None
        The localizations of exactly this frame (possibly empty), or None to leave the points
        as they are (no tracking running).
    frames_behind : int
        How many frames the newest localizations lag the newest frame when they are too far
        behind to be drawn over their own frame (0 otherwise).
    """

    seq: int
    frame: np.ndarray
    localizations: pd.DataFrame | None
    frames_behind: int = 0


class LivePairing:
    """Pairs preview frames with their localizations by camera sequence number.

    Parameters
    ----------
    max_bytes : float
        Memory for the kept frames.
    max_frames : int
        Most frames kept.
    max_wait_s : float
        Longest a frame waits for its localizations. After that, tracking is too far behind:
        the newest frames are drawn as they come, without circles, until the localizations
        are again less than half of this behind the camera.
    keep_interval_s : float
        Frames arriving sooner than this after the last kept one are not kept (the display
        cannot draw them anyway), so the kept frames span more time.
    """

    def __init__(
        self,
        max_bytes: float = DEFAULT_MAX_BYTES,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        keep_interval_s: float = DEFAULT_KEEP_INTERVAL_S,
    ):
        self.max_bytes = float(max_bytes)
        self.max_frames = int(max_frames)
        self.max_wait_s = float(max_wait_s)
        self.keep_interval_s = float(keep_interval_s)
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new live session, or frames taken with other camera settings)."""
        self._frames: OrderedDict[int, tuple[np.ndarray, float]] = OrderedDict()
        self._bytes = 0
        self._localizations: dict[int, pd.DataFrame] = {}
        self._newest_located: int | None = None
        self._drawn_seq: int | None = None
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=4096)
        self._behind = False

    def add_frame(self, seq: int, frame: np.ndarray, now: float) -> None:
        """Keep a preview frame that arrived at monotonic time ``now`` (s)."""
        if self._drawn_seq is not None and seq <= self._drawn_seq:
            return
        self._arrivals.append((int(seq), now))
        if self._frames and now - next(reversed(self._frames.values()))[1] < self.keep_interval_s:
            return
        self._frames[int(seq)] = (frame, now)
        self._bytes += frame.nbytes
        while len(self._frames) > 1 and (
            len(self._frames) > self.max_frames or self._bytes > self.max_bytes
        ):
            self._bytes -= self._frames.popitem(last=False)[1][0].nbytes
        oldest_kept = next(iter(self._frames))
        for old in [s for s in self._localizations if s < oldest_kept]:
            del self._localizations[old]  # their frames are gone: they can never be drawn

    def add_localizations(self, seq: int, localizations: pd.DataFrame) -> None:
        """The localizations of frame ``seq`` (a ``frame, y, x`` table, empty if none found)."""
        seq = int(seq)
        if self._newest_located is None or seq > self._newest_located:
            self._newest_located = seq
        oldest_kept = next(iter(self._frames), None)
        if oldest_kept is not None and seq < oldest_kept:
            return  # its frame was not kept (the preview skips frames when the GUI is busy)
        if self._drawn_seq is None or seq > self._drawn_seq:
            self._localizations[seq] = localizations
        while len(self._localizations) > self.max_frames:
            del self._localizations[min(self._localizations)]

    def next_drawing(self, now: float) -> LiveDrawing | None:
        """What to draw at monotonic time ``now``, or None when nothing newer can be drawn."""
        if not self._frames:
            return None
        newest_seq = next(reversed(self._frames))
        if self._newest_located is None:  # no tracking: the newest frame as it is
            return self._draw(newest_seq, None)
        paired = [seq for seq in self._localizations if seq in self._frames]
        if paired:
            self._behind = False
            seq = max(paired)
            return self._draw(seq, self._localizations[seq])
        if self._behind and self._lag_s(now) < self.max_wait_s / 2:
            self._behind = False  # caught up: frames wait for their circles again
        elif self._behind or now - next(iter(self._frames.values()))[1] > self.max_wait_s:
            self._behind = True
            behind = max(newest_seq - self._newest_located, 0)
            return self._draw(newest_seq, pd.DataFrame({"frame": [], "y": [], "x": []}), behind)
        return None

    def _lag_s(self, now: float) -> float:
        """How long ago the newest located frame arrived (inf if longer than remembered)."""
        assert self._newest_located is not None
        seqs = [seq for seq, _ in self._arrivals]
        index = bisect.bisect_left(seqs, self._newest_located)
        if index == 0 and (not seqs or seqs[0] > self._newest_located):
            return float("inf")
        if index == len(seqs):
            return 0.0
        return now - self._arrivals[index][1]

    def _draw(self, seq: int, localizations: pd.DataFrame | None, behind: int = 0) -> LiveDrawing:
        frame = self._frames[seq][0]
        self._drawn_seq = seq
        for old in [s for s in self._frames if s <= seq]:
            self._bytes -= self._frames.pop(old)[0].nbytes
        for old in [s for s in self._localizations if s <= seq]:
            del self._localizations[old]
        return LiveDrawing(seq, frame, localizations, behind)
