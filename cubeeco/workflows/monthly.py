"""The monthly CASA inputs of one year: NDVI composites from Landsat, climate on the grid.

Study 001 (Pingshuo) drives CASA with monthly NDVI, mean temperature, precipitation and
total solar radiation (seed 001 §2.2, Eqs. 1-7).  :func:`monthly_ndvi` builds the NDVI
series from the year's clear Landsat observations (search -> lazy cube -> NDVI -> one
composite per month -> gap fill along the months with a quality flag);
:func:`monthly_climate` puts a gridded monthly climate on the analysis grid with the
``month`` dimension :func:`cubeeco.ops.casa.casa_npp` expects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ..io.climate import to_casa_units
from ..io.cube import open_climate, open_cube
from ..io.grid import Grid
from ..io.search import search
from ..ops.casa import (
    COMPOSITE_METHODS,
    FILL_ENDS,
    QUALITY_FLAGS,
    _quality_attrs,
    fill_monthly,
    monthly_composite,
)
from ..ops.indices import ndvi as ndvi_index
from .annual import _is_api

FILLS = ("interpolate", "none")

# CASA input name -> variable of the synthetic climate store (cubeeco.synth.climate)
CLIMATE_VARIABLES = {"temperature": "tmean", "precipitation": "prcp", "solar": "srad"}


def _year(year) -> int:
    if isinstance(year, bool) or not isinstance(year, (int, np.integer)):
        raise TypeError(f"year must be an integer year, e.g. 2020, got {year!r}.")
    return int(year)


def monthly_ndvi(
    *,
    year: int,
    source=None,
    grid: Grid | None = None,
    bbox: Sequence[float] | None = None,
    method: str = "max",
    max_cloud: float | None = None,
    chunksize: int = 512,
    fill: str = "interpolate",
    ends: str = "cyclic",
    unreadable: str = "raise",
) -> tuple[xr.Dataset, list]:
    """Monthly NDVI composites of ``year`` on ``grid`` (lazy) and the STAC items used.

    Every Landsat C2 L2 scene of the year is searched (``max_cloud``: scene cloud cover
    in percent), loaded with clouds, shadow and snow masked per QA_PIXEL
    (:func:`cubeeco.io.cube.open_cube`), turned into NDVI and composited per month
    (``method``: ``"max"``, the maximum-value composite usual for CASA, or ``"median"``).
    ``fill="interpolate"`` fills months without a clear observation along the month axis
    (:func:`cubeeco.ops.casa.fill_monthly`; ``ends``: ``"hold"`` or ``"cyclic"`` for the
    months before the first / after the last clear one); ``"none"`` leaves them NaN.

    Returns ``(ds, items)``; ``ds`` has ``ndvi`` (month = 1..12, y, x; float32),
    ``quality`` (int8: 0 observed, 1 interpolated between months, 2 filled at the year's
    ends, 3 no clear observation in the whole year (NaN), 4 not filled (``fill="none"``,
    NaN)) and ``n_obs`` (uint8: clear observations in the month).  A month without a
    clear observation is never 0.  ``grid``/``bbox``/``source``/``unreadable`` as for
    :func:`cubeeco.workflows.annual.build_annual_cube`.
    """
    year = _year(year)
    if method not in COMPOSITE_METHODS:
        raise ValueError(f"method must be one of {sorted(COMPOSITE_METHODS)}, got {method!r}.")
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}.")
    if ends not in FILL_ENDS:
        raise ValueError(f"ends must be one of {sorted(FILL_ENDS)}, got {ends!r}.")
    if grid is not None:
        bbox = list(grid.lonlat_bounds())
    elif bbox is None and _is_api(source):
        from ..redact import redact

        raise ValueError(f"no analysis grid: the search would ask {redact(str(source))} for every "
                         f"landsat-c2-l2 scene of {year}; pass grid= (or bbox=) to search only its area.")
    items = search("landsat-c2-l2", source=source, bbox=None if bbox is None else list(bbox),
                   datetime=f"{year}-01-01/{year}-12-31", max_cloud=max_cloud)
    if len(items) == 0:
        raise ValueError(f"no landsat-c2-l2 scene of {year} found"
                         + ("" if bbox is None else f" over {list(bbox)}") + "; check year=, grid= and source=.")
    cube = open_cube(items, grid=grid, bands=("red", "nir08"), chunksize=chunksize, unreadable=unreadable)
    # the one rechunk: the year's scenes into one chunk along time, where the monthly cube is made
    nd = ndvi_index(cube["red"], cube["nir08"]).chunk(time=-1).rename("ndvi")
    comp = monthly_composite(nd, dim="time", method=method)
    n_obs = comp["n_obs"]
    if fill == "interpolate":
        filled = fill_monthly(comp["ndvi"], dim="month", ends=ends)
        values, quality = filled["ndvi"], filled["quality"]
    else:
        values = comp["ndvi"]
        none_in_year = (n_obs == 0).all("month")
        quality = xr.where(n_obs > 0, np.int8(0), xr.where(none_in_year, np.int8(3), np.int8(4))).astype(np.int8)
        quality.attrs = _quality_attrs()
    values.attrs = {"units": "1", "long_name": "monthly NDVI composite",
                    "cell_methods": f"time: {'maximum' if method == 'max' else 'median'} within months"}
    ds = xr.Dataset({"ndvi": values, "quality": quality, "n_obs": n_obs})
    ds = ds.transpose("month", "y", "x")
    for name in ("spatial_ref", "epsg"):
        if name in cube.coords and name not in ds.coords:
            ds = ds.assign_coords({name: cube.coords[name]})
    ds.attrs.update(cube.attrs)
    ds.attrs.update({"year": year, "composite_method": method, "fill": fill, "fill_ends": ends,
                     "quality_flags": "; ".join(f"{k} {v}" for k, v in QUALITY_FLAGS.items()),
                     "stac_items": ",".join(str(i.id) for i in items)})
    return ds, list(items)


def monthly_climate(
    climate,
    *,
    year: int,
    grid: Grid | None = None,
    method: str = "linear",
    chunksize: int = 512,
    variables: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """The 12 months of ``year`` of a gridded monthly climate, as CASA's inputs.

    ``climate``: a Zarr store path on a lon/lat grid (interpolated onto ``grid`` with
    :func:`cubeeco.io.cube.open_climate`, ``method`` ``"linear"`` or ``"nearest"``), or a
    Dataset with a datetime ``time`` dimension already on the analysis grid.
    ``variables`` maps ``temperature`` (degC), ``precipitation`` (mm month-1) and
    ``solar`` (MJ m-2 month-1) to the store's names (default :data:`CLIMATE_VARIABLES`).
    Returns a lazy Dataset of those three (month = 1..12, y, x), whole along ``month`` and
    in ``chunksize`` tiles (as :func:`monthly_ndvi`'s, so the two align for ``casa_npp``).
    """
    year = _year(year)
    names = {**CLIMATE_VARIABLES, **(variables or {})}
    if isinstance(climate, xr.Dataset):
        src = climate
    else:
        if grid is None:
            raise ValueError("grid is required to interpolate a climate store onto the analysis grid.")
        src = open_climate(climate, grid=grid, method=method, chunksize=chunksize, year=year)
    missing = [v for v in names.values() if v not in src.data_vars]
    if missing:
        raise ValueError(f"climate has no variable(s) {missing} (it has {sorted(src.data_vars)}); pass "
                         f"variables={{'temperature': ..., 'precipitation': ..., 'solar': ...}}.")
    if "time" not in src.dims or not np.issubdtype(src["time"].dtype, np.datetime64):
        raise ValueError("climate needs a datetime 'time' dimension with one step per month.")
    sub = src.sel(time=src["time"].dt.year == year)
    months = sub["time"].dt.month.values
    if sorted(months.tolist()) != list(range(1, 13)):
        raise ValueError(f"climate has months {sorted(set(months.tolist()))} of {year}; CASA needs all 12 "
                         f"(one step per month).")
    out = xr.Dataset()
    for key, var in names.items():
        # converted by its units (K, rates per day or second, ...); a missing or unknown unit is refused
        da = to_casa_units(sub[var], key, dim="time", name=var)
        da = da.assign_coords(month=("time", months.astype(np.int64))).swap_dims(time="month")
        da = da.drop_vars("time").sortby("month")
        if da.chunks is not None or not isinstance(climate, xr.Dataset):
            # the year whole in one chunk (CASA's core dim), tiles like the Landsat cube's, so
            # casa_npp gets aligned inputs: done here, where the monthly cube is made
            da = da.chunk({"month": -1, **{d: chunksize for d in ("y", "x") if d in da.dims}})
        out[key] = da.transpose("month", ...)
    out["month"].attrs = {"long_name": "month of the year"}
    out.attrs.update({**src.attrs, "year": year, "climate_variables": ",".join(f"{k}={v}" for k, v in names.items())})
    return out


__all__ = ["CLIMATE_VARIABLES", "monthly_climate", "monthly_ndvi"]
