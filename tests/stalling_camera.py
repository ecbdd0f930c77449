"""A test camera that stops delivering (importable by the pipeline's spawned workers)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

from napari_pynta.cameras.base import CameraStalled
from napari_pynta.cameras.simulated import SimulatedCamera


class StallingCamera(SimulatedCamera):
    """The simulated camera, silent for ``pause_s`` after frame ``stall_at``; with ``never``
    it gives up like a hardware backend after ``timeout_s`` (raises :class:`CameraStalled`);
    with ``hang`` its read never returns there (a driver call without a timeout of its own),
    with ``hold_gil`` it does not either and holds the GIL meanwhile (the whole process frozen).

    Its read of frame ``starve_at`` is starved of CPU (a loaded machine), not paused: the
    reading thread needs ``cpu_s`` of CPU there, but runs under ``SCHED_IDLE`` on one CPU beside
    a busy process (the kernel gives it ~0.3 % of that CPU), so the read lasts seconds although
    the camera never stopped; deterministic, whatever else the machine runs."""

    def __init__(
        self,
        stall_at: int = 50,
        pause_s: float = 1.5,
        never: bool = False,
        hang: bool = False,
        hold_gil: bool = False,
        timeout_s: float = 1.0,
        starve_at: int = -1,
        cpu_s: float = 0.01,
        shape: tuple[int, int] = (64, 64),
        n_particles: int = 5,
        buffer_frames: int = SimulatedCamera.buffer_frames,
        **settings: Any,
    ):
        self.stall_at, self.pause_s, self.timeout_s = stall_at, pause_s, timeout_s
        self.never, self.hang, self.hold_gil = never, hang, hold_gil
        self.starve_at, self.cpu_s = starve_at, cpu_s
        super().__init__(
            shape=shape, n_particles=n_particles, buffer_frames=buffer_frames, **settings
        )

    def _grab(self) -> np.ndarray:
        if self._count == self.starve_at:
            with _behind_a_busy_process():
                used = time.thread_time() + self.cpu_s
                while time.thread_time() < used:
                    pass
        if self._count == self.stall_at:
            if self.hold_gil:  # libc's sleep through ctypes.PyDLL keeps the GIL: all is frozen
                ctypes.PyDLL(None).sleep(3600)
            if self.hang:
                threading.Event().wait()  # forever; the GIL is free, as in a driver's C wait
            if self.never:
                time.sleep(self.timeout_s)
                raise CameraStalled(f"stalling camera sent no frame for {self.timeout_s} s")
            time.sleep(self.pause_s)
            self.start_paced_again()
        return super()._grab()

    def start_paced_again(self) -> None:
        """After the pause, frames come at the frame rate again (none lost, none bunched)."""
        self._t0 = time.perf_counter() - self._count / self.settings.fps


@contextlib.contextmanager
def _behind_a_busy_process():
    """Run the calling thread on one CPU, under ``SCHED_IDLE``, beside a busy process."""
    cpu = min(os.sched_getaffinity(0))
    allowed = os.sched_getaffinity(0)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(hog.pid, {cpu})
        os.sched_setaffinity(0, {cpu})  # 0: the calling thread
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        try:
            yield
        finally:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            os.sched_setaffinity(0, allowed)
    finally:
        hog.kill()
        hog.wait()


class MisbehavingCamera(SimulatedCamera):
    """The simulated camera, delivering from frame ``bad_at`` on frames of another ``shape``
    or ``dtype`` than it announced; with ``close_raises`` its ``close`` raises; its read of
    frame ``raise_at`` raises ``OSError`` (a driver's error)."""

    def __init__(
        self,
        bad_at: int = -1,
        bad_shape: tuple[int, int] | None = None,
        bad_dtype: str | None = None,
        close_raises: bool = False,
        raise_at: int = -1,
        shape: tuple[int, int] = (64, 64),
        n_particles: int = 5,
        **settings: Any,
    ):
        self.bad_at, self.bad_shape, self.bad_dtype = bad_at, bad_shape, bad_dtype
        self.close_raises, self.raise_at = close_raises, raise_at
        super().__init__(shape=shape, n_particles=n_particles, **settings)

    def _grab(self) -> np.ndarray:
        if self._count == self.raise_at:
            raise OSError(f"the driver failed at frame {self.raise_at}")
        frame = super()._grab()
        if 0 <= self.bad_at <= self._count:
            if self.bad_shape is not None:
                frame = np.resize(frame, tuple(self.bad_shape))
            if self.bad_dtype is not None:
                frame = frame.astype(self.bad_dtype)
        return frame

    def close(self) -> None:
        super().close()
        if self.close_raises:
            raise OSError("the driver refused to close the camera")
