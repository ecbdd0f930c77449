"""ZeroMQ messages of the live pipeline: frames and tables without pickle, zero-copy.

Every message is multipart ``[topic, header JSON, buffer, ...]``:

- frame: ``header = {"kind": "frame", "seq", "t", "shape", "dtype", **extra}``, one buffer (the
  pixels, C order). Sent with ``copy=False`` (ZeroMQ keeps a reference to the array until it is
  on the wire, so the sender must not modify it afterwards) and received with ``copy=False``:
  :func:`recv_frame` returns a read-only ``np.frombuffer`` view of the received message.
- table: ``header = {"kind": "table", "n", "columns": [[name, dtype], ...], **extra}``, one
  buffer per column (numeric columns only; localizations, tracks, per-track sizes). Received
  as a DataFrame, or with ``as_columns=True`` as a dict of read-only column views (no pandas:
  the linker and the sizer, per frame, where building a DataFrame cost more than linking).
- json: ``header = {"kind": "json", **payload}``, no buffer (status, heartbeats, errors, sizes).
- ring: a binary header, no buffer: one or more consecutive frames that wait in slots of a
  shared-memory ring on this host (:mod:`napari_pynta.live.frame_ring`; the receiver views them
  with ``RingViews``). It is the per-frame message of the fast path, so it is packed with
  :mod:`struct` instead of JSON: :data:`RING_MAGIC`, the length of the ring's layout, the layout
  (ring name, slots, frame shape, dtype: the same bytes for every frame of a ring, built once by
  :func:`ring_prefix`), the number of frames, then per frame :data:`RING_ENTRY` (slot, seq, t,
  read_at; NaN: none). A batch is decoded into one message per frame
  (:func:`decode_all`), each with the header ``{"kind": "ring", "ring", "n_slots", "shape",
  "dtype", "slot", "seq", "t"[, "read_at"]}``: a receiver handles a batch exactly like the
  frames one by one. A ring message may carry a third part, a JSON object of fields every frame
  of the batch shares (the saver's frames name their recording so), added to each header.

Every received message is checked before use (:func:`recv_messages`): the topic is text, the
header a JSON object of a known kind or a complete ring header, and each buffer exactly as long
as its shape and numeric dtype say. A message that fails raises :class:`BadMessage`; receivers
count it, log it once per kind and drop it (see :class:`BadMessageLog`), so nothing a socket
delivers stops a process. A ring's layout is checked once, when its first message arrives (the
last :data:`MAX_CACHED_RINGS` layouts are remembered); each frame's slot is checked every time.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import zmq

#: topics of the live pipeline
TOPIC_FRAMES = "frames"
TOPIC_LOCS = "locs"
TOPIC_TRACKS = "tracks"
TOPIC_SIZES = "sizes"
TOPIC_STATUS = "status"
TOPIC_ERROR = "error"
#: internal data-path topics: saver acknowledgements, end-of-run/recording markers, skip notices
TOPIC_ACK = "ack"
TOPIC_END = "end"
TOPIC_SKIP = "skip"
TOPICS = (TOPIC_FRAMES, TOPIC_LOCS, TOPIC_TRACKS, TOPIC_SIZES, TOPIC_STATUS, TOPIC_ERROR)
#: dtype kinds a frame or table buffer may have (bool, signed, unsigned, float)
NUMERIC_KINDS = "biuf"


class BadMessage(ValueError):
    """A received message that does not follow the protocol.

    Attributes
    ----------
    kind : str
        A short label of what is wrong (e.g. ``"header is not JSON"``), the key for logging once.
    """

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def require(header: dict[str, Any], **fields: type | tuple[type, ...]) -> None:
    """Check that ``header`` has each field with the given type (bool is not an int here).

    Raises
    ------
    BadMessage
        Naming the first missing or mistyped field.
    """
    for name, expected in fields.items():
        if name not in header:
            raise BadMessage(f"missing field {name!r}")
        value = header[name]
        types = expected if isinstance(expected, tuple) else (expected,)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise BadMessage(f"field {name!r} has the wrong type", repr(value)[:80])


class BadMessageLog:
    """Counts bad messages and logs each kind once (through ``log``), so a flood is one line."""

    def __init__(self, log: Any):
        self.log = log
        self.count = 0
        self.kinds: set[str] = set()

    def __call__(self, error: BadMessage, where: str) -> None:
        """Count ``error``; log it if its kind was not seen before."""
        self.count += 1
        if error.kind not in self.kinds:
            self.kinds.add(error.kind)
            self.log(
                f"dropped a bad message on {where} ({error}); later ones of this kind are "
                "only counted"
            )


@dataclass
class Message:
    """A received message: its topic, header and decoded payload."""

    topic: str
    header: dict[str, Any]
    data: np.ndarray | pd.DataFrame | dict[str, np.ndarray] | None


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic | np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


#: one encoder for every header (``json.dumps(..., default=...)`` builds a new one per call)
_ENCODER = json.JSONEncoder(default=_default)


def _dumps(header: dict[str, Any]) -> bytes:
    return _ENCODER.encode(header).encode()


def send_frame(
    socket: zmq.Socket,
    topic: str,
    seq: int,
    t: float,
    frame: np.ndarray,
    flags: int = 0,
    **extra: Any,
) -> None:
    """Send one frame without copying its pixels.

    Parameters
    ----------
    socket : zmq.Socket
        A PUB or PUSH socket.
    topic : str
        Usually :data:`TOPIC_FRAMES`.
    seq : int
        Monotonic frame number.
    t : float
        Camera timestamp (s).
    frame : numpy.ndarray
        The pixels; made C-contiguous if needed. Do not modify it after sending.
    flags : int
        ZeroMQ flags, e.g. ``zmq.NOBLOCK`` (raises ``zmq.Again`` when the queue is full).
    **extra
        More JSON-serialisable header fields (e.g. ``exposure_s``).
    """
    frame = np.ascontiguousarray(frame)
    header = {
        "kind": "frame",
        "seq": int(seq),
        "t": float(t),
        "shape": list(frame.shape),
        "dtype": frame.dtype.str,
        **extra,
    }
    parts: list[Any] = [topic.encode(), _dumps(header), frame]  # arrays are buffers
    socket.send_multipart(parts, flags=flags, copy=False)


def send_table(
    socket: zmq.Socket, topic: str, table: pd.DataFrame, flags: int = 0, **extra: Any
) -> None:
    """Send a numeric table as one buffer per column (no pickle).

    Parameters
    ----------
    socket : zmq.Socket
        A PUB or PUSH socket.
    topic : str
        :data:`TOPIC_LOCS`, :data:`TOPIC_TRACKS` or :data:`TOPIC_SIZES`.
    table : pandas.DataFrame
        Numeric columns only (ints, floats, bools).
    flags : int
        ZeroMQ flags.
    **extra
        More JSON-serialisable header fields (e.g. ``seq`` of the frame).
    """
    columns = {str(name): values.to_numpy() for name, values in table.items()}
    send_columns(socket, topic, columns, flags, **extra)


def send_columns(
    socket: zmq.Socket, topic: str, columns: dict[str, np.ndarray], flags: int = 0, **extra: Any
) -> None:
    """Send a table given as its columns (the message of :func:`send_table`, without pandas).

    Parameters
    ----------
    socket : zmq.Socket
        A PUB or PUSH socket.
    topic : str
        :data:`TOPIC_LOCS`, :data:`TOPIC_TRACKS` or :data:`TOPIC_SIZES`.
    columns : dict of str to ndarray
        Numeric 1-D arrays of equal length, in column order.
    flags : int
        ZeroMQ flags.
    **extra
        More JSON-serialisable header fields (e.g. ``seq`` of the frame).
    """
    arrays = [np.ascontiguousarray(values) for values in columns.values()]
    lengths = {len(values) for values in arrays}
    if len(lengths) > 1:
        raise ValueError(f"table columns differ in length: {sorted(lengths)}")
    for name, values in zip(columns, arrays, strict=True):
        if values.dtype.kind not in "biuf":
            raise TypeError(f"table column {name!r} has non-numeric dtype {values.dtype}")
    header = {
        "kind": "table",
        "n": lengths.pop() if lengths else 0,
        "columns": [[name, values.dtype.str] for name, values in zip(columns, arrays, strict=True)],
        **extra,
    }
    parts: list[Any] = [topic.encode(), _dumps(header), *arrays]  # arrays are buffers
    socket.send_multipart(parts, flags=flags, copy=False)


#: first bytes of a ring header (a JSON header never starts with a NUL byte); the digit is the
#: format's version
RING_MAGIC = b"\x00PR1"
#: magic, then the length of the prefix (magic and layout) in bytes
_RING_HEAD = struct.Struct("<4sH")
#: frames in a ring header (after the prefix)
_RING_COUNT = struct.Struct("<H")
#: one frame of a ring header: slot, seq, camera time t (s), host time read_at (s, NaN: none)
RING_ENTRY = struct.Struct("<Iqdd")
#: what follows the prefix in a header of one frame (the usual case): the count (1) and the
#: frame's entry, packed at once
RING_ONE = struct.Struct("<H" + RING_ENTRY.format[1:])
#: most frames one ring header carries
MAX_RING_BATCH = 2**16 - 1
#: the header fields of a decoded ring frame: the fields a ring message's shared part (its
#: third, JSON part) may not name
RING_FIELDS = frozenset(
    {"kind", "ring", "n_slots", "shape", "dtype", "slot", "seq", "t", "read_at"}
)


@functools.lru_cache(maxsize=16)
def ring_prefix(name: str, n_slots: int, shape: tuple[int, ...], dtype: str) -> bytes:
    """The bytes every ring header of this ring starts with (magic and layout).

    Parameters
    ----------
    name : str
        The ring's shared-memory name (ASCII).
    n_slots : int
        Slots of the ring.
    shape : tuple of int
        Shape of every frame (1 to 4 dimensions).
    dtype : str
        Numeric dtype of every frame (``numpy.dtype.str``).
    """
    name_bytes, dtype_bytes = name.encode("ascii"), dtype.encode("ascii")
    layout = struct.pack(
        f"<B{len(name_bytes)}sIB{len(shape)}IB{len(dtype_bytes)}s",
        len(name_bytes),
        name_bytes,
        n_slots,
        len(shape),
        *shape,
        len(dtype_bytes),
        dtype_bytes,
    )
    return _RING_HEAD.pack(RING_MAGIC, _RING_HEAD.size + len(layout)) + layout


def pack_ring_header(prefix: bytes, frames: Sequence[tuple[int, int, float, float]]) -> bytes:
    """The binary header of ``frames`` (each ``(slot, seq, t, read_at)``) of one ring.

    Raises
    ------
    ValueError
        If there are no frames or more than :data:`MAX_RING_BATCH`.
    """
    if not 1 <= len(frames) <= MAX_RING_BATCH:
        raise ValueError(f"a ring header carries 1..{MAX_RING_BATCH} frames, got {len(frames)}")
    if len(frames) == 1:
        return prefix + RING_ONE.pack(1, *frames[0])
    entries = itertools.starmap(RING_ENTRY.pack, frames)
    return b"".join([prefix, _RING_COUNT.pack(len(frames)), *entries])


def send_ring_frames(
    socket: zmq.Socket,
    topic: str,
    prefix: bytes,
    frames: Sequence[tuple[int, int, float, float]],
    flags: int = 0,
    **extra: Any,
) -> None:
    """Send frames that wait in a shared-memory ring: only their binary header travels (and
    ``extra``, if any, as a small JSON part).

    Parameters
    ----------
    socket : zmq.Socket
        A PUSH socket to a process on this host.
    topic : str
        Usually :data:`TOPIC_FRAMES`.
    prefix : bytes
        :func:`ring_prefix` of the ring (:attr:`FrameRing.prefix`).
    frames : sequence of (slot, seq, t, read_at)
        Consecutive frames (one message carries them all; receivers see them one by one);
        ``read_at`` NaN when there is none.
    flags : int
        ZeroMQ flags, e.g. ``zmq.NOBLOCK``.
    **extra
        More header fields every frame of the message shares (e.g. the saver's
        ``recording``): hashable JSON-serialisable values (numbers, strings), none naming a
        field of the ring header (:data:`RING_FIELDS`).

    Raises
    ------
    ValueError
        If ``extra`` names a field of the ring header.
    """
    shared = (
        _shared_part(tuple((name, type(value), value) for name, value in extra.items()))
        if extra
        else None
    )
    _send_copied(socket, topic.encode(), pack_ring_header(prefix, frames), flags, shared)


@functools.lru_cache(maxsize=16)
def _shared_part(fields: tuple[tuple[str, type, Any], ...]) -> bytes:
    """The encoded third part of a ring message carrying ``fields`` (name, type, value): the
    same for every message of a recording, encoded once (~2 µs a message otherwise); keyed by
    each value's type too, as True == 1 == 1.0 would share one encoding."""
    names = {name for name, _, _ in fields}
    if not RING_FIELDS.isdisjoint(names):
        raise ValueError(f"{sorted(RING_FIELDS & names)} are fields of the ring header")
    return _dumps({name: value for name, _, value in fields})


