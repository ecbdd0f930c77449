"""`pynta acquire`: record a camera (simulated by default) and track and size particles live."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_pynta.cameras import camera_names
from napari_pynta.cli import error_refusal, interrupted_exit_code, path_argument
from napari_pynta.cli.sample_options import add_sample_arguments, sample_overrides
from napari_pynta.errors import (
    PyntaDataError,
    PyntaInputError,
    require_int,
    require_number,
    require_positive,
)
from napari_pynta.parameters import AUTO, SETTINGS

# the live pipeline (zmq, zarr, the detection engines) is imported when it runs, so that building
# the parser (`pynta --help`) stays instant
if TYPE_CHECKING:
    from napari_pynta.live import LiveConfig, LiveStatus

HELP = (
    "Acquire from a camera in worker processes: save every frame to a zarr store and, with "
    "--track, locate, link and size particles live."
)

#: LiveConfig settings that have a flag of the same name
LIVE_OPTIONS = (
    "diameter_px",
    "minmass",
    "search_range_px",
    "memory",
    "min_track_length",
    "temperature_c",
)

#: help of the LIVE_OPTIONS whose live meaning differs from the offline one in SETTINGS: the live
#: calibration widens the diameter only when asked ('auto'), never the default 7 px
LIVE_HELP = {
    "diameter_px": "feature diameter for detection, odd; a number (the default too) is kept as "
    "given, 'auto' chooses it from the first frames, widened to hold the spots (saturated spots, "
    "a wide PSF) and the motion blur (px; default: 7; `pynta analyze` widens its default for "
    "wide spots, live tracking does not)",
}

#: LIVE_OPTIONS that a camera may know itself: the simulated camera's sample, a replayed movie's
#: recording (left unset, the camera's value is the one used)
CAMERA_SAMPLE_OPTIONS = ("temperature_c",)

#: seconds between two checks for the end of the run (the progress line follows status events)
PROGRESS_INTERVAL_S = 0.25


#: what ``pynta acquire --json`` prints on stdout when it refuses its input (a bad flag value,
#: an output that cannot be replaced; or the command line itself)
json_refusal = error_refusal


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `pynta acquire`."""
    parser.add_argument(
        "--camera",
        default="simulated",
        choices=camera_names(),
        help="camera backend (default: simulated)",
    )
    parser.add_argument(
        "--camera-option",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="backend settings, one or more per flag, the flag repeatable, e.g. shape=512,512 "
        "n_particles=100 (simulated), path=run.zarr loop=true (playback), device=0 (opencv)",
    )
    parser.add_argument(
        "--fps",
        type=float,
        default=None,
        help="frame rate (frames/s; default 100); for playback the replay rate (default the "
        "recording's): the frames keep the recording's times and frame interval, which the sizes "
        "use",
    )
    parser.add_argument(
        "--exposure-s",
        type=float,
        default=None,
        help="exposure time, s (default: the whole frame interval)",
    )
    parser.add_argument(
        "--roi", default=None, metavar="Y,X,H,W", help="region of interest in sensor pixels"
    )
    parser.add_argument("--gain", type=float, default=None, help="camera gain")
    parser.add_argument(
        "--camera-timeout-s",
        type=float,
        default=None,
        metavar="S",
        help="a camera read that has not returned for S seconds ends the run as a camera that "
        "stopped delivering (default: 10 s or five frame intervals, whichever is longer; "
        "longer for a camera waiting for an external trigger)",
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--frames",
        type=int,
        default=None,
        metavar="N",
        help="stop after N frames recorded (frames the camera loses do not count)",
    )
    length.add_argument(
        "--seconds",
        type=float,
        default=None,
        metavar="S",
        help="record the frames of the first S seconds on the camera's clock: ceil(S x fps) "
        "frames at a steady rate, e.g. 300 for 10 s at 30 fps (default: run until Ctrl-C or "
        "the end of a playback without loop)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="OUT.zarr",
        type=path_argument,
        help="save every frame to this zarr store (with --captures: a folder for the captures)",
    )
    parser.add_argument(
        "--until-precision",
        type=float,
        default=None,
        metavar="R",
        help="with --track: stop as soon as the live size is precise to R (relative standard "
        "error of the deconvolved D50, bootstrap over tracks, e.g. 0.02 = 2 %%, judged from 50 "
        "tracks on); --seconds is the time limit",
    )
    parser.add_argument(
        "--captures",
        type=int,
        default=None,
        metavar="N",
        help="measure one sample as N captures of --seconds (or --frames) each: one store per "
        "capture in the --out folder, grouped by a measurement.json (analyse them with "
        "`pynta analyze FOLDER --combine`)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out store (with --captures: the measurement in the folder, "
        "its measurement.json and every capture-<n>.zarr; other files stay)",
    )
    parser.add_argument(
        "--track", action="store_true", help="locate, link and size particles while acquiring"
    )
    parser.add_argument(
        "--locators",
        dest="n_locators",
        type=int,
        default=1,
        metavar="N",
        help="locator processes for --track (default 1)",
    )
    parser.add_argument(
        "--engine",
        default=None,
        help="detection engine: fast (trackpy's features, compiled) or trackpy "
        "(default: fast if available, else trackpy)",
    )
    # detection, linking and sizing flags from the one definition of each setting
    # (napari_pynta.parameters.SETTINGS); the automatic ones are chosen from the first frames
    for name in LIVE_OPTIONS:
        setting = SETTINGS[name]
        parser.add_argument(
            setting.flag,
            dest=name,
            type=setting.cli_type,
            default=None if name in CAMERA_SAMPLE_OPTIONS else setting.default,
            help=LIVE_HELP.get(name)
            or setting.cli_help(
                f"the simulated sample's or the replayed movie's, else {setting.default:g}"
                if name in CAMERA_SAMPLE_OPTIONS
                else None
            ),
        )
    parser.add_argument(
        "--blur-separation",
        action=argparse.BooleanOptionalAction,
        default=SETTINGS["blur_separation"].default,
        help=SETTINGS["blur_separation"].cli_help(),
    )
    parser.add_argument(
        "--blur-gap-spread", action="store_true", help=SETTINGS["blur_gap_spread"].help
    )
    parser.add_argument(
        "--wide-centroid",
        action=argparse.BooleanOptionalAction,
        default=SETTINGS["wide_centroid"].default,
        help=SETTINGS["wide_centroid"].cli_help(),
    )
    add_sample_arguments(parser)
    parser.add_argument(
        "--host",
        default=None,
        help="serve the viewers' sockets (frames, results) on tcp at this host; internal "
        "sockets stay private (default: everything on private ipc)",
    )
    parser.add_argument(
        "--keys",
        default=None,
        metavar="DIR",
        type=path_argument,
        help="CURVE keys from `pynta keys DIR`: encrypt the tcp sockets and accept only the "
        "viewers in DIR/authorized (needed for a --host other than loopback)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback --host without keys (anyone who reaches it may watch)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with the results on stdout (no progress); a refusal of "
        'the input prints {"error": MESSAGE}, the message also written to stderr',
    )


