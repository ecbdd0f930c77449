"""OME-Zarr images written by other software (OME-NGFF 0.4 on zarr v2, 0.5 on zarr v3) as movies.

The first multiscale image's full-resolution dataset becomes the (T, Y, X) movie. Its physical
scale comes from the ``coordinateTransformations`` (dataset scale times the optional
multiscale-level scale) and the axis units: the ``t`` scale gives ``frame_interval_s`` and the
``y``/``x`` scale ``pixel_size_um`` (only when the axis states a unit, since a bare number could be
pixels; a scale of 0 or below is ignored with a warning that names the flag that sets it). Other
axes (``c``, ``z``, ...) must have length 1; an image without a ``t`` axis is a movie of one
frame. See https://ngff.openmicroscopy.org/.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from napari_pynta.errors import PyntaDataError, invalid_scale_text

#: OME-NGFF space units -> micrometers
SPACE_UNITS_UM = {
    "angstrom": 1e-4,
    "nanometer": 1e-3,
    "micrometer": 1.0,
    "millimeter": 1e3,
    "centimeter": 1e4,
    "meter": 1e6,
}
#: OME-NGFF time units -> seconds
TIME_UNITS_S = {
    "nanosecond": 1e-9,
    "microsecond": 1e-6,
    "millisecond": 1e-3,
    "second": 1.0,
    "minute": 60.0,
    "hour": 3600.0,
}
MOVIE_AXES = ("t", "y", "x")


def multiscale_of(attributes: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first ``multiscales`` entry of OME-Zarr group attributes (0.5 under ``"ome"``, 0.4 at
    the top level), or None when the group is not an OME-Zarr image."""
    ome = attributes.get("ome")
    container = ome if isinstance(ome, Mapping) and "multiscales" in ome else attributes
    multiscales = container.get("multiscales")
    if isinstance(multiscales, Sequence) and multiscales and isinstance(multiscales[0], Mapping):
        return multiscales[0]
    return None


def _open_group(path: Path) -> zarr.Group | None:
    try:
        return zarr.open_group(str(path), mode="r")
    except Exception:  # noqa: BLE001 - zarr raises many kinds on what is not a group
        return None


def is_ome_image(path: str | Path) -> bool:
    """True when ``path`` is a zarr group describing an OME-Zarr multiscale image."""
    group = _open_group(Path(path))
    return group is not None and multiscale_of(group.attrs.asdict()) is not None


def _axis_names(multiscale: Mapping[str, Any], ndim: int, path: Path) -> list[str]:
    axes = multiscale.get("axes")
    if axes is None and ndim == 5:  # OME-NGFF 0.1/0.2: always t, c, z, y, x
        axes = ["t", "c", "z", "y", "x"]
    if not isinstance(axes, Sequence) or len(axes) != ndim:
        raise PyntaDataError(
            f"OME-Zarr {str(path)!r}: 'axes' must name each of the {ndim} dimensions, got {axes!r}"
        )
    return [str(axis["name"] if isinstance(axis, Mapping) else axis).lower() for axis in axes]


def _scale(transformations: Any, ndim: int) -> np.ndarray:
    scale = np.ones(ndim)
    for transformation in transformations or []:
        if transformation.get("type") == "scale" and len(transformation.get("scale", ())) == ndim:
            scale = scale * np.asarray(transformation["scale"], dtype=float)
    return scale


