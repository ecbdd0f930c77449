"""The fast engine against the simulator's ground truth and against trackpy, its reference."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from napari_pynta import detect, simulate
from napari_pynta.detect import fast as fast_engine
from napari_pynta.detect.fast import COLUMNS, locate_fast
from napari_pynta.errors import PyntaInputError

DIAMETER = 7
MATCH_PX = 1.5  # a feature within this distance of a true particle has found it


@pytest.fixture(scope="module")
def sim() -> simulate.SimulatedMovie:
    """Bright 100 nm and dim 60 nm particles (a hard case for the mass threshold)."""
    settings = simulate.SimulationSettings(
        shape=(160, 192),
        n_particles=40,
        exposure_s=0.001,
        seed=11,
        populations=(simulate.Population(100.0), simulate.Population(60.0)),
    )
    return simulate.simulate_movie(6, settings)


def both_engines(frames: np.ndarray, **params) -> tuple[pd.DataFrame, pd.DataFrame]:
    return tuple(
        detect.locate_frames(frames, engine=engine, diameter=DIAMETER, **params)
        for engine in ("fast", "trackpy")
    )


def score(found: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float, float]:
    """Recall, precision and rms position error of a one-to-one match with the truth."""
    errors = []
    for frame, wanted in truth.groupby("frame"):
        here = found[found["frame"] == frame]
        if len(here) == 0:
            continue
        distance = cdist(wanted[["y", "x"]].to_numpy(), here[["y", "x"]].to_numpy())
        rows, cols = linear_sum_assignment(distance)
        errors.extend(d for d in distance[rows, cols] if d < MATCH_PX)
    errors = np.asarray(errors)
    precision = len(errors) / len(found) if len(found) else np.nan
    rms = float(np.sqrt(np.mean(errors**2))) if len(errors) else np.nan
    return len(errors) / len(truth), precision, rms


def pair_up(fast: pd.DataFrame, reference: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the nearest reference feature (same frame) for every fast feature."""
    assert len(fast) == len(reference)
    distance = cdist(
        fast[["frame", "y", "x"]].to_numpy() * [1e6, 1, 1],
        reference[["frame", "y", "x"]].to_numpy() * [1e6, 1, 1],
    )
    return linear_sum_assignment(distance)


