"""validate() against scipy/numpy directly; sample_points() against plain indexing."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from cubeeco.ops.validate import STATISTICS, sample_points, validate
from cubeeco.testing.laziness import raise_if_dask_computes


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(3, 60), st.floats(0.0, 0.5))
def test_validate_matches_scipy_numpy(seed, n, nan_share):
    rng = np.random.default_rng(seed)
    obs = rng.normal(35, 10, n)  # field NPP, g C m-2 month-1
    pred = 0.8 * obs + rng.normal(5, 6, n)
    pred[rng.random(n) < nan_share] = np.nan
    ok = np.isfinite(pred) & np.isfinite(obs)
    if ok.sum() < 3:
        with pytest.raises(ValueError, match="at least 3"):
            validate(pred, obs)
        return
    got = validate(pred, obs)
    assert tuple(got) == STATISTICS
    p, o = pred[ok], obs[ok]
    r, pv = stats.pearsonr(p, o)
    assert got["n"] == ok.sum()
    assert got["r"] == pytest.approx(r, rel=1e-12) and got["r2"] == pytest.approx(r * r, rel=1e-12)
    assert got["p_value"] == pytest.approx(pv, rel=1e-9, abs=1e-300)
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((p - o) ** 2)), rel=1e-12)
    assert got["bias"] == pytest.approx(np.mean(p - o), rel=1e-12, abs=1e-12)
    assert got["mae"] == pytest.approx(np.mean(np.abs(p - o)), rel=1e-12)
    # Eq. 8 of seed 001 written out
    eq8 = np.sum((o - o.mean()) * (p - p.mean())) / np.sqrt(np.sum((o - o.mean()) ** 2) * np.sum((p - p.mean()) ** 2))
    assert got["r"] == pytest.approx(eq8, rel=1e-10)


def test_validate_inputs_and_edge_cases():
    da = xr.DataArray([1.0, 2.0, 3.0, 4.0], dims="point")
    out = validate(da, [1.0, 2.0, 3.0, 5.0])
    assert out["n"] == 4 and 0.9 < out["r"] < 1.0 and out["bias"] == pytest.approx(-0.25)
    perfect = validate([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert perfect["r"] == pytest.approx(1.0) and perfect["rmse"] == 0.0
    const = validate([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])  # r undefined, errors still defined
    assert np.isnan(const["r"]) and np.isnan(const["p_value"]) and const["rmse"] == pytest.approx(np.sqrt(2 / 3))
    with pytest.raises(ValueError, match="pair up"):
        validate([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="only 2 pair"):
        validate([1.0, 2.0, np.nan], [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="predicted must be numbers"):
        validate(["a", "b", "c"], [1.0, 2.0, 3.0])
    assert validate([1.0, 2.0], [2.0, 1.0], min_points=2)["n"] == 2


def raster(ny=5, nx=6, nt=2):
    v = np.arange(nt * ny * nx, dtype=np.float32).reshape(nt, ny, nx)
    return xr.DataArray(v, dims=("month", "y", "x"), name="npp", attrs={"units": "g C m-2 month-1"},
                        coords={"month": [7, 8], "y": 4_350_000.0 - 30.0 * np.arange(ny) - 15.0,
                                "x": 400_000.0 + 30.0 * np.arange(nx) + 15.0})


def test_sample_points_nearest_pixel_array_and_dask():
    da = raster()
    # pixel centres, points inside pixels, a point on the grid edge and two outside
    pts = np.array([[400_015.0, 4_349_985.0],      # pixel (0, 0) centre
                    [400_044.0, 4_349_950.0],      # inside pixel (1, 1)
                    [400_179.9, 4_349_850.1],      # near the far corner: pixel (4, 5)
                    [400_181.0, 4_349_985.0],      # 1 m east of the grid: NaN
                    [399_000.0, 4_349_000.0]])     # far outside: NaN
    got = sample_points(da, pts)
    assert got.dims == ("month", "point") and got.attrs["units"] == "g C m-2 month-1"
    v = da.values
    np.testing.assert_array_equal(got.values[:, :3], np.stack([v[:, 0, 0], v[:, 1, 1], v[:, 4, 5]], axis=1))
    assert np.isnan(got.values[:, 3:]).all()
    np.testing.assert_array_equal(got.point_x, pts[:, 0])
    np.testing.assert_array_equal(got.x.values[:3], da.x.values[[0, 1, 5]])
    with raise_if_dask_computes():
        lazy = sample_points(da.chunk(y=2, x=4), pts)
    xr.testing.assert_identical(lazy.compute(), got)
    # against xarray's own nearest selection for points on the grid
    rng = np.random.default_rng(1)
    inside = np.column_stack([rng.uniform(400_000.0, 400_180.0, 20), rng.uniform(4_349_850.0, 4_350_000.0, 20)])
    want = da.sel(x=xr.DataArray(inside[:, 0], dims="point"), y=xr.DataArray(inside[:, 1], dims="point"),
                  method="nearest")
    np.testing.assert_array_equal(sample_points(da, inside).values, want.values)


def test_sample_points_geodataframe_and_validate_together():
    gpd = pytest.importorskip("geopandas")
    import rioxarray  # noqa: F401  (registers .rio)
    from shapely.geometry import Point, box

    da = raster().isel(month=0, drop=True).rio.write_crs("EPSG:32649")
    pts = gpd.GeoDataFrame({"field_npp": [0.5, 7.5, 13.0, 20.0]},
                           geometry=[Point(400_015, 4_349_985), Point(400_045, 4_349_955),
                                     Point(400_075, 4_349_925), Point(400_105, 4_349_895)],
                           crs="EPSG:32649", index=[10, 11, 12, 13])
    got = sample_points(da, pts)
    assert got.dims == ("point",) and got.point.values.tolist() == [10, 11, 12, 13]
    np.testing.assert_array_equal(got.values, [da.values[i, i] for i in range(4)])
    res = validate(got, pts["field_npp"])
    assert res["n"] == 4 and res["r"] > 0.99
    with pytest.raises(ValueError, match="to_crs"):
        sample_points(da, pts.to_crs("EPSG:4326"))
    with pytest.raises(ValueError, match="Point geometries"):
        sample_points(da, gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs="EPSG:32649"))
    with pytest.raises(ValueError, match=r"\(n, 2\) array"):
        sample_points(da, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="no dimension 'lon'"):
        sample_points(da, np.zeros((1, 2)), x="lon")
    with pytest.raises(TypeError, match="xarray.DataArray"):
        sample_points(da.values, np.zeros((1, 2)))
