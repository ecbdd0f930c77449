"""Sizing on synthetic tracks drawn directly with numpy (independent of the movie simulator)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from napari_pynta import physics, sizing
from napari_pynta.errors import PyntaInputError

DT = 0.01  # s
PIXEL_UM = 0.1
D_TRUE = 4.5  # µm²/s, about a 100 nm sphere in water at 22 °C
T_C = 22.0
ETA = physics.water_viscosity_pa_s(T_C)


def brownian_tracks(
    rng: np.random.Generator,
    *,
    n_tracks: int = 200,
    n_frames: int = 100,
    D: float = D_TRUE,
    exposure_s: float = DT,
    sigma_um: float = 0.03,
    drift_um_s: tuple[float, float] = (0.0, 0.0),
    substeps: int = 40,
) -> pd.DataFrame:
    """Brownian tracks seen through a rectangular shutter plus Gaussian localization noise.

    Each frame's position is the mean of the path over the exposure (``substeps`` points per
    frame interval), the way a camera integrates a moving spot. Positions are returned in pixels.
    """
    h = DT / substeps
    steps = rng.normal(0.0, np.sqrt(2 * D * h), (n_tracks, n_frames * substeps, 2))
    steps += np.asarray(drift_um_s) * h
    path = np.cumsum(steps, axis=1).reshape(n_tracks, n_frames, substeps, 2)
    n_open = int(round(exposure_s / h))
    position = path[:, :, :n_open].mean(axis=2) if n_open else path[:, :, 0]
    position = position + rng.normal(0.0, sigma_um, position.shape)
    particle, frame = np.meshgrid(np.arange(n_tracks), np.arange(n_frames), indexing="ij")
    return pd.DataFrame(
        {
            "particle": particle.ravel(),
            "frame": frame.ravel(),
            "y": position[..., 0].ravel() / PIXEL_UM,
            "x": position[..., 1].ravel() / PIXEL_UM,
        }
    )


def naive_D(tracks: pd.DataFrame) -> float:
    """MSD(dt) / (4 dt): the estimator that ignores blur and noise."""
    ordered = tracks.sort_values(["particle", "frame"])
    steps = ordered.groupby("particle")[["y", "x"]].diff().dropna() * PIXEL_UM
    return float((steps**2).sum(axis=1).mean() / (4 * DT))


@pytest.mark.parametrize(
    ("exposure_s", "sigma_um"), [(0.0, 0.0), (0.0, 0.04), (DT, 0.0), (DT, 0.04), (DT / 2, 0.02)]
)
def test_covariance_estimator_recovers_D_whatever_blur_and_noise(exposure_s, sigma_um):
    rng = np.random.default_rng(11)
    tracks = brownian_tracks(rng, exposure_s=exposure_s, sigma_um=sigma_um)
    estimate = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, exposure_s)
    assert estimate.n_steps == 200 * 99 and estimate.n_pairs == 200 * 98
    assert estimate.D_se_um2_s < 0.03 * D_TRUE  # the check below is tight enough to mean something
    assert abs(estimate.D_um2_s - D_TRUE) < 4 * estimate.D_se_um2_s
    assert abs(estimate.D_msd_um2_s - D_TRUE) < 4 * estimate.D_msd_se_um2_s
    # localization error recovered (per axis)
    assert estimate.sigma2_um2 == pytest.approx(sigma_um**2, abs=4 * estimate.sigma2_se_um2 + 1e-5)


def test_naive_msd_follows_the_blur_formula_while_covariance_does_not():
    rng = np.random.default_rng(5)
    tracks = brownian_tracks(rng, exposure_s=DT, sigma_um=0.0)
    # MSD(dt) = 4 D dt (1 - 2R) with R = 1/6: the naive estimate is 2/3 of D (sizes 1.5x too big)
    assert naive_D(tracks) / D_TRUE == pytest.approx(2 / 3, rel=0.03)
    estimate = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, DT)
    assert estimate.D_um2_s / D_TRUE == pytest.approx(1.0, rel=0.03)
    # the same tracks analysed as if there were no blur: D unchanged (blur-independent), sigma not
    unblurred = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, 0.0)
    assert unblurred.D_um2_s == pytest.approx(estimate.D_um2_s, rel=1e-12)
    # with R = 0 the blur shows up as a negative localization variance: -2 R D dt
    assert unblurred.sigma2_um2 == pytest.approx(-2 / 6 * D_TRUE * DT, rel=0.05)


def test_naive_msd_is_biased_by_noise_exactly_as_predicted():
    rng = np.random.default_rng(6)
    sigma = 0.05
    tracks = brownian_tracks(rng, exposure_s=0.0, sigma_um=sigma)
    assert naive_D(tracks) == pytest.approx(D_TRUE + sigma**2 / DT, rel=0.03)
    assert sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, 0.0).D_um2_s == pytest.approx(
        D_TRUE, rel=0.04
    )


def test_hand_computed_track_with_a_gap():
    # x steps 1, 2, -1 then a missed frame, then a step of 2; y stays at 0
    tracks = pd.DataFrame(
        {"particle": 7, "frame": [0, 1, 2, 3, 5, 6], "y": 0.0, "x": [0.0, 1.0, 3.0, 2.0, 9.0, 11.0]}
    )
    table = sizing.track_diffusion(tracks, 1.0, 1.0, 0.0, T_C, ETA, max_step_frames=1)
    row = table.iloc[0]
    assert row["particle"] == 7 and row["n_frames"] == 6
    assert row["n_steps"] == 4  # 0-1, 1-2, 2-3, 5-6; the step over the gap is not used
    # per-axis: <dx^2> = (1+4+1+4)/4, <dx dx'> = (1*2 + 2*(-1))/2 = 0; y contributes 0
    assert row["msd1_um2"] == pytest.approx(2.5)
    assert row["D_um2_s"] == pytest.approx((2.5 / 2 + 0.0) / 2)  # average of the x and y axes
    assert row["diameter_nm"] == pytest.approx(physics.diameter_nm(row["D_um2_s"], T_C, ETA))
    # by default the step across the one missed frame (3 -> 5) is used as well
    assert sizing.MAX_STEP_FRAMES == 2
    assert sizing.track_diffusion(tracks, 1.0, 1.0, 0.0, T_C, ETA).iloc[0]["n_steps"] == 5


def test_gaps_from_missed_detections_do_not_bias_D():
    rng = np.random.default_rng(8)
    tracks = brownian_tracks(rng, exposure_s=DT, sigma_um=0.03)
    kept = tracks[rng.random(len(tracks)) > 0.2]  # 20 % of localizations missed
    consecutive = sizing.ensemble_diffusion(kept, PIXEL_UM, DT, DT, max_step_frames=1)
    assert consecutive.n_steps < 0.7 * 200 * 99
    assert abs(consecutive.D_um2_s - D_TRUE) < 4 * consecutive.D_se_um2_s
    across_one_gap = sizing.ensemble_diffusion(kept, PIXEL_UM, DT, DT)  # the default
    assert across_one_gap.n_steps > consecutive.n_steps + 0.1 * 200 * 99
    assert abs(across_one_gap.D_um2_s - D_TRUE) < 4 * across_one_gap.D_se_um2_s


def test_steps_across_gaps_undo_the_loss_of_the_frames_with_large_motion():
    # a detector loses the frames in which a particle moved most; dropping the steps around the
    # gap then keeps the small motions (D far too low); the steps across the gaps restore D
    rng = np.random.default_rng(21)
    tracks = brownian_tracks(rng, exposure_s=DT, sigma_um=0.0, substeps=10)
    steps = tracks.groupby("particle")[["y", "x"]].diff() * PIXEL_UM
    large = (steps**2).sum(axis=1).to_numpy() > 4 * 2 * D_TRUE * DT  # about 20 % of frames
    kept = tracks[~large].copy()
    kept[["y", "x"]] += rng.normal(0.0, 0.03 / PIXEL_UM, (len(kept), 2))
    consecutive = sizing.ensemble_diffusion(kept, PIXEL_UM, DT, DT, max_step_frames=1)
    across_gaps = sizing.ensemble_diffusion(kept, PIXEL_UM, DT, DT, max_step_frames=20)
    assert consecutive.D_um2_s < D_TRUE - 10 * consecutive.D_se_um2_s
    assert abs(across_gaps.D_um2_s - D_TRUE) < 3 * across_gaps.D_se_um2_s
    table = sizing.track_diffusion(kept, PIXEL_UM, DT, DT, T_C, ETA, max_step_frames=20)
    assert np.nanmedian(table["D_um2_s"]) == pytest.approx(D_TRUE, rel=0.1)


def seen_in_a_field(
    tracks: pd.DataFrame, rng: np.random.Generator, field: float, box: float
) -> pd.DataFrame:
    """``tracks`` started at random in a periodic ``box`` (px) and seen only inside a square
    ``field`` (px) at its corner: a new track after every exit."""
    n_tracks = int(tracks["particle"].max()) + 1
    start = rng.uniform(0.0, box, (n_tracks, 2))
    tracks = tracks.copy()
    tracks["y"] = (tracks["y"] + start[tracks["particle"], 0]) % box
    tracks["x"] = (tracks["x"] + start[tracks["particle"], 1]) % box
    inside = (tracks["y"] < field) & (tracks["x"] < field)
    segment = (~inside).groupby(tracks["particle"]).cumsum()
    return tracks[inside].assign(particle=tracks["particle"] * 1000 + segment[inside])


def test_edge_weights_restore_D_in_a_small_field():
    # particles diffuse in a periodic box and are seen only inside a 40 px field: long steps and
    # pairs near the edges are lost (D about 8 % low); the edge weights give the true D
    rng = np.random.default_rng(22)
    field, box = 40.0, 80.0
    tracks = brownian_tracks(rng, n_tracks=100, n_frames=200, sigma_um=0.03, substeps=10)
    seen = seen_in_a_field(tracks, rng, field, box)
    plain = sizing.ensemble_diffusion(seen, PIXEL_UM, DT, DT)
    weighted = sizing.ensemble_diffusion(seen, PIXEL_UM, DT, DT, field_px=(field, field))
    assert plain.D_um2_s < D_TRUE - 2.5 * plain.D_se_um2_s
    assert abs(weighted.D_um2_s - D_TRUE) < 2 * weighted.D_se_um2_s
    # a field much larger than the steps changes nothing
    far = sizing.ensemble_diffusion(seen, PIXEL_UM, DT, DT, field_px=(1e6, 1e6))
    assert far.D_um2_s == pytest.approx(plain.D_um2_s, rel=1e-4)


def test_edge_weights_judge_the_steps_of_a_flow_as_they_were_in_the_image():
    """Walkers carried by a flow of 5 px per frame along x, twice their own steps (2.5 px per
    axis), seen in a 40 px field: the edges cut steps by their length in the image, the flow's
    included, so the steps along it are lost about as often whatever their Brownian part.
    Weighted by the steps with the drift taken out, as if at rest, D came out 3.4 % high (4
    standard errors); weighted by the steps in the image it is the true D (f24-flow)."""
    rng = np.random.default_rng(24)
    field, box, flow_px = 40.0, 80.0, 5.0
    tracks = brownian_tracks(
        rng, n_tracks=800, n_frames=300, substeps=10, drift_um_s=(0.0, flow_px * PIXEL_UM / DT)
    )
    seen = seen_in_a_field(tracks, rng, field, box)
    corrected, _ = sizing.subtract_drift(seen)
    estimate = sizing.ensemble_diffusion(corrected, PIXEL_UM, DT, DT, field_px=(field, field))
    assert estimate.D_se_um2_s < 0.01 * D_TRUE
    assert abs(estimate.D_um2_s - D_TRUE) < 2.5 * estimate.D_se_um2_s


def test_edge_weights_follow_the_chance_of_seeing_a_step():
    weights = sizing.edge_weights(
        np.array([0.0, 10.0, -10.0]), np.array([0.0, 0.0, 20.0]), (40, 80)
    )
    assert weights == pytest.approx([1.0, 1 / 0.75, 1 / (0.75 * 0.75)])


def test_jackknife_error_matches_the_spread_of_repeated_experiments():
    rng = np.random.default_rng(9)
    estimates = [
        sizing.ensemble_diffusion(
            brownian_tracks(rng, n_tracks=30, n_frames=40, substeps=10), PIXEL_UM, DT, DT
        )
        for _ in range(40)
    ]
    spread = np.std([e.D_um2_s for e in estimates], ddof=1)
    typical_se = np.sqrt(np.mean([e.D_se_um2_s**2 for e in estimates]))
    assert typical_se == pytest.approx(spread, rel=0.35)


def test_per_track_sizes_scatter_around_the_truth():
    rng = np.random.default_rng(10)
    tracks = brownian_tracks(rng, n_tracks=300, n_frames=60, sigma_um=0.02)
    table = sizing.track_diffusion(tracks, PIXEL_UM, DT, DT, T_C, ETA)
    true_d = physics.diameter_nm(D_TRUE, T_C, ETA)
    assert len(table) == 300 and (table["n_steps"] == 59).all()
    assert np.median(table["D_um2_s"]) == pytest.approx(D_TRUE, rel=0.05)
    assert np.median(table["D_msd_um2_s"]) == pytest.approx(D_TRUE, rel=0.1)
    # relative spread of a 59-step covariance estimate is of order 1/sqrt(k): 5-30 % here
    assert 0.05 < np.std(table["D_um2_s"]) / D_TRUE < 0.3
    stats = sizing.size_statistics(table["diameter_nm"])
    assert stats["d50"] == pytest.approx(true_d, rel=0.05)
    assert stats["mode"] == pytest.approx(true_d, rel=0.08)
    assert stats["d10"] < stats["d50"] < stats["d90"]


def test_size_statistics_of_a_lognormal_and_of_excluded_values():
    rng = np.random.default_rng(1)
    sizes = np.exp(rng.normal(np.log(150.0), 0.2, 4000))
    stats = sizing.size_statistics(np.concatenate([sizes, [np.nan, np.nan, -1.0]]))
    assert stats["n"] == 4000 and stats["n_excluded"] == 3
    # the log density is normal, so its maximum sits at the geometric median
    assert stats["mode"] == pytest.approx(150.0, rel=0.04)
    assert stats["mean"] == pytest.approx(150.0 * np.exp(0.2**2 / 2), rel=0.02)
    assert stats["d10"] == pytest.approx(150.0 * np.exp(-1.2816 * 0.2), rel=0.02)
    assert stats["d90"] == pytest.approx(150.0 * np.exp(1.2816 * 0.2), rel=0.02)
    assert stats["span"] == pytest.approx((stats["d90"] - stats["d10"]) / stats["d50"])
    assert stats["sd"] == pytest.approx(np.std(sizes, ddof=1))
    bimodal = np.concatenate(
        [np.full(30, 100.0) + rng.normal(0, 3, 30), np.full(70, 300.0) + rng.normal(0, 9, 70)]
    )
    assert sizing.size_statistics(bimodal)["mode"] == pytest.approx(300.0, rel=0.05)
    empty = sizing.size_statistics([np.nan])
    assert empty["n"] == 0 and empty["n_excluded"] == 1 and np.isnan(empty["mean"])


def test_clean_brownian_data_gives_no_warnings():
    rng = np.random.default_rng(12)
    tracks = brownian_tracks(rng, exposure_s=DT, sigma_um=0.03)
    table = sizing.track_diffusion(tracks, PIXEL_UM, DT, DT, T_C, ETA)
    assert sizing.quality_warnings(table, sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, DT)) == []


def test_drift_is_flagged():
    rng = np.random.default_rng(13)
    tracks = brownian_tracks(rng, exposure_s=DT, sigma_um=0.03, drift_um_s=(15.0, 0.0))
    table = sizing.track_diffusion(tracks, PIXEL_UM, DT, DT, T_C, ETA)
    estimate = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, DT)
    assert estimate.drift_y_um_s == pytest.approx(15.0, abs=4 * estimate.drift_y_se_um_s)
    # the covariance estimate is inflated by 1.5 v^2 dt per axis (averaged over the two axes)
    assert estimate.D_um2_s == pytest.approx(
        D_TRUE + 0.75 * 15.0**2 * DT, abs=4 * estimate.D_se_um2_s
    )
    text = " ".join(sizing.quality_warnings(table, estimate))
    assert "drifts" in text and "positively correlated" in text


def test_confined_motion_is_flagged_by_the_msd_slope():
    # Ornstein-Uhlenbeck steps (a particle held by a trap, relaxation time 2 frames): the MSD
    # bends over, so its slope over lags 1-4 falls well below the short-time covariance D
    rng = np.random.default_rng(3)
    n_tracks, n_frames, keep = 200, 100, np.exp(-0.5)
    variance = D_TRUE * 2 * DT  # stationary variance per axis, D * relaxation time
    position = np.zeros((n_tracks, n_frames, 2))
    position[:, 0] = rng.normal(0, np.sqrt(variance), (n_tracks, 2))
    for frame in range(1, n_frames):
        position[:, frame] = keep * position[:, frame - 1] + rng.normal(
            0, np.sqrt(variance * (1 - keep**2)), (n_tracks, 2)
        )
    particle, frame = np.meshgrid(np.arange(n_tracks), np.arange(n_frames), indexing="ij")
    tracks = pd.DataFrame(
        {
            "particle": particle.ravel(),
            "frame": frame.ravel(),
            "y": position[..., 0].ravel() / PIXEL_UM,
            "x": position[..., 1].ravel() / PIXEL_UM,
        }
    )
    estimate = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, 0.0)
    assert estimate.D_msd_um2_s < 0.8 * estimate.D_um2_s
    table = sizing.track_diffusion(tracks, PIXEL_UM, DT, 0.0, T_C, ETA)
    warnings = sizing.quality_warnings(table, estimate)
    assert len(warnings) == 2 and "MSD slope" in warnings[1]
    # a trap pulls back: steps anti-correlated at lags 2-4 (-(1 - q) q^(k-1) / 2, q = e^-0.5:
    # -0.12, -0.07, -0.04)
    assert "not Brownian" in warnings[0] and "lag 2: -0.12" in warnings[0]


def test_too_few_short_tracks_are_flagged():
    rng = np.random.default_rng(14)
    tracks = brownian_tracks(rng, n_tracks=10, n_frames=8)
    table = sizing.track_diffusion(tracks, PIXEL_UM, DT, DT, T_C, ETA)
    estimate = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, DT)
    text = " ".join(sizing.quality_warnings(table, estimate))
    assert "Only 10 tracks" in text and "short (median 7 steps)" in text


def test_understated_exposure_is_flagged():
    rng = np.random.default_rng(15)
    tracks = brownian_tracks(rng, n_tracks=50, exposure_s=DT, sigma_um=0.0)
    table = sizing.track_diffusion(tracks, PIXEL_UM, DT, 0.0, T_C, ETA)
    warnings = sizing.quality_warnings(table, sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, 0.0))
    # stated R = 0 while the true R = 1/6: both symptoms of an understated exposure show up
    assert len(warnings) == 2
    assert "positively correlated" in warnings[0] and "exposure time longer" in warnings[0]
    assert "--exposure-s" in warnings[1]


def test_no_tracks_gives_one_clear_warning():
    empty = pd.DataFrame({"particle": [], "frame": [], "y": [], "x": []})
    table = sizing.track_diffusion(empty, PIXEL_UM, DT, DT, T_C, ETA)
    estimate = sizing.ensemble_diffusion(empty, PIXEL_UM, DT, DT)
    assert len(table) == 0 and estimate.n_steps == 0 and np.isnan(estimate.D_um2_s)
    assert sizing.quality_warnings(table, estimate)[0].startswith("No tracks")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"exposure_s": 2 * DT}, "exposure_s"),
        ({"exposure_s": -1.0}, "exposure_s"),
        ({"frame_interval_s": 0.0}, "frame_interval_s"),
        ({"pixel_size_um": None}, "pixel_size_um"),
    ],
)
def test_bad_parameters_are_named(kwargs, field):
    tracks = brownian_tracks(np.random.default_rng(0), n_tracks=2, n_frames=5)
    arguments = {
        "pixel_size_um": PIXEL_UM,
        "frame_interval_s": DT,
        "exposure_s": DT,
        "temperature_c": T_C,
        "viscosity_pa_s": ETA,
    } | kwargs
    with pytest.raises(PyntaInputError, match=field):
        sizing.track_diffusion(tracks, **arguments)


def test_missing_columns_are_named():
    with pytest.raises(PyntaInputError, match="particle"):
        sizing.ensemble_diffusion(pd.DataFrame({"frame": [0], "y": [0], "x": [0]}), 0.1, DT)


def correlated_tracks(rng: np.random.Generator, v_rms: float, tau_frames: float) -> pd.DataFrame:
    """Brownian tracks plus each particle's own Ornstein–Uhlenbeck velocity (constant per frame)."""
    tracks = brownian_tracks(rng, n_tracks=150, n_frames=120, exposure_s=0.0, sigma_um=0.02)
    keep = np.exp(-1.0 / tau_frames)
    velocity = np.empty((150, 120, 2))
    velocity[:, 0] = rng.normal(0.0, v_rms, (150, 2))
    for frame in range(1, 120):
        velocity[:, frame] = keep * velocity[:, frame - 1] + rng.normal(
            0.0, v_rms * np.sqrt(1 - keep**2), (150, 2)
        )
    displacement = np.cumsum(velocity * DT, axis=1) / PIXEL_UM
    tracks["y"] += displacement[..., 0].ravel()
    tracks["x"] += displacement[..., 1].ravel()
    return tracks


