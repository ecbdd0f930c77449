"""Standard errors of D10, D50 and D90 over the tracks, with the noise of the pooled localization
errors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_pynta.deconvolve.bootstrap import BOOTSTRAP_SEED, stable_bootstrap_counts
from napari_pynta.deconvolve.distribution import SizeDistribution
from napari_pynta.deconvolve.em import walker_em
from napari_pynta.deconvolve.grid import quantile
from napari_pynta.deconvolve.likelihood import StepModel, TrackSteps
from napari_pynta.sizing import blur_factor, localization_variance, track_sums

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
        raised = TrackSteps(
            steps.n_steps, steps.msd1_um2, np.sqrt(sigma_um**2 + delta), steps.dispersion
        )
        moved = walker_em(raised, model, distribution.diameter_nm, start=distribution).weights
    return LocalizationErrorResponse(change, delta, moved)
