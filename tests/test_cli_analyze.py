"""`pynta analyze` on a small simulated store, a metadata-less TIFF and bad paths."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from cli_refusals import json_refusal
from store_faults import fill_the_disk_after_the_first_table

from napari_pynta import physics, simulate
from napari_pynta.cli import main
from napari_pynta.output_folder import MANIFEST
from napari_pynta.store import MovieStore

METADATA_KEYS = (
    "pixel_size_um",
    "frame_interval_s",
    "exposure_s",
    "temperature_c",
    "viscosity_pa_s",
    "solvent",
)


@pytest.fixture(scope="module")
def movie_frames():
    settings = simulate.SimulationSettings(
        shape=(128, 128),
        n_particles=25,
        pixel_size_um=0.2,
        frame_interval_s=0.01,
        temperature_c=22.0,
        seed=2,
    )
    sim = simulate.simulate_movie(150, settings)
    return sim.frames, {key: sim.metadata[key] for key in METADATA_KEYS}


@pytest.fixture
def store_path(tmp_path, movie_frames):
    frames, metadata = movie_frames
    store = MovieStore.create(tmp_path / "movie.zarr", frames.shape[1:], frames.dtype, metadata)
    store.append(frames)
    store.close()
    return tmp_path / "movie.zarr"


def run(capsys, *argv):
    code = main(["analyze", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_prints_one_object_with_the_results(capsys, store_path, tmp_path):
    code, out, err = run(capsys, store_path, "--json", "--out", tmp_path / "results")
    assert code == 0
    summary = json.loads(out)  # the whole of stdout is one JSON document
    assert summary["n_frames"] == 150 and summary["n_tracks"] > 20
    assert summary["params"]["pixel_size_um"] == 0.2 and summary["params"]["exposure_s"] == 0.01
    assert summary["diameter_nm"] == pytest.approx(100.0, rel=0.15)  # small movie: ~5 % error
    assert set(summary["size_nm"]) >= {"mean", "mode", "sd", "d10", "d50", "d90", "span"}
    # the deconvolved quantiles carry their bootstrap standard errors, as in the live summary
    deconvolved = summary["deconvolved_nm"]
    for key in ("d10", "d50", "d90"):
        assert 0.002 * deconvolved[key] < deconvolved[f"{key}_se"] < 0.2 * deconvolved[key]
    assert isinstance(summary["warnings"], list)
    assert "%|" not in err  # no progress bar with --json
    # --out: CSV tables and the same summary; the store got the tables too
    assert json.loads((tmp_path / "results" / "summary.json").read_text()) == summary
    per_track = pd.read_csv(tmp_path / "results" / "per_track.csv")
    assert len(per_track) == summary["n_tracks"]
    assert "saved tables localizations, tracks, per_track into" in err
    store = MovieStore.open(store_path)
    assert set(store.table_names()) >= {"localizations", "tracks", "per_track"}
    assert len(store.read_table("per_track")) == summary["n_tracks"]
    store.close()


def test_flags_override_metadata(capsys, store_path):
    _, out, _ = run(
        capsys, store_path, "--json", "--no-save", "--minmass", 250, "--search-range-px", 6
    )
    base = json.loads(out)
    _, out, _ = run(
        capsys,
        store_path,
        "--json",
        "--no-save",
        "--minmass",
        250,
        "--search-range-px",
        6,
        "--temperature-c",
        30,
    )
    warm = json.loads(out)
    assert warm["params"]["temperature_c"] == 30.0 and base["params"]["temperature_c"] == 22.0
    # same tracks, same D: only Stokes-Einstein's T / eta changes; the store's solvent is water,
    # so its viscosity is recomputed at 30 °C instead of keeping the stored 22 °C value
    assert warm["D_um2_s"] == pytest.approx(base["D_um2_s"], rel=1e-12)
    assert warm["params"]["viscosity_pa_s"] == pytest.approx(physics.water_viscosity_pa_s(30.0))
    assert warm["diameter_nm"] == pytest.approx(
        physics.diameter_nm(base["D_um2_s"], 30.0, physics.water_viscosity_pa_s(30.0)), rel=1e-9
    )
    eta = base["params"]["viscosity_pa_s"]
    _, out, _ = run(
        capsys,
        store_path,
        "--json",
        "--no-save",
        "--minmass",
        250,
        "--search-range-px",
        6,
        "--viscosity-pa-s",
        2 * eta,
    )
    thick = json.loads(out)
    assert thick["diameter_nm"] == pytest.approx(base["diameter_nm"] / 2, rel=1e-9)


def test_readable_summary_and_progress_bar(capsys, store_path):
    code, out, err = run(capsys, store_path, "--no-save")
    assert code == 0
    assert "ensemble diameter" in out and "D50" in out and "(auto)" in out
    assert re.search(r"deconvolved \(nm\).*D50 [0-9.]+ ± [0-9.]+", out)
    # both parts of the uncertainty are shown (the jackknife alone hides non-Brownian errors)
    assert "jackknife ±" in out and "systematic ±" in out and "combined ±" in out
    assert "locating" in err and "150/150" in err
    # the default diameter is 7 px, not the automatic one (JSON: automatic_diameter false)
    assert re.search(r"diameter 7 px, minmass [0-9.]+ \(auto\)", out)


def test_readable_summary_marks_the_automatic_diameter(capsys, store_path):
    code, out, _ = run(capsys, store_path, "--no-save", "--diameter-px", "auto")
    assert code == 0
    assert re.search(r"diameter [0-9]+ px \(auto\)", out)


def test_tiff_without_metadata_names_the_missing_flag(capsys, tmp_path, movie_frames):
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, movie_frames[0][:30])
    code, out, err = run(capsys, path, "--json")
    assert code == 2 and json_refusal(out, err)
    assert (
        "--pixel-size-um, --frame-interval-s, --exposure-s and --temperature-c are required: "
        "the movie has no metadata for them" in err
    )
    code, _, err = run(
        capsys, path, "--pixel-size-um", 0.2, "--frame-interval-s", 0.01, "--temperature-c", 22
    )
    assert code == 2 and "--exposure-s is required" in err
    code, out, _ = run(
        capsys,
        path,
        "--json",
        "--pixel-size-um",
        0.2,
        "--frame-interval-s",
        0.01,
        "--temperature-c",
        22,
        "--exposure-s",
        0.01,
    )
    assert code == 0 and json.loads(out)["n_frames"] == 30


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.zarr", "does not exist"),
        (lambda tmp: (tmp / "notes.txt").write_text("x") and tmp / "notes.txt", "unsupported"),
        (lambda tmp: (tmp / "broken.tif").write_bytes(b"not a tiff") and tmp / "broken.tif", ""),
    ],
)
def test_unreadable_paths_exit_with_code_2(capsys, tmp_path, make, message):
    code, out, err = run(capsys, make(tmp_path), "--json")
    assert code == 2 and message in json_refusal(out, err)["error"]


def test_store_with_a_deleted_frame_chunk_fails_naming_the_frame(capsys, store_path):
    (store_path / "0" / "c" / "1" / "0" / "0").unlink()  # the shard of frames 64..127
    code, out, err = run(capsys, store_path, "--json")
    assert code == 2 and json_refusal(out, err)
    # all of them, not the one frame a reading thread met first ("frame 65 (0/c/1/0/0)")
    assert "is damaged: frames 64..127 (0/c/1/0/0) missing on disk;" in err
    assert "pynta verify" in err


@pytest.mark.parametrize("shape", [(5, 5), (1, 64)])
def test_frames_narrower_than_a_particle_are_refused_saying_so(capsys, tmp_path, shape):
    """A movie of 5 x 5 or 1 x 64 px frames was analysed into "no tracks were found: check the
    detection settings (diameter, minmass) and the linking search range"."""
    path = tmp_path / "thin.tif"
    tifffile.imwrite(path, np.full((20, *shape), 100, np.uint16), imagej=True)
    flags = ["--pixel-size-um", "0.2", "--frame-interval-s", "0.01", "--exposure-s", "0.01"]
    flags += ["--temperature-c", "22"]
    code, out, err = run(capsys, path, "--json", "--no-save", *flags)
    assert code == 2 and json_refusal(out, err)
    assert f"frames are {shape[0]} x {shape[1]} px" in err and "at least 7 px" in err


