"""The live linker's flow: a uniform flow of the sample, found in the recent frames and taken out
of the positions before linking, as ``pynta analyze`` does (``analysis.flow_for_linking``).

Only the linker process imports this module (it imports :mod:`napari_pynta.link`).
"""

from __future__ import annotations

import collections
import math

import numpy as np

from napari_pynta import link

#: the flow is estimated from the localizations of the last this many frames
FLOW_WINDOW_FRAMES = 30
#: and estimated again every this many frames (every frame while the window fills): the
#: estimate costs milliseconds, more than linking a frame (docs/live-pipeline.md)
FLOW_EVERY_FRAMES = 10


class LiveFlow:
    """The uniform flow the live linker takes out of the positions before linking.

    Every :data:`FLOW_EVERY_FRAMES` frames the common displacement per frame of the last
    :data:`FLOW_WINDOW_FRAMES` frames' localizations is estimated without linking
    (:func:`napari_pynta.link.common_flow_px`, the estimate ``pynta analyze`` starts from); above
    :data:`napari_pynta.link.FLOW_LINKING_PX_PER_FRAME` it is the velocity taken out until the
    next estimate, else none is. The cumulative flow advances by that velocity from one linked
    frame to the next (also across frames that never came), so a flow that starts, stops or
    changes is followed within a window, and the positions less it stay continuous.

    The part the estimate misses (it is pulled somewhat toward zero) and a flow that changes
    within a window stay in the tracks, whose measured positions the live sizes take the drift
    out of, as ``pynta analyze`` does after linking.
    """

    def __init__(
        self, window_frames: int = FLOW_WINDOW_FRAMES, every_frames: int = FLOW_EVERY_FRAMES
    ) -> None:
        self.window_frames = window_frames
        self.every_frames = every_frames
        #: the velocity (``y``, ``x`` px per frame) taken out of the last frame added; zero
        #: while no flow is
        self.velocity = np.zeros(2)
        #: the cumulative flow (``y``, ``x`` px) taken out of the last frame added
        self.offset = np.zeros(2)
        self._recent: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        self._last_frame: int | None = None
        self._since_estimate = 0

    def add(self, frame: int, yx: np.ndarray) -> np.ndarray:
        """Add the positions (n, 2: ``y``, ``x``) of ``frame`` (frames in increasing order);
        return the cumulative flow (2,) to subtract from them before linking."""
        self._recent.append((frame, yx))
        while self._recent[0][0] <= frame - self.window_frames:
            self._recent.popleft()
        self._since_estimate += 1
        if self._since_estimate >= self.every_frames or len(self._recent) < self.every_frames:
            self._since_estimate = 0
            self.velocity = self._estimate()
        if self._last_frame is not None:
            self.offset = self.offset + self.velocity * (frame - self._last_frame)
        self._last_frame = frame
        return self.offset

    def _estimate(self) -> np.ndarray:
        """The flow of the recent frames, or zero below the analysis's threshold."""
        velocity = link.common_flow_of_frames(dict(self._recent))
        if math.hypot(*velocity) <= link.FLOW_LINKING_PX_PER_FRAME:
            return np.zeros(2)
        return velocity
