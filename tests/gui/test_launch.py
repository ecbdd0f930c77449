"""`pynta` without a sub-command opens napari with the three widgets and starts the camera."""

from __future__ import annotations

import os

import napari

from napari_pynta import cli
from napari_pynta.widgets.session import PyntaSession


def test_pynta_without_arguments_docks_the_widgets_and_starts_the_simulated_camera(
    monkeypatch, qtbot, private_napari_settings
):
    started, seen = [], {}
    monkeypatch.setattr(
        PyntaSession,
        "start_live",
        lambda self, camera, settings, **kw: started.append((camera, settings)),
    )

    def fake_run() -> None:  # instead of blocking in the event loop: inspect and close
        viewer = napari.current_viewer()
        seen["title"] = viewer.title
        seen["docks"] = sorted(viewer.window.dock_widgets)
        viewer.close()

    monkeypatch.setattr(napari, "run", fake_run)
    assert cli.main([]) == 0
    assert seen["title"] == "PyNTA"
    # videos and zarr folders open with PyNTA without napari asking (no preference set before)
    preferences = private_napari_settings.plugins.extension2reader
    assert preferences["*.avi"] == preferences["*.zarr" + os.sep] == "napari-pynta"
    assert [name for name in seen["docks"] if "napari-pynta" in name] == [
        "Camera (napari-pynta)",
        "Sizes (napari-pynta)",
        "Tracking (napari-pynta)",
    ]
    ((camera, settings),) = started
    assert camera == "simulated" and settings["shape"] == (256, 256) and settings["fps"] == 100.0
    assert settings["n_particles"] == 25  # sparse enough at 100 fps for unbiased sizes


def test_ctrl_c_in_the_terminal_closes_the_window_and_shuts_the_session_down(
    monkeypatch, qtbot, private_napari_settings, capsys
):
    monkeypatch.setattr(PyntaSession, "start_live", lambda self, camera, settings, **kw: None)
    shut_down = []
    real_shutdown = PyntaSession.shutdown
    monkeypatch.setattr(
        PyntaSession, "shutdown", lambda self: (shut_down.append(self), real_shutdown(self))
    )

    def interrupted_run() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(napari, "run", interrupted_run)
    assert cli.main([]) == 130
    assert "pynta: interrupted" in capsys.readouterr().err
    assert shut_down  # the workers are stopped as when the window is closed
    assert napari.current_viewer() is None
