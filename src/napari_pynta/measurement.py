"""A measurement: the replicate captures of one sample, one pynta store each, in one folder.

``pynta acquire --captures N --out FOLDER`` writes ``FOLDER/capture-1.zarr`` ...
``capture-N.zarr`` and ``FOLDER/measurement.json``::

    {"measurement_id": "...", "sample": {...}, "n_captures": N, "seconds": T,
     "captures": ["capture-1.zarr", ...], "created": "2026-...Z"}

Every store also carries ``measurement_id``, ``capture_index`` and ``n_captures`` in its metadata,
so a capture moved elsewhere still names its measurement. ``pynta analyze FOLDER --combine``
analyses the captures listed in ``measurement.json`` and combines them.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeGuard

from napari_pynta.errors import PyntaDataError

MEASUREMENT_FILE = "measurement.json"


def capture_path(folder: str | Path, index: int) -> Path:
    """The store of capture ``index`` (1-based) of the measurement in ``folder``."""
    return Path(folder) / f"capture-{index}.zarr"


def is_measurement(path: str | Path) -> bool:
    """True for a folder holding a ``measurement.json``."""
    return (Path(path) / MEASUREMENT_FILE).is_file()


def write_measurement(folder: str | Path, description: Mapping[str, Any]) -> Path:
    """Write ``measurement.json`` (``created`` is added when missing); return its path.

    Raises
    ------
    OSError
        When it cannot be written (a full disk); the earlier ``measurement.json`` is kept.
    """
    path = Path(folder) / MEASUREMENT_FILE
    document = {"created": _dt.datetime.now(_dt.UTC).isoformat(), **description}
    temporary = path.with_suffix(".json.tmp")
    try:
        temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        temporary.replace(path)  # readers never see a half-written file
    except OSError:
        temporary.unlink(missing_ok=True)  # a full disk left an empty .tmp beside it
        raise
    return path


def unlisted_capture_text(
    folder: str | Path, description: Mapping[str, Any], capture: Path, error: OSError
) -> str:
    """What a measurement says when ``measurement.json`` could not be rewritten after
    ``capture`` (``error``: a full disk), which ends it: the captures it lists, and that
    ``capture`` is not among them though its frames stay on disk."""
    from napari_pynta.errors import verify_command

    listed = description["captures"]
    kept = listed[:-1] if capture.name in listed else listed
    return (
        f"cannot update {str(Path(folder) / MEASUREMENT_FILE)!r} after {capture.name} "
        f"({error.strerror or error}): the measurement stops here; it lists "
        f"{', '.join(kept) or 'no capture'}, and {str(capture)!r} is not in it (its frames "
        f"stay on disk: {verify_command(capture)})"
    )


def late_capture_text(capture: Path) -> str:
    """What a measurement adds when the recording of ``capture`` started after it ended (Live
    stopped while the capture started): it is not listed, and its frames stay on disk."""
    from napari_pynta.errors import verify_command

    return (
        f"{capture.name} began recording as Live stopped: it is not in {MEASUREMENT_FILE}, and "
        f"its frames stay on disk ({verify_command(capture)})"
    )


def failed_capture_text(index: int, reason: str) -> str:
    """What a measurement says when the recording of capture ``index`` failed (``reason``: a
    full disk, the saver dead), which ends it: the next captures would fail alike."""
    return f"capture {index} failed ({reason}): the measurement stops here"


def clear_measurement(folder: str | Path) -> list[Path]:
    """Remove the measurement in ``folder`` before a new one replaces it; return what went.

    Goes: ``measurement.json``, the captures it lists and every ``capture-<n>.zarr`` store
    (also those of an earlier run with more captures, or one interrupted before it listed
    them), so no store of the old run stays beside the new captures for a later
    ``pynta analyze FOLDER/*.zarr --combine`` to mix in. Every capture is checked first
    (:func:`~napari_pynta.store.check_replaceable`), so nothing is removed when one is not a
    pynta store or another process writes it. Other files in the folder stay.

    Raises
    ------
    PyntaInputError
        Naming the capture that cannot be removed.
    """
    from napari_pynta.store import check_replaceable, remove_store  # zarr: not for `--help`

    folder = Path(folder)
    stores = {
        path
        for path in folder.glob("capture-*.zarr")
        if re.fullmatch(r"capture-\d+\.zarr", path.name)
    }
    if is_measurement(folder):
        try:
            listed = json.loads((folder / MEASUREMENT_FILE).read_text(encoding="utf-8"))["captures"]
            stores |= {folder / str(name) for name in listed if Path(str(name)).name == name}
        except (OSError, ValueError, KeyError, TypeError):
            pass  # an unreadable description lists nothing; the capture-<n> stores still go
    stores = {path for path in stores if path.exists() or path.is_symlink()}
    for path in sorted(stores):
        check_replaceable(path, overwrite=True)
    for path in sorted(stores):
        remove_store(path)
    (folder / MEASUREMENT_FILE).unlink(missing_ok=True)
    return sorted(stores)


#: the frames a capture planned as ``seconds`` may lack and still be whole: one at the end of its
#: time, and 1 % for a frame interval measured apart from the nominal one
_SECONDS_PLAN_SLACK = (1, 0.01)


def planned_frames(store: str | Path, metadata: Mapping[str, Any]) -> tuple[int, int] | None:
    """The frames planned for the capture ``store`` by the measurement of its folder, and the
    fewest a whole capture holds; None when no plan is known.

    The plan is ``measurement.json``'s ``frames``, or its ``seconds`` at the capture's
    ``frame_interval_s`` (then a frame and 1 % fewer are whole too, as the end of the time and
    the measured interval make them). A store outside its measurement's folder, or in the
    folder of another measurement (``measurement_id`` differs), has none.
    """
    folder = Path(store).parent
    measurement_id = metadata.get("measurement_id")
    if measurement_id is None or not is_measurement(folder):
        return None
    try:
        document = json.loads((folder / MEASUREMENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("measurement_id") != measurement_id:
        return None
    frames, seconds = document.get("frames"), document.get("seconds")
    interval = metadata.get("frame_interval_s")
    if _positive(frames):
        return int(frames), int(frames)
    if _positive(seconds) and _positive(interval):
        planned = round(seconds / interval)
        frames_slack, fraction_slack = _SECONDS_PLAN_SLACK
        return planned, math.floor(planned * (1 - fraction_slack)) - frames_slack
    return None


def _positive(value: Any) -> TypeGuard[float]:
    """True for a finite number above 0 (not a bool)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0


def short_capture_text(name: str, n_frames: int, plan: tuple[int, int] | None) -> str | None:
    """What a capture ``name`` of ``n_frames`` says against its ``plan``
    (:func:`planned_frames`) when it holds fewer frames than a whole capture, else None."""
    if plan is None or n_frames >= plan[1]:
        return None
    return (
        f"{name} holds {n_frames} of the {plan[0]} frames its measurement planned: it was cut "
        "short (its recording stopped early, or lost frames), and a mean ± SE over the "
        "captures weighs it as much as a whole one"
    )


def capture_paths(folder: str | Path) -> list[str]:
    """The capture stores of a measurement folder, in capture order.

    Every capture lies inside the folder (a name, or a path relative to it without ``..``),
    so that a measurement copied or moved elsewhere stays whole: it never reads another
    folder's store in place of its own.

    Raises
    ------
    PyntaDataError
        When ``measurement.json`` is unreadable, lists no capture or lists one outside the
        folder (named).
    """
    folder = Path(folder)
    try:
        document = json.loads((folder / MEASUREMENT_FILE).read_text(encoding="utf-8"))
        names = [Path(name) for name in document["captures"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PyntaDataError(f"cannot read {str(folder / MEASUREMENT_FILE)!r}: {error}") from None
    for name in names:
        if name.is_absolute() or ".." in name.parts:
            raise PyntaDataError(
                f"{MEASUREMENT_FILE} lists {str(name)!r}, which is not inside the measurement "
                f"folder {str(folder)!r}: a measurement's captures are stores in its own folder, "
                "so that it can be copied or moved whole; move that capture into the folder "
                f"and list it there by its name in {MEASUREMENT_FILE}"
            )
    if not names:
        raise PyntaDataError(f"measurement {str(folder)!r} holds no capture yet")
    return [str(folder / name) for name in names]


def expand_measurements(paths: list[str]) -> list[str]:
    """``paths`` with every measurement folder replaced by its capture stores."""
    expanded: list[str] = []
    for path in paths:
        expanded.extend(capture_paths(path) if is_measurement(path) else [path])
    return expanded
