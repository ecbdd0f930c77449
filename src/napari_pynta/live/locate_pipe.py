"""The locators' ring headers through a kernel pipe (a named FIFO), not a ZeroMQ message.

A frame in the shared-memory ring reaches the locator pool as its binary ring header
(:func:`~napari_pynta.live.transport.pack_ring_header`: the ring's layout and one frame's slot,
seq, t, read_at) written into one FIFO that every locator reads. A ZeroMQ message crosses four
threads (the sender, its I/O thread, the receiver's I/O thread, the receiver) and those wake-ups
set the per-frame rate of the fast path; a pipe is one ``write`` and one ``read`` system call.

Every header is one fixed-size record of :data:`RECORD_BYTES` (its length, the header, zero
padding), at most ``PIPE_BUF``, so each write is atomic, and a reader reads exactly one record:
the kernel serialises the reads of a pipe, so each locator gets whole records and each record
goes to exactly one locator. An idle locator takes the next frame (work stealing, where PUSH
hands frames round robin to locators that may still be busy). Both sides open the FIFO
``O_RDWR | O_NONBLOCK``: opening never blocks, a side that goes away (stopped, killed) causes
no EOF and no ``SIGPIPE``, and records a killed locator did not read are read by the others.

Both ends remember the ring of the last record (its prefix is the same for every frame of a
ring): the writer packs a frame's record with one ``struct`` call (:meth:`LocatePipe.send_frame`),
the reader recognises a record of that ring by its first bytes and unpacks only the frame's
entry, checked as :func:`~napari_pynta.live.transport.decode_ring` checks it; any other record
goes through ``decode_ring``. Per 512² frame this is part of the fixed cost that decides how
close the transport comes to a memcpy (docs/live-pipeline.md).

The writer bounds the records waiting in the pipe (:meth:`LocatePipe.waiting`, the kernel's
count of unread bytes) as the locate socket's high-water mark bounded its queue: the frames
behind wait in the acquisition's tracking queue, where the oldest can still be skipped. The
FIFO lives in the pipeline's private endpoint directory (removed on stop); without one, or
without ``os.mkfifo`` (Windows), the headers travel over the locate socket as before.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from array import array
from collections.abc import Callable
from typing import Any

import zmq

from napari_pynta.live import transport

if sys.platform != "win32":  # Windows has no FIFOs: fifo_path gives None there
    import fcntl
    import termios

#: bytes of one record: its header's length (uint16), the header, zero padding; a ring header
#: of one frame is at most ~170 bytes (a 100-character ring name, 4 dimensions); below the
#: POSIX ``PIPE_BUF`` (512), so a write is atomic
RECORD_BYTES = 256
_LENGTH = struct.Struct("<H")
#: a record: the header's length, the header padded with zeros (``struct`` pads ``s`` fields)
_RECORD = struct.Struct(f"<H{RECORD_BYTES - _LENGTH.size}s")
#: bytes of a one-frame header after the ring's prefix
_ONE = transport.RING_ONE.size
#: records that may wait in the pipe, unread by any locator (the locate socket's high-water mark)
PIPE_FRAMES = 2
#: the FIFO's name in the pipeline's endpoint directory
FIFO_NAME = "locate.fifo"


def _frame_record(prefix: bytes) -> struct.Struct:
    """The packer of a record of one frame of the ring of ``prefix``: the header's length, the
    prefix, :data:`~napari_pynta.live.transport.RING_ONE`, zero padding (``x``: zeros).

    Raises
    ------
    ValueError
        If the header does not fit in a record.
    """
    padding = RECORD_BYTES - _LENGTH.size - len(prefix) - _ONE
    if padding < 0:
        raise ValueError(f"a ring header of {len(prefix) + _ONE} bytes does not fit in a record")
    return struct.Struct(f"<H{len(prefix)}s{transport.RING_ONE.format[1:]}{padding}x")


def fifo_path(directory: str | None) -> str | None:
    """The locators' FIFO in the endpoint ``directory`` (None: no directory, or no FIFOs here)."""
    if directory is None or not hasattr(os, "mkfifo"):
        return None
    return os.path.join(directory, FIFO_NAME)


