"""The zarr v3 movie store: frames, acquisition metadata, per-frame times and result tables.

Layout of a ``*.zarr`` directory (see ``docs/store-format.md``)::

    movie.zarr/
      zarr.json         group; attributes "ome" (OME-NGFF 0.5 multiscales) and "pynta" (metadata)
      0/                frames (T, Y, X) uint8/uint16 in 64-frame shards, one blosc-lz4 chunk per
                        frame (format 1: one chunk file per frame)
      timestamps_s/     (T,) float64 camera time of each frame in seconds
      seq/              (T,) int64 acquisition frame number (gaps = frames the camera dropped)
      tables/<name>/    one 1-D array per column of a table (localizations, tracks, ...)

The frames live at path ``0`` so that OME-NGFF viewers open the movie as a single-level image.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import dask.array as da
import numcodecs
import numpy as np
import pandas as pd
import zarr
from dask.base import tokenize
from zarr.codecs import BloscCodec, Crc32cCodec, ShardingCodec

from napari_pynta import __version__, shards
from napari_pynta.errors import (
    PyntaDataError,
    PyntaInputError,
    require_number,
    require_positive,
    verify_command,
)
from napari_pynta.frame_range import readable_advice
from napari_pynta.lock_holder import describe_process, lock_holder
from napari_pynta.sample import CAPTURE_KEYS, SAMPLE_KEYS, validate_sample_value
from napari_pynta.writable import check_writable_folder

#: 2: frames in 64-frame shards written by :class:`shards.ShardAppender`; 1: one chunk per frame
FORMAT_VERSION = 2
#: format versions this module reads (and appends to)
FORMAT_VERSIONS = (1, 2)
#: frames per shard file of the frames array
FRAMES_PER_SHARD = 64
FRAMES_PATH = "0"
TIMESTAMPS_PATH = "timestamps_s"
SEQ_PATH = "seq"
TABLES_PATH = "tables"
#: attribute of the tables group: the tables of a ``write_tables`` not finished yet
_TABLES_BEING_WRITTEN = "being_written"
ALLOWED_DTYPES = ("uint8", "uint16")
METADATA_KEYS = (
    "pixel_size_um",
    "frame_interval_s",
    "exposure_s",
    "temperature_c",
    "viscosity_pa_s",
    "solvent",
    "camera",
    "camera_settings",
    "software_version",
    "start_time",
    *SAMPLE_KEYS,
    *CAPTURE_KEYS,
)
OPEN_MODES = ("r", "r+")
SEQ_FILL = -1  # seq value of a frame whose acquisition number was never written
_POSITIVE_KEYS = ("pixel_size_um", "frame_interval_s", "exposure_s", "viscosity_pa_s")
_TEXT_KEYS = ("solvent", "camera", "software_version")
_ABSOLUTE_ZERO_C = -273.15
_BLOSC_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}
_TABLE_CHUNK = 1 << 20
_PER_FRAME_CHUNK = 4096
_MISSING_SUFFIX = ".isna"
# A table's row count, written (before "columns") since its columns keep every chunk on disk,
# even one of fill values: a chunk file lost from such a table is damage, not zeros.
_TABLE_ROWS = "rows"


def _compressor() -> BloscCodec:
    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def _jsonable(key: str, value: Any) -> Any:
    """Return ``value`` as plain JSON types (numpy scalars/arrays converted) or raise."""

    def convert(obj: Any) -> Any:
        if isinstance(obj, np.generic | np.ndarray):
            return obj.tolist()
        raise TypeError(type(obj).__name__)

    try:
        return json.loads(json.dumps(value, default=convert, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise PyntaInputError(
            f"metadata {key!r} must be JSON-serializable (numbers, text, lists, dicts), "
            f"got {value!r} ({exc})"
        ) from None


def _validate_value(key: str, value: Any) -> Any:
    if not isinstance(key, str) or not key:
        raise PyntaInputError(f"metadata keys must be non-empty strings, got {key!r}")
    if value is None:
        return None
    if key in _POSITIVE_KEYS:
        return require_positive(key, value)
    if key == "temperature_c":
        return require_number(
            key, value, minimum=_ABSOLUTE_ZERO_C, exclusive_minimum=True, unit="°C"
        )
    if key in SAMPLE_KEYS or key in CAPTURE_KEYS:
        return validate_sample_value(key, value)
    if key in _TEXT_KEYS:
        if not isinstance(value, str):
            raise PyntaInputError(f"{key} must be text, got {value!r}")
        return value
    if key == "camera_settings":
        if not isinstance(value, Mapping):
            raise PyntaInputError(f"camera_settings must be a dict, got {value!r}")
        return _jsonable(key, dict(value))
    if key == "start_time":
        try:
            _dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise PyntaInputError(
                f"start_time must be an ISO 8601 date-time such as "
                f"'2026-01-31T12:00:00+00:00', got {value!r}"
            ) from None
        return str(value)
    return _jsonable(key, value)


def validate_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Validate store metadata and return it as plain JSON types.

    Known keys (``METADATA_KEYS``) are checked: sizes, times and viscosity must be positive,
    the temperature above absolute zero, text fields text, ``camera_settings`` a dict,
    ``start_time`` ISO 8601, the sample's ``dilution_factor`` >= 1 (see
    :mod:`napari_pynta.sample`), and ``exposure_s`` may not exceed ``frame_interval_s``. ``None``
    means unknown. Unknown keys are kept if they are JSON-serializable.

    Parameters
    ----------
    metadata : Mapping[str, Any]
        The metadata to check.

    Returns
    -------
    dict[str, Any]
        The validated metadata (numbers as float, numpy values as Python values).

    Raises
    ------
    PyntaInputError
        Naming the first key whose value is not allowed.
    """
    if not isinstance(metadata, Mapping):
        raise PyntaInputError(f"metadata must be a dict, got {type(metadata).__name__}")
    checked = {key: _validate_value(key, value) for key, value in metadata.items()}
    exposure, interval = checked.get("exposure_s"), checked.get("frame_interval_s")
    if exposure is not None and interval is not None and exposure > interval * (1 + 1e-9):
        raise PyntaInputError(
            f"exposure_s ({exposure} s) must not exceed frame_interval_s ({interval} s): "
            "a camera cannot expose longer than the time between frames"
        )
    return checked


def ome_multiscales(metadata: Mapping[str, Any], name: str = "frames") -> dict[str, Any]:
    """Return the OME-NGFF 0.5 ``ome`` attribute describing the frames array at path ``0``.

    The scale of the ``t`` axis is the frame interval in seconds and that of ``y``/``x`` the
    pixel size in micrometers; an unknown value is written as scale 1 without a unit.

    Parameters
    ----------
    metadata : Mapping[str, Any]
        Store metadata with ``frame_interval_s`` and ``pixel_size_um`` (either may be None).
    name : str
        Name of the image.

    Returns
    -------
    dict[str, Any]
        ``{"version": "0.5", "multiscales": [...]}``.
    """
    interval = metadata.get("frame_interval_s")
    pixel = metadata.get("pixel_size_um")
    t_axis: dict[str, Any] = {"name": "t", "type": "time"}
    y_axis: dict[str, Any] = {"name": "y", "type": "space"}
    x_axis: dict[str, Any] = {"name": "x", "type": "space"}
    if interval is not None:
        t_axis["unit"] = "second"
    if pixel is not None:
        y_axis["unit"] = x_axis["unit"] = "micrometer"
    scale = [
        float(interval) if interval is not None else 1.0,
        float(pixel) if pixel is not None else 1.0,
        float(pixel) if pixel is not None else 1.0,
    ]
    dataset = {
        "path": FRAMES_PATH,
        "coordinateTransformations": [{"type": "scale", "scale": scale}],
    }
    return {
        "version": "0.5",
        "multiscales": [{"name": name, "axes": [t_axis, y_axis, x_axis], "datasets": [dataset]}],
    }


