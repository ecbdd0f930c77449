"""The feature mask holds the spot: saturated spots and PSFs wider than the 7 px mask
(napari_pynta.detect.spot)."""

from __future__ import annotations

import dataclasses
import math

import dask.array as da
import numpy as np
import pytest
from live_calibration import calibrate_simulated

from napari_pynta import analysis, detect, simulate
from napari_pynta.analysis import AnalysisParams
from napari_pynta.detect import spot
from napari_pynta.readers import Movie

DT = 1 / 30  # 30 fps, exposure = frame interval


def _movie(settings: simulate.SimulationSettings, n_frames: int, clip: int | None = None):
    sim = simulate.simulate_movie(n_frames, settings)
    frames = sim.frames if clip is None else np.minimum(sim.frames, clip).astype(np.uint8)
    movie = Movie(
        frames=da.from_array(frames, chunks=(32, *frames.shape[1:])),
        metadata=sim.metadata,
        source="simulated",
    )
    return movie, sim


@pytest.mark.parametrize("sigma", [1.3, 2.0, 2.7, 3.5])
def test_the_spot_sigma_is_measured_on_bright_isolated_spots(sigma):
    """Slow (1 µm) particles: the measured sigma is the PSF's (pixel integration adds 1/12 px²)."""
    settings = simulate.SimulationSettings(
        shape=(128, 128),
        n_particles=8,
        populations=(simulate.Population(1000.0),),
        pixel_size_um=0.1,
        frame_interval_s=DT,
        psf_sigma_px=sigma,
        brightness_at_100nm=30.0 * sigma**2,  # peak ~ 5 x 10^3 photons at 1 µm
        seed=2,
    )
    frames = simulate.simulate_movie(20, settings).frames
    width = spot.spot_width(frames)
    assert width.n_spots >= spot.SPOT_MIN_FEATURES
    assert width.sigma_px == pytest.approx(math.hypot(sigma, 1 / math.sqrt(12)), rel=0.08)
    assert width.saturated_radius_px == 0 and not width.saturated


