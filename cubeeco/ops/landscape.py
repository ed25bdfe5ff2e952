"""FRAGSTATS landscape metrics, exact on chunked rasters (seed 004 Table 2; SCIENCE.md §9).

``landscape_metrics`` reads the class raster once, block by block, and keeps per block
only small tables (``cubeeco.kernels.landscape.block_patches``):

* per patch of the block: class, area (cells) and like adjacencies (4-neighbour pairs of
  its own cells);
* the block's double-count 4-neighbour adjacency matrix over its class codes (+ nodata);
* its four edge rows / columns: class codes and patch labels.

A small global merge then joins the patches that touch across block edges (same class;
4-neighbours, and diagonals for the 8-neighbour rule) with a union-find, adds the pairs
that straddle the seams to the adjacency matrix and to the patches' like adjacencies,
and sums the per-patch stats.  Every metric comes from those tables, so many chunks give
exactly the single-chunk answer.  Definitions and conventions: docs/landscape-metrics.md.
"""

from __future__ import annotations

import math

import dask
import dask.array as dsa
import numpy as np
import pandas as pd

from ..kernels import landscape as K
from ._checks import require_dataarray
from .eg import _nodata, _projected_or_none, _step

NODATA_CODE = np.iinfo(np.int64).min  # internal code of nodata cells (never a class)

LANDSCAPE_LEVEL = ("TA", "NP", "PD", "LPI", "TE", "ED", "LSI", "SHDI", "SHEI", "SIDI", "PR", "MESH", "DIVISION",
                   "COHESION", "CONTAG", "AI", "PLADJ", "IJI")
CLASS_LEVEL = ("CA", "PLAND", "NP", "PD", "LPI", "TE", "ED", "LSI", "MESH", "DIVISION", "COHESION", "AI", "PLADJ",
               "IJI")
UNITS = {"TA": "ha", "CA": "ha", "PLAND": "%", "NP": "1", "PD": "patches per 100 ha", "LPI": "%", "TE": "m",
         "ED": "m/ha", "LSI": "1", "SHDI": "1", "SHEI": "1", "SIDI": "1", "PR": "1", "MESH": "ha",
         "DIVISION": "1", "COHESION": "%", "CONTAG": "%", "AI": "%", "PLADJ": "%", "IJI": "%"}
LONG_NAMES = {"TA": "total area", "CA": "class area", "PLAND": "percentage of landscape",
              "NP": "number of patches", "PD": "patch density", "LPI": "largest patch index", "TE": "total edge",
              "ED": "edge density", "LSI": "landscape shape index", "SHDI": "Shannon's diversity index",
              "SHEI": "Shannon's evenness index", "SIDI": "Simpson's diversity index", "PR": "patch richness",
              "MESH": "effective mesh size", "DIVISION": "landscape division index",
              "COHESION": "patch cohesion index", "CONTAG": "contagion index", "AI": "aggregation index",
              "PLADJ": "percentage of like adjacencies", "IJI": "interspersion and juxtaposition index"}


# ------------------------------------------------------------------ arguments
def _neighbours(neighbours) -> bool:
    if neighbours not in (4, 8, "4", "8"):
        raise ValueError(f"neighbours must be 4 or 8 (the patch neighbour rule), got {neighbours!r}.")
    return int(neighbours) == 8


def _grid(lulc, name="lulc"):
    require_dataarray(lulc, name)
    if lulc.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (y, x) class raster; it has dimensions {tuple(lulc.dims)}. "
                         f"Select one layer first (e.g. lulc.isel(time=0)).")
    if lulc.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integer class codes (an integer dtype, or float with NaN as nodata), "
                        f"got dtype {lulc.dtype}.")


def _cell_size(lulc, cell_size):
    """Cell side in metres: ``cell_size`` or the coordinates' step; square cells only (as FRAGSTATS)."""
    if not _projected_or_none(lulc):
        raise ValueError("landscape metrics need a projected CRS in metres; the raster's CRS is geographic. "
                         "Reproject onto the analysis grid first.")
    if cell_size is not None:
        try:
            cs = float(cell_size)
        except (TypeError, ValueError):
            raise TypeError(f"cell_size must be a number of metres, got {type(cell_size).__name__}.") from None
        if not math.isfinite(cs) or cs <= 0:
            raise ValueError(f"cell_size must be a positive, finite number of metres, got {cell_size!r}.")
        return cs
    steps, errors = [], []
    for d in lulc.dims:
        try:
            steps.append(_step(lulc, d))
        except ValueError as err:
            errors.append(err)
    if not steps:
        raise ValueError(f"{errors[0]} Or pass cell_size= (metres).")
    # a one-pixel axis has no step of its own: cells are square, so the other axis tells
    sy, sx = steps[0], steps[-1]
    if not math.isclose(sy, sx, rel_tol=1e-6):
        raise ValueError(f"landscape metrics need square cells (FRAGSTATS' rule); the raster's cells are "
                         f"{sx} x {sy}. Resample onto a square grid first.")
    return sx