def _check_frame_shape(frame_shape: Any) -> tuple[int, int]:
    try:
        shape = tuple(int(n) for n in frame_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise PyntaInputError(
            f"frame_shape must be two positive integers (Y, X), got {frame_shape!r}"
        )
    return shape


def _check_dtype(dtype: Any) -> np.dtype:
    try:
        checked = np.dtype(dtype)
    except TypeError:
        checked = None
    if checked is None or checked.name not in ALLOWED_DTYPES:
        shown = checked.name if checked is not None else repr(dtype)
        raise PyntaInputError(
            f"frame dtype {shown} is not supported; allowed: {', '.join(ALLOWED_DTYPES)}"
        )
    return checked


#: the keys zarr v3 requires in an array's zarr.json (besides zarr_format and node_type)
_ARRAY_KEYS = ("shape", "data_type", "chunk_grid", "chunk_key_encoding", "fill_value", "codecs")


def _damaged_part(path: Path) -> str | None:
    """Which part of a store that zarr failed to open is damaged, in words (None: none found).

    zarr's own error named no file: "KeyError: 'seq'" for a deleted array, "ValueError: When
    changing to a larger dtype ..." for a cut seq chunk (b16).
    """
    for name, what in (
        ("", "the store's root"),
        (FRAMES_PATH, "the frames array"),
        (TIMESTAMPS_PATH, "the timestamps array"),
        (SEQ_PATH, "the seq array (frame numbers)"),
    ):
        where = f"{name}/zarr.json" if name else "zarr.json"
        try:
            description = json.loads((path / where).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return f"{what} is missing (no {where})"
        except (OSError, ValueError) as error:
            return f"{where}, the description of {what}, is cut or damaged ({error})"
        given = description if isinstance(description, dict) else {}
        lacking = [key for key in _ARRAY_KEYS if name and key not in given]
        if lacking:  # zarr's KeyError: 'data_type'
            return (
                f"{where}, the description of {what}, lacks {', '.join(map(repr, lacking))}, "
                "which zarr v3 requires of an array (edited or damaged?)"
            )
        if name:  # its keys are there, but is it an array? (node_type, shape against chunks)
            try:
                zarr.open_array(str(path / name), mode="r", zarr_format=3)
            except Exception as error:  # zarr raises many kinds on inconsistent descriptions
                return (
                    f"{where}, the description of {what}, does not describe a zarr array "
                    f"({type(error).__name__}: {str(error).rstrip('.')}): edited or damaged?"
                )
    for name in (SEQ_PATH, TIMESTAMPS_PATH):
        try:
            np.asarray(zarr.open_array(str(path / name), mode="r")[:])
        except Exception as error:  # zarr raises many kinds on damaged chunks
            return f"the {name} array {unreadable_array(name, error)}"
    return None


def unreadable_array(name: str, error: BaseException) -> str:
    """Why the store array ``name`` (``seq``, ``timestamps_s``) failed to decode, in words:
    ``"cannot be read (ValueError: ...): a chunk file under seq/c is cut or damaged"``."""
    return (
        f"cannot be read ({type(error).__name__}: {error}): a chunk file under {name}/c is cut "
        "or damaged"
    )


def _missing_path_error(path: Path, reason: str) -> PyntaDataError:
    return PyntaDataError(f"cannot open pynta movie store {str(path)!r}: {reason}")


def _checked_frames_array(frames: zarr.Array, path: Path) -> np.dtype:
    """The frame dtype of a store's frames array, which must be (T, Y, X) uint8 or uint16, each
    of its chunk files (shards) holding whole frames.

    Raises
    ------
    PyntaDataError
        For another shape or dtype (an edited or damaged ``0/zarr.json``): before, `pynta
        verify` said ok and `pynta analyze` read the bytes as that dtype or failed decoding.
        Likewise for a frame size other than the chunks' (the Y, X of the shape edited):
        only `pynta verify --read-pixels` found it, every frame failing to decode.
    """
    dtype = np.dtype(frames.dtype)
    edited = f"({FRAMES_PATH}/zarr.json edited or damaged?)"
    if len(frames.shape) != 3 or dtype.name not in ALLOWED_DTYPES:
        raise _missing_path_error(
            path,
            f"its frames array {FRAMES_PATH} is {tuple(frames.shape)} {dtype.name}: a pynta "
            f"store's frames are (T, Y, X) {' or '.join(ALLOWED_DTYPES)} {edited}",
        )
    chunk = tuple(int(n) for n in frames.metadata.chunk_grid.chunk_shape)
    if chunk[1:] != tuple(frames.shape[1:]):
        raise _missing_path_error(
            path,
            f"its frames array {FRAMES_PATH} has frames of {frames.shape[1]}x{frames.shape[2]} "
            f"px in chunks of {chunk[1]}x{chunk[2]} px: a pynta store keeps whole frames in "
            f"each chunk {edited}",
        )
    return dtype


#: what each per-frame array holds and the dtype kinds allowed for it ("iu": integers, "f": floats)
_PER_FRAME_ARRAYS = {
    SEQ_PATH: ("iu", "integer frame numbers (int64)"),
    TIMESTAMPS_PATH: ("f", "float seconds (float64, NaN: unknown)"),
}


def _check_per_frame_arrays(arrays: Mapping[str, zarr.Array], path: Path) -> None:
    """Refuse a ``seq`` that is not a 1-D integer array or ``timestamps_s`` that is not a 1-D
    float array.

    Raises
    ------
    PyntaDataError
        For another shape or dtype (an edited or damaged ``seq/zarr.json``): before, a float64
        seq passed `pynta verify` and `pynta analyze`, its frame numbers cast to integers.
    """
    for name, (kinds, holds) in _PER_FRAME_ARRAYS.items():
        array = arrays[name]
        dtype = np.dtype(array.dtype)
        if len(array.shape) != 1 or dtype.kind not in kinds:
            raise _missing_path_error(
                path,
                f"its {name} array is {tuple(array.shape)} {dtype.name}: a pynta store's {name} "
                f"holds (T,) {holds} ({name}/zarr.json edited or damaged?)",
            )


def _stored_metadata(pynta: Any, path: Path) -> Any:
    """The ``metadata`` of a store's ``pynta`` attribute, which must be a JSON object holding
    an object ``metadata`` (validated where it is used).

    Raises
    ------
    PyntaDataError
        Saying so, where zarr.json's hand-edited or damaged values gave a TypeError.
    """
    metadata = pynta.get("metadata") if isinstance(pynta, dict) else None
    if not isinstance(metadata, dict):
        raise _missing_path_error(
            path,
            "the 'pynta' attribute of its zarr.json must be a JSON object whose 'metadata' is "
            f"a JSON object, got {json.dumps(pynta)[:80]} (zarr.json edited or damaged?)",
        )
    return metadata


def _check_format_version(pynta: Any, path: Path) -> None:
    """Refuse a store whose ``format_version`` this pynta does not read.

    A newer format may change what the arrays and metadata mean (the version changes only when
    a reader of the older formats would misread the store), so it is not read at all: before,
    `pynta analyze` sized a format-99 store without a word while `pynta verify` flagged it.

    Raises
    ------
    PyntaDataError
        Naming the version found, the versions read and the way out (a newer napari-pynta).
    """
    if not isinstance(pynta, dict):  # refused by _stored_metadata
        return
    version = pynta.get("format_version")
    if version in FORMAT_VERSIONS:
        return
    readable = " and ".join(str(v) for v in FORMAT_VERSIONS)
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        metadata = pynta.get("metadata")
        writer = metadata.get("software_version") if isinstance(metadata, dict) else None
        by = f"napari-pynta {writer}" if isinstance(writer, str) else "a newer napari-pynta"
        raise _missing_path_error(
            path,
            f"it is in store format {version}, written by {by}; this napari-pynta "
            f"{__version__} reads formats {readable} only, and a newer format may change what "
            "its frames, times and metadata mean: open it with a napari-pynta at least as new "
            "as the one that wrote it (pip install --upgrade napari-pynta)",
        )
    raise _missing_path_error(
        path,
        f"its zarr.json gives the unknown store format {json.dumps(version)[:40]} (this "
        f"napari-pynta reads formats {readable}; zarr.json edited or damaged?)",
    )


def is_pynta_store(path: str | Path) -> bool:
    """True if ``path`` is a folder whose ``zarr.json`` is a group written by pynta.

    Only the root metadata is read: a zarr v3 group with a ``"pynta"`` attribute holding a
    ``format_version``.
    """
    return _is_pynta_root(_zarr_node(Path(path)))


def _zarr_node(folder: Path) -> dict[str, Any] | None:
    """The zarr v3 metadata (``zarr.json``) of ``folder``; None where there is none to read."""
    try:
        node = json.loads((folder / "zarr.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return node if isinstance(node, dict) else None


def _is_pynta_root(node: dict[str, Any] | None) -> bool:
    """Whether zarr metadata ``node`` is a pynta store's root (:func:`is_pynta_store`)."""
    try:
        return node is not None and (
            node.get("node_type") == "group" and "format_version" in node["attributes"]["pynta"]
        )
    except (KeyError, TypeError):
        return False


def stores_inside(path: str | Path) -> list[Path]:
    """The pynta stores (:func:`is_pynta_store`) inside the folder ``path``, sorted.

    A store found is not looked into, and neither is the chunk folder ``c`` of any array (a
    store's frames can be 100 000 files): only the folders where a store can have been made
    are listed, each ``zarr.json`` read once. Symbolic links are not followed.
    """
    found: list[Path] = []
    pending = [(Path(path), _zarr_node(Path(path)))]
    while pending:
        folder, node = pending.pop()
        is_array = node is not None and node.get("node_type") == "array"
        try:
            children = [Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
        except OSError:  # unreadable: nothing to list there
            continue
        for child in children:
            if is_array and child.name == "c":
                continue
            child_node = _zarr_node(child)
            if _is_pynta_root(child_node):
                found.append(child)
            else:
                pending.append((child, child_node))
    return sorted(found)


def store_around(path: str | Path) -> Path | None:
    """The pynta store that ``path`` lies inside (the nearest, of its folders), or None."""
    return next(
        (parent for parent in Path(path).absolute().parents if is_pynta_store(parent)), None
    )


def has_zarr_suffix(path: str | Path) -> bool:
    """True when ``path`` is named ``*.zarr`` in any case (``run.ZARR`` too, as the readers
    open it)."""
    return Path(path).suffix.lower() == ".zarr"


def check_replaceable(path: str | Path, overwrite: bool) -> None:
    """Raise unless a store may be created at ``path``.

    A new path is allowed where its folders exist or can be made (a file on the way is not a
    folder); an existing one only with ``overwrite`` and only if it is a pynta store
    (:func:`is_pynta_store`) that no other process writes (:class:`WriterLock`) and that holds
    no other pynta store: any other file or folder is never replaced. A store is never created
    inside another pynta store (its ``--overwrite`` deleted the inner one with it).

    Raises
    ------
    PyntaInputError
        Naming the path and why it cannot be created or replaced.
    """
    path = Path(path)
    outer = store_around(path)
    if outer is not None:
        raise PyntaInputError(
            f"cannot create {str(path)!r} inside the pynta store {str(outer)!r}: replacing that "
            "store (--overwrite) would delete it with it; choose a path outside the store"
        )
    if not path.exists() and not path.is_symlink():
        blocking = next((parent for parent in path.parents if parent.exists()), None)
        if blocking is not None:
            if not blocking.is_dir():
                raise PyntaInputError(
                    f"cannot create {str(path)!r}: {str(blocking)!r} is a file, not a folder; "
                    "choose a path in a folder"
                )
            check_writable_folder(path, blocking)
        return
    if not overwrite:
        raise PyntaInputError(
            f"path {str(path)!r} already exists; choose another path or allow replacing it "
            "(--overwrite on the command line, overwrite=True in Python)"
        )
    if not is_pynta_store(path):
        kind = "folder" if path.is_dir() else "file"
        raise PyntaInputError(
            f"refusing to overwrite {str(path)!r}: this {kind} is not a pynta store (no zarr.json "
            "with a 'pynta' attribute), and overwrite only ever replaces a pynta store; "
            "choose another path or remove it yourself"
        )
    inner = stores_inside(path)
    if inner:
        raise PyntaInputError(
            f"refusing to overwrite {str(path)!r}: it holds the pynta store {str(inner[0])!r}, "
            "which would be deleted with it; move that store out first"
        )
    try:
        WriterLock(path).release()
    except BlockingIOError:
        raise PyntaInputError(f"refusing to overwrite {_in_use_text(path)}") from None


def remove_store(path: str | Path) -> None:
    """Delete the pynta store at ``path`` (nothing else: see :func:`check_replaceable`).

    Raises
    ------
    PyntaInputError
        If it is not a pynta store, or another process writes it (:class:`WriterLock`).
    """
    check_replaceable(path, overwrite=True)
    if Path(path).exists():
        try:
            lock = WriterLock(Path(path))
        except BlockingIOError:
            raise PyntaInputError(f"refusing to overwrite {_in_use_text(Path(path))}") from None
        try:
            shutil.rmtree(path)
        finally:
            lock.release()


class WriterLock:
    """An exclusive lock on a store's directory, held by the one process that writes it.

    ``flock`` on the directory itself (no file is added to the store): the kernel releases it
    when the holder closes it, exits or is killed, so a crashed writer never leaves it behind.
    Readers do not lock. Where ``flock`` does not exist (Windows) or the file system refuses it,
    nothing is locked.

    Parameters
    ----------
    path : Path
        The store directory.

    Raises
    ------
    BlockingIOError
        If another open of the directory (another process) holds the lock.
    """

    def __init__(self, path: Path) -> None:
        self._fd: int | None = None
        try:
            import fcntl
        except ImportError:  # Windows
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise
        except OSError:  # a file system without flock: nothing to lock with
            os.close(fd)
            return
        self._fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        """Release the lock (closing the directory); safe to call twice."""
        if self._fd is not None:
            self._finalizer()
            self._fd = None


def is_being_written(path: str | Path) -> bool:
    """True while another writer holds the store at ``path`` (a recording in progress, or an
    analysis saving into it; :class:`WriterLock`)."""
    try:
        WriterLock(Path(path)).release()
    except BlockingIOError:
        return True
    return False


def _in_use_text(path: Path) -> str:
    """Why the store at ``path`` cannot be written: the process holding its writer's lock,
    named when the system tells (:mod:`~napari_pynta.lock_holder`), and what to do."""
    holder = lock_holder(path)
    writer = "another process" if holder is None else describe_process(holder)
    return (
        f"{str(path)!r}: it is being written by {writer} (a recording or an analysis saving "
        "into it); wait until it ends or choose another path"
    )


def lock_for_writing(path: str | Path) -> WriterLock:
    """Take the writer's lock on the store at ``path`` (see :class:`WriterLock`).

    Raises
    ------
    PyntaDataError
        If another process writes the store.
    """
    try:
        return WriterLock(Path(path))
    except BlockingIOError:
        raise PyntaDataError(f"cannot open for writing {_in_use_text(Path(path))}") from None


def _complete_frames(frames: zarr.Array, timestamps: zarr.Array, seq: zarr.Array) -> int:
    """Number of leading frames whose pixels, timestamp and seq were all written.

    :meth:`MovieStore.append` writes pixels, then timestamps, then seq, and seq values are never
    negative, so a frame is complete when all arrays reach it and its seq is not the fill value.
    """
    length = min(frames.shape[0], timestamps.shape[0], seq.shape[0])
    unwritten = np.flatnonzero(np.asarray(seq[:length]) < 0)
    return int(unwritten[0]) if unwritten.size else length


def _is_raw_little_endian(codec: dict[str, Any]) -> bool:
    """True for zarr's ``bytes`` codec in little endian (or without endianness: 1-byte types)."""
    endian = codec.get("configuration", {}).get("endian", "little")
    return codec.get("name") == "bytes" and endian == "little"


class _ThinCodecs(NamedTuple):
    """The inner chunks' codecs of a frames array the thin writer and reader handle."""

    blosc: dict[str, Any] | None  #: the blosc codec, None for raw bytes
    checksum: bool  #: each chunk ends with its crc32c


class FramesLayout:
    """Where the frames array keeps each frame on disk, to tell present frames from absent ones.

    zarr reads an absent chunk as its fill value (zeros); a movie frame is never allowed to be
    read that way. A frame is present when its chunk file exists or, for a sharded array, when
    its shard's index lists its inner chunk.

    Parameters
    ----------
    frames : zarr.Array
        The frames array (T, Y, X) of a store.
    root : Path
        Its directory.
    """

    def __init__(self, frames: zarr.Array, root: Path) -> None:
        metadata = frames.metadata
        self.root = root
        self.key_encoding = metadata.chunk_key_encoding
        self.frames_per_file = int(metadata.chunk_grid.chunk_shape[0])
        codec = metadata.codecs[0]
        self.sharded = isinstance(codec, ShardingCodec)
        self.frames_per_chunk = int(codec.chunk_shape[0]) if self.sharded else self.frames_per_file
        self.index_at_start = self.sharded and codec.index_location.value == "start"
        self._inner_codecs = [c.to_dict() for c in codec.codecs] if self.sharded else []
        self._index_codecs = [c.to_dict() for c in codec.index_codecs] if self.sharded else []

    def _thin_codecs(self) -> _ThinCodecs | None:
        """The inner chunks' codecs as the thin writer and reader know them, or None if the
        layout needs zarr.

        They handle shards with one frame per inner chunk, the index first (bytes + crc32c) and
        inner chunks of raw little-endian bytes, optionally blosc-compressed, optionally followed
        by their crc32c.
        """
        inner = list(self._inner_codecs)
        checksum = bool(inner) and inner[-1] == {"name": "crc32c"}
        if checksum:
            inner.pop()
        if not (
            self.index_at_start
            and self.frames_per_chunk == 1
            and len(self._index_codecs) == 2
            and _is_raw_little_endian(self._index_codecs[0])
            and self._index_codecs[1] == {"name": "crc32c"}
            and inner
            and _is_raw_little_endian(inner[0])
            and len(inner) <= 2
        ):
            return None
        if len(inner) == 1:
            return _ThinCodecs(None, checksum)
        return _ThinCodecs(inner[1], checksum) if inner[1]["name"] == "blosc" else None

    def appender(self) -> shards.ShardAppender | None:
        """A :class:`shards.ShardAppender` for this array, or None if its layout needs zarr."""
        codecs = self._thin_codecs()
        if codecs is None:
            return None
        compress = None
        if codecs.blosc is not None:
            config = codecs.blosc["configuration"]
            compress = numcodecs.Blosc(
                cname=config["cname"],
                clevel=config["clevel"],
                shuffle=_BLOSC_SHUFFLE[config["shuffle"]],
                blocksize=config["blocksize"],
            ).encode
        return shards.ShardAppender(
            self.file_of_shard, self.frames_per_file, compress, checksum=codecs.checksum
        )

    def reader(self, frame_shape: tuple[int, int], dtype: Any) -> shards.ShardReader | None:
        """A :class:`shards.ShardReader` for this array, or None if its layout needs zarr."""
        codecs = self._thin_codecs()
        if codecs is None:
            return None
        return shards.ShardReader(
            self.file_of_shard,
            self.frames_per_file,
            frame_shape,
            dtype,
            blosc=codecs.blosc is not None,
            checksum=codecs.checksum,
        )

    def file_of_shard(self, shard: int) -> Path:
        """The file of chunk (or shard) number ``shard`` along the frame axis."""
        return self.root / self.key_encoding.encode_chunk_key((shard, 0, 0))

    def file_of(self, frame: int) -> Path:
        """The chunk (or shard) file holding ``frame``."""
        return self.file_of_shard(frame // self.frames_per_file)

    def present(self, start: int, stop: int) -> np.ndarray:
        """Boolean mask of the frames ``start..stop-1`` whose data is on disk.

        Raises
        ------
        PyntaDataError
            If a shard index is damaged (naming the shard file).
        """
        mask = np.zeros(max(stop - start, 0), dtype=bool)
        per_file = self.frames_per_file
        for first in range(start - start % per_file, stop, per_file):
            lo, hi = max(first, start), min(first + per_file, stop)
            path = self.file_of(first)
            if self.sharded:
                n_inner = per_file // self.frames_per_chunk
                index = shards.read_index(path, n_inner, self.index_at_start)
                size = None if index is None else path.stat().st_size
                inner = np.repeat(shards.present(index, n_inner, size), self.frames_per_chunk)
                mask[lo - start : hi - start] = inner[lo - first : hi - first]
            else:
                mask[lo - start : hi - start] = path.is_file()
        return mask

    def readable(self, n_frames: int) -> np.ndarray:
        """Boolean mask of the frames ``0..n_frames-1`` whose data is on disk and whose shard's
        index reads (:meth:`present`, with the frames of a damaged index unreadable)."""
        return self.on_disk(n_frames)[0]

    def on_disk(self, n_frames: int) -> tuple[np.ndarray, PyntaDataError | None]:
        """What :meth:`readable` gives and the error :meth:`present` raises for the frames
        ``0..n_frames-1``, from one read of each shard index (`pynta verify` needs both).

        Returns
        -------
        readable : ndarray of bool
            One entry per frame: its data is on disk and its shard's index reads.
        damaged : PyntaDataError or None
            The first damaged shard index's error (naming its file); None when all read.
        """
        mask = np.zeros(n_frames, dtype=bool)
        damaged = None
        for first in range(0, n_frames, self.frames_per_file):
            stop = min(first + self.frames_per_file, n_frames)
            try:
                mask[first:stop] = self.present(first, stop)
            except PyntaDataError as error:  # a damaged shard index: its frames cannot be found
                damaged = damaged or error
        return mask, damaged

    def missing_error(
        self, frames: np.ndarray, source: Path, readable: np.ndarray
    ) -> PyntaDataError:
        """The error for absent ``frames`` (sorted indices), naming their first runs and files,
        ``frames 64..127 (0/c/1/0/0)``, and the ``readable`` frames (:meth:`readable`)."""
        from napari_pynta.verify import runs

        spans = list(runs(np.asarray(frames)))

        def span(first: int, last: int) -> str:
            files = sorted({str(self.file_of(t).relative_to(source)) for t in (first, last)})
            numbers = f"{first}" if first == last else f"{first}..{last}"
            return f"{numbers} ({' .. '.join(files)})"

        shown = ", ".join(span(first, last) for first, last in spans[:3])
        more = f" and {len(spans) - 3} more runs" if len(spans) > 3 else ""
        what = "frame" if len(frames) == 1 else "frames"
        return PyntaDataError(
            f"store {str(source)!r} is damaged: {what} {shown}{more} missing on disk; "
            f"{readable_advice(readable)}; run {verify_command(source)} for a full report",
            others=("frame_range",),
        )


class _CheckedFrames:
    """Array-like view of the first ``n`` frames that refuses to read an absent frame as zeros,
    naming the absent and the readable frames among the ``recorded`` ones (the store's, when
    ``n`` stops before its end: a part opened with ``frame_range``).

    Frames of a layout the thin reader knows (:meth:`FramesLayout.reader`, every format-2
    store) are read by it, at less than half the CPU of zarr-python; others through zarr.
    """

    def __init__(
        self, frames: zarr.Array, n: int, layout: FramesLayout, source: Path, recorded: int
    ) -> None:
        self._frames = frames
        self._layout = layout
        self._source = source
        self._recorded = max(n, recorded)
        self.shape = (n, *frames.shape[1:])
        self.dtype = frames.dtype
        self.ndim = 3
        self._reader = layout.reader(self.shape[1:], self.dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        first = key[0]
        if isinstance(first, slice):
            frames = range(self.shape[0])[first]
        else:  # an integer: IndexError beyond the complete frames, a negative one counted back
            index = range(self.shape[0])[first]
            frames = range(index, index + 1)
        if not len(frames):
            return np.asarray(self._frames[key])
        start, stop = min(frames), max(frames) + 1
        what = f"frames {start}..{stop - 1}" if len(frames) > 1 else f"frame {frames[0]}"
        try:
            if self._reader is None:
                absent = ~self._layout.present(start, stop)
                block = None
            else:
                block, present = self._reader.read(start, stop)
                absent = ~present
            missing = np.flatnonzero(absent) + start
            missing = missing[np.isin(missing, frames)]
            if missing.size:  # named in full, not as far as this read (one thread's) saw
                readable = self._layout.readable(self._recorded)
                raise self._layout.missing_error(np.flatnonzero(~readable), self._source, readable)
            if block is None:
                return np.asarray(self._frames[key])
        except shards.UndecodableChunk as error:
            raise _undecodable(self._source, what, error) from error
        except PyntaDataError as error:
            if error.others:  # the missing frames' error, with its advice
                raise
            raise PyntaDataError(  # a damaged shard index: which frames are readable
                f"{error}; {readable_advice(self._layout.readable(self._recorded))}; run "
                f"{verify_command(self._source)} for a full report",
                others=("frame_range",),
            ) from None
        except Exception as error:  # a chunk whose bytes do not decode: one line, not a trace
            raise _undecodable(self._source, what, error) from error
        if isinstance(first, slice):
            rows: Any = slice(None) if frames.step == 1 else np.asarray(frames) - start
        else:
            rows = 0
        return block[(rows, *key[1:])]


def _undecodable(source: Path, what: str, error: Exception) -> PyntaDataError:
    return PyntaDataError(
        f"store {str(source)!r} is damaged: {what} cannot be decoded "
        f"({type(error).__name__}: {error}); run "
        f"{verify_command(source, read_pixels=True)} for a full report, which lists every "
        "frame that does not decode, and analyse a part without them with frame_range=START:STOP",
        others=("frame_range",),
    )


class _ThinWriter:
    """Appends blocks to a format-2 store with plain file writes, without zarr-python.

    Pixels go into the shards (:class:`shards.ShardAppender`), times and seq into their
    uncompressed chunks in place (:class:`shards.ChunkPatcher`), and each array is grown
    (:class:`shards.ArrayLength`) only after its values are written, in the order pixels,
    timestamps, seq: the length of ``seq`` commits the block.
    """

    def __init__(
        self,
        pixels: shards.ShardAppender,
        per_frame: list[shards.ChunkPatcher],
        lengths: list[shards.ArrayLength],
    ) -> None:
        self._pixels = pixels
        self._per_frame = per_frame
        self._lengths = lengths

    @classmethod
    def for_store(
        cls, root: Path, arrays: Mapping[str, zarr.Array], layout: FramesLayout
    ) -> _ThinWriter | None:
        """The writer for a store's arrays, or None if their layout needs zarr-python."""
        pixels = layout.appender()
        if pixels is None:
            return None
        patchers = []
        for path in (TIMESTAMPS_PATH, SEQ_PATH):
            metadata = arrays[path].metadata
            codecs = [c.to_dict() for c in metadata.codecs]
            if len(codecs) != 1 or not _is_raw_little_endian(codecs[0]):
                return None
            encoding = metadata.chunk_key_encoding

            def chunk_path(k: int, directory: Path = root / path, encoding: Any = encoding) -> Path:
                return directory / encoding.encode_chunk_key((k,))

            patchers.append(
                shards.ChunkPatcher(
                    chunk_path,
                    int(metadata.chunk_grid.chunk_shape[0]),
                    metadata.dtype.to_native_dtype(),
                    metadata.fill_value,
                )
            )
        paths = (FRAMES_PATH, TIMESTAMPS_PATH, SEQ_PATH)
        return cls(pixels, patchers, [shards.ArrayLength(root / path) for path in paths])

    def append(self, start: int, block: np.ndarray, times: np.ndarray, seq: np.ndarray) -> None:
        """Write frames ``start ..`` with their times and seq; the seq length commits them."""
        stop = start + len(block)
        self._pixels.write(start, block)
        self._lengths[0].set(stop)
        for patcher, length, values in zip(
            self._per_frame, self._lengths[1:], (times, seq), strict=True
        ):
            patcher.write(start, values)
            length.set(stop)

    def close(self) -> None:
        """Close the open files."""
        self._pixels.close()
        for patcher in self._per_frame:
            patcher.close()


class MovieStore:
    """A movie on disk: frames (T, Y, X), metadata, per-frame times and result tables.

    Create a new store with :meth:`create` or open an existing one with :meth:`open`; do not call
    the constructor directly. ``n_frames`` is the number of frames whose pixels, timestamp and seq
    were all written: a writer that dies in the middle of :meth:`append` leaves at most that one
    block incomplete, which readers ignore and re-opening with ``mode="r+"`` truncates. Each
    ``append`` writes pixels, then timestamps, then seq; the size of seq commits the block (in
    format 1 also the fill value -1 of a seq never written). Format-2 stores are appended to by
    :class:`_ThinWriter` with plain file writes; see ``docs/store-format.md``.
    """

    def __init__(
        self, path: Path, group: zarr.Group, mode: str, lock: WriterLock | None = None
    ) -> None:
        self._lock = lock
        self._path = path
        self._group = group
        self._mode = mode
        self._closed = False
        self._arrays: dict[str, zarr.Array] = {}
        _check_format_version(group.attrs["pynta"], path)  # before its arrays are interpreted
        self._load_arrays()
        self._dtype = _checked_frames_array(self._frames, path)
        _check_per_frame_arrays(self._arrays, path)
        self._frame_shape: tuple[int, int] = tuple(self._frames.shape[1:])
        self._n_frames = _complete_frames(self._frames, self._timestamps, self._seq)
        self._metadata = dict(_stored_metadata(group.attrs["pynta"], path))
        self._last_seq: int | None = None
        self._writer: _ThinWriter | None = None
        self._thin_checked = False

    def _load_arrays(self) -> None:
        """(Re)open the per-frame arrays; the thin writer grows them behind zarr-python's back."""
        group = self._group
        self._arrays = {
            # a dark frame equal to the fill value is still written: absent data means damage
            FRAMES_PATH: group[FRAMES_PATH].with_config({"write_empty_chunks": True}),
            TIMESTAMPS_PATH: group[TIMESTAMPS_PATH],
            SEQ_PATH: group[SEQ_PATH],
        }
        self._stale = False

    def _array(self, path: str) -> zarr.Array:
        if self._stale:
            self._load_arrays()
        return self._arrays[path]

    @property
    def _frames(self) -> zarr.Array:
        return self._array(FRAMES_PATH)

    @property
    def _timestamps(self) -> zarr.Array:
        return self._array(TIMESTAMPS_PATH)

    @property
    def _seq(self) -> zarr.Array:
        return self._array(SEQ_PATH)

    def _thin_writer(self) -> _ThinWriter | None:
        if not self._thin_checked:
            self._writer = _ThinWriter.for_store(self._path, self._arrays, self.layout)
            self._thin_checked = True
        return self._writer

    # ------------------------------------------------------------------ creation / opening
    @classmethod
    def create(
        cls,
        path: str | Path,
        frame_shape: tuple[int, int],
        dtype: Any,
        metadata: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> MovieStore:
        """Create an empty store ready for :meth:`append`.

        Parameters
        ----------
        path : str or Path
            Directory of the new store (by convention ending in ``.zarr``).
        frame_shape : tuple[int, int]
            (Y, X) of every frame.
        dtype : str or numpy dtype
            ``uint8`` or ``uint16``.
        metadata : Mapping, optional
            Acquisition metadata (see :func:`validate_metadata`). ``software_version`` is set to
            this package's version and ``start_time`` defaults to now (UTC).
        overwrite : bool
            Replace an existing pynta store at ``path``; any other file or folder, or a store
            another process writes, is refused.

        Returns
        -------
        MovieStore
            The store, open for writing.

        Raises
        ------
        PyntaInputError
            If ``path`` exists and ``overwrite`` is False, if it is not a pynta store or if
            another process writes it.
        OSError
            If the disk is full or cannot be written; nothing is left at ``path``.
        """
        path = Path(path)
        shape = _check_frame_shape(frame_shape)
        frame_dtype = _check_dtype(dtype)
        checked = validate_metadata(dict(metadata or {}))
        checked["software_version"] = __version__
        if checked.get("start_time") is None:
            checked["start_time"] = _dt.datetime.now(_dt.UTC).isoformat()
        check_replaceable(path, overwrite)
        if path.exists():
            remove_store(path)
        try:
            group = cls._create_arrays(path, shape, frame_dtype, checked)
        except OSError:  # a full or read-only disk: no half-made folder in the way of a retry
            shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(path, group, "r+", lock_for_writing(path))

    @staticmethod
    def _create_arrays(
        path: Path, shape: tuple[int, int], frame_dtype: np.dtype, checked: dict[str, Any]
    ) -> zarr.Group:
        """Write the root group (``checked``: its metadata) and the empty frames, timestamps and
        seq arrays at ``path``."""
        group = zarr.open_group(
            str(path),
            mode="w-",
            zarr_format=3,
            attributes={
                "ome": ome_multiscales(checked),
                "pynta": {"format_version": FORMAT_VERSION, "metadata": checked},
            },
        )
        group.create_array(
            FRAMES_PATH,
            shape=(0, *shape),
            chunks=(1, *shape),
            shards={"shape": (FRAMES_PER_SHARD, *shape), "index_location": "start"},
            dtype=frame_dtype,
            compressors=(_compressor(), Crc32cCodec()),  # a changed byte is found, not read
            fill_value=0,
            dimension_names=("t", "y", "x"),
        )
        group.create_array(
            TIMESTAMPS_PATH,
            shape=(0,),
            chunks=(_PER_FRAME_CHUNK,),
            compressors=None,  # raw chunks: the saver writes each block in place
            dtype="float64",
            fill_value=float("nan"),
            dimension_names=("t",),
        )
        group.create_array(
            SEQ_PATH,
            shape=(0,),
            chunks=(_PER_FRAME_CHUNK,),
            compressors=None,
            dtype="int64",
            fill_value=SEQ_FILL,
            dimension_names=("t",),
        )
        return group

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> MovieStore:
        """Open an existing store.

        Parameters
        ----------
        path : str or Path
            The store directory.
        mode : {"r", "r+"}
            ``"r"`` read-only (nothing is loaded until asked for), ``"r+"`` read/write: new frames,
            metadata and tables can be added. ``"r+"`` also truncates a block left incomplete by a
            writer that crashed, and holds the store's :class:`WriterLock` until :meth:`close`.

        Returns
        -------
        MovieStore

        Raises
        ------
        PyntaDataError
            If ``path`` is missing or is not a pynta movie store, or (``"r+"``) if another
            process writes it.
        """
        if mode not in OPEN_MODES:
            raise PyntaInputError(f"mode must be one of {OPEN_MODES}, got {mode!r}")
        path = Path(path)
        if not path.is_dir():
            raise _missing_path_error(
                path, "it is a file, not a folder" if path.exists() else "no such directory"
            )
        if not (path / "zarr.json").is_file():
            raise _missing_path_error(path, "not a zarr v3 store (zarr.json is missing)")
        lock = lock_for_writing(path) if mode == "r+" else None
        try:
            group = zarr.open_group(str(path), mode=mode, zarr_format=3)
            if "pynta" not in group.attrs:
                raise _missing_path_error(
                    path, "not written by napari-pynta (no 'pynta' attribute)"
                )
            store = cls(path, group, mode, lock)
        except Exception as exc:  # zarr raises many kinds on damaged stores
            if lock is not None:
                lock.release()
            if isinstance(exc, PyntaDataError):
                raise
            reason = _damaged_part(path) or f"{type(exc).__name__}: {exc}"
            raise _missing_path_error(path, reason) from exc
        if mode == "r+":
            try:
                store._truncate_incomplete()
            except PyntaDataError:
                store.close()
                raise
        return store

    def _truncate_incomplete(self) -> None:
        """Drop the block an interrupted writer left incomplete (beyond ``n_frames``); refused
        when chunks of the timestamps or seq arrays are missing on disk: their frames would look
        incomplete, and dropping them would delete frames whose pixels are sound."""
        missing = self.missing_chunks()
        if missing and any(n != self._n_frames for n in self.array_lengths().values()):
            shown = ", ".join(f"{path} {n} of {total}" for path, (n, total) in missing.items())
            raise PyntaDataError(
                f"{str(self._path)!r} cannot be opened for writing: chunks are missing on disk "
                f"({shown}), so frames would be taken for an interrupted block and dropped; "
                "`pynta verify` says which"
            )
        for array in (self._frames, self._timestamps, self._seq):
            if array.shape[0] != self._n_frames:
                array.resize((self._n_frames, *array.shape[1:]))

    def __enter__(self) -> MovieStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"MovieStore({str(self._path)!r}, mode={self._mode!r}, n_frames={self._n_frames}, "
            f"frame_shape={self.frame_shape}, dtype={self.dtype})"
        )

    # ------------------------------------------------------------------ properties
    @property
    def path(self) -> Path:
        """Directory of the store."""
        return self._path

    @property
    def mode(self) -> str:
        """``"r"`` (read-only) or ``"r+"``."""
        return self._mode

    @property
    def n_frames(self) -> int:
        """Number of complete frames."""
        return self._n_frames

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(Y, X) of a frame."""
        return self._frame_shape

    @property
    def dtype(self) -> np.dtype:
        """Frame dtype (uint8 or uint16)."""
        return self._dtype

    @property
    def frames(self) -> zarr.Array:
        """The frames zarr array (T, Y, X); only its first ``n_frames`` are complete."""
        return self._frames

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the acquisition metadata."""
        return json.loads(json.dumps(self._metadata))

    @property
    def timestamps_s(self) -> np.ndarray:
        """Camera timestamp of each frame, seconds (float64, length ``n_frames``)."""
        return self.timestamps_between(0, self._n_frames)

    @property
    def seq(self) -> np.ndarray:
        """Acquisition frame number of each frame (int64, length ``n_frames``)."""
        return self.seq_between(0, self._n_frames)

    def timestamps_between(self, start: int, stop: int) -> np.ndarray:
        """Camera timestamps of frames ``start .. stop-1`` of the arrays, seconds (NaN: unknown);
        beyond ``n_frames`` too (the frames after a seq chunk missing on disk)."""
        return np.asarray(self._timestamps[start:stop], dtype=np.float64)

    def seq_between(self, start: int, stop: int) -> np.ndarray:
        """Acquisition frame numbers of frames ``start .. stop-1`` of the arrays (-1: never
        written, or in a chunk missing on disk); beyond ``n_frames`` too."""
        return np.asarray(self._seq[start:stop], dtype=np.int64)

    def recorded_frames(self) -> np.ndarray:
        """Which frames the store recorded have their frame number: one entry per frame.

        A sound store recorded its ``n_frames`` complete frames, all True. When chunks of seq
        are missing on disk, the frames that all three arrays hold are the recorded ones, and
        those of the missing chunks are False: ``n_frames`` stops at the first of them, though
        the frames after it are sound.
        """
        if not self.missing_chunks().get(SEQ_PATH):
            return np.ones(self._n_frames, dtype=bool)
        return self.seq_between(0, min(self.array_lengths().values())) >= 0

    def array_lengths(self) -> dict[str, int]:
        """Length on disk of the frames, timestamps and seq arrays (by their store paths).

        A length above ``n_frames`` is a block a writer left incomplete.
        """
        arrays = (self._frames, self._timestamps, self._seq)
        paths = (FRAMES_PATH, TIMESTAMPS_PATH, SEQ_PATH)
        return {path: int(array.shape[0]) for path, array in zip(paths, arrays, strict=True)}

    def missing_chunks(self) -> dict[str, tuple[int, int]]:
        """Chunks of the timestamps and seq arrays absent on disk: ``{path: (missing, expected)}``
        for each array that lacks some (their values read as the fill value: unknown times, or
        frames that look never written)."""
        missing = {}
        for path, array in ((TIMESTAMPS_PATH, self._timestamps), (SEQ_PATH, self._seq)):
            expected = int(array.nchunks)
            absent = expected - int(array.nchunks_initialized)
            if absent > 0:
                missing[path] = (absent, expected)
        return missing

    @property
    def layout(self) -> FramesLayout:
        """Where each frame lives on disk (chunk or shard files)."""
        return FramesLayout(self._frames, self._path / FRAMES_PATH)

    def as_dask(self, stop: int | None = None) -> da.Array:
        """Return the complete frames as a lazy dask array (T, Y, X), one chunk per frame.

        Reading a frame whose data is missing on disk (a deleted chunk file, a shard whose index
        does not list it) raises :class:`PyntaDataError` naming the frame and its file: absent
        frames are never read as zeros.

        Parameters
        ----------
        stop : int, optional
            Give the frames ``0 .. stop-1`` instead of the ``n_frames`` complete ones, up to the
            length of :meth:`recorded_frames` (frames after a seq chunk missing on disk).
        """
        self._check_open()
        checked = self._checked_frames(stop)
        name = "pynta-frames-" + tokenize(str(self._path), checked.shape[0], time.time_ns())
        return da.from_array(
            checked,
            chunks=(1, *self.frame_shape),
            name=name,
            meta=np.empty((0, 0, 0), dtype=self.dtype),
        )

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start .. stop-1`` (clipped to the complete ones) as one numpy array (T, Y, X).

        A block read this way costs one allocation; through :meth:`as_dask` it is read frame by
        frame and then concatenated (a copy of the block).

        Raises
        ------
        PyntaDataError
            If a frame's data is missing on disk or does not decode, naming it.
        """
        self._check_open()
        return self._checked_frames()[start:stop]

    def _checked_frames(self, stop: int | None = None) -> _CheckedFrames:
        n = self._n_frames if stop is None else stop
        return _CheckedFrames(self._frames, n, self.layout, self._path, self._n_frames)

    # ------------------------------------------------------------------ writing
    def _check_open(self) -> None:
        if self._closed:
            raise PyntaInputError(f"store {str(self._path)!r} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self._mode == "r":
            raise PyntaInputError(
                f"store {str(self._path)!r} was opened read-only (mode='r'); "
                "open it with mode='r+' to change it"
            )

    def _coerce_frames(self, frames: Any) -> np.ndarray:
        block = np.asarray(frames)
        if block.ndim == 2:
            block = block[np.newaxis]
        if block.ndim != 3 or block.shape[1:] != self.frame_shape:
            raise PyntaInputError(
                f"frames must have shape (n, {self.frame_shape[0]}, {self.frame_shape[1]}) or "
                f"({self.frame_shape[0]}, {self.frame_shape[1]}) to match this store, "
                f"got {block.shape}"
            )
        if block.dtype.kind not in "ui" or not np.can_cast(block.dtype, self.dtype, "safe"):
            raise PyntaInputError(
                f"frames dtype {block.dtype} cannot be stored in this {self.dtype} movie without "
                f"loss; allowed: {self.dtype} or a smaller unsigned integer type"
            )
        return block.astype(self.dtype, copy=False)

    def _coerce_seq(self, seq: Any, n: int) -> np.ndarray:
        if seq is None:
            start = self._previous_seq() + 1 if self._n_frames else 0
            return np.arange(start, start + n, dtype=np.int64)
        values = np.asarray(seq).reshape(-1)
        if values.shape != (n,) or values.dtype.kind not in "ui":
            raise PyntaInputError(f"seq must be {n} integers (one per frame), got {seq!r}")
        values = values.astype(np.int64)
        if n and values.min() < 0:
            raise PyntaInputError(
                f"seq must be non-negative frame numbers, got {values.tolist()[:10]}"
            )
        previous = self._previous_seq() if self._n_frames else -1
        if np.any(np.diff(np.concatenate([[previous], values])) <= 0):
            raise PyntaInputError(
                f"seq must increase strictly from frame to frame (last stored seq {previous}), "
                f"got {values.tolist()[:10]}"
            )
        return values

    def _previous_seq(self) -> int:
        if self._last_seq is None:
            self._last_seq = int(self._seq[self._n_frames - 1])
        return self._last_seq

    def _coerce_timestamps(self, timestamps_s: Any, n: int) -> np.ndarray:
        if timestamps_s is None:
            interval = self._metadata.get("frame_interval_s")
            index = np.arange(self._n_frames, self._n_frames + n, dtype=np.float64)
            return index * interval if interval is not None else np.full(n, np.nan)
        values = np.asarray(timestamps_s, dtype=np.float64).reshape(-1)
        if values.shape != (n,) or not np.all(np.isfinite(values)):
            raise PyntaInputError(
                f"timestamps_s must be {n} finite numbers (seconds, one per frame), "
                f"got {timestamps_s!r}"
            )
        return values

    def append(
        self,
        frames: Any,
        timestamps_s: Any = None,
        seq: Any = None,
    ) -> None:
        """Append one frame (Y, X) or a block of frames (n, Y, X).

        Appending blocks of many frames is much faster than appending one frame at a time: each
        call resizes the arrays once and then writes the block.

        Parameters
        ----------
        frames : array-like
            The frames, integer dtype that fits the store dtype.
        timestamps_s : array-like, optional
            Camera time of each frame in seconds. Default: frame index × ``frame_interval_s``
            (NaN if the frame interval is unknown).
        seq : array-like of int, optional
            Acquisition frame numbers, non-negative and strictly increasing across calls (gaps
            mark frames the camera dropped). Default: continue from the last stored seq.
        """
        self._check_writable()
        block = self._coerce_frames(frames)
        n = block.shape[0]
        seq_values = self._coerce_seq(seq, n)
        time_values = self._coerce_timestamps(timestamps_s, n)
        if n == 0:
            return
        start, stop = self._n_frames, self._n_frames + n
        # Pixels, timestamps, then seq: a frame counts only once its seq is written.
        writer = self._thin_writer()
        if writer is not None:
            writer.append(start, block, time_values, seq_values)
            self._stale = True
        else:  # stores of format 1, through zarr-python
            for array, values in (
                (self._frames, block),
                (self._timestamps, time_values),
                (self._seq, seq_values),
            ):
                array.resize((stop, *array.shape[1:]))
                array[start:stop] = values
        self._n_frames = stop
        self._last_seq = int(seq_values[-1])

    def update_metadata(self, **metadata: Any) -> None:
        """Validate and merge ``metadata`` into the store metadata (and its OME-NGFF scales)."""
        self._check_writable()
        merged = validate_metadata({**self._metadata, **metadata})
        self._group.attrs.update(
            {
                "ome": ome_multiscales(merged),
                "pynta": {"format_version": FORMAT_VERSION, "metadata": merged},
            }
        )
        self._metadata = merged

    def close(self) -> None:
        """Release the store: appends, metadata updates, tables and ``as_dask`` then raise."""
        if self._writer is not None:
            self._writer.close()
        if self._lock is not None:
            self._lock.release()
        self._closed = True

    # ------------------------------------------------------------------ tables
    def _tables_group(self) -> zarr.Group | None:
        return self._group[TABLES_PATH] if TABLES_PATH in self._group else None

    def table_names(self) -> list[str]:
        """Names of the complete tables stored, sorted (not those of an interrupted
        :meth:`write_tables`, see :meth:`interrupted_tables`)."""
        self._check_open()
        tables = self._tables_group()
        if tables is None:
            return []
        interrupted = set(self.interrupted_tables())
        return sorted(
            name
            for name, group in tables.groups()
            if "columns" in group.attrs and name not in interrupted
        )

    def interrupted_tables(self) -> list[str]:
        """The tables of a :meth:`write_tables` that did not finish (its writer was killed, or
        is writing now): they may mix two sets, so they are not read until a write completes."""
        self._check_open()
        tables = self._tables_group()
        return [] if tables is None else list(tables.attrs.get(_TABLES_BEING_WRITTEN, []))

    def write_tables(self, tables: dict[str, pd.DataFrame]) -> None:
        """Store several tables as one set (the results of one analysis), replacing any old ones.

        Until the last one is written the set is marked as being written, so a writer killed
        half-way leaves neither its new tables beside the old others (two analyses mixed) nor
        the old ones: :meth:`read_table` refuses them until a complete write replaces them.

        Parameters
        ----------
        tables : dict of str to pandas.DataFrame
            Table name -> table (see :meth:`write_table`).
        """
        self._check_writable()
        group = self._group.require_group(TABLES_PATH)
        names = sorted(set(self.interrupted_tables()) | set(tables))
        group.attrs[_TABLES_BEING_WRITTEN] = names
        for name, table in tables.items():
            self.write_table(name, table)
        group.attrs[_TABLES_BEING_WRITTEN] = [
            name for name in names if name not in tables and name in group
        ]

    def write_table(self, name: str, table: pd.DataFrame) -> None:
        """Store ``table`` as ``tables/<name>``, one 1-D array per column, replacing any old one.

        Numeric, boolean and text columns are supported (categoricals are stored as text);
        column order, dtypes and missing values round-trip; the index is not stored.

        Parameters
        ----------
        name : str
            Table name, e.g. ``"localizations"``, ``"tracks"``, ``"per_track"``.
        table : pandas.DataFrame
            The table.
        """
        self._check_writable()
        _check_node_name("table name", name)
        if not isinstance(table, pd.DataFrame):
            raise PyntaInputError(f"table must be a pandas DataFrame, got {type(table).__name__}")
        if table.columns.has_duplicates:
            raise PyntaInputError(f"table {name!r} has duplicate column names")
        columns = [_encode_column(column, table[column]) for column in table.columns]
        group = self._group.require_group(TABLES_PATH).create_group(name, overwrite=True)
        chunk = min(max(len(table), 1), _TABLE_CHUNK)
        every_chunk = {"write_empty_chunks": True}
        checked = (_compressor(), Crc32cCodec())  # a changed byte is found, not read
        for column, values, missing, _ in columns:
            group.create_array(
                column, data=values, chunks=(chunk,), compressors=checked, config=every_chunk
            )
            if missing is not None:
                group.create_array(
                    column + _MISSING_SUFFIX,
                    data=missing,
                    chunks=(chunk,),
                    compressors=Crc32cCodec(),
                    config=every_chunk,
                )
        group.attrs[_TABLE_ROWS] = len(table)
        # Written last: a table without "columns" was interrupted and is not listed.
        group.attrs["columns"] = [
            {"name": column, "dtype": dtype, "has_missing": missing is not None}
            for column, _, missing, dtype in columns
        ]

    def read_table(self, name: str) -> pd.DataFrame:
        """Return the table ``name`` with its column order and dtypes."""
        self._check_open()
        tables = self._tables_group()
        interrupted = self.interrupted_tables()
        if name in interrupted:
            raise PyntaDataError(
                f"table {name!r} in {str(self._path)!r} is from an interrupted write: "
                f"{', '.join(map(repr, interrupted))} were being replaced when their writer "
                "stopped (or is writing them now), so they may mix two analyses; run the "
                "analysis again to replace them"
            )
        if tables is None or name not in tables or "columns" not in tables[name].attrs:
            raise PyntaInputError(
                f"no table {name!r} in {str(self._path)!r}; available: {self.table_names()}"
            )
        group = tables[name]
        specs = group.attrs["columns"]
        arrays = [spec["name"] for spec in specs]
        arrays += [spec["name"] + _MISSING_SUFFIX for spec in specs if spec["has_missing"]]
        _check_table_arrays(group, arrays, f"table {name!r} in {str(self._path)!r}")

        def values(array: str) -> np.ndarray:
            try:
                return group[array][:]
            except Exception as error:  # zarr raises many kinds on damaged chunks
                raise PyntaDataError(
                    f"table {name!r} in {str(self._path)!r} is damaged: its column array "
                    f"{array!r} {unreadable_array(array, error)}; run the analysis (or "
                    "simulation) that wrote it again to replace it"
                ) from None

        data = {}
        for spec in specs:
            column = spec["name"]
            missing = values(column + _MISSING_SUFFIX) if spec["has_missing"] else None
            data[column] = _decode_column(values(column), spec["dtype"], missing)
        return pd.DataFrame(data, columns=[spec["name"] for spec in specs])

    def export_table_csv(self, name: str, path: str | Path) -> Path:
        """Write the table ``name`` to a CSV file (no index column) and return its path."""
        path = Path(path)
        self.read_table(name).to_csv(path, index=False)
        return path


def _check_table_arrays(group: zarr.Group, arrays: list[str], table: str) -> None:
    """Refuse a table whose column arrays do not all hold its rows or have lost chunk files.

    A column cut or edited to fewer rows was padded with NaN by pandas, and a lost chunk file
    read back as the column's fill value (zeros): both without a word (x27). Tables written
    before the row count was stored keep no chunk of fill values, so only their lengths are
    compared.
    """
    rows = group.attrs.get(_TABLE_ROWS)
    expected = rows if rows is not None else (group[arrays[0]].shape[0] if arrays else 0)
    for name in arrays:
        array = group[name]
        if array.shape != (expected,):
            problem = f"its column array {name!r} holds {array.shape} values, not {expected} rows"
        elif rows is not None and array.nchunks_initialized < array.nchunks:
            problem = (
                f"{array.nchunks - array.nchunks_initialized} of the {array.nchunks} chunk files "
                f"of its column {name!r} are missing (under {name}/c)"
            )
        else:
            continue
        raise PyntaDataError(
            f"{table} is damaged: {problem}; run the analysis (or simulation) that wrote it again "
            "to replace it"
        )


def _check_node_name(field: str, name: Any) -> None:
    if (
        not isinstance(name, str)
        or not name
        or "/" in name
        or name.startswith((".", "__"))
        or name.endswith(_MISSING_SUFFIX)
    ):
        raise PyntaInputError(
            f"{field} must be non-empty text without '/', not starting with '.' or '__' and not "
            f"ending in {_MISSING_SUFFIX!r}; got {name!r}"
        )


def _encode_column(
    column: Any, series: pd.Series
) -> tuple[str, np.ndarray, np.ndarray | None, str]:
    """Return (array name, values, missing mask or None, pandas dtype name) for one column."""
    _check_node_name("column name", column)
    dtype_name = str(series.dtype)
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    mask = series.isna().to_numpy()
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        numpy_dtype = np.dtype(getattr(series.dtype, "numpy_dtype", series.dtype))
        if not mask.any():
            return column, series.to_numpy(dtype=numpy_dtype), None, dtype_name
        if numpy_dtype.kind == "f":  # NaN marks the missing values
            return column, series.to_numpy(dtype=numpy_dtype, na_value=np.nan), None, dtype_name
        return column, series.to_numpy(dtype=numpy_dtype, na_value=0), mask, dtype_name
    if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        present = series[~mask]
        if not all(isinstance(value, str) for value in present):
            raise PyntaInputError(
                f"column {column!r} mixes text with other objects; a table column must be "
                "numbers, booleans or text"
            )
        values = np.array(series.where(~mask, "").tolist(), dtype=np.dtypes.StringDType())
        return column, values, (mask if mask.any() else None), dtype_name
    raise PyntaInputError(
        f"column {column!r} has dtype {dtype_name}; supported: numbers, booleans, text, categories"
    )


def _decode_column(values: np.ndarray, dtype_name: str, missing: np.ndarray | None) -> pd.Series:
    series = pd.Series(values)
    if missing is not None:
        series = series.astype(object).where(~missing, None)
    return series.astype(dtype_name)