def send_json(socket: zmq.Socket, topic: str, payload: dict[str, Any], flags: int = 0) -> None:
    """Send a small JSON message (status, heartbeat, error, size summary)."""
    _send_copied(socket, topic.encode(), _dumps({"kind": "json", **payload}), flags)


def _send_copied(
    socket: zmq.Socket, topic: bytes, header: bytes, flags: int, extra: bytes | None = None
) -> None:
    """Send ``[topic, header]``, or ``[topic, header, extra]`` (small, copied): plain sends,
    which cost a tenth of ``send_multipart`` (~1 µs instead of ~9 µs per message with pyzmq
    27), whose per-part keyword arguments are slow; a multipart message is still delivered
    whole or not at all."""
    socket.send(topic, zmq.SNDMORE | flags)
    if extra is None:
        socket.send(header, flags)
    else:
        socket.send(header, zmq.SNDMORE | flags)
        socket.send(extra, flags)


#: numeric dtypes already parsed from headers (every message names one), at most this many
MAX_CACHED_DTYPES = 64
_DTYPES: dict[str, np.dtype] = {}


def _numeric_dtype(text: Any) -> np.dtype:
    if isinstance(text, str) and text in _DTYPES:
        return _DTYPES[text]
    try:
        dtype = np.dtype(text) if isinstance(text, str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in NUMERIC_KINDS:
        raise BadMessage("not a numeric dtype", repr(text)[:80])
    if len(_DTYPES) < MAX_CACHED_DTYPES:
        _DTYPES[text] = dtype
    return dtype


def _shape(value: Any) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= 4
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)
    ):
        raise BadMessage("bad shape", repr(value)[:80])
    return tuple(value)


