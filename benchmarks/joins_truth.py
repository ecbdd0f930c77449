"""The dip rule's joins against the truth, and what the neighbouring frames tell about them.

The dip rule (``blur_separation``, :mod:`napari_pynta.detect.split_images`) joins two features
of a frame closer than ``split_within_px`` when no dip in the light separates them. This takes
the analysis' own detection with the rule off (the sharp features: the analysis' diameter,
threshold and hot pixels), finds every pair the rule joins, and classes it by the true particles
in view nearest to its two features: ``one`` (the same particle: one split image), ``two``
(different particles, each within :data:`TRUTH_RADIUS_PX`) or ``unclear``.

The cue measured (docs/accuracy.md, "Joins told apart by the neighbouring frames"): a split
image is one particle, so the frames before and after show one feature near the pair; two
particles show two. A pair is said to be two particles when frame n − 1 or frame n + 1 holds
at least two sharp features within ``split_within_px / 2 + √2 · rms step`` (the pilot's per-axis
rms step) of its midpoint. Printed per movie: the pairs of each class and how many the cue
keeps joined.

``--sizes`` runs the analysis after detection (:func:`napari_pynta.analysis.analyze_localizations`,
as :func:`~napari_pynta.analysis.analyze` does) on the sharp features joined by each policy:
``all`` (every pair: the default analysis), ``cue`` (the pairs the cue keeps), and two
what-ifs that know the truth, ``no-two`` (every pair but the two-particle ones) and ``no-one``
(every pair but the split images): the size error % (or peaks and small share) and the
particles in view over the truth's (:class:`paired_blur_linking.Scene`), and of the tracks'
one-frame links between localizations of true particles (:func:`bench_link_truth.truth_ids`),
the share joining two different particles.

Run: ``python benchmarks/joins_truth.py --cases "ours nta 50 nm" "independent nta 50 nm"
--seeds 0 1 --sizes`` (≈ 1 min a movie, 1 min an analysis).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import bench_link_truth as link_truth  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from paired_blur_linking import Scene, describe  # noqa: E402
from scipy.sparse import coo_matrix  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from napari_pynta import analysis, detect  # noqa: E402
from napari_pynta.detect import hot_pixels  # noqa: E402
from napari_pynta.detect.columns import as_detected  # noqa: E402
from napari_pynta.detect.split_images import _joined, one_image  # noqa: E402

#: a feature of a joined pair is a true particle's when that particle is the nearest one in view
#: and at most this far (px)
TRUTH_RADIUS_PX = 3.0
#: the policies of ``--sizes``: which classes of pairs are joined (None: the cue decides)
POLICIES: dict[str, tuple[str, ...] | None] = {
    "all": ("one", "two", "unclear"),
    "cue": None,
    "no-two": ("one", "unclear"),
    "no-one": ("two", "unclear"),
}


@dataclasses.dataclass
class Detection:
    """The analysis' parameters (rule on), its threshold, the sharp features and the frames."""

    params: analysis.AnalysisParams
    threshold: detect.ThresholdEstimate
    sharp: pd.DataFrame
    frames: np.ndarray  # hot pixels repaired, as the engines saw them


