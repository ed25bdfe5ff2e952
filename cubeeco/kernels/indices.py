"""Per-pixel spectral indices (seed 000 Eqs. 2-11, seed 004 Table 1, SCIENCE.md §1).

Every kernel here is elementwise: a numba ``vectorize`` ufunc with explicit float32
and float64 signatures (float32 first, so float32 input stays float32), compiled on
first use (:class:`LazyUfunc`).  The
arithmetic lives in ``@jit`` helpers compiled with ``error_model="numpy"`` and is
carried out in float64 whatever the storage type: reflectances are ~1e-2..1, and
float32 sums/ratios of six bands lose 1-2 digits that float64 keeps for free
(the kernels are memory-bound).  The result is rounded once to the input dtype.

Missing-value policy: NaN in -> NaN out; a denominator that is exactly zero gives
NaN (never inf).  Division by zero is never evaluated: numba may compute both
branches of a conditional, so a zero denominator is swapped for 1 before dividing
(that keeps the floating-point "invalid" flag, and numpy's RuntimeWarning, away).
"""

from __future__ import annotations

import math

import numpy as np
from numba import vectorize

from ._gufunc import LazyKernel, jit

_VEC = {"nopython": True, "cache": False}


class LazyUfunc(LazyKernel):
    """A module-level numba ``vectorize`` ufunc compiled on its first call, not at import.

    Once compiled the ufunc is frozen (``disable_compile``): otherwise a numba DUFunc
    compiles a new loop for unseen argument types (float32 data with float64 0-d arrays,
    which dask makes of python scalars) and silently returns float64.  Frozen, numpy's
    casting rules pick one of the declared loops.
    """

    def __init__(self, func, signatures):
        super().__init__(func)
        self.signatures = list(signatures)

    def _build(self):
        uf = vectorize(self.signatures, **_VEC)(self.py_func)
        uf.disable_compile()
        return uf


def lazy_vectorize(signatures):
    """Decorator: a :class:`LazyUfunc` with the given numba signatures."""
    return lambda func: LazyUfunc(func, signatures)


def _sigs(n_in: int, n_params: int = 0) -> list[str]:
    """float32 and float64 loops over ``n_in`` data arguments; parameters are always float64.

    Parameters (coefficients, constants) stay float64 so that float32 data does not
    round them (-273.15 is not a float32 number), and a float64 0-d array -- what dask
    makes of a python float -- still selects the float32 data loop.
    """
    params = ["float64"] * n_params
    args32 = ",".join(["float32"] * n_in + params)
    args64 = ",".join(["float64"] * n_in + params)
    return [f"float32({args32})", f"float64({args64})"]


# ---------------------------------------------------------------- helpers (float64)
@jit
def _ratio(num, den):
    """num / den, NaN where den == 0 (without evaluating x / 0)."""
    safe = den if den != 0.0 else 1.0
    q = num / safe
    return q if den != 0.0 else np.nan


@jit
def _nd(a, b):
    """Normalized difference (a - b) / (a + b), NaN where a + b == 0."""
    a = np.float64(a)
    b = np.float64(b)
    return _ratio(a - b, a + b)


@jit
def ndvi_value(red, nir):
    """NDVI = (NIR - RED) / (NIR + RED) of one pixel, float64; NaN where NIR + RED == 0.

    The one NDVI formula of the package: the index op, the max-NDVI composite score
    and every other kernel call this (never a hand-written ratio).
    """
    return _nd(nir, red)


@jit
def simple_ratio_value(ndvi):
    """SR = (1 + NDVI) / (1 - NDVI) of one pixel (seed 001 Eq. 6), float64; NaN where NDVI == 1.

    The one SR formula of the package (the SR op, the CASA FPAR_SR term).
    """
    x = np.float64(ndvi)
    return _ratio(1.0 + x, 1.0 - x)


@jit
def _si(blue, red, nir, swir1):
    blue = np.float64(blue)
    red = np.float64(red)
    nir = np.float64(nir)
    swir1 = np.float64(swir1)
    return _nd(swir1 + red, nir + blue)


@jit
def _ibi(green, red, nir, swir1):
    green = np.float64(green)
    red = np.float64(red)
    nir = np.float64(nir)
    swir1 = np.float64(swir1)
    t1 = _ratio(2.0 * swir1, swir1 + nir)
    t2 = _ratio(nir, nir + red)
    t3 = _ratio(green, green + swir1)
    return _ratio(t1 - t2 - t3, t1 + t2 + t3)


# ---------------------------------------------------------------- ufuncs
@lazy_vectorize(_sigs(2))
def normalized_difference(a, b):
    """(a - b) / (a + b); NaN where a + b == 0.  NDVI = nd(nir, red)."""
    return _nd(a, b)


@lazy_vectorize(_sigs(1))
def simple_ratio_from_ndvi(ndvi):
    """SR = (1 + NDVI) / (1 - NDVI) (seed 001 Eq. 6); NaN where NDVI == 1."""
    return simple_ratio_value(ndvi)


@lazy_vectorize(_sigs(2))
def ratio(a, b):
    """a / b; NaN where b == 0.  RVI = ratio(nir, red)."""
    return _ratio(np.float64(a), np.float64(b))


@lazy_vectorize(_sigs(2))
def difference(a, b):
    """a - b.  DVI = difference(nir, red)."""
    return np.float64(a) - np.float64(b)


