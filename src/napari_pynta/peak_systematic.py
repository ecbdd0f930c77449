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
    relinked: Sequence[pd.DataFrame | None] = (),
) -> dict[str, np.ndarray]:
    """Relative systematic uncertainty of every tested peak of ``sizes``, by cause.

    - ``linking``: the largest change of the peak's position (|ln| of the ratio) when the
      tracks of the localizations linked again with other search ranges are deconvolved
      (``relinked``; as the ensemble's term, the whole change).
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
    relinked : sequence of DataFrame or None
        The variants for the ``linking`` term (None entries: no such linking).

    Returns
    -------
    dict of str to ndarray
        :data:`PEAK_SYSTEMATIC_CAUSES` and ``total``, one fraction of the diameter per peak in
        the order of ``sizes.peaks``.
    """
    positions = np.array([peak["diameter_nm"] for peak in sizes.peaks or []])

    def changes(variant: pd.DataFrame | None) -> np.ndarray:
        weights = None if variant is None or variant.empty else distribution_of(variant)
        if weights is None:
            return np.zeros(positions.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            moved = np.abs(np.log(peak_positions(sizes, weights) / positions))
        return np.where(np.isfinite(moved), moved, 0.0)

    parts = {
        "estimators": _estimator_spreads(sizes, tracks, ensemble_of),
        "drift": changes(before_drift) / 2,
        "threshold": changes(bright) / 2,
        "linking": np.max([changes(variant) for variant in relinked], axis=0)
        if relinked
        else np.zeros(positions.size),
    }
    parts["total"] = np.sqrt(sum(values**2 for values in parts.values()))
    return parts


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
