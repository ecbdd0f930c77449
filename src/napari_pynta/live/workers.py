"""Process entry functions of the live pipeline (module level, so they work with ``spawn``).

Every worker connects a PUSH socket to the supervisor's ``status`` endpoint (heartbeats,
acknowledgements, errors) and a SUB socket to its ``control`` endpoint (commands addressed by
worker name, each acknowledged so the supervisor can resend lost ones). Workers ignore SIGINT
(Ctrl-C is handled by the supervisor, which stops them in order so the recording is flushed) and
exit by themselves when the supervisor process disappears.

Message paths (see ``docs/live-pipeline.md``)::

    acquisition --PUB frames------------------------------> viewers (newest frame only)
                --PUSH save (bounded replay buffer)-------> saver --PUSH save_ack--> acquisition
                --PUSH locate (load balanced)-------------> locators --PUSH locs_in--> linker
                --PUSH locs_in (skipped seq, end of run)--------------------------> linker
    linker --PUB results (locs, tracks, sizes)-------------> viewers
"""

from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.util
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import zmq

from napari_pynta.live import transport
from napari_pynta.live.config import LiveEndpoints

#: seconds between two heartbeats of a worker
HEARTBEAT_S = 0.2
#: frames per store append (larger blocks write faster; the ack comes after each block)
SAVE_BLOCK_FRAMES = 32
#: per-peer ZeroMQ queue of the locate path: small, so a locator that stops loses few frames
LOCATE_HWM = 2
#: the live frame rate is measured over this many seconds
RATE_WINDOW_S = 1.0
#: frames used to choose the detection threshold and search range when they are not given
CALIBRATION_FRAMES = 60
#: longest stretch the linker works through a backlog before it reports and reads commands (s)
LINK_SLICE_S = 0.2
#: a missing frame is declared lost by the linker after later frames waited this long (s)
LINK_GAP_TIMEOUT_S = 2.0
#: most of the linker's time the live size summary may take (it sizes every track so far, so
#: it gets slower as tracks accumulate; the pause after each one grows with its duration)
SIZES_TIME_FRACTION = 0.15
#: after the supervisor died, a worker gets this long to stop by itself (the saver closes the
#: store) before its watchdog ends the process
ORPHAN_GRACE_S = 3.0
#: exit code of a worker ended by its watchdog
ORPHAN_EXIT_CODE = 3


class _Worker:
    """Sockets and bookkeeping every worker shares."""

    def __init__(self, name: str, endpoints: LiveEndpoints):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.name = name
        self.endpoints = endpoints
        self.context = zmq.Context()
        self.status = self.socket(zmq.PUSH, connect=endpoints.status)
        self.control = self.socket(zmq.SUB, connect=endpoints.control)
        self.control.setsockopt(zmq.SUBSCRIBE, name.encode())
        self.poller = zmq.Poller()
        self.poller.register(self.control, zmq.POLLIN)
        self.handled: set[int] = set()
        self.stopping = False
        self._last_beat = 0.0
        self.parent_died = threading.Event()
        parent = multiprocessing.parent_process()
        if parent is not None:
            threading.Thread(
                target=self._watch_parent, args=(parent,), daemon=True, name="pynta-orphan-watchdog"
            ).start()

    def socket(
        self, kind: int, *, bind: str | None = None, connect: str | None = None, **options: int
    ) -> zmq.Socket:
        sock = self.context.socket(kind)
        sock.setsockopt(zmq.LINGER, 2000)
        for option, value in options.items():
            sock.setsockopt(getattr(zmq, option), value)
        if bind:
            sock.bind(bind)
        if connect:
            sock.connect(connect)
        return sock

    def report(self, event: str, **payload: Any) -> None:
        """Send a status message to the supervisor (heartbeats are dropped if it is not reading)."""
        flags = zmq.NOBLOCK if event == "heartbeat" else 0
        try:
            transport.send_json(
                self.status,
                transport.TOPIC_STATUS,
                {"worker": self.name, "event": event, "time": time.time(), **payload},
                flags=flags,
            )
        except zmq.Again:
            pass

    def error(self, text: str) -> None:
        """Report an error on the ``error`` topic."""
        transport.send_json(
            self.status,
            transport.TOPIC_ERROR,
            {"worker": self.name, "event": "error", "error": text},
        )

    def heartbeat_due(self) -> bool:
        now = time.perf_counter()
        if now - self._last_beat >= HEARTBEAT_S:
            self._last_beat = now
            return True
        return False

    def _watch_parent(self, parent: multiprocessing.process.BaseProcess) -> None:
        """Thread: when the supervisor dies, ask the worker to stop, then end it.

        The wait is on the pipe multiprocessing keeps open to the parent (EOF when it dies, even
        by SIGKILL), so it works while the main thread is busy (JIT compilation, calibration,
        a blocked send). The main thread sees :attr:`parent_died` in :meth:`commands` and stops
        as on a ``stop`` command (the saver closes its store); if it has not exited after
        :data:`ORPHAN_GRACE_S`, the process is ended here.
        """
        parent.join()
        self.parent_died.set()
        if self.endpoints.directory:  # the supervisor could not remove its socket directory
            shutil.rmtree(self.endpoints.directory, ignore_errors=True)
        time.sleep(ORPHAN_GRACE_S)
        os._exit(ORPHAN_EXIT_CODE)

    def parent_alive(self) -> bool:
        return not self.parent_died.is_set()

    def commands(self) -> list[dict[str, Any]]:
        """New control commands (acknowledged), without waiting."""
        received = []
        while True:
            try:
                message = transport.recv_message(self.control, zmq.NOBLOCK)
            except zmq.Again:
                break
            command = message.header
            ident = int(command.get("id", -1))
            if ident not in self.handled:
                self.handled.add(ident)
                received.append(command)
            self.report("ack", id=ident)
        if not self.parent_alive():
            received.append({"cmd": "stop", "reason": "supervisor died"})
        return received

    def close(self) -> None:
        # what is still queued for a dead supervisor would never be read: do not wait for it
        self.context.destroy(linger=0 if self.parent_died.is_set() else 2000)


