"""Walker EM deconvolution: model, EM, statistics, validated against simulation ground truth.

Three levels of truth are used: per-track steps simulated here from Brownian motion with motion
blur and localization noise (independent of the model code), ground-truth tracks of
``simulate.simulate_movie`` with added localization noise, and the full pipeline (simulated
movie -> detection -> linking -> sizing -> deconvolution).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from napari_pynta import deconvolve
from napari_pynta.deconvolve import (
    StepModel,
    TrackSteps,
    _with_systematic,
    cumulative_fraction,
    detection_counts,
    diameter_grid,
    distribution_statistics,
    find_peaks,
    localization_error_by_brightness,
    lognormal_fit,
    step_dispersion,
    walker_em,
)
from napari_pynta.errors import PyntaInputError
from napari_pynta.sizing import size_statistics, track_diffusion

KB = 1.380649e-23
T_C = 22.0
ETA_22C = 0.9544e-3  # Pa s, IAPWS 2008 reference value for water at 22 °C (DESIGN.md)
DT = 0.01
SIGMA_UM = 0.03


def stokes_einstein_D(diameter_nm):
    """D in µm²/s written out here, independently of physics.py."""
    return KB * (T_C + 273.15) / (3 * math.pi * ETA_22C * np.asarray(diameter_nm) * 1e-9) * 1e12


def simulate_msd1(diameters_nm, n_steps, rng, *, exposure_s=DT, sigma_um=SIGMA_UM, substeps=16):
    """Mean squared lag-1 step of Brownian tracks imaged with blur and localization noise.

    Each frame position is the average of ``substeps`` positions spread over the exposure, plus
    Gaussian noise; the mean of dx² + dy² over each track's ``n_steps`` steps is returned.
    """
    n_tracks, k_max = len(diameters_nm), int(np.max(n_steps))
    D = stokes_einstein_D(diameters_nm)[:, None, None, None]
    # sub-step times within each frame: exposure centred sample points, then the dead time
    dt_sub = exposure_s / substeps
    increments = np.full(substeps, dt_sub)
    increments[0] = DT - exposure_s + dt_sub  # dead time before this frame's exposure starts
    steps = rng.standard_normal((n_tracks, k_max + 1, substeps, 2)) * np.sqrt(
        2 * D * increments[None, None, :, None]
    )
    path = np.cumsum(steps.reshape(n_tracks, -1, 2), axis=1).reshape(steps.shape)
    frames = path.mean(axis=2) + rng.standard_normal((n_tracks, k_max + 1, 2)) * sigma_um
    squares = (np.diff(frames, axis=1) ** 2).sum(axis=2)
    used = np.arange(k_max)[None, :] < np.asarray(n_steps)[:, None]
    return (squares * used).sum(axis=1) / np.asarray(n_steps)


def model(exposure_s=DT, sigma_um=SIGMA_UM):
    return StepModel(DT, exposure_s, sigma_um, T_C, ETA_22C)


def raw_diameters(tracks: TrackSteps, step_model: StepModel) -> np.ndarray:
    """Per-track sizes from the mean squared step alone (noise and blur removed on average)."""
    r = step_model.exposure_s / (6 * DT)
    D = (tracks.msd1_um2 - 4 * step_model.sigma_um**2) / (4 * DT * (1 - 2 * r))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = KB * (T_C + 273.15) / (3 * math.pi * ETA_22C * D * 1e-12) * 1e9
    return d[D > 0]


def simulated_tracks(diameters_nm, rng, k_range=(5, 50)):
    n_steps = rng.integers(k_range[0], k_range[1] + 1, size=len(diameters_nm))
    return TrackSteps(n_steps, simulate_msd1(np.asarray(diameters_nm, float), n_steps, rng))


# --- the model -------------------------------------------------------------------------------


def test_expected_step_is_the_design_formula():
    d = np.array([50.0, 100.0, 400.0])
    D = stokes_einstein_D(d)
    r = 1 / 6
    expected = 4 * D * DT + 4 * SIGMA_UM**2 - 8 * r * D * DT
    np.testing.assert_allclose(model().expected_msd1_um2(d), expected, rtol=1e-4)
    np.testing.assert_allclose(
        model(exposure_s=0.0, sigma_um=0.0).expected_msd1_um2(d), 4 * D * DT, rtol=1e-4
    )


def test_step_correlation_limits():
    # pure blur (full exposure, no noise): R / (1 - 2R) = 1/4; noise-dominated: -1/2
    assert model(sigma_um=0.0).step_correlation(100.0) == pytest.approx(0.25)
    assert model(sigma_um=10.0).step_correlation(100.0) == pytest.approx(-0.5, abs=1e-3)
    assert model(exposure_s=0.0, sigma_um=0.0).step_correlation(100.0) == pytest.approx(0.0)


@pytest.mark.parametrize("k", [5, 20])
def test_gamma_moments_match_simulated_steps(k):
    """The mean and the variance-matched shape of the Gamma model agree with simulated tracks."""
    rng = np.random.default_rng(0)
    m = simulate_msd1(np.full(20000, 100.0), np.full(20000, k), rng)
    theta = model().expected_msd1_um2(100.0)
    rho = model().step_correlation(100.0)
    shape = k / (1 + 2 * (k - 1) / k * rho**2)
    assert m.mean() == pytest.approx(theta, rel=0.01)
    assert m.var() == pytest.approx(theta**2 / shape, rel=0.05)


# --- EM on simulated per-track steps --------------------------------------------------------


def test_monodisperse_100nm_is_recovered_narrow():
    rng = np.random.default_rng(1)
    tracks = simulated_tracks(np.full(2000, 100.0), rng)
    result = walker_em(tracks, model())
    stats = result.statistics()
    raw = size_statistics(raw_diameters(tracks, model()))
    assert result.converged and result.n_iterations < 5000
    assert stats["d50"] == pytest.approx(100.0, rel=0.03)
    assert stats["peaks"] == pytest.approx([100.0], rel=0.03)
    assert stats["d90"] - stats["d10"] < 0.4 * (raw["d90"] - raw["d10"])
    assert stats["span"] < 0.4 * raw["span"]


def test_mixture_100_200nm_gives_two_peaks():
    rng = np.random.default_rng(2)
    tracks = simulated_tracks(np.repeat([100.0, 200.0], 1000), rng)
    result = walker_em(tracks, model())
    stats = result.statistics()
    assert len(stats["peaks"]) == 2
    assert sorted(stats["peaks"]) == pytest.approx([100.0, 200.0], rel=0.1)
    assert 0.4 <= result.fraction_between(1.0, 150.0) <= 0.6
    assert stats["peak_fractions"] == pytest.approx([0.5, 0.5], abs=0.1)


def test_only_peaks_confirmed_by_bootstrap_resamples_are_reported():
    from napari_pynta.deconvolve import bootstrap_distributions, find_peaks, significant_peaks

    rng = np.random.default_rng(31)
    # one latex, short tracks: the EM solution may show noise bumps; resamples do not confirm them
    latex = simulated_tracks(np.full(300, 100.0), rng, k_range=(5, 15))
    result = walker_em(latex, model())
    peaks = significant_peaks(
        result.diameter_nm, result.weights, bootstrap_distributions(latex, model(), result)
    )
    assert len(peaks) == 1 and peaks[0]["fraction"] == pytest.approx(1.0)
    assert peaks[0]["diameter_nm"] == pytest.approx(100.0, rel=0.05)
    # a bump that only 3 of 10 resamples show is dropped and its tracks join a neighbour
    grid = diameter_grid(20.0, 2000.0)

    def bumps(*centres_weights):
        density = sum(w * np.exp(-0.5 * (np.log(grid / c) / 0.05) ** 2) for c, w in centres_weights)
        return density / density.sum()

    observed = bumps((100.0, 1.0), (160.0, 0.3), (400.0, 0.5))
    resamples = np.array(
        [observed] * 3 + [bumps((100.0, 1.0), (400.0, 0.5))] * 7  # the 160 nm bump comes and goes
    )
    assert len(find_peaks(grid, observed)) == 3
    tested = significant_peaks(grid, observed, resamples)
    assert sorted(round(peak["diameter_nm"]) for peak in tested) == [100, 400]
    assert sum(peak["fraction"] for peak in tested) == pytest.approx(1.0)
    assert all(peak["fraction_se"] > 0 for peak in tested)  # the resamples' fractions differ
    assert [peak["significance"] for peak in tested] == [1.0, 1.0]
    # two bumps of one population that take turns between resamples are one peak, not dropped
    observed = bumps((45.0, 0.6), (75.0, 0.9), (110.0, 1.0))
    resamples = np.array(
        [bumps((45.0, 0.6), (75.0, 1.9))] * 5 + [bumps((45.0, 0.6), (110.0, 1.9))] * 5
    )
    tested = significant_peaks(grid, observed, resamples)
    assert sorted(round(peak["diameter_nm"]) for peak in tested) == [45, 110]
    assert [peak["significance"] for peak in tested] == [1.0, 1.0]
    assert max(peak["fraction"] for peak in tested) == pytest.approx(1.9 / 2.5, abs=0.02)
    # the same with the two small bumps taking turns: they merge with each other, not the less
    # confirmed one into the confirmed 110 nm peak (which left the other to fail alone)
    resamples = np.array(
        [bumps((45.0, 1.5), (110.0, 1.0))] * 7 + [bumps((75.0, 1.5), (110.0, 1.0))] * 3
    )
    tested = significant_peaks(grid, observed, resamples)
    assert sorted(round(peak["diameter_nm"]) for peak in tested) == [75, 110]
    assert [peak["significance"] for peak in tested] == [1.0, 1.0]
    # a real 1:1 mixture keeps both peaks, each fraction with an honest error
    mixture = simulated_tracks(np.repeat([100.0, 250.0], 200), rng, k_range=(10, 40))
    result = walker_em(mixture, model())
    peaks = significant_peaks(
        result.diameter_nm, result.weights, bootstrap_distributions(mixture, model(), result)
    )
    assert sorted(peak["diameter_nm"] for peak in peaks) == pytest.approx([100, 250], rel=0.1)
    for peak in peaks:
        assert peak["significance"] >= 0.8
        assert 0.005 < peak["fraction_se"] < 0.08  # binomial: sqrt(0.25 / 400) = 0.025
        assert abs(peak["fraction"] - 0.5) < 3 * peak["fraction_se"] + 0.02


def test_the_peak_test_draws_more_resamples_until_its_decision_is_not_chance():
    from napari_pynta.deconvolve import PEAK_TEST_MAX_RESAMPLES, significant_peaks

    grid = diameter_grid(50.0, 400.0, 50)

    def bumps(*centres_weights):
        density = sum(w * np.exp(-0.5 * (np.log(grid / c) / 0.05) ** 2) for c, w in centres_weights)
        return density / density.sum()

    observed = bumps((100.0, 1.0), (160.0, 0.4))
    with_bump, without = observed, bumps((100.0, 1.0))

    def decisions(share, more, trials=15):
        """How often the 160 nm peak is kept when each resample shows it with chance ``share``
        (the bootstrap's own probability, known here), and the resamples used."""
        rng = np.random.default_rng(int(share * 100))

        def draw(n):
            return np.array([with_bump if rng.random() < share else without for _ in range(n)])

        kept, used = 0, []
        for _ in range(trials):
            peaks = significant_peaks(
                grid,
                observed,
                draw(30),
                more_resamples=(lambda first, n: draw(n)) if more else None,
            )
            kept += len(peaks) == 2
            used.append(peaks[0]["test_resamples"])
        return kept, used

    # a peak shown by 86 % of all possible resamples passes the 0.8 test, one shown by 66 %
    # fails; 30 draws decide either wrongly in 11 % and 7 % of the trials (binomial), and more
    # resamples near the threshold make that rare (< 0.5 %)
    kept_high, used_high = decisions(0.86, more=True)
    kept_low, used_low = decisions(0.66, more=True)
    assert kept_high == 15 and kept_low == 0
    assert max(used_high + used_low) <= PEAK_TEST_MAX_RESAMPLES
    assert max(used_high + used_low) > 30  # near the threshold more were drawn
    kept_high, _ = decisions(0.86, more=False)
    kept_low, used = decisions(0.66, more=False)
    assert (15 - kept_high) + kept_low >= 1 and set(used) == {30}  # the test can see the difference
    # a clear decision needs no more resamples
    _, used = decisions(1.0, more=True, trials=3)
    assert used == [30, 30, 30]


def test_a_peaks_position_carries_the_spread_of_its_positions_in_the_resamples():
    from napari_pynta.deconvolve import bootstrap_distributions, significant_peaks

    grid = diameter_grid(20.0, 2000.0)

    def bump(centre):
        density = np.exp(-0.5 * (np.log(grid / centre) / 0.05) ** 2)
        return density / density.sum()

    # the resamples put the peak at known places: its SE and interval are theirs
    centres = np.array([92.0, 96.0, 100.0, 104.0, 108.0, 95.0, 105.0, 100.0, 98.0, 102.0])
    (peak,) = significant_peaks(grid, bump(100.0), np.array([bump(c) for c in centres]))
    assert peak["diameter_se_nm"] == pytest.approx(np.std(centres, ddof=1), rel=0.05)
    low, high = peak["diameter_interval_nm"]
    assert low == pytest.approx(np.percentile(centres, 16), rel=0.02)
    assert high == pytest.approx(np.percentile(centres, 84), rel=0.02)
    # independent samples of one latex, short tracks: the peak moves between samples, and each
    # sample's interval says by how much (its SE is not smaller than the true scatter)
    rng = np.random.default_rng(8)
    positions, errors, covered = [], [], []
    for _ in range(8):
        latex = simulated_tracks(np.full(150, 100.0), rng, k_range=(5, 15))
        result = walker_em(latex, model())
        resampled = bootstrap_distributions(latex, model(), result, track_ids=np.arange(len(latex)))
        (peak,) = significant_peaks(result.diameter_nm, result.weights, resampled)
        positions.append(peak["diameter_nm"])
        errors.append(peak["diameter_se_nm"])
        low, high = peak["diameter_interval_nm"]
        covered.append(low <= 100.0 <= high)
    assert np.mean(errors) >= 0.8 * np.std(positions, ddof=1)
    assert np.mean(errors) < 10.0  # and still informative (< 10 % of the size)
    assert sum(covered) >= 5


@pytest.mark.parametrize("k_range", [(5, 8), (40, 50)])
def test_short_and_long_tracks_give_the_same_size(k_range):
    rng = np.random.default_rng(3)
    tracks = simulated_tracks(np.full(1500, 100.0), rng, k_range)
    assert walker_em(tracks, model()).statistics()["d50"] == pytest.approx(100.0, rel=0.03)


def test_broad_lognormal_stays_single_peaked_and_lognormal_fit_recovers_it():
    rng = np.random.default_rng(4)
    truth = 150.0 * np.exp(0.25 * rng.standard_normal(2000))
    tracks = simulated_tracks(truth, rng)
    stats = walker_em(tracks, model()).statistics()
    assert len(stats["peaks"]) == 1
    for key, q in (("d10", 10), ("d50", 50), ("d90", 90)):
        assert stats[key] == pytest.approx(np.percentile(truth, q), rel=0.06)
    fit = lognormal_fit(tracks, model())
    assert fit.method == "log-normal fit"
    assert fit.parameters["median_nm"] == pytest.approx(np.median(truth), rel=0.03)
    assert fit.parameters["sigma_log"] == pytest.approx(np.log(truth).std(), abs=0.03)


def test_plain_em_is_narrower_than_smoothed_em():
    rng = np.random.default_rng(5)
    tracks = simulated_tracks(np.full(1000, 100.0), rng)
    smoothed = walker_em(tracks, model()).statistics()
    plain = walker_em(tracks, model(), smoothing_ln=0.0).statistics()
    assert plain["sd"] < smoothed["sd"]
    assert plain["d50"] == pytest.approx(100.0, rel=0.03)


def test_iteration_cap_and_stopping_rule():
    rng = np.random.default_rng(6)
    tracks = simulated_tracks(np.full(200, 100.0), rng)
    capped = walker_em(tracks, model(), max_iter=3)
    assert capped.n_iterations == 3 and not capped.converged
    loose = walker_em(tracks, model(), rel_tol=1e-3)
    tight = walker_em(tracks, model(), rel_tol=1e-6)
    assert loose.converged and tight.converged
    assert loose.n_iterations < tight.n_iterations
    assert tight.log_likelihood >= loose.log_likelihood - 1e-6


# --- statistics of gridded distributions ----------------------------------------------------


def test_statistics_of_a_discretised_lognormal():
    grid = diameter_grid(10, 3000, 200)
    median, s = 120.0, 0.3
    density = np.exp(-0.5 * ((np.log(grid) - np.log(median)) / s) ** 2)
    weights = density / density.sum()
    stats = distribution_statistics(grid, weights)
    assert stats["d50"] == pytest.approx(median, rel=0.01)
    assert stats["mean"] == pytest.approx(median * np.exp(s**2 / 2), rel=0.01)
    # the mode is taken on a logarithmic size axis, like sizing.size_statistics: the median
    assert stats["mode"] == pytest.approx(median, rel=0.01)
    assert stats["d10"] == pytest.approx(median * np.exp(-1.2816 * s), rel=0.01)
    assert stats["span"] == pytest.approx((stats["d90"] - stats["d10"]) / stats["d50"])
    assert cumulative_fraction(grid, weights, [median])[0] == pytest.approx(0.5, abs=0.005)


def test_peaks_and_their_fractions():
    grid = diameter_grid(10, 3000, 200)
    weights = np.zeros(grid.size)
    weights[np.argmin(abs(grid - 80))] = 0.3
    weights[np.argmin(abs(grid - 400))] = 0.7
    peaks = find_peaks(grid, weights)
    assert [p["diameter_nm"] for p in peaks] == pytest.approx([400, 80], rel=0.03)
    assert [p["fraction"] for p in peaks] == pytest.approx([0.7, 0.3])


# --- squared steps that scatter more than Gaussian steps' -------------------------------------


def brownian_track_table(diameters_nm, n_steps, rng, variance_scale=None):
    """Positions (µm, frame interval DT, no blur or noise) of one track per diameter; each
    step's per-axis variance is 2 D DT times ``variance_scale(k)`` (k values of mean 1: a
    heavy-tailed step of the right D on average), or exactly 2 D DT."""
    rows = []
    for particle, (diameter, k) in enumerate(zip(diameters_nm, n_steps, strict=True)):
        scale = np.ones(k) if variance_scale is None else variance_scale(k)
        two_d_dt = 2 * stokes_einstein_D(diameter) * DT
        steps = rng.standard_normal((k, 2)) * np.sqrt(two_d_dt * scale)[:, None]
        path = np.vstack([[0.0, 0.0], np.cumsum(steps, axis=0)])
        rows.append(
            pd.DataFrame(
                {"particle": particle, "frame": np.arange(k + 1), "y": path[:, 0], "x": path[:, 1]}
            )
        )
    return pd.concat(rows, ignore_index=True)


def one_in_ten_steps_three_times_wider(rng):
    """Per-step variance scale: 3 with probability 0.1, else 0.7 / 0.9 (mean 1). A 2-D step's
    square then has variance / squared mean = 2 E[u²] - 1 = 1.89 (Gaussian steps: 1)."""
    return lambda k: np.where(rng.random(k) < 0.1, 3.0, 0.7 / 0.9)


def test_step_dispersion_is_that_of_the_steps_not_of_the_spread_of_sizes():
    rng = np.random.default_rng(11)
    sizes = rng.choice([50.0, 100.0, 400.0], 3000)  # a spread of sizes between tracks
    n_steps = rng.integers(5, 16, 3000)
    gaussian = brownian_track_table(sizes, n_steps, rng)
    assert step_dispersion(gaussian) == pytest.approx(1.0, abs=0.03)
    heavy = brownian_track_table(sizes, n_steps, rng, one_in_ten_steps_three_times_wider(rng))
    expected = 2 * (0.1 * 3.0**2 + 0.9 * (0.7 / 0.9) ** 2) - 1
    assert step_dispersion(heavy) == pytest.approx(expected, rel=0.08)
    # too few steps per track to say anything: Gaussian
    assert step_dispersion(gaussian[gaussian["frame"] < 2]) == 1.0
    with pytest.raises(PyntaInputError, match="min_steps"):
        step_dispersion(gaussian, min_steps=1)
    with pytest.raises(PyntaInputError, match="dispersion"):
        TrackSteps(np.array([5]), np.array([0.1]), dispersion=0.5)


@pytest.mark.parametrize("seed", [0, 1])
def test_short_tracks_with_heavy_tailed_steps_peak_at_the_true_size(seed):
    """Tracks of 8-16 steps of one 100 nm latex whose steps are heavier-tailed than a Gaussian
    (as the pipeline's are: smeared and defocused images, links that visit a neighbour): their
    mean squared steps scatter more than the Gamma of Gaussian steps allows, and the EM made a
    spread of sizes of it, with its peak at 106-119 nm (8 seeds). The Gamma's
    shape divided by the measured dispersion puts the one peak at the truth."""
    rng = np.random.default_rng(seed)
    n_steps = rng.integers(8, 17, 2000)
    table = brownian_track_table(
        np.full(2000, 100.0), n_steps, rng, one_in_ten_steps_three_times_wider(rng)
    )
    per_track = track_diffusion(table, 1.0, DT, 0.0, T_C, ETA_22C)
    sizes = deconvolve.deconvolve_tracks(
        table.assign(mass=1.0),
        per_track,
        pixel_size_um=1.0,
        frame_interval_s=DT,
        exposure_s=0.0,
        temperature_c=T_C,
        viscosity_pa_s=ETA_22C,
    )
    assert sizes is not None and sizes.peaks is not None
    assert [peak["diameter_nm"] for peak in sizes.peaks] == [pytest.approx(100.0, rel=0.05)]


# --- localization error by brightness --------------------------------------------------------


def test_localization_error_by_brightness_separates_dim_and_bright_tracks():
    rng = np.random.default_rng(7)
    rows = []
    for particle in range(240):
        bright = particle % 2 == 0
        sigma_px = 0.2 if bright else 0.6
        n = 30
        path = np.cumsum(rng.standard_normal((n, 2)) * 0.3, axis=0)
        noisy = path + rng.standard_normal((n, 2)) * sigma_px
        rows.append(
            pd.DataFrame(
                {
                    "particle": particle,
                    "frame": np.arange(n),
                    "y": noisy[:, 0],
                    "x": noisy[:, 1],
                    "mass": 5000.0 if bright else 500.0,
                }
            )
        )
    tracks = pd.concat(rows, ignore_index=True)
    sigma = localization_error_by_brightness(tracks, 0.1, DT, 0.0)
    assert sigma[0::2].to_numpy() == pytest.approx(0.02, rel=0.15)
    assert sigma[1::2].to_numpy() == pytest.approx(0.06, rel=0.15)
    single = localization_error_by_brightness(tracks.drop(columns="mass"), 0.1, DT, 0.0)
    assert single.nunique() == 1
    assert single.iloc[0] == pytest.approx(np.sqrt((0.02**2 + 0.06**2) / 2), rel=0.1)


# --- input validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_steps", "msd1", "field"),
    [
        ([5, 6], [0.1], "n_steps and msd1_um2"),
        ([0, 6], [0.1, 0.1], "n_steps"),
        ([5.5, 6], [0.1, 0.1], "n_steps"),
        ([5, 6], [0.1, -1], "msd1_um2"),
        ([5, 6], [0.1, np.nan], "msd1_um2"),
        ([], [], "n_steps"),
    ],
)
def test_bad_tracks_are_rejected(n_steps, msd1, field):
    with pytest.raises(PyntaInputError, match=field):
        TrackSteps(np.array(n_steps), np.array(msd1))


