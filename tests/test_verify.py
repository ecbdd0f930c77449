"""`pynta verify` and damaged stores: absent frames, seq gaps, interrupted writers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from napari_pynta.cli import main
from napari_pynta.store import MovieStore
from napari_pynta.verify import runs, verify_store

METADATA = {"pixel_size_um": 0.1, "frame_interval_s": 0.01, "exposure_s": 0.01}


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "movie.zarr"
    frames = np.random.default_rng(0).integers(1, 1000, (12, 8, 10), dtype=np.uint16)
    with MovieStore.create(path, (8, 10), "uint16", METADATA) as store:
        store.append(frames, timestamps_s=np.arange(12) * 0.01)
    return path


def verify(capsys, *argv):
    code = main(["verify", *map(str, argv)])
    return code, capsys.readouterr().out


def test_sound_store_is_ok(capsys, store_path):
    code, out = verify(capsys, store_path)
    assert code == 0 and out.strip() == f"{store_path}: ok, 12 frames"
    code, out = verify(capsys, store_path, "--json", "--read-pixels")
    assert code == 0 and json.loads(out) == {
        "path": str(store_path),
        "ok": True,
        "n_frames": 12,
        "problems": [],
        "being_written": False,
    }


def test_a_store_being_recorded_is_checked_as_far_as_it_is_written_and_said_so(capsys, tmp_path):
    """`pynta verify` on a recording in progress said "ok, 20 frames" as of a finished store."""
    path = tmp_path / "live.zarr"
    with MovieStore.create(path, (8, 10), "uint16", METADATA) as store:
        store.append(np.ones((20, 8, 10), dtype=np.uint16))
        code, out = verify(capsys, path)
        assert code == 0
        assert out.strip() == (
            f"{path}: ok, 20 frames (being written by another process: the frames written so "
            "far were checked)"
        )
        assert verify_store(path).to_dict()["being_written"] is True


def test_deleted_chunks_of_a_format_1_store_are_reported_by_frame_range(
    capsys, tmp_path, write_format1_store
):
    path = tmp_path / "old.zarr"
    write_format1_store(path, np.ones((12, 4, 4), np.uint16))
    for frame in (3, 4, 5, 9):
        (path / "0" / "c" / str(frame) / "0" / "0").unlink()
    code, out = verify(capsys, path)
    assert code == 1
    assert out.splitlines() == [
        f"{path}: missing_frames: no data on disk for frames 3..5 (0/c/3/0/0 .. 0/c/5/0/0)",
        f"{path}: missing_frames: no data on disk for frame 9 (0/c/9/0/0)",
    ]


def test_deleted_shard_is_reported(capsys, store_path):
    (store_path / "0" / "c" / "0" / "0" / "0").unlink()
    code, out = verify(capsys, store_path)
    assert code == 1
    assert out == f"{store_path}: missing_frames: no data on disk for frames 0..11 (0/c/0/0/0)\n"


def test_damaged_shard_index_is_reported(capsys, store_path):
    with open(store_path / "0" / "c" / "0" / "0" / "0", "r+b") as shard:
        shard.write(b"\xff\x00")  # the first bytes of the index: its checksum no longer matches
    code, out = verify(capsys, store_path)
    assert code == 1 and "index checksum does not match" in out


def test_seq_gap_timestamps_and_interrupted_block_are_reported(tmp_path):
    path = tmp_path / "gappy.zarr"
    store = MovieStore.create(path, (4, 4), "uint8", METADATA)
    store.append(np.ones((4, 4, 4), np.uint8), seq=[0, 1, 5, 6], timestamps_s=[0, 1, 1, 2])
    store.frames.resize((6, 4, 4))  # a writer killed after resizing the pixels of a block
    report = verify_store(path)
    kinds = [problem.kind for problem in report.problems]
    assert kinds == ["incomplete", "seq", "timestamps"]
    messages = [problem.message for problem in report.problems]
    assert "frames beyond the 4 complete ones (0 +2)" in messages[0]
    assert "acquisition frames 2..4 never reached the store" in messages[1]
    assert "timestamps do not increase at frames [2] (1 places)" in messages[2]


def test_damaged_metadata_and_unreadable_store(capsys, store_path, tmp_path):
    root = json.loads((store_path / "zarr.json").read_text())
    root["attributes"]["pynta"]["metadata"]["pixel_size_um"] = -1
    (store_path / "zarr.json").write_text(json.dumps(root))
    assert [p.kind for p in verify_store(store_path).problems] == ["metadata"]
    shutil.rmtree(store_path / "seq")
    code, out = verify(capsys, store_path, "--json")
    report = json.loads(out)
    assert code == 1 and report["problems"][0]["kind"] == "unreadable"
    assert main(["verify", str(tmp_path / "nothing.zarr")]) == 2


def test_runs_groups_consecutive_indices():
    assert list(runs(np.array([1, 2, 3, 7, 9, 10]))) == [(1, 3), (7, 7), (9, 10)]
    assert list(runs(np.array([], dtype=int))) == []
