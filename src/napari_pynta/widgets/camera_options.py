"""Per-camera options of the Camera widget and the pixel size in the sample, checked on entry.

Each backend shows only its own fields: Micro-Manager configuration file, Basler serial and pixel
format, OpenCV device, playback file, simulated sample. The pixel size is entered in µm in the
sample, or as the camera's pixel pitch and the magnification (pixel = pitch / magnification).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from napari_pynta.cameras.basler import PIXEL_FORMATS
from napari_pynta.errors import PyntaInputError
from napari_pynta.widgets.form import float_field, int_field

#: the sensor of the simulated camera shown in the GUI (small: the preview must stay fluid)
SIMULATED_SENSOR = (256, 256)


def _path_row(field: QLineEdit, browse: QPushButton) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(field)
    layout.addWidget(browse)
    return row


class CameraOptions(QWidget):
    """The options of the chosen backend and the pixel size; :meth:`options` checks them."""

    #: an entry changed (the Camera widget checks all of them again)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.simulated_diameter_nm = float_field(
            100.0, 0.0, 10_000.0, decimals=0, suffix="nm", tooltip="simulated particle diameter"
        )
        # 25 in 256 x 256 px: at 100 fps, 100 nm beads step far less than their spacing
        self.simulated_particles = int_field(
            25, 0, 10_000, tooltip="particles in the simulated volume"
        )
        self.playback_path = QLineEdit()
        self.playback_path.setPlaceholderText("movie to play back (store, TIFF, folder)")
        self.mm_config = QLineEdit()
        self.mm_config.setPlaceholderText("MMConfig.cfg (empty: Micro-Manager's demo)")
        self.basler_serial = QLineEdit()
        self.basler_serial.setPlaceholderText("serial number (empty: the first camera)")
        self.basler_pixel_format = QComboBox()
        self.basler_pixel_format.addItems(list(PIXEL_FORMATS))
        self.opencv_device = QLineEdit("0")
        self.opencv_device.setToolTip("device index (0 = first webcam) or a stream URL")
        self.pixel_size_um = float_field(
            0.1, 0.0, 1000.0, decimals=4, step=0.01, suffix="µm",
            tooltip="size of one camera pixel in the sample plane",
        )  # fmt: skip
        self.camera_pixel_um = float_field(
            0.0, 0.0, 1000.0, decimals=2, step=0.1, suffix="µm",
            tooltip="pixel pitch of the sensor (0: enter the pixel size in the sample instead)",
        )  # fmt: skip
        self.magnification = float_field(
            0.0, 0.0, 1000.0, decimals=2, step=1.0, suffix="×",
            tooltip="total magnification onto the sensor (0: enter the pixel size instead)",
        )  # fmt: skip
        self.browse_playback = QPushButton("…")
        self.browse_mm_config = QPushButton("…")

        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.addRow("simulated size", self.simulated_diameter_nm)
        self.form.addRow("simulated particles", self.simulated_particles)
        playback_row = _path_row(self.playback_path, self.browse_playback)
        mm_config_row = _path_row(self.mm_config, self.browse_mm_config)
        self.form.addRow("playback file", playback_row)
        self.form.addRow("MM config file", mm_config_row)
        self.form.addRow("Basler serial", self.basler_serial)
        self.form.addRow("pixel format", self.basler_pixel_format)
        self.form.addRow("OpenCV device", self.opencv_device)
        self.form.addRow("pixel size", self.pixel_size_um)
        self.form.addRow("or camera pixel", self.camera_pixel_um)
        self.form.addRow("÷ magnification", self.magnification)
        self._backend_fields = {
            "simulated": (self.simulated_diameter_nm, self.simulated_particles),
            "playback": (playback_row,),
            "micromanager": (mm_config_row,),
            "basler": (self.basler_serial, self.basler_pixel_format),
            "opencv": (self.opencv_device,),
        }
        for line in (self.playback_path, self.mm_config, self.basler_serial, self.opencv_device):
            line.editingFinished.connect(self.changed)
        for number in (self.simulated_diameter_nm, self.pixel_size_um):
            number.valueChanged.connect(self.changed)
        for number in (self.camera_pixel_um, self.magnification):
            number.valueChanged.connect(self._pixel_from_optics)
        self.basler_pixel_format.currentTextChanged.connect(self.changed)
        self.browse_playback.clicked.connect(self._browse_playback)
        self.browse_mm_config.clicked.connect(self._browse_mm_config)

    # ------------------------------------------------------------------ backend
    def show_backend(self, backend: str) -> None:
        """Show only the fields of ``backend``."""
        for name, fields in self._backend_fields.items():
            for field in fields:
                field.setVisible(name == backend)
                self.form.labelForField(field).setVisible(name == backend)

    def pixel_size(self) -> float:
        """The pixel size in the sample (µm), checked.

        Raises
        ------
        PyntaInputError
            If it is not positive.
        """
        value = self.pixel_size_um.value()
        if value <= 0:
            raise PyntaInputError(
                "pixel size must be > 0 µm in the sample (or give the camera pixel and the "
                "magnification)"
            )
        return value

    def _pixel_from_optics(self) -> None:
        pitch, magnification = self.camera_pixel_um.value(), self.magnification.value()
        self.pixel_size_um.setEnabled(not (pitch > 0 and magnification > 0))
        if pitch > 0 and magnification > 0:
            self.pixel_size_um.setValue(pitch / magnification)
        self.changed.emit()

    def options(self, backend: str) -> dict[str, Any]:
        """The backend's own keyword arguments for :func:`~napari_pynta.cameras.open_camera`.

        Raises
        ------
        PyntaInputError
            Naming the field that is missing or wrong.
        """
        if backend == "simulated":
            diameter = self.simulated_diameter_nm.value()
            if diameter <= 0:
                raise PyntaInputError(f"simulated size must be > 0 nm, got {diameter:g}")
            return {
                "shape": SIMULATED_SENSOR,
                "diameter_nm": diameter,
                "n_particles": self.simulated_particles.value(),
                "pixel_size_um": self.pixel_size(),
            }
        if backend == "playback":
            path = self.playback_path.text().strip()
            if not path:
                raise PyntaInputError("playback file is required for the playback camera")
            if not Path(path).exists():
                raise PyntaInputError(f"playback file {path!r} does not exist")
            return {"path": path, "loop": True}
        if backend == "micromanager":
            config = self.mm_config.text().strip()
            if config and not Path(config).is_file():
                raise PyntaInputError(f"MM config file {config!r} does not exist")
            return {"config": config or None, "pixel_size_um": self.pixel_size()}
        if backend == "basler":
            return {
                "serial": self.basler_serial.text().strip() or None,
                "pixel_format": self.basler_pixel_format.currentText(),
                "pixel_size_um": self.pixel_size(),
            }
        if backend == "opencv":
            device = self.opencv_device.text().strip()
            if not device:
                raise PyntaInputError("OpenCV device must be an index (0, 1, …) or a stream URL")
            return {
                "device": int(device) if device.isdigit() else device,
                "pixel_size_um": self.pixel_size(),
            }
        raise PyntaInputError(f"unknown camera {backend!r}")

    # ------------------------------------------------------------------ persistence
    def values(self) -> dict[str, Any]:
        """Every field as plain JSON values (for the settings file)."""
        return {
            "simulated_diameter_nm": self.simulated_diameter_nm.value(),
            "simulated_particles": self.simulated_particles.value(),
            "playback_path": self.playback_path.text(),
            "mm_config": self.mm_config.text(),
            "basler_serial": self.basler_serial.text(),
            "basler_pixel_format": self.basler_pixel_format.currentText(),
            "opencv_device": self.opencv_device.text(),
            "camera_pixel_um": self.camera_pixel_um.value(),
            "magnification": self.magnification.value(),
        }

    def restore(self, values: dict[str, Any]) -> None:
        """Put saved values back (unknown or mistyped ones are ignored)."""
        for name, value in values.items():
            field = getattr(self, name, None)
            try:
                if isinstance(field, QLineEdit):
                    field.setText(str(value))
                elif isinstance(field, QComboBox) and field.findText(str(value)) >= 0:
                    field.setCurrentText(str(value))
                elif field is not None and hasattr(field, "setValue"):
                    field.setValue(value)
            except TypeError:
                continue

    # ------------------------------------------------------------------ dialogs
    def _browse_playback(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Movie to play back (a .zarr store)")
        if path:
            self.playback_path.setText(path)
            self.changed.emit()

    def _browse_mm_config(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Micro-Manager configuration", "", "Micro-Manager config (*.cfg)"
        )
        if path:
            self.mm_config.setText(path)
            self.changed.emit()
