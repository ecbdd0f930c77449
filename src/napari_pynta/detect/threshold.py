"""Automatic detection threshold (``minmass``) from a noise model of the frames.

Every local maximum of the image noise is a candidate feature; ``minmass`` must keep the noise
candidates out and every particle the noise allows in. The frames give the noise model: the
background level (median) and the noise per pixel (the white noise that has the frames' robust
spread after a band-pass like the detection's). Frames of that
noise alone (white, Gaussian, rounded to the camera's integers) go through the same engine,
band-pass and mask as the movie, which gives the masses that noise alone produces and how many
noise maxima there are per pixel. ``minmass`` is the mass that noise exceeds at a stated rate,
:data:`FALSE_DETECTIONS_PER_MEGAPIXEL` false features per frame and million pixels; the far tail
of the noise masses is extrapolated from the largest :data:`TAIL_SAMPLES` with an exponential law
(conservative: the tail of a sum of pixel noises falls faster).

The same sampled frames give a completeness diagnostic: candidates of the movie under the
threshold in excess of what noise explains are particles the threshold cuts (a dim population);
:meth:`ThresholdEstimate.warning` says so and which ``minmass`` would include them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from napari_pynta.detect.blur import DiameterChoice
from napari_pynta.detect.columns import as_detected
from napari_pynta.detect.contrast import ContrastTails, contrast_tails, reversed_contrast_warning
from napari_pynta.errors import PyntaInputError
from napari_pynta.robust import MAD_TO_SD

#: frames sampled by :func:`estimate_threshold`
MINMASS_SAMPLE_FRAMES = 10
#: automatic minmass: noise alone gives this many false features per frame and 10^6 pixels
FALSE_DETECTIONS_PER_MEGAPIXEL = 1.0
#: pixels of synthetic noise analysed (in tiles of at most TILE_PX x TILE_PX)
NOISE_PIXELS = 2**19
NOISE_TILE_PX = 256
NOISE_SEED = 20260
#: number of largest noise masses the exponential tail is fitted to
TAIL_SAMPLES = 100
#: the completeness diagnostic looks at candidates between the mass where noise gives this many
#: false features per frame and 10^6 pixels and the threshold ...
DIM_BAND_FALSE_PER_MEGAPIXEL = 100.0
#: ... and warns when their excess over noise is this fraction of the features kept, or more,
CUT_POPULATION_FRACTION = 0.1
#: ... and this many Poisson standard deviations of the noise candidates expected there (a
#: frame of noise alone, 64 x 64 px, showed an excess of 0.3 candidates per frame)
CUT_SIGNIFICANCE_SD = 3.0
#: a suggested minmass keeps detections at least this fraction real; a given minmass whose
#: noise features are more than the rest of the features kept is warned of
SUGGESTED_PURITY = 0.9
#: the warning says a suggested minmass "would include" the cut candidates only when it brings
#: back at least this fraction of them; otherwise most of them are as faint as the noise
SUGGESTED_RECOVERY = 0.5
#: from this share of the sampled pixels at the integer dtype's lowest value the background is
#: clipped: the noise is then underestimated (its lower half is cut), and so are the threshold
#: and the noise features near it
CLIPPED_BACKGROUND_SHARE = 0.05
#: a camera's top value is 2**bits - 1 for one of these bit depths (12-bit cameras deliver uint16
#: frames whose top is 4095)
CAMERA_BITS = range(8, 17)
#: the sampled frames' maximum counts as the camera's top (saturation) when it is such a value and
#: at least this many sampled pixels have it (a maximum that noise reaches is one pixel)
SATURATED_MIN_PIXELS = 4
#: warn when saturated spots are this share of the features kept, or more
SATURATED_FEATURE_SHARE = 0.05
#: a feature mask holds a saturated spot when its radius exceeds the spot's by this much: the
#: centroid then balances on the sloping shoulders, not inside the flat top (a saturated 400 +
#: 800 nm mixture: 7 px against spots of radius 3.3 px gave a false peak at 4.9 µm, 11 px the
#: right peaks and fractions)
SATURATED_SHOULDER_PX = 1.5


@dataclass(frozen=True)
class ThresholdEstimate:
    """The detection threshold and what the noise model says about it.

    Attributes
    ----------
    minmass : float
        The threshold used (the automatic one unless given).
    automatic_minmass : float
        The noise-model threshold (:data:`FALSE_DETECTIONS_PER_MEGAPIXEL`).
    background : float
        Median pixel value of the sampled frames.
    noise_sd : float
        Noise per pixel (robust standard deviation), same units.
    false_per_frame : float
        Expected noise features per frame above ``minmass``.
    kept_per_frame : float
        Candidates per sampled frame above ``minmass``.
    cut_per_frame : float
        Candidates per frame between the dim-band limit and ``minmass`` beyond what noise
        explains (particles the threshold cuts).
    cut_significance_sd : float
        That excess over the sampled frames in Poisson standard deviations of the noise
        candidates expected there.
    suggested_minmass : float
        The lowest threshold whose detections are still :data:`SUGGESTED_PURITY` real (NaN when
        no population is cut, or when none is).
    suggested_recovers_per_frame : float
        Of ``cut_per_frame``, the candidates per frame that ``suggested_minmass`` brings back
        beyond the noise it adds (NaN without a suggestion).
    diameter : DiameterChoice, optional
        The feature diameter the threshold was estimated for and how it was chosen (set by
        :func:`napari_pynta.analysis.detection_threshold`).
    hot_pixels : numpy.ndarray, optional
        (row, column) of the hot pixels repaired before the threshold, the diameter and the
        detection (:mod:`napari_pynta.detect.hot_pixels`; set by
        :func:`napari_pynta.analysis.detection_threshold`).
    clipped_share : float
        Share of the sampled pixels at the integer dtype's lowest value (0 for float frames),
        in the frames as the engines see them (with ``invert``: at its top value).
    inverted : bool
        The frames were inverted for detection (dark particles on a bright field).
    contrast : ContrastTails
        Pixels per sampled frame far above and far below their background, in the frames as
        the engines see them (:func:`napari_pynta.detect.contrast.contrast_tails`).
    saturation_level : float
        The camera's top value when the sampled frames reach it (pixels at ``2**bits - 1``),
        else NaN.
    saturated_per_frame : float
        Spots per sampled frame (connected pixels) at ``saturation_level``: saturated particles.
    saturated_radius_px : float
        The 90th percentile of the saturated spots' equivalent radius ``sqrt(area / pi)`` (0
        without saturation).
    """

    minmass: float
    automatic_minmass: float
    background: float
    noise_sd: float
    false_per_frame: float
    kept_per_frame: float
    cut_per_frame: float
    cut_significance_sd: float = math.inf
    suggested_minmass: float = math.nan
    suggested_recovers_per_frame: float = math.nan
    noise_tail: NoiseTail | None = field(default=None, repr=False, compare=False)
    diameter: DiameterChoice | None = None
    hot_pixels: np.ndarray | None = field(default=None, repr=False, compare=False)
    clipped_share: float = 0.0
    saturation_level: float = math.nan
    saturated_per_frame: float = 0.0
    saturated_radius_px: float = 0.0
    inverted: bool = False
    contrast: ContrastTails = ContrastTails(0.0, 0.0)

    @property
    def cuts_population(self) -> bool:
        """True when many candidates just under ``minmass`` are not noise (whether or not a
        lower ``minmass`` can separate them from the noise): their excess is
        :data:`CUT_POPULATION_FRACTION` of the features kept and :data:`CUT_SIGNIFICANCE_SD`
        standard deviations of the noise's count."""
        return bool(
            self.cut_per_frame >= CUT_POPULATION_FRACTION * max(self.kept_per_frame, 1.0)
            and self.cut_significance_sd >= CUT_SIGNIFICANCE_SD
        )

    @property
    def suggestion_recovers_cut(self) -> bool:
        """True when :attr:`suggested_minmass` brings back most (:data:`SUGGESTED_RECOVERY`) of
        the cut candidates."""
        return bool(
            math.isfinite(self.suggested_minmass)
            and self.suggested_minmass < self.minmass
            and self.suggested_recovers_per_frame >= SUGGESTED_RECOVERY * self.cut_per_frame
        )

    def warning(self) -> str | None:
        """A plain-language warning when the background is clipped (the noise model does not
        hold) or when the threshold cuts a population, else None.

        A cut population whose candidates a lower ``minmass`` mostly brings back is given that
        ``minmass``; one that is mostly as faint as the noise is said to be so (no threshold
        separates it), with what a suggested threshold would still add.
        """
        if self.clipped_share >= CLIPPED_BACKGROUND_SHARE:
            end, remedy = (
                ("top", "Shorten the exposure or dim the light so that the bright background")
                if self.inverted
                else ("lowest", "Raise the camera's offset (black level) so that the background")
            )
            return (
                f"{self.clipped_share:.0%} of the pixels are at the camera's {end} value: the "
                "background is clipped, so the noise is underestimated and neither the automatic "
                "detection threshold nor its check for cut particles can be trusted (dim "
                f"particles may be cut, or noise detected). {remedy} lies inside the camera's "
                "range, or set --minmass by hand."
            )
        if not self.cuts_population:
            return None
        cut = (
            f"About {self.cut_per_frame:.1f} candidates per frame lie just under the detection "
            f"threshold (minmass {self.minmass:.0f}; {self.kept_per_frame:.1f} per frame are "
            "kept) and are more than the noise explains: a dim population (small or fast, "
            "blurred particles) is probably cut."
        )
        if self.suggestion_recovers_cut:
            return (
                f"{cut} --minmass {self.suggested_minmass:.0f} would include them (noise would "
                f"then add about {self.false_at(self.suggested_minmass):.1f} false features "
                "per frame)."
            )
        partial = (
            f" (--minmass {self.suggested_minmass:.0f} would add only about "
            f"{self.suggested_recovers_per_frame:.1f} of them per frame, and about "
            f"{self.false_at(self.suggested_minmass):.1f} false features)"
            if math.isfinite(self.suggested_minmass) and self.suggested_minmass < self.minmass
            else ""
        )
        return (
            f"{cut} Most of them are as faint as the noise, so no --minmass separates them "
            f"from it{partial}: sizes and counts describe only the particles above the "
            "threshold. Raise the signal: more light or camera gain, or a longer exposure "
            "(for small, fast particles, whose light a long exposure smears, more light "
            "rather than a longer exposure)."
        )

    def saturation_warning(self) -> str | None:
        """A plain-language warning when particles saturate the camera, else None.

        A saturated spot has a flat top: its localization within the plateau is poor (the
        camera-artefact simulator's saturated 800 nm particles had localization errors of mostly
        0.1-0.23 µm, unsaturated ones 0.03-0.08 µm, with the default 7 px mask) and its
        brightness is cut, so the sizes of the bright particles and a mixture's fractions can be
        wrong without any other sign (docs/accuracy.md, "Real-camera artefacts").
        """
        if self.saturated_per_frame < SATURATED_FEATURE_SHARE * max(self.kept_per_frame, 1.0):
            return None
        wider = self.saturated_diameter_px()
        used = self.diameter.diameter_px if self.diameter is not None else None
        advice = (
            f" The feature diameter ({used} px) is too small for the saturated spots (radius "
            f"{self.saturated_radius_px:.1f} px): their centroids fall inside the flat top. "
            f"--diameter-px {wider} holds them."
            if used is not None and used < wider
            else ""
        )
        return (
            f"About {self.saturated_per_frame:.1f} spots per frame (of {self.kept_per_frame:.1f} "
            f"particles) reach the camera's top value ({self.saturation_level:.0f}): the camera "
            "saturates. A saturated particle's flat top makes its position uncertain and its "
            "brightness is cut, so the sizes of the brightest particles and the fractions of a "
            "mixture can be wrong (a false peak of large sizes). Lower the exposure, gain or "
            "illumination until no particle reaches the top value." + advice
        )

    def noise_features_warning(self) -> str | None:
        """A plain-language warning when a ``minmass`` below the automatic one lets in so much
        noise that more than 1 - :data:`SUGGESTED_PURITY` of the features kept are noise, else
        None.

        Noise maxima linked into tracks jump between unrelated places: they size as small, fast
        particles and count as many (``--minmass 0`` on a simulated 100 nm movie: 86
        localizations per frame of which the noise explains 88, 46.6 ± 6.1 nm, 402 particles
        in view for 11, with warnings about crowding only).
        """
        if not self.minmass < self.automatic_minmass:
            return None
        if not self.false_per_frame > (1.0 - SUGGESTED_PURITY) * self.kept_per_frame:
            return None
        return (
            f"The detection threshold (minmass {self.minmass:g}) lies in the noise: noise alone "
            f"gives about {self.false_per_frame:.1f} features per frame above it, and "
            f"{self.kept_per_frame:.1f} per frame were found. Linked noise looks like small, "
            "fast particles: sizes come out too small and counts too high. "
            f"Leave --minmass out (the automatic one is {self.automatic_minmass:.0f}) or raise "
            "it."
        )

    def notes(self) -> list[str]:
        """Every warning of the estimate, in the order the analysis lists them: the clipped
        background or the cut population (:meth:`warning`), the saturation, the noise a low
        ``minmass`` lets in and a contrast the other way than the detection looks for."""
        messages = (
            self.warning(),
            self.saturation_warning(),
            self.noise_features_warning(),
            reversed_contrast_warning(self.contrast, self.inverted),
        )
        return [message for message in messages if message]

    def saturated_diameter_px(self) -> int:
        """The :func:`saturated_diameter_px` of the saturated spots' :attr:`saturated_radius_px`."""
        return saturated_diameter_px(self.saturated_radius_px)

    def false_at(self, minmass: float) -> float:
        """Expected noise features per frame above ``minmass`` (NaN without the noise tail)."""
        return math.nan if self.noise_tail is None else self.noise_tail(minmass)

    def as_dict(self) -> dict[str, float | int | bool | str]:
        """JSON-ready values (``summary["detection"]``), with the diameter's when known."""
        diameter = self.diameter.as_dict() if self.diameter is not None else {}
        return diameter | {
            "minmass": self.minmass,
            "automatic_minmass": self.automatic_minmass,
            "background": self.background,
            "noise_sd": self.noise_sd,
            "false_per_frame": self.false_per_frame,
            "kept_per_frame": self.kept_per_frame,
            "cut_per_frame": self.cut_per_frame,
            "cut_significance_sd": self.cut_significance_sd,
            "suggested_minmass": self.suggested_minmass,
            "suggested_recovers_per_frame": self.suggested_recovers_per_frame,
            "clipped_share": self.clipped_share,
            "saturation_level": self.saturation_level,
            "saturated_per_frame": self.saturated_per_frame,
            "saturated_radius_px": self.saturated_radius_px,
            "bright_tail_per_frame": self.contrast.bright,
            "dark_tail_per_frame": self.contrast.dark,
        }


