"""`pynta verify STORE`: check a recording for damage; exit 1 if anything is wrong, 2 if STORE is
missing or is not a pynta store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from napari_pynta.cli import path_argument

HELP = (
    "Check a pynta store: seq contiguous, every frame's data on disk, metadata valid, timestamps "
    "finite, tables readable. Prints one line per problem, then which frames can be analysed "
    "and the `pynta analyze --frames` that analyses them, and exits 1 if there is any problem, "
    "2 if STORE is missing or is not a pynta store; times that go back (a camera clock that "
    "jumped) are a note."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `pynta verify`."""
    parser.add_argument(
        "store", metavar="STORE", type=path_argument, help="the pynta .zarr store to check"
    )
    parser.add_argument(
        "--read-pixels",
        action="store_true",
        help="also decode every frame (reads the whole movie)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace) -> int:
    """Run `pynta verify`; returns 0 for a sound store, 1 for a damaged one (2, through the
    PyntaDataError that :func:`napari_pynta.cli.main` turns into the exit code, when STORE is
    missing or is not a pynta store; with ``--json`` that refusal is printed as
    :func:`json_refusal`'s object too)."""
    from napari_pynta.verify import verify_store

    report = verify_store(args.store, read_pixels=args.read_pixels)
    if args.json:
        print(json.dumps(report.to_dict()))
    elif report.ok:
        so_far = (
            " (being written by another process: the frames written so far were checked)"
            if report.being_written
            else ""
        )
        print(f"{report.path}: ok, {report.n_frames} frames{so_far}")
    else:
        for problem in report.problems:
            print(f"{report.path}: {problem.kind}: {problem.message}")
        if report.advice is not None:
            print(f"{report.path}: {report.advice}")
    if not args.json:
        for note in report.notes:
            print(f"{report.path}: note: {note.kind}: {note.message}")
    return 0 if report.ok else 1


def json_refusal(message: str, args: argparse.Namespace | None) -> dict[str, Any]:
    """What ``pynta verify --json`` prints on stdout when it refuses its input (STORE missing or
    no pynta store, or the command line itself, ``args`` None): the report's keys, ``ok`` false
    and ``error`` the message it also writes to stderr."""
    from napari_pynta.verify import refusal_to_dict

    return refusal_to_dict(None if args is None else args.store, message)
