"""Grouped reductions by a label raster: the one two-pass engine for numpy and dask.

Every "reduce values by an integer label" of the package (per class, per coarse cell,
per mine, per stratum) goes through here, on the kernels of
:mod:`cubeeco.kernels.groupby`.  The split is flox's chunk -> combine -> finalize:

* chunk: ``group_moments`` (or ``group_histogram``) on each block, flattened to
  (layers, pixels), via ``dask.array.blockwise``; the block's reduced axes become 1;
* combine: a tree over those axes (``dask.array.reduction``), ``merge_moments`` for moment
  tables (Chan's parallel formula), ``+`` for histograms;
* finalize: ``finalize(table, stat)`` on the small (..., moment, group) table.

Arguments shared by the functions
---------------------------------
values
    DataArray (numpy or dask backed), or a numpy / dask array.
labels
    Integer DataArray over a subset of ``values``' dims (e.g. (y, x) while values are
    (time, y, x)); label < 0 or >= ``n_groups`` belongs to no group.  For plain arrays,
    ``labels`` covers the trailing axes of ``values``.  Labels may vary along a kept dim
    (e.g. one class raster per year).
dims
    The dims reduced (summed over); the others are kept as leading result dims.  None:
    the dims of ``labels``; ``...``: every dim of ``values`` (e.g. all months of a class
    together).  For plain arrays: None, ``...`` or a tuple of axis numbers.
weights
    Optional non-negative float array over a subset of ``values``' dims, like labels.

Results are DataArrays (plain arrays for plain input) with the kept dims, then
``moment`` / ``quantile`` (when asked for), then ``group`` (coordinate 0 .. n_groups-1).
Nothing is computed for dask input: every function returns a lazy result, including
:func:`grouped_quantiles`, whose later passes take the earlier passes' small results as
graph dependencies instead of computing them in the call.

Passes (each reads the input once when the result is computed):
``grouped_moments`` / ``grouped_stat``: 1.  ``grouped_quantiles``: 3 -- moments
(count, min, max), a per-group histogram between min and max, then the values in the
bins that hold the needed order statistics (run-length encoded per block, so ties
cost nothing), sorted to read the exact order statistics.  See docs/reductions.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import dask
import dask.array as dsa
import numpy as np
import xarray as xr

from ..kernels import groupby as G

MOMENT_NAMES = ("count", "weight", "sum", "mean", "m2", "min", "max")  # G.N .. G.MAX
_HIST_TABLE_CELLS = 2**21  # histogram cells per block (16 MiB of int64) when nbins is None


# ------------------------------------------------------------------ planning
@dataclass(frozen=True)
class _Layout:
    """What a block function needs to know: small, hashable, no arrays (it rides in the graph)."""

    nk: int  # leading kept axes of a values block
    lpos: tuple  # axes of the labels' dims among the values' axes
    wpos: tuple | None
    n_groups: int
    kept_shape: tuple
    n_layers: int

    def items(self, v, lab, w):
        """Flat (labels (N,), values (L, N), weights) items of one block, layer-stacked.

        One item when labels and weights are constant along the kept axes (the usual
        case: no copy when they already cover the reduced axes), else one per layer.
        """
        nk = self.nk
        kshape = v.shape[:nk]
        n_layers = math.prod(kshape)
        v2 = v.reshape(n_layers, -1)
        lab = _expand(lab, self.lpos, v.ndim)
        w = None if w is None else _expand(w, self.wpos, v.ndim)
        per_layer = any(s != 1 for s in lab.shape[:nk]) or (w is not None and any(s != 1 for s in w.shape[:nk]))
        if not per_layer:
            rshape = v.shape[nk:]
            labf = np.broadcast_to(lab[(0,) * nk], rshape).ravel()
            wf = None if w is None else np.broadcast_to(w[(0,) * nk], rshape).ravel()
            return [(labf, v2, wf)]
        labk = np.broadcast_to(lab, v.shape).reshape(n_layers, -1)
        wk = None if w is None else np.broadcast_to(w, v.shape).reshape(n_layers, -1)
        return [(labk[i], v2[i:i + 1], None if wk is None else wk[i]) for i in range(n_layers)]


def _resolve_dims(values, dims, default) -> tuple:
    """The dims to reduce: ``default`` (None), all of ``values``' (``...``), or those named."""
    if dims is None:
        dims = default
    elif dims is Ellipsis:
        dims = values.dims
    elif isinstance(dims, str):
        dims = (dims,)
    missing = [d for d in dims if d not in values.dims]
    if missing:
        raise ValueError(f"dims {missing} are not dims of values {values.dims}.")
    return tuple(dims)


