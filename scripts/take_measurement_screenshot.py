"""Take the user guide's picture of the Sizes widget on a measurement (run under Xvfb).

    xvfb-run -a -s "-screen 0 1600x1000x24" \
        python scripts/take_measurement_screenshot.py docs/images

Simulates a measurement of three captures of 100 nm beads (one sample diluted 100×, each
capture with other particles), opens it with the Sizes widget's *Open measurement…* path and
saves ``measurement.png`` (the Sizes dock) once the captures are analysed and combined.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from take_screenshots import close_notifications, pause, wait

N_CAPTURES = 3
N_FRAMES = 600


def write_measurement_folder(folder: Path) -> Path:
    """Three simulated captures of one sample and their ``measurement.json``."""
    from napari_pynta import simulate
    from napari_pynta.measurement import capture_path, write_measurement
    from napari_pynta.store import MovieStore

    folder.mkdir(parents=True)
    sample = {"sample_name": "100 nm beads", "operator": "lab", "dilution_factor": 100.0}
    for index in range(1, N_CAPTURES + 1):
        settings = simulate.SimulationSettings(shape=(192, 192), n_particles=20, seed=index)
        movie = simulate.simulate_movie(N_FRAMES, settings)
        metadata = movie.metadata | sample | {"capture_index": index, "n_captures": N_CAPTURES}
        path = capture_path(folder, index)
        with MovieStore.create(path, movie.frames.shape[1:], movie.frames.dtype, metadata) as s:
            s.append(movie.frames)
    captures = [capture_path(folder, i).name for i in range(1, N_CAPTURES + 1)]
    write_measurement(folder, {"sample": sample, "n_captures": N_CAPTURES, "captures": captures})
    return folder


def main(out_dir: str) -> int:
    import napari
    from qtpy.QtWidgets import QScrollArea

    from napari_pynta.cli.gui import dock_pynta_widgets

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folder = write_measurement_folder(Path(tempfile.mkdtemp(prefix="pynta-shot-")) / "beads")
    viewer = napari.Viewer(title="PyNTA")
    viewer.window.resize(1600, 1000)
    sizes = dock_pynta_widgets(viewer)["Sizes"]
    view = sizes.measurement
    view.depth_um.setValue(5.0)
    view.open_measurement(str(folder))
    wait(lambda: view.open_button.isEnabled(), 900, "the measurement analysis")
    pause(1.0)
    close_notifications(viewer)
    # the whole content of the (scrolling) Sizes dock, not only the part in view
    sizes.findChild(QScrollArea).widget().grab().save(str(out / "measurement.png"))
    combined = view.analysis.combined if view.analysis is not None else None
    viewer.close()
    if combined is None:
        print(f"no measurement: {view.message_line.text()}", file=sys.stderr)
        return 1
    d50 = combined["d50_nm"]
    print(
        f"{out / 'measurement.png'}: D50 {d50['mean']:.1f} ± {d50['se']:.1f} nm over "
        f"{combined['n_captures']} captures (simulated: 100 nm)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
