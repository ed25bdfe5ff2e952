"""CASA net primary production over one pixel's 12-month series (seed 001 Eqs. 1-7).

NPP = APAR × ε, APAR = 0.5 · SOL · FPAR, ε = T_ε1 · T_ε2 · W_ε · ε_max, with the stress
terms of the standard CASA model (Potter et al. 1993) as improved by Zhu Wenquan et al.
(2006): Thornthwaite potential ET, the regional actual ET of Zhou & Zhang (1995) and
Boucher's complementary relation.  The core dimension (months) is last; every
per-pixel quantity is a scalar recomputed from the inputs, so nothing is allocated
per pixel.  Arithmetic is float64 inside, the output is stored in the input dtype.

Missing-value policy
--------------------
* temperature or the PET correction missing in any month -> the whole year is NaN
  (the heat index I and T_opt need the complete year);
* no valid NDVI in the year -> the whole year is NaN (T_opt is undefined);
* NDVI, precipitation (or P < 0) or solar radiation missing in a month -> that month NaN;
* vanishing denominators (NDVI_max == NDVI_min, SR_max == SR_min, NDVI == 1) -> NaN;
* ε_max == 0 (a class declared non-vegetated) -> NPP 0 in every valid month.
"""

from __future__ import annotations

import math

import numpy as np

from ._gufunc import jit, lazy_gufunc
from .composite import argmax_valid
from .indices import simple_ratio_value

# T_ε2 at T = T_opt: 1.1814 / (1 + e^-2) / (1 + e^-3)
_T2_AT_OPT = 1.1814 / (1.0 + math.exp(-2.0)) / (1.0 + math.exp(-3.0))

COLD_HALF = 0  # W_ε = water_fill where PET == 0 (cold months)
COLD_PREVIOUS = 1  # W_ε = the previous month's W_ε (original CASA carry-over)


# ------------------------------------------------------------------ stress terms
@jit
def heat_index(temp):
    """Thornthwaite annual heat index I = Σ (T_i/5)^1.514 over months with T_i > 0."""
    total = 0.0
    for i in range(temp.shape[0]):
        t = np.float64(temp[i])
        if t > 0.0:
            total += (t / 5.0) ** 1.514
    return total


@jit
def thornthwaite_exponent(heat):
    """a = 6.75e-7 I^3 - 7.71e-5 I^2 + 1.792e-2 I + 0.49239 (Thornthwaite 1948)."""
    return ((6.75e-7 * heat - 7.71e-5) * heat + 1.792e-2) * heat + 0.49239


@jit
def thornthwaite_month(t, heat, a):
    """Unadjusted Thornthwaite PET (mm month^-1) of a month with mean temperature t (degC).

    0 for t <= 0; 16 (10 t / I)^a for 0 < t < 26.5; -415.85 + 32.24 t - 0.43 t^2 above.
    """
    t = np.float64(t)
    if t <= 0.0:
        return 0.0
    if t >= 26.5:
        return -415.85 + 32.24 * t - 0.43 * t * t
    return 16.0 * (10.0 * t / heat) ** a


@jit
def zhou_zhang_eet(p, ep0):
    """Regional actual ET (mm) of Zhou & Zhang (1995) from precipitation and PET.

    Rn = sqrt(E_p0 P) (0.369 + 0.598 sqrt(E_p0 / P));
    EET = P Rn (P^2 + Rn^2 + P Rn) / ((P + Rn)(P^2 + Rn^2)).  The limits P -> 0 and
    E_p0 -> 0 are both 0, used when either is <= 0.
    """
    p = np.float64(p)
    ep0 = np.float64(ep0)
    if p <= 0.0 or ep0 <= 0.0:
        return 0.0
    rn = math.sqrt(ep0 * p) * (0.369 + 0.598 * math.sqrt(ep0 / p))
    p2 = p * p
    r2 = rn * rn
    return p * rn * (p2 + r2 + p * rn) / ((p + rn) * (p2 + r2))


@jit
def _water_stress(p, ep0):
    """W_ε = 0.5 + 0.5 EET/PET with PET = (E_p0 + EET)/2 (Boucher); NaN if PET == 0."""
    eet = zhou_zhang_eet(p, ep0)
    pet = 0.5 * (ep0 + eet)
    if not pet > 0.0:
        return np.nan
    return 0.5 + 0.5 * eet / pet


@jit
def t_eps2(t_opt, t):
    """T_ε2 with the CASA rule: beyond T_opt + 10 or below T_opt - 13 it is half its T_opt value."""
    if t > t_opt + 10.0 or t < t_opt - 13.0:
        return 0.5 * _T2_AT_OPT
    return 1.1814 / (1.0 + math.exp(0.2 * (t_opt - 10.0 - t))) / (1.0 + math.exp(0.3 * (-t_opt - 10.0 + t)))


@jit
def _stretch(x, lo, hi, fmin, fmax):
    """Linear FPAR stretch between class bounds, clipped to [fmin, fmax]; NaN if hi == lo."""
    span = hi - lo
    if span == 0.0:
        return np.nan
    f = (x - lo) * (fmax - fmin) / span + fmin
    if f < fmin:
        f = fmin
    if f > fmax:
        f = fmax
    return f


@jit
def _month_w(p, t, corr, heat, a):
    if np.isnan(p) or p < 0.0:
        return -1.0  # marks "precipitation missing"
    return _water_stress(p, thornthwaite_month(t, heat, a) * corr)


