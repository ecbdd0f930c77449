"""How far the live tracks trail the live image in the napari window, as a user sees it.

Run ``python benchmarks/bench_live_tracks_lag.py [--seconds S]`` with a display (Xvfb works).

`pynta`'s window (the three widgets docked) goes Live on the simulated camera (256², 25 beads,
100 fps). Once tracks are drawn, every 5 ms for ``S`` seconds (while tracking keeps up, i.e. the
rings are drawn) it samples the camera frame drawn (``PyntaSession.drawn_seq``) minus the newest
frame of the drawn tracks layer, and the newest frame of the tracks received
(``PyntaSession.newest_track_frame``) minus the same. Printed: median, p95 and max of both in
frames, the GUI process's CPU share and the pipeline's frames acquired, untracked and tracking
latency p95 over the sample, and the load average. The settings of this run live in a temporary
folder (``PYNTA_CONFIG_DIR``). On a shared machine run it in its own session at high priority
and alternate with the version it is compared with (docs/user-guide.md, "Live").
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

#: spawning the live processes can take tens of seconds on a loaded 2-core machine
START_TIMEOUT_S = 180.0


def newest_drawn_track_frame(viewer) -> int | None:
    """The newest frame of the visible live tracks layer (None: none drawn)."""
    from napari_pynta.widgets.layer_data import TRACKS_NAME

    if TRACKS_NAME not in viewer.layers or not viewer.layers[TRACKS_NAME].visible:
        return None
    data = viewer.layers[TRACKS_NAME].data
    return int(data[:, 1].max()) if len(data) else None


def run_for(seconds: float, until=lambda: False) -> None:
    """Process Qt events every 5 ms for ``seconds`` or until ``until()``."""
    from qtpy.QtWidgets import QApplication

    start = time.monotonic()
    while time.monotonic() - start < seconds and not until():
        QApplication.processEvents()
        time.sleep(0.005)


def measure(seconds: float) -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_pynta.cli.gui import dock_pynta_widgets

    viewer = napari.Viewer(title="PyNTA lag")
    widgets = dock_pynta_widgets(viewer)
    camera = widgets["Camera"]
    session = camera.session
    camera.backend.setCurrentText("simulated")
    camera.live.click()
    run_for(START_TIMEOUT_S, lambda: newest_drawn_track_frame(viewer) is not None)
    if newest_drawn_track_frame(viewer) is None:
        raise SystemExit(f"no live tracks drawn within {START_TIMEOUT_S:.0f} s")
    lags, arrived = [], []
    before = session.pipeline.status()
    cpu, start = time.process_time(), time.monotonic()
    while time.monotonic() - start < seconds:
        QApplication.processEvents()
        time.sleep(0.005)
        drawn = newest_drawn_track_frame(viewer)
        if drawn is not None and not session.detections_behind:
            lags.append(session.drawn_seq - drawn)
            arrived.append(session.newest_track_frame - drawn)
    cpu_share = (time.process_time() - cpu) / (time.monotonic() - start)
    after = session.pipeline.status()
    viewer.close()
    for name, values in (("drawn frame", lags), ("tracks received", arrived)):
        values = np.asarray(values)
        print(
            f"drawn tracks behind the {name}: median {np.median(values):.0f}, p95 "
            f"{np.percentile(values, 95):.0f}, max {values.max()} frames ({len(values)} samples)"
        )
    latency = (after.tracking_latency_recent_s or {}).get("p95")
    print(
        f"GUI process CPU {cpu_share:.0%} of a core; pipeline: "
        f"{after.frames_acquired - before.frames_acquired} frames acquired, "
        f"{after.frames_untracked - before.frames_untracked} untracked, latency p95 {latency} s"
    )
    print(f"load average: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="sampled time (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as settings:
        os.environ["PYNTA_CONFIG_DIR"] = settings
        measure(args.seconds)


if __name__ == "__main__":
    main()