def test_clean_brownian_steps_are_uncorrelated_beyond_one_frame():
    tracks = brownian_tracks(np.random.default_rng(21), exposure_s=DT, sigma_um=0.03)
    estimate = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, DT)
    assert estimate.correlated_lags() == []
    for value, se in zip(estimate.step_correlation, estimate.step_correlation_se, strict=True):
        assert abs(value) < 4 * se < 0.05
    # Brownian: the long-lag MSD slope agrees with the covariance D, and the systematic part of
    # the uncertainty (estimator spread) is small
    assert estimate.D_long_lag_um2_s == pytest.approx(D_TRUE, rel=0.08)
    assert sizing.systematic_errors(estimate)["total"] < 0.05


def test_correlated_steps_at_lags_2_to_4_are_flagged_with_the_long_lag_size():
    tau = 2.0  # frames: extra step correlation exp(-(k - 1) / tau)-like at lags 1, 2, 3 ...
    v_rms = 20.0  # µm/s: an extra 0.2 µm per frame against a 0.3 µm Brownian step
    tracks = correlated_tracks(np.random.default_rng(22), v_rms, tau)
    estimate = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, 0.0)
    assert {2, 3} <= set(estimate.correlated_lags())
    # long lags see the effective diffusion D + v^2 tau (per axis), which short lags do not
    D_effective = D_TRUE + v_rms**2 * tau * DT
    assert estimate.D_long_lag_um2_s == pytest.approx(D_effective, rel=0.15)
    assert estimate.D_um2_s < 0.8 * estimate.D_long_lag_um2_s  # short lags disagree
    table = sizing.track_diffusion(tracks, PIXEL_UM, DT, 0.0, T_C, ETA)

    def diameter_of(D: float) -> float:
        return float(physics.diameter_nm(D, T_C, ETA))

    warnings = sizing.quality_warnings(table, estimate, diameter_of=diameter_of)
    text = next(w for w in warnings if "not Brownian" in w)
    assert "lag 2:" in text and "lag 3:" in text and "compressed video" in text
    assert f"{diameter_of(estimate.D_long_lag_um2_s):.0f} nm" in text
    # the systematic part covers the disagreement the jackknife knows nothing about
    systematic = sizing.systematic_errors(estimate)["total"]
    disagreement = abs(np.log(estimate.D_long_lag_um2_s / estimate.D_um2_s))
    assert systematic > disagreement / 3 > 5 * estimate.D_se_um2_s / estimate.D_um2_s


