"""`pynta analyze`: size the particles of a recorded movie from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_pynta.cli import error_refusal, path_argument
from napari_pynta.cli.sample_options import add_sample_arguments, sample_overrides
from napari_pynta.combine import captures_combined, combine_summaries, sized_only
from napari_pynta.errors import PyntaDataError, PyntaInputError, require_positive
from napari_pynta.frame_range import RANGE_SYNTAX, FrameRange, frames_analysed
from napari_pynta.measurement import expand_measurements
from napari_pynta.measurement_analysis import capture_warnings, different_settings
from napari_pynta.output_folder import clear_earlier_outputs, leftover_warning, record_outputs
from napari_pynta.parameters import AUTO, SETTINGS, metadata_outside_limits
from napari_pynta.sample import SAMPLE_KEYS, describe_movie

# the science stack is imported by the functions that run the analysis, so that building the
# parser (`pynta --help`, `pynta analyze --help`) stays instant
if TYPE_CHECKING:
    from napari_pynta.analysis import AnalysisParams, AnalysisResult
    from napari_pynta.batch import ParamsFactory
    from napari_pynta.export import SizeGrid
    from napari_pynta.readers import Movie

HELP = (
    "Size the particles of a recorded movie (pynta .zarr store, OME-Zarr image, AVI/MP4 video, "
    "TIFF or folder of frames); "
    "metadata stored with the movie are the defaults, flags override them."
)

#: AnalysisParams fields that come from the movie's metadata unless a flag overrides them
METADATA_OPTIONS = ("pixel_size_um", "frame_interval_s", "exposure_s", "temperature_c")
#: command-line options that map one-to-one onto AnalysisParams fields: (field, type, help),
#: built from the one definition of each setting (napari_pynta.parameters.SETTINGS)
PARAM_OPTIONS = tuple(
    (
        name,
        SETTINGS[name].cli_type,
        SETTINGS[name].cli_help("the movie's metadata" if name in METADATA_OPTIONS else None),
    )
    for name in (
        *METADATA_OPTIONS,
        "viscosity_pa_s",
        "diameter_px",
        "minmass",
        "separation",
        "split_within_px",
        "percentile",
        "search_range_px",
        "memory",
        "min_track_length",
        "engine",
        "depth_um",
    )
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `pynta analyze`."""
    parser.add_argument(
        "paths",
        nargs="+",
        type=path_argument,
        metavar="PATH",
        help="the movie: a pynta .zarr store, an OME-Zarr image, an AVI/MP4 video, a TIFF file "
        "or a folder of PNG/TIFF/JPEG frames; a measurement folder of `pynta acquire --captures` "
        "stands for its captures; several paths make a batch (one summary row per movie); "
        "exit code 1 if any movie failed or sized no track (its summary is kept)",
    )
    for name, kind, text in PARAM_OPTIONS:
        parser.add_argument(
            "--" + name.replace("_", "-"), dest=name, type=kind, default=None, help=text
        )
    parser.add_argument(
        "--invert",
        action="store_true",
        default=None,
        help="particles are dark on a bright background",
    )
    parser.add_argument(
        "--blur-separation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=SETTINGS["blur_separation"].cli_help(),
    )
    parser.add_argument(
        "--blur-gap-spread",
        action="store_true",
        default=None,
        help=SETTINGS["blur_gap_spread"].help,
    )
    parser.add_argument(
        "--wide-centroid",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=SETTINGS["wide_centroid"].cli_help(),
    )
    parser.add_argument(
        "--frames",
        dest="frame_range",
        type=frame_range_argument,
        default=None,
        metavar="START:STOP",
        help="analyse only these recorded frames, half-open as a Python slice (500: skips the "
        "first 500, :-100 leaves out the last 100, --frames=-100: keeps the last 100; the same "
        "for every movie of a batch): the "
        "frames keep their true time and numbers, and the summary's frame_range records them; "
        "a damaged store's readable part is analysed this way",
    )
    add_sample_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with the results on stdout (nothing else); a refusal "
        'of the input prints {"error": MESSAGE}, the message also written to stderr',
    )
    parser.add_argument(
        "--out",
        metavar="RESULTS_DIR",
        type=path_argument,
        default=None,
        help="write localizations.csv, tracks.csv, per_track.csv, summary.json and the "
        "NanoSight-style particle_data.csv, size_distribution.csv and nta_summary.csv into this "
        "folder (several paths: summary.csv, per_track.csv and one folder per movie)",
    )
    parser.add_argument(
        "--combine",
        action="store_true",
        help="the paths are replicate captures of one sample: also give the mean ± standard "
        "error over the captures of D10/D50/D90, mode (deconvolved), ensemble diameter, "
        "particles per frame and concentration (× dilution)",
    )
    parser.add_argument(
        "--bin-width-nm",
        type=float,
        default=None,
        help="bin width of the exported size distribution, nm (default 1)",
    )
    parser.add_argument(
        "--max-size-nm",
        type=float,
        default=None,
        help="end of the last regular bin of the exported size distribution, a whole number of "
        "bins (default 2000 nm; larger sizes go to an overflow bin)",
    )
    parser.add_argument(
        "--reference-per-ml",
        type=float,
        default=None,
        metavar="N",
        help="the movie is a reference sample of N particles/mL: report the "
        "detection depth to pass as --depth-um for samples measured alike",
    )
    parser.add_argument(
        "--report",
        metavar="OUT.html",
        type=path_argument,
        default=None,
        help="write a self-contained HTML report (plots, statistics, warnings) and the same as "
        "PDF next to it (OUT.pdf); one movie, or the captures of one sample with --combine "
        "(replicate table with mean ± SE)",
    )
    parser.add_argument(
        "--no-save",
        action="store_true",
        help="do not store the result tables inside a writable pynta store",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="local|tcp://HOST:PORT",
        help="run on dask.distributed: 'local' starts a cluster on this machine, "
        "an address uses a running scheduler (see docs/cluster.md)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of --scheduler local (default: one per CPU core)",
    )


