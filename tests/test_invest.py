"""invest_carbon vs natcap.invest's Carbon outputs, and the beyond-InVEST carbon accounts (study 004)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeeco.ops.invest import (
    EXAMPLE_TABLE,
    carbon_stock_series,
    carbon_transitions,
    carbon_uncertainty,
    invest_carbon,
    read_pools,
)
from cubeeco.testing.laziness import raise_if_dask_computes

REF = Path(__file__).parent / "data" / "invest"
CASES = ["study004_10m", "random_30m", "baseline_only"]


def grid(a, px=30.0, py=30.0, nodata=None, chunks=None, name="lulc"):
    da = xr.DataArray(a, dims=("y", "x") if a.ndim == 2 else ("time", "y", "x"),
                      coords={"y": 4.4e6 - py * (np.arange(a.shape[-2]) + 0.5),
                              "x": 5e5 + px * (np.arange(a.shape[-1]) + 0.5)}, name=name)
    if nodata is not None:
        da.attrs["nodata"] = nodata
    if chunks and not isinstance(chunks, dict):
        cy, cx = (chunks, chunks) if np.isscalar(chunks) else chunks
        chunks = {"y": cy, "x": cx}
    return da.chunk(chunks) if chunks else da


def pools_frame(rng, codes, sd=False):
    df = pd.DataFrame({"lucode": codes, "c_above": rng.uniform(0, 90, len(codes)), "c_below": rng.uniform(0, 30, len(codes)),
                       "c_soil": rng.uniform(0, 200, len(codes)), "c_dead": rng.uniform(0, 9, len(codes))})
    if sd:
        for p in ("c_above", "c_below", "c_soil", "c_dead"):
            df[p + "_sd"] = 0.1 * df[p]
    return df


def numpy_storage(lulc, df, nodata):
    """Plain numpy: InVEST's definition (pools as float32, summed in order), NaN = nodata."""
    p = df.set_index("lucode")
    out = np.full(lulc.shape, np.nan, np.float32)
    for code, row in p.iterrows():
        v = ((np.float32(row.c_above) + np.float32(row.c_below)) + np.float32(row.c_soil)) + np.float32(row.c_dead)
        out[lulc == code] = v
    out[lulc == nodata] = np.nan
    return out


# ------------------------------------------------------------------ natcap.invest reference
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("chunks", [None, 7])
def test_equals_natcap_invest(case, chunks):
    d = REF / case
    t = json.loads((d / "totals.json").read_text())
    px, py = t["pixel_size_m"]
    bas = grid(np.load(d / "lulc_bas.npy"), px, py, t["lulc_nodata"], chunks)
    alt_path = d / "lulc_alt.npy"
    alt = grid(np.load(alt_path), px, py, t["lulc_nodata"], chunks) if alt_path.exists() else None
    with raise_if_dask_computes():
        ds = invest_carbon(bas, d / "pools.csv", lulc_future=alt)
    ds = ds.compute()
    names = {"c_storage": "c_storage_bas", "c_storage_future": "c_storage_alt", "c_change": "c_change_bas_alt"}
    totals = {"c_storage_bas": "total_storage", "c_storage_alt": "total_storage_future",
              "c_change_bas_alt": "total_change"}
    report = dict(zip(["Baseline Carbon Storage", "Alternate Carbon Storage", "Change in Carbon Storage"],
                      ["total_storage", "total_storage_future", "total_change"]))
    for ours, theirs in names.items():
        if ours not in ds:
            continue
        ref = np.load(d / f"{theirs}.npy")
        ref = np.where(ref == t["carbon_nodata"], np.nan, ref)
        assert ds[ours].dtype == np.float32 and ds[ours].attrs["units"] == "t ha-1"
        np.testing.assert_array_equal(ds[ours].values, ref)  # bit-identical, NaN where InVEST writes nodata
        assert float(ds[totals[theirs]]) == pytest.approx(t["exact"][theirs], rel=1e-12, abs=1e-9)
    for desc, var in report.items():
        if desc in t["report_2dp"]:
            assert round(float(ds[var]), 2) == pytest.approx(t["report_2dp"][desc], abs=0.011)
    assert ds.storage_by_class.sum() == pytest.approx(float(ds.total_storage))


