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


def _pixel_outputs(ch, iy, ix):
    """One pixel of a vcs_changes Dataset, keyed as the references key theirs."""
    return {"und": ch.vcs_undisturbed.values[:, iy, ix], "dec": ch.direct_decrease.values[:, iy, ix],
            "inc": ch.direct_increase.values[:, iy, ix], "cdes": ch.c_destroy.values[:, iy, ix],
            "cres": ch.c_restore.values[:, iy, ix], "slope": ch.slope.values[iy, ix],
            "intercept": ch.intercept.values[iy, ix], "n": ch.n_fit.values[iy, ix],
            "flag": ch.fit_flag.values[iy, ix], "d": ch.destruction_step.values[iy, ix],
            "r": ch.restoration_step.values[iy, ix]}


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
            assert_pixel_equal(_pixel_outputs(ch, iy, ix), want, np.float32)
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


# ---------------------------------------------------------------- every cycle (yearly state)
def ref_first_events(state, years):
    """T_D / T_R read from the state (kernel rule for event years that say 'none')."""
    d = next((i for i, s in enumerate(state) if s == 0 and (i == 0 or 1 in list(state[:i]))), None)
    if d is None:
        return -1, -1
    r = next((j for j in range(d + 1, len(state)) if state[j] == 1), None)
    return int(years[d]), (-1 if r is None else int(years[r]))


def ref_pixel_states(v, years, state, td, tr, min_years, include_td):
    """Plain-python multi-cycle booking on top of the single-cycle reference's fit."""
    state = np.asarray(state)
    if td == -1 and tr == -1:
        td, tr = ref_first_events(state, years)
    out = ref_pixel(v, years, td, tr, min_years, include_td)
    v = np.asarray(v, dtype=np.float64)
    nt = v.size
    for k in ("dec", "inc", "cdes", "cres"):
        out[k] = np.full(nt, np.nan)
    out["event"] = np.zeros(nt, dtype=np.int8)
    d = out["d"]
    if out["flag"] == K.FLAG_INVALID or d < 0:
        return out
    # the 0/1 states after T_D, T_D's step counted as destroyed; a change of code is an event
    idx = [d] + [i for i in range(d + 1, nt) if state[i] in (0, 1)]
    codes = [0] + [int(state[i]) for i in idx[1:]]
    for k, i in enumerate(idx):
        if k == 0 or codes[k] != codes[k - 1]:
            out["event"][i] = 1 if codes[k] == 0 else 2
            if i >= 1:
                out["dec" if codes[k] == 0 else "inc"][i] = (v[i - 1] - v[i]) if codes[k] == 0 else (v[i] - v[i - 1])
    if out["flag"] in (K.FLAG_FITTED, K.FLAG_MEAN):
        p0 = d + 1 if include_td else d
        gap = v - out["und"]
        late = np.arange(nt) >= p0
        out["cdes"] = np.where(late & (state == 0), gap, np.nan)
        out["cres"] = np.where(late & (state == 1), gap, np.nan)
    return out


def kernel_pixel_states(v, years, state, td, tr, min_years, include_td):
    und, dec, inc, cdes, cres, ev, a, b, n, f, d, r = K.accounting_states(
        v, years, np.asarray(state, dtype=np.int8), td, tr, min_years, include_td)
    return {"und": und, "dec": dec, "inc": inc, "cdes": cdes, "cres": cres, "event": ev, "slope": a,
            "intercept": b, "n": n, "flag": f, "d": d, "r": r}


def random_states(rng, nt):
    """A Markov chain of disturbance states: not vegetated -> vegetated <-> destroyed, sometimes
    starting destroyed (before the window), a whole pixel of no data, or odd codes mid-series."""
    if rng.random() < 0.05:
        return np.full(nt, -1, dtype=np.int8)
    s = np.empty(nt, dtype=np.int8)
    s[0] = rng.choice([2, 0, 1], p=[0.2, 0.2, 0.6])
    for i in range(1, nt):
        p = s[i - 1]
        u = rng.random()
        s[i] = (1 if u < 0.4 else 2) if p == 2 else (0 if u < 0.35 else 1) if p == 1 else (1 if u < 0.45 else 0)
    odd = rng.random(nt) < 0.05
    s[odd] = rng.choice([-1, 2], odd.sum())
    return s