def frame_range_argument(text: str) -> FrameRange:
    """The argparse ``type`` of ``--frames``: a :class:`FrameRange` (argparse names the flag)."""
    try:
        return FrameRange.parse(text)
    except PyntaInputError:
        raise argparse.ArgumentTypeError(f"must be {RANGE_SYNTAX}, got {text!r}") from None


def _params_factory(args: argparse.Namespace) -> ParamsFactory:
    """``movie -> AnalysisParams``: the movie's metadata overridden by the command line."""
    from napari_pynta.analysis import AnalysisParams

    overrides = {name: getattr(args, name) for name, _, _ in PARAM_OPTIONS}
    automatic: dict[str, Any] = {name: None for name, value in overrides.items() if value == AUTO}
    given = {name: value for name, value in overrides.items() if value != AUTO}
    # a diameter given in pixels is kept; the default and 'auto' are widened to hold the spots
    automatic["widen_to_spot"] = given.get("diameter_px") is None
    return lambda movie: dataclasses.replace(
        AnalysisParams.from_metadata(
            checked_metadata(movie, given, args.field_flags),
            invert=args.invert,
            blur_separation=args.blur_separation,
            blur_gap_spread=args.blur_gap_spread,
            wide_centroid=args.wide_centroid,
            **given,
        ),
        **automatic,
    )


def checked_metadata(movie: Movie, given: dict[str, Any], flags: dict[str, str]) -> dict[str, Any]:
    """The movie's metadata, its physical fields that no flag replaces checked as the flags are.

    A TIFF whose resolution tag gave a pixel of 10⁶ µm was refused as "--pixel-size-um must be
    in [0.005, 20] (µm), got 1000000.0", a flag the user had not given (b16).

    Raises
    ------
    PyntaInputError
        Saying that the value is the movie's and which flag replaces it.
    """
    metadata = dict(movie.metadata)
    kept = {name: value for name, value in metadata.items() if given.get(name) is None}
    refused = metadata_outside_limits(kept)
    if refused:
        name, error = next(iter(refused.items()))
        raise PyntaInputError(
            f"{str(movie.source)!r}: its metadata's {error}; give the right value with "
            f"{flags.get(name, name)}"
        )
    _interval_against_frame_times(movie, given.get("frame_interval_s"))
    return metadata