def test_numpy_reference_random_with_nodata():
    rng = np.random.default_rng(1)
    df = pools_frame(rng, [3, 7, 8, 20])
    a = rng.choice([3, 7, 8, 20, 255], size=(23, 19)).astype(np.uint8)
    ds = invest_carbon(grid(a, 10, 10, 255, 6), df).compute()
    ref = numpy_storage(a, df, 255)
    np.testing.assert_array_equal(ds.c_storage.values, ref)
    assert float(ds.total_storage) == pytest.approx(np.nansum(ref.astype(np.float64)) * 100 / 1e4, rel=1e-13)
    counts = [(a == c).sum() * 0.01 for c in [3, 7, 8, 20]]
    np.testing.assert_allclose(ds.area_by_class.values, counts)


# ------------------------------------------------------------------ study 004
TABLE5 = {  # t; 2007, 2012, 2017, 2022 (study 004 Table 5)
    "Grassland": [1054702.225, 985016.439, 1093350.701, 1035534.678],
    "Residential land": [4731.420, 6801.538, 8518.693, 6010.494],
    "Cropland": [342775.913, 317720.487, 72461.625, 53221.324],
    "Transportation land": [795.421, 3408.579, 3138.015, 3439.179],
    "Water body": [123.123, 7289.818, 9476.406, 7208.958],
    "Mining land": [12412.455, 84327.074, 70478.838, 106189.384],
    "Reclaimed dump": [2863.929, 7016.139, 15520.776, 18219.479],
    "Unreclaimed dump": [5123.746, 6427.931, 8166.728, 5572.654],
    "Industrial land": [722.865, 859.595, 538.323, 604.722],
    "Forest": [175270.118, 89611.791, 193469.153, 283060.378],
}
TABLE5_TOTAL = [1599521.216, 1508479.392, 1475119.258, 1519061.249]


def test_study004_table5_from_table3_and_areas():
    pools = pd.read_csv(EXAMPLE_TABLE)
    dens = pools.set_index("lulc_name")[["c_above", "c_below", "c_soil", "c_dead"]].sum(axis=1)
    assert dens["Grassland"] == pytest.approx(155.14) and dens["Mining land"] == pytest.approx(24.13)
    names = list(pools.lulc_name)
    stocks = np.array([TABLE5[n] for n in names]).T  # (year, class)
    areas_ha = stocks / dens[names].to_numpy()  # Table 5 / Table 3 = the class areas
    # a one-pixel-per-class raster per year whose pixel areas are those areas: the
    # package's per-class storage must give back Table 5 to its printed 0.001 t
    lulc = grid(np.tile(pools.lucode.to_numpy()[None, None], (4, 1, 1)).astype(np.int16))
    lulc = lulc.assign_coords(time=[2007, 2012, 2017, 2022])
    area_m2 = xr.DataArray(areas_ha[:, None, :] * 1e4, dims=("time", "y", "x"))
    ds = carbon_stock_series(lulc, pools, pixel_area=area_m2).compute()
    np.testing.assert_allclose(ds.stock.values, stocks, rtol=0, atol=5e-4)
    np.testing.assert_allclose(ds.area.values, areas_ha, rtol=1e-12)
    # the Total row is the column sum to the rounding of ten 0.001 t entries
    np.testing.assert_allclose(ds.total.values, TABLE5_TOTAL, rtol=0, atol=10 * 5e-4)
    # the study's 2007-2017 loss and 2017-2022 gain (Sect. 3.2.1: 12.44 and 4.39 x 10^4 t)
    assert (ds.total[0] - ds.total[2]) / 1e4 == pytest.approx(12.44, abs=0.005)
    assert (ds.total[3] - ds.total[2]) / 1e4 == pytest.approx(4.39, abs=0.005)
    # with float32 InVEST densities the same areas miss Table 5 by up to ~4e-3 t: the study summed in float64
    one = invest_carbon(lulc.isel(time=0), pools, pixel_area=area_m2.isel(time=0)).compute()
    assert np.abs(one.storage_by_class.values - stocks[0]).max() > 5e-4


