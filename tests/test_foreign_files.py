"""Other tools' movies: AVI/MP4 (frames and frame rate from the file) and OME-Zarr 0.4 / 0.5
written by other software (frames and physical scale), opened directly and by `pynta analyze`."""

from __future__ import annotations

import gc
import json
import re
import warnings

import numpy as np
import pytest
import zarr
from foreign_files import remux, write_avi, write_ome_zarr, write_video

from napari_pynta import simulate
from napari_pynta.cli import main
from napari_pynta.errors import PyntaDataError
from napari_pynta.readers import open_movie

pytest.importorskip("imageio_ffmpeg")


@pytest.fixture(scope="module")
def movie():
    """A short simulated movie of 100 nm beads, 8 bit like NanoSight's AVIs."""
    settings = simulate.SimulationSettings(
        shape=(96, 96), n_particles=12, pixel_size_um=0.2, frame_interval_s=0.01, seed=7
    )
    sim = simulate.simulate_movie(300, settings)
    frames = np.clip(sim.frames.astype(float) * 255 / np.percentile(sim.frames, 99.9), 0, 255)
    return frames.astype(np.uint8)


def test_avi_round_trip_keeps_every_frame_and_the_rate(tmp_path, movie):
    path = write_avi(tmp_path / "capture.avi", movie, fps=30.0)
    opened = open_movie(path)
    assert opened.frames.shape == movie.shape and opened.frames.dtype == np.uint8
    np.testing.assert_array_equal(opened.frames.compute(), movie)  # lossless, in order
    np.testing.assert_array_equal(opened.frames[250:260].compute(), movie[250:260])  # across blocks
    assert opened.metadata == {"frame_interval_s": pytest.approx(1 / 30.0)}


def test_reading_a_video_leaves_no_pipe_open(tmp_path, movie):
    """ffmpeg's pipes were left to the garbage collector (a ResourceWarning for each block read
    and for the probe when ffmpeg had finished before it was stopped)."""
    path = write_avi(tmp_path / "short.avi", movie[:3], fps=30.0)
    gc.collect()  # what earlier tests left to the garbage collector is not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        frames = open_movie(path).frames.compute()
        gc.collect()
    np.testing.assert_array_equal(frames, movie[:3])
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


def test_mp4_is_read_in_order_at_its_rate(tmp_path):
    import imageio_ffmpeg

    ramp = np.zeros((40, 32, 32), dtype=np.uint8)
    ramp[:] = (np.arange(40) * 5 + 20)[:, None, None]
    writer = imageio_ffmpeg.write_frames(
        str(tmp_path / "m.mp4"), (32, 32), pix_fmt_in="gray", fps=25
    )
    writer.send(None)
    for frame in ramp:
        writer.send(frame.tobytes())
    writer.close()
    opened = open_movie(tmp_path / "m.mp4")
    assert opened.frames.shape == ramp.shape
    assert opened.metadata["frame_interval_s"] == pytest.approx(0.04)
    # lossy codec: each frame's level within a few grey values, in the right order
    levels = opened.frames.compute().mean(axis=(1, 2))
    np.testing.assert_allclose(levels, ramp.mean(axis=(1, 2)), atol=3)


@pytest.mark.parametrize("suffix", [".mkv", ".avi"])
def test_a_video_whose_frames_change_size_is_read_up_to_the_change_and_says_so(
    tmp_path, movie, suffix
):
    """ffmpeg rescaled the frames after a change of size to the first size without a word: 20
    frames of 64x64 px were analysed as 128x128 frames of particles twice their size. An AVI,
    whose header declares all 40, was then also called cut short and lost its 20th frame."""
    first = write_video(tmp_path / "a.h264", movie[:20], fps=100, codec="libx264")
    second = write_video(tmp_path / "b.h264", movie[20:40, :48, :48], fps=100, codec="libx264")
    joined = tmp_path / "joined.h264"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    path = remux(joined, (tmp_path / "resized").with_suffix(suffix), fps=100)
    opened = open_movie(path)
    assert opened.frames.shape == (20, *movie.shape[1:])
    levels = opened.frames.compute().mean(axis=(1, 2))  # lossy: the right frames, in order
    np.testing.assert_allclose(levels, movie[:20].mean(axis=(1, 2)), atol=3)
    (warning,) = opened.warnings
    assert "change size after frame 20 (of 40)" in warning and "not the 20 after them" in warning


