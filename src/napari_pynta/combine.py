"""Replicate captures of one sample combined the way NTA labs report them: mean ± standard error.

A lab records 3–5 captures of a diluted sample and quotes each number as the mean over the
captures ± its standard error (SD across captures / √n). :func:`combine_summaries` does that for
the deconvolved D10/D50/D90 and mode, the ensemble diameter, the particles per frame and the
concentration of the undiluted sample (measured × dilution factor, see
:mod:`napari_pynta.sample`). :func:`combined_distribution` gives the mean ± SE of the size
distribution on a fixed grid, for plots and tables.
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


def combine_summaries(summaries: Sequence[Summary]) -> dict[str, Any]:
    """Combine the analysis summaries of replicate captures of one sample.

    Parameters
    ----------
    summaries : sequence of dict
        ``AnalysisResult.summary`` of each capture (with its ``sample`` attached).

    Returns
    -------
    dict
        ``n_captures``, ``sample`` (the captures' common sample fields; a field on which they
        disagree is listed with all its values), ``warnings`` (one line per capture that gave
        no value for a quantity the others have, e.g. no tracks: its name, its track count and
        on how many captures the combined value then rests), and for every key of
        :data:`COMBINED_QUANTITIES` a :func:`mean_se` entry. ``concentration_per_ml`` is the
        concentration of the undiluted sample (None without a detection depth): the dilution
        factor times the mean ± SE of the measured concentrations when all captures share one
        dilution, else the mean ± SE of each capture's diluted-back concentration.

    Raises
    ------
    PyntaInputError
        When there is no capture to combine.
    """
    if not summaries:
        raise PyntaInputError("--combine needs at least one analysed capture")
    combined: dict[str, Any] = {"n_captures": len(summaries), "sample": _common_sample(summaries)}
    for name, read in COMBINED_QUANTITIES.items():
        combined[name] = mean_se([read(summary) for summary in summaries])
    dilutions = {(s.get("concentration") or {}).get("dilution_factor") for s in summaries}
    if len(dilutions) == 1 and None not in dilutions:
        # one dilution: the sample's concentration is exactly it times the measured mean ± SE
        (dilution,) = dilutions
        measured = mean_se([_concentration("particles_per_ml")(s) for s in summaries])
        combined["concentration_per_ml"] = {
            "mean": None if measured["mean"] is None else dilution * measured["mean"],
            "se": None if measured["se"] is None else dilution * measured["se"],
            "n": measured["n"],
        }
    combined["warnings"] = _missing_warnings(summaries, combined)
    return combined


def _missing_warnings(summaries: Sequence[Summary], combined: Mapping[str, Any]) -> list[str]:
    """A capture without a value the other captures have makes the mean ± SE rest on fewer
    captures: say which capture, why (its tracks) and on how many the numbers rest."""
    n_captures = len(summaries)
    warnings = []
    if combined["ensemble_diameter_nm"]["n"] == 0:  # every capture unsized: no size at all
        warnings.append(
            f"none of the {n_captures} captures sized a track: the combined sizes are empty"
        )
    partial = [k for k in COMBINED_QUANTITIES if 0 < combined[k]["n"] < n_captures]
    for index, summary in enumerate(summaries):
        missing = [k for k in partial if not _known(COMBINED_QUANTITIES[k](summary))]
        if not missing:
            continue
        name = Path(str(summary.get("source") or "")).name
        counts = sorted({combined[k]["n"] for k in missing})
        rests = " or ".join(str(n) for n in counts)
        warning = (
            f"capture {index + 1} ({name}) gave no {', '.join(QUANTITY_LABELS[k] for k in missing)}"
            f" ({summary.get('n_tracks', 'unknown')} tracks): each rests on {rests} of "
            f"{n_captures} captures"
        )
        if counts[0] == 1:
            warning += ", and one capture has no standard error"
        warnings.append(warning)
    return warnings


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