class _Plan:
    """Inputs transposed to (kept..., reduced...), chunked alike; static block layout."""

    def __init__(self, values, labels, n_groups, dims, weights):
        self.raw = not isinstance(values, xr.DataArray)
        if self.raw:
            values, labels, weights, dims = _wrap_raw(values, labels, weights, dims)
        if not isinstance(labels, xr.DataArray):
            raise TypeError(f"labels must be a DataArray when values is one, got {type(labels).__name__}.")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"labels must be an integer raster, got dtype {labels.dtype}.")
        if values.dtype.kind not in "biuf":
            raise TypeError(f"values must be numeric, got dtype {values.dtype}.")
        for name, da in (("labels", labels), ("weights", weights)):
            if da is not None:
                extra = [d for d in da.dims if d not in values.dims]
                if extra:
                    raise ValueError(f"{name} has dims {extra} that values lacks.")
                for d in da.dims:
                    if da.sizes[d] != values.sizes[d]:
                        raise ValueError(f"{name} has {da.sizes[d]} steps along {d!r}, values {values.sizes[d]}.")
        dims = _resolve_dims(values, dims, labels.dims)
        self.n_groups = int(n_groups)
        if self.n_groups < 0:
            raise ValueError(f"n_groups must be >= 0, got {n_groups}.")
        self.reduced = tuple(d for d in values.dims if d in dims)
        self.kept = tuple(d for d in values.dims if d not in dims)
        order = (*self.kept, *self.reduced)
        if values.dtype.kind != "f":
            values = values.astype(np.float64)
        values = values.transpose(*order)
        labels = labels.transpose(*[d for d in order if d in labels.dims])
        if weights is not None:
            weights = weights.astype(np.float64).transpose(*[d for d in order if d in weights.dims])
        arrays = [a for a in (values, labels, weights) if a is not None]
        self.lazy = any(a.chunks is not None for a in arrays)
        if self.lazy:
            values = values.chunk({}) if values.chunks is None else values
            arrays = xr.unify_chunks(*[values, labels] + ([weights] if weights is not None else []))
            values, labels = arrays[0], arrays[1]
            weights = arrays[2] if weights is not None else None
            # numpy-backed companions take the values' chunks (free: no data moves)
            labels = labels.chunk({d: values.chunksizes[d] for d in labels.dims}) if labels.chunks is None else labels
            if weights is not None and weights.chunks is None:
                weights = weights.chunk({d: values.chunksizes[d] for d in weights.dims})
        self.values, self.labels, self.weights = values, labels, weights
        self.order = order
        self.nk = len(self.kept)
        self.kept_shape = tuple(values.sizes[d] for d in self.kept)
        self.n_layers = math.prod(self.kept_shape)
        self.lpos = tuple(order.index(d) for d in labels.dims)
        self.wpos = None if weights is None else tuple(order.index(d) for d in weights.dims)
        self.layout = _Layout(self.nk, self.lpos, self.wpos, self.n_groups, self.kept_shape, self.n_layers)

    def blockwise(self, func, table_shape, dtype, *extra, **kwargs):
        """Per-block tables (kept..., 1 per reduced block..., *table_shape) as a dask array."""
        ind = tuple(f"d{i}" for i in range(len(self.order)))
        tind = tuple(f"t{i}" for i in range(len(table_shape)))
        args = [self.values.data, ind, self.labels.data, tuple(ind[p] for p in self.lpos)]
        args += [None, None] if self.weights is None else [self.weights.data, tuple(ind[p] for p in self.wpos)]
        for e in extra:  # small per-layer tables (kept..., *table dims) chunked like the kept dims
            args += [e, (*ind[:self.nk], *tind[:e.ndim - self.nk])]
        return dsa.blockwise(
            func, (*ind, *tind), *args,
            new_axes={t: s for t, s in zip(tind, table_shape)},
            adjust_chunks={ind[i]: 1 for i in range(self.nk, len(ind))},
            dtype=dtype, meta=np.empty((0,) * (len(ind) + len(tind)), dtype=dtype),
            concatenate=True, plan=self.layout, **kwargs,
        )

    def small(self, arr, trailing):
        """A (kept..., *trailing) numpy/dask table chunked like the values along kept dims."""
        if not self.lazy:
            return arr
        chunks = (*[self.values.chunksizes[d] for d in self.kept], *[(s,) for s in trailing])
        if isinstance(arr, dsa.Array):
            return arr.rechunk(chunks)
        return dsa.from_array(arr, chunks=chunks)

    def wrap(self, data, extra_dims, extra_coords):
        if self.raw:
            return data
        coords = {d: self.values[d] for d in self.kept if d in self.values.coords}
        coords.update(extra_coords)
        coords["group"] = np.arange(self.n_groups)
        return xr.DataArray(data, dims=(*self.kept, *extra_dims, "group"), coords=coords)


def _wrap_raw(values, labels, weights, dims):
    ndim = np.ndim(values)
    names = tuple(f"dim_{i}" for i in range(ndim))
    values = xr.DataArray(values, dims=names)

    def trailing(a):
        return None if a is None else xr.DataArray(a, dims=names[ndim - np.ndim(a):])

    if dims is not None and dims is not Ellipsis:
        dims = tuple(names[int(a)] for a in np.atleast_1d(dims))
    return values, trailing(labels), trailing(weights), dims


