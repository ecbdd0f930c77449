"""Any webcam or video device through OpenCV (optional extra ``napari-pynta[opencv]``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_pynta.cameras.base import BaseCamera, CameraSettings, CameraStalled, own_arguments
from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.readers import rgb_to_luminance


def _import_cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise PyntaInputError(
            "camera 'opencv' needs OpenCV: pip install 'napari-pynta[opencv]'"
        ) from None
    return cv2


def _check_device(device: Any) -> None:
    """Refuse a ``device`` OpenCV cannot take: a device index >= 0 or a video file/stream URL.

    Raises
    ------
    PyntaInputError
        Naming ``device``, its value and what is allowed.
    """
    index = isinstance(device, int) and not isinstance(device, bool) and device >= 0
    if not (index or (isinstance(device, str) and device)):
        raise PyntaInputError(
            "device must be a device index >= 0 (0: the first webcam) or a video file or "
            f"stream URL, got {device!r}",
            "device",
        )


class OpenCVCamera(BaseCamera):
    """A ``cv2.VideoCapture`` device; colour frames become their Rec. 601 luminance.

    Parameters
    ----------
    device : int or str
        Device index (0 = first webcam) or a video file/stream URL.
    pixel_size_um : float, optional
        Size of a pixel in the sample plane (µm); webcams do not know it (None: unknown, give it
        before sizing).
    **settings
        ``fps``, ``exposure_s`` (forwarded to the driver, which may ignore them), ``roi``
        (software crop), ``gain`` (forwarded).
    """

    name = "opencv"
    paced = False  # a device delivers frames at its own rate; they are stamped on arrival

    def __init__(self, device: int | str = 0, pixel_size_um: float | None = None, **settings: Any):
        _check_device(device)
        self._cv2 = _import_cv2()
        self._capture = self._cv2.VideoCapture(device)
        if not self._capture.isOpened():
            raise PyntaDataError(f"OpenCV could not open video device {device!r}")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            self._capture.release()
            raise PyntaDataError(f"OpenCV device {device!r} returned no frame")
        self._dtype = frame.dtype
        super().__init__(frame.shape[:2], pixel_size_um, **settings)

    @classmethod
    def check_options(cls, settings: dict[str, Any]) -> None:
        """Refuse a device that is neither an index nor a file/URL, and a missing OpenCV,
        without opening the device (both stopped a run only after its workers had started)."""
        super().check_options(settings)
        _check_device(own_arguments(OpenCVCamera, settings)["device"])
        _import_cv2()

    def _apply_settings(self, settings: CameraSettings) -> None:
        cv2 = self._cv2
        self._capture.set(cv2.CAP_PROP_FPS, float(settings.fps))
        if settings.exposure_s is not None:
            self._capture.set(cv2.CAP_PROP_EXPOSURE, float(settings.exposure_s))
        if settings.gain != 1.0:
            self._capture.set(cv2.CAP_PROP_GAIN, float(settings.gain))

    def close(self) -> None:
        """Release the device."""
        super().close()
        self._capture.release()

    def _grab(self) -> np.ndarray:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise CameraStalled("OpenCV device stopped delivering frames")
        if frame.ndim == 3:  # OpenCV delivers BGR
            frame = rgb_to_luminance(frame[..., 2::-1])
        return frame