def test_relinking_counts_as_systematic_by_its_largest_change():
    estimate = sizing.EnsembleEstimate(D_um2_s=4.0, sigma_um=0.03, lag1_cov_ratio=0.1, n_steps=10)
    parts = sizing.systematic_errors(estimate, relinked_D_um2_s=(4.0 * 1.1, 4.0 / 1.3, np.nan))
    assert parts["linking"] == pytest.approx(np.log(1.3))
    assert sizing.systematic_errors(estimate)["linking"] == 0.0


def test_drift_is_subtracted_and_its_correction_counted_as_systematic():
    rng = np.random.default_rng(23)
    tracks = brownian_tracks(rng, exposure_s=DT, sigma_um=0.03, drift_um_s=(15.0, -5.0))
    corrected, drift = sizing.subtract_drift(tracks)
    before = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, DT)
    after = sizing.ensemble_diffusion(corrected, PIXEL_UM, DT, DT)
    assert after.D_um2_s == pytest.approx(D_TRUE, abs=3 * after.D_se_um2_s)
    assert before.D_um2_s > D_TRUE + 0.5 * 0.75 * (15.0**2 + 5.0**2) * DT
    # the drift removed is the flow: 0.15 µm = 1.5 px per frame along y
    assert np.diff(drift["y"].to_numpy())[1:].mean() == pytest.approx(1.5, rel=0.02)
    parts = sizing.systematic_errors(after, before_drift_D_um2_s=before.D_um2_s)
    assert parts["drift"] == pytest.approx(np.log(before.D_um2_s / after.D_um2_s) / 2)
    table = sizing.track_diffusion(corrected, PIXEL_UM, DT, DT, T_C, ETA)
    text = " ".join(sizing.quality_warnings(table, after, before_drift=before))
    assert "drifts" in text and "was subtracted" in text
    # without drift the subtraction changes D by well under its error
    clean = brownian_tracks(np.random.default_rng(24), exposure_s=DT, sigma_um=0.03)
    plain = sizing.ensemble_diffusion(clean, PIXEL_UM, DT, DT)
    redone = sizing.ensemble_diffusion(sizing.subtract_drift(clean)[0], PIXEL_UM, DT, DT)
    assert abs(redone.D_um2_s - plain.D_um2_s) < 0.2 * plain.D_se_um2_s


