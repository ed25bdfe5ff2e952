"""A slow, obvious reference for the CASA kernel: one pixel at a time, straight from the formulas."""

from __future__ import annotations

import math

import numpy as np


def heat_index(temp):
    return sum((t / 5.0) ** 1.514 for t in temp if t > 0)


def thornthwaite(temp, corr=None):
    temp = [float(t) for t in temp]
    corr = [1.0] * len(temp) if corr is None else [float(c) for c in corr]
    if any(math.isnan(t) for t in temp) or any(math.isnan(c) for c in corr):
        return np.full(len(temp), np.nan)
    big_i = heat_index(temp)
    a = 6.75e-7 * big_i**3 - 7.71e-5 * big_i**2 + 1.792e-2 * big_i + 0.49239
    out = []
    for t, c in zip(temp, corr):
        if t <= 0:
            pet = 0.0
        elif t >= 26.5:
            pet = -415.85 + 32.24 * t - 0.43 * t**2
        else:
            pet = 16.0 * (10.0 * t / big_i) ** a
        out.append(pet * c)
    return np.array(out)


def eet(p, ep0):
    if p <= 0 or ep0 <= 0:
        return 0.0
    rn = (ep0 * p) ** 0.5 * (0.369 + 0.598 * (ep0 / p) ** 0.5)
    return p * rn * (p**2 + rn**2 + p * rn) / ((p + rn) * (p**2 + rn**2))


def t_eps2(t_opt, t):
    def f(tt):
        return 1.1814 / (1 + math.exp(0.2 * (t_opt - 10 - tt))) / (1 + math.exp(0.3 * (-t_opt - 10 + tt)))
    if t > t_opt + 10 or t < t_opt - 13:
        return 0.5 * f(t_opt)
    return f(t)


def _fpar(x, lo, hi, fmin, fmax):
    if hi == lo:
        return math.nan
    return min(max((x - lo) * (fmax - fmin) / (hi - lo) + fmin, fmin), fmax)


def casa_pixel(ndvi, temp, precip, solar, corr, ndvi_min, ndvi_max, sr_min, sr_max, eps_max,
               fpar_min=0.001, fpar_max=0.95, alpha=0.5, water_fill=0.5, cold_rule="half", w_max=math.inf):
    """Monthly NPP of one pixel-year (float64)."""
    n = len(ndvi)
    nan_year = np.full(n, np.nan)
    if any(math.isnan(t) for t in temp) or any(math.isnan(c) for c in corr):
        return nan_year
    valid = [i for i in range(n) if not math.isnan(ndvi[i])]
    if not valid or math.isnan(eps_max):
        return nan_year
    best = max(valid, key=lambda i: (ndvi[i], -i))  # first maximum
    t_opt = float(temp[best])
    t1_base = max(0.8 + 0.02 * t_opt - 0.0005 * t_opt**2, 0.0)
    ep0 = thornthwaite(temp, corr)

    def w_of(i):
        p = float(precip[i])
        if math.isnan(p) or p < 0:
            return "missing"
        e = eet(p, ep0[i])
        pet = (ep0[i] + e) / 2
        return None if pet <= 0 else 0.5 + 0.5 * e / pet

    defined = [w for w in (w_of(i) for i in range(n)) if isinstance(w, float)]
    w_prev = defined[-1] if (cold_rule == "previous" and defined) else water_fill
    out = np.full(n, np.nan)
    for i in range(n):
        w = w_of(i)
        if w == "missing":
            continue
        if w is None:
            w = water_fill if cold_rule == "half" else w_prev
        else:
            w_prev = w
        w = min(w, w_max)
        x, sol, t = float(ndvi[i]), float(solar[i]), float(temp[i])
        if math.isnan(x) or math.isnan(sol):
            continue
        if eps_max == 0:
            out[i] = 0.0
            continue
        sr = (1 + x) / (1 - x) if x != 1 else math.nan
        fpar = alpha * _fpar(x, ndvi_min, ndvi_max, fpar_min, fpar_max) + (1 - alpha) * _fpar(sr, sr_min, sr_max, fpar_min, fpar_max)
        apar = 0.5 * sol * fpar
        t1 = 0.0 if t <= -10 else t1_base
        out[i] = apar * t1 * t_eps2(t_opt, t) * w * eps_max
    return out


def class_percentiles(ndvi, veg, classes, q):
    """Inverted-CDF percentiles of the valid NDVI in [-1, 1] of each class."""
    ndvi = np.asarray(ndvi, dtype=np.float64)
    veg = np.broadcast_to(np.asarray(veg), ndvi.shape)
    out = []
    for c in classes:
        v = ndvi[(veg == c) & (ndvi >= -1) & (ndvi <= 1)]
        out.append(np.percentile(v, q, method="inverted_cdf") if v.size else np.nan)
    return np.array(out)
