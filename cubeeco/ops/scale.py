"""MODIS NPP scale transformation, VCS and disturbance years (seed 002, Methods).

* :func:`npp_scale_transform` -- Eq. 1, coarse (500 m) NPP redistributed onto the
  vegetated 30 m pixels of each coarse cell;
* :func:`vcs` -- Eq. 2, VCS = NPP × 2.2 × 1.63 (g CO2 m-2 yr-1);
* :func:`destruction_restoration_years` -- first persistent vegetated -> bare year T_D
  and the following persistent bare -> vegetated year T_R from annual max NDVI.

>>> import numpy as np, xarray as xr
>>> npp = xr.DataArray(np.float32([100.0]), dims="x", attrs={"units": "g C m-2 yr-1"})
>>> round(float(vcs(npp)[0]), 1)
358.6
"""

from __future__ import annotations

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
