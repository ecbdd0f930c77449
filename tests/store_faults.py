"""A result set whose writing is interrupted, as a killed `pynta analyze` leaves it (shared by
the store tests and the napari reader's test)."""

from __future__ import annotations

import pandas as pd
import pytest

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