def test_recordings_numbered_far_apart_keep_their_own_drift():
    """Pooled captures (napari_pynta.pooled) are numbered POOL_GAP_FRAMES apart: each capture's
    drift is subtracted as when it is analysed alone (a window over all of them subtracted the
    mean of opposite flows, and pooled captures of 100 nm came out at 88 nm)."""
    from napari_pynta.pooled import POOL_GAP_FRAMES

    assert POOL_GAP_FRAMES > sizing.DRIFT_BREAK_FRAMES
    rng = np.random.default_rng(26)
    captures, offset = [], 0
    for index, flow in enumerate((15.0, -15.0, 15.0)):  # few tracks: a window longer than each
        tracks = brownian_tracks(rng, n_tracks=3, n_frames=600, drift_um_s=(flow, 0.0))
        tracks["particle"] += 3 * index
        tracks["frame"] += offset
        offset += 600 + POOL_GAP_FRAMES
        captures.append(tracks)
    pooled, _ = sizing.subtract_drift(pd.concat(captures, ignore_index=True))
    for tracks in captures:
        alone, _ = sizing.subtract_drift(tracks)
        mine = pooled[pooled["particle"].isin(tracks["particle"])]
        np.testing.assert_allclose(mine[["y", "x"]].to_numpy(), alone[["y", "x"]].to_numpy())
    estimate = sizing.ensemble_diffusion(pooled, PIXEL_UM, DT, DT)
    assert estimate.D_um2_s == pytest.approx(D_TRUE, abs=3 * estimate.D_se_um2_s)


