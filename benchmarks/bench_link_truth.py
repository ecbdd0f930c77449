"""Links against simulated truth: wrong links, lost true steps, their effect on sizes (issue 11).

For each case of ``bench_accuracy.py`` (same movies, same default analysis) every localization
gets the id of a true particle by a one-to-one assignment per frame within ``--radius`` pixels
(a nearest-truth match within 3 px leaves out the most smeared images of fast particles, the ones
a detector finds furthest from the mean position, and so makes truth-linked tracks look slower
than they are). Printed per movie:

- ``wrong1`` / ``wrong2``: share of the linker's one- and two-frame links that join two
  different particles, and ``wrongsq1`` / ``wrongsq2`` their share of the summed squared steps;
- ``kept1`` / ``kept2``: mean squared step of the true one- and two-frame steps the linker made
  over that of all true steps of that gap (below 1: the linker loses the large ones);
- ``gone_new``: share of wrong links where the track's particle had left the view and the
  localization belongs to a particle that had just appeared;
- ``ens`` / ``ens_truth``: ensemble diameter error (%) of the linker's tracks and of the same
  localizations linked by their true ids (the analysis' estimator with drift and edge weights,
  steps up to
  :data:`napari_pynta.sizing.MAX_STEP_FRAMES` frames); ``ens_lost``: the truth-linked tracks cut
  wherever the linker did not make the true link (``ens_lost - ens_truth``: what the lost true
  steps do; ``ens - ens_lost``: what the wrong links do);
- ``tracks_wrong``: share of the sized tracks with at least one wrong link, and the median size
  of the tracks with and without one;
- ``made1`` / ``to_track1`` / ``to_new1`` / ``sq_lost1``: of the true one-frame steps (both
  localizations matched to the particle), the share the linker made, the share lost because
  another track took the later localization, the share lost because it started a track, and the
  lost steps' share of all true steps' summed square (docs/accuracy.md, "Split images").
- ``ens_truth_pos`` / ``ens_truth_all``: ``ens_truth`` with the true positions put in place of
  the detected ones (same frames), and the true positions of every frame in which those
  particles lie in the detectable field (no detection at all): ``ens_truth - ens_truth_pos`` is
  what the localization error does, ``ens_truth_pos - ens_truth_all`` what the missed frames do
  (docs/accuracy.md, "Split images, round 12").
- ``ens21``, ``ens21_truth``, ``ens21_truth_pos``, ``ens21_truth_all``: the same four with
  :func:`msd_difference_D` in place of the analysis' estimator (measured, not landed:
  docs/accuracy.md, "A lag-difference estimator").

Run: ``python benchmarks/bench_link_truth.py --only "short" --seeds 2 --frames-factor 0.67``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench_accuracy import SETTINGS, Case, build_cases  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from napari_pynta import analysis, detect, link, physics, simulate, sizing  # noqa: E402
from napari_pynta.readers import Movie  # noqa: E402

#: a localization further than this from every true particle of its frame has no truth id
TRUTH_RADIUS_PX = 6.0


def truth_ids(localizations: pd.DataFrame, truth: pd.DataFrame, radius_px: float) -> np.ndarray:
    """True particle id of every localization (-1: none), one-to-one per frame within
    ``radius_px``, least summed squared distance."""
    ids = np.full(len(localizations), -1, dtype=np.int64)
    by_frame = dict(tuple(truth.groupby("frame")))
    rows = np.arange(len(localizations))
    for frame, group in localizations.groupby("frame"):
        true = by_frame.get(frame)
        if true is None:
            continue
        squared = (group["y"].to_numpy()[:, None] - true["y"].to_numpy()[None]) ** 2 + (
            group["x"].to_numpy()[:, None] - true["x"].to_numpy()[None]
        ) ** 2
        cost = np.where(squared <= radius_px**2, squared, 1e12)
        found, match = linear_sum_assignment(cost)
        close = cost[found, match] < 1e12
        where = rows[localizations.index.get_indexer(group.index)]
        ids[where[found[close]]] = true["particle"].to_numpy()[match[close]]
    return ids


def successive_pairs(tracks: pd.DataFrame, by: str) -> pd.DataFrame:
    """Rows i -> i+1 of the same ``by`` id: gap (frames), squared step (px²), both true ids."""
    ordered = tracks.sort_values([by, "frame"], kind="stable")
    owner = ordered[by].to_numpy()
    same = owner[1:] == owner[:-1]
    true = ordered["true_id"].to_numpy()
    return pd.DataFrame(
        {
            "gap": np.diff(ordered["frame"].to_numpy())[same],
            "sq": (np.diff(ordered["y"].to_numpy()) ** 2 + np.diff(ordered["x"].to_numpy()) ** 2)[
                same
            ],
            "first": true[:-1][same],
            "second": true[1:][same],
            "frame": ordered["frame"].to_numpy()[1:][same],
            "owner": owner[1:][same],
        }
    )


#: the ensemble columns' prefix for each estimator: the analysis' and the lag difference
ESTIMATOR_COLUMNS = {"ens": "covariance", "ens21": "msd-difference"}


def ensemble_error_pct(
    tracks: pd.DataFrame,
    result: analysis.AnalysisResult,
    truth_nm: float,
    estimator: str = "covariance",
) -> float:
    """Ensemble diameter error (%) of ``tracks`` with the analysis' settings and estimator
    (``covariance``) or with :func:`msd_difference_D` (``msd-difference``; measured only)."""
    params = result.params
    kept = link.filter_tracks(tracks, params.min_track_length)
    corrected, _ = sizing.subtract_drift(kept)
    field = analysis.detectable_field_px(result.frame_shape, params)
    if estimator == "covariance":
        D = analysis.ensemble_estimate(corrected, params, field).D_um2_s
    else:
        D = msd_difference_D(
            corrected, params.required("pixel_size_um"), params.frame_interval_s, field
        )
    diameter = physics.diameter_nm(
        D, params.required("temperature_c"), params.resolved_viscosity_pa_s
    )
    return 100.0 * (float(diameter) / truth_nm - 1.0)


def lag_sums(tracks: pd.DataFrame, field_px: tuple[float, float] | None) -> pd.DataFrame:
    """Per track (indexed by ``particle``): ``sq1``, ``w1``, ``sq2``, ``w2``, the edge-weighted
    summed squared 2-D displacements (px²) over every pair of its localizations one and two frames
    apart, whether or not the frame between was detected, and their summed weights."""
    ordered = tracks.sort_values(["particle", "frame"], kind="stable")
    particles, owner = np.unique(ordered["particle"].to_numpy(), return_inverse=True)
    frame = ordered["frame"].to_numpy()
    y, x = ordered["y"].to_numpy(), ordered["x"].to_numpy()
    # the edges cut steps where they were in the image, drift included (sizing.track_sums)
    image_y, image_x = (
        ordered[axis].to_numpy() + (ordered[drift].to_numpy() if drift in ordered else 0.0)
        for axis, drift in zip(("y", "x"), sizing.DRIFT_COLUMNS, strict=True)
    )
    columns = {}
    for lag in (1, 2):
        squares, weights = np.zeros(len(particles)), np.zeros(len(particles))
        for rows in range(1, lag + 1):
            start = np.flatnonzero(
                (owner[rows:] == owner[:-rows]) & (frame[rows:] - frame[:-rows] == lag)
            )
            dy, dx = y[start + rows] - y[start], x[start + rows] - x[start]
            weight = (
                np.ones(len(start))
                if field_px is None
                else sizing.edge_weights(
                    image_y[start + rows] - image_y[start],
                    image_x[start + rows] - image_x[start],
                    field_px,
                )
            )
            weight = np.nan_to_num(weight)
            squares += np.bincount(
                owner[start], np.nan_to_num(weight * (dy * dy + dx * dx)), len(particles)
            )
            weights += np.bincount(owner[start], weight, len(particles))
        columns[f"sq{lag}"], columns[f"w{lag}"] = squares, weights
    return pd.DataFrame(columns, index=pd.Index(particles, name="particle"))


def msd_difference_D(
    tracks: pd.DataFrame,
    pixel_size_um: float,
    frame_interval_s: float,
    field_px: tuple[float, float] | None,
) -> float:
    """D (µm²/s) as ``(MSD(2) - MSD(1)) / (4 dt)`` over every pair of a track's localizations one
    and two frames apart (edge weighted; :func:`lag_sums`), whether or not the frame between was
    detected.

    Without missed frames this is the covariance estimator; a pair's expected squared
    displacement depends on its two end frames only through terms that do not depend on the lag,
    so it is not biased by a detector that keeps the frames in which a particle smeared least
    (docs/accuracy.md, "A lag-difference estimator").
    """
    total = lag_sums(tracks, field_px).sum()
    msd1, msd2 = total["sq1"] / total["w1"], total["sq2"] / total["w2"]
    return float((msd2 - msd1) * pixel_size_um**2 / (4 * frame_interval_s))


def gone_new_share(wrong: pd.DataFrame, truth: pd.DataFrame) -> float:
    """Share of wrong links whose track's particle left the view and whose new particle had
    just appeared (not in view in the frame before the link's first frame or since)."""
    present = set(zip(truth["frame"], truth["particle"], strict=True))
    count = 0
    for row in wrong.itertuples():
        start = row.frame - row.gap
        gone = (row.frame, row.first) not in present
        new = not any((f, row.second) in present for f in range(start - 1, row.frame))
        count += gone and new
    return count / max(len(wrong), 1)


def one_frame_losses(linked: pd.DataFrame) -> dict[str, float]:
    """What became of the true one-frame steps in ``linked`` (``particle``, ``true_id``): the
    shares made, lost to another track, lost to a new track, and the lost steps' share of the
    summed squared steps."""
    table = linked.reset_index(drop=True)
    order = np.lexsort((table["frame"].to_numpy(), table["particle"].to_numpy()))
    owner = table["particle"].to_numpy()[order]
    previous = np.full(len(table), -1)
    same = owner[1:] == owner[:-1]
    previous[order[1:][same]] = order[:-1][same]
    matched = table[table["true_id"] >= 0]
    row_of = pd.Series(
        matched.index.to_numpy(),
        index=pd.MultiIndex.from_arrays([matched["frame"], matched["true_id"]]),
    )
    row_of = row_of[~row_of.index.duplicated()]
    frames, ids = row_of.index.get_level_values(0), row_of.index.get_level_values(1)
    before = row_of.reindex(pd.MultiIndex.from_arrays([frames - 1, ids])).to_numpy()
    known = ~np.isnan(before)
    first, second = before[known].astype(np.int64), row_of.to_numpy()[known]
    positions = table[["y", "x"]].to_numpy()
    squared = np.sum((positions[second] - positions[first]) ** 2, axis=1)
    made = previous[second] == first
    return {
        "made1": float(made.mean()),
        "to_track1": float((~made & (previous[second] >= 0)).mean()),
        "to_new1": float((previous[second] < 0).mean()),
        "sq_lost1": float(squared[~made].sum() / max(squared.sum(), 1e-12)),
    }


def true_position_errors(
    true_linked: pd.DataFrame,
    movie: simulate.SimulatedMovie,
    result: analysis.AnalysisResult,
    truth_nm: float,
) -> dict[str, float]:
    """Ensemble errors (%) of the truth-linked tracks at their true positions (same frames), and
    of the true positions of every frame in which their particles lie in the detectable field."""
    where = movie.truth.set_index(["frame", "particle"])[["y", "x"]]
    key = pd.MultiIndex.from_arrays([true_linked["frame"], true_linked["particle"]])
    at_truth = true_linked.copy()
    at_truth[["y", "x"]] = where.reindex(key).to_numpy()
    margin = (result.params.diameter_px or detect.SHARP_DIAMETER_PX) // 2
    seen = movie.truth[movie.in_field(margin)]
    every = seen[seen["particle"].isin(true_linked["particle"].unique())]
    return {
        f"{column}{suffix}": ensemble_error_pct(tracks, result, truth_nm, estimator)
        for column, estimator in ESTIMATOR_COLUMNS.items()
        for suffix, tracks in (("_truth_pos", at_truth), ("_truth_all", every))
    }


def analyzed_movie(
    case: Case, seed: int, n_frames: int, radius_px: float
) -> tuple[simulate.SimulatedMovie, analysis.AnalysisResult, pd.DataFrame, float]:
    """The simulated movie of ``case`` and ``seed``, its default analysis, the analysis'
    localizations with their true ids (``true_id``, -1: none) and the true diameter (nm)."""
    movie = simulate.simulate_movie(n_frames, case.settings(seed))
    params = analysis.AnalysisParams.from_metadata(movie.metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analysis.analyze(Movie(movie.frames, movie.metadata, case.name), params)
    localizations = result.localizations.reset_index(drop=True)
    localizations["true_id"] = truth_ids(localizations, movie.truth, radius_px)
    return movie, result, localizations, float(np.median(movie.diameters_nm))


def links_against_truth(
    linked: pd.DataFrame, true_linked: pd.DataFrame
) -> tuple[dict[str, float], pd.DataFrame, pd.Series]:
    """``wrong1/2``, ``wrongsq1/2`` and ``kept1/2`` (module docstring) of the linker's tracks
    ``linked`` against the truth-linked ``true_linked``; also the links whose two ends have a
    true id (column ``wrong``) and the linker's id of each (frame, true id)."""
    links = successive_pairs(linked, "particle")
    known = links[(links["first"] >= 0) & (links["second"] >= 0)]
    known = known.assign(wrong=known["first"] != known["second"])
    true_steps = successive_pairs(true_linked, "true_id")
    # a true step was made by the linker when both ends carry the same linker id
    key = pd.MultiIndex.from_arrays([linked["frame"], linked["true_id"]])
    linker_id = pd.Series(linked["particle"].to_numpy(), index=key)
    linker_id = linker_id[~key.duplicated()]
    row: dict[str, float] = {}
    for gap in (1, 2):
        of_gap = known["gap"] == gap
        row[f"wrong{gap}"] = float(known["wrong"][of_gap].mean())
        row[f"wrongsq{gap}"] = float(
            known["sq"][of_gap & known["wrong"]].sum() / max(known["sq"][of_gap].sum(), 1e-12)
        )
        steps = true_steps[true_steps["gap"] == gap]
        before = linker_id.reindex(
            pd.MultiIndex.from_arrays([steps["frame"] - gap, steps["first"]])
        )
        after = linker_id.reindex(pd.MultiIndex.from_arrays([steps["frame"], steps["second"]]))
        made = before.to_numpy() == after.to_numpy()
        row[f"kept{gap}"] = float(steps["sq"][made].mean() / steps["sq"].mean())
    return row, known, linker_id


def link_report(case: Case, seed: int, n_frames: int, radius_px: float) -> dict:
    movie, result, localizations, truth_nm = analyzed_movie(case, seed, n_frames, radius_px)
    linked = link.link_features(
        localizations,
        result.params.search_range_px,
        result.params.memory,
        result.params.gap_spread.factor,
    )
    true_linked = localizations[localizations["true_id"] >= 0].assign(
        particle=lambda table: table["true_id"]
    )
    row: dict = {"case": case.name, "setting": case.setting.name, "seed": seed}
    row.update(one_frame_losses(linked))
    shares, known, linker_id = links_against_truth(linked, true_linked)
    row.update(shares)
    # the truth-linked tracks without the true links the linker did not make
    steps = successive_pairs(true_linked, "true_id")
    before = linker_id.reindex(
        pd.MultiIndex.from_arrays([steps["frame"] - steps["gap"], steps["first"]])
    )
    after = linker_id.reindex(pd.MultiIndex.from_arrays([steps["frame"], steps["second"]]))
    lost = steps.loc[before.to_numpy() != after.to_numpy(), ["frame", "second"]]
    starts = pd.MultiIndex.from_arrays([lost["frame"], lost["second"]])
    ordered = true_linked.sort_values(["true_id", "frame"], kind="stable")
    cut = pd.MultiIndex.from_arrays([ordered["frame"], ordered["true_id"]]).isin(starts)
    new_track = np.r_[True, np.diff(ordered["true_id"].to_numpy()) != 0] | cut
    row["ens_lost"] = ensemble_error_pct(
        ordered.assign(particle=np.cumsum(new_track)), result, truth_nm
    )
    row["gone_new"] = gone_new_share(known[known["wrong"]], movie.truth)
    for column, estimator in ESTIMATOR_COLUMNS.items():
        row[column] = ensemble_error_pct(linked, result, truth_nm, estimator)
        row[f"{column}_truth"] = ensemble_error_pct(true_linked, result, truth_nm, estimator)
    row.update(true_position_errors(true_linked, movie, result, truth_nm))
    # matched like the localizations (a linker that merges localizations moves them)
    sized = successive_pairs(
        result.tracks.assign(true_id=truth_ids(result.tracks, movie.truth, radius_px)),
        "particle",
    )
    sized = sized[sized["gap"] <= sizing.MAX_STEP_FRAMES]
    wrong_tracks = set(sized["owner"][sized["first"] != sized["second"]])
    per_track = result.per_track.set_index("particle")["diameter_nm"]
    with_wrong = per_track.index.isin(list(wrong_tracks))
    row["tracks_wrong"] = float(with_wrong.mean())
    row["median_nm_wrong"] = float(per_track[with_wrong].median())
    row["median_nm_clean"] = float(per_track[~with_wrong].median())
    deconvolved = result.summary.get("deconvolved_nm") or {}
    row["peaks"] = "/".join(f"{peak:.0f}" for peak in deconvolved.get("peaks") or [])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0 .. N-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--frames-factor", type=float, default=1.0)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--only", default="", help="cases whose name contains this text")
    parser.add_argument("--radius", type=float, default=TRUTH_RADIUS_PX, help="truth match, px")
    args = parser.parse_args()
    rows = []
    for case in build_cases(args.settings):
        if args.only not in case.name or case.setting.name not in args.settings:
            continue
        n_frames = int(math.ceil(case.setting.frames_full * args.frames_factor))
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            rows.append(link_report(case, seed, n_frames, args.radius))
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="{:.3f}".format))
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.3f}".format), flush=True)


if __name__ == "__main__":
    main()
