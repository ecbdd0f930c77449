"""Particle concentration: particles per frame and, with a detection volume, particles per mL.

NTA counts the particles seen in each frame. The count divided by the detection volume
(field of view x an effective depth of the illuminated, in-focus slab) is the number
concentration. The depth is not seen by the camera: the user sets it, or calibrates it once
from a reference sample of known concentration measured with the same optics and settings.

Successive frames see mostly the same particles, so the frame counts are strongly correlated:
the uncertainty of the mean count is estimated by batch means (blocks much longer than the
correlation time of the counts), not by the naive standard error of independent frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_pynta.errors import PyntaInputError, require_positive

#: 1 µm³ = 1e-15 L = 1e-12 mL
ML_PER_UM3 = 1e-12
#: number of blocks the frame counts are split into for the batch-means uncertainty
N_BATCHES = 10


@dataclass(frozen=True)
class CountEstimate:
    """Mean number of particles per frame and its standard error.

    Attributes
    ----------
    mean : float
        Particles per frame.
    sem : float
        Standard error of ``mean`` (batch means or particle turnover, whichever is larger:
        see :func:`particles_per_frame`).
    n_frames : int
        Frames counted (frames without particles count as 0).
    """

    mean: float
    sem: float
    n_frames: int


@dataclass(frozen=True)
class Depth:
    """Effective depth of the detection volume, µm, with its standard uncertainty."""

    depth_um: float
    sem_um: float = 0.0

    def __post_init__(self) -> None:
        require_positive("depth_um", self.depth_um)
        require_positive("depth_sem_um", self.sem_um, allow_zero=True)


@dataclass(frozen=True)
class ConcentrationEstimate:
    """Number concentration with its standard uncertainty.

    Attributes
    ----------
    particles_per_ml : float
        Concentration, particles/mL.
    sem_per_ml : float
        Standard uncertainty (counting and depth uncertainties combined in quadrature).
    particles_per_frame : CountEstimate
        The counts it came from.
    volume_ml : float
        Detection volume, mL.
    """

    particles_per_ml: float
    sem_per_ml: float
    particles_per_frame: CountEstimate
    volume_ml: float

    def as_dict(self) -> dict:
        """Plain-float summary for JSON output."""
        return {
            "particles_per_frame": self.particles_per_frame.mean,
            "particles_per_frame_sem": self.particles_per_frame.sem,
            "particles_per_ml": self.particles_per_ml,
            "particles_per_ml_sem": self.sem_per_ml,
            "detection_volume_ml": self.volume_ml,
        }


def particles_per_frame(
    table: pd.DataFrame,
    n_frames: int,
    first_frame: int = 0,
    n_visits: int | None = None,
    frame_numbers: np.ndarray | None = None,
) -> CountEstimate:
    """Mean number of particles per frame, with a standard error that covers slow turnover.

    Counts in successive frames are correlated for as long as the same particles stay in view,
    which in NTA is seconds (a particle leaves the focal layer by diffusing through it). Two
    errors are computed and the larger is reported:

    - batch means: the spread of the means of :data:`N_BATCHES` blocks of frames (right when
      the movie is much longer than a particle's stay);
    - turnover: the particles in view are ``n_visits`` independent arrivals (Poisson), so the
      mean count is known to ``mean / sqrt(n_visits)`` at best, however many frames were taken
      (a short movie of long stays has few independent samples, which blocks of frames cannot
      see).

    Parameters
    ----------
    table : DataFrame
        Localizations or tracks with a ``frame`` column (one row per particle per frame).
    n_frames : int
        Number of frames analysed, including frames where nothing was found.
    first_frame : int
        Number of the first analysed frame.
    n_visits : int, optional
        Distinct particle visits (tracks) seen in these frames; default: the number of distinct
        ``particle`` values of ``table`` when it has that column, else no turnover term.
    frame_numbers : ndarray, optional
        The increasing numbers of the ``n_frames`` frames analysed when they are not
        consecutive (frames the camera lost are not frames without particles); default
        ``first_frame .. first_frame + n_frames - 1``.

    Returns
    -------
    CountEstimate
        Mean count per frame and its standard error.
    """
    if "frame" not in table.columns:
        raise PyntaInputError("table must have a 'frame' column")
    n_frames = int(n_frames)
    if n_frames < 1:
        raise PyntaInputError(f"n_frames must be >= 1, got {n_frames}")
    frame = table["frame"].to_numpy(dtype=np.int64)
    if frame_numbers is None:
        index = frame - int(first_frame)
        known = (index >= 0) & (index < n_frames)
    else:
        numbers = np.asarray(frame_numbers, dtype=np.int64)
        if len(numbers) != n_frames:
            raise PyntaInputError(f"frame_numbers must hold n_frames = {n_frames} numbers")
        index = np.minimum(np.searchsorted(numbers, frame), n_frames - 1)
        known = numbers[index] == frame
    if not known.all():
        raise PyntaInputError(
            f"frame numbers must be those of the frames analysed ({first_frame}.."
            f"{first_frame + n_frames - 1} unless frame_numbers says otherwise)"
        )
    counts = np.bincount(index, minlength=n_frames).astype(float)
    if n_visits is None and "particle" in table.columns:
        n_visits = int(table["particle"].nunique())
    sem = _batch_means_sem(counts)
    if n_visits:
        sem = max(sem, float(counts.mean()) / math.sqrt(n_visits))
    return CountEstimate(mean=float(counts.mean()), sem=sem, n_frames=n_frames)


def _batch_means_sem(counts: np.ndarray) -> float:
    """Standard error of the mean of a correlated series from the spread of block means.

    With fewer than two frames per block (tiny movies) the Poisson value sqrt(mean/n) is used.
    """
    block = counts.size // N_BATCHES
    if block < 2:
        return math.sqrt(counts.mean() / counts.size)
    means = counts[: block * N_BATCHES].reshape(N_BATCHES, block).mean(axis=1)
    return float(means.std(ddof=1) / math.sqrt(N_BATCHES))


def detection_volume_ml(
    frame_shape: tuple[int, int], pixel_size_um: float, depth_um: float
) -> float:
    """Field of view times depth, in mL.

    Parameters
    ----------
    frame_shape : (int, int)
        Frame size in pixels (rows, columns).
    pixel_size_um : float
        Pixel size in the sample plane, µm.
    depth_um : float
        Effective depth of the detection volume, µm.

    Returns
    -------
    float
        Volume in mL.
    """
    return (
        field_of_view_um2(frame_shape, pixel_size_um)
        * require_positive("depth_um", depth_um)
        * ML_PER_UM3
    )


def field_of_view_um2(frame_shape: tuple[int, int], pixel_size_um: float) -> float:
    """Area of the field of view, µm²."""
    if len(frame_shape) != 2 or min(int(n) for n in frame_shape) < 1:
        raise PyntaInputError(f"frame_shape must be (rows, columns) >= 1, got {frame_shape}")
    pixel = require_positive("pixel_size_um", pixel_size_um)
    return float(frame_shape[0] * frame_shape[1]) * pixel**2


def concentration(
    counts: CountEstimate, frame_shape: tuple[int, int], pixel_size_um: float, depth: Depth
) -> ConcentrationEstimate:
    """Particles per mL from counts per frame and the detection volume.

    Parameters
    ----------
    counts : CountEstimate
        Particles per frame (:func:`particles_per_frame`).
    frame_shape : (int, int)
        Frame size in pixels.
    pixel_size_um : float
        Pixel size in the sample plane, µm.
    depth : Depth
        Effective depth of the detection volume (set or :func:`calibrate_depth`).

    Returns
    -------
    ConcentrationEstimate
        Concentration and its standard uncertainty (relative uncertainties of the count and of
        the depth added in quadrature).
    """
    volume = detection_volume_ml(frame_shape, pixel_size_um, depth.depth_um)
    value = counts.mean / volume
    sem = math.hypot(counts.sem / volume, value * depth.sem_um / depth.depth_um)
    return ConcentrationEstimate(
        particles_per_ml=value, sem_per_ml=sem, particles_per_frame=counts, volume_ml=volume
    )


def concentration_summary(
    localizations: pd.DataFrame,
    n_frames: int,
    frame_shape: tuple[int, int] | None,
    pixel_size_um: float,
    depth_um: float | None,
    n_visits: int | None = None,
    frame_numbers: np.ndarray | None = None,
) -> dict:
    """The ``concentration`` entry of an analysis summary.

    Parameters
    ----------
    localizations : DataFrame
        Every particle found (``frame`` column, frames numbered from 0).
    n_frames : int
        Frames analysed.
    frame_shape : (int, int) or None
        Frame size, pixels (None: unknown, no concentration).
    pixel_size_um : float
        Pixel size, µm.
    depth_um : float or None
        Effective depth of the detection volume; None gives particles per frame only.
    n_visits : int, optional
        Distinct particle visits (linked tracks) in these frames, for the turnover term of the
        error (see :func:`particles_per_frame`).
    frame_numbers : ndarray, optional
        Numbers of the frames analysed when the camera lost frames between them (see
        :func:`particles_per_frame`).

    Returns
    -------
    dict
        ``particles_per_frame(_sem)``, ``depth_um``, ``detection_volume_ml`` and
        ``particles_per_ml(_sem)`` (None without a depth).
    """
    frames = localizations["frame"] if "frame" in localizations.columns else None
    # live summaries count the frames spanned by the tracks, which need not start at frame 0
    first = 0 if frames is None or frames.empty or frames.max() < n_frames else int(frames.min())
    counts = particles_per_frame(
        localizations, n_frames, first_frame=first, n_visits=n_visits, frame_numbers=frame_numbers
    )
    entry = {
        "particles_per_frame": counts.mean,
        "particles_per_frame_sem": counts.sem,
        "depth_um": depth_um,
        "detection_volume_ml": None,
        "particles_per_ml": None,
        "particles_per_ml_sem": None,
    }
    if depth_um is not None and frame_shape is not None:
        entry |= concentration(counts, frame_shape, pixel_size_um, Depth(depth_um)).as_dict()
    return entry


def calibrate_depth(
    reference_counts: CountEstimate,
    frame_shape: tuple[int, int],
    pixel_size_um: float,
    reference_particles_per_ml: float,
    reference_relative_uncertainty: float = 0.0,
) -> Depth:
    """Effective depth from a reference sample of known concentration.

    ``depth = particles per frame / (known concentration x field of view)``.

    Parameters
    ----------
    reference_counts : CountEstimate
        Particles per frame measured on the reference sample.
    frame_shape : (int, int)
        Frame size in pixels.
    pixel_size_um : float
        Pixel size, µm.
    reference_particles_per_ml : float
        Certified concentration of the reference, particles/mL.
    reference_relative_uncertainty : float
        Relative standard uncertainty of that concentration (e.g. 0.05 for 5 %).

    Returns
    -------
    Depth
        Depth (µm) with its uncertainty from the counts and the reference.
    """
    known = require_positive("reference_particles_per_ml", reference_particles_per_ml)
    rel_ref = require_positive(
        "reference_relative_uncertainty", reference_relative_uncertainty, allow_zero=True
    )
    if reference_counts.mean <= 0:
        raise PyntaInputError("reference_counts must have particles in the frames, got none")
    area_um2 = field_of_view_um2(frame_shape, pixel_size_um)
    depth_um = reference_counts.mean / (known * area_um2 * ML_PER_UM3)
    relative = math.hypot(reference_counts.sem / reference_counts.mean, rel_ref)
    return Depth(depth_um=depth_um, sem_um=depth_um * relative)
