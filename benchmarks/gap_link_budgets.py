"""Gap links priced from the movie's own rates: wrong links, kept true steps, sizes (g21).

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
  odds' excess below ``u`` = 13 (``--odds`` below; 1 for Brownian steps).

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
import math  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench_accuracy import Case, build_cases  # noqa: E402
from bench_link_truth import (  # noqa: E402
    ESTIMATOR_COLUMNS,
    TRUTH_RADIUS_PX,
    analyzed_movie,
    ensemble_error_pct,
    links_against_truth,
)
from scipy.spatial import cKDTree  # noqa: E402

from napari_pynta import link  # noqa: E402

#: bins of ``u`` for ``--odds``, and the range whose mean level is the unrelated localizations'
ODDS_EDGES = np.array([0, 1, 2, 3, 4, 5, 6, 8, 10, 13, 20, 30, 40], dtype=np.float64)
FLAT_FROM_U = 20.0
#: the measured spread of gap steps takes the odds' excess below this ``u``
SPREAD_BELOW_U = 13.0


class PricedLinker(link.StreamingLinker):
    """The analysis' linker with the gain at distance 0 given per gap (1, 2, ... frames)."""

    def __init__(
        self, search_range_px: float, memory: int, gains: np.ndarray, gap_spread: float = 1.0
    ) -> None:
        super().__init__(search_range_px, memory, gap_spread)
        self._gains = np.asarray(gains, dtype=np.float64)

    def _gain_at_zero(self, gap: np.ndarray, widening: np.ndarray) -> np.ndarray:
        return self._gains[gap.astype(np.int64) - 1] - np.log(widening)


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


def movie_rows(case: Case, seed: int, n_frames: int, odds: bool) -> list[dict]:
    """One row per linking of one movie."""
    movie, result, localizations, truth_nm = analyzed_movie(case, seed, n_frames, TRUTH_RADIUS_PX)
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
        print(f"{case.name} seed {seed}: odds of a two-frame link by u")
        print(" u >= " + " ".join(f"{edge:>6.0f}" for edge in ODDS_EDGES[:-1]))
        print(" odds " + " ".join(f"{x:6.2f}" for x in measured_odds))
    rows = []
    for name, (prices, k) in priced_gains(seen, start_cost, spread).items():
        linker = (
            link.StreamingLinker(range_px, memory)
            if prices is None
            else PricedLinker(range_px, memory, prices, k)
        )
        linked = linked_with(localizations, linker)
        row: dict = {"case": case.name, "seed": seed, "linking": name}
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
    args = parser.parse_args()
    rows = []
    for case in build_cases(["nta"]):
        wanted = case.name == args.only if args.exact else args.only in case.name
        if not wanted or case.setting.name != "nta":
            continue
        n_frames = int(math.ceil(case.setting.frames_full * args.frames_factor))
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            rows.extend(movie_rows(case, seed, n_frames, args.odds))
            print(pd.DataFrame(rows[-5:]).to_string(index=False, float_format="{:.3f}".format))
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.3f}".format), flush=True)


if __name__ == "__main__":
    main()
