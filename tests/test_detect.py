"""Detection against the simulator's ground truth, output format and input validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from live_calibration import calibrate_simulated
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from napari_pynta import detect, simulate
from napari_pynta.detect import threshold as threshold_module
from napari_pynta.errors import PyntaInputError

SHAPE = (128, 128)
DIAMETER = 7


def movie(seed: int, exposure_s: float | None = None, n_frames: int = 20):
    settings = simulate.SimulationSettings(
        shape=SHAPE,
        n_particles=20,
        pixel_size_um=0.2,
        frame_interval_s=0.01,
        exposure_s=exposure_s,
        seed=seed,
    )
    return simulate.simulate_movie(n_frames, settings)


def resolvable(truth: pd.DataFrame) -> pd.DataFrame:
    """Truth particles a detector can be asked to find: away from the frame edge (trackpy's
    margin) and farther than one feature diameter + 1 from any other particle."""
    margin = DIAMETER // 2 + 1
    kept = []
    for _, here in truth.groupby("frame"):
        points = here[["y", "x"]].to_numpy()
        distances = cdist(points, points)
        np.fill_diagonal(distances, np.inf)
        isolated = distances.min(axis=1) > DIAMETER + 1 if len(here) > 1 else np.ones(1, bool)
        inside = (
            here["y"].between(margin, SHAPE[0] - 1 - margin)
            & here["x"].between(margin, SHAPE[1] - 1 - margin)
        ).to_numpy()
        kept.append(here[isolated & inside])
    return pd.concat(kept)


def match(truth: pd.DataFrame, found: pd.DataFrame, tolerance: float = 2.0):
    """One-to-one matching per frame; returns (n matched, position errors, n unmatched found)."""
    errors, unmatched = [], 0
    all_truth = truth
    for frame, wanted in resolvable(truth).groupby("frame"):
        here = found[found["frame"] == frame]
        distance = cdist(wanted[["y", "x"]].to_numpy(), here[["y", "x"]].to_numpy())
        rows, cols = linear_sum_assignment(distance)
        errors.extend(distance[rows, cols][distance[rows, cols] < tolerance])
    for frame, here in found.groupby("frame"):
        present = all_truth[all_truth["frame"] == frame][["y", "x"]].to_numpy()
        nearest = cdist(here[["y", "x"]].to_numpy(), present).min(axis=1)
        unmatched += int((nearest > tolerance).sum())
    return len(errors), np.asarray(errors), unmatched


@pytest.mark.parametrize(("exposure_s", "max_rms_px"), [(0.0005, 0.1), (None, 0.3)])
def test_finds_simulated_particles_with_subpixel_accuracy(exposure_s, max_rms_px):
    sim = movie(seed=4, exposure_s=exposure_s)
    minmass = detect.estimate_minmass(sim.frames, diameter=DIAMETER)
    found = detect.locate_frames(sim.frames, diameter=DIAMETER, minmass=minmass)
    n_wanted = len(resolvable(sim.truth))
    n_matched, errors, n_false = match(sim.truth, found)
    assert n_wanted > 200
    assert n_matched / n_wanted > 0.98  # recall of resolvable particles
    assert n_false / len(found) < 0.01  # precision: features with no particle nearby
    # blur smears the spot over ~ the rms step (1.5 px here): centroids are noisier with it
    assert np.sqrt(np.mean(errors**2)) < max_rms_px


def test_automatic_minmass_separates_noise_from_particles():
    sim = movie(seed=5)
    minmass = detect.estimate_minmass(sim.frames, diameter=DIAMETER)
    everything = detect.locate_frames(sim.frames[:5], diameter=DIAMETER, minmass=0)
    _, _, n_noise = match(sim.truth[sim.truth["frame"] < 5], everything)
    assert n_noise > 5 * len(everything) / 10  # without a threshold most features are noise
    found = detect.locate_frames(sim.frames[:5], diameter=DIAMETER, minmass=minmass)
    assert match(sim.truth[sim.truth["frame"] < 5], found)[2] == 0
    # pure noise: (almost) nothing passes an automatic threshold set on the noise itself
    noise = np.random.default_rng(0).poisson(100.0, (10, *SHAPE)).astype(np.uint16)
    threshold = detect.estimate_minmass(noise, diameter=DIAMETER)
    assert len(detect.locate_frames(noise, diameter=DIAMETER, minmass=threshold)) <= 1


def test_output_columns_dtypes_and_frame_numbers():
    sim = movie(seed=6, n_frames=4)
    calls = []
    found = detect.locate_frames(
        sim.frames,
        first_frame=100,
        diameter=DIAMETER,
        minmass=200,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert tuple(found.columns) == detect.LOCALIZATION_COLUMNS
    assert found["frame"].dtype == np.int64
    assert all(found[name].dtype == np.float64 for name in detect.LOCALIZATION_COLUMNS[1:])
    assert set(found["frame"]) == {100, 101, 102, 103}
    assert calls[-1] == (4, 4)
    single = detect.locate(sim.frames[2], diameter=DIAMETER, minmass=200, frame_number=102)
    pd.testing.assert_frame_equal(single, found[found["frame"] == 102].reset_index(drop=True))


def test_empty_frame_gives_an_empty_standard_table():
    found = detect.locate(np.full(SHAPE, 100, np.uint16), frame_number=3)
    assert len(found) == 0 and tuple(found.columns) == detect.LOCALIZATION_COLUMNS
    stack = detect.locate_frames(np.zeros((3, *SHAPE), np.uint16))
    assert len(stack) == 0 and tuple(stack.columns) == detect.LOCALIZATION_COLUMNS


def test_inverted_contrast_finds_the_same_particles():
    frame = movie(seed=7, n_frames=1).frames[0]
    bright = detect.locate(frame, diameter=DIAMETER, minmass=300)
    dark = detect.locate(
        np.uint16(frame.max()) - frame, diameter=DIAMETER, minmass=300, invert=True
    )
    assert len(bright) == len(dark) > 5
    np.testing.assert_allclose(
        dark.sort_values("x")[["y", "x"]].to_numpy(),
        bright.sort_values("x")[["y", "x"]].to_numpy(),
        atol=0.05,
    )


@pytest.mark.parametrize("invert", [False, True])
def test_particles_of_the_other_contrast_are_reported(invert):
    """Dark particles on a bright field analysed without ``invert`` (or bright ones with it)
    were detected as noise maxima and the rims of their band-passed images, and sized (100 nm
    particles at 52 nm) with no word about the contrast. The frames as the detection sees them
    have far more pixels far below the background than above it; the right setting has none."""
    frames = movie(seed=7).frames
    dark = np.uint16(frames.max() + 100) - frames  # a bright-field movie of the same particles
    right = frames if not invert else dark
    wrong = dark if not invert else frames
    estimate = detect.estimate_threshold(wrong, diameter=DIAMETER, invert=invert)
    assert estimate.contrast.reversed
    assert estimate.contrast.dark > 20 * max(estimate.contrast.bright, 1.0)
    (message,) = [text for text in estimate.notes() if text.startswith("The particles look")]
    assert ("without --invert" if invert else "with --invert") in message
    estimate = detect.estimate_threshold(right, diameter=DIAMETER, invert=invert)
    assert not estimate.contrast.reversed and estimate.notes() == []
    assert estimate.contrast.bright > 20 * max(estimate.contrast.dark, 1.0)


def test_a_minmass_in_the_noise_is_reported_with_the_automatic_one():
    """``--minmass 0`` on a simulated 100 nm movie: 86 features per frame for 11 particles,
    sized 46.6 nm with warnings about crowding only. The noise model knows how many of the
    features a given minmass lets in are noise; a minmass that keeps the features real is not
    warned of."""
    sim = movie(seed=5)
    automatic = detect.estimate_threshold(sim.frames, diameter=DIAMETER)
    assert automatic.noise_features_warning() is None
    low = detect.estimate_threshold(sim.frames, diameter=DIAMETER, minmass=0.0)
    found = detect.locate_frames(sim.frames, diameter=DIAMETER, minmass=0.0)
    _, _, n_noise = match(sim.truth, found)
    assert n_noise > 0.5 * len(found)  # the truth: most features are noise
    assert low.false_per_frame == pytest.approx(n_noise / len(sim.frames), rel=0.3)
    message = low.noise_features_warning()
    assert message is not None and message in low.notes()
    assert f"the automatic one is {automatic.minmass:.0f}" in message
    near = 0.95 * automatic.minmass
    found = detect.locate_frames(sim.frames, diameter=DIAMETER, minmass=near)
    assert match(sim.truth, found)[2] <= 0.02 * len(found)  # still real features
    estimate = detect.estimate_threshold(sim.frames, diameter=DIAMETER, minmass=near)
    assert estimate.noise_features_warning() is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"diameter": 6}, "diameter must be an odd integer"),
        ({"diameter": 7.0}, "diameter must be an odd integer"),
        ({"minmass": -1}, "minmass"),
        ({"separation": 0}, "separation"),
        ({"percentile": 100}, "percentile"),
        ({"engine": "nope"}, "engine must be one of .*trackpy"),
        ({"noise_sise": 1}, "unknown parameter.*noise_sise.*allowed: .*noise_size"),
        ({"frame_number": -1}, "frame_number"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(PyntaInputError, match=message):
        detect.locate(np.zeros(SHAPE, np.uint16), **kwargs)


def test_frames_of_the_wrong_shape_are_rejected():
    with pytest.raises(PyntaInputError, match="2-D image"):
        detect.locate(np.zeros((2, 8, 8), np.uint16))
    with pytest.raises(PyntaInputError, match="3-D stack"):
        detect.locate_frames(np.zeros((8, 8), np.uint16))
    with pytest.raises(PyntaInputError, match="dtype"):
        detect.locate(np.zeros((8, 8), dtype=complex))
    for empty in (np.zeros((0, 0), np.uint16), np.zeros((0, 8), np.uint16)):
        with pytest.raises(PyntaInputError, match=r"2-D image \(Y, X\) of at least 1 x 1 px"):
            detect.locate(empty)


def smeared_50_nm_movie(seed: int, n_particles: int = 10, **brightness):
    """20 frames of 50 nm spheres at 30 fps and 0.166 um, full-frame exposure (a ~5 px step);
    ``brightness``: the simulator's brightness settings (default: its own, d^3)."""
    settings = simulate.SimulationSettings(
        shape=SHAPE,
        n_particles=n_particles,
        populations=(simulate.Population(50.0),),
        pixel_size_um=0.166,
        frame_interval_s=1 / 30,
        seed=seed,
        **brightness,
    )
    return simulate.simulate_movie(20, settings)


