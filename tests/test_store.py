"""Tests of the zarr movie store: frames, metadata, per-frame arrays, tables, crash safety."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import psutil
import pytest
import zarr
from store_faults import flip_a_bit_inside, forget_inner_chunk, write_tables_killed_after_the_first

import napari_pynta
from napari_pynta import shards
from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.store import MovieStore

METADATA = {
    "pixel_size_um": 0.11,
    "frame_interval_s": 0.02,
    "exposure_s": 0.015,
    "temperature_c": 22.5,
    "viscosity_pa_s": 9.5e-4,
    "solvent": "water",
    "camera": "simulated",
    "camera_settings": {"gain": 2, "roi": [0, 0, 16, 24]},
}


def random_frames(n: int, shape=(16, 24), dtype="uint16", seed=0) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(0, info.max, (n, *shape), dtype=dtype)


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "movie.zarr"


def test_frames_metadata_and_times_round_trip(store_path):
    frames = random_frames(7)
    times = np.linspace(10.0, 10.12, 7)
    seq = np.array([3, 4, 5, 7, 8, 9, 12])  # gaps = frames the camera dropped
    store = MovieStore.create(store_path, (16, 24), "uint16", METADATA)
    store.append(frames, timestamps_s=times, seq=seq)
    store.close()

    reopened = MovieStore.open(store_path)
    assert reopened.n_frames == 7
    assert reopened.dtype == np.uint16 and reopened.frame_shape == (16, 24)
    np.testing.assert_array_equal(reopened.frames[:], frames)
    np.testing.assert_array_equal(reopened.timestamps_s, times)
    np.testing.assert_array_equal(reopened.seq, seq)
    assert reopened.seq.dtype == np.int64 and reopened.timestamps_s.dtype == np.float64
    meta = reopened.metadata
    for key, value in METADATA.items():
        assert meta[key] == value
    assert meta["software_version"] == napari_pynta.__version__
    assert meta["start_time"].endswith("+00:00")


def test_appends_in_batches_and_single_frames_concatenate(store_path):
    frames = random_frames(10, dtype="uint8", seed=1)
    store = MovieStore.create(store_path, (16, 24), np.uint8, METADATA)
    store.append(frames[:4])
    store.append(frames[4])  # one (Y, X) frame
    store.append(frames[5:5])  # an empty block is a no-op
    store.append(frames[5:])
    assert store.n_frames == 10
    np.testing.assert_array_equal(store.as_dask().compute(), frames)
    np.testing.assert_array_equal(store.seq, np.arange(10))
    # default timestamps: frame index x frame interval
    np.testing.assert_allclose(store.timestamps_s, np.arange(10) * METADATA["frame_interval_s"])


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_frames_are_sharded_one_frame_per_inner_chunk_lz4_index_first(store_path, dtype):
    frames = random_frames(70, dtype=dtype, seed=8)
    store = MovieStore.create(store_path, (16, 24), dtype, METADATA)
    assert store._thin_writer() is not None  # appended with plain file writes, not zarr-python
    store.append(frames[:40])
    store.append(frames[40:])
    assert store.frames.chunks == (1, 16, 24) and store.frames.shards == (64, 16, 24)
    meta = json.loads((store_path / "0" / "zarr.json").read_text())
    (sharding,) = meta["codecs"]
    config = sharding["configuration"]
    assert sharding["name"] == "sharding_indexed" and config["index_location"] == "start"
    assert [c["name"] for c in config["index_codecs"]] == ["bytes", "crc32c"]
    assert [c["name"] for c in config["codecs"]] == ["bytes", "blosc", "crc32c"]
    blosc = config["codecs"][1]["configuration"]
    assert blosc["cname"] == "lz4" and blosc["shuffle"] == "shuffle"
    assert meta["dimension_names"] == ["t", "y", "x"]
    assert sorted(p.name for p in (store_path / "0" / "c").iterdir()) == ["0", "1"]
    # plain zarr-python reads what the thin shard writer wrote
    np.testing.assert_array_equal(zarr.open_array(store_path / "0", mode="r")[:], frames)


def test_blocks_across_chunk_and_shard_boundaries_read_back_with_plain_zarr(store_path):
    frames = random_frames(4100, shape=(2, 3), dtype="uint8", seed=11)
    seq = np.arange(4100) * 2 + 5
    times = np.arange(4100) * 0.5
    store = MovieStore.create(store_path, (2, 3), "uint8", METADATA)
    for start in (0, 63, 1000, 4095):  # blocks ending inside shards and the 4096 time chunk
        stop = {0: 63, 63: 1000, 1000: 4095, 4095: 4100}[start]
        store.append(frames[start:stop], timestamps_s=times[start:stop], seq=seq[start:stop])
        np.testing.assert_array_equal(store.seq, seq[:stop])  # reads see every append
    store.close()
    group = zarr.open_group(store_path, mode="r")
    for part in (slice(0, 130), slice(990, 1010), slice(4090, 4100)):
        np.testing.assert_array_equal(group["0"][part], frames[part])
    np.testing.assert_array_equal(group["seq"][:], seq)
    np.testing.assert_array_equal(group["timestamps_s"][:], times)
    assert MovieStore.open(store_path).n_frames == 4100


def test_format_1_store_with_one_chunk_per_frame_reads_and_appends(store_path, write_format1_store):
    frames = random_frames(6, seed=9)
    old = write_format1_store(store_path, frames[:4])
    np.testing.assert_array_equal(old.as_dask().compute(), frames[:4])
    writer = MovieStore.open(store_path, mode="r+")
    writer.append(frames[4:])
    np.testing.assert_array_equal(MovieStore.open(store_path).as_dask().compute(), frames)
    assert (store_path / "0" / "c" / "5" / "0" / "0").is_file()  # still one chunk per frame


def test_read_only_open_is_lazy_and_equals_numpy(store_path):
    frames = random_frames(6, seed=2)
    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(frames)
    reader = MovieStore.open(store_path, mode="r")
    lazy = reader.as_dask()
    assert isinstance(lazy, da.Array)
    assert lazy.chunks == ((1,) * 6, (16,), (24,))
    np.testing.assert_array_equal(lazy[2:5].compute(), frames[2:5])
    np.testing.assert_array_equal(lazy.max(axis=0).compute(), frames.max(axis=0))


def test_read_only_store_refuses_every_write(store_path):
    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(random_frames(2))
    reader = MovieStore.open(store_path, mode="r")
    for write in (
        lambda: reader.append(random_frames(1)),
        lambda: reader.update_metadata(temperature_c=25.0),
        lambda: reader.write_table("t", pd.DataFrame({"a": [1]})),
    ):
        with pytest.raises(PyntaInputError, match="read-only"):
            write()
    assert MovieStore.open(store_path).n_frames == 2


def test_reopen_for_writing_continues_seq_and_time(store_path):
    frames = random_frames(6, seed=3)
    store = MovieStore.create(store_path, (16, 24), "uint16", METADATA)
    store.append(frames[:3], seq=[10, 11, 12])
    store.close()
    writer = MovieStore.open(store_path, mode="r+")
    writer.append(frames[3:])
    np.testing.assert_array_equal(writer.seq, [10, 11, 12, 13, 14, 15])
    np.testing.assert_array_equal(writer.frames[:], frames)
    with pytest.raises(PyntaInputError, match="seq must increase"):
        writer.append(frames[:1], seq=[15])
    with pytest.raises(PyntaInputError, match="seq must be non-negative"):
        MovieStore.create(store_path.with_name("b.zarr"), (16, 24), "uint16", {}).append(
            frames[:1], seq=[-2]
        )


def test_writer_killed_while_appending_leaves_a_consistent_store(store_path):
    """SIGKILL a writer in the middle of a stream of appends: every counted frame is complete."""
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        from napari_pynta.store import MovieStore
        metadata = {{"frame_interval_s": 0.01}}
        store = MovieStore.create({str(store_path)!r}, (16, 24), "uint16", metadata)
        block = 0
        while True:
            block += 1
            store.append(np.full((4, 16, 24), block, np.uint16))
            if block == 3:
                print("writing", flush=True)
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline().strip() == b"writing"
        time.sleep(0.3)
    finally:
        writer.kill()
        writer.wait(timeout=30)
    store = MovieStore.open(store_path)
    n = store.n_frames
    assert n >= 12 and n % 4 == 0  # blocks are counted whole
    frames = store.as_dask().compute()
    np.testing.assert_array_equal(frames[:, 0, 0], np.arange(n) // 4 + 1)
    assert (frames == frames[:, :1, :1]).all()
    np.testing.assert_array_equal(store.seq, np.arange(n))
    np.testing.assert_allclose(store.timestamps_s, np.arange(n) * 0.01)
    resumed = MovieStore.open(store_path, mode="r+")
    resumed.append(np.zeros((2, 16, 24), np.uint16))
    np.testing.assert_array_equal(resumed.seq, np.arange(n + 2))


def test_acknowledged_frames_of_an_unfinished_shard_survive_sigkill(store_path):
    """Frames 64..102 sit in a shard that never filled; the writer is killed, not closed."""
    script = textwrap.dedent(
        f"""
        import time, numpy as np
        from napari_pynta.store import MovieStore
        store = MovieStore.create({str(store_path)!r}, (16, 24), "uint16", {{}})
        for start in range(0, 103, 5):
            n = min(5, 103 - start)
            store.append(np.arange(start, start + n, dtype=np.uint16)[:, None, None]
                         * np.ones((1, 16, 24), np.uint16))
            print(store.n_frames, flush=True)  # acknowledged
        time.sleep(60)
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        acked = [int(writer.stdout.readline())]
        while acked[-1] < 103:
            acked.append(int(writer.stdout.readline()))
    finally:
        writer.kill()
        writer.wait(timeout=30)
    expected = np.arange(103, dtype=np.uint16)[:, None, None] * np.ones((1, 16, 24), np.uint16)
    with open(store_path / "0" / "c" / "1" / "0" / "0", "ab") as shard:
        shard.write(b"\x07" * 300)  # bytes of a write that was cut short: never acknowledged
    store = MovieStore.open(store_path)
    assert store.n_frames == 103
    np.testing.assert_array_equal(store.as_dask().compute(), expected)
    np.testing.assert_array_equal(zarr.open_array(store_path / "0", mode="r")[:], expected)
    resumed = MovieStore.open(store_path, mode="r+")
    resumed.append(np.full((30, 16, 24), 7, np.uint16))
    resumed.close()
    reopened = MovieStore.open(store_path)
    np.testing.assert_array_equal(reopened.as_dask()[:103].compute(), expected)
    assert (reopened.as_dask()[103:].compute() == 7).all() and reopened.n_frames == 133


