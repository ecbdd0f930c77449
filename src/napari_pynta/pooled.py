"""Replicate captures sized together: the size distribution of all their tracks at once.

The mean ± SE of :mod:`napari_pynta.combine` averages numbers each capture gave on its own. A
mixture's peaks need tracks: two populations a factor 2 apart that one 30 s capture of a few
hundred tracks cannot tell from one broad population are resolved by the tracks of two such
captures (docs/accuracy.md, "Round 18"). :func:`pool_captures` links and sizes the
localizations of all the captures as one movie (:func:`napari_pynta.analysis.analyze_localizations`)
whose captures are set :data:`POOL_GAP_FRAMES` frames apart, so that no track joins two
captures, and gives the distribution, its peaks and their test against one population.

Captures are pooled only when they were recorded alike (pixel size, frame interval, exposure,
frame size) and their particles diffuse alike (temperature and viscosity within
:data:`POOL_DIFFUSION_TOLERANCE` in kT/η): otherwise one size would give two sets of steps.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from napari_pynta import physics
from napari_pynta.frame_range import first_analysed
from napari_pynta.timing import INTERVAL_TOLERANCE

if TYPE_CHECKING:
    from napari_pynta.analysis import AnalysisResult

#: frames between two captures in the pooled numbering (more than any link spans, and more
#: than :data:`~napari_pynta.sizing.DRIFT_BREAK_FRAMES`: each capture's drift is its own)
POOL_GAP_FRAMES = 1000
#: largest relative spread of kT/η (temperature and viscosity) among pooled captures
POOL_DIFFUSION_TOLERANCE = 0.02
#: largest relative spread of the frame intervals (and exposures) of pooled captures: the one
#: by which a nominal interval stands for the measured one
#: (:data:`napari_pynta.timing.INTERVAL_TOLERANCE`); the intervals that each capture's frame
#: times give differ in their last digits, and the pooled tracks are sized with their mean
POOL_TIMING_TOLERANCE = INTERVAL_TOLERANCE
#: the relative spread of a setting that pooled captures must share exactly (float round-off)
_EXACT = 1e-6
#: settings the pooled captures must share, each with the largest relative spread allowed: the
#: scale of the steps and of the detectable area exactly, the step model's times within
#: :data:`POOL_TIMING_TOLERANCE`
POOLED_SETTINGS = {
    "pixel_size_um": _EXACT,
    "frame_interval_s": POOL_TIMING_TOLERANCE,
    "exposure_s": POOL_TIMING_TOLERANCE,
}
#: the pooled settings whose captures' values are averaged (they agree to their tolerance)
_AVERAGED = ("temperature_c", "frame_interval_s", "exposure_s")
#: what the pooled tracks' warnings advise to record for more tracks (one movie's say a longer
#: movie or several captures: :data:`napari_pynta.deconvolve.MORE_TRACKS`)
MORE_CAPTURES = "more or longer captures of the sample"
#: what the pooled line says of the counts: the pooled tracks give no concentration (each
#: capture counts its own particles in view over its own frames)
SIZES_ONLY = "sizes only: the concentration is the captures' mean ± SE, not pooled"
#: the linking and filtering choices the pooled tracks are made with once: every capture must
#: have been analysed with the same (the user's flags, one for all the captures of a run)
SAME_CHOICES = ("memory", "min_track_length", "blur_gap_spread")
#: labels that may differ between pooled captures without changing the pooled sizes (the
#: solvent enters only through kT/η, which must agree within :data:`POOL_DIFFUSION_TOLERANCE`
#: and is averaged; the engine only found the captures' own localizations): the pooled result
#: names them ``mixed: ...`` instead of taking the first capture's
MIXED_LABELS = {"solvent": "solvent", "engine": "detection engine"}


@dataclass(frozen=True)
class PooledCaptures:
    """The outcome of :func:`pool_captures`.

    Attributes
    ----------
    result : AnalysisResult or None
        The analysis of all the captures' tracks (None when they could not be pooled).
    reason : str or None
        Why the captures were not pooled (None when they were).
    n_captures : int
        Captures given.
    conditions : dict
        What the pooled tracks were sized at and with (:meth:`summary`); empty when not pooled.
    """

    result: AnalysisResult | None
    reason: str | None
    n_captures: int
    conditions: dict[str, Any] = dataclasses.field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON-ready ``pooled`` entry of a combined result.

        Returns
        -------
        dict
            ``n_captures``, ``reason`` (None when pooled) and, when pooled, ``n_tracks``,
            ``diameter_nm`` (the ensemble of all tracks), ``deconvolved_nm`` (the
            distribution, its peaks and shares, as one analysis summary gives it),
            ``conditions`` (the temperature and viscosity the tracks were sized at, the
            captures' mean; the temperatures they were recorded at; :data:`MIXED_LABELS` as
            the captures' common value or ``mixed: a, b``) and ``warnings`` (those of the
            pooled tracks).
        """
        if self.result is None:
            return {"n_captures": self.n_captures, "reason": self.reason}
        summary = self.result.summary
        return {
            "n_captures": self.n_captures,
            "reason": None,
            "n_tracks": summary.get("n_tracks"),
            "diameter_nm": summary.get("diameter_nm"),
            "diameter_uncertainty_nm": summary.get("diameter_uncertainty_nm"),
            "deconvolved_nm": summary.get("deconvolved_nm"),
            "conditions": self.conditions,
            "warnings": list(summary.get("warnings") or []),
        }