@pytest.mark.parametrize(("minmass", "min_recall"), [(100.0, 0.75), (250.0, 0.35)])
def test_finds_the_true_particles_as_well_as_trackpy(sim, minmass, min_recall):
    fast, reference = both_engines(sim.frames, minmass=minmass)
    recall, precision, rms = score(fast, sim.truth)
    ref_recall, ref_precision, ref_rms = score(reference, sim.truth)
    # both populations above minmass 100; only the 100 nm half above 250 (not a trivial pass)
    assert recall > min_recall and precision > 0.9
    assert abs(recall - ref_recall) <= 0.01
    assert abs(precision - ref_precision) <= 0.01
    assert rms <= ref_rms * 1.01 + 0.002
    assert rms < 0.35  # sub-pixel against the exposure-averaged truth (1 ms of blur)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"minmass": 150.0},
        {"minmass": 150.0, "separation": 5.0, "percentile": 30},
        {"minmass": 50.0, "noise_size": 1.5, "smoothing_size": 11},
        {"minmass": 50.0, "maxsize": 1.6, "max_iterations": 2},
        {"minmass": 0.0, "threshold": 20.0, "topn": 30},
    ],
)
def test_features_and_their_properties_equal_trackpys(sim, params):
    fast, reference = both_engines(sim.frames, **params)
    assert list(fast.columns) == list(COLUMNS)
    # trackpy rounds the bandpass to integer levels: rarely, a flat peak splits differently
    assert abs(len(fast) - len(reference)) <= max(1, len(reference) // 500)
    if len(fast) != len(reference):
        return
    rows, cols = pair_up(fast, reference)
    fast, reference = fast.iloc[rows], reference.iloc[cols]
    assert (fast["frame"].to_numpy() == reference["frame"].to_numpy()).all()
    np.testing.assert_allclose(fast[["y", "x"]], reference[["y", "x"]], atol=2e-3)
    for column, rtol in (
        ("mass", 2e-3),
        ("size", 2e-3),
        ("signal", 2e-3),
        ("raw_mass", 1e-9),
        ("ep", 2e-3),
    ):
        np.testing.assert_allclose(fast[column], reference[column], rtol=rtol, err_msg=column)
    np.testing.assert_allclose(fast["ecc"], reference["ecc"], atol=2e-3)


def test_the_percentile_threshold_is_exact_with_or_without_its_histogram(sim, monkeypatch):
    # the exact percentile needs a histogram pass, skipped when a bound from the level sum
    # already lets every feature through: both ways must give trackpy's features
    histograms = []
    histogram = fast_engine._histogram
    monkeypatch.setattr(
        fast_engine, "_histogram", lambda *args: histograms.append(1) or histogram(*args)
    )
    counts = {}
    for percentile in (64, 99.5):
        fast, reference = both_engines(sim.frames, minmass=100.0, percentile=percentile)
        assert len(fast) == len(reference)
        rows, cols = pair_up(fast, reference)
        np.testing.assert_allclose(
            fast.iloc[rows][["y", "x"]], reference.iloc[cols][["y", "x"]], atol=2e-3
        )
        counts[percentile] = len(fast)
    assert counts[99.5] < counts[64]  # the threshold removes features at 99.5 %
    assert 0 < len(histograms) < 2 * len(sim.frames)  # both ways were taken


def test_dark_particles_on_a_bright_background_with_invert(sim):
    frames = np.iinfo(np.uint16).max - sim.frames  # photometric negative
    bright, _ = both_engines(sim.frames, minmass=150.0)
    dark, dark_reference = both_engines(frames, minmass=150.0, invert=True)
    np.testing.assert_allclose(dark[["y", "x"]], bright[["y", "x"]], atol=1e-9)
    assert len(dark) == len(dark_reference)
    assert score(dark, sim.truth)[0] > 0.4
    wrong_polarity = locate_fast(frames[0], diameter=DIAMETER, minmass=150.0)
    assert score(wrong_polarity, sim.truth[sim.truth["frame"] == 0])[0] < 0.1


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((64, 80), np.uint16),
        np.full((64, 80), 1234, np.uint16),
        np.zeros((64, 80), np.float32),
    ],
)
def test_no_particles_in_an_empty_frame(frame):
    table = locate_fast(frame, diameter=DIAMETER)
    assert len(table) == 0 and list(table.columns) == list(COLUMNS)


def test_noise_alone_gives_no_particle_above_a_particle_mass():
    rng = np.random.default_rng(3)
    noise = rng.normal(100, 3, (128, 128)).round().astype(np.uint16)
    assert len(locate_fast(noise, diameter=DIAMETER, minmass=100)) == 0
    assert len(locate_fast(noise, diameter=DIAMETER)) > 20  # without minmass noise peaks show


def spot_frame(centres: list[tuple[float, float]], shape=(64, 64), dtype=np.uint16):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    image = np.full(shape, 100.0)
    for y, x in centres:
        image += 400 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.2**2))
    return image.astype(dtype)


def test_edge_margin_and_positions_near_the_edge():
    # trackpy's margin here is max(radius, separation // 2 - 1, smoothing // 2) = 3 px
    centres = [(1.6, 30.2), (30.3, 1.7), (3.3, 20.4), (40.6, 60.2), (60.4, 44.5), (30.2, 30.7)]
    frame = spot_frame(centres)
    fast = locate_fast(frame, diameter=DIAMETER, minmass=500)
    reference = detect.locate(frame, "trackpy", diameter=DIAMETER, minmass=500)
    np.testing.assert_allclose(fast[["y", "x"]], reference[["y", "x"]], atol=2e-3)
    assert ((fast[["y", "x"]] >= 3 - 0.6) & (fast[["y", "x"]] <= 63 - 3 + 0.6)).all().all()
    found = cdist(fast[["y", "x"]].to_numpy(), centres).min(axis=0) < 0.3
    assert found[2:].all()  # spots whose peak pixel lies outside the margin are found
    assert not found[:2].any()  # the mask would leave the image: never reported


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64, np.int32])
def test_other_pixel_types_locate_the_spots(dtype):
    centres = [(20.3, 20.7), (40.45, 30.2), (25.5, 50.1)]
    frame = spot_frame(centres, dtype=np.float64)
    frame = frame / frame.max() if np.dtype(dtype).kind == "f" else frame * (250 / frame.max())
    table = locate_fast(frame.astype(dtype), diameter=DIAMETER, minmass=1e-3)
    error = cdist(table[["y", "x"]].to_numpy(), centres).min(axis=0)
    assert len(table) == 3 and error.max() < 0.1


