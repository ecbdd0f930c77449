"""`pynta analyze --frames START:STOP`: a part of a movie, with its frames' true numbers and time,
and the readable part of a damaged store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_refusals import json_refusal

from napari_pynta import simulate
from napari_pynta.cli import main
from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.frame_range import FrameRange, frames_analysed, readable_advice
from napari_pynta.readers import open_movie
from napari_pynta.store import MovieStore

N_FRAMES = 300
METADATA_KEYS = ("pixel_size_um", "frame_interval_s", "exposure_s", "temperature_c", "solvent")


@pytest.fixture(scope="module")
def simulated():
    """A 100 nm movie: its frames and the metadata a store keeps."""
    settings = simulate.SimulationSettings(
        shape=(128, 128), n_particles=25, pixel_size_um=0.2, seed=5
    )
    sim = simulate.simulate_movie(N_FRAMES, settings)
    return sim.frames, {key: sim.metadata[key] for key in METADATA_KEYS}


def write_store(path, frames, metadata, **arrays):
    with MovieStore.create(path, frames.shape[1:], frames.dtype, metadata) as store:
        store.append(frames, **arrays)
    return path


@pytest.fixture(scope="module")
def store_path(tmp_path_factory, simulated):
    return write_store(tmp_path_factory.mktemp("part") / "movie.zarr", *simulated)


def analyse(capsys, *argv):
    code = main(["analyze", *map(str, argv), "--no-save"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------------- the range itself
@pytest.mark.parametrize(
    ("text", "n_frames", "expected"),
    [
        ("500:", 2000, (500, 2000)),
        ("500:1500", 2000, (500, 1500)),
        (":1500", 2000, (0, 1500)),
        (":-100", 2000, (0, 1900)),
        ("-100:", 2000, (1900, 2000)),
        (" 3 : 7 ", 10, (3, 7)),
        ("0:10", 10, (0, 10)),
    ],
)
def test_a_range_is_read_as_a_python_slice(text, n_frames, expected):
    assert FrameRange.parse(text).resolve(n_frames, "m.zarr") == expected
    assert (
        list(range(n_frames))[slice(*expected)]
        == list(range(n_frames))[
            slice(*(None if part == "" else int(part) for part in text.split(":")))
        ]
    )


@pytest.mark.parametrize("text", ["", "500", "1:2:3", "a:b", "1.5:3", "::"])
def test_a_range_that_is_no_slice_is_refused_naming_what_is_allowed(text):
    with pytest.raises(PyntaInputError, match=r"^frame_range must be START:STOP \(integers") as e:
        FrameRange.parse(text)
    assert e.value.field == "frame_range"


@pytest.mark.parametrize("text", ["500:2001", "2000:", "700:600", "5:5", "-2001:", ":-2000"])
def test_a_range_outside_the_movie_names_its_length(text):
    with pytest.raises(PyntaInputError) as raised:
        FrameRange.parse(text).resolve(2000, "m.zarr")
    assert str(raised.value) == (
        f"frame_range {text} does not select frames of 'm.zarr', which has 2000 frames: START "
        "and STOP must be in 0..2000 (or -2000..-1, counted back from the end), START before STOP"
    )


@pytest.mark.parametrize("given", [(0, 10), slice(0, 10), 10])
def test_open_movie_refuses_a_range_of_another_type_naming_what_is_allowed(store_path, given):
    """A tuple or slice failed with AttributeError: 'tuple' object has no attribute 'resolve'."""
    with pytest.raises(PyntaInputError, match=r"^frame_range must be START:STOP .* or a Fra"):
        open_movie(store_path, given)


def test_the_readable_frames_are_listed_and_the_longest_run_advised():
    readable = np.ones(200, dtype=bool)
    readable[64:128] = False
    assert readable_advice(readable) == (
        "readable: frames 0..63 and 128..199; analyse frames 128..199 alone with "
        "frame_range=128:200"
    )
    assert readable_advice(np.zeros(5, dtype=bool)) == "no frame can be analysed"


def test_a_part_of_a_store_keeps_the_frame_numbers_of_a_camera_that_lost_frames(tmp_path):
    """Frames 10..29 of a store whose camera lost one frame after every 8th: the steps across
    the gaps keep their true number of frame intervals (counted from the part's first)."""
    frames = np.random.default_rng(0).poisson(100, (40, 8, 10)).astype(np.uint16)
    seq = np.arange(40) + np.arange(40) // 8
    path = write_store(
        tmp_path / "lost.zarr", frames, {"frame_interval_s": 0.01}, timestamps_s=seq * 0.01, seq=seq
    )
    with open_movie(path, "10:30") as part:
        assert part.first_frame == 10
        assert np.array_equal(part.frames.compute(), frames[10:30])
        assert np.array_equal(part.frame_numbers, seq[10:30] - seq[10])
        assert part.metadata["frame_interval_s"] == pytest.approx(0.01)
    with open_movie(path, "1:7") as part:  # no gap inside: consecutive frames
        assert part.frame_numbers is None


# ------------------------------------------------------------------------- pynta analyze --frames
def test_each_half_of_a_movie_sizes_the_truth_and_records_its_frames(capsys, store_path, tmp_path):
    """The halves are sized alone with their own true time: each ensemble diameter is the
    simulated 100 nm within three of its uncertainties; the counts, the summary's frame_range
    and the tables' frame numbers are those of the half."""
    for start, stop in ((0, 150), (150, 300)):
        out_dir = tmp_path / f"part{start}"
        code, out, err = analyse(
            capsys, store_path, "--frames", f"{start}:{stop}", "--json", "--out", out_dir
        )
        assert code == 0, err
        summary = json.loads(out)
        assert summary["n_frames"] == stop - start
        assert summary["frame_range"] == [start, stop]
        assert abs(summary["diameter_nm"] - 100.0) < 3 * summary["diameter_uncertainty_nm"]
        assert summary["n_tracks"] > 20
        for table in ("localizations", "tracks"):
            frames = pd.read_csv(out_dir / f"{table}.csv")["frame"]
            assert frames.min() >= start and frames.max() < stop
            assert frames.max() - frames.min() > 0.9 * (stop - start)
        assert json.loads((out_dir / "summary.json").read_text())["frame_range"] == [start, stop]


def test_the_terminal_summary_names_the_frames_analysed(capsys, store_path):
    code, out, err = analyse(capsys, store_path, "--frames=-60:")  # argparse: '=' before '-'
    assert code == 0, err
    assert "  frames                60 (frames 240..299)\n" in out


def test_the_report_names_the_frames_analysed(capsys, store_path, tmp_path):
    code, _, err = analyse(capsys, store_path, "--frames", "150:", "--report", tmp_path / "r.html")
    assert code == 0, err
    assert "150 (frames 150..299) of 128 × 128 pixels" in (tmp_path / "r.html").read_text()


def test_a_range_beyond_the_movie_is_refused_naming_the_flag(capsys, store_path):
    code, out, err = analyse(capsys, store_path, "--frames", "100:400", "--json")
    assert code == 2 and json_refusal(out, err)
    assert err.strip() == (
        f"pynta analyze: error: --frames 100:400 does not select frames of {str(store_path)!r}, "
        f"which has {N_FRAMES} frames: START and STOP must be in 0..{N_FRAMES} (or "
        f"-{N_FRAMES}..-1, counted back from the end), START before STOP"
    )


def test_a_part_shorter_than_a_track_names_the_frames_analysed_not_the_movie(capsys, store_path):
    """It said "longer than the movie's 2 frames" of a movie of 300."""
    code, out, err = analyse(capsys, store_path, "--frames", "298:", "--json")
    assert code == 2 and json_refusal(out, err)
    assert err.strip().startswith(
        "pynta analyze: error: --min-track-length 10 is longer than the 2 frames analysed: no "
        "track can be sized; analyse at least that many frames (a longer movie or --frames)"
    )


def test_a_range_that_is_no_slice_is_refused_by_the_parser(capsys, store_path):
    with pytest.raises(SystemExit) as raised:
        main(["analyze", str(store_path), "--frames", "100-200"])
    assert raised.value.code == 2
    assert "argument --frames: must be START:STOP (integers" in capsys.readouterr().err


def test_a_local_cluster_analyses_the_same_part_as_the_serial_run(capsys, store_path):
    argv = (store_path, "--frames", "120:220", "--json")
    code, serial_out, err = analyse(capsys, *argv)
    assert code == 0, err
    code, cluster_out, err = analyse(capsys, *argv, "--scheduler", "local", "--workers", "1")
    assert code == 0, err
    assert cluster_out == serial_out
    assert json.loads(serial_out)["frame_range"] == [120, 220]


def test_combined_captures_are_each_analysed_over_the_same_frames(
    capsys, tmp_path, store_path, simulated
):
    """--combine: every capture gives the same frames; a capture too short for them is that
    capture's error, named by the flag."""
    frames, metadata = simulated
    second = write_store(tmp_path / "second.zarr", frames[::-1].copy(), metadata)
    short = write_store(tmp_path / "short.zarr", frames[:100], metadata)
    code, out, err = analyse(
        capsys, store_path, second, "--combine", "--frames", "50:200", "--json"
    )
    assert code == 0, err
    document = json.loads(out)
    summaries = [capture["summary"] for capture in document["captures"]]
    assert [summary["n_frames"] for summary in summaries] == [150, 150]
    assert [summary["frame_range"] for summary in summaries] == [[50, 200], [50, 200]]
    assert document["combined"]["n_captures"] == 2
    assert document["combined"]["pooled"]["n_tracks"] > 20  # pooled on the parts' own frames
    code, out, err = analyse(capsys, store_path, short, "--combine", "--frames", "50:200")
    assert code == 1
    assert f"--frames 50:200 does not select frames of {str(short)!r}, which has 100 frames" in err


def test_the_batch_summary_csv_says_which_frames_each_movie_analysed(
    capsys, tmp_path, store_path, simulated
):
    """Every summary has its frame_range, but summary.csv (what a spreadsheet opens) had no
    column for it: a batch analysed with --frames 50:150 read as whole movies."""
    frames, metadata = simulated
    second = write_store(tmp_path / "second.zarr", frames[::-1].copy(), metadata)
    short = write_store(tmp_path / "short.zarr", frames[:40], metadata)
    out = tmp_path / "out"
    argv = (store_path, second, short, "--frames", "50:150", "--out", out)
    code, _, err = analyse(capsys, *argv)
    assert code == 1, err  # the short movie has no frames 50..149: its row says so
    table = pd.read_csv(out / "summary.csv")
    columns = list(table.columns)
    assert columns[columns.index("n_frames") - 2 :][:3] == ["frame_start", "frame_stop", "n_frames"]
    assert list(table["status"]) == ["ok", "ok", "error"]
    assert table["frame_start"].tolist()[:2] == [50, 50]
    assert table["frame_stop"].tolist()[:2] == [150, 150]
    assert table["n_frames"].tolist()[:2] == [100, 100]
    assert table.iloc[2][["frame_start", "frame_stop", "n_frames"]].isna().all()
    # the same columns as the JSON's frame_range, on every movie's own summary
    for row, folder in zip(table.itertuples(), ("movie", "second"), strict=False):
        summary = json.loads((out / folder / "summary.json").read_text())
        assert summary["frame_range"] == [row.frame_start, row.frame_stop]
    # a whole movie reads 0 and its length
    code, _, err = analyse(capsys, store_path, second, "--out", tmp_path / "whole")
    assert code == 0, err
    whole = pd.read_csv(tmp_path / "whole" / "summary.csv")
    assert whole["frame_start"].tolist() == [0, 0]
    assert whole["frame_stop"].tolist() == [N_FRAMES, N_FRAMES]


# ------------------------------------------------------------------------- damaged stores
def test_the_readable_part_of_a_store_with_a_missing_seq_chunk_is_analysed(
    capsys, tmp_path, simulated
):
    """A deleted seq chunk refused the whole store; the refusal now says which frames are
    readable, and --frames over them analyses those frames (with their numbers and times)."""
    frames, metadata = simulated
    lead = 4096  # the first seq chunk's frames: dark frames, then the simulated movie
    dark = np.full((lead, *frames.shape[1:]), 100, dtype=frames.dtype)
    path = write_store(tmp_path / "damaged.zarr", np.concatenate([dark, frames]), metadata)
    (path / "seq" / "c" / "0").unlink()
    total = lead + N_FRAMES
    code, out, err = analyse(capsys, path, "--json")
    assert code == 2 and json_refusal(out, err)
    assert err.strip() == (
        f"pynta analyze: error: store {str(path)!r} is damaged: seq (the frame numbers) has 1 "
        f"of 2 chunks missing on disk, so only the first 0 of its {total} frames count as "
        f"recorded; readable: frames {lead}..{total - 1}; analyse them alone with "
        f"--frames={lead}:{total}; run `pynta verify {path}` for a full report"
    )
    code, out, err = analyse(capsys, path, f"--frames={lead}:{total}", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["n_frames"] == N_FRAMES and summary["frame_range"] == [lead, total]
    assert abs(summary["diameter_nm"] - 100.0) < 3 * summary["diameter_uncertainty_nm"]
    # a range reaching into the frames without numbers is refused, with the same advice
    code, out, err = analyse(capsys, path, "--frames", f"{lead - 10}:", "--json")
    assert code == 2
    assert f"--frames {lead - 10}:{total} holds frames without one; readable: frames" in err


def test_the_readable_part_of_a_store_with_a_deleted_frames_shard_is_analysed(
    capsys, tmp_path, simulated
):
    frames, metadata = simulated
    path = write_store(tmp_path / "damaged.zarr", frames, metadata)
    (path / "0" / "c" / "1" / "0" / "0").unlink()  # the shard of frames 64..127
    # a part over the damage names the store's (--frames 30:100 said "frames 64..99 missing;
    # readable: frames 0..63; analyse them alone with --frames=0:64", not the longer run)
    for part in ((), ("--frames", "30:100")):
        code, out, err = analyse(capsys, path, *part, "--json")
        assert code == 2 and json_refusal(out, err)
        assert (
            f"is damaged: frames 64..127 (0/c/1/0/0) missing on disk; readable: frames 0..63 and "
            f"128..{N_FRAMES - 1}; analyse frames 128..{N_FRAMES - 1} alone with "
            f"--frames=128:{N_FRAMES}; run `pynta verify {path}`"
        ) in err
    code, out, err = analyse(capsys, path, f"--frames=128:{N_FRAMES}", "--json")
    assert code == 0, err
    assert json.loads(out)["frame_range"] == [128, N_FRAMES]


def test_the_python_api_names_the_range_by_its_own_name(tmp_path, simulated):
    frames, metadata = simulated
    path = write_store(tmp_path / "damaged.zarr", frames[:100], metadata)
    (path / "0" / "c" / "0" / "0" / "0").unlink()  # frames 0..63
    with open_movie(path) as movie, pytest.raises(PyntaDataError) as raised:
        movie.frames.compute()
    assert "readable: frames 64..99; analyse them alone with frame_range=64:100" in str(
        raised.value
    )
    with open_movie(path, "64:100") as part:
        assert np.array_equal(part.frames.compute(), frames[64:100])
    (path / "0" / "c" / "1" / "0" / "0").unlink()
    with open_movie(path) as movie, pytest.raises(PyntaDataError, match="no frame can be analysed"):
        movie.frames.compute()


def test_the_readable_part_of_a_store_with_a_damaged_shard_index_is_analysed(
    capsys, tmp_path, simulated
):
    """A shard whose index checksum fails was named alone ("its index checksum does not
    match"); the refusal now says which frames the other shards hold."""
    frames, metadata = simulated
    path = write_store(tmp_path / "damaged.zarr", frames, metadata)
    with open(path / "0" / "c" / "1" / "0" / "0", "r+b") as shard:  # frames 64..127
        shard.write(b"\xff\x00")  # the first bytes of the index: its checksum no longer matches
    code, out, err = analyse(capsys, path, "--json")
    assert code == 2 and json_refusal(out, err)
    assert (
        "is damaged: its index checksum does not match; readable: frames 0..63 and "
        f"128..{N_FRAMES - 1}; analyse frames 128..{N_FRAMES - 1} alone with "
        f"--frames=128:{N_FRAMES}; run `pynta verify {path}`"
    ) in err
    code, out, err = analyse(capsys, path, f"--frames=128:{N_FRAMES}", "--json")
    assert code == 0, err
    assert json.loads(out)["n_frames"] == N_FRAMES - 128


def test_a_frame_that_does_not_decode_is_named_with_the_way_to_leave_it_out(
    capsys, tmp_path, simulated
):
    from napari_pynta.shards import index_nbytes

    frames, metadata = simulated
    path = write_store(tmp_path / "damaged.zarr", frames[:64], metadata)
    with open(path / "0" / "c" / "0" / "0" / "0", "r+b") as shard:
        shard.seek(index_nbytes(64))  # the first frame's compressed bytes
        shard.write(b"\xff" * 16)
    code, out, err = analyse(capsys, path, "--json")
    assert code == 2 and json_refusal(out, err)
    assert "frame 0 cannot be decoded" in err
    assert (
        f"run `pynta verify --read-pixels {path}` for a full report, which lists every frame "
        "that does not decode, and analyse a part without them with --frames=START:STOP"
    ) in err
    code, out, err = analyse(capsys, path, "--frames=1:", "--json")
    assert code == 0, err


def test_the_frames_analysed_name_the_part_only_when_it_does_not_start_at_the_first():
    assert frames_analysed({"n_frames": 300, "frame_range": [0, 300]}) == "300"
    assert frames_analysed({"n_frames": 150, "frame_range": [0, 150]}) == "150"
    assert frames_analysed({"n_frames": 60, "frame_range": [240, 300]}) == "60 (frames 240..299)"
    assert frames_analysed({"n_frames": 60}) == "60"
