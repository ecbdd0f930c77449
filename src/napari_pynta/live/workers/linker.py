"""The linker/sizer worker: orders localizations by seq, links them, publishes tracks and sizes."""

from __future__ import annotations

import collections
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import zmq

from napari_pynta.detect.columns import LOCALIZATION_COLUMNS
from napari_pynta.live import transport
from napari_pynta.live.config import LiveEndpoints
from napari_pynta.live.protocol import Command, Event
from napari_pynta.live.workers.base import Worker, run

if TYPE_CHECKING:  # trackpy is imported by the linker process only
    from napari_pynta.link import StreamingLinker

#: longest stretch the linker works through a backlog before it reports and reads commands (s)
LINK_SLICE_S = 0.2
#: a missing frame is declared lost by the linker after later frames waited this long (s)
LINK_GAP_TIMEOUT_S = 2.0
#: most of the linker's time the live size summary may take (it sizes every track so far, so
#: it gets slower as tracks accumulate; the pause after each one grows with its duration)
SIZES_TIME_FRACTION = 0.15
#: a size summary waits while frames are ready to be linked (tracking latency comes first), but
#: never longer than this beyond its interval (s)
SIZES_MAX_DELAY_S = 5.0


def linker_worker(name: str, endpoints: LiveEndpoints) -> None:
    """Order localizations by seq, link them, publish locs/tracks and the size distribution.

    Waits for a ``configure`` command whose ``settings`` are those of
    :func:`napari_pynta.live.sizes.analysis_params` plus ``frame_shape``, ``source`` and
    ``sizes_interval_s``; a later one (new camera settings while live) starts new tracks and a
    new size estimate with the new settings. Frames skipped by the acquisition are announced;
    a frame lost in a dead locator is given up after :data:`LINK_GAP_TIMEOUT_S`, and so is the
    rest of the run when the end-of-run marker has come and nothing arrives for that long, so
    the linker always finishes. A restarted linker is configured with ``start_seq`` (the first
    frame it waits for) and, if the run already ended, ``end_seq``; its size summary covers the
    frames it linked itself (``frames_sized`` of the summary).
    """
    run(name, endpoints, _link)


class Latencies:
    """Frame-to-linked latencies of a run: host time from the camera read to the linked frame."""

    def __init__(self) -> None:
        self._seconds: list[float] = []

    def add(self, read_at: float) -> None:
        """Record a frame read (``time.time()`` in the acquisition) at ``read_at``, linked now."""
        self._seconds.append(time.time() - read_at)

    def summary(self) -> dict[str, float] | None:
        """``{"p50", "p95", "max"}`` in seconds over the run; None before the first frame."""
        if not self._seconds:
            return None
        p50, p95 = np.percentile(self._seconds, [50, 95])
        return {"p50": float(p50), "p95": float(p95), "max": float(max(self._seconds))}


