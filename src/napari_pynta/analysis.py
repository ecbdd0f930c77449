"""The offline pipeline: movie -> localizations -> tracks -> per-track and ensemble sizes.

:func:`analyze` is a chain of small steps that other front ends reuse (the batch mode runs
:func:`detect_frames` on chunks of frames and :func:`analyze_localizations` on their union)::

    detection_threshold / resolve_minmass -> detect_frames -> analyze_localizations
    (choose_diameter)
                                        (suggest_search_range_px -> link -> summarize_tracks)

and the live linker runs :func:`summarize_tracks` on the tracks it has linked so far.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from napari_pynta import (
    __version__,
    concentration,
    deconvolve,
    detect,
    link,
    peak_systematic,
    physics,
    sizing,
)
from napari_pynta.detect import fixed as detect_fixed
from napari_pynta.detect import hot_pixels as detect_hot_pixels
from napari_pynta.detect import spot as detect_spot
from napari_pynta.detect import wide as detect_wide
from napari_pynta.errors import PyntaDataError, PyntaInputError, listed, require_int
from napari_pynta.export import make_output_directory
from napari_pynta.parameters import SETTINGS, SIZEABLE_NM
from napari_pynta.sample import describe_movie

Progress = Callable[[int, int], None]

#: metadata keys (store attributes) that fill :class:`AnalysisParams` fields of the same name
METADATA_FIELDS = (
    "pixel_size_um",
    "frame_interval_s",
    "exposure_s",
    "temperature_c",
    "viscosity_pa_s",
    "solvent",
)
#: fields without which no size can be computed
REQUIRED_FIELDS = ("pixel_size_um", "frame_interval_s", "exposure_s", "temperature_c")
#: the narrowest image of a point that visible light forms (µm, Gaussian sigma): 0.21 λ / NA is
#: 0.056 µm at 400 nm and NA 1.49; NTA objectives (NA about 0.4) give 0.2-0.3 µm. A spot
#: measured narrower comes from a pixel size too small (sizes scale with its square)
NARROWEST_SPOT_UM = 0.05

#: automatic search range = this many per-axis rms steps, the linker's own scale (a 2-D step
#: exceeds it with probability exp(-k^2 / 2) = 4e-6; tighter ranges bias D low in crowded fields,
#: where the linker's choice between candidates favours short steps)
SEARCH_RANGE_RMS_STEPS = link.SEARCH_RANGE_RMS_STEPS
#: the pilot linking that measures the rms step uses this fraction of the particle spacing
PILOT_RANGE_SPACING_FRACTION = 0.7
PILOT_RANGE_LIMITS_PX = (3.0, 30.0)
#: a pilot range under 1/this of the wanted range truncates the steps it measures: it is doubled
#: (up to the upper limit) and the steps measured again
PILOT_TRUNCATION_FRACTION = 0.6
#: a wanted range above this fraction of the largest pilot range counts as capped (warning)
PILOT_RANGE_CAP_FRACTION = 0.9
PILOT_FRAMES = 200
PILOT_MIN_TRACK_LENGTH = 5
#: a pilot's links to unrelated particles (one that left the view joined to a newcomer near its
#: last position) are spread evenly over the area within the range, so their squared steps are
#: uniformly distributed; their level is measured beyond this many mean squared Brownian steps
#: (which a 2-D Gaussian step exceeds with probability exp(-8) = 3e-4) and taken out of the median
UNRELATED_LINKS_BEYOND_MEAN_SQUARES = 8.0
#: the automatic feature diameter is chosen from the motion blur of the first this many frames
#: (as many as the live calibration reads)
BLUR_PILOT_FRAMES = 60

#: names of the tables written by :meth:`AnalysisResult.save_results` and ``--out``
TABLE_NAMES = ("localizations", "tracks", "per_track")


@dataclass(frozen=True)
class AnalysisParams:
    """Everything the analysis needs besides the frames.

    Physical metadata (``pixel_size_um`` ... ``solvent``) usually come from the movie
    (:meth:`from_metadata`); the others set detection, linking and filtering. ``diameter_px=None``,
    ``minmass=None`` and ``search_range_px=None`` are chosen automatically from the data (see
    ``docs/analysis.md``).
    Units, defaults and limits of every field are those of :data:`napari_pynta.parameters.SETTINGS`.
    """

    pixel_size_um: float | None = None
    frame_interval_s: float | None = None
    exposure_s: float | None = None
    temperature_c: float | None = None
    viscosity_pa_s: float | None = SETTINGS["viscosity_pa_s"].default
    solvent: str = "water"
    diameter_px: int | None = SETTINGS["diameter_px"].default
    minmass: float | None = SETTINGS["minmass"].default
    separation: float | None = SETTINGS["separation"].default
    percentile: float = SETTINGS["percentile"].default
    invert: bool = SETTINGS["invert"].default
    blur_separation: bool = SETTINGS["blur_separation"].default
    wide_centroid: bool = SETTINGS["wide_centroid"].default
    #: the wide centroid's disk radius, px (:func:`napari_pynta.detect.wide.wide_radius_px`):
    #: chosen from the movie with ``wide_centroid`` (:func:`with_detection`); a number given
    #: here runs the pass with it
    wide_radius_px: int | None = None
    engine: str = SETTINGS["engine"].default
    blur_gap_spread: bool = SETTINGS["blur_gap_spread"].default
    search_range_px: float | None = SETTINGS["search_range_px"].default
    memory: int = SETTINGS["memory"].default
    min_track_length: int = SETTINGS["min_track_length"].default
    depth_um: float | None = SETTINGS["depth_um"].default
    #: widen ``diameter_px`` when the movie's spots are wider than its mask holds (saturated
    #: spots, a wide PSF: :func:`choose_diameter`); False keeps it as given (``--diameter-px``)
    widen_to_spot: bool = True
    #: join features closer than this (px) that are the maxima of one smeared image; chosen
    #: with ``blur_separation`` (:func:`choose_diameter`) unless given, None joins none
    split_within_px: float | None = SETTINGS["split_within_px"].default

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], **overrides: Any) -> AnalysisParams:
        """Parameters from a movie's metadata, with user overrides (None overrides are ignored).

        Parameters
        ----------
        metadata : mapping
            Store attributes (keys of :data:`METADATA_FIELDS` are used, others ignored).
        **overrides
            Field values that win over the metadata; a value of None keeps the metadata/default.
            A new ``temperature_c`` without a ``viscosity_pa_s`` drops the stored viscosity when
            the stored solvent is a known one (water), so that it is recomputed at the new
            temperature.

        Returns
        -------
        AnalysisParams
            Not yet validated (call :meth:`validate`).
        """
        if not isinstance(metadata, Mapping):
            raise PyntaInputError(
                f"metadata must be a mapping (a movie's metadata), got {type(metadata).__name__}"
            )
        names = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise PyntaInputError(
                f"unknown analysis parameter(s): {', '.join(unknown)}; allowed: "
                f"{', '.join(sorted(names))}"
            )
        values = {key: metadata[key] for key in METADATA_FIELDS if metadata.get(key) is not None}
        given = {key: value for key, value in overrides.items() if value is not None}
        if (
            "temperature_c" in given
            and "viscosity_pa_s" not in given
            and values.get("solvent", "water") in physics.KNOWN_SOLVENTS
        ):
            # the stored viscosity is the solvent's at the stored temperature: recompute it
            values.pop("viscosity_pa_s", None)
        values.update(given)
        return cls(**values)

    def missing_required(self) -> list[str]:
        """The :data:`REQUIRED_FIELDS` that are not set (neither in the metadata nor given)."""
        return [name for name in REQUIRED_FIELDS if getattr(self, name) is None]

    def required(self, name: str) -> float:
        """The required field ``name`` (:data:`REQUIRED_FIELDS`) as a float.

        Raises
        ------
        PyntaInputError
            Naming the field when the movie has no such metadata and no value was given, or
            when its value is not a number (a hand-edited store).
        """
        value = getattr(self, name)
        if value is None:
            raise PyntaInputError(f"{name} is required: the movie has no {name} metadata", name)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise PyntaInputError(f"{name} must be a number, got {value!r}", name) from None

    @property
    def resolved_viscosity_pa_s(self) -> float:
        """The viscosity used for sizing: ``viscosity_pa_s`` or the solvent's at the temperature."""
        return physics.resolve_viscosity_pa_s(
            self.required("temperature_c"), self.viscosity_pa_s, self.solvent or "water"
        )

    @property
    def gap_spread(self) -> sizing.GapSpread:
        """The linker's spread per missed frame: :func:`napari_pynta.sizing.gap_spread` of the
        exposure and frame interval with ``blur_gap_spread``, else 1 (plain Brownian)."""
        if not self.blur_gap_spread:
            return sizing.GapSpread(1.0, "blur_gap_spread off: missed frames spread as k = 1")
        return sizing.gap_spread(self.exposure_s, self.frame_interval_s)

    def detection_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`napari_pynta.detect.locate` for these parameters (an
        automatic diameter not yet chosen is left out: see :func:`choose_diameter`)."""
        diameter = {} if self.diameter_px is None else {"diameter": self.diameter_px}
        wide = {} if self.wide_radius_px is None else {"wide_radius_px": self.wide_radius_px}
        return (
            diameter
            | {
                "engine": self.engine,
                "minmass": self.minmass,
                "separation": self.separation,
                "invert": self.invert,
                "percentile": self.percentile,
                "split_within": self.split_within_px,
            }
            | wide
        )

    def validate(self) -> AnalysisParams:
        """Check every field; return self so calls can be chained.

        Raises
        ------
        PyntaInputError
            Naming the first missing or bad field (its ``field`` attribute too).
        """
        missing = self.missing_required()
        if len(missing) > 1:
            raise PyntaInputError(
                f"{listed(missing)} are required: the movie has no metadata for them",
                missing[0],
                tuple(missing[1:]),
            )
        for name in REQUIRED_FIELDS:
            self.required(name)
        for item in dataclasses.fields(self):
            if item.name in SETTINGS:
                SETTINGS[item.name].check(getattr(self, item.name))
        if self.wide_radius_px is not None:
            require_int("wide_radius_px", self.wide_radius_px, minimum=1, unit="px")
        if self.split_within_px is not None and not self.blur_separation:
            raise PyntaInputError(
                f"split_within_px ({self.split_within_px:g} px) is the distance within which the "
                "blur separation joins split images: it needs blur_separation on (or give no "
                "distance to join none)",
                "split_within_px",
                ("blur_separation",),
            )
        if self.required("exposure_s") > self.required("frame_interval_s"):
            raise PyntaInputError(
                f"exposure_s ({self.exposure_s:g} s) must not exceed frame_interval_s "
                f"({self.frame_interval_s:g} s)",
                "exposure_s",
                ("frame_interval_s",),
            )
        try:
            _ = self.resolved_viscosity_pa_s  # raises for an unknown solvent or temperature
        except PyntaInputError as error:
            raise PyntaInputError(
                f"{error} (set temperature_c, or viscosity_pa_s for other solvents)",
                error.field,
                ("temperature_c", "viscosity_pa_s"),
            ) from None
        detect.check_engine(self.engine)
        return self


def metadata_to_give(metadata: Mapping[str, Any]) -> list[str]:
    """The fields that :meth:`AnalysisParams.validate` refuses a movie with ``metadata`` without,
    unless they are given (``pynta analyze --temperature-c``, the Analyze widget's fields).

    Parameters
    ----------
    metadata : mapping
        The movie's metadata as the analysis reads it (a store's with the frame interval its
        frame times measure: :attr:`napari_pynta.readers.Movie.metadata`).

    Returns
    -------
    list of str
        The :data:`REQUIRED_FIELDS` missing and, when the temperature is known but the viscosity
        of the solvent is not (a solvent pynta has no table for), ``viscosity_pa_s``.
    """
    params = AnalysisParams.from_metadata(metadata)
    missing = params.missing_required()
    if "temperature_c" not in missing and params.viscosity_pa_s is None:
        try:
            _ = params.resolved_viscosity_pa_s
        except PyntaInputError as error:
            missing += [] if error.field == "temperature_c" else ["viscosity_pa_s"]
    return missing


@dataclass
class AnalysisResult:
    """The outcome of :func:`analyze`.

    Attributes
    ----------
    localizations : pandas.DataFrame
        Every feature found (columns of :data:`napari_pynta.detect.LOCALIZATION_COLUMNS`).
    tracks : pandas.DataFrame
        The localizations of the tracks that passed the length filter, with ``particle``.
    per_track : pandas.DataFrame
        One row per track (see :func:`napari_pynta.sizing.track_diffusion`).
    summary : dict
        JSON-ready summary (what ``pynta analyze --json`` prints).
    warnings : list of str
        Plain-language quality warnings (also in ``summary["warnings"]``).
    params : AnalysisParams
        The parameters used, with automatic choices filled in.
    ensemble : EnsembleEstimate
        The pooled estimate behind ``summary["diameter_nm"]``.
    sizes : DeconvolvedSizes or None
        Track-length-corrected distributions behind ``summary["deconvolved_nm"]``.
    frame_shape : (int, int) or None
        Frame size in pixels (for the detection volume).
    """

    localizations: pd.DataFrame
    tracks: pd.DataFrame
    per_track: pd.DataFrame
    summary: dict[str, Any]
    warnings: list[str]
    params: AnalysisParams
    ensemble: sizing.EnsembleEstimate = field(repr=False)
    sizes: deconvolve.DeconvolvedSizes | None = field(default=None, repr=False)
    frame_shape: tuple[int, int] | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The result tables by name (:data:`TABLE_NAMES`)."""
        return {
            "localizations": self.localizations,
            "tracks": self.tracks,
            "per_track": self.per_track,
        }

    def save_results(self, store) -> None:
        """Write the tables into a pynta store opened writable (``MovieStore.open(path, "r+")``).

        Parameters
        ----------
        store : MovieStore
            The store; tables of the same names are replaced, as one set (a write killed
            half-way leaves no mix of two analyses, see ``MovieStore.write_tables``).
        """
        store.write_tables(self.tables())

    def export(self, directory: str | Path) -> list[Path]:
        """Write ``<table>.csv`` for every table and ``summary.json`` into ``directory``.

        Parameters
        ----------
        directory : str or Path
            Created if missing.

        Returns
        -------
        list of Path
            The files written.
        """
        directory = make_output_directory(directory, "--out")
        written = []
        for name, table in self.tables().items():
            path = directory / f"{name}.csv"
            table.to_csv(path, index=False)
            written.append(path)
        path = directory / "summary.json"
        path.write_text(json.dumps(self.summary, indent=2) + "\n", encoding="utf-8")
        written.append(path)
        return written


