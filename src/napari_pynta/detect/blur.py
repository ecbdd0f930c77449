"""Automatic feature diameter: a mask that holds the particle's exposure streak.

A particle imaged during an exposure ``τ`` moves while the camera integrates: its image is the
PSF smeared along the path (a streak) and its true position is the exposure-averaged one. The
refinement's centroid mask (radius ``diameter // 2``) must hold that streak, or the centroid of
a smeared image falls on the part of the streak inside the mask, pixels away from the true
position, and the dimmest, most smeared images drop under the threshold (docs/accuracy.md).

For Brownian motion with diffusion coefficient ``D`` the positions during the exposure spread
about their mean by ``D τ / 3`` per axis, while the exposure-averaged positions of consecutive
frames (interval ``Δt``) differ by ``2 D (Δt − τ / 3)`` per axis: the streak's spread follows
from the rms step between frames, which a pilot linking measures
(:func:`napari_pynta.analysis.choose_diameter`). The mask radius adds
:data:`STREAK_WIDTHS` streak standard deviations in quadrature to the radius that suits a sharp
spot (:data:`SHARP_DIAMETER_PX`), so slow particles keep the sharp-spot mask (a wider mask only
adds noise and merges close pairs) and small, fast ones get a mask that holds their streak.

The same streak can set how far apart two features must be to count as two particles
(:func:`blur_separation_px`, the ``blur_separation`` option): a smeared image often shows two
local maxima along its streak, and kept apart at the sharp spot's separation both are features,
the linker follows the nearer one and the particle's large steps are lost (docs/accuracy.md,
"Separation for smeared particles").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from napari_pynta.errors import PyntaInputError

#: the feature diameter for a sharp spot (no motion blur): the default of the engines
SHARP_DIAMETER_PX = 7
#: the automatic mask radius holds this many streak standard deviations (in quadrature with
#: the sharp spot's radius)
STREAK_WIDTHS = 2.0
#: the largest automatic diameter
MAX_AUTOMATIC_DIAMETER_PX = 15
#: the separation of features found with an automatic diameter: the sharp spot's (the engines'
#: ``diameter + 1``), so that a wider mask does not merge close particles; localizations whose
#: wider mask holds a neighbour are left out of the sizes (:mod:`napari_pynta.detect.overlap`)
AUTOMATIC_SEPARATION_PX = SHARP_DIAMETER_PX + 1.0


def streak_sd_px(rms_step_px: float, exposure_s: float, frame_interval_s: float) -> float:
    """Per-axis spread of a Brownian particle's positions during the exposure about their mean.

    Parameters
    ----------
    rms_step_px : float
        Per-axis rms displacement of the exposure-averaged positions between consecutive frames
        (pixels); localization noise makes it, and the result, slightly larger.
    exposure_s, frame_interval_s : float
        Exposure ``τ`` and frame interval ``Δt`` (``0 < τ ≤ Δt``).

    Returns
    -------
    float
        ``sqrt(D τ / 3)`` in pixels with ``D`` from ``rms_step_px² = 2 D (Δt − τ / 3)``
        (NaN when ``rms_step_px`` is).
    """
    if not 0 < exposure_s <= frame_interval_s:
        raise PyntaInputError(
            f"exposure_s ({exposure_s:g} s) must be > 0 and at most frame_interval_s "
            f"({frame_interval_s:g} s)",
            "exposure_s",
        )
    return rms_step_px * math.sqrt(exposure_s / (6.0 * (frame_interval_s - exposure_s / 3.0)))


def blur_diameter_px(streak_sd: float) -> int:
    """The odd feature diameter whose mask holds a streak of this spread.

    ``radius = round(hypot(SHARP_DIAMETER_PX // 2, STREAK_WIDTHS · streak_sd))``, diameter
    ``2 radius + 1`` within ``SHARP_DIAMETER_PX .. MAX_AUTOMATIC_DIAMETER_PX``; a spread that
    could not be measured (NaN) gives the sharp-spot diameter.
    """
    if not math.isfinite(streak_sd):
        return SHARP_DIAMETER_PX
    radius = round(math.hypot(SHARP_DIAMETER_PX // 2, STREAK_WIDTHS * streak_sd))
    return int(min(max(2 * radius + 1, SHARP_DIAMETER_PX), MAX_AUTOMATIC_DIAMETER_PX))


def blur_separation_px(streak_sd: float, diameter_px: int) -> float:
    """The separation of features that keeps the two maxima of one smeared image together.

    The engines' rule, ``diameter + 1``, applied to the mask that holds the streak: features
    closer than ``max(diameter_px, blur_diameter_px(streak_sd)) + 1`` are one particle (of the
    two the engines keep the brighter). Sharp spots keep ``diameter_px + 1``.

    Parameters
    ----------
    streak_sd : float
        The exposure streak's per-axis spread, px (:func:`streak_sd_px`; NaN: not measured).
    diameter_px : int
        The feature diameter used.

    Returns
    -------
    float
        The separation, px.
    """
    return float(max(int(diameter_px), blur_diameter_px(streak_sd)) + 1)


def edge_margin_px(
    diameter_px: int, separation_px: float | None, smoothing_px: int | None = None
) -> int:
    """Pixels from each edge of the frame in which the engines find no feature (trackpy's rule).

    ``max(diameter // 2, int(separation) // 2 - 1, smoothing // 2)`` (separation: ``diameter +
    1`` when None; smoothing: the diameter when None): a wider separation searches a smaller
    field, which the counts in view and the steps' edge weights take into account.
    """
    separation = diameter_px + 1.0 if separation_px is None else float(separation_px)
    smoothing = diameter_px if smoothing_px is None else smoothing_px
    return max(int(diameter_px) // 2, int(separation) // 2 - 1, int(smoothing) // 2)


@dataclass(frozen=True)
class DiameterChoice:
    """The feature diameter and separation used and what they were chosen from.

    Attributes
    ----------
    diameter_px : int
        The diameter used.
    automatic : bool
        False when the user gave it.
    rms_step_px : float
        Per-axis rms step of the pilot tracks (NaN when no pilot ran, i.e. the user gave both
        the diameter and the separation, or when not measurable).
    streak_sd_px : float
        The exposure streak's spread derived from it (:func:`streak_sd_px`).
    spot_sigma_px : float
        The spots' measured PSF sigma (:mod:`napari_pynta.detect.spot`; NaN when not measured).
    widened_for : str
        Why the diameter was widened to hold the spots ("" when it was not).
    separation_px : float or None
        The separation chosen: one that holds that streak when asked for
        (:func:`blur_separation_px`), else the sharp spot's for an automatic diameter
        (:data:`AUTOMATIC_SEPARATION_PX`); None: the user's, or the engines' ``diameter + 1``
        (also for a diameter widened to hold the spots, which are then that wide).
    split_within_px : float or None
        With the blur separation: features closer than this that are the maxima of one smeared
        image are joined (:func:`blur_separation_px`;
        :func:`napari_pynta.detect.split_images.merge_split_images`); None: none are.
    """

    diameter_px: int
    automatic: bool
    rms_step_px: float = math.nan
    streak_sd_px: float = math.nan
    separation_px: float | None = None
    spot_sigma_px: float = math.nan
    widened_for: str = ""
    split_within_px: float | None = None

    def note(self) -> str | None:
        """A plain-language note when the diameter was widened to hold the spots, else None."""
        if not self.widened_for:
            return None
        return (
            f"The spots are wider than the {SHARP_DIAMETER_PX} px feature mask holds "
            f"({self.widened_for}): its centroids would be pulled to the mask's centre (positions "
            "locked to the pixel grid, sizes too large or a mixture's bright population wrong), "
            f"so the feature diameter was widened to {self.diameter_px} px. An explicit "
            "--diameter-px is kept as given."
        )

    def as_dict(self) -> dict[str, float | int | bool | str]:
        """JSON-ready values (in ``summary["detection"]``)."""
        return {
            "diameter_px": self.diameter_px,
            "automatic_diameter": self.automatic,
            "pilot_rms_step_px": self.rms_step_px,
            "streak_sd_px": self.streak_sd_px,
            "separation_px": math.nan if self.separation_px is None else self.separation_px,
            "split_within_px": math.nan if self.split_within_px is None else self.split_within_px,
            "spot_sigma_px": self.spot_sigma_px,
            "diameter_widened_for": self.widened_for,
        }
