"""The persistence of detections from frame to frame: particles persist, noise does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_pynta.frame_persistence import MIN_PERSISTENT_SHARE, Persistence, detection_persistence

SHAPE = (128, 160)
#: where the detections can be: ((top, left), (bottom, right))
FIELD = ((0.0, 0.0), (128.0, 160.0))


def noise_detections(n_frames: int, per_frame: int, seed: int) -> pd.DataFrame:
    """Detections placed anew at random in every frame, as noise maxima are."""
    rng = np.random.default_rng(seed)
    frames = np.repeat(np.arange(n_frames), per_frame)
    return pd.DataFrame(
        {
            "frame": frames,
            "y": rng.uniform(0, SHAPE[0], len(frames)),
            "x": rng.uniform(0, SHAPE[1], len(frames)),
        }
    )


def particle_detections(
    n_frames: int, n_particles: int, step_px: float, found: float, seed: int
) -> pd.DataFrame:
    """Random walks (rms ``step_px`` per axis and frame) inside the field, each position
    detected with probability ``found``: a share ``found`` of them is found again next frame."""
    rng = np.random.default_rng(seed)
    start = rng.uniform((10, 10), (SHAPE[0] - 10, SHAPE[1] - 10), (n_particles, 2))
    paths = start + np.cumsum(rng.normal(0, step_px, (n_frames, n_particles, 2)), axis=0)
    paths = np.abs(paths) % (2 * np.array(SHAPE))  # reflect at the field's edges
    paths = np.where(paths > SHAPE, 2 * np.array(SHAPE) - paths, paths)
    frame = np.repeat(np.arange(n_frames), n_particles)
    table = pd.DataFrame({"frame": frame, "y": paths[..., 0].ravel(), "x": paths[..., 1].ravel()})
    return table[rng.random(len(table)) < found]


@pytest.mark.parametrize(("per_frame", "seed"), [(3, 0), (15, 1), (40, 2)])
def test_noise_persists_no_more_than_chance(per_frame, seed):
    """The chance partners, edges included, are what noise finds: its share is 0 within its
    error, at any density, and it is said to be noise."""
    found = detection_persistence(noise_detections(200, per_frame, seed), radius_px=30.0)
    assert found is not None and found.n_detections == 199 * per_frame
    assert abs(found.share) < 3 * found.share_se
    # the 60 px square around a uniform point, cut by the edges: (2r - r²/H)(2r - r²/W) on
    # average
    square = np.prod([60.0 - 30.0**2 / side for side in SHAPE])
    assert found.chance_per_detection == pytest.approx(
        per_frame * square / np.prod(SHAPE), rel=0.03
    )
    assert found.is_noise


@pytest.mark.parametrize(("found_share", "n_particles"), [(0.95, 2), (0.7, 15), (0.5, 30)])
def test_particles_persist_with_their_chance_of_being_found_again(found_share, n_particles):
    """A particle detected in a frame is found in the next one with the chance of being
    detected there; that is the share measured, with the chance partners of the others taken
    out. Even one found in every other frame is far from noise."""
    detections = particle_detections(300, n_particles, 2.0, found_share, seed=n_particles)
    found = detection_persistence(detections, radius_px=10.0, field_px=FIELD)
    assert found is not None
    # a step beyond the square (10 px, 5 sd per axis) is rare
    assert found.share == pytest.approx(found_share, abs=max(4 * found.share_se, 0.02))
    assert not found.is_noise


def test_a_flow_taken_out_before_linking_is_taken_out_here():
    """Particles carried 12 px a frame leave a 5 px square: without the flow they look like
    noise, with it they persist."""
    detections = particle_detections(100, 5, 1.0, 1.0, seed=3)
    detections = detections.assign(x=detections["x"] + 12.0 * detections["frame"])
    frames = np.arange(100)
    flow = pd.DataFrame({"y": 0.0, "x": 12.0 * frames}, index=frames)
    carried = detection_persistence(detections, radius_px=5.0, field_px=FIELD)
    followed = detection_persistence(detections, radius_px=5.0, flow=flow, field_px=FIELD)
    assert carried is not None and followed is not None
    assert carried.is_noise and carried.share < 0.05
    assert followed.share > 0.95 and not followed.is_noise


def test_significance_decides_near_the_limit():
    """The verdict needs the share below the limit by two standard errors."""
    below = Persistence(0.1, 0.05, 1.0, 100, 10.0)
    unsure = Persistence(0.1, 0.1, 1.0, 100, 10.0)
    assert below.share + 2 * below.share_se < MIN_PERSISTENT_SHARE and below.is_noise
    assert not unsure.is_noise


def test_without_a_next_frame_nothing_is_said():
    single = pd.DataFrame({"frame": [0, 0, 2], "y": [1.0, 5.0, 3.0], "x": [1.0, 2.0, 3.0]})
    assert detection_persistence(single, radius_px=5.0) is None
    assert detection_persistence(single.iloc[:0], radius_px=5.0) is None


@pytest.mark.parametrize("radius", [0.0, -1.0, float("nan")])
def test_a_radius_that_is_no_distance_is_refused(radius):
    with pytest.raises(ValueError, match="radius_px must be a positive number"):
        detection_persistence(noise_detections(3, 2, 0), radius_px=radius)


def test_the_reason_says_the_numbers_and_what_to_check():
    noise = Persistence(0.02, 0.04, 2.5, 1948, 30.0)
    text = noise.reason()
    assert "Not sized" in text and "1948 detections, 2% ± 4%" in text
    assert "(30 px)" in text and "2.5 per detection" in text
    assert "focus" in text and "illumination" in text and "raise --minmass" in text
    assert "raise “minmass”" in noise.reason(lambda name: f"“{name}”")
