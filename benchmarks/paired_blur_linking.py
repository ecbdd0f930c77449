"""Paired sweep: the real analysis with the motion-blur options off and on, on the same movies.

Each movie is analysed by :func:`napari_pynta.analysis.analyze` once per *variant*: a set of
boolean :class:`~napari_pynta.analysis.AnalysisParams` fields switched on (``none``: as given;
``blur_gap_spread``: the linker's spread across missed frames under motion blur; several joined
by ``+``), each with ``--no-blur-separation`` and with ``--blur-separation`` (the default).
Nothing is patched: the variants are the analysis' own settings, so a new option is measured by
naming its field.

Cases (those of docs/accuracy.md's tables): ``ours SETTING CASE`` is a ``bench_accuracy.py``
movie at ``--frames-factor`` of its full length, ``independent SETTING CASE`` an
``independent_movies.py`` movie (600 frames). Printed per movie, rule and variant: the size
error % (one size) or the peaks, the small population's share of the particles and its truth
(mixtures), and the particles in view per frame over the truth's. ``--json FILE`` appends one
JSON row per analysis.

Run: ``python benchmarks/paired_blur_linking.py --cases "ours nta 50 nm" "independent nta
50 nm" --seeds 2 --variants none blur_gap_spread``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import dask.array as da  # noqa: E402
import independent_movies as independent  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench_accuracy import build_cases, truth_numbers  # noqa: E402

from napari_pynta import analysis, simulate  # noqa: E402
from napari_pynta.errors import PyntaInputError  # noqa: E402
from napari_pynta.readers import Movie  # noqa: E402

#: what a variant may switch on: the boolean fields of AnalysisParams
SWITCHES = tuple(
    item.name
    for item in dataclasses.fields(analysis.AnalysisParams)
    if isinstance(item.default, bool) and item.name != "widen_to_spot"
)


def switches_of(variant: str) -> dict[str, bool]:
    """The AnalysisParams overrides of ``variant`` (``none`` or fields joined by ``+``)."""
    if variant == "none":
        return {}
    names = variant.split("+")
    unknown = [name for name in names if name not in SWITCHES]
    if unknown:
        raise SystemExit(
            f"unknown variant field(s) {unknown}: allowed 'none' or {', '.join(SWITCHES)} "
            "joined by '+'"
        )
    return {name: True for name in names}


class Scene:
    """One movie of the sweep: frames, metadata, true sizes and the truth's counts.

    ``visible`` holds the true particles in view (``frame, particle, y, x``, positions in px:
    the exposure's mean position).
    """

    def __init__(self, label: str, seed: int, frames_factor: float) -> None:
        source, setting, case = label.split(" ", 2)
        self.label, self.seed = label, seed
        if source == "independent":
            for _setting, title, scene in independent.cases([setting]):
                if title == case:
                    movie = independent.simulate(scene, seed)
                    truth = independent.truth_of(movie)
                    self.frames, self.metadata = movie.frames, dict(scene.metadata)
                    self.sizes = truth["sizes_nm"]
                    frame, particle = np.nonzero(movie.in_view)
                    where = movie.positions_px[frame, particle]
                    self.visible = pd.DataFrame(
                        {"frame": frame, "particle": particle, "y": where[:, 0], "x": where[:, 1]}
                    )
                    self._truth = lambda params, truth=truth: truth
                    return
        elif source == "ours":
            for item in build_cases([setting]):
                if item.name == case:
                    n_frames = int(math.ceil(item.setting.frames_full * frames_factor))
                    ours = simulate.simulate_movie(n_frames, item.settings(seed))
                    self.frames, self.metadata = np.asarray(ours.frames), dict(ours.metadata)
                    self.sizes = sorted(d for d, _ in item.populations)
                    self.visible = ours.truth[["frame", "particle", "y", "x"]]

                    def truth(
                        params: analysis.AnalysisParams, ours=ours, item=item
                    ) -> dict[str, float]:
                        numbers = truth_numbers(ours, item, params)
                        return {
                            "particles_per_frame": numbers["particles_per_frame_inner"],
                            "small_number_fraction": numbers["small_number_fraction"],
                        }

                    self._truth = truth
                    return
        raise SystemExit(f"no case {label!r} (ours|independent SETTING CASE)")

    def analyze(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The real analysis with ``overrides``; the row of numbers against the truth."""
        started = time.perf_counter()
        try:
            result = self.result(overrides)
        except PyntaInputError as error:
            return {"error": str(error)}
        return self.row(result, time.perf_counter() - started)

    def result(self, overrides: dict[str, Any]) -> analysis.AnalysisResult:
        """The real analysis of this movie with ``overrides`` (its warnings silenced)."""
        params = analysis.AnalysisParams.from_metadata(self.metadata, **overrides)
        movie = Movie(da.from_array(self.frames), self.metadata, self.label)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return analysis.analyze(movie, params)

    def row(self, result: analysis.AnalysisResult, seconds: float) -> dict[str, Any]:
        """The numbers of an analysis of this movie against the truth."""
        summary, truth = result.summary, self._truth(result.params)
        concentration = summary.get("concentration") or {}
        row = {
            "seconds": seconds,
            "gap_spread": (summary.get("gap_spread") or {}).get("k"),
            "search_range_px": result.params.search_range_px,
            "diameter_nm": summary["diameter_nm"],
            "in_view": concentration.get("particles_in_view_per_frame"),
            "in_view_truth": truth["particles_per_frame"],
            "small_truth": truth["small_number_fraction"],
        }
        if len(self.sizes) == 1:
            row["error_pct"] = 100.0 * (summary["diameter_nm"] / self.sizes[0] - 1.0)
        else:
            deconvolved = summary.get("deconvolved_nm") or {}
            peaks = deconvolved.get("peaks") or []
            # one peak holds every particle (the summary gives shares for two or more)
            shares = deconvolved.get("peak_number_fractions") or [1.0] * len(peaks)
            split = math.sqrt(self.sizes[0] * self.sizes[-1])
            row["peaks_nm"] = [round(peak, 1) for peak in peaks]
            row["small_share"] = sum(
                share for peak, share in zip(peaks, shares, strict=True) if peak < split
            )
        return row


def describe(row: dict[str, Any]) -> str:
    """Size error or peaks/share, and particles in view over the truth's."""
    if "error" in row:
        return f"error: {row['error']}"
    if "error_pct" in row:
        size = f"{row['error_pct']:+6.2f} %"
    else:
        size = (
            "/".join(f"{peak:.0f}" for peak in row["peaks_nm"])
            + f" nm, small {row['small_share']:.2f} (truth {row['small_truth']:.2f})"
        )
    in_view = row["in_view"]
    ratio = f"{in_view / row['in_view_truth']:.3f}" if in_view else "n/a"
    return f"{size}, in view {ratio} of truth, k {row['gap_spread']:.2f}"


def cell(rows: list[dict[str, Any]]) -> str:
    """One table cell: the seeds' sizes (or peaks and small share) and in-view ratios."""
    if any("error" in row for row in rows):
        return "error"
    if "error_pct" in rows[0]:
        size = ", ".join(f"{row['error_pct']:+.2f}" for row in rows)
    else:
        size = "; ".join(
            "/".join(f"{peak:.0f}" for peak in sorted(row["peaks_nm"]))
            + f", {row['small_share']:.2f}"
            for row in rows
        )
    return size


def table(path: str) -> str:
    """A markdown table of the rows in ``path``: per case and rule, each variant's cell."""
    with open(path) as source:
        rows = [json.loads(line) for line in source if line.strip()]
    variants = list(dict.fromkeys(row["variant"] for row in rows))
    rules = list(dict.fromkeys(row["rule"] for row in rows))
    lines = [
        "| case | "
        + " | ".join(f"{rule}: {' → '.join(variants)}" for rule in rules)
        + " | in view / truth |",
        "|---" * (len(rules) + 2) + "|",
    ]
    for case in dict.fromkeys(row["case"] for row in rows):
        cells = []
        ratios = []
        for rule in rules:
            by_variant = []
            for variant in variants:
                chosen = [
                    row
                    for row in rows
                    if (row["case"], row["rule"], row["variant"]) == (case, rule, variant)
                ]
                chosen.sort(key=lambda row: row["seed"])
                by_variant.append(cell(chosen) if chosen else "–")
                ratios += [
                    row["in_view"] / row["in_view_truth"] for row in chosen if row.get("in_view")
                ]
            cells.append(" → ".join(by_variant))
        truth = sorted(
            (row["seed"], row["small_truth"])
            for row in rows
            if (row["case"], row["rule"], row["variant"]) == (case, rules[0], variants[0])
        )
        shares = [share for _, share in truth if share is not None and share == share]
        label = case + (f" (truth {', '.join(f'{x:.2f}' for x in shares)})" if shares else "")
        span = f"{min(ratios):.3f}–{max(ratios):.3f}" if ratios else "–"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {span} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["ours nta 50 nm", "independent nta 50 nm"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--frames-factor", type=float, default=0.67, help="ours only")
    parser.add_argument("--variants", nargs="+", default=["none", "blur_gap_spread"])
    parser.add_argument(
        "--rules",
        nargs="+",
        choices=("no-blur-separation", "blur-separation"),
        default=["no-blur-separation", "blur-separation"],
    )
    parser.add_argument("--json", default=None, help="append one JSON row per analysis here")
    parser.add_argument("--table", default=None, help="print the markdown table of a --json file")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    variants = {variant: switches_of(variant) for variant in args.variants}
    for label in args.cases:
        for seed in args.seeds:
            scene = Scene(label, seed, args.frames_factor)
            for rule in args.rules:
                for variant, switches in variants.items():
                    row = scene.analyze({"blur_separation": rule == "blur-separation"} | switches)
                    print(f"{label} s{seed} {rule} {variant}: {describe(row)}", flush=True)
                    if args.json:
                        with open(args.json, "a") as out:
                            record = {"case": label, "seed": seed, "rule": rule}
                            out.write(json.dumps(record | {"variant": variant} | row) + "\n")


if __name__ == "__main__":
    main()
