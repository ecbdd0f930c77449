"""Tests of open_movie: pynta stores, TIFF files and folders of PNG/TIFF frames."""

from __future__ import annotations

import re
import warnings

import dask.array as da
import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr

from napari_pynta.errors import PyntaDataError, PyntaInputError
from napari_pynta.readers import natural_sort_key, open_movie, rgb_to_luminance
from napari_pynta.store import MovieStore


def grey_movie(n=4, shape=(6, 7), dtype=np.uint16, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, (n, *shape), dtype=dtype)


def rgb_movie(n=3, shape=(6, 7), channels=3, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape, channels), dtype=np.uint8)


def expected_luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma written out per channel, independent of the implementation's matmul."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return np.floor(0.299 * r + 0.587 * g + 0.114 * b + 0.5).astype(rgb.dtype)


# ---------------------------------------------------------------------------- store
def test_pynta_store_opens_lazily_with_metadata_and_tables(tmp_path):
    frames = grey_movie(5)
    path = tmp_path / "rec.zarr"
    with MovieStore.create(path, (6, 7), "uint16", {"pixel_size_um": 0.1}) as store:
        store.append(frames)
        store.write_table("tracks", pd.DataFrame({"particle": [1, 1], "x": [2.0, 2.5]}))
    movie = open_movie(path)
    assert isinstance(movie.frames, da.Array)
    np.testing.assert_array_equal(movie.frames.compute(), frames)
    assert movie.metadata["pixel_size_um"] == 0.1
    assert movie.source == str(path)
    assert movie.store is not None and movie.store.mode == "r"
    assert movie.store.table_names() == ["tracks"]


def test_store_without_zarr_suffix_is_recognised_by_its_layout(tmp_path):
    path = tmp_path / "recording"
    with MovieStore.create(path, (6, 7), "uint8", {}) as store:
        store.append(grey_movie(2, dtype=np.uint8))
    assert open_movie(path).store is not None


def test_a_store_still_being_written_is_analysed_with_a_warning_naming_its_frames(tmp_path):
    # `pynta analyze --no-save` on a recording in progress sized the frames written so far
    # without a word; the recording went on to hold several times as many
    path = tmp_path / "live.zarr"
    with MovieStore.create(path, (6, 7), "uint16", {}) as store:
        store.append(grey_movie(3))
        movie = open_movie(path)  # the writer still holds the store
        assert len(movie.frames) == 3
        (warning,) = [w for w in movie.warnings if "being written" in w]
        assert "3 frames" in warning
    assert not any("being written" in w for w in open_movie(path).warnings)


def test_empty_store_is_refused(tmp_path):
    path = tmp_path / "empty.zarr"
    MovieStore.create(path, (6, 7), "uint16", {})
    with pytest.raises(PyntaDataError, match="no frames"):
        open_movie(path)


def test_zarr_folder_not_written_by_pynta_is_refused(tmp_path):
    path = tmp_path / "other.zarr"
    path.mkdir()
    with pytest.raises(PyntaDataError, match="other.zarr"):
        open_movie(path)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_bare_zarr_array_is_named_as_one(tmp_path, zarr_format):
    """``zarr.save('movie.zarr', frames)`` writes one array, no group: it was called "pynta
    movie store ... the frames array is missing (no 0/zarr.json)", as if a store were damaged."""
    path = tmp_path / "movie.zarr"
    array = zarr.open_array(
        path, mode="w", shape=(5, 6, 7), dtype=np.uint16, zarr_format=zarr_format
    )
    array[:] = grey_movie(5)
    with pytest.raises(PyntaDataError) as raised:
        open_movie(path)
    message = str(raised.value)
    assert "is a bare zarr array (shape (5, 6, 7), uint16)" in message
    assert "missing" not in message and "tifffile.imwrite" in message


# ---------------------------------------------------------------------------- TIFF
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_multipage_tiff_is_read_lazily_one_chunk_per_page(tmp_path, compression):
    frames = grey_movie(5)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, frames, compression=compression)
    movie = open_movie(path)
    assert movie.frames.shape == (5, 6, 7) and movie.frames.dtype == np.uint16
    assert movie.frames.chunks[0] == (1,) * 5
    np.testing.assert_array_equal(movie.frames[3].compute(), frames[3])
    np.testing.assert_array_equal(movie.frames.compute(), frames)
    assert movie.metadata == {} and movie.store is None


def test_tiff_with_pages_of_unknown_shape_is_a_movie(tmp_path):
    """Pages written one by one (no shape metadata) are still read as consecutive frames."""
    frames = grey_movie(4, dtype=np.uint8)
    path = tmp_path / "pages.tiff"
    with tifffile.TiffWriter(path) as writer:
        for frame in frames:
            writer.write(frame, metadata=None)
    np.testing.assert_array_equal(open_movie(path).frames.compute(), frames)


def test_tiff_written_page_by_page_is_every_page(tmp_path):
    """tifffile's TiffWriter.write per frame makes one series per page: only the first was read,
    a 6-frame movie opened as 1 frame without a word."""
    frames = np.arange(6 * 16 * 20, dtype=np.uint16).reshape(6, 16, 20)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as writer:
        for frame in frames:
            writer.write(frame)
    movie = open_movie(tmp_path / "pages.tif")
    np.testing.assert_array_equal(movie.frames.compute(), frames)
    assert movie.warnings == []


def test_tiff_with_pages_of_two_shapes_reads_the_first_and_says_so(tmp_path):
    first = np.ones((5, 16, 20), dtype=np.uint16)
    with tifffile.TiffWriter(tmp_path / "mixed.tif") as writer:
        for frame in [*first, *np.zeros((3, 8, 12), dtype=np.uint16)]:
            writer.write(frame)
    movie = open_movie(tmp_path / "mixed.tif")
    np.testing.assert_array_equal(movie.frames.compute(), first)
    (warning,) = movie.warnings
    assert "5 frames of 16x20" in warning and "3 of 8x12" in warning


