"""Hot pixels: single pixels far above their neighbours in every frame, repaired before detection.

Most real cameras have some. A hot pixel brighter than a particle is a local maximum in every
frame: it is detected as a feature that never moves, a passing particle within the feature
separation loses its place as the local maximum to it, and a particle's centroid mask that holds
it is pulled toward it. A hot pixel is told from a particle by its width: in the movie's temporal
median (moving particles are not in it) it stands above the median of its 8 neighbours by many
times the noise of a pixel, while those neighbours stay near the background; a particle, even
one stuck in focus, is a PSF at least a pixel wide, whose neighbours carry about half its peak.
Each hot pixel is then replaced, frame by frame, by the median of its 8 neighbours.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from napari_pynta.detect.threshold import sample_indices
from napari_pynta.robust import MAD_TO_SD

#: frames sampled (evenly through the movie) for the temporal median
HOT_PIXEL_SAMPLE_FRAMES = 31
#: a hot pixel stands this many single-frame pixel noise SDs above its neighbours' median
HOT_PIXEL_EXCESS_SDS = 8.0
#: ... while its neighbours' median is above the background by less than this share of that
#: excess (a Gaussian PSF of sigma >= 0.7 px puts at least about a third of its peak there)
HOT_PIXEL_NEIGHBOUR_SHARE = 0.2
#: the 8 neighbours of a pixel
_RING = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)
_OFFSETS = np.argwhere(_RING) - 1


def find_hot_pixels(frames: Any) -> np.ndarray:
    """The (row, column) of the hot pixels of a movie.

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        The movie (numpy or dask); :data:`HOT_PIXEL_SAMPLE_FRAMES` frames are read.

    Returns
    -------
    numpy.ndarray of int, shape (K, 2)
        Empty when the movie has none (or fewer than 3 frames: a median needs several).
    """
    n_frames = int(frames.shape[0])
    if n_frames < 3:
        return np.empty((0, 2), dtype=np.int64)
    picks = sample_indices(n_frames, HOT_PIXEL_SAMPLE_FRAMES)
    sample = np.stack([np.asarray(frames[int(i)], dtype=np.float32) for i in picks])
    median = np.median(sample, axis=0)
    neighbours = ndimage.median_filter(median, footprint=_RING, mode="nearest")
    background = float(np.median(median))
    # single-frame noise per pixel: robust spread of frame-to-frame differences
    differences = np.diff(sample[: min(len(sample), 8)], axis=0)
    noise = MAD_TO_SD * float(np.median(np.abs(differences - np.median(differences)))) / np.sqrt(2)
    excess = median - neighbours
    hot = (excess > HOT_PIXEL_EXCESS_SDS * max(noise, 1e-6)) & (
        neighbours - background < HOT_PIXEL_NEIGHBOUR_SHARE * excess
    )
    return np.argwhere(hot)


def hot_pixel_note(count: int) -> str:
    """The warning of an analysis (offline or live) whose ``count`` hot pixels were repaired."""
    return (
        f"{count} hot pixels (single pixels far above their neighbours in every frame) "
        "were replaced by the median of their neighbours before detection."
    )


def repair_hot_pixels(frames: np.ndarray, hot: np.ndarray) -> np.ndarray:
    """``frames`` (T, Y, X) with each hot pixel replaced by the median of its 8 neighbours (a
    copy, same dtype; ``frames`` itself when there is nothing to repair)."""
    if len(hot) == 0:
        return frames
    repaired = np.array(frames, copy=True, order="C")
    _repair_in_place(repaired, *_flat_indices(hot, repaired.shape[-2:]))
    return repaired


def _flat_indices(hot: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The hot pixels (K,) and their 8 neighbours (K, 8, clipped to the frame) as indices into a
    raveled frame of ``shape``."""
    ny, nx = shape
    rows = np.clip(hot[:, 0, None] + _OFFSETS[None, :, 0], 0, ny - 1)
    cols = np.clip(hot[:, 1, None] + _OFFSETS[None, :, 1], 0, nx - 1)
    return hot[:, 0] * nx + hot[:, 1], rows * nx + cols


def _repair_in_place(frames: np.ndarray, hot: np.ndarray, neighbours: np.ndarray) -> None:
    """Replace each hot pixel of the C-contiguous ``frames`` (..., Y, X) by the median of its 8
    neighbours (the mean of the 4th and 5th smallest; indices of :func:`_flat_indices`). All
    medians are taken before any pixel is replaced: a hot neighbour counts with its raw value."""
    pixels = frames.reshape(*frames.shape[:-2], -1)  # a view
    around = np.take(pixels, neighbours, axis=-1)
    values = np.partition(around, (3, 4), axis=-1)[..., 3:5].mean(axis=-1, dtype=np.float64)
    if np.issubdtype(frames.dtype, np.integer):
        values = np.rint(values)
    pixels[..., hot] = values.astype(frames.dtype)


class FrameRepair:
    """Repairs the hot pixels of one frame at a time into a buffer of its own (live locators).

    The frame itself is never written (a locator's frame is a read-only view of shared memory):
    each frame is copied into the buffer, reused from frame to frame, and its hot pixels are
    replaced there exactly as :func:`repair_hot_pixels` replaces them.

    Parameters
    ----------
    hot : array-like of int, shape (K, 2)
        (row, column) of the hot pixels (:func:`find_hot_pixels`); those outside a frame are
        left out for that frame's shape.
    """

    def __init__(self, hot: Any):
        self.hot = np.asarray(hot, dtype=np.int64).reshape(-1, 2)
        self._buffer: np.ndarray | None = None
        self._hot_flat, self._neighbours = _flat_indices(self.hot[:0], (1, 1))

    def __len__(self) -> int:
        return len(self.hot)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` (Y, X) repaired: the buffer (valid until the next call), or ``frame``
        itself when no hot pixel lies in it."""
        if self._buffer is None or (self._buffer.shape, self._buffer.dtype) != (
            frame.shape,
            frame.dtype,
        ):
            self._prepare(frame.shape, frame.dtype)
        if len(self._hot_flat) == 0:
            return frame
        assert self._buffer is not None
        np.copyto(self._buffer, frame)
        _repair_in_place(self._buffer, self._hot_flat, self._neighbours)
        return self._buffer

    def _prepare(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        """A buffer and the neighbourhoods of the hot pixels inside frames of ``shape``."""
        ny, nx = shape
        rows, cols = self.hot[:, 0], self.hot[:, 1]
        inside = self.hot[(rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)]
        self._hot_flat, self._neighbours = _flat_indices(inside, shape)
        self._buffer = np.empty(shape, dtype)


def repaired(frames: Any, hot: np.ndarray | None) -> Any:
    """``frames`` (numpy or dask, (T, Y, X)) with the hot pixels repaired; lazy for dask."""
    if hot is None or len(hot) == 0:
        return frames
    if hasattr(frames, "map_blocks"):  # whole frames per block: the indices are the frame's
        whole = frames.rechunk({1: -1, 2: -1})
        return whole.map_blocks(repair_hot_pixels, hot, dtype=frames.dtype)
    return repair_hot_pixels(np.asarray(frames), hot)
