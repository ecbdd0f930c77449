"""Transport: frames and tables cross ZeroMQ intact, without pickle, and frames without copies."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import zmq

from napari_pynta.live import transport


@pytest.fixture
def pair():
    """A connected PUSH/PULL pair over inproc."""
    context = zmq.Context()
    push, pull = context.socket(zmq.PUSH), context.socket(zmq.PULL)
    pull.bind("inproc://test")
    push.connect("inproc://test")
    yield push, pull
    push.close(0)
    pull.close(0)
    context.term()


@pytest.fixture
def no_pickle(monkeypatch):
    """Make any use of pickle fail: the frame and table paths must not need it."""

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used on the transport path")

    monkeypatch.setattr(pickle, "dumps", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_frame_round_trip_keeps_pixels_and_header(pair, no_pickle, dtype):
    push, pull = pair
    frame = (np.arange(256 * 300) % 251).astype(dtype).reshape(256, 300)
    transport.send_frame(push, transport.TOPIC_FRAMES, 42, 0.21, frame, exposure_s=0.002)
    topic, header, received = transport.recv_frame(pull)
    assert topic == "frames"
    assert header["seq"] == 42 and header["t"] == 0.21 and header["exposure_s"] == 0.002
    assert header["shape"] == [256, 300] and np.dtype(header["dtype"]) == np.dtype(dtype)
    np.testing.assert_array_equal(received, frame)


def test_received_frame_is_a_read_only_view_of_the_message(pair):
    push, pull = pair
    frame = np.full((512, 512), 7, np.uint16)
    transport.send_frame(push, transport.TOPIC_FRAMES, 0, 0.0, frame)
    _, _, received = transport.recv_frame(pull)
    # the pixels live in the ZeroMQ message: follow the views down to the buffer owner
    base = received
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, memoryview) and isinstance(base.obj, zmq.Frame)
    assert not received.flags.writeable
    with pytest.raises(ValueError):
        received[0, 0] = 1


def test_non_contiguous_frames_are_sent_in_c_order(pair):
    push, pull = pair
    big = np.arange(100, dtype=np.uint16).reshape(10, 10)
    transport.send_frame(push, transport.TOPIC_FRAMES, 1, 0.0, big[::2, 1::3])
    _, header, received = transport.recv_frame(pull)
    assert header["shape"] == [5, 3]
    np.testing.assert_array_equal(received, big[::2, 1::3])


def test_table_round_trip_keeps_columns_dtypes_and_values(pair, no_pickle):
    push, pull = pair
    table = pd.DataFrame(
        {
            "frame": np.array([3, 3, 3], np.int64),
            "y": [1.5, 2.25, np.nan],
            "x": [0.0, -1.0, 1e9],
            "particle": np.array([0, 1, 2], np.int64),
            "flag": [True, False, True],
        }
    )
    transport.send_table(push, transport.TOPIC_TRACKS, table, seq=3)
    topic, header, received = transport.recv_table(pull)
    assert topic == "tracks" and header["seq"] == 3
    pd.testing.assert_frame_equal(received, table)


def test_empty_table_round_trip(pair):
    push, pull = pair
    table = pd.DataFrame({"frame": np.empty(0, np.int64), "y": np.empty(0)})
    transport.send_table(push, transport.TOPIC_LOCS, table)
    _, header, received = transport.recv_table(pull)
    assert header["n"] == 0 and list(received.columns) == ["frame", "y"]
    assert received["frame"].dtype == np.int64


def test_columns_are_sent_as_the_same_table_message(pair):
    push, pull = pair
    columns = {"frame": np.full(3, 7, np.int64), "y": np.array([1.0, 2.0, 3.0])[::-1]}
    transport.send_columns(push, transport.TOPIC_LOCS, columns, seq=7)
    _, header, received = transport.recv_table(pull)
    assert header["seq"] == 7
    pd.testing.assert_frame_equal(received, pd.DataFrame(columns))  # a reversed view arrives
    with pytest.raises(ValueError, match="differ in length"):
        transport.send_columns(push, transport.TOPIC_LOCS, {"a": np.zeros(2), "b": np.zeros(3)})


def test_a_table_received_as_columns_is_read_only_views_of_the_sent_columns(pair, no_pickle):
    push, pull = pair
    columns = {"frame": np.full(3, 7, np.int64), "y": np.array([1.5, np.nan, -2.0])}
    transport.send_columns(push, transport.TOPIC_LOCS, columns, seq=7)
    message = transport.recv_message(pull, as_columns=True)
    assert message.header["seq"] == 7 and list(message.data) == ["frame", "y"]
    for name, values in columns.items():
        np.testing.assert_array_equal(message.data[name], values)
        assert message.data[name].dtype == values.dtype
        assert not message.data[name].flags.writeable  # a view of the message, not a copy


def test_a_table_naming_a_column_twice_is_a_bad_message():
    header = {"kind": "table", "n": 1, "columns": [["x", "<f8"], ["x", "<f8"]]}
    parts = [b"locs", json.dumps(header).encode(), np.zeros(1).tobytes(), np.ones(1).tobytes()]
    for as_columns in (False, True):
        with pytest.raises(transport.BadMessage, match="repeat"):
            transport.decode(parts, as_columns)


def test_text_columns_are_refused(pair):
    push, _ = pair
    with pytest.raises(TypeError, match="name"):
        transport.send_table(push, transport.TOPIC_LOCS, pd.DataFrame({"name": ["a"]}))


def test_json_messages_and_kind_checks(pair):
    push, pull = pair
    transport.send_json(push, transport.TOPIC_STATUS, {"worker": "saver", "n": np.int64(3)})
    message = transport.recv_message(pull)
    assert message.topic == "status" and message.header["n"] == 3 and message.data is None
    transport.send_json(push, transport.TOPIC_ERROR, {"error": "boom"})
    with pytest.raises(ValueError, match="frame"):
        transport.recv_frame(pull)


def test_nonblocking_receive_raises_again_when_empty(pair):
    _, pull = pair
    with pytest.raises(zmq.Again):
        transport.recv_message(pull, zmq.NOBLOCK)


def _valid_parts(kind: str) -> list[bytes]:
    """A valid message of ``kind`` as the list of bytes it travels as."""
    if kind == "frame":
        frame = np.arange(12, dtype=np.uint16).reshape(3, 4)
        header = {"kind": "frame", "seq": 5, "t": 0.5, "shape": [3, 4], "dtype": "<u2"}
        return [b"frames", json.dumps(header).encode(), frame.tobytes()]
    if kind == "table":
        header = {"kind": "table", "n": 2, "columns": [["x", "<f8"], ["n", "<i4"]], "seq": 1}
        return [
            b"locs",
            json.dumps(header).encode(),
            np.array([1.0, 2.0]).tobytes(),
            np.array([3, 4], np.int32).tobytes(),
        ]
    if kind == "ring":
        prefix = transport.ring_prefix("pynta_r_0", 8, (3, 4), "<u2")
        entries = [(2, 5, 0.5, float("nan")), (3, 6, 0.6, 12.5)]
        return [b"frames", transport.pack_ring_header(prefix, entries)]
    return [b"status", json.dumps({"kind": "json", "worker": "saver", "event": "ready"}).encode()]


def test_ring_headers_round_trip_and_a_batch_decodes_like_its_frames_one_by_one(pair):
    push, pull = pair
    prefix = transport.ring_prefix("pynta_r_0", 8, (3, 4), "<u2")
    entries = [(7, 10, 1.25, float("nan")), (0, 11, 1.5, 99.0), (1, 12, 1.75, float("nan"))]
    for entry in entries:
        transport.send_ring_frames(push, transport.TOPIC_FRAMES, prefix, [entry])
    transport.send_ring_frames(push, transport.TOPIC_FRAMES, prefix, entries)
    one_by_one = [transport.recv_message(pull) for _ in entries]
    batch = transport.recv_messages(pull)
    assert batch == one_by_one
    layout = {"kind": "ring", "ring": "pynta_r_0", "n_slots": 8, "shape": (3, 4), "dtype": "<u2"}
    assert [m.header for m in batch] == [
        {**layout, "slot": 7, "seq": 10, "t": 1.25},
        {**layout, "slot": 0, "seq": 11, "t": 1.5, "read_at": 99.0},
        {**layout, "slot": 1, "seq": 12, "t": 1.75},
    ]
    assert all(m.topic == "frames" and m.data is None for m in batch)
    # one message was expected: a batch is refused whole, not cut to its first frame
    with pytest.raises(transport.BadMessage, match="batch"):
        transport.decode([b"frames", transport.pack_ring_header(prefix, entries)])
    with pytest.raises(ValueError, match="1..65535 frames"):
        transport.pack_ring_header(prefix, [])


def test_the_fields_a_ring_message_shares_reach_each_of_its_frames(pair):
    """The saver's frames name their recording: a ring message carries it once, in a third
    part, and every frame of the batch has it in its header; a field of the ring header
    cannot be overridden so."""
    push, pull = pair
    prefix = transport.ring_prefix("pynta_r_0", 8, (3, 4), "<u2")
    entries = [(7, 10, 1.25, float("nan")), (0, 11, 1.5, 99.0)]
    transport.send_ring_frames(push, transport.TOPIC_FRAMES, prefix, entries, recording=3)
    transport.send_ring_frames(push, transport.TOPIC_FRAMES, prefix, entries)
    named, plain = transport.recv_messages(pull), transport.recv_messages(pull)
    assert [m.header for m in named] == [{**m.header, "recording": 3} for m in plain]
    assert all("recording" not in m.header for m in plain)
    with pytest.raises(ValueError, match="'seq'"):
        transport.send_ring_frames(push, transport.TOPIC_FRAMES, prefix, entries, seq=1)
    assert not pull.poll(100)  # nothing of the refused message was sent


def test_shared_fields_equal_in_value_but_not_in_type_are_each_sent_as_given(pair):
    """True == 1 == 1.0 in Python: the encoded parts are cached, but by value and type, so a
    recording numbered 1 is not sent as ``true`` (which the saver refuses) after a message that
    shared ``True``, nor ``1.0`` after one that shared ``1.0``."""
    push, pull = pair
    prefix = transport.ring_prefix("pynta_r_0", 8, (3, 4), "<u2")
    entries = [(1, 10, 1.25, float("nan"))]
    for value in (True, 1, 1.0, 1):
        transport.send_ring_frames(push, transport.TOPIC_FRAMES, prefix, entries, recording=value)
        (message,) = transport.recv_messages(pull)
        received = message.header["recording"]
        assert (type(received), received) == (type(value), value)


def _cut(parts: list[bytes], keep: int) -> list[bytes]:
    return [parts[0], parts[1][:keep]]


@pytest.mark.parametrize(
    "parts, detail",
    [
        (_cut(_valid_parts("ring"), 3), "3 bytes"),  # shorter than the magic
        ([b"frames", b"\x00XX9" + _valid_parts("ring")[1][4:]], "magic"),
        (_cut(_valid_parts("ring"), 12), "layout of"),  # cut inside the layout
        (_cut(_valid_parts("ring"), len(_valid_parts("ring")[1]) - 1), "for 2 frames"),
        (_valid_parts("ring") + [b"{}", b"\0" * 24], "no buffers"),
        # a third part holds the fields the frames share: a JSON object that names no ring field
        (_valid_parts("ring") + [b"\0" * 24], "shared ring fields are not JSON"),
        (_valid_parts("ring") + [b"[1]"], "shared ring fields are not a JSON object"),
        (_valid_parts("ring") + [b'{"recording": 2, "seq": 9}'], "name a ring field"),
        (
            [b"frames", transport.ring_prefix("pynta_r_0", 8, (3, 4), "<u2") + b"\0\0"],
            "for 0 frames",
        ),
        (
            [
                b"frames",
                transport.pack_ring_header(
                    transport.ring_prefix("pynta_r_0", 8, (3, 4), "<u2"), [(8, 1, 0.0, 0.0)]
                ),
            ],
            "8 of 8",
        ),
        (
            [
                b"frames",
                transport.pack_ring_header(
                    transport.ring_prefix("pynta_r_1", 8, (3, 4), "|O"), [(0, 1, 0.0, 0.0)]
                ),
            ],
            "not a numeric dtype",
        ),
    ],
)
def test_damaged_ring_headers_raise_bad_message_saying_what_is_wrong(parts, detail):
    with pytest.raises(transport.BadMessage) as caught:
        transport.decode_all(parts)
    assert detail in str(caught.value)


@pytest.mark.parametrize(
    "parts, kind",
    [
        ([b"frames"], "fewer than two parts"),
        ([b"status", b"{not json"], "header is not JSON"),
        ([b"\xff\xfe", b"{}"], "header is not JSON"),
        ([b"status", b"[1, 2]"], "header is not a JSON object"),
        ([b"status", b'{"kind": "pickle"}'], "unknown message kind"),
        ([b"status", b'{"kind": "json"}', b"extra"], "a json message has no buffers"),
        (_valid_parts("frame")[:2], "a frame needs exactly one buffer"),
        (_valid_parts("frame")[:2] + [b"\0" * 23], "buffer size does not match shape and dtype"),
        (
            [b"frames", b'{"kind":"frame","seq":1,"t":0,"shape":[2],"dtype":"|O"}', b"\0" * 16],
            "not a numeric dtype",
        ),
        (
            [b"frames", b'{"kind":"frame","seq":1,"t":0,"shape":[-2],"dtype":"<u2"}', b""],
            "bad shape",
        ),
        ([b"frames", b'{"kind":"frame","t":0,"shape":[1],"dtype":"<u2"}', b"ab"], "missing field"),
        (
            [b"frames", b'{"kind":"frame","seq":"1","t":0,"shape":[1],"dtype":"<u2"}', b"ab"],
            "field 'seq' has the wrong type",
        ),
        (_valid_parts("table")[:3], "table buffers do not match its columns"),
        (
            _valid_parts("table")[:3] + [b"\0" * 7],
            "buffer size does not match shape and dtype",
        ),
    ],
)
def test_malformed_messages_raise_bad_message_naming_the_fault(parts, kind):
    with pytest.raises(transport.BadMessage) as caught:
        transport.decode(parts)
    assert caught.value.kind.startswith(kind)


def test_random_and_mutated_messages_never_raise_anything_but_bad_message():
    """Fuzz: random parts and single-byte mutations of valid messages."""
    rng = np.random.default_rng(7)
    decoded = 0
    for trial in range(3000):
        if trial % 2:
            parts = [rng.bytes(int(rng.integers(0, 40))) for _ in range(rng.integers(0, 5))]
        else:
            parts = _valid_parts(("frame", "table", "json", "ring")[trial % 4])
            index = int(rng.integers(len(parts)))
            mutated = bytearray(parts[index])
            if mutated:
                mutated[int(rng.integers(len(mutated)))] = int(rng.integers(256))
            parts[index] = bytes(mutated)
        try:
            messages = transport.decode_all(parts)
        except transport.BadMessage:
            continue
        decoded += 1
        for message in messages:  # what decodes is consistent with its header
            if message.data is not None:
                assert message.header["kind"] in ("frame", "table")
            if message.header["kind"] == "ring":
                assert 0 <= message.header["slot"] < message.header["n_slots"]
    assert decoded > 0  # mutations of pixels and values still decode


def test_bad_message_log_counts_every_one_and_logs_each_kind_once():
    lines = []
    log = transport.BadMessageLog(lines.append)
    for parts in ([b"a", b"{x"], [b"a", b"{y"], [b"a", b"[]"]):
        try:
            transport.decode(parts)
        except transport.BadMessage as error:
            log(error, "test")
    assert log.count == 3
    assert len(lines) == 2 and "header is not JSON" in lines[0]
