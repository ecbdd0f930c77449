"""Cameras: simulated timing/ROI/exposure, playback fidelity, optional backends (fakes), errors."""

from __future__ import annotations

import inspect
import sys
import time
import types

import numpy as np
import pytest
import tifffile

from napari_pynta.cameras import CAMERAS, CameraExhausted, open_camera, playback
from napari_pynta.cameras.simulated import SCENE_ARGUMENTS, SceneArguments, SimulatedCamera
from napari_pynta.errors import PyntaInputError
from napari_pynta.simulate import SimulationSettings, simulate_movie
from napari_pynta.store import MovieStore

SMALL = dict(shape=(64, 64), n_particles=5, seed=3)


def test_simulated_camera_paces_frames_and_stamps_their_exposure_on_its_clock():
    fps = 200.0
    with open_camera("simulated", fps=fps, **SMALL) as camera:
        camera.start()
        start = time.perf_counter()
        stamps = [camera.read()[1] for _ in range(40)]
        elapsed = time.perf_counter() - start
        metadata = camera.metadata_for_store()
    # 40 frames are due at 0, 1/fps, ..., 39/fps: never earlier than the clock allows
    assert elapsed >= 39 / fps * 0.98
    # the scene moves exactly 1/fps per frame: its clock, not the host's arrival time, is the
    # true time of each frame (a late reader must not squeeze the intervals)
    np.testing.assert_allclose(stamps, np.arange(40) / fps, atol=1e-9)
    assert metadata["camera_settings"]["timestamp_source"] == "simulation clock"


@pytest.mark.parametrize("camera_name", ["simulated", "playback"])
def test_a_reader_that_falls_behind_loses_the_oldest_frames_like_a_real_camera(
    camera_name, recorded_store
):
    fps = 1000.0
    path, movie = recorded_store
    settings = SMALL if camera_name == "simulated" else dict(path=str(path), loop=True)
    with open_camera(camera_name, fps=fps, buffer_frames=100, **settings) as camera:
        camera.start()
        first = camera.read()
        time.sleep(0.3)  # 300 frames are exposed meanwhile; the camera keeps the newest 100
        late = [camera.read()]
        skipped_before_late = camera.frames_skipped
        late += [camera.read() for _ in range(2)]
        skipped = camera.frames_skipped
        camera.start()
        assert camera.frames_skipped == 0
    assert skipped >= 300 - 100
    if camera_name == "simulated":  # the times show the gap: the lost frames' exposures
        assert late[0][1] - first[1] == pytest.approx((1 + skipped_before_late) / fps)
    else:
        # the recording's frames and times: the first frame after the gap is the oldest one
        # still in the buffer, then none is lost
        interval = movie.metadata["frame_interval_s"]
        for i, (frame, t) in enumerate(late):
            index = 1 + skipped + i
            np.testing.assert_array_equal(frame, movie.frames[index % len(movie.frames)])
            assert t == pytest.approx(index * interval)


def test_simulated_roi_is_a_crop_of_the_same_scene():
    roi = (8, 16, 24, 40)
    with (
        open_camera("simulated", fps=1000, **SMALL) as full,
        open_camera("simulated", fps=1000, roi=roi, **SMALL) as cropped,
    ):
        for _ in range(3):
            whole, _ = full.read()
            part, _ = cropped.read()
    y, x, h, w = roi
    assert part.shape == (h, w)
    np.testing.assert_array_equal(part, whole[y : y + h, x : x + w])


def test_simulated_exposure_reaches_the_scene_and_the_metadata():
    with open_camera("simulated", fps=100, exposure_s=0.002, **SMALL) as camera:
        metadata = camera.metadata_for_store()
    assert metadata["exposure_s"] == 0.002
    assert metadata["frame_interval_s"] == pytest.approx(0.01)
    assert metadata["camera_settings"]["simulation"]["exposure_s"] == 0.002
    assert metadata["temperature_c"] == 22.0


