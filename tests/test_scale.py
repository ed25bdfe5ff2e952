"""Scale transformation (seed 002 Eq. 1), VCS (Eq. 2) and disturbance years."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeeco.kernels import scale as K
from cubeeco.ops import scale as S
from cubeeco.testing.laziness import raise_if_dask_computes
from tests.reference import scale_ref as R


# ---------------------------------------------------------------- Eq. 1 kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npp_downscale_elementwise_matches_reference(dtype):
    rng = np.random.default_rng(0)
    n = 3000
    b = rng.uniform(0, 400, n)
    bg = rng.uniform(0, 60, n)
    s = rng.integers(1, 300, n).astype(float)
    sv = np.minimum(rng.integers(0, 300, n), s)
    veg = rng.integers(0, 2, n).astype(float)
    b[:50] = np.nan
    veg[50:100] = np.nan
    sv[100:150] = 0  # S_veg == 0 on a vegetated pixel -> NaN
    veg[100:150] = 1
    b[150] = np.inf
    bg[160:200] = np.nan  # no destroyed pixels below: NaN bg must not leak
    sv[160:200] = s[160:200]
    args = [a.astype(dtype) for a in (b, bg, s, sv, veg)]
    with np.errstate(all="ignore"):
        got = K.npp_downscale(*args)
    want = np.array([R.downscale_pixel(*(np.float64(a[i]) for a in args)) for i in range(n)])
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want.astype(dtype), rtol=1e-6 if dtype == np.float32 else 1e-13,
                               equal_nan=True)
    assert np.isfinite(got[160:200]).all()


def nested_inputs(rng, nt=2, ncy=4, ncx=3, ky=5, kx=4, dtype=np.float32):
    b_cells = rng.uniform(50, 350, (nt, ncy, ncx))
    b = np.repeat(np.repeat(b_cells, ky, 1), kx, 2)
    ny, nx = ncy * ky, ncx * kx
    veg = (rng.random((nt, ny, nx)) > 0.35).astype(dtype)
    veg[:, :ky, :kx] = 0.0  # a wholly destroyed cell
    veg[0, -1, -1] = np.nan
    bg = rng.uniform(5, 40, (nt, ny, nx))
    coords = {"time": np.arange(2001, 2001 + nt), "y": np.arange(ny) * -30.0, "x": np.arange(nx) * 30.0}
    dims = ("time", "y", "x")
    return (xr.DataArray(b.astype(dtype), dims=dims, coords=coords, attrs={"units": "g C m-2 yr-1"}),
            xr.DataArray(veg, dims=dims, coords=coords),
            xr.DataArray(bg.astype(dtype), dims=dims, coords=coords))


def block_ids(ny, nx, ky, kx):
    return (np.arange(ny)[:, None] // ky) * (-(-nx // kx)) + np.arange(nx)[None, :] // kx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scale_transform_matches_reference_and_dask(dtype):
    rng = np.random.default_rng(1)
    b, veg, bg = nested_inputs(rng, dtype=dtype)
    eager = S.npp_scale_transform(b, veg, bg, factor=(5, 4))
    ids = block_ids(20, 12, 5, 4)
    want = R.scale_transform(b.values, veg.values, bg.values, ids)
    assert eager.dtype == dtype and eager.dims == b.dims
    np.testing.assert_allclose(eager, want, rtol=1e-6 if dtype == np.float32 else 1e-12, equal_nan=True)
    assert np.isnan(eager[0, -1, -1])
    assert (eager[:, :5, :4] == 0).all()
    xr.testing.assert_equal(eager.x, b.x)
    cells = xr.DataArray(ids, dims=("y", "x"))
    by_cells = S.npp_scale_transform(b, veg, bg, cells=cells)
    xr.testing.assert_allclose(by_cells, eager)
    for chunks in ({"y": 7}, {"y": 3, "x": 5}, {"time": 1, "x": 7}):
        with raise_if_dask_computes():
            lazy = S.npp_scale_transform(b.chunk(chunks), veg.chunk(chunks), bg.chunk(chunks), factor=(5, 4))
            lazy_cells = S.npp_scale_transform(b.chunk(chunks), veg, bg.isel(time=0, drop=True),
                                               cells=cells.chunk({k: v for k, v in chunks.items() if k != "time"}),
                                               n_cells=12)
        assert lazy.dtype == lazy.compute().dtype == dtype
        xr.testing.assert_allclose(lazy.compute(), eager)
        xr.testing.assert_allclose(lazy_cells.compute(), S.npp_scale_transform(b, veg, bg.isel(time=0), cells=cells))


def test_scale_transform_irregular_cells_and_outside():
    rng = np.random.default_rng(2)
    ny, nx = 15, 13
    cells = rng.integers(-1, 9, (ny, nx))  # arbitrary shapes, some pixels outside (-1)
    b_cell = rng.uniform(100, 300, 9)
    b = np.where(cells >= 0, b_cell[np.clip(cells, 0, None)], np.nan)
    veg = rng.random((ny, nx)) > 0.4
    bg = 20.0
    got = S.npp_scale_transform(xr.DataArray(b, dims=("y", "x")), xr.DataArray(veg, dims=("y", "x")), bg,
                                cells=xr.DataArray(cells, dims=("y", "x")))
    want = R.scale_transform(b, veg, np.full(b.shape, bg), cells)
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    assert np.isnan(got.values[cells < 0]).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 6), st.floats(0.0, 1.0))
def test_eq1_conserves_cell_total(seed, ky, kx, p_veg):
    """Σ_veg NPP_a + Σ_destroyed NPP_bg = NPP_b × S in every cell with vegetation."""
    rng = np.random.default_rng(seed)
    ncy, ncx = 3, 2
    b_cell = rng.uniform(0, 500, (ncy, ncx))
    b = np.repeat(np.repeat(b_cell, ky, 0), kx, 1)
    veg = rng.random(b.shape) < p_veg
    bg = rng.uniform(0, 80, b.shape)
    a = S.npp_scale_transform(xr.DataArray(b, dims=("y", "x")), xr.DataArray(veg, dims=("y", "x")),
                              xr.DataArray(bg, dims=("y", "x")), factor=(ky, kx)).values
    for cy in range(ncy):
        for cx in range(ncx):
            sl = (slice(cy * ky, (cy + 1) * ky), slice(cx * kx, (cx + 1) * kx))
            v = veg[sl]
            if not v.any():
                assert (a[sl] == 0).all()
                continue
            total = a[sl][v].sum() + bg[sl][~v].sum()
            assert total == pytest.approx(b_cell[cy, cx] * ky * kx, rel=1e-9, abs=1e-9)
            assert (a[sl][~v] == 0).all()


def test_scale_transform_errors():
    b, veg, bg = nested_inputs(np.random.default_rng(3))
    with pytest.raises(ValueError, match="exactly one of cells"):
        S.npp_scale_transform(b, veg, bg)
    with pytest.raises(ValueError, match="n_cells"):
        S.npp_scale_transform(b, veg, bg, cells=xr.DataArray(block_ids(20, 12, 5, 4), dims=("y", "x")).chunk(y=5))
    with pytest.raises(TypeError, match="cells must be an integer"):
        S.npp_scale_transform(b, veg, bg, cells=xr.DataArray(np.zeros((20, 12)), dims=("y", "x")))
    with pytest.raises(ValueError, match="vegetated has 10 steps"):
        S.npp_scale_transform(b, veg.isel(y=slice(0, 10)), bg, factor=5)
    with pytest.raises(ValueError, match="no dimension 'y'"):
        S.npp_scale_transform(b, veg.rename(y="row"), bg, factor=5)
    with pytest.raises(ValueError, match="chunked differently"):
        S.npp_scale_transform(b.chunk(y=5), veg.chunk(y=4), bg, factor=5)


# ---------------------------------------------------------------- VCS (Eq. 2)
def test_vcs_values_units_and_laziness():
    b, _, _ = nested_inputs(np.random.default_rng(4))
    out = S.vcs(b)
    np.testing.assert_allclose(out, b.astype(np.float64) * 2.2 * 1.63, rtol=1e-6)
    assert out.dtype == np.float32 and out.attrs["units"] == "g CO2 m-2 yr-1"
    with raise_if_dask_computes():
        lazy = S.vcs(b.chunk(y=4))
    assert lazy.dtype == lazy.compute().dtype
    xr.testing.assert_allclose(lazy.compute(), out)
    kg = S.vcs(b.assign_attrs(units="kg C m-2 yr-1") / 1000)
    np.testing.assert_allclose(kg, out, rtol=1e-6)
    monthly = S.vcs(b.assign_attrs(units="g C m-2 month-1"))
    assert monthly.attrs["units"] == "g CO2 m-2 month-1"
    with pytest.raises(ValueError, match="units"):
        S.vcs(b.assign_attrs(units="t ha-1"))


# ---------------------------------------------------------------- disturbance years
def test_disturbance_hand_cases():
    years = np.arange(2000, 2010)
    nan = np.nan
    cases = [
        ([.5, .5, .1, .1, .1, .5, .6, .6, .6, .6], (2002, 2005)),  # destroyed, restored
        ([.5, .5, .1, .5, .1, .1, .1, .1, .1, .1], (2004, -1)),  # one-year dip is not persistent
        ([.1, .1, .1, .5, .5, .5, .5, .5, .5, .5], (-1, -1)),  # bare first: no destruction
        ([.5, .5, .5, .5, .5, .5, .5, .5, .5, .1], (-1, -1)),  # last-year drop unconfirmed
        ([.5, .5, .1, nan, .1, .5, nan, .6, .1, .1], (2002, 2005)),  # NaN years skipped
        ([nan] * 10, (-1, -1)),
    ]
    for series, want in cases:
        got = K.disturbance_years(np.array(series), years, 0.2, 2, -1)
        assert tuple(int(g) for g in got) == want, series
        assert R.disturbance_years(series, years, 0.2, 2) == want


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("persistence", [1, 2, 3])
def test_disturbance_kernel_matches_reference(dtype, persistence):
    rng = np.random.default_rng(persistence)
    n, t = 2000, 12
    x = rng.choice([0.05, 0.1, 0.4, 0.6, np.nan], size=(n, t), p=[0.25, 0.15, 0.25, 0.25, 0.1]).astype(dtype)
    years = np.arange(2001, 2001 + t)
    d, r = K.disturbance_years(x, years, 0.2, persistence, -1)
    assert d.dtype == np.int32
    want = np.array([R.disturbance_years(x[i], years, 0.2, persistence) for i in range(n)])
    np.testing.assert_array_equal(d, want[:, 0])
    np.testing.assert_array_equal(r, want[:, 1])


def test_destruction_restoration_years_op():
    rng = np.random.default_rng(5)
    t, ny, nx = 10, 6, 7
    times = np.array([f"{2001 + i}-01-01" for i in range(t)], dtype="datetime64[ns]")
    x = rng.choice([0.05, 0.5, np.nan], size=(t, ny, nx), p=[0.4, 0.5, 0.1]).astype(np.float32)
    da = xr.DataArray(x, dims=("time", "y", "x"), coords={"time": times, "y": np.arange(ny), "x": np.arange(nx)})
    eager = S.destruction_restoration_years(da, threshold=0.2)
    assert eager.destruction_year.dtype == np.int32 and eager.destruction_year.dims == ("y", "x")
    assert eager.destruction_year.attrs["nodata"] == -1
    want = R.disturbance_years(x[:, 2, 3], np.arange(2001, 2011), 0.2, 2)
    assert (int(eager.destruction_year[2, 3]), int(eager.restoration_year[2, 3])) == want
    for chunks in ({"y": 2}, {"y": 3, "x": 4}):
        with raise_if_dask_computes():
            lazy = S.destruction_restoration_years(da.chunk(chunks), threshold=0.2)
        assert lazy.destruction_year.dtype == lazy.destruction_year.compute().dtype
        xr.testing.assert_equal(lazy.compute(), eager)
    int_years = S.destruction_restoration_years(da.assign_coords(time=np.arange(2001, 2011)), threshold=0.2)
    xr.testing.assert_equal(int_years.drop_vars("time", errors="ignore"), eager.drop_vars("time", errors="ignore"))
    with pytest.raises(ValueError, match="split into"):
        S.destruction_restoration_years(da.chunk(time=5), threshold=0.2)
    with pytest.raises(ValueError, match="persistence"):
        S.destruction_restoration_years(da, threshold=0.2, persistence=0)
    with pytest.raises(ValueError, match="no dimension 'year'"):
        S.destruction_restoration_years(da, threshold=0.2, dim="year")
    with pytest.raises(ValueError, match="coordinate"):
        S.destruction_restoration_years(da.drop_vars("time"), threshold=0.2)
