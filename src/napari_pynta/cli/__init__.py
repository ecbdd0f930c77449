"""The ``pynta`` command: the napari GUI without arguments, sub-commands for headless work."""

from __future__ import annotations

import argparse
import errno
import importlib
import math
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from napari_pynta import __version__
from napari_pynta.errors import PyntaDataError, PyntaInputError, named_message

#: sub-command name -> module providing ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
SUBCOMMANDS = {
    "simulate": "napari_pynta.cli.simulate",
    "analyze": "napari_pynta.cli.analyze",
    "acquire": "napari_pynta.cli.acquire",
    "verify": "napari_pynta.cli.verify",
    "keys": "napari_pynta.cli.keys",
}
#: other spellings of a sub-command (the docs write "analyse" as often as "analyze")
ALIASES = {"analyze": ["analyse"]}


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a service manager) received: the command stops in order,
    as after Ctrl-C (``pynta acquire`` writes the frames in flight and prints its result), and
    exits with :attr:`exit_code`."""

    exit_code = 128 + signal.SIGTERM


def interrupted_exit_code(error: KeyboardInterrupt) -> int:
    """The exit code after an interruption: 130 for Ctrl-C, 143 for SIGTERM."""
    return error.exit_code if isinstance(error, Terminated) else 128 + signal.SIGINT


#: an interruption within this long of the one before is that one delivered again, not a second
#: Ctrl-C: timeout(1) sends its signal to the command and then to the command's process group,
#: and a command that had handled the first took the second for "stop now" (n13: `timeout -s INT
#: 60 pynta acquire` killed its workers, lost the frames in flight)
REPEATED_SIGNAL_S = 1.0


class _Interruptions:
    """The handler of SIGTERM and SIGINT in :func:`sigterm_stops_in_order`."""

    def __init__(self) -> None:
        self.last = -math.inf

    def __call__(self, signum: int, frame: object) -> None:
        now = time.monotonic()
        if now - self.last < REPEATED_SIGNAL_S:
            return
        self.last = now
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextmanager
def sigterm_stops_in_order() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread instead of ending the
    process at once (Python's default), which lost the frames in flight, the result and the
    cleanup of ``pynta simulate``'s partial store; SIGINT raises ``KeyboardInterrupt`` as
    before (unless it is ignored: a command started in the background keeps it ignored).

    Either one coming within :data:`REPEATED_SIGNAL_S` of the one before is ignored: it is the
    same interruption sent twice (timeout(1)), not a second Ctrl-C, which stops at once."""
    handler = _Interruptions()
    previous_term = signal.signal(signal.SIGTERM, handler)
    on_int = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if on_int:
        signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        if on_int:
            signal.signal(signal.SIGINT, signal.default_int_handler)


#: what a full disk, a file size limit (``ulimit -f``) or a quota gives a write
NO_SPACE_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", None)) if code
)
#: what a folder or file the user may not write, or a read-only mount, gives a write
NO_PERMISSION_ERRNOS = frozenset((errno.EACCES, errno.EPERM, errno.EROFS))


def file_system_message(error: OSError) -> str | None:
    """What a write refused by the file system means to the user, with what to do; None for
    any other ``OSError`` (a programming error keeps its traceback).

    A command that ran out of disk space (or into ``ulimit -f``, or a quota) while writing its
    output ended in a pandas or zarr traceback (b16: ``pynta simulate``, ``pynta analyze
    --out``)."""
    where = f" ({error.filename})" if error.filename else ""
    reason = error.strerror or str(error)
    if error.errno in NO_SPACE_ERRNOS:
        return (
            f"writing the output failed{where}: {reason}: the disk is full or a file size "
            "limit (ulimit -f, a quota) was reached; free space, or write to another disk, and "
            "run again (a partly written output may be left)"
        )
    if error.errno in NO_PERMISSION_ERRNOS:
        return (
            f"the file system refused{where}: {reason}; choose a file or folder you may write "
            "to (and read), or change its permissions"
        )
    return None


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="pynta",
        description="Nanoparticle tracking analysis. Without a sub-command, opens napari "
        "with the PyNTA widgets and the simulated camera.",
    )
    parser.add_argument("--version", action="version", version=f"napari-pynta {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            name, aliases=ALIASES.get(name, []), help=module.HELP, description=module.HELP
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run, field_flags=field_flags(sub))
    return parser


def path_argument(text: str) -> str:
    """The argparse ``type`` of a file or folder argument: refuses an empty path, which the
    file system reads as the current folder (``--out ''`` wrote nothing, ``pynta analyze ''``
    opened the current folder as a movie)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"an empty path ({text!r}); give a file or folder")
    return text


def field_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Field name -> the flag that sets it (``min_track_length`` -> ``--min-track-length``; of a
    switch's pair the one that turns it on, ``--blur-separation``, not ``--no-blur-separation``)."""
    return {
        action.dest: _setting_flag(action.option_strings)
        for action in parser._actions
        if action.option_strings and action.dest != "help"
    }


def _setting_flag(option_strings: Sequence[str]) -> str:
    """The long flag of an option, the positive one of a ``--x``/``--no-x`` pair."""
    long = [flag for flag in option_strings if flag.startswith("--")] or list(option_strings)
    positive = [flag for flag in long if not flag.startswith("--no-")]
    return (positive or long)[-1]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pynta`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from napari_pynta.cli.gui import launch_gui

        return launch_gui()
    try:
        with sigterm_stops_in_order():
            return int(args.run(args) or 0)
    except (PyntaInputError, PyntaDataError) as error:
        print(
            f"pynta {args.command}: error: {named_message(error, args.field_flags)}",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:
        # the reader of stdout is gone (`pynta analyze --json | head -c 100`): end quietly, as a
        # Unix tool ended by SIGPIPE does, and let the exit's flush write to nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as error:
        message = file_system_message(error)
        if message is None:
            raise
        print(f"pynta {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as error:
        what = "terminated (SIGTERM)" if isinstance(error, Terminated) else "interrupted"
        print(f"pynta {args.command}: {what}", file=sys.stderr)
        return interrupted_exit_code(error)