def dim_fast_movie(seed: int):
    """50 nm spheres at 30 fps: 1000 photons smeared over ~5 px per frame."""
    return smeared_50_nm_movie(seed, brightness_at_100nm=4000.0, brightness_exponent=2.0)


def test_noise_model_threshold_keeps_dim_blurred_particles_and_rejects_noise():
    sim = dim_fast_movie(seed=8)
    estimate = detect.estimate_threshold(sim.frames, diameter=DIAMETER)
    # the noise model: background 100 photons + read noise 3 -> sd sqrt(109) per pixel
    assert estimate.background == pytest.approx(100.0, abs=1.5)
    assert estimate.noise_sd == pytest.approx(np.sqrt(109.0), rel=0.05)
    assert (
        estimate.minmass
        == estimate.automatic_minmass
        == detect.estimate_minmass(sim.frames, diameter=DIAMETER)
    )
    # every particle the detector can find at all (minmass 0) is kept; blurred streaks put the
    # centroid up to ~3 px from the exposure-averaged truth
    found = detect.locate_frames(sim.frames, diameter=DIAMETER, minmass=estimate.minmass)
    everything = detect.locate_frames(sim.frames, diameter=DIAMETER, minmass=0)
    n_matched, _, n_false = match(sim.truth, found, tolerance=3.0)
    assert n_matched >= 0.97 * match(sim.truth, everything, tolerance=3.0)[0]
    assert n_matched / len(resolvable(sim.truth)) > 0.8
    assert n_false <= 30  # < 1.5 per frame (of ~9 particles), vs ~80 per frame without minmass
    assert estimate.warning() is None
    # noise alone: at most a few false features in 20 frames (1 per frame and 10^6 px expected)
    noise = np.random.default_rng(1).poisson(100.0, (20, *SHAPE)).astype(np.uint16)
    threshold = detect.estimate_minmass(noise, diameter=DIAMETER)
    assert len(detect.locate_frames(noise, diameter=DIAMETER, minmass=threshold)) <= 3


