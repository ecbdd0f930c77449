"""Held-out check: an independent movie simulator and `pynta analyze` run on its movies.

Every other accuracy figure of the project comes from :mod:`napari_pynta.simulate`. This script
shares none of its code (it does not import ``napari_pynta`` at all) and differs from it on
purpose wherever a real instrument could:

- **Motion**: 3-D Brownian motion in a closed box with *reflecting* walls (ours: periodic box,
  re-entering particles get a new id). The path is integrated in fine sub-steps; the camera
  sees every sub-step position of the exposure (ours: a fixed number of evenly spaced positions).
- **Visibility**: no focal layer with a hard edge. A Gaussian light sheet (1/e² half-thickness
  ``sheet_um``) lights the particles and the PSF widens away from the focal plane
  (``sigma(z) = sigma0 * sqrt(1 + (z / rayleigh_um)^2)``, same photons), so particles fade in and
  out continuously and the detection threshold decides the depth that is seen.
- **PSF**: a Gaussian integrated over each pixel with ``erf`` (exact pixel integral).
- **Camera**: electrons → ADU with a gain (``gain_adu_per_e``) on an offset (~100 ADU), Poisson
  shot noise on signal + background, Gaussian read noise in electrons, 16-bit clipping (ours: 1 ADU
  per photon, no offset, a background level). Options: a background gradient with vignetting that
  also shapes the illumination of the particles and drifts slowly in time, hot pixels (a fixed
  0.1 % of pixels with a large dark signal), a dim camera (low SNR).
- **Brightness**: ``photons ∝ d^exponent`` (2 or 6) with a per-particle log-normal scatter
  (shape, refractive index), the camera level set for the brightest population.

Physics is re-derived here: Stokes–Einstein ``D = k_B T / (3 π η d)`` and the water viscosity
from Vogel's equation ``η = A · 10^(B / (T − C))`` (A = 2.414e-5 Pa·s, B = 247.8 K, C = 140 K),
passed to the CLI explicitly with the pixel size, frame interval, exposure and temperature.

Truth: the size (monodisperse populations); particles in view per frame are the particles inside
the detectable field (3 px from the edges) whose expected peak pixel signal (sheet and defocus,
no blur) is at least :data:`IN_VIEW_SNR` times the background noise of a pixel; the small
population's share of those is compared with ``peak_number_fractions`` (its share of the sample
is 1:1 by number; a dimmer population is seen in a thinner layer).

Run from the repository root (movies are written as multi-page TIFF files into ``--dir``)::

    python benchmarks/independent_movies.py --seeds 2 [--only nta] [--json out.json]

Each case writes ``independent_<case>_s<seed>.tif`` and runs ``pynta analyze`` on it with only
the physical metadata given (default analysis settings).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import tifffile
from scipy.special import erf

BOLTZMANN_J_K = 1.380649e-23
#: particles in view: expected peak signal of a pixel at least this many background noise SDs
IN_VIEW_SNR = 3.0
#: the analysis does not detect within this many pixels of the edge (feature radius)
EDGE_PX = 3


def water_viscosity_pa_s(temperature_c: float) -> float:
    """Water viscosity from Vogel's equation (within 1 % from 0 to 100 °C)."""
    kelvin = temperature_c + 273.15
    return 2.414e-5 * 10 ** (247.8 / (kelvin - 140.0))


def diffusion_um2_s(
    diameter_nm: np.ndarray, temperature_c: float, viscosity_pa_s: float
) -> np.ndarray:
    """Stokes–Einstein diffusion coefficient (µm²/s) of spheres of ``diameter_nm``."""
    kelvin = temperature_c + 273.15
    d_m = np.asarray(diameter_nm, dtype=float) * 1e-9
    return BOLTZMANN_J_K * kelvin / (3 * math.pi * viscosity_pa_s * d_m) * 1e12


