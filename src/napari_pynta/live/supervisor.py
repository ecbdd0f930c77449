"""The supervisor: starts, scales, watches and stops the worker processes of the live pipeline."""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from multiprocessing.process import BaseProcess
from typing import Any

import psutil
import zmq

from napari_pynta.errors import PyntaDataError, PyntaInputError, require_positive
from napari_pynta.live import transport
from napari_pynta.live.config import (
    LiveConfig,
    LiveEndpoints,
    LiveStatus,
    automatic_diameter,
    check_detection,
    check_hot_pixels,
    locator_detection,
    moved_hot_pixels,
)
from napari_pynta.live.cpu_wait import CpuWait, cpu_wait_s
from napari_pynta.live.events import STATUS_EVENT_INTERVAL_S, LiveEvents
from napari_pynta.live.frame_ring import SHM_DIR, unlink_rings
from napari_pynta.live.protocol import (
    ACQUISITION,
    EVENTS,
    LINKER,
    SAVER,
    SIZER,
    Command,
    Event,
    is_locator,
    locator_name,
)
from napari_pynta.live.sizes import analysis_params
from napari_pynta.live.workers import (
    acquisition_worker,
    linker_worker,
    locator_worker,
    saver_worker,
    sizer_worker,
)
from napari_pynta.lock_holder import describe_process
from napari_pynta.parameters import SETTINGS, default_engine

#: camera settings that can change while the pipeline runs (:meth:`LivePipeline.configure_camera`)
LIVE_CAMERA_SETTINGS = ("fps", "exposure_s", "roi", "gain")
#: how long to wait for a worker to report ``ready`` (spawning imports numpy, pandas, trackpy)
READY_TIMEOUT_S = 60.0
#: how long a worker gets to exit after ``stop`` before it is killed (SIGKILL: workers ignore
#: SIGTERM, which a service manager sends to the whole process group, so that the supervisor can
#: stop them in order)
JOIN_TIMEOUT_S = 5.0
#: how long a killed worker may take to end (SIGKILL waits for a write to the disk to return,
#: and a worker killed while it starts waits for the pages of its interpreter and libraries:
#: 10 s were once too short on a loaded 2-core machine)
KILLED_JOIN_S = 30.0
#: resend an unacknowledged control command after this long
RESEND_S = 0.25
#: how long the report of a worker that just died may take to reach the monitor
DEATH_NOTE_S = 1.0
#: errors kept in :class:`LiveStatus`
MAX_ERRORS = 50
#: at most this long the monitor reads the workers' last reports after they stopped
FINAL_REPORTS_S = 1.0
#: a dead saver, locator or linker is restarted at most this many times
MAX_RESTARTS = 3
#: wait before the first restart of a worker; doubled for each further one
RESTART_BACKOFF_S = 0.5
#: after the last frame, a saver or linker that makes no progress for this long is given up
#: (the run ends, what is missing is counted), so a run always ends. The time counts from the
#: end of the acquisition at the earliest, and the time the worker waited for a CPU (a loaded
#: machine) does not count: a starved worker is not a hung one
STALL_TIMEOUT_S = 20.0
#: an acquisition that has reported nothing for this long (or for its camera timeout, if that is
#: longer) since its camera started is frozen as a whole: a camera call that holds the
#: interpreter, so that even the read minder that answers for it during a long read is silent.
#: It is ended and the run ends as with a dead acquisition. One frozen for less (SIGSTOP, a very
#: loaded machine) goes on: the camera's driver buffer keeps or loses frames, as said
ACQUISITION_SILENCE_S = 30.0


