"""The maxima of one smeared image joined, two close particles kept apart (blur separation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_pynta import detect
from napari_pynta.detect.split_images import merge_split_images, one_image
from napari_pynta.live.workers.locator import locate_columns

SIGMA_PX = 1.2
PHOTONS = 3000.0


def _spot(shape: tuple[int, int], y: float, x: float, photons: float) -> np.ndarray:
    rows, cols = np.indices(shape)
    return (
        photons
        / (2 * math.pi * SIGMA_PX**2)
        * np.exp(-((rows - y) ** 2 + (cols - x) ** 2) / (2 * SIGMA_PX**2))
    )


def _streak(shape: tuple[int, int], start: tuple[float, float], end: tuple[float, float]):
    """A particle that lingered near both ends of a straight path during the exposure (two
    maxima, light all along the path), and its exposure-mean position."""
    weights = np.r_[np.full(4, 4.0), np.ones(25), np.full(4, 4.0)]
    along = np.linspace(0.0, 1.0, len(weights))
    path = np.asarray(start) + along[:, None] * (np.asarray(end) - np.asarray(start))
    image = sum(
        _spot(shape, y, x, PHOTONS * w / weights.sum())
        for (y, x), w in zip(path, weights, strict=True)
    )
    return image, np.average(path, axis=0, weights=weights)


def _frame(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """64² px: two particles 9 px apart (left) and one streak 13 px long with two maxima about
    10 px apart (right), background 100 with shot noise; the two particles' and the streak's
    true positions."""
    shape = (64, 64)
    pair = np.array([[32.0, 10.0], [32.0, 19.0]])
    streak, streak_mean = _streak(shape, (26.0, 40.0), (36.0, 48.0))
    image = 100.0 + streak + sum(_spot(shape, y, x, PHOTONS) for y, x in pair)
    frame = np.random.default_rng(seed).poisson(image).astype(np.uint16)
    return frame, pair, streak_mean


def _nearest(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.min(np.hypot(*(found[:, None, :] - truth[None, :, :]).transpose(2, 0, 1)), axis=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_streak_is_one_feature_and_two_close_particles_stay_two(seed):
    frame, pair, streak_mean = _frame(seed)
    options = {"diameter": 7, "minmass": 150.0}
    sharp = detect.locate(frame, "fast", **options)
    on_streak = np.hypot(sharp["y"] - streak_mean[0], sharp["x"] - streak_mean[1]) < 7
    assert on_streak.sum() == 2  # the engines see two maxima on the streak
    joined = detect.locate(frame, "fast", split_within=12.0, **options)
    positions = joined[["y", "x"]].to_numpy()
    assert len(joined) == 3
    # both particles 9 px apart are still found where they are
    assert np.all(_nearest(positions, pair) < 0.5)
    # the streak is one feature, at the mass-weighted mean of its two maxima (near the
    # exposure-mean position) and with their summed mass
    streak = joined[np.hypot(joined["y"] - streak_mean[0], joined["x"] - streak_mean[1]) < 7]
    assert len(streak) == 1
    assert math.dist(streak[["y", "x"]].to_numpy()[0], streak_mean) < 1.5
    assert streak["mass"].iloc[0] == pytest.approx(sharp["mass"][on_streak].sum())
    # a hard separation that wide (the blur separation before) loses one of the particles
    wide = detect.locate(frame, "fast", separation=12.0, **options)
    assert np.sort(_nearest(wide[["y", "x"]].to_numpy(), pair))[-1] > 3


def test_the_dip_between_two_particles_tells_them_from_one_streak():
    frame, pair, _ = _frame(0)
    assert not one_image(frame.astype(float), pair[0], pair[1])
    streak, _ = _streak((64, 64), (26.0, 40.0), (36.0, 48.0))
    assert one_image(100.0 + streak, np.array([27.0, 40.8]), np.array([35.0, 47.2]))


def test_joined_features_keep_their_order_and_chains_join_once():
    frame = 100.0 + sum(
        _streak((48, 48), start, end)[0]
        for start, end in (((10, 8), (10, 17)), ((30, 30), (30, 39)))
    )
    columns = {
        "y": np.array([10.0, 10.0, 30.0, 30.0, 30.0]),
        "x": np.array([8.3, 16.7, 30.3, 34.5, 38.7]),
        "mass": np.array([100.0, 300.0, 50.0, 50.0, 100.0]),
        "size": np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
    }
    joined = merge_split_images(frame, columns, 10.0)
    # one row per streak, the brightest's other columns, in the features' order
    assert joined["size"].tolist() == [2.0, 5.0]
    assert joined["mass"].tolist() == [400.0, 200.0]
    assert joined["x"] == pytest.approx(
        [(8.3 * 100 + 16.7 * 300) / 400, (30.3 * 50 + 34.5 * 50 + 38.7 * 100) / 200]
    )
    # nothing within reach: the columns come back as they were
    assert merge_split_images(frame, columns, 2.0) is columns
    with pytest.raises(ValueError, match="within_px"):
        merge_split_images(frame, columns, 0.0)


def test_the_live_locator_joins_split_images_as_the_analysis_does():
    frame, _, _ = _frame(1)
    detection = {"diameter": 7, "minmass": 150.0, "split_within": 12.0}
    live = locate_columns(frame, "fast", 5, detection)
    offline = detect.locate(frame, "fast", frame_number=5, **detection)
    for name in detect.LOCALIZATION_COLUMNS:
        np.testing.assert_array_equal(live[name], offline[name].to_numpy())
