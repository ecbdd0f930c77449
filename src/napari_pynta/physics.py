"""Physical constants and formulas: water density and viscosity, Stokes–Einstein.

References
----------
- Huber, M. L. et al. (2009). New International Formulation for the Viscosity of H2O.
  J. Phys. Chem. Ref. Data 38, 101. (IAPWS R12-08, "IAPWS 2008".)
- Kell, G. S. (1975). Density, thermal expansivity, and compressibility of liquid water from
  0 to 150 °C. J. Chem. Eng. Data 20, 97.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from napari_pynta.errors import PyntaInputError, require_positive

BOLTZMANN_J_PER_K = 1.380649e-23
ZERO_CELSIUS_K = 273.15

#: temperature range (°C) in which the water formulas below are used
WATER_RANGE_C = (0.0, 100.0)

#: solvents whose viscosity is known as a function of temperature
KNOWN_SOLVENTS = ("water",)

# IAPWS 2008 reference constants.
_T_STAR_K = 647.096
_RHO_STAR_KG_M3 = 322.0
_MU_STAR_PA_S = 1.0e-6

# IAPWS 2008, Eq. (11): coefficients H_i of the dilute-gas term mu0.
_H0 = np.array([1.67752, 2.20462, 0.6366564, -0.241605])

# IAPWS 2008, Table 2: coefficients H_ij of the residual term mu1 (i = row 0..5, j = column 0..6).
_H1 = np.array(
    [
        [5.20094e-1, 2.22531e-1, -2.81378e-1, 1.61913e-1, -3.25372e-2, 0.0, 0.0],
        [8.50895e-2, 9.99115e-1, -9.06851e-1, 2.57399e-1, 0.0, 0.0, 0.0],
        [-1.08374, 1.88797, -7.72479e-1, 0.0, 0.0, 0.0, 0.0],
        [-2.89555e-1, 1.26613, -4.89837e-1, 0.0, 6.98452e-2, 0.0, -4.35673e-3],
        [0.0, 0.0, -2.57040e-1, 0.0, 0.0, 8.72102e-3, 0.0],
        [0.0, 1.20573e-1, 0.0, 0.0, 0.0, 0.0, -5.93264e-4],
    ]
)

# Kell (1975), Eq. (16): density of air-free water at 1 atm, t in °C (IPTS-68), kg/m³.
_KELL_NUMERATOR = (999.83952, 16.945176, -7.9870401e-3, -46.170461e-6, 105.56302e-9, -280.54253e-12)
_KELL_DENOMINATOR = 16.879850e-3


def _check_water_temperature(temperature_c: float) -> float:
    try:
        temperature_c = float(temperature_c)
    except (TypeError, ValueError):
        raise PyntaInputError(
            f"temperature_c must be a number, got {temperature_c!r}", "temperature_c"
        ) from None
    low, high = WATER_RANGE_C
    if not low <= temperature_c <= high:
        raise PyntaInputError(
            f"temperature_c must be within {low:g}..{high:g} °C for water, got {temperature_c!r}",
            "temperature_c",
        )
    return temperature_c


def water_density_kg_m3(temperature_c: float) -> float:
    """Density of liquid water at atmospheric pressure (Kell 1975).

    Kell's rational polynomial reproduces the IAPWS-95 density at 0.1 MPa to better than
    0.01 % between 0 and 100 °C, far below what the viscosity formula needs.

    Parameters
    ----------
    temperature_c : float
        Temperature in °C, 0..100.

    Returns
    -------
    float
        Density in kg/m³.
    """
    t = _check_water_temperature(temperature_c)
    numerator = sum(c * t**k for k, c in enumerate(_KELL_NUMERATOR))
    return numerator / (1.0 + _KELL_DENOMINATOR * t)


def iapws2008_viscosity_pa_s(temperature_k: float, density_kg_m3: float) -> float:
    """Viscosity of H2O from the IAPWS 2008 formulation, without critical enhancement.

    ``mu = mu* · mu0(T̄) · mu1(T̄, ρ̄)`` (Huber et al. 2009, Eqs. 10–12); the critical
    enhancement mu2 is 1 away from the critical point, which covers liquid water at 0.1 MPa.

    Parameters
    ----------
    temperature_k : float
        Temperature in K.
    density_kg_m3 : float
        Density in kg/m³.

    Returns
    -------
    float
        Dynamic viscosity in Pa·s.
    """
    t_bar = require_positive("temperature_k", temperature_k) / _T_STAR_K
    rho_bar = require_positive("density_kg_m3", density_kg_m3) / _RHO_STAR_KG_M3
    mu0 = 100.0 * math.sqrt(t_bar) / sum(h / t_bar**i for i, h in enumerate(_H0))
    powers_t = (1.0 / t_bar - 1.0) ** np.arange(_H1.shape[0])
    powers_rho = (rho_bar - 1.0) ** np.arange(_H1.shape[1])
    mu1 = math.exp(rho_bar * float(powers_t @ _H1 @ powers_rho))
    return _MU_STAR_PA_S * mu0 * mu1


def water_viscosity_pa_s(temperature_c: float) -> float:
    """Viscosity of liquid water at 0.1 MPa (IAPWS 2008 with the Kell 1975 density).

    Reproduces the IAPWS values 1.0016 mPa·s at 20 °C, 0.8900 mPa·s at 25 °C and
    0.6913 mPa·s at 37 °C.

    Parameters
    ----------
    temperature_c : float
        Temperature in °C, 0..100.

    Returns
    -------
    float
        Dynamic viscosity in Pa·s.
    """
    t = _check_water_temperature(temperature_c)
    return iapws2008_viscosity_pa_s(t + ZERO_CELSIUS_K, water_density_kg_m3(t))


def resolve_viscosity_pa_s(
    temperature_c: float, viscosity_pa_s: float | None = None, solvent: str = "water"
) -> float:
    """The viscosity to use for sizing: an explicit value wins, else the solvent's at T.

    Parameters
    ----------
    temperature_c : float
        Temperature in °C (used only when ``viscosity_pa_s`` is None).
    viscosity_pa_s : float, optional
        Viscosity measured or known by the user, in Pa·s.
    solvent : str
        Name of a solvent in :data:`KNOWN_SOLVENTS`, used when no viscosity is given.

    Returns
    -------
    float
        Viscosity in Pa·s.
    """
    if viscosity_pa_s is not None:
        return require_positive("viscosity_pa_s", viscosity_pa_s)
    if solvent not in KNOWN_SOLVENTS:
        raise PyntaInputError(
            f"solvent must be one of {', '.join(KNOWN_SOLVENTS)} (or give viscosity_pa_s), "
            f"got {solvent!r}"
        )
    return water_viscosity_pa_s(temperature_c)


def _kelvin(temperature_c: float) -> float:
    try:
        temperature_k = float(temperature_c) + ZERO_CELSIUS_K
    except (TypeError, ValueError):
        raise PyntaInputError(f"temperature_c must be a number, got {temperature_c!r}") from None
    if not temperature_k > 0 or not math.isfinite(temperature_k):
        raise PyntaInputError(
            f"temperature_c must be finite and above -273.15 °C, got {temperature_c!r}"
        )
    return temperature_k


def _stokes_einstein_constant(temperature_c: float, viscosity_pa_s: float) -> float:
    """k_B·T / (3·π·η) expressed in nm·µm²/s, so that D_um2_s · diameter_nm equals it."""
    temperature_k = _kelvin(temperature_c)
    viscosity = require_positive("viscosity_pa_s", viscosity_pa_s)
    # m³/s -> (1e9 nm/m) · (1e12 µm²/m²)
    return BOLTZMANN_J_PER_K * temperature_k / (3.0 * math.pi * viscosity) * 1e21


def diffusion_um2_s(
    diameter_nm: ArrayLike, temperature_c: float, viscosity_pa_s: float
) -> float | np.ndarray:
    """Translational diffusion coefficient of a sphere (Stokes–Einstein).

    ``D = k_B·T / (3·π·η·d)``.

    Parameters
    ----------
    diameter_nm : float or array_like
        Hydrodynamic diameter(s) in nm, > 0.
    temperature_c : float
        Temperature in °C.
    viscosity_pa_s : float
        Dynamic viscosity of the medium in Pa·s.

    Returns
    -------
    float or ndarray
        Diffusion coefficient(s) in µm²/s, same shape as ``diameter_nm``.
    """
    constant = _stokes_einstein_constant(temperature_c, viscosity_pa_s)
    diameter = np.asarray(diameter_nm, dtype=float)
    if not np.all(diameter > 0):
        raise PyntaInputError("diameter_nm must be > 0 (finite) for every particle")
    result = constant / diameter
    return float(result) if result.ndim == 0 else result


def diameter_nm(
    D_um2_s: ArrayLike, temperature_c: float, viscosity_pa_s: float
) -> float | np.ndarray:
    """Hydrodynamic diameter from a diffusion coefficient (Stokes–Einstein).

    ``d = k_B·T / (3·π·η·D)``.

    Parameters
    ----------
    D_um2_s : float or array_like
        Diffusion coefficient(s) in µm²/s. Values ≤ 0 or NaN give NaN.
    temperature_c : float
        Temperature in °C.
    viscosity_pa_s : float
        Dynamic viscosity of the medium in Pa·s.

    Returns
    -------
    float or ndarray
        Diameter(s) in nm, same shape as ``D_um2_s``.
    """
    constant = _stokes_einstein_constant(temperature_c, viscosity_pa_s)
    diffusion = np.asarray(D_um2_s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.where(diffusion > 0, constant / diffusion, np.nan)
    return float(result) if result.ndim == 0 else result
