"""Test-suite wide set-up: the GUI tests need napari and a Qt binding, the rest does not."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec

from napari_pynta.cli.gui import missing_gui_packages

# the core install is headless: without the GUI stack, tests/gui is not even collected
# (its conftest imports Qt), and `-m "not gui"` selects the same headless suite with it installed
collect_ignore = ["gui"] if missing_gui_packages() else []


@pytest.fixture
def write_format1_store():
    """Return ``write(path, frames)``: a store in format 1 (one chunk per frame), as pynta wrote
    before sharding; frames (n, Y, X) uint16, seq 0..n-1, times seq x 0.01 s."""

    def write(path, frames):
        from napari_pynta.store import MovieStore, ome_multiscales

        metadata = {"frame_interval_s": 0.01, "software_version": "0.1.0"}
        group = zarr.open_group(
            str(path),
            mode="w-",
            zarr_format=3,
            attributes={
                "ome": ome_multiscales(metadata),
                "pynta": {"format_version": 1, "metadata": metadata},
            },
        )
        n, height, width = frames.shape
        blosc = BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
        group.create_array(
            "0",
            data=frames,
            chunks=(1, height, width),
            compressors=blosc,
            fill_value=0,
            dimension_names=("t", "y", "x"),
        )
        group.create_array("timestamps_s", data=np.arange(n) * 0.01, chunks=(4096,))
        seq = group.create_array("seq", shape=(n,), chunks=(4096,), dtype="int64", fill_value=-1)
        seq[:] = np.arange(n)
        return MovieStore.open(path)

    return write
