"""HTML report and NanoSight-style CSV exports of a real analysis of a simulated mixture."""

from __future__ import annotations

import base64
import copy
import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from napari_pynta.deconvolve import SizeDistribution, diameter_grid
from napari_pynta.errors import PyntaInputError
from napari_pynta.export import (
    BIN_CENTRE,
    BIN_END,
    BIN_LABEL,
    BIN_START,
    CONCENTRATION,
    CONCENTRATION_IN_BIN,
    DECONVOLVED_COUNT,
    NO_SIZE,
    NUMBER_FRACTION,
    RAW_COUNT,
    VOLUME_FRACTION,
    SizeGrid,
    bin_fractions,
    particle_data_table,
    size_distribution_table,
    write_csv_exports,
)
from napari_pynta.report import plain_warnings, render_report, write_pdf_report, write_report
from napari_pynta.sample import attach_sample

DEPTH_UM = 4.0


@pytest.fixture(scope="module")
def analysed():
    """A 100 + 200 nm mixture analysed with a detection depth, and the same without it."""
    import dask.array as da

    from napari_pynta import __version__
    from napari_pynta.analysis import AnalysisParams, analyze, analyze_localizations
    from napari_pynta.readers import Movie
    from napari_pynta.simulate import Population, SimulationSettings, simulate_movie

    settings = SimulationSettings(
        shape=(192, 192),
        n_particles=25,
        seed=3,
        populations=(Population(100.0, 0.5), Population(200.0, 0.5)),
    )
    simulated = simulate_movie(300, settings)
    movie = Movie(
        frames=da.from_array(simulated.frames), metadata=simulated.metadata, source="mixture.zarr"
    )
    with_depth = analyze(
        movie, AnalysisParams.from_metadata(movie.metadata, engine="fast", depth_um=DEPTH_UM)
    )
    without_depth = analyze_localizations(
        with_depth.localizations,
        len(simulated.frames),
        dataclasses.replace(with_depth.params, depth_um=None),
        source=movie.source,
        frame_shape=settings.shape,
    )
    return {"with_depth": with_depth, "without_depth": without_depth, "version": __version__}


def test_summary_holds_deconvolved_sizes_and_concentration(analysed):
    summary = analysed["with_depth"].summary
    deconvolved = summary["deconvolved_nm"]
    for key in ("mean", "mode", "sd", "d10", "d50", "d90", "span"):
        assert deconvolved[key] > 0
    assert deconvolved["d10"] < deconvolved["d50"] < deconvolved["d90"]
    assert isinstance(deconvolved["peaks"], list) and deconvolved["peaks"]
    assert summary["size_nm"]["n"] > 0  # the raw distribution is kept too
    concentration = summary["concentration"]
    volume_ml = 192 * 192 * 0.1**2 * DEPTH_UM * 1e-12
    assert concentration["detection_volume_ml"] == pytest.approx(volume_ml)
    # the volume holds the particles in view: those found and those a closer neighbour hid
    in_view = concentration["particles_in_view_per_frame"]
    hidden = concentration["hidden_by_neighbours"]
    assert in_view == pytest.approx(concentration["particles_per_frame"] / (1 - hidden))
    assert concentration["particles_per_ml"] == pytest.approx(in_view / volume_ml)
    assert 0 < concentration["particles_per_ml_sem"] < concentration["particles_per_ml"]
    assert analysed["without_depth"].summary["concentration"]["particles_per_ml"] is None


def test_report_is_self_contained_and_readable(analysed, tmp_path):
    result = analysed["with_depth"]
    path = write_report(result, tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    # no external resources: every image is an inline PNG
    assert not re.search(r"(src|href)=['\"](?!data:)", text)
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) == 5  # sizes, concentration by size, size vs brightness, time, lengths
    for image in images:
        assert base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n"
    summary = result.summary
    assert f"napari-pynta {analysed['version']}" in text
    deconvolved = summary["deconvolved_nm"]
    assert f"{deconvolved['d50']:,.1f} ± {deconvolved['d50_se']:,.1f} nm" in text
    low, high = deconvolved["peak_interval_68"][0]  # the main peak's position and its interval
    assert f"{deconvolved['peaks'][0]:,.0f} nm [{low:,.0f}–{high:,.0f}]" in text
    assert low <= deconvolved["peaks"][0] <= high and deconvolved["peak_se"][0] > 0
    assert f"{summary['size_nm']['d50']:,.1f} nm" in text
    assert "particles/mL" in text and "Exposure time" in text and "10.00 ms" in text
    for warning in plain_warnings(result):
        assert warning.replace("&", "&amp;") in text
    assert "Concentration by size" in text and "Particles per frame over time" in text


