"""What a newcomer sees: every PyNTA dock fits its width (nothing cut off at the right, no
sideways scrolling), whatever the status line says."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qtpy.QtCore import QRect, Qt
from qtpy.QtWidgets import QApplication, QLabel, QScrollArea

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
    camera._on_status(busy_status())
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


#: a laptop-sized window, where the Camera dock shares 720 px of height with the Sizes dock
SMALL_WINDOW_PX = (1280, 720)
LONG_ERROR = (
    "recording stopped: saver: OSError: [Errno 28] No space left on device: "
    "'C:\\Users\\someone\\pynta_recordings\\a_very_long_folder_name_without_breaks\\movie.zarr'"
)


def busy_status() -> LiveStatus:
    return LiveStatus(
        running=True,
        recording=True,
        fps=87.1,
        fps_requested=100.0,
        frames_lost_by_camera=1254,
        frames_saved=123_456,
        frames_dropped=3,
        frames_untracked=2_000,
        particles_per_frame=27.0,
        tracking_latency_s={"p50": 1.0, "p95": 26.8, "max": 30.0},
        tracking_latency_recent_s={"p50": 20.0, "p95": 26.8, "max": 30.0},
        hot_pixels_repaired=12,
    )


def shown_whole(label) -> bool:
    """Every line of the label's wrapped text is within the label: as tall as its lines and no
    word (a path) wider than it (Qt breaks lines the same way as it draws them here)."""
    width = label.contentsRect().width()
    needed = label.fontMetrics().boundingRect(
        QRect(0, 0, width, 10_000), Qt.TextFlag.TextWordWrap, QLabel.text(label)
    )
    return (
        width > 0
        and needed.width() <= width
        and label.height() >= label.heightForWidth(label.width())
    )


def settle() -> None:
    """Let Qt apply the layouts the last changes asked for (posted events, no waiting)."""
    for _ in range(3):
        QApplication.processEvents()


@contextmanager
def docks_in_a_small_window(make_napari_viewer, qtbot) -> Iterator[tuple[Any, dict[str, Any]]]:
    """``(window, widgets)``: `pynta`'s docks in a shown 1280 x 720 napari window."""
    from napari_pynta.cli.gui import dock_pynta_widgets

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(*SMALL_WINDOW_PX)
    widgets = dock_pynta_widgets(viewer)
    try:
        qtbot.waitUntil(lambda: window.windowHandle().isExposed(), timeout=60_000)
        yield window, widgets
    finally:
        widgets["Camera"].session.shutdown()


def test_a_long_status_and_message_are_shown_whole_in_a_small_window(make_napari_viewer, qtbot):
    """Before, in a 1280 x 720 window: the status line had 50 of the 66 px its four lines need
    (its first and last lines cut in half), the message 34 of 50, and a Windows path in the
    message, which has no place to wrap, was cut at the dock's right edge."""
    with docks_in_a_small_window(make_napari_viewer, qtbot) as (_, widgets):
        camera = widgets["Camera"]
        camera.session.detections_behind = 1234
        camera._on_status(busy_status())
        camera.message_line.show_error(LONG_ERROR)
        settle()
        assert shown_whole(camera.status_line) and shown_whole(camera.message_line)
        assert camera.minimumSizeHint().width() <= DOCK_MIN_WIDTH_PX  # never widened
        assert camera.message_line.text() == LONG_ERROR  # the words are the same
        text = camera.status_line.text()  # the counts and what is wrong come first
        assert text.startswith("circles and tracks hidden: tracking 1234 frames behind · saved ")
        assert text.index("dropped 3") < text.index("fps") < text.index("buffer")


def test_a_long_movie_path_in_the_sizes_dock_wraps_instead_of_widening_it(pynta):
    """A Windows path has no place Qt wraps at: 'sizes from C:\\...' widened the Sizes dock's
    content past the dock (sideways scrolling)."""
    _, widgets = pynta
    sizes = widgets["Sizes"]
    sizes.source_label.setText(
        "sizes from C:\\Users\\someone\\pynta_recordings\\a_very_long_folder_name\\capture-1.zarr"
    )
    QApplication.processEvents()
    assert content_width(sizes) <= DOCK_MIN_WIDTH_PX - SCROLL_BAR_PX
    assert sizes.source_label.text().endswith("a_very_long_folder_name\\capture-1.zarr")


def test_the_peaks_row_takes_the_lines_its_text_needs_when_the_dock_is_made_narrower(
    make_napari_viewer, qtbot, two_peaks
):
    """The peaks row was fitted to its text when sizes came, not when the dock's width changed
    afterwards: made narrower, two peaks and the merged ones were cut to '… 56 and 99 not …'."""
    from napari_pynta.widgets.sizes import PEAKS_ROW, peaks_text

    with docks_in_a_small_window(make_napari_viewer, qtbot) as (window, widgets):
        sizes = widgets["Sizes"]
        table, text = sizes.statistics, peaks_text(two_peaks.summary["deconvolved_nm"])
        dock = sizes.parentWidget()
        window.resizeDocks([dock], [DOCK_MIN_WIDTH_PX + 300], Qt.Orientation.Horizontal)
        settle()
        sizes.session.sizes_changed.emit(two_peaks)  # fitted at a wide dock
        settle()
        heights = []
        for width in (DOCK_MIN_WIDTH_PX + 300, DOCK_MIN_WIDTH_PX):
            window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
            settle()
            cell = table.visualRect(table.model().index(PEAKS_ROW, 0)).united(
                table.visualRect(table.model().index(PEAKS_ROW, 1))  # the row spans both
            )
            needed = table.fontMetrics().boundingRect(
                cell.adjusted(4, 0, -4, 0), Qt.TextFlag.TextWordWrap, text
            )
            assert needed.height() <= cell.height(), (width, cell, needed)
            heights.append(cell.height())
        assert heights[1] > heights[0]  # the narrow dock needs more lines than the wide one
