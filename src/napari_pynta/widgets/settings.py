"""What the Tracking and Sizes widgets edit, as plain validated dataclasses (no Qt).

The widgets build these from their fields, call ``validate()`` and only hand valid settings to the
live pipeline or to the re-analysis; a refused value leaves the workers untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from napari_pynta.errors import PyntaInputError
from napari_pynta.parameters import MAX_LOCATORS as MAX_LOCATORS  # re-exported for the widget
from napari_pynta.parameters import SETTINGS


@dataclass(frozen=True)
class TrackingSettings:
    """Detection and linking parameters of the Tracking widget.

    Field names, defaults and limits are those of :data:`napari_pynta.parameters.SETTINGS`, with
    one difference: the form's spin boxes cannot hold None, so ``diameter_px``, ``minmass``,
    ``separation`` and ``search_range_px`` of 0 mean "automatic" (None elsewhere): estimated from
    the data (offline: from the movie; live: from the first frames of the camera).
    """

    engine: str = SETTINGS["engine"].default
    diameter_px: int = SETTINGS["diameter_px"].default
    minmass: float = 0.0
    separation: float = 0.0
    invert: bool = SETTINGS["invert"].default
    blur_separation: bool = SETTINGS["blur_separation"].default
    blur_gap_spread: bool = SETTINGS["blur_gap_spread"].default
    wide_centroid: bool = SETTINGS["wide_centroid"].default
    percentile: float = SETTINGS["percentile"].default
    search_range_px: float = 0.0
    memory: int = SETTINGS["memory"].default
    min_track_length: int = SETTINGS["min_track_length"].default
    n_locators: int = SETTINGS["n_locators"].default

    def detection(self) -> dict[str, Any]:
        """Keyword arguments of :func:`napari_pynta.detect.locate` (``engine`` excluded)."""
        return {
            "diameter": int(self.diameter_px) if self.diameter_px != 0 else None,
            "minmass": float(self.minmass) if self.minmass > 0 else None,
            "separation": float(self.separation) if self.separation > 0 else None,
            "invert": bool(self.invert),
            "percentile": float(self.percentile),
        }

    def validate(self) -> TrackingSettings:
        """Return self, or raise :class:`PyntaInputError` naming the first bad field."""
        from napari_pynta.detect import check_engine, validate_detection_params

        check_engine(self.engine)
        validate_detection_params(**self.detection())
        for name in ("search_range_px", "memory", "min_track_length", "n_locators"):
            setting = SETTINGS[name]
            value = getattr(self, name)
            setting.check(
                None if name == "search_range_px" and value == 0 else value, name=setting.label
            )
        return self


@dataclass(frozen=True)
class SizingConditions:
    """Physical conditions of the Sizes widget: they turn diffusion into diameter.

    ``viscosity_pa_s`` None means "the solvent's viscosity at ``temperature_c``".
    """

    temperature_c: float = SETTINGS["temperature_c"].default
    solvent: str = "water"
    viscosity_pa_s: float | None = SETTINGS["viscosity_pa_s"].default
    pixel_size_um: float = 0.1
    frame_interval_s: float = 0.01
    exposure_s: float = 0.01

    def resolved_viscosity_pa_s(self) -> float:
        """The viscosity used for sizing (validates temperature and solvent)."""
        from napari_pynta.physics import resolve_viscosity_pa_s

        return resolve_viscosity_pa_s(self.temperature_c, self.viscosity_pa_s, self.solvent)

    def validate(self) -> SizingConditions:
        """Return self, or raise :class:`PyntaInputError` naming the first bad field."""
        self.resolved_viscosity_pa_s()
        for name in (
            "temperature_c",
            "viscosity_pa_s",
            "pixel_size_um",
            "frame_interval_s",
            "exposure_s",
        ):
            SETTINGS[name].check(getattr(self, name), name=SETTINGS[name].label)
        if self.exposure_s > self.frame_interval_s * (1 + 1e-9):
            raise PyntaInputError(
                f"exposure ({self.exposure_s * 1e3:g} ms) must not exceed the frame interval "
                f"({self.frame_interval_s * 1e3:g} ms)"
            )
        return self

    @classmethod
    def from_analysis_params(cls, params: dict[str, Any]) -> SizingConditions:
        """The conditions recorded in ``summary["params"]`` of an analysis (or of live sizes).

        Raises
        ------
        KeyError
            If a field is missing (or None) in ``params``.
        """
        required = (
            "temperature_c",
            "viscosity_pa_s",
            "pixel_size_um",
            "frame_interval_s",
            "exposure_s",
        )
        missing = [key for key in required if params.get(key) is None]
        if missing:
            raise KeyError(f"analysis parameters lack {missing}")
        return cls().with_movie_metadata(params)

    def with_movie_metadata(self, metadata: dict[str, Any]) -> SizingConditions:
        """These conditions with every field the movie metadata knows replaced by its value."""
        known: dict[str, Any] = {
            key: float(metadata[key])
            for key in ("temperature_c", "pixel_size_um", "frame_interval_s", "exposure_s")
            if metadata.get(key) is not None and math.isfinite(float(metadata[key]))
        }
        if metadata.get("solvent"):
            known["solvent"] = str(metadata["solvent"])
        updated = replace(self, **known)
        if metadata.get("viscosity_pa_s") is not None:
            viscosity = float(metadata["viscosity_pa_s"])
            # a recorded viscosity that is just the solvent's at T stays "the solvent's at T"
            if not math.isclose(viscosity, updated._solvent_viscosity(), rel_tol=1e-6):
                updated = replace(updated, viscosity_pa_s=viscosity)
        return updated

    def _solvent_viscosity(self) -> float:
        """The solvent's viscosity at the temperature, NaN when unknown."""
        try:
            return replace(self, viscosity_pa_s=None).resolved_viscosity_pa_s()
        except PyntaInputError:
            return math.nan


