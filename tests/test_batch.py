"""Batch re-analysis on dask.distributed: equal to the serial pipeline, robust to broken movies."""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import pandas as pd
import psutil
import pytest
import tifffile
from distributed import LocalCluster
from same_numbers import assert_same_numbers, assert_same_table

from napari_pynta import analysis
from napari_pynta.batch import (
    analyze_batch,
    analyze_serially,
    combined_table,
    default_chunk_frames,
    format_batch_table,
    frame_chunks,
    summary_table,
)
from napari_pynta.cli import main
from napari_pynta.cluster import (
    BLAS_THREAD_VARIABLES,
    dask_client,
    validate_scheduler,
    validate_workers,
)
from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.export import PER_TRACK_FILE, SIZE_DISTRIBUTION_FILE
from napari_pynta.frame_range import FrameRange
from napari_pynta.readers import open_movie
from napari_pynta.simulate import SimulationSettings, simulate_movie
from napari_pynta.store import MovieStore

N_FRAMES = 40
#: metadata the TIFF files cannot carry; given as user overrides instead
TIFF_OVERRIDES = {"exposure_s": 0.01, "temperature_c": 22.0}
STORE_KEYS = ("pixel_size_um", "frame_interval_s", "exposure_s", "temperature_c", "solvent")


def _simulate(seed: int):
    settings = SimulationSettings(shape=(128, 128), n_particles=25, seed=seed)
    return simulate_movie(N_FRAMES, settings)


def _write_store(path, movie, keys=STORE_KEYS):
    store = MovieStore.create(
        path, movie.frames.shape[1:], "uint16", {key: movie.metadata[key] for key in keys}
    )
    store.append(movie.frames)
    store.close()
    return str(path)


def _write_tiff(path, movie):
    pixel_size = movie.metadata["pixel_size_um"]
    tifffile.imwrite(
        path,
        movie.frames,
        imagej=True,
        resolution=(1 / pixel_size, 1 / pixel_size),
        metadata={"unit": "um", "finterval": movie.metadata["frame_interval_s"], "axes": "TYX"},
    )
    return str(path)


def make_params(movie):
    """Parameters from metadata; a TIFF lacks exposure and temperature, the user gives them."""
    overrides = TIFF_OVERRIDES if movie.store is None else {}
    return analysis.AnalysisParams.from_metadata(movie.metadata, **overrides)


@functools.cache
def serial(path):
    """The serial pipeline's result, the reference every distributed result must equal."""
    movie = open_movie(path)
    return analysis.analyze(movie, make_params(movie))


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("movies")
    first, second = _simulate(seed=11), _simulate(seed=12)
    broken = folder / "broken.tif"
    broken.write_bytes(b"II*\x00 this is not a TIFF at all" * 10)
    return {
        "store": _write_store(folder / "first.zarr", first),
        "tiff": _write_tiff(folder / "second.tif", second),
        "broken": str(broken),
        "no_metadata": _write_store(
            folder / "bare.zarr",
            first,
            keys=tuple(key for key in STORE_KEYS if key != "exposure_s"),
        ),
        "missing": str(folder / "never-recorded.zarr"),
        "lost": _write_lost_frames_store(folder / "lost.zarr", first),
        "folder": str(folder),
    }


def _write_lost_frames_store(path, movie):
    """The movie's frames as a store whose camera lost one frame after every 8th."""
    seq = np.arange(N_FRAMES) + np.arange(N_FRAMES) // 8
    metadata = {key: movie.metadata[key] for key in STORE_KEYS}
    with MovieStore.create(path, movie.frames.shape[1:], "uint16", metadata) as store:
        store.append(movie.frames, timestamps_s=seq * metadata["frame_interval_s"], seq=seq)
    return str(path)


