"""The Pingshuo tables (study 001) against plain numpy / pandas on a small random grid."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (the .rio accessor)
import shapely
import xarray as xr

from cubeeco.workflows.npp_tables import CHANGE_CLASSES, change_class_codes, npp_tables

NY, NX, RES = 60, 70, 30.0
X0, Y0 = 400_000.0, 4_350_000.0
YEARS = [2006, 2010, 2016]


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(1)
    x = X0 + RES * (np.arange(NX) + 0.5)
    y = Y0 - RES * (np.arange(NY) + 0.5)
    time = pd.to_datetime([f"{yr}-01-01" for yr in YEARS])
    coords = {"time": time, "y": y, "x": x}
    npp = rng.uniform(0, 700, (3, NY, NX)).astype("float32")
    npp[:, :3, :3] = np.nan
    npp[1, 10:15, 10:15] = npp[0, 10:15, 10:15]           # exactly no change ("0" class)
    lc = rng.choice([1, 2, 4, 7], (3, NY, NX)).astype("uint8")
    state = rng.choice([0, 1, 1, 1], (3, NY, NX)).astype("int8")
    state[0] = 1
    destruction = np.where((state == 0).any(0), 2008, -1).astype("int32")
    ds = xr.Dataset({"state": (("time", "y", "x"), state), "destruction_year": (("y", "x"), destruction)},
                    coords=coords)
    mine = shapely.box(X0 + 600, Y0 - 1200, X0 + 1200, Y0 - 600)
    mines = gpd.GeoDataFrame({"mine": ["M1"]}, geometry=[mine], crs="EPSG:32649")
    npp_da = xr.DataArray(npp, dims=("time", "y", "x"), coords=coords, attrs={"units": "g C m-2 yr-1"})
    npp_da = npp_da.rio.write_crs("EPSG:32649").chunk({"y": 25, "x": 30})
    lc_da = xr.DataArray(lc, dims=("time", "y", "x"), coords=coords).chunk({"y": 25, "x": 30})
    return npp_da, lc_da, ds.chunk({"y": 25, "x": 30}), mines, (npp, lc, state, destruction)


@pytest.fixture(scope="module")
def tables(inputs):
    npp, lc, dist, mines, _ = inputs
    return npp_tables(npp, lc, dist, mines, coverage="center")


def test_change_classes_are_study_001_table_1_bins():
    d = np.array([-10.5, -10.0, -0.1, 0.0, 0.1, 10.0, 10.1, 30.0, 30.1, np.nan])
    assert change_class_codes(d).tolist() == [0, 1, 1, 2, 3, 3, 4, 4, 5, -1]


def test_change_class_areas_equal_a_numpy_histogram(inputs, tables):
    *_, (npp, _, _, _) = inputs
    t = tables["npp_change_classes"]
    assert list(t.change_class.unique()) == list(CHANGE_CLASSES)
    for k, period in enumerate(["2006-2010", "2010-2016"]):
        d = (npp[k + 1] / 12.0 - npp[k] / 12.0).astype("float32")
        codes = change_class_codes(d[np.isfinite(d)])
        want = np.bincount(codes, minlength=6) * RES * RES / 1e4
        got = t[t.period == period].area_ha.to_numpy()
        np.testing.assert_allclose(got, want)
        assert t[t.period == period].share_pct.sum() == pytest.approx(100.0)
    assert t[(t.period == "2006-2010") & (t.change_class == "0")].area_ha.item() >= 25 * 0.09


def test_land_use_means_equal_a_pandas_groupby(inputs, tables):
    *_, (npp, lc, state, destruction) = inputs
    t = tables["npp_land_use"]
    for k, year in enumerate(YEARS):
        reclaimed = (state[k] == 1) & (destruction > 0) & (destruction < year)
        name = np.where(state[k] == 0, "unreclaimed (destroyed)",
                        np.where(reclaimed, "reclaimed ", "") + pd.Series(lc[k].ravel()).map(
                            {1: "cropland", 2: "forest", 4: "grassland", 7: "barren"}).to_numpy().reshape(NY, NX))
        df = pd.DataFrame({"name": name.ravel(), "npp": npp[k].ravel() / 12.0}).dropna()
        want = df.groupby("name").npp.mean()
        got = t[t.year == year].set_index("land_use").npp_mean
        pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False, check_dtype=False, rtol=1e-5)
    assert t.attrs["units"]["npp_mean"] == "g C m-2 month-1"


def _centre_mask(geom):
    x = X0 + RES * (np.arange(NX) + 0.5)
    y = Y0 - RES * (np.arange(NY) + 0.5)
    xx, yy = np.meshgrid(x, y)
    return shapely.contains_xy(geom, xx, yy)


def test_mine_means_and_rings_equal_centre_masks(inputs, tables):
    *_, mines, (npp, _, _, _) = inputs
    geom = mines.geometry.iloc[0]
    inside = _centre_mask(geom)
    got = tables["npp_mine"].npp_mean.to_numpy()
    np.testing.assert_allclose(got, [np.nanmean(npp[k][inside]) / 12.0 for k in range(3)], rtol=1e-5)
    r = tables["npp_rings"]
    assert sorted(r.ring.unique()) == [1, 2, 3, 4, 5] and r.outer_m.max() == 1000
    ring3 = geom.buffer(600, quad_segs=16).difference(geom.buffer(400, quad_segs=16))
    want = np.nanmean(npp[1][_centre_mask(ring3)]) / 12.0
    assert r[(r.year == 2010) & (r.ring == 3)].npp_mean.item() == pytest.approx(want, rel=1e-5)
    two = r[r.year == 2010].set_index("ring")
    assert two.npp_change_from_inner[3] == pytest.approx(two.npp_mean[3] - two.npp_mean[2])


def test_mining_change_counts_new_destruction_and_reclamation(inputs, tables):
    *_, (npp, _, state, destruction) = inputs
    t = tables["npp_mining_change"]
    new = ((state[1] == 0) & (state[0] == 1)).sum() * 0.09
    assert t.new_mining_ha.iloc[0] == pytest.approx(new)
    rec1 = (state[2] == 1) & (destruction > 0) & (destruction < 2016)
    rec0 = (state[1] == 1) & (destruction > 0) & (destruction < 2010)
    assert t.new_reclaimed_ha.iloc[1] == pytest.approx((rec1 & ~rec0).sum() * 0.09)


def test_missing_years_are_named(inputs):
    npp, lc, dist, mines, _ = inputs
    with pytest.raises(ValueError, match=r"2020"):
        npp_tables(npp, lc, dist, mines, years=[2006, 2020])
