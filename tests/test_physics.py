"""Water viscosity and Stokes–Einstein against published reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_pynta import physics
from napari_pynta.errors import PyntaInputError


@pytest.mark.parametrize(
    ("temperature_c", "reference_mpa_s"),
    [(20.0, 1.0016), (22.0, 0.9544), (25.0, 0.8900), (37.0, 0.6913)],
)
def test_water_viscosity_matches_iapws_reference_values(temperature_c, reference_mpa_s):
    viscosity_mpa_s = physics.water_viscosity_pa_s(temperature_c) * 1e3
    assert viscosity_mpa_s == pytest.approx(reference_mpa_s, rel=1e-3)


@pytest.mark.parametrize(
    ("temperature_k", "density_kg_m3", "reference_upa_s"),
    # IAPWS R12-08, Table 4 (verification values of the formulation without mu2)
    [
        (298.15, 998.0, 889.735100),
        (298.15, 1200.0, 1437.649467),
        (373.15, 1000.0, 307.883622),
        (433.15, 1.0, 14.538324),
        (873.15, 600.0, 77.430195),
    ],
)
def test_iapws2008_reproduces_the_standard_check_values(
    temperature_k, density_kg_m3, reference_upa_s
):
    value = physics.iapws2008_viscosity_pa_s(temperature_k, density_kg_m3) * 1e6
    assert value == pytest.approx(reference_upa_s, rel=1e-7)


@pytest.mark.parametrize(
    ("temperature_c", "reference_kg_m3"),
    # IAPWS-95 at 0.101325 MPa (NIST webbook); 3.98 °C is the density maximum
    [(3.98, 999.9750), (20.0, 998.2067), (25.0, 997.0480), (37.0, 993.3316), (80.0, 971.80)],
)
def test_water_density_matches_reference_values(temperature_c, reference_kg_m3):
    assert physics.water_density_kg_m3(temperature_c) == pytest.approx(reference_kg_m3, rel=1e-4)


def test_water_density_is_maximal_near_4_celsius():
    temperatures = np.linspace(0.0, 10.0, 1001)
    densities = [physics.water_density_kg_m3(t) for t in temperatures]
    assert temperatures[int(np.argmax(densities))] == pytest.approx(3.98, abs=0.05)


@pytest.mark.parametrize("temperature_c", [-0.5, 100.5, float("nan")])
def test_water_outside_its_range_names_the_temperature(temperature_c):
    with pytest.raises(PyntaInputError, match="temperature_c"):
        physics.water_viscosity_pa_s(temperature_c)
    with pytest.raises(PyntaInputError, match="temperature_c"):
        physics.water_density_kg_m3(temperature_c)


def test_stokes_einstein_for_100nm_in_water_at_25c():
    # D = kB T / (3 pi eta d), computed by hand in SI units
    expected_m2_s = 1.380649e-23 * 298.15 / (3 * math.pi * 0.8900e-3 * 100e-9)
    assert physics.diffusion_um2_s(100.0, 25.0, 0.8900e-3) == pytest.approx(expected_m2_s * 1e12)
    assert expected_m2_s * 1e12 == pytest.approx(4.907, rel=1e-3)


def test_stokes_einstein_round_trip_is_vectorised():
    diameters = np.array([20.0, 100.0, 333.3, 1500.0])
    viscosity = physics.water_viscosity_pa_s(22.0)
    diffusion = physics.diffusion_um2_s(diameters, 22.0, viscosity)
    assert isinstance(diffusion, np.ndarray) and diffusion.shape == (4,)
    assert np.all(np.diff(diffusion) < 0)
    np.testing.assert_allclose(
        physics.diameter_nm(diffusion, 22.0, viscosity), diameters, rtol=1e-12
    )
    assert isinstance(physics.diameter_nm(float(diffusion[1]), 22.0, viscosity), float)


def test_diameter_is_nan_for_non_positive_diffusion():
    result = physics.diameter_nm(np.array([-1.0, 0.0, np.nan, 4.0]), 22.0, 1e-3)
    assert np.isnan(result[:3]).all()
    assert np.isfinite(result[3])


def test_temperature_sensitivity_of_sizes_follows_the_reference_viscosities():
    # d ∝ T/η for a measured D: from 20 to 25 °C with the published viscosities
    expected_ratio = (298.15 / 293.15) * (1.0016 / 0.8900)
    d20 = physics.diameter_nm(4.0, 20.0, physics.water_viscosity_pa_s(20.0))
    d25 = physics.diameter_nm(4.0, 25.0, physics.water_viscosity_pa_s(25.0))
    assert d25 / d20 == pytest.approx(expected_ratio, rel=1e-3)
    # a 1 K error at room temperature moves sizes by a few per cent (2.3 % from η alone,
    # 2.7 % including the T in the numerator)
    d22 = physics.diameter_nm(4.0, 22.0, physics.water_viscosity_pa_s(22.0))
    d23 = physics.diameter_nm(4.0, 23.0, physics.water_viscosity_pa_s(23.0))
    assert 0.023 < d23 / d22 - 1.0 < 0.029
    viscosity_only = physics.water_viscosity_pa_s(22.0) / physics.water_viscosity_pa_s(23.0) - 1
    assert viscosity_only == pytest.approx(0.0235, abs=0.001)


def test_resolve_viscosity_prefers_the_explicit_value():
    assert physics.resolve_viscosity_pa_s(22.0, 2.5e-3) == 2.5e-3
    # an explicit viscosity does not need a water temperature
    assert physics.resolve_viscosity_pa_s(150.0, 2.5e-3, solvent="glycerol") == 2.5e-3
    assert physics.resolve_viscosity_pa_s(25.0) == pytest.approx(0.8900e-3, rel=1e-3)


def test_resolve_viscosity_rejects_unknown_solvent_and_bad_values():
    with pytest.raises(PyntaInputError, match="solvent.*water"):
        physics.resolve_viscosity_pa_s(22.0, solvent="ethanol")
    with pytest.raises(PyntaInputError, match="viscosity_pa_s"):
        physics.resolve_viscosity_pa_s(22.0, viscosity_pa_s=-1.0)
    with pytest.raises(PyntaInputError, match="temperature_c"):
        physics.resolve_viscosity_pa_s(120.0)


def test_stokes_einstein_rejects_bad_inputs():
    with pytest.raises(PyntaInputError, match="diameter_nm"):
        physics.diffusion_um2_s([100.0, 0.0], 22.0, 1e-3)
    with pytest.raises(PyntaInputError, match="viscosity_pa_s"):
        physics.diffusion_um2_s(100.0, 22.0, 0.0)
    with pytest.raises(PyntaInputError, match="temperature_c"):
        physics.diameter_nm(4.0, -300.0, 1e-3)
    with pytest.raises(PyntaInputError, match="temperature_c"):
        physics.diameter_nm(4.0, "warm", 1e-3)
