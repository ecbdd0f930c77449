"""Reader, tracks writer and sample data of the napari plugin, through a real viewer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
from store_faults import write_tables_killed_after_the_first

from napari_pynta.errors import PyntaDataError
from napari_pynta.store import MovieStore
from napari_pynta.widgets.napari_io import (
    SAMPLE_FRAMES,
    SAMPLE_SHAPE,
    get_reader,
    sample_settings,
    write_tracks,
)

PIXEL_UM = 0.2


@pytest.fixture
def store_with_results(tmp_path):
    """A 12-frame store holding a localization table and two straight tracks."""
    rng = np.random.default_rng(3)
    frames = rng.integers(90, 110, (12, 40, 50), dtype=np.uint16)
    path = tmp_path / "movie.zarr"
    metadata = {
        "pixel_size_um": PIXEL_UM,
        "frame_interval_s": 0.02,
        "exposure_s": 0.01,
        "temperature_c": 25.0,
    }
    store = MovieStore.create(path, (40, 50), "uint16", metadata)
    store.append(frames)
    frame = np.repeat(np.arange(12), 2)
    particle = np.tile([0, 1], 12)
    tracks = pd.DataFrame(
        {
            "frame": frame,
            "particle": particle,
            "y": 10.0 + 0.5 * frame + 10 * particle,
            "x": 20.0 - 0.25 * frame,
        }
    )
    store.write_table("localizations", tracks.drop(columns="particle"))
    store.write_table("tracks", tracks)
    store.close()
    return path, frames, tracks


def test_reader_claims_stores_tiffs_and_image_folders_only(tmp_path, store_with_results):
    path, frames, _ = store_with_results
    tifffile.imwrite(tmp_path / "movie.tif", frames, photometric="minisblack")
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(frames[:3]):
        tifffile.imwrite(folder / f"f{index}.tif", frame)
    (tmp_path / "notes.txt").write_text("not a movie")
    (tmp_path / "empty").mkdir()
    for claimed in (path, tmp_path / "movie.tif", folder):
        assert get_reader(str(claimed)) is not None, claimed
    import zarr

    zarr.open_group(str(tmp_path / "other.zarr"), mode="w").create_array("a", data=frames)
    refused_paths = [
        tmp_path / name for name in ("notes.txt", "empty", "missing.zarr", "other.zarr")
    ]
    for refused in refused_paths:
        assert get_reader(str(refused)) is None, refused
    assert get_reader([str(path), str(path)]) is None


def test_store_opens_lazily_with_physical_scale_points_and_tracks(
    make_napari_viewer, store_with_results
):
    path, frames, tracks = store_with_results
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin="napari-pynta")
    image, points, track_layer = layers
    assert image.data.shape == frames.shape
    assert "dask" in type(image.data).__module__  # lazy: frames are read when displayed
    np.testing.assert_array_equal(np.asarray(image.data[5]), frames[5])
    np.testing.assert_allclose(image.scale, (1.0, PIXEL_UM, PIXEL_UM))
    assert image.metadata["pynta"]["movie_metadata"]["frame_interval_s"] == 0.02
    np.testing.assert_allclose(points.data, tracks[["frame", "y", "x"]].to_numpy())
    np.testing.assert_allclose(points.scale, (1.0, PIXEL_UM, PIXEL_UM))
    expected = tracks.sort_values(["particle", "frame"])[["particle", "frame", "y", "x"]].to_numpy()
    np.testing.assert_allclose(track_layer.data, expected)


def test_what_the_movie_reader_warns_of_reaches_the_viewer(make_napari_viewer, store_with_results):
    """The napari reader dropped the movie's warnings: a store whose results were interrupted
    while being replaced opened without its tables and without a word, as did times that go
    back. They are raised as warnings, which napari shows as notifications."""
    path, frames, _ = store_with_results
    chunk = path / "timestamps_s" / "c" / "0"  # raw float64 values: the camera's clock
    times = np.frombuffer(chunk.read_bytes(), "<f8").copy()
    times[6:12] -= 1.0  # jumped back once
    chunk.write_bytes(times.tobytes())
    store = MovieStore.open(path, mode="r+")

    write_tables_killed_after_the_first(
        store, {name: pd.DataFrame({"x": [1.0]}) for name in ("localizations", "tracks")}
    )
    viewer = make_napari_viewer()
    with pytest.warns(UserWarning) as caught:
        layers = viewer.open(str(path), plugin="napari-pynta")
    said = " ".join(str(warning.message) for warning in caught)
    assert [layer._type_string for layer in layers] == ["image"]  # no mixed results shown
    assert "'localizations', 'tracks'" in said and "analyse the movie again" in said
    assert "frame times go back at 1 place (first at frame 6" in said, said


def test_plain_tiff_is_left_to_napari_without_a_choice(make_napari_viewer, tmp_path):
    frames = np.arange(5 * 8 * 9, dtype=np.uint16).reshape(5, 8, 9)
    tifffile.imwrite(tmp_path / "movie.tif", frames, photometric="minisblack")
    viewer = make_napari_viewer()
    # plugin=None, as File > Open: napari would refuse to guess if two readers claimed *.tif
    # (viewer.open's default plugin is napari's own, which would prove nothing)
    (image,) = viewer.open(str(tmp_path / "movie.tif"), plugin=None)
    np.testing.assert_array_equal(np.asarray(image.data), frames)
    assert "pynta" not in image.metadata


def test_avi_and_foreign_ome_zarr_open_with_their_scale(make_napari_viewer, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    from foreign_files import write_avi, write_ome_zarr

    frames = np.random.default_rng(1).integers(0, 255, (12, 24, 32), dtype=np.uint8)
    viewer = make_napari_viewer()
    (video,) = viewer.open(str(write_avi(tmp_path / "c.avi", frames, 25.0)), plugin="napari-pynta")
    np.testing.assert_array_equal(np.asarray(video.data), frames)
    assert video.metadata["pynta"]["movie_metadata"]["frame_interval_s"] == pytest.approx(0.04)
    for version in ("0.4", "0.5"):
        path = write_ome_zarr(tmp_path / f"o{version}.zarr", frames, version, 0.25, 0.02)
        (image,) = viewer.open(str(path), plugin="napari-pynta")
        np.testing.assert_array_equal(np.asarray(image.data), frames)
        np.testing.assert_allclose(image.scale, (1.0, 0.25, 0.25))
        assert image.metadata["pynta"]["movie_metadata"]["frame_interval_s"] == pytest.approx(0.02)


def test_tracks_writer_round_trips_pixels_and_micrometres(
    make_napari_viewer, tmp_path, store_with_results
):
    path, _, tracks = store_with_results
    viewer = make_napari_viewer()
    track_layer = viewer.open(str(path), plugin="napari-pynta")[2]
    viewer.layers.selection = {track_layer}
    viewer.layers.save(str(tmp_path / "tracks.csv"), selected=True, plugin="napari-pynta")
    table = pd.read_csv(tmp_path / "tracks.csv")
    expected = tracks.sort_values(["particle", "frame"]).reset_index(drop=True)
    np.testing.assert_array_equal(table["particle"], expected["particle"])
    np.testing.assert_allclose(table[["y", "x"]], expected[["y", "x"]])
    np.testing.assert_allclose(table["x_um"], expected["x"] * PIXEL_UM)
    paths = write_tracks(str(tmp_path / "direct"), track_layer.data, {"scale": track_layer.scale})
    assert paths == [str(tmp_path / "direct.csv")]
    with pytest.raises(PyntaDataError, match="tracks data must be"):
        write_tracks(str(tmp_path / "bad.csv"), np.zeros((3, 2)), {})


def test_sample_is_the_simulated_movie_with_its_ground_truth(make_napari_viewer):
    viewer = make_napari_viewer()
    (layer,) = viewer.open_sample("napari-pynta", "simulated_movie")
    settings = sample_settings()
    assert layer.data.shape == (SAMPLE_FRAMES, *SAMPLE_SHAPE)
    np.testing.assert_allclose(layer.scale, (1.0, settings.pixel_size_um, settings.pixel_size_um))
    truth = layer.metadata["pynta"]["true_diameters_nm"]
    np.testing.assert_allclose(truth, 100.0)
    background = np.median(layer.data[0])
    assert layer.data[0].max() > background + 100  # particles stand out of the background


def test_avi_and_pynta_store_open_without_a_reader_question_once_pynta_is_preferred(
    make_napari_viewer, tmp_path, store_with_results, private_napari_settings, monkeypatch
):
    pytest.importorskip("imageio_ffmpeg")
    import napari._qt.qt_viewer
    from foreign_files import write_avi
    from napari.errors import MultipleReaderError

    from napari_pynta.widgets.reader_preference import PREFERRED_PATTERNS, prefer_pynta_reader

    store, store_frames, _ = store_with_results
    frames = np.random.default_rng(2).integers(0, 255, (6, 16, 20), dtype=np.uint8)
    avi = write_avi(tmp_path / "capture.avi", frames, 30.0)
    viewer = make_napari_viewer()
    # why napari asked: its built-in reader also claims videos and every folder (plugin=None is
    # what File > Open and drag-and-drop use; viewer.open's default plugin is napari's own)
    for path in (avi, store):
        with pytest.raises(MultipleReaderError):
            viewer.open(str(path), plugin=None)
    assert prefer_pynta_reader() == list(PREFERRED_PATTERNS)  # what `pynta` does at start

    def no_dialog(*args, **kwargs):
        pytest.fail(f"napari asked which reader to use for {args[0]}")

    monkeypatch.setattr(napari._qt.qt_viewer, "handle_gui_reading", no_dialog)
    qt_viewer = viewer.window._qt_viewer
    qt_viewer._qt_open([str(avi)], stack=False)  # File > Open, as the GUI does it
    (video,) = viewer.layers
    np.testing.assert_array_equal(np.asarray(video.data), frames)
    assert video.metadata["pynta"]["movie_metadata"]["frame_interval_s"] == pytest.approx(1 / 30)
    qt_viewer._qt_open([str(store)], stack=False)
    image, points, tracks = viewer.layers[1:]
    np.testing.assert_array_equal(np.asarray(image.data), store_frames)
    assert [type(layer).__name__ for layer in (points, tracks)] == ["Points", "Tracks"]
    # a user's own choice wins, and a preference removed by the user is not put back
    preferences = private_napari_settings.plugins
    preferences.extension2reader = {"*.avi": "napari"}
    assert prefer_pynta_reader() == []
    assert preferences.extension2reader == {"*.avi": "napari"}
    # plain TIFFs stay napari's, without a question
    tifffile.imwrite(tmp_path / "plain.tif", frames, photometric="minisblack")
    qt_viewer._qt_open([str(tmp_path / "plain.tif")], stack=False)
    assert "pynta" not in viewer.layers[-1].metadata
