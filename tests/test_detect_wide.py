"""The wide centroid finds the exposure-mean position of smeared spots (detect/wide.py)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree
from streaked_movies import streaked_movie

from napari_pynta import analysis, detect
from napari_pynta.analysis import AnalysisParams
from napari_pynta.detect import hot_pixels, wide


def _mid_exposure_slope(localizations: pd.DataFrame, movie) -> float:
    """Regression slope of the localization error (against the exposure mean) on (position at
    mid-exposure − exposure mean), both axes pooled; localizations within 3 px of a particle."""
    errors, leans = [], []
    for frame, table in localizations.groupby("frame"):
        rows = np.flatnonzero(movie.truth[:, 0] == frame)
        distance, nearest = cKDTree(movie.truth[rows, 1:]).query(table[["y", "x"]].to_numpy())
        matched = rows[nearest[distance < 3.0]]
        errors.append(table[["y", "x"]].to_numpy()[distance < 3.0] - movie.truth[matched, 1:])
        leans.append(movie.mid_exposure[matched] - movie.truth[matched, 1:])
    error, lean = np.concatenate(errors).ravel(), np.concatenate(leans).ravel()
    return float(np.sum(error * lean) / np.sum(lean * lean))


def test_the_wide_centroid_of_a_smeared_spot_does_not_lean_toward_mid_exposure():
    movie = streaked_movie(100, seed=0)
    params = AnalysisParams(**movie.metadata, temperature_c=22.0).validate()
    localizations = analysis.detect_frames(movie.frames, params)
    # the pilot measures the spot and the streak when the wide centroid asks for them
    with_wide = dataclasses.replace(params, wide_centroid=True)
    choice = analysis.detection_threshold(movie.frames, with_wide).diameter
    radius = wide.wide_radius_px(choice.spot_sigma_px, choice.streak_sd_px)
    assert radius == round(2.5 * math.hypot(choice.spot_sigma_px, choice.streak_sd_px)) >= 6
    moved = wide.wide_centroids(movie.frames, localizations, radius)
    # the analysis' own pass gives the same positions
    passed = analysis.detect_frames(
        movie.frames, dataclasses.replace(with_wide, wide_radius_px=radius)
    )
    np.testing.assert_array_equal(passed["x"].to_numpy(), moved["x"].to_numpy())
    # the band-passed 7 px centroid follows the streak's middle (0.24 on this movie) ...
    assert _mid_exposure_slope(localizations, movie) > 0.2
    # ... the raw frame's centre of mass in the wide disk much less (0.09; noise alone: ±0.02)
    assert _mid_exposure_slope(moved, movie) < 0.12
    assert list(moved.columns) == list(localizations.columns)
    assert (moved.drop(columns=["y", "x"]) == localizations.drop(columns=["y", "x"])).all().all()


def _spot_frame(
    rng: np.random.Generator,
    where: list[tuple[float, float]],
    shape: tuple[int, int] = (64, 64),
    slope: float = 0.0,
    photons: float = 3000.0,
) -> np.ndarray:
    """Gaussian spots (sigma 1.6 px) on a background of 100 counts rising by ``slope`` per
    column, Poisson and read noise."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    image = 100.0 + slope * (cols - shape[1] / 2)
    for y, x in where:
        image += (
            photons / (2 * math.pi * 1.6**2) * np.exp(-((rows - y) ** 2 + (cols - x) ** 2) / 5.12)
        )
    return (rng.poisson(image) + rng.normal(0, 2.0, shape)).clip(0).astype(np.uint16)


def test_a_tilted_background_shifts_the_wide_centroid_by_its_slope_times_the_disk_moment():
    rng = np.random.default_rng(4)
    radius, slope = 6, 0.3  # counts per px: 19 counts across the frame, a fifth of the level
    disk = np.mgrid[-radius : radius + 1, -radius : radius + 1].reshape(2, -1)
    moment = float(np.sum(disk[1][(disk**2).sum(axis=0) <= radius**2] ** 2))
    errors = []
    for _ in range(30):
        true = (32 + rng.uniform(-0.5, 0.5), 32 + rng.uniform(-0.5, 0.5))
        frame = _spot_frame(rng, [true], slope=slope)
        y, x = wide.refine_positions(
            frame, np.array([true[0] + 0.4]), np.array([true[1] - 0.4]), radius
        )
        errors.append((y[0] - true[0], x[0] - true[1]))
    mean_error = np.mean(errors, axis=0)
    # along the slope: the stated bias (slope x second moment / mass), within the noise
    assert mean_error[1] == pytest.approx(slope * moment / 3000.0, abs=0.05)
    assert abs(mean_error[0]) < 0.05  # across it: none
    assert np.sqrt(np.mean(np.square(errors))) < 0.25


def test_a_hot_pixel_in_the_disk_is_repaired_before_the_wide_centroid():
    rng = np.random.default_rng(5)
    radius, hot = 6, (30, 36)  # 4 px from the spot, inside its disk
    stack, truths = [], []
    for _ in range(31):
        true = (30 + rng.uniform(-0.5, 0.5), 32 + rng.uniform(-0.5, 0.5))
        frame = _spot_frame(rng, [true]).astype(np.int64)
        frame[hot] += 3000  # brighter than the particle's peak
        stack.append(frame.astype(np.uint16))
        truths.append(true)
    frames = np.stack(stack)
    found = hot_pixels.find_hot_pixels(frames)
    assert found.tolist() == [list(hot)]
    repaired = hot_pixels.repaired(frames, found)
    start = np.array(truths) + [0.4, -0.4]
    errors, unrepaired = [], []
    for index, true in enumerate(truths):
        for image, out in ((repaired[index], errors), (frames[index], unrepaired)):
            y, x = wide.refine_positions(image, start[index, :1], start[index, 1:], radius)
            out.append(math.hypot(y[0] - true[0], x[0] - true[1]))
    assert np.sqrt(np.mean(np.square(errors))) < 0.25  # as without a hot pixel
    assert np.median(unrepaired) > 2.0  # what the repair prevents: pulled toward it