def _run(name: str, endpoints: LiveEndpoints, body: Callable[[_Worker], None]) -> None:
    """Run ``body`` and turn any exception into an error report plus a non-zero exit code."""
    worker = _Worker(name, endpoints)
    code = 0
    try:
        body(worker)
    except Exception as exc:  # report everything: the supervisor shows it to the user
        worker.error(f"{name} failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        code = 1
    worker.close()
    # Everything is written and every socket flushed: skip the interpreter's slow teardown of
    # numpy/pandas/numba (seconds on a loaded machine), which would delay stop(). The
    # multiprocessing finalizers still run, so semaphores created by libraries (blosc) are
    # released and not reported as leaked.
    multiprocessing.util._run_finalizers(0)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# ------------------------------------------------------------------------------------ acquisition
class _SaveBuffer:
    """Frames sent (or to be sent) to the saver and not yet acknowledged as written."""

    def __init__(self, capacity_bytes: int):
        self.capacity_bytes = capacity_bytes
        self.frames: collections.deque[tuple[int, float, np.ndarray]] = collections.deque()
        self.bytes = 0
        self.next_to_send = 0  # index into ``frames``

    def room_for(self, frame: np.ndarray) -> bool:
        return self.bytes + frame.nbytes <= self.capacity_bytes

    def add(self, seq: int, t: float, frame: np.ndarray) -> None:
        self.frames.append((seq, t, frame))
        self.bytes += frame.nbytes

    def acknowledge(self, saved_seq: int) -> None:
        """Forget frames written by the saver (seq <= ``saved_seq``)."""
        while self.frames and self.frames[0][0] <= saved_seq:
            self.bytes -= self.frames.popleft()[2].nbytes
            self.next_to_send = max(0, self.next_to_send - 1)

    def rewind(self) -> None:
        """Send every unacknowledged frame again (a restarted saver lost its queue)."""
        self.next_to_send = 0

    def send(self, socket: zmq.Socket) -> None:
        """Send pending frames until the socket's queue is full."""
        while self.next_to_send < len(self.frames):
            seq, t, frame = self.frames[self.next_to_send]
            try:
                transport.send_frame(
                    socket, transport.TOPIC_FRAMES, seq, t, frame, flags=zmq.NOBLOCK
                )
            except zmq.Again:
                return
            self.next_to_send += 1

    @property
    def fill(self) -> float:
        return self.bytes / self.capacity_bytes


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
) -> None:
    """Camera -> preview PUB, saver (never drops) and locator pool (may skip when saturated).

    Waits for a ``go`` command before the first frame, so recording and tracking see frame 0.
    With ``calibration`` (``engine``, ``detection``, ``search_range_px``, ``memory``) the first
    :data:`CALIBRATION_FRAMES` frames (not recorded) choose the missing ``minmass`` and
    ``search_range_px`` as ``pynta analyze`` does; both are reported in ``ready``.
    Commands: ``go``, ``record`` (start recording at the next frame), ``stop_recording``,
    ``finish`` (end the run now: flush the recording, tell the linker the last seq), ``stop``.
    Reports ``ready`` (frame shape, dtype, store metadata), heartbeats and
    ``finished`` after ``n_frames`` frames or when a playback ends.
    """
    _run(
        name,
        endpoints,
        lambda w: _acquire(
            w,
            camera,
            camera_settings,
            n_frames,
            track,
            save_buffer_bytes,
            track_buffer_bytes,
            calibration,
        ),
    )


