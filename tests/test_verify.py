"""`pynta verify` and damaged stores: absent frames, seq gaps, interrupted writers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from store_faults import flip_a_bit_inside, forget_inner_chunk

from napari_pynta import shards
from napari_pynta.cli import main
from napari_pynta.errors import PyntaDataError
from napari_pynta.readers import open_movie
from napari_pynta.store import MovieStore
from napari_pynta.verify import runs, verify_store

METADATA = {"pixel_size_um": 0.1, "frame_interval_s": 0.01, "exposure_s": 0.01, "temperature_c": 22}


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
        "notes": [],
        "being_written": False,
        "readable_frames": [[0, 12]],
        "advice": None,
        "error": None,
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
        f"{path}: readable: frames 0..2, 6..8 and 10..11; analyse frames 0..2 alone with "
        f"`pynta analyze --frames=0:3 {path}` (`pynta verify --read-pixels {path}` also checks "
        "that those frames decode)",
    ]


def test_deleted_shard_is_reported(capsys, store_path):
    (store_path / "0" / "c" / "0" / "0" / "0").unlink()
    code, out = verify(capsys, store_path)
    assert code == 1
    assert out.splitlines() == [
        f"{store_path}: missing_frames: no data on disk for frames 0..11 (0/c/0/0/0)",
        f"{store_path}: no frame can be analysed",
    ]


def test_read_pixels_reports_every_frame_that_does_not_decode(capsys, tmp_path):
    """`pynta verify --read-pixels` said "ok" for a store whose frame would not decode (it took
    the decoding error for an absent frame, reported elsewhere), while `pynta analyze` refused
    the store; a frame absent on disk is still reported once, as missing."""
    path = tmp_path / "movie.zarr"
    with MovieStore.create(path, (8, 10), "uint16", METADATA) as store:
        store.append(np.random.default_rng(1).integers(1, 1000, (140, 8, 10), dtype=np.uint16))
    shard = path / "0" / "c" / "0" / "0" / "0"
    index = shards.read_index(shard, 64, index_at_start=True)
    with open(shard, "r+b") as file:
        for slot in (3, 4, 40):  # their blosc headers overwritten
            file.seek(int(index[slot, 0]))
            file.write(b"\xff" * 16)
    flip_a_bit_inside(path / "0" / "c" / "1" / "0" / "0", 5)  # frame 69: its checksum fails
    forget_inner_chunk(path / "0" / "c" / "2" / "0" / "0", 1)  # frame 129 absent
    code, out = verify(capsys, path)
    assert code == 1 and ": pixels:" not in out  # frames are decoded only when asked
    code, out = verify(capsys, path, "--read-pixels")
    lines = out.splitlines()
    assert code == 1
    assert [line.split(" (")[0] for line in lines if ": pixels: " in line] == [
        f"{path}: pixels: frames 3..4 cannot be decoded",
        f"{path}: pixels: frame 40 cannot be decoded",
        f"{path}: pixels: frame 69 cannot be decoded",
    ]
    assert "checksum does not match" in [line for line in lines if ": pixels: " in line][-1]
    assert sum("missing_frames" in line and "129" in line for line in lines) == 1
    assert lines[-1] == (  # what can be analysed, neither the broken nor the absent frames
        f"{path}: readable: frames 0..2, 5..39, 41..68, 70..128 and 1 more run; analyse "
        f"frames 70..128 alone with `pynta analyze --frames=70:129 {path}`"
    )


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
    store.close()  # its lock gone with it (a live writer's block in flight is no damage)
    report = verify_store(path)
    kinds = [problem.kind for problem in report.problems]
    assert kinds == ["incomplete", "seq"]
    messages = [problem.message for problem in report.problems]
    assert "frames beyond the 4 complete ones (0 +2)" in messages[0]
    # what is readable, and that a failed recording ends so (before: only that they are ignored)
    assert "the 4 complete frames are readable" in messages[0]
    assert "saver died or its disk filled" in messages[0]
    assert "acquisition frames 2..4 never reached the store" in messages[1]
    (note,) = report.notes  # a time that does not go forward is what the camera gave
    assert note.kind == "timestamps" and "do not increase at frames [2] (1 place):" in note.message
    assert "too few steps go forward to measure the frame interval" in note.message


def test_a_failed_recording_closed_by_the_live_pipeline_is_a_note_or_a_mismatch(capsys, tmp_path):
    """The live pipeline records a failed recording's counts in the store's metadata when it
    closes it: verify says so in a note (exit 0), and reports a store that does not hold the
    frames counted as saved."""
    path = tmp_path / "failed.zarr"
    failure = {"reason": "recording stopped: the saver died 4 times", "frames_saved": 5}
    with MovieStore.create(path, (4, 4), "uint8", METADATA) as store:
        store.append(np.ones((5, 4, 4), np.uint8))
        store.update_metadata(recording_failed={**failure, "frames_dropped": 7})
    code, out = verify(capsys, path)
    assert code == 0, out
    assert (
        f"{path}: note: recording: the recording failed (recording stopped: the saver died 4 "
        "times) and was closed then: 5 frames saved, all here; 7 frames dropped" in out
    )
    with MovieStore.open(path, mode="r+") as store:
        store.update_metadata(recording_failed={**failure, "frames_saved": 6})
    report = verify_store(path)
    assert [problem.kind for problem in report.problems] == ["recording"]
    assert "holds 5 frames, but its recording" in report.problems[0].message
    assert "counted 6 frames saved" in report.problems[0].message


def test_times_that_go_back_are_a_note_with_the_interval_the_analysis_uses(capsys, tmp_path):
    """A camera whose clock jumped back (a reset, a counter's wrap) made `pynta verify` fail a
    store whose every frame and time is what the camera gave: the store is sound, and verify
    says where the times go back and which interval the analysis measures instead."""
    path = tmp_path / "jump.zarr"
    times = np.arange(40) * 0.01
    times[20:] -= 0.5
    with MovieStore.create(path, (4, 4), "uint8", METADATA) as store:
        store.append(np.ones((40, 4, 4), np.uint8), timestamps_s=times)
    code, out = verify(capsys, path)
    lines = out.strip().splitlines()
    assert code == 0 and lines[0] == f"{path}: ok, 40 frames"
    assert lines[1].startswith(f"{path}: note: timestamps: timestamps do not increase at frames")
    assert "[20] (1 place): the camera's clock jumped back" in lines[1]
    assert "10 ms, the median of the 38 steps besides the clock's jumps" in lines[1]
    code, out = verify(capsys, path, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["notes"][0]["kind"] == "timestamps"


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


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (
            lambda root: root["pynta"]["metadata"].pop("pixel_size_um"),
            "the OME-NGFF 'ome' attribute gives a pixel size of 0.1 µm where the metadata's "
            "pixel_size_um is missing (zarr.json edited?): one of them is wrong; give the right "
            "value to `pynta analyze` (--pixel-size-um)",
        ),
        (
            lambda root: root["pynta"]["metadata"].update(frame_interval_s=0.02),
            "gives a frame interval of 0.01 s where the metadata's frame_interval_s is 0.02",
        ),
        (lambda root: root.pop("ome"), "the OME-NGFF 'ome' attribute is missing or damaged"),
    ],
)
def test_ome_out_of_step_with_the_metadata_says_what_differs(store_path, edit, said):
    """A store whose pixel_size_um was deleted was told "the OME-NGFF 'ome' attribute does
    not match the metadata (pixel size, frame interval) or is missing", though the ome scale
    still held the pixel size that `pynta analyze` then asked for (x27)."""
    root = json.loads((store_path / "zarr.json").read_text())
    edit(root["attributes"])
    (store_path / "zarr.json").write_text(json.dumps(root))
    (problem,) = verify_store(store_path).problems
    assert problem.kind == "metadata" and said in problem.message, problem.message


def test_a_file_is_refused_as_not_a_store(capsys, tmp_path):
    """A TIFF given to `pynta verify` is not a damaged store (exit 1, "no such directory")
    but the wrong input (exit 2), said as such."""
    path = tmp_path / "movie.tif"
    path.write_bytes(b"II*\x00")
    assert main(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert "movie.tif' is a file, not a pynta store (a *.zarr folder)" in err, err


@pytest.mark.parametrize("given", ["missing", "file", "plain folder"])
def test_json_for_what_is_not_a_store_is_a_report_saying_why(capsys, tmp_path, given):
    """`pynta verify --json` printed nothing on stdout for a missing path (or a file, a plain
    folder), only the error on stderr: a script reading the JSON got an empty document."""
    path = tmp_path / "run.zarr"
    if given == "file":
        path.write_bytes(b"II*\x00")
    elif given == "plain folder":
        path.mkdir()
    code = main(["verify", "--json", str(path)])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 2 and report["ok"] is False and report["path"] == str(path)
    said = {"missing": "does not exist", "file": "is a file", "plain folder": "not a pynta store"}
    assert said[given] in report["error"] and report["error"] in captured.err
    assert report["n_frames"] is None and report["readable_frames"] is None
    assert report["problems"] == [] and report["advice"] is None


def test_json_for_a_command_line_without_a_store_is_a_report_saying_why(capsys):
    """A command line argparse refuses under --json is a report too, ``path`` null."""
    with pytest.raises(SystemExit) as refused:
        main(["verify", "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert refused.value.code == 2 and report["ok"] is False and report["path"] is None
    assert report["error"] == "the following arguments are required: STORE"
    assert f"pynta verify: error: {report['error']}" in captured.err
    assert report["n_frames"] is None and report["problems"] == []


def test_runs_groups_consecutive_indices():
    assert list(runs(np.array([1, 2, 3, 7, 9, 10]))) == [(1, 3), (7, 7), (9, 10)]
    assert list(runs(np.array([], dtype=int))) == []


@pytest.mark.parametrize(
    ("damage", "kind", "said"),
    [
        # before: "ok, 12 frames" (the times read as unknown, NaN, as if none were recorded)
        ("delete timestamps_s", "timestamps", "timestamps_s: 1 of 1 chunks are missing on disk"),
        # before: only "a writer was interrupted ... opening the store for writing drops them"
        ("delete seq", "seq", "seq: 1 of 1 chunks are missing on disk"),
        # before: a ValueError traceback from the codec
        ("cut timestamps_s", "timestamps", "timestamps_s cannot be read: ValueError"),
        ("cut seq", "unreadable", "cannot open pynta movie store"),
    ],
)
def test_damaged_time_and_seq_arrays_are_reported(capsys, store_path, damage, kind, said):
    action, array = damage.split()
    chunk = store_path / array / "c" / "0"
    if action == "delete":
        chunk.unlink()
    else:
        chunk.write_bytes(chunk.read_bytes()[:20])
    code, out = verify(capsys, store_path)
    assert code == 1 and f": {kind}: {said}" in out, out


def test_a_store_missing_a_seq_chunk_is_not_cut_to_nothing_when_opened_for_writing(store_path):
    """Its frames look like a block a writer left incomplete: opening it for writing (as
    `pynta analyze` does to save its tables) dropped all 12 sound frames."""
    (store_path / "seq" / "c" / "0").unlink()
    with pytest.raises(PyntaDataError, match="chunks are missing on disk .seq 1 of 1."):
        MovieStore.open(store_path, mode="r+")
    problem = verify_store(store_path).problems[0]
    assert problem.message.count("+12") == 3  # all still there
    # it said "a writer was interrupted ... opening the store for writing drops them"
    assert "drops them" not in problem.message and "interrupted" not in problem.message
    assert "opening the store for writing is refused" in problem.message


def test_a_plain_folder_is_refused_as_not_a_store(capsys, tmp_path):
    """A folder of frames (or any folder with no store in it) is the wrong input (exit 2, as the
    README promises), not a damaged store (exit 1); the message says what a store is."""
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "frame0.png").write_bytes(b"\x89PNG")
    assert main(["verify", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "frames' is not a pynta store" in err and "zarr.json" in err, err
    assert main(["verify", str(folder), "--json"]) == 2


def test_another_tools_zarr_is_refused_and_a_store_that_lost_its_root_is_damage(
    capsys, store_path, tmp_path
):
    """A zarr group without pynta's attribute is another tool's data (exit 2); a store folder
    whose zarr.json was lost still holds its arrays, so it is damage (exit 1)."""
    other = tmp_path / "other.zarr"
    other.mkdir()
    (other / "zarr.json").write_text(
        json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}})
    )
    assert main(["verify", str(other)]) == 2
    assert "not written by napari-pynta" in capsys.readouterr().err
    (store_path / "zarr.json").unlink()
    code, out = verify(capsys, store_path)
    assert code == 1 and ": unreadable: " in out and "zarr.json is missing" in out, out


def test_a_block_being_written_is_not_reported_as_an_interrupted_writer(capsys, tmp_path):
    """A recording appends pixels before it commits the block's seq: `pynta verify` during a
    recording caught that moment and said "incomplete: a writer was interrupted", exit 1, of a
    recording that was running fine."""
    path = tmp_path / "live.zarr"
    with MovieStore.create(path, (8, 10), "uint16", METADATA) as store:
        store.append(np.ones((20, 8, 10), dtype=np.uint16))
        store.frames.resize((24, 8, 10))  # the next block's pixels, its seq not yet written
        code, out = verify(capsys, path)
        assert code == 0, out
        assert out.strip() == (
            f"{path}: ok, 20 frames (being written by another process: the frames written so "
            "far were checked)"
        )
    report = verify_store(path)  # the writer gone, the same arrays are an interrupted write
    assert [problem.kind for problem in report.problems] == ["incomplete"]


# ------------------------------------------------------------------ the frames that can be analysed
def write_store(path, n_frames):
    frames = np.random.default_rng(1).integers(1, 1000, (n_frames, 8, 10), dtype=np.uint16)
    with MovieStore.create(path, (8, 10), "uint16", METADATA) as store:
        store.append(frames, timestamps_s=np.arange(n_frames) * 0.01)
    return path


def refusal_advice(capsys, path):
    """The --frames that `pynta analyze` advises when it refuses the store (it refuses before
    a frame is analysed)."""
    assert main(["analyze", str(path), "--temperature-c", "22", "--no-save", "--json"]) == 2
    err = capsys.readouterr().err
    return err.split("alone with --frames=")[1].split(";")[0]


def test_a_lost_seq_chunk_names_the_frames_after_it_and_the_command_to_analyse_them(
    capsys, tmp_path
):
    """The frames of a lost seq chunk (4096 a chunk) have no number; verify said which chunk
    was lost but not that frames 4096..4199 can be analysed, nor how."""
    path = write_store(tmp_path / "seq lost.zarr", 4200)
    (path / "seq" / "c" / "0").unlink()
    code, out = verify(capsys, path)
    assert code == 1
    assert out.splitlines()[-1] == (
        f"{path}: readable: frames 4096..4199; analyse them alone with "
        f"`pynta analyze --frames=4096:4200 '{path}'` (`pynta verify --read-pixels '{path}'` "
        "also checks that those frames decode)"
    )
    assert refusal_advice(capsys, path) == "4096:4200"  # what analyze advises, alike
    code, out = verify(capsys, path, "--json")
    report = json.loads(out)
    assert code == 1 and report["readable_frames"] == [[4096, 4200]]
    assert report["advice"] == out_advice(report)


def out_advice(report):
    start, stop = report["readable_frames"][-1]
    return (
        f"readable: frames {start}..{stop - 1}; analyse them alone with "
        f"`pynta analyze --frames={start}:{stop} '{report['path']}'` (`pynta verify "
        f"--read-pixels '{report['path']}'` also checks that those frames decode)"
    )


@pytest.mark.parametrize("damage", ["delete", "index"])
def test_a_lost_or_damaged_shard_names_the_frames_of_the_others(capsys, tmp_path, damage):
    """Frames 64..127 (the second shard) lost, or unfound behind a damaged shard index."""
    path = write_store(tmp_path / "movie.zarr", 200)
    shard = path / "0" / "c" / "1" / "0" / "0"
    if damage == "delete":
        shard.unlink()
    else:
        with open(shard, "r+b") as file:
            file.write(b"\xff\x00")  # the index's first bytes: its checksum no longer matches
    code, out = verify(capsys, path, "--read-pixels")
    assert code == 1
    assert out.splitlines()[-1] == (
        f"{path}: readable: frames 0..63 and 128..199; analyse frames 128..199 alone with "
        f"`pynta analyze --frames=128:200 {path}`"
    )
    assert refusal_advice(capsys, path) == "128:200"
    report = verify_store(path, read_pixels=True).to_dict()
    assert report["readable_frames"] == [[0, 64], [128, 200]]


def test_verify_reads_each_shard_index_once(tmp_path, monkeypatch):
    """The frames on disk and the readable ones come from one read of each shard's index (it
    read them all twice: once for the absent frames, once for the readable ones)."""
    path = write_store(tmp_path / "movie.zarr", 200)
    read = []
    read_index = shards.read_index
    monkeypatch.setattr(
        shards, "read_index", lambda shard, *args: read.append(shard) or read_index(shard, *args)
    )
    (path / "0" / "c" / "1" / "0" / "0").unlink()  # frames 64..127 (a missing index is read too)
    report = verify_store(path)
    assert report.to_dict()["readable_frames"] == [[0, 64], [128, 200]]
    assert sorted(read) == [path / "0" / "c" / str(k) / "0" / "0" for k in range(4)]


def test_frames_that_do_not_decode_are_each_named_and_left_out_of_the_readable_ones(
    capsys, tmp_path
):
    """`pynta analyze` sends the user to `pynta verify --read-pixels` "which lists every frame
    that does not decode": it said "ok" (the frame's error was taken for an absent frame's,
    already reported)."""
    from napari_pynta.shards import index_nbytes

    path = write_store(tmp_path / "movie.zarr", 100)
    shard = path / "0" / "c" / "0" / "0" / "0"
    index = np.frombuffer(shard.read_bytes()[: index_nbytes(64) - 4], dtype="<u8").reshape(-1, 2)
    with open(shard, "r+b") as file:
        for frame in (0, 5, 6):  # their compressed bytes, where the shard's index puts them
            file.seek(int(index[frame, 0]))
            file.write(b"\xff" * 16)
    assert verify(capsys, path)[0] == 0  # the pixels not read: no damage seen
    code, out = verify(capsys, path, "--read-pixels")
    lines = out.splitlines()
    assert code == 1 and len(lines) == 3, out
    assert lines[0].startswith(f"{path}: pixels: frame 0 cannot be decoded (")
    assert lines[1].startswith(f"{path}: pixels: frames 5..6 cannot be decoded (")
    assert lines[2] == (
        f"{path}: readable: frames 1..4 and 7..99; analyse frames 7..99 alone with "
        f"`pynta analyze --frames=7:100 {path}`"
    )
    with MovieStore.open(path) as store:  # the frames said readable do decode
        store.read_frames(7, 100)
        store.read_frames(1, 5)


def test_the_commands_advised_for_a_store_named_with_a_leading_dash_run(
    capsys, tmp_path, monkeypatch
):
    """A relative store path that starts with "-" was advised as it is (shlex.quote leaves it):
    `pynta verify -run.zarr` pasted into a shell is read as an option, and pynta says "the
    following arguments are required: STORE"."""
    import re
    import shlex
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    write_store(tmp_path / "-run.zarr", 200)
    (tmp_path / "-run.zarr" / "0" / "c" / "1" / "0" / "0").unlink()  # frames 64..127
    assert main(["analyze", "--no-save", "--temperature-c", "22", "--", "-run.zarr"]) == 2
    _, err = capsys.readouterr()
    code, out = verify(capsys, "--", "-run.zarr")
    commands = [shlex.split(text) for text in re.findall(r"`(pynta [^`]*)`", err + out)]
    verifies = [command for command in commands if command[1] == "verify" and len(command) > 2]
    analyses = [command for command in commands if command[1] == "analyze"]
    assert verifies and analyses, err + out
    for command in verifies:  # it runs, and finds the damage (1), not a usage error (2)
        assert main(command[1:]) == 1, capsys.readouterr()
    from napari_pynta.cli import build_parser

    for command in analyses:  # the store is its PATH, not an option
        parsed = build_parser().parse_args(command[1:])
        assert (parsed.frame_range.start, parsed.frame_range.stop) == (128, 200), command
        assert [Path(path).resolve() for path in parsed.paths] == [tmp_path / "-run.zarr"]


