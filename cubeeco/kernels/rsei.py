"""RSEI kernels (seed 000 §3.1, SCIENCE.md §2): numpy / numba only, no xarray or dask.

Block kernels of the global reduction (:mod:`cubeeco.ops.reduce`: ``covariance`` and
``projection_range``) and the per-pixel kernels of :mod:`cubeeco.ops.rsei`.

Feature blocks are ``values`` (L, F, N): L layers (e.g. years), F features (the four
indices), N pixels; ``use`` (Lm, N) bool with Lm in {0, 1, L} (0: no mask, 1: one mask
for every layer); ``lo`` / ``hi`` / ``shift`` (L, F) float64.  A pixel of a layer counts
when every feature is finite and ``use`` is True there.

Min-max normalisation (``normalise=True``): z = clip((x - lo) / (hi - lo), 0, 1), and z = 0
where hi <= lo (a constant feature).  Without it z = x.

Cross-moment table (L, F, 2 + F), float64, per layer and feature f:
``[..., f, 0]`` count n (the same for every f), ``[..., f, 1]`` mean of z_f,
``[..., f, 2 + g]`` co-moment C_fg = Σ (z_f - mean_f)(z_g - mean_g).  A block's sums are
taken about a shift (0.5 for normalised features, the middle of [0, 1]; else the block's
own mean of the counted pixels, from a numpy look at the block) and turned
into (mean, C) per block; blocks merge with Chan et al.'s pairwise formula
(:func:`merge_cross`), so a tree of merges is as accurate as one pass.
"""

from __future__ import annotations

import numpy as np

from ._gufunc import jit, lazy_gufunc

COUNT, MEAN, COMOMENT = 0, 1, 2  # slots along the table's last axis (COMOMENT: first of F)


# ------------------------------------------------------------------ helpers
@jit
def _norm(x, lo, hi):
    """clip((x - lo) / (hi - lo), 0, 1); 0 where hi <= lo (no division by zero evaluated)."""
    d = hi - lo
    ok = d > 0.0
    safe = d if ok else 1.0
    z = (x - lo) / safe
    if not ok:
        z = 0.0
    if z < 0.0:
        z = 0.0
    if z > 1.0:
        z = 1.0
    return z


@jit
def _features(v, ly, i, lo, hi, normalise, z):
    """The (normalised) features of pixel ``i`` of layer ``ly`` into ``z``; False if one is not finite."""
    for f in range(v.shape[1]):
        x = np.float64(v[ly, f, i])
        if not np.isfinite(x):
            return False
        z[f] = _norm(x, lo[ly, f], hi[ly, f]) if normalise else x
    return True


@jit
def _cross_sums(v, use, lo, hi, shift, normalise, z, out):
    L, F, N = v.shape
    Lm = use.shape[0]
    for ly in range(L):
        lm = ly if Lm > 1 else 0
        for i in range(N):
            if Lm > 0 and not use[lm, i]:
                continue
            if not _features(v, ly, i, lo, hi, normalise, z):
                continue
            for f in range(F):
                z[f] -= shift[ly, f]
            for f in range(F):
                out[ly, f, 0] += 1.0
                out[ly, f, 1] += z[f]
                for g in range(F):
                    out[ly, f, 2 + g] += z[f] * z[g]


@jit
def _proj_range(v, use, lo, hi, w, normalise, z, out):
    L, F, N = v.shape
    Lm = use.shape[0]
    for ly in range(L):
        lm = ly if Lm > 1 else 0
        mn = np.inf
        mx = -np.inf
        for i in range(N):
            if Lm > 0 and not use[lm, i]:
                continue
            if not _features(v, ly, i, lo, hi, normalise, z):
                continue
            s = 0.0
            for f in range(F):
                s += w[ly, f] * z[f]
            mn = min(mn, s)
            mx = max(mx, s)
        out[ly, 0] = mn if mn <= mx else np.nan
        out[ly, 1] = mx if mn <= mx else np.nan


def _prep(values, use, lo, hi):
    values = np.ascontiguousarray(values)
    if values.dtype.kind != "f":
        values = values.astype(np.float64)
    L, F, N = values.shape
    use = np.zeros((0, N), dtype=np.bool_) if use is None else np.ascontiguousarray(use, dtype=np.bool_)
    if use.ndim != 2 or use.shape[1] != N or use.shape[0] not in (0, 1, L):
        raise ValueError(f"use must have shape (0|1|{L}, {N}), got {use.shape}")
    normalise = lo is not None
    lo = np.zeros((L, F)) if lo is None else np.ascontiguousarray(np.broadcast_to(lo, (L, F)), dtype=np.float64)
    hi = np.ones((L, F)) if hi is None else np.ascontiguousarray(np.broadcast_to(hi, (L, F)), dtype=np.float64)
    return values, use, lo, hi, normalise


# ------------------------------------------------------------------ cross moments (chunk, combine)
def empty_cross(n_layers: int, n_features: int) -> np.ndarray:
    return np.zeros((n_layers, n_features, 2 + n_features))


