"""Size distributions corrected for the finite length of tracks (Walker EM deconvolution).

A track of ``k`` steps only gives a noisy estimate of its particle's diffusion coefficient, so the
histogram of per-track sizes is broader (relative spread about 1/sqrt(k-2)) and skewed (mean
biased by k/(k-1)) compared with the true size distribution. Walker (Meas. Sci. Technol. 23,
065605, 2012) models the mean squared lag-1 step ``M`` of a track of ``k`` steps as
Gamma(shape k, scale theta/k), where theta is the expected squared step of a particle of that
size, and recovers the size distribution by expectation-maximisation (EM) on a grid of diameters.

Here theta includes localization noise and exposure blur (docs/design.md, 2-D, summed over axes)::

    theta(d) = 4 D(d) dt + 4 sigma^2 - 8 R D(d) dt,   R = exposure / (6 dt)

Noise and blur also correlate successive steps (lag-1 correlation ``rho`` per axis), which makes
``M`` scatter more than an independent-step Gamma. We keep the Gamma family but match its
variance exactly: shape = k / (kappa + 2 (k-1)/k rho^2), which equals k when rho = 0 and the
steps are Gaussian (kappa = 1, Walker's case); kappa (:func:`step_dispersion`) is how much more
the squared steps scatter within tracks than Gaussian steps' do (smeared images, visits).

Plain EM converges to the maximum-likelihood distribution, which is a set of spikes: broad
samples then show peaks that are not there. Each iteration therefore applies a light smoothing in
ln d (EMS, Silverman, Jones, Wilson & Nychka, J. R. Stat. Soc. B 52, 271, 1990); with a width of
1 % it keeps monodisperse samples narrow while log-normal samples stay single-peaked. A width of 0
gives Walker's plain EM.

The distributions here are **track-weighted**: every track counts once, as in every NTA report.

The package, by step (each module one job):

- ``grid``: the log-spaced diameter grid; cumulative fraction, quantiles and smoothing of a
  gridded distribution.
- ``likelihood``: :class:`StepModel` (a diameter's lag-1 step statistics), :class:`TrackSteps`
  and the Gamma likelihood matrix.
- ``peaks``: candidate peaks of a distribution (smoothed maxima and their basins).
- ``distribution``: :class:`SizeDistribution` and its statistics.
- ``em``: :func:`walker_em`; ``lognormal``: :func:`lognormal_fit`.
- ``bootstrap``: resamples of the tracks (:func:`bootstrap_distributions`,
  :func:`stable_bootstrap_counts`).
- ``brightness``: brightness groups and classes, the localization error per class.
- ``conditioned``: the distributions conditioned on brightness (fractions of a mixture).
- ``uncertainty``: standard errors of D10/D50/D90 and the localization-error response.
- ``significance``: the bootstrap test of the peaks and their uncertainties.
- ``unimodal_null``: the test of several peaks against one population (Silverman's critical
  smoothing, by tracks simulated from the distribution smoothed to one peak, :func:`unimodal_test`).
- ``sizes``: :class:`DeconvolvedSizes` (the result and its summary); ``tracks``:
  :func:`deconvolve_tracks`, the entry point.

Every public name is importable from ``napari_pynta.deconvolve`` itself.
"""

