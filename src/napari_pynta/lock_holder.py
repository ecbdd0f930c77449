"""Who holds a store's writer lock (:class:`~napari_pynta.store.WriterLock`), said in words.

Linux tells through ``/proc``: ``/proc/locks`` lists every ``flock`` with the process that
took it, ``/proc/PID/comm`` names the process (a live worker's title, e.g. ``pynta-saver``) and
``/proc/PID/stat`` gives its state. Elsewhere, or when ``/proc`` cannot be read, nothing is
known and the callers say less.
"""

from __future__ import annotations

import os
from pathlib import Path

#: what to do about a process stuck in a disk write, which ``kill -9`` cannot end
STUCK_ADVICE = (
    "it is stuck in a disk write (state D), which not even `kill -9` ends before the write "
    "returns: check the disk it writes to (a hung network share, a failing drive); the lock is "
    "freed when the process ends"
)


def lock_holder(path: str | Path) -> int | None:
    """The id of the process holding a ``flock`` on ``path``, or None if unknown or unlocked."""
    try:
        stat = os.stat(path)
        locks = Path("/proc/locks").read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    # e.g. "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2343611 0 EOF"; a waiter's line has "->" second
    device_inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    for line in locks.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device_inode:
            return int(fields[4]) if fields[4].isdigit() else None
    return None


def is_stuck_in_disk_write(pid: int) -> bool:
    """True if process ``pid`` is in uninterruptible sleep (state D: a disk write or read that
    has not returned); False if not, or unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    # "PID (comm) STATE ...": comm may hold spaces and parentheses, the state follows the last ")"
    return stat.rpartition(")")[2].split()[:1] == ["D"]


def describe_process(pid: int) -> str:
    """``process PID (its name)``, and what to do if it is stuck in a disk write."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        name = ""
    text = f"process {pid}" + (f" ({name})" if name else "")
    return f"{text}; {STUCK_ADVICE}" if is_stuck_in_disk_write(pid) else text
