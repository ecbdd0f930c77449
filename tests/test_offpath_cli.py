"""The ``pynta`` command off the happy path: what the file system refuses."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import napari_pynta
from napari_pynta.cli import main

#: bytes a command may write per file: a simulated store's frames or a table exceed it
FILE_SIZE_LIMIT = 64 * 1024


def run_with_file_size_limit(argv: list[str], cwd) -> subprocess.CompletedProcess:
    """Run ``pynta`` with ``ulimit -f``: a write past the limit fails with EFBIG, as on a full
    disk (Python ignores SIGXFSZ, so the write raises instead of killing the process)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))

    return subprocess.run(
        [sys.executable, "-m", "napari_pynta.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        preexec_fn=limit,
        env=dict(os.environ, PYTHONPATH=str(Path(napari_pynta.__file__).resolve().parents[1])),
        timeout=600,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "big.zarr", "--frames", "40", "--shape", "128", "128"],
        ["analyze", "small.zarr", "--out", "results", "--no-save", "--min-track-length", "3"],
    ],
    ids=["simulate", "analyze-out"],
)
def test_a_full_disk_is_one_line_saying_so_not_a_traceback(argv, tmp_path):
    """`pynta simulate` and `pynta analyze --out` on a full disk ended in a pandas or zarr
    traceback ("OSError: [Errno 27] File too large")."""
    movie = ["--frames", "20", "--shape", "128", "128", "--particles", "100", "--seed", "0"]
    # its localizations.csv alone is 156 kB, well past the limit
    assert main(["simulate", str(tmp_path / "small.zarr"), *movie]) == 0
    done = run_with_file_size_limit(argv, tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"pynta {argv[0]}: error: writing the output failed"), last
    assert "the disk is full or a file size limit" in last
    assert not (tmp_path / "big.zarr").exists()  # simulate leaves no half store behind


def test_a_full_disk_under_json_is_one_json_object_saying_so(tmp_path):
    """`pynta analyze --out --json` on a full disk printed nothing on stdout."""
    movie = ["--frames", "20", "--shape", "128", "128", "--particles", "100", "--seed", "0"]
    assert main(["simulate", str(tmp_path / "small.zarr"), *movie]) == 0
    argv = ["analyze", "small.zarr", "--out", "results", "--no-save", "--min-track-length", "3"]
    done = run_with_file_size_limit([*argv, "--json"], tmp_path)
    assert done.returncode == 1, done.stderr
    refusal = json.loads(done.stdout)
    assert refusal["error"].startswith("writing the output failed"), refusal
    assert done.stderr.strip().splitlines()[-1] == f"pynta analyze: error: {refusal['error']}"


@pytest.fixture
def small_movie(tmp_path):
    path = tmp_path / "run.zarr"
    assert (
        main(["simulate", str(path), "--frames", "30", "--shape", "64", "64", "--seed", "1"]) == 0
    )
    return path


def test_a_movie_given_twice_is_refused_not_combined_as_two_captures(
    small_movie, tmp_path, capsys, monkeypatch
):
    """`pynta analyze run.zarr ./run.zarr --combine` combined one capture as two replicates:
    "D50 110.8 ± 0.0", a standard error of 0 that no measurement has."""
    monkeypatch.chdir(tmp_path)
    code = main(["analyze", "run.zarr", "./run.zarr", "--combine", "--no-save"])
    err = capsys.readouterr().err
    assert code == 2
    assert "'run.zarr' is given again (as './run.zarr'): each movie is analysed once" in err


def test_a_copied_recording_is_said_to_be_one_capture(small_movie, tmp_path, capsys):
    """A copy of a store is the same recording: combined with its original it gave ± 0.0 as
    if two captures had agreed exactly."""
    import shutil

    copy = tmp_path / "copy.zarr"
    shutil.copytree(small_movie, copy)
    code = main(["analyze", str(small_movie), str(copy), "--combine", "--no-save"])
    err = capsys.readouterr().err
    assert code == 0
    assert (
        "warning: capture 1 (run.zarr) and capture 2 (copy.zarr) are one recording (the same "
        "start_time and frames)" in err
    )


def test_a_tiff_whose_metadata_give_a_wrong_pixel_size_is_blamed_not_the_flag(tmp_path, capsys):
    """A TIFF whose resolution tag says 10⁻⁶ pixels per µm was refused as "--pixel-size-um must
    be in [0.005, 20] (µm), got 1000000.0", a flag the user had not given."""
    import numpy as np
    import tifffile

    path = tmp_path / "huge_pixels.tif"
    frames = np.random.default_rng(0).poisson(100, (12, 32, 32)).astype(np.uint16)
    tifffile.imwrite(
        path,
        frames,
        imagej=True,
        resolution=(1e-6, 1e-6),
        metadata={"unit": "um", "finterval": 0.01},
    )
    physical = ["--exposure-s", "0.01", "--temperature-c", "22", "--no-save"]
    assert main(["analyze", str(path), *physical]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"pynta analyze: error: {str(path)!r}: its metadata's pixel_size_um must be in "
        "[0.005, 20] (µm), got 1000000.0; give the right value with --pixel-size-um"
    )
    # the flag replaces the metadata's value: the movie is analysed (pure noise: no particle is
    # found, a failed measurement, exit 1, not a refused input)
    code = main(
        ["analyze", str(path), *physical, "--pixel-size-um", "0.1", "--min-track-length", "3"]
    )
    error = capsys.readouterr().err
    assert code == 1, error
    assert "failed: No track was sized: no particle was found" in error


def test_a_simulation_refuses_a_pixel_the_analysis_refuses(tmp_path, capsys):
    """`pynta simulate --pixel-size-um 1e9` wrote a store that `pynta analyze` then refused;
    the simulated camera took such a pixel too."""
    from napari_pynta.errors import PyntaInputError
    from napari_pynta.simulate import SimulationSettings

    out = tmp_path / "far.zarr"
    code = main(
        ["simulate", str(out), "--frames", "3", "--shape", "32", "32", "--pixel-size-um", "1e9"]
    )
    assert code == 2 and not out.exists()
    assert capsys.readouterr().err.strip() == (
        "pynta simulate: error: --pixel-size-um must be in [0.005, 20] (µm), got 1000000000.0"
    )
    with pytest.raises(PyntaInputError, match=r"pixel_size_um must be in \[0.005, 20\]"):
        SimulationSettings(pixel_size_um=0.001)


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(small_movie):
    """`pynta analyze --json | head -c 300` ended in a BrokenPipeError traceback once head had
    read its bytes and left; a Unix tool ends quietly, with the status of SIGPIPE."""
    import signal

    command = [sys.executable, "-m", "napari_pynta.cli", "verify", str(small_movie), "--json"]
    env = dict(os.environ, PYTHONPATH=str(Path(napari_pynta.__file__).resolve().parents[1]))
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    process.stdout.close()  # the reader leaves before the command writes
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 128 + signal.SIGPIPE
    assert stderr == ""


def test_a_huge_separation_is_refused_not_allocated(small_movie, capsys):
    """`--separation 1e9` ended in numpy's "Unable to allocate 2.47 TiB" traceback (the fast
    engine's buffers grow with the separation)."""
    assert main(["analyze", str(small_movie), "--separation", "1e9", "--no-save"]) == 2
    assert capsys.readouterr().err.strip() == (
        "pynta analyze: error: --separation must be in (0, 256] (px), got 1000000000.0"
    )
