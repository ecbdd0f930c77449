"""napari's preferred reader for videos and zarr folders: PyNTA, once, unless the user chose.

Why napari asks "which reader?": napari's built-in reader (plugin ``napari``) claims ``*.avi``,
``*.mp4``, ``*.mov``, ``*.mkv`` (and ``*.zarr``) by filename pattern and accepts every directory,
as PyNTA's reader does. npe2 matches a file against the readers' ``filename_patterns`` and a
directory against every reader with ``accepts_directories``; with two compatible readers and no
entry in napari's ``settings.plugins.extension2reader`` for the path, ``viewer.open`` refuses to
guess (``MultipleReaderError``) and the GUI shows its reader dialog. napari does not ask the
readers first, so returning None from ``get_reader`` cannot avoid the dialog.

:func:`prefer_pynta_reader` (called by the ``pynta`` command) writes ``napari-pynta`` for
:data:`PREFERRED_PATTERNS` into napari's preferences where the user has no preference for that
pattern, and records in PyNTA's settings file which patterns it registered: a preference the user
later removes or changes (napari *Preferences ▸ Plugins*) is never put back.
"""

from __future__ import annotations

import os
from typing import Any

from napari_pynta.widgets import persistence

PLUGIN_NAME = "napari-pynta"
#: napari preference patterns PyNTA registers: videos by extension; zarr folders as napari
#: matches a folder (its real path with a trailing separator)
PREFERRED_PATTERNS = ("*.avi", "*.mp4", "*.mov", "*.mkv", "*.zarr" + os.sep)
#: section of PyNTA's settings file listing the patterns already registered once
SETTINGS_SECTION = "reader_preference"


def prefer_pynta_reader(settings: Any = None) -> list[str]:
    """Make PyNTA napari's reader for videos and zarr folders where nobody decided yet.

    Parameters
    ----------
    settings : napari settings, optional
        ``napari.settings.get_settings()`` when not given.

    Returns
    -------
    list of str
        The patterns registered now (empty when the user already has a preference for each, or
        PyNTA registered them before).
    """
    if settings is None:
        from napari.settings import get_settings

        settings = get_settings()
    done = persistence.load_all().get(SETTINGS_SECTION)
    registered_before = set(done.get("patterns", [])) if isinstance(done, dict) else set()
    preferences = dict(settings.plugins.extension2reader)
    new = [
        pattern
        for pattern in PREFERRED_PATTERNS
        if pattern not in preferences and pattern not in registered_before
    ]
    if new:
        settings.plugins.extension2reader = {**preferences, **dict.fromkeys(new, PLUGIN_NAME)}
        patterns = sorted(registered_before | set(new))
        persistence.save_section(SETTINGS_SECTION, {"patterns": patterns})
    return new
