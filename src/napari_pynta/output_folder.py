"""The results folder of `pynta analyze --out`: this run's files replace those an earlier run
wrote there, so that the folder never holds a mix of two analyses.

A run lists the files it wrote in the folder's :data:`MANIFEST`; the next run into the folder
deletes them (and the folders they leave empty) before it writes its own. Nothing else is ever
deleted: a file pynta did not list (the user's, or written by a pynta older than the manifest) is
kept, and :func:`record_outputs` names it so that the user knows the folder holds it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path

#: the list of the files the last run wrote, relative to the folder
MANIFEST = ".pynta-outputs.json"
#: the files that this run did not write are looked for until this many are found
MAX_LEFTOVERS = 1000


def clear_earlier_outputs(directory: str | Path) -> None:
    """Delete the files that the last run listed in ``directory``'s manifest, then the folders
    inside ``directory`` left empty by that.

    A missing folder or manifest deletes nothing; neither does a manifest that does not parse
    (its files are then named by :func:`record_outputs`). Entries that point outside the folder
    are ignored.

    Parameters
    ----------
    directory : str or Path
        The ``--out`` folder.
    """
    root = Path(directory).resolve()
    for path in _listed(root):
        path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == root or not parent.is_relative_to(root):
                break
            try:
                parent.rmdir()
            except OSError:  # not empty: holds files the user put there
                break


def record_outputs(directory: str | Path, written: Iterable[Path]) -> list[Path]:
    """List the files this run wrote into ``directory`` in its manifest and return the other
    files the folder holds.

    Parameters
    ----------
    directory : str or Path
        The ``--out`` folder (it exists: the files were written into it).
    written : iterable of Path
        The files this run wrote; those outside ``directory`` (a ``--report`` elsewhere) are
        left out of the manifest.

    Returns
    -------
    list of Path
        The files in ``directory`` and its subfolders that this run did not write, relative to
        it, sorted (not the manifest); the first :data:`MAX_LEFTOVERS` found if there are more.
    """
    root = Path(directory).resolve()
    resolved = [Path(path).resolve() for path in written]
    inside = sorted({path.relative_to(root) for path in resolved if path.is_relative_to(root)})
    manifest = root / MANIFEST
    partial = manifest.with_name(f"{MANIFEST}.partial")
    partial.write_text(json.dumps([path.as_posix() for path in inside], indent=1) + "\n")
    partial.replace(manifest)
    kept = set(inside) | {Path(MANIFEST)}
    others = (
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root) not in kept
    )
    # a folder of data given as --out is not walked to its end on every run
    return sorted(itertools.islice(others, MAX_LEFTOVERS))


def leftover_warning(directory: str | Path, leftovers: list[Path]) -> str | None:
    """The warning for files in the ``--out`` folder that this run did not write (None when
    there are none): they are not its results, and pynta does not delete them."""
    if not leftovers:
        return None
    shown = ", ".join(path.as_posix() for path in leftovers[:3])
    more = f" and {len(leftovers) - 3} more" if len(leftovers) > 3 else ""
    files = "file" if len(leftovers) == 1 else "files"
    count = f"at least {MAX_LEFTOVERS}" if len(leftovers) >= MAX_LEFTOVERS else len(leftovers)
    return (
        f"warning: {str(directory)!r} also holds {count} {files} that this run did "
        f"not write ({shown}{more}), not from this analysis: pynta replaces only what it wrote "
        "there itself; give an empty folder to keep each analysis apart"
    )


def _listed(root: Path) -> list[Path]:
    """The files that the manifest of ``root`` (resolved) lists and that are files inside it;
    none if it is missing or does not parse."""
    try:
        entries = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(entries, list):
        return []
    paths = [(root / entry).resolve() for entry in entries if isinstance(entry, str)]
    return [path for path in paths if path.is_relative_to(root) and path.is_file()]
