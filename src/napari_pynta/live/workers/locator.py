"""The locator worker: locate particles in frames pulled from the acquisition, one table each."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import numpy as np
import zmq

from napari_pynta.detect.columns import LOCALIZATION_COLUMNS
from napari_pynta.detect.hot_pixels import FrameRepair
from napari_pynta.live import transport
from napari_pynta.live.config import LiveEndpoints, check_detection, check_hot_pixels
from napari_pynta.live.frame_ring import RingViews
from napari_pynta.live.locate_pipe import LocatePipe, fifo_path, open_pipe
from napari_pynta.live.protocol import Command, Event
from napari_pynta.live.workers.base import Worker, run

#: per-peer ZeroMQ queue of the locate path: small, so a locator that stops loses few frames
LOCATE_HWM = 2
#: while new detection settings compile, the locator looks for commands this often (s)
COMPILING_POLL_S = 0.05


def locator_worker(
    name: str,
    endpoints: LiveEndpoints,
    engine: str,
    detection: dict[str, Any],
    hot_pixels: list[list[int]] | None = None,
) -> None:
    """Locate particles in frames from the acquisition; push one table per frame.

    The ``hot_pixels`` ((row, column) pairs) are repaired in each frame before detection
    (:class:`~napari_pynta.detect.hot_pixels.FrameRepair`: in the locator's own copy, the
    shared frame is only read).

    Frames in the acquisition's shared-memory ring come as headers through the locators' pipe
    (:mod:`~napari_pynta.live.locate_pipe`: an idle locator takes the next one), frames with
    their pixels (no ring) over the locate socket. A ring frame is located in place (a
    read-only view) and its slot released afterwards through the ring's release cell; if the
    slot was rewritten meanwhile (the acquisition reclaimed it: the ring was full), the result
    is dropped and the linker told to skip the frame.
    Commands: ``detect`` (new ``locate()`` options and, if given, new ``hot_pixels``, checked
    and compiled in a background thread:
    the fast engine compiles its kernels for each feature size, seconds the first time on a
    machine; meanwhile frames wait in the ring, none is located with the old options after the
    command, and ``stop`` is obeyed), ``stop``.
    """
    run(name, endpoints, lambda w: _locate(w, engine, detection, FrameRepair(hot_pixels or [])))


def locate_columns(
    frame: np.ndarray, engine: str, seq: int, detection: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The localizations of frame ``seq`` as columns (:data:`LOCALIZATION_COLUMNS`).

    The fast engine gives them without building a DataFrame (~0.2 ms per frame, a sixth of
    locating a 512² frame), the maxima of one smeared image joined (``split_within`` in
    ``detection``) and moved to their wide centroids (``wide_radius_px``) as
    :func:`napari_pynta.detect.locate` does; other engines go through ``locate``.
    """
    if engine == "fast":
        from napari_pynta.detect import after_engine, engine_options
        from napari_pynta.detect.fast import locate_fast

        columns = cast(
            dict[str, np.ndarray],
            locate_fast(frame, frame_number=seq, as_columns=True, **engine_options(detection)),
        )
        return after_engine(
            frame,
            columns,
            invert=bool(detection.get("invert")),
            split_within=detection.get("split_within"),
            wide_radius_px=detection.get("wide_radius_px"),
        )
    from napari_pynta import detect

    table = detect.locate(frame, engine, frame_number=seq, **detection)
    return {name: table[name].to_numpy() for name in LOCALIZATION_COLUMNS}


