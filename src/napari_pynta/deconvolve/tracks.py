"""The entry point: :func:`deconvolve_tracks`, every step for the tracks of one analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_pynta.deconvolve.bootstrap import PEAK_BOOTSTRAP, bootstrap_distributions
from napari_pynta.deconvolve.brightness import localization_error_by_brightness
from napari_pynta.deconvolve.conditioned import _conditioned_on_brightness
from napari_pynta.deconvolve.distribution import SizeDistribution
from napari_pynta.deconvolve.em import walker_em
from napari_pynta.deconvolve.grid import diameter_grid
from napari_pynta.deconvolve.likelihood import (
    StepModel,
    TrackSteps,
    log_likelihood_matrix,
    step_dispersion,
)
from napari_pynta.deconvolve.lognormal import lognormal_fit
from napari_pynta.deconvolve.peaks import _refined_position
from napari_pynta.deconvolve.significance import _highest_only, _peak_table, _tested_peaks
from napari_pynta.deconvolve.sizes import DeconvolvedSizes
from napari_pynta.deconvolve.uncertainty import (
    localization_error_response,
    quantile_standard_errors,
)
from napari_pynta.deconvolve.unimodal_null import (
    UNIMODAL_RETEST_GROWTH,
    UnimodalTest,
    unimodal_test,
)

#: a distribution's weights and its resamples' weights, whose basin sums are a peak's shares
Shares = tuple[np.ndarray, np.ndarray]


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
    steps = TrackSteps.from_table(usable, sigma, step_dispersion(tracks))
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
    unimodal: UnimodalTest | None = None
    unresolved: tuple[float, ...] = ()
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
        if len(tested.indices) > 1:  # the resamples repeat the EM's split of one broad population
            unimodal = _unimodal_test(steps, model, deconvolved, warm_start)
            if not unimodal.rejected:
                unresolved = tuple(
                    _refined_position(grid_nm, tested.smooth, int(index))
                    for index in tested.indices
                )
                tested = _highest_only(tested)
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
        unimodal=unimodal,
        unresolved_peaks_nm=unresolved,
    )


def _unimodal_test(
    steps: TrackSteps,
    model: StepModel,
    deconvolved: SizeDistribution,
    warm_start: DeconvolvedSizes | None,
) -> UnimodalTest:
    """:func:`unimodal_test` of the tracks, or the warm start's when it rejected one population
    with more than 1 / :data:`UNIMODAL_RETEST_GROWTH` of these tracks (more tracks of the same
    sample only sharpen a rejection; a resolved mixture pays all the draws, 2-3 ms of CPU per
    track, so the live summary repeats them each time the run doubles, not at every update)."""
    previous = None if warm_start is None else warm_start.unimodal
    if (
        previous is not None
        and previous.rejected
        and len(steps) < UNIMODAL_RETEST_GROWTH * previous.n_tracks
    ):
        return previous
    return unimodal_test(steps, model, deconvolved)


def _track_peak(
    likelihood: np.ndarray, weights: np.ndarray, peaks: list[dict], track_ids: np.ndarray
) -> pd.Series:
    """The peak (number in ``peaks``) with the largest posterior mass of each track, by id."""
    posterior = likelihood * weights[None, :]
    mass = np.column_stack([posterior[:, slice(*peak["basin"])].sum(axis=1) for peak in peaks])
    return pd.Series(np.argmax(mass, axis=1), index=track_ids, name="peak")
