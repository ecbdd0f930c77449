"""The corrected size distributions of one analysis (:class:`DeconvolvedSizes`) and their JSON
summary."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_pynta.deconvolve.distribution import SizeDistribution
from napari_pynta.deconvolve.peaks import _peak_indices
from napari_pynta.deconvolve.significance import _position_in_basin
from napari_pynta.deconvolve.unimodal_null import UNIMODAL_LEVEL, UnimodalTest
from napari_pynta.errors import PyntaInputError, listed

#: what to record for more tracks, as the warnings of one movie's analysis advise it
MORE_TRACKS = (
    "a longer movie, or several captures of the sample and size them together (pynta analyze "
    "--combine, or Measure in the Sizes widget)"
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
    unimodal : UnimodalTest, optional
        The test of the peaks that the resamples confirmed against one population
        (:func:`unimodal_test`); None: fewer than two such peaks, not tested.
    unresolved_peaks_nm : tuple of float
        The peaks (nm) that the resamples confirmed but ``unimodal`` could not tell from one
        broad population, so that only the highest is in ``peaks`` (empty: none were merged).
    """

    deconvolved: SizeDistribution
    lognormal: SizeDistribution
    sigma_um: pd.Series
    peaks: list[dict] | None = None
    resampled: np.ndarray | None = None
    standard_errors: dict[str, float] | None = None
    track_peak: pd.Series | None = None
    unimodal: UnimodalTest | None = None
    unresolved_peaks_nm: tuple[float, ...] = ()

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
        ``peak_depends_on_linking`` (``depends_on_linking``), ``peak_unimodal_p`` (the p-value
        of one population, :func:`unimodal_test`; None: not tested), ``unresolved_peaks_nm``
        (the peaks merged because one population would show them too), and with more than one
        peak ``peak_number_fractions`` and ``peak_number_fraction_se`` (shares of the
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
                "peak_unimodal_p": None if self.unimodal is None else self.unimodal.p_value,
                "unresolved_peaks_nm": list(self.unresolved_peaks_nm),
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

    def unresolved_peaks_warning(self, more_tracks: str = MORE_TRACKS) -> str | None:
        """The warning for peaks that one broad population would also show (None: none were
        merged): the sample may be a mixture these tracks cannot resolve, or one population.

        Parameters
        ----------
        more_tracks : str
            What to record for more tracks (:data:`MORE_TRACKS`; the pooled captures say
            more captures or longer ones).
        """
        if not self.unresolved_peaks_nm or self.unimodal is None or not self.peaks:
            return None
        names = listed([f"{peak:.0f}" for peak in sorted(self.unresolved_peaks_nm)])
        test = self.unimodal
        return (
            f"Peaks at {names} nm repeat when the tracks are resampled, but one broad population "
            f"spanning them shows such peaks too ({test.multimodal_draws} of {test.n_draws} "
            f"simulated sets of these tracks from one population did, p = {test.p_value:.2f}; "
            f"at most {UNIMODAL_LEVEL:g} tells them apart): one peak at "
            f"{self.peaks[0]['diameter_nm']:.0f} nm is reported. The sample may be a mixture "
            f"that these tracks cannot resolve, or one broad population. Record {more_tracks} "
            "before reading it as either (simulated 50 + 100 nm movies that gave one peak in "
            "30 s gave both in 60 s)."
        )


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
