"""MODIS NPP scale transformation, VCS and disturbance years (seed 002, Methods).

* :func:`npp_scale_transform` -- Eq. 1, coarse (500 m) NPP redistributed onto the
  vegetated 30 m pixels of each coarse cell;
* :func:`vcs` -- Eq. 2, VCS = NPP × 2.2 × 1.63 (g CO2 m-2 yr-1);
* :func:`destruction_restoration_years` -- first persistent vegetated -> bare year T_D
  and the following persistent bare -> vegetated year T_R from annual max NDVI;
* :func:`scale_transform` -- Eq. 1 on the exact native MODIS cells
  (:func:`modis_cell_index`), with NPP_bg sampled in wholly destroyed cells
  (:func:`modis_cell_stats`, :func:`npp_bg_samples`) and kriged per year
  (:func:`npp_background`, :mod:`cubeeco.ops.krige`).

>>> import numpy as np, xarray as xr
>>> npp = xr.DataArray(np.float32([100.0]), dims="x", attrs={"units": "g C m-2 yr-1"})
>>> round(float(vcs(npp)[0]), 1)
358.6
"""

from __future__ import annotations

import functools
import json
import warnings
from typing import TYPE_CHECKING

import dask.array as dsa
import numpy as np
import xarray as xr

from ..kernels import groupby as GB
from ..kernels import scale as K
from ._apply import apply_kernel, float_dtype
from ._checks import (
    finite_scalar,
    require_dataarray,
    require_dim,
    require_float,
    require_whole_core_dim,
)
from .indices import align_chunks
from .krige import outer_blockwise

if TYPE_CHECKING:
    import pandas as pd
from .reduce import grouped_moments

DEFAULT_FILL = -1


# ------------------------------------------------------------------ VCS (Eq. 2)
_NPP_UNITS = {
    "gcm-2yr-1": (1.0, "g CO2 m-2 yr-1"), "gcm-2a-1": (1.0, "g CO2 m-2 yr-1"),
    "gcm-2month-1": (1.0, "g CO2 m-2 month-1"), "kgcm-2yr-1": (1000.0, "g CO2 m-2 yr-1"),
}


def vcs(npp, *, organic_matter_factor: float = K.VCS_ORGANIC_MATTER, co2_factor: float = K.VCS_CO2) -> xr.DataArray:
    """Carbon sequestration in vegetation, VCS = NPP × 2.2 × 1.63 (seed 002 Eq. 2).

    2.2 g organic matter per g C, 1.63 g CO2 per g organic matter.  ``npp`` in
    g C m-2 yr-1 (also accepted: g C m-2 month-1, kg C m-2 yr-1, converted; no ``units``
    attribute is read as g C m-2 yr-1).  Returns g CO2 m-2 yr-1 (or per month).
    """
    require_dataarray(npp, "npp")
    require_float(npp, "npp")
    units = str(npp.attrs.get("units", "g C m-2 yr-1"))
    key = units.lower().replace(" ", "").replace("gc/", "gc").replace("(", "").replace(")", "")
    if key not in _NPP_UNITS:
        raise ValueError(f"npp has units {units!r}; vcs() expects g C m-2 yr-1 (or g C m-2 month-1, kg C m-2 yr-1).")
    to_g, out_units = _NPP_UNITS[key]
    dt = float_dtype(npp)
    factor = float(organic_matter_factor) * float(co2_factor) * to_g
    attrs = {"units": out_units, "long_name": "carbon sequestration in vegetation (VCS)",
             "conversion": f"NPP x {organic_matter_factor} x {co2_factor} (seed 002 Eq. 2)"}
    return apply_kernel(K.scale_by, npp.astype(dt), factor, output_dtypes=[dt], attrs=[attrs], names=["vcs"])


