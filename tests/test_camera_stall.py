"""A camera that stops delivering mid-run: said, counted, and `--frames N` never hangs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from process_group import own_process_group, signal_and_wait

# the fixture asserting that every test leaves no worker process behind
from test_live_pipeline import no_leftover_processes  # noqa: F401

from napari_pynta.cli import main
from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.live import LiveConfig, LivePipeline, supervisor
from napari_pynta.store import MovieStore
from napari_pynta.verify import verify_store

TESTS = Path(__file__).parent

#: the stalling test camera, registered for the pipeline's workers too (they inherit the
#: environment, and the tests folder is on their sys.path)
CAMERAS_ENV = "stalling=stalling_camera:StallingCamera"
OPTIONS = ["--camera-option", "shape=32,32", "--camera-option", "n_particles=2"]


def _acquire(tmp_path, capsys, *options):
    out = tmp_path / "run.zarr"
    argv = ["acquire", "--camera", "stalling", *OPTIONS, *options]
    code = main([*argv, "--fps", "100", "--frames", "120", "--out", str(out), "--json"])
    printed = capsys.readouterr()
    with MovieStore.open(out) as store:
        seq = np.asarray(store.seq)
    return code, json.loads(printed.out), printed.err, seq


def test_a_camera_silent_for_a_while_is_said_and_the_run_completes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PYNTA_CAMERAS", CAMERAS_ENV)
    code, result, err, seq = _acquire(tmp_path, capsys, "--camera-option", "pause_s=1.5")
    assert result["frames_acquired"] == result["frames_saved"] == len(seq) == 120
    np.testing.assert_array_equal(seq, np.arange(120))
    assert result["camera_pauses"] == 1
    assert re.search(r"the camera sent no frame for 1\.[5-9] s \(after frame 49\)", err), err
    assert code == 0  # every frame asked for is on disk


def test_a_read_starved_of_cpu_is_no_camera_pause_and_a_real_pause_still_is(
    tmp_path, capsys, monkeypatch
):
    """The read of frame 30 waits seconds for a CPU (its thread behind a busy process, see
    ``StallingCamera``); the camera pauses for real for 1.5 s after frame 59. Before, the starved
    read was reported as "the camera sent no frame for 3.4 s (after frame 29)" (a loaded machine
    made such false pauses); now only the real one is."""
    monkeypatch.setenv("PYNTA_CAMERAS", CAMERAS_ENV)
    options = ["--camera-option", "starve_at=30", "--camera-option", "stall_at=60"]
    # the starved read lasts longer the more the machine runs beside it: a driver buffer of 100 s
    # keeps every frame meanwhile (at load 22 it lasted 12 s, and the default 5 s buffer lost some)
    options += ["--camera-option", "buffer_frames=10000"]
    code, result, err, seq = _acquire(tmp_path, capsys, *options)
    assert result["frames_acquired"] == result["frames_saved"] == len(seq) == 120
    np.testing.assert_array_equal(seq, np.arange(120))
    assert "after frame 29" not in err, err
    assert re.search(r"the camera sent no frame for 1\.[5-9] s \(after frame 59\)", err), err
    assert result["camera_pauses"] == 1
    assert code == 0


def test_a_camera_that_never_comes_back_ends_the_run_in_order(tmp_path, capsys, monkeypatch):
    """Before, the backend's timeout killed the acquisition worker: 'acquisition failed:
    PyntaDataError ...' with a traceback, the frames it still held for the saver lost."""
    monkeypatch.setenv("PYNTA_CAMERAS", CAMERAS_ENV)
    code, result, err, seq = _acquire(tmp_path, capsys, "--camera-option", "never=True")
    assert result["frames_acquired"] == result["frames_saved"] == len(seq) == 50
    np.testing.assert_array_equal(seq, np.arange(50))
    assert result["dead_workers"] == [] and result["frames_dropped"] == 0
    assert result["camera_failed"] == "stalling camera sent no frame for 1.0 s"
    assert "the camera stopped delivering after 50 of 120 frames" in err
    assert code == 1  # the run did not get the frames it asked for


