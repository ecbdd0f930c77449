"""A long re-analysis says how far it is (frames located of the total, time elapsed and left)
in the widget that started it, and its Cancel stops it."""

from __future__ import annotations

import re

from napari_pynta import simulate
from napari_pynta.store import MovieStore

N_FRAMES = 400


def write_movie(path, n_frames: int = N_FRAMES, seed: int = 3) -> None:
    movie = simulate.simulate_movie(
        n_frames, simulate.SimulationSettings(shape=(128, 128), n_particles=10, seed=seed)
    )
    with MovieStore.create(path, (128, 128), "uint16", movie.metadata) as store:
        store.append(movie.frames)


def test_the_reanalysis_shows_frames_done_of_the_total_and_the_time(pynta, wait_for, tmp_path):
    """Before: only napari's spinner in the status bar (its progress bar sits in the hidden
    activity dock) during a 385 s re-analysis of 4142 frames."""
    viewer, widgets = pynta
    path = tmp_path / "movie.zarr"
    write_movie(path)
    viewer.open(str(path), plugin="napari-pynta")
    tracking = widgets["Tracking"]
    assert tracking.progress.isHidden()
    shown: list[tuple[int, int, str]] = []
    tracking.progress.valueChanged.connect(
        lambda value: shown.append((value, tracking.progress.maximum(), tracking.progress.text()))
    )
    analyzed(tracking, wait_for)
    shown = [entry for entry in shown if entry[1]]  # not the busy bar before the first frames
    assert shown, "no progress was shown"
    done = [value for value, _, _ in shown]
    assert done == sorted(done) and done[-1] == N_FRAMES
    assert {maximum for _, maximum, _ in shown} == {N_FRAMES}
    value, _, text = shown[len(shown) // 2]
    assert re.search(rf"\b{value}/{N_FRAMES} frames located\b", text), text
    assert "elapsed" in text and "left" in text, text
    # once the analysis is over the bar goes, its result is said
    assert tracking.progress.isHidden()
    assert "tracks sized" in tracking.message_line.text()


def test_the_reanalysis_makes_no_qt_object_outside_the_gui_thread(pynta, wait_for, tmp_path):
    """Before: the worker thread opened a napari ``progress``, whose bar napari's activity
    dialog then made and parented from that thread ("QObject::setParent: Cannot set parent, new
    parent is in a different thread"): Qt widgets belong to the GUI thread."""
    from qtpy.QtCore import qInstallMessageHandler

    viewer, widgets = pynta
    path = tmp_path / "movie.zarr"
    write_movie(path, 100)
    viewer.open(str(path), plugin="napari-pynta")
    tracking = widgets["Tracking"]
    messages: list[str] = []
    previous = qInstallMessageHandler(lambda _mode, _context, text: messages.append(text))
    try:
        analyzed(tracking, wait_for)
    finally:
        qInstallMessageHandler(previous)
    assert "tracks sized" in tracking.message_line.text()
    assert not [text for text in messages if "thread" in text], messages


def test_cancel_hides_the_progress_and_the_analysis_stops(pynta, wait_for, tmp_path):
    viewer, widgets = pynta
    path = tmp_path / "long.zarr"
    write_movie(path, 2000)
    viewer.open(str(path), plugin="napari-pynta")
    tracking = widgets["Tracking"]
    tracking.analyze.click()
    wait_for(lambda: tracking.progress.value() > 0, 120, "the first progress")
    tracking.cancel.click()
    wait_for(lambda: "cancelled" in tracking.message_line.text(), 60, "the cancel")
    assert tracking.session.wait_idle(30)
    assert tracking.progress.value() < 2000  # it stopped before the end
    assert tracking.progress.isHidden()


class Calls:
    """Counts the calls of a function of a core module (from any thread). ``owner`` holds it
    under ``name``; a tuple of owners for a function that several modules import (each calls
    it by its own name)."""

    def __init__(self, monkeypatch, owner, name: str):
        self.count = 0
        for holder in owner if isinstance(owner, tuple) else (owner,):
            original = getattr(holder, name)

            def counted(*args, _original=original, **kwargs):
                self.count += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(holder, name, counted)


def cancel_once(tracking, calls: Calls, wait_for, what: str) -> int:
    """Click Cancel once ``calls`` has begun; return the calls made by then."""
    wait_for(lambda: calls.count > 0, 300, what)
    tracking.cancel.click()
    at_click = calls.count
    wait_for(lambda: "cancelled" in tracking.message_line.text(), 120, "the cancel")
    assert tracking.session.wait_idle(30)
    return at_click


def test_cancel_during_linking_stops_the_linking(pynta, wait_for, tmp_path, monkeypatch):
    """Before: Cancel took effect once linking (the pilot, the linking and two relinkings of
    every frame) and sizing had ended; now at the next frame linked."""
    from napari_pynta import link

    viewer, widgets = pynta
    path = tmp_path / "long.zarr"
    write_movie(path, 2000)
    viewer.open(str(path), plugin="napari-pynta")
    tracking = widgets["Tracking"]
    linked = Calls(monkeypatch, link.StreamingLinker, "add")  # one call per frame linked
    tracking.analyze.click()
    at_click = cancel_once(tracking, linked, wait_for, "linking")
    assert linked.count - at_click <= 2, (at_click, linked.count)
    assert tracking.progress.isHidden()
    assert "the movie's store is unchanged" in tracking.message_line.text()
    with MovieStore.open(path) as store:
        assert "tracks" not in store.table_names()


def test_cancel_during_sizing_stops_the_deconvolution(pynta, wait_for, tmp_path, monkeypatch):
    """Before: the deconvolution (its bootstrap and tested peaks: dozens of EM runs) ran to its
    end after Cancel; now it stops at the next EM iteration."""
    from napari_pynta.deconvolve import bootstrap, em

    viewer, widgets = pynta
    path = tmp_path / "movie.zarr"
    write_movie(path)
    viewer.open(str(path), plugin="napari-pynta")
    tracking = widgets["Tracking"]
    em_runs = Calls(monkeypatch, (em, bootstrap), "_em_iterations")
    tracking.analyze.click()
    at_click = cancel_once(tracking, em_runs, wait_for, "the deconvolution")
    assert em_runs.count - at_click <= 1, (at_click, em_runs.count)
    assert "sized" not in tracking.message_line.text()
    with MovieStore.open(path) as store:
        assert "tracks" not in store.table_names()


def test_a_movie_without_particles_is_said_to_have_failed(pynta, wait_for, tmp_path):
    """Analyze movie on a dark movie said "0 tracks sized" as information; it is a failed
    measurement now, said as an error with why and what to try."""
    import numpy as np

    viewer, widgets = pynta
    path = tmp_path / "dark.zarr"
    metadata = simulate.simulate_movie(1, simulate.SimulationSettings(shape=(128, 128))).metadata
    with MovieStore.create(path, (128, 128), "uint16", metadata) as store:
        store.append(np.full((100, 128, 128), 100, dtype=np.uint16))
    viewer.open(str(path), plugin="napari-pynta")
    tracking = widgets["Tracking"]
    analyzed(tracking, wait_for)
    text = tracking.message_line.text()
    assert tracking.message_line.is_error, text
    assert "failed" in text and "no particle was found" in text, text
    # what to try, named as the Tracking widget shows it: its fields' labels and its check
    # box (it named the command-line flags --minmass, --diameter-px and --invert)
    controls = (tracking.minmass, tracking.diameter)
    for label in [form_label(tracking, field) for field in controls] + [tracking.invert.text()]:
        assert f"“{label}”" in text, (label, text)
    assert "--" not in text, text
    # the Sizes widget lists the same reason, as the GUI names it
    wait_for(lambda: bool(widgets["Sizes"].warnings.text()), 30, "the Sizes warnings")
    assert f"“{tracking.invert.text()}”" in widgets["Sizes"].warnings.text()
    assert "--minmass" not in widgets["Sizes"].warnings.text()


def form_label(tracking, field) -> str:
    """The text of the Tracking form's label of ``field``."""
    from qtpy.QtWidgets import QFormLayout

    (form,) = [
        layout for layout in tracking.findChildren(QFormLayout) if layout.labelForField(field)
    ]
    return form.labelForField(field).text()


def test_tracks_shorter_than_the_length_filter_are_said_with_the_forms_label(
    pynta, wait_for, tmp_path
):
    """The reason named --min-track-length in the GUI, which has a field for it instead."""
    viewer, widgets = pynta
    path = tmp_path / "short.zarr"
    write_movie(path, n_frames=40, seed=8)  # no particle of this seed stays all 40 frames
    viewer.open(str(path), plugin="napari-pynta")
    tracking = widgets["Tracking"]
    tracking.min_track_length.setValue(40)
    finished = analyzed(tracking, wait_for)
    text = tracking.message_line.text()
    label = form_label(tracking, tracking.min_track_length)
    assert tracking.message_line.is_error, text
    assert f"No track is as long as “{label}” (40 frames)" in text, text
    assert f"Lower “{label}” (at least 3)" in text and "--" not in text, text
    # the summary (what --json prints and the store keeps) still names the flag
    summary = finished[0].summary
    assert "No track is as long as --min-track-length (40 frames)" in summary["unsized_reason"]


def analyzed(tracking, wait_for) -> list:
    """Click the Tracking widget's Analyze, wait until the analysis has finished and the
    session is idle; the results the session announced (``analysis_finished``)."""
    finished = []
    tracking.session.analysis_finished.connect(finished.append)
    tracking.analyze.click()
    wait_for(lambda: bool(finished), 300, "the analysis")
    tracking.session.wait_idle(30)
    return finished