from napari_pynta.deconvolve.bootstrap import (
    BOOTSTRAP_MAX_ITER,
    BOOTSTRAP_REL_TOL,
    BOOTSTRAP_SEED,
    PEAK_BOOTSTRAP,
    bootstrap_distributions,
    stable_bootstrap_counts,
)
from napari_pynta.deconvolve.brightness import (
    BRIGHTNESS_CLASSES,
    EQUAL_COUNT_CLASS_TRACKS,
    MIN_TRACKS_PER_CLASS,
    brightness_classes,
    brightness_groups,
    localization_error_by_brightness,
)
from napari_pynta.deconvolve.conditioned import (
    ConditionedSizes,
    DetectionCounts,
    brightness_conditioned,
    detection_counts,
)
from napari_pynta.deconvolve.distribution import SizeDistribution, distribution_statistics
from napari_pynta.deconvolve.em import (
    EM_SMOOTHING_LN,
    NEGLIGIBLE_LIKELIHOOD,
    WARM_START_UNIFORM,
    walker_em,
)
from napari_pynta.deconvolve.grid import (
    DEFAULT_GRID_RANGE_NM,
    DEFAULT_POINTS_PER_DECADE,
    cumulative_fraction,
    diameter_grid,
    quantile,
    smoothed_density,
)
from napari_pynta.deconvolve.likelihood import (
    DISPERSION_MIN_STEPS,
    Likelihood,
    StepModel,
    TrackSteps,
    log_likelihood_matrix,
    step_dispersion,
)
from napari_pynta.deconvolve.lognormal import lognormal_fit
from napari_pynta.deconvolve.peaks import PEAK_MIN_PROMINENCE, PEAK_SMOOTHING_LN, find_peaks
from napari_pynta.deconvolve.significance import (
    FRACTION_SPLIT_KEEP_OFF,
    PEAK_INTERVAL,
    PEAK_SIGNIFICANCE,
    PEAK_TEST_MAX_RESAMPLES,
    PEAK_TEST_Z,
    MoreResamples,
    significant_peaks,
)
from napari_pynta.deconvolve.sizes import (
    MORE_TRACKS,
    DeconvolvedSizes,
    _with_systematic,
    peak_positions,
)
from napari_pynta.deconvolve.tracks import Shares, deconvolve_tracks
from napari_pynta.deconvolve.uncertainty import (
    SE_QUANTILES,
    LocalizationErrorResponse,
    localization_error_response,
    quantile_standard_errors,
)
from napari_pynta.deconvolve.unimodal_null import (
    UNIMODAL_DRAWS,
    UNIMODAL_LEVEL,
    UNIMODAL_RETEST_GROWTH,
    UNIMODAL_SEED,
    UnimodalTest,
    critical_width,
    null_tracks,
    unimodal_diameters,
    unimodal_test,
)
from napari_pynta.errors import PyntaInputError

__all__ = [
    "PyntaInputError",
    "DEFAULT_GRID_RANGE_NM",
    "DEFAULT_POINTS_PER_DECADE",
    "diameter_grid",
    "cumulative_fraction",
    "quantile",
    "smoothed_density",
    "StepModel",
    "TrackSteps",
    "log_likelihood_matrix",
    "step_dispersion",
    "DISPERSION_MIN_STEPS",
    "Likelihood",
    "PEAK_MIN_PROMINENCE",
    "PEAK_SMOOTHING_LN",
    "find_peaks",
    "SizeDistribution",
    "distribution_statistics",
    "EM_SMOOTHING_LN",
    "NEGLIGIBLE_LIKELIHOOD",
    "WARM_START_UNIFORM",
    "walker_em",
    "lognormal_fit",
    "PEAK_BOOTSTRAP",
    "BOOTSTRAP_SEED",
    "BOOTSTRAP_REL_TOL",
    "BOOTSTRAP_MAX_ITER",
    "bootstrap_distributions",
    "stable_bootstrap_counts",
    "BRIGHTNESS_CLASSES",
    "MIN_TRACKS_PER_CLASS",
    "EQUAL_COUNT_CLASS_TRACKS",
    "localization_error_by_brightness",
    "brightness_groups",
    "brightness_classes",
    "ConditionedSizes",
    "DetectionCounts",
    "brightness_conditioned",
    "detection_counts",
    "SE_QUANTILES",
    "quantile_standard_errors",
    "LocalizationErrorResponse",
    "localization_error_response",
    "PEAK_SIGNIFICANCE",
    "PEAK_TEST_Z",
    "PEAK_TEST_MAX_RESAMPLES",
    "PEAK_INTERVAL",
    "FRACTION_SPLIT_KEEP_OFF",
    "significant_peaks",
    "MoreResamples",
    "UNIMODAL_DRAWS",
    "UNIMODAL_LEVEL",
    "UNIMODAL_SEED",
    "UNIMODAL_RETEST_GROWTH",
    "UnimodalTest",
    "critical_width",
    "unimodal_diameters",
    "null_tracks",
    "unimodal_test",
    "MORE_TRACKS",
    "DeconvolvedSizes",
    "_with_systematic",
    "peak_positions",
    "Shares",
    "deconvolve_tracks",
]
