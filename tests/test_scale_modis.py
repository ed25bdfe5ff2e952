"""Seed 002 Eq. 1 on the exact MODIS grid with kriged NPP_bg (cubeeco.ops.scale.scale_reduce /
scale_transform)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pykrige.ok import OrdinaryKriging
from pyproj import CRS, Transformer

from cubeeco.io.grid import Grid
from cubeeco.ops.scale import (
    BG_RULES,
    _count_block,
    background_table,
    modis_cell_index,
    modis_cell_stats,
    npp_background,
    npp_bg_samples,
    scale_reduce,
    scale_transform,
)
from cubeeco.synth.products import MODIS_SINU, modis_grid
from cubeeco.testing.laziness import raise_if_dask_computes

SINU = CRS.from_proj4(MODIS_SINU).to_wkt()
YEARS = [2001, 2002, 2003]
RULES = set(BG_RULES)


def _case(seed, ny=60, nx=70, epsg=32649, x0=400_000.0, y0=4_300_000.0, nt=3, whole=12, nan_px=0.02,
          nan_cells=0.05):
    """A fine grid, the MODIS window over it, native NPP and a mask with whole-cell patterns."""
    rng = np.random.default_rng(seed)
    g = Grid(epsg, 30.0, (x0, y0, x0 + 30 * nx, y0 + 30 * ny))
    tr, shape, _ = modis_grid(g)
    nat = rng.uniform(50, 700, (nt, *shape)).astype(np.float32)
    nat[rng.random(nat.shape) < nan_cells] = np.nan
    native = xr.DataArray(nat, dims=("time", "y", "x"), coords={
        "time": YEARS[:nt], "y": tr.f + (np.arange(shape[0]) + 0.5) * tr.e,
        "x": tr.c + (np.arange(shape[1]) + 0.5) * tr.a}).rio.write_crs(SINU)
    native.attrs.update(units="g C m-2 yr-1", transform=list(tr)[:6])
    veg = (rng.random((nt, ny, nx)) > rng.uniform(0.1, 0.7)).astype(np.float32)
    like = xr.DataArray(np.zeros((ny, nx), np.float32), dims=("y", "x"), coords={"y": g.y, "x": g.x}).rio.write_crs(g.crs)
    cells = _reference_cells(g, tr, shape)
    present = np.unique(cells[cells >= 0])
    for t in range(nt):   # wholly destroyed and wholly vegetated cells, different each year
        for c in rng.choice(present, min(whole, present.size), replace=False):
            veg[t][cells == c] = 0.0
        for c in rng.choice(present, min(3, present.size), replace=False):
            veg[t][cells == c] = 1.0
    veg[rng.random(veg.shape) < nan_px] = np.nan
    vegetated = xr.DataArray(veg, dims=("time", "y", "x"), coords={"time": YEARS[:nt], "y": g.y, "x": g.x})
    return g, tr, shape, native, vegetated.rio.write_crs(g.crs), like, cells


def _reference_cells(g, tr, shape):
    """Independent cell index: pyproj + the inverse affine, pixel by pixel centre."""
    X, Y = np.meshgrid(g.x, g.y)
    sx, sy = Transformer.from_crs(g.crs, MODIS_SINU, always_xy=True).transform(X, Y)
    col, row = ~Affine(*list(tr)[:6]) @ (sx, sy)
    col, row = np.floor(col).astype(int), np.floor(row).astype(int)
    inside = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
    return np.where(inside, row * shape[1] + col, -1)


def _budget(ds, vegetated):
    """Per (year, cell): Σ NPP_a + Σ_destroyed NPP_bg and NPP_b·S over valid pixels (float64)."""
    cells = ds.modis_cell.values
    n = int(np.prod(ds.attrs["native_shape"]))
    lhs, rhs, s_all = [], [], []
    for t in range(vegetated.sizes["time"]):
        v = vegetated.values[t]
        b = ds.npp_b.values[t].astype(np.float64)
        a = ds.npp.values[t].astype(np.float64)
        bg = ds.npp_bg.values[t].astype(np.float64)
        valid = np.isfinite(v) & np.isfinite(b) & (cells >= 0)
        c = cells[valid]
        destroyed = v[valid] <= 0
        contrib = np.where(destroyed, bg[valid], a[valid])
        lhs.append(np.bincount(c, contrib, minlength=n))
        rhs.append(np.bincount(c, b[valid], minlength=n))
        s_all.append(np.bincount(c, minlength=n))
    return np.array(lhs), np.array(rhs), np.array(s_all)


def _check_conservation(ds, vegetated, native):
    lhs, rhs, s = _budget(ds, vegetated)
    assert np.all(np.isfinite(lhs[s > 0]))
    # float32 outputs summed in float64: relative float32 precision of the cell total
    np.testing.assert_allclose(lhs[s > 0], rhs[s > 0], rtol=2e-6, atol=1e-3)
    cells = ds.modis_cell.values
    flat = native.values.reshape(native.shape[0], -1)
    ok = cells >= 0
    np.testing.assert_array_equal(ds.npp_b.values[:, ok], flat[:, cells[ok]])   # exact, not resampled
    assert np.all(np.isnan(ds.npp_b.values[:, ~ok]))
    v = vegetated.values
    assert np.all(ds.npp.values[(v == 0) & np.isfinite(ds.npp_b.values)] == 0)


# ------------------------------------------------------------------ cell index
@pytest.mark.parametrize("epsg,x0,y0", [(32649, 400_000.0, 4_300_000.0), (32650, 250_015.0, 4_420_005.0),
                                        (3857, 12_000_000.0, 4_700_000.0)])
def test_cell_index_matches_reference_numpy_and_chunked(epsg, x0, y0):
    g, tr, shape, native, veg, like, ref = _case(0, ny=41, nx=53, epsg=epsg, x0=x0, y0=y0, nt=1)
    got = modis_cell_index(like, native)
    np.testing.assert_array_equal(got.values, ref)
    with raise_if_dask_computes():
        lazy = modis_cell_index(like.chunk({"y": 9, "x": 14}), native)
    assert lazy.dtype == lazy.compute().dtype == np.int64
    np.testing.assert_array_equal(lazy.values, ref)
    assert got.attrs["n_cells"] == shape[0] * shape[1]


def test_native_window_from_coords_equals_attrs():
    _, _, _, native, _, like, ref = _case(1, nt=1)
    bare = native.copy()
    bare.attrs.pop("transform")
    np.testing.assert_array_equal(modis_cell_index(like, bare).values, ref)


# ------------------------------------------------------------------ the reduction
def _reference_counts(cells, veg, n):
    """Independent dense counts per (year, window cell): pixels, with a flag, vegetated."""
    ok = cells >= 0
    npix = np.bincount(cells[ok], minlength=n)
    known = np.stack([np.bincount(cells[ok & np.isfinite(v)], minlength=n) for v in veg])
    vegd = np.stack([np.bincount(cells[ok & (np.nan_to_num(v) > 0)], minlength=n) for v in veg])
    return npix, known, vegd


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), cy=st.integers(3, 40), cx=st.integers(3, 40), ct=st.sampled_from([1, 2, 3]))
def test_cell_stats_equal_dense_reference_any_chunking(seed, cy, cx, ct):
    _, _, shape, native, veg, _, cells = _case(seed, ny=37, nx=45, nan_px=0.1)
    n = shape[0] * shape[1]
    npix, known, vegd = _reference_counts(cells, veg.values, n)
    on = np.flatnonzero(npix > 0)
    for v in (veg, veg.chunk({"time": ct, "y": cy, "x": cx})):
        st_ = modis_cell_stats(native, v)
        np.testing.assert_array_equal(st_.cell.values, on)
        np.testing.assert_array_equal(st_.n_pixels.values, npix[on])
        np.testing.assert_array_equal(st_.n_known.values, known[:, on])
        np.testing.assert_array_equal(st_.n_vegetated.values, vegd[:, on])
        np.testing.assert_array_equal(st_.npp_b.values, native.values.reshape(3, -1)[:, on])
        np.testing.assert_array_equal(st_.row.values * shape[1] + st_.col.values, on)


def test_block_tables_are_block_sized():
    """A block counts only the cells it touches (bounding box), never the whole window."""
    ids = np.full((8, 9), -1, np.int64)
    ids[2:5, 3:7] = np.array([[1003, 1003, 1004, 1004]] * 3) + np.array([[0], [665], [665]])
    veg = np.ones((22, 8, 9), np.float32)
    veg[:, 2, 3] = 0.0
    veg[3, 4, 6] = np.nan
    (off, counts), (poff, npix) = _count_block(veg, ids, ncols=665, t0=5, count_pixels=True)
    assert off == (5, 1, 338) and poff == (1, 338)
    assert counts.shape == (3, 22, 2, 2) and npix.shape == (2, 2)      # 331 x 665 window: 4 cells, not 220 k
    np.testing.assert_array_equal(counts[2], counts[1])                 # unit weights: their sum is S_veg
    assert npix.tolist() == [[2, 2], [4, 4]] and npix.sum() == 12
    assert counts[0, 3].tolist() == [[2, 2], [4, 3]]
    assert counts[1, 0].tolist() == [[1, 2], [4, 4]]
    assert _count_block(veg, np.full((8, 9), -1), ncols=665, t0=0, count_pixels=True) is None


def test_reduce_one_chunk_equals_many_and_roundtrips_zarr(tmp_path):
    _, _, _, native, veg, _, _ = _case(7, ny=100, nx=120, whole=20, nan_px=0.01)
    ref = scale_reduce(native, veg, min_share=0.5)
    many = scale_reduce(native.chunk({"time": 1}), veg.chunk({"time": 2, "y": 17, "x": 23}), min_share=0.5)
    xr.testing.assert_identical(ref, many)
    assert "kriging" in set(background_table(ref).rule)
    for k in ("npp_bg", "npp_b", "n_known", "n_vegetated", "npp_bg_rule"):
        assert ref[k].attrs.get("long_name")
    assert ref.npp_bg.attrs["units"] == "g C m-2 yr-1" and ref.npp_bg.dtype == np.float32
    # only numbers in variables: stored and read back as is
    ref.to_zarr(tmp_path / "r.zarr", mode="w", consolidated=False, zarr_format=2)
    back = xr.open_zarr(tmp_path / "r.zarr", consolidated=False).load()
    xr.testing.assert_identical(back, ref)
    pd_t = background_table(back)
    assert list(pd_t.year) == YEARS and pd_t.equals(background_table(ref))
    a = scale_transform(native, veg, reduced=back).compute()
    b = scale_transform(native, veg, reduced=ref).compute()
    xr.testing.assert_identical(a[["npp", "npp_bg", "npp_b"]], b[["npp", "npp_bg", "npp_b"]])


# ------------------------------------------------------------------ conservation (random data)
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), ny=st.integers(20, 60), nx=st.integers(20, 60),
       nan_px=st.sampled_from([0.0, 0.03]), whole=st.integers(0, 15))
def test_conservation_random(seed, ny, nx, nan_px, whole):
    rng = np.random.default_rng(seed)
    x0 = float(rng.integers(300_000, 700_000) // 30 * 30 + 15)
    y0 = float(rng.integers(4_000_000, 4_600_000) // 30 * 30 + 15)
    _, _, _, native, veg, _, _ = _case(seed, ny=ny, nx=nx, x0=x0, y0=y0, whole=whole, nan_px=nan_px)
    ds = scale_transform(native, veg, min_share=0.5)
    _check_conservation(ds, veg, native)
    assert set(background_table(ds).rule) <= RULES


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_weighted_eq1_conserves_each_cell_and_unit_weights_are_the_study(seed):
    """Sub-cell weights (e.g. NDVI) share a cell's vegetated NPP unevenly; the cell total holds,
    NPP_a is proportional to the weight within a cell, and unit weights give Eq. 1 as printed."""
    _, _, _, native, veg, _, _ = _case(seed, ny=40, nx=50, whole=6)
    rng = np.random.default_rng(seed)
    weights = veg * rng.uniform(0.2, 0.9, veg.shape).astype(np.float32)       # 0 stays destroyed
    ds = scale_transform(native, weights, min_share=0.5)
    _check_conservation(ds, weights, native)
    cells = ds.modis_cell.values
    t = 0
    good = (cells >= 0) & (weights.values[t] > 0) & np.isfinite(ds.npp.values[t])
    c = np.bincount(cells[good]).argmax()          # the cell with the most vegetated, valid pixels
    sel = (cells == c) & good
    assert sel.sum() >= 2
    ratio = ds.npp.values[t][sel] / weights.values[t][sel]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)
    # unit weights are the study's Eq. 1: every vegetated pixel of a cell gets the same NPP_a
    uniform = scale_transform(native, veg, min_share=0.5)
    a = uniform.npp.values[t][sel]
    np.testing.assert_allclose(a, a[0], rtol=1e-6)


def test_pass_is_lazy_blockwise_and_equals_eager():
    _, _, _, native, veg, _, _ = _case(8, ny=100, nx=120, whole=20, nan_px=0.0)
    veg[0, :5, :5] = np.nan
    reduced = scale_reduce(native, veg, min_share=0.5)
    ref = scale_transform(native, veg, reduced=reduced)
    _check_conservation(ref, veg, native)
    chunked = veg.chunk({"time": -1, "y": 17, "x": 23})
    lazy_native = native.chunk({"time": 1})
    with raise_if_dask_computes():
        lazy = scale_transform(lazy_native, chunked, reduced=reduced)
    # no whole-area step left: the MODIS layers are not even read, and there is one Eq. 1
    # task per block of the mask (fed by the small per-cell tables and pixel-centre coords)
    hlg = lazy.npp.data.__dask_graph__()
    assert lazy_native.data.name not in hlg.layers
    graph = dict(hlg)
    n_blocks = int(np.prod(chunked.data.numblocks))
    eq1 = [k for k in graph if isinstance(k, tuple) and "eq1" in str(k[0])]
    assert len(eq1) == n_blocks
    for k in ("npp", "npp_bg", "npp_b"):
        assert lazy[k].dtype == lazy[k].compute().dtype == np.float32
        assert lazy[k].chunks[1:] == chunked.chunks[1:]
        np.testing.assert_array_equal(lazy[k].values, ref[k].values)
        assert lazy[k].attrs["units"] == "g C m-2 yr-1" and lazy[k].attrs["long_name"]
    # npp_bg of each pixel is its cell's value
    cells = ref.modis_cell.values
    pos = np.searchsorted(reduced.cell.values, cells)
    ok = cells >= 0
    np.testing.assert_array_equal(ref.npp_bg.values[:, ok], reduced.npp_bg.values[:, pos[ok]])


def test_kriged_background_equals_pykrige_at_cell_centres():
    _, _, _, native, veg, _, _ = _case(11, ny=100, nx=120, whole=20, nan_px=0.0)
    red = scale_reduce(native, veg, min_share=0.5, max_samples=None)
    samples = npp_bg_samples(red, min_share=0.5)
    table = background_table(red)
    n_veg = red.n_vegetated.values
    kriged = 0
    for t, year in enumerate(YEARS):
        s = samples[samples.year == year]
        assert table.n_samples[t] == len(s)
        if table.rule[t] != "kriging":
            continue
        kriged += 1
        ok = OrdinaryKriging(s.x.values, s.y.values, s.npp.values, variogram_model="spherical")
        v, _ = ok.execute("points", red.x_grid.values, red.y_grid.values)
        keep = n_veg[t] > 0          # cells that keep a vegetated pixel carry the kriged value
        np.testing.assert_allclose(red.npp_bg.values[t][keep], np.ma.getdata(v)[keep].astype(np.float32),
                                   rtol=2e-6)
        gone = (n_veg[t] == 0) & (red.n_known.values[t] > 0) & np.isfinite(red.npp_b.values[t])
        np.testing.assert_array_equal(red.npp_bg.values[t][gone], red.npp_b.values[t][gone])
        np.testing.assert_allclose(json.loads(table.variogram[t])["psill"], ok.variogram_model_parameters[0],
                                   rtol=1e-12)
        np.testing.assert_allclose(red.npp_bg_variogram.values[t], ok.variogram_model_parameters, rtol=1e-12)
    assert kriged


# ------------------------------------------------------------------ samples and fallbacks
def test_samples_need_every_pixel_destroyed_and_the_share():
    _, _, shape, native, veg, _, cells = _case(3, nan_px=0.0, whole=10)
    stats = modis_cell_stats(native, veg)
    s_all = npp_bg_samples(stats, min_share=0.0)
    s_strict = npp_bg_samples(stats, min_share=0.95)
    assert 0 < len(s_strict) <= len(s_all)
    assert np.all(s_strict.share >= 0.95)
    for r in s_all.itertuples():
        t = YEARS.index(r.year)
        px = veg.values[t][cells == r.cell]
        assert px.size == r.n_pixels and np.all(px == 0)
        assert r.npp == pytest.approx(float(native.values[t].ravel()[r.cell]))
    # one unknown pixel makes a wholly destroyed cell unsampled
    r = s_all.iloc[0]
    t = YEARS.index(r.year)
    v2 = veg.copy(deep=True)
    v2.values[t][np.argwhere(cells == r.cell)[0][0], np.argwhere(cells == r.cell)[0][1]] = np.nan
    s2 = npp_bg_samples(modis_cell_stats(native, v2), min_share=0.0)
    assert not ((s2.year == r.year) & (s2.cell == r.cell)).any()
    # share: interior cells are ~1, cells cut by the grid edge less, every listed cell > 0
    assert stats.share.max() == pytest.approx(1.0)
    edge = (stats.row.values == stats.row.values.min()) | (stats.col.values == stats.col.values.min())
    assert stats.share.values[edge].max() < 0.9 and stats.share.min() > 0


def test_fallback_rules():
    import pandas as pd

    like = xr.DataArray(np.zeros((4, 5), np.float32), dims=("y", "x"),
                        coords={"y": [35.0, 25.0, 15.0, 5.0], "x": [5.0, 15.0, 25.0, 35.0, 45.0]})
    samples = pd.DataFrame({"year": [2001, 2001, 2002, 2002, 2002, 2004, 2004, 2004, 2005, 2005, 2005, 2005],
                            "x": [0, 10, 0, 40, 20, 0, 10, 30.0, 0, 10, 20, 30], "y": [0, 0, 0, 40, 10, 0, 5, 9.0,
                                                                                    0, 9, 3, 7],
                            "npp": [10.0, 30.0, 5.0, 7.0, 9.0, 3.0, 3.0, 3.0, 1.0, 2.0, 3.0, 4.0]})
    bg, table = npp_background(samples, like, [2001, 2002, 2003, 2004])
    assert list(table.rule) == ["mean", "kriging", "median_other_years", "mean_no_fit"]
    assert np.all(bg.values[0] == 20.0)
    assert np.all(bg.values[2] == np.float32(np.median(samples.npp[samples.year != 2003])))
    assert "equal" in table.note[3]
    _, t2 = npp_background(samples, like, [2003], default=42.0)
    assert list(t2.rule) == ["default"] and t2.value[0] == 42.0
    _, t3 = npp_background(samples.iloc[:0], like, [2003])
    assert list(t3.rule) == ["zero"]
    lazy, _ = npp_background(samples, like.chunk({"y": 2}), [2001, 2002], time_chunks=(2,))
    np.testing.assert_allclose(lazy.values, bg.values[:2], rtol=1e-6)
    with pytest.raises(ValueError, match="missing"):
        npp_background(samples, like, [2001], psill=1.0)
    with pytest.raises(ValueError, match="min_points"):
        npp_background(samples, like, [2001], min_points=2)
    with pytest.raises(ValueError, match="max_samples"):
        npp_background(samples, like, [2001], max_samples=2)
    # max_samples: a seeded random subset, per year independent of the other years
    _, t4 = npp_background(samples, like, [2005], max_samples=3, seed=1)
    _, t5 = npp_background(samples, like, [2001, 2005], max_samples=3, seed=1)
    assert t4.n_samples[0] == 3 and t4.rule[0] == "kriging"
    assert t5.variogram[1] == t4.variogram[0]


def test_fallbacks_in_the_reduce():
    # no wholly destroyed cell in any year: NPP_bg = 0 ("zero") except in no cell
    _, _, _, native, veg, _, _ = _case(4, whole=0, nan_px=0.0)
    red = scale_reduce(native, veg, min_share=0.5)
    assert list(background_table(red).rule) == ["zero"] * 3
    assert np.all(red.npp_bg.values[red.n_vegetated.values > 0] == 0)
    red2 = scale_reduce(native, veg, default_bg=55.0)
    assert list(background_table(red2).rule) == ["default"] * 3 and np.all(red2.npp_bg_value.values == 55.0)
    rule = red2.npp_bg_rule
    assert rule.dtype == np.int8 and rule.attrs["flag_meanings"].split()[3] == "default"


def test_bad_input():
    _, _, _, native, veg, _, _ = _case(5, nt=2)
    with pytest.raises(ValueError, match="no layer for year"):
        scale_transform(native.isel(time=[0]), veg)
    with pytest.raises(ValueError, match="no CRS"):
        scale_transform(native, veg.drop_vars("spatial_ref"))
    with pytest.raises(ValueError, match="min_share"):
        scale_transform(native, veg, min_share=1.5)
    with pytest.raises(TypeError, match="DataArray"):
        scale_transform(native, veg.values)
    with pytest.raises(ValueError, match="geographic"):
        modis_cell_index(veg.isel(time=0).rio.write_crs("EPSG:4326"), native)
    with pytest.raises(TypeError, match="unexpected keyword"):
        scale_transform(native, veg, min_shares=0.5)
    with pytest.raises(TypeError, match="reduced=reduced"):
        scale_transform(native, veg, stats=modis_cell_stats(native, veg))
    red = scale_reduce(native, veg)
    with pytest.raises(TypeError, match="belong to scale_reduce"):
        scale_transform(native, veg, reduced=red, min_share=0.5)
    with pytest.raises(ValueError, match="years"):
        scale_transform(native, veg.isel(time=[1]), reduced=red)
    shifted = native.assign_coords(x=native.x + 463.312716527917)
    shifted.attrs.pop("transform")
    with pytest.raises(ValueError, match="native window"):
        scale_transform(shifted, veg, reduced=red)
    with pytest.raises(ValueError, match="native window"):
        scale_transform(native.isel(x=slice(1, None)).assign_attrs(transform=list(native.attrs["transform"])), veg,
                        reduced=red)
    with pytest.raises(TypeError, match="scale_reduce"):
        scale_transform(native, veg, reduced=red.drop_vars("npp_bg"))
    with pytest.raises(ValueError, match="CRS"):
        scale_transform(native, veg.rio.write_crs("EPSG:32650"), reduced=red)


def test_modis_read_errors_are_redacted(tmp_path):
    from cubeeco.io.modis import NativeWindow, _read_year
    from cubeeco.io.remote import RemoteReadError

    secret = "sv=2024&sig=SECRETSIG123"
    win = NativeWindow(SINU, (463.3, 0.0, 0.0, 0.0, -463.3, 0.0), (2, 2))
    with pytest.raises(RemoteReadError) as err:
        _read_year([(str(tmp_path / "missing.tif") + f"?{secret}", win.transform)], win, 0.1, None, {})
    assert "SECRETSIG123" not in str(err.value) and "missing.tif" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


# ------------------------------------------------------------------ synthetic tiny base
def test_tiny_base_native_modis_and_conservation(tiny_base, tiny_landscape):
    from cubeeco.io.cube import open_npp
    from cubeeco.io.modis import open_npp_native
    from cubeeco.io.search import search

    grid = tiny_landscape.grid
    items = search("modis-17A3HGF-061", source=str(tiny_base.catalog), bbox=list(grid.lonlat_bounds()))
    with raise_if_dask_computes():
        native = open_npp_native(items, grid=grid)
    assert native.attrs["units"] == "g C m-2 yr-1" and native.chunks is not None
    near = open_npp(items, grid=grid)
    years = [int(t.year) for t in native.indexes["time"]]
    ndvi = np.stack([tiny_landscape.ndvi(y) for y in years])
    vegetated = xr.DataArray((ndvi >= 0.2).astype(np.float32), dims=("time", "y", "x"),
                             coords={"time": native.time.values, "y": grid.y, "x": grid.x}).rio.write_crs(grid.crs)
    chunked = vegetated.chunk({"time": -1, "y": 40, "x": 48})
    reduced = scale_reduce(native, chunked, min_share=0.9)
    with raise_if_dask_computes():
        ds = scale_transform(native, chunked, reduced=reduced)
    ds = ds.compute()
    # NPP_b is the native cell's value; GDAL's nearest warp agrees except at a few cell edges
    b, nv = ds.npp_b.values, near.values
    same = (b == nv) | (np.isnan(b) & np.isnan(nv))
    assert same.mean() > 0.995
    _check_conservation(ds, vegetated, native.compute())
    table = background_table(ds)
    assert list(table.year) == years and set(table.rule) <= RULES
    assert np.all(ds.npp.values[(vegetated.values == 0) & np.isfinite(ds.npp_b.values)] == 0)
    # the tiny base's two mines leave no cell wholly destroyed: open four whole interior cells
    inner = reduced.cell.values[(reduced.share.values >= 0.9) & np.isfinite(reduced.npp_b.values).all(axis=0)][:4]
    v2 = vegetated.copy(deep=True)
    v2.values[:, np.isin(ds.modis_cell.values, inner)] = 0.0
    ds2 = scale_transform(native, v2, min_share=0.9).compute()
    assert (background_table(ds2).rule == "kriging").all()
    _check_conservation(ds2, v2, native.compute())


# ------------------------------------------------------------------ regression sub-cell weights (issue 12)
from cubeeco.kernels import scale as KS  # noqa: E402
from cubeeco.ops.scale import fit_subcell_regression, weights_table  # noqa: E402

BG = 40.0


def _affine_case(seed, a=15.0, b=560.0, ny=60, nx=70, nan_px=0.02, nan_cov=0.03, whole=8):
    """Pixels whose NPP is exactly a + b·x (x: the covariate), NPP_bg = BG on destroyed pixels, and
    MODIS cells holding the mean of that over their known on-grid pixels (Eq. 1 exact)."""
    g, tr, shape, native, veg, like, cells = _case(seed, ny=ny, nx=nx, whole=whole, nan_px=nan_px, nan_cells=0.0)
    rng = np.random.default_rng(seed + 1)
    # a smooth field (cells differ: the fit needs spread between cell means) plus pixel noise
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    field = 0.5 + 0.3 * np.sin(xx / rng.uniform(5, 12) + rng.uniform(0, 6)) * np.cos(yy / rng.uniform(5, 12))
    x = np.clip(field[None] + rng.normal(0, 0.08, veg.shape), 0.05, 0.9).astype(np.float32)
    truth = (a + b * x.astype(np.float64))
    v = veg.values
    seen = np.where(v > 0, truth, BG)
    n = shape[0] * shape[1]
    nat = np.full((v.shape[0], n), np.nan)
    for t in range(v.shape[0]):
        ok = np.isfinite(v[t]) & (cells >= 0)
        tot = np.bincount(cells[ok], seen[t][ok], minlength=n)
        cnt = np.bincount(cells[ok], minlength=n)
        nat[t, cnt > 0] = tot[cnt > 0] / cnt[cnt > 0]
    native = native.copy(data=nat.reshape(native.shape).astype(np.float32))
    xm = x.copy()
    xm[rng.random(x.shape) < nan_cov] = np.nan              # a pixel without NDVI: its cell's mean
    cov = veg.copy(data=xm).assign_attrs(units="1")
    return native, veg, cov, cells, truth


def _reference_weights(veg, cov, cells, a, b, floor):
    """Independent per-pixel weights: max(a + b·x, floor), x missing -> the cell's vegetated mean."""
    w = np.zeros(veg.shape)
    c0 = np.maximum(cells, 0)
    for t in range(veg.shape[0]):
        v, x = veg[t], cov[t].astype(np.float64)
        ok = (v > 0) & np.isfinite(x) & (cells >= 0)
        n = cells.max() + 1
        cnt = np.bincount(cells[ok], minlength=n)
        mean = np.bincount(cells[ok], x[ok], minlength=n) / np.maximum(cnt, 1)
        xx = np.where(np.isfinite(x), x, np.where(cnt[c0] > 0, mean[c0], np.nan))
        wt = np.where(np.isfinite(xx), np.maximum(a[t] + b[t] * xx, floor), 1.0)
        w[t] = np.where(np.isnan(v), np.nan, np.where(v > 0, wt, 0.0))
    return w