def _is_resource_tracker(process: psutil.Process) -> bool:
    """multiprocessing's resource tracker lives as long as its parent, by design."""
    try:
        return "resource_tracker" in " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def client():
    """A 2-process LocalCluster shared by the module; its worker processes must end with it."""
    me = psutil.Process()
    before = {child.pid for child in me.children(recursive=True)}
    with dask_client("local", n_workers=2, memory_limit="1GiB") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        workers = [
            child
            for child in me.children(recursive=True)
            if child.pid not in before and not _is_resource_tracker(child)
        ]
        assert len(workers) == 2  # one process per worker; the nannies run in this process
        yield client
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"worker processes left running: {alive}"


def assert_same_result(result, expected):
    """Same localizations, tracks, per-track table and JSON summary (floats to the summation
    order, see same_numbers)."""
    for name, table in expected.tables().items():
        assert_same_table(result.tables()[name], table)
    assert_same_numbers(result.summary, expected.summary)
    assert result.params == expected.params


def test_local_cluster_equals_serial_on_store_and_tiff(client, movies):
    expected = {kind: serial(movies[kind]) for kind in ("store", "tiff")}
    # 7 does not divide 40: chunk boundaries fall inside tracks and the last chunk is short
    outcomes = analyze_batch(
        [movies["store"], movies["tiff"]], client, make_params, chunk_frames=7, progress=False
    )
    assert [outcome.path for outcome in outcomes] == [movies["store"], movies["tiff"]]
    for outcome, kind in zip(outcomes, ("store", "tiff"), strict=False):
        assert outcome.ok, outcome.error
        assert_same_result(outcome.result, expected[kind])
        # not a vacuous equality: the movie was really tracked and sized
        assert outcome.result.summary["n_tracks"] >= 5
        assert outcome.result.localizations["frame"].nunique() == N_FRAMES
        assert 50 < outcome.result.summary["diameter_nm"] < 200  # simulated: 100 nm


def test_local_cluster_sizes_steps_across_lost_frames_as_serial(client, movies):
    """A store whose camera lost frames: the workers link and size on its acquisition numbers,
    as the serial pipeline does (they used the frame index, and the steps across the gaps
    counted one frame interval: 101 against 110 nm on a 90-frame capture)."""
    expected = serial(movies["lost"])
    # not vacuous: the same frames without the lost ones are sized otherwise
    assert expected.summary["diameter_nm"] != serial(movies["store"]).summary["diameter_nm"]
    (outcome,) = analyze_batch(
        [movies["lost"]], client, make_params, chunk_frames=7, progress=False
    )
    assert outcome.ok, outcome.error
    assert_same_result(outcome.result, expected)
    assert outcome.result.tracks["frame"].max() < N_FRAMES  # the tables keep the frame index


def test_default_chunking_equals_serial(client, movies):
    expected = serial(movies["store"])
    (outcome,) = analyze_batch([movies["store"]], client, make_params, progress=False)
    assert outcome.ok, outcome.error
    assert_same_result(outcome.result, expected)


def test_local_workers_keep_this_process_blas_threading(client):
    """dask's one-BLAS-thread default would change the last bit of the deconvolved sizes."""
    names = BLAS_THREAD_VARIABLES
    expected = {name: os.environ.get(name) for name in names}
    seen = client.run(lambda: {name: os.environ.get(name) for name in names})
    assert list(seen.values()) == [expected, expected]


def test_broken_movies_are_reported_while_the_others_finish(client, movies):
    paths = [movies[kind] for kind in ("broken", "store", "no_metadata", "missing", "tiff")]
    flags = {"exposure_s": "--exposure-s"}  # as the command line names the field
    outcomes = analyze_batch(
        paths, client, make_params, chunk_frames=16, progress=False, names=flags
    )
    assert [outcome.path for outcome in outcomes] == paths
    assert [outcome.ok for outcome in outcomes] == [False, True, False, False, True]
    assert "cannot read TIFF" in outcomes[0].error
    assert outcomes[2].error.startswith("--exposure-s is required"), outcomes[2].error
    assert "does not exist" in outcomes[3].error
    assert_same_result(outcomes[1].result, serial(movies["store"]))
    assert_same_result(outcomes[4].result, serial(movies["tiff"]))


