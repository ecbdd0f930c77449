"""The Sizes dock widget: physical conditions, diameter histogram, statistics, CSV export."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_pynta.errors import PyntaInputError
from napari_pynta.physics import KNOWN_SOLVENTS
from napari_pynta.sizing import size_statistics
from napari_pynta.widgets.form import MessageLine, float_field
from napari_pynta.widgets.histogram import SizeHistogramCanvas
from napari_pynta.widgets.session import SizeData, session_for
from napari_pynta.widgets.settings import SizingConditions, rescale_diameters

CUSTOM_SOLVENT = "custom viscosity"
#: summary key of the ensemble (all steps pooled) diameter
ENSEMBLE_KEY = "diameter_nm"
#: rows of the statistics table: (label, key of size_statistics)
STATISTICS_ROWS = (
    ("tracks", "n"),
    ("mean (nm)", "mean"),
    ("mode (nm)", "mode"),
    ("SD (nm)", "sd"),
    ("D10 (nm)", "d10"),
    ("D50 (nm)", "d50"),
    ("D90 (nm)", "d90"),
    ("span", "span"),
)


class SizesWidget(QWidget):
    """Per-track diameter histogram, running ensemble estimate and statistics.

    Diameters are re-expressed at once (exactly, by Stokes–Einstein) when the temperature,
    viscosity, pixel size or frame interval is changed.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        self.data: SizeData | None = None
        self.history: list[tuple[int, float]] = []
        self.last_result: Any = None

        conditions = self.session.conditions
        self.temperature = float_field(conditions.temperature_c, -300.0, 1000.0, decimals=1, suffix="°C")
        self.solvent = QComboBox()
        self.solvent.addItems([*KNOWN_SOLVENTS, CUSTOM_SOLVENT])
        self.viscosity_mpa_s = float_field(1.0, -1e6, 1e6, decimals=4, step=0.01, suffix="mPa·s")
        self.pixel_size = float_field(conditions.pixel_size_um, -1e6, 1e6, decimals=4, step=0.01, suffix="µm")
        self.frame_interval_ms = float_field(conditions.frame_interval_s * 1e3, -1e6, 1e6, decimals=3, suffix="ms")
        self.exposure_ms = float_field(conditions.exposure_s * 1e3, -1e6, 1e6, decimals=3, suffix="ms")
        self.source_label = QLabel("no sizes yet: start Live or analyse a movie")
        self.canvas = SizeHistogramCanvas()
        self.statistics = QTableWidget(len(STATISTICS_ROWS) + 1, 1)
        self.statistics.setHorizontalHeaderLabels(["value"])
        self.statistics.setVerticalHeaderLabels([label for label, _ in STATISTICS_ROWS] + ["ensemble (nm)"])
        self.statistics.verticalHeader().setDefaultSectionSize(20)
        self.statistics.horizontalHeader().setStretchLastSection(True)
        self.statistics.horizontalHeader().setFixedHeight(22)
        self.statistics.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.statistics.setFixedHeight(20 * self.statistics.rowCount() + 22 + 2 * self.statistics.frameWidth() + 8)
        self.export = QPushButton("Export CSV")
        self.report = QPushButton("Report")
        self.report.setVisible(importlib.util.find_spec("napari_pynta.report") is not None)
        self.report.setEnabled(False)
        self.message_line = MessageLine()

        form = QFormLayout()
        form.addRow("temperature", self.temperature)
        form.addRow("solvent", self.solvent)
        form.addRow("viscosity", self.viscosity_mpa_s)
        form.addRow("pixel size", self.pixel_size)
        form.addRow("frame interval", self.frame_interval_ms)
        form.addRow("exposure", self.exposure_ms)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export)
        buttons.addWidget(self.report)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message_line)
        layout.addWidget(self.source_label)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.statistics)
        layout.addLayout(buttons)

        for field in (self.temperature, self.viscosity_mpa_s, self.pixel_size, self.frame_interval_ms,
                      self.exposure_ms):
            field.valueChanged.connect(self.apply)
        self.solvent.currentTextChanged.connect(self.apply)
        self.export.clicked.connect(self._export_dialog)
        self.report.clicked.connect(self._report_dialog)
        self.session.sizes_changed.connect(self.show_sizes)
        self.session.conditions_changed.connect(self._show_conditions)
        self.session.analysis_finished.connect(self._on_analysis_finished)
        self._show_conditions(conditions)

    # ------------------------------------------------------------------ conditions
    def conditions(self) -> SizingConditions:
        """The conditions shown in the fields (not yet validated)."""
        custom = self.solvent.currentText() == CUSTOM_SOLVENT
        return SizingConditions(
            temperature_c=self.temperature.value(),
            solvent=KNOWN_SOLVENTS[0] if custom else self.solvent.currentText(),
            viscosity_pa_s=self.viscosity_mpa_s.value() / 1e3 if custom else None,
            pixel_size_um=self.pixel_size.value(),
            frame_interval_s=self.frame_interval_ms.value() / 1e3,
            exposure_s=self.exposure_ms.value() / 1e3,
        )

    def apply(self, *_: Any) -> bool:
        """Validate the fields, hand them to the session and redraw; False when refused."""
        custom = self.solvent.currentText() == CUSTOM_SOLVENT
        self.viscosity_mpa_s.setEnabled(custom)
        try:
            self.session.set_conditions(self.conditions())
        except PyntaInputError as error:
            self.message_line.show_error(f"refused: {error}")
            return False
        self.message_line.clear_message()
        return True

    def _show_conditions(self, conditions: SizingConditions) -> None:
        """Put ``conditions`` into the fields without re-triggering validation."""
        fields = (self.temperature, self.solvent, self.viscosity_mpa_s, self.pixel_size,
                  self.frame_interval_ms, self.exposure_ms)
        for field in fields:
            field.blockSignals(True)
        self.temperature.setValue(conditions.temperature_c)
        custom = conditions.viscosity_pa_s is not None
        self.solvent.setCurrentText(CUSTOM_SOLVENT if custom else conditions.solvent)
        self.viscosity_mpa_s.setValue(conditions.resolved_viscosity_pa_s() * 1e3)
        self.viscosity_mpa_s.setEnabled(custom)
        self.pixel_size.setValue(conditions.pixel_size_um)
        self.frame_interval_ms.setValue(conditions.frame_interval_s * 1e3)
        self.exposure_ms.setValue(conditions.exposure_s * 1e3)
        for field in fields:
            field.blockSignals(False)
        self.redraw()

    # ------------------------------------------------------------------ sizes
    def show_sizes(self, data: SizeData) -> None:
        """Adopt new sizes (live update or analysis result) and redraw."""
        if self.data is None or self.data.source != data.source:
            self.history = []
        self.data = data
        ensemble = float(data.summary.get(ENSEMBLE_KEY, math.nan))
        self.history.append((len(data.diameters_nm), ensemble))
        self.source_label.setText(f"sizes from {data.source}")
        self.redraw()

    def current_diameters(self) -> tuple[np.ndarray, float, list[tuple[int, float]]]:
        """Diameters, ensemble diameter and history under the conditions shown now."""
        if self.data is None:
            return np.empty(0), math.nan, []
        conditions = self.session.conditions
        factor = float(rescale_diameters(np.ones(1), self.data.measured_with, conditions)[0])
        ensemble = float(self.data.summary.get(ENSEMBLE_KEY, math.nan)) * factor
        history = [(count, value * factor) for count, value in self.history]
        return self.data.diameters_nm * factor, ensemble, history

    def redraw(self) -> None:
        """Redraw the histogram and the statistics table."""
        diameters, ensemble, history = self.current_diameters()
        self.canvas.plot(diameters, ensemble, history)
        statistics = size_statistics(diameters)
        values = [statistics[key] for _, key in STATISTICS_ROWS] + [ensemble]
        for row, value in enumerate(values):
            text = "–" if isinstance(value, float) and not math.isfinite(value) else (
                f"{value:d}" if isinstance(value, int) else f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"
            )
            self.statistics.setItem(row, 0, QTableWidgetItem(text))

    # ------------------------------------------------------------------ export
    def export_table(self) -> pd.DataFrame:
        """The per-track table with diameters under the conditions shown now."""
        diameters, _, _ = self.current_diameters()
        per_track = self.data.per_track if self.data is not None else None
        if per_track is not None and len(per_track) == len(diameters):
            table = per_track.copy()
            table["diameter_nm"] = diameters
            return table
        return pd.DataFrame({"diameter_nm": diameters})

    def export_csv(self, path: str | Path) -> Path:
        """Write :meth:`export_table` to ``path`` (``.csv`` added when missing)."""
        path = Path(path)
        if path.suffix.lower() != ".csv":
            path = path.with_name(path.name + ".csv")
        if self.data is None:
            raise PyntaInputError("there are no sizes to export yet: start Live or analyse a movie")
        self.export_table().to_csv(path, index=False)
        return path

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export sizes", "sizes.csv", "CSV (*.csv)")
        if path:
            try:
                self.message_line.show_info(f"saved {self.export_csv(path)}")
            except (PyntaInputError, OSError) as error:
                self.message_line.show_error(str(error))

    def _on_analysis_finished(self, result: Any) -> None:
        self.last_result = result
        self.report.setEnabled(True)

    def write_report(self, path: str | Path) -> Path:
        """Write the HTML report of the last re-analysis to ``path``.

        Raises
        ------
        PyntaInputError
            Before any re-analysis, or when ``path`` cannot be written.
        """
        from napari_pynta.report import write_report

        if self.last_result is None:
            raise PyntaInputError("a report needs a re-analysis first (Tracking > Analyze movie)")
        return write_report(self.last_result, path)

    def _report_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Write report", "report.html", "HTML (*.html)")
        if path:
            try:
                self.message_line.show_info(f"report written to {self.write_report(path)}")
            except (PyntaInputError, OSError) as error:
                self.message_line.show_error(str(error))