def events_implied(state, years, rng):
    """First T_D / T_R as the disturbance stage reports them (mostly), or 'none' / random."""
    u = rng.random()
    if u < 0.15:
        return -1, -1                          # restored before the window: read from the state
    if u < 0.25:
        cands = [-1, int(years[0]) - 1, int(years[-1]) + 1] + [int(y) for y in years]
        return int(rng.choice(cands)), int(rng.choice(cands))
    td, tr = ref_first_events(state, years)
    return td, tr


@settings(max_examples=40, deadline=None)
@given(nt=st.integers(1, 12), seed=st.integers(0, 2**31 - 1), nan_frac=st.sampled_from([0.0, 0.2]),
       min_years=st.integers(2, 3), include_td=st.integers(0, 1), dtype=st.sampled_from([np.float32, np.float64]),
       gap=st.booleans())
def test_states_kernel_matches_reference_random(nt, seed, nan_frac, min_years, include_td, dtype, gap):
    rng = np.random.default_rng(seed)
    years = np.arange(2001, 2002 + nt, dtype=np.float64)
    if gap and nt >= 3:
        years = np.delete(years, nt // 2)
    years = years[:nt]
    for _ in range(6):
        s = random_states(rng, nt)
        v = rng.uniform(0, 800, nt)
        v = np.where((s == 0) & (rng.random(nt) < 0.8), 0.0, v).astype(dtype)   # Eq. 1: destroyed -> 0
        v[rng.random(nt) < nan_frac] = np.nan
        td, tr = events_implied(s, years, rng)
        got = kernel_pixel_states(v, years, s, td, tr, min_years, include_td)
        want = ref_pixel_states(v, years, s, td, tr, min_years, include_td)
        assert_pixel_equal(got, want, dtype)
        np.testing.assert_array_equal(got["event"], want["event"])


def implied_state(years, td, tr):
    """The single-cycle state that T_D / T_R imply on ``years`` (1 before T_D, 0 to T_R, 1 from T_R)."""
    y = np.asarray(years)
    td_ = np.asarray(td)[..., None]
    tr_ = np.asarray(tr)[..., None]
    destroyed = (td_ != -1) & (y >= td_) & ((tr_ == -1) | (y < tr_))
    return np.where(destroyed, 0, 1).astype(np.int8)


@settings(max_examples=40, deadline=None)
@given(nt=st.integers(1, 10), seed=st.integers(0, 2**31 - 1), include_td=st.integers(0, 1),
       dtype=st.sampled_from([np.float32, np.float64]), gap=st.booleans())
def test_states_single_cycle_equals_first_events_kernel(nt, seed, include_td, dtype, gap):
    rng = np.random.default_rng(seed)
    years = np.arange(2001, 2002 + nt, dtype=np.float64)
    if gap and nt >= 3:
        years = np.delete(years, nt // 2)
    years = years[:nt]
    npx = 12
    v = rng.uniform(0, 800, (npx, nt)).astype(dtype)
    v[rng.random(v.shape) < 0.15] = np.nan
    cands = [-1, -1, 2000, int(years[-1]) + 1] + [int(y) for y in years] + [int(years[0]) + k for k in range(nt + 1)]
    td = rng.choice(cands, npx)
    tr = np.where(rng.random(npx) < 0.5, -1, rng.choice(cands + [int(years[-1])], npx))
    # the missing-year rule: an event in a missing year is the next observed one (as the stage sees it)
    s = implied_state(years, td, tr)
    one = K.accounting(v, years, td, tr, 2, include_td)
    many = K.accounting_states(v, years, s, td, tr, 2, include_td)
    for a, b in zip(one, many[:5] + many[6:]):
        np.testing.assert_array_equal(a, b)
    ok = one[8] != K.FLAG_INVALID
    d, r = one[9], one[10]
    steps = np.arange(nt)
    want_ev = np.where(ok[:, None] & (steps == d[:, None]), 1, np.where(ok[:, None] & (steps == r[:, None]), 2, 0))
    np.testing.assert_array_equal(many[5], want_ev)


def _cycle_cube():
    """destroy -> restore -> destroy -> restore on one pixel, a single cycle on another."""
    years = np.arange(2001, 2011)
    v = np.zeros((10, 1, 2))
    v[:, 0, 0] = [600, 610, 620, 0, 0, 300, 500, 0, 0, 400]   # D 2004, R 2006, D 2008, R 2010
    v[:, 0, 1] = [200, 200, 200, 200, 0, 0, 100, 150, 180, 190]  # D 2005, R 2007
    st_ = np.zeros((10, 1, 2), dtype=np.int8)
    st_[:, 0, 0] = [1, 1, 1, 0, 0, 1, 1, 0, 0, 1]
    st_[:, 0, 1] = [1, 1, 1, 1, 0, 0, 1, 1, 1, 1]
    c = {"time": years, "y": [0.0], "x": [0.0, 30.0]}
    da = xr.DataArray(v, dims=("time", "y", "x"), coords=c, attrs={"units": "g CO2 m-2 yr-1"})
    state = xr.DataArray(st_, dims=("time", "y", "x"), coords=c)
    td = xr.DataArray([[2004, 2005]], dims=("y", "x"))
    tr = xr.DataArray([[2006, 2007]], dims=("y", "x"))
    return da, state, td, tr


def test_states_hand_example_two_cycles():
    da, state, td, tr = _cycle_cube()
    ch = V.vcs_changes(da, td, tr, state=state, min_years=3)
    old = V.vcs_changes(da, td, tr, min_years=3)
    px = ch.isel(y=0, x=0)
    # fit on 2001-2003: 600 + 10/yr; the second destruction (2008-09) is destroyed area again
    nan = np.nan
    np.testing.assert_array_equal(px.direct_decrease.values, [nan] * 3 + [620] + [nan] * 3 + [500, nan, nan])
    np.testing.assert_array_equal(px.direct_increase.values, [nan] * 5 + [300, nan, nan, nan, 400])
    np.testing.assert_allclose(px.c_destroy.values, [nan] * 3 + [-630, -640, nan, nan, -670, -680, nan])
    np.testing.assert_allclose(px.c_restore.values, [nan] * 5 + [-350, -160, nan, nan, -290])
    np.testing.assert_array_equal(px.event.values, [0, 0, 0, 1, 0, 2, 0, 1, 0, 2])
    assert int(px.destruction_step) == 3 and int(px.restoration_step) == 5   # cohorts: first T_D / T_R
    # the first-event booking puts the second destruction into C_restore and misses its decrease
    assert old.c_restore.isel(y=0, x=0).values[7] == -670 and np.isnan(old.direct_decrease.values[7, 0, 0])
    # the single-cycle pixel is booked as before
    for name in old.data_vars:
        np.testing.assert_array_equal(ch[name].isel(x=1).values, old[name].isel(x=1).values, err_msg=name)
    assert ch.event.dtype == np.int8 and ch.event.attrs["units"] == "1" and "long_name" in ch.event.attrs
    acc = V.vcs_accounting(da, td, tr, state=state, min_years=3, pixel_area=1e6)
    ann = acc.annual
    np.testing.assert_allclose(ann.destroyed_area_km2.values, [0, 0, 0, 1, 1, 0, 0, 1, 0, 0])
    np.testing.assert_allclose(ann.restored_area_km2.values, [0, 0, 0, 0, 0, 1, 1, 0, 0, 1])
    assert acc.totals.R_V == pytest.approx(1.0)
    assert acc.totals.direct_decrease_Gg == pytest.approx((620 + 500 + 200) * 1e6 / 1e9)
    assert acc.totals.direct_increase_Gg == pytest.approx((300 + 400 + 100) * 1e6 / 1e9)
    # pixel 0: C_destroy -2620, C_restore -800; pixel 1 (flat 200): -200 -200 then -100 -50 -20 -10
    assert acc.totals.VCSD_Gg == pytest.approx((2620 + 800 + 400 + 180) * 1e6 / 1e9)
    coh = acc.cohorts
    assert coh.loc[("destruction", 2004, 2008), "C_destroy_Gg"] == pytest.approx(-670 * 1e6 / 1e9)
    assert coh.loc[("restoration", 2006, 2009), "C_destroy_Gg"] == pytest.approx(-680 * 1e6 / 1e9)


def _long_axis_case(rng, dtype=np.float64):
    """A VCS cube on 2001-2009 and a state on the longer 1998-2012 axis (datetimes), plus the
    first events read off it -- as the pipeline stage gets them from the disturbance stage."""
    da, _, _ = make_cube(rng, nt=9, ny=5, nx=6, dtype=dtype)
    ny, nx = da.sizes["y"], da.sizes["x"]
    ly = np.arange(1998, 2013)
    s = np.stack([random_states(rng, ly.size) for _ in range(ny * nx)]).reshape(ny, nx, ly.size)
    td = np.empty((ny, nx), dtype=np.int32)
    tr = np.empty((ny, nx), dtype=np.int32)
    for iy in range(ny):
        for ix in range(nx):
            td[iy, ix], tr[iy, ix] = ref_first_events(s[iy, ix], ly)
    v = np.where(np.moveaxis(s[..., 3:12], -1, 0) == 0, 0.0, da.values).astype(dtype)
    da = da.copy(data=v)
    times = pd.to_datetime([f"{y}-07-01" for y in ly])
    state = xr.DataArray(np.moveaxis(s, -1, 0), dims=("time", "y", "x"),
                         coords={"time": times, "y": da.y, "x": da.x})
    sp = {"y": da.y, "x": da.x}
    return da, state, xr.DataArray(td, dims=("y", "x"), coords=sp), xr.DataArray(tr, dims=("y", "x"), coords=sp)


def test_states_ops_match_reference_on_a_longer_state_axis():
    rng = np.random.default_rng(21)
    da, state, td, tr = _long_axis_case(rng, np.float32)
    ch = V.vcs_changes(da, td, tr, state=state, min_years=3)
    # the reference sees what the wrapper promises: state on the VCS years, events clipped onto them
    ctd, ctr = V._onto_window(td, tr, 2001, 2009)
    s9 = state.values[3:12]
    years = da.time.values.astype(float)
    for iy in range(da.sizes["y"]):
        for ix in range(da.sizes["x"]):
            want = ref_pixel_states(da.values[:, iy, ix], years, s9[:, iy, ix], int(ctd[iy, ix]), int(ctr[iy, ix]),
                                    3, 0)
            assert_pixel_equal(_pixel_outputs(ch, iy, ix), want, np.float32)
            np.testing.assert_array_equal(ch.event.values[:, iy, ix], want["event"])
    acc = V.vcs_accounting(da, td, tr, state=state, min_years=3)
    n_des = (ch.event.values == 1).sum(axis=(1, 2))
    np.testing.assert_allclose(acc.annual.destroyed_area_km2.values, n_des * 900 / 1e6)
    # a second destruction is never C_restore: c_restore only where the state is 1
    assert np.all(np.isnan(ch.c_restore.values[s9 != 1])) and np.all(np.isnan(ch.c_destroy.values[s9 != 0]))


def test_states_single_cycle_equals_first_events_ops():
    """State implied by (first) T_D / T_R on a longer axis -> the same Dataset and tables as state=None."""
    rng = np.random.default_rng(8)
    da, td, tr = make_cube(rng, nt=8, ny=6, nx=6)
    # also events before the window (clipped, or restored before it) and after it
    td = td.copy(data=np.where(rng.random(td.shape) < 0.3, rng.choice([1998, 1999, 2000], td.shape), td.values))
    tr = tr.copy(data=np.where((td.values < 2001) & (td.values > 0) & (rng.random(td.shape) < 0.6),
                               rng.choice([1999, 2000, 2003, 2010], td.shape), tr.values))
    tr = tr.copy(data=np.where((tr.values > 0) & (tr.values <= td.values), -1, tr.values))
    ly = np.arange(1998, 2012)
    s = np.moveaxis(implied_state(ly, td.values, tr.values), -1, 0)
    state = xr.DataArray(s, dims=("time", "y", "x"), coords={"time": ly, "y": da.y, "x": da.x})
    zones = xr.DataArray(rng.integers(0, 3, td.shape), dims=("y", "x"), coords=td.coords)
    for inc in (False, True):
        old = V.vcs_changes(da, td, tr, include_destruction_year=inc)
        new = V.vcs_changes(da, td, tr, state=state, include_destruction_year=inc)
        assert set(new.data_vars) - set(old.data_vars) == {"event"}
        for name in old.data_vars:
            np.testing.assert_array_equal(new[name].values, old[name].values, err_msg=name)
    a = V.vcs_accounting(da, td, tr, zones=zones, n_zones=2)
    b = V.vcs_accounting(da, td, tr, state=state, zones=zones, n_zones=2)
    for x, y in ((a.annual, b.annual), (a.by_zone, b.by_zone), (a.cohorts, b.cohorts)):
        pd.testing.assert_frame_equal(x, y, check_exact=True)
    pd.testing.assert_series_equal(a.totals, b.totals, check_exact=True)


def test_states_lazy_and_one_chunk_equals_many():
    rng = np.random.default_rng(31)
    da, state, td, tr = _long_axis_case(rng)
    zones = xr.DataArray(rng.integers(0, 3, td.shape), dims=("y", "x"), coords=td.coords)
    with raise_if_dask_computes():
        lazy = V.vcs_changes(da.chunk({"y": 2, "x": 4}), td, tr, state=state.chunk({"time": 4, "y": 3}))
        V.accounting_moments(lazy, zones=zones, n_zones=2)
    eager = V.vcs_changes(da, td, tr, state=state)
    for name in eager.data_vars:
        np.testing.assert_array_equal(lazy[name].compute().values, eager[name].values, err_msg=name)
    one = V.vcs_accounting(da, td, tr, state=state, zones=zones, n_zones=2)
    many = V.vcs_accounting(da.chunk({"y": 2, "x": 3}), td, tr, state=state.chunk({"x": 2}), zones=zones,
                            n_zones=2)
    for x, y in ((one.annual, many.annual), (one.by_zone, many.by_zone), (one.cohorts, many.cohorts)):
        pd.testing.assert_frame_equal(x, y, rtol=1e-12)


def test_states_bad_input_messages():
    da, state, td, tr = _cycle_cube()
    with pytest.raises(TypeError, match="state must be an integer"):
        V.vcs_changes(da, td, tr, state=state.astype(float))
    with pytest.raises(ValueError, match="state must have the time dimension"):
        V.vcs_changes(da, td, tr, state=state.isel(time=0))
    with pytest.raises(ValueError, match=r"state lacks the vcs years \[2005\]"):
        V.vcs_changes(da, td, tr, state=state.drop_sel(time=2005))
    with pytest.raises(ValueError, match="state has dims"):
        V.vcs_changes(da, td, tr, state=state.expand_dims(band=[1]))
    with pytest.raises(ValueError, match="state has 1 steps along 'x'"):
        V.vcs_changes(da, td, tr, state=state.isel(x=[0]))
    with pytest.raises(TypeError, match="DataArray"):
        V.vcs_changes(da, td, tr, state=state.values)
    # codes beyond int8 are no data, not wrapped into 0 / 1
    wide = state.astype(np.int64).where(state != 0, 256)
    ch = V.vcs_changes(da, td, tr, state=wide, min_years=3)
    assert np.isnan(ch.c_destroy.values).all() and np.isnan(ch.direct_decrease.values[4:, 0, 0]).all()
