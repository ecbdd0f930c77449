"""How the GUI names a setting in its texts: as the Tracking form shows it (no Qt).

The core says what to try naming the command-line flags (``lower --minmass``); where the GUI
shows the same advice it names the Tracking widget's fields and check boxes instead, from the
same counts (:class:`napari_pynta.sizing.NoTracks`), so the text is written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from napari_pynta.parameters import SETTINGS
from napari_pynta.sizing import NoTracks

#: the Tracking form's check boxes: setting -> the box's text (a field is labelled with its
#: setting's ``label``)
CHECK_BOX_TEXTS: dict[str, str] = {
    "invert": "dark particles on bright background",
    "blur_separation": "separation holds the motion blur",
    "blur_gap_spread": "missed frames spread as the motion blur gives",
    "wide_centroid": "wide centroid: the exposure-mean position",
}


def form_name(name: str) -> str:
    """How the GUI names a setting: the label of its Tracking field or check box, quoted.

    Parameters
    ----------
    name : str
        A setting of :data:`napari_pynta.parameters.SETTINGS`.

    Returns
    -------
    str
        E.g. ``“minimum track length”`` for ``min_track_length``.
    """
    return f"“{CHECK_BOX_TEXTS.get(name, SETTINGS[name].label)}”"


def unsized_reason(summary: Mapping[str, Any]) -> str | None:
    """Why an analysis sized no track, naming the Tracking form's controls.

    Parameters
    ----------
    summary : dict
        An analysis summary.

    Returns
    -------
    str or None
        None when tracks were sized; the summary's ``unsized_reason`` as is when it lacks the
        counts (``no_tracks``, a summary written before they were kept).
    """
    cause = summary.get("no_tracks")
    if cause is None:
        return summary.get("unsized_reason")
    return NoTracks(**cause).reason(form_name)


def shown_warnings(summary: Mapping[str, Any]) -> list[str]:
    """The summary's warnings as the GUI shows them: the no-track reason naming the form's
    controls (:func:`unsized_reason`), the others as they are."""
    warnings = list(summary.get("warnings") or [])
    flagged, shown = summary.get("unsized_reason"), unsized_reason(summary)
    if flagged is None or shown is None:
        return warnings
    return [shown if text == flagged else text for text in warnings]