def test_bad_model_and_options_are_rejected():
    with pytest.raises(PyntaInputError, match="exposure_s"):
        StepModel(DT, 2 * DT, 0.0, T_C, ETA_22C)
    with pytest.raises(PyntaInputError, match="sigma_um"):
        StepModel(DT, DT, -0.1, T_C, ETA_22C)
    with pytest.raises(PyntaInputError, match="viscosity_pa_s"):
        StepModel(DT, DT, 0.0, T_C, 0.0)
    tracks = TrackSteps(np.array([5, 6, 7]), np.array([0.1, 0.1, 0.1]))
    with pytest.raises(PyntaInputError, match="max_iter"):
        walker_em(tracks, model(), max_iter=0)
    with pytest.raises(PyntaInputError, match="grid_nm"):
        walker_em(tracks, model(), grid_nm=np.array([100.0, 50.0, 200.0]))
    with pytest.raises(PyntaInputError, match="max_nm"):
        diameter_grid(100, 50)


# --- validation on simulated movies ----------------------------------------------------------


def chopped_truth_tracks(movie, rng, sigma_px, k_range=(5, 50)):
    """Ground-truth tracks cut into pieces of 5-50 steps, with Gaussian localization noise."""
    truth = movie.truth.sort_values(["particle", "frame"]).reset_index(drop=True)
    piece = np.zeros(len(truth), dtype=np.int64)
    next_id = 0
    for _, index in truth.groupby("particle").indices.items():
        start = 0
        while start < len(index):
            length = int(rng.integers(k_range[0], k_range[1] + 1)) + 1
            piece[index[start : start + length]] = next_id
            next_id += 1
            start += length
    truth["particle"] = piece
    truth["y"] += rng.normal(0, sigma_px, len(truth))
    truth["x"] += rng.normal(0, sigma_px, len(truth))
    sizes = truth.groupby("particle")["frame"].transform("size")
    return truth[sizes >= k_range[0] + 1]