def test_covariate_sums_and_weights_kernels_match_reference():
    rng = np.random.default_rng(3)
    rel = rng.integers(-1, 6, 400)
    veg = rng.choice([0.0, 1.0, np.nan], (3, 400), p=[0.3, 0.6, 0.1]).astype(np.float32)
    x = rng.uniform(-0.2, 0.9, (3, 400)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    got = KS.cell_covariate_sums(rel, veg, x, 6)
    ok = (rel >= 0)[None] & (np.nan_to_num(veg) > 0) & np.isfinite(x)
    for t in range(3):
        np.testing.assert_array_equal(got[0, t], np.bincount(rel[ok[t]], minlength=6))
        np.testing.assert_allclose(got[1, t], np.bincount(rel[ok[t]], x[t][ok[t]], minlength=6), atol=1e-5)
    # sums of rounded summands are exact: any order gives the same bits
    perm = rng.permutation(400)
    np.testing.assert_array_equal(KS.cell_covariate_sums(rel[perm], veg[:, perm], x[:, perm], 6), got)
    xbar = np.where(got[0] > 0, got[1] / np.maximum(got[0], 1), np.nan)
    a, b = np.array([15.0, -50.0, 1.0]), np.array([560.0, 300.0, 0.0])
    w = KS.regression_weights(rel, veg, x, xbar, a, b, 2.5)
    ref = _reference_weights(veg, x, rel, a, b, 2.5)
    inside = rel >= 0
    # the cell means come from summands rounded to 2**-24: 1e-4 after x 560
    np.testing.assert_allclose(w[:, inside], ref[:, inside], rtol=0, atol=1e-4)
    assert np.all(w[:, ~inside][np.nan_to_num(veg[:, ~inside]) > 0] == 1.0)
    vegd = np.nan_to_num(veg) > 0
    assert np.all(w[vegd & inside & np.isfinite(x)] >= 2.5)        # floored: > 0 on every vegetated pixel
    assert np.all(w[vegd] > 0) and np.all(np.isnan(w[np.isnan(veg)])) and np.all(w[veg == 0] == 0)
    fin = np.isfinite(w)
    np.testing.assert_array_equal(w[fin], np.rint(w[fin] * 2 ** 24) / 2 ** 24)   # on the exact-sum grid
    with pytest.raises(ValueError, match="floor"):
        KS.regression_weights(rel, veg, x, xbar, a, b, 0.0)


def test_robust_line_recovers_lines_and_resists_outliers():
    from cubeeco.ops.scale import _robust_line

    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 0.8, 200)
    y = 15 + 560 * x
    a, b, r2 = _robust_line(x, y, np.ones(200), n_iter=20, huber_k=1.345)
    assert (a, b) == pytest.approx((15, 560), rel=1e-10) and r2 == pytest.approx(1.0)
    noisy = y + rng.normal(0, 5, 200)
    ref = np.polyfit(x, noisy, 1)
    a0, b0, _ = _robust_line(x, noisy, np.ones(200), n_iter=0, huber_k=1.345)       # plain least squares
    assert (b0, a0) == pytest.approx(tuple(ref), rel=1e-9)
    bad = noisy.copy()
    bad[:15] += 400                                  # cells with a wrong NPP_bg
    a1, b1, _ = _robust_line(x, bad, np.ones(200), n_iter=20, huber_k=1.345)
    ols = np.polyfit(x, bad, 1)
    line = np.linspace(0.1, 0.8, 8)
    err_robust = np.abs(a1 + b1 * line - (15 + 560 * line)).max()
    err_ols = np.abs(np.polyval(ols, line) - (15 + 560 * line)).max()
    assert err_robust < 0.25 * err_ols and err_robust < 6
    assert np.isnan(_robust_line(np.full(5, 0.3), np.arange(5.0), np.ones(5), n_iter=3, huber_k=1.3)[1])


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_regression_weights_recover_an_affine_truth_and_keep_every_cell(seed):
    """NPP affine in the covariate: the fit finds a, b and Eq. 1 with regression weights returns
    each vegetated pixel's NPP (uniform weights do not); each cell's total is kept."""
    native, veg, cov, cells, truth = _affine_case(seed, nan_cov=0.0, nan_px=0.0)
    red = scale_reduce(native, veg, covariate=cov, min_share=0.5, min_pixels=10, default_bg=BG)
    assert set(background_table(red).rule) <= {"mean", "mean_no_fit", "default"}   # NPP_bg = BG exactly
    fit = weights_table(red)
    assert list(fit.rule) == ["regression"] * 3
    np.testing.assert_allclose(fit.intercept, 15.0, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(fit.slope, 560.0, rtol=1e-5)
    assert np.all(fit.r2 > 0.999) and np.all(fit.n_cells >= _MIN_CELLS_SEEN)
    ds = scale_transform(native, veg, reduced=red, covariate=cov).compute()
    _check_conservation(ds, veg, native)
    v = veg.values
    vegd = (v > 0) & (cells >= 0)[None] & np.isfinite(ds.npp.values)
    np.testing.assert_allclose(ds.npp.values[vegd], truth[vegd], rtol=2e-4)
    uni = scale_transform(native, veg, min_share=0.5, default_bg=BG).compute()
    assert np.abs(uni.npp.values[vegd] - truth[vegd]).max() > 50           # the even share is far off
    # within a cell NPP_a ∝ the weight max(a + b·x, floor) (x missing: the cell's mean)
    w = _reference_weights(v, cov.values, cells, fit.intercept.to_numpy(), fit.slope.to_numpy(), 1.0)
    c = np.bincount(cells[vegd[0]]).argmax()
    sel = vegd[0] & (cells == c)
    ratio = ds.npp.values[0][sel] / w[0][sel]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)


