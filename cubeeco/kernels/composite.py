"""Per-pixel compositing of a season's observations (core dimension: time, last).

The selection helpers here are the package's one copy of "median of the valid values"
(:func:`median_valid`) and "position of the largest valid value" (:func:`argmax_valid`);
other kernels call them instead of writing the loops again.  NaN is missing.
"""

from __future__ import annotations

import numpy as np

from ._gufunc import jit, lazy_gufunc


@jit
def median_valid(x):
    """Median of the non-NaN values of the 1-d ``x`` (mean of the two middle ones); NaN if none."""
    # Seasons hold a handful of scenes: counting ranks (O(n^2), no buffer) beats
    # allocating and sorting a copy for every pixel.
    n_valid = 0
    for i in range(x.shape[0]):
        if not np.isnan(x[i]):
            n_valid += 1
    if n_valid == 0:
        return np.nan
    lo_rank = (n_valid - 1) // 2
    hi_rank = n_valid // 2
    lo = np.nan
    hi = np.nan
    for i in range(x.shape[0]):
        xi = x[i]
        if np.isnan(xi):
            continue
        below = 0
        equal = 0
        for j in range(x.shape[0]):
            xj = x[j]
            if xj < xi:
                below += 1
            elif xj == xi:
                equal += 1
        # xi occupies ranks below .. below + equal - 1
        if below <= lo_rank < below + equal:
            lo = xi
        if below <= hi_rank < below + equal:
            hi = xi
    return (lo + hi) / 2


@lazy_gufunc(["void(float32[:], float32[:])", "void(float64[:], float64[:])"], "(t)->()")
def nanmedian(x, out):
    """Median of the non-NaN values along the last axis (NaN if none)."""
    out[0] = median_valid(x)


@jit
def argmax_valid(score):
    """Index of the first largest non-NaN value of the 1-d ``score``; -1 if all are NaN."""
    best = -1
    for i in range(score.shape[0]):
        if not np.isnan(score[i]) and (best < 0 or score[i] > score[best]):
            best = i
    return best


@lazy_gufunc(["void(float32[:], float32[:], float32[:])", "void(float64[:], float64[:], float64[:])"], "(t),(t)->()")
def take_at_max(score, values, out):
    """``values`` at the first position where ``score`` is largest (NaN scores skipped)."""
    best = argmax_valid(score)
    out[0] = values[best] if best >= 0 else np.nan
