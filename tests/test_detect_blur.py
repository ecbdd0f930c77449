"""The automatic feature diameter follows the motion blur (napari_pynta.detect.blur)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from live_calibration import calibrate_simulated
from scipy.spatial import cKDTree
from streaked_movies import streaked_movie

from napari_pynta import analysis, detect, physics, simulate
from napari_pynta.analysis import AnalysisParams
from napari_pynta.detect.wide import wide_radius_px

PIXEL_UM = 0.166
DT = 1 / 30  # exposure = frame interval


def test_the_streak_follows_from_the_step_between_exposure_averaged_positions():
    D = 4.0  # µm²/s
    for exposure in (DT, DT / 4):
        # per-axis variance of the step between exposure-averaged positions: 2 D (dt - tau / 3)
        rms_step_px = math.sqrt(2 * D * (DT - exposure / 3)) / PIXEL_UM
        # spread of the positions during the exposure about their mean: D tau / 3
        expected = math.sqrt(D * exposure / 3) / PIXEL_UM
        assert detect.streak_sd_px(rms_step_px, exposure, DT) == pytest.approx(expected)


def test_blur_diameter_keeps_the_sharp_mask_for_slow_particles_and_widens_it_for_fast_ones():
    assert detect.blur_diameter_px(math.nan) == detect.SHARP_DIAMETER_PX
    assert detect.blur_diameter_px(0.4) == detect.SHARP_DIAMETER_PX  # 1 µm at 30 fps
    widths = [detect.blur_diameter_px(sd) for sd in np.linspace(0.0, 10.0, 41)]
    assert all(width % 2 == 1 for width in widths)
    assert widths == sorted(widths)  # more blur, never a smaller mask
    assert widths[-1] == detect.blur.MAX_AUTOMATIC_DIAMETER_PX
    # a 2 px streak (50 nm at 30 fps): the mask radius holds 2 of its SD beside the spot's 3 px
    assert detect.blur_diameter_px(2.0) == 2 * round(math.hypot(3, 4)) + 1


@pytest.fixture(scope="module")
def small_fast():
    """50 nm at 30 fps, 0.166 µm pixels: ~4 px per frame and axis, streaks of ~2 px SD."""
    settings = simulate.SimulationSettings(
        shape=(128, 128),
        n_particles=8,
        populations=(simulate.Population(50.0),),
        pixel_size_um=PIXEL_UM,
        frame_interval_s=DT,
        brightness_at_100nm=4000.0,
        brightness_exponent=2.0,
        seed=3,
    )
    return simulate.simulate_movie(90, settings)


def _distances_to_truth_px(localizations, truth) -> np.ndarray:
    """Distance from each localization to the nearest exposure-averaged true position."""
    distances = []
    for frame, found in localizations.groupby("frame"):
        true = truth[truth["frame"] == frame]
        if len(true):
            tree = cKDTree(true[["y", "x"]].to_numpy())
            distances.append(tree.query(found[["y", "x"]].to_numpy())[0])
    return np.concatenate(distances)


def automatic(movie) -> AnalysisParams:
    """The movie's parameters with the automatic diameter (``diameter_px=None``)."""
    params = AnalysisParams.from_metadata(movie.metadata)
    return dataclasses.replace(params, diameter_px=None).validate()


def test_the_automatic_diameter_localizes_smeared_particles_closer_to_the_truth(small_fast):
    params = automatic(small_fast)
    threshold = analysis.detection_threshold(small_fast.frames, params)
    choice = threshold.diameter
    D = physics.diffusion_um2_s(50.0, 22.0, small_fast.metadata["viscosity_pa_s"])
    assert choice.automatic
    # the pilot measured the blur the physics gives (localization noise adds a little)
    assert choice.streak_sd_px == pytest.approx(math.sqrt(D * DT / 3) / PIXEL_UM, rel=0.25)
    assert choice.diameter_px > detect.SHARP_DIAMETER_PX
    chosen = analysis.with_detection(params, threshold)
    assert chosen.diameter_px == choice.diameter_px
    assert chosen.minmass == threshold.minmass  # the threshold of that diameter
    sharp = analysis.resolve_minmass(small_fast.frames, dataclasses.replace(params, diameter_px=7))
    errors = {
        name: np.minimum(
            _distances_to_truth_px(analysis.detect_frames(small_fast.frames, p), small_fast.truth),
            8.0,
        )
        for name, p in (("automatic", chosen), ("sharp", sharp))
    }
    rms = {name: math.sqrt(np.mean(error**2)) for name, error in errors.items()}
    off = {name: np.mean(error > 2.0) for name, error in errors.items()}
    assert rms["automatic"] < 0.85 * rms["sharp"]
    assert off["automatic"] < 0.7 * off["sharp"]


