"""The offline pipeline end to end on simulated movies, and its parameters."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from same_numbers import assert_same_numbers, assert_same_table

from napari_pynta import analysis, link, physics, simulate, sizing
from napari_pynta.analysis import AnalysisParams
from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.link import StreamingLinker
from napari_pynta.readers import Movie, open_movie
from napari_pynta.sample import describe_movie
from napari_pynta.store import MovieStore

PIXEL_UM = 0.2
DT = 0.01
T_C = 22.0


def simulated(
    diameter_nm: float,
    n_frames: int = 400,
    shape=(192, 192),
    n_particles: int = 40,
    seed: int = 1,
    pixel_size_um: float = PIXEL_UM,
    **scene: Any,
) -> tuple[Movie, simulate.SimulatedMovie]:
    """A monodisperse movie with full-frame exposure (exposure = frame interval); ``scene``:
    further :class:`~napari_pynta.simulate.SimulationSettings` (a flow: ``drift_um_s``)."""
    settings = simulate.SimulationSettings(
        shape=shape,
        n_particles=n_particles,
        populations=(simulate.Population(diameter_nm),),
        pixel_size_um=pixel_size_um,
        frame_interval_s=DT,
        exposure_s=DT,
        temperature_c=T_C,
        seed=seed,
        **scene,
    )
    sim = simulate.simulate_movie(n_frames, settings)
    frames = da.from_array(sim.frames, chunks=(16, *shape))
    return Movie(frames=frames, metadata=sim.metadata, source=f"simulated {diameter_nm} nm"), sim


@pytest.fixture(scope="module", params=[100.0, 300.0])
def end_to_end(request):
    movie, sim = simulated(request.param)
    calls = []
    params = AnalysisParams.from_metadata(movie.metadata)
    result = analysis.analyze(movie, params, progress=lambda done, total: calls.append(done))
    return request.param, sim, result, calls


def test_ensemble_diameter_within_5_percent_of_truth(end_to_end):
    diameter, sim, result, _ = end_to_end
    summary = result.summary
    assert summary["n_tracks"] > 150 and summary["n_steps"] > 8000
    assert summary["diameter_nm"] == pytest.approx(diameter, rel=0.05)
    # the reported uncertainty is honest: truth within 3 standard errors, and it is small
    assert abs(summary["diameter_nm"] - diameter) < 3 * summary["diameter_se_nm"]
    assert summary["diameter_se_nm"] < 0.025 * diameter
    assert summary["D_um2_s"] == pytest.approx(
        physics.diffusion_um2_s(diameter, T_C, physics.water_viscosity_pa_s(T_C)), rel=0.05
    )
    assert summary["warnings"] == []
    # the naive MSD(dt)/(4 dt) on the same tracks would be ~1.5x too large in size
    naive_D = result.per_track["msd1_um2"].mean() / (4 * DT)
    naive_d = physics.diameter_nm(naive_D, T_C, physics.water_viscosity_pa_s(T_C))
    assert naive_d > 1.25 * diameter


def test_automatic_choices_match_the_physics(end_to_end):
    diameter, sim, result, calls = end_to_end
    params = result.params
    D = physics.diffusion_um2_s(diameter, T_C, physics.water_viscosity_pa_s(T_C))
    # per-axis rms step of blurred positions: 2 D dt (1 - 2R), R = 1/6 (plus localization noise)
    rms_step_px = math.sqrt(2 * D * DT * (1 - 1 / 3)) / PIXEL_UM
    assert 4.0 * rms_step_px < params.search_range_px < 6.0 * rms_step_px
    # the default diameter is the sharp spot's, reported as given
    detection = result.summary["detection"]
    assert not detection["automatic_diameter"] and detection["diameter_px"] == params.diameter_px
    # minmass lies between the noise features and the particles
    masses = result.localizations["mass"]
    assert 0 < params.minmass < np.percentile(masses, 5)
    assert result.summary["particles_per_frame"] == pytest.approx(len(sim.truth) / 400, rel=0.2)
    assert calls[-1] == 400


def test_summary_is_strict_json_with_the_documented_keys(end_to_end):
    _, _, result, _ = end_to_end
    text = json.dumps(result.summary, allow_nan=False)
    summary = json.loads(text)
    for key in (
        "n_frames",
        "n_localizations",
        "n_tracks",
        "diameter_nm",
        "D_um2_s",
        "size_nm",
        "warnings",
        "params",
        "particles_per_frame",
    ):
        assert key in summary
    assert set(summary["size_nm"]) >= {"mean", "mode", "sd", "d10", "d50", "d90", "span"}
    assert summary["params"]["exposure_s"] == DT
    assert summary["n_localizations"] == len(result.localizations)
    assert summary["n_tracks"] == result.tracks["particle"].nunique() == len(result.per_track)


def test_ambiguous_links_of_fast_crowded_particles_enter_the_systematic_error():
    # 50 nm particles at 30 fps move ~4.6 px per frame and axis, about a fifth of their spacing:
    # linking again with a narrower or wider search range moves D by several %; 400 nm particles
    # at the same density are linked the same way by any reasonable range. The summary warns
    # when the size depends on the linking, and says by how much
    linking, warned = {}, {}
    for diameter in (50.0, 400.0):
        settings = simulate.SimulationSettings(
            shape=(160, 160),
            n_particles=12,
            populations=(simulate.Population(diameter),),
            pixel_size_um=0.166,
            frame_interval_s=1 / 30,
            brightness_at_100nm=4000.0,
            brightness_exponent=2.0,
            seed=1,
        )
        sim = simulate.simulate_movie(300, settings)
        movie = Movie(frames=sim.frames, metadata=sim.metadata, source="crowding")
        summary = analysis.analyze(movie, AnalysisParams.from_metadata(sim.metadata)).summary
        linking[diameter] = summary["systematic_nm"]["linking"] / summary["diameter_nm"]
        assert summary["diameter_systematic_nm"] >= summary["systematic_nm"]["linking"]
        notes = [text for text in summary["warnings"] if "depends on the linking" in text]
        warned[diameter] = bool(notes)
        assert warned[diameter] == (linking[diameter] >= analysis.LINKING_WARNING_FRACTION)
        if notes:
            assert f"changes by {linking[diameter]:.0%}" in notes[0]
            assert f"({summary['params']['search_range_px']:.1f} px)" in notes[0]
        # the one population's peak carries the same relative systematic part beside its
        # bootstrap SE, and its 68 % interval holds both (in quadrature on either side)
        deconvolved = summary["deconvolved_nm"]
        (peak,) = deconvolved["peaks"]
        (systematic,) = deconvolved["peak_systematic"]
        relative = summary["diameter_systematic_nm"] / summary["diameter_nm"]
        assert systematic == pytest.approx(relative * peak)
        (se,) = deconvolved["peak_se"]
        assert deconvolved["peak_uncertainty"] == pytest.approx([math.hypot(se, systematic)])
        ((low, high),) = deconvolved["peak_interval_68"]
        ((stat_low, stat_high),) = deconvolved["peak_statistical_interval_68"]
        assert peak - low == pytest.approx(math.hypot(peak - stat_low, systematic))
        assert high - peak == pytest.approx(math.hypot(stat_high - peak, systematic))
    assert linking[50.0] > 0.03
    assert linking[50.0] > 3 * linking[400.0]
    assert warned[50.0] and not warned[400.0]


def test_a_movie_without_particles_says_how_many_frames_the_pilot_linking_had():
    # a 40-frame movie of noise was said to have 'No particle ... linked in the first 200 frames'
    movie, _ = simulated(100.0, n_frames=40, shape=(64, 64), n_particles=0, seed=2)
    result = analysis.analyze(movie, AnalysisParams.from_metadata(movie.metadata))
    assert result.summary["n_tracks"] == 0
    (pilot,) = [w for w in result.warnings if "could be linked" in w]
    assert "in the first 40 frames" in pilot


def test_chunked_detection_gives_the_same_result():
    movie, _ = simulated(100.0, n_frames=60, shape=(128, 128), n_particles=20, seed=3)
    params = AnalysisParams.from_metadata(movie.metadata)
    whole = analysis.analyze(movie, params)
    threshold = analysis.detection_threshold(movie.frames, params)
    resolved = analysis.resolve_minmass(movie.frames, params)
    assert_same_numbers([resolved.minmass, threshold.minmass], [whole.params.minmass] * 2)
    chunks = [
        analysis.detect_frames(movie.frames[start : start + 25], resolved, first_frame=start)
        for start in range(0, 60, 25)
    ]
    joined = analysis.analyze_localizations(
        pd.concat(chunks, ignore_index=True),
        60,
        resolved,
        source=movie.source,
        frame_shape=(128, 128),
        threshold=threshold,
    )
    assert_same_table(joined.per_track, whole.per_track)
    # analyze() also describes the movie (sample, recording) from its metadata
    assert_same_numbers(describe_movie(joined.summary, movie.metadata), whole.summary)
    # the live linker's route: size tracks it linked itself, frame by frame
    linker = StreamingLinker(whole.params.search_range_px, whole.params.memory)
    live_tracks = pd.concat(
        [linker.add(frame) for _, frame in whole.localizations.groupby("frame")], ignore_index=True
    )
    live = analysis.summarize_tracks(
        live_tracks,
        whole.params,
        n_frames=60,
        localizations=whole.localizations,
        source=movie.source,
        frame_shape=(128, 128),
    )
    # the live linker has no noise model of the frames (the calibration keeps only minmass)
    assert live.summary["detection"] is None
    live.summary["detection"] = whole.summary["detection"]
    assert_same_numbers(describe_movie(live.summary, movie.metadata), whole.summary)


def test_results_round_trip_through_a_store_and_csv(tmp_path):
    movie, sim = simulated(100.0, n_frames=40, shape=(96, 96), n_particles=10, seed=4)
    result = analysis.analyze(movie, AnalysisParams.from_metadata(movie.metadata))
    store = MovieStore.create(
        tmp_path / "m.zarr",
        (96, 96),
        "uint16",
        {key: sim.metadata[key] for key in analysis.METADATA_FIELDS},
    )
    result.save_results(store)
    for name, table in result.tables().items():
        pd.testing.assert_frame_equal(store.read_table(name), table, check_dtype=False)
    store.close()
    written = result.export(tmp_path / "out")
    assert sorted(path.name for path in written) == [
        "localizations.csv",
        "per_track.csv",
        "summary.json",
        "tracks.csv",
    ]
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == result.summary
    assert len(pd.read_csv(tmp_path / "out" / "tracks.csv")) == len(result.tracks)


def test_frames_the_camera_lost_make_steps_of_two_intervals_not_one(tmp_path):
    """A store whose seq has gaps (every third frame lost by the camera): sized as if its frames
    were consecutive, the steps across the gaps (two intervals) made 100 nm particles 68 nm,
    ± 3.5 nm, without a warning."""
    _, sim = simulated(100.0, n_frames=300, n_particles=30)
    recorded = np.flatnonzero(np.arange(300) % 3 != 1)
    path = tmp_path / "lost.zarr"
    with MovieStore.create(path, sim.frames.shape[1:], sim.frames.dtype, sim.metadata) as store:
        store.append(sim.frames[recorded], timestamps_s=recorded * DT, seq=recorded)
    movie = open_movie(path)
    result = analysis.analyze(movie, AnalysisParams.from_metadata(movie.metadata))
    summary = result.summary
    assert summary["params"]["frame_interval_s"] == DT
    assert summary["diameter_nm"] == pytest.approx(100.0, rel=0.08)
    # the pilot that measures the search range links the stored frames in order: with memory 0
    # on the acquisition's numbers every gap cut its tracks and it said nothing had linked
    assert not any("search range was not measured" in text for text in summary["warnings"])
    assert abs(summary["diameter_nm"] - 100.0) < 3 * summary["diameter_uncertainty_nm"]
    # the tables index the movie's frames (as the viewer shows them); counts are per frame kept
    assert result.localizations["frame"].max() == len(recorded) - 1
    assert result.tracks["frame"].max() <= len(recorded) - 1
    n_found = len(result.localizations)
    assert summary["particles_per_frame"] == pytest.approx(n_found / len(recorded))
    assert summary["concentration"]["particles_per_frame"] == pytest.approx(n_found / len(recorded))


def test_frames_repeated_by_the_camera_or_a_conversion_are_said():
    """A movie whose every fifth frame was repeated (a driver re-sending its buffer, a video
    converted to another frame rate) sized 100 nm particles at about 150 nm, 35% too large,
    with no warning but the usual linking one."""
    _, sim = simulated(100.0, n_frames=150, n_particles=30)
    order = np.concatenate([[i, i] if i % 5 == 4 else [i] for i in range(150)])[:150]
    copies = np.flatnonzero(np.diff(order) == 0) + 1  # the truth: positions of the copies
    movie = Movie(frames=da.from_array(sim.frames[order]), metadata=sim.metadata, source="dup")
    summary = analysis.analyze(movie, AnalysisParams.from_metadata(movie.metadata)).summary
    (said,) = [text for text in summary["warnings"] if "exact copies" in text]
    shown = ", ".join(str(frame) for frame in copies[:5])
    assert said.startswith(
        f"{len(copies)} of 150 frames are exact copies of the frame before them (frames {shown} "
        f"and {len(copies) - 5} more:"
    )
    # the sound movies of test_ensemble_diameter_within_5_percent_of_truth have no warning


def test_a_bright_field_movie_analysed_for_bright_particles_is_said():
    """Dark particles on a bright background analysed without --invert: 100 nm particles were
    sized 52 ± 16 nm (noise maxima and the rims of the images, linked), with warnings about the
    linking only. The result now says the contrast is the other way and what to do; with
    --invert the same movie is sized right and not warned of."""
    _, sim = simulated(100.0, n_frames=120, shape=(128, 128), n_particles=20)
    dark = np.uint16(sim.frames.max() + 100) - sim.frames
    movie = Movie(frames=da.from_array(dark), metadata=sim.metadata, source="bright-field")
    params = AnalysisParams.from_metadata(movie.metadata)
    warned = analysis.analyze(movie, params).summary["warnings"]
    (said,) = [text for text in warned if text.startswith("The particles look dark")]
    assert "analyse with --invert" in said
    inverted = analysis.analyze(movie, dataclasses.replace(params, invert=True)).summary
    assert not any(text.startswith("The particles look") for text in inverted["warnings"])
    assert inverted["diameter_nm"] == pytest.approx(100.0, rel=0.15)


def test_a_pixel_size_that_makes_the_images_narrower_than_light_is_said():
    """A pixel size ten times too small (0.0166 µm typed for 0.166): 100 nm particles were
    sized at 3.8 µm, inside what tracking can size, with no warning. The spots' measured width
    in µm is then below what light can form; the right pixel size gives no warning."""
    _, sim = simulated(100.0, n_frames=60, shape=(96, 96), n_particles=12)
    movie = Movie(frames=da.from_array(sim.frames), metadata=sim.metadata, source="decimal")
    right = AnalysisParams.from_metadata(movie.metadata)
    threshold = analysis.detection_threshold(movie.frames, right)
    sigma_px = threshold.diameter.spot_sigma_px
    assert sigma_px == pytest.approx(1.2, rel=0.3)  # the simulator's PSF, 0.24 µm
    assert analysis.sub_diffraction_spot_warning(sigma_px, right) == ""
    wrong = dataclasses.replace(right, pixel_size_um=PIXEL_UM / 10)
    said = analysis.sub_diffraction_spot_warning(sigma_px, wrong)
    assert said.startswith(f"The particles' images are {sigma_px * PIXEL_UM * 100:.0f} nm wide")
    assert "--pixel-size-um" in said
    assert analysis.sub_diffraction_spot_warning(math.nan, wrong) == ""
    summary = analysis.analyze(movie, wrong).summary
    assert any(text.startswith("The particles' images are") for text in summary["warnings"])


def test_a_lone_stuck_spot_is_not_a_repeated_frame():
    """A saturated spot alone in view is located at the same place with the same mass in every
    frame; only frames of two or more identical features are copies."""
    spot = {"y": 10.25, "x": 20.5, "mass": 65535.0}
    other = {"y": 40.0, "x": 3.75, "mass": 812.5}
    rows = [{"frame": f} | spot for f in (0, 1, 2, 3)] + [{"frame": f} | other for f in (2, 3)]
    assert list(analysis.repeated_frames(pd.DataFrame(rows))) == [3]


@pytest.mark.parametrize(
    ("field", "factor", "named"),
    [
        ("frame_interval_s", 3300.0, "frame interval (33 s)"),
        ("viscosity_pa_s", 1000.0, "(0.954 Pa·s"),
    ],
    ids=["33 ms typed as 33 s", "mPa·s typed as Pa·s"],
)
def test_a_setting_in_the_wrong_unit_is_suspected_from_an_unsizeable_diameter(field, factor, named):
    """A frame interval or a viscosity in the wrong unit sized 100 nm particles at 0.33 mm or
    0.1 nm, and the analysis said nothing about it."""
    movie, _ = simulated(100.0, n_frames=100, n_particles=30)
    right = AnalysisParams.from_metadata(movie.metadata)
    value = right.frame_interval_s if field == "frame_interval_s" else right.resolved_viscosity_pa_s
    wrong = dataclasses.replace(right, **{field: value * factor})
    summary = analysis.analyze(movie, wrong).summary
    said = [text for text in summary["warnings"] if "outside what particle tracking" in text]
    assert summary["diameter_nm"] == pytest.approx(
        100.0 * factor if field == "frame_interval_s" else 100.0 / factor, rel=0.15
    )
    assert len(said) == 1 and named in said[0]


def test_frames_missing_from_a_folder_make_steps_of_two_intervals_not_one(tmp_path):
    """A folder of numbered frames with every third one missing (a copy that skipped files)
    was sized as if its frames were consecutive: 110 nm particles at 69 nm, without a word."""
    import tifffile

    _, sim = simulated(100.0, n_frames=300, n_particles=30)
    recorded = np.flatnonzero(np.arange(300) % 3 != 1)
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in recorded:
        tifffile.imwrite(folder / f"frame_{number + 1:04d}.tif", sim.frames[number])
    movie = open_movie(folder)
    assert np.array_equal(movie.frame_numbers, recorded)
    assert movie.warnings == [
        f"{str(folder)!r}: the file names skip 100 frame numbers between 1 and 300 (frames "
        "missing from the folder): a step across a gap counts as that many frame intervals"
    ]
    summary = analysis.analyze(movie, AnalysisParams.from_metadata(sim.metadata)).summary
    assert summary["diameter_nm"] == pytest.approx(100.0, rel=0.08)
    assert abs(summary["diameter_nm"] - 100.0) < 3 * summary["diameter_uncertainty_nm"]


def test_a_movie_without_particles_gives_no_tracks_and_a_warning():
    noise = np.random.default_rng(0).poisson(100.0, (30, 64, 64)).astype(np.uint16)
    movie = Movie(frames=da.from_array(noise), metadata={}, source="noise")
    params = AnalysisParams(
        pixel_size_um=0.2, frame_interval_s=DT, exposure_s=DT, temperature_c=T_C
    )
    result = analysis.analyze(movie, params)
    assert result.summary["n_tracks"] == 0 and result.summary["diameter_nm"] is None
    # why no track was sized, also as the summary's unsized_reason (pynta analyze exits 1)
    assert result.warnings[-1] == result.summary["unsized_reason"]
    assert result.summary["n_localizations"] == 0
    assert result.warnings[-1].startswith("No track was sized: no particle was found")
    # the counts the reason is said from, for a front end that names its own controls
    assert result.summary["no_tracks"] == {
        "n_localizations": 0,
        "n_linked": 0,
        "longest_frames": 0,
        "min_track_length": params.min_track_length,
    }
    no_tracks = sizing.NoTracks(**result.summary["no_tracks"])
    assert no_tracks.reason() == result.summary["unsized_reason"]
    # nothing linked in the pilot either: the range used is said not to be a measurement
    assert any("search range was not measured" in text for text in result.warnings)
    json.dumps(result.summary, allow_nan=False)


def test_an_empty_movie_is_a_data_error():
    movie = Movie(frames=da.zeros((0, 32, 32), dtype=np.uint16), metadata={}, source="empty")
    params = AnalysisParams(
        pixel_size_um=0.2, frame_interval_s=DT, exposure_s=DT, temperature_c=T_C
    )
    with pytest.raises(PyntaDataError, match="empty"):
        analysis.analyze(movie, params)


def test_from_metadata_uses_metadata_and_non_none_overrides():
    metadata = {
        "pixel_size_um": 0.1,
        "frame_interval_s": 0.02,
        "exposure_s": 0.01,
        "temperature_c": 25.0,
        "camera": "x",
        "viscosity_pa_s": None,
    }
    params = AnalysisParams.from_metadata(metadata, temperature_c=None, exposure_s=0.005, memory=0)
    assert (params.pixel_size_um, params.exposure_s, params.temperature_c, params.memory) == (
        0.1,
        0.005,
        25.0,
        0,
    )
    assert params.resolved_viscosity_pa_s == pytest.approx(0.8900e-3, rel=1e-3)  # water, 25 °C
    assert params.validate() is params
    with pytest.raises(PyntaInputError, match="unknown analysis parameter.*pixel_size"):
        AnalysisParams.from_metadata(metadata, pixel_size=1.0)


@pytest.mark.parametrize("missing", analysis.REQUIRED_FIELDS)
def test_missing_metadata_names_the_field(missing):
    complete = AnalysisParams(
        pixel_size_um=0.2, frame_interval_s=DT, exposure_s=DT, temperature_c=T_C
    )
    with pytest.raises(
        PyntaInputError, match=f"^{missing} is required: the movie has no {missing} metadata"
    ):
        dataclasses.replace(complete, **{missing: None}).validate()


@pytest.mark.parametrize("field", analysis.REQUIRED_FIELDS)
@pytest.mark.parametrize("value", ["abc", [0.1], {"um": 0.1}])
def test_metadata_that_is_not_a_number_names_the_field(field, value):
    """A hand-edited store with `"pixel_size_um": "abc"` crashed `pynta analyze` with Python's
    `ValueError: could not convert string to float` traceback."""
    complete = AnalysisParams(
        pixel_size_um=0.2, frame_interval_s=DT, exposure_s=DT, temperature_c=T_C
    )
    with pytest.raises(PyntaInputError, match=f"^{field} must be a number, got ") as error:
        dataclasses.replace(complete, **{field: value}).validate()
    assert error.value.field == field


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"exposure_s": 2 * DT}, "exposure_s .* must not exceed frame_interval_s"),
        ({"pixel_size_um": -1.0}, r"pixel_size_um must be in \[0.005, 20\]"),
        ({"temperature_c": 150.0}, "temperature_c must be within"),
        ({"solvent": "glycerol"}, "solvent must be one of"),
        ({"diameter_px": 8}, "diameter_px must be an odd integer"),
        ({"engine": "magic"}, "engine must be one of"),
        ({"search_range_px": 0.0}, "search_range_px"),
        ({"memory": -2}, "memory"),
        ({"min_track_length": 2}, "min_track_length"),
    ],
)
def test_bad_parameters_name_the_field(change, message):
    base = {"pixel_size_um": 0.2, "frame_interval_s": DT, "exposure_s": DT, "temperature_c": T_C}
    params = AnalysisParams(**(base | change))
    with pytest.raises(PyntaInputError, match=message):
        params.validate()


def test_correlated_steps_and_flow_are_reported_with_the_long_lag_size():
    settings = simulate.SimulationSettings(
        shape=(128, 128),
        n_particles=20,
        populations=(simulate.Population(300.0),),
        pixel_size_um=0.166,
        frame_interval_s=1 / 30,
        correlated_motion_um_s=6.0,  # own motion with a 2-frame memory: steps correlated 2-4 on
        correlation_time_s=2 / 30,
        drift_um_s=(4.0, 0.0),
        seed=11,
    )
    sim = simulate.simulate_movie(200, settings)
    movie = Movie(frames=sim.frames, metadata=sim.metadata, source="correlated")
    summary = analysis.analyze(movie, AnalysisParams.from_metadata(movie.metadata)).summary
    text = " ".join(summary["warnings"])
    assert "not Brownian" in text and "lag 2:" in text and "vibration" in text
    assert summary["step_correlation"]["2"] > 3 * summary["step_correlation_se"]["2"]
    # the flow was measured and subtracted
    assert summary["drift_um_s"]["y"] == pytest.approx(4.0, abs=1.0)
    assert summary["drift_subtracted"] and "was subtracted" in text
    # long lags see the own motion as extra diffusion (D + v^2 tau per axis: 116 nm); short lags
    # only part of it (the covariance estimate lies between that and 300 nm)
    effective = physics.diameter_nm(
        physics.diffusion_um2_s(300.0, T_C, sim.metadata["viscosity_pa_s"]) + 6.0**2 * 2 / 30,
        T_C,
        sim.metadata["viscosity_pa_s"],
    )
    assert 0.95 * effective < summary["diameter_long_lag_nm"] < 0.85 * summary["diameter_nm"]
    assert summary["diameter_nm"] < 0.7 * 300.0
    assert f"{summary['diameter_long_lag_nm']:.0f} nm" in text
    # the uncertainty reported beside the jackknife covers the estimators' disagreement
    assert summary["diameter_systematic_nm"] > 2 * summary["diameter_se_nm"]
    assert summary["diameter_uncertainty_nm"] >= summary["diameter_systematic_nm"]


def test_a_flowing_sample_is_linked_in_the_flow_and_sized_right():
    """A flow of 7 px per frame carried the particles out of a search range made for their
    Brownian steps: the linker joined neighbours and 100 nm came out at 27 ± 18 nm (the drift
    subtraction after linking could not undo wrong links). Linked in the flow's frame, the
    size is right again, and the user is told that the sample flows."""
    movie, sim = simulated(
        100.0, 200, (128, 128), n_particles=12, pixel_size_um=0.1, drift_um_s=(0.0, 70.0)
    )
    summary = analysis.analyze(movie, AnalysisParams.from_metadata(sim.metadata)).summary
    assert summary["diameter_nm"] == pytest.approx(100.0, rel=0.12)
    assert abs(summary["diameter_nm"] - 100.0) <= summary["diameter_uncertainty_nm"]
    (flow,) = [w for w in summary["warnings"] if "move together" in w]
    speed = float(flow.split("px per frame (")[1].split(" µm/s")[0])
    assert speed == pytest.approx(70.0, rel=0.1)
    assert summary["drift_um_s"]["x"] == pytest.approx(70.0, rel=0.05)


def test_a_flow_as_slow_as_the_steps_is_found_by_linking_and_sized_right():
    """A flow of 5 px per frame, as large as the particles' own steps (2.5 px per axis), hides
    from the linking-free estimate (the displacements of a particle's pairs overlap those at
    rest), and the pilot measured steps widened by it: the wide range and the links judged from
    the last position joined neighbours, and 100 nm came out at 66 ± 4 nm without a word of the
    flow (the drift subtracted after linking was not at fault: the links were). The tracks' drift
    after a first linking shows the flow; linked in its frame, the size is right, and the user
    is told."""
    movie, sim = simulated(
        100.0, 300, (128, 128), n_particles=12, pixel_size_um=0.1, drift_um_s=(0.0, 50.0)
    )
    summary = analysis.analyze(movie, AnalysisParams.from_metadata(sim.metadata)).summary
    assert abs(summary["diameter_nm"] - 100.0) <= 3 * summary["diameter_se_nm"]
    (flow,) = [w for w in summary["warnings"] if "move together" in w]
    speed = float(flow.split("px per frame (")[1].split(" µm/s")[0])
    assert speed == pytest.approx(50.0, rel=0.1)


def test_the_flow_is_found_without_linking_and_only_when_it_matters():
    """Brownian walkers with a common motion: the flow taken out before linking is the common
    motion (to 3 %), and none is taken out below one pixel per frame."""
    rng = np.random.default_rng(4)
    start = rng.uniform(0, 200, (40, 2))
    steps = rng.normal(0, 2.0, (150, 40, 2))

    def walkers(px_per_frame: float) -> pd.DataFrame:
        paths = start + np.cumsum(steps, axis=0) + px_per_frame * np.arange(150)[:, None, None]
        frame = np.repeat(np.arange(150), 40)
        y, x = paths.reshape(-1, 2).T
        return pd.DataFrame({"frame": frame, "y": y, "x": x, "mass": 1e3})

    params = AnalysisParams(pixel_size_um=0.1, frame_interval_s=DT, temperature_c=T_C)
    assert analysis.flow_for_linking(walkers(0.0), params) is None
    assert analysis.flow_for_linking(walkers(0.5), params) is None
    flow = analysis.flow_for_linking(walkers(6.0), params)
    assert flow is not None
    np.testing.assert_allclose(flow.iloc[-1].to_numpy() / 149, [6.0, 6.0], rtol=0.03)
    tracks = link.link_features(walkers(6.0), 10.0, flow=flow)
    assert tracks.groupby("particle").size().max() == 150  # each walker one track
    np.testing.assert_array_equal(  # with its measured positions
        tracks.sort_values(["frame", "y"])[["y", "x"]].to_numpy(),
        walkers(6.0).sort_values(["frame", "y"])[["y", "x"]].to_numpy(),
    )


def test_a_flow_the_linking_free_estimate_misses_is_found_in_the_tracks_drift():
    """Walkers with 2.5 px steps per axis and a common 4 px per frame: the displacements of
    pairs of localizations show no peak away from rest, but the tracks of a first linking
    drift by it; a walker at rest, or drifting half a pixel per frame, gives no flow."""
    rng = np.random.default_rng(4)
    start = rng.uniform(0, 200, (40, 2))
    steps = rng.normal(0, 2.5, (150, 40, 2))
    params = AnalysisParams(
        pixel_size_um=0.1, frame_interval_s=DT, exposure_s=DT, temperature_c=T_C
    )

    def tracked(px_per_frame: float) -> pd.DataFrame | None:
        paths = start + np.cumsum(steps, axis=0)
        paths[..., 1] += px_per_frame * np.arange(150)[:, None]
        y, x = paths.reshape(-1, 2).T
        walkers = pd.DataFrame(
            {"frame": np.repeat(np.arange(150), 40), "y": y, "x": x, "mass": 1e3}
        )
        search_range = analysis.suggest_search_range_px(walkers, params.memory).search_range_px
        tracks = link.link_features(walkers, search_range, params.memory)
        if px_per_frame > 1:
            np.testing.assert_array_equal(link.common_flow_px(walkers), [0.0, 0.0])
        return analysis.tracked_flow(tracks, walkers, params)

    assert tracked(0.0) is None
    assert tracked(0.5) is None
    flow = tracked(4.0)
    assert flow is not None
    np.testing.assert_allclose(flow.iloc[-1].to_numpy() / 149, [0.0, 4.0], atol=0.12)


def test_the_search_range_is_measured_in_the_refined_flow_not_the_uniform_one():
    """A flow speeding up from 3 to 9 px per frame: in the frame of its uniform part the steps
    look wider than the walkers' own 1.5 px (the pilot that links the tracks refining the flow
    measures them there), so the result's range is measured again in the refined flow's frame:
    5 rms steps of the walkers (7.5 px), not the uniform frame's 10.5 px."""
    rng = np.random.default_rng(4)
    n, n_frames = 40, 300
    start = rng.uniform(0, 300, (n, 2))
    steps = rng.normal(0, 1.5, (n_frames, n, 2))
    flow = np.cumsum(np.linspace(3.0, 9.0, n_frames))
    y, x = (start + np.cumsum(steps, axis=0) + flow[:, None, None]).reshape(-1, 2).T
    walkers = pd.DataFrame(
        {"frame": np.repeat(np.arange(n_frames), n), "y": y, "x": x, "mass": 1e3}
    )
    params = AnalysisParams(
        pixel_size_um=0.1, frame_interval_s=DT, exposure_s=DT, temperature_c=T_C
    )
    uniform = np.linspace(0.0, flow[-1] - flow[0], n_frames)
    in_uniform_frame = link.without_flow(
        walkers, pd.DataFrame({"y": uniform, "x": uniform}, index=np.arange(n_frames))
    )
    wanted = analysis.SEARCH_RANGE_RMS_STEPS * 1.5
    widened = analysis.suggest_search_range_px(in_uniform_frame, params.memory).search_range_px
    assert widened > 1.3 * wanted
    result = analysis.analyze_localizations(walkers, n_frames, params)
    assert result.params.search_range_px == pytest.approx(wanted, rel=0.1)


