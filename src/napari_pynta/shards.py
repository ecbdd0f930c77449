"""zarr v3 arrays appended to and read without zarr-python: shards, uncompressed chunks, sizes.

In the ``sharding_indexed`` layout a shard file holds several inner chunks (here: one frame
each) and an index of ``n`` pairs ``(offset, nbytes)`` as little-endian uint64, followed by the
crc32c of those ``16 n`` bytes (little-endian uint32), as the zarr v3 sharding specification and
zarr-python's default index codecs ``[bytes, crc32c]`` define it. An absent inner chunk has
offset and nbytes ``2**64 - 1``. The index sits at the start or at the end of the file
(``index_location``).

The movie store uses this module to check which frames are present without decoding them, to
append frames to a shard at the cost of a plain file write (:class:`ShardAppender`), to read
them back at the cost of their decompression (:class:`ShardReader`), to write per-frame times
and seq into uncompressed chunks in place (:class:`ChunkPatcher`) and to grow the arrays
(:class:`ArrayLength`); see ``docs/store-format.md``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import google_crc32c
import numcodecs
import numpy as np

from napari_pynta.errors import PyntaDataError

#: offset and nbytes of an inner chunk that was never written
MISSING = np.uint64(2**64 - 1)
_CRC_BYTES = 4


def index_nbytes(n_chunks: int) -> int:
    """Size in bytes of the index of a shard of ``n_chunks`` inner chunks (with its crc32c)."""
    return 16 * n_chunks + _CRC_BYTES


def empty_index(n_chunks: int) -> np.ndarray:
    """An index (n_chunks, 2) uint64 in which every inner chunk is absent."""
    return np.full((n_chunks, 2), MISSING, dtype="<u8")


def encode_index(index: np.ndarray) -> bytes:
    """Return the on-disk bytes of ``index`` ((n, 2) offsets and sizes): the pairs, then crc32c."""
    raw = np.ascontiguousarray(index, dtype="<u8").tobytes()
    return raw + _crc32c(raw)


def _crc32c(data: Any) -> bytes:
    """The crc32c of ``data`` as zarr's ``crc32c`` codec stores it: 4 bytes, little endian."""
    data = data if isinstance(data, bytes) else bytes(data)  # the C extension takes bytes only
    return np.uint32(google_crc32c.value(data)).astype("<u4").tobytes()


def decode_index(raw: bytes, n_chunks: int, source: str | Path) -> np.ndarray:
    """Parse index bytes (with their crc32c) into an (n, 2) uint64 array.

    Raises
    ------
    PyntaDataError
        If the bytes are short or their checksum does not match, naming ``source``.
    """
    expected = index_nbytes(n_chunks)
    if len(raw) != expected:
        raise PyntaDataError(
            f"shard {str(source)!r} is damaged: its index has {len(raw)} bytes, expected {expected}"
        )
    pairs, crc = raw[:-_CRC_BYTES], raw[-_CRC_BYTES:]
    if _crc32c(pairs) != crc:
        raise PyntaDataError(f"shard {str(source)!r} is damaged: its index checksum does not match")
    return np.frombuffer(pairs, dtype="<u8").reshape(n_chunks, 2).copy()


def read_index(path: str | Path, n_chunks: int, index_at_start: bool) -> np.ndarray | None:
    """Read the index of the shard file ``path``; None if the file does not exist.

    Parameters
    ----------
    path : str or Path
        The shard file.
    n_chunks : int
        Number of inner chunks of a shard.
    index_at_start : bool
        True for ``index_location: "start"``, False for ``"end"``.

    Returns
    -------
    numpy.ndarray or None
        (n_chunks, 2) uint64 offsets and sizes (``MISSING`` for an absent chunk).
    """
    size = index_nbytes(n_chunks)
    try:
        with open(path, "rb") as file:
            if not index_at_start:
                file.seek(max(os.fstat(file.fileno()).st_size - size, 0))
            raw = file.read(size)
    except FileNotFoundError:
        return None
    return decode_index(raw, n_chunks, path)


