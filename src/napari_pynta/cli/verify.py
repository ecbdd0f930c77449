"""`pynta verify STORE`: check a recording (or every capture of a measurement folder) for damage;
exit 1 if anything is wrong, 2 if STORE is missing or is not a pynta store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from napari_pynta.cli import path_argument
from napari_pynta.errors import PyntaDataError

HELP = (
    "Check a pynta store: seq contiguous, every frame's data on disk, metadata valid, timestamps "
    "finite, tables readable. Prints one line per problem, then which frames can be analysed "
    "and the `pynta analyze --frames` that analyses them, and exits 1 if there is any problem, "
    "2 if STORE is missing or is not a pynta store; times that go back (a camera clock that "
    "jumped) are a note. STORE may be a measurement folder: every capture its "
    "measurement.json lists is checked, and a listed capture missing on disk is a problem."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `pynta verify`."""
    parser.add_argument(
        "store",
        metavar="STORE",
        type=path_argument,
        help="the pynta .zarr store to check, or a measurement folder (every capture)",
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
    :func:`json_refusal`'s object too). A measurement folder is checked capture by capture: 1 if
    any capture is damaged or missing on disk, with ``--json`` one object listing each
    capture's report."""
    from napari_pynta.measurement import capture_paths, is_measurement
    from napari_pynta.verify import refusal_to_dict, verify_store

    if not is_measurement(args.store):
        report = verify_store(args.store, read_pixels=args.read_pixels)
        if args.json:
            print(json.dumps(report.to_dict()))
        else:
            _print_report(report)
        return 0 if report.ok else 1
    reports: list[dict[str, Any]] = []
    for capture in capture_paths(args.store):
        try:
            report = verify_store(capture, read_pixels=args.read_pixels)
        except PyntaDataError as error:  # listed in measurement.json, but gone or not a store
            reports.append(refusal_to_dict(capture, str(error)))
            if not args.json:
                print(f"{capture}: missing: {error}")
            continue
        reports.append(report.to_dict())
        if not args.json:
            _print_report(report)
    ok = all(report["ok"] for report in reports)
    if args.json:
        print(json.dumps({"path": str(args.store), "ok": ok, "captures": reports}))
    return 0 if ok else 1


def _print_report(report: Any) -> None:
    """Print one store's report: ok with its frames, or a line per problem and the advice; then
    its notes."""
    if report.ok:
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
    for note in report.notes:
        print(f"{report.path}: note: {note.kind}: {note.message}")


def json_refusal(message: str, args: argparse.Namespace | None) -> dict[str, Any]:
    """What ``pynta verify --json`` prints on stdout when it refuses its input (STORE missing or
    no pynta store, or the command line itself, ``args`` None): the report's keys, ``ok`` false
    and ``error`` the message it also writes to stderr."""
    from napari_pynta.verify import refusal_to_dict

    return refusal_to_dict(None if args is None else args.store, message)
