"""What a newcomer sees: every PyNTA dock fits its width (nothing cut off at the right, no
sideways scrolling), whatever the status line says."""

from __future__ import annotations

from qtpy.QtWidgets import QApplication, QScrollArea

from napari_pynta.cli.gui import DOCK_MIN_WIDTH_PX
from napari_pynta.live.config import LiveStatus

#: room for the dock's frame and its vertical scroll bar
SCROLL_BAR_PX = 24


def content_width(widget) -> int:
    """The narrowest the content of a dock widget's scroll area can be laid out."""
    return widget.findChild(QScrollArea).widget().minimumSizeHint().width()


def test_each_dock_fits_the_narrowest_dock_width(pynta):
    _, widgets = pynta
    for name, widget in widgets.items():
        assert content_width(widget) <= DOCK_MIN_WIDTH_PX - SCROLL_BAR_PX, name


def test_a_long_live_status_wraps_instead_of_widening_the_camera_dock(pynta):
    _, widgets = pynta
    camera = widgets["Camera"]
    busy = LiveStatus(
        running=True,
        recording=True,
        fps=100.1,
        fps_requested=100.0,
        frames_lost_by_camera=1254,
        frames_saved=123_456,
        frames_untracked=2_000,
        particles_per_frame=27.0,
        tracking_latency_s={"p50": 1.0, "p95": 26.8, "max": 30.0},
        tracking_latency_recent_s={"p50": 20.0, "p95": 26.8, "max": 30.0},
        hot_pixels_repaired=12,
    )
    camera._on_status(busy)
    QApplication.processEvents()
    assert (
        "latency p95 26.800 s (last 10 s)" in camera.status_line.text()
    )  # all of it is still said
    assert content_width(camera) <= DOCK_MIN_WIDTH_PX - SCROLL_BAR_PX


def test_the_camera_buttons_status_and_messages_stay_in_view_above_the_settings(pynta):
    """Before: they sat below the settings and the exposure histogram, out of view in a
    1600 x 1000 window, so 'workers died: locator-1' and the recording's counters went unseen."""
    _, widgets = pynta
    camera = widgets["Camera"]
    scroll = camera.findChild(QScrollArea)
    for widget in (camera.live, camera.snap, camera.record, camera.status_line):
        assert not scroll.isAncestorOf(widget) and camera.isAncestorOf(widget)
    assert not scroll.isAncestorOf(camera.message_line)
    assert scroll.isAncestorOf(camera.exposure_ms)  # the settings still scroll


def test_the_size_histogram_comes_first_in_the_sizes_dock(pynta):
    """Before: the conditions form and the measurement buttons filled the dock's visible part
    in a 1600 x 1000 window; the histogram and the table were below, out of view."""
    _, widgets = pynta
    sizes = widgets["Sizes"]
    layout = sizes.findChild(QScrollArea).widget().layout()
    order = [layout.indexOf(w) for w in (sizes.source_label, sizes.canvas, sizes.statistics)]
    assert order == sorted(order) and order[0] == 0
    assert layout.indexOf(sizes.conditions_box) > order[-1]
    assert layout.indexOf(sizes.measurement) > order[-1]
