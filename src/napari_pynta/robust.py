"""Robust statistics shared by the detection, the linker and the frame timing."""

from __future__ import annotations

#: the median absolute deviation times this is the standard deviation of a normal law
#: (1 / the normal's 75th percentile, 1.48260...)
MAD_TO_SD = 1.4826
#: the standard error of the median of n normal values is this times their standard deviation
#: over sqrt(n) (sqrt(pi / 2), 1.25331...)
MEDIAN_SE_FACTOR = 1.2533