def _nodata_value(lulc, nodata):
    return _nodata(lulc, nodata)


def _codes(block, nodata):
    """int64 class codes of a block, NODATA_CODE where nodata / NaN; non-integer codes are an error."""
    a = np.asarray(block)
    if a.dtype.kind == "f":
        bad = np.isfinite(a) & (a != np.floor(a))
        if bad.any():
            raise ValueError(f"lulc holds non-integer values (e.g. {a[bad][0]!r}); class codes must be integers "
                             f"(NaN or the nodata value for missing).")
        ok = np.isfinite(a)
        codes = np.where(ok, a, 0).astype(np.int64)
    else:
        ok = np.ones(a.shape, bool)
        codes = a.astype(np.int64)
    if nodata is not None:
        ok &= a != nodata
    return np.where(ok, codes, NODATA_CODE)


def local_classes(codes):
    """(class codes present, local index raster int32 with -1 for nodata) of an int64 code block."""
    valid = codes != NODATA_CODE
    uniq, inv = np.unique(codes[valid], return_inverse=True)
    cls = np.full(codes.shape, -1, np.int32)
    cls[valid] = inv.astype(np.int32)
    return uniq, cls


# ------------------------------------------------------------------ per block
def _block_summary(block, nodata, eight):
    codes = _codes(block, nodata)
    uniq, cls = local_classes(codes)
    labels, p_cls, p_area, p_like, adj = K.block_patches(cls, uniq.size, eight)
    return {
        "codes": uniq, "adj": adj, "p_code": uniq[p_cls], "p_area": p_area, "p_like": p_like,
        # edge rows / columns (codes and local labels) for the merge across block edges
        "top": (codes[0].copy(), labels[0].copy()), "bottom": (codes[-1].copy(), labels[-1].copy()),
        "left": (codes[:, 0].copy(), labels[:, 0].copy()), "right": (codes[:, -1].copy(), labels[:, -1].copy()),
    }


# ------------------------------------------------------------------ global merge
def _gid(labels, offset):
    return np.where(labels > 0, labels - 1 + offset, -1)


def _seam(a_code, a_lab, b_code, b_lab, eight, code_pairs, unions, likes):
    """Pairs across one seam: a[c] touches b[c] (4-neighbours), and b[c±1] diagonally."""
    code_pairs.append((a_code, b_code))
    same = (a_lab >= 0) & (b_lab >= 0) & (a_code == b_code)
    unions.append((a_lab[same], b_lab[same]))
    likes.append(a_lab[same])
    if eight and a_code.size > 1:
        for sa, sb in ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))):
            d = (a_lab[sa] >= 0) & (b_lab[sb] >= 0) & (a_code[sa] == b_code[sb])
            unions.append((a_lab[sa][d], b_lab[sb][d]))


