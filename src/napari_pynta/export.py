"""CSV exports laid out the way NTA users know them (NanoSight's names and units).

- ``particle_data.csv``: one row per track with the columns of NanoSight's ``ParticleData.csv``
  (``Size/nm``, ``Diffusion coefficient/nm^2 s^-1``, ``Ln(Adjusted intensity)``, ``Start frame``,
  ``Tracklength``, ``Included in distribution?``) plus ours.
- ``size_distribution.csv``: the distribution on a fixed grid (:class:`SizeGrid`, default 1 nm bins
  from 0 to 2000 nm) so that the files of two samples line up row by row: raw and deconvolved
  counts, number fraction, concentration per bin (particles/mL/nm) and volume fraction. An overflow
  row holds every size beyond the grid and a ``no size`` row the tracks without one, so the counts
  sum to all tracks.
- ``nta_summary.csv``: the settings and results NanoSight users look for, one per row.

See ``docs/size-distributions.md`` for the definitions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_pynta.deconvolve import SizeDistribution, cumulative_fraction, quantile
from napari_pynta.errors import PyntaInputError, require_positive
from napari_pynta.sample import SAMPLE_KEYS, SAMPLE_LABELS
from napari_pynta.writable import check_writable_folder

#: the histogram range ends at these quantiles of the raw and deconvolved sizes (times the
#: margin below), so that a few absurd per-track sizes do not squeeze the plot
RAW_UPPER_QUANTILE = 0.97
DECONVOLVED_UPPER_QUANTILE = 0.995
UPPER_MARGIN = 1.25
#: target number of bins of an automatic histogram
TARGET_BINS = 60

#: bins holding less than this fraction of the deconvolved distribution are written as 0
NEGLIGIBLE_FRACTION = 1e-9

SIZE_DISTRIBUTION_FILE = "size_distribution.csv"
PER_TRACK_FILE = "particle_data.csv"
SUMMARY_FILE = "nta_summary.csv"

#: default export grid: 1 nm bins from 0 to 2000 nm
DEFAULT_BIN_WIDTH_NM = 1.0
DEFAULT_MAX_SIZE_NM = 2000.0

BIN_LABEL = "Bin/nm"
BIN_START = "Bin start/nm"
BIN_END = "Bin end/nm"
BIN_CENTRE = "Bin centre/nm"
RAW_COUNT = "Raw count (tracks)"
DECONVOLVED_COUNT = "Deconvolved count (tracks)"
NUMBER_FRACTION = "Number fraction (deconvolved)"
CONCENTRATION = "Concentration/particles ml^-1 nm^-1"
CONCENTRATION_IN_BIN = "Concentration in bin/particles ml^-1"
VOLUME_FRACTION = "Volume fraction (deconvolved)"
NO_SIZE = "no size"


def check_output_directory(directory: str | Path, label: str) -> None:
    """Refuse a folder that cannot be made, before any work is done for it.

    Parameters
    ----------
    directory : str or Path
        The folder to write into (it need not exist yet).
    label : str
        What the folder is to the user (a flag such as ``--out``), named in the error.

    Raises
    ------
    PyntaInputError
        When a file stands at the folder or at one of its parents, or nothing can be written in
        the nearest existing one (:func:`napari_pynta.writable.check_writable_folder`).
    """
    path = Path(directory)
    existing = next(part for part in (path.absolute(), *path.absolute().parents) if part.exists())
    shown = str(path if existing == path.absolute() else existing)
    if not existing.is_dir():
        raise PyntaInputError(f"{label}: cannot create {str(directory)!r}: {shown!r} is a file")
    check_writable_folder(directory, existing, label)


def make_output_directory(directory: str | Path, label: str) -> Path:
    """Create ``directory`` (and its parents) if missing and return it as a Path.

    Parameters
    ----------
    directory : str or Path
        The folder to write into.
    label : str
        What the folder is to the user (a flag such as ``--out``), named in the error.

    Returns
    -------
    Path
        The folder, existing.

    Raises
    ------
    PyntaInputError
        When the folder cannot be created (permissions, a file in the way, ...).
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PyntaInputError(f"{label}: cannot create {str(directory)!r}: {error}") from None
    return directory


