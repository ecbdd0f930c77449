"""A measurement folder is combined over all its captures or refused with a message naming the
folder, the capture or the setting (the analysis itself is tested against `pynta analyze
--combine` in tests/gui/test_measurement_view.py)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.measurement import MEASUREMENT_FILE, capture_path, write_measurement
from napari_pynta.measurement_analysis import check_same_settings, open_captures
from napari_pynta.store import MovieStore

METADATA = {
    "pixel_size_um": 0.2,
    "frame_interval_s": 0.01,
    "exposure_s": 0.01,
    "temperature_c": 22.0,
    "camera": "simulated",
}


def tiny_measurement(folder, metadata_of_capture=(METADATA, METADATA)):
    """A measurement of tiny stores (3 frames of 8 x 8 px), one per metadata dict."""
    folder.mkdir()
    for index, metadata in enumerate(metadata_of_capture, start=1):
        with MovieStore.create(capture_path(folder, index), (8, 8), "uint16", metadata) as store:
            store.append(np.full((3, 8, 8), 100 + index, dtype=np.uint16))
    names = [capture_path(folder, i).name for i in range(1, len(metadata_of_capture) + 1)]
    write_measurement(folder, {"captures": names, "n_captures": len(names)})
    return folder


def test_captures_open_in_order_and_temperature_may_differ(tmp_path):
    warmer = METADATA | {"temperature_c": 24.5}
    folder = tiny_measurement(tmp_path / "m", (METADATA, warmer))
    movies = open_captures(folder)
    assert [int(np.asarray(m.frames[0, 0, 0])) for m in movies] == [101, 102]
    assert movies[1].metadata["temperature_c"] == 24.5


def test_not_a_measurement_and_unreadable_description_are_refused(tmp_path):
    with pytest.raises(PyntaInputError, match="is not a measurement folder: it has no"):
        open_captures(tmp_path)
    folder = tiny_measurement(tmp_path / "m")
    (folder / MEASUREMENT_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(PyntaDataError, match="cannot read"):
        open_captures(folder)


def test_missing_and_foreign_captures_are_named(tmp_path):
    folder = tiny_measurement(tmp_path / "m", (METADATA, METADATA, METADATA))
    shutil.rmtree(capture_path(folder, 3))
    with pytest.raises(PyntaDataError, match=r"capture 3 \(capture-3\.zarr\) of .* is missing"):
        open_captures(folder)
    capture_path(folder, 3).mkdir()  # a folder that is not a store
    with pytest.raises(PyntaDataError, match=r"capture 3 \(capture-3\.zarr\).*not a pynta store"):
        open_captures(folder)


def test_different_settings_are_listed_per_capture(tmp_path):
    other = METADATA | {"pixel_size_um": 0.25, "exposure_s": 0.005}
    folder = tiny_measurement(tmp_path / "m", (METADATA, other))
    with pytest.raises(PyntaDataError) as refused:
        open_captures(folder)
    message = str(refused.value)
    assert "different settings" in message
    assert "pixel_size_um: capture 1 (capture-1.zarr) 0.2, capture 2 (capture-2.zarr) 0.25" in (
        message
    )
    assert "exposure_s: capture 1 (capture-1.zarr) 0.01, capture 2 (capture-2.zarr) 0.005" in (
        message
    )
    assert "frame_interval_s" not in message  # only what differs
    check_same_settings(open_captures(tiny_measurement(tmp_path / "same")))  # no error


def test_frame_intervals_measured_apart_in_their_last_digits_are_the_same_setting(tmp_path):
    """A camera 3 % off its nominal rate: each capture's frame times give its interval
    (napari_pynta.timing), 0.0102989 and 0.0102994 s here, and the measurement was refused as
    recorded with different settings."""
    folder = tmp_path / "m"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for index in (1, 2):
        times = np.arange(40) * 0.0103 + rng.normal(0.0, 2e-5, 40)
        with MovieStore.create(capture_path(folder, index), (8, 8), "uint16", METADATA) as store:
            store.append(np.full((40, 8, 8), 100, dtype=np.uint16), timestamps_s=times)
    write_measurement(folder, {"captures": ["capture-1.zarr", "capture-2.zarr"], "n_captures": 2})
    movies = open_captures(folder)
    intervals = [movie.metadata["frame_interval_s"] for movie in movies]
    assert intervals[0] != intervals[1]  # measured, each its own
    assert intervals == pytest.approx([0.0103, 0.0103], rel=1e-3)
    # 5 % apart is another setting
    faster = tmp_path / "faster"
    faster.mkdir()
    for index, interval in ((1, 0.0103), (2, 0.0108)):
        with MovieStore.create(capture_path(faster, index), (8, 8), "uint16", METADATA) as store:
            times = np.arange(40) * interval
            store.append(np.full((40, 8, 8), 100, dtype=np.uint16), timestamps_s=times)
    write_measurement(faster, {"captures": ["capture-1.zarr", "capture-2.zarr"], "n_captures": 2})
    with pytest.raises(PyntaDataError, match="frame_interval_s: capture 1"):
        open_captures(faster)


def test_analyze_combine_warns_about_captures_with_different_settings(tmp_path, capsys):
    from napari_pynta import simulate
    from napari_pynta.cli import main

    paths = []
    for index, pixel_size_um in enumerate((0.2, 0.25), start=1):
        settings = simulate.SimulationSettings(
            shape=(64, 64), n_particles=10, pixel_size_um=pixel_size_um, seed=index
        )
        movie = simulate.simulate_movie(60, settings)
        path = tmp_path / f"c{index}.zarr"
        with MovieStore.create(path, (64, 64), movie.frames.dtype, movie.metadata) as store:
            store.append(movie.frames)
        paths.append(str(path))
    assert main(["analyze", *paths, "--combine", "--no-save", "--json"]) == 0
    err = capsys.readouterr().err
    assert "warning: the captures were recorded with different settings" in err
    assert "pixel_size_um: capture 1 (c1.zarr) 0.2, capture 2 (c2.zarr) 0.25" in err
    # it said 'cannot be combined' and printed the combined mean ± SE below: say what is done
    assert "cannot be combined" not in err
    assert "combines them anyway" in err


def test_captures_of_different_measurements_are_named():
    """`pynta analyze a.zarr b.zarr --combine` over captures of two measurements (an earlier
    run's capture left in the folder) combined them without a word."""
    from types import SimpleNamespace

    from napari_pynta.measurement_analysis import mixed_measurements

    def movie(name, measurement_id):
        return SimpleNamespace(source=f"/m/{name}", metadata={"measurement_id": measurement_id})

    same = [movie("capture-1.zarr", "aa11"), movie("capture-2.zarr", "aa11")]
    assert mixed_measurements(same) is None
    assert mixed_measurements([movie("x.zarr", None), movie("y.zarr", None)]) is None
    mixed = mixed_measurements([*same, movie("capture-3.zarr", "bb22")])
    assert mixed is not None and "2 measurements" in mixed
    assert "capture 3 (capture-3.zarr) bb22" in mixed and "capture 1 (capture-1.zarr) aa11" in mixed


def test_captures_a_measurement_never_recorded_are_named():
    """A measurement stopped with Ctrl-C during its second of three captures was combined "over
    2 captures" without a word that capture 3 was never recorded (x27)."""
    from types import SimpleNamespace

    from napari_pynta.measurement_analysis import missing_captures

    def movie(index, n_captures=3, measurement_id="aa11"):
        metadata = {"measurement_id": measurement_id, "capture_index": index}
        return SimpleNamespace(metadata={**metadata, "n_captures": n_captures})

    assert missing_captures([movie(1), movie(2), movie(3)]) is None
    assert missing_captures([movie(1), movie(2)]) == (
        "the measurement was to have 3 captures, and capture 3 is not among these (the "
        "recording stopped before its end, or a capture was left out): the mean ± SE rest on 2 "
        "of them"
    )
    assert "captures 1, 3 are not among" in missing_captures([movie(2)])
    plain = SimpleNamespace(metadata={})
    assert missing_captures([plain, plain]) is None  # recordings outside a measurement
    assert missing_captures([movie(1), movie(2, measurement_id="bb22")]) is None  # mixed: said


def test_analyze_combine_warns_of_a_measurement_stopped_before_its_last_capture(tmp_path, capsys):
    from napari_pynta import simulate
    from napari_pynta.cli import main

    settings = simulate.SimulationSettings(shape=(64, 64), n_particles=10, seed=1)
    movie = simulate.simulate_movie(40, settings)
    folder = tmp_path / "measurement"
    folder.mkdir()
    for index in (1, 2):
        metadata = {**movie.metadata, "measurement_id": "aa11", "capture_index": index}
        metadata["n_captures"] = 3
        path = capture_path(folder, index)
        with MovieStore.create(path, (64, 64), movie.frames.dtype, metadata) as store:
            store.append(movie.frames)
    names = [capture_path(folder, index).name for index in (1, 2)]
    write_measurement(folder, {"captures": names, "n_captures": 3})
    code = main(["analyze", str(folder), "--combine", "--no-save", "--min-track-length", "5"])
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: the measurement was to have 3 captures, and capture 3 is not among" in err


@pytest.mark.parametrize("outside", ["../elsewhere/capture-2.zarr", "ABSOLUTE"])
def test_a_capture_listed_outside_the_measurement_folder_is_refused_by_name(
    tmp_path, outside, capsys
):
    """measurement.json that lists a store outside its folder (``../`` or an absolute path) was
    combined with it, so a measurement copied elsewhere lost or changed a capture (x28)."""
    from napari_pynta.cli import main

    folder = tiny_measurement(tmp_path / "m")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(capture_path(folder, 2), elsewhere / "capture-2.zarr")
    entry = str(elsewhere / "capture-2.zarr") if outside == "ABSOLUTE" else outside
    write_measurement(folder, {"captures": ["capture-1.zarr", entry], "n_captures": 2})
    message = f"{MEASUREMENT_FILE} lists {entry!r}, which is not inside"
    with pytest.raises(PyntaDataError, match=re.escape(message)):
        open_captures(folder)
    assert main(["analyze", str(folder), "--combine", "--no-save"]) == 2
    assert message in capsys.readouterr().err


def test_a_capture_in_a_subfolder_of_the_measurement_is_kept(tmp_path):
    folder = tiny_measurement(tmp_path / "m")
    (folder / "day-1").mkdir()
    shutil.move(capture_path(folder, 2), folder / "day-1" / "capture-2.zarr")
    write_measurement(folder, {"captures": ["capture-1.zarr", "day-1/capture-2.zarr"]})
    movies = open_captures(folder)
    assert [int(np.asarray(m.frames[0, 0, 0])) for m in movies] == [101, 102]


def test_a_capture_cut_short_is_named_with_its_frames_against_the_plan(tmp_path, capsys):
    """A capture of a measurement of 3 × 40 frames that holds 25 (its recording stopped early)
    had no marker and was weighted as a whole one by `pynta analyze --combine`, and `pynta
    verify` said nothing of it (x28)."""
    from napari_pynta import simulate
    from napari_pynta.cli import main

    settings = simulate.SimulationSettings(shape=(64, 64), n_particles=10, seed=1)
    movie = simulate.simulate_movie(40, settings)
    folder = tmp_path / "measurement"
    folder.mkdir()
    for index, n_frames in ((1, 40), (2, 40), (3, 25)):
        metadata = {**movie.metadata, "measurement_id": "aa11", "capture_index": index}
        metadata["n_captures"] = 3
        path = capture_path(folder, index)
        with MovieStore.create(path, (64, 64), movie.frames.dtype, metadata) as store:
            store.append(movie.frames[:n_frames])
    names = [capture_path(folder, index).name for index in (1, 2, 3)]
    plan = {"measurement_id": "aa11", "captures": names, "n_captures": 3, "frames": 40}
    write_measurement(folder, {**plan, "seconds": None})
    code = main(["analyze", str(folder), "--combine", "--no-save", "--min-track-length", "5"])
    assert code == 0
    err = capsys.readouterr().err
    said = "warning: capture 3 (capture-3.zarr) holds 25 of the 40 frames its measurement planned"
    assert said in err, err
    assert "capture 1 (capture-1.zarr) holds" not in err and "capture 2 (" not in err

    assert main(["verify", str(capture_path(folder, 3))]) == 0
    out = capsys.readouterr().out
    assert "holds 25 of the 40 frames its measurement planned" in out, out
    assert main(["verify", str(capture_path(folder, 1))]) == 0
    assert "planned" not in capsys.readouterr().out

    # planned as seconds: 0.3 s at the movie's 10 ms interval is 30 frames; 25 are short
    write_measurement(folder, {**plan, "frames": None, "seconds": 0.3})
    main(["analyze", str(folder), "--combine", "--no-save", "--min-track-length", "5"])
    err = capsys.readouterr().err
    assert "capture 3 (capture-3.zarr) holds 25 of the 30 frames its measurement planned" in err


def test_verify_checks_every_capture_of_a_measurement_folder(tmp_path, capsys):
    """`pynta verify FOLDER` on a measurement folder refused it as "not a pynta store" (exit 2),
    so a measurement could not be checked as a whole; each listed capture is now checked, a
    capture gone from disk and a damaged one are named, and the exit code is the worst."""
    import json

    from napari_pynta.cli import main

    folder = tiny_measurement(tmp_path / "m", (METADATA, METADATA, METADATA))
    assert main(["verify", str(folder)]) == 0
    out = capsys.readouterr().out
    for index in (1, 2, 3):
        assert f"{capture_path(folder, index)}: ok, 3 frames" in out, out
    assert main(["verify", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and [c["n_frames"] for c in report["captures"]] == [3, 3, 3]

    shutil.rmtree(capture_path(folder, 2))
    (frame_chunk,) = [p for p in (capture_path(folder, 3) / "0" / "c").rglob("*") if p.is_file()]
    frame_chunk.unlink()
    assert main(["verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"{capture_path(folder, 1)}: ok, 3 frames" in out, out
    assert f"{capture_path(folder, 2)}: missing:" in out, out
    damaged = [line for line in out.splitlines() if line.startswith(str(capture_path(folder, 3)))]
    assert damaged[0].endswith(")") and ": missing_frames: no data on disk" in damaged[0], out
    assert main(["verify", str(folder), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [c["ok"] for c in report["captures"]] == [True, False, False]
    assert report["captures"][1]["error"] and not report["ok"]
