"""``pynta`` without a sub-command: napari with the Camera, Tracking and Sizes widgets docked."""

from __future__ import annotations

import os
import signal
import sys
from importlib.util import find_spec
from typing import Any

PLUGIN_NAME = "napari-pynta"
#: widget display names of napari.yaml in docking order, and whether each is tabbed with the
#: previous one: Camera and Tracking share a tab group, Sizes stays visible below them
DOCKED_WIDGETS = (("Camera", False), ("Tracking", True), ("Sizes", False))
#: widest a PyNTA dock may grow: on a 1600-pixel screen the canvas keeps at least half the window
DOCK_MAX_WIDTH_PX = 480
#: narrowest a PyNTA dock gets: every widget's content fits it without scrolling sideways
DOCK_MIN_WIDTH_PX = 400
#: the window `pynta` opens, when the screen holds it: room for the canvas beside the docks and
#: for the Sizes histogram under the Camera/Tracking tabs (napari's first window is ~1090 x 630)
PREFERRED_WINDOW_PX = (1600, 1000)
#: the Sizes dock's share of the height of the dock column
SIZES_HEIGHT_SHARE = 0.5
#: how often (ms) Qt's event loop hands control to Python, so that a SIGTERM is handled
SIGNAL_POLL_MS = 200
#: the Qt bindings napari runs on, preferred first (napari deprecates PyQt5)
QT_BINDINGS = ("PyQt6", "PySide6", "PyQt5")
#: how to get the GUI stack when it is missing (the core install is headless)
GUI_INSTALL_HINT = (
    'install the GUI extra: python -m pip install "napari-pynta[all]" (napari with PyQt6; '
    '"napari-pynta[pyqt5]" or "napari-pynta[pyside6]" for another Qt binding)'
)


def missing_gui_packages() -> list[str]:
    """Name what the napari GUI needs but is not installed (empty when it can start)."""
    missing = [name for name in ("napari", "qtpy", "npe2") if find_spec(name) is None]
    if not any(find_spec(binding) is not None for binding in QT_BINDINGS):
        missing.append("a Qt binding (" + ", ".join(QT_BINDINGS) + ")")
    return missing


def missing_display() -> bool:
    """True on Linux when Qt would find no screen: no platform Qt may use has its display server.

    Without ``QT_QPA_PLATFORM`` Qt uses X11 (``DISPLAY``) or Wayland (``WAYLAND_DISPLAY``);
    ``QT_QPA_PLATFORM`` names the platforms to try in turn (``"wayland;xcb"``, options after a
    colon): ``xcb`` needs ``DISPLAY``, ``wayland*`` needs ``WAYLAND_DISPLAY`` and the others
    (``offscreen``, ``vnc``, ``eglfs``, ...) need neither.

    Qt then aborts the process with "no Qt platform plugin could be initialized. Reinstalling
    the application may fix this problem", which names neither the cause nor the cure.
    """
    if not sys.platform.startswith("linux"):
        return False
    return not any(
        variable is None or os.environ.get(variable) for variable in _display_variables()
    )


def _display_variables() -> list[str | None]:
    """The variable naming the display server of each platform Qt may use (None: it needs
    none), as ``QT_QPA_PLATFORM`` chooses them (X11 and Wayland when it is not set)."""
    chosen = os.environ.get("QT_QPA_PLATFORM", "")
    platforms = [name.split(":")[0].strip() for name in chosen.split(";") if name.strip()]
    variables: list[str | None] = []
    for platform in platforms or ["xcb", "wayland"]:
        if platform == "xcb":
            variables.append("DISPLAY")
        else:
            variables.append("WAYLAND_DISPLAY" if platform.startswith("wayland") else None)
    return variables


def _display_unset() -> str:
    """What :func:`missing_display` found unset, as the message to the user says it."""
    unset = " or ".join(dict.fromkeys(str(name) for name in _display_variables()))
    chosen = os.environ.get("QT_QPA_PLATFORM")
    return f"QT_QPA_PLATFORM={chosen} needs {unset}, not set" if chosen else "DISPLAY is not set"


def prefer_pyqt6() -> None:
    """Let qtpy pick PyQt6 when it is installed and the user chose no binding (``QT_API``).

    qtpy tries PyQt5 first, and napari warns that its PyQt5 support is deprecated.
    """
    if "QT_API" not in os.environ and find_spec("PyQt6") is not None:
        os.environ["QT_API"] = "pyqt6"


def dock_pynta_widgets(viewer: Any) -> dict[str, Any]:
    """Dock the three PyNTA widgets in ``viewer``; return them by display name."""
    from qtpy.QtCore import QTimer

    widgets = {}
    docks = {}
    for name, tabify in DOCKED_WIDGETS:
        docks[name], widgets[name] = viewer.window.add_plugin_dock_widget(
            PLUGIN_NAME, name, tabify=tabify
        )
        docks[name].setMaximumWidth(DOCK_MAX_WIDTH_PX)
        docks[name].setMinimumWidth(DOCK_MIN_WIDTH_PX)
    # the Camera tab in front (Live is the first thing to press), once napari has laid out the docks
    QTimer.singleShot(0, docks["Camera"].raise_)
    return widgets


