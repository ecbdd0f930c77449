"""Frames in shared memory: a ring of fixed-size slots that readers in other processes view.

On one host the pixels need not travel through sockets: the acquisition copies each frame once
into a slot of a :class:`FrameRing` (a ``multiprocessing.shared_memory`` block sized in MB, like
the replay buffer) and sends only a small header (:meth:`FrameRing.header`: ring name, slot,
seq, time, shape, dtype) over ZeroMQ. A reader (:class:`RingReader`, or :class:`RingViews` for
messages) attached to the ring by name gets a read-only numpy view of the slot, without a copy,
and tells the writer when it is done. A slot is reused only after
every reader it was handed to released it, so a frame kept for the saver stays intact until the
saver acknowledged it (the replay-buffer guarantee); when the next slot is still held,
:meth:`FrameRing.put` returns None and the writer decides (skip the frame for optional readers,
:meth:`FrameRing.reclaim` a slot an optional reader never gave back, stop the recording).

A reader gives a slot back in one of two ways. Through the writer's bookkeeping
(:meth:`FrameRing.release`), e.g. when the saver's acknowledgement reaches the writer. Or, for
the ``released_by`` hold of the ring (the locator pool), through the shared memory itself:
one release cell per slot (int64) into which the reader that got the frame writes its seq when
it is done (:meth:`RingReader.release`, :meth:`RingViews.release`); the writer compares the
cells with the seqs it handed out whenever it looks for a slot, so a slot is free again at once,
without a message, a socket or a wake-up on either side. A frame in a slot is handed to one
reader of the hold at a time (the locators' pipe gives each header to one locator), so each cell has
one writer at a time and needs no atomics (the writer resets it when it hands the slot out,
while no reader holds it); a reader writes its seq only while the slot's stamp
still names its frame (after a :meth:`FrameRing.reclaim`, the frame written there since is not
released by the reader of the old one).

The next frame goes to the lowest free slot, so a slow reader holding one slot blocks nothing,
and a shallow backlog cycles through a few slots that stay in the processors' caches (a frame
is read while it is still cached, the next copy into a slot is a cache-warm one) and are the
only memory touched: the block's pages are
reserved slot by slot when first used (``posix_fallocate``: a full ``/dev/shm`` is an
``OSError`` for that frame, never a SIGBUS). The writer owns the bookkeeping (which reader holds
which slot, the order of frames is the saver's seq); only pixels are shared, plus
one stamp per slot (the seq of the frame in it, -1 while it is being written) and the release
cells, so a reader can
check that a slot still holds its frame (:meth:`RingReader.intact`) after using it: a reclaimed
slot is never mistaken for the frame it held.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import heapq
import os
import re
from collections.abc import Iterable
from multiprocessing import resource_tracker, shared_memory
from typing import Any

import numpy as np

from napari_pynta.errors import PyntaInputError, require_positive
from napari_pynta.live import transport
from napari_pynta.live.transport import BadMessage, Message

#: fewest slots a ring may have (one being written while another is read)
MIN_SLOTS = 2
#: slots reserved at once when the ring grows into memory not used before
RESERVE_SLOTS = 16
#: a ring's name: letters, digits and underscores (a header naming anything else is refused)
RING_NAME = re.compile(r"[A-Za-z0-9_]{1,100}")
#: where POSIX shared memory blocks appear as files (Linux)
SHM_DIR = "/dev/shm"
#: the stamp of a slot being written (no frame)
WRITING = -1
#: what the writer expects in the release cell of a slot its ``released_by`` hold does not hold
#: (never a seq, never what a cell holds: cells start at :data:`WRITING`)
NOT_EXPECTED = -2
#: up to this many slots awaiting a release through their cells, :meth:`FrameRing.collect` reads
#: those cells one by one (a fifth of the time of one numpy comparison of all of them, while the
#: readers keep up); beyond it (readers far behind) it compares all the cells at once
FEW_AWAITED = 16


def _stamp_offset(n_slots: int, frame_bytes: int) -> int:
    """Where the slot stamps (int64, one per slot) start: after the pixels, 8-byte aligned; the
    release cells (int64, one per slot) follow them."""
    return -(-n_slots * frame_bytes // 8) * 8


def _block_size(n_slots: int, frame_bytes: int) -> int:
    """Bytes of a ring's block: pixels, stamps, release cells."""
    return _stamp_offset(n_slots, frame_bytes) + 2 * 8 * n_slots