# ------------------------------------------------------------------ Eq. 1
def _block_cell_ids(ny, nx, ky, kx, ychunks, xchunks, dask_backed):
    """Coarse-cell index (row-major over the coarse grid) of each fine pixel for a k-nesting."""
    ncx = -(-nx // kx)
    if dask_backed:
        iy = dsa.arange(ny, chunks=(ychunks,)) // ky
        ix = dsa.arange(nx, chunks=(xchunks,)) // kx
    else:
        iy = np.arange(ny) // ky
        ix = np.arange(nx) // kx
    return iy[:, None] * ncx + ix[None, :], (-(-ny // ky)) * ncx


def _flat(block, nlead):
    """(lead..., y, x) block -> (L, N) with L = prod(lead)."""
    return block.reshape(int(np.prod(block.shape[:nlead], dtype=np.int64)), -1)


def _cell_table(b, veg, bg, ids, n_cells, dims):
    """The per-cell table (lead..., N_STATS, n_cells) of ``K.cell_assign`` by grouped moments.

    One pass of :func:`cubeeco.ops.reduce.grouped_moments` over three stacked layers,
    each masked to the cell's valid pixels (flag and NPP_b both present):
    NPP_b (count -> N_VALID, sum -> SUM_B), the 0/1 flag (sum -> N_VEG) and NPP_bg on
    destroyed pixels (sum -> SUM_BG_DESTROYED; NaN when one of them lacks NPP_bg, as a
    plain sum would give).
    """
    valid = veg.notnull() & b.notnull()
    layers = [b.where(valid), veg.where(valid), bg.where(valid & (veg <= 0))]
    stacked = xr.concat(layers, dim="_layer", coords="minimal", compat="override", join="override")
    stacked = stacked.transpose(*[d for d in b.dims if d not in dims], "_layer", *dims)
    m = grouped_moments(stacked, ids, n_cells, dims=dims).data  # (lead..., layer, moment, cell)
    n_valid, sum_b = m[..., 0, GB.N, :], m[..., 0, GB.SUM, :]
    n_veg = m[..., 1, GB.SUM, :]
    bg_complete = m[..., 2, GB.N, :] == n_valid - n_veg
    sum_bg = (dsa if isinstance(m, dsa.Array) else np).where(bg_complete, m[..., 2, GB.SUM, :], np.nan)
    parts = {K.N_VALID: n_valid, K.N_VEG: n_veg, K.SUM_B: sum_b, K.SUM_BG_DESTROYED: sum_bg}
    table = [parts[k] for k in range(K.N_STATS)]
    if isinstance(m, dsa.Array):
        return dsa.stack(table, axis=-2).rechunk({-2: -1})
    return np.stack(table, axis=-2)


def _assign_block(ids, veg, b, stats, *, nlead):
    shape = veg.shape
    st = stats.reshape(-1, K.N_STATS, stats.shape[-1])
    out = K.cell_assign(ids.ravel(), _flat(veg, nlead), st, _flat(b, nlead))
    return out.reshape(shape)


def npp_scale_transform(npp_coarse, vegetated, npp_bg, *, cells=None, factor=None, n_cells: int | None = None,
                        dims=("y", "x")) -> xr.DataArray:
    """Redistribute coarse NPP onto vegetated fine pixels, cell by cell (seed 002 Eq. 1).

    NPP_a = (NPP_b·S - NPP_bg·(S - S_veg)) / S_veg on vegetated pixels, 0 on destroyed ones.

    All inputs live on the fine (30 m) grid: ``npp_coarse`` is the MODIS NPP resampled
    by nearest neighbour (every fine pixel carries its parent cell's NPP_b, as
    ``cubeeco.open_npp`` delivers), ``npp_bg`` the background NPP of destroyed land (the
    kriged surface, or a number), ``vegetated`` the disturbance mask (> 0 or True:
    vegetated; 0 or False: destroyed; NaN: unknown, left out).  Extra dims (e.g. ``time``)
    are kept and each layer is transformed on its own.

    The parent cell of each fine pixel is given either by ``cells`` -- an integer raster
    over ``dims`` with the coarse-cell index (0 .. n_cells-1, negative = none), e.g. the
    MODIS row·ncols+col resampled like the NPP -- or by ``factor=(ky, kx)`` when the fine
    grid nests exactly in the coarse one.  S and S_veg are counted in fine pixels of the
    cell that lie on the grid and have a valid flag and NPP_b; NPP_b and NPP_bg of a
    cell are their means over those pixels (over its destroyed pixels for NPP_bg), which
    is Eq. 1 exactly for constant-per-cell inputs and conserves the cell total:
    Σ_veg NPP_a + Σ_destroyed NPP_bg = Σ NPP_b.  The per-cell sums are grouped moments
    (:func:`cubeeco.ops.reduce.grouped_moments`: per-block tables merged in a tree), so
    cells may straddle chunks; the assignment is one blockwise pass.  ``n_cells`` is
    needed when ``cells`` is dask-backed (the table size must be known without computing).
    """
    require_dataarray(npp_coarse, "npp_coarse")
    require_dataarray(vegetated, "vegetated")
    require_float(npp_coarse, "npp_coarse")
    for d in dims:
        require_dim(npp_coarse, d, "npp_coarse")
        require_dim(vegetated, d, "vegetated")
    if vegetated.dtype.kind not in "biuf":
        raise TypeError(f"vegetated must be boolean or numeric, got dtype {vegetated.dtype}.")
    if (cells is None) == (factor is None):
        raise ValueError("pass exactly one of cells= (coarse-cell index raster) or factor=(ky, kx) (exact nesting).")
    dt = float_dtype(npp_coarse)
    if not isinstance(npp_bg, xr.DataArray):
        try:
            npp_bg = xr.DataArray(np.asarray(float(npp_bg), dtype=dt))
        except (TypeError, ValueError):
            raise TypeError(f"npp_bg must be a DataArray or a number, got {type(npp_bg).__name__}.") from None
    require_float(npp_bg, "npp_bg")
    extra = [d for d in (*vegetated.dims, *npp_bg.dims) if d not in npp_coarse.dims]
    if extra:
        raise ValueError(f"vegetated/npp_bg have dims {extra} that npp_coarse lacks; they must share its grid.")
    for name, da in (("vegetated", vegetated), ("npp_bg", npp_bg)):
        for d in da.dims:
            if da.sizes[d] != npp_coarse.sizes[d]:
                raise ValueError(f"{name} has {da.sizes[d]} steps along {d!r} but npp_coarse has {npp_coarse.sizes[d]}.")

    ny, nx = (npp_coarse.sizes[d] for d in dims)
    lead = [d for d in npp_coarse.dims if d not in dims]
    order = [*lead, *dims]
    b = npp_coarse.astype(dt).transpose(*order)
    veg = xr.where(vegetated.notnull(), (vegetated > 0), np.nan).astype(dt) if vegetated.dtype.kind == "f" \
        else (vegetated != 0).astype(dt)
    veg, bg = (a.astype(dt).broadcast_like(b).transpose(*order) for a in (veg, npp_bg))

    if cells is not None:
        require_dataarray(cells, "cells")
        if cells.dtype.kind not in "iu":
            raise TypeError(f"cells must be an integer raster of coarse-cell indices, got dtype {cells.dtype}.")
        if set(cells.dims) != set(dims):
            raise ValueError(f"cells must have exactly the dims {tuple(dims)}, got {cells.dims}.")
        ids = cells.transpose(*dims).astype(np.int64)
        if n_cells is None:
            if ids.chunks is not None:
                raise ValueError("cells is dask-backed: pass n_cells= (e.g. rows x cols of the coarse grid).")
            n_cells = int(ids.values.max()) + 1 if ids.size else 0
    else:
        try:
            ky, kx = (int(k) for k in (factor if np.ndim(factor) else (factor, factor)))
        except (TypeError, ValueError):
            raise TypeError(f"factor must be an int or a pair (ky, kx), got {factor!r}.") from None
        if ky < 1 or kx < 1:
            raise ValueError(f"factor must be >= 1, got {factor!r}.")
        chunks = b.chunksizes
        data, nc = _block_cell_ids(ny, nx, ky, kx, chunks.get(dims[0], ny), chunks.get(dims[1], nx), b.chunks is not None)
        ids = xr.DataArray(data, dims=dims)
        n_cells = nc if n_cells is None else n_cells
    n_cells = int(n_cells)

    arrs = align_chunks({"npp_coarse": b, "vegetated": veg, "npp_bg": bg, "cells": ids})
    b, veg, bg, ids = (arrs[k] for k in ("npp_coarse", "vegetated", "npp_bg", "cells"))
    nlead = len(lead)
    attrs = {**npp_coarse.attrs, "long_name": "NPP after scale transformation (seed 002 Eq. 1)",
             "method": "Eq. 1 per coarse cell; destroyed pixels 0"}
    stats = _cell_table(b, veg, bg, ids, n_cells, dims)
    if b.chunks is None:
        data = _assign_block(ids.values, veg.values, b.values, stats, nlead=nlead)
    else:
        lead_idx = tuple(f"l{i}" for i in range(nlead))
        ind = (*lead_idx, "y", "x")
        data = dsa.blockwise(
            _assign_block, ind, ids.data, ("y", "x"), veg.data, ind, b.data, ind, stats, (*lead_idx, "s", "c"),
            dtype=dt, nlead=nlead, concatenate=True,
        )
    out = xr.DataArray(data, dims=order, coords=b.coords, attrs=attrs, name="npp")
    return out.transpose(*npp_coarse.dims)


# ------------------------------------------------------------------ disturbance years
def _years_of(da: xr.DataArray, dim: str) -> xr.DataArray:
    if dim not in da.coords:
        raise ValueError(f"max_ndvi needs a {dim!r} coordinate (datetimes or integer years) to name the years.")
    coord = da[dim]
    if np.issubdtype(coord.dtype, np.datetime64) or coord.dtype == object:
        years = coord.dt.year
    elif coord.dtype.kind in "iu":
        years = coord
    elif coord.dtype.kind == "f" and np.all(np.mod(coord.values, 1) == 0):
        years = coord
    else:
        raise TypeError(f"the {dim!r} coordinate must hold datetimes or integer years, got dtype {coord.dtype}.")
    return xr.DataArray(np.asarray(years.values, dtype=np.int64), dims=dim)


def destruction_restoration_years(max_ndvi, *, threshold: float, dim: str = "time", persistence: int = 2,
                                  fill_value: int = DEFAULT_FILL) -> xr.Dataset:
    """Vegetation destruction year T_D and restoration year T_R per pixel (seed 002, Auto-VDR style).

    ``max_ndvi``: annual maximum growing-season NDVI along ``dim`` (whole in one chunk).
    A year is vegetated when NDVI >= ``threshold`` (α) and bare below; NaN years are
    skipped.  T_D is the first year that starts ``persistence`` consecutive bare years
    after the pixel was vegetated at least once; T_R the first year after T_D that starts
    ``persistence`` consecutive vegetated years.  Changes in the last ``persistence`` - 1
    years cannot be confirmed and are not reported.  Years with none: ``fill_value`` (-1).
    Returns a Dataset of int32 ``destruction_year`` and ``restoration_year``.
    """
    require_dataarray(max_ndvi, "max_ndvi")
    require_float(max_ndvi, "max_ndvi")
    require_dim(max_ndvi, dim, "max_ndvi")
    require_whole_core_dim(max_ndvi, dim, "max_ndvi")
    threshold = finite_scalar(threshold, "threshold")
    if isinstance(persistence, bool) or int(persistence) != persistence or persistence < 1:
        raise ValueError(f"persistence must be an integer >= 1, got {persistence!r}.")
    fill_value = int(fill_value)
    years = _years_of(max_ndvi, dim)
    dt = float_dtype(max_ndvi)
    attrs = {"threshold": threshold, "persistence": int(persistence), "nodata": fill_value,
             "comment": f"{fill_value} = none"}
    d, r = apply_kernel(
        K.disturbance_years, max_ndvi.astype(dt), years, threshold, int(persistence), fill_value,
        input_core_dims=[[dim], [dim], [], [], []], output_core_dims=[[], []],
        output_dtypes=[np.int32, np.int32],
        attrs=[{**attrs, "long_name": "first year of persistent vegetation destruction"},
               {**attrs, "long_name": "first year of persistent vegetation restoration after destruction"}],
        names=["destruction_year", "restoration_year"],
    )
    ds = xr.Dataset({"destruction_year": d, "restoration_year": r})
    return ds.assign_attrs(threshold=threshold, persistence=int(persistence))


# ------------------------------------------------------------------ Eq. 1 on the exact MODIS grid
# Seed 002 (Methods, Fig. 4): NPP_b is the 500 m cell's MOD17A3HGF value, S and S_veg are
# counted over the 30 m pixels that fall in the cell, and NPP_bg is sampled in wholly
# destroyed cells and kriged over the area, per year.  The cells are kept exactly: every
# 30 m pixel centre is transformed to the sinusoidal CRS and gets its cell's index.
#
# Two phases, so a run over many regions never repeats a whole-area sum:
#   scale_reduce   -- the global reduction, computed once: per (year, cell) pixel counts
#                     (block-local tables, summed once), NPP_b, the samples, the kriging
#                     evaluated at the cell centres only, and so NPP_bg per (year, cell);
#   scale_transform -- purely blockwise: each pixel gathers its cell's row and applies Eq. 1.

# NPP_bg rule per year: code = position (stored as int8 with flag_values / flag_meanings)
BG_RULES = ("kriging", "mean", "mean_no_fit", "default", "median_other_years", "zero")
_RULE = {name: i for i, name in enumerate(BG_RULES)}
_FAN_IN = 8          # block tables merged 8 at a time (dask's default split_every for sums)


@functools.lru_cache(maxsize=32)
def _transformer(src_wkt: str, dst_wkt: str):
    from pyproj import Transformer

    return Transformer.from_crs(src_wkt, dst_wkt, always_xy=True)


def _cell_index_block(ys, xs, *, src, dst, transform, shape):
    """Row-major cell index (row * ncols + col) of the native window for pixel centres ys x xs."""
    gx = np.broadcast_to(xs[None, :], (ys.size, xs.size))
    gy = np.broadcast_to(ys[:, None], (ys.size, xs.size))
    sx, sy = _transformer(src, dst).transform(gx, gy)
    a, _, c, _, e, f = transform
    col = np.floor((np.asarray(sx) - c) / a)
    row = np.floor((np.asarray(sy) - f) / e)
    rows, cols = shape
    inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)     # NaN compares False
    return np.where(inside, row * cols + col, -1).astype(np.int64)


def _grid_template(like, name="like") -> xr.DataArray:
    require_dataarray(like, name)
    for d in ("y", "x"):
        if d not in like.dims or d not in like.coords:
            raise ValueError(f"{name} must have a {d!r} dimension with pixel-centre coordinates; it has "
                             f"dims {tuple(like.dims)}.")
    return like


def _native_window(native):
    from ..io.modis import NativeWindow, native_window_of

    if isinstance(native, NativeWindow):
        return native
    require_dataarray(native, "npp_native")
    return native_window_of(native)


def _grid_crs(like, name="like"):
    from .krige import crs_of, require_projected

    crs = crs_of(like)
    if crs is None:
        raise ValueError(f"{name} has no CRS (grid mapping, attrs['crs'] or spatial_ref); write one with "
                         f".rio.write_crs(...) so its pixels can be placed in the MODIS cells.")
    require_projected(crs, name)
    return crs


def _cell_ids(like, win, crs):
    """The (y, x) int64 cell index of ``like``'s pixel centres (dask per (y, x) chunk if lazy)."""
    ys = np.asarray(like["y"].values, np.float64)
    xs = np.asarray(like["x"].values, np.float64)
    kw = {"src": crs.to_wkt(), "dst": win.crs_wkt, "transform": tuple(win.transform), "shape": tuple(win.shape)}
    if like.chunks is None:
        return _cell_index_block(ys, xs, **kw)
    ch = like.chunksizes
    return outer_blockwise(_cell_index_block, "yx", dsa.from_array(ys, chunks=(ch["y"],)), "y",
                           dsa.from_array(xs, chunks=(ch["x"],)), "x", dtype=np.int64, concatenate=True, **kw)


def modis_cell_index(like, native) -> xr.DataArray:
    """Index of the native (sinusoidal 500 m) cell holding each pixel centre of ``like``.

    ``native``: the NPP from :func:`cubeeco.io.modis.open_npp_native` (or its
    :class:`~cubeeco.io.modis.NativeWindow`).  Pixel centres are transformed to the
    native CRS with pyproj (no resampling), so a pixel belongs to exactly the cell its
    centre falls in; index = row * ncols + col of the window, -1 outside it.  int64 over
    (y, x), lazy per (y, x) chunk when ``like`` is dask-backed.
    """
    like = _grid_template(like)
    win = _native_window(native)
    crs = _grid_crs(like)
    data = _cell_ids(like, win, crs)
    n_cells = int(win.shape[0] * win.shape[1])
    coords = {k: c for k, c in like.coords.items() if set(c.dims) <= {"y", "x"}}
    return xr.DataArray(data, dims=("y", "x"), coords=coords, name="modis_cell", attrs={
        "long_name": "index of the MODIS sinusoidal cell holding the pixel centre (row * ncols + col)",
        "units": "1", "nodata": -1, "n_cells": n_cells, "native_shape": list(win.shape),
        "native_transform": list(win.transform)})


def _pixel_area(like) -> float:
    xs, ys = like["x"].values, like["y"].values
    if xs.size < 2 or ys.size < 2:
        raise ValueError("the 30 m grid must be at least 2 pixels wide and high to know its pixel size.")
    return abs(float(xs[1] - xs[0]) * float(ys[1] - ys[0]))


def _on_grid_share(like, win, crs, rows, cols) -> np.ndarray:
    """Share of the area of the native cells (rows, cols) inside the grid's extent.

    Computed in the native CRS: the MODIS sinusoid is equal-area, so the cell squares'
    areas are true areas; the grid outline is densified before it is transformed.
    """
    import shapely

    xs, ys = like["x"].values.astype(np.float64), like["y"].values.astype(np.float64)
    dx, dy = abs(xs[1] - xs[0]), abs(ys[1] - ys[0])
    x0, x1 = xs.min() - dx / 2, xs.max() + dx / 2
    y0, y1 = ys.min() - dy / 2, ys.max() + dy / 2
    t = np.linspace(0.0, 1.0, 101)
    ring_x = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)])
    ring_y = np.concatenate([np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t])
    sx, sy = _transformer(crs.to_wkt(), win.crs_wkt).transform(ring_x, ring_y)
    outline = shapely.Polygon(np.column_stack([sx, sy]))
    a, _, c, _, e, f = win.transform
    left, top = c + cols * a, f + rows * e
    boxes = shapely.box(left, top + e, left + a, top)
    share = shapely.area(shapely.intersection(boxes, outline)) / abs(a * e)
    return np.clip(share, 0.0, 1.0)