def _calibrate(camera: Any, calibration: dict[str, Any], preview: zmq.Socket) -> dict[str, float]:
    """Choose ``minmass`` and ``search_range_px`` from the first frames (then discarded).

    The same automatic choices as the offline analysis: the threshold above the noise peak
    (:func:`~napari_pynta.detect.estimate_minmass`) and the range from a pilot linking
    (:func:`~napari_pynta.analysis.suggest_search_range_px`). The frames are shown to viewers
    as they come (seq -:data:`CALIBRATION_FRAMES`..-1), so the preview starts before the
    detection libraries are even imported.
    """
    # import the detection libraries (seconds) while the camera delivers the frames
    importer = threading.Thread(target=_import_detection, name="pynta-import", daemon=True)
    importer.start()
    camera.start()
    frames = []
    for index in range(-CALIBRATION_FRAMES, 0):
        frame, t = camera.read()
        frame = frame if frame.flags.c_contiguous else np.ascontiguousarray(frame)
        transport.send_frame(preview, transport.TOPIC_FRAMES, index, t, frame)
        frames.append(frame)
    camera.stop()
    importer.join()
    from napari_pynta import analysis, detect

    frames = np.stack(frames)
    engine, detection = calibration["engine"], dict(calibration["detection"])
    if detection.get("minmass") is None:
        detection["minmass"] = detect.estimate_minmass(frames, engine, **detection)
    chosen = {"minmass": float(detection["minmass"])}
    if calibration["search_range_px"] is None:
        localizations = detect.locate_frames(frames, 0, engine, **detection)
        search_range, _ = analysis.suggest_search_range_px(localizations, calibration["memory"])
        chosen["search_range_px"] = round(search_range, 2)
    return chosen


def _import_detection() -> None:
    """Import the analysis and the localization engines (run in a thread during calibration)."""
    import napari_pynta.analysis  # noqa: F401
    from napari_pynta.detect import ENGINES

    for name in ENGINES:
        try:
            ENGINES[name]  # imports the engine's module
        except ImportError:  # an optional engine whose dependency is missing
            pass