def _merge(summaries, grid_shape, eight):
    nr, nc = grid_shape
    blocks = [[summaries[i * nc + j] for j in range(nc)] for i in range(nr)]
    sizes = np.array([s["p_area"].size for s in summaries], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(nr, nc)
    codes = np.unique(np.concatenate([s["codes"] for s in summaries]))
    n_k = codes.size

    def idx(c):
        return np.where(c == NODATA_CODE, n_k, np.searchsorted(codes, c))

    adj = np.zeros((n_k + 1, n_k + 1), np.int64)
    for s in summaries:
        ix = np.append(idx(s["codes"]), n_k)
        adj[np.ix_(ix, ix)] += s["adj"]
    code_pairs, unions, likes = [], [], []
    for i in range(nr - 1):  # seams between block rows: full-width rows
        a = [blocks[i][j]["bottom"] for j in range(nc)]
        b = [blocks[i + 1][j]["top"] for j in range(nc)]
        _seam(np.concatenate([x[0] for x in a]), np.concatenate([_gid(x[1], offsets[i, j]) for j, x in enumerate(a)]),
              np.concatenate([x[0] for x in b]),
              np.concatenate([_gid(x[1], offsets[i + 1, j]) for j, x in enumerate(b)]), eight, code_pairs, unions,
              likes)
    for j in range(nc - 1):  # seams between block columns: full-height columns
        a = [blocks[i][j]["right"] for i in range(nr)]
        b = [blocks[i][j + 1]["left"] for i in range(nr)]
        _seam(np.concatenate([x[0] for x in a]), np.concatenate([_gid(x[1], offsets[i, j]) for i, x in enumerate(a)]),
              np.concatenate([x[0] for x in b]),
              np.concatenate([_gid(x[1], offsets[i, j + 1]) for i, x in enumerate(b)]), eight, code_pairs, unions,
              likes)
    for ca, cb in code_pairs:  # seam pairs into the double-count matrix
        ia, ib = idx(ca), idx(cb)
        np.add.at(adj, (ia, ib), 1)
        np.add.at(adj, (ib, ia), 1)
    n_p = int(sizes.sum())
    parent = np.arange(n_p, dtype=np.int64)
    if unions:
        K.union_pairs(parent, np.concatenate([u[0] for u in unions]), np.concatenate([u[1] for u in unions]))
    roots = K.find_roots(parent)
    uroot, first, inv = np.unique(roots, return_index=True, return_inverse=True)
    p_code = np.concatenate([s["p_code"] for s in summaries]) if n_p else np.zeros(0, np.int64)
    p_area = np.concatenate([s["p_area"] for s in summaries]) if n_p else np.zeros(0, np.int64)
    p_like = np.concatenate([s["p_like"] for s in summaries]) if n_p else np.zeros(0, np.int64)
    area = np.bincount(inv, weights=p_area, minlength=uroot.size)
    like = np.bincount(inv, weights=p_like, minlength=uroot.size)
    seam_like = np.concatenate(likes) if likes else np.zeros(0, np.int64)
    if seam_like.size:
        like += np.bincount(inv[seam_like], minlength=uroot.size)
    p_class = idx(p_code[first]) if n_p else np.zeros(0, np.int64)
    perim = 4.0 * area - 2.0 * like
    # a canonical patch order (class, area, perimeter): float sums over patches are then
    # bit-identical whatever the chunking (the labels' order depends on it)
    order = np.lexsort((perim, area, p_class))
    return {"codes": codes, "adj": adj, "patch_class": p_class[order], "patch_area": area[order],
            "patch_perimeter": perim[order]}


# ------------------------------------------------------------------ metrics from the tables
def _min_edge(n):
    """Perimeter (cell sides) of the most compact shape of n cells (FRAGSTATS' min e for LSI)."""
    s = np.floor(np.sqrt(n))
    r = n - s * s
    return np.where(r == 0, 4 * s, np.where(r <= s, 4 * s + 2, 4 * s + 4))


def _max_like(n):
    """Largest number of like adjacencies (single count) of n cells (FRAGSTATS' max g_ii for AI)."""
    s = np.floor(np.sqrt(n))
    r = n - s * s
    return np.where(r == 0, 2 * s * (s - 1), np.where(r <= s, 2 * s * (s - 1) + 2 * r - 1, 2 * s * (s - 1) + 2 * r - 2))


def _ratio(num, den):
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _xlogx(p):
    p = np.asarray(p, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)


def _table(t, cell_size, level, metrics, count_boundary, attrs):
    codes, adj = t["codes"], t["adj"].astype(np.float64)
    n_k = codes.size
    g = adj[:n_k, :n_k]  # between classes, double count
    p_cls, p_area, p_per = t["patch_class"], t["patch_area"], t["patch_perimeter"]
    n_i = np.bincount(p_cls, weights=p_area, minlength=n_k)
    n_all = n_i.sum()
    cell_area = cell_size * cell_size
    area_m2 = n_all * cell_area
    g_ii = np.diag(g)
    to_classes = g.sum(axis=1)  # Σ_k g_ik over classes (incl. like)
    unlike = to_classes - g_ii  # edges to other classes, cell sides
    estar = 4.0 * n_i - g_ii  # all sides of class i cells not shared with class i (incl. boundary)
    m = int(np.count_nonzero(n_i))
    if level == "landscape":
        between = unlike.sum() / 2.0
        e_star = estar.sum() - between
        p = _ratio(n_i, n_all)
        te = (e_star if count_boundary else between) * cell_size
        sum_p = p_per.sum()
        sum_ps = (p_per * np.sqrt(p_area)).sum()
        shdi = -_xlogx(p).sum() if n_all > 0 else np.nan
        vals = {
            "TA": area_m2 / 1e4,
            "NP": float(p_area.size),
            "PD": float(_ratio(p_area.size * 1e6, area_m2)),
            "LPI": float(_ratio(100.0 * (p_area.max() if p_area.size else 0.0), n_all)),
            "TE": te,
            "ED": float(_ratio(te * 1e4, area_m2)),
            "LSI": float(_ratio(0.25 * e_star, math.sqrt(n_all))),
            "SHDI": shdi,
            "SHEI": (shdi / math.log(m) if m > 1 else 0.0) if n_all > 0 else np.nan,
            "SIDI": 1.0 - (p * p).sum() if n_all > 0 else np.nan,
            "PR": float(m),
            "MESH": float(_ratio((p_area * p_area).sum() * cell_area, n_all)) / 1e4,
            "DIVISION": 1.0 - float(_ratio((p_area * p_area).sum(), n_all * n_all)) if n_all > 0 else np.nan,
            "COHESION": float(_ratio(100.0 * (1.0 - sum_p / sum_ps), 1.0 - 1.0 / math.sqrt(n_all)))
            if n_all > 1 and sum_ps > 0 else np.nan,
            "CONTAG": np.nan,
            "AI": float(100.0 * (p * np.nan_to_num(_ratio(g_ii / 2.0, _max_like(n_i)))).sum()) if n_all > 0 else np.nan,
            "PLADJ": float(_ratio(100.0 * g_ii.sum(), (4.0 * n_i).sum() if count_boundary else to_classes.sum())),
            "IJI": np.nan,
        }
        if m >= 2:
            share = _ratio(g, to_classes[:, None])  # g_ik / Σ_k g_ik
            x = np.nan_to_num(p[:, None] * share)
            vals["CONTAG"] = 100.0 * (1.0 + _xlogx(x).sum() / (2.0 * math.log(m)))
        if m >= 3 and between > 0:
            e = g[np.triu_indices(n_k, 1)] / between
            vals["IJI"] = 100.0 * -_xlogx(e).sum() / math.log(m * (m - 1) / 2.0)
        row = {k: vals[k] for k in metrics}
        df = pd.DataFrame([row], index=pd.Index(["landscape"], name="level"))
    else:
        p_max = np.zeros(n_k)
        if p_area.size:
            np.maximum.at(p_max, p_cls, p_area)
        np_i = np.bincount(p_cls, minlength=n_k).astype(np.float64)
        sq = np.bincount(p_cls, weights=p_area * p_area, minlength=n_k)
        sum_p = np.bincount(p_cls, weights=p_per, minlength=n_k)
        sum_ps = np.bincount(p_cls, weights=p_per * np.sqrt(p_area), minlength=n_k)
        te = (estar if count_boundary else unlike) * cell_size
        others = g - np.diag(g_ii)
        iji = np.full(n_k, np.nan)
        if m >= 3:
            e = _ratio(others, unlike[:, None])
            iji = np.where(unlike > 0, 100.0 * -_xlogx(np.nan_to_num(e)).sum(axis=1) / math.log(m - 1), np.nan)
        coh_den = 1.0 - 1.0 / math.sqrt(n_all) if n_all > 1 else 0.0
        vals = {
            "CA": n_i * cell_area / 1e4,
            "PLAND": _ratio(100.0 * n_i, n_all),
            "NP": np_i,
            "PD": _ratio(np_i * 1e6, area_m2),
            "LPI": _ratio(100.0 * p_max, n_all),
            "TE": te,
            "ED": _ratio(te * 1e4, area_m2),
            "LSI": _ratio(estar, _min_edge(n_i)),
            "MESH": _ratio(sq * cell_area, n_all) / 1e4,
            "DIVISION": 1.0 - _ratio(sq, n_all * n_all),
            "COHESION": _ratio(100.0 * (1.0 - _ratio(sum_p, sum_ps)), coh_den) if coh_den > 0 else np.full(n_k, np.nan),
            "AI": 100.0 * _ratio(g_ii / 2.0, _max_like(n_i)),
            "PLADJ": 100.0 * _ratio(g_ii, 4.0 * n_i if count_boundary else to_classes),
            "IJI": iji,
        }
        df = pd.DataFrame({k: np.asarray(vals[k], np.float64) for k in metrics},
                          index=pd.Index(codes, name="class"))
    df.attrs = {**attrs, "units": {k: UNITS[k] for k in metrics},
                "long_names": {k: LONG_NAMES[k] for k in metrics}}
    return df


# ------------------------------------------------------------------ public
def _metric_list(metrics, level):
    allowed = LANDSCAPE_LEVEL if level == "landscape" else CLASS_LEVEL
    if metrics is None:
        return list(allowed)
    if isinstance(metrics, str):
        metrics = [metrics]
    out = [str(x).upper() for x in metrics]
    bad = [x for x in out if x not in allowed]
    if bad:
        other = CLASS_LEVEL if level == "landscape" else LANDSCAPE_LEVEL
        hint = [x for x in bad if x in other]
        extra = f" ({hint} exist only at level={'class' if level == 'landscape' else 'landscape'!r})" if hint else ""
        raise ValueError(f"unknown {level}-level metric(s) {bad}{extra}; choose from {list(allowed)}.")
    return out


def patch_tables(lulc, *, neighbours=8, nodata=None):
    """The merged per-patch and adjacency tables of ``lulc`` as a ``dask.delayed`` (or a dict for numpy).

    Keys: ``codes`` (class codes present), ``adj`` (double-count 4-neighbour adjacency matrix,
    last row / column nodata), ``patch_class`` (index into ``codes``), ``patch_area`` (cells),
    ``patch_perimeter`` (cell sides, landscape boundary and nodata included).
    """
    _grid(lulc)
    eight = _neighbours(neighbours)
    nd = _nodata_value(lulc, nodata)
    data = lulc.data
    if isinstance(data, dsa.Array):
        grid = data.to_delayed()
        summ = dask.delayed(_block_summary, pure=True)
        parts = [summ(grid[i, j], nd, eight) for i in range(grid.shape[0]) for j in range(grid.shape[1])]
        return dask.delayed(_merge, pure=True)(parts, grid.shape, eight)
    arr = np.asarray(data)
    if arr.size == 0:
        raise ValueError("lulc is empty; it needs at least one cell.")
    return _merge([_block_summary(arr, nd, eight)], (1, 1), eight)


def landscape_metrics(lulc, metrics=None, *, level="landscape", neighbours=8, count_boundary=False, nodata=None,
                      cell_size=None, compute=True):
    """FRAGSTATS metrics of a class raster, at landscape or class level (seed 004 Table 2).

    Parameters
    ----------
    lulc : xarray.DataArray
        2-D (y, x) class codes (integers; float with NaN allowed), numpy or dask backed, any
        chunking: patches are labelled across chunk edges, so the result does not depend on it.
    metrics : sequence of str, optional
        Default: every metric of the level (``LANDSCAPE_LEVEL`` / ``CLASS_LEVEL``).
    level : {"landscape", "class"}
    neighbours : {8, 4}
        Patch rule: cells of one class are one patch if they touch by a side (4) or also by
        a corner (8, FRAGSTATS' default).  Adjacency counts always use the 4 sides.
    count_boundary : bool
        False (FRAGSTATS' default): TE / ED count only edges between two classes; True: also
        edges between a class and nodata or the outside of the raster (also the denominator
        of PLADJ).  LSI always counts them, as FRAGSTATS does.
    nodata : number, optional
        Code of missing cells (default ``lulc.attrs["nodata"]`` or ``_FillValue``; NaN always).
    cell_size : float, optional
        Cell side in metres (default: the coordinates' step; square cells only).
    compute : bool
        False returns a ``dask.delayed`` yielding the DataFrame (nothing computed).

    Returns
    -------
    pandas.DataFrame
        One row (``landscape``) or one row per class code; ``attrs["units"]`` per column.
    """
    if level not in ("landscape", "class"):
        raise ValueError(f"level must be 'landscape' or 'class', got {level!r}.")
    _grid(lulc)
    names = _metric_list(metrics, level)
    eight = _neighbours(neighbours)
    if not isinstance(count_boundary, (bool, np.bool_)):
        raise TypeError(f"count_boundary must be True or False, got {count_boundary!r}.")
    cs = _cell_size(lulc, cell_size)
    nd = _nodata_value(lulc, nodata)
    attrs = {"level": level, "neighbours": 8 if eight else 4, "count_boundary": bool(count_boundary),
             "cell_size_m": cs, "nodata": nd, "source": "FRAGSTATS definitions (McGarigal); seed 004 Table 2"}
    tables = patch_tables(lulc, neighbours=neighbours, nodata=nd)
    if isinstance(tables, dict):
        df = _table(tables, cs, level, names, bool(count_boundary), attrs)
        return df if compute else dask.delayed(df)
    res = dask.delayed(_table, pure=True)(tables, cs, level, names, bool(count_boundary), attrs)
    return res.compute() if compute else res


__all__ = ["CLASS_LEVEL", "LANDSCAPE_LEVEL", "UNITS", "landscape_metrics", "patch_tables"]
