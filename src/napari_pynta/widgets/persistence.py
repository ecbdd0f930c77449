"""Settings kept between sessions: a JSON file in the user's config directory.

The Sizes conditions (pixel size, temperature, solvent...), the Tracking parameters and the Camera
widget's choices (camera, its options, acquisition settings, record folder) are saved when they
change and restored when napari-pynta opens. ``PYNTA_CONFIG_DIR`` overrides the directory (the
tests use a temporary one). A missing, unreadable or invalid file gives the defaults.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from napari_pynta.errors import PyntaInputError
from napari_pynta.widgets.settings import SizingConditions, TrackingSettings

#: environment variable naming the directory of the settings file
CONFIG_DIR_VARIABLE = "PYNTA_CONFIG_DIR"
SETTINGS_FILE = "settings.json"


def config_dir() -> Path:
    """The directory of the settings file (``PYNTA_CONFIG_DIR`` or the user config dir)."""
    override = os.environ.get(CONFIG_DIR_VARIABLE)
    if override:
        return Path(override)
    try:
        from platformdirs import user_config_dir
    except ImportError:
        return Path.home() / ".config" / "napari-pynta"
    return Path(user_config_dir("napari-pynta", appauthor=False))


def settings_path() -> Path:
    """The settings file."""
    return config_dir() / SETTINGS_FILE


def load_all() -> dict[str, Any]:
    """Everything saved (an empty dict when nothing valid is)."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_section(name: str, values: dict[str, Any]) -> None:
    """Replace one section (``conditions``, ``tracking``, ``camera``) of the settings file.

    A file that cannot be written (read-only home) is silently left as it was: losing a
    preference must never stop a measurement.
    """
    data = load_all()
    data[name] = values
    path = settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass


def _restored(cls: type, values: Any) -> Any:
    """``cls(**values)`` validated, or the defaults when the saved values are not valid."""
    if not isinstance(values, dict):
        return cls()
    names = {item.name for item in dataclasses.fields(cls)}
    try:
        return cls(**{key: value for key, value in values.items() if key in names}).validate()
    except (PyntaInputError, TypeError, ValueError):
        return cls()


def load_conditions() -> SizingConditions:
    """The saved sizing conditions (defaults if none or invalid)."""
    return _restored(SizingConditions, load_all().get("conditions"))


def load_tracking() -> TrackingSettings:
    """The saved tracking settings (defaults if none or invalid)."""
    return _restored(TrackingSettings, load_all().get("tracking"))


def save_conditions(conditions: SizingConditions) -> None:
    """Save the sizing conditions."""
    save_section("conditions", dataclasses.asdict(conditions))


def save_tracking(tracking: TrackingSettings) -> None:
    """Save the tracking settings."""
    save_section("tracking", dataclasses.asdict(tracking))


def load_camera() -> dict[str, Any]:
    """The Camera widget's saved fields (empty if none)."""
    camera = load_all().get("camera")
    return camera if isinstance(camera, dict) else {}


def save_camera(fields: dict[str, Any]) -> None:
    """Save the Camera widget's fields (plain JSON values)."""
    save_section("camera", fields)
