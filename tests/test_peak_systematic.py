"""Each peak of a mixture gets the systematic terms of its own population."""

from __future__ import annotations

import math

import numpy as np
import pytest
from simulated_acquisition import ACQUISITION, distribution_of, per_track

from napari_pynta import deconvolve, sizing
from napari_pynta.peak_systematic import (
    PEAK_SYSTEMATIC_CAUSES,
    peak_systematic_errors,
    variant_positions,
)
from napari_pynta.simulate_tracks import simulate_tracks


def ensemble_of(tracks):
    return sizing.ensemble_diffusion(
        tracks, ACQUISITION["pixel_size_um"], ACQUISITION["frame_interval_s"], 1e-4
    )


def test_a_peaks_terms_are_the_shifts_of_its_own_population():
    """100 + 200 nm Brownian tracks. A 'relinked' variant in which only the 200 nm tracks'
    steps are 5 % longer (D × 1.1025: the size / 1.1025, as wrong links of one population would
    do) gives the 200 nm peak a linking term of ln 1.1025 and the 100 nm peak none; the
    ensemble's term, a mix of both, would give both peaks the same. A variant without the dim
    tracks (the threshold's) has no 100 nm peak: that peak gets no term from it. Brownian
    tracks: the estimators agree within each population."""
    rng = np.random.default_rng(11)
    tracks = simulate_tracks(1500, rng, diameters_nm=(100.0, 200.0), mean_length=25.0)
    sizes = deconvolve.deconvolve_tracks(tracks, per_track(tracks), **ACQUISITION, n_bootstrap=10)
    assert sizes is not None and sizes.peaks is not None and len(sizes.peaks) == 2
    small, large = np.argsort([peak["diameter_nm"] for peak in sizes.peaks])
    assert sizes.peaks[small]["diameter_nm"] == pytest.approx(100.0, rel=0.1)
    assert sizes.peaks[large]["diameter_nm"] == pytest.approx(200.0, rel=0.1)
    big = tracks.groupby("particle")["mass"].transform("mean") > 1000.0 * 1.5**3
    # each track belongs to the peak of its population (by the posterior of its steps)
    assigned = sizes.track_peak.reindex(tracks.loc[big, "particle"].unique())
    assert np.mean(assigned == large) > 0.85
    stretched = tracks.copy()
    stretched.loc[big, ["y", "x"]] *= 1.05
    terms = peak_systematic_errors(
        sizes,
        tracks,
        distribution_of=distribution_of(sizes),
        ensemble_of=ensemble_of,
        before_drift=tracks,
        bright=tracks[big],
        relinked_positions=[variant_positions(sizes, stretched, distribution_of(sizes)), None],
    )
    assert set(terms) == {*PEAK_SYSTEMATIC_CAUSES, "total"}
    assert terms["linking"][large] == pytest.approx(math.log(1.05**2), abs=0.025)
    assert terms["linking"][small] < 0.02
    assert terms["drift"] == pytest.approx([0.0, 0.0], abs=0.005)  # the same tracks
    assert terms["threshold"][small] == 0.0  # no 100 nm peak without the dim tracks
    assert terms["threshold"][large] < 0.02
    assert np.all(terms["estimators"] < 0.05)
    rss = np.sqrt(sum(terms[cause] ** 2 for cause in PEAK_SYSTEMATIC_CAUSES))
    assert terms["total"] == pytest.approx(rss)
    # the summary gives each peak its own terms (fractions) and its systematic part in nm
    summary = sizes.summary(terms)["deconvolved_nm"]
    assert summary["peak_systematic"] == pytest.approx(
        [terms["total"][n] * peak["diameter_nm"] for n, peak in enumerate(sizes.peaks)]
    )
    assert summary["peak_systematic_parts"]["linking"] == pytest.approx(list(terms["linking"]))


def test_the_summary_wants_one_systematic_value_per_peak():
    rng = np.random.default_rng(2)
    tracks = simulate_tracks(300, rng, diameters_nm=(100.0, 200.0))
    sizes = deconvolve.deconvolve_tracks(tracks, per_track(tracks), **ACQUISITION, n_bootstrap=2)
    assert sizes is not None and sizes.peaks is not None
    with pytest.raises(deconvolve.PyntaInputError, match="values for"):
        sizes.summary({"total": [0.01] * (len(sizes.peaks) + 1)})
