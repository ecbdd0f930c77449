"""Real-camera artefacts: movies of a third, independent simulator and `pynta analyze` on them.

Both other simulators (``napari_pynta.simulate`` and ``benchmarks/independent_movies.py``) film
with a clean camera: flat (or gently graded) background, white noise, 16 bits, nothing clips. A
real dark-field NTA camera does not. This script writes movies with the artefacts of real
cameras, one per case and combined, and runs the default ``pynta analyze`` on each, comparing
the size, the particles per frame and the warnings with the truth. It imports nothing from
``napari_pynta`` (nor from the other benchmark): its physics is its own.

Physics
    Stokes–Einstein ``D = k_B T / (3 π η d)``; the viscosity of water from the Vogel–Fulcher
    fit ``η = A · exp(B / (T − C))`` (A = 0.02939 mPa·s, B = 507.88 K, C = 149.3 K; within
    0.5 % of tabulated water from 10 to 40 °C). Brownian steps in fine sub-steps inside a box
    with reflecting walls that extends beyond the field of view, so particles enter and leave.
    The exposure integrates the path (motion blur over the whole exposure); the PSF is a
    Gaussian sampled at pixel centres with a sub-pixel 3 × 3 supersampling.
Camera (electrons → ADU)
    Poisson shot noise on signal + background, Gaussian read noise, gain (ADU per electron),
    offset, rounding and clipping to the camera's bit depth.
Artefacts (:class:`Artefacts`)
    ``illumination``: a smooth illumination profile (3 × between opposite corners, with a
    vignette) that shapes the background and the particles' brightness alike.
    ``flicker``: global lamp/laser intensity varying frame to frame (7 % rms) and a background
    of stray light drifting slowly (±40 % over the movie).
    ``scmos``: offset 100 ADU, gain 2.2 ADU/e⁻, fixed-pattern noise per pixel (3 ADU rms) and
    per column (4 ADU rms), 1 % photo-response non-uniformity, a per-pixel read noise with a
    log-normal tail (median 1.6 e⁻; 1 % of pixels 'noisy' at 3–10 × that).
    ``saturated``: an 8-bit camera (no offset beyond 8 ADU) set so that the particles' peak pixel
    clips at 255 for the brighter half of them (per-particle brightness scatter ×/÷ 1.6).
    ``saturated12``: the same at 12 bits (4095).
    ``wide-psf``: twice the magnification (0.083 µm pixels) on the same sample: the PSF is
    2.6 px wide (sigma), wider than the 7 px mask holds.
    ``focus``: particles also diffuse along z through a focal depth (brightness and PSF width
    follow defocus), blink (on → off 3 % per frame, off → on 30 %) and bleach (e-fold time of
    twice the movie).

Truth: particles per frame are those inside the detectable field (3 px from the edges) whose
expected peak pixel signal (illumination, flicker, defocus, blinking and bleaching included, no
motion blur) is at least 3 × the background noise of that pixel.

Run from the repository root::

    python benchmarks/camera_artefact_movies.py --seeds 2 [--only saturated] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import tifffile
from independent_movies import run_pynta_analyze  # the same runner (neither imports pynta)

BOLTZMANN_J_K = 1.380649e-23
EDGE_PX = 3
IN_VIEW_SNR = 3.0
SUPERSAMPLE = 3


def water_viscosity_pa_s(temperature_c: float) -> float:
    """Viscosity of water (Vogel–Fulcher fit, within 0.5 % from 10 to 40 °C)."""
    return 2.939e-5 * math.exp(507.88 / (temperature_c + 273.15 - 149.3))


def diffusion_um2_s(diameter_nm: float, temperature_c: float) -> float:
    """Stokes–Einstein diffusion coefficient (µm²/s) of a sphere in water."""
    kelvin = temperature_c + 273.15
    eta = water_viscosity_pa_s(temperature_c)
    return BOLTZMANN_J_K * kelvin / (3 * math.pi * eta * diameter_nm * 1e-9) * 1e12


@dataclass(frozen=True)
class Artefacts:
    """Which camera artefacts a movie has (all off: a clean camera)."""

    illumination: bool = False
    flicker: bool = False
    scmos: bool = False
    bits: int = 16
    saturate: bool = False
    #: the median (smaller) particle's peak pixel relative to the camera's full scale
    saturation_peak: float = 1.5
    #: a second population this many times larger (1:1 by number, brightness ∝ d⁶), or 0
    second_size_factor: float = 0.0
    focus: bool = False
    #: a higher magnification: pixels this many times smaller in the sample, so the same optics
    #: give a PSF this many times wider in pixels (2: 0.083 µm pixels, PSF sigma 2.6 px)
    magnification: float = 1.0


CASES: dict[str, Artefacts] = {
    "clean": Artefacts(),
    "illumination": Artefacts(illumination=True),
    "flicker": Artefacts(flicker=True),
    "scmos": Artefacts(scmos=True),
    "saturated8": Artefacts(bits=8, saturate=True),
    "saturated12": Artefacts(bits=12, saturate=True),
    "mix": Artefacts(second_size_factor=2.0),
    "saturated-mix": Artefacts(bits=8, saturate=True, saturation_peak=0.4, second_size_factor=2.0),
    "focus": Artefacts(focus=True),
    "combined": Artefacts(illumination=True, flicker=True, scmos=True, focus=True),
    "wide-psf": Artefacts(magnification=2.0),
}


@dataclass(frozen=True)
class Scene:
    """One movie: sample, optics, camera."""

    diameter_nm: float
    artefacts: Artefacts = Artefacts()
    frames: int = 500
    shape: tuple[int, int] = (256, 256)
    pixel_um: float = 0.166
    fps: float = 30.0
    temperature_c: float = 22.0
    #: particles in the box's area that matches the field (the box is larger by the margin)
    particles_in_field: int = 25
    margin_um: float = 3.0
    psf_sigma_px: float = 1.3
    #: electrons of a particle per frame (in focus, unit illumination)
    photons: float = 2500.0
    background_e: float = 25.0
    read_noise_e: float = 1.8
    gain_adu_per_e: float = 1.0
    offset_adu: float = 10.0
    #: focus case: depth of the box (µm) and 1/e² half-width of the focal brightness (µm)
    depth_um: float = 8.0
    focal_um: float = 1.5

    @property
    def interval_s(self) -> float:
        return 1.0 / self.fps

    def magnified(self) -> Scene:
        """The scene at its artefacts' magnification: smaller pixels, a PSF wider in pixels and
        the same sample (as many particles per µm², so fewer in the smaller field)."""
        factor = self.artefacts.magnification
        return replace(
            self,
            pixel_um=self.pixel_um / factor,
            psf_sigma_px=self.psf_sigma_px * factor,
            particles_in_field=round(self.particles_in_field / factor**2),
        )


@dataclass
class Movie:
    frames: np.ndarray
    in_view_per_frame: np.ndarray
    #: particles of the smaller population in view per frame (all of them for a single size)
    small_in_view_per_frame: np.ndarray
    scene: Scene

    @property
    def sizes_nm(self) -> list[float]:
        factor = self.scene.artefacts.second_size_factor
        first = self.scene.diameter_nm
        return [first, first * factor] if factor else [first]


def illumination_map(shape: tuple[int, int], on: bool) -> np.ndarray:
    """Relative illumination: 3 × from the dim to the bright corner, with a vignette; mean 1."""
    if not on:
        return np.ones(shape)
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    u, v = x / (nx - 1), y / (ny - 1)
    ramp = 3.0 ** ((u + v) / 2)
    vignette = 1 - 0.25 * ((2 * u - 1) ** 2 + (2 * v - 1) ** 2) / 2
    profile = ramp * vignette
    return profile / profile.mean()


def _camera_pattern(scene: Scene, rng: np.random.Generator) -> dict[str, np.ndarray | float]:
    """The fixed parts of the camera: offset map, gain map, read-noise map."""
    shape = scene.shape
    if not scene.artefacts.scmos:
        return {
            "offset": np.full(shape, scene.offset_adu),
            "gain": np.full(shape, scene.gain_adu_per_e),
            "read": np.full(shape, scene.read_noise_e),
        }
    offset = 100.0 + 3.0 * rng.standard_normal(shape) + 4.0 * rng.standard_normal(shape[1])
    gain = 2.2 * (1 + 0.01 * rng.standard_normal(shape))
    read = 1.6 * rng.lognormal(0.0, 0.25, shape)
    noisy = rng.random(shape) < 0.01
    read[noisy] *= rng.uniform(3, 10, int(noisy.sum()))
    return {"offset": offset, "gain": gain, "read": read}


def _render(
    image: np.ndarray, centres: np.ndarray, sigma: np.ndarray, electrons: np.ndarray
) -> None:
    """Add Gaussian spots (``electrons`` each, supersampled pixel integral) into ``image``."""
    ny, nx = image.shape
    keep = electrons > 0
    centres, sigma, electrons = centres[keep], sigma[keep], electrons[keep]
    if not len(centres):
        return
    half = int(math.ceil(4 * sigma.max()))
    offsets = np.arange(-half, half + 1)
    sub = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    base = np.floor(centres + 0.5).astype(int)  # nearest pixel centre
    profiles = []
    for axis in (0, 1):
        # sampled positions (pixel + sub-offset) relative to the centre
        rel = (base[:, axis, None, None] + offsets[None, :, None] + sub[None, None, :]) - centres[
            :, axis, None, None
        ]
        g = np.exp(-0.5 * (rel / sigma[:, None, None]) ** 2).mean(axis=2)
        profiles.append(g / (math.sqrt(2 * math.pi) * sigma[:, None]))
    windows = electrons[:, None, None] * profiles[0][:, :, None] * profiles[1][:, None, :]
    rows = base[:, 0, None, None] + offsets[None, :, None]
    cols = base[:, 1, None, None] + offsets[None, None, :]
    rows, cols = np.broadcast_to(rows, windows.shape), np.broadcast_to(cols, windows.shape)
    inside = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
    flat = rows[inside] * nx + cols[inside]
    image += np.bincount(flat, weights=windows[inside], minlength=ny * nx).reshape(ny, nx)


def simulate(scene: Scene, seed: int) -> Movie:
    """Simulate the movie of ``scene`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    art = scene.artefacts
    ny, nx = scene.shape
    field_um = np.array([ny, nx]) * scene.pixel_um
    low = np.array([-scene.margin_um, -scene.margin_um, -scene.depth_um / 2])
    high = np.array([field_um[0] + scene.margin_um, field_um[1] + scene.margin_um])
    high = np.append(high, scene.depth_um / 2)
    area_factor = np.prod((high[:2] - low[:2]) / field_um)
    # in the focus case as many particles are within the focal width on average
    depth_factor = scene.depth_um / (2 * scene.focal_um) if art.focus else 1.0
    n = int(round(scene.particles_in_field * area_factor * depth_factor))
    dims = 3 if art.focus else 2
    position = low[:dims] + rng.random((n, dims)) * (high[:dims] - low[:dims])
    small = np.ones(n, dtype=bool)
    diameters = np.full(n, scene.diameter_nm)
    photons = np.full(n, scene.photons)
    if art.second_size_factor:
        small = rng.random(n) < 0.5
        diameters[~small] *= art.second_size_factor
        photons[~small] *= art.second_size_factor**6
    d = np.array([diffusion_um2_s(size, scene.temperature_c) for size in diameters])
    step_px = math.sqrt(2 * d.max() * scene.interval_s) / scene.pixel_um
    n_sub = int(min(100, max(8, math.ceil((step_px / (0.4 * scene.psf_sigma_px)) ** 2))))
    sub_sd = np.sqrt(2 * d * scene.interval_s / n_sub)[:, None]
    bits = art.bits
    full_scale = 2**bits - 1
    if art.saturate:
        # brightness scatter; the median particle's peak pixel is saturation_peak x full scale
        photons = photons * rng.lognormal(0.0, math.log(1.6), n)
    illumination = illumination_map(scene.shape, art.illumination)
    camera = _camera_pattern(scene, rng)
    gain = camera["gain"]
    if art.saturate:
        peak_fraction = 1 / (2 * math.pi * scene.psf_sigma_px**2)
        level = (
            art.saturation_peak * (full_scale - scene.offset_adu) / (scene.photons * peak_fraction)
        )
        gain = gain * level / scene.gain_adu_per_e
    flicker = 1 + 0.07 * rng.standard_normal(scene.frames) if art.flicker else np.ones(scene.frames)
    stray = (
        0.4 * np.sin(2 * math.pi * np.arange(scene.frames) / scene.frames)
        if art.flicker
        else np.zeros(scene.frames)
    )
    on = np.ones(n, dtype=bool)
    bleach_time = 2.0 * scene.frames
    frames = np.empty((scene.frames, ny, nx), dtype=np.uint8 if bits == 8 else np.uint16)
    in_view = np.zeros(scene.frames)
    small_in_view = np.zeros(scene.frames)
    for t in range(scene.frames):
        path = np.empty((n_sub, n, dims))
        for k in range(n_sub):
            position = position + sub_sd * rng.standard_normal(position.shape)
            span = high[:dims] - low[:dims]
            folded = np.mod(position - low[:dims], 2 * span)
            position = low[:dims] + np.where(folded > span, 2 * span - folded, folded)
            path[k] = position
        brightness = photons * flicker[t]
        if art.focus:
            on = np.where(on, rng.random(n) >= 0.03, rng.random(n) < 0.30)
            brightness = brightness * on * math.exp(-t / bleach_time)
        z = path[:, :, 2] if art.focus else np.zeros((n_sub, n))
        defocus = np.exp(-2 * z**2 / scene.focal_um**2)
        sigma = scene.psf_sigma_px * np.sqrt(1 + (z / scene.focal_um) ** 2)
        centres = path[:, :, :2] / scene.pixel_um - 0.5
        signal = np.zeros(scene.shape)
        _render(
            signal,
            centres.reshape(-1, 2),
            sigma.reshape(-1),
            (brightness[None, :] * defocus / n_sub).reshape(-1),
        )
        background = scene.background_e * (1 + stray[t]) * flicker[t]
        expected = (signal + background) * illumination
        electrons = rng.poisson(expected) + camera["read"] * rng.standard_normal(scene.shape)
        adu = np.rint(camera["offset"] + gain * electrons)
        frames[t] = np.clip(adu, 0, full_scale)
        # truth at the exposure's mean position
        mean = centres.mean(axis=0)
        peak_e = (
            brightness
            * defocus.mean(axis=0)
            / (2 * math.pi * sigma.mean(axis=0) ** 2)
            * _at(illumination, mean)
        )
        noise_e = np.sqrt(
            _at(expected - signal * illumination, mean) + _at(camera["read"], mean) ** 2
        )
        inside = np.all(
            (mean >= EDGE_PX - 0.5) & (mean <= np.array([ny, nx]) - EDGE_PX - 0.5), axis=1
        )
        seen = inside & (peak_e >= IN_VIEW_SNR * noise_e)
        in_view[t] = np.sum(seen)
        small_in_view[t] = np.sum(seen & small)
    return Movie(frames, in_view, small_in_view, scene)


def _at(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Values of ``image`` at the nearest pixel of each (y, x) point (clipped to the frame)."""
    rows = np.clip(np.rint(points[:, 0]).astype(int), 0, image.shape[0] - 1)
    cols = np.clip(np.rint(points[:, 1]).astype(int), 0, image.shape[1] - 1)
    return image[rows, cols]


def analyze(path: Path, scene: Scene) -> dict:
    """Run the default ``pynta analyze`` with the physical metadata only; its JSON summary."""
    return run_pynta_analyze(
        path,
        pixel_um=scene.pixel_um,
        frame_interval_s=scene.interval_s,
        exposure_s=scene.interval_s,
        temperature_c=scene.temperature_c,
        viscosity_pa_s=water_viscosity_pa_s(scene.temperature_c),
    )


def row_of(case: str, scene: Scene, seed: int, movie: Movie, summary: dict) -> dict:
    """Measured against truth: size error, particles per frame, warnings."""
    truth = scene.diameter_nm
    sizes = movie.sizes_nm
    deconvolved = summary.get("deconvolved_nm") or {}
    peaks = deconvolved.get("peaks") or []
    fractions = deconvolved.get("peak_number_fractions") or []
    split = math.sqrt(sizes[0] * sizes[-1])
    size = summary.get("diameter_nm")
    se = summary.get("diameter_se_nm") or 0.0
    systematic = summary.get("diameter_systematic_nm") or 0.0
    error = (size - truth) / truth if size is not None else math.nan
    return {
        "case": case,
        "truth_nm": sizes,
        "seed": seed,
        "diameter_nm": size,
        "se_nm": se,
        "systematic_nm": systematic,
        "error": error,
        "covered": bool(size is not None and abs(size - truth) <= 2 * math.hypot(se, systematic)),
        "peaks_nm": peaks,
        "number_fractions": fractions,
        # a single size's summary may leave the fractions out
        "small_share": float(
            sum(f for p, f in zip(peaks, fractions, strict=False) if p < split)
            if len(sizes) > 1
            else math.nan
        ),
        "small_share_truth": float(
            movie.small_in_view_per_frame.sum() / max(1.0, movie.in_view_per_frame.sum())
        ),
        "particles_per_frame": summary.get("particles_per_frame"),
        "particles_per_frame_truth": float(movie.in_view_per_frame.mean()),
        "minmass": (summary.get("detection") or {}).get("minmass"),
        "warnings": summary.get("warnings", []),
        "failure": summary.get("error"),
    }


def describe(row: dict) -> str:
    """One printed line per movie."""
    truth = "+".join(f"{size:.0f}" for size in row["truth_nm"])
    head = f"{row['case']:13s} {truth:>7s} nm s{row['seed']}"
    if row["failure"]:
        return f"{head} FAILED: {row['failure']}"
    peaks = "/".join(f"{p:.0f}" for p in row["peaks_nm"])
    found, true = row["particles_per_frame"] or 0.0, row["particles_per_frame_truth"]
    if len(row["truth_nm"]) > 1:
        verdict = f"small share {row['small_share']:.2f} / {row['small_share_truth']:.2f}"
    else:
        covered = "covered" if row["covered"] else "NOT covered"
        verdict = f"err {100 * row['error']:+5.1f} % ({covered})"
    return (
        f"{head} {row['diameter_nm']:7.1f} ± {row['se_nm']:.1f} ± {row['systematic_nm']:.1f} nm "
        f"{verdict} peaks {peaks} ppf {found:.1f}/{true:.1f} ({found / max(true, 1e-9):.2f}) "
        f"minmass {row['minmass'] or 0:.0f} warnings {len(row['warnings'])}"
    )


def write_movie(movie: Movie, path: Path) -> None:
    """A multi-page TIFF in the camera's own dtype (uint8 for 8-bit cameras, else uint16)."""
    tifffile.imwrite(path, movie.frames, photometric="minisblack")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--sizes", default="100,400", help="comma-separated diameters (nm)")
    parser.add_argument(
        "--only", default="", help="comma-separated case names: " + ", ".join(CASES)
    )
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="keep the movies here")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args(argv)
    chosen = [c for c in args.only.split(",") if c] or list(CASES)
    unknown = set(chosen) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)}; allowed: {', '.join(CASES)}")
    directory = args.dir or Path(tempfile.mkdtemp(prefix="pynta-camera-"))
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for case in chosen:
        for size in (float(s) for s in args.sizes.split(",")):
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                scene = Scene(size, CASES[case], frames=args.frames).magnified()
                movie = simulate(scene, seed)
                path = directory / f"camera_{case}_{size:.0f}nm_s{seed}.tif"
                write_movie(movie, path)
                start = time.perf_counter()
                row = row_of(case, scene, seed, movie, analyze(path, scene))
                row["seconds"] = time.perf_counter() - start
                rows.append(row)
                print(describe(row), f"[{row['seconds']:.0f} s]", flush=True)
                for text in row["warnings"]:
                    print(f"    warning: {text}", flush=True)
                if args.dir is None:
                    path.unlink()
                if args.json:
                    args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
