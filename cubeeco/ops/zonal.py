"""Zonal statistics over polygons (exactextract's definition), rings and distance bands.

* :func:`zonal_stats` -- coverage-weighted statistics of a (time, y, x) or (y, x) raster
  per polygon, computed chunk by chunk: per spatial chunk the polygons that intersect it
  (STRtree, at graph-build time), their coverage in that window only
  (:func:`cubeeco.kernels.zonal.coverage`), weighted moments per (polygon, layer)
  (:func:`cubeeco.kernels.groupby.group_moments`), folded across chunks by a pairwise
  tree of ``merge_moments``, finished into a tidy DataFrame;
* :func:`rings` -- n rings of a fixed width outside each polygon (seed 001: 200 m rings
  out to 1 km around each mine);
* :func:`distance_bands` -- bands at fixed distances around the union of all polygons
  (seed 004: 1 km bands around the mining landscape).

The definitions (coverage, each statistic, units, memory) are in docs/zonal.md.

>>> import numpy as np, xarray as xr, geopandas as gpd, shapely, rioxarray
>>> da = xr.DataArray(np.arange(16.0).reshape(4, 4), dims=("y", "x"),
...                   coords={"y": [3.5, 2.5, 1.5, 0.5], "x": [0.5, 1.5, 2.5, 3.5]},
...                   attrs={"units": "1"}).rio.write_crs("EPSG:32649")
>>> zones = gpd.GeoDataFrame(geometry=[shapely.box(0, 3, 2.5, 4)], crs="EPSG:32649")
>>> zonal_stats(da, zones, stats=("count", "sum", "mean"))
   zone  count  sum  mean
0     0    2.5  2.0   0.8
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from ..kernels import groupby as G
from ..kernels import zonal as K
from ._checks import finite_scalar, require_dataarray, require_float

MOMENT_STATS = ("count", "sum", "mean", "min", "max", "std", "stdev", "variance", "n_pixels")
ORDER_STATS = ("median", "quantile")
STATS = (*MOMENT_STATS, *ORDER_STATS, "area")
COVERAGES = ("fraction", "center")

# statistic -> finalize() name (groupby kernels); count is the coverage-weighted count
_FINAL = {"count": "weight", "sum": "sum", "mean": "mean", "min": "min", "max": "max",
          "std": "std", "stdev": "std", "variance": "var", "n_pixels": "count"}

# windows of numpy-backed input: the same per-chunk code as dask, memory bounded per window
NUMPY_WINDOW = 1024


# ------------------------------------------------------------------ arguments
def _stats_list(stats, quantiles):
    if isinstance(stats, str):
        stats = (stats,)
    try:
        stats = tuple(stats)
    except TypeError:
        raise TypeError(f"stats must be a statistic name or a sequence of them, got {type(stats).__name__}.") from None
    if not stats and quantiles is None:
        raise ValueError(f"stats is empty; pass one or more of {STATS}.")
    for s in stats:
        if not isinstance(s, str) or s not in STATS:
            raise ValueError(f"unknown statistic {s!r} in stats; expected one of {STATS}.")
    if len(set(stats)) != len(stats):
        raise ValueError(f"stats lists a statistic twice: {stats}.")
    qs = ()
    if quantiles is not None:
        if np.isscalar(quantiles):
            quantiles = (quantiles,)
        qs = tuple(finite_scalar(q, "quantiles") for q in quantiles)
        for q in qs:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantiles must lie in [0, 1], got {q}.")
    if "quantile" in stats and not qs:
        raise ValueError("stats has 'quantile' but quantiles= is not given; pass e.g. quantiles=(0.1, 0.9).")
    return tuple(s for s in stats if s != "quantile"), qs


def quantile_column(q: float) -> str:
    """Column name of quantile ``q``: 0.1 -> ``q10``, 0.125 -> ``q12.5``."""
    return f"q{round(q * 100, 10):g}"


def _raster_crs(da):
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    from pyproj import CRS

    crs = None
    try:
        crs = da.rio.crs
    except Exception:  # an unreadable grid mapping is "no CRS" here
        crs = None
    if crs is None and "crs" in da.attrs:
        crs = da.attrs["crs"]
    if crs is None:
        raise ValueError("da has no CRS: write one with da.rio.write_crs(...) (a spatial_ref "
                         "coordinate), so that the zones can be matched to the raster.")
    return CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)


def _axis(da, dim):
    c = np.asarray(da[dim].values, dtype=np.float64)
    if c.size >= 2:
        step = np.diff(c)
        d = float(step[0])
        if d == 0 or not np.allclose(step, d, rtol=1e-6, atol=0.0):
            raise ValueError(f"da's {dim!r} coordinate is not regularly spaced; zonal_stats needs a regular grid "
                             f"of pixel centres (reproject it onto the analysis grid first).")
    else:
        try:
            res = da.rio.resolution()
        except Exception:  # noqa: BLE001  (rioxarray: a one-pixel axis without a transform)
            raise ValueError(f"da has one pixel along {dim!r} and no transform, so its pixel size is unknown; "
                             f"write one with da.rio.write_transform(...).") from None
        d = float(res[0] if dim == "x" else res[1])
    return float(c[0] - d / 2.0), d  # edge of the first pixel, signed step


def _check_da(da):
    require_dataarray(da, "da")
    require_float(da, "da")
    if "y" not in da.dims or "x" not in da.dims:
        raise ValueError(f"da must have dimensions 'y' and 'x' (pixel-centre coordinates); it has {tuple(da.dims)}.")
    other = [d for d in da.dims if d not in ("y", "x")]
    if len(other) > 1:
        raise ValueError(f"da must be (y, x) or (time, y, x); it has the extra dimensions {tuple(other)}. "
                         f"Select or stack them first.")
    for dim in ("y", "x"):
        if dim not in da.coords:
            raise ValueError(f"da has no {dim!r} coordinate; zonal_stats needs pixel-centre coordinates.")
    return other[0] if other else None


def _as_frame(zones, id_column, what):
    """``zones`` (a GeoDataFrame, GeoSeries or path) as a non-empty GeoDataFrame with ``id_column``."""
    import geopandas as gpd

    if isinstance(zones, (str, os.PathLike)):
        zones = gpd.read_file(zones)
    elif isinstance(zones, gpd.GeoSeries):
        zones = zones.to_frame("geometry")
    if not isinstance(zones, gpd.GeoDataFrame):
        raise TypeError(f"zones must be a GeoDataFrame or a path to a vector file, got {type(zones).__name__}.")
    if len(zones) == 0:
        raise ValueError(f"zones is empty: {what} needs at least one polygon.")
    if id_column is not None and id_column not in zones.columns:
        raise ValueError(f"id_column {id_column!r} is not a column of zones; its columns are {list(zones.columns)}.")
    return zones


def _read_zones(zones, crs, id_column):
    import shapely

    zones = _as_frame(zones, id_column, "zonal_stats")
    geoms = np.asarray(zones.geometry.values, dtype=object)
    present = ~shapely.is_missing(geoms)
    types = shapely.get_type_id(geoms[present])
    bad = ~np.isin(types, (3, 6)) & ~shapely.is_empty(geoms[present])
    if bad.any():
        kinds = sorted({shapely.get_type_id(g) for g in geoms[present][bad]})
        names = sorted({g.geom_type for g in geoms[present][bad]})
        raise ValueError(f"zones must hold Polygon or MultiPolygon geometries; found {names} "
                         f"(type ids {kinds}). Buffer points and lines into polygons first.")
    if zones.crs is None:
        raise ValueError("zones has no CRS; set it with zones.set_crs(...) (the raster's CRS is "
                         f"{crs.to_string()}).")
    if not zones.crs.equals(crs):
        zones = zones.to_crs(crs)
    ids = zones[id_column].to_numpy() if id_column is not None else zones.index.to_numpy()
    return np.asarray(zones.geometry.values, dtype=object), ids


# ------------------------------------------------------------------ geometry in pixel space
def _pixel_geometry(geoms, x0, dx, y0, dy):
    """Vertices of every ring in raster pixel coordinates (u = column, v = row), packed."""
    import shapely

    n_poly = len(geoms)
    geoms = np.where(shapely.is_missing(geoms), shapely.from_wkt("POLYGON EMPTY"), geoms)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of_part = shapely.get_rings(parts, return_index=True)
    coords, vert_of_ring = shapely.get_coordinates(rings, return_index=True)
    n_rings = len(rings)
    ring_poly = part_of[ring_of_part]
    # the first ring of each part is its exterior
    first = np.ones(n_rings, dtype=bool)
    first[1:] = ring_of_part[1:] != ring_of_part[:-1]
    ring_sign = np.where(first, 1.0, -1.0)
    ring_offsets = np.zeros(n_rings + 1, dtype=np.int64)
    np.cumsum(np.bincount(vert_of_ring, minlength=n_rings), out=ring_offsets[1:])
    poly_rings = np.zeros(n_poly + 1, dtype=np.int64)
    np.cumsum(np.bincount(ring_poly, minlength=n_poly), out=poly_rings[1:])
    u = (coords[:, 0] - x0) / dx
    v = (coords[:, 1] - y0) / dy
    # bounding boxes in pixel space (empty polygons: inverted, never intersect)
    vpoly = ring_poly[vert_of_ring] if len(coords) else np.zeros(0, dtype=np.int64)
    bbox = np.empty((n_poly, 4))
    bbox[:, 0] = bbox[:, 2] = np.inf
    bbox[:, 1] = bbox[:, 3] = -np.inf
    np.minimum.at(bbox[:, 0], vpoly, v)
    np.maximum.at(bbox[:, 1], vpoly, v)
    np.minimum.at(bbox[:, 2], vpoly, u)
    np.maximum.at(bbox[:, 3], vpoly, u)
    return {"u": u, "v": v, "ring_offsets": ring_offsets, "ring_sign": ring_sign,
            "poly_rings": poly_rings, "bbox": bbox}


def _ranges(starts, stops):
    """Concatenation of ``arange(starts[i], stops[i])``."""
    lens = stops - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(stops - lens.cumsum(), lens)
    return np.arange(total, dtype=np.int64) + offs


def _covered_window(px, sel, row0, col0, shape):
    """(row start, row stop, col start, col stop) in the chunk at (row0, col0) of the union
    of the bounding boxes of polygons ``sel``, clipped to the chunk."""
    bbox = px["bbox"][sel]
    with np.errstate(invalid="ignore"):
        a = int(np.clip(np.floor(bbox[:, 0].min()) - row0, 0, shape[0]))
        b = int(np.clip(np.ceil(bbox[:, 1].max()) - row0, 0, shape[0]))
        c = int(np.clip(np.floor(bbox[:, 2].min()) - col0, 0, shape[1]))
        d = int(np.clip(np.ceil(bbox[:, 3].max()) - col0, 0, shape[1]))
    return a, max(a + 1, b), c, max(c + 1, d)


def _subset(px, sel, row0, col0):
    """The packed rings of polygons ``sel`` in the coordinates of the window at (row0, col0)."""
    pr = px["poly_rings"]
    ring_idx = _ranges(pr[sel], pr[sel + 1])
    ro = px["ring_offsets"]
    vert_idx = _ranges(ro[ring_idx], ro[ring_idx + 1])
    ring_len = ro[ring_idx + 1] - ro[ring_idx]
    ring_offsets = np.zeros(len(ring_idx) + 1, dtype=np.int64)
    np.cumsum(ring_len, out=ring_offsets[1:])
    poly_rings = np.zeros(len(sel) + 1, dtype=np.int64)
    np.cumsum(pr[sel + 1] - pr[sel], out=poly_rings[1:])
    bbox = px["bbox"][sel] - np.array([row0, row0, col0, col0], dtype=np.float64)
    return {"ids": np.asarray(sel, dtype=np.int64), "u": px["u"][vert_idx] - col0, "v": px["v"][vert_idx] - row0,
            "ring_offsets": ring_offsets, "ring_sign": px["ring_sign"][ring_idx], "poly_rings": poly_rings,
            "bbox": bbox}


def window_coverage(sub, n_rows, n_cols, center=False):
    """Sparse coverage (local polygon index, pixel index, weight) of a ``n_rows`` x ``n_cols``
    window by the polygons of ``sub`` (from :func:`_subset`)."""
    bbox = sub["bbox"]
    win = np.empty((len(bbox), 4), dtype=np.int64)
    with np.errstate(invalid="ignore"):
        win[:, 0] = np.clip(np.floor(bbox[:, 0]), 0, n_rows)
        win[:, 1] = np.clip(np.ceil(bbox[:, 1]), 0, n_rows)
        win[:, 2] = np.clip(np.floor(bbox[:, 2]), 0, n_cols)
        win[:, 3] = np.clip(np.ceil(bbox[:, 3]), 0, n_cols)
    nr = np.maximum(win[:, 1] - win[:, 0], 0)
    nc = np.maximum(win[:, 3] - win[:, 2], 0)
    size = int((nr * nc).sum())
    if size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    cover = np.empty((int(nr.max()), int(nc.max()) + 1))
    full = np.empty_like(cover)
    out_poly = np.empty(size, dtype=np.int64)
    out_pix = np.empty(size, dtype=np.int64)
    out_w = np.empty(size, dtype=np.float64)
    n = K.coverage(sub["u"], sub["v"], sub["ring_offsets"], sub["ring_sign"], sub["poly_rings"], win,
                   int(n_cols), bool(center), cover, full, out_poly, out_pix, out_w)
    return out_poly[:n], out_pix[:n], out_w[:n]


# ------------------------------------------------------------------ per chunk, merge, finish
def _chunk_table(block, sub, shape, n_layers, center, want_values):
    """Partial table of one chunk: moments (L, 7, k) of the k polygons in ``sub``."""
    n_rows, n_cols = shape
    block = np.asarray(block).reshape(n_layers, n_rows * n_cols)
    poly, pix, w = window_coverage(sub, n_rows, n_cols, center)
    k = len(sub["ids"])
    values = block[:, pix]
    table = {"ids": sub["ids"], "moments": G.group_moments(poly, values, k, weights=w),
             "area": np.bincount(poly, weights=w, minlength=k), "values": []}
    if want_values:
        table["values"] = [(sub["ids"][poly], values, w)]
    return table


def _merge_tables(a, b):
    """Union of two partial tables (polygon ids sorted in each)."""
    if len(a["ids"]) == 0:
        return {**b, "values": a["values"] + b["values"]}
    if len(b["ids"]) == 0:
        return {**a, "values": a["values"] + b["values"]}
    ids = np.union1d(a["ids"], b["ids"])
    n_layers = a["moments"].shape[0]
    ia = np.searchsorted(ids, a["ids"])
    ib = np.searchsorted(ids, b["ids"])
    ma = G.empty_moments(n_layers, len(ids))
    mb = G.empty_moments(n_layers, len(ids))
    ma[:, :, ia] = a["moments"]
    mb[:, :, ib] = b["moments"]
    area = np.zeros(len(ids))
    area[ia] += a["area"]
    area[ib] += b["area"]
    return {"ids": ids, "moments": G.merge_moments(ma, mb), "area": area, "values": a["values"] + b["values"]}


def _empty_table(n_layers):
    return {"ids": np.zeros(0, np.int64), "moments": G.empty_moments(n_layers, 0), "area": np.zeros(0), "values": []}


def _tree(parts, merge, call):
    """Pairwise tree of ``merge`` over ``parts`` (depth log2 n, each merge sees two tables)."""
    while len(parts) > 1:
        nxt = [call(merge, parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        if len(parts) % 2:
            nxt.append(parts[-1])
        parts = nxt
    return parts[0]


def _weighted_quantiles(values_list, n_poly, n_layers, qs):
    """(n_q, L, n_poly) exactextract quantiles from the (polygon, values (L, n), weight) triples."""
    out = np.full((len(qs), n_layers, n_poly), np.nan)
    if not values_list:
        return out
    ids = np.concatenate([t[0] for t in values_list])
    vals = np.concatenate([t[1] for t in values_list], axis=1)
    w = np.concatenate([t[2] for t in values_list])
    qs = np.asarray(qs, dtype=np.float64)
    for lyr in range(n_layers):
        v = vals[lyr].astype(np.float64)
        ok = ~np.isnan(v)
        g, v, ww = ids[ok], v[ok], w[ok].copy()
        order = np.lexsort((v, g))
        g, v, ww = g[order], np.ascontiguousarray(v[order]), np.ascontiguousarray(ww[order])
        starts = np.searchsorted(g, np.arange(n_poly + 1)).astype(np.int64)
        res = np.empty((n_poly, len(qs)))
        K.weighted_quantiles(starts, v, ww, qs, res)
        out[:, lyr, :] = res.T
    return out


def _finish(tables, meta):
    """The tidy DataFrame from one merged table per layer chunk."""
    n_poly = meta["n_poly"]
    moments = np.concatenate(
        [_dense(t, nl, n_poly) for t, nl in zip(tables, meta["layer_chunks"], strict=True)], axis=0)
    area = np.zeros(n_poly)
    area[tables[0]["ids"]] = tables[0]["area"]
    n_layers = moments.shape[0]
    cols = {}
    for s in meta["stats"]:
        if s == "area":
            cols[s] = np.broadcast_to(area * meta["pixel_km2"], (n_layers, n_poly))
        elif s == "median":
            continue
        else:
            cols[s] = G.finalize(moments, _FINAL[s])
    order_qs = meta["order_qs"]
    if order_qs:
        qv = np.concatenate([_weighted_quantiles(t["values"], n_poly, nl, order_qs)
                             for t, nl in zip(tables, meta["layer_chunks"], strict=True)], axis=1)
        if "median" in meta["stats"]:
            cols["median"] = qv[order_qs.index(0.5)]
        for q in meta["quantiles"]:
            cols[quantile_column(q)] = qv[order_qs.index(q)]
    # one row per polygon (x layer), polygon-major
    data = {meta["id_name"]: np.repeat(meta["ids"], n_layers)}
    if meta["layer_dim"] is not None:
        data[meta["layer_dim"]] = np.tile(meta["layer_values"], n_poly)
    names = list(meta["stats"]) + [quantile_column(q) for q in meta["quantiles"]]
    for name in names:
        data[name] = np.asarray(cols[name]).T.reshape(-1)
    df = pd.DataFrame(data)
    df.attrs["units"] = dict(meta["units"])
    df.attrs["coverage"] = meta["coverage"]
    return df


def _dense(table, n_layers, n_poly):
    m = G.empty_moments(n_layers, n_poly)
    m[:, :, table["ids"]] = table["moments"]
    return m


def _units(stats, quantiles, value_units):
    u = None if value_units is None else str(value_units)
    sq = None if u is None else (f"({u})2" if " " in u else f"{u}2")
    table = {"count": "pixels (coverage-weighted)", "n_pixels": "pixels", "area": "km2", "sum": u, "mean": u,
             "min": u, "max": u, "std": u, "stdev": u, "variance": sq, "median": u}
    out = {s: table[s] for s in stats}
    out.update({quantile_column(q): u for q in quantiles})
    return out


# ------------------------------------------------------------------ public
def zonal_stats(da, zones, stats=("mean",), *, coverage="fraction", id_column=None, quantiles=None,
                compute=True):
    """Coverage-weighted statistics of ``da`` per polygon of ``zones`` (exactextract's definition).

    Parameters
    ----------
    da : xarray.DataArray
        (y, x) or (time, y, x), numpy or dask backed, with a CRS (``da.rio.crs``) and
        regular pixel-centre ``x``/``y`` coordinates (either direction).  NaN is missing.
    zones : geopandas.GeoDataFrame or path
        Polygons / MultiPolygons (holes, overlaps, parts outside the raster allowed);
        reprojected to the raster's CRS.
    stats : str or sequence of str
        Any of ``count`` (Σ coverage of non-NaN pixels), ``sum`` (Σ w·v), ``mean``,
        ``min``, ``max`` (over pixels with w > 0), ``std``/``stdev``, ``variance``
        (weighted, population), ``median``, ``quantile`` (with ``quantiles=``),
        ``area`` (km² covered, NaN pixels included), ``n_pixels`` (pixels with w > 0
        and a value).
    coverage : {"fraction", "center"}
        Pixel weight: the fraction of its area inside the polygon, or 1 where its
        centre is inside (0 else).
    id_column : str, optional
        Column of ``zones`` that names each row; default the zones' index, as ``zone``.
    quantiles : sequence of float, optional
        Adds one column per quantile, named ``q10`` for 0.1 (:func:`quantile_column`).
    compute : bool
        False returns a ``dask.delayed`` that yields the DataFrame; for dask input it computes
        nothing (numpy input is summarised at once and the delayed holds the result).

    Returns
    -------
    pandas.DataFrame
        One row per polygon (x time step for 3-D input, with a column for the leading
        dimension), in the zones' order; ``attrs["units"]`` maps each column to its units.
    """
    if coverage not in COVERAGES:
        raise ValueError(f"coverage must be one of {COVERAGES}, got {coverage!r}.")
    stat_list, qs = _stats_list(stats, quantiles)
    layer_dim = _check_da(da)
    crs = _raster_crs(da)
    if "area" in stat_list and not crs.is_projected:
        raise ValueError(f"stat 'area' needs a projected CRS (metres); da's CRS {crs.name!r} is not projected.")
    geoms, ids = _read_zones(zones, crs, id_column)
    x0, dx = _axis(da, "x")
    y0, dy = _axis(da, "y")
    order_qs = tuple(dict.fromkeys(((0.5,) if "median" in stat_list else ()) + qs))
    if layer_dim is None:
        arr = da.transpose("y", "x")
        layer_values = None
    else:
        arr = da.transpose(layer_dim, "y", "x")
        layer_values = np.asarray(da[layer_dim].values) if layer_dim in da.coords else np.arange(da.sizes[layer_dim])
    data = arr.data
    lazy = not isinstance(data, np.ndarray)
    ny, nx = da.sizes["y"], da.sizes["x"]
    n_layers = 1 if layer_dim is None else da.sizes[layer_dim]
    unit = crs.axis_info[0].unit_conversion_factor if crs.is_projected and crs.axis_info else 1.0
    meta = {"n_poly": len(geoms), "ids": ids, "id_name": id_column or "zone", "layer_dim": layer_dim,
            "layer_values": layer_values, "stats": stat_list, "quantiles": qs, "order_qs": order_qs,
            "pixel_km2": abs(dx * dy) * unit * unit / 1e6, "coverage": coverage,
            "units": _units(stat_list, qs, da.attrs.get("units"))}

    import shapely

    px = _pixel_geometry(geoms, x0, dx, y0, dy)
    tree_geoms = shapely.transform(geoms, lambda c: np.column_stack([(c[:, 0] - x0) / dx, (c[:, 1] - y0) / dy]))
    strtree = shapely.STRtree(tree_geoms)
    if lazy:
        if data.ndim == 2:
            row_chunks, col_chunks = data.chunks
            layer_chunks = (1,)
        else:
            layer_chunks, row_chunks, col_chunks = data.chunks
    else:
        row_chunks = _even(ny, NUMPY_WINDOW)
        col_chunks = _even(nx, NUMPY_WINDOW)
        layer_chunks = (n_layers,)
    meta["layer_chunks"] = tuple(int(c) for c in layer_chunks)
    center = coverage == "center"
    want_values = bool(order_qs)

    if lazy:
        import dask

        def call(f, *args):
            return dask.delayed(f, pure=True)(*args)
    else:
        def call(f, *args):
            return f(*args)

    row_offs = np.cumsum([0, *row_chunks])
    col_offs = np.cumsum([0, *col_chunks])
    windows = []
    for i in range(len(row_chunks)):
        for j in range(len(col_chunks)):
            r0, r1, c0, c1 = row_offs[i], row_offs[i + 1], col_offs[j], col_offs[j + 1]
            sel = strtree.query(shapely.box(c0, r0, c1, r1), predicate="intersects")
            # a polygon that only touches the chunk's edge covers none of its pixels (and its
            # window would be a strip of the next chunk, counted twice)
            bb = px["bbox"][sel]
            inside = (np.floor(bb[:, 0]) < r1) & (np.ceil(bb[:, 1]) > r0) & \
                     (np.floor(bb[:, 2]) < c1) & (np.ceil(bb[:, 3]) > c0)
            sel = sel[inside]
            if len(sel):
                windows.append((i, j, np.sort(sel)))
    per_layer_chunk = []
    for t, nl in enumerate(layer_chunks):
        t0 = int(sum(layer_chunks[:t]))
        parts = []
        for i, j, sel in windows:
            r0, c0 = int(row_offs[i]), int(col_offs[j])
            shape = (int(row_chunks[i]), int(col_chunks[j]))
            if lazy:
                # read only the window the chunk's polygons cover: dask fuses the slice into
                # the chunk's read (a GeoTIFF reads only the tiles under the mines)
                a, b, c, d = _covered_window(px, sel, r0, c0, shape)
                window = data[..., r0 + a:r0 + b, c0 + c:c0 + d]
                if layer_dim is not None:
                    window = window[t0:t0 + nl]
                block = window.to_delayed(optimize_graph=True).ravel()[0]
                r0, c0, shape = r0 + a, c0 + c, (b - a, d - c)
                sub = _subset(px, sel, r0, c0)
            else:
                sub = _subset(px, sel, r0, c0)
                block = data[t0:t0 + nl, r0:r0 + shape[0], c0:c0 + shape[1]] if layer_dim else \
                    data[r0:r0 + shape[0], c0:c0 + shape[1]]
            parts.append(call(_chunk_table, block, sub, shape, int(nl), center, want_values))
        per_layer_chunk.append(_tree(parts, _merge_tables, call) if parts else _empty_table(int(nl)))
    if lazy:
        import dask

        result = dask.delayed(_finish, pure=True)(per_layer_chunk, meta)
        return result.compute() if compute else result
    df = _finish(per_layer_chunk, meta)
    if compute:
        return df
    import dask

    return dask.delayed(df)


def _even(n, size):
    k = max(1, math.ceil(n / size))
    base = [n // k + (1 if i < n % k else 0) for i in range(k)]
    return tuple(base)


def _metric(zones, what):
    """(zones in a projected CRS, metres per CRS unit): geographic zones (a GeoJSON in
    lon/lat) go to their UTM zone, so that widths are metres."""
    if zones.crs is None:
        raise ValueError(f"zones has no CRS; {what} needs to know it to measure metres (zones.set_crs(...)).")
    if not zones.crs.is_projected:
        zones = zones.to_crs(zones.estimate_utm_crs())
    info = zones.crs.axis_info
    return zones, (info[0].unit_conversion_factor if info else 1.0)


def _polygon_zones(zones, id_column, what):
    import shapely

    zones = _as_frame(zones, id_column, what)
    geoms = np.asarray(zones.geometry.values, dtype=object)
    if shapely.is_missing(geoms).any():
        raise ValueError("zones has rows without a geometry.")
    bad = ~np.isin(shapely.get_type_id(geoms), (3, 6))
    if bad.any():
        raise ValueError(f"zones must hold Polygon or MultiPolygon geometries; found "
                         f"{sorted({g.geom_type for g in geoms[bad]})}.")
    return zones, geoms


def _positive(value, name):
    value = finite_scalar(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}.")
    return value


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")
    return int(value)


def rings(zones, width=200, n=5, *, id_column=None, quad_segs=16):
    """``n`` rings of ``width`` metres outside each polygon's boundary.

    Ring k is ``buffer(k·width) - buffer((k-1)·width)``; ring 1 is ``buffer(width)``
    minus the polygon itself (seed 001: 200 m rings out to 1 km around each mine).
    Buffers are shapely's, round, ``quad_segs`` segments per quarter circle (16, as
    ``geometry.buffer`` and geopandas).  Rings of
    neighbouring polygons may overlap each other (zonal_stats allows that).

    Returns a GeoDataFrame with the id (``id_column``, or the zones' index as ``zone``),
    ``ring`` (1..n), ``inner_m``, ``outer_m`` and the geometry, in the zones' CRS when it
    is projected, else in their UTM zone (widths are metres).
    """
    import geopandas as gpd
    import shapely

    zones, _ = _polygon_zones(zones, id_column, "rings")
    width = _positive(width, "width")
    n = _count(n, "n")
    zones, unit = _metric(zones, "rings")
    geoms = np.asarray(zones.geometry.values, dtype=object)
    ids = zones[id_column].to_numpy() if id_column is not None else zones.index.to_numpy()
    buffers = [geoms] + [shapely.buffer(geoms, k * width / unit, quad_segs=quad_segs) for k in range(1, n + 1)]
    pieces = np.stack([shapely.difference(buffers[k], buffers[k - 1]) for k in range(1, n + 1)], axis=1)
    k = np.arange(1, n + 1)
    return gpd.GeoDataFrame({id_column or "zone": np.repeat(ids, n), "ring": np.tile(k, len(geoms)),
                             "inner_m": np.tile((k - 1) * width, len(geoms)), "outer_m": np.tile(k * width, len(geoms))},
                            geometry=pieces.reshape(-1), crs=zones.crs)


def distance_bands(zones, width=1000, n=5, *, dissolve=True, quad_segs=16):
    """Bands of ``width`` metres around the union of all polygons.

    Band k holds the points at distance ((k-1)·width, k·width] from the nearest polygon:
    ``buffer(U, k·width) - buffer(U, (k-1)·width)`` with U the union of the zones (band 1
    is ``buffer(U, width) - U``) — seed 004's 1 km bands around the mining landscape.
    ``dissolve=True``: one row per band (a MultiPolygon where the band has several parts);
    ``dissolve=False``: each band split into its connected parts, one row per part, with a
    ``part`` column.

    Returns a GeoDataFrame with ``band`` (1..n), ``inner_m``, ``outer_m`` (and ``part``)
    and the geometry, in the zones' CRS when it is projected, else in their UTM zone.
    """
    import geopandas as gpd
    import shapely

    zones, _ = _polygon_zones(zones, None, "distance_bands")
    width = _positive(width, "width")
    n = _count(n, "n")
    zones, unit = _metric(zones, "distance_bands")
    geoms = np.asarray(zones.geometry.values, dtype=object)
    union = shapely.union_all(geoms)
    buffers = [union] + [shapely.buffer(union, k * width / unit, quad_segs=quad_segs) for k in range(1, n + 1)]
    bands = np.array([shapely.difference(buffers[k], buffers[k - 1]) for k in range(1, n + 1)], dtype=object)
    k = np.arange(1, n + 1)
    out = gpd.GeoDataFrame({"band": k, "inner_m": (k - 1) * width, "outer_m": k * width}, geometry=bands,
                           crs=zones.crs)
    if dissolve:
        return out
    out = out.explode(index_parts=True)
    out["part"] = out.index.get_level_values(1)
    return out.reset_index(drop=True)[["band", "part", "inner_m", "outer_m", "geometry"]]


def zone_labels(zones, like, *, id_column=None):
    """Integer label raster of ``zones`` on ``like``'s (y, x) grid: 1..n by row, 0 outside.

    The cell-centre rule (a pixel belongs to the polygon holding its centre; where polygons
    overlap, the later row wins), lazy per chunk of ``like`` (rasterio's rasterize on each
    chunk's window).  Returns (labels, ids): the int32 DataArray and the zone ids in label
    order (``id_column``, else the index) -- the input of grouped reductions by zone
    (:func:`cubeeco.ops.vcs.vcs_accounting`).
    """
    import dask.array as dsa
    from affine import Affine
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.features import rasterize

    geoms, ids = _read_zones(zones, _raster_crs(like), id_column)
    x0, dx = _axis(like, "x")
    y0, dy = _axis(like, "y")
    shapes = [(g, k + 1) for k, g in enumerate(geoms) if g is not None and not g.is_empty]

    def block(ys, xs):
        if not shapes:
            return np.zeros((len(ys), len(xs)), np.int32)
        t = Affine(dx, 0.0, x0 + dx * xs[0], 0.0, dy, y0 + dy * ys[0])
        with warnings.catch_warnings():  # rasterio's in-memory dataset "has no geotransform": it is t
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterize(shapes, out_shape=(len(ys), len(xs)), transform=t, fill=0, dtype="int32")

    ny, nx = like.sizes["y"], like.sizes["x"]
    chunks = like.chunksizes if like.chunks is not None else {"y": (ny,), "x": (nx,)}
    iy = dsa.arange(ny, chunks=(chunks["y"],))
    ix = dsa.arange(nx, chunks=(chunks["x"],))
    data = dsa.blockwise(lambda a, b: block(a, b), "yx", iy, "y", ix, "x", dtype=np.int32)
    labels = xr.DataArray(data, dims=("y", "x"), coords={"y": like.y, "x": like.x}, name="zone",
                          attrs={"long_name": "zone label (1..n, 0 = none)", "rule": "cell centre"})
    return labels, list(ids)


__all__ = ["distance_bands", "quantile_column", "rings", "zonal_stats", "zone_labels"]