def _locate(w: Worker, engine: str, detection: dict[str, Any], repair: FrameRepair) -> None:
    check_detection(engine, detection)  # compiles the kernels before the first live frame

    frames = w.socket(zmq.PULL, connect=w.endpoints.locate, RCVHWM=LOCATE_HWM)
    pipe = open_pipe(fifo_path(w.endpoints.directory), w.warn)  # ring frames come this way
    out = w.socket(zmq.PUSH, connect=w.endpoints.locs_in)
    views = RingViews()
    w.poller.register(frames, zmq.POLLIN)
    if pipe is not None:
        w.poller.register(pipe.fileno(), zmq.POLLIN)
    w.report(Event.READY)
    located = overwritten = 0
    busy_s = 0.0
    pending: _PendingDetection | None = None
    while not w.stopping:
        if pending is not None:  # frames wait (in the ring) for the new settings
            time.sleep(COMPILING_POLL_S)
            message = None
        else:
            events = dict(w.poller.poll(0 if w.has_pending(frames) else 100))
            message = _next_frame(w, frames, pipe, events)
        try:
            frame = None if message is None else views.frame(message)
        except transport.BadMessage as error:
            w.bad_messages(error, "locator's locate socket")
            frame = None
        if message is not None and frame is not None:
            header = message.header
            start = time.perf_counter()
            features = locate_columns(repair(frame), engine, header["seq"], detection)
            busy_s += time.perf_counter() - start
            del frame
            if views.intact(message):
                transport.send_columns(
                    out,
                    transport.TOPIC_LOCS,
                    features,
                    seq=header["seq"],
                    t=header["t"],
                    read_at=header.get("read_at"),
                )
                located += 1
            else:
                transport.send_json(out, transport.TOPIC_SKIP, {"skip": [header["seq"]]})
                overwritten += 1
            views.release(message)
            views.close_retired()
        for command in w.commands():
            if command.get("cmd") == Command.STOP:
                w.stopping = True
            elif command.get("cmd") == Command.DETECT:
                pending = _PendingDetection(
                    command.get("engine") or engine,
                    dict(command.get("detection", {})),
                    repair,
                    command.get("hot_pixels"),
                )
        if pending is not None and pending.ready():
            if pending.error is None:
                engine, detection, repair = pending.engine, pending.detection, pending.repair
            else:
                w.error(f"detection settings refused, keeping the previous ones: {pending.error}")
            pending = None
        if w.heartbeat_due():
            w.report(
                Event.HEARTBEAT,
                frames_located=located,
                frames_overwritten=overwritten,
                busy_s=busy_s,
            )
    views.close()
    if pipe is not None:
        pipe.close()


def _next_frame(
    w: Worker, frames: zmq.Socket, pipe: LocatePipe | None, events: dict[Any, int]
) -> transport.Message | None:
    """The next frame to locate: from the pipe (ring frames), else from the locate socket
    (frames with their pixels: no ring), None if neither has one (or it was bad: counted)."""
    if pipe is not None and pipe.fileno() in events:
        try:
            message = pipe.receive()
        except transport.BadMessage as error:
            w.bad_messages(error, "locator's pipe")
            message = None
        if message is not None:
            return message
    if frames in events or w.has_pending(frames):
        return w.receive(frames, "locate")
    return None


class _PendingDetection:
    """New detection options (and hot pixels, unless None: ``repair`` is kept) being checked
    and compiled in a daemon thread.

    ``error`` holds why :func:`~napari_pynta.live.config.check_detection` refused them (it also
    compiles them) or why the hot pixels are not pixels, None when they can be used.
    """

    def __init__(
        self,
        engine: str,
        detection: dict[str, Any],
        repair: FrameRepair | None = None,
        hot_pixels: Any = None,
    ) -> None:
        self.engine, self.detection = engine, detection
        self.repair = FrameRepair([]) if repair is None else repair
        self._hot_pixels = hot_pixels
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._prepare, name="detection", daemon=True)
        self._thread.start()

    def _prepare(self) -> None:
        try:
            check_detection(self.engine, self.detection)
            if self._hot_pixels is not None:
                self.repair = FrameRepair(check_hot_pixels(self._hot_pixels))
        except Exception as error:  # noqa: BLE001 (reported by the worker, settings refused)
            self.error = error

    def ready(self) -> bool:
        """Whether checking and compiling are done (see ``error``)."""
        return not self._thread.is_alive()
