"""Take the user-guide screenshots from a real napari window (run under Xvfb on a headless machine).

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/take_screenshots.py docs/images

1. ``live-tracking.png``: `pynta`'s window with the simulated camera live, localizations (rings)
   and tracks drawn over the newest frame, and the size histogram filling up.
2. ``size-histogram.png``: the Sizes widget after the recording made in step 1 was re-opened
   through the reader and re-analysed from the Tracking widget.
3. ``reanalysis.png``: the whole window after that re-analysis (points and tracks layers).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LIVE_SECONDS = 15.0


def wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Process Qt events until ``condition()`` holds; raise after ``timeout_s``."""
    from qtpy.QtWidgets import QApplication

    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"timed out waiting for {what}")
        QApplication.processEvents()
        time.sleep(0.02)


def pause(seconds: float) -> None:
    """Keep the event loop running for ``seconds``."""
    start = time.monotonic()
    wait(lambda: time.monotonic() - start > seconds, seconds + 1, "a pause")


def close_notifications(viewer) -> None:
    """Close napari's notification toasts (e.g. the PyQt5 deprecation notice) before a shot."""
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()


def main(out_dir: str) -> int:
    import napari
    from imageio.v3 import imwrite
    from qtpy.QtWidgets import QScrollArea

    from napari_pynta.cli.gui import dock_pynta_widgets, size_window

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer(title="PyNTA")
    widgets = dock_pynta_widgets(viewer)
    size_window(viewer)  # the window and the docks' shares of `pynta` itself
    camera, tracking, sizes = widgets["Camera"], widgets["Tracking"], widgets["Sizes"]
    session = camera.session
    recording = Path(tempfile.mkdtemp(prefix="pynta-shots-")) / "beads.zarr"

    camera.live.click()  # the Camera widget's defaults: 25 simulated 100 nm beads at 100 fps
    wait(lambda: session.live_state == "running", 120, "Live")
    camera.output_path.setText(str(recording))
    camera.record.click()
    pause(LIVE_SECONDS)
    viewer.layers.selection.active = viewer.layers["PyNTA tracks"]
    close_notifications(viewer)
    imwrite(out / "live-tracking.png", viewer.screenshot(canvas_only=False, flash=False))
    camera.record.click()
    wait(lambda: "frames saved" in camera.message_line.text(), 60, "the recording")
    camera.live.click()
    wait(lambda: session.live_state == "idle", 60, "Live to stop")

    for layer in list(viewer.layers):
        viewer.layers.remove(layer)
    viewer.open(str(recording), plugin="napari-pynta")
    results = []
    session.analysis_finished.connect(results.append)
    tracking.analyze.click()
    wait(lambda: bool(results), 600, "the re-analysis")
    pause(1.0)
    viewer.dims.set_current_step(0, 150)
    close_notifications(viewer)
    imwrite(out / "reanalysis.png", viewer.screenshot(canvas_only=False, flash=False))
    # the whole of the Sizes widget's scrolling content, not only the part its dock shows
    sizes.findChild(QScrollArea).widget().grab().save(str(out / "size-histogram.png"))
    viewer.close()
    summary = results[0].summary
    deconvolved = summary["deconvolved_nm"] or {}
    print(
        f"screenshots in {out}; re-analysis of {summary['n_frames']} frames: "
        f"{summary['n_tracks']} tracks, ensemble {summary['diameter_nm']:.1f} nm, "
        f"deconvolved D50 {deconvolved.get('d50', float('nan')):.1f} nm (simulated: 100 nm)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
