"""First-order (delta-method) standard error of VCSD per zone from MOD17's retrieval error.

Study 002 (Xu et al. 2024, Shendong) books VCSD (Eq. 5) from MOD17A3HGF NPP_b redistributed
to 30 m by Eq. 1 and extrapolated by the OLS of Eqs. 3-4.  A relative error ε_{c,t} on the
NPP_b of sinusoidal cell c in year t moves every vegetated 30 m pixel of the cell by the
relative amount A_{c,t}·ε (A = NPP_b·S / (NPP_b·S - NPP_bg·D) = Σ_c npp_b / Σ_c npp_a, with
NPP_bg and the sub-cell weights held fixed), and VCSD is linear in the pixels' VCS away from
the clip at 0, with the per-pixel derivative L of :func:`cubeeco.kernels.vcs.vcsd_sensitivity`.
Hence, per zone z,

    Q_{z,c,t} = A_{c,t} · Σ_{p ∈ z∩c} L_{p,t}·v_{p,t} · area_p / 1e9        (Gg CO2 per unit ε)
    Var_annual(z) = σ_e² Σ_{c,t} Q²      (independent errors per cell and year)
    Var_cell(z)   = σ_u² Σ_c (Σ_t Q)²    (one persistent error per cell)

computed in one dask pass over (y, x) blocks (whole time axis per block): each block yields
sparse (zone, cell) sums of L·v·area per year and per-cell sums of npp_b and npp per year
(a cell may span blocks: A is formed after the tree-merge).  See docs/vcs.md.
"""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import xarray as xr

from ..kernels import vcs as K
from ._checks import require_dataarray, require_dim, require_float
from .vcs import _area as _accounting_area
from .vcs import _years

UNITS = "Gg CO2"
_NEED = ("c_destroy", "c_restore", "vcs_undisturbed", "destruction_step", "fit_flag")
_FAN_IN = 8
_ZONE_SHIFT = np.int64(1) << np.int64(32)   # key = zone·2³² + cell: cells are < 2³¹


# ------------------------------------------------------------------ checks
def _nonneg(value, name):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number (a relative standard error, e.g. 0.1), got {value!r}.")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number (a relative standard error, e.g. 0.1), got {value!r}.") from None
    if not np.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite relative standard error >= 0 (e.g. 0.1 for 10 %), got {value!r}.")
    return x


def _cube(da, name, ref, dim):
    require_dataarray(da, name)
    require_float(da, name)
    require_dim(da, dim, name)
    if set(da.dims) != set(ref.dims):
        raise ValueError(f"{name} must have the dims {tuple(ref.dims)} of vcs, got {da.dims}.")
    for d in ref.dims:
        if da.sizes[d] != ref.sizes[d]:
            raise ValueError(f"{name} has {da.sizes[d]} steps along {d!r}, vcs has {ref.sizes[d]}.")
    if dim in da.coords and dim in ref.coords:
        if not np.array_equal(_years(da, dim, name).values, _years(ref, dim).values):
            raise ValueError(f"{name} and vcs cover different years along {dim!r}; pass the cubes of one run.")
    return da.transpose(*ref.dims)


def _raster(da, name, spatial, ref, what):
    require_dataarray(da, name)
    if da.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer raster ({what}), got dtype {da.dtype}.")
    if set(da.dims) != set(spatial):
        raise ValueError(f"{name} must have exactly the spatial dims {spatial} of vcs, got {da.dims}.")
    for d in spatial:
        if da.sizes[d] != ref.sizes[d]:
            raise ValueError(f"{name} has {da.sizes[d]} steps along {d!r}, vcs has {ref.sizes[d]}.")
    return da.transpose(*spatial)