def _years_or_raise(da, dim, name):
    try:
        return _years_of(da, dim).values
    except ValueError:
        raise ValueError(f"{name} needs a {dim!r} coordinate (datetimes or integer years).") from None


def _align_native(npp_native, vegetated, dim):
    """npp_native's layers for vegetated's years, carrying vegetated's ``dim`` coordinate."""
    require_dim(npp_native, dim, "npp_native")
    for d in ("y", "x"):
        require_dim(npp_native, d, "npp_native")
    want = _years_or_raise(vegetated, dim, "vegetated")
    have = _years_or_raise(npp_native, dim, "npp_native")
    if len(set(have.tolist())) != len(have):
        raise ValueError(f"npp_native holds some year twice along {dim!r} ({have.tolist()}); one layer per year.")
    pos = {int(y): i for i, y in enumerate(have)}
    missing = [int(y) for y in want if int(y) not in pos]
    if missing:
        raise ValueError(f"npp_native has no layer for year(s) {missing} of vegetated (it has {sorted(pos)}).")
    out = npp_native.transpose(dim, "y", "x").isel({dim: [pos[int(y)] for y in want]})
    return out.assign_coords({dim: vegetated[dim].values})


def _check_vegetated(vegetated, dim):
    require_dataarray(vegetated, "vegetated")
    if vegetated.dtype.kind not in "biuf":
        raise TypeError(f"vegetated must be boolean or numeric, got dtype {vegetated.dtype}.")
    for d in (dim, "y", "x"):
        require_dim(vegetated, d, "vegetated")
    extra = [d for d in vegetated.dims if d not in (dim, "y", "x")]
    if extra:
        raise ValueError(f"vegetated must have exactly the dims ({dim!r}, 'y', 'x'); it also has {extra}.")
    veg = vegetated.transpose(dim, "y", "x")
    # one float flag layer: > 0 vegetated, 0 destroyed, NaN unknown
    return veg if veg.dtype.kind == "f" else veg.astype(np.float32)


# ---- the per-cell counts: block-local tables (only the cells a block touches), summed once
def _block_box(ids, ncols):
    """(inside, rel, r0, c0, nr, nc): block-local cell numbering in the bounding box of the
    cells the block touches, or None when it touches none."""
    ids = np.asarray(ids).ravel()
    inside = ids >= 0
    if not inside.any():
        return None
    row, col = np.divmod(ids, ncols)
    r0, r1 = int(row[inside].min()), int(row[inside].max()) + 1
    c0, c1 = int(col[inside].min()), int(col[inside].max()) + 1
    nc = c1 - c0
    return np.where(inside, (row - r0) * nc + (col - c0), -1), r0, c0, r1 - r0, nc


def _count_block(veg, ids, *, ncols, t0, count_pixels, cov=None):
    """((t0, r0, c0), counts (k, t, nr, nc)), ((r0, c0), npix (nr, nc)) of one block, or None.

    Cells are addressed in the bounding box of the rows / cols the block touches: a
    512 px block at 30 m meets ~35 x 35 MODIS cells, whatever the window's size.  k = 3
    (known, vegetated, weight sum), or 5 with a covariate (+ pixels with it, its sum).
    """
    box = _block_box(ids, ncols)
    if box is None:
        return None
    rel, r0, c0, nr, nc = box
    v = np.asarray(veg)
    flat = v.reshape(v.shape[0], -1)
    counts, npix = K.cell_counts(rel, flat, nr * nc, count_pixels)
    if cov is not None:
        c = np.asarray(cov)
        counts = np.concatenate([counts, K.cell_covariate_sums(rel, flat, c.reshape(c.shape[0], -1), nr * nc)])
    return (((t0, r0, c0), counts.reshape(counts.shape[0], v.shape[0], nr, nc)),
            ((r0, c0), npix.reshape(nr, nc)))


def _weight_block(veg, cov, ids, *, ncols, t0, cells, xbar, a, b, floor):
    """The regression weights' sums per cell of one block (the reduce's second pass):
    ((t0, r0, c0), (1, t, nr, nc)), or None."""
    v = np.asarray(veg)
    nt = v.shape[0]
    w = _pixel_weights(np.asarray(ids), v, np.asarray(cov), cells, xbar[t0:t0 + nt], a[t0:t0 + nt],
                       b[t0:t0 + nt], floor)
    part = _count_block(w.reshape(v.shape), ids, ncols=ncols, t0=t0, count_pixels=False)
    return None if part is None else (part[0][0], part[0][1][2:3])


def _pixel_weights(ids, veg, cov, cells, xbar, a, b, floor):
    """(t, n) regression weights of a block's pixels (cells: the reduction's cell list)."""
    pos = _table_pos(ids, cells)
    return K.regression_weights(pos, veg.reshape(veg.shape[0], -1), cov.reshape(cov.shape[0], -1), xbar, a, b,
                                floor)


def _table_pos(ids, cells):
    """Each pixel's column in the reduction's (time, cell) tables; -1 for a cell it did not see."""
    flat = np.asarray(ids).ravel()
    if not cells.size:
        return np.full(flat.shape, -1, np.int64)
    pos = np.searchsorted(cells, flat)
    hit = np.take(cells, np.minimum(pos, cells.size - 1), mode="clip") == flat
    return np.where((flat >= 0) & hit, pos, -1)


def _merge_boxes(boxes):
    """Sum of sparse boxes (offset over the last axes, array) into their union box."""
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return None
    if len(boxes) == 1:
        return boxes[0]
    d = len(boxes[0][0])
    lo = [min(o[i] for o, _ in boxes) for i in range(d)]
    hi = [max(o[i] + a.shape[a.ndim - d + i] for o, a in boxes) for i in range(d)]
    lead = boxes[0][1].shape[:-d]
    out = np.zeros((*lead, *(h - low for h, low in zip(hi, lo))), dtype=boxes[0][1].dtype)
    for o, a in boxes:
        sl = tuple(slice(o[i] - lo[i], o[i] - lo[i] + a.shape[a.ndim - d + i]) for i in range(d))
        out[(Ellipsis, *sl)] += a
    return tuple(lo), out


def _merge_parts(*parts):
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return _merge_boxes([p[0] for p in parts]), _merge_boxes([p[1] for p in parts])


def _tree(parts, merge):
    import dask

    merge = dask.delayed(merge, pure=True)
    while len(parts) > 1:   # a tree: no task holds more than _FAN_IN block tables at once
        parts = [merge(*parts[i:i + _FAN_IN]) for i in range(0, len(parts), _FAN_IN)]
    return parts[0]


def _cell_counts(veg, ids, ncols, cov=None):
    """Merged ((counts box), (npix box)) over all blocks; a delayed object if ``veg`` is lazy."""
    if veg.chunks is None:
        return _count_block(veg.values, ids, ncols=ncols, t0=0, count_pixels=True,
                            cov=None if cov is None else cov.values)
    import dask

    vblocks = veg.data.to_delayed()                       # (nt, ny, nx) blocks
    cblocks = None if cov is None else cov.data.to_delayed()
    iblocks = ids.to_delayed()                            # (ny, nx), same y/x chunks as veg
    t_starts = np.concatenate([[0], np.cumsum(veg.data.chunks[0])[:-1]])
    count = dask.delayed(_count_block, pure=True)
    parts = [count(vblocks[ti, yi, xi], iblocks[yi, xi], ncols=ncols, t0=int(t_starts[ti]), count_pixels=ti == 0,
                   cov=None if cblocks is None else cblocks[ti, yi, xi])
             for ti in range(vblocks.shape[0]) for yi in range(vblocks.shape[1]) for xi in range(vblocks.shape[2])]
    return _tree(parts, _merge_parts)


def _weight_sums(veg, cov, ids, ncols, **kw):
    """Merged (offset, (1, t, nr, nc)) box of the regression weights' sums, computed now."""
    if veg.chunks is None:
        return _weight_block(veg.values, cov.values, ids, ncols=ncols, t0=0, **kw)
    import dask

    vb, cb, ib = veg.data.to_delayed(), cov.data.to_delayed(), ids.to_delayed()
    t_starts = np.concatenate([[0], np.cumsum(veg.data.chunks[0])[:-1]])
    block = dask.delayed(_weight_block, pure=True)
    parts = [block(vb[ti, yi, xi], cb[ti, yi, xi], ib[yi, xi], ncols=ncols, t0=int(t_starts[ti]), **kw)
             for ti in range(vb.shape[0]) for yi in range(vb.shape[1]) for xi in range(vb.shape[2])]
    return dask.compute(_tree(parts, _merge_box_args))[0]