def _interval_against_frame_times(movie: Movie, interval_s: float | None) -> None:
    """Warn (in ``movie.warnings``) when a store's frame times contradict the frame interval
    given on the command line, which the sizes then use.

    `--frame-interval-s 0.001` on a store whose frames are 10 ms apart gave sizes ten times
    too small without a word, while the same value stored as metadata is replaced by the
    measured one with a warning (x24).
    """
    from napari_pynta.timing import disagrees

    timing = movie.frame_timing  # None: not a store, or too few frame times
    if interval_s is not None and timing is not None and disagrees(timing, interval_s):
        movie.warnings.append(
            f"The stored frame times give a frame interval of {timing.interval_s * 1e3:.4g} ms, "
            f"not the {interval_s * 1e3:.4g} ms of --frame-interval-s, which the sizes use: "
            "check the flag (it is in seconds), or leave it out to use the frame times."
        )


#: what ``pynta analyze --json`` prints on stdout when it refuses its input (a bad flag value, a
#: movie that is missing, unreadable or has no frames, an output that cannot be written; or the
#: command line itself)
json_refusal = error_refusal


def run(args: argparse.Namespace) -> int:
    """Run `pynta analyze`; returns the exit code (a refusal raises, and
    :func:`napari_pynta.cli.main` prints it, with :data:`json_refusal`'s object under --json)."""
    args.paths = expand_measurements(args.paths)
    each_movie_once(args.paths)
    from napari_pynta.cluster import validate_scheduler, validate_workers
    from napari_pynta.export import check_output_directory
    from napari_pynta.readers import open_movie
    from napari_pynta.report import check_report_path

    if args.scheduler is None and args.workers is not None:
        raise PyntaInputError("--workers needs --scheduler local")
    if args.scheduler is not None:  # fail on a bad address before any movie is opened
        validate_workers(validate_scheduler(args.scheduler), args.workers)
    if args.reference_per_ml is not None and len(args.paths) > 1:
        raise PyntaInputError("--reference-per-ml works with one movie, got several paths")
    if args.report is not None and len(args.paths) > 1 and not args.combine:
        raise PyntaInputError(
            "--report works with one movie, or with several captures of one sample and --combine"
        )
    if args.report is not None:
        check_report_path(args.report)
        outside_the_movies(args.report, "--report", args.paths)
    if args.out is not None:
        check_output_directory(args.out, "--out")
        outside_the_movies(args.out, "--out", args.paths)
    if args.reference_per_ml is not None:
        require_positive("--reference-per-ml", args.reference_per_ml)
    sample_overrides(args)
    _size_grid(args)  # a bad grid fails before the analysis
    if len(args.paths) > 1 or args.combine:
        return _run_batch(args)
    with open_movie(args.paths[0], args.frame_range) as movie:
        return _run_one(args, movie)


def outside_the_movies(output: str, flag: str, paths: list[str]) -> None:
    """Refuse an output that is or lies in a movie folder analysed (a store, an image folder).

    `pynta analyze run.zarr --out run.zarr/0` wrote the CSV tables among the frames' chunks,
    files that the store's next ``--overwrite`` deletes with it (x24); the store keeps its own
    tables already.

    Raises
    ------
    PyntaInputError
        Naming the output and the movie.
    """
    written = Path(output).resolve()
    for path in paths:
        movie = Path(path).resolve()
        if movie.is_dir() and (written == movie or movie in written.parents):
            raise PyntaInputError(
                f"{flag} {output!r} is or lies in the movie {path!r}: its files would be mixed "
                "with the movie's and deleted with it; write them to another folder",
                flag,
            )


def each_movie_once(paths: list[str]) -> None:
    """Refuse a movie named twice (after measurement folders are expanded; ``run.zarr`` and
    ``./run.zarr`` are one): ``--combine`` counted it as two replicate captures and gave a
    standard error of 0 (b16), and a batch analysed it twice.

    Raises
    ------
    PyntaInputError
        Naming both spellings.
    """
    import os

    seen: dict[str, str] = {}
    for path in paths:
        key = os.path.realpath(path)
        if key in seen:
            said = "again" if path == seen[key] else f"again (as {path!r})"
            raise PyntaInputError(
                f"PATH: {seen[key]!r} is given {said}: each movie is analysed once, and "
                "--combine would count one capture as two replicates (a standard error of 0); "
                "give each movie once"
            )
        seen[key] = path


def _with_the_reason(
    error: PyntaInputError, movie: Movie, flags: dict[str, str]
) -> PyntaInputError:
    """``error`` with the movie's warnings that name its flag: they say why the value is not
    the movie's.

    An OME-TIFF with pixels of 0.1 x 0.2 µm was refused as "--pixel-size-um is required: the
    movie has no pixel_size_um metadata", its reader's warning (non-square pixels, neither
    used) never printed: warnings are printed with the results (x27).
    """
    flag = flags.get(error.field or "")
    reasons = [warning for warning in movie.warnings if flag is not None and flag in warning]
    if not reasons:
        return error
    return PyntaInputError(f"{error} ({'; '.join(reasons)})", error.field, error.others)


