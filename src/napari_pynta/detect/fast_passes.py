"""The fast engine's passes over the whole image, as numba kernels: the band pass, the scan
for local maxima (with their refinement and the background sums) and the histogram of levels
for the exact percentile (steps 1-3 of :mod:`napari_pynta.detect.fast`).

Inner loops run over whole rows through 1-D views so that LLVM vectorizes them; maxima are
taken on the int32 bit patterns of the non-negative float32 bandpass (same order, and integer
max vectorizes where float max does not). Every kernel and constant these kernels use is
defined in this file (numba's cache: see :mod:`napari_pynta.detect.fast`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import overload

_SHIFT_THRESH = 0.6  # px; trackpy's refine_com default
_SPARE_BINS = 16  # extra histogram bins (a power of 2) that absorb the zeros (see _scan)
# fast-math but additions in the written order: the bandpass adds its taps in a fixed order
# (that of trackpy's passes, one per tap), whatever LLVM makes of the fused loops
_NO_REASSOCIATION = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
_INT32_SPAN = 16384  # pixels whose levels (at most 65535 each) an int32 sum holds


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
