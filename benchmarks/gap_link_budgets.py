"""Gap links priced from the movie's own rates or gap steps: wrong links, kept steps, sizes.

The linker (:class:`napari_pynta.link.StreamingLinker`) gives a link across ``g - 1`` missed
frames the gain ``A - ln w - GAP_COST (g - 1) - u`` (``u = r^2 / (2 s^2 w)``, ``A = 12.5``,
``GAP_COST = 3``). A likelihood model of track ends and starts gives instead, against starting
a new track for the localization, ``logit(P_g) - ln(2 pi s^2 b) - ln w - u``: ``P_g`` the
probability that a track not seen for ``g - 1`` frames is seen in the next one, ``b`` the
density of new tracks per frame and px². Both are measured here from the default linker's own
tracks of each movie (a pilot pass), and the movie is linked again with:

- ``now``: the analysis' linker;
- ``gap2 cost 4``: a fixed price of 4 (not 3) for one missed frame, the others unchanged;
- ``rates, relative``: the one-frame budget kept, each further gap priced
  ``logit(P_1) - logit(P_g)`` (the measured odds instead of ``GAP_COST``);
- ``rates, vs newcomers``: the one-frame budget kept, gap links priced against a newcomer as
  above (the full model for gap links);
- ``rates, vs newcomers, measured spread``: the same with the spread of gap steps measured from
  the movie: ``w = 1 + k (g - 1)`` with ``k = 2 m - 1``, ``m`` the mean ``u`` of the two-frame
  odds' excess below ``u`` = 13 (``--odds`` below; 1 for Brownian steps);
- ``now, blur gap spread``: the analysis' linker with ``--blur-gap-spread``'s ``k``;
- ``gap-step model, flat`` (g22): one-frame links the analysis', gap links priced by the
  log-odds of a :class:`GapStepModel` fitted to the pilot's candidate gap links without truth
  (the track's own particle in a core of the width the one-frame steps predict plus a wider
  tail of fitted share and width, against unrelated localizations flat per area);
- ``gap-step model, control``: the same with the unrelated localizations distributed like the
  candidates :data:`CONTROL_SHIFTS` frames away (the geometry of where tracks wait and where
  newcomers appear, without the track's own particle);
- ``..., balanced``: either model with each gap's reach moved to where the links it makes have
  the mean squared length of the model's true gap steps
  (:meth:`GapStepModel.balanced_offset`).

A row ``truth`` gives the ensemble errors of the same localizations linked by their true
particles. ``--independent`` runs the held-out simulator's nta movies
(``independent_movies.py``) instead of ours.

Printed per movie and linking: ``wrong1/2``, ``kept1/2`` (``bench_link_truth.py``), the
ensemble errors ``ens`` (the analysis' estimator) and ``ens21`` (lag difference), and the
measured ``P_g`` and ``-ln(2 pi s^2 b)``; with ``--odds``, the odds of a gap link against the
rest, measured without truth: the squared distances ``u`` from every track's last position
before a missed frame to the localizations two frames later that do not continue a track of
the frame between, whose level far out (``u`` 20 … 40: unrelated localizations, flat in
``u``) is subtracted (docs/accuracy.md, "Wrong gap links of short tracks").

Run: ``python benchmarks/gap_link_budgets.py --only "short" --seeds 2 --frames-factor 0.67``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import partial  # noqa: E402

import dask.array as da  # noqa: E402
import independent_movies as independent  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench_accuracy import Case, build_cases  # noqa: E402
from bench_link_truth import (  # noqa: E402
    ESTIMATOR_COLUMNS,
    TRUTH_RADIUS_PX,
    analyzed_movie,
    ensemble_error_pct,
    links_against_truth,
    truth_ids,
)
from independent_truth_split import truth_table  # noqa: E402
from scipy import optimize  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from napari_pynta import analysis, link, sizing  # noqa: E402
from napari_pynta.readers import Movie  # noqa: E402

#: bins of ``u`` for ``--odds``, and the range whose mean level is the unrelated localizations'
ODDS_EDGES = np.array([0, 1, 2, 3, 4, 5, 6, 8, 10, 13, 20, 30, 40], dtype=np.float64)
FLAT_FROM_U = 20.0
#: the measured spread of gap steps takes the odds' excess below this ``u``
SPREAD_BELOW_U = 13.0
#: the linkings priced by the fitted :class:`GapStepModel` (flat unrelated localizations, or
#: the shifted-frame control): by its log-odds, and with the mean-square balanced reach
MODEL_RULES = {
    False: ("gap-step model, flat", "gap-step model, flat, balanced"),
    True: ("gap-step model, control", "gap-step model, control, balanced"),
}
#: the analysis' linker with the spread motion blur gives missed frames (``--blur-gap-spread``)
BLUR_RULE = "now, blur gap spread"
RULES = (
    "now",
    BLUR_RULE,
    "gap2 cost 4",
    "rates, relative",
    "rates, vs newcomers",
    "rates, vs newcomers, measured spread",
    *(rule for pair in MODEL_RULES.values() for rule in pair),
)
#: largest ``z = r^2 / (2 v_g)`` :meth:`GapStepModel.balanced_offset` considers
BALANCE_MAX_Z = 60.0
#: bin width in ``z = r^2 / (2 v_g)`` of the gap-step model's fit
FIT_BIN_Z = 0.25
#: frames between the candidates and the control localizations of the model's fit
CONTROL_SHIFTS = (-40, -25, 25, 40)


#: a movie analysed as ``pynta analyze`` does: its name, the analysis, its localizations with
#: their true ids (``true_id``, -1: none) and the true diameter (nm)
MovieUnderTest = tuple[str, analysis.AnalysisResult, pd.DataFrame, float]


class PricedLinker(link.StreamingLinker):
    """The analysis' linker with the gain at distance 0 given per gap (1, 2, ... frames)."""

    def __init__(
        self, search_range_px: float, memory: int, gains: np.ndarray, gap_spread: float = 1.0
    ) -> None:
        super().__init__(search_range_px, memory, gap_spread)
        self._gains = np.asarray(gains, dtype=np.float64)

    def _gain_at_zero(self, gap: np.ndarray, widening: np.ndarray) -> np.ndarray:
        return self._gains[gap.astype(np.int64) - 1] - np.log(widening)