def test_empty_store_is_reported(capsys, tmp_path):
    MovieStore.create(tmp_path / "empty.zarr", (32, 32), np.uint16, {"pixel_size_um": 0.2}).close()
    code, out, err = run(capsys, tmp_path / "empty.zarr", "--json")
    assert code == 2 and "no frames" in json_refusal(out, err)["error"]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (("--diameter-px", 8), "--diameter-px must be an odd integer"),
        (("--exposure-s", 1), "--exposure-s (1 s) must not exceed --frame-interval-s"),
        (("--workers", 2), "--workers needs --scheduler local"),
    ],
)
def test_a_refused_value_under_json_is_one_json_object_naming_the_flag(
    capsys, store_path, flags, said
):
    """`pynta analyze --json` printed nothing on stdout when it refused its input, only the
    message on stderr: a script decoding stdout failed on an empty document instead of reading
    why. Without --json stdout stays empty."""
    code, out, err = run(capsys, store_path, "--json", "--no-save", *flags)
    refusal = json_refusal(out, err)
    assert code == 2 and list(refusal) == ["error"] and refusal["error"].startswith(said), out
    code, out, err = run(capsys, store_path, "--no-save", *flags)
    assert code == 2 and out == "" and said in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (("{movie}", "--frames", "1-9"), "argument --frames: must be START:STOP"),
        (("{movie}", "--diameter-px", "nine"), "argument --diameter-px:"),
        (("{movie}", "--out", ""), "argument --out: an empty path"),
        (("{movie}", "--no-such-flag"), "unrecognized arguments: --no-such-flag"),
        ((), "the following arguments are required: PATH"),
    ],
)
def test_a_command_line_refused_under_json_is_one_json_object(capsys, store_path, argv, said):
    """argparse's refusals too: a script asking for JSON gets the message on stdout, argparse's
    usage and message stay on stderr, exit code 2; without --json stdout stays empty."""
    argv = [part.format(movie=store_path) for part in argv]
    with pytest.raises(SystemExit) as refused:
        run(capsys, *argv, "--json")
    out, err = capsys.readouterr()
    assert refused.value.code == 2 and err.startswith("usage: pynta analyze"), err
    assert json_refusal(out, err)["error"].startswith(said), out
    with pytest.raises(SystemExit) as refused:
        run(capsys, *argv)
    out, err = capsys.readouterr()
    assert refused.value.code == 2 and out == "" and f"pynta analyze: error: {said}" in err


