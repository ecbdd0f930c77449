"""Frames the acquisition keeps for the saver and the locators: in a shared-memory ring, or as
arrays sent in the messages when there is no ring (it could not be created, or is switched off).

A :class:`KeptFrame` is one frame handed to readers (:data:`SAVER_HOLD`, :data:`LOCATORS_HOLD`);
:func:`send_kept` sends frames the way they are kept (one ring header for several frames of
a ring, or the pixels) and :meth:`KeptFrame.release` gives a slot back for one reader.
:class:`FrameKeeper` owns the acquisition's rings: one for the current frame shape, older ones
until their readers released them (a camera change makes a new ring).

The copy into the ring runs in the acquisition's loop, and the frame can be sent at once: a
ring slot released a moment ago is reused first, so the copy is a cache-warm one. An earlier
version copied in a thread of its own; handing each frame over to it (a future, a wake-up, the
GIL changing hands) cost more than the copy and held the frame's header back until the thread
had run: without it the sender's CPU per frame in ``bench_transport.py`` fell from 76-82 to
30-31 µs at 512² and from 172-226 to 73-74 µs at 1024² (docs/live-pipeline.md). The
reservation of ring memory ahead of the slots in use when the ring grows (milliseconds per
reservation) still runs in a thread (``pynta-ring-reserve``), so the loop, which must read the
camera in time, does not wait for it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from napari_pynta.errors import PyntaInputError
from napari_pynta.live import transport
from napari_pynta.live.frame_ring import RESERVE_SLOTS, FrameRing
from napari_pynta.live.locate_pipe import LocatePipe

#: the saver's hold on a frame: released by its acknowledgement (the replay-buffer guarantee)
SAVER_HOLD = "saver"
#: the locator pool's hold: released by the locator that located the frame, through the ring's
#: release cell of the slot (no message)
LOCATORS_HOLD = "locators"


@dataclass(slots=True)
class KeptFrame:
    """A frame kept for readers: in ``ring`` at ``slot``, or its own array ``frame``."""

    seq: int
    t: float
    nbytes: int
    frame: np.ndarray | None = None
    ring: FrameRing | None = None
    slot: int = -1

    def release(self, reader: str) -> None:
        """``reader`` is done with the frame (no-op for a frame kept as an array)."""
        if self.ring is not None:
            self.ring.release(self.slot, reader, self.seq)


def send_kept(
    socket: zmq.Socket,
    frames: Sequence[KeptFrame],
    flags: int = zmq.NOBLOCK,
    read_at: float | None = None,
    pipe: LocatePipe | None = None,
    **extra: Any,
) -> None:
    """Send frames the way they are kept: consecutive frames of one ring in one header message
    (receivers see them one by one), a frame kept as an array alone, with its pixels (zero-copy).

    Parameters
    ----------
    socket : zmq.Socket
        The saver's or the locators' PUSH socket (the locators' takes only frames kept as
        arrays when there is a ``pipe``).
    frames : sequence of KeptFrame
        One frame kept as an array, or frames of one ring.
    flags : int
        ZeroMQ flags.
    read_at : float or None
        Host time the frames were read (the linker measures the latency from it).
    pipe : LocatePipe or None
        The locators' pipe: the header of one frame of a ring goes there instead of ``socket``
        (a frame kept as an array still goes through ``socket``, with its pixels).
    **extra
        More JSON-serialisable header fields of every frame (e.g. the saver's ``recording``;
        not through the pipe).

    Raises
    ------
    zmq.Again
        When the socket's queue (or the pipe) is full.
    ValueError
        With ``extra`` and a ``pipe``, or frames that cannot go in one message.
    """
    first = frames[0]
    ring = first.ring
    read = math.nan if read_at is None else read_at
    if extra and pipe is not None:
        raise ValueError("the locators' pipe carries no extra header fields")
    if pipe is not None and ring is not None and len(frames) == 1:  # the locators' usual case
        pipe.send_frame(ring.prefix, first.slot, first.seq, first.t, read)
        return
    for kept in frames:  # a loop, not all() over a generator: this runs once per frame
        if kept.ring is not ring:
            raise ValueError("one ring header carries frames of one ring")
    if ring is None:
        if len(frames) != 1 or first.frame is None:
            raise ValueError("frames kept as arrays are sent one by one")
        if read_at is not None:
            extra["read_at"] = read_at
        transport.send_frame(
            socket, transport.TOPIC_FRAMES, first.seq, first.t, first.frame, flags=flags, **extra
        )
        return
    entries = [(kept.slot, kept.seq, kept.t, read) for kept in frames]
    if pipe is not None:
        pipe.send(transport.pack_ring_header(ring.prefix, entries))
    else:
        transport.send_ring_frames(
            socket, transport.TOPIC_FRAMES, ring.prefix, entries, flags, **extra
        )


def _reserve_ahead(ring: FrameRing, stop: int) -> None:
    """Reserve ring memory in a thread, so the acquisition's loop does not wait for it.

    A failure (``/dev/shm`` full) is left to :meth:`FrameRing.claim`, which meets it again for
    the first frame that needs the slot and reports it there (that frame travels in the
    message).
    """
    with contextlib.suppress(OSError):
        ring.reserve_to(stop)


class FrameKeeper:
    """The acquisition's frame rings (or none: frames then travel in the messages).

    Parameters
    ----------
    size_mb : float
        Size of each ring.
    prefix : str or None
        Rings are named ``{prefix}_{n}`` (the supervisor removes leftovers by this prefix);
        None keeps frames as arrays (no ring).
    warn : callable
        Reports why a ring could not be used (once per reason); frames then travel in the
        messages, as before the ring.
    """

    def __init__(self, size_mb: float, prefix: str | None, warn: Callable[[str], None]):
        self.size_mb = size_mb
        self.prefix = prefix
        self.warn = warn
        self.ring: FrameRing | None = None
        self.rings: dict[str, FrameRing] = {}
        self._reserver: ThreadPoolExecutor | None = None
        self._reserving: Future | None = None  # the reservation ahead in progress
        self._made = 0
        self._warned: set[str] = set()

    @property
    def ring_name(self) -> str | None:
        """The current ring's name (None: frames travel in the messages)."""
        return None if self.ring is None else self.ring.name

    def prepare(self, frame_shape: Iterable[int], dtype: Any) -> None:
        """Have a ring for frames of this shape and dtype (a new one after a camera change)."""
        shape, dtype = tuple(int(n) for n in frame_shape), np.dtype(dtype)
        ring = self.ring
        if self.prefix is None or (ring and ring.frame_shape == shape and ring.dtype == dtype):
            return
        self.ring = None
        name = f"{self.prefix}_{self._made}"
        self._made += 1
        try:
            self.ring = FrameRing(self.size_mb, shape, dtype, name=name, released_by=LOCATORS_HOLD)
        except (OSError, PyntaInputError) as error:
            self._warn_once(
                "create",
                f"frames travel in the messages (copied through the sockets): the "
                f"{self.size_mb:.0f} MB shared-memory frame ring could not be created: {error}",
            )
            return
        self.rings[name] = self.ring
        self.close_released()

    def keep(
        self, frame: np.ndarray, seq: int, t: float, readers: Iterable[str]
    ) -> KeptFrame | None:
        """Keep ``frame`` for ``readers``: copied into the ring (in this thread: the frame can
        be sent at once), else as the array itself.

        Returns None when every ring slot is held (the caller frees one or gives up).
        """
        ring = self.ring
        if ring is None or frame.shape != ring.frame_shape or frame.dtype != ring.dtype:
            return KeptFrame(seq, t, frame.nbytes, frame=frame)
        try:
            slot = ring.claim(readers, seq)
        except OSError as error:  # /dev/shm full: this frame travels in the messages
            self._warn_once(
                "reserve",
                f"frames travel in the messages while the shared-memory frame ring cannot "
                f"grow: {error}",
            )
            return KeptFrame(seq, t, frame.nbytes, frame=frame)
        if slot is None:
            return None
        ring.write(slot, frame, seq)
        if slot + RESERVE_SLOTS >= ring.reserved_slots:  # the ring grows: reserve ahead
            self._reserve_ahead(ring, slot + 2 * RESERVE_SLOTS)
        return KeptFrame(seq, t, frame.nbytes, ring=ring, slot=slot)

    def _reserve_ahead(self, ring: FrameRing, stop: int) -> None:
        """Reserve the slots below ``stop`` in the reservation thread (unless one is running)."""
        if self._reserving is not None and not self._reserving.done():
            return
        if self._reserver is None:
            self._reserver = ThreadPoolExecutor(1, thread_name_prefix="pynta-ring-reserve")
        self._reserving = self._reserver.submit(_reserve_ahead, ring, stop)

    def close_released(self) -> None:
        """Close the rings of earlier frame shapes that no reader holds any more."""
        for name, ring in list(self.rings.items()):
            if ring is not self.ring and ring.n_free == ring.n_slots:
                ring.close()
                del self.rings[name]

    def close(self) -> None:
        """Finish the reservation in progress, close (unlink) every ring."""
        if self._reserver is not None:
            self._reserver.shutdown(wait=True)
            self._reserver = None
            self._reserving = None
        for ring in self.rings.values():
            ring.close()
        self.rings.clear()
        self.ring = None

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warn(text)