@dataclass(frozen=True)
class GapStepModel:
    """Distances of candidate gap links per waiting track, fitted without truth (``tail``).

    For a track last seen ``g`` frames ago (``g`` >= 2), the localizations of the frame ``g``
    later that continue no track of the frame before lie at squared distance ``r^2`` with the
    intensity (per waiting track and px²) ``amplitude_g ((1 - q) G(r; v_g) + q G(r; T v_g)) +
    flat``: the track's own particle, seen again, in a core of per-axis variance ``v_g`` (what
    the one-frame steps predict for the gap: ``v_1 + (g - 1) (v_2 - v_1)``, ``v_1`` and ``v_2``
    from the median squared steps of the pilot's tracks one and two frames apart) and a tail
    ``T`` times wider holding the share ``q``; and unrelated localizations, flat per area.
    ``G`` is the 2-D Gaussian density. ``q``, ``T`` and ``flat`` are shared by the gaps.
    """

    core_px2: np.ndarray  # v_g for g = 2 … memory + 1
    amplitude: np.ndarray  # per gap as core_px2
    tail_share: float
    tail_width: float
    flat_per_px2: np.ndarray  # the unrelated localizations' level near the track, per gap
    pairs: int

    def log_odds(self, gap: np.ndarray, squared_px2: np.ndarray) -> np.ndarray:
        """ln of a gap link's intensity over the unrelated localizations' (gaps >= 2)."""
        index = gap.astype(np.int64) - 2
        core = self.core_px2[index]
        z = squared_px2 / (2.0 * core)
        q, width = self.tail_share, self.tail_width
        shape = (1.0 - q) * np.exp(-z) + q / width * np.exp(-z / width)
        with np.errstate(divide="ignore"):
            return np.log(self.amplitude[index] * shape) - np.log(
                self.flat_per_px2[index] * 2.0 * math.pi * core
            )

    def reach_px(self, offset: np.ndarray | None = None) -> np.ndarray:
        """Distance per gap (2 …) at which :meth:`log_odds` plus ``offset`` (per gap, default
        0) falls to 0 (0: never above)."""
        shift = np.zeros(len(self.core_px2)) if offset is None else offset
        reach = np.zeros(len(self.core_px2))
        for index in range(len(self.core_px2)):
            gap = np.array([index + 2.0])

            def above(squared: float, index: int = index, gap: np.ndarray = gap) -> bool:
                return bool(self.log_odds(gap, np.array([squared]))[0] + shift[index] > 0)

            if not above(0.0):
                continue
            low, high = 0.0, 2.0 * self.core_px2[index]
            while above(high):
                high *= 2.0
            for _ in range(60):
                middle = (low + high) / 2.0
                low, high = (middle, high) if above(middle) else (low, middle)
            reach[index] = math.sqrt(high)
        return reach

    def balanced_offset(self) -> np.ndarray:
        """Per gap, the offset to :meth:`log_odds` that puts the reach where the gap links made
        have the mean squared length of the true gap steps (the model's, all distances).

        Within a reach ``Z`` (``z = r^2 / (2 v_g)``) a waiting track links its own particle
        when it is there (``amplitude F(Z)``), else the nearest unrelated localization within
        ``Z`` if any (flat: ``mu = flat 2 pi v_g`` per unit ``z``); competition is ignored.
        The mean ``z`` of those links rises with ``Z`` through the true steps' mean
        ``(1 - q) + q T``: true steps lost beyond the reach lower it, wrong links raise it
        (a tail so wide that it does not within :data:`BALANCE_MAX_Z`: the reach is there).
        """
        q, width = self.tail_share, self.tail_width
        z = np.linspace(1e-3, BALANCE_MAX_Z, 20_000)
        seen = (1 - q) * -np.expm1(-z) + q * -np.expm1(-z / width)
        moment = (1 - q) * (1 - np.exp(-z) * (1 + z)) + q * width * (
            1 - np.exp(-z / width) * (1 + z / width)
        )
        offset = np.zeros(len(self.core_px2))
        for index, (amplitude, core) in enumerate(zip(self.amplitude, self.core_px2, strict=True)):
            mu = self.flat_per_px2[index] * 2.0 * math.pi * core
            alone = 1.0 - min(amplitude, 1.0) * seen
            linked = amplitude * seen + alone * -np.expm1(-mu * z)
            squared = amplitude * moment + alone * (1 - np.exp(-mu * z) * (1 + mu * z)) / mu
            reached = squared / linked >= (1 - q) + q * width
            balanced = z[np.argmax(reached)] if reached.any() else z[-1]
            gap = np.array([index + 2.0])
            offset[index] = -self.log_odds(gap, np.array([2.0 * core * balanced]))[0]
        return offset


