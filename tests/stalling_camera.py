"""A test camera that stops delivering (importable by the pipeline's spawned workers)."""

from __future__ import annotations

import ctypes
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
    with ``hold_gil`` it does not either and holds the GIL meanwhile (the whole process frozen)."""

    def __init__(
        self,
        stall_at: int = 50,
        pause_s: float = 1.5,
        never: bool = False,
        hang: bool = False,
        hold_gil: bool = False,
        timeout_s: float = 1.0,
        shape: tuple[int, int] = (64, 64),
        n_particles: int = 5,
        **settings: Any,
    ):
        self.stall_at, self.pause_s, self.timeout_s = stall_at, pause_s, timeout_s
        self.never, self.hang, self.hold_gil = never, hang, hold_gil
        super().__init__(shape=shape, n_particles=n_particles, **settings)

    def _grab(self) -> np.ndarray:
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
