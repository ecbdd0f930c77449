"""A test camera that stops delivering (importable by the pipeline's spawned workers)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from napari_pynta.cameras.base import CameraStalled
from napari_pynta.cameras.simulated import SimulatedCamera


class StallingCamera(SimulatedCamera):
    """The simulated camera, silent for ``pause_s`` after frame ``stall_at``; with ``never``
    it gives up like a hardware backend after ``timeout_s`` (raises :class:`CameraStalled`)."""

    def __init__(
        self,
        stall_at: int = 50,
        pause_s: float = 1.5,
        never: bool = False,
        timeout_s: float = 1.0,
        shape: tuple[int, int] = (64, 64),
        n_particles: int = 5,
        **settings: Any,
    ):
        self.stall_at, self.pause_s, self.timeout_s = stall_at, pause_s, timeout_s
        self.never = never
        super().__init__(shape=shape, n_particles=n_particles, **settings)

    def _grab(self) -> np.ndarray:
        if self._count == self.stall_at:
            if self.never:
                time.sleep(self.timeout_s)
                raise CameraStalled(f"stalling camera sent no frame for {self.timeout_s} s")
            time.sleep(self.pause_s)
            self.start_paced_again()
        return super()._grab()

    def start_paced_again(self) -> None:
        """After the pause, frames come at the frame rate again (none lost, none bunched)."""
        self._t0 = time.perf_counter() - self._count / self.settings.fps
