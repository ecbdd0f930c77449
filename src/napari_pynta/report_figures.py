"""The figures of the lab report (matplotlib ``Figure`` objects, no pyplot, no GUI).

Each function takes one or more analyses (``AnalysisResult``) and returns a figure that the HTML
report embeds as PNG and the PDF report places on its own page:

- :func:`concentration_size_figure`: concentration (or number fraction) per nm against size,
  one curve per capture and, for replicates, the mean ± SE band;
- :func:`size_intensity_figure`: per-track size against log intensity (NanoSight's scatter);
- :func:`particles_over_time_figure`: particles per frame over the recording (drift, bubbles,
  sedimentation show up here);
- :func:`replicate_figure`: D10/D50/D90/mode of each capture with the mean ± SE.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_pynta.combine import combined_distribution
from napari_pynta.export import (
    CONCENTRATION,
    NUMBER_FRACTION,
    SizeGrid,
    particle_data_table,
    size_distribution_table,
)
from napari_pynta.frame_range import first_analysed

#: the plotted grid ends at this quantile of the deconvolved distributions (rounded up)
PLOT_QUANTILE = "d90"
PLOT_RANGE_FACTOR = 2.5
PLOT_BINS = 100
#: seconds averaged in the particles-per-frame curve
COUNT_SMOOTHING_S = 1.0
COLOURS = ("#1f4e99", "#e07b00", "#2e9d57", "#b03a48", "#7d5ba6", "#3a8fb0", "#8c6d1f")


def _figure(height: float = 3.6) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.6, height))
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _label(result: Any, index: int) -> str:
    sample = result.summary.get("sample") or {}
    source = str(result.summary.get("source") or f"capture {index + 1}")
    return f"capture {index + 1}" if sample.get("capture_index") else source.rsplit("/", 1)[-1]


def plot_grid(results: Sequence[Any]) -> SizeGrid:
    """A common linear grid for plotting the captures' distributions (about 100 bins)."""
    tops = [(result.summary.get("deconvolved_nm") or {}).get(PLOT_QUANTILE) for result in results]
    top = PLOT_RANGE_FACTOR * max([t for t in tops if t] or [400.0])
    width = 10 ** math.floor(math.log10(top / PLOT_BINS))
    width *= min((1, 2, 5, 10), key=lambda step: abs(top / (step * width) - PLOT_BINS))
    return SizeGrid(width, width * math.ceil(top / width))


def concentration_size_figure(results: Sequence[Any]) -> Any:
    """Concentration per nm (particles/mL/nm of the undiluted sample) against size.

    Without a detection depth the number fraction per nm is shown instead. Several results are
    drawn as thin lines with their mean ± SE as a band.
    """
    grid = plot_grid(results)
    edges = grid.edges_nm
    centres = 0.5 * (edges[1:] + edges[:-1])
    curves = []
    with_concentration = all(
        (result.summary.get("concentration") or {}).get("sample_particles_per_ml")
        for result in results
    )
    for result in results:
        if result.sizes is None:
            continue
        per_ml = (result.summary.get("concentration") or {}).get("sample_particles_per_ml")
        table = size_distribution_table(
            result.per_track, result.sizes.deconvolved, grid, per_ml if with_concentration else None
        )
        values = (
            table[CONCENTRATION].to_numpy()[: centres.size]
            if with_concentration
            else table[NUMBER_FRACTION].to_numpy()[: centres.size] / grid.bin_width_nm
        )
        curves.append(values)
    figure, axes = _figure()
    for index, values in enumerate(curves):
        axes.plot(
            centres,
            values,
            color=COLOURS[index % len(COLOURS)],
            lw=1.0 if len(curves) > 1 else 2.2,
            alpha=0.7 if len(curves) > 1 else 1.0,
            label=_label(results[index], index),
        )
    if len(curves) > 1:
        mean, se = combined_distribution(curves)
        axes.plot(centres, mean, color="#1d2330", lw=2.2, label="mean")
        axes.fill_between(centres, mean - se, mean + se, color="#1d2330", alpha=0.18, label="± SE")
    axes.set_xlim(0, edges[-1])
    axes.set_xlabel("hydrodynamic diameter (nm)")
    axes.set_ylabel(
        "particles / mL / nm (undiluted)" if with_concentration else "fraction of particles / nm"
    )
    if curves:
        axes.legend(frameon=False, fontsize=8)
    return figure


