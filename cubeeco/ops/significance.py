"""Significance classes and field significance (false discovery rate) of per-pixel tests.

* :func:`significance_classes` -- signed int8 classes −3..+3 from a p-value and a slope;
* :func:`fdr_adjust` -- Benjamini–Hochberg / Benjamini–Yekutieli adjusted p-values (q)
  over all valid pixels of the area, exactly ``scipy.stats.false_discovery_control``;
* :func:`share_significant` -- share of the area with q <= alpha, total and per zone.

FDR adjustment is a GLOBAL operation: q of a pixel depends on the rank of its p among
all m valid p-values.  For one family, with N(w) = #{p <= w}::

    q(v) = min(1, min_{w >= v, w a p-value} c · w · m / N(w)),   c = 1 (BH), Σ_{i<=m} 1/i (BY)

which is scipy's step-up ``ps * (m / i)`` followed by a reverse cumulative minimum, read
per distinct value (tied p-values share one q, as in scipy).  numpy input: one sort.
dask input: exact and lazy, bounded memory, in passes over the chunks:

1. per chunk a histogram of the p-values over 261,889 keys (the top bits of the float64
   bit pattern, 256 per octave), summed by a tree reduction; from it the m valid values
   are split into ``ceil(size / bucket_size)`` equal-count buckets of keys, and the
   number of values below each bucket is known;
2. per bucket, the chunks' ``np.unique(values in the bucket, return_counts)`` merged
   by a tree reduction into the bucket's sorted distinct values and counts; with the
   offset from step 1, q before the later buckets follows by a cumulative sum and a
   reverse cumulative minimum; each bucket's minimum gives the later-bucket minima;
3. per chunk, q looked up with ``np.searchsorted``, one bucket table at a time.

Memory: a task holds at most one bucket table (16 bytes per distinct value; the
default ``bucket_size`` 2^22 bounds it by 64 MB, more only where one key holds more
values, i.e. > 2^22 distinct p-values within 0.4 % of each other) plus its chunk and the
2 MB histogram.  See docs/trend-analysis.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ._checks import require_dataarray
from .trend import NODATA_INT8

__all__ = ["fdr_adjust", "share_significant", "significance_classes"]

FDR_METHODS = ("bh", "by")


# ----------------------------------------------------------------------------------
# classes
# ----------------------------------------------------------------------------------


def significance_classes(p: xr.DataArray, slope: xr.DataArray, levels: Sequence[float] = (0.10, 0.05, 0.01)) -> xr.DataArray:
    """Signed significance classes: sign(slope) × (number of ``levels`` with p <= level).

    With the default levels: ±1 significant at 10 %, ±2 at 5 %, ±3 at 1 % (the study's
    90/95/99 % classes; p <= 0.10 ⇔ |Z| >= 1.645 for the two-sided MK p), 0 not
    significant at the loosest level or a zero slope.  NaN in ``p`` or ``slope`` gives
    ``NODATA_INT8`` (−128).  int8, lazy for dask; the legend is in the attrs
    (``flag_values``, ``flag_meanings``, ``levels``).
    """
    require_dataarray(p, "p")
    require_dataarray(slope, "slope")
    lv = [float(x) for x in levels]
    if not lv or any(not 0.0 < x < 1.0 for x in lv):
        raise ValueError(f"levels must be probabilities in (0, 1), got {levels!r}.")
    if len(set(lv)) != len(lv):
        raise ValueError(f"levels must be distinct, got {levels!r}.")
    lv = sorted(lv, reverse=True)
    count = sum((p <= x).astype(np.int8) for x in lv)
    sign = np.sign(slope).fillna(0).astype(np.int8)
    cls = (sign * count).astype(np.int8)
    cls = cls.where(np.isfinite(p) & np.isfinite(slope), NODATA_INT8).astype(np.int8)
    n = len(lv)
    values = list(range(-n, n + 1))

    def meaning(v):
        if v == 0:
            return "not_significant"
        return f"{'increase' if v > 0 else 'decrease'}_p_le_{lv[abs(v) - 1]:g}"

    return cls.rename("significance").assign_attrs(
        long_name="signed significance class: sign(slope) x number of levels with p <= level",
        flag_values=values,
        flag_meanings=" ".join(meaning(v) for v in values),
        levels=lv,
        nodata=NODATA_INT8,
        units="1",
    )


# ----------------------------------------------------------------------------------
# FDR
# ----------------------------------------------------------------------------------


def _fdr_numpy(x: np.ndarray, method: str) -> np.ndarray:
    """One family (flat array, NaN missing): a single sort."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x)
    v = x[ok]
    if v.size:
        order = np.argsort(v, kind="stable")
        s = v[order]
        m = s.size
        # last rank of each tie group, so that ties get one q (as scipy's suffix minimum)
        last = np.searchsorted(s, s, side="right").astype(np.float64)
        q = s * (m / last)
        if method == "by":
            q = q * np.sum(1.0 / np.arange(1, m + 1, dtype=np.float64))
        q = np.clip(np.minimum.accumulate(q[::-1])[::-1], 0.0, 1.0)
        res = np.empty_like(q)
        res[order] = q
        out[ok] = res
    return out


