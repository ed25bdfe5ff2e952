"""Grouped reductions by an integer label: the chunk / combine / finalize kernels.

numbagg-style ``group_*`` kernels over flat arrays: ``labels`` (N,) of integer group
indices and ``values`` (L, N) (L independent layers, e.g. years; a 1-D ``values`` is one
layer).  A label < 0 or >= ``n_groups`` is outside every group.  NaN values are not
counted.  Nothing here knows about dask: :mod:`cubeeco.ops.reduce` runs ``group_moments``
per block and folds the partial tables with ``merge_moments`` (flox's chunk -> combine ->
finalize), and drives the exact-quantile passes with ``group_histogram`` and
``group_select``.

Moment table, float64 (L, N_MOMENTS, n_groups), slots along axis 1:

* ``N``      number of values counted, ``WEIGHT`` sum of their weights, ``SUM`` sum w·v;
* ``MEAN``, ``M2`` weighted running mean and sum of w·(v - mean)² (West 1979; combined
  with Chan et al.'s parallel formula), 0 in a group with nothing counted so that
  merging needs no special case;
* ``MIN``, ``MAX`` over the counted values, NaN where there is none.

Outputs are allocated by the Python wrappers (helpers compile without the NRT, see
``_gufunc``); the numba helpers compile on their first call.
"""

from __future__ import annotations

import numpy as np

from ._gufunc import jit

N, WEIGHT, SUM, MEAN, M2, MIN, MAX = range(7)
N_MOMENTS = 7

STATS = ("count", "weight", "sum", "mean", "var", "std", "min", "max")


# ------------------------------------------------------------------ input shaping
def _labels(labels):
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be an integer array, got dtype {labels.dtype}")
    return np.ascontiguousarray(labels.ravel())


def _values(values, n):
    values = np.asarray(values)
    if values.dtype.kind != "f":
        values = values.astype(np.float64)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] != n:
        raise ValueError(f"values must have shape (L, {n}) or ({n},), got {values.shape}")
    return np.ascontiguousarray(values)


def _bounds(b, n_layers, n_groups, name):
    b = np.asarray(b, dtype=np.float64)
    if b.ndim < 2:
        b = np.broadcast_to(b.reshape((1,) * (2 - b.ndim) + b.shape), (n_layers, n_groups))
    if b.shape != (n_layers, n_groups):
        raise ValueError(f"{name} must have shape ({n_layers}, {n_groups}), got {b.shape}")
    return np.ascontiguousarray(b)


# ------------------------------------------------------------------ moments
@jit
def _group_moments(labels, values, weights, out):
    n_groups = out.shape[2]
    for lyr in range(values.shape[0]):
        o = out[lyr]
        for i in range(labels.shape[0]):
            g = labels[i]
            if g < 0 or g >= n_groups:
                continue
            v = np.float64(values[lyr, i])
            w = weights[i]
            if np.isnan(v) or not (w > 0.0):
                continue
            cnt = o[N, g]
            o[N, g] = cnt + 1.0
            o[SUM, g] += w * v
            wsum = o[WEIGHT, g] + w
            o[WEIGHT, g] = wsum
            delta = v - o[MEAN, g]
            mean = o[MEAN, g] + delta * (w / wsum)
            o[MEAN, g] = mean
            o[M2, g] += w * delta * (v - mean)
            if cnt == 0.0 or v < o[MIN, g]:
                o[MIN, g] = v
            if cnt == 0.0 or v > o[MAX, g]:
                o[MAX, g] = v


def empty_moments(n_layers, n_groups) -> np.ndarray:
    """The moment table of no values: the identity of :func:`merge_moments`."""
    out = np.zeros((int(n_layers), N_MOMENTS, int(n_groups)), dtype=np.float64)
    out[:, MIN:MAX + 1] = np.nan
    return out


