"""Obvious numpy versions of the grouped kernels (cubeeco.kernels.groupby), one group at a time."""

from __future__ import annotations

import numpy as np

from cubeeco.kernels.groupby import M2, MAX, MEAN, MIN, N_MOMENTS, SUM, WEIGHT, N


def _layers(values):
    values = np.asarray(values, dtype=np.float64)
    return values[None, :] if values.ndim == 1 else values


def _members(labels, v, weights, g):
    w = np.ones(v.shape, dtype=np.float64) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = (np.asarray(labels) == g) & ~np.isnan(v) & (w > 0)
    return v[keep], w[keep]


def group_moments(labels, values, n_groups, weights=None):
    values = _layers(values)
    out = np.zeros((values.shape[0], N_MOMENTS, n_groups))
    out[:, MIN:MAX + 1] = np.nan
    for lyr, v in enumerate(values):
        for g in range(n_groups):
            x, w = _members(labels, v, weights, g)
            if x.size == 0:
                continue
            mean = np.average(x, weights=w)
            out[lyr, N, g] = x.size
            out[lyr, WEIGHT, g] = w.sum()
            out[lyr, SUM, g] = np.sum(w * x)
            out[lyr, MEAN, g] = mean
            out[lyr, M2, g] = np.sum(w * (x - mean) ** 2)
            out[lyr, MIN, g] = x.min()
            out[lyr, MAX, g] = x.max()
    return out


def bincount_sums(labels, values, n_groups):
    """Σ v and count per group of one layer by np.bincount (the textbook way)."""
    labels = np.asarray(labels)
    v = np.asarray(values, dtype=np.float64)
    ok = (labels >= 0) & (labels < n_groups) & ~np.isnan(v)
    return (np.bincount(labels[ok], weights=v[ok], minlength=n_groups),
            np.bincount(labels[ok], minlength=n_groups).astype(np.float64))


def group_stat(labels, values, n_groups, stat, weights=None, ddof=0):
    values = _layers(values)
    out = np.full((values.shape[0], n_groups), np.nan)
    for lyr, v in enumerate(values):
        for g in range(n_groups):
            x, w = _members(labels, v, weights, g)
            if stat in ("count", "weight", "sum"):
                out[lyr, g] = {"count": x.size, "weight": w.sum(), "sum": np.sum(w * x)}[stat]
            elif x.size == 0:
                continue
            elif stat == "mean":
                out[lyr, g] = np.average(x, weights=w)
            elif stat in ("var", "std"):
                dof = w.sum() - ddof
                if dof > 0:
                    var = np.sum(w * (x - np.average(x, weights=w)) ** 2) / dof
                    out[lyr, g] = np.sqrt(var) if stat == "std" else var
            else:
                out[lyr, g] = getattr(x, stat)()
    return out


def group_histogram(labels, values, n_groups, edges):
    """Counts per group with explicit per-(layer, group) edges (L, n_groups, nbins + 1)."""
    values = _layers(values)
    nbins = edges.shape[-1] - 1
    out = np.zeros((values.shape[0], n_groups, nbins), dtype=np.int64)
    for lyr, v in enumerate(values):
        for g in range(n_groups):
            x, _ = _members(labels, v, None, g)
            e = edges[lyr, g]
            x = x[(x >= e[0]) & (x <= e[-1])]
            b = np.searchsorted(e, x, side="right") - 1
            np.add.at(out[lyr, g], np.minimum(b, nbins - 1), 1)
    return out


def group_quantiles(labels, values, n_groups, q):
    """np.nanquantile per layer and group: (L, len(q), n_groups), NaN for an empty group."""
    values = _layers(values)
    q = np.atleast_1d(q)
    out = np.full((values.shape[0], len(q), n_groups), np.nan)
    for lyr, v in enumerate(values):
        for g in range(n_groups):
            x, _ = _members(labels, v, None, g)
            if x.size:
                out[lyr, :, g] = np.quantile(x, q)
    return out
