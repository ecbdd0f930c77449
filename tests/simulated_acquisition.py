"""The acquisition settings of :mod:`napari_pynta.simulate_tracks`' tracks, and sizing them the
way the analysis does (shared by the peak tests)."""

from __future__ import annotations

from napari_pynta import deconvolve, sizing
from napari_pynta.physics import water_viscosity_pa_s
from napari_pynta.simulate_tracks import METADATA

#: the keyword arguments of the sizing functions for simulate_tracks' tracks
ACQUISITION = {
    "pixel_size_um": METADATA["pixel_size_um"],
    "frame_interval_s": METADATA["frame_interval_s"],
    "exposure_s": METADATA["exposure_s"],
    "temperature_c": METADATA["temperature_c"],
    "viscosity_pa_s": water_viscosity_pa_s(METADATA["temperature_c"]),
}


def per_track(tracks):
    """Each track's diffusion estimate under :data:`ACQUISITION`."""
    return sizing.track_diffusion(tracks, *ACQUISITION.values())


def distribution_of(start):
    """The deconvolved weights of a (relinked) track table, warm-started from ``start``, as
    ``peak_systematic.variant_positions`` asks for them."""

    def solve(tracks):
        solution = deconvolve.deconvolve_tracks(
            tracks, per_track(tracks), **ACQUISITION, n_bootstrap=0, warm_start=start
        )
        return None if solution is None else solution.deconvolved.weights

    return solve