def test_bad_flag_values_exit_with_code_2(capsys, store_path):
    code, _, err = run(capsys, store_path, "--diameter-px", 8)
    assert code == 2 and "--diameter-px must be an odd integer" in err
    code, _, err = run(capsys, store_path, "--engine", "magic")
    assert code == 2 and "--engine must be one of" in err


def test_an_automatic_diameter_is_asked_with_auto_and_reported(capsys, store_path):
    code, out, _ = run(capsys, store_path, "--json", "--no-save", "--diameter-px", "auto")
    assert code == 0
    summary = json.loads(out)
    detection = summary["detection"]
    assert detection["automatic_diameter"] and detection["pilot_rms_step_px"] > 0
    # 100 nm at 100 fps and 0.2 µm pixels hardly smear: the sharp spot's 7 px is kept
    assert detection["diameter_px"] == summary["params"]["diameter_px"] == 7
    # 'auto' and the default may be widened to hold the spots; a number is kept as given
    assert summary["params"]["widen_to_spot"] is True
    code, out, _ = run(capsys, store_path, "--json", "--no-save", "--diameter-px", "7")
    assert code == 0 and json.loads(out)["params"]["widen_to_spot"] is False
    with pytest.raises(SystemExit) as refused:  # argparse: neither a number nor "auto"
        run(capsys, store_path, "--diameter-px", "nine")
    assert refused.value.code == 2 and "--diameter-px" in capsys.readouterr().err


def test_mixture_peaks_are_printed_as_shares_of_tracks_and_of_particles():
    from napari_pynta.cli.analyze import _deconvolved_lines

    deconvolved = {
        "peaks": [82.0, 195.0],
        "peak_se": [3.04, 8.0],
        "peak_systematic": [2.46, None],
        "peak_interval_68": [[79.4, 85.2], [None, None]],
        "peak_fractions": [0.62, 0.38],
        "peak_fraction_se": [0.03, 0.03],
        "peak_number_fractions": [0.48, 0.52],
        "peak_number_fraction_se": [0.04, 0.04],
        "d10": 70.0,
        "d50": 120.0,
        "d90": 210.0,
        "span": 1.2,
    }
    (line,) = _deconvolved_lines({"deconvolved_nm": deconvolved})
    assert "82.0 ± 3.0 ± 2.5 sys [68%: 79-85] (62% ± 3% of tracks, 48% ± 4% of particles)" in line
    assert "195.0 ± 8.0 (38% ± 3% of tracks, 52% ± 4% of particles)" in line
    one_peak = {key: deconvolved[key] for key in ("d10", "d50", "d90", "span")}
    one_peak |= {"peaks": [100.0], "peak_fractions": [1.0], "peak_fraction_se": [0.0]}
    (line,) = _deconvolved_lines({"deconvolved_nm": one_peak})
    assert "peaks 100.0 (100% ± 0%)" in line and "particles" not in line


def test_the_particles_in_view_are_printed_with_the_share_a_neighbour_hid():
    from napari_pynta.cli.analyze import _deconvolved_lines

    concentration = {
        "particles_per_frame": 27.0,
        "particles_in_view_per_frame": 28.3,
        "particles_in_view_per_frame_sem": 1.2,
        "hidden_by_neighbours": 0.046,
    }
    (line,) = _deconvolved_lines({"deconvolved_nm": None, "concentration": concentration})
    assert "particles in view     28.3 ± 1.2 per frame (4.6 % hidden by a closer neighbour)" in line


@pytest.mark.parametrize("search_range", ["128", "5000"])
def test_a_search_range_as_large_as_the_frame_is_refused(capsys, store_path, search_range):
    """A 5000 px search range on a 128 x 128 movie linked any particle to any other and sized
    100 nm beads at 4.6 nm without an error."""
    code, out, err = run(capsys, store_path, "--search-range-px", search_range, "--no-save")
    assert code == 2 and out == ""
    assert f"--search-range-px {search_range} px" in err
    assert "128 x 128" in err and "less than 128 px" in err


