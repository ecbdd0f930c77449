"""Frame interval from the stored frame times: measurement, reconciliation, sizing."""

from __future__ import annotations

import numpy as np
import pytest

from napari_pynta import analysis, physics, simulate
from napari_pynta.analysis import AnalysisParams
from napari_pynta.readers import open_movie
from napari_pynta.store import MovieStore
from napari_pynta.timing import measure_frame_interval, reconcile_frame_interval


def test_the_interval_is_the_median_per_frame_step_across_lost_frames():
    rng = np.random.default_rng(0)
    seq = np.array([0, 1, 2, 5, 6, 7, 8, 10, 11, 12])  # frames 3, 4 and 9 were lost
    times = seq * 0.02 + rng.normal(0, 1e-4, len(seq))
    timing = measure_frame_interval(times, seq)
    assert timing.interval_s == pytest.approx(0.02, rel=0.01)
    assert timing.jitter < 0.05
    assert measure_frame_interval([0.0, 0.01, 0.02]) is None  # too few steps to trust


def test_agreeing_times_change_nothing_and_irregular_times_are_warned_about():
    metadata = {"frame_interval_s": 0.01, "exposure_s": 0.01}
    regular = np.arange(50) * 0.01
    assert reconcile_frame_interval(metadata, regular) == (metadata, [])
    jittery = regular + np.random.default_rng(1).uniform(-0.003, 0.003, 50)
    checked, warnings = reconcile_frame_interval(metadata, jittery)
    assert checked["frame_interval_s"] == pytest.approx(0.01, rel=0.05)
    assert len(warnings) == 1 and "irregular" in warnings[0]


@pytest.mark.parametrize("nominal", [0.0, -0.01, float("nan"), float("inf")])
def test_a_nominal_interval_that_is_not_a_positive_number_gives_way_to_the_times(nominal):
    """A store whose frame_interval_s was 0 crashed `pynta analyze` (ZeroDivisionError in the
    warning's "fps"); -0.01 was reported as "the nominal -10 ms (-100 fps)"."""
    metadata = {"frame_interval_s": nominal, "exposure_s": 0.005}
    checked, warnings = reconcile_frame_interval(metadata, np.arange(50) * 0.01)
    assert checked["frame_interval_s"] == pytest.approx(0.01)
    assert checked["exposure_s"] == 0.005
    (warning,) = warnings
    assert f"frame_interval_s ({nominal!r} s) is not a positive number" in warning
    assert "10 ms" in warning


def test_a_store_whose_times_disagree_is_sized_from_its_times(tmp_path):
    """The camera ran at 50 fps although the metadata says 100 fps (as Micro-Manager does)."""
    diameter, pixel_um, temperature = 200.0, 0.2, 22.0
    real_interval, nominal_interval = 0.02, 0.01
    sim = simulate.simulate_movie(
        200,
        simulate.SimulationSettings(
            shape=(128, 128),
            n_particles=25,
            populations=(simulate.Population(diameter),),
            pixel_size_um=pixel_um,
            frame_interval_s=real_interval,
            exposure_s=0.005,
            temperature_c=temperature,
            seed=4,
        ),
    )
    metadata = dict(sim.metadata, frame_interval_s=nominal_interval)
    path = tmp_path / "wrong_nominal.zarr"
    with MovieStore.create(path, (128, 128), "uint16", metadata) as store:
        store.append(sim.frames, timestamps_s=np.arange(200) * real_interval)
    movie = open_movie(path)
    assert movie.metadata["frame_interval_s"] == pytest.approx(real_interval)
    assert movie.metadata["nominal_frame_interval_s"] == nominal_interval
    result = analysis.analyze(movie, AnalysisParams.from_metadata(movie.metadata))
    summary = result.summary
    assert summary["params"]["frame_interval_s"] == pytest.approx(real_interval)
    assert any("not the nominal 10 ms" in warning for warning in summary["warnings"])
    # sized with the nominal interval the diameter would be half the truth
    assert summary["diameter_nm"] == pytest.approx(diameter, rel=0.12)
    expected_D = physics.diffusion_um2_s(diameter, temperature, physics.water_viscosity_pa_s(22))
    assert summary["D_um2_s"] == pytest.approx(expected_D, rel=0.12)
    # an explicit frame interval still wins
    forced = AnalysisParams.from_metadata(movie.metadata, frame_interval_s=nominal_interval)
    assert forced.frame_interval_s == nominal_interval


def test_times_that_go_back_are_left_out_of_the_interval_and_said():
    """A camera whose clock jumped back (a reset, a hardware counter's wrap) records a negative
    step: the interval comes from the other steps, and the warning says where."""
    times = np.arange(60) * 0.01
    times[20:] -= 0.5  # the clock restarted near zero at frame 20
    times[45:] -= 3.0  # and again at frame 45
    timing = measure_frame_interval(times)
    assert timing.interval_s == pytest.approx(0.01)
    assert timing.n_steps == 57 and timing.n_backward == 2
    assert timing.first_backward == 20
    metadata = {"frame_interval_s": 0.01, "exposure_s": 0.01}
    checked, warnings = reconcile_frame_interval(metadata, times)
    assert checked["frame_interval_s"] == pytest.approx(0.01)
    (warning,) = warnings
    assert "go back at 2 places (first at frame 20)" in warning
    assert "the camera's clock jumped back (a reset or a counter's wrap; 2 times)" in warning
    assert "median of the 57 steps besides the clock's jumps" in warning and "10 ms" in warning
    # one jump back is "1 place", not "1 places"
    times[45:] += 3.0
    (warning,) = reconcile_frame_interval(metadata, times)[1]
    assert "go back at 1 place (first at frame 20)" in warning
    # times that never go forward give no interval at all, nor a negative one
    assert measure_frame_interval(-np.arange(20) * 0.01) is None


@pytest.mark.parametrize("jitter_s", [0.002, 0.006])
def test_jitter_that_swaps_frames_times_does_not_lengthen_the_interval(jitter_s):
    """Host-clock times of 10 ms frames with a few ms of jitter go back now and then. Leaving
    those steps out of the median, as for a clock's jump, kept only the lengthened neighbours
    of the shortened ones: 11.3 ms for 6 ms of jitter, a nominal 10 ms replaced by it and the
    sizes 13 % off. The median of every step (a difference of two jitters, symmetric about the
    interval) is the interval; a jump back of the clock is still left out."""
    rng = np.random.default_rng(3)
    times = np.arange(4000) * 0.01 + rng.normal(0, jitter_s, 4000)
    times[2500:] -= 20.0  # and the clock restarted once
    timing = measure_frame_interval(times)
    assert timing.interval_s == pytest.approx(0.01, abs=3 * timing.interval_se_s)
    assert timing.n_jumps == 1 and timing.n_steps == 3998
    swapped = int(np.count_nonzero(np.diff(times) <= 0)) - 1
    assert timing.n_backward == swapped + 1 and swapped > (100 if jitter_s > 0.003 else 0)
    metadata = {"frame_interval_s": 0.01, "exposure_s": 0.01}
    checked, warnings = reconcile_frame_interval(metadata, times)
    assert checked["frame_interval_s"] == 0.01  # the nominal interval stands
    note = next(text for text in warnings if "go back" in text)
    assert "clock jumped back" in note and "1 time)" in note
    if swapped:
        assert f"{swapped} step" in note and "so irregular" in note