def test_tracks_all_shorter_than_the_length_filter_are_said_to_be():
    """``--min-track-length 199`` on a 200-frame movie: 58 tracks were linked, none that long,
    and the warning said "No tracks were found: check the detection settings", sending the user
    to the wrong setting. It names the filter and the longest track now."""
    empty = pd.DataFrame({"particle": [], "frame": [], "y": [], "x": []})
    table = sizing.track_diffusion(empty, PIXEL_UM, DT, DT, T_C, ETA)
    estimate = sizing.ensemble_diffusion(empty, PIXEL_UM, DT, DT)
    lengths = np.array([150, 40, 12, 12, 3])
    (text,) = sizing.quality_warnings(table, estimate, track_lengths=lengths, min_track_length=199)
    assert text.startswith("No track is as long as --min-track-length (199 frames)")
    assert "5 tracks were linked, the longest 150 frames" in text
    assert "detection settings" not in text
    (nothing,) = sizing.quality_warnings(table, estimate, track_lengths=[], min_track_length=10)
    assert nothing.startswith("No tracks were found")


def test_localizations_linked_to_none_are_not_said_to_be_tracks_too_short():
    """``--search-range-px 0.05``: no localization was linked to one in another frame, so each
    made a track of 1 frame, and the reason said "375 tracks were linked, the longest 1 frames.
    Lower --min-track-length", the wrong setting. It says none was linked and names the search
    range now."""
    empty = pd.DataFrame({"particle": [], "frame": [], "y": [], "x": []})
    table = sizing.track_diffusion(empty, PIXEL_UM, DT, DT, T_C, ETA)
    estimate = sizing.ensemble_diffusion(empty, PIXEL_UM, DT, DT)
    (text,) = sizing.quality_warnings(
        table, estimate, track_lengths=np.ones(375), min_track_length=10, n_localizations=375
    )
    assert text.startswith("No tracks were found from the 375 localizations"), text
    assert "search range" in text and "--min-track-length" not in text, text
    (some,) = sizing.quality_warnings(
        table, estimate, track_lengths=[1, 1, 6], min_track_length=10, n_localizations=8
    )
    assert "1 track was linked, the longest 6 frames" in some, some