# ---------------------------------------------------------------------------------- steps
def check_frames(frames: Any) -> None:
    """Raise :class:`PyntaDataError` unless ``frames`` is a non-empty (T, Y, X) stack."""
    shape = getattr(frames, "shape", None)
    if shape is None or len(shape) != 3:
        raise PyntaDataError(f"the movie must be a (T, Y, X) stack of frames, got shape {shape}")
    if shape[0] == 0 or shape[1] == 0 or shape[2] == 0:
        raise PyntaDataError(f"the movie is empty (shape {tuple(shape)})")


def check_search_range(params: AnalysisParams, frame_shape: tuple[int, int]) -> None:
    """Raise :class:`PyntaInputError` for a set search range as large as the frame.

    A step as long as the frame's smaller side leaves the frame, and a range that wide links
    every particle to any other: 100 nm beads came out at 4.6 nm with a 5000 px range on a
    128 x 128 movie. The automatic range (None) is not checked here.
    """
    search_range = params.search_range_px
    limit = min(int(frame_shape[0]), int(frame_shape[1]))
    if search_range is not None and search_range >= limit:
        raise PyntaInputError(
            f"search_range_px {search_range:g} px is as large as the {frame_shape[0]} x "
            f"{frame_shape[1]} px frames: it must be less than {limit} px (the smaller side; a "
            "few times the particles' rms step, or leave it automatic)",
            field="search_range_px",
        )


def check_frame_size(params: AnalysisParams, frame_shape: tuple[int, int]) -> None:
    """Raise :class:`PyntaDataError` for frames narrower than a particle's image (the feature
    diameter): a movie of 3 x 3 or 1 x 128 px frames was analysed into "no tracks were found:
    check the detection settings"."""
    diameter = params.diameter_px or detect.SHARP_DIAMETER_PX
    if min(frame_shape) < diameter:
        raise PyntaDataError(
            f"the movie's frames are {frame_shape[0]} x {frame_shape[1]} px: a particle's image "
            f"({diameter} px across, the feature diameter) does not fit in them; pynta analyzes "
            f"frames at least {diameter} px high and wide"
        )


def check_movie(frames: Any, params: AnalysisParams) -> None:
    """Refuse, before a frame is read, a movie that cannot be sized with ``params``: not a
    non-empty (T, Y, X) stack (:func:`check_frames`), frames narrower than a particle
    (:func:`check_frame_size`), a set search range as large as the frame
    (:func:`check_search_range`), fewer frames than ``min_track_length``
    (:func:`check_track_length`). :func:`analyze` and the plan of
    :func:`napari_pynta.batch.analyze_batch` check alike (the cluster analysed 2 frames into
    "no tracks were found: check the detection settings").

    Raises
    ------
    PyntaDataError
        If the frames are no movie or too narrow.
    PyntaInputError
        If the search range or ``min_track_length`` does not fit the movie.
    """
    check_frames(frames)
    frame_shape = (int(frames.shape[1]), int(frames.shape[2]))
    check_frame_size(params, frame_shape)
    check_search_range(params, frame_shape)
    check_track_length(params, int(frames.shape[0]))


def check_track_length(params: AnalysisParams, n_frames: int) -> None:
    """Raise :class:`PyntaInputError` when no track of ``min_track_length`` fits in the
    ``n_frames`` frames analysed (a 1-frame movie was 'analysed' into 'no tracks were found:
    check the detection'; a part of a movie was called "the movie's 2 frames")."""
    if params.min_track_length > n_frames:
        plural = "frame" if n_frames == 1 else "frames"
        raise PyntaInputError(
            f"min_track_length {params.min_track_length} is longer than the {n_frames} {plural} "
            "analysed: no track can be sized; analyse at least that many frames (a longer movie "
            "or frame_range), or lower it (at least 3)",
            field="min_track_length",
            others=("frame_range",),
        )


def choose_diameter(
    frames: Any,
    engine: str,
    detection: Mapping[str, Any],
    exposure_s: float,
    frame_interval_s: float,
    blur_separation: bool = SETTINGS["blur_separation"].default,
    *,
    widen_to_spot: bool = True,
    measure_streak: bool = False,
) -> detect.DiameterChoice:
    """The feature diameter (and separation): the user's, or ones that hold the measured motion
    blur, the diameter widened when the spots are wider than its mask holds.

    The offline analysis and the live calibration both choose them here. Without a
    ``diameter`` in ``detection`` (or with ``blur_separation`` and no ``split_within``), the
    first :data:`BLUR_PILOT_FRAMES` frames are localized with the sharp-spot diameter
    (:data:`napari_pynta.detect.SHARP_DIAMETER_PX`) and its automatic threshold (or the given
    ``minmass``), and a pilot linking measures the per-axis rms step between frames, hence the
    exposure streak (:func:`napari_pynta.detect.streak_sd_px`). With ``measure_streak`` the
    pilot runs, and the spots' sigma is measured, for a given diameter and separation too (they
    size the wide centroid's disk, :mod:`napari_pynta.detect.wide`), which are kept.
    :func:`napari_pynta.detect.blur_diameter_px` widens the mask to hold that streak; with
    ``blur_separation``, :func:`napari_pynta.detect.blur_separation_px` keeps the maxima of
    one streak together (sharp spots: ``diameter + 1``). With ``widen_to_spot`` the diameter is
    then widened to hold saturated spots or a PSF wider in pixels
    (:func:`napari_pynta.detect.spot.holding_the_spot`, with the engines' ``diameter + 1``
    separation); a movie whose spots the mask holds keeps it exactly.

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        The movie (or the live calibration's frames).
    engine : str
        Localization engine.
    detection : mapping
        Keyword arguments of :func:`napari_pynta.detect.locate`; a ``diameter`` or
        ``separation`` that is not None is the user's and is kept.
    exposure_s, frame_interval_s : float
        Exposure and frame interval of the movie.
    blur_separation : bool
        Choose the separation that holds the streak (when ``detection`` gives none).
    widen_to_spot : bool
        Widen the diameter when the spots need it (False: an explicit ``--diameter-px``).
    measure_streak : bool
        Measure the streak and the spots' sigma whatever is given (the wide centroid).

    Returns
    -------
    DiameterChoice
    """
    choice = _diameter_for_blur(
        frames, engine, detection, exposure_s, frame_interval_s, blur_separation, measure_streak
    )
    invert = bool(detection.get("invert"))
    if widen_to_spot:
        return detect_spot.holding_the_spot(choice, frames, invert=invert)
    if measure_streak:
        spot = detect_spot.spot_width(frames, invert=invert)
        return dataclasses.replace(choice, spot_sigma_px=spot.sigma_px)
    return choice


