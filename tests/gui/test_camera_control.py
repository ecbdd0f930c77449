"""Camera control in the window: live exposure/ROI changes, camera options checked on entry,
settings kept between sessions, a cancelable re-analysis, and a canvas the frame fills."""

from __future__ import annotations

import numpy as np
import pytest

from napari_pynta import simulate
from napari_pynta.cli.gui import dock_pynta_widgets
from napari_pynta.errors import PyntaInputError
from napari_pynta.store import MovieStore
from napari_pynta.widgets.layer_data import LIVE_IMAGE_NAME, TRACKS_NAME

START_TIMEOUT_S = 60.0


def displayed_fraction(viewer) -> float:
    """Fraction of the canvas's smaller side the live frame spans on screen."""
    layer = viewer.layers[LIVE_IMAGE_NAME]
    height, width = (n * s for n, s in zip(layer.data.shape, layer.scale, strict=True))
    canvas = viewer.window._qt_viewer.canvas.native
    zoom = viewer.camera.zoom
    return max(height * zoom / canvas.height(), width * zoom / canvas.width())


@pytest.mark.slow
def test_exposure_and_roi_change_while_live_and_are_refused_while_recording(
    pynta, wait_for, tmp_path
):
    viewer, widgets = pynta
    viewer.window._qt_window.resize(1600, 1000)
    camera = widgets["Camera"]
    session = camera.session
    camera.live.click()
    wait_for(lambda: LIVE_IMAGE_NAME in viewer.layers, START_TIMEOUT_S, "live frames")
    wait_for(lambda: camera.apply_live.isEnabled(), 10, "Apply while live")
    # the first frame fills the canvas instead of sitting in a corner as a thumbnail
    assert displayed_fraction(viewer) > 0.8
    # the canvas keeps at least half of a 1600 x 1000 window next to the docks
    assert viewer.window._qt_viewer.canvas.native.width() >= 800
    # the exposure aid follows the live frames
    wait_for(lambda: camera.exposure_aid.stats is not None, 10, "the exposure aid")
    assert camera.exposure_aid.saturation_label.text().startswith("saturated:")
    assert camera.exposure_aid.stats.counts.sum() == 256 * 256

    camera.exposure_ms.setValue(2.0)
    for field, value in zip(camera.roi, (32, 48, 128, 160), strict=True):
        field.setValue(value)
    camera.apply_live.click()
    wait_for(lambda: "camera now at" in camera.message_line.text(), 30, "the camera's answer")
    wait_for(
        lambda: viewer.layers[LIVE_IMAGE_NAME].data.shape == (128, 160),
        20,
        "frames of the new ROI",
    )
    assert session.live_state == "running"  # changed without restarting the pipeline
    metadata = session.pipeline.camera_metadata
    assert metadata["exposure_s"] == pytest.approx(0.002)
    assert metadata["camera_settings"]["roi"] == [32, 48, 128, 160]
    pixel = session.conditions.pixel_size_um
    assert tuple(viewer.layers[LIVE_IMAGE_NAME].translate) == pytest.approx(
        (32 * pixel, 48 * pixel)
    )
    assert "exposure 2 ms" in camera.message_line.text()

    # only tracks of the new field of view are drawn (layer data in ROI pixels), never the
    # full-frame tracks from before the change shifted to the new origin
    first_new = session.pipeline.camera_settings_from_seq
    assert first_new > 0
    wait_for(lambda: TRACKS_NAME in viewer.layers, 30, "tracks in the new ROI")
    tracks = viewer.layers[TRACKS_NAME].data
    assert tracks[:, 1].min() >= first_new
    assert np.all((tracks[:, 2:4] >= -1) & (tracks[:, 2:4] <= np.array([128, 160])))

    # during a recording the camera settings are refused with a message
    camera.output_path.setText(str(tmp_path / "rec.zarr"))
    camera.record.click()
    wait_for(lambda: session.pipeline.status().recording, 20, "the recording")
    session.configure_camera({"gain": 2.0})
    wait_for(lambda: "during a recording" in camera.message_line.text(), 20, "the refusal")
    camera.record.click()
    camera.live.click()
    wait_for(lambda: session.live_state == "idle", 30, "Live to stop")