def test_an_empty_store_is_sound_but_said_to_hold_nothing_to_analyse(capsys, tmp_path):
    """`pynta verify` said "ok, 0 frames" of a store that `pynta analyze` refuses."""
    path = tmp_path / "empty.zarr"
    MovieStore.create(path, (8, 10), "uint16", METADATA).close()
    code, out = verify(capsys, path)
    assert code == 0 and out.splitlines()[0] == f"{path}: ok, 0 frames"
    assert "holds no frame" in out and "nothing to analyse" in out


def test_a_number_stored_as_text_is_damaged_metadata(capsys, store_path):
    """A hand-edited zarr.json holding pixel_size_um "0.1" (text) was "ok" to `pynta verify`,
    while `pynta analyze` of the store ended in a traceback (x24)."""
    root = json.loads((store_path / "zarr.json").read_text())
    root["attributes"]["pynta"]["metadata"]["pixel_size_um"] = "0.1"
    (store_path / "zarr.json").write_text(json.dumps(root))
    code, out = verify(capsys, store_path)
    assert code == 1
    assert "invalid metadata: pixel_size_um must be a number, got '0.1'" in out, out


def test_a_store_inside_the_store_is_named_with_the_risk_without_walking_the_chunks(
    capsys, tmp_path, monkeypatch
):
    """Stores made before pynta refused a store inside a store (9bdd971) may hold one: verify
    said ok, and deleting the outer store deleted the inner recording with it."""
    import os

    import zarr

    outer = tmp_path / "outer.zarr"
    frames = np.random.default_rng(1).integers(1, 1000, (130, 8, 10), dtype=np.uint16)
    with MovieStore.create(outer, (8, 10), "uint16", METADATA) as store:
        store.append(frames, timestamps_s=np.arange(130) * 0.01)
    code, out = verify(capsys, outer)
    assert code == 0 and "note" not in out
    inner = [outer / "b.zarr", outer / "sub" / "c.zarr"]
    for path in inner:  # made by hand, as an older pynta allowed
        zarr.open_group(path, mode="w").attrs["pynta"] = {"format_version": 2, "metadata": {}}
    zarr.open_group(outer / "foreign.zarr", mode="w")  # another program's zarr: no store
    code, out = verify(capsys, outer)
    assert code == 0, out  # the outer store itself is sound
    notes = [line for line in out.splitlines() if "note: store_inside" in line]
    assert len(notes) == 2
    for note, path in zip(notes, inner, strict=True):
        assert f"the pynta store '{path}' lies inside this store" in note
        assert "deletes that recording with it; move it out" in note
    from napari_pynta.store import stores_inside

    looked_into = []
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda folder: looked_into.append(folder) or scandir(folder))
    assert stores_inside(outer) == inner
    chunk_folders = [outer / "0" / "c", outer / "seq" / "c", outer / "timestamps_s" / "c"]
    assert all(folder.is_dir() for folder in chunk_folders)
    assert not {str(p) for p in looked_into} & {str(f) for f in chunk_folders}
    assert outer / "b.zarr" not in map(Path, looked_into)  # a store found is not looked into
    report = verify_store(outer)
    assert [n.kind for n in report.notes] == ["store_inside", "store_inside"]


