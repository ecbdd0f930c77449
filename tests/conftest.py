"""Test-suite wide set-up: the GUI tests need napari and a Qt binding, the rest does not."""

from __future__ import annotations

from napari_pynta.cli.gui import missing_gui_packages

# the core install is headless: without the GUI stack, tests/gui is not even collected
# (its conftest imports Qt), and `-m "not gui"` selects the same headless suite with it installed
collect_ignore = ["gui"] if missing_gui_packages() else []
