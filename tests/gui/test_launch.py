"""`pynta` without a sub-command opens napari with the three widgets and starts the camera."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import napari
import psutil
import pytest

from napari_pynta import cli
from napari_pynta.cli.gui import PREFERRED_WINDOW_PX
from napari_pynta.store import SEQ_PATH
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

    def run_until_closed() -> None:  # napari's event loop, until the window is closed
        signal.raise_signal(signal.SIGINT)  # Ctrl-C while napari runs
        qtbot.waitUntil(lambda: napari.current_viewer() is None, timeout=60_000)

    monkeypatch.setattr(napari, "run", run_until_closed)
    assert cli.main([]) == 130
    assert "pynta: interrupted" in capsys.readouterr().err
    assert shut_down  # the workers are stopped as when the window is closed


def test_ctrl_c_while_the_window_is_set_up_closes_it_once_it_is_up(
    monkeypatch, qtbot, private_napari_settings, capsys
):
    """Ctrl-C while `pynta` docks its widgets (seconds, tens of seconds on a loaded machine).
    Before, the KeyboardInterrupt ended `pynta` with a traceback there, or, raised inside a Qt
    callback, aborted it (rc -6)."""
    from napari_pynta.cli import gui

    monkeypatch.setattr(PyntaSession, "start_live", lambda self, camera, settings, **kw: None)
    shut_down = []
    real_shutdown = PyntaSession.shutdown
    monkeypatch.setattr(
        PyntaSession, "shutdown", lambda self: (shut_down.append(self), real_shutdown(self))
    )
    real_dock = gui.dock_pynta_widgets

    def interrupted_dock(viewer):
        signal.raise_signal(signal.SIGINT)
        return real_dock(viewer)

    monkeypatch.setattr(gui, "dock_pynta_widgets", interrupted_dock)
    monkeypatch.setattr(
        napari,
        "run",
        lambda: qtbot.waitUntil(lambda: napari.current_viewer() is None, timeout=60_000),
    )
    assert cli.main([]) == 130
    assert "pynta: interrupted" in capsys.readouterr().err
    assert shut_down


def test_the_window_is_big_enough_to_see_the_sizes_histogram(
    monkeypatch, qtbot, private_napari_settings
):
    """napari opens its first window at its layout's size hint (about 1090 x 630 px): the Sizes
    dock then shows two fields and no histogram. `pynta` opens it as large as the screen allows
    (up to PREFERRED_WINDOW_PX) and gives the Sizes dock half of the column's height (pytest-xvfb's
    800 x 600 screen is smaller than napari's window: the screenshots in docs/images show it on
    a 1600 x 1000 one)."""
    monkeypatch.setattr(PyntaSession, "start_live", lambda self, camera, settings, **kw: None)
    seen = {}

    def fake_run() -> None:
        viewer = napari.current_viewer()
        window = viewer.window._qt_window
        docks = viewer.window.dock_widgets
        camera, sizes = (docks[f"{name} (napari-pynta)"] for name in ("Camera", "Sizes"))
        qtbot.wait(500)  # napari lays out the window and its docks
        seen["heights"] = (camera.height(), sizes.height())
        screen = window.screen().availableGeometry()
        seen["window"] = (window.width(), window.height())
        seen["wanted"] = tuple(
            min(p, s)
            for p, s in zip(PREFERRED_WINDOW_PX, (screen.width(), screen.height()), strict=True)
        )
        viewer.close()

    monkeypatch.setattr(napari, "run", fake_run)
    assert cli.main([]) == 0
    assert seen["window"][0] >= seen["wanted"][0] - 20
    assert seen["window"][1] >= seen["wanted"][1] - 60  # window frame, title bar
    camera, sizes = seen["heights"]
    assert sizes >= 0.4 * (camera + sizes)  # before: 69 of 515 px, the histogram hidden


@pytest.mark.slow
def test_sigterm_to_the_process_group_closes_the_window_and_stops_the_workers_in_order():
    """SIGTERM to `pynta`'s process group (a desktop session ending, systemd, `kill -TERM
    -PGID`) closes the window as Ctrl-C does: the workers are stopped by the session before
    `pynta` exits (rc 143). Before, napari died of the default SIGTERM (rc -15) and its
    workers of theirs, with no chance to close a recording."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    process = subprocess.Popen(
        [sys.executable, "-m", "napari_pynta.cli"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        workers: list[psutil.Process] = []
        while len(workers) < 2 and time.monotonic() < deadline:  # acquisition, saver (live)
            time.sleep(0.5)
            workers = [
                child
                for child in psutil.Process(process.pid).children(recursive=True)
                if "resource_tracker" not in " ".join(child.cmdline())
            ]
        assert len(workers) >= 2
        time.sleep(3.0)  # live: frames streaming into the viewer
        os.killpg(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        still_running = [worker for worker in workers if worker.is_running()]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    assert "pynta: terminated (SIGTERM)" in err.decode()
    assert still_running == []  # stopped before pynta exited, not by their orphan watchdog


#: `pynta` (launch_gui) that also starts recording to argv[1] once live, and says so on stdout
RECORDING_PYNTA = """
import sys
from qtpy.QtCore import QTimer
from napari_pynta.cli import gui

dock = gui.dock_pynta_widgets

def dock_and_record(viewer):
    widgets = dock(viewer)
    camera = widgets["Camera"]
    camera.output_path.setText(sys.argv[1])

    def record_once_live():
        if camera.session.live_state != "running":
            QTimer.singleShot(200, record_once_live)
        elif camera.record.isEnabled():
            camera.record.click()
            print("recording", flush=True)

    QTimer.singleShot(200, record_once_live)
    return widgets

gui.dock_pynta_widgets = dock_and_record
sys.exit(gui.launch_gui())
"""


@pytest.mark.slow
def test_ctrl_c_in_the_terminal_stops_the_recording_in_order_and_exits_130(tmp_path):
    """Ctrl-C in the terminal that runs `pynta` reaches its whole process group, as SIGTERM from
    systemd does, and ends the same way: the window closes, the recording is finalized (every
    frame counted on disk, no writer left interrupted), the workers are stopped by the session,
    rc 130. Before, napari's own SIGINT handler left its event loop with the window open."""
    from napari_pynta.verify import verify_store

    path = tmp_path / "run.zarr"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    process = subprocess.Popen(
        [sys.executable, "-c", RECORDING_PYNTA, str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 300)
        assert ready and process.stdout.readline() == b"recording\n"
        workers = [
            child
            for child in psutil.Process(process.pid).children(recursive=True)
            if "resource_tracker" not in " ".join(child.cmdline())
        ]
        # the first frames are on disk once the seq array has a chunk (the store has no
        # "frames" folder: waiting for one let the recording run the whole 120 s)
        deadline = time.monotonic() + 120
        while not (path / SEQ_PATH / "c").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (path / SEQ_PATH / "c").exists(), "no frame reached the store in 120 s"
        time.sleep(2.0)  # frames being written
        os.killpg(process.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
        _, err = process.communicate(timeout=120)
        still_running = [worker for worker in workers if worker.is_running()]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 128 + signal.SIGINT, err.decode()[-3000:]
    assert "pynta: interrupted" in err.decode()
    assert "Traceback" not in err.decode(), err.decode()[-3000:]
    assert still_running == []  # stopped before pynta exited, not by their orphan watchdog
    report = verify_store(path)
    # finalized by the saver: no block left half written, every frame counted on disk (frames
    # the saver had to drop on a loaded machine are seq gaps, counted by the pipeline)
    assert report.n_frames > 0
    assert [problem for problem in report.problems if problem.kind != "seq"] == [], report


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland display variables")
def test_pynta_without_a_display_says_so_and_what_to_do(tmp_path):
    """Before: Qt aborted the process (rc 134) with "no Qt platform plugin could be initialized.
    Reinstalling the application may fix this problem" - on an ssh session without X."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env["HOME"] = str(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "napari_pynta.cli"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert "no display" in run.stderr and "DISPLAY" in run.stderr
    assert "xvfb-run" in run.stderr and "pynta --help" in run.stderr


@pytest.mark.parametrize(
    ("environment", "missing"),
    [
        ({}, True),
        ({"DISPLAY": ":0"}, False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, False),
        ({"QT_QPA_PLATFORM": "offscreen"}, False),
        ({"QT_QPA_PLATFORM": "xcb"}, True),  # set on Wayland desktops for X11 apps; ssh without -X
        ({"QT_QPA_PLATFORM": "xcb", "DISPLAY": "localhost:10.0"}, False),
        ({"QT_QPA_PLATFORM": "wayland", "DISPLAY": ":0"}, True),
        ({"QT_QPA_PLATFORM": "wayland-egl", "WAYLAND_DISPLAY": "wayland-0"}, False),
        ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, False),  # Qt tries each in turn
        ({"QT_QPA_PLATFORM": "xcb:nomitshm"}, True),
    ],
)
def test_a_display_is_missing_when_no_platform_qt_may_use_has_one(
    monkeypatch, environment, missing
):
    """QT_QPA_PLATFORM=xcb (or wayland) without its display server took Qt's abort (rc 134,
    'Reinstalling the application may fix this problem'): any QT_QPA_PLATFORM counted as a
    screen of its own, as offscreen is."""
    from napari_pynta.cli.gui import missing_display

    monkeypatch.setattr(sys, "platform", "linux")
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    assert missing_display() is missing
