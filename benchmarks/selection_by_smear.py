"""Frames lost where a particle smeared most: what the selection does to D (issue 11).

A detector misses the frames in which a fast particle smeared most, and which frames it keeps
depends on each frame's own exposure. This draws Brownian tracks seen through a full-frame
shutter (each position the mean of the path over the exposure, plus localization noise), drops
the given share of the most smeared frames (rms of the path about its exposure mean), and prints
D over the truth for:

- ``covariance``: the analysis' estimator (:func:`napari_pynta.sizing.ensemble_diffusion`, steps
  across one missed frame);
- ``msd-difference``: :func:`bench_link_truth.msd_difference_D`, ``(MSD(2) - MSD(1)) / (4 dt)``
  over every pair one and two frames apart, whatever the frame between (measured, not landed:
  docs/accuracy.md, "A lag-difference estimator");
- ``all frames``: the analysis' estimator before any frame is dropped.

No movie, no detection, no linking: the selection alone. Run:
``python benchmarks/selection_by_smear.py --seeds 3 --dropped 0.2``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from bench_link_truth import msd_difference_D

from napari_pynta import sizing

FRAME_INTERVAL_S = 0.01
PIXEL_UM = 0.1
D_UM2_S = 4.5  # about a 100 nm sphere in water at 22 °C
SIGMA_UM = 0.03


def smeared_tracks(
    rng: np.random.Generator, n_tracks: int, n_frames: int, substeps: int = 40
) -> pd.DataFrame:
    """Tracks (``particle, frame, y, x`` in px) and each frame's smear (``smear_um``)."""
    h = FRAME_INTERVAL_S / substeps
    steps = rng.normal(0.0, np.sqrt(2 * D_UM2_S * h), (n_tracks, n_frames * substeps, 2))
    path = np.cumsum(steps, axis=1).reshape(n_tracks, n_frames, substeps, 2)
    mean = path.mean(axis=2)
    smear = np.sqrt(((path - mean[:, :, None]) ** 2).sum(axis=-1).mean(axis=-1))
    seen = mean + rng.normal(0.0, SIGMA_UM, mean.shape)
    particle, frame = np.meshgrid(np.arange(n_tracks), np.arange(n_frames), indexing="ij")
    return pd.DataFrame(
        {
            "particle": particle.ravel(),
            "frame": frame.ravel(),
            "y": seen[..., 0].ravel() / PIXEL_UM,
            "x": seen[..., 1].ravel() / PIXEL_UM,
            "smear_um": smear.ravel(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dropped", type=float, default=0.2, help="share of frames dropped")
    parser.add_argument("--tracks", type=int, default=200)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    rows = []
    for seed in range(args.seeds):
        tracks = smeared_tracks(np.random.default_rng(seed), args.tracks, args.frames)
        kept = tracks[tracks["smear_um"] < tracks["smear_um"].quantile(1.0 - args.dropped)]
        covariance = sizing.ensemble_diffusion(kept, PIXEL_UM, FRAME_INTERVAL_S)
        rows.append(
            {
                "seed": seed,
                "covariance": covariance.D_um2_s / D_UM2_S,
                "jackknife_se": covariance.D_se_um2_s / D_UM2_S,
                "msd-difference": msd_difference_D(kept, PIXEL_UM, FRAME_INTERVAL_S, None)
                / D_UM2_S,
                "all frames": sizing.ensemble_diffusion(tracks, PIXEL_UM, FRAME_INTERVAL_S).D_um2_s
                / D_UM2_S,
            }
        )
    print(f"D over the truth, {args.dropped:.0%} of the frames (the most smeared) dropped:")
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
