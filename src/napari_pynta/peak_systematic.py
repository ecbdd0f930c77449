"""Systematic uncertainty of each deconvolved peak, measured on its own population.

The ensemble diameter's systematic terms (:func:`napari_pynta.sizing.systematic_errors`) say how
much the size moves when the tracks are linked again, the drift is left in, the dim tracks are
left out or another estimator is used. With one population that is how much its peak moves. In a
mixture the ensemble mixes the populations' sizes with their shares, and those variants move the
shares (the dim population loses tracks, the estimators weight the populations differently), so
the ensemble's terms there say little about any one peak (docs/size-distributions.md). Here each
variant of the tracks is deconvolved again (point estimate only) and every peak's own shift is
taken, matched in its basin (:func:`napari_pynta.deconvolve.peak_positions`); the estimators'
term is taken on the tracks that belong to the peak.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from napari_pynta import sizing
from napari_pynta.deconvolve import DeconvolvedSizes, peak_positions

#: the causes of a peak's systematic uncertainty, as those of the ensemble
PEAK_SYSTEMATIC_CAUSES = ("estimators", "drift", "threshold", "linking")

#: a population needs this many tracks for its estimators' term (fewer: 0, its SE covers it)
MIN_POPULATION_TRACKS = 10


def peak_systematic_errors(
    sizes: DeconvolvedSizes,
    tracks: pd.DataFrame,
    *,
    distribution_of: Callable[[pd.DataFrame], np.ndarray | None],
    ensemble_of: Callable[[pd.DataFrame], sizing.EnsembleEstimate],
    before_drift: pd.DataFrame | None = None,
    bright: pd.DataFrame | None = None,
    relinked_positions: Sequence[np.ndarray | None] = (),
) -> dict[str, np.ndarray]:
    """Relative systematic uncertainty of every tested peak of ``sizes``, by cause.

    - ``linking``: the largest change of the peak's position (|ln| of the ratio) when the
      tracks of the localizations linked again with other search ranges are deconvolved
      (``relinked_positions``; as the ensemble's term, the whole change).
    - ``drift``: half the change when the tracks are deconvolved without drift subtraction
      (``before_drift``).
    - ``threshold``: half the change when only the tracks away from the detection threshold
      are deconvolved (``bright``).
    - ``estimators``: the spread of ln D over the estimators of
      :func:`napari_pynta.sizing.systematic_errors` on the tracks that belong to the peak
      (``sizes.track_peak``; 0 with fewer than :data:`MIN_POPULATION_TRACKS`).
    - ``total``: their root sum of squares.

    A variant whose distribution has no peak in a peak's basin (the dim population left out
    with the dim tracks) gives that peak no term from it.

    Parameters
    ----------
    sizes : DeconvolvedSizes
        The deconvolution of ``tracks`` with tested peaks (and ``track_peak``).
    tracks : DataFrame
        The sized tracks (``particle, frame, y, x``), drift subtracted.
    distribution_of : callable
        The deconvolved weights (on ``sizes``' grid) of a table of tracks sized like
        ``tracks`` (None: no usable track), e.g. by
        :func:`napari_pynta.deconvolve.deconvolve_tracks` without resamples.
    ensemble_of : callable
        The ensemble estimate (:func:`napari_pynta.sizing.ensemble_diffusion`) of a table of
        tracks, as the analysis makes it.
    before_drift, bright : DataFrame, optional
        The variants for the ``drift`` and ``threshold`` terms (None: term 0).
    relinked_positions : sequence of ndarray or None
        The peaks' positions in the variants for the ``linking`` term
        (:func:`variant_positions` of each relinking; None entries: no such linking).

    Returns
    -------
    dict of str to ndarray
        :data:`PEAK_SYSTEMATIC_CAUSES` and ``total``, one fraction of the diameter per peak in
        the order of ``sizes.peaks``.
    """
    positions = np.array([peak["diameter_nm"] for peak in sizes.peaks or []])

    def changes(moved_to: np.ndarray | None) -> np.ndarray:
        if moved_to is None:
            return np.zeros(positions.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            moved = np.abs(np.log(moved_to / positions))
        return np.where(np.isfinite(moved), moved, 0.0)

    def variant_changes(variant: pd.DataFrame | None) -> np.ndarray:
        return changes(variant_positions(sizes, variant, distribution_of))

    parts = {
        "estimators": _estimator_spreads(sizes, tracks, ensemble_of),
        "drift": variant_changes(before_drift) / 2,
        "threshold": variant_changes(bright) / 2,
        "linking": np.max([changes(moved_to) for moved_to in relinked_positions], axis=0)
        if relinked_positions
        else np.zeros(positions.size),
    }
    parts["total"] = np.sqrt(sum(values**2 for values in parts.values()))
    return parts


def variant_positions(
    sizes: DeconvolvedSizes,
    variant: pd.DataFrame | None,
    distribution_of: Callable[[pd.DataFrame], np.ndarray | None],
) -> np.ndarray | None:
    """Where the deconvolution of a variant of the tracks puts each tested peak of ``sizes``.

    Parameters
    ----------
    sizes : DeconvolvedSizes
        The deconvolution with tested peaks (and their basins).
    variant : DataFrame or None
        The variant's tracks (None: there is no such variant).
    distribution_of : callable
        The deconvolved weights of a table of tracks (as in :func:`peak_systematic_errors`).

    Returns
    -------
    ndarray or None
        One position (nm) per peak, in the order of ``sizes.peaks``: the highest peak of the
        variant's distribution in the peak's basin (:func:`napari_pynta.deconvolve.
        peak_positions`), NaN where the variant has no peak there; None without a variant or
        a usable track in it.
    """
    weights = None if variant is None or variant.empty else distribution_of(variant)
    return None if weights is None else peak_positions(sizes, weights)


def _estimator_spreads(
    sizes: DeconvolvedSizes,
    tracks: pd.DataFrame,
    ensemble_of: Callable[[pd.DataFrame], sizing.EnsembleEstimate],
) -> np.ndarray:
    """The ``estimators`` term of the tracks of each peak (0 below the minimum of tracks)."""
    spreads = np.zeros(len(sizes.peaks or []))
    if sizes.track_peak is None:
        return spreads
    for number in range(spreads.size):
        members = sizes.track_peak.index[sizes.track_peak.to_numpy() == number]
        if len(members) < MIN_POPULATION_TRACKS:
            continue
        estimate = ensemble_of(tracks[tracks["particle"].isin(members)])
        value = sizing.systematic_errors(estimate)["estimators"]
        spreads[number] = value if math.isfinite(value) else 0.0
    return spreads