class BackgroundSizer:
    """Runs the live size summaries of a sizer in a background thread, so linking goes on.

    A summary over all tracks so far takes seconds late in a run; run in the linking loop it
    held every frame that arrived meanwhile (the p95 tracking latency was the summary's
    duration). The sizer is never used by two threads at once: frames linked while a summary
    runs wait here and are added to it when the summary is collected. The thread is a daemon:
    a worker told to stop does not wait for a summary nobody will read.

    Parameters
    ----------
    sizer : LiveSizer
        Has ``add(linked)`` and ``summary(n_frames) -> (summary, diameters)``.
    """

    def __init__(self, sizer: Any) -> None:
        self.sizer = sizer
        self._thread: threading.Thread | None = None
        self._result: tuple[dict | None, list[float], str, float] | BaseException | None = None
        self._waiting: list[pd.DataFrame] = []

    @property
    def running(self) -> bool:
        """Whether a summary was started and not collected yet."""
        return self._thread is not None

    def add(self, linked: pd.DataFrame) -> None:
        """Add one frame's linked localizations (held back while a summary runs)."""
        if self._thread is None:
            self.sizer.add(linked)
        else:
            self._waiting.append(linked)

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

        Returns ``(summary, diameters_nm, error, seconds)``: ``error`` is the message of a
        ValueError/RuntimeError of the sizing (summary None); other exceptions are raised here.
        """
        if self._thread is None or not (wait or not self._thread.is_alive()):
            return None
        self._thread.join()
        self._thread = None
        for linked in self._waiting:
            self.sizer.add(linked)
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
        start = time.perf_counter()
        try:
            summary, diameters = self.sizer.summary(n_frames)
            if summary is not None:  # the frames whose tracks it holds (lost ones excluded)
                summary["frames_sized"] = frames_sized
            self._result = (summary, diameters, "", time.perf_counter() - start)
        except (ValueError, RuntimeError) as error:  # sizing trouble must not stop linking
            self._result = (None, [], str(error), time.perf_counter() - start)
        except BaseException as error:  # noqa: BLE001  (raised in the linking thread)
            self._result = error


def located_waiting(pending: dict[int, tuple[float, pd.DataFrame | None]]) -> float:
    """Seconds the oldest located frame has waited for an earlier one (0 if none waits).

    Skip notices do not count: they come from the acquisition, ahead of the locators, so a
    locator still busy with earlier frames is not mistaken for a lost frame.
    """
    arrivals = [arrival for arrival, features in pending.values() if features is not None]
    return time.perf_counter() - min(arrivals) if arrivals else 0.0


def link_frame(
    linker: StreamingLinker, features: pd.DataFrame, frame: int
) -> dict[str, np.ndarray]:
    """Link one frame's received localizations; return the tracks table as its columns.

    The same :class:`~napari_pynta.link.StreamingLinker` step as ``pynta analyze``
    (:func:`~napari_pynta.link.link_features`), without building tables: ``features`` (the
    received table: :data:`LOCALIZATION_COLUMNS`, checked on receipt, float64 but ``frame``)
    is converted in one go instead of one pandas column access per column (a tenth of the cost).

    Returns
    -------
    dict of str to ndarray
        :data:`LOCALIZATION_COLUMNS` (``frame`` set to ``frame``) and ``particle``, contiguous.
    """
    block = np.ascontiguousarray(features.to_numpy(np.float64).T)
    columns = {"frame": np.full(len(features), frame, np.int64)}
    columns.update(zip(LOCALIZATION_COLUMNS[1:], block[1:], strict=True))
    columns["particle"] = linker.link(np.column_stack((columns["y"], columns["x"])), frame)
    return columns


def _link(w: Worker) -> None:
    import napari_pynta.analysis  # noqa: F401  (for the sizer: imported before ``ready``)
    from napari_pynta.link import StreamingLinker
    from napari_pynta.live.sizes import LiveSizer

    incoming = w.socket(zmq.PULL, bind=w.endpoints.locs_in)
    results = w.socket(zmq.PUB, bind=w.endpoints.results, SNDHWM=1000)
    w.report(Event.READY)
    settings = None
    while settings is None and not w.stopping:
        for command in w.commands():
            if command.get("cmd") == Command.CONFIGURE:
                settings = command["settings"]
                expected = int(command.get("start_seq") or 0)
                end_seq = command.get("end_seq")
                end_seq = None if end_seq is None else int(end_seq)
            elif command.get("cmd") == Command.STOP:
                w.stopping = True
        w.poller.poll(50)
    if w.stopping:
        return
    w.poller.register(incoming, zmq.POLLIN)
    linker = StreamingLinker(settings["search_range_px"], memory=settings["memory"])
    sizing = BackgroundSizer(LiveSizer(settings))
    pending: dict[int, tuple[float, pd.DataFrame | None]] = {}
    read_at: dict[int, float] = {}  # seq -> host time the acquisition read the frame
    latencies = Latencies()
    lost = 0
    last_progress = time.perf_counter()
    linked_frames = 0
    sized_frames = 0  # frames in the current size estimate (reset by a new configure)
    sizer_start = expected  # first frame of the current size estimate
    recent_counts: collections.deque[int] = collections.deque(maxlen=100)
    last_sizes = time.perf_counter()
    sizes_interval = settings["sizes_interval_s"]
    sizing_s = last_sizing_s = 0.0
    finished = False

    def publish(result: tuple[dict | None, list[float], str, float] | None) -> None:
        """Send a collected size summary and stretch the pause before the next one."""
        nonlocal last_sizes, last_sizing_s, sizing_s, sizes_interval
        if result is None:
            return
        summary, diameters, error, seconds = result
        if error:
            w.warn(f"sizing failed, linking goes on: {error}")
        last_sizes = time.perf_counter()
        last_sizing_s = seconds
        sizing_s += seconds
        sizes_interval = max(
            settings["sizes_interval_s"],
            seconds * (1 - SIZES_TIME_FRACTION) / SIZES_TIME_FRACTION,
        )
        transport.send_json(
            results, transport.TOPIC_SIZES, {"summary": summary, "diameters_nm": diameters}
        )
        w.report(Event.SIZES, summary=summary)

    while not w.stopping:
        events = dict(w.poller.poll(50))
        while incoming in events and (message := w.receive(incoming, "locs_in")) is not None:
            try:
                kind, value = _incoming(message)
            except transport.BadMessage as error:
                w.bad_messages(error, "linker's locs_in socket")
                continue
            if kind == transport.TOPIC_END:
                end_seq = value
            elif kind == transport.TOPIC_SKIP:
                for skipped in value:
                    pending[skipped] = (time.perf_counter(), None)
            elif value >= expected:
                pending[value] = (time.perf_counter(), message.data)
                if isinstance(message.header.get("read_at"), float):
                    read_at[value] = message.header["read_at"]
        busy_until = time.perf_counter() + LINK_SLICE_S  # then report and read commands
        while time.perf_counter() < busy_until:
            if expected in pending:
                _, features = pending.pop(expected)
                if features is not None:  # None: skipped by the acquisition (counted there)
                    tracks = link_frame(linker, features, expected)
                    if expected in read_at:
                        latencies.add(read_at.pop(expected))
                    recent_counts.append(len(features))
                    linked_frames += 1
                    sized_frames += 1
                    locs = {name: tracks[name] for name in LOCALIZATION_COLUMNS}
                    transport.send_columns(results, transport.TOPIC_LOCS, locs, seq=expected)
                    transport.send_columns(results, transport.TOPIC_TRACKS, tracks, seq=expected)
                    sizing.add(features.assign(particle=tracks["particle"]))
                expected += 1
                last_progress = time.perf_counter()
            elif located_waiting(pending) > LINK_GAP_TIMEOUT_S:
                resume = min(pending)
                w.warn(
                    f"frames {expected}..{resume - 1} never came back from the locator pool "
                    "(a locator stopped or died); linking goes on without them"
                )
                lost += resume - expected
                expected = resume
                read_at = {seq: at for seq, at in read_at.items() if seq >= expected}
            elif (
                end_seq is not None
                and expected <= end_seq
                and time.perf_counter() - last_progress > LINK_GAP_TIMEOUT_S
            ):  # the run is over and nothing more comes: the rest died with a locator
                w.warn(
                    f"frames {expected}..{end_seq} never came back from the locator pool "
                    "by the end of the run; they are not tracked"
                )
                lost += end_seq + 1 - expected
                expected = end_seq + 1
            else:
                break

        done = end_seq is not None and expected > end_seq
        final = done and not finished  # the last summary covers every frame, before FINISHED
        publish(sizing.collect(wait=final))
        since_sizes = time.perf_counter() - last_sizes
        backlog = expected in pending  # the slice ended with frames ready to link
        if not sizing.running and (
            (since_sizes >= sizes_interval and not backlog)
            or since_sizes >= sizes_interval + SIZES_MAX_DELAY_S
            or final
        ):
            sizing.start(expected - sizer_start, sized_frames)
            if final:
                publish(sizing.collect(wait=True))
        if w.heartbeat_due() or (done and not finished):
            w.report(
                Event.HEARTBEAT,
                frames_linked=linked_frames,
                frames_lost=lost,
                next_seq=expected,
                sizing_s=sizing_s,
                last_sizing_s=last_sizing_s,
                tracking_latency_s=latencies.summary(),
                particles_per_frame=float(np.mean(recent_counts)) if recent_counts else 0.0,
            )
        if done and not finished:
            finished = True
            w.report(Event.FINISHED, frames_linked=linked_frames, frames_lost=lost)
        for command in w.commands():
            if command.get("cmd") == Command.STOP:
                w.stopping = True
            elif command.get("cmd") == Command.CONFIGURE:  # new camera timing: start afresh
                settings = command["settings"]
                linker = StreamingLinker(settings["search_range_px"], memory=settings["memory"])
                sizing.replace(LiveSizer(settings))
                sized_frames, sizer_start = 0, expected
                recent_counts.clear()


def _incoming(message: transport.Message) -> tuple[str, Any]:
    """What a message on ``locs_in`` is: ``(end, last seq)``, ``(skip, [seq, ...])`` or
    ``(locs, seq)``; raises :class:`~napari_pynta.live.transport.BadMessage` for anything else."""
    header = message.header
    if message.topic == transport.TOPIC_END:
        transport.require(header, last_seq=int)
        return transport.TOPIC_END, header["last_seq"]
    if message.topic == transport.TOPIC_SKIP:
        transport.require(header, skip=list)
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in header["skip"]):
            raise transport.BadMessage("skip list holds a non-integer")
        return transport.TOPIC_SKIP, header["skip"]
    if message.topic != transport.TOPIC_LOCS or header["kind"] != "table":
        raise transport.BadMessage("not localizations", repr(message.topic)[:80])
    transport.require(header, seq=int)
    if tuple(message.data.columns) != LOCALIZATION_COLUMNS:
        raise transport.BadMessage("not the localization columns", str(list(message.data.columns)))
    return transport.TOPIC_LOCS, header["seq"]
