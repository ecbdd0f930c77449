"""`pynta acquire --captures N`: measure one sample as N captures, one store each (see
:mod:`napari_pynta.measurement`)."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from napari_pynta.cli.acquire import (
    acquire_once,
    build_config,
    format_result,
    print_errors,
    result_dict,
)
from napari_pynta.errors import PyntaInputError, pynta_command, require_int
from napari_pynta.measurement import (
    capture_path,
    clear_measurement,
    failed_capture_text,
    is_measurement,
    unlisted_capture_text,
    write_measurement,
)
from napari_pynta.sample import validate_sample


def _check(args: argparse.Namespace) -> Path:
    require_int("--captures", args.captures, minimum=1)
    if args.out is None:
        raise PyntaInputError("--captures needs --out FOLDER (one store per capture goes there)")
    if args.seconds is None and args.frames is None:
        raise PyntaInputError("--captures needs the length of each capture: --seconds or --frames")
    if args.until_precision is not None:
        raise PyntaInputError("--until-precision works with one recording, not with --captures")
    folder = Path(args.out)
    if folder.exists() and not folder.is_dir():
        raise PyntaInputError(f"--out {str(folder)!r} must be a folder for the captures")
    if _is_zarr_node(folder):
        raise PyntaInputError(
            f"--out {str(folder)!r} is a zarr store (a recording): the captures need a folder of "
            "their own (a measurement inside the store would stand for the recording in "
            "`pynta analyze`); choose another --out"
        )
    if is_measurement(folder) and not args.overwrite:
        raise PyntaInputError(
            f"{str(folder)!r} already holds a measurement; choose another --out or --overwrite"
        )
    return folder


def _is_zarr_node(folder: Path) -> bool:
    """True for a folder holding zarr metadata (a pynta store, another program's zarr) or a
    pynta store's arrays under a damaged root."""
    from napari_pynta.readers import is_damaged_pynta_store  # zarr: not for `--help`

    return any((folder / name).is_file() for name in ("zarr.json", ".zgroup", ".zarray")) or (
        is_damaged_pynta_store(folder)
    )


def _listed(folder: Path, description: dict[str, Any], capture: Path) -> bool:
    """Write ``measurement.json`` listing the captures so far; False (said on stderr) when it
    cannot be written (a full disk), which ends the measurement."""
    try:
        write_measurement(folder, description)
    except OSError as error:
        text = unlisted_capture_text(folder, description, capture, error)
        print(f"pynta acquire: {text}", file=sys.stderr)
        return False
    return True


def run_captures(args: argparse.Namespace) -> int:
    """Record ``args.captures`` captures into ``args.out``; returns the exit code.

    Each capture is one run of the live pipeline into ``capture-<i>.zarr`` whose metadata hold
    the sample fields plus ``measurement_id``, ``capture_index`` and ``n_captures``.
    ``measurement.json`` is rewritten after every capture, so an interrupted measurement lists the
    captures it holds. A capture whose recording failed (a full disk), or a ``measurement.json``
    that cannot be written, ends the measurement. The exit code is 1 if any capture dropped
    frames, lost a worker or failed, 130 after Ctrl-C (the captures recorded so far are kept).
    """
    folder = _check(args)
    n_captures = int(args.captures)
    first = build_config(argparse.Namespace(**{**vars(args), "out": str(capture_path(folder, 1))}))
    first.refuse_recording_over_the_playback(folder, "--out")  # before --overwrite clears it
    folder.mkdir(parents=True, exist_ok=True)
    if args.overwrite:
        clear_measurement(folder)
    measurement_id = uuid.uuid4().hex
    description: dict[str, Any] = {
        "measurement_id": measurement_id,
        "sample": first.sample,
        "n_captures": n_captures,
        "seconds": args.seconds,
        "frames": args.frames,
        "captures": [],
    }
    results, code = [], 0
    for index in range(1, n_captures + 1):
        path = capture_path(folder, index)
        config = (
            first
            if index == 1
            else build_config(argparse.Namespace(**{**vars(args), "out": str(path)}))
        )
        config.sample = validate_sample(
            {
                **config.sample,
                "measurement_id": measurement_id,
                "capture_index": index,
                "n_captures": n_captures,
            }
        )
        if not args.json:
            print(f"pynta acquire: capture {index} of {n_captures} -> {path}", file=sys.stderr)
        status, interrupted = acquire_once(config, not args.json)
        results.append(result_dict(status, config))
        if status.frames_saved:
            description["captures"].append(path.name)
        print_errors(status.errors, f"pynta acquire: capture {index}: ")
        if not _listed(folder, description, path):
            code = interrupted or 1
            break
        if interrupted:
            code = interrupted
            break
        if status.frames_dropped or status.dead_workers or status.recording_failed:
            code = 1
        if status.recording_failed:  # a full disk: the next captures would fail alike
            text = failed_capture_text(index, status.recording_failed)
            print(f"pynta acquire: {text}", file=sys.stderr)
            break
    if args.json:
        print(
            json.dumps(
                {
                    "measurement": str(folder),
                    "measurement_id": measurement_id,
                    "n_captures": n_captures,
                    "captures": results,
                }
            )
        )
    else:
        print("\n".join(format_result(result) for result in results))
        print(f"pynta acquire: analyse with {pynta_command('analyze', folder, '--combine')}")
    return code
