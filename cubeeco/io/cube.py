"""Lazily loaded cubes on one analysis grid, built by stackstac from STAC items.

Nothing here reads pixels: every function returns dask-backed xarray objects.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pystac
import stackstac
import xarray as xr
from rasterio.enums import Resampling

from .grid import Grid
from .masking import DEFAULT_MASK, clear_mask, reflectance, surface_temperature

LANDSAT_BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22", "lwir")
# OLI/TIRS calls its surface-temperature asset lwir11; TM and ETM+ call it lwir
THERMAL_ALIASES = ("lwir11", "lwir")
NPP_SCALE = 0.0001
NPP_VALID_MAX = 32700     # MOD17 values above this are fill / class codes
UNITS = {"lwir": "K"}


def _as_dicts(items) -> list[dict]:
    if isinstance(items, pystac.ItemCollection):
        items = list(items)
    out = []
    for it in items:
        d = it.to_dict(transform_hrefs=False) if isinstance(it, pystac.Item) else copy.deepcopy(it)
        props = d["properties"]
        if not props.get("datetime"):       # MODIS-style items: a start/end range only
            props["datetime"] = props.get("start_datetime")
        out.append(d)
    if not out:
        raise ValueError("no STAC items given: the search matched nothing (check collection, bbox and datetime).")
    return out


def _harmonize_landsat(d: dict) -> dict:
    assets = d["assets"]
    for alias in THERMAL_ALIASES:
        if alias in assets and "lwir" not in assets:
            assets["lwir"] = assets[alias]
    return d


def grid_from_items(items, resolution: float = 30.0) -> Grid:
    """The union footprint of the items' own grids (projection-extension metadata)."""
    epsgs, bounds = set(), []
    for d in _as_dicts(items):
        p = d["properties"]
        epsg = p.get("proj:epsg") or int(str(p.get("proj:code", "")).split(":")[-1] or 0)
        if not epsg or "proj:transform" not in p:
            raise ValueError(f"item {d['id']} has no projection metadata; pass grid= explicitly.")
        epsgs.add(int(epsg))
        a, _, c, _, e, f = p["proj:transform"][:6]
        h, w = p["proj:shape"]
        bounds.append((c, f + e * h, c + a * w, f))
    if len(epsgs) != 1:
        raise ValueError(f"items span several CRSs {sorted(epsgs)}; pass grid= to choose one.")
    b = np.array(bounds)
    return Grid.snapped(epsgs.pop(), resolution, (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()))


def _stack(items: list[dict], assets, grid: Grid, dtype, fill_value, chunksize: int, resampling) -> xr.DataArray:
    da = stackstac.stack(
        items, assets=list(assets), epsg=grid.epsg, resolution=grid.resolution, bounds=grid.bounds,
        snap_bounds=False, dtype=np.dtype(dtype), fill_value=np.dtype(dtype).type(fill_value), rescale=False,
        chunksize=(1, 1, chunksize, chunksize), xy_coords="center", resampling=resampling,
        properties=False, band_coords=False,
    )
    if (da.sizes["y"], da.sizes["x"]) != grid.shape:
        raise RuntimeError(f"stackstac produced {da.shape[-2:]} pixels for a {grid.shape} grid")
    da.attrs = {}   # stackstac's RasterSpec etc.: the grid is recorded by _finish instead
    # exact pixel-centre coordinates of the analysis grid (stackstac's are float-rounded)
    return da.assign_coords(y=grid.y, x=grid.x)


def _finish(obj, grid: Grid):
    obj = obj.rio.write_crs(grid.crs) if hasattr(obj, "rio") else obj
    obj.attrs["grid"] = str(grid.to_dict())
    return obj


