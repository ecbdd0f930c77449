"""Replicate captures of one sample: `pynta analyze --combine` gives mean ± SE across captures."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_live_pipeline import no_leftover_processes  # noqa: F401

from napari_pynta import simulate
from napari_pynta.cli import main
from napari_pynta.cli.analyze import format_combined
from napari_pynta.combine import (
    COMBINED_QUANTITIES,
    combine_summaries,
    combined_distribution,
    mean_se,
)
from napari_pynta.errors import PyntaInputError
from napari_pynta.measurement import is_measurement
from napari_pynta.store import MovieStore


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """Three captures of one simulated sample of 100 nm beads (different particles each time)."""
    folder = tmp_path_factory.mktemp("captures")
    paths = []
    for seed in (11, 12, 13):
        settings = simulate.SimulationSettings(
            shape=(96, 96), n_particles=12, pixel_size_um=0.2, frame_interval_s=0.01, seed=seed
        )
        sim = simulate.simulate_movie(100, settings)
        path = folder / f"capture{seed}.zarr"
        metadata = sim.metadata | {"sample_name": "beads", "dilution_factor": 10.0}
        with MovieStore.create(path, sim.frames.shape[1:], sim.frames.dtype, metadata) as store:
            store.append(sim.frames)
        paths.append(str(path))
    return paths


def independent_mean_se(values):
    values = np.asarray(values, dtype=float)
    return values.mean(), values.std(ddof=1) / math.sqrt(values.size)


def test_combine_json_is_the_mean_and_se_of_the_captures(captures, capsys, tmp_path):
    argv = ["analyze", *captures, "--combine", "--dilution", "100", "--depth-um", "5", "--json"]
    report = tmp_path / "report.html"
    argv += ["--no-save", "--out", str(tmp_path / "out"), "--report", str(report)]
    assert main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    assert [entry["path"] for entry in document["captures"]] == captures
    summaries = [entry["summary"] for entry in document["captures"]]
    combined = document["combined"]
    assert combined["n_captures"] == 3 and document["n_failed"] == 0
    assert combined["sample"] == {
        "sample_name": "beads",  # stored with every capture
        "operator": None,
        "diluent": None,
        "dilution_factor": 100.0,  # the flag overrides the stored 10
        "remarks": None,
    }
    per_capture = {
        "d10_nm": [s["deconvolved_nm"]["d10"] for s in summaries],
        "d50_nm": [s["deconvolved_nm"]["d50"] for s in summaries],
        "d90_nm": [s["deconvolved_nm"]["d90"] for s in summaries],
        "mode_nm": [s["deconvolved_nm"]["mode"] for s in summaries],
        "ensemble_diameter_nm": [s["diameter_nm"] for s in summaries],
        "particles_per_frame": [s["n_localizations"] / s["n_frames"] for s in summaries],
        "particles_in_view_per_frame": [
            s["concentration"]["particles_in_view_per_frame"] for s in summaries
        ],
    }
    for key, values in per_capture.items():
        mean, se = independent_mean_se(values)
        assert combined[key]["mean"] == pytest.approx(mean, rel=1e-12), key
        assert combined[key]["se"] == pytest.approx(se, rel=1e-12), key
        assert combined[key]["n"] == 3
    # the concentration of the sample is exactly 100x that of the measured (diluted) suspension
    measured = [s["concentration"]["particles_per_ml"] for s in summaries]
    assert min(measured) > 0
    mean, se = independent_mean_se(measured)
    assert combined["concentration_per_ml"]["mean"] == 100 * mean  # exactly
    assert combined["concentration_per_ml"]["se"] == pytest.approx(100 * se, rel=1e-12)
    # three captures of 100 nm beads agree with the truth within a few standard errors
    assert abs(combined["d50_nm"]["mean"] - 100.0) < 4 * combined["d50_nm"]["se"] + 10.0

    # the batch summary.csv: deconvolved statistics, particles/mL and the combined rows
    table = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(table["movie"]) == [
        *captures,
        "combined mean (3 captures)",
        "combined se (3 captures)",
        "pooled (3 captures)",
    ]
    np.testing.assert_allclose(table["deconvolved_d50_nm"][:3], per_capture["d50_nm"], rtol=1e-9)
    np.testing.assert_allclose(
        table["sample_particles_per_ml"][:3], [100 * m for m in measured], rtol=1e-9
    )
    assert table["deconvolved_d50_nm"][3] == pytest.approx(combined["d50_nm"]["mean"], rel=1e-9)
    assert table["sample_particles_per_ml"][4] == pytest.approx(
        combined["concentration_per_ml"]["se"], rel=1e-9
    )
    assert (table["sample_name"][:3] == "beads").all()
    # the measurement report: the replicate table holds each capture and the mean ± SE
    page = report.read_text(encoding="utf-8")
    assert "Replicate captures" in page and "Particles per frame over time" in page
    for value in per_capture["d50_nm"]:
        assert f"<td>{value:.1f}</td>" in page
    d50 = combined["d50_nm"]
    assert f"{d50['mean']:.1f} ± {d50['se']:.1f}" in page
    assert page.count("data:image/png;base64,") == 4  # replicates, concentration, scatter, time
    # the settings shown are the first capture's, and the page says so (they read as the
    # measurement's: one movie, one frame count, one automatic search range)
    assert "<h2>Sample and settings of capture 1 (capture11.zarr)</h2>" in page
    # ... and the peaks of all the captures' tracks sized together
    pooled = combined["pooled"]
    assert pooled["n_captures"] == 3 and pooled["reason"] is None
    assert "All tracks together" in page
    assert f"pooled: the {pooled['n_tracks']} tracks of the 3 captures sized together" in page
    (peak,) = pooled["deconvolved_nm"]["peaks"]  # one latex, one peak
    assert abs(peak - 100.0) < 15.0
    pdf = report.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type /Page\b", pdf)) == 5


def test_combine_prints_a_mean_se_table(captures, capsys):
    assert main(["analyze", *captures[:2], "--combine", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "combined over 2 captures (mean ± standard error):" in out
    # no depth: no concentration, and the line says what gives one (before: "n/a ± n/a")
    assert "particles/mL (× dilution)   n/a: no detection depth (give --depth-um)" in out


def test_combine_leaves_an_empty_capture_out_of_every_value(captures, capsys, tmp_path):
    """A capture of an empty cell (no particle) sized nothing; its 0 particles per frame and 0
    particles/mL entered the combined mean, which it pulled to two thirds of the sample's."""
    settings = simulate.SimulationSettings(
        shape=(96, 96), n_particles=0, pixel_size_um=0.2, frame_interval_s=0.01, seed=14
    )
    empty = simulate.simulate_movie(100, settings)
    path = tmp_path / "empty.zarr"
    with MovieStore.create(path, empty.frames.shape[1:], empty.frames.dtype, empty.metadata) as s:
        s.append(empty.frames)
    paths = [*captures[:2], str(path)]
    argv = ["analyze", *paths, "--combine", "--depth-um", "5", "--no-save"]
    assert main([*argv, "--json", "--out", str(tmp_path / "out")]) == 1  # one failed capture
    document = json.loads(capsys.readouterr().out)
    summaries = [entry["summary"] for entry in document["captures"]]
    assert [entry["status"] for entry in document["captures"]] == ["ok", "ok", "unsized"]
    combined = document["combined"]
    assert (combined["n_captures"], combined["n_combined"], document["n_unsized"]) == (3, 2, 1)
    assert [entry["capture"] for entry in combined["left_out"]] == [3]
    assert combined["left_out"][0]["reason"] == summaries[2]["unsized_reason"]
    sized = summaries[:2]
    for key, values in {
        "particles_per_frame": [s["n_localizations"] / s["n_frames"] for s in sized],
        "concentration_per_ml": [s["concentration"]["sample_particles_per_ml"] for s in sized],
        "d50_nm": [s["deconvolved_nm"]["d50"] for s in sized],
    }.items():
        mean, se = independent_mean_se(values)
        assert combined[key]["mean"] == pytest.approx(mean, rel=1e-12), key
        assert combined[key]["se"] == pytest.approx(se, rel=1e-12), key
        assert combined[key]["n"] == 2, key
    assert combined["pooled"]["n_captures"] == 2  # its localizations are not pooled either
    table = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(table["movie"])[3:5] == [
        "combined mean (2 of 3 captures)",
        "combined se (2 of 3 captures)",
    ]
    # the terminal table says so too
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "combined over 2 of 3 captures (mean ± standard error):" in out
    assert "warning: capture 3 (empty.zarr) is left out of every combined value" in out


