"""The linker's spread across missed frames under motion blur (issue 11): the physics of
:func:`napari_pynta.sizing.gap_spread` against the simulator's blurred positions, the linker that
uses it against the truth, and live and offline linking alike with it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from napari_pynta import simulate
from napari_pynta.analysis import AnalysisParams
from napari_pynta.errors import PyntaInputError
from napari_pynta.link import StreamingLinker, link_features
from napari_pynta.sizing import gap_spread

#: every third frame kept: each link spans two missed frames
KEPT_EVERY = 3


@pytest.fixture(scope="module")
def blurred_truth() -> tuple[pd.DataFrame, dict]:
    """True (exposure-mean) positions of 200 nm particles imaged with full-frame exposure
    (32 positions per exposure: the discrete blur is within 0.1 % of the continuous one), far
    apart for their steps, and the movie's metadata."""
    settings = simulate.SimulationSettings(
        shape=(256, 256),
        n_particles=40,
        populations=(simulate.Population(200.0),),
        blur_substeps=32,
        focal_depth_um=12.0,
        seed=5,
    )
    movie = simulate.simulate_movie(900, settings)
    return movie.truth.reset_index(drop=True), dict(movie.metadata)


def _displacements(truth: pd.DataFrame, lag: int) -> np.ndarray:
    """(n, 2) true y, x displacements of the particles over ``lag`` frames."""
    later = truth.assign(frame=truth["frame"] - lag)
    pairs = truth.merge(later, on=["particle", "frame"], suffixes=("", "_later"))
    return pairs[["y_later", "x_later"]].to_numpy() - pairs[["y", "x"]].to_numpy()


def test_the_spread_per_missed_frame_follows_the_exposure():
    assert gap_spread(0.01, 0.01).factor == pytest.approx(1.5)  # full-frame exposure
    assert gap_spread(0.0, 0.01).factor == 1.0  # no blur: plain Brownian spreads
    assert gap_spread(0.005, 0.01).factor == pytest.approx(1 / (1 - 1 / 6))
    assert "1.500" in gap_spread(0.01, 0.01).reason
    missing = gap_spread(None, 0.01)
    assert missing.factor == 1.0 and "no exposure_s" in missing.reason
    assert "no frame_interval_s" in gap_spread(0.01, None).reason
    with pytest.raises(PyntaInputError, match="exposure_s must be <= frame_interval_s"):
        gap_spread(0.02, 0.01)
    with pytest.raises(PyntaInputError, match="exposure_s"):
        gap_spread(-0.001, 0.01)
    with pytest.raises(PyntaInputError, match="frame_interval_s"):
        gap_spread(0.001, 0.0)
    with pytest.raises(PyntaInputError, match="gap_spread"):
        StreamingLinker(5.0, gap_spread=0.5)


def test_blurred_steps_across_missed_frames_spread_as_the_gap_spread_says(blurred_truth):
    """Per axis, the true displacement over g frames of a blurred particle has variance
    s^2 (1 + k (g - 1)), s^2 that of one frame, k = 1.5 at full exposure (not g s^2)."""
    truth, metadata = blurred_truth
    k = gap_spread(metadata["exposure_s"], metadata["frame_interval_s"]).factor
    assert k == pytest.approx(1.5)
    one_frame = np.mean(_displacements(truth, 1) ** 2)
    for lag in (2, 3, 4):
        steps = _displacements(truth, lag)
        assert len(steps) > 20000
        ratio = np.mean(steps**2) / one_frame
        assert ratio == pytest.approx(1 + k * (lag - 1), rel=0.03)
        assert abs(ratio - lag) > 0.4 * (lag - 1)  # what the plain linker assumes is far off


def _gap_links(truth: pd.DataFrame, k: float) -> tuple[float, float]:
    """Link the kept frames of ``truth``, each particle alone (moved 1000 px from the others),
    with a search range of 5 true one-frame rms steps and memory 3; the share of the true links
    across two missed frames that the linker made, and the mean squared step of its links over
    the true links' mean squared step."""
    s = float(np.sqrt(np.mean(_displacements(truth, 1) ** 2)))
    kept = truth[truth["frame"] % KEPT_EVERY == 0].reset_index(drop=True)
    alone = kept.assign(x=kept["x"] + 1000.0 * kept["particle"])
    tracks = link_features(alone.drop(columns="particle"), 5 * s, memory=3, gap_spread=k)
    tracks = tracks.sort_values(["particle", "frame"])
    same = tracks["particle"].to_numpy()[1:] == tracks["particle"].to_numpy()[:-1]
    squared = np.sum(np.diff(tracks[["y", "x"]].to_numpy(), axis=0) ** 2, axis=1)
    true_steps = _displacements(kept, KEPT_EVERY)
    return same.sum() / len(true_steps), float(
        np.mean(squared[same]) / np.mean(np.sum(true_steps**2, axis=1))
    )


