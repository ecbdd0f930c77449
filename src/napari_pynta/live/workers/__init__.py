"""Process entry functions of the live pipeline, one module per worker (spawn-safe).

Message paths (see ``docs/live-pipeline.md``)::

    acquisition --PUB frames (pixels)---------------------> viewers (newest frame only)
                --PUSH save (bounded replay buffer)-------> saver --PUSH save_ack--> acquisition
                --PUSH locate (load balanced)-------------> locators --PUSH locs_in--> linker
                (save and locate: headers into the shared-memory frame ring, or the pixels;
                 locators give ring slots back through the ring's release cells, no message)
                --PUSH locs_in (skipped seq, end of run)--------------------------> linker
    linker --PUB results (locs, tracks, sizes)-------------> viewers
           --PUSH sizer_in (linked frames, resets, end)----> sizer
    sizer  --PUSH sizer_out (summaries, hello, alive)------> linker

:mod:`.base` holds what every worker shares (sockets to the supervisor, commands, heartbeats,
the orphan watchdog); :mod:`.acquisition`, :mod:`.saver`, :mod:`.locator`, :mod:`.linker` and
:mod:`.sizer` one worker each; :mod:`.kept_frames` the frames the acquisition keeps for them.
"""

from __future__ import annotations

from napari_pynta.live.workers.acquisition import CALIBRATION_FRAMES, acquisition_worker
from napari_pynta.live.workers.base import ORPHAN_GRACE_S
from napari_pynta.live.workers.linker import linker_worker
from napari_pynta.live.workers.locator import locator_worker
from napari_pynta.live.workers.saver import saver_worker
from napari_pynta.live.workers.sizer import sizer_worker

__all__ = [
    "CALIBRATION_FRAMES",
    "ORPHAN_GRACE_S",
    "acquisition_worker",
    "linker_worker",
    "locator_worker",
    "saver_worker",
    "sizer_worker",
]
