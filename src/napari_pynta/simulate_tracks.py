"""Linked tracks of Brownian particles drawn directly, without frames (test and benchmark data).

Particles arrive at random frames, stay a geometric number of frames (as particles crossing a
thin focal layer do), diffuse in 2-D with the Stokes–Einstein coefficient of their diameter and
are seen with Gaussian localization noise, without motion blur (size them with a short
``exposure_s`` such as :data:`METADATA`'s). ``mass`` grows as d³ (log-normal scatter), so
brightness classes see the populations. Use :func:`napari_pynta.simulate.simulate_movie` where
detection and linking matter; this is for the sizing alone, at thousands of tracks in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from napari_pynta.errors import PyntaInputError
from napari_pynta.physics import diffusion_um2_s, water_viscosity_pa_s

#: store metadata of the tracks (pixel 0.1 µm, 100 frames/s, 0.1 ms exposure, water at 22 °C)
METADATA: dict[str, Any] = {
    "pixel_size_um": 0.1,
    "frame_interval_s": 0.01,
    "exposure_s": 1e-4,
    "temperature_c": 22.0,
}

#: settings of a :class:`napari_pynta.live.sizes.LiveSizer` fed with these tracks
LIVE_SETTINGS: dict[str, Any] = {
    "metadata": METADATA,
    "engine": "fast",
    "detection": {},
    "search_range_px": 10.0,
    "memory": 1,
    "min_track_length": 5,
    "blur_gap_spread": False,
    "frame_shape": (512, 512),
    "source": None,
}


def simulate_tracks(
    n_tracks: int,
    rng: np.random.Generator,
    *,
    diameters_nm: Sequence[float] = (100.0,),
    fractions: Sequence[float] | None = None,
    mean_length: float = 30.0,
    min_length: int = 3,
    per_frame: float = 50.0,
    sigma_um: float = 0.03,
) -> pd.DataFrame:
    """Tracks of ``n_tracks`` particles, sorted by frame (the order a live linker emits them).

    Parameters
    ----------
    n_tracks : int
        Number of particles (one track each, ids 0..n_tracks-1).
    rng : numpy.random.Generator
        Random source.
    diameters_nm, fractions : sequence of float
        Populations and their number fractions (default equal).
    mean_length : float
        Mean track length, frames (geometric, at least ``min_length``).
    min_length : int
        Shortest track, frames.
    per_frame : float
        Mean number of particles in a frame (sets the movie's length).
    sigma_um : float
        Localization error per axis, µm.

    Returns
    -------
    DataFrame
        ``frame, y, x, mass, particle`` (positions in pixels of :data:`METADATA`).
    """
    if n_tracks < 1 or mean_length < 1 or min_length < 1 or per_frame <= 0 or sigma_um < 0:
        raise PyntaInputError(
            "n_tracks, mean_length, min_length must be >= 1, per_frame > 0 and sigma_um >= 0"
        )
    temperature = METADATA["temperature_c"]
    dt, pixel = METADATA["frame_interval_s"], METADATA["pixel_size_um"]
    diameter = rng.choice(np.asarray(diameters_nm, dtype=float), n_tracks, p=fractions)
    D = np.asarray(
        diffusion_um2_s(diameter, temperature, water_viscosity_pa_s(temperature)), dtype=float
    )
    lengths = np.maximum(rng.geometric(1.0 / mean_length, n_tracks), min_length)
    n_frames = int(n_tracks * mean_length / per_frame) + 1
    start = rng.integers(0, n_frames, n_tracks)
    owner = np.repeat(np.arange(n_tracks), lengths)
    first_row = np.repeat(np.cumsum(lengths) - lengths, lengths)
    offset = np.arange(len(owner)) - first_row
    steps = rng.normal(0.0, 1.0, (len(owner), 2)) * np.sqrt(2 * D[owner] * dt)[:, None]
    steps[offset == 0] = rng.uniform(5.0, 45.0, (n_tracks, 2))  # where each track starts, µm
    position = np.cumsum(steps, axis=0)
    position -= np.repeat(position[np.cumsum(lengths) - lengths] - steps[offset == 0], lengths, 0)
    position += rng.normal(0.0, sigma_um, position.shape)
    mass = 1000.0 * (diameter[owner] / 100.0) ** 3 * rng.lognormal(0.0, 0.2, len(owner))
    table = pd.DataFrame(
        {
            "frame": start[owner] + offset,
            "y": position[:, 0] / pixel,
            "x": position[:, 1] / pixel,
            "mass": mass,
            "particle": owner,
        }
    )
    return table.sort_values(["frame", "particle"], kind="stable").reset_index(drop=True)
