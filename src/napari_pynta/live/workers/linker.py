"""The linker worker: orders localizations by seq, links them, publishes tracks and sizes.

The size summaries are made by the sizer process (:mod:`.sizer`): the linker sends it every
linked frame and publishes the summaries it sends back.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import zmq

from napari_pynta.detect.columns import LOCALIZATION_COLUMNS
from napari_pynta.live import transport
from napari_pynta.live.config import LiveEndpoints
from napari_pynta.live.cpu_wait import Silence
from napari_pynta.live.protocol import Command, Event
from napari_pynta.live.workers.base import Worker, run
from napari_pynta.live.workers.sizer import SIZER_HWM, TOPIC_HELLO, SizerFeed

if TYPE_CHECKING:  # trackpy is imported by the linker process only
    from napari_pynta.link import StreamingLinker
    from napari_pynta.live.flow import LiveFlow

#: a table as its columns (name -> 1-D array), as received and as published
Columns = dict[str, np.ndarray]

#: longest stretch the linker works through a backlog before it reports and reads commands (s)
LINK_SLICE_S = 0.2
#: a missing frame is declared lost by the linker after later frames waited this long (s)
LINK_GAP_TIMEOUT_S = 2.0
#: at the end of a run the linker waits for the sizer's final summary before ``finished``, unless
#: the sizer has said nothing for this long (it died; a restarted one gets every frame again).
#: The time the sizer waited for a CPU does not count (:class:`~..cpu_wait.Silence`): at ``nice``
#: +10 on a loaded machine it is slow, not dead
SIZER_SILENCE_S = 10.0
#: the recent tracking latency covers the frames linked in the last this many seconds
RECENT_LATENCY_S = 10.0
#: the run's latency histogram: logarithmic bins from LATENCY_FLOOR_S (everything below, even a
#: negative difference of two clocks, falls into the first) over LATENCY_DECADES decades
LATENCY_FLOOR_S = 1e-6
LATENCY_DECADES = 11
LATENCY_BINS_PER_DECADE = 200
#: largest relative difference between a reported run percentile and the exact one (half a bin)
LATENCY_RESOLUTION = 10 ** (0.5 / LATENCY_BINS_PER_DECADE) - 1
_LATENCY_BINS = LATENCY_DECADES * LATENCY_BINS_PER_DECADE


def linker_worker(name: str, endpoints: LiveEndpoints) -> None:
    """Order localizations by seq, link them, publish locs/tracks and the size distribution.

    The sizer process gets every linked frame of the current settings (:class:`SizerFeed`;
    kept here, so a restarted sizer gets them all again) and sends back the summaries this
    worker publishes. At the end of a run the final summary, covering every linked frame, is
    published before ``finished`` (unless the sizer is silent for :data:`SIZER_SILENCE_S`, not
    counting the time it waited for a CPU: a warning then says the final summary is missing).

    Waits for a ``configure`` command whose ``settings`` are those of
    :func:`napari_pynta.live.sizes.analysis_params` plus ``frame_shape``, ``source`` and
    ``sizes_interval_s``; a later one (new camera settings while live) starts new tracks and a
    new size estimate with the new settings. Frames skipped by the acquisition are announced;
    a frame lost in a dead locator is given up after :data:`LINK_GAP_TIMEOUT_S`, and so is the
    rest of the run when the end-of-run marker has come and nothing arrives for that long
    (counted from the end of a locator's restart, announced by the ``locators`` command: the
    restarted locator locates what is left in the ring), so the linker always finishes. A
    restarted linker is configured with ``start_seq`` (the first frame it waits for) and, if the
    run already ended, ``end_seq``; its size summary covers the frames it linked itself
    (``frames_sized`` of the summary).

    A uniform flow of the sample (more than :data:`napari_pynta.link.FLOW_LINKING_PX_PER_FRAME`)
    is found in the recent frames and taken out of the positions before linking
    (:class:`~napari_pynta.live.flow.LiveFlow`, as ``pynta analyze`` does); the tracks keep
    the measured positions, and the sizer is told the flow of each frame (its summaries say it).
    """
    run(name, endpoints, _link)


class Latencies:
    """Frame-to-linked latencies: host time from the camera read to the linked frame.

    :meth:`summary` covers the run, :meth:`recent` the frames linked in the last
    ``recent_s`` seconds (what a live display shows: a slow start does not hide that tracking
    keeps up now, nor an old good stretch that it lags now). The recent figures are exact; the
    run's p50 and p95 come from a histogram of :data:`LATENCY_BINS_PER_DECADE` logarithmic bins
    per decade (within :data:`LATENCY_RESOLUTION` of the exact percentile; the maximum is
    exact), so that a run of hours costs the same memory and time per report as a run of
    seconds (a list of every latency grew by 46 MB an hour at 400 fps and its percentiles took
    longer at every heartbeat).
    """

    def __init__(self, recent_s: float = RECENT_LATENCY_S) -> None:
        self.recent_s = recent_s
        self._counts = np.zeros(_LATENCY_BINS, dtype=np.int64)
        self._max: float | None = None
        self._recent: collections.deque[tuple[float, float]] = collections.deque()

    def add(self, read_at: float) -> None:
        """Record a frame read (``time.time()`` in the acquisition) at ``read_at``, linked now."""
        now = time.time()
        latency = now - read_at
        self._counts[_latency_bin(latency)] += 1
        self._max = latency if self._max is None else max(self._max, latency)
        self._recent.append((now, latency))
        self._forget_before(now - self.recent_s)

    def summary(self) -> dict[str, float] | None:
        """``{"p50", "p95", "max"}`` in seconds over the run; None before the first frame."""
        if self._max is None:
            return None
        cumulative = np.cumsum(self._counts)
        p50, p95 = (
            _latency_of_bin(int(np.searchsorted(cumulative, share * cumulative[-1])))
            for share in (0.5, 0.95)
        )
        largest = float(self._max)
        return {"p50": min(p50, largest), "p95": min(p95, largest), "max": largest}

    def recent(self) -> dict[str, float] | None:
        """``{"p50", "p95", "max"}`` of the frames linked in the last ``recent_s`` seconds;
        None if none was."""
        self._forget_before(time.time() - self.recent_s)
        if not self._recent:
            return None
        seconds = [latency for _, latency in self._recent]
        p50, p95 = np.percentile(seconds, [50, 95])
        return {"p50": float(p50), "p95": float(p95), "max": float(max(seconds))}

    def _forget_before(self, oldest: float) -> None:
        """Drop the recent latencies of frames linked before ``oldest`` (``time.time()``)."""
        while self._recent and self._recent[0][0] < oldest:
            self._recent.popleft()


def _latency_bin(seconds: float) -> int:
    """Histogram bin of a latency (clipped to the first and the last bin)."""
    if seconds <= LATENCY_FLOOR_S:
        return 0
    index = int(math.log10(seconds / LATENCY_FLOOR_S) * LATENCY_BINS_PER_DECADE)
    return min(index, _LATENCY_BINS - 1)


def _latency_of_bin(index: int) -> float:
    """The latency a bin stands for: its geometric centre (s)."""
    return LATENCY_FLOOR_S * 10 ** ((index + 0.5) / LATENCY_BINS_PER_DECADE)


def located_waiting(pending: dict[int, tuple[float, Columns | None]]) -> float:
    """Seconds the oldest located frame has waited for an earlier one (0 if none waits).

    Skip notices do not count: they come from the acquisition, ahead of the locators, so a
    locator still busy with earlier frames is not mistaken for a lost frame.
    """
    arrivals = [arrival for arrival, features in pending.values() if features is not None]
    return time.perf_counter() - min(arrivals) if arrivals else 0.0


def link_frame(
    linker: StreamingLinker, features: Mapping[str, Any], frame: int, flow: LiveFlow | None = None
) -> Columns:
    """Link one frame's received localizations; return the tracks table as its columns.

    The same :class:`~napari_pynta.link.StreamingLinker` step as ``pynta analyze``
    (:func:`~napari_pynta.link.link_features`), without building tables: ``features`` holds
    the columns :data:`LOCALIZATION_COLUMNS` (the received message's column views, or a
    DataFrame); float64 columns are used as they are, without a copy. With ``flow`` (the
    linker worker's), the positions less its cumulative flow are linked and the tracks keep
    the measured positions, as ``link_features`` does with its ``flow``; the flow is then told
    the particles linked (:meth:`~napari_pynta.live.flow.LiveFlow.linked`: their steps measure
    it).

    Returns
    -------
    dict of str to ndarray
        :data:`LOCALIZATION_COLUMNS` (``frame`` set to ``frame``, the others float64) and
        ``particle``.
    """
    columns = {name: np.asarray(features[name], np.float64) for name in LOCALIZATION_COLUMNS}
    columns["frame"] = np.full(len(columns["y"]), frame, np.int64)
    coords = np.column_stack((columns["y"], columns["x"]))
    if flow is not None:
        columns["particle"] = linker.link(coords - flow.add(frame, coords), frame)
        flow.linked(columns["particle"])
    else:
        columns["particle"] = linker.link(coords, frame)
    return columns


def make_linker(settings: Mapping[str, Any]) -> StreamingLinker:
    """The :class:`~napari_pynta.link.StreamingLinker` that ``pynta analyze`` uses on the
    recording made with these live settings (:func:`napari_pynta.live.sizes.analysis_params`):
    its search range, memory and spread across missed frames."""
    from napari_pynta.link import StreamingLinker
    from napari_pynta.live.sizes import analysis_params

    spread = analysis_params(dict(settings)).gap_spread
    return StreamingLinker(
        settings["search_range_px"], memory=settings["memory"], gap_spread=spread.factor
    )


def make_flow(settings: Mapping[str, Any]) -> LiveFlow:
    """The :class:`~napari_pynta.live.flow.LiveFlow` of a linker configured with ``settings``:
    starting at ``start_flow_px_per_frame`` (``[y, x]``, the flow the calibration measured;
    the supervisor sends it with the first configuration only) when given, else at rest."""
    from napari_pynta.live.flow import LiveFlow

    return LiveFlow(start_velocity=settings.get("start_flow_px_per_frame"))


def _link(w: Worker) -> None:
    import napari_pynta.analysis  # noqa: F401  (imported before ``ready``, for make_linker)

    incoming = w.socket(zmq.PULL, bind=w.endpoints.locs_in)
    results = w.socket(zmq.PUB, bind=w.endpoints.results, SNDHWM=1000)
    to_sizer = w.socket(zmq.PUSH, bind=w.endpoints.sizer_in, SNDHWM=SIZER_HWM)
    from_sizer = w.socket(zmq.PULL, bind=w.endpoints.sizer_out)
    w.report(Event.READY)
    settings: dict[str, Any] | None = None
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
    if w.stopping or settings is None:
        return
    w.poller.register(incoming, zmq.POLLIN)
    w.poller.register(from_sizer, zmq.POLLIN)
    linker, flow = make_linker(settings), make_flow(settings)
    feed = SizerFeed(to_sizer, settings, expected)
    pending: dict[int, tuple[float, Columns | None]] = {}
    read_at: dict[int, float] = {}  # seq -> host time the acquisition read the frame
    latencies = Latencies()
    lost = 0
    last_progress = time.perf_counter()
    linked_frames = 0
    recent_counts: collections.deque[int] = collections.deque(maxlen=100)
    sizing_s = last_sizing_s = 0.0
    sizer_silence = Silence()  # the sizer's process is known once it says hello
    sizer_messages = 0  # received from the sizer: progress while the final summary is awaited
    sized_run: str | None = None  # the run of the last final summary published
    published_frames = 0  # frames covered by the last summary published
    behind_said = False
    finished = False
    locators_restarting = False

    while not w.stopping:
        events = dict(w.poller.poll(50))
        while incoming in events and (message := w.receive(incoming, "locs_in", True)):
            try:
                kind, value = _incoming(message)
            except transport.BadMessage as error:
                w.bad_messages(error, "linker's locs_in socket")
                continue
            if kind == transport.TOPIC_END:
                end_seq = value
            elif kind == transport.TOPIC_SKIP:
                for skipped in value:
                    if skipped >= expected:
                        pending[skipped] = (time.perf_counter(), None)
            elif value >= expected:  # columns checked by _incoming
                pending[value] = (time.perf_counter(), cast(Columns, message.data))
                if isinstance(message.header.get("read_at"), float):
                    read_at[value] = message.header["read_at"]
        while from_sizer in events and (message := w.receive(from_sizer, "sizer_out")):
            sizer_silence.heard()
            sizer_messages += 1
            try:
                sizes = _from_sizer(message)
            except transport.BadMessage as error:
                w.bad_messages(error, "linker's sizer_out socket")
                continue
            if message.topic == TOPIC_HELLO:  # a new sizer: it gets the kept frames again
                sizer_silence.watch(message.header["pid"])
                feed.resend()
                if feed.forgotten:
                    w.warn(
                        f"the restarted sizer gets the last {len(feed.frames)} of the "
                        f"{feed.linked} frames linked (the linker keeps "
                        f"{feed.keep_bytes / 1e6:.0f} MB of them); its sizes cover those"
                    )
            elif sizes is not None and sizes["run"] == feed.run:
                last_sizing_s = float(sizes["seconds"])
                sizing_s += last_sizing_s
                if sizes["error"]:
                    w.warn(f"sizing failed, linking goes on: {sizes['error']}")
                summary = sizes["summary"]
                published_frames = summary["frames_sized"] if summary else 0
                transport.send_json(
                    results,
                    transport.TOPIC_SIZES,
                    {"summary": summary, "diameters_nm": sizes["diameters_nm"]},
                )
                w.report(Event.SIZES, summary=summary, final=bool(sizes["final"]))
                if sizes["final"]:
                    sized_run = feed.run
        busy_until = time.perf_counter() + LINK_SLICE_S  # then report and read commands
        while time.perf_counter() < busy_until:
            if expected in pending:
                _, features = pending.pop(expected)
                if features is not None:  # None: skipped by the acquisition (counted there)
                    tracks = link_frame(linker, features, expected, flow)
                    if expected in read_at:
                        latencies.add(read_at.pop(expected))
                    recent_counts.append(len(tracks["frame"]))
                    linked_frames += 1
                    locs = {name: tracks[name] for name in LOCALIZATION_COLUMNS}
                    transport.send_columns(results, transport.TOPIC_LOCS, locs, seq=expected)
                    transport.send_columns(results, transport.TOPIC_TRACKS, tracks, seq=expected)
                    feed.add(tracks, expected, flow.velocity)
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
                and not locators_restarting
                and expected <= end_seq
                and not any(features is not None for _, features in pending.values())
                and time.perf_counter() - last_progress > LINK_GAP_TIMEOUT_S
            ):  # the run is over and nothing more came: the rest died with a locator (frames
                # located later, e.g. by a restarted locator, end the gap in the branch above)
                w.warn(
                    f"frames {expected}..{end_seq} never came back from the locator pool "
                    "by the end of the run; they are not tracked"
                )
                lost += end_seq + 1 - expected
                expected = end_seq + 1
                pending = {seq: entry for seq, entry in pending.items() if seq >= expected}
            else:
                break

        if feed.waiting:
            feed.flush()
        if feed.waiting > SIZER_HWM // 2 and not behind_said:  # once, until it catches up
            behind_said = True
            w.warn(
                f"{feed.waiting} linked frames wait for the sizer (not running, or far behind): "
                "they are kept and sent later; the size summaries lag"
            )
        elif not feed.waiting:
            behind_said = False
        done = end_seq is not None and expected > end_seq
        if done and feed.end_seq is None:  # the final summary covers every linked frame
            feed.end(expected)
        finishing = (
            done
            and not finished
            and (sized_run == feed.run or sizer_silence.seconds() > SIZER_SILENCE_S)
        )
        if finishing and sized_run != feed.run:
            w.warn(
                f"the sizer has not answered for {SIZER_SILENCE_S:.0f} s (not counting the time "
                "it waited for a CPU): the final size summary is missing (the last one covers "
                f"{published_frames} of the {feed.linked} frames linked)"
            )
        if w.heartbeat_due() or finishing:
            w.report(
                Event.HEARTBEAT,
                frames_linked=linked_frames,
                frames_lost=lost,
                next_seq=expected,
                sizing_s=sizing_s,
                last_sizing_s=last_sizing_s,
                sizer_waiting=feed.waiting,
                sizer_blocked=feed.blocked,
                sizer_messages=sizer_messages,
                sizer_cpu_wait_s=round(sizer_silence.cpu_wait_s(), 3),
                tracking_latency_s=latencies.summary(),
                tracking_latency_recent_s=latencies.recent(),
                particles_per_frame=float(np.mean(recent_counts)) if recent_counts else 0.0,
            )
        if finishing:
            finished = True
            w.report(Event.FINISHED, frames_linked=linked_frames, frames_lost=lost)
        for command in w.commands():
            if command.get("cmd") == Command.STOP:
                w.stopping = True
            elif command.get("cmd") == Command.LOCATORS:
                locators_restarting = bool(command.get("restarting"))
                last_progress = time.perf_counter()  # the rest gets its time once one is back
            elif command.get("cmd") == Command.CONFIGURE:  # new camera timing: start afresh
                settings = command["settings"]
                linker, flow = make_linker(settings), make_flow(settings)
                feed.reset(settings, expected)
                recent_counts.clear()
    w.report(Event.STOPPED, frames_linked=linked_frames, frames_lost=lost)  # final counters


def _from_sizer(message: transport.Message) -> dict[str, Any] | None:
    """The summary message of the sizer (None for ``hello``, with its process id, and
    ``status``: alive).

    Raises
    ------
    transport.BadMessage
        For anything else.
    """
    if message.topic == TOPIC_HELLO and message.data is None:
        transport.require(message.header, pid=int)
        return None
    if message.topic == transport.TOPIC_STATUS and message.data is None:
        return None
    if message.topic != transport.TOPIC_SIZES or message.header["kind"] != "json":
        raise transport.BadMessage("not a size summary", repr(message.topic)[:80])
    header = message.header
    transport.require(
        header, run=str, seconds=(int, float), final=bool, error=str, diameters_nm=list
    )
    if not isinstance(header.get("summary"), dict | None):
        raise transport.BadMessage("size summary is not an object")
    if header["summary"] is not None:
        transport.require(header["summary"], frames_sized=int)
    return header


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
    if not isinstance(message.data, dict):
        raise transport.BadMessage("localizations without a table")
    if tuple(message.data) != LOCALIZATION_COLUMNS:
        raise transport.BadMessage("not the localization columns", str(list(message.data)))
    return transport.TOPIC_LOCS, header["seq"]
