"""The fast engine's work per feature, as numba kernels: characterization, duplicate removal,
the ``minmass`` filter and the static error (steps 3-6 of :mod:`napari_pynta.detect.fast`).

Every kernel these kernels use is defined in this file (numba's cache: see
:mod:`napari_pynta.detect.fast`).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _prefetch(typingctx, array, y, x):
    """Start loading the cache line of ``array[y, x]`` (a hint: no effect on any value).

    For scattered reads that the hardware prefetchers cannot foresee: requested together, the
    lines arrive in parallel instead of one miss after another.
    """
    signature = types.void(array, y, x)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        data = context.make_array(array_type)(context, builder, args[0])
        index = [
            context.cast(builder, value, kind, types.intp)
            for value, kind in zip(args[1:], signature.args[1:], strict=True)
        ]
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, data, index, wraparound=False
        )
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]),
            "llvm.prefetch.p0",
        )
        # a read (0), to be kept in every cache level (3), of data (1)
        builder.call(
            prefetch, [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)]
        )
        return context.get_dummy_value()

    return signature, codegen


@njit(cache=True, fastmath=True)
def _characterize(raw, bp, centres, rows, radius, mask_y, mask_x, r2_mask, cos_mask, sin_mask, out):
    """Radius of gyration, eccentricity, signal and raw mass in the final masks of ``rows``.

    ``out`` holds y, x, mass of each feature in columns 0-2; columns 3-6 receive size, ecc,
    signal and raw_mass (trackpy's definitions).
    """
    for n in range(rows.shape[0]):
        corner_y = centres[rows[n], 0] - radius
        corner_x = centres[rows[n], 1] - radius
        mass = out[n, 2]
        rg = 0.0
        ecc_c = 0.0
        ecc_s = 0.0
        raw_mass = 0.0
        signal = 0.0
        for i in range(mask_y.shape[0]):
            yy = corner_y + mask_y[i]
            xx = corner_x + mask_x[i]
            px = bp[yy, xx]
            rg += r2_mask[i] * px
            ecc_c += cos_mask[i] * px
            ecc_s += sin_mask[i] * px
            raw_mass += raw[yy, xx]
            signal = px if px > signal else signal
        centre = bp[corner_y + radius, corner_x + radius]
        out[n, 3] = math.sqrt(rg / mass)
        out[n, 4] = math.sqrt(ecc_c**2 + ecc_s**2) / (mass - centre + 1e-6)
        out[n, 5] = signal
        out[n, 6] = raw_mass


@njit(cache=True, fastmath=True)
def _keep_separated(pos_y, pos_x, mass, separation_y, separation_x):
    """Boolean keep-mask: of each pair closer than ``separation``, drop the dimmer one.

    Same rule as trackpy's ``where_close`` (pairs at rescaled distance <= 1 - 1e-7; on equal
    mass the feature with the smaller rescaled ``y + x`` goes, else the earlier one).
    """
    n = pos_y.shape[0]
    keep = np.ones(n, dtype=np.bool_)
    sy = pos_y / separation_y
    sx = pos_x / separation_x
    order = np.argsort(sy, kind="mergesort")
    limit = (1.0 - 1e-7) ** 2
    for a in range(n):
        i = order[a]
        for b in range(a + 1, n):
            j = order[b]
            dy = sy[j] - sy[i]
            if dy > 1.0:
                break
            dx = sx[j] - sx[i]
            if dy * dy + dx * dx > limit:
                continue
            first, second = (i, j) if i < j else (j, i)
            if mass[first] > mass[second]:
                keep[second] = False
            elif mass[first] < mass[second]:
                keep[first] = False
            elif sy[first] + sx[first] > sy[second] + sx[second]:
                keep[second] = False
            else:
                keep[first] = False
    return keep


@njit(cache=True)
def _select_features(
    raw,
    bp,
    centres,
    found,
    n_cand,
    min_peak,
    minmass,
    radius,
    separation,
    mask_y,
    mask_x,
    r2_mask,
    cos_mask,
    sin_mask,
    black_level,
    noise,
    n_pixels,
    noise_size,
    root_sum_y2,
):
    """The refined candidates that make features, characterized, without close duplicates.

    Keeps candidates whose peak is at least ``min_peak`` (the percentile threshold) and whose
    mass exceeds ``minmass``, characterizes them (:func:`_characterize`), removes the dimmer
    of close pairs (:func:`_keep_separated`) and adds the static error (:func:`_static_error`,
    from the background's mean ``black_level`` and standard deviation ``noise``). Returns an
    (n, 8) array: the columns of :data:`COLUMNS` after ``frame``.
    """
    rows = np.empty(n_cand, np.int64)
    n = 0
    for c in range(n_cand):
        if found[c, 3] >= min_peak and found[c, 2] > minmass:
            rows[n] = c
            n += 1
    rows = rows[:n]
    features = np.empty((n, 8), np.float64)
    for i in range(n):
        for j in range(3):
            features[i, j] = found[rows[i], j]
        # the masks lie anywhere in images that left the caches during the scan: their rows'
        # lines (both ends of each row) are requested at once, not missed one after another
        corner_y = centres[rows[i], 0] - radius
        corner_x = centres[rows[i], 1] - radius
        for k in range(2 * radius + 1):
            _prefetch(bp, corner_y + k, corner_x)
            _prefetch(bp, corner_y + k, corner_x + 2 * radius)
            _prefetch(raw, corner_y + k, corner_x)
            _prefetch(raw, corner_y + k, corner_x + 2 * radius)
    _characterize(
        raw, bp, centres, rows, radius, mask_y, mask_x, r2_mask, cos_mask, sin_mask, features
    )
    if n > 0 and separation > 0:
        keep = _keep_separated(
            features[:, 0].copy(),
            features[:, 1].copy(),
            features[:, 2].copy(),
            separation,
            separation,
        )
        features = features[keep]
    _static_error(features, black_level, noise, n_pixels, noise_size, root_sum_y2)
    return features


@njit(cache=True, error_model="numpy")
def _static_error(features, black_level, noise, n_pixels, noise_size, root_sum_y2):
    """Savin & Doyle's static error ``ep`` as trackpy computes it, into column 7.

    ``noise_size`` is the correlation length; NaN or inf where undefined (numpy's division, as
    trackpy), from the raw mass in column 6.
    """
    for i in range(features.shape[0]):
        features[i, 7] = (
            noise / (features[i, 6] - n_pixels * black_level) * noise_size * root_sum_y2
        )
