"""The Sizes widget on a measurement folder: the numbers of `pynta analyze --combine`, computed
independently here, and clear refusals of folders that cannot be combined."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from napari_pynta import simulate
from napari_pynta.cli import main
from napari_pynta.measurement import capture_path, write_measurement
from napari_pynta.store import MovieStore
from napari_pynta.widgets.measurement_plot import capture_fractions
from napari_pynta.widgets.measurement_view import compact_cell

DILUTION = 100.0
DEPTH_UM = 5.0
N_CAPTURES = 3


def write_capture(folder, index, *, pixel_size_um=0.2, seed=None, n_particles=10):
    """One small simulated capture of 100 nm beads with the sample and measurement fields."""
    settings = simulate.SimulationSettings(
        shape=(64, 64),
        n_particles=n_particles,
        pixel_size_um=pixel_size_um,
        frame_interval_s=0.01,
        seed=seed if seed is not None else 40 + index,
    )
    movie = simulate.simulate_movie(60, settings)
    metadata = movie.metadata | {
        "sample_name": "beads",
        "operator": "j-lab",
        "dilution_factor": DILUTION,
        "measurement_id": "m-test",
        "capture_index": index,
        "n_captures": N_CAPTURES,
    }
    path = capture_path(folder, index)
    with MovieStore.create(path, movie.frames.shape[1:], movie.frames.dtype, metadata) as store:
        store.append(movie.frames)
    return path


def write_measurement_folder(folder, n_captures=N_CAPTURES):
    folder.mkdir()
    for index in range(1, n_captures + 1):
        write_capture(folder, index)
    write_measurement(
        folder,
        {
            "measurement_id": "m-test",
            "n_captures": n_captures,
            "captures": [capture_path(folder, i).name for i in range(1, n_captures + 1)],
        },
    )
    return folder


@pytest.fixture(scope="module")
def measurement(tmp_path_factory):
    return write_measurement_folder(tmp_path_factory.mktemp("m") / "sample")


def independent_mean_se(values):
    values = np.asarray(values, dtype=float)
    return values.mean(), values.std(ddof=1) / math.sqrt(values.size)


def open_and_wait(sizes, folder, wait_for):
    view = sizes.measurement
    assert view.open_measurement(str(folder))
    wait_for(lambda: view.open_button.isEnabled(), 120, "the measurement analysis")
    return view


def test_sizes_widget_shows_the_numbers_of_analyze_combine(pynta, measurement, wait_for, capsys):
    viewer, widgets = pynta
    # the command with the engine the Tracking widget analyses with
    engine = widgets["Tracking"].engine.currentText()
    argv = ["analyze", str(measurement), "--combine", "--depth-um", str(DEPTH_UM)]
    assert main([*argv, "--engine", engine, "--json", "--no-save"]) == 0
    document = json.loads(capsys.readouterr().out)
    summaries = [entry["summary"] for entry in document["captures"]]

    sizes = widgets["Sizes"]
    view = sizes.measurement
    view.depth_um.setValue(DEPTH_UM)
    assert view.opened_button.isHidden()
    # the reader opens a measurement folder as its captures; the widget offers to combine them
    layers = viewer.open(str(measurement), plugin="napari-pynta")
    images = [layer for layer in layers if type(layer).__name__ == "Image"]
    assert len(images) == N_CAPTURES
    with MovieStore.open(capture_path(measurement, 2)) as store:
        np.testing.assert_array_equal(np.asarray(images[1].data), store.frames[:])
    assert not view.opened_button.isHidden() and "sample" in view.opened_button.text()
    progress: list[str] = []
    view.progress.valueChanged.connect(lambda _: progress.append(view.progress.text()))
    steps: list[str] = []  # what each progress report named
    show_progress = view.progress.show_progress
    view.progress.show_progress = lambda *report: (steps.append(report[3]), show_progress(*report))
    view.opened_button.click()
    wait_for(lambda: view.open_button.isEnabled(), 120, "the measurement analysis")
    # the view said which capture and how many frames of all were located, then hid its bar
    assert any(text.startswith(f"capture {N_CAPTURES}: ") for text in progress), progress
    assert "frames located" in progress[-1] and view.progress.isHidden()
    assert steps[-1] == "all captures' tracks"  # then sized together
    assert view.analysis is not None, view.message_line.text()
    assert view.analysis.folder == str(measurement)
    # the measurement replaces the single-movie histogram and its conditions while shown
    assert sizes.canvas.isHidden() and sizes.conditions_box.isHidden()
    assert not view.canvas.isHidden() and not view.table.isHidden()
    combined = view.analysis.combined
    assert combined["n_captures"] == N_CAPTURES
    per_capture = {
        "d10_nm": [s["deconvolved_nm"]["d10"] for s in summaries],
        "d50_nm": [s["deconvolved_nm"]["d50"] for s in summaries],
        "d90_nm": [s["deconvolved_nm"]["d90"] for s in summaries],
        "mode_nm": [s["deconvolved_nm"]["mode"] for s in summaries],
        "ensemble_diameter_nm": [s["diameter_nm"] for s in summaries],
        "particles_per_frame": [s["n_localizations"] / s["n_frames"] for s in summaries],
        # the undiluted sample: dilution x the measured concentration of each capture
        "concentration_per_ml": [
            DILUTION * s["concentration"]["particles_per_ml"] for s in summaries
        ],
    }
    shown = [result.summary for result in view.analysis.results]
    for key, values in per_capture.items():
        mean, se = independent_mean_se(values)
        assert combined[key]["mean"] == pytest.approx(mean, rel=1e-9), key
        assert combined[key]["se"] == pytest.approx(se, rel=1e-9), key
        assert combined[key] == pytest.approx(document["combined"][key], rel=1e-12), key
    for mine, theirs in zip(shown, summaries, strict=True):
        assert mine["deconvolved_nm"]["d50"] == pytest.approx(theirs["deconvolved_nm"]["d50"])
        assert mine["n_tracks"] == theirs["n_tracks"]
    # all the captures' tracks sized together, as the command pools them, and said
    pooled = combined["pooled"]
    assert pooled["n_tracks"] == document["combined"]["pooled"]["n_tracks"] > 0
    assert (
        pooled["deconvolved_nm"]["peaks"]
        == document["combined"]["pooled"]["deconvolved_nm"]["peaks"]
    )
    said = f"pooled: the {pooled['n_tracks']} tracks of the {N_CAPTURES} captures sized together"
    assert said in view.message_line.text()

    # the replicate table: one column per capture, then mean ± SE
    table = view.shown_table()
    assert table[""] == [*(str(i) for i in range(1, N_CAPTURES + 1)), "mean ± SE"]
    mean, se = independent_mean_se(per_capture["d50_nm"])
    assert table["D50 (nm)"] == [
        *(f"{v:.1f}" for v in per_capture["d50_nm"]),
        f"{mean:.1f} ± {se:.1f}",
    ]
    assert table["Tracks"][:-1] == [str(s["n_tracks"]) for s in summaries]
    mean, se = independent_mean_se(per_capture["concentration_per_ml"])
    shown_per_ml = compact_cell(f"{mean:.3g} ± {se:.3g}").replace("\n", " ")
    assert table["Particles/mL (× dilution)"][-1] == shown_per_ml  # e.g. 8.96e9 ± 9.75e7
    assert "sample beads" in view.sample_label.text()
    assert "dilution ×100" in view.sample_label.text()

    # the plotted band: mean ± SE per bin of the captures' deconvolved distributions
    canvas = view.canvas
    assert canvas.mean is not None and canvas.se is not None
    assert np.all(canvas.se >= 0) and np.isfinite(canvas.se).all()
    fractions, used = capture_fractions(view.analysis.results, canvas.edges_nm)
    assert used == list(range(N_CAPTURES))
    np.testing.assert_allclose(canvas.mean, np.mean(fractions, axis=0))
    np.testing.assert_allclose(canvas.se, np.std(fractions, axis=0, ddof=1) / math.sqrt(N_CAPTURES))
    assert canvas.mean.sum() == pytest.approx(100.0, abs=0.5)  # % of tracks: all on the grid

    view.close_button.click()
    assert not sizes.canvas.isHidden() and view.canvas.isHidden()


def test_measurement_refusals_name_the_folder_or_capture(pynta, tmp_path, wait_for):
    _, widgets = pynta
    view = widgets["Sizes"].measurement
    assert not view.open_measurement(str(tmp_path))
    assert "is not a measurement folder" in view.message_line.text()

    broken = write_measurement_folder(tmp_path / "broken", n_captures=2)
    shutil.rmtree(capture_path(broken, 2))
    open_and_wait(widgets["Sizes"], broken, wait_for)
    assert view.analysis is None
    assert "capture 2 (capture-2.zarr)" in view.message_line.text()
    assert "is missing" in view.message_line.text()

    mixed = write_measurement_folder(tmp_path / "mixed", n_captures=2)
    shutil.rmtree(capture_path(mixed, 2))
    write_capture(mixed, 2, pixel_size_um=0.25)
    open_and_wait(widgets["Sizes"], mixed, wait_for)
    text = view.message_line.text()
    assert "different settings" in text and "pixel_size_um" in text, text
    assert "capture 1 (capture-1.zarr) 0.2" in text and "capture 2 (capture-2.zarr) 0.25" in text


def test_a_capture_that_sized_no_track_is_left_out_and_said(pynta, tmp_path, wait_for):
    """An empty capture (no particle: a failed measurement) entered the combined particles per
    frame and concentration of the Sizes widget's measurement with its 0."""
    _, widgets = pynta
    folder = write_measurement_folder(tmp_path / "sample")
    shutil.rmtree(capture_path(folder, 3))
    write_capture(folder, 3, n_particles=0)
    view = widgets["Sizes"].measurement
    view.depth_um.setValue(DEPTH_UM)
    open_and_wait(widgets["Sizes"], folder, wait_for)
    assert view.analysis is not None, view.message_line.text()
    summaries = [result.summary for result in view.analysis.results]
    assert [s["unsized_reason"] is None for s in summaries] == [True, True, False]
    text = view.message_line.text()
    assert text.startswith("2 of 3 captures of sample combined"), text
    assert "warning: capture 3 (capture-3.zarr) is left out of every combined value" in text
    assert summaries[2]["unsized_reason"] in text  # why, and what to try
    table = view.shown_table()
    for heading, values, template in (
        ("Particles/frame", [s["particles_per_frame"] for s in summaries[:2]], "{:.2f}"),
        (
            "Particles/mL (× dilution)",
            [DILUTION * s["concentration"]["particles_per_ml"] for s in summaries[:2]],
            "{:.3g}",
        ),
    ):
        mean, se = independent_mean_se(values)
        shown = f"{template.format(mean)} ± {template.format(se)}"
        assert table[heading][-1] == compact_cell(shown).replace("\n", " "), heading
    # the left-out capture's column says so where its number heads it
    assert view.table.horizontalHeaderItem(2).toolTip().endswith("(left out: no track sized)")


def test_a_measurement_stopped_before_its_last_capture_is_said(pynta, tmp_path, wait_for):
    """A measurement of 3 captures stopped during the second (measurement.json lists 2) was
    combined by the Sizes widget "over 2 captures" without the warning `pynta analyze
    --combine` gives (x28)."""
    _, widgets = pynta
    folder = write_measurement_folder(tmp_path / "stopped", n_captures=2)  # stores: 3 planned
    view = open_and_wait(widgets["Sizes"], folder, wait_for)
    assert view.analysis is not None, view.message_line.text()
    text = view.message_line.text()
    assert (
        "warning: the measurement was to have 3 captures, and capture 3 is not among these" in text
    ), text
