"""Exposure aid of the Camera widget: saturated pixels and a live intensity histogram."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from napari_pynta.exposure import ExposureStats
from napari_pynta.widgets.histogram import BAR_COLOR, TEXT_COLOR

#: above this saturated fraction the label turns red (lower the exposure or gain)
SATURATION_WARNING = 0.001
SATURATED_COLOR = "#ff6b6b"


class ExposureAid(QWidget):
    """Saturated-pixel fraction and intensity histogram (log counts) of the newest live frame."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.saturation_label = QLabel("saturated: – (start Live)")
        self.figure = Figure(figsize=(3.0, 1.2), facecolor="none", layout="tight")
        self.axes = self.figure.add_subplot()
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(90)
        self.canvas.setStyleSheet("background: transparent;")
        self.stats: ExposureStats | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.saturation_label)
        layout.addWidget(self.canvas)
        self._style_axes()

    def _style_axes(self) -> None:
        axes = self.axes
        axes.set_facecolor("none")
        axes.tick_params(colors=TEXT_COLOR, labelsize=7)
        for spine in axes.spines.values():
            spine.set_color(TEXT_COLOR)
        axes.set_yscale("log")
        axes.yaxis.set_minor_formatter(NullFormatter())  # counts within a decade: labels overlap
        axes.set_xlabel("intensity", color=TEXT_COLOR, fontsize=7)

    def show_stats(self, stats: ExposureStats) -> None:
        """Show the statistics of a frame: the histogram over the intensities it holds, the
        saturation level drawn when it is near them and stated in words when it is not."""
        self.stats = stats
        fraction = stats.saturated_fraction
        self.saturation_label.setText(
            f"saturated: {100 * fraction:.2f} % of pixels at {stats.saturation_level}"
        )
        self.saturation_label.setStyleSheet(
            f"color: {SATURATED_COLOR}; font-weight: bold;" if fraction > SATURATION_WARNING else ""
        )
        self.axes.clear()
        self._style_axes()
        self.axes.stairs(np.maximum(stats.counts, 0.8), stats.edges, fill=True, color=BAR_COLOR)
        self.axes.set_xlim(stats.edges[0], stats.edges[-1])
        if stats.saturation_on_scale:
            self.axes.axvline(stats.saturation_level, color=SATURATED_COLOR, linewidth=1)
        else:
            self.axes.text(
                0.99,
                0.95,
                off_scale_text(stats),
                transform=self.axes.transAxes,
                ha="right",
                va="top",
                fontsize=7,
                color=SATURATED_COLOR if stats.saturated_pixels else TEXT_COLOR,
            )
        self.canvas.draw_idle()


def off_scale_text(stats: ExposureStats) -> str:
    """What the plot says of a saturation level far above the frame's other pixels."""
    if stats.saturated_pixels:
        return f"+ {stats.saturated_pixels} px saturated at {stats.saturation_level} →"
    return f"saturation at {stats.saturation_level} →"
