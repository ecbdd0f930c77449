"""Damaged pynta stores: the error names the part that is damaged."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from napari_pynta.cli import main
from napari_pynta.errors import PyntaDataError
from napari_pynta.store import MovieStore

METADATA = {"pixel_size_um": 0.1, "frame_interval_s": 0.01, "exposure_s": 0.01}


def cut(path, size):
    with open(path, "r+b") as file:
        file.truncate(size)


DAMAGES = {
    "seq deleted": (
        lambda root: shutil.rmtree(root / "seq"),
        "the seq array (frame numbers) is missing (no seq/zarr.json)",
    ),
    "frames' zarr.json cut": (
        lambda root: cut(root / "0" / "zarr.json", 100),
        "0/zarr.json, the description of the frames array, is cut or damaged",
    ),
    "root zarr.json cut": (
        lambda root: cut(root / "zarr.json", 300),
        "zarr.json, the description of the store's root, is cut or damaged",
    ),
    "seq chunk cut": (
        lambda root: cut(root / "seq" / "c" / "0", 5),
        "the seq array cannot be read (",
    ),
}


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_the_damaged_part_of_a_store_is_named(damage, tmp_path, capsys):
    """zarr's error named no file: "KeyError: 'seq'" for a deleted array, "ValueError: When
    changing to a larger dtype ..." for a cut seq chunk."""
    path = tmp_path / "movie.zarr"
    with MovieStore.create(path, (8, 10), "uint16", METADATA) as store:
        store.append(np.ones((12, 8, 10), np.uint16), timestamps_s=np.arange(12) * 0.01)
    do, said = DAMAGES[damage]
    do(path)
    with pytest.raises(PyntaDataError) as raised:
        MovieStore.open(path)
    assert said in str(raised.value)
    assert main(["analyze", str(path)]) == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["cut", "deleted"])
def test_napari_is_told_what_is_damaged_in_a_store_whose_zarr_json_is_damaged(damage, tmp_path):
    """napari's reader hook passed over a store whose zarr.json was cut or deleted: napari said
    only that no reader was found for it."""
    from napari_pynta.widgets.napari_io import get_reader

    path = tmp_path / "movie.zarr"
    with MovieStore.create(path, (8, 10), "uint16", METADATA) as store:
        store.append(np.ones((12, 8, 10), np.uint16))
    if damage == "cut":
        cut(path / "zarr.json", 300)
    else:
        (path / "zarr.json").unlink()
    reader = get_reader(str(path))
    assert reader is not None
    said = "is cut or damaged" if damage == "cut" else "zarr.json is missing"
    with pytest.raises(PyntaDataError, match=said):
        reader(str(path))


def test_a_folder_of_other_arrays_is_left_to_other_readers(tmp_path):
    from napari_pynta.widgets.napari_io import get_reader

    path = tmp_path / "other.zarr"
    (path / "0").mkdir(parents=True)  # an array of another program, no pynta seq or times
    assert get_reader(str(path)) is None