def test_one_track_is_one_track():
    tracks = brownian_tracks(np.random.default_rng(3), n_tracks=1, n_frames=30)
    table = sizing.track_diffusion(tracks, PIXEL_UM, DT, DT, T_C, ETA)
    estimate = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, DT)
    assert "Only 1 track was sized;" in sizing.quality_warnings(table, estimate)[0]


def test_short_tracks_are_judged_before_the_length_filter():
    tracks = brownian_tracks(np.random.default_rng(25), n_tracks=60, n_frames=12)
    table = sizing.track_diffusion(tracks, PIXEL_UM, DT, DT, T_C, ETA)
    estimate = sizing.ensemble_diffusion(tracks, PIXEL_UM, DT, DT)
    # the sized tracks have 11 steps, above the median the old check needed; but most steps of
    # the movie were in tracks of 4-9 frames that the filter (10 frames) dropped
    assert sizing.quality_warnings(table, estimate) == []
    lengths = np.concatenate([np.full(60, 12), np.tile(np.arange(4, 10), 40)])
    text = " ".join(
        sizing.quality_warnings(table, estimate, track_lengths=lengths, min_track_length=10)
    )
    assert "Tracks are short" in text and "dropped 67% of the steps" in text
    long_movie = np.concatenate([np.full(60, 60), np.full(200, 3)])
    assert (
        sizing.quality_warnings(table, estimate, track_lengths=long_movie, min_track_length=10)
        == []
    )


def test_the_no_track_reason_names_each_setting_as_it_is_told():
    """The reason named the command-line flags wherever it was shown (also in the GUI)."""
    too_short = sizing.NoTracks.of([1, 1, 4, 6], 10, 50)
    assert too_short == sizing.NoTracks(50, 2, 6, 10)
    nothing = sizing.NoTracks.of(None, 10, 0)
    unlinked = sizing.NoTracks.of([1, 1, 1], 10, 3)
    flags = too_short.reason()
    assert flags.startswith("No track is as long as --min-track-length (10 frames): 2 tracks")
    assert "the longest 6 frames. Lower --min-track-length (at least 3)" in flags
    assert "lower --minmass, set --diameter-px to the spots' size, or switch on --invert" in (
        nothing.reason()
    )
    assert "(--diameter-px, --minmass) and the linking search range (--search-range-px)" in (
        unlinked.reason()
    )
    for cause, names in (
        (too_short, {"min_track_length"}),
        (nothing, {"minmass", "diameter_px", "invert"}),
        (unlinked, {"diameter_px", "minmass", "search_range_px"}),
    ):
        text = cause.reason(lambda name: f"<{name}>")
        assert "--" not in text, text
        assert set(re.findall(r"<(\w+)>", text)) == names, text
