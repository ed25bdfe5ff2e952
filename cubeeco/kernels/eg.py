"""Moving-window EG index (seed 000 Eq. 14 over a window): pure numba, no xarray / dask.

For every pixel the window mean of the per-pixel ecological grade ``g`` (NaN: nodata or
a class without a grade) over the valid pixels of a window given as row half-widths:

    mean(i, j) = Σ_{dy, |dx| <= half[dy]} g(i+dy, j+dx) / #valid,   rows dy = -R .. R

with the offsets clipped at the block's edges (the raster's edges when the block is a
``map_overlap`` block with ``boundary="none"``).  The row sums come from per-row prefix
sums (a one-dimensional summed-area table per row, in float64), so one pixel costs
2R + 1 look-ups whatever the window's area, and a circle costs the same as a square.
Normalised and inverted over the grade range ``[lo, hi]`` when asked (SCIENCE.md §4):

    eg = (hi - mean) / (hi - lo)      (1 = best grade, 0 = worst)

NaN where the centre pixel has no grade or its window none.
"""

from __future__ import annotations

import numpy as np

from ._gufunc import jit, lazy_gufunc


@jit
def _window_mean(grade, half, lo, hi, normalize, scratch, out):
    n, m = grade.shape
    k = half.shape[0]
    r = (k - 1) // 2
    psum = scratch[0]
    pcnt = scratch[1]
    for i in range(n):
        psum[i, 0] = 0.0
        pcnt[i, 0] = 0.0
        s = 0.0
        c = 0.0
        for j in range(m):
            v = grade[i, j]
            if not np.isnan(v):
                s += v
                c += 1.0
            psum[i, j + 1] = s
            pcnt[i, j + 1] = c
    span = hi - lo
    for i in range(n):
        for j in range(m):
            if np.isnan(grade[i, j]):
                out[i, j] = np.nan
                continue
            s = 0.0
            c = 0.0
            for t in range(k):
                h = half[t]
                ii = i + t - r
                if h < 0 or ii < 0 or ii >= n:
                    continue
                a = j - h
                b = j + h + 1
                if a < 0:
                    a = 0
                if b > m:
                    b = m
                s += psum[ii, b] - psum[ii, a]
                c += pcnt[ii, b] - pcnt[ii, a]
            if c <= 0.0:
                out[i, j] = np.nan
            else:
                mean = s / c
                out[i, j] = (hi - mean) / span if normalize else mean


@lazy_gufunc(
    ["void(float64[:, :], int64[:], float64, float64, boolean, float64[:, :, :], float64[:, :])"],
    "(n,m),(k),(),(),(),(s,n,p)->(n,m)",
)
def eg_window(grade, half, lo, hi, normalize, scratch, out):
    """Window-mean ecological grade of every pixel of one (n, m) layer.

    ``grade``: per-pixel grade, NaN missing; ``half``: 2R + 1 row half-widths in pixels
    (-1: row not in the window); ``lo`` / ``hi``: grade range for the normalisation;
    ``normalize``: return (hi - mean) / (hi - lo) instead of the mean; ``scratch``:
    (2, n, m + 1) float64 buffer for the row prefix sums (the caller allocates it).
    """
    _window_mean(grade, half, lo, hi, normalize, scratch, out)


def window_half_widths(radius: float, step_y: float, step_x: float, shape: str = "circle") -> np.ndarray:
    """Row half-widths (pixels) of a window of ``radius`` metres on a (step_y, step_x) grid.

    ``circle``: the pixels whose centre lies within ``radius`` of the centre pixel's centre,
    (dy·step_y)² + (dx·step_x)² <= radius² (a relative 1e-9 slack keeps a centre exactly on
    the circle inside); ``square``: |dy·step_y| <= radius and |dx·step_x| <= radius.
    """
    ry = int(np.floor(radius / step_y * (1 + 1e-9)))
    rx = int(np.floor(radius / step_x * (1 + 1e-9)))
    dy = np.arange(-ry, ry + 1)
    if shape == "square":
        return np.full(dy.shape, rx, dtype=np.int64)
    rem = radius * radius * (1 + 2e-9) - (dy * step_y) ** 2
    h = np.floor(np.sqrt(np.maximum(rem, 0.0)) / step_x * (1 + 1e-9)).astype(np.int64)
    return np.minimum(h, rx)


__all__ = ["eg_window", "window_half_widths"]