def _acquire(
    w: _Worker,
    camera_name: str,
    camera_settings: dict[str, Any],
    n_frames: int | None,
    track: bool,
    save_buffer_bytes: int,
    track_buffer_bytes: int,
    calibration: dict[str, Any] | None,
) -> None:
    from napari_pynta.cameras import CameraExhausted, open_camera

    camera = open_camera(camera_name, **camera_settings)
    preview = w.socket(zmq.PUB, bind=w.endpoints.frames, SNDHWM=2)
    chosen = {} if calibration is None else _calibrate(camera, calibration, preview)
    save = w.socket(zmq.PUSH, bind=w.endpoints.save, SNDHWM=16)
    acks = w.socket(zmq.PULL, bind=w.endpoints.save_ack)
    locate = w.socket(zmq.PUSH, bind=w.endpoints.locate, SNDHWM=LOCATE_HWM)
    to_linker = w.socket(zmq.PUSH, connect=w.endpoints.locs_in) if track else None
    w.report(
        "ready",
        frame_shape=list(camera.frame_shape),
        dtype=np.dtype(camera.dtype).str,
        metadata=camera.metadata_for_store(),
        calibration=chosen,
    )

    state = {"recording": False, "go": False, "finished": False, "end_sent": False}
    save_buffer = _SaveBuffer(save_buffer_bytes)
    track_queue: collections.deque[tuple[int, float, np.ndarray]] = collections.deque()
    track_bytes = 0
    counters = {"frames_acquired": 0, "record_refused": 0, "frames_untracked": 0, "recorded": 0}
    rate_window: collections.deque[float] = collections.deque()
    first_frame_time = last_frame_time = 0.0
    seq = 0

    def beat(event: str) -> None:
        """Report counters; ``fps`` over the last second, or over the whole run at the end."""
        now = time.perf_counter()
        while len(rate_window) > 2 and now - rate_window[0] > RATE_WINDOW_S:
            rate_window.popleft()
        times = (
            (first_frame_time, last_frame_time)
            if state["finished"]
            else (rate_window[0], rate_window[-1])
            if rate_window
            else (0.0, 0.0)
        )
        frames = counters["frames_acquired"] if state["finished"] else len(rate_window)
        fps = (frames - 1) / (times[1] - times[0]) if times[1] > times[0] else 0.0
        w.report(
            event,
            fps=fps,
            buffer_fill=save_buffer.fill,
            recording=state["recording"],
            last_seq=seq - 1,
            **counters,
        )

    def end_recording(reason: str | None) -> None:
        if state["recording"]:
            state["recording"] = False
            state["end_requested"] = reason or "stopped"

    while True:
        for command in w.commands():
            cmd = command.get("cmd")
            if cmd == "go":
                state["go"] = True
                state["recording"] = bool(command.get("record"))
                camera.start()
            elif cmd == "record":
                state["recording"] = True
                state.pop("end_requested", None)
                state["end_sent"] = False
            elif cmd == "stop_recording":
                end_recording(None)
            elif cmd == "finish":  # end the run now, as if n_frames had been reached
                n_frames = seq
            elif cmd == "stop":
                w.stopping = True
        if w.stopping:
            break
        # acknowledgements from the saver
        while True:
            try:
                ack = transport.recv_message(acks, zmq.NOBLOCK).header
            except zmq.Again:
                break
            if ack.get("hello"):
                save_buffer.acknowledge(int(ack["saved_seq"]))
                save_buffer.rewind()
            else:
                save_buffer.acknowledge(int(ack["saved_seq"]))
        save_buffer.send(save)
        if (
            state.get("end_requested")
            and not state["end_sent"]
            and save_buffer.next_to_send == len(save_buffer.frames)
        ):
            try:
                transport.send_json(
                    save, "end", {"end": True, "reason": state["end_requested"]}, flags=zmq.NOBLOCK
                )
                state["end_sent"] = True
            except zmq.Again:
                pass
        # frames waiting for a locator
        while track_queue:
            queued_seq, t, frame = track_queue[0]
            try:
                transport.send_frame(
                    locate, transport.TOPIC_FRAMES, queued_seq, t, frame, flags=zmq.NOBLOCK
                )
            except zmq.Again:
                break
            track_queue.popleft()
            track_bytes -= frame.nbytes

        if w.heartbeat_due():
            beat("heartbeat")

        if not state["go"] or state["finished"]:
            _wait(w, acks, 0.005 if (save_buffer.frames or track_queue) else 0.05)
            continue
        frame = None
        if n_frames is None or seq < n_frames:
            try:
                frame, t = camera.read()
            except CameraExhausted:
                pass
        if frame is None:  # n_frames reached, ``finish`` asked for, or the playback ended
            state["finished"] = True
            camera.stop()
            end_recording("end of acquisition")
            if to_linker is not None:
                transport.send_json(to_linker, "end", {"end": True, "last_seq": seq - 1})
            beat("finished")
            continue
        frame = frame if frame.flags.c_contiguous else np.ascontiguousarray(frame)
        transport.send_frame(preview, transport.TOPIC_FRAMES, seq, t, frame)
        if state["recording"]:
            if save_buffer.room_for(frame):
                save_buffer.add(seq, t, frame)
                counters["recorded"] += 1
            else:
                counters["record_refused"] += 1
                w.error(
                    f"recording stopped: the saver fell behind by more than the "
                    f"{save_buffer.capacity_bytes / 1e6:.0f} MB save buffer; frames up to seq "
                    f"{seq - 1} are kept, later frames are not recorded"
                )
                end_recording("saver buffer full")
        if to_linker is not None:
            if track_bytes + frame.nbytes > track_buffer_bytes and track_queue:
                skipped = track_queue.popleft()
                track_bytes -= skipped[2].nbytes
                counters["frames_untracked"] += 1
                transport.send_json(to_linker, "skip", {"skip": [skipped[0]]})
            track_queue.append((seq, t, frame))
            track_bytes += frame.nbytes
        last_frame_time = time.perf_counter()
        first_frame_time = first_frame_time or last_frame_time
        rate_window.append(last_frame_time)
        counters["frames_acquired"] += 1
        seq += 1
    camera.close()


