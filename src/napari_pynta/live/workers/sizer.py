"""The sizer worker: the live size summaries, in a process of their own at low CPU priority.

The linker sends it every linked frame (:class:`SizerFeed`, PUSH ``sizer_in``); it keeps the tracks
in a :class:`~napari_pynta.live.sizes.LiveSizer` and sends summaries back (PUSH ``sizer_out``),
which the linker publishes. Messages on ``sizer_in``: ``reset`` (header ``run``, ``settings``: start
afresh), ``tracks`` (one frame's linked columns, header ``run``, ``seq``, ``covered``: frames
covered so far, ``flow_px_per_frame``: the flow the linker took out of the frame's positions before
linking, ``[y, x]``, zero without one) and ``end`` (``run``, ``covered``: make the final summary
now). On ``sizer_out``: ``hello`` (a new sizer asks for every frame of the current settings),
``status`` (alive, once a second: the summaries run in a thread, so the main loop answers even
during one, and the linker knows that a silent sizer is gone) and ``sizes`` (``run``, ``summary``,
``diameters_nm``, ``error``, ``seconds`` of CPU, ``final``). A summary's ``frames_sized`` is the
count of frames the sizer holds, so it never claims frames it has not got.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import zmq

from napari_pynta.live import transport
from napari_pynta.live.config import LiveEndpoints
from napari_pynta.live.protocol import Command, Event
from napari_pynta.live.workers.base import Worker, run

#: most of the sizer's CPU time the summaries may take: the pause after a summary grows with
#: its CPU time (it sizes every track so far, so it gets slower as tracks accumulate)
SIZES_TIME_FRACTION = 0.15
#: the sizer lowers its priority by this much (``os.nice``): linking and recording come first
SIZER_NICE = 10
#: seconds between two "alive" messages of the sizer to the linker
ALIVE_S = 1.0
#: longest stretch the sizer reads frames before it looks at commands and summaries (s)
READ_SLICE_S = 0.2
#: linker-side bounds: high-water mark of ``sizer_in`` (messages) and messages sent per flush
SIZER_HWM = 100_000
FLUSH_BATCH = 500
#: memory the linker keeps of linked frames to send again to a restarted sizer (bytes); older
#: frames are let go once sent, and a restarted sizer then sizes (and says it sizes) fewer
SIZER_KEEP_BYTES = 256e6
#: topics only the linker and the sizer use
TOPIC_RESET = "reset"
TOPIC_HELLO = "hello"


def sizer_worker(name: str, endpoints: LiveEndpoints) -> None:
    """Size the tracks the linker sends; send summaries back at the cadence of the settings.

    Summaries come every ``sizes_interval_s`` of the reset's settings at the soonest, and later
    when they are costly (at most :data:`SIZES_TIME_FRACTION` of the time); the final one as
    soon as the ``end`` marker comes. The process runs at ``nice`` +:data:`SIZER_NICE`.
    """
    run(name, endpoints, _size)


def lower_priority(increment: int = SIZER_NICE) -> None:
    """Lower this process's CPU priority (nothing where the OS does not allow it)."""
    try:
        os.nice(increment)
    except (AttributeError, OSError):  # Windows has no os.nice; a sandbox may refuse it
        pass


