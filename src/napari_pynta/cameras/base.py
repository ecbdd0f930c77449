"""The camera protocol, its settings, and the pacing/ROI logic every backend shares."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from napari_pynta.errors import PyntaDataError, PyntaInputError, require_positive

Roi = tuple[int, int, int, int]
"""Region of interest ``(y, x, height, width)`` in sensor pixels."""


class CameraExhausted(Exception):
    """Raised by :meth:`Camera.read` when a finite source (non-looping playback) has ended."""


class CameraStalled(PyntaDataError):
    """Raised by :meth:`Camera.read` when a hardware camera sent no frame within its timeout
    (unplugged, its trigger stopped, a driver hang); the message says which and for how long."""


@dataclass(frozen=True)
class CameraSettings:
    """Acquisition settings common to every camera.

    Attributes
    ----------
    fps : float
        Frame rate (frames per second).
    exposure_s : float or None
        Exposure time per frame (s); None means the whole frame interval ``1 / fps``.
    roi : tuple of int or None
        ``(y, x, height, width)`` in sensor pixels; None means the full sensor.
    gain : float
        Analogue gain (1 = none). Backends without gain accept only 1.
    """

    fps: float = 100.0
    exposure_s: float | None = None
    roi: Roi | None = None
    gain: float = 1.0

    @property
    def frame_interval_s(self) -> float:
        """Time between two frames (s)."""
        return 1.0 / self.fps

    @property
    def effective_exposure_s(self) -> float:
        """The exposure time, with None resolved to the frame interval."""
        return self.frame_interval_s if self.exposure_s is None else self.exposure_s

    def validated(
        self, sensor_shape: tuple[int, int], max_fps: float | None = None
    ) -> CameraSettings:
        """Return a checked copy (ROI normalised to a tuple of ints).

        Raises
        ------
        PyntaInputError
            Naming the field and the allowed range.
        """
        fps = require_positive("fps", self.fps)
        if max_fps is not None and fps > max_fps:
            raise PyntaInputError(
                f"fps must be in (0, {max_fps:g}] for this camera, got {fps:g}", "fps"
            )
        exposure = self.exposure_s
        if exposure is not None:
            exposure = require_positive("exposure_s", exposure)
            if exposure > 1.0 / fps * (1 + 1e-9):
                raise PyntaInputError(
                    f"exposure_s must be in (0, {1.0 / fps:g}] s (the frame interval at "
                    f"{fps:g} fps), got {exposure:g}",
                    "exposure_s",
                )
        gain = require_positive("gain", self.gain)
        roi = None if self.roi is None else parse_roi(self.roi, sensor_shape)
        return replace(self, fps=fps, exposure_s=exposure, roi=roi, gain=gain)


def roi_values(roi: Any) -> Roi:
    """``(y, x, height, width)`` of a ROI given as ``"y,x,h,w"`` or four integers, not yet
    checked against a sensor (:func:`parse_roi` does).

    Raises
    ------
    PyntaInputError
        Unless ``roi`` is four integers.
    """
    try:
        values = roi.split(",") if isinstance(roi, str) else list(roi)
        y, x, h, w = (int(v) for v in values)
    except (TypeError, ValueError):
        raise PyntaInputError(
            f"roi must be four integers y,x,height,width, got {roi!r}", "roi"
        ) from None
    return (y, x, h, w)


def parse_roi(roi: Any, sensor_shape: tuple[int, int]) -> Roi:
    """Check a region of interest against the sensor.

    Parameters
    ----------
    roi : str or sequence of int
        ``(y, x, height, width)`` or the string ``"y,x,h,w"``.
    sensor_shape : tuple of int
        ``(height, width)`` of the sensor.

    Returns
    -------
    tuple of int
        The ROI as ``(y, x, height, width)``.
    """
    y, x, h, w = roi_values(roi)
    sy, sx = sensor_shape
    if y < 0 or x < 0 or h < 1 or w < 1 or y + h > sy or x + w > sx:
        raise PyntaInputError(
            f"roi {y},{x},{h},{w} must lie inside the {sy}x{sx} sensor: 0 <= y, y+h <= {sy}, "
            f"0 <= x, x+w <= {sx}, h and w >= 1",
            "roi",
        )
    return (y, x, h, w)


@runtime_checkable
class Camera(Protocol):
    """What the acquisition worker needs from a camera."""

    name: str
    #: reported to the user as warnings when the camera opens
    warnings: list[str]

    @property
    def pixel_size_um(self) -> float | None: ...

    @property
    def sensor_shape(self) -> tuple[int, int]: ...

    @property
    def settings(self) -> CameraSettings: ...

    @property
    def frame_shape(self) -> tuple[int, int]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def metadata_for_store(self) -> dict[str, Any]: ...

    def configure(self, **settings: Any) -> CameraSettings: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def saturation_level(self) -> int:
        """The largest pixel value the camera delivers (saturated pixels have it)."""
        return int(np.iinfo(self.dtype).max)

    @property
    def frames_skipped(self) -> int: ...

    def read(self) -> tuple[np.ndarray, float]: ...

    def rate_time_s(self, timestamp: float) -> float: ...


#: the settings every camera takes (:class:`CameraSettings`), besides its backend's own
COMMON_SETTINGS = ("fps", "exposure_s", "roi", "gain")


def own_arguments(camera: type[BaseCamera], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments ``camera.__init__`` names (not its ``**settings``), from ``settings`` or
    else their defaults: what its constructor checks, for
    :meth:`BaseCamera.check_options` to check the same without making the camera.

    Parameters
    ----------
    camera : type
        The backend whose own arguments are meant (a subclass may take others and pass these
        on).
    settings : mapping
        The camera's settings as given (``--camera-option``).

    Returns
    -------
    dict
        Name -> value for every named argument given or with a default.
    """
    parameters = inspect.signature(camera.__init__).parameters.values()
    return {
        p.name: settings.get(p.name, p.default)
        for p in parameters
        if p.name != "self"
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        and (p.name in settings or p.default is not p.empty)
    }