def _as_array(part: zmq.Frame | bytes, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only array viewing the message's memory (no copy), its size checked first."""
    dtype = _numeric_dtype(dtype)
    buffer = part.buffer if isinstance(part, zmq.Frame) else memoryview(part)
    if buffer.nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise BadMessage(
            "buffer size does not match shape and dtype",
            f"{buffer.nbytes} bytes for {shape} {dtype.str}",
        )
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape)
    array.flags.writeable = False
    return array


#: ring layouts already checked (every ring message repeats its ring's), at most this many
MAX_CACHED_RINGS = 16
_RING_LAYOUTS: dict[bytes, dict[str, Any]] = {}


def ring_layout(prefix: bytes) -> dict[str, Any]:
    """The header fields every frame of a ring shares, from its prefix (checked once).

    Raises
    ------
    BadMessage
        If the prefix is not a ring's layout.
    """
    layout = _RING_LAYOUTS.get(prefix)
    if layout is not None:
        return layout
    try:
        at = _RING_HEAD.size
        name_length = prefix[at]
        name = prefix[at + 1 : at + 1 + name_length].decode("ascii")
        at += 1 + name_length
        n_slots, ndim = struct.unpack_from("<IB", prefix, at)
        at += 5
        shape = struct.unpack_from(f"<{ndim}I", prefix, at)
        at += 4 * ndim
        dtype_length = prefix[at]
        dtype = prefix[at + 1 : at + 1 + dtype_length].decode("ascii")
        at += 1 + dtype_length
    except (IndexError, struct.error, UnicodeDecodeError):
        raise BadMessage("damaged ring header", "its layout is cut short") from None
    if at != len(prefix) or len(name) != name_length or len(dtype) != dtype_length:
        raise BadMessage("damaged ring header", "its layout has the wrong length")
    if not name or n_slots < 1:
        raise BadMessage("damaged ring header", f"ring {name[:80]!r} of {n_slots} slots")
    layout = {
        "kind": "ring",
        "ring": name,
        "n_slots": n_slots,
        "shape": _shape(list(shape)),
        "dtype": _numeric_dtype(dtype).str,
    }
    if len(_RING_LAYOUTS) >= MAX_CACHED_RINGS:  # stray layouts must not crowd out the rings
        _RING_LAYOUTS.clear()
    _RING_LAYOUTS[prefix] = layout
    return layout


