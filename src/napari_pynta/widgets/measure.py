"""The Camera widget's Measure button: N captures of T seconds of the running live stream, one
store each, grouped as one measurement (see :mod:`napari_pynta.measurement`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from qtpy.QtCore import QObject, QTimer, Signal

from napari_pynta.errors import PyntaInputError
from napari_pynta.measurement import (
    capture_path,
    failed_capture_text,
    is_measurement,
    late_capture_text,
    unlisted_capture_text,
    write_measurement,
)
from napari_pynta.widgets.form import make_folder


class Measurement(QObject):
    """Record ``n_captures`` captures of ``seconds`` each while Live runs.

    Each capture is a recording of the live stream (``session.start_recording``) into
    ``folder/capture-<i>.zarr`` with the sample fields plus ``measurement_id``, ``capture_index``
    and ``n_captures``; ``measurement.json`` lists the captures that started. The steps follow
    the pipeline, not the request: a capture holds the frames of ``seconds`` from its first
    one on the camera's clock, as `pynta acquire --captures --seconds` does (the acquisition
    ends the recording at the first frame past it: ``ceil(seconds * fps)`` frames); it is
    completed once ``seconds`` have passed since its recording started and the pipeline says
    the recording ended, the next one starts once the previous store is complete, and
    ``finished`` comes after the last store is complete. A capture that could not start,
    whose recording failed (a full disk, the saver dead: the pipeline's ``recording_failed``)
    or after which ``measurement.json`` could not be rewritten ends the measurement, with the
    reason in ``failed`` (the words of `pynta acquire --captures`); so does Live stopping. The
    captures recorded are kept; a capture whose recording started after the measurement ended
    (Live stopped while it started) is stopped and kept on disk, but not listed; ``failed``
    then says so.

    Signals
    -------
    progress(str)
        A line for the status display.
    failed(str)
        Why the measurement stopped early (an error to show), just before ``finished``.
    finished(str)
        Emitted once with the measurement folder.
    """

    progress = Signal(str)
    failed = Signal(str)
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
        if session.pipeline is not None:
            session.pipeline.config.refuse_recording_over_the_playback(self.folder)
        if is_measurement(self.folder):
            raise PyntaInputError(f"{self.folder} already holds a measurement; choose another name")
        make_folder(self.folder)
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
        self._running = False
        self._cancelled = False
        #: the number of the capture begun last (1 ...), its recording started or starting
        self._index = 0
        #: what the measurement said when it ended ("" while it runs)
        self._ended_text = ""
        #: why the measurement ends early, said once the capture begun is saved
        self._failure: str | None = None
        #: the capture's time has passed: it ends once the pipeline says its recording ended
        self._due = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._capture_due)

    @property
    def running(self) -> bool:
        """True from :meth:`start` until ``finished``."""
        return self._running

    def start(self) -> None:
        """Start the first capture (in the folder made when the measurement was set up)."""
        self._running = True
        self.session.status_changed.connect(self._on_status)
        self.session.live_state_changed.connect(self._on_live_state)
        self._start_capture()

    def _start_capture(self) -> None:
        index = self._index = len(self.description["captures"]) + 1
        path = capture_path(self.folder, index)
        sample = {
            **self.description["sample"],
            "measurement_id": self.description["measurement_id"],
            "capture_index": index,
            "n_captures": self.n_captures,
        }
        self.session.start_recording(
            str(path),
            False,
            sample=sample,
            on_done=lambda _: self._capture_started(path, index),
            on_error=lambda error: self._end(
                f"capture {index} could not start: {error}", failed=True
            ),
            seconds=self.seconds,
        )

    def _capture_started(self, path: Path, index: int) -> None:
        if not self._running:  # Live stopped while this capture started: the measurement said
            # what it holds, so the capture is not listed; its recording is stopped (by Live's
            # stop, which closes it, or here if Live still runs), its frames kept in its store,
            # and the message says where they are
            self.session.stop_recording()
            self.failed.emit(f"{self._ended_text}; {late_capture_text(path)}")
            return
        self.description["captures"].append(path.name)
        try:
            write_measurement(self.folder, self.description)
        except OSError as error:  # a full disk: end the capture begun, and the measurement
            self._failure = unlisted_capture_text(self.folder, self.description, path, error)
            self._end_capture()
            return
        if self._cancelled:
            self.session.stop_recording(
                on_done=lambda _: self._end(self._stopped_text(), failed=False)
            )
            return
        self.progress.emit(f"capture {index} of {self.n_captures} → {path}")
        self._timer.start(round(1000 * self.seconds))

    @property
    def _capturing(self) -> bool:
        """A capture is recording (its time running, or passed and its recording not ended)."""
        return self._timer.isActive() or self._due

    def _capture_due(self) -> None:
        self._due = True  # ended now if its recording has ended, else by the status saying so
        if self.session.pipeline is not None:
            self._on_status(self.session.pipeline.status())

    def _end_capture(self) -> None:
        self._timer.stop()
        self._due = False
        self.session.stop_recording(on_done=self._capture_saved)

    def _on_status(self, status: Any) -> None:
        """End the capture once its time has passed and the acquisition has ended its recording
        (at the first frame past the time), or now if its recording failed (the next would fail
        alike)."""
        if self._capturing and (status.recording_failed or (self._due and not status.recording)):
            self._end_capture()

    def _on_live_state(self, state: str) -> None:
        """End the measurement when Live stops: its stop closes the capture recording (the
        frames so far are kept), and a capture's stop asked of a stopped Live never answers,
        so the measurement waited forever."""
        if self._running and state != "running":
            self._timer.stop()
            self._due = False
            captures = self.description["captures"]
            self._end(
                f"Live stopped during capture {self._index} of {self.n_captures}: the "
                f"measurement ends with {len(captures)} capture(s) in {self.folder}",
                failed=True,
            )

    def _recording_failure(self) -> str | None:
        """Why the capture just saved failed (the pipeline's ``recording_failed``), or None."""
        pipeline = self.session.pipeline
        return None if pipeline is None else pipeline.status().recording_failed

    def _capture_saved(self, _n_saved: int) -> None:
        if not self._running:  # a late answer to a measurement that ended starts nothing
            return
        reason = self._recording_failure()
        if self._failure is None and reason is not None:
            self._failure = failed_capture_text(len(self.description["captures"]), reason)
        if self._failure is not None:
            self._end(self._failure, failed=True)
        elif self._cancelled:
            self._end(self._stopped_text(), failed=False)
        elif len(self.description["captures"]) < self.n_captures:
            self._start_capture()
        else:
            self._end(f"measurement of {self.n_captures} captures in {self.folder}", failed=False)

    def _stopped_text(self) -> str:
        return f"measurement stopped after {len(self.description['captures'])} capture(s)"

    def _end(self, text: str, *, failed: bool) -> None:
        """End once: let go of the session's signals (they must not reach a measurement that
        ended, nor the next one's), say ``text`` (on ``failed`` or ``progress``), then
        ``finished``."""
        if not self._running:  # ended already (Live stopped while a capture was saved)
            return
        self._running = False
        self._ended_text = text
        self._timer.stop()
        self.session.status_changed.disconnect(self._on_status)
        self.session.live_state_changed.disconnect(self._on_live_state)
        (self.failed if failed else self.progress).emit(text)
        self.finished.emit(str(self.folder))

    def cancel(self) -> None:
        """Stop now: the current capture ends, the ones recorded are kept."""
        if not self._running or self._cancelled:
            return
        self._cancelled = True
        if self._capturing:  # a capture is recording: end it now
            self._end_capture()
        # otherwise a capture is starting or being saved: its callback sees the flag
