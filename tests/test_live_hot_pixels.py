"""Hot pixels live: found by the calibration, repaired by every locator, never in the recording."""

from __future__ import annotations

import numpy as np
import pytest
from test_analysis import simulated, spot_positions, with_spots
from test_live_pipeline import no_leftover_processes  # noqa: F401

from napari_pynta.detect.hot_pixels import find_hot_pixels
from napari_pynta.live import LiveConfig, LivePipeline
from napari_pynta.store import MovieStore

pytestmark = pytest.mark.slow

#: 16 single hot pixels and one pair of neighbours (they alternate as the local maximum: the
#: fixed-spot rule of the live summary misses such a pair)
_SINGLES = spot_positions(16, 128, 0)
HOT = np.vstack([_SINGLES, _SINGLES[:1] + [0, 1]])


def _playback_store(path, hot_pixels: bool):
    """A 100 nm movie (128², 20 particles) as a pynta store, with :data:`HOT` +400 ADU above
    the background in every frame or without; returns the raw frames."""
    movie, _ = simulated(100.0, n_frames=360, shape=(128, 128), n_particles=20, seed=3)
    if hot_pixels:
        movie = with_spots(movie, HOT, np.array([[400.0]]))
    frames = np.asarray(movie.frames)
    with MovieStore.create(path, frames.shape[1:], frames.dtype, movie.metadata) as store:
        store.append(frames)
    return frames


@pytest.mark.parametrize("hot_pixels", [True, False])
def test_live_locators_repair_the_hot_pixels_the_calibration_finds(tmp_path, hot_pixels):
    """Without the repair the hot pixels were features in every frame and stole the local
    maximum from passing particles: this movie came out at 1.5x its size live. The calibration
    finds them in its frames (the offline function), every locator repairs them in its own
    copy, the summary says how many, the recording keeps the raw frames, and pynta analyze of
    the recording finds the same pixels. A clean camera repairs none."""
    source, record = tmp_path / "source.zarr", tmp_path / "live.zarr"
    raw = _playback_store(source, hot_pixels)
    config = LiveConfig(
        camera="playback",
        camera_settings={"path": str(source), "fps": 400.0},
        record_path=str(record),
        n_locators=2,
    )
    with LivePipeline(config) as pipeline:
        assert pipeline.wait_finished(120)
        status = pipeline.status()
        found = np.array(pipeline.config.hot_pixels).reshape(-1, 2)
    summary = status.size_summary
    assert status.size_summary_final, status.errors
    truth = {tuple(p) for p in HOT} if hot_pixels else set()
    assert {tuple(p) for p in found} == truth
    assert status.hot_pixels_repaired == len(truth)
    repaired_note = [w for w in summary["warnings"] if "hot pixels" in w]
    assert repaired_note == (
        [
            f"{len(HOT)} hot pixels (single pixels far above their neighbours "
            "in every frame) were replaced by the median of their neighbours "
            "before detection."
        ]
        if hot_pixels
        else []
    )
    assert not any("fixed bright spots" in w for w in summary["warnings"])
    assert abs(summary["diameter_nm"] - 100) < 4 * summary["diameter_se_nm"] + 5
    # the recording is raw (hot pixels in it) and pynta analyze finds the same pixels there.
    # Replayed from frame 0; the playback camera runs on the wall clock, so a loaded machine
    # makes it lose frames (at load 13, 98 of 360): every frame is recorded or counted as lost
    with MovieStore.open(record) as store:
        seq = np.asarray(store.seq)
        recorded = np.asarray(store.frames)
    assert seq[0] == 0 and np.all(np.diff(seq) >= 1)
    assert len(seq) + status.frames_lost_by_camera == len(raw)
    np.testing.assert_array_equal(recorded, raw[seq])
    assert {tuple(p) for p in find_hot_pixels(recorded)} == truth


def test_a_new_roi_while_live_moves_the_hot_pixel_map_with_it(tmp_path):
    """The hot pixels are sensor pixels: a new ROI shifts them in the frames, and those outside
    it are no longer repaired (nor counted)."""
    source = tmp_path / "source.zarr"
    _playback_store(source, hot_pixels=True)
    config = LiveConfig(
        camera="playback", camera_settings={"path": str(source), "fps": 200.0, "loop": True}
    )
    roi = (20, 10, 80, 100)  # y, x, height, width
    with LivePipeline(config) as pipeline:
        assert {tuple(p) for p in pipeline.config.hot_pixels} == {tuple(p) for p in HOT}
        pipeline.configure_camera(roi=roi)
        moved = {tuple(p) for p in pipeline.config.hot_pixels}
        status = pipeline.status()
    inside = {
        (row - roi[0], col - roi[1])
        for row, col in HOT
        if roi[0] <= row < roi[0] + roi[2] and roi[1] <= col < roi[1] + roi[3]
    }
    assert 0 < len(inside) < len(HOT) and moved == inside
    assert status.hot_pixels_repaired == len(inside)
