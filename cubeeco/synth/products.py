"""The non-Landsat products of the synthetic coal base: MODIS NPP, land cover, DEM,
climate grids and stations, mine polygons, and the truth store."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import xarray as xr
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.warp import transform_bounds
from shapely.geometry import mapping

from ..io.cog import write_cog
from .landscape import BARREN, CLCD_CLASSES, IMPERVIOUS, NPP_TO_VCS, WATER, Landscape
from .stac import COG, EXT, item, lonlat_footprint

# MODIS sinusoidal grid (sphere of radius 6,371,007.181 m; no EPSG code)
MODIS_SINU = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
MODIS_PIXEL = 463.312716527917
MODIS_X0, MODIS_Y0 = -20015109.354, 10007554.677
MODIS_TILE = 1111950.5197665554
NPP_SCALE = 0.0001
# MOD17 fill / class codes above the valid range (> 32700 is never NPP; MOD17 user's guide
# [unverified]): 32767 fill, 32766 water, 32765 barren or sparsely vegetated, 32764 snow and
# ice, 32763 wetland, 32762 urban or built-up, 32761 unclassified
NPP_FILL = 32767
NPP_WATER_FILL = 32766
NPP_BARREN_FILL = 32765
NPP_URBAN_FILL = 32762


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


# Sub-points per 30 m pixel side for a MODIS cell's footprint: a pixel's area is shared among
# the cells its 4 x 4 sub-points fall in (edges resolved to 7.5 m).
FOOTPRINT_SUBPOINTS = 4


@functools.lru_cache(maxsize=2)
def modis_footprint(grid, transform: Affine, shape: tuple[int, int], k: int = FOOTPRINT_SUBPOINTS):
    """The share of each grid pixel's area inside each sinusoidal cell, as a (cells, pixels)
    scipy CSR matrix (a pixel's column sums to 1 where it lies in the window).  A MODIS cell on
    the ground is a parallelogram (at 110 deg E, 39 deg N its sides lean ~50 deg), so the
    cell's value is the area mean over that footprint.  ``rasterio``'s average warp does
    not give it here: for this shear it reads a strip about a quarter of the cell wide.
    Sub-points are placed bilinearly between the pixel corners' exact sinusoidal positions."""
    from scipy import sparse

    ny, nx = grid.shape
    to_sinu = Transformer.from_crs(grid.crs, MODIS_SINU, always_xy=True)
    inv = ~transform
    rows_n, cols_n = shape
    off = (np.arange(k) + 0.5) / k
    blocks = []
    for rows in _row_blocks(grid.shape, max(1, CASA_BLOCK_PX // (k * k))):
        rr, cc = np.mgrid[rows.start:rows.stop + 1, 0:nx + 1]
        g = grid.transform
        sx, sy = to_sinu.transform(g.c + cc * g.a + rr * g.b, g.f + cc * g.d + rr * g.e)
        col, row = inv.c + sx * inv.a + sy * inv.b, inv.f + sx * inv.d + sy * inv.e   # fractional cell coords
        nr = rows.stop - rows.start
        pix = np.arange(nr * nx, dtype=np.int64).reshape(nr, nx)
        parts_pix, parts_cell = [], []
        for oy in off:
            for ox in off:
                w = ((1 - oy) * (1 - ox), (1 - oy) * ox, oy * (1 - ox), oy * ox)
                corners = (np.s_[:-1, :-1], np.s_[:-1, 1:], np.s_[1:, :-1], np.s_[1:, 1:])
                c = sum(wi * col[sl] for wi, sl in zip(w, corners))
                r = sum(wi * row[sl] for wi, sl in zip(w, corners))
                ci, ri = np.floor(c).astype(np.int64), np.floor(r).astype(np.int64)
                ok = (ci >= 0) & (ci < cols_n) & (ri >= 0) & (ri < rows_n)
                parts_pix.append(pix[ok])
                parts_cell.append(ri[ok] * cols_n + ci[ok])
        p, c = np.concatenate(parts_pix), np.concatenate(parts_cell)
        block = sparse.coo_matrix((np.full(p.size, 1.0 / (k * k), np.float32), (p, c)),
                                  shape=(nr * nx, rows_n * cols_n)).tocsr()   # sums the duplicates
        blocks.append(block)
    return sparse.vstack(blocks, format="csr").T.tocsr()


def to_modis(landscape: Landscape, values: np.ndarray, transform, shape) -> np.ndarray:
    """The area mean of ``values`` (grid pixels, NaN = no data) over each MODIS cell's exact
    footprint (:func:`modis_footprint`); NaN where a cell covers no valid pixel."""
    share = modis_footprint(landscape.grid, Affine(*tuple(transform)[:6]), tuple(shape))
    v = np.asarray(values, np.float64).ravel()
    ok = np.isfinite(v)
    total = share @ np.where(ok, v, 0.0)
    covered = share @ ok.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(covered > 1e-9, total / covered, np.nan)
    return out.reshape(shape).astype(np.float32)


def _modis_codes(landscape: Landscape, transform, shape) -> np.ndarray:
    """MOD17 class codes per 500 m cell (0 where NPP is retrieved): the majority class of the
    cell's 30 m land cover decides, as MOD17 masks by its own land-cover map."""
    codes = np.zeros(shape, np.int16)
    for lulc_class, code in ((BARREN, NPP_BARREN_FILL), (IMPERVIOUS, NPP_URBAN_FILL), (WATER, NPP_WATER_FILL)):
        share = to_modis(landscape, (landscape.lulc_base == lulc_class).astype(np.float32), transform, shape)
        codes[share > 0.5] = code     # later classes win: water over urban over barren
    return codes


def write_modis(landscape: Landscape, root: Path) -> list[dict]:
    """MOD17A3HGF (Terra) and MYD17A3HGF (Aqua)-like annual NPP and GPP (int16 DN x 0.0001
    kg C m-2 yr-1) from 2001 on, in one collection as on the Planetary Computer: ``platform``
    is empty, the id prefix (MOD / MYD) tells them apart, ``proj:wkt2`` and a null
    ``proj:epsg`` give the sinusoidal CRS. Water, urban and barren cells carry the MOD17
    class codes 32766, 32762 and 32765 (docs/synthetic.md)."""
    cfg = landscape.config
    transform, shape, (h, v) = modis_grid(landscape.grid)
    codes = _modis_codes(landscape, transform, shape)
    geometry, bbox = lonlat_footprint(landscape.grid)
    wkt2 = CRS.from_proj4(MODIS_SINU).to_wkt()
    items, noise_free = [], {}
    for year in cfg.year_list:
        if year < 2001:   # MOD17A3HGF v061 starts in 2001
            continue
        # what MOD17 sees: the true NPP plus its background reading over destroyed land
        seen = landscape.npp(year) + np.where(landscape.destroyed(year), landscape.modis_background(year), 0)
        npp_true = to_modis(landscape, seen, transform, shape)  # gC m-2 yr-1
        noise_free[year] = np.where(codes > 0, np.nan, npp_true).astype(np.float32)
        # Terra keeps its historical random stream; Aqua draws its own retrieval noise
        for prefix, stream, bias in (("MOD", 3, 1.0), ("MYD", 7, 1.01)):
            rng = np.random.default_rng([cfg.seed, stream, year])
            npp = npp_true * bias * (1 + rng.normal(0, 0.04, shape))           # retrieval noise
            dn = np.rint(npp / 1000.0 / NPP_SCALE)
            fill = np.isnan(dn) | (codes > 0)
            code = np.where(codes > 0, codes, NPP_FILL)
            dn = np.where(fill, code, np.clip(dn, -30000, 32700)).astype(np.int16)
            gpp = np.where(fill, code, np.clip(2 * dn.astype(np.int32), -30000, 32700)).astype(np.int16)
            qc = np.where(fill, 255, rng.integers(0, 20, shape)).astype(np.uint8)
            iid = f"{prefix}17A3HGF.A{year}001.h{h:02d}v{v:02d}.061"
            files = {key: write_cog(root / "modis" / f"{iid}.{key}.tif", arr, crs=MODIS_SINU, transform=transform)
                     for key, arr in (("Npp_500m", dn), ("Gpp_500m", gpp), ("Npp_QC_500m", qc))}
            meta = root / "modis" / f"{iid}.xml"
            meta.write_text(f"<GranuleMetaDataFile><GranuleUR>{iid}</GranuleUR><ShortName>{prefix}17A3HGF"
                            f"</ShortName><RangeBeginningDate>{year}-01-01</RangeBeginningDate>"
                            f"</GranuleMetaDataFile>\n")
            start, end = f"{year}-01-01T00:00:00Z", f"{year}-12-31T23:59:59Z"
            props = {"datetime": None, "start_datetime": start, "end_datetime": end, "platform": "",
                     "instruments": [], "created": f"{year + 1}-02-01T00:00:00Z",
                     "modis:horizontal-tile": h, "modis:vertical-tile": v,
                     "modis:tile-id": f"51{h:03d}{v:03d}", "proj:epsg": None, "proj:wkt2": wkt2,
                     "proj:shape": list(shape), "proj:transform": list(transform)[:6]}
            assets = {
                "Npp_500m": {"href": str(files["Npp_500m"].resolve()), "type": COG, "roles": ["data"],
                             "title": "Net Primary Productivity",
                             "raster:bands": [{"data_type": "int16", "scale": NPP_SCALE, "unit": "kg C m-2 yr-1",
                                               "spatial_resolution": 500}]},
                "Gpp_500m": {"href": str(files["Gpp_500m"].resolve()), "type": COG, "roles": ["data"],
                             "title": "Gross Primary Productivity",
                             "raster:bands": [{"data_type": "int16", "scale": NPP_SCALE, "unit": "kg C m-2 yr-1",
                                               "spatial_resolution": 500}]},
                "Npp_QC_500m": {"href": str(files["Npp_QC_500m"].resolve()), "type": COG, "roles": ["data"],
                                "title": "NPP quality control (percent)",
                                "raster:bands": [{"data_type": "uint8", "unit": "percent"}]},
                "metadata": {"href": str(meta.resolve()), "type": "application/xml", "roles": ["metadata"],
                             "title": "Federal Geographic Data Committee (FGDC) Metadata"},
            }
            items.append(item(iid, "modis-17A3HGF-061", geometry, bbox, props, assets))
    if noise_free:
        write_modis_noise_free(noise_free, transform, wkt2, root)
    modis_footprint.cache_clear()     # ~300 MB on a Shendong-sized base
    return items


def write_modis_noise_free(values: dict, transform: Affine, wkt2: str, root: Path) -> Path:
    """``truth/mod17_noise_free.zarr``: the Terra NPP of every year before its retrieval noise
    and DN rounding (NaN where a class code is written), on the items' sinusoidal cells -- so a
    score can tell the chain's own error from what MOD17's noise costs (docs/synthetic.md)."""
    years = sorted(values)
    shape = values[years[0]].shape
    da = xr.DataArray(np.stack([values[y] for y in years]), dims=("time", "y", "x"), coords={
        "time": pd.to_datetime([dt.datetime(y, 1, 1) for y in years]),
        "y": transform.f + (np.arange(shape[0]) + 0.5) * transform.e,
        "x": transform.c + (np.arange(shape[1]) + 0.5) * transform.a},
        attrs={"units": "g C m-2 yr-1", "long_name": "MOD17A3HGF-like (Terra) NPP without retrieval noise",
               "crs_wkt": wkt2, "transform": list(transform)[:6]})
    path = root / "truth" / "mod17_noise_free.zarr"
    path.parent.mkdir(parents=True, exist_ok=True)
    da.to_dataset(name="npp").to_zarr(path, mode="w", consolidated=True, zarr_format=2)
    return path


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


def _per_year(fn, years, shape, dtype="float32"):
    """A lazy (year, y, x) stack of ``fn(year)``: the truth is written a year at a time,
    so even the shendong preset never holds a whole variable in memory."""
    import dask
    import dask.array as da

    return da.stack([da.from_delayed(dask.delayed(fn)(y), shape, dtype) for y in years])


# The CASA truth is made a block of grid rows at a time, about 2 M pixels (a 12-month
# float32 block of each input is ~100 MB), so a Shendong-sized extent never holds a year.
CASA_BLOCK_PX = 1 << 21
CASA_TRUTH_WATER_STRESS = "zhou_zhang"    # the casa stage's default (study 001)


def _row_blocks(shape, block_px: int | None = None) -> list[slice]:
    ny, nx = shape
    block_px = CASA_BLOCK_PX if block_px is None else block_px   # read now: tests patch it
    step = max(1, min(ny, block_px // max(nx, 1)))
    return [slice(r, min(r + step, ny)) for r in range(0, ny, step)]


def casa_latitude(grid) -> float:
    """The latitude of the Thornthwaite day-length correction: the extent's middle, as the
    casa stage takes it."""
    return float(np.mean(grid.lonlat_bounds()[1::2]))


def true_casa_inputs(landscape: Landscape, year: int, rows: slice | None = None) -> xr.Dataset:
    """The true inputs of CASA in ``year`` (study 001): noise-free monthly NDVI
    (:meth:`Landscape.monthly_ndvi`), the noise-free climate the climate grid is sampled from
    (:func:`cubeeco.synth.climate.climate_fields`) at each 30 m pixel centre, and the true
    land cover (:meth:`Landscape.land_cover`, no label noise) as ``veg_type``; float32
    (month, y, x) and int16 (y, x), for grid ``rows`` (default all)."""
    from .climate import climate_fields

    grid = landscape.grid
    rows = slice(None) if rows is None else rows
    y = grid.y[rows]
    xx, yy = np.meshgrid(grid.x, y)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(xx, yy)
    times = pd.date_range(f"{int(year)}-01-01", periods=12, freq="MS")
    clim = climate_fields(landscape, times, lon, lat)
    dims = ("month", "y", "x")
    coords = {"month": np.arange(1, 13), "y": y, "x": grid.x}
    return xr.Dataset({
        "ndvi": (dims, landscape.monthly_ndvi(int(year), rows), {"units": "1", "long_name": "true monthly NDVI"}),
        "temperature": (dims, clim["tmean"].astype(np.float32), {"units": "degC"}),
        "precipitation": (dims, np.maximum(clim["prcp"], 0).astype(np.float32), {"units": "mm month-1"}),
        "solar": (dims, clim["srad"].astype(np.float32), {"units": "MJ m-2 month-1"}),
        "veg_type": (("y", "x"), landscape.land_cover(int(year))[rows].astype(np.int16), {"units": "1"}),
    }, coords=coords)


def true_casa_parameters(landscape: Landscape, years=None) -> xr.Dataset:
    """Per-type NDVI / SR bounds of the CASA truth: the casa stage's reduce phase
    (:func:`cubeeco.ops.casa.casa_parameters`, 5th / 95th percentiles over every pixel-month
    of the modelled years, default ε_max table and borrowed full-cover bounds) applied to
    the true monthly NDVI and land cover of ``years`` (default: the config's monthly years).
    Computed here (a small table); the NDVI is read a block of rows at a time."""
    import dask
    import dask.array as da

    from ..ops.casa import casa_parameters

    years = list(landscape.config.monthly_years if years is None else years)
    if not years:
        raise ValueError("true_casa_parameters needs years: the config has no monthly_years.")
    shape, nx = landscape.grid.shape, landscape.grid.shape[1]
    blocks = _row_blocks(shape)

    def ndvi_block(y, rows):
        return landscape.monthly_ndvi(y, rows)[None]

    def lc_block(y, rows):
        return landscape.land_cover(y)[rows].astype(np.int16)[None]

    ndvi = da.concatenate([da.concatenate([
        da.from_delayed(dask.delayed(ndvi_block)(y, r), (1, 12, r.stop - r.start, nx), np.float32)
        for r in blocks], axis=2) for y in years])
    lc = da.concatenate([da.concatenate([
        da.from_delayed(dask.delayed(lc_block)(y, r), (1, r.stop - r.start, nx), np.int16)
        for r in blocks], axis=1) for y in years])
    ndvi = xr.DataArray(ndvi, dims=("time", "month", "y", "x"))
    lc = xr.DataArray(lc, dims=("time", "y", "x"))
    return casa_parameters(ndvi, lc).compute()


def true_casa_npp(landscape: Landscape, year: int, params: xr.Dataset, rows: slice | None = None) -> np.ndarray:
    """CASA monthly NPP (12, rows, nx), g C m-2 month-1, float32, of ``year`` on the true inputs
    (:func:`true_casa_inputs`) with ``params`` (:func:`true_casa_parameters`), the casa
    stage's water stress (Zhou & Zhang) and day-length correction: the model itself, run by
    :func:`cubeeco.ops.casa.casa_npp`, so only its inputs are true."""
    from ..ops.casa import casa_npp

    inp = true_casa_inputs(landscape, year, rows)
    npp = casa_npp(inp["ndvi"], inp["temperature"], inp["precipitation"], inp["solar"], inp["veg_type"],
                   params=params, water_stress=CASA_TRUTH_WATER_STRESS, latitude=casa_latitude(landscape.grid))
    return np.asarray(npp.transpose("month", "y", "x").values, np.float32)


def _casa_truth(landscape: Landscape):
    """The lazy (month, y, x) CASA truth of the monthly years, a dask task per year and block
    of rows, and the parameters it uses."""
    import dask
    import dask.array as da

    params = true_casa_parameters(landscape)
    nx = landscape.grid.shape[1]

    def block(y, rows):
        return true_casa_npp(landscape, y, params, rows)

    monthly = da.concatenate([da.concatenate([
        da.from_delayed(dask.delayed(block)(y, r), (12, r.stop - r.start, nx), np.float32)
        for r in _row_blocks(landscape.grid.shape)], axis=1) for y in landscape.config.monthly_years])
    return monthly, params


def vcsd_per_mine(landscape: Landscape) -> pd.DataFrame:
    """Planted vegetation carbon sequestration deficit per mine (study 002 Eq. 5):
    VCSD = -sum over years and the mine's pixels, from each pixel's destruction year on, of
    (VCS - VCS undisturbed) x 900 m2, in Gg CO2; positive = carbon sink lost."""
    ids = np.asarray(landscape.mine_id, np.int64)
    n = int(ids.max()) + 1 if ids.size else 1
    area = landscape.grid.pixel_area_m2
    dy, ry = landscape.destruction_year, landscape.restoration_year
    deficit = np.zeros(n)
    for year in landscape.config.year_list:
        on = (dy > 0) & (dy <= year)
        # the stored float32 VCS, so the table is exactly what the truth store sums to
        diff = landscape.vcs(year).astype(np.float64) - landscape.vcs(year, undisturbed=True)
        deficit += np.bincount(ids[on], weights=diff[on], minlength=n)
    px = np.bincount(ids.ravel(), minlength=n)
    destroyed = np.bincount(ids[dy > 0], minlength=n)
    restored = np.bincount(ids[ry > 0], minlength=n)
    rows = [{"mine_id": m.mine_id, "name": m.name, "vcsd_gg_co2": -deficit[m.mine_id] * area / 1e9,
             "area_km2": px[m.mine_id] * area / 1e6, "destroyed_km2": destroyed[m.mine_id] * area / 1e6,
             "restored_km2": restored[m.mine_id] * area / 1e6, "open_year": m.open_year,
             "last_open_year": m.last_open_year, "restoration_year": m.restoration_year}
            for m in landscape.mines]
    cols = ["mine_id", "name", "vcsd_gg_co2", "area_km2", "destroyed_km2", "restored_km2", "open_year",
            "last_open_year", "restoration_year"]
    df = pd.DataFrame(rows, columns=cols).astype({"restoration_year": "Int64"})
    df.attrs["units"] = {"vcsd_gg_co2": "Gg CO2", "area_km2": "km2", "destroyed_km2": "km2",
                         "restored_km2": "km2", "open_year": "year", "last_open_year": "year",
                         "restoration_year": "year"}
    return df


def write_truth(landscape: Landscape, root: Path) -> Path:
    """The planted truth as a Zarr store, for scoring analyses, and the per-mine VCSD table
    ``truth/vcsd_per_mine.csv`` (units in ``vcsd_per_mine.json``)."""
    grid, cfg = landscape.grid, landscape.config
    years = cfg.year_list
    shape = grid.shape
    time = pd.to_datetime([dt.datetime(y, 1, 1) for y in years])
    dims = ("time", "y", "x")

    def lazy(fn):
        return _per_year(fn, years, shape)

    def npp(y):
        return landscape.npp(y)

    def npp_und(y):
        return landscape.npp(y, undisturbed=True)

    def vcs_und(y):
        return landscape.vcs(y, undisturbed=True)

    data = {
        "ndvi_true": (dims, lazy(landscape.ndvi), {"units": "1", "long_name": "true peak-season NDVI"}),
        "cover_true": (dims, lazy(landscape.cover), {"units": "1", "long_name": "true fractional vegetation cover"}),
        "npp_true": (dims, lazy(npp), {"units": "g C m-2 yr-1", "long_name": "true annual NPP"}),
        "npp_undisturbed_true": (dims, lazy(npp_und), {
            "units": "g C m-2 yr-1", "long_name": "true annual NPP had the pixel never been mined"}),
        "vcs_true": (dims, lazy(landscape.vcs), {
            "units": "g CO2 m-2 yr-1", "long_name": "true vegetation carbon sequestration (NPP x 2.2 x 1.63)"}),
        "vcs_undisturbed_true": (dims, lazy(vcs_und), {
            "units": "g CO2 m-2 yr-1", "long_name": "true VCS had the pixel never been mined"}),
        "ndvi_trend_true": (("y", "x"), landscape.ndvi_trend(), {"units": "yr-1", "long_name": "OLS slope of true NDVI"}),
        "destruction_year": (("y", "x"), landscape.destruction_year, {
            "units": "year", "long_name": "year the pixel's mine strip opened", "_FillValue_meaning": "0 = never destroyed"}),
        "restoration_year": (("y", "x"), landscape.restoration_year, {
            "units": "year", "long_name": "year the pixel's dump stage was restored",
            "_FillValue_meaning": "0 = never restored"}),
        "target": (("y", "x"), landscape.target(), {
            "units": "1", "long_name": "detectable disturbed pixel: true NDVI >= 0.25 the year before "
                                      "destruction, < 0.2 in it (1), otherwise 0"}),
        "mine_id": (("y", "x"), landscape.mine_id, {"units": "1", "long_name": "mine id, 0 outside mines"}),
        "zone": (("y", "x"), landscape.zone, {"units": "1", "long_name": "1 pit, 2 dump"}),
        "lulc_base": (("y", "x"), landscape.lulc_base, {"units": "1", "long_name": "CLCD-like class before mining"}),
    }
    coords = {"time": time, "y": grid.y, "x": grid.x}
    if cfg.monthly_years:
        import dask.array as da

        months = pd.to_datetime([dt.datetime(y, m, 1) for y in cfg.monthly_years for m in range(1, 13)])
        monthly = da.concatenate([_per_year(lambda _, y=y: landscape.npp_monthly(y), [0], (12, *shape))[0]
                                  for y in cfg.monthly_years])
        data["npp_monthly_true"] = (("month", "y", "x"), monthly, {
            "units": "g C m-2 month-1",
            "long_name": "true monthly NPP: the year's npp_true spread over months by phenology where "
                         "the month's mean air temperature is above 0 degC"})
        coords["month"] = months
        casa, params = _casa_truth(landscape)
        n_years = len(cfg.monthly_years)
        data["npp_casa_true"] = (("month", "y", "x"), casa, {
            "units": "g C m-2 month-1",
            "long_name": "CASA-like true monthly NPP: the CASA model (study 001) run on the true monthly NDVI, "
                         "noise-free climate and true land cover, bounds the 5th/95th percentiles of the true NDVI",
            "water_stress": CASA_TRUTH_WATER_STRESS})
        annual = da.stack([casa[12 * k:12 * (k + 1)].sum(axis=0) for k in range(n_years)])
        data["npp_casa_annual_true"] = (("time_casa", "y", "x"), annual, {
            "units": "g C m-2 yr-1", "long_name": "annual sum of npp_casa_true", "cell_methods": "month: sum"})
        coords["time_casa"] = pd.to_datetime([dt.datetime(y, 1, 1) for y in cfg.monthly_years])
    ds = xr.Dataset(data, coords=coords, attrs={"crs": grid.crs})
    path = root / "truth" / "truth.zarr"
    ds.to_zarr(path, mode="w", consolidated=True, zarr_format=2)
    table = vcsd_per_mine(landscape)
    table.to_csv(root / "truth" / "vcsd_per_mine.csv", index=False)
    if cfg.monthly_years:   # the bounds and ε_max the CASA truth used, per land-cover class
        params.to_dataframe().reset_index().to_csv(root / "truth" / "casa_parameters_true.csv", index=False)
    (root / "truth" / "vcsd_per_mine.json").write_text(json.dumps({
        "units": table.attrs["units"],
        "definition": "vcsd_gg_co2 = -sum_t sum_pixels (vcs_true - vcs_undisturbed_true) x 900 m2 / 1e9 "
                      "over the years from each pixel's destruction year on (study 002 Eq. 5)"}, indent=1))
    return path


def modis_item_assets() -> dict:
    return {"Npp_500m": {"type": COG, "roles": ["data"], "raster:bands": [{"data_type": "int16", "scale": NPP_SCALE}]}}


__all__ = ["EXT", "NPP_TO_VCS", "casa_latitude", "true_casa_inputs", "true_casa_npp", "true_casa_parameters",
           "vcsd_per_mine", "write_dem", "write_lulc", "write_mines", "write_modis", "write_truth"]