def test_video_frame_times_that_skip_frames_number_the_frames(tmp_path, movie):
    """Frames dropped by a camera or an encoder leave gaps in the frame times of a video (VFR):
    the steps across them were sized as one frame interval, at an interval of the mean rate."""
    # frame 10 dropped, then 2 more after the 18th frame kept: times of 40 frames at 100 fps
    path = write_video(
        tmp_path / "dropped.mkv", movie[:38], fps=100, setpts="(N+gte(N,10)+2*gte(N,18))/(100*TB)"
    )
    opened = open_movie(path)
    np.testing.assert_array_equal(opened.frames.compute(), movie[:38])  # lossless, every frame
    expected = np.concatenate([np.arange(10), np.arange(11, 19), np.arange(21, 41)])
    np.testing.assert_array_equal(opened.frame_numbers, expected)
    assert opened.metadata["frame_interval_s"] == pytest.approx(0.01)
    (warning,) = opened.warnings
    assert "skip 3 frame intervals at 2 places" in warning


def test_pynta_analyze_sizes_a_video_with_dropped_frames_by_its_frame_times(
    tmp_path, movie, capsys
):
    """Every other frame dropped after the 50th (a variable-frame-rate video): the steps across
    the gaps were sized as one frame interval of the file's stated rate, 100 nm beads as 60 nm
    without a word."""
    kept = np.r_[0:50, 50:150:2]  # 100 frames of the 150 simulated at 10 ms
    path = write_video(
        tmp_path / "dropped.mkv", movie[kept], fps=100, setpts="if(lt(N,50),N,2*N-50)/(100*TB)"
    )
    flags = ["--json", "--no-save", "--pixel-size-um", "0.2", "--exposure-s", "0.01"]
    assert main(["analyze", str(path), *flags, "--temperature-c", "22"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_frames"] == 100
    assert summary["params"]["frame_interval_s"] == pytest.approx(0.01)
    assert summary["diameter_nm"] == pytest.approx(100, rel=0.2)


@pytest.mark.parametrize(
    ("name", "fps"), [("rounded.mkv", 60), ("rounded.mkv", 120), ("h264.avi", 30)]
)
def test_a_constant_rate_video_keeps_its_stated_rate(tmp_path, movie, name, fps):
    """Matroska stores times in milliseconds: a 60 fps video steps by 16 and 17 ms, which is
    not a variable frame rate. The mean step of the times is not the stated rate exactly
    (1 / 30 s + 6 ns here; 0.009999999999999998 s for an h264 AVI at 100 fps, which made
    `pynta analyze --exposure-s 0.01` refuse the exposure as longer than the frame interval)."""
    codec = "libx264" if name.startswith("h264") else "ffv1"
    opened = open_movie(write_video(tmp_path / name, movie[:60], fps=fps, codec=codec))
    assert opened.warnings == [] and opened.frame_numbers is None
    assert opened.metadata["frame_interval_s"] == 1 / fps  # exactly as stated


def test_a_video_of_irregular_frame_times_warns_of_its_variable_rate(tmp_path, movie):
    path = write_video(
        tmp_path / "vfr.mkv", movie[:30], fps=100, setpts="(10*N+4*floor(N/2))/(1000*TB)"
    )
    opened = open_movie(path)
    assert len(opened.frames) == 30 and opened.frame_numbers is None
    (warning,) = opened.warnings
    assert "variable frame rate" in warning and "10 to 14 ms" in warning


def test_the_frame_times_are_judged_over_the_frames_analysed(tmp_path, movie):
    """A video regular for its first 100 frames and of a variable frame rate after them: its
    regular part, analysed alone (--frames 0:100), was warned of the variable frame rate of the
    frames it leaves out, and the warning did not say where the irregular frames are."""
    path = write_video(
        tmp_path / "part_vfr.mkv",
        movie[:150],
        fps=100,
        setpts="(10*N+4*floor(max(N-100,0)/2))/(1000*TB)",  # 10 ms, then 10 and 14 ms after 100
    )
    regular = open_movie(path, frame_range="0:100")
    assert regular.warnings == [] and regular.frame_numbers is None
    assert regular.metadata["frame_interval_s"] == pytest.approx(0.01)
    (whole,) = open_movie(path).warnings
    assert "variable frame rate" in whole and "between frames 101 and 148" in whole
    assert "frames 0..101, alone with --frames 0:102" in whole
    (late,) = open_movie(path, frame_range="120:").warnings  # frames named as recorded
    assert "variable frame rate" in late and "between frames 120 and 149" in late


def test_two_videos_joined_byte_wise_say_where_their_times_go_back(tmp_path, movie):
    """Two FFV1 Matroska files joined byte-wise decode to all their frames, the second's times
    standing at the first's last: this was called a variable frame rate of steps of 0 to 10
    ms, without saying where the join is."""
    first = write_video(tmp_path / "a.mkv", movie[:20], fps=100)
    second = write_video(tmp_path / "b.mkv", movie[20:40], fps=100)
    joined = tmp_path / "joined.mkv"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    opened = open_movie(joined)
    np.testing.assert_array_equal(opened.frames.compute(), movie[:40])  # every frame usable
    (warning,) = opened.warnings
    assert "stand still or go back between frames 19 and 39" in warning
    assert "joined byte-wise" in warning and "--frames 0:20" in warning
    assert open_movie(joined, frame_range="0:20").warnings == []


@pytest.mark.parametrize("suffix", [".avi", ".mkv"])
@pytest.mark.parametrize("damage", ["zeroed", "cut out"])
def test_a_video_damaged_in_the_middle_says_from_which_frame(tmp_path, movie, suffix, damage):
    """A FFV1 video with bytes zeroed or cut out in its middle was read without a word (or, in
    Matroska, its lost frames called frames dropped by the camera): ffmpeg's decoding errors
    now name the first frame that may be damaged, and the frames before it are the originals."""
    data = write_video(tmp_path / f"whole{suffix}", movie[:60], fps=100).read_bytes()
    middle = len(data) // 2
    damaged = tmp_path / f"damaged{suffix}"
    hole = bytes(3000) if damage == "zeroed" else b""
    damaged.write_bytes(data[:middle] + hole + data[middle + 3000 :])
    opened = open_movie(damaged)
    warning = next(text for text in opened.warnings if "is damaged" in text)
    assert not any("cut short" in text for text in opened.warnings)  # an AVI's header: not cut
    match = re.search(r"from frame (\d+) on", warning)
    assert match is not None, warning
    good = int(match[1])
    assert 10 < good < 50 and f"--frames 0:{good}" in warning
    np.testing.assert_array_equal(opened.frames[:good].compute(), movie[:good])
    before = open_movie(damaged, frame_range=f"0:{good}").warnings
    assert not any("is damaged" in text or "frame times" in text for text in before)


@pytest.mark.parametrize("where", [0.2, 0.3, 0.4, 0.6])
def test_a_damaged_video_with_b_frames_advises_only_undamaged_frames(tmp_path, movie, where):
    """An h264 video with B-frames decodes its frames in another order than it shows them: a
    frame shown before the first frame lost to the damage may be decoded after it, or from a
    damaged one. The advised frames (--frames 0:N) included such a frame (damage at 20 % of the
    file advised 0:15 while frame 14 was already damaged): every advised frame now equals the
    undamaged file's decode."""
    whole = write_video(tmp_path / "whole.mp4", movie[:100, :64, :64], 100, "libx264", b_frames=3)
    data = whole.read_bytes()
    start = int(len(data) * where)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(data[:start] + bytes(300) + data[start + 300 :])
    warning = next(text for text in open_movie(damaged).warnings if "is damaged" in text)
    match = re.search(r"--frames 0:(\d+)", warning)
    assert match is not None, warning
    good = int(match[1])
    assert good > 5, warning  # the advice still keeps the frames shown well before the damage
    np.testing.assert_array_equal(
        open_movie(damaged).frames[:good].compute(), open_movie(whole).frames[:good].compute()
    )


def test_h264_damage_ffmpeg_cannot_place_still_gets_advice(tmp_path, movie):
    """Decoding errors ffmpeg names no time for, in a video whose frame times stay regular,
    place no damaged frame: the warning said only "at frames ffmpeg did not locate", without
    the advice a placed damage gets. It now says what to do, and names no frame."""
    from napari_pynta.video import first_damaged_frame, open_video

    whole = write_video(tmp_path / "whole.mp4", movie[:100, :64, :64], 100, "libx264", b_frames=3)
    data = whole.read_bytes()
    damaged = tmp_path / "damaged.mp4"
    for where in np.linspace(0.05, 0.8, 16):  # small holes: some decode with unplaced errors
        start = int(len(data) * where)
        damaged.write_bytes(data[:start] + bytes(50) + data[start + 50 :])
        video = open_video(damaged)
        if video.decode_errors and first_damaged_frame(video) is None:
            break
    else:
        pytest.fail("no damage left ffmpeg's errors unplaced")
    warning = next(text for text in open_movie(damaged).warnings if "is damaged" in text)
    assert "at frames ffmpeg did not locate" in warning
    assert "no frame is known to be sound" in warning and "undamaged copy" in warning
    assert "with fewer frames" in warning and "--frames" in warning
    assert not re.search(r"--frames \d|frames? \d", warning), warning  # no frame invented
    assert any("is damaged" in text for text in open_movie(damaged, "0:10").warnings)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_foreign_ome_zarr_reads_as_a_movie_with_its_scale(tmp_path, movie, version):
    path = write_ome_zarr(tmp_path / f"image{version}.zarr", movie[:20], version, 0.2, 0.01)
    opened = open_movie(path)
    assert opened.store is None
    np.testing.assert_array_equal(opened.frames.compute(), movie[:20])
    assert opened.metadata["pixel_size_um"] == pytest.approx(0.2)
    assert opened.metadata["frame_interval_s"] == pytest.approx(0.01)


def test_ome_zarr_scales_that_are_not_positive_are_ignored_and_say_so(tmp_path, movie):
    """An OME-Zarr whose x scale was 0 or whose t scale was negative lost its pixel size and
    frame interval without a word (x28)."""
    path = write_ome_zarr(tmp_path / "image.zarr", movie[:4], "0.4", 0.0, -0.01)
    opened = open_movie(path)
    assert "pixel_size_um" not in opened.metadata and "frame_interval_s" not in opened.metadata
    interval, size_y, size_x = opened.warnings
    assert "'t' axis scale of -10 millisecond" in interval and "--frame-interval-s" in interval
    assert "'y' axis scale of 0 nanometer" in size_y and "'x' axis" in size_x
    assert "ignored; set --pixel-size-um" in size_x


def test_ome_zarr_with_channels_or_without_ome_metadata_is_refused(tmp_path, movie):
    path = write_ome_zarr(tmp_path / "two.zarr", movie[:4], "0.5", 0.2, 0.01)
    group = zarr.open_group(str(path), mode="r+")
    attributes = group.attrs.asdict()
    group.create_array("0", data=np.stack([movie[:4], movie[:4]], axis=1), overwrite=True)
    group.attrs.update(attributes)
    with pytest.raises(PyntaDataError, match="2 'z' planes"):
        open_movie(path)
    plain = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    plain.create_array("data", data=movie[:2])
    with pytest.raises(PyntaDataError, match="pynta"):
        open_movie(tmp_path / "plain.zarr")


def test_a_truncated_avi_says_how_many_frames_its_header_declares(tmp_path, movie):
    """An AVI cut short (an interrupted copy or recording) opened as its first frames without a
    word; the last one decoded may be incomplete (h264 conceals a cut frame with its
    neighbours), so it is left out too."""
    whole = write_avi(tmp_path / "whole.avi", movie, fps=30.0)
    data = whole.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10 - 5000])  # within a frame
    opened = open_movie(cut)
    n = len(opened.frames)
    assert 100 < n < 6 * len(movie) // 10
    np.testing.assert_array_equal(opened.frames.compute(), movie[:n])
    (warning,) = opened.warnings
    assert f"declares {len(movie)} frames" in warning and f"{n + 1} could be read" in warning
    assert open_movie(whole).warnings == []


