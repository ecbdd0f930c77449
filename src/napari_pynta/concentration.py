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
from scipy.special import log_ndtr, ndtr

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


@dataclass(frozen=True)
class NeighbourCorrection:
    """Share of the particles in view that a closer neighbour hid from the detector.

    Attributes
    ----------
    hidden_fraction : float
        Share ``f`` of the particles in view that were not found because another particle lay
        closer than the detector separates (see :func:`hidden_by_neighbours`).
    hidden_fraction_se : float
        Its standard uncertainty: the spread over blocks of frames and the systematic part, in
        quadrature.
    radius_px : float
        Distance out to which the pair correlation was integrated, px.
    """

    hidden_fraction: float
    hidden_fraction_se: float
    radius_px: float


#: systematic share of the correction: the RMS deviation of the corrected count from the truth,
#: relative to ``f``, on 18 simulated movies (0.24: 100-1000 nm at 30 fps, 50-1000 nm at 200 fps;
#: docs/accuracy.md, "Particles hidden by a neighbour")
HIDDEN_SYSTEMATIC = 0.25


def hidden_by_neighbours(
    localizations: pd.DataFrame, separation_px: float, step_px2: float | None = None
) -> NeighbourCorrection:
    """The share of the particles in view hidden by a neighbour, from the pair correlation.

    Two particles closer than the detector's separation ``s`` give one spot (of two features
    closer than ``s`` the engines keep the brighter), so the localizations of a frame have no
    pairs closer than about ``s``: their pair correlation ``g(r)`` has a hole there. Particles
    placed independently at the true density ``ρ`` (per px²) have ``g = 1`` at every distance,
    so with ``N`` particles in view a frame holds ``N ρ I / 2`` more close pairs than were
    found, ``I = ∫ (1 − g(r)) 2πr dr`` over the hole (``π s²`` for a sharp hole). To first
    order each such pair lost one particle: ``f = ρ I / 2``. To all orders, a particle is
    found when no brighter one lies within the hole (Matérn's hard-core thinning, brightness
    independent of position): it survives with probability ``(1 − e^(−ρI)) / (ρI)``, so the
    found density is ``ρ_f = (1 − e^(−ρI)) / I``. Only ``ρ_f`` is measured; the missing pairs
    per found particle ``a = ρ_f I / 2`` give ``ρI = −ln(1 − 2a)`` and the hidden share
    ``f = 1 − 2a / (−ln(1 − 2a))`` (``≈ a + a²/3``; the first-order ``f (1 − f) = a`` gives
    ``a + a²`` and over-corrects crowded frames).

    ``a`` is counted directly, without binning ``g``: the pairs of localizations of one frame
    closer than ``s`` against those expected for the frame's localizations spread uniformly
    over the rectangle they occupy (edge effects included: two uniform points of a ``W × H``
    rectangle lie within ``R`` with probability ``(π R² W H − 4/3 R³ (W + H) + R⁴ / 2) /
    (W H)²``). The hole ends at ``s``: refined centroids of two maxima ``s`` apart can come a
    little closer, and those pairs count as found; integrating further out only adds noise
    (``g`` scatters about 1 there; measured, docs/accuracy.md).

    The statistical uncertainty is the larger of the spread of ``f`` over :data:`N_BATCHES`
    blocks of frames and a Poisson term: the hidden particles come from ``K`` independent
    encounters, a pair staying closer than ``s`` for ``1 + s² / (2 step_px2)`` frames
    (relative motion of two particles), so ``f`` is known to ``f / √K`` at best (slow
    particles give few encounters, which blocks of frames cannot see). The systematic part is
    :data:`HIDDEN_SYSTEMATIC` × ``f``; the two add in quadrature.

    Particles in view per frame are then ``found / (1 − f)`` (:func:`in_view_counts`). Images
    missed for other reasons (too dim, smeared by motion) are not in ``f``.

    Parameters
    ----------
    localizations : DataFrame
        Every particle found, with ``frame``, ``x`` and ``y`` (px).
    separation_px : float
        The detector's minimum separation of two features, px (``diameter + 1`` by default).
    step_px2 : float, optional
        Mean squared 2-D displacement of one particle per frame, px² (``4 D Δt / pixel²``);
        without it pairs are taken to change every frame.

    Returns
    -------
    NeighbourCorrection
        The hidden share and its uncertainty.
    """
    radius = require_positive("separation_px", separation_px)
    missing = [c for c in ("frame", "x", "y") if c not in localizations.columns]
    if missing:
        raise PyntaInputError(f"localizations need columns frame, x, y; missing {missing}")
    if len(localizations) < 2:
        return NeighbourCorrection(0.0, 0.0, radius)
    table = localizations.sort_values("frame", kind="stable")
    frame = table["frame"].to_numpy(dtype=np.int64)
    x, y = table["x"].to_numpy(dtype=float), table["y"].to_numpy(dtype=float)
    width = max(float(x.max() - x.min()), radius)
    height = max(float(y.max() - y.min()), radius)
    within = (
        math.pi * radius**2 * width * height
        - 4.0 / 3.0 * radius**3 * (width + height)
        + radius**4 / 2.0
    ) / (width * height) ** 2
    frames, per_frame = np.unique(frame, return_counts=True)
    close = _close_pairs_per_frame(frame, x, y, radius, frames)
    expected = per_frame * (per_frame - 1) / 2.0 * within

    def share(rows: np.ndarray) -> float:
        pairs = (expected[rows].sum() - close[rows].sum()) / max(per_frame[rows].sum(), 1)
        return _matern_hidden_share(pairs)

    hidden = share(np.arange(len(frames)))
    blocks = np.array_split(np.arange(len(frames)), min(N_BATCHES, len(frames)))
    spread = (
        float(np.std([share(b) for b in blocks], ddof=1) / math.sqrt(len(blocks)))
        if len(blocks) > 1
        else hidden
    )
    stay = 1.0 + (radius**2 / (2.0 * step_px2) if step_px2 else 0.0)
    encounters = hidden / (1.0 - hidden) * len(frame) / stay
    poisson = hidden / math.sqrt(encounters) if encounters > 0 else 0.0
    return NeighbourCorrection(
        hidden_fraction=hidden,
        hidden_fraction_se=math.hypot(max(spread, poisson), HIDDEN_SYSTEMATIC * hidden),
        radius_px=radius,
    )


