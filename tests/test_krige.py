"""cubeeco.ops.krige against pykrige's OrdinaryKriging called directly (its peer)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from pykrige.ok import OrdinaryKriging

from cubeeco.ops.krige import PARAMETER_NAMES, fit_variogram, krige
from cubeeco.testing.laziness import raise_if_dask_computes

TOL = 1e-10


def _like(ny=23, nx=31, res=100.0, x0=500_000.0, y0=4_400_000.0, crs="EPSG:32649"):
    import rioxarray  # noqa: F401

    da = xr.DataArray(np.zeros((ny, nx), np.float32), dims=("y", "x"),
                      coords={"y": y0 - (np.arange(ny) + 0.5) * res, "x": x0 + (np.arange(nx) + 0.5) * res})
    return da.rio.write_crs(crs) if crs else da


def _points(n, rng, like):
    x = rng.uniform(like.x.min() - 200, like.x.max() + 200, n)
    y = rng.uniform(like.y.min() - 200, like.y.max() + 200, n)
    return np.column_stack([x, y])


def _direct(xy, z, like, model, params=None):
    ok = OrdinaryKriging(xy[:, 0], xy[:, 1], z, variogram_model=model, variogram_parameters=params)
    v, s = ok.execute("grid", like.x.values, like.y.values)
    return ok, np.ma.getdata(v), np.ma.getdata(s)


FIXED = {
    "spherical": {"psill": 40.0, "range": 1500.0, "nugget": 2.0},
    "exponential": {"psill": 25.0, "range": 900.0, "nugget": 0.5},
    "gaussian": {"psill": 30.0, "range": 1200.0, "nugget": 1.0},
    "linear": {"slope": 0.02, "nugget": 1.0},
    "power": {"scale": 0.5, "exponent": 1.3, "nugget": 0.2},
}


@pytest.mark.parametrize("model", sorted(FIXED))
def test_given_variogram_equals_pykrige_one_and_many_chunks(model):
    rng = np.random.default_rng(1)
    like = _like()
    xy = _points(25, rng, like)
    z = rng.normal(300, 40, 25)
    p = FIXED[model]
    kw = dict(psill=p["psill"], range=p["range"], nugget=p["nugget"]) if "psill" in p else \
        dict(variogram_parameters=p)
    _, v, s = _direct(xy, z, like, model, p)
    for target in (like, like.chunk({"y": -1, "x": -1}), like.chunk({"y": 7, "x": 10})):
        out = krige(xy, z, target, model=model, **kw)
        np.testing.assert_allclose(out.value.values, v, rtol=0, atol=TOL)
        np.testing.assert_allclose(out.variance.values, s, rtol=0, atol=TOL * max(1.0, np.abs(s).max()))
        assert out.attrs["variogram"] == "given"
        for k in PARAMETER_NAMES[model]:
            assert out.attrs[k] == pytest.approx(p[k])


@pytest.mark.parametrize("model", ["spherical", "exponential", "gaussian", "linear", "power"])
def test_fitted_variogram_equals_pykrige_fit(model):
    rng = np.random.default_rng(2)
    like = _like(15, 19)
    xy = _points(30, rng, like)
    z = 100 + np.sin(xy[:, 0] / 700) * 30 + rng.normal(0, 3, 30)
    ok, v, s = _direct(xy, z, like, model)
    out = krige(xy, z, like.chunk({"y": 4, "x": 6}), model=model)
    assert out.attrs["variogram"] == "fitted"
    np.testing.assert_allclose([out.attrs[k] for k in PARAMETER_NAMES[model]], ok.variogram_model_parameters,
                               rtol=1e-12)
    np.testing.assert_allclose(out.value.values, v, rtol=0, atol=TOL)
    np.testing.assert_allclose(out.variance.values, s, rtol=0, atol=TOL * max(1.0, np.abs(s).max()))
    # the recorded parameters reproduce the run
    names = PARAMETER_NAMES[model]
    again = krige(xy, z, like, model=model, variogram_parameters={k: out.attrs[k] for k in names})
    np.testing.assert_allclose(again.value.values, out.value.values, rtol=0, atol=TOL)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 25), cy=st.integers(1, 12), cx=st.integers(1, 12), seed=st.integers(0, 2**16),
       nan_share=st.floats(0, 0.5))
def test_random_points_nans_and_chunkings(n, cy, cx, seed, nan_share):
    rng = np.random.default_rng(seed)
    like = _like(11, 13)
    xy = _points(n, rng, like)
    z = rng.normal(50, 10, n)
    z[rng.random(n) < nan_share] = np.nan
    keep = np.isfinite(z)
    p = FIXED["spherical"]
    if keep.sum() < 3:
        with pytest.raises(ValueError, match=f"got {int(keep.sum())}"):
            krige(xy, z, like, psill=p["psill"], range=p["range"], nugget=p["nugget"])
        return
    _, v, s = _direct(xy[keep], z[keep], like, "spherical", p)
    one = krige(xy, z, like, psill=p["psill"], range=p["range"], nugget=p["nugget"])
    many = krige(xy, z, like.chunk({"y": cy, "x": cx}), psill=p["psill"], range=p["range"], nugget=p["nugget"])
    assert one.attrs["n_points"] == int(keep.sum())
    np.testing.assert_allclose(one.value.values, v, rtol=0, atol=TOL)
    np.testing.assert_allclose(many.value.values, v, rtol=0, atol=TOL)
    np.testing.assert_allclose(many.variance.values, s, rtol=0, atol=TOL * 100)


def test_exact_at_data_points_and_dtype():
    like = _like(5, 6)
    xy = np.column_stack([like.x.values[[0, 2, 5, 3]], like.y.values[[0, 4, 1, 2]]])
    z = np.array([1.0, 5.0, 3.0, 2.0])
    out = krige(xy, z, like.chunk({"y": 2, "x": 2}), model="linear", variogram_parameters={"slope": 1.0, "nugget": 0.0})
    assert out.value.dtype == out.value.compute().dtype == np.float64
    assert out.value.values[0, 0] == pytest.approx(1.0)
    assert out.value.values[4, 2] == pytest.approx(5.0)
    assert abs(out.variance.values[0, 0]) < 1e-9


def test_dim_slices_each_fitted_and_units():
    rng = np.random.default_rng(3)
    like = _like(9, 10)
    xy = _points(20, rng, like)
    vals = np.column_stack([rng.normal(10, 2, 20), rng.normal(500, 50, 20), rng.normal(0, 1, 20)])
    vals[3, 1] = np.nan
    da = xr.DataArray(vals, dims=("point", "year"), coords={"year": [2001, 2002, 2003]},
                      attrs={"units": "g C m-2 yr-1"})
    out = krige(xy, da, like.chunk({"y": 5}), dim="year")
    assert out.value.dims == ("year", "y", "x") and list(out.year.values) == [2001, 2002, 2003]
    assert out.value.attrs["units"] == "g C m-2 yr-1" and "g C m-2 yr-1" in out.variance.attrs["units"]
    assert out.attrs["n_points"] == [20, 19, 20]
    for j in range(3):
        keep = np.isfinite(vals[:, j])
        ok, v, s = _direct(xy[keep], vals[keep, j], like, "spherical")
        assert out.attrs["psill"][j] == pytest.approx(ok.variogram_model_parameters[0], rel=1e-12)
        np.testing.assert_allclose(out.value.values[j], v, rtol=0, atol=TOL * 100)


def test_lazy_for_dask_like():
    rng = np.random.default_rng(4)
    like = _like(40, 40).chunk({"y": 16, "x": 16})
    xy = _points(10, rng, like)
    with raise_if_dask_computes():
        out = krige(xy, rng.normal(0, 1, 10), like)
    assert out.value.chunks == ((16, 16, 8), (16, 16, 8))


def test_geodataframe_points_are_reprojected():
    gpd = pytest.importorskip("geopandas")
    rng = np.random.default_rng(5)
    like = _like(8, 9)
    xy = _points(12, rng, like)
    z = rng.normal(0, 1, 12)
    gdf = gpd.GeoDataFrame({"v": z}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:32649")
    p = FIXED["exponential"]
    a = krige(gdf.to_crs("EPSG:4326"), z, like, model="exponential", **p)
    b = krige(xy, z, like, model="exponential", **p)
    np.testing.assert_allclose(a.value.values, b.value.values, rtol=0, atol=1e-6)


def test_bad_input():
    rng = np.random.default_rng(6)
    like = _like(4, 4)
    xy = _points(5, rng, like)
    z = rng.normal(0, 1, 5)
    with pytest.raises(ValueError, match="missing \\['range', 'nugget'\\]"):
        krige(xy, z, like, psill=1.0)
    with pytest.raises(ValueError, match="got 2"):
        krige(xy, np.array([1.0, 2.0, np.nan, np.nan, np.nan]), like)
    with pytest.raises(ValueError, match="geographic"):
        krige(xy, z, _like(4, 4, res=0.01, x0=110.0, y0=39.0, crs="EPSG:4326"))
    with pytest.raises(ValueError, match="model must be one of"):
        krige(xy, z, like, model="cubic")
    with pytest.raises(ValueError, match="shape \\(n, 2\\)"):
        krige(xy[:, :1], z, like)
    with pytest.raises(ValueError, match="4 point"):
        krige(xy, z[:4], like)
    with pytest.raises(ValueError, match="constant"):
        krige(xy, np.ones(5), like)
    with pytest.raises(ValueError, match="variogram_parameters="):
        krige(xy, z, like, model="linear", psill=1.0, range=2.0, nugget=0.0)
    with pytest.raises(ValueError, match="'y' dimension"):
        krige(xy, z, xr.DataArray(np.zeros(3), dims="t"))
    with pytest.raises(TypeError, match="DataArray"):
        krige(xy, z, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        krige(np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0]]), [1.0, 2.0, 3.0], like)


def test_fit_variogram_model_object_matches_krige():
    rng = np.random.default_rng(7)
    like = _like(6, 7)
    xy = _points(15, rng, like)
    z = rng.normal(5, 1, 15)
    km = fit_variogram(xy, z, model="gaussian")
    out = krige(xy, z, like, model="gaussian")
    np.testing.assert_allclose(km.grid(like.y.values, like.x.values)[0], out.value.values, rtol=0, atol=TOL)


def test_dual_weights_equal_pykrige():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 20_000, (200, 2))
    z = 300 + np.sin(xy[:, 0] / 3000) * 50 + rng.normal(0, 5, 200)
    km = fit_variogram(xy, z, model="exponential")
    tx, ty = rng.uniform(-1000, 21_000, 3000), rng.uniform(-1000, 21_000, 3000)
    tx[:5], ty[:5] = xy[:5, 0], xy[:5, 1]           # at data points: pykrige's exact values
    want, want_s = km.pykrige().execute("points", tx, ty)
    got, none = km.predict(tx, ty, variance=False)
    assert none is None
    np.testing.assert_allclose(got, np.ma.getdata(want), rtol=1e-10, atol=1e-9)
    v, s = km.predict(tx, ty)
    np.testing.assert_allclose(v, np.ma.getdata(want), rtol=0, atol=1e-10)
    np.testing.assert_allclose(s, np.ma.getdata(want_s), rtol=0, atol=1e-8)
    np.testing.assert_allclose(got[:5], z[:5], rtol=1e-12)
    # the solved system is cached, never pickled
    import pickle

    assert "_system" in km.__dict__ and "_system" not in pickle.loads(pickle.dumps(km)).__dict__