def _check_changes(changes, vcs, dim):
    if not isinstance(changes, xr.Dataset) or any(k not in changes.data_vars for k in _NEED):
        raise TypeError(f"changes must be the Dataset of cubeeco.ops.vcs.vcs_changes (it needs {list(_NEED)}).")
    if changes.attrs.get("time_dim", dim) != dim:
        raise ValueError(f"changes was made along {changes.attrs['time_dim']!r} but dim={dim!r}.")
    if "include_destruction_year" not in changes.attrs:
        raise ValueError("changes lacks the 'include_destruction_year' attr that vcs_changes writes; the fit window "
                         "cannot be known. Pass the Dataset vcs_changes returned.")
    out = {k: _cube(changes[k], k, vcs, dim) for k in ("c_destroy", "c_restore", "vcs_undisturbed")}
    spatial = tuple(d for d in vcs.dims if d != dim)
    for k in ("destruction_step", "fit_flag"):
        out[k] = _raster(changes[k], k, spatial, vcs, "per-pixel output of vcs_changes")
    return out, int(bool(changes.attrs["include_destruction_year"]))


def _area(pixel_area, vcs, spatial):
    """(scalar m² or None, raster DataArray or None): the accounting's rule, raster in ``spatial`` order."""
    area, raster = _accounting_area(vcs, pixel_area, spatial)
    return area, None if raster is None else raster.transpose(*spatial)


# ------------------------------------------------------------------ sparse tables
def _sum_by_key(keys, values):
    """(unique keys, per-key sums of the rows of ``values``): sort once, add each run."""
    if keys.size == 0:
        return keys.astype(np.int64), np.zeros((0, *values.shape[1:]), np.float64)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[starts], np.add.reduceat(np.asarray(values, np.float64)[order], starts, axis=0)


def _bincount_rows(inv, n, rows):
    """(n, t) per-group sums of the columns of ``rows`` (t, k); float64, one bincount a year."""
    out = np.zeros((n, rows.shape[0]), np.float64)
    for t in range(rows.shape[0]):
        out[:, t] = np.bincount(inv, weights=rows[t], minlength=n)
    return out


def _block(v, cdes, cres, und, dstep, flag, npp, nppb, cells, zones, area, *, years, include_td, n_zones):
    """Sparse tables of one (t, by, bx) block: ((zone-cell keys, (k, t) Σ L·v·area),
    (cell ids, (k, 2, t) Σ npp_b, Σ npp))."""
    nt = v.shape[0]
    flat = lambda a: np.asarray(a).reshape(nt, -1)   # noqa: E731  (t, pixels) views, no copies
    cells = np.asarray(cells).ravel().astype(np.int64)
    zones = np.asarray(zones).ravel().astype(np.int64)
    if zones.size and (zones.min() < 0 or zones.max() > n_zones):
        raise ValueError(f"zones holds labels outside 0..n_zones = {n_zones} (found {zones.min()}..{zones.max()}); "
                         f"pass n_zones= the largest label.")
    # per-cell sums for A (every pixel of the cell with both values, zone or not)
    inside = cells >= 0
    ucell, cinv = np.unique(cells[inside], return_inverse=True)
    cinv = cinv.ravel()
    a_in, b_in = flat(npp)[:, inside], flat(nppb)[:, inside]
    ok = np.isfinite(a_in) & np.isfinite(b_in)
    cell_tab = (ucell, np.stack([_bincount_rows(cinv, ucell.size, np.where(ok, b_in, 0.0)),
                                 _bincount_rows(cinv, ucell.size, np.where(ok, a_in, 0.0))], axis=1))
    del a_in, b_in, ok
    # the zone pixels' L·v·area (the kernel runs on them only)
    sel = inside & (zones > 0)
    if not sel.any():
        return (np.zeros(0, np.int64), np.zeros((0, nt))), cell_tab
    series = [flat(a)[:, sel] for a in (v, cdes, cres, und)]
    ft = np.result_type(*series)
    vs, cd, cr, un = (np.ascontiguousarray(a.T, dtype=ft) for a in series)   # (k, t), one dtype for the kernel
    sens = K.vcsd_sensitivity(vs, years, cd, cr, un, np.asarray(dstep).ravel()[sel].astype(np.int64),
                              np.asarray(flag).ravel()[sel].astype(np.int64), np.int64(include_td))
    lv = np.where(np.isfinite(vs), sens * vs, 0.0)
    if area is not None:
        lv = lv * np.asarray(area, np.float64).ravel()[sel][:, None]
    keys = zones[sel] * _ZONE_SHIFT + cells[sel]
    ukey, kinv = np.unique(keys, return_inverse=True)
    return (ukey, _bincount_rows(kinv.ravel(), ukey.size, lv.T)), cell_tab


