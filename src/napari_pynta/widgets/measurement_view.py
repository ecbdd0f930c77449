"""The measurement part of the Sizes widget: open a measurement folder (replicate captures of one
sample), analyse every capture in the background and show the combined result.

It shows what ``pynta analyze FOLDER --combine [--depth-um Z]`` prints for the same folder and
Tracking settings: each capture's deconvolved distribution with their mean ± SE across captures,
the replicate table (each capture's D10/D50/D90/mode, ensemble diameter, particles per frame and
per mL × dilution, then the mean ± SE row) and the sample fields. Diameters are those of each
capture's stored conditions; the Sizes widget's condition fields do not apply to a measurement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_pynta.cancellation import AnalysisCancelled
from napari_pynta.combine import captures_combined
from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.measurement import MEASUREMENT_FILE, is_measurement
from napari_pynta.parameters import SETTINGS
from napari_pynta.pooled import describe_pooled
from napari_pynta.widgets.form import AnalysisProgress, MessageLine, WrappingLabel, float_field
from napari_pynta.widgets.layer_data import METADATA_KEY
from napari_pynta.widgets.measurement_plot import MeasurementCanvas
from napari_pynta.widgets.napari_io import MEASUREMENT_KEY

#: sample fields shown above the table: (key, template)
SAMPLE_LABELS = (
    ("sample_name", "sample {}"),
    ("operator", "operator {}"),
    ("diluent", "diluent {}"),
    ("dilution_factor", "dilution ×{}"),
    ("remarks", "remarks: {}"),
)


def sample_text(sample: dict[str, Any]) -> str:
    """One line of the measurement's sample fields (a field the captures disagree on lists
    every capture's value)."""
    parts = []
    for key, template in SAMPLE_LABELS:
        value = sample.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, list):
            value = " / ".join(str(each) for each in value) + " (differs between captures)"
        elif isinstance(value, float):
            value = f"{value:g}"
        parts.append(template.format(value))
    return " · ".join(parts) or "no sample fields stored"


def compact_cell(text: str) -> str:
    """A replicate-table cell for the narrow dock: exponents without ``+``/leading zero
    (``9.09e9``), the ± part on a second line."""
    return text.replace("e+0", "e").replace("e+", "e").replace(" ± ", "\n± ")


#: heading of the table's last column (each capture's column is headed by its number)
MEAN_SE_HEADING = "mean\n± SE"


