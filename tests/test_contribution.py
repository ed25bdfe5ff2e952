"""Contribution ratio K_l by distance from the mining landscape (study 004 Eq. 12).

Checked against a hand computation (a square mine: band areas are exact 64-gon buffers),
a plain-numpy distance-transform reference on a fine grid, and per-year consistency.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import shapely
import xarray as xr
from scipy import ndimage

from cubeeco.ops.contribution import contribution_ratio
from cubeeco.testing.laziness import raise_if_dask_computes

CRS = "EPSG:32649"


def grid(values, res, x0=0.0, y0=None, units="t ha-1"):
    values = np.asarray(values, dtype=np.float64)
    ny, nx = values.shape[-2:]
    y0 = ny * res if y0 is None else y0
    coords = {"y": y0 - (np.arange(ny) + 0.5) * res, "x": x0 + (np.arange(nx) + 0.5) * res}
    dims = ("y", "x")
    if values.ndim == 3:
        dims = ("time",) + dims
        coords["time"] = np.arange(2007, 2007 + values.shape[0])
    return xr.DataArray(values, dims=dims, coords=coords, attrs={"units": units}).rio.write_crs(CRS)


def box_area(side, r):
    """Area of shapely's buffer(r) of a square: 4 quarter arcs of 16 segments = an inscribed 64-gon."""
    return side * side + 4 * side * r + 32 * r * r * math.sin(math.pi / 32)


# ------------------------------------------------------------------ hand computation
def test_square_mine_matches_hand_computation():
    res, side, w, n = 10.0, 200.0, 100.0, 3
    a, b = 12.0, 48.0
    vals = np.full((100, 100), b)  # 1 km x 1 km; mine at x, y in [400, 600]
    vals[40:60, 40:60] = a
    c = grid(vals, res)
    mine = gpd.GeoDataFrame(geometry=[shapely.box(400, 400, 600, 600)], crs=CRS)
    t = contribution_ratio(c, mine, width=w, n=n)
    assert t["band"].tolist() == [1, 2, 3]
    s_mine = side * side / 1e4
    s_within = np.array([box_area(side, k * w) for k in (1, 2, 3)]) / 1e4
    s_band = np.diff(np.r_[s_mine, s_within])
    np.testing.assert_allclose(t["S_mine"], s_mine, rtol=1e-12)
    np.testing.assert_allclose(t["C_mine"], a * s_mine, rtol=1e-12)
    np.testing.assert_allclose(t["S_band"], s_band, rtol=1e-9)
    np.testing.assert_allclose(t["C_band"], b * s_band, rtol=1e-9)
    np.testing.assert_allclose(t["S_within"], s_within, rtol=1e-9)
    c_within = a * s_mine + b * (s_within - s_mine)
    k = 100 * (a * s_mine / s_mine) / (c_within / s_within)
    np.testing.assert_allclose(t["K_l"], k, rtol=1e-9)
    np.testing.assert_allclose(t["K_band"], 100 * a / b, rtol=1e-9)  # uniform surroundings
    np.testing.assert_allclose(t["covered_fraction"], 1.0, rtol=1e-9)
    # the mine is poorer than its surroundings: K_l falls with distance toward 100·a/b
    assert np.all(np.diff(t["K_l"]) < 0) and np.all(t["K_l"] > 100 * a / b)
    assert t.attrs["units"]["K_l"] == "%" and t.attrs["units"]["C_mine"] == "t"


