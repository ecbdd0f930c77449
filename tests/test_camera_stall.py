"""A camera that stops delivering mid-run: said, counted, and `--frames N` never hangs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from napari_pynta.cli import main
from napari_pynta.store import MovieStore

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