#: camera options that name a file or folder: their value is kept as text (``path=2024``)
FILE_OPTIONS = ("path", "config", "image_folder")


def parse_option(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE``: JSON values, comma lists of numbers, true/false, else text; the
    value of a :data:`FILE_OPTIONS` key is always text (a folder named 2024 is not a number).

    Raises
    ------
    PyntaInputError
        If there is no ``=``.
    """
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise PyntaInputError(f"--camera-option must look like KEY=VALUE, got {text!r}")
    if key in FILE_OPTIONS:
        return key, value
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        pass
    if "," in value:
        try:
            return key, [json.loads(part) for part in value.split(",")]
        except json.JSONDecodeError:
            pass
    return key, value


def build_config(args: argparse.Namespace) -> LiveConfig:
    """The :class:`LiveConfig` described by the command line (validated)."""
    from napari_pynta.live import LiveConfig

    settings = dict(parse_option(option) for option in args.camera_option)
    args.field_flags.update(camera_setting_flags(args, settings), record_path="--out")
    recorded: dict[str, Any] = {}
    if args.camera == "playback" and "path" in settings:
        from napari_pynta.readers import open_movie

        # the acquisition worker opens it only once the pipeline has started (a minute under load)
        movie = open_movie(str(settings["path"]))
        recorded = dict(movie.metadata)
        movie.close()
    temperature_c = sample_temperature(args.camera, args.temperature_c, settings, recorded)
    for name in CAMERA_FLAGS:
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    if args.out is not None and args.captures is None:
        from napari_pynta.store import check_replaceable, has_zarr_suffix

        if not has_zarr_suffix(args.out):
            raise PyntaInputError(
                f"--out must end in .zarr (any case: a pynta store), got {args.out!r}"
            )

        try:  # named by its flag here; the pipeline checks it again as `record_path`
            check_replaceable(args.out, args.overwrite)
        except PyntaInputError as error:
            raise PyntaInputError(f"--out: {error}") from None
    if args.frames is not None:
        require_int("--frames", args.frames, minimum=1)
    if args.seconds is not None:
        require_positive("--seconds", args.seconds)
    detection = {}
    if args.diameter_px is not None:  # AUTO: chosen from the motion blur of the first frames
        detection["diameter"] = None if args.diameter_px == AUTO else args.diameter_px
    if args.minmass is not None:
        detection["minmass"] = args.minmass
    config = LiveConfig(
        camera=args.camera,
        camera_settings=settings,
        n_frames=args.frames,
        seconds=args.seconds,
        record_path=args.out,
        overwrite=args.overwrite,
        track=args.track,
        n_locators=args.n_locators,
        engine=args.engine,
        detection=detection,
        search_range_px=args.search_range_px,
        memory=args.memory,
        min_track_length=args.min_track_length,
        blur_separation=args.blur_separation,
        blur_gap_spread=args.blur_gap_spread,
        wide_centroid=args.wide_centroid,
        temperature_c=temperature_c,
        host=args.host,
        keys_dir=args.keys,
        insecure=args.insecure,
        sample=sample_overrides(args),
        camera_timeout_s=_camera_timeout(args.camera_timeout_s),
    ).validate()
    if args.seconds is not None:  # once validate() has checked the rate (--fps 0)
        check_seconds(args.seconds, nominal_fps(args.camera, settings, recorded))
    return config


def nominal_fps(camera: str, settings: dict[str, Any], recorded: dict[str, Any]) -> float:
    """The rate the camera is asked for: ``settings["fps"]``, else a playback's recording rate
    (:func:`~napari_pynta.cameras.playback.replay_fps` of its ``recorded`` metadata), else the
    cameras' default (:class:`~napari_pynta.cameras.CameraSettings`)."""
    from napari_pynta.cameras import CameraSettings
    from napari_pynta.cameras.playback import replay_fps

    if settings.get("fps") is not None:
        return float(settings["fps"])
    return replay_fps(recorded) if camera == "playback" else CameraSettings.fps


def check_seconds(seconds: float, fps: float) -> None:
    """Refuse a ``--seconds`` shorter than one frame interval at ``fps``: no frame falls in it
    (b23: `--seconds 1e-9` recorded 27 frames at 100 fps, a quarter second, the time between two
    checks of the time limit).

    Raises
    ------
    PyntaInputError
        Naming the shortest duration allowed.
    """
    if seconds < 1.0 / fps:
        raise PyntaInputError(
            f"--seconds must be at least one frame interval ({1.0 / fps:g} s at {fps:g} fps), "
            f"got {seconds:g}: no frame falls in a shorter run; ask for --frames N to record "
            "a number of frames"
        )


#: camera settings that have a flag of their own (``--fps``, ``--exposure-s``, ...)
CAMERA_FLAGS = ("fps", "exposure_s", "roi", "gain")


def camera_setting_flags(args: argparse.Namespace, options: dict[str, Any]) -> dict[str, str]:
    """How the refusal of a camera setting names it: by what the user typed.

    The cameras name their settings as the Python API and the Camera widget do (``fps``,
    ``roi``, ``n_particles``); `pynta acquire` says ``--fps`` for a rate given with ``--fps``,
    ``--camera-option fps`` for one given as ``--camera-option fps=...`` (it said ``--fps``,
    a flag the user had not typed), and ``--camera-option KEY`` for a setting without a flag
    of its own.

    Parameters
    ----------
    args : argparse.Namespace
        The command line (``camera`` and the camera flags).
    options : dict
        The ``--camera-option`` settings as given.

    Returns
    -------
    dict
        Setting -> its name in messages, for the settings named otherwise than by
        :func:`napari_pynta.cli.field_flags`.
    """
    from napari_pynta.cameras import allowed_settings

    return {
        key: f"--camera-option {key}"
        for key in allowed_settings(args.camera)
        if key not in CAMERA_FLAGS or (key in options and getattr(args, key) is None)
    }


def sample_temperature(
    camera: str, chosen: float | None, settings: dict[str, Any], recorded: dict[str, Any]
) -> float:
    """The sample temperature of a run: ``--temperature-c`` (``chosen``, None when not given),
    checked against the camera's own.

    The simulated camera simulates its sample at ``temperature_c`` and a replayed movie keeps the
    temperature it was recorded at; the store and the live sizes take the camera's. A
    ``--temperature-c`` that differed was dropped without a word (b16: ``--temperature-c 30``
    recorded 22 °C and sized at 22 °C): now it sets the simulated sample's temperature, and
    contradicting the simulated or the recorded one is refused. The temperature must be one
    the water viscosity is known at, as ``pynta analyze`` requires of the recording.

    Raises
    ------
    PyntaInputError
        If ``chosen`` contradicts the camera's temperature or is outside water's range.
    """
    from napari_pynta.physics import water_viscosity_pa_s

    if chosen is not None:
        chosen = float(SETTINGS["temperature_c"].check(chosen, name="--temperature-c"))
    if camera == "simulated":
        own = settings.get("temperature_c")
        if own is not None:
            own = require_number("--camera-option temperature_c", own)
        if chosen is not None and own is not None and own != chosen:
            raise PyntaInputError(
                f"--temperature-c {chosen:g} contradicts --camera-option temperature_c={own}, "
                "the temperature the simulated sample is simulated at; give one of them"
            )
        if chosen is not None:
            settings["temperature_c"] = chosen
        elif own is not None:
            return own
    elif camera == "playback" and recorded.get("temperature_c") is not None:
        kept = float(recorded["temperature_c"])
        if chosen is not None and chosen != kept:
            raise PyntaInputError(
                f"--temperature-c {chosen:g}: the replayed movie was recorded at {kept:g} °C, "
                "which playback keeps (its frames are that sample's); leave --temperature-c "
                f"out, or analyse the recording at another temperature with `pynta analyze "
                f"--temperature-c {chosen:g}`"
            )
        return kept
    if chosen is None:
        return float(SETTINGS["temperature_c"].default)
    try:
        water_viscosity_pa_s(chosen)
    except PyntaInputError as error:
        raise PyntaInputError(
            f"--temperature-c {chosen:g}: {error} (pynta acquire records water samples)"
        ) from None
    return chosen


def _camera_timeout(seconds: float | None) -> float | None:
    """``--camera-timeout-s`` checked under its flag's name (None: automatic)."""
    return None if seconds is None else require_positive("--camera-timeout-s", seconds)


def progress_line(status: LiveStatus, track: bool) -> str:
    """One line: rate, frames saved and dropped, particles per frame, current size estimate."""
    parts = [status.rate_text(), f"acquired {status.frames_acquired}"]
    if status.record_path is not None or status.frames_saved:
        parts += [
            f"saved {status.frames_saved}",
            f"dropped {status.frames_dropped}",
            f"buffer {100 * status.buffer_fill:.0f}%",
        ]
    if track:
        parts.append(f"{status.particles_per_frame:.1f} particles/frame")
        if status.tracking_latency_s:
            parts.append(f"latency p95 {status.tracking_latency_s['p95']:.2f} s")
        summary = status.size_summary
        if summary and summary.get("diameter_nm") is not None:
            size = f"size {summary['diameter_nm']:.0f} nm ({summary['n_tracks']} tracks"
            if summary.get("linker_restarted_at") is not None:  # not the whole run: say which
                first, stop = summary["live_frames"]
                size += f", frames {first}–{stop - 1} only: linker restarted"
            parts.append(size + ")")
    return " | ".join(parts)


class ProgressPrinter:
    """Rewrites one progress line on a terminal; elsewhere prints a line every few seconds."""

    def __init__(self, interval_s: float = 5.0):
        self.interval_s = interval_s
        self._last = -math.inf

    def __call__(self, line: str, final: bool = False) -> None:
        if sys.stderr.isatty():
            print("\r" + line + "\x1b[K", end="\n" if final else "", file=sys.stderr, flush=True)
            return
        now = time.monotonic()
        if final or now - self._last >= self.interval_s:
            self._last = now
            print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run `pynta acquire`; returns the exit code.

    1 if frames were dropped, the recording failed or a worker stayed dead; 130 after Ctrl-C,
    143 after SIGTERM (both stop in order).
    """
    if args.captures is not None:
        from napari_pynta.cli.captures import run_captures

        return run_captures(args)
    config = build_config(args)
    show = not args.json
    until = _precision_stop(args)
    status, interrupted = acquire_once(config, show, until)
    result = result_dict(status, config)
    if until is not None:
        result.update(_precision_result(status, until))
    if args.json:
        print(json.dumps(result))
    else:
        print(format_result(result))
    print_errors(status.errors)
    if interrupted:
        return interrupted
    failed = (
        status.frames_dropped
        or status.dead_workers
        or status.recording_failed
        or status.camera_failed  # the run ended before the frames asked for
    )
    return 1 if failed else 0


#: errors printed in full at the end of a run; the rest are counted (all are in --json)
MAX_PRINTED_ERRORS = 5


def print_errors(errors: list[str], prefix: str = "pynta acquire: ") -> None:
    """Print the first line of the first :data:`MAX_PRINTED_ERRORS` errors, then how many more."""
    for error in errors[:MAX_PRINTED_ERRORS]:
        print(f"{prefix}{command_line_advice(error.splitlines()[0])}", file=sys.stderr)
    if len(errors) > MAX_PRINTED_ERRORS:
        print(
            f"{prefix}... and {len(errors) - MAX_PRINTED_ERRORS} more errors (all of them under "
            "'errors' with --json)",
            file=sys.stderr,
        )


def command_line_advice(message: str) -> str:
    """A worker's message as the command line gives it: the advice to analyse part of a damaged
    movie, ``frame_range=START:STOP`` (the Python API's keyword, which a worker's text keeps),
    becomes `pynta analyze --frames=START:STOP` (`pynta acquire --frames` is a number of frames
    to acquire, and a playback replays the whole movie)."""
    return re.sub(r"\bframe_range=(\w+:\w+)", r"`pynta analyze --frames=\1`", message)


def acquire_once(
    config: LiveConfig,
    show: bool,
    until: Callable[[LiveStatus], bool] | None = None,
) -> tuple[LiveStatus, int]:
    """Run one live pipeline until ``config.n_frames``, ``config.seconds`` or ``until`` (or
    Ctrl-C).

    The run also ends when the recording fails (e.g. disk full: at once, loudly) or when the
    acquisition dies; a dying locator, linker or saver is restarted by the pipeline and does
    not end it. Ctrl-C (or SIGTERM, see :func:`napari_pynta.cli.sigterm_stops_in_order`) stops
    in order (the frames in flight are written); a second one stops at once (one within
    :data:`~napari_pynta.cli.REPEATED_SIGNAL_S` is the first sent twice, and ignored).

    Parameters
    ----------
    config : LiveConfig
        Validated configuration.
    show : bool
        Print the progress line on stderr.
    until : callable, optional
        ``until(status) -> bool`` checked at every progress update; True ends the run (the frames
        acquired so far are saved and linked).

    Returns
    -------
    status : LiveStatus
        The final status (after every process stopped).
    interrupted : int
        0, or the exit code of the interruption that ended the run (130 Ctrl-C, 143 SIGTERM).
    """
    import multiprocessing

    from napari_pynta.live import LivePipeline
    from napari_pynta.live.supervisor import end_leftover_processes

    print_progress = ProgressPrinter()
    children_before = multiprocessing.active_children()
    pipeline = LivePipeline(config)
    if show:  # the progress line follows the pipeline's status events (its monitor thread)
        pipeline.events.status.connect(
            lambda status: print_progress(progress_line(status, config.track))
        )
    interrupted = 0
    try:
        pipeline.start()
        ended = False  # finish_acquisition() was called
        # n_frames, the time limit (config.seconds, applied by the acquisition to the frames'
        # own times) or the end of a playback end the run by itself
        while not pipeline.wait_finished(PROGRESS_INTERVAL_S):
            status = pipeline.status()
            if "acquisition" in status.dead_workers:
                break
            precise = until is not None and until(status)
            if not ended and (precise or status.recording_failed):
                pipeline.finish_acquisition()
                ended = True
    except KeyboardInterrupt as error:
        interrupted = interrupted_exit_code(error)
    except PyntaDataError as error:  # a worker's, e.g. a damaged movie played back
        raise PyntaDataError(command_line_advice(str(error))) from None
    finally:
        status = _stop(pipeline, finish=bool(interrupted))
        # none should be left; one would keep this process from exiting (see the function)
        status.errors.extend(end_leftover_processes(children_before))
    if show:
        print_progress(progress_line(status, config.track), final=True)
    return status, interrupted


class PrecisionStop:
    """The stop condition of ``--until-precision``: called with each status, True once the live
    sizes' D50 is precise enough; it remembers the D50's relative SE when that happened.

    The final sizes also hold the frames recorded while the run stopped, and the deconvolved
    D50's SE is not monotone in them: the final value may end a little above the target that
    stopped the run, which was then reached all the same (not stopped by the time limit).
    """

    def __init__(self, target: float) -> None:
        self.target = target
        #: D50 relative SE of the live sizes that stopped the run (None: not reached)
        self.reached_value: float | None = None

    def __call__(self, status: LiveStatus) -> bool:
        from napari_pynta.precision import d50_relative_se, precise_enough

        if self.reached_value is None and precise_enough(status.size_summary, self.target):
            self.reached_value = d50_relative_se(status.size_summary)
        return self.reached_value is not None


def _precision_stop(args: argparse.Namespace) -> PrecisionStop | None:
    """The stop condition of ``--until-precision`` (None without it)."""
    if args.until_precision is None:
        return None
    from napari_pynta.precision import check_target

    target = check_target(args.until_precision)
    if args.seconds is None or not args.track:
        raise PyntaInputError(
            "--until-precision needs --track (live sizes) and --seconds (the time limit)"
        )
    return PrecisionStop(target)


def _precision_result(status: LiveStatus, stop: PrecisionStop) -> dict[str, Any]:
    """``d50_relative_se`` of the final live sizes (the criterion), whether ``--until-precision``
    was reached (by the live sizes that stopped the run, ``d50_relative_se_at_stop``, or by the
    final ones), and ``relative_se``: the ensemble diameter's relative SE (the former criterion,
    for information)."""
    from napari_pynta.precision import MIN_TRACKS, d50_relative_se, relative_se

    value = d50_relative_se(status.size_summary)
    return {
        "until_precision": stop.target,
        "d50_relative_se": value,
        "d50_relative_se_at_stop": stop.reached_value,
        "relative_se": relative_se(status.size_summary),
        "precision_reached": stop.reached_value is not None
        or (value is not None and value <= stop.target),
        "precision_min_tracks": MIN_TRACKS,
    }


#: after an interruption, how long the run gets to write, link and size the frames acquired
#: before the pipeline is stopped anyway (a second Ctrl-C stops it at once)
FINISH_TIMEOUT_S = 60.0


def _stop(pipeline: Any, finish: bool = False) -> LiveStatus:
    """Stop the pipeline in order; a Ctrl-C meanwhile stops every process at once.

    ``finish`` (after an interruption): first end the run as ``--frames`` reached would, so the
    camera stops, every frame acquired is written, linked and sized, and the counters add up.
    Before, the recording was closed while the camera went on: a SIGTERM run reported 124
    frames acquired, 116 saved, 0 dropped, and no size summary.
    """
    try:
        status = pipeline.status()
        if finish and status.running and "acquisition" not in status.dead_workers:
            pipeline.finish_acquisition()
            pipeline.wait_finished(FINISH_TIMEOUT_S)
        return pipeline.stop()
    except KeyboardInterrupt:
        print("pynta acquire: stopping now; frames not yet written are lost", file=sys.stderr)
        return pipeline.terminate()


def _recorded_metadata(config: LiveConfig) -> dict[str, Any]:
    """The metadata of the recording (its store's), or the sample fields when nothing was saved."""
    from napari_pynta.errors import PyntaDataError
    from napari_pynta.store import MovieStore

    if config.record_path is not None and Path(config.record_path).is_dir():
        try:
            with MovieStore.open(config.record_path) as store:
                return store.metadata
        except PyntaDataError:
            pass
    return dict(config.sample)


def _replayed_interval_s(config: LiveConfig) -> float | None:
    """The frame interval of the recording a playback replays (its frames keep it, and their
    times, whatever the replay rate); None for another camera or a recording without one."""
    if config.camera != "playback":
        return None
    from napari_pynta.readers import open_movie

    with open_movie(str(config.camera_settings["path"])) as movie:
        interval = movie.metadata.get("frame_interval_s")
    return None if interval is None else float(interval)


def result_dict(status: LiveStatus, config: LiveConfig) -> dict[str, Any]:
    """The ``--json`` output: acquisition counters plus, when tracking, the analyze summary
    (with the recording's ``sample`` and ``recording`` like ``pynta analyze``). ``fps`` is the
    rate achieved (a playback's: its replay rate), ``recording_frame_interval_s`` the frame
    interval of the recording a playback replays (its frames keep it for the sizes; None for
    another camera)."""
    from napari_pynta.sample import describe_movie

    result: dict[str, Any] = dict(status.size_summary or {}) if config.track else {}
    if config.track and status.size_summary:
        describe_movie(result, _recorded_metadata(config))
    result.update(
        frames_acquired=status.frames_acquired,
        frames_saved=status.frames_saved,
        frames_dropped=status.frames_dropped,
        frames_lost_by_camera=status.frames_lost_by_camera,
        camera_clock_jumps=status.camera_clock_jumps,
        camera_pauses=status.camera_pauses,
        camera_failed=status.camera_failed,
        frames_untracked=status.frames_untracked if config.track else None,
        fps=status.fps if math.isfinite(status.fps) else None,
        fps_requested=status.fps_requested,
        recording_frame_interval_s=_replayed_interval_s(config),
        tracking_latency_s=status.tracking_latency_s if config.track else None,
        hot_pixels_repaired=status.hot_pixels_repaired,
        out=config.record_path,
        camera=config.camera,
        errors=[error.splitlines()[0] for error in status.errors],
        dead_workers=status.dead_workers,
        restarts=status.restarts,
        bad_messages=status.bad_messages,
        recording_failed=status.recording_failed,
    )
    if config.track:  # the frames the size summary covers (frames lost on the way excluded)
        result["frames_sized"] = int((status.size_summary or {}).get("frames_sized", 0))
    return result


def format_result(result: dict[str, Any]) -> str:
    """A short human summary of :func:`result_dict`."""
    acquired, fps = result["frames_acquired"], result["fps"]
    if fps:
        count = f"{acquired} frames at {fps:.1f} fps ("
    else:  # a rate needs two frames: one frame said "1 frames at 0.0 fps" (x28)
        count = f"{acquired} frame{'s' if acquired != 1 else ''} (no rate measured; "
    lines = [
        f"pynta acquire: {count}{result['fps_requested']:g} asked, "
        f"{result['frames_lost_by_camera']} lost by the camera) from the {result['camera']} camera"
    ]
    interval = result.get("recording_frame_interval_s")
    if interval:  # a playback: the rate above is the replay's
        lines.append(
            f"  replayed at that rate; the frames keep the recording's times (frame interval "
            f"{1e3 * interval:g} ms, {1 / interval:g} fps), which the sizes use"
        )
    if result.get("tracking_latency_s"):
        latency = result["tracking_latency_s"]
        lines.append(
            f"  tracking latency p50 {latency['p50']:.2f} s, p95 {latency['p95']:.2f} s, "
            f"max {latency['max']:.2f} s"
        )
    from napari_pynta.live.sizes import live_coverage_text

    # after a restart of the live linker the sizes cover its frames only (said below)
    coverage = live_coverage_text(result) if result.get("diameter_nm") is not None else None
    untracked = result.get("frames_untracked")
    if untracked is not None:  # tracking: say how much of the run the sizes cover
        acquired = result["frames_acquired"]
        text = f"  tracked {acquired - untracked} of {acquired} frames"
        if untracked and coverage is None:
            text += (
                f": {untracked} untracked (tracking fell behind or a locator was restarted; "
                "the sizes cover the tracked frames)"
            )
        elif untracked:
            text += (
                f": {untracked} untracked (while the live linker was restarted, or tracking "
                "fell behind)"
            )
        lines.append(text)
    if result["out"]:
        failed = result.get("recording_failed")
        lines.append(
            f"  saved {result['frames_saved']} frames to {result['out']}, "
            f"{result['frames_dropped']} dropped" + (f": {failed}" if failed else "")
        )
    if result.get("diameter_nm") is not None:
        deconvolved = result.get("deconvolved_nm") or {}
        d50, d50_se = deconvolved.get("d50"), deconvolved.get("d50_se")
        d50_text = "n/a" if d50 is None else f"{d50:.1f}"
        d50_text += "" if d50 is None or d50_se is None else f" ± {d50_se:.1f}"
        lines.append(
            f"  {result['n_tracks']} tracks: diameter {result['diameter_nm']:.1f} ± "
            f"{result['diameter_se_nm'] or math.nan:.1f} nm, deconvolved D50 {d50_text} nm, "
            f"{result['particles_per_frame']:.1f} particles/frame"
        )
    if coverage is not None:
        lines.append(f"  {coverage}")
    if result.get("until_precision") is not None:
        reached = "reached" if result["precision_reached"] else "NOT reached (time limit)"
        value = result["d50_relative_se"]
        at_stop = result.get("d50_relative_se_at_stop")
        if at_stop is not None and value is not None and value > result["until_precision"]:
            reached += (
                f" ({100 * at_stop:.1f} % when the run stopped; the final sizes also hold the "
                "frames recorded while it stopped)"
            )
        lines.append(
            f"  precision of D50 {'n/a' if value is None else f'{100 * value:.1f} %'} (target "
            f"{100 * result['until_precision']:g} %): {reached}"
        )
    return "\n".join(lines)
