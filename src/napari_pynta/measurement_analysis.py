"""Analyse a measurement folder (replicate captures of one sample) and combine its captures.

The same steps as ``pynta analyze FOLDER --combine``: each capture is analysed with
:func:`napari_pynta.analysis.analyze` under the parameters ``make_params(movie)`` gives (its stored
metadata plus the user's detection and linking settings), described with its sample fields
(:func:`napari_pynta.sample.describe_movie`) and the summaries are combined by
:func:`napari_pynta.combine.combine_summaries`. The Sizes widget uses it; for the same folder and
settings its numbers are those of the command line.

Unlike a batch, a measurement is all or nothing: a capture that is missing, unreadable or fails
to analyse stops it with a message naming that capture, so that a mean ± SE is never quietly
taken over fewer captures than were recorded; captures recorded with different camera settings
(:data:`SHARED_SETTINGS`) are refused before any analysis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.measurement import (
    MEASUREMENT_FILE,
    capture_paths,
    is_measurement,
    planned_frames,
    short_capture_text,
)

#: settings every capture of one measurement must share (temperature may differ: each capture
#: is sized at its own)
SHARED_SETTINGS = (
    "camera",
    "frame_shape",
    "pixel_size_um",
    "frame_interval_s",
    "exposure_s",
    "gain",
    "solvent",
)
#: ``progress(capture_index, frames_done, frames_total)``: the capture being analysed (from 0;
#: :data:`POOLING` while all the captures' tracks are sized together) and the frames located so
#: far out of all the captures' frames
Progress = Callable[[int, int, int], None]
#: the ``capture_index`` of the last step: the captures' tracks pooled (:mod:`napari_pynta.pooled`)
POOLING = -1


@dataclass
class MeasurementAnalysis:
    """The analysed captures of one measurement and their combination.

    ``results`` are the captures' ``AnalysisResult`` objects in capture order (summaries with
    their sample attached), ``combined`` is :func:`~napari_pynta.combine.combine_summaries` of
    them with ``pooled`` (:func:`~napari_pynta.pooled.pooled_entry`: all their tracks sized
    together), ``description`` the folder's ``measurement.json`` and ``warnings`` what
    :func:`capture_warnings` says of the captures (those ``pynta analyze --combine`` prints).
    """

    folder: str
    captures: list[str]
    results: list[Any]
    combined: dict[str, Any]
    description: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def capture_name(path: str | Path, index: int) -> str:
    """How messages name capture ``index`` (from 0): ``capture 2 (capture-2.zarr)``."""
    return f"capture {index + 1} ({Path(path).name})"


def open_captures(folder: str | Path) -> list[Any]:
    """The captures of the measurement in ``folder`` as :class:`~napari_pynta.readers.Movie`.

    Raises
    ------
    PyntaInputError
        When ``folder`` is not a measurement folder.
    PyntaDataError
        When ``measurement.json`` is unreadable, a capture is missing or unreadable (named), or
        the captures were recorded with different settings (:func:`check_same_settings`).
    """
    from napari_pynta.readers import is_pynta_store, open_movie

    folder = Path(folder)
    if not is_measurement(folder):
        raise PyntaInputError(
            f"{str(folder)!r} is not a measurement folder: it has no {MEASUREMENT_FILE} "
            "(choose the folder that Measure or `pynta acquire --captures` wrote)",
            "measurement",
        )
    movies = []
    for index, path in enumerate(capture_paths(folder)):
        name = capture_name(path, index)
        if not Path(path).exists():
            raise PyntaDataError(f"{name} of {str(folder)!r} is missing")
        if not is_pynta_store(path):
            raise PyntaDataError(f"{name} of {str(folder)!r} is not a pynta store")
        try:
            movies.append(open_movie(path))
        except (PyntaDataError, PyntaInputError, OSError, ValueError) as error:
            raise PyntaDataError(f"{name} of {str(folder)!r} cannot be read: {error}") from None
    check_same_settings(movies)
    return movies


def recording_settings(movie: Any) -> dict[str, Any]:
    """The :data:`SHARED_SETTINGS` of one movie (None where unknown)."""
    metadata = movie.metadata
    values = {key: metadata.get(key) for key in SHARED_SETTINGS}
    values["frame_shape"] = tuple(int(n) for n in movie.frames.shape[1:])
    values["gain"] = (metadata.get("camera_settings") or {}).get("gain")
    return values


#: settings that each capture's frame times measure
#: (:func:`napari_pynta.timing.reconcile_frame_interval`): the captures of one camera that runs
#: off its nominal rate differ in their last digits
MEASURED_SETTINGS = ("frame_interval_s", "exposure_s")


#: relative difference below which two float settings are the same (round-off)
_ROUND_OFF = 1e-9


def _same(a: Any, b: Any, rel_tol: float = _ROUND_OFF) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel_tol)
    return bool(a == b)


def check_same_settings(movies: list[Any]) -> None:
    """Refuse captures recorded with different :data:`SHARED_SETTINGS`.

    Raises
    ------
    PyntaDataError
        Naming each differing setting with every capture's value.
    """
    differing = different_settings(movies)
    if differing is not None:
        raise PyntaDataError(f"{differing}: they cannot be combined")


def different_settings(movies: list[Any]) -> str | None:
    """What differs among the captures' :data:`SHARED_SETTINGS`, each setting with every
    capture's value (None when they agree; the :data:`MEASURED_SETTINGS` agree within
    :data:`napari_pynta.timing.INTERVAL_TOLERANCE`, by which a nominal interval stands for the
    measured one)."""
    from napari_pynta.timing import INTERVAL_TOLERANCE

    settings = [recording_settings(movie) for movie in movies]
    tolerance = {key: INTERVAL_TOLERANCE for key in MEASURED_SETTINGS}
    differing = [
        key
        for key in SHARED_SETTINGS
        if not all(
            _same(each[key], settings[0][key], tolerance.get(key, _ROUND_OFF)) for each in settings
        )
    ]
    if differing:
        details = "; ".join(
            f"{key}: "
            + ", ".join(
                f"{capture_name(movie.source, index)} {each[key]}"
                for index, (movie, each) in enumerate(zip(movies, settings, strict=True))
            )
            for key in differing
        )
        return f"the captures were recorded with different settings ({details})"
    return None


def mixed_measurements(movies: list[Any]) -> str | None:
    """A warning when the captures belong to more than one measurement, else None.

    Each capture store of ``pynta acquire --captures`` (and the Measure button) carries its
    measurement's ``measurement_id``; captures without one (plain recordings) are not counted.
    """
    ids = [movie.metadata.get("measurement_id") for movie in movies]
    distinct = {each for each in ids if each is not None}
    if len(distinct) < 2:
        return None
    listed = ", ".join(
        f"{capture_name(movie.source, index)} {each}"
        for index, (movie, each) in enumerate(zip(movies, ids, strict=True))
    )
    return (
        f"the captures belong to {len(distinct)} measurements (measurement_id: {listed}); "
        "combine the captures of one sample only"
    )


def same_recordings(movies: list[Any]) -> str | None:
    """A warning when two captures are one recording (a copied store), else None.

    A pynta store records when its recording started (``start_time``); two captures that
    started at the same moment with the same number of frames are copies of one, and
    combining them counts one capture twice (a standard error that is too small, 0 for two).
    """
    first: dict[tuple[str, int], int] = {}
    pairs = []
    for index, movie in enumerate(movies):
        start = movie.metadata.get("start_time")
        if not isinstance(start, str):
            continue
        key = (start, int(movie.frames.shape[0]))
        if key in first:
            pairs.append(
                f"{capture_name(movies[first[key]].source, first[key])} and "
                f"{capture_name(movie.source, index)}"
            )
        else:
            first[key] = index
    if not pairs:
        return None
    return (
        f"{'; '.join(pairs)} are one recording (the same start_time and frames): a "
        "copy counts as a second replicate and makes the standard error too small; combine "
        "each capture once"
    )


def missing_captures(movies: list[Any]) -> str | None:
    """A warning when the captures of one measurement are fewer than it was to have, else None.

    A measurement stopped with Ctrl-C during its second of three captures was combined as "over
    2 captures" with no word that one was never recorded (x27). Each capture store carries its
    measurement's ``n_captures`` and its own ``capture_index``; plain recordings, and captures
    of several measurements (:func:`mixed_measurements` says so), are not counted.
    """
    ids = {movie.metadata.get("measurement_id") for movie in movies}
    planned = {movie.metadata.get("n_captures") for movie in movies}
    if len(ids) != 1 or None in ids or len(planned) != 1 or None in planned:
        return None
    (n_captures,) = planned
    given = {movie.metadata.get("capture_index") for movie in movies}
    absent = [index for index in range(1, int(n_captures) + 1) if index not in given]
    if not absent:
        return None
    return (
        f"the measurement was to have {n_captures} captures, and capture"
        f"{'s' if len(absent) > 1 else ''} {', '.join(map(str, absent))} "
        f"{'are' if len(absent) > 1 else 'is'} not among these (the recording stopped before "
        f"its end, or a capture was left out): the mean ± SE rest on {len(given)} of them"
    )


def short_captures(movies: list[Any]) -> str | None:
    """A warning naming each capture that holds fewer frames than its measurement planned
    (:func:`~napari_pynta.measurement.planned_frames`), else None: a recording stopped early
    has no other marker, and the mean ± SE weighs it as much as a whole one (x28)."""
    said = [
        short_capture_text(
            capture_name(movie.source, index),
            int(movie.frames.shape[0]),
            planned_frames(movie.source, movie.metadata),
        )
        for index, movie in enumerate(movies)
    ]
    shorts = [text for text in said if text is not None]
    return "; ".join(shorts) if shorts else None


def capture_warnings(movies: list[Any], *, whole: bool = True) -> list[str]:
    """What a combination of ``movies`` should warn of: captures of several measurements
    (:func:`mixed_measurements`), one recording counted twice (:func:`same_recordings`),
    captures the measurement was to have but lacks (:func:`missing_captures`) and, when the
    movies are ``whole`` recordings (not a frame range of each), captures cut short
    (:func:`short_captures`)."""
    checks = [mixed_measurements, same_recordings, missing_captures]
    checks += [short_captures] if whole else []
    return [warning for check in checks if (warning := check(movies)) is not None]


def analyze_measurement(
    folder: str | Path,
    make_params: Callable[[Any], Any],
    *,
    progress: Progress | None = None,
    sample_overrides: Mapping[str, Any] | None = None,
) -> MeasurementAnalysis:
    """Analyse every capture of a measurement and combine them (mean ± SE across captures).

    Parameters
    ----------
    folder : str or Path
        The measurement folder (``measurement.json`` and one store per capture).
    make_params : callable
        ``make_params(movie) -> AnalysisParams`` for each capture (validated here).
    progress : callable, optional
        ``progress(capture_index, frames_done, frames_total)``, frames counted over all the
        captures; an exception it raises (e.g. to cancel) ends the analysis.
    sample_overrides : mapping, optional
        Sample fields that replace the stored ones (``pynta analyze --sample/--dilution``).

    Returns
    -------
    MeasurementAnalysis

    Raises
    ------
    PyntaInputError, PyntaDataError
        As :func:`open_captures`, or naming the capture whose analysis failed.
    """
    import json

    from napari_pynta.analysis import analyze
    from napari_pynta.combine import combine_summaries, sized_only
    from napari_pynta.pooled import pooled_entry
    from napari_pynta.sample import describe_movie

    movies = open_captures(folder)
    lengths = [int(movie.frames.shape[0]) for movie in movies]
    results = []
    for index, movie in enumerate(movies):
        name = capture_name(movie.source, index)
        try:
            params = make_params(movie)
            params.validate()
        except PyntaInputError as error:
            raise PyntaInputError(f"{name}: {error}", error.field) from None

        def report(done: int, total: int, index: int = index) -> None:
            if progress is not None:
                progress(index, sum(lengths[:index]) + done, sum(lengths))

        try:
            result = analyze(movie, params, progress=report)
        except (PyntaDataError, PyntaInputError, OSError) as error:
            raise PyntaDataError(f"{name} could not be analysed: {error}") from None
        describe_movie(result.summary, movie.metadata, **dict(sample_overrides or {}))
        results.append(result)
    description = json.loads((Path(folder) / MEASUREMENT_FILE).read_text(encoding="utf-8"))
    summaries = [result.summary for result in results]
    combined = combine_summaries(summaries)
    if progress is not None:
        progress(POOLING, sum(lengths), sum(lengths))
    # a capture that sized no track enters no combined value, the pooled tracks included
    combined["pooled"] = pooled_entry(sized_only(results, summaries), sized_only(movies, summaries))
    return MeasurementAnalysis(
        folder=str(folder),
        captures=[movie.source for movie in movies],
        results=results,
        combined=combined,
        description=description,
        warnings=capture_warnings(movies),
    )
