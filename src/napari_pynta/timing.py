"""The frame interval of a recording, measured from its stored frame times.

Cameras do not always run at the rate they were asked for (Micro-Manager ignores the sequence
interval for most cameras; a camera limited by its exposure or bandwidth runs slower), and a
wrong frame interval scales every size silently. So the analysis takes the interval from the
stored times (median time per frame step) and says so when it differs from the nominal one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from napari_pynta.errors import PyntaInputError, require_positive
from napari_pynta.robust import MAD_TO_SD, MEDIAN_SE_FACTOR

#: measured and nominal intervals further apart than this (relative) -> size from the measured one
INTERVAL_TOLERANCE = 0.01
#: robust relative spread of the intervals above which the frame times are called irregular
JITTER_TOLERANCE = 0.10
#: fewest frame steps a measured interval is trusted from
MIN_STEPS = 5
#: a difference from the nominal interval counts only beyond this many standard errors
_SIGNIFICANCE = 3.0


@dataclass(frozen=True)
class FrameTiming:
    """Frame interval measured from frame times.

    Attributes
    ----------
    interval_s : float
        Median time per frame step (s); a step across a gap of ``k`` lost frames counts ``k + 1``.
    jitter : float
        Robust relative spread of the per-step intervals (1.4826 MAD / median).
    n_steps : int
        Number of frame steps measured: all but the clock's jumps back.
    backward_frames : tuple of int
        The frames whose time is not after that of the frame measured before them, by index:
        among the times measured (:func:`measure_frame_interval`), or among a store's recorded
        frames (:func:`measure_numbered_frames`), the "frame N" that the analysis' tables, the
        viewer and ``--frames A:B`` name.
    n_jumps : int
        Those of the :attr:`n_backward` steps that go back by more than a frame interval: the
        camera's clock jumped back (a reset, a hardware counter's wrap); left out of the
        interval. The others are irregular times (host-clock times under load): jitter that
        swaps two frames' times is kept, as leaving out the steps it shortened would lengthen
        the median interval (by 3 % for 4 ms of jitter on 10 ms frames, 13 % for 6 ms).
    """

    interval_s: float
    jitter: float
    n_steps: int
    backward_frames: tuple[int, ...] = ()
    n_jumps: int = 0

    @property
    def n_backward(self) -> int:
        """Number of steps whose time does not go forward."""
        return len(self.backward_frames)

    @property
    def first_backward(self) -> int | None:
        """The first of :attr:`backward_frames` (None: the times always go forward)."""
        return self.backward_frames[0] if self.backward_frames else None

    @property
    def interval_se_s(self) -> float:
        """Standard error of :attr:`interval_s` (from the jitter and the number of steps)."""
        return MEDIAN_SE_FACTOR * self.jitter * self.interval_s / self.n_steps**0.5


def measure_frame_interval(timestamps_s: Any, seq: Any = None) -> FrameTiming | None:
    """The median frame interval of a recording from its frame times.

    Parameters
    ----------
    timestamps_s : array-like
        Time of each frame (s), in recording order.
    seq : array-like, optional
        Acquisition frame numbers (gaps = lost frames); default: consecutive.

    Returns
    -------
    FrameTiming or None
        None with fewer than :data:`MIN_STEPS` steps whose time goes forward. Steps whose time
        goes back or stands still are counted; those back by more than a frame interval (a
        camera clock that jumped back) are left out (:class:`FrameTiming`).
    """
    times = np.asarray(timestamps_s, dtype=np.float64).reshape(-1)
    numbers = np.arange(len(times)) if seq is None else np.asarray(seq, dtype=np.int64)
    steps = np.diff(numbers)
    durations = np.diff(times)
    measurable = (steps > 0) & np.isfinite(durations)
    backward = np.flatnonzero(measurable & (durations <= 0))
    forward = measurable & (durations > 0)
    if forward.sum() < MIN_STEPS:
        return None
    per_frame = np.where(measurable, durations / np.maximum(steps, 1), np.nan)
    # a jump back is a step back by more than a frame interval that jitter does not explain
    # (beyond six robust widths of every step's spread about the forward steps' median, a
    # first guess that jitter lengthens a little)
    guess = float(np.median(per_frame[forward]))
    width = MAD_TO_SD * float(np.median(np.abs(per_frame[measurable] - guess)))
    jumps = measurable & (per_frame < min(-guess, guess - 6.0 * width))
    used = per_frame[measurable & ~jumps]
    interval = float(np.median(used))
    if interval <= 0:  # times that mostly go back: no interval
        return None
    jitter = MAD_TO_SD * float(np.median(np.abs(used - interval))) / interval
    return FrameTiming(
        interval_s=interval,
        jitter=jitter,
        n_steps=len(used),
        backward_frames=tuple((backward + 1).tolist()),
        n_jumps=int(jumps.sum()),
    )


def measure_numbered_frames(
    timestamps_s: Any, seq: Any, first_frame: int = 0
) -> FrameTiming | None:
    """:func:`measure_frame_interval` on the frames of a store that have their frame number.

    A frame whose ``seq`` chunk was lost on disk reads ``seq`` -1 (the fill value): its place
    among the acquisition's frames is unknown, so its time measures nothing and is left out.
    This is the interval that opening a store measures (:func:`napari_pynta.readers.open_movie`,
    hence `pynta analyze` and the viewer) and that `pynta verify` reports.

    Parameters
    ----------
    timestamps_s : array-like
        Time of each frame (s), in recording order.
    seq : array-like
        Acquisition frame number of each frame, as long as ``timestamps_s``; -1: no number.
    first_frame : int
        The index among the store's recorded frames of the first of these frames (the START of
        a part).

    Returns
    -------
    FrameTiming or None
        As :func:`measure_frame_interval` gives for the numbered frames, its
        ``backward_frames`` indices among the store's recorded frames (the frames without a
        number counted too: a clock's jump at recorded frame 4150 is frame 4150, not the 54th
        numbered frame after a lost chunk of 4096).
    """
    times = np.asarray(timestamps_s, dtype=np.float64).reshape(-1)
    numbers = np.asarray(seq, dtype=np.int64).reshape(-1)
    numbered = numbers >= 0
    timing = measure_frame_interval(times[numbered], numbers[numbered])
    if timing is None:
        return None
    recorded_index = first_frame + np.flatnonzero(numbered)
    backward = recorded_index[list(timing.backward_frames)]
    return replace(timing, backward_frames=tuple(backward.tolist()))


def disagrees(timing: FrameTiming, interval_s: float) -> bool:
    """True when the frame times measure an interval other than ``interval_s``: off by more
    than :data:`INTERVAL_TOLERANCE` and by more than three of its standard errors (so that
    jittery host-clock times do not call a right interval wrong).

    Parameters
    ----------
    timing : FrameTiming
        The interval measured from the frame times (:func:`measure_frame_interval`).
    interval_s : float
        The interval to check, s (> 0).
    """
    allowed = max(INTERVAL_TOLERANCE * interval_s, _SIGNIFICANCE * timing.interval_se_s)
    return abs(timing.interval_s - interval_s) > allowed


def reconcile_frame_interval(
    metadata: Mapping[str, Any], timestamps_s: Any, seq: Any = None
) -> tuple[dict[str, Any], list[str]]:
    """Metadata whose ``frame_interval_s`` agrees with the stored frame times, and warnings.

    When the measured interval differs from the nominal ``frame_interval_s`` by more than
    :data:`INTERVAL_TOLERANCE` and by more than three of its standard errors (so that jittery
    host-clock times do not replace a right nominal interval with a noisy one), it replaces it
    (the nominal one is kept as ``nominal_frame_interval_s``); an ``exposure_s`` longer than the
    measured interval is capped at it. Irregular times (jitter above :data:`JITTER_TOLERANCE`)
    give a warning too.

    Parameters
    ----------
    metadata : mapping
        Store metadata (``frame_interval_s``, ``exposure_s``, ...).
    timestamps_s, seq : array-like
        The stored frame times and frame numbers.

    Returns
    -------
    metadata : dict
        A copy, corrected where the times disagree.
    warnings : list of str
        Plain-language warnings for the analysis summary.
    """
    return reconciled_with(metadata, measure_frame_interval(timestamps_s, seq))


def reconciled_with(
    metadata: Mapping[str, Any], timing: FrameTiming | None
) -> tuple[dict[str, Any], list[str]]:
    """:func:`reconcile_frame_interval` with the frame times already measured (``timing``,
    :func:`measure_frame_interval`'s; None: too few to measure): for a reader that keeps the
    measurement too."""
    metadata = dict(metadata)
    if timing is None:
        return metadata, []
    measured = timing.interval_s
    warnings = []
    nominal = metadata.get("frame_interval_s")
    # a nominal interval that is not a positive number (a hand-edited store) is none
    try:
        nominal_s = None if nominal is None else require_positive("frame_interval_s", nominal)
    except PyntaInputError:
        nominal_s = None
    if nominal_s is None or disagrees(timing, nominal_s):
        metadata["frame_interval_s"] = measured
        if nominal is not None:
            metadata["nominal_frame_interval_s"] = nominal
            warnings.append(
                f"The stored frame times give a frame interval of {measured * 1e3:.4g} ms "
                f"({1 / measured:.4g} fps), not the nominal {nominal_s * 1e3:.4g} ms "
                f"({1 / nominal_s:.4g} fps): sizes use the measured interval. Set "
                "--frame-interval-s to override."
                if nominal_s is not None
                else f"The stored frame_interval_s ({nominal!r} s) is not a positive number: "
                f"sizes use the interval the frame times give, {measured * 1e3:.4g} ms "
                f"({1 / measured:.4g} fps). Set --frame-interval-s to override."
            )
        exposure = metadata.get("exposure_s")
        if exposure is not None and exposure > measured:
            metadata["exposure_s"] = measured
            warnings.append(
                f"The exposure ({exposure * 1e3:.4g} ms) is longer than the measured frame "
                f"interval; it was capped at {measured * 1e3:.4g} ms."
            )
    if timing.n_backward:
        warnings.append(backward_times_note(timing))
    if timing.jitter > JITTER_TOLERANCE:
        warnings.append(
            f"Frame times are irregular: the intervals vary by {100 * timing.jitter:.0f} % "
            f"(robust spread) around {measured * 1e3:.4g} ms. Steps of irregular length "
            "broaden the size distribution; host-clock times (no camera timestamps) under load "
            "are the usual cause."
        )
    return metadata, warnings


def backward_times_note(timing: FrameTiming) -> str:
    """What to tell the user about frame times that go back (``timing.n_backward`` > 0)."""
    return (
        f"The frame times go back at {timing.n_backward} "
        f"{'place' if timing.n_backward == 1 else 'places'} (first at frame "
        f"{timing.first_backward}): {backward_cause(timing)}. The frames are all kept; the "
        f"frame interval, {timing.interval_s * 1e3:.4g} ms, is the median of "
        f"{interval_steps_text(timing)}."
    )


def backward_cause(timing: FrameTiming) -> str:
    """Why the frame times go back: the clock's jumps, jitter that swaps frames' times, or
    both."""
    jumps, swaps = timing.n_jumps, timing.n_backward - timing.n_jumps
    causes = []
    if jumps:
        causes.append(
            f"the camera's clock jumped back (a reset or a counter's wrap; {jumps} "
            f"{'time' if jumps == 1 else 'times'})"
        )
    if swaps:
        causes.append(
            f"the times are so irregular that {swaps} "
            f"{'step goes' if swaps == 1 else 'steps go'} back by less than a frame interval "
            "(host-clock times under load are the usual cause)"
        )
    return " and ".join(causes)


def interval_steps_text(timing: FrameTiming) -> str:
    """Which steps the interval is the median of, for the notes."""
    return f"the {timing.n_steps} steps" + (" besides the clock's jumps" if timing.n_jumps else "")