def _run_one(args: argparse.Namespace, movie: Movie) -> int:
    """One movie: analyse it, write what was asked, print the summary; returns the exit code."""
    from tqdm.auto import tqdm

    from napari_pynta.analysis import analyze
    from napari_pynta.report import write_pdf_report, write_report

    overrides = {name: getattr(args, name) for name, _, _ in PARAM_OPTIONS}
    params = _params_factory(args)(movie)
    try:
        params.validate()
    except PyntaInputError as error:
        raise _with_the_reason(error, movie, args.field_flags) from None
    n_frames = int(movie.frames.shape[0])
    if args.scheduler is not None:
        result = _analyze_on_cluster(args, movie.source, params)
    else:
        with tqdm(
            total=n_frames,
            unit="frame",
            desc="locating",
            file=sys.stderr,
            disable=args.json,
            dynamic_ncols=True,
        ) as bar:

            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)

            result = analyze(movie, params, progress=progress)
    describe_movie(result.summary, movie.metadata, **sample_overrides(args))
    if args.reference_per_ml is not None:
        _add_depth_calibration(result, args.reference_per_ml)
    notes = []
    written: list[Path] = []
    if args.out:
        clear_earlier_outputs(args.out)
        written += _exporter(args)(result, args.out)
        notes.append(f"wrote {', '.join(path.name for path in written)} to {args.out}")
    saved_code = 0
    if movie.store is not None and not args.no_save:
        note, saved_code = _save_into_store(movie, result)
        notes.append(note)
    if args.report:
        pdf = write_pdf_report([result], Path(args.report).with_suffix(".pdf"))
        html = write_report(result, args.report)
        written += [html, pdf]
        notes.append(f"wrote the report {html} and {pdf}")
    if args.out:
        notes += _record_outputs(args.out, written)
    if args.json:
        print(json.dumps(result.summary))
    else:
        # a setting left out takes its default where it has one (the diameter's 7 px): only
        # those without one, or asked for with 'auto', were chosen from the data
        auto = [
            name
            for name, value in overrides.items()
            if value == AUTO
            or (
                value is None
                and SETTINGS[name].default is None
                and SETTINGS[name].automatic is not None
            )
        ]
        print(format_summary(result, auto))
    for note in notes:
        print(f"pynta analyze: {note}", file=sys.stderr)
    return max(saved_code, _unsized_exit_code(movie.source, result.summary.get("unsized_reason")))


def _record_outputs(directory: str, written: list[Path]) -> list[str]:
    """List this run's files in the ``--out`` folder's manifest (the next run replaces them);
    the warning, if any, for the files it holds that this run did not write."""
    warning = leftover_warning(directory, record_outputs(directory, written))
    return [] if warning is None else [warning]


def _unsized_exit_code(source: str, reason: str | None) -> int:
    """0 for a movie that gave sizes; 1, saying why and what to try, for one in which no track
    could be sized: a failed measurement (its summary and files are kept and written all the
    same), as a failed movie of a batch is."""
    if reason is None:
        return 0
    print(f"pynta analyze: {source}: failed: {reason}", file=sys.stderr)
    return 1


def _analyze_on_cluster(
    args: argparse.Namespace, path: str, params: AnalysisParams
) -> AnalysisResult:
    """One movie on dask.distributed; the same result as :func:`analyze`."""
    from napari_pynta.batch import analyze_batch
    from napari_pynta.cluster import dask_client

    with dask_client(args.scheduler, args.workers) as client:
        (outcome,) = analyze_batch(
            [path],
            client,
            lambda movie: params,
            progress=not args.json,
            names=args.field_flags,
            frame_range=args.frame_range,
        )
    if outcome.result is None:
        raise PyntaDataError(f"{path}: {outcome.error}")
    return outcome.result


def _size_grid(args: argparse.Namespace) -> SizeGrid:
    """The export grid of ``--bin-width-nm`` and ``--max-size-nm`` (defaults where not given)."""
    from napari_pynta.export import SizeGrid

    given = {"bin_width_nm": args.bin_width_nm, "max_size_nm": args.max_size_nm}
    return SizeGrid(**{name: value for name, value in given.items() if value is not None})


