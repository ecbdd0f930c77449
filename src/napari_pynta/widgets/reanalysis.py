"""Re-analysis of an opened movie from the GUI (runs in a worker thread, never on the GUI thread).

The movie is re-opened from its source path when it has one (so results can be saved into its
store), else analysed from the layer's data; :func:`napari_pynta.analysis.analyze` does the work and
reports its progress to a napari progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da

from napari_pynta.widgets.settings import SizingConditions, TrackingSettings

#: store tables written after a re-analysis (and shown by the reader when present)
RESULT_TABLES = ("localizations", "tracks", "per_track")


@dataclass
class AnalysisOutcome:
    """What :func:`analyze_movie` returns to the GUI thread."""

    result: Any
    saved_to: str | None


def tracking_fields(tracking: TrackingSettings) -> dict[str, Any]:
    """The :class:`~napari_pynta.analysis.AnalysisParams` fields the Tracking widget sets
    (automatic values as None)."""
    detection = tracking.detection()
    return {
        "engine": tracking.engine,
        "diameter_px": detection.pop("diameter"),
        **detection,
        "search_range_px": tracking.search_range_px or None,
        "memory": tracking.memory,
        "min_track_length": tracking.min_track_length,
    }


def analysis_params(tracking: TrackingSettings, conditions: SizingConditions) -> Any:
    """The :class:`~napari_pynta.analysis.AnalysisParams` of the widgets' settings (validated)."""
    from napari_pynta.analysis import AnalysisParams

    params = AnalysisParams(
        **tracking_fields(tracking),
        pixel_size_um=conditions.pixel_size_um,
        frame_interval_s=conditions.frame_interval_s,
        exposure_s=conditions.exposure_s,
        temperature_c=conditions.temperature_c,
        viscosity_pa_s=conditions.resolved_viscosity_pa_s(),
    )
    params.validate()
    return params


def open_for_analysis(data: Any, source: str | None, conditions: SizingConditions) -> Any:
    """A :class:`~napari_pynta.readers.Movie` from the source path, else from the layer data."""
    from napari_pynta.readers import Movie, open_movie

    if source and Path(source).exists():
        return open_movie(source)
    frames = (
        data if isinstance(data, da.Array) else da.from_array(data, chunks=(1, *data.shape[1:]))
    )
    metadata = {
        "pixel_size_um": conditions.pixel_size_um,
        "frame_interval_s": conditions.frame_interval_s,
        "exposure_s": conditions.exposure_s,
        "temperature_c": conditions.temperature_c,
    }
    return Movie(frames=frames, metadata=metadata, source=source or "layer", store=None)


def save_results(store_path: str | Path, result: Any) -> str:
    """Write the result tables into the pynta store at ``store_path``; return the path."""
    from napari_pynta.store import MovieStore

    store = MovieStore.open(store_path, mode="r+")
    try:
        for name in RESULT_TABLES:
            store.write_table(name, getattr(result, name))
    finally:
        store.close()
    return str(store_path)


class AnalysisCancelled(Exception):
    """Raised inside the analysis when it was cancelled or the viewer that asked for it closed."""


def analyze_movie(
    data: Any,
    source: str | None,
    tracking: TrackingSettings,
    conditions: SizingConditions,
    should_stop: Callable[[], bool] = lambda: False,
) -> AnalysisOutcome:
    """Analyse a movie with a napari progress bar and save results into its store, if any.

    Parameters
    ----------
    data : array-like or None
        (T, Y, X) frames of the layer (used when ``source`` is not an existing path).
    source : str or None
        Path the movie was read from.
    tracking, conditions
        The Tracking and Sizes widget settings.
    should_stop : callable
        Polled at every progress report (every 16 frames) and before saving; when it returns
        True the analysis ends with :class:`AnalysisCancelled` (Cancel pressed, or the viewer
        closed) and nothing is saved.

    Returns
    -------
    AnalysisOutcome
    """
    from napari.utils import progress

    from napari_pynta.analysis import analyze

    params = analysis_params(tracking, conditions)
    movie = open_for_analysis(data, source, conditions)
    n_frames = int(movie.frames.shape[0])
    with progress(total=n_frames, desc="PyNTA analysis") as bar:

        def report(done: int, total: int) -> None:
            if should_stop():
                raise AnalysisCancelled("the analysis was cancelled")
            bar.update(done - bar.n)

        result = analyze(movie, params, progress=report)
    if should_stop():  # cancelled during linking or sizing: the store stays as it was
        raise AnalysisCancelled("the analysis was cancelled")
    saved_to = save_results(movie.store.path, result) if movie.store is not None else None
    return AnalysisOutcome(result=result, saved_to=saved_to)


def analyze_measurement_folder(
    folder: str,
    tracking: TrackingSettings,
    depth_um: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Any:
    """Analyse every capture of a measurement folder with a napari progress bar.

    Each capture is analysed under its stored metadata (pixel size, timing, temperature) with
    the Tracking widget's detection and linking settings and ``depth_um`` (None: no particles
    per mL), like ``pynta analyze FOLDER --combine [--depth-um Z]``. Nothing is saved into the
    stores.

    Parameters
    ----------
    folder : str
        The measurement folder.
    tracking : TrackingSettings
        Detection and linking settings.
    depth_um : float or None
        Depth of the detection volume.
    should_stop : callable
        Polled at every progress report; True ends the analysis with
        :class:`AnalysisCancelled`.

    Returns
    -------
    napari_pynta.measurement_analysis.MeasurementAnalysis
    """
    from napari.utils import progress

    from napari_pynta.analysis import AnalysisParams
    from napari_pynta.measurement_analysis import analyze_measurement

    overrides = {**tracking_fields(tracking), "depth_um": depth_um}
    with progress(total=0, desc="PyNTA measurement") as bar:

        def report(index: int, done: int, total: int) -> None:
            if should_stop():
                raise AnalysisCancelled("the analysis was cancelled")
            if bar.total != total:
                bar.total = total
            bar.set_description(f"PyNTA measurement, capture {index + 1}")
            bar.update(done - bar.n)

        result = analyze_measurement(
            folder,
            lambda movie: AnalysisParams.from_metadata(movie.metadata, **overrides),
            progress=report,
        )
    if should_stop():
        raise AnalysisCancelled("the analysis was cancelled")
    return result
