"""The independent simulator's size error taken apart against its truth (issue 11).

:mod:`bench_link_truth` splits our simulator's size error into linking, localization error and
missed frames; this does the same for the movies of :mod:`independent_movies` (which shares no
code with the analysis; this script does, to look inside it). Each movie is analysed as
``pynta analyze`` does (default settings, ``--blur-separation`` with the flag), its localizations
are matched one-to-one per frame to the true particles in view within
:data:`bench_link_truth.TRUTH_RADIUS_PX`, and the ensemble estimator of the analysis (drift, edge
weights, steps across up to two frames) is applied to:

- ``ens``: the analysis' own tracks (its reported size);
- ``ens_truth``: the same localizations linked by their true particles (``ens - ens_truth``: the
  linking);
- ``ens_truth_pos``: those, with the true (exposure-mean) positions in place of the detected
  ones (``ens_truth - ens_truth_pos``: the localization error);
- ``ens_truth_all``: the true positions of every frame in which those particles are in view
  (``ens_truth_pos - ens_truth_all``: the frames that were not detected).

``ens21``, ``ens21_truth``, ``ens21_truth_pos`` and ``ens21_truth_all`` are the same four
with :func:`bench_link_truth.msd_difference_D` in place of the analysis' estimator (measured, not
landed: docs/accuracy.md, "A lag-difference estimator").

It also prints how the localization error enters the covariance estimator, per axis (px²,
one-frame steps of the truth-linked tracks, unweighted): the estimator reads
``<d²> + 2 <d_n d_n+1>`` as ``2 D Δt``; with ``d = t + e`` (true step plus the difference of the
errors) the error adds ``noise`` (``<e²> + 2 <e_n e_n+1>``, zero for errors independent between
frames whatever their size) and ``cross`` (``2 <t e> + 2 <t_n e_n+1 + e_n t_n+1>``, zero for
errors independent of the motion), both as a share of the true part; ``err_in`` / ``err_out``
are the regression slopes of a frame's error on the true step into and out of it.

Two what-ifs, measured (not what the analysis does; docs/accuracy.md, "The independent
simulator's 50 nm at 30 fps after the separation (l9-loc)"):

- ``ens_rule_range``: the analysis' localizations linked with the range its own rule asks for,
  :data:`napari_pynta.link.SEARCH_RANGE_RMS_STEPS` per-axis rms steps, the rms step taken from the
  truth-linked one-frame steps (``rms_truth_px``) instead of the pilot linking (``rms_pilot_px``);
- ``ens_wide`` / ``ens_truth_wide`` / ``rms_err_wide_px``: every localization moved to the
  centroid of the background-subtracted raw frame in a disk of radius ``wide_radius_px``
  (:func:`napari_pynta.detect.wide.wide_centroids`: 2.5 image widths, the spot's and the
  streak's spreads in quadrature, as the analysis measured them), then analysed (automatic
  range) and truth-linked.

Run: ``python benchmarks/independent_truth_split.py --seeds 2 [--blur-separation]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import warnings  # noqa: E402

import dask.array as da  # noqa: E402
import independent_movies as independent  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench_link_truth import TRUTH_RADIUS_PX, ensemble_error_pct, truth_ids  # noqa: E402

from napari_pynta import analysis, detect, link  # noqa: E402
from napari_pynta.detect.wide import wide_centroids, wide_radius_px  # noqa: E402
from napari_pynta.readers import Movie  # noqa: E402


def truth_table(movie: independent.Movie, in_view_only: bool = True) -> pd.DataFrame:
    """``frame, particle, y, x`` of the true particles (in view, or every one)."""
    mask = movie.in_view if in_view_only else np.ones_like(movie.in_view)
    frame, particle = np.nonzero(mask)
    where = movie.positions_px[frame, particle]
    return pd.DataFrame({"frame": frame, "particle": particle, "y": where[:, 0], "x": where[:, 1]})


def error_terms(true_linked: pd.DataFrame) -> dict[str, float]:
    """How the localization error enters the covariance estimator (module docstring): the
    ``noise`` and ``cross`` terms as shares of the true part, and the error's regression slopes
    on the true steps into and out of its frame; both axes pooled."""
    ordered = true_linked.sort_values(["particle", "frame"], kind="stable")
    owner, frame = ordered["particle"].to_numpy(), ordered["frame"].to_numpy()
    step = np.flatnonzero((owner[1:] == owner[:-1]) & (np.diff(frame) == 1))
    is_step = np.zeros(len(owner), dtype=bool)
    is_step[step] = True
    pair = np.flatnonzero(is_step[:-1] & is_step[1:])
    true_part = noise = cross = slope_in = slope_out = 0.0
    for axis in ("y", "x"):
        t = ordered[f"true_{axis}"].to_numpy()
        e = ordered[axis].to_numpy() - t
        dt, de = np.diff(t), np.diff(e)
        a_t, b_t, a_e, b_e = dt[pair], dt[pair + 1], de[pair], de[pair + 1]
        true_part += np.mean(dt[step] ** 2) + 2 * np.mean(a_t * b_t)
        noise += np.mean(de[step] ** 2) + 2 * np.mean(a_e * b_e)
        cross += 2 * np.mean(dt[step] * de[step]) + 2 * np.mean(a_t * b_e + a_e * b_t)
        slope_in += np.mean(e[step + 1] * dt[step]) / np.mean(dt[step] ** 2) / 2
        slope_out += np.mean(e[step] * dt[step]) / np.mean(dt[step] ** 2) / 2
    return {
        "noise_pct": 100 * noise / true_part,
        "cross_pct": 100 * cross / true_part,
        "err_in": slope_in,
        "err_out": slope_out,
    }


def rms_step_px(true_linked: pd.DataFrame) -> float:
    """Per-axis rms of the one-frame steps of truth-linked localizations (px)."""
    ordered = true_linked.sort_values(["particle", "frame"], kind="stable")
    owner, frame = ordered["particle"].to_numpy(), ordered["frame"].to_numpy()
    step = np.flatnonzero((owner[1:] == owner[:-1]) & (np.diff(frame) == 1))
    squared = (
        np.diff(ordered["y"].to_numpy())[step] ** 2 + np.diff(ordered["x"].to_numpy())[step] ** 2
    )
    return float(np.sqrt(np.mean(squared) / 2))


def relinked_error_pct(
    localizations: pd.DataFrame,
    result: analysis.AnalysisResult,
    truth_nm: float,
    search_range_px: float | None,
) -> float:
    """Size error (%) of ``localizations`` analysed with the result's settings and this range
    (None: automatic)."""
    params = dataclasses.replace(result.params, search_range_px=search_range_px)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = analysis.analyze_localizations(
            localizations.drop(columns="true_id"),
            result.summary["n_frames"],
            params,
            frame_shape=result.frame_shape,
        )
    return 100.0 * (float(again.summary["diameter_nm"]) / truth_nm - 1.0)


def split_report(
    scene: independent.Scene, seed: int, blur_separation: bool, radius_px: float
) -> dict[str, float | str]:
    """The size error of one movie taken apart (module docstring)."""
    movie = independent.simulate(scene, seed)
    metadata = scene.metadata
    params = analysis.AnalysisParams.from_metadata(metadata, blur_separation=blur_separation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analysis.analyze(Movie(da.from_array(movie.frames), metadata, "movie"), params)
    truth_nm = float(np.median(movie.diameters_nm))
    localizations = result.localizations.reset_index(drop=True)
    localizations["true_id"] = truth_ids(localizations, truth_table(movie), radius_px)
    true_linked = localizations[localizations["true_id"] >= 0].assign(
        particle=lambda table: table["true_id"]
    )
    where = movie.positions_px[true_linked["frame"].to_numpy(), true_linked["true_id"].to_numpy()]
    true_linked = true_linked.assign(true_y=where[:, 0], true_x=where[:, 1])
    diameter = result.params.diameter_px or detect.SHARP_DIAMETER_PX
    separation = result.params.separation or diameter + 1.0
    margin = detect.edge_margin_px(diameter, separation)
    every = truth_table(movie, in_view_only=False)
    height, width = movie.frames.shape[1:]
    every = every[
        every["particle"].isin(true_linked["particle"].unique())
        & movie.in_view[every["frame"], every["particle"]]
        & every["y"].between(margin, height - 1 - margin)
        & every["x"].between(margin, width - 1 - margin)
    ]
    error = np.hypot(
        true_linked["y"] - true_linked["true_y"], true_linked["x"] - true_linked["true_x"]
    )
    row: dict[str, float | str] = {
        "seed": seed,
        "separation": float(separation),
        "ens": 100.0 * (float(result.summary["diameter_nm"]) / truth_nm - 1.0),
        "ens_truth": ensemble_error_pct(true_linked, result, truth_nm),
        "ens_truth_pos": ensemble_error_pct(
            true_linked.assign(y=true_linked["true_y"], x=true_linked["true_x"]), result, truth_nm
        ),
        "ens_truth_all": ensemble_error_pct(every, result, truth_nm),
        "ens21": ensemble_error_pct(result.tracks, result, truth_nm, "msd-difference"),
        "ens21_truth": ensemble_error_pct(true_linked, result, truth_nm, "msd-difference"),
        "ens21_truth_pos": ensemble_error_pct(
            true_linked.assign(y=true_linked["true_y"], x=true_linked["true_x"]),
            result,
            truth_nm,
            "msd-difference",
        ),
        "ens21_truth_all": ensemble_error_pct(every, result, truth_nm, "msd-difference"),
        "rms_err_px": float(np.sqrt(np.mean(error**2) / 2)),
        "matched": float(np.mean(localizations["true_id"] >= 0)),
    }
    row.update(error_terms(true_linked))
    rms_truth = rms_step_px(true_linked)
    row["rms_pilot_px"] = float(result.params.search_range_px) / link.SEARCH_RANGE_RMS_STEPS
    row["rms_truth_px"] = rms_truth
    row["ens_rule_range"] = relinked_error_pct(
        localizations, result, truth_nm, round(link.SEARCH_RANGE_RMS_STEPS * rms_truth, 2)
    )
    detection = result.summary.get("detection") or {}
    radius = wide_radius_px(
        detection.get("spot_sigma_px") or np.nan, detection.get("streak_sd_px") or np.nan
    )
    wide = wide_centroids(movie.frames, localizations, radius)
    wide_linked = wide[wide["true_id"] >= 0].assign(particle=lambda table: table["true_id"])
    wide_error = np.hypot(
        wide_linked["y"].to_numpy() - where[:, 0], wide_linked["x"].to_numpy() - where[:, 1]
    )
    row["wide_radius_px"] = radius
    row["rms_err_wide_px"] = float(np.sqrt(np.mean(wide_error**2) / 2))
    row["ens_wide"] = relinked_error_pct(wide, result, truth_nm, None)
    row["ens_truth_wide"] = ensemble_error_pct(wide_linked, result, truth_nm)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0 .. N-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--settings", default="nta", help="comma-separated: nta, fast")
    parser.add_argument("--only", default="50 nm", help="cases whose label contains this")
    parser.add_argument("--blur-separation", action="store_true")
    parser.add_argument("--radius", type=float, default=TRUTH_RADIUS_PX, help="truth match, px")
    args = parser.parse_args()
    rows = []
    for setting, case, scene in independent.cases(args.settings.split(",")):
        if args.only not in f"{setting} {case}" or len(scene.populations) > 1:
            continue
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            row = {"setting": setting, "case": case}
            row.update(
                split_report(
                    dataclasses.replace(scene, frames=args.frames),
                    seed,
                    args.blur_separation,
                    args.radius,
                )
            )
            rows.append(row)
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="{:.3f}".format))
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.3f}".format), flush=True)


if __name__ == "__main__":
    main()
