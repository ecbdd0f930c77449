"""A cancelled analysis stops inside linking and sizing, not only between detection's frames:
the long loops of the core check :func:`napari_pynta.cancellation.checkpoint`."""

from __future__ import annotations

import threading

import dask.array as da
import pytest

from napari_pynta import analysis, cancellation, deconvolve, link, simulate, sizing
from napari_pynta.readers import Movie


def stop_after(calls: int) -> tuple[list[int], object]:
    """A ``should_stop`` that says stop at its ``calls``-th call, and the count of its calls."""
    count = [0]

    def should_stop() -> bool:
        count[0] += 1
        return count[0] >= calls

    return count, should_stop


def a_movie(n_frames: int = 200) -> Movie:
    simulated = simulate.simulate_movie(
        n_frames, simulate.SimulationSettings(shape=(128, 128), n_particles=12, seed=5)
    )
    frames = da.from_array(simulated.frames, chunks=(1, 128, 128))
    return Movie(frames=frames, metadata=simulated.metadata, source="simulated", store=None)


@pytest.fixture(scope="module")
def localizations():
    movie = a_movie()
    params = analysis.AnalysisParams.from_metadata(movie.metadata).validate()
    params = analysis.resolve_minmass(movie.frames, params)
    return analysis.detect_frames(movie.frames, params)


def test_outside_stop_when_a_checkpoint_does_nothing():
    cancellation.checkpoint()


def test_linking_stops_at_the_frame_after_the_stop(localizations):
    """Before: link_features ran every frame to the end whatever the caller wanted."""
    n_frames = localizations["frame"].nunique()
    count, should_stop = stop_after(10)
    with (
        pytest.raises(cancellation.AnalysisCancelled),
        cancellation.stop_when(should_stop),
    ):
        link.link_features(localizations, 5.0, memory=3)
    assert count[0] == 10 < n_frames  # asked once a frame, and not again once it said stop
    # the same localizations link in full when nothing stops them
    with cancellation.stop_when(lambda: False):
        assert len(link.link_features(localizations, 5.0, memory=3)) == len(localizations)


def test_the_deconvolution_stops_at_the_iteration_after_the_stop(localizations):
    linked = link.link_features(localizations, 5.0, memory=3)
    tracks = link.filter_tracks(linked, 5)
    settings = {
        "pixel_size_um": 0.1,
        "frame_interval_s": 0.01,
        "exposure_s": 0.005,
        "temperature_c": 22.0,
        "viscosity_pa_s": 0.00095,
    }
    per_track = sizing.track_diffusion(tracks, **settings)
    count, should_stop = stop_after(3)
    with (
        pytest.raises(cancellation.AnalysisCancelled),
        cancellation.stop_when(should_stop),
    ):
        deconvolve.deconvolve_tracks(tracks, per_track, **settings)
    assert count[0] == 3


def test_a_whole_analysis_cancelled_after_detection_ends_before_linking_does():
    """Cancel pressed while "linking and sizing…" is shown: the analysis raises at the next
    frame linked, where it used to run linking (three times) and sizing to their end."""
    movie = a_movie()
    located = threading.Event()
    linked_frames = [0]
    original_add = link.StreamingLinker.add

    def counting_add(self, *args, **kwargs):
        # frames linked after the detection ended (the pilot links its frames before)
        linked_frames[0] += located.is_set()
        return original_add(self, *args, **kwargs)

    def progress(done: int, total: int) -> None:
        if done >= total:
            located.set()

    params = analysis.AnalysisParams.from_metadata(movie.metadata)
    link.StreamingLinker.add = counting_add
    try:
        with (
            pytest.raises(cancellation.AnalysisCancelled),
            cancellation.stop_when(located.is_set),
        ):
            analysis.analyze(movie, params, progress=progress)
    finally:
        link.StreamingLinker.add = original_add
    assert located.is_set()
    assert linked_frames[0] <= 1  # before: the linking and two relinkings (> 600)
