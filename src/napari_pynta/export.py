"""CSV exports laid out the way NTA users know them (NanoSight-style column names).

- ``size_distribution.csv``: one row per size bin: bin centre (nm), raw and deconvolved track
  counts, and the concentration per bin (particles/mL) when a detection depth was given.
- ``per_track_sizes.csv``: one row per track: size, diffusion coefficient, track length.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from napari_pynta.deconvolve import SizeDistribution, cumulative_fraction, quantile
from napari_pynta.errors import PyntaInputError, require_positive

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
PER_TRACK_FILE = "per_track_sizes.csv"

BIN_CENTRE = "Bin centre (nm)"
RAW_COUNT = "Raw count (tracks)"
DECONVOLVED_COUNT = "Deconvolved count (tracks)"
CONCENTRATION = "Concentration (particles / ml)"


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


def size_distribution_table(
    per_track: pd.DataFrame,
    deconvolved: SizeDistribution | None,
    edges_nm: np.ndarray | None = None,
    particles_per_ml: float | None = None,
) -> pd.DataFrame:
    """Counts per size bin, raw and deconvolved, and the concentration per bin.

    Parameters
    ----------
    per_track : DataFrame
        Per-track table with ``diameter_nm``.
    deconvolved : SizeDistribution, optional
        The deconvolved distribution; its counts are its fractions times its number of tracks.
    edges_nm : ndarray, optional
        Bin edges (default :func:`size_bin_edges`).
    particles_per_ml : float, optional
        Total concentration; spread over the bins by the deconvolved fractions.

    Returns
    -------
    DataFrame
        Columns :data:`BIN_CENTRE`, :data:`RAW_COUNT`, :data:`DECONVOLVED_COUNT` and, with a
        concentration, :data:`CONCENTRATION`.
    """
    if "diameter_nm" not in per_track.columns:
        raise PyntaInputError("per_track table lacks the column 'diameter_nm'")
    sizes = per_track["diameter_nm"].to_numpy(dtype=float)
    edges = size_bin_edges(sizes, deconvolved) if edges_nm is None else np.asarray(edges_nm)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] < 0:
        raise PyntaInputError("edges_nm must be >= 2 increasing sizes >= 0 nm")
    raw, _ = np.histogram(sizes[np.isfinite(sizes)], bins=edges)
    table = {BIN_CENTRE: 0.5 * (edges[1:] + edges[:-1]), RAW_COUNT: raw}
    if deconvolved is not None:
        fractions = bin_fractions(deconvolved, edges)
        fractions[fractions < NEGLIGIBLE_FRACTION] = 0.0  # 1e-200 tails read as noise in a sheet
        table[DECONVOLVED_COUNT] = fractions * deconvolved.n_tracks
        if particles_per_ml is not None:
            table[CONCENTRATION] = fractions * float(particles_per_ml)
    return pd.DataFrame(table)


def bin_fractions(distribution: SizeDistribution, edges_nm: np.ndarray) -> np.ndarray:
    """Fraction of a gridded distribution falling in each size bin."""
    positive = np.clip(np.asarray(edges_nm, dtype=float), 1e-9, None)
    return np.diff(cumulative_fraction(distribution.diameter_nm, distribution.weights, positive))


def per_track_table(per_track: pd.DataFrame) -> pd.DataFrame:
    """The per-track sizes with descriptive column names.

    Parameters
    ----------
    per_track : DataFrame
        Output of ``sizing.track_diffusion``.

    Returns
    -------
    DataFrame
        ``Track ID, Size (nm), Diffusion coefficient (um^2/s), Track length (frames), Steps,
        Localization error (nm), Mean squared step (um^2)``.
    """
    needed = ("particle", "diameter_nm", "D_um2_s", "n_frames", "n_steps", "sigma_um", "msd1_um2")
    missing = [name for name in needed if name not in per_track.columns]
    if missing:
        raise PyntaInputError(f"per_track table lacks the columns {missing}")
    return pd.DataFrame(
        {
            "Track ID": per_track["particle"].to_numpy(),
            "Size (nm)": per_track["diameter_nm"].to_numpy(),
            "Diffusion coefficient (um^2/s)": per_track["D_um2_s"].to_numpy(),
            "Track length (frames)": per_track["n_frames"].to_numpy(),
            "Steps": per_track["n_steps"].to_numpy(),
            "Localization error (nm)": 1000.0 * per_track["sigma_um"].to_numpy(),
            "Mean squared step (um^2)": per_track["msd1_um2"].to_numpy(),
        }
    )


def write_csv_exports(
    per_track: pd.DataFrame,
    deconvolved: SizeDistribution | None,
    directory: str | Path,
    particles_per_ml: float | None = None,
) -> list[Path]:
    """Write :data:`SIZE_DISTRIBUTION_FILE` and :data:`PER_TRACK_FILE` into ``directory``.

    Parameters
    ----------
    per_track : DataFrame
        Output of ``sizing.track_diffusion``.
    deconvolved : SizeDistribution, optional
        The deconvolved distribution.
    directory : str or Path
        Created if missing.
    particles_per_ml : float, optional
        Total concentration, for the concentration-per-bin column.

    Returns
    -------
    list of Path
        The files written.
    """
    directory = make_output_directory(directory, "the export folder")
    distribution_path = directory / SIZE_DISTRIBUTION_FILE
    size_distribution_table(per_track, deconvolved, particles_per_ml=particles_per_ml).to_csv(
        distribution_path, index=False, float_format="%.6g"
    )
    tracks_path = directory / PER_TRACK_FILE
    per_track_table(per_track).to_csv(tracks_path, index=False, float_format="%.6g")
    return [distribution_path, tracks_path]