@dataclass(frozen=True)
class Camera:
    """Camera model (electrons in, ADU out)."""

    offset_adu: float = 100.0
    gain_adu_per_e: float = 0.5
    read_noise_e: float = 2.0
    background_e: float = 20.0
    #: background gradient across x (fraction of the level) and vignetting depth (corners dimmer)
    gradient: float = 0.0
    vignetting: float = 0.0
    #: slow illumination drift: relative amplitude of a sine with one period per movie
    illumination_drift: float = 0.0
    #: fraction of pixels that are hot and their dark signal (electrons per frame)
    hot_pixel_fraction: float = 0.0
    hot_pixel_e: float = 400.0


@dataclass(frozen=True)
class Scene:
    """Sample, optics and acquisition of one movie."""

    populations: tuple[tuple[float, float], ...]  # (diameter nm, share by number)
    frames: int = 600
    shape: tuple[int, int] = (256, 256)
    pixel_um: float = 0.166
    fps: float = 30.0
    exposure_fraction: float = 1.0
    temperature_c: float = 22.0
    #: particles per frame within ±rayleigh_um of focus inside the field (sets the box count)
    density_in_focus: float = 12.0
    box_depth_um: float = 20.0
    box_margin_um: float = 4.0
    psf_sigma_px: float = 1.2
    rayleigh_um: float = 2.0
    sheet_um: float = 6.0
    #: photons (electrons) of the brightest population at focus and sheet centre
    photons_brightest: float = 4000.0
    brightness_exponent: float = 2.0
    brightness_scatter: float = 0.25
    camera: Camera = field(default_factory=Camera)

    @property
    def frame_interval_s(self) -> float:
        return 1.0 / self.fps

    @property
    def exposure_s(self) -> float:
        return self.exposure_fraction / self.fps

    @property
    def viscosity_pa_s(self) -> float:
        return water_viscosity_pa_s(self.temperature_c)

    @property
    def metadata(self) -> dict[str, float]:
        """The physical metadata a movie of this scene carries, under pynta's names."""
        return {
            "pixel_size_um": self.pixel_um,
            "frame_interval_s": self.frame_interval_s,
            "exposure_s": self.exposure_s,
            "temperature_c": self.temperature_c,
            "viscosity_pa_s": self.viscosity_pa_s,
        }


@dataclass
class Movie:
    """A simulated movie and its truth."""

    frames: np.ndarray  # (T, Y, X) uint16
    diameters_nm: np.ndarray  # (N,)
    in_view: np.ndarray  # (T, N) bool
    scene: Scene
    positions_px: np.ndarray  # (T, N, 2) mean (y, x) over the exposure, pixel centres at integers


def _substeps(scene: Scene, d_max_um2_s: float) -> int:
    """Sub-steps per frame: a sub-step moves at most half a PSF width (rms per axis)."""
    step_px = math.sqrt(2 * d_max_um2_s * scene.frame_interval_s) / scene.pixel_um
    return int(min(200, max(8, math.ceil((step_px / (0.5 * scene.psf_sigma_px)) ** 2))))


