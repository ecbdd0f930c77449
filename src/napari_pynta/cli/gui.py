"""``pynta`` without a sub-command: napari with the Camera, Tracking and Sizes widgets docked."""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QTimer

PLUGIN_NAME = "napari-pynta"
#: widget display names of napari.yaml in docking order, and whether each is tabbed with the
#: previous one: Camera and Tracking share a tab group, Sizes stays visible below them
DOCKED_WIDGETS = (("Camera", False), ("Tracking", True), ("Sizes", False))


def dock_pynta_widgets(viewer: Any) -> dict[str, Any]:
    """Dock the three PyNTA widgets in ``viewer``; return them by display name."""
    widgets = {}
    docks = {}
    for name, tabify in DOCKED_WIDGETS:
        docks[name], widgets[name] = viewer.window.add_plugin_dock_widget(
            PLUGIN_NAME, name, tabify=tabify
        )
    # the Camera tab in front (Live is the first thing to press), once napari has laid out the docks
    QTimer.singleShot(0, docks["Camera"].raise_)
    return widgets


def launch_gui() -> int:
    """Open napari titled PyNTA with the widgets docked and the simulated camera streaming.

    Returns
    -------
    int
        The process exit code (0) once the window is closed.
    """
    import napari

    viewer = napari.Viewer(title="PyNTA")
    widgets = dock_pynta_widgets(viewer)
    camera = widgets["Camera"]
    camera.backend.setCurrentText("simulated")
    camera.live.click()  # starts in the background; the window is usable at once
    napari.run()
    return 0