def diameter_factor(measured_with: SizingConditions, wanted: SizingConditions) -> float:
    """Factor that re-expresses a diameter measured under ``measured_with`` under ``wanted``.

    Stokes–Einstein gives d = k_B·T / (3π·η·D), and D measured in pixels scales as
    pixel_size² / frame_interval, so d ∝ T·frame_interval / (η·pixel_size²) at fixed tracks.
    Every diameter of an analysis (per-track, ensemble, deconvolved grid and its statistics)
    scales by this one factor.
    """
    kelvin = 273.15
    return (
        (wanted.temperature_c + kelvin)
        / (measured_with.temperature_c + kelvin)
        * measured_with.resolved_viscosity_pa_s()
        / wanted.resolved_viscosity_pa_s()
        * (measured_with.pixel_size_um / wanted.pixel_size_um) ** 2
        * wanted.frame_interval_s
        / measured_with.frame_interval_s
    )


#: entries of a size-statistics dict that are diameters (nm) and scale with :func:`diameter_factor`
DIAMETER_KEYS = (
    "mean",
    "mode",
    "sd",
    "d10",
    "d50",
    "d90",
    "median",
    "peaks",
    "peak_se",
    "peak_systematic",
    "peak_uncertainty",
    "peak_interval_68",
    "peak_statistical_interval_68",
    "unresolved_peaks_nm",
)


def rescale_statistics(statistics: dict[str, Any], factor: float) -> dict[str, Any]:
    """A copy of ``statistics`` with every diameter (:data:`DIAMETER_KEYS`) times ``factor``.

    Dimensionless entries (``span``, ``peak_fractions``, counts) are left as they are; lists
    (also of intervals) are scaled entry by entry, None entries stay None.
    """
    scaled = dict(statistics)
    for key in DIAMETER_KEYS:
        if key in scaled:
            scaled[key] = _times(scaled[key], factor)
    return scaled


def _times(value: Any, factor: float) -> Any:
    """``value`` (a number, None, or a nested list of them) times ``factor``."""
    if isinstance(value, (list, tuple)):
        return [_times(each, factor) for each in value]
    return None if value is None else float(value) * factor