class LocatePipe:
    """One end of the locators' FIFO (the acquisition writes, every locator reads).

    Parameters
    ----------
    path : str
        The FIFO; made (mode 0600) if it does not exist yet, by whichever side comes first.

    Raises
    ------
    OSError
        If the FIFO cannot be made or opened (e.g. its directory is gone).
    """

    def __init__(self, path: str):
        with contextlib.suppress(FileExistsError):
            os.mkfifo(path, 0o600)
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self._count = array("i", [0])
        # at least as many records as wait unread (what the kernel said last, plus the records
        # written since): the kernel is asked again only when this reaches a send's limit
        self._unread_at_most = 0
        # the ring written last: its prefix and the packer of a record of one of its frames
        self._packer: tuple[bytes, struct.Struct] | None = None
        # the ring read last: a record of one of its frames starts with ``_head`` (the length
        # of its header, then the ring's prefix); ``_layout`` is the ring's checked layout
        self._head: bytes | None = None
        self._layout: dict[str, Any] = {}

    def fileno(self) -> int:
        """The descriptor (poll it for reading: a record is waiting)."""
        return self.fd

    def waiting(self) -> int:
        """Records in the pipe that no locator has read yet."""
        fcntl.ioctl(self.fd, termios.FIONREAD, self._count)
        self._unread_at_most = self._count[0] // RECORD_BYTES
        return self._unread_at_most

    def send(self, header: bytes, limit: int = PIPE_FRAMES) -> None:
        """Write one ring header as one record.

        Raises
        ------
        zmq.Again
            When ``limit`` records already wait (or the pipe is full), like a full socket:
            nothing was written.
        ValueError
            If the header does not fit in a record.
        """
        if len(header) > RECORD_BYTES - _LENGTH.size:
            raise ValueError(f"a ring header of {len(header)} bytes does not fit in a record")
        self._write(_RECORD.pack(len(header), header), limit)

    def send_frame(
        self,
        prefix: bytes,
        slot: int,
        seq: int,
        t: float,
        read_at: float,
        limit: int = PIPE_FRAMES,
    ) -> None:
        """Write the ring header of one frame as one record: the same bytes as
        ``send(pack_ring_header(prefix, [(slot, seq, t, read_at)]))``, packed at once.

        Parameters
        ----------
        prefix : bytes
            The ring's :attr:`~napari_pynta.live.frame_ring.FrameRing.prefix`.
        slot, seq, t, read_at
            The frame's entry (``read_at`` NaN: none).

        Raises
        ------
        zmq.Again
            As :meth:`send`.
        ValueError
            If the header does not fit in a record.
        """
        packer = self._packer
        if packer is None or packer[0] is not prefix:  # a ring's prefix is one bytes object
            packer = self._packer = (prefix, _frame_record(prefix))
        self._write(packer[1].pack(len(prefix) + _ONE, prefix, 1, slot, seq, t, read_at), limit)

    def _write(self, record: bytes, limit: int) -> None:
        """Write one record unless ``limit`` records wait unread (``zmq.Again``)."""
        # the kernel's count (a system call) only when the records written since it was last
        # asked could have reached the limit: readers only ever take records away
        if self._unread_at_most >= limit and self.waiting() >= limit:
            raise zmq.Again()
        try:
            os.write(self.fd, record)
        except BlockingIOError:
            raise zmq.Again() from None
        self._unread_at_most += 1

    def receive(self) -> transport.Message | None:
        """The frame of the next record, or None if none is waiting.

        Raises
        ------
        BadMessage
            If the record is not a whole record holding the ring header of one frame (it is
            consumed).
        """
        try:
            record = os.read(self.fd, RECORD_BYTES)
        except BlockingIOError:  # another locator took it, or none was there
            return None
        if len(record) != RECORD_BYTES:
            raise transport.BadMessage("cut pipe record", f"{len(record)} bytes")
        if self._head is not None and record.startswith(self._head):  # the ring read last
            count, slot, seq, t, read_at = transport.RING_ONE.unpack_from(record, len(self._head))
            if count == 1 and slot < self._layout["n_slots"]:  # else: refused below
                return transport.ring_message(
                    transport.TOPIC_FRAMES, self._layout, slot, seq, t, read_at
                )
        (length,) = _LENGTH.unpack_from(record)
        header = record[_LENGTH.size : _LENGTH.size + length]
        if length > RECORD_BYTES - _LENGTH.size or header[:1] != transport.RING_MAGIC[:1]:
            raise transport.BadMessage("not a ring header in the pipe", f"{length} bytes")
        messages = transport.decode_ring(transport.TOPIC_FRAMES, header)
        if len(messages) != 1:
            raise transport.BadMessage("a batch of ring frames where one message was expected")
        # a header of one frame: the prefix, then RING_ONE; the next records of this ring are
        # recognised by their first bytes
        self._layout = transport.ring_layout(header[: length - _ONE])
        self._head = record[: _LENGTH.size + length - _ONE]
        return messages[0]

    def close(self) -> None:
        """Close this end (the FIFO itself goes with the endpoint directory)."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1


def open_pipe(path: str | None, warn: Callable[[str], None]) -> LocatePipe | None:
    """The FIFO at ``path``, or None (no path; or it cannot be opened, which ``warn`` reports:
    the headers then travel over the locate socket)."""
    if path is None:
        return None
    try:
        return LocatePipe(path)
    except OSError as error:
        warn(f"ring headers go over the locate socket: its pipe cannot be opened: {error}")
        return None
