"""Where the analysis cuts true tracks, and why (issue 11, b27-breaks).

Each movie is analysed as ``pynta analyze`` does (default settings) and its localizations are
matched one-to-one per frame to the true particles (:func:`bench_link_truth.truth_ids`). A
*break* is a pair of localizations of the same true particle, consecutive among that particle's
matched localizations (frames ``n`` and ``n + g``), that the analysis' final tracks do not hold
as consecutive members of one track. Every break gets the first cause along the analysis'
pipeline (:func:`napari_pynta.analysis.summarize_tracks`):

- ``gap>memory``: ``g`` exceeds ``memory + 1``; the linker never looks that far back;
- ``beyond_reach``: the step (in the frame of the flow the linker took out) gains nothing for
  its gap (:class:`napari_pynta.link.StreamingLinker`'s link gain ``<= 0``);
- ``went_elsewhere``: the linker continued the track of ``n`` to another localization at or
  before ``n + g``;
- ``taken``: the localization at ``n + g`` was linked to another track;
- ``linker_other``: the linker did not make the link for none of these reasons;
- ``brightness``: the linker made it, :func:`napari_pynta.link.split_at_brightness_changes`
  cut it;
- ``overlap``: one end is left out of the sizes as overlapping another feature;
- ``short``: both ends lie in a piece dropped by the length filter;
- ``other``: none of the above.

Printed per cause, pooled over the movies: count, ``share`` of the breaks, ``sel`` (the summed
squared true step across its breaks over the summed mean squared true step of all pairs of the
same gap: above 1 the cause removes large steps; ``sel_g1`` the same for one-frame pairs) and
``sq_lost`` (its breaks' share of the summed squared true steps of all pairs of at most
:data:`napari_pynta.sizing.MAX_STEP_FRAMES` frames, the steps the sizes use). Per movie: the
size error (%) of the analysis (``ens``), the brightness split's cuts (:func:`split_cuts`), the
wrong links the final tracks size (:func:`final_links`), and
with ``--what-if`` of each what-if (analysis' estimator ``ens_*``, lag difference ``ld_*``,
:func:`bench_link_truth.msd_difference_D`; ``peaks_*`` when there are two or more): the
localizations relinked and sized in-process with the brightness split or the parameters changed
(:data:`WHAT_IFS`; not what the analysis does).

The wrong links are classified by what they joined (:func:`wrong_link_kinds`). ``--setting``
changes ours' simulation settings (e.g. ``illumination_sigma_um=1.25``, a Gaussian illumination
profile in depth in place of the hard focal layer).

Run: ``python benchmarks/track_breaks.py --movies held-out --only "50 nm" --seeds 6 --what-if
base nosplit oracle``; ``--movies ours --only "50 nm" --seeds 2 --frames-factor 0.67``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench_link_truth import TRUTH_RADIUS_PX, ensemble_error_pct, truth_ids  # noqa: E402
from hybrid_lag_difference import held_out, ours  # noqa: E402
from independent_truth_split import rms_step_px  # noqa: E402

from napari_pynta import analysis, link, sizing  # noqa: E402

#: the analysis' brightness split (the recorder replaces the module's while installed)
BRIGHTNESS_SPLIT = link.split_at_brightness_changes

#: the causes in the order of the analysis' pipeline (module docstring)
CAUSES = (
    "gap>memory",
    "beyond_reach",
    "went_elsewhere",
    "taken",
    "linker_other",
    "brightness",
    "overlap",
    "short",
    "other",
)


class PipelineRecorder:
    """Records what :func:`napari_pynta.analysis.summarize_tracks` links and splits.

    While installed, :func:`napari_pynta.link.split_at_brightness_changes` is wrapped: the
    first call after :meth:`reset` (summarize_tracks', before the relinkings') keeps its input
    (the linker's tracks) and output, and the flow of the last :func:`link.link_features` call
    before it (the final linking's). ``split`` is the function called (a what-if replaces it).
    """

    def __init__(self) -> None:
        self.split: Callable[[pd.DataFrame], pd.DataFrame] = BRIGHTNESS_SPLIT
        self._link_features = link.link_features
        self.linked: pd.DataFrame | None = None
        self.split_tracks: pd.DataFrame | None = None
        self.flow: pd.DataFrame | None = None
        self._last_flow: pd.DataFrame | None = None

    def reset(self) -> None:
        self.linked = self.split_tracks = self.flow = self._last_flow = None

    def _recording_link(self, features: pd.DataFrame, *args, **kwargs) -> pd.DataFrame:
        self._last_flow = kwargs.get("flow", args[3] if len(args) > 3 else None)
        return self._link_features(features, *args, **kwargs)

    def _recording_split(self, tracks: pd.DataFrame) -> pd.DataFrame:
        result = self.split(tracks)
        if self.linked is None:
            self.linked, self.split_tracks, self.flow = tracks, result, self._last_flow
        return result

    @contextlib.contextmanager
    def installed(self) -> Iterator[PipelineRecorder]:
        link.link_features = self._recording_link  # type: ignore[assignment]
        link.split_at_brightness_changes = self._recording_split  # type: ignore[assignment]
        try:
            yield self
        finally:
            link.link_features = self._link_features  # type: ignore[assignment]
            link.split_at_brightness_changes = BRIGHTNESS_SPLIT  # type: ignore[assignment]


def _successor(owner: np.ndarray, frame: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For every row of the table (length of ``owner``), the next row of the same owner by
    frame among ``rows`` (-1: none or not among ``rows``)."""
    successor = np.full(len(owner), -1, dtype=np.int64)
    order = rows[np.lexsort((frame[rows], owner[rows]))]
    same = owner[order][1:] == owner[order][:-1]
    successor[order[:-1][same]] = order[1:][same]
    return successor


def stage_table(
    recorder: PipelineRecorder, result: analysis.AnalysisResult, truth: pd.DataFrame
) -> pd.DataFrame:
    """The localizations as summarize_tracks saw them, one row each: ``frame, y, x``,
    ``true_id`` (-1: none), ``true_y``, ``true_x``, the linker's successor and predecessor
    rows, ``split_id``, ``overlapping``, ``kept`` (in the final tracks) and the final tracks'
    successor row (-1: none)."""
    assert recorder.linked is not None and recorder.split_tracks is not None
    linked = recorder.linked.reset_index(drop=True)
    params = result.params
    split_id = recorder.split_tracks["particle"].to_numpy()
    overlapping = analysis.overlapping_localizations(recorder.split_tracks, params)
    sized_length = (
        pd.Series(split_id[~overlapping]).map(pd.Series(split_id[~overlapping]).value_counts())
    ).to_numpy()
    kept = ~overlapping
    kept[~overlapping] = sized_length >= params.min_track_length
    if kept.sum() != len(result.tracks):
        raise RuntimeError(f"kept {kept.sum()} rows, the analysis {len(result.tracks)}")
    frame = linked["frame"].to_numpy()
    every = np.arange(len(linked))
    linker_next = _successor(linked["particle"].to_numpy(), frame, every)
    linker_previous = np.full(len(linked), -1, dtype=np.int64)
    linker_previous[linker_next[linker_next >= 0]] = every[linker_next >= 0]
    table = linked[["frame", "y", "x"]].assign(
        linker_next=linker_next,
        linker_previous=linker_previous,
        split_id=split_id,
        overlapping=overlapping,
        kept=kept,
        final_next=_successor(split_id, frame, every[kept]),
        true_id=truth_ids(linked, truth, TRUTH_RADIUS_PX),
    )
    if recorder.flow is not None:
        moved = link.without_flow(table, recorder.flow)
        table = table.assign(link_y=moved["y"].to_numpy(), link_x=moved["x"].to_numpy())
    else:
        table = table.assign(link_y=table["y"], link_x=table["x"])
    where = truth.set_index(["frame", "particle"])[["y", "x"]]
    matched = table["true_id"] >= 0
    key = pd.MultiIndex.from_arrays([table["frame"][matched], table["true_id"][matched]])
    true_yx = np.full((len(table), 2), np.nan)
    true_yx[matched.to_numpy()] = where.reindex(key).to_numpy()
    return table.assign(true_y=true_yx[:, 0], true_x=true_yx[:, 1])


def true_pairs(table: pd.DataFrame, params: analysis.AnalysisParams) -> pd.DataFrame:
    """Every pair of a true particle's consecutive matched localizations (rows ``a``, ``b``),
    its gap, squared true step, and its cause when the final tracks do not hold it (``""``
    when they do)."""
    matched = np.flatnonzero(table["true_id"].to_numpy() >= 0)
    true_id, frame = table["true_id"].to_numpy(), table["frame"].to_numpy()
    order = matched[np.lexsort((frame[matched], true_id[matched]))]
    same = true_id[order][1:] == true_id[order][:-1]
    a, b = order[:-1][same], order[1:][same]
    gap = frame[b] - frame[a]
    true_y, true_x = table["true_y"].to_numpy(), table["true_x"].to_numpy()
    squared = (true_y[b] - true_y[a]) ** 2 + (true_x[b] - true_x[a]) ** 2
    linker = link.StreamingLinker(params.search_range_px, params.memory, params.gap_spread.factor)
    link_y, link_x = table["link_y"].to_numpy(), table["link_x"].to_numpy()
    measured = (link_y[b] - link_y[a]) ** 2 + (link_x[b] - link_x[a]) ** 2
    gain = linker._link_gain(gap.astype(np.float64), measured)
    linker_next = table["linker_next"].to_numpy()
    went = linker_next[a]
    split_id, overlapping = table["split_id"].to_numpy(), table["overlapping"].to_numpy()
    cause = np.select(
        [
            table["final_next"].to_numpy()[a] == b,
            (went != b) & (gap > params.memory + 1),
            (went != b) & (gain <= 0),
            (went != b) & (went >= 0) & (frame[np.maximum(went, 0)] <= frame[b]),
            (went != b) & (table["linker_previous"].to_numpy()[b] >= 0),
            went != b,
            split_id[a] != split_id[b],
            overlapping[a] | overlapping[b],
            ~table["kept"].to_numpy()[a],
        ],
        ["", *CAUSES[:-1]],
        CAUSES[-1],
    )
    return pd.DataFrame({"gap": gap, "sq": squared, "cause": cause})


def split_cuts(table: pd.DataFrame) -> dict[str, float]:
    """The brightness split's cuts of the linker's links: how many, and the shares that join
    one true particle (``cuts_true``) and two (``cuts_wrong``; the rest have an unmatched end)."""
    row = np.flatnonzero(table["linker_next"].to_numpy() >= 0)
    after = table["linker_next"].to_numpy()[row]
    split_id, true_id = table["split_id"].to_numpy(), table["true_id"].to_numpy()
    cut = split_id[row] != split_id[after]
    first, second = true_id[row][cut], true_id[after][cut]
    known = (first >= 0) & (second >= 0)
    return {
        "cuts": int(cut.sum()),
        "cuts_true": float(np.mean(known & (first == second))) if cut.any() else np.nan,
        "cuts_wrong": float(np.mean(known & (first != second))) if cut.any() else np.nan,
    }


def _sized_final_links(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The final tracks' links of at most :data:`sizing.MAX_STEP_FRAMES` frames: rows of their
    first and second localizations and their squared measured steps (px²)."""
    first = np.flatnonzero(table["final_next"].to_numpy() >= 0)
    second = table["final_next"].to_numpy()[first]
    frame = table["frame"].to_numpy()
    sized = frame[second] - frame[first] <= sizing.MAX_STEP_FRAMES
    first, second = first[sized], second[sized]
    y, x = table["y"].to_numpy(), table["x"].to_numpy()
    return first, second, (y[second] - y[first]) ** 2 + (x[second] - x[first]) ** 2


def final_links(table: pd.DataFrame) -> dict[str, float]:
    """The sized links of the final tracks (at most :data:`sizing.MAX_STEP_FRAMES` frames):
    the shares of them, and of their summed squared measured steps, that join two true
    particles (``wrong``, ``wrong_sq``) or have an end matched to none (``unmatched``,
    ``unmatched_sq``)."""
    first, second, squared = _sized_final_links(table)
    true_id = table["true_id"].to_numpy()
    unmatched = (true_id[first] < 0) | (true_id[second] < 0)
    wrong = ~unmatched & (true_id[first] != true_id[second])
    return {
        "wrong": float(wrong.mean()),
        "wrong_sq": float(squared[wrong].sum() / squared.sum()),
        "unmatched": float(unmatched.mean()),
        "unmatched_sq": float(squared[unmatched].sum() / squared.sum()),
    }


#: what a wrong link joined (:func:`wrong_link_kinds`)
WRONG_KINDS = ("depth", "edge", "missed", "swap", "left", "entered", "unmatched")
#: a true particle this many per-axis rms one-frame steps (times sqrt(gap)) from the frame's
#: border may have crossed it between a link's frames
EDGE_REACH_STEPS = 3.0


def wrong_link_kinds(
    table: pd.DataFrame, truth: pd.DataFrame, frame_shape: tuple[int, int]
) -> dict[str, float]:
    """What the final tracks' wrong sized links joined, as shares of all sized links (``wk_*``)
    and of their summed squared measured steps (``wk_*_sq``).

    A link from a localization of true particle A (frame ``n``) to one of B (frame ``n + g``):
    A *stays* when it is in view (in ``truth``) at ``n + g``, else it *left*; B *was* there when
    it is in view at ``n``, else it *entered*; either is *seen* where it is detected (a
    localization matched to it). The link is *at the edge* when A is not seen at ``n + g`` or B
    not seen at ``n`` while its true position where it is seen lies within
    :data:`EDGE_REACH_STEPS` per-axis rms true one-frame steps (times ``sqrt(g)``) of the frame's
    border (it may have crossed the border, or the detector's margin). Kinds, first that
    applies: ``unmatched`` (an end matched to no particle in view), ``edge``, ``missed`` (A stays
    but is not seen at ``n + g``, or B was there but not seen at ``n``: a detection missed),
    ``depth`` (A left and B entered: in depth, the focal layer or light sheet), ``swap`` (A
    stays, B was there: neighbours both in view and detected), ``left`` (A left in depth, B was
    there), ``entered`` (A stays, B entered in depth).
    """
    first, second, squared = _sized_final_links(table)
    true_id, frame = table["true_id"].to_numpy(), table["frame"].to_numpy()
    a, b = true_id[first], true_id[second]
    unmatched = (a < 0) | (b < 0)
    wrong = ~unmatched & (a != b)
    ordered = truth.sort_values(["particle", "frame"], kind="stable")
    steps = ordered.groupby("particle")[["frame", "y", "x"]].diff()
    steps = steps[steps["frame"] == 1]
    step_sd = float(np.sqrt(np.mean(steps["y"] ** 2 + steps["x"] ** 2) / 2))
    in_view = pd.MultiIndex.from_arrays([truth["frame"], truth["particle"]])
    matched = true_id >= 0
    detected = pd.MultiIndex.from_arrays([frame[matched], true_id[matched]])
    a_later = pd.MultiIndex.from_arrays([frame[second], a])
    b_earlier = pd.MultiIndex.from_arrays([frame[first], b])
    a_stays, b_was = a_later.isin(in_view), b_earlier.isin(in_view)
    a_seen, b_seen = a_later.isin(detected), b_earlier.isin(detected)
    true_y, true_x = table["true_y"].to_numpy(), table["true_x"].to_numpy()
    reach = EDGE_REACH_STEPS * step_sd * np.sqrt(frame[second] - frame[first])
    height, width = frame_shape

    def near_edge(rows: np.ndarray) -> np.ndarray:
        border = np.minimum.reduce(
            [true_y[rows], true_x[rows], height - 1 - true_y[rows], width - 1 - true_x[rows]]
        )
        return border < reach

    edge = wrong & ((~a_seen & near_edge(first)) | (~b_seen & near_edge(second)))
    missed = (a_stays & ~a_seen) | (b_was & ~b_seen)
    rest = wrong & ~edge & ~missed
    kinds = {
        "depth": rest & ~a_stays & ~b_was,
        "edge": edge,
        "missed": wrong & ~edge & missed,
        "swap": rest & a_stays & b_was,
        "left": rest & ~a_stays & b_was,
        "entered": rest & a_stays & ~b_was,
        "unmatched": unmatched,
    }
    row = {}
    for kind in WRONG_KINDS:
        row[f"wk_{kind}"] = float(kinds[kind].mean())
        row[f"wk_{kind}_sq"] = float(squared[kinds[kind]].sum() / squared.sum())
    return row


def cause_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per cause (module docstring): ``n``, ``share``, ``sel``, ``sq_lost`` of ``pairs``
    pooled over movies (column ``movie``; each movie's mean squared step per gap)."""
    expected = pairs.groupby(["movie", "gap"])["sq"].transform("mean")
    pairs = pairs.assign(expected=expected)
    breaks = pairs[pairs["cause"] != ""]
    sized = pairs["gap"] <= sizing.MAX_STEP_FRAMES
    total_sq = pairs["sq"][sized].sum()
    rows = []
    for cause in (*CAUSES, "all"):
        of = breaks if cause == "all" else breaks[breaks["cause"] == cause]
        rows.append(
            {
                "cause": cause,
                "n": len(of),
                "share": len(of) / max(len(breaks), 1),
                "sel": of["sq"].sum() / of["expected"].sum() if len(of) else np.nan,
                "sel_g1": (
                    of["sq"][of["gap"] == 1].sum() / of["expected"][of["gap"] == 1].sum()
                    if (of["gap"] == 1).any()
                    else np.nan
                ),
                "sq_lost": of["sq"][of["gap"] <= sizing.MAX_STEP_FRAMES].sum() / total_sq,
            }
        )
    return pd.DataFrame(rows)


#: a what-if's brightness split, made for one movie's true positions (``frame, particle, y, x``)
SplitFactory = Callable[[pd.DataFrame], Callable[[pd.DataFrame], pd.DataFrame]]
#: which of a table's links (rows ``first`` -> ``second``, positions) keep a cut: tracks, truth
CutRule = Callable[[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray], np.ndarray]


def split_undoing(undone: CutRule) -> SplitFactory:
    """What-if: :func:`link.split_at_brightness_changes`, with the cuts for which
    ``undone(tracks, truth, first, second)`` is True joined again."""

    def factory(truth: pd.DataFrame) -> Callable[[pd.DataFrame], pd.DataFrame]:
        def split(tracks: pd.DataFrame) -> pd.DataFrame:
            result = BRIGHTNESS_SPLIT(tracks)
            order = np.lexsort((tracks["frame"].to_numpy(), tracks["particle"].to_numpy()))
            owner = tracks["particle"].to_numpy()[order]
            new = result["particle"].to_numpy()[order]
            cut = np.flatnonzero((owner[1:] == owner[:-1]) & (new[1:] != new[:-1]))
            if not len(cut):
                return result
            undo = cut[undone(tracks, truth, order[cut], order[cut + 1])]
            merged = new.copy()
            for link_index in undo:  # the later piece back under the earlier one's id
                merged[merged == merged[link_index + 1]] = merged[link_index]
            particle = np.empty(len(order), dtype=np.int64)
            particle[order] = merged
            return result.assign(particle=particle)

        return split

    return factory


def large_step(factor: float) -> CutRule:
    """Links whose squared step exceeds ``factor`` times the table's median squared step."""

    def rule(
        tracks: pd.DataFrame, truth: pd.DataFrame, first: np.ndarray, second: np.ndarray
    ) -> np.ndarray:
        y, x = tracks["y"].to_numpy(), tracks["x"].to_numpy()
        squared = (y[second] - y[first]) ** 2 + (x[second] - x[first]) ** 2
        ordered = tracks.sort_values(["particle", "frame"], kind="stable")
        steps = ordered.groupby("particle")[["frame", "y", "x"]].diff()
        steps = steps[steps["frame"] == 1]
        return squared > factor * float(np.median(steps["y"] ** 2 + steps["x"] ** 2))

    return rule


def same_true_particle(
    tracks: pd.DataFrame, truth: pd.DataFrame, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """Links whose two ends are matched to the same true particle (an oracle)."""
    ids = truth_ids(tracks, truth, TRUTH_RADIUS_PX)
    return (ids[first] >= 0) & (ids[first] == ids[second])


def split_above(sds: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """What-if: :func:`link.split_at_brightness_changes` with ``sds`` in place of
    :data:`link.BRIGHTNESS_CHANGE_SDS`."""

    def split(tracks: pd.DataFrame) -> pd.DataFrame:
        kept = link.BRIGHTNESS_CHANGE_SDS
        link.BRIGHTNESS_CHANGE_SDS = sds
        try:
            return BRIGHTNESS_SPLIT(tracks)
        finally:
            link.BRIGHTNESS_CHANGE_SDS = kept

    return split


def as_is(split: Callable[[pd.DataFrame], pd.DataFrame]) -> SplitFactory:
    """The same ``split`` for every movie."""
    return lambda truth: split


#: a what-if's parameters changed from the ones the analysis used, made for one movie's
#: analysis and true positions
ParamOverrides = Callable[[analysis.AnalysisResult, pd.DataFrame], dict]


def unchanged(result: analysis.AnalysisResult, truth: pd.DataFrame) -> dict:
    """No parameter changed."""
    return {}


def wider_range(factor: float) -> ParamOverrides:
    """The analysis' search range (as it measured it) times ``factor``."""
    return lambda result, truth: {
        "search_range_px": round(factor * result.params.search_range_px, 2)
    }


def range_at_rule(result: analysis.AnalysisResult, truth: pd.DataFrame) -> dict:
    """The range the analysis' own rule asks for (:data:`link.SEARCH_RANGE_RMS_STEPS` per-axis
    rms steps) with the rms step of its localizations' truth-linked one-frame steps in place of
    the pilot linking's (l9-loc's ``ens_rule_range``)."""
    localizations = result.localizations.reset_index(drop=True)
    ids = truth_ids(localizations, truth, TRUTH_RADIUS_PX)
    true_linked = localizations[ids >= 0].assign(particle=ids[ids >= 0])
    return {"search_range_px": round(link.SEARCH_RANGE_RMS_STEPS * rms_step_px(true_linked), 2)}


#: what-ifs: name -> (the split summarize_tracks calls, the parameters changed from the ones
#: the analysis used)
WHAT_IFS: dict[str, tuple[SplitFactory, ParamOverrides]] = {
    "base": (as_is(BRIGHTNESS_SPLIT), unchanged),
    "nosplit": (as_is(lambda tracks: tracks), unchanged),
    "spare2": (split_undoing(large_step(2.0)), unchanged),
    "oracle": (split_undoing(same_true_particle), unchanged),
    "sds8": (as_is(split_above(8.0)), unchanged),
    "min5": (as_is(BRIGHTNESS_SPLIT), lambda result, truth: {"min_track_length": 5}),
    "range110": (as_is(BRIGHTNESS_SPLIT), wider_range(1.1)),
    "rule": (as_is(BRIGHTNESS_SPLIT), range_at_rule),
}


def what_if_errors(
    recorder: PipelineRecorder,
    result: analysis.AnalysisResult,
    params: analysis.AnalysisParams,
    truth_nm: float,
    truth: pd.DataFrame,
    names: list[str],
) -> dict[str, float | str]:
    """Size errors (%) of the result's localizations analysed again with each what-if."""
    row: dict[str, float | str] = {}
    for name in names:
        factory, overrides = WHAT_IFS[name]
        recorder.split = factory(truth)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                again = analysis.analyze_localizations(
                    result.localizations,
                    result.summary["n_frames"],
                    dataclasses.replace(params, **overrides(result, truth)),
                    frame_shape=result.frame_shape,
                )
        finally:
            recorder.split = BRIGHTNESS_SPLIT
        row[f"ens_{name}"] = 100.0 * (float(again.summary["diameter_nm"]) / truth_nm - 1.0)
        row[f"ld_{name}"] = ensemble_error_pct(again.tracks, again, truth_nm, "msd-difference")
        peaks = (again.summary.get("deconvolved_nm") or {}).get("peaks") or []
        if len(peaks) > 1:
            row[f"peaks_{name}"] = "/".join(f"{peak:.0f}" for peak in peaks)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", choices=("ours", "held-out"), default="held-out")
    parser.add_argument("--only", default="50 nm", help="cases whose name contains this text")
    parser.add_argument("--seeds", type=int, default=2, help="seeds first .. first + N - 1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--frames-factor", type=float, default=1.0)
    parser.add_argument("--what-if", nargs="*", default=[], choices=list(WHAT_IFS))
    parser.add_argument(
        "--setting",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="ours: simulation settings changed, e.g. illumination_sigma_um=1.25 n_particles=19",
    )
    args = parser.parse_args()
    if args.setting and args.movies != "ours":
        parser.error("--setting changes the settings of ours (--movies ours)")
    try:
        extra = {
            name: json.loads(value) for name, value in (item.split("=", 1) for item in args.setting)
        }
    except ValueError:
        parser.error(f"--setting takes NAME=VALUE with a JSON value, got {args.setting}")
    movies = functools.partial(ours, extra=extra) if args.movies == "ours" else held_out
    recorder = PipelineRecorder()
    rows, pairs = [], []
    with recorder.installed():
        analysed = movies(
            lambda name: args.only in name,
            range(args.first_seed, args.first_seed + args.seeds),
            args.frames_factor,
        )
        for case, seed, result, truth_nm, params, truth in analysed:
            table = stage_table(recorder, result, truth)
            movie_pairs = true_pairs(table, result.params).assign(movie=f"{case} s{seed}")
            pairs.append(movie_pairs)
            row = {"case": case, "seed": seed}
            row["ens"] = 100.0 * (float(result.summary["diameter_nm"]) / truth_nm - 1.0)
            row["pairs"] = len(movie_pairs)
            row["breaks"] = float(np.mean(movie_pairs["cause"] != ""))
            row.update(split_cuts(table))
            row.update(final_links(table))
            row.update(wrong_link_kinds(table, truth, result.frame_shape))
            row.update(what_if_errors(recorder, result, params, truth_nm, truth, args.what_if))
            rows.append(row)
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="{:.2f}".format))
            print(cause_table(movie_pairs).to_string(index=False, float_format="{:.3f}".format))
            recorder.reset()
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.2f}".format))
    kinds = [column for column in rows[0] if column.startswith("wk_")]
    print(
        pd.DataFrame(rows)[["case", "seed", "wrong", "wrong_sq", "unmatched_sq", *kinds]].to_string(
            index=False, float_format="{:.3f}".format
        )
    )
    pooled = cause_table(pd.concat(pairs, ignore_index=True))
    print(pooled.to_string(index=False, float_format="{:.3f}".format), flush=True)


if __name__ == "__main__":
    main()
