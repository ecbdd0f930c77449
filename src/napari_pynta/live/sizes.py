"""The running size distribution of the linker process, computed by the offline analysis code."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

#: ``detect.locate`` keyword -> ``AnalysisParams`` field, for the detection options both know
_DETECTION_FIELDS = {
    "diameter": "diameter_px",
    "minmass": "minmass",
    "separation": "separation",
    "percentile": "percentile",
    "invert": "invert",
}


def analysis_params(settings: dict[str, Any]) -> Any:
    """The :class:`~napari_pynta.analysis.AnalysisParams` that ``pynta analyze`` would use on the
    recording made with these live settings (validated).

    Parameters
    ----------
    settings : dict
        ``metadata`` (the store metadata), ``engine``, ``detection`` (``locate()`` options),
        ``search_range_px``, ``memory``, ``min_track_length``.
    """
    from napari_pynta.analysis import AnalysisParams

    overrides = {
        field: settings["detection"][key]
        for key, field in _DETECTION_FIELDS.items()
        if key in settings["detection"]
    }
    return AnalysisParams.from_metadata(
        settings["metadata"],
        engine=settings["engine"],
        search_range_px=settings["search_range_px"],
        memory=settings["memory"],
        min_track_length=settings["min_track_length"],
        **overrides,
    ).validate()


class LiveSizer:
    """Collects linked localizations frame by frame and sizes the tracks on demand.

    Parameters
    ----------
    settings : dict
        As for :func:`analysis_params`, plus ``frame_shape`` and ``source`` (the recording path
        or None).
    """

    def __init__(self, settings: dict[str, Any]):
        self.settings = settings
        self.params = analysis_params(settings)
        self._parts: list[pd.DataFrame] = []
        self._tracks: pd.DataFrame | None = None

    def add(self, linked: pd.DataFrame) -> None:
        """Add the linked localizations of one frame."""
        if len(linked):
            self._parts.append(linked)

    @property
    def tracks(self) -> pd.DataFrame:
        """All linked localizations so far."""
        if self._parts:
            parts = ([self._tracks] if self._tracks is not None else []) + self._parts
            self._tracks = pd.concat(parts, ignore_index=True)
            self._parts = []
        if self._tracks is None:
            from napari_pynta.detect import empty_localizations

            empty = empty_localizations()
            empty["particle"] = np.empty(0, np.int64)
            return empty
        return self._tracks

    def summary(self, n_frames: int) -> tuple[dict[str, Any] | None, list[float]]:
        """The ``pynta analyze --json`` summary of the tracks so far and the per-track diameters.

        Parameters
        ----------
        n_frames : int
            Frames covered so far (frame numbers 0..n_frames-1; frames lost on the way count as
            frames without particles). The live linker adds ``frames_sized`` to the summary:
            the frames whose localizations it holds.

        Returns
        -------
        summary : dict or None
            None until some track is long enough to be sized.
        diameters_nm : list of float
            Per-track diameters (finite ones).
        """
        from napari_pynta import analysis

        tracks = self.tracks
        if not (tracks.groupby("particle").size() >= self.params.min_track_length).any():
            return None, []
        result = analysis.summarize_tracks(
            tracks,
            self.params,
            n_frames=n_frames,
            source=self.settings.get("source"),
            frame_shape=tuple(self.settings["frame_shape"]),
        )
        diameters = result.per_track["diameter_nm"].to_numpy(dtype=float)
        return result.summary, [float(d) for d in diameters if math.isfinite(d)]