def _walkers(n: int) -> pd.DataFrame:
    """200 frames of ``n`` random walkers with 3 px steps per axis in a 100 x 100 px torus."""
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 100, (n, 2))
    frames = []
    for frame in range(200):
        positions = (positions + rng.normal(0, 3.0, positions.shape)) % 100
        frames.append(
            pd.DataFrame({"frame": frame, "y": positions[:, 0], "x": positions[:, 1], "mass": 1e3})
        )
    return pd.concat(frames)


def test_a_field_too_crowded_for_a_wider_pilot_keeps_the_last_pilot_that_linked():
    """150 walkers: at the doubled pilot range more tracks than the linker's limit compete for
    the same localizations; the suggestion falls back to the narrower pilot and says so."""
    search_range, limited, _ = analysis.suggest_search_range_px(_walkers(150), memory=0)
    assert limited and 3.0 <= search_range < 10.0


def test_a_range_beyond_the_nearest_neighbours_is_reported():
    """45 walkers, ~7 px apart: the range of 5 steps (15 px) is found, and flagged because it
    reaches the neighbours."""
    localizations = _walkers(45)
    search_range, limited, measured = analysis.suggest_search_range_px(localizations, memory=0)
    assert measured and search_range == pytest.approx(15.0, rel=0.1)
    assert limited and search_range > analysis.nearest_neighbour_spacing_px(localizations)


