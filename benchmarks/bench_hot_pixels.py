"""Per-frame cost of the live locators' hot-pixel repair beside locating the same frame.

Run ``python benchmarks/bench_hot_pixels.py [--rounds R]``.

A live locator repairs the hot pixels of each frame before detection
(:class:`napari_pynta.detect.hot_pixels.FrameRepair`: the read-only frame copied into the
locator's own buffer, the listed pixels replaced there). Measured on simulated NTA frames at
512² (100 particles) and 1024² (400 particles) with 0, 60, 250 and 1000 hot pixels (+400 ADU;
0.1 % of a 1024² sensor is ~1000): the repair alone, the copy of the frame alone
(``np.copyto``, the floor of any repair that keeps the shared frame intact) and the fast
engine's ``locate_fast`` of the repaired frame, interleaved call by call on one pinned core
(background load hits all alike). Each figure is the CPU time of this thread (µs), median over
the rounds and, after the slash, the least (the cost on an idle core); the ratio columns are
repair / locate of the medians and of the least.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for _name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

from napari_pynta import simulate  # noqa: E402
from napari_pynta.detect.fast import locate_fast  # noqa: E402
from napari_pynta.detect.hot_pixels import FrameRepair  # noqa: E402

CASES = (((512, 512), 100), ((1024, 1024), 400))
HOT_COUNTS = (0, 60, 250, 1000)
DIAMETER = 7


def _frame(shape: tuple[int, int], n_particles: int) -> np.ndarray:
    settings = simulate.SimulationSettings(
        shape=shape,
        n_particles=n_particles,
        populations=(simulate.Population(100.0),),
        seed=0,
    )
    return simulate.simulate_movie(1, settings).frames[0]


def _cpu_us(call, *args, **kwargs) -> float:
    """CPU µs of this thread for ``call(*args, **kwargs)``."""
    start = time.thread_time()
    call(*args, **kwargs)
    return (time.thread_time() - start) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    rng = np.random.default_rng(1)
    print(f"load {os.getloadavg()[0]:.1f}; CPU µs per frame, median / least of {args.rounds}")
    print(
        f"{'frame':>6} {'hot':>5} {'repair':>11} {'copy':>11} {'locate':>13} {'repair/locate':>14}"
    )
    for shape, n_particles in CASES:
        clean = _frame(shape, n_particles)
        for count in HOT_COUNTS:
            flat = rng.choice(clean.size, count, replace=False)
            hot = np.stack(np.unravel_index(flat, shape), axis=1)
            frame = clean.copy()
            frame[hot[:, 0], hot[:, 1]] += 400
            frame.flags.writeable = False  # as a locator's view of the ring
            repair, target = FrameRepair(hot), np.empty_like(frame)
            locate_fast(repair(frame), diameter=DIAMETER)  # compiled before timing
            times: dict[str, list[float]] = {"repair": [], "copy": [], "locate": []}
            for _ in range(args.rounds):
                times["repair"].append(_cpu_us(repair, frame))
                times["copy"].append(_cpu_us(np.copyto, target, frame))
                repaired = repair(frame)
                times["locate"].append(_cpu_us(locate_fast, repaired, diameter=DIAMETER))
            med = {key: statistics.median(values) for key, values in times.items()}
            least = {key: min(values) for key, values in times.items()}
            cells = [f"{med[key]:.0f} / {least[key]:.0f}" for key in ("repair", "copy", "locate")]
            ratios = (
                f"{med['repair'] / med['locate']:.3f} / {least['repair'] / least['locate']:.3f}"
            )
            print(
                f"{shape[0]:>5}² {count:>5} {cells[0]:>11} {cells[1]:>11} {cells[2]:>13} "
                f"{ratios:>14}"
            )


if __name__ == "__main__":
    main()