def size_window(viewer: Any) -> None:
    """Grow the window to :data:`PREFERRED_WINDOW_PX` (at most the screen's free area; never
    shrink a window the user made larger) and share the dock column's height between the
    Camera/Tracking tabs and the Sizes dock (:data:`SIZES_HEIGHT_SHARE`)."""
    from qtpy.QtCore import Qt

    window = viewer.window._qt_window
    screen = window.screen().availableGeometry()
    width = max(window.width(), min(PREFERRED_WINDOW_PX[0], screen.width()))
    height = max(window.height(), min(PREFERRED_WINDOW_PX[1], screen.height()))
    window.resize(width, height)
    docks = [
        viewer.window.dock_widgets[f"{name} ({PLUGIN_NAME})"].parent()
        for name in ("Camera", "Sizes")
    ]
    # Qt fits these to the column's height when it lays the window out, keeping their ratio
    shares = [round(1000 * (1 - SIZES_HEIGHT_SHARE)), round(1000 * SIZES_HEIGHT_SHARE)]
    window.resizeDocks(docks, shares, Qt.Orientation.Vertical)


def launch_gui() -> int:
    """Open napari titled PyNTA with the widgets docked and the simulated camera streaming.

    PyNTA becomes napari's preferred reader for videos and zarr folders where the user has no
    preference (:func:`~napari_pynta.widgets.reader_preference.prefer_pynta_reader`).

    Returns
    -------
    int
        The process exit code: 0 once the window is closed, 130 after Ctrl-C in the terminal
        and 143 after SIGTERM (the window is closed and the workers stopped in both), 2 (with
        the extra to install printed) when napari or Qt is not installed, or (with what to do)
        when there is no display.
    """
    missing = missing_gui_packages()
    if missing:
        print(
            f"pynta: the napari GUI needs {', '.join(missing)}; {GUI_INSTALL_HINT}.",
            file=sys.stderr,
        )
        print("pynta: the headless sub-commands work without it (pynta --help).", file=sys.stderr)
        return 2
    if missing_display():
        print(
            f"pynta: no display ({_display_unset()}): the napari window needs a screen. Start it "
            "on a desktop, over ssh -X, or on a virtual screen with xvfb-run -a pynta; the "
            "headless sub-commands need none (pynta --help).",
            file=sys.stderr,
        )
        return 2
    prefer_pyqt6()
    import napari

    from napari_pynta.widgets.reader_preference import prefer_pynta_reader

    prefer_pynta_reader()  # videos and zarr folders open with PyNTA without a question
    viewer = napari.Viewer(title="PyNTA")
    stopped = StopSignalsClose(viewer)  # from here Ctrl-C closes the window as SIGTERM does
    try:
        widgets = dock_pynta_widgets(viewer)
        size_window(viewer)
        camera = widgets["Camera"]
        camera.backend.setCurrentText("simulated")
        camera.live.click()  # starts in the background; the window is usable at once
        napari.run()
        stopped.close_viewer()  # napari's own Ctrl-C handler ended the loop before ours was set
    finally:
        stopped.restore()
    if stopped.received == signal.SIGINT:
        print("pynta: interrupted", file=sys.stderr)
    elif stopped.received == signal.SIGTERM:
        print("pynta: terminated (SIGTERM)", file=sys.stderr)
    return 128 + stopped.received if stopped.received else 0


class StopSignalsClose:
    """Until :meth:`restore`, SIGTERM and SIGINT (Ctrl-C in the terminal) close ``viewer``,
    which stops the session's workers in order (a recording is finalized), instead of ending
    the process at once; :attr:`received` is the signal that did (0: none).

    The handler only schedules the close: a Python signal handler runs between two bytecodes,
    maybe inside a Qt callback, and an exception raised there reaches napari's excepthook, which
    exits at once ("Closed by KeyboardInterrupt", rc 1). A timer gives the interpreter control
    every :data:`SIGNAL_POLL_MS`, so the signal is seen while Qt's loop idles. napari's event
    loop sets a SIGINT handler of its own, which leaves the loop with the window open; ours is
    set again once the loop runs.
    """

    def __init__(self, viewer: Any):
        from qtpy.QtCore import QTimer

        self.received = 0
        self._closed = False
        self._viewer = viewer
        self._previous = {
            number: signal.signal(number, self._handle)
            for number in (signal.SIGTERM, signal.SIGINT)
        }
        QTimer.singleShot(0, lambda: signal.signal(signal.SIGINT, self._handle))  # over napari's
        self._poll = QTimer()
        self._poll.timeout.connect(lambda: None)
        self._poll.start(SIGNAL_POLL_MS)

    def _handle(self, signum: int, frame: object) -> None:
        from qtpy.QtCore import QTimer

        if not self.received:  # a second Ctrl-C while the workers stop changes nothing
            self.received = signum
            QTimer.singleShot(0, self.close_viewer)

    def close_viewer(self) -> None:
        """Close the viewer once, when a stop signal came (and the user had not closed it)."""
        if self.received and not self._closed:
            self._closed = True
            self._viewer.close()

    def restore(self) -> None:
        """Stop watching: both signals get their previous handlers back."""
        self._poll.stop()
        for number, previous in self._previous.items():
            signal.signal(number, previous)