@pytest.fixture
def cut_avi(tmp_path, movie):
    """An AVI of ``movie`` cut within a frame at about 60 % of its bytes."""
    data = write_avi(tmp_path / "whole.avi", movie, fps=30.0).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10 - 5000])
    return cut


def test_a_part_of_a_truncated_avi_is_warned_of_the_cut_only_where_it_reaches_it(
    cut_avi, movie, capsys
):
    """``--frames A:B`` of a cut AVI carried the warning about the whole file even when the
    frames analysed all lie before the cut; a part that reaches the cut names its frames."""
    n = len(open_movie(cut_avi).frames)
    before = open_movie(cut_avi, "0:50")
    assert before.warnings == []
    np.testing.assert_array_equal(before.frames.compute(), movie[:50])
    (warning,) = open_movie(cut_avi, "100:").warnings
    assert f"declares {len(movie)} frames" in warning
    assert f"the frames analysed, 100..{n - 1}, end at the cut" in warning
    (whole,) = open_movie(cut_avi, f"0:{n}").warnings  # the whole readable movie: as before
    assert whole.endswith(f"({n} frames read)")
    # a STOP past the cut is refused saying the file was cut, not only how long it is
    assert main(["analyze", str(cut_avi), "--frames", f"0:{n + 20}", "--no-save"]) == 2
    err = capsys.readouterr().err
    assert f"which has {n} frames" in err and f"declares {len(movie)} frames" in err, err
    assert "--frames" in err and "frame_range" not in err, err
    # a part refused for another reason says nothing of the cut
    assert main(["analyze", str(cut_avi), "--frames", "50:40", "--no-save"]) == 2
    assert "cut short" not in capsys.readouterr().err


