"""Record until precise: when is a live size estimate precise enough to stop recording?

The measure is the relative standard error of the ensemble diameter (``diameter_se_nm /
diameter_nm`` of the live summary). That standard error is a leave-one-track-out jackknife over
the tracks, so it contains the track-to-track spread of a polydisperse sample as well as the
noise of each track, and it shrinks as 1/√(tracks) while the recording goes on. The deconvolved
D50 has no live standard error (it would need the deconvolution bootstrapped on every update);
the ensemble diameter is its stand-in. No decision is taken on fewer than
:data:`MIN_TRACKS` tracks, where a jackknife error is itself too uncertain to trust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from napari_pynta.errors import PyntaInputError

#: fewest tracks before a precision can stop a recording
MIN_TRACKS = 50


def relative_se(summary: Mapping[str, Any] | None) -> float | None:
    """Relative standard error of the ensemble diameter of an analysis summary.

    Returns
    -------
    float or None
        ``diameter_se_nm / diameter_nm``; None while there are fewer than :data:`MIN_TRACKS`
        tracks or no diameter yet.
    """
    if not summary:
        return None
    diameter, se = summary.get("diameter_nm"), summary.get("diameter_se_nm")
    if (summary.get("n_tracks") or 0) < MIN_TRACKS or not diameter or se is None:
        return None
    value = se / diameter
    return value if math.isfinite(value) else None


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
    """True when :func:`relative_se` of ``summary`` is known and at most ``target``."""
    value = relative_se(summary)
    return value is not None and value <= target