def test_an_explicit_diameter_is_kept_and_reported(small_fast):
    # as `pynta analyze --diameter-px 9` gives it: kept, not widened to hold the spots
    params = AnalysisParams.from_metadata(
        small_fast.metadata, diameter_px=9, widen_to_spot=False, blur_separation=False
    ).validate()
    threshold = analysis.detection_threshold(small_fast.frames, params)
    assert threshold.diameter == detect.DiameterChoice(9, automatic=False)
    assert analysis.with_detection(params, threshold).diameter_px == 9
    # the blur separation (the default) runs the pilot for its distance; the mask stays 9 px
    joined = analysis.detection_threshold(
        small_fast.frames, dataclasses.replace(params, blur_separation=True)
    ).diameter
    assert (joined.diameter_px, joined.automatic, joined.separation_px) == (9, False, None)
    assert joined.split_within_px == detect.blur_separation_px(joined.streak_sd_px, 9)
    # with the wide centroid the pilot measures the streak and the spots' sigma all the same
    wide = dataclasses.replace(params, wide_centroid=True)
    choice = analysis.detection_threshold(small_fast.frames, wide).diameter
    assert (choice.diameter_px, choice.automatic, choice.separation_px) == (9, False, None)
    assert choice.widened_for == ""
    D = physics.diffusion_um2_s(50.0, 22.0, physics.water_viscosity_pa_s(22.0))
    assert choice.streak_sd_px == pytest.approx(math.sqrt(D * DT / 3) / PIXEL_UM, rel=0.25)
    assert 0.8 < choice.spot_sigma_px < 2.5
    numbers = threshold.as_dict()
    assert numbers["diameter_px"] == 9 and numbers["automatic_diameter"] is False


def test_localizations_whose_mask_holds_a_neighbour_are_flagged():
    table = pd.DataFrame(
        {
            "frame": [0, 0, 0, 1, 1, 2],
            "y": [10.0, 10.0, 40.0, 10.0, 10.0, 10.0],
            "x": [10.0, 21.5, 10.0, 10.0, 22.5, 10.0],
        }
    )
    # diameter 11: features closer than 12 px share a mask; other frames do not count
    assert detect.overlapping(table, 12).tolist() == [True, True, False, False, False, False]
    assert not detect.overlapping(table, 8).any()
    # one distance per row (the pooled captures': each its own); 0 never overlaps
    within = np.array([12.0, 0.0, 12.0, 13.0, 13.0, 13.0])
    assert detect.overlapping(table, within).tolist() == [True, False, False, True, True, False]


def test_an_automatic_diameter_keeps_the_sharp_separation_unless_one_is_given(small_fast):
    params = automatic(small_fast)
    threshold = analysis.detection_threshold(small_fast.frames, params)
    assert analysis.with_detection(params, threshold).separation == detect.SHARP_DIAMETER_PX + 1
    given = dataclasses.replace(params, separation=12.0)
    assert analysis.with_detection(given, threshold).separation == 12.0
    explicit = dataclasses.replace(params, diameter_px=11)
    explicit_threshold = analysis.detection_threshold(small_fast.frames, explicit)
    # a diameter the user gives keeps the engines' own separation (diameter + 1)
    assert analysis.with_detection(explicit, explicit_threshold).separation is None


@pytest.mark.parametrize(
    ("detection", "blur_separation", "wide_centroid"),
    [({"diameter": None}, False, False), ({"diameter": 7}, True, False), ({}, False, True)],
)
def test_the_live_calibration_chooses_the_diameter_like_the_analysis(
    detection, blur_separation, wide_centroid
):
    pytest.importorskip("zmq")
    from napari_pynta.cameras import open_camera
    from napari_pynta.live.workers.acquisition import CALIBRATION_FRAMES

    camera_settings = dict(
        shape=(128, 128),
        n_particles=8,
        diameter_nm=50.0,
        pixel_size_um=PIXEL_UM,
        fps=30.0,
        scene={"brightness_at_100nm": 4000.0, "brightness_exponent": 2.0},
    )
    calibration = {
        "engine": "fast",
        "detection": dict(detection),
        "search_range_px": 5.0,
        "memory": 3,
        "blur_separation": blur_separation,
        "wide_centroid": wide_centroid,
    }
    chosen, warned = calibrate_simulated(calibration, seed=4, **camera_settings)
    with open_camera("simulated", seed=4, **camera_settings) as camera:
        camera.start()
        frames = np.stack([camera.read()[0] for _ in range(CALIBRATION_FRAMES)])
        metadata = camera.metadata_for_store()
    # the same frames give the same choice through the analysis' function
    expected = analysis.choose_diameter(
        frames,
        "fast",
        detection,
        metadata["exposure_s"],
        metadata["frame_interval_s"],
        blur_separation,
    )
    if wide_centroid:  # the sharp mask kept; the disk from the spots and the streak
        assert "diameter" not in chosen and "separation" not in chosen
        assert chosen["wide_radius_px"] == wide_radius_px(
            expected.spot_sigma_px, expected.streak_sd_px
        )
        assert chosen["wide_radius_px"] >= 6  # 50 nm at 30 fps: a 2 px streak
    elif blur_separation:  # the user's 7 px mask; split images joined within the streak's reach
        assert "diameter" not in chosen and "separation" not in chosen
        assert chosen["split_within"] == expected.split_within_px >= 10.0
    else:  # 50 nm at 30 fps: smeared, a wider mask at the sharp spot's separation
        assert chosen["diameter"] == expected.diameter_px > detect.SHARP_DIAMETER_PX
        assert chosen["separation"] == detect.SHARP_DIAMETER_PX + 1
    assert warned == []


