"""One definition of every detection, linking and sizing setting.

Each :class:`Setting` holds a setting's name, unit, default, limits and help text once; the offline
parameters (:class:`napari_pynta.analysis.AnalysisParams`), the live configuration
(:class:`napari_pynta.live.LiveConfig`), the GUI's Tracking form
(:class:`napari_pynta.widgets.settings.TrackingSettings`) and the command-line flags are built from
and validated by these definitions, so the four cannot drift apart.

Errors name the field (``min_track_length must be an integer >= 3 (frames), got 2``); a front end
that shows the setting under another name passes it (``name="minimum track length"``), and the
CLI turns :attr:`~napari_pynta.errors.PyntaInputError.field` into its flag.

This module is light (no numpy): the CLI builds its parser from it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from napari_pynta.errors import PyntaInputError, require_int, require_number


def default_engine() -> str:
    """The fastest detection engine installed: ``"fast"`` if numba is there, else ``"trackpy"``.

    Both find the same features (docs/detection.md); the fast one in a tenth of the time.
    """
    return "fast" if importlib.util.find_spec("numba") is not None else "trackpy"


#: most locator processes one live pipeline may run
MAX_LOCATORS = 32
#: widest feature mask, px: the fast engine's background test stores distances up to the radius in
#: uint8 (and a spot 255 px wide is no particle of a light microscope)
MAX_DIAMETER_PX = 255
#: largest separation, px: the automatic one of the widest mask (diameter + 1); the fast engine's
#: buffers grow with it (b18: `--separation 1e9` asked numpy for 2.5 TiB)
MAX_SEPARATION_PX = MAX_DIAMETER_PX + 1
#: pixel sizes in the sample (µm) that a light microscope can have: below, a size in m or mm
#: typed as µm; above, a size in nm typed as µm
PIXEL_SIZE_LIMITS_UM = (0.005, 20.0)
#: diameters (nm) that particle tracking in a light microscope can size: below, no particle
#: scatters enough light to be seen; above, it hardly moves and sinks. A result outside comes
#: from a setting in the wrong unit; a simulation outside is of no NTA movie
SIZEABLE_NM = (1.0, 10_000.0)
#: viscosities (Pa·s) of the liquids a sample can be in: from the thinnest solvents (acetone
#: 0.3 mPa·s, water at 100 °C 0.28 mPa·s) to honey (about 10 Pa·s); water's is about 0.001
VISCOSITY_LIMITS_PA_S = (1e-4, 10.0)
#: the command-line word that asks for the automatic choice of a setting that has a default
#: (``--diameter-px auto``); a front end turns it into None
AUTO = "auto"


@dataclass(frozen=True)
class Setting:
    """One user-facing setting.

    Attributes
    ----------
    name : str
        The field name, the same everywhere (``AnalysisParams``, ``LiveConfig``, the summary's
        ``params``); the CLI flag is ``--`` + the name with dashes.
    kind : type
        ``int``, ``float``, ``bool`` or ``str``.
    default : Any
        The default value; None for a setting chosen automatically (see ``automatic``).
    unit : str
        Unit shown in messages, help texts and form suffixes (``""`` for none).
    label : str
        Short name in the GUI form.
    help : str
        One line explaining the setting.
    minimum, maximum : float, optional
        Limits, inclusive unless ``exclusive_minimum`` / ``exclusive_maximum``.
    odd : bool
        Integers only: must be odd.
    automatic : str, optional
        What None means (``"estimated from the data"``); None when the setting is required.
    """

    name: str
    kind: type
    default: Any
    unit: str
    label: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    odd: bool = False
    automatic: str | None = None

    @property
    def cli_type(self) -> Any:
        """The argparse ``type`` of the flag: :attr:`kind`, which also takes :data:`AUTO` (kept
        as that word) for a setting with both a default and an automatic choice."""
        if self.default is None or self.automatic is None:
            return self.kind

        def parse(text: str) -> Any:
            return AUTO if text == AUTO else self.kind(text)

        parse.__name__ = self.kind.__name__  # argparse names the type in its error messages
        return parse

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--min-track-length``."""
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any, *, name: str | None = None, automatic: bool = True) -> Any:
        """Return ``value`` validated (ints as int, numbers as float), or raise.

        Parameters
        ----------
        value : Any
            The value; None is accepted for an automatic setting.
        name : str, optional
            How the message names the setting (a form label, an engine keyword); the field
            name by default. The error's ``field`` is always :attr:`name`.
        automatic : bool
            False refuses None even for an automatic setting (where a value is needed).

        Raises
        ------
        PyntaInputError
            Naming the setting and what is allowed.
        """
        shown = name or self.name
        if value is None and automatic and self.automatic is not None:
            return None
        if self.kind is int:
            limits = {"minimum": self.minimum, "maximum": self.maximum}
            return require_int(
                shown, value, odd=self.odd, unit=self.unit, field=self.name, **_ints(limits)
            )
        if self.kind is float:
            return require_number(
                shown,
                value,
                minimum=self.minimum,
                maximum=self.maximum,
                exclusive_minimum=self.exclusive_minimum,
                exclusive_maximum=self.exclusive_maximum,
                unit=self.unit,
                field=self.name,
            )
        if not isinstance(value, self.kind) and not (
            self.kind is bool and type(value).__name__ == "bool_"  # numpy booleans
        ):
            raise PyntaInputError(
                f"{shown} must be {'True or False' if self.kind is bool else 'a text'}, "
                f"got {value!r}",
                self.name,
            )
        return bool(value) if self.kind is bool else value

    def cli_help(self, default: str | None = None) -> str:
        """The help text of the CLI flag: what it is, its unit and its default.

        Parameters
        ----------
        default : str, optional
            Where the default comes from when it is not :attr:`default` (e.g. "the movie's
            metadata").
        """
        if default is None and self.default is not None:
            default = str(self.default)
        elif default is None and self.automatic is not None:
            default = self.automatic
        notes = [self.unit] if self.unit else []
        if default is not None:
            notes.append(f"default: {default}")
        return f"{self.help} ({'; '.join(notes)})" if notes else self.help