@dataclass(frozen=True)
class ThresholdLoss:
    """Frames of tracked particles lost below the detection threshold.

    Attributes
    ----------
    missed_share : float
        Frames missed below ``minmass`` per frame found in the tracks (see
        :func:`missed_below_threshold`).
    mass_scatter : float
        Frame-to-frame standard deviation of the natural log of a track's mass.
    """

    missed_share: float
    mass_scatter: float


def missed_below_threshold(tracks: pd.DataFrame, minmass: float) -> ThresholdLoss:
    """The frames of tracked particles whose image fell below the mass threshold.

    A particle whose image is smeared by its motion during the exposure, or dim, has a mass
    that scatters from frame to frame about its own level; the frames in which it falls below
    ``minmass`` are not found, whether or not the linker bridges them. Each track's log masses
    are taken as normal about the track's level ``μ`` with the scatter ``σ`` of successive
    frames (``σ² = ⟨(ln m(t+1) − ln m(t))²⟩ / 2`` over the tracks' consecutive frames: a
    level that drifts, as a particle crosses the light sheet, does not enter it). Seen only
    above ``c = ln minmass``, the track's mean log mass is that of a truncated normal,
    ``x̄ = μ + σ φ(a) / Φ(a)`` with ``a = (μ − c) / σ``, which gives ``μ`` (at least ``c``:
    a track is followed only if most of its frames are found); the track then missed
    ``n Φ(−a) / Φ(a)`` of its frames besides its ``n`` found ones.

    The scatter of successive frames, itself seen above the threshold, is narrower than the
    whole, so the share is a lower estimate; images that split, or frames at a track's ends,
    are not in it. Measured against truth (docs/accuracy.md, "Particles in view under the dip
    rule"): 0.025–0.028 against 0.046 missed at 50 nm / 30 fps on our simulator, 0.010–0.011
    against 0.06 on the independent one (whose misses are mostly particles fading at the edge
    of its light sheet), 0 on our 100–1000 nm, where nothing is missed below the threshold.

    Parameters
    ----------
    tracks : DataFrame
        Linked localizations with ``particle``, ``frame`` and ``mass``.
    minmass : float
        The detector's mass threshold.

    Returns
    -------
    ThresholdLoss
        The missed share (0 without two successive frames of one track) and the scatter.
    """
    cut = math.log(require_positive("minmass", minmass))
    missing = [c for c in ("particle", "frame", "mass") if c not in tracks.columns]
    if missing:
        raise PyntaInputError(f"tracks need columns particle, frame, mass; missing {missing}")
    table = tracks[tracks["mass"] > 0].sort_values(["particle", "frame"], kind="stable")
    particle = table["particle"].to_numpy()
    frame = table["frame"].to_numpy(dtype=np.int64)
    log_mass = np.log(table["mass"].to_numpy(dtype=float))
    successive = (np.diff(particle) == 0) & (np.diff(frame) == 1)
    if successive.sum() < 2:
        return ThresholdLoss(0.0, math.nan)
    # exactly rounded sums: the same tracks under other particle labels give the same share
    steps = np.diff(log_mass)[successive]
    sigma = math.sqrt(math.fsum(steps**2) / len(steps) / 2.0)
    if sigma <= 0:
        return ThresholdLoss(0.0, 0.0)
    _, track_of, n = np.unique(particle, return_inverse=True, return_counts=True)
    mean = np.bincount(track_of, weights=log_mass) / n
    level = _truncated_normal_location(mean, cut, sigma)
    below = ndtr((cut - level) / sigma)
    missed = math.fsum(n * below / (1.0 - below))
    return ThresholdLoss(missed / float(n.sum()), sigma)


