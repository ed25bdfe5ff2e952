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

Water stress W_ε (``water_method``): WATER_ZHOU_ZHANG (Zhu et al. 2006: Zhou & Zhang EET and
Boucher's PET) or WATER_RATIO (EET = min(P, E_p0), the supply and demand limits of Budyko
1974, in the CASA form W = 0.5 + 0.5 EET/E_p0 of Potter et al. 1993).

The monthly-input kernels at the end (``monthly_composite``, ``fill_months``) turn a
year's scenes into the 12 monthly NDVI values CASA needs, without ever writing 0 for a
month that has no clear observation.
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

WATER_ZHOU_ZHANG = 0  # Zhou & Zhang (1995) EET, Boucher PET (Zhu et al. 2006; seed 001)
WATER_RATIO = 1  # EET = min(P, E_p0) (Budyko limits), W = 0.5 + 0.5 EET / E_p0

COMPOSITE_MAX = 0  # maximum-value composite (Holben 1986), the usual CASA NDVI input
COMPOSITE_MEDIAN = 1

ENDS_HOLD = 0  # months before the first / after the last clear month take its value
ENDS_CYCLIC = 1  # interpolate across the year's end (December -> January of the same year)

# quality flags of fill_months
Q_OBSERVED, Q_INTERPOLATED, Q_ENDS, Q_NONE, Q_MISSING = 0, 1, 2, 3, 4


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
def _water_stress_ratio(p, ep0):
    """W_ε = 0.5 + 0.5 min(P, E_p0)/E_p0: a month's rain evaporates up to its PET; NaN if E_p0 == 0."""
    p = np.float64(p)
    ep0 = np.float64(ep0)
    if not ep0 > 0.0:
        return np.nan
    eet = p if p < ep0 else ep0
    return 0.5 + 0.5 * eet / ep0


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
def _month_w(p, t, corr, heat, a, method):
    if np.isnan(p) or p < 0.0:
        return -1.0  # marks "precipitation missing"
    ep0 = thornthwaite_month(t, heat, a) * corr
    if method == WATER_RATIO:
        return _water_stress_ratio(p, ep0)
    return _water_stress(p, ep0)


@jit
def _casa_pixel(ndvi, temp, precip, solar, corr, ndvi_min, ndvi_max, sr_min, sr_max,
                eps_max, fpar_min, fpar_max, alpha, water_fill, cold_rule, w_max, method, out):
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
            w = _month_w(np.float64(precip[i]), temp[i], np.float64(corr[i]), heat, a, method)
            if w >= 0.0:  # defined (not NaN, not missing P)
                w_prev = w
                break
    # -- months ------------------------------------------------------------------------
    for i in range(n):
        t = np.float64(temp[i])
        w = _month_w(np.float64(precip[i]), t, np.float64(corr[i]), heat, a, method)
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
                eps_max, fpar_min, fpar_max, alpha, water_fill, cold_rule, w_max, WATER_ZHOU_ZHANG, out)


@lazy_gufunc(
    [
        f"void(float32[:], float32[:], float32[:], float32[:], float32[:], {_SIG_SCALARS}, int64, float32[:])",
        f"void(float64[:], float64[:], float64[:], float64[:], float64[:], {_SIG_SCALARS}, int64, float64[:])",
    ],
    "(m),(m),(m),(m),(m),(),(),(),(),(),(),(),(),(),(),(),()->(m)",
)
def casa_npp_ws(ndvi, temp, precip, solar, pet_corr, ndvi_min, ndvi_max, sr_min, sr_max, eps_max,
                fpar_min, fpar_max, alpha, water_fill, cold_rule, w_max, water_method, out):
    """:func:`casa_npp` with the water-stress method as a last scalar (WATER_ZHOU_ZHANG / WATER_RATIO)."""
    _casa_pixel(ndvi, temp, precip, solar, pet_corr, ndvi_min, ndvi_max, sr_min, sr_max,
                eps_max, fpar_min, fpar_max, alpha, water_fill, cold_rule, w_max, water_method, out)


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


