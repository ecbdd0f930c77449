"""Exceptions shared by every part of napari-pynta."""

from __future__ import annotations


class PyntaInputError(ValueError):
    """Bad user input: the message names the field and what is allowed."""


class PyntaDataError(RuntimeError):
    """Data that cannot be read or that is not what the analysis needs."""


def require_positive(name: str, value: float | None, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float, or raise :class:`PyntaInputError` naming ``name``.

    Parameters
    ----------
    name : str
        The user-facing name of the field (a CLI flag or metadata key).
    value : float or None
        The value to check.
    allow_zero : bool
        Accept 0 as well as positive values.

    Returns
    -------
    float
        The validated value.
    """
    if value is None:
        raise PyntaInputError(f"{name} is required but missing")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PyntaInputError(f"{name} must be a number, got {value!r}") from None
    if not number == number or number in (float("inf"), float("-inf")):
        raise PyntaInputError(f"{name} must be a finite number, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        allowed = ">= 0" if allow_zero else "> 0"
        raise PyntaInputError(f"{name} must be {allowed}, got {value!r}")
    return number
