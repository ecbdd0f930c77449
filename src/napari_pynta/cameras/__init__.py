"""Cameras: a small protocol and backends (simulated, playback, opencv, micromanager, basler).

>>> from napari_pynta.cameras import open_camera
>>> camera = open_camera("simulated", fps=100, shape=(128, 128))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import inspect
import os
from typing import Any

from napari_pynta.cameras.base import (
    COMMON_SETTINGS,
    BaseCamera,
    Camera,
    CameraExhausted,
    CameraSettings,
    CameraStalled,
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


#: environment variable naming further backends, ``name=module:Class`` separated by commas (a
#: camera of your own, or a test camera; the live pipeline's workers inherit it)
CAMERAS_ENV = "PYNTA_CAMERAS"


def _registered() -> dict[str, str]:
    """:data:`CAMERAS` plus the backends named in :data:`CAMERAS_ENV`."""
    cameras = dict(CAMERAS)
    for entry in filter(None, os.environ.get(CAMERAS_ENV, "").split(",")):
        name, _, target = entry.partition("=")
        if not name.strip() or target.count(":") != 1:
            raise PyntaInputError(
                f"{CAMERAS_ENV} must be name=module:Class entries separated by commas, got "
                f"{entry!r}"
            )
        cameras[name.strip()] = target.strip()
    return cameras


def camera_names() -> list[str]:
    """The names :func:`open_camera` accepts: :data:`CAMERAS` and those in :data:`CAMERAS_ENV`."""
    return sorted(_registered())


def camera_class(name: str) -> type[BaseCamera]:
    """Return the backend class registered under ``name``.

    Raises
    ------
    PyntaInputError
        If ``name`` is not a registered camera (the message lists them).
    """
    cameras = _registered()
    if name not in cameras:
        raise PyntaInputError(f"camera must be one of {sorted(cameras)}, got {name!r}")
    module_name, class_name = cameras[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def allowed_settings(name: str) -> list[str]:
    """Keyword arguments accepted by :func:`open_camera` for the camera ``name``."""
    cls = camera_class(name)
    own = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "settings")]
    return sorted(set(own) | set(COMMON_SETTINGS))


def required_settings(name: str) -> list[str]:
    """Keyword arguments the camera ``name`` cannot do without (a playback's ``path``)."""
    parameters = inspect.signature(camera_class(name).__init__).parameters.values()
    return sorted(
        p.name
        for p in parameters
        if p.name not in ("self", "settings")
        and p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


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
    "COMMON_SETTINGS",
    "BaseCamera",
    "Camera",
    "CameraExhausted",
    "CameraSettings",
    "CameraStalled",
    "allowed_settings",
    "camera_class",
    "camera_names",
    "open_camera",
    "parse_roi",
    "required_settings",
]
