"""What every worker process shares: its sockets to the supervisor, commands, heartbeats, exit.

Every worker connects a PUSH socket to the supervisor's ``status`` endpoint (heartbeats,
acknowledgements, errors) and a SUB socket to its ``control`` endpoint (commands addressed by
worker name, each acknowledged so the supervisor can resend lost ones). Workers ignore SIGINT
and SIGTERM: Ctrl-C in a terminal and SIGTERM to the process group (``kill -TERM -PGID``,
systemd's default) reach every process at once, and the supervisor, which gets them too, stops
the workers in order so the recording is flushed (it ends a worker that does not stop with
SIGKILL). They are born with both held (:func:`napari_pynta.live.supervisor.stop_signals_held`),
so one that comes during their imports does not end them either. Workers exit by themselves when
the supervisor process disappears.
"""

from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.util
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

import setproctitle
import zmq

from napari_pynta.live import transport
from napari_pynta.live.config import LiveEndpoints
from napari_pynta.live.protocol import Command, Event, process_title

#: seconds between two heartbeats of a worker
HEARTBEAT_S = 0.2
#: after the supervisor died, a worker gets this long to stop by itself (the saver closes the
#: store) before its watchdog ends the process
ORPHAN_GRACE_S = 3.0
#: exit code of a worker ended by its watchdog
ORPHAN_EXIT_CODE = 3