def _ints(limits: dict[str, float | None]) -> dict[str, int | None]:
    return {key: None if value is None else int(value) for key, value in limits.items()}


def _settings(*settings: Setting) -> Mapping[str, Setting]:
    return {setting.name: setting for setting in settings}


#: every detection, linking and sizing setting by name
SETTINGS: Mapping[str, Setting] = _settings(
    # ---- detection
    Setting(
        "diameter_px",
        int,
        7,
        "px",
        "diameter",
        "feature diameter for detection, odd; a number is kept as given, the default is widened "
        "when the movie's spots are wider than it holds (saturated spots, a wide PSF), 'auto' "
        "also to hold the motion blur measured on the first frames",
        minimum=3,
        maximum=MAX_DIAMETER_PX,
        odd=True,
        automatic="widened from 7 px to hold the motion blur measured on the first frames",
    ),
    Setting(
        "minmass",
        float,
        None,
        "",
        "minmass",
        "minimum integrated brightness of a particle",
        minimum=0.0,
        automatic="estimated from the data",
    ),
    Setting(
        "separation",
        float,
        None,
        "px",
        "separation",
        "minimum distance between particles",
        minimum=0.0,
        maximum=MAX_SEPARATION_PX,
        exclusive_minimum=True,
        automatic="diameter + 1",
    ),
    Setting(
        "percentile",
        float,
        64.0,
        "",
        "percentile",
        "local maxima must exceed this percentile of the frame",
        minimum=0.0,
        maximum=100.0,
        exclusive_maximum=True,
    ),
    Setting("invert", bool, False, "", "invert", "particles are dark on a bright background"),
    Setting(
        "blur_separation",
        bool,
        True,
        "",
        "separation for blur",
        "join the two maxima of one smeared image into one particle: features closer than the "
        "motion blur measured on the first frames, with no dip in the light between them "
        "(off: every maximum is a particle; sizes of small, fast particles come out larger, "
        "docs/analysis.md)",
    ),
    Setting(
        "split_within_px",
        float,
        None,
        "px",
        "split within",
        "the distance within which the blur separation joins the maxima of one smeared image "
        "(a live run's summary gives the one it chose)",
        minimum=0.0,
        exclusive_minimum=True,
        automatic="the separation that holds the motion blur measured on the first frames",
    ),
    Setting(
        "wide_centroid",
        bool,
        False,
        "",
        "wide centroid",
        "move each feature to the centre of mass of the raw frame, less a ring's median, in a "
        "disk of 2.5 image widths (the spot's and the exposure streak's, measured on the first "
        "frames): the exposure-mean position of a smeared image, not its middle "
        "(docs/detection.md)",
    ),
    Setting(
        "engine",
        str,
        default_engine(),
        "",
        "engine",
        "detection engine: fast (trackpy's features, compiled) or trackpy",
    ),
    Setting(
        "blur_gap_spread",
        bool,
        False,
        "",
        "missed frames spread for blur",
        "link across missed frames with the spread motion blur gives: each missed frame adds "
        "1 / (1 - exposure / 3 frame intervals) one-frame spreads, 1.5 at full-frame exposure "
        "(sizes of small, fast particles; docs/accuracy.md)",
    ),
    # ---- linking and track filtering
    Setting(
        "search_range_px",
        float,
        None,
        "px",
        "search range",
        "largest step between frames",
        minimum=0.0,
        exclusive_minimum=True,
        automatic="estimated from the data",
    ),
    Setting(
        "memory",
        int,
        3,
        "frames",
        "memory",
        "how long a particle may be missed and keep its track",
        minimum=0,
    ),
    Setting(
        "min_track_length",
        int,
        10,
        "frames",
        "minimum track length",
        # the covariance estimator needs two successive steps, i.e. three positions
        "shortest track sized, at least 3 (two successive steps)",
        minimum=3,
    ),
    Setting(
        "n_locators",
        int,
        1,
        "",
        "locator workers",
        "locator processes while live",
        minimum=1,
        maximum=MAX_LOCATORS,
    ),
    # ---- sizing: the physics of the sample and the camera
    Setting(
        "pixel_size_um",
        float,
        None,
        "µm",
        "pixel size",
        "pixel size in the sample, in µm (0.1-0.2 on NTA microscopes; not nm, not the camera's)",
        minimum=PIXEL_SIZE_LIMITS_UM[0],
        maximum=PIXEL_SIZE_LIMITS_UM[1],
    ),
    Setting(
        "frame_interval_s",
        float,
        None,
        "s",
        "frame interval",
        "time between frames",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    Setting(
        "exposure_s",
        float,
        None,
        "s",
        "exposure",
        "exposure time of each frame (motion blur), at most the frame interval",
        minimum=0.0,
    ),
    Setting(
        "temperature_c",
        float,
        22.0,
        "°C",
        "temperature",
        "sample temperature",
        minimum=-20.0,
        maximum=150.0,
    ),
    Setting(
        "viscosity_pa_s",
        float,
        None,
        "Pa·s",
        "viscosity",
        "solvent viscosity (water's is about 0.001)",
        minimum=VISCOSITY_LIMITS_PA_S[0],
        maximum=VISCOSITY_LIMITS_PA_S[1],
        automatic="the solvent's at the temperature",
    ),
    Setting(
        "depth_um",
        float,
        None,
        "µm",
        "detection depth",
        "depth of the detection volume, gives particles/mL; calibrate it once on a reference "
        "of known concentration (docs/size-distributions.md)",
        minimum=0.0,
        exclusive_minimum=True,
        automatic="no concentration",
    ),
)

#: settings whose value a movie's metadata gives unless one is given (a flag, a widget field)
METADATA_SETTINGS = (
    "pixel_size_um",
    "frame_interval_s",
    "exposure_s",
    "temperature_c",
    "viscosity_pa_s",
)


def metadata_outside_limits(metadata: Mapping[str, Any]) -> dict[str, PyntaInputError]:
    """The :data:`METADATA_SETTINGS` whose value in ``metadata`` the analysis refuses.

    A store whose temperature read 1e300 °C passed `pynta verify` as "ok" and `pynta analyze`
    then refused it; a viscosity of 100 Pa·s was refused as a ``--viscosity-pa-s`` no one had
    given (x27): both front ends ask this one question.

    Parameters
    ----------
    metadata : Mapping[str, Any]
        A movie's metadata; absent and None values are not checked.

    Returns
    -------
    dict of str to PyntaInputError
        Setting name -> the refusal naming the value and what is allowed, in
        :data:`METADATA_SETTINGS` order.
    """
    refused = {}
    for name in METADATA_SETTINGS:
        if metadata.get(name) is None:
            continue
        try:
            SETTINGS[name].check(metadata[name])
        except PyntaInputError as error:
            refused[name] = error
    return refused
