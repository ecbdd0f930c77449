"""Run a command in a process group of its own and stop it as a terminal or systemd does."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def own_process_group(command: list[str]) -> Iterator[subprocess.Popen]:
    """Run ``command`` (stdout and stderr piped) in a process group of its own, so that a
    signal to the group reaches it and its workers and nothing else; what is still running on
    leaving the block is killed (SIGKILL to the group)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            # reaped, or its zombie fails every later test's check for leftover processes
            process.communicate(timeout=10)


def signal_and_wait(
    process: subprocess.Popen, signum: int, timeout_s: float = 60
) -> tuple[bytes, bytes, float]:
    """Send ``signum`` to the group of ``process`` (:func:`own_process_group`), as a terminal's
    Ctrl-C or systemd's stop does, and wait for it to end.

    Returns
    -------
    tuple
        ``(stdout, stderr, took_s)``: ``took_s`` from the signal to its end.
    """
    os.killpg(process.pid, signum)
    signalled = time.monotonic()
    out, err = process.communicate(timeout=timeout_s)
    return out, err, time.monotonic() - signalled