def test_incomplete_last_block_is_ignored_then_truncated(store_path):
    """Simulate a crash after the pixels of a block were written but before its times/seq."""
    frames = random_frames(5, seed=4)
    store = MovieStore.create(store_path, (16, 24), "uint16", METADATA)
    store.append(frames[:3])
    store.frames.resize((5, 16, 24))  # what append does first...
    store.frames[3:5] = frames[3:]  # ...then the crash happens before timestamps/seq
    del store

    reader = MovieStore.open(store_path, mode="r")
    assert reader.n_frames == 3
    assert reader.as_dask().shape == (3, 16, 24)
    assert reader.timestamps_s.shape == reader.seq.shape == (3,)

    writer = MovieStore.open(store_path, mode="r+")
    assert writer.frames.shape == (3, 16, 24)  # truncated to the consistent length
    writer.append(frames[3:])
    np.testing.assert_array_equal(MovieStore.open(store_path).frames[:], frames)


def test_block_whose_seq_was_resized_but_not_written_is_ignored(store_path):
    """Crash between resizing seq and writing it: the unwritten seq (fill -1) marks the block."""
    frames = random_frames(6, seed=5)
    store = MovieStore.create(store_path, (16, 24), "uint16", METADATA)
    store.append(frames[:4])
    for array in (store.frames, store._timestamps):
        array.resize((6, *array.shape[1:]))
    store.frames[4:6] = frames[4:]
    store._timestamps[4:6] = [1.0, 2.0]
    store._seq.resize((6,))  # ...and the writer dies here
    reader = MovieStore.open(store_path)
    assert reader.n_frames == 4
    np.testing.assert_array_equal(reader.seq, np.arange(4))
    np.testing.assert_array_equal(reader.as_dask().compute(), frames[:4])


