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