def test_a_threshold_that_cuts_a_dim_population_is_reported_with_a_better_one():
    sim = dim_fast_movie(seed=9)
    estimate = detect.estimate_threshold(sim.frames, diameter=DIAMETER, minmass=400.0)
    assert estimate.minmass == 400.0 and estimate.automatic_minmass < 200.0
    kept = detect.locate_frames(sim.frames, diameter=DIAMETER, minmass=400.0)
    everything = detect.locate_frames(sim.frames, diameter=DIAMETER, minmass=0)
    findable = match(sim.truth, everything, tolerance=3.0)[0]
    missed_per_frame = (findable - match(sim.truth, kept, tolerance=3.0)[0]) / 20
    assert estimate.cut_per_frame == pytest.approx(missed_per_frame, rel=0.35)
    message = estimate.warning()
    assert message is not None and f"--minmass {estimate.suggested_minmass:.0f}" in message
    assert "would include them" in message
    assert estimate.suggested_minmass < 200.0
    found = detect.locate_frames(sim.frames, diameter=DIAMETER, minmass=estimate.suggested_minmass)
    assert match(sim.truth, found, tolerance=3.0)[0] > 2 * match(sim.truth, kept, tolerance=3.0)[0]


def test_a_population_as_faint_as_the_noise_is_reported_without_a_false_remedy():
    """50 nm particles at 30 fps and 0.166 um pixels with the simulator's default brightness
    (d^3, 250 photons smeared over a ~5 px step): most are as faint as the noise. The check
    used to say nothing when no lower minmass kept 90 % purity, and otherwise offered a minmass
    one unit lower that "would include them" and found almost none of them."""
    sim = smeared_50_nm_movie(3, n_particles=20)
    estimate = detect.estimate_threshold(sim.frames, diameter=DIAMETER)
    findable = len(resolvable(sim.truth))
    kept = match(
        sim.truth,
        detect.locate_frames(sim.frames, diameter=DIAMETER, minmass=estimate.minmass),
        3.0,
    )[0]
    assert kept < 0.2 * findable  # the truth: the threshold keeps few of the particles
    message = estimate.warning()
    assert message is not None and "as faint as the noise" in message
    assert "would include them" not in message
    if np.isfinite(estimate.suggested_minmass):
        # what the message says a lower minmass adds is what it adds, far from the particles cut
        lower = detect.locate_frames(
            sim.frames, diameter=DIAMETER, minmass=estimate.suggested_minmass
        )
        added = (match(sim.truth, lower, 3.0)[0] - kept) / 20
        assert added < 0.5 * (findable - kept) / 20
        assert f"would add only about {estimate.suggested_recovers_per_frame:.1f}" in message


