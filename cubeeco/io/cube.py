"""Lazily loaded cubes on one analysis grid, built by stackstac from STAC items.

Nothing here reads pixels: every function returns dask-backed xarray objects.
Item metadata in its real shapes (projection forms, ``raster:bands``, missing
assets) is handled by :mod:`cubeeco.io.items` before stackstac sees it. What a
cube leaves out is said in a warning and recorded in its attrs as JSON under
``provenance:missing_assets`` and ``provenance:skipped_scenes``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import numpy as np
import stackstac
import xarray as xr
from rasterio.enums import Resampling

from . import items as meta
from .grid import Grid
from .masking import (
    DEFAULT_MASK,
    QA_BAND,
    SR_BAND,
    ST_BAND,
    clear_mask,
    reflectance,
    surface_temperature,
)

LANDSAT_BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22", "lwir")
# OLI/TIRS calls its surface-temperature asset lwir11; TM and ETM+ call it lwir
THERMAL_ALIASES = ("lwir11", "lwir")
THERMAL = "lwir"          # L2SR scenes have no thermal asset: NaN for them, never a skipped scene
NPP_SCALE = 0.0001
NPP_VALID_MAX = 32700     # MOD17 values above this are fill / class codes
NPP_FILL = 32767
NPP_ASSET = "Npp_500m"
MODIS_PRODUCTS = {"terra": "MOD", "aqua": "MYD"}   # told apart by id prefix: platform is "" on PC
UNITS = {"lwir": "K"}


def _harmonize_landsat(d: dict) -> dict:
    assets = d["assets"]
    for alias in THERMAL_ALIASES:
        if alias in assets and "lwir" not in assets:
            assets["lwir"] = assets[alias]
    return d


def _as_dicts(items) -> list[dict]:
    return meta.as_item_dicts(items)


def grid_from_items(items, resolution: float | None = None, *, assets: Sequence[str] | None = None) -> Grid:
    """The union footprint of the items' own grids, aligned to their native pixel grid.

    ``resolution`` defaults to the finest native one. Pixel corners keep the items'
    offset (odc-stac's "anchor"): USGS Collection 2 corners sit at 15 m mod 30 m, so
    the grid does too, and a cube pixel is a native pixel (no half-pixel shift, no
    extra row or column of NaN). Only the asset keys in ``assets`` are looked at
    (default: the item-level projection, else the first asset that has one).
    """
    dicts = _as_dicts(items)
    epsgs, bounds, anchors, res = set(), [], Counter(), []
    for d in dicts:
        keys = [k for k in (assets or d["assets"]) if k in d["assets"]]
        fps = [(k, meta.footprint(d, k)) for k in keys]
        fps = [(k, fp) for k, fp in fps if fp is not None and fp.transform is not None]
        if not fps:
            raise ValueError(f"item {d['id']} has no projection metadata (proj:transform, proj:shape and a "
                             f"CRS); pass grid= explicitly.")
        for k, fp in fps:
            epsg = meta.epsg_of(fp.crs)
            if epsg is None:
                raise ValueError(f"item {d['id']} asset {k!r} is in a CRS without an EPSG code "
                                 f"({fp.crs.name}); pass grid= (an EPSG-coded analysis grid) explicitly.")
            epsgs.add(epsg)
            bounds.append(fp.bounds)
            res.append(abs(fp.transform.a))
            anchors[(fp.transform.c, fp.transform.f)] += 1
    if len(epsgs) != 1:
        raise ValueError(f"items span several CRSs {sorted(epsgs)}; pass grid= to choose one.")
    r = float(resolution) if resolution is not None else min(res)
    (x0, y0), _ = anchors.most_common(1)[0]
    b = np.array(bounds)
    return Grid.snapped(epsgs.pop(), r, (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()),
                        anchor=(x0 % r, y0 % r))


def _check_unreadable(unreadable: str) -> None:
    if unreadable not in meta.UNREADABLE:
        raise ValueError(f"unreadable must be one of {meta.UNREADABLE}, got {unreadable!r}.")


def _stack(items: list[dict], assets, grid: Grid, dtype, fill_value, chunksize: int, resampling,
           unreadable: str = "raise") -> tuple[xr.DataArray | None, list[dict]]:
    """stackstac over ``assets`` of ``items``; also the scenes skipped as unreadable.

    ``unreadable="raise"``: nothing is opened now; a read that fails raises inside its
    task, naming the href (stackstac's ``errors_as_nodata`` is emptied: its default
    turns an HTTP 404 into silent nodata). ``"skip"``: every asset's header and last
    block are read now, and scenes with an unreadable asset are left out.
    """
    from .remote import prepare_assets, signed_href

    _check_unreadable(unreadable)
    ready = meta.for_stackstac(items, assets, grid)
    ready, kwargs = prepare_assets(ready)
    skipped = []
    if unreadable == "skip":
        bad = meta.unreadable_assets(ready, assets, kwargs.get("gdal_env"),
                                     sign=lambda href: signed_href(href, kwargs))
        for iid, problems in bad.items():
            hrefs = "; ".join(f"{k} {h} ({why})" for k, h, why in problems)
            meta.warn(f"scene {iid} skipped: unreadable asset(s) {hrefs}")
            skipped.append({"id": iid, "reason": "unreadable", "assets": [k for k, _, _ in problems],
                            "hrefs": [h for _, h, _ in problems]})
        ready = [d for d in ready if d["id"] not in bad]
    ready = [d for d in ready if d["assets"]]    # wholly outside the grid: nothing to read
    if not ready:
        return None, skipped
    kwargs = {**kwargs, "errors_as_nodata": ()}
    da = stackstac.stack(
        ready, assets=list(assets), epsg=grid.epsg, resolution=grid.resolution, bounds=grid.bounds,
        snap_bounds=False, dtype=np.dtype(dtype), fill_value=np.dtype(dtype).type(fill_value), rescale=False,
        chunksize=(1, 1, chunksize, chunksize), xy_coords="center", resampling=resampling,
        properties=False, band_coords=False, **kwargs,
    )
    if (da.sizes["y"], da.sizes["x"]) != grid.shape:
        raise RuntimeError(f"stackstac produced {da.shape[-2:]} pixels for a {grid.shape} grid")
    if list(da.band.values) != list(assets):
        raise RuntimeError(f"stackstac returned bands {list(da.band.values)} for {list(assets)}")
    da.attrs = {}   # stackstac's RasterSpec etc.: the grid is recorded by _finish instead
    # exact pixel-centre coordinates of the analysis grid (stackstac's are float-rounded)
    return da.assign_coords(y=grid.y, x=grid.x), skipped


def _finish(obj, grid: Grid, missing: dict | None = None, skipped: list | None = None):
    import rioxarray  # noqa: F401  (registers .rio)

    from ..redact import redact_obj

    obj = obj.rio.write_crs(grid.crs) if hasattr(obj, "rio") else obj
    obj.attrs["grid"] = str(grid.to_dict())
    obj.attrs["provenance:missing_assets"] = json.dumps(redact_obj(missing or {}), sort_keys=True)
    obj.attrs["provenance:skipped_scenes"] = json.dumps(redact_obj(skipped or []), sort_keys=True)
    return obj


def _per_time(raw: xr.DataArray, values: dict, dtype=np.float32) -> xr.DataArray:
    """A (time,) array of per-scene values (scale, offset, nodata) in the stack's order."""
    return xr.DataArray(np.array([values[i] for i in raw.id.values], dtype), dims="time",
                        coords={"time": raw.time})


def _constant(values: xr.DataArray):
    """A scalar where every scene has the same value (the usual case), else the array."""
    v = values.values
    if v.size and (np.all(v == v[0]) or np.all(np.isnan(v))):
        return None if np.isnan(v[0]) else v.dtype.type(v[0])
    return values


def _nodata(v) -> float:
    return np.nan if v is None else float(v)


def open_cube(
    items,
    *,
    grid: Grid | None = None,
    bands: Sequence[str] | None = None,
    mask: bool = True,
    qa_flags: Sequence[str] = DEFAULT_MASK,
    chunksize: int = 512,
    unreadable: str = "raise",
) -> xr.Dataset:
    """A lazy Landsat C2 L2 cube: one float32 variable per band, dims (time, y, x).

    Band names are harmonised across TM / ETM+ / OLI (``blue green red nir08 swir16
    swir22 lwir``); reflectance bands are scaled to reflectance, ``lwir`` to kelvin,
    with each asset's ``raster:bands`` scale, offset and nodata (Collection 2
    constants where absent); pixels flagged in QA_PIXEL (``qa_flags``) and nodata are
    NaN when ``mask``. A ``clear`` boolean variable says which observations survived.

    Missing assets: a scene without ``lwir`` (``landsat:correction = L2SR``) has NaN
    there; a scene without a requested optical band or ``qa_pixel`` is skipped; a band
    that no scene has is an error, except ``lwir`` when ``bands`` is left to its
    default (an all-L2SR area gives an all-NaN ``lwir``). Each case warns
    (``MissingDataWarning``) and is counted in the ``provenance:*`` attrs.
    ``unreadable`` (``"raise"`` or ``"skip"``): what a file that cannot be read does;
    see ``docs/data-access.md``.
    """
    import rioxarray  # noqa: F401  (registers .rio)

    default_bands = bands is None
    bands = tuple(LANDSAT_BANDS if bands is None else bands)
    unknown = [b for b in bands if b not in LANDSAT_BANDS]
    if unknown:
        raise ValueError(f"unknown band(s) {unknown}; Landsat bands are {LANDSAT_BANDS}.")
    _check_unreadable(unreadable)
    dicts = [_harmonize_landsat(d) for d in _as_dicts(items)]
    collection = meta.collection_of(dicts)
    dicts, load, missing, skipped = _landsat_assets(dicts, bands, default_bands, collection)
    defaults = {THERMAL: ST_BAND, "qa_pixel": QA_BAND}
    infos = {b: {d["id"]: meta.band_info(d, b, defaults.get(b, SR_BAND))
                 for d in dicts if b in d["assets"]} for b in (*load, "qa_pixel")}
    grid = grid or grid_from_items(dicts, assets=[*load, "qa_pixel"])
    dtype = np.result_type(*[np.dtype(i.dtype or "uint16") for per in infos.values() for i in per.values()])
    fill = np.nan if dtype.kind == "f" else 0
    raw, unread = _stack(dicts, [*load, "qa_pixel"], grid, dtype, fill, chunksize, Resampling.nearest,
                         unreadable)
    skipped += unread
    if raw is None:
        raise ValueError(f"no scene of collection {collection} overlaps the grid {grid.to_dict()}"
                         + (" (or every one was unreadable)" if unread else "") + ".")
    clear = _clear(raw, infos["qa_pixel"], qa_flags)
    platform = {d["id"]: d["properties"].get("platform", "") for d in dicts}
    ids = [str(i) for i in raw.id.values]
    ds = xr.Dataset(coords={"time": raw.time, "y": raw.y, "x": raw.x, "id": ("time", raw.id.values),
                            "platform": ("time", [platform[i] for i in ids])})
    for b in bands:
        if b in load:
            value = _decode(raw, b, infos[b], fill)
        else:   # no scene has it (default bands over an all-L2SR area)
            value = xr.full_like(raw.isel(band=0, drop=True), np.nan, dtype=np.float32)
            missing[b] = {"items": ids}
            meta.warn(f"none of the {len(ids)} scene(s) of {collection} has a {b!r} asset (L2SR scenes "
                      f"have no surface temperature): {b} is NaN everywhere.")
        if mask:
            value = value.where(clear)
        value.attrs = {"units": UNITS.get(b, "1"),
                       "long_name": "surface temperature" if b == THERMAL else f"{b} surface reflectance"}
        ds[b] = value
    ds["clear"] = clear.assign_attrs(long_name="observation passed the QA_PIXEL mask")
    ds.attrs["qa_flags_masked"] = ",".join(qa_flags)
    for m in missing.values():     # counted over the scenes the cube holds
        m["items"] = [i for i in m["items"] if i in ids]
        m.update(scenes=len(m["items"]), of=len(ids))
    return _finish(ds, grid, missing, skipped)


def _landsat_assets(dicts, bands, default_bands, collection):
    """Which scenes and bands a Landsat cube loads: (items, bands to load, missing, skipped).

    A band in no scene is an error (``lwir`` with the default bands excepted); a scene
    without ``lwir`` keeps NaN there; a scene without a requested optical band or QA is
    left out, since it would silently drop out of that band's median while
    ``clear_count`` still counted it.
    """
    n = len(dicts)
    has = {b: [d["id"] for d in dicts if b in d["assets"]] for b in (*bands, "qa_pixel")}
    absent = [b for b in (*bands, "qa_pixel") if not has[b] and not (b == THERMAL and default_bands)]
    if absent:
        hint = " (L2SR scenes have no surface-temperature asset: leave lwir out of bands=)" \
            if THERMAL in absent else ""
        raise ValueError(f"band(s) {absent} are in none of the {n} item(s) of collection {collection}{hint}.")
    missing = {}
    lacking = [d["id"] for d in dicts if THERMAL in bands and THERMAL not in d["assets"]]
    if lacking and has[THERMAL]:
        missing[THERMAL] = {"items": lacking}
        meta.warn(f"{len(lacking)} of {n} scene(s) of {collection} have no {THERMAL!r} asset (L2SR scenes "
                  f"have no surface temperature): {THERMAL} is NaN for them.")
    required = [b for b in (*bands, "qa_pixel") if b != THERMAL]
    skipped = []
    for d in dicts:
        gone = [b for b in required if b not in d["assets"]]
        if gone:
            skipped.append({"id": d["id"], "reason": "missing asset", "assets": gone})
            meta.warn(f"scene {d['id']} of {collection} skipped: no {', '.join(gone)} asset.")
    kept = [d for d in dicts if d["id"] not in {s["id"] for s in skipped}]
    if not kept:
        raise ValueError(f"every scene of collection {collection} lacks a required asset "
                         f"({sorted({a for s in skipped for a in s['assets']})}); nothing to load.")
    return kept, [b for b in bands if has[b]], missing, skipped


def _clear(raw: xr.DataArray, qa_info: dict, qa_flags) -> xr.DataArray:
    """The QA_PIXEL clear mask; the asset's nodata is masked too where the flags miss it."""
    qa = raw.sel(band="qa_pixel", drop=True)
    if qa.dtype.kind == "f":      # some asset declared a float data type: QA bits need integers
        qa = qa.fillna(0).astype(np.uint16)
    nodata = _constant(_per_time(raw, {i: _nodata(qa_info[i].nodata) for i in raw.id.values}, np.float64))
    clear = clear_mask(qa, qa_flags)
    # QA nodata 1 is the fill bit and 0 stackstac's fill: both are masked already unless the
    # flags leave fill out (each extra comparison is a task per chunk at coal-base scale)
    if isinstance(nodata, xr.DataArray) or not (nodata == 0 or (nodata == 1 and "fill" in qa_flags)):
        clear = clear & (qa != nodata)
    return clear


def _decode(raw: xr.DataArray, band: str, per: dict, fill) -> xr.DataArray:
    """Band ``band`` scaled with each scene's own scale / offset / nodata (scalars when all
    scenes agree, as they usually do: the graph then equals the one of plain constants)."""
    dn = raw.sel(band=band, drop=True)
    default = ST_BAND if band == THERMAL else SR_BAND
    ids = raw.id.values
    scale = _constant(_per_time(raw, {i: per[i].scale if i in per else default.scale for i in ids}))
    offset = _constant(_per_time(raw, {i: per[i].offset if i in per else default.offset for i in ids}))
    nodata = _constant(_per_time(raw, {i: _nodata(per[i].nodata) if i in per else fill for i in ids},
                                 np.float64))
    if nodata is not None and not isinstance(nodata, xr.DataArray) and nodata == fill:
        nodata = None      # the nodata is stackstac's fill, masked anyway
    decode = surface_temperature if band == THERMAL else reflectance
    return decode(dn, scale=scale, offset=offset, nodata=nodata, fill=fill)


def _years(raw: xr.DataArray) -> np.ndarray:
    return np.array([t.year for t in raw.indexes["time"]])


def _mosaic_by_year(raw: xr.DataArray, fill) -> xr.DataArray:
    """One layer per year: the first non-fill value of the year's items (tiles of a mosaic)."""
    years = _years(raw)
    layers = []
    for year in np.unique(years):
        sub = raw.isel(time=np.flatnonzero(years == year))
        layer = sub.isel(time=0, drop=True) if sub.sizes["time"] == 1 else \
            stackstac.mosaic(sub, dim="time", reverse=True, nodata=fill)
        layers.append(layer.drop_vars([c for c in layer.coords if c not in ("y", "x")])
                      .expand_dims(time=[np.datetime64(f"{year}-01-01", "ns")]))
    return xr.concat(layers, dim="time")


def _single_asset(dicts: list[dict], asset: str, what: str) -> tuple[list[dict], dict]:
    """Items that carry ``asset``; an error naming the collection when none does."""
    collection = meta.collection_of(dicts)
    have = [d for d in dicts if asset in d["assets"]]
    if not have:
        keys = sorted({k for d in dicts for k in d["assets"]})
        raise ValueError(f"asset {asset!r} is in none of the {len(dicts)} {what} item(s) of collection "
                         f"{collection}; their assets are {keys} (pass asset=).")
    missing = {}
    lacking = [d["id"] for d in dicts if asset not in d["assets"]]
    if lacking:
        missing[asset] = {"scenes": len(lacking), "of": len(dicts), "items": lacking}
        meta.warn(f"{len(lacking)} of {len(dicts)} {what} item(s) of {collection} have no {asset!r} asset; "
               f"left out.")
    return have, missing


NPP_RESAMPLING = ("nearest",)


def check_npp_resampling(resampling) -> None:
    """Only nearest: any other resampling blends MOD17's fill and class codes into NPP."""
    if resampling not in NPP_RESAMPLING:
        raise ValueError(f"resampling {resampling!r} is not supported for MODIS NPP: only 'nearest' is, since "
                         f"any other would blend the fill and class codes ({NPP_VALID_MAX + 1}-{NPP_FILL}: "
                         f"water, barren, urban, ...) into valid values; load with 'nearest' and aggregate "
                         f"afterwards (e.g. xarray's coarsen) for a smoother field.")


def open_npp(items, *, grid: Grid, product: str = "terra", resampling: str = "nearest",
             chunksize: int = 512, unreadable: str = "raise") -> xr.DataArray:
    """MOD17A3HGF annual NPP on ``grid`` in g C m-2 yr-1 (fill and class codes -> NaN).

    ``product``: ``"terra"`` (MOD17A3HGF, default) or ``"aqua"`` (MYD17A3HGF), told apart
    by the item id prefix (Planetary Computer's items have ``platform: ""``). Tiles of
    one year are mosaicked: one value per year. ``resampling`` must be ``"nearest"``:
    every 30 m pixel gets its parent 500 m cell's value, as the scale transformation
    of study 002 needs. Any other resampling would blend the fill and class codes
    (32761-32767: water, barren, urban, ...) into valid values, since GDAL's warper
    masks only the file's nodata tag; aggregate after loading instead.
    """
    if product not in MODIS_PRODUCTS:
        raise ValueError(f"product must be one of {sorted(MODIS_PRODUCTS)} (Terra MOD / Aqua MYD), got {product!r}.")
    check_npp_resampling(resampling)
    dicts = _as_dicts(items)
    prefix = MODIS_PRODUCTS[product]
    chosen = [d for d in dicts if str(d["id"]).upper().startswith(prefix)]
    if not chosen:
        seen = sorted({str(d["id"])[:3] for d in dicts})
        raise ValueError(f"no {product} items (id prefix {prefix}) among the {len(dicts)} MODIS item(s) of "
                         f"{meta.collection_of(dicts)} (id prefixes {seen}); choose product= accordingly.")
    chosen, missing = _single_asset(chosen, NPP_ASSET, "MODIS")
    if all(meta.bbox_on_grid(meta.footprint(d, NPP_ASSET), grid) is None for d in chosen):
        tiles = sorted({str(d["id"]).split(".")[2] if str(d["id"]).count(".") >= 2 else str(d["id"])
                        for d in chosen})
        raise ValueError(f"the grid (EPSG:{grid.epsg}, bounds {list(grid.bounds)}) lies outside every MODIS "
                         f"tile given ({', '.join(tiles)}); search with the grid's bbox or pass other items.")
    info = {d["id"]: meta.band_info(d, NPP_ASSET, meta.BandInfo(scale=NPP_SCALE, dtype="int16")) for d in chosen}
    scales = {v.scale for v in info.values()}
    if len(scales) != 1:
        raise ValueError(f"MODIS items carry different Npp_500m scales {sorted(scales)}; load them separately.")
    dtype = np.result_type(*[np.dtype(v.dtype or "int16") for v in info.values()])
    raw, skipped = _stack(chosen, [NPP_ASSET], grid, dtype, NPP_FILL, chunksize, Resampling[resampling],
                          unreadable)
    if raw is None:
        raise ValueError(f"every MODIS item overlapping the grid was unreadable: {skipped}")
    raw = _mosaic_by_year(raw.sel(band=NPP_ASSET, drop=True), NPP_FILL)
    scale = np.float32(scales.pop() * 1000.0)   # kg C m-2 -> g C m-2
    npp = xr.where(raw <= NPP_VALID_MAX, raw.astype(np.float32) * scale, np.float32(np.nan))
    npp.attrs = {"units": "g C m-2 yr-1", "long_name": "MODIS annual net primary production",
                 "resampling": resampling, "source_scale": "0.0001 kg C m-2 yr-1",
                 "modis_product": f"{prefix}17A3HGF ({product})"}
    return _finish(npp.rename("npp"), grid, missing, skipped)


def open_land_cover(items, *, grid: Grid, asset: str = "data", chunksize: int = 512,
                    unreadable: str = "raise") -> xr.DataArray:
    """Annual class rasters on ``grid`` by nearest neighbour, one layer per year.

    ``asset`` is the class raster's key (``data`` for ``io-lulc-annual-v02`` and the
    synthetic CLCD, ``map`` for ``esa-worldcover``). Data type and nodata come from
    ``raster:bands`` (uint8 and 0 where absent); tiles of one year are mosaicked.
    """
    dicts = _as_dicts(items)
    dicts, missing = _single_asset(dicts, asset, "land-cover")
    info = [meta.band_info(d, asset, meta.BandInfo(nodata=0, dtype="uint8")) for d in dicts]
    dtype = np.result_type(*[np.dtype(i.dtype or "uint8") for i in info])
    own = {d["id"]: i.nodata for d, i in zip(dicts, info)}
    declared = Counter(v for v in own.values() if v is not None and not np.isnan(v))
    nodata = min(declared, key=lambda v: (-declared[v], v)) if declared else 0   # most declared, else smallest
    raw, skipped = _stack(dicts, [asset], grid, dtype, nodata, chunksize, Resampling.nearest, unreadable)
    if raw is None:
        raise ValueError(f"no land-cover item of {meta.collection_of(dicts)} overlaps the grid "
                         f"{grid.to_dict()}" + (f" (unreadable: {skipped})" if skipped else "") + ".")
    raw = raw.sel(band=asset, drop=True)
    # items that declare another nodata: theirs becomes the output's, scene by scene, before
    # the mosaic (else one tile's nodata, e.g. 255, would count as a class over another's 0)
    per = _constant(_per_time(raw, {i: _nodata(own[i]) for i in raw.id.values}, np.float64))
    if isinstance(per, xr.DataArray):
        raw = raw.where(raw != per, nodata).astype(dtype)
    raw = _mosaic_by_year(raw, nodata)
    raw.attrs = {"long_name": "land cover class", "_FillValue": nodata, "nodata": nodata, "asset": asset}
    return _finish(raw.rename("land_cover"), grid, missing, skipped)


def open_dem(items, *, grid: Grid, asset: str = "data", chunksize: int = 512) -> xr.DataArray:
    """Elevation (m) on ``grid``: the DEM tiles (``cop-dem-glo-30``, ``nasadem``, the synthetic
    DEM) mosaicked, bilinear (elevation is continuous; nodata stays out of the blend)."""
    dicts = _as_dicts(items)
    dicts, missing = _single_asset(dicts, asset, "DEM")
    info = [meta.band_info(d, asset, meta.BandInfo(nodata=-32768.0, dtype="float32")) for d in dicts]
    nodata = next((i.nodata for i in info if i.nodata is not None), -32768.0)
    raw, skipped = _stack(dicts, [asset], grid, np.float32, np.nan, chunksize, Resampling.bilinear, "raise")
    if raw is None:
        raise ValueError(f"no DEM item of {meta.collection_of(dicts)} overlaps the grid {grid.to_dict()}.")
    raw = raw.sel(band=asset, drop=True)
    raw = raw.where(raw != np.float32(nodata))
    dem = raw.max("time", skipna=True) if raw.sizes.get("time", 1) > 1 else raw.isel(time=0, drop=True)
    dem = dem.drop_vars([c for c in dem.coords if c not in ("y", "x")])
    dem.attrs = {"long_name": "elevation", "units": "m"}
    return _finish(dem.rename("elevation"), grid, missing, skipped)


def open_climate(zarr_path, *, grid: Grid, method: str = "linear", chunksize: int = 512,
                 year: int | None = None) -> xr.Dataset:
    """Monthly climate (lon/lat grid in a Zarr store) interpolated onto ``grid``.

    ``method`` is ``"linear"`` (bilinear in lon/lat, default) or ``"nearest"``; the
    result is lazy, chunked like the analysis grid. ``year``: only that year's steps are
    interpolated (the interpolation of a whole series is one task per tile holding every
    step: 25 years x 12 months of a 500 x 500 grid took 4 GB).
    """
    import dask.array as dsa
    from pyproj import Transformer

    if method not in ("linear", "nearest"):
        raise ValueError(f"method must be 'linear' or 'nearest', got {method!r}.")
    src = xr.open_zarr(zarr_path, consolidated=True)
    if year is not None and "time" in src.dims and np.issubdtype(src["time"].dtype, np.datetime64):
        src = src.isel(time=np.flatnonzero(src["time"].dt.year.values == int(year)))
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