def test_tiff_with_as_many_pages_of_half_the_size_reads_the_first_and_says_so(tmp_path):
    """Pages of one size followed by as many of half that size look like a pyramid to tifffile:
    opening failed with "No array found in store ZarrTiffStore"."""
    first = grey_movie(4, shape=(16, 20))
    with tifffile.TiffWriter(tmp_path / "halves.tif") as writer:
        for frame in [*first, *grey_movie(4, shape=(8, 10), seed=1)]:
            writer.write(frame)
    movie = open_movie(tmp_path / "halves.tif")
    np.testing.assert_array_equal(movie.frames.compute(), first)
    (warning,) = movie.warnings
    assert "4 frames of 16x20" in warning and "4 of 8x10" in warning


def test_single_image_tiff_is_one_frame(tmp_path):
    frame = grey_movie(1)[0]
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, frame)
    movie = open_movie(path)
    assert movie.frames.shape == (1, 6, 7)
    np.testing.assert_array_equal(movie.frames[0].compute(), frame)


def test_imagej_tiff_gives_pixel_size_and_frame_interval(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        grey_movie(3),
        imagej=True,
        resolution=(1 / 0.13, 1 / 0.13),
        metadata={"axes": "TYX", "unit": "um", "finterval": 0.05},
    )
    metadata = open_movie(path).metadata
    assert metadata["pixel_size_um"] == pytest.approx(0.13, rel=1e-6)
    assert metadata["frame_interval_s"] == pytest.approx(0.05)


def test_imagej_frame_interval_in_milliseconds(tmp_path):
    path = tmp_path / "ij_ms.tif"
    tifffile.imwrite(
        path,
        grey_movie(3),
        imagej=True,
        metadata={"axes": "TYX", "finterval": 20.0, "tunit": "ms"},
    )
    assert open_movie(path).metadata == {"frame_interval_s": pytest.approx(0.02)}


@pytest.mark.parametrize(
    ("size", "size_unit", "interval", "time_unit"),
    [(0.13, None, 0.05, None), (130, "nm", 50, "ms")],
    ids=["default units", "nm and ms"],
)
def test_ome_tiff_gives_pixel_size_and_frame_interval(
    tmp_path, size, size_unit, interval, time_unit
):
    """An OME-TIFF's PhysicalSizeX and TimeIncrement were not read: the pixel size and frame
    interval the file states had to be given again."""
    metadata = {"axes": "TYX", "PhysicalSizeX": size, "PhysicalSizeY": size}
    metadata["TimeIncrement"] = interval
    if size_unit:
        metadata.update(PhysicalSizeXUnit=size_unit, PhysicalSizeYUnit=size_unit)
    if time_unit:
        metadata["TimeIncrementUnit"] = time_unit
    path = tmp_path / "movie.ome.tif"
    tifffile.imwrite(path, grey_movie(3), ome=True, metadata=metadata)
    assert open_movie(path).metadata == {
        "pixel_size_um": pytest.approx(0.13),
        "frame_interval_s": pytest.approx(0.05),
    }


