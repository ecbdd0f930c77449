"""Movies written the way other software writes them: an uncompressed grey AVI (as NanoSight
saves captures) and OME-Zarr images following the OME-NGFF 0.4 (zarr v2) and 0.5 (zarr v3) specs,
with a second, downsampled resolution level and a channel or z axis of length one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import zarr


def write_avi(path: Path, frames: np.ndarray, fps: float) -> Path:
    """Write uint8 frames (T, Y, X) as a lossless grey AVI at ``fps`` with ffmpeg."""
    import imageio_ffmpeg

    height, width = frames.shape[1:]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        pix_fmt_in="gray",
        pix_fmt_out="gray",
        codec="rawvideo",
        fps=fps,
        macro_block_size=1,
    )
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
    writer.close()
    return path


def write_video(
    path: Path,
    frames: np.ndarray,
    fps: float,
    codec: str = "ffv1",
    setpts: str | None = None,
    b_frames: int = 0,
) -> Path:
    """Write uint8 frames (T, Y, X) with ffmpeg's ``codec`` (ffv1: lossless; libx264 with
    ``b_frames`` B-frames, none by default so that such streams can be joined) at ``fps``;
    ``setpts`` (an ffmpeg expression of the frame number N, in units of TB) gives the frames
    other presentation times."""
    import imageio_ffmpeg

    height, width = frames.shape[1:]
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-f", "rawvideo"]
    command += ["-pix_fmt", "gray", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-"]
    if setpts is not None:
        command += ["-vf", f"settb=1/1000,setpts='{setpts}'", "-fps_mode", "vfr"]
        command += ["-enc_time_base", "1:1000"]  # times to the millisecond
    codec_options = ["-bf", str(b_frames), "-pix_fmt", "yuv420p"] if codec == "libx264" else []
    command += ["-c:v", codec, *codec_options]
    command += ["-f", "h264"] if path.suffix == ".h264" else []
    subprocess.run(
        [*command, str(path)], input=np.ascontiguousarray(frames, np.uint8).tobytes(), check=True
    )
    return path


def remux(source: Path, path: Path, fps: float) -> Path:
    """Put a raw h264 stream into a container (``path``'s suffix), frames at ``fps``."""
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-fflags", "+genpts"]
    command += ["-r", str(fps), "-i", str(source), "-c", "copy", str(path)]
    subprocess.run(command, check=True)
    return path


def write_ome_zarr(
    path: Path, frames: np.ndarray, version: str, pixel_size_um: float, frame_interval_s: float
) -> Path:
    """Write (T, Y, X) frames as an OME-Zarr image of another tool.

    0.4: zarr v2, axes ``t c y x``, time in milliseconds, space in nanometers, ``multiscales`` at
    the top level. 0.5: zarr v3, axes ``t z y x``, seconds and micrometers, the pixel scale split
    between the dataset and the multiscale-level transformation, ``multiscales`` under ``ome``.
    """
    if version == "0.4":
        data = frames[:, np.newaxis]  # t c y x
        axes = [
            {"name": "t", "type": "time", "unit": "millisecond"},
            {"name": "c", "type": "channel"},
            {"name": "y", "type": "space", "unit": "nanometer"},
            {"name": "x", "type": "space", "unit": "nanometer"},
        ]
        scale = [1000 * frame_interval_s, 1.0, 1000 * pixel_size_um, 1000 * pixel_size_um]
        level_scale = None
        zarr_format = 2
    else:
        data = frames[:, np.newaxis]  # t z y x
        axes = [
            {"name": "t", "type": "time", "unit": "second"},
            {"name": "z", "type": "space", "unit": "micrometer"},
            {"name": "y", "type": "space", "unit": "micrometer"},
            {"name": "x", "type": "space", "unit": "micrometer"},
        ]
        scale = [frame_interval_s, 1.0, pixel_size_um / 2, pixel_size_um / 2]
        level_scale = [1.0, 1.0, 2.0, 2.0]
        zarr_format = 3
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    group.create_array("0", data=data, chunks=(1, *data.shape[1:]))
    half = data[..., ::2, ::2]
    group.create_array("1", data=half, chunks=(1, *half.shape[1:]))
    datasets = [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]},
        {
            "path": "1",
            "coordinateTransformations": [
                {"type": "scale", "scale": [*scale[:-2], 2 * scale[-2], 2 * scale[-1]]}
            ],
        },
    ]
    multiscale = {"name": "foreign", "axes": axes, "datasets": datasets}
    if level_scale is not None:
        multiscale["coordinateTransformations"] = [{"type": "scale", "scale": level_scale}]
    if version == "0.4":
        group.attrs["multiscales"] = [{"version": "0.4", **multiscale}]
    else:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}
    return path
