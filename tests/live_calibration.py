"""The live calibration (the acquisition worker's first frames) run on a simulated camera."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

_SOCKETS = itertools.count()


def calibrate_simulated(calibration: dict[str, Any], **camera: Any) -> tuple[dict, list[str]]:
    """Run :func:`napari_pynta.live.workers.acquisition.calibrate` on a simulated camera.

    Parameters
    ----------
    calibration : dict
        The calibration settings (``engine``, ``detection``, ``search_range_px``, ``memory``,
        ...), as the supervisor gives them.
    **camera
        ``open_camera("simulated", ...)``'s settings.

    Returns
    -------
    tuple of (dict, list of str)
        The choices and the warnings the calibration gave; a camera stall fails the test.
    """
    zmq = pytest.importorskip("zmq")
    from napari_pynta.cameras import open_camera
    from napari_pynta.live.workers.acquisition import calibrate

    preview = zmq.Context.instance().socket(zmq.PUB)
    preview.bind(f"inproc://calibration-preview-{next(_SOCKETS)}")
    warned: list[str] = []
    try:
        with open_camera("simulated", **camera) as opened:
            chosen = calibrate(opened, calibration, preview, warned.append, pytest.fail, 10.0)
    finally:
        preview.close(linger=0)
    return chosen, warned
