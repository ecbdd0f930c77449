"""The Tracking dock widget: detection and linking parameters, preview, re-analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QWidget,
)

from napari_pynta.detect import ENGINES
from napari_pynta.errors import PyntaInputError
from napari_pynta.frame_range import RANGE_SYNTAX
from napari_pynta.parameters import SETTINGS
from napari_pynta.widgets.form import (
    AnalysisProgress,
    MessageLine,
    scrolling_layout,
    setting_field,
)
from napari_pynta.widgets.reanalysis import FRAMES_LABEL, gui_message
from napari_pynta.widgets.session import session_for
from napari_pynta.widgets.setting_names import CHECK_BOX_TEXTS
from napari_pynta.widgets.settings import MAX_LOCATORS, TrackingSettings


def available_engines() -> list[str]:
    """Registered localization engines (the fast one registers itself on import)."""
    try:
        import napari_pynta.detect.fast  # noqa: F401
    except ImportError:
        pass
    return sorted(ENGINES)


class TrackingWidget(QWidget):
    """Edit detection/linking parameters, preview detections, re-analyse a movie.

    Every change is validated; a valid change reaches the live workers at once, a refused one
    is shown in red and changes nothing.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        defaults = self.session.tracking

        self.engine = QComboBox()
        self.engine.addItems(available_engines())
        self.engine.setCurrentText(defaults.engine)
        # the fields, their units, tooltips and labels come from the one definition of each
        # setting (napari_pynta.parameters.SETTINGS)
        self.diameter = setting_field(SETTINGS["diameter_px"], defaults.diameter_px)
        self.minmass = setting_field(SETTINGS["minmass"], defaults.minmass, decimals=0, step=50)
        self.separation = setting_field(SETTINGS["separation"], defaults.separation)
        self.invert = QCheckBox(CHECK_BOX_TEXTS["invert"])
        self.invert.setToolTip(SETTINGS["invert"].help)
        self.blur_separation = QCheckBox(CHECK_BOX_TEXTS["blur_separation"])
        self.blur_separation.setToolTip(SETTINGS["blur_separation"].help)
        self.blur_separation.setChecked(defaults.blur_separation)
        self.blur_gap_spread = QCheckBox(CHECK_BOX_TEXTS["blur_gap_spread"])
        self.blur_gap_spread.setToolTip(SETTINGS["blur_gap_spread"].help)
        self.blur_gap_spread.setChecked(defaults.blur_gap_spread)
        self.wide_centroid = QCheckBox(CHECK_BOX_TEXTS["wide_centroid"])
        self.wide_centroid.setToolTip(SETTINGS["wide_centroid"].help)
        self.wide_centroid.setChecked(defaults.wide_centroid)
        self.search_range = setting_field(SETTINGS["search_range_px"], defaults.search_range_px)
        self.memory = setting_field(SETTINGS["memory"], defaults.memory)
        self.min_track_length = setting_field(
            SETTINGS["min_track_length"], defaults.min_track_length
        )
        self.n_locators = setting_field(SETTINGS["n_locators"], defaults.n_locators)
        self.n_locators.setToolTip(f"{SETTINGS['n_locators'].help} (1..{MAX_LOCATORS})")

        self.movie = QComboBox()
        self.refresh = QPushButton("↻")
        self.open_file = QPushButton("Open…")
        self.frame_slider = QSlider(Qt.Orientation.Horizontal)
        self.frame_slider.setMinimum(0)
        self.preview = QCheckBox("preview detections on this frame")
        self.frames = QLineEdit()
        self.frames.setPlaceholderText("all")
        self.frames.setToolTip(
            f"analyse only these recorded frames, {RANGE_SYNTAX}; empty: all frames "
            "(`pynta analyze --frames`)"
        )
        self.analyze = QPushButton("Analyze movie")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("stop the analysis; the movie's store stays as it was")
        self.cancel.setEnabled(False)
        self.progress = AnalysisProgress()
        self.message_line = MessageLine()

        form = QFormLayout()
        for name, field in (
            ("engine", self.engine),
            ("diameter_px", self.diameter),
            ("minmass", self.minmass),
            ("separation", self.separation),
            ("invert", self.invert),
            ("blur_separation", self.blur_separation),
            ("wide_centroid", self.wide_centroid),
            ("search_range_px", self.search_range),
            ("blur_gap_spread", self.blur_gap_spread),
            ("memory", self.memory),
            ("min_track_length", self.min_track_length),
            ("n_locators", self.n_locators),
        ):
            if isinstance(field, QCheckBox):  # a check box spans the row: its text is its label
                form.addRow(field)
            else:
                form.addRow(SETTINGS[name].label, field)
        movie_row = QHBoxLayout()  # spans the form: the label column is wide already
        movie_row.addWidget(QLabel("movie"))
        movie_row.addWidget(self.movie, 1)
        movie_row.addWidget(self.refresh)
        movie_row.addWidget(self.open_file)
        form.addRow(movie_row)
        form.addRow("frame", self.frame_slider)
        form.addRow(self.preview)
        layout = scrolling_layout(self)
        layout.addLayout(form)
        analyze_row = QHBoxLayout()
        analyze_row.addWidget(QLabel(FRAMES_LABEL))
        analyze_row.addWidget(self.frames)
        analyze_row.addWidget(self.analyze, 1)
        analyze_row.addWidget(self.cancel)
        layout.addLayout(analyze_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.message_line)
        layout.addStretch(1)

        for field in (
            self.diameter,
            self.minmass,
            self.separation,
            self.search_range,
            self.memory,
            self.min_track_length,
            self.n_locators,
        ):
            field.valueChanged.connect(self.apply)
        self.engine.currentTextChanged.connect(self.apply)
        self.invert.toggled.connect(self.apply)
        self.blur_separation.toggled.connect(self.apply)
        self.blur_gap_spread.toggled.connect(self.apply)
        self.wide_centroid.toggled.connect(self.apply)
        self.refresh.clicked.connect(self.refresh_movies)
        self.open_file.clicked.connect(self._open_movie)
        self.movie.currentTextChanged.connect(self._on_movie_selected)
        self.frame_slider.valueChanged.connect(self._update_preview)
        self.preview.toggled.connect(self._update_preview)
        self.analyze.clicked.connect(self.run_analysis)
        self.cancel.clicked.connect(self.cancel_analysis)
        self.session.message.connect(self._on_session_message)
        self.session.analysis_progress.connect(self._on_progress)
        self.viewer.layers.events.inserted.connect(self.refresh_movies)
        self.viewer.layers.events.removed.connect(self.refresh_movies)
        self.refresh_movies()

    def settings(self) -> TrackingSettings:
        """The settings shown in the fields (not yet validated)."""
        return TrackingSettings(
            engine=self.engine.currentText(),
            diameter_px=self.diameter.value(),
            minmass=self.minmass.value(),
            separation=self.separation.value(),
            invert=self.invert.isChecked(),
            blur_separation=self.blur_separation.isChecked(),
            blur_gap_spread=self.blur_gap_spread.isChecked(),
            wide_centroid=self.wide_centroid.isChecked(),
            search_range_px=self.search_range.value(),
            memory=self.memory.value(),
            min_track_length=self.min_track_length.value(),
            n_locators=self.n_locators.value(),
        )

    def apply(self, *_: Any) -> bool:
        """Validate the fields and hand them to the session (and the live workers).

        Returns
        -------
        bool
            False when a value was refused (the message says which and why).
        """
        try:
            self.session.set_tracking(self.settings())
        except PyntaInputError as error:
            self.message_line.show_error(f"refused: {error}")
            return False
        self.message_line.clear_message()
        self._update_preview()
        return True

    # ------------------------------------------------------------------ movies
    def refresh_movies(self, *_: Any) -> None:
        """List the movie layers of the viewer (newest first), keeping the selection."""
        current = self.movie.currentText()
        names = self.session.link.image_layer_names()
        self.movie.blockSignals(True)
        self.movie.clear()
        self.movie.addItems(names)
        if current in names:
            self.movie.setCurrentText(current)
        self.movie.blockSignals(False)
        self._on_movie_selected(self.movie.currentText())

    def _open_movie(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a pynta store or an image folder")
        if not path:
            return
        if not Path(path).exists():
            self.message_line.show_error(f"{path} does not exist")
            return
        try:
            self.session.link.open_movie(path)
        except ValueError:  # napari: no reader, or the PyNTA reader refused it
            self.message_line.show_error(
                f"{path} is not a movie PyNTA can read (a pynta store, an OME-Zarr image, a "
                "TIFF movie, a folder of PNG/TIFF/JPEG frames, an AVI/MP4 video)"
            )
            return
        self.message_line.clear_message()

    def _on_movie_selected(self, name: str) -> None:
        has_movie = bool(name)
        self.analyze.setEnabled(has_movie)
        self.frame_slider.setEnabled(has_movie)
        if has_movie:
            data, info = self.session.link.movie_of_layer(name)
            self.frame_slider.setMaximum(max(0, data.shape[0] - 1))
            self.session.adopt_movie_metadata(info.get("movie_metadata", {}))

    def _update_preview(self, *_: Any) -> None:
        name = self.movie.currentText()
        if not (self.preview.isChecked() and name) or self.message_line.is_error:
            return
        self.session.preview(name, self.frame_slider.value())

    def run_analysis(self) -> None:
        """Re-analyse the selected movie in the background (progress in :attr:`progress`), only
        the frames of the *Frames* field when it is not empty."""
        name = self.movie.currentText()
        if not name:
            self.message_line.show_error("open a movie first (File > Open, or Open…)")
            return
        if not self.apply():
            return
        frames = self.frames.text()
        try:
            self.session.analyze_layer(name, frames)
        except PyntaInputError as error:
            self.message_line.show_error(f"refused: {gui_message(error)}")
            return
        part = f", frames {frames.strip()}" if frames.strip() else ""
        self.message_line.show_info(f"analysing {name}{part}…")
        self.cancel.setEnabled(True)
        self.progress.start()

    def cancel_analysis(self) -> None:
        """Stop the running analysis within a block of frames; nothing is saved."""
        self.session.cancel_analysis()
        self.cancel.setEnabled(False)
        self.message_line.show_info("cancelling…")

    def _on_session_message(self, topic: str, level: str, text: str) -> None:
        if topic == "analysis":
            self.message_line.show(level, text)
            self.cancel.setEnabled(False)  # the analysis ended (done, failed or cancelled)
            self.progress.hide()

    def _on_progress(self, done: int, total: int, elapsed_s: float, what: str) -> None:
        if self.cancel.isEnabled():  # this widget's analysis (not the Sizes widget's), running
            self.progress.show_progress(done, total, elapsed_s, what)
