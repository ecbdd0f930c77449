"""AVI/MP4 movies (NanoSight saves its captures as AVI) read lazily through ffmpeg.

The ffmpeg executable comes with the ``imageio-ffmpeg`` wheel (``pip install
napari-pynta[video]``). Frames are decoded to one grey channel (ffmpeg's luma: the Y plane of
YUV video, Rec. 601 luminance of RGB video), 8 bit, or 16 bit when the video has more than 8
bits per sample. The frame rate stored in the file gives ``frame_interval_s``; the exposure time
is not in the file and must be given (``--exposure-s``).

Opening decodes the video once (ffmpeg's ``framecrc``) for each frame's time and size: a video
whose frames change size is read up to the change (ffmpeg rescaled the rest to the first size
without a word); what ffmpeg reports while decoding (a corrupt or cut middle, two videos joined
byte-wise) is kept. The frame times are judged over the frames analysed (:func:`video_timing`, a
part of the movie with ``--frames``): times that skip whole frame intervals (frames dropped by the
camera or the encoder) give the frames their numbers, as a store's lost frames do; other irregular
times (a variable frame rate), times that stand still or go back, and damage ffmpeg reported give
warnings that name the frames and the longest part without them.

Frames are read in blocks of :data:`BLOCK_FRAMES`, each block by one ffmpeg process that selects
its frames by number (``select=between(n, first, last)``), so every frame is read exactly once and
in order even where seeking by time would be inexact. Each ffmpeg process is run to its end and its
pipes closed here (imageio-ffmpeg's ``read_frames`` leaves them to the garbage collector, one
ResourceWarning each, whenever ffmpeg finishes before it is stopped).
"""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

from napari_pynta.errors import PyntaDataError
from napari_pynta.timing import INTERVAL_TOLERANCE

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv")
#: frames decoded by one ffmpeg process (one dask chunk)
BLOCK_FRAMES = 256
#: ffmpeg pixel formats with more than 8 bits per sample look like "gray16le", "yuv420p10le"
_DEEP_FORMAT = re.compile(r"(9|10|12|14|16)(le|be)$")
#: ffmpeg's description of a video stream: "Stream #0:0: Video: ffv1 (...), gray, 64x64, ..."
_VIDEO_STREAM = re.compile(r"Stream #\S+.*?: Video: (?P<details>.*)")
#: a frame step within this fraction of a frame interval, plus :data:`TIME_ROUNDING_S`, of a
#: whole number of intervals is that number
STEP_TOLERANCE = 0.05
#: how far a container rounds frame times: Matroska's clock counts milliseconds, so a 60 fps
#: video steps by 16 and 17 ms
TIME_ROUNDING_S = 1e-3
#: where ffmpeg locates a decoding error: "slice CRC mismatch 1EF7EB03!at 0.180000 seconds"
_ERROR_TIME = re.compile(r"\bat (\d+(?:\.\d+)?) seconds")


@dataclass(frozen=True)
class VideoFrames:
    """What opening a video found in it (:func:`open_video`); its timing is judged for the frames
    analysed by :func:`video_timing`.

    Attributes
    ----------
    frames : dask.array.Array
        (T, Y, X) uint8 (uint16 for videos deeper than 8 bits), one chunk per
        :data:`BLOCK_FRAMES` frames.
    source : str
        The video's path.
    times_s : ndarray
        Each frame's presentation time (s; NaN when unknown).
    stated_interval_s : float or None
        1 / the frame rate the file states; None when it states none.
    warnings : list of str
        Frames of another size left out.
    decode_errors : list of str
        What ffmpeg reported while decoding the frames (damaged data), one message a line.
    error_frames : list of int
        The frames at which ffmpeg located some of them (by the time it named: ``... at 0.18
        seconds``).
    n_decoded : int
        The frames ffmpeg decoded, those after a change of size included (0: not counted).
    shown_ranks : ndarray or None
        For a damaged video whose frames are decoded in another order than shown (B-frames):
        each packet's place among the frames shown, in the order they are decoded; None when
        decoded as shown, undamaged, or their times are unknown.
    """

    frames: da.Array
    source: str
    times_s: np.ndarray
    stated_interval_s: float | None = None
    warnings: list[str] = field(default_factory=list)
    decode_errors: list[str] = field(default_factory=list)
    error_frames: list[int] = field(default_factory=list)
    n_decoded: int = 0
    shown_ranks: np.ndarray | None = None