# ------------------------------------------------------------------ errors
def test_absent_class_raises_naming_codes_and_nodata_option():
    df = pools_frame(np.random.default_rng(2), [1, 2])
    a = np.array([[1, 2, 5], [9, 1, 0]], dtype=np.int16)
    lazy = invest_carbon(grid(a, nodata=0, chunks=2), df)  # lazy: the check runs per chunk
    with pytest.raises(ValueError, match=r"\[5\]|\[9\]|\[5, 9\]"):
        lazy.compute()
    with pytest.raises(ValueError, match="absent='nodata'"):
        invest_carbon(grid(a, nodata=0), df)
    ds = invest_carbon(grid(a, nodata=0), df, absent="nodata")
    assert np.isnan(ds.c_storage.values[[0, 1, 1], [2, 0, 2]]).all()
    assert np.isfinite(ds.c_storage.values[[0, 0, 1], [0, 1, 1]]).all()


def test_bad_inputs():
    df = pools_frame(np.random.default_rng(3), [1, 2])
    a = grid(np.ones((3, 3), np.int32))
    geo = a.rename(y="lat", x="lon")
    with pytest.raises(TypeError, match="integer class raster"):
        invest_carbon(a.astype(float), df)
    with pytest.raises(ValueError, match="geographic CRS"):
        invest_carbon(grid(np.ones((3, 3), np.int32)).assign_coords(x=lambda d: d.x.assign_attrs(units="degrees_east")), df)
    with pytest.raises(ValueError, match="spatial dims"):
        invest_carbon(geo, df)
    with pytest.raises(ValueError, match="lacks the column"):
        invest_carbon(a, df.drop(columns="c_dead"))
    with pytest.raises(ValueError, match="repeats"):
        invest_carbon(a, pd.concat([df, df]))
    with pytest.raises(ValueError, match="negative"):
        invest_carbon(a, df.assign(c_soil=-1.0))
    with pytest.raises(TypeError, match="DataFrame or a CSV"):
        invest_carbon(a, {"lucode": [1]})
    with pytest.raises(ValueError, match="absent must be"):
        invest_carbon(a, df, absent="skip")
    with pytest.raises(ValueError, match="no uncertainty columns"):
        carbon_uncertainty(a, df)
    with pytest.raises(ValueError, match="zone_ids"):
        carbon_stock_series(a.expand_dims(time=2), df, zones=xr.zeros_like(a).chunk(2))


def test_geographic_crs_refused_via_rioxarray():
    rioxarray = pytest.importorskip("rioxarray")  # noqa: F841
    df = pools_frame(np.random.default_rng(3), [1])
    a = grid(np.ones((3, 3), np.int32)).rio.write_crs("EPSG:4326")
    with pytest.raises(ValueError, match="geographic CRS"):
        invest_carbon(a, df)
    with pytest.raises(ValueError, match="geographic CRS"):
        carbon_transitions(a, a, df)
    # per-pixel areas given explicitly are accepted
    ds = invest_carbon(a, df, pixel_area=xr.full_like(a, 1e4, dtype=float))
    assert float(ds.total_storage) == pytest.approx(9 * float(df.iloc[0, 1:5].sum()), rel=1e-6)