def _expand(a, pos, ndim):
    """Insert size-1 axes so that ``a`` (axes at positions ``pos``) broadcasts against the block."""
    shape = [1] * ndim
    for p, s in zip(pos, a.shape):
        shape[p] = s
    return a.reshape(shape)


def _layer_stack(parts):
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


# ------------------------------------------------------------------ moments
def _moments_block(v, lab, w, *, plan):
    parts = [G.group_moments(lf, vf, plan.n_groups, wf) for lf, vf, wf in plan.items(v, lab, w)]
    out = _layer_stack(parts)
    return out.reshape(*v.shape[:plan.nk], *(1,) * (v.ndim - plan.nk), G.N_MOMENTS, plan.n_groups)


def _merge_axes(x, axis=None, keepdims=False, **_):
    """Fold the moment tables of ``x`` along ``axis`` with ``merge_moments``."""
    axis = tuple(sorted(axis))
    rest = tuple(s for i, s in enumerate(x.shape) if i not in axis)
    xs = np.moveaxis(x, axis, tuple(range(len(axis)))).reshape(-1, *rest)
    flat = xs.reshape(xs.shape[0], -1, G.N_MOMENTS, rest[-1])
    acc = G.empty_moments(flat.shape[1], rest[-1]) if flat.shape[0] == 0 else flat[0]
    for j in range(1, flat.shape[0]):
        acc = G.merge_moments(acc, flat[j])
    acc = acc.reshape(rest)
    return np.expand_dims(acc, axis) if keepdims else acc


def _identity(x, axis=None, keepdims=True, **_):
    return x


def _moments(plan, split_every=None):
    if not plan.lazy:
        w = None if plan.weights is None else plan.weights.values
        return _moments_block(plan.values.values, plan.labels.values, w, plan=plan.layout).reshape(
            *plan.kept_shape, G.N_MOMENTS, plan.n_groups)
    partial = plan.blockwise(_moments_block, (G.N_MOMENTS, plan.n_groups), np.float64)
    axes = tuple(range(plan.nk, len(plan.order)))
    return dsa.reduction(partial, _identity, _merge_axes, combine=_merge_axes, axis=axes, keepdims=False,
                         dtype=np.float64, split_every=split_every, concatenate=True,
                         meta=np.empty((0,) * (plan.nk + 2), dtype=np.float64), name="grouped-moments")


def grouped_moments(values, labels, n_groups, *, dims=None, weights=None, split_every=None):
    """Moment table (kept..., moment, group) of ``values`` by ``labels`` (one pass, lazy).

    ``moment`` runs over :data:`MOMENT_NAMES` (the slots of :mod:`cubeeco.kernels.groupby`:
    count, weight, sum, mean, m2, min, max); read statistics with :func:`finalize_moments`
    or ask :func:`grouped_stat` directly.  NaN values and weights <= 0 are skipped.
    ``split_every``: fan-in of the combine tree (dask's default when None).
    """
    plan = _Plan(values, labels, n_groups, dims, weights)
    data = _moments(plan, split_every)
    return plan.wrap(data, ("moment",), {"moment": list(MOMENT_NAMES)})


def finalize_moments(moments, stat: str, ddof: int = 0):
    """One statistic (kept..., group) from a :func:`grouped_moments` result (lazy for dask)."""
    if isinstance(moments, xr.DataArray):
        out = xr.apply_ufunc(finalize_moments, moments, input_core_dims=[["moment", "group"]],
                             output_core_dims=[["group"]], dask="allowed", kwargs={"stat": stat, "ddof": ddof})
        return out
    if stat not in G.STATS:
        raise ValueError(f"unknown statistic {stat!r}; expected one of {G.STATS}")

    def fin(m):
        lead = m.shape[:-2]
        return G.finalize(m.reshape(-1, *m.shape[-2:]), stat, ddof).reshape(*lead, m.shape[-1])

    if isinstance(moments, dsa.Array):
        return moments.map_blocks(fin, drop_axis=moments.ndim - 2, dtype=np.float64,
                                  meta=np.empty((0,) * (moments.ndim - 1)))
    return fin(np.asarray(moments))


def grouped_stat(values, labels, n_groups, stat: str, *, dims=None, weights=None, ddof: int = 0,
                 split_every=None):
    """One grouped statistic (kept..., group): count weight sum mean var std min max (lazy).

    Empty groups: 0 for count / weight / sum, NaN otherwise; ``var`` = M2 / (weight - ddof).
    """
    if stat not in G.STATS:
        raise ValueError(f"unknown statistic {stat!r}; expected one of {G.STATS}")
    m = grouped_moments(values, labels, n_groups, dims=dims, weights=weights, split_every=split_every)
    return finalize_moments(m, stat, ddof)


