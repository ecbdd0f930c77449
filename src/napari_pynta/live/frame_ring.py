"""Frames in shared memory: a ring of fixed-size slots that readers in other processes view.

On one host the pixels need not travel through sockets: the acquisition copies each frame once
into a slot of a :class:`FrameRing` (a ``multiprocessing.shared_memory`` block sized in MB, like
the replay buffer) and sends only a small header (:meth:`FrameRing.header`: ring name, slot,
seq, time, shape, dtype) over ZeroMQ. A reader (:class:`RingReader`) attached to the ring by name
gets a read-only numpy view of the slot, without a copy, and tells the writer when it is done
(:meth:`FrameRing.release`). A slot is reused only after every reader it was handed to released
it, so a frame kept for the saver stays intact until the saver acknowledged it (the replay-buffer
guarantee); when the next slot is still held, :meth:`FrameRing.put` returns None and the writer
decides (wait, skip the frame for optional readers, stop the recording).

Slots are handed out in order (a ring), so a slot held by a slow reader blocks the ring even if
later slots are free: frames leave the ring in the order they came, as from the replay buffer.
The writer owns the bookkeeping (which reader holds which slot); only pixels are shared.
"""

from __future__ import annotations

from collections.abc import Iterable
from multiprocessing import resource_tracker, shared_memory
from typing import Any

import numpy as np

from napari_pynta.errors import PyntaInputError, require_positive

#: fewest slots a ring may have (one being written while another is read)
MIN_SLOTS = 2


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

    Use as a context manager, or call :meth:`close`: the shared memory is then unlinked.
    """

    def __init__(self, size_mb: float, frame_shape: tuple[int, ...], dtype: Any):
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
        self._memory = shared_memory.SharedMemory(create=True, size=self.n_slots * self.frame_bytes)
        self._slots = _slot_arrays(self._memory, self.n_slots, self.frame_shape, self.dtype)
        for array in self._slots:  # map every page now, not while frames are being written
            array.fill(0)
        self._holders: list[set[str]] = [set() for _ in range(self.n_slots)]
        self._next = 0

    @property
    def name(self) -> str:
        """Name of the shared memory block (readers attach with it)."""
        return self._memory.name

    @property
    def n_free(self) -> int:
        """Slots no reader holds."""
        return sum(not holders for holders in self._holders)

    def put(self, frame: np.ndarray, readers: Iterable[str]) -> int | None:
        """Copy ``frame`` into the next slot and hand it to ``readers``.

        Parameters
        ----------
        frame : ndarray
            A frame of the ring's shape and dtype.
        readers : iterable of str
            Who must release the slot before it is reused (at least one).

        Returns
        -------
        int or None
            The slot, or None if the next slot is still held (nothing was written).
        """
        holders = set(readers)
        if not holders:
            raise ValueError("a frame must be handed to at least one reader")
        if frame.shape != self.frame_shape or frame.dtype != self.dtype:
            raise ValueError(
                f"frame {frame.shape} {frame.dtype} does not fit the ring's slots "
                f"{self.frame_shape} {self.dtype}"
            )
        slot = self._next
        if self._holders[slot]:
            return None
        np.copyto(self._slots[slot], frame)
        self._holders[slot] = holders
        self._next = (slot + 1) % self.n_slots
        return slot

    def release(self, slot: int, reader: str) -> None:
        """``reader`` is done with ``slot`` (releasing twice, or a slot not held, is ignored)."""
        if 0 <= slot < self.n_slots:
            self._holders[slot].discard(reader)

    def release_all(self, reader: str) -> None:
        """Forget ``reader`` everywhere (it died or left: its slots must not block the ring)."""
        for holders in self._holders:
            holders.discard(reader)

    def header(self, slot: int, seq: int, t: float) -> dict[str, Any]:
        """The message header that lets a reader find the frame in ``slot``."""
        return {
            "ring": self.name,
            "slot": int(slot),
            "n_slots": self.n_slots,
            "seq": int(seq),
            "t": float(t),
            "shape": list(self.frame_shape),
            "dtype": self.dtype.str,
        }

    def close(self) -> None:
        """Release and unlink the shared memory (readers' views stay valid until they close)."""
        self._slots = []
        self._memory.close()
        try:
            self._memory.unlink()
        except FileNotFoundError:
            pass

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
    """

    def __init__(self, header: dict[str, Any]):
        self.name = str(header["ring"])
        self.n_slots = int(header["n_slots"])
        self.frame_shape = tuple(int(n) for n in header["shape"])
        self.dtype = np.dtype(header["dtype"])
        self._memory = _attach(self.name)
        self._slots = _slot_arrays(self._memory, self.n_slots, self.frame_shape, self.dtype)
        for array in self._slots:
            array.flags.writeable = False

    def view(self, header: dict[str, Any]) -> np.ndarray:
        """The frame a header points to, as a read-only view (valid until released)."""
        if header["ring"] != self.name:
            raise ValueError(f"header of ring {header['ring']!r}, this reader maps {self.name!r}")
        slot = int(header["slot"])
        if not 0 <= slot < self.n_slots:
            raise ValueError(f"slot {slot} outside the ring's {self.n_slots} slots")
        return self._slots[slot]

    def close(self) -> None:
        """Unmap the ring (views obtained from it must no longer be used)."""
        self._slots = []
        self._memory.close()

    def __enter__(self) -> RingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
