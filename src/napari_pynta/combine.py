"""Replicate captures of one sample combined the way NTA labs report them: mean ± standard error.

A lab records 3–5 captures of a diluted sample and quotes each number as the mean over the
captures ± its standard error (SD across captures / √n). :func:`combine_summaries` does that for
the deconvolved D10/D50/D90 and mode, the ensemble diameter, the particles per frame and the
concentration of the undiluted sample (measured × dilution factor, see
:mod:`napari_pynta.sample`). A capture that sized no track is a failed measurement: it enters
none of these numbers (:func:`left_out_reason`), and the warnings name it and say why.
:func:`combined_distribution` gives the mean ± SE of the size distribution on a fixed grid, for
plots and tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_pynta.errors import PyntaInputError

Summary = Mapping[str, Any]


def _deconvolved(key: str) -> Callable[[Summary], Any]:
    return lambda summary: (summary.get("deconvolved_nm") or {}).get(key)


def _concentration(key: str) -> Callable[[Summary], Any]:
    return lambda summary: (summary.get("concentration") or {}).get(key)


#: combined quantity -> how to read it from one capture's analysis summary
COMBINED_QUANTITIES: dict[str, Callable[[Summary], Any]] = {
    "d10_nm": _deconvolved("d10"),
    "d50_nm": _deconvolved("d50"),
    "d90_nm": _deconvolved("d90"),
    "mode_nm": _deconvolved("mode"),
    "ensemble_diameter_nm": lambda summary: summary.get("diameter_nm"),
    "particles_per_frame": lambda summary: summary.get("particles_per_frame"),
    "particles_in_view_per_frame": _concentration("particles_in_view_per_frame"),
    "concentration_per_ml": _concentration("sample_particles_per_ml"),
}


#: the combined quantities in words, for the warnings about captures that gave none
QUANTITY_LABELS: dict[str, str] = {
    "d10_nm": "D10",
    "d50_nm": "D50",
    "d90_nm": "D90",
    "mode_nm": "mode",
    "ensemble_diameter_nm": "ensemble diameter",
    "particles_per_frame": "particles per frame",
    "particles_in_view_per_frame": "particles in view per frame",
    "concentration_per_ml": "particles/mL",
}


def mean_se(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and standard error of the mean of the known values.

    Parameters
    ----------
    values : sequence of float or None
        One value per capture; None and NaN (unknown) are left out.

    Returns
    -------
    dict
        ``{"mean", "se", "n"}``: ``se`` = sample SD / √n (None for fewer than two values),
        ``mean`` None when no value is known.
    """
    known = np.array([v for v in values if _known(v)], dtype=float)
    n = int(known.size)
    mean = float(known.mean()) if n else None
    se = float(known.std(ddof=1) / math.sqrt(n)) if n >= 2 else None
    return {"mean": mean, "se": se, "n": n}


def left_out_reason(summary: Summary) -> str | None:
    """Why a capture is left out of every combined quantity; None for a capture that sized.

    A capture that sized no track is a failed measurement: its particles per frame (often 0, or
    what a failed detection found) and its concentration are no measurement of the sample
    either, so it enters no mean. The batch table marks the same captures ``unsized``.

    Parameters
    ----------
    summary : dict
        One capture's analysis summary.

    Returns
    -------
    str or None
        The summary's ``unsized_reason`` when set; a short reason for a summary without one
        that has no size at all (no ensemble diameter and no deconvolved D50); else None.
    """
    reason = summary.get("unsized_reason")
    if reason:
        return str(reason)
    if not _known(summary.get("diameter_nm")) and not _known(_deconvolved("d50")(summary)):
        return "it gave no size (no ensemble diameter and no size distribution)"
    return None


def combine_summaries(summaries: Sequence[Summary]) -> dict[str, Any]:
    """Combine the analysis summaries of replicate captures of one sample.

    Parameters
    ----------
    summaries : sequence of dict
        ``AnalysisResult.summary`` of each capture (with its ``sample`` attached).

    Returns
    -------
    dict
        ``n_captures`` (all the captures given), ``n_combined`` (those that entered: the
        captures that sized), ``left_out`` (one ``{"capture", "source", "reason"}`` per capture
        that sized no track, :func:`left_out_reason`; ``capture`` counts from 1), ``sample``
        (the captures' common sample fields; a field on which they disagree is listed with all
        its values), ``warnings`` (one line per capture left out, saying why, and one per
        capture that gave no value for a quantity the others have: its name, its track count
        and on how many captures the combined value then rests), and for every key of
        :data:`COMBINED_QUANTITIES` a :func:`mean_se` entry over the captures that sized
        (``n`` says how many gave the value). ``concentration_per_ml`` is the concentration of
        the undiluted sample (None without a detection depth): the dilution factor times the
        mean ± SE of the measured concentrations when all those captures share one dilution,
        else the mean ± SE of each capture's diluted-back concentration.

    Raises
    ------
    PyntaInputError
        When there is no capture to combine.
    """
    if not summaries:
        raise PyntaInputError("--combine needs at least one analysed capture")
    reasons = [left_out_reason(summary) for summary in summaries]
    sized = [summary for summary, reason in zip(summaries, reasons, strict=True) if not reason]
    combined: dict[str, Any] = {
        "n_captures": len(summaries),
        "n_combined": len(sized),
        "left_out": [
            {"capture": index + 1, "source": summary.get("source"), "reason": reason}
            for index, (summary, reason) in enumerate(zip(summaries, reasons, strict=True))
            if reason
        ],
        "sample": _common_sample(summaries),
    }
    for name, read in COMBINED_QUANTITIES.items():
        combined[name] = mean_se([read(summary) for summary in sized])
    dilutions = {(s.get("concentration") or {}).get("dilution_factor") for s in sized}
    if len(dilutions) == 1 and None not in dilutions:
        # one dilution: the sample's concentration is exactly it times the measured mean ± SE
        (dilution,) = dilutions
        measured = mean_se([_concentration("particles_per_ml")(s) for s in sized])
        combined["concentration_per_ml"] = {
            "mean": None if measured["mean"] is None else dilution * measured["mean"],
            "se": None if measured["se"] is None else dilution * measured["se"],
            "n": measured["n"],
        }
    combined["warnings"] = _left_out_warnings(combined) + _missing_warnings(
        summaries, reasons, combined
    )
    return combined