# ------------------------------------------------------------------ beyond InVEST
def numpy_transitions(a0, a1, dens, codes, nodata, area_ha, zones=None, zone_ids=(0,)):
    k = len(codes) + 1
    idx = {c: i for i, c in enumerate(codes)}
    out = {}
    for z in zone_ids:
        m = np.zeros((k, k, 3))
        for v0, v1, zz in zip(a0.ravel(), a1.ravel(), (zones.ravel() if zones is not None else np.zeros(a0.size, int))):
            if zz != z:
                continue
            i = idx.get(v0, k - 1) if v0 != nodata else k - 1
            j = idx.get(v1, k - 1) if v1 != nodata else k - 1
            if i == k - 1 and j == k - 1:
                continue
            m[i, j, 0] += 0 if i == k - 1 else dens[i] * area_ha
            m[i, j, 1] += 0 if j == k - 1 else dens[j] * area_ha
            m[i, j, 2] += area_ha
        out[z] = m
    return out


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 9), st.integers(2, 9), st.booleans())
def test_transitions_reconcile_and_chunks(seed, cy, cx, with_zones):
    rng = np.random.default_rng(seed)
    codes = [1, 4, 6]
    df = pools_frame(rng, codes)
    a0 = rng.choice([1, 4, 6, 0], size=(11, 13)).astype(np.int16)
    a1 = rng.choice([1, 4, 6, 0], size=(11, 13)).astype(np.int16)
    zones = rng.choice([-1, 3, 8], size=a0.shape) if with_zones else None
    zkw = dict(zones=grid(zones.astype(np.int32), chunks=(cy, cx)), zone_ids=[3, 8]) if with_zones else {}
    lazy = carbon_transitions(grid(a0, nodata=0, chunks=(cy, cx)), grid(a1, nodata=0, chunks=(cy, cx)), df, **zkw)
    with raise_if_dask_computes():
        lazy = carbon_transitions(grid(a0, nodata=0, chunks=(cy, cx)), grid(a1, nodata=0, chunks=(cy, cx)), df, **zkw)
    many = lazy.compute()
    zkw1 = dict(zones=grid(zones.astype(np.int32)), zone_ids=[3, 8]) if with_zones else {}
    one = carbon_transitions(grid(a0, nodata=0), grid(a1, nodata=0), df, **zkw1).compute()
    for v in one.data_vars:
        np.testing.assert_allclose(many[v].values, one[v].values, rtol=1e-12, atol=1e-9)
    # the reconciliation closes to float precision
    scale = float(np.abs(one.total_t0).max() + np.abs(one.total_t1).max())
    assert np.abs(one.residual.values).max() <= 1e-12 * scale
    dens = df[["c_above", "c_below", "c_soil", "c_dead"]].sum(axis=1).to_numpy()
    ref = numpy_transitions(a0, a1, dens, codes, 0, 0.09, zones, [3, 8] if with_zones else [0])
    for z, m in ref.items():
        sel = one.sel(zone=z) if with_zones else one
        np.testing.assert_allclose(sel.stock_t0.values, m[..., 0], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(sel.stock_t1.values, m[..., 1], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(sel.area.values, m[..., 2], rtol=1e-12)
    # stock at each date equals invest_carbon's total on that date's raster (no zones)
    if not with_zones:
        ic = invest_carbon(grid(a0, nodata=0), df, lulc_future=grid(a1, nodata=0), dtype=np.float64).compute()
        assert float(one.total_t0) == pytest.approx(float(ic.total_storage), rel=1e-12)
        assert float(one.total_t1) == pytest.approx(float(ic.total_storage_future), rel=1e-12)
    for v in ("stock_t0", "change", "total_t0", "residual"):
        assert one[v].attrs["units"] == "t"
    assert one.area.attrs["units"] == "ha"


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 4), st.integers(2, 8))
def test_stock_series_every_year_chunks(seed, ct, cxy):
    rng = np.random.default_rng(seed)
    df = pools_frame(rng, [2, 3, 5])
    cube = rng.choice([2, 3, 5, 99], size=(5, 9, 10)).astype(np.int32)
    da = grid(cube, nodata=99).assign_coords(time=np.arange(2000, 2005))
    zones = rng.choice([1, 2], size=(9, 10)).astype(np.int32)
    with raise_if_dask_computes():
        lazy = carbon_stock_series(da.chunk({"time": ct, "y": cxy, "x": cxy}), df,
                                   zones=grid(zones, chunks=cxy), zone_ids=[1, 2])
    many = lazy.compute()
    one = carbon_stock_series(da, df, zones=grid(zones)).compute()
    np.testing.assert_allclose(many.stock.values, one.stock.values, rtol=1e-12, atol=1e-9)
    for i in range(5):
        ic = invest_carbon(da.isel(time=i), df, dtype=np.float64).compute()
        assert float(one.total[i]) == pytest.approx(float(ic.total_storage), rel=1e-12)
        np.testing.assert_allclose(one.stock.isel(time=i).sum("zone").values, ic.storage_by_class.values, rtol=1e-12)
    assert one.stock.dims == ("time", "zone", "lucode") and one.total.attrs["units"] == "t"