def test_a_search_range_below_the_frame_size_is_used(capsys, store_path):
    code, out, _ = run(capsys, store_path, "--search-range-px", "12", "--json", "--no-save")
    assert code == 0 and json.loads(out)["params"]["search_range_px"] == 12.0


@pytest.mark.parametrize("n_frames", [1, 2, 9])
def test_a_movie_shorter_than_a_sized_track_is_refused(capsys, tmp_path, movie_frames, n_frames):
    """A 1-frame movie was 'analysed' with exit code 0, a pilot warning about 'the first 200
    frames' and 'no tracks were found: check the detection settings'."""
    frames, metadata = movie_frames
    path = tmp_path / "short.zarr"
    with MovieStore.create(path, frames.shape[1:], frames.dtype, metadata) as store:
        store.append(frames[:n_frames])
    code, out, err = run(capsys, path, "--no-save")
    assert code == 2 and out == ""
    assert f"longer than the {n_frames} frame" in err and "--min-track-length 10" in err


def test_every_missing_condition_is_named_at_once(capsys, tmp_path, movie_frames):
    """A TIFF without metadata: one run names every flag it needs, not one per run."""
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, movie_frames[0][:30])
    code, out, err = run(capsys, path, "--frame-interval-s", 0.01)
    assert code == 2 and out == ""
    assert "--pixel-size-um, --exposure-s and --temperature-c are required" in err, err


@pytest.mark.parametrize(
    ("flags", "named", "unnamed"),
    [
        (("--dilution", 0), "--dilution must be a number >= 1", "dilution_factor"),
        (("--exposure-s", 1), "must not exceed --frame-interval-s", "frame_interval_s"),
        (("--temperature-c", 120), "(set --temperature-c, or --viscosity-pa-s", "viscosity_pa_s"),
        # the limits `pynta simulate` also holds its movies to (b23)
        (("--viscosity-pa-s", 1e9), "--viscosity-pa-s must be in [0.0001, 10]", "viscosity_pa_s"),
        (
            ("--no-blur-separation", "--split-within-px", 12),
            "--split-within-px (12 px) is the distance within which the blur separation joins "
            "split images: it needs --blur-separation on",
            "split_within_px",
        ),
        (("--split-within-px", 0), "--split-within-px must be", "split_within_px"),
    ],
)
def test_refused_values_are_named_by_their_flags(capsys, store_path, flags, named, unnamed):
    """The command line names the flags the user typed, not the fields behind them."""
    code, out, err = run(capsys, store_path, "--no-save", *flags)
    assert code == 2 and out == ""
    assert named in err and unnamed not in err, err


def test_a_batch_names_a_refused_value_by_its_flag(capsys, store_path, tmp_path):
    """Each movie of a batch fails on its own line; the line named the field
    (``PyntaInputError: min_track_length 100000 ...``), not the flag the user typed."""
    other = tmp_path / "other.zarr"
    other.mkdir()
    for item in store_path.iterdir():  # a second copy of the same store
        (other / item.name).symlink_to(item)
    code, out, err = run(capsys, store_path, other, "--no-save", "--min-track-length", 100000)
    assert code == 1
    for path in (store_path, other):
        expected = f"pynta analyze: {path}: --min-track-length 100000 is longer than the 150 "
        assert any(line.startswith(expected) for line in err.splitlines()), err
    assert "min_track_length" not in err + out and "PyntaInputError" not in err + out


def test_a_batch_json_names_a_refused_value_by_its_flag(capsys, store_path, tmp_path):
    code, out, _ = run(
        capsys, store_path, tmp_path / "missing.zarr", "--no-save", "--json", "--exposure-s", 1
    )
    movies = json.loads(out)["movies"]
    assert code == 1 and [movie["status"] for movie in movies] == ["error", "error"]
    assert movies[0]["error"].startswith("--exposure-s (1 s) must not exceed --frame-interval-s")
    assert "does not exist" in movies[1]["error"]


def test_a_diameter_beyond_the_largest_mask_names_the_flag_and_the_range(capsys, store_path):
    """``--diameter-px 1001`` failed after the progress bar had started, naming "diameter" and
    only the upper limit."""
    code, out, err = run(capsys, store_path, "--no-save", "--diameter-px", 1001)
    assert code == 2 and out == ""
    assert "--diameter-px must be an odd integer in 3..255 (px), got 1001" in err, err
    assert "locating" not in err  # refused before the analysis starts


@pytest.mark.parametrize("flag", ["--out", "--report"])
def test_an_empty_output_path_is_refused(capsys, store_path, tmp_path, monkeypatch, flag):
    """``--out ''`` was taken for "no --out" (nothing written, no word); ``--report ''`` for the
    current folder."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:  # argparse refuses it
        run(capsys, store_path, "--no-save", flag, "")
    out, err = capsys.readouterr()
    assert exit.value.code == 2 and out == ""
    assert f"{flag}" in err and "empty" in err, err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["movie.zarr"]


def test_an_empty_movie_path_is_refused(capsys, tmp_path, monkeypatch):
    """``pynta analyze ''`` opened the current folder as a folder of frames."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        run(capsys, "")
    out, err = capsys.readouterr()
    assert exit.value.code == 2 and out == "" and "argument PATH: an empty path" in err, err


