"""Track-guided re-detection of skipped frames (napari_pynta.refill) against drawn truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_pynta import refill

BACKGROUND = 100.0
NOISE_SD = 3.0
SIZE = 64


def streak(path: np.ndarray, photons: float, sigma: float = 1.2) -> np.ndarray:
    """The light of a spot of ``sigma`` moving along ``path`` (sub-steps, (n, 2) px) during
    one exposure: every sub-step's Gaussian, summed."""
    rows, columns = np.mgrid[0:SIZE, 0:SIZE]
    image = np.zeros((SIZE, SIZE))
    for y, x in path:
        image += np.exp(-((rows - y) ** 2 + (columns - x) ** 2) / (2 * sigma**2))
    return photons * image / (2 * np.pi * sigma**2 * len(path))


def movie(n_frames: int, seed: int) -> np.ndarray:
    """Frames of a flat background with white Gaussian noise."""
    rng = np.random.default_rng(seed)
    return BACKGROUND + NOISE_SD * rng.standard_normal((n_frames, SIZE, SIZE))


def track_around_gap(gap_frame: int, y: float, x: float) -> pd.DataFrame:
    """A track seen in the frames before and after ``gap_frame`` (one missed frame)."""
    frames = [gap_frame - 2, gap_frame - 1, gap_frame + 1, gap_frame + 2]
    return pd.DataFrame(
        {
            "frame": frames,
            "y": [y - 2.0, y - 1.0, y + 1.0, y + 2.0],
            "x": [x - 2.0, x - 1.0, x + 1.0, x + 2.0],
            "particle": 0,
        }
    )


def test_a_smeared_particle_missed_in_one_frame_is_found_at_its_exposure_mean() -> None:
    rng = np.random.default_rng(3)
    frames = movie(5, seed=1)
    # a streak 6 px long, bent: its light-weighted mean is off the straight line's middle
    steps = rng.normal(0.0, 0.6, size=(24, 2)) + [0.25, 0.0]
    path = np.array([30.0, 31.5]) + np.cumsum(steps, axis=0)
    frames[2] += streak(path, photons=1500.0)
    truth = path.mean(axis=0)
    tracks = track_around_gap(2, 31.0, 32.0)

    found = refill.refill(frames, tracks, tracks, memory=3, rms_step_px=3.0, noise_sd=NOISE_SD)

    assert len(found) == 1
    assert found["frame"].iloc[0] == 2 and found["particle"].iloc[0] == 0
    error = np.hypot(found["y"].iloc[0] - truth[0], found["x"].iloc[0] - truth[1])
    assert error < 0.6
    assert found["snr"].iloc[0] >= refill.MIN_SNR


def test_noise_alone_fills_no_gap() -> None:
    frames = movie(300, seed=2)
    tracks = pd.concat(
        [track_around_gap(gap, 32.0, 32.0).assign(particle=gap) for gap in range(3, 297, 6)],
        ignore_index=True,
    )

    found = refill.refill(frames, tracks, tracks, memory=3, rms_step_px=4.0, noise_sd=NOISE_SD)

    assert len(tracks["particle"].unique()) == 49
    assert found.empty


def test_no_fill_near_another_particles_localization() -> None:
    frames = movie(5, seed=4)
    frames[2] += streak(np.array([[32.0, 32.0]]), photons=3000.0)
    tracks = track_around_gap(2, 32.0, 33.0)
    neighbour = pd.DataFrame({"frame": [2], "y": [32.0], "x": [32.0]})

    found = refill.refill(
        frames,
        tracks,
        pd.concat([tracks, neighbour], ignore_index=True),
        memory=3,
        rms_step_px=3.0,
        noise_sd=NOISE_SD,
    )

    assert found.empty


def test_gap_frames_follow_the_brownian_bridge() -> None:
    tracks = pd.DataFrame(
        {"frame": [0, 4, 5], "y": [0.0, 8.0, 9.0], "x": [0.0, 0.0, 0.0], "particle": 7}
    )

    gaps = refill.gap_frames(tracks, memory=3, rms_step_px=2.0)

    assert gaps["frame"].tolist() == [1, 2, 3]
    assert np.allclose(gaps["y"], [2.0, 4.0, 6.0])
    # per-axis bridge SD s * sqrt(k (n - k) / n) with n = 4
    assert np.allclose(gaps["radius_px"], refill.RADIUS_SDS * 2.0 * np.sqrt([0.75, 1.0, 0.75]))
    assert refill.gap_frames(tracks, memory=2, rms_step_px=2.0).empty