# ------------------------------------------------------------------ exact quantiles
def _hist_block(v, lab, w, lo, hi, *, plan, nbins):
    parts = []
    k0 = 0
    lo2 = lo.reshape(-1, plan.n_groups)
    hi2 = hi.reshape(-1, plan.n_groups)
    for lf, vf, _ in plan.items(v, lab, None):
        k1 = k0 + vf.shape[0]
        parts.append(G.group_histogram(lf, vf, plan.n_groups, lo2[k0:k1], hi2[k0:k1], nbins))
        k0 = k1
    out = _layer_stack(parts)
    return out.reshape(*v.shape[:plan.nk], *(1,) * (v.ndim - plan.nk), plan.n_groups, nbins)


def _locate(moments, hist, q, nbins):
    """Pass-2 result -> per target (q, layer, group): the selection range and the ranks in it."""
    m = np.asarray(moments, dtype=np.float64).reshape(-1, G.N_MOMENTS, moments.shape[-1])
    h = np.asarray(hist).reshape(m.shape[0], m.shape[2], nbins)
    n = m[:, G.N].astype(np.int64)
    lo, hi = m[:, G.MIN], m[:, G.MAX]
    edges = G.bin_edges(np.where(np.isnan(lo), 0.0, lo), np.where(np.isnan(hi), 0.0, hi), nbins)
    cum = np.cumsum(h, axis=-1)
    # numpy's "linear" method: virtual index (n - 1) q, neighbours floor / floor + 1
    virtual = (n[None] - 1) * q[:, None, None]
    prev = np.floor(virtual)
    top = virtual >= n[None] - 1
    prev = np.where(top, n[None] - 1, np.maximum(prev, 0)).astype(np.int64)
    nxt = np.where(top, n[None] - 1, prev + 1).astype(np.int64)
    gamma = virtual - prev
    st = {"prev": prev, "next": nxt, "gamma": gamma, "n": np.broadcast_to(n, prev.shape)}
    # the bins holding the two order statistics: first bin whose cumulative count passes the rank
    b0 = np.minimum((cum[None] <= prev[..., None]).sum(-1), nbins - 1)
    b1 = np.minimum((cum[None] <= nxt[..., None]).sum(-1), nbins - 1)
    take = np.take_along_axis
    below = take(np.broadcast_to(cum - h, (len(q), *h.shape)), b0[..., None], -1)[..., 0]
    e = np.broadcast_to(edges, (len(q), *edges.shape))
    sel_lo = take(e, b0[..., None], -1)[..., 0]
    # bin b1 ends just below edge b1 + 1 (the last bin includes hi)
    upper = take(e, np.minimum(b1 + 1, nbins)[..., None], -1)[..., 0]
    sel_hi = np.where(b1 >= nbins - 1, np.broadcast_to(hi, b1.shape), np.nextafter(upper, -np.inf))
    direct = (n[None] == 0) | (np.broadcast_to(lo == hi, prev.shape))
    st["direct_value"] = np.where(n[None] == 0, np.nan, np.broadcast_to(lo, prev.shape))
    st["sel_lo"] = np.where(direct, np.nan, sel_lo)
    st["sel_hi"] = np.where(direct, np.nan, sel_hi)
    st["below"] = below
    st["direct"] = direct
    return st


def _select_block(v, lab, state, kept_slices, *, plan):
    """Candidates of one block, run-length encoded: (target key, value, count), sorted."""
    n_groups = plan.n_groups
    nq = state["sel_lo"].shape[0]
    full = state["sel_lo"].reshape(nq, *plan.kept_shape, n_groups)
    fhi = state["sel_hi"].reshape(nq, *plan.kept_shape, n_groups)
    idx = (slice(None), *kept_slices)
    lo = full[idx].reshape(nq, -1, n_groups)
    hi = fhi[idx].reshape(nq, -1, n_groups)
    layer_ids = np.arange(plan.n_layers).reshape(plan.kept_shape)[tuple(kept_slices)].ravel()
    keys, vals = [], []
    for iq in range(nq):
        k0 = 0
        for lf, vf, _ in plan.items(v, lab, None):
            k1 = k0 + vf.shape[0]
            gi, li, vo = G.group_select(lf, vf, n_groups, lo[iq, k0:k1], hi[iq, k0:k1])
            keys.append((iq * plan.n_layers + layer_ids[k0 + li]) * n_groups + gi)
            vals.append(vo)
            k0 = k1
    return _rle(np.concatenate(keys), np.concatenate(vals), None)


def _rle(keys, vals, counts):
    order = np.lexsort((vals, keys))
    keys, vals = keys[order], vals[order]
    counts = np.ones(keys.shape, np.int64) if counts is None else counts[order]
    if keys.size == 0:
        return keys, vals, counts
    new = np.empty(keys.shape, bool)
    new[0] = True
    new[1:] = (keys[1:] != keys[:-1]) | (vals[1:] != vals[:-1])
    starts = np.flatnonzero(new)
    return keys[starts], vals[starts], np.add.reduceat(counts, starts)


