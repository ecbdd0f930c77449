"""``python -m napari_pynta.cli``: the ``pynta`` command."""

from __future__ import annotations

import sys

from napari_pynta.cli import main

sys.exit(main())