def _the_one_note(capsys, path, kind: str) -> str:
    """The message of the one note of ``kind`` that `pynta verify --json` gives a sound store."""
    code, out = verify(capsys, path, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"]
    (note,) = report["notes"]
    assert note["kind"] == kind
    return note["message"]


@pytest.mark.parametrize(
    ("dropped", "added", "flags"),
    [
        (["temperature_c"], {}, ["--temperature-c"]),
        # the frame interval that the frame times measure stands for a missing one
        (["frame_interval_s", "exposure_s"], {}, ["--exposure-s"]),
        ([], {"solvent": "glycerol"}, ["--viscosity-pa-s"]),
        # values the analysis refuses: "ok" without a note, then refused by `pynta analyze`
        ([], {"temperature_c": 1e300}, ["--temperature-c"]),
        ([], {"viscosity_pa_s": 100.0}, ["--viscosity-pa-s"]),
    ],
)
def test_a_sound_store_notes_the_metadata_the_analysis_will_ask_for(
    capsys, tmp_path, dropped, added, flags
):
    """A store without a temperature passed `pynta verify` (ok, no note), then `pynta analyze`
    refused it for want of --temperature-c (c25). The note names the flags that `pynta
    analyze` asks for, which its refusal is the truth of."""
    path = tmp_path / "movie.zarr"
    metadata = {**{k: v for k, v in METADATA.items() if k not in dropped}, **added}
    frames = np.random.default_rng(0).integers(1, 1000, (12, 8, 10), dtype=np.uint16)
    with MovieStore.create(path, (8, 10), "uint16", metadata) as store:
        store.append(frames, timestamps_s=np.arange(12) * 0.01)
    message = _the_one_note(capsys, path, "analysis_needs")
    assert f"give {' and '.join(flags)} to `pynta analyze`" in message
    assert main(["analyze", str(path)]) == 2
    refusal = capsys.readouterr().err
    assert all(flag in refusal for flag in flags), refusal
    assert main(["verify", str(path)]) == 0  # a note, not a failure


def test_a_store_inside_another_is_told_so_when_it_is_verified_itself(capsys, tmp_path):
    """`pynta verify OUTER` named the store inside it, but `pynta verify OUTER/inner.zarr` said
    only "ok" (c25): deleting the outer store deletes the recording checked."""
    outer, elsewhere = tmp_path / "outer.zarr", tmp_path / "inner.zarr"
    frames = np.random.default_rng(2).integers(1, 1000, (6, 8, 10), dtype=np.uint16)
    for path in (outer, elsewhere):
        with MovieStore.create(path, (8, 10), "uint16", METADATA) as store:
            store.append(frames, timestamps_s=np.arange(6) * 0.01)
    code, out = verify(capsys, elsewhere)
    assert code == 0 and "note" not in out
    inner = outer / "sub" / "inner.zarr"  # moved in by hand: pynta refuses to create it there
    inner.parent.mkdir()
    shutil.move(elsewhere, inner)
    message = _the_one_note(capsys, inner, "store_inside")
    assert f"this store lies inside the pynta store '{outer}'" in message
    assert "deletes this recording with it" in message
    assert [n.kind for n in verify_store(outer).notes] == ["store_inside"]  # and the outer's


def _frames_shape_edited(path, edit):
    meta_path = path / "0" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["shape"] = edit(meta["shape"])
    meta_path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        # c25: only --read-pixels found these, every frame failing to decode
        (lambda shape: [shape[0], 16, 10], "has frames of 16x10 px in chunks of 8x10 px"),
        (lambda shape: [shape[0], 8, 5], "has frames of 8x5 px in chunks of 8x10 px"),
        # a length edited: frames beyond the times and frame numbers, or short of them
        (lambda shape: [2 * shape[0], 8, 10], "arrays hold frames beyond the 12 complete"),
        (lambda shape: [5, 8, 10], "arrays hold frames beyond the 5 complete ones (timestamps_s"),
    ],
    ids=["taller", "narrower", "longer", "shorter"],
)
def test_a_frames_shape_edited_in_zarr_json_is_found_without_reading_the_pixels(
    capsys, store_path, edit, said
):
    _frames_shape_edited(store_path, edit)
    code, out = verify(capsys, store_path)
    assert code == 1 and said in out, out