@dataclass(frozen=True)
class VideoTiming:
    """The timing of the frames ``start:stop`` of a video (:func:`video_timing`).

    Attributes
    ----------
    metadata : dict
        ``frame_interval_s``: the stated one unless the frames' times, where regular or skipping
        whole frame intervals, give another (by more than 1 %: a variable-frame-rate video
        states its mean rate); absent when neither gives one.
    frame_numbers : ndarray or None
        Each frame's number in frame intervals from the part's first when the times skip some,
        else None.
    warnings : list of str
        Frame intervals skipped, irregular times, times that stand still or go back, damage
        ffmpeg reported: each naming the frames (indices among the recorded frames).
    """

    metadata: dict[str, Any]
    frame_numbers: np.ndarray | None
    warnings: list[str]


def _ffmpeg() -> Any:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise PyntaDataError(
            "reading AVI/MP4 movies needs ffmpeg: pip install 'napari-pynta[video]' "
            "(installs imageio-ffmpeg, which brings its own ffmpeg)"
        ) from None
    return imageio_ffmpeg


def _output_format(source_pix_fmt: str) -> tuple[str, np.dtype]:
    """ffmpeg output pixel format and numpy dtype that keep the video's bit depth."""
    if _DEEP_FORMAT.search(source_pix_fmt.split("(")[0].strip()):
        return "gray16le", np.dtype("<u2")
    return "gray", np.dtype(np.uint8)


