"""The live pipeline: camera, saver, locators and linker in worker processes talking over ZeroMQ.

See ``docs/live-pipeline.md``. Typical use::

    from napari_pynta.live import LiveConfig, LivePipeline
    with LivePipeline(LiveConfig(n_frames=1000, record_path="run.zarr")) as pipeline:
        pipeline.wait_finished()
        print(pipeline.status())
"""

from __future__ import annotations

from napari_pynta.live.config import LiveConfig, LiveEndpoints, LiveStatus
from napari_pynta.live.events import LiveEvents
from napari_pynta.live.subscriber import LiveSubscriber, LiveUpdate
from napari_pynta.live.supervisor import LivePipeline

__all__ = [
    "LiveConfig",
    "LiveEndpoints",
    "LiveEvents",
    "LivePipeline",
    "LiveStatus",
    "LiveSubscriber",
    "LiveUpdate",
]
