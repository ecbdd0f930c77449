"""The Sizes dock widget: physical conditions, diameter histogram, statistics, CSV export."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from napari_pynta.concentration import counts_in_view
from napari_pynta.errors import PyntaInputError, listed
from napari_pynta.physics import KNOWN_SOLVENTS
from napari_pynta.sizing import size_statistics
from napari_pynta.widgets.form import (
    WARNING_STYLE,
    MessageLine,
    WrappingLabel,
    float_field,
    scrolling_layout,
)
from napari_pynta.widgets.histogram import SizeHistogramCanvas
from napari_pynta.widgets.measurement_view import MeasurementView
from napari_pynta.widgets.session import SizeData, session_for
from napari_pynta.widgets.setting_names import shown_warnings
from napari_pynta.widgets.settings import SizingConditions, diameter_factor, rescale_statistics

#: what the Sizes widget says before any sizes came
NO_SIZES_YET = "no sizes yet: start Live or analyse a movie"

CUSTOM_SOLVENT = "custom viscosity"
#: summary key of the ensemble (all steps pooled) diameter
ENSEMBLE_KEY = "diameter_nm"
#: summary key of the ensemble diameter's uncertainty (statistical and systematic)
ENSEMBLE_UNCERTAINTY_KEY = "diameter_uncertainty_nm"
#: summary key of the Walker EM statistics
DECONVOLVED_KEY = "deconvolved_nm"
#: columns of the statistics table
COLUMNS = ("raw per-track", "deconvolved")
#: rows with one value per column: (label, size_statistics key, deconvolved statistics key)
STATISTICS_ROWS = (
    ("tracks", "n", "n_tracks"),
    ("mean (nm)", "mean", "mean"),
    ("mode (nm)", "mode", "mode"),
    ("SD (nm)", "sd", "sd"),
    ("D10 (nm)", "d10", "d10"),
    ("D50 (nm)", "d50", "d50"),
    ("D90 (nm)", "d90", "d90"),
    ("span", "span", "span"),
    ("peaks (nm, % tracks)", None, "peaks"),
)
#: the row of the deconvolved peaks (spanning both columns: the text is long)
PEAKS_ROW = [key for _, _, key in STATISTICS_ROWS].index("peaks")
#: rows with one value for the whole analysis (spanning both columns)
WHOLE_ROWS = ("ensemble, all steps (nm)", "particles in view / frame", "particles / mL")


def format_value(value: Any) -> str:
    """A table cell: integers as they are, numbers to 3 significant figures (whole nm above 10),
    ``–`` for a missing or non-finite value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, (int, np.integer)):
        return f"{value:d}"
    value = float(value)
    if abs(value) >= 1e5:
        return f"{value:.3g}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"


def peaks_text(deconvolved: dict[str, Any]) -> str:
    """The peaks cell: ``99 ± 3 (90%), 300 ± 12 (10%)`` (diameter ± its uncertainty, nm: the
    statistical and systematic parts in quadrature where both are known, else the bootstrap
    standard error alone; and the share of the tracks); a peak that the tracks linked with a
    narrower search range do not show says it depends on the linking (the summary's warning
    says more), and peaks merged because one broad population would show them too are named
    after the one kept: ``99 ± 3 (100%); 56 and 99 not resolved``."""
    peaks = deconvolved.get("peaks") or []
    totals = deconvolved.get("peak_uncertainty") or [None] * len(peaks)
    errors = [
        total if total is not None else se
        for total, se in zip(
            totals, deconvolved.get("peak_se") or [None] * len(peaks), strict=False
        )
    ]
    shares = deconvolved.get("peak_fractions") or []
    linking = deconvolved.get("peak_depends_on_linking") or [None] * len(peaks)
    text = ", ".join(
        f"{format_with_error(peak, error)} ({100 * share:.0f}%"
        + (", depends on the linking)" if flag else ")")
        for peak, error, share, flag in zip(peaks, errors, shares, linking, strict=False)
    )
    merged = [format_value(peak) for peak in sorted(deconvolved.get("unresolved_peaks_nm") or [])]
    if len(merged) > 1:
        text += f"; {listed(merged)} not resolved"
    return text


def warnings_text(summary: dict[str, Any]) -> str:
    """The summary's warnings as the Sizes widget lists them (empty: none): what the analysis
    found wrong or uncertain about these sizes, one per line."""
    warnings = shown_warnings(summary)  # the no-track reason names the Tracking form's fields
    if not warnings:
        return ""
    heading = "1 warning" if len(warnings) == 1 else f"{len(warnings)} warnings"
    return f"{heading} about these sizes:\n" + "\n".join(f"• {text}" for text in warnings)


