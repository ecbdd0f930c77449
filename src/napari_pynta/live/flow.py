"""The live linker's flow: a uniform flow of the sample, found in the recent frames and taken out
of the positions before linking, as ``pynta analyze`` does (``analysis.flow_for_linking``).

Only the linker process imports this module (it imports :mod:`napari_pynta.link`).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

import numpy as np

from napari_pynta import link
from napari_pynta.robust import MAD_TO_SD, MEDIAN_SE_FACTOR

#: the flow is estimated from the localizations of the last this many frames
FLOW_WINDOW_FRAMES = 30
#: without enough linked pairs in the window, the flow is estimated without linking every this
#: many frames (every frame while the window fills): that costs milliseconds, more than linking
#: a frame (docs/live-pipeline.md)
FLOW_EVERY_FRAMES = 10
#: the flow is measured by the steps of the newest this many pairs of localizations linked in
#: the window (their median per axis: within about 0.2 px for 2.5 px steps), the newest frames
#: first, so that a flow that starts is followed within a few frames where particles are many
FLOW_TRACKED_STEPS = 300
#: with fewer linked pairs in the window than this, the linking-free estimate measures it
FLOW_TRACKED_MIN_STEPS = 100
#: the tracks' flow is taken out when it is more than the analysis's threshold by this many of
#: its standard errors (at rest, or at a drift below the threshold, a few frames' steps may
#: show more by chance, 0.4 px for 40 particles' 2 px steps, and a summary would say a flow)
FLOW_TRACKED_SES = 3.0


class LiveFlow:
    """The uniform flow the live linker takes out of the positions before linking.

    The tracks measure it on every frame, as ``pynta analyze`` refines its flow by the drift of
    the tracks linked in it (``analysis.tracked_flow``, ``analysis.refined_flow``): the median
    step per axis of the newest :data:`FLOW_TRACKED_STEPS` pairs of localizations the linker
    linked from one frame to the next (:meth:`linked`) in the last :data:`FLOW_WINDOW_FRAMES`
    frames. A measured step is the residual the velocity taken out left plus that velocity, so
    the estimate converges from wherever it starts (zero, at rest), and links made with older
    velocities do not count a correction twice. With fewer than :data:`FLOW_TRACKED_MIN_STEPS`
    linked pairs in the window (the first frames, a sparse field, or a flow so fast that the
    linker links nothing) the common displacement of the window's localizations is estimated
    without linking every :data:`FLOW_EVERY_FRAMES` frames
    (:func:`napari_pynta.link.common_flow_of_frames`, the estimate ``pynta analyze`` starts from,
    which costs milliseconds). Either is taken out only when it is a flow by the analysis's rule
    (:func:`napari_pynta.link.is_linking_flow`: above
    :data:`napari_pynta.link.FLOW_LINKING_PX_PER_FRAME`; the tracks' estimate by more than
    :data:`FLOW_TRACKED_SES` standard errors), else none is. The cumulative flow advances by the
    velocity from one linked frame to the next (also across frames that never came), so a flow
    that starts, stops or changes is followed within a window, and the positions less it stay
    continuous.

    The linking-free estimate alone finds no flow as large as the particles' own steps (2-5 px
    per frame for 2.5 px steps per axis): the tracks' steps do. A flow that changes within a
    window stays in the tracks, whose measured positions the live sizes take the drift out of,
    as ``pynta analyze`` does after linking.

    ``start_velocity`` (``y``, ``x`` px per frame; the flow the live calibration measured in
    the frames just before) stands in for the linking-free estimate when that finds no flow,
    during the first window and until the tracks measure it: the first frames are linked in
    the flow's frame, not at rest while the tracks learn it. It is taken out only when it is a
    flow by the analysis's rule, and a flow that stopped meanwhile is found by the tracks, whose
    steps converge from it as from zero.
    """

    def __init__(
        self,
        window_frames: int = FLOW_WINDOW_FRAMES,
        every_frames: int = FLOW_EVERY_FRAMES,
        start_velocity: Sequence[float] | None = None,
    ) -> None:
        self.window_frames = window_frames
        self.every_frames = every_frames
        #: the velocity used while the tracks have not measured one and the linking-free
        #: estimate finds none, in the first window (None: none, at rest)
        self.start_velocity = (
            None if start_velocity is None else _taken_out(np.asarray(start_velocity, np.float64))
        )
        self._first_frame: int | None = None
        #: the velocity (``y``, ``x`` px per frame) taken out of the last frame added; zero
        #: while no flow is
        self.velocity = np.zeros(2)
        #: the cumulative flow (``y``, ``x`` px) taken out of the last frame added
        self.offset = np.zeros(2)
        self._recent: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        #: the measured steps (n, 2) of the pairs linked into each recent frame
        self._steps: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        #: the last frame linked: its number, the particles and their measured positions
        self._linked: tuple[int, np.ndarray, np.ndarray] | None = None
        self._last_frame: int | None = None
        self._since_estimate = 0

    def add(self, frame: int, yx: np.ndarray) -> np.ndarray:
        """Add the positions (n, 2: ``y``, ``x``) of ``frame`` (frames in increasing order);
        return the cumulative flow (2,) to subtract from them before linking."""
        self._recent.append((frame, yx))
        for recent in (self._recent, self._steps):
            while recent and recent[0][0] <= frame - self.window_frames:
                recent.popleft()
        self._since_estimate += 1
        if self._first_frame is None:
            self._first_frame = frame
        tracked = self._tracked()
        if tracked is not None:
            self.velocity = tracked
        elif self._since_estimate >= self.every_frames or len(self._recent) < self.every_frames:
            self._since_estimate = 0
            self.velocity = _taken_out(link.common_flow_of_frames(dict(self._recent)))
            starting = frame < self._first_frame + self.window_frames
            if starting and self.start_velocity is not None and not self.velocity.any():
                self.velocity = self.start_velocity
        if self._last_frame is not None:
            self.offset = self.offset + self.velocity * (frame - self._last_frame)
        self._last_frame = frame
        return self.offset

    def linked(self, particles: np.ndarray) -> None:
        """The particle numbers (n,) the linker gave the positions of the frame last added:
        the steps of those it also linked in the frame before are the tracks' measure of the
        flow."""
        frame, yx = self._recent[-1]
        if self._linked is not None and self._linked[0] == frame - 1:
            _, before, now = np.intersect1d(
                self._linked[1], particles, assume_unique=True, return_indices=True
            )
            self._steps.append((frame, yx[now] - self._linked[2][before]))
        self._linked = (frame, particles, yx)

    def _tracked(self) -> np.ndarray | None:
        """The flow the steps of the newest :data:`FLOW_TRACKED_STEPS` pairs linked in the
        window show (their median per axis), or zero when it is no flow to take out (by more
        than :data:`FLOW_TRACKED_SES` standard errors); None when the window holds fewer than
        :data:`FLOW_TRACKED_MIN_STEPS`."""
        newest: list[np.ndarray] = []
        count = 0
        for _, pairs in reversed(self._steps):
            newest.append(pairs)
            count += len(pairs)
            if count >= FLOW_TRACKED_STEPS:
                break
        if count < FLOW_TRACKED_MIN_STEPS:
            return None
        steps = np.concatenate(newest)
        velocity = np.median(steps, axis=0)
        spread = MAD_TO_SD * np.median(np.abs(steps - velocity), axis=0)
        error = MEDIAN_SE_FACTOR * math.hypot(*spread) / math.sqrt(count)
        return _taken_out(velocity, FLOW_TRACKED_SES * error)


def _taken_out(velocity: np.ndarray, uncertainty_px: float = 0.0) -> np.ndarray:
    """``velocity`` if it is a flow to take out before linking
    (:func:`napari_pynta.link.is_linking_flow`), else zero."""
    return velocity if link.is_linking_flow(velocity, uncertainty_px) else np.zeros(2)