def test_ome_ngff_metadata_matches_pixel_size_and_frame_interval(store_path):
    store = MovieStore.create(store_path, (16, 24), "uint16", METADATA)
    attrs = json.loads((store_path / "zarr.json").read_text())["attributes"]
    ome = attrs["ome"]
    assert ome["version"] == "0.5"
    (multiscale,) = ome["multiscales"]
    assert [a["name"] for a in multiscale["axes"]] == ["t", "y", "x"]
    assert [a["type"] for a in multiscale["axes"]] == ["time", "space", "space"]
    assert [a["unit"] for a in multiscale["axes"]] == ["second", "micrometer", "micrometer"]
    (dataset,) = multiscale["datasets"]
    assert dataset["path"] == "0" and (store_path / "0" / "zarr.json").is_file()
    (scale,) = dataset["coordinateTransformations"]
    assert scale == {"type": "scale", "scale": [0.02, 0.11, 0.11]}

    store.update_metadata(pixel_size_um=0.2, frame_interval_s=0.05)
    attrs = json.loads((store_path / "zarr.json").read_text())["attributes"]
    new_scale = attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
    assert new_scale["scale"] == [0.05, 0.2, 0.2]
    meta = MovieStore.open(store_path).metadata
    assert meta["pixel_size_um"] == 0.2 and meta["exposure_s"] == METADATA["exposure_s"]


def test_unknown_pixel_size_gives_unitless_ome_axes(store_path):
    MovieStore.create(store_path, (8, 8), "uint8", {"frame_interval_s": 0.1})
    ome = json.loads((store_path / "zarr.json").read_text())["attributes"]["ome"]
    axes = ome["multiscales"][0]["axes"]
    assert "unit" not in axes[1] and axes[0]["unit"] == "second"
    scale = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == [0.1, 1.0, 1.0]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("pixel_size_um", 0),
        ("pixel_size_um", -0.1),
        ("frame_interval_s", float("nan")),
        ("exposure_s", "fast"),
        ("viscosity_pa_s", -1e-3),
        ("temperature_c", -300.0),
        ("camera", 5),
        ("camera_settings", "gain=2"),
        ("start_time", "yesterday"),
        ("my_note", object()),
    ],
)
def test_bad_metadata_is_refused_naming_the_key(store_path, key, value):
    with pytest.raises(PyntaInputError, match=key):
        MovieStore.create(store_path, (8, 8), "uint16", {**METADATA, key: value})
    assert not store_path.exists()


def test_exposure_longer_than_frame_interval_is_refused(store_path):
    store = MovieStore.create(store_path, (8, 8), "uint16", METADATA)
    with pytest.raises(PyntaInputError, match="exposure_s"):
        store.update_metadata(exposure_s=0.03)
    assert store.metadata["exposure_s"] == METADATA["exposure_s"]


def test_unknown_metadata_keys_are_kept(store_path):
    MovieStore.create(
        store_path, (8, 8), "uint16", {"operator": "ada", "dilution": np.float32(100)}
    )
    meta = MovieStore.open(store_path).metadata
    assert meta["operator"] == "ada" and meta["dilution"] == 100.0


@pytest.mark.parametrize("dtype", ["float32", "int16", np.uint32, "bool"])
def test_unsupported_frame_dtype_is_refused(store_path, dtype):
    with pytest.raises(PyntaInputError, match=rf"{np.dtype(dtype).name}.*uint8, uint16"):
        MovieStore.create(store_path, (8, 8), dtype, METADATA)


def test_append_with_wrong_shape_or_dtype_is_refused(store_path):
    store = MovieStore.create(store_path, (8, 8), "uint8", METADATA)
    with pytest.raises(PyntaInputError, match=r"\(n, 8, 8\).*\(2, 8, 9\)"):
        store.append(np.zeros((2, 8, 9), np.uint8))
    with pytest.raises(PyntaInputError, match="uint16"):
        store.append(np.zeros((2, 8, 8), np.uint16))
    with pytest.raises(PyntaInputError, match="timestamps_s"):
        store.append(np.zeros((2, 8, 8), np.uint8), timestamps_s=[0.0])
    assert store.n_frames == 0
    with pytest.raises(PyntaInputError, match="frame_shape"):
        MovieStore.create(store_path.with_name("b.zarr"), (0, 8), "uint8", METADATA)