def cross_moments(values, use=None, lo=None, hi=None) -> np.ndarray:
    """Cross-moment table (L, F, 2 + F) of one block (see the module docstring).

    ``lo`` / ``hi`` None: the features are used as they are (sums about 0), else min-max
    normalised and clipped to [0, 1] (sums about 0.5).
    """
    values, use, lo, hi, normalise = _prep(values, use, lo, hi)
    L, F, _ = values.shape
    if normalise:
        shift = np.full((L, F), 0.5)
    else:  # sums about the block's own mean (a first numpy look), as well conditioned as a two-pass sum
        with np.errstate(all="ignore"):
            ok = np.all(np.isfinite(values), axis=1, keepdims=True)
            if use.shape[0]:
                ok &= use[:, None, :]
            n = ok.sum(axis=2)
            shift = np.where(n > 0, np.where(ok, values, 0).sum(axis=2, dtype=np.float64) / np.maximum(n, 1), 0.0)
        shift = np.ascontiguousarray(shift)
    sums = empty_cross(L, F)
    _cross_sums(values, use, lo, hi, shift, normalise, np.empty(F), sums)
    n = sums[:, :, 0]
    safe = np.where(n > 0, n, 1.0)
    s1 = sums[:, :, 1] / safe  # mean about the shift
    out = np.empty_like(sums)
    out[:, :, 0] = n
    out[:, :, 1] = np.where(n > 0, s1 + shift, 0.0)
    c = sums[:, :, 2:] - n[:, :, None] * s1[:, :, None] * s1[:, None, :]
    out[:, :, 2:] = np.where(n[:, :, None] > 0, c, 0.0)
    return out


def merge_cross(a, b) -> np.ndarray:
    """Two cross-moment tables (..., F, 2 + F) combined (Chan et al.): exact counts."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = a[..., 0, 0], b[..., 0, 0]
    n = na + nb
    safe = np.where(n > 0, n, 1.0)
    ma, mb = a[..., :, 1], b[..., :, 1]
    delta = mb - ma
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., :, 0] = n[..., None]
    out[..., :, 1] = np.where(n[..., None] > 0, ma + delta * (nb / safe)[..., None], 0.0)
    f = (na * nb / safe)[..., None, None]
    out[..., :, 2:] = a[..., :, 2:] + b[..., :, 2:] + delta[..., :, None] * delta[..., None, :] * f
    return out


def projection_range(values, w, use=None, lo=None, hi=None) -> np.ndarray:
    """(L, 2) min and max over counted pixels of Σ_f w[l, f] z_f (NaN where none)."""
    values, use, lo, hi, normalise = _prep(values, use, lo, hi)
    L, F, _ = values.shape
    w = np.ascontiguousarray(np.broadcast_to(np.asarray(w, dtype=np.float64), (L, F)))
    out = np.empty((L, 2))
    _proj_range(values, use, lo, hi, w, normalise, np.empty(values.shape[1]), out)
    return out


# ------------------------------------------------------------------ per-pixel kernels
def _pixel_sigs():
    out = []
    for t in ("float32", "float64"):
        out.append(f"void({t}, {t}, {t}, {t}, boolean, float64[:], float64[:], float64[:], float64, float64, "
                   f"{t}[:], {t}[:])")
    return out


@lazy_gufunc(_pixel_sigs(), "(),(),(),(),(),(k),(k),(k),(),()->(),()", split_on=0)
def rsei_pixel(ndvi, wet, ndbsi, lst, use, lo, hi, w, smin, smax, rsei0, rsei):
    """PC1 score ``rsei0 = Σ w_f z_f`` of the normalised indices and ``rsei`` (its min-max
    stretch by ``smin`` / ``smax``); NaN where an index is not finite or ``use`` is False,
    and ``rsei`` NaN where smax <= smin."""
    x0 = np.float64(ndvi)
    x1 = np.float64(wet)
    x2 = np.float64(ndbsi)
    x3 = np.float64(lst)
    if not (use and np.isfinite(x0) and np.isfinite(x1) and np.isfinite(x2) and np.isfinite(x3)):
        rsei0[0] = np.nan
        rsei[0] = np.nan
        return
    s = (w[0] * _norm(x0, lo[0], hi[0]) + w[1] * _norm(x1, lo[1], hi[1])
         + w[2] * _norm(x2, lo[2], hi[2]) + w[3] * _norm(x3, lo[3], hi[3]))
    rsei0[0] = s
    d = smax - smin
    ok = d > 0.0
    r = (s - smin) / (d if ok else 1.0)
    rsei[0] = r if ok else np.nan


@lazy_gufunc(["void(float32, float64[:], int8[:])", "void(float64, float64[:], int8[:])"], "(),(k)->()",
             split_on=0)
def grade(value, edges, out):
    """Grade 1 + #(edges < value) (right-closed classes: 0.2 is grade 1); NaN -> 0 (nodata)."""
    v = np.float64(value)
    if not np.isfinite(v):
        out[0] = 0
        return
    g = 1
    for e in edges:
        if v > e:
            g += 1
    out[0] = g


__all__ = ["COUNT", "COMOMENT", "MEAN", "cross_moments", "empty_cross", "grade", "merge_cross",
           "projection_range", "rsei_pixel"]