def test_camera_options_are_checked_on_entry(pynta, tmp_path):
    _, widgets = pynta
    camera = widgets["Camera"]
    options = camera.options
    camera.backend.setCurrentText("playback")
    options.playback_path.setText(str(tmp_path / "missing.zarr"))
    options.playback_path.editingFinished.emit()
    assert camera.message_line.is_error and "does not exist" in camera.message_line.text()
    camera.backend.setCurrentText("micromanager")
    # only the chosen camera's options are shown (the path fields sit in rows with a browse button)
    assert not options.mm_config.parentWidget().isHidden()
    assert options.playback_path.parentWidget().isHidden() and options.basler_serial.isHidden()
    options.mm_config.setText(str(tmp_path / "none.cfg"))
    options.mm_config.editingFinished.emit()
    assert "MM config file" in camera.message_line.text()
    config = tmp_path / "MMConfig.cfg"
    config.write_text("# a configuration\n")
    options.mm_config.setText(str(config))
    options.mm_config.editingFinished.emit()
    assert not camera.message_line.is_error
    assert camera.camera_settings()["config"] == str(config)
    # the pixel size from the camera pixel and the magnification, used by the camera and Sizes
    camera.backend.setCurrentText("basler")
    options.basler_serial.setText("40123456")
    options.camera_pixel_um.setValue(6.5)
    options.magnification.setValue(50.0)
    settings = camera.camera_settings()
    assert settings["pixel_size_um"] == pytest.approx(0.13)
    assert settings["serial"] == "40123456" and settings["pixel_format"] == "Mono8"
    assert camera.session.conditions.pixel_size_um == pytest.approx(0.13)
    camera.backend.setCurrentText("opencv")
    options.camera_pixel_um.setValue(0.0)
    options.pixel_size_um.setValue(0.0)
    assert camera.message_line.is_error and "pixel size" in camera.message_line.text()
    options.pixel_size_um.setValue(1.5)
    options.opencv_device.setText("2")
    options.opencv_device.editingFinished.emit()
    assert camera.camera_settings()["device"] == 2 and not camera.message_line.is_error


def test_settings_persist_between_sessions(pynta, make_napari_viewer, tmp_path, private_settings):
    viewer, widgets = pynta
    camera, tracking, sizes = widgets["Camera"], widgets["Tracking"], widgets["Sizes"]
    sizes.temperature.setValue(31.5)
    sizes.temperature.editingFinished.emit()
    tracking.diameter.setValue(9)
    camera.backend.setCurrentText("opencv")
    camera.options.opencv_device.setText("1")
    camera.options.pixel_size_um.setValue(0.25)
    camera.output_path.setText(str(tmp_path / "runs" / "movie.zarr"))
    camera.fps.setValue(60.0)
    assert (private_settings / "settings.json").is_file()
    camera.session.shutdown()
    viewer.close()

    again = dock_pynta_widgets(make_napari_viewer())
    try:
        assert again["Sizes"].session.conditions.temperature_c == pytest.approx(31.5)
        assert again["Sizes"].temperature.value() == pytest.approx(31.5)
        assert again["Tracking"].diameter.value() == 9
        restored = again["Camera"]
        assert restored.backend.currentText() == "opencv"
        assert restored.options.opencv_device.text() == "1"
        assert restored.options.pixel_size_um.value() == pytest.approx(0.25)
        assert restored.fps.value() == pytest.approx(60.0)
        assert restored.output_path.text() == str(tmp_path / "runs" / "movie.zarr")
    finally:
        again["Camera"].session.shutdown()


def test_cancel_stops_the_reanalysis_and_leaves_the_store_as_it_was(pynta, wait_for, tmp_path):
    viewer, widgets = pynta
    movie = simulate.simulate_movie(
        600, simulate.SimulationSettings(shape=(256, 256), n_particles=25, seed=2)
    )
    path = tmp_path / "long.zarr"
    with MovieStore.create(path, (256, 256), "uint16", movie.metadata) as store:
        store.append(movie.frames)
    before = sorted(p.relative_to(path) for p in path.rglob("*"))
    viewer.open(str(path), plugin="napari-pynta")
    tracking = widgets["Tracking"]
    finished = []
    tracking.session.analysis_finished.connect(finished.append)
    tracking.analyze.click()
    assert tracking.cancel.isEnabled()
    tracking.cancel.click()
    waited = wait_for(lambda: "cancelled" in tracking.message_line.text(), 30, "the cancel")
    print(f"cancelled after {waited:.2f} s (loaded machine)")
    tracking.session.wait_idle(30)
    assert not finished
    assert sorted(p.relative_to(path) for p in path.rglob("*")) == before
    with MovieStore.open(path) as store:
        assert "localizations" not in store.table_names()


