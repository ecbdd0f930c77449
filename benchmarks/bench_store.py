"""What it costs the saver to put a frame into the store: zarr layouts vs a thin shard writer.

Run ``python benchmarks/bench_store.py [--frames N] [--rounds R] [--shape Y X] [--dir DIR]``.

Every method writes the same N camera-like frames (uint16, Poisson background, bright spots and
read noise, 512² by default) in blocks of 32, as the live saver receives them, into a fresh
folder, and the CPU time of this process (user + system, all threads) is divided by N. The floor
is a plain file append of the same blocks: the least any writer pays to hand the bytes to the
kernel. The methods run interleaved round by round, so that background load on a shared
machine hits all of them alike (each round starts with another method, after an untimed warm-up
write); the figures are the medians over the rounds, with the ratio to the floor measured in the
same round. ``disk/raw`` is the size on disk over the raw pixel bytes.

- ``zarr chunk/frame lz4``: zarr-python, one chunk per frame, blosc lz4 + shuffle (store
  format 1, the saver before sharding);
- ``zarr chunk/frame none``: the same uncompressed;
- ``zarr 64-shard none|lz4``: zarr-python with 64-frame shards (a block of 32 rewrites half a
  shard);
- ``thin 64-shard none|lz4|zstd``: :class:`napari_pynta.shards.ShardAppender`, the standard zarr
  v3 shard layout written by appending each frame's bytes and rewriting the index in place;
  ``lz4+crc32c`` each frame followed by its checksum, as the store writes it;
- ``MovieStore.append``: the store as the saver uses it (pixels + checksums, timestamps, seq,
  array sizes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numcodecs
import numpy as np
import zarr
from zarr.codecs import BloscCodec

from napari_pynta.shards import ShardAppender
from napari_pynta.store import MovieStore

BLOCK = 32
SHARD = 64


def camera_frames(n: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Frames like an NTA camera's: Poisson background ~100, 100 blurred spots, read noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    spots = np.zeros(shape)
    for y, x in rng.uniform(0, shape, (100, 2)):
        spots += 800 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.5**2))
    expected = 100 + spots
    frames = rng.poisson(expected, (n, *shape)) + rng.normal(0, 2, (n, *shape))
    return np.clip(np.rint(frames), 0, 65535).astype(np.uint16)


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


# ----------------------------------------------------------------------------------- writers
def write_file(path: Path, blocks: list[np.ndarray]) -> None:
    with open(path, "wb") as file:
        for block in blocks:
            file.write(memoryview(block).cast("B"))


def zarr_writer(shards: bool, compressed: bool) -> Callable[[Path, list[np.ndarray]], None]:
    def write(path: Path, blocks: list[np.ndarray]) -> None:
        shape = blocks[0].shape[1:]
        array = zarr.create_array(
            str(path),
            shape=(0, *shape),
            chunks=(1, *shape),
            shards=(SHARD, *shape) if shards else None,
            dtype="uint16",
            compressors=BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
            if compressed
            else None,
            fill_value=0,
            zarr_format=3,
        )
        start = 0
        for block in blocks:
            array.resize((start + len(block), *shape))
            array[start : start + len(block)] = block
            start += len(block)

    return write


def thin_writer(
    codec: numcodecs.abc.Codec | None, checksum: bool = False
) -> Callable[[Path, list[np.ndarray]], None]:
    def write(path: Path, blocks: list[np.ndarray]) -> None:
        appender = ShardAppender(
            lambda k: path / "c" / str(k) / "0" / "0",
            SHARD,
            codec.encode if codec else None,
            checksum=checksum,
        )
        start = 0
        for block in blocks:
            appender.write(start, block)
            start += len(block)
        appender.close()

    return write


def movie_store(path: Path, blocks: list[np.ndarray]) -> None:
    store = MovieStore.create(path, blocks[0].shape[1:], "uint16", {"frame_interval_s": 0.01})
    seq = 0
    for block in blocks:
        n = len(block)
        store.append(
            block, timestamps_s=np.arange(seq, seq + n) * 0.01, seq=np.arange(seq, seq + n)
        )
        seq += n
    store.close()


FLOOR = "file append (floor)"
LZ4 = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
METHODS: dict[str, Callable[[Path, list[np.ndarray]], None]] = {
    FLOOR: write_file,
    "zarr chunk/frame lz4": zarr_writer(shards=False, compressed=True),
    "zarr chunk/frame none": zarr_writer(shards=False, compressed=False),
    "zarr 64-shard none": zarr_writer(shards=True, compressed=False),
    "zarr 64-shard lz4": zarr_writer(shards=True, compressed=True),
    "thin 64-shard none": thin_writer(None),
    "thin 64-shard lz4": thin_writer(LZ4),
    "thin 64-shard lz4+crc32c": thin_writer(LZ4, checksum=True),
    "thin 64-shard zstd": thin_writer(numcodecs.Zstd(level=1)),
    "MovieStore.append": movie_store,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shape", type=int, nargs=2, default=(512, 512))
    parser.add_argument("--dir", default=None, help="where to write (default: a temp folder)")
    args = parser.parse_args()
    frames = camera_frames(args.frames, tuple(args.shape))
    blocks = [frames[i : i + BLOCK] for i in range(0, len(frames), BLOCK)]
    workdir = Path(tempfile.mkdtemp(prefix="bench_store_", dir=args.dir))
    cpu: dict[str, list[float]] = {name: [] for name in METHODS}
    ratio: dict[str, list[float]] = {name: [] for name in METHODS}
    size: dict[str, float] = {}
    load = os.getloadavg()[0]
    names = list(METHODS)
    try:
        write_file(workdir / "warm-up", blocks)  # first writes of a process pay extra: not timed
        for round_index in range(args.rounds):
            spent: dict[str, float] = {}
            shift = round_index % len(names)  # each round starts with another method
            for name in names[shift:] + names[:shift]:
                target = workdir / "out"
                start = time.process_time()
                METHODS[name](target, blocks)
                spent[name] = (time.process_time() - start) / len(frames) * 1e3
                size[name] = folder_bytes(target) if target.is_dir() else target.stat().st_size
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            for name in names:
                cpu[name].append(spent[name])
                ratio[name].append(spent[name] / spent[FLOOR])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"{args.frames} frames {args.shape[0]}x{args.shape[1]} uint16 in blocks of {BLOCK}, "
        f"{args.rounds} rounds, load average {load:.1f} on {os.cpu_count()} cores at the start"
    )
    print("| method | CPU ms/frame | x floor | disk/raw |\n|---|---|---|---|")
    raw = frames.nbytes
    for name in METHODS:
        print(
            f"| {name} | {statistics.median(cpu[name]):.2f} | "
            f"{statistics.median(ratio[name]):.1f} | {size[name] / raw:.2f} |"
        )


if __name__ == "__main__":
    main()