def _merge_box_args(*boxes):
    return _merge_boxes(list(boxes))


def _dense_counts(merged, nt, rows, cols, k=3):
    """(k, nt, rows, cols) counts (known, vegetated, weight sum[, covariate pixels, covariate sum])
    and (rows, cols) pixels from the merged boxes (window-sized)."""
    counts = np.zeros((k, nt, rows, cols), dtype=np.float64)
    npix = np.zeros((rows, cols), dtype=np.int32)
    if merged is not None:
        ((t0, r0, c0), cb), ((pr, pc), pb) = merged
        counts[:, t0:t0 + cb.shape[1], r0:r0 + cb.shape[2], c0:c0 + cb.shape[3]] = cb
        npix[pr:pr + pb.shape[0], pc:pc + pb.shape[1]] = pb
    return counts, npix


def _check_covariate(covariate, veg, dim):
    """The covariate on vegetated's grid and years, float, chunked like it."""
    require_dataarray(covariate, "covariate")
    require_float(covariate, "covariate")
    for d in (dim, "y", "x"):
        require_dim(covariate, d, "covariate")
    extra = [d for d in covariate.dims if d not in (dim, "y", "x")]
    if extra:
        raise ValueError(f"covariate must have exactly the dims ({dim!r}, 'y', 'x'); it also has {extra}.")
    cov = covariate.transpose(dim, "y", "x")
    for d in ("y", "x"):
        if cov.sizes[d] != veg.sizes[d] or (d in cov.coords and d in veg.coords
                                            and not np.allclose(cov[d].values, veg[d].values)):
            raise ValueError(f"covariate is not on vegetated's grid along {d!r}; resample it to the 30 m grid "
                             f"first (e.g. the max_ndvi of the same run).")
    want = [int(y) for y in _years_or_raise(veg, dim, "vegetated")]
    have = [int(y) for y in _years_or_raise(cov, dim, "covariate")]
    if have != want:
        raise ValueError(f"covariate covers the years {have} but vegetated has {want}; give one covariate "
                         f"layer per year of vegetated, in its order.")
    cov = cov.assign_coords({dim: veg[dim].values})
    arrs = align_chunks({"vegetated": veg, "covariate": cov})
    return arrs["vegetated"], arrs["covariate"]


def modis_cell_stats(npp_native, vegetated, *, dim: str = "time", covariate=None) -> xr.Dataset:
    """The per-year, per-cell counts of the scale transformation (seed 002 Eq. 1), **computed now**.

    One pass over the 30 m ``vegetated`` mask (> 0 vegetated, 0 destroyed, NaN unknown) by
    native cell (:func:`modis_cell_index`): each block counts only the cells it touches
    (a bounding box of rows x cols), and the small block tables are summed in a tree, so
    memory is block-sized, not window-sized.  The result covers the cells with at least
    one 30 m pixel centre (``cell`` coordinate = the window index row * ncols + col).
    Variables over (``dim``, cell): ``n_known`` (pixels with a flag), ``n_vegetated``,
    ``npp_b`` (the cell's MODIS NPP, g C m-2 yr-1); over cell: ``n_pixels``, ``row``,
    ``col``, ``x`` / ``y`` (cell centre, native CRS), ``x_grid`` / ``y_grid`` (grid CRS),
    ``share`` (share of the cell's area inside the grid's extent).  With a ``covariate``
    (``dim``, y, x) on the same grid (e.g. the annual max NDVI) also ``n_covariate`` and
    ``covariate_mean`` (``dim``, cell): its count and mean over the cell's vegetated pixels.
    :func:`scale_reduce` adds NPP_bg to it.
    """
    import dask

    veg = _check_vegetated(vegetated, dim)
    cov = None
    if covariate is not None:
        veg, cov = _check_covariate(covariate, veg, dim)
    win = _native_window(npp_native)
    native = _align_native(npp_native, veg, dim)
    if native.shape[1:] != tuple(win.shape):
        raise ValueError(f"npp_native has {native.shape[1:]} cells, its window says {tuple(win.shape)}.")
    template = veg.isel({dim: 0}, drop=True)
    crs = _grid_crs(template, "vegetated")
    rows, cols = win.shape
    ids = _cell_ids(template, win, crs)
    merged = _cell_counts(veg, ids, cols, cov)
    merged, nat = dask.compute(merged, native.data)
    nt = veg.sizes[dim]
    counts, npix = _dense_counts(merged, nt, rows, cols, k=3 if cov is None else 5)
    on = np.flatnonzero(npix.ravel() > 0)            # cells with a 30 m pixel centre
    rr, cc = np.divmod(on, cols)
    a, _, c, _, e, f = win.transform
    cx, cy = c + (cc + 0.5) * a, f + (rr + 0.5) * e
    gx, gy = _transformer(win.crs_wkt, crs.to_wkt()).transform(cx, cy)
    share = _on_grid_share(template, win, crs, rr, cc)
    nat = np.asarray(nat).reshape(nt, rows * cols)[:, on]
    td, cd = (dim, "cell"), ("cell",)
    one = {"units": "1"}
    extra = {}
    if cov is not None:
        n_cov = counts[3].reshape(nt, -1)[:, on]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n_cov > 0, counts[4].reshape(nt, -1)[:, on] / np.where(n_cov > 0, n_cov, 1), np.nan)
        extra = {"n_covariate": (td, n_cov.astype(np.int32), {**one, "long_name": "vegetated pixels with a "
                                                                                  "covariate value"}),
                 "covariate_mean": (td, mean, {"units": covariate.attrs.get("units", "1"), "long_name":
                                               "mean covariate over the cell's vegetated pixels"})}
    return xr.Dataset(
        {"n_pixels": (cd, npix.ravel()[on], {**one, "long_name": "30 m pixel centres in the cell"}),
         "n_known": (td, counts[0].reshape(nt, -1)[:, on].astype(np.int32),
                     {**one, "long_name": "pixels with a flag (S)"}),
         "n_vegetated": (td, counts[1].reshape(nt, -1)[:, on].astype(np.int32),
                         {**one, "long_name": "vegetated pixels (S_veg)"}),
         "w_vegetated": (td, counts[2].reshape(nt, -1)[:, on],
                         {**one, "long_name": "sum of the vegetated pixels' weights (S_veg for unit weights)"}),
         "npp_b": (td, nat.astype(np.float32), {"units": "g C m-2 yr-1",
                                                "long_name": "MODIS NPP of the cell (NPP_b)"}),
         "row": (cd, rr.astype(np.int32), {**one, "long_name": "row in the native window"}),
         "col": (cd, cc.astype(np.int32), {**one, "long_name": "column in the native window"}),
         "x": (cd, cx, {"units": "m", "long_name": "cell centre x (native CRS)"}),
         "y": (cd, cy, {"units": "m", "long_name": "cell centre y (native CRS)"}),
         "x_grid": (cd, np.asarray(gx), {"units": "m", "long_name": "cell centre x (grid CRS)"}),
         "y_grid": (cd, np.asarray(gy), {"units": "m", "long_name": "cell centre y (grid CRS)"}),
         "share": (cd, share, {**one, "long_name": "share of the cell's area inside the grid extent"}), **extra},
        coords={dim: veg[dim].values, "cell": ("cell", on.astype(np.int64), {
            "long_name": "index of the cell in the native window (row * ncols + col)"})},
        attrs={"native_crs": win.crs_wkt, "native_transform": list(win.transform), "native_shape": list(win.shape),
               "grid_crs": crs.to_wkt(), "grid_shape": list(template.shape), "pixel_area_m2": _pixel_area(template)})


def npp_bg_samples(stats: xr.Dataset, *, min_share: float = 0.95) -> pd.DataFrame:
    """NPP_bg samples: the cells wholly destroyed in a year (seed 002, Methods (i)).

    A cell is sampled in a year when every 30 m pixel of it on the grid has a flag and is
    destroyed (at least one pixel), its share of area inside the grid is >= ``min_share``
    and its NPP_b is valid; the sample is its NPP_b at its centre (``x`` / ``y`` in the
    grid's CRS).  Columns: year, cell (window index), row, col, x, y, npp, n_pixels, share.
    """
    import pandas as pd

    min_share = finite_scalar(min_share, "min_share")
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must be within [0, 1], got {min_share!r}.")
    for k in ("n_pixels", "n_known", "n_vegetated", "npp_b", "share", "x_grid", "y_grid"):
        if k not in stats:
            raise TypeError(f"stats lacks {k!r}; it must be the Dataset of modis_cell_stats() / scale_reduce().")
    dim = stats["n_known"].dims[0]
    years = _years_of(stats, dim).values
    n_pix = stats["n_pixels"].values[None, :]
    n_known, n_veg = stats["n_known"].values, stats["n_vegetated"].values
    b = stats["npp_b"].values
    ok = (n_pix > 0) & (n_known == n_pix) & (n_veg == 0) & np.isfinite(b) & \
        (stats["share"].values[None, :] >= min_share)
    t, c = np.nonzero(ok)
    return pd.DataFrame({"year": years[t].astype(np.int64), "cell": stats["cell"].values[c].astype(np.int64),
                         "row": stats["row"].values[c], "col": stats["col"].values[c],
                         "x": stats["x_grid"].values[c], "y": stats["y_grid"].values[c],
                         "npp": b[t, c].astype(np.float64), "n_pixels": stats["n_pixels"].values[c],
                         "share": stats["share"].values[c]})


