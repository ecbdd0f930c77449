"""The ``pynta`` command: the napari GUI without arguments, sub-commands for headless work."""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from napari_pynta import __version__
from napari_pynta.errors import PyntaDataError, PyntaInputError, named_message

#: sub-command name -> module providing ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
#: (and, for one whose ``--json`` promises one JSON object on stdout whatever happens,
#: ``json_refusal(message, args) -> dict``: see :class:`CommandParser`)
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


#: ``json_refusal(message, args)`` of a sub-command: the JSON object that stands for a refusal on
#: stdout; ``args`` is None when the command line itself was refused
JsonRefusal = Callable[[str, argparse.Namespace | None], dict[str, Any]]


#: a command-line word that starts with '-' and is a value, not a flag: a negative number
#: (``-5``, ``-1e-3``, ``-.5``) or a comma list that starts with one (``-1,0,10,10``)
NEGATIVE_VALUE = re.compile(r"-\.?\d[\w.,+-]*")


class CommandParser(argparse.ArgumentParser):
    """The parser of ``pynta`` and of its sub-commands.

    A sub-command with a ``json_refusal`` whose command line is refused under ``--json`` (a
    value of the wrong type, a missing PATH, an unknown flag) also prints that refusal as one
    JSON object on stdout, beside argparse's usage and message on stderr and its exit code 2: a
    script reading stdout got nothing to decode."""

    json_refusal: JsonRefusal | None = None
    _given: Sequence[str] = ()

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse as argparse does, keeping the arguments to tell a refusal under ``--json``,
        and taking a negative value after a flag as its value (:meth:`negative_values_joined`)."""
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(self.negative_values_joined(self._given), namespace)

    def negative_values_joined(self, arguments: Sequence[str]) -> list[str]:
        """``arguments`` with each flag of one value followed by a negative value (a number or a
        comma list, :data:`NEGATIVE_VALUE`) joined into ``FLAG=VALUE``.

        argparse reads ``-1,0,10,10`` or ``-1e-3`` as a flag: ``--roi -1,0,10,10`` was refused
        with its "argument --roi: expected one argument", which says neither what is wrong nor
        what is allowed. Joined, the value reaches the check of the setting, which does.
        """
        one_value = {
            flag
            for action in self._actions
            if action.nargs is None and action.option_strings
            for flag in action.option_strings
        }
        joined: list[str] = []
        for argument in arguments:
            if joined and joined[-1] in one_value and NEGATIVE_VALUE.fullmatch(argument):
                joined[-1] = f"{joined[-1]}={argument}"
            else:
                joined.append(argument)
        return joined

    def error(self, message: str) -> NoReturn:
        """Refuse the command line: the JSON object too when ``--json`` was asked."""
        if self.json_refusal is not None and asks_json(self._given):
            print(json.dumps(self.json_refusal(message, None)), flush=True)
        super().error(message)


def error_refusal(message: str, args: argparse.Namespace | None) -> dict[str, Any]:
    """The ``json_refusal`` of a sub-command whose ``--json`` object has no keys that a refusal
    could fill (``pynta analyze``, ``pynta acquire``): ``{"error": message}``, the message it
    also writes to stderr (the exit code is unchanged: 2, or 1 when the file system refused a
    write)."""
    return {"error": message}


def asks_json(arguments: Sequence[str]) -> bool:
    """Whether ``--json`` is among the command-line arguments (those before a ``--``)."""
    options = list(arguments)
    if "--" in options:
        options = options[: options.index("--")]
    return "--json" in options


def print_json_refusal(args: argparse.Namespace, message: str) -> None:
    """Print the refusal ``message`` as the sub-command's JSON object when it was run with
    ``--json`` and has a ``json_refusal``; nothing otherwise."""
    if getattr(args, "json", False) and args.json_refusal is not None:
        print(json.dumps(args.json_refusal(message, args)), flush=True)


def build_parser() -> CommandParser:
    """Build the argument parser with every sub-command registered."""
    parser = CommandParser(
        prog="pynta",
        description="Nanoparticle tracking analysis. Without a sub-command, opens napari "
        "with the PyNTA widgets and the simulated camera.",
    )
    parser.add_argument("--version", action="version", version=f"napari-pynta {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=CommandParser
    )
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            name, aliases=ALIASES.get(name, []), help=module.HELP, description=module.HELP
        )
        module.add_arguments(sub)
        sub.json_refusal = getattr(module, "json_refusal", None)
        sub.set_defaults(
            run=module.run,
            field_flags=field_flags(sub),
            json_refusal=sub.json_refusal,
            command_parser=sub,
        )
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
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # refused by the sub-command's parser, which knows its --json
        refusing = parser if args.command is None else args.command_parser
        refusing.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        from napari_pynta.cli.gui import launch_gui

        return launch_gui()
    try:
        with sigterm_stops_in_order():
            return int(args.run(args) or 0)
    except (PyntaInputError, PyntaDataError) as error:
        message = named_message(error, args.field_flags)
        print_json_refusal(args, message)
        print(f"pynta {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader of stdout is gone (`pynta analyze --json | head -c 100`): end quietly, as a
        # Unix tool ended by SIGPIPE does, and let the exit's flush write to nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as error:
        refused = file_system_message(error)
        if refused is None:
            raise
        print_json_refusal(args, refused)
        print(f"pynta {args.command}: error: {refused}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as error:
        what = "terminated (SIGTERM)" if isinstance(error, Terminated) else "interrupted"
        print(f"pynta {args.command}: {what}", file=sys.stderr)
        return interrupted_exit_code(error)
