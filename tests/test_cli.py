"""The ``pynta`` entry point itself: what it needs installed and what it imports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import napari_pynta

#: this copy of the package first on the child's path (the worktree, not another install)
SOURCE_ROOT = str(Path(napari_pynta.__file__).resolve().parents[1])


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports this copy of napari_pynta."""
    env = dict(os.environ, PYTHONPATH=SOURCE_ROOT)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_pynta_without_napari_names_the_extra_to_install_and_imports_no_qt():
    result = run_python(
        """
        import sys
        sys.modules["napari"] = None  # as if napari were not installed
        from napari_pynta.cli import main
        code = main([])
        loaded = [m for m in ("qtpy", "PyQt5", "PyQt6", "PySide6") if m in sys.modules]
        print(code, loaded)
        """
    )
    assert result.stdout.strip() == "2 []", result.stderr
    assert "napari" in result.stderr and "napari-pynta[all]" in result.stderr


#: the science stack: none of it is needed to print the command-line help
HEAVY_MODULES = ("trackpy", "pandas", "zarr", "dask", "numba", "napari", "qtpy", "zmq")


@pytest.mark.parametrize("argv", [["--help"], ["analyze", "--help"], ["acquire", "--help"]])
def test_help_imports_none_of_the_science_stack(argv):
    result = run_python(
        f"""
        import sys
        from napari_pynta.cli import main
        try:
            main({argv!r})
        except SystemExit as exit:
            print("exit", exit.code, file=sys.stderr)
        print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules), file=sys.stderr)
        """
    )
    assert result.stderr.splitlines()[-2:] == ["exit 0", "[]"], result.stderr
    assert "usage: pynta" in result.stdout


def test_python_dash_m_runs_the_pynta_command():
    env = dict(os.environ, PYTHONPATH=SOURCE_ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "napari_pynta.cli", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert (
        result.returncode == 0
        and result.stdout.strip() == f"napari-pynta {napari_pynta.__version__}"
    )


def test_an_interruption_repeated_within_the_window_is_one_and_a_later_one_counts(monkeypatch):
    """timeout(1) signals the command, then its process group: the second SIGINT (or SIGTERM)
    within ``REPEATED_SIGNAL_S`` of the first is not a second Ctrl-C; one after it is."""
    import signal
    import time

    from napari_pynta import cli

    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    # as in a command started from a terminal (an earlier test may have left another handler)
    before = (
        signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.getsignal(signal.SIGTERM),
    )
    try:
        with cli.sigterm_stops_in_order():
            with pytest.raises(KeyboardInterrupt) as first:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1.0)  # the handler runs at the next bytecode, long before this ends
            assert not isinstance(first.value, cli.Terminated)
            clock[0] += cli.REPEATED_SIGNAL_S / 2
            os.kill(os.getpid(), signal.SIGINT)  # the same one, sent again: nothing happens
            os.kill(os.getpid(), signal.SIGTERM)
            clock[0] += cli.REPEATED_SIGNAL_S
            with pytest.raises(cli.Terminated):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1.0)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is before[1]
    finally:
        signal.signal(signal.SIGINT, before[0])


def test_analyse_spelled_the_british_way_runs_analyze(tmp_path, capsys):
    # the guide says "analyse" (Open measurement…, "Analyse them together"): before, `pynta
    # analyse` ended in "invalid choice: 'analyse'"; now it is analyze, its checks included
    from napari_pynta.cli import main

    assert main(["analyse", str(tmp_path / "none.zarr")]) == 2
    err = capsys.readouterr().err
    assert "none.zarr' does not exist; pynta opens a pynta store" in err, err


def test_a_negative_value_after_a_flag_is_its_value_and_a_flag_is_not():
    """argparse reads ``-1,0,10,10`` and ``-1e-3`` as flags ("argument --roi: expected one
    argument"); they are the values of the flag before them, a flag after one is not."""
    from napari_pynta.cli import build_parser

    parser = build_parser()
    args, unknown = parser.parse_known_args(
        ["acquire", "--roi", "-1,0,10,10", "--exposure-s", "-1e-3", "--temperature-c", "-5"]
    )
    assert unknown == [] and args.roi == "-1,0,10,10"
    assert args.exposure_s == -1e-3 and args.temperature_c == -5
    with pytest.raises(SystemExit):
        parser.parse_known_args(["acquire", "--roi", "--json"])
    # a switch takes no value: a negative number after it stays a word of its own
    assert parser.parse_known_args(["acquire", "--json", "-1"])[1] == ["-1"]
