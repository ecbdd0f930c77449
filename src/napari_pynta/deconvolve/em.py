"""Walker's EM deconvolution of the track-length broadening, with EMS smoothing and warm starts."""

from __future__ import annotations

import numpy as np

from napari_pynta.cancellation import checkpoint
from napari_pynta.deconvolve.distribution import SizeDistribution
from napari_pynta.deconvolve.grid import _check_grid, _smoothing_kernel, diameter_grid
from napari_pynta.deconvolve.likelihood import Likelihood, StepModel, TrackSteps, _likelihood
from napari_pynta.errors import PyntaInputError, require_positive

#: default EMS smoothing width (standard deviation in ln d) applied after every EM step
EM_SMOOTHING_LN = 0.01
#: grid diameters whose likelihood is below this (relative to each track's best) for every track
#: are left out of the EM iterations
NEGLIGIBLE_LIKELIHOOD = 1e-12
#: share of the uniform distribution mixed into a warm start of :func:`walker_em`
WARM_START_UNIFORM = 1e-3


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
