"""xarray API of the trend ops: numpy == dask, laziness, chunks, time axes, attrs, cluster."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cubeeco
from cubeeco.ops.trend import decimal_years, ols_predict
from cubeeco.testing.laziness import raise_if_dask_computes
from tests.reference import trend_ref

YEARS = np.arange(2000, 2022)


def _cube(dtype=np.float32, ny=12, nx=10, seed=0, nan_frac=0.1, years=YEARS):
    rng = np.random.default_rng(seed)
    n = len(years)
    data = rng.normal(size=(n, ny, nx)) + 0.05 * (np.asarray(years) - 2000.0)[:, None, None]
    data[rng.random(data.shape) < nan_frac] = np.nan
    data[:, 0, 0] = np.nan  # an all-NaN pixel
    data[:, 0, 1] = 0.25  # a constant pixel
    return xr.DataArray(
        data.astype(dtype),
        dims=("time", "y", "x"),
        coords={"time": years, "y": 100.0 - np.arange(ny), "x": np.arange(nx) * 30.0, "spatial_ref": 0},
        attrs={"units": "1"},
        name="ndvi",
    )


def _datetime_years(years=YEARS):
    return np.array([f"{y}-01-01" for y in years], dtype="datetime64[ns]")


OPS = {
    "trend": lambda da, **kw: cubeeco.trend(da, **kw),
    "mann_kendall": lambda da, **kw: cubeeco.mann_kendall(da, **kw),
    "hamed_rao": lambda da, **kw: cubeeco.mann_kendall(da, method="hamed_rao", **kw),
    "yue_wang": lambda da, **kw: cubeeco.mann_kendall(da, method="yue_wang", lag=3, **kw),
    "sen_slope": lambda da, **kw: cubeeco.sen_slope(da, alpha=0.05, **kw),
    "ols_trend": lambda da, **kw: cubeeco.ols_trend(da, **kw),
    "ols_predict": lambda da, **kw: ols_predict(da, 2010, **kw),
    "sen_mann_kendall": lambda da, **kw: cubeeco.sen_mann_kendall(da, **kw),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sen_mann_kendall_equals_sen_slope_and_mann_kendall(dtype):
    # the one-pass fast path must agree bit for bit with the two separate ops
    da = _cube(dtype=dtype, ny=20, nx=15).chunk({"time": -1, "y": 7})
    fast = cubeeco.sen_mann_kendall(da).compute()
    mk = cubeeco.mann_kendall(da).compute()
    xr.testing.assert_identical(fast.slope.drop_attrs(), cubeeco.sen_slope(da).compute().drop_attrs())
    for name in ("s", "var_s", "z", "p"):
        xr.testing.assert_identical(fast[name], mk[name])
    assert fast.slope.dtype == dtype and fast.slope.attrs["units"].endswith("yr-1")


@pytest.mark.parametrize("name", list(OPS))
def test_one_chunk_equals_many_chunks_equals_numpy(name):
    da = _cube()
    op = OPS[name]
    expected = op(da)
    one = op(da.chunk({"time": -1, "y": -1, "x": -1}))
    many = op(da.chunk({"time": -1, "y": 5, "x": 3}))
    xr.testing.assert_identical(one.compute(), expected)
    xr.testing.assert_identical(many.compute(), expected)


@pytest.mark.parametrize("name", list(OPS))
def test_ops_are_lazy(name):
    da = _cube().chunk({"time": -1, "y": 4})
    with raise_if_dask_computes():
        out = OPS[name](da)
    variables = out.data_vars.values() if isinstance(out, xr.Dataset) else [out, *out.coords.values()]
    assert any(v.chunks is not None for v in variables)


@pytest.mark.parametrize("name", list(OPS))
def test_two_builds_give_identical_dask_keys(name):
    da = _cube().chunk({"time": -1, "y": 4})
    a, b = OPS[name](da), OPS[name](da)
    assert set(dict(a.__dask_graph__())) == set(dict(b.__dask_graph__()))
    assert a.__dask_tokenize__() == b.__dask_tokenize__()


def test_building_trend_graphs_compiles_no_kernel():
    from tests.test_indices import run_in_fresh_interpreter

    out = run_in_fresh_interpreter("""
        import dask
        from cubeeco.kernels import trend as kt
        from cubeeco.kernels._gufunc import LazyGufunc
        from tests.test_trend_ops import OPS, _cube
        da = _cube().chunk({"time": -1, "y": 4})
        dask.base.tokenize(*[op(da) for op in OPS.values()])
        gufuncs = [v for v in vars(kt).values() if isinstance(v, LazyGufunc)]
        compiled = [g.__name__ for g in gufuncs if g.is_compiled]
        assert gufuncs and not compiled, compiled
        print("ok", len(gufuncs))
    """)
    assert out.startswith("ok")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_match_after_compute(dtype):
    da = _cube(dtype).chunk({"time": -1, "y": 6})
    ds = cubeeco.trend(da)
    done = ds.compute()
    for k in ds.data_vars:
        assert ds[k].dtype == done[k].dtype, k
    assert ds.slope.dtype == dtype and ds.p.dtype == dtype
    assert ds.intercept.dtype == np.float64 and ds.ols_intercept.dtype == np.float64
    assert ds.trend.dtype == np.int8 and ds.significance.dtype == np.int8 and ds.n_valid.dtype == np.int32
    s = cubeeco.sen_slope(da)
    assert s.dtype == s.compute().dtype == dtype
    mk = cubeeco.mann_kendall(da)
    assert all(mk[k].dtype == mk[k].compute().dtype for k in mk.data_vars)


def test_integer_input_is_promoted():
    da = (_cube(np.float64).fillna(0) * 100).astype(np.int16)
    assert cubeeco.sen_slope(da).dtype == np.float32
    assert cubeeco.sen_slope(da.astype(np.int64)).dtype == np.float64


def test_split_time_chunks_raise():
    da = _cube().chunk({"time": 11})
    for op in OPS.values():
        with pytest.raises(ValueError, match=r"\.chunk\("):
            op(da)


def test_datetime_and_integer_years_agree():
    da = _cube(np.float64)
    dt = da.assign_coords(time=_datetime_years())
    a, b = cubeeco.trend(da), cubeeco.trend(dt)
    xr.testing.assert_identical(a, b)
    # float years, too
    c = cubeeco.trend(da.assign_coords(time=YEARS.astype(float)))
    xr.testing.assert_identical(a, c)


def test_decimal_years():
    t = np.array(["2001-01-01", "2001-07-02T12:00", "2000-07-02", "2000-12-31T12:00", "NaT"], dtype="datetime64[ns]")
    got = decimal_years(t)
    assert got[0] == 2001.0
    assert got[1] == 2001.5  # 182.5 of 365 days
    assert got[2] == 2000 + 183 / 366  # leap year
    assert got[3] == 2000 + 365.5 / 366
    assert np.isnan(got[4])
    assert decimal_years(np.array([1990, 2000])).dtype == np.float64


def test_irregular_datetime_axis_matches_reference():
    dates = np.array(["2000-03-01", "2001-07-15", "2003-01-01", "2003-11-30", "2006-06-06", "2010-01-01"],
                     dtype="datetime64[ns]")  # fmt: skip
    da = _cube(np.float64, years=np.arange(len(dates)), nan_frac=0.0).assign_coords(time=dates)
    ds = cubeeco.trend(da)
    t = decimal_years(dates)
    for iy, ix in [(2, 3), (5, 7), (0, 1)]:
        ref = trend_ref.trend(da.values[:, iy, ix], t)
        assert float(ds.slope[iy, ix]) == pytest.approx(ref["slope"], rel=1e-12, abs=1e-15)
        assert float(ds.s[iy, ix]) == ref["s"]


def test_unsorted_or_duplicate_time_raises():
    da = _cube()
    with pytest.raises(ValueError, match="sortby"):
        cubeeco.trend(da.isel(time=[3, 1, 2, 4]))
    with pytest.raises(ValueError, match="strictly increasing"):
        cubeeco.sen_slope(da.isel(time=[1, 1, 2, 4]))


def test_argument_errors():
    da = _cube()
    with pytest.raises(ValueError, match="alpha"):
        cubeeco.trend(da, alpha=1.5)
    with pytest.raises(ValueError, match="method"):
        cubeeco.mann_kendall(da, method="sen")
    with pytest.raises(ValueError, match="lag"):
        cubeeco.mann_kendall(da, method="hamed_rao", lag=0)
    with pytest.raises(ValueError, match="no dimension 'year'"):
        cubeeco.sen_slope(da, dim="year")
    with pytest.raises(TypeError, match="DataArray"):
        cubeeco.sen_slope(da.values)


def test_outputs_keep_coordinates_and_carry_attrs():
    da = _cube()
    ds = cubeeco.trend(da)
    assert set(ds.dims) == {"y", "x"}
    for c in ("x", "y", "spatial_ref"):
        xr.testing.assert_identical(ds[c], da[c])
    assert "time" not in ds.coords
    assert ds.slope.attrs["units"] == "1 yr-1"
    assert ds.ols_slope.attrs["units"] == "1 yr-1"
    assert ds.intercept.attrs["units"] == "1"
    assert ds.trend.attrs["flag_values"] == [-1, 0, 1]
    assert ds.trend.attrs["nodata"] == cubeeco.ops.trend.NODATA_INT8
    for k in ds.data_vars:
        assert "long_name" in ds[k].attrs, k
    nounits = cubeeco.sen_slope(da.drop_attrs())
    assert "units" not in nounits.attrs


def test_policy_pixels():
    ds = cubeeco.trend(_cube())
    allnan = ds.isel(y=0, x=0)
    assert int(allnan.n_valid) == 0 and np.isnan(float(allnan.slope)) and int(allnan.trend) == -128
    const = ds.isel(y=0, x=1)
    assert float(const.slope) == 0 and float(const.p) == 1 and int(const.trend) == 0
    assert int(const.n_valid) == len(YEARS)


def test_modified_tests_match_kernel_and_reference():
    da = _cube(np.float64, nan_frac=0.0)
    for method in ("hamed_rao", "yue_wang"):
        ds = cubeeco.mann_kendall(da, method=method)
        for iy, ix in [(3, 4), (7, 2)]:
            ref = trend_ref.mann_kendall(da.values[:, iy, ix], YEARS, method=method)
            assert float(ds.var_s[iy, ix]) == pytest.approx(ref["var_s"], rel=1e-12)
            assert float(ds.p[iy, ix]) == pytest.approx(ref["p"], rel=1e-9)
        assert ds.attrs["method"] == f"Mann-Kendall ({method})"


def test_sen_slope_bounds_as_coordinates():
    da = _cube(np.float64)
    s = cubeeco.sen_slope(da, alpha=0.1)
    full = cubeeco.trend(da, alpha=0.1)
    xr.testing.assert_equal(s.drop_vars(["slope_low", "slope_high"]), full.slope.drop_attrs().rename("slope"))
    np.testing.assert_array_equal(s.slope_low.values, full.slope_low.values)
    np.testing.assert_array_equal(s.slope_high.values, full.slope_high.values)
    assert np.all((s.slope_low <= s) | s.isnull())


def test_ols_predict_undisturbed_state():
    da = _cube(np.float64, nan_frac=0.0)
    end = xr.DataArray(np.where(np.arange(12)[:, None] % 2 == 0, 2008.0, np.nan) * np.ones((1, 10)), dims=("y", "x"))
    pred = ols_predict(da.chunk({"y": 4}), end)
    assert pred.dims == da.dims and pred.chunks is not None
    got = pred.compute()
    for iy, ix in [(0, 3), (2, 5), (1, 4)]:
        ref = trend_ref.ols_predict(da.values[:, iy, ix], YEARS, float(end[iy, ix]), YEARS)
        np.testing.assert_allclose(got.values[:, iy, ix], ref, rtol=1e-10, atol=1e-12)
    at = ols_predict(da, np.datetime64("2008-01-01"), at=[2025, 2030])
    assert list(at.time.values) == [2025, 2030]
    ref = trend_ref.ols_predict(da.values[:, 4, 4], YEARS, 2008.0, [2025.0, 2030.0])
    np.testing.assert_allclose(at.values[:, 4, 4], ref, rtol=1e-10)


_chunk = st.integers(1, 12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cy=_chunk, cx=st.integers(1, 10))
def test_random_chunkings_agree(cy, cx):
    da = _cube(seed=7)
    expected = cubeeco.trend(da)
    got = cubeeco.trend(da.chunk({"time": -1, "y": cy, "x": cx})).compute()
    xr.testing.assert_identical(got, expected)


def test_graph_is_one_task_per_chunk_and_output():
    da = _cube().chunk({"time": -1, "y": 4, "x": 5})  # 3 x 2 chunks
    ds = cubeeco.trend(da)
    n_tasks = len(dict(ds.__dask_graph__()))
    # per chunk: input, its transpose, the kernel call, and per output a getter and a
    # (fusable) transpose; plus the time-stamp array.  Linear in chunks, no rechunk.
    assert n_tasks <= 6 * (3 + 2 * len(ds.data_vars)) + 4


@pytest.mark.timeout(300)
def test_distributed_worker_processes():
    """Kernels reach worker processes by reference and compile there (no closures).

    Uses the OLS kernel: every trend kernel is the same kind of object (a module-level
    LazyGufunc behind a module-level wrapper), and OLS compiles in about a second,
    while each worker would spend 5-15 s compiling a Sen kernel.
    """
    distributed = pytest.importorskip("distributed")
    da = _cube(np.float64, ny=8, nx=6).chunk({"time": -1, "y": 2})
    expected = cubeeco.ols_trend(da.compute())
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        got = cubeeco.ols_trend(da).compute()
        pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2 and __import__("os").getpid() not in pids
    xr.testing.assert_identical(got, expected)
