"""The acquisition worker: camera -> preview PUB, saver (never drops), locator pool (may skip)."""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np
import zmq

from napari_pynta.live import transport
from napari_pynta.live.config import LiveEndpoints
from napari_pynta.live.frame_rate import FrameRate
from napari_pynta.live.locate_pipe import fifo_path, open_pipe
from napari_pynta.live.protocol import Command, Event
from napari_pynta.live.time_limit import TimeLimit
from napari_pynta.live.workers.base import Worker, run
from napari_pynta.live.workers.camera_clock import CameraClock
from napari_pynta.live.workers.kept_frames import (
    LOCATORS_HOLD,
    SAVER_HOLD,
    FrameKeeper,
    KeptFrame,
    send_kept,
)
from napari_pynta.live.workers.locator import LOCATE_HWM
from napari_pynta.live.workers.read_minder import ReadMinder
from napari_pynta.live.workers.saver import SAVE_BLOCK_FRAMES
from napari_pynta.parameters import MAX_LOCATORS

#: the live frame rate is measured over this many seconds of the camera's time
RATE_WINDOW_S = 1.0
#: frames used to choose the detection threshold and search range when they are not given
CALIBRATION_FRAMES = 60
#: a camera silent this long (s) within one read, or ten frame intervals if longer, is a pause
#: the user is told about (time spent waiting for the camera, not the acquisition's own delays
#: nor its waits for a CPU on a loaded machine: see ``read_minder``)
CAMERA_PAUSE_S = 1.0
#: a camera read that has not returned for this long (s), or for
#: :data:`CAMERA_TIMEOUT_INTERVALS` frame intervals if that is longer, is a camera that hangs:
#: the run ends as with a backend's own timeout (twice the hardware backends' 5 s, so theirs
#: comes first, with its own message). ``LiveConfig.camera_timeout_s`` sets another bound.
CAMERA_TIMEOUT_FLOOR_S = 10.0
CAMERA_TIMEOUT_INTERVALS = 5
#: ring slots beyond the save and track buffers: frames in flight to locators (a few each)
RING_SPARE_SLOTS = 2 * MAX_LOCATORS

ToLocate = tuple[KeptFrame, float]  # (frame, host time it was read)


def acquisition_worker(
    name: str,
    endpoints: LiveEndpoints,
    camera: str,
    camera_settings: dict[str, Any],
    n_frames: int | None,
    track: bool,
    save_buffer_bytes: int,
    track_buffer_bytes: int,
    calibration: dict[str, Any] | None = None,
    ring_prefix: str | None = None,
    camera_timeout_s: float | None = None,
    seconds: float | None = None,
) -> None:
    """Camera -> preview PUB, saver (never drops) and locator pool (may skip when saturated).

    With ``ring_prefix`` the frames for the saver and the locators wait in a shared-memory
    ring (:class:`~napari_pynta.live.workers.kept_frames.FrameKeeper`, named
    ``{ring_prefix}_{n}``) and only their headers are sent; without, or if the ring cannot be
    created, the pixels travel in the messages.

    Waits for a ``go`` command before the first frame, so recording and tracking see frame 0.
    With ``calibration`` (``engine``, ``detection``, ``search_range_px``, ``memory``,
    ``hot_pixels``) the first :data:`CALIBRATION_FRAMES` frames (not recorded) find the hot
    pixels and choose the missing feature diameter, ``minmass`` and ``search_range_px`` as
    ``pynta analyze`` does; they are reported in ``ready``.
    Commands: ``go``, ``record`` (start recording at the next frame; with ``seconds``, that
    long on the camera's clock), ``stop_recording``,
    ``finish`` (end the run now: flush the recording, tell the linker the last seq), ``stop``.
    Reports ``ready`` (frame shape, dtype, store metadata), heartbeats and
    ``finished`` after ``n_frames`` frames, at the first frame ``seconds`` or more after the
    first one on the camera's clock (that frame neither kept nor counted, see
    :class:`~napari_pynta.live.time_limit.TimeLimit`) or when a playback ends.

    A camera read that lasts is served by a :class:`~.read_minder.ReadMinder`: commands, the
    saver and heartbeats go on, a stop takes effect at once, and a read that has not returned
    for ``camera_timeout_s`` (None: :func:`camera_timeout_s`) ends the run as a camera that
    stopped delivering.
    """
    run(
        name,
        endpoints,
        lambda w: Acquisition(
            w,
            camera,
            camera_settings,
            n_frames,
            track,
            save_buffer_bytes,
            track_buffer_bytes,
            calibration,
            ring_prefix,
            camera_timeout_s,
            seconds,
        ).run(),
    )


def camera_timeout_s(frame_interval_s: float, chosen_s: float | None = None) -> float:
    """How long a camera read may last before the camera is taken as hung (s).

    ``chosen_s`` if given, else :data:`CAMERA_TIMEOUT_FLOOR_S` or
    :data:`CAMERA_TIMEOUT_INTERVALS` frame intervals, whichever is longer (the exposure is
    never longer than the interval).
    """
    if chosen_s is not None:
        return chosen_s
    return max(CAMERA_TIMEOUT_FLOOR_S, CAMERA_TIMEOUT_INTERVALS * frame_interval_s)


