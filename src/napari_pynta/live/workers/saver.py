"""The saver worker: writes recordings to zarr stores; every received frame is written and acked."""

from __future__ import annotations

from typing import Any

import numpy as np
import zmq

from napari_pynta.errors import PyntaDataError
from napari_pynta.live import transport
from napari_pynta.live.config import LiveEndpoints
from napari_pynta.live.frame_ring import RingViews
from napari_pynta.live.protocol import Command, Event
from napari_pynta.live.workers.base import Worker, run

#: frames per store append (larger blocks write faster; the ack comes after each block)
SAVE_BLOCK_FRAMES = 32


def saver_worker(name: str, endpoints: LiveEndpoints) -> None:
    """Write recordings to zarr stores; every received frame is written and acknowledged.

    Idle until a ``record`` command (``recording``: its number, ``path``, ``frame_shape``,
    ``dtype``, ``metadata``, ``overwrite``, ``resume``); its ``hello`` to the acquisition names
    the recording's number; then writes frames until the acquisition's ``end`` message (or,
    after a ``stop_recording`` command, sent when the acquisition died, until no more frames
    wait), reports ``finished`` and waits for the next ``record`` or ``stop``, dropping what
    still comes for the ended recording (:func:`_drop_stale`). Every frame and end marker
    names its recording (``recording``): only those of the recording being written are used,
    the others (a late resend of the one before, a header naming none) are dropped and counted
    as bad messages (:func:`_other_recording`). When the store
    cannot be written (``OSError``: disk full, ...) it reports ``recording_failed`` at once,
    writes nothing more and drops the frames that still come until the end marker. With
    ``resume=True`` (a restarted saver) the existing store is reopened and the acquisition is
    told the last stored seq, so it resends the frames the dead saver had not written. Frames
    must arrive with increasing seq; the first gap of a recording is reported as an error, every
    gap is counted in ``frames_missing``. Frames come with their pixels or as headers into the
    acquisition's shared-memory ring: the acknowledgement of a written frame is also what frees
    its ring slot.
    """
    run(name, endpoints, _serve_recordings)


def _serve_recordings(w: Worker) -> None:
    import napari_pynta.store  # noqa: F401  (imported before ``ready``, not when recording starts)

    incoming = w.socket(zmq.PULL, connect=w.endpoints.save, RCVHWM=16)
    acks = w.socket(zmq.PUSH, connect=w.endpoints.save_ack)
    views = RingViews()
    w.poller.register(incoming, zmq.POLLIN)
    w.report(Event.READY)
    while not w.stopping:
        for command in w.commands():
            if command.get("cmd") == Command.STOP:
                w.stopping = True
            elif command.get("cmd") == Command.RECORD:
                _record(w, incoming, acks, views, command)
        w.poller.poll(100)
        _drop_stale(w, incoming)
    views.close()


def _drop_stale(w: Worker, incoming: zmq.Socket) -> None:
    """Drop what waits on the save socket while no recording runs, without counting it.

    Only what belongs to an ended recording can come then (the acquisition sends the frames
    of a recording after the saver reported ``recording``, and resends the unwritten frames
    of the last one, and its end marker, when a hello of that recording reaches it after the
    recording ended), or the first frames of a restarted saver's recording, which come before
    its ``record`` command and are all sent again after its hello: neither is a fault. Left
    unread, an ended recording's messages would be dropped by the next recording as of another
    recording (:func:`_other_recording`), counted as bad messages, which are kept for faults.
    """
    while w.receive(incoming, "save") is not None:
        pass


