"""`pynta keys DIR`: make the CURVE keys that let chosen viewers watch a pipeline over tcp."""

from __future__ import annotations

import argparse

from napari_pynta.cli import path_argument

HELP = (
    "Make a key directory for `pynta acquire --host HOST --keys DIR`: the pipeline's key pair, "
    "one viewer key pair, and authorized/ listing the viewers allowed to connect."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `pynta keys`."""
    parser.add_argument(
        "directory", metavar="DIR", type=path_argument, help="a new or empty folder for the keys"
    )


def run(args: argparse.Namespace) -> int:
    """Run `pynta keys`; returns 0."""
    from napari_pynta.errors import pynta_command
    from napari_pynta.live.keys import make_keys

    path = make_keys(args.directory)
    print(
        f"keys made in {path}: serve with "
        f"{pynta_command('acquire', path, '--host', 'HOST', '--keys')}; give a "
        f"viewer {path / 'server.key'}, {path / 'client.key'} and {path / 'client.key_secret'}; "
        f"allow more viewers by copying their client.key into {path / 'authorized'}"
    )
    return 0
