"""RSEI (cubeeco.ops.rsei) against a plain numpy PCA, laziness, grades, areas, transitions."""

from __future__ import annotations

import dask
import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from cubeeco.ops import rsei as R
from cubeeco.ops.reduce import covariance, merge_covariance, projection_range
from cubeeco.testing.laziness import assert_lazy, raise_if_dask_computes
from tests.reference.rsei_ref import grades_ref, rsei_ref

YEARS = [2000, 2001, 2002]


def _cube(seed=0, t=3, ny=37, nx=45, nan=0.03, dtype=np.float32):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(t, ny, nx))
    fields = {
        "ndvi": 0.4 + 0.1 * base + 0.05 * rng.normal(size=base.shape),
        "wet": -0.1 + 0.05 * base + 0.03 * rng.normal(size=base.shape),
        "ndbsi": 0.1 - 0.08 * base + 0.04 * rng.normal(size=base.shape),
        "lst": 30 - 3 * base + 2 * rng.normal(size=base.shape),
    }
    coords = {"time": YEARS[:t] if t <= 3 else list(range(2000, 2000 + t)),
              "y": 4_000_000 - 30.0 * np.arange(ny), "x": 400_000 + 30.0 * np.arange(nx)}
    out = {}
    for k, v in fields.items():
        v = v.astype(dtype)
        v[rng.random(v.shape) < nan] = np.nan
        out[k] = xr.DataArray(v, dims=("time", "y", "x"), coords=coords, name=k)
    return out


def _args(c, chunks=None):
    arrays = [c[k] for k in R.INDICES]
    return [a.chunk(chunks) for a in arrays] if chunks else arrays