def sharp_detection(scene: Scene) -> Detection:
    """The analysis' detection of ``scene`` with the dip rule off (its distance still chosen)."""
    params = analysis.AnalysisParams.from_metadata(scene.metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        threshold = analysis.detection_threshold(scene.frames, params)
        chosen = analysis.with_detection(params, threshold)
        sharp = analysis.detect_frames(
            scene.frames,
            dataclasses.replace(chosen, blur_separation=False, split_within_px=None),
            hot_pixels=threshold.hot_pixels,
        )
    frames = np.asarray(hot_pixels.repaired(np.asarray(scene.frames), threshold.hot_pixels))
    return Detection(chosen, threshold, sharp.reset_index(drop=True), frames)


def joined_pairs(detection: Detection) -> np.ndarray:
    """(n, 2) rows of ``detection.sharp``: the pairs of one frame the dip rule joins."""
    sharp, within = detection.sharp, detection.params.split_within_px
    positions = sharp[["y", "x"]].to_numpy(dtype=np.float64)
    found = []
    for frame, rows in sharp.groupby("frame", sort=True).indices.items():
        if len(rows) < 2:
            continue
        where = positions[rows]
        image = as_detected(detection.frames[frame], detection.params.invert)
        for first, second in cKDTree(where).query_pairs(within):
            if one_image(image, where[first], where[second]):
                found.append((rows[first], rows[second]))
    return np.array(found, dtype=np.int64).reshape(-1, 2)


def classes(sharp: pd.DataFrame, pairs: np.ndarray, visible: pd.DataFrame) -> np.ndarray:
    """``one``, ``two`` or ``unclear`` for each pair, by the nearest true particles in view."""
    out = np.full(len(pairs), "unclear", dtype=object)
    truth_rows = visible.groupby("frame").indices
    where = sharp[["y", "x"]].to_numpy(dtype=np.float64)
    frames = sharp["frame"].to_numpy()
    for index, (first, second) in enumerate(pairs):
        rows = truth_rows.get(frames[first])
        if rows is None:
            continue
        tree = cKDTree(visible[["y", "x"]].to_numpy()[rows])
        (near_first, near_second), (own_first, own_second) = tree.query(where[[first, second]])
        if own_first == own_second:
            out[index] = "one"
        elif max(near_first, near_second) <= TRUTH_RADIUS_PX:
            out[index] = "two"
    return out


def neighbours_show_two(sharp: pd.DataFrame, pairs: np.ndarray, radius_px: float) -> np.ndarray:
    """(n, 2) bool: frame n − 1, n + 1 holds ≥ 2 sharp features within ``radius_px`` of the
    pair's midpoint (False for a frame without features)."""
    trees = {frame: cKDTree(rows[["y", "x"]].to_numpy()) for frame, rows in sharp.groupby("frame")}
    where = sharp[["y", "x"]].to_numpy(dtype=np.float64)
    frames = sharp["frame"].to_numpy()
    out = np.zeros((len(pairs), 2), dtype=bool)
    for index, (first, second) in enumerate(pairs):
        middle = (where[first] + where[second]) / 2
        for side, step in enumerate((-1, 1)):
            tree = trees.get(frames[first] + step)
            if tree is not None:
                out[index, side] = len(tree.query_ball_point(middle, radius_px)) >= 2
    return out


def joined(sharp: pd.DataFrame, pairs: np.ndarray) -> pd.DataFrame:
    """``sharp`` with each connected group of ``pairs`` in one row, as the dip rule joins."""
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), (len(sharp),) * 2)
    _, groups = connected_components(graph, directed=False)
    columns = {name: sharp[name].to_numpy() for name in sharp.columns}
    where = sharp[["y", "x"]].to_numpy(dtype=np.float64)
    return pd.DataFrame(_joined(columns, where, groups))


def sizes(scene: Scene, detection: Detection, localizations: pd.DataFrame) -> dict:
    """The analysis after detection of ``localizations``: the row against the truth."""
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analysis.analyze_localizations(
            localizations,
            int(scene.frames.shape[0]),
            detection.params,
            frame_shape=(int(scene.frames.shape[1]), int(scene.frames.shape[2])),
            threshold=detection.threshold,
        )
    row = scene.row(result, time.perf_counter() - started)
    tracks = result.tracks.reset_index(drop=True)
    tracks["true_id"] = link_truth.truth_ids(tracks, scene.visible, link_truth.TRUTH_RADIUS_PX)
    links = link_truth.successive_pairs(tracks, "particle")
    known = links[(links["gap"] == 1) & (links["first"] >= 0) & (links["second"] >= 0)]
    row["links"] = len(known)
    row["wrong_links_pct"] = 100.0 * float(np.mean(known["first"] != known["second"]))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["ours nta 50 nm", "independent nta 50 nm"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--frames-factor", type=float, default=0.67, help="ours only")
    parser.add_argument("--sizes", action="store_true", help="analyse each policy's joins")
    args = parser.parse_args()
    for label in args.cases:
        for seed in args.seeds:
            scene = Scene(label, seed, args.frames_factor)
            detection = sharp_detection(scene)
            within = detection.params.split_within_px
            if within is None:
                print(f"{label} s{seed}: the rule joins nothing here (no split_within_px)")
                continue
            choice = detection.threshold.diameter
            rms = choice.rms_step_px if choice is not None else math.nan
            radius = within / 2 + math.sqrt(2) * rms
            pairs = joined_pairs(detection)
            kind = classes(detection.sharp, pairs, scene.visible)
            kept = ~neighbours_show_two(detection.sharp, pairs, radius).any(axis=1)
            counts = ", ".join(
                f"{name} {np.sum(kind == name)} (cue keeps {np.sum(kept & (kind == name))})"
                for name in ("one", "two", "unclear")
            )
            print(
                f"{label} s{seed}: within {within:g} px, radius {radius:.1f} px, "
                f"{len(detection.sharp)} sharp features; joined pairs: {counts}",
                flush=True,
            )
            if not args.sizes:
                continue
            for policy, joined_classes in POLICIES.items():
                chosen = kept if joined_classes is None else np.isin(kind, joined_classes)
                row = sizes(scene, detection, joined(detection.sharp, pairs[chosen]))
                print(
                    f"{label} s{seed} {policy}: {describe(row)}, {row['links']} one-frame "
                    f"links of true particles, {row['wrong_links_pct']:.2f} % wrong",
                    flush=True,
                )


if __name__ == "__main__":
    main()
