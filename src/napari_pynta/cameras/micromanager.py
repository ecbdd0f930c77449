"""Scientific cameras through Micro-Manager (optional extra ``napari-pynta[micromanager]``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from napari_pynta.cameras.base import BaseCamera, CameraSettings
from napari_pynta.errors import PyntaDataError, PyntaInputError

#: longest wait for one frame from a running sequence acquisition before giving up (s)
_FRAME_TIMEOUT_S = 5.0


def _default_core(config: str | None) -> Any:
    try:
        from pymmcore_plus import CMMCorePlus
    except ImportError:
        raise PyntaInputError(
            "camera 'micromanager' needs pymmcore-plus: pip install 'napari-pynta[micromanager]'"
        ) from None
    core = CMMCorePlus.instance()
    if config is None:
        core.loadSystemConfiguration()  # Micro-Manager's demo configuration
    else:
        core.loadSystemConfiguration(config)
    return core


class MicroManagerCamera(BaseCamera):
    """The current camera of a Micro-Manager core, streamed with a sequence acquisition.

    Parameters
    ----------
    config : str, optional
        Micro-Manager configuration file (default: the demo configuration).
    pixel_size_um : float, optional
        Overrides the core's pixel-size calibration (required if it has none).
    core : object, optional
        An existing ``CMMCorePlus`` (or compatible) core; used instead of loading ``config``.
    **settings
        ``fps``, ``exposure_s``, ``roi`` (hardware ROI), ``gain`` (the camera's ``Gain``
        property).
    """

    name = "micromanager"
    grabs_roi = True

    def __init__(
        self,
        config: str | None = None,
        pixel_size_um: float | None = None,
        core: Any = None,
        **settings: Any,
    ):
        self._core = core if core is not None else _default_core(config)
        self._core.clearROI()
        sensor = (int(self._core.getImageHeight()), int(self._core.getImageWidth()))
        pixel = pixel_size_um if pixel_size_um is not None else float(self._core.getPixelSizeUm())
        if not pixel:
            raise PyntaInputError(
                "pixel_size_um: Micro-Manager has no pixel-size calibration; pass pixel_size_um=..."
            )
        self._dtype = "uint8" if int(self._core.getBytesPerPixel()) == 1 else "uint16"
        super().__init__(sensor, pixel, **settings)

    def _apply_settings(self, settings: CameraSettings) -> None:
        core = self._core
        if core.isSequenceRunning():
            raise PyntaInputError("stop the micromanager camera before changing its settings")
        core.setExposure(settings.effective_exposure_s * 1e3)
        if settings.roi is None:
            core.clearROI()
        else:
            y, x, h, w = settings.roi
            core.setROI(x, y, w, h)
        if settings.gain != 1.0:
            camera = core.getCameraDevice()
            if not core.hasProperty(camera, "Gain"):
                raise PyntaInputError(f"gain: camera {camera!r} has no Gain property; use gain=1")
            core.setProperty(camera, "Gain", settings.gain)

    def start(self) -> None:
        """Start a continuous sequence acquisition at the frame interval."""
        super().start()
        self._core.startContinuousSequenceAcquisition(self._settings.frame_interval_s * 1e3)

    def stop(self) -> None:
        """Stop the sequence acquisition."""
        if self._core.isSequenceRunning():
            self._core.stopSequenceAcquisition()
        super().stop()

    def _grab(self) -> np.ndarray:
        deadline = time.perf_counter() + _FRAME_TIMEOUT_S
        while self._core.getRemainingImageCount() == 0:
            if time.perf_counter() > deadline:
                raise PyntaDataError(f"micromanager camera sent no frame for {_FRAME_TIMEOUT_S} s")
            time.sleep(0.0005)
        return np.asarray(self._core.popNextImage())
