"""The three dock widgets: they build, refuse bad values visibly, preview, re-analyse, rescale."""

from __future__ import annotations

import multiprocessing
import re
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_pynta import analysis, simulate
from napari_pynta.readers import open_movie
from napari_pynta.store import MovieStore
from napari_pynta.widgets import camera as camera_module
from napari_pynta.widgets import sizes as sizes_module
from napari_pynta.widgets.napari_io import sample_settings
from napari_pynta.widgets.session import SizeData
from napari_pynta.widgets.settings import SizingConditions

#: IAPWS 2008 water viscosity (mPa·s) at 22 and 37 °C, the reference values of DESIGN.md
WATER_MPA_S = {22.0: 0.9544, 37.0: 0.6913}


def test_pynta_docks_three_widgets_with_the_simulated_camera_ready(pynta):
    viewer, widgets = pynta
    assert set(widgets) == {"Camera", "Tracking", "Sizes"}
    assert widgets["Camera"].backend.currentText() == "simulated"
    assert widgets["Camera"].live.isEnabled() and not widgets["Camera"].live.isChecked()
    sessions = {id(widget.session) for widget in widgets.values()}
    assert len(sessions) == 1  # the widgets share one session per viewer


def test_bad_tracking_value_is_refused_with_a_message_and_not_applied(pynta):
    _, widgets = pynta
    tracking = widgets["Tracking"]
    tracking.diameter.setValue(8)
    assert tracking.message_line.is_error
    assert "diameter" in tracking.message_line.text() and "odd" in tracking.message_line.text()
    assert tracking.session.tracking.diameter_px == 7
    tracking.diameter.setValue(9)
    assert not tracking.message_line.is_error and tracking.session.tracking.diameter_px == 9
    tracking.min_track_length.setValue(2)
    assert "track length" in tracking.message_line.text()
    assert tracking.session.tracking.min_track_length == 10


def test_the_blur_separation_switch_reaches_the_analysis_and_the_live_pipeline(pynta):
    from napari_pynta.widgets.reanalysis import analysis_params

    _, widgets = pynta
    tracking = widgets["Tracking"]
    assert tracking.blur_separation.isChecked() and tracking.session.tracking.blur_separation
    conditions = SizingConditions(pixel_size_um=0.166, frame_interval_s=1 / 30)
    tracking.blur_separation.setChecked(False)
    assert not tracking.message_line.is_error and not tracking.session.tracking.blur_separation
    assert not analysis_params(tracking.session.tracking, conditions).blur_separation
    tracking.blur_separation.setChecked(True)
    assert analysis_params(tracking.session.tracking, conditions).blur_separation


def test_bad_sizing_conditions_are_refused(pynta):
    _, widgets = pynta
    sizes = widgets["Sizes"]
    before = sizes.session.conditions
    sizes.exposure_ms.setValue(sizes.frame_interval_ms.value() * 2)
    assert sizes.message_line.is_error and "exposure" in sizes.message_line.text()
    assert sizes.session.conditions == before
    sizes.exposure_ms.setValue(before.exposure_s * 1e3)
    sizes.temperature.setValue(150.0)
    assert "temperature" in sizes.message_line.text()
    assert sizes.session.conditions == before


def test_bad_camera_settings_start_nothing(pynta, tmp_path, monkeypatch):
    _, widgets = pynta
    camera = widgets["Camera"]
    camera.roi[0].setValue(200)
    camera.roi[2].setValue(100)  # y + h = 300 > 256 rows of the simulated sensor
    camera.roi[3].setValue(50)
    camera.live.click()
    assert camera.message_line.is_error and "roi" in camera.message_line.text()
    assert camera.session.live_state == "idle" and not camera.live.isChecked()
    camera.roi[2].setValue(0)
    camera.exposure_ms.setValue(50.0)  # longer than 1/100 fps
    camera.live.click()
    assert "exposure" in camera.message_line.text()
    camera.exposure_ms.setValue(5.0)
    camera.output_path.setText(str(tmp_path / "movie.zarr"))
    monkeypatch.setattr(camera_module, "free_disk_bytes", lambda path: 10_000_000)
    camera.record.click()
    assert "not enough free disk space" in camera.message_line.text()
    camera.output_path.setText(str(tmp_path / "movie.tif"))
    camera.record.click()
    assert ".zarr" in camera.message_line.text()
    assert camera.session.live_state == "idle" and not multiprocessing.active_children()


def test_a_record_folder_that_cannot_be_made_is_refused_in_plain_words(pynta, tmp_path):
    """Before: the OSError escaped the click (a traceback, no message, Record left pressed)."""
    _, widgets = pynta
    camera = widgets["Camera"]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    camera.output_path.setText(str(blocker / "movie.zarr"))
    camera.record.click()
    text = camera.message_line.text()
    assert camera.message_line.is_error and "cannot write" in text and str(blocker) in text
    # what is in the way, not the file system's "File exists" (a file where the folder goes)
    # or "Not a directory" (of a folder named after the file)
    assert f"{blocker} is a file, not a folder" in text, text
    assert not camera.record.isChecked() and camera.session.live_state == "idle"
    assert not multiprocessing.active_children()


