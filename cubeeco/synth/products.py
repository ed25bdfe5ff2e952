"""The non-Landsat products of the synthetic coal base: MODIS NPP, land cover, DEM,
climate grids and stations, mine polygons, and the truth store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import shapely
import xarray as xr
from affine import Affine
from pyproj import Transformer
from rasterio.warp import Resampling, reproject, transform_bounds
from shapely.geometry import mapping

from ..io.cog import write_cog
from .landscape import CLCD_CLASSES, WATER, Landscape
from .stac import COG, EXT, item, lonlat_footprint

# MODIS sinusoidal grid (sphere of radius 6,371,007.181 m; no EPSG code)
MODIS_SINU = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
MODIS_PIXEL = 463.312716527917
MODIS_X0, MODIS_Y0 = -20015109.354, 10007554.677
MODIS_TILE = 1111950.5197665554
NPP_SCALE = 0.0001
NPP_WATER_FILL = 32766   # MOD17 class code above the valid range (> 32700 is never NPP)


def modis_grid(grid) -> tuple[Affine, tuple[int, int], tuple[int, int]]:
    """A window of the global MODIS 500 m grid covering ``grid``; also the (h, v) tile."""
    minx, miny, maxx, maxy = transform_bounds(grid.crs, MODIS_SINU, *grid.bounds, densify_pts=21)
    c0 = int(np.floor((minx - MODIS_X0) / MODIS_PIXEL))
    c1 = int(np.ceil((maxx - MODIS_X0) / MODIS_PIXEL))
    r0 = int(np.floor((MODIS_Y0 - maxy) / MODIS_PIXEL))
    r1 = int(np.ceil((MODIS_Y0 - miny) / MODIS_PIXEL))
    transform = Affine(MODIS_PIXEL, 0, MODIS_X0 + c0 * MODIS_PIXEL, 0, -MODIS_PIXEL, MODIS_Y0 - r0 * MODIS_PIXEL)
    h = int((MODIS_X0 + c0 * MODIS_PIXEL - MODIS_X0) // MODIS_TILE)
    v = int((MODIS_Y0 - (MODIS_Y0 - r0 * MODIS_PIXEL)) // MODIS_TILE)
    return transform, (r1 - r0, c1 - c0), (h, v)


def to_modis(landscape: Landscape, values: np.ndarray, transform, shape) -> np.ndarray:
    out = np.full(shape, np.nan, np.float32)
    reproject(values.astype(np.float32), out, src_transform=landscape.grid.transform, src_crs=landscape.grid.crs,
              dst_transform=transform, dst_crs=MODIS_SINU, resampling=Resampling.average,
              src_nodata=np.nan, dst_nodata=np.nan)
    return out


def write_modis(landscape: Landscape, root: Path) -> list[dict]:
    """MOD17A3HGF-like annual NPP (int16 DN x 0.0001 kgC m-2 yr-1) from 2001 on."""
    cfg = landscape.config
    transform, shape, (h, v) = modis_grid(landscape.grid)
    water = to_modis(landscape, (landscape.lulc_base == WATER).astype(np.float32), transform, shape)
    geometry, bbox = lonlat_footprint(landscape.grid)
    items = []
    for year in cfg.year_list:
        if year < 2001:   # MOD17A3HGF v061 starts in 2001
            continue
        rng = np.random.default_rng([cfg.seed, 3, year])
        npp = to_modis(landscape, landscape.npp(year), transform, shape)  # gC m-2 yr-1
        npp = npp * (1 + rng.normal(0, 0.04, shape))                       # retrieval noise
        dn = np.rint(npp / 1000.0 / NPP_SCALE)
        dn = np.where(np.isnan(dn) | (water > 0.5), NPP_WATER_FILL, np.clip(dn, -30000, 32700)).astype(np.int16)
        qc = np.where(dn == NPP_WATER_FILL, 255, rng.integers(0, 20, shape)).astype(np.uint8)
        iid = f"MOD17A3HGF.A{year}001.h{h:02d}v{v:02d}.061"
        files = {
            "Npp_500m": write_cog(root / "modis" / f"{iid}.Npp_500m.tif", dn, crs=MODIS_SINU, transform=transform),
            "Npp_QC_500m": write_cog(root / "modis" / f"{iid}.Npp_QC_500m.tif", qc, crs=MODIS_SINU, transform=transform),
        }
        start, end = f"{year}-01-01T00:00:00Z", f"{year}-12-31T23:59:59Z"
        props = {"datetime": None, "start_datetime": start, "end_datetime": end, "platform": "terra",
                 "instruments": ["modis"], "modis:horizontal-tile": h, "modis:vertical-tile": v,
                 "modis:tile-id": f"51{h:03d}{v:03d}", "proj:epsg": None,
                 "proj:wkt2": rasterio.crs.CRS.from_string(MODIS_SINU).to_wkt(),
                 "proj:shape": list(shape), "proj:transform": list(transform)[:6]}
        assets = {
            "Npp_500m": {"href": str(files["Npp_500m"].resolve()), "type": COG, "roles": ["data"],
                         "title": "Net Primary Productivity",
                         "raster:bands": [{"data_type": "int16", "scale": NPP_SCALE, "unit": "kg C m-2 yr-1",
                                           "spatial_resolution": 500}]},
            "Npp_QC_500m": {"href": str(files["Npp_QC_500m"].resolve()), "type": COG, "roles": ["data"],
                            "title": "NPP quality control (percent)",
                            "raster:bands": [{"data_type": "uint8", "unit": "percent"}]},
        }
        items.append(item(iid, "modis-17A3HGF-061", geometry, bbox, props, assets))
    return items


def write_lulc(landscape: Landscape, root: Path) -> list[dict]:
    """Annual 30 m CLCD-like land cover (uint8, 0 = nodata), with 0.5% label noise."""
    cfg, grid = landscape.config, landscape.grid
    geometry, bbox = lonlat_footprint(grid)
    items = []
    for year in cfg.year_list:
        rng = np.random.default_rng([cfg.seed, 4, year])
        lc = landscape.land_cover(year)
        flip = rng.random(lc.shape) < 0.005
        lc[flip] = rng.choice([1, 2, 3, 4, 7], int(flip.sum()))
        path = write_cog(root / "lulc" / f"clcd_like_{year}.tif", lc, crs=grid.crs, transform=grid.transform, nodata=0)
        props = {"datetime": f"{year}-07-01T00:00:00Z", "start_datetime": f"{year}-01-01T00:00:00Z",
                 "end_datetime": f"{year}-12-31T23:59:59Z", "proj:epsg": grid.epsg,
                 "proj:shape": list(grid.shape), "proj:transform": list(grid.transform)[:6]}
        assets = {"data": {"href": str(path.resolve()), "type": COG, "roles": ["data"], "title": "Land cover",
                           "raster:bands": [{"data_type": "uint8", "nodata": 0, "spatial_resolution": 30}],
                           "classification:classes": [{"value": k, "description": v} for k, v in CLCD_CLASSES.items()]}}
        items.append(item(f"clcd-like-{year}", "synthetic-clcd", geometry, bbox, props, assets,
                          extensions=("proj", "raster", "classification")))
    return items


def write_dem(landscape: Landscape, root: Path) -> list[dict]:
    grid = landscape.grid
    geometry, bbox = lonlat_footprint(grid)
    path = write_cog(root / "dem" / "dem.tif", landscape.dem, crs=grid.crs, transform=grid.transform, nodata=-9999.0)
    props = {"datetime": "2000-02-11T00:00:00Z", "proj:epsg": grid.epsg, "proj:shape": list(grid.shape),
             "proj:transform": list(grid.transform)[:6]}
    assets = {"data": {"href": str(path.resolve()), "type": COG, "roles": ["data"], "title": "Elevation",
                       "raster:bands": [{"data_type": "float32", "nodata": -9999.0, "unit": "m"}]}}
    return [item("dem", "synthetic-dem", geometry, bbox, props, assets)]


def climate_dataset(landscape: Landscape, resolution_deg: float = 0.05) -> xr.Dataset:
    """Monthly mean temperature, precipitation and solar radiation on a lon/lat grid."""
    cfg = landscape.config
    lon0, lat0, lon1, lat1 = landscape.grid.lonlat_bounds()
    pad = 2 * resolution_deg
    lon = np.arange(np.floor((lon0 - pad) / resolution_deg), np.ceil((lon1 + pad) / resolution_deg) + 1) * resolution_deg
    lat = np.arange(np.ceil((lat1 + pad) / resolution_deg), np.floor((lat0 - pad) / resolution_deg) - 1, -1) * resolution_deg
    times = pd.date_range(f"{cfg.years[0]}-01-01", f"{cfg.years[1]}-12-01", freq="MS")
    rng = np.random.default_rng([cfg.seed, 5])
    month = times.month.values
    doy = times.dayofyear.values + 14
    yr = times.year.values
    lat_c = lat - lat.mean()
    lon_c = lon - lon.mean()
    regional_t = np.array([landscape.air_temperature(int(y), float(d)) for y, d in zip(yr, doy)])
    tmean = regional_t[:, None, None] - 6.0 * lat_c[None, :, None] + 1.0 * lon_c[None, None, :]
    tmean = tmean + rng.normal(0, 0.3, tmean.shape)
    wet_season = np.exp(-(((month - 7.5) / 1.6) ** 2))
    annual_p = np.array([380 * (1 + landscape.precip_anomaly[int(y)]) for y in yr])
    prcp = (annual_p * (0.02 + wet_season / wet_season.sum() * 12 * 0.9))[:, None, None] * (
        1 + 0.8 * lon_c[None, None, :] - 0.5 * lat_c[None, :, None]) * rng.lognormal(0, 0.15, (times.size, lat.size, lon.size))
    srad = (420 + 230 * np.cos(2 * np.pi * (doy - 172) / 365.25))[:, None, None] * (
        1 + rng.normal(0, 0.03, (times.size, lat.size, lon.size)))
    ds = xr.Dataset(
        {
            "tmean": (("time", "lat", "lon"), tmean.astype(np.float32), {"units": "degC", "long_name": "monthly mean air temperature", "standard_name": "air_temperature"}),
            "prcp": (("time", "lat", "lon"), np.maximum(prcp, 0).astype(np.float32), {"units": "mm month-1", "long_name": "monthly precipitation"}),
            "srad": (("time", "lat", "lon"), srad.astype(np.float32), {"units": "MJ m-2 month-1", "long_name": "monthly total solar radiation"}),
        },
        coords={"time": times, "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"})},
        attrs={"title": "cubeeco synthetic monthly climate", "crs": "EPSG:4326", "Conventions": "CF-1.8"},
    )
    return ds


def write_climate(landscape: Landscape, root: Path) -> tuple[dict, list[dict]]:
    """Climate grid as a Zarr collection asset, stations as GeoJSON + monthly CSV."""
    cfg = landscape.config
    ds = climate_dataset(landscape)
    zpath = root / "climate" / "monthly.zarr"
    ds.to_zarr(zpath, mode="w", consolidated=True, zarr_format=2)
    rng = np.random.default_rng([cfg.seed, 6])
    lon0, lat0, lon1, lat1 = landscape.grid.lonlat_bounds()
    st_lon = rng.uniform(lon0, lon1, cfg.n_stations)
    st_lat = rng.uniform(lat0, lat1, cfg.n_stations)
    rows, features = [], []
    for k in range(cfg.n_stations):
        sid = f"ST{k + 1:02d}"
        near = ds.interp(lon=st_lon[k], lat=st_lat[k])
        for t in range(ds.sizes["time"]):
            rows.append({"station_id": sid, "time": str(ds.time.values[t])[:10],
                         "tmean": round(float(near.tmean[t]) + rng.normal(0, 0.2), 2),
                         "prcp": round(max(float(near.prcp[t]) * rng.lognormal(0, 0.1), 0.0), 1),
                         "srad": round(float(near.srad[t]) * (1 + rng.normal(0, 0.02)), 1)})
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [st_lon[k], st_lat[k]]},
                         "properties": {"station_id": sid, "name": f"Station {sid}"}})
    sdir = root / "climate"
    pd.DataFrame(rows).to_csv(sdir / "stations_monthly.csv", index=False)
    (sdir / "stations.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    geometry, bbox = lonlat_footprint(landscape.grid)
    start, end = f"{cfg.years[0]}-01-01T00:00:00Z", f"{cfg.years[1]}-12-31T23:59:59Z"
    station_item = item("climate-stations", "synthetic-climate", geometry, bbox,
                        {"datetime": None, "start_datetime": start, "end_datetime": end},
                        {"stations": {"href": str((sdir / "stations.geojson").resolve()), "type": "application/geo+json", "roles": ["data"]},
                         "monthly": {"href": str((sdir / "stations_monthly.csv").resolve()), "type": "text/csv", "roles": ["data"]}},
                        extensions=())
    zarr_asset = {"zarr": {"href": str(zpath.resolve()), "type": "application/vnd+zarr", "roles": ["data"],
                           "title": "Monthly climate grid (tmean degC, prcp mm, srad MJ m-2)",
                           "xarray:open_kwargs": {"consolidated": True}}}
    return zarr_asset, [station_item]


def write_mines(landscape: Landscape, root: Path) -> list[dict]:
    to_ll = Transformer.from_crs(landscape.grid.crs, "EPSG:4326", always_xy=True).transform
    features = []
    for m in landscape.mines:
        geom = shapely.transform(m.footprint, lambda xy: np.column_stack(to_ll(xy[:, 0], xy[:, 1])))
        features.append({"type": "Feature", "geometry": mapping(geom), "properties": {
            "mine_id": m.mine_id, "name": m.name, "open_year": m.open_year,
            "restoration_year": m.restoration_year, "area_km2": round(m.footprint.area / 1e6, 4)}})
    path = root / "vectors" / "mines.geojson"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    geometry, bbox = lonlat_footprint(landscape.grid)
    return [item("mines", "synthetic-mines", geometry, bbox, {"datetime": f"{landscape.config.years[1]}-12-31T00:00:00Z"},
                 {"data": {"href": str(path.resolve()), "type": "application/geo+json", "roles": ["data"],
                           "title": "Mine boundaries"}}, extensions=())]


def write_truth(landscape: Landscape, root: Path) -> Path:
    """The planted truth as a Zarr store, for scoring analyses."""
    grid, years = landscape.grid, landscape.config.year_list
    time = pd.to_datetime([dt.datetime(y, 1, 1) for y in years])
    dims = ("time", "y", "x")
    ds = xr.Dataset(
        {
            "ndvi_true": (dims, np.stack([landscape.ndvi(y) for y in years]), {"units": "1", "long_name": "true peak-season NDVI"}),
            "cover_true": (dims, np.stack([landscape.cover(y) for y in years]), {"units": "1", "long_name": "true fractional vegetation cover"}),
            "npp_true": (dims, np.stack([landscape.npp(y) for y in years]), {"units": "g C m-2 yr-1", "long_name": "true annual NPP"}),
            "ndvi_trend_true": (("y", "x"), landscape.ndvi_trend(), {"units": "yr-1", "long_name": "OLS slope of true NDVI"}),
            "destruction_year": (("y", "x"), landscape.destruction_year, {"_FillValue_meaning": "0 = never destroyed"}),
            "restoration_year": (("y", "x"), landscape.restoration_year, {"_FillValue_meaning": "0 = never restored"}),
            "mine_id": (("y", "x"), landscape.mine_id, {"long_name": "mine id, 0 outside mines"}),
            "zone": (("y", "x"), landscape.zone, {"long_name": "1 pit, 2 dump"}),
            "lulc_base": (("y", "x"), landscape.lulc_base, {"long_name": "CLCD-like class before mining"}),
        },
        coords={"time": time, "y": grid.y, "x": grid.x},
        attrs={"crs": grid.crs},
    )
    path = root / "truth" / "truth.zarr"
    ds.to_zarr(path, mode="w", consolidated=True, zarr_format=2)
    return path


def modis_item_assets() -> dict:
    return {"Npp_500m": {"type": COG, "roles": ["data"], "raster:bands": [{"data_type": "int16", "scale": NPP_SCALE}]}}


__all__ = ["EXT", "write_climate", "write_dem", "write_lulc", "write_mines", "write_modis", "write_truth"]
