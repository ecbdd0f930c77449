"""The wide centroid's numba kernel (:mod:`napari_pynta.detect.wide`; imported when first used,
so that importing the analysis does not load numba)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def refine_kernel(image, y, x, applies, disk, ring, sign, max_iterations):  # pragma: no cover
    """The wide centroids of the features where ``applies`` (the others, and any whose disk
    fails, keep ``y``, ``x``); ``sign`` -1 for dark particles."""
    height, width = image.shape
    out_y, out_x = y.copy(), x.copy()
    ring_values = np.empty(ring.shape[0])
    for i in range(y.shape[0]):
        if not applies[i]:
            continue
        centre_y, centre_x = int(np.rint(y[i])), int(np.rint(x[i]))
        for _ in range(max_iterations):
            n = 0
            for k in range(ring.shape[0]):
                row, col = centre_y + ring[k, 0], centre_x + ring[k, 1]
                if 0 <= row < height and 0 <= col < width:
                    ring_values[n] = image[row, col]
                    n += 1
            if n == 0:
                out_y[i], out_x[i] = y[i], x[i]
                break
            background = np.median(ring_values[:n])
            mass = moment_y = moment_x = 0.0
            for k in range(disk.shape[0]):
                row, col = centre_y + disk[k, 0], centre_x + disk[k, 1]
                if 0 <= row < height and 0 <= col < width:
                    weight = sign * (float(image[row, col]) - background)
                    mass += weight
                    moment_y += weight * disk[k, 0]
                    moment_x += weight * disk[k, 1]
            if not mass > 0:
                out_y[i], out_x[i] = y[i], x[i]
                break
            new_y = centre_y + moment_y / mass
            new_x = centre_x + moment_x / mass
            if not (-0.5 < new_y < height - 0.5 and -0.5 < new_x < width - 0.5):
                out_y[i], out_x[i] = y[i], x[i]
                break
            out_y[i], out_x[i] = new_y, new_x
            next_y, next_x = int(np.rint(new_y)), int(np.rint(new_x))
            if next_y == centre_y and next_x == centre_x:
                break
            centre_y, centre_x = next_y, next_x
    return out_y, out_x
