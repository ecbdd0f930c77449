"""How a diameter sets a track's lag-1 steps (:class:`StepModel`) and the Gamma likelihood of every
track's mean squared step on the grid."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from napari_pynta.errors import PyntaInputError, require_positive
from napari_pynta.physics import diffusion_um2_s
from napari_pynta.sizing import blur_factor


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

        Parameters
        ----------
        diameter_nm : float or ndarray
            Particle diameters, nm.
        sigma_um : float or ndarray, optional
            Localization error per axis, µm (broadcast against ``diameter_nm``), in place of
            the model's ``sigma_um``.

        Returns
        -------
        ndarray
            theta, µm², with the broadcast shape of the arguments.
        """
        variance, _ = self._per_axis_moments(np.asarray(diameter_nm, dtype=float), sigma_um)
        return 2.0 * variance

    def step_correlation(
        self, diameter_nm: np.ndarray | float, sigma_um: np.ndarray | float | None = None
    ) -> np.ndarray:
        """Correlation coefficient of successive steps along one axis (0 without noise and blur).

        Parameters
        ----------
        diameter_nm, sigma_um
            As for :meth:`expected_msd1_um2`.

        Returns
        -------
        ndarray
            rho, from -0.5 (localization noise only) to 0.25 (full-frame exposure, no noise).
        """
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
    dispersion : float
        Variance of a squared step over its squared mean, ``kappa`` (:func:`step_dispersion`;
        >= 1, 1 for Gaussian steps): the Gamma's shape is divided by it.
    """

    n_steps: np.ndarray
    msd1_um2: np.ndarray
    sigma_um: np.ndarray | None = None
    dispersion: float = 1.0

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
        if not (math.isfinite(self.dispersion) and self.dispersion >= 1.0):
            raise PyntaInputError(f"dispersion must be finite and >= 1, got {self.dispersion}")
        object.__setattr__(self, "n_steps", n_steps.astype(float))
        object.__setattr__(self, "msd1_um2", msd1)

    def __len__(self) -> int:
        return int(self.n_steps.size)

    def subset(self, rows: np.ndarray) -> TrackSteps:
        """The tracks ``rows`` (indices or a mask), with the same dispersion."""
        sigma = None if self.sigma_um is None else self.sigma_um[rows]
        return TrackSteps(self.n_steps[rows], self.msd1_um2[rows], sigma, self.dispersion)

    @classmethod
    def from_table(
        cls,
        per_track: pd.DataFrame,
        sigma_um: pd.Series | None = None,
        dispersion: float = 1.0,
    ) -> TrackSteps:
        """From the per-track table of ``sizing.track_diffusion`` (``n_steps``, ``msd1_um2``).

        Tracks without a usable mean squared step (NaN or 0, e.g. a particle stuck in place
        without localization noise) are left out.

        Parameters
        ----------
        per_track : DataFrame
            Columns ``particle``, ``n_steps``, ``msd1_um2``.
        sigma_um : Series, optional
            Localization error per particle id (:func:`localization_error_by_brightness`).
        dispersion : float
            :func:`step_dispersion` of the tracks (default 1: Gaussian steps).
        """
        missing = {"particle", "n_steps", "msd1_um2"} - set(per_track.columns)
        if missing:
            raise PyntaInputError(f"per_track table lacks the columns {sorted(missing)}")
        usable = per_track[(per_track["msd1_um2"] > 0) & (per_track["n_steps"] >= 1)]
        sigma = None
        if sigma_um is not None:
            sigma = sigma_um.reindex(usable["particle"].to_numpy()).to_numpy(dtype=float)
        n_steps, msd1 = usable["n_steps"].to_numpy(), usable["msd1_um2"].to_numpy(dtype=float)
        return cls(n_steps, msd1, sigma, dispersion)


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
    shape = k / (tracks.dispersion + 2.0 * (k - 1.0) / k * rho**2)
    m = tracks.msd1_um2[:, None]
    log_l = (
        shape * np.log(shape / theta)
        + (shape - 1.0) * np.log(m)
        - shape * m / theta
        - special.gammaln(shape)
    )
    offset = log_l.max(axis=1)
    return np.exp(log_l - offset[:, None]), offset


#: fewest one-frame steps of a track that enters :func:`step_dispersion`
DISPERSION_MIN_STEPS = 3

#: ``(likelihood, offset)`` as :func:`log_likelihood_matrix` returns them
Likelihood = tuple[np.ndarray, np.ndarray]


def _likelihood(
    tracks: TrackSteps, grid_nm: np.ndarray, model: StepModel, given: Likelihood | None
) -> Likelihood:
    """``given`` (computed once by a caller for several functions), else computed here."""
    if given is None:
        return log_likelihood_matrix(tracks, grid_nm, model)
    if given[0].shape != (len(tracks), grid_nm.size) or given[1].shape != (len(tracks),):
        raise PyntaInputError("likelihood must be log_likelihood_matrix(tracks, grid, model)")
    return given


def step_dispersion(tracks: pd.DataFrame, min_steps: int = DISPERSION_MIN_STEPS) -> float:
    """kappa: how much more squared steps scatter within tracks than Gaussian steps' squares.

    A 2-D Gaussian step's square has a variance equal to its squared mean (kappa = 1), which the
    Gamma model assumes. Localization errors that change from frame to frame (a particle
    leaving focus, its image smeared more in some frames), a track that takes a neighbour's
    localization for a frame, and the heavy tail of real steps make it larger; a track's mean
    squared step then scatters more than the Gamma allows, and the EM explains the extra scatter
    as a spread of sizes that skews the distribution of short tracks. Measured within each track
    (one-frame steps; tracks of at least ``min_steps`` of them), so a spread of sizes between
    tracks does not enter::

        kappa = sum (k - 1) s^2 / sum (k - 1) (m^2 - s^2 / k)

    with ``m`` and ``s^2`` a track's mean and sample variance of its ``k`` squared steps
    (``m^2 - s^2 / k`` is unbiased for the squared mean). The correlation of successive squared
    steps (blur, noise) is left out: it enters as rho^2 (at most 0.25 here).

    Parameters
    ----------
    tracks : DataFrame
        Linked localizations (``particle, frame, y, x``).
    min_steps : int
        Fewest one-frame steps of a track that enters.

    Returns
    -------
    float
        kappa, at least 1 (1 when no track has ``min_steps`` one-frame steps).
    """
    if int(min_steps) < 2:
        raise PyntaInputError(f"min_steps must be >= 2, got {min_steps}")
    ordered = tracks.sort_values(["particle", "frame"], kind="stable")
    owner = ordered["particle"].to_numpy()
    one_frame = (owner[1:] == owner[:-1]) & (np.diff(ordered["frame"].to_numpy()) == 1)
    squares = np.diff(ordered["y"].to_numpy(dtype=float)) ** 2
    squares += np.diff(ordered["x"].to_numpy(dtype=float)) ** 2
    by_track = pd.Series(squares[one_frame]).groupby(owner[1:][one_frame])
    k, mean, variance = by_track.size(), by_track.mean(), by_track.var(ddof=1)
    used = k >= int(min_steps)
    k, mean, variance = k[used], mean[used], variance[used]
    squared_mean = float(((k - 1) * (mean**2 - variance / k)).sum())
    if not used.any() or squared_mean <= 0:
        return 1.0
    return max(1.0, float(((k - 1) * variance).sum()) / squared_mean)
