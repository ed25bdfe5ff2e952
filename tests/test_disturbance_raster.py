"""A user's disturbance rasters (issue 12): the raster's own nodata is none, values that are not
years are refused, GeoTIFFs are read onto the grid by nearest neighbour (cubeeco.io.rasters), and
the disturbance stage takes them from a run configuration."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from affine import Affine

from cubeeco.io.grid import Grid
from cubeeco.io.rasters import check_raster, open_raster
from cubeeco.ops.disturbance import disturbance_from_raster
from cubeeco.testing.laziness import raise_if_dask_computes

YEARS = np.arange(2010, 2021)
GRID = Grid(32649, 30.0, (399990.0, 4348800.0, 400590.0, 4349400.0))   # 20 x 20 px


def _tif(path, array, *, crs="EPSG:32649", transform, nodata=None, offset=None):
    profile = dict(driver="GTiff", width=array.shape[1], height=array.shape[0], count=1, dtype=array.dtype.name,
                   crs=crs, transform=transform, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
        if offset is not None:
            dst.offsets = (offset,)
    return path


# ---------------------------------------------------------------- nodata and plausibility
def _td(values, dtype=np.int16):
    return xr.DataArray(np.array(values, dtype=dtype), dims=("y", "x"))


@pytest.mark.parametrize("how", ["rio", "_FillValue", "nodata", "encoding"])
def test_the_rasters_own_nodata_is_none(how):
    td = _td([[2015, 0], [0, 2012]])
    if how == "rio":
        td = td.rio.write_nodata(0)
    elif how == "encoding":
        td.encoding["_FillValue"] = 0
    else:
        td.attrs[how] = 0
    ds = disturbance_from_raster(td, None, YEARS)
    assert ds.destruction_year.values.tolist() == [[2015, -1], [-1, 2012]]
    assert ds.n_destructions.values.tolist() == [[1, 0], [0, 1]]
    assert (ds.state.values[:, 0, 1] == 1).all()
    # -9999 of a float raster, and the fill_value of the output wherever none
    tf = _td([[2015.0, -9999.0], [np.nan, 2012.0]], np.float32).assign_attrs(nodata=-9999.0)
    out = disturbance_from_raster(tf, tf, YEARS, fill_value=-32768)
    assert out.destruction_year.values.tolist() == [[2015, -32768], [-32768, 2012]]
    assert out.restoration_year.values.tolist() == [[-32768] * 2] * 2   # not after T_D: dropped


def test_a_uint8_nodata_is_compared_in_its_own_dtype():
    # 255 of a uint8 (a year-offset raster's usual nodata) must not survive the cast as a year
    tr = _td([[255, 255]], np.uint8).rio.write_nodata(255)
    td = _td([[2011, 255]]).rio.write_nodata(255)
    ds = disturbance_from_raster(td, tr, YEARS)
    assert ds.restoration_year.values.tolist() == [[-1, -1]]
    assert ds.destruction_year.values.tolist() == [[2011, -1]]


def test_values_that_are_not_years_are_refused():
    td = _td([[2015, 0, 42], [0, 2012, 0]])
    with pytest.raises(ValueError, match=r"destruction_year holds 4 value\(s\) that are not years "
                                         r"\(1900\.\.2200\): \[0, 42\]; set its nodata"):
        disturbance_from_raster(td, None, YEARS)
    with pytest.raises(ValueError, match=r"restoration_year holds 1 value\(s\).*\[3000\]"):
        disturbance_from_raster(_td([[2015, -1]]), _td([[3000, -1]]), YEARS)
    # its source file is named, and valid_years widens or narrows the range
    with pytest.raises(ValueError, match=r"destruction_year \(/data/td\.tif\) holds 1 value"):
        disturbance_from_raster(_td([[2015, 1850]]).assign_attrs(source="/data/td.tif"), None, YEARS)
    ok = disturbance_from_raster(_td([[2015, 1850]]), None, YEARS, valid_years=(1800, 2100))
    assert ok.destruction_year.values.tolist() == [[2015, 1850]]
    with pytest.raises(TypeError, match="valid_years"):
        disturbance_from_raster(td, None, YEARS, valid_years=1900)
    with pytest.raises(ValueError, match="first <= last"):
        disturbance_from_raster(td, None, YEARS, valid_years=(2200, 1900))


def test_dask_input_is_checked_when_computed_not_before():
    td = _td(np.full((4, 6), 2014)).copy()
    td[3, 5] = 7
    with raise_if_dask_computes():
        ds = disturbance_from_raster(td.chunk(x=2, y=2), None, YEARS)
    with pytest.raises(ValueError, match=r"holds 1 value\(s\) that are not years.*\[7\]"):
        ds.state.compute()
    good = disturbance_from_raster(td.where(td != 7, 0).rio.write_nodata(0).chunk(x=2), None, YEARS)
    assert good.destruction_year.dtype == good.destruction_year.compute().dtype == np.int32
    assert int(good.n_destructions.sum()) == 23


# ---------------------------------------------------------------- GeoTIFF onto the grid
def _nearest_reference(src_path, grid: Grid, fill):
    """Each grid pixel centre looked up in the source file (plain numpy + pyproj)."""
    from pyproj import Transformer

    with rasterio.open(src_path) as src:
        data, inv, crs = src.read(1), ~src.transform, src.crs
    xx, yy = np.meshgrid(grid.x, grid.y)
    sx, sy = Transformer.from_crs(grid.crs, crs, always_xy=True).transform(xx, yy)
    col, row = inv @ (sx, sy)
    col, row = np.floor(col).astype(int), np.floor(row).astype(int)
    inside = (row >= 0) & (row < data.shape[0]) & (col >= 0) & (col < data.shape[1])
    out = np.full(grid.shape, fill, dtype=data.dtype)
    out[inside] = data[row[inside], col[inside]]
    return out


def test_open_raster_finer_resolution_same_crs(tmp_path):
    rng = np.random.default_rng(3)
    # 10 m pixels covering the grid's upper-left part only: the rest is outside (nodata)
    arr = rng.choice(np.array([0, 2012, 2015, 2018], dtype=np.int16), size=(40, 45))
    path = _tif(tmp_path / "td.tif", arr, transform=Affine(10.0, 0, 399990.0, 0, -10.0, 4349400.0), nodata=0)
    with raise_if_dask_computes():
        da = open_raster(path, grid=GRID, chunksize=8)
    assert da.dims == ("y", "x") and da.chunks[0][0] == 8 and da.dtype == np.int16
    np.testing.assert_array_equal(da.x.values, GRID.x)
    np.testing.assert_array_equal(da.y.values, GRID.y)
    assert da.rio.nodata == 0 and da.attrs["_FillValue"] == 0 and da.rio.crs.to_epsg() == 32649
    got = pickle.loads(pickle.dumps(da)).compute()        # the graph travels to other processes
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got.values, _nearest_reference(path, GRID, 0))
    assert (got.values[:, 15:] == 0).all() and (got.values[14:] == 0).all()


def test_open_raster_other_crs_and_decoded_offsets(tmp_path):
    from rasterio.warp import transform_bounds

    # uint8 year offsets (+2000, nodata 255) on a lon/lat grid a bit larger than the run's
    w, s, e, n = transform_bounds(GRID.crs, "EPSG:4326", *GRID.bounds)
    res = 0.0001
    shape = (int((n - s) / res) + 20, int((e - w) / res) + 20)
    rng = np.random.default_rng(4)
    arr = rng.choice(np.array([255, 12, 15], dtype=np.uint8), size=shape)
    path = _tif(tmp_path / "td_ll.tif", arr, crs="EPSG:4326", transform=Affine(res, 0, w - 10 * res, 0, -res,
                n + 10 * res), nodata=255, offset=2000.0)
    da = open_raster(path, grid=GRID, chunksize=16)
    assert da.dtype == np.float64 and np.isnan(da.rio.nodata)
    ref = _nearest_reference(path, GRID, 255).astype(np.float64)
    ref = np.where(ref == 255, np.nan, ref + 2000)
    got = da.values
    # GDAL's warp approximates the transform: nearly every pixel takes the same source pixel
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    assert same.mean() > 0.97
    ds = disturbance_from_raster(da, None, YEARS)
    assert set(np.unique(ds.destruction_year.values)) <= {-1, 2012, 2015}


def test_open_raster_bad_files(tmp_path):
    arr = np.full((4, 4), 2015, dtype=np.int16)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_raster(tmp_path / "nope.tif", grid=GRID)
    (tmp_path / "text.tif").write_text("not a raster")
    with pytest.raises(ValueError, match="cannot be read"):
        check_raster(tmp_path / "text.tif")
    far = _tif(tmp_path / "far.tif", arr, transform=Affine(30.0, 0, 0.0, 0, -30.0, 120.0))
    with pytest.raises(ValueError, match="does not overlap the grid"):
        open_raster(far, grid=GRID)
    with pytest.raises(ValueError, match="band 2 does not exist"):
        check_raster(far, band=2)
    with rasterio.open(tmp_path / "nocrs.tif", "w", driver="GTiff", width=4, height=4, count=1,
                       dtype="int16") as dst:
        dst.write(arr, 1)
    with pytest.raises(ValueError, match="has no CRS"):
        check_raster(tmp_path / "nocrs.tif")
    with pytest.raises(TypeError, match="Grid"):
        open_raster(far, grid=GRID.to_dict())
    # without a nodata of its own: the given one, else the dtype's extreme outside the file
    part = _tif(tmp_path / "part.tif", arr, transform=Affine(30.0, 0, 399990.0, 0, -30.0, 4349400.0))
    assert open_raster(part, grid=GRID, nodata=0).compute().values[10, 10] == 0
    outside = open_raster(part, grid=GRID)
    assert outside.rio.nodata == -32768 and outside.compute().values[10, 10] == -32768


# ---------------------------------------------------------------- through a run configuration
def _write_max_ndvi(store):
    from cubeeco.io.store import write_store

    t = np.array([f"{y}-01-01" for y in YEARS], dtype="datetime64[ns]")
    ndvi = np.full((len(YEARS), *GRID.shape), 0.6, dtype=np.float32)
    ndvi[4:8, :10, :10] = 0.1
    ds = xr.Dataset({"ndvi": (("time", "y", "x"), ndvi, {"units": "1"})},
                    coords={"time": t, "y": GRID.y, "x": GRID.x})
    write_store(ds, store, "max_ndvi", chunks=16)


def test_the_disturbance_stage_reads_year_rasters(tmp_path):
    import cubeeco
    from cubeeco.pipeline.config import ConfigError, parse_config

    _write_max_ndvi(tmp_path / "ndvi.zarr")
    # 60 m pixels (coarser than the grid), destruction years 2013 / 2016, restored 2018 in one corner
    td = np.where(np.arange(10)[:, None] < 5, 2013, 2016).astype(np.int16) * np.ones((1, 10), np.int16)
    td[0, 0] = -9999
    tr = np.full((10, 10), -9999, np.int16)
    tr[5:, 5:] = 2018
    where = Affine(60.0, 0, 399990.0, 0, -60.0, 4349400.0)
    (tmp_path / "rasters").mkdir()
    _tif(tmp_path / "rasters" / "td.tif", td, transform=where, nodata=-9999)
    _tif(tmp_path / "rasters" / "tr.tif", tr, transform=where, nodata=-9999)
    cfg = {"name": "own", "store": "out.zarr", "steps": ["disturbance"],
           "inputs": {"max_ndvi": str(tmp_path / "ndvi.zarr")}, "grid": GRID.to_dict(), "chunks": 16,
           "cluster": {"kind": "threads"},
           "params": {"disturbance": {"raster": "rasters/td.tif", "restoration_raster": "rasters/tr.tif"}}}
    reports = cubeeco.run(parse_config(cfg, base_dir=tmp_path), progress=False)
    assert [(r.stage, r.action) for r in reports] == [("max_ndvi", "external"), ("disturbance", "computed")]
    ds = cubeeco.open_store(tmp_path / "out.zarr", "disturbance").load()
    assert ds.state.dims == ("time", "y", "x") and ds.state.sizes["time"] == len(YEARS)
    assert ds.destruction_year[0, 0] == -1 and ds.destruction_year[0, 2] == 2013
    assert ds.destruction_year[19, 0] == 2016 and ds.restoration_year[19, 19] == 2018
    assert ds.state.sel(x=GRID.x[19], y=GRID.y[19]).values.tolist() == [1] * 6 + [0] * 2 + [1] * 3
    assert ds.attrs["destruction_raster"] == "rasters/td.tif"
    # the config is checked before anything runs
    bad = {**cfg, "params": {"disturbance": {"raster": "rasters/missing.tif"}}}
    with pytest.raises(ConfigError, match=r"params\.disturbance\.raster: .*does not exist"):
        cubeeco.run(parse_config(bad, base_dir=tmp_path), progress=False)
    lone = {**cfg, "params": {"disturbance": {"restoration_raster": "rasters/tr.tif"}}}
    with pytest.raises(ConfigError, match="restoration_raster needs"):
        cubeeco.run(parse_config(lone, base_dir=tmp_path), progress=False)
    # without a raster: detected from max NDVI as before
    plain = {**cfg, "store": "plain.zarr", "params": {}}
    cubeeco.run(parse_config(plain, base_dir=tmp_path), progress=False)
    got = cubeeco.open_store(tmp_path / "plain.zarr", "disturbance").load()
    ndvi = cubeeco.open_store(tmp_path / "ndvi.zarr", "max_ndvi")["ndvi"].load()
    expected = cubeeco.vegetation_disturbance(ndvi).compute()
    for name in expected.data_vars:
        np.testing.assert_array_equal(got[name].values, expected[name].values)
