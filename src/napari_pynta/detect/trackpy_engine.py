"""The ``"trackpy"`` engine: :func:`trackpy.locate` (Crocker–Grier, centroid refinement)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import trackpy

from napari_pynta.errors import PyntaInputError

#: extra keyword arguments the trackpy engine accepts (passed on to :func:`trackpy.locate`)
TRACKPY_PARAMS = frozenset(
    {
        "maxsize",
        "noise_size",
        "smoothing_size",
        "threshold",
        "topn",
        "preprocess",
        "max_iterations",
        "characterize",
    }
)


def locate_trackpy(
    frame: np.ndarray,
    *,
    diameter: int,
    minmass: float | None,
    separation: float | None,
    invert: bool,
    percentile: float,
    **engine_params: Any,
) -> pd.DataFrame:
    """Localize with :func:`trackpy.locate` (Crocker–Grier with iterative centroid refinement)."""
    unknown = sorted(set(engine_params) - TRACKPY_PARAMS)
    if unknown:
        raise PyntaInputError(
            f"unknown parameter(s) for engine 'trackpy': {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(TRACKPY_PARAMS))}"
        )
    # a feature of zero mass (a flat frame, ``minmass=None``) gets an infinite ``ep``: trackpy
    # divides the noise by the mass, which is not a problem worth a warning either
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        # an empty (black) frame or a tiny test frame is not a problem worth a warning
        warnings.filterwarnings("ignore", message="Image is completely black")
        warnings.filterwarnings("ignore", message="I am interpreting the image as")
        warnings.filterwarnings("ignore", message="No maxima survived")
        return trackpy.locate(
            frame,
            diameter,
            minmass=minmass,
            separation=separation,
            invert=invert,
            percentile=percentile,
            **engine_params,
        )
