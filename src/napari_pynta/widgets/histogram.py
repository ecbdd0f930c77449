"""Matplotlib canvas of the Sizes widget: per-track diameter histogram and the running estimate."""
from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

#: histogram bins per decade of diameter (log axis, as NTA instruments plot it)
BINS_PER_DECADE = 24
TEXT_COLOR = "#dddddd"
BAR_COLOR = "#3d9be9"
ESTIMATE_COLOR = "#ff8c1a"


def log_bins(diameters_nm: np.ndarray) -> np.ndarray:
    """Log-spaced bin edges covering the finite positive diameters (10–1000 nm when empty)."""
    valid = diameters_nm[np.isfinite(diameters_nm) & (diameters_nm > 0)]
    low, high = (10.0, 1000.0) if len(valid) == 0 else (valid.min() / 1.2, valid.max() * 1.2)
    decades = max(math.log10(high / low), 0.5)
    n_bins = max(int(round(decades * BINS_PER_DECADE)), 8)
    return np.logspace(math.log10(low), math.log10(low) + decades, n_bins + 1)


class SizeHistogramCanvas(FigureCanvasQTAgg):
    """Histogram of per-track diameters (top) and the ensemble estimate versus tracks (bottom)."""

    def __init__(self) -> None:
        figure = Figure(figsize=(4.0, 4.2), tight_layout=True, facecolor="#262930")
        super().__init__(figure)
        self.histogram_axes = figure.add_subplot(2, 1, 1)
        self.history_axes = figure.add_subplot(2, 1, 2)
        self.setMinimumHeight(320)
        self.plot(np.empty(0), math.nan, [])

    def plot(self, diameters_nm: np.ndarray, ensemble_nm: float, history: list[tuple[int, float]]) -> None:
        """Redraw both panels.

        Parameters
        ----------
        diameters_nm : ndarray
            Per-track diameters (nm).
        ensemble_nm : float
            Ensemble (all steps pooled) diameter; NaN when unknown.
        history : list of (int, float)
            ``(number of tracks, ensemble diameter)`` pairs, oldest first.
        """
        axes = self.histogram_axes
        axes.clear()
        valid = diameters_nm[np.isfinite(diameters_nm) & (diameters_nm > 0)]
        axes.hist(valid, bins=log_bins(valid), color=BAR_COLOR, edgecolor="#1b1d22")
        axes.set_xscale("log")
        if math.isfinite(ensemble_nm):
            axes.axvline(ensemble_nm, color=ESTIMATE_COLOR, lw=2, label=f"ensemble {ensemble_nm:.0f} nm")
            axes.legend(loc="upper right", fontsize=8, facecolor="#262930", labelcolor=TEXT_COLOR)
        axes.set_xlabel("hydrodynamic diameter (nm)")
        axes.set_ylabel("tracks")
        axes.set_title(f"{len(valid)} tracks", fontsize=9)
        history_axes = self.history_axes
        history_axes.clear()
        if history:
            counts, estimates = zip(*history)
            history_axes.plot(counts, estimates, "o-", color=ESTIMATE_COLOR, ms=3)
        history_axes.set_xlabel("tracks")
        history_axes.set_ylabel("ensemble d (nm)")
        history_axes.set_title("running ensemble estimate", fontsize=9)
        for each in (axes, history_axes):
            each.set_facecolor("#1b1d22")
            each.tick_params(colors=TEXT_COLOR, labelsize=8)
            each.xaxis.label.set_color(TEXT_COLOR)
            each.yaxis.label.set_color(TEXT_COLOR)
            each.title.set_color(TEXT_COLOR)
        self.draw_idle()