def test_the_cluster_refuses_what_the_serial_analysis_refuses(client, movies, tmp_path):
    """A part too short for a track, and frames narrower than a particle, are refused before any
    task runs, in the serial analysis' words; the cluster analysed both into "no tracks were
    found: check the detection settings"."""
    narrow = _write_store(tmp_path / "narrow.zarr", _simulate(seed=14))
    with MovieStore.open(narrow, mode="r") as store:
        frames, metadata = np.asarray(store.as_dask()[:20, :5, :]), dict(store.metadata)
    with MovieStore.create(tmp_path / "thin.zarr", frames.shape[1:], "uint16", metadata) as thin:
        thin.append(frames)
    parts = {movies["store"]: FrameRange(0, 2), str(tmp_path / "thin.zarr"): None}
    for path, part in parts.items():
        (outcome,) = analyze_batch([path], client, make_params, progress=False, frame_range=part)
        with pytest.raises((PyntaInputError, PyntaDataError)) as refused:
            with open_movie(path, part) as movie:
                analysis.analyze(movie, make_params(movie))
        assert outcome.error == str(refused.value)
        assert "min_track_length 10" in outcome.error or "5 x 128 px" in outcome.error


def test_a_failure_inside_a_worker_task_fails_only_that_movie(client, movies, tmp_path):
    damaged = _write_store(tmp_path / "damaged.zarr", _simulate(seed=13))
    chunk = next(
        path
        for path in (tmp_path / "damaged.zarr" / "0").rglob("*")
        if path.is_file() and path.name != "zarr.json"
    )
    chunk.write_bytes(b"\x00garbage")  # opens fine on the client, fails when a worker decodes it
    logged_before = _failed_computations(client)
    outcomes = analyze_batch(
        [damaged, movies["store"]], client, make_params, chunk_frames=8, progress=False
    )
    assert not outcomes[0].ok
    # the data's fault: its message alone (a bug would show its exception type first)
    assert "damaged.zarr" in outcomes[0].error and not outcomes[0].error.startswith("Pynta")
    assert outcomes[1].ok, outcomes[1].error
    assert_same_result(outcomes[1].result, serial(movies["store"]))
    # a damaged movie is the data's fault, not a crash: before, each worker task that met it
    # logged "Compute Failed" with a traceback (printed by `pynta analyze --scheduler local`
    # above the one-line error)
    assert _failed_computations(client) == logged_before


def _failed_computations(client):
    """How many "Compute Failed" records the workers have logged so far."""
    logs = client.get_worker_logs()
    return sum("Compute Failed" in message for records in logs.values() for _, message in records)


def test_serial_batch_matches_analyze_and_isolates_errors(movies):
    paths = [movies["store"], movies["broken"]]
    outcomes = analyze_serially(paths, make_params, progress=False)
    assert_same_result(outcomes[0].result, serial(movies["store"]))
    assert not outcomes[1].ok and "cannot read TIFF" in outcomes[1].error


def test_summary_and_combined_tables(movies):
    paths = [movies["store"], movies["missing"], movies["tiff"]]
    outcomes = analyze_serially(paths, make_params, progress=False)
    table = summary_table(outcomes)
    assert list(table["movie"]) == paths
    assert list(table["status"]) == ["ok", "error", "ok"]
    assert table["error"].iloc[1].startswith(f"movie {movies['missing']!r} does not exist")
    for row, outcome in zip(table.itertuples(), outcomes, strict=False):
        if outcome.ok:
            assert row.n_tracks == outcome.result.summary["n_tracks"]
            assert row.diameter_nm == outcome.result.summary["diameter_nm"]
            assert row.size_d50_nm == outcome.result.summary["size_nm"]["d50"]
    # the terminal table gives the deconvolved D50 (the one --combine averages), not the raw one
    lines = format_batch_table(outcomes).splitlines()
    assert "deconvolved D50 (nm)" in lines[0]
    for line, outcome in zip(lines[1:-1], outcomes, strict=True):
        if outcome.ok:
            d50 = outcome.result.summary["deconvolved_nm"]["d50"]
            assert line.split()[5] == f"{d50:.1f}"
    combined = combined_table(outcomes, "per_track")
    assert combined.columns[0] == "movie"
    for outcome in (outcomes[0], outcomes[2]):
        rows = combined[combined["movie"] == outcome.path].drop(columns="movie")
        assert rows.reset_index(drop=True).equals(outcome.result.per_track.reset_index(drop=True))
    with pytest.raises(PyntaInputError, match="table must be one of"):
        combined_table(outcomes, "sizes")