def test_mean_se_ignores_unknown_values_and_needs_two_for_an_se():
    assert mean_se([2.0, None, 4.0, math.nan]) == {"mean": 3.0, "se": 1.0, "n": 2}
    assert mean_se([5.0]) == {"mean": 5.0, "se": None, "n": 1}
    assert mean_se([None]) == {"mean": None, "se": None, "n": 0}
    with pytest.raises(PyntaInputError, match="at least one"):
        combine_summaries([])


def test_combined_distribution_per_bin():
    mean, se = combined_distribution([np.array([0.2, 0.8]), np.array([0.4, 0.6])])
    np.testing.assert_allclose(mean, [0.3, 0.7])
    np.testing.assert_allclose(se, [0.1, 0.1])


def test_acquire_captures_make_one_measurement_that_analyze_combines(tmp_path, capsys):
    folder = tmp_path / "sample"
    argv = ["acquire", "--captures", "2", "--frames", "120", "--out", str(folder), "--json"]
    argv += ["--camera-option", "shape=96,96", "--camera-option", "n_particles=10"]
    argv += ["--fps", "100", "--sample", "beads", "--dilution", "20"]
    assert main(argv) == 0
    acquired = json.loads(capsys.readouterr().out)
    assert acquired["n_captures"] == 2 and len(acquired["captures"]) == 2
    assert [capture["frames_saved"] for capture in acquired["captures"]] == [120, 120]
    description = json.loads((folder / "measurement.json").read_text())
    assert description["captures"] == ["capture-1.zarr", "capture-2.zarr"]
    for index in (1, 2):
        with MovieStore.open(folder / f"capture-{index}.zarr") as store:
            metadata = store.metadata
            assert store.n_frames == 120
        assert metadata["measurement_id"] == description["measurement_id"]
        assert (metadata["capture_index"], metadata["n_captures"]) == (index, 2)
        assert metadata["sample_name"] == "beads" and metadata["dilution_factor"] == 20.0
    # the folder stands for its captures
    assert main(["analyze", str(folder), "--combine", "--json", "--no-save"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [entry["path"] for entry in document["captures"]] == [
        str(folder / "capture-1.zarr"),
        str(folder / "capture-2.zarr"),
    ]
    assert document["combined"]["n_captures"] == 2
    assert document["combined"]["sample"]["dilution_factor"] == 20.0


def test_captures_need_a_folder_and_a_length(tmp_path, capsys):
    base = ["acquire", "--captures", "2"]
    assert main([*base, "--seconds", "1"]) == 2
    assert "--captures needs --out" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "m")]) == 2
    assert "--seconds or --frames" in capsys.readouterr().err
    assert main(["acquire", "--captures", "0", "--out", str(tmp_path), "--frames", "3"]) == 2
    assert "--captures must be an integer >= 1" in capsys.readouterr().err