def _check_background_options(min_points, default, model, psill, range_, nugget, max_samples, seed):
    from .krige import PARAMETER_NAMES, _check_model

    if isinstance(min_points, bool) or int(min_points) != min_points or min_points < 3:
        raise ValueError(f"min_points must be an integer >= 3 (kriging needs 3 points), got {min_points!r}.")
    if default is not None:
        default = finite_scalar(default, "default_bg")
    model = _check_model(model)
    given = [v is not None for v in (psill, range_, nugget)]
    if any(given) and not all(given):
        missing = [k for k, g in zip(("psill", "range", "nugget"), given) if not g]
        raise ValueError(f"give all of psill, range and nugget or none; missing {missing}.")
    if all(given) and PARAMETER_NAMES[model] != ("psill", "range", "nugget"):
        raise ValueError(f"psill/range/nugget do not describe the {model!r} variogram model; leave them out "
                         f"(fitted) or choose spherical, exponential, gaussian or hole-effect.")
    if max_samples is not None and (isinstance(max_samples, bool) or int(max_samples) != max_samples
                                    or max_samples < 3):
        raise ValueError(f"max_samples must be None (all) or an integer >= 3, got {max_samples!r}.")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}.")
    params = [float(psill), float(range_), float(nugget)] if all(given) else None
    return int(min_points), default, model, params, None if max_samples is None else int(max_samples), int(seed)


def _background_plans(samples, years, *, min_points, default, model, params, max_samples, seed):
    """Per year: the plan (a KrigingModel, or the constant NPP_bg) and its table row."""
    from .krige import PARAMETER_NAMES, fit_variogram

    for col in ("year", "x", "y", "npp"):
        if col not in samples:
            raise ValueError(f"samples lacks column {col!r}; build it with npp_bg_samples().")
    finite = samples[np.isfinite(samples["npp"].to_numpy(np.float64))]
    plans, rows = [], []
    names = PARAMETER_NAMES[model]
    for y in years:
        s = finite[finite["year"] == y]
        if max_samples is not None and len(s) > max_samples:
            # the study drew its samples at random; one generator per (seed, year) keeps a
            # year's draw independent of which other years are in the run
            rng = np.random.default_rng([seed, int(y) % 2**32])
            s = s.iloc[np.sort(rng.choice(len(s), max_samples, replace=False))]
        n = len(s)
        row = {"year": int(y), "rule": "", "n_samples": n, "value": np.nan,
               "variogram": np.full(3, np.nan), "note": ""}
        if n >= min_points:
            try:
                km = fit_variogram(s[["x", "y"]].to_numpy(np.float64), s["npp"].to_numpy(np.float64), model=model,
                                   parameters=params, label=int(y))
                plans.append(km)
                row["rule"] = "kriging"
                row["variogram"][:len(names)] = km.parameters
            except (ValueError, np.linalg.LinAlgError) as err:
                v = float(s["npp"].mean())
                plans.append(v)
                row.update(rule="mean_no_fit", value=v, note=f"kriging not possible: {err}")
        elif n > 0:
            v = float(s["npp"].mean())
            plans.append(v)
            row.update(rule="mean", value=v, note=f"{n} sample(s) < min_points={min_points}")
        else:
            other = finite[finite["year"] != y]["npp"]
            if default is not None:
                v, rule = default, "default"
            elif len(other):
                v, rule = float(other.median()), "median_other_years"
            else:
                v, rule = 0.0, "zero"
            plans.append(v)
            row.update(rule=rule, value=v, note="no wholly destroyed cell this year")
        rows.append(row)
    return plans, rows


def _evaluate(plan, x, y, dtype):
    """A plan's NPP_bg at the points (x, y): kriged (value only, dual weights) or constant."""
    if hasattr(plan, "predict"):
        return plan.predict(x, y, variance=False)[0].astype(dtype).reshape(np.shape(x))
    return np.full(np.shape(x), plan, dtype=dtype)


def _rows_table(rows, model):
    import pandas as pd

    from .krige import PARAMETER_NAMES

    names = PARAMETER_NAMES[model]
    out = []
    for r in rows:
        vg = "" if r["rule"] != "kriging" else json.dumps(
            {"model": model, **{k: float(v) for k, v in zip(names, r["variogram"])}})
        out.append({**r, "variogram": vg})
    return pd.DataFrame(out, columns=["year", "rule", "n_samples", "value", "variogram", "note"])


def _background_block(tidx, ys, xs, *, plans, out_dtype):
    out = np.empty((tidx.size, ys.size, xs.size), dtype=out_dtype)
    gx = np.broadcast_to(xs[None, :], (ys.size, xs.size))
    gy = np.broadcast_to(ys[:, None], (ys.size, xs.size))
    for i, t in enumerate(tidx):
        out[i] = _evaluate(plans[int(t)], gx, gy, out_dtype)
    return out


def npp_background(samples, like, years, *, min_points: int = 3, default=None, model: str = "spherical",
                   psill=None, range=None, nugget=None, max_samples: int | None = 500, seed: int = 0,  # noqa: A002
                   dim: str = "time", coords=None, time_chunks=None, dtype=np.float32):
    """The kriged NPP_bg **surface** per year over ``like``'s pixel centres, and the rules table.

    For maps; :func:`scale_reduce` evaluates the same plans at the 500 m cell centres only.
    Rules per year (from the samples of :func:`npp_bg_samples`):

    * >= ``min_points`` samples: ordinary kriging (pykrige; variogram fitted per year
      unless psill/range/nugget are given) -- ``kriging``; samples all equal, or a failed
      fit: their mean -- ``mean_no_fit`` (reason in ``note``);
    * 1 .. ``min_points`` - 1 samples: their mean -- ``mean``;
    * none: ``default`` when given -- ``default``; else the median of every other year's
      samples -- ``median_other_years``; else 0 -- ``zero``.

    ``max_samples`` (500): at most this many samples per year, drawn at random with a
    generator seeded by (``seed``, year), as the study sampled cells at random; None uses
    all.  Returns (DataArray (``dim``, y, x), lazy per (y, x) chunk when ``like`` is
    dask-backed; DataFrame: year, rule, n_samples, value (the constant; NaN for kriging),
    variogram (JSON), note).
    """
    like = _grid_template(like)
    min_points, default, model, params, max_samples, seed = _check_background_options(
        min_points, default, model, psill, range, nugget, max_samples, seed)
    years = [int(y) for y in np.asarray(years)]
    plans, rows = _background_plans(samples, years, min_points=min_points, default=default, model=model,
                                    params=params, max_samples=max_samples, seed=seed)
    ys = np.asarray(like["y"].values, np.float64)
    xs = np.asarray(like["x"].values, np.float64)
    kw = {"plans": tuple(plans), "out_dtype": np.dtype(dtype)}
    if like.chunks is not None:
        ch = like.chunksizes
        tch = time_chunks if time_chunks is not None else (1,) * len(years)
        data = outer_blockwise(_background_block, "tyx", dsa.from_array(np.arange(len(years)), chunks=(tch,)),
                               "t", dsa.from_array(ys, chunks=(ch["y"],)), "y", dsa.from_array(xs, chunks=(ch["x"],)),
                               "x", dtype=np.dtype(dtype), concatenate=True, **kw)
    else:
        data = _background_block(np.arange(len(years)), ys, xs, **kw)
    out_coords = {k: c for k, c in like.coords.items() if set(c.dims) <= {"y", "x"}}
    out_coords[dim] = coords if coords is not None else years
    bg = xr.DataArray(data, dims=(dim, "y", "x"), coords=out_coords, name="npp_bg", attrs={
        "units": "g C m-2 yr-1", "long_name": "background NPP of destroyed land (NPP_bg, seed 002)",
        "method": "ordinary kriging of wholly destroyed 500 m cells per year (pykrige); fallbacks per rule"})
    return bg, _rows_table(rows, model)


