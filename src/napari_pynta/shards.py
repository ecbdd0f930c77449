"""The zarr v3 ``sharding_indexed`` layout, read and written without zarr-python.

A shard file holds several inner chunks (here: one frame each) and an index of ``n`` pairs
``(offset, nbytes)`` as little-endian uint64, followed by the crc32c of those ``16 n`` bytes
(little-endian uint32), as the zarr v3 sharding specification and zarr-python's default index
codecs ``[bytes, crc32c]`` define it. An absent inner chunk has offset and nbytes ``2**64 - 1``.
The index sits at the start or at the end of the file (``index_location``).

The movie store uses this module to check which frames are present without decoding them and to
append frames to a shard at the cost of a plain file write (see ``docs/store-format.md``).
"""

from __future__ import annotations

import os
from pathlib import Path

import google_crc32c
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
    return raw + np.uint32(google_crc32c.value(raw)).astype("<u4").tobytes()


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
    if google_crc32c.value(pairs) != int(np.frombuffer(crc, "<u4")[0]):
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


def present(index: np.ndarray | None, n_chunks: int) -> np.ndarray:
    """Boolean mask of the inner chunks an index (or a missing shard, None) holds."""
    if index is None:
        return np.zeros(n_chunks, dtype=bool)
    return index[:, 0] != MISSING