def _exporter(args: argparse.Namespace) -> Callable[[AnalysisResult, str | Path], list[Path]]:
    """One movie's ``--out`` writer: the result tables, summary.json and the NanoSight-style CSVs
    (size distribution on the ``--bin-width-nm``/``--max-size-nm`` grid)."""
    from napari_pynta.export import write_csv_exports

    grid = _size_grid(args)
    return lambda result, directory: (
        result.export(directory) + write_csv_exports(result, directory, grid)
    )


def _run_batch(args: argparse.Namespace) -> int:
    """Several movies: on dask.distributed with --scheduler, else one after the other."""
    from napari_pynta import batch
    from napari_pynta.cluster import dask_client
    from napari_pynta.pooled import pooled_entry
    from napari_pynta.readers import open_movie

    make_params = _params_factory(args)
    if args.scheduler is None:
        outcomes = batch.analyze_serially(
            args.paths,
            make_params,
            progress=not args.json,
            names=args.field_flags,
            frame_range=args.frame_range,
        )
    else:
        with dask_client(args.scheduler, args.workers) as client:
            outcomes = batch.analyze_batch(
                args.paths,
                client,
                make_params,
                progress=not args.json,
                names=args.field_flags,
                frame_range=args.frame_range,
            )
    overrides = sample_overrides(args)
    results = [outcome.result for outcome in outcomes if outcome.result is not None]
    movies = [  # the analysed part: its frame numbers pool the captures
        open_movie(outcome.path, args.frame_range)
        for outcome in outcomes
        if outcome.result is not None
    ]
    for movie in movies:  # only their metadata and frame numbers are needed
        movie.close()
    for result, movie in zip(results, movies, strict=True):
        describe_movie(result.summary, movie.metadata, **overrides)
    analysed = [result.summary for result in results]
    combined = combine_summaries(analysed) if args.combine and analysed else None
    if combined is not None:  # a capture that sized no track enters no combined value
        combined["pooled"] = pooled_entry(
            sized_only(results, analysed), sized_only(movies, analysed)
        )
    notes = []
    written: list[Path] = []
    if args.out:  # before the report, which may be written into it
        clear_earlier_outputs(args.out)
    if combined is not None and args.json:  # the terminal table lists them itself
        notes += [f"warning: {warning}" for warning in combined["warnings"]]
    if combined is not None:
        differing = different_settings(movies)
        if differing is not None:  # each capture is sized right; the lab should know
            notes.append(
                f"warning: {differing}; each capture is sized with its own, and the mean ± SE "
                "combines them anyway"
            )
        whole = args.frame_range is None  # a range of each is no capture cut short
        notes += [f"warning: {warning}" for warning in capture_warnings(movies, whole=whole)]
    if args.report and combined is not None:
        from napari_pynta.report import write_measurement_report, write_pdf_report

        html_path = write_measurement_report(results, combined, args.report)
        pdf = write_pdf_report(results, Path(args.report).with_suffix(".pdf"), combined)
        written += [html_path, pdf]
        notes.append(f"wrote the measurement report {html_path} and {pdf}")
    if args.out:
        exported = batch.write_batch_outputs(
            outcomes, args.out, export=_exporter(args), combined=combined
        )
        notes.append(
            f"wrote {len(exported)} files (summary.csv, per_track.csv, one folder per "
            f"movie) to {args.out}"
        )
        notes += _record_outputs(args.out, [*written, *exported])
    saved_code = 0
    if not args.no_save:
        for outcome in outcomes:
            if outcome.result is None:
                continue
            with open_movie(outcome.path, args.frame_range) as movie:
                if movie.store is not None:
                    note, code = _save_into_store(movie, outcome.result)
                    notes.append(note)
                    saved_code = max(saved_code, code)
    if args.json:
        document = batch.batch_json(outcomes)
        if args.combine:
            document = {
                "captures": document["movies"],
                "n_failed": document["n_failed"],
                "n_unsized": document["n_unsized"],
                "combined": combined,
            }
        print(json.dumps(document))
    else:
        print(batch.format_batch_table(outcomes))
        if combined is not None:
            print(format_combined(combined))
    for note in notes:
        print(f"pynta analyze: {note}", file=sys.stderr)
    exit_code = saved_code
    for outcome in outcomes:
        if not outcome.ok:
            print(f"pynta analyze: {outcome.path}: {outcome.error}", file=sys.stderr)
            exit_code = 1
        exit_code = max(exit_code, _unsized_exit_code(outcome.path, outcome.unsized_reason))
    return exit_code