def test_a_store_under_a_file_is_refused_before_anything_starts(tmp_path):
    """`pynta acquire --out a_file/run.zarr` started the pipeline and then failed in the saver
    ("saver failed: NotADirectoryError: [Errno 20] Not a directory"); a missing parent folder
    is created, as before."""
    (tmp_path / "notes.txt").write_text("a file")
    with pytest.raises(PyntaInputError, match=r"notes\.txt' is a file, not a folder"):
        MovieStore.create(tmp_path / "notes.txt" / "deeper" / "run.zarr", (4, 4), "uint8", {})
    with MovieStore.create(tmp_path / "new" / "folders" / "run.zarr", (4, 4), "uint8", {}):
        pass


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_store_where_nothing_can_be_written_is_refused_before_anything_starts():
    """`pynta acquire --out /proc/run.zarr` started the pipeline and then failed in the saver
    ("saver failed: FileNotFoundError"); permission bits cannot show it (root passes them)."""
    with pytest.raises(PyntaInputError, match=r"nothing can be written in '/proc'"):
        MovieStore.create(Path("/proc/pynta-test/run.zarr"), (4, 4), "uint8", {})
    assert not Path("/proc/pynta-test").exists()


def test_existing_path_needs_overwrite(store_path):
    MovieStore.create(store_path, (8, 8), "uint8", METADATA).append(np.ones((2, 8, 8), np.uint8))
    with pytest.raises(PyntaInputError, match="overwrite"):
        MovieStore.create(store_path, (8, 8), "uint8", METADATA)
    assert MovieStore.create(store_path, (8, 8), "uint8", METADATA, overwrite=True).n_frames == 0


