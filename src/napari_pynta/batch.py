"""Batch re-analysis of many movies, on a dask.distributed cluster or one after the other.

On a cluster every movie becomes a small task graph of the serial pipeline's own steps
(:mod:`napari_pynta.analysis`)::

    prepare (detection_threshold) -> detect chunks (detect_frames) -> finish (analyze_localizations)

Each task opens the movie lazily on its worker and reads only the frames it needs, so frames never
travel through the scheduler. Detection works frame by frame and the automatic diameter and
``minmass`` are fixed once per movie before the movie is split, so the chunked result equals
:func:`napari_pynta.analysis.analyze` exactly (same localizations, tracks and numbers). Several
movies are in flight at once.

A movie that cannot be opened, lacks required metadata, or fails in any of its tasks is reported
in its own :class:`MovieOutcome` while the other movies finish.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
from distributed import Client, Future, as_completed
from tqdm.auto import tqdm

from napari_pynta import analysis, detect
from napari_pynta.analysis import AnalysisParams, AnalysisResult
from napari_pynta.combine import captures_combined
from napari_pynta.errors import PyntaDataError, PyntaInputError, named_message, require_int
from napari_pynta.export import make_output_directory
from napari_pynta.frame_range import FrameRange
from napari_pynta.readers import Movie, open_movie
from napari_pynta.sample import SAMPLE_KEYS, describe_movie

#: a detection task covers about this many bytes of raw pixels (bounds the work lost on a failure
#: and keeps tasks short enough for the scheduler to balance)
CHUNK_TARGET_BYTES = 64 * 2**20

#: ``make_params(movie) -> AnalysisParams``: a movie's parameters from its metadata and user options
ParamsFactory = Callable[[Movie], AnalysisParams]


@dataclass
class MovieOutcome:
    """What became of one movie of a batch: its result, or the error that stopped it.

    Attributes
    ----------
    path : str
        The movie as given.
    result : AnalysisResult or None
        The analysis, exactly as :func:`napari_pynta.analysis.analyze` returns it.
    error : str or None
        Why the movie was not analysed: the message of bad input or unreadable data
        (``PyntaInputError``, ``PyntaDataError``), its fields named as the caller names them;
        ``"<ExceptionType>: <message>"`` for any other error (a bug).
    """

    path: str
    result: AnalysisResult | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the movie was analysed (sized or not: see :attr:`status`)."""
        return self.result is not None

    @property
    def unsized_reason(self) -> str | None:
        """Why the analysed movie sized no track (its summary's ``unsized_reason``); None when
        it sized some, or was not analysed."""
        return None if self.result is None else self.result.summary.get("unsized_reason")

    @property
    def status(self) -> str:
        """``"ok"`` (sized), ``"unsized"`` (analysed, but no track was sized: a failed
        measurement whose summary is kept) or ``"error"`` (not analysed)."""
        if self.result is None:
            return "error"
        return "ok" if self.unsized_reason is None else "unsized"


class _SynchronousFrames:
    """A dask frame stack whose slices are read in the calling thread.

    Inside a dask worker a plain ``compute()`` would submit the read back to the cluster (and can
    deadlock a worker with one thread); this view reads with the synchronous scheduler instead.
    """

    def __init__(self, frames: da.Array) -> None:
        self._frames = frames
        self.shape = frames.shape
        self.ndim = frames.ndim
        self.dtype = frames.dtype

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._frames[key].compute(scheduler="synchronous")


def _open_frames(source: str, part: FrameRange | None) -> _SynchronousFrames:
    return _SynchronousFrames(open_movie(source, part).frames)


