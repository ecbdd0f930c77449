"""The simulated NTA movies obey the physics they claim (diffusion, blur, PSF, noise)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest

from napari_pynta import physics
from napari_pynta.errors import PyntaInputError
from napari_pynta.simulate import (
    ILLUMINATION_FLOOR,
    BrownianScene,
    Population,
    SimulatedMovie,
    SimulationSettings,
    render_expected_photons,
    simulate_movie,
)

FRAME_INTERVAL_S = 0.01


def consecutive_steps(truth: pd.DataFrame) -> pd.DataFrame:
    """Per-axis displacements (pixels) between consecutive frames of a particle, with the next one.

    Columns ``dy, dx`` (step into this frame), ``next_dy, next_dx`` (the following step, NaN when
    the particle is not seen in the next frame) and ``diameter_nm``.
    """
    ordered = truth.sort_values(["particle", "frame"])
    by_particle = ordered.groupby("particle")
    steps = by_particle[["y", "x"]].diff().rename(columns={"y": "dy", "x": "dx"})
    steps[by_particle["frame"].diff() != 1] = np.nan
    following = steps.groupby(ordered["particle"]).shift(-1)
    steps["next_dy"], steps["next_dx"] = following["dy"], following["dx"]
    steps["diameter_nm"] = ordered["diameter_nm"]
    return steps.dropna(subset=["dy"])


def test_true_positions_take_steps_of_variance_2_D_dt_per_axis():
    settings = SimulationSettings(
        shape=(48, 48),
        n_particles=25,
        populations=(Population(60, 0.5), Population(250, 0.5)),
        exposure_s=0.004,
        seed=11,
    )
    scene = BrownianScene(settings)
    low, high = scene.box_um
    box_span = high - low
    normalised, n_wrapped = [], 0
    for _ in range(150):
        ids, before, diffusion = scene.particle_ids, scene.positions_um, scene.D_um2_s
        scene.next_frame()
        step = scene.positions_um - before
        # a particle leaving the box re-enters one box length away, under a new id
        wrapped = np.abs(step) > box_span / 2
        assert np.array_equal(wrapped.any(axis=1), scene.particle_ids != ids)
        n_wrapped += int(wrapped.sum())
        step -= box_span * np.round(step / box_span)
        normalised.append(step / np.sqrt(2 * diffusion * FRAME_INTERVAL_S)[:, None])
    normalised = np.concatenate(normalised)
    assert len(normalised) > 10_000 and n_wrapped > 100
    np.testing.assert_allclose(normalised.var(axis=0), 1.0, atol=0.04)
    np.testing.assert_allclose(normalised.mean(axis=0), 0.0, atol=0.03)


def test_frames_a_camera_skips_still_let_the_particles_diffuse():
    settings = SimulationSettings(shape=(48, 48), n_particles=25, seed=12)
    scene = BrownianScene(settings)
    box_span = np.subtract(*scene.box_um[::-1])
    normalised = []
    for _ in range(100):
        before, diffusion = scene.positions_um, scene.D_um2_s
        scene.skip_frames(3)
        step = scene.positions_um - before
        step -= box_span * np.round(step / box_span)
        normalised.append(step / np.sqrt(2 * diffusion * 3 * FRAME_INTERVAL_S)[:, None])
    assert scene.frame_index == 300
    normalised = np.concatenate(normalised)
    np.testing.assert_allclose(normalised.var(axis=0), 1.0, atol=0.05)
    _, truth = scene.next_frame()
    assert (truth["frame"] == 300).all()


def test_skipping_frames_under_a_constant_flow_moves_once_not_frame_by_frame(monkeypatch):
    # a simulated camera asked for 1e5 fps skipped ~500 frames per read at 40 µs each, read
    # slower, skipped more: 4.7 frames read per second at 1e5 fps, 2 at 1e6 (a runaway)
    settings = SimulationSettings(
        shape=(256, 256),
        n_particles=25,
        populations=(Population(1000),),
        drift_um_s=(0.5, -0.3),
        seed=12,
    )
    scene = BrownianScene(settings)
    box_span = np.subtract(*scene.box_um[::-1])
    n_frames = 1000
    calls = []
    directed = scene._directed_velocity_um_s
    monkeypatch.setattr(scene, "_directed_velocity_um_s", lambda: calls.append(1) or directed())
    before, ids, diffusion = scene.positions_um, scene.particle_ids, scene.D_um2_s
    scene.skip_frames(n_frames)
    assert len(calls) <= 1 and scene.frame_index == n_frames
    # the particles that stayed in the box moved by the flow plus one diffusion step of 10 s
    kept = scene.particle_ids == ids
    seconds = n_frames * FRAME_INTERVAL_S
    step = scene.positions_um[kept, :2] - before[kept, :2] - np.array([0.5, -0.3]) * seconds
    step -= box_span[:2] * np.round(step / box_span[:2])
    sd = np.sqrt(2 * diffusion[kept] * seconds)[:, None]
    assert kept.sum() >= 10
    assert np.all(np.abs(step / sd) < 5)


@pytest.mark.parametrize("exposure_s", [None, 0.004])
def test_exposure_averaged_positions_follow_the_motion_blur_formula(exposure_s):
    settings = SimulationSettings(
        shape=(256, 256),
        n_particles=60,
        populations=(Population(150),),
        exposure_s=exposure_s,
        blur_substeps=16,
        depth_um=4.0,
        focal_depth_um=4.0,
        seed=5,
    )
    movie = simulate_movie(300, settings)
    # only steps with both ends in view are in the truth: this biases the MSD low by about
    # 0.8·(step rms)/(frame size) = 0.7 %, well inside the tolerance
    steps = consecutive_steps(movie.truth)
    assert len(steps) > 15_000
    diffusion_px2_s = (
        physics.diffusion_um2_s(150.0, 22.0, physics.water_viscosity_pa_s(22.0))
        / settings.pixel_size_um**2
    )
    # 2-D: MSD(dt) = 4 D dt - 8 R D dt with R = exposure / (6 dt)
    blur_r = (exposure_s or FRAME_INTERVAL_S) / (6 * FRAME_INTERVAL_S)
    expected_msd = (4 - 8 * blur_r) * diffusion_px2_s * FRAME_INTERVAL_S
    measured_msd = float((steps["dy"] ** 2 + steps["dx"] ** 2).mean())
    assert measured_msd == pytest.approx(expected_msd, rel=0.03)
    # successive blurred steps are correlated, per axis <dx_n dx_n+1> = 2 R D dt: this is what
    # lets the covariance estimator D = <dx²>/(2dt) + <dx_n dx_n+1>/dt undo the blur
    products = np.r_[steps["dy"] * steps["next_dy"], steps["dx"] * steps["next_dx"]]
    products = products[np.isfinite(products)]
    standard_error = products.std() / np.sqrt(len(products))
    expected_covariance = 2 * blur_r * diffusion_px2_s * FRAME_INTERVAL_S
    assert abs(products.mean() - expected_covariance) < 4 * standard_error
    assert expected_covariance > 8 * standard_error  # the test can tell blur from no blur


def test_mixture_fractions_are_honoured_in_the_imaged_volume():
    settings = SimulationSettings(
        shape=(64, 64),
        n_particles=40,
        populations=(Population(60, fraction=0.3), Population(200, fraction=0.7)),
        seed=2,
    )
    scene = BrownianScene(settings)
    assert np.mean(np.isclose(scene.diameters_nm, 60.0)) == pytest.approx(0.3, abs=0.01)
    movie = simulate_movie(300, settings)
    small = float(np.isclose(movie.truth["diameter_nm"], 60.0).mean())
    assert small == pytest.approx(0.3, abs=0.05)
    assert set(np.round(movie.truth["diameter_nm"], 6)) == {60.0, 200.0}
    # the mean number of visible particles per frame is n_particles
    per_frame = movie.truth.groupby("frame").size().reindex(range(300), fill_value=0)
    assert per_frame.mean() == pytest.approx(40, rel=0.15)


def test_log_normal_population_keeps_its_median_and_spread_in_view():
    settings = SimulationSettings(
        shape=(32, 32),
        n_particles=10,
        populations=(Population(100, sigma_log=0.4),),
        depth_um=6.0,
        seed=3,
    )
    movie = simulate_movie(1500, settings)
    log_d = np.log(movie.truth["diameter_nm"])
    # many particles leave and re-enter the small box: the composition must not drift
    assert movie.truth["particle"].nunique() > 500
    assert log_d.mean() == pytest.approx(np.log(100.0), abs=0.05)
    assert log_d.std() == pytest.approx(0.4, abs=0.05)


def test_same_seed_same_movie_other_seed_other_movie():
    settings = SimulationSettings(shape=(32, 40), n_particles=5, seed=7)
    first, second = simulate_movie(5, settings), simulate_movie(5, settings)
    np.testing.assert_array_equal(first.frames, second.frames)
    pd.testing.assert_frame_equal(first.truth, second.truth)
    other = simulate_movie(5, SimulationSettings(shape=(32, 40), n_particles=5, seed=8))
    assert not np.array_equal(first.frames, other.frames)


def test_the_default_movie_is_unchanged_by_the_options_added_since():
    # digests of this movie as simulated before the illumination profile existed (main 360d8e1):
    # an option that is off must not change one bit of the default movie or its truth
    movie = simulate_movie(20, SimulationSettings(shape=(64, 64), n_particles=8, seed=3))
    frames = hashlib.sha256(movie.frames.tobytes()).hexdigest()
    truth = hashlib.sha256(movie.truth.to_numpy().tobytes()).hexdigest()
    assert frames == "0e559db3e6a1ed049a6593a4aa92dc310707bc42c605be0bb386f86bc2122b18"
    assert truth == "c1ade6b5234cf4af9ec84f73fa562888be8526460fc98e30108c50fd4f32a756"


@pytest.mark.parametrize(("background", "read_noise"), [(100.0, 3.0), (10.0, 1.0)])
def test_empty_frames_have_shot_and_read_noise(background, read_noise):
    settings = SimulationSettings(
        shape=(128, 128), n_particles=0, background=background, read_noise=read_noise, seed=1
    )
    frames = simulate_movie(8, settings).frames
    assert frames.dtype == np.uint16 and frames.shape == (8, 128, 128)
    values = frames.astype(float)
    # Poisson(background) + Normal(0, read_noise²), rounded to integers (+1/12)
    assert values.mean() == pytest.approx(background, abs=0.05)
    assert values.var() == pytest.approx(background + read_noise**2 + 1 / 12, rel=0.03)
    # consecutive frames are independent
    correlation = np.corrcoef(values[0].ravel(), values[1].ravel())[0, 1]
    assert abs(correlation) < 0.02


@pytest.mark.parametrize(("background", "read_noise"), [(100.0, 3.0), (10.0, 1.0)])
def test_pixels_lit_by_a_particle_have_the_shot_noise_of_their_photons(background, read_noise):
    # particles in honey over 80 µs stand still (0.003 px rms: the bright spots' steep flanks
    # turn 0.03 px into 6 % more variance), so every pixel's mean over frames is its expected
    # count
    settings = SimulationSettings(
        shape=(48, 48),
        n_particles=3,
        viscosity_pa_s=10.0,
        frame_interval_s=2e-7,
        background=background,
        read_noise=read_noise,
        brightness_at_100nm=20_000.0,
        depth_um=4.0,
        seed=3,
    )
    frames = simulate_movie(400, settings).frames.astype(float)
    mean, variance = frames.mean(axis=0), frames.var(axis=0)
    lit = mean > background + 200
    assert lit.sum() >= 10
    # Poisson: variance = mean photons; plus read noise and the rounding of the counts
    expected = mean[lit] + read_noise**2 + 1 / 6
    assert variance[lit].sum() / expected.sum() == pytest.approx(1.0, abs=0.05)


def test_frames_saturate_at_the_uint16_maximum_instead_of_wrapping():
    settings = SimulationSettings(shape=(16, 16), n_particles=0, background=70_000.0, seed=1)
    frames = simulate_movie(2, settings).frames
    assert frames.min() == np.iinfo(np.uint16).max


def test_rendered_spot_conserves_photons_and_centres_on_the_position():
    positions = np.array([[[10.3, 20.7]], [[30.0, 5.45]]])
    image = render_expected_photons((40, 40), positions, np.array([1000.0, 500.0]), 1.2)
    assert image.dtype == np.float32
    assert image.sum() == pytest.approx(1500.0, rel=1e-5)
    top = image[:20].astype(float)
    rows, cols = np.indices(top.shape)
    assert (rows * top).sum() / top.sum() == pytest.approx(10.3, abs=1e-4)
    assert (cols * top).sum() / top.sum() == pytest.approx(20.7, abs=1e-4)
    # a spot half outside the image keeps only its inside half
    edge = render_expected_photons((20, 20), np.array([[[-0.5, 10.0]]]), np.array([100.0]), 1.2)
    assert edge.sum() == pytest.approx(50.0, rel=1e-4)


def test_psf_peak_sits_on_the_truth_and_brightness_scales_with_diameter():
    settings = SimulationSettings(
        shape=(96, 96),
        n_particles=4,
        populations=(Population(1000), Population(2000)),
        brightness_at_100nm=2000.0,
        brightness_exponent=1.0,
        read_noise=2.0,
        depth_um=4.0,
        focal_depth_um=4.0,
        seed=4,
    )
    movie = simulate_movie(40, settings)
    checked = 0
    for frame, truth in movie.truth.groupby("frame"):
        for row in truth.itertuples():
            others = truth[truth["particle"] != row.particle]
            isolated = np.all(np.hypot(others["y"] - row.y, others["x"] - row.x) > 16)
            inside = 8 <= row.y <= 87 and 8 <= row.x <= 87
            if not (isolated and inside):
                continue
            cy, cx = int(round(row.y)), int(round(row.x))
            window = movie.frames[frame, cy - 7 : cy + 8, cx - 7 : cx + 8].astype(float) - 100.0
            rows, cols = np.mgrid[cy - 7 : cy + 8, cx - 7 : cx + 8]
            assert (rows * window).sum() / window.sum() == pytest.approx(row.y, abs=0.1)
            assert (cols * window).sum() / window.sum() == pytest.approx(row.x, abs=0.1)
            expected_photons = 2000.0 * row.diameter_nm / 100.0
            assert window.sum() == pytest.approx(expected_photons, rel=0.05)
            checked += 1
    assert checked >= 30


def test_particles_enter_and_leave_without_jumping():
    settings = SimulationSettings(shape=(64, 64), n_particles=20, seed=9)
    scene = BrownianScene(settings)
    n_in_box = len(scene.particle_ids)
    movie = simulate_movie(300, settings)
    truth = movie.truth
    assert not truth.duplicated(["frame", "particle"]).any()
    assert (truth.groupby("particle")["diameter_nm"].nunique() == 1).all()
    pd.testing.assert_series_equal(
        movie.diameters_nm, truth.groupby("particle")["diameter_nm"].first()
    )
    # new particles appear (ids beyond the initial ones) and tracks end before the movie does
    assert truth["particle"].max() >= n_in_box
    spans = truth.groupby("particle")["frame"].agg(["min", "max", "size"])
    assert (spans["min"] > 0).sum() > 20 and (spans["max"] < 299).sum() > 20
    assert spans["size"].median() < 150
    # some tracks end far from the image border: the particle left the focal layer
    last = truth.sort_values("frame").groupby("particle").last()
    last = last[last["frame"] < 299]
    far_from_edge = (last["y"].between(10, 53)) & (last["x"].between(10, 53))
    assert far_from_edge.sum() > 10
    # ... within a few z-steps (0.3 µm rms) of the layer's edge at |z| = 2 µm
    assert (last.loc[far_from_edge, "z_um"].abs() > 1.0).all()
    # a particle never jumps: displacements stay within 6 sigma of free diffusion
    ordered = truth.sort_values(["particle", "frame"])
    grouped = ordered.groupby("particle")
    gap = grouped["frame"].diff()
    distance_px = np.hypot(grouped["y"].diff(), grouped["x"].diff())
    diffusion_px2 = (
        physics.diffusion_um2_s(
            ordered["diameter_nm"].to_numpy(), 22.0, physics.water_viscosity_pa_s(22.0)
        )
        / 0.01
    )
    sigma_px = np.sqrt(2 * diffusion_px2 * FRAME_INTERVAL_S * gap)
    assert np.nanmax(distance_px / sigma_px) < 6


def test_metadata_is_json_and_describes_the_movie():
    settings = SimulationSettings(shape=(16, 16), n_particles=1, temperature_c=25.0, seed=0)
    metadata = simulate_movie(1, settings).metadata
    assert metadata["viscosity_pa_s"] == pytest.approx(0.8900e-3, rel=1e-3)
    assert metadata["solvent"] == "water" and metadata["camera"] == "simulated"
    assert metadata["exposure_s"] == metadata["frame_interval_s"] == 0.01
    assert metadata["pixel_size_um"] == 0.1 and metadata["temperature_c"] == 25.0
    restored = SimulationSettings.from_dict(json.loads(json.dumps(metadata["camera_settings"])))
    assert restored == settings
    custom = simulate_movie(
        1, SimulationSettings(shape=(16, 16), viscosity_pa_s=2e-3, exposure_s=0.002)
    ).metadata
    assert custom["viscosity_pa_s"] == 2e-3 and custom["solvent"] is None
    assert custom["exposure_s"] == 0.002


def test_explicit_viscosity_slows_the_particles():
    base = dict(shape=(16, 16), n_particles=3, seed=0)
    water = BrownianScene(SimulationSettings(**base))
    syrup = BrownianScene(SimulationSettings(**base, viscosity_pa_s=10 * water.viscosity_pa_s))
    np.testing.assert_allclose(syrup.D_um2_s, water.D_um2_s / 10)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("shape", (4, 64)),
        ("shape", (64,)),
        ("n_particles", -1),
        ("n_particles", 2.5),
        ("pixel_size_um", 0.0),
        ("frame_interval_s", -0.01),
        ("exposure_s", 0.02),
        ("temperature_c", 120.0),
        ("viscosity_pa_s", 0.0),
        ("psf_sigma_px", 0.0),
        ("background", -1.0),
        ("read_noise", float("nan")),
        ("blur_substeps", 0),
        ("focal_depth_um", 50.0),
        ("depth_um", -1.0),
        ("seed", -3),
        ("populations", ()),
        ("brightness_at_100nm", -5.0),
        ("defocus_um", 0.0),
        ("illumination_sigma_um", 0.0),
        ("illumination_sigma_um", float("nan")),
        ("drift_um_s", (1.0,)),
        ("drift_um_s", (float("nan"), 0.0)),
        ("correlated_motion_um_s", -1.0),
        ("correlation_time_s", 0.0),
        ("compression_step_adu", -2.0),
        ("keyframe_interval", 0),
    ],
)
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(PyntaInputError, match=field):
        SimulationSettings(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"), [("diameter_nm", 0.0), ("fraction", -0.5), ("sigma_log", -0.1)]
)
def test_bad_population_names_the_field(field, value):
    arguments = {"diameter_nm": 100.0, field: value}
    with pytest.raises(PyntaInputError, match=field):
        Population(**arguments)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"viscosity_pa_s": 1e9}, r"viscosity_pa_s must be in \[0.0001, 10\] \(Pa·s\)"),
        ({"viscosity_pa_s": 1e-9}, r"viscosity_pa_s must be in \[0.0001, 10\] \(Pa·s\)"),
        (
            {"temperature_c": -200.0, "viscosity_pa_s": 0.002},
            r"temperature_c must be in \[-20, 150\] \(°C\)",
        ),
        (
            {"temperature_c": 1e6, "viscosity_pa_s": 0.002},
            r"temperature_c must be in \[-20, 150\] \(°C\)",
        ),
        ({"populations": (Population(100.0),), "temperature_c": 120.0}, "0..100 °C for water"),
    ],
)
def test_conditions_no_liquid_sample_has_are_refused_naming_the_range(arguments, message):
    """b23: 10⁹ Pa·s and -200 °C made movies `pynta analyze` then refused to size."""
    with pytest.raises(PyntaInputError, match=message):
        SimulationSettings(**arguments)


@pytest.mark.parametrize("diameter_nm", [0.5, 1e9])
def test_a_diameter_no_light_microscope_can_size_is_refused(diameter_nm):
    """b23: a 1 m particle was simulated (and stood still in a frame of background)."""
    with pytest.raises(PyntaInputError, match=r"diameter_nm must be in \[1, 10000\] \(nm\)"):
        Population(diameter_nm)


def test_the_limits_themselves_are_allowed():
    settings = SimulationSettings(
        populations=(Population(1.0), Population(10_000.0)),
        temperature_c=-20.0,
        viscosity_pa_s=10.0,
    )
    assert settings.resolved_viscosity_pa_s == 10.0
    assert SimulationSettings(temperature_c=150.0, viscosity_pa_s=1e-4).temperature_c == 150.0


def test_bad_frame_count_and_unknown_settings_are_rejected():
    with pytest.raises(PyntaInputError, match="n_frames"):
        simulate_movie(0, SimulationSettings(shape=(16, 16)))
    with pytest.raises(PyntaInputError, match="colour"):
        SimulationSettings.from_dict({"colour": "red"})


# -- realistic options --------------------------------------------------------------------------
def spot_profile(movie, window: int = 12) -> pd.DataFrame:
    """Per truth row: |z|, background-subtracted peak and window sum around the true position."""
    frames = movie.frames.astype(float) - 100.0
    rows = []
    height, width = frames.shape[1:]
    for frame, y, x, z in movie.truth[["frame", "y", "x", "z_um"]].itertuples(index=False):
        iy, ix = int(round(y)), int(round(x))
        if window <= iy < height - window and window <= ix < width - window:
            patch = frames[frame, iy - window : iy + window + 1, ix - window : ix + window + 1]
            rows.append((abs(z), patch.max(), patch.sum()))
    return pd.DataFrame(rows, columns=["abs_z", "peak", "total"])


def test_defocus_makes_spots_wider_and_dimmer_with_the_same_photons():
    settings = SimulationSettings(
        shape=(128, 128),
        n_particles=6,
        populations=(Population(1000.0),),  # slow: no blur to confuse the widths
        brightness_at_100nm=20.0,  # 20 000 photons at 1 µm (exponent 3)
        read_noise=0.0,
        defocus_um=0.5,
        seed=4,
    )
    profile = spot_profile(simulate_movie(20, settings))
    near, far = profile[profile["abs_z"] < 0.25], profile[profile["abs_z"] > 1.2]
    assert len(near) > 5 and len(far) > 5
    # sigma grows by sqrt(1 + (z/z0)^2): > 2.6x at 1.2 µm, so the peak drops by > 6x
    assert far["peak"].median() < near["peak"].median() / 5
    assert far["total"].median() == pytest.approx(near["total"].median(), rel=0.15)
    sharp = spot_profile(simulate_movie(20, dataclasses.replace(settings, defocus_um=None)))
    assert sharp[sharp["abs_z"] > 1.2]["peak"].median() == pytest.approx(
        sharp[sharp["abs_z"] < 0.25]["peak"].median(), rel=0.15
    )


def test_illumination_profile_dims_particles_by_its_gaussian_in_depth():
    sigma_um = 1.0
    settings = SimulationSettings(
        shape=(128, 128),
        n_particles=8,
        populations=(Population(1000.0),),  # slow: the spot stays in its window
        brightness_at_100nm=40.0,  # 40 000 photons at 1 µm in focus (exponent 3)
        read_noise=0.0,
        illumination_sigma_um=sigma_um,
        seed=5,
    )
    movie = simulate_movie(40, settings)
    reach = sigma_um * math.sqrt(2 * math.log(1 / ILLUMINATION_FLOOR))
    # imaged beyond the hard layer's ±2 µm, never beyond the floor
    assert movie.truth["z_um"].abs().max() > settings.focal_depth_um / 2
    assert movie.truth["z_um"].abs().max() <= reach
    profile = spot_profile(movie)
    in_focus = 40_000.0
    expected = in_focus * np.exp(-(profile["abs_z"] ** 2) / (2 * sigma_um**2))
    for rows in (profile["abs_z"] < 0.5, profile["abs_z"].between(1.2, 1.8), profile["abs_z"] > 2):
        assert rows.sum() > 5
        ratio = profile["total"][rows] / expected[rows]
        assert ratio.median() == pytest.approx(1.0, abs=0.08)
    # the hard layer lights every imaged particle alike
    hard = spot_profile(
        simulate_movie(40, dataclasses.replace(settings, illumination_sigma_um=None))
    )
    assert hard["total"][hard["abs_z"] > 1.5].median() == pytest.approx(in_focus, rel=0.05)


def test_an_illumination_profile_deeper_than_the_box_is_refused():
    # imaged to 2.448 σ: σ = 3 µm reaches 7.3 µm, beyond the 12 µm box's ±6 µm
    with pytest.raises(PyntaInputError, match=r"illumination_sigma_um.*depth_um.*<= 2\.45"):
        SimulationSettings(illumination_sigma_um=3.0)
    assert SimulationSettings(illumination_sigma_um=2.4).imaged_half_depth_um == pytest.approx(
        2.4 * 2.4477, rel=1e-4
    )


def test_correlated_motion_and_drift_move_the_true_positions():
    correlation_time = 0.02  # two frames
    settings = SimulationSettings(
        shape=(96, 96),
        n_particles=20,
        # the largest allowed: Brownian steps of 0.03 µm rms, 7-10x smaller than the directed ones
        populations=(Population(10_000.0),),
        correlated_motion_um_s=20.0,
        correlation_time_s=correlation_time,
        drift_um_s=(30.0, 0.0),
        depth_um=40.0,
        focal_depth_um=39.0,
        seed=5,
    )
    truth = simulate_movie(200, settings).truth.sort_values(["particle", "frame"])
    steps = truth.groupby("particle")[["y", "x"]].diff() * settings.pixel_size_um
    steps = steps[truth.groupby("particle")["frame"].diff() == 1]
    # the flow: 30 µm/s x 10 ms = 0.3 µm per frame along y only
    assert steps["y"].mean() == pytest.approx(0.3, abs=0.02)
    assert steps["x"].mean() == pytest.approx(0.0, abs=0.02)
    # own motion: the velocity v_j (correlation r^m = exp(-m dt / tau) between frames) is constant
    # within a frame and the truth is the exposure-averaged position, so with a full-frame
    # exposure a step is (v_{j-1} + v_j) dt / 2 and steps correlate as r^(lag-1) (1 + r) / 2,
    # beyond lag 1 too
    dx = truth.assign(dx=steps["x"])
    r = np.exp(-FRAME_INTERVAL_S / correlation_time)
    for lag in (2, 3):
        later = dx.groupby("particle")["dx"].shift(-lag)
        valid = dx["dx"].notna() & later.notna()
        rho = np.corrcoef(dx["dx"][valid], later[valid])[0, 1]
        assert rho == pytest.approx(r ** (lag - 1) * (1 + r) / 2, abs=0.08)


def test_compression_freezes_unchanged_blocks_between_key_frames():
    settings = SimulationSettings(
        shape=(32, 40), n_particles=0, compression_step_adu=150.0, keyframe_interval=5, seed=6
    )
    plain = simulate_movie(11, dataclasses.replace(settings, compression_step_adu=0.0)).frames
    frames = simulate_movie(11, settings).frames.astype(float)
    # the key frame keeps each block's mean (DC step 150 / 8 px: within 9.4 ADU), not its noise
    assert np.abs(frames[0] - plain[0]).max() > 0
    blocks = (frames[0] - plain[0]).reshape(4, 8, 5, 8).mean(axis=(1, 3))
    assert np.abs(blocks).max() <= 150 / 16 + 0.5
    # noise-only differences (sd ~15 ADU) mostly round to 0: difference frames repeat the last
    assert np.mean(plain[1:] != plain[:-1]) > 0.9
    assert np.mean(frames[1:5] == frames[:4]) > 0.8


def test_true_tracks_are_cut_where_a_particle_is_away_longer_than_memory():
    frames = np.zeros((30, 40, 40), dtype=np.uint16)
    # particle 1 (80 nm): frames 0-9, away 5 frames (> memory 3), back 15-29: two tracks;
    # particle 2 (200 nm): frames 0-9, away 3 frames (= memory), back 13-19: one track;
    # particle 3 (80 nm): 6 frames only (under min_length); particle 4 near the edge, out of field
    rows = [(f, 1, 20.0, 20.0) for f in [*range(10), *range(15, 30)]]
    rows += [(f, 2, 10.0, 10.0) for f in [*range(10), *range(13, 20)]]
    rows += [(f, 3, 30.0, 30.0) for f in range(6)]
    rows += [(f, 4, 1.0, 20.0) for f in range(30)]
    truth = pd.DataFrame(rows, columns=["frame", "particle", "y", "x"])
    diameters = pd.Series({1: 80.0, 2: 200.0, 3: 80.0, 4: 80.0})
    movie = SimulatedMovie(frames, truth, diameters)
    found = movie.true_track_diameters(margin_px=3, memory=3, min_length=5)
    assert sorted(found) == [80.0, 80.0, 80.0, 200.0]
    assert sorted(movie.true_track_diameters(margin_px=3, memory=3, min_length=10)) == [
        80.0,
        80.0,
        200.0,
    ]
