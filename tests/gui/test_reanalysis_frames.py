"""The *Frames* field next to *Analyze movie*: a part of the movie re-analysed from the GUI, a
range it cannot take refused in words, and a damaged store's readable part analysed as its
refusal advises (`pynta analyze --frames` in the window)."""

from __future__ import annotations

import numpy as np
import pytest
from store_faults import fill_the_disk_after_the_first_table

from napari_pynta import analysis, simulate
from napari_pynta.frame_range import RANGE_SYNTAX
from napari_pynta.readers import open_movie
from napari_pynta.store import MovieStore

N_FRAMES = 300


@pytest.fixture(scope="module")
def simulated():
    """A 100 nm movie of 300 frames of 128 x 128 px."""
    settings = simulate.SimulationSettings(shape=(128, 128), n_particles=12, seed=4)
    return simulate.simulate_movie(N_FRAMES, settings)


def write_store(path, frames, metadata):
    with MovieStore.create(path, frames.shape[1:], frames.dtype, metadata) as store:
        store.append(frames)
    return path


def analyse(tracking, wait_for, frames: str) -> list:
    """Type ``frames`` into the field, click *Analyze movie*, wait for the end; the results."""
    results: list = []
    tracking.session.analysis_finished.connect(results.append)
    tracking.frames.setText(frames)
    tracking.analyze.click()
    wait_for(lambda: results or tracking.message_line.is_error, 120, "the analysis")
    assert tracking.session.wait_idle(30)
    tracking.session.analysis_finished.disconnect(results.append)
    return results


def test_a_range_analyses_only_those_frames_as_a_movie_of_them_alone(
    pynta, wait_for, tmp_path, simulated
):
    """Frames 100..249 re-analysed from the GUI size exactly what a movie of those 150 frames
    alone gives, on the recorded frames' own indices."""
    viewer, widgets = pynta
    path = write_store(tmp_path / "beads.zarr", simulated.frames, simulated.metadata)
    viewer.open(str(path), plugin="napari-pynta")
    tracking, sizes = widgets["Tracking"], widgets["Sizes"]
    (result,) = analyse(tracking, wait_for, "100:250")
    assert result.summary["n_frames"] == 150 and result.summary["frame_range"] == [100, 250]
    alone = write_store(tmp_path / "alone.zarr", simulated.frames[100:250], simulated.metadata)
    params = analysis.AnalysisParams.from_metadata(
        simulated.metadata, engine=tracking.engine.currentText()
    )
    reference = analysis.analyze(open_movie(alone), params)
    assert result.summary["diameter_nm"] == pytest.approx(
        reference.summary["diameter_nm"], rel=1e-9
    )
    assert np.array_equal(
        result.localizations["frame"].to_numpy(), reference.localizations["frame"].to_numpy() + 100
    )
    assert abs(result.summary["diameter_nm"] - 100.0) < 3 * result.summary["diameter_se_nm"]
    # the widgets say which frames were analysed; the store keeps the part's tables
    assert sizes.source_label.text() == "sizes from analysis of beads over frames 100..249"
    assert tracking.message_line.text().startswith(
        f"{len(result.per_track)} tracks sized over frames 100..249; results saved in"
    )
    saved = MovieStore.open(path).read_table("localizations")["frame"]
    assert saved.min() >= 100 and saved.max() <= 249
    report = sizes.write_report(tmp_path / "report.html").read_text()
    assert "150 (frames 100..249)" in report
    # an empty field analyses every frame again
    (whole,) = analyse(tracking, wait_for, " ")
    assert whole.summary["frame_range"] == [0, N_FRAMES]
    assert sizes.source_label.text() == "sizes from analysis of beads"


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (
            "100:400",
            "refused: Frames 100:400 does not select frames of 'beads', which has 300 frames: "
            "START and STOP must be in 0..300 (or -300..-1, counted back from the end), START "
            "before STOP",
        ),
        (
            "100-200",
            f"refused: Frames must be {RANGE_SYNTAX}, got '100-200'; 'beads' has 300 frames",
        ),
    ],
)
def test_a_range_the_movie_cannot_take_is_refused_and_starts_nothing(
    pynta, tmp_path, simulated, frames, message
):
    viewer, widgets = pynta
    path = write_store(tmp_path / "beads.zarr", simulated.frames, simulated.metadata)
    viewer.open(str(path), plugin="napari-pynta")
    tracking = widgets["Tracking"]
    tracking.frames.setText(frames)
    tracking.analyze.click()
    assert tracking.message_line.is_error
    assert tracking.message_line.text() == message
    assert not tracking.session.analysing and tracking.progress.isHidden()
    assert not tracking.cancel.isEnabled()