def test_a_live_calibration_that_links_nothing_says_its_range_is_not_measured():
    calibration = {
        "engine": "fast",
        "detection": {"diameter": 7},
        "search_range_px": None,
        "memory": 3,
    }
    # no particles in view: nothing to link, nothing to measure
    chosen, warned = calibrate_simulated(
        calibration, seed=1, shape=(64, 64), n_particles=0, fps=30.0
    )
    assert chosen["search_range_px"] > 0
    assert len(warned) == 1 and "search range was not measured" in warned[0]


def test_the_blur_separation_holds_the_streak_and_sharp_spots_keep_theirs():
    assert detect.blur_separation_px(math.nan, 7) == 8.0  # not measured: the engines' rule
    assert detect.blur_separation_px(0.4, 7) == 8.0  # 1 µm at 30 fps: a sharp spot
    assert detect.blur_separation_px(0.4, 11) == 12.0  # a wider given mask keeps its own
    # 50 nm at 30 fps (streak SD ~2 px): the separation of the mask that holds the streak
    assert detect.blur_separation_px(2.0, 7) == detect.blur_diameter_px(2.0) + 1 == 12.0
    # a separation wider than diameter + 1 widens the engines' edge margin (trackpy's rule)
    assert detect.edge_margin_px(7, None) == 3 and detect.edge_margin_px(7, 12.0) == 5


def _split_share(localizations: pd.DataFrame, truth: np.ndarray) -> float:
    """Share of the particles found in a frame that got two or more localizations (the nearest
    true position within 6 px)."""
    split = found = 0
    for frame, table in localizations.groupby("frame"):
        true = truth[truth[:, 0] == frame][:, 1:]
        distance, nearest = cKDTree(true).query(table[["y", "x"]].to_numpy())
        _, counts = np.unique(nearest[distance < 6.0], return_counts=True)
        split += int((counts > 1).sum())
        found += len(counts)
    return split / found


def test_the_blur_separation_gives_one_localization_per_smeared_particle():
    movie = streaked_movie(120, seed=0)
    frames, truth, metadata = movie.frames, movie.truth, movie.metadata
    params = AnalysisParams(**metadata, temperature_c=22.0, blur_separation=False).validate()
    blur = dataclasses.replace(params, blur_separation=True)
    threshold = analysis.detection_threshold(frames, blur)
    choice = threshold.diameter
    # the pilot's streak: D tau / 3 per axis (localization noise adds a little)
    D = physics.diffusion_um2_s(50.0, 22.0, physics.water_viscosity_pa_s(22.0))
    assert choice.streak_sd_px == pytest.approx(math.sqrt(D * DT / 3) / PIXEL_UM, rel=0.25)
    assert choice.diameter_px == detect.SHARP_DIAMETER_PX  # the mask stays the user's
    assert choice.split_within_px == detect.blur_separation_px(choice.streak_sd_px, 7) >= 10.0
    chosen = analysis.with_detection(blur, threshold)
    assert chosen.split_within_px == choice.split_within_px
    assert chosen.separation is None  # the engines' own: close particles stay apart
    sharp = analysis.detect_frames(frames, params)
    joined = analysis.detect_frames(frames, chosen)
    # at 8 px some smeared images give two features; joined, few do
    assert _split_share(sharp, truth) > 0.005
    assert _split_share(joined, truth) < 0.35 * _split_share(sharp, truth)
    # counts: the particles in view still come out near the truth, the hidden neighbours
    # taken into account
    n_true = np.mean(
        [
            np.sum((t[:, 1:] >= 2.5).all(axis=1) & (t[:, 1:] < 124.5).all(axis=1))
            for t in (truth[truth[:, 0] == frame] for frame in range(len(frames)))
        ]
    )
    assert analysis.searched_share((128, 128), chosen) == 1.0  # the engines' edge margin
    summary = analysis.analyze_localizations(joined, len(frames), chosen, frame_shape=(128, 128))
    in_view = summary.summary["concentration"]["particles_in_view_per_frame"]
    assert in_view == pytest.approx(n_true, rel=0.1)