def test_a_blurred_particle_missed_in_two_frames_keeps_its_track_and_its_step(blurred_truth):
    """Across two missed frames a blurred particle moves 2 one-frame rms steps s per axis, not
    sqrt(3) s: the plain linker's reach (5.7 s) loses 1.7 % of those links and takes 7 % off the
    mean square of the rest; with k = 1.5 (reach 6.4 s) 0.6 % and 3 %."""
    truth, metadata = blurred_truth
    k = gap_spread(metadata["exposure_s"], metadata["frame_interval_s"]).factor
    kept_share, size = _gap_links(truth, k)
    plain_kept, plain_size = _gap_links(truth, 1.0)
    assert kept_share > 0.99
    assert size == pytest.approx(1.0, abs=0.045)
    assert plain_kept < kept_share - 0.005
    assert plain_size < size - 0.02


def test_live_and_offline_link_alike_with_the_blur_spread(blurred_truth):
    from napari_pynta.detect.columns import LOCALIZATION_COLUMNS
    from napari_pynta.live.workers.linker import link_frame, make_linker

    truth, metadata = blurred_truth
    rng = np.random.default_rng(3)
    localizations = truth[rng.random(len(truth)) > 0.3][["frame", "y", "x"]].copy()
    for name in LOCALIZATION_COLUMNS[3:]:
        localizations[name] = rng.random(len(localizations))
    localizations = localizations.reset_index(drop=True)
    params = AnalysisParams.from_metadata(metadata, blur_gap_spread=True).validate()
    assert params.gap_spread.factor == pytest.approx(1.5)
    offline = link_features(localizations, 8.0, 3, params.gap_spread.factor)
    settings = {
        "metadata": metadata,
        "engine": params.engine,
        "detection": {},
        "search_range_px": 8.0,
        "memory": 3,
        "min_track_length": 10,
        "blur_gap_spread": True,
    }
    linker = make_linker(settings)
    assert linker.gap_spread == pytest.approx(1.5)
    live = pd.concat(
        [
            pd.DataFrame(link_frame(linker, frame.reset_index(drop=True), int(number)))
            for number, frame in localizations.groupby("frame")
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(live, offline[list(live.columns)])
    # the setting matters on these localizations: the plain linker gives other tracks
    plain = link_features(localizations, 8.0, 3)
    assert not np.array_equal(plain["particle"].to_numpy(), offline["particle"].to_numpy())
    assert make_linker(settings | {"blur_gap_spread": False}).gap_spread == 1.0


def test_pynta_analyze_records_the_spread_it_linked_with(capsys, tmp_path, blurred_truth):
    from napari_pynta.cli import main
    from napari_pynta.store import MovieStore

    settings = simulate.SimulationSettings(
        shape=(96, 96), n_particles=15, pixel_size_um=0.2, exposure_s=0.005, seed=4
    )
    movie = simulate.simulate_movie(120, settings)
    path = tmp_path / "movie.zarr"
    store = MovieStore.create(path, movie.frames.shape[1:], movie.frames.dtype, movie.metadata)
    store.append(movie.frames)
    store.close()
    summaries = {}
    for flags in ((), ("--blur-gap-spread",)):
        assert main(["analyze", str(path), "--json", "--no-save", *flags]) == 0
        summaries[flags] = json.loads(capsys.readouterr().out)
    on, off = summaries[("--blur-gap-spread",)], summaries[()]
    assert on["params"]["blur_gap_spread"] and not off["params"]["blur_gap_spread"]
    # exposure half the frame interval: k = 1 / (1 - 1/6)
    assert on["gap_spread"]["k"] == pytest.approx(1.2) and off["gap_spread"]["k"] == 1.0
    assert "0.005 s" in on["gap_spread"]["reason"]