def _walkers_that_leave(leave: float) -> pd.DataFrame:
    """200 frames of 25 walkers (3 px steps per axis, 200 x 200 px torus) each of which leaves
    the view with probability ``leave`` per frame, a newcomer appearing anywhere instead (as in
    a thin focal layer); 5 % of the localizations missed."""
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 200, (25, 2))
    frames = []
    for frame in range(200):
        positions = (positions + rng.normal(0, 3.0, positions.shape)) % 200
        gone = rng.uniform(size=len(positions)) < leave
        positions[gone] = rng.uniform(0, 200, (int(gone.sum()), 2))
        seen = rng.uniform(size=len(positions)) > 0.05
        frames.append(
            pd.DataFrame(
                {"frame": frame, "y": positions[seen, 0], "x": positions[seen, 1], "mass": 1e3}
            )
        )
    return pd.concat(frames)


def test_the_search_range_follows_the_steps_when_particles_come_and_go():
    """A quarter of the walkers leave each frame: a wide pilot joins many that left to
    newcomers, and its median step comes out 10 % large; measured at the range the linker will
    use and without the evenly spread links to unrelated particles, the range is 5 true steps."""
    localizations = _walkers_that_leave(0.25)
    search_range, limited, _ = analysis.suggest_search_range_px(localizations, memory=3)
    assert not limited and search_range == pytest.approx(15.0, rel=0.05)
    wide_pilot = analysis.SEARCH_RANGE_RMS_STEPS * analysis._pilot_rms_step_px(localizations, 30.0)
    assert wide_pilot > 1.08 * 15.0