def test_a_malformed_camera_registration_is_refused_naming_the_variable(monkeypatch):
    from napari_pynta.cameras import open_camera
    from napari_pynta.errors import PyntaInputError

    monkeypatch.setenv("PYNTA_CAMERAS", "stalling")
    with pytest.raises(PyntaInputError, match="PYNTA_CAMERAS must be name=module:Class entries"):
        open_camera("simulated")


def _stalling_subprocess_env(monkeypatch) -> None:
    """``pynta acquire`` in a subprocess finds the stalling camera (and this checkout)."""
    monkeypatch.setenv("PYNTA_CAMERAS", CAMERAS_ENV)
    paths = [str(TESTS), str(TESTS.parent / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))


def _acquire_command(out, *options) -> list[str]:
    return [
        sys.executable,
        "-m",
        "napari_pynta.cli",
        "acquire",
        "--camera",
        "stalling",
        *OPTIONS,
        *options,
        "--fps",
        "100",
        "--frames",
        "120",
        "--out",
        str(out),
        "--json",
    ]


@pytest.mark.slow
def test_a_camera_whose_read_never_returns_ends_the_run_in_order(tmp_path, monkeypatch):
    """Before, a backend blocking forever in its read (no timeout of its own) hung `pynta
    acquire --frames N` for ever, without a word. Now the acquisition notices it (no frame
    for the camera timeout: 10 s at 100 fps), says so and ends the run as a backend's own
    timeout does: every frame delivered is on disk, the counters equal the store, rc 1."""
    _stalling_subprocess_env(monkeypatch)
    out = tmp_path / "run.zarr"
    done = subprocess.run(
        _acquire_command(out, "--camera-option", "hang=true"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    with MovieStore.open(out) as store:
        seq = np.asarray(store.seq)
    assert result["frames_acquired"] == result["frames_saved"] == len(seq) == 50
    np.testing.assert_array_equal(seq, np.arange(50))
    assert result["dead_workers"] == [] and result["frames_dropped"] == 0
    assert re.fullmatch(
        r"the \w+ camera's read has not returned for 1\d\.\d s \(camera timeout 10 s\)",
        result["camera_failed"],
    ), result["camera_failed"]
    assert "the camera stopped delivering after 50 of 120 frames" in done.stderr
    assert verify_store(out, read_pixels=True).ok


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_while_the_camera_is_silent_takes_effect_at_once(tmp_path, monkeypatch, signum):
    """Before, Ctrl-C (or SIGTERM) while the camera was silent waited for its read to return
    (a backend's 5 s timeout; here a 100 s pause): the run ended only after it. Now the stop
    is served while the read waits: the run ends in order at once, every frame is kept."""
    _stalling_subprocess_env(monkeypatch)
    out = tmp_path / "run.zarr"
    command = _acquire_command(out, "--camera-option", "pause_s=100", "--camera-timeout-s", "300")
    with own_process_group(command) as process:
        deadline = time.monotonic() + 120
        while _frames_on_disk(out) < 50 and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1].decode()
            time.sleep(0.2)
        time.sleep(0.5)  # the camera is silent
        stdout, stderr, took_s = signal_and_wait(process, signum)
    assert process.returncode == 128 + signum, stderr.decode()
    assert took_s < 50  # the camera's 100 s pause was not waited for
    result = json.loads(stdout)
    with MovieStore.open(out) as store:
        seq = np.asarray(store.seq)
    assert result["frames_acquired"] == result["frames_saved"] == len(seq) == 50
    np.testing.assert_array_equal(seq, np.arange(50))
    assert result["dead_workers"] == [] and result["camera_failed"] is None
    assert "the camera's read had not returned when the pipeline stopped" in stderr.decode()
    assert verify_store(out, read_pixels=True).ok


def _frames_on_disk(path) -> int:
    """Frames in the store being recorded at ``path`` (0 before it exists)."""
    if not (path / "seq").exists():
        return 0
    with warnings.catch_warnings():  # "being written by another process"
        warnings.simplefilter("ignore")
        with MovieStore.open(path) as store:
            return int(store.n_frames)


@pytest.mark.slow
def test_a_hung_camera_ends_a_tracked_run_after_the_chosen_timeout(tmp_path, monkeypatch):
    """``camera_timeout_s`` chooses the bound; the tracked frames add up and the status says
    why the run ended (what the GUI shows, through the pipeline's error events)."""
    monkeypatch.setenv("PYNTA_CAMERAS", CAMERAS_ENV)
    path = tmp_path / "run.zarr"
    config = LiveConfig(
        camera="stalling",
        camera_settings=dict(shape=(64, 64), n_particles=5, fps=100.0, hang=True, stall_at=80),
        n_frames=200,
        record_path=str(path),
        detection={"minmass": 300.0},
        search_range_px=5.0,
        hot_pixels=[],
        camera_timeout_s=1.0,
    )
    errors = []
    pipeline = LivePipeline(config)
    pipeline.events.error.connect(errors.append)
    with pipeline:
        assert pipeline.wait_finished(120)
    final = pipeline.stop()
    with MovieStore.open(path) as store:
        assert store.n_frames == final.frames_saved == final.frames_acquired == 80
    assert final.frames_tracked + final.frames_untracked == 80
    assert final.finished and final.dead_workers == [] and final.frames_dropped == 0
    assert re.fullmatch(
        r"the \w+ camera's read has not returned for 1\.\d s \(camera timeout 1 s\)",
        final.camera_failed,
    ), final.camera_failed
    said = "acquisition: the camera stopped delivering after 80 of 200 frames"
    assert any(error.startswith(said) for error in errors), errors
    assert any("the camera was not closed" in error for error in final.errors), final.errors


def test_a_camera_timeout_that_is_not_a_positive_number_is_refused(capsys):
    code = main(["acquire", "--frames", "10", "--camera-timeout-s", "0"])
    assert code == 2
    assert "--camera-timeout-s must be" in capsys.readouterr().err
    with pytest.raises(PyntaInputError, match="camera_timeout_s must be"):
        LiveConfig(camera_timeout_s=float("nan")).validate()


MISBEHAVING_ENV = "misbehaving=stalling_camera:MisbehavingCamera"


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("bad_shape=40,40", "frame 50 is 40x40 uint16, the camera announced 32x32 uint16"),
        ("bad_dtype=float32", "frame 50 is 32x32 float32, the camera announced 32x32 uint16"),
    ],
)
def test_a_frame_of_another_shape_or_dtype_ends_the_run_in_order(
    tmp_path, capsys, monkeypatch, option, said
):
    """Before, the saver dropped each such frame as a bad message, the run waited 20 s for the
    saver's stall timeout and ended with 70 of 120 frames dropped ("saver made no progress")."""
    monkeypatch.setenv("PYNTA_CAMERAS", MISBEHAVING_ENV)
    out = tmp_path / "run.zarr"
    argv = ["acquire", "--camera", "misbehaving", *OPTIONS, "--camera-option", "bad_at=50"]
    code = main([*argv, "--camera-option", option, "--frames", "120", "--out", str(out), "--json"])
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    with MovieStore.open(out) as store:
        np.testing.assert_array_equal(store.seq, np.arange(50))
    assert result["frames_acquired"] == result["frames_saved"] == 50
    assert result["frames_dropped"] == 0 and result["camera_failed"] == said
    assert "the camera delivered a frame it did not announce after 50 of 120 frames" in printed.err
    assert code == 1