def test_changing_fps_keeps_the_pacing_continuous():
    with open_camera("simulated", fps=500, **SMALL) as camera:
        stamps = [camera.read()[1] for _ in range(5)]
        camera.configure(fps=250)
        stamps += [camera.read()[1] for _ in range(3)]
    # no frame comes before its due time: 4 intervals of 2 ms, then 3 of 4 ms (not 2 ms)
    assert stamps[7] >= 4 * 0.002 + 3 * 0.004 - 1e-6
    assert np.all(np.diff(stamps) > 0)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (dict(fps=0), "fps"),
        (dict(fps=100, exposure_s=0.02), "exposure_s"),
        (dict(roi=(0, 0, 65, 10)), "roi"),
        (dict(roi="1,2,3"), "roi"),
        (dict(gain=-1), "gain"),
        (dict(shape=(4, 4)), "shape"),
        (dict(buffer_frames=0), "buffer_frames"),
        (dict(colour=True), "colour"),
    ],
)
def test_bad_camera_settings_name_the_field(settings, field):
    with pytest.raises(PyntaInputError, match=field):
        open_camera("simulated", **{**SMALL, **settings})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(shape=(64, 64, 64)), r"shape must be two integers \(height, width\)"),
        (dict(shape=(64.5, 64)), r"shape must be two integers \(height, width\)"),
        (dict(shape=(100_000, 100_000)), r"shape must be at most 4096x4096 pixels"),
        (dict(n_particles=2.5), "n_particles must be an integer >= 0, got 2.5"),
        (dict(diameter_nm="abc"), "diameter_nm must be a number, got 'abc'"),
        (dict(pixel_size_um="abc"), "pixel_size_um must be a number, got 'abc'"),
        (dict(temperature_c="x"), "temperature_c must be a number, got 'x'"),
        (
            dict(scene={"nope": 1}),
            r"unknown scene setting\(s\) \['nope'\]; allowed: \[.*'read_noise'",
        ),
        (dict(scene=5), "scene must be a dict of simulation settings, got 5"),
        (
            dict(scene={"pixel_size_um": 0.2, "frame_interval_s": 0.1}),
            r"scene setting\(s\) \['frame_interval_s', 'pixel_size_um'\] are set by the camera's "
            r"own arguments; pass those instead \(frame_interval_s -> fps, pixel_size_um -> ",
        ),
    ],
)
def test_simulated_camera_options_of_the_wrong_type_are_refused_in_one_line(settings, message):
    """`pynta acquire --camera-option` values of the wrong type: before, n_particles=2.5 and
    shape=64,64,64 ran as 2 particles and 64x64; shape=100000,100000 failed in the worker with
    a MemoryError (298 GiB); diameter_nm=abc and scene={"nope": 1} raised Python's ValueError
    and TypeError; scene={"pixel_size_um": ...} raised a TypeError (two values for one field)
    and scene={"frame_interval_s": ...} was silently replaced by the fps."""
    with pytest.raises(PyntaInputError, match=message):
        open_camera("simulated", **{**SMALL, **settings})
    with pytest.raises(PyntaInputError, match=message):  # checked alike before a run starts
        SimulatedCamera.check_options({**SMALL, **settings})


def test_the_simulated_camera_and_its_check_take_the_scene_arguments_from_one_place():
    """check_options checks the arguments SceneArguments names: the constructor takes exactly
    those (besides buffer_frames and the camera settings), each with SceneArguments' default."""
    parameters = inspect.signature(SimulatedCamera.__init__).parameters
    assert set(parameters) - {"self", "buffer_frames", "settings"} == set(SCENE_ARGUMENTS)
    defaults = SceneArguments()
    assert all(parameters[name].default == getattr(defaults, name) for name in SCENE_ARGUMENTS)


def test_the_simulated_camera_refuses_a_rate_whose_lost_frames_the_linker_cannot_absorb():
    # at 1e6 fps a 3 s tracked run lost 3 million frames; the linker, handed one skip notice per
    # lost frame, made no progress for 20 s and was given up with 267 of 282 frames untracked
    with pytest.raises(PyntaInputError, match=r"fps must be in \(0, 100000\]"):
        open_camera("simulated", **{**SMALL, "fps": 1e6})
    assert open_camera("simulated", **{**SMALL, "fps": 1e5}).settings.fps == 1e5