def _diameter_for_blur(
    frames: Any,
    engine: str,
    detection: Mapping[str, Any],
    exposure_s: float,
    frame_interval_s: float,
    blur_separation: bool,
    measure_streak: bool,
) -> detect.DiameterChoice:
    """The given diameter and separation, or the ones that hold the motion blur (with
    ``blur_separation`` the distance within which split images are joined, and with
    ``measure_streak`` the streak whatever is given)."""
    given = detection.get("diameter")
    for_blur = blur_separation and detection.get("split_within") is None
    if given is not None and not for_blur and not measure_streak:
        return detect.DiameterChoice(int(given), automatic=False)
    pilot = np.asarray(frames[:BLUR_PILOT_FRAMES])
    options = detect.engine_options(detection) | {
        "diameter": detect.SHARP_DIAMETER_PX,
        "separation": None,
    }
    if options.get("minmass") is None:
        options["minmass"] = detect.estimate_minmass(pilot, engine, **options)
    localizations = detect.locate_frames(pilot, 0, engine, **options)
    pilot_range = _pilot_range_px(nearest_neighbour_spacing_px(localizations))
    rms_step = _pilot_rms_step_px(localizations, pilot_range)
    streak = detect.streak_sd_px(rms_step, exposure_s, frame_interval_s)
    diameter = detect.blur_diameter_px(streak) if given is None else int(given)
    separation = detect.blur.AUTOMATIC_SEPARATION_PX if given is None else None
    split_within = detect.blur_separation_px(streak, diameter) if for_blur else None
    return detect.DiameterChoice(
        diameter, given is None, rms_step, streak, separation, split_within_px=split_within
    )


def detection_threshold(frames: Any, params: AnalysisParams) -> detect.ThresholdEstimate:
    """The feature diameter and noise-model threshold of a movie, or the diagnostic of the user's
    ``minmass``.

    The diameter comes first (:func:`choose_diameter`; the threshold's noise masses depend on
    it) and is recorded in the estimate's ``diameter``. See
    :func:`napari_pynta.detect.estimate_threshold`: its ``minmass`` is ``params.minmass`` when
    given, else the automatic one; its :meth:`~napari_pynta.detect.ThresholdEstimate.warning`
    says when the threshold cuts a dim population.
    """
    kwargs = params.detection_kwargs()
    engine = kwargs.pop("engine")
    hot = detect_hot_pixels.find_hot_pixels(frames)
    frames = detect_hot_pixels.repaired(frames, hot)
    diameter = choose_diameter(
        frames,
        engine,
        kwargs,
        params.required("exposure_s"),
        params.required("frame_interval_s"),
        params.blur_separation,
        widen_to_spot=params.widen_to_spot,
        measure_streak=params.wide_centroid and params.wide_radius_px is None,
    )
    kwargs["diameter"] = diameter.diameter_px
    if kwargs["separation"] is None:
        kwargs["separation"] = diameter.separation_px
    threshold = detect.estimate_threshold(frames, engine, **detect.engine_options(kwargs))
    return dataclasses.replace(threshold, diameter=diameter, hot_pixels=hot)


def with_detection(params: AnalysisParams, threshold: detect.ThresholdEstimate) -> AnalysisParams:
    """``params`` with the diameter and the separation (chosen for the motion blur unless
    given), ``minmass`` and, with ``wide_centroid``, the wide centroid's disk radius
    (:func:`napari_pynta.detect.wide.wide_radius_px` of the measured spot and streak) of
    :func:`detection_threshold` filled in."""
    choice = threshold.diameter
    if choice is None:
        return dataclasses.replace(params, minmass=threshold.minmass)
    separation = choice.separation_px if params.separation is None else params.separation
    radius = params.wide_radius_px
    if params.wide_centroid and radius is None:
        radius = detect_wide.wide_radius_px(choice.spot_sigma_px, choice.streak_sd_px)
    split_within = params.split_within_px or choice.split_within_px
    return dataclasses.replace(
        params,
        diameter_px=choice.diameter_px,
        separation=separation,
        minmass=threshold.minmass,
        wide_radius_px=radius,
        split_within_px=split_within,
    )


def resolve_minmass(frames: Any, params: AnalysisParams) -> AnalysisParams:
    """Fill in an automatic diameter, ``minmass``, with ``blur_separation`` the distance within
    which split images are joined and with ``wide_centroid`` the disk radius (see
    :func:`detection_threshold`).

    Call this once per movie before splitting it into chunks, so that every chunk uses the
    same diameter, separation and threshold. Parameters with all of them are returned
    unchanged.
    """
    split_within = params.split_within_px if params.blur_separation else 0.0
    radius = params.wide_radius_px if params.wide_centroid else 0
    values = (params.minmass, params.diameter_px, split_within, radius)
    if all(value is not None for value in values):
        return params
    return with_detection(params, detection_threshold(frames, params))


def detect_frames(
    frames: Any,
    params: AnalysisParams,
    first_frame: int = 0,
    progress: Progress | None = None,
    hot_pixels: np.ndarray | None = None,
) -> pd.DataFrame:
    """Localize particles in ``frames`` (numpy or dask, (T, Y, X)) with ``params``.

    Parameters
    ----------
    frames : array-like
        The frames; ``frames[0]`` is frame number ``first_frame``.
    params : AnalysisParams
        Detection parameters; ``minmass=None`` is estimated from these frames only
        (use :func:`resolve_minmass` on the whole movie first for chunked processing).
    first_frame : int
        Frame number of the first frame.
    progress : callable, optional
        ``progress(done, total)`` in frames.
    hot_pixels : numpy.ndarray, optional
        (row, column) of the movie's hot pixels, repaired before detection (the
        :func:`detection_threshold` of the whole movie found them).

    Returns
    -------
    pandas.DataFrame
        Localizations sorted by frame.
    """
    frames = detect_hot_pixels.repaired(frames, hot_pixels)
    params = resolve_minmass(frames, params)
    kwargs = params.detection_kwargs()
    engine = kwargs.pop("engine")
    return detect.locate_frames(frames, first_frame, engine, progress=progress, **kwargs)


def nearest_neighbour_spacing_px(localizations: pd.DataFrame, max_frames: int = 50) -> float:
    """Median distance (pixels) from a feature to its nearest neighbour in the same frame.

    Uses up to ``max_frames`` frames with at least two features; NaN if there are none.
    """
    per_frame = localizations.groupby("frame", sort=True).size()
    frames = per_frame.index[per_frame >= 2][:max_frames]
    distances = detect.nearest_neighbour_distances(
        localizations[localizations["frame"].isin(frames)]
    )
    return float(np.median(distances)) if len(distances) else math.nan


class SuggestedRange(NamedTuple):
    """What :func:`suggest_search_range_px` found."""

    search_range_px: float
    limited: bool
    measured: bool


def suggest_search_range_px(localizations: pd.DataFrame, memory: int) -> SuggestedRange:
    """Search range from the particles' own step size, measured by a pilot linking.

    The first :data:`PILOT_FRAMES` frames are linked with a range of
    :data:`PILOT_RANGE_SPACING_FRACTION` times the typical particle spacing. The per-axis rms
    step of the resulting tracks (noise and blur included), taken from the median squared step
    so that a few wrong pilot links do not inflate it, times :data:`SEARCH_RANGE_RMS_STEPS` is
    the range. When that is more than :data:`PILOT_TRUNCATION_FRACTION` of the pilot range, the
    pilot cut the steps it measured (crowded samples): the pilot range is doubled and the steps
    measured again, so that neither the lower limit nor the crowding cuts real steps. A field
    too crowded to link at the doubled range keeps the widest pilot that linked (and is
    reported as limited). Unless limited (or at the lower limit), the steps are then measured
    once more at the range so found, without the links to unrelated particles
    (:func:`_rms_step_without_unrelated_links`): a wide pilot joins particles that left the
    view to newcomers, and the median alone does not remove them (in a 1.5 µm focal layer
    they made the step 10 % large).

    Returns
    -------
    search_range_px : float
        The suggested range.
    limited : bool
        True when particles move so far between frames that the range had to be capped at the
        pilot range, or that it exceeds the typical distance to the nearest neighbour (links
        between neighbours are then ambiguous and the size depends on the range).
    measured : bool
        False when no pilot track formed (no particle linked in the first frames): the range
        is then the pilot range, not a measurement of the particles' steps.
    """
    low, high = PILOT_RANGE_LIMITS_PX
    spacing = nearest_neighbour_spacing_px(localizations)
    pilot_range = _pilot_range_px(spacing)
    first = localizations["frame"].min() if len(localizations) else 0
    pilot = localizations[localizations["frame"] < first + PILOT_FRAMES]
    linked: tuple[float, float] | None = None  # (range, rms step) of the last pilot that linked
    while True:
        try:
            rms_step = _pilot_rms_step_px(pilot, pilot_range)
        except PyntaInputError:
            if linked is None:
                raise
            # too crowded to link this wide: keep the widest pilot that linked (flagged below)
            pilot_range, rms_step = linked
            break
        if not np.isfinite(rms_step):
            return SuggestedRange(pilot_range, False, False)
        linked = (pilot_range, rms_step)
        # a pilot range close to the wanted range truncated the steps: measure again wider
        if (
            SEARCH_RANGE_RMS_STEPS * rms_step <= PILOT_TRUNCATION_FRACTION * pilot_range
            or pilot_range >= high
        ):
            break
        pilot_range = min(2.0 * pilot_range, high)
    wanted = SEARCH_RANGE_RMS_STEPS * rms_step
    limited = wanted > PILOT_RANGE_CAP_FRACTION * pilot_range or wanted > spacing
    if not limited and wanted > low:
        # measured again at the range the linker will use, without its links to unrelated
        # particles: a wide pilot range joins many of them, which inflate the median step
        squared = _pilot_squared_steps(pilot, wanted)
        if len(squared):
            wanted = SEARCH_RANGE_RMS_STEPS * _rms_step_without_unrelated_links(squared, wanted)
    return SuggestedRange(float(min(max(wanted, low), pilot_range)), bool(limited), True)


def unmeasured_range_warning(frames: int, range_px: float, setting: str) -> str:
    """The warning for a search range that :func:`suggest_search_range_px` could not measure.

    Parameters
    ----------
    frames : int
        How many frames the pilot linking had.
    range_px : float
        The range used instead (the pilot's).
    setting : str
        How the user sets the range where the warning is shown (a CLI flag, a setting name).
    """
    return (
        f"No particle could be linked in the first {frames} frames, so the search range was not "
        f"measured from the particles' steps: the pilot's {range_px:.1f} px was used. Check the "
        f"detection (threshold, diameter) or set {setting}."
    )


