"""Scientific cameras through Micro-Manager (optional extra ``napari-pynta[micromanager]``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from napari_pynta.cameras.base import BaseCamera, CameraSettings, CameraStalled, own_arguments
from napari_pynta.errors import PyntaInputError

#: longest wait for one frame from a running sequence acquisition before giving up (s)
_FRAME_TIMEOUT_S = 5.0
#: camera properties that set the frame rate, by adapter (most adapters have none: the camera
#: then runs as fast as its exposure allows and the stored timestamps give the real interval)
FRAME_RATE_PROPERTIES = ("AcquisitionFrameRate", "FrameRate", "Framerate", "Frame Rate")
#: image metadata tag with the core's time of the frame (ms)
ELAPSED_TIME_TAG = "ElapsedTime-ms"
#: image metadata tag counting the frames of a sequence (a gap = frames the adapter skipped)
IMAGE_NUMBER_TAG = "ImageNumber"


def _core_class() -> Any:
    """pymmcore-plus's ``CMMCorePlus``, or an error saying how to install it."""
    try:
        from pymmcore_plus import CMMCorePlus
    except ImportError:
        raise PyntaInputError(
            "camera 'micromanager' needs pymmcore-plus: pip install 'napari-pynta[micromanager]'"
        ) from None
    return CMMCorePlus


def _default_core(config: str | None) -> Any:
    core = _core_class().instance()
    if config is None:
        core.loadSystemConfiguration()  # Micro-Manager's demo configuration
    else:
        core.loadSystemConfiguration(config)
    return core


