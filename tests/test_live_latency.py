"""The linker's tracking latency: over the run, and over the frames linked recently."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from napari_pynta.live.workers import linker
from napari_pynta.live.workers.linker import LATENCY_RESOLUTION, RECENT_LATENCY_S, Latencies


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
    assert run["p95"] == pytest.approx(4.0, rel=LATENCY_RESOLUTION)
    assert run["max"] == pytest.approx(4.0)
    assert recent == pytest.approx({"p50": 0.003, "p95": 0.003, "max": 0.003})
    # nothing linked for a whole window: no recent figure, the run's stays
    clock[0] += RECENT_LATENCY_S + 0.1
    assert latencies.recent() is None
    assert latencies.summary() == run


def test_the_run_percentiles_match_the_exact_ones_within_the_stated_resolution(monkeypatch):
    """The run's figures come from a fixed histogram (a run of hours must not keep every
    latency): 200 000 log-normal latencies from ~1 ms to ~10 s, a few negative ones (clocks of
    two processes), against numpy's percentiles of the same values."""
    rng = np.random.default_rng(3)
    seconds = np.concatenate((np.exp(rng.normal(np.log(0.02), 1.5, 200_000)), [-1e-4, 0.0]))
    clock = [5000.0]
    monkeypatch.setattr(linker.time, "time", lambda: clock[0])
    latencies = Latencies()
    for latency in seconds:
        latencies.add(clock[0] - latency)
    run = latencies.summary()
    exact = np.percentile(seconds, [50, 95])
    assert run["p50"] == pytest.approx(exact[0], rel=LATENCY_RESOLUTION)
    assert run["p95"] == pytest.approx(exact[1], rel=LATENCY_RESOLUTION)
    assert run["max"] == pytest.approx(seconds.max(), rel=1e-9)


def test_a_long_run_keeps_a_bounded_record_of_its_latencies(monkeypatch):
    """Hours at hundreds of fps: the latencies are not all kept (a list of every one grew by
    46 MB an hour at 400 fps), only the histogram and the last window's."""
    clock = [0.0]
    monkeypatch.setattr(linker.time, "time", lambda: clock[0])
    latencies = Latencies()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for _ in range(200_000):  # 2000 s at 100 fps, the summary never asked for
        clock[0] += 0.01
        latencies.add(clock[0] - 0.005)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    window = RECENT_LATENCY_S / 0.01
    assert grown < 200 * window  # the last window's (time, latency) pairs, not 200 000 of them
    assert latencies.summary()["p95"] == pytest.approx(0.005, rel=LATENCY_RESOLUTION)
