"""Plain numpy RSEI (seed 000 Eqs. 12-13), one year or all years pooled, for tests.

min-max normalise each index over the valid pixels (or clip at np.percentile), np.cov of the
four normalised indices, np.linalg.eigh, PC1 (largest eigenvalue) oriented so that its NDVI
loading is positive, PC1 score, (score - min) / (max - min).
"""

from __future__ import annotations

import numpy as np


def rsei_ref(ndvi, wet, ndbsi, lst, mask=None, clip=None):
    """Arrays of any one shape (all of them pooled).  Returns dict of rsei, rsei0, loading (4,),
    eigenvalues (4,), contribution (PC1 share), lo, hi, mean (normalised), count."""
    x = np.stack([np.asarray(a, dtype=np.float64).ravel() for a in (ndvi, wet, ndbsi, lst)])
    ok = np.all(np.isfinite(x), axis=0)
    if mask is not None:
        ok &= np.broadcast_to(np.asarray(mask, bool), np.shape(ndvi)).ravel()
    xv = x[:, ok]
    if clip is None:
        lo, hi = xv.min(axis=1), xv.max(axis=1)
    else:
        lo, hi = np.percentile(xv, clip[0], axis=1), np.percentile(xv, clip[1], axis=1)
    span = np.where(hi > lo, hi - lo, 1.0)
    z = np.clip((xv - lo[:, None]) / span[:, None], 0, 1)
    z[hi <= lo] = 0.0
    cov = np.cov(z)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    pc1 = vecs[:, 0] * (1.0 if vecs[0, 0] > 0 else -1.0)
    score = pc1 @ z
    smin, smax = score.min(), score.max()
    r = np.full(x.shape[1], np.nan)
    r0 = np.full(x.shape[1], np.nan)
    r0[ok] = score
    r[ok] = (score - smin) / (smax - smin)
    shape = np.shape(ndvi)
    return {"rsei": r.reshape(shape), "rsei0": r0.reshape(shape), "loading": pc1, "eigenvalues": vals,
            "contribution": vals[0] / vals.sum(), "lo": lo, "hi": hi, "mean": z.mean(axis=1), "count": int(ok.sum()),
            "cov": cov, "rsei_mean": float(np.mean((score - smin) / (smax - smin)))}


def grades_ref(r, edges=(0.2, 0.4, 0.6, 0.8)):
    r = np.asarray(r)
    e = np.asarray(edges, dtype=np.float64).astype(r.dtype)  # classes in the data's precision
    g = np.searchsorted(e, r, side="left") + 1
    return np.where(np.isfinite(r), g, 0).astype(np.int8)