def open_cube(
    items,
    *,
    grid: Grid | None = None,
    bands: Sequence[str] = LANDSAT_BANDS,
    mask: bool = True,
    qa_flags: Sequence[str] = DEFAULT_MASK,
    chunksize: int = 512,
) -> xr.Dataset:
    """A lazy Landsat C2 L2 cube: one float32 variable per band, dims (time, y, x).

    Band names are harmonised across TM / ETM+ / OLI (``blue green red nir08 swir16
    swir22 lwir``); reflectance bands are scaled to reflectance, ``lwir`` to kelvin;
    pixels flagged in QA_PIXEL (``qa_flags``) and DN nodata are NaN when ``mask``.
    A ``clear`` boolean variable says which observations survived the QA mask.
    """
    import rioxarray  # noqa: F401  (registers .rio)

    unknown = [b for b in bands if b not in LANDSAT_BANDS]
    if unknown:
        raise ValueError(f"unknown band(s) {unknown}; Landsat bands are {LANDSAT_BANDS}.")
    dicts = [_harmonize_landsat(d) for d in _as_dicts(items)]
    grid = grid or grid_from_items(dicts)
    raw = _stack(dicts, [*bands, "qa_pixel"], grid, "uint16", 0, chunksize, Resampling.nearest)
    raw = raw.assign_coords(band=[*bands, "qa_pixel"])
    clear = clear_mask(raw.sel(band="qa_pixel", drop=True), qa_flags)
    platform = {d["id"]: d["properties"].get("platform", "") for d in dicts}
    ds = xr.Dataset(coords={"time": raw.time, "y": raw.y, "x": raw.x, "id": ("time", raw.id.values),
                            "platform": ("time", [platform[i] for i in raw.id.values])})
    for b in bands:
        dn = raw.sel(band=b, drop=True)
        value = surface_temperature(dn) if b == "lwir" else reflectance(dn)
        if mask:
            value = value.where(clear)
        value.attrs = {"units": UNITS.get(b, "1"),
                       "long_name": "surface temperature" if b == "lwir" else f"{b} surface reflectance"}
        ds[b] = value
    ds["clear"] = clear.assign_attrs(long_name="observation passed the QA_PIXEL mask")
    ds.attrs["qa_flags_masked"] = ",".join(qa_flags)
    return _finish(ds, grid)


def open_npp(items, *, grid: Grid, resampling: str = "nearest", chunksize: int = 512) -> xr.DataArray:
    """MOD17A3HGF annual NPP on ``grid`` in g C m-2 yr-1 (fill and class codes -> NaN).

    ``resampling="nearest"`` (default) gives every 30 m pixel its parent 500 m cell's
    value, as the scale transformation of study 002 needs; ``"bilinear"`` smooths.
    """
    dicts = _as_dicts(items)
    raw = _stack(dicts, ["Npp_500m"], grid, "int16", 32767, chunksize, Resampling[resampling])
    raw = raw.sel(band="Npp_500m", drop=True) if "band" in raw.dims else raw
    raw = raw.assign_coords(time=[np.datetime64(f"{t.year}-01-01", "ns") for t in raw.indexes["time"]])
    npp = xr.where(raw <= NPP_VALID_MAX, raw.astype(np.float32) * np.float32(NPP_SCALE * 1000.0),
                   np.float32(np.nan))
    npp.attrs = {"units": "g C m-2 yr-1", "long_name": "MODIS annual net primary production",
                 "resampling": resampling, "source_scale": "0.0001 kg C m-2 yr-1"}
    return _finish(npp.rename("npp"), grid)


def open_land_cover(items, *, grid: Grid, chunksize: int = 512) -> xr.DataArray:
    """Annual class rasters on ``grid`` by nearest neighbour, uint8 with nodata 0."""
    dicts = _as_dicts(items)
    raw = _stack(dicts, ["data"], grid, "uint8", 0, chunksize, Resampling.nearest)
    raw = raw.sel(band="data", drop=True) if "band" in raw.dims else raw
    raw = raw.assign_coords(time=[np.datetime64(f"{t.year}-01-01", "ns") for t in raw.indexes["time"]])
    raw.attrs = {"long_name": "land cover class", "_FillValue": 0, "nodata": 0}
    return _finish(raw.rename("land_cover"), grid)


def open_climate(zarr_path, *, grid: Grid, method: str = "linear", chunksize: int = 512) -> xr.Dataset:
    """Monthly climate (lon/lat grid in a Zarr store) interpolated onto ``grid``.

    ``method`` is ``"linear"`` (bilinear in lon/lat, default) or ``"nearest"``; the
    result is lazy, chunked like the analysis grid.
    """
    import dask.array as dsa
    from pyproj import Transformer

    if method not in ("linear", "nearest"):
        raise ValueError(f"method must be 'linear' or 'nearest', got {method!r}.")
    src = xr.open_zarr(zarr_path, consolidated=True)
    to_ll = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    xx, yy = dsa.meshgrid(dsa.from_array(grid.x, chunks=chunksize), dsa.from_array(grid.y, chunks=chunksize))
    lon = dsa.map_blocks(lambda x, y: to_ll.transform(x, y)[0], xx, yy, dtype=np.float64)
    lat = dsa.map_blocks(lambda x, y: to_ll.transform(x, y)[1], xx, yy, dtype=np.float64)
    coords = {"y": grid.y, "x": grid.x}
    out = src.interp(lon=xr.DataArray(lon, dims=("y", "x"), coords=coords),
                     lat=xr.DataArray(lat, dims=("y", "x"), coords=coords), method=method)
    out = out.drop_vars(["lon", "lat"], errors="ignore").astype(np.float32)
    for v in out.data_vars:
        out[v].attrs = {**src[v].attrs, "resampling": method}
    return _finish(out, grid)
