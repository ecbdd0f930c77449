"""The robust-statistics constant shared by detection, linking and timing."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from napari_pynta.robust import MAD_TO_SD


def test_mad_to_sd_turns_the_median_absolute_deviation_of_normal_draws_into_their_sd():
    assert MAD_TO_SD == pytest.approx(1 / NormalDist().inv_cdf(0.75), rel=1e-4)
    draws = np.random.default_rng(5).normal(3.0, 2.5, 200_000)
    mad = np.median(np.abs(draws - np.median(draws)))
    assert MAD_TO_SD * mad == pytest.approx(2.5, rel=0.01)