def decode_ring(topic: str, header: bytes) -> list[Message]:
    """One message per frame of a binary ring header (see the module notes), checked as
    :func:`decode_all` checks the header part of a ring message.

    Raises
    ------
    BadMessage
        If the header is damaged or cut, or names a slot outside its ring.
    """
    if len(header) < _RING_HEAD.size:
        raise BadMessage("damaged ring header", f"{len(header)} bytes")
    magic, prefix_length = _RING_HEAD.unpack_from(header)
    if magic != RING_MAGIC:
        raise BadMessage("damaged ring header", f"magic {magic!r}")
    entries_at = prefix_length + _RING_COUNT.size
    if not _RING_HEAD.size < prefix_length <= len(header) - _RING_COUNT.size:
        raise BadMessage("damaged ring header", f"{len(header)} bytes, layout of {prefix_length}")
    layout = ring_layout(header[:prefix_length])
    (count,) = _RING_COUNT.unpack_from(header, prefix_length)
    if count < 1 or len(header) != entries_at + count * RING_ENTRY.size:
        raise BadMessage(
            "damaged ring header",
            f"{len(header) - entries_at} bytes of entries for {count} frames",
        )
    n_slots = layout["n_slots"]
    if count == 1:  # the usual case: one unpack, no iterator
        entries: Any = (RING_ONE.unpack_from(header, prefix_length)[1:],)
    else:
        entries = RING_ENTRY.iter_unpack(memoryview(header)[entries_at:])
    messages = []
    for slot, seq, t, read_at in entries:
        if slot >= n_slots:
            raise BadMessage("slot outside the ring", f"{slot} of {n_slots}")
        messages.append(ring_message(topic, layout, slot, seq, t, read_at))
    return messages