def _finish(state, *parts):
    """Merge the blocks' candidates and read the exact order statistics (numpy's lerp)."""
    keys, vals, counts = _rle(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
    shape = state["prev"].shape
    out = np.array(state["direct_value"], dtype=np.float64)
    need = ~state["direct"]
    if need.any():
        cum = np.cumsum(counts)
        tkey = np.flatnonzero(need.ravel())
        start = np.searchsorted(keys, tkey, side="left")
        base = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0)

        def at(rank):
            r = rank.ravel()[tkey] - state["below"].ravel()[tkey]
            return vals[np.searchsorted(cum, base + r, side="right")]

        a, b = at(state["prev"]), at(state["next"])
        g = state["gamma"].ravel()[tkey]
        diff = b - a
        res = a + diff * g
        hi_side = g >= 0.5
        res[hi_side] = (b - diff * (1 - g))[hi_side]
        flat = out.reshape(-1)
        flat[tkey] = res
        out = flat.reshape(shape)
    return out


def _quantile_nbins(plan, nbins):
    if nbins is not None:
        if int(nbins) < 1:
            raise ValueError(f"nbins must be >= 1, got {nbins}.")
        return int(nbins)
    if plan.lazy:
        layers = math.prod(max(plan.values.chunksizes[d]) for d in plan.kept)
    else:
        layers = plan.n_layers
    per_block = max(layers, 1) * max(plan.n_groups, 1)
    return int(min(4096, max(64, _HIST_TABLE_CELLS // per_block)))


def grouped_quantiles(values, labels, n_groups, q, *, dims=None, nbins: int | None = None, split_every=None):
    """Exact per-group quantiles (kept..., [quantile,] group), numpy's "linear" method.

    Equal to ``np.nanquantile`` of each group's values (NaN for a group without values),
    computed in three passes over the input (see the module docstring): moments, then a
    ``nbins``-bin histogram per group between its min and max, then the values in the
    bins holding ranks floor / floor + 1 of (n - 1) q.  ``q`` in [0, 1], scalar (no
    ``quantile`` dim) or a sequence.  ``nbins`` None: up to 4096, fewer when the
    per-block histogram table (layers x groups x nbins) would pass 2**21 cells.
    Lazy for dask input: the passes are chained in the graph, nothing is computed here.
    Result float64.  Values must be finite or NaN (±inf breaks the histogram's bins).
    """
    qa = np.asarray(q, dtype=np.float64)
    scalar = qa.ndim == 0
    qa = np.atleast_1d(qa)
    if qa.ndim != 1 or np.any(~((qa >= 0) & (qa <= 1))):
        raise ValueError(f"q must be in [0, 1], got {q!r}.")
    plan = _Plan(values, labels, n_groups, dims, None)
    nbins = _quantile_nbins(plan, nbins)
    nq, ng = len(qa), plan.n_groups
    moments = _moments(plan, split_every)
    lo = moments[..., G.MIN, :]
    hi = moments[..., G.MAX, :]
    if plan.lazy:
        lo_s, hi_s = plan.small(lo, (ng,)), plan.small(hi, (ng,))
        partial = plan.blockwise(_hist_block, (ng, nbins), np.int64, lo_s, hi_s, nbins=nbins)
        hist = partial.sum(axis=tuple(range(plan.nk, len(plan.order))), split_every=split_every)
        state = dask.delayed(_locate, pure=True)(moments, hist, qa, nbins)
        vblocks = plan.values.data.to_delayed()
        lblocks = plan.labels.data.to_delayed()
        offsets = [np.concatenate([[0], np.cumsum(c)]) for c in plan.values.chunks[:plan.nk]]
        sel = dask.delayed(_select_block, pure=True)
        parts = []
        for bidx in np.ndindex(*vblocks.shape):
            kept_slices = tuple(slice(int(o[i]), int(o[i + 1])) for o, i in zip(offsets, bidx[:plan.nk]))
            lblock = lblocks[tuple(bidx[p] for p in plan.lpos)]
            parts.append(sel(vblocks[bidx], lblock, state, kept_slices, plan=plan.layout))
        res = dask.delayed(_finish, pure=True)(state, *parts)
        data = dsa.from_delayed(res, shape=(nq, plan.n_layers, ng), dtype=np.float64)
    else:
        v, lab = plan.values.values, plan.labels.values
        hist = _hist_block(v, lab, None, lo, hi, plan=plan.layout, nbins=nbins).reshape(*plan.kept_shape, ng, nbins)
        state = _locate(moments, hist, qa, nbins)
        data = _finish(state, _select_block(v, lab, state, tuple(slice(None) for _ in plan.kept), plan=plan.layout))
    data = data.reshape(nq, *plan.kept_shape, ng)
    data = dsa.moveaxis(data, 0, plan.nk) if plan.lazy else np.moveaxis(data, 0, plan.nk)
    out = plan.wrap(data, ("quantile",), {"quantile": qa})
    if scalar:
        out = out[(slice(None),) * plan.nk + (0,)]
        if not plan.raw:
            out = out.drop_vars("quantile")
    return out


__all__ = ["MOMENT_NAMES", "finalize_moments", "grouped_moments", "grouped_quantiles", "grouped_stat"]


# ------------------------------------------------------------------ feature covariance (added for RSEI)
# Streaming mean / covariance of F features over the pixels of each layer, and the range of
# a linear projection of them: the global reductions behind the RSEI's PCA (cubeeco.ops.rsei).
# Same split as above: a numba block kernel (cubeeco.kernels.rsei) per block via
# dask.array.blockwise, a combine tree (dask.array.reduction), a finalize on the small table.
class _FeaturePlan:
    """``values`` transposed to (kept..., feature, reduced...), feature in one chunk; mask aligned."""

    def __init__(self, values, feature_dim, dims, mask):
        if not isinstance(values, xr.DataArray):
            raise TypeError(f"values must be a DataArray, got {type(values).__name__}.")
        if feature_dim not in values.dims:
            raise ValueError(f"feature_dim {feature_dim!r} is not a dim of values {values.dims}.")
        dims = _resolve_dims(values, dims, tuple(d for d in values.dims if d != feature_dim))
        self.feature_dim = feature_dim
        self.reduced = tuple(d for d in values.dims if d in dims and d != feature_dim)
        self.kept = tuple(d for d in values.dims if d not in self.reduced and d != feature_dim)
        self.order = (*self.kept, feature_dim, *self.reduced)
        values = values.transpose(*self.order)
        if mask is not None:
            if not isinstance(mask, xr.DataArray):
                raise TypeError("mask must be a DataArray.")
            extra = [d for d in mask.dims if d not in values.dims or d == feature_dim]
            if extra:
                raise ValueError(f"mask has dims {extra} that values' pixels lack.")
            for d in mask.dims:
                if mask.sizes[d] != values.sizes[d]:
                    raise ValueError(f"mask has {mask.sizes[d]} steps along {d!r}, values {values.sizes[d]}.")
            mask = mask.astype(bool).transpose(*[d for d in self.order if d in mask.dims])
        self.lazy = values.chunks is not None or (mask is not None and mask.chunks is not None)
        if self.lazy:
            values = values.chunk({feature_dim: -1}) if values.chunks is not None else values.chunk(
                {feature_dim: -1})
            if mask is not None:
                if mask.chunks is None:
                    mask = mask.chunk({d: values.chunksizes[d] for d in mask.dims})
                values, mask = xr.unify_chunks(values, mask)
                if len(values.chunksizes[feature_dim]) != 1:
                    values = values.chunk({feature_dim: -1})
        self.values, self.mask = values, mask
        self.nk = len(self.kept)
        self.nf = values.sizes[feature_dim]
        self.kept_shape = tuple(values.sizes[d] for d in self.kept)
        self.mpos = None if mask is None else tuple(self.order.index(d) for d in mask.dims)

    def table(self, arr, name):
        """A (kept..., feature) DataArray -> numpy/dask (kept..., F) chunked like the values."""
        if arr is None:
            return None
        if not isinstance(arr, xr.DataArray):
            arr = xr.DataArray(np.broadcast_to(np.asarray(arr, dtype=np.float64), self.nf), dims=(self.feature_dim,))
        extra = [d for d in arr.dims if d not in (*self.kept, self.feature_dim)]
        if extra:
            raise ValueError(f"{name} has dims {extra}; expected a subset of {(*self.kept, self.feature_dim)}.")
        arr = arr.astype(np.float64)
        if self.feature_dim not in arr.dims:
            arr = arr.expand_dims({self.feature_dim: self.nf})
        for d in self.kept:
            if d not in arr.dims:
                arr = arr.expand_dims({d: self.values.sizes[d]})
        arr = arr.transpose(*self.kept, self.feature_dim)
        if not self.lazy:
            return np.asarray(arr.values)
        chunks = (*[self.values.chunksizes[d] for d in self.kept], (self.nf,))
        data = arr.data
        return data.rechunk(chunks) if isinstance(data, dsa.Array) else dsa.from_array(np.asarray(data), chunks=chunks)

    def blockwise(self, func, table_shape, *extra, **kwargs):
        ind = tuple(f"d{i}" for i in range(len(self.order)))
        tind = tuple(f"t{i}" for i in range(len(table_shape)))
        args = [self.values.data, ind]
        args += [None, None] if self.mask is None else [self.mask.data, tuple(ind[p] for p in self.mpos)]
        for e in extra:
            args += [None, None] if e is None else [e, ind[:self.nk + 1]]
        return dsa.blockwise(
            func, (*ind, *tind), *args,
            new_axes={t: s for t, s in zip(tind, table_shape)},
            adjust_chunks={ind[i]: 1 for i in range(self.nk, len(ind))},
            dtype=np.float64, meta=np.empty((0,) * (len(ind) + len(tind))),
            concatenate=True, nk=self.nk, mpos=self.mpos, **kwargs,
        )

    def reduce(self, partial, merge, split_every, name):
        axes = tuple(range(self.nk, len(self.order)))
        return dsa.reduction(partial, _identity, merge, combine=merge, axis=axes, keepdims=False,
                             dtype=np.float64, split_every=split_every, concatenate=True,
                             meta=np.empty((0,) * (partial.ndim - len(axes))), name=name)


def _feature_block(v, m, nk, mpos):
    """(L, F, N) values and the (0 | 1 | L, N) use-mask of one (kept..., F, reduced...) block."""
    kshape = v.shape[:nk]
    n_layers = math.prod(kshape)
    v3 = v.reshape(n_layers, v.shape[nk], -1)
    if m is None:
        return v3, None, kshape
    m = _expand(m, mpos, v.ndim)
    per_layer = any(s != 1 for s in m.shape[:nk])
    shape = (*kshape, *v.shape[nk + 1:]) if per_layer else v.shape[nk + 1:]
    m = np.broadcast_to(m[(slice(None),) * nk + (0,)] if per_layer else m[(0,) * (nk + 1)], shape)
    return v3, m.reshape(n_layers if per_layer else 1, -1), kshape


def _cross_block(v, m, lo, hi, *, nk, mpos):
    from ..kernels import rsei as K

    v3, use, kshape = _feature_block(v, m, nk, mpos)
    f = v3.shape[1]
    lo2 = None if lo is None else lo.reshape(-1, f)
    hi2 = None if hi is None else hi.reshape(-1, f)
    out = K.cross_moments(v3, use, lo2, hi2)
    return out.reshape(*kshape, *(1,) * (v.ndim - nk), f, 2 + f)


def _proj_block(v, m, lo, hi, w, *, nk, mpos):
    from ..kernels import rsei as K

    v3, use, kshape = _feature_block(v, m, nk, mpos)
    f = v3.shape[1]
    lo2 = None if lo is None else lo.reshape(-1, f)
    hi2 = None if hi is None else hi.reshape(-1, f)
    out = K.projection_range(v3, w.reshape(-1, f), use, lo2, hi2)
    return out.reshape(*kshape, *(1,) * (v.ndim - nk), 2)


def _fold_axes(x, axis, keepdims, trailing, fold):
    axis = tuple(sorted(axis))
    rest = tuple(s for i, s in enumerate(x.shape) if i not in axis)
    xs = np.moveaxis(x, axis, tuple(range(len(axis)))).reshape(-1, *rest)
    acc = xs[0]
    for j in range(1, xs.shape[0]):
        acc = fold(acc, xs[j])
    return np.expand_dims(acc, axis) if keepdims else acc


def _merge_cross_axes(x, axis=None, keepdims=False, **_):
    from ..kernels import rsei as K

    return _fold_axes(x, axis, keepdims, 2, K.merge_cross)


def _range_axes(x, axis=None, keepdims=False, **_):
    def fold(a, b):
        out = np.empty_like(a)
        out[..., 0] = np.fmin(a[..., 0], b[..., 0])
        out[..., 1] = np.fmax(a[..., 1], b[..., 1])
        return out

    return _fold_axes(x, axis, keepdims, 1, fold)


def _bounds_tables(plan, bounds):
    if bounds is None:
        return None, None
    lo, hi = bounds
    return plan.table(lo, "bounds[0]"), plan.table(hi, "bounds[1]")


def _cov_dataset(count, mean, comoment, kept, kept_coords, feature_dim, feature_coord, ddof):
    f2 = f"{feature_dim}2"
    coords = dict(kept_coords)
    if feature_coord is not None:
        coords[feature_dim] = feature_coord.values
        coords[f2] = feature_coord.values
    ds = xr.Dataset(
        {"count": (kept, count), "mean": ((*kept, feature_dim), mean),
         "comoment": ((*kept, feature_dim, f2), comoment)},
        coords=coords,
    )
    return _with_cov(ds, ddof)


def _with_cov(ds, ddof):
    dof = ds["count"] - ddof
    ds["cov"] = ds["comoment"] / dof.where(dof > 0)
    ds.attrs["ddof"] = ddof
    return ds


def covariance(values, feature_dim: str, *, dims=None, mask=None, bounds=None, ddof: int = 1,
               split_every=None) -> xr.Dataset:
    """Streaming mean and covariance of the ``feature_dim`` features over ``dims`` (one pass, lazy).

    values
        DataArray with a feature dim (e.g. ``index``: ndvi, wet, ndbsi, lst) and pixel dims.
    dims
        Dims reduced (default: every dim but ``feature_dim``; ``...`` the same); the others
        are kept, e.g. ``dims=("y", "x")`` gives one covariance per year.
    mask
        Optional bool DataArray over a subset of the pixel dims: True = use the pixel.  A pixel
        of a layer counts when every feature is finite there and the mask is True.
    bounds
        Optional ``(lo, hi)``, each a DataArray over (a subset of) (kept..., feature): the
        features are min-max normalised, z = clip((x - lo) / (hi - lo), 0, 1), first
        (z = 0 where hi <= lo).  Without them the values are used as they are.

    Returns a Dataset: ``count`` (kept...), ``mean`` (kept..., feature), ``comoment``
    (kept..., feature, feature2) = Σ (z - mean)(z - mean)ᵀ and ``cov`` = comoment /
    (count - ddof) (NaN where count <= ddof), lazy for dask input.  Blocks are reduced to
    (count, mean, co-moment) tables by ``cubeeco.kernels.rsei.cross_moments`` and folded
    with Chan's formula (``merge_cross``); the result is the same for every chunking.
    Combine groups of the kept dims afterwards with :func:`merge_covariance`.
    """
    from ..kernels import rsei as K

    plan = _FeaturePlan(values, feature_dim, dims, mask)
    lo, hi = _bounds_tables(plan, bounds)
    f = plan.nf
    if plan.lazy:
        partial = plan.blockwise(_cross_block, (f, 2 + f), lo, hi)
        table = plan.reduce(partial, _merge_cross_axes, split_every, "feature-covariance")
    else:
        m = None if plan.mask is None else plan.mask.values
        table = _cross_block(plan.values.values, m, lo, hi, nk=plan.nk, mpos=plan.mpos)
        table = table.reshape(*plan.kept_shape, f, 2 + f)
    kept_coords = {d: plan.values[d] for d in plan.kept if d in plan.values.coords}
    fcoord = plan.values[feature_dim] if feature_dim in plan.values.coords else None
    return _cov_dataset(table[..., 0, K.COUNT], table[..., :, K.MEAN], table[..., :, K.COMOMENT:], plan.kept,
                        kept_coords, feature_dim, fcoord, ddof)


def merge_covariance(cov: xr.Dataset, dim, ddof: int | None = None) -> xr.Dataset:
    """Pool a :func:`covariance` result over the kept dim(s) ``dim`` (exact, lazy).

    n = Σ n_k, mean = Σ n_k m_k / n, comoment = Σ C_k + Σ n_k (m_k - mean)(m_k - mean)ᵀ.
    """
    dims = (dim,) if isinstance(dim, str) else tuple(dim)
    ddof = cov.attrs.get("ddof", 1) if ddof is None else ddof
    fdim = cov["mean"].dims[-1]
    f2 = cov["comoment"].dims[-1]
    n_k = cov["count"]
    n = n_k.sum(dims)
    m_k = cov["mean"]
    mean = (n_k * m_k).sum(dims) / n.where(n > 0)
    mean = mean.fillna(0.0)
    d = m_k - mean
    outer = d * d.rename({fdim: f2})
    comoment = cov["comoment"].sum(dims) + (n_k * outer).sum(dims)
    ds = xr.Dataset({"count": n, "mean": mean, "comoment": comoment.transpose(*mean.dims, f2)})
    return _with_cov(ds, ddof)


def projection_range(values, feature_dim: str, weights, *, dims=None, mask=None, bounds=None,
                     split_every=None) -> xr.DataArray:
    """Min and max over the counted pixels of Σ_f weights_f z_f (one pass, lazy).

    Pixels, ``dims``, ``mask`` and ``bounds`` as in :func:`covariance`; ``weights`` a DataArray
    over (a subset of) (kept..., feature), e.g. PC1 loadings per year (may be lazy: a
    graph dependency, not computed here).  Result (kept..., bound) with ``bound`` =
    ["min", "max"], NaN where no pixel counts.
    """
    plan = _FeaturePlan(values, feature_dim, dims, mask)
    lo, hi = _bounds_tables(plan, bounds)
    w = plan.table(weights, "weights")
    if plan.lazy:
        partial = plan.blockwise(_proj_block, (2,), lo, hi, w)
        data = plan.reduce(partial, _range_axes, split_every, "projection-range")
    else:
        m = None if plan.mask is None else plan.mask.values
        data = _proj_block(plan.values.values, m, lo, hi, w, nk=plan.nk, mpos=plan.mpos)
        data = data.reshape(*plan.kept_shape, 2)
    coords = {d: plan.values[d] for d in plan.kept if d in plan.values.coords}
    coords["bound"] = ["min", "max"]
    return xr.DataArray(data, dims=(*plan.kept, "bound"), coords=coords)


__all__ += ["covariance", "merge_covariance", "projection_range"]