def test_report_shows_the_sample_and_a_pdf_has_the_same_content(analysed, tmp_path):
    result = dataclasses.replace(analysed["with_depth"])
    result.summary = attach_sample(
        copy.deepcopy(result.summary),
        {"sample_name": "Beads <A>", "operator": "F. Lab", "dilution_factor": 50},
    )
    result.summary["recording"] = {"camera": "simulated", "gain": 2.0, "start_time": "2026-11-30"}
    text = write_report(result, tmp_path / "report.html").read_text(encoding="utf-8")
    for row in ("<td>Sample</td><td>Beads &lt;A&gt;</td>", "<td>Operator</td><td>F. Lab</td>"):
        assert row in text
    assert "<td>Dilution factor</td><td>50</td>" in text
    assert "<td>Camera</td><td>simulated</td>" in text and "<td>Recorded</td><td>2026-11-30" in text
    pdf = write_pdf_report([result], tmp_path / "report.pdf").read_bytes()
    # summary page, size distribution, concentration by size, size vs brightness, time
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type /Page\b", pdf)) == 5


def test_plain_warnings_speak_of_missing_depth_and_several_populations(analysed):
    without = plain_warnings(analysed["without_depth"])
    assert any("--depth-um" in warning for warning in without)
    assert not any("--depth-um" in warning for warning in plain_warnings(analysed["with_depth"]))
    if len(analysed["with_depth"].summary["deconvolved_nm"]["peaks"]) > 1:
        assert any("more than one population" in w for w in plain_warnings(analysed["with_depth"]))


def test_report_of_an_analysis_without_tracks():
    class Empty:
        summary = {
            "n_tracks": 0,
            "warnings": ["No tracks were found."],
            "size_nm": {},
            "deconvolved_nm": None,
            "concentration": None,
            "params": {},
        }
        per_track = pd.DataFrame({"diameter_nm": [], "n_steps": []})
        sizes = None

    text = render_report(Empty())
    assert "No tracks were long enough to size." in text
    assert "No tracks were found." in text


def test_write_report_rejects_bad_paths(analysed, tmp_path):
    # the core names the report, not a command-line flag (the Sizes widget calls it too)
    with pytest.raises(PyntaInputError, match="^report must name an .html file") as error:
        write_report(analysed["with_depth"], tmp_path / "report.pdf")
    assert error.value.field == "report"
    with pytest.raises(PyntaInputError, match="does not exist"):
        write_report(analysed["with_depth"], tmp_path / "missing" / "report.html")
    (tmp_path / "notes").write_text("a file")  # was said not to exist
    with pytest.raises(PyntaInputError, match="'.*notes' is a file, not a folder"):
        write_report(analysed["with_depth"], tmp_path / "notes" / "report.html")
    (tmp_path / "report.pdf").mkdir()  # the PDF beside it: refused before the analysis too
    with pytest.raises(PyntaInputError, match="report.pdf' is a folder"):
        write_report(analysed["with_depth"], tmp_path / "report.html")
    with pytest.raises(PyntaInputError, match="AnalysisResult"):
        render_report(object())


def test_bin_fractions_of_a_known_distribution():
    grid = diameter_grid(10, 2000, 200)
    weights = np.exp(-0.5 * ((np.log(grid) - np.log(150)) / 0.2) ** 2)
    distribution = SizeDistribution(grid, weights / weights.sum(), n_tracks=100, log_likelihood=0.0)
    fractions = bin_fractions(distribution, np.array([0.0, 150.0, 3000.0]))
    assert fractions == pytest.approx([0.5, 0.5], abs=0.01)


