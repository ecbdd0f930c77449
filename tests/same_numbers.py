"""Compare results of two routes through the pipeline that must agree.

Two routes to the same result (a movie detected whole or in chunks, on this process or on a dask
worker) run the same arithmetic on the same numbers, but not always to the last bit: BLAS and
numpy's SIMD kernels may sum in another order on another CPU or memory alignment (seen once in CI:
the drift, and so every size, differed in the tenth digit). These helpers accept that and nothing
more.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

#: relative difference two routes' floats may have. The CI case differed by up to 3e-9 in sizes
#: and 3e-8 in small differences of sums (step correlations); a real difference (a frame lost at a
#: chunk's edge, a track cut) moves results by far more than 1e-7.
REL_TOL = 1e-7
#: absolute difference allowed for values near zero (correlations, drifts), where a relative one
#: means nothing
ABS_TOL = 1e-9


def assert_same_numbers(actual: Any, expected: Any, path: str = "") -> None:
    """Assert that two JSON-like values (dicts, lists, numbers, text) agree, floats to
    :data:`REL_TOL` (:data:`ABS_TOL` near zero); ``path`` names the differing entry."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not a dict"
        assert actual.keys() == expected.keys(), f"{path}: {actual.keys()} != {expected.keys()}"
        for key, value in expected.items():
            assert_same_numbers(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple) and len(actual) == len(expected), (
            f"{path}: {actual!r} != {expected!r}"
        )
        for index, (got, value) in enumerate(zip(actual, expected, strict=True)):
            assert_same_numbers(got, value, f"{path}[{index}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert isinstance(actual, int | float), f"{path}: {actual!r} is not a number"
        same = (math.isnan(expected) and math.isnan(actual)) or math.isclose(
            actual, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL
        )
        assert same, f"{path}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def assert_same_table(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Assert two tables agree: same columns, index and types, floats as in
    :func:`assert_same_numbers`."""
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=REL_TOL, atol=ABS_TOL)