def _wait(w: _Worker, socket: zmq.Socket, timeout_s: float) -> None:
    poller = zmq.Poller()
    poller.register(w.control, zmq.POLLIN)
    poller.register(socket, zmq.POLLIN)
    poller.poll(timeout_s * 1000)


# ------------------------------------------------------------------------------------------ saver
def saver_worker(name: str, endpoints: LiveEndpoints) -> None:
    """Write recordings to zarr stores; every received frame is written and acknowledged.

    Idle until a ``record`` command (``path``, ``frame_shape``, ``dtype``, ``metadata``,
    ``overwrite``, ``resume``); then writes frames until the acquisition's ``end`` message, reports
    ``finished`` and waits for the next ``record`` or ``stop``. With ``resume=True`` (a restarted
    saver) the existing store is reopened and the acquisition is told the last stored seq, so it
    resends the frames the dead saver had not written. Frames must arrive with increasing seq; a
    gap is reported as an error and counted in ``frames_missing``.
    """
    _run(name, endpoints, _serve_recordings)


def _serve_recordings(w: _Worker) -> None:
    import napari_pynta.store  # noqa: F401  (imported before ``ready``, not when recording starts)

    incoming = w.socket(zmq.PULL, connect=w.endpoints.save, RCVHWM=16)
    acks = w.socket(zmq.PUSH, connect=w.endpoints.save_ack)
    w.report("ready")
    while not w.stopping:
        for command in w.commands():
            if command.get("cmd") == "stop":
                w.stopping = True
            elif command.get("cmd") == "record":
                _record(w, incoming, acks, command)
        w.poller.poll(100)


def _record(w: _Worker, incoming: zmq.Socket, acks: zmq.Socket, command: dict[str, Any]) -> None:
    """One recording: create (or resume) the store, write frames until ``end`` or ``stop``."""
    from napari_pynta.store import MovieStore

    path = command["path"]
    try:
        if command.get("resume"):
            store = MovieStore.open(path, mode="r+")
        else:
            store = MovieStore.create(
                path,
                tuple(command["frame_shape"]),
                np.dtype(command["dtype"]),
                command["metadata"],
                overwrite=bool(command.get("overwrite")),
            )
    except ValueError as error:  # PyntaInputError: the recording cannot start, the saver lives on
        w.error(f"cannot record to {path!r}: {error}")
        return
    last_seq = int(store.seq[-1]) if store.n_frames else -1
    transport.send_json(acks, "ack", {"hello": True, "saved_seq": last_seq})
    w.poller.register(incoming, zmq.POLLIN)
    w.report("recording", path=path, frames_saved=store.n_frames, last_seq=last_seq)
    missing = 0
    ended = False
    # A restarted saver may first get frames the acquisition sent before it answered our hello;
    # they are sent again after it (in order), so wait for the frame after the last stored one.
    resync = bool(command.get("resume")) and last_seq >= 0
    while not ended:
        block: list[np.ndarray] = []
        times: list[float] = []
        seqs: list[int] = []
        events = dict(w.poller.poll(100))
        while incoming in events and len(block) < SAVE_BLOCK_FRAMES:
            try:
                message = transport.recv_message(incoming, zmq.NOBLOCK)
            except zmq.Again:
                break
            if message.header.get("end"):
                ended = True
                break
            seq = int(message.header["seq"])
            previous = seqs[-1] if seqs else last_seq
            if seq <= previous or (resync and seq != previous + 1):
                continue  # already stored, or sent before the resend started
            resync = False
            if previous >= 0 and seq != previous + 1:
                missing += seq - previous - 1
                w.error(
                    f"seq gap in the recording: frames {previous + 1}..{seq - 1} never "
                    f"reached the saver"
                )
            block.append(message.data)
            times.append(float(message.header["t"]))
            seqs.append(seq)
        if block:
            store.append(np.stack(block), timestamps_s=times, seq=seqs)
            last_seq = seqs[-1]
            transport.send_json(acks, "ack", {"saved_seq": last_seq}, flags=zmq.NOBLOCK)
        for other in w.commands():
            if other.get("cmd") == "stop":
                w.stopping = ended = True
        if w.heartbeat_due() or ended:
            w.report(
                "heartbeat",
                frames_saved=store.n_frames,
                last_seq=last_seq,
                frames_missing=missing,
                path=path,
            )
    w.poller.unregister(incoming)
    store.close()
    w.report(
        "finished",
        path=path,
        frames_saved=store.n_frames,
        last_seq=last_seq,
        frames_missing=missing,
    )