def test_captures_into_a_recording_are_refused_and_leave_it_analysable(captures, tmp_path, capsys):
    # Before: the captures went inside the store with a measurement.json, and from then on
    # `pynta analyze STORE` analysed the captures instead of the recording, without a word.
    recording = tmp_path / "run.zarr"
    shutil.copytree(captures[0], recording)
    before = sorted(path.name for path in recording.iterdir())
    for overwrite in ([], ["--overwrite"]):
        argv = ["acquire", "--captures", "2", "--frames", "5", "--out", str(recording)]
        assert main([*argv, "--camera-option", "shape=64,64", *overwrite]) == 2
        assert "is a zarr store" in capsys.readouterr().err
    assert sorted(path.name for path in recording.iterdir()) == before
    assert not is_measurement(recording)


def test_overwrite_with_fewer_captures_removes_the_earlier_runs_stores(tmp_path, capsys):
    folder = tmp_path / "sample"
    argv = ["acquire", "--frames", "5", "--out", str(folder), "--json"]
    argv += ["--camera-option", "shape=64,64", "--camera-option", "n_particles=3"]
    assert main([*argv, "--captures", "2"]) == 0
    first_id = json.loads((folder / "measurement.json").read_text())["measurement_id"]
    (folder / "notes.txt").write_text("mine")  # not a capture: must survive
    assert main([*argv, "--captures", "1", "--overwrite"]) == 0
    capsys.readouterr()
    assert sorted(path.name for path in folder.iterdir()) == [
        "capture-1.zarr",
        "measurement.json",
        "notes.txt",
    ]
    description = json.loads((folder / "measurement.json").read_text())
    assert description["measurement_id"] != first_id
    with MovieStore.open(folder / "capture-1.zarr") as store:
        assert store.metadata["measurement_id"] == description["measurement_id"]