def test_size_distribution_on_the_fixed_grid_counts_every_track(analysed):
    result = analysed["with_depth"]
    extra = result.per_track.iloc[:2].assign(diameter_nm=[2500.0, np.nan])  # beyond, none
    per_track = pd.concat([result.per_track, extra], ignore_index=True)
    per_ml = 1.0e9
    table = size_distribution_table(per_track, result.sizes.deconvolved, particles_per_ml=per_ml)
    assert len(table) == 2000 + 2  # 1 nm bins to 2000 nm, overflow, no size
    np.testing.assert_array_equal(table[BIN_START][:2000], np.arange(2000.0))
    assert list(table[BIN_LABEL][[0, 2000, 2001]]) == ["0-1", ">=2000", NO_SIZE]
    sizes = per_track["diameter_nm"]
    assert table[RAW_COUNT].sum() == len(per_track)  # every track is counted once
    assert table[RAW_COUNT].iloc[-2] == int((sizes >= 2000).sum()) >= 1
    assert table[RAW_COUNT].iloc[-1] == int(sizes.isna().sum()) >= 1
    assert table[RAW_COUNT].iloc[100] == int(((sizes >= 100) & (sizes < 101)).sum())
    # (bins below 1e-9 of the distribution are written as 0: at most 2000e-9 is lost)
    assert table[DECONVOLVED_COUNT].sum() == pytest.approx(len(per_track), abs=1e-4)
    assert table[NUMBER_FRACTION].sum() == pytest.approx(1.0, abs=1e-5)
    assert table[VOLUME_FRACTION].sum() == pytest.approx(1.0, abs=1e-5)
    # concentration per nm x bin width, summed, is the concentration (1 nm bins)
    assert table[CONCENTRATION].sum() == pytest.approx(
        per_ml * (1 - table[NUMBER_FRACTION].iloc[-2]), rel=1e-5
    )
    assert table[CONCENTRATION_IN_BIN].sum() == pytest.approx(per_ml, rel=1e-5)
    # volume weighting: the fraction above 150 nm equals sum(w d^3) over the deconvolution grid
    grid, weights = result.sizes.deconvolved.diameter_nm, result.sizes.deconvolved.weights
    above = grid > 150
    expected = np.sum(weights[above] * grid[above] ** 3) / np.sum(weights * grid**3)
    measured = table[VOLUME_FRACTION][:2000][table[BIN_START][:2000] >= 150].sum()
    assert measured == pytest.approx(expected, abs=0.03)
    assert measured > table[NUMBER_FRACTION][:2000][table[BIN_START][:2000] >= 150].sum()


def test_size_grid_is_configurable_and_checked(analysed):
    per_track = analysed["with_depth"].per_track
    table = size_distribution_table(per_track, None, SizeGrid(5.0, 500.0))
    assert len(table) == 100 + 2 and table[BIN_END][99] == 500.0
    assert list(table.columns) == [BIN_LABEL, BIN_START, BIN_END, BIN_CENTRE, RAW_COUNT]
    assert table[RAW_COUNT].sum() == len(per_track)
    with pytest.raises(PyntaInputError, match="whole number"):
        SizeGrid(3.0, 1000.0)
    with pytest.raises(PyntaInputError, match="--bin-width-nm"):
        SizeGrid(0.0, 1000.0)


def test_particle_data_csv_has_nanosight_names_and_units(analysed, tmp_path):
    result = analysed["with_depth"]
    written = write_csv_exports(result, tmp_path)
    assert [path.name for path in written] == [
        "size_distribution.csv",
        "particle_data.csv",
        "nta_summary.csv",
    ]
    table = pd.read_csv(written[1])
    assert list(table.columns[:7]) == [
        "Particle ID",
        "Size/nm",
        "Diffusion coefficient/nm^2 s^-1",
        "Ln(Adjusted intensity)",
        "Start frame",
        "Tracklength",
        "Included in distribution?",
    ]
    per_track = result.per_track
    assert len(table) == len(per_track)
    np.testing.assert_allclose(table["Size/nm"], per_track["diameter_nm"], rtol=1e-5)
    np.testing.assert_allclose(
        table["Diffusion coefficient/nm^2 s^-1"], 1e6 * per_track["D_um2_s"], rtol=1e-5
    )
    first = result.tracks.groupby("particle")["frame"].min()
    np.testing.assert_array_equal(table["Start frame"], first.loc[per_track["particle"]])
    mass = result.tracks.groupby("particle")["mass"].mean()
    np.testing.assert_allclose(
        table["Ln(Adjusted intensity)"], np.log(mass.loc[per_track["particle"]]), rtol=1e-5
    )
    np.testing.assert_array_equal(table["Tracklength"], per_track["n_frames"])
    assert table["Included in distribution?"].sum() == result.sizes.deconvolved.n_tracks


