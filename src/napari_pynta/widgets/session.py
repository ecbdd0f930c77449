"""One PyNTA session per viewer: the live pipeline, its GUI subscriber and re-analyses.

The three dock widgets share a :class:`PyntaSession` (:func:`session_for`). The session

- starts and stops the :class:`~napari_pynta.live.supervisor.LivePipeline` off the GUI thread,
- polls the pipeline's :class:`~napari_pynta.live.subscriber.LiveSubscriber` from a QTimer
  (``poll()`` never blocks) and hands frames, localizations and tracks to the
  :class:`~napari_pynta.widgets.viewer_link.ViewerLink` (newest frame only, tracks paced by
  :class:`~napari_pynta.widgets.redraw_pacing.RedrawPacer`),
- subscribes to the pipeline's typed status events (``LivePipeline.events``) like ``pynta acquire``,
- runs re-analyses of movies in a napari thread worker with a progress bar,
- stops everything it started when the viewer closes.

It emits Qt signals for the widgets; it never touches a layer itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QApplication

from napari_pynta.cancellation import AnalysisCancelled
from napari_pynta.errors import PyntaInputError
from napari_pynta.exposure import exposure_stats
from napari_pynta.frame_range import FrameRange
from napari_pynta.live.config import LiveStatus
from napari_pynta.live.protocol import ACQUISITION
from napari_pynta.parameters import default_engine
from napari_pynta.sample import validate_sample
from napari_pynta.widgets import persistence
from napari_pynta.widgets.live_pairing import LivePairing
from napari_pynta.widgets.reanalysis import (
    AnalysisOutcome,
    analyze_measurement_folder,
    analyze_movie,
    frames_asked,
    gui_message,
)
from napari_pynta.widgets.redraw_pacing import RedrawPacer
from napari_pynta.widgets.setting_names import unsized_reason
from napari_pynta.widgets.settings import SizingConditions, TrackingSettings
from napari_pynta.widgets.viewer_link import DEFAULT_MAX_DISPLAY_HZ, ViewerLink

#: how often the subscriber is polled (ms); the viewer link throttles the display further
POLL_INTERVAL_MS = 25
#: frames of track history kept for the live tracks layer
TRACK_WINDOW_FRAMES = 200
#: ``SizeData.source`` of the live pipeline's sizes
LIVE_SOURCE = "live"
#: how often the exposure aid (saturation, intensity histogram) is recomputed (s)
EXPOSURE_INTERVAL_S = 0.25
#: longest a pipeline call waits for the calls made before it (start can take minutes on a
#: busy machine); after that it runs anyway, one at a time
PIPELINE_TURN_TIMEOUT_S = 600.0

_sessions: dict[int, PyntaSession] = {}


def run_latency_text(status: Any, over: str) -> str:
    """``"tracking latency <over>: p50 …, p95 …, max … s"`` (empty before any linked frame)."""
    run = status.tracking_latency_s
    if not run:
        return ""
    return (
        f"tracking latency {over}: p50 {run['p50']:.3f} s, p95 {run['p95']:.3f} s, "
        f"max {run['max']:.3f} s"
    )


def session_for(viewer: Any) -> PyntaSession:
    """The session of ``viewer``, created on first use (shared by the three widgets).

    napari hands plugin widgets a public-only proxy of the viewer (a new proxy per widget); the
    session is keyed by, and works on, the viewer behind it so that the widgets share it and
    the session can watch the window close.
    """
    viewer = getattr(viewer, "__wrapped__", viewer)
    session = _sessions.get(id(viewer))
    if session is None or session.viewer is not viewer:
        session = PyntaSession(viewer)
        _sessions[id(viewer)] = session
    return session


@dataclass
class SizeData:
    """Per-track diameters and the summary of one source (live or a re-analysis).

    ``measured_with`` are the conditions the diameters were computed with, so the Sizes widget
    can re-express them exactly when the user changes temperature, viscosity or calibration.
    ``deconvolved`` is the Walker EM distribution ``(grid diameters in nm, fraction of tracks at
    each)`` when it is known (a re-analysis); live summaries carry only its statistics
    (``summary["deconvolved_nm"]``).
    """

    diameters_nm: np.ndarray
    summary: dict[str, Any]
    measured_with: SizingConditions
    source: str
    per_track: pd.DataFrame | None = None
    deconvolved: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def is_live(self) -> bool:
        """Whether these sizes come from the running live pipeline."""
        return self.source == LIVE_SOURCE


class TrackWindow:
    """The last ``n_frames`` frames of linked positions, for the live tracks layer."""

    def __init__(self, n_frames: int = TRACK_WINDOW_FRAMES) -> None:
        self.n_frames = n_frames
        self._parts: list[pd.DataFrame] = []
        self.table = pd.DataFrame(columns=["particle", "frame", "y", "x"])
        #: the newest frame of the rows added (-1: none)
        self.newest_frame = -1

    def add(self, tracks: pd.DataFrame) -> None:
        """Append newly linked rows (``particle, frame, y, x`` and any other columns)."""
        if tracks is not None and len(tracks):
            self._parts.append(tracks[["particle", "frame", "y", "x"]])
            self.newest_frame = max(self.newest_frame, int(tracks["frame"].max()))

    @property
    def has_new(self) -> bool:
        """Whether rows were added since :meth:`current` was last read."""
        return bool(self._parts)

    def current(self) -> pd.DataFrame:
        """Rows of the last ``n_frames`` frames (older rows are forgotten)."""
        if self._parts:
            kept = [self.table] if len(self.table) else []
            self.table = pd.concat([*kept, *self._parts], ignore_index=True)
            self._parts.clear()
            newest = self.table["frame"].max()
            self.table = self.table[self.table["frame"] > newest - self.n_frames]
        return self.table

    def clear(self) -> None:
        """Forget everything."""
        self._parts.clear()
        self.table = self.table.iloc[0:0]
        self.newest_frame = -1


class PyntaSession(QObject):
    """Live pipeline, subscriber and re-analysis of one viewer (see the module docstring)."""

    #: "idle", "starting", "running", "stopping"
    live_state_changed = Signal(str)
    #: a LiveStatus while live: the pipeline's status events (``LivePipeline.events.status``,
    #: emitted in its monitor thread) re-emitted as a Qt signal, delivered queued to the widgets
    status_changed = Signal(LiveStatus)
    #: a SizeData (live or re-analysis)
    sizes_changed = Signal(object)
    #: an AnalysisResult once a re-analysis has finished
    analysis_finished = Signal(object)
    #: (frames located, frames in all, seconds elapsed, what: "" or "capture N") while a
    #: re-analysis runs; emitted from its worker thread, delivered queued to the widgets
    analysis_progress = Signal(int, int, float, str)
    #: (topic, level, text): topic "live" or "analysis", level "error" or "info"
    message = Signal(str, str, str)
    #: the sizing conditions changed (the new SizingConditions)
    conditions_changed = Signal(object)
    #: exposure aid of the newest live frame (an ExposureStats)
    exposure_changed = Signal(object)
    #: the camera settings changed while live (the camera's new store metadata)
    camera_configured = Signal(object)

    def __init__(self, viewer: Any) -> None:
        super().__init__()
        self.viewer = viewer
        self.link = ViewerLink(viewer)
        self.tracking = persistence.load_tracking()
        self.conditions = persistence.load_conditions()
        self.live_state = "idle"
        self.pipeline: Any = None
        self.subscriber: Any = None
        self._live_conditions = self.conditions
        self._track_window = TrackWindow()
        self._first_frame_shown = 0
        #: the tracks layer is redrawn when new tracks came, as often as the image at most and
        #: as its own redraw time allows (it was every 0.5 s: 50 frames behind at 100 fps)
        self._tracks_pacer = RedrawPacer(1.0 / DEFAULT_MAX_DISPLAY_HZ)
        self._workers: list[Any] = []
        self._closed = False
        self._pipeline_lock = threading.Lock()
        #: pipeline calls run in the order they were made: each takes a ticket (GUI thread) and
        #: its worker thread waits until that ticket is served (a lock alone is not first come,
        #: first served between threads)
        self._pipeline_turn = threading.Condition()
        self._tickets_issued = 0
        self._ticket_served = 0
        self._pending: dict[str, tuple] = {}
        self._newest_frame: np.ndarray | None = None
        self._pairing = LivePairing()
        #: frames by which the drawn circles would lag the drawn frame when they are too far
        #: behind to be drawn (then the frame is drawn without them and the tracks are hidden);
        #: 0 when they are drawn
        self.detections_behind = 0
        #: camera sequence number of the live frame drawn last (-1: none yet)
        self.drawn_seq = -1
        #: what the live pipeline calibrated (used where the form is automatic)
        self._calibrated: dict[str, Any] = {"diameter": None, "separation": None, "minmass": None}
        self._adopt_live_conditions = False
        self._live_offset_px: tuple[int, int] = (0, 0)
        self._saturation_level: int | None = None
        self._last_exposure_stats = 0.0
        self._analysis_cancelled = False
        self._analysis_worker: Any = None
        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(POLL_INTERVAL_MS)
        self._poll_timer.timeout.connect(self._poll)
        self.status_changed.connect(self._stop_when_finished)
        self.link.on_viewer_closing(self.shutdown)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @property
    def newest_track_frame(self) -> int:
        """The newest frame of the live tracks received (-1: none since Live started)."""
        return self._track_window.newest_frame

    # ------------------------------------------------------------------ settings
    def set_tracking(self, settings: TrackingSettings) -> None:
        """Adopt validated tracking settings and pass them on to a running pipeline."""
        settings.validate()
        previous, self.tracking = self.tracking, settings
        persistence.save_tracking(settings)
        if self.pipeline is not None and self.live_state == "running":
            if (settings.engine, settings.detection()) != (previous.engine, previous.detection()):
                self._pipeline_call(
                    "update_detection", engine=settings.engine, **self._live_detection()
                )
            if settings.n_locators != previous.n_locators:
                self._pipeline_call("set_locators", settings.n_locators)

    def adopt_movie_metadata(self, metadata: dict[str, Any]) -> None:
        """Take the conditions a movie's metadata knows (temperature, calibration, timing).

        Metadata the Sizes widget would refuse are reported and the conditions left as they are.
        """
        conditions = self.conditions.with_movie_metadata(metadata)
        if conditions == self.conditions:
            return
        try:
            self.set_conditions(conditions)
        except PyntaInputError as error:
            self.message.emit("analysis", "error", f"the movie's metadata were not used: {error}")

    def set_conditions(self, conditions: SizingConditions) -> None:
        """Adopt validated sizing conditions (the Sizes widget re-expresses its diameters)."""
        self.conditions = conditions.validate()
        persistence.save_conditions(self.conditions)
        self.conditions_changed.emit(self.conditions)

    # ------------------------------------------------------------------ live
    def start_live(
        self,
        camera: str,
        camera_settings: dict[str, Any],
        record_path: str | None = None,
        overwrite: bool = False,
        sample: dict[str, Any] | None = None,
    ) -> None:
        """Start the live pipeline (validated here, started in a worker thread).

        ``sample`` holds the sample fields stored with recordings (:mod:`napari_pynta.sample`).

        Raises
        ------
        PyntaInputError
            If the configuration is refused; nothing is started then.
        """
        from napari_pynta.live.config import LiveConfig
        from napari_pynta.live.supervisor import LivePipeline

        if self.live_state != "idle":
            return
        fps = float(camera_settings.get("fps", 100.0))
        exposure = camera_settings.get("exposure_s") or 1.0 / fps
        live_conditions = replace(
            self.conditions,
            pixel_size_um=float(
                camera_settings.get("pixel_size_um", self.conditions.pixel_size_um)
            ),
            frame_interval_s=1.0 / fps,
            exposure_s=float(exposure),
        )
        config = LiveConfig(
            camera=camera,
            camera_settings=dict(camera_settings),
            record_path=record_path,
            overwrite=overwrite,
            n_locators=self.tracking.n_locators,
            engine=self.tracking.engine,
            detection=self.tracking.detection(),
            search_range_px=self.tracking.search_range_px or None,
            memory=self.tracking.memory,
            min_track_length=self.tracking.min_track_length,
            blur_separation=self.tracking.blur_separation,
            blur_gap_spread=self.tracking.blur_gap_spread,
            wide_centroid=self.tracking.wide_centroid,
            temperature_c=live_conditions.temperature_c,
            viscosity_pa_s=live_conditions.resolved_viscosity_pa_s(),
            sample=dict(sample or {}),
        ).validate()
        self._live_conditions = live_conditions
        self._adopt_live_conditions = True
        roi = camera_settings.get("roi")
        self._live_offset_px = tuple(roi[:2]) if roi else (0, 0)
        self.link.configure_live(live_conditions.pixel_size_um, self._live_offset_px)
        self.pipeline = LivePipeline(config)
        self.pipeline.events.status.connect(self.status_changed.emit)
        self._track_window.clear()
        self._pairing.reset()
        self._first_frame_shown = 0  # frames before it were taken with other camera settings
        self._set_live_state("starting")
        self._pipeline_call("start", on_done=self._on_started, on_error=self._on_start_failed)

    def stop_live(self) -> None:
        """Stop the pipeline (in a worker thread); the last frame stays on screen."""
        if self.live_state not in ("running", "starting") or self.pipeline is None:
            return
        self._stop_polling()
        self._set_live_state("stopping")
        self._pipeline_call("stop", on_done=self._on_stopped, on_error=self._on_stop_failed)

    def start_recording(
        self,
        path: str,
        overwrite: bool = False,
        sample: dict[str, Any] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        seconds: float | None = None,
    ) -> None:
        """Record the running live stream into the new store ``path`` (worker thread).

        ``sample`` (if given) replaces the sample fields stored with the recording;
        ``on_done`` is called once the recording has started, ``on_error`` if it could not
        (default: an error message). With ``seconds`` the acquisition ends the recording after
        that time on the camera's clock (:meth:`~napari_pynta.live.LivePipeline.start_recording`);
        :meth:`stop_recording` then completes the store.

        Raises
        ------
        PyntaInputError
            At once, for a ``path`` that is, holds or lies in the movie the playback camera
            plays (:meth:`~napari_pynta.live.LiveConfig.refuse_recording_over_the_playback`).
        """
        if self.pipeline is None or self.live_state != "running":
            raise RuntimeError("start Live before recording")
        self.pipeline.config.refuse_recording_over_the_playback(path)
        if sample is not None:
            self.pipeline.config.sample = validate_sample(sample)
        self._pipeline_call(
            "start_recording", path, overwrite, seconds, on_done=on_done, on_error=on_error
        )

    def stop_recording(self, on_done: Callable[[int], None] | None = None) -> None:
        """Stop recording; the saver finishes writing in a worker thread.

        ``on_done(frames_saved)`` is called once the store is complete.
        """
        if self.pipeline is not None and self.live_state == "running":

            def stopped(n_saved: int) -> None:
                self.message.emit("live", "info", f"recording stopped: {n_saved} frames saved")
                if on_done is not None:
                    on_done(n_saved)

            self._pipeline_call("stop_recording", on_done=stopped)

    def configure_camera(self, settings: dict[str, Any]) -> None:
        """Change fps, exposure, ROI or gain of the running camera (worker thread).

        The pipeline refuses during a recording or for values the camera rejects; the reason
        arrives as a ``live`` error message. On success :attr:`camera_configured` is emitted.
        """
        if self.pipeline is None or self.live_state != "running":
            raise PyntaInputError("start Live before changing the camera while live")
        self._pipeline_call(
            "configure_camera",
            on_done=self._on_camera_configured,
            on_error=lambda error: self.message.emit("live", "error", f"camera: {error}"),
            **settings,
        )

    def _on_camera_configured(self, metadata: dict[str, Any]) -> None:
        roi = (metadata.get("camera_settings") or {}).get("roi")
        self._live_offset_px = tuple(roi[:2]) if roi else (0, 0)
        self._live_conditions = replace(
            self._live_conditions,
            frame_interval_s=float(metadata["frame_interval_s"]),
            exposure_s=float(metadata["exposure_s"]),
        )
        self._adopt_live_conditions = True  # show the new timing with the next live sizes
        # the linker starts new tracks after a camera change; the old ones were measured in the
        # old ROI and would be drawn shifted by the new origin (also those still in flight)
        if self.pipeline is not None:
            self._first_frame_shown = self.pipeline.camera_settings_from_seq
        self._pairing.reset()
        self._track_window.clear()
        self.link.clear_live_layers()
        self.link.configure_live(self._live_conditions.pixel_size_um, self._live_offset_px)
        self.link.refresh_live_contrast()
        self.camera_configured.emit(metadata)

    def _pipeline_call(
        self, method: str, *args: Any, on_done: Any = None, on_error: Any = None, **kwargs: Any
    ) -> None:
        """Call ``pipeline.<method>`` in a worker thread, one call at a time (in order).

        The pipeline's control socket is not thread-safe and some calls wait for processes
        (start, set_locators, stop_recording), so they never run on the GUI thread and never
        overlap.
        """
        pipeline = self.pipeline
        ticket = self._tickets_issued
        self._tickets_issued += 1

        def call() -> Any:
            with self._pipeline_turn:
                # bounded: never a hang, even if an earlier call's thread never ran
                self._pipeline_turn.wait_for(
                    lambda: self._ticket_served >= ticket, timeout=PIPELINE_TURN_TIMEOUT_S
                )
            try:
                with self._pipeline_lock:
                    return getattr(pipeline, method)(*args, **kwargs)
            finally:
                with self._pipeline_turn:
                    self._ticket_served += 1
                    self._pipeline_turn.notify_all()

        self._run_in_thread(
            call,
            on_done=on_done,
            on_error=on_error
            or (lambda error: self.message.emit("live", "error", f"{method}: {error}")),
        )

    def snap(self, camera: str, camera_settings: dict[str, Any]) -> None:
        """Add one frame as a new image layer: the newest live frame, or one from the camera."""
        if self.live_state == "running" and self._newest_frame is not None:
            self.link.add_snapshot(self._newest_frame)
            return
        self.link.configure_live(
            float(camera_settings.get("pixel_size_um", self.conditions.pixel_size_um)),
            tuple(camera_settings["roi"][:2]) if camera_settings.get("roi") else (0, 0),
        )
        self._run_in_thread(read_one_frame, camera, camera_settings, on_done=self.link.add_snapshot)

    def _live_detection(self) -> dict[str, Any]:
        """Detection options for the live locators: "automatic" diameter, separation and minmass
        are the ones the pipeline calibrated on its first frames (None would mean no threshold at
        all)."""
        detection = self.tracking.detection()
        for key, calibrated in self._calibrated.items():
            if detection[key] is None:
                detection[key] = calibrated
        if detection["diameter"] is None:  # not calibrated: the engines' sharp-spot default
            del detection["diameter"]
        return detection

    def _on_started(self, _: Any = None) -> None:
        from napari_pynta.live.subscriber import LiveSubscriber

        if self.pipeline is None or self.live_state != "starting":  # stopped while starting
            return
        chosen = self.pipeline.config.detection
        self._calibrated = {key: chosen.get(key) for key in ("diameter", "separation", "minmass")}
        self.subscriber = LiveSubscriber(self.pipeline.endpoints)
        camera_settings = self.pipeline.camera_metadata.get("camera_settings") or {}
        self._saturation_level = camera_settings.get("saturation_level")
        self._poll_timer.start()
        self._set_live_state("running")
        engine, fastest = self.pipeline.config.engine, default_engine()
        if engine != fastest:  # e.g. kept from the settings of an earlier version
            self.message.emit(
                "live",
                "info",
                f"tracking with the {engine!r} engine: {fastest!r} finds the same features "
                f"10-25 x faster, and with {engine!r} tracking can fall behind the camera "
                "(Tracking ▸ engine)",
            )

    def _on_start_failed(self, error: BaseException) -> None:
        self.pipeline = None  # LivePipeline.start stops what it started before raising
        self._set_live_state("idle")
        self.message.emit("live", "error", f"Live could not start: {error}")

    def _on_stopped(self, final: LiveStatus | None = None) -> None:
        self.pipeline = None
        self._set_live_state("idle")
        if final is not None and final.frames_acquired:  # the run's figures, once
            latency = run_latency_text(final, "over the run")
            died = ACQUISITION in final.dead_workers
            self.message.emit(
                "live",
                "error" if died else "info",
                ("the acquisition died: " if died else "")
                + f"Live stopped after {final.frames_acquired} frames "
                f"({final.frames_untracked} untracked)"
                + (f"; {final.frames_saved} recorded frames kept" if died else "")
                + (f"; {latency}" if latency else ""),
            )

    def _on_stop_failed(self, error: BaseException) -> None:
        self.pipeline = None
        self._set_live_state("idle")
        self.message.emit("live", "error", f"stopping the pipeline failed: {error}")

    def _poll(self) -> None:
        """Take what the subscriber has (never blocks) and draw it."""
        if self.subscriber is None:
            return
        update = self.subscriber.poll()
        now = time.monotonic()
        if update.frame is not None and update.frame_header is not None:
            self._newest_frame = update.frame
            self._update_exposure_aid(update.frame)
            if int(update.frame_header["seq"]) >= self._first_frame_shown:
                self._pairing.add_frame(int(update.frame_header["seq"]), update.frame, now)
        if update.located_seqs:
            by_frame = dict(tuple(update.localizations.groupby("frame")))
            empty = update.localizations.iloc[:0]
            for seq in update.located_seqs:
                if seq >= self._first_frame_shown:
                    self._pairing.add_localizations(seq, by_frame.get(seq, empty))
        self._draw_live(now)
        if len(update.tracks):
            self._track_window.add(update.tracks[update.tracks["frame"] >= self._first_frame_shown])
        now = time.monotonic()
        if self.detections_behind:  # the tracks end seconds before the frame drawn
            self.link.hide_live_tracks()
        elif self._track_window.has_new and self._tracks_pacer.due(now):
            self.link.show_live_tracks(self._track_window.current())
            self._tracks_pacer.drawn(now, time.monotonic())
        if update.sizes:
            summary = dict(update.sizes.get("summary") or {})
            try:
                measured_with = SizingConditions.from_analysis_params(summary["params"])
            except (KeyError, TypeError, ValueError):  # an early summary without parameters
                measured_with = self._live_conditions
            else:
                self._adopt_camera_conditions(measured_with)
            diameters = np.asarray(update.sizes.get("diameters_nm", []), dtype=float)
            self.sizes_changed.emit(SizeData(diameters, summary, measured_with, LIVE_SOURCE))
        for error in update.errors:
            self.message.emit("live", "error", error)

    def _draw_live(self, now: float) -> None:
        """Draw the newest frame whose localizations have arrived, with exactly those (the
        circles sit on their particles however far tracking runs behind the camera)."""
        if not self.link.live_frame_due(now):
            return
        drawing = self._pairing.next_drawing(now)
        if drawing is None:
            return
        self.link.show_live_frame(drawing.frame)
        self.drawn_seq = drawing.seq
        if drawing.localizations is not None:
            self.link.show_live_localizations(drawing.localizations)
        self.detections_behind = drawing.frames_behind

    def _update_exposure_aid(self, frame: np.ndarray) -> None:
        """Emit the saturated fraction and histogram of the newest frame, a few times a second."""
        now = time.monotonic()
        if now - self._last_exposure_stats < EXPOSURE_INTERVAL_S:
            return
        self._last_exposure_stats = now
        level = self._saturation_level or int(np.iinfo(frame.dtype).max)
        self.exposure_changed.emit(exposure_stats(frame, level))

    def _adopt_camera_conditions(self, measured_with: SizingConditions) -> None:
        """Show, once per Live start, the calibration and timing the camera actually used."""
        if self._adopt_live_conditions:
            self._adopt_live_conditions = False
            self.set_conditions(measured_with)
            self.link.configure_live(measured_with.pixel_size_um, self._live_offset_px)

    def _stop_when_finished(self, status: LiveStatus) -> None:
        """End Live once the run is over: finished, or its acquisition dead (the camera is
        gone with it; the recording is closed with what was written)."""
        ended = status.finished or ACQUISITION in status.dead_workers
        if ended and self.live_state == "running":
            self.stop_live()

    def _stop_polling(self) -> None:
        self._poll_timer.stop()
        if self.subscriber is not None:
            self.subscriber.close()
            self.subscriber = None

    def _set_live_state(self, state: str) -> None:
        self.live_state = state
        self.live_state_changed.emit(state)

    # ------------------------------------------------------------------ re-analysis
    def analyze_layer(self, layer_name: str, frames: str = "") -> None:
        """Re-analyse the movie layer ``layer_name`` in a worker thread (progress: the
        ``analysis_progress`` signal).

        The result fills points and tracks layers and the Sizes histogram, and is saved into the
        movie's store when the layer was read from one.

        Parameters
        ----------
        layer_name : str
            The movie layer.
        frames : str
            The *Frames* field: ``START:STOP`` analyses only those recorded frames
            (``pynta analyze --frames``); empty: all.

        Raises
        ------
        PyntaInputError
            If the tracking settings, sizing conditions or frames are invalid (nothing is
            started); a refused range names the layer's length.
        """
        tracking = self.tracking.validate()
        conditions = self.conditions.validate()
        data, info = self.link.movie_of_layer(layer_name)
        part = frames_asked(frames, int(data.shape[0]), layer_name)
        self._analysis_cancelled = False
        self._analysis_worker = self._run_in_thread(
            analyze_movie,
            data,
            info.get("source"),
            tracking,
            conditions,
            lambda: self._closed or self._analysis_cancelled,
            self.analysis_progress.emit,
            part,
            on_done=lambda outcome: self._on_analyzed(outcome, layer_name, conditions, part),
            on_error=self._on_analysis_failed,
        )

    def analyze_measurement(
        self,
        folder: str,
        depth_um: float | None,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        """Analyse and combine the captures of a measurement folder in a worker thread.

        The Tracking widget's settings apply to every capture, each under its stored
        conditions (:func:`~napari_pynta.widgets.reanalysis.analyze_measurement_folder`);
        :meth:`cancel_analysis` stops it. ``on_done`` receives the
        :class:`~napari_pynta.measurement_analysis.MeasurementAnalysis`, ``on_error`` the error
        (an :class:`AnalysisCancelled` when cancelled).

        Raises
        ------
        PyntaInputError
            If the tracking settings are invalid (nothing is started).
        """
        tracking = self.tracking.validate()
        self._analysis_cancelled = False
        self._analysis_worker = self._run_in_thread(
            analyze_measurement_folder,
            folder,
            tracking,
            depth_um,
            lambda: self._closed or self._analysis_cancelled,
            self.analysis_progress.emit,
            on_done=on_done,
            on_error=on_error,
        )

    def cancel_analysis(self) -> None:
        """Stop the running re-analysis at its next frame located or linked or iteration of
        the size deconvolution (:mod:`napari_pynta.cancellation`); nothing is saved."""
        self._analysis_cancelled = True

    @property
    def analysing(self) -> bool:
        """True while a re-analysis runs."""
        return self._analysis_worker is not None and self._analysis_worker in self._workers

    def _on_analysis_failed(self, error: BaseException) -> None:
        if isinstance(error, AnalysisCancelled):
            self.message.emit(
                "analysis", "info", "analysis cancelled; the movie's store is unchanged"
            )
        else:
            self.message.emit("analysis", "error", f"analysis failed: {gui_message(error)}")

    def _on_analyzed(
        self,
        outcome: AnalysisOutcome,
        name: str,
        conditions: SizingConditions,
        part: FrameRange | None,
    ) -> None:
        result = outcome.result
        first, stop = result.summary["frame_range"]
        where = f" over frames {first}..{stop - 1}" if part is not None else ""
        pixel = (conditions.pixel_size_um, conditions.pixel_size_um)
        self.link.show_results(name, result.localizations, result.tracks, pixel)
        per_track = result.per_track
        diameters = per_track["diameter_nm"].to_numpy(dtype=float)
        walker = result.sizes.deconvolved if result.sizes is not None else None
        deconvolved = (walker.diameter_nm, walker.weights) if walker is not None else None
        self.sizes_changed.emit(
            SizeData(
                diameters,
                dict(result.summary),
                conditions,
                f"analysis of {name}{where}",
                per_track,
                deconvolved,
            )
        )
        saved = f"; results saved in {outcome.saved_to}" if outcome.saved_to else ""
        saved = f"; {outcome.not_saved}" if outcome.not_saved else saved
        unsized = unsized_reason(result.summary)  # naming the Tracking form's controls
        if unsized:  # a failed measurement: said as an error, with why and what to try
            self.message.emit("analysis", "error", f"analysis{where} failed: {unsized}{saved}")
        else:
            self.message.emit("analysis", "info", f"{len(per_track)} tracks sized{where}{saved}")
        self.analysis_finished.emit(result)

    # ------------------------------------------------------------------ preview
    def preview(self, layer_name: str, frame_index: int) -> None:
        """Detect particles on one frame of a movie layer (worker thread) and show them."""
        settings = self.tracking.validate()
        data, info = self.link.movie_of_layer(layer_name)
        metadata = info.get("movie_metadata", {})
        pixel = float(metadata.get("pixel_size_um") or 1.0)
        self.link.show_frame(frame_index)
        self._run_in_thread(
            locate_one_frame,
            data,
            frame_index,
            settings,
            on_done=lambda locs: self.link.show_preview(locs, (pixel, pixel)),
            on_error=lambda error: self.message.emit(
                "analysis", "error", f"preview failed: {error}"
            ),
            latest_only="preview",
        )

    # ------------------------------------------------------------------ threads and shutdown
    def _run_in_thread(
        self,
        function: Any,
        *args: Any,
        on_done: Any = None,
        on_error: Any = None,
        latest_only: str | None = None,
    ) -> Any:
        """Run ``function(*args)`` in a napari thread worker; callbacks run on the GUI thread.

        With ``latest_only`` set, a call made while the previous one of that kind is still
        running replaces any call waiting behind it (slider previews stay responsive).
        """
        from napari.qt.threading import create_worker

        if latest_only is not None:
            busy = any(getattr(w, "_pynta_kind", None) == latest_only for w in self._workers)
            if busy:
                self._pending[latest_only] = (function, args, on_done, on_error)
                return None
        # errors go to on_error (a message), not re-raised into the Qt event loop
        worker = create_worker(function, *args, _start_thread=False, _ignore_errors=True)
        worker._pynta_kind = latest_only
        if on_done is not None:  # results arriving after the viewer closed are dropped
            worker.returned.connect(lambda result: None if self._closed else on_done(result))
        on_error = on_error or (lambda error: self.message.emit("live", "error", str(error)))
        worker.errored.connect(lambda error: None if self._closed else on_error(error))
        worker.finished.connect(lambda: self._on_worker_finished(worker))
        self._workers.append(worker)
        worker.start()
        return worker

    def _on_worker_finished(self, worker: Any) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        kind = getattr(worker, "_pynta_kind", None)
        if kind is not None and kind in self._pending and not self._closed:
            function, args, on_done, on_error = self._pending.pop(kind)
            self._run_in_thread(
                function, *args, on_done=on_done, on_error=on_error, latest_only=kind
            )

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Process events until no worker thread of this session runs (for tests and shutdown)."""
        deadline = time.monotonic() + timeout_s
        app = QApplication.instance()
        while self._workers and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        return not self._workers

    def shutdown(self) -> None:
        """Stop the pipeline and every worker (idempotent; called when the viewer closes)."""
        if self._closed:
            return
        self._closed = True
        self._stop_polling()
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            with self._pipeline_lock:
                pipeline.stop()
        for worker in list(self._workers):
            worker.quit()
        _sessions.pop(id(self.viewer), None)
        self.live_state = "idle"


