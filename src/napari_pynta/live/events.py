"""Typed notifications of a running :class:`~napari_pynta.live.LivePipeline` (psygnal).

The command line and the GUI subscribe to the same signals instead of each polling
:meth:`LivePipeline.status`::

    pipeline.events.status.connect(lambda status: print(status.fps))
    pipeline.events.error.connect(print)

Callbacks run in the pipeline's monitor thread: a GUI hands them to its own thread (the PyNTA
session re-emits them as a Qt signal, which Qt delivers queued to the widgets' thread). A callback
that raises is reported as a pipeline error and does not stop the monitor.
"""

from __future__ import annotations

from psygnal import Signal

from napari_pynta.live.config import LiveStatus

#: seconds between two :attr:`LiveEvents.status` emissions while the pipeline runs
STATUS_EVENT_INTERVAL_S = 0.25


class LiveEvents:
    """The signals of one pipeline (``LivePipeline.events``)."""

    #: a fresh :class:`LiveStatus` every :data:`STATUS_EVENT_INTERVAL_S` while running
    status = Signal(LiveStatus)
    #: each new worker error or warning, once, as the line that also goes to ``LiveStatus.errors``
    error = Signal(str)
    #: each new running size summary (the keys of ``pynta analyze --json``)
    sizes = Signal(dict)