class SizerFeed:
    """The linker's side of ``sizer_in``: keeps the linked frames of the current settings.

    Frames are sent without blocking; those that cannot go now (no sizer connected, or one far
    behind) wait here and go with the next :meth:`flush`: none is dropped before it was sent.
    A new sizer says ``hello`` and gets the kept frames again (:meth:`resend`). Sent frames
    beyond ``keep_bytes`` are let go, oldest first (:attr:`forgotten`), so a long run does not
    hold every frame twice; a sizer restarted after that covers the frames from the oldest
    kept one, and its summaries' ``frames_sized`` say so.

    Parameters
    ----------
    socket : zmq.Socket
        The bound PUSH ``sizer_in`` socket.
    settings : dict
        The linker's settings (sent with each reset).
    first_seq : int
        The first frame of these settings (``covered`` counts from it).
    keep_bytes : float
        Memory for the frames kept to send again.
    """

    def __init__(
        self,
        socket: zmq.Socket,
        settings: dict[str, Any],
        first_seq: int,
        keep_bytes: float = SIZER_KEEP_BYTES,
    ):
        self.socket = socket
        self.keep_bytes = float(keep_bytes)
        self._runs = 0
        #: times a send would have blocked (frames then wait here)
        self.blocked = 0
        self.reset(settings, first_seq)

    def reset(self, settings: dict[str, Any], first_seq: int) -> None:
        """Start afresh (new settings): a new run, no frames."""
        self.settings = settings
        self.first_seq = first_seq
        # columns, seq, bytes, flow (px per frame) taken out before linking
        self.frames: deque[tuple[dict[str, np.ndarray], int, int, list[float]]] = deque()
        self._kept_bytes = 0
        #: frames of these settings let go after they were sent (see ``keep_bytes``)
        self.forgotten = 0
        self.end_seq: int | None = None
        self.resend()

    def resend(self) -> None:
        """Send everything again under a new run id (a new sizer asked for it)."""
        self._runs += 1
        self.run = f"{os.getpid()}-{self._runs}"
        self._reset_sent = self._end_sent = False
        self._sent = 0
        #: this run's ``covered`` counts from here: the oldest frame it is sent
        self._base_seq = self.frames[0][1] if self.forgotten else self.first_seq
        self.flush()

    @property
    def linked(self) -> int:
        """Frames of these settings given to :meth:`add`."""
        return len(self.frames) + self.forgotten

    def add(
        self, columns: dict[str, np.ndarray], seq: int, flow_px_per_frame: Any = (0.0, 0.0)
    ) -> None:
        """Keep and send the linked columns of frame ``seq``, and the flow (``y``, ``x`` px
        per frame) taken out of its positions before linking."""
        size = sum(values.nbytes for values in columns.values())
        flow = [float(value) for value in flow_px_per_frame]
        self.frames.append((columns, seq, size, flow))
        self._kept_bytes += size
        self.flush()
        while self._kept_bytes > self.keep_bytes and self._sent > 0:
            self._kept_bytes -= self.frames.popleft()[2]
            self._sent -= 1
            self.forgotten += 1

    def end(self, next_seq: int) -> None:
        """Ask for the final summary: frames up to ``next_seq`` - 1 are covered."""
        self.end_seq = next_seq
        self.flush()

    @property
    def waiting(self) -> int:
        """Frames not handed to ZeroMQ yet."""
        return len(self.frames) - self._sent

    def flush(self) -> bool:
        """Send what waits (at most :data:`FLUSH_BATCH` frames); False if a send would block."""
        try:
            if not self._reset_sent:
                # the sizer's summaries cover the frames from the first one it is sent
                settings = {**self.settings, "first_seq": self._base_seq}
                payload = {"run": self.run, "settings": settings}
                transport.send_json(self.socket, TOPIC_RESET, payload, flags=zmq.NOBLOCK)
                self._reset_sent = True
            for _ in range(FLUSH_BATCH):
                if self._sent == len(self.frames):
                    break
                columns, seq, _, flow = self.frames[self._sent]
                transport.send_columns(
                    self.socket,
                    transport.TOPIC_TRACKS,
                    columns,
                    flags=zmq.NOBLOCK,
                    run=self.run,
                    seq=seq,
                    covered=seq + 1 - self._base_seq,
                    flow_px_per_frame=flow,
                )
                self._sent += 1
            if self.end_seq is not None and not self._end_sent and not self.waiting:
                covered = self.end_seq - self._base_seq
                end: dict[str, Any] = {"run": self.run, "covered": covered}
                transport.send_json(self.socket, transport.TOPIC_END, end, flags=zmq.NOBLOCK)
                self._end_sent = True
        except zmq.Again:
            self.blocked += 1
            return False
        return True