# bucket keys: the top bits of the float64 bit pattern, monotone for p >= 0 (2^-8 relative
# width per key: 256 keys per octave), 261,889 keys over [0, 1]
_KEY_SHIFT = 44
_N_KEYS = int(np.float64(1.0).view(np.int64) >> _KEY_SHIFT) + 1
DEFAULT_BUCKET_SIZE = 1 << 22  # values per bucket table: <= 64 MB at 16 bytes per value


def _valid_values(block) -> np.ndarray:
    b = np.asarray(block, dtype=np.float64).ravel()
    b = b[np.isfinite(b)] + 0.0  # -0.0 -> 0.0 (its sign bit would make the key negative)
    if b.size and (b.min() < 0.0 or b.max() > 1.0):
        raise ValueError("p-values must lie in [0, 1] (NaN for missing).")
    return b


def _keys(v: np.ndarray) -> np.ndarray:
    return v.view(np.int64) >> _KEY_SHIFT


def _hist(block) -> np.ndarray:
    return np.bincount(_keys(_valid_values(block)), minlength=_N_KEYS)


def _sum(parts):
    return np.sum(parts, axis=0)


def _plan(hist: np.ndarray, n_buckets: int):
    """(bucket of each key, number of values below each bucket, m): equal-count buckets."""
    m = int(hist.sum())
    before = np.cumsum(hist) - hist
    bucket_of_key = np.minimum(before * n_buckets // max(m, 1), n_buckets - 1).astype(np.int32)
    per_bucket = np.bincount(bucket_of_key, weights=hist, minlength=n_buckets).astype(np.int64)
    offsets = np.cumsum(per_bucket) - per_bucket
    return bucket_of_key, offsets, m


def _bucket_unique(block, plan, b: int):
    v = _valid_values(block)
    v = v[plan[0][_keys(v)] == b]
    return np.unique(v, return_counts=True)


def _merge(parts):
    vals = np.concatenate([v for v, _ in parts])
    cnts = np.concatenate([c for _, c in parts])
    u, inv = np.unique(vals, return_inverse=True)
    return u, np.bincount(inv.ravel(), weights=cnts, minlength=u.size).astype(np.int64)


def _bucket_q(table, plan, b: int, method: str):
    """Sorted distinct values of bucket b, their q before the later buckets' minimum, the bucket's min."""
    values, counts = table
    m = plan[2]
    n_le = (plan[1][b] + np.cumsum(counts)).astype(np.float64)
    g = values * (m / n_le)  # scipy: ps * (m / i), i the last rank of the tie group
    if method == "by":
        g = g * np.sum(1.0 / np.arange(1, m + 1, dtype=np.float64))
    g = np.minimum.accumulate(g[::-1])[::-1]
    return values, g, (float(g[0]) if g.size else np.inf)


def _bucket_min(qtab) -> float:
    return qtab[2]


def _suffix_mins(*mins):
    """For bucket b, the minimum of g over every later bucket (inf for the last)."""
    a = np.array(mins + (np.inf,), dtype=np.float64)
    return np.minimum.accumulate(a[::-1])[::-1][1:]


def _lookup(out, block, plan, b: int, qtab, later):
    """Fill the values of bucket b in this block's output (NaN elsewhere on the first call)."""
    x = np.asarray(block, dtype=np.float64)
    out = np.full(x.shape, np.nan) if out is None else out.copy()  # never mutate a task's input
    ok = np.isfinite(x)
    v = x[ok] + 0.0
    sel = plan[0][_keys(v)] == b
    values, g, _ = qtab
    if sel.any():
        idx = np.flatnonzero(ok.ravel())[sel]
        q = np.minimum(g[np.searchsorted(values, v[sel])], later[b])
        out.ravel()[idx] = np.clip(q, 0.0, 1.0)
    return out


def _tree(parts, func, split_every):
    import dask

    while len(parts) > 1:
        parts = [dask.delayed(func)(parts[i : i + split_every]) for i in range(0, len(parts), split_every)]
    return parts[0]


def _fdr_dask(x, method: str, bucket_size: int = DEFAULT_BUCKET_SIZE, split_every: int = 8):
    """One family as a dask array: exact, lazy, bounded memory (module docstring)."""
    import dask
    import dask.array as dsa

    delayed = dask.delayed
    blocks = [x.blocks[idx] for idx in np.ndindex(*x.numblocks)]
    n_buckets = max(1, -(-int(x.size) // int(bucket_size)))
    hist = _tree([delayed(_hist)(b) for b in blocks], _sum, split_every)
    plan = delayed(_plan)(hist, n_buckets)
    qtabs = []
    for k in range(n_buckets):
        table = _tree([delayed(_bucket_unique)(b, plan, k) for b in blocks], _merge, split_every)
        qtabs.append(delayed(_bucket_q)(table, plan, k, method))
    later = delayed(_suffix_mins)(*[delayed(_bucket_min)(t) for t in qtabs])
    out = np.empty(x.numblocks, dtype=object)
    for idx, blk in zip(np.ndindex(*x.numblocks), blocks):
        res = None
        for k in range(n_buckets):  # one bucket table in memory per task
            res = delayed(_lookup)(res, blk, plan, k, qtabs[k], later)
        shape = tuple(c[i] for c, i in zip(x.chunks, idx))
        out[idx] = dsa.from_delayed(res, shape=shape, dtype=np.float64)
    return dsa.block(out.tolist())


def fdr_adjust(p: xr.DataArray, method: str = "bh", dims: Sequence[str] = ("y", "x"), *,
               bucket_size: int = DEFAULT_BUCKET_SIZE) -> xr.DataArray:
    """False-discovery-rate adjusted p-values (q) over every valid pixel of ``dims``.

    Equal to ``scipy.stats.false_discovery_control(p_valid, method=method)`` over the
    valid (finite) values of each family, computed in float64 (scipy on float64 values); a
    family is one slice over ``dims`` (other dimensions, e.g. a layer, are separate
    families).  NaN stays NaN.  float64 out.
    numpy: one sort per family; dask: lazy, exact (two passes, memory in the module
    docstring).

    Parameters
    ----------
    p : DataArray of p-values in [0, 1] (NaN missing).
    method : {"bh", "by"} -- Benjamini–Hochberg (independent or positively dependent
        tests) or Benjamini–Yekutieli (any dependence; more conservative).
    dims : the dimensions that span one family (default the whole area).
    bucket_size : dask only: values per equal-count bucket (the memory bound, 16 bytes each).
    """
    require_dataarray(p, "p")
    if method not in FDR_METHODS:
        raise ValueError(f"method must be one of {FDR_METHODS}, got {method!r}.")
    dims = [dims] if isinstance(dims, str) else list(dims)
    missing = [d for d in dims if d not in p.dims]
    if missing:
        raise ValueError(f"p has no dimension(s) {missing}; its dims are {p.dims}.")
    if p.dtype.kind not in "fiu":
        raise TypeError(f"p must be numeric, got dtype {p.dtype}.")
    if p.chunks is None:
        bad = np.asarray(p.values)
        bad = bad[np.isfinite(bad)]
        if bad.size and (bad.min() < 0 or bad.max() > 1):
            raise ValueError("p-values must lie in [0, 1] (NaN for missing).")
    others = [d for d in p.dims if d not in dims]
    x = p.transpose(*others, *dims)
    if others:
        stacked = x.stack(__family__=others)
        fams = [_adjust_one(stacked.isel(__family__=i, drop=True).data, method, bucket_size)
                for i in range(stacked.sizes["__family__"])]
        if p.chunks is None:
            data = np.stack(fams, axis=-1)
        else:
            import dask.array as dsa

            data = dsa.stack(fams, axis=-1)
        q = stacked.drop_vars([c for c in stacked.coords if "__family__" in stacked[c].dims]).copy(data=data)
        q = q.assign_coords(__family__=stacked["__family__"]).unstack("__family__")
    else:
        q = x.copy(data=_adjust_one(x.data, method, bucket_size))
    q = q.transpose(*p.dims).astype(np.float64)
    return q.rename("q").assign_attrs(
        long_name=f"FDR-adjusted p-value ({'Benjamini-Hochberg' if method == 'bh' else 'Benjamini-Yekutieli'})",
        units="1", fdr_method=method, fdr_dims=list(dims),
    )


def _adjust_one(data, method, bucket_size):
    if hasattr(data, "dask"):
        return _fdr_dask(data, method, bucket_size)
    return _fdr_numpy(np.asarray(data), method)


# ----------------------------------------------------------------------------------
# share of significant area
# ----------------------------------------------------------------------------------


def share_significant(q: xr.DataArray, alpha: float = 0.05, zones=None, *, coverage: str = "center",
                      id_column: str | None = None):
    """Share of the valid area whose (adjusted) p-value is <= ``alpha``.

    Parameters
    ----------
    q : DataArray (y, x) of q (or p) values, NaN missing.
    alpha : float in (0, 1).
    zones : GeoDataFrame or path, optional
        Polygons (e.g. mines); per zone the share is the coverage-weighted mean of the
        indicator q <= alpha over the zone's valid pixels, by
        :func:`cubeeco.ops.zonal.zonal_stats` (the raster needs a CRS then).
    coverage : {"center", "fraction"}
        Pixel weights of the zonal statistics: 1 where the pixel centre is inside
        (default: a pixel counts wholly or not at all, as in the study's maps), or the
        exact fraction of the pixel's area inside the polygon.

    Returns
    -------
    float (zones None): significant valid pixels / valid pixels (NaN if none valid).
    pandas.DataFrame (zones given): ``zone``, ``count`` (coverage-weighted valid
    pixels), ``share``; ``attrs["total"]`` holds the whole-area share.
    """
    require_dataarray(q, "q")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
    valid = np.isfinite(q)
    sig = (q <= alpha) & valid
    n_valid = valid.sum()
    n_sig = sig.sum()
    if q.chunks is not None:
        import dask

        n_valid, n_sig = dask.compute(n_valid, n_sig)
    nv = int(n_valid)
    total = float(int(n_sig) / nv) if nv else float("nan")
    if zones is None:
        return total
    from .zonal import zonal_stats

    ind = xr.where(valid, sig.astype(np.float64), np.nan).rename("significant")
    ind.attrs["units"] = "1"
    df = zonal_stats(ind, zones, stats=("count", "mean"), coverage=coverage, id_column=id_column)
    df = df.rename(columns={"mean": "share"})
    df.attrs["total"] = total
    df.attrs["alpha"] = float(alpha)
    return df