def test_frame_chunks_cover_every_frame_once():
    assert frame_chunks(40, 7) == [(0, 7), (7, 14), (14, 21), (21, 28), (28, 35), (35, 40)]
    assert frame_chunks(3, 10) == [(0, 3)]
    assert frame_chunks(0, 5) == []
    for bad in (0, -2, 1.5, True):
        with pytest.raises(PyntaInputError, match="chunk_frames"):
            frame_chunks(10, bad)


def test_default_chunk_frames_bounds_memory_and_feeds_every_worker():
    megapixel_uint16 = 1024 * 1024 * 2
    assert default_chunk_frames(megapixel_uint16, 100_000, 8) == 32  # 64 MiB of pixels
    assert default_chunk_frames(megapixel_uint16, 40, 2) == 10  # two chunks per worker
    assert default_chunk_frames(10**9, 10, 1) == 1


@pytest.mark.parametrize(
    "value",
    [
        "",
        "tcp://",
        "tcp://host",
        "tcp://host:0",
        "tcp://host:70000",
        "http://host:8786",
        "localhost:8786",
        "LOCAL",
    ],
)
def test_bad_scheduler_values_are_rejected_with_the_flag_named(value):
    with pytest.raises(PyntaInputError, match="--scheduler"):
        validate_scheduler(value)


def test_scheduler_and_workers_validation():
    assert validate_scheduler(" local ") == "local"
    assert validate_scheduler("tcp://10.1.2.3:8786") == "tcp://10.1.2.3:8786"
    assert validate_scheduler("tls://node-7.cluster:8786") == "tls://node-7.cluster:8786"
    assert validate_workers("local", 3) == 3
    assert validate_workers("local", None) >= 1
    assert validate_workers("tcp://127.0.0.1:8786", None) is None
    with pytest.raises(PyntaInputError, match="--workers applies only to --scheduler local"):
        validate_workers("tcp://127.0.0.1:8786", 2)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(PyntaInputError, match="--workers must be an integer >= 1"):
            validate_workers("local", bad)


def test_unreachable_scheduler_is_a_clear_input_error():
    with pytest.raises(PyntaInputError, match="no dask scheduler answered"):
        with dask_client("tcp://127.0.0.1:9", timeout_s=1):
            pass


def test_scheduler_without_workers_is_reported():
    with LocalCluster(
        n_workers=0, processes=False, protocol="tcp://", dashboard_address=":0"
    ) as empty:
        with pytest.raises(PyntaDataError, match="has no worker"):
            with dask_client(empty.scheduler_address, timeout_s=1):
                pass


# ----------------------------------------------------------------------------- pynta analyze
TIFF_FLAGS = ["--exposure-s", "0.01", "--temperature-c", "22"]


def test_cli_local_cluster_json_equals_serial_json(movies, capsys):
    argv = ["analyze", movies["tiff"], *TIFF_FLAGS, "--json"]
    assert main(argv) == 0
    serial_out = capsys.readouterr().out
    assert main([*argv, "--scheduler", "local", "--workers", "1"]) == 0
    assert capsys.readouterr().out == serial_out
    assert json.loads(serial_out)["n_tracks"] >= 5