def test_unknown_camera_lists_the_available_ones():
    with pytest.raises(PyntaInputError) as error:
        open_camera("hamamatsu")
    for name in CAMERAS:
        assert name in str(error.value)


def test_unknown_setting_lists_the_allowed_ones():
    with pytest.raises(PyntaInputError, match="n_particles") as error:
        open_camera("simulated", exposure=0.01)
    assert "exposure_s" in str(error.value)


@pytest.fixture
def recorded_store(tmp_path):
    movie = simulate_movie(
        12,
        SimulationSettings(
            shape=(32, 48), n_particles=4, seed=5, frame_interval_s=0.02, exposure_s=0.01
        ),
    )
    path = tmp_path / "rec.zarr"
    with MovieStore.create(path, (32, 48), "uint16", movie.metadata) as store:
        store.append(movie.frames)
    return path, movie


def test_playback_replays_every_frame_in_order_then_ends(recorded_store):
    path, movie = recorded_store
    with open_camera("playback", path=str(path), fps=1000) as camera:
        frames = [camera.read()[0] for _ in range(12)]
        with pytest.raises(CameraExhausted):
            camera.read()
    np.testing.assert_array_equal(np.stack(frames), movie.frames)


def test_playback_paces_at_its_fps_and_keeps_the_recordings_times(recorded_store):
    """The replay runs at ``fps`` (its rate clock, on which the acquisition measures the rate
    it reports) while the frames' times stay the recording's 0.02 s apart."""
    path, movie = recorded_store
    fps = 100.0  # the recording's 50 fps replayed twice as fast
    with open_camera("playback", path=str(path), fps=fps) as camera:
        camera.start()
        started = time.perf_counter()
        times, rate_times = [], []
        for _ in range(12):
            _, t = camera.read()
            times.append(t)
            rate_times.append(camera.rate_time_s(t))
        elapsed = time.perf_counter() - started
    np.testing.assert_allclose(times, np.arange(12) * 0.02, atol=1e-9)
    np.testing.assert_allclose(np.diff(rate_times), 1 / fps, rtol=1e-9)
    assert elapsed >= 11 / fps * 0.98  # paced at fps: never faster
    assert elapsed < 11 * movie.metadata["frame_interval_s"]  # not at the recording's rate


def test_playback_loops_and_keeps_the_recorded_physics(recorded_store):
    path, movie = recorded_store
    with open_camera("playback", path=str(path), fps=1000, loop=True, roi=(2, 3, 10, 20)) as camera:
        frames, times = zip(*(camera.read() for _ in range(15)), strict=True)
        metadata = camera.metadata_for_store()
    np.testing.assert_array_equal(frames[13], movie.frames[1, 2:12, 3:23])
    # times are the recording's (0.02 s apart), continued across the loop, not the 1 ms replay
    np.testing.assert_allclose(times, np.arange(15) * 0.02, atol=1e-9)
    # replaying at 1000 fps does not change the recording's frame interval or exposure
    assert metadata["frame_interval_s"] == pytest.approx(0.02)
    assert metadata["exposure_s"] == pytest.approx(0.01)


def test_playback_of_a_recording_with_lost_frames_loses_them_again(tmp_path):
    """A recording whose camera lost frames (seq gaps) was replayed as if its frames were
    consecutive: `pynta acquire --camera playback --track` of a store missing every third frame
    sized 100 nm particles as 69 nm, without a warning. The replay now skips them again."""
    movie = simulate_movie(
        12,
        SimulationSettings(
            shape=(32, 48), n_particles=4, seed=5, frame_interval_s=0.02, exposure_s=0.01
        ),
    )
    kept = np.array([0, 1, 3, 4, 7, 8, 9, 11])
    path = tmp_path / "gaps.zarr"
    with MovieStore.create(path, (32, 48), "uint16", movie.metadata) as store:
        store.append(movie.frames[kept], timestamps_s=kept * 0.02, seq=kept)
    with open_camera("playback", path=str(path), fps=1000, loop=True, buffer_frames=1000) as camera:
        skipped = []
        for _ in range(2 * len(kept)):
            camera.read()
            skipped.append(camera.frames_skipped)
    # after each frame: the frames the recording lost up to it, pass after pass
    lost = list(kept - np.arange(len(kept)))
    assert skipped == lost + [lost[-1] + n for n in lost]


