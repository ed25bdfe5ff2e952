"""Pettitt change points (kernel vs reference, xarray op), split trends, and a synthetic check."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from cubeeco.kernels import changepoint as kc
from cubeeco.kernels import trend as kt
from cubeeco.ops.changepoint import CHANGE_YEAR_NODATA, pettitt, split_trend
from cubeeco.ops.trend import sen_mann_kendall
from cubeeco.testing.laziness import raise_if_dask_computes
from tests.reference import changepoint_ref as ref

YEARS = np.arange(2000, 2022)


def _series(rng, kind):
    n = int(rng.integers(0, len(YEARS) + 1))
    if kind == "ties":
        y = rng.integers(0, 4, size=n).astype(float)
    elif kind == "step":
        y = rng.normal(size=n) + np.where(np.arange(n) < rng.integers(0, n + 1), 2.0, 0.0)
    else:
        y = rng.normal(size=n)
    y[rng.random(n) < 0.2] = np.nan
    if n and rng.random() < 0.1:
        y[int(rng.integers(0, n))] = np.inf
    return y, YEARS[:n].astype(float)


@pytest.mark.parametrize("kind", ["normal", "ties", "step"])
def test_pettitt_kernel_matches_reference(kind):
    rng = np.random.default_rng({"normal": 0, "ties": 1, "step": 2}[kind])
    for _ in range(300):
        y, t = _series(rng, kind)
        got = kc.pettitt(y, t)
        want = ref.pettitt(y, t)
        np.testing.assert_allclose(got[:4], want[:4], rtol=1e-12, equal_nan=True)
        assert int(got[4]) == want[4]
        if want[4] >= 3:  # the rank formulation (pyhomogeneity) gives the same K and location
            k, loc = ref.pettitt_ranks(y[np.isfinite(y)])
            assert k == want[2]


def test_pettitt_short_and_constant_series():
    t = np.arange(2000.0, 2005.0)
    assert np.isnan(kc.pettitt(np.array([1.0, 2.0]), t[:2])[3])
    assert kc.pettitt(np.array([np.nan, 1.0, 2.0, np.nan]), t[:4])[4] == 2
    a, b, k, p, n = kc.pettitt(np.full(5, 0.3), t)
    assert np.isnan(a) and np.isnan(b) and k == 0 and p == 1 and n == 5
    a, b, k, p, n = kc.pettitt(np.array([1.0, 1.0, 0.0, 0.0, 0.0]), t)
    assert (a, b, k, n) == (2001.0, 2002.0, 6.0, 5) and p == pytest.approx(2 * np.exp(-6 * 36 / 150))


def _cube(seed=0, ny=6, nx=7, dtype=np.float32):
    rng = np.random.default_rng(seed)
    n = len(YEARS)
    step = rng.integers(2003, 2019, size=(ny, nx))
    data = rng.normal(scale=0.3, size=(n, ny, nx)) + np.where(YEARS[:, None, None] < step, 1.0, 0.0)
    data[rng.random(data.shape) < 0.1] = np.nan
    data[:, 0, 0] = np.nan
    data[:, 0, 1] = 0.5
    da = xr.DataArray(data.astype(dtype), dims=("time", "y", "x"),
                      coords={"time": YEARS, "y": np.arange(ny) * -30.0, "x": np.arange(nx) * 30.0}, name="ndvi")
    return da, step


def test_pettitt_op_numpy_dask_and_reference():
    da, step = _cube()
    ds = pettitt(da)
    with raise_if_dask_computes():
        dsd = pettitt(da.chunk(y=3, x=4))
    dsd = dsd.compute()
    for v in ds.data_vars:
        np.testing.assert_array_equal(ds[v].values, dsd[v].values)
    assert ds.change_year.dtype == np.int32 and ds.k.dtype == np.float32
    for i in range(da.sizes["y"]):
        for j in range(da.sizes["x"]):
            a, b, k, p, n = ref.pettitt(da.values[:, i, j], YEARS)
            assert ds.change_year.values[i, j] == (CHANGE_YEAR_NODATA if np.isnan(a) else int(a))
            assert ds.first_year_after.values[i, j] == (CHANGE_YEAR_NODATA if np.isnan(b) else int(b))
            np.testing.assert_allclose([ds.k.values[i, j], ds.p.values[i, j]], [k, p], rtol=1e-6, equal_nan=True)
    # the planted steps are found (noise 0.3 vs a step of 1)
    near = np.abs(ds.first_year_after.values - step) <= 1
    assert near[1:].mean() > 0.8


def test_pettitt_datetime_axis():
    da, _ = _cube(ny=2, nx=2)
    dt = da.assign_coords(time=np.array([f"{y}-07-01" for y in YEARS], dtype="datetime64[ns]"))
    a, b = pettitt(da), pettitt(dt)
    np.testing.assert_array_equal(a.change_year.values, b.change_year.values)


@pytest.mark.parametrize("per_pixel", [False, True])
def test_split_trend_matches_per_segment_sen_mk(per_pixel):
    da, step = _cube(seed=4)
    at = xr.DataArray(step.astype(float), dims=("y", "x")) if per_pixel else 2011
    ds = split_trend(da, at)
    dsd = split_trend(da.chunk(y=2, x=3), at.chunk(y=3) if per_pixel else at).compute()
    for v in ds.data_vars:
        np.testing.assert_array_equal(ds[v].values, dsd[v].values)
    at_v = step if per_pixel else np.full(step.shape, 2011)
    t = YEARS.astype(float)
    for i in range(da.sizes["y"]):
        for j in range(da.sizes["x"]):
            y = da.values[:, i, j]
            for seg, keep in (("before", t < at_v[i, j]), ("after", t >= at_v[i, j])):
                slope, _, _, z, p = kt.sen_mk(np.where(keep, y, np.nan), t)  # the kernel on one series
                got = [ds[f"{k}_{seg}"].values[i, j] for k in ("slope", "z", "p")]
                np.testing.assert_array_equal(np.array(got), np.array([slope, z, p], dtype=np.float32))


def test_split_trend_docstring_case():
    years = np.arange(2000, 2010)
    da = xr.DataArray(np.r_[np.arange(5.0), 10 - 2 * np.arange(5.0)], dims="time", coords={"time": years})
    ds = split_trend(da, 2005)
    assert float(ds.slope_before) == 1.0 and float(ds.slope_after) == -2.0
    assert float(ds.z_before) > 0 > float(ds.z_after)
    with pytest.raises(ValueError, match="time dimension"):
        split_trend(da, da)


# ----------------------------------------------------------------------------------
# synthetic check: planted mine openings
# ----------------------------------------------------------------------------------

# 16 years, seed 3: both mines open in 2007 (mid-series; 7 years before, 9 after), one dump
# restored in 2014.  Two scenes a season, no MODIS: about 10-20 s to write and composite.
SYNTH = {"years": (2000, 2015), "modis": False, "scenes_per_season": 2, "seed": 3,
         "mine_advance_years": (1, 1)}  # whole mines open in one year: one planted change point each


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    from cubeeco.ops.indices import spectral_indices
    from cubeeco.synth import preset, synthesize
    from cubeeco.workflows.annual import build_annual_cube

    base = synthesize(preset("tiny", **SYNTH), tmp_path_factory.mktemp("cp-base"), progress=False)
    truth = xr.open_zarr(base.root / "truth" / "truth.zarr").load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # L2SR scenes without lwir: NDVI does not need it
        annual, _ = build_annual_cube(source=base.root, chunksize=128)
        ndvi = spectral_indices(annual, ("ndvi",))["ndvi"].compute()
    return truth, ndvi


def _scores(da, truth):
    dy = truth.destruction_year.values
    ry = truth.restoration_year.values
    years = truth.time.dt.year.values[:, None, None]
    nt = truth.ndvi_true.values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drop = np.nanmean(np.where(years < dy, nt, np.nan), 0) - np.nanmean(np.where(years >= dy, nt, np.nan), 0)
    mk = sen_mann_kendall(da)
    pt = pettitt(da)
    decline = (mk.z.values < 0) & (mk.p.values < 0.05)
    after = pt.first_year_after.values
    opened = dy > 0
    # planted decline: opened, never restored, and a true NDVI loss larger than the
    # composite noise (~0.03): sparse-grass pixels lose only 0.16 -> 0.125
    planted = opened & (ry == 0) & (drop >= 0.1)
    stable = dy == 0
    return {
        "n_planted": int(planted.sum()),
        "decline_planted": float(decline[planted].mean()),
        "decline_opened_unrestored": float(decline[opened & (ry == 0)].mean()),
        "decline_stable": float(decline[stable].mean()),
        "significant_stable": float((mk.p.values[stable] < 0.05).mean()),
        "pettitt_exact_planted": float((after[planted] == dy[planted]).mean()),
        "pettitt_1yr_opened": float((np.abs(after[opened] - dy[opened]) <= 1).mean()),
        "pettitt_1yr_change_year_opened": float((np.abs(pt.change_year.values[opened] - dy[opened]) <= 1).mean()),
    }


def test_synthetic_openings_composite_ndvi(planted):
    truth, ndvi = planted
    assert set(np.unique(truth.destruction_year.values)) == {0, 2007}
    s = _scores(ndvi, truth)
    print("composite NDVI:", s)
    assert s["n_planted"] > 200
    assert s["decline_planted"] >= 0.90
    assert s["decline_stable"] <= 0.05  # planted greening makes stable pixels rise, not fall
    assert s["pettitt_exact_planted"] >= 0.90
    assert s["pettitt_1yr_opened"] >= 0.90


def test_synthetic_openings_true_ndvi(planted):
    truth, _ = planted
    s = _scores(truth.ndvi_true, truth)
    print("true NDVI:", s)
    assert s["decline_planted"] >= 0.99
    assert s["decline_stable"] == 0.0
    assert s["pettitt_exact_planted"] == 1.0
    assert s["pettitt_1yr_opened"] >= 0.99