def size_intensity_figure(results: Sequence[Any]) -> Any:
    """Per-track size against the natural log of the track's mean brightness."""
    figure, axes = _figure()
    for index, result in enumerate(results):
        table = particle_data_table(result.per_track, result.tracks)
        keep = np.isfinite(table["Size/nm"]) & (table["Size/nm"] > 0)
        axes.scatter(
            table["Size/nm"][keep],
            table["Ln(Adjusted intensity)"][keep],
            s=6,
            alpha=0.5,
            color=COLOURS[index % len(COLOURS)],
            label=_label(result, index),
        )
    axes.set_xscale("log")
    axes.set_xlabel("hydrodynamic diameter (nm, per track)")
    axes.set_ylabel("ln(mean brightness)")
    if len(results) > 1:
        axes.legend(frameon=False, fontsize=8, markerscale=2)
    return figure


def particles_over_time_figure(results: Sequence[Any]) -> Any:
    """Particles found per frame over the recording, averaged over :data:`COUNT_SMOOTHING_S`."""
    figure, axes = _figure(3.0)
    for index, result in enumerate(results):
        n_frames = int(result.summary.get("n_frames") or 0)
        if n_frames == 0:
            continue
        frames = result.localizations["frame"].to_numpy(dtype=np.int64)
        analysed = frames - first_analysed(result.summary)
        counts = np.bincount(analysed, minlength=n_frames)[:n_frames]
        interval = result.params.frame_interval_s
        window = max(1, round(COUNT_SMOOTHING_S / interval))
        smooth = np.convolve(counts, np.ones(window) / window, mode="valid")
        times = (np.arange(smooth.size) + (window - 1) / 2) * interval
        axes.plot(times, smooth, color=COLOURS[index % len(COLOURS)], label=_label(result, index))
    axes.set_xlabel("time in the capture (s)")
    axes.set_ylabel(f"particles per frame\n({COUNT_SMOOTHING_S:g} s mean)")
    axes.set_ylim(bottom=0)
    if len(results) > 1:
        axes.legend(frameon=False, fontsize=8)
    return figure


#: the statistics of the replicate figure: (combined key, deconvolved summary key, label)
REPLICATE_STATISTICS = (
    ("d10_nm", "d10", "D10"),
    ("d50_nm", "d50", "D50"),
    ("d90_nm", "d90", "D90"),
    ("mode_nm", "mode", "mode"),
)


def replicate_figure(results: Sequence[Any], combined: dict[str, Any]) -> Any:
    """D10, D50, D90 and mode of each capture (dots) and their mean ± SE (bar with error bar)."""
    figure, axes = _figure(3.2)
    positions = np.arange(len(REPLICATE_STATISTICS))
    for key_index, (key, summary_key, _) in enumerate(REPLICATE_STATISTICS):
        entry = combined[key]
        if entry["mean"] is not None:
            axes.bar(
                positions[key_index],
                entry["mean"],
                width=0.6,
                color="#dfe4ec",
                yerr=entry["se"] or 0.0,
                capsize=6,
                error_kw={"elinewidth": 1.6, "ecolor": "#1d2330"},
            )
        for index, result in enumerate(results):
            value = (result.summary.get("deconvolved_nm") or {}).get(summary_key)
            if value is not None:
                offset = (index - (len(results) - 1) / 2) * 0.08
                axes.plot(
                    positions[key_index] + offset,
                    value,
                    "o",
                    color=COLOURS[index % len(COLOURS)],
                    label=_label(result, index) if key_index == 0 else None,
                )
    axes.set_xticks(positions, [label for _, _, label in REPLICATE_STATISTICS])
    axes.set_ylabel("diameter (nm, deconvolved)")
    if axes.get_legend_handles_labels()[0]:  # no capture sized: no point to name
        axes.legend(frameon=False, fontsize=8)
    return figure