#: thread counts of the math libraries, set to 1 for the workers unless the user chose them: the
#: pipeline is parallel across processes, and a multi-threaded BLAS on a busy machine made the
#: linker's size deconvolution (EM, matrix-vector products) 10-50 times slower
MATH_THREADS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class LivePipeline:
    """Camera, saver, locator pool, linker and sizer in separate processes.

    Use as a context manager or call :meth:`start` and :meth:`stop`; the processes are also
    stopped at interpreter exit. See ``docs/live-pipeline.md``.

    Parameters
    ----------
    config : LiveConfig
        Validated when the pipeline is created (raises :class:`PyntaInputError`).
    """

    def __init__(self, config: LiveConfig):
        self.config = replace(
            config, camera_settings=dict(config.camera_settings), detection=dict(config.detection)
        ).validate()
        self.endpoints: LiveEndpoints | None = None
        self._mp = multiprocessing.get_context("spawn")
        self._processes: dict[str, Any] = {}
        self._reports: dict[str, dict[str, Any]] = {}
        self._expected_exit: set[str] = set()
        self._dead: list[str] = []
        self._errors: list[str] = []
        #: errors recorded in all (``_errors`` keeps the newest), and how many were emitted
        self._n_errors = 0
        self._n_errors_emitted = 0
        self._sizes_emitted: dict[str, Any] | None = None
        self._status_emitted_at = -float("inf")
        #: typed notifications (status, errors, sizes) for the CLI and the GUI
        self.events = LiveEvents()
        self._pending: dict[int, tuple[str, dict[str, Any], float]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._monitor: threading.Thread | None = None
        self._monitoring = threading.Event()
        self._context: zmq.Context | None = None
        self._control: zmq.Socket | None = None
        self._recording_path: str | None = None
        #: the number of the current (or last) recording: the saver's hello names it, so that
        #: the acquisition resends a recording's frames only to a saver of that recording
        self._recording_number = 0
        self._locator_numbers = itertools.count(1)
        self._camera_info: dict[str, Any] = {}
        self._size_summary: dict[str, Any] | None = None
        self._size_summary_final = False
        self._started = False
        self._stopping = False
        self._bad_reports = transport.BadMessageLog(self._record_error)
        self._restarts: dict[str, int] = {}
        self._restarting: set[str] = set()
        self._wake = threading.Event()  # set by stop(): restarts waiting for their backoff end
        # recordings already ended: frames dropped, frames saved (from the store) of the last
        self._dropped_before = 0
        self._saved_final: int | None = None
        # the last recording ended: its path, frames meant, frames counted in its store then
        self._ended_recording: tuple[str, int, int] | None = None
        # the last seq in the store of the last recording, once counted after the processes ended
        self._stored_last_seq = -1
        # workers ended by SIGKILL at the stop: their final reports never came
        self._killed: set[str] = set()
        self._recording_failed: str | None = None
        # the store whose failed recording was closed (:meth:`_close_failed_recording`)
        self._failure_recorded: str | None = None
        # frames linked by linkers that died (a restarted linker counts from zero)
        self._linked_before = 0
        #: the acquisition's frame rings are named ``{prefix}_{n}``: leftovers are removed by it
        self._ring_prefix = (
            f"pynta_{os.getpid()}_{secrets.token_hex(4)}" if self.config.frame_ring else None
        )

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> LivePipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LivePipeline:
        """Start every worker, wait until each is ready, then start the camera.

        Raises
        ------
        PyntaInputError
            Bad camera settings or an existing ``record_path`` (nothing is left running).
        PyntaDataError
            A worker failed to start.
        """
        if self._started:
            raise PyntaInputError("this pipeline was already started; create a new LivePipeline")
        config = self.config
        if config.record_path is not None:
            _check_record_path(config.record_path, config.overwrite)
        self._started = True
        try:
            # an interruption meanwhile is handled once the sockets and the monitor exist, so
            # that the stop it leads to finds a pipeline it can stop (before, one that came here
            # was taken for a dead acquisition by `pynta acquire`: rc 2, no result)
            with interruptions_deferred():
                self._open_sockets()
            # spawning is slow (each process imports numpy, pandas, trackpy): start all at once,
            # then send what depends on the camera as commands
            self._spawn(
                ACQUISITION,
                acquisition_worker,
                config.camera,
                config.camera_settings,
                config.n_frames,
                config.track,
                int(config.save_buffer_mb * 1e6),
                int(config.track_buffer_mb * 1e6),
                self._calibration(),
                self._ring_prefix,
                config.camera_timeout_s,
                config.seconds,
            )
            self._spawn(SAVER, saver_worker)
            if config.track:
                self._spawn(LINKER, linker_worker)
                self._spawn(SIZER, sizer_worker)
                for _ in range(config.n_locators):
                    self._spawn_locator()
            for name in list(self._processes):
                ready = self._wait_ready(name)
                if name == ACQUISITION:
                    self._camera_info = ready
            if config.track:
                self._configure_tracking()
            if config.record_path is not None:
                self._begin_recording(config.record_path, config.overwrite, resume=False)
            self._command(
                ACQUISITION,
                Command.GO,
                record=config.record_path is not None,
                recording=self._recording_number,
            )
            self._wait_acknowledged(ACQUISITION)
            with self._lock:  # from now on it reports at least every heartbeat
                self._reports[ACQUISITION]["heard_at"] = time.monotonic()
        except BaseException:
            self.stop()
            raise
        return self

    def _open_sockets(self) -> None:
        """Create the endpoints, bind the control and status sockets and start the monitor that
        reads (and at the stop closes) the status socket; remove dead pipelines' frame rings."""
        for removed in remove_rings_of_dead_pipelines():
            self._record_error(removed)
        self.endpoints = LiveEndpoints.create(self.config.host, self.config.keys_dir)
        self._context = zmq.Context()
        self._control = self._context.socket(zmq.PUB)
        self._control.setsockopt(zmq.LINGER, 0)
        self._control.bind(self.endpoints.control)
        status = self._context.socket(zmq.PULL)
        try:
            status.setsockopt(zmq.LINGER, 0)
            status.bind(self.endpoints.status)
        except BaseException:  # no monitor to close it: the stop's Context.term() would wait
            status.close(0)
            raise
        self._monitoring.set()
        self._monitor = threading.Thread(
            target=self._watch, args=(status,), daemon=True, name="pynta-live-monitor"
        )
        self._monitor.start()
        atexit.register(self.stop)

    def stop(self) -> LiveStatus:
        """Stop every worker (the recording is flushed first) and return the final status.

        Safe to call several times; processes that do not exit in time are terminated, and those
        not ready yet (a stop during start-up) at once.
        """
        if not self._started or self._context is None:
            return self.status()
        if self._recording_path is not None:
            self.stop_recording()
        names = self._begin_shutdown()
        for name in names:
            if not self._alive(name):
                continue
            if self._reports.get(name, {}).get(f"{Event.READY}_event"):
                self._command(name, Command.STOP)
            else:  # still starting (importing): it hears no stop yet, and has nothing to flush
                self._kill(name)
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for name in names:
            process = self._processes[name]
            process.join(max(0.0, deadline - time.monotonic()))
        return self._shut_down(names)

    def terminate(self) -> LiveStatus:
        """Stop every worker at once (SIGKILL), without flushing the recording.

        For a second Ctrl-C: frames not yet written are lost (the store keeps what it has). The
        counters of the recording are those of the store (the workers' last reports lag it).
        """
        if not self._started or self._context is None:
            return self.status()
        names = self._begin_shutdown()
        killed = [name for name in names if self._alive(name)]
        if killed:
            self._record_error(
                f"stopped at once: {', '.join(killed)} killed; frames not yet written are lost "
                "(the counters are those of the store)"
            )
        for name in killed:
            self._kill(name)
        return self._shut_down(names)

    def _kill(self, name: str) -> None:
        """End worker ``name`` by SIGKILL and wait until it has ended: nothing it wrote changes
        afterwards (a write to the disk it was in returns first)."""
        process = self._processes[name]
        with self._lock:
            self._killed.add(name)
        process.kill()
        process.join(KILLED_JOIN_S)
        if process.is_alive():
            self._record_error(
                f"{name} had not ended {KILLED_JOIN_S:.0f} s after SIGKILL (a hung disk?); "
                "the counters may miss what it still writes"
            )

    def _begin_shutdown(self) -> list[str]:
        """Mark the pipeline as stopping and every process as expected to exit; their names."""
        with self._lock:
            self._stopping = True
            self._wake.set()
            names = list(self._processes)
            self._expected_exit.update(names)
        return names

    def _shut_down(self, names: list[str]) -> LiveStatus:
        """End the processes still running, close the sockets; the final status."""
        for name in names:
            if self._processes[name].is_alive():
                self._record_error(f"{name} did not stop within {JOIN_TIMEOUT_S} s; killed")
                self._kill(name)
        self._monitoring.clear()
        if self._monitor is not None:  # it reads the workers' last reports first
            self._monitor.join(2.0)
        self._count_recording_in_store()
        final = self.status()
        if self._control is not None:
            self._control.close(0)
        if self._context is not None:
            self._context.term()
        self._context = None
        if self.endpoints is not None and self.endpoints.directory:
            shutil.rmtree(self.endpoints.directory, ignore_errors=True)
        self._remove_leftover_rings()
        atexit.unregister(self.stop)
        final.running = False
        return final

    def _remove_leftover_rings(self) -> None:
        """Unlink the frame rings of an acquisition that could not close them (killed, crashed).

        Readers that still map a ring keep it until they unmap it; nothing new can attach.
        """
        if self._ring_prefix is None:
            return
        removed = unlink_rings(prefix=self._ring_prefix)
        if removed:
            self._record_error(f"removed the shared memory the acquisition left: {removed}")

    # ------------------------------------------------------------------ recording
    def start_recording(
        self, path: str, overwrite: bool = False, seconds: float | None = None
    ) -> None:
        """Record every frame from the next one into the zarr store ``path``.

        With ``seconds``, the acquisition records the frames of that time from the first one,
        on the camera's clock (``ceil(seconds * fps)`` frames at a steady rate; see
        :class:`~napari_pynta.live.time_limit.TimeLimit`), and ends the recording itself at the
        first frame past it: :attr:`LiveStatus.recording` turns False, and :meth:`stop_recording`
        then completes the store.

        A saver dead for good after the previous recording failed (dead after its restarts,
        given up as stalled) is started afresh for the new store.

        Raises
        ------
        PyntaInputError
            If a recording is running, ``path`` exists and ``overwrite`` is False, ``path``
            is or holds the movie a playback plays, or the saver given up as stalled has not
            ended though it was killed (:meth:`_unended_saver_text`).
        """
        self._require_running()
        if seconds is not None:
            require_positive("seconds", seconds)
        if self._recording_path is not None:
            raise PyntaInputError(f"already recording to {self._recording_path!r}; stop it first")
        self.config.refuse_recording_over_the_playback(path, name="the recording path")
        _check_record_path(path, overwrite)
        if not self._alive(SAVER):  # it said "saver stopped unexpectedly" until restarted
            self.restart_worker(SAVER)
        elif SAVER in self._dead:  # the record command waited a minute for it, then timed out
            raise PyntaInputError(self._unended_saver_text())
        self._begin_recording(path, overwrite, resume=False)
        self._command(
            ACQUISITION, Command.RECORD, recording=self._recording_number, seconds=seconds
        )
        self._wait_acknowledged(ACQUISITION)
        with self._lock:  # it records from now on: the status must not say the last report's
            # "not recording" until the next one (a timed recording's end is told by it)
            self._reports[ACQUISITION]["recording"] = True

    def _unended_saver_text(self) -> str:
        """Why no recording can start while the saver given up as stalled lives on after its
        SIGKILL (a write to a hung disk does not return): it is named, with what it holds and
        what to do. A second saver is not started beside it: the acquisition would share the
        frames between the two."""
        held = f", holding {self._ended_recording[0]!r}" if self._ended_recording else ""
        return (
            f"cannot start a recording: the saver given up as stalled has not ended though it "
            f"was killed ({describe_process(self._processes[SAVER].pid)}){held}; a recording "
            "can start once it has ended, or stop Live and start it again: a new Live has a "
            "saver of its own (the store it holds stays locked until it ends)"
        )

    def stop_recording(self) -> int:
        """Stop recording, wait until every recorded frame is written; return the frame count.

        The count is read from the store. A saver that dies meanwhile is restarted and finishes
        the recording; one that makes no progress for :data:`STALL_TIMEOUT_S` is given up and
        ended, and the recording fails (:meth:`_end_stalled_saver`). Frames meant to be recorded
        that are not in the store are added to ``frames_dropped``.

        Raises
        ------
        PyntaInputError
            If not recording.
        """
        self._require_running()
        path = self._recording_path
        if path is None:
            raise PyntaInputError("not recording")
        if self._alive(ACQUISITION):  # its answer holds the final count of frames meant
            self._clear_event(ACQUISITION, Event.RECORDING_ENDED)
            self._command(ACQUISITION, Command.STOP_RECORDING)
            try:
                self._await_event(ACQUISITION, Event.RECORDING_ENDED, READY_TIMEOUT_S)
            except PyntaDataError as error:
                self._record_error(f"the recording may be incomplete: {error}")
        elif self._alive(SAVER):  # no end marker will come: it writes what it got, and ends
            # (a saver being restarted is told once it has reopened the store: restart_worker)
            self._command(SAVER, Command.STOP_RECORDING)
        while not self._part_done(SAVER):
            time.sleep(0.02)
        with self._lock:
            self._end_recording(path, _stored_seq(path, self._record_error))
        self._close_failed_recording()
        return self._saved_final or 0

    def _end_recording(
        self, path: str, stored: tuple[int, int, int], in_order: bool = True
    ) -> None:
        """Count the recording to ``path`` as ended with ``stored`` (frames, first and last seq)
        in its store: the frames meant to be recorded that it does not hold are dropped.
        Caller holds the lock.

        The frames meant are the acquisition's count, and at least the seqs the store spans (the
        count may be a report older than the store: a killed or frozen acquisition). A recording
        not ended ``in_order`` that was on at the acquisition's last report also meant every
        frame acquired since that report.
        """
        saved, first, last = stored
        self._stored_last_seq = last
        acquisition = self._reports.get(ACQUISITION, {})
        meant = int(acquisition.get("recording_frames", 0))
        if not in_order and acquisition.get("recording"):
            meant += self._frames_acquired() - int(acquisition.get("frames_acquired", 0))
        meant = max(meant, last - first + 1 if saved else 0)
        self._saved_final = saved
        self._dropped_before += max(0, meant - saved)
        self._ended_recording = (path, meant, saved)
        self._recording_path = None

    def _count_recording_in_store(self) -> None:
        """Once every process has ended, count the last recording from its store.

        A recording not ended in order (:meth:`terminate`, a saver killed) is ended here, so the
        counters are not the workers' last reports, which lag the store. One that was ended is
        counted again: a saver given up as stalled that SIGKILL did not end (a write to a disk
        that does not return; :meth:`_end_stalled_saver`) may still write after
        :meth:`stop_recording` counted the store. The final ``frames_saved`` and
        ``frames_dropped`` are those of the store.
        """
        with self._lock:
            if self._recording_path is not None:
                path = self._recording_path
                self._end_recording(path, _stored_seq(path, self._record_error_once), False)
            elif self._ended_recording is not None:
                path, meant, counted = self._ended_recording
                saved, _, last = _stored_seq(path, self._record_error_once)
                self._stored_last_seq = last
                if saved != counted:
                    self._saved_final = saved
                    self._dropped_before += max(0, meant - saved) - max(0, meant - counted)
                    self._ended_recording = (path, meant, saved)
        self._close_failed_recording()

    def _close_failed_recording(self) -> None:
        """Close the store of an ended recording that failed (the saver dead after its
        restarts or given up as stalled, a full disk), once no saver holds it: drop the block a
        saver killed in the middle of an append left incomplete, and record the failure with
        the recording's counts in the store's metadata (``recording_failed``: ``reason``,
        ``frames_saved``, ``frames_dropped``), so that `pynta verify` finds the store as the
        summary says. Done once per recording; what prevents it (a full disk, a saver that still
        holds the store) is said in ``errors``, and the store is left as it is."""
        with self._lock:
            if self._recording_failed is None or self._ended_recording is None:
                return
            if self._alive(SAVER) and not self._reports.get(SAVER, {}).get("finished_event"):
                return  # still writing (or stalled): the stop counts the store again later
            path, meant, saved = self._ended_recording
            if self._failure_recorded == path:
                return
            self._failure_recorded = path
            failure = {
                "reason": self._recording_failed,
                "frames_saved": saved,
                "frames_dropped": max(0, meant - saved),
            }
        error = _record_failed_recording(path, failure)
        if error is not None:
            self._record_error(error)

    def finish_acquisition(self) -> None:
        """End the run now as if ``n_frames`` had been reached; then use :meth:`wait_finished`."""
        self._require_running()
        self._command(ACQUISITION, Command.FINISH)
        self._wait_acknowledged(ACQUISITION)

    # ------------------------------------------------------------------ camera
    def configure_camera(self, **settings: Any) -> dict[str, Any]:
        """Change ``fps``, ``exposure_s``, ``roi`` or ``gain`` while streaming (no restart).

        The acquisition applies them between two frames (a camera may pause its stream for a
        moment, e.g. for a new ROI); the next recording and the live sizing use them. Refused
        during a recording: the frames of one store share one set of settings.

        Returns
        -------
        dict
            The camera's new store metadata (``frame_interval_s``, ``exposure_s``,
            ``camera_settings``...).

        Raises
        ------
        PyntaInputError
            During a recording, for an unknown setting or a value the camera refuses.
        """
        self._require_running()
        unknown = sorted(set(settings) - set(LIVE_CAMERA_SETTINGS))
        if unknown:
            raise PyntaInputError(
                f"camera setting(s) {unknown} cannot change while live; allowed: "
                f"{list(LIVE_CAMERA_SETTINGS)}"
            )
        if self._recording_path is not None:
            raise PyntaInputError(
                "camera settings cannot change during a recording (the frames of one store "
                "share one exposure, frame rate and ROI); stop recording first"
            )
        self._clear_event(ACQUISITION, Event.CAMERA)
        self._command(ACQUISITION, Command.CAMERA, settings=settings)
        report = self._await_event(ACQUISITION, Event.CAMERA, READY_TIMEOUT_S)
        if report.get("refused"):
            raise PyntaInputError(report["refused"])
        with self._lock:
            before = self._camera_info.get("metadata", {})
            self._camera_info.update(
                frame_shape=report["frame_shape"],
                dtype=report["dtype"],
                metadata=report["metadata"],
                settings_from_seq=int(report.get("from_seq", 0)),
            )
        self.config.camera_settings.update(settings)
        if self.config.track and self.config.hot_pixels:  # same sensor pixels, new ROI
            self.config.hot_pixels = moved_hot_pixels(
                self.config.hot_pixels, before, report["metadata"], report["frame_shape"]
            )
            self._send_detection()
        if self.config.track:  # live sizing starts afresh with the new timing
            self._command(LINKER, Command.CONFIGURE, settings=self._linker_settings())
            self._wait_acknowledged(LINKER)
        return dict(report["metadata"])

    @property
    def camera_metadata(self) -> dict[str, Any]:
        """The camera's current store metadata (after start; updated by configure_camera)."""
        with self._lock:
            return dict(self._camera_info.get("metadata", {}))

    @property
    def camera_settings_from_seq(self) -> int:
        """The first frame (seq) taken with the current camera settings (0 before any change)."""
        with self._lock:
            return int(self._camera_info.get("settings_from_seq", 0))

    # ------------------------------------------------------------------ tracking
    def set_locators(self, n: int) -> None:
        """Run ``n`` locator processes (1..:data:`MAX_LOCATORS`) from now on."""
        self._require_running()
        if not self.config.track:
            raise PyntaInputError("set_locators needs a pipeline started with track=True")
        SETTINGS["n_locators"].check(n)
        current = self._locator_names()
        added = [self._spawn_locator() for _ in range(n - len(current))]
        for name in added:  # spawned together: each takes seconds to import its libraries
            self._wait_ready(name)
        for name in current[n:]:
            with self._lock:
                self._expected_exit.add(name)
            self._command(name, Command.STOP)
        for name in current[n:]:
            self._processes[name].join(JOIN_TIMEOUT_S)
            if self._processes[name].is_alive():
                self._processes[name].kill()
                self._processes[name].join(2.0)
        self.config.n_locators = n

    def update_detection(self, engine: str | None = None, **detection: Any) -> None:
        """Change the localization options of every locator (checked first); the wide
        centroid's disk and the distance within which split images are joined, chosen by the
        calibration, are kept unless ``detection`` gives them."""
        self._require_running()
        engine = engine or self.config.engine or default_engine()  # validate() set it already
        for option, key in (
            ("wide_centroid", "wide_radius_px"),
            ("blur_separation", "split_within"),
        ):
            chosen = self.config.detection.get(key)
            if getattr(self.config, option) and chosen is not None:
                detection.setdefault(key, chosen)
        check_detection(engine, detection)
        self.config.engine, self.config.detection = engine, dict(detection)
        self._send_detection()

    def _send_detection(self) -> None:
        """Send the detection options and the hot pixels of the config to every locator."""
        for name in self._locator_names():
            self._command(
                name,
                Command.DETECT,
                engine=self.config.engine,
                detection=locator_detection(self.config.detection),
                hot_pixels=self.config.hot_pixels or [],
            )

    # ------------------------------------------------------------------ supervision
    def restart_worker(self, name: str) -> None:
        """Restart a dead saver, locator, linker or sizer (the supervisor also does it itself).

        A restarted saver continues the same store from the replay buffer; a restarted linker
        tracks the frames that come after (its size summary covers those); a restarted sizer
        gets every frame of the current settings again from the linker.

        Raises
        ------
        PyntaInputError
            For an unknown or running worker, or the acquisition (restart the pipeline).
        """
        self._require_running()
        if name not in self._processes:
            raise PyntaInputError(f"no worker named {name!r}; workers: {sorted(self._processes)}")
        if self._alive(name):
            raise PyntaInputError(f"worker {name!r} is running; only dead workers are restarted")
        if name == SAVER:
            # until the new saver reopens the store, its counter is what the store holds
            saved = self._reports.get(SAVER, {}).get("frames_saved", 0)
            if self._recording_path is not None:
                saved = _stored_seq(self._recording_path, self._record_error)[0]
            self._spawn(SAVER, saver_worker, report={"frames_saved": saved})
            self._wait_ready(SAVER)
            if self._recording_path is not None:
                self._begin_recording(self._recording_path, overwrite=False, resume=True)
                if not self._alive(ACQUISITION):  # died meanwhile: no end marker, no resend
                    self._command(SAVER, Command.STOP_RECORDING)
        elif is_locator(name):
            self._spawn_locator(name)
            self._wait_ready(name)
        elif name == SIZER:  # it asks the linker for the frames (``hello``)
            self._spawn(SIZER, sizer_worker)
            self._wait_ready(SIZER)
        elif name == LINKER:
            with self._lock:
                self._linked_before += int(self._reports.get(LINKER, {}).get("frames_linked", 0))
                acquisition = self._reports.get(ACQUISITION, {})
                last_seq = int(acquisition.get("last_seq", -1))
                end_seq = last_seq if acquisition.get("finished_event") else None
            self._spawn(LINKER, linker_worker)
            self._wait_ready(LINKER)
            settings = self._linker_settings()
            if last_seq >= 0:  # its sizes say that they miss the frames before
                settings["linker_restarted_at"] = last_seq + 1
            self._command(
                LINKER,
                Command.CONFIGURE,
                settings=settings,
                start_seq=last_seq + 1,
                end_seq=end_seq,
            )
            self._wait_acknowledged(LINKER)
        else:
            raise PyntaInputError(
                f"worker {name!r} cannot be restarted; stop and start the pipeline"
            )
        with self._lock:
            if name in self._dead:
                self._dead.remove(name)

    def wait_finished(self, timeout_s: float = 600.0) -> bool:
        """Wait until an ``n_frames`` run is fully acquired, saved and linked.

        Returns
        -------
        bool
            True once the run is over and accounted for: every frame acquired, and the saver
            and the linker finished, or were given up (dead after their restarts, or no
            progress for :data:`STALL_TIMEOUT_S`; the errors say so). Also True when the
            acquisition died. False on timeout.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if ACQUISITION in self._dead:
                    return True
                done = self._reports.get(ACQUISITION, {}).get("finished_event", False)
            if done and self._part_done(SAVER) and self._part_done(LINKER):
                return True
            time.sleep(0.05)
        return False

    def _part_done(self, name: str) -> bool:
        """True if the saver (linker) has nothing more to do for this run, or was given up."""
        with self._lock:
            if name == SAVER and self._recording_path is None:
                return True
            if name == LINKER and not self.config.track:
                return True
            report = self._reports.get(name, {})
            if report.get("finished_event"):
                return True
            if name in self._restarting:
                return False
            if not self._alive(name):  # dead for good, once the monitor has seen it
                return name in self._dead
            if self._stalled_s(name) <= STALL_TIMEOUT_S:
                return False
            report["finished_event"] = True
            if name == LINKER:
                self._record_error(
                    f"linker made no progress for {STALL_TIMEOUT_S:.0f} s; given up (the "
                    "frames it did not link are counted as untracked)"
                )
                return True
        self._end_stalled_saver()
        return True

    def _end_stalled_saver(self) -> None:
        """End the saver given up as stalled and fail its recording.

        A frozen saver (stopped, swapped out, on a hung disk) holds the store's writer lock for
        as long as it lives: no other process could open the store for writing, and the failed
        recording could not be closed (:meth:`_close_failed_recording`). It is woken (SIGCONT:
        a stopped process hears nothing) and told to stop, which ends the block it is writing
        and closes the store; one still running after :data:`JOIN_TIMEOUT_S` is killed (SIGKILL,
        as at a stop: workers ignore SIGTERM), and the kernel releases its lock. It is dead for
        good (not restarted), as a saver dead after its restarts. The frames it wrote stay in
        the store; those it had not are counted as dropped.
        """
        with self._lock:
            self._expected_exit.add(SAVER)
            if SAVER not in self._dead:
                self._dead.append(SAVER)
            self._record_error(
                f"saver made no progress for {STALL_TIMEOUT_S:.0f} s (frozen: stopped, swapped "
                "out, on a hung disk; or no frame came); ended, and the recording with it: the "
                "frames it wrote stay in the store, the rest are counted as dropped"
            )
            self._fail_recording(
                f"recording stopped: the saver made no progress for {STALL_TIMEOUT_S:.0f} s and "
                "was ended; the frames it wrote stay in the store"
            )
            process = self._processes[SAVER]
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(process.pid, signal.SIGCONT)
            self._command(SAVER, Command.STOP)
        process.join(JOIN_TIMEOUT_S)
        if process.is_alive():
            self._record_error(f"saver did not stop within {JOIN_TIMEOUT_S} s; killed")
            self._kill(SAVER)

    def _progressed(self, name: str) -> None:
        """Note that worker ``name`` made progress now (see :meth:`_stalled_s`). Caller holds
        the lock."""
        state = self._reports.setdefault(name, {})
        state["progress_at"] = time.monotonic()
        state["progress_cpu_wait_s"] = cpu_wait_s(self._processes[name].pid)

    def _stalled_s(self, name: str) -> float:
        """Seconds worker ``name`` has made no progress, less the time it waited for a CPU
        meanwhile. Caller holds the lock."""
        state = self._reports.get(name, {})
        now = time.monotonic()
        waited = cpu_wait_s(self._processes[name].pid) - state.get("progress_cpu_wait_s", 0.0)
        return now - state.get("progress_at", now) - max(waited, 0.0)

    def status(self) -> LiveStatus:
        """A snapshot of counters, errors and worker health."""
        with self._lock:
            acquisition = self._reports.get(ACQUISITION, {})
            saver = self._reports.get(SAVER, {})
            linker = self._reports.get(LINKER, {})
            workers_alive = {name: self._alive(name) for name in self._processes}
            locators = [n for n in self._locator_names() if workers_alive.get(n)]
            if self._recording_path is not None:  # live estimate until the store is read
                # seq gaps the saver saw (the camera's losses included) and refused frames
                current = int(saver.get("frames_missing", 0)) + int(
                    acquisition.get("record_refused", 0)
                )
                saved = int(saver.get("frames_saved", 0))
                if self._recording_failed is not None:  # nothing more will be written: every
                    # frame meant to be recorded and not saved is dropped (the saver's losses too)
                    meant = int(acquisition.get("recording_frames", 0))
                    current = max(current, meant - saved)
            else:
                current = 0
                saved = self._saved_final or 0
            tracked = self._linked_before + int(linker.get("frames_linked", 0))
            acquired = self._frames_acquired_shown(saved, tracked)
            ended = (
                acquisition.get("finished_event")
                or acquisition.get("stopped_event")
                or ACQUISITION in self._killed
            )
            if ended and (
                self._part_done(LINKER) or linker.get("stopped_event") or LINKER in self._killed
            ):
                untracked = acquired - tracked  # every frame not linked, whatever the cause
            else:
                untracked = int(acquisition.get("frames_untracked", 0)) + int(
                    linker.get("frames_lost", 0)
                )
            return LiveStatus(
                running=self._started and self._context is not None,
                recording=self._recording_path is not None and bool(acquisition.get("recording")),
                record_path=self._recording_path,
                finished=bool(acquisition.get("finished_event")),
                fps=float(acquisition.get("fps", 0.0)),
                fps_requested=float(acquisition.get("fps_requested", 0.0)),
                tracking_latency_s=linker.get("tracking_latency_s"),
                tracking_latency_recent_s=linker.get("tracking_latency_recent_s"),
                frames_acquired=acquired,
                frames_saved=saved,
                frames_dropped=self._dropped_before + current,
                frames_lost_by_camera=int(acquisition.get("frames_lost_by_camera", 0)),
                camera_clock_jumps=int(acquisition.get("camera_clock_jumps", 0)),
                camera_pauses=int(acquisition.get("camera_pauses", 0)),
                camera_failed=acquisition.get("camera_failed"),
                frames_untracked=untracked,
                frames_tracked=tracked,
                buffer_fill=float(acquisition.get("buffer_fill", 0.0)),
                particles_per_frame=float(linker.get("particles_per_frame", 0.0)),
                n_locators=len(locators),
                size_summary=self._size_summary,
                size_summary_final=self._size_summary_final,
                errors=list(self._errors),
                dead_workers=[name for name in self._dead if not workers_alive.get(name)],
                workers=workers_alive,
                restarts=dict(self._restarts),
                restarting=sorted(self._restarting),
                bad_messages=self._bad_reports.count
                + sum(int(r.get("bad_messages", 0)) for r in self._reports.values()),
                recording_failed=self._recording_failed,
                frame_ring=acquisition.get("frame_ring"),
                hot_pixels_repaired=None
                if self.config.hot_pixels is None or not self.config.track
                else len(self.config.hot_pixels),
            )

    # ------------------------------------------------------------------ internals
    def _frames_acquired(self) -> int:
        """The acquisition's count; for a dead or killed one, whose last report read may predate
        frames in the store or linked, at least those. Caller holds the lock."""
        acquisition = self._reports.get(ACQUISITION, {})
        acquired = int(acquisition.get("frames_acquired", 0))
        if ACQUISITION in self._dead or ACQUISITION in self._killed:
            lost = int(acquisition.get("frames_lost_by_camera", 0))
            last_seq = max(
                int(self._reports.get(SAVER, {}).get("last_seq", -1)), self._stored_last_seq
            )
            linked = self._linked_before + int(
                self._reports.get(LINKER, {}).get("frames_linked", 0)
            )
            acquired = max(acquired, last_seq + 1 - lost, linked)
        return acquired

    def _frames_acquired_shown(self, saved: int, tracked: int) -> int:
        """The acquired count to show beside ``saved`` and ``tracked``: never fewer than them.

        The acquisition reports less often than the saver and the linker, so its count lags
        theirs. Every frame linked was acquired, and so was every frame in the running
        recording's store, after those acquired before the recording began: the acquisition's
        report less the frames its recording had meant by then (camera losses among them, so
        a lower bound). The counts of an ended recording are not changed (:meth:`_end_recording`
        counts them from the store). Caller holds the lock.
        """
        acquired = max(self._frames_acquired(), tracked)
        if self._recording_path is None:
            return acquired
        acquisition = self._reports.get(ACQUISITION, {})
        before = int(acquisition.get("frames_acquired", 0)) - int(
            acquisition.get("recording_frames", 0)
        )
        return max(acquired, max(before, 0) + saved)

    def _linker_settings(self) -> dict[str, Any]:
        from napari_pynta.detect.hot_pixels import hot_pixel_note

        config = self.config
        return {
            "metadata": self._store_metadata(),
            "frame_shape": self._camera_info["frame_shape"],
            "source": config.record_path,
            "engine": config.engine,
            "detection": config.detection,
            "search_range_px": config.search_range_px,
            "memory": config.memory,
            "min_track_length": config.min_track_length,
            "blur_gap_spread": config.blur_gap_spread,
            "sizes_interval_s": config.sizes_interval_s,
            "notes": [hot_pixel_note(len(config.hot_pixels))] if config.hot_pixels else [],
        }

    def _camera_fields(self) -> list[str]:
        """The settings of the pipeline's camera (what a refused camera setting names)."""
        from napari_pynta.cameras import allowed_settings

        return allowed_settings(self.config.camera)

    def _calibration(self) -> dict[str, Any] | None:
        """What the acquisition must find or choose from the first frames (None: nothing)."""
        config = self.config
        if not config.track or (
            not automatic_diameter(config.detection)
            and not (config.blur_separation and config.detection.get("split_within") is None)
            and not (config.wide_centroid and config.detection.get("wide_radius_px") is None)
            and config.detection.get("minmass") is not None
            and config.search_range_px is not None
            and config.hot_pixels is not None
        ):
            return None
        return {
            "engine": config.engine,
            "detection": config.detection,
            "search_range_px": config.search_range_px,
            "memory": config.memory,
            "hot_pixels": config.hot_pixels,
            "blur_separation": config.blur_separation,
            "wide_centroid": config.wide_centroid,
        }

    def _store_metadata(self) -> dict[str, Any]:
        metadata = dict(self._camera_info["metadata"])
        metadata.update(self.config.sample)
        metadata.setdefault("temperature_c", self.config.temperature_c)
        if self.config.viscosity_pa_s is not None:
            metadata.setdefault("viscosity_pa_s", self.config.viscosity_pa_s)
        return metadata

    def _begin_recording(self, path: str, overwrite: bool, resume: bool) -> None:
        """Have the saver create (or reopen) the store; returns once it is ready for frames."""
        info = self._camera_info
        self._clear_event(SAVER, Event.RECORDING)
        if not resume:
            self._clear_event(ACQUISITION, Event.RECORDING_ENDED)
            self._recording_failed = self._failure_recorded = None
            self._recording_number += 1
        self._command(
            SAVER,
            Command.RECORD,
            recording=self._recording_number,
            path=str(path),
            frame_shape=info["frame_shape"],
            dtype=info["dtype"],
            metadata=self._store_metadata(),
            overwrite=overwrite,
            resume=resume,
        )
        self._await_event(SAVER, Event.RECORDING, READY_TIMEOUT_S)
        self._clear_event(SAVER, Event.FINISHED)
        self._recording_path = str(path)

    def _configure_tracking(self) -> None:
        """Send the chosen diameter/threshold/search range and the sizing metadata to the
        workers."""
        chosen = self._camera_info.get("calibration", {})
        if "search_range_px" in chosen:
            self.config.search_range_px = float(chosen["search_range_px"])
        if chosen.get("hot_pixels") is not None:
            self.config.hot_pixels = check_hot_pixels(chosen["hot_pixels"])
        detection = self.config.detection
        automatic = {
            key: chosen[key]
            for key in ("diameter", "separation", "split_within", "minmass", "wide_radius_px")
            if chosen.get(key) is not None and detection.get(key) is None
        }
        detection.update(automatic)
        if automatic or self.config.hot_pixels:
            self._send_detection()
        settings = self._linker_settings()
        params = analysis_params(settings)  # bad sizing metadata fails here, not in the linker
        if "search_range_px" not in chosen:  # the user's range: refused as `pynta analyze` does
            from napari_pynta.analysis import check_search_range

            height, width = settings["frame_shape"][:2]
            check_search_range(params, (int(height), int(width)))
        if chosen.get("flow_px_per_frame") is not None:
            # the flow the calibration measured just before: the linker's first estimate (not
            # sent again to a restarted linker or after new camera timing, when it is stale)
            settings["start_flow_px_per_frame"] = chosen["flow_px_per_frame"]
        self._command(LINKER, Command.CONFIGURE, settings=settings)
        for name in [LINKER, *self._locator_names()]:
            self._wait_acknowledged(name)

    def _spawn_locator(self, name: str | None = None) -> str:
        """Start a locator (a new one, or ``name`` again) with the current detection options
        and hot pixels."""
        name = name or locator_name(next(self._locator_numbers))
        self._spawn(
            name,
            locator_worker,
            self.config.engine,
            locator_detection(self.config.detection),
            self.config.hot_pixels or [],
        )
        return name

    def _spawn(
        self, name: str, target: Any, *args: Any, report: dict[str, Any] | None = None
    ) -> None:
        """Start worker ``name`` (``report``: its counters until it reports its own)."""
        process = self._mp.Process(
            target=target, args=(name, self.endpoints, *args), name=name, daemon=True
        )
        with self._lock:
            if self._stopping:
                raise PyntaDataError(f"not starting {name}: the pipeline is stopping")
            # a new process has waited for no CPU yet
            self._reports[name] = {
                **(report or {}),
                "progress_at": time.monotonic(),
                "progress_cpu_wait_s": 0.0,
            }
            self._processes[name] = process
            self._expected_exit.discard(name)
            # commands the process this one replaces never acknowledged are not resent to it
            # (a STOP to a saver given up as stalled and killed stopped the new saver)
            for ident in [i for i, (target, _, _) in self._pending.items() if target == name]:
                del self._pending[ident]
        try:
            # a Ctrl-C or SIGTERM meanwhile is handled once the process is counted, so that the
            # stop it leads to ends this worker too
            with interruptions_deferred(), _single_threaded_math(), stop_signals_held():
                process.start()
        except BaseException:
            if process.pid is None:  # never started (e.g. spawn from an unguarded __main__)
                with self._lock:
                    del self._processes[name]
            raise

    def _locator_names(self) -> list[str]:
        return sorted(
            (n for n in self._processes if is_locator(n) and self._alive(n)),
            key=lambda n: int(n.split("-")[1]),
        )

    def _alive(self, name: str) -> bool:
        process = self._processes.get(name)
        return process is not None and process.is_alive()

    def _require_running(self) -> None:
        if not self._started or self._context is None:
            raise PyntaInputError("the pipeline is not running; call start() first")

    def _wait_ready(self, name: str) -> dict[str, Any]:
        return self._await_event(name, Event.READY, READY_TIMEOUT_S)

    def _clear_event(self, name: str, event: str) -> None:
        with self._lock:
            self._reports.setdefault(name, {}).pop(f"{event}_event", None)
            self._reports[name].pop("error", None)

    def _await_event(self, name: str, event: str, timeout_s: float) -> dict[str, Any]:
        """Wait for ``event`` from worker ``name``; raise its error if it reports one or dies.

        The time the worker spent waiting for a CPU (a loaded machine) does not count against
        ``timeout_s``: a worker starved while it imports its libraries is not taken for a hung one.
        """
        started = time.monotonic()
        with CpuWait(self._processes[name].pid) as cpu_wait:
            starved = starved_before = cpu_wait.seconds()
            dead_since: float | None = None
            while time.monotonic() - started - (starved - starved_before) < timeout_s:
                starved = max(starved, cpu_wait.seconds())  # a dead process' figure reads as 0
                with self._lock:
                    report = self._reports.get(name, {})
                    if report.get(f"{event}_event"):
                        return dict(report)
                    error = report.get("error")
                if dead_since is None and self._processes[name].exitcode is not None:
                    dead_since = time.monotonic()
                # a dead worker's last report (its error) may still be on its way to the monitor
                if error is not None or dead_since and time.monotonic() - dead_since > DEATH_NOTE_S:
                    raise _worker_failure(name, error, self._camera_fields())
                time.sleep(0.01)
        starved -= starved_before
        waited = f" (and {starved:.0f} s waiting for a CPU)" if starved >= 1 else ""
        raise PyntaDataError(f"{name} did not report {event!r} within {timeout_s} s{waited}")

    def _command(self, target: str, cmd: str, **payload: Any) -> int:
        ident = next(self._ids)
        if self._control is None:
            raise RuntimeError("the pipeline is not running: no control socket")
        message = {"id": ident, "cmd": cmd, **payload}
        with self._lock:
            self._pending[ident] = (target, message, time.monotonic())
            transport.send_json(self._control, target, message)
        return ident

    def _wait_acknowledged(self, target: str, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not any(t == target for t, _, _ in self._pending.values()):
                    return
            if not self._alive(target):
                error = self._reports.get(target, {}).get("error")
                raise _worker_failure(target, error, self._camera_fields())
            time.sleep(0.005)
        raise PyntaDataError(f"{target} did not answer a command within {timeout_s} s")

    def _record_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)
            del self._errors[:-MAX_ERRORS]
            self._n_errors += 1

    def _record_error_once(self, text: str) -> None:
        """Record ``text`` unless it is already among the errors kept."""
        with self._lock:
            if text in self._errors:
                return
        self._record_error(text)

    def _watch(self, status: zmq.Socket) -> None:
        """Monitor thread: read worker reports, resend lost commands, notice dead workers."""
        poller = zmq.Poller()
        poller.register(status, zmq.POLLIN)
        while self._monitoring.is_set():
            try:
                self._watch_once(poller, status)
                self._emit_events()
            except Exception as error:  # the monitor must survive anything: log and go on
                self._record_error(f"supervisor monitor: {type(error).__name__}: {error}")
                time.sleep(0.05)
        # the workers' last reports (their final counters at a stop) are read before closing
        deadline = time.monotonic() + FINAL_REPORTS_S
        with contextlib.suppress(Exception):
            while poller.poll(50) and time.monotonic() < deadline:
                self._watch_once(poller, status)
        status.close(0)

    def _watch_once(self, poller: zmq.Poller, status: zmq.Socket) -> None:
        """One round of :meth:`_watch`."""
        if poller.poll(50):
            while True:
                try:
                    message = transport.recv_message(status, zmq.NOBLOCK)
                    self._handle_report(_checked_report(message, self._processes))
                except zmq.Again:
                    break
                except transport.BadMessage as error:
                    with self._lock:
                        self._bad_reports(error, "the supervisor's status socket")
        now = time.monotonic()
        with self._lock:
            for ident, (target, command, sent) in list(self._pending.items()):
                if not self._alive(target):
                    del self._pending[ident]
                elif now - sent > RESEND_S and self._control is not None:
                    self._pending[ident] = (target, command, now)
                    transport.send_json(self._control, target, command)
            for name, process in self._processes.items():
                if (
                    process.exitcode is not None
                    and name not in self._expected_exit
                    and name not in self._dead
                    and not process.is_alive()
                ):
                    self._dead.append(name)
                    self._on_death(name, process.exitcode)
            self._end_a_frozen_acquisition(now)

    def _end_a_frozen_acquisition(self, now: float) -> None:
        """Kill an acquisition silent for :data:`ACQUISITION_SILENCE_S` (its camera timeout, if
        longer) once its camera runs, saying so; the run then ends as with a dead acquisition.
        Caller holds the lock."""
        report = self._reports.get(ACQUISITION, {})
        heard = report.get("heard_at")
        if heard is None or self._stopping or not self._alive(ACQUISITION):
            return
        silent_s = now - heard
        if silent_s <= max(ACQUISITION_SILENCE_S, self.config.camera_timeout_s or 0.0):
            return
        self._record_error(
            f"the acquisition has reported nothing for {silent_s:.0f} s (frozen as a whole: a "
            "camera call that never returns and holds the Python interpreter?); it is ended, "
            "and the run with it (the frames already written are kept)"
        )
        report.pop("heard_at")
        self._processes[ACQUISITION].kill()

    def _on_death(self, name: str, exitcode: int) -> None:
        """Report a dead worker; schedule its restart (bounded, with backoff) if it may have one."""
        attempt = self._restarts.get(name, 0) + 1
        text = f"worker {name} died (exit code {exitcode})"
        if name == ACQUISITION:
            self._record_error(f"{text}; the acquisition ended (frames recorded so far are kept)")
            self._remove_leftover_rings()
        elif self._stopping:
            self._record_error(text)
        elif attempt > MAX_RESTARTS:
            self._record_error(f"{text}; not restarted again after {MAX_RESTARTS} restarts")
            if name == SAVER and self._recording_path is not None:
                self._fail_recording(
                    f"recording stopped: the saver died {attempt} times; the frames it wrote "
                    "stay in the store"
                )
        else:
            self._restarts[name] = attempt
            self._restarting.add(name)
            if is_locator(name):
                self._tell_linker_locators_restarting()
            self._record_error(f"{text}; restarting it (restart {attempt} of {MAX_RESTARTS})")
            delay = RESTART_BACKOFF_S * 2 ** (attempt - 1)
            threading.Thread(
                target=self._restart_later, args=(name, delay), daemon=True, name="pynta-restart"
            ).start()

    def _fail_recording(self, error: str) -> None:
        """The recording cannot go on (disk full, the saver dead after its restarts): say why in
        ``recording_failed`` and stop recording at once, so that `pynta acquire` ends the run and
        no later frame is counted as dropped. Caller holds the lock."""
        self._recording_failed = error
        if self._alive(ACQUISITION):
            self._command(ACQUISITION, Command.STOP_RECORDING, failed=True)

    def _restart_later(self, name: str, delay_s: float) -> None:
        """Thread: restart ``name`` after ``delay_s`` (unless the pipeline stops meanwhile).

        A new process that dies before it is ready is a death like the first: it takes the next
        restart, or is given up (the monitor does not see it: the worker is already dead to it).
        """
        failed = False
        try:
            if not self._wake.wait(delay_s) and not self._stopping:
                self.restart_worker(name)
        except Exception as error:  # a failed restart is reported; the pipeline goes on
            failed = True
            self._record_error(f"restarting {name} failed: {error}")
        finally:
            with self._lock:
                self._restarting.discard(name)
                if is_locator(name):
                    self._tell_linker_locators_restarting()
                exitcode = self._processes[name].exitcode
                if failed and exitcode is not None and not self._stopping:
                    self._on_death(name, exitcode)

    def _tell_linker_locators_restarting(self) -> None:
        """Tell the linker whether a locator is being restarted (the frames of an ended run it
        has not got back are then not given up: the restarted locator locates those in the
        ring). Caller holds the lock."""
        if self.config.track and self._alive(LINKER):
            restarting = any(is_locator(name) for name in self._restarting)
            self._command(LINKER, Command.LOCATORS, restarting=restarting)

    def _emit_events(self) -> None:
        """Emit :attr:`events` for what changed since the last round (outside the lock)."""
        with self._lock:
            n_new = min(self._n_errors - self._n_errors_emitted, len(self._errors))
            new_errors = self._errors[len(self._errors) - n_new :]
            self._n_errors_emitted = self._n_errors
            sizes = self._size_summary
            new_sizes = sizes is not None and sizes is not self._sizes_emitted
            self._sizes_emitted = sizes
        for text in new_errors:
            self.events.error.emit(text)
        if sizes is not None and new_sizes:
            self.events.sizes.emit(sizes)
        now = time.monotonic()
        if now - self._status_emitted_at >= STATUS_EVENT_INTERVAL_S:
            self._status_emitted_at = now
            self.events.status.emit(self.status())

    def _handle_report(self, report: dict[str, Any]) -> None:
        name, event = report.get("worker", "?"), report.get("event")
        with self._lock:
            state = self._reports.setdefault(name, {})
            if name == ACQUISITION and "heard_at" in state:
                state["heard_at"] = time.monotonic()
            if event == Event.ACK:
                self._pending.pop(int(report["id"]), None)
                return
            if event == Event.ERROR:
                state["error"] = report["error"]
                self._record_error(f"{name}: {report['error']}")
                return
            if event == Event.WARNING:
                self._record_error(f"{name}: {report['warning']}")
                return
            if event == Event.SIZES:
                self._size_summary = report.get("summary")
                self._size_summary_final = report.get("final") is True
                return
            if event == Event.RECORDING_FAILED:
                self._record_error(f"{name}: {report['error']}")
                self._fail_recording(report["error"])
            # a linker waiting for the sizer's final summary makes progress while the sizer
            # talks or waits for a CPU, and one waiting for located frames while they are located
            keys = {
                SAVER: ("last_seq",),
                LINKER: ("next_seq", "sizer_messages", "sizer_cpu_wait_s"),
            }.get(name, ())
            if any(key in report and report[key] != state.get(key) for key in keys):
                self._progressed(name)
            located = report.get("frames_located")
            if is_locator(name) and located not in (None, state.get("frames_located")):
                if LINKER in self._processes:
                    self._progressed(LINKER)
            if name == ACQUISITION and event == Event.FINISHED:  # their stall counts from here
                for part in (SAVER, LINKER):
                    if part in self._processes:
                        self._progressed(part)
            state.update({k: v for k, v in report.items() if k not in ("worker", "event")})
            if event != Event.HEARTBEAT:  # ready, recording, finished: awaited by _await_event
                state[f"{event}_event"] = True


@contextlib.contextmanager
def _single_threaded_math():
    """Environment for spawning a worker: one thread per math library (see MATH_THREADS_ENV)."""
    added = [name for name in MATH_THREADS_ENV if name not in os.environ]
    for name in added:
        os.environ[name] = "1"
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def stop_signals_held():
    """Hold SIGINT and SIGTERM in this thread while a worker is spawned: the worker inherits the
    held mask through exec, so Ctrl-C or a SIGTERM to the process group during its first second
    of imports waits until it ignores them (:class:`~napari_pynta.live.workers.base.Worker`) and
    is then discarded, where it had ended the worker before it could ignore them. A signal for
    this process meanwhile goes to another thread, and its Python handler runs in this one all
    the same: :func:`interruptions_deferred` holds that back until the worker is counted.

    multiprocessing's resource tracker is started first: the spawn that starts it unblocks both
    signals in the spawning thread once it has, so the first worker of a process was born with
    them unheld."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def interruptions_deferred() -> Iterator[None]:
    """Note a SIGINT or SIGTERM that comes while a worker is spawned, and call its Python
    handler (which raises ``KeyboardInterrupt``) on leaving, once the worker is counted.

    :func:`stop_signals_held` holds them in the spawning thread only: one sent to the process
    (Ctrl-C, SIGTERM to the process group) is caught by another thread (the monitor, zmq's), and
    its Python handler runs in the main thread anyway, between two lines of multiprocessing's
    ``start``. Raised there, the interruption left a started worker that the pipeline had not
    counted: its stop did not end it, the worker (which ignores SIGTERM) waited for the
    supervisor, and the supervisor's exit waited for the worker (multiprocessing joins its
    children at exit without a timeout): `pynta acquire` printed its result and never ended.

    Python runs signal handlers in the main thread only; elsewhere nothing is changed. Handlers
    that are not Python functions (ignored, the default) are left as they are.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []
    handlers: dict[int, Any] = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if callable(handler):
                handlers[signum] = handler
                signal.signal(signum, lambda *received: caught.append(received))
        yield
    finally:
        _restore_handlers(handlers)
    for received, frame in caught:
        handlers[received](received, frame)


def _restore_handlers(handlers: dict[int, Any]) -> None:
    """Install ``handlers`` (signal -> handler) again, every one of them even when a signal
    coming meanwhile raises in one that is back already."""
    if not handlers:
        return
    (signum, handler), *rest = handlers.items()
    try:
        signal.signal(signum, handler)
    finally:
        _restore_handlers(dict(rest))


#: types of the status fields the supervisor uses (other fields are kept as they come)
REPORT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "fps": (int, float),
    "fps_requested": (int, float),
    "tracking_latency_s": (dict, type(None)),
    "tracking_latency_recent_s": (dict, type(None)),
    "frame_ring": (str, type(None)),
    "frames_acquired": int,
    "frames_saved": int,
    "frames_missing": int,
    "record_refused": int,
    "frames_untracked": int,
    "frames_linked": int,
    "frames_lost": int,
    "buffer_fill": (int, float),
    "particles_per_frame": (int, float),
    "bad_messages": int,
    "recording": bool,
    "recording_frames": int,
    "last_seq": int,
    "next_seq": int,
    "sizer_messages": int,
    "sizer_cpu_wait_s": (int, float),
    "camera_clock_jumps": int,
    "camera_pauses": int,
    "camera_failed": (str, type(None)),
}


