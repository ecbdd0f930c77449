"""The wide centroid's cost: per frame in a live locator, and per movie in the analysis.

1. **Locator** (:func:`napari_pynta.live.workers.locator.locate_columns`, fast engine): the same
   512² frames (100 particles, full-frame exposure at 30 fps: smeared 100 nm spots) located
   without and with ``wide_radius_px`` (the disk the analysis chooses for them), in turns (the
   order alternating), each call timed by this thread's CPU time; printed: the median of the
   pairs' ratio (with / without) and the medians in ms.
2. **Analysis** (:func:`napari_pynta.analysis.analyze`): a 300-frame 256² movie analysed by
   default and with ``wide_centroid``, in turns, ``--repeats`` times; printed: the medians and
   their ratio, and the cost of the pilot the wide centroid runs (:func:`analysis.choose_diameter`
   with ``measure_streak``: the pilot and the spot width, which the default measures too) as a
   share of the default.

Run: ``python benchmarks/bench_wide.py [--frames 20] [--repeats 3]``; under load run it in its
own session (docs/accuracy.md gives the command and the load).
"""

from __future__ import annotations

import os

for _name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402

from napari_pynta import analysis, simulate  # noqa: E402
from napari_pynta.live.workers.locator import locate_columns  # noqa: E402
from napari_pynta.readers import Movie  # noqa: E402


def smeared_movie(shape: tuple[int, int], n_particles: int, n_frames: int):
    """100 nm particles at 30 fps, full-frame exposure."""
    settings = simulate.SimulationSettings(
        shape=shape, n_particles=n_particles, seed=1, frame_interval_s=1 / 30
    )
    return simulate.simulate_movie(n_frames, settings)


def cpu_timed(function, *args, **kwargs) -> float:
    start = time.thread_time()
    function(*args, **kwargs)
    return time.thread_time() - start


def locator_cost(n_frames: int, repeats: int) -> None:
    sim = smeared_movie((512, 512), 100, max(n_frames, 60))
    frames = np.asarray(sim.frames)
    params = analysis.AnalysisParams.from_metadata(sim.metadata, wide_centroid=True).validate()
    chosen = analysis.with_detection(params, analysis.detection_threshold(frames, params))
    wide = chosen.detection_kwargs()
    wide.pop("engine")
    plain = {key: value for key, value in wide.items() if key != "wide_radius_px"}
    for options in (plain, wide):  # compile
        locate_columns(frames[0], "fast", 0, options)
    ratios, times = [], {"plain": [], "wide": []}
    for turn in range(repeats * n_frames):
        frame = frames[turn % n_frames]
        order = (("plain", plain), ("wide", wide))
        spent = {}
        for name, options in order if turn % 2 else order[::-1]:
            spent[name] = cpu_timed(locate_columns, frame, "fast", turn, options)
            times[name].append(spent[name])
        ratios.append(spent["wide"] / spent["plain"])
    print(
        f"locator 512², 100 particles, disk {wide['wide_radius_px']} px: "
        f"{1e3 * statistics.median(times['plain']):.2f} ms -> "
        f"{1e3 * statistics.median(times['wide']):.2f} ms per frame, "
        f"ratio {statistics.median(ratios):.2f} (median of {len(ratios)} pairs)",
        flush=True,
    )


def analysis_cost(repeats: int) -> None:
    sim = smeared_movie((256, 256), 25, 300)
    movie = Movie(da.from_array(np.asarray(sim.frames)), sim.metadata, "bench")
    default = analysis.AnalysisParams.from_metadata(sim.metadata)
    wide = dataclasses.replace(default, wide_centroid=True)
    times: dict[str, list[float]] = {"default": [], "wide": [], "pilot": []}
    frames = np.asarray(sim.frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis.analyze(movie, default)  # compile
        for turn in range(repeats):
            order = (("default", default), ("wide", wide))
            for name, params in order if turn % 2 else order[::-1]:
                times[name].append(cpu_timed(analysis.analyze, movie, params))
            times["pilot"].append(
                cpu_timed(
                    analysis.choose_diameter,
                    frames,
                    default.engine,
                    {"diameter": 7, "separation": None},
                    sim.metadata["exposure_s"],
                    sim.metadata["frame_interval_s"],
                    widen_to_spot=True,
                    measure_streak=True,
                )
            )
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"analysis 300 frames 256², 25 particles: default {median['default']:.2f} s, "
        f"wide {median['wide']:.2f} s (ratio {median['wide'] / median['default']:.2f}); "
        f"choose_diameter with the pilot {median['pilot']:.2f} s "
        f"({100 * median['pilot'] / median['default']:.0f} % of the default)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    locator_cost(args.frames, args.repeats)
    analysis_cost(args.repeats)


if __name__ == "__main__":
    main()
