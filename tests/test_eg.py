"""EG index (seed 000 Eq. 14, Tables 8-9), its moving window and the RSEI x EG overlay (Fig. 15).

References: hand computations on tiny rasters, then tests/reference/eg_ref.py (class by
class, pixel by pixel, windows from the centre distances themselves) on random rasters.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401
import shapely
import xarray as xr

from cubeeco.ops.eg import (
    EG_GRADES,
    OVERLAY_CODES,
    eg_index,
    eg_moving_window,
    grade_raster,
    overlay_areas,
    rsei_eg_overlay,
)
from cubeeco.ops.zonal import zonal_stats
from cubeeco.testing.laziness import raise_if_dask_computes
from tests.reference import eg_ref as R

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

CRS = "EPSG:32649"
RES = 30.0
X0, Y0 = 500_000.0, 4_300_000.0


def raster(values, *, res=(RES, RES), nodata=0, layer="time", crs=CRS):
    values = np.asarray(values)
    ny, nx = values.shape[-2:]
    coords = {"y": Y0 - res[0] * (np.arange(ny) + 0.5), "x": X0 + res[1] * (np.arange(nx) + 0.5)}
    dims = ("y", "x")
    if values.ndim == 3:
        n = values.shape[0]
        coords[layer] = pd.date_range("2000", periods=n, freq="YS") if layer == "time" else 2000 + np.arange(n)
        dims = (layer, "y", "x")
    attrs = {} if nodata is None else {"nodata": nodata}
    da = xr.DataArray(values, dims=dims, coords=coords, attrs=attrs)
    return da.rio.write_crs(crs) if crs else da


def random_classes(rng, shape, p_nodata=0.1):
    """CLCD codes 1..9 (6 = snow / ice has no grade) with nodata 0 and a few codes above the table."""
    a = rng.integers(1, 10, shape)
    a[rng.random(shape) < p_nodata] = 0
    a[rng.random(shape) < 0.02] = 200
    return a.astype(np.uint8)


# ------------------------------------------------------------------ the table
def test_default_table_is_study_table3_on_clcd_codes():
    from cubeeco.synth.landscape import CLCD_CLASSES

    names = {CLCD_CLASSES[c]: g for c, g in EG_GRADES.items()}
    assert names == {"water": 1, "wetland": 1, "forest": 2, "shrub": 3, "grassland": 4, "cropland": 5,
                     "impervious": 6, "barren": 7}
    assert 6 not in EG_GRADES  # snow / ice: no grade in the study


# ------------------------------------------------------------------ eg_index
def test_eg_index_hand_computation():
    # water 1, forest 2, barren 7, grassland 4; nodata 0 and snow 6 count nowhere
    da = raster([[5, 2, 7], [4, 0, 6]])
    df = eg_index(da)
    raw = (1 + 2 + 7 + 4) / 4
    assert list(df.columns) == ["year", "region", "eg", "eg_raw", "area_km2"]
    assert df.loc[0, "region"] == "study_area"
    assert df.loc[0, "eg_raw"] == pytest.approx(raw)
    assert df.loc[0, "eg"] == pytest.approx((7 - raw) / 6)
    assert df.loc[0, "area_km2"] == pytest.approx(4 * RES * RES / 1e6)
    # raw index, own table, own range
    df = eg_index(da, normalize=False)
    assert df.loc[0, "eg"] == pytest.approx(raw)
    df = eg_index(da, grades={5: 10, 6: 0}, grade_range=(0, 20))
    assert df.loc[0, "eg_raw"] == pytest.approx(5.0)
    assert df.loc[0, "eg"] == pytest.approx(0.75)


def test_eg_index_all_one_class_is_its_grade():
    assert eg_index(raster(np.full((4, 4), 5))).loc[0, "eg"] == pytest.approx(1.0)  # all water: best
    assert eg_index(raster(np.full((4, 4), 7))).loc[0, "eg"] == pytest.approx(0.0)  # all barren: worst
    assert np.isnan(eg_index(raster(np.zeros((4, 4), np.uint8))).loc[0, "eg"])  # nothing graded


@pytest.mark.parametrize("layer", ["time", "year"])
@pytest.mark.parametrize("chunks", [None, {"y": 7, "x": 5}])
def test_eg_index_vs_numpy_random(layer, chunks):
    rng = np.random.default_rng(1)
    a = random_classes(rng, (4, 23, 31))
    da = raster(a, layer=layer)
    if chunks:
        da = da.chunk(chunks)
    df = eg_index(da)
    assert list(df["year"]) == [2000, 2001, 2002, 2003]
    for t in range(4):
        eg, raw, n = R.eg_index(a[t], EG_GRADES, nodata=0)
        assert df.loc[t, "eg"] == pytest.approx(eg, rel=1e-12)
        assert df.loc[t, "eg_raw"] == pytest.approx(raw, rel=1e-12)
        assert df.loc[t, "area_km2"] == pytest.approx(n * RES * RES / 1e6, rel=1e-12)


def test_eg_index_float_input_nan_is_nodata():
    rng = np.random.default_rng(2)
    a = random_classes(rng, (19, 17)).astype(np.float32)
    a[a == 0] = np.nan
    a[0, 0] = 2.5  # not a class code: left out
    df = eg_index(raster(a, nodata=None))
    b = a.copy()
    b[0, 0] = np.nan
    eg, raw, _ = R.eg_index(b, EG_GRADES)
    assert df.loc[0, "eg"] == pytest.approx(eg, rel=1e-12)


def test_eg_index_nodata_argument_overrides_attrs():
    da = raster([[5, 7], [255, 255]], nodata=None)
    assert eg_index(da).loc[0, "eg_raw"] == pytest.approx(4.0)  # 255: a code without a grade anyway
    da = raster([[5, 7], [4, 4]], nodata=None)
    assert eg_index(da, nodata=4).loc[0, "eg_raw"] == pytest.approx(4.0)
    assert eg_index(da).loc[0, "eg_raw"] == pytest.approx((1 + 7 + 8) / 4)


def test_eg_index_zones_hand_computation():
    # pixel-aligned polygons: coverage 1 inside, 0 outside
    da = raster(np.array([[5, 2, 7, 7], [4, 0, 6, 1]], np.uint8))
    zones = gpd.GeoDataFrame({"mine": ["a", "b"]}, geometry=[
        shapely.box(X0, Y0 - 2 * RES, X0 + 2 * RES, Y0),            # 5 2 / 4 0
        shapely.box(X0 + 2 * RES, Y0 - 2 * RES, X0 + 4 * RES, Y0),  # 7 7 / 6 1
    ], crs=CRS)
    df = eg_index(da, zones=zones, id_column="mine")
    assert list(df["region"]) == ["a", "b"]
    assert df["eg_raw"].tolist() == pytest.approx([(1 + 2 + 4) / 3, (7 + 7 + 5) / 3])
    assert df["area_km2"].tolist() == pytest.approx([3 * 900 / 1e6, 3 * 900 / 1e6])
    # half a pixel: coverage-weighted areas
    half = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0 - RES, X0 + 1.5 * RES, Y0)], crs=CRS)  # 1 x water, 0.5 x forest
    df = eg_index(da, zones=half)
    assert df.loc[0, "eg_raw"] == pytest.approx((1 * 1 + 2 * 0.5) / 1.5)


@pytest.mark.parametrize("chunks", [None, {"time": 1, "y": 9, "x": 11}])
def test_eg_index_zones_vs_zonal_class_fractions(chunks):
    rng = np.random.default_rng(3)
    a = random_classes(rng, (3, 30, 40))
    da = raster(a)
    zones = gpd.GeoDataFrame({"mine": ["m0", "m1", "m2", "out"]}, geometry=[
        shapely.Point(X0 + 300, Y0 - 300).buffer(200),
        shapely.Polygon([(X0 + 500, Y0 - 100), (X0 + 1150, Y0 - 250), (X0 + 700, Y0 - 880)]),
        shapely.box(X0 - 100, Y0 - 950, X0 + 1300, Y0 - 500),  # crosses the raster's edge
        shapely.box(X0 - 900, Y0 + 100, X0 - 500, Y0 + 500),  # wholly outside
    ], crs=CRS)
    df = eg_index(da.chunk(chunks) if chunks else da, zones=zones, id_column="mine")
    assert len(df) == 3 * 4
    # A_ij from zonal_stats of per-class indicators (1 on class j, 0 on other graded classes, NaN else)
    grade = R.graded(a, EG_GRADES, nodata=0)
    num = 0.0
    den = 0.0
    for code, g in EG_GRADES.items():
        ind = np.where(np.isnan(grade), np.nan, (a == code).astype(float))
        area = zonal_stats(raster(ind.astype(np.float64)), zones, stats="sum", id_column="mine")["sum"].to_numpy()
        num = num + g * area
        den = den + area
    with np.errstate(invalid="ignore"):
        raw = (num / den).reshape(4, 3).T.reshape(-1)  # zonal_stats: polygon-major; eg_index: year-major
    got = df.sort_values(["year", "region"])
    expect = pd.DataFrame({"year": np.repeat([2000, 2001, 2002], 4), "region": np.tile(["m0", "m1", "m2", "out"], 3),
                           "raw": raw}).sort_values(["year", "region"])
    np.testing.assert_allclose(got["eg_raw"].to_numpy(), expect["raw"].to_numpy(), rtol=1e-10)
    assert got[got.region == "out"]["eg"].isna().all()
    np.testing.assert_allclose(got["eg"].to_numpy(), (7 - expect["raw"].to_numpy()) / 6, rtol=1e-10)


def test_eg_index_lazy_until_it_builds_the_table():
    da = raster(random_classes(np.random.default_rng(4), (2, 20, 20))).chunk({"y": 8, "x": 8})
    with raise_if_dask_computes(max_computes=1):
        eg_index(da)


# ------------------------------------------------------------------ moving window
def test_window_hand_computation_circle_and_square():
    a = np.array([[5, 5, 5], [7, 4, 7], [5, 5, 5]], np.uint8)  # grades 1 / 7 4 7 / 1
    da = raster(a)
    c = eg_moving_window(da, RES, normalize=False)  # circle of one pixel: the 4-neighbour cross
    assert c.values[1, 1] == pytest.approx((1 + 7 + 4 + 7 + 1) / 5)
    assert c.values[0, 0] == pytest.approx((1 + 1 + 7) / 3)  # clipped at the corner
    s = eg_moving_window(da, RES, shape="square", normalize=False)
    assert s.values[1, 1] == pytest.approx((6 * 1 + 2 * 7 + 4) / 9)
    assert s.values[0, 0] == pytest.approx((1 + 1 + 7 + 4) / 4)
    n = eg_moving_window(da, RES)
    np.testing.assert_allclose(n.values, (7 - c.values) / 6, rtol=1e-6)
    assert n.dtype == np.float32 and n.attrs["window"] == "circle" and n.attrs["window_pixels"] == 5
    # radius below a pixel: the pixel itself
    z = eg_moving_window(da, 10.0, normalize=False)
    np.testing.assert_array_equal(z.values, R.graded(a, EG_GRADES))


@pytest.mark.parametrize("shape", ["circle", "square"])
@pytest.mark.parametrize("radius,res", [(100.0, (RES, RES)), (90.0, (RES, RES)), (75.0, (20.0, 30.0)),
                                        (210.0, (RES, RES))])
def test_window_vs_numpy_reference(shape, radius, res):
    rng = np.random.default_rng(5)
    a = random_classes(rng, (17, 23), p_nodata=0.2)
    da = raster(a, res=res)
    got = eg_moving_window(da, radius, shape=shape, dtype=np.float64).values
    ref = R.eg_window(a, EG_GRADES, radius, res[0], res[1], shape=shape, nodata=0)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    assert np.array_equal(np.isnan(got), np.isnan(ref))


def test_window_nan_and_nodata():
    rng = np.random.default_rng(6)
    a = random_classes(rng, (15, 15), p_nodata=0.3).astype(np.float64)
    a[a == 0] = np.nan
    got = eg_moving_window(raster(a, nodata=None), 60.0, dtype=np.float64).values
    ref = R.eg_window(np.nan_to_num(a, nan=0), EG_GRADES, 60.0, RES, RES, nodata=0)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    # ungraded centre (nodata, snow 6, code 200): NaN; graded centre: a value
    bad = np.isnan(a) | (a == 6) | (a == 200)
    assert np.isnan(got[bad]).all() and not np.isnan(got[~bad]).any()
    # all nodata
    assert np.isnan(eg_moving_window(raster(np.zeros((5, 5), np.uint8)), 60.0).values).all()


@pytest.mark.parametrize("chunks", [{"y": 5, "x": 7}, {"y": 2, "x": 3}, {"y": 13, "x": 1}])
@pytest.mark.parametrize("shape", ["circle", "square"])
def test_window_one_chunk_equals_many(chunks, shape):
    rng = np.random.default_rng(7)
    a = random_classes(rng, (3, 26, 29))
    da = raster(a)
    one = eg_moving_window(da, 100.0, shape=shape)
    with raise_if_dask_computes():
        lazy = eg_moving_window(da.chunk({"time": 1, **chunks}), 100.0, shape=shape)
    assert lazy.chunks is not None and lazy.dims == da.dims
    np.testing.assert_array_equal(lazy.values, one.values)  # integer grades: exact sums
    for t in range(3):
        ref = R.eg_window(a[t], EG_GRADES, 100.0, RES, RES, shape=shape, nodata=0)
        np.testing.assert_allclose(one.values[t], ref, rtol=1e-6)


def test_window_float_grades_chunk_independent():
    rng = np.random.default_rng(8)
    a = random_classes(rng, (40, 40))
    grades = {k: float(v) + rng.random() for k, v in EG_GRADES.items()}
    da = raster(a)
    one = eg_moving_window(da, 150.0, grades=grades, dtype=np.float64)
    many = eg_moving_window(da.chunk({"y": 6, "x": 9}), 150.0, grades=grades, dtype=np.float64)
    np.testing.assert_allclose(many.values, one.values, rtol=1e-13)
    ref = R.eg_window(a, grades, 150.0, RES, RES, nodata=0)
    np.testing.assert_allclose(one.values, ref, rtol=1e-12)


def test_window_keeps_coords_and_dim_order():
    a = random_classes(np.random.default_rng(9), (2, 8, 9))
    da = raster(a).transpose("y", "x", "time")
    out = eg_moving_window(da, 50.0)
    assert out.dims == ("y", "x", "time")
    assert out.rio.crs == da.rio.crs
    ref = eg_moving_window(da.transpose("time", "y", "x"), 50.0).transpose("y", "x", "time")
    np.testing.assert_array_equal(out.values, ref.values)


def test_window_errors():
    da = raster(np.ones((4, 4), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        eg_moving_window(da, 30, shape="hexagon")
    with pytest.raises(ValueError, match="radius"):
        eg_moving_window(da, -1)
    with pytest.raises(ValueError, match="geographic"):
        eg_moving_window(raster(np.ones((4, 4), np.uint8), crs="EPSG:4326"), 30)
    with pytest.raises(ValueError, match="high > low"):
        eg_moving_window(da, 30, grades={1: 3})
    assert eg_moving_window(da, 30, grades={1: 3}, normalize=False).values[0, 0] == 3


# ------------------------------------------------------------------ overlay
def test_overlay_hand_codes():
    rsei = raster(np.array([[0.1, 0.5, 0.9, 1 / 3], [np.nan, 0.2, 0.7, 2 / 3]]))
    eg = raster(np.array([[0.9, 0.5, 0.1, 0.4], [0.5, np.nan, 0.9, 0.9]]))
    code = rsei_eg_overlay(rsei, eg)
    np.testing.assert_array_equal(code.values, [[31, 22, 13, 21], [0, 0, 33, 32]])
    assert code.dtype == np.int8
    assert code.attrs["legend"]["33"] == "EG high, RSEI high" and code.attrs["nodata"] == 0
    swapped = rsei_eg_overlay(rsei, eg, tens="rsei")
    np.testing.assert_array_equal(swapped.values, [[13, 22, 31, 12], [0, 0, 33, 23]])


@pytest.mark.parametrize("chunks", [None, {"time": 1, "y": 6, "x": 7}])
def test_overlay_codes_and_areas_vs_numpy(chunks):
    rng = np.random.default_rng(10)
    r = rng.random((3, 20, 25))
    e = rng.random((3, 20, 25))
    r[rng.random(r.shape) < 0.05] = np.nan
    e[rng.random(e.shape) < 0.05] = np.nan
    rsei, eg = raster(r), raster(e)
    edges_r, edges_e = (0.2, 0.55), (0.4, 0.6)
    if chunks:
        rsei, eg = rsei.chunk(chunks), eg.chunk(chunks)
        with raise_if_dask_computes():
            code = rsei_eg_overlay(rsei, eg, rsei_edges=edges_r, eg_edges=edges_e)
    else:
        code = rsei_eg_overlay(rsei, eg, rsei_edges=edges_r, eg_edges=edges_e)
    ref = R.overlay(r, e, edges_r, edges_e)
    np.testing.assert_array_equal(code.values, ref)
    df = overlay_areas(code)
    assert len(df) == 3 * 9 and list(df["code"][:9]) == list(OVERLAY_CODES)
    for t, year in enumerate([2000, 2001, 2002]):
        exp = R.overlay_areas(ref[t], RES * RES / 1e6)
        sub = df[df.year == year].set_index("code")
        for c, (n, area, share) in exp.items():
            assert sub.loc[c, "pixels"] == n
            assert sub.loc[c, "area_km2"] == pytest.approx(area, rel=1e-12)
            assert sub.loc[c, "share"] == pytest.approx(share, rel=1e-12)
            assert (sub.loc[c, "eg_level"], sub.loc[c, "rsei_level"]) == (c // 10, c % 10)
        assert sub["share"].sum() == pytest.approx(1.0)


def test_overlay_pipeline_window_to_areas():
    rng = np.random.default_rng(11)
    a = random_classes(rng, (2, 16, 16))
    lulc = raster(a).chunk({"y": 5, "x": 6})
    eg = eg_moving_window(lulc, 60.0)
    rsei = xr.full_like(eg, 0.5).where(~np.isnan(eg))
    df = overlay_areas(rsei_eg_overlay(rsei, eg))
    codes = R.overlay(np.where(np.isnan(eg.values), np.nan, 0.5), eg.values)
    assert df["pixels"].sum() == int(np.sum(codes != 0))


def test_overlay_errors():
    a = raster(np.full((3, 3), 0.5))
    with pytest.raises(ValueError, match="increasing"):
        rsei_eg_overlay(a, a, rsei_edges=(0.6, 0.3))
    with pytest.raises(ValueError, match="same grid"):
        rsei_eg_overlay(a, a.assign_coords(x=a.x + 1))
    with pytest.raises(TypeError, match="float"):
        rsei_eg_overlay(a.astype(np.int8), a)
    with pytest.raises(TypeError, match="integer"):
        overlay_areas(a)


def test_grade_raster():
    g = grade_raster(raster(np.array([[5, 6], [0, 7]], np.uint8)))
    np.testing.assert_array_equal(g.values, [[1, np.nan], [np.nan, 7]])
    assert g.dtype == np.float32


def test_window_kernel_pickles_by_reference():
    import pickle

    from cubeeco.kernels import eg as K

    assert pickle.loads(pickle.dumps(K.eg_window)) is K.eg_window