def group_moments(labels, values, n_groups, weights=None) -> np.ndarray:
    """Moment table float64 (L, N_MOMENTS, n_groups) of ``values`` grouped by ``labels``.

    ``labels`` integer (N,); ``values`` float (L, N) or (N,); ``weights`` (N,) shared by
    every layer, or None (all 1).  NaN values and weights <= 0 (or NaN) are skipped.
    """
    labels = _labels(labels)
    values = _values(values, labels.shape[0])
    if weights is None:
        weights = np.ones(labels.shape[0], dtype=np.float64)
    else:
        weights = np.ascontiguousarray(np.asarray(weights, dtype=np.float64).ravel())
        if weights.shape != labels.shape:
            raise ValueError(f"weights must have shape {labels.shape}, got {weights.shape}")
    out = np.zeros((values.shape[0], N_MOMENTS, int(n_groups)), dtype=np.float64)
    _group_moments(labels, values, weights, out)
    out[:, MIN:MAX + 1][out[:, N:N + 1].repeat(2, axis=1) == 0] = np.nan
    return out


def merge_moments(a, b) -> np.ndarray:
    """Moment table of the union of the values behind two tables (Chan et al. 1979).

    Exact for N, WEIGHT, SUM, MIN, MAX; MEAN and M2 by the pairwise update, which keeps
    a tree of merges as accurate as one pass.  An empty side returns the other unchanged.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=np.float64)
    wa, wb = a[:, WEIGHT], b[:, WEIGHT]
    w = wa + wb
    out[:, N] = a[:, N] + b[:, N]
    out[:, WEIGHT] = w
    out[:, SUM] = a[:, SUM] + b[:, SUM]
    with np.errstate(invalid="ignore", divide="ignore"):
        fb = np.where(w > 0, wb / w, 0.0)  # exactly 1 when a is empty, 0 when b is
        delta = b[:, MEAN] - a[:, MEAN]
        out[:, MEAN] = a[:, MEAN] + delta * fb
        out[:, M2] = a[:, M2] + b[:, M2] + delta * delta * wa * fb
    out[:, MIN] = np.fmin(a[:, MIN], b[:, MIN])
    out[:, MAX] = np.fmax(a[:, MAX], b[:, MAX])
    return out


def finalize(moments, stat: str, ddof=0) -> np.ndarray:
    """One statistic (L, n_groups) from a moment table.

    ``count`` (= N), ``weight`` and ``sum`` are 0 in an empty group; ``mean``, ``var``,
    ``std``, ``min``, ``max`` are NaN there.  ``var`` = M2 / (WEIGHT - ddof) (frequency
    weights; with unit weights the usual ddof), NaN where WEIGHT - ddof <= 0.
    """
    m = np.asarray(moments, dtype=np.float64)
    w = m[:, WEIGHT]
    if stat == "count":
        return m[:, N].copy()
    if stat == "weight":
        return w.copy()
    if stat == "sum":
        return m[:, SUM].copy()
    if stat == "mean":
        return np.where(w > 0, m[:, MEAN], np.nan)
    if stat in ("var", "std"):
        dof = w - ddof
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where((w > 0) & (dof > 0), np.maximum(m[:, M2], 0.0) / np.where(dof > 0, dof, 1.0), np.nan)
        return np.sqrt(var) if stat == "std" else var
    if stat == "min":
        return np.where(w > 0, m[:, MIN], np.nan)
    if stat == "max":
        return np.where(w > 0, m[:, MAX], np.nan)
    raise ValueError(f"unknown statistic {stat!r}; expected one of {STATS}")


# ------------------------------------------------------------------ histogram / select
@jit
def _edge(lo, hi, k, nbins):
    # the one formula for bin edges: the histogram and the quantile passes must agree
    # to the last bit on which bin a value is in
    if k >= nbins:
        return hi
    e = lo + (hi - lo) * (k / nbins)
    return e if e < hi else hi  # rounding must not push an edge past hi: edges stay monotone


@jit
def _bin_of(v, lo, hi, nbins):
    # bin b holds [edge(b), edge(b+1)), the last one [edge(nbins-1), hi]
    span = hi - lo
    b = int((v - lo) * (nbins / span)) if span > 0.0 else 0
    if b < 0:
        b = 0
    if b > nbins - 1:
        b = nbins - 1
    while b > 0 and v < _edge(lo, hi, b, nbins):  # the float estimate may be one off
        b -= 1
    while b < nbins - 1 and v >= _edge(lo, hi, b + 1, nbins):
        b += 1
    return b


@jit
def _bin_edges(lo, hi, nbins, out):
    for lyr in range(lo.shape[0]):
        for g in range(lo.shape[1]):
            for k in range(nbins + 1):
                out[lyr, g, k] = _edge(lo[lyr, g], hi[lyr, g], k, nbins)


def bin_edges(lo, hi, nbins) -> np.ndarray:
    """Edges float64 (L, n_groups, nbins + 1) of :func:`group_histogram`'s bins, bit for bit."""
    lo = np.ascontiguousarray(np.asarray(lo, dtype=np.float64))
    hi = np.ascontiguousarray(np.asarray(hi, dtype=np.float64))
    out = np.empty(lo.shape + (int(nbins) + 1,), dtype=np.float64)
    _bin_edges(lo, hi, int(nbins), out)
    return out