def test_summary_csv_lists_the_settings(analysed, tmp_path):
    result = analysed["with_depth"]
    table = pd.read_csv(write_csv_exports(result, tmp_path)[2])
    values = dict(
        zip(table["Field"] + " [" + table["Unit"].fillna("") + "]", table["Value"], strict=True)
    )
    params = result.summary["params"]
    assert float(values["Frame rate [frames/s]"]) == pytest.approx(1 / params["frame_interval_s"])
    assert float(values["Max jump distance [px]"]) == pytest.approx(params["search_range_px"])
    assert float(values["Temperature [degC]"]) == params["temperature_c"]
    assert float(values["Frames analysed []"]) == result.summary["n_frames"]
    assert float(values["Dilution factor []"]) == 1.0
    # the particles in view are corrected for both losses, and the summary says by how much
    concentration = result.summary["concentration"]
    assert float(values["Hidden by a neighbour [fraction]"]) == pytest.approx(
        concentration["hidden_by_neighbours"]
    )
    assert float(values["Missed below the threshold [fraction]"]) == pytest.approx(
        concentration["missed_below_threshold"], abs=1e-12
    )
    assert float(values["D50 (deconvolved) [nm]"]) == pytest.approx(
        result.summary["deconvolved_nm"]["d50"], rel=1e-6
    )


def test_exports_reject_bad_input(analysed, tmp_path):
    per_track = analysed["with_depth"].per_track
    with pytest.raises(PyntaInputError, match="diameter_nm"):
        size_distribution_table(per_track.drop(columns="diameter_nm"), None)
    with pytest.raises(PyntaInputError, match="sigma_um"):
        particle_data_table(per_track.drop(columns="sigma_um"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PyntaInputError, match="export folder"):
        write_csv_exports(analysed["with_depth"], blocker / "sub")


def test_pynta_analyze_writes_json_report_and_csvs(tmp_path, capsys):
    """`pynta analyze --json --report --depth-um --out` on a simulated store."""
    import json

    from napari_pynta.cli import main

    store = tmp_path / "movie.zarr"
    assert (
        main(
            [
                "simulate",
                str(store),
                "--diameter-nm",
                "100",
                "200",
                "--frames",
                "200",
                "--particles",
                "25",
                "--shape",
                "160",
                "160",
                "--seed",
                "2",
            ]
        )
        == 0
    )
    capsys.readouterr()
    report, out = tmp_path / "r.html", tmp_path / "results"
    assert (
        main(
            [
                "analyze",
                str(store),
                "--json",
                "--engine",
                "fast",
                "--no-save",
                "--depth-um",
                "4",
                "--report",
                str(report),
                "--out",
                str(out),
                "--reference-per-ml",
                "2e10",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["deconvolved_nm"]["peaks"] and summary["size_nm"]["n"] > 0
    concentration = summary["concentration"]
    assert concentration["depth_um"] == 4.0
    assert concentration["particles_per_ml"] > 0
    # the movie as a reference of 2e10 /mL: depth = particles in view per frame / (2e10 /mL x
    # area), the count its concentration is computed from
    area_um2 = 160 * 160 * 0.1**2
    assert concentration["calibrated_depth_um"] == pytest.approx(
        concentration["particles_in_view_per_frame"] / (2e10 * area_um2 * 1e-12)
    )
    assert concentration["calibrated_depth_sem_um"] > 0
    assert "Nanoparticle size report" in report.read_text(encoding="utf-8")
    assert {"size_distribution.csv", "particle_data.csv", "nta_summary.csv"} <= {
        p.name for p in out.iterdir()
    }


def test_pynta_analyze_checks_the_report_path_before_analysing(tmp_path, capsys):
    from napari_pynta.cli import main

    assert (
        main(["analyze", str(tmp_path / "missing.zarr"), "--report", str(tmp_path / "report.txt")])
        == 2
    )
    assert "--report must name an .html file" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "missing.zarr"), "--reference-per-ml", "-1"]) == 2
    assert "--reference-per-ml must be > 0" in capsys.readouterr().err


def test_the_replicate_figure_of_captures_that_none_sized_draws_no_empty_legend(recwarn):
    """Two unsized captures printed matplotlib's "No artists with labels found" warning."""
    from types import SimpleNamespace

    from napari_pynta.report_figures import REPLICATE_STATISTICS, replicate_figure

    unsized = [
        SimpleNamespace(summary={"source": f"c{i}.zarr", "deconvolved_nm": None}) for i in (1, 2)
    ]
    empty = {key: {"mean": None, "se": None, "n": 0} for key, _, _ in REPLICATE_STATISTICS}
    figure = replicate_figure(unsized, empty)
    assert figure.axes[0].get_legend() is None
    assert not [w for w in recwarn if "legend" in str(w.message)]