def test_unrelated_links_are_taken_out_of_the_step_size():
    """Gaussian steps (3 px per axis) with 0, 5 and 12 % of links to points spread evenly over
    the 15 px range: the step size within 3 %, where the plain median grows by up to 7 %."""
    rng = np.random.default_rng(1)
    for share in (0.0, 0.05, 0.12):
        unrelated = int(share * 4000)
        brownian = (rng.normal(0, 3.0, (4000 - unrelated, 2)) ** 2).sum(axis=1)
        squared = np.concatenate(
            (brownian[brownian <= 15.0**2], 15.0**2 * rng.uniform(size=unrelated))
        )
        rms = analysis._rms_step_without_unrelated_links(squared, 15.0)
        assert rms == pytest.approx(3.0, rel=0.03)
        plain = np.sqrt(np.median(squared) / (2 * np.log(2)))
        assert plain > 3.0 * (0.99 + 0.4 * share)  # the contamination the correction removes


@pytest.mark.slow
def test_short_tracks_of_one_population_give_one_peak_at_the_true_size():
    """100 nm particles crossing a 1.5 µm focal layer (tracks of about a dozen frames; the
    bench_accuracy 'short tracks' movie, seed 0): one significant peak within 10 % of the truth
    and the ensemble within 3 %. Ensemble -1.9 %; the peak lay at 120 nm while the Gamma model
    took the steps for Gaussian (their squares scatter 1.5 times as much here), now 105 nm
    (seeds 1-5: 102, 100, 100, 100, 95 nm; docs/accuracy.md, "Short tracks' peak (t8-short)").
    Before the pilot's range was fixed: -6 %, peaks at 137 and 75 nm."""
    settings = simulate.SimulationSettings(
        shape=(256, 256),
        n_particles=30,
        populations=(simulate.Population(100.0),),
        pixel_size_um=0.166,
        frame_interval_s=1 / 30,
        brightness_at_100nm=4000.0,
        focal_depth_um=1.5,
        seed=0,
    )
    sim = simulate.simulate_movie(603, settings)
    movie = Movie(frames=sim.frames, metadata=sim.metadata, source="short tracks")
    summary = analysis.analyze(movie, AnalysisParams.from_metadata(movie.metadata)).summary
    assert summary["diameter_nm"] == pytest.approx(100.0, rel=0.03)
    peaks = summary["deconvolved_nm"]["peaks"]
    assert len(peaks) == 1 and peaks[0] == pytest.approx(100.0, rel=0.1)