class MeasurementView(QWidget):
    """Open a measurement folder, analyse its captures (cancelable, in a worker thread) and show
    the combined distribution, the replicate table and the sample.

    Parameters
    ----------
    session : PyntaSession
        The viewer's session (runs the analysis, holds the Tracking settings).
    """

    #: True when a measurement is shown, False when it is closed
    shown = Signal(bool)

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session
        self.analysis: Any = None
        self.folder: str | None = None
        self.open_button = QPushButton("Open measurement…")
        self.open_button.setToolTip(
            f"a folder with {MEASUREMENT_FILE} and one store per capture (Measure, or "
            "`pynta acquire --captures`): every capture is analysed with the Tracking settings "
            "and combined as mean ± SE"
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.opened_button = QPushButton()
        self.opened_button.setToolTip(
            "analyse and combine the measurement whose captures were opened in napari"
        )
        self.opened_folder: str | None = None
        self.close_button = QPushButton("Close measurement")
        self.close_button.setToolTip("back to the live or single-movie sizes")
        depth = SETTINGS["depth_um"]
        self.depth_um = float_field(
            0.0,
            0.0,
            1e4,
            decimals=1,
            suffix="µm",
            tooltip=f"{depth.help}; 0 = unknown (no particles/mL)",
        )
        self.progress = AnalysisProgress()
        self.message_line = MessageLine()
        self.sample_label = WrappingLabel()
        self.canvas = MeasurementCanvas()
        self.table = QTableWidget(0, 0)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.verticalHeader().setDefaultSectionSize(20)

        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button, 1)
        buttons.addWidget(self.cancel_button)
        depth_row = QHBoxLayout()  # a row of its own: one row of all four is wider than a dock
        depth_row.addWidget(QLabel("depth"))
        depth_row.addWidget(self.depth_um, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addLayout(depth_row)
        layout.addWidget(self.opened_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.message_line)
        layout.addWidget(self.sample_label)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.table)
        layout.addWidget(self.close_button)
        self._show_result_widgets(False)

        self.open_button.clicked.connect(self._open_dialog)
        self.cancel_button.clicked.connect(self.session.cancel_analysis)
        self.session.analysis_progress.connect(self._on_progress)
        self.close_button.clicked.connect(self.close_measurement)
        self.opened_button.clicked.connect(
            lambda: self.opened_folder is not None and self.open_measurement(self.opened_folder)
        )
        layers = session.viewer.layers
        for event in (layers.events.inserted, layers.events.removed):
            event.connect(self._offer_opened_measurement)
            # a closed dock must not be called by the viewer's layer events any more
            self.destroyed.connect(
                lambda *_, event=event: event.disconnect(self._offer_opened_measurement)
            )
        self._offer_opened_measurement()

    # ------------------------------------------------------------------ opening
    def _open_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a measurement folder")
        if folder:
            self.open_measurement(folder)

    def open_measurement(self, folder: str | Path) -> bool:
        """Analyse and combine the captures of ``folder`` in the background.

        Returns False (with the reason shown) when it cannot start: not a measurement folder,
        an analysis already running, or invalid Tracking settings.
        """
        folder = str(folder)
        if not is_measurement(folder):
            self.message_line.show_error(
                f"{folder} is not a measurement folder: it has no {MEASUREMENT_FILE} (choose "
                "the folder that Measure or `pynta acquire --captures` wrote)"
            )
            return False
        if self.session.analysing:
            self.message_line.show_error("an analysis is running: wait for it or cancel it")
            return False
        depth = self.depth_um.value() or None
        try:
            self.session.analyze_measurement(
                folder, depth, on_done=self.show_measurement, on_error=self._on_error
            )
        except PyntaInputError as error:
            self.message_line.show_error(f"refused: {error}")
            return False
        self.folder = folder
        self.open_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.start()
        self.message_line.show_info(f"analysing the captures of {Path(folder).name}…")
        return True

    def _offer_opened_measurement(self, *_: Any) -> None:
        """Offer to analyse the newest measurement whose captures are open as layers."""
        folders = [
            layer.metadata.get(METADATA_KEY, {}).get(MEASUREMENT_KEY)
            for layer in self.session.viewer.layers
        ]
        folders = [folder for folder in folders if folder]
        self.opened_folder = folders[-1] if folders else None
        if self.opened_folder is not None:
            self.opened_button.setText(f"Analyse opened measurement {Path(folders[-1]).name}")
        self.opened_button.setVisible(self.opened_folder is not None)

    def _on_progress(self, done: int, total: int, elapsed_s: float, what: str) -> None:
        if self.cancel_button.isEnabled():  # this view's analysis (not the Tracking widget's)
            self.progress.show_progress(done, total, elapsed_s, what)

    def _finished(self) -> None:
        self.open_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.hide()

    def _on_error(self, error: BaseException) -> None:
        self._finished()
        if isinstance(error, AnalysisCancelled):
            self.message_line.show_info("measurement analysis cancelled")
        elif isinstance(error, (PyntaDataError, PyntaInputError)):
            self.message_line.show_error(str(error))
        else:
            self.message_line.show_error(f"measurement analysis failed: {error}")

    # ------------------------------------------------------------------ showing
    def show_measurement(self, analysis: Any) -> None:
        """Show a :class:`~napari_pynta.measurement_analysis.MeasurementAnalysis`."""
        from napari_pynta.report import replicate_rows

        self._finished()
        self.analysis = analysis
        combined = analysis.combined
        self.sample_label.setText(sample_text(combined.get("sample") or {}))
        self.canvas.plot(analysis.results, combined)
        # the report's replicate table turned on its side: one column per capture, then the
        # mean ± SE column, so that it fits the narrow dock
        rows = replicate_rows(analysis.results, combined)
        quantities, columns = rows[0][1:], rows[1:]
        self.table.clear()
        self.table.setRowCount(len(quantities))
        self.table.setColumnCount(len(columns))
        self.table.setVerticalHeaderLabels([q.replace(" (×", "\n(×") for q in quantities])
        self.table.setHorizontalHeaderLabels(
            [cells[0].split(":")[0] for cells in columns[:-1]] + [MEAN_SE_HEADING]
        )
        for column, cells in enumerate(columns):
            self.table.horizontalHeaderItem(column).setToolTip(cells[0])
            for row, text in enumerate(cells[1:]):
                item = QTableWidgetItem(compact_cell(text))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if column == len(columns) - 1:  # the mean ± SE column
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)
        self._show_result_widgets(True)
        QTimer.singleShot(0, self._fit_table)  # once the shown table has its column widths
        self.message_line.show_info(
            f"{captures_combined(combined)} of {Path(analysis.folder).name} combined "
            "(mean ± SE across captures; each capture under its stored conditions)"
            + "".join(
                f"\nwarning: {warning}"
                for warning in [*analysis.warnings, *(combined.get("warnings") or [])]
            )
            + "".join(f"\n{line}" for line in describe_pooled(combined.get("pooled")))
        )

    def shown_table(self) -> dict[str, list[str]]:
        """The replicate table as shown, on one line per cell: quantity -> texts of each
        capture, then mean ± SE (key ``""`` holds the column headings)."""
        columns = range(self.table.columnCount())
        shown = {
            "": [
                self.table.horizontalHeaderItem(column).text().replace("\n", " ")
                for column in columns
            ]
        }
        for row in range(self.table.rowCount()):
            quantity = self.table.verticalHeaderItem(row).text().replace("\n", " ")
            shown[quantity] = [
                self.table.item(row, column).text().replace("\n", " ") for column in columns
            ]
        return shown

    def _fit_table(self) -> None:
        """Make the table exactly as tall as its rows (no inner scrolling)."""
        self.table.resizeRowsToContents()
        header = self.table.horizontalHeader().height()
        self.table.setFixedHeight(
            header + self.table.verticalHeader().length() + 2 * self.table.frameWidth() + 2
        )

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        """Refit the table: a new width can wrap its two-line cells differently."""
        super().resizeEvent(event)
        if self.analysis is not None:
            self._fit_table()

    def close_measurement(self) -> None:
        """Forget the measurement shown (the Sizes widget shows its single-movie part again)."""
        self.analysis = None
        self.message_line.clear_message()
        self._show_result_widgets(False)

    def _show_result_widgets(self, visible: bool) -> None:
        for widget in (self.sample_label, self.canvas, self.table, self.close_button):
            widget.setVisible(visible)
        self.shown.emit(visible)