def test_playback_of_a_store_being_recorded_plays_the_frames_written_when_it_opened(tmp_path):
    """`pynta acquire --camera playback` on a store another process was still recording played
    the frames written so far without a word. It still plays exactly those (a later frame may
    be half written), and its warnings say so."""
    movie = simulate_movie(12, SimulationSettings(shape=(32, 48), n_particles=4, seed=5))
    path = tmp_path / "live.zarr"
    with MovieStore.create(path, (32, 48), "uint16", movie.metadata) as store:
        store.append(movie.frames[:7])  # the writer holds the store, as a recording does
        with open_camera("playback", path=str(path), fps=1000) as camera:
            store.append(movie.frames[7:])  # the recording goes on
            frames = [camera.read()[0] for _ in range(7)]
            with pytest.raises(CameraExhausted):
                camera.read()
        (warning,) = camera.warnings
    np.testing.assert_array_equal(np.stack(frames), movie.frames[:7])
    assert "being written by another process" in warning and "7 frames" in warning
    with open_camera("playback", path=str(path), fps=1000) as camera:  # recording ended
        assert camera.n_frames == 12 and camera.warnings == []


def test_playback_of_a_recording_whose_clock_jumped_back_says_so(tmp_path):
    """A recording whose frame times jump back (a camera clock reset) was replayed as recorded
    without a word, and `pynta acquire --out` of it wrote a store `pynta verify` then failed
    ("timestamps do not increase at frames [20]"). The replay keeps the recorded times (they are
    what happened) and its warnings name the first frame and how many."""
    movie = simulate_movie(40, SimulationSettings(shape=(32, 48), n_particles=4, seed=5))
    times = np.arange(40) * 0.01
    times[20:] -= 0.5
    times[31:] -= 0.5
    path = tmp_path / "jump.zarr"
    with MovieStore.create(path, (32, 48), "uint16", movie.metadata) as store:
        store.append(movie.frames, timestamps_s=times)
    with open_camera("playback", path=str(path), fps=1000) as camera:
        replayed = [camera.read()[1] for _ in range(40)]
    np.testing.assert_allclose(replayed, times - times[0], atol=1e-9)
    (warning,) = camera.warnings
    assert "go back at 2 places (first at frame 20)" in warning


def test_playback_of_a_tiff_needs_a_pixel_size(tmp_path):
    frames = np.arange(5 * 16 * 16, dtype=np.uint16).reshape(5, 16, 16)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, frames)
    with pytest.raises(PyntaInputError, match="pixel_size_um"):
        open_camera("playback", path=str(path))
    with open_camera("playback", path=str(path), pixel_size_um=0.2, fps=500) as camera:
        np.testing.assert_array_equal(camera.read()[0], frames[0])
        assert camera.pixel_size_um == 0.2
    with pytest.raises(PyntaInputError, match="exposure_s"):
        open_camera("playback", path=str(path), pixel_size_um=0.2, fps=10, exposure_s=0.01)


class _FakeCapture:
    """A webcam delivering BGR frames whose blue channel counts frames."""

    def __init__(self, device):
        self.device, self.count, self.props = device, 0, {}

    def isOpened(self):
        return self.device == 0

    def read(self):
        frame = np.zeros((12, 16, 3), np.uint8)
        frame[..., 0] = self.count  # blue
        frame[..., 2] = 100  # red
        self.count += 1
        return True, frame

    def set(self, prop, value):
        self.props[prop] = value

    def release(self):
        self.released = True


