"""Distributions conditioned on brightness: each brightness group's own EM, mixed by tracks and by
particles in view."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_pynta.deconvolve.bootstrap import (
    BOOTSTRAP_SEED,
    PEAK_BOOTSTRAP,
    bootstrap_distributions,
    stable_bootstrap_counts,
)
from napari_pynta.deconvolve.brightness import BRIGHTNESS_CLASSES, _log_mean_mass, brightness_groups
from napari_pynta.deconvolve.distribution import SizeDistribution
from napari_pynta.deconvolve.em import walker_em
from napari_pynta.deconvolve.likelihood import Likelihood, StepModel, TrackSteps, _likelihood


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
        steps = tracks.subset(rows)
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