class BackgroundSizer:
    """Runs the size summaries of a sizer in a thread, so the sizer process stays responsive.

    The sizer's main loop goes on reading frames, commands and sending "alive" while a summary
    runs (it may take seconds late in a run). The sizer is never used by two threads at once:
    frames added while a summary runs wait here and are added to it when the summary is
    collected. The thread is a daemon: a worker told to stop does not wait for a summary
    nobody will read.

    Parameters
    ----------
    sizer : LiveSizer
        Has ``add(linked, seq, flow_px_per_frame)`` and
        ``summary(n_frames) -> (summary, diameters)``.
    """

    def __init__(self, sizer: Any) -> None:
        self.sizer = sizer
        self._thread: threading.Thread | None = None
        self._result: tuple[dict | None, list[float], str, float] | BaseException | None = None
        self._waiting: list[tuple[Mapping[str, np.ndarray], int | None, Any]] = []

    @property
    def running(self) -> bool:
        """Whether a summary was started and not collected yet."""
        return self._thread is not None

    def add(
        self,
        linked: Mapping[str, np.ndarray],
        seq: int | None = None,
        flow_px_per_frame: Any = None,
    ) -> None:
        """Add frame ``seq``'s linked localizations, as columns, and the flow taken out of them
        before linking (held back while a summary runs)."""
        if self._thread is None:
            self.sizer.add(linked, seq, flow_px_per_frame)
        else:
            self._waiting.append((linked, seq, flow_px_per_frame))

    def start(self, n_frames: int, frames_sized: int) -> None:
        """Start a summary of the frames added so far (``n_frames`` covered, ``frames_sized``
        of them linked); collect it with :meth:`collect`."""
        if self._thread is not None:
            raise RuntimeError("a size summary is already running")
        self._thread = threading.Thread(
            target=self._run, args=(n_frames, frames_sized), name="sizes", daemon=True
        )
        self._thread.start()

    def collect(self, wait: bool = False) -> tuple[dict | None, list[float], str, float] | None:
        """The started summary once it has finished (waiting for it if ``wait``), else None.

        Returns ``(summary, diameters_nm, error, cpu_seconds)``: ``error`` is the message of a
        ValueError/RuntimeError of the sizing (summary None); other exceptions are raised here.
        """
        if self._thread is None or not (wait or not self._thread.is_alive()):
            return None
        self._thread.join()
        self._thread = None
        for linked, seq, flow in self._waiting:
            self.sizer.add(linked, seq, flow)
        self._waiting = []
        result, self._result = self._result, None
        if isinstance(result, BaseException):
            raise result
        return result

    def replace(self, sizer: Any) -> None:
        """Start afresh with ``sizer`` (new settings): a running summary is waited for and
        dropped, and so are the frames held back for the old sizer."""
        if self._thread is not None:
            self._thread.join()
            self._thread = self._result = None
        self._waiting = []
        self.sizer = sizer

    def _run(self, n_frames: int, frames_sized: int) -> None:
        start = time.thread_time()
        try:
            summary, diameters = self.sizer.summary(n_frames)
            if summary is not None:  # the frames whose tracks it holds (lost ones excluded)
                summary["frames_sized"] = frames_sized
            self._result = (summary, diameters, "", time.thread_time() - start)
        except (ValueError, RuntimeError) as error:  # sizing trouble must not stop the sizer
            self._result = (None, [], str(error), time.thread_time() - start)
        except BaseException as error:  # noqa: BLE001  (raised in the sizer's main thread)
            self._result = error


