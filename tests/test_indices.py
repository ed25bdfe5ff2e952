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


# ---------------------------------------------------------------- one NDVI and one SR formula
def test_ndvi_zero_denominator_is_nan_everywhere():
    # the one rule (docs/indices.md): NaN wherever NIR + RED == 0, also for NIR = -RED != 0
    red = np.array([0.0, 0.1, -0.1, 0.2, np.nan], dtype=np.float64)
    nir = np.array([0.0, -0.1, 0.1, 0.2, 0.3], dtype=np.float64)
    want = [np.nan, np.nan, np.nan, 0.0, np.nan]
    np.testing.assert_array_equal([K.ndvi_value(r, n) for r, n in zip(red, nir)], want)
    with np.errstate(all="raise"):  # the kernel object silences the guards' FP flags itself
        got = K.normalized_difference(nir.astype(np.float32), red.astype(np.float32))
    np.testing.assert_array_equal(got, np.float32(want))
    da = lambda v: xr.DataArray(v, dims="x")  # noqa: E731
    np.testing.assert_array_equal(I.ndvi(da(red), da(nir)), want)
    np.testing.assert_array_equal(I.ndvi(da(red).chunk(x=2), da(nir).chunk(x=2)).compute(), want)


def test_simple_ratio_helper_is_the_one_formula():
    from cubeeco.kernels import casa as KC

    assert KC.simple_ratio_value is K.simple_ratio_value  # CASA's FPAR_SR term uses it
    x = np.array([-0.5, 0.0, 0.5, 0.999, 1.0, np.nan])
    want = R.simple_ratio(x)
    np.testing.assert_array_equal([K.simple_ratio_value(v) for v in x], want)
    np.testing.assert_array_equal(K.simple_ratio_from_ndvi(x), want)
    assert np.isnan(K.simple_ratio_value(1.0))


# ---------------------------------------------------------------- kernel handles
def _kernels():
    from cubeeco.kernels import composite as KCOMP
    from cubeeco.kernels._gufunc import LazyKernel

    return [v for m in (K, KCOMP) for v in vars(m).values() if isinstance(v, LazyKernel)]


def test_kernels_pickle_by_reference_and_tokenize_by_name():
    import pickle

    from dask.base import tokenize

    kernels = _kernels()
    assert len(kernels) >= 14
    for kernel in kernels:
        blob = pickle.dumps(kernel)
        assert len(blob) < 200, (kernel, len(blob))  # module + qualname, not the compiled ufunc
        assert pickle.loads(blob) is kernel
        assert tokenize(kernel) == tokenize(pickle.loads(blob))
    assert len({tokenize(k) for k in kernels}) == len(kernels)


def test_tokenizing_a_kernel_compiles_nothing():
    from dask.base import tokenize

    def fresh(a, b):
        return a + b

    kernel = K.LazyUfunc(fresh, ["float64(float64, float64)"])
    assert tokenize(kernel) == tokenize(K.LazyUfunc(fresh, ["float64(float64, float64)"]))
    assert not kernel.is_compiled
    assert kernel(np.float64(1.0), np.float64(2.0)) == 3.0 and kernel.is_compiled


def test_two_builds_give_identical_dask_keys():
    ds = make_ds(np.float32).chunk({"y": 4})
    a = I.spectral_indices(ds, names=list(I.INDEX_NAMES))
    b = I.spectral_indices(ds, names=list(I.INDEX_NAMES))
    for name in I.INDEX_NAMES:
        assert a[name].data.name == b[name].data.name
    assert set(a.__dask_graph__()) == set(b.__dask_graph__())
    # and the keys depend on the kernel: NDVI and RVI of the same bands differ
    assert I.ndvi(ds.red, ds.nir08).data.name != I.rvi(ds.red, ds.nir08).data.name


def _season_cube():
    ds = make_ds(np.float32, shape=(4, 8, 9), seed=3)
    ds = ds.assign_coords(time=np.array(["2000-07-01", "2000-08-01", "2001-07-01", "2001-08-01"],
                                        dtype="datetime64[ns]"))
    ds["clear"] = ds["red"].notnull()
    return ds


@pytest.mark.parametrize("method", ["median", "max_ndvi"])
def test_composites_go_through_apply_kernel_with_stable_keys(method):
    from cubeeco.io.composite import annual_composite

    ds = _season_cube()
    eager = annual_composite(ds, method=method)
    with raise_if_dask_computes():
        a = annual_composite(ds.chunk({"y": 4}), method=method)
        b = annual_composite(ds.chunk({"y": 4}), method=method)
    assert set(a.__dask_graph__()) == set(b.__dask_graph__())
    xr.testing.assert_identical(a.compute(), eager)
    v = ds["nir08"].values
    if method == "median":
        np.testing.assert_array_equal(eager["nir08"].values[0], np.nanmedian(v[:2], axis=0))
    else:
        nd = np.stack([[K.ndvi_value(r, n) for r, n in zip(rr.ravel(), nn.ravel())]
                       for rr, nn in zip(ds["red"].values, v)]).reshape(v.shape)
        best = np.nanargmax(nd[2:], axis=0)
        np.testing.assert_array_equal(eager["nir08"].values[1], np.take_along_axis(v[2:], best[None], 0)[0])


def test_max_ndvi_composite_skips_a_zero_denominator_observation():
    from cubeeco.io.composite import annual_composite

    ds = _season_cube().isel(time=[0, 1])
    # observation 0 of pixel (0, 1): NIR = -RED != 0; plain numpy would score it -inf or +inf
    ds["red"][0, 0, 1] = 0.1
    ds["nir08"][0, 0, 1] = -0.1
    ds["red"][1, 0, 1] = 0.3
    ds["nir08"][1, 0, 1] = 0.2  # negative NDVI, but the only valid score
    out = annual_composite(ds, method="max_ndvi")
    assert float(out["nir08"][0, 0, 1]) == np.float32(0.2)


def run_in_fresh_interpreter(code: str) -> str:
    """Run ``code`` in a new python at the repo root (kernels compiled by other tests in
    this process do not count there); return its stdout, fail with its stderr."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=240, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_building_graphs_compiles_no_kernel():
    out = run_in_fresh_interpreter("""
        import dask, numpy as np
        from tests.test_indices import _kernels, _season_cube
        from cubeeco.io.composite import annual_composite
        from cubeeco.ops import indices as I
        ds = _season_cube().chunk({"y": 4})
        graphs = [I.spectral_indices(ds, names=list(I.INDEX_NAMES)),
                  annual_composite(ds), annual_composite(ds, method="max_ndvi")]
        dask.base.tokenize(*graphs)
        compiled = [k.__name__ for k in _kernels() if k.is_compiled]
        assert not compiled, compiled
        print("ok", len(_kernels()))
    """)
    assert out.startswith("ok")