class SaveBuffer:
    """Frames sent (or to be sent) to the saver and not yet acknowledged as written."""

    def __init__(self, capacity_bytes: int):
        self.capacity_bytes = capacity_bytes
        self.frames: collections.deque[KeptFrame] = collections.deque()
        self.bytes = 0
        self.next_to_send = 0  # index into ``frames``
        self.highest_sent = -1  # seq of the newest frame ever handed to the socket

    def room_for(self, nbytes: int) -> bool:
        """True if a frame of ``nbytes`` fits in the buffer."""
        return self.bytes + nbytes <= self.capacity_bytes

    def add(self, kept: KeptFrame) -> None:
        """Keep a frame until the saver acknowledges it."""
        self.frames.append(kept)
        self.bytes += kept.nbytes

    def acknowledge(self, saved_seq: int) -> None:
        """Forget frames written by the saver (seq <= ``saved_seq``): their slots are free."""
        while self.frames and self.frames[0].seq <= saved_seq:
            self._forget(self.frames.popleft())
            self.next_to_send = max(0, self.next_to_send - 1)

    def clear(self) -> None:
        """Forget every frame (a new recording starts: older frames are not resent to it)."""
        while self.frames:
            self._forget(self.frames.popleft())
        self.next_to_send = 0

    def _forget(self, kept: KeptFrame) -> None:
        self.bytes -= kept.nbytes
        kept.release(SAVER_HOLD)

    def rewind(self) -> None:
        """Send every unacknowledged frame again (a restarted saver lost its queue)."""
        self.next_to_send = 0

    def send(self, socket: zmq.Socket, recording: int) -> None:
        """Send pending frames until the socket's queue is full, each naming ``recording``
        (the number of the recording they belong to: the saver writes only its own).

        Frames that wait together (the saver or its queue is behind) leave together: one ring
        header for up to a block of the saver's (``SAVE_BLOCK_FRAMES``). A frame that comes
        alone (the saver keeps up) leaves alone, at once.
        """
        while batch := self.ready_batch():
            try:
                send_kept(socket, batch, recording=recording)
            except zmq.Again:
                return
            self.next_to_send += len(batch)
            self.highest_sent = max(self.highest_sent, batch[-1].seq)

    def ready_batch(self) -> list[KeptFrame]:
        """The next frames to send: consecutive frames of one ring, or one frame kept as an
        array (empty when every frame was sent)."""
        batch: list[KeptFrame] = []
        stop = min(len(self.frames), self.next_to_send + SAVE_BLOCK_FRAMES)
        for index in range(self.next_to_send, stop):
            kept = self.frames[index]
            if batch and (kept.ring is None or kept.ring is not batch[0].ring):
                break
            batch.append(kept)
            if kept.ring is None:
                break
        return batch

    @property
    def all_sent(self) -> bool:
        """True when every buffered frame has been handed to the socket."""
        return self.next_to_send == len(self.frames)

    @property
    def fill(self) -> float:
        """Used fraction of the capacity."""
        return self.bytes / self.capacity_bytes