def present(index: np.ndarray | None, n_chunks: int, file_size: int | None = None) -> np.ndarray:
    """Boolean mask of the inner chunks an index (or a missing shard, None) holds.

    With ``file_size`` (the shard's, in bytes), a chunk whose bytes run past the end of the file
    counts as absent: a shard cut short (an interrupted copy, a damaged disk) keeps an index
    that lists them, and blosc's threaded decoder reads such a chunk as zeros without an error.
    """
    if index is None:
        return np.zeros(n_chunks, dtype=bool)
    held = index[:, 0] != MISSING
    if file_size is not None:
        # the sum wraps for MISSING entries, which ``held`` already excludes
        held &= index[:, 0] + index[:, 1] <= file_size
    return held


class ShardAppender:
    """Append frames to the shards of a zarr v3 array at the cost of plain file writes.

    The array must be sharded along its first axis with one frame per inner chunk, the index at
    the *start* of each shard (``index_location: "start"``) and inner chunks encoded by
    ``encode`` (raw little-endian bytes when None). Each :meth:`write` appends the frames' bytes
    after the data already in the shard and then rewrites the index in place: the index
    (``16 n + 4`` bytes, within one page for n <= 255) is replaced by a single write, so a
    process killed at any point leaves a shard whose index lists exactly the frames of the
    writes that returned; bytes of an unfinished write are left after them, unreferenced, as
    the sharding format allows. A resumed shard cut short (its index lists chunks past its end)
    has those chunks marked absent when it is next written.

    Parameters
    ----------
    shard_path : callable
        ``shard_path(k) -> Path`` of the file of shard ``k``.
    frames_per_shard : int
        Inner chunks (frames) per shard.
    encode : callable, optional
        ``encode(frame) -> bytes-like`` of one frame; None writes the raw bytes.
    checksum : bool
        Follow each chunk by its crc32c (zarr's ``crc32c`` codec after the others).
    """

    def __init__(
        self,
        shard_path: Callable[[int], Path],
        frames_per_shard: int,
        encode: Callable[[np.ndarray], Any] | None = None,
        checksum: bool = False,
    ) -> None:
        self._shard_path = shard_path
        self._per_shard = frames_per_shard
        self._encode = encode
        self._checksum = checksum
        self._shard = -1
        self._fd = -1
        self._index = empty_index(frames_per_shard)
        self._end = 0

    def write(self, first_frame: int, frames: np.ndarray) -> None:
        """Write ``frames`` (n, Y, X) as frames ``first_frame ..`` of the array."""
        frames = np.ascontiguousarray(frames, dtype=frames.dtype.newbyteorder("<"))
        done = 0
        while done < len(frames):
            frame = first_frame + done
            shard, slot = divmod(frame, self._per_shard)
            count = min(len(frames) - done, self._per_shard - slot)
            self._open(shard)
            self._append(slot, frames[done : done + count])
            _pwrite_all(self._fd, encode_index(self._index), 0)
            done += count

    def close(self) -> None:
        """Close the open shard file (its index is already complete)."""
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._shard = -1, -1

    def _open(self, shard: int) -> None:
        if shard == self._shard:
            return
        self.close()
        path = self._shard_path(shard)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        self._shard = shard
        size = os.fstat(self._fd).st_size
        if size >= index_nbytes(self._per_shard):  # a shard resumed after a restart or a crash
            raw = os.pread(self._fd, index_nbytes(self._per_shard), 0)
            self._index = decode_index(raw, self._per_shard, path)
            # chunks listed past the end of a shard cut short are lost: forget them, or the
            # frames appended next, written where they were listed, would be read as them
            self._index[~present(self._index, self._per_shard, size)] = MISSING
            self._end = size
        else:
            self._index = empty_index(self._per_shard)
            _pwrite_all(self._fd, encode_index(self._index), 0)
            self._end = index_nbytes(self._per_shard)

    def _append(self, slot: int, frames: np.ndarray) -> None:
        if self._encode is None and not self._checksum:
            size = frames[0].nbytes
            _pwrite_all(self._fd, frames.data.cast("B"), self._end)
            offsets = self._end + size * np.arange(len(frames), dtype=np.uint64)
            sizes = np.full(len(frames), size, dtype=np.uint64)
        else:
            chunks = [self._chunk(frame) for frame in frames]
            _pwrite_all(self._fd, b"".join(part for chunk in chunks for part in chunk), self._end)
            sizes = np.array([sum(len(part) for part in chunk) for chunk in chunks], np.uint64)
            offsets = self._end + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.uint64)
        self._index[slot : slot + len(frames), 0] = offsets
        self._index[slot : slot + len(frames), 1] = sizes
        self._end = int(offsets[-1] + sizes[-1])

    def _chunk(self, frame: np.ndarray) -> tuple[Any, ...]:
        """The parts of one frame's inner chunk: its encoded bytes, then their checksum if asked."""
        data = frame.tobytes() if self._encode is None else bytes(self._encode(frame))
        return (data, _crc32c(data)) if self._checksum else (data,)