#: a frame ring's name: ``pynta_{supervisor pid}_{8 hex digits}_{n}`` (see ``_ring_prefix``)
_RING_OF_A_PIPELINE = re.compile(r"pynta_(\d+)_[0-9a-f]{8}_\d+")


def remove_rings_of_dead_pipelines() -> list[str]:
    """Unlink the frame rings of pipelines whose supervisor is no longer running.

    A pipeline killed whole (``kill -9`` of its process group: supervisor, workers and the
    resource tracker together) cannot remove its ring, and ``/dev/shm`` keeps it in RAM until the
    machine restarts. A ring is removed only when no process has its supervisor's pid, so a
    running pipeline's is never touched (nor one whose pid was reused: left, not guessed at).
    Pipelines in another pid namespace sharing this ``/dev/shm`` (containers) are not supported:
    their supervisors look gone from here.

    Returns
    -------
    list of str
        One line per ring removed (its name and size), for the status' errors.
    """
    lines = []
    for path in sorted(glob.glob(os.path.join(SHM_DIR, "pynta_*"))):
        name = os.path.basename(path)
        match = _RING_OF_A_PIPELINE.fullmatch(name)
        if match is None or psutil.pid_exists(int(match.group(1))):
            continue
        # removed as a file: this process's resource tracker never registered the block, and
        # SharedMemory.unlink would make it print a KeyError
        with contextlib.suppress(OSError):
            size_mb = os.stat(path).st_size / 1e6
            os.unlink(path)
            lines.append(
                f"removed {size_mb:.0f} MB of shared memory ({SHM_DIR}/{name}) left by a "
                f"pipeline that was killed (process {match.group(1)} is gone)"
            )
    return lines


