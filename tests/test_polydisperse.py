"""Broad (polydisperse) samples: one broad log-normal population is one peak, two separated
populations stay two (the peaks' test against one population, ``deconvolve.unimodal_null``).

Track-level simulations (``simulate_tracks``: Brownian steps with Gaussian localization noise),
sized and deconvolved as the analysis does.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from simulated_acquisition import ACQUISITION, per_track

from napari_pynta import deconvolve
from napari_pynta.pooled import MORE_CAPTURES
from napari_pynta.simulate_tracks import simulate_tracks

KB = 1.380649e-23


def simulated(diameters_nm, seed, fractions=None):
    """430 tracks of ~20 frames, the tracks of a 600-frame movie with 28 particles in view."""
    rng = np.random.default_rng(seed)
    return simulate_tracks(
        430, rng, diameters_nm=diameters_nm, fractions=fractions, mean_length=20.0
    )


def deconvolved(diameters_nm, seed, fractions=None, warm_start=None, tracks=None):
    """The deconvolution (30 bootstrap resamples) of :func:`simulated` tracks."""
    tracks = simulated(diameters_nm, seed, fractions) if tracks is None else tracks
    sizes = deconvolve.deconvolve_tracks(
        tracks, per_track(tracks), **ACQUISITION, n_bootstrap=30, warm_start=warm_start
    )
    assert sizes is not None and sizes.peaks is not None
    return sizes


@pytest.mark.parametrize("seed", [0, 1])
def test_a_broad_lognormal_population_is_one_peak(seed):
    """σ_ln 0.4 around 150 nm: the EM splits it into two bumps that every bootstrap resample
    shows (before: two peaks of significance 0.97-1.0 in both seeds); tracks drawn from the
    distribution smoothed to one peak split as often, so one peak is reported."""
    truth = 150.0 * np.exp(0.4 * np.random.default_rng(1000 + seed).standard_normal(2000))
    sizes = deconvolved(truth, seed)
    assert len(sizes.peaks) == 1
    assert sizes.peaks[0]["fraction"] == pytest.approx(1.0)
    assert sizes.unimodal is not None and not sizes.unimodal.rejected
    summary = sizes.summary({"total": [math.nan]})["deconvolved_nm"]
    assert summary["peak_unimodal_p"] > deconvolve.UNIMODAL_LEVEL
    assert summary["d50"] == pytest.approx(np.median(truth), rel=0.1)
    # the merge is said: the confirmed bumps lie within the population's span, the reported
    # peak is the highest of them, and the warning names them and the test's p-value
    merged = summary["unresolved_peaks_nm"]
    assert len(merged) >= 2
    assert np.quantile(truth, 0.05) < min(merged) < max(merged) < np.quantile(truth, 0.95)
    assert min(abs(peak - sizes.peaks[0]["diameter_nm"]) for peak in merged) < 1.0
    warning = sizes.unresolved_peaks_warning()
    assert warning is not None
    assert f"p = {sizes.unimodal.p_value:.2f}" in warning
    assert all(f"{peak:.0f}" in warning for peak in merged)
    assert "longer movie" in warning and "pynta analyze --combine" in warning
    # the pooled captures' (napari_pynta.pooled) advise more captures
    pooled = sizes.unresolved_peaks_warning(MORE_CAPTURES)
    assert "Record more or longer captures of the sample before" in pooled
    assert "longer movie" not in pooled


@pytest.mark.parametrize(
    ("diameters", "fractions"), [((80.0, 200.0), None), ((100.0, 300.0), (0.75, 0.25))]
)
def test_two_separated_populations_stay_two_peaks(diameters, fractions):
    sizes = deconvolved(diameters, 0, fractions)
    assert sorted(peak["diameter_nm"] for peak in sizes.peaks) == pytest.approx(diameters, rel=0.1)
    assert sizes.unimodal is not None and sizes.unimodal.rejected
    assert sizes.unimodal.p_value <= deconvolve.UNIMODAL_LEVEL
    assert sizes.unimodal.multimodal_draws <= 1
    assert sizes.unresolved_peaks_nm == () and sizes.unresolved_peaks_warning() is None


def test_a_warm_starts_rejection_stands_until_the_tracks_have_doubled():
    """The live summary warm-starts from its last result: a mixture's rejection of one
    population is reused while the tracks are fewer than twice those it was made with, and made
    again beyond."""
    tracks = simulated((80.0, 200.0), 0)
    first = deconvolved(None, 0, tracks=tracks)
    assert first.unimodal is not None and first.unimodal.rejected
    assert first.unimodal.n_tracks == first.deconvolved.n_tracks
    again = deconvolved(None, 0, warm_start=first, tracks=tracks)
    assert again.unimodal is first.unimodal and len(again.peaks) == 2
    older = dataclasses.replace(
        first,
        unimodal=dataclasses.replace(first.unimodal, n_tracks=first.unimodal.n_tracks // 2),
    )
    retested = deconvolved(None, 0, warm_start=older, tracks=tracks)
    assert retested.unimodal is not older.unimodal
    assert retested.unimodal == first.unimodal  # the same draws: the same decision


def test_the_critical_width_is_where_two_bumps_merge():
    """Two equal Gaussian bumps in ln d, 2a apart, of width s: smoothed by h they merge when
    a = sqrt(s² + h²) (a normal mixture is unimodal for a half-separation up to its SD); the
    candidate rule (a dip of 10 % of the highest peak) merges them a little before."""
    grid = deconvolve.diameter_grid(10.0, 3000.0)
    a, s = 0.45, 0.1
    log_d = np.log(grid / 150.0)
    weights = np.exp(-0.5 * ((log_d - a) / s) ** 2) + np.exp(-0.5 * ((log_d + a) / s) ** 2)
    width = deconvolve.critical_width(grid, weights / weights.sum())
    assert 0.7 * math.sqrt(a**2 - s**2) < width <= math.sqrt(a**2 - s**2) + 0.005


def test_null_draws_keep_the_spread_of_the_distribution_and_follow_the_step_model():
    """Diameters drawn from a log-normal smoothed by 0.3 in ln d keep the log-normal's median
    and width (the rescaled smoothed bootstrap); long tracks without noise then have mean squared
    steps of 4 D dt, so Stokes-Einstein gives the diameters back."""
    rng = np.random.default_rng(3)
    grid = deconvolve.diameter_grid()
    weights = np.exp(-0.5 * (np.log(grid / 150.0) / 0.4) ** 2)
    diameters = deconvolve.unimodal_diameters(grid, weights / weights.sum(), 0.3, 20000, rng)
    assert np.median(diameters) == pytest.approx(150.0, rel=0.02)
    assert np.log(diameters).std() == pytest.approx(0.4, rel=0.03)
    n = diameters.size
    tracks = deconvolve.TrackSteps(np.full(n, 5000), np.ones(n), np.zeros(n))
    model = deconvolve.StepModel(0.01, 0.0, 0.0, 22.0, ACQUISITION["viscosity_pa_s"])
    drawn = deconvolve.null_tracks(tracks, model, diameters, rng)
    assert np.array_equal(drawn.n_steps, tracks.n_steps)
    D = drawn.msd1_um2 / (4 * 0.01) * 1e-12  # m²/s
    sized = KB * 295.15 / (3 * math.pi * ACQUISITION["viscosity_pa_s"] * D) * 1e9
    assert np.median(np.abs(sized / diameters - 1)) < 0.02
