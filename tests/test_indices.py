"""Spectral indices: kernels against plain numpy, properties, the xarray/dask wrappers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cubeeco.kernels import indices as K
from cubeeco.ops import indices as I
from cubeeco.testing.laziness import raise_if_dask_computes
from tests.reference import indices_ref as R

DTYPES = [np.float32, np.float64]
BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22")


def adversarial(rng, n, dtype):
    """Reflectances with NaN, zeros, ±inf, exact opposites (vanishing sums) and huge values."""
    x = rng.uniform(-0.05, 0.8, n)
    k = n // 10
    x[:k] = np.nan
    x[k:2 * k] = 0.0
    x[2 * k] = np.inf
    x[2 * k + 1] = -np.inf
    x[2 * k + 2] = 1e30
    rng.shuffle(x)
    return x.astype(dtype)


def tol(dtype):
    # kernels and references both compute in float64 and round once: equal up to
    # float64 rounding of the operation order (far below one float32 ulp)
    return {"rtol": 1e-6, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


CASES = [
    ("normalized_difference", K.normalized_difference, R.normalized_difference, 2),
    ("simple_ratio", K.simple_ratio_from_ndvi, R.simple_ratio, 1),
    ("ratio", K.ratio, R.ratio, 2),
    ("difference", K.difference, R.difference, 2),
    ("soil_index", K.soil_index, R.soil_index, 4),
    ("ibi", K.index_based_built_up, R.ibi, 4),
    ("ndbsi", K.ndbsi, R.ndbsi, 5),
    ("evi", K.enhanced_vegetation_index, R.evi, 3),
    ("savi", lambda r, n: K.soil_adjusted_vegetation_index(r, n, 0.5), R.savi, 2),
    ("emissivity", lambda x: K.emissivity_from_ndvi(x, 0.2, 0.5, 0.97, 0.99, 0.004, 0.986), R.emissivity, 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kernel,ref,nargs", CASES, ids=[c[0] for c in CASES])
def test_kernel_matches_reference(name, kernel, ref, nargs, dtype):
    rng = np.random.default_rng(42)
    args = [adversarial(rng, 4000, dtype) for _ in range(nargs)]
    if nargs >= 2:  # force exactly vanishing denominators a + b == 0
        args[1][:50] = -args[0][:50]
    with np.errstate(all="ignore"):
        got = kernel(*args)
    want = ref(*args)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, equal_nan=True, **tol(dtype))
    assert not np.isinf(got[np.isfinite(want)]).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sensor", ["TM", "ETM+", "OLI"])
def test_wetness_matches_reference(dtype, sensor):
    rng = np.random.default_rng(1)
    bands = [adversarial(rng, 3000, dtype) for _ in range(6)]
    coefs = I.WETNESS_COEFFICIENTS[sensor]
    with np.errstate(all="ignore"):
        got = K.tasseled_cap_wetness(*bands, *coefs)
    np.testing.assert_allclose(got, R.wetness(*bands, coefs), equal_nan=True, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_lst_from_radiance_matches_reference(dtype):
    rng = np.random.default_rng(3)
    rad = rng.uniform(-1, 14, 3000).astype(dtype)
    rad[:100] = np.nan
    eps = rng.uniform(0.9, 1.0, 3000).astype(dtype)
    eps[100:110] = 0.0
    with np.errstate(all="ignore"):
        got = K.lst_from_radiance(rad, eps, 0.85, 1.2, 2.0, 774.89, 1321.08)
    want = R.lst_from_radiance(rad, eps, 0.85, 1.2, 2.0, 774.89, 1321.08)
    np.testing.assert_allclose(got, want, equal_nan=True, **tol(dtype))
    assert np.isnan(got[100:110]).all()


def test_brightness_temperature_hand_value():
    # L = 10 W m-2 sr-1 um-1, Landsat 8 B10: 1321.08 / ln(78.489) = 1321.08 / 4.36296 - 273.15 = 29.64 degC
    got = K.lst_from_radiance(np.array([10.0]), 1.0, 1.0, 0.0, 0.0, 774.89, 1321.08)[0]
    assert got == pytest.approx(1321.08 / np.log(1 + 774.89 / 10.0) - 273.15, rel=1e-12)
    assert got == pytest.approx(29.645, abs=0.001)


def test_hand_values():
    assert K.normalized_difference(0.4, 0.1) == pytest.approx(0.6)
    assert np.isnan(K.normalized_difference(0.0, 0.0))
    assert np.isnan(K.simple_ratio_from_ndvi(1.0))
    assert K.simple_ratio_from_ndvi(0.5) == pytest.approx(3.0)
    assert K.enhanced_vegetation_index(0.05, 0.1, 0.4) == pytest.approx(2.5 * 0.3 / (0.4 + 0.6 - 0.375 + 1))
    assert K.soil_adjusted_vegetation_index(0.1, 0.4, 0.5) == pytest.approx(1.5 * 0.3 / 1.0)
    # SR = (1 + NDVI)/(1 - NDVI) equals NIR/RED
    assert K.simple_ratio_from_ndvi(K.normalized_difference(0.4, 0.1)) == pytest.approx(4.0)


refl = st.floats(min_value=float(np.float32(1e-4)), max_value=1.0, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, 20, elements=refl), arrays(np.float32, 20, elements=refl))
def test_ndvi_bounded_and_antisymmetric(a, b):
    nd = K.normalized_difference(a, b)
    assert np.all((nd >= -1) & (nd <= 1))
    np.testing.assert_array_equal(nd, -K.normalized_difference(b, a))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (5, 10), elements=st.floats(1e-4, 1.0)))
def test_ndbsi_bounded_for_positive_reflectance(x):
    # SI and IBI are normalized differences of positive sums: both in [-1, 1]
    out = K.ndbsi(*x[:5])
    assert np.all(np.abs(out) <= 1 + 1e-12)


# ---------------------------------------------------------------- xarray wrappers
def make_ds(dtype=np.float32, shape=(3, 8, 9), seed=0):
    rng = np.random.default_rng(seed)
    t, ny, nx = shape
    coords = {"time": np.array([f"{2000 + i}-07-01" for i in range(t)], dtype="datetime64[ns]"),
              "y": np.arange(ny) * -30.0, "x": np.arange(nx) * 30.0}
    ds = xr.Dataset({b: (("time", "y", "x"), rng.uniform(0.01, 0.5, shape).astype(dtype)) for b in BANDS},
                    coords=coords)
    ds["red"][0, 0, 0] = np.nan
    ds["lwir"] = (("time", "y", "x"), rng.uniform(270, 320, shape).astype(dtype), {"units": "kelvin"})
    return ds


@pytest.mark.parametrize("dtype", DTYPES)
def test_spectral_indices_numpy_equals_dask_and_is_lazy(dtype):
    ds = make_ds(dtype)
    names = list(I.INDEX_NAMES)
    eager = I.spectral_indices(ds, names=names)
    for chunks in ({"y": 3}, {"y": 4, "x": 2}, {"time": 1, "x": 5}):
        with raise_if_dask_computes():
            lazy = I.spectral_indices(ds.chunk(chunks), names=names)
        for name in names:
            assert lazy[name].dtype == dtype == lazy[name].compute().dtype
            xr.testing.assert_allclose(lazy[name].compute(), eager[name])
    for name in names:
        assert eager[name].attrs["units"] and eager[name].attrs["long_name"]
        assert eager[name].dims == ("time", "y", "x")
        xr.testing.assert_equal(eager[name].x, ds.x)
    assert eager["lst"].attrs["units"] == "degC"
    np.testing.assert_allclose(eager["lst"], ds["lwir"].astype(np.float64) - 273.15, rtol=1e-6)
    np.testing.assert_allclose(eager["ndvi"], R.normalized_difference(ds.nir08.values, ds.red.values), rtol=1e-6)
    assert np.isnan(eager["ndvi"][0, 0, 0])


def test_ops_match_kernels():
    ds = make_ds(np.float64)
    b = {k: ds[k] for k in BANDS}
    np.testing.assert_allclose(I.evi(b["blue"], b["red"], b["nir08"]), R.evi(b["blue"], b["red"], b["nir08"]))
    np.testing.assert_allclose(I.savi(b["red"], b["nir08"], soil_factor=0.3), R.savi(b["red"], b["nir08"], 0.3))
    np.testing.assert_allclose(I.rvi(b["red"], b["nir08"]), R.ratio(b["nir08"], b["red"]))
    np.testing.assert_allclose(I.dvi(b["red"], b["nir08"]), b["nir08"] - b["red"])
    np.testing.assert_allclose(I.gndvi(b["green"], b["nir08"]), R.normalized_difference(b["nir08"], b["green"]))
    np.testing.assert_allclose(I.mndwi(b["green"], b["swir16"]), R.normalized_difference(b["green"], b["swir16"]))
    nd = I.ndvi(b["red"], b["nir08"])
    np.testing.assert_allclose(I.simple_ratio(nd), b["nir08"] / b["red"], rtol=1e-9)
    oli = I.wet(*[b[k] for k in BANDS], sensor="landsat-8")
    np.testing.assert_allclose(oli, R.wetness(*[b[k].values for k in BANDS], I.WETNESS_COEFFICIENTS["OLI"]))
    assert oli.attrs["sensor_coefficients"] == "OLI"


def test_wet_per_time_sensor_from_platform():
    ds = make_ds(np.float32).assign_coords(platform=("time", ["landsat-5", "landsat-7", "landsat-8"]))
    got = I.spectral_indices(ds.chunk(y=4), names=["wet"], sensor="auto")["wet"].compute()
    for i, s in enumerate(["TM", "ETM+", "OLI"]):
        want = R.wetness(*[ds[k].values[i] for k in BANDS], I.WETNESS_COEFFICIENTS[s])
        np.testing.assert_allclose(got[i], want, rtol=1e-6)
    assert got.dtype == np.float32


def test_lst_from_radiance_op_with_ndvi_emissivity():
    ds = make_ds(np.float64)
    rad = xr.full_like(ds.red, 9.5)
    nd = I.ndvi(ds.red, ds.nir08)
    got = I.lst_from_radiance(rad.chunk(y=3), sensor="landsat5", ndvi=nd.chunk(y=3), transmittance=0.9,
                              upwelling=0.8, downwelling=1.4)
    eps = R.emissivity(nd.values)
    want = R.lst_from_radiance(rad.values, eps, 0.9, 0.8, 1.4, 607.76, 1260.56)
    np.testing.assert_allclose(got.compute(), want, rtol=1e-12, equal_nan=True)
    bt = I.lst_from_radiance(rad, k1=774.89, k2=1321.08)
    np.testing.assert_allclose(bt, 1321.08 / np.log1p(774.89 / 9.5) - 273.15)


def test_errors_name_the_argument():
    ds = make_ds()
    with pytest.raises(ValueError, match="sensor='MSS'"):
        I.wet(*[ds[k] for k in BANDS], sensor="MSS")
    with pytest.raises(ValueError, match="nir has dims"):
        I.ndvi(ds.red, ds.nir08.isel(x=slice(0, 4)))
    with pytest.raises(ValueError, match="nir has dims"):
        I.ndvi(ds.red, ds.nir08.transpose("x", "y", "time"))
    with pytest.raises(TypeError, match="red must be an xarray.DataArray"):
        I.ndvi(ds.red.values, ds.nir08)
    with pytest.raises(TypeError, match="red must be numeric"):
        I.ndvi(ds.red > 0, ds.nir08)
    with pytest.raises(ValueError, match="unknown index"):
        I.spectral_indices(ds, names=["ndvi", "foo"])
    with pytest.raises(ValueError, match="needs band"):
        I.spectral_indices(ds.drop_vars("swir22"), names=["wet"])
    with pytest.raises(ValueError, match="lwir"):
        I.spectral_indices(ds.drop_vars("lwir"), names=["lst"])
    with pytest.raises(ValueError, match="degC"):
        I.lst(ds.lwir.assign_attrs(units="degC"))
    with pytest.raises(ValueError, match="chunked differently"):
        I.ndvi(ds.red.chunk(y=3), ds.nir08.chunk(y=4))
    with pytest.raises(ValueError, match="sensor='auto'"):
        I.spectral_indices(ds, names=["wet"], sensor="auto")
    with pytest.raises(ValueError, match="sensor='foo'"):
        I.lst_from_radiance(ds.red, sensor="foo")


def test_int_inputs_become_float32():
    red = xr.DataArray(np.array([[100, 200]], dtype=np.uint16), dims=("y", "x"))
    nir = xr.DataArray(np.array([[300, 200]], dtype=np.uint16), dims=("y", "x"))
    out = I.ndvi(red, nir)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.5, 0.0]])
