"""Exceptions shared by every part of napari-pynta, and the checks that raise them.

The checks name the field they refuse (``name``); a front end that spells the field differently
(a CLI flag, a form label) passes its own spelling or maps :attr:`PyntaInputError.field`.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping, Sequence
from numbers import Integral
from pathlib import Path


class PyntaInputError(ValueError):
    """Bad user input: the message names the field and what is allowed.

    Parameters
    ----------
    message : str
        What is wrong and what is allowed, starting with the field's name when there is one.
    field : str, optional
        The refused field (e.g. ``"min_track_length"``), so that a front end can name it its own
        way (``pynta analyze`` says ``--min-track-length``).
    others : tuple of str
        Further fields the message names (``"exposure_s ... must not exceed frame_interval_s"``),
        which a front end respells wherever they appear.
    """

    def __init__(
        self, message: str, field: str | None = None, others: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.field = field
        self.others = others


class PyntaDataError(RuntimeError):
    """Data that cannot be read or that is not what the analysis needs.

    Parameters
    ----------
    message : str
        What is wrong with the data, and what the user can do.
    others : tuple of str
        Fields the message names (``frame_range`` in the advice to analyse the readable part of
        a damaged store), which a front end respells wherever they appear (:func:`named_message`).
    """

    def __init__(self, message: str, others: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.others = others


def listed(words: Sequence[str]) -> str:
    """``words`` as a sentence lists them: ``a``, ``a and b``, ``a, b and c``."""
    *others, last = words
    return f"{', '.join(others)} and {last}" if others else last


def verify_command(store: str | Path, read_pixels: bool = False) -> str:
    """The `pynta verify` a message about a damaged store advises (:func:`pynta_command`).

    Parameters
    ----------
    store : str or Path
        The store.
    read_pixels : bool
        Advise ``--read-pixels`` (decode every frame).
    """
    return pynta_command("verify", store, *(["--read-pixels"] if read_pixels else []))


def analyze_command(store: str | Path, start: int, stop: int) -> str:
    """The `pynta analyze` of frames ``start:stop`` that a damaged store's advice gives
    (:func:`pynta_command`)."""
    return pynta_command("analyze", store, f"--frames={start}:{stop}")


def pynta_command(command: str, store: str | Path, *options: str) -> str:
    """The ``pynta COMMAND OPTIONS STORE`` a message advises, in backticks, the store's path
    quoted as a shell needs it (a path with spaces or quotes pasted as it is runs another
    command; one starting with "-" is read as an option: it gets "./"): every command advice
    is built here."""
    path = str(store)
    if path.startswith("-"):  # shlex.quote leaves it as it is
        path = f"./{path}"
    return f"`pynta {' '.join([command, *options])} {shlex.quote(path)}`"


def invalid_scale_text(given: str, quantity: str, flag: str) -> str:
    """The warning of a reader for a pixel size or frame interval a file gives that is not a
    positive number: ``given`` (the file and its value), that it was ignored and the ``flag``
    that sets it (so that analyze's refusal for want of the value names it)."""
    return f"{given}, not a positive {quantity}: it was ignored; set {flag}"


def named_message(error: BaseException, names: Mapping[str, str]) -> str:
    """The error's message, naming its fields the way a front end names them.

    An error about a field names it first (:attr:`PyntaInputError.field`) and may name others
    anywhere (:attr:`PyntaInputError.others`); on the command line the user knows the flags
    (``min_track_length`` -> ``--min-track-length``).

    Parameters
    ----------
    error : BaseException
        The error; one without fields keeps its message as it is.
    names : mapping of str to str
        Field name -> the name the user knows; fields not in it keep their name.

    Returns
    -------
    str
        The message with the fields renamed.
    """
    text = str(error)
    field = getattr(error, "field", None)
    if isinstance(field, str) and field in names and text.startswith(field):
        text = names[field] + text[len(field) :]
    for other in getattr(error, "others", ()):
        if other in names:
            text = re.sub(rf"\b{re.escape(other)}\b", names[other], text)
    return text


def _range_text(
    minimum: float | None,
    maximum: float | None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> str:
    """``">= 0"``, ``"> 0"``, ``"in [0, 100)"``, ... (empty without limits)."""
    if minimum is not None and maximum is not None:
        left, right = "(" if exclusive_minimum else "[", ")" if exclusive_maximum else "]"
        return f"in {left}{minimum:g}, {maximum:g}{right}"
    if minimum is not None:
        return f"{'>' if exclusive_minimum else '>='} {minimum:g}"
    if maximum is not None:
        return f"{'<' if exclusive_maximum else '<='} {maximum:g}"
    return ""


def _allowed(what: str, limits: str, unit: str) -> str:
    return " ".join(part for part in (what, limits, f"({unit})" if unit else "") if part)


def require_number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
    unit: str = "",
    field: str | None = None,
) -> float:
    """Return ``value`` as a finite float within the limits, or raise :class:`PyntaInputError`.

    Parameters
    ----------
    name : str
        How the message names the value (a field name, a CLI flag or a form label).
    value : object
        The value to check (booleans and text are refused).
    minimum, maximum : float, optional
        Limits, inclusive unless ``exclusive_minimum`` / ``exclusive_maximum``.
    unit : str
        Unit shown in the message.
    field : str, optional
        The field refused (:attr:`PyntaInputError.field`); ``name`` by default.

    Returns
    -------
    float
        The validated value.
    """
    field = field or name
    if value is None:
        raise PyntaInputError(f"{name} is required but missing", field)
    try:
        if isinstance(value, bool | str | bytes):
            # text is refused too: "0.1" in a hand-edited zarr.json passed the check, then
            # broke everything that printed or computed with the unconverted value
            raise TypeError("a boolean or text is not a number")
        number = float(value)  # type: ignore[arg-type]  # anything float() takes
    except (TypeError, ValueError):
        raise PyntaInputError(f"{name} must be a number, got {value!r}", field) from None
    if not math.isfinite(number):
        raise PyntaInputError(f"{name} must be a finite number, got {value!r}", field)
    if (
        (minimum is not None and (number <= minimum if exclusive_minimum else number < minimum))
        or maximum is not None
        and (number >= maximum if exclusive_maximum else number > maximum)
    ):
        limits = _range_text(minimum, maximum, exclusive_minimum, exclusive_maximum)
        raise PyntaInputError(f"{name} must be {_allowed('', limits, unit)}, got {value!r}", field)
    return number


def require_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (>= 0 with ``allow_zero``), else raise.

    Parameters
    ----------
    name : str
        The user-facing name of the field (a field name, CLI flag or metadata key).
    value : object
        The value to check.
    allow_zero : bool
        Accept 0 as well as positive values.

    Returns
    -------
    float
        The validated value.
    """
    return require_number(name, value, minimum=0.0, exclusive_minimum=not allow_zero)


def require_int(
    name: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    odd: bool = False,
    unit: str = "",
    field: str | None = None,
) -> int:
    """Return ``value`` as an int within the limits, or raise :class:`PyntaInputError`.

    Booleans and floats (even whole ones) are refused: a count is an integer.

    Parameters
    ----------
    name : str
        How the message names the value.
    value : object
        The value to check (Python or numpy integer).
    minimum, maximum : int, optional
        Inclusive limits.
    odd : bool
        Require an odd number.
    unit : str
        Unit shown in the message.
    field : str, optional
        The field refused (:attr:`PyntaInputError.field`); ``name`` by default.

    Returns
    -------
    int
        The validated value.
    """
    number = int(value) if isinstance(value, Integral) and not isinstance(value, bool) else None
    if (
        number is None
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
        or (odd and number % 2 == 0)
    ):
        what = "an odd integer" if odd else "an integer"
        limits = (
            f"in {minimum}..{maximum}"
            if minimum is not None and maximum is not None
            else _range_text(minimum, maximum)
        )
        raise PyntaInputError(
            f"{name} must be {_allowed(what, limits, unit)}, got {value!r}", field or name
        )
    return number
