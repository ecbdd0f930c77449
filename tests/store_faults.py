"""Damage as it happens to stores on disk (shared by the store, verify and napari reader tests):
a result set whose writing is interrupted, as a killed `pynta analyze` leaves it, or stopped by a
disk that fills; an inner chunk forgotten by its shard's index; a bit flipped inside a frame."""

from __future__ import annotations

import errno

import pandas as pd
import pytest

from napari_pynta import shards
from napari_pynta.store import MovieStore


def write_tables_killed_after_the_first(store: MovieStore, tables: dict[str, pd.DataFrame]) -> None:
    """``store.write_tables(tables)`` by a process killed once its first table is written."""
    written: list[str] = []

    def killed_after_the_first(name: str, table: pd.DataFrame) -> None:
        if written:
            raise KeyboardInterrupt  # stands for SIGKILL: no clean-up runs after it
        written.append(name)
        MovieStore.write_table(store, name, table)

    store.write_table = killed_after_the_first  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            store.write_tables(tables)
    finally:
        del store.write_table


def fill_the_disk_after_the_first_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``MovieStore.write_table`` after the first fail as a full disk does (ENOSPC,
    as a 6 MB tmpfs did, x28)."""
    written: list[str] = []
    write_table = MovieStore.write_table

    def disk_full_after_the_first(store: MovieStore, name: str, table: pd.DataFrame) -> None:
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(name)
        write_table(store, name, table)

    monkeypatch.setattr(MovieStore, "write_table", disk_full_after_the_first)


def flip_a_bit_inside(shard, slot):
    """Change one bit in the middle of an inner chunk's compressed pixels, past its header: a
    bit flipped by a failing disk or a faulty copy."""
    offset, nbytes = (int(v) for v in shards.read_index(shard, 64, index_at_start=True)[slot])
    with open(shard, "r+b") as file:
        file.seek(offset + nbytes // 2)
        byte = file.read(1)[0]
        file.seek(offset + nbytes // 2)
        file.write(bytes([byte ^ 0x10]))


def forget_inner_chunk(shard, slot):
    """Mark one inner chunk absent in a shard's index (index first, 64 chunks)."""
    index = shards.read_index(shard, 64, index_at_start=True)
    index[slot] = shards.MISSING
    with open(shard, "r+b") as file:
        file.write(shards.encode_index(index))