def calibrate(
    camera: Any,
    calibration: dict[str, Any],
    preview: zmq.Socket,
    warn: Callable[[str], None],
    stalled: Callable[[str], NoReturn],
    timeout_s: float,
) -> dict[str, float]:
    """Find the hot pixels (``hot_pixels: None``) and choose an automatic feature diameter
    (``diameter: None``, with the separation that goes with it; with ``blur_separation``, the
    distance within which the maxima of one smeared image are joined, ``split_within``), with
    ``wide_centroid`` and no ``wide_radius_px`` given the wide centroid's disk
    (:func:`~napari_pynta.detect.wide.wide_radius_px` of the spots and the streak),
    ``minmass`` and ``search_range_px`` from the first frames (then discarded).

    The same automatic choices as the offline analysis, in the same order: the hot pixels
    (:func:`~napari_pynta.detect.hot_pixels.find_hot_pixels`, chosen as a list of
    ``[row, column]``; the other choices are made on the frames with them repaired), the
    diameter and separation from
    the motion blur (:func:`~napari_pynta.analysis.choose_diameter`), the threshold from the
    noise model at that diameter (:func:`~napari_pynta.detect.estimate_threshold`, whose
    warnings, a population cut by the threshold or a clipped background and saturation, ``warn``
    passes on, as the analysis does) and the range
    from a pilot linking (:func:`~napari_pynta.analysis.suggest_search_range_px`; of the
    positions less the flow the analysis finds and refines by its tracks,
    :func:`~napari_pynta.analysis.link_in_flow`, which the linker takes out too, as the
    analysis measures the range in the refined flow's frame; that flow's mean velocity, when
    there is one, is ``flow_px_per_frame``, ``[y, x]`` px per frame, the live linker's first
    estimate of the flow). The frames
    are shown to viewers as they come (seq -:data:`CALIBRATION_FRAMES`..-1), so the preview
    starts before the detection libraries are even imported. A range that could not be measured
    (no particle linked in these frames) is the pilot range, and ``warn`` says so. A camera
    that stops delivering meanwhile (its backend's timeout, or a read that has not returned
    for ``timeout_s``) is passed to ``stalled`` with a message naming it; ``stalled`` ends the
    worker.
    """
    # import the detection libraries (seconds) while the camera delivers the frames
    importer = threading.Thread(target=_import_detection, name="pynta-import", daemon=True)
    importer.start()
    camera.start()
    read = _calibration_frames(camera, preview, stalled, timeout_s)
    camera.stop()
    importer.join()
    from napari_pynta import analysis, detect
    from napari_pynta.detect import hot_pixels
    from napari_pynta.detect.wide import wide_radius_px

    frames = np.stack(read)
    engine, detection = calibration["engine"], dict(calibration["detection"])
    chosen: dict[str, Any] = {}
    if calibration.get("hot_pixels") is None:
        hot = hot_pixels.find_hot_pixels(frames)
        chosen["hot_pixels"] = hot.tolist()
        frames = hot_pixels.repair_hot_pixels(frames, hot)
    automatic = "diameter" in detection and detection["diameter"] is None
    blur_separation = bool(calibration.get("blur_separation"))
    wide = bool(calibration.get("wide_centroid")) and detection.get("wide_radius_px") is None
    if automatic or wide or (blur_separation and detection.get("split_within") is None):
        metadata = camera.metadata_for_store()
        diameter = analysis.choose_diameter(
            frames,
            engine,
            {"diameter": detect.SHARP_DIAMETER_PX} | detection,
            metadata["exposure_s"],
            metadata["frame_interval_s"],
            blur_separation,
            widen_to_spot=automatic,  # a given diameter is kept
            measure_streak=wide,
        )
        if automatic:
            chosen["diameter"] = detection["diameter"] = diameter.diameter_px
        if detection.get("separation") is None and diameter.separation_px is not None:
            chosen["separation"] = detection["separation"] = diameter.separation_px
        if diameter.split_within_px is not None:
            chosen["split_within"] = detection["split_within"] = diameter.split_within_px
        if wide:
            radius = wide_radius_px(diameter.spot_sigma_px, diameter.streak_sd_px)
            chosen["wide_radius_px"] = detection["wide_radius_px"] = radius
    threshold = detect.estimate_threshold(frames, engine, **detect.engine_options(detection))
    if detection.get("minmass") is None:
        detection["minmass"] = threshold.automatic_minmass
    chosen["minmass"] = float(detection["minmass"])
    used = detect.DiameterChoice(int(detection.get("diameter") or detect.SHARP_DIAMETER_PX), False)
    measured = dataclasses.replace(threshold, diameter=used)
    for message in measured.notes():
        warn(message)
    if calibration["search_range_px"] is None:
        localizations = detect.locate_frames(frames, 0, engine, **detection)
        # the linker takes the flow out, refined by its tracks: the range of the steps without
        # it, as the analysis measures it
        pilot = analysis.AnalysisParams(memory=calibration["memory"])
        linking = analysis.link_in_flow(localizations, pilot, CALIBRATION_FRAMES)
        chosen["search_range_px"] = linking.params.search_range_px
        if linking.flow is not None:  # the live linker's first estimate of the flow
            chosen["flow_px_per_frame"] = analysis.flow_velocity_px(linking.flow).tolist()
        suggested = linking.suggested
        if suggested is not None and not suggested.measured:
            warn(
                analysis.unmeasured_range_warning(
                    CALIBRATION_FRAMES, suggested.search_range_px, "the search range"
                )
            )
    return chosen


def _calibration_frames(
    camera: Any, preview: zmq.Socket, stalled: Callable[[str], NoReturn], timeout_s: float
) -> list[np.ndarray]:
    """The :data:`CALIBRATION_FRAMES` frames, each shown to viewers as it comes; a read that
    fails with the backend's timeout, or has not returned for ``timeout_s`` (a
    :class:`~.read_minder.ReadMinder` watches it), is passed to ``stalled``."""
    from napari_pynta.cameras import CameraStalled

    read: list[np.ndarray] = []

    def say(why: str) -> NoReturn:
        stalled(
            f"the {camera.name} camera stopped delivering during the calibration frames, after "
            f"{len(read)} of {CALIBRATION_FRAMES} ({why}): nothing was recorded"
        )

    minder = ReadMinder(
        lambda waited_s: waited_s >= timeout_s,
        lambda: say(f"its read has not returned for {timeout_s:g} s, the camera timeout"),
    )
    try:
        for index in range(-CALIBRATION_FRAMES, 0):
            try:
                with minder.reading():
                    frame, t = camera.read()
            except CameraStalled as error:
                say(str(error))
            except Exception as error:  # a driver's error
                say(f"{type(error).__name__}: {error}")
            frame = frame if frame.flags.c_contiguous else np.ascontiguousarray(frame)
            transport.send_frame(preview, transport.TOPIC_FRAMES, index, t, frame)
            read.append(frame)
    finally:
        minder.close()
    return read


