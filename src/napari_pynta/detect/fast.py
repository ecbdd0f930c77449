"""Fast particle localization: trackpy's ``locate`` rebuilt from fused numba kernels.

The ``"fast"`` engine of :mod:`napari_pynta.detect` follows the Crocker-Grier algorithm exactly
as trackpy 0.7 implements it, with the same parameters and the same output columns, but it
works on one image in a handful of cache-friendly passes instead of a dozen numpy/scipy calls:

1. **bandpass** — Gaussian blur (``sigma = noise_size``, truncated at 4 sigma, zero outside the
   image) minus a boxcar average (side ``smoothing_size``, edge values repeated outside the
   image; truncated to integers after each axis for integer images, like trackpy), clipped to
   zero below ``threshold``;
2. **local maxima** — pixels equal to the grey dilation of the bandpassed image with the
   largest square inside a circle of diameter ``separation``, brighter than the ``percentile``
   of the non-zero pixels (exactly: from a histogram of trackpy's integer rescaling of the
   bandpassed image, or not at all when an upper bound from the levels' sum already lets every
   feature above ``minmass`` through), outside trackpy's edge margin;
3. **refinement** — iterative centre of mass within the circular mask of radius
   ``diameter // 2``, moving the mask by one pixel while the centroid is more than 0.6 px off
   centre (at most ``max_iterations`` times); characterization of mass, radius of gyration,
   eccentricity, signal and raw mass in the final mask;
4. **duplicates** — of two features closer than ``separation`` the dimmer one is dropped;
5. **filters** — ``mass > minmass`` and ``size < maxsize``, then the ``topn`` brightest;
6. **static error** ``ep`` — from the mean and standard deviation of the raw pixels farther
   than the mask radius from any non-zero bandpassed pixel (Savin & Doyle 2005, as trackpy).

Differences from trackpy are deliberate and small: arithmetic is done in float32 on the
bandpassed image instead of trackpy's rescaling to integers (so ``mass`` differs by the
rescaling's rounding, far below the noise) and no warnings are emitted for empty frames.
Only isotropic 2-D images are supported.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic, overload

from napari_pynta.detect.columns import (
    LOCALIZATION_COLUMNS,
    empty_localizations,
    validate_detection_params,
)
from napari_pynta.errors import PyntaInputError, require_number

try:  # pandas >= 3: a table from its two blocks (int64 frame, float64 rest) without copies
    from pandas.api.internals import create_dataframe_from_blocks as _from_blocks
except ImportError:  # pragma: no cover - pandas 2
    _from_blocks = None

__all__ = ["COLUMNS", "FAST_PARAMS", "locate_fast", "warm_up"]

#: Output columns, in order (the localization table of :mod:`napari_pynta.detect`).
COLUMNS = LOCALIZATION_COLUMNS

_SHIFT_THRESH = 0.6  # px; trackpy's refine_com default
_GAUSS_TRUNCATE = 4.0  # sigmas; trackpy's lowpass default
_MAX_LEVELS = 65535  # trackpy rescales the bandpass to the input's integer range (uint16 at most)
_SPARE_BINS = 16  # extra histogram bins (a power of 2) that absorb the zeros (see _scan)
_MAX_DIAMETER = 255  # the background test stores distances up to the radius in uint8
# fast-math but additions in the written order: the bandpass adds its taps in a fixed order
# (that of trackpy's passes, one per tap), whatever LLVM makes of the fused loops
_NO_REASSOCIATION = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
_INT32_SPAN = 16384  # pixels whose levels (at most 65535 each) an int32 sum holds


# --------------------------------------------------------------------------------------------
# numba kernels (single-threaded: the live pipeline runs one locator process per core).
# Inner loops run over whole rows through 1-D views so that LLVM vectorizes them; maxima are
# taken on the int32 bit patterns of the non-negative float32 bandpass (same order, and integer
# max vectorizes where float max does not).
# --------------------------------------------------------------------------------------------
def _column_sum(total, add, sub):  # pragma: no cover - replaced by its numba overload
    """``total + add - sub``, in the type of ``total`` (a running sum of pixels)."""
    raise NotImplementedError


@overload(_column_sum, inline="always")
def _column_sum_typed(total, add, sub):
    if isinstance(total, types.Integer):  # int32 (uint16 pixels): exact, 16 lanes per vector
        return lambda total, add, sub: np.int32(total + np.int32(add) - np.int32(sub))
    return lambda total, add, sub: total + (np.float64(add) - np.float64(sub))


def _pair_sum(first, second):  # pragma: no cover - replaced by its numba overload
    """``float32(first) + float32(second)``, with one conversion for integer pixels."""
    raise NotImplementedError


@overload(_pair_sum, inline="always")
def _pair_sum_typed(first, second):
    if isinstance(first, types.Integer):  # uint16 sums are exact in int32 and in float32
        return lambda first, second: np.float32(np.int32(first + second))  # int32 lanes
    return lambda first, second: np.float32(first) + np.float32(second)


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
def _copy(dst, src):
    for x in range(dst.shape[0]):
        dst[x] = src[x]


@njit(cache=True, fastmath=True)
def _fill(dst, value):
    for x in range(dst.shape[0]):
        dst[x] = value


@njit(cache=True, fastmath=_NO_REASSOCIATION)
def _bandpass(raw, gauss, box_half, threshold, integer_input, bp, bp_bits, acc, v_pad, box_pad):
    """Write trackpy's bandpass of ``raw`` into ``bp``, one output row at a time.

    Gaussian (``gauss``: the taps from the outermost to the centre, zero outside the image)
    minus boxcar (side ``2 * len(box_half) - 1``, edge rows and columns repeated; floored after
    each axis for integer images as scipy does when it writes into the integer dtype), set to 0
    below ``threshold`` (itself at least 0). Both are tuples: their lengths are compile-time
    constants, so the loops over taps unroll and each row is filtered in two fused passes, one
    per axis, instead of one pass per tap. Scratch: ``acc`` (running column sums), ``v_pad``
    and ``box_pad`` (a row plus margins). ``acc`` is int32 for uint16 images (exact, and
    twice as many lanes as float64), float64 otherwise. Returns the int32 bit
    pattern of the maximum (``bp_bits`` is ``bp`` viewed as int32).
    """
    ny, nx = raw.shape
    lw = len(gauss) - 1
    rb = len(box_half) - 1
    box = 2 * rb + 1
    last = ny - 1
    inv_box = np.float32(1.0 / box)
    half_step = np.float32(0.5 / box)
    peak_bits = np.int32(0)
    zero = np.float32(0.0)
    threshold = max(threshold, zero)  # trackpy clips the bandpass at 0 when it rescales it
    _fill(v_pad[:], 0.0)  # zero margins; the vertical pass writes the middle (v_row)
    v_row = v_pad[lw : lw + nx]
    body = box_pad[rb : rb + nx]
    no_pixel = np.zeros_like(raw[0, :1])[0]  # a 0 of the pixel type
    _fill(acc[:], 0)
    for k in range(-rb - 1, rb):  # running column sum, state before output row 0
        src = raw[min(max(k, 0), last)]
        for x in range(nx):
            acc[x] += src[x]
    for y in range(ny):
        # --- vertical: boxcar (running sum, edge rows repeated), Gaussian (zero outside);
        # unsigned indices spare numba's negative-index checks, which stop vectorization
        add = raw[min(y + rb, last)]
        sub = raw[max(y - rb - 1, 0)]
        for i in range(nx):
            x = np.uint64(i)
            column_sum = _column_sum(acc[x], add[x], sub[x])
            acc[x] = column_sum
            if integer_input:
                body[x] = np.floor(np.float32(column_sum) * inv_box + half_step)
            else:
                body[x] = np.float32(column_sum) * inv_box
            total = gauss[lw] * np.float32(raw[np.uint64(y), x])
            for k in range(lw):  # rows outside the image are 0
                above = y + k - lw
                below = y + lw - k
                pixel_above = raw[np.uint64(max(above, 0)), x] if above >= 0 else no_pixel
                pixel_below = raw[np.uint64(min(below, last)), x] if below <= last else no_pixel
                total += gauss[k] * _pair_sum(pixel_above, pixel_below)
            v_row[x] = total
        # --- horizontal: boxcar (edge values repeated) and Gaussian (zero margins), threshold
        _fill(box_pad[:rb], body[0])
        _fill(box_pad[rb + nx :], body[nx - 1])
        out = bp[y]
        for i in range(nx):
            x = np.uint64(i)
            box_sum = box_pad[x + np.uint64(rb)]
            for k in range(rb):
                box_sum += box_pad[x + np.uint64(k)] + box_pad[x + np.uint64(2 * rb - k)]
            if integer_input:
                background = np.floor(box_sum * inv_box + half_step)
            else:
                background = box_sum * inv_box
            value = gauss[lw] * v_pad[x + np.uint64(lw)] - background
            for k in range(lw):
                value += gauss[k] * (v_pad[x + np.uint64(k)] + v_pad[x + np.uint64(2 * lw - k)])
            out[x] = value if value >= threshold else zero
        bits = bp_bits[y]  # non-negative floats order like their bit patterns (max vectorizes)
        for x in range(nx):
            peak_bits = max(peak_bits, bits[x])
    return peak_bits


@njit(cache=True, fastmath=True)
def _scan(
    bp,
    bp_bits,
    raw,
    scale,
    lo,
    hi,
    margin,
    min_bits,
    half_widths,
    disk,
    max_iterations,
    levels,
    cand,
    cand_float,
    ring_h,
    near_rows,
    pad_i,
    doubling,
    pad_u,
    peaks,
    flags,
    words,
    minmass,
):
    """One streaming pass over the bandpassed image ``bp`` (``bp_bits``: its int32 view).

    Per row: local maxima (equal to the maximum of the window ``[p - lo, p + hi]`` on both axes,
    outside ``margin``; ``doubling`` is scratch for the horizontal maxima, ``peaks`` for their
    flags, read 8 at a time), each refined at once by :func:`_centroid` while its rows are in
    cache (``cand``: final mask centre; ``cand_float``: y, x, mass, peak value); the number and
    sum of trackpy's non-zero integer levels ``floor(bp * scale)`` (at most ``levels``); and
    running sums of the ``raw`` pixels with no foreground pixel (``bp_bits >= min_bits``)
    within the circular mask, whose row half-widths are ``half_widths`` (an array, for the
    centroid) and ``disk`` (the same as a tuple, so that the loop over the mask's rows unrolls);
    ``near_rows`` holds each row's distances to the nearest foreground pixel, ``flags`` the
    background of a row (rare: rows and blocks of 64 pixels without any are skipped). Returns
    (candidates, background pixels, sum, sum of squares, non-zero levels, level sum, candidates
    whose mass exceeds ``minmass``, the smallest peak value among them or inf).
    """
    ny, nx = bp.shape
    r = len(disk) // 2
    cap = np.uint8(r + 1)
    lead = max(hi, r)
    n_levels, size_h = ring_h.shape[0], ring_h.shape[1]
    for k in range(r):  # the rows outside the image: no foreground within r
        _fill(near_rows[k], 255)
        _fill(near_rows[ny + r + k], 255)
    span = lo + hi
    n_cand = 0
    n_heavy = 0
    min_heavy_peak = np.inf
    count = 0
    total = 0.0
    total_sq = 0.0
    level_sum = 0
    n_nonzero = 0
    _fill(pad_i[:], 0)
    _fill(pad_u[:], 0)
    _fill(peaks[:], 0)
    peak_words = peaks.view(np.uint64)
    _fill(flags[:], 0)  # whole words; the pixels beyond the row stay 0
    flag_words = flags.view(np.uint64)
    for y_in in range(ny + lead):
        if y_in < ny:
            bits = bp_bits[y_in]
            # horizontal running maximum over [x - lo, x + hi] (zero outside the image)
            _copy(pad_i[lo : lo + nx], bits)
            h = ring_h[0, y_in % size_h]
            # doubling: maxima over windows of 2, 4, ... px, then two or three overlapping ones
            width = 1
            length = nx + span
            current = pad_i
            tier = 0
            while 3 * width < span + 1:
                doubled = doubling[tier % 2]
                tier += 1
                length -= width
                ahead = current[width : width + length]
                for x in range(length):
                    doubled[x] = max(current[x], ahead[x])
                current = doubled
                width *= 2
            middle = current[_middle_block(span + 1, width) :]
            ahead = current[span + 1 - width : span + 1 - width + nx]
            for x in range(nx):
                h[x] = max(max(current[x], middle[x]), ahead[x])
            # sum and count of trackpy's non-zero integer levels floor(bp * scale)
            row = bp[y_in]
            for start in range(0, nx, _INT32_SPAN):  # int32 partial sums vectorize twice as wide
                part = row[start : start + _INT32_SPAN]
                part_sum = np.int32(0)
                part_nonzero = np.int32(0)
                for x in range(part.shape[0]):
                    level = _level(part[x], scale, levels)
                    part_sum = np.int32(part_sum + level)  # numba widens int32 sums
                    part_nonzero = np.int32(part_nonzero + (level > 0))
                level_sum += part_sum
                n_nonzero += part_nonzero
            # horizontal distance to the nearest foreground pixel, capped at r + 1
            body = pad_u[r : r + nx]
            for x in range(nx):
                body[x] = bits[x] >= min_bits
            near = near_rows[y_in + r]
            _fill(near[:], cap)
            for d in range(r, -1, -1):
                left = pad_u[r - d : r - d + nx]
                right = pad_u[r + d : r + d + nx]
                dd = np.uint8(d)
                for x in range(nx):
                    hit = left[x] | right[x]
                    near[x] = near[x] - hit * (near[x] - dd)
            # vertical doubling: level j of row s is the maximum of rows s .. s + 2**j - 1
            width = 1
            for tier in range(1, n_levels):
                first = y_in - 2 * width + 1
                if first < 0:
                    break
                upper = ring_h[tier - 1, first % size_h]
                lower = ring_h[tier - 1, (first + width) % size_h]
                doubled_row = ring_h[tier, first % size_h]
                for x in range(nx):
                    doubled_row[x] = max(upper[x], lower[x])
                width *= 2
        y = y_in - lead
        if y < 0:
            continue
        # local maxima of row y: equal to the maximum of the box around them
        first = max(y - lo, 0)
        last = min(y + hi, ny - 1)
        tier = _block_tier(last - first + 1)  # two or three blocks of 2**tier rows
        if margin <= y <= ny - 1 - margin:
            width = 1 << tier
            middle = first + _middle_block(last - first + 1, width)
            upper = ring_h[tier, first % size_h, margin : nx - margin]
            middle_row = ring_h[tier, middle % size_h, margin : nx - margin]
            lower = ring_h[tier, (last - width + 1) % size_h, margin : nx - margin]
            bits = bp_bits[y, margin : nx - margin]
            inner = peaks[margin : nx - margin]  # peaks outside stay 0
            for x in range(inner.shape[0]):
                value = bits[x]
                window = max(max(upper[x], middle_row[x]), lower[x])
                inner[x] = (value > 0) & (value >= window)
            row = bp[y]
            # the words of 8 flags that hold a maximum, listed without a branch (a test per
            # word mispredicted at every one of the ~8 per row)
            n_words = 0
            for word in range(peak_words.shape[0]):
                words[n_words] = word
                n_words += peak_words[word] != 0
            for i in range(n_words):
                word = words[i]
                flag_bits = peak_words[word]
                while flag_bits:  # the flags of a word in raster order (little-endian bytes)
                    x = 8 * word + (trailing_zeros(flag_bits) >> 3)
                    flag_bits &= flag_bits - np.uint64(1)
                    # refine now, while the rows around y are in cache
                    cm_y, cm_x, mass, centre_y, centre_x = _centroid(
                        bp, y, x, r, max_iterations, half_widths
                    )
                    cand[n_cand, 0] = centre_y
                    cand[n_cand, 1] = centre_x
                    cand_float[n_cand, 0] = cm_y
                    cand_float[n_cand, 1] = cm_x
                    cand_float[n_cand, 2] = mass
                    cand_float[n_cand, 3] = row[x]
                    n_cand += 1
                    if mass > minmass:  # the percentile's test needs the dimmest peak of these
                        n_heavy += 1
                        min_heavy_peak = min(min_heavy_peak, np.float64(row[x]))
        # background: no foreground pixel within the circular mask (one loop, the mask's rows
        # unrolled; near_rows[y + k] is image row y + k - r)
        any_background = np.uint8(0)
        for i in range(nx):
            x = np.uint64(i)
            clear = np.uint8(1)
            for k in range(len(disk)):
                row = np.uint64(y + k)
                clear = np.uint8(clear & (near_rows[row, x] > np.uint8(disk[k])))
            flags[x] = clear
            any_background = np.uint8(any_background | clear)
        if any_background == 0:
            continue
        src_raw = raw[y]
        for word in range(flag_words.shape[0]):  # background pixels are rare: 8 flags at a time
            if flag_words[word] == 0:
                continue
            for x in range(8 * word, 8 * word + 8):
                if flags[x]:
                    value = np.float64(src_raw[x])
                    count += 1
                    total += value
                    total_sq += value * value
    return n_cand, count, total, total_sq, n_nonzero, level_sum, n_heavy, min_heavy_peak


@njit(cache=True, inline="always")
def _block_tier(length):
    """The smallest ``t`` whose blocks of ``2**t`` cover ``length`` in at most three."""
    tier = 0
    while 3 << tier < length:
        tier += 1
    return tier


@njit(cache=True, inline="always")
def _middle_block(length, width):
    """Start of the middle block when three of ``width`` cover ``length`` (0 if two do)."""
    return width if length > 2 * width else 0


@njit(cache=True, fastmath=True, inline="always")
def _level(value, scale, levels):
    """trackpy's integer level ``floor(bp * scale)`` (at most ``levels``) of a bandpass value.

    In int32 throughout: a minimum against the int64 ``levels`` widened every lane to int64,
    twice the vector instructions in the scan's level sums.
    """
    return min(np.int32(value * scale), np.int32(levels))


@njit(cache=True, fastmath=True)
def _histogram(bp, scale, levels, hist, lev):
    """Count the integer levels of the bandpass ``bp`` in ``hist`` (levels + 1 + spare bins)."""
    hist[:] = 0
    for y in range(bp.shape[0]):
        row = bp[y]
        for x in range(lev.shape[0]):
            # level 0 (background) goes to one of 16 spare bins so that the increments do not
            # queue on a single counter
            level = _level(row[x], scale, levels)
            lev[x] = level if level > 0 else levels + 1 + (x & (_SPARE_BINS - 1))
        for x in range(lev.shape[0]):
            hist[lev[x]] += 1


@njit(cache=True)
def _percentile_level(hist, percentile):
    """numpy's linear-interpolated percentile of the values counted in ``hist[1:]``."""
    total = 0
    for level in range(1, hist.shape[0]):
        total += hist[level]
    if total == 0:
        return np.nan
    rank = percentile / 100.0 * (total - 1)
    k_lo = int(math.floor(rank))
    k_hi = min(k_lo + 1, total - 1)
    v_lo = -1
    v_hi = -1
    seen = 0
    for level in range(1, hist.shape[0]):
        seen += hist[level]
        if v_lo < 0 and seen > k_lo:
            v_lo = level
        if seen > k_hi:
            v_hi = level
            break
    return v_lo + (v_hi - v_lo) * (rank - k_lo)


@njit(cache=True, fastmath=_NO_REASSOCIATION)
def _centroid(bp, coord_y, coord_x, radius, max_iterations, half_widths):
    """Iterative centre of mass in the circular mask (trackpy's refinement loop).

    The mask moves by one pixel along an axis while the centroid is more than 0.6 px off its
    centre on that axis. Returns (y, x, mass, mask centre y, mask centre x) of the last mask.
    Each mask row is summed outwards from its centre in symmetric pairs of pixels, in that
    order (no reassociation: LLVM's vector set-up for these 1-7 pixel loops cost more than
    the sums, and the pairs halve the loop's steps).
    """
    ny, nx = bp.shape
    cm_y = 0.0
    cm_x = 0.0
    mass = 0.0
    centre_y = coord_y
    centre_x = coord_x
    one = np.float32(1.0)
    for _ in range(max_iterations):
        centre_y = coord_y
        centre_x = coord_x
        centre = np.uint64(coord_x)  # unsigned: no negative-index checks
        sum_y = 0.0
        sum_x = 0.0
        mass = 0.0
        offset_y = np.float64(-radius)
        for k in range(2 * radius + 1):  # mask row by row
            row = bp[np.uint64(coord_y - radius + k)]
            row_mass = row[centre]  # a row is short: float32 sums, float64 totals
            row_moment = np.float32(0.0)
            offset_x = np.float32(0.0)
            for i in range(1, half_widths[k] + 1):
                offset_x += one
                left = row[centre - np.uint64(i)]
                right = row[centre + np.uint64(i)]
                row_mass += left + right
                row_moment += offset_x * (right - left)
            mass += row_mass
            sum_y += row_mass * offset_y
            sum_x += row_moment
            offset_y += 1.0
        off_y = sum_y / mass
        off_x = sum_x / mass
        cm_y = coord_y + off_y
        cm_x = coord_x + off_x
        if abs(off_y) < _SHIFT_THRESH and abs(off_x) < _SHIFT_THRESH:
            break
        if off_y > _SHIFT_THRESH:
            coord_y += 1
        elif off_y < -_SHIFT_THRESH:
            coord_y -= 1
        if off_x > _SHIFT_THRESH:
            coord_x += 1
        elif off_x < -_SHIFT_THRESH:
            coord_x -= 1
        coord_y = min(max(coord_y, radius), ny - radius - 1)
        coord_x = min(max(coord_x, radius), nx - radius - 1)
    return cm_y, cm_x, mass, centre_y, centre_x


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


# --------------------------------------------------------------------------------------------
# geometry shared by every call with the same parameters
# --------------------------------------------------------------------------------------------
class _Geometry:
    """Masks and kernels of one (radius, noise_size) pair, as trackpy builds them."""

    def __init__(self, radius: int, noise_size: float):
        offsets = np.arange(-radius, radius + 1)
        dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
        inside = dy**2 + dx**2 <= radius**2  # trackpy's binary_mask
        self.mask_y, self.mask_x = (a.astype(np.int64) for a in np.nonzero(inside))
        self.n_pixels = int(inside.sum())
        self.r2 = (dy**2 + dx**2)[inside].astype(np.float64)
        theta = np.arctan2(dy, dx)
        self.cos2 = np.cos(2 * theta)[inside]
        self.sin2 = np.sin(2 * theta)[inside]
        # half-width of each mask row (every row holds its centre pixel)
        self.half_widths = np.abs(np.where(inside, dx, 0)).max(axis=1).astype(np.int64)
        self.disk = tuple(int(half) for half in self.half_widths)  # for loops that unroll
        # sqrt(sum y^2 over the mask): trackpy's _root_sum_x_squared, for ep
        self.root_sum_y2 = float(np.sqrt((dy**2)[inside].sum()))
        if noise_size > 0:
            half = int(_GAUSS_TRUNCATE * noise_size + 0.5)
            taps = np.arange(-half, half + 1)
            kernel = np.exp(taps**2 / (-2 * noise_size**2))
            taps = (kernel / kernel.sum()).astype(np.float32)[: half + 1]
        else:
            taps = np.ones(1, dtype=np.float32)  # no noise filter: the image itself
        # outermost tap first, centre last (a tuple: the kernels unroll their loops over it)
        self.gauss = tuple(np.float32(tap) for tap in taps)


_GEOMETRY: dict[tuple[int, float], _Geometry] = {}
# the table's columns, built once: an Index from a list of names cost a third of the
# DataFrame's construction (pandas 3 infers their string dtype at every call)
_FEATURE_INDEX = pd.Index(COLUMNS[1:])
_TABLE_INDEX = pd.Index(COLUMNS)
_FRAME_PLACEMENT = np.array([0])  # where each block's columns go in the table
_FEATURE_PLACEMENT = np.arange(1, len(COLUMNS))
_THREAD_STATE = threading.local()
_histogram_loaded = False  # whether the histogram kernel ran in this process


def _geometry(radius: int, noise_size: float) -> _Geometry:
    key = (radius, noise_size)
    if key not in _GEOMETRY:
        _GEOMETRY[key] = _Geometry(radius, noise_size)
    return _GEOMETRY[key]


class _Workspace:
    """Scratch buffers of one thread for one frame shape and geometry (reused across frames)."""

    def __init__(self, key: tuple[tuple[int, int], np.dtype, int, int, int, int, int]):
        shape, dtype, lw, rb, lo, hi, r = key
        ny, nx = shape
        lead = max(hi, r)
        self.key = key
        self.bp = np.empty(shape, np.float32)
        self.bp_bits = self.bp.view(np.int32)
        # running column sums of the boxcar: exact in int32 for uint16 pixels (at most
        # 65535 * smoothing_size; larger sums and other pixels go to float64)
        wide = dtype != np.uint16 or 65535 * (2 * rb + 1) >= 2**31
        self.acc = np.empty(nx, np.float64 if wide else np.int32)
        self.v_pad = np.empty(nx + 2 * lw, np.float32)
        self.box_pad = np.empty(nx + 2 * rb, np.float32)
        self.hist = np.empty(_MAX_LEVELS + 1 + _SPARE_BINS, np.int32)
        # one row per local maximum (at most one per pixel); pages are touched only when used
        self.cand = np.empty((ny * nx, 2), np.int32)
        self.cand_float = np.empty((ny * nx, 4), np.float64)
        # horizontal maxima of the last rows, and their maxima over 2, 4, 8, ... rows
        n_levels = _block_tier(lo + hi + 1) + 1
        self.ring_h = np.empty((n_levels, lead + lo + 1, nx), np.int32)
        # distance to the nearest foreground pixel in each row, with r rows of margin
        self.near_rows = np.empty((ny + 2 * r, nx), np.uint8)
        self.pad_i = np.empty(nx + lo + hi, np.int32)
        self.doubling = np.empty((2, nx + lo + hi), np.int32)
        self.pad_u = np.empty(nx + 2 * r, np.uint8)
        self.peaks = np.empty(-(-nx // 8) * 8, np.uint8)  # local-maximum flags, whole words
        self.flags = np.empty(-(-nx // 8) * 8, np.uint8)  # background flags, whole words
        self.words = np.empty(len(self.peaks) // 8, np.int64)  # words holding a maximum
        self.lev = np.empty(nx, np.int32)


def _workspace(
    shape: tuple[int, int], dtype: np.dtype, lw: int, rb: int, lo: int, hi: int, r: int
) -> _Workspace:
    """This thread's workspace for frames of this shape and pixel type and these dimensions
    (threads never share buffers)."""
    key = (shape, dtype, lw, rb, lo, hi, r)
    work = getattr(_THREAD_STATE, "workspace", None)
    if work is None or work.key != key:
        work = _THREAD_STATE.workspace = _Workspace(key)
    return work


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
#: options of the fast engine beyond the shared detection parameters (trackpy's meaning)
FAST_PARAMS = frozenset(
    {"noise_size", "smoothing_size", "threshold", "maxsize", "topn", "max_iterations"}
)


def locate_fast(
    frame: np.ndarray,
    *,
    diameter: int = 7,
    minmass: float | None = None,
    separation: float | None = None,
    invert: bool = False,
    percentile: float = 64,
    frame_number: int = 0,
    noise_size: float = 1,
    smoothing_size: int | None = None,
    threshold: float | None = None,
    maxsize: float | None = None,
    topn: int | None = None,
    max_iterations: int = 10,
    as_columns: bool = False,
    **unknown: object,
) -> pd.DataFrame | dict[str, np.ndarray]:
    """Locate Gaussian-like spots in one 2-D frame, like ``trackpy.locate`` but faster.

    Parameters
    ----------
    frame : ndarray (Y, X)
        One image of any integer or float dtype (uint16 and float32 are used without a copy).
    diameter : int
        Odd feature diameter in pixels (>= 3); the mask radius is ``diameter // 2``.
    minmass : float, optional
        Keep features whose integrated bandpassed brightness is above this (default 0).
    separation : float, optional
        Minimum distance between features in pixels (default ``diameter + 1``).
    invert : bool
        Features are darker than the background.
    percentile : float
        Local maxima must be brighter than this percentile of the non-zero bandpassed pixels.
    frame_number : int
        Value of the ``frame`` column.
    noise_size : float
        Sigma of the Gaussian noise filter in pixels (0 disables it).
    smoothing_size : int, optional
        Odd side of the boxcar background filter (default ``diameter``).
    threshold : float, optional
        Bandpassed values below this become 0 (default 1 for integer, 1/255 for float images).
    maxsize : float, optional
        Keep features whose radius of gyration is below this.
    topn : int, optional
        Keep only the ``topn`` brightest features.
    max_iterations : int
        Maximum number of one-pixel moves of the mask during refinement.
    as_columns : bool
        Return the table's columns instead of a DataFrame (the live locator sends them as they
        are: building the DataFrame cost ~0.2 ms per frame, a sixth of locating a 512² frame).

    Returns
    -------
    DataFrame or dict of str to ndarray
        Columns ``frame, y, x, mass, size, ecc, signal, raw_mass, ep`` (:data:`COLUMNS`; ``frame``
        int64, the others float64), one row per feature in raster order of the local maxima (as
        trackpy orders them).

    Raises
    ------
    PyntaInputError
        If the frame is not a 2-D numeric image or a parameter is out of range or unknown.
    """
    if unknown:
        raise PyntaInputError(
            f"unknown parameter(s) for engine 'fast': {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(FAST_PARAMS))}"
        )
    plan = _plan(
        diameter,
        minmass,
        separation,
        invert,
        percentile,
        noise_size,
        smoothing_size,
        threshold,
        maxsize,
        topn,
        max_iterations,
    )
    frame_number = _validated_int("frame_number", frame_number, 0)
    image, integer_input, levels = _as_kernel_image(frame, plan.invert)
    features = _find_features(image, integer_input, levels, plan)
    if features is None:
        features = np.empty((0, len(COLUMNS) - 1))
    if plan.maxsize is not None:
        features = features[features[:, 3] < plan.maxsize]
    if plan.topn is not None and len(features) > plan.topn:
        features = features[np.sort(np.argsort(features[:, 2], kind="stable")[-plan.topn :])]
    if as_columns:
        columns = {"frame": np.full(len(features), frame_number, np.int64)}
        columns.update(zip(COLUMNS[1:], np.ascontiguousarray(features.T), strict=True))
        return columns
    if len(features) == 0:
        return empty_localizations()
    return _table(features, frame_number)


def _table(features: np.ndarray, frame_number: int) -> pd.DataFrame:
    """The localization table of ``features`` (n, 8: the columns after ``frame``), no copy.

    pandas stores a table as blocks of columns, one per dtype; from its two blocks the table
    is made in a third of the time of ``DataFrame`` plus ``insert`` (≈ 10 against 30 µs warm,
    ≈ 0.1 against 0.25 ms after another program's work left the caches cold, as in a live
    locator between frames).
    """
    n = len(features)
    frame = np.full((1, n), frame_number, np.int64)
    if _from_blocks is None:  # pandas 2
        table = pd.DataFrame(features, columns=_FEATURE_INDEX, copy=False)
        table.insert(0, "frame", frame[0])
        return table
    return _from_blocks(
        [(frame, _FRAME_PLACEMENT), (features.T, _FEATURE_PLACEMENT)],
        index=pd.RangeIndex(n),
        columns=_TABLE_INDEX,
    )


class _Plan(NamedTuple):
    """The checked parameters of a call and what follows from them alone."""

    radius: int
    separation: float
    smoothing: int
    noise_size: float
    minmass: float
    threshold: float | None  # None: the pixel type's default
    max_iterations: int
    maxsize: float | None
    topn: int | None
    invert: bool
    percentile: float
    geometry: _Geometry
    box_lo: int  # reach of the dilation box below and above a pixel
    box_hi: int
    margin: int  # trackpy's edge margin


def _plan(*params: Any) -> _Plan:
    """:func:`_make_plan`, remembered for the last parameter sets (a live locator repeats one:
    checking them again cost ≈ 0.05 ms per frame once other work had left the caches cold)."""
    try:
        return _remembered_plan(*params)
    except TypeError:  # an unhashable parameter (e.g. a 0-d array): checked, not remembered
        return _make_plan(*params)


def _make_plan(
    diameter: Any,
    minmass: Any,
    separation: Any,
    invert: Any,
    percentile: Any,
    noise_size: Any,
    smoothing_size: Any,
    threshold: Any,
    maxsize: Any,
    topn: Any,
    max_iterations: Any,
) -> _Plan:
    """Check the parameters of :func:`locate_fast` (in its order) and derive the geometry."""
    validate_detection_params(
        diameter=diameter,
        minmass=minmass,
        separation=separation,
        invert=invert,
        percentile=percentile,
    )
    diameter = int(diameter)
    if diameter > _MAX_DIAMETER:
        raise PyntaInputError(
            f"diameter must be <= {_MAX_DIAMETER} for engine 'fast', got {diameter}"
        )
    radius = diameter // 2
    separation = diameter + 1.0 if separation is None else float(separation)
    smoothing = (
        diameter if smoothing_size is None else _validated_int("smoothing_size", smoothing_size, 1)
    )
    if smoothing % 2 == 0:
        raise PyntaInputError(f"smoothing_size must be an odd integer, got {smoothing}")
    noise_size = require_number("noise_size", noise_size, minimum=0, maximum=smoothing - 1e-9)
    if threshold is not None:
        threshold = require_number("threshold", threshold)  # < 0 acts as 0
    max_iterations = _validated_int("max_iterations", max_iterations, 1)
    if maxsize is not None:
        maxsize = require_number("maxsize", maxsize, minimum=0)
    if topn is not None:
        topn = _validated_int("topn", topn, 1)
    box_lo, box_hi = _dilation_window(separation)
    return _Plan(
        radius=radius,
        separation=separation,
        smoothing=smoothing,
        noise_size=noise_size,
        minmass=0.0 if minmass is None else float(minmass),
        threshold=threshold,
        max_iterations=max_iterations,
        maxsize=maxsize,
        topn=topn,
        invert=bool(invert),
        percentile=float(percentile),
        geometry=_geometry(radius, noise_size),
        box_lo=box_lo,
        box_hi=box_hi,
        margin=max(radius, int(separation) // 2 - 1, smoothing // 2),
    )


# typed: 1, 1.0 and True are different keys (a boolean diameter must still be refused)
_remembered_plan = functools.lru_cache(maxsize=16, typed=True)(_make_plan)


def _find_features(
    image: np.ndarray, integer_input: bool, levels: int, plan: _Plan
) -> np.ndarray | None:
    """Run the kernels: features above ``minmass``, one row each (:data:`COLUMNS` but frame)."""
    global _histogram_loaded
    geometry = plan.geometry
    radius, separation, smoothing = plan.radius, plan.separation, plan.smoothing
    noise_size, percentile, minmass = plan.noise_size, plan.percentile, plan.minmass
    if plan.threshold is not None:
        threshold = plan.threshold
    else:
        threshold = 1.0 if integer_input else 1 / 255.0
    box_lo, box_hi = plan.box_lo, plan.box_hi
    work = _workspace(
        image.shape,
        image.dtype,
        len(geometry.gauss) - 1,
        smoothing // 2,
        box_lo,
        box_hi,
        radius,
    )
    peak_bits = _bandpass(
        image,
        geometry.gauss,
        (0,) * (smoothing // 2 + 1),
        np.float32(threshold),
        integer_input,
        work.bp,
        work.bp_bits,
        work.acc,
        work.v_pad,
        work.box_pad,
    )
    peak = float(np.int32(peak_bits).view(np.float32))
    if not peak > 0:
        return None
    scale = levels / peak
    # trackpy's "non-zero" pixels of the rescaled bandpass are those with floor(bp*scale) >= 1
    min_bits = np.float32(1.0 / scale).view(np.int32)
    n_cand, n_background, bg_sum, bg_sum_sq, n_nonzero, level_sum, n_heavy, min_heavy_peak = _scan(
        work.bp,
        work.bp_bits,
        image,
        np.float32(scale),
        box_lo,
        box_hi,
        plan.margin,
        min_bits,
        geometry.half_widths,
        geometry.disk,
        plan.max_iterations,
        levels,
        work.cand,
        work.cand_float,
        work.ring_h,
        work.near_rows,
        work.pad_i,
        work.doubling,
        work.pad_u,
        work.peaks,
        work.flags,
        work.words,
        minmass,
    )
    if not n_heavy or not n_nonzero:  # none above minmass, or trackpy's percentile is NaN
        return None
    # The exact percentile needs a histogram of every pixel's level (a pass over the image).
    # An upper bound of it from the level sum does when every candidate above minmass is
    # brighter than the bound: the exact threshold then keeps all of them too.
    # The first call of a process always makes the histogram, so that a worker's warm-up
    # compiles (or loads) its kernel too, not a live frame later.
    min_peak = (_percentile_level_bound(n_nonzero, level_sum, percentile) + 1) / scale
    if min_heavy_peak < min_peak or not _histogram_loaded:
        hist = work.hist[: levels + 1 + _SPARE_BINS]
        _histogram(work.bp, np.float32(scale), levels, hist, work.lev)
        _histogram_loaded = True
        level = _percentile_level(hist[: levels + 1], percentile)
        min_peak = (math.floor(level) + 1) / scale
    # trackpy keeps maxima whose integer level floor(bp * scale) exceeds the percentile level.
    # Features at or below minmass are dropped before the duplicate removal, unlike trackpy,
    # with the same result: of two close features the dimmer one goes, so a feature at or
    # below minmass can never remove one above it.
    refined = _select_features(
        image,
        work.bp,
        work.cand,
        work.cand_float,
        n_cand,
        min_peak,
        minmass,
        radius,
        separation,
        geometry.mask_y,
        geometry.mask_x,
        geometry.r2,
        geometry.cos2,
        geometry.sin2,
        *_mean_and_std(n_background, bg_sum, bg_sum_sq),
        geometry.n_pixels,
        noise_size,
        geometry.root_sum_y2,
    )
    if len(refined) == 0:
        return None
    return refined


def _as_kernel_image(frame: np.ndarray, invert: bool) -> tuple[np.ndarray, bool, int]:
    """Return (image for the kernels, integer input?, number of rescaling levels)."""
    image = np.asarray(frame)
    if image.ndim != 2 or min(image.shape) < 1:
        raise PyntaInputError(
            f"frame must be a non-empty 2-D image (Y, X), got shape {image.shape}"
        )
    if image.dtype.kind not in "uif":
        raise PyntaInputError(f"frame must hold integers or floats, got dtype {image.dtype}")
    integer_input = image.dtype.kind in "ui"
    if invert:  # trackpy's invert_image
        image = image ^ np.iinfo(image.dtype).max if integer_input else 1 - image
    # trackpy rescales the bandpass to the integer range of the input (uint8 for floats)
    levels = min(np.iinfo(image.dtype).max, _MAX_LEVELS) if integer_input else 255
    if image.dtype == np.uint8:
        image = image.astype(np.uint16)  # exact; one compiled kernel set fewer
    elif image.dtype != np.uint16:
        image = image.astype(np.float32, copy=False)  # the kernels compute in float32 anyway
    return np.ascontiguousarray(image), integer_input, levels


def _percentile_level_bound(n_nonzero: int, level_sum: int, percentile: float) -> int:
    """An integer at least the floor of :func:`_percentile_level`, from the levels' sum alone.

    The percentile lies between the sorted non-zero levels ``v[k_lo]`` and ``v[k_hi]``
    (numpy's interpolation), and ``n - k_hi`` levels are at least ``v[k_hi]``, so
    ``v[k_hi] <= level_sum // (n - k_hi)`` (levels are non-negative integers).
    """
    k_lo = int(math.floor(percentile / 100.0 * (n_nonzero - 1)))
    k_hi = min(k_lo + 1, n_nonzero - 1)
    return int(level_sum) // (n_nonzero - k_hi)


def _validated_int(name: str, value: Any, minimum: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, (bool, np.bool_)) or not number.is_integer() or number < minimum:
        raise PyntaInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(number)


def _mean_and_std(count: int, total: float, total_sq: float) -> tuple[float, float]:
    """Mean and (population) standard deviation from running sums; NaN where undefined."""
    if count == 0:
        return math.nan, math.nan
    mean = total / count
    if count == 1:
        return mean, math.nan
    return mean, math.sqrt(max(total_sq / count - mean * mean, 0.0))


def _dilation_window(separation: float) -> tuple[int, int]:
    """Reach (below, above) of trackpy's dilation box, the largest square in the circle."""
    side = int(2 * separation / math.sqrt(2))
    if side < 1:
        return 0, 0
    return (side - 1) // 2, side // 2


def warm_up(dtypes: tuple[type, ...] = (np.uint16,)) -> None:
    """Compile (or load from numba's cache) the kernels for frames of ``dtypes``.

    Call once at start-up of a worker so that the first live frame is not slowed by the JIT.
    """
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    spot = 50 * np.exp(-((yy - 20.3) ** 2 + (xx - 25.6) ** 2) / 3.0)
    for dtype in dtypes:
        scale = 1.0 / 255 if np.dtype(dtype).kind == "f" else 1.0
        image = ((10 + spot + rng.normal(0, 2, spot.shape)).clip(0) * scale).astype(dtype)
        locate_fast(image, diameter=7)