def test_densities_per_zone_table_and_raster():
    rng = np.random.default_rng(5)
    base = pools_frame(rng, [1, 2])
    zt = pd.concat([base.assign(zone=10), base.assign(zone=20, c_soil=base.c_soil * 2)])
    a = rng.choice([1, 2], size=(6, 8)).astype(np.int16)
    z = np.where(np.arange(8)[None] < 4, 10, 20).repeat(6, 0).astype(np.int32)
    ds = carbon_stock_series(grid(a).expand_dims(time=[0]), zt, zones=grid(z)).compute()
    dens = base[["c_above", "c_below", "c_soil", "c_dead"]].sum(axis=1).to_numpy()
    dens2 = dens + base.c_soil.to_numpy()
    exp = np.array([[((a == c) & (z == zz)).sum() * 0.09 * (dens if zz == 10 else dens2)[i] for i, c in enumerate([1, 2])]
                    for zz in (10, 20)])
    np.testing.assert_allclose(ds.stock.isel(time=0).values, exp, rtol=1e-12)
    # a density raster (t/ha) instead of a table; nodata pixels drop out
    d0 = xr.DataArray(rng.uniform(10, 200, a.shape), dims=("y", "x"), attrs={"units": "t ha-1"})
    d1 = d0 * 1.5
    a1 = a.copy()
    a1[0, 0] = -1
    tr = carbon_transitions(grid(a, nodata=-1), grid(a1, nodata=-1), (d0, d1), codes=[1, 2]).compute()
    assert float(tr.total_t0) == pytest.approx(d0.values.sum() * 0.09, rel=1e-12)
    assert float(tr.total_t1) == pytest.approx((d1.values.sum() - d1.values[0, 0]) * 0.09, rel=1e-12)
    assert abs(float(tr.residual)) < 1e-9
    with pytest.raises(ValueError, match="t/ha"):
        carbon_transitions(grid(a), grid(a), (d0.assign_attrs(units="kg m-2"), d1), codes=[1, 2])


def test_monte_carlo():
    rng = np.random.default_rng(6)
    df = pools_frame(rng, [1, 2, 3], sd=True)
    a = grid(rng.choice([1, 2, 3], size=(10, 12)).astype(np.int16), chunks=5)
    with raise_if_dask_computes():
        mc = carbon_uncertainty(a, df, n=400, seed=1)
    mc = mc.compute()
    det = invest_carbon(a, df, dtype=np.float64).compute()
    assert float(mc.total) == pytest.approx(float(det.total_storage), rel=1e-12)
    p = mc.total_percentile.values
    assert p[0] < float(mc.total) < p[2] and np.all(np.diff(p) > 0)
    again = carbon_uncertainty(a, df, n=400, seed=1).compute()
    np.testing.assert_array_equal(mc.total_draws.values, again.total_draws.values)
    # the draws' spread follows the class-level sds (sd of a sum of independent pools)
    areas = det.area_by_class.values
    sd = np.sqrt((df[[c for c in df.columns if c.endswith("_sd")]].to_numpy() ** 2).sum(axis=1))
    assert float(mc.total_draws.std()) == pytest.approx(np.sqrt(((areas * sd) ** 2).sum()), rel=0.15)
    zero = carbon_uncertainty(a, df.assign(**{c: 0.0 for c in df.columns if c.endswith("_sd")}), n=5).compute()
    np.testing.assert_allclose(zero.total_draws.values, float(mc.total), rtol=1e-12)
    assert mc.total_percentile.attrs["units"] == "t"


def test_read_pools_example_and_names():
    p = read_pools(EXAMPLE_TABLE)
    assert p.codes.tolist() == list(range(1, 11))
    ds = invest_carbon(grid(np.array([[7, 4]], np.int16).repeat(2, 0)), EXAMPLE_TABLE, pixel_area=100.0)
    assert list(ds.lulc_name.sel(lucode=[4, 7]).values) == ["Mining land", "Grassland"]
    assert float(ds.total_storage) == pytest.approx(2 * 0.01 * (155.14 + 24.13), rel=1e-6)
