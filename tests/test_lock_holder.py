"""Who holds a store's writer lock: the process named from /proc, and advice when it is stuck."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from napari_pynta import lock_holder
from napari_pynta.store import lock_for_writing

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="Linux /proc only")


def test_the_holder_of_a_store_lock_is_the_process_that_took_it(tmp_path):
    store = tmp_path / "run.zarr"
    store.mkdir()
    script = textwrap.dedent(
        f"""
        import sys
        from napari_pynta.store import lock_for_writing
        lock = lock_for_writing({str(store)!r})
        print("locked", flush=True)
        sys.stdin.readline()
        """
    )
    assert lock_holder.lock_holder(store) is None
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        assert lock_holder.lock_holder(store) == holder.pid
        assert lock_holder.lock_holder(tmp_path) is None  # the lock is on the store alone
    finally:
        holder.communicate(b"\n", timeout=30)
    assert lock_holder.lock_holder(store) is None  # its exit freed the lock
    own = lock_for_writing(store)
    assert lock_holder.lock_holder(store) == os.getpid()
    own.release()


def test_a_running_or_stopped_process_is_not_taken_for_one_stuck_in_a_disk_write():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not lock_holder.is_stuck_in_disk_write(sleeper.pid)  # S: asleep, killable
        os.kill(sleeper.pid, 19)  # SIGSTOP: T
        assert not lock_holder.is_stuck_in_disk_write(sleeper.pid)
        assert lock_holder.describe_process(sleeper.pid).startswith(f"process {sleeper.pid} (")
    finally:
        sleeper.kill()
        sleeper.wait(30)
    assert not lock_holder.is_stuck_in_disk_write(sleeper.pid)  # gone: unknown is not stuck


def test_a_holder_stuck_in_a_disk_write_is_said_with_what_to_do(monkeypatch):
    """A process in state D (a write to a hung disk) cannot be made here: its /proc stat is."""
    real_read = lock_holder.Path.read_text

    def stat_in_state_d(path, *args, **kwargs):
        text = real_read(path, *args, **kwargs)
        if path.name == "stat":
            name, _, rest = text.rpartition(")")
            return f"{name}) D {rest.split(maxsplit=1)[1]}"
        return text

    monkeypatch.setattr(lock_holder.Path, "read_text", stat_in_state_d)
    pid = os.getpid()
    assert lock_holder.is_stuck_in_disk_write(pid)
    text = lock_holder.describe_process(pid)
    assert text.startswith(f"process {pid} (") and "stuck in a disk write (state D)" in text
    assert "`kill -9`" in text and "check the disk" in text
