"""napari reader, tracks writer and sample data of napari-pynta (npe2 contributions).

- :func:`get_reader` opens a pynta store (``*.zarr``), an OME-Zarr image from other software, an
  AVI/MP4 video, a (multi-page) TIFF or a folder of PNG/TIFF/JPEG frames lazily (dask) with the
  physical pixel scale; a store that holds analysis results also gives a points layer
  (localizations) and a tracks layer. It returns None for anything else.
- A measurement folder (``measurement.json`` and one store per capture) opens as its captures'
  layers (:func:`read_measurement`); their metadata name the folder, so that the Sizes widget
  offers to analyse and combine it.
- :func:`write_tracks` saves a tracks layer as CSV (pixels and micrometres).
- :func:`simulated_movie` is the sample data: a short simulated NTA movie of 100 nm beads.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_pynta.errors import PyntaDataError
from napari_pynta.video import VIDEO_SUFFIXES
from napari_pynta.widgets.layer_data import (
    METADATA_KEY,
    POINTS_NAME,
    POINTS_STYLE,
    TRACKS_NAME,
    TRACKS_STYLE,
    fixed_contrast_limits,
    movie_layer_kwargs,
    pixel_scale,
    points_data,
    tracks_data,
    tracks_table,
)

if TYPE_CHECKING:
    import pandas as pd

LayerDataTuple = tuple[Any, dict[str, Any], str]

#: file suffixes of single-file movies this reader accepts (napari.yaml offers the reader
#: automatically for videos only: plain TIFFs are left to napari's built-in reader)
MOVIE_FILE_SUFFIXES = (".tif", ".tiff", *VIDEO_SUFFIXES)
#: suffixes of the frames of an image folder
FRAME_FILE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
#: key of an opened capture's ``metadata["pynta"]`` naming its measurement folder
MEASUREMENT_KEY = "measurement"
#: store tables shown as layers when present
LOCALIZATIONS_TABLE = "localizations"
TRACKS_TABLE = "tracks"

#: sample movie: small enough to simulate in about a second, long enough for tracks of 50+ steps
SAMPLE_FRAMES = 120
SAMPLE_SHAPE = (256, 256)
SAMPLE_PARTICLES = 40


def is_pynta_movie_path(path: str | Path) -> bool:
    """True for a pynta store (a damaged one too), an OME-Zarr image, a TIFF or video file, or
    a folder holding PNG/TIFF/JPEG frames; False for anything else (e.g. a zarr that is neither), so
    that napari can offer other readers."""
    from napari_pynta.ome_zarr import is_ome_image
    from napari_pynta.readers import is_damaged_pynta_store, is_pynta_store, is_zarr_group

    path = Path(path)
    if path.is_dir() and is_zarr_group(path):
        # a store whose zarr.json is cut or lost is claimed, so that opening says what is
        # damaged; napari said only "no reader found" (b16)
        return is_pynta_store(path) or is_ome_image(path) or is_damaged_pynta_store(path)
    if path.is_file():
        return path.suffix.lower() in MOVIE_FILE_SUFFIXES
    if path.is_dir():
        return any(child.suffix.lower() in FRAME_FILE_SUFFIXES for child in path.iterdir())
    return False


def get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerDataTuple]] | None:
    """npe2 reader hook: :func:`read_measurement` for a measurement folder, :func:`read_movie`
    for other paths pynta can open, else None."""
    from napari_pynta.measurement import is_measurement

    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    if is_measurement(path):
        return read_measurement
    return read_movie if is_pynta_movie_path(path) else None


def read_measurement(path: str | list[str]) -> list[LayerDataTuple]:
    """The layers of every capture of a measurement folder (:func:`read_movie` of each), each
    image's ``metadata["pynta"]["measurement"]`` naming the folder.

    Raises
    ------
    PyntaDataError
        When ``measurement.json`` is unreadable or a capture cannot be opened (named).
    """
    from napari_pynta.measurement import capture_paths

    folder = path[0] if isinstance(path, list) else path
    layers: list[LayerDataTuple] = []
    for capture in capture_paths(folder):
        try:
            capture_layers = read_movie(capture)
        except (PyntaDataError, OSError, ValueError) as error:
            raise PyntaDataError(f"capture {Path(capture).name} of {folder}: {error}") from None
        capture_layers[0][1]["metadata"][METADATA_KEY][MEASUREMENT_KEY] = str(folder)
        layers.extend(capture_layers)
    return layers


def read_movie(path: str | list[str]) -> list[LayerDataTuple]:
    """Open a movie lazily as an image layer, plus points/tracks layers of stored results.

    What the movie's reader warns of (a recording still being written, times that go back, a
    cut video, results whose writing was interrupted) is raised as ``UserWarning``, which napari
    shows as a notification. A store whose lost seq chunks left frames without their number
    opens with every frame and a warning naming them and the *Frames* range that analyses the
    others (``open_movie(..., show_unnumbered=True)``), the field named as the Tracking widget
    labels it.

    The movie is left open: the layer reads its frames lazily for as long as it lives, and the
    file (a TIFF's) is closed when the layer's data is collected.

    Parameters
    ----------
    path : str or list of str
        A pynta store, a TIFF file or an image folder (a one-element list is accepted).

    Returns
    -------
    list of LayerDataTuple
        ``(data, kwargs, layer_type)`` tuples: the image first, then localizations and tracks
        when the store holds them.
    """
    from napari_pynta.readers import open_movie
    from napari_pynta.widgets.reanalysis import FIELD_NAMES, gui_message

    if isinstance(path, list):
        path = path[0]
    try:
        movie = open_movie(path, show_unnumbered=True)
        frames, readable, absent = _frames_to_show(movie)
    except PyntaDataError as error:  # its advice names the Tracking widget's Frames field
        raise PyntaDataError(gui_message(error)) from None
    name = Path(str(path).rstrip("/\\")).stem or "movie"
    for text in [*movie.warnings, *absent]:  # napari shows a reader's warnings as notifications
        named = gui_message(PyntaDataError(text, others=tuple(FIELD_NAMES)))
        warnings.warn(f"{name}: {named}", UserWarning, stacklevel=2)
    image_kwargs = movie_layer_kwargs(movie.metadata, movie.source, name)
    first = int(np.argmax(readable))  # the contrast of a frame that is on disk
    image_kwargs["contrast_limits"] = fixed_contrast_limits(movie.frames[first].compute())
    layers: list[LayerDataTuple] = [(frames, image_kwargs, "image")]
    if movie.store is not None:
        layers.extend(_result_layers(movie.store, movie.metadata, name))
    return layers


def _frames_to_show(movie: Any) -> tuple[Any, np.ndarray, list[str]]:
    """The frames of ``movie`` for the image layer, which of them are on disk, and the warning
    for those that are not.

    A store whose frame data is missing on disk (a deleted shard: frames 0..63) opened only to
    fail on the first frame read for the contrast. Its absent frames are shown blank (zeros:
    the layer only; the analysis reads the store, which refuses them), on their recorded
    index, and a warning names them and the frames to analyse.

    Raises
    ------
    PyntaDataError
        When no frame is on disk (nothing to show).
    """
    import dask.array as da

    frames = movie.frames
    if movie.store is None:
        return frames, np.ones(len(frames), dtype=bool), []
    layout = movie.store.layout
    readable = layout.readable(movie.first_frame + len(frames))[movie.first_frame :]
    if readable.all():
        return frames, readable, []
    error = layout.missing_error(
        movie.first_frame + np.flatnonzero(~readable), Path(movie.source), readable
    )
    if not readable.any():
        raise error
    edges = [0, *(np.flatnonzero(np.diff(readable)) + 1), len(readable)]
    shown = da.concatenate(
        [
            frames[start:stop]
            if readable[start]
            else da.zeros((stop - start, *frames.shape[1:]), frames.dtype, chunks=frames.chunksize)
            for start, stop in zip(edges[:-1], edges[1:], strict=True)
        ]
    )
    return shown, readable, [f"{error}. The missing frames are shown blank."]


def _result_layers(store: Any, metadata: dict[str, Any], name: str) -> list[LayerDataTuple]:
    """Points and tracks layers of the analysis tables a store holds (none when it holds none)."""
    scale = (1.0, *pixel_scale(metadata))
    tables = set(store.table_names())
    interrupted = store.interrupted_tables()
    if interrupted:
        warnings.warn(
            f"{name}: the analysis results {', '.join(map(repr, interrupted))} were being "
            "replaced when their writer stopped (killed?) and may mix two analyses: they are not "
            "shown; analyse the movie again",
            UserWarning,
            stacklevel=3,
        )
    layers: list[LayerDataTuple] = []
    localizations = _shown_table(store, LOCALIZATIONS_TABLE, tables, name)
    if localizations is not None:
        kwargs = {"name": f"{name} {POINTS_NAME}", "scale": scale, **POINTS_STYLE}
        layers.append((points_data(localizations), kwargs, "points"))
    tracks = _shown_table(store, TRACKS_TABLE, tables, name)
    if tracks is not None:
        if len(tracks):
            kwargs = {"name": f"{name} {TRACKS_NAME}", "scale": scale, **TRACKS_STYLE}
            layers.append((tracks_data(tracks), kwargs, "tracks"))
    return layers


def _shown_table(store: Any, table: str, tables: set[str], name: str) -> pd.DataFrame | None:
    """The stored table ``table``, or None when the store has none or it is damaged (a warning
    says so: the movie is still shown, without that table's layer)."""
    if table not in tables:
        return None
    try:
        return store.read_table(table)
    except PyntaDataError as error:
        warnings.warn(f"{name}: not shown: {error}", UserWarning, stacklevel=4)
        return None


def write_tracks(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """npe2 single-layer writer: save a tracks layer as CSV.

    Columns: ``particle, frame, y, x`` (pixels) and, with the layer scale, ``y_um, x_um``.

    Parameters
    ----------
    path : str
        Destination; ``.csv`` is appended when missing.
    data : array-like
        (N, 4) or (N, 5) tracks layer data.
    meta : dict
        Layer attributes (``scale`` is used).

    Returns
    -------
    list of str
        The path written.
    """
    destination = Path(path)
    if destination.suffix.lower() != ".csv":
        destination = destination.with_name(destination.name + ".csv")
    try:
        table = tracks_table(data, meta.get("scale"))
    except ValueError as error:
        raise PyntaDataError(f"cannot write tracks to {destination}: {error}") from None
    try:
        table.to_csv(destination, index=False)
    except OSError as error:
        raise PyntaDataError(f"cannot write tracks to {destination}: {error}") from None
    return [str(destination)]


def sample_settings() -> Any:
    """Simulation settings of the sample movie (100 nm beads in water at 22 °C)."""
    from napari_pynta.simulate import Population, SimulationSettings

    return SimulationSettings(
        shape=SAMPLE_SHAPE,
        n_particles=SAMPLE_PARTICLES,
        populations=(Population(100.0),),
        seed=2018,
    )


def simulated_movie() -> list[LayerDataTuple]:
    """npe2 sample data: a simulated NTA movie with its ground truth in the layer metadata."""
    from napari_pynta.simulate import simulate_movie

    movie = simulate_movie(SAMPLE_FRAMES, sample_settings())
    kwargs = movie_layer_kwargs(movie.metadata, "simulated", "simulated NTA movie")
    kwargs["contrast_limits"] = fixed_contrast_limits(movie.frames[0])
    kwargs["metadata"]["pynta"]["true_diameters_nm"] = np.asarray(movie.diameters_nm, dtype=float)
    return [(movie.frames, kwargs, "image")]