# ------------------------------------------------------------------ monthly inputs
@jit
def _month_median(x, label, month):
    """Median of the non-NaN ``x`` whose ``label`` is ``month`` (NaN if none), by counting ranks.

    A month holds a handful of scenes: ranks by counting (O(k^2), no buffer) beat copying
    and sorting per pixel, as in ``composite.median_valid``.
    """
    k = 0
    for i in range(x.shape[0]):
        if label[i] == month and not np.isnan(x[i]):
            k += 1
    if k == 0:
        return np.nan
    lo_rank = (k - 1) // 2
    hi_rank = k // 2
    lo = np.nan
    hi = np.nan
    for i in range(x.shape[0]):
        xi = x[i]
        if label[i] != month or np.isnan(xi):
            continue
        below = 0
        equal = 0
        for j in range(x.shape[0]):
            if label[j] != month:
                continue
            xj = x[j]
            if xj < xi:
                below += 1
            elif xj == xi:
                equal += 1
        if below <= lo_rank < below + equal:
            lo = xi
        if below <= hi_rank < below + equal:
            hi = xi
    return (np.float64(lo) + np.float64(hi)) / 2.0


@jit
def _composite_months(x, label, months, method, out, count):
    for m in range(months.shape[0]):
        month = months[m]
        n = 0
        best = np.nan
        for i in range(x.shape[0]):
            if label[i] == month and not np.isnan(x[i]):
                n += 1
                if not best >= x[i]:  # NaN best (first valid) or a larger value
                    best = x[i]
        count[m] = n if n < 255 else 255
        if n == 0:
            out[m] = np.nan  # never 0: an unobserved month stays missing
        elif method == COMPOSITE_MEDIAN:
            out[m] = _month_median(x, label, month)
        else:
            out[m] = best


@lazy_gufunc(
    [
        "void(float32[:], int64[:], int64[:], int64, float32[:], uint8[:])",
        "void(float64[:], int64[:], int64[:], int64, float64[:], uint8[:])",
    ],
    "(t),(t),(m),()->(m),(m)",
)
def monthly_composite(values, label, months, method, out, count):
    """Per-month composite of one pixel's scenes: ``out[m]`` from the scenes whose ``label``
    equals ``months[m]`` (max or median of the non-NaN values, COMPOSITE_MAX / _MEDIAN);
    NaN where a month has none.  ``count[m]``: the clear observations used (capped at 255).
    """
    _composite_months(values, label, months, method, out, count)


@jit
def _fill_months(x, ends, out, quality):
    n = x.shape[0]
    first = -1
    last = -1
    for i in range(n):
        if not np.isnan(x[i]):
            if first < 0:
                first = i
            last = i
    if first < 0:  # nothing clear in the whole year: NaN, not a made-up value
        for i in range(n):
            out[i] = np.nan
            quality[i] = Q_NONE
        return
    prev = -1  # the last clear month before i
    for i in range(n):
        if not np.isnan(x[i]):
            out[i] = x[i]
            quality[i] = Q_OBSERVED
            prev = i
            continue
        if prev >= 0 and i < last:
            nxt = i + 1
            while np.isnan(x[nxt]):
                nxt += 1
            w = (i - prev) / (nxt - prev)
            out[i] = np.float64(x[prev]) + (np.float64(x[nxt]) - np.float64(x[prev])) * w
            quality[i] = Q_INTERPOLATED
            continue
        quality[i] = Q_ENDS
        if ends == ENDS_CYCLIC and first != last:
            # between the year's last clear month and its first, across December/January
            lo = last - n
            pos = i - n if i > last else i
            w = (pos - lo) / (first - lo)
            out[i] = np.float64(x[last]) + (np.float64(x[first]) - np.float64(x[last])) * w
        else:
            out[i] = x[first] if i < first else x[last]


@lazy_gufunc(
    [
        "void(float32[:], int64, float32[:], int8[:])",
        "void(float64[:], int64, float64[:], int8[:])",
    ],
    "(m),()->(m),(m)",
)
def fill_months(x, ends, out, quality):
    """Fill the NaN months of one pixel's monthly series, with a quality flag per month.

    Observed months are kept (Q_OBSERVED); a gap between two clear months is interpolated
    linearly in month index (Q_INTERPOLATED); months before the first or after the last
    clear month (Q_ENDS) hold that month's value (ENDS_HOLD) or are interpolated across the
    year's end (ENDS_CYCLIC: the series treated as periodic); a year without any clear month
    stays NaN (Q_NONE).
    """
    _fill_months(x, ends, out, quality)