@jit
def _group_histogram(labels, values, lo, hi, out):
    n_groups = out.shape[1]
    nbins = out.shape[2]
    for lyr in range(values.shape[0]):
        for i in range(labels.shape[0]):
            g = labels[i]
            if g < 0 or g >= n_groups:
                continue
            v = np.float64(values[lyr, i])
            a = lo[lyr, g]
            b = hi[lyr, g]
            if not (v >= a and v <= b):  # NaN, outside, or an empty range (NaN bounds)
                continue
            out[lyr, g, _bin_of(v, a, b, nbins)] += 1


def group_histogram(labels, values, n_groups, lo, hi, nbins) -> np.ndarray:
    """Counts int64 (L, n_groups, nbins) of ``values`` in per-group bins.

    Layer l, group g has ``nbins`` bins between ``lo[l, g]`` and ``hi[l, g]`` (arrays
    (L, n_groups), scalars broadcast): bin k holds ``edges[k] <= v < edges[k + 1]`` with
    the edges of :func:`bin_edges`, and values equal to ``hi`` are in the last bin.
    Values outside [lo, hi], NaN values and groups with NaN bounds are not counted.
    """
    labels = _labels(labels)
    values = _values(values, labels.shape[0])
    n_layers = values.shape[0]
    lo = _bounds(lo, n_layers, int(n_groups), "lo")
    hi = _bounds(hi, n_layers, int(n_groups), "hi")
    out = np.zeros((n_layers, int(n_groups), int(nbins)), dtype=np.int64)
    _group_histogram(labels, values, lo, hi, out)
    return out


@jit
def _group_select(labels, values, lo, hi, gi, li, vo):
    # gi is None-free: count-only when gi has length 0
    n_groups = lo.shape[1]
    fill = gi.shape[0] > 0
    k = 0
    for lyr in range(values.shape[0]):
        for i in range(labels.shape[0]):
            g = labels[i]
            if g < 0 or g >= n_groups:
                continue
            v = np.float64(values[lyr, i])
            if v >= lo[lyr, g] and v <= hi[lyr, g]:
                if fill:
                    gi[k] = g
                    li[k] = lyr
                    vo[k] = v
                k += 1
    return k


def group_select(labels, values, n_groups, lo, hi):
    """The values with ``lo[l, g] <= v <= hi[l, g]``: (group_index, layer_index, value).

    ``group_index`` and ``layer_index`` int64, ``value`` float64, in input order.  Used
    to collect the few candidates of the exact order statistics; a NaN bound (or
    lo > hi) selects nothing in that group.
    """
    labels = _labels(labels)
    values = _values(values, labels.shape[0])
    n_layers = values.shape[0]
    lo = _bounds(lo, n_layers, int(n_groups), "lo")
    hi = _bounds(hi, n_layers, int(n_groups), "hi")
    none_i = np.empty(0, dtype=np.int64)
    n = _group_select(labels, values, lo, hi, none_i, none_i, np.empty(0, dtype=np.float64))
    gi = np.empty(n, dtype=np.int64)
    li = np.empty(n, dtype=np.int64)
    vo = np.empty(n, dtype=np.float64)
    if n:
        _group_select(labels, values, lo, hi, gi, li, vo)
    return gi, li, vo