def format_with_error(value: Any, error: Any) -> str:
    """``value ± error`` (the error only when known)."""
    text = format_value(value)
    if text == "–" or error is None or not math.isfinite(float(error)):
        return text
    return f"{text} ± {format_value(float(error))}"


def particles_in_view_text(concentration: dict[str, Any]) -> str:
    """Particles in view per frame ± SE, the count the concentration is computed from
    (:func:`~napari_pynta.concentration.counts_in_view`: those a closer neighbour hid included,
    or what was found for a summary made before that figure existed); "–" before any count."""
    if concentration.get("particles_per_frame") is None:
        return format_value(None)
    counts = counts_in_view(concentration, n_frames=0)  # n_frames is not shown
    return format_with_error(counts.mean, counts.sem)


class SizesWidget(QWidget):
    """Per-track diameter histogram with the deconvolved (Walker EM) distribution, raw and
    deconvolved statistics, and while live the convergence plot: the relative standard error of
    the deconvolved D50 against the recording time, with the precision target as a line.

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
        self.last_result: Any = None

        conditions = self.session.conditions
        self.temperature = float_field(
            conditions.temperature_c, -300.0, 1000.0, decimals=1, suffix="°C"
        )
        self.solvent = QComboBox()
        self.solvent.addItems([*KNOWN_SOLVENTS, CUSTOM_SOLVENT])
        self.viscosity_mpa_s = float_field(1.0, -1e6, 1e6, decimals=4, step=0.01, suffix="mPa·s")
        self.pixel_size = float_field(
            conditions.pixel_size_um, -1e6, 1e6, decimals=4, step=0.01, suffix="µm"
        )
        self.frame_interval_ms = float_field(
            conditions.frame_interval_s * 1e3, -1e6, 1e6, decimals=3, suffix="ms"
        )
        self.exposure_ms = float_field(
            conditions.exposure_s * 1e3, -1e6, 1e6, decimals=3, suffix="ms"
        )
        self.precision_target = float_field(
            0.0,
            0.0,
            50.0,
            decimals=1,
            step=0.5,
            suffix="%",
            tooltip="relative standard error of the deconvolved D50 aimed at, drawn on the live "
            "convergence plot (pynta acquire --until-precision stops a recording there)",
        )
        self.precision_target.setSpecialValueText("none")
        self.source_label = WrappingLabel(NO_SIZES_YET)  # a long path never widens the dock
        self.canvas = SizeHistogramCanvas()
        self.statistics = QTableWidget(len(STATISTICS_ROWS) + len(WHOLE_ROWS), len(COLUMNS))
        self.statistics.setHorizontalHeaderLabels(list(COLUMNS))
        labels = [row[0] for row in STATISTICS_ROWS] + list(WHOLE_ROWS)
        self.statistics.setVerticalHeaderLabels(labels)
        # the peaks (deconvolved only) and the whole-analysis rows span both columns
        for row in (PEAKS_ROW, *range(len(STATISTICS_ROWS), self.statistics.rowCount())):
            self.statistics.setSpan(row, 0, 1, len(COLUMNS))
        self.statistics.verticalHeader().setDefaultSectionSize(20)
        self.statistics.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.statistics.horizontalHeader().setFixedHeight(22)
        self.statistics.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.statistics.setWordWrap(True)
        self._fit_statistics_height()
        # a dock made narrower or wider gives the peaks' text another number of lines (fitted
        # once every column has its new width: the stretched columns are resized one by one)
        self._refit_statistics = QTimer(self)  # dies with the widget
        self._refit_statistics.setSingleShot(True)
        self._refit_statistics.timeout.connect(self._fit_statistics_height)
        self.statistics.horizontalHeader().sectionResized.connect(
            lambda *_: self._refit_statistics.start(0)
        )
        self.export = QPushButton("Export CSV")
        self.report = QPushButton("Report")
        self.report.setVisible(importlib.util.find_spec("napari_pynta.report") is not None)
        self.report.setEnabled(False)
        self.warnings = WrappingLabel()
        self.warnings.setStyleSheet(WARNING_STYLE)
        self.warnings.hide()
        self.message_line = MessageLine()
        self.measurement = MeasurementView(self.session)

        form = QFormLayout()
        form.addRow("temperature", self.temperature)
        form.addRow("solvent", self.solvent)
        form.addRow("viscosity", self.viscosity_mpa_s)
        form.addRow("pixel size", self.pixel_size)
        form.addRow("frame interval", self.frame_interval_ms)
        form.addRow("exposure", self.exposure_ms)
        form.addRow("D50 precision target", self.precision_target)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export)
        buttons.addWidget(self.report)
        self.conditions_box = QWidget()
        self.conditions_box.setLayout(form)
        form.setContentsMargins(0, 0, 0, 0)
        self.buttons_box = QWidget()
        self.buttons_box.setLayout(buttons)
        buttons.setContentsMargins(0, 0, 0, 0)
        layout = scrolling_layout(self)  # the sizes first: they are what the dock is for
        layout.addWidget(self.source_label)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.statistics)
        layout.addWidget(self.warnings)
        layout.addWidget(self.buttons_box)
        layout.addWidget(self.conditions_box)
        layout.addWidget(self.message_line)
        layout.addWidget(self.measurement)
        #: what a measurement replaces while it is shown (its diameters ignore these conditions)
        self.single_movie_widgets = (
            self.conditions_box,
            self.source_label,
            self.canvas,
            self.statistics,
            self.buttons_box,
        )
        self.measurement.shown.connect(self._show_measurement_mode)

        for field in (
            self.temperature,
            self.viscosity_mpa_s,
            self.pixel_size,
            self.frame_interval_ms,
            self.exposure_ms,
        ):
            field.valueChanged.connect(self.apply)
        self.solvent.currentTextChanged.connect(self.apply)
        self.precision_target.valueChanged.connect(self.redraw)
        self.export.clicked.connect(self._export_dialog)
        self.report.clicked.connect(self._report_dialog)
        self.session.sizes_changed.connect(self.show_sizes)
        self.session.live_state_changed.connect(self._on_live_state)
        self.session.conditions_changed.connect(self._show_conditions)
        self.session.analysis_finished.connect(self._on_analysis_finished)
        self._show_conditions(conditions)

    def _show_measurement_mode(self, measurement: bool) -> None:
        """Show either a measurement or the single movie/live sizes with their conditions."""
        for widget in self.single_movie_widgets:
            widget.setVisible(not measurement)
        self._show_warnings()

    def _show_warnings(self) -> None:
        """The warnings' list is shown with the single movie's sizes, when there are any."""
        self.warnings.setVisible(bool(self.warnings.text()) and not self.statistics.isHidden())

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
        fields = (
            self.temperature,
            self.solvent,
            self.viscosity_mpa_s,
            self.pixel_size,
            self.frame_interval_ms,
            self.exposure_ms,
        )
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
    def _on_live_state(self, state: str) -> None:
        """Until the first sizes come, say what they wait for while Live runs (a cold start
        compiles the detector first, and tracks must reach the minimum length)."""
        if self.data is not None:
            return
        min_length = self.session.tracking.min_track_length
        if state == "starting":
            self.source_label.setText(
                "Live is starting (a first start compiles the detector: a minute or more); "
                f"sizes appear once tracks of at least {min_length} frames are linked"
            )
        elif state == "running":
            self.source_label.setText(
                f"Live is running: sizes appear once tracks of at least {min_length} frames "
                "are linked"
            )
        elif state == "idle":
            self.source_label.setText(NO_SIZES_YET)

    def show_sizes(self, data: SizeData) -> None:
        """Adopt new sizes (live update or analysis result) and redraw."""
        from napari_pynta.live.sizes import live_coverage_text

        self.data = data
        coverage = live_coverage_text(data.summary) if data.is_live else None
        self.source_label.setText(coverage or f"sizes from {data.source}")
        self.warnings.setText(warnings_text(data.summary))
        self._show_warnings()
        self.redraw()

    def current_factor(self) -> float:
        """Factor from the conditions the sizes were measured with to those shown now."""
        if self.data is None:
            return 1.0
        return diameter_factor(self.data.measured_with, self.session.conditions)

    def current_diameters(self) -> tuple[np.ndarray, float]:
        """Diameters and ensemble diameter under the conditions shown now."""
        if self.data is None:
            return np.empty(0), math.nan
        factor = self.current_factor()
        # None (JSON's NaN) when no track was sized: a dark movie crashed the redraw
        measured = self.data.summary.get(ENSEMBLE_KEY)
        ensemble = (math.nan if measured is None else float(measured)) * factor
        return self.data.diameters_nm * factor, ensemble

    def current_convergence(self) -> list[dict[str, Any]]:
        """The live summary's convergence history (``t_s``, ``n_tracks``, ``d50_nm``,
        ``d50_relative_se``), D50 under the conditions shown now (its relative SE does not
        change with them); empty when not live."""
        if self.data is None or not self.data.is_live:
            return []
        factor = self.current_factor()
        return [
            point | {"d50_nm": None if point.get("d50_nm") is None else point["d50_nm"] * factor}
            for point in self.data.summary.get("convergence") or []
        ]

    def target(self) -> float | None:
        """The precision target as a fraction (0.02 = 2 %); None when unset."""
        value = self.precision_target.value()
        return value / 100 if value > 0 else None

    def current_deconvolved(self) -> dict[str, Any] | None:
        """Statistics of the deconvolved (Walker EM) distribution under the conditions shown now."""
        statistics = self.data.summary.get(DECONVOLVED_KEY) if self.data is not None else None
        return rescale_statistics(statistics, self.current_factor()) if statistics else None

    def current_concentration(self) -> dict[str, Any]:
        """The summary's concentration entry; per mL re-expressed for the pixel size shown now.

        The detection area, and so the volume, scales with the pixel size squared.
        """
        if self.data is None:
            return {}
        entry = dict(self.data.summary.get("concentration") or {})
        if entry:
            measured, wanted = self.data.measured_with, self.session.conditions
            area_ratio = (measured.pixel_size_um / wanted.pixel_size_um) ** 2
            for key in ("particles_per_ml", "particles_per_ml_sem"):
                if entry.get(key) is not None:
                    entry[key] = float(entry[key]) * area_ratio
        return entry

    def redraw(self) -> None:
        """Redraw the histogram and the statistics table."""
        diameters, ensemble = self.current_diameters()
        deconvolved = self.current_deconvolved()
        distribution = self.data.deconvolved if self.data is not None else None
        if distribution is not None:
            distribution = (distribution[0] * self.current_factor(), distribution[1])
        self.canvas.plot(
            diameters,
            ensemble,
            self.current_convergence(),
            deconvolved=distribution,
            deconvolved_peaks_nm=(deconvolved or {}).get("peaks"),
            show_convergence=self.data is not None and self.data.is_live,
            target=self.target(),
        )
        raw = size_statistics(diameters)
        for row, (_, raw_key, deconvolved_key) in enumerate(STATISTICS_ROWS):
            self._set_cell(row, 0, format_value(raw[raw_key]) if raw_key else "")
            if row == PEAKS_ROW:  # spans both columns: the peaks are the deconvolved one's
                self._set_cell(row, 0, peaks_text(deconvolved) if deconvolved else "–")
            elif not deconvolved:
                self._set_cell(row, 1, "–")
            else:
                self._set_cell(row, 1, format_value(deconvolved.get(deconvolved_key)))
        concentration = self.current_concentration()
        per_ml = format_with_error(
            concentration.get("particles_per_ml"), concentration.get("particles_per_ml_sem")
        )
        if concentration and concentration.get("particles_per_ml") is None:
            per_ml = "– (needs the detection depth)"
        # ± the total uncertainty (statistical and systematic in quadrature), as pynta analyze
        uncertainty = self.data.summary.get(ENSEMBLE_UNCERTAINTY_KEY) if self.data else None
        whole = (
            format_with_error(
                ensemble, None if uncertainty is None else uncertainty * self.current_factor()
            ),
            particles_in_view_text(concentration),
            per_ml,
        )
        for row, text in enumerate(whole, start=len(STATISTICS_ROWS)):
            self._set_cell(row, 0, text)
        self._fit_statistics_height()

    def _fit_statistics_height(self) -> None:
        """Give the peaks row the lines its text needs (two peaks, or one that depends on the
        linking, wrap in the dock's width) and the table the height of all its rows."""
        table = self.statistics
        table.resizeRowToContents(PEAKS_ROW)
        table.setRowHeight(PEAKS_ROW, max(table.rowHeight(PEAKS_ROW), 20))
        table.setFixedHeight(table.verticalHeader().length() + 22 + 2 * table.frameWidth() + 4)

    def _set_cell(self, row: int, column: int, text: str) -> None:
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        self.statistics.setItem(row, column, item)

    # ------------------------------------------------------------------ export
    def export_table(self) -> pd.DataFrame:
        """The per-track table with diameters under the conditions shown now."""
        diameters, _ = self.current_diameters()
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
