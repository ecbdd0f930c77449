"""Sample fields: stored and validated with a recording, overridden by `pynta analyze`, and the
dilution factor scaling the concentration of the sample exactly."""

from __future__ import annotations

import json

import pytest
from test_live_pipeline import no_leftover_processes  # noqa: F401

from napari_pynta import simulate
from napari_pynta.cli import main
from napari_pynta.errors import PyntaInputError
from napari_pynta.sample import SAMPLE_KEYS, attach_sample, sample_from_metadata
from napari_pynta.store import MovieStore

STORED = {
    "sample_name": "exosomes A",
    "operator": "J. Doe",
    "diluent": "PBS",
    "dilution_factor": 10.0,
    "remarks": "thawed once",
}


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    settings = simulate.SimulationSettings(
        shape=(96, 96), n_particles=12, pixel_size_um=0.2, frame_interval_s=0.01, seed=4
    )
    sim = simulate.simulate_movie(80, settings)
    path = tmp_path_factory.mktemp("sample") / "movie.zarr"
    with MovieStore.create(
        path, sim.frames.shape[1:], sim.frames.dtype, sim.metadata | STORED
    ) as s:
        s.append(sim.frames)
    return path


def test_store_keeps_and_validates_the_sample_fields(tmp_path, sample_store):
    with MovieStore.open(sample_store) as store:
        assert {key: store.metadata[key] for key in SAMPLE_KEYS} == STORED
    for key, value, message in [
        ("dilution_factor", 0.5, "dilution_factor must be a number >= 1"),
        ("dilution_factor", "lots", "dilution_factor must be a number >= 1"),
        ("dilution_factor", True, "dilution_factor must be a number >= 1"),
        # b18: an infinite concentration, "Infinity" in the --json output
        ("dilution_factor", 1e300, "dilution_factor must be a number >= 1 and <= 1e\\+09"),
        ("operator", 7, "operator must be text"),
    ]:
        with pytest.raises(PyntaInputError, match=message):
            MovieStore.create(tmp_path / f"{key}.zarr", (4, 4), "uint8", {key: value})


def test_unset_dilution_means_undiluted_and_overrides_win():
    assert sample_from_metadata({})["dilution_factor"] == 1.0
    sample = sample_from_metadata(STORED, sample_name="B", dilution_factor=100, remarks=None)
    assert sample == STORED | {"sample_name": "B", "dilution_factor": 100.0}
    with pytest.raises(PyntaInputError, match="unknown sample field"):
        sample_from_metadata({}, colour="red")


def test_attach_scales_only_the_sample_concentration():
    summary = {"concentration": {"particles_per_ml": 3.0e8, "particles_per_ml_sem": 2.0e7}}
    attach_sample(summary, {"dilution_factor": 250})
    entry = summary["concentration"]
    assert entry["particles_per_ml"] == 3.0e8  # the measured suspension is unchanged
    assert entry["sample_particles_per_ml"] == 250 * 3.0e8
    assert entry["sample_particles_per_ml_sem"] == 250 * 2.0e7
    assert summary["sample"]["dilution_factor"] == 250.0


def analyze_json(capsys, *argv):
    code = main(["analyze", *map(str, argv), "--json", "--no-save", "--depth-um", "5"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_analyze_reports_stored_sample_and_flags_override_it(capsys, sample_store):
    stored = analyze_json(capsys, sample_store)
    assert stored["sample"] == STORED
    entry = stored["concentration"]
    assert entry["particles_per_ml"] > 0
    assert entry["sample_particles_per_ml"] == 10 * entry["particles_per_ml"]
    given = analyze_json(
        capsys, sample_store, "--sample", "exosomes B", "--dilution", "100", "--operator", "K"
    )
    assert given["sample"] == STORED | {
        "sample_name": "exosomes B",
        "dilution_factor": 100.0,
        "operator": "K",
    }
    assert given["concentration"]["particles_per_ml"] == entry["particles_per_ml"]
    assert given["concentration"]["sample_particles_per_ml"] == 100 * entry["particles_per_ml"]


def test_analyze_prints_the_sample_and_refuses_a_bad_dilution(capsys, sample_store):
    assert main(["analyze", str(sample_store), "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "exosomes A · J. Doe · PBS · dilution factor 10 · thawed once" in out
    assert main(["analyze", str(sample_store), "--dilution", "0"]) == 2
    assert "--dilution must be a number >= 1" in capsys.readouterr().err


def test_acquire_stores_the_sample_with_the_recording(tmp_path, capsys):
    path = tmp_path / "run.zarr"
    argv = ["acquire", "--frames", "5", "--out", str(path), "--json"]
    argv += ["--camera-option", "shape=32,32", "--sample", "beads", "--dilution", "50"]
    assert main(argv) == 0
    capsys.readouterr()
    with MovieStore.open(path) as store:
        assert store.n_frames == 5
        metadata = store.metadata
    assert metadata["sample_name"] == "beads" and metadata["dilution_factor"] == 50.0
    assert "operator" not in metadata  # not given: not stored as a guess