def _left_out_warnings(combined: Mapping[str, Any]) -> list[str]:
    """One line per capture left out of the combined values (its name and why), then, when
    none is left, that there is no combined value."""
    n_captures, n_combined = combined["n_captures"], combined["n_combined"]
    rest = (
        f"the combined values rest on the other {n_combined} of {n_captures} captures"
        if n_combined
        else "no capture is left to combine"
    )
    warnings = [
        f"capture {entry['capture']} ({_name(entry['source'])}) is left out of every combined "
        f"value, as it sized no track ({rest}): {entry['reason']}"
        for entry in combined["left_out"]
    ]
    if n_combined == 0:
        warnings.append(
            f"none of the {n_captures} captures sized a track: there is no combined value"
        )
    elif n_combined == 1 and n_captures > 1:
        warnings.append("one capture sized: the combined values have no standard error")
    return warnings


def _missing_warnings(
    summaries: Sequence[Summary], reasons: Sequence[str | None], combined: Mapping[str, Any]
) -> list[str]:
    """A capture that sized but lacks a value the other sized captures have makes the mean ± SE
    rest on fewer captures: say which capture, why (its tracks) and on how many the numbers
    rest."""
    n_combined, n_captures = combined["n_combined"], combined["n_captures"]
    warnings = []
    partial = [k for k in COMBINED_QUANTITIES if 0 < combined[k]["n"] < n_combined]
    for index, (summary, reason) in enumerate(zip(summaries, reasons, strict=True)):
        missing = [k for k in partial if not _known(COMBINED_QUANTITIES[k](summary))]
        if reason or not missing:
            continue
        counts = sorted({combined[k]["n"] for k in missing})
        rests = " or ".join(str(n) for n in counts)
        warning = (
            f"capture {index + 1} ({_name(summary.get('source'))}) gave no "
            f"{', '.join(QUANTITY_LABELS[k] for k in missing)}"
            f" ({summary.get('n_tracks', 'unknown')} tracks): each rests on {rests} of "
            f"{n_captures} captures"
        )
        if counts[0] == 1:
            warning += ", and one capture has no standard error"
        warnings.append(warning)
    return warnings


def sized_only(items: Sequence[Any], summaries: Sequence[Summary]) -> list[Any]:
    """The items (e.g. analysis results, movies) of the captures that sized, in order.

    Parameters
    ----------
    items : sequence
        One item per capture, in the order of ``summaries``.
    summaries : sequence of dict
        The captures' analysis summaries.

    Returns
    -------
    list
        The items whose capture :func:`left_out_reason` does not leave out.
    """
    return [
        item
        for item, summary in zip(items, summaries, strict=True)
        if left_out_reason(summary) is None
    ]


def captures_combined(combined: Mapping[str, Any]) -> str:
    """How many captures a :func:`combine_summaries` result combines, in words.

    Parameters
    ----------
    combined : dict
        Output of :func:`combine_summaries`.

    Returns
    -------
    str
        ``"3 captures"``, or ``"2 of 3 captures"`` when a capture was left out.
    """
    n_captures = combined["n_captures"]
    n_combined = combined["n_combined"]
    if n_combined == n_captures:
        return f"{n_captures} capture{'s' if n_captures != 1 else ''}"
    return f"{n_combined} of {n_captures} captures"


def _name(source: Any) -> str:
    return Path(str(source or "")).name


def _known(value: Any) -> bool:
    return value is not None and math.isfinite(value)


def _common_sample(summaries: Sequence[Summary]) -> dict[str, Any]:
    keys = dict.fromkeys(key for summary in summaries for key in summary.get("sample") or {})
    common: dict[str, Any] = {}
    for key in keys:
        values = [(summary.get("sample") or {}).get(key) for summary in summaries]
        common[key] = values[0] if all(value == values[0] for value in values) else values
    return common


def combined_distribution(fractions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean ± standard error over captures of a distribution given on one fixed grid.

    Parameters
    ----------
    fractions : sequence of ndarray
        One array per capture, all of the same length (e.g. fraction or concentration per bin).

    Returns
    -------
    mean, se : ndarray
        Per bin; ``se`` is NaN for a single capture.
    """
    stack = np.asarray([np.asarray(f, dtype=float) for f in fractions])
    if stack.ndim != 2 or stack.shape[0] == 0:
        raise PyntaInputError("distributions to combine must be >= 1 arrays of one common length")
    n = stack.shape[0]
    se = stack.std(axis=0, ddof=1) / math.sqrt(n) if n >= 2 else np.full(stack.shape[1], np.nan)
    return stack.mean(axis=0), se
