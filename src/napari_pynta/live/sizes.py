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

    def summary(self) -> tuple[dict[str, Any], list[float]]:
        """The size summary (keys of ``pynta analyze --json``) and the per-track diameters."""
        from napari_pynta.analysis import summarize_tracks

        result = summarize_tracks(self.tracks, _analysis_params(self.settings))
        diameters = result.per_track["diameter_nm"].to_numpy(dtype=float)
        return _json_safe(result.summary), [float(d) for d in diameters if math.isfinite(d)]


def _analysis_params(settings: dict[str, Any]) -> Any:
    from napari_pynta.analysis import AnalysisParams

    return AnalysisParams(
        engine=settings["engine"], **settings["detection"],
        search_range_px=settings["search_range_px"], memory=settings["memory"],
        min_track_length=settings["min_track_length"],
        pixel_size_um=settings["pixel_size_um"], frame_interval_s=settings["frame_interval_s"],
        exposure_s=settings["exposure_s"], temperature_c=settings["temperature_c"],
        viscosity_pa_s=settings["viscosity_pa_s"],
    )


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf by None and numpy scalars by Python numbers, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
