"""Robust statistics shared by the detection, the linker and the frame timing."""

from __future__ import annotations

#: the median absolute deviation times this is the standard deviation of a normal law
#: (1 / the normal's 75th percentile, 1.48260...)
MAD_TO_SD = 1.4826
