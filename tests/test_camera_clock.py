"""A live camera whose clock goes back: every frame kept, its time as given, the user told."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_pynta.cameras.simulated import SimulatedCamera
from napari_pynta.cli import main
from napari_pynta.live.workers.camera_clock import CameraClock
from napari_pynta.store import MovieStore


class JumpingCamera(SimulatedCamera):
    """A simulated camera whose timestamp counter restarts at ``reset_at`` (a camera reset)
    and wraps at ``wrap_s`` (a hardware counter of limited width)."""

    timestamp_source = "camera counter"

    def __init__(self, reset_at: int, wrap_s: float, **settings):
        self.reset_at, self.wrap_s = reset_at, wrap_s
        super().__init__(**settings)

    def _camera_time_s(self) -> float | None:
        ticks = self._count if self._count < self.reset_at else self._count - self.reset_at
        return (ticks / self.settings.fps) % self.wrap_s


def test_a_camera_clock_that_goes_back_is_counted_and_said_once():
    camera = JumpingCamera(reset_at=20, wrap_s=0.25, shape=(32, 32), n_particles=2, fps=200)
    clock = CameraClock()
    said = []
    times = []
    with camera:
        camera.start()
        for seq in range(80):
            _, t = camera.read()
            times.append(t)
            if (warning := clock.check(seq, t)) is not None:
                said.append(warning)
    steps = np.diff(times)
    # independent truth: the steps the counter took backwards (reset at 20, wraps every 50)
    assert clock.jumps == int((steps <= 0).sum()) == 2
    (warning,) = said  # one line, not one per jump: later ones are counted
    assert "went back 0.095 s at frame 20" in warning and "camera_clock_jumps" in warning
    clock.restart()  # a new run (camera restarted): its first frame is no jump
    assert clock.check(0, 0.0) is None and clock.jumps == 2


def test_pynta_acquire_keeps_the_frames_and_times_of_a_camera_whose_clock_went_back(
    tmp_path, capsys
):
    """Before, the acquisition passed the times on without a word: the run's result said
    nothing, and `pynta verify` failed the store it wrote."""
    times = np.arange(40) * 0.005
    times[15:] -= 0.2  # the camera's clock restarted at frame 15, and again at 30
    times[30:] -= 0.2
    movie = tmp_path / "movie.zarr"
    frames = np.random.default_rng(0).poisson(100, (40, 32, 32)).astype(np.uint16)
    metadata = {"pixel_size_um": 0.1, "frame_interval_s": 0.005, "exposure_s": 0.005}
    with MovieStore.create(movie, (32, 32), "uint16", metadata) as store:
        store.append(frames, timestamps_s=times)
    out = tmp_path / "copy.zarr"
    argv = ["acquire", "--camera", "playback", "--camera-option", f"path={movie}"]
    code = main([*argv, "--fps", "200", "--out", str(out), "--json"])
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    assert result["camera_clock_jumps"] == 2
    assert result["frames_acquired"] == result["frames_saved"] == 40
    assert any("camera's clock went back" in error for error in result["errors"])
    assert "went back 0.195 s at frame 15" in printed.err
    assert code == 0  # every frame is on disk: a warning, not a failure
    with MovieStore.open(out) as store:
        np.testing.assert_allclose(store.timestamps_s, times - times[0], atol=1e-9)
    assert main(["verify", str(out)]) == 0
    assert "the median of the 37 steps besides the clock's jumps" in capsys.readouterr().out


@pytest.mark.parametrize("times", [[0.0, 0.01, 0.01], [0.0, float("nan"), 0.02]])
def test_a_clock_that_stands_still_counts_and_unknown_times_do_not(times):
    clock = CameraClock()
    for seq, t in enumerate(times):
        clock.check(seq, t)
    assert clock.jumps == (1 if np.isfinite(times).all() else 0)