def test_pynta_analyze_sizes_an_avi_with_its_rate_and_an_ome_zarr(tmp_path, movie, capsys):
    avi = write_avi(tmp_path / "capture.avi", movie, fps=100.0)
    flags = ["--json", "--no-save", "--pixel-size-um", "0.2", "--exposure-s", "0.01"]
    assert main(["analyze", str(avi), *flags, "--temperature-c", "22"]) == 0
    from_avi = json.loads(capsys.readouterr().out)
    assert from_avi["params"]["frame_interval_s"] == pytest.approx(0.01)  # from the file
    assert from_avi["n_frames"] == 300 and from_avi["n_tracks"] > 5
    ome = write_ome_zarr(tmp_path / "image.zarr", movie, "0.4", 0.2, 0.01)
    assert (
        main(
            [
                "analyze",
                str(ome),
                "--json",
                "--no-save",
                "--exposure-s",
                "0.01",
                "--temperature-c",
                "22",
            ]
        )
        == 0
    )
    from_ome = json.loads(capsys.readouterr().out)
    assert from_ome["params"]["pixel_size_um"] == pytest.approx(0.2)  # from the OME metadata
    assert from_ome["n_tracks"] == from_avi["n_tracks"]  # the same frames, the same analysis
    assert from_ome["diameter_nm"] == pytest.approx(from_avi["diameter_nm"], rel=1e-9)
    assert from_avi["diameter_nm"] == pytest.approx(100, rel=0.25)