def test_a_recording_the_pipeline_ends_on_its_own_is_closed_so_record_works_again(
    pynta, monkeypatch
):
    """The saver fell behind or the disk filled: the pipeline stopped recording by itself. The
    widget must close that recording (the store's final count, and the pipeline accepts a new
    recording), not only uncheck its button."""
    from napari_pynta.live.config import LiveStatus

    _, widgets = pynta
    camera = widgets["Camera"]
    closed = []
    monkeypatch.setattr(camera.session, "stop_recording", lambda *a, **k: closed.append(True))
    camera.record.setChecked(True)
    camera._on_status(LiveStatus(recording=True))
    assert not closed and camera.record.isChecked()
    camera._on_status(LiveStatus(recording=False, errors=["recording stopped: disk full"]))
    assert closed == [True] and not camera.record.isChecked()
    assert "disk full" in camera.message_line.text()
    camera._on_status(LiveStatus(recording=False))  # closed once, not on every status
    assert closed == [True]


def test_a_worker_restarted_after_dying_is_said_so_not_left_as_dead(pynta):
    """Seen with kill -9 of the saver while recording: 'workers died: saver' stayed on screen
    after the supervisor had restarted it and the frames were being saved again."""
    from napari_pynta.live.config import LiveStatus

    _, widgets = pynta
    camera = widgets["Camera"]
    camera._on_status(LiveStatus(recording=True, dead_workers=["saver"]))
    assert camera.message_line.is_error and "died: saver" in camera.message_line.text()
    camera._on_status(LiveStatus(recording=True, restarts={"saver": 1}))
    text = camera.message_line.text()
    assert "saver died and was restarted (1×)" in text and "died: saver" not in text
    camera.message_line.show_info("recording to x.zarr")  # a later message is not overwritten
    camera._on_status(LiveStatus(recording=True, restarts={"saver": 1}))
    assert camera.message_line.text() == "recording to x.zarr"
    # as the supervisor reports it: the restart is counted while the worker is still dead, so
    # "died" was left on screen after the restarted saver was saving again (a real session)
    camera._on_status(LiveStatus(recording=True, dead_workers=["saver"], restarts={"saver": 2}))
    assert camera.message_line.text() == "workers died: saver"
    camera.message_line.show_info("recording to y.zarr")  # a death is said once, not repeated
    camera._on_status(LiveStatus(recording=True, dead_workers=["saver"], restarts={"saver": 2}))
    assert camera.message_line.text() == "recording to y.zarr"
    camera._on_status(LiveStatus(recording=True, restarts={"saver": 2}))
    assert camera.message_line.text() == "saver died and was restarted (2×)"
    camera._on_status(LiveStatus(recording=True))  # a new Live: no restart, nothing to say
    assert camera.message_line.text() == "saver died and was restarted (2×)"


def test_live_ends_by_itself_when_the_acquisition_dies_and_says_so(pynta, monkeypatch):
    """Before, with the acquisition killed Live stayed 'running' (Stop to press, Record still
    checked) and, once stopped, "Live stopped after N frames" replaced the error as if the run
    had ended normally."""
    from napari_pynta.live.config import LiveStatus

    _, widgets = pynta
    camera = widgets["Camera"]
    session = camera.session
    stops = []
    monkeypatch.setattr(session, "stop_live", lambda: stops.append(True))
    monkeypatch.setattr(session, "live_state", "running")
    session.status_changed.emit(LiveStatus(recording=True, dead_workers=["saver"]))
    assert stops == []  # a saver is restarted: Live goes on
    session.status_changed.emit(LiveStatus(recording=True, dead_workers=["acquisition"]))
    assert stops == [True]
    final = LiveStatus(frames_acquired=253, frames_saved=253, dead_workers=["acquisition"])
    session._on_stopped(final)
    text = camera.message_line.text()
    assert camera.message_line.is_error and text.startswith("the acquisition died: Live stopped")
    assert "253 recorded frames kept" in text
    session._on_stopped(LiveStatus(frames_acquired=100))
    assert not camera.message_line.is_error


def test_a_record_path_in_upper_case_zarr_is_accepted(pynta, tmp_path):
    """Record refused "run.ZARR" ("record path must end in .zarr"), a name the readers open."""
    camera = pynta[1]["Camera"]
    camera.output_path.setText(str(tmp_path / "run.ZARR"))
    assert camera._record_path() == str(tmp_path / "run.ZARR")
    camera.output_path.setText(str(tmp_path / "run.zar"))
    with pytest.raises(PyntaInputError, match="must end in .zarr"):
        camera._record_path()