def scale_reduce(npp_native, vegetated, *, min_share: float = 0.95, min_points: int = 3, default_bg=None,
                 model: str = "spherical", psill=None, range=None, nugget=None,  # noqa: A002
                 max_samples: int | None = 500, seed: int = 0, dim: str = "time", covariate=None,
                 weight_floor: float = 1.0, min_pixels: int = 20, clip_negative: bool = False) -> xr.Dataset:
    """The global reduction of seed 002 Eq. 1, **computed now**: everything per 500 m cell.

    :func:`modis_cell_stats` (one pass over the 30 m mask; block-local tables), the
    NPP_bg samples of wholly destroyed cells (:func:`npp_bg_samples`, ``min_share``), and
    per year the NPP_bg rule of :func:`npp_background` evaluated **at the cell centres**
    (~85 k points a year for a coal base, not the 30 m pixels; the kriging system is
    solved once per year).  In a cell with a flag but no vegetated pixel that year the
    background *is* the cell's NPP, so there ``npp_bg`` = NPP_b (when valid).

    Returns the Dataset of :func:`modis_cell_stats` plus ``npp_bg`` (``dim``, cell) and per
    year ``npp_bg_rule`` (int8, ``flag_values`` / ``flag_meanings``: kriging mean
    mean_no_fit default median_other_years zero), ``npp_bg_n_samples``, ``npp_bg_value``
    (the constant of a fallback year, NaN when kriged) and ``npp_bg_variogram`` (``dim``,
    variogram_parameter: the parameters in pykrige's order, NaN when not kriged).  Only
    numbers in variables (notes as JSON in ``attrs["npp_bg_notes"]``), so it is stored in
    Zarr as is.  Pass it to :func:`scale_transform` (``reduced=``); read the per-year table
    with :func:`background_table`.

    **Sub-cell weights.**  Without ``covariate`` the values of ``vegetated`` (> 0) are the
    pixels' weights within their cell (1: the study's even share).  With a ``covariate``
    (``dim``, y, x; e.g. the annual max NDVI on the same grid) the weights come from a
    regression fitted here, per year, over the cells (see :func:`fit_subcell_regression`):
    the cell's vegetated-mean NPP of Eq. 1 against the mean covariate of its vegetated
    pixels, NPP ≈ a + b·x; a vegetated pixel then weighs w = max(a + b·x, ``weight_floor``)
    (g C m-2 yr-1, > 0; a pixel without a covariate gets its cell's mean).  A second pass
    over the mask sums these weights per cell (``w_vegetated``), so Eq. 1's cell total is
    kept exactly.  Cells enter the fit with >= ``min_pixels`` vegetated pixels and a
    ``share`` >= ``min_share``; a year that cannot be fitted (too few cells, no spread, a
    slope <= 0) falls back to even shares (``weights_rule``).

    **Negative NPP_a.**  Eq. 1 is negative in a cell whose background exceeds its NPP,
    NPP_bg·(S - S_veg) > NPP_b·S (a nearly destroyed cell with an NPP_bg estimate too high
    for it).  Per year ``n_negative`` counts those vegetated pixels and ``negative_t_c`` their
    total (t C yr-1); ``clip_negative=True`` sets them to 0 in :func:`scale_transform`
    (``n_clipped``), dropping that carbon from the cell's budget.
    """
    from .krige import PARAMETER_NAMES

    min_share = finite_scalar(min_share, "min_share")
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must be within [0, 1], got {min_share!r}.")
    min_points, default_bg, model, params, max_samples, seed = _check_background_options(
        min_points, default_bg, model, psill, range, nugget, max_samples, seed)
    if not isinstance(clip_negative, (bool, np.bool_)):
        raise TypeError(f"clip_negative must be True or False, got {clip_negative!r}.")
    weight_floor = finite_scalar(weight_floor, "weight_floor")
    if weight_floor < 1e-3:
        raise ValueError(f"weight_floor must be >= 0.001 (a vegetated pixel needs a positive weight), got "
                         f"{weight_floor!r}.")
    if isinstance(min_pixels, bool) or int(min_pixels) != min_pixels or min_pixels < 1:
        raise ValueError(f"min_pixels must be an integer >= 1, got {min_pixels!r}.")
    stats = modis_cell_stats(npp_native, vegetated, dim=dim, covariate=covariate)
    samples = npp_bg_samples(stats, min_share=min_share)
    years = _years_of(stats, dim).values
    plans, rows = _background_plans(samples, years, min_points=min_points, default=default_bg, model=model,
                                    params=params, max_samples=max_samples, seed=seed)
    xg, yg = stats["x_grid"].values, stats["y_grid"].values
    b = stats["npp_b"].values
    bg = np.stack([_evaluate(p, xg, yg, np.float32) for p in plans]) if len(plans) else \
        np.zeros((0, xg.size), np.float32)
    own = (stats["n_vegetated"].values == 0) & (stats["n_known"].values > 0) & np.isfinite(b)
    bg = np.where(own, b, bg).astype(np.float32)
    rule = np.array([_RULE[r["rule"]] for r in rows], dtype=np.int8)
    td = (dim,)
    ds = stats.assign({
        "npp_bg": ((dim, "cell"), bg, {
            "units": "g C m-2 yr-1", "long_name": "background NPP of destroyed land in the cell (NPP_bg, seed 002)",
            "comment": "the year's rule evaluated at the cell centre; in cells with a flag but no vegetated pixel "
                       "the cell's own NPP_b"}),
        "npp_bg_rule": (td, rule, {"long_name": "rule that gave NPP_bg", "flag_values": np.arange(len(BG_RULES),
                                   dtype=np.int8), "flag_meanings": " ".join(BG_RULES)}),
        "npp_bg_n_samples": (td, np.array([r["n_samples"] for r in rows], np.int64),
                             {"units": "1", "long_name": "wholly destroyed cells sampled (after max_samples)"}),
        "npp_bg_value": (td, np.array([r["value"] for r in rows], np.float64),
                         {"units": "g C m-2 yr-1", "long_name": "constant NPP_bg of a fallback year (NaN: kriged)"}),
        "npp_bg_variogram": ((dim, "variogram_parameter"),
                             np.array([r["variogram"] for r in rows], np.float64).reshape(len(rows), 3),
                             {"long_name": "fitted (or given) variogram parameters, pykrige's order",
                              "parameter_names": " ".join(PARAMETER_NAMES[model]), "model": model}),
    })
    ds.attrs.update({"min_share": float(min_share), "min_points": int(min_points), "variogram_model": model,
                     "max_samples": -1 if max_samples is None else int(max_samples), "seed": int(seed),
                     "npp_bg_notes": json.dumps([r["note"] for r in rows])})
    if covariate is not None:
        ds = _regression_reduce(ds, npp_native, vegetated, covariate, dim=dim, min_share=min_share,
                                min_pixels=int(min_pixels), floor=weight_floor)
    else:
        ds.attrs["weights"] = "given"
    ds.attrs.update(npp_b_error(ds, min_share=min_share))
    return _negative_budget(ds, bool(clip_negative))


def npp_b_error(stats: xr.Dataset, *, min_share: float = 0.95, min_pixels: int = 100) -> dict:
    """The relative error of MOD17's NPP_b per cell, split into a part independent from year to
    year (``npp_b_error_annual``, sigma_e) and a persistent one (``npp_b_error_cell``, sigma_u),
    estimated from the cells vegetated in every year (no destroyed pixel, >= ``min_pixels``
    known pixels, share on the grid >= ``min_share``): there NPP_b is the cell's vegetated mean.

    Robust (MAD × 1.4826, medians), as a few cells of sparse cover sit far off any line. With the
    regression weights the residual is rho = log(NPP_b / (a_t + b_t·x̄_c,t)) (x̄ the cell's mean
    covariate): sigma_e = the median over cells of rho's spread over the years, sigma_u² = the
    spread² of the cells' mean rho less sigma_e² / n_years.  Without a covariate only the
    year-to-year part is identifiable: rho = log NPP_b less its cell and year medians, sigma_e =
    its spread; sigma_u is NaN (a cell's lasting difference is indistinguishable from real
    heterogeneity).  Both include sub-cell variation the weights do not explain, so they bound
    MOD17's retrieval error from above.  Returns attrs (floats; NaN with < 10 cells or 3 years).
    """
    s = stats["n_known"].values
    sv = stats["n_vegetated"].values
    b = stats["npp_b"].values.astype(np.float64)
    share = stats["share"].values if "share" in stats else np.ones(s.shape[-1])
    good = np.all((sv == s) & np.isfinite(b) & (b > 0), axis=0) & (s.min(axis=0) >= min_pixels) & \
        (share >= min_share)
    nc = int(good.sum())
    out = {"npp_b_error_annual": np.nan, "npp_b_error_cell": np.nan, "npp_b_error_cells": nc}
    if nc < 10 or b.shape[0] < 3:
        return out
    b = b[:, good]

    def spread(v, axis):
        return 1.4826 * np.nanmedian(np.abs(v - np.nanmedian(v, axis=axis, keepdims=True)), axis=axis)

    # all-NaN cells / empty slices are expected (cells off the line); they drop out of the medians
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if "weights_intercept" in stats and stats.attrs.get("weights") == "regression":
            fit = stats["weights_rule"].values == WEIGHT_RULES.index("regression")
            pred = stats["weights_intercept"].values[:, None] + \
                stats["weights_slope"].values[:, None] * stats["covariate_mean"].values[:, good]
            rho = np.log(b / np.where(pred > 0, pred, np.nan))[fit]
            if rho.shape[0] < 3:
                return out
            e = float(np.nanmedian(spread(rho, 0)))
            u2 = float(spread(np.nanmean(rho, axis=0), 0)) ** 2 - e ** 2 / rho.shape[0]
            out.update(npp_b_error_annual=e, npp_b_error_cell=float(np.sqrt(max(u2, 0.0))))
            return out
        r = np.log(b)
        r = r - np.median(r, axis=0, keepdims=True)
        r = r - np.median(r, axis=1, keepdims=True)
    out["npp_b_error_annual"] = float(1.4826 * np.median(np.abs(r)))
    return out


def _vegetated_total(ds):
    """(time, cell) float64 Σ_vegetated NPP_a = NPP_b·S - NPP_bg·(S - S_veg), as Eq. 1's kernel
    computes it (same float64 operations, so the same sign)."""
    s = ds["n_known"].values.astype(np.float64)
    sv = ds["n_vegetated"].values.astype(np.float64)
    b = ds["npp_b"].values.astype(np.float64)
    bg = ds["npp_bg"].values.astype(np.float64)
    destroyed = s - sv
    with np.errstate(invalid="ignore"):
        return b * s - np.where(destroyed != 0.0, bg * destroyed, 0.0), sv


def _negative_budget(ds, clip):
    """Per year: vegetated pixels whose Eq. 1 NPP_a is negative, their total, and how many are clipped."""
    total, sv = _vegetated_total(ds)
    neg = (sv > 0) & (total < 0.0)                  # NaN compares False
    n = np.where(neg, sv, 0.0).sum(axis=1).astype(np.int64)
    area = float(ds.attrs.get("pixel_area_m2", np.nan))
    # Σ over the cell's vegetated pixels of -NPP_a (g C m-2 yr-1 per pixel) x pixel area -> t C yr-1
    amount = np.where(neg, -total, 0.0).sum(axis=1) * area / 1e6
    td = (ds["npp_b"].dims[0],)
    ds = ds.assign({
        "n_negative": (td, n, {"units": "1", "long_name": "vegetated pixels with a negative Eq. 1 NPP_a "
                                                          "(NPP_bg·(S - S_veg) > NPP_b·S)"}),
        "negative_t_c": (td, amount, {"units": "t C yr-1", "long_name": "carbon of the negative NPP_a "
                                                                         "(positive number)"}),
        "n_clipped": (td, n if clip else np.zeros_like(n), {"units": "1", "long_name":
                                                            "vegetated pixels whose NPP_a was clipped to 0"}),
    })
    ds.attrs["clip_negative"] = int(clip)
    return ds


# weights rule per year: code = position
WEIGHT_RULES = ("regression", "uniform")
_MIN_FIT_CELLS = 10       # cells a year's regression needs; fewer: even shares