def test_ome_tiff_with_non_square_pixels_gives_no_pixel_size_and_says_so(tmp_path):
    path = tmp_path / "movie.ome.tif"
    metadata = {"axes": "TYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.2}
    tifffile.imwrite(path, grey_movie(3), ome=True, metadata=metadata)
    movie = open_movie(path)
    assert movie.metadata == {}
    (warning,) = movie.warnings
    assert "0.1 \u00b5m by 0.2 \u00b5m" in warning and "--pixel-size-um" in warning


@pytest.mark.parametrize(
    ("unit", "per_um"),
    [("\u00c5", 1e4), ("nm", 1e3), ("\u00b5m", 1), ("um", 1), ("micron", 1), ("mm", 1e-3)]
    + [("cm", 1e-4), ("m", 1e-6)],
)
def test_ome_tiff_pixel_size_in_each_length_unit(tmp_path, unit, per_um):
    """OME's UnitsLength symbols (and the spellings people write): 0.13 µm in each."""
    size = 0.13 * per_um
    metadata = {"axes": "TYX", "PhysicalSizeX": size, "PhysicalSizeY": size}
    metadata.update(PhysicalSizeXUnit=unit, PhysicalSizeYUnit=unit)
    path = tmp_path / "movie.ome.tif"
    tifffile.imwrite(path, grey_movie(3), ome=True, metadata=metadata)
    movie = open_movie(path)
    assert movie.metadata == {"pixel_size_um": pytest.approx(0.13)} and movie.warnings == []


@pytest.mark.parametrize(
    ("unit", "per_s"),
    [("s", 1), ("ms", 1e3), ("\u00b5s", 1e6), ("us", 1e6), ("ns", 1e9), ("min", 1 / 60)]
    + [("h", 1 / 3600)],
)
def test_ome_tiff_frame_interval_in_each_time_unit(tmp_path, unit, per_s):
    """OME's UnitsTime symbols: µs written 'us' and ns were ignored without a word."""
    metadata = {"axes": "TYX", "TimeIncrement": 0.05 * per_s, "TimeIncrementUnit": unit}
    path = tmp_path / "movie.ome.tif"
    tifffile.imwrite(path, grey_movie(3), ome=True, metadata=metadata)
    movie = open_movie(path)
    assert movie.metadata == {"frame_interval_s": pytest.approx(0.05)} and movie.warnings == []


def test_ome_tiff_values_in_units_not_known_are_not_used_and_say_so(tmp_path):
    """A pixel size in 'pixel' and a frame interval in 'reference frame' (OME units that are
    not physical) were dropped without a word, leaving the user to wonder why the file's
    values were not used."""
    metadata = {"axes": "TYX", "PhysicalSizeX": 1, "PhysicalSizeY": 1, "TimeIncrement": 2}
    metadata.update(PhysicalSizeXUnit="pixel", PhysicalSizeYUnit="pixel")
    metadata["TimeIncrementUnit"] = "reference frame"
    path = tmp_path / "movie.ome.tif"
    tifffile.imwrite(path, grey_movie(3), ome=True, metadata=metadata)
    movie = open_movie(path)
    assert movie.metadata == {}
    size_x, size_y, interval = movie.warnings
    assert "PhysicalSizeX" in size_x and "'pixel'" in size_x and "PhysicalSizeY" in size_y
    assert "not used; set --pixel-size-um" in size_x
    assert "TimeIncrement" in interval and "'reference frame'" in interval
    assert "not used; set --frame-interval-s" in interval


@pytest.mark.parametrize("value", [0, -0.13])
def test_ome_tiff_scales_that_are_not_positive_are_ignored_and_say_so(tmp_path, value):
    """A PhysicalSizeX or TimeIncrement of 0 or below was dropped without a word, and analyze
    was refused for want of a --pixel-size-um the file seemed to give (x28)."""
    metadata = {"axes": "TYX", "PhysicalSizeX": value, "PhysicalSizeY": value}
    metadata["TimeIncrement"] = value
    path = tmp_path / "movie.ome.tif"
    tifffile.imwrite(path, grey_movie(3), ome=True, metadata=metadata)
    movie = open_movie(path)
    assert movie.metadata == {}
    size_x, size_y, interval = movie.warnings
    assert f'PhysicalSizeX="{value}"' in size_x and "PhysicalSizeY" in size_y
    assert "not a positive" in size_x and "ignored; set --pixel-size-um" in size_x
    assert f'TimeIncrement="{value}"' in interval
    assert "ignored; set --frame-interval-s" in interval


def test_imagej_scales_that_are_not_positive_are_ignored_and_say_so(tmp_path):
    """An ImageJ TIFF with a resolution of 0 pixels per µm or a negative finterval lost its
    pixel size and frame interval without a word (x28)."""
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        grey_movie(3),
        imagej=True,
        resolution=(0, 0),
        metadata={"axes": "TYX", "unit": "um", "finterval": -0.05},
    )
    movie = open_movie(path)
    assert movie.metadata == {}
    size, interval = movie.warnings
    assert "XResolution" in size and "ignored; set --pixel-size-um" in size
    assert "finterval=-0.05" in interval and "ignored; set --frame-interval-s" in interval


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_tiff_becomes_rec601_luminance_in_its_dtype(tmp_path, channels):
    rgb = rgb_movie(3, channels=channels)
    path = tmp_path / "colour.tif"
    extra = {"extrasamples": ["unassalpha"]} if channels == 4 else {}
    tifffile.imwrite(path, rgb, photometric="rgb", **extra)
    movie = open_movie(path)
    assert movie.frames.dtype == np.uint8 and movie.frames.shape == rgb.shape[:3]
    np.testing.assert_array_equal(movie.frames.compute(), expected_luminance(rgb))
    assert movie.warnings == []


@pytest.mark.parametrize("n_frames", [3, 4])
@pytest.mark.parametrize("how", ["tifffile default", "planar rgb"])
def test_a_movie_of_3_or_4_frames_stored_as_planar_colour_is_read_as_frames_and_says_so(
    tmp_path, n_frames, how
):
    """tifffile stores a (3, Y, X) or (4, Y, X) stack as ONE RGB(A) image with separate colour
    planes unless told otherwise (its announced future default is grey pages), and nothing in
    the file tells the two apart. Before: a 3-frame movie became one colour frame, silently."""
    frames = grey_movie(n_frames, shape=(16, 20))
    path = tmp_path / "stack.tif"
    kwargs = {"photometric": "rgb", "planarconfig": "separate"} if how == "planar rgb" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # tifffile's about its default
        tifffile.imwrite(path, frames, **kwargs)
    with tifffile.TiffFile(path) as tif:  # what makes it ambiguous
        assert tif.series[0].axes == "SYX" and len(tif.pages) == 1
    movie = open_movie(path)
    np.testing.assert_array_equal(movie.frames.compute(), frames)
    (warning,) = movie.warnings
    assert f"read as {n_frames} grey frames" in warning and "colour" in warning
    assert "photometric" in warning  # and how to have a colour image read as colour


def test_several_planar_colour_images_are_read_as_colour_frames_and_say_so(tmp_path):
    rgb = rgb_movie(5, shape=(16, 20))
    path = tmp_path / "planar_movie.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(path, np.moveaxis(rgb, -1, 1))  # (5, 3, 16, 20): 'QSYX'
    movie = open_movie(path)
    np.testing.assert_array_equal(movie.frames.compute(), expected_luminance(rgb))
    (warning,) = movie.warnings
    assert "read as 5 frames of their luminance" in warning


def test_planar_colour_stated_by_ome_metadata_is_read_as_colour(tmp_path):
    rgb = rgb_movie(1, shape=(16, 20))
    path = tmp_path / "ome_rgb.ome.tif"
    tifffile.imwrite(
        path, np.moveaxis(rgb[0], -1, 0), ome=True, photometric="rgb", planarconfig="separate"
    )
    movie = open_movie(path)
    np.testing.assert_array_equal(movie.frames.compute(), expected_luminance(rgb))
    assert movie.warnings == []