def test_each_thread_uses_its_own_scratch_buffers(sim):
    frames = [sim.frames[i] for i in range(6)] + [sim.frames[i, :96, :128] for i in range(6)]
    serial = [locate_fast(frame, diameter=DIAMETER, minmass=100) for frame in frames]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(
            pool.map(lambda f: locate_fast(f, diameter=DIAMETER, minmass=100), frames * 3)
        )
    for expected, got in zip(serial * 3, threaded, strict=False):
        pd.testing.assert_frame_equal(expected, got)


def test_the_detect_registry_runs_the_fast_engine(sim):
    table = detect.locate(sim.frames[2], "fast", diameter=DIAMETER, minmass=100, frame_number=7)
    assert len(table) > 5 and (table["frame"] == 7).all()
    assert list(table.columns) == list(detect.LOCALIZATION_COLUMNS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"diameter": 8}, "diameter"),
        ({"percentile": 120}, "percentile"),
        ({"smoothing_size": 6}, "smoothing_size"),
        ({"noise_size": 9}, "noise_size"),
        ({"max_iterations": 0}, "max_iterations"),
        ({"topn": 0}, "topn"),
        ({"preprocess": False}, "preprocess"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    params = {"diameter": DIAMETER, **kwargs}
    with pytest.raises(PyntaInputError, match=message):
        locate_fast(np.zeros((32, 32), np.uint16), **params)


def test_parameters_are_checked_again_when_their_type_differs(sim):
    # checked parameter sets are remembered by value and type: True is no iteration count
    # even after 1 was accepted; unhashable values are checked (and refused) all the same
    frame = sim.frames[0]
    assert len(locate_fast(frame, diameter=DIAMETER, minmass=100, max_iterations=1)) > 0
    with pytest.raises(PyntaInputError, match="max_iterations"):
        locate_fast(frame, diameter=DIAMETER, minmass=100, max_iterations=True)
    for unhashable in (np.array(DIAMETER), [DIAMETER]):
        with pytest.raises(PyntaInputError, match="diameter"):
            locate_fast(frame, diameter=unhashable, minmass=100)


@pytest.mark.parametrize("frame", [np.zeros((4, 32, 32)), np.zeros(32), np.zeros((8, 8), bool)])
def test_frames_that_are_not_2d_images_are_rejected(frame):
    with pytest.raises(PyntaInputError, match="frame"):
        locate_fast(frame, diameter=DIAMETER)


@pytest.mark.parametrize(
    "params",
    [{"minmass": 150.0}, {"minmass": 150.0, "topn": 3, "maxsize": 2.0}, {"minmass": 1e12}],
    ids=["all", "filtered", "none found"],
)
@pytest.mark.parametrize("pandas_blocks", [True, False], ids=["blocks", "pandas 2"])
def test_columns_are_the_table_without_a_dataframe(sim, params, pandas_blocks, monkeypatch):
    if not pandas_blocks:  # the table as pandas 2 builds it, without the block constructor
        monkeypatch.setattr(fast_engine, "_from_blocks", None)
    elif fast_engine._from_blocks is None:
        pytest.skip("pandas < 3 has no create_dataframe_from_blocks")
    table = locate_fast(sim.frames[2], diameter=DIAMETER, frame_number=5, **params)
    columns = locate_fast(
        sim.frames[2], diameter=DIAMETER, frame_number=5, as_columns=True, **params
    )
    assert tuple(columns) == COLUMNS
    pd.testing.assert_frame_equal(pd.DataFrame(columns), table)
    if params["minmass"] < 1e12:
        assert len(table) >= 3 and set(table["frame"]) == {5}


@pytest.mark.parametrize("engine", ["fast", "trackpy"])
def test_the_live_locator_sends_the_columns_of_detect_locate(sim, engine):
    from napari_pynta.live.workers.locator import locate_columns

    detection = {"diameter": DIAMETER, "minmass": 150.0}
    columns = locate_columns(sim.frames[1], engine, 9, detection)
    table = detect.locate(sim.frames[1], engine, frame_number=9, **detection)
    assert len(table) > 5
    pd.testing.assert_frame_equal(pd.DataFrame(columns), table)