def pool_captures(
    results: Sequence[AnalysisResult],
    frame_numbers: Sequence[np.ndarray | None] | None = None,
) -> PooledCaptures:
    """Link and size the localizations of replicate captures together.

    Parameters
    ----------
    results : sequence of AnalysisResult
        Each capture's analysis (its localizations, parameters and frame size are used).
    frame_numbers : sequence of (ndarray or None), optional
        Each capture's acquisition frame numbers when its camera lost frames
        (:attr:`Movie.frame_numbers <napari_pynta.readers.Movie>`), so that steps across the
        gaps span their true time; None: the frames follow each other.

    Returns
    -------
    PooledCaptures
        With ``reason`` instead of a result when fewer than two captures are given or they
        differ in a setting that the sizes depend on (each named with every capture's value).
    """
    from napari_pynta.analysis import (
        OVERLAP_COLUMN,
        THRESHOLD_COLUMN,
        analyze_localizations,
        overlap_within_px,
    )

    n = len(results)
    reason = _why_not_pooled(results)
    if reason is not None:
        return PooledCaptures(None, reason, n)
    numbers = list(frame_numbers) if frame_numbers is not None else [None] * n
    pieces, pooled_numbers, offset = [], [], 0
    for result, own in zip(results, numbers, strict=True):
        n_frames = int(result.summary.get("n_frames") or 0)
        acquired = np.arange(n_frames) if own is None else np.asarray(own, dtype=np.int64)
        # each capture's localizations keep the threshold they were detected above and the
        # distance within which a neighbour left them out of its sizes
        minmass = result.params.minmass
        table = result.localizations.assign(
            **{
                THRESHOLD_COLUMN: math.nan if minmass is None else float(minmass),
                OVERLAP_COLUMN: overlap_within_px(result.params),
            }
        )
        if len(table):
            index = table["frame"].to_numpy() - first_analysed(result.summary)
            table["frame"] = acquired[index] + offset
        pieces.append(table)
        pooled_numbers.append(acquired + offset)
        offset += int(acquired[-1]) + 1 + POOL_GAP_FRAMES if acquired.size else 0
    result = analyze_localizations(
        pd.concat(pieces, ignore_index=True),
        sum(len(each) for each in pooled_numbers),
        _pooled_params(results),
        source=f"{n} captures pooled",
        more_tracks=MORE_CAPTURES,
        frame_shape=results[0].frame_shape,
        frame_numbers=np.concatenate(pooled_numbers),
    )
    conditions = _conditions(results, result.params)
    # the pooled result's own record names the labels as the captures give them, not the first's
    result.summary["params"].update({key: conditions[key] for key in MIXED_LABELS})
    return PooledCaptures(result, None, n, conditions)