def test_opencv_camera_with_a_fake_cv2(monkeypatch):
    fake = types.SimpleNamespace(
        VideoCapture=_FakeCapture, CAP_PROP_FPS=5, CAP_PROP_EXPOSURE=15, CAP_PROP_GAIN=14
    )
    monkeypatch.setitem(sys.modules, "cv2", fake)
    with open_camera("opencv", device=0, fps=1000, exposure_s=0.0005) as camera:
        frame, _ = camera.read()
        assert camera._capture.props == {5: 1000.0, 15: 0.0005}
    # BGR -> luminance: 0.299 R + 0.114 B with R = 100 and B = frame counter (1 after the probe)
    assert frame.shape == (12, 16) and frame.dtype == np.uint8
    assert int(frame[0, 0]) == round(0.299 * 100 + 0.114 * 1)
    with pytest.raises(Exception, match="could not open"):
        open_camera("opencv", device=3)


def test_optional_backends_explain_the_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    monkeypatch.setitem(sys.modules, "pymmcore_plus", None)
    monkeypatch.setitem(sys.modules, "pypylon", None)
    with pytest.raises(PyntaInputError, match=r"napari-pynta\[basler\]"):
        open_camera("basler")
    with pytest.raises(PyntaInputError, match=r"napari-pynta\[opencv\]"):
        open_camera("opencv")
    with pytest.raises(PyntaInputError, match=r"napari-pynta\[micromanager\]"):
        open_camera("micromanager")


class _FakeCore:
    """The subset of CMMCorePlus the micromanager camera uses: a sequence of 3 frames whose
    image metadata carry irregular times and a skipped image number."""

    ELAPSED_MS = (1000.0, 1013.0, 1029.5)
    IMAGE_NUMBERS = (0, 1, 4)

    def __init__(self):
        self.calls, self.running, self.images, self.properties = [], False, [], {"Framerate": 0}

    def clearROI(self):
        self.calls.append(("clearROI",))

    def setROI(self, x, y, w, h):
        self.calls.append(("setROI", x, y, w, h))

    def getImageHeight(self):
        return 40

    def getImageWidth(self):
        return 60

    def getPixelSizeUm(self):
        return 0.0

    def getBytesPerPixel(self):
        return 2

    def getCameraDevice(self):
        return "Camera"

    def hasProperty(self, device, name):
        return name in self.properties

    def setProperty(self, device, name, value):
        self.properties[name] = value

    def setExposure(self, ms):
        if self.running:
            raise RuntimeError("the adapter refuses changes during a sequence")
        self.calls.append(("setExposure", ms))

    def isSequenceRunning(self):
        return self.running

    def startContinuousSequenceAcquisition(self, interval_ms):
        self.calls.append(("start", interval_ms))
        self.running = True
        self.images = [
            (np.full((10, 20), i, np.uint16), {"ElapsedTime-ms": str(t), "ImageNumber": str(n)})
            for i, (t, n) in enumerate(zip(self.ELAPSED_MS, self.IMAGE_NUMBERS, strict=True))
        ]

    def stopSequenceAcquisition(self):
        self.running = False

    def getRemainingImageCount(self):
        return len(self.images)

    def popNextImageAndMD(self):
        return self.images.pop(0)


def test_micromanager_camera_with_a_fake_core():
    core = _FakeCore()
    with pytest.raises(PyntaInputError, match="pixel_size_um"):
        open_camera("micromanager", core=core)
    with open_camera(
        "micromanager",
        core=core,
        pixel_size_um=0.1,
        fps=1000,
        exposure_s=0.0005,
        roi=(5, 7, 10, 20),
    ) as camera:
        assert camera.sensor_shape == (40, 60) and camera.dtype == np.uint16
        assert ("setExposure", 0.5) in core.calls
        assert ("setROI", 7, 5, 20, 10) in core.calls  # Micro-Manager wants x, y, width, height
        assert core.properties["Framerate"] == 1000  # the rate goes through the property
        camera.start()
        read = [camera.read() for _ in range(3)]
        assert [int(frame[0, 0]) for frame, _ in read] == [0, 1, 2]
        # times from the image metadata, not the nominal 1 ms clock; image 2 and 3 were skipped
        np.testing.assert_allclose(np.diff([t for _, t in read]), [0.013, 0.0165])
        assert camera.frames_skipped == 2
        # a change while streaming pauses the sequence, applies and streams again
        camera.configure(exposure_s=0.0002)
        assert ("setExposure", 0.2) in core.calls and core.running
        assert camera.metadata_for_store()["camera_settings"]["frame_rate_property"] == "Framerate"
    assert not core.running


