"""The one place where napari-pynta touches the viewer: its layers, dims and window.

Widgets and the session never create or change layers themselves; they call a :class:`ViewerLink`.
Live layers are persistent: the live image layer is created once and then only gets new data
(newest frame only, fixed contrast limits, at most ``max_display_hz`` updates a second), the live
localizations go to one points layer and the live tracks to one tracks layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from napari.layers import Image
from qtpy.QtCore import QEvent, QObject

from napari_pynta.widgets.layer_data import (
    LIVE_IMAGE_NAME,
    METADATA_KEY,
    POINTS_NAME,
    POINTS_STYLE,
    TRACKS_NAME,
    TRACKS_STYLE,
    fixed_contrast_limits,
    points_data,
    tracks_data,
)

PREVIEW_NAME = "PyNTA preview"
ROI_NAME = "PyNTA ROI"
DEFAULT_MAX_DISPLAY_HZ = 30.0


class _CloseFilter(QObject):
    """Calls ``callback`` once when the watched widget receives a Close event."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self._callback = callback

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Close:
            self._callback()
        return False


class ViewerLink:
    """Draw pynta data into one napari viewer.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer to draw into.
    max_display_hz : float
        Highest rate at which the live image layer is refreshed; newer frames arriving faster are
        simply not shown (the producer always sends the newest one).
    """

    def __init__(self, viewer: Any, max_display_hz: float = DEFAULT_MAX_DISPLAY_HZ) -> None:
        self.viewer = viewer
        self._min_frame_interval_s = 1.0 / max_display_hz
        self._last_frame_time = -np.inf
        self._close_filter: _CloseFilter | None = None
        self._live_scale: tuple[float, float] = (1.0, 1.0)
        self._live_translate: tuple[float, ...] = (0.0, 0.0)
        #: the live tracks layer was hidden here (not by the user): shown again with new tracks
        self._tracks_hidden = False

    # ------------------------------------------------------------------ lifetime
    def on_viewer_closing(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the viewer window closes (window close, ``viewer.close()``, quit).

        ``viewer.close()`` closes the inner Qt viewer before the window, a click on the window's
        close button only closes the window: both are watched, and the window's destruction too.
        The callback must be idempotent.
        """
        window = self.viewer.window
        self._close_filter = _CloseFilter(callback)
        qt_window = getattr(window, "_qt_window", None)
        qt_viewer = getattr(window, "_qt_viewer", None)
        for widget in (qt_window, qt_viewer):
            if widget is not None:
                widget.installEventFilter(self._close_filter)
        if qt_window is not None:
            qt_window.destroyed.connect(lambda *_: callback())

    def add_dock_widget(self, widget: Any, name: str, area: str = "right") -> None:
        """Dock ``widget`` in the viewer window."""
        self.viewer.window.add_dock_widget(widget, name=name, area=area)

    # ------------------------------------------------------------------ live layers
    _refresh_contrast = False

    def configure_live(self, pixel_size_um: float, offset_px: tuple[int, int] = (0, 0)) -> None:
        """Scale and origin of the live layers: ``offset_px`` is the camera ROI origin on the
        sensor, so world coordinates stay sensor coordinates whatever the ROI."""
        self._live_scale = (float(pixel_size_um), float(pixel_size_um))
        self._live_translate = tuple(float(o) * pixel_size_um for o in offset_px)
        for name in (LIVE_IMAGE_NAME, POINTS_NAME):
            layer = self._layer(name)
            if layer is not None:
                layer.scale, layer.translate = self._live_scale, self._live_translate
        tracks = self._layer(TRACKS_NAME)
        if tracks is not None:
            tracks.scale = (1.0, *self._live_scale)
            tracks.translate = (0.0, *self._live_translate)

    def live_frame_due(self, now: float) -> bool:
        """Whether a new live frame may be drawn at monotonic time ``now`` (the display rate is
        capped so drawing does not starve the GUI thread)."""
        return now - self._last_frame_time >= self._min_frame_interval_s

    def show_live_frame(self, frame: np.ndarray) -> None:
        """Put ``frame`` into the persistent live image layer (callers check
        :meth:`live_frame_due` first).

        The contrast limits are computed from the first frame and then kept, so the display does
        not flicker and no per-frame statistics are computed on the GUI thread.
        """
        self._last_frame_time = time.monotonic()
        layer = self._layer(LIVE_IMAGE_NAME)
        if layer is None or layer.data.shape != frame.shape:
            if layer is not None:
                self.viewer.layers.remove(layer)
            self.viewer.add_image(
                frame,
                name=LIVE_IMAGE_NAME,
                scale=self._live_scale,
                translate=self._live_translate,
                contrast_limits=fixed_contrast_limits(frame),
                metadata={METADATA_KEY: {"source": "live"}},
            )
            self._keep_on_top(POINTS_NAME, TRACKS_NAME)
            self.viewer.reset_view()  # a frame of a new shape (first, new ROI) fills the canvas
        else:
            layer.data = frame
            if self._refresh_contrast:
                layer.contrast_limits = fixed_contrast_limits(frame)
        self._refresh_contrast = False

    def refresh_live_contrast(self) -> None:
        """Compute the live contrast limits again from the next frame (new exposure or gain)."""
        self._refresh_contrast = True

    def show_live_localizations(self, localizations: pd.DataFrame) -> None:
        """Show the localizations of the drawn frame (2-D points over the live image)."""
        data = points_data(localizations, with_frame=False)
        layer = self._layer(POINTS_NAME)
        if layer is None:
            self.viewer.add_points(
                data,
                name=POINTS_NAME,
                scale=self._live_scale,
                translate=self._live_translate,
                ndim=2,
                **POINTS_STYLE,
            )
        else:
            layer.data = data

    def show_live_tracks(self, tracks: pd.DataFrame) -> None:
        """Show recent tracks (``particle, frame, y, x``) and move the time slider to the newest."""
        if tracks is None or len(tracks) == 0:
            return
        data = tracks_data(tracks)
        layer = self._layer(TRACKS_NAME)
        if layer is None:
            self.viewer.add_tracks(
                data,
                name=TRACKS_NAME,
                scale=(1.0, *self._live_scale),
                translate=(0.0, *self._live_translate),
                **TRACKS_STYLE,
            )
        else:
            layer.data = data
            if self._tracks_hidden:
                layer.visible = True
        self._tracks_hidden = False
        self.viewer.dims.set_current_step(0, int(data[:, 1].max()))

    def hide_live_tracks(self) -> None:
        """Hide the live tracks while they end too long before the drawn frame (tracking far
        behind): :meth:`show_live_tracks` shows them again."""
        layer = self._layer(TRACKS_NAME)
        if layer is not None and layer.visible:
            layer.visible = False
            self._tracks_hidden = True

    def clear_live_layers(self) -> None:
        """Remove the live points and tracks (the last live frame stays for inspection)."""
        for name in (POINTS_NAME, TRACKS_NAME):
            layer = self._layer(name)
            if layer is not None:
                self.viewer.layers.remove(layer)

    def add_snapshot(self, frame: np.ndarray) -> str:
        """Add ``frame`` as a new image layer (live scale and origin) and return its name."""
        layer = self.viewer.add_image(
            np.array(frame),
            name="PyNTA snap",
            scale=self._live_scale,
            translate=self._live_translate,
            contrast_limits=fixed_contrast_limits(frame),
        )
        return layer.name

    # ------------------------------------------------------------------ movies and results
    def image_layer_names(self) -> list[str]:
        """Names of the image layers with a time axis (movies), newest first."""
        return [
            layer.name
            for layer in reversed(self.viewer.layers)
            if isinstance(layer, Image) and layer.ndim == 3 and not layer.rgb
        ]

    def open_movie(self, path: str) -> None:
        """Open a movie with the PyNTA reader (image layer, plus stored results)."""
        self.viewer.open(path, plugin="napari-pynta")

    def movie_of_layer(self, name: str) -> tuple[Any, dict[str, Any]]:
        """``(data, pynta layer metadata)`` of the image layer called ``name``."""
        layer = self.viewer.layers[name]
        return layer.data, dict(layer.metadata.get(METADATA_KEY, {}))

    def current_frame(self) -> int:
        """Index of the frame shown on the time axis."""
        step = self.viewer.dims.current_step
        return int(step[0]) if len(step) >= 3 else 0

    def show_frame(self, index: int) -> None:
        """Move the time slider to frame ``index``."""
        if self.viewer.dims.ndim >= 3:
            self.viewer.dims.set_current_step(0, int(index))

    def show_preview(self, localizations: pd.DataFrame, scale: tuple[float, float]) -> None:
        """Detections of one frame of a movie (``frame, y, x``) in the preview points layer."""
        data = points_data(localizations, with_frame=True)
        layer = self._layer(PREVIEW_NAME)
        style = {**POINTS_STYLE, "border_color": "#ffd400"}
        if layer is None:
            self.viewer.add_points(data, name=PREVIEW_NAME, scale=(1.0, *scale), ndim=3, **style)
        else:
            layer.data = data

    def show_results(
        self,
        movie_name: str,
        localizations: pd.DataFrame,
        tracks: pd.DataFrame,
        scale: tuple[float, float],
    ) -> None:
        """Points and tracks layers of a re-analysed movie (replacing that movie's earlier ones)."""
        for suffix in (POINTS_NAME, TRACKS_NAME, PREVIEW_NAME):
            layer = self._layer(f"{movie_name} {suffix}")
            if layer is not None:
                self.viewer.layers.remove(layer)
        preview = self._layer(PREVIEW_NAME)
        if preview is not None:
            self.viewer.layers.remove(preview)
        self.viewer.add_points(
            points_data(localizations),
            name=f"{movie_name} {POINTS_NAME}",
            scale=(1.0, *scale),
            ndim=3,
            **POINTS_STYLE,
        )
        if len(tracks):
            self.viewer.add_tracks(
                tracks_data(tracks),
                name=f"{movie_name} {TRACKS_NAME}",
                scale=(1.0, *scale),
                **TRACKS_STYLE,
            )

    # ------------------------------------------------------------------ ROI
    def add_roi_layer(self) -> None:
        """Add (or select) a shapes layer in rectangle mode for drawing the camera ROI."""
        layer = self._layer(ROI_NAME)
        if layer is None:
            layer = self.viewer.add_shapes(
                name=ROI_NAME, edge_color="#ff5500", face_color="transparent", edge_width=2
            )
        self.viewer.layers.selection.active = layer
        layer.mode = "add_rectangle"

    def roi_from_shapes(self) -> tuple[int, int, int, int] | None:
        """Bounding box ``(y, x, h, w)`` in pixels of the newest shape in the ROI layer, if any."""
        layer = self._layer(ROI_NAME)
        if layer is None or len(layer.data) == 0:
            return None
        vertices = np.asarray(layer.data[-1])[:, -2:]
        world = vertices * np.asarray(layer.scale[-2:]) + np.asarray(layer.translate[-2:])
        live = self._layer(LIVE_IMAGE_NAME)
        pixel_scale = np.asarray(live.scale[-2:]) if live is not None else np.ones(2)
        pixels = world / pixel_scale
        top_left = np.floor(pixels.min(axis=0)).astype(int)
        bottom_right = np.ceil(pixels.max(axis=0)).astype(int)
        height, width = (bottom_right - top_left).tolist()
        return (int(top_left[0]), int(top_left[1]), int(height), int(width))

    # ------------------------------------------------------------------ helpers
    def _layer(self, name: str) -> Any | None:
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _keep_on_top(self, *names: str) -> None:
        for name in names:
            layer = self._layer(name)
            if layer is not None:
                index = self.viewer.layers.index(layer)
                self.viewer.layers.move(index, len(self.viewer.layers))