def test_a_store_another_process_writes_is_neither_replaced_nor_opened_for_writing(store_path):
    """A second `pynta acquire --overwrite` deleted the store a running recording was writing."""
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        from napari_pynta.store import MovieStore
        store = MovieStore.create({str(store_path)!r}, (8, 8), "uint8", {{}})
        store.append(np.full((3, 8, 8), 7, np.uint8))
        print("writing", flush=True)
        sys.stdin.readline()
        """
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    # the refusal names the writer (it said "another process": which one, the user had to
    # find out, e.g. a saver of a closed session stuck in a write to a hung disk)
    try:
        assert writer.stdout.readline().strip() == b"writing"
        name = psutil.Process(writer.pid).name()
        held = f"being written by process {writer.pid} ({name}) (a recording or an analysis saving"
        with pytest.raises(PyntaInputError, match=re.escape(held)):
            MovieStore.create(store_path, (8, 8), "uint8", METADATA, overwrite=True)
        with pytest.raises(PyntaDataError, match=re.escape(held)):
            MovieStore.open(store_path, mode="r+")
        reader = MovieStore.open(store_path)  # reading while it is written stays allowed
        np.testing.assert_array_equal(reader.as_dask().compute(), np.full((3, 8, 8), 7))
    finally:
        writer.communicate(b"\n", timeout=30)
    MovieStore.open(store_path, mode="r+").close()  # the writer's exit releases the store
    assert MovieStore.create(store_path, (8, 8), "uint8", METADATA, overwrite=True).n_frames == 0


@pytest.mark.parametrize("kind", ["folder", "file", "zarr group not written by pynta"])
def test_overwrite_refuses_anything_but_a_pynta_store_and_leaves_it_intact(tmp_path, kind):
    target = tmp_path / "precious"
    if kind == "file":
        target.write_text("thesis draft")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("thesis draft")
        if kind.startswith("zarr"):
            (target / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(PyntaInputError, match="not a pynta store"):
        MovieStore.create(target, (8, 8), "uint8", METADATA, overwrite=True)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    text = target.read_text() if kind == "file" else (target / "notes.txt").read_text()
    assert text == "thesis draft"


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_frames_read_without_zarr_python_are_zarr_pythons(store_path, dtype):
    """The thin shard reader (what ``as_dask`` and the playback camera read through) returns the
    same pixels as zarr-python, the reference reader of the format, across shard boundaries."""
    frames = random_frames(140, dtype=dtype, seed=3)
    with MovieStore.create(store_path, (16, 24), dtype, METADATA) as store:
        store.append(frames[:70])
        store.append(frames[70:])
    store = MovieStore.open(store_path)
    reference = zarr.open_array(store_path / "0", mode="r")[:]
    reader = store.layout.reader(store.frame_shape, store.dtype)
    assert reader is not None, "a format-2 store is read without zarr-python"
    block, present = reader.read(50, 140)
    assert present.all() and block.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(block, reference[50:140])
    np.testing.assert_array_equal(store.as_dask().compute(), reference)
    np.testing.assert_array_equal(reference, frames)


def test_absent_frame_is_an_error_naming_it_never_zeros(store_path):
    frames = random_frames(70, seed=7)
    frames[2] = 0  # a dark frame is data: it is written, not left to the fill value
    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(frames)
    np.testing.assert_array_equal(MovieStore.open(store_path).as_dask().compute(), frames)
    forget_inner_chunk(store_path / "0" / "c" / "0" / "0" / "0", 4)
    lazy = MovieStore.open(store_path).as_dask()
    np.testing.assert_array_equal(lazy[:4].compute(), frames[:4])  # the others still read
    with pytest.raises(PyntaDataError, match=r"frame 4 \(0/c/0/0/0\) missing"):
        lazy.compute()
    (store_path / "0" / "c" / "1" / "0" / "0").unlink()  # a whole shard
    # every absent frame of the store, by runs, not the one a reading thread met first
    match = r"frames 4 \(0/c/0/0/0\), 64\.\.69 \(0/c/1/0/0\) missing"
    with pytest.raises(PyntaDataError, match=match):
        MovieStore.open(store_path).as_dask()[60:].compute()


def test_a_truncated_shard_is_an_error_in_every_thread_never_zeros(store_path):
    """A shard cut short (an interrupted copy, a damaged disk) keeps its index; the frames whose
    bytes are gone were read as zeros off the main thread (blosc's threaded decoder does not
    check the length: `pynta analyze --scheduler local` sized a movie with 22 black frames)
    and as a raw blosc RuntimeError on it."""
    frames = random_frames(70, seed=7)
    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(frames)
    shard = store_path / "0" / "c" / "1" / "0" / "0"  # frames 64..69
    with open(shard, "r+b") as file:
        file.truncate(shard.stat().st_size - 100)
    lazy = MovieStore.open(store_path).as_dask()
    np.testing.assert_array_equal(lazy[:64].compute(), frames[:64])  # the others still read
    outcome: list[object] = []

    def read_in_a_thread() -> None:
        try:
            outcome.append(lazy[60:].compute(scheduler="synchronous"))
        except PyntaDataError as error:
            outcome.append(error)

    worker = threading.Thread(target=read_in_a_thread)
    worker.start()
    worker.join()
    assert isinstance(outcome[0], PyntaDataError), "read as zeros"
    assert "0/c/1/0/0" in str(outcome[0]) and "damaged" in str(outcome[0])
    with pytest.raises(PyntaDataError, match=r"frame 6\d \(0/c/1/0/0\)"):
        lazy[60:].compute(scheduler="synchronous")


def test_appending_to_a_shard_cut_at_a_frame_boundary_never_revives_its_lost_frames(store_path):
    """A shard cut short (power lost before its data reached the disk, an interrupted copy)
    keeps an index listing frames past its end. Appending after it wrote the new frames where
    the lost ones had been listed: frames 66..69 were read as copies of frames 70..73, with
    matching sizes and checksums, and `pynta verify --read-pixels` said ok. They stay absent."""
    frames = random_frames(80, seed=7)
    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(frames[:70])
    shard = store_path / "0" / "c" / "1" / "0" / "0"  # frames 64..69
    cut = int(shards.read_index(shard, 64, index_at_start=True)[2, 0])  # where frame 66 begins
    with open(shard, "r+b") as file:
        file.truncate(cut)
    with MovieStore.open(store_path, mode="r+") as store:
        store.append(frames[70:])
    with MovieStore.open(store_path) as store:
        lost = (np.arange(64, 80) >= 66) & (np.arange(64, 80) < 70)
        np.testing.assert_array_equal(store.layout.present(64, 80), ~lost)
        np.testing.assert_array_equal(store.read_frames(70, 80), frames[70:])
        np.testing.assert_array_equal(store.read_frames(0, 66), frames[:66])


def _advised_commands(message: str) -> list[list[str]]:
    """The commands a message advises (between backticks), as a shell splits them."""
    return [shlex.split(command) for command in re.findall(r"`(pynta [^`]*)`", message)]


def test_the_verify_command_a_damaged_store_advises_runs_on_a_path_with_spaces(tmp_path):
    """`pynta verify my movies/day 1's.zarr` was advised unquoted: pasted into a shell it asks
    for three other paths, or waits for the closing quote."""
    path = tmp_path / "my movies" / "day 1's.zarr"
    with MovieStore.create(path, (16, 24), "uint16", METADATA) as store:
        store.append(random_frames(10, seed=7))
    shard = path / "0" / "c" / "0" / "0" / "0"
    flip_a_bit_inside(shard, 3)
    with pytest.raises(PyntaDataError) as undecodable:
        MovieStore.open(path).read_frames(0, 10)
    forget_inner_chunk(shard, 5)
    with pytest.raises(PyntaDataError) as missing:
        MovieStore.open(path).read_frames(0, 10)
    for error in (undecodable.value, missing.value):
        commands = _advised_commands(str(error))
        assert any(command[:2] == ["pynta", "verify"] for command in commands), str(error)
        assert all(command[-1] == str(path) for command in commands), commands


def test_an_undecodable_frame_is_a_data_error_naming_the_store(store_path):
    frames = random_frames(10, seed=7)
    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(frames)
    shard = store_path / "0" / "c" / "0" / "0" / "0"
    offset = int(shards.read_index(shard, 64, index_at_start=True)[3, 0])
    with open(shard, "r+b") as file:  # frame 3's blosc header overwritten
        file.seek(offset)
        file.write(b"\xff" * 16)
    lazy = MovieStore.open(store_path).as_dask()
    np.testing.assert_array_equal(lazy[:3].compute(), frames[:3])
    with pytest.raises(PyntaDataError, match=r"frame 3 cannot be decoded.*pynta verify"):
        lazy[2:5].compute(scheduler="synchronous")


def test_a_changed_byte_in_a_frame_is_found_not_read_as_other_pixels(store_path):
    """Without a checksum a bit flipped inside a frame's lz4 data decoded, and the frame was read
    with changed pixels (`pynta verify --read-pixels` said ok); zarr-python, reading the same
    store, agrees that the frame is damaged."""
    frames = random_frames(10, seed=7)
    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(frames)
    flip_a_bit_inside(store_path / "0" / "c" / "0" / "0" / "0", 3)
    lazy = MovieStore.open(store_path).as_dask()
    np.testing.assert_array_equal(lazy[4:].compute(), frames[4:])
    with pytest.raises(PyntaDataError, match=r"frame 3 cannot be decoded.*checksum does not match"):
        lazy[2:5].compute(scheduler="synchronous")
    with pytest.raises(ValueError, match="checksum"):
        zarr.open_array(store_path / "0", mode="r")[3]


def test_format_2_stores_written_without_frame_checksums_still_read_and_append(store_path):
    """Stores written before the frames carried their crc32c are read and appended to by the
    thin reader and writer as before, without checksums (zarr-python agrees)."""
    frames = random_frames(70, seed=9)
    MovieStore.create(store_path, (16, 24), "uint16", METADATA).close()
    meta_path = store_path / "0" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    inner = meta["codecs"][0]["configuration"]["codecs"]
    meta["codecs"][0]["configuration"]["codecs"] = [c for c in inner if c["name"] != "crc32c"]
    meta_path.write_text(json.dumps(meta))
    with MovieStore.open(store_path, mode="r+") as store:
        assert store._thin_writer() is not None
        store.append(frames[:40])
        store.append(frames[40:])
    with MovieStore.open(store_path) as store:
        assert store.layout.reader((16, 24), np.uint16) is not None
        np.testing.assert_array_equal(store.read_frames(0, 70), frames)
    np.testing.assert_array_equal(zarr.open_array(store_path / "0", mode="r")[:], frames)


def test_absent_chunk_of_a_format_1_store_is_an_error(store_path, write_format1_store):
    write_format1_store(store_path, random_frames(6, seed=10))
    (store_path / "0" / "c" / "3" / "0" / "0").unlink()
    with pytest.raises(PyntaDataError, match=r"frame 3 \(0/c/3/0/0\) missing"):
        MovieStore.open(store_path).as_dask().compute()


def test_missing_or_foreign_path_raises_data_error_naming_it(tmp_path):
    missing = tmp_path / "nothing.zarr"
    with pytest.raises(PyntaDataError, match="nothing.zarr"):
        MovieStore.open(missing)
    plain = tmp_path / "plain_dir"
    plain.mkdir()
    with pytest.raises(PyntaDataError, match="plain_dir"):
        MovieStore.open(plain)
    broken = tmp_path / "broken.zarr"
    broken.mkdir()
    (broken / "zarr.json").write_text("{not json")
    with pytest.raises(PyntaDataError, match="broken.zarr"):
        MovieStore.open(broken)


def _edit_json(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _two_dimensional(meta):
    meta["shape"] = meta["shape"][:2]
    meta["chunk_grid"]["configuration"]["chunk_shape"] = [64, 16]
    meta["codecs"][0]["configuration"]["chunk_shape"] = [1, 16]
    meta["dimension_names"] = ["t", "y"]


@pytest.mark.parametrize(
    "change, said",
    [
        (lambda meta: meta.update(data_type="int16"), r"\(10, 16, 24\) int16"),
        (lambda meta: meta.update(data_type="float32"), r"\(10, 16, 24\) float32"),
        (_two_dimensional, r"\(10, 16\) uint16"),
    ],
    ids=["int16", "float32", "2-D"],
)
def test_a_frames_array_not_t_y_x_uint8_or_uint16_is_refused_on_opening(store_path, change, said):
    """An edited or damaged 0/zarr.json: before, `pynta verify` said ok (a 2-D array, another
    dtype) and `pynta analyze` sized an int16 store's pixels, or failed on decoding."""
    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(random_frames(10, seed=3))
    _edit_json(store_path / "0" / "zarr.json", change)
    message = f"frames array 0 is {said}: a pynta store's frames are \\(T, Y, X\\) uint8 or uint16"
    with pytest.raises(PyntaDataError, match=message):
        MovieStore.open(store_path)