def test_a_camera_read_that_raises_ends_the_run_in_order(tmp_path, capsys, monkeypatch):
    """Before, a driver error in ``read()`` killed the acquisition worker: "acquisition failed:
    OSError ..." with a traceback, "worker acquisition died", the frames it still held for the
    saver at risk. Now it ends the run as a camera that stopped delivering does."""
    monkeypatch.setenv("PYNTA_CAMERAS", MISBEHAVING_ENV)
    out = tmp_path / "run.zarr"
    argv = ["acquire", "--camera", "misbehaving", *OPTIONS, "--camera-option", "raise_at=50"]
    code = main([*argv, "--frames", "120", "--out", str(out), "--json"])
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    with MovieStore.open(out) as store:
        np.testing.assert_array_equal(store.seq, np.arange(50))
    assert result["frames_acquired"] == result["frames_saved"] == 50
    assert result["dead_workers"] == [] and result["frames_dropped"] == 0
    assert result["camera_failed"] == "OSError: the driver failed at frame 50"
    assert "the camera failed after 50 of 120 frames (OSError: the driver failed" in printed.err
    assert "Traceback" not in printed.err
    assert code == 1


def test_a_camera_that_cannot_be_closed_is_said_and_the_recording_is_whole(
    tmp_path, capsys, monkeypatch
):
    """Before: "acquisition failed: OSError ..." with a traceback, as if the run had failed."""
    monkeypatch.setenv("PYNTA_CAMERAS", MISBEHAVING_ENV)
    out = tmp_path / "run.zarr"
    argv = ["acquire", "--camera", "misbehaving", *OPTIONS, "--camera-option", "close_raises=true"]
    code = main([*argv, "--frames", "120", "--out", str(out), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["errors"] == [
        "acquisition: the camera could not be closed: OSError: the driver refused to close the "
        "camera"
    ]
    assert result["frames_saved"] == result["frames_acquired"] == 120 and code == 0
    assert verify_store(out, read_pixels=True).ok


@pytest.mark.slow
def test_an_acquisition_frozen_whole_by_its_camera_is_ended_and_the_run_with_it(
    tmp_path, monkeypatch
):
    """A camera call that never returns and holds the GIL freezes the acquisition whole: no
    minder can answer. Before, the run hung for ever; the supervisor now ends it after
    ACQUISITION_SILENCE_S (here 3 s) of silence, says so, and the store keeps what was written."""
    monkeypatch.setenv("PYNTA_CAMERAS", CAMERAS_ENV)
    monkeypatch.setattr(supervisor, "ACQUISITION_SILENCE_S", 3.0)
    path = tmp_path / "run.zarr"
    config = LiveConfig(
        camera="stalling",
        camera_settings=dict(shape=(32, 32), n_particles=2, fps=100.0, hold_gil=True),
        n_frames=120,
        record_path=str(path),
        track=False,
        camera_timeout_s=1.0,
    )
    with LivePipeline(config) as pipeline:
        assert pipeline.wait_finished(120)
        final = pipeline.stop()
    assert final.dead_workers == ["acquisition"]
    assert any("the acquisition has reported nothing for" in error for error in final.errors)
    # the saver wrote what it had got and ended (before: its 20 s stall timeout was waited for)
    assert not any("made no progress" in error for error in final.errors), final.errors
    with MovieStore.open(path) as store:
        assert store.n_frames == final.frames_saved
        np.testing.assert_array_equal(store.seq, np.arange(store.n_frames))
    assert verify_store(path, read_pixels=True).ok


@pytest.mark.slow
@pytest.mark.parametrize("how", ["hang", "never"])
def test_a_camera_that_stops_during_the_calibration_frames_is_named(tmp_path, monkeypatch, how):
    """Before, a camera whose read never returned during the calibration frames (tracking
    with an automatic threshold) ended the start after READY_TIMEOUT_S (60 s) with
    "acquisition did not report 'ready'", not naming the camera; one whose backend gave up
    (its own timeout) with "acquisition failed: CameraStalled" and a traceback. Now either
    is said at once (the camera timeout, here 1 s): the camera, how many calibration frames
    it delivered, and that nothing was recorded."""
    monkeypatch.setenv("PYNTA_CAMERAS", CAMERAS_ENV)
    monkeypatch.setattr(supervisor, "READY_TIMEOUT_S", 120.0)  # not what ends the start
    settings = dict(shape=(32, 32), n_particles=2, fps=100.0, stall_at=20, timeout_s=1.0)
    config = LiveConfig(
        camera="stalling",
        camera_settings={**settings, how: True},
        n_frames=120,
        record_path=str(tmp_path / "run.zarr"),
        camera_timeout_s=1.0,
    )
    assert config.track and config.detection.get("minmass") is None  # calibrated
    with pytest.raises(PyntaDataError) as raised:
        LivePipeline(config).start()
    said = str(raised.value)
    assert re.match(
        r"acquisition: the \w+ camera stopped delivering during the calibration frames, after "
        r"20 of 60 \(",
        said,
    ), said
    assert "nothing was recorded" in said and "Traceback" not in said
    assert not (tmp_path / "run.zarr").exists()
