"""Whether the detections persist from frame to frame: particles do, noise does not.

A particle in focus is found again in the next frame within the distance it can move (the
linking search range); a noise maximum is not: the noise of each frame is new, so what
detections of noise find in the next frame is what chance puts there. The share of detections
with a partner in the next frame *beyond chance* (:func:`detection_persistence`) is therefore
about the chance of a particle staying in focus from one frame to the next (0.62-0.96 on the
simulated movies of docs/accuracy.md, "Movies without particles (n25)") and 0 for noise
(-0.19 to +0.10 on movies of white, smoothed and hot-pixel noise). Below
:data:`MIN_PERSISTENT_SHARE`, by more than :data:`SIGNIFICANCE_SE` standard errors, the tracks
are noise linked at random and the movie is not sized (:attr:`Persistence.is_noise`).

Chance is counted from the density of the next frame's detections over the field (where the
detector finds features: the frame less its edge margin; without it the smallest rectangle
holding all detections), in the square of half-side the search range around each detection,
cut by the field's edges (with a flow taken out, the field moves with it). A field lit or
found unevenly puts more chance partners near a detection than the uniform density does, which
makes noise look persistent (the verdict then does not fire: the safe side).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from napari_pynta import link
from napari_pynta.sizing import cli_flag

#: share of detections persisting beyond chance below which they are noise (particles in focus
#: persist with their chance of staying in focus, at least 0.62 on the simulated movies)
MIN_PERSISTENT_SHARE = 0.25
#: standard errors by which the share must lie below :data:`MIN_PERSISTENT_SHARE`
SIGNIFICANCE_SE = 2.0


@dataclass(frozen=True)
class Persistence:
    """How many detections are found again in the next frame beyond chance (the summary's
    ``persistence``).

    Attributes
    ----------
    share : float
        Partners in the next frame per detection, less those chance puts there: about the
        share of detections that are particles found again.
    share_se : float
        Its standard error (the Poisson error of the partners found, counted as one more: a
        handful of detections that found none says nothing).
    chance_per_detection : float
        Partners chance puts near a detection (the uniform density of the next frame's
        detections times the searched square within the field).
    n_detections : int
        Detections that have a next frame to be found in.
    radius_px : float
        Half-side of the square searched (the linking search range).
    """

    share: float
    share_se: float
    chance_per_detection: float
    n_detections: int
    radius_px: float

    @property
    def is_noise(self) -> bool:
        """True when the share lies below :data:`MIN_PERSISTENT_SHARE` by more than
        :data:`SIGNIFICANCE_SE` standard errors: the detections are noise."""
        return bool(self.share + SIGNIFICANCE_SE * self.share_se < MIN_PERSISTENT_SHARE)

    def reason(self, name: Callable[[str], str] = cli_flag) -> str:
        """Why the movie is not sized, in numbers, and what to check.

        Parameters
        ----------
        name : callable
            Setting name (of :data:`napari_pynta.parameters.SETTINGS`) -> how the text names
            it: the command-line flag by default (:func:`napari_pynta.sizing.cli_flag`); the
            GUI passes its form's labels.

        Returns
        -------
        str
            One warning (the summary's ``unsized_reason`` is said with the flags).
        """
        return (
            "Not sized: the detections do not persist from frame to frame as particles do. "
            f"Of {self.n_detections} detections, {self.share:.0%} ± {self.share_se:.0%} are "
            f"found again in the next frame within the search range ({self.radius_px:.3g} px) "
            f"beyond the {self.chance_per_detection:.2g} per detection that chance puts there "
            f"(particles in focus: 60-100 %; below {MIN_PERSISTENT_SHARE:.0%} they are noise, "
            "and tracks of noise linked at random give a meaningless size). Look at the "
            "frames: check the focus and the illumination, and whether particles are visible; "
            f"if the detections are noise, raise {name('minmass')}."
        )


def detection_persistence(
    localizations: pd.DataFrame,
    radius_px: float,
    flow: pd.DataFrame | None = None,
    field_px: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> Persistence | None:
    """The share of detections found again in the next frame beyond chance.

    Parameters
    ----------
    localizations : pandas.DataFrame
        Detections (``frame``, ``y``, ``x``; pixels), all of the frames analysed.
    radius_px : float
        Half-side of the square around a detection searched in the next frame (the linking
        search range: how far a particle can move in a frame).
    flow : pandas.DataFrame, optional
        Cumulative ``y``, ``x`` (pixels) by frame of a flow taken out before linking
        (:func:`napari_pynta.analysis.flow_for_linking`); taken out here too.
    field_px : ((float, float), (float, float)), optional
        ``((top, left), (bottom, right))`` (pixels) of the field chance spreads the detections
        over: where the detector finds features. Without it, the smallest rectangle holding
        them (a few particles that cover little of the frame then count more chance partners
        than there are: their share comes out lower).

    Returns
    -------
    Persistence or None
        None when no detection has a next frame (fewer than two consecutive frames with
        detections).
    """
    if not math.isfinite(radius_px) or radius_px <= 0:
        raise ValueError(f"radius_px must be a positive number of pixels, got {radius_px!r}")
    measured = localizations[["y", "x"]].to_numpy(np.float64)
    if not len(measured):
        return None
    moved = localizations if flow is None else link.without_flow(localizations, flow)
    positions = moved[["y", "x"]].to_numpy(np.float64)
    low, high = (
        (measured.min(axis=0), measured.max(axis=0))
        if field_px is None
        else (np.asarray(field_px[0], np.float64), np.asarray(field_px[1], np.float64))
    )
    area = float(np.prod(np.maximum(high - low, 1.0)))
    rows_of = {int(frame): rows for frame, rows in moved.groupby("frame").indices.items()}
    found = chance = 0.0
    n_detections = 0
    for frame, rows in rows_of.items():
        after = rows_of.get(frame + 1)
        if after is None:
            continue
        here, there = positions[rows], positions[after]
        n_detections += len(here)
        found += float(
            cKDTree(there).query_ball_point(here, radius_px, p=np.inf, return_length=True).sum()
        )
        # the field as the next frame saw it, in the frame of the flow taken out
        shift = positions[after[0]] - measured[after[0]]
        inside = np.minimum(here + radius_px, high + shift) - np.maximum(
            here - radius_px, low + shift
        )
        chance += len(there) / area * float(np.prod(np.clip(inside, 0.0, None), axis=1).sum())
    if not n_detections:
        return None
    return Persistence(
        share=(found - chance) / n_detections,
        # the Poisson error of the partners found (chance is computed, not counted); + 1: no
        # count is known better than by one
        share_se=math.sqrt(found + 1.0) / n_detections,
        chance_per_detection=chance / n_detections,
        n_detections=n_detections,
        radius_px=float(radius_px),
    )