def fit_subcell_regression(stats: xr.Dataset, *, min_share: float = 0.95, min_pixels: int = 20,
                           n_iter: int = 20, huber_k: float = 1.345):
    """Per year, the affine model NPP ≈ a + b·x of the sub-cell weights, fitted over the cells.

    ``stats``: a :func:`scale_reduce`-like Dataset with ``npp_bg`` and the covariate tables
    (``covariate_mean``, ``n_covariate``).  The response of a cell is its vegetated-mean NPP
    of Eq. 1, y = (NPP_b·S - NPP_bg·(S - S_veg)) / S_veg, the regressor x the mean covariate
    of the same pixels: if NPP_i = a + b·x_i holds for the vegetated pixels, y = a + b·x
    holds exactly for every cell (the mean of an affine function), so a fit on cells is a
    fit on pixels (area-to-point regression).  Cells count with >= ``min_pixels`` vegetated
    pixels, a share on the grid >= ``min_share`` and a covariate on at least half of those
    pixels; each weighs (S_veg / S)² (y's error from NPP_b and NPP_bg grows as S / S_veg),
    and Huber reweighting (``huber_k`` × the MAD of the residuals, ``n_iter`` times) damps
    cells whose NPP_bg or NPP_b is off.  Returns a DataFrame: year, rule (regression |
    uniform), intercept, slope, n_cells, r2 (weighted, of the final fit), note.
    """
    import pandas as pd

    total, sv = _vegetated_total(stats)
    s = stats["n_known"].values.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = total / sv
        w0 = (sv / s) ** 2
    x = stats["covariate_mean"].values
    ok = (sv >= min_pixels) & (stats["share"].values[None, :] >= min_share) & np.isfinite(y) & np.isfinite(x) & \
        (stats["n_covariate"].values >= 0.5 * sv)
    years = _years_of(stats, stats["npp_b"].dims[0]).values
    rows = []
    for t, yr in enumerate(years):
        m = ok[t]
        row = {"year": int(yr), "rule": "uniform", "intercept": 1.0, "slope": 0.0, "n_cells": int(m.sum()),
               "r2": np.nan, "note": ""}
        if m.sum() < _MIN_FIT_CELLS:
            row["note"] = f"{int(m.sum())} cell(s) to fit < {_MIN_FIT_CELLS}"
        else:
            a, b, r2 = _robust_line(x[t, m], y[t, m], w0[t, m], n_iter=n_iter, huber_k=huber_k)
            if not (np.isfinite(a) and np.isfinite(b)):
                row["note"] = "no spread in the covariate"
            elif b <= 0.0:
                row.update(note=f"slope {b:.4g} <= 0 (NPP falling with the covariate)", r2=r2)
            else:
                row.update(rule="regression", intercept=a, slope=b, r2=r2)
        rows.append(row)
    return pd.DataFrame(rows, columns=["year", "rule", "intercept", "slope", "n_cells", "r2", "note"])


def _robust_line(x, y, w, *, n_iter, huber_k):
    """(a, b, weighted R²) of y ≈ a + b·x: weighted least squares, then Huber IRLS with the
    residual scale re-estimated (1.4826 × MAD) each step."""
    x, y, w = (np.asarray(v, np.float64) for v in (x, y, w))
    wi = w.copy()
    a = b = np.nan
    for _ in range(n_iter + 1):
        sw = wi.sum()
        if not sw > 0:
            return np.nan, np.nan, np.nan
        mx, my = (wi * x).sum() / sw, (wi * y).sum() / sw
        sxx = (wi * (x - mx) ** 2).sum()
        if not sxx > 1e-12 * sw:
            return np.nan, np.nan, np.nan
        b = (wi * (x - mx) * (y - my)).sum() / sxx
        a = my - b * mx
        r = np.abs(y - a - b * x)
        scale = 1.4826 * np.median(np.abs(r - np.median(r)))
        if not scale > 0:
            break
        with np.errstate(divide="ignore"):
            wi = w * np.minimum(1.0, huber_k * scale / r)
    mw = (w * y).sum() / w.sum()
    ss_tot = (w * (y - mw) ** 2).sum()
    r2 = 1.0 - (w * (y - a - b * x) ** 2).sum() / ss_tot if ss_tot > 0 else np.nan
    return float(a), float(b), float(r2)


def _regression_reduce(ds, npp_native, vegetated, covariate, *, dim, min_share, min_pixels, floor):
    """The fit of :func:`fit_subcell_regression` and the second pass: the weights' sums per cell."""
    fit = fit_subcell_regression(ds, min_share=min_share, min_pixels=min_pixels)
    a = fit["intercept"].to_numpy(np.float64)
    b = fit["slope"].to_numpy(np.float64)
    veg, cov = _check_covariate(covariate, _check_vegetated(vegetated, dim), dim)
    win = _native_window(npp_native)
    template = veg.isel({dim: 0}, drop=True)
    crs = _grid_crs(template, "vegetated")
    rows, cols = win.shape
    ids = _cell_ids(template, win, crs)
    cells = np.asarray(ds["cell"].values, np.int64)
    xbar = np.ascontiguousarray(ds["covariate_mean"].values, np.float64)
    merged = _weight_sums(veg, cov, ids, cols, cells=cells, xbar=xbar, a=a, b=b, floor=float(floor))
    nt = veg.sizes[dim]
    dense = np.zeros((1, nt, rows, cols), np.float64)
    if merged is not None:
        (t0, r0, c0), box = merged
        dense[:, t0:t0 + box.shape[1], r0:r0 + box.shape[2], c0:c0 + box.shape[3]] = box
    w_sum = dense[0].reshape(nt, -1)[:, cells]
    td = (dim,)
    rule = np.array([WEIGHT_RULES.index(r) for r in fit["rule"]], np.int8)
    units = ds["npp_b"].attrs.get("units", "g C m-2 yr-1")
    ds = ds.assign({
        "w_vegetated": ((dim, "cell"), w_sum, {"units": units, "long_name": "sum of the vegetated pixels' "
                                                "regression weights max(a + b·x, floor)"}),
        "weights_rule": (td, rule, {"long_name": "how the year's sub-cell weights were made",
                                    "flag_values": np.arange(len(WEIGHT_RULES), dtype=np.int8),
                                    "flag_meanings": " ".join(WEIGHT_RULES)}),
        "weights_intercept": (td, a, {"units": units, "long_name": "a of NPP ≈ a + b·covariate"}),
        "weights_slope": (td, b, {"units": f"({units}) per covariate unit", "long_name":
                                  "b of NPP ≈ a + b·covariate"}),
        "weights_n_cells": (td, fit["n_cells"].to_numpy(np.int64), {"units": "1", "long_name":
                                                                    "cells in the year's fit"}),
        "weights_r2": (td, fit["r2"].to_numpy(np.float64), {"units": "1", "long_name":
                                                            "weighted R² of the year's fit"}),
    })
    ds.attrs.update({"weights": "regression", "weight_floor": float(floor), "min_pixels": int(min_pixels),
                     "weights_notes": json.dumps(fit["note"].tolist())})
    return ds


def weights_table(ds: xr.Dataset):
    """The per-year sub-cell regression of a :func:`scale_reduce` (covariate=) result:
    year, rule, intercept, slope, n_cells, r2, note (pandas DataFrame)."""
    import pandas as pd

    if not isinstance(ds, xr.Dataset) or "weights_rule" not in ds:
        raise ValueError("ds has no sub-cell regression; pass the Dataset of scale_reduce(..., covariate=...).")
    dim = ds["weights_rule"].dims[0]
    notes = json.loads(ds.attrs.get("weights_notes", "[]")) or [""] * ds.sizes[dim]
    return pd.DataFrame({"year": _years_of(ds, dim).values.astype(np.int64),
                         "rule": [WEIGHT_RULES[int(r)] for r in ds["weights_rule"].values],
                         "intercept": ds["weights_intercept"].values, "slope": ds["weights_slope"].values,
                         "n_cells": ds["weights_n_cells"].values, "r2": ds["weights_r2"].values, "note": notes},
                        columns=["year", "rule", "intercept", "slope", "n_cells", "r2", "note"])


def background_table(ds: xr.Dataset):
    """The per-year NPP_bg table (pandas DataFrame) of a :func:`scale_reduce` (or
    :func:`scale_transform`) result: year, rule, n_samples, value, variogram (JSON), note,
    and (reductions made since negative NPP_a is counted) n_negative, negative_t_c (t C
    yr-1) and clipped (pixels set to 0)."""
    import pandas as pd

    need = ("npp_bg_rule", "npp_bg_n_samples", "npp_bg_value")
    if not isinstance(ds, xr.Dataset) or any(k not in ds for k in need):
        raise ValueError(f"ds lacks {list(need)}; pass the Dataset of scale_reduce() or scale_transform().")
    dim = ds["npp_bg_rule"].dims[0]
    years = _years_of(ds, dim).values
    meanings = str(ds["npp_bg_rule"].attrs.get("flag_meanings", " ".join(BG_RULES))).split()
    notes = json.loads(ds.attrs.get("npp_bg_notes", "[]")) or [""] * len(years)
    vg = ds["npp_bg_variogram"] if "npp_bg_variogram" in ds else None
    rows = []
    for t, y in enumerate(years):
        rule = meanings[int(ds["npp_bg_rule"].values[t])]
        variogram = ""
        if vg is not None and rule == "kriging":
            names = vg.attrs["parameter_names"].split()
            variogram = json.dumps({"model": vg.attrs["model"],
                                    **{k: float(v) for k, v in zip(names, vg.values[t])}})
        row = {"year": int(y), "rule": rule, "n_samples": int(ds["npp_bg_n_samples"].values[t]),
               "value": float(ds["npp_bg_value"].values[t]), "variogram": variogram, "note": notes[t]}
        for k, col in (("n_negative", "n_negative"), ("negative_t_c", "negative_t_c"), ("n_clipped", "clipped")):
            if k in ds:
                row[col] = ds[k].values[t].item()
        rows.append(row)
    cols = ["year", "rule", "n_samples", "value", "variogram", "note"]
    cols += [c for c in ("n_negative", "negative_t_c", "clipped") if rows and c in rows[0]]
    out = pd.DataFrame(rows, columns=cols)
    if "clipped" in out:
        out.attrs["units"] = {"value": "g C m-2 yr-1", "negative_t_c": "t C yr-1"}
    return out


# ---- the per-region pass: purely blockwise
_PER_YEAR = ("npp_bg_rule", "npp_bg_n_samples", "npp_bg_value", "npp_bg_variogram", "n_negative", "negative_t_c",
             "n_clipped", "weights_rule", "weights_intercept", "weights_slope", "weights_n_cells", "weights_r2")


