"""Record until precise: when is a live size estimate precise enough to stop recording?

The measure is the relative standard error of the **deconvolved D50** (``d50_se / d50`` of the
summary's ``deconvolved_nm``). That standard error is the spread of D50 over the bootstrap
resamples of the tracks that the deconvolution runs anyway to test its peaks
(:func:`napari_pynta.deconvolve.bootstrap_distributions`, 30 resamples), so it costs nothing more
and contains everything that varies from track to track: the sample's polydispersity, each
track's noise and the deconvolution itself. With 30 resamples the standard error is itself known
to about 13 %. No decision is taken on fewer than :data:`MIN_TRACKS` tracks.

The ensemble diameter's relative standard error (:func:`relative_se`, a jackknife over tracks)
was the measure before; it is still reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from napari_pynta.errors import PyntaInputError

#: fewest tracks before a precision can stop a recording
MIN_TRACKS = 50


def _ratio(numerator: Any, denominator: Any) -> float | None:
    if numerator is None or not denominator:
        return None
    value = numerator / denominator
    return value if math.isfinite(value) else None


def d50_relative_se(
    summary: Mapping[str, Any] | None, min_tracks: int = MIN_TRACKS
) -> float | None:
    """Relative standard error of the deconvolved D50 of an analysis summary.

    Returns
    -------
    float or None
        ``deconvolved_nm.d50_se / deconvolved_nm.d50``; None while there are fewer than
        ``min_tracks`` tracks or no deconvolved D50 with a standard error yet.
    """
    if not summary or (summary.get("n_tracks") or 0) < min_tracks:
        return None
    deconvolved = summary.get("deconvolved_nm") or {}
    return _ratio(deconvolved.get("d50_se"), deconvolved.get("d50"))


def relative_se(summary: Mapping[str, Any] | None) -> float | None:
    """Relative standard error of the ensemble diameter of an analysis summary (informative).

    Returns
    -------
    float or None
        ``diameter_se_nm / diameter_nm``; None while there are fewer than :data:`MIN_TRACKS`
        tracks or no diameter yet.
    """
    if not summary or (summary.get("n_tracks") or 0) < MIN_TRACKS:
        return None
    return _ratio(summary.get("diameter_se_nm"), summary.get("diameter_nm"))


def check_target(target: Any) -> float:
    """Validate a relative precision target: a number in (0, 1)."""
    try:
        number = float(target)
    except (TypeError, ValueError):
        number = math.nan
    if not 0 < number < 1:
        raise PyntaInputError(
            f"--until-precision must be a relative standard error between 0 and 1 (0.02 = 2 %), "
            f"got {target!r}"
        )
    return number


def precise_enough(summary: Mapping[str, Any] | None, target: float) -> bool:
    """True when :func:`d50_relative_se` of ``summary`` is known and at most ``target``."""
    value = d50_relative_se(summary)
    return value is not None and value <= target
