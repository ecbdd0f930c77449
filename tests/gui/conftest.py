"""Fixtures of the GUI tests: a napari viewer with the three PyNTA widgets docked."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from napari_pynta.cli.gui import dock_pynta_widgets
from napari_pynta.widgets.session import SizeData
from napari_pynta.widgets.settings import SizingConditions

GUI_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/gui ``gui``, so ``-m "not gui"`` runs the headless suite."""
    for item in items:
        if GUI_TESTS in item.path.parents:
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def private_settings(tmp_path_factory, monkeypatch):
    """Every GUI test reads and writes its settings file in a fresh temporary directory."""
    directory = tmp_path_factory.mktemp("pynta-config")
    monkeypatch.setenv("PYNTA_CONFIG_DIR", str(directory))
    return directory


@pytest.fixture(autouse=True)
def private_napari_settings(monkeypatch):
    """napari's settings (reader preferences...) live in memory only: a test never reads or
    changes the preferences of the user running it."""
    from napari import settings

    fresh = settings.NapariSettings(config_path=None)
    monkeypatch.setattr(settings, "_SETTINGS", fresh)
    return fresh


@pytest.fixture
def pynta(make_napari_viewer):
    """``(viewer, widgets)``, widgets by name: Camera, Tracking, Sizes (docked as `pynta` does)."""
    viewer = make_napari_viewer()
    widgets = dock_pynta_widgets(viewer)
    yield viewer, widgets
    widgets["Camera"].session.shutdown()


@pytest.fixture
def two_peaks() -> SizeData:
    """Sizes with two deconvolved peaks, the second depending on the linking: the longest
    peaks cell ("99 ± 3.1 (90%), 301 ± 12 (10%, depends on the linking)")."""
    deconvolved = {
        "n_tracks": 3,
        "peaks": [99.0, 301.0],
        "peak_uncertainty": [3.1, 12.0],
        "peak_fractions": [0.9, 0.1],
        "peak_depends_on_linking": [False, True],
    }
    measured = SizingConditions(pixel_size_um=0.1, frame_interval_s=0.01, exposure_s=0.01)
    summary = {"diameter_nm": 105.0, "deconvolved_nm": deconvolved}
    return SizeData(np.array([90.0, 100.0, 110.0]), summary, measured, "test")


@pytest.fixture
def wait_for() -> Callable[..., float]:
    """``wait_for(condition, timeout_s)``: process Qt events until ``condition()`` is true.

    Returns the seconds waited; fails the test (with the condition's source) on timeout.
    """

    def wait(condition: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> float:
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > timeout_s:
                pytest.fail(f"timed out after {timeout_s} s waiting for {what or condition}")
            QApplication.processEvents()
            time.sleep(0.01)
        waited = time.monotonic() - start
        print(f"waited {waited:.1f} s for {what}")  # shown with -s or on failure
        return waited

    return wait
