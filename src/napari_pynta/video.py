"""AVI/MP4 movies (NanoSight saves its captures as AVI) read lazily through ffmpeg.

The ffmpeg executable comes with the ``imageio-ffmpeg`` wheel (``pip install
napari-pynta[video]``). Frames are decoded to one grey channel (ffmpeg's luma: the Y plane of
YUV video, Rec. 601 luminance of RGB video), 8 bit, or 16 bit when the video has more than 8
bits per sample. The frame rate stored in the file gives ``frame_interval_s``; the exposure time
is not in the file and must be given (``--exposure-s``).

Opening decodes the video once (ffmpeg's ``framecrc``) for each frame's time and size: a video
whose frames change size is read up to the change (ffmpeg rescaled the rest to the first size
without a word); frame times that skip whole frame intervals (frames dropped by the camera or
the encoder) give the frames their numbers, as a store's lost frames do; other irregular times
(a variable frame rate) give a warning.

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


@dataclass(frozen=True)
class VideoFrames:
    """What opening a video found in it (:func:`open_video`).

    Attributes
    ----------
    frames : dask.array.Array
        (T, Y, X) uint8 (uint16 for videos deeper than 8 bits), one chunk per
        :data:`BLOCK_FRAMES` frames.
    metadata : dict
        ``frame_interval_s``: 1 / the rate the file states, unless frame times that are regular
        or skip whole frame intervals give another (by more than 1 %: a variable-frame-rate
        video states its mean rate); none when neither gives one.
    warnings : list of str
        Frames of another size left out, frame intervals skipped, an irregular frame rate.
    frame_numbers : ndarray or None
        Each frame's number in frame intervals from the first when the times skip some, else
        None.
    n_decoded : int
        The frames ffmpeg decoded, those after a change of size included (0: not counted).
    """

    frames: da.Array
    metadata: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    frame_numbers: np.ndarray | None = None
    n_decoded: int = 0


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
        times_s, sizes = _frame_table(ffmpeg.get_ffmpeg_exe(), path)
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
    }


def _frame_table(ffmpeg: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Presentation time (s, NaN when unknown) and decoded size (bytes) of every frame, in the
    order :func:`_read_block` reads them, from ffmpeg's ``framecrc`` (times to the microsecond)."""
    command = [ffmpeg, "-nostdin", "-v", "error", "-noautorotate", "-i", str(path)]
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
    return times_s, np.array([int(row[4]) for row in rows], dtype=np.int64)


def _one_line(error: BaseException) -> str:
    """imageio-ffmpeg's error in one line: its first line and ffmpeg's last word, without the
    banner and build configuration it appends (``=== stderr ===`` and ~15 lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    head, *rest = lines
    return f"{head} ({rest[-1]})" if "=== stderr ===" in rest else head


def _read_block(
    path: str, first: int, count: int, shape: tuple[int, int], pix_fmt: str, dtype: np.dtype
) -> np.ndarray:
    """Frames ``first .. first + count - 1`` of a video as (count, Y, X)."""
    command = [
        _ffmpeg().get_ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-noautorotate",  # the frames as stored, of the size the probe read
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
        The frames, the frame interval, what to warn of and the frame numbers when the frame
        times skip whole intervals.

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
    blocks = [
        da.from_delayed(
            read(str(path), first, min(BLOCK_FRAMES, n_frames - first), shape, pix_fmt, dtype),
            (min(BLOCK_FRAMES, n_frames - first), *shape),
            dtype,
        )
        for first in range(0, n_frames, BLOCK_FRAMES)
    ]
    metadata = {"frame_interval_s": 1.0 / info["fps"]} if info["fps"] > 0 else {}
    numbers, timing = _frame_numbers(info["times_s"][:n_frames], path)
    if numbers is not None:  # the stated rate unless the times say otherwise (a VFR's mean)
        measured = float((info["times_s"][n_frames - 1] - info["times_s"][0]) / numbers[-1])
        stated = metadata.get("frame_interval_s", 0.0)
        if abs(measured - stated) > INTERVAL_TOLERANCE * measured:
            metadata["frame_interval_s"] = measured
    return VideoFrames(
        frames=da.concatenate(blocks),
        metadata=metadata,
        warnings=warnings + timing,
        frame_numbers=numbers if numbers is not None and numbers[-1] + 1 > n_frames else None,
        n_decoded=len(sizes),
    )


def _frame_numbers(times_s: np.ndarray, path: Path) -> tuple[np.ndarray | None, list[str]]:
    """Each frame's number of frame intervals from the first, from the frame times, and what to
    say about them.

    The interval is the mean of the steps shorter than 1.5 times the shortest; every step a
    whole number of them (within :data:`STEP_TOLERANCE` and :data:`TIME_ROUNDING_S`) numbers the
    frames (a step of 3 intervals: 2 frames dropped). Other times (a variable frame rate, times
    that repeat or go back) give None and a warning; so do times not known or too few frames
    (None, no warning).
    """
    steps = np.diff(times_s)
    if len(steps) < 2 or not np.isfinite(steps).all():
        return None, []
    if steps.min() > 0:
        interval = float(steps[steps < 1.5 * steps.min()].mean())
        multiples = np.rint(steps / interval)
        allowed = STEP_TOLERANCE * interval + TIME_ROUNDING_S
        if (np.abs(steps - multiples * interval) <= allowed).all():
            numbers = np.concatenate([[0], np.cumsum(multiples)]).astype(np.int64)
            skipped = int(numbers[-1] + 1 - len(numbers))
            if not skipped:
                return numbers, []
            return numbers, [
                f"{str(path)!r}: the frame times skip {skipped} frame intervals at "
                f"{int((multiples > 1).sum())} places (frames dropped by the camera or the "
                "encoder): a step across a gap counts as that many frame intervals"
            ]
    return None, [
        f"{str(path)!r} has a variable frame rate: its frame times step by "
        f"{steps.min() * 1e3:.4g} to {steps.max() * 1e3:.4g} ms, not by whole frame intervals: "
        "every step is sized as one frame interval of the rate the file states; steps of "
        "other lengths broaden the size distribution. Export the video at a constant frame "
        "rate"
    ]


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