def saturated_diameter_px(radius_px: float) -> int:
    """The odd feature diameter whose mask holds saturated spots of equivalent radius
    ``radius_px`` and their shoulders (radius at least ``radius_px`` +
    :data:`SATURATED_SHOULDER_PX`)."""
    return 2 * math.ceil(radius_px + SATURATED_SHOULDER_PX) + 1


def sample_indices(n_frames: int, n_sample: int) -> np.ndarray:
    """Up to ``n_sample`` frame indices spread evenly over ``n_frames``, first and last included."""
    return np.unique(np.linspace(0, n_frames - 1, max(1, n_sample)).round().astype(int))


def _band_passed_spread(image: np.ndarray, diameter: int) -> float:
    """Robust spread (1.4826 MAD) of an image after a detection-like band-pass.

    Gaussian smoothing of 1 px minus a ``diameter`` boxcar, the scales the engines filter with.
    """
    values = image.astype(np.float64)
    band = ndimage.gaussian_filter(values, 1.0) - ndimage.uniform_filter(values, diameter)
    return MAD_TO_SD * float(np.median(np.abs(band - np.median(band))))


def _noise_model(frames: list[np.ndarray], diameter: int) -> tuple[float, float]:
    """Background (median) and noise per pixel of the sampled frames.

    The noise is measured where detection looks, after a band-pass (:func:`_band_passed_spread`),
    and expressed as the white noise per pixel that gives the same spread: sparse particles and
    smooth background structure hardly change it, and noise correlated between neighbouring
    pixels (compressed video) counts with the weight it has in the masses.
    """
    unit = _band_passed_spread(
        np.random.default_rng(NOISE_SEED).standard_normal((NOISE_TILE_PX, NOISE_TILE_PX)), diameter
    )
    backgrounds = [float(np.median(frame)) for frame in frames]
    sds = [_band_passed_spread(frame, diameter) / unit for frame in frames]
    return float(np.median(backgrounds)), float(np.median(sds))


