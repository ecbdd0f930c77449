"""Sample options shared by `pynta acquire` and `pynta analyze` (:mod:`napari_pynta.sample`)."""

from __future__ import annotations

import argparse
from typing import Any

from napari_pynta.sample import validate_sample

#: sample options: (flag, sample field, type, help); they override the values stored with a movie
SAMPLE_OPTIONS = (
    ("--sample", "sample_name", str, "sample name"),
    ("--operator", "operator", str, "who measured the sample"),
    ("--diluent", "diluent", str, "what the sample was diluted in"),
    (
        "--dilution",
        "dilution_factor",
        float,
        "dilution factor of the measured suspension (100 = diluted 1:100): concentrations of "
        "the sample are the measured ones times this factor",
    ),
    ("--remarks", "remarks", str, "free-text remarks"),
)


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the sample options (:data:`SAMPLE_OPTIONS`); `pynta acquire` shares them."""
    group = parser.add_argument_group("sample (stored with the recording)")
    for flag, name, kind, text in SAMPLE_OPTIONS:
        group.add_argument(flag, dest=name, type=kind, default=None, help=text)


def sample_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The sample fields given on the command line (those not given left out), validated.

    Raises
    ------
    PyntaInputError
        For a bad value (e.g. ``--dilution 0.5``), before any work is done.
    """
    return validate_sample({name: getattr(args, name) for _, name, _, _ in SAMPLE_OPTIONS})