def _save_into_store(movie: Movie, result: AnalysisResult) -> tuple[str, int]:
    """Write the result tables into the movie's own store if it can be opened writable.

    Returns what to say and the exit code it asks: 1 when the disk filled while the tables
    were written (the store is left with them incomplete), else 0 (a store that cannot be
    written is left as it was: the printed result stands).
    """
    from napari_pynta.cli import NO_SPACE_ERRNOS
    from napari_pynta.errors import pynta_command
    from napari_pynta.store import MovieStore

    try:
        store = MovieStore.open(movie.source, mode="r+")
    except (PyntaDataError, OSError) as error:
        return f"tables not saved into {movie.source} (cannot open it for writing: {error})", 0
    try:
        result.save_results(store)
    except PermissionError as error:  # read-only for this user, or immutable
        return (
            f"tables not saved into {movie.source}: the store cannot be written "
            f"({error.strerror}); the result above is complete, and --out DIR writes its tables "
            "elsewhere"
        ), 0
    except OSError as error:
        if error.errno not in NO_SPACE_ERRNOS:
            return f"tables not saved into {movie.source}: {error}", 0
        again = pynta_command("analyze", movie.source)
        return (
            f"error: tables not saved into {movie.source}: {error.strerror} (the disk is full, "
            "or a file size limit or quota was reached): the result above is complete and the "
            "frames are untouched, but the analysis results in the store are incomplete (not "
            f"read until replaced); free disk space and run {again} again, or write the tables "
            "elsewhere with --out DIR"
        ), 1
    except PyntaDataError as error:
        return f"tables not saved into {movie.source}: {error}", 0
    finally:
        store.close()
    return f"saved tables {', '.join(result.tables())} into {movie.source}", 0