@pytest.mark.parametrize("seed", [5, 6])
def test_mixture_fractions_count_the_dim_population_against_the_truth(seed):
    """80 + 200 nm (1:1, brightness ∝ d²) at 30 fps: the share of the 80 nm tracks is that of
    the true tracks, and the share of the particles in view that of the simulated particles.
    One EM over all tracks gave the dim tracks to the 200 nm peak (0.51 here for a true share
    of 0.65, seed 5). Weighting tracks by the frames they span alone counted the particles in
    view 0.04 and 0.06 short (0.51 / 0.55, 0.43 / 0.49): the dim particles are missed in some
    frames, and the pieces of their cut tracks too short to size were not counted."""
    settings = simulate.SimulationSettings(
        shape=(192, 192),
        n_particles=20,
        populations=(simulate.Population(80.0), simulate.Population(200.0)),
        pixel_size_um=0.166,
        frame_interval_s=1 / 30,
        brightness_at_100nm=4000.0,
        brightness_exponent=2.0,
        seed=seed,
    )
    sim = simulate.simulate_movie(450, settings)
    movie = Movie(frames=sim.frames, metadata=sim.metadata, source="80 + 200 nm")
    result = analysis.analyze(movie, AnalysisParams.from_metadata(sim.metadata))
    params = result.params
    split = math.sqrt(80.0 * 200.0)
    margin = params.diameter_px // 2
    true_tracks = sim.true_track_diameters(margin, params.memory, params.min_track_length)
    in_view = sim.diameters_nm.loc[sim.truth["particle"][sim.in_field(margin)]].to_numpy()
    sizes = result.summary["deconvolved_nm"]
    assert min(sizes["peaks"]) == pytest.approx(80.0, rel=0.15)
    assert max(sizes["peaks"]) == pytest.approx(200.0, rel=0.15)
    small = [diameter < split for diameter in sizes["peaks"]]
    track_share = sum(f for s, f in zip(small, sizes["peak_fractions"], strict=True) if s)
    assert track_share == pytest.approx(np.mean(true_tracks < split), abs=0.06)
    number_share = sum(f for s, f in zip(small, sizes["peak_number_fractions"], strict=True) if s)
    assert number_share == pytest.approx(np.mean(in_view < split), abs=0.04)
    assert all(0 < se < 0.1 for se in sizes["peak_number_fraction_se"])
    # each peak carries the systematic terms of its own population: the small, fast particles'
    # peak moves more when they are linked again, and each interval holds its true size
    linking = dict(zip(small, sizes["peak_systematic_parts"]["linking"], strict=True))
    assert linking[True] > linking[False]
    for peak, truth, (low, high) in zip(
        sizes["peaks"],
        (80.0 if s else 200.0 for s in small),
        sizes["peak_interval_68"],
        strict=True,
    ):
        assert low <= truth <= high, (peak, truth, low, high)


