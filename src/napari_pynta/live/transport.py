"""ZeroMQ messages of the live pipeline: frames and tables without pickle, zero-copy.

Every message is multipart ``[topic, header JSON, buffer, ...]``:

- frame: ``header = {"kind": "frame", "seq", "t", "shape", "dtype", **extra}``, one buffer (the
  pixels, C order). Sent with ``copy=False`` (ZeroMQ keeps a reference to the array until it is
  on the wire, so the sender must not modify it afterwards) and received with ``copy=False``:
  :func:`recv_frame` returns a read-only ``np.frombuffer`` view of the received message.
- table: ``header = {"kind": "table", "n", "columns": [[name, dtype], ...], **extra}``, one
  buffer per column (numeric columns only; localizations, tracks, per-track sizes).
- ring: ``header = {"kind": "ring", "ring", "slot", "n_slots", "seq", "t", "shape", "dtype",
  **extra}``, no buffer: the frame is in a slot of a shared-memory ring on this host
  (:mod:`napari_pynta.live.frame_ring`; the receiver views it with ``RingViews``).
- json: ``header = {"kind": "json", **payload}``, no buffer (status, heartbeats, errors, sizes).

Every received message is checked before use (:func:`recv_message`): the topic is text, the
header a JSON object of a known kind, and each buffer exactly as long as its shape and numeric
dtype say. A message that fails raises :class:`BadMessage`; receivers count it, log it once per
kind and drop it (see :class:`BadMessageLog`), so nothing a socket delivers stops a process.
"""

from __future__ import annotations

import json
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
#: internal data-path topics: saver acknowledgements, end-of-run/recording markers, skip notices,
#: frame ring slots a locator is done with
TOPIC_ACK = "ack"
TOPIC_END = "end"
TOPIC_SKIP = "skip"
TOPIC_RELEASE = "release"
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
    data: np.ndarray | pd.DataFrame | None


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


def send_ring_frame(
    socket: zmq.Socket, topic: str, header: dict[str, Any], flags: int = 0, **extra: Any
) -> None:
    """Send a frame that waits in a shared-memory ring: only its header travels.

    Parameters
    ----------
    socket : zmq.Socket
        A PUSH socket to a process on this host.
    topic : str
        Usually :data:`TOPIC_FRAMES`.
    header : dict
        :meth:`napari_pynta.live.frame_ring.FrameRing.header` of the frame's slot.
    flags : int
        ZeroMQ flags.
    **extra
        More JSON-serialisable header fields.
    """
    socket.send_multipart(
        [topic.encode(), _dumps({"kind": "ring", **header, **extra})], flags=flags
    )


def send_json(socket: zmq.Socket, topic: str, payload: dict[str, Any], flags: int = 0) -> None:
    """Send a small JSON message (status, heartbeat, error, size summary)."""
    socket.send_multipart([topic.encode(), _dumps({"kind": "json", **payload})], flags=flags)


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


def decode(parts: list[zmq.Frame] | list[bytes]) -> Message:
    """Check and decode the parts of a multipart message.

    Raises
    ------
    BadMessage
        If anything does not follow the protocol (see the module notes).
    """
    raw = [part.bytes if isinstance(part, zmq.Frame) else part for part in parts[:2]]
    if len(parts) < 2:
        raise BadMessage("fewer than two parts")
    try:
        topic = raw[0].decode()
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
        data = pd.DataFrame(
            {
                name: _as_array(part, dtype, (header["n"],))
                for (name, dtype), part in zip(columns, buffers, strict=True)
            },
            columns=[name for name, _ in columns],
        )
    elif kind == "ring":
        require(header, seq=int, t=(int, float), ring=str, slot=int, n_slots=int)
        _numeric_dtype(header.get("dtype"))
        _shape(header.get("shape"))
        if buffers:
            raise BadMessage("a ring frame has no buffers")
        if not 0 <= header["slot"] < header["n_slots"]:
            raise BadMessage("slot outside the ring", f"{header['slot']} of {header['n_slots']}")
        data = None
    elif kind == "json":
        if buffers:
            raise BadMessage("a json message has no buffers")
        data = None
    else:
        raise BadMessage("unknown message kind", repr(kind)[:80])
    return Message(topic, header, data)


def recv_message(socket: zmq.Socket, flags: int = 0) -> Message:
    """Receive and decode any message (frame, table or json) without copying buffers.

    Raises
    ------
    zmq.Again
        With ``flags=zmq.NOBLOCK`` when no message is waiting.
    BadMessage
        If the message does not follow the protocol (it is consumed: the next call reads the
        next message).
    """
    return decode(socket.recv_multipart(flags=flags, copy=False))


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
