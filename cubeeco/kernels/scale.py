"""MODIS NPP scale transformation (seed 002 Eq. 1), VCS (Eq. 2) and disturbance years.

Eq. 1 works per coarse (500 m) cell on the 30 m grid:

    NPP_a = (NPP_b·S - NPP_bg·(S - S_veg)) / S_veg   on vegetated 30 m pixels,
    NPP_a = 0                                         on destroyed ones,

with S the cell's area and S_veg its vegetated area.  Areas enter only as a ratio, so
they are counted in 30 m pixels.  The per-cell sums are a grouped reduction over the
cell's pixels (``cubeeco.kernels.groupby`` moments, driven by ``cubeeco.ops.scale``),
followed by an elementwise assignment (``cell_assign``) that calls the same Eq. 1
helper as the elementwise ufunc ``npp_downscale``.
"""

from __future__ import annotations

import numpy as np

from ._gufunc import jit, lazy_gufunc
from .indices import lazy_vectorize

# per-cell statistics, in this order along the "stat" axis
N_VALID, N_VEG, SUM_B, SUM_BG_DESTROYED = 0, 1, 2, 3
N_STATS = 4

VCS_ORGANIC_MATTER = 2.2  # g organic matter per g C (seed 002 Eq. 2)
VCS_CO2 = 1.63  # g CO2 per g organic matter (seed 002 Eq. 2)


@jit
def _downscale(npp_b, npp_bg, s, s_veg, vegetated):
    """Eq. 1 for one 30 m pixel; NaN if an input is missing or S_veg == 0 on a vegetated pixel."""
    if np.isnan(vegetated) or np.isnan(npp_b) or np.isnan(s):
        return np.nan
    if vegetated <= 0.0:
        return 0.0
    destroyed = s - s_veg
    # a cell without destroyed pixels does not need NPP_bg (a NaN there must not leak in)
    bg_term = npp_bg * destroyed if destroyed != 0.0 else 0.0
    num = npp_b * s - bg_term
    safe = s_veg if s_veg != 0.0 else 1.0
    q = num / safe
    return q if s_veg != 0.0 else np.nan


@lazy_vectorize(
    ["float32(float32, float32, float32, float32, float32)", "float64(float64, float64, float64, float64, float64)"]
)
def npp_downscale(npp_b, npp_bg, s, s_veg, vegetated):
    """Eq. 1 (seed 002) elementwise: NPP_b, NPP_bg, cell area S, vegetated area S_veg, flag.

    ``vegetated`` > 0 marks a vegetated pixel, 0 a destroyed one, NaN missing.
    """
    return _downscale(np.float64(npp_b), np.float64(npp_bg), np.float64(s), np.float64(s_veg),
                      np.float64(vegetated))


@jit
def _cell_assign(ids, vegetated, npp_b, stats, out):
    n_cells = stats.shape[2]
    for i in range(ids.shape[0]):
        c = ids[i]
        for lvl in range(vegetated.shape[0]):
            if c < 0 or c >= n_cells or np.isnan(npp_b[lvl, i]):
                out[lvl, i] = np.nan
                continue
            s = stats[lvl, N_VALID, c]
            s_veg = stats[lvl, N_VEG, c]
            n_destroyed = s - s_veg
            b_mean = stats[lvl, SUM_B, c] / s if s > 0.0 else np.nan
            bg_mean = stats[lvl, SUM_BG_DESTROYED, c] / n_destroyed if n_destroyed > 0.0 else 0.0
            out[lvl, i] = _downscale(b_mean, bg_mean, s, s_veg, np.float64(vegetated[lvl, i]))


