"""Obvious, slow numpy implementations of the trend statistics, one series at a time.

They follow the definitions in SCIENCE.md §3 and docs/trend.md literally (sorting,
explicit pair loops) and share cubeeco's missing-value policy: a value is used when
it and its time stamp are finite; fewer than 3 (Sen, Mann–Kendall) or 2 (OLS)
valid values give NaN.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

MIN_VALID_MK = 3
MIN_VALID_OLS = 2


def valid(y, t):
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(t)
    return y[ok], t[ok]


def pair_slopes(y, t):
    y, t = valid(y, t)
    n = len(y)
    return np.array([(y[j] - y[i]) / (t[j] - t[i]) for i in range(n) for j in range(i + 1, n)])


def mk_s(y):
    n = len(y)
    return sum(int(np.sign(y[j] - y[i])) for i in range(n) for j in range(i + 1, n))


def mk_var(y):
    n = len(y)
    _, counts = np.unique(y, return_counts=True)
    return (n * (n - 1) * (2 * n + 5) - sum(c * (c - 1) * (2 * c + 5) for c in counts)) / 18.0


def z_score(s, var):
    if s > 0:
        return (s - 1) / math.sqrt(var)
    if s < 0:
        return (s + 1) / math.sqrt(var)
    return 0.0


def sen(y, t, alpha=None):
    """dict(slope, intercept, slope_low, slope_high)."""
    yv, tv = valid(y, t)
    nan = dict(slope=np.nan, intercept=np.nan, slope_low=np.nan, slope_high=np.nan)
    if len(yv) < MIN_VALID_MK:
        return nan
    d = np.sort(pair_slopes(yv, tv))
    slope = float(np.median(d))
    out = dict(slope=slope, intercept=float(np.median(yv) - slope * np.median(tv)))
    if alpha is None:
        out.update(slope_low=np.nan, slope_high=np.nan)
    else:
        c = ndtri(1 - alpha / 2) * math.sqrt(mk_var(yv))
        m = len(d)
        lo = min(max(int(np.round((m - c) / 2)) - 1, 0), m - 1)
        hi = max(min(int(np.round((m + c) / 2)), m - 1), 0)
        out.update(slope_low=float(d[lo]), slope_high=float(d[hi]))
    return out


def _acf(x, nlags):
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    y = x - x.mean()
    c = np.array([np.sum(y[: n - k] * y[k:]) / n for k in range(nlags)])
    return c / c[0]


def _ranks(x):
    # average ranks by their definition: 1 + #below + (#equal - 1) / 2
    return np.array([1 + np.sum(x < v) + (np.sum(x == v) - 1) / 2 for v in x])


def mann_kendall(y, t, alpha=0.05, method="original", lag=None):
    """dict(s, var_s, z, p, tau, trend) (trend: -1/0/1, -128 where undefined)."""
    yv, tv = valid(y, t)
    n = len(yv)
    if n < MIN_VALID_MK:
        return dict(s=np.nan, var_s=np.nan, z=np.nan, p=np.nan, tau=np.nan, trend=-128)
    s = mk_s(yv)
    var = mk_var(yv)
    zc = float(ndtri(1 - alpha / 2))
    nlags = n if lag is None else min(lag + 1, n)
    if method != "original":
        slope = sen(yv, tv)["slope"]
        det = yv - slope * (tv - tv[0] + 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            if method == "hamed_rao":
                acf = _acf(_ranks(det), nlags)
                bound = zc / math.sqrt(n)
                sni = sum((n - i) * (n - i - 1) * (n - i - 2) * acf[i]
                          for i in range(1, nlags) if not (-bound <= acf[i] <= bound))
                var = var * (1 + 2 / (n * (n - 1) * (n - 2)) * sni)
            else:
                acf = _acf(det, nlags)
                var = var * (1 + 2 * sum((1 - i / n) * acf[i] for i in range(1, nlags)))
    with np.errstate(invalid="ignore"):
        z = z_score(s, var) if s == 0 or var >= 0 else np.nan
    p = math.erfc(abs(z) / math.sqrt(2)) if np.isfinite(z) else np.nan
    trend = -128 if not np.isfinite(z) else (1 if z > zc else (-1 if z < -zc else 0))
    return dict(s=float(s), var_s=var, z=z, p=p, tau=s / (n * (n - 1) / 2), trend=trend)


def ols(y, t):
    """dict(slope, intercept, r2) via numpy.polyfit-free normal equations (centred)."""
    yv, tv = valid(y, t)
    if len(yv) < MIN_VALID_OLS:
        return dict(slope=np.nan, intercept=np.nan, r2=np.nan)
    tm, ym = tv.mean(), yv.mean()
    sxx = np.sum((tv - tm) ** 2)
    sxy = np.sum((tv - tm) * (yv - ym))
    syy = np.sum((yv - ym) ** 2)
    slope = sxy / sxx
    return dict(slope=slope, intercept=ym - slope * tm, r2=sxy**2 / (sxx * syy) if syy > 0 else np.nan)


def ols_predict(y, t, t_end, t_out):
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    keep = t <= t_end
    fit = ols(y[keep], t[keep])
    return fit["intercept"] + fit["slope"] * np.asarray(t_out, dtype=np.float64)


def significance(z):
    if not np.isfinite(z):
        return -128
    return int(abs(z) >= 1.645) + int(abs(z) >= 1.96) + int(abs(z) >= 2.576)


def trend(y, t, alpha=0.05):
    """Everything cubeeco.trend reports, as a dict."""
    yv, _ = valid(y, t)
    out = {}
    out.update(sen(y, t, alpha))
    out.update(mann_kendall(y, t, alpha))
    o = ols(y, t)
    out.update(ols_slope=o["slope"], ols_intercept=o["intercept"], ols_r2=o["r2"])
    out["n_valid"] = len(yv)
    out["significance"] = significance(out["z"]) if len(yv) >= MIN_VALID_MK else -128
    return out