def ring_message(
    topic: str, layout: dict[str, Any], slot: int, seq: int, t: float, read_at: float
) -> Message:
    """The message of one frame of a ring header whose ``layout`` (:func:`ring_layout`) and
    entry were checked (``read_at`` NaN: none)."""
    fields = {**layout, "slot": slot, "seq": seq, "t": t}
    if not math.isnan(read_at):
        fields["read_at"] = read_at
    return Message(topic, fields, None)


#: shared ring fields already decoded (every frame of a recording repeats its part), at most
#: :data:`MAX_CACHED_RINGS`; read only (each header gets a copy of the fields)
_SHARED_FIELDS: dict[bytes, dict[str, Any]] = {}


def _shared_fields(part: zmq.Frame | bytes) -> dict[str, Any]:
    """The fields the frames of a ring message share (its third part, a JSON object).

    Raises
    ------
    BadMessage
        If the part is not a JSON object, or names a field of the ring header.
    """
    raw = part.bytes if isinstance(part, zmq.Frame) else part
    fields = _SHARED_FIELDS.get(raw)
    if fields is not None:
        return fields
    try:
        fields = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BadMessage("shared ring fields are not JSON") from None
    if not isinstance(fields, dict):
        raise BadMessage("shared ring fields are not a JSON object")
    if not RING_FIELDS.isdisjoint(fields):
        raise BadMessage("shared ring fields name a ring field", repr(sorted(fields))[:80])
    if len(_SHARED_FIELDS) >= MAX_CACHED_RINGS:
        _SHARED_FIELDS.clear()
    _SHARED_FIELDS[raw] = fields
    return fields


def decode(parts: list[zmq.Frame] | list[bytes], as_columns: bool = False) -> Message:
    """Check and decode the parts of a multipart message that carries one message.

    Raises
    ------
    BadMessage
        If anything does not follow the protocol (see the module notes), or the message is a
        batch of several ring frames (:func:`decode_all` decodes those).
    """
    messages = decode_all(parts, as_columns)
    if len(messages) != 1:
        raise BadMessage("a batch of ring frames where one message was expected")
    return messages[0]