@pytest.mark.parametrize("inside", [False, True])
def test_an_out_folder_that_cannot_be_made_is_refused_before_the_analysis(
    capsys, store_path, tmp_path, inside
):
    """``--out`` at a file (or inside one) failed only after the whole analysis."""
    blocker = tmp_path / "results.txt"
    blocker.write_text("notes")
    out_dir = blocker / "run1" if inside else blocker
    code, out, err = run(capsys, store_path, "--no-save", "--out", out_dir)
    assert code == 2 and out == ""
    assert f"--out: cannot create {str(out_dir)!r}: {str(blocker)!r} is a file" in err, err
    assert "locating" not in err and blocker.read_text() == "notes"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files in /proc")
def test_an_analysed_tiff_is_closed_by_the_command(capsys, tmp_path, movie_frames, monkeypatch):
    """`pynta analyze` closes each TIFF it opened, one movie or a batch, rather than leaving
    the file to the garbage collector (an unclosed-file ResourceWarning each); the movies are
    kept alive here, as anything still holding them would."""
    from napari_pynta import batch, readers

    opened = []

    def open_and_keep(path, frame_range=None):
        opened.append(readers_open_movie(path, frame_range))
        return opened[-1]

    readers_open_movie = readers.open_movie
    monkeypatch.setattr(readers, "open_movie", open_and_keep)
    monkeypatch.setattr(batch, "open_movie", open_and_keep)
    paths = [tmp_path / "a.tif", tmp_path / "b.tif"]
    for path in paths:
        tifffile.imwrite(path, movie_frames[0][:30])
    flags = ("--json", "--pixel-size-um", 0.2, "--frame-interval-s", 0.01)
    flags += ("--temperature-c", 22, "--exposure-s", 0.01)

    def open_files():
        targets = {str(path) for path in paths}
        links = (os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd"))
        return sorted(link for link in links if link in targets)

    assert run(capsys, paths[0], *flags)[0] == 0
    assert len(opened) == 1 and open_files() == []
    assert run(capsys, *paths, *flags)[0] == 0
    assert len(opened) > 2 and open_files() == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "flag, target", [("--out", "/proc/pynta-results"), ("--report", "/proc/pynta-report.html")]
)
def test_an_output_where_nothing_can_be_written_is_refused_before_the_analysis(
    capsys, store_path, monkeypatch, flag, target
):
    """`--out` and `--report` in a folder where nothing can be written (/proc even for root; a
    read-only folder for anyone else) were refused only after the whole analysis: the folder's
    permission bits were asked, which do not stop root, or not asked at all (--report)."""
    from napari_pynta import analysis

    def must_not_run(*args, **kwargs):
        raise AssertionError("the analysis ran before the output was checked")

    monkeypatch.setattr(analysis, "analyze", must_not_run)
    code, out, err = run(capsys, store_path, flag, target, "--json", "--no-save")
    assert code == 2 and json_refusal(out, err)
    assert f"pynta analyze: error: {flag}: cannot create {target!r}" in err, err
    assert "nothing can be written in '/proc'" in err, err


def test_the_wide_centroid_is_asked_with_a_flag_and_its_disk_reported(capsys, store_path):
    code, out, _ = run(capsys, store_path, "--json", "--no-save")
    plain = json.loads(out)
    assert code == 0 and plain["params"]["wide_centroid"] is False
    assert plain["params"]["wide_radius_px"] is None
    code, out, _ = run(capsys, store_path, "--json", "--no-save", "--wide-centroid")
    summary = json.loads(out)
    assert code == 0 and summary["params"]["wide_centroid"] is True
    detection = summary["detection"]
    # 100 nm at 100 fps hardly smears: the disk is 2.5 spot widths
    assert summary["params"]["wide_radius_px"] == round(
        2.5 * math.hypot(detection["spot_sigma_px"], detection["streak_sd_px"])
    )
    assert summary["n_localizations"] == plain["n_localizations"]  # no feature added or lost
    assert summary["diameter_nm"] != plain["diameter_nm"]  # the positions moved


def _make_immutable(path, on):
    """chattr the tree at ``path`` (+i: not even root may write it); False where unsupported."""
    import shutil

    if shutil.which("chattr") is None or os.geteuid() != 0:
        return False
    flag = "+i" if on else "-i"
    return subprocess.run(["chattr", "-R", flag, str(path)], capture_output=True).returncode == 0