@pytest.mark.parametrize("axes", ["TYX", "ZYX"])
def test_an_imagej_stack_of_3_is_read_as_3_frames(tmp_path, axes):
    frames = grey_movie(3, shape=(16, 20))
    path = tmp_path / "ij3.tif"
    tifffile.imwrite(path, frames, imagej=True, metadata={"axes": axes})
    movie = open_movie(path)
    np.testing.assert_array_equal(movie.frames.compute(), frames)
    assert movie.warnings == []


def test_colour_movie_stored_as_grey_pixels_is_refused_not_read_3_pixels_wide(tmp_path):
    """An RGB movie (T, Y, X, 3) saved without photometric='rgb' is grey pages of X x 3 pixels:
    read as Y frames of X x 3 (one colour image) or refused as two stacked axes 'Q=5, Q=16'."""
    for name, data in [
        ("one.tif", rgb_movie(1, (16, 20))[0]),
        ("movie.tif", rgb_movie(5, (16, 20))),
    ]:
        tifffile.imwrite(tmp_path / name, data, photometric="minisblack")
        with pytest.raises(PyntaDataError, match=r"20x3 px.*colour samples.*photometric='rgb'"):
            open_movie(tmp_path / name)


def test_hyperstack_with_two_stacked_axes_is_refused(tmp_path):
    path = tmp_path / "tzyx.tif"
    tifffile.imwrite(
        path, grey_movie(6).reshape(3, 2, 6, 7), imagej=True, metadata={"axes": "TZYX"}
    )
    with pytest.raises(PyntaDataError, match="T=3, Z=2"):
        open_movie(path)


def test_float_tiff_is_refused_as_non_integer(tmp_path):
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, np.zeros((2, 6, 7), np.float32))
    with pytest.raises(PyntaDataError, match="float32.*integer"):
        open_movie(path)


def test_folder_of_float_colour_tiffs_is_refused_as_non_integer(tmp_path):
    tifffile.imwrite(tmp_path / "f1.tif", np.zeros((6, 7, 3), np.float32), photometric="rgb")
    with pytest.raises(PyntaDataError, match="f1.tif.*float32.*integer"):
        open_movie(tmp_path)


def test_corrupt_tiff_raises_data_error_naming_it(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"this is not a tiff")
    with pytest.raises(PyntaDataError, match="broken.tif"):
        open_movie(path)


def truncate_to_half(path):
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size // 2)


def test_truncated_tiff_fails_on_read_with_one_line_naming_it(tmp_path):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, grey_movie(20, shape=(64, 64)))
    truncate_to_half(path)
    movie = open_movie(path)  # the pages before the cut still read
    assert movie.frames.shape[0] == 20
    movie.frames[0].compute()
    with pytest.raises(PyntaDataError, match="cut.tif.*truncated or corrupt") as caught:
        movie.frames.compute()
    assert "\n" not in str(caught.value)


def test_truncated_compressed_tiff_is_refused_not_shortened(tmp_path):
    """tifffile falls back to the first page when the described stack cannot be read."""
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, grey_movie(20, shape=(64, 64)), compression="zlib")
    truncate_to_half(path)
    with pytest.raises(PyntaDataError, match="describes 20 images but only 1"):
        open_movie(path)


def tifffile_lines(caplog):
    """What tifffile logged (it went to stderr, beside pynta's own message)."""
    return [record.getMessage() for record in caplog.records if record.name == "tifffile"]


def cut_compressed(path):
    tifffile.imwrite(path, grey_movie(20, shape=(64, 64)), compression="zlib")
    truncate_to_half(path)


def cut_imagej(path):
    tifffile.imwrite(path, grey_movie(6, shape=(64, 64)), imagej=True, metadata={"axes": "TYX"})
    truncate_to_half(path)


def header_only(path):
    path.write_bytes(b"II*\x00 this is not a TIFF at all" * 10)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (cut_compressed, "describes 20 images but only 1"),
        (cut_imagej, "describes 6 images but only 1"),
        (header_only, r"no image in it \(damaged"),
    ],
    ids=["cut zlib", "cut imagej", "header only"],
)
def test_a_refused_tiff_says_why_once_without_tifffiles_log_lines(tmp_path, caplog, damage, said):
    """tifffile logged "<tifffile.TiffPages @8> invalid page offset 72500" and the like on
    stderr before pynta's own message about the same damage."""
    path = tmp_path / "cut.tif"
    damage(path)
    with caplog.at_level("DEBUG"), pytest.raises(PyntaDataError, match=f"cut.tif.*{said}"):
        open_movie(path)
    assert tifffile_lines(caplog) == []


def test_a_cut_tiff_that_opens_warns_with_tifffiles_words_and_fails_on_read(tmp_path, caplog):
    """An uncompressed stack cut in half still opens (its frames are where its description
    says): tifffile's "invalid page offset" was a stray stderr line, now the movie's warning."""
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, grey_movie(20, shape=(64, 64)))
    truncate_to_half(path)
    with caplog.at_level("DEBUG"):
        movie = open_movie(path)
        with pytest.raises(PyntaDataError, match="cut.tif.*truncated or corrupt"):
            movie.frames.compute()
    assert tifffile_lines(caplog) == []
    (warning,) = movie.warnings
    assert "cut.tif" in warning and "tifffile" in warning and "invalid page offset" in warning
    assert "<tifffile" not in warning  # its object's repr is no help to the user


def test_a_damaged_tiff_frame_of_a_folder_says_why_without_tifffiles_log_line(tmp_path, caplog):
    for i, frame in enumerate(grey_movie(3, shape=(16, 20))):
        tifffile.imwrite(tmp_path / f"f{i}.tif", frame)
    header_only(tmp_path / "f1.tif")
    with caplog.at_level("DEBUG"), pytest.raises(PyntaDataError, match="f1.tif.*damaged"):
        open_movie(tmp_path).frames.compute()
    assert tifffile_lines(caplog) == []