def test_edges_neighbours_and_empty_disks():
    rng = np.random.default_rng(6)
    radius = 6
    # a spot 3 px from the edge: the clipped disk still finds it
    errors = []
    for _ in range(20):
        true = (32 + rng.uniform(-0.5, 0.5), 3 + rng.uniform(-0.5, 0.5))
        frame = _spot_frame(rng, [true])
        y, x = wide.refine_positions(frame, np.array([true[0]]), np.array([true[1] + 0.5]), radius)
        errors.append(math.hypot(y[0] - true[0], x[0] - true[1]))
    assert np.sqrt(np.mean(np.square(errors))) < 0.25
    # two features closer than the radius keep their detected positions; a third far away moves
    frame = _spot_frame(rng, [(20.0, 20.0), (20.0, 25.0), (45.0, 45.0)])
    y, x = np.array([20.3, 20.3, 45.3]), np.array([20.3, 25.3, 45.3])
    new_y, new_x = wide.refine_positions(frame, y, x, radius)
    assert new_y[:2].tolist() == y[:2].tolist() and new_x[:2].tolist() == x[:2].tolist()
    assert math.hypot(new_y[2] - 45.0, new_x[2] - 45.0) < 0.3
    # a flat frame (no mass over the ring's median) and an empty table: nothing moves
    flat = np.full((64, 64), 100, dtype=np.uint16)
    assert wide.refine_positions(flat, np.array([30.2]), np.array([30.7]), radius) == (
        pytest.approx([30.2]),
        pytest.approx([30.7]),
    )
    empty_y, empty_x = wide.refine_positions(flat, np.array([]), np.array([]), radius)
    assert len(empty_y) == len(empty_x) == 0
    # the two maxima of one smeared image, 8 px apart (beyond the radius): both move to its
    # centre of light, which the engine's two centroids miss by 4 px each
    rows, cols = np.mgrid[:64, :64]
    streak = sum(
        60.0 * np.exp(-((rows - 32.0) ** 2 + (cols - c) ** 2) / 5.12)
        for c in np.linspace(28, 36, 9)
    )
    image = (rng.poisson(100.0 + streak) + rng.normal(0, 2.0, (64, 64))).clip(0).astype(np.uint16)
    y, x = wide.refine_positions(image, np.array([32.0, 32.0]), np.array([28.0, 36.0]), radius)
    assert np.abs(x - 32.0).max() < 0.5 and np.abs(y - 32.0).max() < 0.5
    # a saturated (clipped flat-top) spot: centred, not lost
    saturated = np.minimum(_spot_frame(rng, [(31.3, 32.6)], photons=60000.0), 1000)
    y, x = wide.refine_positions(saturated, np.array([31.0]), np.array([33.0]), radius)
    assert math.hypot(y[0] - 31.3, x[0] - 32.6) < 0.2


def test_the_radius_follows_the_image_width_within_its_limits():
    assert wide.wide_radius_px(1.5, math.nan) == 4  # 2.5 x 1.5 = 3.75
    assert wide.wide_radius_px(math.nan, math.nan) == wide.MIN_WIDE_RADIUS_PX == 3
    assert wide.wide_radius_px(1.8, 2.0) == round(2.5 * math.hypot(1.8, 2.0)) == 7
    assert wide.wide_radius_px(2.0, 20.0) == wide.MAX_WIDE_RADIUS_PX
    assert detect.SHARP_DIAMETER_PX // 2 == wide.MIN_WIDE_RADIUS_PX


@pytest.mark.parametrize("engine", ["fast", "trackpy"])
def test_live_locators_and_the_analysis_give_the_same_wide_positions(engine):
    if engine == "fast":
        pytest.importorskip("numba")
    from napari_pynta.live.workers.locator import locate_columns

    movie = streaked_movie(64, seed=1)
    params = AnalysisParams(
        **movie.metadata, temperature_c=22.0, engine=engine, wide_centroid=True
    ).validate()
    threshold = analysis.detection_threshold(movie.frames, params)
    choice = threshold.diameter
    chosen = analysis.with_detection(params, threshold)
    assert chosen.wide_radius_px == wide.wide_radius_px(choice.spot_sigma_px, choice.streak_sd_px)
    offline = analysis.detect_frames(movie.frames[60:], chosen, first_frame=60)
    detection = chosen.detection_kwargs()
    detection.pop("engine")
    assert detection["wide_radius_px"] == chosen.wide_radius_px >= 6
    for seq in range(60, 64):
        frame = movie.frames[seq]
        frame.flags.writeable = False  # as a locator gets it (a ring slot's view)
        live = locate_columns(frame, engine, seq, detection)
        table = offline[offline["frame"] == seq]
        np.testing.assert_array_equal(live["y"], table["y"].to_numpy())
        np.testing.assert_array_equal(live["x"], table["x"].to_numpy())
    # the summary records that the pass ran and its disk
    summary = analysis.analyze_localizations(offline, 4, chosen, frame_shape=(128, 128)).summary
    assert summary["params"]["wide_centroid"] is True
    assert summary["params"]["wide_radius_px"] == chosen.wide_radius_px
    # and the pass did move them: the engine's own positions differ
    plain = analysis.detect_frames(
        movie.frames[60:],
        dataclasses.replace(chosen, wide_centroid=False, wide_radius_px=None),
        first_frame=60,
    )
    assert np.abs(plain["x"].to_numpy() - offline["x"].to_numpy()).max() > 0.3