class BaseCamera:
    """Shared implementation: settings validation, ROI cropping, pacing and frame times.

    Subclasses set ``name``, implement :meth:`_grab` (return one full-sensor or ROI frame) and
    may override :meth:`_apply_settings`, :meth:`open`, :meth:`close` and :meth:`_camera_time_s`.

    Frame times: every frame carries the best time the backend has, in seconds since
    :meth:`start` — the camera's own timestamp where :meth:`_camera_time_s` gives one, else the
    host's wall clock when the frame arrived; never the nominal ``k / fps``.

    Software sources (``paced = True``: simulated, playback) are released no earlier than a fixed
    clock ``t0 + k / fps``; if the source is slower, frames come late (never faster). Hardware
    cameras (``paced = False``: basler, micromanager, opencv) run on their own clock and
    :meth:`read` waits for their frames.

    A free-running source (``free_running``: the simulated and playback cameras) behaves like a
    real camera: frame ``k`` is exposed at ``t0 + k / fps`` whether or not anyone reads it, and
    the camera keeps only the newest :attr:`buffer_frames` frames. A reader that falls further
    behind loses the older ones: they are skipped (:meth:`_skip`, so the scene moves on) and
    counted in :attr:`frames_skipped`, like the frames a real camera's driver loses.
    """

    name = "base"
    _dtype = "uint16"
    #: whether :meth:`_grab` already returns the ROI (hardware ROI) or the full sensor
    grabs_roi = False
    max_fps: float | None = None
    #: whether frames are released on the software clock (sources that have no clock of their own)
    paced = True
    #: what the stored timestamps are (``camera_settings["timestamp_source"]`` in the store)
    timestamp_source = "host arrival"
    #: frames are exposed on the wall clock and lost when the reader falls behind the buffer
    free_running = False
    #: frames a free-running camera holds for a slow reader (a typical driver buffer)
    buffer_frames = 512

    def __init__(self, sensor_shape: tuple[int, int], pixel_size_um: float | None, **settings: Any):
        self._sensor_shape = (int(sensor_shape[0]), int(sensor_shape[1]))
        self._pixel_size_um = (
            None if pixel_size_um is None else require_positive("pixel_size_um", pixel_size_um)
        )
        self._settings = CameraSettings()
        self._running = False
        self._opened = False
        self._t0 = 0.0
        self._start_time = 0.0
        self._last_due = 0.0
        self._count = 0
        self._skipped = 0
        #: what the user should know about the frames this camera gives (a playback of a
        #: recording still being written plays the frames written when it opened); the live
        #: acquisition reports them as warnings
        self.warnings: list[str] = []
        self.configure(**settings)

    @classmethod
    def check_options(cls, settings: dict[str, Any]) -> None:
        """Refuse the values of the backend's own ``settings`` that it would refuse when made,
        without making it (no device opened, no scene built): a run is refused before its
        workers start.

        The base checks ``pixel_size_um`` (every backend takes it); a backend adds the types and
        values of its own arguments (:func:`own_arguments`) and whether its library is
        installed. What depends on the device (a pixel format it offers, its ROI limits) is
        known once it is open.

        Raises
        ------
        PyntaInputError
            Naming the setting, the value and what is allowed.
        """
        if settings.get("pixel_size_um") is not None:
            require_positive("pixel_size_um", settings["pixel_size_um"])

    @classmethod
    def known_sensor_shape(cls, settings: dict[str, Any]) -> tuple[int, int] | None:
        """The sensor's ``(height, width)`` as far as it is known without opening the device
        (settings already checked by :meth:`check_options`): a simulated scene's ``shape``, the
        frames of a replayed movie. None (the base, a real camera): known once it is open.

        With it (and :attr:`max_fps`, a class's own limit), a ROI outside the sensor and a rate
        the camera refuses are refused before any worker starts.
        """
        return None

    # -- properties ---------------------------------------------------------------------------
    @property
    def pixel_size_um(self) -> float | None:
        """Size of one sensor pixel in the sample plane (µm); None if unknown."""
        return self._pixel_size_um

    @property
    def sensor_shape(self) -> tuple[int, int]:
        """Full sensor size ``(height, width)``."""
        return self._sensor_shape

    @property
    def settings(self) -> CameraSettings:
        """Current (validated) settings."""
        return self._settings

    @property
    def dtype(self) -> np.dtype:
        """Pixel type of the frames :meth:`read` returns."""
        return np.dtype(self._dtype)

    @property
    def frame_shape(self) -> tuple[int, int]:
        """Shape of the frames :meth:`read` returns (the ROI size or the sensor)."""
        roi = self._settings.roi
        return self._sensor_shape if roi is None else (roi[2], roi[3])

    @property
    def saturation_level(self) -> int:
        """The largest pixel value the camera delivers (saturated pixels have it)."""
        return int(np.iinfo(self.dtype).max)

    @property
    def frames_skipped(self) -> int:
        """Frames the camera or its driver skipped since :meth:`start` (from its frame counter).

        The acquisition advances its frame number by the increase after each :meth:`read`, so
        the gap shows in the store's ``seq`` and is counted as dropped.
        """
        return self._skipped

    # -- settings -----------------------------------------------------------------------------
    def configure(self, **settings: Any) -> CameraSettings:
        """Change settings (``fps``, ``exposure_s``, ``roi``, ``gain``) and return them.

        Raises
        ------
        PyntaInputError
            For an unknown setting or a value outside the allowed range.
        """
        allowed = set(COMMON_SETTINGS)
        unknown = sorted(set(settings) - allowed)
        if unknown:
            raise PyntaInputError(
                f"unknown {self.name} camera setting(s) {unknown}; allowed: {sorted(allowed)}"
            )
        new = replace(self._settings, **settings).validated(self._sensor_shape, self.max_fps)
        self._apply_settings(new)
        self._settings = new
        # the next frame is due one new interval after the last one (or now, if that is later)
        next_due = time.perf_counter()
        if self._running and self._count:
            next_due = max(next_due, self._last_due + new.frame_interval_s)
        self._t0 = next_due - self._count / new.fps
        return new

    def _apply_settings(self, settings: CameraSettings) -> None:
        """Hook for backends that must push settings to hardware; raise to refuse."""

    def metadata_for_store(self) -> dict[str, Any]:
        """Store metadata describing frames from this camera (see ``store.py`` keys)."""
        s = self._settings
        return {
            "pixel_size_um": self._pixel_size_um,
            "frame_interval_s": s.frame_interval_s,
            "exposure_s": s.effective_exposure_s,
            "camera": self.name,
            "camera_settings": {
                "timestamp_source": self.timestamp_source,
                "fps": s.fps,
                "exposure_s": s.exposure_s,
                "roi": None if s.roi is None else list(s.roi),
                "gain": s.gain,
                "sensor_shape": list(self._sensor_shape),
                "saturation_level": self.saturation_level,
            },
        }

    # -- life cycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Connect to the device (idempotent)."""
        self._opened = True

    def close(self) -> None:
        """Stop and release the device (idempotent)."""
        self.stop()
        self._opened = False

    def start(self) -> None:
        """Start streaming; the frame clock restarts."""
        if not self._opened:
            self.open()
        self._running = True
        self._count = 0
        self._skipped = 0
        self._t0 = self._start_time = time.perf_counter()

    def stop(self) -> None:
        """Stop streaming."""
        self._running = False

    def __enter__(self) -> BaseCamera:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- frames -------------------------------------------------------------------------------
    def read(self) -> tuple[np.ndarray, float]:
        """Return the next frame and its time (s since :meth:`start`).

        A paced source blocks until the frame is due on its clock; the time is then the camera's
        own timestamp (:meth:`_camera_time_s`) or, without one, the wall clock at release.
        """
        if not self._running:
            self.start()
        if self.free_running:
            self._drop_overwritten()
        frame = self._grab()
        if not self.grabs_roi and self._settings.roi is not None:
            y, x, h, w = self._settings.roi
            frame = frame[y : y + h, x : x + w]
        if self.paced:
            due = self._t0 + self._count / self._settings.fps
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self._last_due = due
        camera_time = self._camera_time_s()
        timestamp = time.perf_counter() - self._start_time if camera_time is None else camera_time
        self._count += 1
        return np.ascontiguousarray(frame), timestamp

    def rate_time_s(self, timestamp: float) -> float:
        """The time of the frame just read on the clock its delivery rate is measured on.

        Parameters
        ----------
        timestamp : float
            The frame's time as :meth:`read` gave it.

        Returns
        -------
        float
            ``timestamp`` (the camera's clock: the rate the camera delivered at); a camera
            whose frame times are not when it delivered them (a playback gives the recording's)
            overrides it.
        """
        return timestamp

    def _drop_overwritten(self) -> None:
        """Skip the frames older than the newest :attr:`buffer_frames` exposed ones."""
        exposed = math.floor((time.perf_counter() - self._t0) * self._settings.fps) + 1
        lost = exposed - self.buffer_frames - self._count
        if lost > 0:
            self._skip(lost)
            self._count += lost
            self._skipped += lost

    def _grab(self) -> np.ndarray:
        raise NotImplementedError

    def _skip(self, n_frames: int) -> None:
        """Let ``n_frames`` frames pass unread (free-running cameras implement this)."""
        raise NotImplementedError

    def _camera_time_s(self) -> float | None:
        """The camera's own time of the frame just grabbed (s since start), None if it has none."""
        return None