def _pilot_range_px(spacing: float) -> float:
    """The first pilot range: :data:`PILOT_RANGE_SPACING_FRACTION` of the particle spacing
    (:func:`nearest_neighbour_spacing_px`) within :data:`PILOT_RANGE_LIMITS_PX` (the upper limit
    when the spacing is unknown)."""
    low, high = PILOT_RANGE_LIMITS_PX
    if not np.isfinite(spacing):
        return high
    return float(np.clip(PILOT_RANGE_SPACING_FRACTION * spacing, low, high))


def _pilot_rms_step_px(pilot: pd.DataFrame, pilot_range: float) -> float:
    """Per-axis rms step (px) of a pilot linking, from the median squared step (NaN: none)."""
    squared = _pilot_squared_steps(pilot, pilot_range)
    if not len(squared):
        return math.nan
    # the median is robust to the pilot's wrong links
    return math.sqrt(_mean_square_from_median(float(np.median(squared))) / 2.0)


def _mean_square_from_median(median_squared: float) -> float:
    """Mean squared 2-D Gaussian step (2 sigma²) from its median (2 ln 2 sigma²)."""
    return median_squared / math.log(2)


def _pilot_squared_steps(pilot: pd.DataFrame, pilot_range: float) -> np.ndarray:
    """Squared one-frame steps (px²) of the pilot's tracks linked within ``pilot_range``.

    The pilot links frames with localizations in their order (memory 0): when the camera lost
    frames, their numbers have gaps that would cut every track. Only the steps between
    consecutive frame numbers are measured.
    """
    # memory 0: every link spans one frame, so the spread across missed frames (the final
    # linking's gap_spread) does not enter
    numbers, ranks = np.unique(pilot["frame"].to_numpy(), return_inverse=True)
    tracks = link.filter_tracks(
        link.link_features(pilot.assign(frame=ranks.reshape(-1)), pilot_range, memory=0),
        PILOT_MIN_TRACK_LENGTH,
    )
    ordered = tracks.assign(frame=numbers[tracks["frame"].to_numpy(dtype=np.int64)])
    ordered = ordered.sort_values(["particle", "frame"])
    differences = ordered.groupby("particle")[["frame", "y", "x"]].diff()
    steps = differences[differences["frame"] == 1]
    return steps["y"].to_numpy() ** 2 + steps["x"].to_numpy() ** 2


def _rms_step_without_unrelated_links(squared: np.ndarray, range_px: float) -> float:
    """Per-axis rms step (px) from the median of the Brownian ones among ``squared``.

    ``squared`` are the squared steps of links made within ``range_px``. Links to unrelated
    particles are spread evenly over the disc of that range, so their squared steps are uniform
    on ``[0, range_px²]``; their level is counted beyond
    :data:`UNRELATED_LINKS_BEYOND_MEAN_SQUARES` mean squared Brownian steps and subtracted from
    the cumulative count before its median is taken. Three passes, as the start of the counted
    region follows the step size (the value settles in two). The plain median is kept when that
    region lies beyond the range (at a range of 5 rms steps: from about 30 % of the links
    unrelated, which inflate the first median; up to 25 % they are taken out) or when the
    level leaves no Brownian steps.
    """
    squared = np.sort(squared)
    ceiling = range_px**2
    mean_square = _mean_square_from_median(float(np.median(squared)))
    for _ in range(3):
        start = UNRELATED_LINKS_BEYOND_MEAN_SQUARES * mean_square
        if start >= ceiling:
            break
        level = np.count_nonzero(squared > start) / (ceiling - start)  # unrelated links per px²
        brownian_below = np.arange(1, len(squared) + 1) - level * squared
        half = (len(squared) - level * ceiling) / 2.0
        if half <= 0:
            break
        mean_square = _mean_square_from_median(float(squared[np.argmax(brownian_below >= half)]))
    return math.sqrt(mean_square / 2.0)


def summarize_tracks(
    tracks: pd.DataFrame,
    params: AnalysisParams,
    *,
    n_frames: int | None = None,
    localizations: pd.DataFrame | None = None,
    source: str | None = None,
    frame_shape: tuple[int, int] | None = None,
    notes: Sequence[str] = (),
    threshold: detect.ThresholdEstimate | None = None,
    warm_start: deconvolve.DeconvolvedSizes | None = None,
    frame_numbers: np.ndarray | None = None,
    flow: pd.DataFrame | None = None,
    more_tracks: str = deconvolve.MORE_TRACKS,
) -> AnalysisResult:
    """Size already linked tracks: length filter, per-track and ensemble D, deconvolved size
    distribution, concentration, warnings, summary.

    The live linker calls this on the tracks it has linked so far, so live summaries have exactly
    the keys and numbers of ``pynta analyze --json``.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Linked localizations (with ``particle``); tracks shorter than
        ``params.min_track_length`` are dropped here.
    params : AnalysisParams
        Validated parameters.
    n_frames : int, optional
        Number of frames analysed; default: the frames spanned by ``tracks``.
    localizations : pandas.DataFrame, optional
        All localizations (for the counts); default: ``tracks``. When given, they are also
        linked again with other search ranges for the ``linking`` systematic term
        (:func:`relinked_tracks`); without them (the live summary) that term is 0.
    source : str, optional
        Where the movie came from (recorded in the summary).
    frame_shape : (int, int), optional
        Frame size in pixels; with ``params.depth_um`` it gives the concentration.
    notes : sequence of str
        Warnings from earlier steps, listed first.
    threshold : ThresholdEstimate, optional
        The detection threshold's noise model (``summary["detection"]``).
    warm_start : DeconvolvedSizes, optional
        Passed to :func:`deconvolve.deconvolve_tracks` (the live summary starts the
        deconvolution from its previous one; same result to within the EM tolerances).
    frame_numbers : ndarray, optional
        The numbers of the ``n_frames`` frames analysed when the camera lost frames between
        them (the ``frame`` column then holds these numbers); for the particles per frame.
    more_tracks : str
        What the warnings advise to record for more tracks
        (:data:`napari_pynta.deconvolve.MORE_TRACKS`: a longer movie, or several captures).
    flow : pandas.DataFrame, optional
        The flow ``tracks`` were linked in (:func:`flow_for_linking`); ``localizations`` are
        linked again in it.

    Returns
    -------
    AnalysisResult
    """
    params.validate()
    if n_frames is None:
        n_frames = int(tracks["frame"].max() - tracks["frame"].min() + 1) if len(tracks) else 0
    # fixed spots the linker made tracks of (the live linker's: pynta analyze left them out
    # before linking, and finds none here)
    tracks, fixed_note = _without_fixed_spots(tracks, n_frames)
    notes = [*notes, fixed_note] if fixed_note else notes
    tracks = link.split_at_brightness_changes(tracks)
    relinked = (
        relinked_tracks(localizations, params, flow)
        if localizations is not None and params.search_range_px
        else []
    )
    localizations = tracks if localizations is None else localizations
    kept = link.filter_tracks(_without_overlaps(tracks, params), params.min_track_length)
    field_px = detectable_field_px(frame_shape, params)
    track_lengths = tracks.groupby("particle").size().to_numpy() if len(tracks) else []
    viscosity = params.resolved_viscosity_pa_s
    # sizes come from the tracks with the common drift removed; the drift is reported
    corrected, _ = sizing.subtract_drift(kept)
    acquisition = _sizing_settings(params, field_px)
    per_track = sizing.track_diffusion(corrected, **acquisition)
    ensemble, before_drift = (
        ensemble_estimate(table, params, field_px) for table in (corrected, kept)
    )
    bright = _away_from_threshold(corrected, params)

    def D_of(table: pd.DataFrame | None) -> float:
        return math.nan if table is None else ensemble_estimate(table, params, field_px).D_um2_s

    systematic = sizing.systematic_errors(
        ensemble,
        before_drift_D_um2_s=before_drift.D_um2_s,
        bright_D_um2_s=D_of(bright),
        relinked_D_um2_s=[D_of(table) for table in relinked],
    )

    def diameter_of(D: float) -> float:
        return float(physics.diameter_nm(D, params.required("temperature_c"), viscosity))

    warnings = list(notes) + sizing.quality_warnings(
        per_track,
        ensemble,
        track_lengths=track_lengths,
        min_track_length=params.min_track_length,
        n_localizations=len(localizations),
        before_drift=before_drift,
        diameter_of=diameter_of,
    )
    linking_note = linking_warning(systematic["linking"], params.search_range_px)
    if linking_note:
        warnings.append(linking_note)
    unit_note = unsizeable_diameter_warning(diameter_of(ensemble.D_um2_s), params)
    if unit_note:
        warnings.append(unit_note)
    spot = threshold.diameter if threshold is not None else None
    spot_note = sub_diffraction_spot_warning(
        spot.spot_sigma_px if spot is not None else math.nan, params
    )
    if spot_note:
        warnings.append(spot_note)
    summary = summarize(
        localizations,
        kept,
        per_track,
        ensemble,
        warnings,
        n_frames,
        params,
        source,
        before_drift=before_drift,
        systematic=systematic,
    )
    no_tracks = (
        None
        if len(per_track)
        else sizing.NoTracks.of(track_lengths, params.min_track_length, len(localizations))
    )
    # the counts too: the GUI says the reason naming its own controls (the text names flags)
    summary["no_tracks"] = None if no_tracks is None else dataclasses.asdict(no_tracks)
    summary["unsized_reason"] = None if no_tracks is None else no_tracks.reason()
    sizes = (
        deconvolve.deconvolve_tracks(
            corrected, per_track, warm_start=warm_start, linked=tracks, **acquisition
        )
        if len(per_track)
        else None
    )
    if sizes is not None:
        peak_terms, narrower = _peak_systematic(
            sizes, systematic, params, field_px, corrected, kept, bright, relinked
        )
        depends = _peaks_depending_on_linking(sizes, relinked, narrower)
        summary |= _json_ready(sizes.summary(peak_terms, depends_on_linking=depends))
        peak_note = linking_dependent_peak_warning(
            [peak["diameter_nm"] for peak in sizes.peaks or []],
            depends,
            narrower,
            params.search_range_px,
            more_tracks,
        )
        for note in (peak_note, sizes.unresolved_peaks_warning(more_tracks)):
            if note:
                warnings.append(note)
                summary["warnings"].append(note)
    else:
        summary["deconvolved_nm"] = None
    summary["detection"] = _json_ready(threshold.as_dict()) if threshold is not None else None
    summary["concentration"] = _json_ready(
        concentration.concentration_summary(
            localizations,
            n_frames,
            frame_shape,
            params.required("pixel_size_um"),
            params.depth_um,
            n_visits=int(tracks["particle"].nunique()) if len(tracks) else None,
            frame_numbers=frame_numbers,
            separation_px=exclusion_px(params),
            searched_share=searched_share(frame_shape, params),
            tracks=kept,
            minmass=params.minmass,
            step_px2=4.0
            * ensemble.D_um2_s
            * params.required("frame_interval_s")
            / params.required("pixel_size_um") ** 2
            if ensemble.D_um2_s > 0
            else None,
        )
    )
    return AnalysisResult(
        localizations=localizations,
        tracks=kept,
        per_track=per_track,
        summary=summary,
        warnings=warnings,
        params=params,
        ensemble=ensemble,
        sizes=sizes,
        frame_shape=frame_shape,
    )