def test_a_measure_folder_that_cannot_be_made_is_refused_in_plain_words(pynta, tmp_path):
    from napari_pynta.errors import PyntaInputError
    from napari_pynta.widgets.measure import Measurement

    _, widgets = pynta
    session = widgets["Camera"].session
    session.live_state = "running"  # Measure needs Live; nothing is started here
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(PyntaInputError, match="cannot write"):
        Measurement(session, blocker / "sample", 2, 1.0, {})
    with pytest.raises(PyntaInputError, match=f"{re.escape(str(blocker))} is a file, not a folder"):
        Measurement(session, blocker, 2, 1.0, {})  # was "cannot write to …: File exists"
    session.live_state = "idle"


def test_record_and_measure_refuse_the_movie_the_playback_plays(pynta, tmp_path):
    """Only `pynta acquire` refused it (b23): Record while live, with overwrite, removed the
    movie being played back before its frames were read."""
    from types import SimpleNamespace

    from napari_pynta.errors import PyntaInputError
    from napari_pynta.live import LiveConfig
    from napari_pynta.widgets.measure import Measurement

    movie = tmp_path / "sample" / "capture-1.zarr"
    movie.mkdir(parents=True)
    (movie / "zarr.json").write_text("{}")
    _, widgets = pynta
    session = widgets["Camera"].session
    config = LiveConfig(camera="playback", camera_settings={"path": str(movie)})
    session.pipeline = SimpleNamespace(config=config)  # a playback running; nothing is started
    session.live_state = "running"
    try:
        with pytest.raises(PyntaInputError, match="is or holds the movie played back"):
            session.start_recording(str(movie), overwrite=True)
        with pytest.raises(PyntaInputError, match="is or holds the movie played back"):
            Measurement(session, movie.parent, 2, 1.0, {})
    finally:
        session.pipeline, session.live_state = None, "idle"
    assert (movie / "zarr.json").read_text() == "{}"


@pytest.mark.parametrize("kind", ["folder of notes", "text file", "missing"])
def test_opening_something_that_is_not_a_movie_says_so_in_the_tracking_widget(
    pynta, tmp_path, monkeypatch, kind
):
    """Before: napari's ValueError escaped the Open… click and the widget said nothing."""
    from qtpy.QtWidgets import QFileDialog

    viewer, widgets = pynta
    tracking = widgets["Tracking"]
    path = tmp_path / "notes.zarr"
    if kind == "folder of notes":
        path.mkdir()
        (path / "notes.txt").write_text("hello")
    elif kind == "text file":
        path = tmp_path / "notes.txt"
        path.write_text("hello")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(path))
    tracking.open_file.click()
    text = tracking.message_line.text()
    assert tracking.message_line.is_error and str(path) in text
    assert ("does not exist" if kind == "missing" else "not a movie") in text
    assert len(viewer.layers) == 0