# ---------------------------------------------------------------------------- folders
def test_folder_of_png_frames_in_natural_order(tmp_path):
    frames = grey_movie(12, dtype=np.uint8)
    for i, frame in enumerate(frames):
        iio.imwrite(tmp_path / f"frame{i}.png", frame)
    (tmp_path / "notes.txt").write_text("ignored")
    movie = open_movie(tmp_path)
    assert movie.frames.shape == (12, 6, 7) and movie.metadata == {}
    # frame2 comes before frame10 although "frame10" < "frame2" as text
    np.testing.assert_array_equal(movie.frames.compute(), frames)


def test_folder_of_16_bit_tiff_frames(tmp_path):
    frames = grey_movie(3)
    for i, frame in enumerate(frames):
        tifffile.imwrite(tmp_path / f"img_{i:03d}.tiff", frame)
    movie = open_movie(tmp_path)
    assert movie.frames.dtype == np.uint16
    np.testing.assert_array_equal(movie.frames.compute(), frames)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_folder_of_colour_pngs_becomes_one_channel(tmp_path, channels):
    pixels = rgb_movie(2, channels=channels)
    for i, frame in enumerate(pixels):
        iio.imwrite(tmp_path / f"c{i}.png", frame)
    frames = open_movie(tmp_path).frames.compute()
    expected = pixels[..., 0] if channels == 2 else expected_luminance(pixels)
    assert frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, expected)


@pytest.mark.parametrize("suffix", [".jpg", ".JPEG"])
def test_folder_of_jpeg_frames(tmp_path, suffix):
    """A folder of JPEG frames (an export of other software) was refused: "holds no PNG or TIFF
    frames"."""
    frames = np.zeros((12, 32, 32), np.uint8) + 60
    frames[:, 10:14, 12:16] = (np.arange(12) * 15 + 40)[:, None, None]  # a spot brightening
    for i, frame in enumerate(frames):
        iio.imwrite(tmp_path / f"img_{i:03d}{suffix}", frame, quality=95)
    movie = open_movie(tmp_path)
    assert movie.frames.shape == frames.shape and movie.frames.dtype == np.uint8
    np.testing.assert_allclose(movie.frames.compute(), frames, atol=6)  # lossy, in order


def test_folder_frame_of_another_size_fails_naming_the_file(tmp_path):
    iio.imwrite(tmp_path / "a1.png", np.zeros((6, 7), np.uint8))
    iio.imwrite(tmp_path / "a2.png", np.zeros((6, 8), np.uint8))
    movie = open_movie(tmp_path)
    with pytest.raises(PyntaDataError, match="a2.png"):
        movie.frames.compute()


def test_an_empty_frame_file_fails_saying_it_is_empty(tmp_path):
    """imageio's message for a 0-byte PNG was "Could not find a backend" and which plugins to
    install, over six lines."""
    for i, frame in enumerate(grey_movie(3, dtype=np.uint8)):
        iio.imwrite(tmp_path / f"f{i}.png", frame)
    (tmp_path / "f1.png").write_bytes(b"")
    with pytest.raises(PyntaDataError, match=r"f1.png.*empty \(0 bytes\)") as caught:
        open_movie(tmp_path).frames.compute()
    assert "\n" not in str(caught.value)


def test_a_frame_file_that_is_not_an_image_fails_in_one_line_naming_it(tmp_path):
    """imageio's message for a PNG holding other bytes (a web page saved under the name, a
    damaged copy) was "Could not find a backend" and which plugins to pip install, over four
    lines: advice that cannot help."""
    for i, frame in enumerate(grey_movie(3, dtype=np.uint8)):
        iio.imwrite(tmp_path / f"f{i}.png", frame)
    (tmp_path / "f1.png").write_bytes(b"<html>not found</html>")
    with pytest.raises(
        PyntaDataError, match=r"f1.png.*damaged, cut short or not an image"
    ) as caught:
        open_movie(tmp_path).frames.compute()
    assert "\n" not in str(caught.value)
    assert "pip install" not in str(caught.value)


def test_a_tiff_without_a_readable_page_says_so(tmp_path):
    """A TIFF header followed by other bytes (a damaged copy): the message was tifffile's
    IndexError text, "cannot read TIFF '...': list index out of range"."""
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00 this is not a TIFF at all" * 10)
    with pytest.raises(PyntaDataError, match=r"broken.tif.*no image in it \(damaged") as caught:
        open_movie(broken)
    assert "list index" not in str(caught.value)


def test_empty_folder_is_refused_listing_supported_inputs(tmp_path):
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(PyntaDataError, match="no PNG, TIFF or JPEG frames.*TIFF file"):
        open_movie(tmp_path)


# ---------------------------------------------------------------------------- other errors
def test_missing_path_is_a_data_error_naming_it(tmp_path):
    with pytest.raises(PyntaDataError, match="nowhere.tif.*does not exist"):
        open_movie(tmp_path / "nowhere.tif")


def test_unsupported_extension_lists_supported_inputs(tmp_path):
    path = tmp_path / "movie.nd2"
    path.write_bytes(b"ND2")
    with pytest.raises(PyntaInputError, match=r"'\.nd2'.*pynta store.*TIFF.*AVI.*PNG"):
        open_movie(path)