def _check_year(ds, basis, c, i, mask=None, clip=None, group=None):
    m = None if mask is None else (mask.values if "time" not in mask.dims else mask.values[i])
    ref = rsei_ref(*[c[k].values[i] for k in R.INDICES], mask=m, clip=clip)
    g = i if group is None else group
    b = basis.isel({basis.attrs["group_dim"]: g})
    np.testing.assert_allclose(b["loading"].isel(component=0).values, ref["loading"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(b["contribution"].isel(component=0).values, ref["contribution"], rtol=1e-9)
    np.testing.assert_allclose(b["eigenvalue"].values, ref["eigenvalues"], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(b["lo"].values, ref["lo"], rtol=1e-12)
    np.testing.assert_allclose(b["hi"].values, ref["hi"], rtol=1e-12)
    np.testing.assert_allclose(b["cov"].values, ref["cov"], rtol=1e-9, atol=1e-14)
    assert int(b["count"]) == ref["count"]
    got = ds["rsei"].values[i]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref["rsei"]))
    np.testing.assert_allclose(got, ref["rsei"], atol=1e-5, equal_nan=True)
    assert np.nanmin(got) == pytest.approx(0, abs=1e-6) and np.nanmax(got) == pytest.approx(1, abs=1e-6)
    return ref


# ------------------------------------------------------------------ against numpy
def test_per_year_matches_numpy_pca():
    c = _cube()
    basis = R.rsei_basis(*_args(c))
    ds = R.rsei(*_args(c), basis=basis)
    for i in range(3):
        ref = _check_year(ds, basis, c, i)
        assert float(basis["rsei_mean"][i]) == pytest.approx(ref["rsei_mean"], abs=1e-9)
    assert ds["rsei"].dtype == np.float32 and ds["rsei"].attrs["units"] == "1"
    # orientation rule: NDVI loading positive, and here WET agrees
    assert (basis["loading"].sel(index="ndvi") > 0).all()
    assert bool(basis["ndvi_wet_agree"].all())
    assert basis["flipped"].dtype == bool
    assert "pc1_loadings" in ds.attrs and len(ds.attrs["pc1_loadings"]) == 3


@pytest.mark.parametrize("chunks", [{"y": 8, "x": 11}, {"time": 1, "y": 5, "x": 7}, {"time": -1, "y": -1, "x": -1}])
def test_dask_chunkings_equal_numpy(chunks):
    c = _cube(1)
    ref_ds = R.rsei(*_args(c))
    ds = R.rsei(*_args(c, chunks))
    assert ds["rsei"].chunks is not None
    got = ds.compute()
    np.testing.assert_allclose(got["rsei"].values, ref_ds["rsei"].values, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(got["pc1_loading"].values, ref_ds["pc1_loading"].values, atol=1e-12)
    b1 = R.rsei_basis(*_args(c, chunks), compute=True)
    b0 = R.rsei_basis(*_args(c))
    xr.testing.assert_allclose(b1, b0, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("per_year_mask", [False, True])
def test_mask_and_nan(per_year_mask):
    c = _cube(2, nan=0.1)
    rng = np.random.default_rng(5)
    shape = (3, 37, 45) if per_year_mask else (37, 45)
    dims = ("time", "y", "x") if per_year_mask else ("y", "x")
    mask = xr.DataArray(rng.random(shape) > 0.2, dims=dims)
    for chunks in (None, {"y": 9, "x": 10}):
        m = mask if chunks is None else mask.chunk({d: chunks[d] for d in ("y", "x")})
        basis = R.rsei_basis(*_args(c, chunks), mask=m).compute()
        ds = R.rsei(*_args(c, chunks), mask=m, basis=basis).compute()
        for i in range(3):
            _check_year(ds, basis, c, i, mask=mask)
        mv = np.broadcast_to(mask.values, (3, 37, 45))
        assert np.isnan(ds["rsei"].values[~mv]).all()


def test_pooled_matches_numpy_on_all_years():
    c = _cube(3)
    for chunks in (None, {"time": 1, "y": 10, "x": 10}):
        basis = R.rsei_basis(*_args(c, chunks), pooled=True).compute()
        assert basis.sizes["pooled"] == 1 and basis.attrs["pooled"] == 1
        ds = R.rsei(*_args(c, chunks), basis=basis).compute()
        ref = rsei_ref(*[c[k].values for k in R.INDICES])
        np.testing.assert_allclose(basis["loading"].isel(pooled=0, component=0).values, ref["loading"], atol=1e-9)
        np.testing.assert_allclose(basis["contribution"].isel(pooled=0, component=0), ref["contribution"],
                                   rtol=1e-9)
        np.testing.assert_allclose(ds["rsei"].values, ref["rsei"], atol=1e-5, equal_nan=True)
        assert ds["pc1_loading"].dims == ("index",)
        # per-year means under the pooled basis
        for i in range(3):
            r = ref["rsei"][i]
            assert float(basis["rsei_mean"][i]) == pytest.approx(np.nanmean(r), abs=1e-6)


@pytest.mark.parametrize("pooled", [False, True])
def test_clip_matches_np_percentile(pooled):
    c = _cube(4, dtype=np.float64)
    for chunks in (None, {"y": 12, "x": 13}):
        basis = R.rsei_basis(*_args(c, chunks), clip=(1, 99), pooled=pooled).compute()
        assert basis.attrs["passes"] == 5
        ds = R.rsei(*_args(c, chunks), basis=basis).compute()
        if pooled:
            ref = rsei_ref(*[c[k].values for k in R.INDICES], clip=(1, 99))
            np.testing.assert_array_equal(basis["lo"].isel(pooled=0).values, ref["lo"])
            np.testing.assert_array_equal(basis["hi"].isel(pooled=0).values, ref["hi"])
            np.testing.assert_allclose(ds["rsei"].values, ref["rsei"], atol=1e-9, equal_nan=True)
        else:
            for i in range(3):
                _check_year(ds, basis, c, i, clip=(1, 99))


def test_single_year_2d_input():
    c = _cube(6, t=1)
    arrays = [c[k].isel(time=0, drop=True) for k in R.INDICES]
    ds = R.rsei(*arrays)
    assert ds["rsei"].dims == ("y", "x")
    ref = rsei_ref(*[a.values for a in arrays])
    np.testing.assert_allclose(ds["rsei"].values, ref["rsei"], atol=1e-5, equal_nan=True)


def test_orientation_flips_when_eigh_disagrees():
    # NDVI anti-correlated with every other index: PC1 with NDVI > 0 has WET < 0
    c = _cube(7)
    c["wet"] = (-c["wet"]).rename("wet")
    basis = R.rsei_basis(*_args(c))
    assert (basis["loading"].isel(component=0).sel(index="ndvi") > 0).all()
    assert not bool(basis["ndvi_wet_agree"].any())


# ------------------------------------------------------------------ laziness and passes
class _Reads:
    def __init__(self):
        self.n = 0

    def __call__(self, b):
        if b.size:  # map_blocks also calls it on 0-size meta arrays while building the graph
            self.n += 1
        return b


def _counted(c, chunks):
    counters = {k: _Reads() for k in R.INDICES}
    out = []
    for k in R.INDICES:
        a = c[k].chunk(chunks)
        out.append(a.copy(data=a.data.map_blocks(counters[k], dtype=a.dtype)))
    return out, counters


def test_laziness_and_reads():
    c = _cube(8)
    chunks = {"y": 10, "x": 12}
    n_blocks = 4 * 4
    args, counters = _counted(c, chunks)
    lazy_basis = assert_lazy(R.rsei_basis, *args)
    assert all(v.n == 0 for v in counters.values())
    computed = lazy_basis.compute()  # one compute: dask loads each chunk once for all passes
    assert all(v.n == n_blocks for v in counters.values()), {k: v.n for k, v in counters.items()}
    # compute=True: one compute per pass, each reads every chunk once (3 passes; 5 with clip)
    args, counters = _counted(c, chunks)
    with raise_if_dask_computes(max_computes=10) as sched:
        stepped = R.rsei_basis(*args, compute=True)
    assert sched.total_computes == 3  # one per pass; the PCA runs on the small numpy results
    assert all(v.n == 3 * n_blocks for v in counters.values()), {k: v.n for k, v in counters.items()}
    xr.testing.assert_allclose(stepped, computed, rtol=1e-12)
    # the per-pixel RSEI with a precomputed basis: no compute to build, one read per chunk to compute
    args, counters = _counted(c, chunks)
    ds = assert_lazy(R.rsei, *args, basis=computed)
    assert all(v.n == 0 for v in counters.values())
    ds["rsei"].compute()
    assert all(v.n == n_blocks for v in counters.values())
    # and with the lazy basis the whole thing stays lazy
    assert_lazy(R.rsei, *args)


# ------------------------------------------------------------------ table 5, mask
def test_rsei_table():
    c = _cube(9)
    basis = R.rsei_basis(*_args(c, {"y": 10, "x": 10})).compute()
    ds = R.rsei(*_args(c, {"y": 10, "x": 10}), basis=basis)
    df = R.rsei_table(basis, ds)
    assert list(df.index) == YEARS
    assert list(df.columns[:6]) == ["RSEI", "NDVI", "WET", "NDBSI", "LST", "Percentage (%)"]
    assert df.attrs["units"]["Percentage (%)"] == "%"
    for i, year in enumerate(YEARS):
        ref = rsei_ref(*[c[k].values[i] for k in R.INDICES])
        assert df.loc[year, "RSEI"] == pytest.approx(ref["rsei_mean"], abs=1e-6)
        assert df.loc[year, "RSEI"] == pytest.approx(float(basis["rsei_mean"][i]), abs=1e-6)
        np.testing.assert_allclose(df.loc[year, ["NDVI", "WET", "NDBSI", "LST"]].to_numpy(float), ref["mean"],
                                   rtol=1e-10)
        assert df.loc[year, "Percentage (%)"] == pytest.approx(100 * ref["contribution"], rel=1e-9)
        assert df.loc[year, "PC1 NDVI"] == pytest.approx(ref["loading"][0], abs=1e-9)
        assert df.loc[year, "pixels"] == ref["count"]
    pooled = R.rsei_basis(*_args(c), pooled=True)
    dfp = R.rsei_table(pooled, R.rsei(*_args(c), basis=pooled))
    assert dfp["Percentage (%)"].nunique() == 1 and dfp.attrs["pooled"]


def test_water_mask():
    m = xr.DataArray(np.array([[-0.5, 0.0, 0.3, np.nan]]), dims=("y", "x"))
    np.testing.assert_array_equal(R.water_mask(m).values, [[True, True, False, False]])
    np.testing.assert_array_equal(R.water_mask(m, threshold=0.4).values, [[True, True, True, False]])
    assert R.water_mask(m.chunk()).chunks is not None


# ------------------------------------------------------------------ grades, areas, transitions
def _grades_cube(seed=10, t=3, ny=30, nx=40):
    rng = np.random.default_rng(seed)
    r = rng.random((t, ny, nx))
    r[rng.random(r.shape) < 0.1] = np.nan
    r.flat[:6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]  # edges: right-closed classes
    return xr.DataArray(r.astype(np.float32), dims=("time", "y", "x"),
                        coords={"time": YEARS[:t], "y": 30.0 * np.arange(ny)[::-1], "x": 30.0 * np.arange(nx)})


def test_grades_vs_numpy():
    r = _grades_cube()
    g = R.rsei_grades(r)
    assert g.dtype == np.int8
    np.testing.assert_array_equal(g.values, grades_ref(r.values))
    np.testing.assert_array_equal(g.values.ravel()[:6], [1, 1, 2, 3, 4, 5])
    gd = R.rsei_grades(r.chunk(y=7, x=9))
    assert gd.chunks is not None
    np.testing.assert_array_equal(gd.values, g.values)
    np.testing.assert_array_equal(R.rsei_grades(r, edges=(0.1, 0.3, 0.5, 0.7)).values,
                                  grades_ref(r.values, (0.1, 0.3, 0.5, 0.7)))


def test_grade_areas_vs_numpy():
    r = _grades_cube()
    for grades in (R.rsei_grades(r), R.rsei_grades(r.chunk(y=8, x=8))):
        df = R.grade_areas(grades)
        gv = grades_ref(r.values)
        px = 30.0 * 30.0 / 1e6
        for i, year in enumerate(YEARS):
            sub = df[df["time"] == year].set_index("grade")
            counts = np.array([(gv[i] == k).sum() for k in range(1, 6)])
            np.testing.assert_array_equal(sub["pixels"].to_numpy(), counts)
            np.testing.assert_allclose(sub["area_km2"].to_numpy(), counts * px)
            np.testing.assert_allclose(sub["share_pct"].to_numpy(), 100 * counts / counts.sum())
        assert list(df["name"][:5]) == list(R.GRADE_NAMES)
        assert df.attrs["units"]["area_km2"] == "km2"


def test_transition_matrix_vs_numpy():
    r = _grades_cube(11)
    gv = grades_ref(r.values)
    px = 0.0009
    for grades in (R.rsei_grades(r), R.rsei_grades(r.chunk(y=8, x=8))):
        tm = R.transition_matrix(grades, 2000, 2002)
        area = tm["area_km2"]
        ref = np.zeros((5, 6))
        for a in range(1, 6):
            for b in range(0, 6):
                ref[a - 1, b] = ((gv[0] == a) & (gv[2] == b)).sum() * px
        np.testing.assert_allclose(area.to_numpy(), ref)
        # rows sum to the from-year grade areas
        from_areas = R.grade_areas(grades).query("time == 2000")["area_km2"].to_numpy()
        np.testing.assert_allclose(area.sum(axis=1).to_numpy(), from_areas)
        np.testing.assert_allclose(tm[("total", "area_km2")].to_numpy(), from_areas)
        np.testing.assert_allclose(tm["percent"].sum(axis=1).to_numpy(), 100.0)
    # datetime coordinates: an int year selects
    gt = R.rsei_grades(r).assign_coords(time=np.array(["2000-07-01", "2001-07-01", "2002-07-01"],
                                                      dtype="datetime64[ns]"))
    np.testing.assert_allclose(R.transition_matrix(gt, 2000, 2002)["area_km2"].to_numpy(), ref)


# ------------------------------------------------------------------ the reduce-layer additions
def test_covariance_and_merge_vs_numpy():
    rng = np.random.default_rng(12)
    v = rng.normal(size=(3, 5, 20, 30)) * np.array([1, 10, 0.1, 3, 1e3])[None, :, None, None] + 100
    v[rng.random(v.shape) < 0.05] = np.nan
    da = xr.DataArray(v, dims=("time", "f", "y", "x"))
    for data in (da, da.chunk(time=1, y=6, x=7)):
        cov = covariance(data, "f", dims=("y", "x"))
        with raise_if_dask_computes():
            pooled = merge_covariance(cov, "time")
        cov, pooled = cov.compute(), pooled.compute()
        for i in range(3):
            x = v[i].reshape(5, -1)
            x = x[:, np.all(np.isfinite(x), axis=0)]
            np.testing.assert_allclose(cov["cov"].values[i], np.cov(x), rtol=1e-10)
            np.testing.assert_allclose(cov["mean"].values[i], x.mean(axis=1), rtol=1e-12)
        x = np.moveaxis(v, 1, 0).reshape(5, -1)
        x = x[:, np.all(np.isfinite(x), axis=0)]
        np.testing.assert_allclose(pooled["cov"].values, np.cov(x), rtol=1e-10)
        w = xr.DataArray(np.arange(5.0), dims=("f",))
        rng_ = projection_range(data, "f", w, dims=("y", "x")).compute()
        for i in range(3):
            x = v[i].reshape(5, -1)
            s = np.arange(5.0) @ x[:, np.all(np.isfinite(x), axis=0)]
            np.testing.assert_allclose(rng_.values[i], [s.min(), s.max()], rtol=1e-12)


def test_covariance_lazy_for_dask():
    da = xr.DataArray(dsa.random.random((4, 50, 50), chunks=(4, 10, 10)), dims=("f", "y", "x"))
    with raise_if_dask_computes():
        out = covariance(da, "f")
    assert out["cov"].chunks is not None
    with dask.config.set(scheduler="sync"):
        np.testing.assert_allclose(out["cov"].values, np.cov(da.values.reshape(4, -1)), rtol=1e-10)