def test_the_live_calibration_warns_when_the_threshold_cuts_a_population():
    """The analysis warned of particles under the threshold; the live calibration, on the same
    threshold module, passed on only the saturation warning: the faint movie above, filmed
    live, ran with no word that most particles were not detected."""
    calibration = {"engine": "fast", "detection": {}, "search_range_px": 20.0, "memory": 3}
    _, warned = calibrate_simulated(
        calibration,
        seed=3,
        shape=SHAPE,
        n_particles=20,
        diameter_nm=50.0,
        pixel_size_um=0.166,
        fps=30.0,
    )
    assert any("probably cut" in text for text in warned), warned


def test_a_clipped_background_is_reported_instead_of_a_cut_population():
    """Frames whose background sits at the camera's zero (8-bit video, no offset): the lower half
    of the noise is cut, the noise model underestimates it and the completeness check reported
    "a dim population is probably cut" for one 100 nm population. The warning now names the
    clipping; the unclipped frames of the same movie give none."""
    sim = dim_fast_movie(seed=8)
    estimate = detect.estimate_threshold(sim.frames, diameter=DIAMETER)
    assert estimate.clipped_share == 0.0 and estimate.warning() is None
    clipped = np.clip(sim.frames.astype(np.int64) - 100, 0, 255).astype(np.uint8)
    estimate = detect.estimate_threshold(clipped, diameter=DIAMETER)
    assert estimate.clipped_share == pytest.approx(np.mean(clipped == 0), abs=0.02)
    assert estimate.clipped_share > 0.4
    message = estimate.warning()
    assert message is not None and "background is clipped" in message
    assert "probably cut" not in message