def _check_arguments(config: Any, core: Any) -> None:
    """Refuse a ``config`` that is not an existing file and a ``core`` that is not an object
    (``--camera-option core=...`` gives text).

    Raises
    ------
    PyntaInputError
        Naming the argument, its value and what is allowed.
    """
    if config is not None and not (isinstance(config, (str, Path)) and Path(config).is_file()):
        raise PyntaInputError(
            "config must be an existing Micro-Manager configuration file (.cfg), or left out "
            f"for the demo configuration, got {config!r}",
            "config",
        )
    if isinstance(core, (str, bytes, int, float, list, dict)):
        raise PyntaInputError(
            "core is a Micro-Manager core object (CMMCorePlus) for Python callers; from the "
            f"command line give config=FILE.cfg instead, got {core!r}",
            "core",
        )


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
        ``fps`` (the camera's frame-rate property where it has one, see
        :data:`FRAME_RATE_PROPERTIES`; Micro-Manager ignores the interval of a sequence
        acquisition for nearly all cameras), ``exposure_s``, ``roi`` (hardware ROI), ``gain``
        (the camera's ``Gain`` property). Changing them while streaming pauses the sequence.

    Frame times are Micro-Manager's image metadata time (``ElapsedTime-ms``), else the host
    clock at arrival; a gap in the ``ImageNumber`` tag counts as skipped frames.
    """

    name = "micromanager"
    grabs_roi = True
    paced = False
    timestamp_source = "micromanager ElapsedTime-ms"

    def __init__(
        self,
        config: str | None = None,
        pixel_size_um: float | None = None,
        core: Any = None,
        **settings: Any,
    ):
        _check_arguments(config, core)
        self._core = core if core is not None else _default_core(config)
        self._core.clearROI()
        sensor = (int(self._core.getImageHeight()), int(self._core.getImageWidth()))
        pixel = pixel_size_um if pixel_size_um is not None else float(self._core.getPixelSizeUm())
        if not pixel:
            raise PyntaInputError(
                "pixel_size_um: Micro-Manager has no pixel-size calibration; pass "
                "pixel_size_um=...",
                "pixel_size_um",
                ("pixel_size_um",),
            )
        self._dtype = "uint8" if int(self._core.getBytesPerPixel()) == 1 else "uint16"
        super().__init__(sensor, pixel, **settings)

    @classmethod
    def check_options(cls, settings: dict[str, Any]) -> None:
        """Refuse a missing configuration file, a core given as text and a missing
        pymmcore-plus without loading Micro-Manager (they stopped a run only after its workers
        had started)."""
        super().check_options(settings)
        given = own_arguments(MicroManagerCamera, settings)
        _check_arguments(given["config"], given["core"])
        if given["core"] is None:
            _core_class()

    def _apply_settings(self, settings: CameraSettings) -> None:
        core = self._core
        running = core.isSequenceRunning()
        if running:  # most adapters refuse changes during a sequence: pause it
            core.stopSequenceAcquisition()
        core.setExposure(settings.effective_exposure_s * 1e3)
        if settings.roi is None:
            core.clearROI()
        else:
            y, x, h, w = settings.roi
            core.setROI(x, y, w, h)
        camera = core.getCameraDevice()
        if settings.gain != 1.0:
            if not core.hasProperty(camera, "Gain"):
                raise PyntaInputError(
                    f"gain: camera {camera!r} has no Gain property; use gain=1", "gain", ("gain",)
                )
            core.setProperty(camera, "Gain", settings.gain)
        self.frame_rate_property = next(
            (name for name in FRAME_RATE_PROPERTIES if core.hasProperty(camera, name)), None
        )
        if self.frame_rate_property is not None:
            core.setProperty(camera, self.frame_rate_property, settings.fps)
        if running:
            self._start_sequence(settings)

    def metadata_for_store(self) -> dict[str, Any]:
        """Camera metadata plus the camera device and the property that set the frame rate."""
        metadata = super().metadata_for_store()
        metadata["camera_settings"].update(
            device=str(self._core.getCameraDevice()),
            frame_rate_property=self.frame_rate_property,
        )
        return metadata

    def start(self) -> None:
        """Start a continuous sequence acquisition at the frame interval."""
        super().start()
        self._start_sequence(self._settings)

    def _start_sequence(self, settings: CameraSettings) -> None:
        self._first_elapsed_ms: float | None = None
        self._last_image_number: int | None = None
        self._core.startContinuousSequenceAcquisition(settings.frame_interval_s * 1e3)

    def stop(self) -> None:
        """Stop the sequence acquisition."""
        if self._core.isSequenceRunning():
            self._core.stopSequenceAcquisition()
        super().stop()

    def _grab(self) -> np.ndarray:
        deadline = time.perf_counter() + _FRAME_TIMEOUT_S
        while self._core.getRemainingImageCount() == 0:
            if time.perf_counter() > deadline:
                raise CameraStalled(f"micromanager camera sent no frame for {_FRAME_TIMEOUT_S} s")
            time.sleep(0.0005)
        arrival = time.perf_counter() - self._start_time
        image, tags = self._core.popNextImageAndMD()
        self._frame_time = self._frame_time_s(tags, arrival)
        number = _number(tags, IMAGE_NUMBER_TAG)
        if number is not None:
            if self._last_image_number is not None and number > self._last_image_number + 1:
                self._skipped += int(number - self._last_image_number - 1)
            self._last_image_number = int(number)
        return np.asarray(image)

    def _frame_time_s(self, tags: Any, arrival: float) -> float:
        """The image's ``ElapsedTime-ms`` as seconds since start, anchored at the first arrival."""
        elapsed_ms = _number(tags, ELAPSED_TIME_TAG)
        if elapsed_ms is None:
            return arrival
        if self._first_elapsed_ms is None:
            self._first_elapsed_ms, self._first_arrival = elapsed_ms, arrival
        return self._first_arrival + (elapsed_ms - self._first_elapsed_ms) / 1e3

    def _camera_time_s(self) -> float | None:
        return self._frame_time


def _number(tags: Any, key: str) -> float | None:
    """A numeric image metadata tag, None if absent or not a number."""
    try:
        return float(tags[key])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