def test_damaged_video_is_a_one_line_data_error(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    path = tmp_path / "movie.avi"
    path.write_bytes(b"RIFF")
    with pytest.raises(PyntaDataError, match="cannot read video") as caught:
        open_movie(path)
    # ffmpeg's banner and configuration (15 lines) stay out; its verdict is kept
    message = str(caught.value)
    assert "\n" not in message and "ffmpeg version" not in message, message
    assert "Invalid data found when processing input" in message, message


def test_the_napari_tracks_writer_names_a_folder_it_cannot_write_to(tmp_path):
    from napari_pynta.widgets.napari_io import write_tracks

    tracks = np.array([[0, 0, 1.0, 2.0], [0, 1, 1.5, 2.5]])
    with pytest.raises(
        PyntaDataError, match=r"cannot write tracks to .*missing.*non-existent directory"
    ):
        write_tracks(str(tmp_path / "missing" / "tracks.csv"), tracks, {})
    assert write_tracks(str(tmp_path / "tracks.csv"), tracks, {}) == [str(tmp_path / "tracks.csv")]


@pytest.mark.parametrize(
    ("row", "what"),
    [
        ([np.nan, 1, 1.5, 2.5], "track id"),
        ([0, np.nan, 1.5, 2.5], "frame"),
        ([0, 1.5, 1.5, 2.5], "frame"),
        ([0, 1, np.inf, 2.5], "position"),
    ],
)
def test_the_napari_tracks_writer_refuses_tracks_it_cannot_write_as_numbers(tmp_path, row, what):
    """A NaN track id or frame was written as -9223372036854775808 and a frame 1.5 as 1."""
    from napari_pynta.widgets.napari_io import write_tracks

    tracks = np.array([[0, 0, 1.0, 2.0], row])
    with pytest.raises(PyntaDataError, match=rf"cannot write tracks .*row 1.*{what}"):
        write_tracks(str(tmp_path / "tracks.csv"), tracks, {})
    assert not (tmp_path / "tracks.csv").exists()


def test_an_empty_path_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("frame0.png", "frame1.png"):  # the current folder is a readable movie
        iio.imwrite(tmp_path / name, grey_movie(1, dtype=np.uint8)[0])
    with pytest.raises(PyntaInputError, match="empty"):
        open_movie("")


# ---------------------------------------------------------------------------- helpers
def test_natural_sort_key_orders_numbers_by_value():
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame2b.png", "a.png"]
    assert sorted(names, key=natural_sort_key) == [
        "a.png",
        "Frame1.png",
        "frame2.png",
        "frame2b.png",
        "frame10.png",
    ]


def test_luminance_keeps_uint16_range_and_known_values():
    rgb = np.array(
        [[65535, 65535, 65535], [65535, 0, 0], [0, 65535, 0], [0, 0, 100]], dtype=np.uint16
    )
    # white stays white; pure primaries give their Rec. 601 weight
    np.testing.assert_array_equal(rgb_to_luminance(rgb), [65535, 19595, 38469, 11])
    assert rgb_to_luminance(rgb).dtype == np.uint16


needs_proc = pytest.mark.skipif(
    not __import__("os").path.isdir("/proc/self/fd"), reason="counts open files in /proc"
)


def _open_descriptors(path):
    """How many of this process's file descriptors point at ``path`` (Linux /proc)."""
    import os

    target = os.path.realpath(path)
    fds = os.listdir("/proc/self/fd")
    return sum(1 for fd in fds if os.path.realpath(f"/proc/self/fd/{fd}") == target)


def _resource_warnings(action):
    """The ResourceWarnings raised while ``action`` runs and the garbage is collected."""
    import gc
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


@needs_proc
def test_a_tiff_movie_is_closed_by_its_context_and_reads_again_after(tmp_path):
    """`with open_movie(...)` closes the TIFF it keeps open for lazy reads; a frame computed
    after (a napari layer outliving the Movie) opens it again, and close() closes that too."""
    path = tmp_path / "movie.tif"
    frames = grey_movie(6, shape=(16, 18))
    tifffile.imwrite(path, frames)
    with open_movie(path) as movie:
        assert _open_descriptors(path) == 1
        np.testing.assert_array_equal(movie.frames[2].compute(), frames[2])
    assert _open_descriptors(path) == 0
    np.testing.assert_array_equal(movie.frames[4].compute(), frames[4])
    movie.close()
    movie.close()  # idempotent
    assert _open_descriptors(path) == 0


@needs_proc
def test_a_tiff_movie_left_to_the_garbage_collector_closes_quietly(tmp_path):
    """napari keeps the lazy frames of a layer and never closes the Movie: collecting them
    closes the file without a ResourceWarning (there was one per TIFF opened)."""
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, grey_movie(6, shape=(16, 18)))

    def read_and_drop():
        assert open_movie(path).frames[1].compute().shape == (16, 18)

    assert _resource_warnings(read_and_drop) == []
    assert _open_descriptors(path) == 0


@needs_proc
def test_a_refused_tiff_leaves_no_file_open(tmp_path):
    """A TIFF refused after it was opened (float pixels, a truncated description) is closed."""
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, np.zeros((3, 6, 7), np.float32))

    def refuse():
        with pytest.raises(PyntaDataError, match="float32"):
            open_movie(path)

    assert _resource_warnings(refuse) == []
    assert _open_descriptors(path) == 0


def test_luminance_halves_round_up_exactly():
    """0.299·230 + 0.587·156 + 0.114·247 = 188.5; in floating point 188.49999999999997 (188)."""
    rgb = np.array([[230, 156, 247], [0, 0, 0], [1, 1, 1]], dtype=np.uint8)
    np.testing.assert_array_equal(rgb_to_luminance(rgb), [189, 0, 1])