def _reflect(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Fold positions back into [low, high] (reflecting walls)."""
    span = high - low
    folded = np.mod(values - low, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def _background_map(scene: Scene) -> np.ndarray:
    """Relative illumination across the field (1 without gradient or vignetting)."""
    ny, nx = scene.shape
    y, x = np.mgrid[0:ny, 0:nx]
    u, v = (x - nx / 2) / (nx / 2), (y - ny / 2) / (ny / 2)
    cam = scene.camera
    return (1 + cam.gradient * u) * (1 - cam.vignetting * (u**2 + v**2) / 2)


def _pixel_profile(
    centre_px: np.ndarray, sigma_px: np.ndarray, first: np.ndarray, width: int
) -> np.ndarray:
    """Share of a 1-D Gaussian in each of ``width`` pixels starting at ``first`` (erf integral)."""
    edges = first[:, None] + np.arange(width + 1)[None, :] - 0.5
    cdf = 0.5 * (1 + erf((edges - centre_px[:, None]) / (math.sqrt(2) * sigma_px[:, None])))
    return np.diff(cdf, axis=1)


def simulate(scene: Scene, seed: int) -> Movie:
    """Simulate a movie (see the module docstring for the model)."""
    rng = np.random.default_rng(seed)
    ny, nx = scene.shape
    field_um = np.array([ny, nx]) * scene.pixel_um
    half_depth = scene.box_depth_um / 2
    low = np.array([-scene.box_margin_um, -scene.box_margin_um, -half_depth])
    high = np.array(
        [field_um[0] + scene.box_margin_um, field_um[1] + scene.box_margin_um, half_depth]
    )
    volume_share = (2 * scene.rayleigh_um / scene.box_depth_um) * np.prod(
        field_um / (high[:2] - low[:2])
    )
    n_particles = int(round(scene.density_in_focus / volume_share))
    sizes = np.array([d for d, _ in scene.populations])
    shares = np.array([s for _, s in scene.populations], dtype=float)
    counts = np.floor(shares / shares.sum() * n_particles).astype(int)
    counts[np.argmax(shares)] += n_particles - counts.sum()
    diameters = np.repeat(sizes, counts)
    diffusion = diffusion_um2_s(diameters, scene.temperature_c, scene.viscosity_pa_s)
    photons = scene.photons_brightest * (diameters / sizes.max()) ** scene.brightness_exponent
    photons *= rng.lognormal(
        -0.5 * scene.brightness_scatter**2, scene.brightness_scatter, diameters.size
    )
    position = low + rng.random((diameters.size, 3)) * (high - low)

    n_sub = _substeps(scene, float(diffusion.max()))
    sub_dt = scene.frame_interval_s / n_sub
    n_exposed = max(1, round(scene.exposure_fraction * n_sub))
    sub_sd = np.sqrt(2 * diffusion * sub_dt)[:, None]
    cam = scene.camera
    illumination = _background_map(scene)
    hot = rng.random(scene.shape) < cam.hot_pixel_fraction
    noise_sd_e = math.sqrt(cam.background_e + cam.read_noise_e**2)
    frames = np.empty((scene.frames, ny, nx), dtype=np.uint16)
    in_view = np.zeros((scene.frames, diameters.size), dtype=bool)
    positions_px = np.empty((scene.frames, diameters.size, 2))
    for t in range(scene.frames):
        level = 1 + cam.illumination_drift * math.sin(2 * math.pi * t / scene.frames)
        expected = (cam.background_e * level) * illumination
        expected[hot] += cam.hot_pixel_e
        path = np.empty((n_sub, *position.shape))
        for k in range(n_sub):
            position = _reflect(position + sub_sd * rng.standard_normal(position.shape), low, high)
            path[k] = position
        _render_exposure(expected, path[:n_exposed], photons, scene, illumination * level)
        electrons = rng.poisson(expected) + cam.read_noise_e * rng.standard_normal(expected.shape)
        electrons = rng.poisson(expected) + cam.read_noise_e * rng.standard_normal(expected.shape)
        adu = np.rint(cam.offset_adu + cam.gain_adu_per_e * electrons)
        frames[t] = np.clip(adu, 0, 65535).astype(np.uint16)
        # truth: in the detectable field and bright enough at its mean position of the exposure
        mean_px = path[:n_exposed, :, :2].mean(axis=0) / scene.pixel_um - 0.5
        positions_px[t] = mean_px
        z = path[:n_exposed, :, 2].mean(axis=0)
        sigma_now = scene.psf_sigma_px * np.sqrt(1 + (z / scene.rayleigh_um) ** 2)
        peak = photons * np.exp(-2 * z**2 / scene.sheet_um**2) / (2 * math.pi * sigma_now**2)
        inside = np.all(
            (mean_px >= EDGE_PX - 0.5) & (mean_px <= np.array([ny, nx]) - EDGE_PX - 0.5), axis=1
        )
        in_view[t] = inside & (peak >= IN_VIEW_SNR * noise_sd_e)
    return Movie(frames, diameters, in_view, scene, positions_px)


def _render_exposure(
    image: np.ndarray, path_um: np.ndarray, photons: np.ndarray, scene: Scene, gain_map: np.ndarray
) -> None:
    """Add the expected electrons of every particle's sub-step positions ``path_um`` (S, N, 3).

    A defocused particle (PSF ``sigma`` wider than in focus) is rendered at every ``k``-th
    sub-step only, ``k = (sigma / sigma0)²`` rounded down to a power of two, in a window of
    ±4 sigma: consecutive rendered positions then stay within half a PSF width of each other, as
    in focus. Particles whose peak pixel would get less than 0.02 electrons are left out.
    """
    ny, nx = image.shape
    z = path_um[:, :, 2]
    sigma = scene.psf_sigma_px * np.sqrt(1 + (z / scene.rayleigh_um) ** 2)  # (S, N)
    total = photons * np.exp(-2 * z**2 / scene.sheet_um**2)
    centre = path_um[:, :, :2] / scene.pixel_um - 0.5  # pixel centres at integer coordinates
    margin = 4 * sigma.max(axis=0)
    shown = (
        ((total / (2 * math.pi * sigma**2)).max(axis=0) > 0.02)
        & np.all(centre.min(axis=0) > -margin[:, None], axis=1)
        & (centre[:, :, 0].max(axis=0) < ny + margin)
        & (centre[:, :, 1].max(axis=0) < nx + margin)
    )
    widening = (sigma.min(axis=0) / scene.psf_sigma_px) ** 2
    stride = 2 ** np.floor(np.log2(widening)).astype(int)
    for k in np.unique(stride[shown]):
        chosen = shown & (stride == k)
        steps = np.arange(0, path_um.shape[0], k)
        width = int(2 * math.ceil(4 * sigma[:, chosen].max())) + 1
        _add_gaussians(
            image,
            centre[steps][:, chosen].reshape(-1, 2),
            sigma[steps][:, chosen].reshape(-1),
            (total[steps][:, chosen] / steps.size).reshape(-1),
            width,
            gain_map,
        )


def _add_gaussians(
    image: np.ndarray,
    centre: np.ndarray,
    sigma: np.ndarray,
    amount: np.ndarray,
    width: int,
    gain_map: np.ndarray,
) -> None:
    """Add pixel-integrated Gaussians (``amount`` electrons) into ``image``, times ``gain_map``."""
    ny, nx = image.shape
    first = np.floor(centre).astype(int) - width // 2
    py = _pixel_profile(centre[:, 0], sigma, first[:, 0], width)
    px = _pixel_profile(centre[:, 1], sigma, first[:, 1], width)
    windows = amount[:, None, None] * py[:, :, None] * px[:, None, :]
    rows = first[:, 0, None, None] + np.arange(width)[None, :, None]
    cols = first[:, 1, None, None] + np.arange(width)[None, None, :]
    rows, cols = np.broadcast_to(rows, windows.shape), np.broadcast_to(cols, windows.shape)
    keep = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
    flat = rows[keep] * nx + cols[keep]
    added = np.bincount(flat, weights=windows[keep], minlength=ny * nx).reshape(ny, nx)
    image += added * gain_map


# --- the cases -------------------------------------------------------------------------------

SETTINGS = {
    "nta": {"pixel_um": 0.166, "fps": 30.0},
    "fast": {"pixel_um": 0.1, "fps": 200.0},
}
SINGLE_SIZES_NM = (50.0, 100.0, 200.0, 400.0, 1000.0)
MIXTURES = {"80+200": ((80.0, 1.0), (200.0, 1.0)), "50+100": ((50.0, 1.0), (100.0, 1.0))}
OFF_PATH = {
    "gradient": Camera(gradient=0.6, vignetting=0.5, illumination_drift=0.15),
    "hot pixels": Camera(hot_pixel_fraction=1e-3),
    "dim camera": Camera(read_noise_e=6.0, background_e=40.0),
}
#: photons of the dim-camera case relative to the default
DIM_PHOTONS = 0.3


def cases(settings: list[str]) -> list[tuple[str, str, Scene]]:
    """(setting, case label, scene) of the sweep."""
    out = []
    for setting in settings:
        geometry = SETTINGS[setting]
        for size in SINGLE_SIZES_NM:
            out.append((setting, f"{size:.0f} nm", Scene(((size, 1.0),), **geometry)))
        for label, populations in MIXTURES.items():
            out.append(
                (setting, f"{label} d2", Scene(populations, photons_brightest=8000.0, **geometry))
            )
        if setting == "nta":
            base = Scene(((100.0, 1.0),), **geometry)
            for label, camera in OFF_PATH.items():
                photons = base.photons_brightest * (DIM_PHOTONS if label == "dim camera" else 1.0)
                out.append(
                    (
                        setting,
                        f"100 nm {label}",
                        replace(base, camera=camera, photons_brightest=photons),
                    )
                )
    return out


def write_tiff(movie: Movie, path: Path) -> None:
    """Write the frames as a multi-page uint16 TIFF (no metadata: the CLI gets it as flags)."""
    tifffile.imwrite(path, movie.frames, photometric="minisblack")


def analyze(path: Path, scene: Scene, flags: tuple[str, ...] = ()) -> dict:
    """Run ``pynta analyze`` with the physical metadata only (and ``flags``) and return its
    JSON summary."""
    return run_pynta_analyze(
        path,
        flags,
        pixel_um=scene.pixel_um,
        frame_interval_s=scene.frame_interval_s,
        exposure_s=scene.exposure_s,
        temperature_c=scene.temperature_c,
        viscosity_pa_s=scene.viscosity_pa_s,
    )


def run_pynta_analyze(path: Path, flags: tuple[str, ...] = (), **metadata: float) -> dict:
    """The JSON summary of the default ``pynta analyze`` of ``path``, given only its physical
    metadata (``pixel_um``, ``frame_interval_s``, ``exposure_s``, ``temperature_c``,
    ``viscosity_pa_s``) and the extra ``flags``, in a process of its own; ``{"error": [last
    line]}`` if it fails."""
    names = {"pixel_um": "--pixel-size-um"}
    command = [sys.executable, "-m", "napari_pynta.cli", "analyze", str(path)]
    for name, value in metadata.items():
        command += [names.get(name, "--" + name.replace("_", "-")), repr(float(value))]
    done = subprocess.run([*command, *flags, "--json", "--no-save"], capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]}
    return json.loads(done.stdout)


def truth_of(movie: Movie) -> dict:
    """Sizes, small population's share in view and particles in view per frame."""
    sizes = sorted({float(d) for d in movie.diameters_nm})
    per_frame = movie.in_view.sum(axis=1)
    small = movie.in_view[:, movie.diameters_nm == sizes[0]].sum()
    return {
        "sizes_nm": sizes,
        "particles_per_frame": float(per_frame.mean()),
        "small_number_fraction": float(small / max(1, per_frame.sum()))
        if len(sizes) > 1
        else math.nan,
    }


def row_of(setting: str, case: str, seed: int, summary: dict, truth: dict, seconds: float) -> dict:
    """One result row: measured against truth."""
    deconvolved = summary.get("deconvolved_nm") or {}
    concentration = summary.get("concentration") or {}
    row = {
        "setting": setting,
        "case": case,
        "seed": seed,
        "truth_nm": truth["sizes_nm"],
        "ensemble_nm": summary.get("diameter_nm"),
        "se_nm": summary.get("diameter_se_nm"),
        "systematic_nm": summary.get("diameter_systematic_nm"),
        "linking_nm": (summary.get("systematic_nm") or {}).get("linking"),
        "peaks_nm": deconvolved.get("peaks") or [],
        "number_fractions": deconvolved.get("peak_number_fractions") or [],
        "small_number_fraction_truth": truth["small_number_fraction"],
        "particles_per_frame": summary.get("particles_per_frame"),
        "particles_in_view": concentration.get("particles_in_view_per_frame"),
        "particles_in_view_sem": concentration.get("particles_in_view_per_frame_sem"),
        "particles_per_frame_sem": concentration.get("particles_per_frame_sem"),
        "hidden_by_neighbours": concentration.get("hidden_by_neighbours"),
        "hidden_by_neighbours_se": concentration.get("hidden_by_neighbours_se"),
        "particles_per_frame_truth": truth["particles_per_frame"],
        "warnings": summary.get("warnings", []),
        "error": summary.get("error"),
        "seconds": seconds,
    }
    return row


def small_share(row: dict) -> float:
    """Measured share of the peaks below the geometric mean of the true sizes."""
    sizes = row["truth_nm"]
    if len(sizes) < 2 or not row["peaks_nm"]:
        return math.nan
    split = math.sqrt(sizes[0] * sizes[-1])
    return float(
        sum(f for p, f in zip(row["peaks_nm"], row["number_fractions"], strict=True) if p < split)
    )


def describe(row: dict) -> str:
    """One printed line per movie."""
    if row["error"]:
        return f"{row['setting']:5s} {row['case']:22s} s{row['seed']} FAILED: {row['error']}"
    truth = row["truth_nm"]
    measured = row["ensemble_nm"]
    se, sys_ = row["se_nm"] or 0.0, row["systematic_nm"] or 0.0
    text = f"{row['setting']:5s} {row['case']:22s} s{row['seed']} "
    text += f"{measured:7.1f} ± {se:.1f} ± {sys_:.1f} nm"
    if len(truth) == 1:
        error = measured - truth[0]
        covered = abs(error) <= 2 * math.hypot(se, sys_)
        text += f" err {100 * error / truth[0]:+5.1f} % ({'covered' if covered else 'NOT covered'})"
    else:
        text += f" small share {small_share(row):.2f} / {row['small_number_fraction_truth']:.2f}"
    peaks = "/".join(f"{p:.0f}" for p in row["peaks_nm"])
    found, true = row["particles_per_frame"] or 0.0, row["particles_per_frame_truth"]
    text += f" peaks {peaks} ppf {found:.1f}/{true:.1f}"
    text += (
        f" ({found / max(true, 1e-9):.2f}) warnings {len(row['warnings'])} [{row['seconds']:.0f} s]"
    )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--settings", default="nta,fast", help="comma-separated: nta, fast")
    parser.add_argument("--only", default="", help="run the cases whose label contains this")
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--dir", type=Path, default=None, help="keep the movies here")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    parser.add_argument(
        "--blur-separation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="analyze with `pynta analyze --[no-]blur-separation` (default: pynta's default)",
    )
    args = parser.parse_args(argv)
    directory = args.dir or Path(tempfile.mkdtemp(prefix="pynta-independent-"))
    directory.mkdir(parents=True, exist_ok=True)
    choice = args.blur_separation
    flags = () if choice is None else ("--blur-separation" if choice else "--no-blur-separation",)
    rows = []
    for setting, case, scene in cases(args.settings.split(",")):
        if args.only and args.only not in f"{setting} {case}":
            continue
        for seed in range(args.seeds):
            movie = simulate(replace(scene, frames=args.frames), seed)
            path = directory / f"independent_{setting}_{case.replace(' ', '_')}_s{seed}.tif"
            write_tiff(movie, path)
            start = time.perf_counter()
            summary = analyze(path, scene, flags)
            row = row_of(setting, case, seed, summary, truth_of(movie), time.perf_counter() - start)
            rows.append(row)
            print(describe(row), flush=True)
            for text in row["warnings"]:
                print(f"    warning: {text}", flush=True)
            if args.dir is None:
                path.unlink()
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