class TailModelLinker(link.StreamingLinker):
    """The analysis' linker with gap links (2 frames and more) priced by a
    :class:`GapStepModel`: the log-odds of the track's own particle against an unrelated
    localization. One-frame links are the analysis'."""

    def __init__(
        self,
        search_range_px: float,
        memory: int,
        model: GapStepModel,
        offset: np.ndarray | None = None,
    ) -> None:
        super().__init__(search_range_px, memory)
        self._model = model
        self._offset = np.r_[0.0, np.zeros(len(model.core_px2)) if offset is None else offset]
        self._model_reach = np.r_[0.0, model.reach_px(offset)]

    def _reach(self, gap: np.ndarray) -> np.ndarray:
        one_frame = super()._reach(np.ones_like(gap))
        return np.where(gap == 1, one_frame, self._model_reach[gap.astype(np.int64) - 1])

    def _link_gain(self, gap: np.ndarray, squared_px2: np.ndarray) -> np.ndarray:
        gain = super()._link_gain(gap, squared_px2)
        later = gap >= 2
        gain[later] = (
            self._model.log_odds(gap[later], squared_px2[later])
            + self._offset[gap[later].astype(np.int64) - 1]
        )
        return gain


def median_step_variance(linked: pd.DataFrame, lag: int) -> float:
    """Per-axis variance of the steps ``lag`` rows and frames apart within the tracks (every
    frame between detected), from their median squared length (robust to wrong links)."""
    ordered = linked.sort_values(["particle", "frame"], kind="stable")
    owner, frame = ordered["particle"].to_numpy(), ordered["frame"].to_numpy()
    yx = ordered[["y", "x"]].to_numpy()
    apart = (owner[lag:] == owner[:-lag]) & (frame[lag:] - frame[:-lag] == lag)
    squared = np.sum((yx[lag:] - yx[:-lag]) ** 2, axis=1)[apart]
    return float(np.median(squared) / (2.0 * math.log(2.0)))