def deconvolve_tracks(tracks, metadata):
    per_track = track_diffusion(
        tracks,
        metadata["pixel_size_um"],
        metadata["frame_interval_s"],
        metadata["exposure_s"],
        metadata["temperature_c"],
        metadata["viscosity_pa_s"],
    )
    sigma = localization_error_by_brightness(
        tracks, metadata["pixel_size_um"], metadata["frame_interval_s"], metadata["exposure_s"]
    )
    step_model = StepModel(
        metadata["frame_interval_s"],
        metadata["exposure_s"],
        0.0,
        metadata["temperature_c"],
        metadata["viscosity_pa_s"],
    )
    return per_track, walker_em(TrackSteps.from_table(per_track, sigma), step_model)


@pytest.fixture(scope="module")
def simulate():
    from napari_pynta.simulate import Population, SimulationSettings, simulate_movie

    def make(populations, seed, n_frames=400):
        settings = SimulationSettings(
            shape=(256, 256), n_particles=40, populations=populations, seed=seed
        )
        return simulate_movie(n_frames, settings)

    return make, Population


@pytest.mark.parametrize("case", ["monodisperse", "mixture"])
def test_ground_truth_tracks_of_simulated_movies(simulate, case):
    make, Population = simulate
    populations = (
        (Population(100.0),)
        if case == "monodisperse"
        else (Population(100.0, 0.5), Population(200.0, 0.5))
    )
    movie = make(populations, seed=11)
    tracks = chopped_truth_tracks(movie, np.random.default_rng(8), sigma_px=0.3)
    per_track, result = deconvolve_tracks(tracks, movie.metadata)
    stats = result.statistics()
    raw = size_statistics(per_track["diameter_nm"])
    if case == "monodisperse":
        assert stats["d50"] == pytest.approx(100.0, rel=0.03)
        assert stats["span"] < 0.4 * raw["span"]
    else:
        assert sorted(stats["peaks"][:2]) == pytest.approx([100.0, 200.0], rel=0.1)
        truth_fraction = float((tracks.groupby("particle")["diameter_nm"].first() < 150).mean())
        assert 0.4 <= result.fraction_between(1.0, 150.0) <= 0.6
        assert result.fraction_between(1.0, 150.0) == pytest.approx(truth_fraction, abs=0.05)


