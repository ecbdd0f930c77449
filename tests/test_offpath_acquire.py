"""`pynta acquire --temperature-c` with a camera that knows its sample's temperature."""

from __future__ import annotations

import numpy as np
import pytest

# the fixture asserting that every test leaves no worker process behind
from test_live_pipeline import no_leftover_processes  # noqa: F401

from napari_pynta.cli import main
from napari_pynta.physics import water_viscosity_pa_s
from napari_pynta.store import MovieStore

SCENE = ["--camera-option", "shape=32,32", "--camera-option", "n_particles=3"]


def recorded_sample(path) -> tuple[float, float]:
    with MovieStore.open(path, mode="r") as store:
        return store.metadata["temperature_c"], store.metadata["viscosity_pa_s"]


def test_the_simulated_sample_is_at_the_temperature_asked(tmp_path, capsys):
    """`--temperature-c 30` with the simulated camera recorded 22 °C (the simulated sample's)
    and sized at 22 °C, and said nothing."""
    path = tmp_path / "warm.zarr"
    code = main(["acquire", "--frames", "5", "--temperature-c", "30", "--out", str(path), *SCENE])
    assert code == 0, capsys.readouterr().err
    temperature, viscosity = recorded_sample(path)
    assert temperature == 30.0
    assert viscosity == pytest.approx(water_viscosity_pa_s(30.0), rel=1e-12)
    assert viscosity < 0.9 * water_viscosity_pa_s(22.0)  # the sample the frames show


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["--temperature-c", "30", "--camera-option", "temperature_c=25"],
            "--temperature-c 30 contradicts --camera-option temperature_c=25",
        ),
        (["--temperature-c", "150"], "--temperature-c 150: temperature_c must be within 0..100"),
        (["--camera", "playback", "--temperature-c", "30"], "recorded at 22 °C"),
    ],
    ids=["contradicts-the-simulation", "not-water", "contradicts-the-recording"],
)
def test_a_temperature_the_camera_contradicts_is_refused_before_starting(
    argv, said, tmp_path, capsys
):
    """Before, each ran and recorded the camera's 22 °C (150 °C too: a store `pynta analyze`
    then refused)."""
    movie = tmp_path / "movie.zarr"
    with MovieStore.create(
        movie,
        (16, 16),
        "uint16",
        {
            "pixel_size_um": 0.1,
            "frame_interval_s": 0.01,
            "exposure_s": 0.01,
            "temperature_c": 22.0,
        },  # fmt: skip
    ) as store:
        store.append(np.full((4, 16, 16), 100, np.uint16))
    if "playback" in argv:
        argv = [*argv, "--camera-option", f"path={movie}"]
    out = tmp_path / "run.zarr"
    code = main(["acquire", "--frames", "3", "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 2 and said in err, err
    assert not out.exists()
