"""`pynta simulate` end to end through the `pynta` entry point."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from napari_pynta.cli import main
from napari_pynta.readers import open_movie
from napari_pynta.simulate import Population, SimulationSettings, simulate_movie
from napari_pynta.store import MovieStore


def test_simulate_writes_the_movie_truth_and_metadata(tmp_path, capsys):
    out, csv = tmp_path / "movie.zarr", tmp_path / "truth.csv"
    code = main(
        [
            "simulate",
            str(out),
            "--frames",
            "70",
            "--shape",
            "48",
            "64",
            "--particles",
            "6",
            "--diameter-nm",
            "150",
            "--exposure-s",
            "0.005",
            "--temperature-c",
            "25",
            "--seed",
            "3",
            "--truth-csv",
            str(csv),
        ]
    )
    assert code == 0
    assert "70 frames" in capsys.readouterr().out
    # the same settings through the library give the same movie
    expected = simulate_movie(
        70,
        SimulationSettings(
            shape=(48, 64),
            n_particles=6,
            populations=(Population(150.0),),
            exposure_s=0.005,
            temperature_c=25.0,
            seed=3,
        ),
    )
    store = MovieStore.open(out)
    assert store.n_frames == 70 and store.frames.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(store.frames[:]), expected.frames)
    np.testing.assert_allclose(store.timestamps_s, np.arange(70) * 0.01)
    truth = store.read_table("truth")
    pd.testing.assert_frame_equal(truth, expected.truth, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_csv(csv), expected.truth, check_dtype=False)
    metadata = store.metadata
    assert metadata["exposure_s"] == 0.005 and metadata["frame_interval_s"] == 0.01
    assert metadata["temperature_c"] == 25.0 and metadata["pixel_size_um"] == 0.1
    assert metadata["viscosity_pa_s"] == pytest.approx(0.8900e-3, rel=1e-3)
    assert metadata["solvent"] == "water" and metadata["camera"] == "simulated"
    assert SimulationSettings.from_dict(metadata["camera_settings"]).seed == 3


def test_simulate_a_mixture_in_a_custom_medium(tmp_path):
    out = tmp_path / "mixture.zarr"
    code = main(
        [
            "simulate",
            str(out),
            "--frames",
            "5",
            "--shape",
            "32",
            "32",
            "--particles",
            "20",
            "--diameter-nm",
            "60",
            "200",
            "--fraction",
            "0.25",
            "0.75",
            "--sigma-log",
            "0.1",
            "--viscosity-pa-s",
            "0.002",
            "--seed",
            "1",
        ]
    )
    assert code == 0
    store = MovieStore.open(out)
    settings = SimulationSettings.from_dict(store.metadata["camera_settings"])
    assert settings.populations == (Population(60.0, 0.25, 0.1), Population(200.0, 0.75, 0.1))
    assert store.metadata["viscosity_pa_s"] == 0.002 and store.metadata["solvent"] is None
    diameters = store.read_table("truth")["diameter_nm"]
    assert diameters.min() < 100 < diameters.max()


def test_existing_store_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "movie.zarr"
    arguments = ["simulate", str(out), "--frames", "2", "--shape", "16", "16", "--seed", "1"]
    assert main(arguments) == 0
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert "already exists" in error and "--overwrite" in error  # the flag, not Python's keyword
    assert main([*arguments, "--overwrite", "--frames", "3"]) == 0
    assert MovieStore.open(out).n_frames == 3


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--diameter-nm", "60", "200", "--fraction", "1"], "--fraction"),
        (["--frames", "0"], "--frames"),
        (["--temperature-c", "150"], "--temperature-c must be within 0..100 °C"),
        (["--exposure-s", "0.5"], "--exposure-s must be > 0 and at most --frame-interval-s"),
        (["--particles", "-1"], "--particles must be an integer >= 0"),
        (["--diameter-nm", "-5"], "--diameter-nm must be in [1, 10000] (nm)"),
        # accepted before (b23): a movie of particles no NTA could see move, or none at all
        (["--diameter-nm", "1e9"], "--diameter-nm must be in [1, 10000] (nm), got 1000000000.0"),
        (["--viscosity-pa-s", "1e9"], "--viscosity-pa-s must be in [0.0001, 10] (Pa·s)"),
        (["--viscosity-pa-s", "1e-9"], "--viscosity-pa-s must be in [0.0001, 10] (Pa·s)"),
        (
            ["--temperature-c", "-200", "--viscosity-pa-s", "0.002"],
            "--temperature-c must be in [-20, 150] (°C)",
        ),
        # named by its field, not its flag, before
        (["--sigma-log", "50"], "--sigma-log must be in [0, 1.5], got 50.0"),
        (["--truth-csv", "/nonexistent-folder/truth.csv"], "--truth-csv"),
    ],
)
def test_bad_arguments_exit_2_naming_the_field(tmp_path, capsys, arguments, named):
    out = tmp_path / "bad.zarr"
    assert main(["simulate", str(out), "--shape", "16", "16", *arguments]) == 2
    assert named in capsys.readouterr().err
    assert not out.exists()


def test_a_truth_csv_that_cannot_be_written_is_refused_before_simulating(tmp_path, capsys):
    out = tmp_path / "movie.zarr"
    argv = ["simulate", str(out), "--shape", "16", "16", "--frames", "2", "--truth-csv"]
    assert main([*argv, str(tmp_path)]) == 2  # a folder, not a file
    assert "--truth-csv" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("inside", ["", "truth.csv"])
def test_a_truth_csv_in_the_store_is_refused_before_simulating(tmp_path, capsys, inside):
    """`--truth-csv OUT.zarr` wrote the store, then failed on the CSV ("Is a directory") with
    exit 2 and the store left; `--truth-csv OUT.zarr/truth.csv --overwrite` put the CSV among
    the store's files, which the next --overwrite deletes (x27)."""
    out = tmp_path / "movie.zarr"
    argv = ["simulate", str(out), "--shape", "16", "16", "--frames", "2", "--overwrite"]
    if inside:  # replacing an earlier store
        assert main(argv) == 0
        before = sorted(path.name for path in out.iterdir())
    assert main([*argv, "--truth-csv", str(out / inside)]) == 2
    assert "is or lies in OUT.zarr" in capsys.readouterr().err
    if inside:  # the earlier store untouched, no CSV among its files
        assert sorted(path.name for path in out.iterdir()) == before
    else:
        assert not out.exists()


