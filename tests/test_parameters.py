"""One definition per setting: every front end takes defaults and limits from it, errors name it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from napari_pynta.analysis import REQUIRED_FIELDS, AnalysisParams
from napari_pynta.cli import build_parser
from napari_pynta.cli.acquire import build_config
from napari_pynta.errors import (
    PyntaInputError,
    listed,
    named_message,
    require_int,
    require_number,
)
from napari_pynta.link import filter_tracks
from napari_pynta.live.config import LiveConfig
from napari_pynta.parameters import SETTINGS
from napari_pynta.widgets.settings import TrackingSettings

#: valid sizing metadata, so that AnalysisParams.validate reaches the setting under test
METADATA = {"pixel_size_um": 0.1, "frame_interval_s": 0.01, "exposure_s": 0.01, "temperature_c": 22}
#: fields whose "automatic" is 0 in the GUI form (a spin box holds no None)
FORM_AUTOMATIC = {"minmass", "separation", "search_range_px"}


def _fields(cls: type) -> dict[str, object]:
    return {field.name: field.default for field in dataclasses.fields(cls)}


@pytest.mark.parametrize("cls", [AnalysisParams, LiveConfig, TrackingSettings])
def test_every_front_end_takes_the_defaults_of_the_definition(cls):
    shared = {name: default for name, default in _fields(cls).items() if name in SETTINGS}
    assert len(shared) >= 4
    for name, default in shared.items():
        if cls is AnalysisParams and name in REQUIRED_FIELDS:
            assert default is None, name  # the movie's metadata, required
        elif cls is LiveConfig and name == "engine":
            assert default is None, name  # live picks the fastest installed engine
        elif cls is TrackingSettings and name in FORM_AUTOMATIC:
            assert default == 0, name
        else:
            assert default == SETTINGS[name].default, name


def test_each_default_passes_its_own_check():
    for setting in SETTINGS.values():
        if setting.default is not None or setting.automatic is not None:
            assert setting.check(setting.default) == setting.default, setting.name
        else:  # required, no default: the movie or the user gives it
            with pytest.raises(PyntaInputError, match=f"{setting.name} is required"):
                setting.check(None)


@pytest.mark.parametrize(
    ("name", "bad", "good"),
    [
        ("min_track_length", 2, 3),
        ("memory", -1, 0),
        ("diameter_px", 8, 9),
        # b18: --separation 1e9 ended in numpy's "Unable to allocate 2.47 TiB"
        ("separation", 1e9, 256.0),
    ],
)
def test_the_front_ends_refuse_and_accept_the_same_values(name, bad, good):
    makers = [
        lambda value: AnalysisParams(**METADATA, **{name: value}).validate(),
        lambda value: TrackingSettings(**{name: value}).validate(),
    ]
    if name not in ("diameter_px", "separation"):  # LiveConfig takes them as locate() keywords
        makers.append(lambda value: LiveConfig(**{name: value}).validate())
    for make in makers:
        with pytest.raises(PyntaInputError) as error:
            make(bad)
        assert error.value.field == name
        make(good)


def test_filter_tracks_uses_the_same_minimum_track_length():
    tracks = pd.DataFrame({"particle": [0, 0, 0, 1, 1], "frame": [0, 1, 2, 0, 1]})
    with pytest.raises(PyntaInputError, match="min_track_length must be an integer >= 3"):
        filter_tracks(tracks, 2)
    assert filter_tracks(tracks, 3)["particle"].tolist() == [0, 0, 0]


def test_core_errors_name_the_field_and_the_cli_names_the_flag():
    with pytest.raises(PyntaInputError) as error:
        AnalysisParams(**METADATA, min_track_length=2).validate()
    assert str(error.value).startswith("min_track_length must be an integer >= 3")
    flags = build_parser().parse_args(["analyze", "movie.zarr"]).field_flags
    assert named_message(error.value, flags).startswith(
        "--min-track-length must be an integer >= 3"
    )
    acquire = build_parser().parse_args(["acquire"]).field_flags
    assert named_message(error.value, acquire).startswith("--min-track-length")


def test_cli_flags_are_built_from_the_definition():
    args = build_parser().parse_args(["acquire"])
    for name in ("memory", "min_track_length", "minmass"):
        assert getattr(args, name) == SETTINGS[name].default
    # the temperature is left unset, so that the camera's own (a simulated sample's, a replayed
    # movie's) is kept; without one the run takes the definition's default
    assert args.temperature_c is None
    assert build_config(args).temperature_c == SETTINGS["temperature_c"].default
    help_text = build_parser()._subparsers._group_actions[0].choices["analyze"].format_help()
    assert SETTINGS["memory"].help in " ".join(help_text.split())


def test_names_are_listed_as_a_sentence_lists_them():
    assert listed(["pixel_size_um"]) == "pixel_size_um"
    assert listed(["56", "99"]) == "56 and 99"
    assert listed(["111", "233", "431"]) == "111, 233 and 431"


@pytest.mark.parametrize("value", [True, 3.0, "3", None])
def test_require_int_refuses_what_is_not_an_integer(value):
    with pytest.raises(PyntaInputError, match="n must be an integer >= 1"):
        require_int("n", value, minimum=1)


def test_require_int_and_number_accept_numpy_scalars_and_check_limits():
    assert require_int("n", np.int64(4), minimum=1, maximum=4) == 4
    assert require_number("x", np.float32(0.5), minimum=0, exclusive_minimum=True) == 0.5
    with pytest.raises(PyntaInputError, match=r"x must be in \[0, 100\), got 100"):
        require_number("x", 100, minimum=0, maximum=100, exclusive_maximum=True)


@pytest.mark.parametrize("typed", [166.0, 1.66e-7])
def test_a_pixel_size_in_the_wrong_unit_is_refused(typed):
    """0.166 µm typed in nm (166) or in m (1.66e-7) sized particles at 1e12 or 1e-6 nm without a
    word; a light microscope's pixel in the sample lies within PIXEL_SIZE_LIMITS_UM."""
    metadata = {**METADATA, "pixel_size_um": typed}
    with pytest.raises(PyntaInputError, match=r"pixel_size_um must be in \[0.005, 20\]") as error:
        AnalysisParams(**metadata).validate()
    assert error.value.field == "pixel_size_um"
    AnalysisParams(**{**METADATA, "pixel_size_um": 0.166}).validate()
