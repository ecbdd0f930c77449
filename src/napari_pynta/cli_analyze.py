"""`pynta analyze`: size the particles of a recorded movie from the command line."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tqdm.auto import tqdm

from napari_pynta.analysis import AnalysisParams, AnalysisResult, analyze
from napari_pynta.errors import PyntaDataError
from napari_pynta.readers import Movie, open_movie
from napari_pynta.store import MovieStore

HELP = ("Size the particles of a recorded movie (pynta .zarr store, TIFF or folder of frames); "
        "metadata stored with the movie are the defaults, flags override them.")

#: command-line options that map one-to-one onto AnalysisParams fields: (field, type, help)
PARAM_OPTIONS = (
    ("pixel_size_um", float, "pixel size in the sample, µm"),
    ("frame_interval_s", float, "time between frames, s"),
    ("exposure_s", float, "exposure time of each frame, s (required: motion blur)"),
    ("temperature_c", float, "sample temperature, °C"),
    ("viscosity_pa_s", float, "solvent viscosity, Pa·s (default: water at the temperature)"),
    ("diameter_px", int, "feature diameter for detection, odd, pixels (default 7)"),
    ("minmass", float, "minimum integrated brightness of a particle (default: automatic)"),
    ("separation", float, "minimum distance between particles, pixels (default: diameter + 1)"),
    ("percentile", float, "local maxima must exceed this percentile of the frame (default 64)"),
    ("search_range_px", float, "largest step between frames, pixels (default: automatic)"),
    ("memory", int, "frames a particle may be missed and keep its track (default 3)"),
    ("min_track_length", int, "shortest track sized, in frames (default 10)"),
    ("engine", str, "detection engine (default trackpy)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `pynta analyze`."""
    parser.add_argument("path", help="the movie: a pynta .zarr store, a TIFF file or a folder of "
                        "PNG/TIFF frames")
    for name, kind, text in PARAM_OPTIONS:
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None,
                            help=text)
    parser.add_argument("--invert", action="store_true", default=None,
                        help="particles are dark on a bright background")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object with the results on stdout (nothing else)")
    parser.add_argument("--out", metavar="RESULTS_DIR", default=None,
                        help="write localizations.csv, tracks.csv, per_track.csv and "
                        "summary.json into this folder")
    parser.add_argument("--no-save", action="store_true",
                        help="do not store the result tables inside a writable pynta store")


def run(args: argparse.Namespace) -> int:
    """Run `pynta analyze`; returns the exit code."""
    movie = open_movie(args.path)
    overrides = {name: getattr(args, name) for name, _, _ in PARAM_OPTIONS}
    params = AnalysisParams.from_metadata(movie.metadata, invert=args.invert, **overrides)
    params.validate()
    n_frames = int(movie.frames.shape[0])
    with tqdm(total=n_frames, unit="frame", desc="locating", file=sys.stderr,
              disable=args.json, dynamic_ncols=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        result = analyze(movie, params, progress=progress)
    notes = []
    if args.out:
        written = result.export(args.out)
        notes.append(f"wrote {', '.join(path.name for path in written)} to {args.out}")
    if movie.store is not None and not args.no_save:
        notes.append(_save_into_store(movie, result))
    if args.json:
        print(json.dumps(result.summary))
    else:
        auto = [name for name in ("minmass", "search_range_px") if overrides[name] is None]
        print(format_summary(result, auto))
    for note in notes:
        print(f"pynta analyze: {note}", file=sys.stderr)
    return 0


def _save_into_store(movie: Movie, result: AnalysisResult) -> str:
    """Write the result tables into the movie's own store if it can be opened writable."""
    try:
        store = MovieStore.open(movie.source, mode="r+")
    except (PyntaDataError, OSError) as error:
        return f"tables not saved into {movie.source} (cannot open it for writing: {error})"
    try:
        result.save_results(store)
    except (PyntaDataError, OSError) as error:
        return f"tables not saved into {movie.source}: {error}"
    finally:
        store.close()
    return f"saved tables {', '.join(result.tables())} into {movie.source}"


def _number(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


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
        f"  frames                {s['n_frames']}",
        f"  localizations         {s['n_localizations']} "
        f"({_number(s['particles_per_frame'])} per frame)",
        f"  tracks                {s['n_tracks']} ({s['n_steps']} steps)",
        f"  ensemble diameter     {_number(s['diameter_nm'])} ± {_number(s['diameter_se_nm'])} nm"
        f"   (D = {_number(s['D_um2_s'], 3)} ± {_number(s['D_se_um2_s'], 3)} µm²/s)",
        f"  per-track sizes (nm)  mean {_number(size['mean'])}  mode {_number(size['mode'])}  "
        f"SD {_number(size['sd'])}  (n = {size['n']}, {size['n_excluded']} without size)",
        f"                        D10 {_number(size['d10'])}  D50 {_number(size['d50'])}  "
        f"D90 {_number(size['d90'])}  span {_number(size['span'], 2)}",
        "  localization error    " + (
            "n/a" if s["localization_error_um"] is None
            else f"{1000 * s['localization_error_um']:.0f} nm"),
        f"  metadata              pixel {p['pixel_size_um']:g} µm, interval "
        f"{1000 * p['frame_interval_s']:g} ms, exposure {1000 * p['exposure_s']:g} ms, "
        f"{p['temperature_c']:g} °C, viscosity {1000 * p['viscosity_pa_s']:.4g} mPa·s",
        f"  detection             {p['engine']}, diameter {p['diameter_px']} px, minmass "
        f"{p['minmass']:.4g}{tag('minmass')}",
        f"  linking               search range {p['search_range_px']:g} px"
        f"{tag('search_range_px')}, memory {p['memory']}, min track {p['min_track_length']}",
    ]
    if s["warnings"]:
        lines.append("warnings:")
        lines.extend(f"  - {warning}" for warning in s["warnings"])
    return "\n".join(lines)

