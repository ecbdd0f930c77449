"""Basler cameras through the pylon SDK (optional extra ``napari-pynta[basler]``).

``pypylon`` carries the pylon runtime. With the environment variable ``PYLON_CAMEMU=1`` pylon
also lists a "Basler Emulation" camera, which is what the tests and the documentation use; its
test image can be a folder of image files (``image_folder=``), e.g. frames of a simulated movie.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from napari_pynta.cameras.base import BaseCamera, CameraSettings, CameraStalled, own_arguments
from napari_pynta.errors import PyntaDataError, PyntaInputError, require_int

#: pixel formats delivered as plain (unpacked) integers, and their numpy types
PIXEL_FORMATS = {"Mono8": "uint8", "Mono10": "uint16", "Mono12": "uint16", "Mono16": "uint16"}
#: bits per pixel of each format (a 12-bit pixel saturates at 4095 in its uint16)
PIXEL_BITS = {"Mono8": 8, "Mono10": 10, "Mono12": 12, "Mono16": 16}
#: longest wait for one frame from a grabbing camera before giving up (s)
FRAME_TIMEOUT_S = 5.0
#: timestamp ticks per second where the camera does not state it (USB3 Vision, ace 2: 1 ns)
DEFAULT_TICKS_PER_S = 1e9
#: pylon's device class of the camera emulator
EMULATOR_DEVICE_CLASS = "BaslerCamEmu"
#: GigE Vision block IDs are 16 bit, wrap to 1 (0 is never used)
_GIGE_BLOCK_ID_MAX = 0xFFFF


def _import_pylon() -> Any:
    try:
        from pypylon import pylon
    except ImportError:
        raise PyntaInputError(
            "camera 'basler' needs pypylon: pip install 'napari-pynta[basler]'"
        ) from None
    return pylon


def _find_device(pylon: Any, serial: str | None) -> Any:
    """The device info of the camera with ``serial`` (or the first camera)."""
    devices = list(pylon.TlFactory.GetInstance().EnumerateDevices())
    if not devices:
        raise PyntaDataError(
            "no Basler camera found (is it connected and powered? for the emulator set "
            "PYLON_CAMEMU=1)"
        )
    if serial is None:
        return devices[0]
    found = [str(device.GetSerialNumber()) for device in devices]
    for device, number in zip(devices, found, strict=True):
        if number == str(serial):
            return device
    raise PyntaInputError(f"serial {serial!r} is not a connected Basler camera; found {found}")


def _check_arguments(serial: Any, pixel_format: Any, buffer_frames: Any, image_folder: Any) -> None:
    """Refuse values of the camera's own arguments that no Basler camera takes.

    Raises
    ------
    PyntaInputError
        Naming the argument, its value and what is allowed.
    """
    if serial is not None and (isinstance(serial, bool) or not isinstance(serial, (str, int))):
        raise PyntaInputError(
            f"serial must be a camera's serial number (e.g. serial=40012345), got {serial!r}",
            "serial",
        )
    if pixel_format not in PIXEL_FORMATS:
        raise PyntaInputError(
            f"pixel_format must be one of {sorted(PIXEL_FORMATS)}, got {pixel_format!r}",
            "pixel_format",
        )
    require_int("buffer_frames", buffer_frames, minimum=2)
    if image_folder is not None and not (
        isinstance(image_folder, (str, Path)) and Path(image_folder).exists()
    ):
        raise PyntaInputError(
            f"image_folder must be an existing image file or folder, got {image_folder!r}",
            "image_folder",
        )


def block_gap(previous: int, block: int) -> int:
    """Frames missing between two successive block IDs (GigE 16-bit IDs wrap to 1).

    Parameters
    ----------
    previous, block : int
        Block IDs of two successively received frames.

    Returns
    -------
    int
        ``block - previous - 1``, across a wrap of 16-bit GigE block IDs; 0 for an ID that went
        backwards otherwise (a restarted stream).
    """
    if block > previous:
        return block - previous - 1
    if previous <= _GIGE_BLOCK_ID_MAX:
        return (_GIGE_BLOCK_ID_MAX - previous) + (block - 1)
    return 0


class BaslerCamera(BaseCamera):
    """A Basler camera (GigE, USB3 or the pylon emulator) grabbing continuously.

    Frames go through a bounded SDK buffer of ``buffer_frames`` frames: if the acquisition
    falls behind, pylon discards the oldest frames; every frame the camera, the driver or the
    buffer lost shows as a gap in the camera's block ID and is counted in
    :attr:`frames_skipped` (the acquisition stores the gap in ``seq`` and counts it as dropped).
    Frame times are the camera's timestamps (ticks converted to seconds); a camera that sends
    none (the emulator) gets the host clock at arrival.

    Parameters
    ----------
    serial : str, optional
        Serial number of the camera (default: the first camera pylon lists).
    pixel_size_um : float, optional
        Size of one pixel in the sample plane (µm); None means unknown (set it before sizing).
    pixel_format : str
        One of :data:`PIXEL_FORMATS` the camera offers (``Mono8``, ``Mono12``, ``Mono16``...).
    buffer_frames : int
        Frames the SDK buffers before dropping the oldest.
    image_folder : str, optional
        Emulator only: a file or folder of images played as the test image.
    **settings
        ``fps`` (``AcquisitionFrameRate``), ``exposure_s`` (``ExposureTime``), ``roi`` (hardware
        ``OffsetY, OffsetX, Height, Width``), ``gain`` (linear; set as ``20 log10(gain)`` dB).
    """

    name = "basler"
    grabs_roi = True
    paced = False

    def __init__(
        self,
        serial: str | None = None,
        pixel_size_um: float | None = None,
        pixel_format: str = "Mono8",
        buffer_frames: int = 64,
        image_folder: str | None = None,
        **settings: Any,
    ):
        _check_arguments(serial, pixel_format, buffer_frames, image_folder)
        self._pylon = pylon = _import_pylon()
        device = _find_device(pylon, serial)
        self.serial = str(device.GetSerialNumber())
        self.model = str(device.GetModelName())
        #: the emulator sends no timestamps: its frames get the host clock at arrival
        self._emulated = str(device.GetDeviceClass()) == EMULATOR_DEVICE_CLASS
        self.timestamp_source = "host arrival" if self._emulated else "camera"
        self._camera = pylon.InstantCamera(pylon.TlFactory.GetInstance().CreateDevice(device))
        self._camera.Open()
        try:
            self._nodes = self._camera.GetNodeMap()
            available = self._enum_values("PixelFormat")
            if pixel_format not in available:
                raise PyntaInputError(
                    f"pixel_format {pixel_format!r} is not offered by this camera; "
                    f"it offers {sorted(set(available) & set(PIXEL_FORMATS))}"
                )
            self._set("PixelFormat", pixel_format)
            self.pixel_format = pixel_format
            self._dtype = PIXEL_FORMATS[pixel_format]
            if image_folder is not None:
                self._play_images(image_folder)
            self._buffer_frames = buffer_frames
            self._camera.MaxNumBuffer.Value = buffer_frames + 2
            self._camera.OutputQueueSize.Value = buffer_frames
            for name, value in (("OffsetX", 0), ("OffsetY", 0)):
                self._set(name, value)
            if not self._emulated:  # a real sensor: all of it
                for name in ("Width", "Height"):
                    self._set(name, self._node(name).GetMax())
            # the emulator's "sensor" is its default image (1024 x 1040), not its 4096 x 4096 limit
            sensor = (int(self._node("Height").GetValue()), int(self._node("Width").GetValue()))
            self.max_fps = self._node("AcquisitionFrameRate", "AcquisitionFrameRateAbs").GetMax()
            ticks = self._node("GevTimestampTickFrequency", required=False)
            self._ticks_per_s = float(ticks.GetValue()) if ticks else DEFAULT_TICKS_PER_S
            self._reset_clock()
            super().__init__(sensor, pixel_size_um, **settings)
        except Exception:
            self._camera.Close()
            raise

    @classmethod
    def check_options(cls, settings: dict[str, Any]) -> None:
        """Refuse what :meth:`__init__` refuses before it opens the camera, and a missing
        pypylon, without opening it: ``pixel_format=Mono7`` stopped a run only after its
        workers had started. Whether the camera offers the pixel format is known once open."""
        super().check_options(settings)
        given = own_arguments(BaslerCamera, settings)
        _check_arguments(
            given["serial"], given["pixel_format"], given["buffer_frames"], given["image_folder"]
        )
        _import_pylon()

    # -- GenICam nodes ---------------------------------------------------------------------------
    def _node(self, *names: str, required: bool = True) -> Any:
        """The first of ``names`` (SFNC 2 name, then the older GigE name) the camera has."""
        from pypylon import genicam

        for name in names:
            node = self._nodes.GetNode(name)
            if node is not None and genicam.IsAvailable(node):
                return node
        if required:
            raise PyntaDataError(f"this Basler camera has no {' / '.join(names)} feature")
        return None

    def _set(self, name: str, value: Any) -> None:
        node = self._node(name)
        node.FromString(value) if isinstance(value, str) else node.SetValue(value)

    def _enum_values(self, name: str) -> list[str]:
        return [str(entry.GetSymbolic()) for entry in self._node(name).GetEntries()]

    def _play_images(self, image_folder: str) -> None:
        if self._node("ImageFilename", required=False) is None:
            raise PyntaInputError("image_folder works only with the pylon camera emulator")
        self._set("ImageFilename", str(image_folder))
        self._set("ImageFileMode", "On")
        self._set("TestImageSelector", "Off")

    # -- settings --------------------------------------------------------------------------------
    def _apply_settings(self, settings: CameraSettings) -> None:
        """Push settings to the camera; a new ROI pauses grabbing for a moment."""
        old = self._settings
        grabbing = self._camera.IsGrabbing()
        roi = settings.roi or (0, 0, *self._sensor_shape)
        if grabbing and settings.roi != old.roi:
            self._camera.StopGrabbing()
        if not self._camera.IsGrabbing():
            self._apply_roi(roi)
        rate = self._node("AcquisitionFrameRate", "AcquisitionFrameRateAbs")
        enable = self._node("AcquisitionFrameRateEnable", required=False)
        if enable is not None:
            enable.SetValue(True)
        exposure = self._node("ExposureTime", "ExposureTimeAbs")
        self._switch_off("ExposureAuto")
        # a longer exposure may not fit the old rate: lower the rate first, raise it last
        if settings.fps < old.fps:
            rate.SetValue(settings.fps)
        exposure.SetValue(self._in_range(exposure, settings.effective_exposure_s * 1e6, "µs"))
        rate.SetValue(settings.fps)
        gain_db = 20.0 * math.log10(settings.gain)
        gain = self._node("Gain", "GainAbs", required=settings.gain != 1.0)
        if gain is not None:
            self._switch_off("GainAuto")
            gain.SetValue(self._in_range(gain, gain_db, "dB"))
        resulting = self._node("ResultingFrameRate", "ResultingFrameRateAbs", required=False)
        if resulting is not None and resulting.GetValue() < settings.fps * (1 - 1e-3):
            raise PyntaInputError(
                f"fps: this camera reaches at most {resulting.GetValue():.4g} fps with this "
                f"exposure and ROI, got {settings.fps:g}",
                "fps",
            )
        if grabbing and not self._camera.IsGrabbing():
            self._start_grabbing()

    def _switch_off(self, name: str) -> None:
        """Switch off an automatic feature (``ExposureAuto``, ``GainAuto``) if the camera has it."""
        if self._node(name, required=False) is not None:
            self._set(name, "Off")

    def _apply_roi(self, roi: tuple[int, int, int, int]) -> None:
        y, x, h, w = roi
        for name, value in (("OffsetX", 0), ("OffsetY", 0), ("Width", w), ("Height", h)):
            node = self._node(name)
            if name in ("Width", "Height") and (value - node.GetMin()) % node.GetInc():
                raise PyntaInputError(
                    f"roi {name.lower()} must be a multiple of {node.GetInc()} pixels on this "
                    f"camera, got {value}",
                    "roi",
                )
            node.SetValue(value)
        for name, value in (("OffsetX", x), ("OffsetY", y)):
            node = self._node(name)
            if value % node.GetInc():
                raise PyntaInputError(
                    f"roi {'x' if name == 'OffsetX' else 'y'} must be a multiple of "
                    f"{node.GetInc()} pixels on this camera, got {value}",
                    "roi",
                )
            node.SetValue(value)

    @staticmethod
    def _in_range(node: Any, value: float, unit: str) -> float:
        low, high = node.GetMin(), node.GetMax()
        if not low - 1e-9 <= value <= high + 1e-9:
            raise PyntaInputError(
                f"{node.GetNode().GetName()} must be in [{low:g}, {high:g}] {unit} on this "
                f"camera, got {value:g}"
            )
        return min(max(value, low), high)

    @property
    def saturation_level(self) -> int:
        """The largest value of the pixel format (4095 for Mono12)."""
        return 2 ** PIXEL_BITS[self.pixel_format] - 1

    def metadata_for_store(self) -> dict[str, Any]:
        """Camera metadata plus the model, serial, pixel format and SDK buffer size."""
        metadata = super().metadata_for_store()
        metadata["camera_settings"].update(
            model=self.model,
            serial=self.serial,
            pixel_format=self.pixel_format,
            buffer_frames=self._buffer_frames,
            timestamp_ticks_per_s=self._ticks_per_s,
        )
        return metadata

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start grabbing (again); frame times and the block-ID count restart."""
        super().start()
        self._camera.StopGrabbing()
        self._start_grabbing()

    def _start_grabbing(self) -> None:
        self._reset_clock()
        self._camera.StartGrabbing(self._pylon.GrabStrategy_LatestImages)

    def _reset_clock(self) -> None:
        self._last_block: int | None = None
        self._first_tick: int | None = None
        self._first_arrival = 0.0
        self._frame_time: float | None = None  # time of the frame just grabbed

    def stop(self) -> None:
        """Stop grabbing."""
        if self._camera.IsGrabbing():
            self._camera.StopGrabbing()
        super().stop()

    def close(self) -> None:
        """Stop and release the camera."""
        super().close()
        self._camera.Close()

    # -- frames ----------------------------------------------------------------------------------
    def _grab(self) -> np.ndarray:
        pylon = self._pylon
        deadline = time.perf_counter() + FRAME_TIMEOUT_S
        while True:
            remaining_ms = int(1000 * (deadline - time.perf_counter()))
            if remaining_ms <= 0:
                raise CameraStalled(f"Basler camera sent no frame for {FRAME_TIMEOUT_S} s")
            result = self._camera.RetrieveResult(remaining_ms, pylon.TimeoutHandling_Return)
            if result is None or not result.IsValid():
                continue
            try:
                arrival = time.perf_counter() - self._start_time
                block = int(result.GetBlockID())
                if self._last_block is None:
                    self._skipped += int(result.GetNumberOfSkippedImages())
                else:
                    self._skipped += block_gap(self._last_block, block)
                self._last_block = block
                if not result.GrabSucceeded():  # an incomplete frame: lost, like a skipped one
                    self._skipped += 1
                    continue
                frame = np.array(result.GetArray(), dtype=self._dtype, copy=True)
                self._frame_time = self._to_seconds(int(result.GetTimeStamp()), arrival)
                return frame
            finally:
                result.Release()

    def _to_seconds(self, tick: int, arrival: float) -> float:
        """Camera ticks as seconds since start, anchored at the first frame's arrival."""
        if self._emulated:
            return arrival
        if self._first_tick is None:
            self._first_tick, self._first_arrival = tick, arrival
        return self._first_arrival + (tick - self._first_tick) / self._ticks_per_s

    def _camera_time_s(self) -> float | None:
        return self._frame_time
