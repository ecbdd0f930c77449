"""Small Qt building blocks shared by the PyNTA dock widgets: number fields, a message line and
an analysis progress bar."""

from __future__ import annotations

import re
from pathlib import Path

from qtpy.QtGui import QResizeEvent
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QFrame,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_pynta.errors import PyntaInputError
from napari_pynta.parameters import Setting

#: narrowest a number field may be squeezed: a spin box's own minimum is as wide as its widest
#: allowed value (~160 px for the wide ranges below), which would make a dock wider than napari
#: gives it (fields still grow to the width available)
FIELD_MIN_WIDTH_PX = 80
ERROR_STYLE = "color: #ff6b6b; font-weight: bold;"
INFO_STYLE = "color: #9fd3a0;"
WARNING_STYLE = "color: #ffb74d;"
#: where a long word may break across lines (Qt breaks lines at it; it is not drawn)
ZERO_WIDTH_SPACE = "\u200b"
#: a word longer than this (a path) may break after its separators, and every this many
#: characters where it has none
LONGEST_UNBROKEN = 24


def float_field(
    value: float,
    minimum: float,
    maximum: float,
    *,
    decimals: int = 2,
    step: float = 1.0,
    suffix: str = "",
    tooltip: str = "",
) -> QDoubleSpinBox:
    """A double spin box with range, unit suffix and tooltip.

    The range is wide on purpose: the widgets validate values against the physics and refuse bad
    ones with a message, instead of the spin box silently clamping what the user typed.
    """
    field = QDoubleSpinBox()
    field.setRange(minimum, maximum)
    field.setDecimals(decimals)
    field.setSingleStep(step)
    field.setValue(value)
    field.setKeyboardTracking(False)
    field.setMinimumWidth(FIELD_MIN_WIDTH_PX)
    if suffix:
        field.setSuffix(f" {suffix}")
    field.setToolTip(tooltip)
    return field


def int_field(
    value: int, minimum: int, maximum: int, *, suffix: str = "", tooltip: str = ""
) -> QSpinBox:
    """An integer spin box with range, unit suffix and tooltip."""
    field = QSpinBox()
    field.setRange(minimum, maximum)
    field.setValue(value)
    field.setKeyboardTracking(False)
    field.setMinimumWidth(FIELD_MIN_WIDTH_PX)
    if suffix:
        field.setSuffix(f" {suffix}")
    field.setToolTip(tooltip)
    return field


def setting_field(
    setting: Setting, value: float, *, decimals: int = 1, step: float = 1.0
) -> QSpinBox | QDoubleSpinBox:
    """A spin box for a setting of :mod:`napari_pynta.parameters`.

    The unit suffix and the tooltip come from the setting's definition; the range is wide so that
    the setting's own check refuses a bad value with a message (see :func:`float_field`). An
    automatic setting shows "automatic" as 0 (the spin box cannot hold None).
    """
    tooltip = setting.help
    if setting.automatic is not None:
        tooltip += f"; 0 = automatic ({setting.automatic})"
    if setting.kind is int:
        return int_field(int(value), -100_000, 100_000, suffix=setting.unit, tooltip=tooltip)
    return float_field(
        value, -1e9, 1e9, decimals=decimals, step=step, suffix=setting.unit, tooltip=tooltip
    )


def make_folder(folder: str | Path) -> None:
    """Create ``folder`` (and its parents) for a recording, or say in plain words why not.

    Raises
    ------
    PyntaInputError
        If the folder cannot be created or written (a file in the way, no permission, a
        read-only disk), naming it.
    """
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocker = file_in_the_way(folder)
        # the file system says "File exists" or "Not a directory" of a file in the way
        reason = (
            f"{blocker} is a file, not a folder"
            if blocker is not None
            else error.strerror or str(error)
        )
        raise PyntaInputError(
            f"cannot write to {folder}: {reason}; choose another folder"
        ) from error


def file_in_the_way(folder: str | Path) -> Path | None:
    """The nearest of ``folder`` and its parents that exists and is not a folder, if any."""
    for path in (Path(folder), *Path(folder).parents):
        if path.exists():
            return None if path.is_dir() else path
    return None