def _probe(path: Path) -> dict[str, Any]:
    """Frame size, rate and pixel format of a video, and each frame's time and size in bytes
    (decodes it once)."""
    ffmpeg = _ffmpeg()
    try:
        # ffmpeg without an output describes the input's streams and exits with an error
        described = subprocess.run(
            [ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
            capture_output=True,
            check=False,
        )
        stream = _VIDEO_STREAM.search(described.stderr.decode(errors="replace"))
        if stream is None:
            raise OSError(f"no video stream found\n=== stderr ===\n{described.stderr.decode()}")
        times_s, sizes, errors = _frame_table(ffmpeg.get_ffmpeg_exe(), path, one_thread=False)
        if errors:  # decoded again as the frames of a damaged video will be read
            times_s, sizes, errors = _frame_table(ffmpeg.get_ffmpeg_exe(), path, one_thread=True)
    except (OSError, RuntimeError) as error:
        raise PyntaDataError(f"cannot read video {str(path)!r}: {_one_line(error)}") from None
    parts = [part.strip() for part in re.split(r",\s*(?![^()]*\))", stream["details"])]
    size = next((match for part in parts if (match := re.match(r"(\d+)x(\d+)\b", part))), None)
    rate = next((match for part in parts if (match := re.match(r"([\d.]+) fps$", part))), None)
    return {
        "size": (int(size[1]), int(size[2])) if size else (0, 0),  # (width, height)
        "fps": float(rate[1]) if rate else 0.0,
        "pix_fmt": parts[1] if len(parts) > 1 else "",
        "times_s": times_s,
        "frame_bytes": sizes,
        "decode_errors": errors,
    }


def _decoder_threads(one_thread: bool) -> list[str]:
    """ffmpeg's input option for one decoding thread, or none (its choice: one per core).

    ffmpeg decodes an undamaged video the same with any number of threads, but not a damaged
    one: decoding FFV1 in several threads, a frame before the damaged one came out wrong in 2 of
    40 decodes on a loaded machine. A damaged video is decoded in one thread, to read the frames
    before the damage as they were recorded, every time.
    """
    return ["-threads", "1"] if one_thread else []


def _frame_table(
    ffmpeg: str, path: Path, one_thread: bool
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Presentation time (s, NaN when unknown) and decoded size (bytes) of every frame, in the
    order :func:`_read_block` reads them, from ffmpeg's ``framecrc`` (times to the microsecond),
    and the errors ffmpeg reported while decoding (damaged data), one message a line; decoded
    in one thread or in ffmpeg's choice of threads (:func:`_decoder_threads`)."""
    command = [ffmpeg, "-nostdin", "-v", "error", "-noautorotate", *_decoder_threads(one_thread)]
    command += ["-i", str(path)]
    command += ["-map", "0:v:0", "-noautoscale", "-fps_mode", "passthrough"]
    # times in microseconds: "demux" (the file's own time base) is unknown to ffmpeg before 7
    command += ["-enc_time_base", "1:1000000", "-f", "framecrc", "-"]
    listed = subprocess.run(command, capture_output=True, check=False)
    lines = listed.stdout.decode(errors="replace").splitlines()
    if listed.returncode != 0 and not any(not line.startswith("#") for line in lines):
        raise RuntimeError(
            f"ffmpeg could not decode the video\n=== stderr ===\n{listed.stderr.decode()}"
        )
    base = next((line.split(":", 1)[1] for line in lines if line.startswith("#tb 0:")), "1/1000000")
    numerator, denominator = (int(part) for part in base.strip().split("/"))
    rows = [line.split(",") for line in lines if line and not line.startswith("#")]
    ticks = [row[2].strip() for row in rows]
    times_s = np.array(
        [
            int(tick) * numerator / denominator if tick.lstrip("-").isdigit() else np.nan
            for tick in ticks
        ]
    )
    errors = [line.strip() for line in listed.stderr.decode(errors="replace").splitlines()]
    sizes = np.array([int(row[4]) for row in rows], dtype=np.int64)
    return times_s, sizes, [line for line in errors if line]


def _shown_ranks(ffmpeg: str, path: Path) -> np.ndarray | None:
    """Each video packet's place among the frames shown, in the order the packets are decoded,
    from their presentation times (ffmpeg's ``framecrc`` of the packets copied, not decoded);
    None when they are shown in the order decoded or a time is unknown."""
    command = [ffmpeg, "-nostdin", "-v", "quiet", "-i", str(path), "-map", "0:v:0", "-c", "copy"]
    listed = subprocess.run([*command, "-f", "framecrc", "-"], capture_output=True, check=False)
    rows = [line.split(",") for line in listed.stdout.decode(errors="replace").splitlines()]
    ticks = [row[2].strip() for row in rows if len(row) > 2 and not row[0].startswith("#")]
    if not ticks or not all(tick.lstrip("-").isdigit() for tick in ticks):
        return None
    ranks = np.argsort(np.argsort(np.array(ticks, dtype=np.int64), kind="stable"), kind="stable")
    return None if (ranks == np.arange(len(ranks))).all() else ranks


def _one_line(error: BaseException) -> str:
    """imageio-ffmpeg's error in one line: its first line and ffmpeg's last word, without the
    banner and build configuration it appends (``=== stderr ===`` and ~15 lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    head, *rest = lines
    return f"{head} ({rest[-1]})" if "=== stderr ===" in rest else head


def _read_block(
    path: str,
    first: int,
    count: int,
    shape: tuple[int, int],
    pix_fmt: str,
    dtype: np.dtype,
    one_thread: bool,
) -> np.ndarray:
    """Frames ``first .. first + count - 1`` of a video as (count, Y, X), decoded in one thread
    or in ffmpeg's choice of threads (:func:`_decoder_threads`)."""
    command = [
        _ffmpeg().get_ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-noautorotate",  # the frames as stored, of the size the probe read
        *_decoder_threads(one_thread),
        "-i",
        path,
        "-vf",
        f"select=between(n\\,{first}\\,{first + count - 1})",
        "-fps_mode",
        "passthrough",
        "-frames:v",
        str(count),
        "-pix_fmt",
        pix_fmt,
        "-vcodec",
        "rawvideo",
        "-f",
        "image2pipe",
        "-",
    ]
    block = np.empty((count, *shape), dtype=dtype)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as ffmpeg:
        assert ffmpeg.stdout is not None  # for mypy: stdout=PIPE
        n_read, frame_bytes = 0, block[0].nbytes
        while n_read < count and len(raw := ffmpeg.stdout.read(frame_bytes)) == frame_bytes:
            block[n_read] = np.frombuffer(raw, dtype=dtype).reshape(shape)
            n_read += 1
    if n_read != count:
        raise PyntaDataError(
            f"video {path!r}: frames {first}..{first + count - 1} could not all be decoded "
            f"(got {n_read} of {count}); the file may be truncated"
        )
    return block


def open_video(path: str | Path) -> VideoFrames:
    """Open an AVI/MP4 movie lazily as (T, Y, X) grey frames.

    Parameters
    ----------
    path : str or Path
        The video file.

    Returns
    -------
    VideoFrames
        The frames, their times, the stated frame interval, what ffmpeg reported while decoding
        them; :func:`video_timing` judges the times of the frames analysed.

    Raises
    ------
    PyntaDataError
        When ffmpeg is missing or the file cannot be decoded or holds no frames.
    """
    path = Path(path)
    info = _probe(path)
    width, height = info["size"]
    pix_fmt, dtype = _output_format(info["pix_fmt"])
    sizes = info["frame_bytes"]
    if len(sizes) < 1 or width < 1 or height < 1:
        raise PyntaDataError(f"video {str(path)!r} has no frames")
    warnings = []
    n_frames = int(np.argmax(sizes != sizes[0])) if (sizes != sizes[0]).any() else len(sizes)
    if n_frames < len(sizes):
        warnings.append(
            f"{str(path)!r}: its frames change size after frame {n_frames} (of {len(sizes)}): "
            f"only the first {n_frames} frames, of {width}x{height}, are read, not the "
            f"{len(sizes) - n_frames} after them"
        )
    shape = (height, width)
    read = dask.delayed(_read_block, pure=True)
    errors, one_thread = info["decode_errors"], bool(info["decode_errors"])
    blocks = [
        da.from_delayed(
            read(
                str(path),
                first,
                min(BLOCK_FRAMES, n_frames - first),
                shape,
                pix_fmt,
                dtype,
                one_thread,
            ),
            (min(BLOCK_FRAMES, n_frames - first), *shape),
            dtype,
        )
        for first in range(0, n_frames, BLOCK_FRAMES)
    ]
    times = info["times_s"][:n_frames]
    ranks = _shown_ranks(_ffmpeg().get_ffmpeg_exe(), path) if errors else None
    error_times = [float(time[1]) for line in errors if (time := _ERROR_TIME.search(line))]
    return VideoFrames(
        frames=da.concatenate(blocks),
        source=str(path),
        times_s=times,
        stated_interval_s=1.0 / info["fps"] if info["fps"] > 0 else None,
        warnings=warnings,
        decode_errors=errors,
        error_frames=[
            int(np.nanargmin(np.abs(times - time)))
            for time in error_times
            if np.isfinite(times).any()
        ],
        n_decoded=len(sizes),
        shown_ranks=ranks,
    )


def video_timing(video: VideoFrames, start: int, stop: int) -> VideoTiming:
    """Frame interval, frame numbers and warnings of the frames ``start:stop`` of a video,
    judged from those frames' times alone (a regular part of a video irregular elsewhere is
    regular), and the damage ffmpeg reported where it may reach them.

    Parameters
    ----------
    video : VideoFrames
        The open video (:func:`open_video`).
    start, stop : int
        The frames analysed, ``0 <= start < stop <= len(video.times_s)``.

    Returns
    -------
    VideoTiming
        What the analysis of those frames uses and should warn of.
    """
    times = video.times_s[start:stop]
    numbers, warnings = _frame_numbers(times, video.source, start)
    metadata = (
        {} if video.stated_interval_s is None else {"frame_interval_s": video.stated_interval_s}
    )
    if numbers is not None:  # the stated rate unless the times say otherwise (a VFR's mean)
        measured = float((times[-1] - times[0]) / numbers[-1])
        stated = metadata.get("frame_interval_s", 0.0)
        if abs(measured - stated) > INTERVAL_TOLERANCE * measured:
            metadata["frame_interval_s"] = measured
    damage = _damage_warning(video, start, stop)
    return VideoTiming(
        metadata=metadata,
        frame_numbers=numbers if numbers is not None and numbers[-1] + 1 > len(times) else None,
        warnings=warnings + damage,
    )


def _frame_interval(steps: np.ndarray) -> float:
    """The frame interval that frame steps (all > 0) are whole numbers of: the mean of those
    shorter than 1.5 times the shortest."""
    return float(steps[steps < 1.5 * steps.min()].mean())


def _whole_steps(steps: np.ndarray, interval: float) -> np.ndarray:
    """Whether each step is a whole number of frame intervals (within :data:`STEP_TOLERANCE` and
    :data:`TIME_ROUNDING_S`)."""
    multiples = np.rint(steps / interval)
    allowed = STEP_TOLERANCE * interval + TIME_ROUNDING_S
    return (multiples >= 1) & (np.abs(steps - multiples * interval) <= allowed)


def _frame_numbers(
    times_s: np.ndarray, source: str, first: int
) -> tuple[np.ndarray | None, list[str]]:
    """Each frame's number of frame intervals from the first, from the frame times, and what to
    say about them (frames named by their index among the recorded ones, ``first`` + i).

    The interval is the mean of the steps shorter than 1.5 times the shortest; every step a
    whole number of them (within :data:`STEP_TOLERANCE` and :data:`TIME_ROUNDING_S`) numbers the
    frames (a step of 3 intervals: 2 frames dropped). Other times (a variable frame rate, times
    that stand still or go back) give None and a warning naming the frames; so do times not
    known or too few frames (None, no warning).
    """
    steps = np.diff(times_s)
    if len(steps) < 2 or not np.isfinite(steps).all():
        return None, []
    if steps.min() <= 0:
        back = steps <= 0
        return None, [
            f"{source!r}: the frame times stand still or go back {_frames_at(back, first)} "
            "(two videos joined byte-wise, or a damaged file?): every step is sized as one frame "
            "interval of the rate the file states, the steps there too; "
            f"{_longest_good_part(~back, first)}"
        ]
    interval = _frame_interval(steps)
    whole = _whole_steps(steps, interval)
    if whole.all():
        multiples = np.rint(steps / interval)
        numbers = np.concatenate([[0], np.cumsum(multiples)]).astype(np.int64)
        skipped = int(numbers[-1] + 1 - len(numbers))
        if not skipped:
            return numbers, []
        return numbers, [
            f"{source!r}: the frame times skip {skipped} frame intervals at "
            f"{int((multiples > 1).sum())} places (frames dropped by the camera or the "
            "encoder, or lost to damage): a step across a gap counts as that many frame intervals"
        ]
    shortest, longest = (f"{step * 1e3:.4g}" for step in (steps.min(), steps.max()))
    return None, [
        f"{source!r} has a variable frame rate: its frame times step by "
        f"{shortest if shortest == longest else f'{shortest} to {longest}'} ms, not by whole frame "
        f"intervals of {interval * 1e3:.4g} ms, {_frames_at(~whole, first)} "
        f"({int((~whole).sum())} of {len(steps)} steps): every step is sized as one frame "
        "interval of the rate the file states; steps of other lengths broaden the size "
        f"distribution. Export the video at a constant frame rate, or "
        f"{_longest_good_part(whole, first)}"
    ]


def _frames_at(bad_steps: np.ndarray, first: int) -> str:
    """Where the steps ``bad_steps`` (step i: frame i to i + 1) lie, in recorded frame indices:
    ``"between frames 101 and 148"``."""
    where = np.flatnonzero(bad_steps) + first
    return f"between frames {where[0]} and {where[-1] + 1}"


def _longest_good_part(good_steps: np.ndarray, first: int) -> str:
    """Advice to analyse the longest run of frames joined by good steps alone."""
    from napari_pynta.verify import runs

    spans = list(runs(np.flatnonzero(good_steps)))
    if not spans:
        return "no two frames in a row step regularly"
    a, b = max(spans, key=lambda span: span[1] - span[0])
    return (
        f"analyse the longest regular part, frames {first + a}..{first + b + 1}, alone with "
        f"--frames {first + a}:{first + b + 2}"
    )


def first_damaged_frame(video: VideoFrames) -> int | None:
    """The first frame that ffmpeg's decoding errors may have damaged; None when it reported
    none or located none.

    It is the earliest of the frames ffmpeg located by time and of the frames whose time does
    not follow the previous one by one frame interval (frames lost in the damage leave a gap,
    two joined videos a step back); frames after a damaged one may be wrong too up to the next
    key frame (FFV1, h264 and others decode a frame from the one before). In a video decoded in
    another order than shown (h264 with B-frames, :attr:`VideoFrames.shown_ranks`), it moves
    back to the first frame shown of those decoded from the packet before the first decoded of
    the frames from it on (the damaged bytes may begin inside that packet, which still decodes,
    wrongly; a frame shown earlier may be decoded later, from a damaged one).
    """
    if not video.decode_errors:
        return None
    located = list(video.error_frames)
    steps = np.diff(video.times_s)
    if np.isfinite(steps).all() and (steps > 0).any():
        interval = _frame_interval(steps[steps > 0])
        single = _whole_steps(steps, interval) & (np.rint(steps / interval) == 1)
        located += [int(index) + 1 for index in np.flatnonzero(~single)[:1]]
    if not located:
        return None
    first = min(located)
    ranks = video.shown_ranks
    if ranks is None or first >= len(ranks):
        return first
    decoded_first = int(np.flatnonzero(ranks >= first)[0])  # of the frames from ``first`` on
    return int(ranks[max(decoded_first - 1, 0) :].min())


def _damage_warning(video: VideoFrames, start: int, stop: int) -> list[str]:
    """The warning for decoding errors ffmpeg reported that may reach the frames ``start:stop``
    (from :func:`first_damaged_frame` on; every part when none is located)."""
    if not video.decode_errors:
        return []
    affected = first_damaged_frame(video)
    if affected is not None and affected >= stop:
        return []  # the frames analysed were all decoded before the damage
    where = (
        "at frames ffmpeg did not locate"
        if affected is None
        else f"from frame {affected} on (frames after a damaged one may be wrong or missing "
        "up to the next key frame)"
    )
    n_more = len(video.decode_errors) - 1
    more = f" (and {n_more} more {'message' if n_more == 1 else 'messages'})" if n_more else ""
    return [
        f"{video.source!r} is damaged (a corrupt or cut middle, or two videos joined byte-wise?): "
        f"ffmpeg reported {video.decode_errors[0]!r}{more} while decoding it, {where}; "
        f"{_damage_advice(affected)}"
    ]


def _damage_advice(affected: int | None) -> str:
    """What to do about a damaged video whose first damaged frame is ``affected`` (None: not
    located): analyse the frames decoded before it, or, when none is known to be sound, find
    the damage by comparing parts (no frame number is guessed)."""
    if affected:
        return (
            f"frames 0..{affected - 1} decoded without error: analyse them alone with "
            f"--frames 0:{affected}"
        )
    return (
        "no frame is known to be sound: analyse an undamaged copy of the file if there is one "
        "(the original recording, a fresh copy), else check the sizes with fewer frames, e.g. "
        "each half alone with --frames, and compare them (a part with damaged frames may differ)"
    )


def declared_avi_frames(path: str | Path) -> int | None:
    """The frame count an AVI's main header (``avih``) declares; None for other files.

    ffmpeg reads a cut AVI (an interrupted copy or recording) as the frames it holds, without an
    error; the header still declares the whole. In an OpenDML AVI (over 1 GB) it counts the
    first segment's frames only, never more than the file holds when complete.
    """
    with open(path, "rb") as file:
        head = file.read(52)
    if len(head) < 52 or head[:4] != b"RIFF" or head[8:12] != b"AVI " or head[24:28] != b"avih":
        return None
    return int(struct.unpack_from("<I", head, 48)[0])