def _noise_tiles(
    shape: tuple[int, int], dtype: np.dtype, background: float, noise_sd: float
) -> tuple[list[np.ndarray], int]:
    """Synthetic frames of noise alone (and their total pixels), like the camera's integers."""
    height, width = (min(size, NOISE_TILE_PX) for size in shape)
    n_tiles = max(2, math.ceil(NOISE_PIXELS / (height * width)))
    rng = np.random.default_rng(NOISE_SEED)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    tiles = []
    for _ in range(n_tiles):
        tile = background + noise_sd * rng.standard_normal((height, width))
        if info is not None:
            tile = np.clip(np.rint(tile), info.min, info.max)
        tiles.append(tile.astype(dtype))
    return tiles, n_tiles * height * width


class NoiseTail:
    """Noise features per frame above a mass: empirical, with an exponential far tail."""

    def __init__(self, masses: np.ndarray, pixels_analysed: int, frame_pixels: int) -> None:
        self._sorted = np.sort(masses)
        self._scale = frame_pixels / pixels_analysed  # per analysed pixel -> per frame
        tail = self._sorted[-TAIL_SAMPLES:] if len(self._sorted) else self._sorted
        self._tail_start = float(tail[0]) if len(tail) else 0.0
        self._tail_count = len(tail)
        self._tail_mean_excess = float(np.mean(tail - tail[0])) if len(tail) > 1 else 0.0

    def __call__(self, mass: float) -> float:
        if mass < self._tail_start or self._tail_mean_excess <= 0:
            above = len(self._sorted) - np.searchsorted(self._sorted, mass, side="right")
            return float(above * self._scale)
        return float(
            self._tail_count
            * self._scale
            * math.exp(-(mass - self._tail_start) / self._tail_mean_excess)
        )

    def mass_at(self, per_frame: float) -> float:
        """The mass above which noise gives ``per_frame`` features per frame."""
        if not len(self._sorted):
            return 0.0
        count = per_frame / self._scale
        if count >= self._tail_count or self._tail_mean_excess <= 0:
            index = int(np.clip(len(self._sorted) - math.ceil(count), 0, len(self._sorted) - 1))
            return float(self._sorted[index])
        return self._tail_start + self._tail_mean_excess * math.log(self._tail_count / count)


