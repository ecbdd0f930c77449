"""The Basler camera on the pylon emulator: simulated NTA frames, drops, settings, errors."""

from __future__ import annotations

import os
import time

import imageio.v3 as iio
import numpy as np
import pytest

os.environ.setdefault("PYLON_CAMEMU", "1")  # before pylon lists its devices
pytest.importorskip("pypylon.pylon")

from napari_pynta.cameras import open_camera  # noqa: E402
from napari_pynta.cameras.basler import block_gap  # noqa: E402
from napari_pynta.errors import PyntaInputError  # noqa: E402
from napari_pynta.simulate import SimulationSettings, simulate_movie  # noqa: E402

SHAPE = (48, 64)


@pytest.fixture(scope="module")
def nta_folder(tmp_path_factory):
    """A simulated NTA movie as 8-bit PNG frames; pixel (0, 0) holds the frame number."""
    movie = simulate_movie(
        40, SimulationSettings(shape=SHAPE, n_particles=6, seed=11, frame_interval_s=0.01)
    )
    frames = np.clip(movie.frames // 16, 0, 255).astype(np.uint8)
    frames[:, 0, 0] = np.arange(len(frames))
    folder = tmp_path_factory.mktemp("nta_png")
    for index, frame in enumerate(frames):
        iio.imwrite(folder / f"frame{index:04d}.png", frame)
    return folder, frames


def emulated(folder, **settings):
    return open_camera(
        "basler", image_folder=str(folder), roi=(0, 0, *SHAPE), pixel_size_um=0.1, **settings
    )


def test_emulator_plays_the_simulated_movie_frame_by_frame(nta_folder):
    folder, frames = nta_folder
    with emulated(folder, fps=200) as camera:
        camera.start()
        got = [camera.read() for _ in range(45)]
        metadata = camera.metadata_for_store()
    images = np.stack([frame for frame, _ in got])
    first = int(images[0, 0, 0])
    order = (first + np.arange(45)) % len(frames)
    np.testing.assert_array_equal(images, frames[order])
    times = np.array([t for _, t in got])
    assert np.all(np.diff(times) > 0)
    # the emulator has no clock of its own: arrival times, not the nominal k / fps
    assert not np.allclose(times - times[0], np.arange(45) / 200, atol=1e-6)
    assert metadata["camera_settings"]["timestamp_source"] == "host arrival"
    assert metadata["camera_settings"]["serial"] == "0815-0000"
    assert metadata["frame_interval_s"] == pytest.approx(1 / 200)


def test_frames_lost_in_the_bounded_buffer_are_counted_from_the_block_id(nta_folder):
    folder, frames = nta_folder
    with emulated(folder, fps=100, buffer_frames=3) as camera:
        camera.start()
        before, _ = camera.read()
        assert camera.frames_skipped == 0
        time.sleep(0.3)  # ~30 frames are produced, 3 fit in the buffer
        after, _ = camera.read()
        skipped = camera.frames_skipped
    # independent truth: the emulator steps through the images once per produced frame
    step = (int(after[0, 0]) - int(before[0, 0])) % len(frames)
    assert skipped > 0
    assert skipped == step - 1


def test_settings_reach_the_camera_and_change_while_grabbing(nta_folder):
    folder, _ = nta_folder
    with emulated(folder, fps=100, exposure_s=0.004, gain=2.0) as camera:
        nodes = camera._nodes
        assert nodes.GetNode("ExposureTime").GetValue() == pytest.approx(4000)
        assert nodes.GetNode("AcquisitionFrameRate").GetValue() == pytest.approx(100)
        assert nodes.GetNode("Gain").GetValue() == pytest.approx(20 * np.log10(2.0))
        camera.start()
        camera.read()
        camera.configure(exposure_s=0.002, roi=(8, 16, 16, 32))
        frame, _ = camera.read()
        assert frame.shape == (16, 32)
        assert nodes.GetNode("ExposureTime").GetValue() == pytest.approx(2000)
        assert (nodes.GetNode("OffsetY").GetValue(), nodes.GetNode("OffsetX").GetValue()) == (8, 16)


def test_twelve_bit_frames_come_as_uint16():
    with open_camera("basler", pixel_format="Mono12", roi=(0, 0, 32, 32), fps=200) as camera:
        frame, _ = camera.read()
    assert camera.dtype == np.uint16 and frame.dtype == np.uint16
    assert frame.max() < 4096
    assert camera.metadata_for_store()["camera_settings"]["saturation_level"] == 4095


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (dict(serial="nope"), "serial"),
        (dict(pixel_format="RGB8"), "pixel_format"),
        (dict(buffer_frames=1), "buffer_frames"),
        (dict(fps=1e6), "fps"),
        (dict(gain=1e6), "Gain"),
    ],
)
def test_bad_basler_settings_name_the_field(settings, field):
    with pytest.raises(PyntaInputError, match=field):
        open_camera("basler", **settings)


def test_block_gap_counts_across_a_gige_wrap():
    assert block_gap(5, 6) == 0
    assert block_gap(5, 9) == 3
    assert block_gap(0xFFFF, 1) == 0  # GigE IDs wrap to 1
    assert block_gap(0xFFFE, 2) == 2


def test_recorded_seq_gaps_are_exactly_the_frames_the_camera_lost(nta_folder, tmp_path):
    """End to end: the store's seq jumps where, and by as much as, the emulator's image did."""
    from napari_pynta.live import LiveConfig, LivePipeline
    from napari_pynta.store import MovieStore

    folder, frames = nta_folder
    settings = dict(
        image_folder=str(folder), roi=[0, 0, *SHAPE], pixel_size_um=0.1, fps=500, buffer_frames=2
    )
    path = tmp_path / "basler.zarr"
    config = LiveConfig(
        camera="basler", camera_settings=settings, n_frames=400, record_path=str(path)
    )
    with LivePipeline(config) as pipeline:
        assert pipeline.wait_finished(120)
        status = pipeline.status()
    with MovieStore.open(path) as store:
        seq = store.seq
        index = np.asarray(store.frames[:, 0, 0]).astype(int)
    assert len(seq) == status.frames_saved == status.frames_acquired
    image_steps = np.diff(index) % len(frames)
    np.testing.assert_array_equal(np.diff(seq), image_steps)
    assert seq[-1] + 1 - len(seq) == status.frames_lost_by_camera == status.frames_dropped