def with_spots(movie: Movie, spots: np.ndarray, image: np.ndarray) -> Movie:
    """``movie`` with ``image`` (a small float window, centred) added at every (row, column) of
    ``spots`` in every frame."""
    frames = np.array(movie.frames).astype(np.float64)
    half = image.shape[0] // 2
    for row, col in spots:
        frames[:, row - half : row + half + 1, col - half : col + half + 1] += image
    pixels = np.clip(np.rint(frames), 0, 65535).astype(np.uint16)
    return dataclasses.replace(movie, frames=da.from_array(pixels, chunks=(16, *pixels.shape[1:])))


def spot_positions(count: int, shape: int, seed: int) -> np.ndarray:
    """``count`` distinct positions at least 8 px from the edges and 10 px from each other."""
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    while len(chosen) < count:
        candidate = rng.integers(8, shape - 8, size=2)
        if all(np.hypot(*(candidate - other)) >= 10 for other in chosen):
            chosen.append(candidate)
    return np.array(chosen)


def test_hot_pixels_are_repaired_before_detection():
    """Hot pixels (one pixel far above its neighbours in every frame, as on most real cameras)
    were features that never move: linked, they made a 100 nm movie 280 nm (independent
    simulator: 55-76 um), and a passing particle lost its place as the local maximum to them.
    They are found in the movie's median image (a spot one pixel wide) and replaced by their
    neighbours' median in every frame before detection; the warning counts them."""
    movie, _ = simulated(100.0, n_frames=150, shape=(128, 128), n_particles=20, seed=3)
    hot = with_spots(movie, spot_positions(16, 128, 0), np.array([[400.0]]))
    summary = analysis.analyze(hot, AnalysisParams.from_metadata(movie.metadata)).summary
    clean = analysis.analyze(movie, AnalysisParams.from_metadata(movie.metadata)).summary
    assert any(text.startswith("16 hot pixels") for text in summary["warnings"])
    assert summary["diameter_nm"] == pytest.approx(clean["diameter_nm"], rel=0.02)
    assert summary["diameter_nm"] == pytest.approx(100.0, rel=0.08)


