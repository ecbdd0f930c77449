"""A camera that films a simulated Brownian scene in real time (the default camera)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from napari_pynta.cameras.base import BaseCamera, CameraSettings
from napari_pynta.errors import PyntaInputError, require_int, require_number, require_positive

if TYPE_CHECKING:
    from napari_pynta.simulate import BrownianScene


#: the largest simulated sensor side, pixels (a 4096² frame is 32 MB; no NTA camera is larger)
MAX_SENSOR_SIDE = 4096


def _sensor_shape(shape: Any) -> tuple[int, int]:
    """``shape`` as (height, width), each 8 .. :data:`MAX_SENSOR_SIDE`, or a one-line refusal."""
    wrong = f"shape must be two integers (height, width), got {shape!r}"
    if isinstance(shape, str | bytes) or not hasattr(shape, "__len__") or len(shape) != 2:
        raise PyntaInputError(wrong, "shape")
    try:
        sensor = (require_int("shape", shape[0]), require_int("shape", shape[1]))
    except PyntaInputError:
        raise PyntaInputError(wrong, "shape") from None
    if min(sensor) < 8:
        raise PyntaInputError(f"shape must be at least 8x8 pixels, got {sensor}", "shape")
    if max(sensor) > MAX_SENSOR_SIDE:
        raise PyntaInputError(
            f"shape must be at most {MAX_SENSOR_SIDE}x{MAX_SENSOR_SIDE} pixels, got {sensor}",
            "shape",
        )
    return sensor


#: simulation settings that the camera's own arguments and settings set, with the argument
CAMERA_ARGUMENTS = {
    "shape": "shape",
    "n_particles": "n_particles",
    "pixel_size_um": "pixel_size_um",
    "temperature_c": "temperature_c",
    "seed": "seed",
    "frame_interval_s": "fps",
    "exposure_s": "exposure_s",
}


def _scene_settings(scene: Any) -> dict[str, Any]:
    """The ``scene`` overrides, checked to be :class:`~napari_pynta.simulate.SimulationSettings`
    fields (their values are checked by it)."""
    import dataclasses

    from napari_pynta.simulate import SimulationSettings

    if scene is None:
        return {}
    if not isinstance(scene, dict):
        raise PyntaInputError(f"scene must be a dict of simulation settings, got {scene!r}")
    allowed = sorted(
        field.name
        for field in dataclasses.fields(SimulationSettings)
        if field.name not in CAMERA_ARGUMENTS
    )
    own = sorted(set(scene) & set(CAMERA_ARGUMENTS))
    if own:
        instead = ", ".join(f"{name} -> {CAMERA_ARGUMENTS[name]}" for name in own)
        raise PyntaInputError(
            f"scene setting(s) {own} are set by the camera's own arguments; pass those instead "
            f"({instead})"
        )
    unknown = sorted(set(scene) - set(allowed))
    if unknown:
        raise PyntaInputError(f"unknown scene setting(s) {unknown}; allowed: {allowed}")
    return dict(scene)


@dataclass(frozen=True)
class SceneArguments:
    """The :class:`SimulatedCamera` arguments that set its scene, as given (unchecked), with
    their defaults: the constructor's defaults and the arguments
    :meth:`SimulatedCamera.check_options` checks are these, so the two cannot drift apart."""

    shape: Any = (256, 256)
    n_particles: Any = 50
    diameter_nm: Any = 100.0
    pixel_size_um: Any = 0.1
    temperature_c: Any = 22.0
    seed: Any = None
    scene: Any = None

    def scene_fields(self) -> dict[str, Any]:
        """The :class:`~napari_pynta.simulate.SimulationSettings` fields these set, each checked
        (the scene's own values are checked by the settings)."""
        from napari_pynta import simulate

        return dict(
            shape=_sensor_shape(self.shape),
            n_particles=require_int("n_particles", self.n_particles, minimum=0),
            populations=(simulate.Population(require_positive("diameter_nm", self.diameter_nm)),),
            pixel_size_um=require_positive("pixel_size_um", self.pixel_size_um),
            temperature_c=require_number("temperature_c", self.temperature_c),
            seed=self.seed,
        ) | _scene_settings(self.scene)  # the scene's populations (a mixture) replace diameter_nm


#: the arguments of :class:`SceneArguments`, by name
SCENE_ARGUMENTS = tuple(field.name for field in fields(SceneArguments))
_DEFAULT = SceneArguments()


class SimulatedCamera(BaseCamera):
    """Frames from :class:`napari_pynta.simulate.BrownianScene`, released at the requested fps.

    The whole sensor is simulated and the ROI cropped from it, so particles move continuously
    in and out of the ROI. The scene's frame interval and exposure follow the camera settings
    (changing ``fps`` or ``exposure_s`` restarts the scene with the new timing).

    Parameters
    ----------
    shape : tuple of int
        Sensor size ``(height, width)`` in pixels.
    n_particles : int
        Particles in the simulated volume.
    diameter_nm : float
        Diameter of the (monodisperse) particles.
    pixel_size_um, temperature_c, seed
        Passed to :class:`~napari_pynta.simulate.SimulationSettings`.
    scene : dict, optional
        Any further :class:`~napari_pynta.simulate.SimulationSettings` fields (``populations``
        replaces ``diameter_nm``; the fields of :data:`CAMERA_ARGUMENTS` are refused, their
        arguments set them).
    buffer_frames : int
        Frames the camera holds for a slow reader; older ones are lost (see
        :class:`~napari_pynta.cameras.base.BaseCamera`).
    **settings
        Camera settings: ``fps``, ``exposure_s``, ``roi``, ``gain``.
    """

    name = "simulated"
    free_running = True
    #: the scene advances exactly one frame interval per frame, so its clock is the true time
    timestamp_source = "simulation clock"
    #: the simulation delivers about 10^3 frames/s; the rest are lost, each a skip notice to the
    #: linker: at 10^5 fps a tracked run kept up, at 10^6 the linker fell behind for good (267 of
    #: 282 frames untracked, given up after 20 s)
    max_fps = 1e5

    def __init__(
        self,
        shape: tuple[int, int] = _DEFAULT.shape,
        n_particles: int = _DEFAULT.n_particles,
        diameter_nm: float = _DEFAULT.diameter_nm,
        pixel_size_um: float = _DEFAULT.pixel_size_um,
        temperature_c: float = _DEFAULT.temperature_c,
        seed: int | None = _DEFAULT.seed,
        scene: dict[str, Any] | None = _DEFAULT.scene,
        buffer_frames: int = BaseCamera.buffer_frames,
        **settings: Any,
    ):
        self._scene_fields = SceneArguments(
            shape=shape,
            n_particles=n_particles,
            diameter_nm=diameter_nm,
            pixel_size_um=pixel_size_um,
            temperature_c=temperature_c,
            seed=seed,
            scene=scene,
        ).scene_fields()
        self.buffer_frames = require_int("buffer_frames", buffer_frames, minimum=1)
        self._scene: BrownianScene | None = None
        self._truth: dict[str, np.ndarray] | None = None
        super().__init__(self._scene_fields["shape"], pixel_size_um, **settings)

    @classmethod
    def check_options(cls, settings: dict[str, Any]) -> None:
        """Refuse what :meth:`__init__` and the scene would refuse, without building the scene
        (seconds for a large sensor): ``n_particles=abc`` stopped a run only after its workers
        had started.

        Only this class's own arguments (:data:`SCENE_ARGUMENTS`, ``buffer_frames``) are
        checked: a subclass may take others and pass these on."""
        from napari_pynta import simulate

        own = {name: settings[name] for name in SCENE_ARGUMENTS if name in settings}
        scene_fields = SceneArguments(**own).scene_fields()
        if "buffer_frames" in settings:
            require_int("buffer_frames", settings["buffer_frames"], minimum=1)
        simulate.SimulationSettings(**scene_fields)  # the values of the scene's own settings

    @classmethod
    def known_sensor_shape(cls, settings: dict[str, Any]) -> tuple[int, int]:
        """The simulated sensor: ``shape`` (default 256 x 256)."""
        return _sensor_shape(settings.get("shape", _DEFAULT.shape))

    @property
    def last_truth(self) -> pd.DataFrame | None:
        """Ground truth of the last frame read (see :meth:`BrownianScene.next_frame`)."""
        from napari_pynta.simulate import TRUTH_COLUMNS

        if self._truth is None:
            return None
        return pd.DataFrame(self._truth, columns=list(TRUTH_COLUMNS))

    @property
    def diameter_nm(self) -> float:
        """Diameter of the simulated particles (nm)."""
        return float(self._scene_fields["populations"][0].diameter_nm)

    @property
    def temperature_c(self) -> float:
        """Temperature of the simulated sample (°C)."""
        return float(self._scene_fields["temperature_c"])

    @property
    def scene(self) -> BrownianScene:
        """The simulated scene, made when the camera is configured (:meth:`open`)."""
        if self._scene is None:
            raise RuntimeError("the simulated camera has no scene before it is opened")
        return self._scene

    def metadata_for_store(self) -> dict[str, Any]:
        """Camera metadata plus the simulated sample (temperature, viscosity, scene settings)."""
        metadata = super().metadata_for_store()
        scene = self.scene.metadata
        for key in ("temperature_c", "viscosity_pa_s", "solvent"):
            metadata[key] = scene[key]
        metadata["camera_settings"]["simulation"] = scene["camera_settings"]
        return metadata

    def _apply_settings(self, settings: CameraSettings) -> None:
        from napari_pynta import simulate

        old = self._settings
        if self._scene is None or (old.fps, old.exposure_s) != (settings.fps, settings.exposure_s):
            sim = simulate.SimulationSettings(
                frame_interval_s=settings.frame_interval_s,
                exposure_s=settings.exposure_s,
                **self._scene_fields,
            )
            self._scene = simulate.BrownianScene(sim)

    def _skip(self, n_frames: int) -> None:
        self.scene.skip_frames(n_frames)

    def _camera_time_s(self) -> float | None:
        """When this frame was exposed on the camera's clock (s since start).

        The scene moved exactly one frame interval since the previous frame, however late the
        reader took it; the host arrival time would squeeze frames read from the buffer together
        and make the analysis take a shorter interval than the particles moved in.
        """
        return self._last_due - self._start_time

    def _grab(self) -> np.ndarray:
        frame, self._truth = self.scene.next_frame_arrays()
        if self._settings.gain != 1.0:
            frame = np.clip(frame * self._settings.gain, 0, np.iinfo(frame.dtype).max).astype(
                frame.dtype
            )
        return frame
