"""The acquisition's minder: serves the worker while its main thread waits in ``camera.read()``.

A camera read may wait long: a camera silent for a while, a backend's own timeout (5 s), or a
driver call that never returns. Meanwhile the acquisition must still answer the supervisor
(a stop, the end of the run), feed the saver and send heartbeats, and must notice a camera
that hangs. The main thread holds :attr:`ReadMinder.lock` except while it reads a frame
(:meth:`ReadMinder.reading`); a thread takes the lock when a read has lasted longer than a
slice and serves one turn of the worker, never touching the camera (backends are not thread
safe). When the worker is to stop while the read has still not returned, the minder ends the
process itself (:meth:`ReadMinder.__init__`'s ``exit``), so the camera can delay a stop by at
most :data:`STOP_GRACE_S`.

How long a read has waited for the camera is its wall time less the time the reading thread
waited for a CPU meanwhile (:mod:`~napari_pynta.live.cpu_wait`): on a loaded machine a read can
last seconds because the process is not scheduled (the simulated camera renders its frames in
the read), which is no pause of the camera; a camera that sends nothing keeps the thread
blocked, which is no wait for a CPU, so a real pause or hang is measured in full.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator

from napari_pynta.live.cpu_wait import CpuWait

#: how often the minder looks at the read in progress (s); a read shorter than this is never
#: served, so at frame rates above 1 / MIND_SLICE_S the minder never takes the lock
MIND_SLICE_S = 0.1
#: after a stop, how long a read that has not returned is waited for before the worker exits
#: without it (the camera is then not closed: the process exit releases the device)
STOP_GRACE_S = 0.5


class ReadMinder:
    """Serve the worker while its main thread reads the camera.

    Parameters
    ----------
    serve : callable
        ``serve(waited_s) -> bool`` runs one turn of the worker without the camera (called with
        :attr:`lock` held, while a read has waited ``waited_s`` for the camera,
        :meth:`waited_s`); True when the worker is to stop.
    exit : callable
        Ends the process; called (with the lock held for good) when the worker is to stop and
        the read has not returned within :data:`STOP_GRACE_S`.
    slice_s : float
        How often a long read is served.
    """

    def __init__(
        self,
        serve: Callable[[float], bool],
        exit: Callable[[], None],  # noqa: A002 (what it does)
        slice_s: float = MIND_SLICE_S,
    ):
        self.lock = threading.Lock()
        self.lock.acquire()  # the main thread's, except while it reads
        self._serve, self._exit, self.slice_s = serve, exit, slice_s
        self._read_started: float | None = None  # while the main thread is in a read
        self._cpu_wait: CpuWait | None = None  # of the reading thread
        self._cpu_wait_at_start = 0.0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._mind, name="pynta-read-minder", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Around ``camera.read()`` in the main thread: the lock is free meanwhile."""
        if self._cpu_wait is None:
            self._cpu_wait = CpuWait(os.getpid(), threading.get_native_id())
        self._cpu_wait_at_start = self._cpu_wait.seconds()
        self._read_started = time.perf_counter()
        self.lock.release()
        try:
            yield
        finally:
            self._read_started = None
            self.lock.acquire()

    def waited_s(self) -> float:
        """How long the read in progress has waited for the camera: its time less the time the
        reading thread waited for a CPU meanwhile (0 outside a read)."""
        started, cpu_wait = self._read_started, self._cpu_wait
        if started is None or cpu_wait is None:
            return 0.0
        starved = max(0.0, cpu_wait.seconds() - self._cpu_wait_at_start)
        return max(0.0, time.perf_counter() - started - starved)

    def close(self) -> None:
        """Stop minding (the main thread, holding :attr:`lock`, is done with the camera)."""
        self._closed.set()
        if self._cpu_wait is not None:
            self._cpu_wait.close()

    def _mind(self) -> None:
        """Thread: serve every slice while a read lasts; end the process on a stop it blocks."""
        while not self._closed.wait(self.slice_s):
            started = self._read_started
            if started is None or time.perf_counter() - started < self.slice_s:
                continue
            with self.lock:
                if self._read_started is None:  # it returned: the main thread waits for the lock
                    continue
                stop = self._serve(self.waited_s())
            if stop and not self._returned_within(STOP_GRACE_S):
                self.lock.acquire()  # for good: the main thread never goes on
                self._exit()

    def _returned_within(self, timeout_s: float) -> bool:
        """Wait until the read in progress returns, at most ``timeout_s``."""
        deadline = time.perf_counter() + timeout_s
        while self._read_started is not None:
            if time.perf_counter() >= deadline:
                return False
            time.sleep(0.01)
        return True