def test_particles_stuck_in_place_are_left_out_and_reported():
    """A particle stuck to the window (a PSF-wide spot in every frame, not a hot pixel) is not
    diffusing: its features are left out and counted in a warning."""
    movie, _ = simulated(100.0, n_frames=150, shape=(128, 128), n_particles=20, seed=3)
    offsets = np.arange(-3, 4)
    psf = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.3**2))
    stuck = with_spots(movie, spot_positions(6, 128, 1), 3000.0 * psf / psf.sum())
    summary = analysis.analyze(stuck, AnalysisParams.from_metadata(movie.metadata)).summary
    assert not any("hot pixels (single pixels" in text for text in summary["warnings"])
    assert any(text.startswith("6 fixed bright spots") for text in summary["warnings"])
    assert summary["diameter_nm"] == pytest.approx(100.0, rel=0.08)


def test_tracks_of_stuck_particles_are_left_out_of_a_live_summary():
    """The live linker links everything the locators find, stuck particles too: the live
    summary (summarize_tracks on tracks alone) leaves their tracks out and warns, as
    pynta analyze does before linking, instead of sizing spots that never move."""
    movie, _ = simulated(100.0, n_frames=150, shape=(128, 128), n_particles=20, seed=3)
    offsets = np.arange(-3, 4)
    psf = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.3**2))
    stuck = with_spots(movie, spot_positions(6, 128, 1), 3000.0 * psf / psf.sum())
    params = AnalysisParams.from_metadata(movie.metadata)
    params = analysis.with_detection(params, analysis.detection_threshold(stuck.frames, params))
    localizations = analysis.detect_frames(stuck.frames, params)
    tracks = link.link_features(localizations, 8.0, params.memory)
    result = analysis.summarize_tracks(tracks, params, n_frames=150, frame_shape=(128, 128))
    assert any(text.startswith("6 fixed bright spots") for text in result.summary["warnings"])
    assert result.summary["diameter_nm"] == pytest.approx(100.0, rel=0.08)


@pytest.mark.parametrize(
    ("movie", "params", "named"),
    [
        ("movie.zarr", None, "movie must be a movie with frames"),
        (np.zeros((20, 32, 32), np.uint16), None, "movie must be a movie with frames"),
        (None, {"pixel_size_um": 0.1}, "params must be an AnalysisParams"),
        (None, None, "params must be an AnalysisParams"),
    ],
)
def test_analyze_names_arguments_of_the_wrong_type(movie, params, named):
    """The public API says what it takes instead of failing on a missing attribute."""
    good = Movie(frames=da.zeros((20, 32, 32), dtype=np.uint16), metadata={}, source="x")
    valid = AnalysisParams(pixel_size_um=0.2, frame_interval_s=DT, exposure_s=DT, temperature_c=T_C)
    movie = good if movie is None else movie
    params = valid if params is None and "params" not in named else params
    with pytest.raises(PyntaInputError, match=named):
        analysis.analyze(movie, params)
    with pytest.raises(PyntaInputError, match="metadata must be a mapping"):
        AnalysisParams.from_metadata(None)