@lazy_vectorize(_sigs(6, 6))
def tasseled_cap_wetness(blue, green, red, nir, swir1, swir2, c0, c1, c2, c3, c4, c5):
    """Linear wetness Σ c_k·band_k with the sensor's six coefficients (seed 000 Eqs. 3-5)."""
    return (
        np.float64(c0) * np.float64(blue)
        + np.float64(c1) * np.float64(green)
        + np.float64(c2) * np.float64(red)
        + np.float64(c3) * np.float64(nir)
        + np.float64(c4) * np.float64(swir1)
        + np.float64(c5) * np.float64(swir2)
    )


@lazy_vectorize(_sigs(4))
def soil_index(blue, red, nir, swir1):
    """SI = ((SWIR1+RED) - (NIR+BLUE)) / ((SWIR1+RED) + (NIR+BLUE)) (seed 000 Eq. 10)."""
    return _si(blue, red, nir, swir1)


@lazy_vectorize(_sigs(4))
def index_based_built_up(green, red, nir, swir1):
    """IBI (seed 000 Eq. 11); NaN where any inner or the outer denominator is 0."""
    return _ibi(green, red, nir, swir1)


@lazy_vectorize(_sigs(5))
def ndbsi(blue, green, red, nir, swir1):
    """NDBSI = (SI + IBI) / 2 (seed 000 Eq. 9)."""
    return 0.5 * (_si(blue, red, nir, swir1) + _ibi(green, red, nir, swir1))


@lazy_vectorize(_sigs(3))
def enhanced_vegetation_index(blue, red, nir):
    """EVI = 2.5 (NIR - RED) / (NIR + 6 RED - 7.5 BLUE + 1) (seed 004 Table 1)."""
    blue = np.float64(blue)
    red = np.float64(red)
    nir = np.float64(nir)
    return 2.5 * _ratio(nir - red, nir + 6.0 * red - 7.5 * blue + 1.0)


@lazy_vectorize(_sigs(2, 1))
def soil_adjusted_vegetation_index(red, nir, soil_l):
    """SAVI = (1 + L)(NIR - RED) / (NIR + RED + L) (seed 004 Table 1, L = 0.5)."""
    red = np.float64(red)
    nir = np.float64(nir)
    soil_l = np.float64(soil_l)
    return (1.0 + soil_l) * _ratio(nir - red, nir + red + soil_l)


@lazy_vectorize(_sigs(1))
def kelvin_to_celsius(x):
    """x - 273.15 (the L2 surface-temperature band in K to LST in degC)."""
    return np.float64(x) - 273.15


@jit
def _lst_radiance(radiance, emissivity, tau, up, down, k1, k2):
    # seed 000 Eq. 7: blackbody radiance at the surface temperature
    eps = np.float64(emissivity)
    tau = np.float64(tau)
    b_t = _ratio(np.float64(radiance) - np.float64(up) - tau * (1.0 - eps) * np.float64(down), eps * tau)
    # Eq. 8 (inverse Planck with the band constants); B_T <= 0 has no temperature
    arg = _ratio(np.float64(k1), b_t if b_t > 0.0 else np.nan)
    lg = math.log1p(arg)
    return _ratio(np.float64(k2), lg) - 273.15


@lazy_vectorize(_sigs(1, 6))
def lst_from_radiance(radiance, emissivity, tau, up, down, k1, k2):
    """LST (degC) from at-sensor radiance (seed 000 Eqs. 6-8).

    B_T = [L - R_up - tau (1 - eps) R_down] / (eps tau);  LST = K2 / ln(1 + K1 / B_T) - 273.15.
    With eps = tau = 1 and R_up = R_down = 0 this is the brightness temperature.
    NaN where B_T <= 0 or eps·tau == 0.
    """
    return _lst_radiance(radiance, emissivity, tau, up, down, k1, k2)


@jit
def _emissivity(ndvi, ndvi_soil, ndvi_veg, eps_bare, eps_full, slope, intercept):
    x = np.float64(ndvi)
    if np.isnan(x):
        return np.nan
    if x < ndvi_soil:
        return np.float64(eps_bare)
    if x > ndvi_veg:
        return np.float64(eps_full)
    pv = _ratio(x - ndvi_soil, np.float64(ndvi_veg) - ndvi_soil)
    return np.float64(slope) * (pv * pv) + np.float64(intercept)


@lazy_vectorize(_sigs(1, 6))
def emissivity_from_ndvi(ndvi, ndvi_soil, ndvi_veg, eps_bare, eps_full, slope, intercept):
    """NDVI-threshold land-surface emissivity (Sobrino et al. 2004).

    NDVI < NDVI_s: eps_bare (bare soil); NDVI > NDVI_v: eps_full (full cover); in between
    Pv = ((NDVI - NDVI_s)/(NDVI_v - NDVI_s))^2 and eps = slope·Pv + intercept
    (0.004·Pv + 0.986 in Sobrino et al. 2004).
    """
    return _emissivity(ndvi, ndvi_soil, ndvi_veg, eps_bare, eps_full, slope, intercept)


__all__ = [
    "LazyUfunc",
    "difference",
    "emissivity_from_ndvi",
    "enhanced_vegetation_index",
    "index_based_built_up",
    "lst_from_radiance",
    "ndbsi",
    "ndvi_value",
    "normalized_difference",
    "kelvin_to_celsius",
    "ratio",
    "simple_ratio_from_ndvi",
    "simple_ratio_value",
    "soil_adjusted_vegetation_index",
    "soil_index",
    "tasseled_cap_wetness",
]
