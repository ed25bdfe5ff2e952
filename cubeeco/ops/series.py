"""Fits of one regional mean series (1-D; plain numpy/scipy): trend, quadratic, hinge.

The study's Fig. 8 (seed 000 §4.1): a second-order fit of the regional RSEI series
(U shape, vertex year), and segmented linear fits around the turning point.

* :func:`series_trend` -- Sen slope, Mann–Kendall S, Z, p (the project's kernels, via
  :func:`cubeeco.ops.trend.sen_mann_kendall` on a 1-D DataArray);
* :func:`quadratic_fit` -- least-squares y = c0 + c1·t + c2·t², R², vertex year;
* :func:`segmented_ols` -- separate (discontinuous) OLS lines before / after a given
  split year, as the study fits 2000–2012 and 2013–2024;
* :func:`piecewise_linear_fit` -- the exact continuous one-breakpoint least-squares fit
  y = a + b·t + c·max(0, t − t0), breakpoint t0 searched.

NaN values are dropped.  See docs/trend-analysis.md.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

__all__ = ["piecewise_linear_fit", "quadratic_fit", "segmented_ols", "series_trend"]


def _xy(years, values, min_n: int):
    t = np.asarray(years, dtype=np.float64).ravel()
    y = np.asarray(values, dtype=np.float64).ravel()
    if t.shape != y.shape:
        raise ValueError(f"years and values must have the same length, got {t.size} and {y.size}.")
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    if t.size and np.any(np.diff(t) <= 0):
        raise ValueError("years must be distinct.")
    if t.size < min_n:
        raise ValueError(f"need at least {min_n} valid (year, value) pairs, got {t.size}.")
    return t, y


def _r2(y, fitted):
    ss_res = float(np.sum((y - fitted) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return (1.0 - ss_res / ss_tot) if ss_tot > 0 else math.nan, ss_res


def series_trend(years, values, *, alpha: float = 0.05) -> dict:
    """Sen slope (per year) and the original Mann–Kendall test of one series.

    Returns dict ``slope``, ``s``, ``var_s``, ``z``, ``p``, ``n`` -- the numbers
    :func:`cubeeco.ops.trend.sen_mann_kendall` gives a pixel with this series.
    """
    from .trend import sen_mann_kendall

    t, y = _xy(years, values, 0)
    da = xr.DataArray(y, dims="time", coords={"time": t})
    ds = sen_mann_kendall(da, alpha=alpha)
    out = {k: float(ds[k]) for k in ("slope", "s", "var_s", "z", "p")}
    out["n"] = int(t.size)
    return out


def quadratic_fit(years, values) -> dict:
    """Least-squares parabola y = c0 + c1·t + c2·t² (t in years).

    Fitted on centred years (t − mean) for conditioning and converted back.  Returns
    dict ``coefficients`` (c0, c1, c2), ``r2``, ``vertex_year`` (−c1 / (2 c2), where
    the fitted slope is zero; NaN if c2 = 0), ``sse``.
    """
    t, y = _xy(years, values, 3)
    tm = t.mean()
    d2, d1, d0 = np.polyfit(t - tm, y, 2)
    c2 = d2
    c1 = d1 - 2.0 * d2 * tm
    c0 = d0 - d1 * tm + d2 * tm * tm
    r2, sse = _r2(y, np.polyval([d2, d1, d0], t - tm))
    vertex = (tm - d1 / (2.0 * d2)) if d2 != 0 else math.nan
    return {"coefficients": (float(c0), float(c1), float(c2)), "r2": r2, "vertex_year": float(vertex), "sse": sse}


def _ols(t, y):
    tm, ym = t.mean(), y.mean()
    sxx = float(np.sum((t - tm) ** 2))
    b = float(np.sum((t - tm) * (y - ym)) / sxx)
    a = ym - b * tm
    r2, sse = _r2(y, a + b * t)
    return b, a, r2, sse


def segmented_ols(years, values, at: float, *, include_at: str = "before") -> dict:
    """Two separate OLS lines (not joined), split at year ``at``.

    ``include_at="before"``: the first segment is t <= at, the second t > at (the study:
    2000–2012 and 2013–2024 with at = 2012); ``"after"``: t < at and t >= at.  Returns
    dict ``slope_before``, ``intercept_before``, ``r2_before``, ``r_before`` (Pearson r),
    ``n_before`` and the same ``_after``.
    """
    if include_at not in ("before", "after"):
        raise ValueError(f"include_at must be 'before' or 'after', got {include_at!r}.")
    t, y = _xy(years, values, 4)
    first = t <= at if include_at == "before" else t < at
    out = {}
    for seg, sel in (("before", first), ("after", ~first)):
        if sel.sum() < 2:
            raise ValueError(f"segment {seg!r} of the split at {at} has fewer than 2 values.")
        b, a, r2, _ = _ols(t[sel], y[sel])
        out.update({f"slope_{seg}": b, f"intercept_{seg}": a, f"r2_{seg}": r2,
                    f"r_{seg}": math.copysign(math.sqrt(max(r2, 0.0)), b) if np.isfinite(r2) else math.nan,
                    f"n_{seg}": int(sel.sum())})
    return out


def _hinge_sse(t, y, t0):
    """(sse, (a, b, c)) of the least-squares hinge y = a + b t + c max(0, t - t0)."""
    tc = t - t[0]
    x = np.column_stack([np.ones_like(t), tc, np.maximum(0.0, t - t0)])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    r = y - x @ coef
    return float(r @ r), coef


def piecewise_linear_fit(years, values, n_segments: int = 2, *, grid: int = 2000, min_points: int = 2) -> dict:
    """Exact continuous piecewise-linear least squares with one breakpoint.

    Model y = a + b·t + c·max(0, t − t0).  For a fixed t0 it is linear least squares;
    SSE(t0) is searched exhaustively on ``grid`` candidate breakpoints spanning the
    admissible range (at least ``min_points`` data years on each side, i.e. t0 in
    [t_(min_points−1), t_(n−min_points)]) plus every data year, then refined by bounded
    Brent minimisation on the two grid cells around the best candidate (SSE is smooth
    between data years).  Only ``n_segments=2`` is implemented.

    Returns dict ``breakpoint`` (t0), ``slopes`` (b, b + c), ``intercept`` (the line's
    value at t = 0: a − b·t_first), ``value_at_breakpoint``, ``r2``, ``sse``, ``n``.
    """
    from scipy.optimize import minimize_scalar

    if n_segments != 2:
        raise NotImplementedError("piecewise_linear_fit: only n_segments=2 (one breakpoint) is implemented.")
    t, y = _xy(years, values, 2 * min_points)
    lo, hi = t[min_points - 1], t[t.size - min_points]
    cand = np.unique(np.concatenate([np.linspace(lo, hi, grid), t[(t >= lo) & (t <= hi)]]))
    sse = np.array([_hinge_sse(t, y, c)[0] for c in cand])
    i = int(np.argmin(sse))
    best_t0, best_sse = float(cand[i]), float(sse[i])
    a_lo, a_hi = cand[max(i - 1, 0)], cand[min(i + 1, cand.size - 1)]
    if a_hi > a_lo:
        res = minimize_scalar(lambda c: _hinge_sse(t, y, c)[0], bounds=(a_lo, a_hi), method="bounded",
                              options={"xatol": 1e-10})
        if res.fun < best_sse:
            best_t0, best_sse = float(res.x), float(res.fun)
    sse_v, (a, b, c) = _hinge_sse(t, y, best_t0)
    fitted = a + b * (t - t[0]) + c * np.maximum(0.0, t - best_t0)
    r2, _ = _r2(y, fitted)
    return {"breakpoint": best_t0, "slopes": (float(b), float(b + c)), "intercept": float(a - b * t[0]),
            "value_at_breakpoint": float(a + b * (best_t0 - t[0])), "r2": r2, "sse": sse_v, "n": int(t.size)}