@jit
def _casa_pixel(ndvi, temp, precip, solar, corr, ndvi_min, ndvi_max, sr_min, sr_max,
                eps_max, fpar_min, fpar_max, alpha, water_fill, cold_rule, w_max, out):
    n = ndvi.shape[0]
    # -- whole-year terms: completeness, heat index, T_opt ---------------------------
    for i in range(n):
        if np.isnan(temp[i]) or np.isnan(corr[i]):
            for j in range(n):
                out[j] = np.nan
            return
    best = argmax_valid(ndvi)     # the greenest month sets T_opt
    if best < 0 or np.isnan(eps_max):
        for j in range(n):
            out[j] = np.nan
        return
    heat = heat_index(temp)
    a = thornthwaite_exponent(heat)
    t_opt = np.float64(temp[best])
    t1_base = 0.8 + 0.02 * t_opt - 0.0005 * t_opt * t_opt
    if t1_base < 0.0:  # only for T_opt < -32 or > 72 degC; ε is never negative
        t1_base = 0.0
    # W_ε carried into January under the "previous" rule: the year's last defined value
    w_prev = water_fill
    if cold_rule == COLD_PREVIOUS:
        for i in range(n - 1, -1, -1):
            w = _month_w(np.float64(precip[i]), temp[i], np.float64(corr[i]), heat, a)
            if w >= 0.0:  # defined (not NaN, not missing P)
                w_prev = w
                break
    # -- months ------------------------------------------------------------------------
    for i in range(n):
        t = np.float64(temp[i])
        w = _month_w(np.float64(precip[i]), t, np.float64(corr[i]), heat, a)
        if w == -1.0:
            out[i] = np.nan
            continue
        if np.isnan(w):  # PET == 0: cold month
            w = water_fill if cold_rule == COLD_HALF else w_prev
        else:
            w_prev = w
        if w > w_max:
            w = w_max
        x = np.float64(ndvi[i])
        sol = np.float64(solar[i])
        if np.isnan(x) or np.isnan(sol):
            out[i] = np.nan
            continue
        if eps_max == 0.0:
            out[i] = 0.0
            continue
        sr = simple_ratio_value(x)
        f_ndvi = _stretch(x, ndvi_min, ndvi_max, fpar_min, fpar_max)
        f_sr = _stretch(sr, sr_min, sr_max, fpar_min, fpar_max)
        fpar = alpha * f_ndvi + (1.0 - alpha) * f_sr
        apar = 0.5 * sol * fpar
        t1 = 0.0 if t <= -10.0 else t1_base
        eps = t1 * t_eps2(t_opt, t) * w * eps_max
        out[i] = apar * eps


_SIG_SCALARS = "float64, float64, float64, float64, float64, float64, float64, float64, float64, int64, float64"


@lazy_gufunc(
    [
        f"void(float32[:], float32[:], float32[:], float32[:], float32[:], {_SIG_SCALARS}, float32[:])",
        f"void(float64[:], float64[:], float64[:], float64[:], float64[:], {_SIG_SCALARS}, float64[:])",
    ],
    "(m),(m),(m),(m),(m),(),(),(),(),(),(),(),(),(),(),()->(m)",
)
def casa_npp(ndvi, temp, precip, solar, pet_corr, ndvi_min, ndvi_max, sr_min, sr_max, eps_max,
             fpar_min, fpar_max, alpha, water_fill, cold_rule, w_max, out):
    """Monthly NPP (gC m-2 month-1) of one pixel-year.

    Inputs along the last axis (months of one year): NDVI, mean temperature (degC),
    precipitation (mm), total solar radiation (MJ m-2 month-1) and the Thornthwaite
    day-length correction factor (1 for none).  Per-pixel scalars: the vegetation type's
    NDVI and SR bounds and ε_max (gC MJ-1); FPAR_min/FPAR_max; ``alpha`` weights
    FPAR_NDVI (FPAR = alpha FPAR_NDVI + (1 - alpha) FPAR_SR, 0.5 in seed 001 Eq. 3);
    ``water_fill`` and ``cold_rule`` (COLD_HALF / COLD_PREVIOUS) for months with PET = 0;
    ``w_max`` caps W_ε (inf: no cap).
    """
    _casa_pixel(ndvi, temp, precip, solar, pet_corr, ndvi_min, ndvi_max, sr_min, sr_max,
                eps_max, fpar_min, fpar_max, alpha, water_fill, cold_rule, w_max, out)


@lazy_gufunc(["void(float32[:], float32[:], float32[:])", "void(float64[:], float64[:], float64[:])"], "(m),(m)->(m)")
def thornthwaite_pet(temp, pet_corr, out):
    """Thornthwaite potential ET (mm month-1) of each month, times the correction factor.

    NaN in every month if any temperature (or correction) is missing.
    """
    n = temp.shape[0]
    for i in range(n):
        if np.isnan(temp[i]) or np.isnan(pet_corr[i]):
            for j in range(n):
                out[j] = np.nan
            return
    heat = heat_index(temp)
    a = thornthwaite_exponent(heat)
    for i in range(n):
        out[i] = thornthwaite_month(temp[i], heat, a) * np.float64(pet_corr[i])


@lazy_gufunc(
    [
        "void(int64, int64[:], float32[:, :], float32[:])",
        "void(int64, int64[:], float64[:, :], float64[:])",
    ],
    "(),(k),(k,p)->(p)",
)
def class_lookup(code, codes, table, out):
    """Row of ``table`` whose ``codes`` entry equals ``code`` (NaN row if absent)."""
    row = -1
    for k in range(codes.shape[0]):
        if codes[k] == code:
            row = k
            break
    for j in range(table.shape[1]):
        out[j] = table[row, j] if row >= 0 else np.nan
