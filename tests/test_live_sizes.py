"""The live size summary: warm-started summaries equal summaries from scratch, the D50 standard
error against the real scatter, the convergence history, and the precision measure on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_pynta.deconvolve import (
    StepModel,
    TrackSteps,
    stable_bootstrap_counts,
    walker_em,
)
from napari_pynta.errors import PyntaInputError
from napari_pynta.live.sizes import LiveSizer
from napari_pynta.physics import water_viscosity_pa_s
from napari_pynta.precision import MIN_TRACKS, d50_relative_se, precise_enough
from napari_pynta.simulate_tracks import LIVE_SETTINGS, METADATA, simulate_tracks

SETTINGS = LIVE_SETTINGS
MODEL = StepModel(0.01, 0.01, 0.03, 22.0, water_viscosity_pa_s(22.0))


def gamma_tracks(n, rng, diameters=(100.0, 200.0)):
    """Mean squared steps drawn from the deconvolution's own model (a mixture)."""
    diameter = rng.choice(diameters, n)
    n_steps = rng.integers(5, 51, n)
    return TrackSteps(n_steps, rng.gamma(n_steps, MODEL.expected_msd1_um2(diameter) / n_steps))


def test_a_warm_started_em_reaches_the_same_solution_in_fewer_iterations():
    tracks = gamma_tracks(2000, np.random.default_rng(0))
    most = TrackSteps(tracks.n_steps[:1900], tracks.msd1_um2[:1900])
    cold = walker_em(tracks, MODEL)
    warm = walker_em(tracks, MODEL, start=walker_em(most, MODEL))
    tight = walker_em(tracks, MODEL, rel_tol=1e-9, max_iter=100_000)
    assert warm.converged and warm.n_iterations < cold.n_iterations / 2
    # both stop within the tolerance band around the converged solution
    for result in (cold, warm):
        assert np.abs(result.weights - tight.weights).sum() < 2e-3
        assert result.statistics()["d50"] == pytest.approx(tight.statistics()["d50"], rel=1e-3)
    # no start: the default behaviour, unchanged
    np.testing.assert_array_equal(walker_em(tracks, MODEL, start=None).weights, cold.weights)
    with pytest.raises(PyntaInputError, match="same diameter grid"):
        walker_em(tracks, MODEL, grid_nm=np.geomspace(10, 1000, 50), start=cold)


def test_stable_bootstrap_counts_are_poisson_and_fixed_by_the_track_id():
    ids = np.arange(20_000)
    counts = stable_bootstrap_counts(ids, 5)
    assert counts.shape == (5, 20_000)
    assert counts.mean() == pytest.approx(1.0, abs=0.02)
    assert counts.var() == pytest.approx(1.0, abs=0.03)
    assert np.mean(counts == 0) == pytest.approx(np.exp(-1), abs=0.01)
    # the same id gets the same counts whatever the other tracks and their order
    shuffled = np.random.default_rng(1).permutation(ids)
    np.testing.assert_array_equal(stable_bootstrap_counts(shuffled, 5), counts[:, shuffled])
    # resamples differ from each other
    assert not np.array_equal(counts[0], counts[1])
    # more resamples of the same bootstrap continue the numbering (the sequential peak test)
    np.testing.assert_array_equal(stable_bootstrap_counts(ids, 3, first=2), counts[2:])


