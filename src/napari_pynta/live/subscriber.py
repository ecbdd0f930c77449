"""A non-blocking reader of the live pipeline's frames and results, for viewers such as the GUI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
import zmq

from napari_pynta.live import transport
from napari_pynta.live.config import LiveEndpoints

#: most messages read from the results socket per :meth:`LiveSubscriber.poll`
MAX_RESULTS_PER_POLL = 5000


@dataclass
class LiveUpdate:
    """What arrived since the previous :meth:`LiveSubscriber.poll`."""

    frame: np.ndarray | None = None
    frame_header: dict[str, Any] | None = None
    localizations: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: camera sequence number of every located frame in ``localizations`` (also those in which
    #: nothing was found), in arrival order
    located_seqs: list[int] = field(default_factory=list)
    tracks: pd.DataFrame = field(default_factory=pd.DataFrame)
    sizes: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


class LiveSubscriber:
    """Subscribe to a running :class:`~napari_pynta.live.supervisor.LivePipeline`.

    Parameters
    ----------
    endpoints : LiveEndpoints
        ``LivePipeline.endpoints``. Only ``frames`` and ``results`` are used, so the
        subscriber may live in another process or, with tcp endpoints, on another machine.
    frames : bool
        Subscribe to the preview frames.
    results : bool
        Subscribe to localizations, tracks and sizes.
    keys_dir : str, optional
        For a pipeline served over tcp with CURVE keys: a folder with the server's public key
        ``server.key`` (default ``endpoints.keys_dir``).
    client_key : str, optional
        This viewer's secret key file (default ``keys_dir/client.key_secret``); its public key
        must be in the pipeline's ``authorized/`` folder.

    Notes
    -----
    Frames are a preview: older frames waiting in the socket are skipped and only the newest
    is returned. Localizations and tracks are returned in full (up to
    :data:`MAX_RESULTS_PER_POLL` messages per call; the rest comes with the next poll).
    """

    def __init__(
        self,
        endpoints: LiveEndpoints,
        frames: bool = True,
        results: bool = True,
        keys_dir: str | None = None,
        client_key: str | None = None,
    ):
        self._context: zmq.Context = zmq.Context.instance()
        self._keys_dir = keys_dir or endpoints.keys_dir
        self._client_key = client_key
        self._sockets: list[zmq.Socket] = []
        #: messages dropped because they did not follow the protocol
        self.bad_messages = 0
        self._frames = self._subscribe(endpoints.frames, 4) if frames else None
        self._results = self._subscribe(endpoints.results, 100_000) if results else None

    def _subscribe(self, address: str, hwm: int) -> zmq.Socket:
        socket = self._context.socket(zmq.SUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVHWM, hwm)
        socket.setsockopt(zmq.SUBSCRIBE, b"")
        if address.startswith("tcp://") and self._keys_dir:
            from napari_pynta.live.keys import connect_securely

            connect_securely(socket, self._keys_dir, self._client_key)
        socket.connect(address)
        self._sockets.append(socket)
        return socket

    def poll(self) -> LiveUpdate:
        """Return what arrived since the last call, without waiting."""
        update = LiveUpdate()
        if self._frames is not None:
            while (message := self._receive(self._frames)) is not None:
                if message.header["kind"] == "frame":
                    update.frame = cast(np.ndarray, message.data)  # decode checked the frame
                    update.frame_header = message.header
        if self._results is not None:
            locs: list[pd.DataFrame] = []
            tracks: list[pd.DataFrame] = []
            for _ in range(MAX_RESULTS_PER_POLL):
                message = self._receive(self._results)
                if message is None:
                    break
                tabular = message.topic in (transport.TOPIC_LOCS, transport.TOPIC_TRACKS)
                if tabular != (message.header["kind"] == "table"):
                    self.bad_messages += 1  # a well-formed message on the wrong topic
                    continue
                if message.topic == transport.TOPIC_LOCS:
                    seq = message.header.get("seq")
                    if not isinstance(seq, int) or isinstance(seq, bool):
                        self.bad_messages += 1  # localizations must say which frame they are of
                        continue
                    locs.append(message.data)
                    update.located_seqs.append(seq)
                elif message.topic == transport.TOPIC_TRACKS:
                    tracks.append(message.data)
                elif message.topic == transport.TOPIC_SIZES:
                    update.sizes = {k: v for k, v in message.header.items() if k != "kind"}
                elif message.topic == transport.TOPIC_ERROR:
                    update.errors.append(str(message.header.get("error")))
            if locs:
                update.localizations = pd.concat(locs, ignore_index=True)
            if tracks:
                update.tracks = pd.concat(tracks, ignore_index=True)
        return update

    def _receive(self, socket: zmq.Socket) -> transport.Message | None:
        """The next valid message, or None; bad ones are counted in :attr:`bad_messages`."""
        while True:
            try:
                return transport.recv_message(socket, zmq.NOBLOCK)
            except zmq.Again:
                return None
            except transport.BadMessage:
                self.bad_messages += 1

    def close(self) -> None:
        """Close the sockets (idempotent)."""
        for socket in self._sockets:
            socket.close(0)
        self._sockets.clear()

    def __enter__(self) -> LiveSubscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