def candidate_distances(
    linked: pd.DataFrame, gap: int, within_px: float, shift: int = 0
) -> tuple[np.ndarray, int]:
    """Squared distances (px²) from every track's position before ``gap - 1`` missed frames
    to the localizations ``gap + shift`` frames later that continue no track of the frame
    before, within ``within_px``; and the number of such waiting positions (those whose frame
    ``gap + shift`` later is in the movie). ``shift`` 0: the candidate gap links; far from 0:
    the same geometry without the track's own particle (a control)."""
    ordered = linked.sort_values(["particle", "frame"], kind="stable")
    frame = ordered["frame"].to_numpy()
    same = ordered["particle"].to_numpy()[1:] == ordered["particle"].to_numpy()[:-1]
    step = np.diff(frame)
    following = np.r_[np.where(same, step, np.iinfo(np.int64).max), np.iinfo(np.int64).max]
    target = frame + gap + shift
    waits = (following >= gap) & (frame <= frame.max() - gap)
    waits &= (target >= frame.min()) & (target <= frame.max())
    fresh = np.r_[True, ~same | (step != 1)]
    candidates = {f: group[["y", "x"]].to_numpy() for f, group in ordered[fresh].groupby("frame")}
    squared = [np.empty(0)]
    for f, group in ordered[waits].groupby("frame"):
        later = candidates.get(f + gap + shift)
        if later is None:
            continue
        pairs = cKDTree(group[["y", "x"]].to_numpy()).sparse_distance_matrix(
            cKDTree(later), within_px, output_type="ndarray"
        )
        squared.append(pairs["v"] ** 2)
    return np.concatenate(squared), int(np.count_nonzero(waits))


def fitted_gap_model(
    linked: pd.DataFrame, memory: int, s0_squared: float, control: bool
) -> GapStepModel:
    """:class:`GapStepModel` fitted to the candidate gap links of ``linked`` (a pilot linking),
    gaps 2 … memory + 1 pooled, by the Poisson likelihood of their counts in bins of
    :data:`FIT_BIN_Z` in ``z = r^2 / (2 v_g)`` within ``u`` = :data:`ODDS_EDGES` [-1] of each
    waiting position (``u = r^2 / (2 s0^2 g)``). The unrelated localizations are flat per
    area (``control`` False; their level fitted) or, with ``control``, distributed like the
    candidates :data:`CONTROL_SHIFTS` frames away (which keeps the frame's edges and where
    newcomers appear; their scale fitted, and their mean level below ``u`` =
    :data:`SPREAD_BELOW_U` taken as the flat level the links are priced against)."""
    v1, v2 = median_step_variance(linked, 1), median_step_variance(linked, 2)
    gaps = np.arange(2, memory + 2)
    core = v1 + (gaps - 1) * max(v2 - v1, 0.0)
    counts, waiting, edges, templates, levels = [], [], [], [], []
    for gap, v_g in zip(gaps, core, strict=True):
        radius_px2 = 2.0 * s0_squared * gap * ODDS_EDGES[-1]
        z_edges = np.arange(0.0, radius_px2 / (2.0 * v_g) + FIT_BIN_Z, FIT_BIN_Z)
        squared, n_waiting = candidate_distances(linked, int(gap), math.sqrt(radius_px2))
        counts.append(np.histogram(squared / (2.0 * v_g), z_edges)[0])
        waiting.append(max(n_waiting, 1))
        edges.append(z_edges)
        if control:
            template = np.zeros(len(z_edges) - 1)
            for shift in CONTROL_SHIFTS:
                far, n_far = candidate_distances(linked, int(gap), math.sqrt(radius_px2), shift)
                template += np.histogram(far / (2.0 * v_g), z_edges)[0] / max(n_far, 1)
            template /= len(CONTROL_SHIFTS)  # per waiting position
            near = z_edges[1:] * 2.0 * v_g <= 2.0 * s0_squared * gap * SPREAD_BELOW_U
            level = float(template[near].sum() / z_edges[1:][near][-1])  # per unit z
        else:
            template = 2.0 * math.pi * v_g * np.diff(z_edges)  # per px² of flat density
            level = 2.0 * math.pi * v_g
        templates.append(template)
        levels.append(level)

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        amplitude = np.exp(theta[: len(gaps)])
        q = 1.0 / (1.0 + math.exp(-theta[len(gaps)]))
        width = 1.0 + math.exp(theta[len(gaps) + 1])
        return amplitude, q, width, math.exp(theta[len(gaps) + 2])

    def negative_log_likelihood(theta: np.ndarray) -> float:
        amplitude, q, width, scale = unpack(theta)
        total = 0.0
        for a, n, z, template, n_waiting in zip(
            amplitude, counts, edges, templates, waiting, strict=True
        ):
            own = (1 - q) * -np.diff(np.exp(-z)) + q * -np.diff(np.exp(-z / width))
            expected = n_waiting * (a * own + scale * template) + 1e-12
            total += float(np.sum(expected - n * np.log(expected)))
        return total

    start_scale = 1.0 if control else 1e-4
    start = np.r_[np.full(len(gaps), math.log(0.2)), 0.0, math.log(2.0), math.log(start_scale)]
    fit = optimize.minimize(negative_log_likelihood, start, method="L-BFGS-B")
    amplitude, q, width, scale = unpack(fit.x)
    flat = scale * np.asarray(levels) / (2.0 * math.pi * core)
    return GapStepModel(core, amplitude, q, width, flat, int(sum(n.sum() for n in counts)))