@pytest.mark.parametrize(
    ("names", "said"),
    [
        ([f"t_{10 * i:05d}.png" for i in range(6)], []),  # every tenth frame saved: consecutive
        (["a.png", "b.png", "c.png"], []),  # no numbers
        (
            [f"t_{ms:05d}.png" for ms in (0, 10, 21, 30, 41, 50)],  # times in ms, not numbers
            ["the numbers in the file names are not evenly spaced (steps 10, 11, 9, 11, 9, ...)"],
        ),
        (["f_1.png", "f_01.png", "f_3.png"], ["the numbers in the file names repeat or go back"]),
    ],
    ids=["even steps", "no numbers", "uneven", "repeated"],
)
def test_a_folder_without_gaps_in_its_numbering_keeps_its_frames_consecutive(tmp_path, names, said):
    for name in names:
        iio.imwrite(tmp_path / name, np.zeros((8, 8), np.uint8))
    movie = open_movie(tmp_path)
    assert movie.frame_numbers is None
    assert [text.split(": ", 1)[1].split(": the frames")[0] for text in movie.warnings] == said


def test_a_folder_of_two_numbered_series_says_it_joins_them(tmp_path):
    """Two recordings' frames in one folder (a_0001... and b_0001...) were analysed as one
    movie without a word."""
    for series in ("a", "b"):
        for number in range(1, 5):
            iio.imwrite(tmp_path / f"{series}_{number:04d}.png", np.zeros((8, 8), np.uint8))
    movie = open_movie(tmp_path)
    assert movie.frames.shape[0] == 8 and movie.frame_numbers is None
    assert movie.warnings == [
        f"{str(tmp_path)!r} holds frames of 2 numbered series (a_*.png, b_*.png): they are "
        "analysed as one movie, one after the other; put each recording in its own folder"
    ]


def test_an_lzw_tiff_that_cannot_be_decoded_is_refused_on_opening_saying_why(tmp_path):
    """An LZW TIFF (Fiji's and many cameras' choice) needs imagecodecs: without it the movie
    opened and every frame read failed later as "truncated or corrupt?"."""
    from PIL import Image

    frames = grey_movie(3, shape=(16, 20), dtype=np.uint8)
    path = tmp_path / "lzw.tif"
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, compression="tiff_lzw", save_all=True, append_images=images[1:])
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        with pytest.raises(
            PyntaDataError, match=r"lzw.tif.*LZW-compressed.*pip install imagecodecs"
        ):
            open_movie(path)
    else:
        np.testing.assert_array_equal(open_movie(path).frames.compute(), frames)


@pytest.mark.parametrize(
    ("lost", "unnumbered", "numbered"),
    [("0", "frames 0..4095", (4096, 4196)), ("1", "frames 4096..4195", (0, 4096))],
)
def test_a_store_that_lost_a_seq_chunk_opens_in_napari_saying_which_frames_to_analyse(
    tmp_path, lost, unnumbered, numbered
):
    """napari's reader raised the analysis' refusal (a traceback in the viewer) for a store
    whose seq chunk (4096 frame numbers) was lost, though every frame's pixels are on disk: it
    now shows them all, and a warning names the frames without a number and the Frames range
    that analyses the others, as the Tracking widget's field takes it."""
    from napari_pynta.widgets.napari_io import read_movie

    path = tmp_path / "movie.zarr"
    frames = np.random.default_rng(2).integers(0, 4000, (4196, 8, 10), dtype=np.uint16)
    with MovieStore.create(path, (8, 10), "uint16", {"pixel_size_um": 0.1}) as store:
        store.append(frames, timestamps_s=np.arange(4196) * 0.01)
    (path / "seq" / "c" / lost).unlink()
    with pytest.warns(UserWarning) as caught:
        layers = read_movie(str(path))
    (image, _, kind), *others = layers
    assert kind == "image" and others == []
    assert image.shape == frames.shape  # every frame, on its own index
    for part in (slice(0, 5), slice(4090, 4100), slice(4190, 4196)):
        assert np.array_equal(np.asarray(image[part]), frames[part])
    (said,) = [str(warning.message) for warning in caught]
    start, stop = numbered
    assert said == (
        f"movie: store {str(path)!r} is damaged: seq (the frame numbers) has 1 of 2 chunks "
        f"missing on disk: {unnumbered} are shown, but without their frame numbers they cannot "
        f"be analysed; readable: frames {start}..{stop - 1}; analyse them alone with "
        f"Frames={start}:{stop}; run `pynta verify {path}` for a full report"
    )
    with open_movie(path, f"{start}:{stop}") as advised:  # what the Frames field opens
        assert np.array_equal(advised.frames.compute(), frames[start:stop])
    with pytest.raises(PyntaDataError, match="count as recorded"):  # the analysis refuses all
        open_movie(path)


@pytest.mark.parametrize(
    ("lost_seq_chunk", "frame_range", "show_unnumbered"),
    [
        (True, None, True),  # the viewer: every frame shown, the first 4096 without a number
        (True, "4096:4200", False),  # the part the analysis is advised to open
        (True, "4120:4200", False),
        (False, "4100:4200", False),  # a part of a sound store
    ],
)
def test_the_frame_where_the_times_go_back_is_named_as_recorded(
    tmp_path, lost_seq_chunk, frame_range, show_unnumbered
):
    """A camera clock that jumped back at frame 4150 of a store that lost its first seq chunk
    (4096 frame numbers) was said to go back "first at frame 54", counting the numbered frames
    alone, and at frame 50 in the part 4100:4200 of a sound store: the warning now names frame
    4150, the index the viewer shows, the analysis' tables use and `pynta verify` names."""
    from napari_pynta.verify import verify_store

    path = tmp_path / "jump.zarr"
    jump = 4150
    times = np.arange(4200) * 0.01
    times[jump:] -= 5.0  # the camera's clock jumped back
    metadata = {"pixel_size_um": 0.1, "frame_interval_s": 0.01}
    with MovieStore.create(path, (4, 4), "uint8", metadata) as store:
        store.append(np.ones((4200, 4, 4), np.uint8), timestamps_s=times)
    if lost_seq_chunk:
        (path / "seq" / "c" / "0").unlink()
    with open_movie(path, frame_range, show_unnumbered=show_unnumbered) as movie:
        (said,) = [text for text in movie.warnings if "go back" in text]
        assert f"go back at 1 place (first at frame {jump})" in said
        assert movie.frame_timing.backward_frames == (jump,)
    (note,) = [note for note in verify_store(path).notes if note.kind == "timestamps"]
    assert f"do not increase at frames [{jump}] (1 place)" in note.message