_MIN_CELLS_SEEN = 10


def test_regression_reduce_one_chunk_equals_many_lazy_pass_and_zarr(tmp_path):
    native, veg, cov, _, _ = _affine_case(21, ny=80, nx=90)
    noisy = native * np.float32(1.0) + np.float32(3.0) * np.sin(np.arange(native.size)).reshape(native.shape)
    noisy = noisy.astype(np.float32).rio.write_crs(SINU).assign_attrs(native.attrs)
    ref = scale_reduce(noisy, veg, covariate=cov, min_share=0.5)
    many = scale_reduce(noisy.chunk({"time": 1}), veg.chunk({"time": 2, "y": 17, "x": 23}),
                        covariate=cov.chunk({"time": 2, "y": 17, "x": 23}), min_share=0.5)
    xr.testing.assert_identical(ref, many)                   # bit for bit: the sums are exact
    for k in ("w_vegetated", "covariate_mean", "weights_slope", "weights_intercept", "n_negative"):
        assert ref[k].attrs.get("long_name") and "units" in ref[k].attrs
    ref.to_zarr(tmp_path / "r.zarr", mode="w", consolidated=False, zarr_format=2)
    back = xr.open_zarr(tmp_path / "r.zarr", consolidated=False).load()
    xr.testing.assert_identical(back, ref)
    assert weights_table(back).equals(weights_table(ref))
    eager = scale_transform(noisy, veg, reduced=back, covariate=cov)
    _check_conservation(eager, veg, noisy)
    chunked = veg.chunk({"time": -1, "y": 17, "x": 23})
    with raise_if_dask_computes():
        lazy = scale_transform(noisy.chunk({"time": 1}), chunked, reduced=ref, covariate=cov.chunk({"time": -1,
                                                                                                    "y": 17, "x": 23}))
    for k in ("npp", "npp_bg", "npp_b"):
        assert lazy[k].dtype == lazy[k].compute().dtype == np.float32
        np.testing.assert_array_equal(lazy[k].values, eager[k].values)
    assert "max(a + b*covariate" in lazy.npp.attrs["method"] and lazy.npp.attrs["units"] == "g C m-2 yr-1"


