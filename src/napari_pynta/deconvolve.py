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
variance exactly: shape = k / (1 + 2 (k-1)/k rho^2), which equals k when rho = 0 (Walker's case).

Plain EM converges to the maximum-likelihood distribution, which is a set of spikes: broad
samples then show peaks that are not there. Each iteration therefore applies a light smoothing in
ln d (EMS, Silverman, Jones, Wilson & Nychka, J. R. Stat. Soc. B 52, 271, 1990); with a width of
1 % it keeps monodisperse samples narrow while log-normal samples stay single-peaked. A width of 0
gives Walker's plain EM.

The distributions here are **track-weighted**: every track counts once, as in every NTA report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

from napari_pynta.cancellation import checkpoint
from napari_pynta.errors import PyntaInputError, require_positive
from napari_pynta.physics import diffusion_um2_s
from napari_pynta.sizing import blur_factor, localization_variance, track_sums

#: default diameter grid: 5 nm to 5 µm, 100 points per decade (2.3 % spacing)
DEFAULT_GRID_RANGE_NM = (5.0, 5000.0)
DEFAULT_POINTS_PER_DECADE = 100
#: default EMS smoothing width (standard deviation in ln d) applied after every EM step
EM_SMOOTHING_LN = 0.01
#: grid diameters whose likelihood is below this (relative to each track's best) for every track
#: are left out of the EM iterations
NEGLIGIBLE_LIKELIHOOD = 1e-12
#: brightness classes of :func:`localization_error_by_brightness` and their smallest size
BRIGHTNESS_CLASSES = 6
MIN_TRACKS_PER_CLASS = 10
EQUAL_COUNT_CLASS_TRACKS = 30
#: peaks must rise above their surroundings by this fraction of the highest peak
PEAK_MIN_PROMINENCE = 0.1
#: width (standard deviation in ln d) of the smoothing applied before looking for peaks
PEAK_SMOOTHING_LN = 0.04
#: bootstrap resamples of the tracks that test the peaks, and the share that must show a peak
PEAK_BOOTSTRAP = 30
PEAK_SIGNIFICANCE = 0.8
#: the peak test is sequential: while a share of resamples showing a peak lies within
#: PEAK_TEST_Z Monte-Carlo standard errors (sqrt(s (1 - s) / n) at the threshold s) of the
#: threshold, the number of resamples is doubled, up to PEAK_TEST_MAX_RESAMPLES
PEAK_TEST_Z = 2.0
PEAK_TEST_MAX_RESAMPLES = 240
#: central share (%) of the resamples' positions of a peak given as its interval
PEAK_INTERVAL = 68.0
#: the fractions of another distribution than the peaks' are split at its lowest point between
#: two peaks, but at least this share of the way (in ln d) from either peak
FRACTION_SPLIT_KEEP_OFF = 0.25
BOOTSTRAP_SEED = 20261
#: resamples start at the solution of all tracks: a looser tolerance and fewer iterations suffice
BOOTSTRAP_REL_TOL = 1e-4
BOOTSTRAP_MAX_ITER = 1000
#: share of the uniform distribution mixed into a warm start of :func:`walker_em`
WARM_START_UNIFORM = 1e-3


@dataclass(frozen=True)
class StepModel:
    """How a particle's diameter sets the statistics of its lag-1 steps in a movie.

    Parameters
    ----------
    frame_interval_s : float
        Time between frames, s.
    exposure_s : float
        Exposure time of each frame, s (0 for no motion blur, at most ``frame_interval_s``).
    sigma_um : float
        Localization error per axis, µm (e.g. from the ensemble covariance estimator).
    temperature_c : float
        Sample temperature, °C.
    viscosity_pa_s : float
        Solvent viscosity, Pa·s.
    """

    frame_interval_s: float
    exposure_s: float
    sigma_um: float
    temperature_c: float
    viscosity_pa_s: float

    def __post_init__(self) -> None:
        blur_factor(self.exposure_s, self.frame_interval_s)  # validates both times
        require_positive("sigma_um", self.sigma_um, allow_zero=True)
        diffusion_um2_s(100.0, self.temperature_c, self.viscosity_pa_s)  # validates T and eta

    def _per_axis_moments(
        self, diameter_nm: np.ndarray, sigma_um: np.ndarray | float | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Variance of one lag-1 step per axis and covariance of successive steps, µm²."""
        two_d_dt = 2.0 * diffusion_um2_s(diameter_nm, self.temperature_c, self.viscosity_pa_s)
        two_d_dt = two_d_dt * self.frame_interval_s
        sigma2 = np.square(self.sigma_um if sigma_um is None else sigma_um)
        r = blur_factor(self.exposure_s, self.frame_interval_s)
        variance = two_d_dt * (1.0 - 2.0 * r) + 2.0 * sigma2
        covariance = r * two_d_dt - sigma2
        return variance, covariance

    def expected_msd1_um2(
        self, diameter_nm: np.ndarray | float, sigma_um: np.ndarray | float | None = None
    ) -> np.ndarray:
        """theta: the expected squared lag-1 step (x and y summed) of particles of that size, µm².

        ``sigma_um`` (broadcast against ``diameter_nm``) replaces the model's localization error.
        """
        variance, _ = self._per_axis_moments(np.asarray(diameter_nm, dtype=float), sigma_um)
        return 2.0 * variance

    def step_correlation(
        self, diameter_nm: np.ndarray | float, sigma_um: np.ndarray | float | None = None
    ) -> np.ndarray:
        """Correlation coefficient of successive steps along one axis (0 without noise and blur)."""
        variance, covariance = self._per_axis_moments(
            np.asarray(diameter_nm, dtype=float), sigma_um
        )
        return covariance / variance


@dataclass(frozen=True)
class TrackSteps:
    """The per-track data the deconvolution needs.

    Parameters
    ----------
    n_steps : ndarray of int
        Number of lag-1 steps of each track (>= 1).
    msd1_um2 : ndarray of float
        Mean squared lag-1 step of each track, x and y summed, µm² (> 0).
    sigma_um : ndarray of float, optional
        Localization error of each track, µm (e.g. :func:`localization_error_by_brightness`);
        None uses the single value of the :class:`StepModel`.
    """

    n_steps: np.ndarray
    msd1_um2: np.ndarray
    sigma_um: np.ndarray | None = None

    def __post_init__(self) -> None:
        n_steps = np.asarray(self.n_steps)
        msd1 = np.asarray(self.msd1_um2, dtype=float)
        if n_steps.ndim != 1 or msd1.shape != n_steps.shape:
            raise PyntaInputError(
                "n_steps and msd1_um2 must be 1-D arrays of the same length, got shapes "
                f"{n_steps.shape} and {msd1.shape}"
            )
        if n_steps.size == 0:
            raise PyntaInputError("n_steps must hold at least one track, got none")
        if (
            not np.all(np.isfinite(n_steps.astype(float)))
            or np.any(n_steps < 1)
            or np.any(n_steps != np.round(n_steps))
        ):
            raise PyntaInputError("n_steps must be whole numbers >= 1")
        if not np.all(np.isfinite(msd1)) or np.any(msd1 <= 0):
            raise PyntaInputError("msd1_um2 must be finite and > 0 for every track")
        if self.sigma_um is not None:
            sigma = np.asarray(self.sigma_um, dtype=float)
            if sigma.shape != n_steps.shape or not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
                raise PyntaInputError(
                    "sigma_um must hold one finite value >= 0 per track (same length as n_steps)"
                )
            object.__setattr__(self, "sigma_um", sigma)
        object.__setattr__(self, "n_steps", n_steps.astype(float))
        object.__setattr__(self, "msd1_um2", msd1)

    def __len__(self) -> int:
        return int(self.n_steps.size)

    @classmethod
    def from_table(cls, per_track: pd.DataFrame, sigma_um: pd.Series | None = None) -> TrackSteps:
        """From the per-track table of ``sizing.track_diffusion`` (``n_steps``, ``msd1_um2``).

        Tracks without a usable mean squared step (NaN or 0, e.g. a particle stuck in place
        without localization noise) are left out.

        Parameters
        ----------
        per_track : DataFrame
            Columns ``particle``, ``n_steps``, ``msd1_um2``.
        sigma_um : Series, optional
            Localization error per particle id (:func:`localization_error_by_brightness`).
        """
        missing = {"particle", "n_steps", "msd1_um2"} - set(per_track.columns)
        if missing:
            raise PyntaInputError(f"per_track table lacks the columns {sorted(missing)}")
        usable = per_track[(per_track["msd1_um2"] > 0) & (per_track["n_steps"] >= 1)]
        sigma = None
        if sigma_um is not None:
            sigma = sigma_um.reindex(usable["particle"].to_numpy()).to_numpy(dtype=float)
        return cls(usable["n_steps"].to_numpy(), usable["msd1_um2"].to_numpy(dtype=float), sigma)


def localization_error_by_brightness(
    tracks: pd.DataFrame,
    pixel_size_um: float,
    frame_interval_s: float,
    exposure_s: float,
    n_classes: int = BRIGHTNESS_CLASSES,
    *,
    field_px: tuple[float, float] | None = None,
) -> pd.Series:
    """Localization error of every track, pooled over tracks of similar brightness.

    Bright particles are localized more precisely than dim ones, and in NTA brightness grows
    steeply with size, so one ensemble value over-corrects big particles and under-corrects small
    ones (a 100 + 200 nm mixture shows the 200 nm peak too large). Tracks are grouped by mean
    ``mass`` into up to ``n_classes`` classes (:func:`brightness_classes`) and each class gets the
    pooled covariance-estimator variance of its steps (clipped at 0).

    Parameters
    ----------
    tracks : DataFrame
        Linked localizations (``particle, frame, y, x`` in pixels and ``mass``; without ``mass``
        every track gets the ensemble value).
    pixel_size_um, frame_interval_s, exposure_s : float
        Pixel size (µm), frame interval (s) and exposure (s).
    n_classes : int
        Largest number of brightness classes.
    field_px : (float, float), optional
        Detectable area (height, width; pixels) for the edge weights of
        :func:`napari_pynta.sizing.track_sums`, as used for the sizes.

    Returns
    -------
    Series
        Localization error (µm, per axis) indexed by particle id.
    """
    if int(n_classes) < 1:
        raise PyntaInputError(f"n_classes must be >= 1, got {n_classes}")
    sums = track_sums(tracks, pixel_size_um, field_px=field_px)
    blur = blur_factor(exposure_s, frame_interval_s)
    if "mass" in tracks.columns:
        classes = brightness_classes(_log_mean_mass(tracks, sums.index), int(n_classes))
    else:
        classes = [np.arange(len(sums))]
    sigma = np.empty(len(sums))
    for members in classes:
        pooled = sums.iloc[members].sum().to_frame().T
        variance = float(localization_variance(pooled, blur)[0])
        sigma[members] = np.sqrt(variance) if variance > 0 else 0.0
    return pd.Series(sigma, index=sums.index, name="sigma_um")


def brightness_groups(log_mass: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Tracks grouped by brightness: equally wide steps of ln(mass), >= MIN_TRACKS_PER_CLASS each.

    The groups span the 1st to 99th percentiles of ``log_mass`` in equal steps, so a bright
    population (e.g. the large particles of a mixture, 10x brighter) gets groups of its own
    instead of sharing one with dim particles; groups with too few tracks are merged into their
    smaller neighbour.

    Returns
    -------
    list of ndarray
        Track indices of every group, dimmest first (one group of all tracks when there are
        fewer than ``2 * MIN_TRACKS_PER_CLASS`` tracks or ``n_groups <= 1``).
    """
    if len(log_mass) < 2 * MIN_TRACKS_PER_CLASS or n_groups <= 1:
        return [np.arange(len(log_mass))]
    low, high = np.nanpercentile(log_mass, [1, 99])  # NaN (no mass): the brightest group
    edges = np.linspace(low, high, n_groups + 1)[1:-1]
    labels = np.searchsorted(edges, log_mass)
    members = [np.flatnonzero(labels == label) for label in range(n_groups)]
    members = [group for group in members if len(group)]
    while len(members) > 1 and min(len(group) for group in members) < MIN_TRACKS_PER_CLASS:
        smallest = int(np.argmin([len(group) for group in members]))
        neighbours = [i for i in (smallest - 1, smallest + 1) if 0 <= i < len(members)]
        target = min(neighbours, key=lambda i: len(members[i]))
        members[target] = np.sort(np.concatenate([members[target], members[smallest]]))
        del members[smallest]
    return members


def brightness_classes(log_mass: np.ndarray, n_classes: int) -> list[np.ndarray]:
    """Tracks grouped into classes of similar brightness, each of >= MIN_TRACKS_PER_CLASS tracks.

    The :func:`brightness_groups` come first; each group is then split into equal-count classes
    of at least :data:`EQUAL_COUNT_CLASS_TRACKS` tracks (up to ``n_classes``), which follow the
    localization error's change with brightness among similar particles.

    Returns
    -------
    list of ndarray
        Track indices of every class, dimmest first.
    """
    classes: list[np.ndarray] = []
    for group in brightness_groups(log_mass, n_classes):
        ordered = group[np.argsort(log_mass[group], kind="stable")]
        n_split = max(1, min(n_classes, len(group) // EQUAL_COUNT_CLASS_TRACKS))
        classes.extend(np.sort(part) for part in np.array_split(ordered, n_split))
    return classes


def diameter_grid(
    min_nm: float = DEFAULT_GRID_RANGE_NM[0],
    max_nm: float = DEFAULT_GRID_RANGE_NM[1],
    points_per_decade: int = DEFAULT_POINTS_PER_DECADE,
) -> np.ndarray:
    """Log-spaced diameters (nm) on which distributions are represented.

    Parameters
    ----------
    min_nm, max_nm : float
        Range of the grid, nm (0 < min_nm < max_nm).
    points_per_decade : int
        Grid density; 100 gives a 2.3 % spacing.

    Returns
    -------
    ndarray
        Increasing diameters, nm.
    """
    require_positive("min_nm", min_nm)
    require_positive("max_nm", max_nm)
    if max_nm <= min_nm:
        raise PyntaInputError(f"max_nm must be > min_nm ({min_nm}), got {max_nm}")
    if int(points_per_decade) < 2:
        raise PyntaInputError(f"points_per_decade must be >= 2, got {points_per_decade}")
    n_points = int(np.ceil(np.log10(max_nm / min_nm) * int(points_per_decade))) + 1
    return np.geomspace(min_nm, max_nm, n_points)


def _check_grid(grid_nm: np.ndarray) -> np.ndarray:
    grid = np.asarray(grid_nm, dtype=float)
    if grid.ndim != 1 or grid.size < 3 or np.any(grid <= 0) or np.any(np.diff(grid) <= 0):
        raise PyntaInputError("grid_nm must be >= 3 increasing positive diameters (nm)")
    return grid


def log_likelihood_matrix(
    tracks: TrackSteps, grid_nm: np.ndarray, model: StepModel
) -> tuple[np.ndarray, np.ndarray]:
    """Likelihood of every track's mean squared step for every grid diameter.

    Parameters
    ----------
    tracks : TrackSteps
        Per-track step counts and mean squared steps.
    grid_nm : ndarray
        Candidate diameters, nm.
    model : StepModel
        Acquisition physics.

    Returns
    -------
    likelihood : ndarray, shape (n_tracks, n_grid)
        ``exp(log L - offset)``, scaled per track so that its largest entry is 1.
    offset : ndarray, shape (n_tracks,)
        Per-track maximum log-likelihood removed from ``likelihood`` (add it back for totals).
    """
    sigma = None if tracks.sigma_um is None else tracks.sigma_um[:, None]
    theta = model.expected_msd1_um2(grid_nm[None, :], sigma)
    rho = model.step_correlation(grid_nm[None, :], sigma)
    k = tracks.n_steps[:, None]
    shape = k / (1.0 + 2.0 * (k - 1.0) / k * rho**2)
    m = tracks.msd1_um2[:, None]
    log_l = (
        shape * np.log(shape / theta)
        + (shape - 1.0) * np.log(m)
        - shape * m / theta
        - special.gammaln(shape)
    )
    offset = log_l.max(axis=1)
    return np.exp(log_l - offset[:, None]), offset


#: ``(likelihood, offset)`` as :func:`log_likelihood_matrix` returns them
Likelihood = tuple[np.ndarray, np.ndarray]
#: a distribution's weights and its resamples' weights, whose basin sums are a peak's shares
Shares = tuple[np.ndarray, np.ndarray]


def _likelihood(
    tracks: TrackSteps, grid_nm: np.ndarray, model: StepModel, given: Likelihood | None
) -> Likelihood:
    """``given`` (computed once by a caller for several functions), else computed here."""
    if given is None:
        return log_likelihood_matrix(tracks, grid_nm, model)
    if given[0].shape != (len(tracks), grid_nm.size) or given[1].shape != (len(tracks),):
        raise PyntaInputError("likelihood must be log_likelihood_matrix(tracks, grid, model)")
    return given


@dataclass(frozen=True)
class SizeDistribution:
    """A track-weighted size distribution on a log-spaced diameter grid.

    Attributes
    ----------
    diameter_nm : ndarray
        Grid diameters, nm.
    weights : ndarray
        Fraction of tracks at each grid diameter (sums to 1).
    n_tracks : int
        Number of tracks the distribution was estimated from.
    log_likelihood : float
        Log-likelihood of the tracks under this distribution.
    n_iterations : int
        EM iterations run (0 for a parametric fit).
    converged : bool
        Whether the stopping rule was met before the iteration cap.
    method : str
        ``"walker EM"`` or ``"log-normal fit"``.
    parameters : dict
        Fitted parameters of a parametric fit, or the EMS smoothing width of EM.
    """

    diameter_nm: np.ndarray
    weights: np.ndarray
    n_tracks: int
    log_likelihood: float
    n_iterations: int = 0
    converged: bool = True
    method: str = "walker EM"
    parameters: dict = field(default_factory=dict)

    def statistics(self) -> dict:
        """Statistics users expect, as plain floats (see :func:`distribution_statistics`)."""
        return distribution_statistics(self.diameter_nm, self.weights)

    def density_per_nm(self) -> np.ndarray:
        """Fraction of tracks per nm at each grid diameter (for plotting on a linear size axis)."""
        return self.weights / np.diff(_cell_edges(self.diameter_nm))

    def fraction_between(self, low_nm: float, high_nm: float) -> float:
        """Fraction of tracks with diameters in [low_nm, high_nm] (cell-wise interpolation)."""
        cdf = cumulative_fraction(self.diameter_nm, self.weights, np.array([low_nm, high_nm]))
        return float(cdf[1] - cdf[0])


def _cell_edges(grid_nm: np.ndarray) -> np.ndarray:
    """Edges (nm) of the cells around grid points: geometric midpoints, extended at the ends."""
    log_grid = np.log(grid_nm)
    mid = 0.5 * (log_grid[1:] + log_grid[:-1])
    edges = np.concatenate(
        [[log_grid[0] - (mid[0] - log_grid[0])], mid, [log_grid[-1] + (log_grid[-1] - mid[-1])]]
    )
    return np.exp(edges)


def cumulative_fraction(grid_nm: np.ndarray, weights: np.ndarray, diameters_nm) -> np.ndarray:
    """Fraction of the distribution below each diameter.

    Each grid weight is spread uniformly in ln d over its cell, so the result is continuous.

    Parameters
    ----------
    grid_nm, weights : ndarray
        The distribution (weights sum to 1).
    diameters_nm : array_like
        Where to evaluate, nm.

    Returns
    -------
    ndarray
        Cumulative fractions in [0, 1].
    """
    edges = _cell_edges(grid_nm)
    cdf_at_edges = np.concatenate([[0.0], np.cumsum(weights)])
    return np.interp(np.log(np.asarray(diameters_nm, dtype=float)), np.log(edges), cdf_at_edges)


def quantile(grid_nm: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Diameter (nm) below which a fraction ``q`` of the distribution lies."""
    edges = _cell_edges(grid_nm)
    cdf_at_edges = np.concatenate([[0.0], np.cumsum(weights)])
    # strictly increasing support for interpolation: skip empty cells
    keep = np.concatenate([[True], np.diff(cdf_at_edges) > 0])
    return float(np.exp(np.interp(q, cdf_at_edges[keep], np.log(edges[keep]))))


def _smoothing_kernel(grid_nm: np.ndarray, width_ln: float) -> np.ndarray:
    """Gaussian kernel in ln d whose columns sum to 1, so ``kernel @ weights`` conserves weight."""
    log_grid = np.log(grid_nm)
    kernel = np.exp(-0.5 * ((log_grid[:, None] - log_grid[None, :]) / width_ln) ** 2)
    return kernel / kernel.sum(axis=0, keepdims=True)


def smoothed_density(grid_nm: np.ndarray, weights: np.ndarray, width_ln: float) -> np.ndarray:
    """Weights smoothed with a Gaussian kernel of standard deviation ``width_ln`` in ln d.

    Each grid point's weight is spread over its neighbours, so the total weight is conserved.
    """
    return _smoothing_kernel(grid_nm, width_ln) @ weights


def _peak_indices(
    grid_nm: np.ndarray,
    weights: np.ndarray,
    min_prominence: float = PEAK_MIN_PROMINENCE,
    smoothing_ln: float = PEAK_SMOOTHING_LN,
) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices of the peaks of the smoothed weights (at least the maximum), and the curve."""
    from scipy.signal import find_peaks as scipy_find_peaks

    smooth = smoothed_density(grid_nm, weights, smoothing_ln)
    padded = np.concatenate([[0.0], smooth, [0.0]])
    indices, _ = scipy_find_peaks(padded, prominence=min_prominence * smooth.max())
    indices = indices - 1
    if indices.size == 0:
        indices = np.array([int(np.argmax(smooth))])
    return indices, smooth


def _basin_bounds(
    indices: np.ndarray, smooth: np.ndarray, size: int, keep_off: float = 0.0
) -> list[int]:
    """Basin edges: split at the minimum of the smoothed curve between consecutive peaks.

    ``keep_off`` (a share of the grid points between the two peaks, < 0.5) keeps the split that
    far from either peak: a curve without a dip between them has its minimum at one of them.
    """
    splits = []
    for left, right in zip(indices, indices[1:], strict=False):
        margin = max(1, round(keep_off * (right - left))) if keep_off and right - left >= 2 else 0
        low, high = left + margin, right - margin
        splits.append(low + int(np.argmin(smooth[low : high + 1])))
    return [0, *splits, size]


def _refined_position(grid_nm: np.ndarray, smooth: np.ndarray, index: int) -> float:
    """Peak diameter (nm): parabolic refinement of the smoothed maximum in ln d."""
    log_grid = np.log(grid_nm)
    position = log_grid[index]
    if 0 < index < grid_nm.size - 1:
        y0, y1, y2 = smooth[index - 1 : index + 2]
        curvature = y0 - 2 * y1 + y2
        if curvature < 0:
            step = log_grid[index + 1] - log_grid[index]
            position += 0.5 * step * (y0 - y2) / curvature
    return float(np.exp(position))


def find_peaks(
    grid_nm: np.ndarray,
    weights: np.ndarray,
    min_prominence: float = PEAK_MIN_PROMINENCE,
    smoothing_ln: float = PEAK_SMOOTHING_LN,
) -> list[dict]:
    """Peaks of a distribution, largest first (candidates: see :func:`significant_peaks`).

    The weights are smoothed (EM solutions can be spiky), local maxima that rise by at least
    ``min_prominence`` times the highest peak above the valleys around them are kept, and each
    peak gets the tracks of its basin (split at the lowest point between neighbouring peaks).

    Parameters
    ----------
    grid_nm, weights : ndarray
        The distribution.
    min_prominence : float
        Relative prominence a maximum needs to count as a peak.
    smoothing_ln : float
        Smoothing width in ln d.

    Returns
    -------
    list of dict
        ``{"diameter_nm": position of the smoothed maximum, "fraction": basin weight}``.
    """
    indices, smooth = _peak_indices(grid_nm, weights, min_prominence, smoothing_ln)
    bounds = _basin_bounds(indices, smooth, grid_nm.size)
    peaks = [
        {
            "diameter_nm": _refined_position(grid_nm, smooth, index),
            "fraction": float(weights[start:stop].sum()),
        }
        for index, start, stop in zip(indices, bounds[:-1], bounds[1:], strict=True)
    ]
    peaks.sort(key=lambda peak: peak["fraction"], reverse=True)
    return peaks


def distribution_statistics(grid_nm: np.ndarray, weights: np.ndarray) -> dict:
    """Mean, mode, SD, D10/D50/D90, span and peaks of a gridded distribution.

    Parameters
    ----------
    grid_nm, weights : ndarray
        The distribution (weights sum to 1).

    Returns
    -------
    dict
        ``mean, mode, sd, d10, d50, d90, span`` (nm; span = (d90-d10)/d50, dimensionless).
        The mode is the position of the largest peak on a logarithmic size axis (as in
        ``sizing.size_statistics``); for a log-normal it is the median.
        ``peaks`` (list of peak diameters, nm, largest population first) and
        ``peak_fractions`` (fraction of tracks in each peak).
    """
    grid = _check_grid(grid_nm)
    w = np.asarray(weights, dtype=float)
    mean = float(np.sum(w * grid))
    sd = float(np.sqrt(max(np.sum(w * (grid - mean) ** 2), 0.0)))
    d10, d50, d90 = (quantile(grid, w, q) for q in (0.1, 0.5, 0.9))
    peaks = find_peaks(grid, w)
    return {
        "mean": mean,
        "mode": peaks[0]["diameter_nm"],
        "sd": sd,
        "d10": d10,
        "d50": d50,
        "d90": d90,
        "span": (d90 - d10) / d50,
        "peaks": [peak["diameter_nm"] for peak in peaks],
        "peak_fractions": [peak["fraction"] for peak in peaks],
    }


def walker_em(
    tracks: TrackSteps,
    model: StepModel,
    grid_nm: np.ndarray | None = None,
    *,
    smoothing_ln: float = EM_SMOOTHING_LN,
    rel_tol: float = 1e-5,
    max_iter: int = 5000,
    start: SizeDistribution | None = None,
    likelihood: Likelihood | None = None,
) -> SizeDistribution:
    """Deconvolve the track-length broadening by EM (Walker 2012) on a diameter grid.

    Each iteration re-weights the grid by the average posterior of every track::

        w_j <- w_j * mean_i( L_ij / sum_l L_il w_l )

    using the precomputed likelihood matrix, so one iteration costs two matrix-vector products,
    then smooths the weights with a Gaussian of width ``smoothing_ln`` in ln d (EMS; 0 = off).
    Diameters that no track supports (likelihood below :data:`NEGLIGIBLE_LIKELIHOOD` of each
    track's best everywhere) are left out and get weight 0. Iteration stops when the total
    change of the weights, sum_j |w_new - w|, drops below ``rel_tol`` (the weights sum to 1) or
    after ``max_iter`` iterations.

    Parameters
    ----------
    tracks : TrackSteps
        Per-track step counts and mean squared lag-1 steps.
    model : StepModel
        Acquisition physics (frame interval, exposure, localization error, T, viscosity).
    grid_nm : ndarray, optional
        Diameter grid, nm; default :func:`diameter_grid`.
    smoothing_ln : float
        EMS smoothing width (standard deviation in ln d, >= 0); 0 gives plain EM.
    rel_tol : float
        Stopping threshold on the summed absolute change of the weights per iteration.
    max_iter : int
        Iteration cap.
    start : SizeDistribution, optional
        Where the iterations start (warm start), e.g. the solution for most of these tracks
        (the live size summary starts from its previous one): it must be on the same grid. It
        is mixed with :data:`WARM_START_UNIFORM` of the uniform start, so that no diameter
        starts at 0 (EM could not give it weight again). The iterations stop on the same rule,
        so the result is the default one to within ``rel_tol``, in fewer iterations. None (the
        default) starts from the uniform distribution.
    likelihood : (ndarray, ndarray), optional
        :func:`log_likelihood_matrix` of these tracks, grid and model, when the caller already
        has it (computed here otherwise).

    Returns
    -------
    SizeDistribution
        The deconvolved distribution (``method="walker EM"``).
    """
    grid = _check_grid(diameter_grid() if grid_nm is None else grid_nm)
    require_positive("rel_tol", rel_tol)
    require_positive("smoothing_ln", smoothing_ln, allow_zero=True)
    if int(max_iter) < 1:
        raise PyntaInputError(f"max_iter must be >= 1, got {max_iter}")
    full_likelihood, offset = _likelihood(tracks, grid, model, likelihood)
    # diameters that no track supports keep (almost) no weight: leave them out of the iterations
    support = full_likelihood.max(axis=0) > NEGLIGIBLE_LIKELIHOOD
    supported = np.ascontiguousarray(full_likelihood[:, support])
    n_tracks = len(tracks)
    kernel = _smoothing_kernel(grid[support], smoothing_ln) if smoothing_ln > 0 else None
    initial = _initial_weights(grid, support, start)
    weights, iteration, converged = _em_iterations(supported, initial, kernel, rel_tol, max_iter)
    log_likelihood = float(np.sum(np.log(supported @ weights) + offset))
    all_weights = np.zeros(grid.size)
    all_weights[support] = weights
    return SizeDistribution(
        diameter_nm=grid,
        weights=all_weights,
        n_tracks=n_tracks,
        log_likelihood=log_likelihood,
        n_iterations=iteration,
        converged=converged,
        method="walker EM",
        parameters={"smoothing_ln": float(smoothing_ln)},
    )


def _initial_weights(
    grid: np.ndarray, support: np.ndarray, start: SizeDistribution | None
) -> np.ndarray:
    """First EM weights on the supported diameters: uniform, or ``start`` mixed with a little of
    the uniform distribution (:data:`WARM_START_UNIFORM`)."""
    uniform = np.full(int(support.sum()), 1.0 / support.sum())
    if start is None:
        return uniform
    if start.diameter_nm.shape != grid.shape or not np.allclose(start.diameter_nm, grid):
        raise PyntaInputError("start must be a distribution on the same diameter grid")
    warm = start.weights[support]
    if not (np.all(np.isfinite(warm)) and warm.sum() > 0):
        return uniform
    return (1.0 - WARM_START_UNIFORM) * warm / warm.sum() + WARM_START_UNIFORM * uniform


def _em_iterations(
    likelihood: np.ndarray,
    weights: np.ndarray,
    kernel: np.ndarray | None,
    rel_tol: float,
    max_iter: int,
    track_counts: np.ndarray | None = None,
) -> tuple[np.ndarray, int, bool]:
    """EM(S) iterations from ``weights`` (see :func:`walker_em`): weights, iterations, converged.

    ``track_counts`` (one per row) counts each track that many times (a bootstrap resample
    given by counts instead of repeated rows); None counts every track once.
    """
    n_tracks = likelihood.shape[0] if track_counts is None else float(track_counts.sum())
    iteration = 0
    for iteration in range(1, int(max_iter) + 1):  # noqa: B007 (the count is reported)
        checkpoint()  # a cancelled analysis stops here (dozens of EM runs size one movie)
        per_track = likelihood @ weights
        share = 1.0 / per_track if track_counts is None else track_counts / per_track
        new_weights = weights * (likelihood.T @ share) / n_tracks
        if kernel is not None:
            new_weights = kernel @ new_weights
        new_weights /= new_weights.sum()
        change = float(np.abs(new_weights - weights).sum())
        weights = new_weights
        if change < rel_tol:
            return weights, iteration, True
    return weights, iteration, False


def bootstrap_distributions(
    tracks: TrackSteps,
    model: StepModel,
    distribution: SizeDistribution,
    n_bootstrap: int = PEAK_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
    *,
    track_ids: np.ndarray | None = None,
    starts: np.ndarray | None = None,
    likelihood: Likelihood | None = None,
    first_resample: int = 0,
) -> np.ndarray:
    """Walker EM distributions of ``n_bootstrap`` resamples of the tracks (with replacement).

    Each resample starts from ``distribution`` (the EM solution of all tracks, same grid and
    smoothing), so few iterations are needed; the likelihood matrix is computed once.

    Parameters
    ----------
    tracks, model : TrackSteps, StepModel
        The tracks and the physics of :func:`walker_em`.
    distribution : SizeDistribution
        The EM solution of all tracks.
    n_bootstrap : int
        Number of resamples.
    seed : int
        Seed of the resampling.
    track_ids : ndarray, optional
        One id per track (the particle ids): resample ``b`` then counts each track
        :func:`stable_bootstrap_counts` times, a number fixed by ``(seed, id, b)``, instead of
        drawing tracks with replacement. Adding tracks leaves the counts of the others alone,
        so a resample of more tracks is the previous one plus the new tracks (the live summary
        warm-starts each resample from the previous one). Statistically the same bootstrap.
    starts : ndarray, shape (n_bootstrap, n_grid), optional
        Where each resample's EM starts (e.g. the resamples of the previous live summary, same
        grid); mixed with :data:`WARM_START_UNIFORM` of the uniform start like
        :func:`walker_em`'s ``start``. Default: ``distribution``.
    likelihood : (ndarray, ndarray), optional
        As for :func:`walker_em`.
    first_resample : int
        With ``track_ids``: the number of the first resample (:func:`stable_bootstrap_counts`
        ``first``), to draw more resamples of the same bootstrap later.

    Returns
    -------
    ndarray, shape (n_bootstrap, n_grid)
        Weights of every resample's distribution on ``distribution.diameter_nm``.
    """
    grid = distribution.diameter_nm
    full_likelihood, _ = _likelihood(tracks, grid, model, likelihood)
    support = full_likelihood.max(axis=0) > NEGLIGIBLE_LIKELIHOOD
    supported = np.ascontiguousarray(full_likelihood[:, support])
    smoothing = distribution.parameters.get("smoothing_ln", EM_SMOOTHING_LN)
    kernel = _smoothing_kernel(grid[support], smoothing) if smoothing > 0 else None
    start = distribution.weights[support] + 1e-12
    start /= start.sum()
    if starts is not None and np.shape(starts) != (int(n_bootstrap), grid.size):
        raise PyntaInputError("starts must hold one distribution on the grid per resample")
    counts = (
        None
        if track_ids is None
        else stable_bootstrap_counts(track_ids, n_bootstrap, seed, first_resample)
    )
    rng = np.random.default_rng(seed if not first_resample else (seed, int(first_resample)))
    resampled = np.zeros((int(n_bootstrap), grid.size))
    for index in range(int(n_bootstrap)):
        first = start
        if starts is not None:
            previous = SizeDistribution(grid, starts[index], len(tracks), math.nan)
            first = _initial_weights(grid, support, previous)
        if counts is None:
            rows = rng.integers(0, len(tracks), len(tracks))
            weights, _, _ = _em_iterations(
                supported[rows], first, kernel, BOOTSTRAP_REL_TOL, BOOTSTRAP_MAX_ITER
            )
        else:  # tracks counted 0 times play no part: leave their rows out
            rows = np.flatnonzero(counts[index])
            if rows.size == 0:  # a small group of tracks none of which was drawn
                resampled[index, support] = first
                continue
            weights, _, _ = _em_iterations(
                supported[rows],
                first,
                kernel,
                BOOTSTRAP_REL_TOL,
                BOOTSTRAP_MAX_ITER,
                counts[index, rows],
            )
        resampled[index, support] = weights
    return resampled


@dataclass(frozen=True)
class ConditionedSizes:
    """Distributions of :func:`brightness_conditioned`, with their bootstrap resamples.

    Attributes
    ----------
    weights, resampled : ndarray
        The distribution of the tracks (shape (n_grid,)) and of every resample's tracks
        (shape (n_bootstrap, n_grid)).
    number_weights, number_resampled : ndarray
        The same for the particles in view (:class:`DetectionCounts`): every track's posterior
        over the grid weighted by its localizations, each brightness group's total raised to
        the frames its particles were in view (a fast particle that crosses the focal layer
        often makes many short tracks, but is one particle at a time).
    """

    weights: np.ndarray
    resampled: np.ndarray
    number_weights: np.ndarray
    number_resampled: np.ndarray


@dataclass(frozen=True)
class DetectionCounts:
    """The counts from which :func:`brightness_conditioned` estimates the particles in view.

    A particle is in view in more frames than it is detected in: dim, smeared particles are
    missed in some frames, which cuts their tracks, and pieces shorter than
    ``min_track_length`` are not sized. The frames in view of a brightness group are its
    localizations (those of unsized tracks included) divided by the group's detection
    completeness, the share of the frames its sized tracks span in which they were detected
    (the others are the missed frames the linker bridged).

    Attributes
    ----------
    localizations, spans : ndarray
        Per sized track: its localizations and the frames it spans (first to last).
    unsized_ids, unsized_localizations : ndarray
        Per track that was not sized (too short, or no usable step): its particle id (for the
        resamples) and its localizations.
    unsized_group : ndarray
        The brightness group (index into ``groups``) of every unsized track.
    """

    localizations: np.ndarray
    spans: np.ndarray
    unsized_ids: np.ndarray
    unsized_localizations: np.ndarray
    unsized_group: np.ndarray


def brightness_conditioned(
    tracks: TrackSteps,
    model: StepModel,
    distribution: SizeDistribution,
    groups: list[np.ndarray],
    track_ids: np.ndarray,
    detections: DetectionCounts,
    n_bootstrap: int = PEAK_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
    *,
    likelihood: Likelihood | None = None,
) -> ConditionedSizes:
    """The size distribution as a mix of each brightness group's own EM solution.

    In one EM over all tracks, a dim, fast particle whose few steps happen to be short is given
    to the size that most tracks have: in a mixture the bright population's peak draws the dim
    population's tracks to it, and the dim fraction comes out too small (0.43 instead of 0.60
    in an 80 + 200 nm simulation). Brightness is measured independently of the steps and grows
    steeply with size, so solving the EM within each brightness group (:func:`brightness_groups`)
    and mixing the solutions in proportion to the groups' track counts uses it: a track is
    weighed against the sizes of the particles as bright as it is. Resamples redraw the tracks
    by :func:`stable_bootstrap_counts` (the unsized tracks too), so the groups' shares and
    completeness vary between resamples too.

    The particles in view of a group are its localizations (of sized and unsized tracks)
    divided by its detection completeness (:class:`DetectionCounts`), spread over the grid like
    the posteriors of its sized tracks weighted by their localizations. Without unsized tracks,
    a group's particles in view are the frames its sized tracks span. A resample that draws
    none of a group's sized tracks has nothing to spread its unsized ones over: that group
    adds no particles to it.

    Parameters
    ----------
    tracks, model : TrackSteps, StepModel
        The tracks and the physics of :func:`walker_em`.
    distribution : SizeDistribution
        The EM solution of all tracks (each group's EM starts from it).
    groups : list of ndarray
        Track indices of every brightness group.
    track_ids : ndarray
        One id per track (particle ids), for :func:`stable_bootstrap_counts`.
    detections : DetectionCounts
        Localizations and spans per track, the weights of the particles in view.
    n_bootstrap : int
        Number of resamples (>= 2).
    seed : int
        Seed of the resampling.
    likelihood : (ndarray, ndarray), optional
        :func:`log_likelihood_matrix` of all tracks (computed here otherwise).

    Returns
    -------
    ConditionedSizes
    """
    grid = distribution.diameter_nm
    full_likelihood, offset = _likelihood(tracks, grid, model, likelihood)
    counts = stable_bootstrap_counts(track_ids, n_bootstrap, seed)
    unsized_counts = stable_bootstrap_counts(detections.unsized_ids, n_bootstrap, seed)

    def group_sums(weights: np.ndarray, drawn: np.ndarray, drawn_unsized: np.ndarray, group: int):
        """A group's tracks and particles in view spread over the grid (drawn: times counted)."""
        rows = groups[group]
        posterior = full_likelihood[rows] * weights
        posterior /= np.maximum(posterior.sum(axis=1, keepdims=True), 1e-300)
        found = drawn * detections.localizations[rows]
        n_found = found.sum()
        if not n_found:  # none of its sized tracks drawn: nothing to spread its particles on
            return drawn.sum() * weights, np.zeros(grid.size)
        unsized = detections.unsized_group == group
        all_found = n_found + drawn_unsized[unsized] @ detections.unsized_localizations[unsized]
        completeness = n_found / (drawn @ detections.spans[rows])
        in_view = all_found / n_found / completeness
        return drawn.sum() * weights, in_view * (found @ posterior)

    track_sum, frame_sum = np.zeros(grid.size), np.zeros(grid.size)
    track_resampled = np.zeros((int(n_bootstrap), grid.size))
    frame_resampled = np.zeros((int(n_bootstrap), grid.size))
    for group, rows in enumerate(groups):
        steps = TrackSteps(
            tracks.n_steps[rows],
            tracks.msd1_um2[rows],
            None if tracks.sigma_um is None else tracks.sigma_um[rows],
        )
        group_likelihood = (full_likelihood[rows], offset[rows])
        solution = walker_em(steps, model, grid, start=distribution, likelihood=group_likelihood)
        tracks_part, frames_part = group_sums(
            solution.weights, np.ones(len(rows)), np.ones(len(detections.unsized_ids)), group
        )
        track_sum += tracks_part
        frame_sum += frames_part
        group_resampled = bootstrap_distributions(
            steps,
            model,
            solution,
            n_bootstrap,
            seed,
            track_ids=track_ids[rows],
            likelihood=group_likelihood,
        )
        for index, weights in enumerate(group_resampled):
            tracks_part, frames_part = group_sums(
                weights, counts[index, rows], unsized_counts[index], group
            )
            track_resampled[index] += tracks_part
            frame_resampled[index] += frames_part
    frame_totals = np.maximum(frame_resampled.sum(axis=1), 1e-300)[:, None]
    return ConditionedSizes(
        weights=track_sum / len(tracks),
        resampled=track_resampled / np.maximum(counts.sum(axis=1), 1.0)[:, None],
        number_weights=frame_sum / max(frame_sum.sum(), 1e-300),
        number_resampled=frame_resampled / frame_totals,
    )


#: cumulative distribution of a Poisson(1) count, 0..19 (the rest: 1e-18)
_POISSON1_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(20)])


def stable_bootstrap_counts(
    track_ids: np.ndarray, n_bootstrap: int, seed: int = BOOTSTRAP_SEED, first: int = 0
) -> np.ndarray:
    """How often each track counts in each bootstrap resample: Poisson(1), fixed by its id.

    The Poisson bootstrap (each track counted a Poisson(1) number of times, independently) is
    the multinomial bootstrap for many tracks. Here the count of track ``i`` in resample ``b``
    is a hash (splitmix64) of ``(seed, track_ids[i], b)``, not a draw from a running generator:
    the same tracks give the same resamples in any order, and new tracks leave the counts of the
    others unchanged. ``first`` numbers the first resample: resamples ``first`` to
    ``first + n_bootstrap - 1`` (more resamples of the same bootstrap, e.g. for the peak test).

    Returns
    -------
    ndarray, shape (n_bootstrap, n_tracks)
        Counts (float).
    """
    ids = np.asarray(track_ids).astype(np.int64).astype(np.uint64)
    resample = np.arange(int(first), int(first) + int(n_bootstrap), dtype=np.uint64)[:, None]
    with np.errstate(over="ignore"):
        x = (
            ids[None, :] * np.uint64(0x9E3779B97F4A7C15)
            + resample * np.uint64(0xD1B54A32D192ED03)
            + np.uint64(seed)
        )
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    uniform = (x >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.searchsorted(_POISSON1_CDF, uniform, side="right").astype(np.float64)


#: the quantiles whose standard errors :func:`quantile_standard_errors` gives
SE_QUANTILES = {"d10": 0.1, "d50": 0.5, "d90": 0.9}


def quantile_standard_errors(
    tracks: pd.DataFrame,
    steps: TrackSteps,
    model: StepModel,
    distribution: SizeDistribution,
    resampled: np.ndarray,
    track_ids: np.ndarray,
    *,
    pixel_size_um: float,
    frame_interval_s: float,
    exposure_s: float,
    field_px: tuple[float, float] | None = None,
    seed: int = BOOTSTRAP_SEED,
    response: LocalizationErrorResponse | None = None,
) -> dict[str, float]:
    """Standard errors (nm) of D10, D50 and D90 over the tracks, localization error included.

    The bootstrap resamples (:func:`bootstrap_distributions` with ``track_ids``) keep every
    track's localization error fixed, but that error is itself estimated from the tracks
    (:func:`localization_error_by_brightness`, pooled per brightness class), and its noise moves
    every size of its class together: on simulated samples the resamples alone gave 0.55-0.6 of
    the real scatter of D50. Here each resample ``b`` also re-pools each class's variance with
    the resample's counts of its tracks, and its quantile ``Q_b`` is moved by the linear
    response to that change::

        Q_b + dQ/dσ² · Σ_c share_c · (σ²_c,b - σ²_c)

    ``dQ/dσ²`` comes from one extra EM with every variance raised by the resamples' spread of
    the pooled variance (warm-started), ``share_c`` is the fraction of the tracks in class c.
    The standard error is the SD of the moved quantiles.

    Parameters
    ----------
    tracks : DataFrame
        The sized tracks (as given to :func:`localization_error_by_brightness`).
    steps : TrackSteps
        The deconvolved tracks (with their ``sigma_um``), in the order of ``track_ids``.
    model, distribution, resampled
        The EM physics, its solution and the resamples' solutions.
    track_ids : ndarray
        Particle id of each row of ``steps``.
    pixel_size_um, frame_interval_s, exposure_s : float
        Acquisition metadata.
    field_px : (float, float), optional
        Detectable area for the edge weights, as given to the localization error.
    seed : int
        Seed of the resamples' counts (:func:`stable_bootstrap_counts`).
    response : LocalizationErrorResponse, optional
        :func:`localization_error_response` of these tracks, if already computed.

    Returns
    -------
    dict
        ``d10_se``, ``d50_se``, ``d90_se`` (nm; NaN with fewer than 2 resamples).
    """
    grid = distribution.diameter_nm
    if len(resampled) < 2 or steps.sigma_um is None:
        return {f"{name}_se": math.nan for name in SE_QUANTILES}
    if response is None:
        response = localization_error_response(
            tracks,
            steps,
            model,
            distribution,
            len(resampled),
            track_ids,
            pixel_size_um=pixel_size_um,
            frame_interval_s=frame_interval_s,
            exposure_s=exposure_s,
            field_px=field_px,
            seed=seed,
        )
    quantiles = np.array(
        [[quantile(grid, weights, q) for q in SE_QUANTILES.values()] for weights in resampled]
    )
    if response.moved is not None:
        slope = np.array(
            [
                (quantile(grid, response.moved, q) - quantile(grid, distribution.weights, q))
                / response.delta
                for q in SE_QUANTILES.values()
            ]
        )
        quantiles = quantiles + response.change[:, None] * slope[None, :]
    errors = np.std(quantiles, axis=0, ddof=1)
    return {f"{name}_se": float(error) for name, error in zip(SE_QUANTILES, errors, strict=True)}


@dataclass(frozen=True)
class LocalizationErrorResponse:
    """How the noise of the pooled localization errors moves the deconvolved distribution.

    Attributes
    ----------
    change : ndarray, shape (n_bootstrap,)
        Per resample, the change of the classes' pooled variances (µm², weighted by their
        shares of the tracks) when they are pooled again with the resample's counts.
    delta : float
        The standard deviation of ``change``.
    moved : ndarray or None
        The EM weights with every track's variance raised by ``delta`` (None when ``delta``
        is 0): a statistic's slope with respect to the variance is its change to ``moved``
        over ``delta``.
    """

    change: np.ndarray
    delta: float
    moved: np.ndarray | None


def localization_error_response(
    tracks: pd.DataFrame,
    steps: TrackSteps,
    model: StepModel,
    distribution: SizeDistribution,
    n_bootstrap: int,
    track_ids: np.ndarray,
    *,
    pixel_size_um: float,
    frame_interval_s: float,
    exposure_s: float,
    field_px: tuple[float, float] | None = None,
    seed: int = BOOTSTRAP_SEED,
) -> LocalizationErrorResponse:
    """The resamples' change of the pooled localization variances and the distribution they
    move to (:func:`quantile_standard_errors`, the peaks' positions).

    Parameters are those of :func:`quantile_standard_errors` (``steps`` must carry
    ``sigma_um``); ``n_bootstrap`` resamples by :func:`stable_bootstrap_counts`.
    """
    sums = track_sums(tracks, pixel_size_um, field_px=field_px)
    blur = blur_factor(exposure_s, frame_interval_s)
    sigma_um = np.asarray(steps.sigma_um)
    sigma2 = pd.Series(sigma_um**2, index=track_ids)
    # a class is the tracks that share one pooled variance
    class_of = sigma2.reindex(sums.index).to_numpy()
    known = np.isfinite(class_of)
    labels, members = np.unique(class_of[known], return_inverse=True)
    counts = stable_bootstrap_counts(sums.index.to_numpy()[known], n_bootstrap, seed)
    values = sums.to_numpy()[known]
    change = np.zeros(n_bootstrap)
    for label in range(len(labels)):
        in_class = members == label
        pooled = counts[:, in_class] @ values[in_class]
        variance = np.maximum(
            localization_variance(pd.DataFrame(pooled, columns=sums.columns), blur), 0.0
        )
        share = float(np.mean(sigma_um**2 == labels[label]))
        change += share * (variance - labels[label])
    delta = float(np.std(change, ddof=1)) if n_bootstrap > 1 else 0.0
    moved = None
    if delta > 0:
        raised = TrackSteps(steps.n_steps, steps.msd1_um2, np.sqrt(sigma_um**2 + delta))
        moved = walker_em(raised, model, distribution.diameter_nm, start=distribution).weights
    return LocalizationErrorResponse(change, delta, moved)


def significant_peaks(
    grid_nm: np.ndarray,
    weights: np.ndarray,
    resampled: np.ndarray,
    min_significance: float = PEAK_SIGNIFICANCE,
    *,
    fractions_of: tuple[np.ndarray, np.ndarray] | None = None,
    number_fractions_of: tuple[np.ndarray, np.ndarray] | None = None,
    response: LocalizationErrorResponse | None = None,
    more_resamples: MoreResamples | None = None,
) -> list[dict]:
    """Peaks of a distribution that its bootstrap resamples confirm, with fraction uncertainties.

    A candidate peak (:func:`find_peaks`) is significant when at least ``min_significance`` of the
    resamples have a peak in its basin: a peak that is noise (one latex showing two) comes and
    goes between resamples, and so does a dip that is not there. The least significant candidate
    is merged with a neighbour that fails too, else with its neighbour across the higher saddle
    (the higher of the two stays), and the merged basin tested again, until every peak is
    significant or one is left: two bumps of one population that take turns between resamples
    are one peak, not a lost one. The significant
    peaks split the distribution at the lowest point between neighbours; each gets the fraction
    of tracks in its basin and the standard deviation of that fraction over the resamples, and
    the uncertainty of its position: the standard deviation and the central
    :data:`PEAK_INTERVAL` % of the positions of the highest peak in its basin of every resample
    that has one there (moved like the quantiles of :func:`quantile_standard_errors` when a
    ``response`` is given).

    Parameters
    ----------
    grid_nm, weights : ndarray
        The distribution of all tracks.
    resampled : ndarray, shape (n_bootstrap, n_grid)
        Distributions of bootstrap resamples (:func:`bootstrap_distributions`).
    min_significance : float
        Share of resamples that must show the peak.
    fractions_of : (ndarray, ndarray), optional
        Weights and resamples (same shapes as ``weights`` and ``resampled``) of the distribution
        whose sum over each basin gives the fractions, e.g. the
        :func:`brightness_conditioned` one; default: ``weights`` and ``resampled``. The peaks
        are those of ``weights``; the basins are split at this distribution's lowest point
        between them, at least :data:`FRACTION_SPLIT_KEEP_OFF` of the way from either peak.
    number_fractions_of : (ndarray, ndarray), optional
        Weights and resamples of a second distribution (e.g. of the particles in view) summed
        over the same basins: ``number_fraction`` and ``number_fraction_se`` of every peak.
    response : LocalizationErrorResponse, optional
        :func:`localization_error_response` of the tracks: each resample's peak position is
        also moved by the noise of the pooled localization errors.
    more_resamples : callable, optional
        ``more_resamples(first, n)`` gives the distributions of ``n`` more resamples of the same
        bootstrap, numbered from ``first``: the test is then sequential (a share within
        :data:`PEAK_TEST_Z` Monte-Carlo standard errors of ``min_significance`` draws as many
        resamples again, up to :data:`PEAK_TEST_MAX_RESAMPLES`), so the decision does not
        depend on which few resamples were drawn. Positions and fractions come from
        ``resampled`` alone.

    Returns
    -------
    list of dict
        ``diameter_nm``, ``diameter_se_nm``, ``diameter_interval_nm`` ([low, high]),
        ``fraction``, ``fraction_se``, ``significance``, ``test_resamples`` (how many resamples
        the significance is the share of), ``basin`` (its grid indices ``[start, stop)``, split
        at the lowest point of the smoothed ``weights`` between peaks) (and with
        ``number_fractions_of``
        ``number_fraction``, ``number_fraction_se``); largest fraction first.
    """
    tested = _tested_peaks(grid_nm, weights, resampled, min_significance, more_resamples)
    return _peak_table(
        grid_nm, weights, resampled, tested, fractions_of, number_fractions_of, response
    )


#: draws ``n`` more resamples numbered from ``first`` (:func:`bootstrap_distributions`
#: ``first_resample``): their distributions, shape (n, n_grid)
MoreResamples = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class _TestedPeaks:
    """The peaks :func:`significant_peaks` keeps: grid indices, their significance (share of
    the ``n_tested`` resamples that showed each), the smoothed curve they are maxima of, and
    the peaks (grid indices) and curve of each of the given resamples (not of the extra ones
    the sequential test drew)."""

    indices: np.ndarray
    significance: np.ndarray
    smooth: np.ndarray
    resample_peaks: list[tuple[np.ndarray, np.ndarray]]
    n_tested: int


def _tested_peaks(
    grid_nm: np.ndarray,
    weights: np.ndarray,
    resampled: np.ndarray,
    min_significance: float = PEAK_SIGNIFICANCE,
    more_resamples: MoreResamples | None = None,
) -> _TestedPeaks:
    """The candidate peaks of ``weights`` tested against the resamples (merged where they fail).

    Sequential: while a share compared with ``min_significance`` lies within
    :data:`PEAK_TEST_Z` Monte-Carlo standard errors of it, ``more_resamples`` (if given) draws
    as many resamples again, up to :data:`PEAK_TEST_MAX_RESAMPLES` in all; the decision is then
    that of the share's estimate from all of them.
    """
    candidates, smooth = _peak_indices(grid_nm, weights)
    resample_peaks = [_peak_indices(grid_nm, resample) for resample in resampled]
    found = [indices for indices, _ in resample_peaks]
    while True:
        kept, significance, closest = _merge_insignificant(
            candidates, smooth, found, min_significance
        )
        n = len(found)
        margin = PEAK_TEST_Z * math.sqrt(min_significance * (1.0 - min_significance) / max(n, 1))
        if more_resamples is None or closest >= margin or n >= PEAK_TEST_MAX_RESAMPLES:
            return _TestedPeaks(kept, significance, smooth, resample_peaks, n)
        extra = more_resamples(n, min(n, PEAK_TEST_MAX_RESAMPLES - n))
        found += [_peak_indices(grid_nm, resample)[0] for resample in extra]


def _position_in_basin(
    grid_nm: np.ndarray, indices: np.ndarray, smooth: np.ndarray, start: int, stop: int
) -> float:
    """Position (nm) of the highest of the peaks ``indices`` of the curve ``smooth`` in the
    basin ``[start, stop)`` of the grid; NaN without one there."""
    inside = indices[(indices >= start) & (indices < stop)]
    if not inside.size:
        return math.nan
    return _refined_position(grid_nm, smooth, int(inside[np.argmax(smooth[inside])]))


def _resampled_positions(
    grid_nm: np.ndarray,
    tested: _TestedPeaks,
    start: int,
    stop: int,
    position: float,
    response: LocalizationErrorResponse | None,
) -> np.ndarray:
    """A peak's position (nm) in every resample (NaN: none in its basin ``[start, stop)``),
    moved by the response to the resample's localization errors where known (like the
    quantiles of :func:`quantile_standard_errors`); ``position`` is the peak's own."""
    positions = np.array(
        [
            _position_in_basin(grid_nm, indices, smooth, start, stop)
            for indices, smooth in tested.resample_peaks
        ]
    )
    if response is not None and response.moved is not None:
        indices, smooth = _peak_indices(grid_nm, response.moved)
        moved = _position_in_basin(grid_nm, indices, smooth, start, stop)
        if np.isfinite(moved):
            positions = positions + response.change * (moved - position) / response.delta
    return positions


def _position_uncertainty(positions: np.ndarray) -> dict:
    """``diameter_se_nm`` (SD) and ``diameter_interval_nm`` (the central 68 %, nm) of a peak's
    positions in the resamples (NaN entries left out); NaN with fewer than two."""
    positions = positions[np.isfinite(positions)]
    if positions.size < 2:
        return {"diameter_se_nm": math.nan, "diameter_interval_nm": [math.nan, math.nan]}
    low, high = np.percentile(positions, [50.0 - PEAK_INTERVAL / 2, 50.0 + PEAK_INTERVAL / 2])
    return {
        "diameter_se_nm": float(np.std(positions, ddof=1)),
        "diameter_interval_nm": [float(low), float(high)],
    }


def _peak_table(
    grid_nm: np.ndarray,
    weights: np.ndarray,
    resampled: np.ndarray,
    tested: _TestedPeaks,
    fractions_of: tuple[np.ndarray, np.ndarray] | None = None,
    number_fractions_of: tuple[np.ndarray, np.ndarray] | None = None,
    response: LocalizationErrorResponse | None = None,
) -> list[dict]:
    """The tested peaks with their fractions (see :func:`significant_peaks`)."""
    kept, significance, smooth = tested.indices, tested.significance, tested.smooth
    if fractions_of is None:
        shares, shares_resampled = weights, resampled
        share_bounds = _basin_bounds(kept, smooth, grid_nm.size)
    else:
        shares, shares_resampled = fractions_of
        share_smooth = smoothed_density(grid_nm, shares, PEAK_SMOOTHING_LN)
        share_bounds = _basin_bounds(kept, share_smooth, grid_nm.size, FRACTION_SPLIT_KEEP_OFF)
    sums = {"fraction": (shares, shares_resampled)}
    if number_fractions_of is not None:
        sums["number_fraction"] = number_fractions_of
    peak_bounds = _basin_bounds(kept, smooth, grid_nm.size)
    peaks = []
    for number, (index, share, start, stop) in enumerate(
        zip(kept, significance, share_bounds[:-1], share_bounds[1:], strict=True)
    ):
        position = _refined_position(grid_nm, smooth, index)
        positions = _resampled_positions(
            grid_nm, tested, peak_bounds[number], peak_bounds[number + 1], position, response
        )
        peak = {"diameter_nm": position} | _position_uncertainty(positions)
        peak["basin"] = (peak_bounds[number], peak_bounds[number + 1])
        for name, (distribution, resamples) in sums.items():
            fractions = resamples[:, start:stop].sum(axis=1)
            peak[name] = float(distribution[start:stop].sum())
            peak[f"{name}_se"] = (
                float(np.std(fractions, ddof=1)) if len(fractions) > 1 else math.nan
            )
        peak["significance"] = float(share)
        peak["test_resamples"] = tested.n_tested
        peaks.append(peak)
    peaks.sort(key=lambda peak: peak["fraction"], reverse=True)
    return peaks


def _merge_insignificant(
    candidates: np.ndarray, smooth: np.ndarray, found: list[np.ndarray], min_significance: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Candidates merged until each basin holds a peak in ``min_significance`` of the resamples.

    The least confirmed candidate is merged with a neighbour that fails too if there is one, else
    with the neighbour across the higher saddle; the lower of the two goes. ``found`` holds the
    peak indices of every resample. Returns the kept candidate indices, the share of resamples
    with a peak in each one's basin, and how close (absolute difference) the closest share
    compared with ``min_significance`` on the way came to it (inf: no comparison, one candidate).
    """
    kept = np.asarray(candidates)
    closest = math.inf
    while True:
        bounds = _basin_bounds(kept, smooth, smooth.size)
        seen = np.zeros(len(kept))
        for indices in found:
            for number, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
                seen[number] += bool(np.any((indices >= start) & (indices < stop)))
        significance = seen / max(len(found), 1)
        if len(kept) == 1:
            return kept, significance, closest
        closest = min(closest, float(np.min(np.abs(significance - min_significance))))
        if np.all(significance >= min_significance):
            return kept, significance, closest
        weakest = int(np.argmin(significance))
        neighbours = [n for n in (weakest - 1, weakest + 1) if 0 <= n < len(kept)]
        # a failing neighbour first: two candidates that each show in only part of the
        # resamples are one feature moving between them, and merging either into a confirmed
        # peak would leave the other alone to fail too
        failing = [n for n in neighbours if significance[n] < min_significance]
        choices = failing or neighbours
        saddles = [
            smooth[min(kept[weakest], kept[n]) : max(kept[weakest], kept[n]) + 1].min()
            for n in choices
        ]
        partner = choices[int(np.argmax(saddles))]
        lower = weakest if smooth[kept[weakest]] < smooth[kept[partner]] else partner
        kept = np.delete(kept, lower)


def _lognormal_weights(log_grid: np.ndarray, ln_median: float, sigma_log: float) -> np.ndarray:
    """Log-normal distribution discretised on the grid cells (exact cell probabilities)."""
    mid = 0.5 * (log_grid[1:] + log_grid[:-1])
    edges = np.concatenate([[-np.inf], mid, [np.inf]])
    cdf = special.ndtr((edges - ln_median) / sigma_log)
    return np.diff(cdf)


def lognormal_fit(
    tracks: TrackSteps,
    model: StepModel,
    grid_nm: np.ndarray | None = None,
    *,
    likelihood: Likelihood | None = None,
) -> SizeDistribution:
    """Maximum-likelihood log-normal size distribution, accounting for track length.

    The likelihood of every track is the Gamma model of :func:`log_likelihood_matrix` averaged
    over a log-normal distribution of diameters (median, sigma_log), discretised on the grid.
    This is a two-parameter alternative to :func:`walker_em` for unimodal samples; it is labelled
    'log-normal fit'.

    Parameters
    ----------
    tracks : TrackSteps
        Per-track step counts and mean squared lag-1 steps.
    model : StepModel
        Acquisition physics.
    grid_nm : ndarray, optional
        Diameter grid, nm; default :func:`diameter_grid`.
    likelihood : (ndarray, ndarray), optional
        As for :func:`walker_em`.

    Returns
    -------
    SizeDistribution
        ``method="log-normal fit"``, ``parameters`` = ``{"median_nm", "sigma_log"}`` (sigma_log
        is the standard deviation of ln d; it cannot resolve widths below the grid spacing).
    """
    grid = _check_grid(diameter_grid() if grid_nm is None else grid_nm)
    matrix, offset = _likelihood(tracks, grid, model, likelihood)
    log_grid = np.log(grid)
    min_sigma = 0.5 * float(np.min(np.diff(log_grid)))

    def unpack(params: np.ndarray) -> tuple[float, float]:
        return float(params[0]), min_sigma + float(np.exp(params[1]))

    def negative_log_likelihood(params: np.ndarray) -> float:
        ln_median, sigma_log = unpack(params)
        per_track = matrix @ _lognormal_weights(log_grid, ln_median, sigma_log)
        return -float(np.sum(np.log(np.maximum(per_track, 1e-300))))

    # start from the EM-free estimate: the grid point that best explains the tracks alone
    start_index = int(np.argmax(np.log(np.maximum(matrix, 1e-300)).sum(axis=0)))
    start = np.array([log_grid[start_index], np.log(0.2)])
    result = optimize.minimize(
        negative_log_likelihood,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000},
    )
    ln_median, sigma_log = unpack(result.x)
    weights = _lognormal_weights(log_grid, ln_median, sigma_log)
    weights /= weights.sum()
    return SizeDistribution(
        diameter_nm=grid,
        weights=weights,
        n_tracks=len(tracks),
        log_likelihood=float(-result.fun + offset.sum()),
        n_iterations=int(result.nit),
        converged=bool(result.success),
        method="log-normal fit",
        parameters={"median_nm": float(np.exp(ln_median)), "sigma_log": sigma_log},
    )


@dataclass(frozen=True)
class DeconvolvedSizes:
    """The corrected size distributions of one analysis.

    Attributes
    ----------
    deconvolved : SizeDistribution
        Walker EM distribution.
    lognormal : SizeDistribution
        Log-normal maximum-likelihood fit.
    sigma_um : Series
        Localization error used for every track (by brightness class).
    peaks : list of dict, optional
        The bootstrap-tested peaks of ``deconvolved`` (:func:`significant_peaks`); None: the
        untested candidates of :func:`find_peaks` are reported.
    resampled : ndarray, shape (n_bootstrap, n_grid), optional
        The bootstrap resamples' distributions (:func:`bootstrap_distributions`).
    standard_errors : dict, optional
        ``d10_se``, ``d50_se``, ``d90_se`` (nm, :func:`quantile_standard_errors`).
    track_peak : Series, optional
        With tested peaks, the peak (its number in ``peaks``) every sized track most likely
        belongs to (posterior mass of the peak's basin), indexed by particle id.
    """

    deconvolved: SizeDistribution
    lognormal: SizeDistribution
    sigma_um: pd.Series
    peaks: list[dict] | None = None
    resampled: np.ndarray | None = None
    standard_errors: dict[str, float] | None = None
    track_peak: pd.Series | None = None

    def summary(
        self,
        systematic: Mapping[str, np.ndarray | Sequence[float]],
        depends_on_linking: Sequence[bool] | None = None,
    ) -> dict:
        """JSON-ready entries ``deconvolved_nm`` and ``lognormal_fit_nm`` of an analysis summary.

        With tested peaks, ``peaks``/``peak_fractions``/``mode`` are the significant peaks, with
        their uncertainties (nm): ``peak_se`` and ``peak_statistical_interval_68`` (the spread
        of their positions over the resamples), ``peak_systematic`` (the ``total`` of
        ``systematic`` times the position), ``peak_uncertainty`` (both in quadrature) and
        ``peak_interval_68`` (the statistical interval with the systematic part added in
        quadrature on either side), ``peak_systematic_parts`` (``systematic`` by cause,
        fractions of each peak's diameter);
        ``peak_fraction_se``, ``peak_significance`` (share of the ``peak_test_resamples``
        resamples of the sequential test that showed each), ``n_candidate_peaks`` and
        ``peak_depends_on_linking`` (``depends_on_linking``), and with more
        than one peak ``peak_number_fractions`` and ``peak_number_fraction_se`` (shares of the
        particles in view); with standard errors, ``d10_se``, ``d50_se``, ``d90_se`` (nm).

        Parameters
        ----------
        systematic : mapping of str to sequence of float
            Relative systematic uncertainty of each peak's position (one value per peak, in the
            order of ``peaks``) by cause, with their root sum of squares as ``total``: e.g. the
            terms of :func:`napari_pynta.peak_systematic.peak_systematic_errors`; NaN: unknown
            (``peak_systematic`` and ``peak_uncertainty`` NaN, ``peak_interval_68`` the
            statistical interval).
        depends_on_linking : sequence of bool, optional
            For each peak, whether the tracks linked again with a narrower search range show
            no peak in its basin (``peak_depends_on_linking``; None: not known).
        """
        statistics = self.deconvolved.statistics() | (self.standard_errors or {})
        if self.peaks is not None:
            totals = list(systematic["total"])
            if len(totals) != len(self.peaks):
                raise PyntaInputError(
                    f"systematic has {len(totals)} values for {len(self.peaks)} peaks"
                )
            if depends_on_linking is not None and len(depends_on_linking) != len(self.peaks):
                raise PyntaInputError(
                    f"depends_on_linking has {len(depends_on_linking)} values for "
                    f"{len(self.peaks)} peaks"
                )
            uncertainties = [
                _with_systematic(peak, total)
                for peak, total in zip(self.peaks, totals, strict=True)
            ]
            statistics |= {
                "n_candidate_peaks": len(statistics["peaks"]),
                "mode": self.peaks[0]["diameter_nm"],
                "peaks": [peak["diameter_nm"] for peak in self.peaks],
                "peak_se": [peak["diameter_se_nm"] for peak in self.peaks],
                "peak_systematic": [part["systematic"] for part in uncertainties],
                "peak_systematic_parts": {
                    cause: [float(value) for value in values]
                    for cause, values in systematic.items()
                    if cause != "total"
                },
                "peak_uncertainty": [part["uncertainty"] for part in uncertainties],
                "peak_interval_68": [part["interval"] for part in uncertainties],
                "peak_statistical_interval_68": [
                    peak["diameter_interval_nm"] for peak in self.peaks
                ],
                "peak_fractions": [peak["fraction"] for peak in self.peaks],
                "peak_fraction_se": [peak["fraction_se"] for peak in self.peaks],
                "peak_significance": [peak["significance"] for peak in self.peaks],
                "peak_test_resamples": self.peaks[0]["test_resamples"],
                "peak_depends_on_linking": None
                if depends_on_linking is None
                else [bool(flag) for flag in depends_on_linking],
            }
            if "number_fraction" in self.peaks[0]:
                statistics |= {
                    "peak_number_fractions": [peak["number_fraction"] for peak in self.peaks],
                    "peak_number_fraction_se": [peak["number_fraction_se"] for peak in self.peaks],
                }
        deconvolved = statistics | {
            "n_tracks": self.deconvolved.n_tracks,
            "method": "Walker EM deconvolution",
            "iterations": self.deconvolved.n_iterations,
            "converged": self.deconvolved.converged,
        }
        fit = self.lognormal.statistics()
        lognormal = {key: fit[key] for key in ("mean", "mode", "sd", "d10", "d50", "d90", "span")}
        lognormal |= {
            "median": self.lognormal.parameters["median_nm"],
            "sigma_log": self.lognormal.parameters["sigma_log"],
            "method": "log-normal fit",
        }
        return {"deconvolved_nm": deconvolved, "lognormal_fit_nm": lognormal}


def _with_systematic(peak: dict, systematic: float) -> dict:
    """A peak's systematic uncertainty (nm; ``systematic`` relative), its total uncertainty
    (with ``diameter_se_nm`` in quadrature) and its 68 % interval with the systematic part
    added in quadrature to either side of the statistical one (NaN ``systematic``: unknown,
    the interval is the statistical one). A diameter is positive: the interval's low end is at
    least 0 (a systematic part as large as the peak leaves only that bound)."""
    position = peak["diameter_nm"]
    low, high = peak["diameter_interval_nm"]
    if not math.isfinite(systematic):
        return {"systematic": math.nan, "uncertainty": math.nan, "interval": [low, high]}
    part = abs(float(systematic)) * position
    return {
        "systematic": part,
        "uncertainty": math.hypot(peak["diameter_se_nm"], part),
        "interval": [
            max(0.0, position - math.hypot(position - low, part)),
            position + math.hypot(high - position, part),
        ],
    }


def _conditioned_on_brightness(
    tracks: pd.DataFrame,
    usable: pd.DataFrame,
    steps: TrackSteps,
    model: StepModel,
    deconvolved: SizeDistribution,
    n_bootstrap: int,
    likelihood: Likelihood,
    linked: pd.DataFrame | None,
) -> ConditionedSizes:
    """:func:`brightness_conditioned` of the sized tracks, grouped by their mean ``mass``
    (one group without it), with the :func:`detection_counts` of ``linked`` (default:
    ``tracks``)."""
    track_ids = usable["particle"].to_numpy()
    linked = tracks if linked is None else linked
    groups = [np.arange(len(track_ids))]
    upper_log_mass = np.empty(0)
    if "mass" in tracks.columns and "mass" in linked.columns:
        log_mass = _log_mean_mass(tracks, track_ids)
        groups = brightness_groups(log_mass, BRIGHTNESS_CLASSES)
        upper_log_mass = np.array([np.nanmax(log_mass[rows]) for rows in groups[:-1]])
    detections = detection_counts(linked, track_ids, upper_log_mass)
    return brightness_conditioned(
        steps, model, deconvolved, groups, track_ids, detections, n_bootstrap, likelihood=likelihood
    )


def _log_mean_mass(localizations: pd.DataFrame, ids: pd.Index | np.ndarray) -> np.ndarray:
    """ln of the mean ``mass`` of each track of ``localizations``, for the particle ``ids`` in
    that order (NaN for an id without localizations)."""
    mass = localizations.groupby("particle")["mass"].mean().reindex(ids).to_numpy()
    return np.log(np.maximum(mass, 1e-300))


def detection_counts(
    linked: pd.DataFrame, track_ids: np.ndarray, upper_log_mass: np.ndarray
) -> DetectionCounts:
    """:class:`DetectionCounts` of the linked localizations ``linked`` (``particle, frame``, and
    ``mass`` when ``upper_log_mass`` is not empty).

    Parameters
    ----------
    linked : DataFrame
        All linked localizations, of sized and unsized tracks.
    track_ids : ndarray
        The sized tracks' particle ids, in the order of the brightness groups' indices.
    upper_log_mass : ndarray
        Largest ln(mean mass) of every brightness group but the brightest: an unsized track
        belongs to the first group whose bound is at least its own (NaN: the brightest).
    """
    frames = linked.groupby("particle")["frame"]
    per_track = pd.DataFrame(
        {"localizations": frames.size(), "spans": frames.max() - frames.min() + 1}
    ).astype(float)
    sized = per_track.reindex(track_ids, fill_value=0.0)
    unsized = per_track.drop(index=track_ids, errors="ignore")
    unsized_group = np.zeros(len(unsized), dtype=int)
    if upper_log_mass.size:
        unsized_group = np.searchsorted(upper_log_mass, _log_mean_mass(linked, unsized.index))
    return DetectionCounts(
        localizations=sized["localizations"].to_numpy(),
        spans=sized["spans"].to_numpy(),
        unsized_ids=unsized.index.to_numpy(),
        unsized_localizations=unsized["localizations"].to_numpy(),
        unsized_group=unsized_group,
    )


def deconvolve_tracks(
    tracks: pd.DataFrame,
    per_track: pd.DataFrame,
    *,
    pixel_size_um: float,
    frame_interval_s: float,
    exposure_s: float,
    temperature_c: float,
    viscosity_pa_s: float,
    n_bootstrap: int = PEAK_BOOTSTRAP,
    field_px: tuple[float, float] | None = None,
    warm_start: DeconvolvedSizes | None = None,
    linked: pd.DataFrame | None = None,
) -> DeconvolvedSizes | None:
    """Deconvolved and log-normal size distributions of the tracks of an analysis.

    Parameters
    ----------
    tracks : DataFrame
        The linked localizations that were sized (``particle, frame, y, x, mass``).
    per_track : DataFrame
        Their ``sizing.track_diffusion`` table.
    pixel_size_um, frame_interval_s, exposure_s, temperature_c, viscosity_pa_s : float
        Acquisition metadata.
    n_bootstrap : int
        Resamples of the tracks that test the peaks and give the standard errors of D10, D50 and
        D90 (:func:`quantile_standard_errors`); 0: peaks untested, no standard errors. Tracks
        are resampled by :func:`stable_bootstrap_counts` of their particle ids, so a resample of
        more tracks is the previous one plus the new tracks (the live summary warm-starts from
        it) and offline and live analyses of the same tracks resample alike.
    field_px : (float, float), optional
        Detectable area (height, width; pixels) the per-track table was computed with.
    warm_start : DeconvolvedSizes, optional
        A previous result for most of these tracks (the live summary's last one): the EM and
        each resample start from it (:func:`walker_em` ``start``). Same result to within the EM
        tolerances, in fewer iterations.
    linked : DataFrame, optional
        All linked localizations (``particle, frame, mass``), also of the tracks too short to
        size: with two or more peaks they count into the particles in view of their brightness
        group (:class:`DetectionCounts`); default: ``tracks``.

    Returns
    -------
    DeconvolvedSizes or None
        None when no track has a usable mean squared step.
    """
    sigma = localization_error_by_brightness(
        tracks, pixel_size_um, frame_interval_s, exposure_s, field_px=field_px
    )
    usable = per_track[(per_track["msd1_um2"] > 0) & (per_track["n_steps"] >= 1)]
    if usable.empty:
        return None
    steps = TrackSteps.from_table(usable, sigma)
    model = StepModel(frame_interval_s, exposure_s, 0.0, temperature_c, viscosity_pa_s)
    grid = diameter_grid()
    likelihood = log_likelihood_matrix(steps, grid, model)  # once for the EM, resamples, fit
    deconvolved = walker_em(
        steps,
        model,
        grid,
        start=None if warm_start is None else warm_start.deconvolved,
        likelihood=likelihood,
    )
    peaks = resampled = standard_errors = track_peak = None
    if n_bootstrap >= 2:
        starts = None
        if warm_start is not None and warm_start.resampled is not None:
            if len(warm_start.resampled) == n_bootstrap:
                starts = warm_start.resampled
        resampled = bootstrap_distributions(
            steps,
            model,
            deconvolved,
            n_bootstrap,
            track_ids=usable["particle"].to_numpy(),
            starts=starts,
            likelihood=likelihood,
        )
        grid_nm, weights = deconvolved.diameter_nm, deconvolved.weights
        track_ids = usable["particle"].to_numpy()
        response = localization_error_response(
            tracks,
            steps,
            model,
            deconvolved,
            n_bootstrap,
            track_ids,
            pixel_size_um=pixel_size_um,
            frame_interval_s=frame_interval_s,
            exposure_s=exposure_s,
            field_px=field_px,
        )

        def more_resamples(first: int, n: int) -> np.ndarray:
            return bootstrap_distributions(
                steps,
                model,
                deconvolved,
                n,
                track_ids=track_ids,
                likelihood=likelihood,
                first_resample=first,
            )

        tested = _tested_peaks(grid_nm, weights, resampled, more_resamples=more_resamples)
        shares: tuple[Shares | None, Shares | None] = (None, None)
        if len(tested.indices) > 1:  # fractions of a mixture: shares of tracks and of particles
            conditioned = _conditioned_on_brightness(
                tracks, usable, steps, model, deconvolved, n_bootstrap, likelihood, linked
            )
            shares = (
                (conditioned.weights, conditioned.resampled),
                (conditioned.number_weights, conditioned.number_resampled),
            )
        peaks = _peak_table(grid_nm, weights, resampled, tested, *shares, response)
        track_peak = _track_peak(likelihood[0], weights, peaks, track_ids)
        standard_errors = quantile_standard_errors(
            tracks,
            steps,
            model,
            deconvolved,
            resampled,
            track_ids,
            pixel_size_um=pixel_size_um,
            frame_interval_s=frame_interval_s,
            exposure_s=exposure_s,
            field_px=field_px,
            response=response,
        )
    return DeconvolvedSizes(
        deconvolved=deconvolved,
        lognormal=lognormal_fit(steps, model, grid, likelihood=likelihood),
        sigma_um=sigma,
        peaks=peaks,
        resampled=resampled,
        standard_errors=standard_errors,
        track_peak=track_peak,
    )


def peak_positions(sizes: DeconvolvedSizes, weights: np.ndarray) -> np.ndarray:
    """Where another distribution on the same grid puts each of the tested peaks of ``sizes``:
    the position (nm) of its highest peak in the peak's basin, found and refined as the peaks
    themselves; NaN where it has none there (or ``sizes`` has no tested peaks: empty).

    Parameters
    ----------
    sizes : DeconvolvedSizes
        The result whose ``peaks`` (with their ``basin``) are matched.
    weights : ndarray
        The other distribution's weights on ``sizes.deconvolved.diameter_nm``.
    """
    grid = sizes.deconvolved.diameter_nm
    if weights.shape != grid.shape:
        raise PyntaInputError("weights must be on the grid of the deconvolved distribution")
    indices, smooth = _peak_indices(grid, weights)
    return np.array(
        [_position_in_basin(grid, indices, smooth, *peak["basin"]) for peak in (sizes.peaks or [])]
    )


def _track_peak(
    likelihood: np.ndarray, weights: np.ndarray, peaks: list[dict], track_ids: np.ndarray
) -> pd.Series:
    """The peak (number in ``peaks``) with the largest posterior mass of each track, by id."""
    posterior = likelihood * weights[None, :]
    mass = np.column_stack([posterior[:, slice(*peak["basin"])].sum(axis=1) for peak in peaks])
    return pd.Series(np.argmax(mass, axis=1), index=track_ids, name="peak")