@pytest.mark.parametrize(
    ("n_frames", "seq", "lost_seq_chunk", "frame_range", "steps"),
    [
        # the frames after a lost seq chunk: 104 frames, 103 steps less the clock's jump
        (4200, None, True, "4096:4200", 102),
        # a camera that lost frames 30..34: 60 frames, 59 steps less the jump
        (60, np.r_[0:30, 35:65], False, None, 58),
    ],
)
def test_times_that_go_back_are_noted_with_the_interval_that_opening_the_store_measures(
    tmp_path, n_frames, seq, lost_seq_chunk, frame_range, steps
):
    """Verify measured the frame interval on the frames before a lost seq chunk (none when it
    was the first), `open_movie` on every frame with its number: a clock that jumped back
    among the frames after the lost chunk, which the advised `pynta analyze --frames=4096:4200`
    analyses, went unsaid. Verify measures it once, as the reader does."""
    path = tmp_path / "jump.zarr"
    numbers = np.arange(n_frames) if seq is None else seq
    times = numbers * METADATA["frame_interval_s"]  # the interval the store is written with
    jump = n_frames - 50
    times[jump:] -= 5.0  # the camera's clock jumped back
    with MovieStore.create(path, (4, 4), "uint8", METADATA) as store:
        store.append(np.ones((n_frames, 4, 4), np.uint8), seq=numbers, timestamps_s=times)
    if lost_seq_chunk:
        (path / "seq" / "c" / "0").unlink()
    (note,) = verify_store(path).notes
    assert note.kind == "timestamps"
    assert f"do not increase at frames [{jump}] (1 place): the camera's clock" in note.message
    assert (
        f"the analysis uses the frame interval 10 ms, the median of the {steps} steps besides "
        "the clock's jumps" in note.message
    )
    with open_movie(path, frame_range) as movie:  # what `pynta analyze` measures
        assert movie.frame_timing.interval_s == pytest.approx(METADATA["frame_interval_s"])
        assert movie.frame_timing.n_steps == steps


