"""zonal_stats (exactextract's coverage-fraction definition), rings and distance bands.

The chain of references:

1. coverage fractions against shapely's exact ``intersection(polygon, cell).area``
   (1e-12 absolute: both are exact up to rounding);
2. the statistics' definitions against exactextract given exactextract's *own*
   coverage fractions and values (1e-12 relative: same inputs, same formulas);
3. end to end against ``exactextract.exact_extract`` (5e-7 relative: exactextract
   stores coverage fractions as float32, so its results carry ~6e-8 relative rounding;
   measured largest difference 6e-8 on these cases; min/max identical);
4. ``coverage="center"`` against rasterstats (cell-centre rasterization).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rioxarray  # noqa: F401
import shapely
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin

from cubeeco.kernels import groupby as G
from cubeeco.kernels import zonal as KZ
from cubeeco.ops.zonal import (
    _pixel_geometry,
    _subset,
    distance_bands,
    quantile_column,
    rings,
    window_coverage,
    zonal_stats,
)
from cubeeco.testing.laziness import raise_if_dask_computes

exactextract = pytest.importorskip("exactextract")
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # affine * in rasterio

CRS = "EPSG:32649"
RES = 30.0
X0, Y0 = 500_000.0, 4_300_000.0
MOMENTS = ("count", "sum", "mean", "min", "max", "stdev", "variance")
EE_NAME = {"count": "count", "sum": "sum", "mean": "mean", "min": "min", "max": "max", "stdev": "stdev",
           "variance": "variance", "median": "median", "q10": "quantile_10", "q90": "quantile_90",
           "q33": "quantile_33"}


# ------------------------------------------------------------------ fixtures
def make_raster(values, tmp_path=None, *, res=RES, x0=X0, y0=Y0, name="r.tif", dtype="float32"):
    """A (time, y, x) or (y, x) DataArray with a CRS, and the same raster as a GeoTIFF."""
    values = np.asarray(values, dtype=dtype)
    ny, nx = values.shape[-2:]
    coords = {"y": y0 - res * (np.arange(ny) + 0.5), "x": x0 + res * (np.arange(nx) + 0.5)}
    dims = ("y", "x")
    if values.ndim == 3:
        coords["time"] = np.arange(values.shape[0])
        dims = ("time", "y", "x")
    da = xr.DataArray(values, dims=dims, coords=coords, attrs={"units": "gC m-2"}).rio.write_crs(CRS)
    path = None
    if tmp_path is not None:
        path = tmp_path / name
        bands = values if values.ndim == 3 else values[None]
        with rasterio.open(path, "w", driver="GTiff", width=nx, height=ny, count=bands.shape[0], dtype=dtype,
                           crs=CRS, transform=from_origin(x0, y0, res, res), nodata=np.nan) as dst:
            dst.write(bands)
    return da, path


def random_zones(rng, ny, nx, n=40, *, res=RES):
    """Star polygons of 0.2-20 px radius: some with holes, some multipolygons, some crossing
    the raster edge or lying wholly outside it (the last one is always wholly outside)."""

    def star(cx, cy, r, k=11):
        t = np.sort(rng.uniform(0, 2 * np.pi, k))
        rr = r * rng.uniform(0.5, 1, k)
        return shapely.Polygon(np.c_[cx + rr * np.cos(t), cy + rr * np.sin(t)])

    geoms = []
    for i in range(n):
        cx = X0 + rng.uniform(-4, nx + 4) * res
        cy = Y0 - rng.uniform(-4, ny + 4) * res
        r = res * 10 ** rng.uniform(-0.7, 1.3)
        g = star(cx, cy, r)
        if i % 4 == 0:
            g = g.difference(star(cx, cy, 0.3 * r))
        if i % 6 == 1:
            g = shapely.union(g, star(cx + 3 * r, cy, r / 2))
        g = shapely.make_valid(g)
        if g.geom_type == "GeometryCollection":
            g = shapely.MultiPolygon([p for p in g.geoms if p.geom_type == "Polygon"])
        geoms.append(g)
    geoms.append(shapely.box(X0 - 50 * res, Y0 + 10 * res, X0 - 40 * res, Y0 + 20 * res))  # outside
    return gpd.GeoDataFrame({"mine": [f"m{i:03d}" for i in range(len(geoms))]}, geometry=geoms, crs=CRS)


def ee_frame(path, zones, ops, n_layers):
    """exactextract's table, one row per (zone, layer) like zonal_stats's."""
    ops_ee = [{"q10": "quantile(q=0.1)", "q90": "quantile(q=0.9)", "q33": "quantile(q=0.33)"}.get(o, o) for o in ops]
    ee = exactextract.exact_extract(str(path), zones, ops_ee, output="pandas")
    out = {}
    for o in ops:
        col = EE_NAME[o]
        if n_layers == 1:
            out[o] = ee[col].to_numpy(float)[:, None]
        else:
            out[o] = np.stack([ee[f"band_{b + 1}_{col}"].to_numpy(float) for b in range(n_layers)], axis=1)
    return out  # op -> (n_zones, n_layers)


def ours(df, op, n_zones):
    return df[op].to_numpy(float).reshape(n_zones, -1)


def assert_close(got, want, rtol, what=""):
    got, want = np.asarray(got, float), np.asarray(want, float)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN pattern of {what}")
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=1e-12 * np.nanmax(np.abs(want), initial=1),
                               err_msg=what)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zonal")
    rng = np.random.default_rng(20261124)
    values = rng.normal(10, 3, (3, 47, 61)).astype(np.float32)
    values[rng.random(values.shape) < 0.1] = np.nan
    da, path = make_raster(values, tmp)
    zones = random_zones(rng, 47, 61)
    return da, path, zones


# ------------------------------------------------------------------ 1. coverage is exact
def shapely_coverage(geom_px, ny, nx):
    rr, cc = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    boxes = shapely.box(cc.ravel(), rr.ravel(), cc.ravel() + 1, rr.ravel() + 1)
    return shapely.area(shapely.intersection(geom_px, boxes))


def test_coverage_equals_shapely_intersection_areas(case):
    da, _, zones = case
    ny, nx = da.sizes["y"], da.sizes["x"]
    geoms = np.asarray(zones.geometry.values)
    px = _pixel_geometry(geoms, X0, RES, Y0, -RES)
    # whole raster, and a window in its middle (polygons crossing the window edges)
    for r0, c0, h, w in ((0, 0, ny, nx), (13, 17, 20, 25)):
        sub = _subset(px, np.arange(len(geoms)), r0, c0)
        poly, pix, wt = window_coverage(sub, h, w)
        assert (wt > 0).all() and (wt <= 1).all()
        for p in range(len(geoms)):
            g_px = shapely.transform(geoms[p], lambda c, r0=r0, c0=c0: np.c_[(c[:, 0] - X0) / RES - c0, (Y0 - c[:, 1]) / RES - r0])
            want = shapely_coverage(g_px, h, w)
            got = np.zeros(h * w)
            got[pix[poly == p]] = wt[poly == p]
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=f"polygon {p}")


def test_coverage_center_equals_contains(case):
    da, _, zones = case
    ny, nx = da.sizes["y"], da.sizes["x"]
    geoms = np.asarray(zones.geometry.values)
    px = _pixel_geometry(geoms, X0, RES, Y0, -RES)
    sub = _subset(px, np.arange(len(geoms)), 0, 0)
    poly, pix, wt = window_coverage(sub, ny, nx, center=True)
    assert (wt == 1).all()
    rr, cc = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    xc, yc = X0 + (cc.ravel() + 0.5) * RES, Y0 - (rr.ravel() + 0.5) * RES
    for p in range(len(geoms)):
        want = np.flatnonzero(shapely.contains_xy(geoms[p], xc, yc))
        np.testing.assert_array_equal(np.sort(pix[poly == p]), want, err_msg=f"polygon {p}")


# ------------------------------------------------------------------ 2. definitions == exactextract's
def test_definitions_match_exactextract_given_its_coverage(tmp_path):
    # integer values: many ties, the hard case for the weighted quantile
    rng = np.random.default_rng(5)
    values = rng.integers(0, 6, (23, 31)).astype(np.float32)
    values[rng.random(values.shape) < 0.1] = np.nan
    # float64: exactextract returns its statistics in the raster's dtype
    _, path = make_raster(values, tmp_path, dtype="float64")
    zones = random_zones(rng, 23, 31, n=25)
    ops = ["count", "sum", "mean", "min", "max", "stdev", "variance", "median", "quantile(q=0.1)",
           "quantile(q=0.33)", "quantile(q=0.9)", "values", "coverage"]
    ee = exactextract.exact_extract(str(path), zones, ops, output="pandas")
    n = len(zones)
    labels = np.concatenate([np.full(len(ee["values"][i]), i) for i in range(n)]).astype(np.int64)
    vals = np.concatenate([np.asarray(ee["values"][i], float) for i in range(n)])
    cov = np.concatenate([np.asarray(ee["coverage"][i], float) for i in range(n)])
    m = G.group_moments(labels, vals, n, weights=cov)
    for ee_name, ours_name in (("count", "weight"), ("sum", "sum"), ("mean", "mean"), ("min", "min"),
                               ("max", "max"), ("stdev", "std"), ("variance", "var")):
        assert_close(G.finalize(m, ours_name)[0], ee[ee_name], 1e-12, ee_name)
    qs = np.array([0.5, 0.1, 0.33, 0.9])
    order = np.lexsort((vals, labels))
    starts = np.searchsorted(labels[order], np.arange(n + 1)).astype(np.int64)
    out = np.empty((n, len(qs)))
    KZ.weighted_quantiles(starts, vals[order].copy(), cov[order].copy(), qs, out)
    for k, col in enumerate(("median", "quantile_10", "quantile_33", "quantile_90")):
        assert_close(out[:, k], ee[col], 1e-12, col)


# ------------------------------------------------------------------ 3. end to end
@pytest.mark.parametrize("chunks", [None, {"time": 2, "y": 16, "x": 20}, {"time": -1, "y": 47, "x": 61}])
def test_matches_exactextract(case, chunks):
    da, path, zones = case
    if chunks is not None:
        da = da.chunk(chunks)
    ops = [*MOMENTS, "median", "q10", "q90"]
    df = zonal_stats(da, zones, stats=(*MOMENTS, "median"), quantiles=(0.1, 0.9), id_column="mine")
    ee = ee_frame(path, zones, ops, 3)
    n = len(zones)
    assert list(df.columns) == ["mine", "time", *MOMENTS, "median", "q10", "q90"]
    assert list(df["mine"][::3]) == list(zones["mine"])
    for op in ops:
        # min and max are values of the raster: identical
        assert_close(ours(df, op, n), ee[op], 0 if op in ("min", "max") else 5e-7, op)
    # the wholly-outside polygon: nothing covered
    last = df[df["mine"] == zones["mine"].iloc[-1]]
    assert (last["count"] == 0).all() and (last["sum"] == 0).all() and last["mean"].isna().all()


def test_matches_exactextract_2d_without_nan(tmp_path):
    rng = np.random.default_rng(11)
    values = rng.gamma(2.0, 50.0, (40, 33)).astype(np.float32)
    da, path = make_raster(values, tmp_path)
    zones = random_zones(rng, 40, 33, n=30)
    df = zonal_stats(da.chunk({"y": 9, "x": 7}), zones, stats=(*MOMENTS, "median", "area", "n_pixels"))
    ee = ee_frame(path, zones, [*MOMENTS, "median"], 1)
    for op in (*MOMENTS, "median"):
        assert_close(ours(df, op, len(zones)), ee[op], 0 if op in ("min", "max") else 5e-7, op)
    # no NaN: the covered area is count x pixel area; the polygons' area inside the raster
    inside = shapely.area(shapely.intersection(zones.geometry.values, shapely.box(X0, Y0 - 40 * RES, X0 + 33 * RES, Y0)))
    # (shapely in world coordinates ~4e6 m: ~1e-11 relative rounding)
    np.testing.assert_allclose(df["area"], inside / 1e6, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(df["area"], df["count"] * RES * RES / 1e6, rtol=1e-12, atol=1e-15)


def test_center_matches_rasterstats(case):
    rasterstats = pytest.importorskip("rasterstats")
    da, path, zones = case
    df = zonal_stats(da.isel(time=0), zones, stats=("count", "sum", "mean", "min", "max", "n_pixels"),
                     coverage="center")
    with rasterio.open(path) as src:
        band = src.read(1)
        rs = rasterstats.zonal_stats(zones, band, affine=src.transform, nodata=np.nan,
                                     stats=["count", "sum", "mean", "min", "max"])
    rs = pd.DataFrame(rs)
    np.testing.assert_array_equal(df["count"], rs["count"])
    np.testing.assert_array_equal(df["n_pixels"], rs["count"])
    for op in ("sum", "mean", "min", "max"):
        want = rs[op].to_numpy(float)
        if op == "sum":
            want = np.where(rs["count"] == 0, 0.0, want)
        assert_close(df[op], want, 1e-6, op)  # rasterstats sums in float32


# ------------------------------------------------------------------ hand counts
@pytest.fixture
def tiny():
    values = np.arange(16, dtype=np.float32).reshape(4, 4)  # row 0 is the top (y = 3.5)
    da = xr.DataArray(values, dims=("y", "x"), coords={"y": [3.5, 2.5, 1.5, 0.5], "x": [0.5, 1.5, 2.5, 3.5]},
                      attrs={"units": "t"}).rio.write_crs(CRS)
    return da


def zones_of(*geoms, crs=CRS):
    return gpd.GeoDataFrame(geometry=list(geoms), crs=crs)


def test_hand_counts(tiny):
    zones = zones_of(
        shapely.box(0, 3, 2.5, 4),           # top row: pixels 0, 1 and half of 2
        shapely.box(1.25, 1.25, 1.75, 1.75),  # a quarter of pixel 9 (value 9)
        shapely.box(0, 0, 4, 4).difference(shapely.box(1, 1, 3, 3)),  # ring: 12 outer pixels
        shapely.box(3, 3, 5, 5),              # one pixel inside (value 3), the rest outside
    )
    df = zonal_stats(tiny, zones, stats=("count", "sum", "mean", "min", "max", "std", "variance", "area",
                                         "n_pixels", "median"))
    assert df["count"].tolist() == [2.5, 0.25, 12.0, 1.0]
    assert df["sum"].tolist() == [0 + 1 + 0.5 * 2, 0.25 * 9, 120 - (5 + 6 + 9 + 10), 3.0]
    assert df["mean"].tolist() == [2.0 / 2.5, 9.0, 90 / 12, 3.0]
    assert df["min"].tolist() == [0, 9, 0, 3] and df["max"].tolist() == [2, 9, 15, 3]
    assert df["n_pixels"].tolist() == [3, 1, 12, 1]
    m = 0.8
    var0 = (1 * (0 - m) ** 2 + 1 * (1 - m) ** 2 + 0.5 * (2 - m) ** 2) / 2.5
    np.testing.assert_allclose(df["variance"][0], var0, rtol=1e-14)
    np.testing.assert_allclose(df["std"][0], np.sqrt(var0), rtol=1e-14)
    np.testing.assert_allclose(df["area"], df["count"] * 1e-6, rtol=1e-14)  # 1 m pixels
    # median of {0: w1, 1: w1, 2: w0.5}: s = 0, 1*1 + 2*1 = 3, 2*0.5 + 2*2 = 5; 0.5*5 = 2.5 -> 0 + 2.5/3
    np.testing.assert_allclose(df["median"][0], 2.5 / 3, rtol=1e-14)
    assert df["median"][1] == 9.0
    assert df.attrs["units"] == {"count": "pixels (coverage-weighted)", "sum": "t", "mean": "t", "min": "t",
                                 "max": "t", "std": "t", "variance": "t2", "area": "km2", "n_pixels": "pixels",
                                 "median": "t"}
    center = zonal_stats(tiny, zones, stats=("count", "sum"), coverage="center")
    # box(0, 3, 2.5, 4): centres 0.5, 1.5, 2.5 -> the centre of pixel 2 is on the boundary (outside)
    assert center["count"].tolist()[1:] == [1.0, 12.0, 1.0]  # the quarter box holds pixel 9's centre
    assert center["count"][0] in (2.0, 3.0)


def test_nan_pixels_and_area(tiny):
    da = tiny.copy()
    da[0, 0] = np.nan
    df = zonal_stats(da, zones_of(shapely.box(0, 3, 2.5, 4)), stats=("count", "sum", "area", "n_pixels"))
    assert df["count"][0] == 1.5 and df["sum"][0] == 2.0 and df["n_pixels"][0] == 2
    assert df["area"][0] == pytest.approx(2.5e-6, rel=1e-14)  # NaN pixels still count as area


def test_y_ascending_and_zones_reprojected(tiny, case):
    zones = zones_of(shapely.box(0.3, 0.2, 2.7, 3.1), shapely.Point(2, 2).buffer(1.3))
    want = zonal_stats(tiny, zones, stats=("count", "mean", "max"))
    flipped = tiny.isel(y=slice(None, None, -1))
    pd.testing.assert_frame_equal(zonal_stats(flipped, zones, stats=("count", "mean", "max")), want,
                                  check_exact=False, rtol=1e-13)
    da, _, zones = case
    want = zonal_stats(da, zones, stats=("count", "mean"))
    got = zonal_stats(da, zones.to_crs("EPSG:4326"), stats=("count", "mean"))
    # a round trip through lon/lat moves vertices by ~1e-9 m
    np.testing.assert_allclose(got["count"], want["count"], rtol=1e-6, atol=1e-6)


def test_zones_from_a_file(tmp_path, tiny):
    zones = zones_of(shapely.box(0, 3, 2.5, 4))
    zones.to_file(tmp_path / "z.gpkg")
    df = zonal_stats(tiny, tmp_path / "z.gpkg", stats="count")
    assert df["count"].tolist() == [2.5]


def test_quantile_columns(tiny):
    df = zonal_stats(tiny, zones_of(shapely.box(0, 0, 4, 4)), stats=("median", "quantile"),
                     quantiles=(0.1, 0.125, 0.9))
    assert list(df.columns) == ["zone", "median", "q10", "q12.5", "q90"]
    # equal weights: type-7 quantiles
    np.testing.assert_allclose(df.iloc[0, 1:].to_numpy(float), np.quantile(np.arange(16.0), [0.5, 0.1, 0.125, 0.9]),
                               rtol=1e-14)
    assert quantile_column(0.05) == "q5"


# ------------------------------------------------------------------ chunking, laziness, time
STATS_ALL = ("count", "sum", "mean", "min", "max", "std", "n_pixels", "area", "median")


@settings(max_examples=15, deadline=None)
@given(cy=st.integers(3, 47), cx=st.integers(3, 61), ct=st.integers(1, 3), center=st.booleans())
def test_one_chunk_equals_many(case, cy, cx, ct, center):
    da, _, zones = case
    cov = "center" if center else "fraction"
    one = zonal_stats(da, zones, stats=STATS_ALL, quantiles=(0.25,), coverage=cov)
    many = zonal_stats(da.chunk({"time": ct, "y": cy, "x": cx}), zones, stats=STATS_ALL, quantiles=(0.25,),
                       coverage=cov)
    pd.testing.assert_frame_equal(many, one, check_exact=False, rtol=1e-12, atol=1e-12)


def test_lazy_until_computed(case):
    da, _, zones = case
    lazy_da = da.chunk({"time": -1, "y": 20, "x": 20})
    with raise_if_dask_computes():
        delayed = zonal_stats(lazy_da, zones, stats=STATS_ALL, quantiles=(0.1,), compute=False)
    with raise_if_dask_computes(max_computes=1):
        df = delayed.compute()
    pd.testing.assert_frame_equal(df, zonal_stats(da, zones, stats=STATS_ALL, quantiles=(0.1,)),
                                  check_exact=False, rtol=1e-12)
    with raise_if_dask_computes(max_computes=1):  # compute=True: exactly one compute
        zonal_stats(lazy_da, zones, stats="mean")


def test_chunks_without_polygons_are_not_read(tiny):
    big = xr.concat([tiny] * 1, "y")
    da = big.chunk({"y": 2, "x": 2})
    delayed = zonal_stats(da, zones_of(shapely.box(0.1, 3.1, 0.9, 3.9)), stats="mean", compute=False)
    # one chunk task, no merge: the graph reads one block of the four
    graph = dict(delayed.__dask_graph__())
    chunk_tasks = [k for k in graph if "_chunk_table" in str(k)]
    assert len(chunk_tasks) == 1


def test_3d_rows_equal_2d_slices(case):
    da, _, zones = case
    df = zonal_stats(da.chunk({"time": 1, "y": 25, "x": 30}), zones, stats=STATS_ALL, quantiles=(0.9,),
                     id_column="mine")
    assert len(df) == 3 * len(zones) and list(df.columns[:2]) == ["mine", "time"]
    for t in range(3):
        two = zonal_stats(da.isel(time=t), zones, stats=STATS_ALL, quantiles=(0.9,), id_column="mine")
        got = df[df["time"] == t].drop(columns="time").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, two, check_exact=False, rtol=1e-12)


def test_float32_and_float64_agree(case):
    da, _, zones = case
    a = zonal_stats(da, zones, stats=("mean", "std", "median"))
    b = zonal_stats(da.astype("float64"), zones, stats=("mean", "std", "median"))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


# ------------------------------------------------------------------ rings and bands
def test_rings_are_buffer_differences():
    zones = gpd.GeoDataFrame({"name": ["a", "b"]},
                             geometry=[shapely.box(0, 0, 1000, 500), shapely.Point(5000, 0).buffer(300)], crs=CRS)
    r = rings(zones, width=200, n=5, id_column="name")
    assert list(r.columns) == ["name", "ring", "inner_m", "outer_m", "geometry"]
    assert r["ring"].tolist() == [1, 2, 3, 4, 5] * 2 and r.crs == zones.crs
    assert r["inner_m"].tolist()[:5] == [0, 200, 400, 600, 800] and r["outer_m"].tolist()[:5] == [200, 400, 600,
                                                                                                 800, 1000]
    for i, g in enumerate(zones.geometry):
        for k in range(1, 6):
            inner = g if k == 1 else g.buffer((k - 1) * 200)
            want = g.buffer(k * 200).difference(inner)
            got = r.geometry.iloc[i * 5 + k - 1]
            assert shapely.equals_exact(got, want, tolerance=0) or got.symmetric_difference(want).area < 1e-6
    # the rings tile buffer(1000) minus the polygon
    a = zones.geometry.iloc[0]
    np.testing.assert_allclose(r.geometry.iloc[:5].area.sum(), a.buffer(1000).area - a.area, rtol=1e-12)
    assert rings(zones, 200, 2)["zone"].tolist() == [0, 0, 1, 1]


def test_distance_bands_are_buffers_of_the_union():
    zones = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1500, 0, 2500, 1000),
                                       shapely.box(20000, 0, 21000, 1000)], crs=CRS)
    b = distance_bands(zones, width=1000, n=3)
    assert list(b.columns) == ["band", "inner_m", "outer_m", "geometry"] and b["band"].tolist() == [1, 2, 3]
    u = shapely.union_all(zones.geometry.values)
    for k in range(1, 4):
        want = u.buffer(k * 1000).difference(u if k == 1 else u.buffer((k - 1) * 1000))
        assert b.geometry.iloc[k - 1].symmetric_difference(want).area < 1e-6
    # bands are disjoint: their areas add up to buffer(3 km) minus the union
    np.testing.assert_allclose(b.area.sum(), u.buffer(3000).area - u.area, rtol=1e-12)
    parts = distance_bands(zones, width=1000, n=3, dissolve=False)
    assert set(parts.columns) == {"band", "part", "inner_m", "outer_m", "geometry"}
    assert (parts.geom_type == "Polygon").all()
    assert (parts["band"] == 1).sum() == 2  # the two near boxes share one band-1 part
    np.testing.assert_allclose(parts.area.sum(), b.area.sum(), rtol=1e-12)


# ------------------------------------------------------------------ bad input
def test_bad_input(tiny):
    z = zones_of(shapely.box(0, 0, 2, 2))
    with pytest.raises(ValueError, match="unknown statistic 'mode'"):
        zonal_stats(tiny, z, stats=("mean", "mode"))
    with pytest.raises(ValueError, match="quantiles="):
        zonal_stats(tiny, z, stats=("quantile",))
    with pytest.raises(ValueError, match=r"quantiles must lie in \[0, 1\]"):
        zonal_stats(tiny, z, quantiles=(1.5,))
    with pytest.raises(ValueError, match="coverage must be one of"):
        zonal_stats(tiny, z, coverage="all_touched")
    with pytest.raises(ValueError, match="dimensions 'y' and 'x'"):
        zonal_stats(tiny.rename(y="lat", x="lon"), z)
    with pytest.raises(ValueError, match="extra dimensions"):
        zonal_stats(tiny.expand_dims(band=2, time=3), z)
    with pytest.raises(ValueError, match="no CRS"):
        zonal_stats(tiny.drop_vars("spatial_ref"), z)
    with pytest.raises(TypeError, match="DataArray"):
        zonal_stats(tiny.values, z)
    with pytest.raises(TypeError, match="numeric"):
        zonal_stats(tiny.astype(str), z)
    with pytest.raises(ValueError, match="zones is empty"):
        zonal_stats(tiny, z.iloc[:0])
    with pytest.raises(ValueError, match="Polygon or MultiPolygon.*Point"):
        zonal_stats(tiny, zones_of(shapely.Point(1, 1)))
    with pytest.raises(ValueError, match="zones has no CRS"):
        zonal_stats(tiny, gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]))
    with pytest.raises(ValueError, match="id_column 'nope'"):
        zonal_stats(tiny, z, id_column="nope")
    with pytest.raises(TypeError, match="GeoDataFrame"):
        zonal_stats(tiny, [shapely.box(0, 0, 1, 1)])
    with pytest.raises(ValueError, match="regularly spaced"):
        zonal_stats(tiny.assign_coords(x=[0.5, 1.5, 2.5, 4.0]), z)
    geographic = tiny.rio.write_crs("EPSG:4326")
    with pytest.raises(ValueError, match="'area' needs a projected CRS"):
        zonal_stats(geographic, z.set_crs("EPSG:4326", allow_override=True), stats="area")
    with pytest.raises(ValueError, match="zones has no CRS"):
        rings(gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]))
    with pytest.raises(ValueError, match="width must be positive"):
        rings(z, width=0)
    with pytest.raises(TypeError, match="n must be an integer"):
        rings(z, n=2.5)
    with pytest.raises(ValueError, match="Polygon or MultiPolygon"):
        rings(zones_of(shapely.LineString([(0, 0), (1, 1)])))
    with pytest.raises(ValueError, match="zones is empty"):
        distance_bands(z.iloc[:0])


def test_rings_and_bands_of_lon_lat_zones_are_measured_in_metres_in_their_utm_zone():
    """A mine file in lon/lat (GeoJSON) gives the rings of its UTM projection."""
    utm = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(400_000, 4_350_000, 401_000, 4_350_600)],
                           crs="EPSG:32649")
    lonlat = utm.to_crs("EPSG:4326")
    got, want = rings(lonlat, width=200, n=3), rings(utm, width=200, n=3)
    assert got.crs == utm.crs
    np.testing.assert_allclose(got.area, want.area, rtol=1e-6)
    bands = distance_bands(lonlat, width=1000, n=2)
    assert bands.crs == utm.crs
    np.testing.assert_allclose(bands.area, distance_bands(utm, width=1000, n=2).area, rtol=1e-6)



@pytest.mark.parametrize("chunks", [{"x": 5}, {"y": 4, "x": 5}, {"y": 4}])
def test_grid_aligned_polygons_on_chunk_edges_are_counted_once(chunks):
    """A box whose edges lie on pixel edges that are also chunk edges: the chunk it only
    touches adds nothing (it used to add a strip of the next chunk), and a box touching the
    raster from outside gives count 0 instead of failing."""
    values = np.arange(20 * 24, dtype=np.float64).reshape(20, 24)
    da = xr.DataArray(values, dims=("y", "x"), coords={"y": 20 - np.arange(20) - 0.5,
                                                        "x": np.arange(24) + 0.5}).rio.write_crs("EPSG:32649")
    boxes = gpd.GeoDataFrame(geometry=[shapely.box(5, 14, 9, 18), shapely.box(2, 7, 6, 16),
                                       shapely.box(24, 0, 30, 5)], crs="EPSG:32649")
    want = zonal_stats(da, boxes, stats=("count", "sum"))
    got = zonal_stats(da.chunk(chunks), boxes, stats=("count", "sum"))
    pd.testing.assert_frame_equal(got, want)
    # box(5, 14, 9, 18): columns 5-8, rows 2-5 from the top; 16 whole pixels
    assert want["count"].tolist() == [16.0, 36.0, 0.0]
    assert want["sum"][0] == values[2:6, 5:9].sum()