def test_full_pipeline_on_a_simulated_mixture(simulate):
    """Detection, linking, sizing and deconvolution: both populations within 10 %."""
    from napari_pynta.detect import locate_frames
    from napari_pynta.link import filter_tracks, link_features

    make, Population = simulate
    movie = make((Population(100.0, 0.5), Population(200.0, 0.5)), seed=4)
    localizations = locate_frames(movie.frames, engine="fast", diameter=9, minmass=300)
    tracks = filter_tracks(link_features(localizations, 12, memory=1), 6)
    per_track, result = deconvolve_tracks(tracks, movie.metadata)
    stats = result.statistics()
    raw = size_statistics(per_track["diameter_nm"])
    assert sorted(stats["peaks"][:2]) == pytest.approx([100.0, 200.0], rel=0.1)
    assert 0.4 <= result.fraction_between(1.0, 150.0) <= 0.6
    assert stats["span"] < raw["span"]


def test_detection_counts_give_spans_of_sized_tracks_and_brightness_groups_of_unsized_ones():
    """Sized tracks: localizations and the frames spanned (a missed frame the linker bridged
    counts in the span, not in the localizations); tracks too short to size: localizations and
    the brightness group their mean mass falls in (no mass: the brightest)."""
    rows = [(1, frame, 100.0) for frame in (0, 1, 3, 4)]  # sized, dim, one missed frame
    rows += [(2, frame, 1000.0) for frame in range(10, 14)]  # sized, bright
    rows += [(3, 20, 80.0), (3, 21, 95.0)]  # unsized, dim
    rows += [(4, 30, 2000.0)]  # unsized, bright
    rows += [(5, 40, math.nan), (5, 42, math.nan)]  # unsized, no mass
    linked = pd.DataFrame(rows, columns=["particle", "frame", "mass"])
    counts = detection_counts(linked, np.array([2, 1]), np.array([math.log(100.0)]))
    np.testing.assert_array_equal(counts.localizations, [4, 4])
    np.testing.assert_array_equal(counts.spans, [4, 5])
    np.testing.assert_array_equal(counts.unsized_ids, [3, 4, 5])
    np.testing.assert_array_equal(counts.unsized_localizations, [2, 1, 2])
    np.testing.assert_array_equal(counts.unsized_group, [0, 1, 1])