def cell_assign(ids, vegetated, stats, npp_b):
    """NPP_a (L, N) from the per-cell table (L, N_STATS, n_cells) (Eq. 1).

    The table holds per cell: valid pixel count, vegetated count, Σ NPP_b and Σ NPP_bg
    over destroyed pixels (slots ``N_VALID, N_VEG, SUM_B, SUM_BG_DESTROYED``).

    NPP_b and NPP_bg of a cell are their means over its valid pixels (over its destroyed
    pixels for NPP_bg): with the nearest-resampled constant-per-cell inputs of the study
    this is Eq. 1 exactly, and the cell total is conserved in general.  Pixels whose own
    NPP_b or flag is NaN stay NaN.
    """
    out = np.empty(vegetated.shape, dtype=npp_b.dtype)
    _cell_assign(np.ascontiguousarray(ids, dtype=np.int64), vegetated, npp_b, stats, out)
    return out


@lazy_vectorize(["float32(float32, float64)", "float64(float64, float64)"])
def scale_by(x, factor):
    """x · factor (VCS = NPP · 2.2 · 1.63, seed 002 Eq. 2)."""
    return np.float64(x) * factor


@jit
def _disturbance(ndvi, years, threshold, persistence, fill):
    """First persistent vegetated->bare year T_D, then the first persistent bare->vegetated T_R."""
    seen_veg = False
    run = 0
    start = -1
    td = -1
    tr = -1
    for i in range(ndvi.shape[0]):
        v = ndvi[i]
        if np.isnan(v):  # missing years are skipped: they neither break nor extend a run
            continue
        bare = v < threshold
        if td < 0:
            if not bare:
                seen_veg = True
                run = 0
            elif seen_veg:
                if run == 0:
                    start = i
                run += 1
                if run >= persistence:
                    td = start
                    run = 0
        else:
            if bare:
                run = 0
            else:
                if run == 0:
                    start = i
                run += 1
                if run >= persistence:
                    tr = start
                    break
    d = years[td] if td >= 0 else fill
    r = years[tr] if tr >= 0 else fill
    return d, r


@lazy_gufunc(
    [
        "void(float32[:], int64[:], float64, int64, int64, int32[:], int32[:])",
        "void(float64[:], int64[:], float64, int64, int64, int32[:], int32[:])",
    ],
    "(t),(t),(),(),()->(),()",
)
def disturbance_years(ndvi, years, threshold, persistence, fill, destruction, restoration):
    """Destruction and restoration years of one pixel's annual max-NDVI series.

    Vegetated: NDVI >= threshold; bare: NDVI < threshold (NaN years skipped).  T_D is the
    first year of ``persistence`` consecutive bare observations after at least one
    vegetated one; T_R the first year after T_D that starts ``persistence`` consecutive
    vegetated observations.  ``fill`` where there is none.
    """
    d, r = _disturbance(ndvi, years, threshold, persistence, fill)
    destruction[0] = d
    restoration[0] = r


# ------------------------------------------------------------------ exact MODIS cells (seed 002 Eq. 1)
@jit
def _cell_counts(rel, vegetated, n_rel, count_pixels, counts, npix):
    for i in range(rel.shape[0]):
        c = rel[i]
        if c < 0:
            continue
        if count_pixels:
            npix[c] += 1
        for t in range(vegetated.shape[0]):
            v = vegetated[t, i]
            if not np.isnan(v):
                counts[0, t, c] += 1.0
                if v > 0.0:
                    counts[1, t, c] += 1.0
                    counts[2, t, c] += v


def cell_counts(rel, vegetated, n_rel, count_pixels=True):
    """Per-cell pixel counts of one block: ``rel`` (N,) cell index local to the block
    (-1: none), ``vegetated`` (T, N) flags (> 0 vegetated -- the value is the pixel's
    weight within its cell, 1 for the study's uniform Eq. 1 --, 0 destroyed, NaN unknown).

    Returns float64 ``counts`` (3, T, n_rel) -- pixels with a flag, vegetated pixels, the
    sum of the vegetated pixels' weights -- and int32 ``npix`` (n_rel,) pixels per cell
    (zeros unless ``count_pixels``).  Only the cells the block touches are counted, so the
    tables stay block-sized whatever the window.
    """
    counts = np.zeros((3, vegetated.shape[0], n_rel), dtype=np.float64)
    npix = np.zeros(n_rel, dtype=np.int32)
    _cell_counts(np.ascontiguousarray(rel, dtype=np.int64), vegetated, int(n_rel), bool(count_pixels), counts, npix)
    return counts, npix