def test_mask_and_polygon_give_the_same_table():
    rng = np.random.default_rng(3)
    vals = rng.uniform(5, 80, (60, 60))
    c = grid(vals, 30.0)
    mask = xr.zeros_like(c, dtype=bool)
    mask[10:20, 25:40] = True
    mask[40:45, 5:12] = True  # two separate pits: one mining landscape
    y0, x0 = 60 * 30.0, 0.0
    boxes = [shapely.box(x0 + 25 * 30, y0 - 20 * 30, x0 + 40 * 30, y0 - 10 * 30),
             shapely.box(x0 + 5 * 30, y0 - 45 * 30, x0 + 12 * 30, y0 - 40 * 30)]
    t_poly = contribution_ratio(c, gpd.GeoDataFrame(geometry=boxes, crs=CRS), width=90, n=4)
    t_mask = contribution_ratio(c, mask, width=90, n=4)
    cols = ["C_mine", "S_mine", "C_band", "S_band", "C_within", "S_within", "K_l"]
    np.testing.assert_allclose(t_mask[cols].to_numpy(), t_poly[cols].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(t_mask["S_mine"], (150 + 35) * 0.09, rtol=1e-12)


# ------------------------------------------------------------------ distance-transform reference
def test_band_sums_match_a_fine_grid_distance_transform():
    res, k = 30.0, 10  # reference grid: 3 m pixels
    rng = np.random.default_rng(11)
    coarse = ndimage.gaussian_filter(rng.uniform(0, 100, (50, 50)), 2)
    c = grid(coarse, res)
    mine_geom = shapely.box(600.0, 510.0, 900.0, 960.0)  # not on pixel edges
    mine = gpd.GeoDataFrame(geometry=[mine_geom], crs=CRS)
    width, n = 120.0, 3
    t = contribution_ratio(c, mine, width=width, n=n)
    # the reference: every 3 m sub-pixel takes its 30 m pixel's value; its distance to the mine
    # is the exact distance of its centre to the rectangle
    fine = np.kron(coarse, np.ones((k, k)))
    f = res / k
    yc = 50 * res - (np.arange(fine.shape[0]) + 0.5) * f
    xc = (np.arange(fine.shape[1]) + 0.5) * f
    inside = ((xc[None, :] > 600) & (xc[None, :] < 900) & (yc[:, None] > 510) & (yc[:, None] < 960))
    # Euclidean distance transform of the outside, in metres (distance to the nearest inside centre),
    # corrected by half a fine pixel: the rectangle's edge lies half a sub-pixel beyond those centres
    d = ndimage.distance_transform_edt(~inside, sampling=f) - f / 2
    d[inside] = 0
    ha = f * f / 1e4
    ref_c = [fine[inside].sum() * ha]
    ref_s = [inside.sum() * ha]
    for band in range(1, n + 1):
        sel = ~inside & (d > (band - 1) * width) & (d <= band * width)
        ref_c.append(fine[sel].sum() * ha)
        ref_s.append(sel.sum() * ha)
    np.testing.assert_allclose(t["C_mine"].iloc[0], ref_c[0], rtol=1e-9)
    # a band's boundary is off by at most ~half a sub-pixel: strip area / band area ~ 1 %
    np.testing.assert_allclose(t["S_band"], ref_s[1:], rtol=0.02)
    np.testing.assert_allclose(t["C_band"], ref_c[1:], rtol=0.02)
    k_ref = 100 * (ref_c[0] / ref_s[0]) / (np.cumsum(ref_c)[1:] / np.cumsum(ref_s)[1:])
    np.testing.assert_allclose(t["K_l"], k_ref, rtol=0.005)


# ------------------------------------------------------------------ years, laziness, chunks
def test_per_year_table_is_each_year_alone():
    rng = np.random.default_rng(5)
    cube = rng.uniform(0, 60, (3, 40, 40))
    cube[1, 3, 3] = np.nan
    c = grid(cube, 30.0)
    mask = xr.zeros_like(c, dtype=bool)
    mask[0, 15:20, 15:22] = True
    mask[1, 14:22, 15:24] = True  # the pit grows
    mask[2, 12:24, 14:26] = True
    t = contribution_ratio(c, mask, width=60, n=3)
    assert t["time"].tolist() == [2007] * 3 + [2008] * 3 + [2009] * 3
    for k, year in enumerate((2007, 2008, 2009)):
        alone = contribution_ratio(c.isel(time=k), mask.isel(time=k), width=60, n=3)
        got = t[t["time"] == year].reset_index(drop=True)
        for col in ("C_mine", "S_mine", "C_band", "S_band", "C_within", "S_within", "K_l"):
            np.testing.assert_allclose(got[col], alone[col], rtol=1e-12)
    # cumulative sums are the running sums of the bands
    for _, g in t.groupby("time"):
        np.testing.assert_allclose(g["C_within"], g["C_mine"].iloc[0] + g["C_band"].cumsum(), rtol=1e-12)
        np.testing.assert_allclose(g["S_within"], g["S_mine"].iloc[0] + g["S_band"].cumsum(), rtol=1e-12)
    # a static polygon on a 3-D cube: one row per year x band
    poly = gpd.GeoDataFrame(geometry=[shapely.box(450, 600, 660, 750)], crs=CRS)
    tp = contribution_ratio(c, poly, width=60, n=2)
    assert len(tp) == 6 and tp["time"].tolist() == [2007, 2007, 2008, 2008, 2009, 2009]
    # the nodata pixel of 2008 is neither carbon nor area
    assert tp.loc[tp["time"] == 2008, "S_within"].iloc[-1] <= tp.loc[tp["time"] == 2007, "S_within"].iloc[-1]


def test_lazy_and_chunking_invariant():
    rng = np.random.default_rng(8)
    c = grid(rng.uniform(0, 60, (2, 48, 48)), 30.0)
    mine = gpd.GeoDataFrame(geometry=[shapely.box(500, 500, 900, 800)], crs=CRS)
    ref = contribution_ratio(c, mine, width=90, n=3)
    lazy = c.chunk({"time": 1, "y": 16, "x": 20})
    with raise_if_dask_computes():
        delayed = contribution_ratio(lazy, mine, width=90, n=3, compute=False)
    got = delayed.compute()
    cols = ["C_mine", "S_mine", "C_band", "S_band", "K_l"]
    np.testing.assert_allclose(got[cols].to_numpy(), ref[cols].to_numpy(), rtol=1e-12)


def test_empty_mask_year_gives_nan_rows():
    c = grid(np.ones((2, 20, 20)), 30.0)
    mask = xr.zeros_like(c, dtype=bool)
    mask[1, 5:8, 5:8] = True
    with pytest.warns(RuntimeWarning, match="no mining pixel"):
        t = contribution_ratio(c, mask, width=60, n=2)
    assert t.loc[t["time"] == 2007, "K_l"].isna().all()
    np.testing.assert_allclose(t.loc[t["time"] == 2008, "K_l"], 100.0)


# ------------------------------------------------------------------ bad input
def test_bad_input_raises_clear_errors():
    c = grid(np.ones((10, 10)), 30.0)
    mine = gpd.GeoDataFrame(geometry=[shapely.box(60, 60, 120, 120)], crs=CRS)
    with pytest.raises(ValueError, match="t/ha"):
        contribution_ratio(grid(np.ones((10, 10)), 30.0, units="t"), mine)
    with pytest.raises(TypeError, match="boolean mask"):
        contribution_ratio(c, xr.zeros_like(c, dtype=np.int8))
    with pytest.raises(TypeError, match="GeoDataFrame"):
        contribution_ratio(c, [shapely.box(0, 0, 1, 1)])
    with pytest.raises(ValueError, match="no CRS"):
        contribution_ratio(c, gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]))
    with pytest.raises(ValueError, match="width must be positive"):
        contribution_ratio(c, mine, width=0)
    with pytest.raises(TypeError, match="n must be an integer"):
        contribution_ratio(c, mine, n=2.5)
    with pytest.raises(ValueError, match="geographic"):
        contribution_ratio(c.rio.write_crs("EPSG:4326"), mine)
    with pytest.raises(ValueError, match="same grid"):
        contribution_ratio(c, xr.zeros_like(c, dtype=bool).isel(x=slice(0, 5)))
    with pytest.raises(ValueError, match="leading dimension"):
        contribution_ratio(c, xr.zeros_like(c, dtype=bool).expand_dims(time=2))
    with pytest.raises(ValueError, match="Polygon"):
        contribution_ratio(c, gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=CRS))
    with pytest.raises(TypeError, match="DataArray"):
        contribution_ratio(np.ones((10, 10)), mine)


def test_study_value_is_documented():
    # study 004 reports K_l(0-1 km, 2007) = 46.67 % (no input data to reproduce it)
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "window-choice.md").read_text()
    assert "46.67" in doc
