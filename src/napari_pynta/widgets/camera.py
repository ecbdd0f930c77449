"""The Camera dock widget: backend and its options, pixel size, exposure, fps, ROI, gain (also
while live), the exposure aid; Live, Snap and Record. Its fields persist between sessions."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_pynta.cameras import CAMERAS, CameraSettings
from napari_pynta.errors import PyntaInputError
from napari_pynta.widgets import persistence
from napari_pynta.widgets.camera_options import SIMULATED_SENSOR, CameraOptions
from napari_pynta.widgets.exposure_aid import ExposureAid
from napari_pynta.widgets.form import (
    MessageLine,
    WrappingLabel,
    float_field,
    int_field,
    make_folder,
    scrolling_layout,
)
from napari_pynta.widgets.measure import Measurement
from napari_pynta.widgets.sample_form import SampleForm
from napari_pynta.widgets.session import run_latency_text, session_for

#: refuse to record when the disk holds less than this many seconds of the movie
MIN_RECORD_SECONDS = 60.0
#: camera settings the Apply button changes while Live runs
LIVE_FIELDS = ("fps", "exposure_s", "roi", "gain")


def free_disk_bytes(path: str | Path) -> int:
    """Free bytes on the disk that would hold ``path`` (its nearest existing parent)."""
    directory = Path(path).expanduser().resolve()
    while not directory.exists():
        directory = directory.parent
    return shutil.disk_usage(directory).free


def recording_seconds_left(
    free_bytes: int, frame_shape: tuple[int, int], bytes_per_pixel: int, fps: float
) -> float:
    """Seconds of uncompressed recording that ``free_bytes`` hold at ``fps``."""
    rate = frame_shape[0] * frame_shape[1] * bytes_per_pixel * fps
    return free_bytes / rate


def recent_latency_text(status: Any) -> str:
    """The status line's tracking latency: p95 over the frames linked in the last 10 s."""
    recent = status.tracking_latency_recent_s
    if recent:
        return f" · latency p95 {recent['p95']:.3f} s (last 10 s)"
    if status.tracking_latency_s:  # frames were linked before, none lately: tracking stalls
        return " · no frame linked in the last 10 s"
    return ""


