"""A camera that replays a recorded movie (pynta store, TIFF or image folder) at a set rate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from napari_pynta.cameras.base import (
    BaseCamera,
    CameraExhausted,
    CameraSettings,
    own_arguments,
)
from napari_pynta.errors import PyntaInputError, require_int

#: frames read from the source at once (one dask/zarr request per block, not per frame)
_BLOCK = 32
#: decoded frames kept to replay from memory: a movie that fits is decoded once, when the camera
#: opens (decoding while it plays costs the acquisition 1.2 ms CPU per 512² frame and 4.5-10 ms
#: per 1024² frame of a pynta store, up to a core at 100 fps, which tracking needs); a longer one
#: keeps its first blocks and decodes only the rest. The cache takes at most this share of the
#: memory available when the camera opens ...
CACHE_MEMORY_FRACTION = 0.25
#: ... and at most this many bytes (a 1024² movie of 1000 frames, decoded in 5-10 s) ...
CACHE_MAX_BYTES = 2 * 2**30
#: ... but always this many (a 1024² movie of 128 frames), even on a machine short of memory
CACHE_MIN_BYTES = 256 * 2**20


def cache_limit_bytes() -> int:
    """Bytes of decoded frames a playback camera opened now keeps (see :data:`CACHE_MAX_BYTES`)."""
    import psutil

    available = psutil.virtual_memory().available
    return int(max(CACHE_MIN_BYTES, min(CACHE_MAX_BYTES, CACHE_MEMORY_FRACTION * available)))


#: the replay rate of a movie whose frame interval is unknown (frames/s)
UNTIMED_REPLAY_FPS = 30.0


def replay_fps(metadata: Mapping[str, Any]) -> float:
    """The rate a movie is replayed at unless one is asked for: its recording's
    (``1 / frame_interval_s``), else :data:`UNTIMED_REPLAY_FPS`."""
    interval = metadata.get("frame_interval_s")
    return 1.0 / float(interval) if interval else UNTIMED_REPLAY_FPS


def _check_arguments(loop: Any, buffer_frames: Any) -> None:
    """Refuse a ``loop`` that is not a boolean and a ``buffer_frames`` below 1 (the ``path`` is
    checked by :func:`napari_pynta.readers.open_movie`).

    Raises
    ------
    PyntaInputError
        Naming the argument, its value and what is allowed.
    """
    if not isinstance(loop, bool):  # bool("no") is True: loop=no looped; 1 == True
        raise PyntaInputError(f"loop must be true or false, got {loop!r}", "loop")
    require_int("buffer_frames", buffer_frames, minimum=1)


class PlaybackCamera(BaseCamera):
    """Replays a saved movie as if it were a camera.

    Parameters
    ----------
    path : str
        A pynta ``.zarr`` store, a (multi-page) TIFF or a folder of PNG/TIFF/JPEG frames
        (anything :func:`napari_pynta.readers.open_movie` opens).
    loop : bool
        Start again at the first frame after the last; otherwise :meth:`read` raises
        :class:`CameraExhausted` at the end.
    pixel_size_um : float, optional
        Overrides the movie's metadata (required when the movie has none).
    buffer_frames : int
        Frames the camera holds for a slow reader; older ones are lost (see
        :class:`~napari_pynta.cameras.base.BaseCamera`).
    **settings
        ``fps``, the replay rate (default: the recording's, ``1 / frame_interval_s``), ``roi``.
        The exposure is fixed by the recording; ``gain`` must be 1. The replay rate does not
        change the physics: the frame times and the frame interval written by
        :meth:`metadata_for_store` stay the recording's, which the sizes need; the rate the
        acquisition reports is the replay's (:meth:`rate_time_s`).

    A pynta store that another process is still writing (a recording in progress) is played
    as far as it was written when the camera opened, and :attr:`warnings` says so, as it passes
    on the reader's other warnings (a cut AVI, a TIFF of several series).

    Frame times are the recording's: a pynta store's own timestamps, else ``k`` times the
    movie's frame interval, else (no interval known) the host clock at release. A looped movie
    continues the times of the previous pass. Frames the recording's camera lost (gaps in a
    store's ``seq``) are lost again: counted in :attr:`frames_skipped`, so the acquisition
    leaves the same gaps in its own ``seq``.
    """

    name = "playback"
    timestamp_source = "recording"
    free_running = True
    #: the simulated camera's limit, for the same acquisition: at 10^9 fps a looped replay spent
    #: its time on the frames it lost and answered no command for 10 s (b23); at 10^5 a looped,
    #: tracked replay of a 128² movie ran and stopped in order
    max_fps = 1e5

    def __init__(
        self,
        path: str,
        loop: bool = False,
        pixel_size_um: float | None = None,
        buffer_frames: int = BaseCamera.buffer_frames,
        **settings: Any,
    ):
        from napari_pynta.readers import open_movie

        _check_arguments(loop, buffer_frames)
        self.buffer_frames = buffer_frames
        self._movie = open_movie(path)
        self.metadata = dict(self._movie.metadata)
        frames = self._movie.frames
        if frames.ndim != 3 or frames.shape[0] == 0:
            raise PyntaInputError(f"path {path!r} holds no (T, Y, X) frames to play back")
        self._frames = frames
        self._read_frames = _frames_reader(self._movie)
        self._dtype = frames.dtype
        self.loop = bool(loop)
        self._next = 0
        self._blocks: dict[int, np.ndarray] = {}  # first frame -> frames, see _read_block
        self._cached_bytes = 0  # of the blocks kept for good, at most _cache_limit
        self._cache_limit = cache_limit_bytes()
        self._transient: int | None = None  # the one block kept until the next is read
        pixel = pixel_size_um if pixel_size_um is not None else self.metadata.get("pixel_size_um")
        if pixel is None:
            raise PyntaInputError(
                f"pixel_size_um is not in the metadata of {path!r}; pass pixel_size_um=..."
            )
        interval = self.metadata.get("frame_interval_s")
        settings.setdefault("fps", replay_fps(self.metadata))
        self._interval = float(interval) if interval else None
        self._recorded_times = self._recording_times(self._movie, self._interval)
        times = self._recorded_times
        # a looped pass starts one frame step after the last frame of the previous one
        self._loop_period = (
            0.0
            if times is None
            else float(times[-1] + (np.median(np.diff(times)) if len(times) > 1 else 0.0))
        )
        self._pass = 0
        self._index = 0
        # frames the recording's camera lost before each frame (gaps in a store's seq): the
        # replay loses them again, so that its seq and the steps across them stay true
        numbers = self._movie.frame_numbers
        self._lost_before = None if numbers is None else numbers - np.arange(len(numbers))
        self._last_grabbed: tuple[int, int] | None = None  # (pass, index) of the last frame
        if settings.get("exposure_s") is not None and settings["exposure_s"] == self.metadata.get(
            "exposure_s"
        ):
            settings.pop("exposure_s")
        super().__init__(tuple(frames.shape[1:]), pixel, **settings)
        # a recording in progress, a cut AVI, times that go back (its camera clock jumped: they
        # are replayed as recorded, and the acquisition says so again as it reads them)...
        self.warnings.extend(self._movie.warnings)
        self._decode_cached_blocks()

    @classmethod
    def check_options(cls, settings: dict[str, Any]) -> None:
        """Refuse what :meth:`__init__` refuses before it opens the movie (``loop=no``,
        ``buffer_frames=0``), without opening it."""
        super().check_options(settings)
        given = own_arguments(PlaybackCamera, settings)
        _check_arguments(given["loop"], given["buffer_frames"])

    @classmethod
    def known_sensor_shape(cls, settings: dict[str, Any]) -> tuple[int, int] | None:
        """The frame shape of the movie at ``path`` (its metadata read, no frame); None for a
        movie that holds no (T, Y, X) frames (the camera refuses it when it opens)."""
        from napari_pynta.readers import open_movie

        movie = open_movie(str(settings["path"]))
        try:
            shape = movie.frames.shape
        finally:
            movie.close()
        return (int(shape[1]), int(shape[2])) if len(shape) == 3 else None

    @staticmethod
    def _recording_times(movie: Any, interval: float | None) -> np.ndarray | None:
        """Frame times of the recording (s from its first frame), None if it has none."""
        n = int(movie.frames.shape[0])
        if movie.store is not None:
            times = np.asarray(movie.store.timestamps_s, dtype=np.float64)
            return times - times[0]
        return None if interval is None else np.arange(n) * interval

    @property
    def n_frames(self) -> int:
        """Number of frames in the movie."""
        return int(self._frames.shape[0])

    def _apply_settings(self, settings: CameraSettings) -> None:
        if settings.gain != 1.0:
            raise PyntaInputError(
                "gain must be 1 for the playback camera (the recording is fixed)", "gain"
            )
        if settings.exposure_s is not None:
            raise PyntaInputError(
                f"exposure_s is fixed by the recording ({self.metadata.get('exposure_s')!r} s) "
                f"for the playback camera, got {settings.exposure_s!r}",
                "exposure_s",
            )

    def metadata_for_store(self) -> dict[str, Any]:
        """The recording's physical metadata: replaying faster does not change the physics."""
        metadata = super().metadata_for_store()
        for key in ("frame_interval_s", "exposure_s", "temperature_c", "viscosity_pa_s", "solvent"):
            if self.metadata.get(key) is not None:
                metadata[key] = self.metadata[key]
        return metadata

    @property
    def saturation_level(self) -> int:
        """The recording camera's top value when its store names it (4095 for a 12-bit camera's
        uint16 frames), else the largest value of the movie's dtype."""
        recorded = (self.metadata.get("camera_settings") or {}).get("saturation_level")
        dtype_top = super().saturation_level
        if isinstance(recorded, int) and not isinstance(recorded, bool) and 0 < recorded:
            return min(recorded, dtype_top)
        return dtype_top

    def close(self) -> None:
        """Stop, and close the movie's file (a later start reads it again)."""
        super().close()
        self._movie.close()

    def start(self) -> None:
        """Start (again) from the first frame."""
        super().start()
        self._next = 0
        self._pass = 0
        self._last_grabbed = None

    def _skip(self, n_frames: int) -> None:
        skipped_to = self._next + n_frames
        if self.loop:
            self._pass += skipped_to // self.n_frames
            self._next = skipped_to % self.n_frames
        else:
            self._next = min(skipped_to, self.n_frames)

    def _grab(self) -> np.ndarray:
        if self._next >= self.n_frames:
            if not self.loop:
                raise CameraExhausted(f"playback reached the end after {self.n_frames} frames")
            self._next = 0
            self._pass += 1
        index = self._index = self._next
        self._next += 1
        self._skipped += self._recording_lost_since_last(index)
        return self._read_block(index - index % _BLOCK)[index % _BLOCK]

    def _recording_lost_since_last(self, index: int) -> int:
        """Frames the recording lost between the frame grabbed last and frame ``index``."""
        lost = self._lost_before
        if lost is None:
            return 0
        previous, self._last_grabbed = self._last_grabbed, (self._pass, index)
        before = 0 if previous is None else previous[0] * lost[-1] + lost[previous[1]]
        return int(self._pass * lost[-1] + lost[index] - before)

    def rate_time_s(self, timestamp: float) -> float:
        """When the replay released the frame just read (its pacing clock, s): the rate the
        acquisition reports is the replay's, ``fps``, not the recording's that the frame times
        (``timestamp``) keep for the sizes."""
        return self._last_due

    def _camera_time_s(self) -> float | None:
        times = self._recorded_times
        if times is None:
            return None
        return float(times[self._index] + self._pass * self._loop_period)

    def _decode_cached_blocks(self) -> None:
        """Decode now the blocks the cache keeps, so that a run does not pay for them.

        Decoding a block during a run takes the acquisition's time: 1.2 ms CPU per 512² frame
        of a pynta store, so the first pass of a 400-frame movie at 400 fps left the
        acquisition half the frame interval, on a machine too busy to catch up afterwards
        (tracking latency p95 2.4 s through the CLI against 1.2 s with a 100-frame movie).
        """
        frame_bytes = int(np.prod(self._frames.shape[1:])) * np.dtype(self._dtype).itemsize
        for start in range(0, self.n_frames, _BLOCK):
            size = min(_BLOCK, self.n_frames - start) * frame_bytes
            if self._cached_bytes + size > self._cache_limit:
                break
            self._read_block(start)

    def _read_block(self, start: int) -> np.ndarray:
        """Frames ``start..start+_BLOCK`` (the last block may be shorter), decoded in this thread.

        Blocks are kept for good while they fit in the cache (:func:`cache_limit_bytes`: the whole
        of a movie that fits, the first blocks of a longer one); a block beyond that is kept
        only until the next one is read.
        """
        block = self._blocks.get(start)
        if block is None:
            block = self._read_frames(start, start + _BLOCK)
            if self._transient is not None:
                del self._blocks[self._transient]
                self._transient = None
            if self._cached_bytes + block.nbytes <= self._cache_limit:
                self._cached_bytes += block.nbytes
            else:
                self._transient = start
            self._blocks[start] = block
        return block


def _frames_reader(movie: Any) -> Callable[[int, int], np.ndarray]:
    """``read(start, stop)`` of a movie's frames as one numpy array, decoded in this thread."""
    if movie.store is not None:  # one read into one array, no dask concatenation
        return movie.store.read_frames

    def read(start: int, stop: int) -> np.ndarray:
        frames = movie.frames[start:stop]
        # dask's default thread pool costs more than decoding a block of frames
        if hasattr(frames, "compute"):
            return frames.compute(scheduler="synchronous")
        return np.asarray(frames)

    return read
