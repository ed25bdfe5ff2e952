"""Delta-method standard error of VCSD per zone (study 002 Eqs. 1, 3-5; docs/vcs.md)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeeco.kernels import vcs as K
from cubeeco.ops import vcs as V
from cubeeco.ops.vcs_uncertainty import vcsd_standard_error
from cubeeco.testing.laziness import raise_if_dask_computes

FACTOR = 2.2 * 1.63   # Eq. 2


# ---------------------------------------------------------------- kernel vs finite differences
def _contribution(v, years, td, tr, min_years, include_td):
    """-Σ_t(cdes + cres) per row of v (the existing accounting kernel)."""
    out = K.accounting(v, years, td, tr, min_years, include_td)
    cdes, cres = out[3], out[4]
    return -(np.nansum(cdes, axis=-1) + np.nansum(cres, axis=-1)), out


def _finite_difference(v, years, td, tr, min_years, include_td, h=1e-3):
    """Central differences of the contribution w.r.t. each v_s (rows: pixels, columns: s)."""
    n, nt = v.shape
    vp = np.repeat(v[:, None, :], nt, axis=1)   # (n, s, t)
    vm = vp.copy()
    idx = np.arange(nt)
    vp[:, idx, idx] += h
    vm[:, idx, idx] -= h
    rep = lambda a: np.repeat(a, nt)   # noqa: E731
    args = (years, rep(td), rep(tr), min_years, include_td)
    pp, _ = _contribution(vp.reshape(-1, nt), *args)
    pm, _ = _contribution(vm.reshape(-1, nt), *args)
    fd = ((pp - pm) / (2 * h)).reshape(n, nt)
    return np.where(np.isfinite(v), fd, 0.0)   # NaN v: no derivative (NaN stays NaN)


def _check_kernel(v, years, td, tr, min_years, include_td):
    _, out = _contribution(v, years, td, tr, min_years, include_td)
    und, cdes, cres, slope, intercept, flag, d_step = out[0], out[3], out[4], out[5], out[6], out[8], out[9]
    sens = K.vcsd_sensitivity(v, years, cdes, cres, und, d_step.astype(np.int64), flag.astype(np.int64),
                              include_td)
    assert sens.dtype == np.float64 and sens.shape == v.shape
    fd = _finite_difference(v, years, td, tr, min_years, include_td)
    # skip pixels with a booked prediction within reach of the clip at 0 (a kink)
    raw = slope[:, None] * years[None, :] + intercept[:, None]
    booked = np.isfinite(cdes) | np.isfinite(cres)
    near = ((flag == K.FLAG_FITTED)[:, None] & booked & (np.abs(raw) < 1e-1)).any(axis=1)
    np.testing.assert_allclose(sens[~near], fd[~near], rtol=1e-6, atol=1e-6)
    other = ~np.isin(flag, [K.FLAG_FITTED, K.FLAG_MEAN])
    assert np.all(sens[other] == 0.0)
    return flag


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), nt=st.integers(2, 12), include_td=st.sampled_from([0, 1]),
       min_years=st.integers(2, 5), nan_share=st.sampled_from([0.0, 0.15]), trend=st.sampled_from([-40.0, 0.0, 25.0]))
def test_sensitivity_matches_finite_differences(seed, nt, include_td, min_years, nan_share, trend):
    rng = np.random.default_rng(seed)
    years = np.sort(rng.choice(np.arange(2000, 2000 + nt + 3), size=nt, replace=False)).astype(np.float64)
    n = 30
    v = 300 + trend * (years - years[0])[None, :] + rng.normal(0, 60, (n, nt))
    v = np.maximum(v, 0.0)
    v[rng.random((n, nt)) < nan_share] = np.nan
    yr = years.astype(np.int64)
    td = np.where(rng.random(n) < 0.85, rng.integers(yr[0], yr[-1] + 1, n), -1)
    tr = np.where((td > 0) & (rng.random(n) < 0.5), td + rng.integers(1, 5, n), -1)
    tr = np.where(tr > yr[-1], -1, tr)
    y = yr[None, :]
    v[(td[:, None] > 0) & (y >= td[:, None]) & ((tr[:, None] < 0) | (y < tr[:, None]))] = 0.0   # Eq. 1: destroyed 0
    _check_kernel(v, years, td, tr, min_years, include_td)


@pytest.mark.parametrize("include_td", [0, 1])
def test_sensitivity_mean_and_short_cases(include_td):
    years = np.arange(2001.0, 2009.0)
    rng = np.random.default_rng(3)
    v = rng.uniform(200, 400, (5, years.size))
    # T_D in the 2nd / 3rd year: 1-2 fit years (FLAG_MEAN with min_years=3); first year: FLAG_SHORT
    # (include_td=0) or one-year mean (include_td=1); never destroyed: FLAG_UNDISTURBED
    td = np.array([2002, 2003, 2001, -1, 2005])
    tr = np.array([2005, -1, 2004, -1, 2007])
    flag = _check_kernel(v, years, td, tr, 3, include_td)
    assert K.FLAG_MEAN in flag
    # the mean case by hand: pixel 0 (T_D 2002), fit steps 0..stop-1, every later step booked
    _, out = _contribution(v, years, td, tr, 3, include_td)
    sens = K.vcsd_sensitivity(v, years, out[3], out[4], out[0], out[9].astype(np.int64),
                              out[8].astype(np.int64), include_td)
    stop = 1 + include_td
    booked = years.size - stop
    want = np.r_[np.full(stop, booked / stop), np.full(booked, -1.0)]
    assert out[8][0] == K.FLAG_MEAN
    np.testing.assert_allclose(sens[0], want, rtol=1e-12)


def test_sensitivity_float32_and_states():
    years = np.arange(2001.0, 2011.0)
    rng = np.random.default_rng(5)
    v = rng.uniform(200, 400, (4, years.size))
    td = np.array([2004, 2005, 2006, -1])
    tr = np.array([2007, -1, 2008, -1])
    state = np.ones(v.shape, np.int8)
    for i in range(3):
        d = np.searchsorted(years, td[i])
        r = np.searchsorted(years, tr[i]) if tr[i] > 0 else years.size
        state[i, d:r] = 0
    state[0, 8] = 0   # a second destruction
    state[2, 9] = 2   # not vegetated: books nothing
    v[state == 0] = 0.0
    out = K.accounting_states(v, years, state, td, tr, 3, 0)
    sens = K.vcsd_sensitivity(v, years, out[3], out[4], out[0], out[10].astype(np.int64),
                              out[9].astype(np.int64), 0)
    p0 = -(np.nansum(out[3], -1) + np.nansum(out[4], -1))
    h = 1e-3
    for s in range(years.size):
        w = v.copy()
        w[:, s] += h
        o = K.accounting_states(w, years, state, td, tr, 3, 0)
        fd = (-(np.nansum(o[3], -1) + np.nansum(o[4], -1)) - p0) / h
        np.testing.assert_allclose(sens[:, s], fd, rtol=1e-6, atol=1e-6)
    s32 = K.vcsd_sensitivity(v.astype(np.float32), years, out[3].astype(np.float32), out[4].astype(np.float32),
                             out[0].astype(np.float32), out[10].astype(np.int64), out[9].astype(np.int64), 0)
    assert s32.dtype == np.float64
    np.testing.assert_allclose(s32, sens, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- synthetic coal base
def _setup(seed, ncy=2, ncx=2, k=4, nt=9, margin=1):
    """Cells of k×k pixels (plus a margin column outside every cell), two zones, random events."""
    rng = np.random.default_rng(seed)
    ny, nx = ncy * k, ncx * k + margin
    iy, ix = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    cells = np.where(ix < ncx * k, (iy // k) * ncx + ix // k, -1)
    years = np.r_[2001:2001 + nt]
    years = np.delete(years, 4) if nt > 6 else years   # a missing year, as 2012 in study 002
    nt = years.size
    td = np.where(rng.random((ny, nx)) < 0.6, rng.integers(years[1], years[-2], (ny, nx)), -1)
    tr = np.where((td > 0) & (rng.random((ny, nx)) < 0.5), td + rng.integers(2, 5, (ny, nx)), -1)
    tr = np.where(tr > years[-1], -1, tr)
    y = years[:, None, None]
    destroyed = (td > 0) & (y >= td) & ((tr < 0) | (y < tr))
    flags = np.where(destroyed, 0.0, rng.uniform(0.5, 1.5, (nt, ny, nx)))   # sub-cell weights on vegetated
    flags[rng.random(flags.shape) < 0.04] = np.nan                          # unknown flags
    n_cells = ncy * ncx
    npp_b = rng.uniform(300, 500, (nt, n_cells)) * (1 + 0.03 * np.arange(nt))[:, None]
    npp_bg = rng.uniform(20, 60, (nt, n_cells))
    zones = np.zeros((ny, nx), np.int32)
    zones[: ny // 2, 1:] = 1
    zones[ny // 2:, : nx - 2] = 2
    return dict(years=years, cells=cells, td=td, tr=tr, flags=flags, npp_b=npp_b, npp_bg=npp_bg, zones=zones)


def _eq1(s, rel=None):
    """Eq. 1 by hand: vegetated pixels w / Σ_veg w · (NPP_b·S - NPP_bg·D), destroyed 0, unknown NaN."""
    b = s["npp_b"] if rel is None else s["npp_b"] * (1 + rel)
    flags, cells, bg = s["flags"], s["cells"], s["npp_bg"]
    nt = flags.shape[0]
    npp = np.full(flags.shape, np.nan)
    nppb = np.full(flags.shape, np.nan)
    for c in range(b.shape[1]):
        m = cells == c
        for t in range(nt):
            f = flags[t][m]
            known = np.isfinite(f)
            S, D = known.sum(), (f[known] == 0).sum()
            W = f[known & (f > 0)].sum()
            budget = b[t, c] * S - bg[t, c] * D
            a = np.where(known, np.where(f > 0, f / W * budget if W > 0 else np.nan, 0.0), np.nan)
            npp[t][m] = a
            nppb[t][m] = b[t, c]
    return npp, nppb


def _das(s, npp, nppb, chunks=None):
    ny, nx = s["cells"].shape
    coords = {"time": s["years"], "y": 3000.0 - 30.0 * np.arange(ny), "x": 500.0 + 30.0 * np.arange(nx)}
    cube = lambda a, name, u: xr.DataArray(a, dims=("time", "y", "x"), coords=coords, name=name,   # noqa: E731
                                           attrs={"units": u})
    flat = lambda a, name: xr.DataArray(a, dims=("y", "x"), coords={"y": coords["y"], "x": coords["x"]},   # noqa: E731
                                        name=name)
    out = {"npp": cube(npp, "npp", "g C m-2 yr-1"), "npp_b": cube(nppb, "npp_b", "g C m-2 yr-1"),
           "vcs": cube(npp * FACTOR, "vcs", V.VCS_UNITS), "td": flat(s["td"], "td"), "tr": flat(s["tr"], "tr"),
           "cells": flat(s["cells"], "modis_cell"), "zones": flat(s["zones"], "zones")}
    if chunks is not None:
        out = {k: v.chunk({d: c for d, c in chunks.items() if d in v.dims}) for k, v in out.items()}
    return out


def _vcsd(s, rel, include_td):
    npp, _ = _eq1(s, rel)
    d = _das(s, npp, npp)
    acc = V.vcs_accounting(d["vcs"], d["td"], d["tr"], zones=d["zones"], n_zones=2,
                           include_destruction_year=bool(include_td))
    return acc.by_zone["VCSD_Gg"].to_numpy()


def _delta(s, include_td, sigma_e, sigma_u, chunks=None):
    npp, nppb = _eq1(s)
    d = _das(s, npp, nppb, chunks)
    changes = V.vcs_changes(d["vcs"], d["td"], d["tr"], include_destruction_year=bool(include_td))
    return vcsd_standard_error(changes, d["vcs"], d["npp"], d["npp_b"], d["cells"], d["zones"], 2,
                               sigma_e=sigma_e, sigma_u=sigma_u)


@pytest.mark.parametrize("include_td", [0, 1])
def test_delta_method_equals_brute_force(include_td):
    s = _setup(11 + include_td)
    nt, nc = s["npp_b"].shape
    eps = 1e-4
    grad = np.zeros((2, nc, nt))   # dVCSD_z / dε_{c,t}
    for c in range(nc):
        for t in range(nt):
            rel = np.zeros((nt, nc))
            rel[t, c] = eps
            grad[:, c, t] = (_vcsd(s, rel, include_td) - _vcsd(s, -rel, include_td)) / (2 * eps)
    se, su = 0.1, 0.05
    var_a = se ** 2 * (grad ** 2).sum(axis=(1, 2))
    var_c = su ** 2 * (grad.sum(axis=2) ** 2).sum(axis=1)
    df = _delta(s, include_td, se, su)
    assert list(df.index) == [1, 2] and df.index.name == "zone"
    assert df.attrs["units"]["VCSD_se_Gg"] == "Gg CO2"
    assert np.all(var_a > 0) and np.all(var_c > 0)
    np.testing.assert_allclose(df["VCSD_se_annual_Gg"] ** 2, var_a, rtol=1e-6)
    np.testing.assert_allclose(df["VCSD_se_cell_Gg"] ** 2, var_c, rtol=1e-6)
    np.testing.assert_allclose(df["VCSD_se_Gg"] ** 2, var_a + var_c, rtol=1e-6)
    # cells each zone's pixels touch
    for z in (1, 2):
        touched = np.unique(s["cells"][(s["zones"] == z) & (s["cells"] >= 0)])
        assert df.loc[z, "n_cells"] == touched.size


def test_monte_carlo_agrees():
    s = _setup(21, ncy=2, ncx=2, k=3, nt=7, margin=0)
    nt, nc = s["npp_b"].shape
    rng = np.random.default_rng(0)
    se, su, n = 0.1, 0.08, 200
    rel = np.concatenate([rng.normal(0, se, (n, nt, nc)),                        # annual draws
                          np.repeat(rng.normal(0, su, (n, 1, nc)), nt, axis=1)])  # persistent draws
    npps = np.stack([_eq1(s, r)[0] for r in rel])
    ny, nx = s["cells"].shape
    vcs = xr.DataArray(npps * FACTOR, dims=("draw", "time", "y", "x"),
                       coords={"time": s["years"], "y": 3000.0 - 30.0 * np.arange(ny),
                               "x": 500.0 + 30.0 * np.arange(nx)}, attrs={"units": V.VCS_UNITS})
    td = xr.DataArray(s["td"], dims=("y", "x"))
    tr = xr.DataArray(s["tr"], dims=("y", "x"))
    ch = V.vcs_changes(vcs, td, tr)
    pot = (ch["c_destroy"].fillna(0) + ch["c_restore"].fillna(0)).sum("time").values * 900.0 / 1e9
    vcsd = np.stack([-(pot[:, s["zones"] == z]).sum(axis=1) for z in (1, 2)], axis=1)   # (draw, zone)
    # one draw checked against the accounting tables
    d = _das(s, npps[0], npps[0])
    acc = V.vcs_accounting(d["vcs"], d["td"], d["tr"], zones=d["zones"], n_zones=2)
    np.testing.assert_allclose(vcsd[0], acc.by_zone["VCSD_Gg"], rtol=1e-9)
    df = _delta(s, 0, se, su)
    np.testing.assert_allclose(vcsd[:n].std(axis=0, ddof=1), df["VCSD_se_annual_Gg"], rtol=0.15)
    np.testing.assert_allclose(vcsd[n:].std(axis=0, ddof=1), df["VCSD_se_cell_Gg"], rtol=0.15)


def test_one_chunk_equals_many_and_one_compute():
    s = _setup(5, ncy=3, ncx=2, k=4, nt=9)
    one = _delta(s, 0, 0.1, 0.05)
    npp, nppb = _eq1(s)
    d = _das(s, npp, nppb, {"time": 3, "y": 3, "x": 5})   # cells straddle blocks; time split
    changes = V.vcs_changes(d["vcs"].chunk(time=-1), d["td"], d["tr"])
    with raise_if_dask_computes(max_computes=1):
        many = vcsd_standard_error(changes, d["vcs"].chunk(time=-1), d["npp"], d["npp_b"], d["cells"], d["zones"],
                                   2, sigma_e=0.1, sigma_u=0.05)
    np.testing.assert_allclose(many.to_numpy(np.float64), one.to_numpy(np.float64), rtol=1e-12)
    assert many["n_cells"].dtype == np.int64
    # float32 cubes (as the scaled_npp stage writes them): the same to float32 precision
    f32 = {k: (d[k].astype(np.float32) if d[k].dtype.kind == "f" else d[k]) for k in d}
    ch32 = V.vcs_changes(f32["vcs"].chunk(time=-1), f32["td"], f32["tr"])
    assert ch32["c_destroy"].dtype == np.float32
    s32 = vcsd_standard_error(ch32, f32["vcs"], f32["npp"], f32["npp_b"], f32["cells"], f32["zones"], 2,
                              sigma_e=0.1, sigma_u=0.05)
    np.testing.assert_allclose(s32.to_numpy(np.float64), one.to_numpy(np.float64), rtol=1e-3)
    # sigma 0: zero errors; an unused zone label: zero row
    z0 = vcsd_standard_error(changes, d["vcs"].chunk(time=-1), d["npp"], d["npp_b"], d["cells"], d["zones"], 3,
                             sigma_e=0.0, pixel_area=900.0)
    assert np.all(z0["VCSD_se_Gg"] == 0) and z0.loc[3, "n_cells"] == 0


def test_bad_inputs():
    s = _setup(1, k=3, nt=7)
    npp, nppb = _eq1(s)
    d = _das(s, npp, nppb)
    ch = V.vcs_changes(d["vcs"], d["td"], d["tr"])
    args = (ch, d["vcs"], d["npp"], d["npp_b"], d["cells"], d["zones"], 2)
    with pytest.raises(ValueError, match="sigma_e"):
        vcsd_standard_error(*args, sigma_e=-0.1)
    with pytest.raises(TypeError, match="sigma_u"):
        vcsd_standard_error(*args, sigma_e=0.1, sigma_u="big")
    with pytest.raises(TypeError, match="vcs_changes"):
        vcsd_standard_error(ch[["c_destroy"]], *args[1:], sigma_e=0.1)
    with pytest.raises(TypeError, match="cells must be an integer"):
        vcsd_standard_error(*args[:4], d["cells"].astype(float), *args[5:], sigma_e=0.1)
    with pytest.raises(ValueError, match="npp has"):
        vcsd_standard_error(ch, d["vcs"], d["npp"].isel(x=slice(1, None)), *args[3:], sigma_e=0.1)
    with pytest.raises(ValueError, match="different years"):
        vcsd_standard_error(ch, d["vcs"], d["npp"].assign_coords(time=d["npp"].time + 1), *args[3:], sigma_e=0.1)
    with pytest.raises(ValueError, match="n_zones"):
        vcsd_standard_error(*args[:6], 0, sigma_e=0.1)
    with pytest.raises(ValueError, match="outside 0..n_zones"):
        vcsd_standard_error(*args[:6], 1, sigma_e=0.1)
    with pytest.raises(ValueError, match="pixel_area"):
        vcsd_standard_error(*args, sigma_e=0.1, pixel_area=-1.0)
    bare = ch.copy()
    bare.attrs = {}
    with pytest.raises(ValueError, match="include_destruction_year"):
        vcsd_standard_error(bare, *args[1:], sigma_e=0.1)
