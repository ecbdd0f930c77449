"""Re-analysis of an opened movie from the GUI (runs in a worker thread, never on the GUI thread).

The movie is re-opened from its source path when it has one (so results can be saved into its
store), else analysed from the layer's data; :func:`napari_pynta.analysis.analyze` does the work and
reports its progress through ``on_progress`` to the widget's own bar (no napari ``progress``: made
in this thread, its bar was a Qt widget created and parented outside the GUI thread). The
*Frames* field next to *Analyze movie* limits the analysis to a part of the movie
(:mod:`napari_pynta.frame_range`, ``pynta analyze --frames``); the GUI's messages name the core's
``frame_range`` by that field (:func:`gui_message`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da

from napari_pynta.cancellation import checkpoint, stop_when
from napari_pynta.errors import PyntaDataError, PyntaInputError, named_message
from napari_pynta.frame_range import FrameRange
from napari_pynta.widgets.settings import SizingConditions, TrackingSettings

#: ``on_progress(done, total, elapsed_s, what)``: frames located of the total, seconds since the
#: analysis started, and what is analysed (e.g. "capture 2")
ProgressCallback = Callable[[int, int, float, str], None]
#: the label of the field next to *Analyze movie* that sets the frames analysed
FRAMES_LABEL = "Frames"
#: core field -> how the GUI's messages name it (the CLI names ``frame_range`` ``--frames``)
FIELD_NAMES = {"frame_range": FRAMES_LABEL}


def gui_message(error: BaseException) -> str:
    """The error's message with the fields named as the widgets label them (a damaged store's
    advice ``frame_range=128:300`` becomes ``Frames=128:300``)."""
    return named_message(error, FIELD_NAMES)


def frames_asked(text: str, n_frames: int, movie: str) -> FrameRange | None:
    """The part of a movie of ``n_frames`` frames that the *Frames* field asks for.

    Parameters
    ----------
    text : str
        The field: empty for every frame, else ``START:STOP`` as ``pynta analyze --frames``.
    n_frames : int
        The movie's length.
    movie : str
        How the message names the movie (its layer).

    Returns
    -------
    FrameRange or None
        None for every frame.

    Raises
    ------
    PyntaInputError
        Field ``frame_range``: the text is no range, or selects no frames of the movie (the
        message names its length and what is allowed).
    """
    if not text.strip():
        return None
    try:
        part = FrameRange.parse(text)
    except PyntaInputError as error:
        raise PyntaInputError(f"{error}; {movie!r} has {n_frames} frames", error.field) from None
    part.resolve(n_frames, movie)
    return part


def progress_text(done: int, total: int, elapsed_s: float, what: str = "") -> str:
    """``"[what: ]1200/4142 frames located · 01:35 elapsed, ~03:54 left"``, formatted by tqdm
    like the command line's progress bar; once every frame is located, ``"… located in 05:10;
    linking and sizing…"`` (those steps report no progress)."""
    from tqdm import tqdm

    located = f"{what}: " if what else ""
    located += "{n_fmt}/{total_fmt} frames located"
    then = (
        " in {elapsed}; linking and sizing…"
        if done >= total
        else " · {elapsed} elapsed, ~{remaining} left"
    )
    return tqdm.format_meter(done, total, elapsed_s, bar_format=located + then)


@dataclass
class AnalysisOutcome:
    """What :func:`analyze_movie` returns to the GUI thread: the result, the store its
    tables were saved into, or why they were not (a store that refuses to be written: a lost
    seq chunk, another process writing it)."""

    result: Any
    saved_to: str | None
    not_saved: str | None = None


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
        "blur_separation": tracking.blur_separation,
        "blur_gap_spread": tracking.blur_gap_spread,
        "wide_centroid": tracking.wide_centroid,
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


def open_for_analysis(
    data: Any,
    source: str | None,
    conditions: SizingConditions,
    frame_range: FrameRange | None = None,
) -> Any:
    """A :class:`~napari_pynta.readers.Movie` from the source path, else from the layer data;
    only the frames ``frame_range`` of it when given (None: all)."""
    from napari_pynta.readers import Movie, check_integer_pixels, movie_part, open_movie

    if source and Path(source).exists():
        return open_movie(source, frame_range)
    check_integer_pixels(
        data.dtype,
        f"the layer {source!r}" if source else "the layer",
    )
    frames = (
        data if isinstance(data, da.Array) else da.from_array(data, chunks=(1, *data.shape[1:]))
    )
    metadata = {
        "pixel_size_um": conditions.pixel_size_um,
        "frame_interval_s": conditions.frame_interval_s,
        "exposure_s": conditions.exposure_s,
        "temperature_c": conditions.temperature_c,
    }
    movie = Movie(frames=frames, metadata=metadata, source=source or "layer", store=None)
    return movie_part(movie, frame_range)


