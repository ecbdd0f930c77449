"""The sample a recording shows (name, operator, diluent, dilution factor, remarks) and how it
was recorded (date, camera, gain).

These fields are stored as flat keys of a store's metadata (``docs/store-format.md``), given to
``pynta acquire`` and the Camera widget when recording, and overridden by ``pynta analyze`` flags.
The dilution factor scales the measured concentration back to the undiluted sample: a sample
diluted 1:100 (``dilution_factor=100``) is 100 times as concentrated as the measured suspension.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from napari_pynta.errors import PyntaInputError, require_int

#: free-text fields of a sample
SAMPLE_TEXT_KEYS = ("sample_name", "operator", "diluent", "remarks")
DILUTION_KEY = "dilution_factor"
#: every sample field, in the order reports and CSVs show them
SAMPLE_KEYS = ("sample_name", "operator", "diluent", DILUTION_KEY, "remarks")
#: how reports and CSVs name the sample fields
SAMPLE_LABELS = {
    "sample_name": "Sample",
    "operator": "Operator",
    "diluent": "Diluent",
    DILUTION_KEY: "Dilution factor",
    "remarks": "Remarks",
}
#: keys grouping the captures of one measurement (``pynta acquire --captures``)
CAPTURE_KEYS = ("measurement_id", "capture_index", "n_captures")
#: the dilution of a sample recorded without one: measured as it is
UNDILUTED = 1.0
#: the largest dilution factor: beyond, a typo (b18: 1e300 made the sample's concentration
#: infinite, and `pynta analyze --json` printed "Infinity", which no strict JSON reader takes)
MAX_DILUTION = 1e9


def validate_sample_value(key: str, value: Any) -> Any:
    """Check one sample field; return it as stored (text, or the dilution as a float).

    Parameters
    ----------
    key : str
        A key of :data:`SAMPLE_KEYS` or :data:`CAPTURE_KEYS`.
    value : Any
        Its value; None means not given.

    Raises
    ------
    PyntaInputError
        Naming the field: text fields must be text, the dilution factor a number in
        [1, :data:`MAX_DILUTION`] (1 = undiluted, 100 = diluted 1:100), capture numbers
        integers >= 1.
    """
    if value is None:
        return None
    if key == DILUTION_KEY:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not UNDILUTED <= number <= MAX_DILUTION:  # NaN too
            raise PyntaInputError(
                f"{DILUTION_KEY} must be a number >= 1 and <= {MAX_DILUTION:g} (1 = undiluted, "
                f"100 = diluted 1:100), got {value!r}",
                DILUTION_KEY,
            )
        return number
    if key in ("capture_index", "n_captures"):
        return require_int(key, value, minimum=1)
    if key not in (*SAMPLE_TEXT_KEYS, "measurement_id"):
        raise PyntaInputError(
            f"unknown sample field {key!r}; allowed: {', '.join(SAMPLE_KEYS + CAPTURE_KEYS)}"
        )
    if not isinstance(value, str):
        raise PyntaInputError(f"{key} must be text, got {value!r}")
    return value


def validate_sample(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check sample fields given by a user; return the given ones (None values dropped).

    Raises
    ------
    PyntaInputError
        For an unknown field or a bad value.
    """
    return {
        key: validate_sample_value(key, value) for key, value in fields.items() if value is not None
    }


def sample_from_metadata(metadata: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """The sample of a recording: its stored fields, with non-None ``overrides`` winning.

    Parameters
    ----------
    metadata : Mapping
        Store metadata (other keys are ignored).
    **overrides
        Sample fields given by the user (e.g. ``pynta analyze --dilution``); None keeps the
        stored value.

    Returns
    -------
    dict
        Every key of :data:`SAMPLE_KEYS`: text or None, and ``dilution_factor`` (1.0 when
        neither stored nor given).

    Raises
    ------
    PyntaInputError
        For an unknown field or a bad value.
    """
    given = validate_sample(overrides)
    sample = {
        key: given[key] if key in given else validate_sample_value(key, metadata.get(key))
        for key in SAMPLE_KEYS
    }
    if sample[DILUTION_KEY] is None:
        sample[DILUTION_KEY] = UNDILUTED
    return sample


def attach_sample(summary: dict[str, Any], sample: Mapping[str, Any]) -> dict[str, Any]:
    """Record ``sample`` in an analysis summary and scale its concentration by the dilution.

    Adds ``summary["sample"]`` and, in ``summary["concentration"]``, ``dilution_factor`` and
    ``sample_particles_per_ml`` (``_sem``): the concentration of the undiluted sample, i.e. the
    measured ``particles_per_ml`` times the dilution factor (None without a detection depth).
    Calling it again replaces the previous sample.

    Parameters
    ----------
    summary : dict
        An analysis summary (``AnalysisResult.summary``), changed in place.
    sample : Mapping
        Output of :func:`sample_from_metadata`.

    Returns
    -------
    dict
        ``summary``.
    """
    sample = sample_from_metadata(sample)
    dilution = sample[DILUTION_KEY]
    summary["sample"] = sample
    entry = summary.get("concentration")
    if entry is not None:
        measured, sem = entry.get("particles_per_ml"), entry.get("particles_per_ml_sem")
        entry["dilution_factor"] = dilution
        entry["sample_particles_per_ml"] = None if measured is None else measured * dilution
        entry["sample_particles_per_ml_sem"] = None if sem is None else sem * dilution
    return summary


def recording_from_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """How a movie was recorded, from its store metadata: ``start_time``, ``camera``, ``gain``
    and ``camera_settings`` (None where unknown)."""
    settings = metadata.get("camera_settings")
    settings = _plain_json(dict(settings)) if isinstance(settings, Mapping) else {}
    return {
        "start_time": metadata.get("start_time"),
        "camera": metadata.get("camera"),
        "gain": settings.get("gain"),
        "camera_settings": settings,
    }


def _plain_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples as lists, numpy values as Python ones)."""

    def convert(obj: Any) -> Any:
        return obj.tolist() if hasattr(obj, "tolist") else str(obj)

    return json.loads(json.dumps(value, default=convert))


def describe_movie(
    summary: dict[str, Any], metadata: Mapping[str, Any], **overrides: Any
) -> dict[str, Any]:
    """Attach a movie's sample (:func:`attach_sample`, ``overrides`` winning over the stored
    fields) and its ``recording`` (:func:`recording_from_metadata`) to an analysis summary.

    Returns
    -------
    dict
        ``summary``, changed in place.
    """
    attach_sample(summary, sample_from_metadata(metadata, **overrides))
    summary["recording"] = recording_from_metadata(metadata)
    return summary