def frame_chunks(n_frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """Split ``range(n_frames)`` into consecutive half-open ``(start, stop)`` ranges.

    Parameters
    ----------
    n_frames : int
        Number of frames of the movie (>= 0).
    chunk_frames : int
        Frames per chunk (>= 1); the last chunk may be shorter.

    Returns
    -------
    list of (int, int)
        Ranges covering every frame exactly once, in order.
    """
    require_int("chunk_frames", chunk_frames, minimum=1)
    return [
        (start, min(start + int(chunk_frames), n_frames))
        for start in range(0, n_frames, int(chunk_frames))
    ]


def default_chunk_frames(frame_bytes: int, n_frames: int, n_workers: int) -> int:
    """Frames per detection task: about :data:`CHUNK_TARGET_BYTES` of pixels, and at least two
    chunks per worker so that even a single movie keeps every worker busy.

    Parameters
    ----------
    frame_bytes : int
        Size of one raw frame in bytes.
    n_frames : int
        Number of frames of the movie.
    n_workers : int
        Number of workers of the cluster.

    Returns
    -------
    int
        A chunk length >= 1.
    """
    by_memory = max(1, CHUNK_TARGET_BYTES // max(1, int(frame_bytes)))
    by_parallelism = max(1, math.ceil(n_frames / (2 * max(1, n_workers))))
    return int(min(by_memory, by_parallelism))


# ------------------------------------------------------------------------- worker tasks
def prepare_threshold(
    source: str, params: AnalysisParams, part: FrameRange | None = None
) -> detect.ThresholdEstimate:
    """Fix the movie-wide detection threshold before the movie is split (runs on a worker).

    Parameters
    ----------
    source : str
        Absolute path of the movie, readable from the worker.
    params : AnalysisParams
        Validated parameters.
    part : FrameRange, optional
        The frames analysed (``open_movie``'s ``frame_range``); None: all.

    Returns
    -------
    ThresholdEstimate
        The automatic (or the user's) diameter and ``minmass`` of the whole movie and the noise
        diagnostic.
    """
    return analysis.detection_threshold(_open_frames(source, part), params)


def prepare_params(params: AnalysisParams, threshold: detect.ThresholdEstimate) -> AnalysisParams:
    """``params`` with the movie's diameter and threshold filled in (for :func:`detect_chunk`)."""
    return analysis.with_detection(params, threshold)


def detect_chunk(
    source: str,
    start: int,
    stop: int,
    params: AnalysisParams,
    threshold: detect.ThresholdEstimate | None = None,
    part: FrameRange | None = None,
) -> pd.DataFrame:
    """Localize particles in frames ``start:stop`` of a movie (runs on a worker).

    Parameters
    ----------
    source : str
        Absolute path of the movie, readable from the worker.
    start, stop : int
        Half-open range of frame numbers.
    params : AnalysisParams
        The output of :func:`prepare_params`.
    threshold : ThresholdEstimate, optional
        The output of :func:`prepare_threshold` (its hot pixels are repaired).
    part : FrameRange, optional
        The frames analysed; ``start:stop`` count from its first.

    Returns
    -------
    pandas.DataFrame
        The chunk's localizations, numbered with the movie's frame numbers.
    """
    frames = _open_frames(source, part)
    hot = threshold.hot_pixels if threshold is not None else None
    return analysis.detect_frames(frames[start:stop], params, first_frame=start, hot_pixels=hot)


def finish_movie(
    chunk_localizations: Sequence[pd.DataFrame],
    n_frames: int,
    frame_shape: tuple[int, int],
    params: AnalysisParams,
    source: str | None,
    metadata: dict[str, Any] | None = None,
    threshold: detect.ThresholdEstimate | None = None,
    notes: Sequence[str] = (),
    frame_numbers: np.ndarray | None = None,
    first_frame: int = 0,
) -> AnalysisResult:
    """Link, size and summarize one movie from its chunks' localizations (runs on a worker).

    Parameters
    ----------
    chunk_localizations : sequence of pandas.DataFrame
        The :func:`detect_chunk` tables of every chunk, in frame order.
    n_frames : int
        Number of frames of the movie.
    frame_shape : (int, int)
        Frame size (Y, X) in pixels.
    params : AnalysisParams
        The output of :func:`prepare_params`.
    source : str or None
        The movie's source as the serial analysis records it.
    metadata : dict, optional
        The movie's metadata (its sample and recording go into the summary).
    threshold : ThresholdEstimate, optional
        The output of :func:`prepare_threshold`.
    notes : sequence of str
        The movie's own warnings (``Movie.warnings``).
    frame_numbers : ndarray, optional
        The movie's acquisition frame numbers when its camera lost frames (``Movie.frame_numbers``:
        steps across the gaps are sized with their true duration).
    first_frame : int
        ``Movie.first_frame``: the first analysed frame's index among the recorded ones.

    Returns
    -------
    AnalysisResult
        Equal to :func:`napari_pynta.analysis.analyze` on the same movie.
    """
    tables = [table for table in chunk_localizations if len(table)]
    localizations = pd.concat(tables, ignore_index=True) if tables else detect.empty_localizations()
    result = analysis.analyze_detected(
        localizations,
        n_frames,
        params,
        frame_numbers,
        source=source,
        frame_shape=frame_shape,
        threshold=threshold,
        notes=notes,
        first_frame=first_frame,
    )
    describe_movie(result.summary, metadata or {})
    return result


# ------------------------------------------------------------------------- drivers
def _describe(error: BaseException, names: Mapping[str, str]) -> str:
    """A movie's error as :attr:`MovieOutcome.error` (``names``: field -> the caller's name)."""
    if isinstance(error, (PyntaDataError, PyntaInputError)):
        return named_message(error, names)
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class DataFailure:
    """Why a movie cannot be analysed, met in a worker task and returned as its value.

    A task that raises makes its dask worker log "Compute Failed" with the task and a
    traceback, which a local cluster prints in the user's terminal above the one-line error; a
    damaged or unreadable movie is the data's fault, not a crash (:class:`_Task`).
    """

    error: str  # as MovieOutcome.error


@dataclass(frozen=True)
class _Task:
    """A batch step run on a worker: a :class:`~napari_pynta.errors.PyntaDataError` or
    :class:`~napari_pynta.errors.PyntaInputError` it raises becomes a :class:`DataFailure`
    value, and a failure among its arguments (from an earlier step of the movie; ``finish``
    gets its chunks as a list) is passed on, so the movie's last step returns it.
    Other errors (bugs, a lost worker) are raised as before."""

    function: Callable[..., Any]
    names: Mapping[str, str]  # field -> how the user names it (the CLI's flags)

    def __call__(self, *args: Any) -> Any:
        for argument in args:
            values = argument if isinstance(argument, list) else [argument]
            failure = next((value for value in values if isinstance(value, DataFailure)), None)
            if failure is not None:
                return failure
        try:
            return self.function(*args)
        except (PyntaDataError, PyntaInputError) as error:
            return DataFailure(_describe(error, self.names))


def _movies_done(outcomes: Sequence[MovieOutcome]) -> str:
    done = sum(outcome.ok or outcome.error is not None for outcome in outcomes)
    return f"movies done {done}/{len(outcomes)}"


@dataclass(frozen=True)
class _Plan:
    source: str  # absolute path the workers open
    recorded_source: str  # what the serial analysis writes in the summary
    params: AnalysisParams
    n_frames: int
    frame_shape: tuple[int, int]
    chunks: tuple[tuple[int, int], ...]
    metadata: dict[str, Any]
    warnings: tuple[str, ...]
    frame_numbers: np.ndarray | None  # acquisition numbers when the camera lost frames
    part: FrameRange | None  # the frames analysed (None: all)
    first_frame: int  # the first one's index among the recorded frames


def _plan(
    path: str | os.PathLike[str],
    make_params: ParamsFactory,
    chunk_frames: int | None,
    n_workers: int,
    part: FrameRange | None = None,
) -> _Plan:
    """Open a movie (metadata only), build and validate its parameters, cut it into chunks."""
    with open_movie(os.fspath(path), part) as movie:
        return _plan_movie(path, movie, make_params, chunk_frames, n_workers, part)


def _plan_movie(
    path: str | os.PathLike[str],
    movie: Movie,
    make_params: ParamsFactory,
    chunk_frames: int | None,
    n_workers: int,
    part: FrameRange | None,
) -> _Plan:
    params = make_params(movie).validate()
    analysis.check_movie(movie.frames, params)
    n_frames = int(movie.frames.shape[0])
    frame_shape = (int(movie.frames.shape[1]), int(movie.frames.shape[2]))
    frame_bytes = math.prod(frame_shape) * movie.frames.dtype.itemsize
    length = chunk_frames or default_chunk_frames(frame_bytes, n_frames, n_workers)
    return _Plan(
        os.path.abspath(os.fspath(path)),
        movie.source,
        params,
        n_frames,
        frame_shape,
        tuple(frame_chunks(n_frames, length)),
        movie.metadata,
        tuple(movie.warnings),
        movie.frame_numbers,
        part,
        movie.first_frame,
    )


def analyze_batch(
    paths: Sequence[str | os.PathLike[str]],
    client: Client,
    make_params: ParamsFactory,
    *,
    chunk_frames: int | None = None,
    progress: bool = True,
    names: Mapping[str, str] | None = None,
    frame_range: FrameRange | None = None,
) -> list[MovieOutcome]:
    """Analyse many movies on a dask cluster, several at once, each split into frame chunks.

    Parameters
    ----------
    paths : sequence of path-like
        Movies (pynta stores, TIFF files, folders of frames). Workers must be able to read them
        at the same absolute path (a shared file system on a real cluster).
    client : distributed.Client
        A connected client (see :func:`napari_pynta.cluster.dask_client`).
    make_params : callable
        ``make_params(movie) -> AnalysisParams``; an error it raises is that movie's error.
    chunk_frames : int or None
        Frames per detection task; None picks :func:`default_chunk_frames`.
    progress : bool
        Show a progress bar over all frames of the batch on stderr.
    names : mapping of str to str, optional
        How the movies' errors name the fields they refuse (field -> e.g. its CLI flag).
    frame_range : FrameRange, optional
        Analyse these frames of every movie (``open_movie``'s ``frame_range``); None: all.

    Returns
    -------
    list of MovieOutcome
        One per path, in the order of ``paths``.
    """
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    names = dict(names or {})
    outcomes = [MovieOutcome(str(path)) for path in paths]
    token = uuid.uuid4().hex[:8]
    frames_of: dict[Future, int] = {}  # detection future -> number of frames it covers
    movie_of: dict[Future, int] = {}  # finishing future -> index of its movie
    for index, path in enumerate(paths):
        try:
            plan = _plan(path, make_params, chunk_frames, n_workers, frame_range)
        except Exception as error:  # noqa: BLE001 - one bad movie must not stop the batch
            outcomes[index].error = _describe(error, names)
            continue
        prefix = f"pynta-{token}-{index}"
        threshold = client.submit(
            _Task(prepare_threshold, names),
            plan.source,
            plan.params,
            plan.part,
            key=f"{prefix}-prepare",
        )
        params = client.submit(
            _Task(prepare_params, names), plan.params, threshold, key=f"{prefix}-params"
        )
        chunks = [
            client.submit(
                _Task(detect_chunk, names),
                plan.source,
                start,
                stop,
                params,
                threshold,
                plan.part,
                key=f"{prefix}-detect-{start}",
            )
            for start, stop in plan.chunks
        ]
        frames_of.update(
            {chunk: stop - start for chunk, (start, stop) in zip(chunks, plan.chunks, strict=False)}
        )
        finish = client.submit(
            _Task(finish_movie, names),
            chunks,
            plan.n_frames,
            plan.frame_shape,
            params,
            plan.recorded_source,
            plan.metadata,
            threshold,
            plan.warnings,
            plan.frame_numbers,
            plan.first_frame,
            key=f"{prefix}-finish",
            priority=1,
        )
        movie_of[finish] = index
    with tqdm(
        total=sum(frames_of.values()),
        unit="frame",
        desc="pynta analyze",
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        bar.set_postfix_str(_movies_done(outcomes))
        for future in as_completed([*frames_of, *movie_of], loop=client.loop):
            if future in frames_of:
                bar.update(frames_of.pop(future))
                continue
            index = movie_of.pop(future)
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - a failed task fails its movie only
                result = DataFailure(_describe(error, names))
            if isinstance(result, DataFailure):
                outcomes[index].error = result.error
            else:
                outcomes[index].result = result
            bar.set_postfix_str(_movies_done(outcomes))
    return outcomes


def analyze_serially(
    paths: Sequence[str | os.PathLike[str]],
    make_params: ParamsFactory,
    *,
    progress: bool = True,
    names: Mapping[str, str] | None = None,
    frame_range: FrameRange | None = None,
) -> list[MovieOutcome]:
    """Analyse movies one after the other in this process with :func:`analysis.analyze`.

    Parameters
    ----------
    paths : sequence of path-like
        The movies.
    make_params : callable
        ``make_params(movie) -> AnalysisParams``; an error it raises is that movie's error.
    progress : bool
        Show a progress bar over the movies on stderr.
    names : mapping of str to str, optional
        How the movies' errors name the fields they refuse (field -> e.g. its CLI flag).
    frame_range : FrameRange, optional
        Analyse these frames of every movie (``open_movie``'s ``frame_range``); None: all.

    Returns
    -------
    list of MovieOutcome
        One per path, in the order of ``paths``.
    """
    outcomes = []
    names = names or {}
    for path in tqdm(paths, unit="movie", desc="pynta analyze", disable=not progress):
        outcome = MovieOutcome(str(path))
        try:
            with open_movie(path, frame_range) as movie:
                outcome.result = analysis.analyze(movie, make_params(movie))
        except Exception as error:  # noqa: BLE001 - one bad movie must not stop the batch
            outcome.error = _describe(error, names)
        outcomes.append(outcome)
    return outcomes


# ------------------------------------------------------------------------- reporting
#: the frames a movie's analysis took, its summary's ``frame_range`` [start, stop): the
#: ``START:STOP`` of ``--frames`` (0 and the movie's length for a whole movie)
FRAME_RANGE_COLUMNS = ("frame_start", "frame_stop")
#: summary keys copied into the one-row-per-movie table
SUMMARY_COLUMNS = (
    "n_frames",
    "n_localizations",
    "particles_per_frame",
    "n_tracks",
    "diameter_nm",
    "diameter_se_nm",
    "D_um2_s",
    "D_se_um2_s",
)
#: size statistics copied into the table (``size_nm`` raw and ``deconvolved_nm`` of the summary)
SIZE_COLUMNS = ("mean", "mode", "sd", "d10", "d50", "d90", "span")
#: concentration entries copied into the table
CONCENTRATION_COLUMNS = (
    "particles_in_view_per_frame",
    "particles_per_ml",
    "sample_particles_per_ml",
)
#: ``combine.combine_summaries`` key -> the summary-table column holding that quantity
COMBINED_COLUMNS = {
    "d10_nm": "deconvolved_d10_nm",
    "d50_nm": "deconvolved_d50_nm",
    "d90_nm": "deconvolved_d90_nm",
    "mode_nm": "deconvolved_mode_nm",
    "ensemble_diameter_nm": "diameter_nm",
    "particles_per_frame": "particles_per_frame",
    "concentration_per_ml": "sample_particles_per_ml",
}
_COUNT_COLUMNS = (*FRAME_RANGE_COLUMNS, "n_frames", "n_localizations", "n_tracks", "n_warnings")


def summary_table(outcomes: Sequence[MovieOutcome]) -> pd.DataFrame:
    """One row per movie: status, the headline numbers of its summary, or its error.

    Parameters
    ----------
    outcomes : sequence of MovieOutcome
        The batch's outcomes.

    Returns
    -------
    pandas.DataFrame
        Columns ``movie, status, <sample fields>, frame_start, frame_stop`` (the frames
        analysed, ``frame_start`` to ``frame_stop - 1``: the summary's ``frame_range``, the
        ``--frames START:STOP``), ``<summary numbers>, size_<statistic>_nm`` (raw per-track),
        ``deconvolved_<statistic>_nm`` (the ones to quote), ``particles_per_ml`` (measured),
        ``sample_particles_per_ml`` (× ``dilution_factor``), ``n_warnings, error`` (why the
        movie failed, or why it sized no track: status ``unsized``).
    """
    rows = []
    for outcome in outcomes:
        row: dict[str, Any] = {"movie": outcome.path, "status": outcome.status}
        summary = outcome.result.summary if outcome.result is not None else {}
        sample = summary.get("sample") or {}
        row.update({key: sample.get(key) for key in SAMPLE_KEYS})
        frame_range = summary.get("frame_range") or (None, None)
        row.update(dict(zip(FRAME_RANGE_COLUMNS, frame_range, strict=True)))
        row.update({key: summary.get(key) for key in SUMMARY_COLUMNS})
        sizes = summary.get("size_nm") or {}
        row.update({f"size_{key}_nm": sizes.get(key) for key in SIZE_COLUMNS})
        deconvolved = summary.get("deconvolved_nm") or {}
        row.update({f"deconvolved_{key}_nm": deconvolved.get(key) for key in SIZE_COLUMNS})
        concentration = summary.get("concentration") or {}
        row.update({key: concentration.get(key) for key in CONCENTRATION_COLUMNS})
        row["n_warnings"] = len(summary.get("warnings", [])) if outcome.ok else None
        row["error"] = outcome.error or outcome.unsized_reason
        rows.append(row)
    table = pd.DataFrame(
        rows,
        columns=[
            "movie",
            "status",
            *SAMPLE_KEYS,
            *FRAME_RANGE_COLUMNS,
            *SUMMARY_COLUMNS,
            *(f"size_{key}_nm" for key in SIZE_COLUMNS),
            *(f"deconvolved_{key}_nm" for key in SIZE_COLUMNS),
            *CONCENTRATION_COLUMNS,
            "n_warnings",
            "error",
        ],
    )
    # counts stay integers next to the empty cells of failed movies
    return table.astype({name: "Int64" for name in _COUNT_COLUMNS})


def with_combined_rows(table: pd.DataFrame, combined: dict[str, Any]) -> pd.DataFrame:
    """Append the rows ``combined mean (N captures)`` and ``combined se (N captures)`` (``M of
    N captures`` when captures that sized no track were left out) to a
    :func:`summary_table` (quantities in their columns, see :data:`COMBINED_COLUMNS`) and,
    when ``combined`` has its ``pooled`` entry (:func:`napari_pynta.pooled.pooled_entry`), the
    row ``pooled (N captures)``: the tracks of all the captures sized together (status
    ``not pooled`` with the reason in ``error`` when they were not).

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`summary_table`.
    combined : dict
        Output of :func:`napari_pynta.combine.combine_summaries`.

    Returns
    -------
    pandas.DataFrame
    """
    rows = [
        {"movie": f"combined {statistic} ({captures_combined(combined)})", "status": "ok"}
        | {column: combined[key][statistic] for key, column in COMBINED_COLUMNS.items()}
        for statistic in ("mean", "se")
    ]
    pooled = combined.get("pooled")
    if pooled is not None:
        rows.append(_pooled_row(pooled))
    return pd.concat([table, pd.DataFrame(rows, columns=table.columns)], ignore_index=True)


def _pooled_row(pooled: dict[str, Any]) -> dict[str, Any]:
    """The ``pooled`` entry of a combined result as a :func:`summary_table` row."""
    row: dict[str, Any] = {"movie": f"pooled ({pooled['n_captures']} captures)"}
    if pooled["reason"] is not None:
        return row | {"status": "not pooled", "error": pooled["reason"]}
    deconvolved = pooled.get("deconvolved_nm") or {}
    return (
        row
        | {"status": "ok", "n_tracks": pooled["n_tracks"], "diameter_nm": pooled["diameter_nm"]}
        | {f"deconvolved_{key}_nm": deconvolved.get(key) for key in SIZE_COLUMNS}
        | {"n_warnings": len(pooled.get("warnings") or [])}
    )


def combined_table(outcomes: Sequence[MovieOutcome], name: str = "per_track") -> pd.DataFrame:
    """A result table of every analysed movie stacked, with a first column ``movie``.

    Parameters
    ----------
    outcomes : sequence of MovieOutcome
        The batch's outcomes (failed movies contribute no rows).
    name : str
        A table of :data:`napari_pynta.analysis.TABLE_NAMES`.

    Returns
    -------
    pandas.DataFrame
    """
    if name not in analysis.TABLE_NAMES:
        raise PyntaInputError(
            f"table must be one of {', '.join(analysis.TABLE_NAMES)}, got {name!r}"
        )
    tables = [
        outcome.result.tables()[name].assign(movie=outcome.path)
        for outcome in outcomes
        if outcome.result is not None
    ]
    if not tables:
        return pd.DataFrame(columns=["movie"])
    combined = pd.concat(tables, ignore_index=True)
    return combined[["movie", *[column for column in combined.columns if column != "movie"]]]


def batch_json(outcomes: Sequence[MovieOutcome]) -> dict[str, Any]:
    """The JSON object of a batch: one entry per movie, with its summary or its error.

    Parameters
    ----------
    outcomes : sequence of MovieOutcome
        The batch's outcomes.

    Returns
    -------
    dict
        ``{"n_movies", "n_failed", "n_unsized", "movies": [{"path", "status", "summary",
        "error"}, ...]}`` where ``status`` is :attr:`MovieOutcome.status`, ``summary`` exactly
        the single-movie ``pynta analyze --json`` object (also of an ``unsized`` movie) and
        ``error`` the reason of an ``error`` or ``unsized`` movie.
    """
    movies = [
        {
            "path": outcome.path,
            "status": outcome.status,
            "summary": outcome.result.summary if outcome.result is not None else None,
            "error": outcome.error or outcome.unsized_reason,
        }
        for outcome in outcomes
    ]
    return {
        "n_movies": len(movies),
        "n_failed": sum(not outcome.ok for outcome in outcomes),
        "n_unsized": sum(outcome.status == "unsized" for outcome in outcomes),
        "movies": movies,
    }


def _folder_names(paths: Sequence[str]) -> list[str]:
    """A distinct folder name per movie: its file name without suffix (``-2``... on clashes)."""
    names: list[str] = []
    for path in paths:
        base = Path(path.rstrip("/\\")).stem or "movie"
        name, copy = base, 1
        while name in names:
            copy += 1
            name = f"{base}-{copy}"
        names.append(name)
    return names


def write_batch_outputs(
    outcomes: Sequence[MovieOutcome],
    directory: str | Path,
    export: Callable[[AnalysisResult, Path], list[Path]] = AnalysisResult.export,
    combined: dict[str, Any] | None = None,
) -> list[Path]:
    """Write the batch's tables into ``directory``.

    ``summary.csv`` (one row per movie, see :func:`summary_table`), ``per_track.csv`` (the
    per-track tables of all movies with a ``movie`` column) and, per analysed movie, a folder
    with that movie's own files written by ``export``.

    Parameters
    ----------
    outcomes : sequence of MovieOutcome
        The batch's outcomes.
    directory : str or Path
        Created if missing.
    export : callable
        ``export(result, folder) -> files`` for one movie (``pynta analyze`` passes its
        single-movie ``--out`` writer, so each folder holds what ``--out`` gives for that movie).
    combined : dict, optional
        Replicate captures combined (``--combine``): adds the mean and SE rows to ``summary.csv``.

    Returns
    -------
    list of Path
        The files written.
    """
    directory = make_output_directory(directory, "--out")
    written = [directory / "summary.csv", directory / "per_track.csv"]
    table = summary_table(outcomes)
    if combined is not None:
        table = with_combined_rows(table, combined)
    table.to_csv(written[0], index=False)
    combined_table(outcomes, "per_track").to_csv(written[1], index=False)
    for outcome, name in zip(
        outcomes, _folder_names([outcome.path for outcome in outcomes]), strict=False
    ):
        if outcome.result is not None:
            written.extend(export(outcome.result, directory / name))
    return written


#: columns of the terminal table: (summary table column, heading, format)
_TEXT_COLUMNS = (
    ("n_frames", "frames", "{:.0f}"),
    ("n_tracks", "tracks", "{:.0f}"),
    ("diameter_nm", "d (nm)", "{:.1f}"),
    ("diameter_se_nm", "± SE", "{:.1f}"),
    # the deconvolved D50, the one to quote and the one the combined mean ± SE below averages
    ("deconvolved_d50_nm", "deconvolved D50 (nm)", "{:.1f}"),
    ("n_warnings", "warnings", "{:.0f}"),
)


def format_batch_table(outcomes: Sequence[MovieOutcome]) -> str:
    """A readable one-line-per-movie table for the terminal, failed movies with their error and
    movies that sized no track with the reason.

    Parameters
    ----------
    outcomes : sequence of MovieOutcome
        The batch's outcomes.

    Returns
    -------
    str
    """
    table = summary_table(outcomes)

    def cell(value: Any, template: str) -> str:
        return "n/a" if value is None or pd.isna(value) else template.format(value)

    rows = [["movie", *(heading for _, heading, _ in _TEXT_COLUMNS)]]
    for record in table.to_dict("records"):
        if record["status"] == "unsized":
            rows.append([record["movie"], f"NO TRACK SIZED: {record['error']}"])
        elif record["status"] == "ok":
            rows.append(
                [
                    record["movie"],
                    *(cell(record[column], template) for column, _, template in _TEXT_COLUMNS),
                ]
            )
        else:
            rows.append([record["movie"], f"FAILED: {record['error']}"])
    widths = [max(len(row[0]) for row in rows)]
    widths += [max(len(row[i]) for row in rows if len(row) > 2) for i in range(1, len(rows[0]))]
    lines = []
    for row in rows:
        if len(row) == 2:
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]}")
        else:
            lines.append(
                "  ".join(
                    [
                        f"{row[0]:<{widths[0]}}",
                        *(
                            f"{value:>{width}}"
                            for value, width in zip(row[1:], widths[1:], strict=False)
                        ),
                    ]
                )
            )
    n_failed = sum(not outcome.ok for outcome in outcomes)
    n_unsized = sum(outcome.status == "unsized" for outcome in outcomes)
    lines.append(
        f"{len(outcomes) - n_failed} of {len(outcomes)} movies analysed"
        + (f", {n_unsized} without a sized track" if n_unsized else "")
        + (f", {n_failed} failed" if n_failed else "")
    )
    return "\n".join(lines)
