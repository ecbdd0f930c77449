"""`pynta analyze` (being written)."""
from __future__ import annotations

import argparse

HELP = "analyze (not available yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `pynta analyze`."""


def run(args: argparse.Namespace) -> int:
    """Run `pynta analyze`."""
    raise NotImplementedError("pynta analyze is not available yet")