def _physical_metadata(
    multiscale: Mapping[str, Any], dataset: Mapping[str, Any], names: list[str], path: Path
) -> tuple[dict[str, Any], list[str]]:
    """``frame_interval_s`` and ``pixel_size_um`` from the scales and units of the axes, and a
    warning for each scale with a unit that is not a positive number (ignored)."""
    ndim = len(names)
    scale = _scale(dataset.get("coordinateTransformations"), ndim) * _scale(
        multiscale.get("coordinateTransformations"), ndim
    )
    axes = multiscale.get("axes") or []
    units = [axis.get("unit") if isinstance(axis, Mapping) else None for axis in axes]
    units += [None] * (ndim - len(units))
    metadata: dict[str, Any] = {}
    warnings = []

    def scale_of(name: str, unit_factors: Mapping[str, float], flag: str) -> float | None:
        unit = str(units[names.index(name)])
        factor, value = unit_factors.get(unit), scale[names.index(name)]
        if factor is None:  # a bare number could be pixels or frames
            return None
        if math.isfinite(value) and value > 0:
            return float(value * factor)
        quantity = "frame interval" if name == "t" else "pixel size"
        given = f"OME-Zarr {str(path)!r} gives its {name!r} axis scale of {value:g} {unit}"
        warnings.append(invalid_scale_text(given, quantity, flag))
        return None

    if "t" in names:
        interval = scale_of("t", TIME_UNITS_S, "--frame-interval-s")
        if interval is not None:
            metadata["frame_interval_s"] = interval
    sizes = [scale_of(name, SPACE_UNITS_UM, "--pixel-size-um") for name in ("y", "x")]
    pixel = [size for size in sizes if size is not None]
    if len(pixel) == 2:
        if not math.isclose(pixel[0], pixel[1], rel_tol=1e-6):
            raise PyntaDataError(
                f"OME-Zarr {str(path)!r} has non-square pixels (y {pixel[0]:g} µm, x "
                f"{pixel[1]:g} µm); particle tracking needs square pixels"
            )
        metadata["pixel_size_um"] = pixel[0]
    return metadata, warnings


def open_ome_zarr(path: str | Path) -> tuple[da.Array, dict[str, Any], list[str]]:
    """Open an OME-Zarr image written by other software lazily as a (T, Y, X) movie.

    Parameters
    ----------
    path : str or Path
        The OME-Zarr group (0.4 on zarr v2 or 0.5 on zarr v3).

    Returns
    -------
    frames : dask.array.Array
        (T, Y, X) frames of the full-resolution dataset.
    metadata : dict
        ``frame_interval_s`` and ``pixel_size_um`` where the axes state units.
    warnings : list of str
        One for each scale with a unit that is not a positive number (then not in
        ``metadata``), naming the flag that sets it.

    Raises
    ------
    PyntaDataError
        When the group is not an OME-Zarr image, lacks y/x axes, or has another axis longer than
        one (channels, z planes).
    """
    path = Path(path)
    group = _open_group(path)
    multiscale = multiscale_of(group.attrs.asdict()) if group is not None else None
    if group is None or multiscale is None:
        raise PyntaDataError(
            f"{str(path)!r} is neither a pynta store nor an OME-Zarr image (no 'pynta' or "
            "'multiscales' attributes)"
        )
    datasets = multiscale.get("datasets") or []
    if not datasets or "path" not in datasets[0]:
        raise PyntaDataError(f"OME-Zarr {str(path)!r} lists no datasets")
    dataset = datasets[0]
    try:
        array = group[str(dataset["path"])]
    except KeyError:
        raise PyntaDataError(
            f"OME-Zarr {str(path)!r}: dataset {dataset['path']!r} is missing"
        ) from None
    names = _axis_names(multiscale, array.ndim, path)
    for axis in ("y", "x"):
        if axis not in names:
            raise PyntaDataError(f"OME-Zarr {str(path)!r} has no {axis!r} axis (axes {names})")
    pixels = da.from_zarr(array)
    index: list[Any] = []
    for name, size in zip(names, array.shape, strict=True):
        if name in MOVIE_AXES:
            index.append(slice(None))
        elif size == 1:
            index.append(0)
        else:
            raise PyntaDataError(
                f"OME-Zarr {str(path)!r} has {size} {name!r} planes; pynta expects one time "
                "series of 2-D frames: save a single channel and a single z-plane"
            )
    pixels = pixels[tuple(index)]
    kept = [name for name in names if name in MOVIE_AXES]
    if "t" not in kept:
        pixels, kept = pixels[np.newaxis], ["t", *kept]
    frames = da.transpose(pixels, [kept.index(name) for name in MOVIE_AXES])
    return frames, *_physical_metadata(multiscale, dataset, names, path)