def test_sizes_are_re_expressed_by_stokes_einstein_when_temperature_changes(pynta):
    _, widgets = pynta
    sizes = widgets["Sizes"]
    measured = SizingConditions(
        temperature_c=22.0, pixel_size_um=0.1, frame_interval_s=0.01, exposure_s=0.01
    )
    sizes.session.set_conditions(measured)
    diameters = np.array([80.0, 100.0, 100.0, 120.0, 150.0])
    deconvolved = {
        "n_tracks": 5,
        "mean": 101.0,
        "mode": 99.0,
        "sd": 6.0,
        "d10": 93.0,
        "d50": 100.0,
        "d90": 108.0,
        "span": 0.15,
        "peaks": [99.0, 300.0],
        "peak_se": [3.0, None],
        "peak_interval_68": [[96.0, 102.0], [None, None]],
        "peak_fractions": [0.9, 0.1],
        "peak_depends_on_linking": [False, True],
    }
    concentration = {
        "particles_per_frame": 20.0,
        "particles_per_frame_sem": 0.5,
        "particles_in_view_per_frame": 21.0,
        "particles_in_view_per_frame_sem": 0.75,
        "particles_per_ml": 4.0e8,
        "particles_per_ml_sem": 1.0e7,
    }
    warning = "The size depends on the linking: it changes by 9% when the particles are linked"
    summary = {
        "diameter_nm": 105.0,
        "deconvolved_nm": deconvolved,
        "concentration": concentration,
        "warnings": [warning],
    }
    sizes.session.sizes_changed.emit(SizeData(diameters, summary, measured, "test"))
    # the analysis' warnings are listed under the table, not left to the report
    assert sizes.warnings.isVisibleTo(sizes)
    assert sizes.warnings.text() == f"1 warning about these sizes:\n• {warning}"
    # a measurement shown in their place hides them, even when live sizes come meanwhile
    sizes.measurement.shown.emit(True)
    sizes.session.sizes_changed.emit(SizeData(diameters, summary, measured, "test"))
    assert not sizes.warnings.isVisibleTo(sizes)
    sizes.measurement.shown.emit(False)
    assert sizes.warnings.isVisibleTo(sizes)
    shown, ensemble = sizes.current_diameters()
    np.testing.assert_allclose(shown, diameters)
    assert sizes.statistics.item(0, 0).text() == "5"
    assert sizes.statistics.item(5, 1).text() == "100"  # deconvolved D50
    # peaks ± SE; the one the narrower linking does not show is marked
    assert sizes.statistics.item(8, 0).text() == "99 ± 3 (90%), 300 (10%, depends on the linking)"
    sizes.temperature.setValue(37.0)
    # d = kT / (3 pi eta D) at fixed D
    expected = (37.0 + 273.15) / (22.0 + 273.15) * WATER_MPA_S[22.0] / WATER_MPA_S[37.0]
    shown, ensemble = sizes.current_diameters()
    np.testing.assert_allclose(shown / diameters, expected, rtol=2e-4)
    assert ensemble == pytest.approx(105.0 * expected, rel=2e-4)
    assert sizes.statistics.item(5, 0).text() == f"{np.percentile(shown, 50):.0f}"  # D50 row
    # the deconvolved diameters scale by the same factor; span and fractions are dimensionless
    scaled = sizes.current_deconvolved()
    for key in ("mean", "mode", "sd", "d10", "d50", "d90"):
        assert scaled[key] == pytest.approx(deconvolved[key] * expected, rel=2e-4)
    np.testing.assert_allclose(
        scaled["peaks"], np.array(deconvolved["peaks"]) * expected, rtol=2e-4
    )
    # (pytest >= 9.2's approx refuses None beside a relative tolerance: compared apart)
    peak_se, missing_se = scaled["peak_se"]
    assert peak_se == pytest.approx(3.0 * expected, rel=2e-4) and missing_se is None
    assert scaled["peak_interval_68"][0] == pytest.approx(
        [96.0 * expected, 102.0 * expected], rel=2e-4
    )
    assert scaled["peak_interval_68"][1] == [None, None]
    assert scaled["span"] == deconvolved["span"] and scaled["peak_fractions"] == [0.9, 0.1]
    assert sizes.statistics.item(5, 1).text() == f"{100.0 * expected:.0f}"
    sizes.pixel_size.setValue(0.2)  # D in µm²/s scales with pixel size squared, d with its inverse
    shown, _ = sizes.current_diameters()
    np.testing.assert_allclose(shown / diameters, expected / 4, rtol=2e-4)
    # a doubled pixel size is four times the detection area: a quarter of the concentration
    assert sizes.current_concentration()["particles_per_ml"] == pytest.approx(1.0e8)
    # the count the concentration comes from: the particles in view, not only those found
    assert sizes.statistics.item(10, 0).text() == "21 ± 0.75"
    assert sizes.statistics.item(11, 0).text() == "1e+08 ± 2.5e+06"


def test_the_sizes_widget_says_what_live_sizes_wait_for(pynta):
    """A running Live with no sizes yet said "start Live or analyse a movie" (on a cold start
    the first sizes come a minute or more after the tracks are drawn); it now says what the
    sizes wait for, and the sizes replace it when they come."""
    _, widgets = pynta
    sizes = widgets["Sizes"]
    # `pynta` starts Live itself: while it starts (half a minute or more on a first start) the
    # line said "start Live or analyse a movie", as if nothing had been started
    sizes.session.live_state_changed.emit("starting")
    text = sizes.source_label.text()
    assert "Live is starting" in text and "start Live" not in text
    assert f"{sizes.session.tracking.min_track_length} frames" in text
    sizes.session.live_state_changed.emit("running")
    text = sizes.source_label.text()
    assert "Live is running" in text
    assert f"{sizes.session.tracking.min_track_length} frames" in text
    sizes.session.live_state_changed.emit("idle")
    assert sizes.source_label.text() == sizes_module.NO_SIZES_YET
    measured = SizingConditions(pixel_size_um=0.1, frame_interval_s=0.01, exposure_s=0.01)
    diameters = np.array([90.0, 100.0, 110.0])
    sizes.session.sizes_changed.emit(SizeData(diameters, {}, measured, "live"))
    sizes.session.live_state_changed.emit("running")  # a second Live keeps the sizes shown
    assert sizes.source_label.text() == "sizes from live"
    # after a restart of the live linker the sizes cover the later frames only: the line says
    # which, and what gives the whole recording (before: "sizes from live", nothing else)
    restarted = {"live_frames": [420, 1000], "linker_restarted_at": 420}
    sizes.session.sizes_changed.emit(SizeData(diameters, restarted, measured, "live"))
    text = sizes.source_label.text()
    assert text.startswith("live sizes from frames 420–999 only") and "Analyze movie" in text