def save_results(store_path: str | Path, result: Any) -> str:
    """Write the result tables into the pynta store at ``store_path`` as one set, as `pynta
    analyze` does (:meth:`~napari_pynta.analysis.AnalysisResult.save_results`: a write that
    stops half-way leaves no mix of two analyses); return the path."""
    from napari_pynta.store import MovieStore

    store = MovieStore.open(store_path, mode="r+")
    try:
        result.save_results(store)
    finally:
        store.close()
    return str(store_path)


def analyze_movie(
    data: Any,
    source: str | None,
    tracking: TrackingSettings,
    conditions: SizingConditions,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: ProgressCallback | None = None,
    frame_range: FrameRange | None = None,
) -> AnalysisOutcome:
    """Analyse a movie and save results into its store, if any (runs in a worker thread).

    Parameters
    ----------
    data : array-like or None
        (T, Y, X) frames of the layer (used when ``source`` is not an existing path).
    source : str or None
        Path the movie was read from.
    tracking, conditions
        The Tracking and Sizes widget settings.
    should_stop : callable
        Polled at every progress report (every 16 frames), at every frame linked and every
        iteration of the size deconvolution (:mod:`napari_pynta.cancellation`), and before
        saving; when it returns True the analysis ends with
        :class:`~napari_pynta.cancellation.AnalysisCancelled` (Cancel pressed, or the viewer
        closed) and nothing is saved.
    on_progress : callable, optional
        ``on_progress(done, total, elapsed_s, "")`` at every progress report (the widget's bar).
    frame_range : FrameRange, optional
        Analyse only these recorded frames (the *Frames* field); None: all. The result's tables
        keep the recorded frames' indices and its summary's ``frame_range`` says which.

    Returns
    -------
    AnalysisOutcome
    """
    from napari_pynta.analysis import analyze

    params = analysis_params(tracking, conditions)
    movie = open_for_analysis(data, source, conditions, frame_range)
    started = time.monotonic()

    def report(done: int, total: int) -> None:
        checkpoint()
        if on_progress is not None:
            on_progress(done, total, time.monotonic() - started, "")

    with stop_when(should_stop):
        result = analyze(movie, params, progress=report)
        checkpoint()  # cancelled after the last checkpoint: the store stays as it was
    if movie.store is None:
        return AnalysisOutcome(result=result, saved_to=None)
    try:
        return AnalysisOutcome(result=result, saved_to=save_results(movie.store.path, result))
    except PyntaDataError as error:  # the result stands; `pynta analyze` says the same
        return AnalysisOutcome(result, None, f"results not saved into the store: {error}")
    except OSError as error:  # a full disk lost the result computed (x28)
        return AnalysisOutcome(result, None, not_saved_text(error))


def not_saved_text(error: OSError) -> str:
    """Why the results shown were not saved into the store (``error``: the file system's), and
    for a full disk that the store's results are incomplete until the movie is analysed again."""
    from napari_pynta.cli import NO_SPACE_ERRNOS

    said = f"results not saved into the store: {error.strerror or error}"
    if error.errno not in NO_SPACE_ERRNOS:
        return said
    return (
        f"{said} (the disk is full, or a file size limit or quota was reached): the results "
        "shown are complete and the frames untouched, but the store's results are incomplete; "
        "free disk space and analyse the movie again"
    )


def analyze_measurement_folder(
    folder: str,
    tracking: TrackingSettings,
    depth_um: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: ProgressCallback | None = None,
) -> Any:
    """Analyse every capture of a measurement folder (runs in a worker thread).

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
        Polled at every progress report, frame linked and deconvolution iteration; True ends
        the analysis with :class:`~napari_pynta.cancellation.AnalysisCancelled`.
    on_progress : callable, optional
        ``on_progress(done, total, elapsed_s, "capture N")`` at every progress report ("all
        captures' tracks" while they are sized together).

    Returns
    -------
    napari_pynta.measurement_analysis.MeasurementAnalysis
    """
    from napari_pynta.analysis import AnalysisParams
    from napari_pynta.measurement_analysis import POOLING, analyze_measurement

    overrides = {**tracking_fields(tracking), "depth_um": depth_um}
    started = time.monotonic()

    def report(index: int, done: int, total: int) -> None:
        checkpoint()
        step = "all captures' tracks" if index == POOLING else f"capture {index + 1}"
        if on_progress is not None:
            on_progress(done, total, time.monotonic() - started, step)

    with stop_when(should_stop):
        result = analyze_measurement(
            folder,
            lambda movie: AnalysisParams.from_metadata(movie.metadata, **overrides),
            progress=report,
        )
        checkpoint()
    return result
