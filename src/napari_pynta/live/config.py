"""Configuration, status and endpoints of the live pipeline (plain data, picklable for spawn)."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from napari_pynta.errors import PyntaInputError, require_int, require_positive
from napari_pynta.parameters import MAX_LOCATORS as MAX_LOCATORS  # re-exported
from napari_pynta.parameters import SETTINGS, default_engine
from napari_pynta.sample import validate_sample


@dataclass
class LiveConfig:
    """Everything the live pipeline needs; see ``docs/live-pipeline.md``.

    Attributes
    ----------
    camera : str
        One of :func:`napari_pynta.cameras.camera_names`.
    camera_settings : dict
        Keyword arguments of :func:`~napari_pynta.cameras.open_camera` (``fps``, ``exposure_s``,
        ``roi``, ``gain`` and the backend's own, e.g. ``shape``, ``n_particles``, ``path``).
    n_frames : int or None
        Stop acquiring after this many frames read (the frames a recording holds; frames the
        camera lost are seq gaps beside them); None runs until :meth:`LivePipeline.stop`.
    seconds : float or None
        Stop acquiring at the first frame this long or longer after the first one, on the
        camera's clock: that frame is neither kept nor counted, so a run of ``S`` s at ``F``
        fps holds ``ceil(S * F)`` frames (:class:`~napari_pynta.live.time_limit.TimeLimit`).
        With ``n_frames`` too, the first limit reached ends the run.
    record_path : str or None
        Record from the first frame into this zarr store.
    overwrite : bool
        Replace an existing store at ``record_path``.
    track : bool
        Run the locator pool, the linker and the sizer.
    n_locators : int
        Locator processes (1..:data:`MAX_LOCATORS`), changeable while running.
    engine : str or None
        Localization engine; None picks :func:`default_engine`.
    detection : dict
        Keyword arguments of :func:`napari_pynta.detect.locate` (``diameter``, ``minmass``, ...).
        ``diameter: None`` asks for the automatic diameter, chosen from the motion blur of the
        first frames (without a ``diameter`` the engines' 7 px).
    search_range_px, memory, min_track_length
        Linking and track filtering (pixels, frames, frames). ``minmass`` and
        ``search_range_px`` left at None (and a ``diameter`` of None) are chosen from the first
        frames (not recorded)
        exactly like ``pynta analyze`` chooses them. Defaults and limits of these, of
        ``n_locators``, ``temperature_c`` and ``viscosity_pa_s`` are those of
        :data:`napari_pynta.parameters.SETTINGS`.
    blur_separation : bool
        Without a ``separation`` in ``detection``, choose one that holds the motion blur of
        the first frames, as ``pynta analyze --blur-separation`` does.
    blur_gap_spread : bool
        Link across missed frames with the spread the camera's motion blur gives, as
        ``pynta analyze --blur-gap-spread`` does (:attr:`napari_pynta.analysis.AnalysisParams.
        gap_spread`, from the camera's exposure and frame interval).
    wide_centroid : bool
        Without a ``wide_radius_px`` in ``detection``, the calibration chooses the wide
        centroid's disk from the spots and the streak of the first frames and the locators move
        each feature to its wide centroid, as ``pynta analyze --wide-centroid`` does.
    hot_pixels : list of (int, int) or None
        (row, column) of the camera's hot pixels (single pixels far above their neighbours in
        every frame), replaced in each frame by the median of their 8 neighbours before
        detection (the recording keeps the raw frames). None: found in the first frames (not
        recorded) as ``pynta analyze`` finds them (:func:`~napari_pynta.detect.hot_pixels.
        find_hot_pixels`); ``[]`` repairs none.
    temperature_c, viscosity_pa_s
        Sample conditions for sizes (viscosity None = water at ``temperature_c``).
    host : str or None
        Serve the viewers' sockets (``frames``, ``results``) on ``tcp://host:port`` so other
        machines may watch; None keeps every socket on ``ipc://`` in a private temporary
        directory. The internal sockets stay on ipc either way. A host other than loopback
        needs ``keys_dir`` (or ``insecure``).
    keys_dir : str or None
        A key directory of :func:`napari_pynta.live.keys.make_keys` (``pynta keys DIR``): the
        tcp sockets then use CURVE encryption and accept only the clients in
        ``keys_dir/authorized``.
    insecure : bool
        Serve a non-loopback ``host`` without keys (anyone who can reach it may watch).
    save_buffer_mb : float
        Memory for frames sent to the saver but not yet written; when full, recording stops
        with an error instead of losing frames.
    frame_ring : bool
        Hand frames to the saver and the locators through a shared-memory ring of
        ``save_buffer_mb + track_buffer_mb`` (reserved as it is used): one copy per frame, only
        headers in the messages. False (or a ring that cannot be created: a warning says so)
        sends the pixels in the messages. Viewers always get the pixels.
    track_buffer_mb : float
        Memory for frames waiting for a free locator; when full, frames are left untracked
        (counted in ``frames_untracked``; the recording is unaffected).
    sizes_interval_s : float
        How often the linker publishes the running size distribution.
    camera_timeout_s : float or None
        A camera read that has not returned for this long (s) is a camera that hangs: the run
        ends as when a camera stops delivering (every frame it delivered kept, ``camera_failed``
        says why). None: 10 s or five frame intervals, whichever is longer
        (:func:`napari_pynta.live.workers.acquisition.camera_timeout_s`); longer for a camera
        that waits for an external trigger.
    sample : dict
        Sample fields (:data:`napari_pynta.sample.SAMPLE_KEYS`) stored with every recording.
    """

    camera: str = "simulated"
    camera_settings: dict[str, Any] = field(default_factory=dict)
    n_frames: int | None = None
    seconds: float | None = None
    record_path: str | None = None
    overwrite: bool = False
    track: bool = True
    n_locators: int = SETTINGS["n_locators"].default
    engine: str | None = None
    detection: dict[str, Any] = field(default_factory=dict)
    search_range_px: float | None = SETTINGS["search_range_px"].default
    memory: int = SETTINGS["memory"].default
    min_track_length: int = SETTINGS["min_track_length"].default
    blur_separation: bool = SETTINGS["blur_separation"].default
    blur_gap_spread: bool = SETTINGS["blur_gap_spread"].default
    wide_centroid: bool = SETTINGS["wide_centroid"].default
    hot_pixels: list[list[int]] | None = None
    temperature_c: float = SETTINGS["temperature_c"].default
    viscosity_pa_s: float | None = SETTINGS["viscosity_pa_s"].default
    host: str | None = None
    keys_dir: str | None = None
    insecure: bool = False
    save_buffer_mb: float = 512.0
    track_buffer_mb: float = 256.0
    frame_ring: bool = True
    sizes_interval_s: float = 0.5
    camera_timeout_s: float | None = None
    sample: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> LiveConfig:
        """Check every field (and the camera name); return self.

        Raises
        ------
        PyntaInputError
            Naming the field and the allowed range or choices.
        """
        from napari_pynta.cameras import camera_names

        if self.camera not in camera_names():
            raise PyntaInputError(f"camera must be one of {camera_names()}, got {self.camera!r}")
        if not isinstance(self.camera_settings, dict):
            raise PyntaInputError(f"camera_settings must be a dict, got {self.camera_settings!r}")
        check_camera_settings(self.camera, self.camera_settings)
        if self.n_frames is not None:
            require_int("n_frames", self.n_frames, minimum=1)
        if self.seconds is not None:
            require_positive("seconds", self.seconds)
        SETTINGS["n_locators"].check(self.n_locators)
        if self.engine is None:
            self.engine = default_engine()
        if not isinstance(self.detection, dict):
            raise PyntaInputError(
                f"detection must be a dict of locate() options, got {self.detection!r}"
            )
        check_detection(self.engine, self.detection)
        for name in (
            "search_range_px",
            "memory",
            "min_track_length",
            "blur_separation",
            "blur_gap_spread",
            "wide_centroid",
            "temperature_c",
            "viscosity_pa_s",
        ):
            SETTINGS[name].check(getattr(self, name))
        if self.hot_pixels is not None:
            self.hot_pixels = check_hot_pixels(self.hot_pixels)
        for name in ("save_buffer_mb", "track_buffer_mb", "sizes_interval_s"):
            require_positive(name, getattr(self, name))
        if self.camera_timeout_s is not None:
            require_positive("camera_timeout_s", self.camera_timeout_s)
        if not isinstance(self.sample, dict):
            raise PyntaInputError(f"sample must be a dict of sample fields, got {self.sample!r}")
        self.sample = validate_sample(self.sample)
        self.refuse_recording_over_the_playback()
        if self.host is not None and (not isinstance(self.host, str) or not self.host):
            raise PyntaInputError(f"host must be a host name or IP address, got {self.host!r}")
        self._check_remote_access()
        return self

    def refuse_recording_over_the_playback(
        self, path: str | os.PathLike[str] | None = None, name: str = "record_path"
    ) -> None:
        """Refuse recording into ``path`` (default ``record_path``) when it is, holds or lies in
        the movie the playback camera plays.

        With ``overwrite`` the recording (or `pynta acquire --captures`' folder, cleared of its
        ``capture-<n>.zarr``) removed the movie before its frames were read: its tables went,
        and the frames of a movie larger than the playback's cache were lost.

        Parameters
        ----------
        path : str or path-like, optional
            Where a recording (or a folder of captures) would go.
        name : str
            How the message names ``path`` (``--out`` on the command line).

        Raises
        ------
        PyntaInputError
            Naming both paths.
        """
        path = self.record_path if path is None else path
        movie = self.camera_settings.get("path")
        if self.camera != "playback" or path is None or movie is None:
            return
        played, recorded = Path(str(movie)).resolve(), Path(path).resolve()
        if played == recorded or recorded in played.parents or played in recorded.parents:
            raise PyntaInputError(
                f"{name} {str(path)!r} is or holds the movie played back ({str(movie)!r}): "
                "recording there would replace or write into it; record to another path",
                name,
            )

    def _check_remote_access(self) -> None:
        """Refuse a non-loopback host without keys (unless ``insecure``), keys or ``insecure``
        without a host; check the keys."""
        from napari_pynta.live.keys import check_keys, is_loopback

        if self.insecure and self.host is None:
            raise PyntaInputError(
                "--insecure (insecure) is for a pipeline reached over tcp, and without --host "
                "(host) none is: set the host too, or leave both unset"
            )
        if self.keys_dir is not None:
            if self.host is None:
                raise PyntaInputError(
                    "the keys (--keys DIR, keys_dir) are for a pipeline reached over tcp: set "
                    "the host too (--host, host), or leave both unset"
                )
            check_keys(self.keys_dir)
        elif self.host is not None and not self.insecure and not is_loopback(self.host):
            raise PyntaInputError(
                f"host {self.host!r} would let anyone who reaches this machine watch the "
                "camera: make keys with `pynta keys DIR` and pass --keys DIR (keys_dir), copy "
                "DIR/client.key and DIR/client.key_secret to the viewer; or pass --insecure "
                "(insecure=True) on a network you trust"
            )


def check_camera_settings(camera: str, settings: dict[str, Any]) -> None:
    """Check what can be checked without opening the camera: names, rate, exposure, gain, the
    values of the backend's own settings that it checks without a device
    (:meth:`~napari_pynta.cameras.base.BaseCamera.check_options`, which every backend has), the
    rate against the backend's own limit (``max_fps``: the simulated and the playback camera)
    and the ROI against the sensor where the sensor is known before the camera opens
    (:meth:`~napari_pynta.cameras.base.BaseCamera.known_sensor_shape`: the simulated and the
    playback camera; a real camera's ROI and rate are checked when the acquisition worker
    opens it).
    """
    from napari_pynta.cameras import (
        COMMON_SETTINGS,
        CameraSettings,
        allowed_settings,
        camera_class,
        required_settings,
    )
    from napari_pynta.cameras.base import parse_roi, roi_values

    unknown = sorted(set(settings) - set(allowed_settings(camera)))
    if unknown:
        raise PyntaInputError(
            f"unknown setting(s) {unknown} for camera {camera!r}; allowed: "
            f"{allowed_settings(camera)}"
        )
    missing = sorted(set(required_settings(camera)) - set(settings))
    if missing:
        raise PyntaInputError(
            f"camera {camera!r} needs the setting(s) {missing} (e.g. path=run.zarr: the movie "
            "to replay)"
            if missing == ["path"]
            else f"camera {camera!r} needs the setting(s) {missing}"
        )
    backend = camera_class(camera)
    own = {key: value for key, value in settings.items() if key not in COMMON_SETTINGS}
    backend.check_options(own)
    common = {key: settings[key] for key in ("fps", "exposure_s", "gain") if key in settings}
    CameraSettings(**common).validated(sensor_shape=(1, 1), max_fps=backend.max_fps)
    if settings.get("roi") is not None:
        sensor = backend.known_sensor_shape(own)
        if sensor is None:
            roi_values(settings["roi"])  # its form; its bounds when the camera is open
        else:
            parse_roi(settings["roi"], sensor)


def check_hot_pixels(hot_pixels: Any) -> list[list[int]]:
    """``hot_pixels`` as a list of ``[row, column]`` (non-negative integers).

    Raises
    ------
    PyntaInputError
        For anything else.
    """
    try:
        pixels = np.asarray(hot_pixels)
        valid = pixels.size == 0 or (
            pixels.ndim == 2
            and pixels.shape[1] == 2
            and np.issubdtype(pixels.dtype, np.integer)
            and pixels.min() >= 0
        )
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise PyntaInputError(
            "hot_pixels must be a list of [row, column] pairs of non-negative integers "
            f"(or None: found by the calibration), got {str(hot_pixels)[:80]}"
        )
    return [[int(row), int(col)] for row, col in pixels.reshape(-1, 2)]


def moved_hot_pixels(
    hot_pixels: list[list[int]],
    before: dict[str, Any],
    after: dict[str, Any],
    frame_shape: tuple[int, int] | list[int],
) -> list[list[int]]:
    """The hot pixels (frame coordinates) in the frames of a new ROI: the same sensor pixels,
    moved by the ROI's origin, those outside the new frame left out.

    Parameters
    ----------
    hot_pixels : list of [row, column]
        In the frames before the change.
    before, after : dict
        The camera's store metadata before and after the change (``camera_settings["roi"]``:
        ``[y, x, height, width]`` or None for the whole sensor).
    frame_shape : (int, int)
        The frames' shape after the change.
    """

    def origin(metadata: dict[str, Any]) -> np.ndarray:
        roi = (metadata.get("camera_settings") or {}).get("roi")
        return np.zeros(2, np.int64) if roi is None else np.asarray(roi[:2], np.int64)

    moved = np.asarray(hot_pixels, np.int64).reshape(-1, 2) + origin(before) - origin(after)
    inside = np.all((moved >= 0) & (moved < np.asarray(frame_shape[:2])), axis=1)
    return moved[inside].tolist()


def check_detection(engine: str, detection: dict[str, Any]) -> None:
    """Validate detection options by running the engine once on :func:`synthetic_frame`.

    The frame is read-only like every frame a locator gets (a view of a message or of a ring
    slot; numba compiles read-only arrays apart), so the check also compiles, or loads from
    numba's cache, the kernels the locators run: locators call it to warm up.

    Raises
    ------
    PyntaInputError
        For an unknown engine or option (from :func:`napari_pynta.detect.locate`).
    """
    from napari_pynta import detect

    if "frame_number" in detection or "engine" in detection:
        raise PyntaInputError(
            "detection must not set 'frame_number' or 'engine' (set by the pipeline)"
        )
    frame = synthetic_frame()
    frame.flags.writeable = False
    try:
        detect.locate(frame, engine, **locator_detection(detection))
    except TypeError as error:
        raise PyntaInputError(
            f"detection has an option locate() does not accept: {error}"
        ) from None


def automatic_diameter(detection: dict[str, Any]) -> bool:
    """True when ``detection`` asks for the automatic diameter (``diameter: None``)."""
    return "diameter" in detection and detection["diameter"] is None


def locator_detection(detection: dict[str, Any]) -> dict[str, Any]:
    """The ``locate()`` options of ``detection``: an automatic diameter not yet chosen is left
    out (the engines' sharp-spot 7 px until the calibration chooses it)."""
    if automatic_diameter(detection):
        return {key: value for key, value in detection.items() if key != "diameter"}
    return detection


def synthetic_frame() -> np.ndarray:
    """A small uint16 frame with three noisy spots (checks options, warms up JIT engines)."""
    yy, xx = np.mgrid[0:64, 0:64]
    spots = sum(
        500.0 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 3.0)
        for y, x in ((15.3, 20.6), (40.1, 44.7), (50.5, 12.2))
    )
    noise = np.random.default_rng(0).normal(0, 3, spots.shape)
    return (100 + spots + noise).astype(np.uint16)


@dataclass
class LiveStatus:
    """A snapshot of the pipeline (see :meth:`LivePipeline.status`).

    ``fps`` is the rate achieved (frames delivered by the camera per second, measured on the
    frames' camera times: over the last second while running, over the run at the end),
    ``fps_requested`` the rate asked of the camera and
    ``frames_lost_by_camera`` the frames the camera exposed but lost (e.g. the acquisition read
    too slowly: they leave a seq gap and are not part of ``frames_acquired``).
    ``camera_clock_jumps`` counts the frames whose camera time was not after the previous
    frame's (the camera's clock jumped back; the times are stored as the camera gave them).
    ``camera_pauses`` counts the times the camera sent no frame for ``CAMERA_PAUSE_S`` (1 s) or
    more (the frames came later); ``camera_failed`` says why the camera ended the run early (it
    sent nothing within its timeout), None if it did not.
    ``tracking_latency_s`` is ``{"p50", "p95", "max"}``: seconds from reading a frame to having it
    linked, over the run (None before the first linked frame); ``tracking_latency_recent_s``
    the same over the frames linked in the last 10 s (None if none was), what a live display shows.
    """

    running: bool = False
    recording: bool = False
    record_path: str | None = None
    finished: bool = False
    fps: float = 0.0
    fps_requested: float = 0.0
    tracking_latency_s: dict[str, float] | None = None
    tracking_latency_recent_s: dict[str, float] | None = None
    frames_acquired: int = 0
    frames_saved: int = 0
    frames_dropped: int = 0
    frames_untracked: int = 0
    frames_lost_by_camera: int = 0
    camera_clock_jumps: int = 0
    camera_pauses: int = 0
    camera_failed: str | None = None
    frames_tracked: int = 0
    buffer_fill: float = 0.0
    particles_per_frame: float = 0.0
    n_locators: int = 0
    size_summary: dict[str, Any] | None = None
    #: True once ``size_summary`` is the final one of an ended run (every linked frame sized);
    #: False while running, and after a run whose final summary never came (the sizer dead or
    #: silent, the linker given up: ``errors`` says which)
    size_summary_final: bool = False
    errors: list[str] = field(default_factory=list)
    dead_workers: list[str] = field(default_factory=list)
    workers: dict[str, bool] = field(default_factory=dict)
    #: restarts the supervisor made, per worker name
    restarts: dict[str, int] = field(default_factory=dict)
    #: workers being restarted: dead, or started again but not ready yet (a locator imports its
    #: libraries for seconds, longer on a loaded machine); a restart that the run's stop cut
    #: short leaves the worker in ``dead_workers``
    restarting: list[str] = field(default_factory=list)
    #: received messages dropped because they broke the protocol (all processes)
    bad_messages: int = 0
    #: why the last recording failed (e.g. disk full, the saver dead after its restarts), None if
    #: it did not
    recording_failed: str | None = None
    #: hot pixels the locators repair in every frame before detection (None: not tracking, or
    #: not calibrated yet); their (row, column) are in ``LivePipeline.config.hot_pixels``
    hot_pixels_repaired: int | None = None
    #: the shared-memory ring frames reach the saver and locators through (None: the pixels
    #: travel in the messages; ``errors`` says why if a ring was asked for)
    frame_ring: str | None = None

    def rate_text(self) -> str:
        """The achieved rate, with the requested one when it falls short and the camera's losses."""
        text = f"{self.fps:6.1f} fps"
        if self.fps_requested and self.fps < 0.95 * self.fps_requested:
            text += f" of {self.fps_requested:g} asked"
        if self.frames_lost_by_camera:
            text += f" ({self.frames_lost_by_camera} lost by the camera)"
        return text

    def as_dict(self) -> dict[str, Any]:
        """The status as plain JSON types."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: the endpoints viewers connect to (served on tcp with ``host``); the others are internal
VIEWER_ENDPOINTS = ("frames", "results")


@dataclass(frozen=True)
class LiveEndpoints:
    """ZeroMQ addresses of one pipeline.

    ``frames`` (PUB, every frame; subscribers keep the newest) and ``results`` (PUB: ``locs``,
    ``tracks``, ``sizes``) are for viewers such as :class:`LiveSubscriber`; the others are
    internal: ``save``/``save_ack`` (acquisition <-> saver), ``locate`` (acquisition -> locator
    pool, PUSH/PULL, for frames with their pixels; the headers of ring frames go through the
    FIFO ``locate.fifo`` in ``directory``, see :mod:`~napari_pynta.live.locate_pipe`; the
    locators give frame ring slots back through the ring's shared memory),
    ``locs_in`` (locators -> linker, PUSH/PULL), ``sizer_in`` (linker -> sizer:
    linked columns, resets and end markers, PUSH/PULL), ``sizer_out`` (sizer -> linker: size
    summaries, PUSH/PULL), ``control`` (supervisor PUB) and ``status`` (workers -> supervisor,
    PUSH/PULL).
    """

    frames: str
    results: str
    save: str
    save_ack: str
    locate: str
    locs_in: str
    sizer_in: str
    sizer_out: str
    control: str
    status: str
    directory: str | None = None
    keys_dir: str | None = None

    @classmethod
    def create(cls, host: str | None = None, keys_dir: str | None = None) -> LiveEndpoints:
        """New endpoints: ``ipc://`` in a private temp dir; with ``host``, the viewers' sockets
        on ``tcp://host:<free port>`` (CURVE with ``keys_dir``)."""
        names = [f.name for f in fields(cls) if f.name not in ("directory", "keys_dir")]
        directory = tempfile.mkdtemp(prefix="pynta-")
        os.chmod(directory, 0o700)
        addresses = {n: f"ipc://{directory}/{n}" for n in names}
        if host is not None:
            addresses.update({n: f"tcp://{host}:{_free_port(host)}" for n in VIEWER_ENDPOINTS})
        return cls(**addresses, directory=directory, keys_dir=keys_dir)


def _free_port(host: str) -> int:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((socket.gethostbyname(host), 0))
            return int(probe.getsockname()[1])
    except OSError as error:
        raise PyntaInputError(f"host {host!r} cannot be used for tcp endpoints: {error}") from None