def scrolling_layout(widget: QWidget, header: QWidget | None = None) -> QVBoxLayout:
    """The layout of a dock widget whose content scrolls: a tall form then never makes the
    window taller than the screen or squeezes the canvas (napari's dock keeps ``widget``).

    ``header`` stays in view above the scrolling content (buttons, status, messages).
    """
    content = QWidget()
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(content)
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    if header is not None:
        outer.addWidget(header)
    outer.addWidget(scroll)
    return QVBoxLayout(content)


def breakable(text: str) -> str:
    """``text`` with zero-width spaces where a word longer than :data:`LONGEST_UNBROKEN`
    characters may break: after ``/ \\ _ . - : = , ;`` and every :data:`LONGEST_UNBROKEN`
    characters of a run without them (Qt wraps a label's text at spaces and after ``/`` and
    ``-`` only: a Windows path ran past the dock's edge)."""

    def split(match: re.Match[str]) -> str:
        word = re.sub(r"([/\\_.\-:=,;])", r"\1" + ZERO_WIDTH_SPACE, match.group())
        run = rf"[^{ZERO_WIDTH_SPACE}]{{{LONGEST_UNBROKEN}}}(?=[^{ZERO_WIDTH_SPACE}])"
        return re.sub(run, lambda part: part.group() + ZERO_WIDTH_SPACE, word)

    return re.sub(rf"\S{{{LONGEST_UNBROKEN + 1},}}", split, text)


class WrappingLabel(QLabel):
    """A label whose text wraps to the width it is given and is always shown whole.

    A dock's layout does not give a word-wrapped QLabel the height its lines need at the
    dock's width (a long live status in a 1280 x 720 window had 50 of its 66 px: its first and
    last lines cut in half); this label asks for that height whenever its text or width
    changes. It never asks for width (a long word cannot widen the dock): long words break
    (:func:`breakable`). :meth:`text` gives the text as set.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        """Show ``text``, wrapped, whole."""
        super().setText(breakable(text))
        self._fit_height()

    def text(self) -> str:
        """The text as set (without the break points :func:`breakable` added)."""
        return super().text().replace(ZERO_WIDTH_SPACE, "")

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        """A new width: ask for the height the text's lines need at it."""
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        self.setMinimumHeight(self.heightForWidth(self.width()) if self.text() else 0)


class MessageLine(WrappingLabel):
    """One line of feedback under a form: errors in red, information in green, empty when fine."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.is_error = False

    def show_error(self, text: str) -> None:
        """Show ``text`` as an error (the value it refers to was refused)."""
        self.is_error = True
        self.setStyleSheet(ERROR_STYLE)
        self.setText(text)

    def show_info(self, text: str) -> None:
        """Show ``text`` as information."""
        self.is_error = False
        self.setStyleSheet(INFO_STYLE)
        self.setText(text)

    def show(self, level: str, text: str) -> None:
        """Show ``text`` as an error when ``level`` is ``"error"``, else as information."""
        if level == "error":
            self.show_error(text)
        else:
            self.show_info(text)

    def clear_message(self) -> None:
        """Remove any message."""
        self.is_error = False
        self.setText("")


class AnalysisProgress(QProgressBar):
    """Frames located of the total, time elapsed and left, while a re-analysis runs (hidden
    otherwise); the text is :func:`~napari_pynta.widgets.reanalysis.progress_text`."""

    def __init__(self) -> None:
        super().__init__()
        self.setTextVisible(True)
        self.setMinimumWidth(FIELD_MIN_WIDTH_PX)
        self.hide()

    def start(self) -> None:
        """Show a busy bar until the first frames are located (the threshold comes first)."""
        self.setRange(0, 0)
        self.setFormat("choosing the detection threshold…")
        self.show()

    def show_progress(self, done: int, total: int, elapsed_s: float, what: str = "") -> None:
        """Show ``done`` of ``total`` frames located after ``elapsed_s`` seconds."""
        from napari_pynta.widgets.reanalysis import progress_text

        self.setMaximum(max(total, 1))
        self.setFormat(progress_text(done, total, elapsed_s, what))
        self.setValue(done)
        self.show()
