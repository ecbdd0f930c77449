"""HTML report and NanoSight-style CSV exports of a real analysis of a simulated mixture."""

from __future__ import annotations

import base64
import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from napari_pynta.deconvolve import SizeDistribution, diameter_grid
from napari_pynta.errors import PyntaInputError
from napari_pynta.export import (
    BIN_CENTRE,
    CONCENTRATION,
    DECONVOLVED_COUNT,
    RAW_COUNT,
    bin_fractions,
    per_track_table,
    size_distribution_table,
    write_csv_exports,
)
from napari_pynta.report import plain_warnings, render_report, write_report

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
    assert concentration["particles_per_ml"] == pytest.approx(
        concentration["particles_per_frame"] / volume_ml
    )
    assert 0 < concentration["particles_per_ml_sem"] < concentration["particles_per_ml"]
    assert analysed["without_depth"].summary["concentration"]["particles_per_ml"] is None


def test_report_is_self_contained_and_readable(analysed, tmp_path):
    result = analysed["with_depth"]
    path = write_report(result, tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    # no external resources: every image is an inline PNG
    assert not re.search(r"(src|href)=['\"](?!data:)", text)
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) == 2
    for image in images:
        assert base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n"
    summary = result.summary
    assert f"napari-pynta {analysed['version']}" in text
    assert f"{summary['deconvolved_nm']['d50']:,.1f} nm" in text
    assert f"{summary['size_nm']['d50']:,.1f} nm" in text
    assert "particles/mL" in text and "Exposure time" in text and "10.00 ms" in text
    for warning in plain_warnings(result):
        assert warning.replace("&", "&amp;") in text


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
    with pytest.raises(PyntaInputError, match="--report"):
        write_report(analysed["with_depth"], tmp_path / "report.pdf")
    with pytest.raises(PyntaInputError, match="does not exist"):
        write_report(analysed["with_depth"], tmp_path / "missing" / "report.html")
    with pytest.raises(PyntaInputError, match="AnalysisResult"):
        render_report(object())


def test_bin_fractions_of_a_known_distribution():
    grid = diameter_grid(10, 2000, 200)
    weights = np.exp(-0.5 * ((np.log(grid) - np.log(150)) / 0.2) ** 2)
    distribution = SizeDistribution(grid, weights / weights.sum(), n_tracks=100, log_likelihood=0.0)
    fractions = bin_fractions(distribution, np.array([0.0, 150.0, 3000.0]))
    assert fractions == pytest.approx([0.5, 0.5], abs=0.01)


def test_size_distribution_csv(analysed, tmp_path):
    result = analysed["with_depth"]
    per_ml = result.summary["concentration"]["particles_per_ml"]
    written = write_csv_exports(result.per_track, result.sizes.deconvolved, tmp_path, per_ml)
    table = pd.read_csv(written[0])
    assert list(table.columns) == [BIN_CENTRE, RAW_COUNT, DECONVOLVED_COUNT, CONCENTRATION]
    widths = np.diff(table[BIN_CENTRE])
    assert widths == pytest.approx(np.full(widths.size, widths[0]))
    n_sized = int(result.per_track["diameter_nm"].notna().sum())
    # the bins cover all but the few largest raw sizes and almost all of the deconvolved one
    assert 0.95 * n_sized <= table[RAW_COUNT].sum() <= n_sized
    assert table[DECONVOLVED_COUNT].sum() == pytest.approx(
        result.sizes.deconvolved.n_tracks, rel=0.02
    )
    assert table[CONCENTRATION].sum() == pytest.approx(per_ml, rel=0.02)
    # the deconvolved histogram is narrower: its fullest bin holds more tracks
    assert table[DECONVOLVED_COUNT].max() > table[RAW_COUNT].max()


def test_per_track_csv(analysed, tmp_path):
    result = analysed["with_depth"]
    path = write_csv_exports(result.per_track, None, tmp_path)[1]
    table = pd.read_csv(path)
    assert list(table.columns) == list(per_track_table(result.per_track).columns)
    assert len(table) == len(result.per_track)
    np.testing.assert_allclose(table["Size (nm)"], result.per_track["diameter_nm"], rtol=1e-5)
    np.testing.assert_array_equal(table["Steps"], result.per_track["n_steps"])
    without = pd.read_csv(write_csv_exports(result.per_track, None, tmp_path / "b")[0])
    assert list(without.columns) == [BIN_CENTRE, RAW_COUNT]


def test_exports_reject_bad_input(analysed, tmp_path):
    per_track = analysed["with_depth"].per_track
    with pytest.raises(PyntaInputError, match="diameter_nm"):
        size_distribution_table(per_track.drop(columns="diameter_nm"), None)
    with pytest.raises(PyntaInputError, match="edges_nm"):
        size_distribution_table(per_track, None, edges_nm=np.array([10.0, 5.0]))
    with pytest.raises(PyntaInputError, match="sigma_um"):
        per_track_table(per_track.drop(columns="sigma_um"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PyntaInputError, match="export folder"):
        write_csv_exports(per_track, None, blocker / "sub")


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
    # the movie as a reference of 2e10 /mL: depth = counts per frame / (2e10 /mL x area)
    area_um2 = 160 * 160 * 0.1**2
    assert concentration["calibrated_depth_um"] == pytest.approx(
        concentration["particles_per_frame"] / (2e10 * area_um2 * 1e-12)
    )
    assert concentration["calibrated_depth_sem_um"] > 0
    assert "Nanoparticle size report" in report.read_text(encoding="utf-8")
    assert {"size_distribution.csv", "per_track_sizes.csv"} <= {p.name for p in out.iterdir()}


def test_pynta_analyze_checks_the_report_path_before_analysing(tmp_path, capsys):
    from napari_pynta.cli import main

    assert (
        main(["analyze", str(tmp_path / "missing.zarr"), "--report", str(tmp_path / "report.txt")])
        == 2
    )
    assert "--report must name an .html file" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "missing.zarr"), "--reference-per-ml", "-1"]) == 2
    assert "--reference-per-ml must be > 0" in capsys.readouterr().err
