"""Linking localizations into tracks, one frame at a time.

:class:`StreamingLinker` wraps trackpy's Crocker–Grier :class:`trackpy.linking.Linker` and keeps its
state between frames, so the live pipeline can feed frames as they arrive. :func:`link_features`
feeds a whole table through the same class, so live and offline analysis give identical tracks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from trackpy.linking import Linker, SubnetOversizeException

from napari_pynta.errors import PyntaInputError, require_int
from napari_pynta.parameters import SETTINGS

#: attribute set on trackpy's track objects to hold this linker's particle id
_ID_ATTRIBUTE = "pynta_particle"


class StreamingLinker:
    """Link features frame by frame; frame numbers must increase.

    Parameters
    ----------
    search_range_px : float
        Largest distance (pixels) a particle may move between two frames.
    memory : int
        Number of consecutive frames a particle may go undetected and still keep its id.

    Notes
    -----
    Frames that are skipped (a gap in the frame numbers) or that have no features count towards
    ``memory`` exactly like frames in which one particle was missed. Particle ids are assigned by
    this object (0, 1, 2, ... in order of first appearance), so several linkers may run in one
    process without sharing trackpy's global id counter.
    """

    def __init__(self, search_range_px: float, memory: int = 3) -> None:
        self.search_range_px = SETTINGS["search_range_px"].check(search_range_px, automatic=False)
        self.memory = SETTINGS["memory"].check(memory)
        self._linker = Linker(self.search_range_px, memory=self.memory)
        self._last_frame: int | None = None
        self._next_id = 0

    @property
    def last_frame(self) -> int | None:
        """Number of the last frame added, or None before the first."""
        return self._last_frame

    def add(self, features: pd.DataFrame, frame: int | None = None) -> pd.DataFrame:
        """Link the features of one frame to the tracks seen so far.

        Parameters
        ----------
        features : pandas.DataFrame
            Localizations of one frame (columns ``y``, ``x`` and usually ``frame``).
        frame : int, optional
            Frame number; required when ``features`` is empty or has no ``frame`` column,
            otherwise read from the table (and checked against this argument if both are given).

        Returns
        -------
        pandas.DataFrame
            A copy of ``features`` with an int64 ``particle`` column.
        """
        frame = self._frame_number(features, frame)
        if len(features):
            coords = np.column_stack(
                (features["y"].to_numpy(np.float64), features["x"].to_numpy(np.float64))
            )
        else:
            coords = np.empty((0, 2))
        linked = features.copy()
        linked["particle"] = self.link(coords, frame)
        return linked

    def link(self, coords: np.ndarray, frame: int) -> np.ndarray:
        """Link the positions of one frame (the core of :meth:`add`, without tables).

        Parameters
        ----------
        coords : ndarray (n, 2)
            ``y, x`` positions (pixels) of the frame's features.
        frame : int
            Frame number, larger than the last one linked.

        Returns
        -------
        ndarray of int64
            The particle id of each position, in the order given.
        """
        frame = self._check_order(require_int("frame", frame, minimum=0))
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(coords).all():
            raise PyntaInputError(f"features of frame {frame} have non-finite y/x positions")
        if self._last_frame is None:
            self._linker.init_level(coords, frame)
        else:
            # missed frames are empty levels, so memory counts frames rather than calls
            try:
                for missing in range(self._last_frame + 1, frame):
                    self._linker.next_level(np.empty((0, 2)), missing)
                self._linker.next_level(coords, frame)
            except SubnetOversizeException:
                raise PyntaInputError(
                    f"search_range_px={self.search_range_px:g} is too large for the particle "
                    f"density at frame {frame}: too many particles could be linked to each "
                    "other; lower the search range"
                ) from None
        self._last_frame = frame
        return np.asarray(self._particle_ids(), dtype=np.int64)

    def _frame_number(self, features: pd.DataFrame, frame: int | None) -> int:
        """Work out and check the frame number of ``features``."""
        if not {"y", "x"} <= set(features.columns):
            raise PyntaInputError("features must have columns 'y' and 'x' (pixels)")
        if "frame" in features.columns and len(features):
            column = features["frame"].to_numpy()
            if column.min() != column.max():
                frames = np.unique(column)
                raise PyntaInputError(
                    f"features must all belong to one frame, got frames {frames[:5].tolist()}"
                )
            if frame is not None and int(column[0]) != frame:
                raise PyntaInputError(
                    f"frame={frame} disagrees with the features' frame column ({int(column[0])})"
                )
            frame = int(column[0])
        if frame is None:
            raise PyntaInputError("frame is required when the features have no 'frame' column")
        return self._check_order(require_int("frame", frame, minimum=0))

    def _check_order(self, frame: int) -> int:
        """``frame`` if it comes after the last frame linked; raises otherwise."""
        if self._last_frame is not None and frame <= self._last_frame:
            raise PyntaInputError(
                f"frames must be added in increasing order: got frame {frame} after "
                f"frame {self._last_frame}"
            )
        return int(frame)

    def _particle_ids(self) -> list[int]:
        """Ids of the current frame's points, in the order of the features given."""
        ids = []
        for point in self._linker.hash.points:
            track = point.track
            if not hasattr(track, _ID_ATTRIBUTE):
                setattr(track, _ID_ATTRIBUTE, self._next_id)
                self._next_id += 1
            ids.append(getattr(track, _ID_ATTRIBUTE))
        return ids


def link_features(features: pd.DataFrame, search_range_px: float, memory: int = 3) -> pd.DataFrame:
    """Link a table of localizations from many frames into tracks.

    Parameters
    ----------
    features : pandas.DataFrame
        Localizations with columns ``frame``, ``y``, ``x`` (any order of rows).
    search_range_px : float
        Largest distance (pixels) a particle may move between two frames.
    memory : int
        Number of consecutive frames a particle may go undetected and keep its id.

    Returns
    -------
    pandas.DataFrame
        The localizations sorted by frame with an int64 ``particle`` column; fed through a
        :class:`StreamingLinker` one frame at a time, so the result equals live linking.
    """
    if "frame" not in features.columns:
        raise PyntaInputError("features must have a 'frame' column")
    linker = StreamingLinker(search_range_px, memory)
    if not len(features):
        empty = features.copy()
        empty["particle"] = np.empty(0, dtype=np.int64)
        return empty.reset_index(drop=True)
    ordered = features.sort_values("frame", kind="stable")
    linked = [linker.add(group) for _, group in ordered.groupby("frame", sort=True)]
    return pd.concat(linked, ignore_index=True)


def filter_tracks(tracks: pd.DataFrame, min_length: int) -> pd.DataFrame:
    """Keep tracks with at least ``min_length`` localizations.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Linked localizations with a ``particle`` column.
    min_length : int
        Minimum number of localizations (frames) per track, >= 3 (the limit of
        :data:`napari_pynta.parameters.SETTINGS`: a sized track needs two successive steps).

    Returns
    -------
    pandas.DataFrame
        The rows of the tracks that are long enough, index reset.
    """
    min_length = SETTINGS["min_track_length"].check(min_length)
    if "particle" not in tracks.columns:
        raise PyntaInputError("tracks must have a 'particle' column (link them first)")
    lengths = tracks.groupby("particle")["particle"].transform("size")
    return tracks[lengths >= min_length].reset_index(drop=True)