@jit
def _cell_eq1(pos, vegetated, npp_b, npp_bg, s, s_veg, w_veg, clip, out):
    for i in range(pos.shape[0]):
        c = pos[i]
        for t in range(vegetated.shape[0]):
            if c < 0:
                out[0, t, i] = np.nan
                out[1, t, i] = np.nan
                out[2, t, i] = np.nan
                continue
            b = npp_b[t, c]
            v = np.float64(vegetated[t, i])
            a = _downscale(np.float64(b), np.float64(npp_bg[t, c]), np.float64(s[t, c]),
                           np.float64(s_veg[t, c]), v)
            if v > 0.0 and w_veg[t, c] > 0.0:
                # the cell's vegetated NPP shared by weight: w / mean weight (1 for uniform weights)
                a = a * v * s_veg[t, c] / w_veg[t, c]
            if clip and a < 0.0:
                # Eq. 1 goes negative only where NPP_bg·(S - S_veg) > NPP_b·S, i.e. the
                # background estimate exceeds what the cell holds; that carbon is dropped
                # and counted by the reduction (n_negative), not spread to other pixels
                a = 0.0
            out[0, t, i] = a
            out[1, t, i] = npp_bg[t, c]
            out[2, t, i] = b


def cell_eq1(pos, vegetated, npp_b, npp_bg, s, s_veg, w_veg=None, dtype=np.float32, clip_negative=False):
    """Eq. 1 per pixel from its cell's row of the per-cell tables (seed 002).

    ``pos`` (N,) the pixel's column in the (T, C) tables (-1: none), ``vegetated`` (T, N)
    flags (> 0 vegetated, its value the pixel's weight; 0 destroyed), ``npp_b`` / ``npp_bg``
    (T, C) the cell's NPP and background, ``s`` / ``s_veg`` (T, C) its pixels with a flag
    and vegetated ones, ``w_veg`` (T, C) the vegetated pixels' weight sum (None: S_veg,
    uniform weights).  A vegetated pixel gets (NPP_b·S - NPP_bg·(S - S_veg)) · w / W_veg:
    with unit weights the study's Eq. 1; any weights keep the cell's total.  Returns
    (3, T, N): NPP_a (0 on destroyed pixels, NaN where the flag or NPP_b is missing or
    S_veg = 0 on a vegetated pixel), the cell's NPP_bg, the cell's NPP_b; NaN for pixels
    without a cell.  ``clip_negative``: a negative NPP_a (the cell's background exceeds
    its NPP) becomes 0.
    """
    if w_veg is None:
        w_veg = np.asarray(s_veg, dtype=np.float64)
    out = np.empty((3, vegetated.shape[0], pos.shape[0]), dtype=dtype)
    _cell_eq1(np.ascontiguousarray(pos, dtype=np.int64), vegetated, npp_b, npp_bg, s, s_veg,
              np.asarray(w_veg, dtype=np.float64), bool(clip_negative), out)
    return out


# ------------------------------------------------------------------ regression sub-cell weights
# Per-cell sums of the covariate and of the weights must not depend on how the pixels are
# blocked (one chunk = many, bit for bit).  Summands are therefore rounded to a fixed grid
# (multiples of 2**-QUANT_BITS): such float64 numbers add exactly, in any order, while a
# cell's sum stays below 2**(53 - QUANT_BITS) (~5.4e8 for QUANT_BITS = 24: NDVI or NPP in
# g C m-2 yr-1 over the ~250 pixels of a 500 m cell stay far below).
QUANT_BITS = 24
_QUANT = float(2 ** QUANT_BITS)


