"""Plain-python Pettitt test (Pettitt 1979, pyhomogeneity's convention), for the kernel tests."""

from __future__ import annotations

import math

import numpy as np


def pettitt(y, t):
    """(t_change, t_after, K, p, n_valid) of one series; NaN / inf values are skipped."""
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(t)
    x, tt = y[ok], t[ok]
    n = len(x)
    if n < 3:
        return math.nan, math.nan, math.nan, math.nan, n
    u = []
    for k in range(n - 1):  # first segment x[:k+1]
        s = 0
        for i in range(k + 1):
            for j in range(k + 1, n):
                s += int(x[i] > x[j]) - int(x[i] < x[j])
        u.append(s)
    a = np.abs(np.array(u, dtype=np.float64))
    big_k = float(a.max())
    if big_k == 0:
        return math.nan, math.nan, 0.0, 1.0, n
    loc = int(np.argmax(a))
    p = min(1.0, 2.0 * math.exp(-6.0 * big_k**2 / (n**3 + n**2)))
    return float(tt[loc]), float(tt[loc + 1]), big_k, p, n


def pettitt_ranks(y):
    """pyhomogeneity's rank formulation, U_k = 2 Σ_{i<=k} r_i - k (n + 1): the same K."""
    from scipy.stats import rankdata

    x = np.asarray(y, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = len(x)
    r = rankdata(x)
    u = np.array([2 * r[: k + 1].sum() - (k + 1) * (n + 1) for k in range(n)])
    return float(np.abs(u).max()), int(np.argmax(np.abs(u)))