def test_the_diameter_rule_keeps_7_px_up_to_the_held_sigma_and_holds_two_sigmas_above():
    assert spot.spot_diameter_px(math.nan) == detect.SHARP_DIAMETER_PX
    assert spot.spot_diameter_px(spot.HELD_SIGMA_PX) == detect.SHARP_DIAMETER_PX
    widths = [spot.spot_diameter_px(s) for s in np.linspace(2.41, 4.0, 30)]
    assert all(
        w % 2 == 1 and (w // 2) >= 2 * s - 0.5
        for w, s in zip(widths, np.linspace(2.41, 4.0, 30), strict=True)
    )
    assert widths == sorted(widths)
    saturated = spot.SpotWidth(1.3, 50, saturated_radius_px=3.9, saturated_share=0.5)
    # the plateau (radius 3.9) and 1.5 px of shoulder: radius 6
    assert saturated.diameter_px() == 13 and "flat tops of radius 3.9 px" in saturated.reason()
    rare = dataclasses.replace(saturated, saturated_share=0.01)  # too few to matter
    assert rare.diameter_px() == detect.SHARP_DIAMETER_PX and rare.reason() == ""


def test_an_ordinary_movie_keeps_the_7_px_mask():
    """Our simulator's default spot (sigma 1.2 px), 100 nm at 30 fps: the validated setting."""
    settings = simulate.SimulationSettings(
        shape=(192, 192),
        n_particles=30,
        populations=(simulate.Population(100.0),),
        pixel_size_um=0.166,
        frame_interval_s=DT,
        brightness_at_100nm=4000.0,
        seed=5,
    )
    movie, _ = _movie(settings, 60)
    params = AnalysisParams.from_metadata(movie.metadata)
    threshold = analysis.detection_threshold(movie.frames, params)
    assert threshold.diameter.diameter_px == detect.SHARP_DIAMETER_PX
    assert threshold.diameter.widened_for == "" and threshold.diameter.note() is None
    assert 1.1 < threshold.diameter.spot_sigma_px < spot.HELD_SIGMA_PX
    chosen = analysis.with_detection(params, threshold)
    # the very parameters of before: the same detection, the same result
    assert (chosen.diameter_px, chosen.separation) == (params.diameter_px, params.separation)


def test_a_bright_field_movie_with_a_clipped_background_keeps_the_7_px_mask():
    """Dark particles on a bright field (``invert``) whose background clips at 255: the clipped
    background is not a saturated spot, and the dark spots' width is measured on the inverted
    frames (it was a 15 px mask for "flat tops of radius 70 px" and a saturation warning)."""
    settings = simulate.SimulationSettings(
        shape=(128, 128),
        n_particles=15,
        populations=(simulate.Population(200.0),),
        pixel_size_um=0.166,
        frame_interval_s=DT,
        brightness_at_100nm=4000.0,
        seed=1,
    )
    sim = simulate.simulate_movie(60, settings)
    scale = 200.0 / (sim.frames.max() - 100.0)  # the darkest particle stays above 0
    bright_field = np.clip(257 - (sim.frames - 100.0) * scale, 0, 255).astype(np.uint8)
    assert (bright_field == 255).mean() > 0.3  # most of the field is clipped
    params = dataclasses.replace(AnalysisParams.from_metadata(sim.metadata), invert=True)
    threshold = analysis.detection_threshold(bright_field, params)
    assert threshold.diameter.diameter_px == detect.SHARP_DIAMETER_PX
    assert threshold.diameter.widened_for == ""
    assert 1.1 < threshold.diameter.spot_sigma_px < spot.HELD_SIGMA_PX  # the dark spots' sigma
    assert threshold.saturation_warning() is None
    # the clipped bright background is what the noise model cannot trust, and it is said so
    assert "top value: the background is clipped" in (threshold.warning() or "")


def test_a_wide_psf_movie_is_sized_with_the_default_settings():
    """Twice the magnification: 0.083 µm pixels, PSF sigma 2.6 px, 100 nm at 30 fps. The 7 px
    mask cut the spots (duplicate features, centroids pulled to the mask's centre): +15 % here
    and +14-18 % on the camera-artefact simulator; the widened mask (13 px) holds them."""
    settings = simulate.SimulationSettings(
        shape=(256, 256),
        n_particles=4,  # ~5 per frame: linking is not what is tested
        populations=(simulate.Population(100.0),),
        pixel_size_um=0.083,
        frame_interval_s=DT,
        psf_sigma_px=2.6,
        brightness_at_100nm=2500.0,
        background=25.0,
        read_noise=2.0,
        blur_substeps=32,  # a smooth streak (the default 8 spots pass as one with 7 px)
        seed=7,
    )
    movie, _ = _movie(settings, 500)
    result = analysis.analyze(movie, AnalysisParams.from_metadata(movie.metadata))
    assert result.summary["diameter_nm"] == pytest.approx(100.0, rel=0.05)
    assert result.params.diameter_px > detect.SHARP_DIAMETER_PX
    assert any("feature diameter was widened" in warning for warning in result.warnings)
    # an explicit diameter is kept as given
    kept = AnalysisParams.from_metadata(movie.metadata, diameter_px=7, widen_to_spot=False)
    threshold = analysis.detection_threshold(movie.frames, kept)
    assert threshold.diameter.diameter_px == 7 and threshold.diameter.widened_for == ""


def test_a_clipped_8_bit_d6_mixture_gives_its_peaks_and_share():
    """400 + 800 nm, 1:1 in the sample, brightness ∝ d⁶, on an 8-bit camera whose top the
    800 nm spots pass by far: the 7 px mask sat inside their flat tops (here peaks 389 / 4884 nm
    and a small share of 0.80 against 0.44; 0.80 against 0.34 on the camera-artefact
    simulator)."""
    settings = simulate.SimulationSettings(
        shape=(256, 256),
        n_particles=30,
        # a 10 % size spread: the brightness spreads by x/÷ 1.8, as real particles' do
        populations=(
            simulate.Population(400.0, sigma_log=0.1),
            simulate.Population(800.0, sigma_log=0.1),
        ),
        pixel_size_um=0.166,
        frame_interval_s=DT,
        psf_sigma_px=1.3,
        # 400 nm: peak ~ 100 ADU; 800 nm: 64 x that, clipped
        brightness_at_100nm=100.0 * 2 * math.pi * 1.3**2 / 4**6,
        brightness_exponent=6.0,
        background=10.0,
        read_noise=2.0,
        seed=3,
    )
    movie, sim = _movie(settings, 500, clip=255)
    assert (np.asarray(movie.frames[:10]) == 255).sum() > 100  # the camera saturates
    result = analysis.analyze(movie, AnalysisParams.from_metadata(movie.metadata))
    deconvolved = result.summary["deconvolved_nm"]
    peaks, fractions = deconvolved["peaks"], deconvolved["peak_number_fractions"]
    assert len(peaks) == 2
    assert sorted(peaks) == pytest.approx([400.0, 800.0], rel=0.10)
    margin = result.params.diameter_px // 2
    in_view = sim.diameters_nm.loc[sim.truth["particle"][sim.in_field(margin)]].to_numpy()
    truth_share = float(np.mean(in_view < 566.0))
    share = sum(f for p, f in zip(peaks, fractions, strict=True) if p < 566.0)
    assert share == pytest.approx(truth_share, abs=0.05)


def test_the_live_calibration_warns_when_the_camera_saturates():
    """The analysis warned of saturated particles; the live calibration, on the same threshold
    module, said nothing."""
    calibration = {"engine": "fast", "detection": {}, "search_range_px": 5.0, "memory": 3}
    bright = {"brightness_at_100nm": 3e6}  # peaks far above 65535
    _, warned = calibrate_simulated(
        calibration, seed=2, shape=(128, 128), n_particles=10, fps=30.0, scene=bright
    )
    assert any("the camera saturates" in text and "65535" in text for text in warned), warned