def _capture_summary(source, d50, tracks, ppf):
    deconvolved = None if d50 is None else {"d10": d50 - 5, "d50": d50, "d90": d50 + 5, "mode": d50}
    return {
        "source": source,
        "n_tracks": tracks,
        "deconvolved_nm": deconvolved,
        "diameter_nm": d50,
        "particles_per_frame": ppf,
        "concentration": None,
    }


def test_a_capture_without_tracks_is_left_out_named_and_the_fewer_captures_said():
    summaries = [
        _capture_summary("/m/capture-1.zarr", 100.0, 20, 5.0),
        _capture_summary("/m/capture-2.zarr", None, 0, 0.0),
        _capture_summary("/m/capture-3.zarr", 104.0, 25, 6.0),
    ]
    combined = combine_summaries(summaries)
    # its 0 particles per frame are no measurement of the sample: (5 + 6) / 2, not 11 / 3
    assert combined["d50_nm"]["n"] == 2 and combined["particles_per_frame"]["n"] == 2
    assert combined["particles_per_frame"]["mean"] == 5.5
    assert (combined["n_captures"], combined["n_combined"]) == (3, 2)
    (entry,) = combined["left_out"]
    assert entry["capture"] == 2 and entry["source"] == "/m/capture-2.zarr"
    (warning,) = combined["warnings"]
    assert warning.startswith("capture 2 (capture-2.zarr) is left out of every combined value")
    assert "2 of 3 captures" in warning
    # no depth anywhere: an unknown concentration is no missing capture
    assert "particles/mL" not in warning
    text = format_combined(combined)
    assert "combined over 2 of 3 captures" in text
    assert re.search(r"D50 \(nm, deconvolved\)\s+102\.0 ± 2\.0 \(2 of 3 captures\)", text)
    assert re.search(r"particles per frame \(found\)\s+5\.50 ± 0\.50 \(2 of 3 captures\)", text)
    assert "capture 2 (capture-2.zarr)" in text
    # one capture left: the SE is unknown and said so
    lonely = combine_summaries(summaries[:2])
    assert "rest on the other 1 of 2 captures" in lonely["warnings"][0]
    assert "no standard error" in lonely["warnings"][1]


def _with_concentration(summary, ppf, per_ml):
    return summary | {
        "concentration": {
            "particles_in_view_per_frame": ppf,
            "particles_per_ml": per_ml,
            "dilution_factor": 10.0,
            "sample_particles_per_ml": 10.0 * per_ml,
        },
    }


