"""Names shared by the supervisor and the workers: worker roles, control commands, status events.

Commands travel on the supervisor's ``control`` PUB socket (topic = worker name, header
``{"id", "cmd", ...}``, each acknowledged by an ``ack`` event); events travel on the workers'
``status`` PUSH sockets (header ``{"worker", "event", "time", ...}``). See
``docs/live-pipeline.md`` for what each one carries.
"""

from __future__ import annotations

#: worker names (locators are numbered: ``locator-1``, ``locator-2``, ...)
ACQUISITION = "acquisition"
SAVER = "saver"
LINKER = "linker"
SIZER = "sizer"
LOCATOR_PREFIX = "locator"


def locator_name(number: int) -> str:
    """The name of locator ``number`` (1-based)."""
    return f"{LOCATOR_PREFIX}-{number}"


def is_locator(name: str) -> bool:
    """True for a locator's name."""
    return name.startswith(LOCATOR_PREFIX + "-")


def process_title(name: str) -> str:
    """The process name a worker shows in ``ps``/``top`` (``pynta-acquire``, ``pynta-saver``,
    ``pynta-locator-1``, ``pynta-linker``, ``pynta-sizer``; Linux keeps the first 15
    characters in ``comm``)."""
    return "pynta-acquire" if name == ACQUISITION else f"pynta-{name}"


class Command:
    """Control commands (``cmd`` of a control message)."""

    #: acquisition: start the camera (``record``: record from the first frame)
    GO = "go"
    #: acquisition: record from the next frame; saver: open a store (``path``, ``resume``, ...)
    RECORD = "record"
    #: acquisition: stop recording (the saver gets an end-of-recording marker); saver (when the
    #: acquisition died): end the recording once the frames already sent are written
    STOP_RECORDING = "stop_recording"
    #: acquisition: end the run now, as if ``n_frames`` had been reached
    FINISH = "finish"
    #: every worker: exit (the saver closes its store first)
    STOP = "stop"
    #: locators: new localization options (``engine``, ``detection``)
    DETECT = "detect"
    #: linker: linking and sizing ``settings`` (again later: start afresh with the new ones)
    CONFIGURE = "configure"
    #: linker: ``restarting`` (bool): a dead locator is being restarted; until it is back the
    #: linker does not give up the frames of an ended run that have not come back located
    LOCATORS = "locators"
    #: acquisition: change camera ``settings`` (fps, exposure_s, roi, gain) while streaming
    CAMERA = "camera"


class Event:
    """Status events (``event`` of a status message)."""

    READY = "ready"
    HEARTBEAT = "heartbeat"
    ACK = "ack"
    ERROR = "error"
    #: a problem that does not stop the worker (e.g. a dropped bad message)
    WARNING = "warning"
    RECORDING = "recording"
    #: acquisition: the recording ended (final count of frames meant to be recorded)
    RECORDING_ENDED = "recording_ended"
    #: saver: the store cannot be written (disk full, ...): the recording must stop now
    RECORDING_FAILED = "recording_failed"
    FINISHED = "finished"
    #: acquisition, linker: stopped on command (their final counters: the status at a stop)
    STOPPED = "stopped"
    SIZES = "sizes"
    #: acquisition: the camera settings changed (``frame_shape``, ``dtype``, ``metadata``,
    #: ``from_seq``) or were refused (``refused``: why)
    CAMERA = "camera"


#: every status event
EVENTS = frozenset(value for key, value in vars(Event).items() if not key.startswith("_"))