def decode_all(parts: list[zmq.Frame] | list[bytes], as_columns: bool = False) -> list[Message]:
    """Check and decode the parts of a multipart message: one message, or one per ring frame.

    A table's data is a DataFrame, or with ``as_columns`` a dict of its columns (name to
    read-only array viewing the message, in the header's order).

    Raises
    ------
    BadMessage
        If anything does not follow the protocol (see the module notes); nothing of a batch with
        one bad frame is returned.
    """
    raw = [part.bytes if isinstance(part, zmq.Frame) else part for part in parts[:2]]
    if len(parts) < 2:
        raise BadMessage("fewer than two parts")
    try:
        topic = raw[0].decode()
    except UnicodeDecodeError:
        raise BadMessage("header is not JSON") from None
    if raw[1][:1] == RING_MAGIC[:1]:
        if len(parts) > 3:
            raise BadMessage("a ring frame has no buffers")
        messages = decode_ring(topic, raw[1])
        if len(parts) == 3:
            shared = _shared_fields(parts[2])
            for message in messages:
                message.header.update(shared)
        return messages
    try:
        header = json.loads(raw[1])
    except (UnicodeDecodeError, ValueError):
        raise BadMessage("header is not JSON") from None
    if not isinstance(header, dict):
        raise BadMessage("header is not a JSON object")
    buffers: list[zmq.Frame | bytes] = list(parts[2:])
    kind = header.get("kind")
    if kind == "frame":
        require(header, seq=int, t=(int, float))
        if len(buffers) != 1:
            raise BadMessage("a frame needs exactly one buffer")
        data: Any = _as_array(buffers[0], header.get("dtype"), _shape(header.get("shape")))
    elif kind == "table":
        require(header, n=int, columns=list)
        columns = header["columns"]
        if header["n"] < 0 or len(buffers) != len(columns):
            raise BadMessage("table buffers do not match its columns")
        if not all(isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) for c in columns):
            raise BadMessage("bad table columns", repr(columns)[:80])
        arrays = {
            name: _as_array(part, dtype, (header["n"],))
            for (name, dtype), part in zip(columns, buffers, strict=True)
        }
        if len(arrays) != len(buffers):
            raise BadMessage("table columns repeat a name", repr(columns)[:80])
        data = arrays if as_columns else pd.DataFrame(arrays, columns=list(arrays))
    elif kind == "json":
        if buffers:
            raise BadMessage("a json message has no buffers")
        data = None
    else:
        raise BadMessage("unknown message kind", repr(kind)[:80])
    return [Message(topic, header, data)]


def recv_messages(socket: zmq.Socket, flags: int = 0, as_columns: bool = False) -> list[Message]:
    """Receive and decode any message without copying buffers: a batch of ring frames gives
    one message per frame; with ``as_columns`` a table comes as a dict of columns.

    Raises
    ------
    zmq.Again
        With ``flags=zmq.NOBLOCK`` when no message is waiting.
    BadMessage
        If the message does not follow the protocol (it is consumed: the next call reads the
        next message).
    """
    return decode_all(socket.recv_multipart(flags=flags, copy=False), as_columns)


def recv_message(socket: zmq.Socket, flags: int = 0, as_columns: bool = False) -> Message:
    """Receive and decode one message (frame, table, json or a single ring frame), raising
    like :func:`recv_messages`; a batch of several ring frames is a :class:`BadMessage` here."""
    return decode(socket.recv_multipart(flags=flags, copy=False), as_columns)


def recv_frame(socket: zmq.Socket, flags: int = 0) -> tuple[str, dict[str, Any], np.ndarray]:
    """Receive one frame message as ``(topic, header, read-only ndarray view)``."""
    message = recv_message(socket, flags)
    if message.header.get("kind") != "frame" or not isinstance(message.data, np.ndarray):
        raise BadMessage("expected a frame message", repr(message.header.get("kind"))[:80])
    return message.topic, message.header, message.data


def recv_table(socket: zmq.Socket, flags: int = 0) -> tuple[str, dict[str, Any], pd.DataFrame]:
    """Receive one table message as ``(topic, header, DataFrame)``."""
    message = recv_message(socket, flags)
    if message.header.get("kind") != "table":
        raise BadMessage("expected a table message", repr(message.header.get("kind"))[:80])
    return message.topic, message.header, message.data
