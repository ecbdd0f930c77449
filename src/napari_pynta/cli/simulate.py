"""`pynta simulate`: write a simulated NTA movie with its ground truth to a pynta store."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_pynta.cli import path_argument
from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.physics import diffusion_um2_s
from napari_pynta.simulate import (
    BrownianScene,
    Population,
    SimulationSettings,
    box_particle_count,
    render_half_width_px,
)

if TYPE_CHECKING:
    import pandas as pd

HELP = (
    "Simulate a ground-truth NTA movie (Brownian spheres, motion blur, camera noise) and "
    "write it to a pynta .zarr store, with the true positions as the table 'truth'."
)

#: name of the store table holding the ground truth (frame, particle, y, x, z_um, diameter_nm)
TRUTH_TABLE = "truth"

#: frames written to the store per append
_BLOCK_FRAMES = 64

#: a simulation may use at most this fraction of the memory available when it starts
MEMORY_FRACTION = 0.5

# bytes of the estimate, per particle and per pixel (see estimate_memory_bytes)
_STATE_BYTES_PER_PARTICLE = 4 * 6 * 8  # positions, D, diameter, id and their per-frame copies
_STEP_BYTES_PER_PARTICLE_SUBSTEP = 10 * 8  # steps, path, step sd, random normals
# PSF patches, pixel indices, masks and their copies, per pixel of a particle's window (PSF +
# motion blur, at least 25 x 25 px); calibrated: 30000 particles in view, 20 frames of
# 256 x 256 px peaked at 1.0 GB, estimate 1.4
_RENDER_BYTES_PER_WINDOW_PIXEL = 48
_MIN_WINDOW_PX = 25
#: the fastest particles estimated: this many log-normal SDs below a population's median size
_SMALL_TAIL_SDS = 3.0
_TRUTH_BYTES_PER_ROW = 3 * 6 * 8  # 6 columns; per-frame tables, their concatenation, the copy
_FRAME_BYTES_PER_PIXEL = 2 * _BLOCK_FRAMES + 6 * 4  # the block of frames, float32 images


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `pynta simulate`."""
    defaults = SimulationSettings()
    parser.add_argument("out", metavar="OUT.zarr", type=path_argument, help="the store to create")
    parser.add_argument(
        "--diameter-nm",
        type=float,
        nargs="+",
        default=[100.0],
        metavar="D",
        help="median diameter of each population, nm (default 100)",
    )
    parser.add_argument(
        "--fraction",
        type=float,
        nargs="+",
        default=None,
        metavar="F",
        help="number fraction of each population, as weights normalised to sum 1 (default: equal)",
    )
    parser.add_argument(
        "--sigma-log",
        type=float,
        default=0.0,
        metavar="S",
        help="log-normal spread (sd of ln d) of every population (default 0)",
    )
    parser.add_argument(
        "--frames", type=int, default=200, metavar="N", help="number of frames (default 200)"
    )
    parser.add_argument(
        "--particles",
        dest="n_particles",
        type=int,
        default=defaults.n_particles,
        metavar="N",
        help=f"mean number of particles in view per frame (default {defaults.n_particles})",
    )
    parser.add_argument(
        "--shape",
        type=int,
        nargs=2,
        default=list(defaults.shape),
        metavar=("H", "W"),
        help=f"frame height and width in pixels (default {defaults.shape[0]} {defaults.shape[1]})",
    )
    parser.add_argument(
        "--pixel-size-um",
        type=float,
        default=defaults.pixel_size_um,
        help=f"pixel size in the sample, µm (default {defaults.pixel_size_um})",
    )
    parser.add_argument(
        "--frame-interval-s",
        type=float,
        default=defaults.frame_interval_s,
        help=f"time between frames, s (default {defaults.frame_interval_s})",
    )
    parser.add_argument(
        "--exposure-s",
        type=float,
        default=None,
        help="exposure time, s (default: the frame interval)",
    )
    parser.add_argument(
        "--temperature-c",
        type=float,
        default=defaults.temperature_c,
        help=f"temperature, °C (default {defaults.temperature_c})",
    )
    parser.add_argument(
        "--viscosity-pa-s",
        type=float,
        default=None,
        help="viscosity, Pa·s (default: water at the temperature, IAPWS 2008)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed; the same seed gives the same movie"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT.zarr")
    parser.add_argument(
        "--truth-csv",
        metavar="PATH",
        type=path_argument,
        default=None,
        help="also write the ground truth to this CSV file",
    )


def settings_from_args(args: argparse.Namespace) -> SimulationSettings:
    """Build (and validate) the simulation settings from the command-line arguments."""
    diameters = args.diameter_nm
    fractions = args.fraction or [1.0 / len(diameters)] * len(diameters)
    if len(fractions) != len(diameters):
        raise PyntaInputError(
            f"--fraction needs one value per --diameter-nm ({len(diameters)}), got {len(fractions)}"
        )
    populations = tuple(
        Population(diameter, fraction=fraction, sigma_log=args.sigma_log)
        for diameter, fraction in zip(diameters, fractions, strict=False)
    )
    return SimulationSettings(
        shape=tuple(args.shape),
        n_particles=args.n_particles,
        populations=populations,
        pixel_size_um=args.pixel_size_um,
        frame_interval_s=args.frame_interval_s,
        exposure_s=args.exposure_s,
        temperature_c=args.temperature_c,
        viscosity_pa_s=args.viscosity_pa_s,
        seed=args.seed,
    )


def estimate_memory_bytes(settings: SimulationSettings, n_frames: int) -> int:
    """Estimate the peak memory of `pynta simulate` (bytes), before allocating anything.

    The sum of the particle state of the whole simulation box, one frame's random steps over
    every blur sub-step, the rendering of the particles in view, the ground-truth table of all
    frames (kept until written) and the block of frames; an upper-end estimate.

    Parameters
    ----------
    settings : SimulationSettings
        The simulation settings.
    n_frames : int
        Number of frames.

    Returns
    -------
    int
        Estimated peak memory in bytes.
    """
    n_box = box_particle_count(settings)
    height, width = settings.shape
    window_px = max(_MIN_WINDOW_PX, render_window_px(settings))
    return int(
        n_box * _STATE_BYTES_PER_PARTICLE
        + n_box * (settings.blur_substeps + 1) * _STEP_BYTES_PER_PARTICLE_SUBSTEP
        + settings.n_particles * window_px**2 * _RENDER_BYTES_PER_WINDOW_PIXEL
        + n_frames * settings.n_particles * _TRUTH_BYTES_PER_ROW
        + height * width * _FRAME_BYTES_PER_PIXEL
    )


def render_window_px(settings: SimulationSettings) -> int:
    """Width (px) of the square window each particle's image is rendered in: its PSF and the
    path of the fastest particles during one exposure.

    Every particle in view gets a window of the widest one's size, so a long exposure of small
    particles costs memory as its square (b18: `--frame-interval-s 1e6` asked numpy for
    33 GB for one particle, and the OOM killer ended the run).

    Parameters
    ----------
    settings : SimulationSettings
        The simulation settings.

    Returns
    -------
    int
        Twice the PSF's reach plus the excursion of a fast particle (three rms displacements per
        axis over the exposure, and the drift), plus one.
    """
    exposure_s = settings.resolved_exposure_s
    smallest_nm = min(
        population.diameter_nm * math.exp(-_SMALL_TAIL_SDS * population.sigma_log)
        for population in settings.populations
    )
    fastest = diffusion_um2_s(smallest_nm, settings.temperature_c, settings.resolved_viscosity_pa_s)
    speed_um_s = math.hypot(*settings.drift_um_s) + settings.correlated_motion_um_s
    excursion_um = 3.0 * math.sqrt(2.0 * fastest * exposure_s) + speed_um_s * exposure_s
    return (
        2 * render_half_width_px(settings.psf_sigma_px, excursion_um / settings.pixel_size_um) + 1
    )


def check_memory(settings: SimulationSettings, n_frames: int) -> None:
    """Refuse a simulation whose estimated memory exceeds :data:`MEMORY_FRACTION` of what is free.

    Raises
    ------
    PyntaInputError
        Giving the estimate, the limit and the flags that set the size.
    """
    import psutil

    needed = estimate_memory_bytes(settings, n_frames)
    available = psutil.virtual_memory().available
    limit = MEMORY_FRACTION * available
    if needed > limit:
        gb = 1e9
        window_px = render_window_px(settings)
        smeared = (
            f", with each particle smeared over {window_px} px in one exposure of "
            f"{settings.resolved_exposure_s:g} s,"
            if window_px > _MIN_WINDOW_PX
            else ""
        )
        raise PyntaInputError(
            f"--particles {settings.n_particles}, --frames {n_frames}, --shape "
            f"{settings.shape[0]} {settings.shape[1]}{smeared} would need about "
            f"{needed / gb:.1f} GB of memory; the limit is {limit / gb:.1f} GB "
            f"({MEMORY_FRACTION:.0%} of the {available / gb:.1f} GB available now): use fewer "
            "particles, frames or pixels"
            + (", or a shorter --exposure-s or --frame-interval-s" if smeared else "")
        )


def run(args: argparse.Namespace) -> int:
    """Run `pynta simulate`; returns the exit code.

    The movie is written to a hidden folder beside ``OUT.zarr`` and renamed to ``OUT.zarr`` only
    once every frame and the truth are written: an interrupted or failed run leaves nothing
    (Ctrl-C included) and never touches an existing ``OUT.zarr``.
    """
    from napari_pynta.store import check_replaceable, has_zarr_suffix, remove_store

    settings = settings_from_args(args)
    if args.frames < 1:
        raise PyntaInputError(f"--frames must be >= 1, got {args.frames}")
    truth_csv = Path(args.truth_csv) if args.truth_csv else None
    if truth_csv is not None and not truth_csv.parent.is_dir():
        raise PyntaInputError(f"--truth-csv: folder {str(truth_csv.parent)!r} does not exist")
    if truth_csv is not None and truth_csv.is_dir():
        raise PyntaInputError(f"--truth-csv must name a file, got the folder {str(truth_csv)!r}")
    out = Path(args.out)
    if not has_zarr_suffix(out):
        raise PyntaInputError(
            f"OUT.zarr must end in .zarr (any case: a pynta store), got {args.out!r}"
        )
    if truth_csv is not None and out.resolve() in (
        truth_csv.resolve(),
        *truth_csv.resolve().parents,
    ):
        raise PyntaInputError(
            f"--truth-csv {args.truth_csv!r} is or lies in OUT.zarr {args.out!r}: the table "
            "would be the store's folder, or mixed with its files and deleted with it; write it "
            "beside the store (the store keeps the truth as its table 'truth' too)"
        )
    check_replaceable(out, args.overwrite)
    check_memory(settings, args.frames)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        truth = _simulate_to(partial, settings, args.frames)
        if out.exists():
            remove_store(out)
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if truth_csv is not None:
        try:
            truth.to_csv(truth_csv, index=False)
        except OSError as error:
            raise PyntaDataError(
                f"--truth-csv: cannot write {str(truth_csv)!r} ({error}); the movie is in {out}"
            ) from None
    print(
        f"wrote {args.frames} frame{'s' if args.frames != 1 else ''} of "
        f"{settings.shape[0]}x{settings.shape[1]} px to {args.out}: "
        f"{truth['particle'].nunique()} particles, "
        f"{len(truth) / args.frames:.1f} in view per frame on average"
    )
    return 0


def _simulate_to(path: Path, settings: SimulationSettings, n_frames: int) -> pd.DataFrame:
    """Simulate ``n_frames`` frames into a new store at ``path``; return the ground truth."""
    import pandas as pd
    from tqdm.auto import tqdm

    from napari_pynta.store import MovieStore

    scene = BrownianScene(settings)
    store = MovieStore.create(path, settings.shape, "uint16", scene.metadata)
    block = np.empty((_BLOCK_FRAMES, *settings.shape), dtype=np.uint16)
    truths = []
    with tqdm(
        total=n_frames,
        unit="frame",
        desc="simulating",
        file=sys.stderr,
        disable=None,
        dynamic_ncols=True,
    ) as bar:
        for start in range(0, n_frames, _BLOCK_FRAMES):
            count = min(_BLOCK_FRAMES, n_frames - start)
            for index in range(count):
                block[index], truth = scene.next_frame()
                truths.append(truth)
            store.append(block[:count])
            bar.update(count)
    truth = pd.concat(truths, ignore_index=True)
    store.write_table(TRUTH_TABLE, truth)
    store.close()
    return truth