def _check_reduced(reduced, npp_native, veg, crs, dim):
    """``reduced`` belongs to this run: its years, native window and grid CRS."""
    from pyproj import CRS

    need = ("n_known", "n_vegetated", "npp_b", "npp_bg", "npp_bg_rule")
    if not isinstance(reduced, xr.Dataset) or any(k not in reduced for k in need):
        raise TypeError("reduced must be the Dataset of scale_reduce() (it needs n_known, n_vegetated, npp_b, "
                        "npp_bg, npp_bg_rule over (time, cell)).")
    if dim not in reduced.dims:
        raise ValueError(f"reduced has no {dim!r} dimension (dims {dict(reduced.sizes)}); pass dim= as for "
                         f"scale_reduce().")
    have = [int(y) for y in _years_or_raise(reduced, dim, "reduced")]
    want = [int(y) for y in _years_or_raise(veg, dim, "vegetated")]
    if have != want:
        raise ValueError(f"reduced covers the years {have} but vegetated has {want}; make the reduction "
                         f"(scale_reduce) from the same years.")
    win = _native_window(npp_native)
    shape = [int(v) for v in reduced.attrs.get("native_shape", [])]
    tr = np.asarray(reduced.attrs.get("native_transform", [np.nan] * 6), np.float64)[:6]
    if shape != list(win.shape) or tr.shape != (6,) or \
            not np.allclose(tr, np.asarray(win.transform[:6], np.float64), rtol=0, atol=1e-6 * abs(win.transform[0])):
        raise ValueError(f"reduced was made on the native window shape {shape}, transform {tr.tolist()}, but "
                         f"npp_native is on shape {list(win.shape)}, transform {list(win.transform)[:6]}; make "
                         f"the reduction from this npp_native.")
    for key, ref, what in (("native_crs", win.crs_wkt, "npp_native"), ("grid_crs", crs.to_wkt(), "vegetated")):
        if key in reduced.attrs and not CRS.from_user_input(reduced.attrs[key]).equals(CRS.from_user_input(ref)):
            raise ValueError(f"reduced was made in another CRS than {what}'s ({key} differs).")
    return win


def _eq1_block(ids, veg, cells, b, bg, s, sv, wv, *reg, out_dtype, clip, floor):
    """(3, t, by, bx) NPP_a, NPP_bg, NPP_b of one block from the per-cell tables; ``reg`` =
    (covariate block, covariate_mean table, intercepts, slopes) for regression weights."""
    pos = _table_pos(ids, cells)                   # a cell the reduction did not see: NaN
    v = veg.reshape(veg.shape[0], -1)
    if reg:
        cov, xbar, a, slope = reg
        # the same kernel, on the same numbers, as the reduce's weight sums: totals kept exactly
        v = K.regression_weights(pos, v, cov.reshape(cov.shape[0], -1), xbar, a, slope, floor)
    out = K.cell_eq1(pos, v, b, bg, s, sv, wv, dtype=out_dtype, clip_negative=clip)
    return out.reshape(3, *veg.shape)


def _weights_note(reduced, regression, clip):
    if regression:
        note = (f"vegetated NPP shared by w = max(a + b*covariate, {reduced.attrs.get('weight_floor', 1.0):g}), "
                f"a, b fitted per year over the cells")
    else:
        note = "vegetated NPP shared by the values of the vegetated mask (1: evenly)"
    return note + ("; negative NPP_a clipped to 0 (n_clipped)" if clip else "")


def scale_transform(npp_native, vegetated, *, reduced=None, covariate=None, dim: str = "time",
                    **reduce_options) -> xr.Dataset:
    """Seed 002 Eq. 1 on the exact MODIS grid, with the kriged NPP_bg per year (lazy, blockwise).

    ``npp_native``: (``dim``, y, x) MODIS NPP on its sinusoidal cells
    (:func:`cubeeco.io.modis.open_npp_native`); only its window is used here (its values
    are in ``reduced``).  ``vegetated``: (``dim``, y, x) 0/1 mask on the 30 m analysis grid
    (1 vegetated, 0 destroyed, NaN unknown) with a CRS; it is the grid.  ``reduced``: the
    :func:`scale_reduce` result for these inputs (checked: same years, same native window
    and CRSs); None computes it now with ``reduce_options`` (its keywords).

    Each 30 m pixel gets its cell (:func:`modis_cell_index`) and that cell's row of the
    table -- NPP_b, S = pixels with a flag, S_veg = vegetated pixels, NPP_bg -- and Eq. 1:
    NPP_a = (NPP_b·S - NPP_bg·(S - S_veg)) / S_veg on vegetated pixels, 0 on destroyed
    ones.  No whole-area sum is left in this pass: one task per block of ``vegetated``.
    Every cell conserves carbon: Σ NPP_a + Σ_destroyed NPP_bg = NPP_b · S (pixel areas).

    Sub-cell weights: a vegetated pixel gets its cell's vegetated total × w / Σ w.  w is the
    value of ``vegetated`` (1: the study's even share), or, for a reduction made with a
    ``covariate`` (regression weights, :func:`scale_reduce`), max(a + b·x, floor) from
    ``covariate`` -- which must then be given here too, the same as in the reduction.  A
    reduction made with ``clip_negative=True`` sets negative NPP_a to 0 (counted there).

    Returns a Dataset over (``dim``, y, x): ``npp`` (NPP_a), ``npp_bg`` (the cell's
    value), ``npp_b`` (float32 g C m-2 yr-1, NaN outside the cells of ``reduced``),
    ``modis_cell`` (y, x; -1 outside the window) and the per-year ``npp_bg_*`` variables.
    """
    if "stats" in reduce_options or "cells" in reduce_options:
        raise TypeError("scale_transform() no longer takes stats= / cells=: make the reduction once with "
                        "reduced = scale_reduce(npp_native, vegetated, ...) and pass reduced=reduced.")
    veg = _check_vegetated(vegetated, dim)
    template = veg.isel({dim: 0}, drop=True)
    crs = _grid_crs(template, "vegetated")
    if reduced is None:
        import inspect

        allowed = set(inspect.signature(scale_reduce).parameters) - {"npp_native", "vegetated", "dim"}
        unknown = sorted(set(reduce_options) - allowed)
        if unknown:
            raise TypeError(f"scale_transform() got unexpected keyword(s) {unknown}; reduce options are "
                            f"{sorted(allowed)}.")
        reduced = scale_reduce(npp_native, vegetated, dim=dim, covariate=covariate, **reduce_options)
    elif reduce_options:
        raise TypeError(f"options {sorted(reduce_options)} belong to scale_reduce(); with reduced= given they "
                        f"are already decided.")
    win = _check_reduced(reduced, npp_native, veg, crs, dim)
    regression = reduced.attrs.get("weights") == "regression"
    if regression and covariate is None:
        raise ValueError("reduced was made with regression weights (scale_reduce(..., covariate=...)); pass the "
                         "same covariate= here.")
    if covariate is not None and not regression:
        raise ValueError("covariate= given but reduced has no sub-cell regression; make the reduction with "
                         "scale_reduce(..., covariate=covariate).")
    if regression:
        veg, cov = _check_covariate(covariate, veg, dim)
        template = veg.isel({dim: 0}, drop=True)
    clip = bool(reduced.attrs.get("clip_negative", 0))
    floor = float(reduced.attrs.get("weight_floor", 1.0))
    dt = float_dtype(npp_native) if isinstance(npp_native, xr.DataArray) else np.dtype(np.float32)
    if "w_vegetated" not in reduced:   # a reduction written before weights: unit weights
        reduced = reduced.assign(w_vegetated=reduced["n_vegetated"].astype(np.float64))
    tables = [np.asarray(reduced[k].transpose(dim, "cell").values) for k in ("npp_b", "npp_bg", "n_known",
                                                                              "n_vegetated", "w_vegetated")]
    cells = np.asarray(reduced["cell"].values, np.int64)
    if cells.size > 1 and np.any(np.diff(cells) <= 0):
        raise ValueError("reduced's cell coordinate must be strictly increasing (as scale_reduce writes it).")
    ids = _cell_ids(template, win, crs)
    kw = {"out_dtype": np.dtype(dt), "clip": clip, "floor": floor}
    if regression:
        reg = [None, np.ascontiguousarray(reduced["covariate_mean"].transpose(dim, "cell").values, np.float64),
               np.asarray(reduced["weights_intercept"].values, np.float64),
               np.asarray(reduced["weights_slope"].values, np.float64)]
    if veg.chunks is None:
        extra = [cov.values, *reg[1:]] if regression else []
        data = _eq1_block(ids, veg.values, cells, *tables, *extra, **kw)
    else:
        tch = veg.data.chunks[0]
        # the tables are small (years x cells on the grid); one chunk along cell, so every
        # block reads them from the same key
        targs = []
        for tab in tables:
            targs += [dsa.from_array(tab, chunks=(tch, -1)), "tc"]
        if regression:
            targs += [cov.data, "tyx", dsa.from_array(reg[1], chunks=(tch, -1)), "tc",
                      dsa.from_array(reg[2], chunks=(tch,)), "t", dsa.from_array(reg[3], chunks=(tch,)), "t"]
        data = dsa.blockwise(_eq1_block, "vtyx", ids, "yx", veg.data, "tyx",
                             dsa.from_array(cells, chunks=-1), "c", *targs,
                             new_axes={"v": 3}, dtype=np.dtype(dt), concatenate=True, **kw)
    coords = {k: c for k, c in veg.coords.items() if set(c.dims) <= {dim, "y", "x"}}
    units = "g C m-2 yr-1"
    out = {
        "npp": (data[0], {"units": units, "long_name": "NPP after scale transformation (NPP_a, seed 002 Eq. 1)",
                          "method": "Eq. 1 per native MODIS cell; NPP_bg kriged per year at the cell centres; "
                                    "destroyed pixels 0; " + _weights_note(reduced, regression, clip)}),
        "npp_bg": (data[1], {"units": units, "long_name": "background NPP of destroyed land (NPP_bg, seed 002)",
                             "comment": "the pixel's cell value: kriged at the cell centre; in cells without a "
                                        "vegetated pixel the cell's own NPP_b"}),
        "npp_b": (data[2], {"units": units,
                            "long_name": "NPP_b: the pixel's MODIS 500 m cell NPP (no resampling)"}),
    }
    ds = xr.Dataset({k: xr.DataArray(v, dims=(dim, "y", "x"), coords=coords, attrs=a) for k, (v, a) in out.items()})
    ds["modis_cell"] = xr.DataArray(ids, dims=("y", "x"), coords={k: c for k, c in coords.items()
                                                                  if set(c.dims) <= {"y", "x"}}, attrs={
        "long_name": "index of the MODIS cell holding the pixel (row * ncols + col)", "units": "1", "nodata": -1})
    for k in _PER_YEAR:
        if k in reduced:
            ds[k] = reduced[k].assign_coords({dim: veg[dim].values})
    ds.attrs.update({k: reduced.attrs[k] for k in ("min_share", "min_points", "variogram_model", "max_samples",
                                                    "seed", "npp_bg_notes", "native_crs", "native_transform",
                                                    "native_shape", "weights", "weight_floor", "min_pixels",
                                                    "weights_notes", "clip_negative") if k in reduced.attrs})
    return ds