def test_fit_falls_back_to_even_shares():
    native, veg, cov, _, _ = _affine_case(5, b=-300.0, a=400.0)          # NPP falling with NDVI
    red = scale_reduce(native, veg, covariate=cov, min_share=0.5, min_pixels=10)
    fit = weights_table(red)
    assert list(fit.rule) == ["uniform"] * 3 and fit.note[0].startswith("slope")
    ds = scale_transform(native, veg, reduced=red, covariate=cov)
    uni = scale_transform(native, veg, min_share=0.5)
    np.testing.assert_allclose(ds.npp.values, uni.npp.values, rtol=1e-6)
    red2 = scale_reduce(native, veg, covariate=cov, min_share=0.5, min_pixels=10_000)
    assert list(weights_table(red2).rule) == ["uniform"] * 3 and "cell" in weights_table(red2).note[0]
    stats = red.assign(covariate_mean=red.covariate_mean * 0 + 0.4)
    assert "spread" in fit_subcell_regression(stats, min_share=0.5, min_pixels=10).note[0]


def test_negative_npp_is_counted_and_clipped_on_request():
    _, _, _, native, veg, _, cells = _case(9, ny=60, nx=70, whole=10, nan_px=0.0, nan_cells=0.0)
    nat = native.values.copy()
    v = veg.values.copy()
    t = 1
    inner = [c for c in np.unique(cells[cells >= 0]) if (cells == c).sum() >= 200][:2]
    for c in inner:                         # nearly destroyed cells with a small NPP_b
        px = np.argwhere(cells == c)
        v[t][cells == c] = 0.0
        v[t][tuple(px[:3].T)] = 1.0
        nat[t].ravel()[c] = 5.0
    native = native.copy(data=nat)
    veg = veg.copy(data=v)
    red = scale_reduce(native, veg, min_share=0.5, default_bg=60.0)
    ds = scale_transform(native, veg, reduced=red).compute()
    _check_conservation(ds, veg, native)                  # kept as computed: the budget holds
    neg = (ds.npp.values < 0)
    table = background_table(red)
    assert table.n_negative[t] == neg[t].sum() >= 6 and list(table.clipped) == [0, 0, 0]
    area = red.attrs["pixel_area_m2"]
    np.testing.assert_allclose(table.negative_t_c, [-ds.npp.values[k][neg[k]].astype(np.float64).sum() * area / 1e6
                                                    for k in range(3)], rtol=1e-5)
    red_c = scale_reduce(native, veg, min_share=0.5, default_bg=60.0, clip_negative=True)
    clipped = scale_transform(native, veg, reduced=red_c).compute()
    tc = background_table(clipped)
    assert list(tc.clipped) == list(table.n_negative) and red_c.attrs["clip_negative"] == 1
    assert clipped.npp.values[neg].max() == 0 and np.nanmin(clipped.npp.values) >= 0
    np.testing.assert_array_equal(clipped.npp.values[~neg], ds.npp.values[~neg])
    assert "clipped" in clipped.npp.attrs["method"]