def test_the_ensemble_diameter_is_shown_with_its_uncertainty(pynta):
    """`pynta analyze` gives the ensemble diameter ± its uncertainty (statistical and systematic
    in quadrature: `diameter_uncertainty_nm`); the table showed the diameter alone."""
    _, widgets = pynta
    sizes = widgets["Sizes"]
    measured = SizingConditions(
        temperature_c=22.0, pixel_size_um=0.1, frame_interval_s=0.01, exposure_s=0.01
    )
    sizes.session.set_conditions(measured)
    summary = {"diameter_nm": 105.0, "diameter_uncertainty_nm": 4.2}
    diameters = np.array([90.0, 100.0, 110.0])
    sizes.session.sizes_changed.emit(SizeData(diameters, summary, measured, "test"))
    ensemble_row = len(sizes_module.STATISTICS_ROWS)
    assert sizes.statistics.item(ensemble_row, 0).text() == "105 ± 4.2"
    sizes.temperature.setValue(37.0)  # the uncertainty is re-expressed with the diameter
    factor = (37.0 + 273.15) / (22.0 + 273.15) * WATER_MPA_S[22.0] / WATER_MPA_S[37.0]
    assert sizes.statistics.item(ensemble_row, 0).text() == (
        f"{105.0 * factor:.0f} ± {4.2 * factor:.3g}"
    )


def test_the_peaks_cell_is_shown_whole(pynta, two_peaks):
    """The deconvolved peaks ("100 ± 5.5 (100%)") were cut to "100 ± 5.5 …" in the dock's
    default width (the retaken size-histogram.png showed it), two peaks or a peak that depends
    on the linking to a few characters: the cell now spans the table and wraps."""
    _, widgets = pynta
    sizes = widgets["Sizes"]
    sizes.resize(400, sizes.height())  # the width `pynta` gives the dock
    sizes.session.sizes_changed.emit(two_peaks)
    table = sizes.statistics
    row = [label for label, _, key in sizes_module.STATISTICS_ROWS].index("peaks (nm, % tracks)")
    text = sizes_module.peaks_text(two_peaks.summary["deconvolved_nm"])
    assert "301 ± 12 (10%, depends on the linking)" in text
    (column,) = [c for c in (0, 1) if table.item(row, c) and table.item(row, c).text() == text]
    cell = table.visualRect(table.model().index(row, column))  # a spanned cell: the whole span
    metrics = table.fontMetrics()
    needed = metrics.boundingRect(cell.adjusted(4, 0, -4, 0), Qt.TextFlag.TextWordWrap, text)
    assert needed.width() <= cell.width() and needed.height() <= cell.height()
    # and the table grew with the row: every row in view, none scrolled away
    assert table.height() >= table.verticalHeader().length() + table.horizontalHeader().height()


def test_peaks_the_one_population_test_merged_are_named_in_the_peaks_cell(pynta):
    """Two peaks that passed the bootstrap but not the test against one population are one
    peak in the summary; the cell names both after it, and they follow the conditions."""
    _, widgets = pynta
    sizes = widgets["Sizes"]
    measured = SizingConditions(
        temperature_c=22.0, pixel_size_um=0.1, frame_interval_s=0.01, exposure_s=0.01
    )
    sizes.session.set_conditions(measured)
    deconvolved = {
        "n_tracks": 3,
        "peaks": [99.0],
        "peak_uncertainty": [3.0],
        "peak_fractions": [1.0],
        "unresolved_peaks_nm": [99.0, 56.0],
    }
    summary = {"diameter_nm": 80.0, "deconvolved_nm": deconvolved}
    sizes.session.sizes_changed.emit(
        SizeData(np.array([60.0, 80.0, 100.0]), summary, measured, "t")
    )
    row = [label for label, _, key in sizes_module.STATISTICS_ROWS].index("peaks (nm, % tracks)")
    assert sizes.statistics.item(row, 0).text() == "99 ± 3 (100%); 56 and 99 not resolved"
    # every diameter of the cell is re-expressed by Stokes-Einstein (d ∝ T / η at fixed D)
    sizes.temperature.setValue(37.0)
    factor = sizes.current_factor()
    assert factor > 1.2
    merged = sorted(sizes.current_deconvolved()["unresolved_peaks_nm"])
    assert merged == pytest.approx([56.0 * factor, 99.0 * factor])
    assert (
        sizes.statistics.item(row, 0)
        .text()
        .endswith(f"; {56.0 * factor:.0f} and {99.0 * factor:.0f} not resolved")
    )


def test_preview_finds_the_simulated_particles_of_the_chosen_frame(pynta, wait_for):
    viewer, widgets = pynta
    viewer.open_sample("napari-pynta", "simulated_movie")
    tracking = widgets["Tracking"]
    tracking.frame_slider.setValue(30)
    tracking.preview.setChecked(True)
    wait_for(
        lambda: "PyNTA preview" in viewer.layers and tracking.session.wait_idle(0), 30, "preview"
    )
    found = viewer.layers["PyNTA preview"].data
    assert viewer.dims.current_step[0] == 30
    assert np.all(found[:, 0] == 30)
    truth = simulate.simulate_movie(31, sample_settings()).truth
    truth = truth[truth["frame"] == 30][["y", "x"]].to_numpy()
    distances = np.linalg.norm(found[:, None, 1:] - truth[None, :, :], axis=2)
    matched = distances.min(axis=1) < 1.5
    assert matched.mean() > 0.9  # detections are real particles
    assert matched.sum() >= 0.6 * len(truth)  # and most visible particles are found


