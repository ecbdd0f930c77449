"""What if: a wide centroid and the linker's blurred spread across missed frames (issue 11).

A measurement of a change that is *not* in the analysis (docs/accuracy.md, "The two together
over the validated movies"): each movie is analysed as it is now, then its localizations are

1. moved to the centroid of the raw frame less a ring's median in a disk of 2.5 image widths
   (:func:`independent_truth_split.wide_centroids`; the spot's σ and the exposure streak in
   quadrature, both from the ``--blur-separation`` analysis' pilot), and
2. linked with a :class:`napari_pynta.link.StreamingLinker` whose per-axis spread for a track
   last seen ``g`` frames ago is ``s² (1 + k (g − 1))`` (normalization ``ln(1 + k (g − 1))``)
   instead of ``s² g``: with motion blur each missed frame adds ``2 D Δt = s² / (1 − τ / 3Δt)``
   when the noise is small (``k`` = ``--gap-spread``, 1.5 at full exposure; 1 is the linker as
   it is). The linker is patched in this process only (the pilot range uses it too).

Printed per movie and setting (``--blur-separation`` and default): the size error (single
sizes) or the peaks and the small population's share (mixtures), as analysed and after both.

Run: ``python benchmarks/what_if_wide_gap.py --cases "ours nta 50 nm" "independent nta 50 nm"
--seeds 2`` (ours: ``bench_accuracy.py``'s movies at ``--frames-factor``; independent:
``independent_movies.py``'s, 600 frames).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import dask.array as da  # noqa: E402
import independent_movies as independent  # noqa: E402
import numpy as np  # noqa: E402
from bench_accuracy import build_cases  # noqa: E402
from independent_truth_split import WIDE_RADIUS_WIDTHS, wide_centroids  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from napari_pynta import analysis, link, simulate  # noqa: E402
from napari_pynta.readers import Movie  # noqa: E402


@contextlib.contextmanager
def gap_spread(factor: float) -> Iterator[None]:
    """Within the block, :class:`StreamingLinker` spreads a ``g``-frame gap by
    ``1 + factor (g - 1)`` one-frame spreads (the linker as it is: ``factor`` 1)."""
    original = link.StreamingLinker._best_links

    def best_links(self, coords, frame):  # the linker's own, with the spread changed
        gap = (frame - self._seen).astype(np.float64)
        widening = 1.0 + factor * (gap - 1.0)
        budget = self._budget - np.log(widening) - link.GAP_COST * (gap - 1.0)
        spread = self._s0_squared * widening
        reach = np.sqrt(2.0 * spread * np.maximum(budget, 0.0))
        pairs = cKDTree(self._position).sparse_distance_matrix(
            cKDTree(coords), float(reach.max()), output_type="ndarray"
        )
        rows, cols = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        gain = budget[rows] - pairs["v"] ** 2 / (2.0 * spread[rows])
        useful = gain > 0
        rows, cols, gain = rows[useful], cols[useful], gain[useful]
        chosen = link._max_gain_matching(rows, cols, gain, len(gap), len(coords), frame)
        return rows[chosen], cols[chosen]

    link.StreamingLinker._best_links = best_links
    try:
        yield
    finally:
        link.StreamingLinker._best_links = original


def movie_of(label: str, seed: int, frames_factor: float) -> tuple[np.ndarray, dict, list[float]]:
    """Frames, metadata and true sizes of ``"ours|independent SETTING CASE"``."""
    source, setting, case = label.split(" ", 2)
    if source == "independent":
        for _setting, title, scene in independent.cases([setting]):
            if title == case:
                movie = independent.simulate(scene, seed)
                return movie.frames, scene.metadata, sorted({float(d) for d in movie.diameters_nm})
    else:
        for item in build_cases([setting]):
            if item.name == case:
                n_frames = int(math.ceil(item.setting.frames_full * frames_factor))
                ours = simulate.simulate_movie(n_frames, item.settings(seed))
                return (
                    np.asarray(ours.frames),
                    ours.metadata,
                    sorted(d for d, _ in item.populations),
                )
    raise SystemExit(f"no case {label!r}")


def describe(summary: dict, sizes: list[float]) -> str:
    """Size error (one size) or peaks and the small population's share (mixtures)."""
    if len(sizes) == 1:
        return f"{100 * (summary['diameter_nm'] / sizes[0] - 1):+.2f} %"
    deconvolved = summary.get("deconvolved_nm") or {}
    peaks = deconvolved.get("peaks") or []
    shares = deconvolved.get("peak_number_fractions") or []
    split = math.sqrt(sizes[0] * sizes[-1])
    small = sum(share for peak, share in zip(peaks, shares, strict=True) if peak < split)
    return "/".join(f"{peak:.0f}" for peak in peaks) + f" nm, small {small:.2f}"


def compare(label: str, seed: int, frames_factor: float, factor: float) -> None:
    frames, metadata, sizes = movie_of(label, seed, frames_factor)
    n_frames, height, width = frames.shape
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rule in (True, False):
            params = analysis.AnalysisParams.from_metadata(metadata, blur_separation=rule)
            results[rule] = analysis.analyze(Movie(da.from_array(frames), metadata, label), params)
        detection = results[True].summary["detection"]
        spread = math.hypot(detection["spot_sigma_px"] or 0.0, detection["streak_sd_px"] or 0.0)
        radius = int(round(WIDE_RADIUS_WIDTHS * spread))
        for rule, result in results.items():
            moved = wide_centroids(
                frames.astype(np.float64), result.localizations.reset_index(drop=True), radius
            )
            params = dataclasses.replace(result.params, search_range_px=None)
            with gap_spread(factor):
                after = analysis.analyze_localizations(
                    moved, n_frames, params, frame_shape=(height, width)
                )
            print(
                f"{label} s{seed} {'--blur-separation' if rule else 'default'} (disk {radius} "
                f"px): {describe(result.summary, sizes)} -> {describe(after.summary, sizes)}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["ours nta 50 nm", "independent nta 50 nm"])
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0 .. N-1")
    parser.add_argument("--frames-factor", type=float, default=0.67, help="ours only")
    parser.add_argument("--gap-spread", type=float, default=1.5)
    args = parser.parse_args()
    for label in args.cases:
        for seed in range(args.seeds):
            compare(label, seed, args.frames_factor, args.gap_spread)


if __name__ == "__main__":
    main()
