"""Cameras: a small protocol and backends (simulated, playback, opencv, micromanager, basler).

>>> from napari_pynta.cameras import open_camera
>>> camera = open_camera("simulated", fps=100, shape=(128, 128))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from napari_pynta.cameras.base import (
    BaseCamera,
    Camera,
    CameraExhausted,
    CameraSettings,
    parse_roi,
)
from napari_pynta.errors import PyntaInputError

#: camera name -> "module:class"; optional backends are imported only when asked for
CAMERAS: dict[str, str] = {
    "simulated": "napari_pynta.cameras.simulated:SimulatedCamera",
    "playback": "napari_pynta.cameras.playback:PlaybackCamera",
    "opencv": "napari_pynta.cameras.opencv:OpenCVCamera",
    "micromanager": "napari_pynta.cameras.micromanager:MicroManagerCamera",
    "basler": "napari_pynta.cameras.basler:BaslerCamera",
}


def camera_class(name: str) -> type[BaseCamera]:
    """Return the backend class registered under ``name``.

    Raises
    ------
    PyntaInputError
        If ``name`` is not a registered camera (the message lists them).
    """
    if name not in CAMERAS:
        raise PyntaInputError(f"camera must be one of {sorted(CAMERAS)}, got {name!r}")
    module_name, class_name = CAMERAS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def allowed_settings(name: str) -> list[str]:
    """Keyword arguments accepted by :func:`open_camera` for the camera ``name``."""
    cls = camera_class(name)
    own = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "settings")]
    return sorted(set(own) | {"fps", "exposure_s", "roi", "gain"})


def open_camera(name: str, **settings: Any) -> BaseCamera:
    """Create and open the camera ``name`` with backend and acquisition settings.

    Parameters
    ----------
    name : str
        One of :data:`CAMERAS`.
    **settings
        ``fps``, ``exposure_s``, ``roi``, ``gain`` and the backend's own keyword arguments.

    Returns
    -------
    Camera
        An opened (not yet started) camera.

    Raises
    ------
    PyntaInputError
        For an unknown camera, an unknown setting or a value out of range; the message lists
        what is available/allowed.
    """
    cls = camera_class(name)
    allowed = allowed_settings(name)
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise PyntaInputError(
            f"unknown setting(s) {unknown} for camera {name!r}; allowed: {sorted(allowed)}"
        )
    camera = cls(**settings)
    camera.open()
    return camera


__all__ = [
    "CAMERAS",
    "BaseCamera",
    "Camera",
    "CameraExhausted",
    "CameraSettings",
    "allowed_settings",
    "camera_class",
    "open_camera",
    "parse_roi",
]