def test_reanalysis_of_a_store_fills_layers_histogram_and_the_store(pynta, wait_for, tmp_path):
    viewer, widgets = pynta
    # 25 particles in 256 x 256 px at 100 fps: sparse enough for unambiguous linking
    settings = simulate.SimulationSettings(
        shape=(256, 256), n_particles=25, seed=11, frame_interval_s=0.01
    )
    movie = simulate.simulate_movie(300, settings)
    path = tmp_path / "beads.zarr"
    store = MovieStore.create(path, movie.frames.shape[1:], "uint16", movie.metadata)
    store.append(movie.frames)
    store.close()
    viewer.open(str(path), plugin="napari-pynta")
    tracking, sizes = widgets["Tracking"], widgets["Sizes"]
    assert tracking.movie.currentText() == "beads"
    assert sizes.session.conditions.frame_interval_s == pytest.approx(0.01)  # from the metadata
    results = []
    tracking.session.analysis_finished.connect(results.append)
    tracking.analyze.click()
    wait_for(lambda: results, 60, "the analysis")
    assert "beads PyNTA tracks" in viewer.layers and "beads PyNTA localizations" in viewer.layers
    shown, ensemble = sizes.current_diameters()
    assert len(shown) == len(results[0].per_track) >= 10
    # the GUI's defaults and the movie's metadata give exactly what `pynta analyze --engine E`
    # computes with the Tracking widget's engine (the fast one: positions within 3e-5 px of
    # trackpy's, the offline default) ...
    engine = tracking.engine.currentText()
    reference = analysis.analyze(
        open_movie(path), analysis.AnalysisParams.from_metadata(movie.metadata, engine=engine)
    )
    assert ensemble == pytest.approx(reference.summary["diameter_nm"], rel=1e-9)
    # ... which agrees with the ground truth of 100 nm beads within its standard error
    assert abs(ensemble - 100.0) < 3 * reference.summary["diameter_se_nm"]
    # the deconvolved distribution of these monodisperse beads: D50 at the truth, narrower than
    # the raw per-track histogram, and drawn over it as the tracks expected per bin
    deconvolved = sizes.current_deconvolved()
    assert deconvolved["d50"] == pytest.approx(100.0, rel=0.08)
    raw_width = np.percentile(shown, 90) - np.percentile(shown, 10)
    assert deconvolved["d90"] - deconvolved["d10"] < 0.5 * raw_width
    assert sizes.statistics.item(5, 1).text() == f"{deconvolved['d50']:.0f}"
    (curve,) = [
        patch
        for patch in sizes.canvas.histogram_axes.patches
        if patch.get_label() == "deconvolved (Walker EM)"
    ]
    bars = [patch for patch in sizes.canvas.histogram_axes.patches if patch is not curve]
    assert sum(curve.get_data().values) == pytest.approx(len(shown), rel=0.02)  # same scale
    assert sum(bar.get_height() for bar in bars) == len(shown)
    low, high = sizes.canvas.histogram_axes.get_xlim()  # a few aberrant tracks may fall outside
    assert np.mean((shown >= low) & (shown <= high)) >= 0.99 and low < deconvolved["d10"]
    assert sizes.canvas.convergence_axes is None  # the convergence plot is a live-only plot
    assert reference.summary["warnings"] == []
    assert not sizes.warnings.isVisibleTo(sizes) and sizes.warnings.text() == ""
    assert {"localizations", "tracks", "per_track"} <= set(MovieStore.open(path).table_names())
    assert "saved" in tracking.message_line.text()
    csv = sizes.export_csv(tmp_path / "sizes")
    assert csv.name == "sizes.csv" and csv.read_text().count("\n") == len(shown) + 1
    assert sizes.report.isEnabled()
    report = sizes.write_report(tmp_path / "report.html").read_text()
    assert f"{reference.summary['diameter_nm']:.1f} nm" in report


def test_roi_drawn_as_a_rectangle_fills_the_roi_fields(pynta):
    viewer, widgets = pynta
    camera = widgets["Camera"]
    camera.use_roi.click()
    assert camera.message_line.is_error and "draw a rectangle" in camera.message_line.text()
    camera.draw_roi.click()
    roi_layer = viewer.layers["PyNTA ROI"]
    assert roi_layer.mode == "add_rectangle"
    roi_layer.add_rectangles(np.array([[20.2, 30.7], [84.0, 130.1]]))  # (y, x) corners
    camera.use_roi.click()
    assert [field.value() for field in camera.roi] == [20, 30, 64, 101]
    assert camera.camera_settings()["roi"] == (20, 30, 64, 101)


def test_snap_without_live_adds_one_camera_frame(pynta, wait_for):
    viewer, widgets = pynta
    widgets["Camera"].snap.click()
    wait_for(lambda: "PyNTA snap" in viewer.layers, 30, "the snapped frame")
    frame = viewer.layers["PyNTA snap"].data
    assert frame.shape == (256, 256) and frame.max() > np.median(frame) + 100  # particles


