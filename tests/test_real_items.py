"""Items shaped like the real Planetary Computer / Earth Search ones (shared DATA.md, "What
real items look like"), on small COGs written here: native pixel grids at 15 m mod 30 m,
every projection form, L2SR scenes, missing and unreadable assets, Terra + Aqua MODIS in
one collection, land-cover asset keys and antimeridian bboxes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pystac
import pytest
from affine import Affine
from pyproj import CRS
from rasterio.warp import transform_bounds

from cubeeco.io.cog import write_cog
from cubeeco.io.composite import annual_composite
from cubeeco.io.cube import grid_from_items, open_cube, open_land_cover, open_npp
from cubeeco.io.grid import Grid
from cubeeco.io.items import MissingDataWarning
from cubeeco.synth.stac import collection, write_catalog

COG = "image/tiff; application=geotiff; profile=cloud-optimized"
NY, NX = 20, 24
X0, Y0 = 518685.0, 4_300_015.0            # a real Collection 2 corner: 15 m mod 30 m
OLI = {"blue": "SR_B2", "green": "SR_B3", "red": "SR_B4", "nir08": "SR_B5", "swir16": "SR_B6",
       "swir22": "SR_B7"}
OPTICAL = tuple(OLI)
QA_CLEAR = (1 << 6) | (1 << 8) | (1 << 10) | (1 << 12) | (1 << 14)    # clear, low confidences
SR = (2.75e-05, -0.2)


def planted(key: str, shape=(NY, NX)) -> np.ndarray:
    """Every pixel its own DN, so a shifted read shows."""
    if key == "qa_pixel":
        return np.full(shape, QA_CLEAR, np.uint16)
    base = {"lwir11": 40000}.get(key, 8000 + 1000 * list(OLI).index(key) if key in OLI else 0)
    return (base + np.arange(shape[0] * shape[1]).reshape(shape)).astype(np.uint16)


def _wgs84_bbox(crs, transform, shape):
    h, w = shape
    return list(transform_bounds(crs, "EPSG:4326", transform.c, transform.f + transform.e * h,
                                 transform.c + transform.a * w, transform.f))


def landsat_item(root, iid, *, date="2015-07-15T03:20:00Z", correction="L2SP", form="epsg", omit=(),
                 x0=X0, y0=Y0, raster_bands=None) -> dict:
    """An OLI C2 L2 item: SR bands, lwir11 only if L2SP, qa_pixel, and assets a cube never reads."""
    t = Affine(30.0, 0.0, x0, 0.0, -30.0, y0)
    keys = [*OLI, *(["lwir11"] if correction == "L2SP" else []), "qa_pixel"]
    assets = {}
    for k in keys:
        if k in omit:
            continue
        path = write_cog(root / iid / f"{iid}_{k}.TIF", planted(k), crs="EPSG:32649", transform=t,
                         nodata=1 if k == "qa_pixel" else 0)
        rb = {"data_type": "uint16", "nodata": 1 if k == "qa_pixel" else 0}
        if k in OLI:
            rb.update(scale=SR[0], offset=SR[1])
        elif k == "lwir11":
            rb.update(scale=0.00341802, offset=149.0)
        if raster_bands is not None and k in raster_bands:
            rb = raster_bands[k]
        assets[k] = {"href": str(path), "type": COG, "roles": ["data"], "raster:bands": [rb]}
        if k in OLI:
            assets[k]["eo:bands"] = [{"name": f"OLI_{OLI[k][3:]}", "common_name": k}]
    mtl = root / iid / f"{iid}_MTL.json"
    mtl.write_text("{}")
    assets["mtl.json"] = {"href": str(mtl), "type": "application/json", "roles": ["metadata"]}
    assets["qa_radsat"] = {"href": str(root / iid / "never-read.TIF"), "type": COG, "roles": ["saturation"]}
    crs_fields = {"epsg": {"proj:epsg": 32649}, "code": {"proj:code": "EPSG:32649"},
                  "wkt2": {"proj:wkt2": CRS.from_epsg(32649).to_wkt()},
                  "projjson": {"proj:projjson": CRS.from_epsg(32649).to_json_dict()},
                  "asset": {}}[form]
    geo = {"proj:shape": [NY, NX], "proj:transform": [30.0, 0.0, x0, 0.0, -30.0, y0]}
    props = {"datetime": date, "platform": "landsat-8", "instruments": ["oli", "tirs"],
             "landsat:correction": correction, "eo:cloud_cover": 0.0, "gsd": 30,
             **({} if form == "asset" else {**crs_fields, **geo})}
    if form == "asset":       # projection on the assets, none on the item
        for k in keys:
            if k in assets:
                assets[k].update({"proj:code": "EPSG:32649", **geo})
    return {"type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": "landsat-c2-l2",
            "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json"],
            "geometry": None, "bbox": _wgs84_bbox("EPSG:32649", t, (NY, NX)), "properties": props,
            "assets": assets, "links": []}


def native_grid(x0=X0, y0=Y0) -> Grid:
    return Grid(32649, 30.0, (x0, y0 - 30 * NY, x0 + 30 * NX, y0))


def reflectance_of(key):
    return planted(key).astype(np.float32) * np.float32(SR[0]) + np.float32(SR[1])


# -- pixel grid --------------------------------------------------------------------------
def test_default_grid_is_the_native_pixel_grid(tmp_path):
    items = [landsat_item(tmp_path, "LC08_L2SP_A")]
    grid = grid_from_items(items)
    assert grid == native_grid()            # corners at 15 m mod 30 m, not snapped to 30 m
    cube = open_cube(items).compute()
    assert cube.sizes["y"] == NY and cube.sizes["x"] == NX      # no extra row or column
    # a cube pixel's coordinates are the native pixel centre, and it holds that pixel's value
    assert cube.x.values[0] == X0 + 15 and cube.y.values[0] == Y0 - 15
    np.testing.assert_array_equal(cube.red.values[0], reflectance_of("red"))
    assert not np.isnan(cube.red.values).any()


def test_explicit_grid_stays_the_users_choice(tmp_path):
    items = [landsat_item(tmp_path, "LC08_L2SP_A")]
    snapped = Grid(32649, 30.0, (X0 - 15, Y0 - 15 - 30 * (NY + 1), X0 - 15 + 30 * (NX + 1), Y0 - 15))
    cube = open_cube(items, grid=snapped)
    assert cube.sizes["x"] == NX + 1 and float(cube.x[0]) == X0
    # a coarser default grid keeps the native anchor too
    assert grid_from_items(items, resolution=60.0).bounds[0] % 60 == X0 % 60


def test_synthetic_scenes_sit_at_the_real_offset(tiny_base, tiny_config):
    import cubeeco

    assert all(v % 30 == 15 for v in tiny_config.origin)
    items = cubeeco.search("landsat-c2-l2", source=tiny_base.root)
    assert grid_from_items(items) == tiny_config.grid


# -- projection forms ---------------------------------------------------------------------
@pytest.mark.parametrize("form", ["epsg", "code", "wkt2", "projjson", "asset", "pystac"])
def test_every_projection_form_gives_the_native_grid(tmp_path, form):
    items = [landsat_item(tmp_path, "LC08_L2SP_A", form="epsg" if form == "pystac" else form)]
    if form == "pystac":       # pystac >= 1.12 rewrites proj:epsg as proj:code
        items = pystac.ItemCollection(items)
        assert "proj:code" in items[0].properties and "proj:epsg" not in items[0].properties
    assert grid_from_items(items) == native_grid()
    # off-grid by a pixel: stackstac must place the scene from the native transform, not the bbox
    grid = Grid(32649, 30.0, (X0 + 30, Y0 - 30 * NY, X0 + 30 * NX, Y0 - 30))
    red = open_cube(items, grid=grid).red.values[0]
    np.testing.assert_array_equal(red, reflectance_of("red")[1:, 1:])


def test_a_crs_without_epsg_asks_for_a_grid(tmp_path):
    d = landsat_item(tmp_path, "LC08_L2SP_A", form="wkt2")
    d["properties"]["proj:wkt2"] = CRS.from_proj4("+proj=sinu +R=6371007.181 +units=m").to_wkt()
    with pytest.raises(ValueError, match="without an EPSG code.*pass grid="):
        grid_from_items([d])


# -- band metadata ------------------------------------------------------------------------
def test_scale_offset_nodata_come_from_raster_bands(tmp_path):
    rb = {"red": {"data_type": "uint16", "nodata": 10005, "scale": 1e-4, "offset": 0.0}}
    d = landsat_item(tmp_path, "LC08_L2SP_A", raster_bands=rb)
    plain = landsat_item(tmp_path, "LC08_L2SP_B", date="2015-08-15T03:20:00Z")
    for a in plain["assets"].values():
        a.pop("raster:bands", None)                  # falls back to the Collection 2 constants
    cube = open_cube([d, plain], grid=native_grid()).compute()
    want = planted("red").astype(np.float32) * np.float32(1e-4)
    want[planted("red") == 10005] = np.nan
    np.testing.assert_array_equal(cube.red.values[0], want)
    np.testing.assert_array_equal(cube.red.values[1], reflectance_of("red"))
    assert np.isnan(cube.red.values[0]).sum() == 1


# -- L2SR and missing assets --------------------------------------------------------------
def test_l2sr_scenes_alone_give_nan_lwir_with_a_warning(tmp_path):
    items = [landsat_item(tmp_path, f"LC08_L2SR_{k}", correction="L2SR", date=f"2015-0{6 + k}-15T03:20:00Z")
             for k in range(2)]
    with pytest.warns(MissingDataWarning, match="lwir"):
        cube = open_cube(items)
    assert np.isnan(cube.lwir.values).all() and not np.isnan(cube.red.values).all()
    assert json.loads(cube.attrs["provenance:missing_assets"])["lwir"]["scenes"] == 2
    with pytest.raises(ValueError, match=r"\['lwir'\].*landsat-c2-l2"):
        open_cube(items, bands=("red", "lwir"))


def test_l2sr_mixed_with_l2sp(tmp_path):
    items = [landsat_item(tmp_path, "LC08_L2SP_A", date="2015-07-01T03:20:00Z"),
             landsat_item(tmp_path, "LC08_L2SR_B", correction="L2SR", date="2015-07-17T03:20:00Z")]
    with pytest.warns(MissingDataWarning, match="1 of 2 scene"):
        cube = open_cube(items).compute()
    kelvin = planted("lwir11").astype(np.float32) * np.float32(0.00341802) + np.float32(149.0)
    np.testing.assert_array_equal(cube.lwir.values[0], kelvin)
    assert np.isnan(cube.lwir.values[1]).all()
    missing = json.loads(cube.attrs["provenance:missing_assets"])
    assert missing["lwir"] == {"scenes": 1, "of": 2, "items": ["LC08_L2SR_B"]}
    annual = annual_composite(cube)
    assert int(annual.clear_count.max()) == 2 and "provenance:missing_assets" in annual.attrs


def test_default_annual_cube_over_an_l2sr_only_area(tmp_path):
    from cubeeco.workflows.annual import build_annual_cube

    items = [landsat_item(tmp_path, f"LC08_L2SR_{k}", correction="L2SR", date=f"2015-0{6 + k}-15T03:20:00Z")
             for k in range(3)]
    coll = collection("landsat-c2-l2", "t", "d", [-180, -90, 180, 90], ["2015-01-01T00:00:00Z", None])
    write_catalog(tmp_path / "stac", [coll], {"landsat-c2-l2": items})
    with pytest.warns(MissingDataWarning, match="lwir"):
        annual, used = build_annual_cube(source=tmp_path / "stac")
    assert len(used) == 3 and np.isnan(annual.lwir.values).all()
    np.testing.assert_array_equal(annual.red.values[0], reflectance_of("red"))


def test_scene_missing_an_optical_asset_is_skipped_and_not_counted(tmp_path):
    items = [landsat_item(tmp_path, "LC08_L2SP_A", date="2015-07-01T03:20:00Z"),
             landsat_item(tmp_path, "LC08_L2SP_B", date="2015-07-17T03:20:00Z", omit=("red",))]
    with pytest.warns(MissingDataWarning, match="LC08_L2SP_B.*skipped.*red"):
        cube = open_cube(items)
    assert list(cube.id.values) == ["LC08_L2SP_A"]
    skipped = json.loads(cube.attrs["provenance:skipped_scenes"])
    assert skipped == [{"id": "LC08_L2SP_B", "reason": "missing asset", "assets": ["red"]}]
    annual = annual_composite(cube).compute()
    assert int(annual.clear_count.max()) == 1
    assert json.loads(annual.attrs["provenance:skipped_scenes"])[0]["id"] == "LC08_L2SP_B"


def test_a_band_no_scene_has_is_an_error(tmp_path):
    items = [landsat_item(tmp_path, "LC08_L2SP_A", omit=("swir22",))]
    with pytest.raises(ValueError, match=r"\['swir22'\].*landsat-c2-l2"):
        open_cube(items)


# -- unreadable assets --------------------------------------------------------------------
def _two_scenes(tmp_path):
    return [landsat_item(tmp_path, "LC08_L2SP_A", date="2015-07-01T03:20:00Z"),
            landsat_item(tmp_path, "LC08_L2SP_B", date="2015-07-17T03:20:00Z")]


def test_deleted_cog_raises_naming_the_href(tmp_path):
    items = _two_scenes(tmp_path)
    href = items[1]["assets"]["nir08"]["href"]
    (tmp_path / href).unlink()
    cube = open_cube(items)                  # nothing read yet
    with pytest.raises(RuntimeError, match=href.replace(".", r"\.")):
        annual_composite(cube).compute()


def test_deleted_or_truncated_cog_is_skipped_when_asked(tmp_path):
    items = _two_scenes(tmp_path) + [landsat_item(tmp_path, "LC08_L2SP_C", date="2015-08-01T03:20:00Z")]
    deleted = items[1]["assets"]["nir08"]["href"]
    (tmp_path / deleted).unlink()
    truncated = tmp_path / items[2]["assets"]["qa_pixel"]["href"]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size * 2 // 3])
    with pytest.raises(ValueError, match="unreadable must be"):
        open_cube(items, unreadable="ignore")
    with pytest.warns(MissingDataWarning, match="LC08_L2SP_B skipped: unreadable"):
        cube = open_cube(items, unreadable="skip")
    assert list(cube.id.values) == ["LC08_L2SP_A"]
    skipped = {s["id"]: s for s in json.loads(cube.attrs["provenance:skipped_scenes"])}
    assert skipped["LC08_L2SP_B"]["hrefs"] == [deleted] and skipped["LC08_L2SP_B"]["reason"] == "unreadable"
    assert skipped["LC08_L2SP_C"]["assets"] == ["qa_pixel"]
    assert int(annual_composite(cube).clear_count.max()) == 1


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server over tmp_path (a 404 for a missing file, as a blob store gives).

    In its own process: GDAL holds the GIL while it opens a URL, so a server thread in
    this process could never answer.
    """
    proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                             "--directory", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        port = re.search(r"port (\d+)", proc.stdout.readline()).group(1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_http_404_is_never_silent_nodata(tmp_path, http_root):
    # stackstac's default errors_as_nodata turns "HTTP response code: 404" into fill
    items = _two_scenes(tmp_path)
    for d in items:
        for a in d["assets"].values():
            a["href"] = a["href"].replace(str(tmp_path), http_root)
    href = items[1]["assets"]["red"]["href"]
    (tmp_path / href.replace(http_root + "/", "")).unlink()
    with pytest.raises(RuntimeError, match="LC08_L2SP_B_red"):
        open_cube(items, grid=native_grid()).red.compute()
    with pytest.warns(MissingDataWarning, match="unreadable"):
        cube = open_cube(items, grid=native_grid(), unreadable="skip")
    np.testing.assert_array_equal(cube.red.values[0], reflectance_of("red"))


# -- MODIS: Terra and Aqua in one collection, tiles mosaicked -----------------------------
SINU = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
MODIS_PX = 463.312716527917


def _modis_items(tmp_path, grid):
    """Two adjacent sinusoidal 'tiles' covering ``grid``, Terra and Aqua, one year."""
    from cubeeco.synth.products import modis_grid

    t, (h, w), _ = modis_grid(grid)
    half = w // 2
    wkt2 = CRS.from_proj4(SINU).to_wkt()
    items = []
    for prefix, values in (("MOD", (1000, 2000)), ("MYD", (3000, 4000))):
        for k, (col0, width, tile) in enumerate(((0, half, "h26v05"), (half, w - half, "h27v05"))):
            tt = t @ Affine.translation(col0, 0)
            dn = np.full((h, width), values[k], np.int16)
            dn[0, 0] = 32765                          # a barren class code
            iid = f"{prefix}17A3HGF.A2010001.{tile}.061.2021"
            path = write_cog(tmp_path / f"{iid}.tif", dn, crs=SINU, transform=tt)
            items.append({
                "type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": "modis-17A3HGF-061",
                "stac_extensions": [], "geometry": None,
                "bbox": [-180.0, 30.0, 180.14, 40.0] if k else [100.0, 30.0, 120.0, 40.0],  # antimeridian
                "properties": {"datetime": None, "start_datetime": "2010-01-01T00:00:00Z",
                               "end_datetime": "2010-12-31T23:59:59Z", "platform": "", "instruments": [],
                               "proj:epsg": None, "proj:wkt2": wkt2, "proj:shape": [h, width],
                               "proj:transform": list(tt)[:6]},
                "assets": {"Npp_500m": {"href": str(path), "type": COG, "roles": ["data"],
                                        "raster:bands": [{"data_type": "int16", "scale": 0.0001}]},
                           "hdf": {"href": str(tmp_path / f"{iid}.hdf"), "type": "application/x-hdf"}},
                "links": []})
    return items, half


def test_terra_and_aqua_give_one_value_per_year(tmp_path):
    grid = Grid(32649, 30.0, (399975.0, 4348815.0, 402975.0, 4350015.0))
    items, _ = _modis_items(tmp_path, grid)
    terra = open_npp(items, grid=grid).compute()
    assert terra.sizes["time"] == 1 and terra.time.dt.year.values.tolist() == [2010]
    assert set(np.unique(terra.values[np.isfinite(terra.values)])) == {np.float32(100.0), np.float32(200.0)}
    assert np.isfinite(terra.values).mean() > 0.9          # both tiles used: a mosaic
    aqua = open_npp(items, grid=grid, product="aqua").compute()
    assert set(np.unique(aqua.values[np.isfinite(aqua.values)])) == {np.float32(300.0), np.float32(400.0)}
    with pytest.raises(ValueError, match="product"):
        open_npp(items, grid=grid, product="both")
    with pytest.raises(ValueError, match="no aqua items"):
        open_npp([d for d in items if d["id"].startswith("MOD")], grid=grid, product="aqua")


def test_a_grid_outside_every_tile_is_named(tmp_path):
    grid = Grid(32649, 30.0, (399975.0, 4348815.0, 402975.0, 4350015.0))
    items, _ = _modis_items(tmp_path, grid)
    far = Grid(32649, 30.0, (599985.0, 4048815.0, 602985.0, 4050015.0))
    with pytest.raises(ValueError, match=r"599985.*outside every MODIS tile.*h26v05.*h27v05"):
        open_npp(items, grid=far)


# -- land cover: asset keys, datetime null, antimeridian, projection on the asset ---------
def _land_cover(tmp_path, grid, kind):
    classes = (np.arange(grid.shape[0] * grid.shape[1]).reshape(grid.shape) % 9 + 1).astype(np.uint8)
    if kind == "io-lulc":       # asset data, datetime null + start/end, bbox -180..180, no data_type
        path = write_cog(tmp_path / "lulc_2020.tif", classes, crs=grid.crs, transform=grid.transform, nodata=0)
        return classes, {
            "type": "Feature", "stac_version": "1.0.0", "id": "49S-2020", "collection": "io-lulc-annual-v02",
            "stac_extensions": [], "geometry": None, "bbox": [-180.0, 32.0, 180.0, 40.0],
            "properties": {"datetime": None, "start_datetime": "2020-01-01T00:00:00Z",
                           "end_datetime": "2021-01-01T00:00:00Z", "proj:code": "EPSG:32649",
                           "proj:shape": list(grid.shape), "proj:transform": list(grid.transform)[:6]},
            "assets": {"data": {"href": str(path), "type": COG, "roles": ["data"],
                                "file:values": [{"values": [1], "summary": "Water"}]}},
            "links": []}
    # esa-worldcover: asset map in EPSG:4326 (here OGC:CRS84), projection on the asset
    lon0, lat0, lon1, lat1 = grid.lonlat_bounds()
    res = 1 / 3600 / 4
    w, h = int(np.ceil((lon1 - lon0) / res)) + 8, int(np.ceil((lat1 - lat0) / res)) + 8
    t = Affine(res, 0, lon0 - 4 * res, 0, -res, lat1 + 4 * res)
    data = (np.arange(h * w).reshape(h, w) % 7 * 10 + 10).astype(np.uint8)
    path = write_cog(tmp_path / "ESA_WorldCover_10m_2021_v200_N39E111_Map.tif", data, crs="EPSG:4326",
                     transform=t, nodata=0)
    return data, {
        "type": "Feature", "stac_version": "1.0.0", "id": "ESA_WorldCover_10m_2021_v200_N39E111",
        "collection": "esa-worldcover", "stac_extensions": [], "geometry": None,
        "bbox": [lon0 - 1, lat0 - 1, lon1 + 1, lat1 + 1],
        "properties": {"datetime": None, "start_datetime": "2021-01-01T00:00:00Z",
                       "end_datetime": "2021-12-31T23:59:59Z"},
        "assets": {"map": {"href": str(path), "type": COG, "roles": ["data"], "proj:code": "OGC:CRS84",
                           "proj:shape": [h, w], "proj:transform": list(t)[:6],
                           "raster:bands": [{"data_type": "uint8", "nodata": 0}]}},
        "links": []}


def test_io_lulc_data_asset_with_an_antimeridian_bbox(tmp_path):
    grid = native_grid(399975.0, 4350015.0)
    classes, d = _land_cover(tmp_path, grid, "io-lulc")
    lc = open_land_cover([d], grid=grid)
    assert lc.dtype == np.uint8 and lc.time.dt.year.values.tolist() == [2020]
    np.testing.assert_array_equal(lc.values[0], classes)


def test_a_catalog_with_antimeridian_bboxes(tmp_path):
    """Searched (pystac migrates the items) and loaded: the -180..180 tile is neither dropped by
    the bbox search nor by the loader."""
    import cubeeco

    grid = native_grid(399975.0, 4350015.0)
    classes, d = _land_cover(tmp_path, grid, "io-lulc")
    d["properties"]["proj:epsg"] = int(d["properties"].pop("proj:code").split(":")[1])
    d["stac_extensions"] = ["https://stac-extensions.github.io/projection/v1.1.0/schema.json"]
    d["geometry"] = {"type": "Polygon", "coordinates": [[[-180, 32], [180, 32], [180, 40], [-180, 40], [-180, 32]]]}
    coll = collection("io-lulc-annual-v02", "t", "d", [-180, -90, 180, 90], ["2017-01-01T00:00:00Z", None])
    write_catalog(tmp_path / "stac", [coll], {"io-lulc-annual-v02": [d]})
    found = cubeeco.search("io-lulc-annual-v02", source=tmp_path / "stac", bbox=list(grid.lonlat_bounds()),
                           datetime="2020")
    assert [it.id for it in found] == ["49S-2020"] and "proj:code" in found[0].properties
    np.testing.assert_array_equal(open_land_cover(found, grid=grid).values[0], classes)


def test_esa_worldcover_map_asset_in_lonlat(tmp_path):
    grid = native_grid(399975.0, 4350015.0)
    _, d = _land_cover(tmp_path, grid, "esa-worldcover")
    with pytest.raises(ValueError, match=r"asset 'data'.*esa-worldcover.*\['map'\]"):
        open_land_cover([d], grid=grid)
    lc = open_land_cover([d], grid=grid, asset="map").compute()
    assert lc.dtype == np.uint8 and lc.attrs["asset"] == "map"
    assert set(np.unique(lc.values)) <= set(range(10, 80, 10)) and (lc.values > 0).all()
    as_epsg = json.loads(json.dumps(d).replace('"OGC:CRS84"', '"EPSG:4326"'))
    np.testing.assert_array_equal(open_land_cover([as_epsg], grid=grid, asset="map").values, lc.values)


def test_land_cover_stage_takes_collection_and_asset():
    from cubeeco.pipeline.stages import STAGES

    assert STAGES["land_cover"].params == {"collection": "synthetic-clcd", "asset": "data"}
    assert STAGES["modis_npp"].params["product"] == "terra"
    assert STAGES["annual"].params["unreadable"] == "raise"


# -- the synthetic catalog carries the real shapes ----------------------------------------
def test_synthetic_items_have_the_real_shapes(tiny_base):
    from cubeeco.io.search import read_catalog

    items = read_catalog(tiny_base.catalog)[1]
    landsat = items["landsat-c2-l2"]
    kinds = {d["properties"]["landsat:correction"] for d in landsat}
    assert kinds == {"L2SP", "L2SR"}
    for d in landsat:
        a = d["assets"]
        assert {"qa_radsat", "mtl.json", "mtl.txt", "mtl.xml", "thumbnail"} <= set(a)
        thermal = "lwir11" if d["id"].startswith("LC08") else "lwir"
        assert (thermal in a) == (d["properties"]["landsat:correction"] == "L2SP") == ("trad" in a)
        assert a["red"]["eo:bands"][0]["common_name"] == "red"
        if thermal in a:
            assert a[thermal]["eo:bands"][0]["common_name"] == thermal
        assert [f["offset"] for f in a["qa_pixel"]["classification:bitfields"]][:4] == [0, 1, 2, 3]
        assert {"created", "gsd", "sci:doi", "view:sun_azimuth", "landsat:scene_id"} <= set(d["properties"])
        assert {"collection", "root", "parent", "self"} <= {link["rel"] for link in d["links"]}
    modis = items["modis-17A3HGF-061"]
    assert {d["id"][:3] for d in modis} == {"MOD", "MYD"}
    for d in modis:
        p = d["properties"]
        assert p["platform"] == "" and p["instruments"] == [] and p["proj:epsg"] is None
        assert CRS.from_wkt(p["proj:wkt2"]).to_epsg() is None
        assert {"Npp_500m", "Gpp_500m", "Npp_QC_500m", "metadata"} <= set(d["assets"])


def test_synthetic_modis_emits_barren_and_urban_codes(tmp_path):
    import rasterio

    from cubeeco.synth import Landscape, SynthConfig, synthesize
    from cubeeco.synth.landscape import BARREN, IMPERVIOUS
    from cubeeco.synth.products import modis_grid, to_modis

    # seed 11: a town covering most of one 500 m cell (cells are area means over their footprint)
    cfg = SynthConfig(width_px=200, height_px=200, years=(2012, 2013), n_mines=1, n_stations=1,
                      scenes_per_season=1, cloudy_scenes_per_year=0, seed=11)
    base = synthesize(cfg, tmp_path / "base", progress=False)
    land = Landscape(cfg)
    t, shape, _ = modis_grid(land.grid)
    terra = next((base.root / "modis").glob("MOD17A3HGF.A2012*.Npp_500m.tif"))
    with rasterio.open(terra) as src:
        dn = src.read(1)
    for lulc_class, code in ((BARREN, 32765), (IMPERVIOUS, 32762)):
        share = to_modis(land, (land.lulc_base == lulc_class).astype(np.float32), t, shape)
        assert (share > 0.5).any()
        np.testing.assert_array_equal(dn == code, share > 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        import cubeeco

        npp = open_npp(cubeeco.search("modis-17A3HGF-061", source=base.root), grid=cfg.grid).compute()
    assert npp.sizes["time"] == 2 and np.isnan(npp.values).any()


def test_deleted_synthetic_asset_fails_the_annual_cube(tmp_path):
    """The README path: a base whose COG went missing never yields a complete cube."""
    from cubeeco.synth import SynthConfig, synthesize
    from cubeeco.workflows.annual import build_annual_cube

    cfg = SynthConfig(width_px=40, height_px=36, years=(2013, 2014), n_mines=1, n_stations=1, modis=False)
    base = synthesize(cfg, tmp_path / "base", progress=False)
    red = sorted((base.root / "landsat").glob("*/*_SR_B4.TIF"))[0]
    shutil.move(red, tmp_path / "away.tif")
    annual, _ = build_annual_cube(source=base.root)
    with pytest.raises(RuntimeError, match="SR_B4"):
        annual.compute()
    with pytest.warns(MissingDataWarning, match="unreadable"):
        annual, _ = build_annual_cube(source=base.root, unreadable="skip")
    assert json.loads(annual.attrs["provenance:skipped_scenes"])[0]["hrefs"] == [str(red)]


# -- review of issue 9: 3-D bboxes, max_ndvi over mixed corrections, land-cover nodata, no grid --
def test_a_3d_bbox_is_read_as_2d():
    from cubeeco.io.items import footprint

    d = {"id": "x", "bbox": [110.0, 39.0, -10.0, 111.0, 40.0, 2000.0], "properties": {}, "assets": {"a": {}}}
    assert footprint(d, "a").bounds == (110.0, 39.0, 111.0, 40.0)
    d["properties"] = {"proj:code": "EPSG:32649", "proj:bbox": [399975.0, 4349415.0, 0.0, 400695.0, 4350015.0, 9.0]}
    assert footprint(d, "a").bounds == (399975.0, 4349415.0, 400695.0, 4350015.0)


def test_max_ndvi_takes_lwir_from_the_best_observation_that_has_one():
    """An L2SR scene (no thermal band) with the year's best NDVI must not blank LST."""
    import pandas as pd
    import xarray as xr

    ones = np.ones((1, 2, 2), np.float32)
    red = np.array([0.05, 0.03, 0.04], np.float32)[:, None, None] * ones     # NDVI .71, .86 (L2SR), .67
    nir = np.array([0.30, 0.40, 0.20], np.float32)[:, None, None] * ones
    lwir = np.array([300.0, np.nan, 290.0], np.float32)[:, None, None] * ones
    lwir[:, 1, 1] = np.nan                                                   # no thermal at all here
    dims = ("time", "y", "x")
    cube = xr.Dataset({"red": (dims, red), "nir08": (dims, nir), "lwir": (dims, lwir),
                       "clear": (dims, np.ones(red.shape, bool))},
                      coords={"time": pd.to_datetime(["2015-07-01", "2015-07-17", "2015-08-02"]),
                              "y": [1.5, 0.5], "x": [0.5, 1.5]}).chunk({"y": 1})
    annual = annual_composite(cube, method="max_ndvi").compute()
    np.testing.assert_array_equal(annual.red.values[0], np.float32(0.03))    # optical: the best NDVI
    want = np.full((2, 2), 300.0, np.float32)
    want[1, 1] = np.nan
    np.testing.assert_array_equal(annual.lwir.values[0], want)               # not NaN: scene 1 has one


def test_land_cover_tiles_with_different_nodata(tmp_path):
    """One tile declares nodata 0, another 255 (files without a nodata tag): neither becomes a class."""
    grid = native_grid(399975.0, 4350015.0)
    classes = (np.arange(grid.shape[0] * grid.shape[1]).reshape(grid.shape) % 9 + 1).astype(np.uint8)
    a, b = classes.copy(), (10 - classes).astype(np.uint8)
    a[:, :12] = 0                          # tile A: nodata 0 over the left half
    b[:, 12:] = 255                        # tile B: nodata 255 over the right half and the top rows
    b[:5] = 255
    items = []
    for iid, data, nodata, when in (("A-2020", a, 0, "2020-01-01"), ("B-2020", b, 255, "2020-06-01")):
        path = write_cog(tmp_path / f"{iid}.tif", data, crs=grid.crs, transform=grid.transform)
        items.append({
            "type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": "io-lulc-annual-v02",
            "stac_extensions": [], "geometry": None, "bbox": list(grid.lonlat_bounds()),
            "properties": {"datetime": f"{when}T00:00:00Z", "proj:code": "EPSG:32649",
                           "proj:shape": list(grid.shape), "proj:transform": list(grid.transform)[:6]},
            "assets": {"data": {"href": str(path), "type": COG, "roles": ["data"],
                                "raster:bands": [{"data_type": "uint8", "nodata": nodata}]}},
            "links": []})
    for order in (items, items[::-1]):
        lc = open_land_cover(order, grid=grid).compute()
        assert lc.sizes["time"] == 1 and lc.attrs["nodata"] == 0
        got = lc.values[0]
        np.testing.assert_array_equal(got[:, 12:], a[:, 12:])
        np.testing.assert_array_equal(got[5:, :12], b[5:, :12])
        assert (got[:5, :12] == 0).all() and 255 not in got


def test_annual_cube_without_a_grid_needs_a_bbox_for_a_stac_api(tmp_path):
    from cubeeco.workflows.annual import build_annual_cube

    for source in ("http://127.0.0.1:9/stac?token=s3cr3t", "planetary-computer"):
        with pytest.raises(ValueError, match="no analysis grid.*every landsat-c2-l2 scene.*grid=.*bbox") as err:
            build_annual_cube(source=source)
        assert "s3cr3t" not in str(err.value)
    # a bbox bounds the search; a local catalog may still be searched whole
    items = [landsat_item(tmp_path, "LC08_L2SP_A")]
    w, s, e, n = items[0]["bbox"]
    items[0]["geometry"] = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    coll = collection("landsat-c2-l2", "t", "d", [-180, -90, 180, 90], ["2015-01-01T00:00:00Z", None])
    write_catalog(tmp_path / "stac", [coll], {"landsat-c2-l2": items})
    far = [10.0, 10.0, 11.0, 11.0]
    with pytest.raises(ValueError, match="no STAC items"):
        build_annual_cube(source=tmp_path / "stac", bbox=far)
    annual, used = build_annual_cube(source=tmp_path / "stac", bbox=items[0]["bbox"])
    assert [d.id for d in used] == ["LC08_L2SP_A"]
    np.testing.assert_array_equal(annual.red.values[0], reflectance_of("red"))
