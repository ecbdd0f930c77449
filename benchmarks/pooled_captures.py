"""Replicate captures of one sample, each sized alone and all pooled (``napari_pynta.pooled``).

Each seed is one capture of the same sample (a ``paired_blur_linking.Scene``: ``ours SETTING
CASE`` at ``--frames-factor`` of its full length, or ``independent SETTING CASE``), analysed
with the default settings. Printed: every capture's peaks (nm), the small population's share of
the particles and its truth, the test against one population (multimodal draws / drawn, p), and
the same for the captures' tracks sized together, with the CPU seconds of the pooling.
Table: docs/accuracy.md, "Round 18".

Run: ``python benchmarks/pooled_captures.py --case "ours nta 50+100 d2" --seeds 1 2 5``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from paired_blur_linking import Scene  # noqa: E402

from napari_pynta.analysis import AnalysisResult  # noqa: E402
from napari_pynta.pooled import pool_captures  # noqa: E402


def described(result: AnalysisResult, sizes_nm: list[float]) -> str:
    """Peaks, the share of the particles under those below the populations' geometric middle,
    and the one-population test of one analysis."""
    deconvolved = result.summary.get("deconvolved_nm") or {}
    peaks = deconvolved.get("peaks") or []
    shares = deconvolved.get("peak_number_fractions") or [1.0] * len(peaks)
    middle = float(np.sqrt(sizes_nm[0] * sizes_nm[-1]))
    small = sum(share for peak, share in zip(peaks, shares, strict=True) if peak < middle)
    test = result.sizes.unimodal if result.sizes is not None else None
    tested = (
        "not tested"
        if test is None
        else f"{test.multimodal_draws}/{test.n_draws}, p {test.p_value:.3f}"
    )
    return (
        f"peaks {'/'.join(f'{peak:.0f}' for peak in sorted(peaks))} nm, small share {small:.2f}, "
        f"test {tested}, {result.summary['n_tracks']} tracks"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="ours nta 50+100 d2")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 5])
    parser.add_argument("--frames-factor", type=float, default=1.0, help="ours only")
    args = parser.parse_args()
    results, truths = [], []
    for seed in args.seeds:
        scene = Scene(args.case, seed, args.frames_factor)
        result = scene.result({})
        truths.append(scene.row(result, 0.0)["small_truth"])
        print(
            f"{args.case} s{seed}: {described(result, scene.sizes)} (truth {truths[-1]:.2f})",
            flush=True,
        )
        results.append(result)
    started = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pooled = pool_captures(results)
    if pooled.result is None:
        print(f"not pooled: {pooled.reason}")
        return
    print(
        f"pooled s{'+'.join(map(str, args.seeds))}: {described(pooled.result, scene.sizes)} "
        f"(truth {np.mean(truths):.2f}), {time.process_time() - started:.0f} s CPU"
    )


if __name__ == "__main__":
    main()
