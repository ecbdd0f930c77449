"""``pynta`` without a sub-command: napari with the Camera, Tracking and Sizes widgets docked."""

from __future__ import annotations

import os
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
        (the window is closed and the workers stopped), 2 (with the extra to install printed)
        when napari or Qt is not installed.
    """
    missing = missing_gui_packages()
    if missing:
        print(
            f"pynta: the napari GUI needs {', '.join(missing)}; {GUI_INSTALL_HINT}.",
            file=sys.stderr,
        )
        print("pynta: the headless sub-commands work without it (pynta --help).", file=sys.stderr)
        return 2
    prefer_pyqt6()
    import napari

    from napari_pynta.widgets.reader_preference import prefer_pynta_reader

    prefer_pynta_reader()  # videos and zarr folders open with PyNTA without a question
    viewer = napari.Viewer(title="PyNTA")
    widgets = dock_pynta_widgets(viewer)
    size_window(viewer)
    camera = widgets["Camera"]
    camera.backend.setCurrentText("simulated")
    camera.live.click()  # starts in the background; the window is usable at once
    try:
        napari.run()
    except KeyboardInterrupt:  # Ctrl-C in the terminal: stop the workers as closing would
        viewer.close()
        print("pynta: interrupted", file=sys.stderr)
        return 130
    return 0