def _record(
    w: Worker,
    incoming: zmq.Socket,
    acks: zmq.Socket,
    views: RingViews,
    command: dict[str, Any],
) -> None:
    """One recording: create (or resume) the store, write frames until ``end`` or ``stop``."""
    from napari_pynta.store import MovieStore

    path = command["path"]
    number = command.get("recording")
    if type(number) is not int:
        w.error(f"cannot record to {path!r}: the record command names no recording ({number!r})")
        return
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
    except (ValueError, PyntaDataError, OSError) as error:  # bad path, a store another process
        # writes, a full or read-only disk: the recording cannot start, the saver lives on
        w.error(f"cannot record to {path!r}: {error}")
        return
    last_seq = int(store.seq[-1]) if store.n_frames else -1
    hello = {"hello": True, "recording": number, "saved_seq": last_seq}
    transport.send_json(acks, transport.TOPIC_ACK, hello)
    w.report(Event.RECORDING, path=path, frames_saved=store.n_frames, last_seq=last_seq)
    missing = 0
    ended = source_gone = False
    failure: str | None = None
    # A restarted saver may first get frames the acquisition sent before it answered our hello;
    # they are sent again after it (in order), so wait for the frame after the last stored one.
    resync = bool(command.get("resume")) and last_seq >= 0
    while not ended:
        block: list[np.ndarray] = []
        times: list[float] = []
        seqs: list[int] = []
        messages: list[transport.Message] = []
        events = dict(w.poller.poll(0 if w.has_pending(incoming) else 100))
        ready = incoming in events or w.has_pending(incoming)
        while ready and len(block) < SAVE_BLOCK_FRAMES:
            message = w.receive(incoming, "save")
            if message is None:
                break
            if (stray := _other_recording(message, number)) is not None:
                w.bad_messages(stray, "saver's save socket")
                continue
            if message.topic == transport.TOPIC_END:
                # the marker names the last frame of the recording: one that comes before the
                # frames resent to a restarted saver is followed by another after them
                end_seq = message.header.get("last_seq")
                written = seqs[-1] if seqs else last_seq
                ended = failure is not None or not isinstance(end_seq, int) or end_seq <= written
                if ended:
                    break
                continue
            if failure is not None:
                continue  # the store cannot be written: the frames are counted as dropped
            try:
                frame = _frame_for(message, store, views)
            except transport.BadMessage as error:
                w.bad_messages(error, "saver's save socket")
                continue
            seq = message.header["seq"]
            previous = seqs[-1] if seqs else last_seq
            if seq <= previous or (resync and seq != previous + 1):
                continue  # already stored, or sent before the resend started
            resync = False
            if previous >= 0 and seq != previous + 1:
                if not missing:  # the first gap is said; later ones only counted
                    w.error(
                        f"seq gap in the recording: frames {previous + 1}..{seq - 1} are not in "
                        "the store (lost by the camera, or on the way to the saver); later gaps "
                        "are counted in frames_dropped"
                    )
                missing += seq - previous - 1
            block.append(frame)
            times.append(float(message.header["t"]))
            seqs.append(seq)
            messages.append(message)
        if block and failure is None:
            frames = np.stack(block)
            del block[:]  # no view of a ring slot is used after the copy
            overwritten = [m.header["seq"] for m in messages if not views.intact(m)]
            if overwritten:  # the acquisition broke the replay guarantee: refuse to store it
                raise RuntimeError(
                    f"frames {overwritten} were rewritten in the frame ring before they were "
                    "written to the store"
                )
            try:
                store.append(frames, timestamps_s=times, seq=seqs)
            except OSError as error:  # disk full, store removed, ...: stop now, loudly
                failure = f"recording stopped: cannot write to {path}: {error}"
                w.report(Event.RECORDING_FAILED, error=failure, frames_saved=store.n_frames)
            else:
                last_seq = seqs[-1]
                transport.send_json(
                    acks, transport.TOPIC_ACK, {"saved_seq": last_seq}, flags=zmq.NOBLOCK
                )
        views.close_retired()
        for other in w.commands():
            if other.get("cmd") == Command.STOP:
                w.stopping = ended = True
            elif other.get("cmd") == Command.STOP_RECORDING:
                source_gone = True
        # no end marker can come from a dead acquisition: once nothing more is waiting, the
        # frames it sent are all written
        ended = ended or (source_gone and not ready)
        if w.heartbeat_due() or ended:
            w.report(
                Event.HEARTBEAT,
                frames_saved=store.n_frames,
                last_seq=last_seq,
                frames_missing=missing,
                path=path,
            )
    try:
        store.close()
    except OSError as error:
        w.warn(f"closing {path} failed: {error}")
    w.report(
        Event.FINISHED,
        path=path,
        frames_saved=store.n_frames,
        last_seq=last_seq,
        frames_missing=missing,
    )


def _other_recording(message: transport.Message, number: int) -> transport.BadMessage | None:
    """Why ``message`` (a frame or an end marker) is not one of recording ``number``, None
    when it is.

    Every message on the save socket names its recording (``recording``): the acquisition
    resends an ended recording's unwritten frames and its end marker when that recording's
    hello reaches it late, and those may come after the next recording has started. A message
    naming no recording (an older sender) cannot be shown to be this recording's: it is not
    written either.
    """
    named = message.header.get("recording")
    if type(named) is int and named == number:
        return None
    return transport.BadMessage(
        "a message of another recording", f"{message.topic} of recording {named!r}, not {number}"
    )


def _frame_for(message: transport.Message, store: Any, views: RingViews) -> np.ndarray:
    """The message's frame (pixels or ring view); :class:`~napari_pynta.live.transport.BadMessage`
    unless a frame of this store."""
    if message.topic != transport.TOPIC_FRAMES:
        raise transport.BadMessage("not a frame", repr(message.topic)[:80])
    frame = views.frame(message)
    if frame.shape != tuple(store.frame_shape) or frame.dtype != store.dtype:
        raise transport.BadMessage(
            "frame does not match the store", f"{frame.shape} {frame.dtype.str}"
        )
    return frame