def _conditions(results: Sequence[AnalysisResult], pooled: Any) -> dict[str, Any]:
    """The conditions of the pooled tracks: the temperature and viscosity they were sized at
    (``pooled``: the captures' mean), each capture's temperature, and each of
    :data:`MIXED_LABELS` as the captures' common value or ``"mixed: a, b"`` (sorted, so that
    the order of the captures does not matter)."""
    labels = {}
    for key in MIXED_LABELS:
        values = sorted({str(getattr(result.params, key)) for result in results})
        labels[key] = values[0] if len(values) == 1 else "mixed: " + ", ".join(values)
    return {
        "temperature_c": pooled.temperature_c,
        "viscosity_pa_s": pooled.viscosity_pa_s,
        "capture_temperatures_c": [r.params.required("temperature_c") for r in results],
        **labels,
    }


def _pooled_params(results: Sequence[AnalysisResult]) -> Any:
    """The captures' parameters made common, none taken from one capture alone (so that the
    order of the captures does not matter): the median search range of the captures with
    tracks (a capture without any chose its range from nothing); the mean temperature,
    viscosity (the solvent's at each capture's temperature when not given), frame interval and
    exposure (they agree to their tolerances); the detection geometry of
    :func:`_pooled_detection`; the highest detection threshold (the threshold's systematic term
    takes each capture's own, :data:`napari_pynta.analysis.THRESHOLD_COLUMN`; this one only
    enters the particles in view); no detection depth, so no particles per mL
    (:data:`SIZES_ONLY`). The linking choices (:data:`SAME_CHOICES`) are the same in every
    capture (:func:`_why_not_pooled`)."""
    params = [result.params for result in results]
    tracked = [r.params for r in results if r.summary.get("n_tracks")] or params
    ranges = [p.search_range_px for p in tracked if p.search_range_px is not None]
    thresholds = [p.minmass for p in params if p.minmass is not None]
    changes: dict[str, Any] = {
        key: float(np.mean([p.required(key) for p in params])) for key in _AVERAGED
    }
    changes["viscosity_pa_s"] = float(np.mean([p.resolved_viscosity_pa_s for p in params]))
    changes["search_range_px"] = float(np.median(ranges)) if ranges else None
    changes["minmass"] = max(thresholds) if thresholds else None
    changes["depth_um"] = None  # no particles per mL of the pooled tracks: :data:`SIZES_ONLY`
    return dataclasses.replace(params[0], **changes, **_pooled_detection(params))


def _pooled_detection(params: Sequence[Any]) -> dict[str, Any]:
    """The feature diameter and separation of the pooled tracks: the widest of the captures'
    (the engines' ``diameter + 1`` for a separation not given), whose edge margin leaves the
    field every capture searched (the steps' edge weights); and the widest join and
    wide-centroid distances (they shape only the concentration, which the pooled tracks do not
    report). Which localizations are left out for a neighbour in their mask is each capture's
    own (:data:`napari_pynta.analysis.OVERLAP_COLUMN`)."""
    joins = [p.split_within_px for p in params if p.split_within_px is not None]
    radii = [p.wide_radius_px for p in params if p.wide_radius_px is not None]
    return {
        "diameter_px": max(_diameter(p) for p in params),
        "separation": max(
            float(_diameter(p) + 1 if p.separation is None else p.separation) for p in params
        ),
        "split_within_px": max(joins) if joins else None,
        "blur_separation": any(p.blur_separation for p in params),
        "wide_centroid": any(p.wide_centroid for p in params),
        "wide_radius_px": max(radii) if radii else None,
    }


def _diameter(params: Any) -> int:
    """The feature diameter a capture was detected with."""
    from napari_pynta.detect import SHARP_DIAMETER_PX

    return int(params.diameter_px or SHARP_DIAMETER_PX)


def _why_not_pooled(results: Sequence[AnalysisResult]) -> str | None:
    """Why these captures cannot be sized together, or None."""
    if len(results) < 2:
        return f"pooling needs at least two captures, got {len(results)}"
    differing = []
    for key, tolerance in POOLED_SETTINGS.items():
        values = [result.params.required(key) for result in results]
        if max(values) > min(values) * (1 + tolerance):
            allowed = f" (at most {100 * tolerance:g} % apart pool)" if tolerance > _EXACT else ""
            differing.append(f"{key} " + ", ".join(f"{v:g}" for v in values) + allowed)
    for key in SAME_CHOICES:
        values = [getattr(result.params, key) for result in results]
        if any(value != values[0] for value in values):
            differing.append(f"{key} " + ", ".join(str(value) for value in values))
    shapes = [result.frame_shape for result in results]
    if any(shape != shapes[0] for shape in shapes):
        differing.append("frame size " + ", ".join(str(shape) for shape in shapes))
    if differing:
        return "the captures differ in " + "; ".join(differing)
    mobility = [  # kT/η, as the diffusion of one size
        physics.diffusion_um2_s(
            100.0, result.params.required("temperature_c"), result.params.resolved_viscosity_pa_s
        )
        for result in results
    ]
    spread = max(mobility) / min(mobility) - 1.0
    if spread > POOL_DIFFUSION_TOLERANCE:
        temperatures = ", ".join(
            f"{result.params.required('temperature_c'):.1f}" for result in results
        )
        return (
            f"the captures' temperature or viscosity differ by {100 * spread:.1f} % in kT/η "
            f"(temperatures {temperatures} °C; at most {100 * POOL_DIFFUSION_TOLERANCE:g} % "
            "pools: one size would diffuse differently in each)"
        )
    return None


