"""Frames of noise without any particle, for the verdict that such a movie is not sized."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def smoothed_noise_frames(
    sigma_px: float, seed: int, n_frames: int = 150, size: int = 128
) -> np.ndarray:
    """Gaussian noise smoothed by ``sigma_px``, new in every frame, on a flat level of 1000
    (10 rms), as uint16: a camera's noise as a lens and its pixels correlate it."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, (n_frames, size, size))
    smoothed = np.stack([ndimage.gaussian_filter(frame, sigma_px) for frame in noise])
    return (1000.0 + 10.0 * smoothed / smoothed.std()).astype(np.uint16)
