"""The Camera widget's Measure button: N captures of T seconds of the running live stream, one
store each, grouped as one measurement (see :mod:`napari_pynta.measurement`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from qtpy.QtCore import QObject, QTimer, Signal

from napari_pynta.errors import PyntaInputError
from napari_pynta.measurement import capture_path, is_measurement, write_measurement


class Measurement(QObject):
    """Record ``n_captures`` captures of ``seconds`` each while Live runs.

    Each capture is a recording of the live stream (``session.start_recording``) into
    ``folder/capture-<i>.zarr`` with the sample fields plus ``measurement_id``, ``capture_index``
    and ``n_captures``; ``measurement.json`` lists the captures started so far. The length of a
    capture is timed on the GUI clock from the moment its recording is requested.

    Signals
    -------
    progress(str)
        A line for the status display.
    finished(str)
        Emitted once with the measurement folder.
    """

    progress = Signal(str)
    finished = Signal(str)

    def __init__(
        self,
        session: Any,
        folder: str | Path,
        n_captures: int,
        seconds: float,
        sample: dict[str, Any],
    ) -> None:
        super().__init__()
        if session.live_state != "running":
            raise PyntaInputError("start Live before Measure (captures record the live stream)")
        if n_captures < 1 or seconds <= 0:
            raise PyntaInputError(
                f"Measure needs >= 1 capture of > 0 s, got {n_captures} × {seconds:g} s"
            )
        self.folder = Path(folder)
        if is_measurement(self.folder):
            raise PyntaInputError(f"{self.folder} already holds a measurement; choose another name")
        self.session = session
        self.n_captures = int(n_captures)
        self.seconds = float(seconds)
        self.description: dict[str, Any] = {
            "measurement_id": uuid.uuid4().hex,
            "sample": dict(sample),
            "n_captures": self.n_captures,
            "seconds": self.seconds,
            "frames": None,
            "captures": [],
        }
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._end_capture)

    @property
    def running(self) -> bool:
        """True while captures remain to be recorded."""
        return self._timer.isActive()

    def start(self) -> None:
        """Create the folder and start the first capture."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._start_capture()

    def _start_capture(self) -> None:
        index = len(self.description["captures"]) + 1
        path = capture_path(self.folder, index)
        sample = {
            **self.description["sample"],
            "measurement_id": self.description["measurement_id"],
            "capture_index": index,
            "n_captures": self.n_captures,
        }
        self.session.start_recording(str(path), False, sample=sample)
        self.description["captures"].append(path.name)
        write_measurement(self.folder, self.description)
        self.progress.emit(f"capture {index} of {self.n_captures} → {path}")
        self._timer.start(round(1000 * self.seconds))

    def _end_capture(self) -> None:
        self.session.stop_recording()
        if len(self.description["captures"]) < self.n_captures:
            self._start_capture()
        else:
            self.progress.emit(f"measurement of {self.n_captures} captures in {self.folder}")
            self.finished.emit(str(self.folder))

    def cancel(self) -> None:
        """Stop now: the current capture ends, the ones recorded are kept."""
        if self._timer.isActive():
            self._timer.stop()
            self.session.stop_recording()
            self.progress.emit(f"measurement stopped after {len(self.description['captures'])}")
            self.finished.emit(str(self.folder))