class ShardReader:
    """Read frames from the shards of a zarr v3 array without zarr-python.

    The counterpart of :class:`ShardAppender` for the same layout (one frame per inner chunk,
    raw little-endian bytes, optionally blosc-compressed). zarr-python takes 3.8-4.0 ms of CPU
    per 1024² uint16 frame of such a store, this reader 1.6-1.8 ms: one read of the chunk and
    its decompression.

    Parameters
    ----------
    shard_path : callable
        ``shard_path(k) -> Path`` of the file of shard ``k``.
    frames_per_shard : int
        Inner chunks (frames) per shard.
    frame_shape : tuple of int
        (Y, X) of one frame.
    dtype : numpy dtype
        The array's data type.
    blosc : bool
        True when the inner chunks are blosc-compressed, False for raw bytes.
    index_at_start : bool
        True for ``index_location: "start"``, False for ``"end"``.
    checksum : bool
        True when each inner chunk ends with its crc32c: a chunk whose bytes changed on disk
        then raises :class:`UndecodableChunk` instead of being read as other pixels.
    """

    def __init__(
        self,
        shard_path: Callable[[int], Path],
        frames_per_shard: int,
        frame_shape: tuple[int, int],
        dtype: Any,
        blosc: bool,
        index_at_start: bool = True,
        checksum: bool = False,
    ) -> None:
        self._shard_path = shard_path
        self._per_shard = frames_per_shard
        self._shape = tuple(frame_shape)
        self._stored = np.dtype(dtype).newbyteorder("<")
        self._dtype = np.dtype(dtype)
        self._frame_nbytes = int(np.prod(self._shape)) * self._stored.itemsize
        self._blosc = numcodecs.Blosc() if blosc else None
        self._index_at_start = index_at_start
        self._checksum = checksum

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``start .. stop-1`` and a mask of those present on disk.

        Returns
        -------
        frames : numpy.ndarray
            (stop - start, Y, X); an absent frame's rows are undefined (check ``present``).
        present : numpy.ndarray
            (stop - start,) bool, as :func:`present` judges them (a chunk past the end of its
            file is absent).

        Raises
        ------
        PyntaDataError
            If a shard index is damaged, or a chunk's bytes do not decode to one frame (naming
            the frame and its shard file).
        """
        frames = np.empty((max(stop - start, 0), *self._shape), dtype=self._stored)
        held = np.zeros(len(frames), dtype=bool)
        per = self._per_shard
        for first in range(start - start % per, stop, per):
            lo, hi = max(first, start), min(first + per, stop)
            path = self._shard_path(first // per)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                index = self._index(fd, path)
                in_file = present(index, per, os.fstat(fd).st_size)
                for frame in range(lo, hi):
                    slot = frame - first
                    if in_file[slot]:
                        offset, nbytes = (int(v) for v in index[slot])
                        raw = os.pread(fd, nbytes, offset)
                        self._decode(raw, frames[frame - start], frame, path)
                        held[frame - start] = True
            finally:
                os.close(fd)
        return frames.astype(self._dtype, copy=False), held

    def _index(self, fd: int, path: Path) -> np.ndarray:
        size = index_nbytes(self._per_shard)
        at = 0 if self._index_at_start else max(os.fstat(fd).st_size - size, 0)
        return decode_index(os.pread(fd, size, at), self._per_shard, path)

    def _decode(self, raw: bytes, out: np.ndarray, frame: int, path: Path) -> None:
        if self._checksum:
            stored, raw = raw[-_CRC_BYTES:], raw[:-_CRC_BYTES]
            if len(stored) < _CRC_BYTES or _crc32c(raw) != stored:
                raise _undecodable(frame, path, "its checksum does not match: its bytes changed")
        if self._blosc is None:
            if len(raw) != self._frame_nbytes:
                raise _undecodable(frame, path, f"{len(raw)} bytes, expected {self._frame_nbytes}")
            out[...] = np.frombuffer(raw, dtype=self._stored).reshape(out.shape)
            return
        # blosc's header: version, versionlz, flags, typesize, then nbytes and cbytes (uint32 LE)
        declared = np.frombuffer(raw[:16], "<u4")[[1, 3]] if len(raw) >= 16 else None
        if declared is None or (int(declared[0]), int(declared[1])) != (
            self._frame_nbytes,
            len(raw),
        ):
            raise _undecodable(frame, path, "its blosc header does not describe one whole frame")
        try:
            self._blosc.decode(raw, out)
        except (RuntimeError, ValueError) as error:
            raise _undecodable(frame, path, str(error)) from error


class UndecodableChunk(PyntaDataError):
    """An inner chunk whose bytes do not decode to one frame."""


def _undecodable(frame: int, path: Path, why: str) -> UndecodableChunk:
    return UndecodableChunk(f"frame {frame} in shard {str(path)!r} cannot be decoded: {why}")


def _pwrite_all(fd: int, data: Any, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (a regular file may take fewer bytes per call)."""
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class ChunkPatcher:
    """Write values into the uncompressed chunks of a 1-D zarr v3 array, in place.

    For arrays whose only codec is ``bytes`` (little endian): a chunk file is the raw values, so a
    slice is one ``pwrite`` at its offset. A chunk file is created whole, filled with the fill
    value, by writing a temporary file and renaming it, so a chunk file is never short.

    Parameters
    ----------
    chunk_path : callable
        ``chunk_path(k) -> Path`` of the file of chunk ``k``.
    chunk_length : int
        Values per chunk.
    dtype : numpy dtype
        The array's data type.
    fill_value : scalar
        The array's fill value.
    """

    def __init__(
        self, chunk_path: Callable[[int], Path], chunk_length: int, dtype: Any, fill_value: Any
    ) -> None:
        self._chunk_path = chunk_path
        self._length = chunk_length
        self._dtype = np.dtype(dtype).newbyteorder("<")
        self._fill = fill_value
        self._chunk = -1
        self._fd = -1

    def write(self, start: int, values: np.ndarray) -> None:
        """Write ``values`` at positions ``start ..`` of the array."""
        values = np.ascontiguousarray(values, dtype=self._dtype)
        done = 0
        while done < len(values):
            chunk, slot = divmod(start + done, self._length)
            count = min(len(values) - done, self._length - slot)
            self._open(chunk)
            _pwrite_all(self._fd, values[done : done + count], slot * self._dtype.itemsize)
            done += count

    def close(self) -> None:
        """Close the open chunk file."""
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._chunk = -1, -1

    def _open(self, chunk: int) -> None:
        if chunk == self._chunk:
            return
        self.close()
        path = self._chunk_path(chunk)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
            partial.write_bytes(np.full(self._length, self._fill, self._dtype).tobytes())
            os.replace(partial, path)
        self._fd = os.open(path, os.O_RDWR)
        self._chunk = chunk


class ArrayLength:
    """Set the length (first dimension) of a zarr v3 array by rewriting its ``zarr.json``.

    The metadata document is read once; each :meth:`set` writes it with the new shape to a
    temporary file and renames it over ``zarr.json``, so readers see the old or the new size.

    Parameters
    ----------
    array_dir : Path
        The array's directory.
    """

    def __init__(self, array_dir: Path) -> None:
        self._path = array_dir / "zarr.json"
        self._document = json.loads(self._path.read_text(encoding="utf-8"))

    def set(self, length: int) -> None:
        """Make the array ``length`` long along its first axis."""
        self._document["shape"][0] = int(length)
        partial = self._path.with_name(f"zarr.json.{os.getpid()}.partial")
        partial.write_text(json.dumps(self._document, indent=2), encoding="utf-8")
        os.replace(partial, self._path)