def test_particles_that_saturate_the_camera_are_reported():
    """A 12-bit camera (uint16 frames, top value 4095) set so bright that about half the
    particles reach the top: saturated spots have flat tops (poor localization, cut brightness)
    and gave a saturated 400 + 800 nm mixture a false peak at 4.9 µm with no warning
    (benchmarks/camera_artefact_movies.py). The estimate finds the top value and counts the
    saturated spots as the unclipped frames have them; the same frames unclipped give none."""
    sim = movie(seed=4)
    frames = sim.frames.astype(np.int64)
    rows = np.rint(sim.truth["y"]).astype(int).clip(0, SHAPE[0] - 1)
    cols = np.rint(sim.truth["x"]).astype(int).clip(0, SHAPE[1] - 1)
    level = int(np.median(frames[sim.truth["frame"], rows, cols]))
    saturated = (np.minimum(frames, level) + (4095 - level)).astype(np.uint16)
    assert saturated.max() == 4095
    expected = np.mean([ndimage.label(frame >= level, np.ones((3, 3)))[1] for frame in frames])
    assert expected > 3  # the test is about many saturated particles per frame

    clean = detect.estimate_threshold(sim.frames, diameter=DIAMETER)
    assert np.isnan(clean.saturation_level) and clean.saturation_warning() is None
    estimate = detect.estimate_threshold(saturated, diameter=DIAMETER)
    assert estimate.saturation_level == 4095
    assert estimate.saturated_per_frame == pytest.approx(expected, rel=0.3)
    message = estimate.saturation_warning()
    assert message is not None and "top value (4095)" in message and "saturates" in message
    # the spots' size as the unclipped frames have it, and a mask that holds them
    areas = []
    for frame in frames[
        threshold_module.sample_indices(len(frames), threshold_module.MINMASS_SAMPLE_FRAMES)
    ]:
        labels, count = ndimage.label(frame >= level, np.ones((3, 3)))
        areas.extend(np.bincount(labels.ravel())[1:])
    radius = np.sqrt(np.percentile(areas, 90) / np.pi)
    assert estimate.saturated_radius_px == pytest.approx(radius, rel=0.25)
    wide = 2 * int(np.ceil(radius + threshold_module.SATURATED_SHOULDER_PX)) + 1
    assert estimate.saturated_diameter_px() == wide
    small = dataclasses.replace(estimate, diameter=detect.DiameterChoice(wide - 2, automatic=False))
    assert f"--diameter-px {wide} holds them" in (small.saturation_warning() or "")
    enough = dataclasses.replace(estimate, diameter=detect.DiameterChoice(wide, automatic=False))
    assert "--diameter-px" not in (enough.saturation_warning() or "")