def end_leftover_processes(
    before: Collection[BaseProcess], timeout_s: float = KILLED_JOIN_S
) -> list[str]:
    """End the child processes started since ``before`` that still run after a pipeline
    stopped, and say which (a safety net: none should be left).

    A worker left running would keep the program from exiting: multiprocessing ends its
    children at exit by SIGTERM, which workers ignore, and then waits for them without a
    timeout (`pynta acquire` printed its result and never ended, after a SIGTERM during a
    worker's spawn). Each is killed and given ``timeout_s`` to end.

    Parameters
    ----------
    before : collection of multiprocessing.process.BaseProcess
        The child processes that ran before the pipeline started
        (``multiprocessing.active_children()`` then): left alone.
    timeout_s : float
        How long each killed process may take to end.

    Returns
    -------
    list of str
        One line per process ended (its name and pid), or that would not end.
    """
    lines = []
    for process in multiprocessing.active_children():
        if process in before:
            continue
        process.kill()
        process.join(timeout_s)
        ended = "killed" if not process.is_alive() else f"not ended {timeout_s:.0f} s after SIGKILL"
        lines.append(
            f"process {process.name} (pid {process.pid}) was still running after the pipeline "
            f"stopped; {ended}"
        )
    return lines


def _checked_report(message: transport.Message, workers: dict[str, Any]) -> dict[str, Any]:
    """The header of a status message from a known worker, its fields of the right types.

    Raises
    ------
    transport.BadMessage
        For anything else (unknown worker or event, missing or mistyped field).
    """
    report = message.header
    transport.require(report, worker=str, event=str)
    if report["worker"] not in workers:
        raise transport.BadMessage("status from an unknown worker", report["worker"][:80])
    event = report["event"]
    if event not in EVENTS:
        raise transport.BadMessage("unknown event", event[:80])
    needed: dict[str, dict[str, type | tuple[type, ...]]] = {
        Event.ACK: {"id": int},
        Event.ERROR: {"error": str},
        Event.RECORDING_FAILED: {"error": str},
        Event.WARNING: {"warning": str},
    }
    transport.require(report, **needed.get(event, {}))
    transport.require(report, **{k: t for k, t in REPORT_FIELDS.items() if k in report})
    if event == Event.SIZES and not isinstance(report.get("summary"), dict | None):
        raise transport.BadMessage("size summary is not an object")
    for key in ("tracking_latency_s", "tracking_latency_recent_s"):
        if report.get(key) is not None:
            transport.require(report[key], p50=float, p95=float, max=float)
    return report