def estimate_threshold(
    frames: Any,
    engine: str = "trackpy",
    *,
    minmass: float | None = None,
    n_sample: int = MINMASS_SAMPLE_FRAMES,
    **params: Any,
) -> ThresholdEstimate:
    """Noise-model threshold and completeness diagnostic of a movie.

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        The movie (numpy or dask); ``n_sample`` evenly spaced frames are analysed.
    engine : str
        A key of :data:`napari_pynta.detect.ENGINES`.
    minmass : float, optional
        A threshold chosen by the user: evaluated (false rate, population cut) instead of
        chosen. None: the automatic threshold.
    n_sample : int
        Number of frames to sample.
    **params
        Detection parameters passed to :func:`napari_pynta.detect.locate`.

    Returns
    -------
    ThresholdEstimate
        The threshold, the noise model and the completeness diagnostic.

    Notes
    -----
    The noise model is white: spatially correlated noise (compressed video, fixed-pattern
    noise) gives more bright noise features than predicted; the completeness diagnostic then
    sees them as a "cut population" and ``--minmass`` should be set by hand.
    """
    if getattr(frames, "ndim", None) != 3 or frames.shape[0] == 0:
        raise PyntaInputError(
            f"frames must be a non-empty 3-D stack (T, Y, X), got shape "
            f"{getattr(frames, 'shape', None)}"
        )
    from napari_pynta.detect import locate

    params = {key: value for key, value in params.items() if key != "minmass"}
    sampled = [np.asarray(frames[index]) for index in sample_indices(frames.shape[0], n_sample)]
    frame_pixels = int(np.prod(sampled[0].shape))
    background, noise_sd = _noise_model(sampled, int(params.get("diameter", 7)))
    tiles, noise_pixels = _noise_tiles(sampled[0].shape, sampled[0].dtype, background, noise_sd)
    noise_masses = (
        np.concatenate(
            [locate(tile, engine, minmass=0, **params)["mass"].to_numpy() for tile in tiles]
        )
        if noise_sd > 0
        else np.empty(0)
    )
    noise = NoiseTail(noise_masses, noise_pixels, frame_pixels)
    automatic = noise.mass_at(FALSE_DETECTIONS_PER_MEGAPIXEL * frame_pixels / 1e6)
    used = automatic if minmass is None else float(minmass)

    candidates = np.sort(
        np.concatenate(
            [locate(frame, engine, minmass=0, **params)["mass"].to_numpy() for frame in sampled]
        )
    )
    n_frames = len(sampled)

    def real_per_frame(mass: float) -> float:
        return (len(candidates) - np.searchsorted(candidates, mass, side="right")) / n_frames

    band_low = min(noise.mass_at(DIM_BAND_FALSE_PER_MEGAPIXEL * frame_pixels / 1e6), used)
    kept = real_per_frame(used)
    expected_noise = noise(band_low) - noise(used)
    cut = max(0.0, real_per_frame(band_low) - kept - expected_noise)
    cut_sd = cut * n_frames / math.sqrt(max(expected_noise * n_frames, 1.0))
    suggested = math.nan
    for mass in np.sort(candidates[(candidates >= band_low) & (candidates < used)])[::-1]:
        if noise(mass) <= (1.0 - SUGGESTED_PURITY) * real_per_frame(mass):
            suggested = float(mass)
    recovered = (
        max(0.0, real_per_frame(suggested) - kept - (noise(suggested) - noise(used)))
        if math.isfinite(suggested)
        else math.nan
    )
    inverted = bool(params.get("invert", False))
    as_seen = [as_detected(frame, inverted) for frame in sampled]  # particles bright
    saturation_level, saturated_per_frame, saturated_radius = saturated_spots(as_seen)
    return ThresholdEstimate(
        minmass=float(used),
        automatic_minmass=float(automatic),
        background=background,
        noise_sd=noise_sd,
        false_per_frame=noise(used),
        kept_per_frame=float(kept),
        cut_per_frame=float(cut),
        cut_significance_sd=float(cut_sd),
        suggested_minmass=suggested,
        suggested_recovers_per_frame=recovered,
        noise_tail=noise,
        clipped_share=_clipped_share(as_seen),
        inverted=inverted,
        saturation_level=saturation_level,
        saturated_per_frame=saturated_per_frame,
        saturated_radius_px=saturated_radius,
        contrast=contrast_tails(as_seen),
    )