def linked_with(localizations: pd.DataFrame, linker: link.StreamingLinker) -> pd.DataFrame:
    """``localizations`` linked frame by frame through ``linker``."""
    ordered = localizations.sort_values("frame", kind="stable")
    return pd.concat(
        [linker.add(group) for _, group in ordered.groupby("frame", sort=True)],
        ignore_index=True,
    )


def measured_rates(linked: pd.DataFrame, memory: int, area_px2: float) -> tuple[np.ndarray, float]:
    """``P_g`` for g = 1 … memory + 1 (a track not seen for g - 1 frames is seen in the next)
    and the density of new tracks per frame and px², from linked tracks."""
    ordered = linked.sort_values(["particle", "frame"], kind="stable")
    frame = ordered["frame"].to_numpy()
    same = ordered["particle"].to_numpy()[1:] == ordered["particle"].to_numpy()[:-1]
    following = np.full(len(ordered), np.iinfo(np.int64).max)
    following[:-1][same] = np.diff(frame)[same]
    following = following[frame <= frame.max() - (memory + 1)]  # every gap could be seen
    seen = [np.mean(following[following >= g] == g) for g in range(1, memory + 2)]
    starts = ordered.groupby("particle")["frame"].min()
    density = np.count_nonzero(starts > frame.min()) / ((frame.max() - frame.min()) * area_px2)
    return np.asarray(seen), float(density)


