"""The live linker's size summaries run beside the linking, without losing or mixing frames."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from napari_pynta.live.workers.linker import BackgroundSizer


class SlowSizer:
    """A sizer whose summary blocks until released, recording what it was given."""

    def __init__(self) -> None:
        self.added: list[int] = []
        self.release = threading.Event()
        self.summarizing = threading.Event()
        self.fail_with: BaseException | None = None

    def add(self, linked: pd.DataFrame) -> None:
        assert not self.summarizing.is_set(), "add() while a summary runs"
        self.added.append(int(linked["frame"].iloc[0]))

    def summary(self, n_frames: int) -> tuple[dict, list[float]]:
        self.summarizing.set()
        self.release.wait(10)
        self.summarizing.clear()
        if self.fail_with is not None:
            raise self.fail_with
        return {"n_frames": n_frames, "frames": list(self.added)}, [100.0]


def frame(number: int) -> pd.DataFrame:
    return pd.DataFrame({"frame": [number], "y": [1.0], "x": [2.0], "particle": [0]})


def test_frames_linked_during_a_summary_join_the_next_one():
    sizer = SlowSizer()
    sizing = BackgroundSizer(sizer)
    sizing.add(frame(0))
    sizing.add(frame(1))
    sizing.start(n_frames=2, frames_sized=2)
    assert sizer.summarizing.wait(10) and sizing.running
    sizing.add(frame(2))  # linking goes on while the summary runs: held back, not lost
    sizing.add(frame(3))
    assert sizing.collect() is None  # not finished: the linking loop does not wait
    sizer.release.set()
    summary, diameters, error, seconds = sizing.collect(wait=True)
    assert summary == {"n_frames": 2, "frames": [0, 1], "frames_sized": 2}
    assert diameters == [100.0] and error == "" and seconds >= 0
    assert sizer.added == [0, 1, 2, 3] and not sizing.running
    sizing.start(n_frames=4, frames_sized=4)
    assert sizing.collect(wait=True)[0]["frames"] == [0, 1, 2, 3]


def test_sizing_trouble_is_reported_and_other_errors_reach_the_linker():
    sizer = SlowSizer()
    sizer.release.set()
    sizing = BackgroundSizer(sizer)
    sizer.fail_with = ValueError("too few tracks")
    sizing.start(n_frames=0, frames_sized=0)
    assert sizing.collect(wait=True)[:3] == (None, [], "too few tracks")
    sizer.fail_with = KeyError("bug")
    sizing.start(n_frames=0, frames_sized=0)
    with pytest.raises(KeyError, match="bug"):
        sizing.collect(wait=True)


def test_new_settings_drop_the_running_summary_and_the_held_frames():
    old, new = SlowSizer(), SlowSizer()
    sizing = BackgroundSizer(old)
    sizing.start(n_frames=0, frames_sized=0)
    sizing.add(frame(5))
    old.release.set()
    sizing.replace(new)
    assert not sizing.running and old.added == [] and new.added == []
    sizing.add(frame(6))
    assert new.added == [6]
