"""Obvious numpy versions of the EG index, its moving window and the RSEI x EG overlay.

No prefix sums, no half-width tables: one pixel (or one class) at a time, windows from the
pixel-centre distances themselves.
"""

from __future__ import annotations

import numpy as np


def graded(codes, grades, nodata=None):
    """Grade per pixel, NaN for nodata / NaN / codes without a grade."""
    codes = np.asarray(codes)
    out = np.full(codes.shape, np.nan)
    for code, g in grades.items():
        hit = codes == code
        if nodata is not None:
            hit &= codes != nodata
        out[hit] = g
    return out


def eg_index(codes, grades, nodata=None, lo=None, hi=None, normalize=True):
    """Eq. 14 of seed 000 on one 2-D raster, class by class: (eg, eg_raw, graded pixel count)."""
    codes = np.asarray(codes)
    lo = min(grades.values()) if lo is None else lo
    hi = max(grades.values()) if hi is None else hi
    num = 0.0
    den = 0
    for code in np.unique(codes[~np.isnan(codes)] if codes.dtype.kind == "f" else codes):
        if nodata is not None and code == nodata:
            continue
        if code not in grades:
            continue
        area = int(np.sum(codes == code))
        num += grades[code] * area
        den += area
    raw = num / den if den else np.nan
    return ((hi - raw) / (hi - lo) if normalize else raw), raw, den


def eg_window(codes, grades, radius, step_y, step_x, shape="circle", nodata=None, lo=None, hi=None,
              normalize=True):
    """Per-pixel window mean of the grades by a direct loop over every pixel of the raster."""
    g = graded(codes, grades, nodata)
    lo = min(grades.values()) if lo is None else lo
    hi = max(grades.values()) if hi is None else hi
    ny, nx = g.shape
    yy, xx = np.meshgrid(np.arange(ny) * step_y, np.arange(nx) * step_x, indexing="ij")
    out = np.full(g.shape, np.nan)
    tol = radius * 1e-9
    for i in range(ny):
        for j in range(nx):
            if np.isnan(g[i, j]):
                continue
            dy, dx = yy - yy[i, j], xx - xx[i, j]
            if shape == "circle":
                inside = np.hypot(dy, dx) <= radius + tol
            else:
                inside = (np.abs(dy) <= radius + tol) & (np.abs(dx) <= radius + tol)
            vals = g[inside]
            vals = vals[~np.isnan(vals)]
            if vals.size:
                m = vals.mean()
                out[i, j] = (hi - m) / (hi - lo) if normalize else m
    return out


def overlay(rsei, eg, rsei_edges=(1 / 3, 2 / 3), eg_edges=(1 / 3, 2 / 3)):
    """10 * EG level + RSEI level (levels 1..3, right-closed bins), 0 where either is NaN."""
    rsei, eg = np.asarray(rsei, float), np.asarray(eg, float)
    lr = np.digitize(rsei, rsei_edges, right=True) + 1
    le = np.digitize(eg, eg_edges, right=True) + 1
    code = 10 * le + lr
    code[np.isnan(rsei) | np.isnan(eg)] = 0
    return code.astype(np.int8)


def overlay_areas(codes, pixel_km2):
    """{code: (pixels, area_km2, share)} for the nine codes of one 2-D code raster."""
    codes = np.asarray(codes)
    total = int(np.sum(codes != 0))
    out = {}
    for a in (1, 2, 3):
        for b in (1, 2, 3):
            c = 10 * a + b
            n = int(np.sum(codes == c))
            out[c] = (n, n * pixel_km2, n / total if total else np.nan)
    return out
