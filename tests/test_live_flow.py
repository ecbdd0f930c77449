"""The live linker takes a uniform flow out of the positions before linking, as `pynta analyze`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from live_calibration import calibrate_simulated

from napari_pynta import analysis, link
from napari_pynta.analysis import AnalysisParams
from napari_pynta.detect.columns import LOCALIZATION_COLUMNS
from napari_pynta.link import StreamingLinker, link_features
from napari_pynta.live.flow import FLOW_WINDOW_FRAMES, LiveFlow
from napari_pynta.live.sizes import LiveSizer
from napari_pynta.live.workers.linker import link_frame, make_flow
from napari_pynta.simulate_tracks import LIVE_SETTINGS, METADATA, simulate_tracks

N_WALKERS = 40


def walkers(flow_px: np.ndarray, seed: int = 4) -> pd.DataFrame:
    """Brownian walkers (2 px rms steps per axis) carried by a common motion: ``flow_px`` (n,)
    px per frame along both axes, frame by frame; all localization columns."""
    rng = np.random.default_rng(seed)
    n_frames = len(flow_px)
    start = rng.uniform(0, 200, (N_WALKERS, 2))
    carried = np.cumsum(flow_px) - flow_px[0]
    paths = start + np.cumsum(rng.normal(0, 2.0, (n_frames, N_WALKERS, 2)), axis=0)
    y, x = (paths + carried[:, None, None]).reshape(-1, 2).T
    table = pd.DataFrame({"frame": np.repeat(np.arange(n_frames), N_WALKERS), "y": y, "x": x})
    for name in LOCALIZATION_COLUMNS[3:]:
        table[name] = rng.random(len(table))
    table["walker"] = np.tile(np.arange(N_WALKERS), n_frames)
    return table


def link_live(table: pd.DataFrame, flow: LiveFlow | None) -> tuple[pd.DataFrame, list]:
    """The table linked frame by frame as the live linker does (range 10 px); and the flow's
    velocity after each frame."""
    linker = StreamingLinker(10.0, memory=3)
    linked, velocities = [], []
    for number, frame in table.groupby("frame"):
        columns = link_frame(linker, frame.reset_index(drop=True), int(number), flow)
        linked.append(pd.DataFrame(columns).assign(walker=frame["walker"].to_numpy()))
        velocities.append(None if flow is None else flow.velocity.copy())
    return pd.concat(linked, ignore_index=True), velocities


def test_the_live_linker_links_in_the_flow_like_pynta_analyze():
    """A flow of 6 px per frame (8.5 px a frame) carries the walkers out of a 10 px range made
    for their own steps: linked as they are, their tracks break and join neighbours; with the
    flow taken out they are linked as pynta analyze links them in its flow (the same tracks,
    one a walker but for one large step), and keep their measured positions."""
    table = walkers(np.full(150, 6.0))
    unflowed, _ = link_live(table, None)
    assert unflowed["particle"].nunique() > 3 * N_WALKERS
    tracks, velocities = link_live(table, LiveFlow())
    params = AnalysisParams(pixel_size_um=0.1, frame_interval_s=0.01, temperature_c=22.0)
    offline = link_features(table, 10.0, flow=analysis.flow_for_linking(table, params))
    assert tracks["particle"].nunique() <= N_WALKERS + 1
    pd.testing.assert_frame_equal(tracks[offline.columns], offline)
    np.testing.assert_array_equal(tracks[["y", "x"]], table[["y", "x"]])
    np.testing.assert_allclose(velocities[-1], [6.0, 6.0], rtol=0.05)


def test_a_flow_that_starts_while_live_is_followed():
    """At rest for 150 frames, then a flow of 6 px per frame: none is taken out at rest (below
    the analysis's 1 px per frame), the flow is found within a window of frames once it starts,
    and the tracks are whole again after that."""
    flow_px = np.where(np.arange(300) < 150, 0.0, 6.0)
    table = walkers(flow_px)
    tracks, velocities = link_live(table, LiveFlow())
    assert not np.any(velocities[149])
    np.testing.assert_allclose(velocities[150 + FLOW_WINDOW_FRAMES], [6.0, 6.0], rtol=0.05)
    settled = tracks[tracks["frame"] >= 150 + FLOW_WINDOW_FRAMES]
    assert settled["particle"].nunique() == N_WALKERS
    assert (settled.groupby("particle").size() == settled["frame"].nunique()).all()


def test_a_flow_that_stops_while_live_is_no_longer_taken_out():
    """6 px per frame for 150 frames, then at rest: the pairs linked at rest (with the flow still
    taken out, their steps are the residual plus the velocity) bring the velocity to zero within
    a window, and the tracks are whole after it (linked as they are, neighbours would join)."""
    table = walkers(np.where(np.arange(300) < 150, 6.0, 0.0))
    tracks, velocities = link_live(table, LiveFlow())
    assert not any(np.any(velocity) for velocity in velocities[150 + FLOW_WINDOW_FRAMES :])
    settled = tracks[tracks["frame"] >= 150 + FLOW_WINDOW_FRAMES]
    assert settled["particle"].nunique() == N_WALKERS
    assert wrong_links(tracks) < 0.02


@pytest.mark.parametrize("drift_px", [0.0, 0.5, 0.7])
def test_a_slow_drift_is_left_to_the_sizes_drift_subtraction(drift_px):
    """At rest, or at most a pixel per frame (0.7 along both axes: 0.99), which does not move
    particles out of the range, no flow is taken out (as pynta analyze,
    :data:`napari_pynta.link.FLOW_LINKING_PX_PER_FRAME`), although the tracks' steps of a few
    frames show more by chance: the tracks are those linked without a flow."""
    table = walkers(np.full(200, drift_px))
    tracks, velocities = link_live(table, LiveFlow())
    assert not any(np.any(velocity) for velocity in velocities)
    pd.testing.assert_frame_equal(tracks, link_live(table, None)[0])


def wrong_links(tracks: pd.DataFrame) -> float:
    """The share of links that join two walkers."""
    ordered = tracks.sort_values(["particle", "frame"], kind="stable")
    particle, walker = ordered["particle"].to_numpy(), ordered["walker"].to_numpy()
    linked = particle[1:] == particle[:-1]
    return float(np.mean(walker[1:][linked] != walker[:-1][linked]))


def test_a_flow_as_large_as_the_steps_is_measured_by_the_tracks():
    """3 px per frame along both axes (4.2 px) for 2 px steps per axis: the linking-free
    estimate finds no flow (the pairs of a walker's localizations lie among those at rest), so
    the live linker linked the positions as they were. The pairs it links measure the flow
    (as pynta analyze refines its flow by the tracks' drift): it is found within the first
    window, within 0.5 px in every frame after it and 2 % on average, and the tracks join
    walkers no more often than pynta analyze's, linked in its refined flow, and less often than
    tracks linked without a flow."""
    flow = 3.0
    table = walkers(np.full(200, flow))
    assert not np.any(link.common_flow_px(table))
    tracks, velocities = link_live(table, LiveFlow())
    found = np.array(velocities[FLOW_WINDOW_FRAMES:])
    assert np.abs(found - flow).max() < 0.5
    np.testing.assert_allclose(found.mean(axis=0), [flow, flow], rtol=0.02)
    params = AnalysisParams(
        pixel_size_um=0.1, frame_interval_s=0.01, temperature_c=22.0, search_range_px=10.0
    )
    offline = analysis.link_in_flow(table, params, 200)
    assert offline.flow is not None
    offline_tracks = offline.tracks.assign(walker=table["walker"].to_numpy())
    assert wrong_links(tracks) <= wrong_links(offline_tracks) + 0.001
    assert wrong_links(tracks) < wrong_links(link_live(table, None)[0]) - 0.002
    np.testing.assert_array_equal(tracks[["y", "x"]], table[["y", "x"]])


@pytest.mark.parametrize("linker_flow", [None, (0.0, 5.0)])
def test_live_summaries_say_the_flow_the_linker_took_out(linker_flow):
    """The live summary warns of the flow as pynta analyze does, with the speed of the tracks'
    drift (6 px per frame here, in µm/s too) rather than the linker's estimate without linking,
    which is pulled toward zero (5 here); no warning when the linker took no flow out."""
    tracks = simulate_tracks(100, np.random.default_rng(5))
    tracks["x"] += 6.0 * tracks["frame"]
    sizer = LiveSizer(LIVE_SETTINGS)
    for seq, frame in tracks.groupby("frame"):
        sizer.add(frame, seq=int(seq), flow_px_per_frame=linker_flow)
    summary, _ = sizer.summary(int(tracks["frame"].max()) + 1)
    said = [w for w in summary["warnings"] if "move together" in w]
    if linker_flow is None:
        assert not said
        return
    (note,) = said
    px_per_frame, um_s = (
        note.split("move together by ")[1].split(" µm/s")[0].split(" px per frame (")
    )
    assert float(px_per_frame) == pytest.approx(6.0, abs=0.15)
    speed = 6.0 * METADATA["pixel_size_um"] / METADATA["frame_interval_s"]
    assert float(um_s) == pytest.approx(speed, rel=0.03)


def test_the_calibration_measures_the_range_and_the_flow_in_the_flows_frame():
    """At 5 px per frame (100 nm, 100 fps: about 2.9 px Brownian steps per axis) the calibration
    measures the range of the particles' own steps, as at rest, not one widened by the flow
    (22.9 px against 12.3 px when the flow is left in), says nothing about it, and measures the
    flow the live linker starts from (none at rest)."""
    chosen = {}
    for flow_px in (0.0, 5.0):
        calibration = {
            "engine": "fast",
            "detection": {"diameter": 7},
            "search_range_px": None,
            "memory": 3,
        }
        chosen[flow_px], warned = calibrate_simulated(
            calibration,
            seed=1,
            shape=(128, 128),
            n_particles=20,
            diameter_nm=100.0,
            pixel_size_um=0.1,
            fps=100.0,
            scene={"drift_um_s": (flow_px * 0.1 * 100.0, 0.0)},
        )
        assert warned == []
    at_rest, in_flow = (chosen[flow]["search_range_px"] for flow in (0.0, 5.0))
    assert 8.0 < at_rest < 16.0 and in_flow < 1.3 * at_rest, chosen
    assert "flow_px_per_frame" not in chosen[0.0]
    assert np.allclose(chosen[5.0]["flow_px_per_frame"], [5.0, 0.0], atol=0.4), chosen


def test_the_live_linker_starts_at_the_calibrations_flow():
    """A linker starting at rest linked the first frames of a sample flowing 3 px per frame
    per axis (4.2 px a frame) as they were, until its tracks had measured the flow (frames 1-3
    here); started at the flow the calibration measured, it links them in the flow's frame from
    the first step, and the tracks keep it (each walker one track)."""
    table = walkers(np.full(40, 3.0))
    _, at_rest = link_live(table, LiveFlow())
    assert np.allclose(at_rest[1:4], 0.0)  # as before: at rest while the tracks learn
    settings = {"start_flow_px_per_frame": [3.0, 3.0]}
    tracks, velocities = link_live(table, make_flow(settings))
    assert np.allclose(velocities[1:], 3.0, atol=0.5), velocities
    first = tracks[tracks["frame"] < 10]
    assert (first.groupby("walker")["particle"].nunique() == 1).all()
    assert first["particle"].nunique() == N_WALKERS
    # a linker configured without it (a restart, new camera timing) starts at rest
    assert make_flow({}).start_velocity is None
    # a start below the analysis's flow rule is none
    assert not make_flow({"start_flow_px_per_frame": [0.5, 0.0]}).start_velocity.any()


def test_the_calibrations_flow_is_dropped_once_the_first_window_shows_none():
    """Particles at rest although the calibration measured a flow (it stopped): a sparse field
    whose tracks never measure it stops using the calibration's flow after the first window."""
    table = walkers(np.zeros(3 * FLOW_WINDOW_FRAMES))
    table = table[table["walker"] < 3]  # 3 walkers: fewer linked pairs than the tracks need
    _, velocities = link_live(table, LiveFlow(start_velocity=[3.0, 0.0]))
    assert np.allclose(velocities[1:FLOW_WINDOW_FRAMES], [3.0, 0.0])
    assert np.allclose(velocities[-1], 0.0), velocities[-1]