def test_a_damaged_store_is_refused_with_the_field_to_set_and_analysed_over_it(
    pynta, wait_for, tmp_path, simulated
):
    """A store whose frames 64..127 are missing on disk: the refusal names the Frames field
    (the CLI says --frames, the Python API frame_range), and that range is then analysed."""
    viewer, widgets = pynta
    path = write_store(tmp_path / "damaged.zarr", simulated.frames, simulated.metadata)
    (path / "0" / "c" / "1" / "0" / "0").unlink()  # the shard of frames 64..127
    viewer.open(str(path), plugin="napari-pynta")
    tracking = widgets["Tracking"]
    assert analyse(tracking, wait_for, "") == []
    text = tracking.message_line.text()
    assert text.startswith(f"analysis failed: store {str(path)!r} is damaged: frames 64..127")
    assert (
        f"readable: frames 0..63 and 128..{N_FRAMES - 1}; analyse frames 128..{N_FRAMES - 1} "
        f"alone with Frames=128:{N_FRAMES}; run `pynta verify {path}`"
    ) in text
    assert "frame_range" not in text
    (result,) = analyse(tracking, wait_for, f"128:{N_FRAMES}")
    assert result.summary["n_frames"] == N_FRAMES - 128
    assert result.summary["frame_range"] == [128, N_FRAMES]
    assert len(result.per_track) > 0


def test_a_store_that_lost_a_seq_chunk_opens_and_its_numbered_frames_are_analysed(
    pynta, wait_for, tmp_path, simulated
):
    """A lost seq chunk (frames 0..4095 without their number): napari raised the analysis'
    refusal and showed nothing; the store now opens with every frame, a warning says which
    frames lost their number and which Frames to analyse, and that range is analysed, its
    points on the layer's own frames."""
    viewer, widgets = pynta
    lead = 4096  # the first seq chunk's frames: dark, then the simulated movie
    dark = np.full((lead, *simulated.frames.shape[1:]), 100, dtype=simulated.frames.dtype)
    movie = np.concatenate([dark, simulated.frames])
    path = write_store(tmp_path / "seq lost.zarr", movie, simulated.metadata)
    (path / "seq" / "c" / "0").unlink()
    total = lead + N_FRAMES
    with pytest.warns(UserWarning) as caught:
        (layer,) = viewer.open(str(path), plugin="napari-pynta")
    said = " ".join(str(warning.message) for warning in caught)
    assert layer.data.shape[0] == total
    assert np.array_equal(np.asarray(layer.data[lead + 7]), simulated.frames[7])
    assert f"frames 0..{lead - 1} are shown, but without their frame numbers" in said, said
    assert f"analyse them alone with Frames={lead}:{total}" in said
    tracking = widgets["Tracking"]
    assert analyse(tracking, wait_for, "") == []  # every frame: refused, naming the field
    assert f"analyse them alone with Frames={lead}:{total}" in tracking.message_line.text()
    results = analyse(tracking, wait_for, f"{lead}:{total}")
    assert len(results) == 1, tracking.message_line.text()
    (result,) = results
    assert result.summary["frame_range"] == [lead, total]
    assert result.localizations["frame"].min() >= lead
    assert abs(result.summary["diameter_nm"] - 100.0) < 3 * result.summary["diameter_se_nm"]
    # the store refuses to be written (its frames would be taken for an interrupted block):
    # the result stands and says so, as `pynta analyze` does (the GUI failed, the result lost)
    assert tracking.message_line.text().startswith(
        f"{len(result.per_track)} tracks sized over frames {lead}..{total - 1}; results not "
        f"saved into the store: {str(path)!r} cannot be opened for writing"
    )
    with MovieStore.open(path) as store:
        assert store.table_names() == [] and len(store.recorded_frames()) == total


def test_a_disk_that_fills_while_the_results_are_saved_keeps_the_result_and_says_so(
    pynta, wait_for, tmp_path, simulated, monkeypatch
):
    """*Analyze movie* on a store whose disk filled after the first table lost the result it had
    computed ("[Errno 28] No space left on device" as the analysis' error), and it wrote the
    tables one by one, so the new localizations stood beside the old tracks (x28)."""
    from napari_pynta.verify import verify_store

    viewer, widgets = pynta
    path = write_store(tmp_path / "beads.zarr", simulated.frames[:100], simulated.metadata)
    viewer.open(str(path), plugin="napari-pynta")
    fill_the_disk_after_the_first_table(monkeypatch)
    tracking = widgets["Tracking"]
    (result,) = analyse(tracking, wait_for, "")
    assert result.summary["n_tracks"] > 0
    text = tracking.message_line.text()
    assert "results not saved into the store: No space left on device" in text, text
    assert "free disk space and analyse the movie again" in text, text
    monkeypatch.undo()
    (problem,) = verify_store(path).problems  # the set is refused, not half read
    assert "the results of an analysis are incomplete" in problem.message