def logit(probability: np.ndarray) -> np.ndarray:
    """ln(p / (1 - p)), p clipped to [1e-6, 1 - 1e-6]."""
    p = np.clip(probability, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def priced_gains(
    seen: np.ndarray, start_cost: float, spread: float
) -> dict[str, tuple[np.ndarray | None, float]]:
    """The gains at distance 0 per gap (None: the analysis' linker) and the gap spread of each
    linking; ``start_cost`` is ``-ln(2 pi s^2 b)``, ``spread`` the measured ``k``."""
    budget = link.SEARCH_RANGE_RMS_STEPS**2 / 2.0
    odds = logit(seen)
    gaps = np.arange(len(seen))
    newcomers = np.r_[budget, odds[1:] + start_cost]
    return {
        "now": (None, 1.0),
        "gap2 cost 4": (budget - np.r_[0.0, 4.0, link.GAP_COST * gaps[2:]], 1.0),
        "rates, relative": (budget - (odds[0] - odds), 1.0),
        "rates, vs newcomers": (newcomers, 1.0),
        "rates, vs newcomers, measured spread": (newcomers, spread),
    }


def describe_model(model: GapStepModel, s0_squared: float) -> str:
    """The fitted model in one line: per gap the core width in ``u`` units of the analysis'
    linker (``r^2 / (2 s0^2 g)``) and the amplitude; the tail, the flat level, the reach."""
    gaps = np.arange(2, len(model.core_px2) + 2)
    return (
        "gap-step model: core v_g/(s0² g) "
        + "/".join(f"{v:.2f}" for v in model.core_px2 / (s0_squared * gaps))
        + ", amplitude "
        + "/".join(f"{a:.3f}" for a in model.amplitude)
        + f", tail share {model.tail_share:.3f} width {model.tail_width:.2f}"
        + ", flat "
        + "/".join(f"{f:.2e}" for f in model.flat_per_px2)
        + "/px², reach u "
        + describe_reach(model, s0_squared)
        + f" ({model.pairs} pairs)"
    )


def describe_reach(model: GapStepModel, s0_squared: float, offset: np.ndarray | None = None) -> str:
    """The model's reach per gap in ``u`` units of the analysis' linker."""
    gaps = np.arange(2, len(model.core_px2) + 2)
    return "/".join(f"{u:.1f}" for u in model.reach_px(offset) ** 2 / (2.0 * s0_squared * gaps))


def measured_spread(odds: np.ndarray) -> float:
    """``k = 2 m - 1`` (at least 1) from the two-frame odds per bin of :data:`ODDS_EDGES`:
    ``m`` the mean ``u`` of their excess below :data:`SPREAD_BELOW_U`."""
    below = ODDS_EDGES[1:] <= SPREAD_BELOW_U
    excess = odds[below] * np.diff(ODDS_EDGES)[below]
    centres = (ODDS_EDGES[:-1] + ODDS_EDGES[1:])[below] / 2.0
    return max(1.0, 2.0 * float(np.sum(excess * centres) / np.sum(excess)) - 1.0)


def gap_odds(linked: pd.DataFrame, s0_squared: float) -> np.ndarray:
    """Odds of a two-frame link against the rest per bin of ``u`` (:data:`ODDS_EDGES`),
    measured from linked tracks without truth (module docstring)."""
    ordered = linked.sort_values(["particle", "frame"], kind="stable")
    frame = ordered["frame"].to_numpy()
    same = ordered["particle"].to_numpy()[1:] == ordered["particle"].to_numpy()[:-1]
    step = np.diff(frame)
    waits = np.r_[~same | (step != 1), True]  # not continued in the next frame
    fresh = np.r_[True, ~same | (step != 1)]  # not continuing the frame before
    spread = 2.0 * s0_squared * 2.0  # 2 s^2 w, w = 2
    candidates = {f: group[["y", "x"]].to_numpy() for f, group in ordered[fresh].groupby("frame")}
    squared = []
    for f, group in ordered[waits].groupby("frame"):
        later = candidates.get(f + 2)
        if later is None:
            continue
        pairs = cKDTree(group[["y", "x"]].to_numpy()).sparse_distance_matrix(
            cKDTree(later), math.sqrt(spread * ODDS_EDGES[-1]), output_type="ndarray"
        )
        squared.append(pairs["v"] ** 2 / spread)
    counts, _ = np.histogram(np.concatenate(squared), ODDS_EDGES)
    density = counts / np.diff(ODDS_EDGES)
    flat = float(density[ODDS_EDGES[:-1] >= FLAT_FROM_U].mean())
    return (density - flat) / flat


def ours(case: Case, seed: int, n_frames: int) -> MovieUnderTest:
    """A movie of our simulator analysed as ``pynta analyze`` does (:mod:`bench_link_truth`)."""
    _, result, localizations, truth_nm = analyzed_movie(case, seed, n_frames, TRUTH_RADIUS_PX)
    return f"{case.name}", result, localizations, truth_nm


def held_out(label: str, scene: independent.Scene, seed: int) -> MovieUnderTest:
    """A movie of the independent simulator analysed as ``pynta analyze`` does
    (:mod:`independent_truth_split`)."""
    movie = independent.simulate(scene, seed)
    params = analysis.AnalysisParams.from_metadata(scene.metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analysis.analyze(Movie(da.from_array(movie.frames), scene.metadata, label), params)
    localizations = result.localizations.reset_index(drop=True)
    localizations["true_id"] = truth_ids(localizations, truth_table(movie), TRUTH_RADIUS_PX)
    return f"independent {label}", result, localizations, float(np.median(movie.diameters_nm))


def movie_rows(
    analysed: MovieUnderTest, seed: int, odds: bool, rules: list[str] | None
) -> list[dict]:
    """One row per linking of one analysed movie, and one of its truth-linked localizations."""
    name, result, localizations, truth_nm = analysed
    params = result.params
    if params.gap_spread.factor != 1.0:
        raise SystemExit("these linkings assume the default gap spread (k = 1)")
    range_px, memory = params.search_range_px, params.memory
    s0_squared = (range_px / link.SEARCH_RANGE_RMS_STEPS) ** 2
    true_linked = localizations[localizations["true_id"] >= 0].assign(
        particle=lambda table: table["true_id"]
    )
    pilot = linked_with(localizations, link.StreamingLinker(range_px, memory))
    area = float(np.prod(result.frame_shape))
    seen, density = measured_rates(pilot, memory, area)
    start_cost = -math.log(2 * math.pi * s0_squared * density)
    measured_odds = gap_odds(pilot, s0_squared)
    spread = measured_spread(measured_odds)
    if odds:
        print(f"{name} seed {seed}: odds of a two-frame link by u")
        print(" u >= " + " ".join(f"{edge:>6.0f}" for edge in ODDS_EDGES[:-1]))
        print(" odds " + " ".join(f"{x:6.2f}" for x in measured_odds))
    linkers: dict[str, tuple[link.StreamingLinker, float]] = {}
    for rule, (prices, k) in priced_gains(seen, start_cost, spread).items():
        linkers[rule] = (
            link.StreamingLinker(range_px, memory)
            if prices is None
            else PricedLinker(range_px, memory, prices, k),
            k,
        )
    blur_k = sizing.gap_spread(params.exposure_s, params.frame_interval_s).factor
    linkers[BLUR_RULE] = (link.StreamingLinker(range_px, memory, blur_k), blur_k)
    for control, (rule, balanced_rule) in MODEL_RULES.items():
        if rules is not None and not {rule, balanced_rule} & set(rules):
            continue
        model = fitted_gap_model(pilot, memory, s0_squared, control)
        offset = model.balanced_offset()
        print(f"{name} seed {seed}, {rule}: {describe_model(model, s0_squared)}")
        print(f"  balanced: reach u {describe_reach(model, s0_squared, offset)}")
        linkers[rule] = (TailModelLinker(range_px, memory, model), math.nan)
        linkers[balanced_rule] = (TailModelLinker(range_px, memory, model, offset), math.nan)
    truth_row: dict = {"case": name, "seed": seed, "linking": "truth"}
    for column, estimator in ESTIMATOR_COLUMNS.items():
        truth_row[column] = ensemble_error_pct(true_linked, result, truth_nm, estimator)
    rows = [truth_row]
    for rule, (linker, k) in linkers.items():
        if rules is not None and rule not in rules:
            continue
        linked = linked_with(localizations, linker)
        row: dict = {"case": name, "seed": seed, "linking": rule}
        row.update(links_against_truth(linked, true_linked)[0])
        for column, estimator in ESTIMATOR_COLUMNS.items():
            row[column] = ensemble_error_pct(linked, result, truth_nm, estimator)
        row["P_g"] = "/".join(f"{p:.3f}" for p in seen)
        row["start_cost"] = start_cost
        row["k"] = k
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0 .. N-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--frames-factor", type=float, default=0.67)
    parser.add_argument("--only", default="short", help="nta cases whose name contains this")
    parser.add_argument("--exact", action="store_true", help="the case named --only exactly")
    parser.add_argument("--odds", action="store_true", help="print the measured gap odds")
    parser.add_argument(
        "--rules", nargs="+", choices=RULES, help="the linkings to run (default: all)"
    )
    parser.add_argument(
        "--independent",
        action="store_true",
        help="the held-out simulator's nta movies (independent_movies.py) instead of ours",
    )
    parser.add_argument("--frames", type=int, default=600, help="frames of a held-out movie")
    args = parser.parse_args()

    def wanted(name: str) -> bool:
        return name == args.only if args.exact else args.only in name

    movies: list[tuple[int, Callable[[], MovieUnderTest]]] = []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.independent:
        for _, label, scene in independent.cases(["nta"]):
            if wanted(label) and len(scene.populations) == 1:
                scene = dataclasses.replace(scene, frames=args.frames)
                movies += [(s, partial(held_out, label, scene, s)) for s in seeds]
    for case in [] if args.independent else build_cases(["nta"]):
        if wanted(case.name) and case.setting.name == "nta":
            n_frames = int(math.ceil(case.setting.frames_full * args.frames_factor))
            movies += [(s, partial(ours, case, s, n_frames)) for s in seeds]
    rows = []
    for seed, analyse in movies:
        these = movie_rows(analyse(), seed, args.odds, args.rules)
        print(pd.DataFrame(these).to_string(index=False, float_format="{:.3f}".format))
        rows.extend(these)
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.3f}".format), flush=True)


if __name__ == "__main__":
    main()