def _truncated_normal_location(mean: np.ndarray, cut: float, sigma: float) -> np.ndarray:
    """The location ``μ ≥ cut`` of a normal of SD ``sigma`` seen only above ``cut`` whose mean
    there is ``mean``: ``mean = μ + σ φ(a) / Φ(a)``, ``a = (μ − cut) / σ`` (the right side grows
    with ``μ``; solved by bisection, ``cut`` where even ``μ = cut`` gives a larger mean)."""
    low = np.full_like(mean, cut)
    high = np.maximum(mean, cut)

    def truncated_mean(mu: np.ndarray) -> np.ndarray:
        a = (mu - cut) / sigma
        return mu + sigma * np.exp(-0.5 * a * a - 0.5 * math.log(2 * math.pi) - log_ndtr(a))

    for _ in range(60):
        middle = 0.5 * (low + high)
        above = truncated_mean(middle) > mean
        high = np.where(above, middle, high)
        low = np.where(above, low, middle)
    return 0.5 * (low + high)


def _matern_hidden_share(pairs: float) -> float:
    """``f = 1 − 2a / (−ln(1 − 2a))`` for ``a`` missing pairs per found particle (0 for none;
    ``2a`` is capped below 1, where every particle has a brighter neighbour)."""
    x = min(2.0 * pairs, 0.99)
    return 1.0 - x / -math.log1p(-x) if x > 1e-12 else 0.0