def pooled_entry(results: Sequence[AnalysisResult], movies: Sequence[Any]) -> dict[str, Any]:
    """The ``pooled`` entry of a combined result: :func:`pool_captures` of the captures'
    analyses (with each movie's ``frame_numbers``), as :meth:`PooledCaptures.summary`.

    Parameters
    ----------
    results : sequence of AnalysisResult
        Each capture's analysis.
    movies : sequence of Movie
        The captures, in the same order (only their ``frame_numbers`` are read).

    Returns
    -------
    dict
    """
    numbers = [getattr(movie, "frame_numbers", None) for movie in movies]
    return pool_captures(results, numbers).summary()


def describe_pooled(entry: dict[str, Any] | None) -> list[str]:
    """The ``pooled`` entry (:func:`pooled_entry`) in words: a line with the tracks and the
    peaks (± their standard errors, with the shares of the particles when several, and whether
    each depends on the linking) that says it gives sizes only (:data:`SIZES_ONLY`), then its
    warnings; empty for None.

    Parameters
    ----------
    entry : dict or None
        The ``pooled`` entry of a combined result.

    Returns
    -------
    list of str
    """
    if entry is None:
        return []
    if entry["reason"] is not None:
        return [f"not pooled: {entry['reason']}"]
    deconvolved = entry.get("deconvolved_nm") or {}
    peaks = deconvolved.get("peaks") or []
    errors = deconvolved.get("peak_se") or [None] * len(peaks)
    shares = deconvolved.get("peak_number_fractions") or []
    depends = deconvolved.get("peak_depends_on_linking") or [False] * len(peaks)
    texts = []
    for index, (peak, error) in enumerate(zip(peaks, errors, strict=True)):
        text = f"{peak:.0f}" + (f" ± {error:.0f}" if error is not None else "") + " nm"
        notes = [f"{shares[index]:.0%} of the particles"] if shares else []
        if depends[index]:
            notes.append("depends on the linking")
        if notes:
            text += f" ({'; '.join(notes)})"
        texts.append(text)
    line = (
        f"pooled: the {entry['n_tracks']} tracks of the {entry['n_captures']} captures sized "
        "together: "
        + (
            f"peak{'s' if len(texts) > 1 else ''} {', '.join(texts)}"
            if texts
            else "no size distribution"
        )
        + f" ({SIZES_ONLY})"
        + _mixed_note(entry.get("conditions") or {})
    )
    return [line] + [f"warning: {warning}" for warning in entry.get("warnings") or []]


def _mixed_note(conditions: dict[str, Any]) -> str:
    """What the pooled line says of captures recorded at different temperatures or with
    different labels (:data:`MIXED_LABELS`): ``"; captures at 22.0 to 22.5 °C sized at their
    mean 22.2 °C; mixed solvent: PBS, water"``; empty when they agree."""
    notes = []
    temperatures = conditions.get("capture_temperatures_c") or []
    if temperatures and max(temperatures) > min(temperatures):
        notes.append(
            f"captures at {min(temperatures):.1f} to {max(temperatures):.1f} °C sized at their "
            f"mean {conditions['temperature_c']:.1f} °C"
        )
    notes += [
        f"mixed {label}: {str(conditions[key]).removeprefix('mixed: ')}"
        for key, label in MIXED_LABELS.items()
        if str(conditions.get(key, "")).startswith("mixed: ")
    ]
    return "".join(f"; {note}" for note in notes)
