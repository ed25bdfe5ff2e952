"""CASA NPP: kernel against a per-pixel reference, hand-worked PET, properties, wrappers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeeco.kernels import casa as K
from cubeeco.ops import casa as C
from cubeeco.testing.laziness import raise_if_dask_computes
from tests.reference import casa_ref as R

# a semi-arid Loess-Plateau year (Pingshuo, seed 001 §2.1: ~450 mm, mean T 4.8-7.8 degC)
T_PS = np.array([-11.0, -7.0, 0.5, 8.5, 15.5, 19.5, 21.5, 19.5, 14.0, 7.0, -1.5, -9.0])
P_PS = np.array([2.0, 4.0, 10.0, 20.0, 35.0, 55.0, 110.0, 105.0, 55.0, 25.0, 8.0, 2.0])
SOL_PS = np.array([280.0, 340.0, 470.0, 560.0, 640.0, 650.0, 600.0, 560.0, 470.0, 390.0, 290.0, 250.0])
NDVI_PS = np.array([0.08, 0.08, 0.1, 0.18, 0.32, 0.48, 0.6, 0.58, 0.42, 0.25, 0.12, 0.09])
GRASS = dict(ndvi_min=0.03, ndvi_max=0.72, sr_min=(1.03 / 0.97), sr_max=(1.72 / 0.28), eps_max=0.542)


def call_kernel(ndvi, temp, precip, solar, corr, p, fpar_min=0.001, fpar_max=0.95, alpha=0.5, water_fill=0.5,
                cold_rule=K.COLD_HALF, w_max=np.inf):
    with np.errstate(all="ignore"):  # NaN comparisons set the FP invalid flag; results are checked
        return K.casa_npp(ndvi, temp, precip, solar, corr, p["ndvi_min"], p["ndvi_max"], p["sr_min"], p["sr_max"],
                          p["eps_max"], fpar_min, fpar_max, alpha, water_fill, cold_rule, w_max)


def random_years(rng, n, dtype):
    ndvi = np.clip(NDVI_PS + rng.normal(0, 0.1, (n, 12)), -0.2, 0.95)
    temp = T_PS + rng.normal(0, 4, (n, 12))
    precip = np.clip(P_PS + rng.normal(0, 15, (n, 12)), 0, None)
    solar = SOL_PS + rng.normal(0, 30, (n, 12))
    corr = np.ones((n, 12))
    # adversarial months: NaN NDVI / P / SOL, negative P, zero P, NDVI == 1, all-cold years
    ndvi[0, 3] = np.nan
    precip[1, 6] = np.nan
    solar[2, 7] = np.nan
    precip[3, 5] = -1.0
    precip[4, :] = 0.0
    ndvi[5, 6] = 1.0
    temp[6, :] = -15.0
    temp[7, 2] = np.nan  # whole year NaN
    ndvi[8, :] = np.nan  # whole year NaN
    temp[9, :] = T_PS + 12  # hot months, >= 26.5 degC branch
    return [a.astype(dtype) for a in (ndvi, temp, precip, solar, corr)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule", ["half", "previous"])
@pytest.mark.parametrize("w_max", [np.inf, 1.0])
def test_kernel_matches_reference(dtype, rule, w_max):
    rng = np.random.default_rng(7)
    ndvi, temp, precip, solar, corr = random_years(rng, 120, dtype)
    got = call_kernel(ndvi, temp, precip, solar, corr, GRASS, cold_rule=C._COLD_RULES[rule], w_max=w_max)
    assert got.dtype == dtype
    want = np.array([R.casa_pixel(*[np.float64(a[i]) for a in (ndvi, temp, precip, solar, corr)],
                                  **GRASS, cold_rule=rule, w_max=w_max) for i in range(len(ndvi))])
    rtol = 1e-6 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-9, equal_nan=True)
    assert np.isnan(got[7]).all() and np.isnan(got[8]).all()
    assert np.isnan(got[0, 3]) and np.isnan(got[1, 6]) and np.isnan(got[3, 5])
    assert (got[6] == 0).all()  # T <= -10 degC: T_eps1 = 0
    assert np.isfinite(got[4]).all()


def test_kernel_vanishing_bounds_give_nan():
    p = {**GRASS, "ndvi_max": GRASS["ndvi_min"]}
    out = call_kernel(NDVI_PS, T_PS, P_PS, SOL_PS, np.ones(12), p)
    assert np.isnan(out).all()
    zero = call_kernel(NDVI_PS, T_PS, P_PS, SOL_PS, np.ones(12), {**p, "eps_max": 0.0})
    assert (zero == 0).all()


def test_thornthwaite_hand_worked():
    # T = 10 degC in every month: I = 12 (10/5)^1.514 = 12 * 2.85601 = 34.2721;
    # a = 6.75e-7 I^3 - 7.71e-5 I^2 + 1.792e-2 I + 0.49239
    #   = 0.027173 - 0.090560 + 0.614156 + 0.492390 = 1.04316;
    # PET = 16 (10*10/I)^a = 16 * 2.91783^1.04316 = 16 * 3.05584 = 48.89 mm
    big_i = 12 * 2**1.514
    assert big_i == pytest.approx(34.2721, abs=1e-4)
    a = 6.75e-7 * big_i**3 - 7.71e-5 * big_i**2 + 1.792e-2 * big_i + 0.49239
    assert a == pytest.approx(1.04316, abs=1e-5)
    pet = K.thornthwaite_pet(np.full(12, 10.0), np.ones(12))
    np.testing.assert_allclose(pet, 16 * (100 / big_i) ** a, rtol=1e-12)
    assert pet[0] == pytest.approx(48.89, abs=0.01)
    # hot branch (>= 26.5 degC): -415.85 + 32.24*30 - 0.43*900 = 164.35; cold months 0
    t = np.array([-5.0, 0.0, 30.0] + [10.0] * 9)
    pet = K.thornthwaite_pet(t, np.ones(12))
    assert pet[0] == 0 and pet[1] == 0 and pet[2] == pytest.approx(164.35)
    np.testing.assert_allclose(pet, R.thornthwaite(t), rtol=1e-12)
    # the xarray op, with and without the day-length correction (longer days in summer)
    da = xr.DataArray(np.tile(T_PS, (3, 1)), dims=("y", "month"))
    np.testing.assert_allclose(C.thornthwaite_pet(da)[0], R.thornthwaite(T_PS), rtol=1e-12)
    corr = C.daylength_correction(39.5)
    assert corr[5] > 1.2 > 0.8 > corr[11]
    np.testing.assert_allclose(C.thornthwaite_pet(da, latitude=39.5)[0], R.thornthwaite(T_PS, corr.values), rtol=1e-12)


def test_stress_terms():
    # Zhou & Zhang EET: 0 without rain or without energy, never above P
    assert K.zhou_zhang_eet(0.0, 80.0) == 0.0 and K.zhou_zhang_eet(50.0, 0.0) == 0.0
    assert 0 < K.zhou_zhang_eet(20.0, 100.0) <= 20.0
    assert K.zhou_zhang_eet(60.0, 90.0) == pytest.approx(R.eet(60.0, 90.0), rel=1e-14)
    # T_eps2 rule: beyond T_opt + 10 or below T_opt - 13, half its value at T_opt
    half = 0.5 * 1.1814 / (1 + math.exp(-2)) / (1 + math.exp(-3))
    assert K.t_eps2(20.0, 30.5) == pytest.approx(half) == pytest.approx(K.t_eps2(20.0, 6.5))
    assert K.t_eps2(20.0, 20.0) == pytest.approx(2 * half)
    assert K.t_eps2(20.0, 25.0) == pytest.approx(R.t_eps2(20.0, 25.0))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(1.0, 5.0))
def test_npp_nonnegative_and_linear_in_sol(seed, factor):
    rng = np.random.default_rng(seed)
    ndvi, temp, precip, solar, corr = (a[10:] for a in random_years(rng, 20, np.float64))
    solar = np.abs(solar)
    npp = call_kernel(ndvi, temp, precip, solar, corr, GRASS)
    more = call_kernel(ndvi, temp, precip, solar * factor, corr, GRASS)
    ok = np.isfinite(npp)
    assert (npp[ok] >= 0).all()
    assert (more[ok] >= npp[ok]).all()
    np.testing.assert_allclose(more, npp * factor, rtol=1e-12, equal_nan=True)


def test_plausible_annual_npp_for_pingshuo_grassland():
    """Seed 001/002 report CASA NPP of 90-511 g C m-2 yr-1 in these mining areas."""
    npp = call_kernel(NDVI_PS, T_PS, P_PS, SOL_PS, np.ones(12), GRASS)
    annual = npp.sum()
    assert 90 < annual < 511
    assert npp.argmax() in (6, 7)  # peak in July/August
    assert npp[0] < 1 and npp[11] < 2  # winter near zero


# ---------------------------------------------------------------- xarray wrappers
def make_inputs(dtype=np.float32, ny=10, nx=9, seed=0):
    rng = np.random.default_rng(seed)
    coords = {"month": np.arange(1, 13), "y": np.arange(ny) * -30.0, "x": np.arange(nx) * 30.0}

    def cube(base, noise, lo=None):
        v = base[:, None, None] + rng.normal(0, noise, (12, ny, nx))
        v = v if lo is None else np.clip(v, lo, None)
        return xr.DataArray(v.astype(dtype), dims=("month", "y", "x"), coords=coords)

    ndvi = cube(NDVI_PS, 0.08).clip(-0.2, 0.95)
    ndvi[:, 0, 0] = np.nan
    veg = xr.DataArray(rng.choice([1, 2, 3, 4, 7, 0], (ny, nx)).astype(np.uint8), dims=("y", "x"),
                       coords={"y": coords["y"], "x": coords["x"]})
    return ndvi, cube(T_PS, 1.5), cube(P_PS, 5, 0), cube(SOL_PS, 20), veg


def test_casa_parameters_match_percentiles_and_dask():
    ndvi, *_, veg = make_inputs(np.float64, 20, 20)
    params = C.casa_parameters(ndvi, veg, max_bounds_from={})  # every class its own bounds
    classes = params.veg_type.values
    for q, var in ((5, "ndvi_min"), (95, "ndvi_max")):
        # exact now: np.nanpercentile (numpy's default "linear") of each class's valid values
        v = ndvi.values
        want = [np.percentile(v[(np.broadcast_to(veg.values, v.shape) == c) & (np.abs(v) <= 1)], q)
                if np.any(veg.values == c) else np.nan for c in classes]
        np.testing.assert_array_equal(params[var], want)
    np.testing.assert_allclose(params.sr_max, (1 + params.ndvi_max) / (1 - params.ndvi_max), equal_nan=True)
    assert params.eps_max.sel(veg_type=7) == 0.542 and params.eps_max.sel(veg_type=5) == 0
    # the default: barren (7) takes grassland's (4) full-cover bounds, keeps its own bare bound
    default = C.casa_parameters(ndvi, veg)
    for var in ("ndvi_max", "sr_max"):
        assert default[var].sel(veg_type=7) == params[var].sel(veg_type=4)
    assert default.ndvi_min.sel(veg_type=7) == params.ndvi_min.sel(veg_type=7)
    assert int(default.max_bounds_class.sel(veg_type=7)) == 4
    xr.testing.assert_equal(default.drop_sel(veg_type=7).drop_vars("max_bounds_class"),
                            params.drop_sel(veg_type=7).drop_vars("max_bounds_class"))
    for chunks in ({"y": 7}, {"y": 5, "x": 6}, {"month": 4, "y": 10}):
        with raise_if_dask_computes():
            lazy = C.casa_parameters(ndvi.chunk(chunks), veg.chunk({k: v for k, v in chunks.items() if k != "month"}))
        xr.testing.assert_allclose(lazy.compute(), default)
    via_sr = C.casa_parameters(ndvi, veg, sr=(1 + ndvi) / (1 - ndvi), max_bounds_from={})
    np.testing.assert_allclose(via_sr.sr_max, params.sr_max, rtol=1e-3, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_casa_npp_numpy_equals_dask_lazy_and_reference(dtype):
    ndvi, temp, precip, solar, veg = make_inputs(dtype)
    params = C.casa_parameters(ndvi, veg)
    eager = C.casa_npp(ndvi, temp, precip, solar, veg, params=params)
    assert eager.dims == ndvi.dims and eager.dtype == dtype
    assert eager.attrs["units"] == "g C m-2 month-1"
    xr.testing.assert_equal(eager.x, ndvi.x)
    # reference, pixel by pixel
    table = params.to_dataframe()
    for yy, xx in [(0, 0), (1, 2), (5, 5), (9, 8), (3, 7)]:
        code = int(veg[yy, xx])
        if code in table.index:
            p = {k: float(table.loc[code, k]) for k in C.PARAM_NAMES}
            want = R.casa_pixel(*[np.float64(a[:, yy, xx].values) for a in (ndvi, temp, precip, solar)],
                                np.ones(12), **p)
        else:
            want = np.full(12, np.nan)
        np.testing.assert_allclose(eager[:, yy, xx], want, rtol=2e-6, atol=1e-6, equal_nan=True)
    for chunks in ({"y": 3}, {"y": 5, "x": 4}):
        spatial = {k: v for k, v in chunks.items()}
        with raise_if_dask_computes():
            lazy = C.casa_npp(*(a.chunk(spatial) for a in (ndvi, temp, precip, solar)), veg.chunk(spatial))
            annual = C.annual_npp(lazy)
        assert lazy.dtype == lazy.compute().dtype == dtype
        xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-6 if dtype == np.float32 else 1e-12)
        assert annual.attrs["units"] == "g C m-2 yr-1"
    barren = eager.where(veg == 7)  # sparse vegetation: small, non-negative NPP (study 001 Table 3)
    assert float(barren.min()) >= 0 and float(barren.max()) < float(eager.where(veg == 4).max())
    assert eager.where(veg == 0).isnull().all()  # nodata class: NaN


def test_casa_npp_dict_params_and_options():
    ndvi, temp, precip, solar, veg = make_inputs(np.float64)
    params = {c: GRASS for c in (0, 1, 2, 3, 4, 7)}
    out = C.casa_npp(ndvi, temp, precip, solar, veg, params=params, alpha=1.0, cold_water_stress="previous",
                     water_stress_max=1.0, latitude=39.5)
    corr = C.daylength_correction(39.5).values
    want = R.casa_pixel(*[ndvi[:, 4, 4].values, temp[:, 4, 4].values, precip[:, 4, 4].values, solar[:, 4, 4].values],
                        corr, **GRASS, alpha=1.0, cold_rule="previous", w_max=1.0)
    np.testing.assert_allclose(out[:, 4, 4], want, rtol=1e-11)


def test_casa_errors():
    ndvi, temp, precip, solar, veg = make_inputs()
    with pytest.raises(ValueError, match="12 months"):
        C.casa_npp(ndvi.isel(month=slice(0, 6)), temp, precip, solar, veg)
    with pytest.raises(ValueError, match="no dimension 'month'"):
        C.casa_npp(ndvi.rename(month="m"), temp, precip, solar, veg)
    with pytest.raises(TypeError, match="veg_type must be an integer"):
        C.casa_npp(ndvi, temp, precip, solar, veg.astype(float))
    with pytest.raises(ValueError, match="cold_water_stress"):
        C.casa_npp(ndvi, temp, precip, solar, veg, cold_water_stress="zero")
    with pytest.raises(ValueError, match="split into"):
        C.casa_npp(*(a.chunk(month=6) for a in (ndvi, temp, precip, solar)), veg)
    with pytest.raises(ValueError, match="params"):
        C.casa_npp(ndvi, temp, precip, solar, veg, params=xr.Dataset({"ndvi_min": ("veg_type", [0.1])}))
    with pytest.raises(ValueError, match="percentiles"):
        C.casa_parameters(ndvi, veg, percentiles=(95, 5))
    with pytest.raises(TypeError, match="solar must be an xarray"):
        C.casa_npp(ndvi, temp, precip, solar.values, veg)
