"""Cooperative cancellation of a long analysis (no Qt: the GUI's Cancel uses it, any caller may).

The long loops of the core call :func:`checkpoint`: linking at every frame
(:func:`napari_pynta.link.link_features`) and the size deconvolution at every EM iteration
(:mod:`napari_pynta.deconvolve`). Outside :func:`stop_when` a checkpoint does nothing. Inside it,
the first checkpoint after ``should_stop()`` turns true raises :class:`AnalysisCancelled`, so an
analysis stops within one frame of linking or one EM iteration instead of running to its end.

The test is held in a context variable: it applies to the thread that entered
:func:`stop_when` only (an analysis in another thread, or the live linker, never sees it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_should_stop: ContextVar[Callable[[], bool] | None] = ContextVar("should_stop", default=None)


class AnalysisCancelled(Exception):
    """Raised inside an analysis that was cancelled (Cancel pressed, or the viewer that asked
    for it closed); nothing it computed is a result."""


@contextmanager
def stop_when(should_stop: Callable[[], bool]) -> Iterator[None]:
    """Within this block, :func:`checkpoint` raises :class:`AnalysisCancelled` once
    ``should_stop()`` is true.

    Parameters
    ----------
    should_stop : callable
        Called at every checkpoint (cheap and thread-safe: e.g. reads a flag another thread
        sets).
    """
    token = _should_stop.set(should_stop)
    try:
        yield
    finally:
        _should_stop.reset(token)


def checkpoint() -> None:
    """Raise :class:`AnalysisCancelled` when the enclosing :func:`stop_when` says stop.

    Raises
    ------
    AnalysisCancelled
        If called inside :func:`stop_when` whose test returns true.
    """
    should_stop = _should_stop.get()
    if should_stop is not None and should_stop():
        raise AnalysisCancelled("the analysis was cancelled")
