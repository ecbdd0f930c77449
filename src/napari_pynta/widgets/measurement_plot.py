"""Matplotlib canvas of a measurement: each capture's deconvolved size distribution and their mean
± standard error across captures, on the Sizes widget's log diameter axis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

from napari_pynta.combine import combined_distribution
from napari_pynta.deconvolve import cumulative_fraction
from napari_pynta.widgets.histogram import (
    BINS_PER_DECADE,
    DECONVOLVED_COLOR,
    ESTIMATE_COLOR,
    TEXT_COLOR,
    VIEW_MARGIN,
    VIEW_PERCENTILES,
    style_dark_axes,
)

CAPTURE_COLOR = "#7f9bb8"
BAND_ALPHA = 0.35
#: the deconvolved distributions are smooth: twice the per-track histogram's bins per decade
PLOT_BINS_PER_DECADE = 2 * BINS_PER_DECADE
#: labelled ticks per decade (the view is usually narrower than the per-track histogram's)
TICKS_PER_DECADE = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)


def distribution_edges(results: Sequence[Any]) -> np.ndarray:
    """Log-spaced bin edges over the captures' deconvolved grids (10–1000 nm without any)."""
    grids = [r.sizes.deconvolved.diameter_nm for r in results if r.sizes is not None]
    low, high = (min(g.min() for g in grids), max(g.max() for g in grids)) if grids else (10, 1e3)
    n_bins = max(int(np.ceil(np.log10(high / low) * PLOT_BINS_PER_DECADE)), 8)
    return np.logspace(np.log10(low), np.log10(high), n_bins + 1)


def view_range(edges_nm: np.ndarray, percent: np.ndarray) -> tuple[float, float] | None:
    """The diameters holding the central :data:`VIEW_PERCENTILES` of a distribution given as
    percent per bin, widened by :data:`VIEW_MARGIN`; None for an empty one."""
    cumulative = np.concatenate([[0.0], np.cumsum(percent)])
    if cumulative[-1] <= 0:
        return None
    low, high = np.interp(VIEW_PERCENTILES, 100 * cumulative / cumulative[-1], edges_nm)
    return low / VIEW_MARGIN, high * VIEW_MARGIN


def capture_fractions(
    results: Sequence[Any], edges_nm: np.ndarray
) -> tuple[list[np.ndarray], list[int]]:
    """Percent of tracks per bin of each capture's deconvolved distribution.

    Returns
    -------
    fractions : list of ndarray
        One array of ``len(edges_nm) - 1`` values per capture that has a distribution.
    used : list of int
        Their capture indices (a capture with too few tracks has none).
    """
    fractions, used = [], []
    for index, result in enumerate(results):
        if result.sizes is None:
            continue
        walker = result.sizes.deconvolved
        cumulative = cumulative_fraction(walker.diameter_nm, walker.weights, edges_nm)
        fractions.append(100.0 * np.diff(cumulative))
        used.append(index)
    return fractions, used


class MeasurementCanvas(FigureCanvasQTAgg):
    """The captures' deconvolved distributions (thin), their mean (thick) and ± SE band."""

    def __init__(self) -> None:
        figure = Figure(figsize=(4.0, 3.2), tight_layout=True, facecolor="#262930")
        super().__init__(figure)
        self.setMinimumHeight(260)
        self.mean: np.ndarray | None = None
        self.se: np.ndarray | None = None
        self.edges_nm: np.ndarray | None = None

    def plot(self, results: Sequence[Any], combined: dict[str, Any]) -> None:
        """Draw the measurement.

        Parameters
        ----------
        results : sequence of AnalysisResult
            The captures, in order.
        combined : dict
            :func:`~napari_pynta.combine.combine_summaries` of their summaries (the D50 mean
            ± SE is marked).
        """
        figure = self.figure
        figure.clear()
        axes = figure.add_subplot()
        edges = self.edges_nm = distribution_edges(results)
        fractions, used = capture_fractions(results, edges)
        for number, values in enumerate(fractions):
            axes.stairs(
                values,
                edges,
                color=CAPTURE_COLOR,
                lw=0.8,
                alpha=0.8,
                label="each capture" if number == 0 else None,
            )
        self.mean = self.se = None
        if fractions:
            mean, se = combined_distribution(fractions)
            self.mean, self.se = mean, se
            if len(fractions) > 1:
                axes.stairs(
                    mean + se,
                    edges,
                    baseline=mean - se,
                    fill=True,
                    color=DECONVOLVED_COLOR,
                    alpha=BAND_ALPHA,
                    label="± SE across captures",
                )
            axes.stairs(mean, edges, color=DECONVOLVED_COLOR, lw=2, label="mean (deconvolved)")
        d50 = combined.get("d50_nm") or {}
        if d50.get("mean") is not None:
            label = f"D50 {d50['mean']:.0f}"
            if d50.get("se") is not None:
                low, high = d50["mean"] - d50["se"], d50["mean"] + d50["se"]
                axes.axvspan(low, high, color=ESTIMATE_COLOR, alpha=0.25, lw=0)
                label += f" ± {d50['se']:.1f}"
            axes.axvline(d50["mean"], color=ESTIMATE_COLOR, lw=1.5, label=label + " nm")
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(subs=TICKS_PER_DECADE))
        axes.xaxis.set_major_formatter(StrMethodFormatter("{x:.0f}"))
        axes.xaxis.set_minor_formatter(NullFormatter())
        limits = view_range(edges, self.mean) if self.mean is not None else None
        if limits is not None:
            axes.set_xlim(*limits)
        axes.set_xlabel("hydrodynamic diameter (nm)")
        axes.set_ylabel("% of tracks per bin")
        skipped = len(results) - len(used)
        title = f"{len(used)} captures, mean ± SE"
        title += f" ({skipped} without a distribution: too few tracks)" if skipped else ""
        axes.set_title(title, fontsize=9)
        if fractions:
            axes.legend(loc="upper right", fontsize=7, facecolor="#262930", labelcolor=TEXT_COLOR)
        style_dark_axes(axes)
        self.draw_idle()
