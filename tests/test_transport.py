"""Transport: frames and tables cross ZeroMQ intact, without pickle, and frames without copies."""

from __future__ import annotations

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