@pytest.mark.parametrize("name", ["movie", "movie.tif", "movie.zarr.txt"])
def test_an_out_path_that_is_not_a_zarr_folder_is_refused(tmp_path, capsys, name):
    """A store named like a TIFF is a folder that every reader then takes for a broken TIFF."""
    code = main(["simulate", str(tmp_path / name), "--shape", "16", "16", "--frames", "2"])
    assert code == 2 and "must end in .zarr" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_overwrite_refuses_a_folder_that_is_not_a_pynta_store(tmp_path, capsys):
    folder = tmp_path / "data.zarr"
    folder.mkdir()
    (folder / "keep.txt").write_text("unrelated")
    code = main(["simulate", str(folder), "--overwrite", "--frames", "2", "--shape", "16", "16"])
    assert code == 2 and "not a pynta store" in capsys.readouterr().err
    assert [p.name for p in tmp_path.rglob("*")] == ["data.zarr", "keep.txt"]
    assert (folder / "keep.txt").read_text() == "unrelated"


def test_too_big_a_simulation_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "big.zarr"
    code = main(["simulate", str(out), "--particles", "10000000", "--frames", "200"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--particles 10000000" in err and "GB of memory; the limit is" in err
    assert list(tmp_path.iterdir()) == []


def test_a_long_exposure_is_refused_for_its_memory_not_killed(tmp_path, capsys):
    """`--frame-interval-s 1e6` (a second typed as a microsecond the wrong way round) was
    estimated at a few MB and then asked numpy for 33 GB to render one particle smeared over
    67000 px: the OOM killer ended the run (and could have ended another program)."""
    out = tmp_path / "long.zarr"
    argv = ["simulate", str(out), "--frames", "20", "--shape", "32", "32"]
    assert main([*argv, "--frame-interval-s", "1e6"]) == 2
    err = capsys.readouterr().err
    assert "with each particle smeared over" in err and "in one exposure of 1e+06 s" in err
    assert err.rstrip().endswith("or a shorter --exposure-s or --frame-interval-s")
    assert list(tmp_path.iterdir()) == []


def test_the_render_window_estimate_holds_the_windows_rendered(monkeypatch):
    """The memory estimate's window is at least as wide as those the scene renders, and not
    wildly wider (it would refuse simulations that fit)."""
    from napari_pynta import simulate
    from napari_pynta.cli.simulate import render_window_px
    from napari_pynta.simulate import BrownianScene, SimulationSettings

    widths = []
    render = simulate._render_windows

    def recorded(*args):
        corners, windows = render(*args)
        widths.append(windows.shape[1])
        return corners, windows

    monkeypatch.setattr(simulate, "_render_windows", recorded)
    for interval_s in (0.01, 1.0):
        settings = SimulationSettings(shape=(32, 32), frame_interval_s=interval_s, seed=4)
        scene = BrownianScene(settings)
        widths.clear()
        for _ in range(20):
            scene.next_frame()
        estimate = render_window_px(settings)
        assert max(widths) <= estimate <= 3 * max(widths), (interval_s, widths, estimate)


def test_interrupted_simulation_leaves_no_store_and_keeps_the_old_one(tmp_path, monkeypatch):
    from napari_pynta.simulate import BrownianScene

    out = tmp_path / "movie.zarr"
    argv = ["simulate", str(out), "--frames", "70", "--shape", "16", "16", "--particles", "2"]
    assert main(argv) == 0
    produced = []
    original = BrownianScene.next_frame

    def interrupted(self):
        if len(produced) == 66:  # after one block of frames was written
            raise KeyboardInterrupt
        produced.append(1)
        return original(self)

    monkeypatch.setattr(BrownianScene, "next_frame", interrupted)
    assert main([*argv, "--overwrite", "--seed", "9"]) == 130
    assert [p.name for p in tmp_path.iterdir()] == ["movie.zarr"]  # no partial store left
    assert MovieStore.open(out).n_frames == 70  # the old movie is untouched


def test_sigterm_leaves_no_partial_store(tmp_path):
    """SIGTERM (`kill`, `timeout`) cleans up like Ctrl-C: before, the process ended at once and
    left its hidden ``.movie.zarr.partial-PID`` folder behind."""
    out = tmp_path / "movie.zarr"
    command = [sys.executable, "-m", "napari_pynta.cli", "simulate", str(out), "--frames"]
    command += ["100000", "--shape", "64", "64", "--particles", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".movie.zarr.partial-*/0")) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, err.decode()
    assert "terminated" in err.decode()
    assert list(tmp_path.iterdir()) == []


def test_an_upper_case_zarr_extension_is_accepted_as_the_readers_accept_it(tmp_path, capsys):
    """`pynta simulate run.ZARR` was refused ("must end in .zarr") although `open_movie` and
    the napari reader open a store named so."""
    out = tmp_path / "run.ZARR"
    assert main(["simulate", str(out), "--shape", "16", "16", "--frames", "3"]) == 0
    assert open_movie(out).frames.shape == (3, 16, 16)
    assert main(["simulate", str(tmp_path / "run.zar"), "--shape", "16", "16"]) == 2
    assert "must end in .zarr" in capsys.readouterr().err


def test_one_frame_is_said_as_one(tmp_path, capsys):
    """`pynta simulate --frames 1` said "wrote 1 frames" (x28)."""
    out = tmp_path / "one.zarr"
    assert main(["simulate", str(out), "--frames", "1", "--shape", "32", "32"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote 1 frame of 32x32 px to {out}:")
