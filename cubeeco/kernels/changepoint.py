"""Change-point kernels: the Pettitt (1979) test along the time axis.

Pure numba over numpy; no xarray.  The gufunc takes the series ``y`` (core dimension
last, float32 or float64) and its time stamps ``t`` (float64 decimal years, strictly
increasing).  A value is used when both ``y`` and ``t`` are finite (NaN and ±inf are
missing, as in :mod:`cubeeco.kernels.trend`); the test runs on the n valid values.

Definition (Pettitt 1979, as ``pyhomogeneity.pettitt_test``)::

    U_k = Σ_{i<=k} Σ_{j>k} sign(x_i - x_j),   k = 1 .. n-1 (1-based over valid values)
    K   = max_k |U_k|,  k* = first k attaining it
    p   ≈ 2 exp(-6 K² / (n³ + n²)), capped at 1

``U_k = U_{k-1} + V_k`` with ``V_k = Σ_j sign(x_k - x_j)`` over all valid j, so a pixel
costs n(n-1)/2 comparisons and no scratch memory.  Ties count 0 (average ranks).

Outputs per pixel: ``t_change`` (time stamp of the k*-th valid value: the last one of
the first segment), ``t_after`` (the next valid time stamp: the first of the second
segment), ``k`` and ``p``.  Fewer than ``MIN_VALID`` valid values, or K = 0 (no
change: constant series), give NaN stamps; K = 0 gives k 0 and p 1, too few values
give k and p NaN.
"""

from __future__ import annotations

import math

import numpy as np

from ._gufunc import FLOAT_TYPES, jit, lazy_gufunc

MIN_VALID = 3


@jit
def _pettitt(y, t):
    """(t_change, t_after, K, p, n_valid) of one series."""
    n = y.shape[0]
    nv = 0
    for i in range(n):
        nv += np.isfinite(np.float64(y[i])) & np.isfinite(t[i])
    if nv < MIN_VALID:
        return np.nan, np.nan, np.nan, np.nan, nv
    u = 0.0
    best = 0.0
    best_i = -1
    seen = 0
    for i in range(n):
        yi = np.float64(y[i])
        if not (np.isfinite(yi) and np.isfinite(t[i])):
            continue
        seen += 1
        if seen == nv:  # U at the last value is always 0
            break
        v = 0.0
        for j in range(n):
            yj = np.float64(y[j])
            ok = np.isfinite(yj) & np.isfinite(t[j])
            d = yi - yj
            v += ((d > 0) * 1.0 - (d < 0) * 1.0) if ok else 0.0
        u += v
        a = abs(u)
        if a > best:  # strict: the first maximum wins, as numpy's argmax
            best = a
            best_i = i
    if best_i < 0:
        return np.nan, np.nan, 0.0, 1.0, nv
    t_after = np.nan
    for j in range(best_i + 1, n):
        if np.isfinite(np.float64(y[j])) and np.isfinite(t[j]):
            t_after = t[j]
            break
    fn = np.float64(nv)
    p = 2.0 * math.exp(-6.0 * best * best / (fn * fn * fn + fn * fn))
    return t[best_i], t_after, best, min(p, 1.0), nv


def _sigs():
    return [f"void({ft}[:], float64[:], float64[:], float64[:], {ft}[:], {ft}[:], int32[:])" for ft in FLOAT_TYPES]


@lazy_gufunc(_sigs(), "(n),(n)->(),(),(),(),()", split_on=0)
def pettitt_gufunc(y, t, t_change, t_after, k, p, n_valid):
    """Pettitt test of one series: change stamp, next stamp, K, approximate p, n valid."""
    a, b, kk, pp, nv = _pettitt(y, t)
    t_change[0] = a
    t_after[0] = b
    k[0] = kk
    p[0] = pp
    n_valid[0] = nv


def pettitt(y, t):
    """(t_change, t_after, k, p, n_valid) along the last axis of ``y``."""
    with np.errstate(all="ignore"):
        return pettitt_gufunc(y, np.ascontiguousarray(t, dtype=np.float64))


__all__ = ["MIN_VALID", "pettitt", "pettitt_gufunc"]