class RecordingPipeline:
    """Stands in for a running LivePipeline: records the calls the session makes."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def test_closing_the_camera_widget_stops_the_pipeline_it_started(pynta):
    viewer, widgets = pynta
    camera = widgets["Camera"]
    session = camera.session
    session.pipeline, session.live_state = RecordingPipeline(), "running"
    pipeline = session.pipeline
    widgets["Tracking"].n_locators.setValue(2)  # a running pipeline gets GUI changes ...
    viewer.window.remove_dock_widget(camera)  # ... and is stopped when its widget goes
    assert session.wait_idle(10)
    assert [name for name, _, _ in pipeline.calls] == ["set_locators", "stop"]
    assert pipeline.calls[0][1] == (2,)
    assert session.live_state == "idle" and session.pipeline is None


def test_pipeline_calls_run_in_the_order_they_were_made_whatever_the_threads_do(pynta, monkeypatch):
    """Each call runs in its own worker thread; a lock alone let a later thread (stop) run
    before an earlier one (set_locators) when the scheduler started it first (seen under load
    in the test above)."""
    import time

    _, widgets = pynta
    session = widgets["Camera"].session
    session.pipeline, session.live_state = RecordingPipeline(), "running"
    pipeline = session.pipeline
    held = []
    start_thread = session._run_in_thread
    monkeypatch.setattr(session, "_run_in_thread", lambda *a, **k: held.append((a, k)))
    session._pipeline_call("set_locators", 2)
    session._pipeline_call("stop")
    monkeypatch.undo()
    for args, kwargs in reversed(held):  # the later call's thread starts first
        start_thread(*args, **kwargs)
        time.sleep(0.3)
    assert session.wait_idle(10)
    assert [name for name, _, _ in pipeline.calls] == ["set_locators", "stop"]
    session.pipeline, session.live_state = None, "idle"


def test_the_exposure_aid_shows_the_data_and_says_saturation_far_above_them(qtbot):
    """Before: the simulated camera's 100-400 ADU sat in the first of 64 bins over 0-65535."""
    from napari_pynta.exposure import exposure_stats
    from napari_pynta.widgets.exposure_aid import ExposureAid

    aid = ExposureAid()
    qtbot.addWidget(aid)
    frame = np.random.default_rng(0).integers(100, 401, (64, 64)).astype(np.uint16)
    aid.show_stats(exposure_stats(frame, 65535))
    left, right = aid.axes.get_xlim()
    assert left <= 100 and 400 < right < 1000  # the plot spans the data
    assert [t.get_text() for t in aid.axes.texts] == ["saturation at 65535 →"]
    assert "font-weight: bold" not in aid.saturation_label.styleSheet()
    frame[:8] = 4095  # a 12-bit camera clips one particle
    aid.show_stats(exposure_stats(frame, 4095))
    assert aid.axes.get_xlim()[1] < 1000
    assert [t.get_text() for t in aid.axes.texts] == ["+ 512 px saturated at 4095 →"]
    assert aid.saturation_label.text() == "saturated: 12.50 % of pixels at 4095"
    assert "font-weight: bold" in aid.saturation_label.styleSheet()


class _FakeRecordingSession:
    """Live "running" on the Camera widget's real session without processes, while in the
    ``with`` block: recordings start and stop at once; ``failure`` is the pipeline's
    ``recording_failed`` once set."""

    def __init__(self, session, monkeypatch):
        self.session, self.started, self.stopped, self.failure = session, [], 0, None
        self.seconds = []  # the time limit of each recording started
        monkeypatch.setattr(session, "start_recording", self.start_recording)
        monkeypatch.setattr(session, "stop_recording", self.stop_recording)

    def __enter__(self):
        from types import SimpleNamespace

        config = SimpleNamespace(refuse_recording_over_the_playback=lambda *a, **k: None)
        # a capture's recording has ended by itself when its time has passed
        status = lambda: SimpleNamespace(recording_failed=self.failure, recording=False)  # noqa: E731
        self.session.pipeline = SimpleNamespace(config=config, status=status)
        self.session.live_state = "running"
        return self

    def __exit__(self, *exc):
        self.session.pipeline, self.session.live_state = None, "idle"

    def start_recording(
        self, path, overwrite, sample=None, on_done=None, on_error=None, seconds=None
    ):
        self.started.append(Path(path).name)
        self.seconds.append(seconds)
        on_done(None)

    def stop_recording(self, on_done=None):
        self.stopped += 1
        on_done(10)