def size_bin_edges(
    per_track_nm: np.ndarray,
    deconvolved: SizeDistribution | None = None,
    bin_width_nm: float | None = None,
) -> np.ndarray:
    """Linear size bins from 0 nm to past the largest sizes of interest.

    Parameters
    ----------
    per_track_nm : ndarray
        Raw per-track diameters (NaN ignored).
    deconvolved : SizeDistribution, optional
        Its 99th percentile is also covered.
    bin_width_nm : float, optional
        Bin width; default a round width giving about :data:`TARGET_BINS` bins.

    Returns
    -------
    ndarray
        Bin edges, nm, starting at 0.
    """
    sizes = np.asarray(per_track_nm, dtype=float)
    sizes = sizes[np.isfinite(sizes) & (sizes > 0)]
    tops = [float(np.quantile(sizes, RAW_UPPER_QUANTILE))] if sizes.size else []
    if deconvolved is not None:
        tops.append(
            quantile(deconvolved.diameter_nm, deconvolved.weights, DECONVOLVED_UPPER_QUANTILE)
        )
    top = UPPER_MARGIN * max(tops) if tops else 1000.0
    if bin_width_nm is None:
        raw_width = top / TARGET_BINS
        magnitude = 10 ** math.floor(math.log10(raw_width))
        bin_width_nm = min(
            (step * magnitude for step in (1, 2, 5, 10)), key=lambda w: abs(w - raw_width)
        )
    width = require_positive("bin_width_nm", bin_width_nm)
    return np.arange(0.0, top + width, width)


@dataclass(frozen=True)
class SizeGrid:
    """The fixed bins of exported size distributions: ``[0, w), [w, 2w), ... [max - w, max)``
    and an overflow bin ``[max, inf)``.

    Attributes
    ----------
    bin_width_nm : float
        Width of every bin, nm (default 1).
    max_size_nm : float
        End of the last regular bin, nm (default 2000); a whole number of bins.
    """

    bin_width_nm: float = DEFAULT_BIN_WIDTH_NM
    max_size_nm: float = DEFAULT_MAX_SIZE_NM

    def __post_init__(self) -> None:
        width = require_positive("--bin-width-nm", self.bin_width_nm)
        top = require_positive("--max-size-nm", self.max_size_nm)
        n_bins = top / width
        if abs(n_bins - round(n_bins)) > 1e-9 * n_bins or round(n_bins) > 10**6:
            raise PyntaInputError(
                f"--max-size-nm ({top:g}) must be a whole number (at most 1e6) of "
                f"--bin-width-nm ({width:g})"
            )

    @property
    def edges_nm(self) -> np.ndarray:
        """Edges of the regular bins, nm: 0, w, 2w, ..., max."""
        n_bins = round(self.max_size_nm / self.bin_width_nm)
        return np.arange(n_bins + 1) * float(self.bin_width_nm)


