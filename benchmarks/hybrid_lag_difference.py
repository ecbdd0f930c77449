"""A track-length-aware lag difference: measured against both simulators' truth (issue 11).

The lag difference (:func:`bench_link_truth.msd_difference_D`) is not biased by a detector that
keeps the least smeared frames, but a wrong link enters it ``N / (N - 2)`` times as strongly as
the analysis' covariance estimator in a track of ``N`` frames (docs/accuracy.md, "A
lag-difference estimator"). This sizes each movie's own tracks (one analysis per movie, the
same localizations for every estimator) with a per-track weight ``a`` between the two, pooled as
the ensemble pools: the covariance estimator of the tracks' sums weighted ``1 - a``, the lag
difference of their lag sums weighted ``a``, the two D's combined by their step weights.
Printed per movie (size error %, against the median true diameter):

- ``ens``: the analysis' reported size; ``cov``: the covariance estimator recomputed on its
  tracks (``a = 0``); ``ld``: the lag difference (``a = 1``);
- ``n15`` / ``n20`` / ``n25``: ``a = 1`` for tracks of at least 15, 20, 25 frames, else 0;
- ``ramp``: ``a = min(1, (N - 2) / 20)``, which holds the lag difference's extra weight of a
  wrong link, ``a * 2 / (N - 2)``, at or below 10 % in every track;
- ``frac20``: the share of step weight in tracks of at least 20 frames;
- with ``--gap-spread`` the same columns again (``g_`` prefix) for the localizations relinked
  with ``blur_gap_spread`` on;
- with ``--truth`` the same columns (``t_`` prefix) for the analysis' localizations linked by
  their true particles (one-to-one per frame within :data:`bench_link_truth.TRUTH_RADIUS_PX`):
  what the estimators do without wrong links.

Run: ``python benchmarks/hybrid_lag_difference.py --movies held-out --only "50 nm" --seeds 6``;
``--movies ours --only "short" --seeds 4 --frames-factor 0.67``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import dask.array as da  # noqa: E402
import independent_movies as independent  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench_accuracy import build_cases, in_view_above_noise  # noqa: E402
from bench_link_truth import TRUTH_RADIUS_PX, lag_sums, truth_ids  # noqa: E402
from independent_truth_split import truth_table  # noqa: E402

from napari_pynta import analysis, link, physics, simulate, sizing  # noqa: E402
from napari_pynta.readers import Movie  # noqa: E402

#: per-track weight of the lag difference as a function of the track's frame count
WEIGHTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "cov": lambda n: np.zeros_like(n),
    "ld": lambda n: np.ones_like(n),
    "n15": lambda n: (n >= 15).astype(np.float64),
    "n20": lambda n: (n >= 20).astype(np.float64),
    "n25": lambda n: (n >= 25).astype(np.float64),
    "ramp": lambda n: np.clip((n - 2.0) / 20.0, 0.0, 1.0),
}


def hybrid_D(
    tracks: pd.DataFrame,
    pixel_size_um: float,
    frame_interval_s: float,
    field_px: tuple[float, float] | None,
    weight: Callable[[np.ndarray], np.ndarray],
) -> float:
    """D (µm²/s): the covariance estimator of the tracks' sums weighted ``1 - a`` and the lag
    difference of their lag sums weighted ``a`` (``a = weight(n_frames)`` per track), combined by
    the step weights each carries (module docstring)."""
    sums = sizing.track_sums(tracks, pixel_size_um, field_px=field_px)
    lags = lag_sums(tracks, field_px).reindex(sums.index)
    share = weight(sums["n_frames"].to_numpy(dtype=np.float64))
    step_w = sums["sum_w"].to_numpy()
    parts, part_weights = [], []
    cov_w = float(np.sum((1 - share) * step_w))
    if cov_w > 0:
        pooled = sums.mul(1 - share, axis=0).sum().to_frame().T
        parts.append(float(sizing.covariance_D(pooled, frame_interval_s)[0]))
        part_weights.append(cov_w)
    ld_w = float(np.sum(share * step_w))
    if ld_w > 0:
        total = lags.mul(share, axis=0).sum()
        msd1, msd2 = total["sq1"] / total["w1"], total["sq2"] / total["w2"]
        parts.append(float((msd2 - msd1) * pixel_size_um**2 / (4 * frame_interval_s)))
        part_weights.append(ld_w)
    return float(np.average(parts, weights=part_weights))


def error_columns(
    tracks: pd.DataFrame, result: analysis.AnalysisResult, truth_nm: float, prefix: str = ""
) -> dict[str, float]:
    """Size error (%) of ``tracks`` for every estimator of :data:`WEIGHTS` (drift and length
    filter as the analysis does), and the step share of tracks of at least 20 frames."""
    params = result.params
    kept = link.filter_tracks(tracks, params.min_track_length)
    corrected, _ = sizing.subtract_drift(kept)
    field = analysis.detectable_field_px(result.frame_shape, params)
    pixel, interval = params.required("pixel_size_um"), params.required("frame_interval_s")
    row = {}
    for name, weight in WEIGHTS.items():
        D = hybrid_D(corrected, pixel, interval, field, weight)
        diameter = physics.diameter_nm(
            D, params.required("temperature_c"), params.resolved_viscosity_pa_s
        )
        row[prefix + name] = 100.0 * (float(diameter) / truth_nm - 1.0)
    sums = sizing.track_sums(corrected, pixel, field_px=field)
    long = sums["n_frames"] >= 20
    row[prefix + "frac20"] = float(sums["sum_w"][long].sum() / sums["sum_w"].sum())
    return row


#: what each movie gives: case label, seed, analysis result, median true diameter (nm), the
#: parameters asked for, true positions ``frame, particle, y, x``
Analysed = tuple[str, int, analysis.AnalysisResult, float, analysis.AnalysisParams, pd.DataFrame]


def ours(
    wanted: Callable[[str], bool],
    seeds: range,
    frames_factor: float,
    extra: dict | None = None,
) -> Iterator[Analysed]:
    """Every movie asked for of :mod:`bench_accuracy`'s NTA cases, analysed by default, with the
    simulation settings ``extra`` changed; with an illumination profile the truth lists the
    particles in view as the held-out simulator counts them (:func:`in_view_above_noise`)."""
    for case in build_cases(["nta"]):
        if not wanted(case.name):
            continue
        n_frames = int(math.ceil(case.setting.frames_full * frames_factor))
        for seed in seeds:
            settings = dataclasses.replace(case.settings(seed), **(extra or {}))
            movie = simulate.simulate_movie(n_frames, settings)
            params = analysis.AnalysisParams.from_metadata(movie.metadata)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = analysis.analyze(
                    Movie(da.from_array(movie.frames), movie.metadata, case.name), params
                )
            truth_nm = float(np.median(movie.diameters_nm))
            truth = movie.truth
            if settings.illumination_sigma_um is not None:
                truth = in_view_above_noise(truth, settings)
            yield case.name, seed, result, truth_nm, params, truth


def held_out(
    wanted: Callable[[str], bool], seeds: range, frames_factor: float
) -> Iterator[Analysed]:
    """Every movie asked for of :mod:`independent_movies`' NTA cases, analysed by default."""
    for setting, label, scene in independent.cases(["nta"]):
        name = f"{setting} {label}"
        if not wanted(name):
            continue
        scene = dataclasses.replace(scene, frames=int(round(scene.frames * frames_factor)))
        for seed in seeds:
            movie = independent.simulate(scene, seed)
            params = analysis.AnalysisParams.from_metadata(scene.metadata)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = analysis.analyze(
                    Movie(da.from_array(movie.frames), scene.metadata, "movie"), params
                )
            truth_nm = float(np.median(movie.diameters_nm))
            yield name, seed, result, truth_nm, params, truth_table(movie)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", choices=("ours", "held-out"), default="held-out")
    parser.add_argument("--only", default="50 nm", help="cases whose name contains this text")
    parser.add_argument("--exact", action="store_true", help="--only is the whole name")
    parser.add_argument("--seeds", type=int, default=2, help="seeds first .. first + N - 1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--frames-factor", type=float, default=1.0)
    parser.add_argument("--gap-spread", action="store_true", help="also relinked with the spread")
    parser.add_argument("--truth", action="store_true", help="also linked by the true ids")
    args = parser.parse_args()
    rows = []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    movies = ours if args.movies == "ours" else held_out
    for case, seed, result, truth_nm, params, truth in movies(
        (lambda name: name == args.only) if args.exact else (lambda name: args.only in name),
        seeds,
        args.frames_factor,
    ):
        row: dict = {"case": case, "seed": seed}
        row["ens"] = 100.0 * (float(result.summary["diameter_nm"]) / truth_nm - 1.0)
        row.update(error_columns(result.tracks, result, truth_nm))
        peaks = (result.summary.get("deconvolved_nm") or {}).get("peaks") or []
        row["peaks"] = "/".join(f"{peak:.0f}" for peak in peaks)
        if args.truth:
            localizations = result.localizations.reset_index(drop=True)
            ids = truth_ids(localizations, truth, TRUTH_RADIUS_PX)
            true_linked = localizations[ids >= 0].assign(particle=ids[ids >= 0])
            row.update(error_columns(true_linked, result, truth_nm, "t_"))
        if args.gap_spread:
            spread = dataclasses.replace(
                result.params, blur_gap_spread=True, search_range_px=params.search_range_px
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                again = analysis.analyze_localizations(
                    result.localizations,
                    result.summary["n_frames"],
                    spread,
                    frame_shape=result.frame_shape,
                )
            row["g_ens"] = 100.0 * (float(again.summary["diameter_nm"]) / truth_nm - 1.0)
            row.update(error_columns(again.tracks, again, truth_nm, "g_"))
        rows.append(row)
        print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="{:.2f}".format))
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.2f}".format), flush=True)


if __name__ == "__main__":
    main()
