"""The time a thread waited for a CPU (Linux's ``schedstat``): a starved process is not a hung one.

On a loaded machine a runnable thread may wait seconds before it is given a CPU. A wait
measured on the wall clock (a worker's ``ready``, a camera's read) then looks like a worker or
a camera that stopped, although neither did. The kernel counts that time per thread (the second
field of ``/proc/PID/task/TID/schedstat``, nanoseconds spent runnable on a run queue); a
thread blocked in a call (a camera that sends nothing, a hung driver) waits for no CPU, so
subtracting it leaves what the thing waited for really took.
"""

from __future__ import annotations

import contextlib
import os
import time


class CpuWait:
    """The CPU wait of one thread, read cheaply and often (one open file, ~3 µs a read).

    Parameters
    ----------
    pid : int or None
        The process; its main thread unless ``thread`` is given. None: nothing to read.
    thread : int, optional
        A thread of ``pid`` (its native id, :func:`threading.get_native_id`).
    """

    def __init__(self, pid: int | None, thread: int | None = None):
        path = (
            f"/proc/{pid}/schedstat" if thread is None else f"/proc/{pid}/task/{thread}/schedstat"
        )
        self._fd: int | None = None
        if pid is not None:
            with contextlib.suppress(OSError):
                self._fd = os.open(path, os.O_RDONLY)

    def seconds(self) -> float:
        """Seconds the thread has waited for a CPU since it started; 0 where that cannot be read
        (no such file, the process gone)."""
        if self._fd is None:
            return 0.0
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return 0.0

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> CpuWait:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cpu_wait_s(pid: int | None) -> float:
    """Seconds the main thread of process ``pid`` has waited for a CPU since it started (0 where
    that cannot be read)."""
    with CpuWait(pid) as wait:
        return wait.seconds()


class Silence:
    """How long a process has said nothing, less the time it waited for a CPU meanwhile.

    A process at a low priority on a loaded machine (the sizer, at ``nice`` +10) may wait
    seconds for a CPU between two messages: it is slow, not dead. Its silence then grows only
    while it could have run and did not say anything. A process that is gone (its wait reads as
    0) or blocked (it waits for no CPU) is silent at the wall clock's pace. The wait is that of
    the process's main thread, the one that speaks.

    Parameters
    ----------
    pid : int or None
        The process (None: not known yet, the wall clock only; see :meth:`watch`).
    """

    def __init__(self, pid: int | None = None):
        self._wait = CpuWait(pid)
        self.heard()

    def watch(self, pid: int | None) -> None:
        """Watch process ``pid`` from now on (a new one said hello), heard now."""
        self._wait.close()
        self._wait = CpuWait(pid)
        self.heard()

    def heard(self) -> None:
        """The process said something now."""
        self._heard_at = time.perf_counter()
        self._waited = self._wait.seconds()

    def seconds(self) -> float:
        """Seconds since the process was last heard, less its CPU wait since then."""
        waited = self._wait.seconds() - self._waited
        return time.perf_counter() - self._heard_at - max(waited, 0.0)

    def cpu_wait_s(self) -> float:
        """The process's CPU wait so far (0 where it cannot be read): it grows while the
        process is starved, so a watcher can count it as a sign of life."""
        return self._wait.seconds()

    def close(self) -> None:
        """Close the process's file."""
        self._wait.close()
