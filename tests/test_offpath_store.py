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


def test_a_store_whose_timestamps_chunk_is_cut_is_analysed_with_a_warning(tmp_path, capsys):
    """A cut timestamps_s chunk (the recording's disk filled up) ended `pynta analyze` in zarr's
    traceback ("ValueError: When changing to a larger dtype ..."); the frames are sound, only
    the check of the frame interval against the times is lost."""
    from napari_pynta.readers import open_movie

    path = tmp_path / "movie.zarr"
    frames = np.random.default_rng(0).poisson(100, (12, 8, 10)).astype(np.uint16)
    with MovieStore.create(path, (8, 10), "uint16", METADATA) as store:
        store.append(frames, timestamps_s=np.arange(12) * 0.01)
    cut(path / "timestamps_s" / "c" / "0", 7)
    with open_movie(path) as movie:
        assert np.array_equal(movie.frames.compute(), frames)
        assert movie.metadata["frame_interval_s"] == METADATA["frame_interval_s"]
        (warning,) = movie.warnings
    assert warning.startswith(
        f"{str(path)!r}: the frame times (timestamps_s) cannot be read (ValueError: "
    )
    assert "a chunk file under timestamps_s/c is cut or damaged" in warning
    assert "the frame interval is the metadata's, not checked against those frames'" in warning
    # a deleted chunk was read as unknown times without a word
    (path / "timestamps_s" / "c" / "0").unlink()
    with open_movie(path) as movie:
        assert movie.warnings == [
            f"{str(path)!r}: the frame times (timestamps_s) have 1 of 1 chunks missing on disk; "
            "the frame interval is the metadata's, not checked against those frames' times; "
            f"`pynta verify {path}` reports the damage"
        ]


def test_frames_whose_seq_chunk_is_missing_are_not_silently_left_out(tmp_path, capsys):
    """A deleted seq chunk made every frame from it on look never written: `pynta analyze`
    analysed the first 4096 of 5000 frames without a word, or said "movie has no frames" when
    the first chunk was the one lost."""
    path = tmp_path / "movie.zarr"
    n = 5000  # two chunks of seq
    with MovieStore.create(path, (8, 10), "uint16", METADATA) as store:
        store.append(np.ones((n, 8, 10), np.uint16))
    for chunk, complete, readable in (("1", 4096, "0..4095"), ("0", 0, "none")):
        (path / "seq" / "c" / chunk).unlink()
        assert MovieStore.open(path).n_frames == complete
        assert main(["analyze", str(path), "--no-save"]) == 2
        advice = (  # the frames that can be analysed alone (with --frames)
            "readable: frames 0..4095; analyse them alone with --frames=0:4096"
            if readable != "none"
            else "no frame can be analysed"
        )
        assert capsys.readouterr().err.strip() == (
            f"pynta analyze: error: store {str(path)!r} is damaged: seq (the frame numbers) has "
            f"{2 - complete // 4096} of 2 chunks missing on disk, so only the first {complete} "
            f"of its {n} frames count as recorded; {advice}; run `pynta verify {path}` for a "
            "full report"
        )