def _peak_systematic(
    sizes: deconvolve.DeconvolvedSizes,
    systematic: Mapping[str, float],
    params: AnalysisParams,
    field_px: tuple[float, float] | None,
    corrected: pd.DataFrame,
    before_drift: pd.DataFrame,
    bright: pd.DataFrame | None,
    relinked: Sequence[pd.DataFrame | None],
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Relative systematic uncertainty of the deconvolved peaks, by cause and ``total``, and
    the peaks' positions in the narrower relinking (:data:`NARROWER_RANGE_FACTOR`; None: not
    deconvolved, i.e. one peak or no such relinking).

    With one peak, whose population the ensemble then is, the ensemble's terms
    (:func:`sizing.systematic_errors`). With several, each peak's own
    (:func:`peak_systematic.peak_systematic_errors`: the variants of the tracks deconvolved
    again): the ensemble of a mixture mixes the populations' scale with their shares, which its
    terms then measure (leaving the dim tracks out or linking again moves the shares, and the
    estimators weight the populations differently: 7-24 % on the mixtures of docs/accuracy.md
    against 1-7 % for single sizes)."""
    n_peaks = len(sizes.peaks or [])
    if n_peaks <= 1:
        return {cause: np.full(n_peaks, value) for cause, value in systematic.items()}, None

    acquisition = _sizing_settings(params, field_px)

    def distribution_of(tracks: pd.DataFrame) -> np.ndarray | None:
        per_track = sizing.track_diffusion(tracks, **acquisition)
        # the point estimate only, from the solution of all tracks
        solution = deconvolve.deconvolve_tracks(
            tracks, per_track, n_bootstrap=0, warm_start=sizes, **acquisition
        )
        return None if solution is None else solution.deconvolved.weights

    relinked_positions = [
        peak_systematic.variant_positions(sizes, variant, distribution_of) for variant in relinked
    ]
    terms = peak_systematic.peak_systematic_errors(
        sizes,
        corrected,
        distribution_of=distribution_of,
        ensemble_of=lambda tracks: ensemble_estimate(tracks, params, field_px),
        before_drift=before_drift,
        bright=bright,
        relinked_positions=relinked_positions,
    )
    if not relinked:  # the live summary does not relink
        return terms, None
    return terms, relinked_positions[RELINK_RANGE_FACTORS.index(NARROWER_RANGE_FACTOR)]


def _peaks_depending_on_linking(
    sizes: deconvolve.DeconvolvedSizes,
    relinked: Sequence[pd.DataFrame | None],
    narrower: np.ndarray | None,
) -> list[bool] | None:
    """Which tested peaks the narrower relinking does not show (:func:`linking_dependent_peak_
    warning`); None when that is not known (no relinking: the live summary; or the narrower
    range gave no usable track).

    A peak is shown when the distribution of the tracks linked with
    :data:`NARROWER_RANGE_FACTOR` times the search range has a peak in its basin
    (:func:`napari_pynta.peak_systematic.variant_positions`). One peak's basin is the whole
    grid, where every distribution has its maximum: it is always shown.
    """
    n_peaks = len(sizes.peaks or [])
    if not relinked or relinked[RELINK_RANGE_FACTORS.index(NARROWER_RANGE_FACTOR)] is None:
        return None
    if n_peaks <= 1:
        return [False] * n_peaks
    if narrower is None:
        return None
    return [bool(value) for value in np.isnan(narrower)]


def _sizing_settings(
    params: AnalysisParams, field_px: tuple[float, float] | None
) -> dict[str, Any]:
    """The keyword arguments that size tracks (:func:`napari_pynta.sizing.track_diffusion`,
    :func:`napari_pynta.deconvolve.deconvolve_tracks`) as the analysis does."""
    return {
        "pixel_size_um": params.required("pixel_size_um"),
        "frame_interval_s": params.required("frame_interval_s"),
        "exposure_s": params.required("exposure_s"),
        "temperature_c": params.required("temperature_c"),
        "viscosity_pa_s": params.resolved_viscosity_pa_s,
        "field_px": field_px,
    }


def _separation_px(params: AnalysisParams) -> float:
    """The engines' minimum distance between two features (trackpy's ``diameter + 1`` when
    none was set)."""
    if params.separation is not None:
        return float(params.separation)
    return float((params.diameter_px or detect.SHARP_DIAMETER_PX) + 1)


def exclusion_px(params: AnalysisParams) -> float:
    """The distance within which no two features are kept: the engines' separation, or the
    distance within which split images are joined when that is wider (two particles' images
    that close and not parted by a dip are joined too, so the localizations' pair-correlation
    hole reaches it: docs/accuracy.md, "Particles in view under the dip rule"). With the wide
    centroid at least two of its disk radii: the pass finds or loses no feature, but it pulls
    two features closer than two radii (each disk holds the other's light) toward each other,
    so pairs from beyond the join distance land inside it and the hole looks shallower than
    the detector made it (docs/accuracy.md, "Wide centroid and gap spread as the default?")."""
    pulled = 2.0 * (params.wide_radius_px or 0) if params.wide_centroid else 0.0
    return max(_separation_px(params), params.split_within_px or 0.0, pulled)


#: a localizations' column with the threshold each was detected above, when it is not one
#: ``minmass`` for all (the captures that :mod:`napari_pynta.pooled` sizes together: each its own)
THRESHOLD_COLUMN = "detection_minmass"
#: a localizations' column with the distance (px) within which another feature leaves it out
#: of the sizes (:func:`overlap_within_px`), when it is not one for all (pooled captures)
OVERLAP_COLUMN = "overlap_within_px"


def _without_overlaps(tracks: pd.DataFrame, params: AnalysisParams) -> pd.DataFrame:
    """The linked localizations whose centroid mask holds no other feature: the others are
    counted but not sized (:func:`overlapping_localizations`)."""
    return tracks[~overlapping_localizations(tracks, params)]


def overlapping_localizations(localizations: pd.DataFrame, params: AnalysisParams) -> np.ndarray:
    """Which localizations have another feature of their frame closer than
    :func:`overlap_within_px` (their :data:`OVERLAP_COLUMN` when the table has it): the analysis
    counts them but does not size them (none when the engines kept no closer pair).

    Parameters
    ----------
    localizations : pandas.DataFrame
        Columns ``frame``, ``y``, ``x``.
    params : AnalysisParams
        The detection's diameter and separation.

    Returns
    -------
    numpy.ndarray of bool
        One entry per row, in row order.
    """
    if OVERLAP_COLUMN in localizations.columns:
        return detect.overlapping(localizations, localizations[OVERLAP_COLUMN].to_numpy(float))
    return detect.overlapping(localizations, overlap_within_px(params))


def overlap_within_px(params: AnalysisParams) -> float:
    """The distance (px) within which another feature leaves a localization out of the sizes:
    ``diameter + 1``, where its centroid mask holds the other's light
    (:func:`napari_pynta.detect.overlapping`); 0 (none left out) when the separation is at
    least that (the engines merged such pairs)."""
    diameter = params.diameter_px or detect.SHARP_DIAMETER_PX
    if params.separation is None or params.separation >= diameter + 1:
        return 0.0
    return float(diameter + 1)


#: tracks whose mean mass is under this many times ``minmass`` count as near the threshold
NEAR_THRESHOLD_MASS_FACTOR = 2.0
#: the threshold's systematic term needs this fraction of tracks on each side
NEAR_THRESHOLD_MIN_FRACTION = 0.1


def detectable_field_px(
    frame_shape: tuple[int, int] | None, params: AnalysisParams
) -> tuple[float, float] | None:
    """Height and width (pixels) of the area where particles are detected: the frame less the
    detector's edge margin on each side (:func:`napari_pynta.detect.edge_margin_px`: half a
    feature diameter, more with a separation wider than ``diameter + 1``; None without a frame
    shape). The sizes weight steps by it (:func:`napari_pynta.sizing.edge_weights`). Without a
    diameter the engines' default (:data:`napari_pynta.detect.SHARP_DIAMETER_PX`) is the one
    used."""
    diameter = params.diameter_px or detect.SHARP_DIAMETER_PX
    return _field_px(frame_shape, detect.edge_margin_px(diameter, _separation_px(params)))


def _field_px(frame_shape: tuple[int, int] | None, margin: int) -> tuple[float, float] | None:
    """The frame less ``margin`` pixels on each side (None without a frame shape)."""
    if frame_shape is None:
        return None
    return (
        float(max(frame_shape[0] - 2 * margin, 1)),
        float(max(frame_shape[1] - 2 * margin, 1)),
    )


def searched_share(frame_shape: tuple[int, int] | None, params: AnalysisParams) -> float:
    """The share of the field in view that the detector searches.

    Particles in view are those more than half a feature diameter from the edges; a separation
    wider than ``diameter + 1`` widens the engines' edge margin
    (:func:`napari_pynta.detect.edge_margin_px`), so the particles in the ring between are in
    view but not searched. With particles spread evenly their share is the ratio of the areas
    (1 without a frame shape).
    """
    diameter = params.diameter_px or detect.SHARP_DIAMETER_PX
    searched = detectable_field_px(frame_shape, params)
    in_view = _field_px(frame_shape, diameter // 2)
    if searched is None or in_view is None:
        return 1.0
    return searched[0] * searched[1] / (in_view[0] * in_view[1])


def _away_from_threshold(tracks: pd.DataFrame, params: AnalysisParams) -> pd.DataFrame | None:
    """The tracks whose mean mass is well above their detection threshold: the
    :data:`THRESHOLD_COLUMN` of their localizations when the table has it, else ``minmass``
    (None if too few or too many).

    Tracks near the threshold lose their dimmest (most blurred) frames; comparing the sizes
    with and without them shows how much the threshold shapes the result.
    """
    if "mass" not in tracks.columns or tracks.empty:
        return None
    if THRESHOLD_COLUMN in tracks.columns:
        threshold: float | pd.Series = tracks.groupby("particle")[THRESHOLD_COLUMN].max()
    elif params.minmass:
        threshold = params.minmass
    else:
        return None
    brightness = tracks.groupby("particle")["mass"].mean()
    bright = brightness.index[brightness >= NEAR_THRESHOLD_MASS_FACTOR * threshold]
    share = len(bright) / len(brightness)
    if not NEAR_THRESHOLD_MIN_FRACTION <= share <= 1 - NEAR_THRESHOLD_MIN_FRACTION:
        return None
    return tracks[tracks["particle"].isin(bright)]


def _without_fixed_spots(localizations: pd.DataFrame, n_frames: int) -> tuple[pd.DataFrame, str]:
    """The localizations less those at fixed bright spots (:mod:`napari_pynta.detect.fixed`:
    hot pixels, stuck particles, dust), and the warning that says how many were left out ("" if
    none)."""
    fixed = detect_fixed.fixed_spots(localizations, n_frames)
    if not fixed.any():
        return localizations, ""
    spots = detect_fixed.fixed_spot_count(localizations[fixed])
    note = (
        f"{spots} fixed bright spots (features at the same place in at least "
        f"{detect_fixed.FIXED_MIN_FRAME_SHARE:.0%} of the frames: particles stuck to the window, "
        f"dust, hot pixel clusters) were left out: {int(fixed.sum())} localizations, "
        f"{fixed.sum() / max(n_frames, 1):.1f} per frame."
    )
    return localizations[~fixed], note


def unsizeable_diameter_warning(diameter_nm: float, params: AnalysisParams) -> str:
    """The warning for an ensemble diameter no particle tracking can measure ("" if it can).

    Diameters outside :data:`SIZEABLE_NM` come from a setting in the wrong unit: a frame
    interval of 33 ms typed as 33 s makes 100 nm particles 3.3 mm, a viscosity in mPa·s typed as
    Pa·s makes them 0.1 nm, and the analysis had nothing else to say about it.
    """
    low, high = SIZEABLE_NM
    if not math.isfinite(diameter_nm) or low <= diameter_nm <= high:
        return ""
    return (
        f"The ensemble diameter, {diameter_nm:.3g} nm, is outside what particle tracking can "
        f"size ({low:g} nm to {high / 1000:g} µm): a setting is probably in the wrong unit. "
        f"Check the frame interval ({params.frame_interval_s:g} s), the pixel size "
        f"({params.pixel_size_um:g} µm) and the viscosity ({params.resolved_viscosity_pa_s:.3g} "
        "Pa·s; water's is about 0.001)."
    )


def sub_diffraction_spot_warning(spot_sigma_px: float, params: AnalysisParams) -> str:
    """The warning for particles' images narrower than light can form ("" when they are not,
    or their width was not measured).

    A pixel size too small by a factor makes the images that much narrower in µm and the
    particles the square of it larger: 0.0166 µm given for 0.166 µm sized 100 nm particles at
    3.8 µm, inside :data:`SIZEABLE_NM`, with no warning.

    Parameters
    ----------
    spot_sigma_px : float
        The spots' measured Gaussian sigma (px; NaN when not measured).
    params : AnalysisParams
        Gives the pixel size.
    """
    pixel_um = params.required("pixel_size_um")
    sigma_um = spot_sigma_px * pixel_um
    if not (math.isfinite(sigma_um) and sigma_um < NARROWEST_SPOT_UM):
        return ""
    return (
        f"The particles' images are {sigma_um * 1000:.0f} nm wide (Gaussian sigma of "
        f"{spot_sigma_px:.2g} px at {pixel_um:g} µm per pixel), narrower than light can form "
        f"(at least {NARROWEST_SPOT_UM * 1000:.0f} nm; 200-300 nm with NTA objectives): the "
        "pixel size is probably too small (it is the camera's pixel divided by the "
        "magnification, in µm: 0.1-0.2 on NTA microscopes), and sizes scale with its square. "
        "Check --pixel-size-um."
    )


def repeated_frames(localizations: pd.DataFrame) -> np.ndarray:
    """Frames whose two or more localizations are exactly those of the frame before them
    (sorted ``frame`` values; frames without localizations are not compared).

    Camera noise never gives two frames the same features at the same sub-pixel positions and
    brightness: such a frame is a copy (a driver that re-sent its last buffer, a video converted
    to another frame rate), whose steps of zero make particles look slower and larger.
    """
    if localizations.empty:
        return np.empty(0, dtype=np.int64)
    rows = pd.util.hash_pandas_object(localizations[["y", "x", "mass"]], index=False)
    frames = localizations["frame"].to_numpy()
    # an order-free fingerprint of each frame's features: their count and the sum of their hashes
    fingerprint = (
        pd.DataFrame({"frame": frames, "hash": rows.to_numpy()})
        .groupby("frame")["hash"]
        .agg(["size", "sum"])
    )
    same = (fingerprint.diff().to_numpy() == 0).all(axis=1)
    # a frame of one feature may be a stuck, saturated spot alone in view (a flat top is
    # located at the same place with the same mass in every frame): not taken as a copy
    same &= fingerprint["size"].to_numpy() >= 2
    return fingerprint.index.to_numpy()[same].astype(np.int64)


def repeated_frames_warning(repeated: np.ndarray, n_frames: int) -> str:
    """The warning for frames that are copies of the frame before them ("" if none)."""
    if len(repeated) == 0:
        return ""
    shown = ", ".join(str(int(frame)) for frame in repeated[:5])
    more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
    return (
        f"{len(repeated)} of {n_frames} frames are exact copies of the frame before them "
        f"(frames {shown}{more}: the same features at the same sub-pixel positions, which "
        "camera noise never gives): the camera or a conversion of the video to another frame "
        "rate repeated them. A particle makes a step of zero across each copy, so D comes out "
        "too small and sizes too large; analyse the camera's own recording."
    )


def analyze_localizations(
    localizations: pd.DataFrame,
    n_frames: int,
    params: AnalysisParams,
    source: str | None = None,
    frame_shape: tuple[int, int] | None = None,
    threshold: detect.ThresholdEstimate | None = None,
    notes: Sequence[str] = (),
    frame_numbers: np.ndarray | None = None,
    more_tracks: str = deconvolve.MORE_TRACKS,
) -> AnalysisResult:
    """Everything after detection: link, filter, size, summarize.

    Parameters
    ----------
    localizations : pandas.DataFrame
        Localizations of the whole movie.
    n_frames : int
        Number of frames of the movie (for particles per frame).
    params : AnalysisParams
        Validated parameters (``search_range_px=None`` is chosen from the data).
    source : str, optional
        Where the movie came from (recorded in the summary).
    frame_shape : (int, int), optional
        Frame size in pixels; with ``params.depth_um`` it gives the concentration.
    threshold : ThresholdEstimate, optional
        The detection threshold's noise model (its warning is listed, numbers summarized).
    notes : sequence of str
        Warnings about the movie itself (:attr:`Movie.warnings <napari_pynta.readers.Movie>`),
        listed first.
    frame_numbers : ndarray, optional
        Acquisition numbers of the ``n_frames`` frames when the camera lost frames between them
        (the ``frame`` column then holds these numbers: see :func:`analyze`).
    more_tracks : str
        What the warnings advise to record for more tracks (:func:`summarize_tracks`).

    Returns
    -------
    AnalysisResult
    """
    params.validate()
    if frame_shape is not None:
        check_search_range(params, frame_shape)
    notes = list(notes)
    if threshold is not None:
        notes.extend(threshold.notes())
    widened = threshold.diameter.note() if threshold is not None and threshold.diameter else None
    if widened:
        notes.append(widened)
    hot = threshold.hot_pixels if threshold is not None else None
    if hot is not None and len(hot):
        notes.append(detect_hot_pixels.hot_pixel_note(len(hot)))
    repeated_note = repeated_frames_warning(repeated_frames(localizations), n_frames)
    if repeated_note:
        notes.append(repeated_note)
    localizations, fixed_note = _without_fixed_spots(localizations, n_frames)
    if fixed_note:
        notes.append(fixed_note)
    flow, linked, params, range_notes, _ = link_in_flow(localizations, params, n_frames)
    if flow is not None:
        notes.append(flow_note(flow, params))
    notes.extend(range_notes)
    return summarize_tracks(
        linked,
        params,
        flow=flow,
        n_frames=n_frames,
        localizations=localizations,
        source=source,
        frame_shape=frame_shape,
        notes=notes,
        threshold=threshold,
        frame_numbers=frame_numbers,
        more_tracks=more_tracks,
    )


class FlowLinking(NamedTuple):
    """The localizations linked in the frame of the flow taken out (:func:`link_in_flow`)."""

    #: cumulative ``y``, ``x`` (pixels) by frame taken out before linking; None: no flow
    flow: pd.DataFrame | None
    #: the tracks (measured positions)
    tracks: pd.DataFrame
    #: the parameters with the search range used (measured in the flow's frame when not given)
    params: AnalysisParams
    #: warnings about the search range
    notes: list[str]
    #: the measurement of that range (unrounded; whether it was measured); None: given
    suggested: SuggestedRange | None


def link_in_flow(localizations: pd.DataFrame, params: AnalysisParams, n_frames: int) -> FlowLinking:
    """``localizations`` linked as ``pynta analyze`` links them: in the frame of the flow of
    the particles (:func:`flow_for_linking`, or, when the linking-free estimate finds none, the
    drift of the tracks linked as they are, :func:`tracked_flow`), with the search range
    measured there when ``params`` have none. The live calibration measures its range so.

    Parameters
    ----------
    localizations : pandas.DataFrame
        Localizations (``frame, y, x``).
    params : AnalysisParams
        Validated parameters (``search_range_px`` None: measured).
    n_frames : int
        Frames of the movie (for the warning of a range that could not be measured).

    Returns
    -------
    FlowLinking
    """
    flow = flow_for_linking(localizations, params)
    linking = _linked(localizations, params, flow, n_frames)
    if flow is None:
        # a flow as large as the steps hides from the linking-free estimate: the tracks'
        # drift shows it (a sample at rest is linked once, as before)
        flow = tracked_flow(linking.tracks, localizations, params)
        if flow is not None:
            linking = _linked(localizations, params, flow, n_frames)
    return linking


def _linked(
    localizations: pd.DataFrame,
    params: AnalysisParams,
    flow: pd.DataFrame | None,
    n_frames: int,
) -> FlowLinking:
    """``localizations`` linked in the frame of ``flow`` (None: as they are), with the search
    range measured there when ``params`` have none: the tracks, the parameters with the range
    used, the warnings about the range and its measurement."""
    notes: list[str] = []
    search_range_px = params.search_range_px
    suggested = None
    if search_range_px is None:
        # with a flow, this is the second pilot: flow_for_linking's measured the steps in the
        # frame of the uniform flow, which a flow that changes in time widens (3 -> 9 px per
        # frame: 10.5 px for 1.5 px Brownian steps); in the refined flow's frame they are the
        # particles' own (7.5 px, the range the result's tracks are linked with)
        suggested = suggest_search_range_px(
            localizations if flow is None else link.without_flow(localizations, flow),
            params.memory,
        )
        search_range, limited, measured = suggested
        search_range_px = round(search_range, 2)
        params = dataclasses.replace(params, search_range_px=search_range_px)
        if not measured:
            pilot_frames = min(PILOT_FRAMES, n_frames)
            notes.append(unmeasured_range_warning(pilot_frames, search_range, "--search-range-px"))
        if limited:
            notes.append(
                f"Particles move almost as far between frames as they are apart; the search "
                f"range ({search_range:.1f} px) reaches the nearest neighbours or was capped, so "
                "links between neighbours are ambiguous. Lower the concentration or the "
                "frame interval, or set --search-range-px."
            )
    linked = link.link_features(
        localizations, search_range_px, params.memory, params.gap_spread.factor, flow
    )
    return FlowLinking(flow, linked, params, notes, suggested)


#: the narrower of the relinkings: a peak its tracks do not show depends on the linking (one
#: latex that gave two peaks in short movies shows one there: docs/accuracy.md, "Round 11")
NARROWER_RANGE_FACTOR = 0.8
#: search ranges (times the one used) with which the localizations are linked again to see how
#: much the size depends on linking (the ``linking`` systematic term)
RELINK_RANGE_FACTORS = (NARROWER_RANGE_FACTOR, 1.25)


#: a ``linking`` systematic term (fraction of the size) from which the summary warns that the
#: size depends on the linking: 50 nm at 30 fps on the independent simulator (+13-14 % off)
#: gives 6.1-7.7 %; sizes that come out right give up to 4.7 % (our simulator's 100 nm at
#: 30 fps), 3.8 % (the independent 100 nm), 4.3 % (our 50 nm at 200 fps): docs/analysis.md §6
LINKING_WARNING_FRACTION = 0.055


def linking_warning(linking: float, search_range_px: float | None) -> str | None:
    """The warning for a size that depends on the linking (None when it does not).

    Parameters
    ----------
    linking : float
        The ``linking`` systematic term (:func:`napari_pynta.sizing.systematic_errors`): the
        largest relative change of D over the relinkings of :func:`relinked_tracks`.
    search_range_px : float or None
        The search range used (stated in the warning).
    """
    if not linking >= LINKING_WARNING_FRACTION or not search_range_px:
        return None
    low, high = RELINK_RANGE_FACTORS
    return (
        f"The size depends on the linking: it changes by {linking:.0%} when the particles are "
        f"linked with {low:g} or {high:g} times the search range ({search_range_px:.1f} px). "
        "The particles move far between frames for how close they are (small, fast particles "
        "in a crowded field), so links between them are ambiguous: large steps are lost to "
        "neighbours or wrong links are made, and the size can be off by more than that. Record "
        "at a higher frame rate, dilute the sample, or shorten the exposure."
    )


def linking_dependent_peak_warning(
    peaks_nm: Sequence[float],
    depends: Sequence[bool] | None,
    narrower_nm: np.ndarray | None,
    search_range_px: float | None,
    more_tracks: str = deconvolve.MORE_TRACKS,
) -> str | None:
    """The warning for peaks that the narrower relinking does not show (None: there are none).

    Parameters
    ----------
    peaks_nm : sequence of float
        The tested peaks (nm).
    depends : sequence of bool or None
        For each peak, whether it depends on the linking (:func:`_peaks_depending_on_linking`).
    narrower_nm : ndarray or None
        The peaks' positions in the narrower relinking (NaN: not shown), for the warning's text.
    search_range_px : float or None
        The search range used (stated in the warning).
    more_tracks : str
        What to record for more tracks (:data:`napari_pynta.deconvolve.MORE_TRACKS`).
    """
    if not depends or not any(depends) or not search_range_px:
        return None
    flagged = [peak for peak, flag in zip(peaks_nm, depends, strict=True) if flag]
    shown = [] if narrower_nm is None else sorted(narrower_nm[np.isfinite(narrower_nm)])
    names = listed([f"{peak:.0f}" for peak in flagged])
    which = (
        f"The peak at {names} nm depends"
        if len(flagged) == 1
        else f"The peaks at {names} nm depend"
    )
    seen = ", ".join(f"{peak:.0f}" for peak in shown)
    return (
        f"{which} on the linking: linked again with {NARROWER_RANGE_FACTOR:g} times the search "
        f"range ({search_range_px:.1f} px), the tracks show no peak there"
        + (f" (their peaks: {seen} nm)" if seen else "")
        + ". It may not be a population of its own but tracks of a neighbouring peak's "
        "particles bent by ambiguous links (seen with one latex in short movies of small, fast "
        f"particles or of tracks of a few frames). Record {more_tracks} and check the search "
        "range (--search-range-px) before reading it as a population."
    )


def flow_for_linking(localizations: pd.DataFrame, params: AnalysisParams) -> pd.DataFrame | None:
    """The common motion of the particles to take out of their positions before linking, or
    None when it is below :data:`link.FLOW_LINKING_PX_PER_FRAME`.

    A sample that flows several pixels per frame moves its particles out of a search range
    made for their Brownian steps: the linker then joins neighbours, and the sizes came out
    3-5 times too small (100 nm at 70-100 µm/s, 7-10 px per frame: 27 and 19 nm) with an
    uncertainty that did not cover it. The flow is found without linking
    (:func:`link.common_flow_px`) and refined by the tracks linked in its frame
    (:func:`refined_flow`). A flow as large as the particles' own steps escapes the
    linking-free estimate: :func:`tracked_flow` finds it in the tracks of a first linking.

    Returns
    -------
    pandas.DataFrame or None
        Cumulative ``y``, ``x`` (pixels) by frame, for :func:`link.link_features`'s ``flow``.
    """
    uniform = uniform_flow(localizations)
    return None if uniform is None else refined_flow(localizations, uniform, params)


def tracked_flow(
    tracks: pd.DataFrame, localizations: pd.DataFrame, params: AnalysisParams
) -> pd.DataFrame | None:
    """The flow that ``tracks``, linked without taking one out, show as their drift, refined
    (:func:`refined_flow`); None when the drift is at most :data:`link.FLOW_LINKING_PX_PER_FRAME`.

    A flow as large as the particles' own steps (5 px per frame for 2.5 px per axis) puts the
    displacements of a particle's pairs of localizations next to those at rest, and
    :func:`link.common_flow_px` finds no peak; the pilot then measures steps widened by it, and
    the wide range and links judged from each particle's last position join neighbours: 100 nm
    came out at 66 ± 3 nm (at 3 px per frame: 93 nm), although the drift subtracted after
    linking was 90 % of the flow (subtracting the true flow instead gave the same size: the
    links were wrong, not the drift). The drift of these wrong tracks still stands out from the
    drift of a sample at rest (a few hundredths of a pixel per frame).

    Parameters
    ----------
    tracks : pandas.DataFrame
        ``localizations`` linked without a flow taken out (``particle``).
    localizations : pandas.DataFrame
        All localizations (linked again in the flow's frame to refine it).
    params : AnalysisParams
        Validated parameters; ``search_range_px`` None measures a range in the flow's frame.

    Returns
    -------
    pandas.DataFrame or None
        Cumulative ``y``, ``x`` (pixels) by frame, for :func:`link.link_features`'s ``flow``.
    """
    drift = sizing.subtract_drift(link.filter_tracks(tracks, params.min_track_length))[1]
    # per-frame velocity between consecutive frames (pooled recordings restart their drift)
    consecutive = np.diff(drift.index.to_numpy()) == 1
    if not consecutive.any():
        return None
    velocity = np.diff(drift.to_numpy(np.float64), axis=0)[consecutive].mean(axis=0)
    start = _steady_flow(localizations, velocity)
    return None if start is None else refined_flow(localizations, start, params)


def refined_flow(
    localizations: pd.DataFrame, flow: pd.DataFrame, params: AnalysisParams
) -> pd.DataFrame:
    """``flow`` (cumulative ``y``, ``x`` by frame) plus the drift the tracks linked in its frame
    still show (:func:`sizing.subtract_drift`: a flow that is not uniform in time, and the part
    the first estimate missed); ``flow`` itself when no track forms in its frame."""
    frames = flow.index.to_numpy()
    moved = link.without_flow(localizations, flow)
    # a range for these tracks only: the result's is measured again in the refined flow's frame
    # (analyze_localizations), where a flow that changes in time does not widen the steps
    search_range = params.search_range_px or suggest_search_range_px(moved, params.memory)[0]
    try:
        tracks = link.filter_tracks(
            link.link_features(moved, search_range, params.memory, params.gap_spread.factor),
            params.min_track_length,
        )
    except PyntaInputError:  # a range the density does not allow: keep the flow given
        return flow
    if tracks.empty:
        return flow
    residual = sizing.subtract_drift(tracks)[1].reindex(frames).interpolate().ffill().bfill()
    return flow + residual.fillna(0.0)


def uniform_flow(localizations: pd.DataFrame) -> pd.DataFrame | None:
    """The uniform flow :func:`flow_for_linking` starts from (:func:`link.common_flow_px`), as
    cumulative ``y``, ``x`` (pixels) by frame, or None when it is below
    :data:`link.FLOW_LINKING_PX_PER_FRAME`."""
    return _steady_flow(localizations, link.common_flow_px(localizations))


def _steady_flow(localizations: pd.DataFrame, velocity: np.ndarray) -> pd.DataFrame | None:
    """A flow of ``velocity`` (``y``, ``x`` px per frame) over the frames of ``localizations``,
    as cumulative ``y``, ``x`` (pixels) by frame; None when it is at most
    :data:`link.FLOW_LINKING_PX_PER_FRAME` (no flow to take out)."""
    if not link.is_linking_flow(velocity):
        return None
    frames = np.unique(localizations["frame"].to_numpy())
    elapsed = (frames - frames[0]).astype(np.float64)
    return pd.DataFrame({"y": velocity[0] * elapsed, "x": velocity[1] * elapsed}, index=frames)


def flow_velocity_px(flow: pd.DataFrame) -> np.ndarray:
    """The mean velocity (``y``, ``x`` px per frame) of a flow (cumulative ``y``, ``x`` by
    frame, :func:`flow_for_linking`) over its frames."""
    frames = flow.index.to_numpy(np.float64)
    span = max(frames[-1] - frames[0], 1.0)
    return (flow.iloc[-1] - flow.iloc[0]).to_numpy(np.float64) / span


def flow_note(flow: pd.DataFrame, params: AnalysisParams) -> str:
    """The warning that the particles were linked in the frame of a flow (cumulative ``y``,
    ``x`` by frame, :func:`flow_for_linking`)."""
    return flow_speed_note(math.hypot(*flow_velocity_px(flow)), params)


def flow_speed_note(px_per_frame: float, params: AnalysisParams) -> str:
    """The warning that the particles were linked with a flow of ``px_per_frame`` taken out
    (in µm/s too when ``params`` know the pixel size and the frame interval); the live
    summaries say it of the live linker's flow."""
    speed = ""
    if params.pixel_size_um and params.frame_interval_s:
        um_s = px_per_frame * params.pixel_size_um / params.frame_interval_s
        speed = f" ({um_s:.3g} µm/s)"
    return (
        f"The particles move together by {px_per_frame:.1f} px per frame{speed}: a flow, or "
        "a moving stage. They were linked with that common motion taken out (else the search "
        "range, made for Brownian steps, joins neighbours); sizes are valid only if the flow is "
        "uniform across the field. Let the sample settle, or stop the pump, before measuring."
    )


def relinked_tracks(
    localizations: pd.DataFrame, params: AnalysisParams, flow: pd.DataFrame | None = None
) -> list[pd.DataFrame | None]:
    """The localizations linked again with :data:`RELINK_RANGE_FACTORS` times the search range,
    as the result's tracks are made (split at brightness changes, overlaps left out, length
    filter, drift subtracted): their ensemble D and their peaks give the ``linking`` terms.

    Where particles are far apart for their steps every reasonable range gives the same links;
    where they are crowded (small, fast particles at high density), a narrower range cuts the
    largest steps and a wider one adds wrong links, and D moves by several % (docs/accuracy.md).
    A range the density does not allow, or one that leaves no track, gives None.
    """
    variants: list[pd.DataFrame | None] = []
    for factor in RELINK_RANGE_FACTORS:
        try:
            relinked = link.link_features(
                localizations,
                params.required("search_range_px") * factor,
                params.memory,
                params.gap_spread.factor,
                flow,
            )
        except PyntaInputError:
            variants.append(None)
            continue
        relinked = link.split_at_brightness_changes(relinked)
        kept = link.filter_tracks(_without_overlaps(relinked, params), params.min_track_length)
        variants.append(None if kept.empty else sizing.subtract_drift(kept)[0])
    return variants


def ensemble_estimate(
    tracks: pd.DataFrame, params: AnalysisParams, field_px: tuple[float, float] | None
) -> sizing.EnsembleEstimate:
    """The pooled covariance estimate of D (:func:`napari_pynta.sizing.ensemble_diffusion`) of
    ``tracks`` as the analysis sizes them: its pixel size, frame interval and exposure, steps
    weighted for the detectable ``field_px`` (None: unweighted).
    """
    return sizing.ensemble_diffusion(
        tracks,
        params.required("pixel_size_um"),
        params.required("frame_interval_s"),
        params.required("exposure_s"),
        field_px=field_px,
    )


def analyze(movie, params: AnalysisParams, progress: Progress | None = None) -> AnalysisResult:
    """Analyse a whole movie.

    Parameters
    ----------
    movie : napari_pynta.readers.Movie
        The movie (``frames`` (T, Y, X), ``source``; ``frame_numbers`` when the camera lost
        frames: steps across the gaps are sized with their true duration, the result tables'
        ``frame`` stays the index of the movie's frames).
    params : AnalysisParams
        Parameters, usually ``AnalysisParams.from_metadata(movie.metadata, **user_choices)``.
    progress : callable, optional
        ``progress(done, total)`` in frames during detection, the slow step.

    Returns
    -------
    AnalysisResult
        Its summary holds the movie's ``sample`` fields, ``recording`` (date, camera) and the
        concentration of the undiluted sample (:func:`napari_pynta.sample.describe_movie`).
    """
    if not isinstance(params, AnalysisParams):
        raise PyntaInputError(
            "params must be an AnalysisParams (AnalysisParams.from_metadata(movie.metadata, "
            f"...)), got {type(params).__name__}"
        )
    if not hasattr(movie, "frames"):
        raise PyntaInputError(
            "movie must be a movie with frames (napari_pynta.readers.open_movie(path)), got "
            f"{type(movie).__name__}"
        )
    params.validate()
    frames = movie.frames
    check_movie(frames, params)
    threshold = detection_threshold(frames, params)
    params = with_detection(params, threshold)
    localizations = detect_frames(
        frames, params, progress=progress, hot_pixels=threshold.hot_pixels
    )
    result = analyze_detected(
        localizations,
        int(frames.shape[0]),
        params,
        getattr(movie, "frame_numbers", None),
        source=getattr(movie, "source", None),
        frame_shape=(int(frames.shape[1]), int(frames.shape[2])),
        threshold=threshold,
        notes=getattr(movie, "warnings", ()),
        first_frame=getattr(movie, "first_frame", 0),
    )
    describe_movie(result.summary, getattr(movie, "metadata", None) or {})
    return result


def analyze_detected(
    localizations: pd.DataFrame,
    n_frames: int,
    params: AnalysisParams,
    frame_numbers: np.ndarray | None,
    first_frame: int = 0,
    **kwargs: Any,
) -> AnalysisResult:
    """:func:`analyze_localizations` of a movie's localizations (``frame``: the index of its
    frames) whose camera may have lost frames: linked and sized on the acquisition's frame
    numbers, so that a step across a gap spans its true time; the result's tables keep the
    index of the recorded frames (from ``first_frame``), and the summary's ``frame_range`` says
    which were analysed.

    Parameters
    ----------
    localizations : pandas.DataFrame
        Localizations of the whole movie, ``frame`` the index of its frames.
    n_frames : int
        Number of frames of the movie.
    params : AnalysisParams
        Validated parameters.
    frame_numbers : ndarray or None
        Acquisition numbers of the ``n_frames`` frames (:attr:`Movie.frame_numbers
        <napari_pynta.readers.Movie>`); None: the frames follow each other.
    first_frame : int
        The index among the recorded frames of the movie's first frame (:attr:`Movie.first_frame
        <napari_pynta.readers.Movie>`: a part of a movie).
    **kwargs
        The other arguments of :func:`analyze_localizations`.

    Returns
    -------
    AnalysisResult
    """
    if frame_numbers is not None:
        localizations = localizations.copy()
        localizations["frame"] = frame_numbers[localizations["frame"].to_numpy()]
    result = analyze_localizations(
        localizations, n_frames, params, frame_numbers=frame_numbers, **kwargs
    )
    for table in (result.localizations, result.tracks):
        index = table["frame"].to_numpy()
        if frame_numbers is not None:
            index = np.searchsorted(frame_numbers, index)
        table["frame"] = index + first_frame
    result.summary["frame_range"] = [int(first_frame), int(first_frame) + int(n_frames)]
    return result


# ---------------------------------------------------------------------------------- summary
def _json_number(value: Any) -> Any:
    """A JSON-safe number: Python int/float, with NaN and infinities as None."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def summarize(
    localizations: pd.DataFrame,
    tracks: pd.DataFrame,
    per_track: pd.DataFrame,
    ensemble: sizing.EnsembleEstimate,
    warnings: list[str],
    n_frames: int,
    params: AnalysisParams,
    source: str | None = None,
    *,
    before_drift: sizing.EnsembleEstimate | None = None,
    systematic: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The JSON summary of an analysis (keys documented in ``docs/analysis.md``).

    ``before_drift`` is the estimate before drift subtraction (its drift is the one reported)
    and ``systematic`` the relative systematic errors of :func:`sizing.systematic_errors`.
    """
    viscosity = params.resolved_viscosity_pa_s
    diameter = float(
        physics.diameter_nm(ensemble.D_um2_s, params.required("temperature_c"), viscosity)
    )
    # d ∝ 1/D, so the relative errors are equal
    diameter_se = (
        diameter * ensemble.D_se_um2_s / ensemble.D_um2_s if ensemble.D_um2_s > 0 else math.nan
    )
    systematic_nm = {key: diameter * value for key, value in (systematic or {}).items()}
    total_systematic = systematic_nm.get("total", math.nan)
    drift = before_drift or ensemble
    long_lag_nm = (
        float(
            physics.diameter_nm(
                ensemble.D_long_lag_um2_s, params.required("temperature_c"), viscosity
            )
        )
        if ensemble.D_long_lag_um2_s > 0
        else math.nan
    )
    size = sizing.size_statistics(per_track["diameter_nm"])
    used = dataclasses.asdict(params) | {"viscosity_pa_s": viscosity}
    spread = params.gap_spread
    summary = {
        "source": source,
        "n_frames": int(n_frames),
        # the recorded frames analysed, from the first (a part's: :func:`analyze_detected`)
        "frame_range": [0, int(n_frames)],
        "n_localizations": len(localizations),
        "particles_per_frame": len(localizations) / n_frames if n_frames else math.nan,
        "n_tracks": len(per_track),
        "n_steps": ensemble.n_steps,
        "diameter_nm": diameter,
        "diameter_se_nm": diameter_se,
        "diameter_systematic_nm": total_systematic,
        "diameter_uncertainty_nm": math.hypot(diameter_se, total_systematic),
        "systematic_nm": systematic_nm,
        "diameter_long_lag_nm": long_lag_nm,
        "D_long_lag_um2_s": ensemble.D_long_lag_um2_s,
        "step_correlation": {
            str(lag): value
            for lag, value in zip(
                sizing.STEP_CORRELATION_LAGS, ensemble.step_correlation, strict=False
            )
        },
        "step_correlation_se": {
            str(lag): value
            for lag, value in zip(
                sizing.STEP_CORRELATION_LAGS, ensemble.step_correlation_se, strict=False
            )
        },
        "D_um2_s": ensemble.D_um2_s,
        "D_se_um2_s": ensemble.D_se_um2_s,
        "D_msd_um2_s": ensemble.D_msd_um2_s,
        "localization_error_um": ensemble.sigma_um,
        "lag1_cov_ratio": ensemble.lag1_cov_ratio,
        "drift_um_s": {"y": drift.drift_y_um_s, "x": drift.drift_x_um_s},
        "drift_subtracted": before_drift is not None,
        "size_nm": size,
        "warnings": list(warnings),
        "params": used,
        "gap_spread": {"k": spread.factor, "reason": spread.reason},
        "software_version": __version__,
    }
    return _json_ready(summary)


def _json_ready(value: Any) -> Any:
    """Recursively convert numpy scalars to Python and NaN to None."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return _json_number(value)
