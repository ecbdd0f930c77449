"""Record until precise: the precision measure and `pynta acquire --until-precision`."""

from __future__ import annotations

import json

import pytest
from test_live_pipeline import no_leftover_processes  # noqa: F401

from napari_pynta.cli import main
from napari_pynta.errors import PyntaInputError
from napari_pynta.precision import MIN_TRACKS, check_target, precise_enough, relative_se

SCENE = ["--camera-option", "shape=128,128", "--camera-option", "n_particles=12", "--fps", "100"]
#: a `pynta acquire --track` result, as format_result takes it, without its sizes' D50
ACQUIRE_RESULT = {
    "frames_acquired": 100,
    "fps": 100.0,
    "fps_requested": 100.0,
    "frames_lost_by_camera": 0,
    "camera": "simulated",
    "tracking_latency_s": None,
    "out": None,
    "n_tracks": 60,
    "diameter_nm": 101.0,
    "diameter_se_nm": 1.0,
    "particles_per_frame": 3.0,
}


def test_relative_se_waits_for_enough_tracks():
    summary = {"diameter_nm": 100.0, "diameter_se_nm": 1.5, "n_tracks": MIN_TRACKS}
    assert relative_se(summary) == pytest.approx(0.015)
    # the ensemble diameter is informative only: the criterion is the deconvolved D50
    assert not precise_enough(summary, 0.02)
    assert relative_se(summary | {"n_tracks": MIN_TRACKS - 1}) is None
    assert relative_se(summary | {"diameter_nm": None}) is None
    assert not precise_enough(None, 0.5)
    for bad in (0, 1.5, "x"):
        with pytest.raises(PyntaInputError, match="--until-precision"):
            check_target(bad)


def test_until_precision_needs_tracking_and_a_time_limit(capsys):
    assert main(["acquire", "--until-precision", "0.02", "--seconds", "5"]) == 2
    assert "needs --track" in capsys.readouterr().err


@pytest.mark.slow
def test_recording_stops_once_precise_or_at_the_time_limit(tmp_path, capsys):
    base = ["acquire", "--track", "--json", *SCENE]
    out = str(tmp_path / "precise.zarr")
    assert main([*base, "--until-precision", "0.05", "--seconds", "120", "--out", out]) == 0
    precise = json.loads(capsys.readouterr().out)
    said = {key: precise.get(key) for key in ("d50_relative_se", "d50_relative_se_at_stop")}
    assert precise["precision_reached"], said | {"frames": precise["frames_acquired"]}
    assert (precise["d50_relative_se_at_stop"] or 1.0) <= 0.05, said
    assert precise["n_tracks"] >= MIN_TRACKS
    assert precise["frames_saved"] == precise["frames_acquired"] < 120 * 100  # stopped early
    assert main([*base, "--until-precision", "0.0001", "--seconds", "4"]) == 0
    limited = json.loads(capsys.readouterr().out)
    assert not limited["precision_reached"]
    assert limited["frames_acquired"] <= 4.5 * 100  # stopped by the time limit


def test_the_human_summary_gives_the_deconvolved_d50_and_the_precision_reached():
    from napari_pynta.cli.acquire import format_result

    result = ACQUIRE_RESULT | {
        "deconvolved_nm": {"d50": 103.0, "d50_se": 2.0},
        "until_precision": 0.02,
        "d50_relative_se": 2.0 / 103.0,
        "precision_reached": True,
    }
    text = format_result(result)
    assert "deconvolved D50 103.0 ± 2.0 nm" in text
    assert "precision of D50 1.9 % (target 2 %): reached" in text


def test_a_run_stopped_by_its_precision_says_reached_though_the_final_sizes_are_a_little_less():
    """The run stopped once the live D50 was precise; the final sizes, which also hold the
    frames recorded while it stopped, came out at 5.1 % for a 5 % target, and the result said
    "NOT reached (time limit)" of a run the time limit never ended."""
    from types import SimpleNamespace

    from napari_pynta.cli.acquire import PrecisionStop, _precision_result, format_result

    def status(d50_se: float) -> SimpleNamespace:
        deconvolved = {"d50": 100.0, "d50_se": d50_se}
        summary = {"n_tracks": MIN_TRACKS, "deconvolved_nm": deconvolved}
        return SimpleNamespace(size_summary=summary | {"diameter_nm": 100.0})

    stop = PrecisionStop(0.05)
    assert not stop(status(6.0)) and stop.reached_value is None
    assert stop(status(4.9)) and stop(status(5.1))  # stays stopped
    result = _precision_result(status(5.1), stop)
    assert result["precision_reached"] and result["d50_relative_se"] == pytest.approx(0.051)
    assert result["d50_relative_se_at_stop"] == pytest.approx(0.049)
    never = PrecisionStop(0.05)
    assert not never(status(6.0))
    assert not _precision_result(status(6.0), never)["precision_reached"]
    summary = ACQUIRE_RESULT | {"deconvolved_nm": {"d50": 100.0, "d50_se": 5.1}}
    text = format_result(summary | result)
    assert "precision of D50 5.1 % (target 5 %): reached (4.9 % when the run stopped" in text
