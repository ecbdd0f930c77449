"""Matplotlib canvas of the Sizes widget: per-track diameter histogram, deconvolved distribution
and the running estimate."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

from napari_pynta.deconvolve import cumulative_fraction

#: histogram bins per decade of diameter (log axis, as NTA instruments plot it)
BINS_PER_DECADE = 24
TEXT_COLOR = "#dddddd"
BAR_COLOR = "#3d9be9"
ESTIMATE_COLOR = "#ff8c1a"
DECONVOLVED_COLOR = "#7ee07e"
#: percentiles of the per-track diameters the size axis shows, and the factor added on each side
VIEW_PERCENTILES = (0.5, 99.5)
VIEW_MARGIN = 1.4


def log_bins(diameters_nm: np.ndarray) -> np.ndarray:
    """Log-spaced bin edges covering the finite positive diameters (10–1000 nm when empty)."""
    valid = diameters_nm[np.isfinite(diameters_nm) & (diameters_nm > 0)]
    low, high = (10.0, 1000.0) if len(valid) == 0 else (valid.min() / 1.2, valid.max() * 1.2)
    decades = max(math.log10(high / low), 0.5)
    n_bins = max(int(round(decades * BINS_PER_DECADE)), 8)
    return np.logspace(math.log10(low), math.log10(low) + decades, n_bins + 1)


def expected_counts(
    deconvolved: tuple[np.ndarray, np.ndarray], edges_nm: np.ndarray, n_tracks: int
) -> np.ndarray:
    """Tracks expected in each histogram bin if ``n_tracks`` followed the distribution exactly.

    Parameters
    ----------
    deconvolved : (ndarray, ndarray)
        Grid diameters (nm) and the fraction of tracks at each.
    edges_nm : ndarray
        Histogram bin edges.
    n_tracks : int
        Tracks in the histogram.
    """
    grid_nm, weights = deconvolved
    return n_tracks * np.diff(cumulative_fraction(grid_nm, weights, edges_nm))


def view_limits(diameters_nm: np.ndarray) -> tuple[float, float] | None:
    """Diameter axis range showing the central :data:`VIEW_PERCENTILES` of the tracks with a
    margin, so that a few aberrant tracks do not squash the histogram; None when empty."""
    if len(diameters_nm) == 0:
        return None
    low, high = np.percentile(diameters_nm, VIEW_PERCENTILES)
    return low / VIEW_MARGIN, high * VIEW_MARGIN


class SizeHistogramCanvas(FigureCanvasQTAgg):
    """Histogram of per-track diameters with the deconvolved distribution on top and, while live,
    the ensemble estimate versus the number of tracks below it."""

    def __init__(self) -> None:
        figure = Figure(figsize=(4.0, 4.2), tight_layout=True, facecolor="#262930")
        super().__init__(figure)
        self.histogram_axes: Axes | None = None
        self.history_axes: Axes | None = None
        self.setMinimumHeight(320)
        self.plot(np.empty(0), math.nan, [], show_history=False)

    def plot(
        self,
        diameters_nm: np.ndarray,
        ensemble_nm: float,
        history: list[tuple[int, float]],
        *,
        deconvolved: tuple[np.ndarray, np.ndarray] | None = None,
        deconvolved_peaks_nm: list[float] | None = None,
        show_history: bool = True,
    ) -> None:
        """Redraw the panels.

        Parameters
        ----------
        diameters_nm : ndarray
            Per-track diameters (nm).
        ensemble_nm : float
            Ensemble (all steps pooled) diameter; NaN when unknown.
        history : list of (int, float)
            ``(number of tracks, ensemble diameter)`` pairs, oldest first.
        deconvolved : (ndarray, ndarray), optional
            Walker EM distribution (grid diameters in nm, fractions), drawn as the tracks expected
            per bin.
        deconvolved_peaks_nm : list of float, optional
            Peaks of the deconvolved distribution, marked when the distribution itself is unknown.
        show_history : bool
            Whether to show the running-estimate panel (it only means something while live).
        """
        figure = self.figure
        figure.clear()
        axes = self.histogram_axes = figure.add_subplot(2 if show_history else 1, 1, 1)
        valid = diameters_nm[np.isfinite(diameters_nm) & (diameters_nm > 0)]
        edges = log_bins(valid)
        axes.hist(
            valid, bins=edges.tolist(), color=BAR_COLOR, edgecolor="#1b1d22", label="raw per-track"
        )
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_major_formatter(StrMethodFormatter("{x:.0f}"))  # 200, not 2×10²
        axes.xaxis.set_minor_formatter(NullFormatter())
        if deconvolved is not None and len(valid):
            axes.stairs(
                expected_counts(deconvolved, edges, len(valid)),
                edges,
                color=DECONVOLVED_COLOR,
                lw=2,
                label="deconvolved (Walker EM)",
            )
        elif deconvolved_peaks_nm:
            for index, peak in enumerate(deconvolved_peaks_nm):
                axes.axvline(
                    peak,
                    color=DECONVOLVED_COLOR,
                    lw=1.5,
                    ls="--",
                    label="deconvolved peak (Walker EM)" if index == 0 else None,
                )
        if math.isfinite(ensemble_nm):
            axes.axvline(
                ensemble_nm, color=ESTIMATE_COLOR, lw=2, label=f"ensemble {ensemble_nm:.0f} nm"
            )
        if len(valid):
            axes.legend(loc="upper right", fontsize=7, facecolor="#262930", labelcolor=TEXT_COLOR)
        axes.set_xlabel("hydrodynamic diameter (nm)")
        axes.set_ylabel("tracks per bin")
        title = f"{len(valid)} tracks"
        limits = view_limits(valid)
        if limits is not None:
            axes.set_xlim(*limits)
            outside = int(np.sum((valid < limits[0]) | (valid > limits[1])))
            title += f" ({outside} outside the plot)" if outside else ""
        axes.set_title(title, fontsize=9)
        panels = [axes]
        self.history_axes = None
        if show_history:
            history_axes = self.history_axes = figure.add_subplot(2, 1, 2)
            if history:
                counts, estimates = zip(*history, strict=False)
                history_axes.plot(counts, estimates, "o-", color=ESTIMATE_COLOR, ms=3)
            history_axes.set_xlabel("tracks")
            history_axes.set_ylabel("ensemble d (nm)")
            history_axes.set_title("running ensemble estimate (live)", fontsize=9)
            panels.append(history_axes)
        for each in panels:
            each.set_facecolor("#1b1d22")
            each.tick_params(colors=TEXT_COLOR, labelsize=8)
            each.xaxis.label.set_color(TEXT_COLOR)
            each.yaxis.label.set_color(TEXT_COLOR)
            each.title.set_color(TEXT_COLOR)
        self.draw_idle()
