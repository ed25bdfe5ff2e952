"""Lazy cubes: planted values come back, clouds go away, composites match numpy."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

import cubeeco
from cubeeco.io.composite import annual_composite
from cubeeco.io.cube import open_climate, open_cube, open_land_cover, open_npp
from cubeeco.synth.landsat import scene_layers, schedule
from cubeeco.testing import raise_if_dask_computes

BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22")


@pytest.fixture(scope="module")
def items(tiny_base):
    return cubeeco.search("landsat-c2-l2", source=tiny_base.root)


@pytest.fixture(scope="module")
def cube(items, tiny_config):
    return open_cube(items, grid=tiny_config.grid).compute()


def _planted(tiny_landscape, tiny_config):
    return {s.item_id(tiny_config.wrs_path_row): s for s in schedule(tiny_landscape)}


def test_building_a_cube_computes_nothing(items, tiny_config):
    with raise_if_dask_computes():
        ds = open_cube(items, grid=tiny_config.grid)
        annual = annual_composite(ds)
        annual_composite(ds, method="max_ndvi")
    assert annual["red"].dtype == np.float32
    assert dict(annual.sizes) == {"time": len(tiny_config.year_list), "y": 80, "x": 96}


def test_cube_equals_planted_scenes(cube, tiny_landscape, tiny_config):
    scenes = _planted(tiny_landscape, tiny_config)
    assert len(scenes) == cube.sizes["time"]
    n_checked = 0
    for t, iid in enumerate(cube.id.values):
        layers = scene_layers(tiny_landscape, scenes[str(iid)])
        clear = cube.clear.values[t]
        for b, name in enumerate(BANDS):
            got = cube[name].values[t]
            want = layers.reflectance[b]
            np.testing.assert_array_less(np.abs(got[clear] - want[clear]), 1e-4)
            assert np.isnan(got[~clear]).all()
        kelvin = cube.lwir.values[t]
        if "_L2SR_" in str(iid):     # reflectance-only scenes have no thermal asset: NaN
            assert np.isnan(kelvin).all()
        else:
            np.testing.assert_array_less(np.abs(kelvin[clear] - layers.kelvin[clear]), 0.01)
        # every pixel flagged cloud, dilated cloud, shadow or fill is excluded
        bad = (layers.qa & 0b11111) != 0
        assert not (clear & bad).any()
        assert clear[~bad].all()
        n_checked += clear.sum()
    assert n_checked > 0.7 * cube.sizes["time"] * 80 * 96


def _numpy_observations(items, tiny_config):
    """Scaled, QA-masked observations read straight from the COGs with rasterio."""
    out = {}
    for it in items:
        with rasterio.open(it.assets["qa_pixel"].href) as src:
            qa = src.read(1)
        ok = ((qa & 0b111111) == 0) & (qa != 0)
        bands = {}
        for name in BANDS:
            with rasterio.open(it.assets[name].href) as src:
                dn = src.read(1).astype(np.float32)
            bands[name] = np.where(ok & (dn > 0), dn * np.float32(2.75e-05) + np.float32(-0.2), np.nan)
        out[it.id] = (it.datetime, bands)
    return out


def test_composites_match_numpy(items, tiny_config):
    obs = _numpy_observations(items, tiny_config)
    median = annual_composite(open_cube(items, grid=tiny_config.grid)).compute()
    maxndvi = annual_composite(open_cube(items, grid=tiny_config.grid), method="max_ndvi").compute()
    for k, year in enumerate(tiny_config.year_list):
        season = [b for when, b in obs.values() if when.year == year and 6 <= when.month <= 9]
        assert season, year
        for name in BANDS:
            stack = np.stack([b[name] for b in season])
            with np.errstate(all="ignore"):
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    want = np.nanmedian(stack, axis=0)
            np.testing.assert_allclose(median[name].values[k], want, rtol=0, atol=1e-6, equal_nan=True)
        ndvi = np.stack([(b["nir08"] - b["red"]) / (b["nir08"] + b["red"]) for b in season])
        filled = np.where(np.isnan(ndvi), -np.inf, ndvi)
        pick = np.argmax(filled, axis=0)
        none = np.isnan(ndvi).all(axis=0)
        for name in BANDS:
            stack = np.stack([b[name] for b in season])
            want = np.take_along_axis(stack, pick[None], 0)[0]
            want[none] = np.nan
            np.testing.assert_allclose(maxndvi[name].values[k], want, rtol=0, atol=0, equal_nan=True)
        count = np.stack([np.isfinite(b["red"]) for b in season]).sum(0)
        np.testing.assert_array_equal(median.clear_count.values[k], count)


def test_off_season_scenes_are_not_composited(items, tiny_config):
    cube = open_cube(items, grid=tiny_config.grid)
    assert (~cube.time.dt.month.isin([6, 7, 8, 9])).any()   # the tiny base has April/October scenes
    annual = annual_composite(cube, months=(4,)).compute()
    assert annual.sizes["time"] <= len(tiny_config.year_list)
    with pytest.raises(ValueError, match="months"):
        annual_composite(cube, months=(13,))
    with pytest.raises(ValueError, match="method"):
        annual_composite(cube, method="mean")


def test_lazy_dtype_equals_computed_dtype(items, tiny_config):
    annual = annual_composite(open_cube(items, grid=tiny_config.grid)).isel(time=[0])
    computed = annual.compute()
    for name in annual.data_vars:
        assert annual[name].dtype == computed[name].dtype, name


def test_modis_nearest_gives_each_pixel_its_parent_cell(tiny_base, tiny_config):
    items = cubeeco.search("modis-17A3HGF-061", source=tiny_base.root, datetime="2010")
    npp = open_npp(items, grid=tiny_config.grid).compute()
    assert npp.attrs["units"] == "g C m-2 yr-1"
    with rasterio.open(items[0].assets["Npp_500m"].href) as src:
        dn, inverse, crs = src.read(1), ~src.transform, src.crs
    g = tiny_config.grid
    xx, yy = np.meshgrid(g.x, g.y)
    sx, sy = Transformer.from_crs(g.crs, crs, always_xy=True).transform(xx, yy)
    col, row = inverse @ (sx, sy)
    parent = dn[np.floor(row).astype(int), np.floor(col).astype(int)]
    want = np.where(parent <= 32700, parent.astype(np.float32) * np.float32(0.1), np.nan)
    # GDAL's approximate warp transformer may pick the neighbour for centres within
    # a few centimetres of a cell edge; everywhere else the parent cell must win
    edge = np.minimum(np.abs(col - np.round(col)), np.abs(row - np.round(row))) < 0.01
    got = npp.values[0]
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    assert same[~edge].all()
    assert edge.mean() < 0.05 and np.isnan(got).any() == np.isnan(want).any()


def test_land_cover_and_climate_on_grid(tiny_base, tiny_config):
    items = cubeeco.search("synthetic-clcd", source=tiny_base.root)
    lc = open_land_cover(items, grid=tiny_config.grid)
    assert lc.dtype == np.uint8
    with rasterio.open(items[-1].assets["data"].href) as src:
        np.testing.assert_array_equal(lc.isel(time=-1).values, src.read(1))
    clim = open_climate(tiny_base.root / "climate" / "monthly.zarr", grid=tiny_config.grid)
    near = open_climate(tiny_base.root / "climate" / "monthly.zarr", grid=tiny_config.grid, method="nearest")
    july = clim.tmean.isel(time=6).values
    assert clim.tmean.dtype == np.float32 and np.isfinite(july).all()
    import xarray as xr

    src = xr.open_zarr(tiny_base.root / "climate" / "monthly.zarr").tmean.isel(time=6).values
    assert src.min() - 1e-4 <= july.min() and july.max() <= src.max() + 1e-4
    assert set(np.unique(near.tmean.isel(time=6).values)) <= set(np.unique(src.astype(np.float32)))


def test_bad_input_is_named(items, tiny_config):
    with pytest.raises(ValueError, match="unknown band"):
        open_cube(items, grid=tiny_config.grid, bands=("red", "thermal"))
    with pytest.raises(ValueError, match="no STAC items"):
        open_cube([], grid=tiny_config.grid)
    with pytest.raises(ValueError, match="resampling|method"):
        open_climate("x.zarr", grid=tiny_config.grid, method="cubic")


def test_modis_npp_refuses_resampling_that_blends_class_codes(tiny_base, tiny_config):
    """Bilinear etc. would mix the class codes 32761-32766 (only 32767 is the file's nodata tag)
    into valid NPP: refused, naming why and the fix."""
    items = cubeeco.search("modis-17A3HGF-061", source=tiny_base.root, datetime="2010")
    for resampling in ("bilinear", "cubic", "average"):
        with pytest.raises(ValueError, match=rf"'{resampling}'.*fill and class codes.*nearest.*aggregate"):
            open_npp(items, grid=tiny_config.grid, resampling=resampling)