@pytest.mark.parametrize(
    "array, data_type, fill_value, said",
    [
        ("seq", "float64", -1.0, r"seq array is \(10,\) float64: .* integer frame numbers"),
        ("seq", "float32", -1.0, r"seq array is \(10,\) float32: .* integer frame numbers"),
        ("timestamps_s", "int64", 0, r"timestamps_s array is \(10,\) int64: .* float seconds"),
    ],
)
def test_a_seq_or_timestamps_array_of_another_type_is_refused_on_opening(
    store_path, array, data_type, fill_value, said
):
    """An edited seq/zarr.json or timestamps_s/zarr.json: before, a float64 seq (its bytes read
    as tiny floats, cast to frame number 0) and int64 times passed `pynta verify` and
    `pynta analyze` without a word."""
    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(random_frames(10, seed=3))
    _edit_json(
        store_path / array / "zarr.json",
        lambda meta: meta.update(data_type=data_type, fill_value=fill_value),
    )
    with pytest.raises(PyntaDataError, match=said) as refused:
        MovieStore.open(store_path)
    assert f"{array}/zarr.json edited or damaged?" in str(refused.value)


@pytest.mark.parametrize("pynta", [None, [1, 2], {"format_version": 2, "metadata": [1, 2]}])
def test_a_pynta_attribute_of_the_wrong_kind_is_refused_saying_so(store_path, pynta):
    """Before: "TypeError: 'NoneType' object is not subscriptable" and the like."""
    MovieStore.create(store_path, (16, 24), "uint16", METADATA).close()
    _edit_json(store_path / "zarr.json", lambda root: root["attributes"].update(pynta=pynta))
    with pytest.raises(PyntaDataError, match="'pynta' attribute .* must be a JSON object"):
        MovieStore.open(store_path)


def test_tables_round_trip_with_dtypes_order_strings_and_missing_values(store_path):
    table = pd.DataFrame(
        {
            "y": [1.5, np.nan, 3.25],
            "frame": np.array([0, 1, 2], dtype=np.int64),
            "particle": pd.array([4, None, 6], dtype="Int64"),
            "label": ["gold 80 nm", None, "ünïcode"],
            "accepted": [True, False, True],
            "engine": pd.Categorical(["fast", "trackpy", "fast"]),
            "count": np.array([1, 2, 3], dtype=np.uint16),
        }
    )
    store = MovieStore.create(store_path, (8, 8), "uint16", METADATA)
    store.write_table("tracks", table)
    store.write_table("empty", table.drop(columns="engine").iloc[:0])
    reader = MovieStore.open(store_path)
    assert reader.table_names() == ["empty", "tracks"]
    pd.testing.assert_frame_equal(reader.read_table("tracks"), table)
    empty = reader.read_table("empty")
    assert list(empty.columns) == list(table.columns.drop("engine")) and len(empty) == 0
    pd.testing.assert_series_equal(empty.dtypes, table.drop(columns="engine").dtypes)
    assert (store_path / "tables" / "tracks" / "label" / "zarr.json").is_file()