def _number(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _with_se(statistics: dict[str, Any], key: str) -> str:
    """``statistics[key]`` with `` ± `` its standard error ``statistics[key + "_se"]`` if known."""
    error = statistics.get(f"{key}_se")
    return _number(statistics[key]) + ("" if error is None else f" ± {error:.1f}")


def _add_depth_calibration(result: AnalysisResult, reference_per_ml: float) -> None:
    """Add the detection depth implied by a reference of known concentration to the summary."""
    from napari_pynta.concentration import calibrate_depth, counts_in_view

    entry = result.summary["concentration"]
    counts = counts_in_view(entry, result.summary["n_frames"])
    frame_shape, pixel_size_um = result.frame_shape, result.params.pixel_size_um
    if frame_shape is None or pixel_size_um is None:
        raise PyntaDataError("the detection depth needs the movie's frame size and pixel size")
    if counts.mean <= 0:  # said, and the movie's own results kept
        result.summary["warnings"].append(
            "--reference-per-ml: no particle was found in the reference movie, so no detection "
            "depth was calibrated from it"
        )
        return
    depth = calibrate_depth(counts, frame_shape, pixel_size_um, reference_per_ml)
    entry.update(
        reference_particles_per_ml=reference_per_ml,
        calibrated_depth_um=depth.depth_um,
        calibrated_depth_sem_um=depth.sem_um,
    )


def _uncertainty_lines(summary: dict[str, Any]) -> list[str]:
    """The systematic part of the ensemble diameter's uncertainty beside the jackknife."""
    systematic = summary.get("diameter_systematic_nm")
    if systematic is None:
        return []
    parts = summary.get("systematic_nm") or {}
    causes = ", ".join(
        f"{name} {_number(parts[name])}"
        for name in ("estimators", "drift", "threshold", "linking")
        if parts.get(name)
    )
    lines = [
        f"  uncertainty (nm)      jackknife ± {_number(summary['diameter_se_nm'])}, systematic "
        f"± {_number(systematic)}"
        + (f" ({causes})" if causes else "")
        + f", combined ± {_number(summary.get('diameter_uncertainty_nm'))}"
    ]
    if summary.get("diameter_long_lag_nm") is not None:
        lines.append(
            f"  long-lag diameter     {_number(summary['diameter_long_lag_nm'])} nm (lags 5-10)"
        )
    return lines


def _share(deconvolved: dict[str, Any], key: str, index: int) -> str:
    """``62%`` or ``62% ± 3%``: entry ``index`` of a fraction list and of its ``_se`` list."""
    error = (deconvolved.get(key.removesuffix("s") + "_se") or [None] * (index + 1))[index]
    share = f"{deconvolved[key][index]:.0%}"
    return share + (f" ± {error:.0%}" if error is not None else "")


def _peak_text(deconvolved: dict[str, Any], index: int) -> str:
    """One peak: diameter with its standard error over the resamples, its systematic
    uncertainty and its 68 % interval (both parts; where known), share of the tracks and (with
    several peaks) of the particles, and whether it depends on the linking."""
    text = _number(deconvolved["peaks"][index])
    error = (deconvolved.get("peak_se") or [None] * (index + 1))[index]
    systematic = (deconvolved.get("peak_systematic") or [None] * (index + 1))[index]
    interval = (deconvolved.get("peak_interval_68") or [None] * (index + 1))[index]
    if error is not None:
        text += f" ± {error:.1f}"
    if systematic:
        text += f" ± {systematic:.1f} sys"
    if interval is not None and None not in interval:
        text += f" [68%: {interval[0]:.0f}-{interval[1]:.0f}]"
    text += f" ({_share(deconvolved, 'peak_fractions', index)}"
    if deconvolved.get("peak_number_fractions"):
        text += f" of tracks, {_share(deconvolved, 'peak_number_fractions', index)} of particles"
    text += ")"
    if (deconvolved.get("peak_depends_on_linking") or [False] * (index + 1))[index]:
        text += " DEPENDS ON THE LINKING (see the warning)"
    return text


def _deconvolved_lines(summary: dict[str, Any]) -> list[str]:
    """Terminal lines of the track-length-corrected sizes and the concentration."""
    lines = []
    deconvolved = summary.get("deconvolved_nm")
    if deconvolved:
        peaks = ", ".join(
            _peak_text(deconvolved, index) for index in range(len(deconvolved["peaks"]))
        )
        lines += [
            f"  deconvolved (nm)      peaks {peaks}  D10 {_with_se(deconvolved, 'd10')}  "
            f"D50 {_with_se(deconvolved, 'd50')}  D90 {_with_se(deconvolved, 'd90')}  "
            f"span {_number(deconvolved['span'], 2)}"
        ]
    concentration = summary.get("concentration") or {}
    if concentration.get("particles_in_view_per_frame") is not None:
        lines += [
            f"  particles in view     {concentration['particles_in_view_per_frame']:.1f} ± "
            f"{concentration['particles_in_view_per_frame_sem']:.1f} per frame "
            f"({100 * concentration['hidden_by_neighbours']:.1f} % hidden by a closer neighbour)"
        ]
    if concentration.get("particles_per_ml") is not None:
        lines += [
            f"  concentration         {concentration['particles_per_ml']:.3g} ± "
            f"{concentration['particles_per_ml_sem']:.2g} particles/mL "
            f"(depth {concentration['depth_um']:g} µm)"
        ]
    dilution = concentration.get("dilution_factor") or 1.0
    if concentration.get("sample_particles_per_ml") is not None and dilution != 1.0:
        lines += [
            f"  sample concentration  {concentration['sample_particles_per_ml']:.3g} ± "
            f"{concentration['sample_particles_per_ml_sem']:.2g} particles/mL "
            f"(measured × dilution {dilution:g})"
        ]
    if concentration.get("calibrated_depth_um") is not None:
        lines += [
            f"  calibrated depth      {concentration['calibrated_depth_um']:.3g} ± "
            f"{concentration['calibrated_depth_sem_um']:.2g} µm (pass it as --depth-um)"
        ]
    return lines


#: rows of the terminal's combined table: (combined key, label, format)
_COMBINED_ROWS = (
    ("d10_nm", "D10 (nm, deconvolved)", "{:.1f}"),
    ("d50_nm", "D50 (nm, deconvolved)", "{:.1f}"),
    ("d90_nm", "D90 (nm, deconvolved)", "{:.1f}"),
    ("mode_nm", "mode (nm, deconvolved)", "{:.1f}"),
    ("ensemble_diameter_nm", "ensemble diameter (nm)", "{:.1f}"),
    ("particles_per_frame", "particles per frame (found)", "{:.2f}"),
    ("particles_in_view_per_frame", "particles in view per frame", "{:.2f}"),
    ("concentration_per_ml", "particles/mL (× dilution)", "{:.3g}"),
)


def format_combined(combined: dict[str, Any]) -> str:
    """The combined result of replicate captures as mean ± SE lines for the terminal, then the
    captures' tracks sized together (:func:`napari_pynta.pooled.describe_pooled`)."""
    from napari_pynta.pooled import describe_pooled

    lines = [f"combined over {captures_combined(combined)} (mean ± standard error):"]
    for key, label, template in _COMBINED_ROWS:
        entry = combined[key]
        if key == "concentration_per_ml" and entry["n"] == 0:  # no capture had a depth
            lines.append(f"  {label:<27} n/a: no detection depth (give --depth-um)")
            continue
        mean = "n/a" if entry["mean"] is None else template.format(entry["mean"])
        se = "n/a" if entry["se"] is None else template.format(entry["se"])
        fewer = entry["n"] < combined["n_captures"] and entry["mean"] is not None
        of_n = f" ({entry['n']} of {combined['n_captures']} captures)" if fewer else ""
        lines.append(f"  {label:<27} {mean} ± {se}{of_n}")
    lines += [f"  warning: {warning}" for warning in combined.get("warnings") or []]
    return "\n".join(lines + describe_pooled(combined.get("pooled")))


def _sample_lines(sample: dict[str, Any]) -> list[str]:
    """The sample fields that are set, on one line (none when no field is set)."""
    shown = [
        f"{key.replace('_', ' ')} {sample[key]:g}" if key == "dilution_factor" else str(sample[key])
        for key in SAMPLE_KEYS
        if sample.get(key) is not None and not (key == "dilution_factor" and sample[key] == 1.0)
    ]
    return [f"  sample                {' · '.join(shown)}"] if shown else []


def format_summary(result: AnalysisResult, auto: list[str]) -> str:
    """A readable table of the results for the terminal.

    Parameters
    ----------
    result : AnalysisResult
        The analysis.
    auto : list of str
        Parameter names that were chosen automatically (marked as such).
    """
    s = result.summary
    p = s["params"]
    size = s["size_nm"]

    def tag(name: str) -> str:
        return " (auto)" if name in auto else ""

    lines = [
        f"pynta analyze: {s['source']}",
        *_sample_lines(s.get("sample") or {}),
        f"  frames                {frames_analysed(s)}",
        f"  localizations         {s['n_localizations']} "
        f"({_number(s['particles_per_frame'])} per frame)",
        f"  tracks                {s['n_tracks']} ({s['n_steps']} steps)",
        f"  ensemble diameter     {_number(s['diameter_nm'])} ± {_number(s['diameter_se_nm'])} nm"
        f"   (D = {_number(s['D_um2_s'], 3)} ± {_number(s['D_se_um2_s'], 3)} µm²/s)",
        *_uncertainty_lines(s),
        f"  per-track sizes (nm)  mean {_number(size['mean'])}  mode {_number(size['mode'])}  "
        f"SD {_number(size['sd'])}  (n = {size['n']}, {size['n_excluded']} without size)",
        f"                        D10 {_number(size['d10'])}  D50 {_number(size['d50'])}  "
        f"D90 {_number(size['d90'])}  span {_number(size['span'], 2)}",
        *_deconvolved_lines(s),
        "  localization error    "
        + (
            "n/a"
            if s["localization_error_um"] is None
            else f"{1000 * s['localization_error_um']:.0f} nm"
        ),
        f"  metadata              pixel {p['pixel_size_um']:g} µm, interval "
        f"{1000 * p['frame_interval_s']:g} ms, exposure {1000 * p['exposure_s']:g} ms, "
        f"{p['temperature_c']:g} °C, viscosity {1000 * p['viscosity_pa_s']:.4g} mPa·s",
        f"  detection             {p['engine']}, diameter {p['diameter_px']} px"
        f"{tag('diameter_px')}, minmass "
        f"{p['minmass']:.4g}{tag('minmass')}",
        f"  linking               search range {p['search_range_px']:g} px"
        f"{tag('search_range_px')}, memory {p['memory']}, min track {p['min_track_length']}",
    ]
    if s["warnings"]:
        lines.append("warnings:")
        lines.extend(f"  - {warning}" for warning in s["warnings"])
    return "\n".join(lines)
