"""Live tracks follow the drawn frame: the tracks layer is redrawn when new tracks arrive (as
often as its own redraw time allows), not every half second. How far they trail the image in a
live window is measured by benchmarks/bench_live_tracks_lag.py (a timing, not a test)."""

from __future__ import annotations

import time

import pandas as pd

from napari_pynta.widgets.redraw_pacing import RedrawPacer


def test_the_pacer_redraws_at_the_image_rate_when_redrawing_is_cheap():
    pacer = RedrawPacer(min_interval_s=1 / 30, wait_factor=4.0)
    assert pacer.due(0.0)
    pacer.drawn(0.0, 0.002)  # 2 ms: waits the image's 33 ms, not 5 x 2 ms
    assert not pacer.due(0.030) and pacer.due(0.034)


def test_the_pacer_keeps_a_slow_redraw_to_a_fifth_of_the_gui_thread():
    pacer = RedrawPacer(min_interval_s=1 / 30, wait_factor=4.0)
    pacer.drawn(10.0, 10.1)  # 100 ms (a loaded machine): the next one 500 ms after its start
    assert not pacer.due(10.45) and pacer.due(10.5)
    pacer.drawn(10.5, 10.502)  # cheap again: the image's rate again
    assert not pacer.due(10.532) and pacer.due(10.534)


class TracksOnly:
    """A live subscriber whose next poll brings the tracks of ``frames`` (none when empty)."""

    def __init__(self) -> None:
        self.frames: list[int] = []

    def poll(self):
        from napari_pynta.live.subscriber import LiveUpdate

        frames, self.frames = self.frames, []
        tracks = pd.DataFrame(
            {"particle": 0, "frame": frames, "y": 10.0, "x": [10.0 + f for f in frames]}
        )
        return LiveUpdate(tracks=tracks)

    def close(self) -> None:
        pass


def test_new_tracks_are_drawn_at_the_next_poll_the_pacer_allows(pynta, monkeypatch):
    """Before: drawn every 0.5 s whatever came, so at 100 fps they trailed by up to 50 frames."""
    viewer, widgets = pynta
    session = widgets["Camera"].session
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])  # redraws take no time
    drawn: list[int] = []
    monkeypatch.setattr(
        session.link, "show_live_tracks", lambda table: drawn.append(int(table["frame"].max()))
    )
    session.subscriber = subscriber = TracksOnly()
    for frame in range(1, 31):  # 100 fps, a poll every 10 ms, the tracks of one frame each
        subscriber.frames = [frame]
        session._poll()
        clock[0] += 0.010
    # at the display rate (30 Hz: every 4th poll), each redraw with the newest tracks
    assert drawn == [1, 5, 9, 13, 17, 21, 25, 29]
    clock[0] += 1.0
    session._poll()  # frame 30's tracks, which came too soon after a redraw, drawn now
    clock[0] += 1.0
    session._poll()  # nothing new: no redraw
    assert drawn[8:] == [30]
    session.subscriber = None