def test_rewriting_a_table_replaces_it(store_path):
    store = MovieStore.create(store_path, (8, 8), "uint16", METADATA)
    store.write_table("locs", pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    store.write_table("locs", pd.DataFrame({"c": [0.5]}))
    pd.testing.assert_frame_equal(store.read_table("locs"), pd.DataFrame({"c": [0.5]}))
    assert not (store_path / "tables" / "locs" / "a").exists()


def test_export_table_csv(store_path, tmp_path):
    table = pd.DataFrame({"particle": [1, 2], "diameter_nm": [80.5, 101.0], "note": ["a", "b"]})
    store = MovieStore.create(store_path, (8, 8), "uint16", METADATA)
    store.write_table("per_track", table)
    out = store.export_table_csv("per_track", tmp_path / "per_track.csv")
    assert out.read_text().splitlines() == ["particle,diameter_nm,note", "1,80.5,a", "2,101.0,b"]


def test_table_errors(store_path):
    store = MovieStore.create(store_path, (8, 8), "uint16", METADATA)
    with pytest.raises(PyntaInputError, match="no table 'missing'"):
        store.read_table("missing")
    with pytest.raises(PyntaInputError, match="column 'mixed'"):
        store.write_table("t", pd.DataFrame({"mixed": ["a", 1]}))
    with pytest.raises(PyntaInputError, match="column name"):
        store.write_table("t", pd.DataFrame({"a/b": [1]}))
    with pytest.raises(PyntaInputError, match="table name"):
        store.write_table("../x", pd.DataFrame({"a": [1]}))
    assert store.table_names() == []


def test_interrupted_table_write_is_not_listed(store_path):
    """The column list is written last: a table without it was never completed."""
    store = MovieStore.create(store_path, (8, 8), "uint16", METADATA)
    store.write_table("done", pd.DataFrame({"a": [1.0]}))
    half = store._group.require_group("tables").create_group("half")
    half.create_array("a", data=np.arange(3))
    assert MovieStore.open(store_path).table_names() == ["done"]
    with pytest.raises(PyntaInputError, match="no table 'half'.*'done'"):
        MovieStore.open(store_path).read_table("half")


def test_a_table_that_lost_a_chunk_file_or_rows_is_refused_not_read_as_zeros(store_path):
    """A table column whose chunk file was lost read back as zeros, and one cut to fewer rows
    was padded with NaN, both without a word, and `pynta verify` said "ok" (x27). Every chunk is
    now kept on disk, zeros too, so a missing one is damage that reading and verify name."""
    from napari_pynta.verify import verify_store

    table = pd.DataFrame(
        {"x": [1.5, 2.5, 3.5], "zeros": [0.0, 0.0, 0.0], "n": pd.array([1, None, 3], "Int64")}
    )
    store = MovieStore.create(store_path, (8, 8), "uint16", METADATA)
    store.write_table("tracks", table)
    pd.testing.assert_frame_equal(MovieStore.open(store_path).read_table("tracks"), table)
    assert verify_store(store_path).ok
    (store_path / "tables" / "tracks" / "x" / "c" / "0").unlink()
    with pytest.raises(PyntaDataError, match=r"damaged: 1 of the 1 chunk files of its column 'x'"):
        MovieStore.open(store_path).read_table("tracks")
    (problem,) = verify_store(store_path).problems
    assert problem.kind == "table" and "column 'x'" in problem.message

    store.write_table("tracks", table)
    description = store_path / "tables" / "tracks" / "n.isna" / "zarr.json"
    edited = json.loads(description.read_text())
    edited["shape"] = [2]
    description.write_text(json.dumps(edited))
    with pytest.raises(PyntaDataError, match=r"'n.isna' holds \(2,\) values, not 3 rows"):
        MovieStore.open(store_path).read_table("tracks")


@pytest.mark.parametrize("array", ["x", "label", "label.isna"])
def test_a_changed_byte_in_a_table_is_found_not_read(store_path, array):
    """A bit flipped in a tracks table's chunk file read back as other numbers (x 109.2534 as
    109.2524), and `pynta verify` said "ok": table chunks had no checksum, unlike the frames
    (x27)."""
    from napari_pynta.verify import verify_store

    table = pd.DataFrame({"x": np.linspace(0.0, 99.0, 500), "label": ["a", None] * 250})
    store = MovieStore.create(store_path, (8, 8), "uint16", METADATA)
    store.write_table("tracks", table)
    chunk = store_path / "tables" / "tracks" / array / "c" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    said = f"table 'tracks' in .* is damaged: its column array '{re.escape(array)}' cannot be read"
    with pytest.raises(PyntaDataError, match=said):
        MovieStore.open(store_path).read_table("tracks")
    (problem,) = verify_store(store_path).problems
    assert problem.kind == "table" and re.search(said, problem.message)


def test_closed_store_refuses_access(store_path):
    store = MovieStore.create(store_path, (8, 8), "uint16", METADATA)
    store.close()
    with pytest.raises(PyntaInputError, match="closed"):
        store.append(np.zeros((8, 8), np.uint16))
    with pytest.raises(PyntaInputError, match="closed"):
        store.as_dask()


def test_results_interrupted_between_their_tables_are_not_served_as_a_mix(store_path):
    """`pynta analyze` killed while it saved its tables into a store left the new localizations
    beside the tracks of the previous analysis (other parameters), and both were listed and read
    (the napari reader showed them together): a silent mix. The tables written as one set are
    refused as a set until a complete write replaces them; a table of another set is untouched."""
    from napari_pynta.verify import verify_store

    first = {"localizations": pd.DataFrame({"x": [1.0]}), "tracks": pd.DataFrame({"x": [1.0]})}
    second = {name: pd.DataFrame({"x": [2.0, 2.0]}) for name in first}
    store = MovieStore.create(store_path, (8, 8), "uint16", METADATA)
    store.write_table("truth", pd.DataFrame({"x": [0.0]}))
    store.write_tables(first)
    write_tables_killed_after_the_first(store, second)
    reader = MovieStore.open(store_path)
    assert reader.table_names() == ["truth"]
    with pytest.raises(PyntaDataError, match="interrupted.*'localizations', 'tracks'"):
        reader.read_table("tracks")
    (problem,) = verify_store(store_path).problems
    assert problem.kind == "table" and "the results of an analysis are incomplete" in (
        problem.message
    )
    assert f"run `pynta analyze {store_path}` again" in problem.message
    store.write_tables(second)  # the analysis run again
    reader = MovieStore.open(store_path)
    assert reader.table_names() == ["localizations", "tracks", "truth"]
    for name, table in second.items():
        pd.testing.assert_frame_equal(reader.read_table(name), table)
    assert verify_store(store_path).ok


def test_a_store_is_not_made_inside_another_and_one_holding_another_is_not_replaced(tmp_path):
    """`pynta simulate outer.zarr/inner.zarr` (or `pynta acquire --out outer.zarr/inner.zarr`)
    made a store inside a store without a word; `--overwrite` of the outer one then deleted the
    inner recording with it (x24)."""
    outer, inner = tmp_path / "outer.zarr", tmp_path / "outer.zarr" / "inner.zarr"
    MovieStore.create(outer, (8, 8), "uint16", {}).close()
    with pytest.raises(PyntaInputError, match=r"inside the pynta store '.*outer\.zarr'"):
        MovieStore.create(inner, (8, 8), "uint16", {})
    assert not inner.exists()
    # one made before (by hand, or by a pynta that allowed it) is not deleted with the outer one
    zarr.open_group(inner, mode="w").attrs["pynta"] = {"format_version": 2, "metadata": {}}
    with pytest.raises(PyntaInputError, match=r"holds the pynta store '.*inner\.zarr'"):
        MovieStore.create(outer, (8, 8), "uint16", {}, overwrite=True)
    assert (inner / "zarr.json").exists()


@pytest.mark.parametrize(
    "version, said",
    [
        (99, r"store format 99, written by napari-pynta 9\.0\.0.*pip install --upgrade"),
        ("2", r"unknown store format \"2\" .*reads formats 1 and 2"),
        (None, r"unknown store format null"),
    ],
)
def test_a_store_format_this_pynta_does_not_read_is_refused_with_the_way_out(
    store_path, capsys, version, said
):
    """Before: `pynta verify` flagged format 99, but `pynta analyze` and napari read its frames,
    times and metadata as format 2 without a word, though a newer format may mean them otherwise."""
    from napari_pynta.cli import main

    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(random_frames(10, seed=3))

    def newer(root):
        root["attributes"]["pynta"]["format_version"] = version
        root["attributes"]["pynta"]["metadata"]["software_version"] = "9.0.0"

    _edit_json(store_path / "zarr.json", newer)
    for mode in ("r", "r+"):
        with pytest.raises(PyntaDataError, match=said):
            MovieStore.open(store_path, mode)
    assert main(["analyze", "--no-save", str(store_path)]) == 2
    assert re.search(said, capsys.readouterr().err)
    from napari_pynta.verify import verify_store

    report = verify_store(store_path)
    assert [p.kind for p in report.problems] == ["unreadable"]
    assert re.search(said, report.problems[0].message)


@pytest.mark.parametrize(
    ("array", "edit"),
    [
        ("0", lambda meta: meta.update(node_type="group")),
        ("0", lambda meta: meta.update(shape=[10, 1, 16, 24])),
        ("timestamps_s", lambda meta: meta.update(shape=[10, 2])),
    ],
)
def test_an_array_description_that_is_not_an_array_is_named(store_path, capsys, array, edit):
    """An array's zarr.json edited into a group, or to a shape of other dimensions than its
    chunks, was refused as "TypeError: GroupMetadata.__init__() got an unexpected keyword
    argument 'shape'" or "ValueError: `chunk_shape` and `shape` need to have the same number
    of dimensions." without naming the file (x27)."""
    from napari_pynta.cli import main

    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(random_frames(10, seed=3))
    _edit_json(store_path / array / "zarr.json", edit)
    said = f"{array}/zarr.json, the description of the .* array, does not describe a zarr array"
    with pytest.raises(PyntaDataError, match=said):
        MovieStore.open(store_path)
    assert main(["verify", str(store_path)]) == 1
    assert re.search(said, capsys.readouterr().out)


@pytest.mark.parametrize("array", ["0", "seq"])
@pytest.mark.parametrize("key", ["data_type", "shape", "chunk_grid"])
def test_an_array_description_lacking_a_required_key_is_named_in_a_sentence(
    store_path, capsys, array, key
):
    """Before: "cannot open pynta movie store '...': KeyError: 'data_type'" from `pynta analyze`
    and `pynta verify`."""
    from napari_pynta.cli import main

    with MovieStore.create(store_path, (16, 24), "uint16", METADATA) as store:
        store.append(random_frames(10, seed=3))
    _edit_json(store_path / array / "zarr.json", lambda meta: meta.pop(key))
    said = f"{array}/zarr.json, the description of the .* array.*, lacks '{key}', which zarr v3"
    with pytest.raises(PyntaDataError, match=said):
        MovieStore.open(store_path)
    assert main(["analyze", "--no-save", str(store_path)]) == 2
    assert main(["verify", str(store_path)]) == 1
    out = capsys.readouterr()
    assert re.search(said, out.err) and re.search(said, out.out)
    assert "KeyError" not in out.err + out.out
