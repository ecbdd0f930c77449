"""Matplotlib canvas of the Sizes widget: per-track diameter histogram, deconvolved distribution
and, while live, the convergence of the deconvolved D50's precision."""

from __future__ import annotations

import math
from typing import Any

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
TARGET_COLOR = "#e05c5c"
#: percentiles of the per-track diameters the size axis shows, and the factor added on each side
VIEW_PERCENTILES = (0.5, 99.5)
VIEW_MARGIN = 1.4
#: plot background, as napari's dark theme
AXES_COLOR = "#1b1d22"


def style_dark_axes(axes: Axes) -> None:
    """Dark background and light ticks, labels and title, to sit in napari's dark theme."""
    axes.set_facecolor(AXES_COLOR)
    axes.tick_params(colors=TEXT_COLOR, labelsize=8)
    axes.xaxis.label.set_color(TEXT_COLOR)
    axes.yaxis.label.set_color(TEXT_COLOR)
    axes.title.set_color(TEXT_COLOR)


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


def convergence_title(convergence: list[dict[str, Any]]) -> str:
    """Title of the convergence panel: the newest D50 ± its relative SE and the tracks."""
    if not convergence:
        return "D50 precision (live): no sizes yet"
    newest = convergence[-1]
    d50, relative = newest.get("d50_nm"), newest.get("d50_relative_se")
    if d50 is None or relative is None:
        return f"D50 precision (live): {newest.get('n_tracks', 0)} tracks, no D50 error yet"
    return (
        f"D50 {d50:.0f} nm ± {100 * relative:.1f} % after {newest['t_s']:.0f} s, "
        f"{newest['n_tracks']} tracks"
    )


class SizeHistogramCanvas(FigureCanvasQTAgg):
    """Histogram of per-track diameters with the deconvolved distribution on top and, while live,
    the relative standard error of the deconvolved D50 against the recording time below it
    (the convergence plot, with the precision target when one is set)."""

    def __init__(self) -> None:
        figure = Figure(figsize=(4.0, 4.2), tight_layout=True, facecolor="#262930")
        super().__init__(figure)
        self.histogram_axes: Axes | None = None
        self.convergence_axes: Axes | None = None
        self.setMinimumHeight(320)
        self.plot(np.empty(0), math.nan, [], show_convergence=False)

    def plot(
        self,
        diameters_nm: np.ndarray,
        ensemble_nm: float,
        convergence: list[dict[str, Any]],
        *,
        deconvolved: tuple[np.ndarray, np.ndarray] | None = None,
        deconvolved_peaks_nm: list[float] | None = None,
        show_convergence: bool = True,
        target: float | None = None,
    ) -> None:
        """Redraw the panels.

        Parameters
        ----------
        diameters_nm : ndarray
            Per-track diameters (nm).
        ensemble_nm : float
            Ensemble (all steps pooled) diameter; NaN when unknown.
        convergence : list of dict
            The live summary's ``convergence`` history (``t_s``, ``n_tracks``, ``d50_nm``,
            ``d50_relative_se``), oldest first.
        deconvolved : (ndarray, ndarray), optional
            Walker EM distribution (grid diameters in nm, fractions), drawn as the tracks expected
            per bin.
        deconvolved_peaks_nm : list of float, optional
            Peaks of the deconvolved distribution, marked when the distribution itself is unknown.
        show_convergence : bool
            Whether to show the convergence panel (it only means something while live).
        target : float, optional
            Relative standard error aimed at (0.02 = 2 %), drawn as a line.
        """
        figure = self.figure
        figure.clear()
        axes = self.histogram_axes = figure.add_subplot(2 if show_convergence else 1, 1, 1)
        valid = diameters_nm[np.isfinite(diameters_nm) & (diameters_nm > 0)]
        edges = log_bins(valid)
        axes.hist(
            valid, bins=edges.tolist(), color=BAR_COLOR, edgecolor=AXES_COLOR, label="raw per-track"
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
        self.convergence_axes = None
        if show_convergence:
            panels.append(self._plot_convergence(figure.add_subplot(2, 1, 2), convergence, target))
        for each in panels:
            style_dark_axes(each)
        self.draw_idle()

    def _plot_convergence(
        self, axes: Axes, convergence: list[dict[str, Any]], target: float | None
    ) -> Axes:
        """Relative SE of D50 (%) against the recording time, with the target line."""
        self.convergence_axes = axes
        known = [point for point in convergence if point.get("d50_relative_se") is not None]
        if known:
            axes.plot(
                [point["t_s"] for point in known],
                [100 * point["d50_relative_se"] for point in known],
                "o-",
                color=ESTIMATE_COLOR,
                ms=3,
                label="relative SE of D50",
            )
            axes.set_yscale("log")
            axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axes.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
            axes.yaxis.set_minor_formatter(NullFormatter())
            shown = [100 * point["d50_relative_se"] for point in known]
            shown += [] if target is None else [100 * target]
            axes.set_ylim(min(shown) / 1.3, max(shown) * 1.3)
        if target is not None:
            axes.axhline(
                100 * target,
                color=TARGET_COLOR,
                ls="--",
                lw=1.5,
                label=f"target {100 * target:g} %",
            )
        if known or target is not None:
            axes.legend(loc="upper right", fontsize=7, facecolor="#262930", labelcolor=TEXT_COLOR)
        axes.set_xlabel("recording time (s)")
        axes.set_ylabel("SE of D50 (%)")
        axes.set_title(convergence_title(convergence), fontsize=9)
        return axes
