"""The running size distribution of the linker process (built from the offline analysis code)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


class LiveSizer:
    """Collects linked localizations frame by frame and sizes the tracks on demand.

    Parameters
    ----------
    settings : dict
        ``min_track_length``, ``pixel_size_um``, ``frame_interval_s``, ``exposure_s``,
        ``temperature_c``, ``viscosity_pa_s`` (None = water) and the detection/linking options,
        as built by the supervisor.
    """

    def __init__(self, settings: dict[str, Any]):
        self.settings = settings
        self.params = analysis_params(settings)
        self.n_frames = 0
        self._parts: list[pd.DataFrame] = []
        self._tracks: pd.DataFrame | None = None

    def add(self, linked: pd.DataFrame) -> None:
        """Add the linked localizations of one frame (empty frames count too)."""
        self.n_frames += 1
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

    def summary(self) -> tuple[dict[str, Any] | None, list[float]]:
        """The size summary (the dict of ``pynta analyze --json``) and the per-track diameters.

        Returns ``(None, [])`` until some track is long enough to be sized.
        """
        from napari_pynta import analysis, link, sizing

        params = self.params
        everything = self.tracks
        tracks = link.filter_tracks(everything, params.min_track_length)
        if tracks.empty:
            return None, []
        # the steps of analysis.analyze_localizations after linking (tracks are linked already)
        viscosity = params.resolved_viscosity_pa_s
        per_track = sizing.track_diffusion(tracks, params.pixel_size_um, params.frame_interval_s,
                                           params.exposure_s, params.temperature_c, viscosity)
        ensemble = sizing.ensemble_diffusion(tracks, params.pixel_size_um,
                                             params.frame_interval_s, params.exposure_s)
        warnings = sizing.quality_warnings(per_track, ensemble)
        summary = analysis.summarize(everything, tracks, per_track, ensemble, warnings,
                                     self.n_frames, params, source=self.settings.get("source"))
        diameters = per_track["diameter_nm"].to_numpy(dtype=float)
        return summary, [float(d) for d in diameters if math.isfinite(d)]


def analysis_params(settings: dict[str, Any]) -> Any:
    """The :class:`~napari_pynta.analysis.AnalysisParams` equivalent to the live settings."""
    from napari_pynta.analysis import AnalysisParams

    detection = settings["detection"]
    return AnalysisParams(
        pixel_size_um=settings["pixel_size_um"], frame_interval_s=settings["frame_interval_s"],
        exposure_s=settings["exposure_s"], temperature_c=settings["temperature_c"],
        viscosity_pa_s=settings["viscosity_pa_s"],
        diameter_px=detection.get("diameter", 7), minmass=detection.get("minmass"),
        separation=detection.get("separation"), percentile=detection.get("percentile", 64.0),
        invert=detection.get("invert", False), engine=settings["engine"],
        search_range_px=settings["search_range_px"], memory=settings["memory"],
        min_track_length=settings["min_track_length"],
    ).validate()
