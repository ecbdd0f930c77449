"""The localization table every engine returns, and the checks shared by all engines.

Every engine returns the same table (trackpy's columns, see :data:`LOCALIZATION_COLUMNS`), so the
linker, the sizer and the GUI never need to know which engine produced it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_pynta.errors import PyntaInputError
from napari_pynta.parameters import SETTINGS

#: columns of a localization table, in this order (``frame`` is int64, the others float64)
LOCALIZATION_COLUMNS = ("frame", "y", "x", "mass", "size", "ecc", "signal", "raw_mass", "ep")


def as_detected(image: np.ndarray, invert: bool) -> np.ndarray:
    """``image`` as the engines see it: with ``invert`` (dark features on a bright field) the
    features made bright, like trackpy's ``invert_image`` (integers XOR their dtype's top value,
    floats ``1 - image``); without, ``image`` itself."""
    if not invert:
        return image
    if np.issubdtype(image.dtype, np.integer):
        return image ^ np.iinfo(image.dtype).max
    return 1 - image


def empty_localizations() -> pd.DataFrame:
    """Return an empty localization table with the standard columns and dtypes."""
    return standardize(pd.DataFrame(columns=list(LOCALIZATION_COLUMNS)), frame_number=0)


def is_standard(features: pd.DataFrame) -> bool:
    """True if ``features`` already has the standard columns, dtypes and a 0..n-1 index."""
    index = features.index
    return (
        tuple(features.columns) == LOCALIZATION_COLUMNS
        and isinstance(index, pd.RangeIndex)
        and index.start == 0
        and index.step == 1
        and all(
            dtype == (np.int64 if name == "frame" else np.float64)
            for name, dtype in zip(LOCALIZATION_COLUMNS, features.dtypes, strict=False)
        )
    )


def standardize(features: pd.DataFrame, frame_number: int) -> pd.DataFrame:
    """Give an engine's output the standard columns, order and dtypes, and set ``frame``."""
    if is_standard(features):  # e.g. the fast engine's table: 4x cheaper than rebuilding it
        features["frame"] = np.int64(frame_number)
        return features
    table = features.reindex(columns=LOCALIZATION_COLUMNS[1:]).astype(np.float64)
    table.insert(0, "frame", np.full(len(table), frame_number, dtype=np.int64))
    return table.reset_index(drop=True)


def validate_detection_params(
    *,
    diameter: int,
    minmass: float | None,
    separation: float | None,
    invert: bool,
    percentile: float,
) -> None:
    """Check the detection parameters shared by all engines against
    :data:`napari_pynta.parameters.SETTINGS` (the engine name is checked by
    :func:`napari_pynta.detect.get_engine`); messages use the keyword names of ``locate``.

    Raises
    ------
    PyntaInputError
        Naming the first bad parameter and what is allowed.
    """
    SETTINGS["diameter_px"].check(diameter, name="diameter")
    SETTINGS["minmass"].check(minmass, name="minmass")
    SETTINGS["separation"].check(separation, name="separation")
    SETTINGS["invert"].check(invert, name="invert")
    SETTINGS["percentile"].check(percentile, name="percentile")


def as_frame(frame: Any) -> np.ndarray:
    """Return ``frame`` as a 2-D real-valued numpy array or raise :class:`PyntaInputError`."""
    array = np.asarray(frame)
    if array.ndim != 2 or array.size == 0:
        raise PyntaInputError(
            f"frame must be a 2-D image (Y, X) of at least 1 x 1 px, got shape {array.shape}"
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise PyntaInputError(f"frame must hold integers or floats, got dtype {array.dtype}")
    return array