def saturated_spots(frames: list[np.ndarray]) -> tuple[float, float, float]:
    """The camera's top value if ``frames`` reach it (else NaN), the saturated spots per
    frame and their 90th-percentile equivalent radius (px).

    The top value is the frames' maximum when it is ``2**bits - 1`` for a camera bit depth
    (:data:`CAMERA_BITS`) and at least :data:`SATURATED_MIN_PIXELS` pixels have it; each
    connected group of such pixels in a frame is one saturated spot.
    """
    if not np.issubdtype(frames[0].dtype, np.integer):
        return math.nan, 0.0, 0.0
    top = max(int(frame.max()) for frame in frames)
    at_top = [frame == top for frame in frames]
    if top + 1 not in {2**bits for bits in CAMERA_BITS} or (
        sum(int(mask.sum()) for mask in at_top) < SATURATED_MIN_PIXELS
    ):
        return math.nan, 0.0, 0.0
    areas: list[int] = []
    for mask in at_top:
        labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
        areas.extend(np.bincount(labels.ravel(), minlength=count + 1)[1:])
    radius = float(np.sqrt(np.percentile(areas, 90) / np.pi))
    return float(top), len(areas) / len(frames), radius


def _clipped_share(frames: list[np.ndarray]) -> float:
    """Share of the pixels of ``frames`` at their integer dtype's lowest value (0 for floats)."""
    if not np.issubdtype(frames[0].dtype, np.integer):
        return 0.0
    lowest = np.iinfo(frames[0].dtype).min
    return float(np.mean([np.mean(frame == lowest) for frame in frames]))


def estimate_minmass(
    frames: Any,
    engine: str = "trackpy",
    *,
    n_sample: int = MINMASS_SAMPLE_FRAMES,
    **params: Any,
) -> float:
    """The automatic ``minmass`` of :func:`estimate_threshold` (the live calibration uses it too).

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        The movie (numpy or dask); ``n_sample`` evenly spaced frames are analysed.
    engine : str
        A key of :data:`napari_pynta.detect.ENGINES`.
    n_sample : int
        Number of frames to sample.
    **params
        Detection parameters passed to :func:`napari_pynta.detect.locate` (``minmass`` is
        ignored).

    Returns
    -------
    float
        The threshold (0 for noiseless frames).
    """
    params = {key: value for key, value in params.items() if key != "minmass"}
    return estimate_threshold(frames, engine, n_sample=n_sample, **params).automatic_minmass