class CameraWidget(QWidget):
    """Choose and set up the camera, watch it Live, Snap one frame, Record to a pynta store.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by napari.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        self._was_recording = False
        #: the supervisor's restarts per worker last said in the message line
        self._restarts_said: dict[str, int] = {}
        #: the dead workers last said (a death is said once, not over every later message)
        self._dead_said: list[str] = []

        self.backend = QComboBox()
        self.backend.addItems(list(CAMERAS))
        self.backend.setCurrentText("simulated")
        self.exposure_ms = float_field(
            10.0,
            0.0,
            10_000.0,
            decimals=3,
            suffix="ms",
            tooltip="exposure time per frame; 0 = the whole frame interval",
        )
        self.fps = float_field(100.0, 0.0, 100_000.0, decimals=1, suffix="fps")
        self.gain = float_field(1.0, 0.0, 1000.0, decimals=2, step=0.1)
        self.roi = [int_field(0, 0, 100_000) for _ in range(4)]
        self.roi[2].setToolTip("height (0 = full sensor)")
        self.roi[3].setToolTip("width (0 = full sensor)")
        self.options = CameraOptions()
        self.options.pixel_size_um.setValue(self.session.conditions.pixel_size_um)
        self.apply_live = QPushButton("Apply while live")
        self.apply_live.setToolTip(
            "change exposure, frame rate, gain and ROI of the running camera (refused while "
            "recording: the frames of one recording share one set of settings)"
        )
        self.apply_live.setEnabled(False)
        self.exposure_aid = ExposureAid()

        self.draw_roi = QPushButton("Draw ROI")
        self.draw_roi.setToolTip("draw a rectangle on the image, then press 'Use drawn ROI'")
        self.use_roi = QPushButton("Use drawn ROI")
        self.live = QPushButton("Live")
        self.live.setCheckable(True)
        self.snap = QPushButton("Snap")
        self.record = QPushButton("Record")
        self.record.setCheckable(True)
        self.output_path = QLineEdit(str(Path.home() / "pynta-recordings" / "movie.zarr"))
        self.browse = QPushButton("…")
        self.overwrite = QCheckBox("overwrite")
        self.disk_label = QLabel()
        self.status_line = WrappingLabel("idle")  # whole, and never widening the dock
        self.message_line = MessageLine()
        self.sample_form = SampleForm()
        self.measure_captures = int_field(3, 1, 100, tooltip="captures of one measurement")
        self.measure_seconds = float_field(
            30.0, 0.1, 3600.0, decimals=1, suffix="s", tooltip="length of each capture"
        )
        self.measure = QPushButton("Measure")
        self.measure.setToolTip(
            "while Live: record the captures into a folder named like 'record to' without .zarr"
        )
        self.measurement: Measurement | None = None

        roi_row = QGridLayout()  # y x on the first line, h w on the second: fits a narrow dock
        for index, (label, field) in enumerate(zip("yxhw", self.roi, strict=False)):
            roi_row.addWidget(QLabel(label), index // 2, 2 * (index % 2))
            roi_row.addWidget(field, index // 2, 2 * (index % 2) + 1)
        roi_buttons = QHBoxLayout()
        roi_buttons.addWidget(self.draw_roi)
        roi_buttons.addWidget(self.use_roi)
        form = QFormLayout()
        form.addRow("camera", self.backend)
        form.addRow(self.options)
        form.addRow("exposure", self.exposure_ms)
        form.addRow("frame rate", self.fps)
        form.addRow("gain", self.gain)
        form.addRow("ROI (px)", roi_row)
        form.addRow("", roi_buttons)
        form.addRow("", self.apply_live)
        form.addRow(self.exposure_aid)
        path_row = QHBoxLayout()
        path_row.addWidget(self.output_path)
        path_row.addWidget(self.browse)
        path_row.addWidget(self.overwrite)
        form.addRow("record to", path_row)
        form.addRow("disk", self.disk_label)
        # the buttons, the status and the messages stay in view above the scrolling settings
        header = QWidget()
        header_layout = QVBoxLayout(header)
        buttons = QHBoxLayout()
        for button in (self.live, self.snap, self.record):
            buttons.addWidget(button)
        header_layout.addLayout(buttons)
        header_layout.addWidget(self.status_line)
        header_layout.addWidget(self.message_line)
        layout = scrolling_layout(self, header)
        layout.addLayout(form)
        layout.addWidget(self.sample_form)
        measure_row = QHBoxLayout()
        for widget in (self.measure_captures, QLabel("×"), self.measure_seconds, self.measure):
            measure_row.addWidget(widget)
        layout.addLayout(measure_row)
        layout.addStretch(1)

        self._restore_fields()
        self.backend.currentTextChanged.connect(self._show_backend_fields)
        self.backend.currentTextChanged.connect(self.check_entries)
        self.options.changed.connect(self.check_entries)
        for field in (self.exposure_ms, self.fps, self.gain, *self.roi):
            field.valueChanged.connect(self.check_entries)
        self.apply_live.clicked.connect(self.apply_to_live)
        self.session.exposure_changed.connect(self.exposure_aid.show_stats)
        self.session.camera_configured.connect(self._on_camera_configured)
        self.session.conditions_changed.connect(self._on_conditions)
        self.live.clicked.connect(self._on_live_clicked)
        self.snap.clicked.connect(self._on_snap)
        self.record.clicked.connect(self._on_record_clicked)
        self.measure.clicked.connect(self._on_measure_clicked)
        self.browse.clicked.connect(self._browse_output)
        self.output_path.editingFinished.connect(self.check_disk_space)
        self.draw_roi.clicked.connect(self.session.link.add_roi_layer)
        self.use_roi.clicked.connect(self._use_drawn_roi)
        self.session.live_state_changed.connect(self._on_live_state)
        self.session.status_changed.connect(self._on_status)
        self.session.message.connect(self._on_session_message)
        self._show_backend_fields(self.backend.currentText())
        self.check_disk_space()
        self.check_entries()

    # ------------------------------------------------------------------ settings
    def common_settings(self) -> CameraSettings:
        """Exposure, frame rate, ROI and gain from the fields (checked, not yet against the
        sensor)."""
        fps = self.fps.value()
        roi = tuple(field.value() for field in self.roi)
        return CameraSettings(
            fps=fps,
            exposure_s=self.exposure_ms.value() / 1e3 or None,
            roi=roi if roi[2] and roi[3] else None,
            gain=self.gain.value(),
        )

    def camera_settings(self) -> dict[str, Any]:
        """The settings for :func:`~napari_pynta.cameras.open_camera`, validated.

        Raises
        ------
        PyntaInputError
            Naming the refused field.
        """
        backend = self.backend.currentText()
        common = self.common_settings()
        sensor = SIMULATED_SENSOR if backend == "simulated" else (10**6, 10**6)
        common = common.validated(sensor)
        options = self.options.options(backend)
        if backend == "simulated":
            options["temperature_c"] = self.session.conditions.temperature_c
        if backend == "playback":  # exposure and gain are those of the recording
            settings: dict[str, Any] = {"fps": common.fps}
        else:
            settings = {"fps": common.fps, "exposure_s": common.exposure_s, "gain": common.gain}
        if common.roi is not None:
            settings["roi"] = common.roi
        return {**settings, **options}

    def check_entries(self) -> bool:
        """Check every field now (on entry), show what is wrong, save what is right."""
        try:
            self.camera_settings()
        except PyntaInputError as error:
            self.message_line.show_error(str(error))
            return False
        if self.message_line.is_error:
            self.message_line.clear_message()
        self._save_fields()
        pixel = self.options.pixel_size_um.value()
        if pixel != self.session.conditions.pixel_size_um:
            self.session.set_conditions(replace(self.session.conditions, pixel_size_um=pixel))
        return True

    def _show_backend_fields(self, backend: str) -> None:
        self.options.show_backend(backend)

    # ------------------------------------------------------------------ persistence
    def _save_fields(self) -> None:
        persistence.save_camera(
            {
                "backend": self.backend.currentText(),
                "options": self.options.values(),
                "exposure_ms": self.exposure_ms.value(),
                "fps": self.fps.value(),
                "gain": self.gain.value(),
                "roi": [field.value() for field in self.roi],
                "record_folder": str(Path(self.output_path.text().strip() or ".").parent),
            }
        )

    def _restore_fields(self) -> None:
        saved = persistence.load_camera()
        if saved.get("backend") in CAMERAS:
            self.backend.setCurrentText(saved["backend"])
        self.options.restore(saved.get("options") or {})
        for name in ("exposure_ms", "fps", "gain"):
            if isinstance(saved.get(name), int | float):
                getattr(self, name).setValue(saved[name])
        roi = saved.get("roi")
        if isinstance(roi, list) and len(roi) == 4 and all(isinstance(v, int) for v in roi):
            for field, value in zip(self.roi, roi, strict=True):
                field.setValue(value)
        if isinstance(saved.get("record_folder"), str):
            self.output_path.setText(str(Path(saved["record_folder"]) / "movie.zarr"))
        self.options.pixel_size_um.setValue(self.session.conditions.pixel_size_um)

    def _on_conditions(self, conditions: Any) -> None:
        if self.options.pixel_size_um.isEnabled():
            self.options.pixel_size_um.blockSignals(True)
            self.options.pixel_size_um.setValue(conditions.pixel_size_um)
            self.options.pixel_size_um.blockSignals(False)

    # ------------------------------------------------------------------ live changes
    def live_settings(self) -> dict[str, Any]:
        """Exposure, frame rate, ROI (None: full sensor) and gain for the running camera."""
        common = self.common_settings().validated((10**6, 10**6))
        return {
            "fps": common.fps,
            "exposure_s": common.exposure_s,
            "roi": common.roi,
            "gain": common.gain,
        }

    def apply_to_live(self) -> None:
        """Send exposure, frame rate, ROI and gain to the running camera (no restart)."""
        try:
            settings = self.live_settings()
            if self.backend.currentText() == "playback":  # the recording fixes them
                settings = {"fps": settings["fps"], "roi": settings["roi"]}
            self.session.configure_camera(settings)
        except PyntaInputError as error:
            self.message_line.show_error(str(error))
            return
        self.message_line.show_info("applying to the running camera…")

    def _on_camera_configured(self, metadata: dict[str, Any]) -> None:
        camera = metadata.get("camera_settings") or {}
        roi = camera.get("roi")
        self.message_line.show_info(
            f"camera now at {1 / metadata['frame_interval_s']:g} fps, exposure "
            f"{metadata['exposure_s'] * 1e3:g} ms, gain {camera.get('gain', 1):g}, ROI "
            f"{'full sensor' if roi is None else 'y={} x={} h={} w={}'.format(*roi)}"
        )

    def _use_drawn_roi(self) -> None:
        roi = self.session.link.roi_from_shapes()
        if roi is None:
            self.message_line.show_error(
                "draw a rectangle in the 'PyNTA ROI' layer first (Draw ROI)"
            )
            return
        for field, value in zip(self.roi, roi, strict=False):
            field.setValue(max(0, value))
        self.message_line.show_info(f"ROI y={roi[0]} x={roi[1]} h={roi[2]} w={roi[3]}")

    # ------------------------------------------------------------------ disk space
    def check_disk_space(self) -> bool:
        """Show the free space at the output path; False when it holds < MIN_RECORD_SECONDS."""
        path = self.output_path.text().strip()
        if not path:
            self.disk_label.setText("no output path")
            return False
        free = free_disk_bytes(path)
        roi = [field.value() for field in self.roi]
        shape = (roi[2], roi[3]) if roi[2] and roi[3] else SIMULATED_SENSOR
        seconds = recording_seconds_left(free, shape, 2, max(self.fps.value(), 1e-3))
        self.disk_label.setText(
            f"{free / 1e9:.1f} GB free ≈ {seconds / 60:.0f} min at {self.fps.value():g} fps"
        )
        return seconds >= MIN_RECORD_SECONDS

    def _browse_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Record to", self.output_path.text(), "pynta store (*.zarr)"
        )
        if path:
            from napari_pynta.store import has_zarr_suffix

            self.output_path.setText(path if has_zarr_suffix(path) else path + ".zarr")
            self.check_disk_space()

    def _record_path(self) -> str:
        from napari_pynta.store import has_zarr_suffix

        path = self.output_path.text().strip()
        if not has_zarr_suffix(path):
            raise PyntaInputError(f"record path must end in .zarr (any case), got {path!r}")
        if Path(path).exists() and not self.overwrite.isChecked():
            raise PyntaInputError(f"{path} exists; choose another name or tick 'overwrite'")
        if not self.check_disk_space():
            raise PyntaInputError(
                f"not enough free disk space at {path} for {MIN_RECORD_SECONDS:g} s of recording"
            )
        make_folder(Path(path).parent)
        return path

    # ------------------------------------------------------------------ actions
    def _on_live_clicked(self, checked: bool) -> None:
        if checked:
            self._start(record_path=None)
        else:
            self.session.stop_live()

    def _on_record_clicked(self, checked: bool) -> None:
        try:
            if not checked:
                self.session.stop_recording()
                self.message_line.show_info("stopping the recording (writing the last frames)…")
                return
            path = self._record_path()
            if self.session.live_state == "running":
                self.session.start_recording(
                    path, self.overwrite.isChecked(), sample=self.sample_form.sample()
                )
            else:
                self._start(record_path=path)
            self.message_line.show_info(f"recording to {path}")
        except PyntaInputError as error:
            self.record.setChecked(False)
            self.message_line.show_error(str(error))

    def _on_measure_clicked(self) -> None:
        if self.measurement is not None and self.measurement.running:
            self.measurement.cancel()
            return
        try:
            self.measurement = Measurement(
                self.session,
                Path(self.output_path.text().strip()).with_suffix(""),
                self.measure_captures.value(),
                self.measure_seconds.value(),
                self.sample_form.sample(),
            )
        except PyntaInputError as error:
            self.message_line.show_error(str(error))
            return
        self.measurement.progress.connect(self.message_line.show_info)
        self.measurement.failed.connect(self.message_line.show_error)
        self.measurement.finished.connect(lambda _: self.measure.setText("Measure"))
        self.measure.setText("Stop measuring")
        self.measurement.start()

    def _start(self, record_path: str | None) -> None:
        try:
            settings = self.camera_settings()
            self.session.start_live(
                self.backend.currentText(),
                settings,
                record_path=record_path,
                overwrite=self.overwrite.isChecked(),
                sample=self.sample_form.sample(),
            )
            self.message_line.clear_message()
        except PyntaInputError as error:
            self.live.setChecked(False)
            self.record.setChecked(False)
            self.message_line.show_error(str(error))

    def _on_snap(self) -> None:
        try:
            self.session.snap(self.backend.currentText(), self.camera_settings())
        except PyntaInputError as error:
            self.message_line.show_error(str(error))

    # ------------------------------------------------------------------ feedback
    def _on_live_state(self, state: str) -> None:
        running = state in ("starting", "running")
        self.live.setChecked(running)
        self.live.setText(
            {"starting": "Starting…", "running": "Stop", "stopping": "Stopping…"}.get(state, "Live")
        )
        self.live.setEnabled(state != "stopping")
        if not running:
            self.record.setChecked(False)
        self.backend.setEnabled(state == "idle")
        self.options.setEnabled(state == "idle")
        self.apply_live.setEnabled(state == "running")
        if state == "idle":
            self.status_line.setText("idle")

    def _on_status(self, status: Any) -> None:
        self.status_line.setToolTip(run_latency_text(status, "since Live started"))
        self.status_line.setText(self.status_text(status))
        if self._was_recording and not status.recording and self.record.isChecked():
            self.record.setChecked(False)  # the pipeline stopped recording on its own:
            self.session.stop_recording()  # close it (final counts from the store, Record again)
            self.message_line.show_error(
                f"recording stopped: {'; '.join(status.errors) or 'see log'}"
            )
        self._was_recording = status.recording
        self.apply_live.setEnabled(not status.recording and self.session.live_state == "running")
        self._say_dead_and_restarted(status)

    def status_text(self, status: Any) -> str:
        """The status line: what is wrong and the recording's counts first, then the rates."""
        behind = self.session.detections_behind
        parts = [
            f"circles and tracks hidden: tracking {behind} frames behind" if behind else "",
            f"saved {status.frames_saved} · dropped {status.frames_dropped}"
            if status.recording
            else "",
            status.rate_text().strip(),
            f"{status.particles_per_frame:.1f} particles/frame",
            f"untracked {status.frames_untracked}" + recent_latency_text(status),
            f"buffer {100 * status.buffer_fill:.0f}%",
            f"{status.hot_pixels_repaired} hot pixels repaired"
            if status.hot_pixels_repaired
            else "",
        ]
        return " · ".join(part for part in parts if part)

    def _say_dead_and_restarted(self, status: Any) -> None:
        """Name the workers that died, once; a restarted one once it is back (a worker dies,
        is counted as restarted and is dead until its new process runs: statuses show it dead
        with its restart already counted), so the death is not left on screen after it."""
        dead = list(status.dead_workers)
        if dead:
            if dead != self._dead_said:
                self.message_line.show_error(f"workers died: {', '.join(dead)}")
        else:
            said = self._restarts_said
            if any(count > said.get(name, 0) for name, count in status.restarts.items()):
                self.message_line.show_error(
                    "; ".join(
                        f"{name} died and was restarted ({count}×)"
                        for name, count in status.restarts.items()
                    )
                )
            self._restarts_said = dict(status.restarts)
        self._dead_said = dead

    def _on_session_message(self, topic: str, level: str, text: str) -> None:
        if topic == "live":
            self.message_line.show(level, text)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        """Closing the widget stops the live pipeline it started."""
        self.session.stop_live()
        super().closeEvent(event)

    def event(self, event: QEvent) -> bool:
        """A widget removed from its dock (parent gone) stops the pipeline too."""
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self.session.stop_live()
        return super().event(event)