# ---------------------------------------------------------------------- worker-thread functions
def read_one_frame(camera: str, camera_settings: dict[str, Any]) -> np.ndarray:
    """Open ``camera``, read one frame and close it (runs in a worker thread)."""
    from napari_pynta.cameras import open_camera

    device = open_camera(camera, **camera_settings)
    try:
        device.start()
        frame, _ = device.read()
        device.stop()
    finally:
        device.close()
    return frame


def locate_one_frame(data: Any, frame_index: int, settings: TrackingSettings) -> pd.DataFrame:
    """Localizations of frame ``frame_index`` of a (T, Y, X) array (runs in a worker thread).

    An automatic ``minmass`` is estimated from that frame, as the analysis does from the movie;
    an automatic diameter is the sharp-spot one (one frame shows no motion between frames).
    """
    from napari_pynta.detect import SHARP_DIAMETER_PX, estimate_minmass, locate

    frame = np.asarray(data[int(frame_index)])
    detection = settings.detection()
    if detection["diameter"] is None:
        detection["diameter"] = SHARP_DIAMETER_PX
    if detection["minmass"] is None:
        detection["minmass"] = estimate_minmass(
            frame[None], settings.engine, n_sample=1, **detection
        )
    return locate(frame, settings.engine, frame_number=int(frame_index), **detection)