def _stored_seq(path: str, log: Any) -> tuple[int, int, int]:
    """The number of frames in the store at ``path``, its first and its last seq (-1, -1 when
    empty); 0 frames, logged, if it cannot be opened (removed or damaged while recording): no
    frame of it can be read back. A block a killed writer left incomplete is not counted."""
    from napari_pynta.store import MovieStore

    try:
        with MovieStore.open(path) as store:
            seq = store.seq
    except Exception as error:
        log(
            f"cannot count the frames in {path}: {type(error).__name__}: {error}; the store "
            "cannot be opened, so none of its frames is counted as saved"
        )
        return 0, -1, -1
    return (len(seq), int(seq[0]), int(seq[-1])) if len(seq) else (0, -1, -1)


def _record_failed_recording(path: str, failure: dict[str, Any]) -> str | None:
    """Close the store of a failed recording: opened for writing, which drops a block left
    incomplete by a saver killed in the middle of an append, with ``failure`` (reason, frames
    saved and dropped) added to its metadata as ``recording_failed``. Returns None, or what
    prevented it (a full disk, a saver that still holds the store, a damaged store): the store
    is then as the saver left it, its complete frames readable."""
    from napari_pynta.store import MovieStore

    if not os.path.isfile(os.path.join(path, "zarr.json")):
        return None  # removed while recording: nothing to close (counting it said so)
    try:
        with MovieStore.open(path, mode="r+") as store:
            store.update_metadata(recording_failed=failure)
    except Exception as error:  # noqa: BLE001  (zarr and the disk raise many kinds)
        return (
            f"could not close the store of the failed recording {path} ({type(error).__name__}: "
            f"{error}); its {failure['frames_saved']} complete frames stay readable, and "
            "`pynta verify` may report the block the saver left incomplete: the expected end of "
            "a failed recording"
        )
    return None


def _worker_failure(name: str, error: str | None, fields: Sequence[str] = ()) -> Exception:
    """The exception to raise for a worker that reported ``error`` (or died silently).

    A refused camera setting comes back as text; the setting it names first (one of ``fields``)
    is the error's :attr:`~napari_pynta.errors.PyntaInputError.field` again, so that a front end
    names it its own way (`pynta acquire` said "roi must be four integers", not "--roi ...").
    """
    if error is None:
        return PyntaDataError(f"{name} stopped unexpectedly")
    first_line = error.splitlines()[0]
    if "PyntaInputError: " in first_line:  # bad user input, e.g. a camera setting
        message = first_line.split("PyntaInputError: ", 1)[1]
        named = re.match(r"\w+", message)
        field = named[0] if named is not None and named[0] in fields else None
        return PyntaInputError(message, field)
    return PyntaDataError(f"{name}: {first_line}")


def _check_record_path(path: str, overwrite: bool) -> None:
    if not str(path):
        raise PyntaInputError("record_path must be a path to a new .zarr store")
    from napari_pynta.store import check_replaceable  # overwrite replaces only a pynta store

    try:
        check_replaceable(path, overwrite)
    except PyntaInputError as error:
        raise PyntaInputError(f"record_path: {error}") from None
