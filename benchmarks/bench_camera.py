"""How fast the simulated camera makes frames, and what it delivers when asked for more.

Run ``python benchmarks/bench_camera.py [--seconds S]``.

Two measurements per frame size (256², 512², 1024², 100 particles, 2 ms exposure, 8 blur steps):

- ``scene``: CPU ms per frame of :meth:`BrownianScene.next_frame_arrays` (everything: diffusion,
  motion-blurred pixel-integrated PSF, shot and read noise), timed with the process CPU clock
  so that other work on a shared machine does not count; side by side, in the same run, the
  cost of drawing shot + read noise for every pixel of a frame (the dominant cost of the
  simulator before the noise bank, and what any per-pixel simulation pays at least). The goal
  (issue 12): 512² at >= 1000 frames/s and 1024² at >= 400 on one core.
- ``camera``: the simulated camera run for ``S`` seconds at a requested rate: frames delivered
  per second and frames the camera skipped (``camera.frames_skipped``: a real camera loses
  frames the reader does not fetch in time; so does this one). Wall-clock: on a loaded
  machine it shows the load.
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import numpy as np

from napari_pynta import simulate
from napari_pynta.cameras import open_camera

SIZES = ((256, 2000.0), (512, 1000.0), (1024, 400.0))
N_PARTICLES = 100


def cpu_ms_per_call(function, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        function()
    return (time.process_time() - start) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="camera run length (s)")
    args = parser.parse_args()
    print(
        f"simulated camera, {N_PARTICLES} particles, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'size':>6} {'scene ms':>9} {'scene fps':>10} {'per-pixel noise ms':>19} "
        f"{'ratio':>6} | {'asked':>6} {'delivered':>9} {'skipped':>8}"
    )
    for size, fps in SIZES:
        settings = simulate.SimulationSettings(
            shape=(size, size),
            n_particles=N_PARTICLES,
            frame_interval_s=1.0 / fps,
            exposure_s=min(0.002, 1.0 / fps),
            seed=1,
        )
        scene = simulate.BrownianScene(settings)
        background = np.full(settings.shape, settings.background, dtype=np.float32)
        rng = np.random.default_rng(0)
        n = max(50, int(2e7 / size**2))
        scene_ms = cpu_ms_per_call(scene.next_frame_arrays, n)
        noise_ms = cpu_ms_per_call(
            functools.partial(simulate._noisy_counts, background, settings, rng), n
        )

        with open_camera(
            "simulated", shape=(size, size), n_particles=N_PARTICLES, fps=fps, seed=1
        ) as camera:
            camera.start()
            start = time.perf_counter()
            delivered = 0
            while time.perf_counter() - start < args.seconds:
                camera.read()
                delivered += 1
            elapsed = time.perf_counter() - start
            skipped = camera.frames_skipped
        print(
            f"{size:>5}² {scene_ms:9.2f} {1e3 / scene_ms:10.0f} {noise_ms:19.2f} "
            f"{noise_ms / scene_ms:5.1f}x | {fps:6.0f} {delivered / elapsed:9.0f} {skipped:8d}"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