def test_a_store_that_cannot_be_written_keeps_the_result_and_says_why_plainly(capsys, store_path):
    """A store the user may not write (read-only; as root, an immutable one) is sized, and the
    note said "[Errno 1] Operation not permitted: '.../tables/zarr.<hex>.partial'", naming a
    temporary file of the store's internals; it says the store cannot be written and what to do."""
    if not _make_immutable(store_path, True):
        pytest.skip("needs root and chattr on a file system that supports +i")
    try:
        code, out, err = run(capsys, store_path, "--json")
    finally:
        _make_immutable(store_path, False)
    assert code == 0 and json.loads(out)["n_tracks"] > 0
    assert f"tables not saved into {store_path}: the store cannot be written" in err, err
    assert "Operation not permitted" in err and "--out" in err and ".partial" not in err


def test_a_disk_that_fills_while_the_tables_are_saved_is_an_error_that_says_what_to_do(
    capsys, store_path, movie_frames, monkeypatch
):
    """A disk that filled after the first table (a tmpfs of 6 MB: "[Errno 28] No space left on
    device", reproduced) was a note beside exit code 0, and `pynta verify` then spoke of an
    "interrupted write" the user had not made (x28)."""
    fill_the_disk_after_the_first_table(monkeypatch)
    code, out, err = run(capsys, store_path, "--json")
    assert code == 1 and json.loads(out)["n_tracks"] > 0  # the result is printed all the same
    (said,) = [line for line in err.splitlines() if "tables not saved" in line]
    assert said.startswith(f"pynta analyze: error: tables not saved into {store_path}: "), err
    assert "No space left on device" in said and "disk is full" in said, said
    assert "are incomplete" in said and f"`pynta analyze {store_path}` again" in said, said
    monkeypatch.undo()
    with MovieStore.open(store_path) as store:  # frames untouched
        np.testing.assert_array_equal(store.frames[:], movie_frames[0])
    assert main(["verify", str(store_path)]) == 1
    verified = capsys.readouterr().out
    assert "the results of an analysis are incomplete" in verified, verified
    assert "enough free disk space" in verified, verified


@pytest.fixture
def dark_store_path(tmp_path, movie_frames):
    """A movie of the same size and metadata without any particle (a dark, empty field)."""
    frames, metadata = movie_frames
    dark = np.full_like(frames, 100)
    store = MovieStore.create(tmp_path / "dark.zarr", dark.shape[1:], dark.dtype, metadata)
    store.append(dark)
    store.close()
    return tmp_path / "dark.zarr"


def test_a_movie_without_particles_is_a_failed_measurement_that_keeps_its_summary(
    capsys, dark_store_path, tmp_path
):
    """A dark movie was "analysed" with exit code 0 into a summary of n/a: for a measuring
    instrument a failed measurement. It exits 1 now, says why (no particle found) and what to
    try, and still prints and writes its summary."""
    code, out, err = run(capsys, dark_store_path, "--json", "--out", tmp_path / "results")
    assert code == 1
    summary = json.loads(out)
    assert summary["n_localizations"] == 0 and summary["n_tracks"] == 0
    reason = summary["unsized_reason"]
    assert "no particle was found" in reason and "--minmass" in reason
    assert reason in summary["warnings"]
    assert f"pynta analyze: {dark_store_path}: failed: {reason}" in err.splitlines()
    assert json.loads((tmp_path / "results" / "summary.json").read_text()) == summary


def test_a_reference_without_particles_keeps_its_summary_and_says_why_no_depth(
    capsys, dark_store_path, tmp_path
):
    """`--reference-per-ml` on a movie without particles stopped after the whole analysis with
    "reference_counts must have particles", a name the user never gave, and wrote nothing."""
    out_dir = tmp_path / "results"
    code, out, _ = run(
        capsys, dark_store_path, "--json", "--out", out_dir, "--reference-per-ml", "1e8"
    )
    assert code == 1  # unsized, as without the flag
    summary = json.loads(out)
    assert any(
        "--reference-per-ml: no particle was found in the reference movie" in text
        for text in summary["warnings"]
    )
    assert json.loads((out_dir / "summary.json").read_text()) == summary


def test_tracks_shorter_than_the_filter_fail_naming_the_filter(capsys, store_path):
    """Particles found and linked, but none as long as --min-track-length: exit 1, and the
    message names the filter, not the detection."""
    code, out, err = run(capsys, store_path, "--no-save", "--min-track-length", 149)
    assert code == 1
    assert "No track is as long as --min-track-length (149 frames)" in err
    assert "n/a" in out  # the summary is still printed


def test_a_sized_movie_has_no_unsized_reason(capsys, store_path):
    code, out, _ = run(capsys, store_path, "--no-save", "--json")
    assert code == 0 and json.loads(out)["unsized_reason"] is None


