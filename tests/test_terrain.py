"""slope_aspect against a plain numpy Horn reference; distance_to against shapely distances."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from cubeeco.ops.terrain import distance_to, slope_aspect

shapely = pytest.importorskip("shapely")


def _dem(z, res=30.0, x0=500_000.0, y0=4_000_000.0):
    ny, nx = z.shape
    return xr.DataArray(z, dims=("y", "x"),
                        coords={"y": y0 - res * (np.arange(ny) + 0.5), "x": x0 + res * (np.arange(nx) + 0.5)},
                        attrs={"units": "m"})


def _horn_reference(z, res):
    """Horn (1981) written out cell by cell on a north-up grid (rows go south)."""
    ny, nx = z.shape
    slope = np.full(z.shape, np.nan)
    aspect = np.full(z.shape, np.nan)
    for r in range(1, ny - 1):
        for c in range(1, nx - 1):
            w = z[r - 1:r + 2, c - 1:c + 2]
            if np.isnan(w[1, 1]):
                continue
            east = ((w[0, 2] + 2 * w[1, 2] + w[2, 2]) - (w[0, 0] + 2 * w[1, 0] + w[2, 0])) / (8 * res)
            north = ((w[0, 0] + 2 * w[0, 1] + w[0, 2]) - (w[2, 0] + 2 * w[2, 1] + w[2, 2])) / (8 * res)
            slope[r, c] = np.degrees(np.arctan(np.hypot(east, north)))
            if east != 0 or north != 0:
                aspect[r, c] = np.degrees(np.arctan2(-east, -north)) % 360
    return slope, aspect


def test_slope_aspect_vs_reference_and_chunks():
    rng = np.random.default_rng(0)
    z = np.cumsum(np.cumsum(rng.normal(size=(37, 41)), 0), 1) + 1300.0
    z[20, 20] = np.nan
    dem = _dem(z)
    ref_s, ref_a = _horn_reference(z, 30.0)
    one = slope_aspect(dem)
    np.testing.assert_allclose(one.slope.values, ref_s, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(one.aspect.values, ref_a, rtol=1e-12, atol=1e-9, equal_nan=True)
    assert np.isnan(one.slope.values[19:22, 19:22]).all()
    assert np.isnan(one.slope.values[0]).all() and np.isnan(one.slope.values[:, -1]).all()
    for chunks in ({"y": 5, "x": 7}, {"y": 16, "x": 41}, {"y": 1, "x": 3}):
        lazy = slope_aspect(dem.chunk(chunks))
        assert lazy.slope.chunks is not None
        np.testing.assert_array_equal(lazy.slope.values, one.slope.values)
        np.testing.assert_array_equal(lazy.aspect.values, one.aspect.values)
    assert one.slope.attrs["units"] == "degree"
    f32 = slope_aspect(dem.astype(np.float32).chunk({"y": 8}))
    assert f32.slope.dtype == np.float32 == f32.slope.compute().dtype


@pytest.mark.parametrize("gx,gy,expected", [(-1, 0, 90.0), (1, 0, 270.0), (0, -1, 0.0), (0, 1, 180.0),
                                            (-1, -1, 45.0)])
def test_aspect_planes(gx, gy, expected):
    """A plane z = gx * east + gy * north: aspect is the downslope azimuth, slope atan(|grad|)."""
    dem = _dem(np.zeros((6, 6)))
    e, n = np.meshgrid(dem.x.values, dem.y.values)
    dem = dem.copy(data=0.1 * (gx * e + gy * n))
    out = slope_aspect(dem)
    np.testing.assert_allclose(out.aspect.values[1:-1, 1:-1], expected, atol=1e-9)
    np.testing.assert_allclose(out.slope.values[1:-1, 1:-1], np.degrees(np.arctan(0.1 * np.hypot(gx, gy))))
    flat = slope_aspect(_dem(np.ones((5, 5))))
    assert np.isnan(flat.aspect.values).all() and (flat.slope.values[1:-1, 1:-1] == 0).all()


def test_slope_aspect_errors():
    with pytest.raises(ValueError, match="2-D"):
        slope_aspect(_dem(np.zeros((4, 4))).expand_dims(time=2))
    with pytest.raises(ValueError, match="geographic"):
        import rioxarray  # noqa: F401
        slope_aspect(_dem(np.zeros((4, 4))).rio.write_crs("EPSG:4326"))


def test_distance_to_vs_shapely():
    rng = np.random.default_rng(1)
    like = _dem(np.zeros((40, 50)), res=30.0)
    polys = [shapely.Point(500_000 + rng.uniform(0, 1500), 4_000_000 - rng.uniform(0, 1200)).buffer(
        rng.uniform(20, 120), quad_segs=8) for _ in range(5)]
    polys.append(shapely.box(500_900, 3_999_000, 501_200, 3_999_050))
    d = distance_to(polys, like)
    xx, yy = np.meshgrid(like.x.values, like.y.values)
    union = shapely.union_all(polys)
    ref = shapely.distance(shapely.points(xx, yy), union)
    np.testing.assert_allclose(d.values, ref, rtol=1e-6, atol=1e-3)
    inside = shapely.contains_xy(union, xx, yy)
    assert inside.any() and (d.values[inside] == 0).all()
    assert d.attrs["units"] == "m"
    # chunked: lazy, same values
    lazy = distance_to(polys, like.chunk({"y": 7, "x": 13}))
    assert lazy.chunks is not None
    np.testing.assert_array_equal(lazy.values, d.values)
    # random points (pixel centres) checked one by one
    for i, j in rng.integers(0, [40, 50], size=(20, 2)):
        p = shapely.Point(like.x.values[j], like.y.values[i])
        assert d.values[i, j] == pytest.approx(min(p.distance(g) for g in polys), rel=1e-6, abs=1e-3)


def test_distance_to_geodataframe_crs():
    gpd = pytest.importorskip("geopandas")
    import rioxarray  # noqa: F401

    like = _dem(np.zeros((10, 10))).rio.write_crs("EPSG:32649")
    poly = shapely.box(500_100, 3_999_800, 500_200, 3_999_900)
    zones = gpd.GeoDataFrame(geometry=[poly], crs="EPSG:32649").to_crs("EPSG:4326")
    d = distance_to(zones, like)
    xx, yy = np.meshgrid(like.x.values, like.y.values)
    np.testing.assert_allclose(d.values, shapely.distance(shapely.points(xx, yy), poly), atol=0.05)
    with pytest.raises(ValueError, match="no CRS"):
        distance_to(gpd.GeoDataFrame(geometry=[poly]), like)


def test_lazy_graph_build():
    from cubeeco.testing.laziness import raise_if_dask_computes

    dem = _dem(np.arange(400.0).reshape(20, 20)).chunk({"y": 8, "x": 8})
    with raise_if_dask_computes():
        out = slope_aspect(dem)
        d = distance_to([shapely.box(500_100, 3_999_700, 500_200, 3_999_800)], dem)
    assert out.slope.chunks is not None and d.chunks is not None
