"""`pynta simulate` (being written)."""
from __future__ import annotations

import argparse

HELP = "simulate (not available yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `pynta simulate`."""


def run(args: argparse.Namespace) -> int:
    """Run `pynta simulate`."""
    raise NotImplementedError("pynta simulate is not available yet")
