"""VCS accounting (study 002 Eqs. 3-5) and carbon value (study 003)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeeco.kernels import vcs as K
from cubeeco.ops import carbon_value as CV
from cubeeco.ops import vcs as V
from cubeeco.testing.laziness import raise_if_dask_computes


# ---------------------------------------------------------------- plain-numpy reference
def ref_pixel(v, years, td, tr, min_years, include_td):
    """Obvious per-pixel implementation: np.polyfit for Eq. 3, explicit loops for the rest."""
    v = np.asarray(v, dtype=np.float64)
    years = np.asarray(years, dtype=np.float64)
    nt = v.size
    nan = np.full(nt, np.nan)
    out = {"und": nan.copy(), "dec": nan.copy(), "inc": nan.copy(), "cdes": nan.copy(), "cres": nan.copy(),
           "slope": np.nan, "intercept": np.nan, "n": 0, "flag": K.FLAG_INVALID, "d": -1, "r": -1}

    def step(year):
        if year == -1:
            return -1
        if nt == 0 or year < years[0] or year > years[-1]:
            return None
        return int(np.searchsorted(years, year, side="left"))

    d, r = step(td), step(tr)
    if d is None or r is None or (r >= 0 and (d < 0 or tr <= td or r <= d)):
        return out
    out["d"], out["r"] = d, r
    if d < 0:
        out["und"] = v.copy()
        out["flag"] = K.FLAG_UNDISTURBED
        return out
    stop = d + 1 if include_td else d
    ok = np.isfinite(v[:stop])
    n = int(ok.sum())
    out["n"] = n
    out["und"][:stop] = v[:stop]
    if d >= 1:
        out["dec"][d] = v[d - 1] - v[d]
    if r >= 1:
        out["inc"][r] = v[r] - v[r - 1]
    if n == 0:
        out["flag"] = K.FLAG_SHORT
        return out
    if n < max(min_years, 2):
        a, b = 0.0, v[:stop][ok].mean()          # too few years for a trend: their mean
        out.update(slope=a, intercept=b, flag=K.FLAG_MEAN)
    else:
        a, b = np.polyfit(years[:stop][ok], v[:stop][ok], 1)
        out.update(slope=a, intercept=b, flag=K.FLAG_FITTED)
    out["und"][stop:] = np.maximum(a * years[stop:] + b, 0.0)
    for i in range(stop, nt):
        gap = v[i] - out["und"][i]
        if r >= 0 and i >= r:
            out["cres"][i] = gap
        else:
            out["cdes"][i] = gap
    return out


def kernel_pixel(v, years, td, tr, min_years, include_td):
    und, dec, inc, cdes, cres, a, b, n, f, d, r = K.accounting(v, years, td, tr, min_years, include_td)
    return {"und": und, "dec": dec, "inc": inc, "cdes": cdes, "cres": cres, "slope": a, "intercept": b,
            "n": n, "flag": f, "d": d, "r": r}


def assert_pixel_equal(got, want, dtype):
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    for k in ("und", "dec", "inc", "cdes", "cres"):
        # float32 VCS (~1e3): absolute tolerance ~1e-4 of the scale
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=0.2 if dtype == np.float32 else 1e-7,
                                   equal_nan=True, err_msg=k)
    for k in ("n", "flag", "d", "r"):
        assert int(got[k]) == int(want[k]), k
    np.testing.assert_allclose(got["slope"], want["slope"], rtol=1e-6, atol=1e-8, equal_nan=True)
    np.testing.assert_allclose(got["intercept"], want["intercept"], rtol=1e-6, atol=1e-4, equal_nan=True)


# ---------------------------------------------------------------- kernel vs reference
@settings(max_examples=50, deadline=None)
@given(
    nt=st.integers(1, 10), seed=st.integers(0, 2**31 - 1), nan_frac=st.sampled_from([0.0, 0.2, 0.5]),
    min_years=st.integers(2, 4), include_td=st.integers(0, 1), dtype=st.sampled_from([np.float32, np.float64]),
    gap=st.booleans(),
)
def test_kernel_matches_reference_random(nt, seed, nan_frac, min_years, include_td, dtype, gap):
    rng = np.random.default_rng(seed)
    years = np.arange(2001, 2001 + nt + int(gap), dtype=np.float64)
    if gap and nt >= 3:
        years = np.delete(years, nt // 2)  # a missing year, as 2012 in study 002
    years = years[:nt]
    v = rng.uniform(0, 800, nt).astype(dtype)
    v[rng.random(nt) < nan_frac] = np.nan
    v[rng.random(nt) < 0.1] = v[0]  # ties
    cands = [-1, 2000, int(years[-1]) + 1] + [int(y) for y in years] + [int(years[0]) + k for k in range(nt + 1)]
    for _ in range(6):
        td = int(rng.choice(cands))
        tr = int(rng.choice(cands + [td + 1, -1, -1]))
        got = kernel_pixel(v, years, td, tr, min_years, include_td)
        want = ref_pixel(v, years, td, tr, min_years, include_td)
        assert got["und"].dtype == dtype
        assert_pixel_equal(got, want, dtype)


@pytest.mark.parametrize("include_td", [0, 1])
def test_kernel_edge_cases(include_td):
    years = np.arange(2001, 2009, dtype=np.float64)
    v = np.array([300, 320, 340, 0, 0, 150, 260, 280], dtype=np.float64)
    cases = {
        "never disturbed": (-1, -1),
        "T_D first year": (2001, -1),
        "T_D last year": (2008, -1),
        "restored right after": (2004, 2005),
        "restored last year": (2004, 2008),
        "T_R without T_D": (-1, 2005),
        "T_R before T_D": (2005, 2004),
        "T_R == T_D": (2005, 2005),
        "T_D before the axis": (1999, -1),
        "T_R after the axis": (2004, 2010),
    }
    for td, tr in cases.values():
        got = kernel_pixel(v, years, td, tr, 2, include_td)
        want = ref_pixel(v, years, td, tr, 2, include_td)
        assert_pixel_equal(got, want, np.float64)
    never = kernel_pixel(v, years, -1, -1, 2, include_td)
    np.testing.assert_array_equal(never["und"], v)
    assert int(never["flag"]) == K.FLAG_UNDISTURBED and np.isnan(never["cdes"]).all()
    first = kernel_pixel(v, years, 2001, -1, 2, include_td)
    # destroyed in the first year: no undisturbed year (fitting through T_D: its one value)
    assert int(first["flag"]) == (K.FLAG_MEAN if include_td else K.FLAG_SHORT) and np.isnan(first["dec"]).all()
    last = kernel_pixel(v, years, 2008, -1, 2, include_td)
    assert last["dec"][7] == 260 - 280
    quick = kernel_pixel(v, years, 2004, 2005, 2, include_td)
    assert quick["dec"][3] == 340 and quick["inc"][4] == 0 - 0
    assert np.isnan(quick["cdes"][4:]).all() and np.isfinite(quick["cres"][4:]).all()
    for bad in ("T_R without T_D", "T_R before T_D", "T_R == T_D", "T_D before the axis", "T_R after the axis"):
        got = kernel_pixel(v, years, *cases[bad], 2, include_td)
        assert int(got["flag"]) == K.FLAG_INVALID and np.isnan(got["und"]).all(), bad


def test_missing_year_counts_in_next_observed_year():
    years = np.array([2010, 2011, 2013, 2014], dtype=np.float64)  # 2012 missing (study 002)
    v = np.array([100.0, 110.0, 0.0, 0.0])
    got = kernel_pixel(v, years, 2012, -1, 2, 0)
    assert int(got["d"]) == 2 and got["dec"][2] == 110.0
    np.testing.assert_allclose(got["und"][2:], [100 + 10 / 1 * 3, 100 + 10 * 4])  # slope 10 per year


def test_literal_eq3_window_is_pulled_down_by_the_zero():
    """T_D in the fit (Eq. 3's index range) drags the undisturbed line towards the zero of T_D."""
    years = np.arange(2001, 2011, dtype=np.float64)
    v = np.r_[np.full(6, 600.0), np.zeros(4)]
    pre = kernel_pixel(v, years, 2007, -1, 3, 0)
    lit = kernel_pixel(v, years, 2007, -1, 3, 1)
    assert pre["slope"] == 0 and np.allclose(pre["und"][6:], 600)
    assert lit["slope"] < -50 and lit["und"][-1] < 300


def test_undisturbed_fit_kernel_agrees_with_accounting():
    rng = np.random.default_rng(3)
    years = np.arange(2001, 2013, dtype=np.float64)
    v = rng.uniform(100, 700, (40, 12))
    td = rng.choice([-1, 2001, 2005, 2012, 2015], 40)
    for inc in (0, 1):
        und, a, b, n, f = K.undisturbed_fit(v, years, td, 3, inc)
        acc = K.accounting(v, years, td, np.full(40, -1), 3, inc)
        np.testing.assert_array_equal(und, acc[0])
        np.testing.assert_array_equal(f, acc[8])
        np.testing.assert_array_equal(n, acc[7])


# ---------------------------------------------------------------- fixtures for the ops
def make_cube(rng, nt=9, ny=6, nx=7, dtype=np.float64, first=2001):
    years = np.arange(first, first + nt)
    v = rng.uniform(300, 800, (nt, ny, nx))
    td = rng.choice([-1, -1, first + 2, first + 4, first + nt - 1], (ny, nx))
    tr = np.where((td > 0) & (td < first + nt - 2) & (rng.random((ny, nx)) < 0.6),
                  td + rng.integers(1, 3, (ny, nx)), -1)
    t = years[:, None, None]
    destroyed = (td > 0) & (t >= td) & ((tr < 0) | (t < tr))
    v = np.where(destroyed, 0.0, v)  # Eq. 1: destroyed pixels have NPP 0
    v[rng.random(v.shape) < 0.05] = np.nan
    coords = {"time": years, "y": 4000.0 - 30.0 * np.arange(ny), "x": 500.0 + 30.0 * np.arange(nx)}
    da = xr.DataArray(v.astype(dtype), dims=("time", "y", "x"), coords=coords, attrs={"units": "g CO2 m-2 yr-1"})
    sp = {"y": coords["y"], "x": coords["x"]}
    return (da, xr.DataArray(td.astype(np.int32), dims=("y", "x"), coords=sp),
            xr.DataArray(tr.astype(np.int32), dims=("y", "x"), coords=sp))


def test_ops_match_reference_per_pixel():
    rng = np.random.default_rng(7)
    da, td, tr = make_cube(rng, dtype=np.float32)
    ch = V.vcs_changes(da, td, tr, min_years=3).compute()
    years = da.time.values.astype(float)
    for iy in range(da.sizes["y"]):
        for ix in range(da.sizes["x"]):
            want = ref_pixel(da.values[:, iy, ix], years, int(td[iy, ix]), int(tr[iy, ix]), 3, 0)
            got = {"und": ch.vcs_undisturbed.values[:, iy, ix], "dec": ch.direct_decrease.values[:, iy, ix],
                   "inc": ch.direct_increase.values[:, iy, ix], "cdes": ch.c_destroy.values[:, iy, ix],
                   "cres": ch.c_restore.values[:, iy, ix], "slope": ch.slope.values[iy, ix],
                   "intercept": ch.intercept.values[iy, ix], "n": ch.n_fit.values[iy, ix],
                   "flag": ch.fit_flag.values[iy, ix], "d": ch.destruction_step.values[iy, ix],
                   "r": ch.restoration_step.values[iy, ix]}
            assert_pixel_equal(got, want, np.float32)
    assert ch.c_destroy.dims == ("time", "y", "x") and ch.c_destroy.dtype == np.float32
    assert ch.c_destroy.attrs["units"] == "g CO2 m-2" and "long_name" in ch.c_destroy.attrs
    und = V.undisturbed_vcs(da, td, min_years=3)
    np.testing.assert_array_equal(und.vcs_undisturbed.values,
                                  V.vcs_changes(da, td, None, min_years=3).vcs_undisturbed.values)
    assert und.vcs_undisturbed.attrs["units"] == "g CO2 m-2 yr-1"
    for name in und.data_vars:
        assert "units" in und[name].attrs and "long_name" in und[name].attrs


def test_lazy_and_one_chunk_equals_many():
    rng = np.random.default_rng(11)
    da, td, tr = make_cube(rng)
    zones = xr.DataArray(rng.integers(0, 4, td.shape), dims=("y", "x"), coords=td.coords)
    with raise_if_dask_computes():
        ch = V.vcs_changes(da.chunk({"y": 2, "x": 3}), td.chunk({"y": 3, "x": 2}), tr)
        V.undisturbed_vcs(da.chunk({"y": 2}), td)
        mom = V.accounting_moments(ch, zones=zones.chunk({"y": 4}), n_zones=3)
    ch_np = V.vcs_changes(da, td, tr)
    for name in ch_np.data_vars:
        computed = ch[name].compute()
        assert ch[name].dtype == computed.dtype
        np.testing.assert_array_equal(computed.values, ch_np[name].values)
    mom_np = V.accounting_moments(ch_np, zones=zones, n_zones=3)
    for name in mom_np.data_vars:
        np.testing.assert_allclose(mom[name].values, mom_np[name].values, rtol=1e-12, atol=1e-9)
    one = V.vcs_accounting(da, td, tr, zones=zones, n_zones=3)
    with raise_if_dask_computes(max_computes=3):   # one pass per family of tables (memory: a chunk)
        many = V.vcs_accounting(da.chunk({"y": 2, "x": 2}), td, tr, zones=zones.chunk({"x": 3}), n_zones=3)
    for a, b in ((one.annual, many.annual), (one.by_zone, many.by_zone), (one.cohorts, many.cohorts),
                 (one.annual_by_zone, many.annual_by_zone)):
        pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    pd.testing.assert_series_equal(one.totals, many.totals, rtol=1e-12)


_CHUNK_CASE = {}


def _chunk_case():
    """One small cube and its numpy-backed tables, built once (dask overhead dominates here)."""
    if not _CHUNK_CASE:
        rng = np.random.default_rng(123)
        da, td, tr = make_cube(rng, nt=6, ny=6, nx=7)
        zones = xr.DataArray(rng.integers(0, 3, td.shape), dims=("y", "x"), coords=td.coords)
        _CHUNK_CASE.update(da=da, td=td, tr=tr, zones=zones,
                           base=V.vcs_accounting(da, td, tr, zones=zones, n_zones=2))
    return _CHUNK_CASE


@settings(max_examples=10, deadline=None)
@given(cy=st.integers(1, 6), cx=st.integers(1, 7))
def test_random_chunkings_give_the_same_tables(cy, cx):
    c = _chunk_case()
    got = V.vcs_accounting(c["da"].chunk({"y": cy, "x": cx}), c["td"], c["tr"], zones=c["zones"], n_zones=2)
    pd.testing.assert_frame_equal(c["base"].by_zone, got.by_zone, rtol=1e-12)
    pd.testing.assert_frame_equal(c["base"].annual, got.annual, rtol=1e-12)
    pd.testing.assert_frame_equal(c["base"].cohorts, got.cohorts, rtol=1e-12)


def test_tables_match_plain_sums_and_zones_sum_to_total():
    rng = np.random.default_rng(5)
    da, td, tr = make_cube(rng, nt=8, ny=8, nx=8)
    zones = xr.DataArray(rng.integers(0, 4, td.shape), dims=("y", "x"), coords=td.coords)
    acc = V.vcs_accounting(da, td, tr, zones=zones)
    ch = V.vcs_changes(da, td, tr)
    a = 900.0
    inz = (zones.values > 0)[None]
    gg = lambda x: np.nansum(np.where(inz, x, np.nan), axis=(1, 2)) * a / 1e9  # noqa: E731
    np.testing.assert_allclose(acc.annual.C_destroy_Gg.values, gg(ch.c_destroy.values), rtol=1e-12)
    np.testing.assert_allclose(acc.annual.C_restore_Gg.values, gg(ch.c_restore.values), rtol=1e-12)
    np.testing.assert_allclose(acc.annual.direct_decrease_Gg.values, gg(ch.direct_decrease.values), rtol=1e-12)
    np.testing.assert_allclose(acc.annual.direct_increase_Gg.values, gg(ch.direct_increase.values), rtol=1e-12)
    steps = np.arange(da.sizes["time"])[:, None, None]
    n_des = ((steps == ch.destruction_step.values[None]) & inz).sum(axis=(1, 2))
    np.testing.assert_allclose(acc.annual.destroyed_area_km2.values, n_des * a / 1e6)
    dec = np.where(inz, ch.direct_decrease.values, np.nan)
    with np.errstate(all="ignore"):
        cdd = np.nansum(dec, axis=(1, 2)) / np.isfinite(dec).sum(axis=(1, 2))
    np.testing.assert_allclose(acc.annual.C_ddper.values, cdd, rtol=1e-12)
    # VCSD per zone sums to the total, and equals the last cumulative value of the annual table
    vcsd = -(np.nansum(np.where(inz, ch.c_destroy.values, 0)) + np.nansum(np.where(inz, ch.c_restore.values, 0)))
    np.testing.assert_allclose(acc.totals.VCSD_Gg, vcsd * a / 1e9, rtol=1e-12)
    np.testing.assert_allclose(acc.by_zone.VCSD_Gg.sum(), acc.totals.VCSD_Gg, rtol=1e-12)
    np.testing.assert_allclose(acc.annual.VCSD_cumulative_Gg.iloc[-1], acc.totals.VCSD_Gg, rtol=1e-12)
    for col in ("destroyed_area_km2", "restored_area_km2", "direct_decrease_Gg", "C_restore_Gg"):
        np.testing.assert_allclose(acc.by_zone[col].sum(), acc.totals[col], rtol=1e-12)
    np.testing.assert_allclose(acc.annual_by_zone.groupby(level="year").C_destroy_Gg.sum().values,
                               acc.annual.C_destroy_Gg.values, rtol=1e-12)
    # cohorts partition the potential changes of every year
    dcoh = acc.cohorts.loc["destruction"].groupby(level="year").potential_change_Gg.sum()
    allpix = V.vcs_accounting(da, td, tr)  # no zones: every pixel
    np.testing.assert_allclose(dcoh.reindex(allpix.annual.index, fill_value=0).values,
                               allpix.annual.potential_change_Gg.values, rtol=1e-10, atol=1e-15)
    assert set(acc.annual.attrs["units"]) == set(acc.annual.columns)
    assert acc.by_zone.attrs["units"]["VCSD_Gg"] == "Gg CO2"
    assert len(acc.by_zone) == 3 and list(acc.by_zone.index) == [1, 2, 3]


def test_hand_computed_vcsd():
    """3 pixels x 6 years, pre-mining fit, 30 m pixels (900 m2), worked by hand."""
    years = np.arange(2001, 2007)
    v = np.zeros((6, 1, 3))
    v[:, 0, 0] = [100, 110, 0, 0, 0, 0]        # A: destroyed 2003, never restored; line 10/yr
    v[:, 0, 1] = [200, 200, 200, 0, 150, 220]  # B: destroyed 2004, restored 2005; line flat at 200
    v[:, 0, 2] = 50.0                          # C: never disturbed
    da = xr.DataArray(v, dims=("time", "y", "x"),
                      coords={"time": years, "y": [0.0], "x": [0.0, 30.0, 60.0]})
    td = xr.DataArray([[2003, 2004, -1]], dims=("y", "x"))
    tr = xr.DataArray([[-1, 2005, -1]], dims=("y", "x"))
    zones = xr.DataArray([[1, 1, 2]], dims=("y", "x"))
    acc = V.vcs_accounting(da, td, tr, zones=zones, min_years=2, pixel_area=900.0)
    # A: C_destroy = -(120 + 130 + 140 + 150) = -540; B: C_destroy(2004) = -200, C_restore = -50 + 20
    vcsd = -(-540 - 200 + (-50 + 20)) * 900 / 1e9
    assert acc.totals.VCSD_Gg == pytest.approx(vcsd, rel=1e-12)
    assert acc.by_zone.VCSD_Gg.tolist() == pytest.approx([vcsd, 0.0], rel=1e-12)
    ann = acc.annual
    assert ann.loc[2003, "direct_decrease_Gg"] == pytest.approx(110 * 900 / 1e9)
    assert ann.loc[2004, "direct_decrease_Gg"] == pytest.approx(200 * 900 / 1e9)
    assert ann.loc[2005, "direct_increase_Gg"] == pytest.approx(150 * 900 / 1e9)
    assert ann.loc[2003, "C_ddper"] == 110 and ann.loc[2004, "C_ddper"] == 200 and ann.loc[2005, "C_diper"] == 150
    np.testing.assert_allclose(ann.C_destroy_Gg.values, np.array([0, 0, -120, -330, -140, -150]) * 900 / 1e9)
    np.testing.assert_allclose(ann.C_restore_Gg.values, np.array([0, 0, 0, 0, -50, 20]) * 900 / 1e9)
    assert acc.totals.destroyed_area_km2 == pytest.approx(2 * 900 / 1e6)
    assert acc.totals.R_V == pytest.approx(0.5) and acc.totals.R_VCS == pytest.approx(150 / 310)
    assert ann.loc[2005, "R_V_cumulative"] == pytest.approx(0.5)
    assert acc.by_zone.loc[1, "C_restore_per_restored_area"] == pytest.approx(-30.0)
    coh = acc.cohorts
    assert coh.loc[("destruction", 2003, 2006), "C_destroy_Gg"] == pytest.approx(-150 * 900 / 1e9)
    assert coh.loc[("restoration", 2005, 2006), "C_restore_Gg"] == pytest.approx(20 * 900 / 1e9)


def test_pixel_area_from_grid_and_as_raster():
    rng = np.random.default_rng(2)
    da, td, tr = make_cube(rng, nt=5, ny=4, nx=5)
    assert V.pixel_area_m2(da) == pytest.approx(900.0)
    a = V.vcs_accounting(da, td, tr)
    b = V.vcs_accounting(da, td, tr, pixel_area=xr.full_like(td, 900.0, dtype=float))
    pd.testing.assert_frame_equal(a.annual, b.annual, rtol=1e-12)
    geo = da.rename(y="lat", x="lon")
    with pytest.raises(ValueError, match="geographic"):
        V.pixel_area_m2(geo, ("lat", "lon"))
    deg = da.copy()
    deg["x"].attrs["units"] = "degrees_east"
    with pytest.raises(ValueError, match="geographic"):
        V.vcs_accounting(deg, td, tr)


def test_bad_input_messages():
    rng = np.random.default_rng(1)
    da, td, tr = make_cube(rng, nt=5, ny=4, nx=4)
    with pytest.raises(ValueError, match=r"chunk\(\{'time': -1\}\)"):
        V.vcs_changes(da.chunk({"time": 2}), td, tr)
    with pytest.raises(TypeError, match="integer raster"):
        V.vcs_changes(da, td.astype(float), tr)
    with pytest.raises(ValueError, match="min_years"):
        V.undisturbed_vcs(da, td, min_years=1)
    with pytest.raises(TypeError, match="include_destruction_year"):
        V.undisturbed_vcs(da, td, include_destruction_year=1)
    with pytest.raises(ValueError, match="units"):
        V.vcs_changes(da.assign_attrs(units="g C m-2 yr-1"), td, tr)
    with pytest.raises(ValueError, match="strictly increasing"):
        V.vcs_changes(da.isel(time=[0, 2, 1, 3, 4]), td, tr)
    with pytest.raises(ValueError, match="time dimension"):
        V.vcs_changes(da, td.expand_dims(time=da.time), tr)
    with pytest.raises(TypeError, match="DataArray"):
        V.vcs_changes(da.values, td, tr)
    with pytest.raises(TypeError, match="zones"):
        V.vcs_accounting(da, td, tr, zones=td.astype(float))
    with pytest.raises(ValueError, match="pixel_area"):
        V.vcs_accounting(da, td, tr, pixel_area=-1)
    with pytest.raises(TypeError, match="vcs_changes"):
        V.accounting_moments(da.to_dataset(name="v"))


# ---------------------------------------------------------------- carbon value
UNITS = ["g C", "kg C", "t C", "Gg C", "Mt C", "g CO2", "t CO2", "Gg CO2", "kt CO2e", "g OM", "t OM",
         "Mg organic matter"]


@settings(max_examples=40, deadline=None)
@given(a=st.sampled_from(UNITS), b=st.sampled_from(UNITS), c=st.sampled_from(UNITS),
       route=st.sampled_from(sorted(CV.ROUTES)), x=st.floats(-1e6, 1e6, allow_nan=False))
def test_conversions_round_trip(a, b, c, route, x):
    there = CV.convert(x, a, b, route=route)
    assert CV.convert(there, b, a, route=route) == pytest.approx(x, rel=1e-12, abs=1e-9)
    via = CV.convert(CV.convert(x, a, c, route=route), c, b, route=route)
    assert via == pytest.approx(there, rel=1e-12, abs=1e-9)


def test_conversion_factors():
    assert CV.convert(12.0, "t C", "t CO2") == pytest.approx(44.0)
    assert CV.convert(1.0, "g C", "g CO2", route="study002") == pytest.approx(2.2 * 1.63)
    assert CV.convert(1.0, "g OM", "g CO2", route="study002") == pytest.approx(1.63)
    assert CV.convert(1.0, "g C", "g OM") == pytest.approx(2.2)
    assert CV.convert(1.0, "Gg CO2", "t CO2") == pytest.approx(1000.0)
    assert CV.convert(1.0, "GgCO2", "tCO2") == pytest.approx(1000.0)
    # VCS (Eq. 2) back to carbon on the study-002 route recovers NPP
    assert CV.convert(100 * 2.2 * 1.63, "g CO2", "g C", route="study002") == pytest.approx(100.0)
    with pytest.raises(ValueError, match="unknown mass unit"):
        CV.convert(1.0, "g N", "g C")
    with pytest.raises(ValueError, match="route"):
        CV.convert(1.0, "g C", "g CO2", route="ipcc")


def test_carbon_value_types_and_table():
    # study 002's VCSD at study 003's 56 yuan per t CO2: 1966.7 Gg = 1,966,700 t
    assert CV.carbon_value(1966.7, "Gg CO2", price=56, price_unit="yuan/t CO2") == pytest.approx(110_135_200.0)
    per_c = CV.carbon_value(1966.7, "Gg CO2", price=CV.STUDY_003_PRICE, price_unit="yuan/t C", route="study002")
    assert per_c == pytest.approx(1966.7e3 / 3.586 * 56)
    s = pd.Series([1.0, -2.0])
    np.testing.assert_allclose(CV.carbon_value(s, "t CO2", price=10, price_unit="USD per t CO2"), [10.0, -20.0])
    da = xr.DataArray([1.0, 2.0], dims="zone", attrs={"units": "Gg CO2"})
    out = CV.carbon_value(da, "Gg CO2", price=56, price_unit="yuan/t CO2")
    assert out.attrs["units"] == "yuan" and float(out[1]) == pytest.approx(112000.0)
    np.testing.assert_allclose(CV.carbon_value(np.array([1.0]), "t C", price=1, price_unit="EUR/t CO2"), [44 / 12])
    table = pd.DataFrame({"VCSD_Gg": [1.0, 0.5]}, index=pd.Index([1, 2], name="zone"))
    table.attrs["units"] = {"VCSD_Gg": "Gg CO2"}
    valued = CV.add_carbon_value(table, price=56, price_unit="yuan/t CO2")
    assert valued["VCSD_Gg_value"].tolist() == pytest.approx([56000.0, 28000.0])
    assert valued.attrs["units"]["VCSD_Gg_value"] == "yuan" and "VCSD_Gg_value" not in table
    with pytest.raises(ValueError, match="price"):
        CV.carbon_value(1.0, "t C", price=-1, price_unit="yuan/t C")
    with pytest.raises(ValueError, match="price_unit"):
        CV.carbon_value(1.0, "t C", price=1, price_unit="yuan")
    with pytest.raises(ValueError, match="unit of"):
        CV.add_carbon_value(table.assign(x=1.0), price=1, price_unit="yuan/t C", columns=("x",))


def test_event_years_outside_the_vcs_window_are_brought_onto_it():
    """MOD17 covers fewer years than Landsat: a restoration after the last VCS year must not
    throw away the pixel's destruction (it is 'not restored yet'), and so on."""
    years = np.arange(2001, 2011)
    v = np.array([[600, 610, 620, 0, 0, 0, 0, 0, 0, 0]] * 4, dtype=np.float64).T[:, :, None]
    da = xr.DataArray(v, dims=("time", "y", "x"), coords={"time": years, "y": [0.0, 30, 60, 90], "x": [0.0]})
    td = xr.DataArray(np.array([[2004], [2004], [1998], [1995]], dtype=np.int32), dims=("y", "x"))
    tr = xr.DataArray(np.array([[-1], [2012], [-1], [1999]], dtype=np.int32), dims=("y", "x"))
    ch = V.vcs_changes(da, td, tr, min_years=3)
    np.testing.assert_allclose(ch.c_destroy.isel(y=1).sum().item(), ch.c_destroy.isel(y=0).sum().item())
    assert int(ch.fit_flag.isel(y=1, x=0)) == K.FLAG_FITTED
    assert int(ch.fit_flag.isel(y=2, x=0)) == K.FLAG_SHORT and int(ch.destruction_step.isel(y=2, x=0)) == 0
    assert int(ch.fit_flag.isel(y=3, x=0)) == K.FLAG_UNDISTURBED   # destroyed and restored before 2001
