"""A part of a movie: the recorded frames ``START:STOP`` to analyse (``pynta analyze --frames``).

The range is half-open, as a Python slice: ``500:2000`` is frames 500 to 1999 of the frames
the movie recorded (its own indices, not camera frame numbers), ``500:`` from 500 to the end,
``:-100`` all but the last 100. A part keeps its true time: the frames keep their numbers (steps
across frames the camera lost span their true time), and the result's tables keep the indices of
the recorded frames.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_pynta.errors import PyntaInputError, analyze_command, listed

#: what a frame range looks like, for the messages that refuse one
RANGE_SYNTAX = (
    "START:STOP (integers, half-open as a Python slice, STOP optional: 500:, 500:2000, :-100)"
)
_RANGE = re.compile(r"\s*(-?\d+)?\s*:\s*(-?\d+)?\s*")


@dataclass(frozen=True)
class FrameRange:
    """Frames ``start:stop`` of a movie, as given (negative: counted back from the end).

    Attributes
    ----------
    start : int or None
        First frame (None: the first).
    stop : int or None
        One past the last frame (None: to the end).
    """

    start: int | None = None
    stop: int | None = None

    @classmethod
    def parse(cls, text: str) -> FrameRange:
        """The range written ``START:STOP``.

        Raises
        ------
        PyntaInputError
            Naming the field ``frame_range`` and the syntax allowed.
        """
        match = _RANGE.fullmatch(str(text))
        if match is None:
            raise PyntaInputError(
                f"frame_range must be {RANGE_SYNTAX}, got {text!r}", "frame_range"
            )
        start, stop = (None if group is None else int(group) for group in match.groups())
        return cls(start, stop)

    def __str__(self) -> str:
        return (
            f"{'' if self.start is None else self.start}:{'' if self.stop is None else self.stop}"
        )

    def resolve(self, n_frames: int, source: str) -> tuple[int, int]:
        """``(start, stop)`` of this range in a movie of ``n_frames`` frames, ``0 <= start <
        stop <= n_frames``.

        Raises
        ------
        PyntaInputError
            Naming ``frame_range``, the movie and its length, and what is allowed.
        """
        start = 0 if self.start is None else self.start
        stop = n_frames if self.stop is None else self.stop
        inside = all(-n_frames <= value <= n_frames for value in (start, stop))
        start, stop = (value + n_frames if value < 0 else value for value in (start, stop))
        if not inside or start >= stop:
            raise PyntaInputError(
                f"frame_range {self} does not select frames of {source!r}, which has {n_frames} "
                f"frames: START and STOP must be in 0..{n_frames} (or -{n_frames}..-1, counted "
                "back from the end), START before STOP",
                "frame_range",
            )
        return start, stop


def readable_runs(readable: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of readable frames, half-open as a ``frame_range``.

    Parameters
    ----------
    readable : ndarray of bool
        One entry per recorded frame.
    """
    from napari_pynta.verify import runs

    return [(first, last + 1) for first, last in runs(np.flatnonzero(readable))]


def readable_advice(readable: np.ndarray, store: str | Path | None = None) -> str:
    """Which frames of a damaged movie can be read, and how to analyse the longest part of them.

    Parameters
    ----------
    readable : ndarray of bool
        One entry per recorded frame.
    store : str or Path, optional
        The movie: the advice is then the command that analyses the part (what `pynta verify`
        says); without it, the ``frame_range`` to give, which a front end respells
        (:func:`napari_pynta.errors.named_message`: ``--frames``, ``Frames``).

    Returns
    -------
    str
        ``"readable: frames 0..63 and 128..199; analyse frames 128..199 alone with
        frame_range=128:200"`` (with ``store``: ``... alone with `pynta analyze --frames=128:200
        STORE```); ``"no frame can be analysed"`` when none is readable.
    """
    spans = readable_runs(readable)
    if not spans:
        return "no frame can be analysed"
    first, stop = max(spans, key=lambda span: span[1] - span[0])
    which = "them" if len(spans) == 1 else f"frames {first}..{stop - 1}"
    part = f"frame_range={first}:{stop}"
    if store is not None:
        part = analyze_command(store, first, stop)
    return f"readable: {frames_named(readable)}; analyse {which} alone with {part}"


def frames_named(frames: np.ndarray) -> str:
    """The frames a mask selects, by runs, as a sentence names them: ``"frame 5"``,
    ``"frames 0..63 and 128..199"``, ``"frames 0..2, 6..8, 10, 12..13 and 3 more runs"``.

    Parameters
    ----------
    frames : ndarray of bool
        One entry per recorded frame, at least one True.
    """
    spans = readable_runs(frames)
    named = [f"{first}..{stop - 1}" if stop - 1 > first else f"{first}" for first, stop in spans]
    if len(named) > 4:
        more = len(named) - 4
        return f"frames {', '.join(named[:4])} and {more} more {'run' if more == 1 else 'runs'}"
    return f"{'frame' if named == [str(spans[0][0])] else 'frames'} {listed(named)}"


def first_analysed(summary: Mapping[str, Any]) -> int:
    """The index among the recorded frames of an analysis' first frame (its summary's
    ``frame_range``; 0 for a summary without one, the live one): the tables' ``frame`` minus
    it is the index of the analysed frames."""
    return int((summary.get("frame_range") or [0])[0])


def frames_analysed(summary: Mapping[str, Any]) -> str:
    """The number of frames an analysis' summary analysed, with which of the recorded ones when
    they do not start at the first: ``"1500 (frames 500..1999)"``; the number alone for the
    first frames (``frame_range`` from 0) or a summary without ``frame_range``."""
    where = summary.get("frame_range")
    count = f"{summary.get('n_frames', '–')}"
    return count if not where or where[0] == 0 else f"{count} (frames {where[0]}..{where[1] - 1})"


def gap_numbers(numbers: np.ndarray | None) -> np.ndarray | None:
    """Acquisition numbers of a movie's frames counted from its first, as
    :attr:`Movie.frame_numbers <napari_pynta.readers.Movie>` keeps them: None when the frames
    follow each other."""
    if numbers is None or len(numbers) == 0:
        return None
    counted = np.asarray(numbers, dtype=np.int64) - int(numbers[0])
    return counted if counted[-1] + 1 > len(counted) else None