def _ints(array: np.ndarray) -> memoryview:
    """The int64 ``array`` as a memoryview: an item reads or writes a Python int in a tenth of a
    microsecond, half the time numpy takes for one item (the stamps and the release cells are
    read and written one at a time for every frame)."""
    return memoryview(array.data).cast("B").cast("q")


class FrameRing:
    """The writer's side: owns the shared memory and the slot bookkeeping.

    Parameters
    ----------
    size_mb : float
        Memory for the ring (MB = 10^6 bytes); it holds ``size_mb // frame size`` slots, at least
        :data:`MIN_SLOTS`.
    frame_shape : tuple of int
        Shape of every frame.
    dtype : numpy dtype
        Pixel type of every frame.
    name : str or None
        Name of the shared memory block (:data:`RING_NAME`); None lets Python choose one.
    released_by : str or None
        The hold that readers give back through the release cells (:meth:`RingReader.release`)
        instead of :meth:`release`; None: every hold is released through :meth:`release`.

    Raises
    ------
    PyntaInputError
        If ``size_mb`` cannot hold :data:`MIN_SLOTS` frames.
    OSError
        If the block cannot be created (e.g. ``/dev/shm`` has less room than ``size_mb``).

    Use as a context manager, or call :meth:`close`: the shared memory is then unlinked.
    """

    def __init__(
        self,
        size_mb: float,
        frame_shape: tuple[int, ...],
        dtype: Any,
        name: str | None = None,
        released_by: str | None = None,
    ):
        size_bytes = require_positive("size_mb", size_mb) * 1e6
        self.frame_shape = tuple(int(n) for n in frame_shape)
        self.dtype = np.dtype(dtype)
        self.frame_bytes = int(np.prod(self.frame_shape)) * self.dtype.itemsize
        if self.frame_bytes <= 0:
            raise PyntaInputError(f"frame_shape must have pixels, got {frame_shape!r}")
        self.n_slots = int(size_bytes // self.frame_bytes)
        if self.n_slots < MIN_SLOTS:
            raise PyntaInputError(
                f"size_mb must hold at least {MIN_SLOTS} frames of "
                f"{self.frame_bytes / 1e6:.3g} MB, got {size_mb!r}"
            )
        if name is not None and not RING_NAME.fullmatch(name):
            raise PyntaInputError(f"name must match {RING_NAME.pattern}, got {name!r}")
        stamps_at = _stamp_offset(self.n_slots, self.frame_bytes)
        size = _block_size(self.n_slots, self.frame_bytes)
        _check_room(size)
        self._memory = shared_memory.SharedMemory(name=name, create=True, size=size)
        try:
            _reserve(self._memory, stamps_at, size - stamps_at)
        except OSError:
            self._memory.close()
            self._memory.unlink()
            raise
        self._slots = _slot_arrays(self._memory, self.n_slots, self.frame_shape, self.dtype)
        self._stamps = np.ndarray((self.n_slots,), np.int64, self._memory.buf, stamps_at)
        self._stamps[:] = WRITING
        self._cells = np.ndarray(
            (self.n_slots,), np.int64, self._memory.buf, stamps_at + 8 * self.n_slots
        )
        self._cells[:] = WRITING
        self._stamp_ints, self._cell_ints = _ints(self._stamps), _ints(self._cells)
        # the slots the ``released_by`` hold awaits and the seq each one's cell must show to
        # release it; the same as an array (NOT_EXPECTED: none), compared at once when many wait
        self._awaited: dict[int, int] = {}
        self._expected = np.full(self.n_slots, NOT_EXPECTED, np.int64)
        self._expected_ints = _ints(self._expected)
        self._match = np.zeros(self.n_slots, bool)  # where a cell shows its expected seq
        # who holds each slot: one bit per reader (bits given out in order of first use)
        self._reader_bits: dict[str, int] = {}
        self.released_by = released_by
        self._released_bit = 0 if released_by is None else self._bits([released_by])
        self._held = [0] * self.n_slots
        self._seqs = [WRITING] * self.n_slots
        self._free = list(range(self.n_slots))  # a heap: the lowest free slot first
        self._reserved = 0  # slots below this have their memory reserved
        self._fixed = {
            "kind": "ring",
            "ring": self.name,
            "n_slots": self.n_slots,
            "shape": self.frame_shape,
            "dtype": self.dtype.str,
        }
        #: the first bytes of every message header of this ring (see ``transport.ring_prefix``)
        self.prefix = transport.ring_prefix(
            self.name, self.n_slots, self.frame_shape, self.dtype.str
        )

    @property
    def name(self) -> str:
        """Name of the shared memory block (readers attach with it)."""
        return self._memory.name

    @property
    def n_free(self) -> int:
        """Slots no reader holds."""
        self.collect()
        return len(self._free)

    def collect(self) -> None:
        """Free the ``released_by`` holds whose readers wrote their release cells."""
        awaited = self._awaited
        if not awaited:
            return
        if len(awaited) <= FEW_AWAITED:  # the readers keep up: this runs for every frame kept
            cells = self._cell_ints
            released = [slot for slot, seq in awaited.items() if cells[slot] == seq]
        elif np.count_nonzero(np.equal(self._cells, self._expected, self._match)):
            released = self._match.nonzero()[0].tolist()
        else:
            return
        for slot in released:
            self._forget(slot)
            self._drop(slot, self._released_bit)

    def _forget(self, slot: int) -> None:
        """No release through ``slot``'s cell is awaited any more."""
        if self._awaited.pop(slot, None) is not None:
            self._expected_ints[slot] = NOT_EXPECTED

    def holders(self, slot: int) -> frozenset[str]:
        """The readers that still hold ``slot``."""
        self.collect()
        held = self._held[slot]
        return frozenset(reader for reader, bit in self._reader_bits.items() if held & bit)

    def oldest_held_only_by(self, reader: str) -> int | None:
        """The slot with the oldest frame that only ``reader`` holds (None if there is none)."""
        self.collect()
        bit = self._reader_bits.get(reader)
        held = [s for s, mask in enumerate(self._held) if bit is not None and mask == bit]
        return min(held, key=self._seqs.__getitem__, default=None)

    def _bits(self, readers: Iterable[str]) -> int:
        """The holder bits of ``readers`` (a reader seen for the first time gets a new bit)."""
        mask = 0
        for reader in readers:
            bit = self._reader_bits.get(reader)
            if bit is None:
                bit = self._reader_bits[reader] = 1 << len(self._reader_bits)
            mask |= bit
        return mask

    def put(self, frame: np.ndarray, readers: Iterable[str], seq: int = 0) -> int | None:
        """Copy ``frame`` into the lowest free slot and hand it to ``readers``.

        :meth:`claim` then :meth:`write`.

        Parameters
        ----------
        frame : ndarray
            A frame of the ring's shape and dtype.
        readers : iterable of str
            Who must release the slot before it is reused (at least one).
        seq : int
            The frame's number (>= 0), stamped on the slot for :meth:`RingReader.intact`.

        Returns
        -------
        int or None
            The slot, or None if every slot is held (nothing was written).

        Raises
        ------
        OSError
            If the memory of a slot used for the first time cannot be reserved (``/dev/shm``
            full); nothing was written.
        """
        self.check(frame)
        slot = self.claim(readers, seq)
        if slot is not None:
            self.write(slot, frame, seq)
        return slot

    def check(self, frame: np.ndarray) -> None:
        """Raise ``ValueError`` unless ``frame`` has the ring's shape and dtype."""
        if frame.shape != self.frame_shape or frame.dtype != self.dtype:
            raise ValueError(
                f"frame {frame.shape} {frame.dtype} does not fit the ring's slots "
                f"{self.frame_shape} {self.dtype}"
            )

    def claim(self, readers: Iterable[str], seq: int) -> int | None:
        """Take the lowest free slot for frame ``seq`` and hand it to ``readers`` (after
        :meth:`collect`: a slot released a moment ago, still in the caches, is reused first).

        The frame must then be written with :meth:`write` before its header is sent (the
        writer may do that in another thread: numpy copies without holding the GIL). Returns
        None if every slot is held; raises ``OSError`` as :meth:`put`.
        """
        holders = self._bits(readers)
        if not holders:
            raise ValueError("a frame must be handed to at least one reader")
        self.collect()
        if not self._free:
            return None
        slot = self._free[0]
        if slot >= self._reserved:
            self.reserve_to(slot + RESERVE_SLOTS)
        heapq.heappop(self._free)
        self._seqs[slot] = seq
        self._held[slot] = holders
        if holders & self._released_bit:
            self._cell_ints[slot] = WRITING  # a frame with the seq of the last one is not released
            self._awaited[slot] = self._expected_ints[slot] = seq
        return slot

    @property
    def reserved_slots(self) -> int:
        """Slots (from the first) whose memory is reserved."""
        return self._reserved

    def reserve_to(self, stop: int) -> None:
        """Reserve the memory of the slots below ``stop`` (ahead of their first use).

        Reserving takes milliseconds (the pages are allocated and zeroed: ~6 ms for 16 slots
        of 512², ~20 ms of 1024² on the development machine), so a writer that must not stall
        calls it in another thread ahead of time; :meth:`claim` reserves what is still missing
        itself. Safe to call from another thread at the same time as :meth:`claim`.

        Raises
        ------
        OSError
            If ``/dev/shm`` has no room for them.
        """
        start, stop = self._reserved, min(self.n_slots, stop)
        if stop > start:
            _reserve(self._memory, start * self.frame_bytes, (stop - start) * self.frame_bytes)
            self._reserved = max(self._reserved, stop)

    def write(self, slot: int, frame: np.ndarray, seq: int) -> None:
        """Copy frame ``seq`` into ``slot`` (claimed for it) and stamp the slot with ``seq``."""
        # stamp "being written" first: a reader that checks the stamp after using a slot that
        # was reclaimed under it sees the change even while the pixels are being replaced
        stamps = self._stamp_ints
        stamps[slot] = WRITING
        np.copyto(self._slots[slot], frame)
        stamps[slot] = seq

    def release(self, slot: int, reader: str, seq: int | None = None) -> None:
        """``reader`` is done with ``slot`` (releasing twice, or a slot not held, is ignored).

        With ``seq``, only if the slot still holds that frame (a late release of a reclaimed
        slot must not free the frame written there since).
        """
        if not 0 <= slot < self.n_slots or (seq is not None and self._seqs[slot] != seq):
            return
        bit = self._reader_bits.get(reader, 0)
        if bit == self._released_bit:
            self._forget(slot)
        self._drop(slot, bit)

    def _drop(self, slot: int, bit: int) -> None:
        """The reader of ``bit`` no longer holds ``slot``; free it if nobody else does."""
        held = self._held[slot]
        if held & bit:
            self._held[slot] = held = held & ~bit
            if not held:
                heapq.heappush(self._free, slot)

    def release_all(self, reader: str) -> None:
        """Forget ``reader`` everywhere (it died or left: its slots must not block the ring)."""
        for slot in range(self.n_slots):
            self.release(slot, reader)

    def reclaim(self, slot: int) -> None:
        """Free ``slot`` whoever holds it: for optional readers that never gave it back.

        A reader still using the slot notices through :meth:`RingReader.intact` once the slot
        is rewritten; never reclaim a slot the saver holds.
        """
        if self._held[slot]:
            self._held[slot] = 0
            self._forget(slot)
            heapq.heappush(self._free, slot)

    def header(self, slot: int, seq: int, t: float) -> dict[str, Any]:
        """The header a reader gets for the frame in ``slot`` (what the message of
        :func:`~napari_pynta.live.transport.send_ring_frames` with :attr:`prefix` decodes to)."""
        return {**self._fixed, "slot": int(slot), "seq": int(seq), "t": float(t)}

    def close(self) -> None:
        """Release and unlink the shared memory (readers' views stay valid until they close)."""
        self._slots = []
        self._stamps = self._cells = np.empty(0, np.int64)
        self._stamp_ints = self._cell_ints = _ints(self._stamps)
        self._memory.close()
        with contextlib.suppress(FileNotFoundError):
            self._memory.unlink()

    def __enter__(self) -> FrameRing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RingReader:
    """A reader's side: read-only views of the slots of a ring created by another process.

    Parameters
    ----------
    header : dict
        Any header made by :meth:`FrameRing.header` for this ring (names the block and gives the
        slot layout).

    Raises
    ------
    FileNotFoundError
        If the ring no longer exists.
    ValueError
        If the block is smaller than the header's layout says.
    """

    def __init__(self, header: dict[str, Any]):
        self.name = str(header["ring"])
        self.n_slots = int(header["n_slots"])
        self.frame_shape = tuple(int(n) for n in header["shape"])
        self.dtype = np.dtype(header["dtype"])
        frame_bytes = int(np.prod(self.frame_shape)) * self.dtype.itemsize
        stamps_at = _stamp_offset(self.n_slots, frame_bytes)
        if not RING_NAME.fullmatch(self.name):
            raise ValueError(f"not a ring name: {self.name[:80]!r}")
        self._memory = _attach(self.name)
        if self._memory.size < _block_size(self.n_slots, frame_bytes) or frame_bytes <= 0:
            self._memory.close()
            raise ValueError(f"ring {self.name!r} is smaller than its header's layout")
        self._slots = _slot_arrays(self._memory, self.n_slots, self.frame_shape, self.dtype)
        for array in self._slots:
            array.flags.writeable = False
        self._stamps = np.ndarray((self.n_slots,), np.int64, self._memory.buf, stamps_at)
        self._stamps.flags.writeable = False
        # the release cells: the only memory of the ring a reader writes
        cells_at = stamps_at + 8 * self.n_slots
        self._cells = np.ndarray((self.n_slots,), np.int64, self._memory.buf, cells_at)
        self._stamp_ints, self._cell_ints = _ints(self._stamps), _ints(self._cells)

    def view(self, header: dict[str, Any]) -> np.ndarray:
        """The frame a header points to, as a read-only view (valid until released)."""
        if header["ring"] != self.name:
            raise ValueError(f"header of ring {header['ring']!r}, this reader maps {self.name!r}")
        slot = int(header["slot"])
        if not 0 <= slot < self.n_slots:
            raise ValueError(f"slot {slot} outside the ring's {self.n_slots} slots")
        return self._slots[slot]

    def intact(self, header: dict[str, Any]) -> bool:
        """True if the slot still holds the header's frame (check after using the view)."""
        return self._stamp_ints[header["slot"]] == header["seq"]

    def release(self, header: dict[str, Any]) -> None:
        """Give the header's slot back to the writer (its ``released_by`` hold) through the
        slot's release cell; nothing if the slot was rewritten since (it holds another frame).
        """
        slot, seq = header["slot"], header["seq"]
        if self._stamp_ints[slot] == seq:
            self._cell_ints[slot] = seq

    def close(self) -> None:
        """Unmap the ring (views obtained from it must no longer be used).

        Raises
        ------
        BufferError
            If views of it are still alive (the ring stays mapped).
        """
        slots, stamps, cells = self._slots, self._stamps, self._cells
        self._slots, self._stamps = [], np.empty(0, np.int64)
        self._cells = np.empty(0, np.int64)
        self._stamp_ints = self._cell_ints = _ints(self._cells)
        try:
            self._memory.close()
        except BufferError:
            self._slots, self._stamps, self._cells = slots, stamps, cells
            self._stamp_ints, self._cell_ints = _ints(stamps), _ints(cells)
            raise

    def __enter__(self) -> RingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RingViews:
    """The frames of received messages, for a worker that may get them either way.

    A ``frame`` message carries its pixels; a ``ring`` message points into a ring, which is
    attached on first use (and again when the writer starts a new ring, e.g. after a camera
    change). Problems (a ring that no longer exists, a slot outside it) raise
    :class:`~napari_pynta.live.transport.BadMessage` like any bad message.
    """

    def __init__(self) -> None:
        self._reader: RingReader | None = None
        self._retired: list[RingReader] = []

    @property
    def ring(self) -> str | None:
        """Name of the ring attached last (None before the first ring message)."""
        return None if self._reader is None else self._reader.name

    def frame(self, message: Message) -> np.ndarray:
        """The message's frame: its pixels, or a read-only view of its ring slot."""
        header = message.header
        if header.get("kind") != "ring":
            if not isinstance(message.data, np.ndarray):
                raise BadMessage("not a frame", repr(header.get("kind"))[:80])
            return message.data
        reader = self._reader
        if reader is None or header["ring"] != reader.name:  # a ring's layout never changes
            try:
                attached = RingReader(header)
            except (OSError, ValueError) as error:
                raise BadMessage("cannot attach the frame ring", str(error)[:80]) from None
            if reader is not None:
                self._retired.append(reader)
            self._reader = reader = attached
        try:
            return reader.view(header)
        except ValueError as error:
            raise BadMessage("bad ring slot", str(error)[:80]) from None

    def intact(self, message: Message) -> bool:
        """True unless the message points into a ring slot that was rewritten since it was sent."""
        header = message.header
        if header.get("kind") != "ring" or self._reader is None:
            return True
        return self._reader.name == header["ring"] and self._reader.intact(header)

    def release(self, message: Message) -> None:
        """Give the slot of a ring message back to the writer (:meth:`RingReader.release`):
        nothing for a frame that carried its pixels or points into a ring no longer mapped."""
        header = message.header
        if header.get("kind") != "ring":
            return
        for reader in (self._reader, *self._retired):
            if reader is not None and reader.name == header["ring"]:
                reader.release(header)
                return

    def close_retired(self) -> None:
        """Unmap rings no longer written to, once no view of them is alive."""
        for reader in list(self._retired):
            with contextlib.suppress(BufferError):
                reader.close()
                self._retired.remove(reader)

    def close(self) -> None:
        """Unmap every ring (no view may be used afterwards)."""
        if self._reader is not None:
            self._retired.append(self._reader)
            self._reader = None
        self.close_retired()


def unlink_rings(names: Iterable[str] = (), prefix: str | None = None) -> list[str]:
    """Remove shared memory blocks left behind by a writer that died (SIGKILL, crash).

    Parameters
    ----------
    names : iterable of str
        Ring names to remove.
    prefix : str or None
        Also remove every block in :data:`SHM_DIR` whose name starts with it (Linux).

    Returns
    -------
    list of str
        The names that existed and were removed.
    """
    candidates = {name for name in names if RING_NAME.fullmatch(name)}
    if prefix and RING_NAME.fullmatch(prefix) and os.path.isdir(SHM_DIR):
        candidates.update(
            os.path.basename(path) for path in glob.glob(os.path.join(SHM_DIR, prefix + "*"))
        )
    removed = []
    for name in sorted(candidates):
        try:
            block = _attach(name)
        except (FileNotFoundError, OSError, ValueError):
            continue
        block.close()
        # unlink() also tells the resource tracker the writer registered it with (the
        # pipeline's processes share one), so it does not report the block as leaked
        with contextlib.suppress(FileNotFoundError):
            block.unlink()
            removed.append(name)
    return removed


def _check_room(size: int) -> None:
    """Raise ``OSError`` (ENOSPC) if :data:`SHM_DIR` has less room than ``size`` bytes."""
    if not os.path.isdir(SHM_DIR):
        return
    stats = os.statvfs(SHM_DIR)
    room = stats.f_bavail * stats.f_frsize
    if size > room:
        raise OSError(
            errno.ENOSPC,
            f"{SHM_DIR} has {room / 1e6:.0f} MB free, the ring needs {size / 1e6:.0f} MB",
        )


def _reserve(memory: shared_memory.SharedMemory, offset: int, length: int) -> None:
    """Reserve pages of the block before they are touched.

    On Linux the block is a tmpfs file: writing to a page ``/dev/shm`` has no room for kills
    the process with SIGBUS, whereas ``posix_fallocate`` raises ``OSError`` (ENOSPC).
    """
    fd = getattr(memory, "_fd", -1)
    if fd >= 0 and hasattr(os, "posix_fallocate") and length > 0:
        os.posix_fallocate(fd, offset, length)


def _attach(name: str) -> shared_memory.SharedMemory:
    """Map an existing block without registering it with the resource tracker.

    Python < 3.13 registers every attached block, and the tracker (shared by the processes a
    pipeline spawns) would unlink the writer's memory when a reader exits, or complain when the
    writer unlinks it: only the writer, which created the block, registers it.
    """
    register = resource_tracker.register
    resource_tracker.register = lambda name, rtype: None
    try:
        return shared_memory.SharedMemory(name=name)
    finally:
        resource_tracker.register = register


def _slot_arrays(
    memory: shared_memory.SharedMemory, n_slots: int, shape: tuple[int, ...], dtype: np.dtype
) -> list[np.ndarray]:
    """One array per slot over the shared block."""
    block = np.ndarray((n_slots, *shape), dtype=dtype, buffer=memory.buf)
    return [block[index] for index in range(n_slots)]