# ---------------------------------------------------------------------------------------- locator
def locator_worker(
    name: str, endpoints: LiveEndpoints, engine: str, detection: dict[str, Any]
) -> None:
    """Locate particles in frames pulled from the acquisition; push one table per frame.

    Commands: ``detect`` (new ``locate()`` options, checked before use), ``stop``.
    """
    _run(name, endpoints, lambda w: _locate(w, engine, detection))


def _locate(w: _Worker, engine: str, detection: dict[str, Any]) -> None:
    from napari_pynta import detect

    _warm_up(engine, detection)

    frames = w.socket(zmq.PULL, connect=w.endpoints.locate, RCVHWM=LOCATE_HWM)
    out = w.socket(zmq.PUSH, connect=w.endpoints.locs_in)
    w.poller.register(frames, zmq.POLLIN)
    w.report("ready")
    located = 0
    busy_s = 0.0
    while not w.stopping:
        events = dict(w.poller.poll(100))
        if frames in events:
            _, header, frame = transport.recv_frame(frames)
            start = time.perf_counter()
            features = detect.locate(frame, engine, frame_number=int(header["seq"]), **detection)
            busy_s += time.perf_counter() - start
            transport.send_table(
                out, transport.TOPIC_LOCS, features, seq=header["seq"], t=header["t"]
            )
            located += 1
        for command in w.commands():
            if command.get("cmd") == "stop":
                w.stopping = True
            elif command.get("cmd") == "detect":
                engine, detection = _new_detection(w, engine, detection, command)
        if w.heartbeat_due():
            w.report("heartbeat", frames_located=located, busy_s=busy_s)


def _warm_up(engine: str, detection: dict[str, Any]) -> None:
    """Locate once in a synthetic frame, so numba's JIT compilation is not paid on live frames."""
    from napari_pynta import detect
    from napari_pynta.live.config import synthetic_frame

    detect.locate(synthetic_frame(), engine, **detection)