def test_particles_in_view_of_a_resample_without_a_groups_sized_tracks_are_finite():
    """A resample that draws none of a brightness group's sized tracks (Poisson counts all zero,
    e^-10 for a group of 10) has nothing to spread the group's unsized tracks over: the group
    adds no particles to that resample, instead of a NaN that makes every number-fraction SE
    NaN."""
    from napari_pynta.deconvolve import (
        DetectionCounts,
        brightness_conditioned,
        stable_bootstrap_counts,
    )

    counts = stable_bootstrap_counts(np.arange(1000), 30)
    absent = np.flatnonzero(counts[0] == 0)[:10]  # the dim group: none drawn in resample 0
    present = np.setdiff1d(np.arange(1000), absent)[:60]
    tracks = simulated_tracks(np.repeat([100.0, 200.0], [10, 60]), np.random.default_rng(0))
    distribution = walker_em(tracks, model())
    detections = DetectionCounts(
        localizations=tracks.n_steps + 1.0,
        spans=tracks.n_steps + 2.0,
        unsized_ids=np.array([5000, 5001]),
        unsized_localizations=np.array([3.0, 2.0]),
        unsized_group=np.array([0, 0]),
    )
    conditioned = brightness_conditioned(
        tracks,
        model(),
        distribution,
        [np.arange(10), np.arange(10, 70)],
        np.concatenate([absent, present]),
        detections,
        30,
    )
    assert np.isfinite(conditioned.number_resampled).all()
    np.testing.assert_allclose(conditioned.number_resampled.sum(axis=1), 1.0)


def test_a_peak_interval_never_reaches_below_zero():
    """A systematic part as large as the peak (e.g. a sample whose size depends on the search
    range) widens the interval upwards in quadrature but leaves its low end at 0, not at a
    negative diameter."""
    peak = {"diameter_nm": 100.0, "diameter_interval_nm": [90.0, 112.0], "diameter_se_nm": 11.0}
    small = _with_systematic(peak, 0.05)
    assert small["interval"] == pytest.approx([100 - math.hypot(10, 5), 100 + math.hypot(12, 5)])
    large = _with_systematic(peak, 1.5)
    assert large["interval"] == pytest.approx([0.0, 100 + math.hypot(12, 150)])
    assert large["uncertainty"] == pytest.approx(math.hypot(11, 150))