@pytest.mark.parametrize("jump", [50, 4096])
def test_times_that_go_back_only_among_the_frames_without_a_number_are_not_noted(tmp_path, jump):
    """A clock that jumped back among the frames of a lost seq chunk (frame 50), or from its
    last frame to the first numbered one (4096), got the note "timestamps do not increase at
    frames [50] (1 place): , the frames are all there" (no cause: the numbered frames' times,
    which the analysis measures, all go forward) while the reader said nothing. Verify names the
    frames the analysis measures going back, as the reader does: none here."""
    path = tmp_path / "jump.zarr"
    times = np.arange(4200) * METADATA["frame_interval_s"]
    times[jump:] -= 5.0
    with MovieStore.create(path, (4, 4), "uint8", METADATA) as store:
        store.append(np.ones((4200, 4, 4), np.uint8), timestamps_s=times)
    (path / "seq" / "c" / "0").unlink()
    assert [note for note in verify_store(path).notes if note.kind == "timestamps"] == []
    with open_movie(path, show_unnumbered=True) as movie:  # what the viewer shows
        assert movie.frame_timing.n_backward == 0
        assert not any("go back" in text for text in movie.warnings)


@pytest.mark.parametrize(
    ("n_frames", "noted"),
    [
        (200, []),  # every frame in the lost chunk: none has a number
        (4100, [4097]),  # 4 numbered frames after it: 3 steps, too few to measure
    ],
)
def test_times_that_go_back_when_too_few_numbered_frames_measure_are_named_among_those(
    tmp_path, n_frames, noted
):
    """With too few numbered frames to measure the interval, verify named the steps back of
    every finite time, the frames without a number too, and said "too few steps go forward"
    of 196 steps forward in a store whose only seq chunk was lost: a clock's jump among frames
    without a number is noted only when so few others have one, and for a wrong reason. It
    names the numbered frames' steps back alone, as when the interval is measured."""
    path = tmp_path / "jump.zarr"
    times = np.arange(n_frames) * METADATA["frame_interval_s"]
    times[n_frames - 3 :] -= 5.0  # the camera's clock jumped back
    with MovieStore.create(path, (4, 4), "uint8", METADATA) as store:
        store.append(np.ones((n_frames, 4, 4), np.uint8), timestamps_s=times)
    (path / "seq" / "c" / "0").unlink()
    notes = [note.message for note in verify_store(path).notes if note.kind == "timestamps"]
    assert (
        notes
        == [
            f"timestamps do not increase at frames {noted} (1 place): too few steps go forward to "
            "measure the frame interval"
        ][: len(noted)]
    )
