"""Replicate captures sized together (napari_pynta.pooled): the pooled tracks are exactly the
captures' own tracks, none joins two captures, steps across lost frames keep their time, and
captures that would give one size two sets of steps are refused with the reason."""

from __future__ import annotations

import dataclasses
import json
import math

import dask.array as da
import numpy as np
import pandas as pd
import pytest

from napari_pynta import analysis, simulate
from napari_pynta.pooled import POOL_GAP_FRAMES, pool_captures, pooled_entry
from napari_pynta.readers import Movie

#: the true diameter of the simulated captures
TRUE_NM = 100.0


def capture(seed: int, frame_numbers: np.ndarray | None = None) -> Movie:
    """A small simulated capture of 100 nm particles."""
    settings = simulate.SimulationSettings(shape=(96, 96), n_particles=12, seed=seed)
    movie = simulate.simulate_movie(150, settings)
    return Movie(
        da.from_array(movie.frames), movie.metadata, f"capture-{seed}", None, [], frame_numbers
    )


@pytest.fixture(scope="module")
def captures() -> tuple[list[Movie], list[analysis.AnalysisResult]]:
    """Three captures, the second with lost frames (every 25th missing), analysed each with
    the same search range."""
    lost = np.flatnonzero(np.arange(156) % 25 != 24)[:150]
    movies = [capture(1), capture(2, lost), capture(3)]
    results = []
    for movie in movies:
        params = analysis.AnalysisParams.from_metadata(movie.metadata, search_range_px=12.0)
        results.append(analysis.analyze(movie, params))
    return movies, results


def test_pooled_tracks_are_the_captures_own(captures):
    movies, results = captures
    pooled = pool_captures(results, [movie.frame_numbers for movie in movies])
    assert pooled.reason is None and pooled.result is not None
    summary = pooled.result.summary
    own = [result.summary["n_tracks"] for result in results]
    assert min(own) > 5
    assert abs(summary["n_tracks"] - sum(own)) <= 0.05 * sum(own)
    assert summary["n_frames"] == sum(result.summary["n_frames"] for result in results)

    # the same tracks: a pooled track is one of a capture's, point for point (the linker,
    # which learns the steps as it goes, may link an ambiguous one otherwise: 1 of 121 here)
    def tracks_of(tables: list) -> set[tuple]:
        return {
            (len(track), *np.round(track[["y", "x"]].to_numpy()[[0, -1]].ravel(), 6))
            for table in tables
            for _, track in table.sort_values("frame").groupby("particle")
        }

    shared = tracks_of([pooled.result.tracks]) & tracks_of([r.tracks for r in results])
    assert len(shared) >= 0.95 * sum(own)
    # the second capture is numbered by its acquisition (lost frames keep their time), after
    # the first and a gap
    second = 150 + POOL_GAP_FRAMES + movies[1].frame_numbers
    frames = pooled.result.tracks["frame"].to_numpy()
    inside = frames[(frames >= second[0]) & (frames <= second[-1])]
    assert inside.size and np.isin(inside, second).all()
    # no track joins two captures: each lies within one capture's span of pooled frames
    spans = pooled.result.tracks.groupby("particle")["frame"].agg(["min", "max"])
    assert (spans["max"] - spans["min"]).max() < 160 < POOL_GAP_FRAMES
    # and the size of all the tracks is the true one, within its stated uncertainty
    error = summary["diameter_nm"] - TRUE_NM
    assert abs(error) < 3 * summary["diameter_uncertainty_nm"]
    assert summary["diameter_uncertainty_nm"] < 0.2 * TRUE_NM


def test_captures_that_diffuse_differently_are_not_pooled(captures):
    movies, results = captures
    warm = dataclasses.replace(
        results[1], params=dataclasses.replace(results[1].params, temperature_c=30.0)
    )
    entry = pooled_entry([results[0], warm], movies[:2])
    assert entry["n_captures"] == 2 and "n_tracks" not in entry
    assert "differ by" in entry["reason"] and "temperatures 22.0, 30.0 °C" in entry["reason"]
    # half a degree apart is 1.3 % in kT/η: pooled at the mean temperature
    close = dataclasses.replace(
        results[1], params=dataclasses.replace(results[1].params, temperature_c=22.5)
    )
    assert pool_captures([results[0], close]).result.params.temperature_c == pytest.approx(22.25)
    wider = dataclasses.replace(
        results[1], params=dataclasses.replace(results[1].params, pixel_size_um=0.12)
    )
    reason = pool_captures([results[0], wider]).reason
    assert reason == "the captures differ in pixel_size_um 0.1, 0.12"
    assert pool_captures(results[:1]).reason == "pooling needs at least two captures, got 1"