def test_an_unsized_capture_enters_no_combined_value_and_is_said_with_its_reason():
    """A capture that sized no track put its particles per frame and its concentration (what
    a failed detection found: here 40 per frame, hot pixels say) into the combined mean."""
    reason = "No track is as long as --min-track-length (8 frames): 12 tracks were linked"
    unsized = _capture_summary("/m/capture-2.zarr", None, 0, 40.0)
    summaries = [
        _with_concentration(_capture_summary("/m/capture-1.zarr", 100.0, 30, 5.0), 5.0, 1e8),
        _with_concentration(
            unsized | {"diameter_nm": math.nan, "unsized_reason": reason}, 40.0, 8e8
        ),
        _with_concentration(_capture_summary("/m/capture-3.zarr", 104.0, 30, 7.0), 7.0, 3e8),
    ]
    combined = combine_summaries(summaries)
    mean, se = independent_mean_se([5.0, 7.0])
    for key in ("particles_per_frame", "particles_in_view_per_frame"):
        assert combined[key] == {"mean": mean, "se": pytest.approx(se), "n": 2}, key
    mean, se = independent_mean_se([1e8, 3e8])
    assert combined["concentration_per_ml"]["mean"] == pytest.approx(10 * mean, rel=1e-12)
    assert combined["concentration_per_ml"]["se"] == pytest.approx(10 * se, rel=1e-12)
    assert all(combined[key]["n"] == 2 for key in COMBINED_QUANTITIES)
    assert combined["left_out"] == [{"capture": 2, "source": "/m/capture-2.zarr", "reason": reason}]
    (warning,) = combined["warnings"]
    assert "capture 2 (capture-2.zarr) is left out of every combined value" in warning
    assert warning.endswith(reason)
    # the replicate table keeps its row (what it found) and says it is left out
    from types import SimpleNamespace

    from napari_pynta.report.measurement_page import _measurement_cards, replicate_rows

    rows = replicate_rows([SimpleNamespace(summary=s) for s in summaries], combined)
    assert rows[2][0] == "2: capture-2.zarr (left out: no track sized)"
    assert rows[-1][0] == "mean ± SE (n = 2)"
    assert "2 of 3" in _measurement_cards(combined)


def test_captures_that_none_sized_give_no_combined_value():
    """Two unsized captures combined gave empty sizes and no warning at all."""
    combined = combine_summaries(
        [_capture_summary(f"/m/capture-{i}.zarr", None, 0, 0.0) for i in (1, 2)]
    )
    assert all(combined[key]["n"] == 0 for key in COMBINED_QUANTITIES)
    assert combined["n_combined"] == 0
    assert [w.split(" is left out")[0] for w in combined["warnings"][:2]] == [
        "capture 1 (capture-1.zarr)",
        "capture 2 (capture-2.zarr)",
    ]
    assert combined["warnings"][2] == (
        "none of the 2 captures sized a track: there is no combined value"
    )


def test_captures_that_all_have_tracks_give_no_warning():
    combined = combine_summaries(
        [_capture_summary(f"/m/capture-{i}.zarr", 100.0 + i, 20, 5.0) for i in (1, 2)]
    )
    assert combined["warnings"] == []


def test_the_report_headline_keeps_a_standard_error_below_half_a_nanometre():
    # three captures whose D50s agree within a nanometre: mean 102.6, SE 0.2 nm. Rounded to
    # whole nanometres the headline read "103 ± 0 nm", as if the size had no uncertainty.
    from napari_pynta.report.measurement_page import _measurement_cards

    d50s = (102.2, 102.7, 102.9)
    combined = combine_summaries(
        [_capture_summary(f"/m/capture-{i}.zarr", d, 300, 40.0) for i, d in enumerate(d50s, 1)]
    )
    mean, se = independent_mean_se(d50s)
    cards = _measurement_cards(combined)
    assert f"{mean:.1f} ± {se:.1f} nm" in cards  # 102.6 ± 0.2 nm, as in the replicate table
    assert "± 0 nm" not in cards


def test_the_pdf_says_whose_settings_its_first_page_shows():
    from napari_pynta.report.pdf import first_page_lines

    summaries = [_capture_summary(f"/m/capture-{i}.zarr", 100.0 + i, 20, 5.0) for i in (1, 2)]
    combined = combine_summaries(summaries)
    lines = first_page_lines(summaries[0], combined)
    assert (
        lines[0] == "Settings of capture 1 (capture-1.zarr); the table gives every capture's sizes"
    )
    # one movie's report has no such line: its settings are the movie's
    assert not first_page_lines(summaries[0])[0].startswith("Settings of")


