"""`pynta acquire` (being written)."""
from __future__ import annotations

import argparse

HELP = "acquire (not available yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `pynta acquire`."""


def run(args: argparse.Namespace) -> int:
    """Run `pynta acquire`."""
    raise NotImplementedError("pynta acquire is not available yet")