class Worker:
    """Sockets and bookkeeping every worker shares."""

    def __init__(self, name: str, endpoints: LiveEndpoints):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # held since the spawn (supervisor.stop_signals_held): any that came are now discarded
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        self.name = name
        self.endpoints = endpoints
        self.context = zmq.Context()
        self.status = self.socket(zmq.PUSH, connect=endpoints.status)
        self.control = self.socket(zmq.SUB, connect=endpoints.control)
        self.control.setsockopt(zmq.SUBSCRIBE, name.encode())
        self.poller = zmq.Poller()
        self.poller.register(self.control, zmq.POLLIN)
        self.handled: set[int] = set()
        self.authenticator: Any = None  # the ZAP thread of CURVE-served sockets
        self.bad_messages = transport.BadMessageLog(self.warn)
        self._pending: dict[zmq.Socket, collections.deque[transport.Message]] = {}
        self.stopping = False
        self._last_beat = 0.0
        self.parent_died = threading.Event()
        parent = multiprocessing.parent_process()
        if parent is not None:
            threading.Thread(
                target=self._watch_parent, args=(parent,), daemon=True, name="pynta-orphan-watchdog"
            ).start()

    def socket(
        self, kind: int, *, bind: str | None = None, connect: str | None = None, **options: int
    ) -> zmq.Socket:
        """A socket of this worker's context (2 s linger), bound or connected.

        A socket bound to tcp with a key directory in the endpoints is a CURVE server that
        accepts only the authorized clients (see :mod:`napari_pynta.live.keys`).
        """
        sock = self.context.socket(kind)
        sock.setsockopt(zmq.LINGER, 2000)
        for option, value in options.items():
            sock.setsockopt(getattr(zmq, option), value)
        if bind and bind.startswith("tcp://") and self.endpoints.keys_dir:
            from napari_pynta.live.keys import serve_securely

            if self.authenticator is None:
                self.authenticator = serve_securely(self.context, sock, self.endpoints.keys_dir)
            else:
                serve_securely(None, sock, self.endpoints.keys_dir)
        if bind:
            sock.bind(bind)
        if connect:
            sock.connect(connect)
        return sock

    def report(self, event: str, **payload: Any) -> None:
        """Send a status message to the supervisor (heartbeats are dropped if it is not reading).

        Every report but an ``ack`` carries ``bad_messages``, the count of dropped bad messages.
        """
        flags = zmq.NOBLOCK if event == Event.HEARTBEAT else 0
        if event != Event.ACK:
            payload.setdefault("bad_messages", self.bad_messages.count)
        try:
            transport.send_json(
                self.status,
                transport.TOPIC_STATUS,
                {"worker": self.name, "event": event, "time": time.time(), **payload},
                flags=flags,
            )
        except zmq.Again:
            pass

    def warn(self, text: str) -> None:
        """Report a problem that does not stop the worker (shown to the user, not a failure)."""
        self.report(Event.WARNING, warning=text)

    def receive(
        self, socket: zmq.Socket, where: str, as_columns: bool = False
    ) -> transport.Message | None:
        """The next valid message waiting on ``socket``, or None; bad ones are counted, dropped.

        The frames of a batch (one ring header for several frames) come one by one: the rest
        wait here (:meth:`has_pending`) and are returned before the next message is read.
        ``where`` names the socket (its endpoint) in the log line of a bad message; with
        ``as_columns`` a table comes as a dict of columns (:func:`~.transport.decode_all`).
        """
        pending = self._pending.get(socket)
        if pending:
            return pending.popleft()
        while True:
            try:
                messages = transport.recv_messages(socket, zmq.NOBLOCK, as_columns)
            except zmq.Again:
                return None
            except transport.BadMessage as error:
                self.bad_messages(error, f"{self.name}'s {where} socket")
                continue
            if len(messages) > 1:
                self._pending[socket] = collections.deque(messages[1:])
            return messages[0]

    def has_pending(self, socket: zmq.Socket) -> bool:
        """True while frames of a batch read from ``socket`` wait for :meth:`receive` (a poll
        of the socket does not see them)."""
        return bool(self._pending.get(socket))

    def error(self, text: str) -> None:
        """Report an error on the ``error`` topic."""
        transport.send_json(
            self.status,
            transport.TOPIC_ERROR,
            {"worker": self.name, "event": Event.ERROR, "error": text},
        )

    def fail(self, text: str) -> NoReturn:
        """Report ``text`` as the worker's error and end the process (exit code 1), from any
        thread: for a failure the user is told in plain words, without a traceback."""
        self.error(text)
        self.exit(1)

    def heartbeat_due(self) -> bool:
        """True once every :data:`HEARTBEAT_S`."""
        now = time.perf_counter()
        if now - self._last_beat >= HEARTBEAT_S:
            self._last_beat = now
            return True
        return False

    def _watch_parent(self, parent: multiprocessing.process.BaseProcess) -> None:
        """Thread: when the supervisor dies, ask the worker to stop, then end it.

        The wait is on the pipe multiprocessing keeps open to the parent (EOF when it dies, even
        by SIGKILL), so it works while the main thread is busy (JIT compilation, calibration,
        a blocked send). The main thread sees :attr:`parent_died` in :meth:`commands` and stops
        as on a ``stop`` command (the saver closes its store); if it has not exited after
        :data:`ORPHAN_GRACE_S`, the process is ended here.
        """
        parent.join()
        self.parent_died.set()
        if self.endpoints.directory:  # the supervisor could not remove its socket directory
            shutil.rmtree(self.endpoints.directory, ignore_errors=True)
        time.sleep(ORPHAN_GRACE_S)
        os._exit(ORPHAN_EXIT_CODE)

    def parent_alive(self) -> bool:
        """False once the supervisor process is gone."""
        return not self.parent_died.is_set()

    def commands(self) -> list[dict[str, Any]]:
        """New control commands (acknowledged), without waiting."""
        received = []
        while (message := self.receive(self.control, "control")) is not None:
            command = message.header
            try:
                transport.require(command, id=int, cmd=str)
            except transport.BadMessage as error:
                self.bad_messages(error, f"{self.name}'s control socket")
                continue
            ident = command["id"]
            if ident not in self.handled:
                self.handled.add(ident)
                received.append(command)
            self.report(Event.ACK, id=ident)
        if not self.parent_alive():
            received.append({"cmd": Command.STOP, "reason": "supervisor died"})
        return received

    def wait(self, sockets: tuple[zmq.Socket, ...], timeout_s: float) -> None:
        """Wait until a command or a message on one of ``sockets`` comes, at most ``timeout_s``."""
        poller = zmq.Poller()
        poller.register(self.control, zmq.POLLIN)
        for socket in sockets:
            poller.register(socket, zmq.POLLIN)
        poller.poll(int(timeout_s * 1000))

    def close(self) -> None:
        """Close every socket (what is still queued for a dead supervisor is not waited for)."""
        if self.authenticator is not None:
            self.authenticator.stop()
        self.context.destroy(linger=0 if self.parent_died.is_set() else 2000)

    def exit(self, code: int) -> NoReturn:
        """Close the sockets and end the process with ``code``, from any thread.

        Everything is written and every socket flushed: the interpreter's slow teardown of
        numpy/pandas/numba (seconds on a loaded machine), which would delay stop(), is skipped,
        and so are threads that never return (a camera read that hangs). The multiprocessing
        finalizers still run, so semaphores created by libraries (blosc) are released and not
        reported as leaked.
        """
        self.close()
        multiprocessing.util._run_finalizers(0)  # type: ignore[attr-defined]
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run(name: str, endpoints: LiveEndpoints, body: Callable[[Worker], None]) -> None:
    """Run ``body`` and turn any exception into an error report plus a non-zero exit code.

    The process is renamed first (:func:`~napari_pynta.live.protocol.process_title`), so ``ps``
    and ``top`` show each worker's role.
    """
    setproctitle.setproctitle(process_title(name))
    worker = Worker(name, endpoints)
    code = 0
    try:
        body(worker)
    except Exception as exc:  # report everything: the supervisor shows it to the user
        worker.error(f"{name} failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        code = 1
    worker.exit(code)
