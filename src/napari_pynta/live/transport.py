"""ZeroMQ messages of the live pipeline: frames and tables without pickle, zero-copy.

Every message is multipart ``[topic, header JSON, buffer, ...]``:

- frame: ``header = {"kind": "frame", "seq", "t", "shape", "dtype", **extra}``, one buffer (the
  pixels, C order). Sent with ``copy=False`` (ZeroMQ keeps a reference to the array until it is
  on the wire, so the sender must not modify it afterwards) and received with ``copy=False``:
  :func:`recv_frame` returns a read-only ``np.frombuffer`` view of the received message.
- table: ``header = {"kind": "table", "n", "columns": [[name, dtype], ...], **extra}``, one
  buffer per column (numeric columns only; localizations, tracks, per-track sizes).
- json: ``header = {"kind": "json", **payload}``, no buffer (status, heartbeats, errors, sizes).
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
TOPICS = (TOPIC_FRAMES, TOPIC_LOCS, TOPIC_TRACKS, TOPIC_SIZES, TOPIC_STATUS, TOPIC_ERROR)


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


def _dumps(header: dict[str, Any]) -> bytes:
    return json.dumps(header, default=_default).encode()


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
    socket.send_multipart([topic.encode(), _dumps(header), frame], flags=flags, copy=False)


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
    columns = [np.ascontiguousarray(table[name].to_numpy()) for name in table.columns]
    for name, values in zip(table.columns, columns, strict=False):
        if values.dtype.kind not in "biuf":
            raise TypeError(f"table column {name!r} has non-numeric dtype {values.dtype}")
    header = {
        "kind": "table",
        "n": len(table),
        "columns": [
            [str(name), values.dtype.str]
            for name, values in zip(table.columns, columns, strict=False)
        ],
        **extra,
    }
    socket.send_multipart([topic.encode(), _dumps(header), *columns], flags=flags, copy=False)


def send_json(socket: zmq.Socket, topic: str, payload: dict[str, Any], flags: int = 0) -> None:
    """Send a small JSON message (status, heartbeat, error, size summary)."""
    socket.send_multipart([topic.encode(), _dumps({"kind": "json", **payload})], flags=flags)


def _as_array(part: zmq.Frame | bytes, dtype: str, shape: Any) -> np.ndarray:
    """A read-only array viewing the message's memory (no copy)."""
    buffer = part.buffer if isinstance(part, zmq.Frame) else part
    array = np.frombuffer(buffer, dtype=np.dtype(dtype)).reshape(shape)
    array.flags.writeable = False
    return array


def recv_message(socket: zmq.Socket, flags: int = 0) -> Message:
    """Receive and decode any message (frame, table or json) without copying buffers.

    Raises
    ------
    zmq.Again
        With ``flags=zmq.NOBLOCK`` when no message is waiting.
    """
    parts = socket.recv_multipart(flags=flags, copy=False)
    topic = parts[0].bytes.decode()
    header = json.loads(parts[1].bytes)
    kind = header.get("kind")
    if kind == "frame":
        data: Any = _as_array(parts[2], header["dtype"], header["shape"])
    elif kind == "table":
        data = pd.DataFrame(
            {
                name: _as_array(part, dtype, (header["n"],))
                for (name, dtype), part in zip(header["columns"], parts[2:], strict=False)
            },
            columns=[name for name, _ in header["columns"]],
        )
    else:
        data = None
    return Message(topic, header, data)


def recv_frame(socket: zmq.Socket, flags: int = 0) -> tuple[str, dict[str, Any], np.ndarray]:
    """Receive one frame message as ``(topic, header, read-only ndarray view)``."""
    message = recv_message(socket, flags)
    if message.header.get("kind") != "frame":
        raise ValueError(f"expected a frame message, got {message.header.get('kind')!r}")
    return message.topic, message.header, message.data


def recv_table(socket: zmq.Socket, flags: int = 0) -> tuple[str, dict[str, Any], pd.DataFrame]:
    """Receive one table message as ``(topic, header, DataFrame)``."""
    message = recv_message(socket, flags)
    if message.header.get("kind") != "table":
        raise ValueError(f"expected a table message, got {message.header.get('kind')!r}")
    return message.topic, message.header, message.data