@jit
def _quantize(x):
    return np.rint(x * _QUANT) / _QUANT


@jit
def _cell_covariate(rel, vegetated, covariate, sums):
    for i in range(rel.shape[0]):
        c = rel[i]
        if c < 0:
            continue
        for t in range(vegetated.shape[0]):
            v = vegetated[t, i]
            x = covariate[t, i]
            if v > 0.0 and not np.isnan(x):    # NaN flags compare False: skipped
                sums[0, t, c] += 1.0
                sums[1, t, c] += _quantize(np.float64(x))


def cell_covariate_sums(rel, vegetated, covariate, n_rel):
    """Per-cell covariate sums of one block over its vegetated pixels with a covariate.

    ``rel`` (N,) block-local cell index (-1: none), ``vegetated`` (T, N) flags (> 0
    vegetated), ``covariate`` (T, N) e.g. the annual max NDVI (NaN: missing).  Returns
    float64 (2, T, n_rel): the number of such pixels and the sum of their covariate, each
    value rounded to a multiple of 2**-QUANT_BITS so that block sums add exactly.
    """
    sums = np.zeros((2, vegetated.shape[0], int(n_rel)), dtype=np.float64)
    _cell_covariate(np.ascontiguousarray(rel, dtype=np.int64), vegetated, covariate, sums)
    return sums


@jit
def _regression_weight(x, xbar, a, b, floor):
    """w = max(a + b·x, floor), x the pixel's covariate (missing: its cell's mean; none: 1)."""
    if np.isnan(x):
        x = xbar
    if np.isnan(x):
        return 1.0
    w = a + b * x
    # floor > 0 keeps every vegetated pixel vegetated (weight > 0) and the cell sum > 0
    return _quantize(w if w > floor else floor)


@jit
def _regression_weights(pos, vegetated, covariate, xbar, a, b, floor, out):
    for i in range(pos.shape[0]):
        c = pos[i]
        for t in range(vegetated.shape[0]):
            v = vegetated[t, i]
            if np.isnan(v):
                out[t, i] = np.nan
            elif v <= 0.0:
                out[t, i] = 0.0
            elif c < 0:
                out[t, i] = 1.0          # no cell: Eq. 1 gives NaN there anyway
            else:
                out[t, i] = _regression_weight(np.float64(covariate[t, i]), xbar[t, c], a[t], b[t], floor)


def regression_weights(pos, vegetated, covariate, xbar, a, b, floor):
    """Per-pixel sub-cell weights from a per-year affine model of NPP in the covariate.

    ``pos`` (N,) the pixel's column in the (T, C) table ``xbar`` (the cell's mean covariate
    over its vegetated pixels; -1: no cell), ``vegetated`` (T, N) flags, ``covariate``
    (T, N), ``a`` / ``b`` (T,) the year's intercept and slope, ``floor`` > 0.  Returns
    float64 (T, N): max(a + b·x, floor) rounded to a multiple of 2**-QUANT_BITS on
    vegetated pixels (x missing: the cell's mean covariate; the cell has none: 1), 0 on
    destroyed ones, NaN where the flag is missing.  The same numbers are summed per cell
    in the reduction and used in Eq. 1, so each cell's total is kept.
    """
    if not floor > 0.0:
        raise ValueError(f"floor must be > 0 (a vegetated pixel needs a positive weight), got {floor!r}.")
    out = np.empty(vegetated.shape, dtype=np.float64)
    _regression_weights(np.ascontiguousarray(pos, dtype=np.int64), vegetated, covariate,
                        np.ascontiguousarray(xbar, dtype=np.float64), np.ascontiguousarray(a, dtype=np.float64),
                        np.ascontiguousarray(b, dtype=np.float64), float(floor), out)
    return out