def test_a_store_that_lost_its_only_seq_chunk_says_no_frame_can_be_analysed(tmp_path):
    """A store whose only seq chunk was lost opened in napari with "frames 0..199 are shown,
    but without their frame numbers they cannot be analysed; no frame is readable", which
    contradicts itself (every frame is shown, so readable): it now says none can be analysed."""
    from napari_pynta.widgets.napari_io import read_movie

    path = tmp_path / "movie.zarr"
    frames = np.random.default_rng(3).integers(0, 4000, (200, 8, 10), dtype=np.uint16)
    with MovieStore.create(path, (8, 10), "uint16", {"pixel_size_um": 0.1}) as store:
        store.append(frames, timestamps_s=np.arange(200) * 0.01)
    (path / "seq" / "c" / "0").unlink()
    with pytest.warns(UserWarning) as caught:
        ((image, _, _),) = read_movie(str(path))
    assert np.array_equal(np.asarray(image[:]), frames)  # every frame shown
    (said,) = [str(warning.message) for warning in caught]
    assert said == (
        f"movie: store {str(path)!r} is damaged: seq (the frame numbers) has 1 of 1 chunks "
        "missing on disk: frames 0..199 are shown, but without their frame numbers no frame can "
        f"be analysed; run `pynta verify {path}` for a full report"
    )


def test_a_store_whose_tracks_table_lost_a_chunk_opens_in_napari_without_its_tracks(tmp_path):
    """A tracks table that lost a chunk file was shown as tracks at (0, 0) when its x was the
    lost column; it is refused as damaged, and the movie and its other results open with a
    warning instead of the reader failing on the damaged table (x27)."""
    from napari_pynta.widgets.napari_io import read_movie

    path = tmp_path / "movie.zarr"
    frames = np.random.default_rng(4).integers(1, 4000, (6, 8, 10), dtype=np.uint16)
    steps = pd.DataFrame(
        {"frame": np.arange(6), "particle": 0, "y": np.linspace(2, 4, 6), "x": np.full(6, 5.0)}
    )
    with MovieStore.create(path, (8, 10), "uint16", {"pixel_size_um": 0.1}) as store:
        store.append(frames, timestamps_s=np.arange(6) * 0.01)
        store.write_tables({"localizations": steps.drop(columns="particle"), "tracks": steps})
    (path / "tables" / "tracks" / "x" / "c" / "0").unlink()
    with pytest.warns(UserWarning) as caught:
        layers = read_movie(str(path))
    assert [kind for _, _, kind in layers] == ["image", "points"]
    (said,) = [str(warning.message) for warning in caught]
    assert said.startswith("movie: not shown: table 'tracks'") and "column 'x'" in said


@pytest.mark.parametrize(("shard", "absent"), [("0", (0, 64)), ("1", (64, 128))])
def test_a_store_that_lost_a_frame_shard_opens_in_napari_with_the_readable_frames(
    tmp_path, shard, absent
):
    """napari's reader failed on a store whose shard 0 (frames 0..63) was deleted: it read frame
    0 for the contrast limits, and its error advised ``frame_range=`` where the Tracking widget
    has *Frames*. The frames on disk now show on their recorded index, the absent ones blank,
    with a warning that names them and the Frames range to analyse."""
    from napari_pynta.widgets.napari_io import read_movie

    path = tmp_path / "movie.zarr"
    frames = np.random.default_rng(3).integers(1, 4000, (140, 8, 10), dtype=np.uint16)
    with MovieStore.create(path, (8, 10), "uint16", {"pixel_size_um": 0.1}) as store:
        store.append(frames, timestamps_s=np.arange(140) * 0.01)
    (path / "0" / "c" / shard / "0" / "0").unlink()
    with pytest.warns(UserWarning) as caught:
        (image, kwargs, kind), *_ = read_movie(str(path))
    assert kind == "image" and image.shape == frames.shape
    first, stop = absent
    shown = np.asarray(image)
    assert not shown[first:stop].any()  # blank, said so below
    kept = np.r_[0:first, stop:140]
    np.testing.assert_array_equal(shown[kept], frames[kept])
    low, high = np.percentile(frames[0 if first else stop], [0.5, 99.95])
    assert kwargs["contrast_limits"] == pytest.approx((low, high))  # of a frame on disk
    (said,) = [str(warning.message) for warning in caught]
    assert said.startswith(
        f"movie: store {str(path)!r} is damaged: frames {first}..{stop - 1} (0/c/{shard}/0/0) "
        "missing on disk; readable: frames "
    )
    assert said.endswith("for a full report. The missing frames are shown blank.")
    advised = re.search(r"analyse (?:them|frames \S+) alone with Frames=(\d+):(\d+);", said)
    assert advised is not None and "frame_range" not in said, said
    start, end = map(int, advised.groups())
    with open_movie(path, f"{start}:{end}") as part:  # what the Frames field opens
        np.testing.assert_array_equal(part.frames.compute(), frames[start:end])