def _import_detection() -> None:
    """Import the analysis and the localization engines (run in a thread during calibration)."""
    import napari_pynta.analysis  # noqa: F401
    from napari_pynta.detect import ENGINES

    for name in ENGINES:
        try:
            ENGINES[name]  # imports the engine's module
        except ImportError:  # an optional engine whose dependency is missing
            pass


class Acquisition:
    """The acquisition loop: one method per step, run until ``stop``.

    Each turn of :meth:`run` handles commands, reads the saver's acknowledgements, feeds the
    saver and the locators from their buffers, reports a heartbeat when due, then reads one
    frame from the camera and hands it to the preview, the recording and the tracking queue.
    """

    def __init__(
        self,
        w: Worker,
        camera_name: str,
        camera_settings: dict[str, Any],
        n_frames: int | None,
        track: bool,
        save_buffer_bytes: int,
        track_buffer_bytes: int,
        calibration: dict[str, Any] | None,
        ring_prefix: str | None,
        camera_timeout: float | None = None,
        seconds: float | None = None,
    ):
        from napari_pynta.cameras import open_camera

        self.w = w
        self.n_frames = n_frames
        self.time_limit = None if seconds is None else TimeLimit(seconds)
        self.camera = open_camera(camera_name, **camera_settings)
        for warning in self.camera.warnings:
            w.warn(warning)
        self.preview = w.socket(zmq.PUB, bind=w.endpoints.frames, SNDHWM=2)
        chosen = (
            {}
            if calibration is None
            else calibrate(
                self.camera,
                calibration,
                self.preview,
                w.warn,
                w.fail,
                camera_timeout_s(self.camera.settings.frame_interval_s, camera_timeout),
            )
        )
        self.save = w.socket(zmq.PUSH, bind=w.endpoints.save, SNDHWM=16)
        self.acks = w.socket(zmq.PULL, bind=w.endpoints.save_ack)
        self.locate = w.socket(zmq.PUSH, bind=w.endpoints.locate, SNDHWM=LOCATE_HWM)
        # ring headers for the locators (frames kept as arrays go over ``locate``)
        self.locate_pipe = (
            open_pipe(fifo_path(w.endpoints.directory), w.warn) if track and ring_prefix else None
        )
        self.to_linker = w.socket(zmq.PUSH, connect=w.endpoints.locs_in) if track else None
        frame_mb = _frame_bytes(self.camera) / 1e6
        self.frames = FrameKeeper(
            (save_buffer_bytes + track_buffer_bytes) / 1e6 + RING_SPARE_SLOTS * frame_mb,
            ring_prefix,
            w.warn,
        )
        self.frames.prepare(self.camera.frame_shape, self.camera.dtype)
        w.report(
            Event.READY,
            frame_shape=list(self.camera.frame_shape),
            dtype=np.dtype(self.camera.dtype).str,
            metadata=self.camera.metadata_for_store(),
            calibration=chosen,
            frame_ring=self.frames.ring_name,
        )
        self.go = False
        self.recording = False
        #: the time limit of the current recording (None: until stopped)
        self.record_limit: TimeLimit | None = None
        #: the recording ended without being asked to (save buffer or disk full): the frames go
        #: on counting as meant to be recorded, i.e. dropped, until it is stopped
        self.recording_broken = False
        self.finished = False
        self.end_requested: str | None = None  # why the recording ends (marker not yet sent)
        self.end_reason: str | None = None  # why the last recording ended (resent on hello)
        self.last_recorded_seq = -1
        self.recording_number = 0  # the supervisor's number of the current (or last) recording
        self.save_buffer = SaveBuffer(save_buffer_bytes)
        self.track_queue: collections.deque[ToLocate] = collections.deque()
        self.track_bytes = 0
        self.track_buffer_bytes = track_buffer_bytes
        self.counters = {
            "frames_acquired": 0,
            "frames_untracked": 0,
            "frames_lost_by_camera": 0,
            # of the current (or last) recording: frames meant to be recorded, and of those
            # the ones refused because the save buffer was full
            "recording_frames": 0,
            "record_refused": 0,
            # frames whose camera time was not after the previous frame's (kept as given)
            "camera_clock_jumps": 0,
            # reads that waited CAMERA_PAUSE_S or longer for the camera
            "camera_pauses": 0,
        }
        #: why the camera ended the run (no frame within its timeout), None while it delivers
        self.camera_failed: str | None = None
        #: the chosen camera timeout (None: from the frame interval, :func:`camera_timeout_s`)
        self.camera_timeout = camera_timeout
        #: camera commands that came while the camera was being read (applied after the read)
        self.deferred: list[dict[str, Any]] = []
        self.clock = CameraClock()
        self.camera_skipped = 0  # camera.frames_skipped already accounted for in seq
        self.rate = FrameRate(RATE_WINDOW_S)
        self.seq = 0

    def run(self) -> None:
        """Acquire until ``stop``."""
        self.minder = ReadMinder(self.serve_while_reading, self.exit_while_reading)
        try:
            while not self.serve():
                if not self.go or self.finished:
                    busy = self.save_buffer.frames or self.track_queue
                    self.w.wait((self.acks,), 0.005 if busy else 0.05)
                    continue
                self.acquire_one()
            self.beat(Event.STOPPED)  # the final counters
        finally:
            self.minder.close()
            try:
                self.camera.close()
            except Exception as error:  # said; the ring and the pipe are given back anyway
                self.w.warn(f"the camera could not be closed: {type(error).__name__}: {error}")
            self.release()

    def release(self) -> None:
        """Give back the frame ring and the locators' pipe."""
        self.frames.close()
        if self.locate_pipe is not None:
            self.locate_pipe.close()

    def serve(self, camera_reading: bool = False) -> bool:
        """One turn of everything but reading the camera: commands, the saver's
        acknowledgements, feeding the saver and the locators, the heartbeat. True to stop."""
        self.handle_commands(camera_reading)
        if self.w.stopping:
            return True
        self.read_acks()
        self.feed_saver()
        self.feed_locators()
        if self.w.heartbeat_due():
            self.frames.close_released()
            self.beat(Event.HEARTBEAT)
        return False

    def serve_while_reading(self, waited_s: float) -> bool:
        """A turn of the minder while the main thread has waited ``waited_s`` in a read.

        The end of the run asked for meanwhile (``finish``, a stop) takes effect now: the frame
        being read, if it ever comes, is not part of the run. A read longer than the camera
        timeout ends the run as a camera that stopped delivering.
        """
        if self.serve(camera_reading=True):
            return True
        if not self.finished:
            timeout = camera_timeout_s(self.camera.settings.frame_interval_s, self.camera_timeout)
            if self.n_frames is not None and self.counters["frames_acquired"] >= self.n_frames:
                self.finish(stop_camera=False)
            elif waited_s >= timeout:
                self.camera_stalled(
                    f"the {self.camera.name} camera's read has not returned for {waited_s:.1f} s "
                    f"(camera timeout {timeout:g} s)"
                )
                self.finish(stop_camera=False)
        return False

    def exit_while_reading(self) -> None:
        """Stop while the camera's read has not returned: end the process without it."""
        self.w.warn(
            "the camera's read had not returned when the pipeline stopped: the camera was not "
            "closed (ending the process releases it)"
        )
        self.beat(Event.STOPPED)
        self.release()
        self.w.exit(0)

    # ------------------------------------------------------------------ steps
    def handle_commands(self, camera_reading: bool = False) -> None:
        """Apply the supervisor's commands; while the camera is being read (in another
        thread), those that use the camera wait until the read returns."""
        commands, self.deferred = [*self.deferred, *self.w.commands()], []
        for command in commands:
            cmd = command.get("cmd")
            if camera_reading and cmd in (Command.GO, Command.CAMERA):
                self.deferred.append(command)
            elif cmd == Command.GO:
                self.go = True
                if command.get("record"):
                    self.start_recording(int(command.get("recording", 0)))
                self.camera.start()
                self.camera_skipped = 0
                self.clock.restart()
                self.rate.restart()
                if self.time_limit is not None:
                    self.time_limit.restart()
            elif cmd == Command.RECORD:
                self.start_recording(int(command.get("recording", 0)), command.get("seconds"))
            elif cmd == Command.STOP_RECORDING and command.get("failed"):  # the disk is full
                self.recording_broken = self.recording_broken or self.recording
                self.end_recording("failed")
            elif cmd == Command.STOP_RECORDING:
                self.stop_recording()
            elif cmd == Command.FINISH:  # end the run now, as if n_frames had been reached
                self.n_frames = self.counters["frames_acquired"]
            elif cmd == Command.CAMERA:
                self.configure_camera(dict(command.get("settings") or {}))
            elif cmd == Command.STOP:
                self.w.stopping = True

    def configure_camera(self, settings: dict[str, Any]) -> None:
        """Apply new camera settings between two frames; refused during a recording.

        Frames of one recording share one exposure, frame rate and ROI (one set of store
        metadata), so changes wait until the recording has stopped.
        """
        from napari_pynta.errors import PyntaInputError

        if self.recording or self.end_requested:
            self.w.report(
                Event.CAMERA,
                refused="camera settings cannot change during a recording (the frames of one "
                "store share one exposure, frame rate and ROI); stop recording first",
            )
            return
        try:
            self.camera.configure(**settings)
        except PyntaInputError as error:
            self.w.report(Event.CAMERA, refused=str(error))
            return
        self.frames.prepare(self.camera.frame_shape, self.camera.dtype)
        self.w.report(
            Event.CAMERA,
            refused=None,
            frame_shape=list(self.camera.frame_shape),
            dtype=np.dtype(self.camera.dtype).str,
            metadata=self.camera.metadata_for_store(),
            from_seq=self.seq,
            frame_ring=self.frames.ring_name,
        )

    def read_acks(self) -> None:
        """Forget frames the saver has written; resend all unwritten ones to a new saver.

        An ack must name a frame already sent (``saved_seq`` <= the newest sent seq): any
        other is dropped as bad, so a stray message cannot make the buffer forget a frame.
        The hello of a saver of the current (or last) recording, started for it or restarted, is
        answered with the recording's unwritten frames and, if it has ended, the end marker again.
        The hello of a saver of the next recording (its ``record`` command comes after the saver
        is ready) forgets the unwritten frames of the last one instead (its saver was given up;
        they are counted as dropped): resent, they went into the new store, and the old end marker
        after them ended the new recording at once. That of an older recording is ignored.
        """
        while (message := self.w.receive(self.acks, "save_ack")) is not None:
            ack = message.header
            try:
                transport.require(ack, saved_seq=int)
                if ack["saved_seq"] > self.save_buffer.highest_sent:
                    raise transport.BadMessage(
                        "ack of a frame never sent", f"saved_seq {ack['saved_seq']}"
                    )
            except transport.BadMessage as error:
                self.w.bad_messages(error, "acquisition's save_ack socket")
                continue
            self.save_buffer.acknowledge(ack["saved_seq"])
            if ack.get("hello") is not True:
                continue
            number = ack.get("recording")
            if isinstance(number, int) and number > self.recording_number:  # the next one's
                self.save_buffer.clear()
                self.end_requested = self.end_reason = None
            elif not isinstance(number, int) or number == self.recording_number:
                self.save_buffer.rewind()  # a (re)started saver: resend, then end again
                if not self.recording and self.end_reason is not None:
                    self.end_requested = self.end_reason

    def feed_saver(self) -> None:
        """Send buffered frames, then the end-of-recording marker once all are sent; both name
        the recording they belong to (every buffered frame is the current or last one's)."""
        self.save_buffer.send(self.save, self.recording_number)
        if self.end_requested and self.save_buffer.all_sent:
            try:
                transport.send_json(
                    self.save,
                    transport.TOPIC_END,
                    {
                        "end": True,
                        "recording": self.recording_number,
                        "reason": self.end_requested,
                        "last_seq": self.last_recorded_seq,
                    },
                    flags=zmq.NOBLOCK,
                )
                self.end_requested = None
            except zmq.Again:
                pass

    def feed_locators(self) -> None:
        """Send queued frames to free locators (ring frames through the pipe, if there is one)."""
        while self.track_queue:
            kept, read_at = self.track_queue[0]
            try:
                send_kept(self.locate, [kept], read_at=read_at, pipe=self.locate_pipe)
            except zmq.Again:
                break
            self.track_queue.popleft()
            self.track_bytes -= kept.nbytes

    def acquire_one(self) -> None:
        """Read one frame and hand it on, or finish the run if there is none."""
        from napari_pynta.cameras import CameraExhausted, CameraStalled

        frame = None
        # n_frames counts the frames read (the frames a recording holds), not frame numbers: a
        # camera that loses frames still gives n_frames, with the losses as seq gaps
        if self.n_frames is None or self.counters["frames_acquired"] < self.n_frames:
            stalled = failed = None
            try:
                with self.minder.reading():
                    frame, t = self.camera.read()
                    # not the wait for the minder's turn, nor for a CPU (a loaded machine)
                    waited_s = self.minder.waited_s()
            except CameraExhausted:  # frames lost just before the end are lost all the same
                self.skip_frames_lost_by_camera()
            except CameraStalled as error:
                stalled = str(error)
            except Exception as error:  # a driver's error: the run ends in order, said
                failed = f"{type(error).__name__}: {error}"
            if self.finished:  # ended by the minder meanwhile: a late frame is not the run's
                self.camera.stop()
                return
            if stalled is not None:
                self.camera_stalled(stalled)
            elif failed is not None:
                self.camera_stalled(failed, "failed")
            elif frame is not None:
                self.check_pause(waited_s)
                if (wrong := self.wrong_format(frame)) is not None:
                    self.camera_stalled(wrong, "delivered a frame it did not announce")
                    frame = None
        if frame is None or self.past_time_limit(t):  # n_frames reached, ``finish`` asked for,
            # the playback ended, the camera stopped delivering, or the time limit passed
            self.finish()
            return
        self.skip_frames_lost_by_camera()
        if self.recording_past_its_limit(t):
            self.end_recording("time limit")
        if (warning := self.clock.check(self.seq, t)) is not None:
            self.w.warn(warning)
        self.counters["camera_clock_jumps"] = self.clock.jumps
        frame = frame if frame.flags.c_contiguous else np.ascontiguousarray(frame)
        transport.send_frame(self.preview, transport.TOPIC_FRAMES, self.seq, t, frame)
        self.hand_on(frame, t)
        self.rate.add(self.camera.rate_time_s(t))  # a playback's: its replay, not its recording
        self.counters["frames_acquired"] += 1
        self.seq += 1

    def past_time_limit(self, t: float) -> bool:
        """True when the frame of time ``t`` (just read) falls at or past the run's time limit:
        it is not part of the run (not kept, not counted), nor are the frames the camera lost
        just before it (after the last frame kept: no gap in the recording stands for them)."""
        return self.time_limit is not None and not self.time_limit.within(
            self.camera.rate_time_s(t)
        )

    def recording_past_its_limit(self, t: float) -> bool:
        """True when the frame of time ``t`` (just read) falls at or past the time limit of the
        recording (:meth:`start_recording`'s ``seconds``): it is not recorded."""
        return (
            self.recording
            and self.record_limit is not None
            and not self.record_limit.within(self.camera.rate_time_s(t))
        )

    def check_pause(self, waited_s: float) -> None:
        """Tell the user when a read waited :data:`CAMERA_PAUSE_S` (or ten frame intervals) or
        longer for the camera; the first pause is a warning, every one is counted."""
        if waited_s < max(CAMERA_PAUSE_S, 10 * self.camera.settings.frame_interval_s):
            return
        self.counters["camera_pauses"] += 1
        if self.counters["camera_pauses"] == 1:
            self.w.warn(
                f"the camera sent no frame for {waited_s:.2g} s (after frame {self.seq - 1}); it "
                "delivers again, every frame is kept; later pauses are counted in camera_pauses"
            )

    def camera_stalled(self, why: str, what: str = "stopped delivering") -> None:
        """The camera sent nothing within its timeout (or ``what`` else went wrong): end the
        run in order (every frame it delivered recorded and tracked), saying so."""
        self.camera_failed = why
        asked = "" if self.n_frames is None else f" of {self.n_frames}"
        self.w.error(
            f"the camera {what} after {self.counters['frames_acquired']}{asked} "
            f"frames ({why}): the run ends here, every frame it delivered is kept"
        )

    def wrong_format(self, frame: np.ndarray) -> str | None:
        """Why ``frame`` is not of the shape and dtype the camera announced (the store's, the
        ring's and the viewers'), None when it is."""
        shape, dtype = tuple(self.camera.frame_shape), np.dtype(self.camera.dtype)
        if frame.shape == shape and frame.dtype == dtype:
            return None
        return (
            f"frame {self.seq} is {'x'.join(map(str, frame.shape))} {frame.dtype}, the camera "
            f"announced {'x'.join(map(str, shape))} {dtype}"
        )

    def skip_frames_lost_by_camera(self) -> None:
        """Leave a seq gap for frames the camera or its driver lost (its frame counter jumped).

        The saver counts the gap as dropped frames; the linker is told not to wait for them.
        """
        lost = self.camera.frames_skipped - self.camera_skipped
        if lost <= 0:
            return
        self.camera_skipped += lost
        gap = list(range(self.seq, self.seq + lost))
        if not self.counters["frames_lost_by_camera"]:
            self.w.error(
                f"the camera lost frames {gap[0]}..{gap[-1]} (its frame counter jumped): the "
                "computer did not keep up; later losses are counted in frames_lost_by_camera"
            )
        self.counters["frames_lost_by_camera"] += lost
        if self.recording or self.recording_broken:  # meant to be recorded, not in the store:
            self.counters["recording_frames"] += lost  # dropped, whatever the cause
        if self.to_linker is not None:
            transport.send_json(self.to_linker, "skip", {"skip": gap})
        self.seq += lost

    def start_recording(self, number: int, seconds: float | None = None) -> None:
        """Record from the next frame on (a new store: nothing older is sent to it) as the
        supervisor's recording ``number``; with ``seconds``, the frames of that time from the
        first one recorded, on the camera's clock, as :class:`TimeLimit` counts them for a run:
        the recording ends (``time limit``) at the first frame past it, which is not recorded."""
        self.record_limit = None if seconds is None else TimeLimit(seconds)
        self.recording = True
        self.recording_number = number
        self.recording_broken = False
        self.end_requested = self.end_reason = None
        self.last_recorded_seq = -1
        self.save_buffer.clear()
        self.counters["recording_frames"] = self.counters["record_refused"] = 0

    def hand_on(self, frame: np.ndarray, t: float) -> None:
        """Keep the frame (once) for the recording and the tracking queue.

        The recording stops loudly when the save buffer (or the ring) is full; the tracking
        queue drops its oldest frame when it is full, and frees ring slots for the recording.
        """
        readers = []
        if self.recording:
            self.counters["recording_frames"] += 1
            if self.save_buffer.room_for(frame.nbytes):
                readers.append(SAVER_HOLD)
            else:
                self.refuse_recording()
        elif self.recording_broken:
            self.counters["recording_frames"] += 1
        if self.to_linker is not None:
            if self.track_bytes + frame.nbytes > self.track_buffer_bytes and self.track_queue:
                self.skip_oldest_queued()
            readers.append(LOCATORS_HOLD)
        if not readers:
            return
        kept = self.keep(frame, t, readers)
        if SAVER_HOLD in readers:
            if kept is None:
                self.refuse_recording()
            else:
                self.save_buffer.add(kept)
                self.last_recorded_seq = self.seq
        if LOCATORS_HOLD in readers:
            if kept is None:
                self.skip_untracked(self.seq)
            else:
                # the host time the frame was read: the linker measures the latency from it
                self.track_queue.append((kept, time.time()))
                self.track_bytes += kept.nbytes

    def keep(self, frame: np.ndarray, t: float, readers: list[str]) -> KeptFrame | None:
        """Keep the frame; when every ring slot is held, free one held only for tracking.

        First the oldest frame still queued for the locators, else the oldest one sent to
        them and never released (its locator died or was stopped; a locator still reading it
        sees the slot rewritten and drops the frame). None if the saver holds every slot.
        """
        while (kept := self.frames.keep(frame, self.seq, t, readers)) is None:
            ring = self.frames.ring
            if self.track_queue:
                self.skip_oldest_queued()
            elif ring is not None and (slot := ring.oldest_held_only_by(LOCATORS_HOLD)) is not None:
                ring.reclaim(slot)
                self.counters["frames_untracked"] += 1
            else:
                return None
        return kept

    def refuse_recording(self) -> None:
        """The saver fell behind by the whole buffer: stop recording, loudly, keep what is kept."""
        self.counters["record_refused"] += 1
        self.w.error(
            f"recording stopped: the saver fell behind by more than the "
            f"{self.save_buffer.capacity_bytes / 1e6:.0f} MB save buffer; frames up to seq "
            f"{self.seq - 1} are kept, later frames are not recorded"
        )
        self.recording_broken = True
        self.end_recording("saver buffer full")

    def skip_oldest_queued(self) -> None:
        """Leave the oldest frame of the tracking queue untracked."""
        kept, _ = self.track_queue.popleft()
        self.track_bytes -= kept.nbytes
        kept.release(LOCATORS_HOLD)
        self.skip_untracked(kept.seq)

    def skip_untracked(self, seq: int) -> None:
        """Count frame ``seq`` as untracked and tell the linker not to wait for it."""
        self.counters["frames_untracked"] += 1
        assert self.to_linker is not None  # frames are queued for tracking only when tracking
        transport.send_json(self.to_linker, transport.TOPIC_SKIP, {"skip": [seq]})

    def finish(self, stop_camera: bool = True) -> None:
        """The last frame was read: end the recording, tell the linker the last seq.

        ``stop_camera`` False: the camera is being read in the main thread, which stops it
        when (if ever) its read returns.
        """
        self.finished = True
        if stop_camera:
            self.camera.stop()
        self.end_recording("end of acquisition")
        if self.to_linker is not None:
            transport.send_json(
                self.to_linker, transport.TOPIC_END, {"end": True, "last_seq": self.seq - 1}
            )
        self.beat(Event.FINISHED)

    def stop_recording(self) -> None:
        """The recording is stopped (by the user, or at the end of a CLI run): report
        ``recording_ended`` with the final count of frames meant to be recorded, also when it had
        already ended on its own (that count grew until now)."""
        self.recording_broken = False
        if self.recording:
            self.end_recording("stopped")
        else:
            self.report_recording_ended("stopped")

    def end_recording(self, reason: str) -> None:
        """Stop recording; the saver gets the end marker after the last buffered frame."""
        if self.recording:
            self.recording = False
            self.end_requested = self.end_reason = reason
            self.report_recording_ended(reason)

    def report_recording_ended(self, reason: str) -> None:
        """Report ``recording_ended`` with the count of frames meant to be recorded, which the
        supervisor compares with the store."""
        self.w.report(
            Event.RECORDING_ENDED,
            reason=reason,
            recording=self.recording,
            last_recorded_seq=self.last_recorded_seq,
            **self.counters,
        )

    def beat(self, event: str) -> None:
        """Report counters; ``fps`` over the last :data:`RATE_WINDOW_S` of the camera's time, or
        at the end over the whole run (frames lost by the camera counted as not delivered; see
        :class:`~napari_pynta.live.frame_rate.FrameRate`)."""
        self.w.report(
            event,
            fps=self.rate.run() if self.finished else self.rate.live(),
            buffer_fill=self.save_buffer.fill,
            recording=self.recording,
            last_seq=self.seq - 1,
            fps_requested=self.camera.settings.fps,
            frame_ring=self.frames.ring_name,
            camera_failed=self.camera_failed,
            **self.counters,
        )


def _frame_bytes(camera: Any) -> int:
    """Bytes of one frame of the camera."""
    return int(np.prod(camera.frame_shape)) * np.dtype(camera.dtype).itemsize