def test_measure_stops_and_says_so_when_measurement_json_cannot_be_written(
    pynta, wait_for, tmp_path, monkeypatch
):
    """A full disk while Measure lists capture 2: before, write_measurement's OSError escaped
    into the Qt event loop, capture 2 kept recording and the measurement never ended."""
    import errno
    import json

    from napari_pynta.widgets import measure

    _, widgets = pynta
    camera = widgets["Camera"]
    written, write = [], measure.write_measurement

    def full_after_one(folder, description):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(list(description["captures"]))
        return write(folder, description)

    monkeypatch.setattr(measure, "write_measurement", full_after_one)
    camera.output_path.setText(str(tmp_path / "beads.zarr"))
    camera.measure_captures.setValue(3)
    camera.measure_seconds.setValue(0.1)
    with _FakeRecordingSession(camera.session, monkeypatch) as fake:
        camera.measure.click()
        wait_for(lambda: camera.measure.text() == "Measure", 10, "the measurement to stop")
    folder = tmp_path / "beads"
    assert fake.started == ["capture-1.zarr", "capture-2.zarr"], camera.message_line.text()
    assert fake.seconds == [0.1, 0.1]  # the acquisition keeps each capture's frames of 0.1 s
    assert fake.stopped == 2
    assert not camera.measurement.running
    text = camera.message_line.text()
    assert camera.message_line.is_error, text
    assert (
        f"cannot update '{folder / 'measurement.json'}' after capture-2.zarr (No space left on "
        "device): the measurement stops here; it lists capture-1.zarr, and "
        f"'{folder / 'capture-2.zarr'}' is not in it" in text
    ), text
    assert json.loads((folder / "measurement.json").read_text())["captures"] == ["capture-1.zarr"]


def test_measure_stops_and_says_so_when_a_capture_recording_fails(
    pynta, wait_for, tmp_path, monkeypatch
):
    """A capture whose recording failed (a full disk): before, Measure went on to the next
    capture, which would fail alike, and said nothing of it."""
    import json

    from napari_pynta.live.config import LiveStatus

    _, widgets = pynta
    camera = widgets["Camera"]
    camera.output_path.setText(str(tmp_path / "beads.zarr"))
    camera.measure_captures.setValue(3)
    camera.measure_seconds.setValue(30.0)  # ended by the failure, not by its time
    with _FakeRecordingSession(camera.session, monkeypatch) as fake:
        camera.measure.click()
        assert fake.started == ["capture-1.zarr"] and camera.measurement.running
        fake.failure = "writing the store failed: No space left on device"
        camera.session.status_changed.emit(LiveStatus(recording_failed=fake.failure))
        wait_for(lambda: camera.measure.text() == "Measure", 10, "the measurement to stop")
    assert fake.started == ["capture-1.zarr"] and fake.stopped == 1
    text = camera.message_line.text()
    assert camera.message_line.is_error
    assert text == f"capture 1 failed ({fake.failure}): the measurement stops here", text
    listed = json.loads((tmp_path / "beads" / "measurement.json").read_text())["captures"]
    assert listed == ["capture-1.zarr"]  # its frames up to the failure are in the store


def test_measure_ends_and_says_so_when_live_stops_during_a_capture(
    pynta, wait_for, tmp_path, monkeypatch
):
    """Live stopped during a capture: its stop closes the recording, and the capture's own stop
    asked of a stopped Live never answers, so Measure stayed "Stop measuring" for good."""
    import json

    _, widgets = pynta
    camera = widgets["Camera"]
    camera.output_path.setText(str(tmp_path / "beads.zarr"))
    camera.measure_captures.setValue(3)
    camera.measure_seconds.setValue(30.0)
    with _FakeRecordingSession(camera.session, monkeypatch) as fake:
        camera.measure.click()
        assert fake.started == ["capture-1.zarr"] and camera.measurement.running
        camera.session._set_live_state("stopping")
        wait_for(lambda: camera.measure.text() == "Measure", 10, "the measurement to end")
    assert not camera.measurement.running and fake.started == ["capture-1.zarr"]
    text = camera.message_line.text()
    assert camera.message_line.is_error
    assert text.startswith("Live stopped during capture 1 of 3"), text
    listed = json.loads((tmp_path / "beads" / "measurement.json").read_text())["captures"]
    assert listed == ["capture-1.zarr"]


class _SlowCapturePipeline:
    """The live pipeline calls that Measure makes through the real session, without processes,
    logged in the order they run: each capture's recording has ended by itself when its time has
    passed; capture ``slow``'s recording takes until :attr:`release` is set to start (its call
    waits in its worker thread, as on a busy machine), the calls made after it waiting their
    turn."""

    def __init__(self, slow: str) -> None:
        import threading
        from types import SimpleNamespace

        self.config = SimpleNamespace(refuse_recording_over_the_playback=lambda *a, **k: None)
        self.slow, self.calls = slow, []
        self.starting, self.release = threading.Event(), threading.Event()

    def status(self):
        from types import SimpleNamespace

        return SimpleNamespace(recording_failed=None, recording=False)

    def start_recording(self, path, overwrite, seconds):
        if Path(path).name == self.slow:
            self.starting.set()
            self.release.wait(30)
        self.calls.append(f"start_recording {Path(path).name}")

    def stop_recording(self):
        self.calls.append("stop_recording")
        return 10

    def stop(self):  # closes the recording, its frames kept
        self.calls.append("stop")


