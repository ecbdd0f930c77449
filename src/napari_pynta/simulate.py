"""Ground-truth NTA movies: spheres diffusing in 3-D, imaged through a thin focal layer.

The model, per frame of interval ``dt`` and exposure ``τ ≤ dt``:

- Each particle diffuses in 3-D with the Stokes–Einstein coefficient of its diameter inside a
  periodic box: the field of view plus a lateral margin, ``depth_um`` deep. Only particles within
  ``focal_depth_um`` of the focal plane are imaged, so particles enter and leave the view both
  laterally and axially and tracks have finite lengths.
- A particle that leaves the box re-enters on the opposite side as a *new* particle (new id, same
  diameter), so a particle id never jumps and the density is constant. The box holds a fixed set
  of diameters: each population gets ``fraction`` of the particles (largest remainder) with
  diameters at evenly spaced quantiles of its log-normal. Keeping the diameter on re-entry keeps
  the composition of the imaged volume exactly that of the populations; drawing a fresh diameter
  instead would bias it toward large particles, which stay longer in the box.
- Motion blur: the camera integrates the PSF over ``blur_substeps`` positions evenly spread in the
  exposure (at the centres of equal sub-intervals). The truth position is the mean of those
  positions. For consecutive frames the per-axis variance of the truth displacement is then
  ``2D·(dt − τ/3·(1 − 1/n²))``, the discrete form of the blur formula ``MSD = 4DΔt − 8RDΔt``.
- PSF: a 2-D Gaussian of ``psf_sigma_px`` integrated over each pixel. Brightness (photons per frame,
  1 ADU per photon) is ``brightness_at_100nm · (d/100 nm)^brightness_exponent``. Rayleigh
  scattering goes as d⁶, but from ~100 nm on Mie scattering grows much more slowly and real
  instruments set gain so that small and large particles fit the camera's range; the default
  exponent 3 keeps 300 nm (27× brighter than 100 nm) below saturation with the default settings.
- Noise: constant background, shot noise and Gaussian read noise, rounded and clipped to uint16.
  When every pixel expects at least :data:`NORMAL_APPROXIMATION_MIN_PHOTONS` photons the shot noise
  uses the normal approximation of the Poisson law (same mean and variance, much faster); normal
  variates come from a 16-bit inverse-CDF table.

Options that make the movie harder, like real samples (all off by default; the default movie is
unchanged by them):

- ``brightness_exponent=6``: Rayleigh scattering, as real NTA sees small particles.
- ``defocus_um``: the PSF widens as ``sigma(z) = psf_sigma_px * sqrt(1 + (z / defocus_um)^2)``
  away from the focal plane, with the same total photons, so out-of-focus particles are wider and
  their peak dimmer (widths are rendered in steps of :data:`DEFOCUS_WIDTH_STEP`).
- ``illumination_sigma_um``: a Gaussian illumination (and collection) profile in depth in place
  of the hard-edged focal layer, as a real light sheet and depth of field fall off: a particle at
  ``z`` from the focal plane scatters ``exp(-z² / 2σ²)`` of its in-focus photons and is imaged
  (and listed in the truth) while that is at least :data:`ILLUMINATION_FLOOR`, so particles fade
  in and out of view gradually and the detector decides the depth that is seen.
  ``focal_depth_um`` keeps its meaning for ``n_particles`` (the density).
- ``drift_um_s``: a uniform flow (y, x) carrying every particle.
- ``correlated_motion_um_s``, ``correlation_time_s``: every particle also moves with its own
  velocity, an Ornstein–Uhlenbeck process (rms per axis, correlation time), constant within a
  frame: steps are correlated at lags 1, 2, 3 ... as ``exp(-lag dt / correlation_time_s)``
  (convection, crowding, vibration the drift subtraction does not remove).
- ``compression_step_adu``: JPEG/MPEG-like video compression. Frames are cut into 8×8 blocks whose
  DCT coefficients are rounded to multiples of ``compression_step_adu · (1 + u + v)`` (coarser at
  high spatial frequencies); every ``keyframe_interval``-th frame is coded alone, the others as the
  difference to the previous decoded frame, so unchanged blocks keep their old content.

Rendering is built for speed (a simulated camera must keep up with a real one, > 1000 frames/s
at 512x512 on one core): the background with its noise is drawn once into a bank of several
frames and each frame starts as a copy of it from a random offset (pixels of consecutive frames
stay independent); only the window around each particle is rendered, from a tabulated Gaussian
CDF, and added with its own shot noise by a small numba kernel. Independent Poisson counts add
(``Poisson(b) + Poisson(s) = Poisson(b + s)``, likewise for the normal approximation), so each
pixel keeps the distribution of the model above; only the rounding is done twice on lit pixels.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.fft import dctn, idctn
from scipy.special import erf, ndtri

from napari_pynta.errors import PyntaInputError, require_int, require_number, require_positive
from napari_pynta.parameters import SETTINGS, SIZEABLE_NM
from napari_pynta.physics import diffusion_um2_s, resolve_viscosity_pa_s

if TYPE_CHECKING:  # pandas is imported where the truth tables are built: `pynta --help` stays quick
    import pandas as pd

#: background level from which shot noise is drawn from a normal instead of a Poisson law
NORMAL_APPROXIMATION_MIN_PHOTONS = 30.0

TRUTH_COLUMNS = ("frame", "particle", "y", "x", "z_um", "diameter_nm")

_UINT16_MAX = float(np.iinfo(np.uint16).max)
# Inverse-CDF table of the standard normal at 2**16 equally likely levels: indexing it with random
# uint16 draws a normal variate (variance 0.99998, tails cut at 4.3 sigma) 3x faster than
# Generator.standard_normal, which dominates the cost of a simulated frame.
_NORMAL_QUANTILES = ndtri((np.arange(2**16) + 0.5) / 2**16).astype(np.float32)
#: reach of a rendered PSF, in its standard deviations
PSF_HALF_WIDTH_SIGMAS = 4.0
#: relative step of the PSF widths rendered with ``defocus_um`` (widths are rounded to it)
DEFOCUS_WIDTH_STEP = 0.05
#: with ``illumination_sigma_um``, particles lit below this fraction of the in-focus light are
#: not imaged (a Gaussian profile never reaches 0)
ILLUMINATION_FLOOR = 0.05
#: side of the square blocks of the simulated video compression
COMPRESSION_BLOCK_PX = 8
#: samples per pixel of the tabulated Gaussian CDF that renders the PSF
_CDF_SAMPLES_PER_PX = 256
#: the noise bank holds this many frames of background noise (at least _NOISE_BANK_MIN_PIXELS)
_NOISE_BANK_FRAMES = 8
_NOISE_BANK_MIN_PIXELS = 2**21
#: the illumination profile's reach in its standard deviations (where it is ILLUMINATION_FLOOR)
_FLOOR_SIGMAS = math.sqrt(2.0 * math.log(1.0 / ILLUMINATION_FLOOR))


@dataclass(frozen=True)
class Population:
    """A particle population: log-normal diameters with median ``diameter_nm``.

    Parameters
    ----------
    diameter_nm : float
        Median hydrodynamic diameter in nm.
    fraction : float
        Number fraction of this population in a mixture (weights are normalised to sum 1).
    sigma_log : float
        Standard deviation of ln(diameter); 0 for monodisperse particles.
    """

    diameter_nm: float
    fraction: float = 1.0
    sigma_log: float = 0.0

    def __post_init__(self) -> None:
        # a diameter no light microscope can size made a movie of nothing (b23: 10⁹ nm)
        low, high = SIZEABLE_NM
        diameter = require_number(
            "diameter_nm", self.diameter_nm, minimum=low, maximum=high, unit="nm"
        )
        object.__setattr__(self, "diameter_nm", diameter)
        object.__setattr__(self, "fraction", require_positive("fraction", self.fraction))
        sigma_log = require_number("sigma_log", self.sigma_log, minimum=0.0, maximum=1.5)
        object.__setattr__(self, "sigma_log", sigma_log)


@dataclass(frozen=True)
class SimulationSettings:
    """Everything that defines a simulated NTA movie (see the module docstring for the model).

    Parameters
    ----------
    shape : tuple of int
        Frame shape (Y, X) in pixels.
    n_particles : int
        Mean number of particles in the imaged volume (frame area × ``focal_depth_um``); the
        default keeps particles further apart than they move between frames, where linking is
        unambiguous.
    populations : sequence of Population
        The particle populations (a mixture when there are several).
    pixel_size_um, frame_interval_s : float
        Pixel size in the sample (µm) and time between frames (s).
    exposure_s : float, optional
        Exposure time (s), at most the frame interval; None means the full frame interval.
    temperature_c : float
        Sample temperature (°C).
    viscosity_pa_s : float, optional
        Viscosity of the medium; None means water at ``temperature_c`` (IAPWS 2008).
    psf_sigma_px : float
        Standard deviation of the Gaussian PSF in pixels.
    brightness_at_100nm : float
        Photons per frame scattered by a 100 nm particle.
    brightness_exponent : float
        Brightness scales as ``(d / 100 nm) ** brightness_exponent``.
    background, read_noise : float
        Background (photons per pixel per frame) and read noise (ADU rms).
    blur_substeps : int
        Positions per exposure over which the PSF is integrated (motion blur).
    depth_um, focal_depth_um : float
        Depth of the simulated slab and thickness of the imaged layer at its centre (µm).
    defocus_um : float, optional
        Distance from the focal plane at which the PSF is √2 wider (same photons); None: no
        defocus (every imaged particle is sharp).
    illumination_sigma_um : float, optional
        Standard deviation (µm) of a Gaussian illumination profile in depth: a particle's photons
        are ``exp(-z² / 2σ²)`` of its in-focus ones and it is imaged while that is at least
        :data:`ILLUMINATION_FLOOR` (``|z| <= σ sqrt(2 ln(1 / floor))``, within ``depth_um``).
        None: every particle within ``focal_depth_um`` is imaged at full brightness (a hard
        edge).
    drift_um_s : tuple of float
        Uniform flow velocity (y, x) in µm/s.
    correlated_motion_um_s : float
        Rms velocity per axis (µm/s) of each particle's own Ornstein–Uhlenbeck motion; 0: none.
    correlation_time_s : float
        Correlation time of that motion (s).
    compression_step_adu : float
        Quantisation step (ADU) of the simulated video compression; 0: uncompressed frames.
    keyframe_interval : int
        Frames between independently coded frames of the compression.
    seed : int, optional
        Seed of the random generator; the same seed gives the same movie.
    """

    shape: tuple[int, int] = (256, 256)
    n_particles: int = 25
    populations: tuple[Population, ...] = (Population(100.0),)
    pixel_size_um: float = 0.1
    frame_interval_s: float = 0.01
    exposure_s: float | None = None
    temperature_c: float = 22.0
    viscosity_pa_s: float | None = None
    psf_sigma_px: float = 1.2
    brightness_at_100nm: float = 2000.0
    brightness_exponent: float = 3.0
    background: float = 100.0
    read_noise: float = 3.0
    blur_substeps: int = 8
    depth_um: float = 12.0
    focal_depth_um: float = 4.0
    defocus_um: float | None = None
    illumination_sigma_um: float | None = None
    drift_um_s: tuple[float, float] = (0.0, 0.0)
    correlated_motion_um_s: float = 0.0
    correlation_time_s: float = 0.1
    compression_step_adu: float = 0.0
    keyframe_interval: int = 12
    seed: int | None = None

    def __post_init__(self) -> None:
        def set_field(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)  # the dataclass is frozen

        shape = tuple(self.shape) if isinstance(self.shape, (tuple, list)) else ()
        if len(shape) != 2:
            raise PyntaInputError(f"shape must be two integers (Y, X), got {self.shape!r}")
        set_field("shape", tuple(require_int("shape", size, minimum=8) for size in shape))
        set_field("n_particles", require_int("n_particles", self.n_particles, minimum=0))
        populations = tuple(self.populations) if isinstance(self.populations, Sequence) else ()
        if not populations or not all(isinstance(p, Population) for p in populations):
            raise PyntaInputError("populations must be a non-empty sequence of Population")
        set_field("populations", populations)
        # a pixel the analysis refuses made a movie no analysis could open (b16: 10⁹ µm)
        set_field("pixel_size_um", SETTINGS["pixel_size_um"].check(self.pixel_size_um))
        for name in (
            "frame_interval_s",
            "psf_sigma_px",
            "depth_um",
            "focal_depth_um",
            "correlation_time_s",
        ):
            set_field(name, require_positive(name, getattr(self, name)))
        for name in (
            "brightness_at_100nm",
            "brightness_exponent",
            "background",
            "read_noise",
            "correlated_motion_um_s",
            "compression_step_adu",
        ):
            set_field(name, require_positive(name, getattr(self, name), allow_zero=True))
        if self.defocus_um is not None:
            set_field("defocus_um", require_positive("defocus_um", self.defocus_um))
        if self.illumination_sigma_um is not None:
            sigma = require_positive("illumination_sigma_um", self.illumination_sigma_um)
            set_field("illumination_sigma_um", sigma)
            if 2.0 * self.imaged_half_depth_um > self.depth_um:
                raise PyntaInputError(
                    f"illumination_sigma_um must light at most depth_um ({self.depth_um} µm): "
                    f"particles are imaged within ±{self.imaged_half_depth_um:.3g} µm "
                    f"(σ·{_FLOOR_SIGMAS:.3g}), so σ must be <= "
                    f"{self.depth_um / (2.0 * _FLOOR_SIGMAS):.3g} µm, got {sigma!r}",
                    "illumination_sigma_um",
                    ("depth_um",),
                )
        drift = tuple(self.drift_um_s) if isinstance(self.drift_um_s, (tuple, list)) else ()
        if len(drift) != 2 or not all(
            isinstance(v, (int, float, np.number)) and math.isfinite(v) for v in drift
        ):
            raise PyntaInputError(
                f"drift_um_s must be two finite numbers (y, x) in µm/s, got {self.drift_um_s!r}"
            )
        set_field("drift_um_s", tuple(float(v) for v in drift))
        set_field(
            "keyframe_interval", require_int("keyframe_interval", self.keyframe_interval, minimum=1)
        )
        if self.exposure_s is not None:
            exposure = require_positive("exposure_s", self.exposure_s)
            if exposure > self.frame_interval_s:
                raise PyntaInputError(
                    f"exposure_s must be > 0 and at most frame_interval_s "
                    f"({self.frame_interval_s} s), got {exposure!r}",
                    "exposure_s",
                    ("frame_interval_s",),
                )
            set_field("exposure_s", exposure)
        if self.focal_depth_um > self.depth_um:
            raise PyntaInputError(
                f"focal_depth_um must be <= depth_um ({self.depth_um} µm), "
                f"got {self.focal_depth_um!r}"
            )
        set_field("blur_substeps", require_int("blur_substeps", self.blur_substeps, minimum=1))
        if self.seed is not None:
            set_field("seed", require_int("seed", self.seed, minimum=0))
        # the limits `pynta analyze` holds a movie's metadata to (b23: 10⁹ Pa·s, -200 °C)
        for name in ("temperature_c", "viscosity_pa_s"):
            set_field(name, SETTINGS[name].check(getattr(self, name)))
        # without a viscosity, the temperature must be in the water formula's range too
        resolve_viscosity_pa_s(self.temperature_c, self.viscosity_pa_s)

    @property
    def imaged_half_depth_um(self) -> float:
        """Distance from the focal plane (µm) up to which particles are imaged: half
        ``focal_depth_um``, or where the illumination profile falls to
        :data:`ILLUMINATION_FLOOR`."""
        if self.illumination_sigma_um is None:
            return self.focal_depth_um / 2.0
        return self.illumination_sigma_um * _FLOOR_SIGMAS

    def illumination(self, z_um: np.ndarray) -> np.ndarray:
        """Fraction of the in-focus photons scattered at ``z_um`` from the focal plane (1 without
        ``illumination_sigma_um``).

        Parameters
        ----------
        z_um : ndarray
            Distances from the focal plane, µm.

        Returns
        -------
        ndarray
            ``exp(-z² / 2σ²)``, or ones.
        """
        z_um = np.asarray(z_um, dtype=float)
        if self.illumination_sigma_um is None:
            return np.ones_like(z_um)
        return np.exp(-(z_um**2) / (2.0 * self.illumination_sigma_um**2))

    @property
    def resolved_exposure_s(self) -> float:
        """The exposure time in s (the frame interval when ``exposure_s`` is None)."""
        return self.frame_interval_s if self.exposure_s is None else self.exposure_s

    @property
    def resolved_viscosity_pa_s(self) -> float:
        """The viscosity in Pa·s (water at ``temperature_c`` when ``viscosity_pa_s`` is None)."""
        return resolve_viscosity_pa_s(self.temperature_c, self.viscosity_pa_s)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (inverse of :meth:`from_dict`)."""
        settings = dataclasses.asdict(self)
        settings["shape"] = list(self.shape)
        settings["drift_um_s"] = list(self.drift_um_s)
        return settings

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> SimulationSettings:
        """Settings from the dict written by :meth:`to_dict`."""
        settings = dict(settings)
        if "populations" in settings:
            settings["populations"] = tuple(
                Population(**population) for population in settings["populations"]
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise PyntaInputError(f"unknown simulation settings {unknown}; known: {sorted(known)}")
        return cls(**settings)


def _allocate_counts(fractions: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` into integer counts proportional to ``fractions`` (largest remainder)."""
    exact = fractions / fractions.sum() * total
    counts = np.floor(exact).astype(np.int64)
    remainder_order = np.argsort(-(exact - counts), kind="stable")
    counts[remainder_order[: total - counts.sum()]] += 1
    return counts


def _stratified_diameters_nm(populations: Sequence[Population], counts: np.ndarray) -> np.ndarray:
    """``counts[k]`` diameters of population k at evenly spaced quantiles of its log-normal."""
    diameters = []
    for population, count in zip(populations, counts, strict=False):
        quantiles = (np.arange(count) + 0.5) / max(count, 1)
        diameters.append(population.diameter_nm * np.exp(population.sigma_log * ndtri(quantiles)))
    return np.concatenate(diameters)


@functools.lru_cache(maxsize=64)
def _gaussian_cdf_table(sigma: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The normal CDF of standard deviation ``sigma`` tabulated for linear interpolation.

    Returns the CDF at ``u = -reach + k / _CDF_SAMPLES_PER_PX`` (k = 0, 1, ...), the slope
    between consecutive samples (0 after the last) and ``reach``, beyond which the CDF is 0 or 1
    to double precision. Interpolating this table costs a tenth of ``erf`` and is off by < 1e-7.
    """
    reach = 9.0 * sigma
    u = np.arange(-reach, reach + 1.0 / _CDF_SAMPLES_PER_PX, 1.0 / _CDF_SAMPLES_PER_PX)
    cdf = 0.5 * (1.0 + erf(u / (math.sqrt(2.0) * sigma)))
    return cdf, np.append(np.diff(cdf), 0.0), reach


def _pixel_integrated_gaussian(
    centers: np.ndarray, positions: np.ndarray, offsets: np.ndarray, sigma: float
) -> np.ndarray:
    """Fraction of a unit 1-D Gaussian falling in each pixel of a window.

    ``centers`` (N,) are the integer window centres, ``positions`` (N, n) the sub-step positions,
    ``offsets`` (P,) the pixel offsets of the window; returns (N, P, n).
    """
    cdf, slope, reach = _gaussian_cdf_table(float(sigma))
    edges = np.append(offsets - 0.5, offsets[-1] + 0.5)
    distance = edges[None, :, None] + (centers[:, None] - positions)[:, None, :]
    sample = np.clip((distance + reach) * _CDF_SAMPLES_PER_PX, 0, len(cdf) - 1)
    index = sample.astype(np.intp)
    cumulative = cdf[index] + (sample - index) * slope[index]
    return np.diff(cumulative, axis=1)


def _render_windows(
    positions_px: np.ndarray, photons: np.ndarray, psf_sigma_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Expected photons in a square window around each motion-blurred spot.

    Only the windows are computed, vectorised over particles and sub-steps; each particle's photons
    are split evenly over its sub-step positions. Arguments as :func:`render_expected_photons`.

    Returns
    -------
    corners : ndarray
        (N, 2) int64 image row and column of each window's first pixel.
    windows : ndarray
        (N, P, P) float32 expected photons in each window (pixels may lie outside the image).
    """
    centers = np.rint(positions_px.mean(axis=1)).astype(np.int64)
    excursion = float(np.abs(positions_px - centers[:, None, :]).max())
    half_width = render_half_width_px(psf_sigma_px, excursion)
    offsets = np.arange(-half_width, half_width + 1)
    profile_y = _pixel_integrated_gaussian(
        centers[:, 0], positions_px[:, :, 0], offsets, psf_sigma_px
    )
    profile_x = _pixel_integrated_gaussian(
        centers[:, 1], positions_px[:, :, 1], offsets, psf_sigma_px
    )
    weights = photons / positions_px.shape[1]
    # sum over sub-steps of outer(profile_y, profile_x), one matrix product per particle
    windows = np.matmul(profile_y * weights[:, None, None], profile_x.transpose(0, 2, 1))
    return centers - half_width, windows.astype(np.float32)


def _add_windows(image: np.ndarray, corners: np.ndarray, windows: np.ndarray, counts: bool) -> None:
    """Add each window to ``image`` at its corner, skipping pixels outside the image.

    With ``counts`` the image holds uint16 camera counts: each added value is rounded and the sum
    clipped to 0..65535; otherwise values are added as they are. Call it compiled, through
    :func:`_window_adder`.
    """
    height, width = image.shape
    size = windows.shape[1]
    for k in range(windows.shape[0]):
        row0, col0 = corners[k, 0], corners[k, 1]
        for i in range(max(0, -row0), min(size, height - row0)):
            for j in range(max(0, -col0), min(size, width - col0)):
                if counts:
                    total = image[row0 + i, col0 + j] + round(windows[k, i, j])
                    image[row0 + i, col0 + j] = min(max(total, 0.0), 65535.0)
                else:
                    image[row0 + i, col0 + j] += windows[k, i, j]


@functools.cache
def _window_adder() -> Callable[[np.ndarray, np.ndarray, np.ndarray, bool], None]:
    """:func:`_add_windows` compiled by numba (imported here: importing this module stays light)."""
    from numba import njit

    return njit(cache=True)(_add_windows)


def render_expected_photons(
    shape: tuple[int, int], positions_px: np.ndarray, photons: np.ndarray, psf_sigma_px: float
) -> np.ndarray:
    """Noise-free image of motion-blurred Gaussian spots.

    Parameters
    ----------
    shape : tuple of int
        Image shape (Y, X).
    positions_px : ndarray
        (N, n, 2) sub-step positions (y, x) in pixels; pixel (i, j) is centred on (i, j).
    photons : ndarray
        (N,) photons per particle in the frame.
    psf_sigma_px : float
        Gaussian PSF standard deviation in pixels.

    Returns
    -------
    ndarray
        (Y, X) float32 expected photons per pixel.
    """
    image = np.zeros(shape, dtype=np.float32)
    if len(positions_px):
        corners, windows = _render_windows(positions_px, photons, psf_sigma_px)
        _window_adder()(image, corners, windows, False)
    return image


class _NoiseBank:
    """Camera frames of the empty background (shot and read noise), drawn once and reused.

    A frame starts as a slice of the bank at a random offset, so consecutive frames are
    independent pixel by pixel; the particles' light is then added with its own shot noise
    (:meth:`add_signal`), which is exact because independent Poisson (or normal) counts add:
    ``Poisson(b) + Poisson(s) = Poisson(b + s)``. This replaces one random draw per pixel and
    frame by a copy, the cost of a simulated frame.
    """

    def __init__(self, settings: SimulationSettings, rng: np.random.Generator) -> None:
        self.settings = settings
        self._rng = rng
        n_pixels = settings.shape[0] * settings.shape[1]
        self._n_pixels = n_pixels
        n_bank = max(_NOISE_BANK_FRAMES * n_pixels, min(_NOISE_BANK_MIN_PIXELS, 64 * n_pixels))
        background = np.full(n_bank, settings.background, dtype=np.float32)
        self._bank = _noisy_counts(background, settings, rng)
        # compile (or load) the kernel now, not in the first frame a camera is timed on
        _window_adder()(
            np.zeros((1, 1), np.uint16),
            np.zeros((1, 2), np.int64),
            np.ones((1, 1, 1), np.float32),
            True,
        )

    def frame(self) -> np.ndarray:
        """A background frame (a copy: the caller may change it)."""
        start = int(self._rng.integers(0, len(self._bank) - self._n_pixels + 1))
        return self._bank[start : start + self._n_pixels].reshape(self.settings.shape).copy()

    def add_signal(self, frame: np.ndarray, corners: np.ndarray, windows: np.ndarray) -> None:
        """Add the photons expected in ``windows`` (see :func:`_render_windows`) to ``frame``
        with their shot noise."""
        if self.settings.background >= NORMAL_APPROXIMATION_MIN_PHOTONS:
            # the pixel total (background + signal) is normal: add the signal's mean and variance
            counts = windows + np.sqrt(windows) * _standard_normal(self._rng, windows.shape)
        else:
            counts = self._rng.poisson(windows).astype(np.float32)
        _window_adder()(frame, corners, counts, True)


def _standard_normal(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """Standard normal float32 variates from the inverse-CDF table :data:`_NORMAL_QUANTILES`."""
    return np.take(_NORMAL_QUANTILES, rng.integers(0, 2**16, size=size, dtype=np.uint16))


def _noisy_counts(
    expected: np.ndarray, settings: SimulationSettings, rng: np.random.Generator
) -> np.ndarray:
    """uint16 counts: shot noise of ``expected`` photons plus read noise, rounded and clipped."""
    noise = _standard_normal(rng, expected.shape)
    if settings.background >= NORMAL_APPROXIMATION_MIN_PHOTONS:
        variance = expected + np.float32(settings.read_noise**2)
        counts = expected + np.sqrt(variance, out=variance) * noise
    else:
        counts = rng.poisson(expected).astype(np.float32)
        counts += np.float32(settings.read_noise) * noise
    np.rint(counts, out=counts)
    np.clip(counts, 0.0, _UINT16_MAX, out=counts)
    return counts.astype(np.uint16)


def render_half_width_px(psf_sigma_px: float, excursion_px: float) -> int:
    """Half the width (px) of the square window a particle's image is rendered in: the PSF's
    reach (:data:`PSF_HALF_WIDTH_SIGMAS`) beyond the farthest point of its path in the exposure.

    Parameters
    ----------
    psf_sigma_px : float
        Standard deviation of the PSF, pixels.
    excursion_px : float
        Largest distance (per axis) of the path from the window's centre, pixels.

    Returns
    -------
    int
    """
    return int(math.ceil(PSF_HALF_WIDTH_SIGMAS * psf_sigma_px + excursion_px))


def _box_margin_px(settings: SimulationSettings) -> int:
    """Lateral margin of the simulation box around the field of view, pixels."""
    return math.ceil(PSF_HALF_WIDTH_SIGMAS * settings.psf_sigma_px) + 2


def box_particle_count(settings: SimulationSettings) -> int:
    """Number of particles a :class:`BrownianScene` simulates (view, margin and depth).

    Parameters
    ----------
    settings : SimulationSettings
        The simulation settings.

    Returns
    -------
    int
        ``n_particles`` scaled from the imaged volume to the whole simulation box.
    """
    height, width = settings.shape
    margin_px = _box_margin_px(settings)
    box_area_px = (height + 2 * margin_px) * (width + 2 * margin_px)
    volume_ratio = box_area_px / (height * width) * settings.depth_um / settings.focal_depth_um
    return int(round(settings.n_particles * volume_ratio))


class BrownianScene:
    """A never-ending simulated NTA sample; each :meth:`next_frame` advances one frame interval.

    Parameters
    ----------
    settings : SimulationSettings
        The simulation settings.
    """

    def __init__(self, settings: SimulationSettings) -> None:
        if not isinstance(settings, SimulationSettings):
            raise PyntaInputError("settings must be a SimulationSettings")
        self.settings = settings
        self.viscosity_pa_s = settings.resolved_viscosity_pa_s
        self.exposure_s = settings.resolved_exposure_s
        self._rng = np.random.default_rng(settings.seed)
        self._frame_index = 0

        height, width = settings.shape
        margin_px = _box_margin_px(settings)
        pixel = settings.pixel_size_um
        half_depth = settings.depth_um / 2.0
        self._box_low_um = np.array(
            [(-0.5 - margin_px) * pixel, (-0.5 - margin_px) * pixel, -half_depth]
        )
        self._box_high_um = np.array(
            [(height - 0.5 + margin_px) * pixel, (width - 0.5 + margin_px) * pixel, half_depth]
        )
        n_box = box_particle_count(settings)

        fractions = np.array([p.fraction for p in settings.populations])
        counts = _allocate_counts(fractions, n_box)
        self._diameters_nm = self._rng.permutation(
            _stratified_diameters_nm(settings.populations, counts)
        )
        self._D_um2_s = np.asarray(
            diffusion_um2_s(self._diameters_nm, settings.temperature_c, self.viscosity_pa_s),
            dtype=float,
        ).reshape(-1)
        span = self._box_high_um - self._box_low_um
        self._positions_um = self._box_low_um + self._rng.random((n_box, 3)) * span
        self._ids = np.arange(n_box, dtype=np.int64)
        self._next_id = n_box
        # each particle's own velocity (y, x), µm/s, drawn from its stationary law
        self._velocities_um_s = (
            settings.correlated_motion_um_s * self._rng.standard_normal((n_box, 2))
            if settings.correlated_motion_um_s > 0
            else None
        )
        self._previous_decoded: np.ndarray | None = None
        self._noise = _NoiseBank(settings, self._rng)

    # -- state, read-only views -------------------------------------------------------------
    @property
    def frame_index(self) -> int:
        """Index of the next frame to be produced."""
        return self._frame_index

    @property
    def particle_ids(self) -> np.ndarray:
        """(N,) ids of all particles in the simulation box (visible or not)."""
        return self._ids.copy()

    @property
    def positions_um(self) -> np.ndarray:
        """(N, 3) true positions (y, x, z) in µm at the start of the next exposure.

        y and x are measured from the centre of pixel (0, 0); z from the focal plane.
        """
        return self._positions_um.copy()

    @property
    def box_um(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners (y, x, z) of the periodic simulation box, in µm."""
        return self._box_low_um.copy(), self._box_high_um.copy()

    @property
    def diameters_nm(self) -> np.ndarray:
        """(N,) diameters of the particles in the box."""
        return self._diameters_nm.copy()

    @property
    def D_um2_s(self) -> np.ndarray:
        """(N,) Stokes–Einstein diffusion coefficients of the particles in the box."""
        return self._D_um2_s.copy()

    @property
    def metadata(self) -> dict[str, Any]:
        """Store attributes describing the movie (see ``docs/architecture.md``)."""
        settings = self.settings
        return {
            "pixel_size_um": settings.pixel_size_um,
            "frame_interval_s": settings.frame_interval_s,
            "exposure_s": self.exposure_s,
            "temperature_c": settings.temperature_c,
            "viscosity_pa_s": self.viscosity_pa_s,
            "solvent": "water" if settings.viscosity_pa_s is None else None,
            "camera": "simulated",
            "camera_settings": settings.to_dict(),
        }

    # -- simulation --------------------------------------------------------------------------
    def _time_increments_s(self) -> np.ndarray:
        """Durations from the frame start to each exposure sub-step, then to the next frame."""
        n = self.settings.blur_substeps
        sub = self.exposure_s / n
        increments = np.full(n + 1, sub)
        increments[0] = sub / 2.0
        increments[-1] = self.settings.frame_interval_s - self.exposure_s + sub / 2.0
        return increments

    def next_frame_arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`next_frame` with the truth as a dict of arrays (no DataFrame: cheaper)."""
        settings = self.settings
        n_sub = settings.blur_substeps
        n_box = len(self._ids)
        increments = self._time_increments_s()
        step_sd = np.sqrt(2.0 * self._D_um2_s[:, None] * increments[None, :])
        steps = self._rng.standard_normal((n_box, n_sub + 1, 3)) * step_sd[:, :, None]
        steps[:, :, :2] += self._directed_velocity_um_s()[:, None, :] * increments[None, :, None]
        path = self._positions_um[:, None, :] + np.cumsum(steps, axis=1)
        exposure_path = path[:, :n_sub]
        mean_position = exposure_path.mean(axis=1)

        in_layer = np.abs(mean_position[:, 2]) <= settings.imaged_half_depth_um
        positions_px = exposure_path[in_layer, :, :2] / settings.pixel_size_um
        photons = (
            settings.brightness_at_100nm
            * (self._diameters_nm[in_layer] / 100.0) ** settings.brightness_exponent
        )
        if settings.illumination_sigma_um is not None:
            photons = photons * settings.illumination(mean_position[in_layer, 2])
        frame = self._noise.frame()
        for corners, windows in self._render(positions_px, photons, mean_position[in_layer, 2]):
            self._noise.add_signal(frame, corners, windows)
        if settings.compression_step_adu > 0:
            frame = self._compress(frame)

        height, width = settings.shape
        mean_px = mean_position[:, :2] / settings.pixel_size_um
        visible = (
            in_layer
            & (mean_px[:, 0] >= -0.5)
            & (mean_px[:, 0] < height - 0.5)
            & (mean_px[:, 1] >= -0.5)
            & (mean_px[:, 1] < width - 0.5)
        )
        truth = {
            "frame": np.full(int(visible.sum()), self._frame_index, dtype=np.int64),
            "particle": self._ids[visible],
            "y": mean_px[visible, 0],
            "x": mean_px[visible, 1],
            "z_um": mean_position[visible, 2],
            "diameter_nm": self._diameters_nm[visible],
        }
        self._move_to(path[:, n_sub])
        self._frame_index += 1
        return frame, truth

    def _directed_velocity_um_s(self) -> np.ndarray:
        """(N, 2) velocity (y, x) of every particle during this frame: flow + own motion, µm/s."""
        settings = self.settings
        velocity = np.broadcast_to(np.asarray(settings.drift_um_s), (len(self._ids), 2))
        if self._velocities_um_s is None:
            return velocity
        current = self._velocities_um_s
        # Ornstein–Uhlenbeck update for the next frame (exact for a piecewise-constant velocity)
        memory = math.exp(-settings.frame_interval_s / settings.correlation_time_s)
        self._velocities_um_s = memory * current + math.sqrt(
            1.0 - memory**2
        ) * settings.correlated_motion_um_s * self._rng.standard_normal(current.shape)
        return velocity + current

    def _render(
        self, positions_px: np.ndarray, photons: np.ndarray, z_um: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Windows of expected photons (:func:`_render_windows`) of the imaged particles, one
        set per PSF width (widths grow with defocus if set)."""
        settings = self.settings
        if len(positions_px) == 0:
            return []
        if settings.defocus_um is None:
            return [_render_windows(positions_px, photons, settings.psf_sigma_px)]
        growth = np.sqrt(1.0 + (z_um / settings.defocus_um) ** 2)
        levels = np.rint(np.log(growth) / math.log1p(DEFOCUS_WIDTH_STEP)).astype(np.int64)
        return [
            _render_windows(
                positions_px[levels == level],
                photons[levels == level],
                settings.psf_sigma_px * (1.0 + DEFOCUS_WIDTH_STEP) ** int(level),
            )
            for level in np.unique(levels)
        ]

    def _compress(self, frame: np.ndarray) -> np.ndarray:
        """Blockwise-DCT quantisation with key frames and difference frames (see module doc)."""
        settings = self.settings
        block = COMPRESSION_BLOCK_PX
        height, width = frame.shape
        padded = np.pad(
            frame.astype(np.float64), ((0, -height % block), (0, -width % block)), mode="edge"
        )
        previous = self._previous_decoded
        key = previous is None or self._frame_index % settings.keyframe_interval == 0
        reference = 0.0 if key or previous is None else previous
        rows, cols = padded.shape[0] // block, padded.shape[1] // block
        blocks = (padded - reference).reshape(rows, block, cols, block).transpose(0, 2, 1, 3)
        frequency = np.arange(block)
        table = settings.compression_step_adu * (1.0 + frequency[:, None] + frequency[None, :])
        coefficients = np.round(dctn(blocks, axes=(2, 3), norm="ortho") / table) * table
        residual = idctn(coefficients, axes=(2, 3), norm="ortho")
        decoded = reference + residual.transpose(0, 2, 1, 3).reshape(padded.shape)
        self._previous_decoded = decoded
        return np.clip(np.rint(decoded[:height, :width]), 0.0, _UINT16_MAX).astype(np.uint16)

    def _move_to(self, end_um: np.ndarray) -> None:
        """Wrap particles that left the box to the opposite side, as new particles (new ids)."""
        low, high = self._box_low_um, self._box_high_um
        left = np.any((end_um < low) | (end_um >= high), axis=1)
        span = high - low
        wrapped = low + np.minimum(np.mod(end_um - low, span), np.nextafter(span, 0.0))
        self._positions_um = np.where(left[:, None], wrapped, end_um)
        n_new = int(left.sum())
        self._ids[left] = np.arange(self._next_id, self._next_id + n_new)
        self._next_id += n_new

    def next_frame(self) -> tuple[np.ndarray, pd.DataFrame]:
        """Advance one frame interval.

        Returns
        -------
        frame : ndarray
            (Y, X) uint16 camera frame.
        truth : DataFrame
            ``frame, particle, y, x, z_um, diameter_nm`` of the particles visible in the frame:
            exposure-averaged positions in pixels (y, x) and µm from the focal plane (z).
        """
        import pandas as pd

        frame, truth = self.next_frame_arrays()
        return frame, pd.DataFrame(truth, columns=list(TRUTH_COLUMNS))

    def skip_frames(self, n_frames: int) -> None:
        """Let ``n_frames`` frame intervals pass without imaging them (frames a camera lost).

        The particles take one diffusion step of ``n_frames`` intervals (exact for free
        diffusion) plus their directed motion (a constant flow in one step, so skipping costs
        the same for any ``n_frames``; correlated motion frame by frame); particles leaving the
        box re-enter as new particles, as in every frame.
        """
        n_frames = require_int("n_frames", n_frames, minimum=0)
        if n_frames == 0:
            return
        interval_s = self.settings.frame_interval_s
        step_sd = np.sqrt(2.0 * self._D_um2_s * n_frames * interval_s)
        steps = self._rng.standard_normal((len(self._ids), 3)) * step_sd[:, None]
        if self._velocities_um_s is None:  # a constant flow: all the frames' motion at once
            steps[:, :2] += self._directed_velocity_um_s() * (n_frames * interval_s)
        else:  # each particle's own velocity changes frame by frame
            for _ in range(n_frames):
                steps[:, :2] += self._directed_velocity_um_s() * interval_s
        self._move_to(self._positions_um + steps)
        self._frame_index += n_frames


@dataclass
class SimulatedMovie:
    """A simulated movie with its ground truth.

    Attributes
    ----------
    frames : ndarray
        (T, Y, X) uint16 frames.
    truth : DataFrame
        Visible particles of every frame (see :meth:`BrownianScene.next_frame`).
    diameters_nm : Series
        Diameter of every particle seen in the movie, indexed by particle id.
    metadata : dict
        Store attributes (pixel size, timing, temperature, viscosity, simulation settings).
    """

    frames: np.ndarray
    truth: pd.DataFrame
    diameters_nm: pd.Series
    metadata: dict[str, Any] = field(default_factory=dict)

    def in_field(self, margin_px: int) -> pd.Series:
        """Which rows of ``truth`` lie at least ``margin_px`` from the frame edges (where the
        detector looks), as a boolean Series aligned with ``truth``."""
        height, width = self.frames.shape[1:]
        return self.truth["y"].between(margin_px, height - 1 - margin_px) & self.truth["x"].between(
            margin_px, width - 1 - margin_px
        )

    def true_track_diameters(self, margin_px: int, memory: int, min_length: int) -> np.ndarray:
        """Diameters of the tracks a perfect analysis would size, one per track (nm).

        A particle's positions at least ``margin_px`` from the frame edges (where the detector
        looks), cut where the particle is absent for more than ``memory`` frames (it left the
        focal layer or the field, so a linker starts a new track), each piece of at least
        ``min_length`` frames being one track: the truth for track-weighted fractions.
        """
        inner = self.truth[self.in_field(margin_px)].sort_values(["particle", "frame"])
        starts = (inner["particle"].diff() != 0) | (inner["frame"].diff() > memory + 1)
        piece = np.cumsum(starts.to_numpy())
        lengths = np.bincount(piece)
        first_rows = np.flatnonzero(starts.to_numpy())
        kept = first_rows[lengths[piece[first_rows]] >= min_length]
        particles = inner["particle"].to_numpy()[kept]
        return self.diameters_nm.loc[particles].to_numpy(dtype=float)


def _truth_table(chunks: Sequence[dict[str, np.ndarray]]) -> pd.DataFrame:
    """Concatenate per-frame truth arrays into one DataFrame with :data:`TRUTH_COLUMNS`."""
    import pandas as pd

    columns = {
        name: np.concatenate([chunk[name] for chunk in chunks]) if chunks else np.empty(0)
        for name in TRUTH_COLUMNS
    }
    return pd.DataFrame(columns, columns=list(TRUTH_COLUMNS))


def simulate_movie(n_frames: int, settings: SimulationSettings) -> SimulatedMovie:
    """Simulate ``n_frames`` frames of an NTA movie in memory.

    Parameters
    ----------
    n_frames : int
        Number of frames, >= 1.
    settings : SimulationSettings
        The simulation settings.

    Returns
    -------
    SimulatedMovie
        Frames, ground truth and metadata.
    """
    n_frames = require_int("n_frames", n_frames, minimum=1)
    scene = BrownianScene(settings)
    frames = np.empty((n_frames, *settings.shape), dtype=np.uint16)
    chunks = []
    for index in range(n_frames):
        frames[index], truth = scene.next_frame_arrays()
        chunks.append(truth)
    table = _truth_table(chunks)
    diameters = table.groupby("particle")["diameter_nm"].first()
    return SimulatedMovie(
        frames=frames, truth=table, diameters_nm=diameters, metadata=scene.metadata
    )