def test_a_quantity_no_capture_has_reads_as_one_dash_in_the_replicate_table():
    # no detection depth: no particles/mL in any capture. The mean ± SE cell read "– ± –".
    from types import SimpleNamespace

    from napari_pynta.report.measurement_page import replicate_rows

    summaries = [_capture_summary(f"/m/capture-{i}.zarr", 100.0 + i, 20, 5.0) for i in (1, 2)]
    rows = replicate_rows(
        [SimpleNamespace(summary=s) for s in summaries], combine_summaries(summaries)
    )
    heading, *_, mean_row = rows
    cell = dict(zip(heading, mean_row, strict=True))
    assert cell["Particles/mL (× dilution)"] == "–"
    assert cell["D50 (nm)"] == "101.5 ± 0.5"  # (101 + 102) / 2 ± SD / √2


def test_a_warning_of_several_captures_is_said_once_naming_them():
    """Without a detection depth the report's Quality checks said "No concentration in
    particles/mL..." once per capture; now once, with the captures it applies to."""
    from types import SimpleNamespace

    from napari_pynta.report.measurement_page import capture_warnings

    def capture(source, n_tracks):
        summary = _capture_summary(source, 100.0, n_tracks, 5.0)
        return SimpleNamespace(summary=summary, per_track=pd.DataFrame({"n_steps": [20]}))

    results = [
        capture(f"/m/capture-{i}.zarr", tracks) for i, tracks in ((1, 500), (2, 20), (3, 500))
    ]
    warnings = capture_warnings(results)
    no_depth = [w for w in warnings if "No concentration" in w]
    assert len(no_depth) == 1 and no_depth[0].startswith("Captures 1, 2 and 3: No concentration")
    (few,) = [w for w in warnings if "tracks:" in w]
    assert few.startswith("Capture 2: Only 20 tracks")


def test_captures_stop_at_a_full_disk_and_say_what_each_recorded(tmp_path, capsys, monkeypatch):
    """A measurement on a disk that filled during capture 2: the captures went on to capture 3,
    and the write of measurement.json failed with the bare "writing the output failed", so no
    capture's counters were printed, capture-2.zarr (frames on disk) stayed out of the
    measurement silently and an empty measurement.json.tmp was left (x24). The recording that
    failed ends the measurement, the counters of both are printed, exit code 1."""
    import errno

    from napari_pynta import measurement
    from napari_pynta.cli import captures as cli_captures
    from napari_pynta.live.config import LiveStatus

    recorded = []

    def acquire(config, show, until=None):
        recorded.append(config.record_path)
        failed = "cannot write: [Errno 28] No space left on device" if len(recorded) == 2 else None
        status = LiveStatus(frames_acquired=30, frames_saved=30 if failed is None else 19)
        status.frames_dropped = 0 if failed is None else 11
        status.recording_failed = failed
        return status, 0

    def write_text(self, text, encoding=None):
        if len(recorded) == 2:  # the disk is full now: the file is made, its text not written
            real_write_text(self, "", encoding=encoding)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, text, encoding=encoding)

    real_write_text = Path.write_text
    monkeypatch.setattr(cli_captures, "acquire_once", acquire)
    monkeypatch.setattr(measurement.Path, "write_text", write_text)
    folder = tmp_path / "sample"
    code = main(["acquire", "--captures", "3", "--frames", "30", "--out", str(folder)])
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert code == 1
    assert [Path(path).name for path in recorded] == ["capture-1.zarr", "capture-2.zarr"]
    assert "saved 30 frames" in err and "saved 19 frames" in err and "11 dropped" in err, err
    assert "cannot update" in err and "measurement.json" in err and "capture-2.zarr" in err, err
    assert sorted(p.name for p in folder.iterdir()) == ["measurement.json"]
    listed = json.loads((folder / "measurement.json").read_text())["captures"]
    assert listed == ["capture-1.zarr"]
