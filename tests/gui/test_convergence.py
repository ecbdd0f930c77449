"""The Sizes widget's live convergence plot: the relative SE of the deconvolved D50 against time."""

from __future__ import annotations

import numpy as np
import pytest

from napari_pynta.live.sizes import LiveSizer
from napari_pynta.simulate_tracks import LIVE_SETTINGS, METADATA, simulate_tracks
from napari_pynta.widgets.session import LIVE_SOURCE, SizeData
from napari_pynta.widgets.settings import SizingConditions

SETTINGS = LIVE_SETTINGS


def live_summaries(n_summaries: int = 4) -> list[tuple[dict, list[float]]]:
    """The summaries a live sizer publishes while 800 simulated particles pass."""
    tracks = simulate_tracks(800, np.random.default_rng(2))
    n_frames = int(tracks["frame"].max()) + 1
    sizer = LiveSizer(SETTINGS)
    done, published = 0, []
    for end in np.linspace(0, n_frames, n_summaries + 1)[1:].astype(int):
        sizer.add(tracks[(tracks["frame"] >= done) & (tracks["frame"] < end)])
        done = end
        published.append(sizer.summary(end))
    return published


def test_the_convergence_plot_shows_the_live_history_and_the_target(pynta):
    _, widgets = pynta
    sizes = widgets["Sizes"]
    measured = SizingConditions(
        temperature_c=METADATA["temperature_c"],
        pixel_size_um=METADATA["pixel_size_um"],
        frame_interval_s=METADATA["frame_interval_s"],
        exposure_s=METADATA["exposure_s"],
    )
    sizes.session.set_conditions(measured)
    for summary, diameters in live_summaries():
        data = SizeData(np.array(diameters), summary, measured, LIVE_SOURCE)
        sizes.session.sizes_changed.emit(data)
    axes = sizes.canvas.convergence_axes
    assert axes is not None
    (line,) = [line for line in axes.get_lines() if line.get_label() == "relative SE of D50"]
    history = summary["convergence"]
    assert len(history) == 4
    expected = [(p["t_s"], 100 * p["d50_relative_se"]) for p in history if p["d50_relative_se"]]
    np.testing.assert_allclose(line.get_xdata(), [t for t, _ in expected])
    np.testing.assert_allclose(line.get_ydata(), [se for _, se in expected])
    # the error shrinks as the tracks come in (4x the tracks: about half the error)
    assert line.get_ydata()[-1] < line.get_ydata()[0]
    newest = summary["deconvolved_nm"]
    assert f"D50 {newest['d50']:.0f} nm" in axes.get_title()
    assert f"{summary['n_tracks']} tracks" in axes.get_title()
    # a target draws its line; none, no line
    assert not [line for line in axes.get_lines() if line.get_label().startswith("target")]
    sizes.precision_target.setValue(2.0)
    axes = sizes.canvas.convergence_axes
    (target,) = [line for line in axes.get_lines() if line.get_label() == "target 2 %"]
    assert target.get_ydata()[0] == pytest.approx(2.0)
    assert sizes.target() == pytest.approx(0.02)
    # under other conditions D50 is re-expressed, its relative error is not
    sizes.temperature.setValue(37.0)
    factor = sizes.current_factor()
    assert factor != pytest.approx(1.0)
    shown = sizes.current_convergence()[-1]
    assert shown["d50_nm"] == pytest.approx(history[-1]["d50_nm"] * factor)
    assert shown["d50_relative_se"] == history[-1]["d50_relative_se"]
