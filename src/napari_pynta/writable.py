"""Whether something can be written in a folder, asked of the file system itself.

Permission bits (``os.access``) do not stop root and do not know a read-only file system or
``/proc``; making and removing a probe folder answers for every user.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from napari_pynta.errors import PyntaInputError


def check_writable_folder(path: str | Path, folder: str | Path, label: str | None = None) -> None:
    """Raise unless a folder can be made in ``folder`` (the existing folder ``path`` goes in).

    Parameters
    ----------
    path : str or Path
        What is to be written (named in the error).
    folder : str or Path
        The existing folder it goes in (or the nearest existing one on its way).
    label : str, optional
        What ``path`` is to the user (a field such as ``report``); the error starts with it and
        names it as its field, so that the command line shows its flag.

    Raises
    ------
    PyntaInputError
        Naming ``path``, ``folder`` and the file system's reason.
    """
    try:
        probe = tempfile.mkdtemp(prefix=".pynta-probe-", dir=folder)
    except OSError as error:
        prefix = f"{label}: " if label else ""
        raise PyntaInputError(
            f"{prefix}cannot create {str(path)!r}: nothing can be written in {str(folder)!r} "
            f"({error.strerror or error}); choose a folder you can write to",
            label,
        ) from None
    os.rmdir(probe)