@pytest.mark.parametrize(
    ("available", "limit"),
    [
        (64 * 2**30, playback.CACHE_MAX_BYTES),  # a big machine: the fixed bound
        (4 * 2**30, playback.CACHE_MEMORY_FRACTION * 4 * 2**30),  # a share of what is free
        (2**29, playback.CACHE_MIN_BYTES),  # short of memory: still the old 256 MB
    ],
)
def test_playback_cache_is_sized_by_the_memory_available(monkeypatch, available, limit):
    import psutil

    monkeypatch.setattr(
        psutil, "virtual_memory", lambda: types.SimpleNamespace(available=available)
    )
    assert playback.cache_limit_bytes() == int(limit)


def test_playback_decodes_what_its_cache_keeps_at_open_and_only_the_rest_while_running(
    recorded_store, monkeypatch
):
    path, movie = recorded_store
    monkeypatch.setattr(playback, "_BLOCK", 3)  # 4 blocks of 3 frames, 2 of which fit
    monkeypatch.setattr(playback, "cache_limit_bytes", lambda: 2 * movie.frames[:3].nbytes)
    decoded = []
    with open_camera("playback", path=str(path), fps=100, loop=True, buffer_frames=100) as camera:
        read = camera._read_frames

        def counting(start, stop):  # the movie as the camera reads it, counting the blocks
            decoded.append(start)
            return read(start, stop)

        camera._read_frames = counting
        frames = [camera.read()[0] for _ in range(36)]  # three passes
    np.testing.assert_array_equal(np.stack(frames), np.concatenate([movie.frames] * 3))
    # the first two blocks were decoded when the camera opened; the others, every pass
    assert decoded == [6, 9, 6, 9, 6, 9]


def test_playback_saturates_where_the_recording_camera_did(tmp_path):
    """A 12-bit camera delivers uint16 frames whose top is 4095 and says so in the store's
    camera_settings; replayed, the Camera widget's exposure aid measured saturation against
    65535 (no pixel ever counted as saturated) and a re-recording stored 65535. Without the
    recording camera's word, the top is the dtype's (255 for 8-bit movies)."""
    movie = simulate_movie(6, SimulationSettings(shape=(24, 32), n_particles=3, seed=2))
    frames = np.minimum(movie.frames, 4095)
    twelve_bit = dict(movie.metadata, camera_settings={"saturation_level": 4095})
    cases = {
        "12bit.zarr": ("uint16", twelve_bit, 4095),
        "16bit.zarr": ("uint16", dict(movie.metadata, camera_settings={}), 65535),
        "8bit.zarr": ("uint8", movie.metadata, 255),
    }
    for name, (dtype, metadata, top) in cases.items():
        with MovieStore.create(tmp_path / name, (24, 32), dtype, metadata) as store:
            store.append(np.minimum(frames, np.iinfo(dtype).max).astype(dtype))
        with open_camera("playback", path=str(tmp_path / name), fps=500) as camera:
            assert camera.saturation_level == top, name
            assert camera.metadata_for_store()["camera_settings"]["saturation_level"] == top


@pytest.mark.parametrize("loop", ["no", "false ", "yes", 2, None])
def test_playback_loop_must_be_true_or_false(recorded_store, loop):
    """`--camera-option loop=no` reaches the camera as the text 'no', which bool() made True:
    the movie was looped when the user said not to."""
    path, _ = recorded_store
    with pytest.raises(PyntaInputError, match=r"^loop must be true or false, got ") as refused:
        open_camera("playback", path=str(path), loop=loop)
    assert refused.value.field == "loop"