def test_a_capture_that_starts_after_live_stopped_is_stopped_and_not_listed(
    pynta, wait_for, tmp_path, monkeypatch
):
    """Live stopped while capture 2 was starting: the measurement ended and said it holds 1
    capture, then capture 2's recording started and Measure listed it in measurement.json,
    replaced the error with "capture 2 of 3 → …" and ran its time. Now the late start only
    sees that its recording is stopped (Live's stop closes it, its frames kept)."""
    import json

    _, widgets = pynta
    camera = widgets["Camera"]
    session = camera.session
    pipeline = _SlowCapturePipeline(slow="capture-2.zarr")
    started, stops_asked = [], []  # the measurement's start callbacks run, its stops asked
    start, stop = session.start_recording, session.stop_recording

    def start_recording(path, *args, on_done, **kwargs):
        def done(result):
            on_done(result)
            started.append(Path(path).name)

        start(path, *args, on_done=done, **kwargs)

    def stop_recording(on_done=None):
        stops_asked.append(session.live_state)
        stop(on_done)

    monkeypatch.setattr(session, "start_recording", start_recording)
    monkeypatch.setattr(session, "stop_recording", stop_recording)
    session.pipeline = pipeline
    session._set_live_state("running")  # as Live's start leaves it
    camera.output_path.setText(str(tmp_path / "beads.zarr"))
    camera.measure_captures.setValue(3)
    camera.measure_seconds.setValue(0.1)
    try:
        camera.measure.click()
        wait_for(pipeline.starting.is_set, 10, "capture 2 to start")
        camera.live.click()  # the user stops Live
        assert session.live_state == "stopping" and not camera.measurement.running
        ended = camera.message_line.text()
        assert ended == (  # capture 2 was starting: 1 capture listed
            f"Live stopped during capture 2 of 3: the measurement ends with 1 capture(s) in "
            f"{tmp_path / 'beads'}"
        )
    finally:
        pipeline.release.set()  # capture 2's recording starts now, after the measurement ended
    wait_for(lambda: session.live_state == "idle", 10, "Live to stop")
    wait_for(lambda: started == ["capture-1.zarr", "capture-2.zarr"], 10, "the late start")
    late = tmp_path / "beads" / "capture-2.zarr"
    assert camera.message_line.text() == (  # the unlisted capture's frames are not left unsaid
        f"{ended}; capture-2.zarr began recording as Live stopped: it is not in "
        f"measurement.json, and its frames stay on disk (`pynta verify {late}`)"
    )
    assert camera.message_line.is_error
    listed = json.loads((tmp_path / "beads" / "measurement.json").read_text())["captures"]
    assert listed == ["capture-1.zarr"]
    assert camera.measure.text() == "Measure"
    assert pipeline.calls == [
        "start_recording capture-1.zarr",
        "stop_recording",
        "start_recording capture-2.zarr",
        "stop",  # closes capture 2's recording
    ]
    # the late start's stop reaches a Live stopping or stopped (whether Live's stop or the start's
    # answer comes first is the event loop's order): either way Live's stop closes capture 2
    assert stops_asked[0] == "running" and stops_asked[1:] in (["stopping"], ["idle"])


def test_a_measurement_that_ended_lets_go_of_the_session_and_a_second_one_runs(
    pynta, wait_for, tmp_path, monkeypatch
):
    """An ended measurement stayed connected to the session's status and Live-state signals
    (inert, but one more receiver per measurement for the session's life); it lets go of
    them when it ends, finished or failed, and the next measurement runs on the same session."""
    import json

    from napari_pynta.live.config import LiveStatus

    _, widgets = pynta
    camera = widgets["Camera"]
    session = camera.session

    def receivers() -> tuple[int, int]:
        return session.receivers(session.status_changed), session.receivers(
            session.live_state_changed
        )

    before = receivers()
    camera.measure_seconds.setValue(0.1)
    camera.measure_captures.setValue(2)
    with _FakeRecordingSession(session, monkeypatch) as fake:
        camera.output_path.setText(str(tmp_path / "first.zarr"))
        camera.measure.click()
        first = camera.measurement
        assert first.running and receivers() == (before[0] + 1, before[1] + 1)
        wait_for(lambda: camera.measure.text() == "Measure", 10, "the first measurement")
        assert not first.running and receivers() == before
        assert camera.message_line.text() == f"measurement of 2 captures in {tmp_path / 'first'}"

        camera.output_path.setText(str(tmp_path / "second.zarr"))
        camera.measure_seconds.setValue(30.0)  # ended by the failure, not by its time
        camera.measure.click()
        second = camera.measurement
        assert second is not first and second.running
        assert receivers() == (before[0] + 1, before[1] + 1)
        fake.failure = "writing the store failed: No space left on device"
        session.status_changed.emit(LiveStatus(recording_failed=fake.failure))
        wait_for(lambda: camera.measure.text() == "Measure", 10, "the second measurement")
        assert not second.running and receivers() == before
    assert fake.started == ["capture-1.zarr", "capture-2.zarr", "capture-1.zarr"]
    assert camera.message_line.is_error
    assert (
        camera.message_line.text()
        == f"capture 1 failed ({fake.failure}): the measurement stops here"
    )
    for name, captures in (
        ("first", ["capture-1.zarr", "capture-2.zarr"]),
        ("second", ["capture-1.zarr"]),
    ):
        listed = json.loads((tmp_path / name / "measurement.json").read_text())["captures"]
        assert listed == captures