def size_distribution_table(
    per_track: pd.DataFrame,
    deconvolved: SizeDistribution | None,
    grid: SizeGrid | None = None,
    particles_per_ml: float | None = None,
) -> pd.DataFrame:
    """The size distribution on a fixed grid, with every track counted.

    Parameters
    ----------
    per_track : DataFrame
        Per-track table with ``diameter_nm`` (NaN: the track has no size).
    deconvolved : SizeDistribution, optional
        The deconvolved distribution (fractions of its tracks; the tracks it did not use are
        counted in the ``no size`` row).
    grid : SizeGrid, optional
        The bins (default 1 nm to 2000 nm).
    particles_per_ml : float, optional
        Total concentration to spread over the bins by the deconvolved number fractions (pass the
        undiluted sample's, ``sample_particles_per_ml``).

    Returns
    -------
    DataFrame
        One row per bin, the overflow bin (``>= max``) and a ``no size`` row. Columns
        :data:`BIN_LABEL`, :data:`BIN_START`, :data:`BIN_END`, :data:`BIN_CENTRE`,
        :data:`RAW_COUNT` (sums to all tracks) and, with a deconvolved distribution,
        :data:`DECONVOLVED_COUNT` (sums to all tracks), :data:`NUMBER_FRACTION`,
        :data:`VOLUME_FRACTION` (each sums to 1 over the size bins) and, with a concentration,
        :data:`CONCENTRATION` (per nm; empty for the overflow bin) and
        :data:`CONCENTRATION_IN_BIN`.
    """
    if "diameter_nm" not in per_track.columns:
        raise PyntaInputError("per_track table lacks the column 'diameter_nm'")
    grid = grid or SizeGrid()
    edges = grid.edges_nm
    sizes = per_track["diameter_nm"].to_numpy(dtype=float)
    sized = sizes[np.isfinite(sizes)]
    raw, _ = np.histogram(sized, bins=np.append(edges, np.inf))
    starts = np.append(edges, np.nan)
    ends = np.append(edges[1:], [np.inf, np.nan])
    table: dict[str, Any] = {
        BIN_LABEL: [f"{a:g}-{b:g}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        + [f">={edges[-1]:g}", NO_SIZE],
        BIN_START: starts,
        BIN_END: ends,
        BIN_CENTRE: np.append(0.5 * (edges[1:] + edges[:-1]), [np.nan, np.nan]),
        RAW_COUNT: np.append(raw, len(sizes) - sized.size),
    }
    if deconvolved is not None:
        number = _grid_fractions(deconvolved.diameter_nm, deconvolved.weights, edges)
        volume_weights = deconvolved.weights * deconvolved.diameter_nm**3
        volume = _grid_fractions(
            deconvolved.diameter_nm, volume_weights / volume_weights.sum(), edges
        )
        table[DECONVOLVED_COUNT] = np.append(
            number * deconvolved.n_tracks, len(sizes) - deconvolved.n_tracks
        )
        table[NUMBER_FRACTION] = np.append(number, np.nan)
        table[VOLUME_FRACTION] = np.append(volume, np.nan)
        if particles_per_ml is not None:
            in_bin = number * float(particles_per_ml)
            per_nm = in_bin[:-1] / np.diff(edges)
            table[CONCENTRATION] = np.append(per_nm, [np.nan, np.nan])
            table[CONCENTRATION_IN_BIN] = np.append(in_bin, np.nan)
    return pd.DataFrame(table)


def _grid_fractions(grid_nm: np.ndarray, weights: np.ndarray, edges_nm: np.ndarray) -> np.ndarray:
    """Fractions of a gridded distribution in each bin and (last) beyond the last edge."""
    cdf = cumulative_fraction(grid_nm, weights, np.clip(edges_nm, 1e-9, None))
    fractions = np.append(np.diff(cdf), 1.0 - cdf[-1])
    fractions[fractions < NEGLIGIBLE_FRACTION] = 0.0  # 1e-200 tails read as noise in a sheet
    return fractions


def bin_fractions(distribution: SizeDistribution, edges_nm: np.ndarray) -> np.ndarray:
    """Fraction of a gridded distribution falling in each size bin."""
    positive = np.clip(np.asarray(edges_nm, dtype=float), 1e-9, None)
    return np.diff(cumulative_fraction(distribution.diameter_nm, distribution.weights, positive))


def particle_data_table(
    per_track: pd.DataFrame, tracks: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per track, with NanoSight ``ParticleData.csv`` names and units, then ours.

    Parameters
    ----------
    per_track : DataFrame
        Output of ``sizing.track_diffusion``.
    tracks : DataFrame, optional
        The linked localizations of those tracks (``particle, frame, mass``): give the start frame
        and the intensity (empty columns without them).

    Returns
    -------
    DataFrame
        ``Particle ID, Size/nm, Diffusion coefficient/nm^2 s^-1, Ln(Adjusted intensity)`` (natural
        log of the track's mean background-subtracted brightness), ``Start frame, Tracklength``
        (frames), ``Included in distribution?`` (1 when the track has a size and entered the
        deconvolution, else 0), then ``Steps, Localization error/nm, Mean squared step/um^2``.
    """
    needed = ("particle", "diameter_nm", "D_um2_s", "n_frames", "n_steps", "sigma_um", "msd1_um2")
    missing = [name for name in needed if name not in per_track.columns]
    if missing:
        raise PyntaInputError(f"per_track table lacks the columns {missing}")
    ids = per_track["particle"].to_numpy()
    start = np.full(len(ids), np.nan)
    ln_intensity = np.full(len(ids), np.nan)
    if tracks is not None and len(tracks):
        grouped = tracks.groupby("particle")
        start = grouped["frame"].min().reindex(ids).to_numpy(dtype=float)
        if "mass" in tracks.columns:
            mean_mass = grouped["mass"].mean().reindex(ids).to_numpy(dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                ln_intensity = np.where(mean_mass > 0, np.log(mean_mass), np.nan)
    included = np.isfinite(per_track["diameter_nm"].to_numpy(dtype=float)) & (
        per_track["msd1_um2"].to_numpy(dtype=float) > 0
    )
    return pd.DataFrame(
        {
            "Particle ID": ids,
            "Size/nm": per_track["diameter_nm"].to_numpy(),
            "Diffusion coefficient/nm^2 s^-1": 1e6 * per_track["D_um2_s"].to_numpy(),
            "Ln(Adjusted intensity)": ln_intensity,
            "Start frame": pd.array(start, dtype="Int64") if np.isfinite(start).all() else start,
            "Tracklength": per_track["n_frames"].to_numpy(),
            "Included in distribution?": included.astype(int),
            "Steps": per_track["n_steps"].to_numpy(),
            "Localization error/nm": 1000.0 * per_track["sigma_um"].to_numpy(),
            "Mean squared step/um^2": per_track["msd1_um2"].to_numpy(),
        }
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000.0 * seconds


def summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """The settings and results of one analysis as (field, value, unit) rows, NanoSight-like.

    Parameters
    ----------
    summary : dict
        An analysis summary (with ``sample`` and ``recording`` attached).

    Returns
    -------
    list of (str, value, str)
        Sample fields, recording (date, camera, exposure, gain, frame rate), analysis settings
        (detection threshold, max jump, temperature, viscosity, frames analysed) and results
        (tracks, deconvolved statistics, particles per frame, concentration).
    """
    params = summary.get("params") or {}
    sample = summary.get("sample") or {}
    recording = summary.get("recording") or {}
    deconvolved = summary.get("deconvolved_nm") or {}
    concentration = summary.get("concentration") or {}
    interval = params.get("frame_interval_s")
    pixel = params.get("pixel_size_um")
    search = params.get("search_range_px")
    viscosity = params.get("viscosity_pa_s")
    rows: list[tuple[str, Any, str]] = [
        *((SAMPLE_LABELS[key], sample.get(key), "") for key in SAMPLE_KEYS),
        ("Source", summary.get("source"), ""),
        ("Date", recording.get("start_time"), "ISO 8601"),
        ("Camera", recording.get("camera"), ""),
        ("Camera gain", recording.get("gain"), ""),
        ("Exposure", _ms(params.get("exposure_s")), "ms"),
        ("Frame rate", None if not interval else 1.0 / interval, "frames/s"),
        ("Pixel size", pixel, "um"),
        ("Temperature", params.get("temperature_c"), "degC"),
        ("Viscosity", None if viscosity is None else 1000.0 * viscosity, "mPa s"),
        ("Solvent", params.get("solvent"), ""),
        ("Detection engine", params.get("engine"), ""),
        ("Detection threshold (minmass)", params.get("minmass"), "counts"),
        ("Feature diameter", params.get("diameter_px"), "px"),
        ("Max jump distance", search, "px"),
        ("Max jump distance", None if search is None or pixel is None else search * pixel, "um"),
        ("Min track length", params.get("min_track_length"), "frames"),
        ("Frames analysed", summary.get("n_frames"), ""),
        ("Tracks", summary.get("n_tracks"), ""),
        ("Particles per frame", summary.get("particles_per_frame"), ""),
        ("Particles in view per frame", concentration.get("particles_in_view_per_frame"), ""),
        ("Hidden by a neighbour", concentration.get("hidden_by_neighbours"), "fraction"),
        ("Missed below the threshold", concentration.get("missed_below_threshold"), "fraction"),
        ("Mean (deconvolved)", deconvolved.get("mean"), "nm"),
        ("Mode (deconvolved)", deconvolved.get("mode"), "nm"),
        ("SD (deconvolved)", deconvolved.get("sd"), "nm"),
        ("D10 (deconvolved)", deconvolved.get("d10"), "nm"),
        ("D50 (deconvolved)", deconvolved.get("d50"), "nm"),
        ("D90 (deconvolved)", deconvolved.get("d90"), "nm"),
        ("Ensemble diameter", summary.get("diameter_nm"), "nm"),
        ("Ensemble diameter SE", summary.get("diameter_se_nm"), "nm"),
        ("Detection depth", concentration.get("depth_um"), "um"),
        ("Concentration measured", concentration.get("particles_per_ml"), "particles/ml"),
        (
            "Concentration (x dilution)",
            concentration.get("sample_particles_per_ml"),
            "particles/ml",
        ),
        (
            "Concentration (x dilution) SE",
            concentration.get("sample_particles_per_ml_sem"),
            "particles/ml",
        ),
        ("Software version", summary.get("software_version"), ""),
    ]
    return rows


def summary_csv_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`summary_rows` as a three-column table ``Field, Value, Unit``."""
    return pd.DataFrame(summary_rows(summary), columns=["Field", "Value", "Unit"])


def write_csv_exports(
    result: Any, directory: str | Path, grid: SizeGrid | None = None
) -> list[Path]:
    """Write :data:`SIZE_DISTRIBUTION_FILE`, :data:`PER_TRACK_FILE` and :data:`SUMMARY_FILE`.

    Parameters
    ----------
    result : AnalysisResult
        The analysis (``per_track``, ``tracks``, ``sizes``, ``summary``).
    directory : str or Path
        Created if missing.
    grid : SizeGrid, optional
        Bins of the size distribution (default 1 nm to 2000 nm).

    Returns
    -------
    list of Path
        The files written.
    """
    directory = make_output_directory(directory, "the export folder")
    sizes = getattr(result, "sizes", None)
    concentration = result.summary.get("concentration") or {}
    distribution_path = directory / SIZE_DISTRIBUTION_FILE
    size_distribution_table(
        result.per_track,
        sizes.deconvolved if sizes else None,
        grid,
        concentration.get("sample_particles_per_ml"),
    ).to_csv(distribution_path, index=False, float_format="%.6g")
    tracks_path = directory / PER_TRACK_FILE
    particle_data_table(result.per_track, result.tracks).to_csv(
        tracks_path, index=False, float_format="%.6g"
    )
    summary_path = directory / SUMMARY_FILE
    summary_csv_table(result.summary).to_csv(summary_path, index=False)
    return [distribution_path, tracks_path, summary_path]