def _close_pairs_per_frame(
    frame: np.ndarray, x: np.ndarray, y: np.ndarray, radius: float, frames: np.ndarray
) -> np.ndarray:
    """Unordered pairs of points of the same frame closer than ``radius``, per frame of
    ``frames`` (frames are put far apart on a third axis, so one tree finds them all)."""
    from scipy.spatial import cKDTree

    apart = 4.0 * radius + float(np.ptp(x) + np.ptp(y))
    pairs = cKDTree(np.column_stack([x, y, frame * apart])).query_pairs(
        radius, output_type="ndarray"
    )
    return np.bincount(np.searchsorted(frames, frame[pairs[:, 0]]), minlength=len(frames)).astype(
        float
    )


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
    separation_px: float | None = None,
    step_px2: float | None = None,
    searched_share: float = 1.0,
    tracks: pd.DataFrame | None = None,
    minmass: float | None = None,
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
    separation_px : float, optional
        The detector's minimum feature separation, px: with it (and ``x``, ``y`` columns) the
        particles hidden by a neighbour are estimated (:func:`hidden_by_neighbours`).
    step_px2 : float, optional
        Mean squared 2-D displacement of a particle per frame, px², for the uncertainty of
        that estimate (:func:`hidden_by_neighbours`).
    searched_share : float
        The share of the field in view that the detector searched (a separation wider than
        ``diameter + 1`` widens its edge margin): the particles in view are the found and hidden
        ones divided by it (:func:`napari_pynta.analysis.searched_share`).
    tracks : DataFrame, optional
        The linked localizations (``particle``, ``frame``, ``mass``): with ``minmass`` the
        frames they lost below the threshold are added to the particles in view
        (:func:`missed_below_threshold`).
    minmass : float, optional
        The detector's mass threshold.

    Returns
    -------
    dict
        ``particles_per_frame(_sem)`` (what was found), ``hidden_by_neighbours(_se)``,
        ``missed_below_threshold`` (frames lost below the threshold per frame found; its
        standard uncertainty is itself) and ``particles_in_view_per_frame(_sem)`` (found /
        (1 − hidden) × (1 + missed), uncertainty with the corrections'; None without
        ``separation_px``), ``depth_um``, ``detection_volume_ml`` and ``particles_per_ml(_sem)``
        (None without a depth; from the particles in view when they were estimated, else from
        those found).
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
        "hidden_by_neighbours": None,
        "hidden_by_neighbours_se": None,
        "missed_below_threshold": None,
        "particles_in_view_per_frame": None,
        "particles_in_view_per_frame_sem": None,
        "depth_um": depth_um,
        "detection_volume_ml": None,
        "particles_per_ml": None,
        "particles_per_ml_sem": None,
    }
    in_view = counts
    if separation_px is not None and {"x", "y"} <= set(localizations.columns):
        hidden = hidden_by_neighbours(localizations, separation_px, step_px2)
        missed = (
            missed_below_threshold(tracks, minmass).missed_share
            if tracks is not None and minmass and len(tracks)
            else 0.0
        )
        in_view = in_view_counts(counts, hidden, searched_share, missed)
        entry |= {
            "hidden_by_neighbours": hidden.hidden_fraction,
            "hidden_by_neighbours_se": hidden.hidden_fraction_se,
            "missed_below_threshold": missed,
            "particles_in_view_per_frame": in_view.mean,
            "particles_in_view_per_frame_sem": in_view.sem,
        }
    if depth_um is not None and frame_shape is not None:
        measured = concentration(in_view, frame_shape, pixel_size_um, Depth(depth_um)).as_dict()
        # the found count stays under its own key; the volume holds the particles in view
        entry |= {k: v for k, v in measured.items() if not k.startswith("particles_per_frame")}
    return entry


def counts_in_view(entry: dict, n_frames: int) -> CountEstimate:
    """The particles per frame a summary's concentration was computed from: those in view when
    the ``concentration`` entry has them, else those found (the count a depth calibrated on a
    reference must use, so that the reference gives back its own concentration)."""
    key = (
        "particles_in_view_per_frame"
        if entry.get("particles_in_view_per_frame") is not None
        else "particles_per_frame"
    )
    return CountEstimate(entry[key], entry[f"{key}_sem"], n_frames)


def in_view_counts(
    found: CountEstimate,
    hidden: NeighbourCorrection,
    searched_share: float = 1.0,
    below_threshold: float = 0.0,
) -> CountEstimate:
    """Particles in view per frame: those found, those a neighbour hid and those the threshold
    missed.

    ``found / (1 − f) / searched_share × (1 + b)``; its relative uncertainty is the found
    count's, the neighbour correction's (``σ_f / (1 − f)``) and the threshold correction's
    (``b / (1 + b)``: the whole correction is its standard uncertainty, see
    :func:`missed_below_threshold`) in quadrature. ``searched_share`` is the share of the field
    in view the detector searched (:func:`concentration_summary`); ``b`` the frames missed below
    the threshold per frame found (:attr:`ThresholdLoss.missed_share`).
    """
    kept = 1.0 - hidden.hidden_fraction
    missed = require_positive("below_threshold", below_threshold, allow_zero=True)
    mean = found.mean / kept / require_positive("searched_share", searched_share) * (1.0 + missed)
    relative = math.hypot(
        found.sem / found.mean if found.mean else 0.0,
        hidden.hidden_fraction_se / kept,
        missed / (1.0 + missed),
    )
    return CountEstimate(mean=mean, sem=mean * relative, n_frames=found.n_frames)


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