def _new_detection(
    w: _Worker, engine: str, detection: dict[str, Any], command: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    from napari_pynta.live.config import check_detection

    new_engine = command.get("engine") or engine
    new_detection = dict(command.get("detection", {}))
    try:
        check_detection(new_engine, new_detection)
    except ValueError as error:
        w.error(f"detection settings refused, keeping the previous ones: {error}")
        return engine, detection
    return new_engine, new_detection


# ------------------------------------------------------------------------------------ linker/sizer
def linker_worker(name: str, endpoints: LiveEndpoints) -> None:
    """Order localizations by seq, link them, publish locs/tracks and the size distribution.

    Waits for a ``configure`` command whose ``settings`` are those of
    :func:`napari_pynta.live.sizes.analysis_params` plus ``frame_shape``, ``source`` and
    ``sizes_interval_s``. Frames skipped by the acquisition are announced; a frame lost in a
    dead locator is given up after :data:`LINK_GAP_TIMEOUT_S`.
    """
    _run(name, endpoints, _link)


def located_waiting(pending: dict[int, tuple[float, pd.DataFrame | None]]) -> float:
    """Seconds the oldest located frame has waited for an earlier one (0 if none waits).

    Skip notices do not count: they come from the acquisition, ahead of the locators, so a
    locator still busy with earlier frames is not mistaken for a lost frame.
    """
    arrivals = [arrival for arrival, features in pending.values() if features is not None]
    return time.perf_counter() - min(arrivals) if arrivals else 0.0


def _link(w: _Worker) -> None:
    import napari_pynta.analysis  # noqa: F401  (for the sizer: imported before ``ready``)
    from napari_pynta.link import StreamingLinker
    from napari_pynta.live.sizes import LiveSizer

    incoming = w.socket(zmq.PULL, bind=w.endpoints.locs_in)
    results = w.socket(zmq.PUB, bind=w.endpoints.results, SNDHWM=1000)
    w.report("ready")
    settings = None
    while settings is None and not w.stopping:
        for command in w.commands():
            if command.get("cmd") == "configure":
                settings = command["settings"]
            elif command.get("cmd") == "stop":
                w.stopping = True
        w.poller.poll(50)
    if w.stopping:
        return
    w.poller.register(incoming, zmq.POLLIN)
    linker = StreamingLinker(settings["search_range_px"], memory=settings["memory"])
    sizer = LiveSizer(settings)
    pending: dict[int, tuple[float, pd.DataFrame | None]] = {}
    expected = 0
    end_seq: int | None = None
    lost = 0
    linked_frames = 0
    recent_counts: collections.deque[int] = collections.deque(maxlen=100)
    last_sizes = time.perf_counter()
    sizes_interval = settings["sizes_interval_s"]
    sizing_s = last_sizing_s = 0.0
    finished = False
    while not w.stopping:
        events = dict(w.poller.poll(50))
        while incoming in events:
            try:
                message = transport.recv_message(incoming, zmq.NOBLOCK)
            except zmq.Again:
                break
            header = message.header
            if header.get("end"):
                end_seq = int(header["last_seq"])
            elif "skip" in header:
                for skipped in header["skip"]:
                    pending[int(skipped)] = (time.perf_counter(), None)
            elif int(header["seq"]) >= expected:
                pending[int(header["seq"])] = (time.perf_counter(), message.data)
        busy_until = time.perf_counter() + LINK_SLICE_S  # then report and read commands
        while time.perf_counter() < busy_until:
            if expected in pending:
                _, features = pending.pop(expected)
                if features is not None:  # None: skipped by the acquisition (counted there)
                    linked = linker.add(features, frame=expected)
                    sizer.add(linked)
                    recent_counts.append(len(features))
                    linked_frames += 1
                    transport.send_table(results, transport.TOPIC_LOCS, features, seq=expected)
                    transport.send_table(results, transport.TOPIC_TRACKS, linked, seq=expected)
                expected += 1
            elif located_waiting(pending) > LINK_GAP_TIMEOUT_S:
                resume = min(pending)
                w.error(
                    f"frames {expected}..{resume - 1} never came back from the locator pool "
                    "(a locator stopped or died); linking goes on without them"
                )
                lost += resume - expected
                expected = resume
            else:
                break
        now = time.perf_counter()
        done = end_seq is not None and expected > end_seq
        if now - last_sizes >= sizes_interval or (done and not finished):
            try:
                summary, diameters = sizer.summary(expected)
            except (ValueError, RuntimeError) as error:  # sizing trouble must not stop linking
                w.error(f"sizing failed, linking goes on: {error}")
                summary, diameters = None, []
            last_sizes = time.perf_counter()
            last_sizing_s = last_sizes - now
            sizing_s += last_sizing_s
            sizes_interval = max(
                settings["sizes_interval_s"],
                last_sizing_s * (1 - SIZES_TIME_FRACTION) / SIZES_TIME_FRACTION,
            )
            transport.send_json(
                results, transport.TOPIC_SIZES, {"summary": summary, "diameters_nm": diameters}
            )
            w.report("sizes", summary=summary)
        if w.heartbeat_due() or (done and not finished):
            w.report(
                "heartbeat",
                frames_linked=linked_frames,
                frames_lost=lost,
                next_seq=expected,
                sizing_s=sizing_s,
                last_sizing_s=last_sizing_s,
                particles_per_frame=float(np.mean(recent_counts)) if recent_counts else 0.0,
            )
        if done and not finished:
            finished = True
            w.report("finished", frames_linked=linked_frames, frames_lost=lost)
        for command in w.commands():
            if command.get("cmd") == "stop":
                w.stopping = True
