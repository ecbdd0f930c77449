"""Plain (no viewer) pieces of the widgets: settings from metadata, the live track window."""

from __future__ import annotations

import pandas as pd
import pytest

from napari_pynta.errors import PyntaInputError
from napari_pynta.physics import water_viscosity_pa_s
from napari_pynta.widgets.session import TrackWindow
from napari_pynta.widgets.settings import SizingConditions, TrackingSettings


def test_movie_metadata_fills_conditions_and_water_stays_water():
    metadata = {
        "temperature_c": 25.0,
        "viscosity_pa_s": water_viscosity_pa_s(25.0),
        "solvent": "water",
        "pixel_size_um": 0.2,
        "frame_interval_s": 0.02,
        "exposure_s": None,
    }
    conditions = SizingConditions(exposure_s=0.005).with_movie_metadata(metadata)
    assert conditions == SizingConditions(
        temperature_c=25.0,
        viscosity_pa_s=None,
        pixel_size_um=0.2,
        frame_interval_s=0.02,
        exposure_s=0.005,
    )
    glycerol = SizingConditions().with_movie_metadata({**metadata, "viscosity_pa_s": 0.0015})
    assert glycerol.viscosity_pa_s == 0.0015 and glycerol.resolved_viscosity_pa_s() == 0.0015


def test_zero_means_automatic_and_bad_values_name_the_field():
    detection = TrackingSettings(minmass=0, separation=0).validate().detection()
    assert detection["minmass"] is None and detection["separation"] is None
    with pytest.raises(PyntaInputError, match="memory"):
        TrackingSettings(memory=-1).validate()
    with pytest.raises(PyntaInputError, match="locator"):
        TrackingSettings(n_locators=0).validate()
    with pytest.raises(PyntaInputError, match="pixel size"):
        SizingConditions(pixel_size_um=0).validate()
    # the limits `pynta analyze` and `pynta simulate` hold them to (b23)
    with pytest.raises(PyntaInputError, match=r"viscosity must be in \[0.0001, 10\] \(Pa·s\)"):
        SizingConditions(viscosity_pa_s=1e6).validate()
    with pytest.raises(PyntaInputError, match=r"temperature must be in \[-20, 150\] \(°C\)"):
        SizingConditions(temperature_c=-200, viscosity_pa_s=0.002).validate()


def test_track_window_keeps_only_the_newest_frames():
    window = TrackWindow(n_frames=3)
    for frame in range(6):
        window.add(
            pd.DataFrame(
                {
                    "particle": [1, 2],
                    "frame": [frame, frame],
                    "y": [1.0, 2.0],
                    "x": [3.0, 4.0],
                    "mass": [9.0, 9.0],
                }
            )
        )
    table = window.current()
    assert sorted(set(table["frame"])) == [3, 4, 5]
    assert list(table.columns) == ["particle", "frame", "y", "x"]
    window.clear()
    assert len(window.current()) == 0
