"""The linker's tracking latency: over the run, and over the frames linked recently."""

from __future__ import annotations

import pytest

from napari_pynta.live.workers import linker
from napari_pynta.live.workers.linker import RECENT_LATENCY_S, Latencies


def test_the_recent_latency_covers_only_the_frames_linked_in_the_last_window(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(linker.time, "time", lambda: clock[0])
    latencies = Latencies()
    assert latencies.summary() is None and latencies.recent() is None
    # a slow start: 300 frames linked 4 s after they were read ...
    for _ in range(300):
        clock[0] += 0.01
        latencies.add(clock[0] - 4.0)
    # ... then tracking keeps up: 1100 frames (11 s at 100 fps) linked 3 ms after their read
    for _ in range(1100):
        clock[0] += 0.01
        latencies.add(clock[0] - 0.003)
    run, recent = latencies.summary(), latencies.recent()
    assert run["p95"] == pytest.approx(4.0) and run["max"] == pytest.approx(4.0)
    assert recent == pytest.approx({"p50": 0.003, "p95": 0.003, "max": 0.003})
    # nothing linked for a whole window: no recent figure, the run's stays
    clock[0] += RECENT_LATENCY_S + 0.1
    assert latencies.recent() is None
    assert latencies.summary() == run
