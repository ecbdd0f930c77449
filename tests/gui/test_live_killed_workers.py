"""A real Live session in the window whose worker processes are killed (SIGKILL): what the user
sees (the error named, Live's state, the saved counter against the frames on disk) and the
store, readable once Live stops. Before, only a synthetic status was shown to the widget."""

from __future__ import annotations

import os
import signal

import pytest

from napari_pynta.store import MovieStore
from napari_pynta.verify import verify_store

pytestmark = pytest.mark.slow

#: spawning the workers imports numpy/pandas/trackpy in each, and a restarted worker does it
#: again: slow on a loaded 2-core machine (the waits end as soon as the condition holds)
START_TIMEOUT_MS = 180_000
#: frames recorded before the kill, and recorded again by a restarted saver
FRAMES_BEFORE_KILL = 50


def shown_messages(camera, monkeypatch) -> list[tuple[bool, str]]:
    """Every text the Camera widget's message line shows from now on, with whether it was shown
    as an error: the history, where reading the label back would see only the latest one."""
    line = camera.message_line
    shown: list[tuple[bool, str]] = []
    set_text = line.setText

    def noted(text: str) -> None:
        set_text(text)
        shown.append((line.is_error, text))

    monkeypatch.setattr(line, "setText", noted)
    return shown


def start_recording(camera, qtbot, path) -> None:
    session = camera.session
    camera.live.click()
    qtbot.waitUntil(lambda: session.live_state != "starting", timeout=START_TIMEOUT_MS)
    assert session.live_state == "running", camera.message_line.text()
    camera.output_path.setText(str(path))
    camera.record.click()
    qtbot.waitUntil(
        lambda: session.pipeline.status().frames_saved >= FRAMES_BEFORE_KILL, timeout=60_000
    )


@pytest.fixture
def recording(pynta, qtbot, monkeypatch, tmp_path):
    """The Camera widget recording Live to ``run.zarr`` (:data:`FRAMES_BEFORE_KILL` frames
    saved), the store's path and the messages the widget shows from then on."""
    _, widgets = pynta
    camera = widgets["Camera"]
    path = tmp_path / "run.zarr"
    start_recording(camera, qtbot, path)
    return camera, path, shown_messages(camera, monkeypatch)


def assert_store_readable(path, frames: int) -> None:
    report = verify_store(path, read_pixels=True)
    assert report.ok, report
    with MovieStore.open(path) as store:
        assert store.n_frames == frames


@pytest.mark.parametrize("victim", ["saver", "locator-1", "linker"])
def test_a_killed_worker_is_named_live_goes_on_and_the_recording_is_whole(recording, qtbot, victim):
    camera, path, shown = recording
    session = camera.session
    pipeline = session.pipeline
    before = pipeline.status()
    os.kill(pipeline._processes[victim].pid, signal.SIGKILL)

    def back() -> bool:
        status = pipeline.status()
        if status.restarts.get(victim) != 1 or not status.workers.get(victim):
            return False
        # working again: saving (saver) or tracking (locator, linker) frames after the kill
        if victim == "saver":
            return status.frames_saved > before.frames_saved + FRAMES_BEFORE_KILL
        return status.frames_tracked > before.frames_tracked + FRAMES_BEFORE_KILL

    qtbot.waitUntil(back, timeout=START_TIMEOUT_MS)
    qtbot.waitUntil(lambda: any("was restarted" in text for _, text in shown), timeout=10_000)
    said = [(error, text) for error, text in shown if "was restarted" in text]
    assert said[0] == (True, f"{victim} died and was restarted (1×)"), shown
    assert session.live_state == "running" and camera.live.text() == "Stop"
    assert camera.record.isChecked()

    camera.record.click()  # stop recording: the store's count is what the user is told
    qtbot.waitUntil(
        lambda: any("frames saved" in text for _, text in shown), timeout=START_TIMEOUT_MS
    )
    stopped = [text for error, text in shown if "frames saved" in text and not error]
    saved = int(stopped[-1].split(":")[1].split()[0])
    camera.live.click()  # stop Live
    qtbot.waitUntil(lambda: session.live_state == "idle", timeout=60_000)
    assert not camera.record.isChecked() and camera.live.text() == "Live"
    assert saved > before.frames_saved
    assert_store_readable(path, saved)


def test_a_killed_acquisition_ends_live_says_so_and_keeps_the_recording(recording, qtbot):
    camera, path, shown = recording
    session = camera.session
    os.kill(session.pipeline._processes["acquisition"].pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: session.live_state == "idle", timeout=START_TIMEOUT_MS)
    assert not camera.record.isChecked() and camera.live.text() == "Live"
    assert camera.live.isEnabled() and camera.backend.isEnabled()
    ended = [text for error, text in shown if error and "the acquisition died" in text]
    assert ended, shown
    # "the acquisition died: Live stopped after N frames (...); M recorded frames kept"
    kept = int(ended[-1].split("; ")[1].split()[0])
    assert kept >= FRAMES_BEFORE_KILL
    assert_store_readable(path, kept)