def test_regression_bad_input():
    native, veg, cov, _, _ = _affine_case(2, ny=40, nx=50)
    red = scale_reduce(native, veg, covariate=cov, min_share=0.5)
    with pytest.raises(ValueError, match="same covariate"):
        scale_transform(native, veg, reduced=red)
    with pytest.raises(ValueError, match="no sub-cell regression"):
        scale_transform(native, veg, reduced=scale_reduce(native, veg), covariate=cov)
    with pytest.raises(ValueError, match="years"):
        scale_reduce(native, veg, covariate=cov.assign_coords(time=[2001, 2002, 2005]))
    with pytest.raises(ValueError, match="grid"):
        scale_reduce(native, veg, covariate=cov.assign_coords(x=cov.x + 30.0))
    with pytest.raises(TypeError, match="numeric"):
        scale_reduce(native, veg, covariate=(cov > 0.3))
    with pytest.raises(ValueError, match="weight_floor"):
        scale_reduce(native, veg, covariate=cov, weight_floor=0.0)
    with pytest.raises(ValueError, match="min_pixels"):
        scale_reduce(native, veg, covariate=cov, min_pixels=0)
    with pytest.raises(TypeError, match="clip_negative"):
        scale_reduce(native, veg, clip_negative="yes")
    with pytest.raises(ValueError, match="sub-cell regression"):
        weights_table(scale_reduce(native, veg))
