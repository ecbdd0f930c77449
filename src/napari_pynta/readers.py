"""Open a movie lazily, whatever it was saved as: a pynta store, an OME-Zarr image from other
software (:mod:`napari_pynta.ome_zarr`), a TIFF file, an AVI/MP4 video (:mod:`napari_pynta.video`)
or a folder of frames.

Every movie comes back as a :class:`Movie` whose ``frames`` is a dask array (T, Y, X) of an
integer dtype; nothing is read until a frame is computed. Colour images are reduced to one
channel: the luminance of RGB with the Rec. 601 weights ``0.299 R + 0.587 G + 0.114 B``, rounded
to the nearest integer in the original dtype; an alpha channel is dropped (a grey + alpha image
keeps its grey channel).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import imageio.v3 as iio
import numpy as np
import tifffile
import zarr
from dask.base import tokenize

from napari_pynta.errors import (
    PyntaDataError,
    PyntaInputError,
    invalid_scale_text,
    verify_command,
)
from napari_pynta.frame_range import (
    RANGE_SYNTAX,
    FrameRange,
    frames_named,
    gap_numbers,
    readable_advice,
)
from napari_pynta.store import (
    SEQ_PATH,
    TIMESTAMPS_PATH,
    MovieStore,
    has_zarr_suffix,
    is_being_written,
    unreadable_array,
)
from napari_pynta.timing import FrameTiming, measure_numbered_frames, reconciled_with
from napari_pynta.video import VIDEO_SUFFIXES

TIFF_SUFFIXES = (".tif", ".tiff")
JPEG_SUFFIXES = (".jpg", ".jpeg")
FRAME_SUFFIXES = (".png", *TIFF_SUFFIXES, *JPEG_SUFFIXES)
SUPPORTED_INPUTS = (
    "a pynta store (a *.zarr folder), an OME-Zarr image (0.4 or 0.5), a TIFF file "
    "(.tif/.tiff, one or many pages), an AVI/MP4 video or a folder of PNG/TIFF/JPEG frames "
    "(one image per file, sorted by name)"
)
#: Rec. 601 luma weights of R, G, B in thousandths (integer sums round halves exactly)
REC601_WEIGHTS_PER_MILLE = (299, 587, 114)
#: ImageJ and OME-XML length units -> micrometers (OME's UnitsLength symbols from Å to m, and the
#: spellings ImageJ and hand-written XML use)
_LENGTH_UNITS_UM = {
    "\u00c5": 1e-4,  # OME's Å (Latin capital A with ring)
    "\u212b": 1e-4,  # the angstrom sign
    "nm": 1e-3,
    "um": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "\u00b5m": 1.0,  # OME's µm (micro sign)
    "\u03bcm": 1.0,  # Greek mu
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
}
#: ImageJ and OME-XML time units -> seconds (OME's UnitsTime symbols from ns to h, and the
#: spellings ImageJ and hand-written XML use)
_TIME_UNITS_S = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 1e-3,
    "msec": 1e-3,
    "\u00b5s": 1e-6,  # OME's µs (micro sign)
    "\u03bcs": 1e-6,  # Greek mu
    "us": 1e-6,
    "ns": 1e-9,
    "min": 60.0,
    "h": 3600.0,
}
_CENTIMETER = 3  # TIFF ResolutionUnit


@dataclass
class Movie:
    """A movie opened for analysis or viewing.

    Attributes
    ----------
    frames : dask.array.Array
        (T, Y, X) integer frames, lazy.
    metadata : dict
        Store metadata (``pixel_size_um``, ``frame_interval_s``, ...); for TIFF files and folders
        only what the file states cheaply (the pixel size and frame interval of OME-XML or ImageJ
        metadata), else empty.
    source : str
        The path the movie was opened from.
    store : MovieStore or None
        The read-only store for a pynta store (gives access to its tables), else None.
    warnings : list of str
        What the analysis should report about the movie itself (e.g. a frame interval taken
        from the stored frame times because it disagrees with the nominal one).
    frame_numbers : ndarray or None
        When the camera lost frames between recorded ones (gaps in a store's ``seq``): the
        acquisition number of each frame counted from the first (``seq - seq[0]``), so that a
        step across a gap spans its true number of frame intervals; None when the frames are
        consecutive.
    open_files : list
        What :meth:`close` closes: the files the lazy frames read from (a TIFF's).
    first_frame : int
        The index among the recorded frames of ``frames[0]``: 0, or the START of a part opened
        with ``frame_range`` (the analysis numbers its tables' frames from it).
    frame_timing : FrameTiming or None
        The frame interval a store's frame times measure (of its numbered frames in this part;
        :func:`napari_pynta.timing.measure_numbered_frames`: its ``backward_frames`` are indices
        among the recorded frames, as ``first_frame`` is), None for other movies or too few
        times.

    Use it as a context manager (``with open_movie(path) as movie:``) where the frames are not
    needed after the block.
    """

    frames: da.Array
    metadata: dict[str, Any]
    source: str
    store: MovieStore | None = None
    warnings: list[str] = field(default_factory=list)
    frame_numbers: np.ndarray | None = None
    open_files: list[Any] = field(default_factory=list, repr=False)
    first_frame: int = 0
    frame_timing: FrameTiming | None = None

    def close(self) -> None:
        """Close the files kept open for lazy reads (a TIFF's); idempotent.

        A frame computed afterwards opens its file again (a napari layer may outlive the Movie
        it came from); a Movie never closed has its files closed quietly by the garbage
        collector once its frames are gone.
        """
        for handle in self.open_files:
            handle.close()

    def __enter__(self) -> Movie:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_movie(
    path: str | Path,
    frame_range: FrameRange | str | None = None,
    *,
    show_unnumbered: bool = False,
) -> Movie:
    """Open a pynta store, an OME-Zarr image, a (multi-page) TIFF, an AVI/MP4 video or a folder of
    PNG/TIFF/JPEG frames lazily, or a part of its frames.

    Colour frames become one channel: the Rec. 601 luminance ``0.299 R + 0.587 G + 0.114 B`` of
    RGB, rounded, in the original integer dtype; alpha is dropped. A single 2-D image becomes a
    movie of one frame (1, Y, X).

    Parameters
    ----------
    path : str or Path
        The movie.
    frame_range : FrameRange or str, optional
        Only the recorded frames ``START:STOP`` (:mod:`napari_pynta.frame_range`): the movie's
        ``first_frame`` is START, its ``frame_numbers`` those of the part. A pynta store is then
        checked over that part only, so that the readable part of a damaged store opens.
    show_unnumbered : bool
        Open a store whose lost seq chunks leave recorded frames without their frame number
        with all its frames, and a warning that names those frames and the ``frame_range`` that
        analyses the others, instead of refusing it: what napari shows (the pixels are sound);
        such a movie is for viewing only (``frame_numbers`` None), its analysis opens the
        advised range.

    Returns
    -------
    Movie
        Frames (T, Y, X) as a dask array, metadata, source path and the store (if any).

    Raises
    ------
    PyntaInputError
        If the path is not one of the supported kinds of input, or ``frame_range`` selects no
        frames of it.
    PyntaDataError
        If the path is missing or unreadable, holds no frames or holds non-integer data, or
        (a store) frames of the range have no frame number (a seq chunk missing on disk).
    """
    part = FrameRange.parse(frame_range) if isinstance(frame_range, str) else frame_range
    if part is not None and not isinstance(part, FrameRange):  # a tuple or slice: AttributeError
        raise PyntaInputError(
            f"frame_range must be {RANGE_SYNTAX} or a FrameRange, got {frame_range!r}",
            "frame_range",
        )
    if not str(path).strip():  # Path("") is the current folder
        raise PyntaInputError(
            f"the movie's path is empty ({str(path)!r}); pynta opens {SUPPORTED_INPUTS}"
        )
    path = Path(path)
    if not path.exists():
        raise PyntaDataError(f"movie {str(path)!r} does not exist; pynta opens {SUPPORTED_INPUTS}")
    if path.is_dir():
        if is_zarr_group(path):
            return _open_zarr(path, part, show_unnumbered)
        return movie_part(_open_folder(path), part)
    if path.suffix.lower() in TIFF_SUFFIXES:
        return movie_part(_open_tiff(path), part)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _open_video(path, part)
    raise PyntaInputError(
        f"cannot open {str(path)!r}: unsupported file type {path.suffix or '(none)'!r}; "
        f"pynta opens {SUPPORTED_INPUTS}"
    )


def movie_part(movie: Movie, part: FrameRange | None) -> Movie:
    """The recorded frames ``part`` of an open movie, with their frame numbers (the movie
    itself for None).

    Raises
    ------
    PyntaInputError
        If ``part`` selects no frames of the movie.
    """
    if part is None:
        return movie
    try:
        start, stop = part.resolve(int(movie.frames.shape[0]), movie.source)
    except PyntaInputError:
        movie.close()
        raise
    numbers = None if movie.frame_numbers is None else movie.frame_numbers[start:stop]
    return dataclasses.replace(
        movie,
        frames=movie.frames[start:stop],
        frame_numbers=gap_numbers(numbers),
        first_frame=movie.first_frame + start,
    )


def rgb_to_luminance(rgb: np.ndarray) -> np.ndarray:
    """Return the Rec. 601 luminance of RGB pixels (last axis R, G, B), in the input dtype.

    Parameters
    ----------
    rgb : numpy.ndarray
        Integer array whose last axis holds R, G, B.

    Returns
    -------
    numpy.ndarray
        ``round(0.299 R + 0.587 G + 0.114 B)`` with the last axis removed, same dtype as ``rgb``;
        halves round up (computed in integers: in floating point 0.299 * 230 + 0.587 * 156 +
        0.114 * 247 is 188.49999999999997, not the 188.5 it is).
    """
    weighted = np.asarray(rgb[..., :3], dtype=np.int64) @ np.array(REC601_WEIGHTS_PER_MILLE)
    luminance = (weighted + 500) // 1000
    info = np.iinfo(rgb.dtype)
    return np.clip(luminance, info.min, info.max).astype(rgb.dtype)


def _to_single_channel(pixels: np.ndarray) -> np.ndarray:
    """Reduce samples on the last axis (grey+alpha, RGB, RGBA) to one channel."""
    n_samples = pixels.shape[-1]
    if n_samples in (1, 2):  # grey, grey + alpha
        return pixels[..., 0]
    return rgb_to_luminance(pixels)


def _check_samples(n_samples: int, source: Path) -> None:
    if n_samples > 4:
        raise PyntaDataError(
            f"{str(source)!r} has {n_samples} samples per pixel; pynta reads grey, grey + alpha, "
            "RGB or RGBA images"
        )


def check_integer_pixels(dtype: np.dtype, what: str) -> None:
    """Refuse pixels that are not integers (float, bool, complex): a camera gives integers, and
    a float movie may hold NaN, which detection took for particles (b16: 0.1 % NaN pixels gave
    eight times the localizations and 36 nm for 100 nm, without a warning).

    Parameters
    ----------
    dtype : numpy.dtype
        The pixels' type.
    what : str
        How the message names the movie (``"'run.tif'"``, ``"the layer 'frames'"``).

    Raises
    ------
    PyntaDataError
        Naming the movie, its type and what is allowed.
    """
    if np.dtype(dtype).kind not in "ui":
        raise PyntaDataError(
            f"{what} holds {dtype} pixels; pynta analyzes integer camera data "
            "(uint8, uint16 or other integer types)"
        )


def _check_not_empty(frames: da.Array | np.ndarray, source: Path) -> None:
    if frames.shape[0] == 0:
        raise PyntaDataError(f"movie {str(source)!r} has no frames")


# ---------------------------------------------------------------------------- zarr
def is_zarr_group(path: str | Path) -> bool:
    """True for a folder named ``*.zarr`` or holding zarr group metadata (v3 or v2)."""
    path = Path(path)
    return has_zarr_suffix(path) or any(
        (path / name).is_file() for name in ("zarr.json", ".zgroup")
    )


def is_pynta_store(path: str | Path) -> bool:
    """True when ``path`` holds a zarr v3 group with the ``pynta`` attribute."""
    try:
        attributes = json.loads((Path(path) / "zarr.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return "pynta" in (attributes.get("attributes") or {})


def is_damaged_pynta_store(path: str | Path) -> bool:
    """True for a folder with a pynta store's own arrays (``seq``, ``timestamps_s``) whose root
    ``zarr.json`` is missing or does not parse: a damaged store, which opening explains, not
    some other folder."""
    from napari_pynta.store import SEQ_PATH, TIMESTAMPS_PATH

    path = Path(path)
    if not any((path / name).is_dir() for name in (SEQ_PATH, TIMESTAMPS_PATH)):
        return False
    try:
        json.loads((path / "zarr.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return False


def _open_zarr(path: Path, part: FrameRange | None, show_unnumbered: bool) -> Movie:
    """A pynta store, or else an OME-Zarr image written by other software."""
    from napari_pynta.ome_zarr import is_ome_image, open_ome_zarr

    _refuse_bare_array(path)
    if is_pynta_store(path) or not is_ome_image(path):
        # with the store's own explanation of what is wrong
        return _open_store(path, part, show_unnumbered)

    frames, metadata, warnings = open_ome_zarr(path)
    check_integer_pixels(np.dtype(frames.dtype), repr(str(path)))
    _check_not_empty(frames, path)
    movie = Movie(frames=frames, metadata=metadata, source=str(path), store=None, warnings=warnings)
    return movie_part(movie, part)


def _refuse_bare_array(path: Path) -> None:
    """Refuse a zarr array that is no group (``zarr.save('movie.zarr', frames)``): it has no
    axes, pixel size or frame interval, and opening it as a store called it damaged."""
    try:
        array = zarr.open_array(path, mode="r")
    except Exception:  # a group, or no zarr at all: the store's opening explains it
        return
    raise PyntaDataError(
        f"{str(path)!r} is a bare zarr array (shape {tuple(array.shape)}, {array.dtype}), not a "
        "pynta store or an OME-Zarr image: nothing says which axis is time. Write frames "
        "(T, Y, X) as a TIFF movie (tifffile.imwrite('movie.tif', frames)) and give the "
        f"physical flags; pynta opens {SUPPORTED_INPUTS}"
    )


def _open_store(path: Path, part: FrameRange | None, show_unnumbered: bool = False) -> Movie:
    store = MovieStore.open(path, mode="r")
    recorded = store.recorded_frames()
    _check_not_empty(recorded, path)
    start, stop = (0, len(recorded)) if part is None else part.resolve(len(recorded), str(path))
    numbered = recorded[start:stop]
    warnings = []
    if show_unnumbered and not numbered.all():
        warnings.append(_unnumbered_frames_shown(store, path, recorded))
    else:
        _check_seq_chunks(store, path, recorded, start, stop)
    frames = store.as_dask(stop)[start:stop]
    # the frame interval the frames were really taken at (see napari_pynta.timing)
    seq = store.seq_between(start, stop)
    times, time_warnings = _frame_times(store, path, start, stop)
    timing = measure_numbered_frames(times, seq, first_frame=start)
    metadata, timing_warnings = reconciled_with(store.metadata, timing)
    warnings += time_warnings + timing_warnings
    if is_being_written(path):
        warnings.append(
            f"{str(path)!r} is being written by another process (a recording in progress?): "
            f"only the {store.n_frames} frames written when it was opened are read"
        )
    return Movie(
        frames=frames,
        metadata=metadata,
        source=str(path),
        store=store,
        warnings=warnings,
        frame_numbers=gap_numbers(seq) if numbered.all() else None,
        first_frame=start,
        frame_timing=timing,
    )


def _check_seq_chunks(
    store: MovieStore, path: Path, recorded: np.ndarray, start: int, stop: int
) -> None:
    """Refuse a store whose missing seq chunks make recorded frames ``start..stop-1`` look never
    written, saying which frames are readable.

    A frame counts once its seq is written, so a deleted seq chunk hid every frame from it on:
    the first 4096 of 5000 frames were analysed without a word, or none ("has no frames").
    """
    if recorded[start:stop].all():
        return
    whole = (start, stop) == (0, len(recorded))
    which = "" if whole else f"frame_range {start}:{stop} holds frames without one; "
    raise PyntaDataError(
        f"{_seq_damage(store, path)}, so only the first {store.n_frames} of its "
        f"{len(recorded)} frames count as recorded; {which}{readable_advice(recorded)}; run "
        f"{verify_command(path)} for a full report",
        others=("frame_range",),
    )


def _unnumbered_frames_shown(store: MovieStore, path: Path, recorded: np.ndarray) -> str:
    """The warning of a store opened with frames that lost their number (``show_unnumbered``):
    which they are, and the ``frame_range`` that analyses the others."""
    unnumbered = ~recorded
    verb = "is" if unnumbered.sum() == 1 else "are"
    analysed = (
        f"they cannot be analysed; {readable_advice(recorded)}"
        if recorded.any()
        else "no frame can be analysed"
    )
    return (
        f"{_seq_damage(store, path)}: {frames_named(unnumbered)}"
        f" {verb} shown, but without their frame numbers {analysed}; run "
        f"{verify_command(path)} for a full report"
    )


def _seq_damage(store: MovieStore, path: Path) -> str:
    """``"store 'run.zarr' is damaged: seq (the frame numbers) has 1 of 2 chunks missing on
    disk"``."""
    missing, expected = store.missing_chunks()[SEQ_PATH]
    return (
        f"store {str(path)!r} is damaged: seq (the frame numbers) has {missing} of {expected} "
        "chunks missing on disk"
    )


def _frame_times(
    store: MovieStore, path: Path, start: int, stop: int
) -> tuple[np.ndarray, list[str]]:
    """The frame times of frames ``start..stop-1``, and a warning when damaged or missing chunks
    make some unknown.

    The frames are sound: they are analysed with the metadata's frame interval, which the times
    (NaN: unknown) then do not check, or check only in part.
    """
    try:
        times = store.timestamps_between(start, stop)
    except Exception as error:  # zarr raises many kinds on a cut or damaged chunk
        times, why = np.full(stop - start, np.nan), unreadable_array(TIMESTAMPS_PATH, error)
    else:
        missing = store.missing_chunks().get(TIMESTAMPS_PATH)
        if not missing or not np.isnan(times).any():
            return times, []
        why = f"have {missing[0]} of {missing[1]} chunks missing on disk"
    return times, [
        f"{str(path)!r}: the frame times (timestamps_s) {why}; the frame interval is the "
        f"metadata's, not checked against those frames' times; {verify_command(path)} reports "
        "the damage"
    ]


# ---------------------------------------------------------------------------- video
def _open_video(path: Path, part: FrameRange | None) -> Movie:
    """An AVI/MP4 movie (:func:`napari_pynta.video.open_video`), or its frames ``part``, timed
    by those frames' times alone (:func:`napari_pynta.video.video_timing`); one cut short loses
    its last decoded frame, which may be incomplete (h264 conceals a cut frame with its
    neighbours), and says what its header declares where the frames analysed reach the cut."""
    from napari_pynta.video import (
        declared_avi_frames,
        first_damaged_frame,
        open_video,
        video_timing,
    )

    video = open_video(path)
    frames, warnings = video.frames, list(video.warnings)
    declared = declared_avi_frames(path)
    damaged = first_damaged_frame(video)
    # frames of another size after the movie's are sound, not a cut: only a last frame read is;
    # frames missing for damage ffmpeg located before the end are not a cut either
    cut = (
        declared is not None
        and declared > video.n_decoded == len(frames) > 1
        and (damaged is None or damaged >= len(frames) - 1)
    )
    if cut:
        frames = frames[:-1]
        # the cut frame is damaged: the analysis of the frames before it needs no warning
        video = dataclasses.replace(video, error_frames=[*video.error_frames, len(frames)])
    try:
        start, stop = (0, len(frames)) if part is None else part.resolve(len(frames), str(path))
    except PyntaInputError as error:  # STOP past the cut: the movie's length is not the header's
        past_cut = part is not None and part.stop is not None and part.stop > len(frames)
        if not (cut and past_cut):
            raise
        raise PyntaInputError(
            f"{error}; {_cut_avi(path, declared, len(frames))}", "frame_range"
        ) from None
    if cut and stop == len(frames):
        whole = part is None or (start, stop) == (0, len(frames))
        reaches = "" if whole else f"; the frames analysed, {start}..{stop - 1}, end at the cut"
        warnings.append(f"{_cut_avi(path, declared, len(frames))}{reaches}")
    timing = video_timing(video, start, stop)
    return Movie(
        frames=frames[start:stop],
        metadata=timing.metadata,
        source=str(path),
        store=None,
        warnings=warnings + timing.warnings,
        frame_numbers=timing.frame_numbers,
        first_frame=start,
    )


def _cut_avi(path: Path, declared: int | None, n_frames: int) -> str:
    """What a cut AVI's header declares, what was read, and that its last decoded frame is
    left out (``n_frames``: the frames kept)."""
    return (
        f"{str(path)!r} declares {declared} frames but only {n_frames + 1} could be read: "
        f"the file was cut short (an interrupted copy or recording?); the last one, which "
        f"may be incomplete, is left out ({n_frames} frames read)"
    )


# ---------------------------------------------------------------------------- TIFF
class _TifffileLogHold(logging.Filter):
    """The filter on tifffile's logger that holds back its records in a thread that reads a TIFF
    (:func:`_tifffile_log_held`): one filter, installed once, whose lists are per thread."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        held = getattr(self.local, "held", None)
        if held is None:
            return True
        held.append(record)
        return False


_TIFFFILE_HOLD = _TifffileLogHold()
tifffile.logger().addFilter(_TIFFFILE_HOLD)


@contextmanager
def _tifffile_log_held(pass_on: bool = True) -> Iterator[list[logging.LogRecord]]:
    """Hold back what tifffile logs in this thread while a TIFF is read.

    tifffile logs the damage it meets ("<tifffile.TiffPages @8> invalid page offset 72500"),
    which went to stderr beside pynta's own message about the same damage. An error raised
    inside drops what was held: the error says what is wrong. Otherwise the records are passed
    on to tifffile's logger as they were (``pass_on``; to an enclosing hold, if any), or left to
    the caller in the yielded list. Other threads' records pass as usual.
    """
    local = _TIFFFILE_HOLD.local
    enclosing = getattr(local, "held", None)
    held: list[logging.LogRecord] = []
    local.held = held
    try:
        yield held
    finally:
        local.held = enclosing
    if pass_on:
        for record in held:
            tifffile.logger().handle(record)


def _tifffile_warning(records: list[logging.LogRecord], path: Path) -> str:
    """The movie's warning for what tifffile logged while opening it, without the repr of
    tifffile's objects that starts its lines."""
    said = dict.fromkeys(re.sub(r"^<[^>]*>\s*", "", r.getMessage()) for r in records)
    return f"tifffile, reading {str(path)!r}, said: {'; '.join(said)} (a damaged or cut file?)"


def _open_tiff(path: Path) -> Movie:
    with _tifffile_log_held(pass_on=False) as said:
        movie = _open_tiff_quietly(path)
    if said:
        movie.warnings.append(_tifffile_warning(said, path))
    return movie


def _open_tiff_quietly(path: Path) -> Movie:
    try:
        pages = _TiffPages(path)
    except Exception as exc:  # tifffile and zarr raise many kinds on damaged files
        raise PyntaDataError(f"cannot read TIFF {str(path)!r}: {exc}") from exc
    try:
        tif = pages.tif
        series = tif.series[0]
        _check_decodable(series.keyframe.compression, path)
        _check_described_frames(tif, series, path)
        check_integer_pixels(np.dtype(series.dtype), repr(str(path)))
        pixels = da.from_array(
            _ReadErrorsNamed(pages, path),
            chunks=pages.chunks,
            name="pynta-tiff-" + tokenize(str(path), path.stat().st_mtime_ns),
            meta=np.empty((0,) * pages.ndim, dtype=pages.dtype),
        )
        axes, warnings = _series_axes(tif, series, path)
        frames = _tiff_to_tyx(pixels, axes, path)
        _check_not_empty(frames, path)
        metadata, metadata_warnings = _tiff_metadata(tif, path)
        warnings += metadata_warnings
        others = [*_guessed_levels(series), *tif.series[1:]]
        if others:
            warnings.append(_other_series_warning(series, others, len(frames), path))
    except BaseException:
        pages.close()
        raise
    return Movie(
        frames=frames,
        metadata=metadata,
        source=str(path),
        store=None,
        warnings=warnings,
        open_files=[pages],
    )


def _tiff_file(path: Path) -> tifffile.TiffFile:
    """The open TIFF, its pages grouped by shape.

    tifffile's ``TiffWriter.write`` per frame stores one shaped series per page; read by their
    shape metadata, such a movie was its first frame only. Without it, pages of one shape in a
    row form one series.
    """
    tif = tifffile.TiffFile(path)
    try:
        if tif.is_shaped and len(tif.series) > 1 and all(s.ndim == 2 for s in tif.series):
            tif.close()
            tif = tifffile.TiffFile(path, is_shaped=False)
    except BaseException:
        tif.close()
        raise
    return tif


class _TiffPages:
    """The first image series of a TIFF as a lazily read array (for :func:`dask.array.from_array`).

    The file stays open between reads, so that its page index is parsed once. :meth:`close`
    closes it; a read after that opens it again. Whatever is still open when the object is
    collected is closed then, without the ResourceWarning an unclosed file gives.

    Parameters
    ----------
    path : Path
        The TIFF file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self.tif, self._pages, self._finalizer = self._open()
        self.shape = tuple(self._pages.shape)
        self.dtype = np.dtype(self._pages.dtype)
        self.ndim = len(self.shape)
        self.chunks = self._pages.chunks

    def _open(self) -> tuple[tifffile.TiffFile, Any, weakref.finalize]:
        tif = _tiff_file(self._path)
        try:
            if not tif.series:  # tifffile found no page: it indexed series[0] (IndexError)
                raise ValueError("no image in it (damaged, cut short or not a TIFF)")
            # level 0: a pyramid's full resolution (aszarr of a pyramid is a group, no array)
            pages = zarr.open_array(tif.series[0].aszarr(level=0), mode="r")
        except BaseException:
            tif.close()
            raise
        return tif, pages, weakref.finalize(self, tif.close)

    def __getitem__(self, key: Any) -> np.ndarray:
        with _tifffile_log_held():  # a failed read is reported by _ReadErrorsNamed
            with self._lock:
                if not self._finalizer.alive:
                    self.tif, self._pages, self._finalizer = self._open()
                pages = self._pages
            return np.asarray(pages[key])

    def close(self) -> None:
        """Close the file (idempotent); a later read opens it again."""
        with self._lock:
            self._finalizer()


def _guessed_levels(series: Any) -> list[Any]:
    """The lower levels of a pyramid that tifffile guessed from page sizes alone (pages without
    metadata, as many after them of half the size): other images, not a movie's reductions."""
    return list(series.levels[1:]) if series.kind == "generic" else []


def _other_series_warning(first: Any, others: list[Any], n_frames: int, path: Path) -> str:
    """The warning for a TIFF with images of other shapes (or series) after the movie read."""
    described = "; ".join(
        f"{int(np.prod(s.shape[:-2]))} of {s.shape[-2]}x{s.shape[-1]}" for s in others
    )
    return (
        f"{str(path)!r} holds {len(others) + 1} image series; only the first is read "
        f"({n_frames} frames of {first.shape[-2]}x{first.shape[-1]}), not the others "
        f"({described} px)"
    )


class _ReadErrorsNamed:
    """Array-like over a lazily read file: any read error becomes a one-line PyntaDataError.

    tifffile and zarr raise many kinds of errors on a truncated or corrupt file when a frame is
    finally read (inside a dask computation); the user gets the file name and the cause instead
    of a traceback.
    """

    def __init__(self, array: Any, source: Path) -> None:
        self._array = array
        self._source = source
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return np.asarray(self._array[key])
        except Exception as exc:  # imaging libraries raise many kinds on damaged files
            cause = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise PyntaDataError(
                f"cannot read {str(self._source)!r} (truncated or corrupt?): "
                f"{type(exc).__name__}: {cause}"
            ) from None


def _check_decodable(compression: Any, path: Path) -> None:
    """Refuse a TIFF compressed with a codec that tifffile cannot decode without the imagecodecs
    package (LZW, JPEG, ...): it opened, and every frame read then failed as "truncated or
    corrupt?"."""
    try:
        tifffile.TIFF.DECOMPRESSORS[compression]
    except KeyError:
        name = getattr(compression, "name", f"compression {compression}")
        raise PyntaDataError(
            f"cannot read TIFF {str(path)!r}: its images are {name}-compressed, which needs the "
            "imagecodecs package (pip install imagecodecs); without it pynta reads uncompressed, "
            "zlib (deflate) or PackBits TIFFs"
        ) from None


def _check_described_frames(tif: tifffile.TiffFile, series: Any, path: Path) -> None:
    """Refuse a TIFF whose own description promises more images than it holds (truncated)."""
    described = None
    if tif.shaped_metadata:
        shape = tif.shaped_metadata[0].get("shape")
        described = int(np.prod(shape[:-2])) if shape and len(shape) > 2 else None
    elif tif.imagej_metadata:
        described = tif.imagej_metadata.get("images")
    found = int(np.prod(series.shape[:-2])) if len(series.shape) > 2 else 1
    if "S" in series.axes:
        found //= series.shape[series.axes.index("S")]
        if described is not None and tif.shaped_metadata:
            described //= series.shape[series.axes.index("S")]
    if described is not None and int(described) > found:
        raise PyntaDataError(
            f"cannot read TIFF {str(path)!r}: it describes {int(described)} images but only "
            f"{found} can be read (truncated file?)"
        )


def _series_axes(tif: tifffile.TiffFile, series: Any, path: Path) -> tuple[str, list[str]]:
    """The axes to read the first series by, and what to say about them.

    A stack of 3 or 4 frames that tifffile wrote from a (3, Y, X) or (4, Y, X) array without
    being told what it is, is one RGB(A) image with separate colour planes (axes 'SYX'; its
    announced future default is grey pages), and nothing in the file tells it from a real
    planar colour image. Unless ImageJ or OME metadata say the planes are colour, they are read
    as frames, with a warning. A 'QSYX' series (several planar colour images) is read as colour,
    also with a warning.
    """
    axes = series.axes
    planar = "S" in axes and axes.index("S") < axes.index("Y")
    if not planar or tif.is_imagej or tif.is_ome:
        return axes, []
    n_planes = series.shape[axes.index("S")]
    stacked = [n for axis, n in zip(axes[:-2], series.shape[:-2], strict=True) if axis != "S"]
    if not any(n > 1 for n in stacked):
        return axes.replace("S", "I"), [
            f"{str(path)!r} is stored as one colour image of {n_planes} separate planes (TIFF "
            f"photometric RGB, no ImageJ or OME metadata saying what they are), as tifffile "
            f"stores any stack of {n_planes} frames unless told otherwise: read as {n_planes} "
            "grey frames. If it is a colour image, save its samples interleaved, (Y, X, "
            f"{n_planes}) with photometric='rgb', and pynta reads its luminance"
        ]
    n_images = int(np.prod(stacked))
    return axes, [
        f"{str(path)!r} holds {n_images} colour images of {n_planes} separate planes (TIFF "
        f"photometric RGB, no ImageJ or OME metadata saying what they are): read as "
        f"{n_images} frames of their luminance. If the planes are frames or channels, save "
        "grey pages (photometric='minisblack') with ImageJ axes"
    ]


def _tiff_to_tyx(pixels: da.Array, axes: str, path: Path) -> da.Array:
    """Arrange a TIFF series (axes like 'YX', 'QYX', 'TYXS', 'SYX') as (T, Y, X)."""
    if "S" not in axes and pixels.ndim > 2 and pixels.shape[-1] in (3, 4):
        raise PyntaDataError(
            f"TIFF {str(path)!r} holds frames of {pixels.shape[-2]}x{pixels.shape[-1]} px: a "
            f"last axis of {pixels.shape[-1]} is colour samples stored as grey pixels (a colour "
            "movie (T, Y, X, 3) saved without photometric='rgb'). Save it with "
            "photometric='rgb' (pynta reads the luminance of each frame) or as grey frames "
            "(T, Y, X)"
        )
    if "S" in axes:  # colour samples, moved last and reduced to one channel
        sample_axis = axes.index("S")
        _check_samples(pixels.shape[sample_axis], path)
        pixels = da.moveaxis(pixels, sample_axis, -1).rechunk({-1: -1})
        pixels = da.map_blocks(
            _to_single_channel, pixels, drop_axis=pixels.ndim - 1, dtype=pixels.dtype
        )
        axes = axes.replace("S", "")
    leading = [(axis, n) for axis, n in zip(axes[:-2], pixels.shape[:-2], strict=False) if n != 1]
    if len(leading) > 1:
        described = ", ".join(f"{axis}={n}" for axis, n in leading)
        raise PyntaDataError(
            f"TIFF {str(path)!r} has several stacked dimensions ({described}); pynta expects one "
            "time series of 2-D frames: save a single channel and a single z-plane"
        )
    return pixels.reshape((-1, *pixels.shape[-2:]))


def _tiff_metadata(tif: tifffile.TiffFile, path: Path) -> tuple[dict[str, Any], list[str]]:
    """Pixel size and frame interval when OME-XML, ImageJ metadata or a centimeter resolution
    gives them (OME-XML first), and warnings for OME-XML values that could not be used."""
    metadata, warnings = _ome_tiff_metadata(tif.ome_metadata, path) if tif.is_ome else ({}, [])
    imagej, imagej_warnings = _imagej_tiff_metadata(tif, path)
    return {**imagej, **metadata}, imagej_warnings + warnings


#: the OME ``Pixels`` attributes read, with pynta's metadata key, units and the flag that sets it
_OME_QUANTITIES = {
    "PhysicalSizeX": ("pixel_size_um", _LENGTH_UNITS_UM, "\u00b5m", "--pixel-size-um"),
    "PhysicalSizeY": ("pixel_size_um", _LENGTH_UNITS_UM, "\u00b5m", "--pixel-size-um"),
    "TimeIncrement": ("frame_interval_s", _TIME_UNITS_S, "s", "--frame-interval-s"),
}


def _ome_tiff_metadata(xml: str | None, path: Path) -> tuple[dict[str, Any], list[str]]:
    """Pixel size (``PhysicalSizeX``, when ``PhysicalSizeY`` is absent or the same) and frame
    interval (``TimeIncrement``) of the first image of an OME-TIFF's XML, in their units (OME's
    defaults µm and s), and a warning for each value not used (a unit not known, pixels that
    are not square), naming the flag that sets it."""
    import xml.etree.ElementTree as ElementTree

    try:
        pixels = next(
            element
            for element in ElementTree.fromstring(xml or "").iter()
            if element.tag.rsplit("}", 1)[-1] == "Pixels"
        )
    except (ElementTree.ParseError, StopIteration):
        return {}, []
    values, warnings = {}, []
    for name in _OME_QUANTITIES:
        values[name], warning = _ome_quantity(pixels, name, path)
        warnings += [warning] if warning else []
    metadata: dict[str, Any] = {}
    size_x, size_y = values["PhysicalSizeX"], values["PhysicalSizeY"]
    if size_x is not None and (size_y is None or np.isclose(size_x, size_y, rtol=1e-6)):
        metadata["pixel_size_um"] = size_x
    elif size_x is not None and size_y is not None:
        warnings.append(
            f"{str(path)!r}: its OME-XML gives pixels of {size_x:.6g} \u00b5m by {size_y:.6g} "
            "\u00b5m (PhysicalSizeX, PhysicalSizeY); pynta sizes with square pixels, so neither "
            "was used: set --pixel-size-um"
        )
    if values["TimeIncrement"] is not None:
        metadata["frame_interval_s"] = values["TimeIncrement"]
    return metadata, warnings


def _ome_quantity(pixels: Any, name: str, path: Path) -> tuple[float | None, str | None]:
    """An OME ``Pixels`` attribute in pynta's unit (None when absent), and a warning when it is
    not a positive number or is given in a unit pynta does not know (then also None)."""
    key, units, default_unit, flag = _OME_QUANTITIES[name]
    if name not in pixels.attrib:
        return None, None
    quantity = key.rsplit("_", 1)[0].replace("_", " ")
    try:
        value = float(pixels.get(name))
    except ValueError:
        value = np.nan
    if not np.isfinite(value) or value <= 0:
        return None, invalid_scale_text(
            f'{str(path)!r}: its OME-XML gives {name}="{pixels.get(name)}"', quantity, flag
        )
    unit = pixels.get(f"{name}Unit", default_unit).strip()
    factor = units.get(unit)
    if factor is None:
        known = ", ".join(dict.fromkeys(units))
        return None, (
            f'{str(path)!r}: its OME-XML gives {name}="{pixels.get(name)}" in {unit!r}, a unit '
            f"pynta does not read as a {quantity} ({known}): the value was not used; set {flag}"
        )
    return value * factor, None


def _imagej_tiff_metadata(tif: tifffile.TiffFile, path: Path) -> tuple[dict[str, Any], list[str]]:
    """Pixel size and frame interval when ImageJ metadata or a centimeter resolution gives them,
    and a warning for each that is not a positive number (ignored)."""
    metadata: dict[str, Any] = {}
    warnings = []
    imagej = tif.imagej_metadata or {}
    page = tif.pages.first
    resolution = page.tags.get("XResolution")
    unit_um = _LENGTH_UNITS_UM.get(str(imagej.get("unit", "")).strip())
    unit_tag = page.tags.get("ResolutionUnit")
    if unit_um is None and unit_tag is not None and unit_tag.value == _CENTIMETER:
        unit_um = 1e4
    if resolution is not None and unit_um:
        numerator, denominator = resolution.value
        if numerator > 0 and denominator > 0:
            metadata["pixel_size_um"] = unit_um * denominator / numerator
        else:
            warnings.append(
                invalid_scale_text(
                    f"{str(path)!r}: its XResolution is {numerator}/{denominator} pixels per unit",
                    "resolution",
                    "--pixel-size-um",
                )
            )
    interval = imagej.get("finterval")
    time_unit_s = _TIME_UNITS_S.get(str(imagej.get("tunit", "sec")).strip())
    if interval is not None and not float(interval) > 0:
        warnings.append(
            invalid_scale_text(
                f"{str(path)!r}: its ImageJ metadata gives finterval={interval}",
                "frame interval",
                "--frame-interval-s",
            )
        )
    elif interval is not None and time_unit_s:
        metadata["frame_interval_s"] = float(interval) * time_unit_s
    return metadata, warnings


# ---------------------------------------------------------------------------- folder of frames
def natural_sort_key(name: str) -> list[Any]:
    """Sort key that orders embedded numbers by value: 'frame2' before 'frame10'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _frame_files(folder: Path) -> list[Path]:
    try:
        children = list(folder.iterdir())
    except OSError as exc:
        raise PyntaDataError(f"cannot list folder {str(folder)!r}: {exc}") from exc
    files = [
        child
        for child in children
        if child.is_file()
        and child.suffix.lower() in FRAME_SUFFIXES
        and not child.name.startswith(".")
    ]
    return sorted(files, key=lambda child: natural_sort_key(child.name))


def _read_frame_file(path: Path) -> np.ndarray:
    """Read one frame file as a 2-D single-channel array."""
    if path.stat().st_size == 0:  # imageio said "Could not find a backend", and which to install
        raise PyntaDataError(f"frame {str(path)!r} is empty (0 bytes): an interrupted copy?")
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            with _tifffile_log_held(), tifffile.TiffFile(path) as tif:
                pixels, axes = tif.series[0].asarray(), tif.series[0].axes
        else:
            pixels = iio.imread(path)
            axes = "YXS" if pixels.ndim == 3 else "YX"
    except Exception as exc:  # imaging libraries raise many kinds on corrupt files
        detail = (str(exc).splitlines() or [type(exc).__name__])[0]
        if detail.startswith("Could not find a backend"):  # imageio's, then plugins to install
            detail = "no image format recognised in it"
        raise PyntaDataError(
            f"cannot read frame {str(path)!r}: it is damaged, cut short or not an image ({detail})"
        ) from exc
    check_integer_pixels(pixels.dtype, repr(str(path)))
    if "S" in axes:
        _check_samples(pixels.shape[axes.index("S")], path)
        pixels = _to_single_channel(np.moveaxis(pixels, axes.index("S"), -1))
    if pixels.ndim != 2:
        raise PyntaDataError(
            f"frame {str(path)!r} has shape {pixels.shape}; each file of a frame folder must hold "
            "one 2-D image (open a multi-page TIFF directly as a movie)"
        )
    return pixels


def _read_matching_frame(path: Path, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    pixels = _read_frame_file(path)
    if pixels.shape != shape or pixels.dtype != dtype:
        raise PyntaDataError(
            f"frame {str(path)!r} is {pixels.shape} {pixels.dtype} but the first frame of the "
            f"folder is {shape} {dtype}; all frames must have the same size and type"
        )
    return pixels


def _open_folder(folder: Path) -> Movie:
    files = _frame_files(folder)
    if not files:
        raise PyntaDataError(
            f"folder {str(folder)!r} holds no PNG, TIFF or JPEG frames; "
            f"pynta opens {SUPPORTED_INPUTS}"
        )
    first = _read_frame_file(files[0])
    read = dask.delayed(_read_matching_frame, pure=True)
    frames = da.stack(
        [
            da.from_delayed(read(file, first.shape, first.dtype), first.shape, first.dtype)
            for file in files
        ]
    )
    parts = _numbered_names(files)
    numbers, warnings = _numbering_gaps(_numbers_in_names(parts), folder)
    series = sorted({f"{prefix}*{suffix}" for prefix, _, suffix in parts or []})
    if len(series) > 1:
        shown = ", ".join(series[:3]) + (f" and {len(series) - 3} more" if len(series) > 3 else "")
        warnings.append(
            f"{str(folder)!r} holds frames of {len(series)} numbered series ({shown}): they are "
            "analysed as one movie, one after the other; put each recording in its own folder"
        )
    return Movie(
        frames=frames,
        metadata={},
        source=str(folder),
        store=None,
        warnings=warnings,
        frame_numbers=numbers,
    )


def _numbered_names(files: list[Path]) -> list[tuple[str, int, str]] | None:
    """Each file name split around its last run of digits, ``("frame_", 7, ".tif")``; None
    unless every name has one."""
    parts = [re.fullmatch(r"(.*?)(\d+)(\D*)", file.name) for file in files]
    matched = [part for part in parts if part is not None]
    if len(matched) < len(files):
        return None
    return [(part[1], int(part[2]), part[3]) for part in matched]


def _numbers_in_names(parts: list[tuple[str, int, str]] | None) -> np.ndarray | None:
    """The frame numbers of names that differ only in their number (:func:`_numbered_names`),
    in the files' order; None otherwise."""
    if parts is None or len(parts) < 2 or len({(pre, post) for pre, _, post in parts}) != 1:
        return None
    return np.array([number for _, number, _ in parts], dtype=np.int64)


def _numbering_gaps(
    numbers: np.ndarray | None, folder: Path
) -> tuple[np.ndarray | None, list[str]]:
    """Frame numbers of a folder whose file names skip some, and the warning that says so.

    Names numbered in steps of one (or of any one step: every tenth frame saved) are
    consecutive frames (None, no warning). Names in steps of a common unit, with fewer numbers
    skipped than frames present, are frames with some missing: their numbers in units, counted
    from the first, so that a step across a gap spans its true number of frame intervals
    (before: every third frame missing sized 110 nm particles at 69 nm without a word).
    """
    if numbers is None:
        return None, []
    steps = np.diff(numbers)
    if (steps == steps[0]).all():
        return None, []
    if (steps <= 0).any():  # a number repeated (frame_1.tif, frame_01.tif): not frame numbers
        return None, [
            f"{str(folder)!r}: the numbers in the file names repeat or go back: the frames are "
            "taken as consecutive, in the order of their names"
        ]
    unit = int(np.gcd.reduce(steps))
    frame_numbers = (numbers - numbers[0]) // unit
    lost = int(frame_numbers[-1] + 1 - len(frame_numbers))
    if lost > len(numbers):  # more missing than present: no frame numbers (times in ms?)
        return None, [
            f"{str(folder)!r}: the numbers in the file names are not evenly spaced (steps "
            f"{', '.join(str(int(step)) for step in steps[:5])}, ...): the frames are taken "
            "as consecutive"
        ]
    return frame_numbers, [
        f"{str(folder)!r}: the file names skip {lost} frame numbers between {numbers[0]} and "
        f"{numbers[-1]} (frames missing from the folder): a step across a gap counts as that "
        "many frame intervals"
    ]