def test_frame_intervals_measured_apart_in_their_last_digits_are_pooled(captures):
    """Each capture's frame times give its interval (napari_pynta.timing): one camera's
    captures differ in the last digits (0.0102989 and 0.0102994 s refused pooling) and are
    pooled at the mean; intervals 5 % apart are not."""
    _, results = captures
    own = results[1].params

    def timed(factor: float) -> analysis.AnalysisResult:
        params = dataclasses.replace(
            own,
            frame_interval_s=own.frame_interval_s * factor,
            exposure_s=own.exposure_s * factor,
        )
        return dataclasses.replace(results[1], params=params)

    pooled = pool_captures([results[0], timed(1.00005)])
    assert pooled.reason is None
    assert pooled.result.params.frame_interval_s == pytest.approx(own.frame_interval_s * 1.000025)
    assert pooled.result.params.exposure_s == pytest.approx(own.exposure_s * 1.000025)
    reason = pool_captures([results[0], timed(1.05)]).reason
    assert reason.startswith("the captures differ in frame_interval_s 0.01, 0.0105 (at most 1 %")
    assert "exposure_s 0.01, 0.0105" in reason


def test_analyze_combine_prints_and_writes_the_pooled_tracks(tmp_path, capsys):
    from napari_pynta.cli import main
    from napari_pynta.store import MovieStore

    paths = []
    for seed in (4, 5):
        settings = simulate.SimulationSettings(shape=(64, 64), n_particles=8, seed=seed)
        movie = simulate.simulate_movie(80, settings)
        path = tmp_path / f"c{seed}.zarr"
        with MovieStore.create(path, (64, 64), movie.frames.dtype, movie.metadata) as store:
            store.append(movie.frames)
        paths.append(str(path))
    flags = ["--combine", "--no-save", "--search-range-px", "12"]
    assert main(["analyze", *paths, *flags, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    pooled = document["combined"]["pooled"]
    assert pooled["reason"] is None and pooled["n_captures"] == 2
    own = sum(c["summary"]["n_tracks"] for c in document["captures"])
    assert abs(pooled["n_tracks"] - own) <= 0.05 * own and own > 0
    assert math.isfinite(pooled["diameter_nm"])
    assert main(["analyze", *paths, *flags, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"pooled: the {pooled['n_tracks']} tracks of the 2 captures sized together" in out
    # --out keeps it too: the last row of summary.csv (it was only printed)
    row = pd.read_csv(tmp_path / "out" / "summary.csv").iloc[-1]
    assert row["movie"] == "pooled (2 captures)" and row["status"] == "ok"
    assert row["n_tracks"] == pooled["n_tracks"]
    assert row["diameter_nm"] == pytest.approx(pooled["diameter_nm"])
    assert row["deconvolved_d50_nm"] == pytest.approx(pooled["deconvolved_nm"]["d50"])


def test_the_pooled_line_names_the_peaks_their_shares_and_their_doubts():
    from napari_pynta.pooled import describe_pooled

    entry = {
        "n_captures": 3,
        "reason": None,
        "n_tracks": 2504,
        "deconvolved_nm": {
            "peaks": [54.2, 101.4],
            "peak_se": [1.2, 2.4],
            "peak_number_fractions": [0.49, 0.51],
            "peak_depends_on_linking": [True, False],
        },
        "warnings": ["The peak at 54 nm depends on the linking: ..."],
    }
    assert describe_pooled(entry) == [
        "pooled: the 2504 tracks of the 3 captures sized together: peaks 54 ± 1 nm (49% of the "
        "particles; depends on the linking), 101 ± 2 nm (51% of the particles) (sizes only: "
        "the concentration is the captures' mean ± SE, not pooled)",
        "warning: The peak at 54 nm depends on the linking: ...",
    ]
    one = entry | {"deconvolved_nm": {"peaks": [99.0], "peak_se": [None]}, "warnings": []}
    assert describe_pooled(one) == [
        "pooled: the 2504 tracks of the 3 captures sized together: peak 99 nm (sizes only: the "
        "concentration is the captures' mean ± SE, not pooled)"
    ]
    refused = {"n_captures": 2, "reason": "the captures differ in pixel_size_um 0.1, 0.12"}
    assert describe_pooled(refused) == [
        "not pooled: the captures differ in pixel_size_um 0.1, 0.12"
    ]
    assert describe_pooled(None) == []


def test_a_capture_without_particles_leaves_the_others_sizes_as_they_are():
    """A capture that found nothing chose its search range from nothing: it must not set the
    pooled one (the median of a 100 nm capture's range and the empty one's sized the pooled
    tracks at 58 nm instead of the capture's own 106 nm)."""
    movie = capture(7)
    empty = Movie(da.zeros_like(movie.frames) + 100, movie.metadata, "empty")
    found, nothing = (
        analysis.analyze(each, analysis.AnalysisParams.from_metadata(each.metadata))
        for each in (movie, empty)
    )
    assert nothing.summary["n_tracks"] == 0 < found.summary["n_tracks"]
    pooled = pool_captures([found, nothing]).result
    assert pooled.params.search_range_px == found.params.search_range_px
    assert pooled.summary["n_tracks"] == found.summary["n_tracks"]
    assert pooled.summary["diameter_nm"] == pytest.approx(found.summary["diameter_nm"], rel=1e-6)


def test_the_pdf_report_gives_the_pooled_line_under_the_settings(captures):
    from napari_pynta.report.pdf import first_page_lines

    movies, results = captures
    entry = pooled_entry(results, movies)
    single = first_page_lines(results[0].summary)
    combined = first_page_lines(results[0].summary, {"pooled": entry})
    assert combined[1:-1] == single  # under the line that says whose settings they are
    assert combined[-1].startswith(f"pooled: the {entry['n_tracks']} tracks of the 3 captures")


@pytest.fixture(scope="module")
def unlike() -> list[analysis.AnalysisResult]:
    """Three captures of one 100 nm sample whose automatic detection differs: the second's
    spots saturate (a brighter illumination), so its diameter is widened to hold them with the
    engines' separation, while the others' diameter holds the motion blur with the sharp
    separation (their localizations with a neighbour in the mask are left out of the sizes);
    and each has its own threshold."""
    results = []
    for seed, brightness in ((1, 3000.0), (2, 8e6), (3, 3000.0)):
        settings = simulate.SimulationSettings(
            shape=(128, 128), n_particles=14, seed=seed, brightness_at_100nm=brightness
        )
        movie = simulate.simulate_movie(300, settings)
        capture = Movie(da.from_array(movie.frames), movie.metadata, f"capture-{seed}")
        params = analysis.AnalysisParams.from_metadata(movie.metadata)
        results.append(analysis.analyze(capture, dataclasses.replace(params, diameter_px=None)))
    return results


def test_the_pooled_sizes_do_not_depend_on_the_order_of_the_captures(unlike):
    """The pooled tracks took the first capture's diameter and separation: with the saturated
    capture first its wide mask left no localization out in any capture (306 tracks, peak
    101.8 nm), with another first the sharp separation left out those of every capture with a
    neighbour within 10 px (298 tracks, 98.6 nm). Each capture's localizations now keep their
    own rule, and the pooled result is the same in any order."""
    diameters = [result.params.diameter_px for result in unlike]
    separations = [result.params.separation for result in unlike]
    assert diameters[1] > diameters[0] == diameters[2] and separations == [8.0, None, 8.0]
    orders = ([0, 1, 2], [1, 2, 0], [2, 0, 1])
    pooled = [pool_captures([unlike[index] for index in order]).result for order in orders]
    first = pooled[0].summary
    for other in (each.summary for each in pooled[1:]):
        assert other["n_tracks"] == first["n_tracks"]
        for key in ("diameter_nm", "diameter_uncertainty_nm"):
            assert other[key] == pytest.approx(first[key], rel=1e-9)
        peaks = [other, first]
        assert peaks[0]["deconvolved_nm"]["peaks"] == pytest.approx(
            peaks[1]["deconvolved_nm"]["peaks"], rel=1e-9
        )
    # the pooled tracks are the captures' own: each left out what its analysis left out
    own = sum(result.summary["n_tracks"] for result in unlike)
    assert abs(first["n_tracks"] - own) <= 2
    assert abs(first["diameter_nm"] - TRUE_NM) < 3 * first["diameter_uncertainty_nm"]
    # the field is the one every capture searched: the widest mask's
    assert pooled[0].params.diameter_px == max(diameters)


def test_the_threshold_term_of_pooled_captures_is_each_captures_own(unlike):
    """The threshold's systematic term compares the tracks far above the detection threshold
    with all of them. Pooled at the highest threshold (the saturated capture's, 3 times the
    others'), every track of the dimmer captures counted as near it, and the term compared
    the captures instead: 2.0 nm where each capture's own is 0."""
    thresholds = [result.params.minmass for result in unlike]
    assert max(thresholds) > 2 * min(thresholds)
    own = [result.summary["systematic_nm"]["threshold"] for result in unlike]
    assert own == [0.0, 0.0, 0.0]
    assert pool_captures(unlike).result.summary["systematic_nm"]["threshold"] == 0.0


def test_captures_linked_with_different_choices_are_not_pooled(captures):
    _, results = captures
    longer = dataclasses.replace(
        results[1], params=dataclasses.replace(results[1].params, memory=5)
    )
    assert pool_captures([results[0], longer]).reason == "the captures differ in memory 3, 5"


def test_the_pooled_line_says_which_labels_and_temperatures_the_captures_mix(captures):
    """The pooled result took the solvent and the detection engine of the first capture (and
    said nothing of the temperatures it averaged): captures in water and in PBS of the same
    viscosity were reported as in water, or in PBS with the captures in the other order. Their
    sizes may be pooled (the solvent enters only through kT/η, checked and averaged), so the
    pooled line names the labels as mixed and the temperatures as averaged."""
    from napari_pynta.pooled import describe_pooled

    movies, results = captures
    own = results[1].params
    pbs = dataclasses.replace(
        results[1],
        params=dataclasses.replace(
            own,
            solvent="PBS",
            viscosity_pa_s=own.resolved_viscosity_pa_s,
            temperature_c=22.5,
            engine="trackpy" if own.engine != "trackpy" else "fast",
        ),
    )
    entries = [pooled_entry(pair, movies[:2]) for pair in ([results[0], pbs], [pbs, results[0]])]
    for entry in entries:
        conditions = entry["conditions"]
        assert conditions["solvent"] == "mixed: PBS, water"
        assert conditions["engine"] == "mixed: fast, trackpy"
        assert conditions["temperature_c"] == pytest.approx(22.25)
        assert sorted(conditions["capture_temperatures_c"]) == [22.0, 22.5]
        (line,) = describe_pooled(entry)
        assert "captures at 22.0 to 22.5 °C sized at their mean 22.2 °C" in line
        assert "mixed solvent: PBS, water" in line and "mixed detection engine" in line
    pooled = pool_captures([pbs, results[0]]).result
    assert pooled.summary["params"]["solvent"] == "mixed: PBS, water"
    # captures alike are named as they are
    alike = pooled_entry(results[:2], movies[:2])
    assert alike["conditions"]["solvent"] == "water"
    assert alike["conditions"]["engine"] == own.engine
    assert (
        "mixed" not in describe_pooled(alike)[0]
        and "sized at their mean" not in (describe_pooled(alike)[0])
    )


def test_the_pooled_warnings_speak_of_the_captures():
    """A pooled result's warnings advise more or longer captures, not a longer movie."""
    from napari_pynta.pooled import MORE_CAPTURES

    positions = np.array([np.nan, 100.0])
    note = analysis.linking_dependent_peak_warning(
        [50.0, 100.0], [True, False], positions, 12.0, MORE_CAPTURES
    )
    assert "Record more or longer captures of the sample and check" in note
    assert "longer movie" not in note
    single = analysis.linking_dependent_peak_warning([50.0, 100.0], [True, False], positions, 12)
    assert "Record a longer movie" in single


def test_the_pooled_tracks_give_no_concentration(captures):
    """Counts stay each capture's (their mean ± SE): with a detection depth the pooled tracks
    gave particles per mL of their own, which no view showed and none should read."""
    _, results = captures
    deep = [
        dataclasses.replace(result, params=dataclasses.replace(result.params, depth_um=5.0))
        for result in results
    ]
    pooled = pool_captures(deep).result
    assert pooled.params.depth_um is None
    assert pooled.summary["concentration"].get("particles_per_ml") is None