def _size(w: Worker) -> None:
    import napari_pynta.analysis  # noqa: F401  (imported before ``ready``)
    from napari_pynta.live.sizes import LiveSizer

    lower_priority()
    incoming = w.socket(zmq.PULL, connect=w.endpoints.sizer_in, RCVHWM=SIZER_HWM)
    out = w.socket(zmq.PUSH, connect=w.endpoints.sizer_out)
    w.poller.register(incoming, zmq.POLLIN)
    w.report(Event.READY)
    transport.send_json(out, TOPIC_HELLO, {"pid": os.getpid()})  # the linker watches its CPU wait
    current: str | None = None  # the run of the last reset
    summarized: str | None = None  # the run of the running summary
    sizing: BackgroundSizer | None = None
    frames = covered = 0
    final = summary_final = changed = False
    interval = last_at = alive_at = 0.0
    sizing_s = 0.0

    while not w.stopping:
        w.poller.poll(50)
        until = time.perf_counter() + READ_SLICE_S
        while time.perf_counter() < until and (message := w.receive(incoming, "sizer_in", True)):
            try:
                kind, header = _incoming(message)
            except transport.BadMessage as error:
                w.bad_messages(error, "sizer's sizer_in socket")
                continue
            if kind == TOPIC_RESET:
                current, settings = header["run"], header["settings"]
                if sizing is None:
                    sizing = BackgroundSizer(LiveSizer(settings))
                else:
                    sizing.replace(LiveSizer(settings))
                interval, last_at = float(settings["sizes_interval_s"]), time.perf_counter()
                frames = covered = 0
                final = changed = False
            elif header["run"] != current:  # frames of a run it was not reset for: resent
                continue
            elif kind == transport.TOPIC_END:
                covered, final = max(covered, header["covered"]), True
            elif sizing is not None:
                # checked by _incoming
                sizing.add(cast(dict, message.data), header["seq"], header["flow_px_per_frame"])
                frames += 1
                covered = max(covered, header["covered"])
                changed = True
        if sizing is not None and (result := sizing.collect()) is not None:
            summary, diameters, failure, seconds = result  # the linker reports a failure
            payload: dict[str, Any] = {"summary": summary, "diameters_nm": diameters}
            payload.update(error=failure, run=summarized, seconds=seconds, final=summary_final)
            transport.send_json(out, transport.TOPIC_SIZES, payload)
            sizing_s += seconds
            last_at = alive_at = time.perf_counter()
            interval = max(
                float(sizing.sizer.settings["sizes_interval_s"]),
                seconds * (1 - SIZES_TIME_FRACTION) / SIZES_TIME_FRACTION,
            )
        due = changed and time.perf_counter() - last_at >= interval
        if sizing is not None and not sizing.running and (final or due):
            sizing.start(covered, frames)
            summarized, summary_final = current, final
            final = changed = False
        if time.perf_counter() - alive_at >= ALIVE_S:  # the linker knows the sizer runs
            alive_at = time.perf_counter()
            with contextlib.suppress(zmq.Again):  # no linker to tell right now
                transport.send_json(out, transport.TOPIC_STATUS, {}, flags=zmq.NOBLOCK)
        if w.heartbeat_due():
            w.report(Event.HEARTBEAT, frames_sized=frames, sizing_s=sizing_s)
        for command in w.commands():
            if command.get("cmd") == Command.STOP:
                w.stopping = True


def _incoming(message: transport.Message) -> tuple[str, dict[str, Any]]:
    """What a message on ``sizer_in`` is: ``(reset | end | tracks, header)``.

    Raises
    ------
    transport.BadMessage
        For anything else.
    """
    header = message.header
    transport.require(header, run=str)
    if message.topic == TOPIC_RESET:
        transport.require(header, settings=dict)
        return TOPIC_RESET, header
    if message.topic == transport.TOPIC_END:
        transport.require(header, covered=int)
        return transport.TOPIC_END, header
    if message.topic != transport.TOPIC_TRACKS or header["kind"] != "table":
        raise transport.BadMessage("not linked localizations", repr(message.topic)[:80])
    transport.require(header, seq=int, covered=int, flow_px_per_frame=list)
    flow = header["flow_px_per_frame"]
    if len(flow) != 2 or not all(
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        for value in flow
    ):
        raise transport.BadMessage("flow is not two finite numbers", repr(flow)[:80])
    columns = list(message.data) if isinstance(message.data, dict) else []
    if "frame" not in columns or "particle" not in columns:
        raise transport.BadMessage("tracks without frame or particle", str(columns))
    return transport.TOPIC_TRACKS, header