@pytest.mark.parametrize("combine", [False, True])
def test_a_batch_with_a_movie_without_sizes_exits_1_and_keeps_it(
    capsys, store_path, dark_store_path, combine
):
    """The batch (and --combine) counted the dark movie as analysed ('ok') and exited 0."""
    flags = ["--combine"] if combine else []
    code, out, err = run(capsys, dark_store_path, store_path, "--no-save", "--json", *flags)
    document = json.loads(out)
    movies = document["captures" if combine else "movies"]
    assert code == 1
    assert [movie["status"] for movie in movies] == ["unsized", "ok"]
    assert (document["n_failed"], document["n_unsized"]) == (0, 1)
    assert movies[0]["summary"]["n_tracks"] == 0
    assert movies[0]["error"] == movies[0]["summary"]["unsized_reason"]
    assert f"pynta analyze: {dark_store_path}: failed: No track was sized" in err
    if combine:  # the other capture's sizes are combined, the empty one said
        assert document["combined"]["d50_nm"]["n"] == 1


def files_under(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_a_reused_out_folder_holds_this_runs_results_not_an_earlier_runs(
    capsys, store_path, dark_store_path, tmp_path
):
    """A second `--out` run into the same folder kept what the first wrote and this one did not:
    after a batch, a single movie's run left the batch's summary.csv and both movies' folders
    beside its own files, a mix of two analyses. What pynta did not write is kept and named."""
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("the lab's own notes")
    code, _, _ = run(capsys, store_path, dark_store_path, "--no-save", "--json", "--out", out_dir)
    assert code == 1  # the dark movie sized nothing; both folders are written
    batch_files = files_under(out_dir)
    assert {"summary.csv", "movie/summary.json", "dark/summary.json"} <= set(batch_files)
    code, _, err = run(capsys, store_path, "--no-save", "--json", "--out", out_dir)
    single_files = [
        *("localizations.csv", "tracks.csv", "per_track.csv", "summary.json"),
        *("size_distribution.csv", "particle_data.csv", "nta_summary.csv"),
    ]
    assert code == 0 and files_under(out_dir) == sorted([*single_files, "notes.txt", MANIFEST])
    assert not (out_dir / "movie").exists() and not (out_dir / "dark").exists()
    assert "also holds 1 file that this run did not write (notes.txt)" in err, err
    code, _, _ = run(capsys, store_path, dark_store_path, "--no-save", "--json", "--out", out_dir)
    assert files_under(out_dir) == batch_files  # the single run's files are gone in turn


@pytest.mark.parametrize(
    "manifest",
    [json.dumps(["../outside.csv", "/etc/hostname", "run/own.txt/.."]), '["cut', "{}"],
    ids=["pointing outside", "cut", "not a list"],
)
def test_only_files_pynta_listed_inside_the_out_folder_are_ever_deleted(tmp_path, manifest):
    """An edited or damaged manifest deletes nothing: not a file outside the folder, not a
    folder; the files it cannot vouch for are then named as not this run's."""
    from napari_pynta.output_folder import clear_earlier_outputs, record_outputs

    out_dir = tmp_path / "results"
    (out_dir / "run").mkdir(parents=True)
    (out_dir / "run" / "own.txt").write_text("mine")
    (tmp_path / "outside.csv").write_text("keep")
    (out_dir / MANIFEST).write_text(manifest)
    clear_earlier_outputs(out_dir)
    assert (tmp_path / "outside.csv").exists() and (out_dir / "run" / "own.txt").exists()
    assert record_outputs(out_dir, []) == [Path("run/own.txt")]


def test_a_pynta_folder_holding_a_users_file_keeps_it_and_the_folder(tmp_path):
    from napari_pynta.output_folder import clear_earlier_outputs, record_outputs

    out_dir = tmp_path / "results"
    (out_dir / "movie").mkdir(parents=True)
    for name in ("movie/summary.json", "movie/tracks.csv", "summary.csv"):
        (out_dir / name).write_text("pynta's")
    assert record_outputs(out_dir, [out_dir / "summary.csv", out_dir / "movie/summary.json"]) == [
        Path("movie/tracks.csv")
    ]
    clear_earlier_outputs(out_dir)
    assert files_under(out_dir) == sorted(["movie/tracks.csv", MANIFEST])


def test_a_large_folder_given_as_out_is_not_walked_to_its_end(tmp_path, monkeypatch):
    """An --out pointed at a folder of data (a home folder) is looked through only until enough
    files that this run did not write are found to warn; the warning says there are more."""
    from napari_pynta import output_folder

    monkeypatch.setattr(output_folder, "MAX_LEFTOVERS", 5)
    for index in range(12):
        (tmp_path / f"data{index:02d}.tif").write_text("the user's")
    leftovers = output_folder.record_outputs(tmp_path, [])
    assert len(leftovers) == 5
    warning = output_folder.leftover_warning(tmp_path, leftovers)
    assert warning is not None and "at least 5 files" in warning, warning


def test_a_number_stored_as_text_is_refused_with_the_flag_that_replaces_it(capsys, store_path):
    """A store whose zarr.json holds pixel_size_um as the text "0.2" was analysed, then the
    summary's printing ended in a traceback ("Unknown format code 'g' for object of type
    'str'") (x24)."""
    root = json.loads((store_path / "zarr.json").read_text())
    root["attributes"]["pynta"]["metadata"]["pixel_size_um"] = "0.2"
    (store_path / "zarr.json").write_text(json.dumps(root))
    code, _, err = run(capsys, store_path, "--no-save", "--frames", "0:20")
    assert code == 2
    assert "its metadata's pixel_size_um must be a number, got '0.2'" in err, err
    assert "--pixel-size-um" in err


@pytest.mark.parametrize(
    ("pixel_sizes", "reason"),
    [
        # refused as "the movie has no pixel_size_um metadata", the reader's warning that said
        # why (non-square pixels, neither used) never printed (x27)
        ((0.1, 0.2), "gives pixels of 0.1 \u00b5m by 0.2 \u00b5m"),
        # the same refusal with no word of the 0 the file gives (x28)
        ((0, 0), 'PhysicalSizeX="0", not a positive pixel size: it was ignored'),
    ],
    ids=["non-square", "zero"],
)
def test_a_refusal_for_want_of_a_pixel_size_gives_the_readers_reason(
    capsys, tmp_path, pixel_sizes, reason
):
    """An OME-TIFF whose pixel size the reader cannot use is refused with the reader's reason
    beside the flag to give."""
    path = tmp_path / "movie.ome.tif"
    frames = np.random.default_rng(0).poisson(100, (12, 16, 16)).astype(np.uint16)
    size_x, size_y = pixel_sizes
    metadata = {"axes": "TYX", "PhysicalSizeX": size_x, "PhysicalSizeY": size_y}
    tifffile.imwrite(path, frames, ome=True, metadata={**metadata, "TimeIncrement": 0.01})
    code, _, err = run(capsys, path, "--no-save", "--exposure-s", 0.005, "--temperature-c", 22)
    assert code == 2
    assert err.startswith("pynta analyze: error: --pixel-size-um is required"), err
    assert reason in err, err


def test_a_stored_viscosity_out_of_range_is_refused_as_the_movies_not_as_a_flag(capsys, store_path):
    """A store whose viscosity read 100 Pa·s was refused as "--viscosity-pa-s must be in
    [0.0001, 10] (Pa·s), got 100.0", a flag the user had not given (x27)."""
    root = json.loads((store_path / "zarr.json").read_text())
    root["attributes"]["pynta"]["metadata"]["viscosity_pa_s"] = 100.0
    (store_path / "zarr.json").write_text(json.dumps(root))
    code, _, err = run(capsys, store_path, "--no-save", "--frames", "0:20")
    assert code == 2
    assert "its metadata's viscosity_pa_s must be in [0.0001, 10] (Pa·s), got 100.0" in err, err
    assert err.rstrip().endswith("give the right value with --viscosity-pa-s"), err


@pytest.mark.parametrize(
    ("flag", "inside"), [("--out", "."), ("--out", "0"), ("--report", "r.html")]
)
def test_an_output_in_the_store_analysed_is_refused(capsys, store_path, flag, inside):
    """`pynta analyze run.zarr --out run.zarr` (or --out run.zarr/0, the frames' own array, or
    --report run.zarr/r.html) wrote the CSV tables and reports among the store's chunks, with
    exit code 0: files that the store's next `--overwrite` deletes with it (x24). Nothing is
    analysed or written then."""
    before = sorted(p.relative_to(store_path) for p in store_path.rglob("*"))
    target = store_path / inside
    code, _, err = run(capsys, store_path, "--no-save", flag, target)
    assert code == 2
    assert f"{flag} {str(target)!r} is or lies in the movie {str(store_path)!r}" in err, err
    assert sorted(p.relative_to(store_path) for p in store_path.rglob("*")) == before


def test_a_frame_interval_flag_the_frame_times_contradict_is_warned(capsys, tmp_path, movie_frames):
    """`--frame-interval-s 0.001` (ms taken for s, or a wrong camera setting) on a store whose
    frame times are 10 ms apart gave sizes 10 times too small without a word, while the same
    value stored as metadata is replaced by the measured interval with a warning (x24). The
    flag still wins (it is how a wrong camera clock is overridden), but says so."""
    frames, metadata = movie_frames  # 10 ms apart
    store_path = tmp_path / "timed.zarr"
    with MovieStore.create(store_path, frames.shape[1:], frames.dtype, metadata) as store:
        store.append(frames, timestamps_s=np.arange(len(frames)) * 0.01)
    flags = ("--no-save", "--json", "--frame-interval-s", "0.001", "--exposure-s", "0.001")
    code, out, _ = run(capsys, store_path, *flags)
    summary = json.loads(out)
    assert code == 0 and summary["params"]["frame_interval_s"] == 0.001
    said = [w for w in summary["warnings"] if "--frame-interval-s" in w and "frame times" in w]
    assert len(said) == 1 and "10 ms" in said[0] and "1 ms" in said[0], summary["warnings"]
    code, out, _ = run(capsys, store_path, "--no-save", "--json", "--frame-interval-s", "0.01")
    assert not [w for w in json.loads(out)["warnings"] if "--frame-interval-s" in w]
