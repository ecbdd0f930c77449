"""Movies of smeared Brownian spots with their recorded paths (tests of the motion blur)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from napari_pynta import physics

PIXEL_UM = 0.166
DT = 1 / 30  # exposure = frame interval


@dataclass(frozen=True)
class StreakedMovie:
    """Frames and truth of :func:`streaked_movie`.

    Attributes
    ----------
    frames : numpy.ndarray, shape (T, Y, X), uint16
    truth : numpy.ndarray, shape (T·N, 3)
        Rows (frame, y, x) of the exposure-mean positions, particle by particle in each frame.
    mid_exposure : numpy.ndarray, shape (T·N, 2)
        (y, x) of each particle half way through the exposure, in the rows of ``truth``.
    metadata : dict
        ``pixel_size_um``, ``frame_interval_s``, ``exposure_s``.
    """

    frames: np.ndarray
    truth: np.ndarray
    mid_exposure: np.ndarray
    metadata: dict


def streaked_movie(n_frames: int, seed: int, n_particles: int = 10) -> StreakedMovie:
    """50 nm spheres at 30 fps imaged over every sub-step of their Brownian path (as the
    independent simulator of benchmarks/independent_movies.py renders them, where smeared
    images split into two maxima), 128² frames, shot and read noise (positions wrap around)."""
    rng = np.random.default_rng(seed)
    shape, substeps, sigma, photons = 128, 32, 1.2, 1500.0
    D = physics.diffusion_um2_s(50.0, 22.0, physics.water_viscosity_pa_s(22.0))
    position = rng.uniform(0, shape, (n_particles, 2))
    offsets = np.arange(-6, 7)
    frames = np.empty((n_frames, shape, shape))
    truth, middle = [], []
    for t in range(n_frames):
        walk = rng.normal(
            0, math.sqrt(2 * D * DT / substeps) / PIXEL_UM, (n_particles, substeps, 2)
        )
        path = position[:, None, :] + np.cumsum(walk, axis=1)
        position = path[:, -1, :] % shape
        image = np.full((shape, shape), 100.0)
        for y, x in (path % shape).reshape(-1, 2):
            rows, cols = (np.round(y) + offsets) % shape, (np.round(x) + offsets) % shape
            dy = (rows - y + shape / 2) % shape - shape / 2
            dx = (cols - x + shape / 2) % shape - shape / 2
            spot = np.exp(-(dy[:, None] ** 2 + dx[None, :] ** 2) / (2 * sigma**2))
            image[np.ix_(rows.astype(int), cols.astype(int))] += (
                photons / substeps / (2 * math.pi * sigma**2) * spot
            )
        frames[t] = rng.poisson(image) + rng.normal(0, 2.0, image.shape)
        mean = path.mean(axis=1)
        # half way through the exposure, on the same side of the wrap as the mean
        half = (path[:, substeps // 2 - 1] + path[:, substeps // 2]) / 2
        truth += [(t, *where) for where in mean % shape]
        middle.append(half - mean + mean % shape)
    metadata = {"pixel_size_um": PIXEL_UM, "frame_interval_s": DT, "exposure_s": DT}
    return StreakedMovie(
        frames.clip(0, 65535).astype(np.uint16), np.array(truth), np.concatenate(middle), metadata
    )