def test_warm_started_live_summaries_equal_summaries_from_scratch():
    tracks = simulate_tracks(
        1500, np.random.default_rng(3), diameters_nm=(100.0, 200.0), fractions=(0.7, 0.3)
    )
    n_frames = int(tracks["frame"].max()) + 1
    running = LiveSizer(SETTINGS)
    done = 0
    for end in (n_frames // 3, 2 * n_frames // 3, n_frames):
        running.add(tracks[(tracks["frame"] >= done) & (tracks["frame"] < end)])
        done = end
        live, diameters = running.summary(end)
        fresh = LiveSizer(SETTINGS)
        fresh.add(tracks[tracks["frame"] < end])
        scratch, scratch_diameters = fresh.summary(end)
        # everything before the deconvolution is the same computation
        assert diameters == scratch_diameters
        for key in ("n_tracks", "n_steps", "diameter_nm", "diameter_se_nm", "size_nm"):
            assert live[key] == scratch[key], key
        # the deconvolution agrees within the EM tolerances
        a, b = live["deconvolved_nm"], scratch["deconvolved_nm"]
        for key in ("d10", "d50", "d90", "mean"):
            assert a[key] == pytest.approx(b[key], rel=2e-3), key
        assert a["peaks"] == pytest.approx(b["peaks"], rel=5e-3)
        assert a["d50_se"] == pytest.approx(b["d50_se"], rel=0.1)
    assert live["deconvolved_nm"]["iterations"] < scratch["deconvolved_nm"]["iterations"]
    # the history: one point per summary, in order, the last one the summary itself
    history = live["convergence"]
    assert [point["n_tracks"] for point in history] == sorted(p["n_tracks"] for p in history)
    assert len(history) == 3 and history[-1]["n_tracks"] == live["n_tracks"]
    assert history[-1]["t_s"] == pytest.approx(n_frames * METADATA["frame_interval_s"])
    assert history[-1]["d50_nm"] == live["deconvolved_nm"]["d50"]
    assert history[-1]["d50_relative_se"] == pytest.approx(d50_relative_se(live))


def test_the_d50_standard_error_covers_the_scatter_between_samples():
    d50, se = [], []
    for seed in range(8):
        sizer = LiveSizer(SETTINGS)
        tracks = simulate_tracks(400, np.random.default_rng(100 + seed))
        sizer.add(tracks)
        summary, _ = sizer.summary(int(tracks["frame"].max()) + 1)
        d50.append(summary["deconvolved_nm"]["d50"])
        se.append(summary["deconvolved_nm"]["d50_se"])
    d50_array = np.array(d50)
    # the simulated 100 nm, and an error of the size of the real scatter (8 seeds: +-30 %)
    assert abs(d50_array.mean() - 100) < 3 * np.std(d50_array, ddof=1)
    assert 0.5 < np.mean(se) / np.std(d50_array, ddof=1) < 2.0


def test_precision_is_judged_on_the_deconvolved_d50():
    summary = {
        "n_tracks": MIN_TRACKS,
        "diameter_nm": 100.0,
        "diameter_se_nm": 0.5,
        "deconvolved_nm": {"d50": 100.0, "d50_se": 3.0},
    }
    assert d50_relative_se(summary) == pytest.approx(0.03)
    assert precise_enough(summary, 0.05) and not precise_enough(summary, 0.02)
    assert d50_relative_se(summary | {"n_tracks": MIN_TRACKS - 1}) is None
    assert d50_relative_se(summary | {"deconvolved_nm": {"d50": 100.0, "d50_se": None}}) is None
    assert d50_relative_se(summary | {"deconvolved_nm": None}) is None


def test_the_history_is_thinned_but_keeps_the_newest_point(monkeypatch):
    from napari_pynta.live import sizes

    monkeypatch.setattr(sizes, "MAX_HISTORY", 4)
    tracks = simulate_tracks(300, np.random.default_rng(5))
    n_frames = int(tracks["frame"].max()) + 1
    sizer = LiveSizer(SETTINGS)
    for end in np.linspace(0, n_frames, 7)[2:].astype(int):
        sizer.add(tracks[(tracks["frame"] >= end - n_frames // 6) & (tracks["frame"] < end)])
        summary, _ = sizer.summary(end)
    history = summary["convergence"]
    assert len(history) <= 4
    assert history[-1]["n_tracks"] == summary["n_tracks"]


def test_frames_added_as_received_columns_make_the_same_tracks_as_tables():
    tracks = simulate_tracks(60, np.random.default_rng(5))
    tables, columns = LiveSizer(SETTINGS), LiveSizer(SETTINGS)
    for _, frame in tracks.groupby("frame"):
        tables.add(frame)
        received = {name: frame[name].to_numpy() for name in frame.columns}
        for values in received.values():
            values.flags.writeable = False  # as the views of a received message
        columns.add(received)
        if frame["frame"].iloc[0] == 40:  # built in two goes: a summary in between
            assert len(columns.tracks) == len(tables.tracks)
    columns.add({name: tracks[name].to_numpy()[:0] for name in tracks.columns})  # empty frame
    assert len(tracks) > 300
    pd.testing.assert_frame_equal(columns.tracks, tables.tracks)
    pd.testing.assert_frame_equal(columns.tracks, tracks.reset_index(drop=True))


def test_frames_that_never_reached_the_sizer_are_not_counted_as_frames_without_particles():
    """Frames the locators skipped (untracked) never reach the sizer: counted as empty frames,
    they made the live particles per frame 14 % low (`pynta acquire --camera simulated` at
    400 fps, 512², 30 in view: 25.3, with 209 of 1500 frames untracked)."""
    tracks = simulate_tracks(300, np.random.default_rng(4))
    n_frames = int(tracks["frame"].max()) + 1
    skipped = range(n_frames // 3, 2 * n_frames // 3)
    sizer = LiveSizer(SETTINGS)
    for seq in range(n_frames):
        if seq not in skipped:
            sizer.add(tracks[tracks["frame"] == seq], seq=seq)
    summary, _ = sizer.summary(n_frames)
    kept = tracks[~tracks["frame"].isin(skipped)]
    per_frame = len(kept) / (n_frames - len(skipped))
    assert summary["particles_per_frame"] == pytest.approx(per_frame)
    assert summary["concentration"]["particles_per_frame"] == pytest.approx(per_frame)
    assert summary["n_frames"] == n_frames - len(skipped)
    # the convergence history's time is still the recording time covered
    assert summary["convergence"][-1]["t_s"] == pytest.approx(
        n_frames * METADATA["frame_interval_s"]
    )