def _merge(*parts):
    zk = np.concatenate([p[0][0] for p in parts])
    zv = np.concatenate([p[0][1] for p in parts])
    ck = np.concatenate([p[1][0] for p in parts])
    cv = np.concatenate([p[1][1] for p in parts])
    return _sum_by_key(zk, zv), _sum_by_key(ck, cv)


def _tree(parts):
    merge = dask.delayed(_merge, pure=True)
    while len(parts) > 1:   # no task holds more than _FAN_IN block tables at once
        parts = [merge(*parts[i:i + _FAN_IN]) for i in range(0, len(parts), _FAN_IN)]
    return parts[0]


def _as_dask(da, chunks):
    return da.chunk(chunks).data


# ------------------------------------------------------------------ public
def vcsd_standard_error(changes: xr.Dataset, vcs: xr.DataArray, npp: xr.DataArray, npp_b: xr.DataArray,
                        cells: xr.DataArray, zones: xr.DataArray, n_zones: int, *, sigma_e: float,
                        sigma_u: float = 0.0, pixel_area=None, dim: str = "time") -> pd.DataFrame:
    """Delta-method standard error of VCSD per zone from a relative MOD17 NPP error (study 002).

    Parameters
    ----------
    changes : the :func:`cubeeco.ops.vcs.vcs_changes` Dataset of ``vcs`` (one cycle or
        ``state=``; its ``c_destroy``, ``c_restore``, ``vcs_undisturbed``, ``destruction_step``,
        ``fit_flag`` and ``include_destruction_year`` attr are read).
    vcs : (``dim``, y, x) VCS cube the accounting used (g CO2 m-2 yr-1).
    npp, npp_b : (``dim``, y, x) Eq. 1 NPP_a and the pixel's MOD17 cell NPP_b, as the
        ``scaled_npp`` stage writes them (``npp``, ``npp_b``); only their ratio per cell is used.
    cells : (y, x) integer MODIS cell id (``modis_cell``; negative = none).
    zones : (y, x) integer zone labels (0 = none), e.g. the mines; ``n_zones`` the largest label.
    sigma_e : relative standard error of NPP_b, independent per cell and year (0.1 = 10 %).
    sigma_u : relative standard error persistent over the years of a cell (default 0).
    pixel_area : m² per pixel (number or (y, x) DataArray); default |dx·dy| from the coords.

    Returns
    -------
    DataFrame indexed by zone 1..n_zones: ``VCSD_se_Gg`` = sqrt(Var_annual + Var_cell),
    ``VCSD_se_annual_Gg``, ``VCSD_se_cell_Gg`` (Gg CO2) and ``n_cells`` (cells the zone's
    pixels touch).  Computes (one dask pass over (y, x) blocks; time in one chunk per block).

    Assumptions: first order (VCSD is linear in NPP_b except where a prediction sits at the
    clip at 0, which is ignored), NPP_bg and the sub-cell weights held fixed, errors
    independent across cells.
    """
    sigma_e = _nonneg(sigma_e, "sigma_e")
    sigma_u = _nonneg(sigma_u, "sigma_u")
    require_dataarray(vcs, "vcs")
    require_float(vcs, "vcs")
    require_dim(vcs, dim, "vcs")
    if vcs.ndim != 3:
        raise ValueError(f"vcs must be a ({dim!r}, y, x) cube, got dims {vcs.dims}.")
    spatial = tuple(d for d in vcs.dims if d != dim)
    vcs = vcs.transpose(dim, *spatial)
    ch, include_td = _check_changes(changes, vcs, dim)
    npp = _cube(npp, "npp", vcs, dim)
    npp_b = _cube(npp_b, "npp_b", vcs, dim)
    cells = _raster(cells, "cells", spatial, vcs, "MODIS cell ids, -1 = none")
    zones = _raster(zones, "zones", spatial, vcs, "zone labels, 0 = none")
    if isinstance(n_zones, bool) or not isinstance(n_zones, (int, np.integer)) or n_zones < 1:
        raise ValueError(f"n_zones must be a positive integer (the largest zone label), got {n_zones!r}.")
    n_zones = int(n_zones)
    area, area_raster = _area(pixel_area, vcs, spatial)
    years = _years(vcs, dim).values

    # one spatial tiling for every input (that of vcs), the whole time axis per block
    sp = ({d: vcs.chunksizes[d] for d in spatial} if vcs.chunks is not None
          else {d: -1 for d in spatial})
    cube_chunks = {dim: -1, **sp}
    cubes = [vcs, ch["c_destroy"], ch["c_restore"], ch["vcs_undisturbed"]]
    flats = [ch["destruction_step"], ch["fit_flag"]]
    arrays = ([_as_dask(a, cube_chunks) for a in cubes] + [_as_dask(a, sp) for a in flats]
              + [_as_dask(a, cube_chunks) for a in (npp, npp_b)] + [_as_dask(a, sp) for a in (cells, zones)])
    arrays.append(None if area_raster is None else _as_dask(area_raster, sp))
    blocks = [None if a is None else a.to_delayed() for a in arrays]
    block = dask.delayed(_block, pure=True)
    ny, nx = blocks[4].shape
    parts = []
    for i in range(ny):
        for j in range(nx):
            args = [b[0, i, j] if b is not None and b.ndim == 3 else (None if b is None else b[i, j])
                    for b in blocks]
            parts.append(block(*args, years=years, include_td=include_td, n_zones=n_zones))
    (zkeys, zsum), (ckeys, csum) = dask.compute(_tree(parts))[0]

    # A per cell and year over the whole cell; a cell without vegetated NPP moves nothing
    sb, sa = csum[:, 0, :], csum[:, 1, :]
    with np.errstate(all="ignore"):
        amp = np.where(sa != 0, sb / np.where(sa != 0, sa, 1.0), 0.0)
    zone = (zkeys // _ZONE_SHIFT).astype(np.int64)
    cell = zkeys % _ZONE_SHIFT
    pos = np.searchsorted(ckeys, cell)   # every zone pixel's cell is in the cell table
    scale = (1.0 if area is None else area) / 1e9
    q = amp[pos] * zsum * scale if zkeys.size else np.zeros((0, len(years)))
    var_a = sigma_e ** 2 * np.bincount(zone, weights=(q ** 2).sum(axis=1), minlength=n_zones + 1)[1:]
    var_c = sigma_u ** 2 * np.bincount(zone, weights=q.sum(axis=1) ** 2, minlength=n_zones + 1)[1:]
    n_cells = np.bincount(zone, minlength=n_zones + 1)[1:].astype(np.int64)
    df = pd.DataFrame({"VCSD_se_Gg": np.sqrt(var_a + var_c), "VCSD_se_annual_Gg": np.sqrt(var_a),
                       "VCSD_se_cell_Gg": np.sqrt(var_c), "n_cells": n_cells},
                      index=pd.Index(np.arange(1, n_zones + 1), name="zone"))
    df.attrs["units"] = {"VCSD_se_Gg": UNITS, "VCSD_se_annual_Gg": UNITS, "VCSD_se_cell_Gg": UNITS,
                         "n_cells": "1"}
    df.attrs.update({"sigma_e": sigma_e, "sigma_u": sigma_u, "include_destruction_year": include_td,
                     "method": "first-order (delta-method) propagation of a relative MOD17 NPP_b error through "
                               "Eq. 1 (NPP_bg and weights fixed) and Eqs. 3-5; clipping at 0 ignored",
                     "source": "study 002 (Xu et al. 2024, Shendong) Eqs. 1, 3-5"})
    return df