def test_cli_batch_on_a_running_scheduler_reports_the_broken_file(client, movies, capsys, tmp_path):
    paths = [movies["store"], movies["broken"], movies["tiff"]]
    argv = [
        "analyze",
        *paths,
        *TIFF_FLAGS,
        "--json",
        "--no-save",
        "--out",
        str(tmp_path),
        "--scheduler",
        client.scheduler.address,
    ]
    assert main(argv) == 1  # one movie failed
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert (payload["n_movies"], payload["n_failed"]) == (3, 1)
    assert [movie["status"] for movie in payload["movies"]] == ["ok", "error", "ok"]
    assert "cannot read TIFF" in payload["movies"][1]["error"]
    assert payload["movies"][1]["summary"] is None
    for index in (0, 2):
        expected = json.loads(json.dumps(serial(paths[index]).summary))
        assert payload["movies"][index]["summary"] == expected
    assert "broken.tif" in captured.err
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["status"]) == ["ok", "error", "ok"]
    per_track = pd.read_csv(tmp_path / "per_track.csv")
    assert len(per_track) == sum(
        movie["summary"]["n_tracks"] for movie in payload["movies"] if movie["summary"]
    )
    # each movie's folder holds what `--out` writes for that movie alone
    assert (
        json.loads((tmp_path / "first" / "summary.json").read_text())
        == payload["movies"][0]["summary"]
    )
    written = {path.name for path in (tmp_path / "second").iterdir()}
    assert {
        "localizations.csv",
        "tracks.csv",
        "per_track.csv",
        SIZE_DISTRIBUTION_FILE,
        PER_TRACK_FILE,
    } <= written


def test_cli_serial_batch_prints_one_row_per_movie(movies, capsys):
    argv = ["analyze", movies["tiff"], movies["missing"], *TIFF_FLAGS]
    assert main(argv) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["movie", "frames", "tracks"]
    assert lines[1].startswith(movies["tiff"]) and lines[1].split()[1] == str(N_FRAMES)
    assert (
        lines[2].startswith(movies["missing"])
        and "FAILED: movie " in lines[2]
        and "does not exist" in lines[2]
    )
    assert lines[-1] == "1 of 2 movies analysed, 1 failed"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--scheduler", "tcp://nohost"], "--scheduler must be 'local' or"),
        (["--workers", "2"], "--workers needs --scheduler local"),
        (["--scheduler", "local", "--workers", "0"], "--workers must be an integer >= 1"),
        (["--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"], "--workers applies only"),
    ],
)
def test_cli_rejects_bad_cluster_flags(movies, capsys, flags, message):
    assert main(["analyze", movies["tiff"], *TIFF_FLAGS, *flags]) == 2
    assert message in capsys.readouterr().err


def test_cli_batch_says_which_movies_sized_no_track_and_exits_1(client, movies, capsys):
    """A threshold that finds nothing gave every movie status 'ok', a row of n/a and exit code
    0, serially and on a cluster; each row now says why no track was sized."""
    argv = ["analyze", movies["store"], movies["tiff"], *TIFF_FLAGS, "--no-save"]
    assert main([*argv, "--minmass", "1e9"]) == 1
    lines = capsys.readouterr().out.splitlines()
    for line, path in zip(lines[1:3], (movies["store"], movies["tiff"]), strict=True):
        assert line.startswith(path) and "NO TRACK SIZED: No track was sized: no particle" in line
    assert lines[-1] == "2 of 2 movies analysed, 2 without a sized track"
    on_cluster = [*argv, "--minmass", "1e9", "--json", "--scheduler", client.scheduler.address]
    assert main(on_cluster) == 1
    payload = json.loads(capsys.readouterr().out)
    assert [movie["status"] for movie in payload["movies"]] == ["unsized", "unsized"]
    assert (payload["n_failed"], payload["n_unsized"]) == (0, 2)
