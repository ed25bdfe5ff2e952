"""The carbon-storage workflow of study 004: the mining LULC recode and the stock tables,
against plain-numpy references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cubeeco.ops.invest import example_pools
from cubeeco.workflows.carbon_storage import (
    CLCD_TO_STUDY004,
    MINING_LAND,
    RECLAIMED_DUMP,
    mining_land_cover,
    storage_tables,
)


def cube(a, chunks=None):
    t = np.array([f"{2000 + k}-01-01" for k in range(a.shape[0])], dtype="datetime64[ns]")
    da = xr.DataArray(a, dims=("time", "y", "x"),
                      coords={"time": t, "y": 4.4e6 - 30.0 * (np.arange(a.shape[1]) + 0.5),
                              "x": 5e5 + 30.0 * (np.arange(a.shape[2]) + 0.5)})
    return da.chunk(chunks) if chunks else da


def recode_reference(lc, state):
    lut = np.zeros(256, np.uint8)
    for k, v in CLCD_TO_STUDY004.items():
        lut[k] = v
    out = lut[lc]
    ever = np.zeros(lc.shape[1:], bool)
    for t in range(lc.shape[0]):
        ever |= state[t] == 0
        o = out[t]
        valid = o > 0
        o[valid & (state[t] == 0)] = MINING_LAND
        o[valid & ever & (state[t] == 1)] = RECLAIMED_DUMP
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("chunks", [None, {"time": 2, "y": 5, "x": 7}])
def test_mining_land_cover_equals_numpy(seed, chunks):
    rng = np.random.default_rng(seed)
    lc = rng.integers(0, 10, (6, 13, 17)).astype(np.uint8)
    state = rng.choice([-1, 0, 1, 1, 1, 2], size=lc.shape).astype(np.int8)
    got = mining_land_cover(cube(lc, chunks), cube(state, chunks))
    assert got.dtype == np.uint8 and got.attrs["nodata"] == 0
    np.testing.assert_array_equal(got.values, recode_reference(lc, state))
    # without the state: the mapping only; nodata (0) and unmapped codes stay 0
    plain = mining_land_cover(cube(lc, chunks)).values
    np.testing.assert_array_equal(plain[lc == 0], 0)
    assert set(np.unique(plain)) <= {0, *CLCD_TO_STUDY004.values()}


def test_mining_land_cover_bad_input():
    lc = cube(np.ones((3, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="state has sizes"):
        mining_land_cover(lc, cube(np.ones((2, 4, 5), np.int8)))
    with pytest.raises(ValueError, match="codes 1..255"):
        mining_land_cover(lc, mapping={1: 0})


def test_storage_tables_equal_numpy():
    rng = np.random.default_rng(7)
    codes = example_pools()["lucode"].to_numpy()
    lulc = rng.choice(np.append(codes, 0), size=(4, 20, 24)).astype(np.uint8)
    zones = np.full((20, 24), -1, np.int32)
    zones[2:8, 3:11], zones[12:18, 10:20] = 1, 2
    pools = example_pools()
    dens = dict(zip(pools["lucode"], pools[["c_above", "c_below", "c_soil", "c_dead"]].sum(axis=1)))
    per_px = np.vectorize(lambda c: dens.get(c, 0.0))(lulc) * 0.09    # t/ha x 0.09 ha per 30 m pixel
    za = xr.DataArray(zones, dims=("y", "x"))
    tables = storage_tables(cube(lulc, {"time": 1, "y": 7, "x": 9}), pools, zones=za, zone_ids=[1, 2],
                            transition_years=[2000, 2002, 2003], draws=200)
    total = tables["carbon_stock_total"]
    np.testing.assert_allclose(total["stock_t"], per_px.sum(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(total["area_ha"], (lulc > 0).sum(axis=(1, 2)) * 0.09, rtol=1e-12)
    fg = np.isin(lulc, (7, 8)).sum(axis=(1, 2)) * 0.09
    np.testing.assert_allclose(total["forest_grass_ha"], fg, rtol=1e-12)
    lo, mid, hi = (total[c].to_numpy() for c in ("stock_p2_5_t", "stock_p50_t", "stock_p97_5_t"))
    assert (lo < total["stock_t"]).all() and (total["stock_t"] < hi).all() and (lo < mid).all()
    stock = tables["carbon_stock"]
    one = stock[(stock["year"] == 2001) & (stock["lucode"] == 7)]
    np.testing.assert_allclose(one["stock_t"], per_px[1][lulc[1] == 7].sum(), rtol=1e-12)
    assert one["class"].item() == "grassland"
    mines = tables["carbon_stock_mines"]
    for z in (1, 2):
        got = mines[mines["zone"] == z].sort_values("year")["stock_t"].to_numpy()
        np.testing.assert_allclose(got, per_px[:, zones == z].sum(axis=1), rtol=1e-12)
    rec = tables["carbon_reconciliation"]
    assert list(rec["period"]) == ["2000-2002", "2002-2003"]
    assert np.abs(rec["residual_t"]).max() < 1e-6
    np.testing.assert_allclose(rec["net_change_t"], [per_px[2].sum() - per_px[0].sum(),
                                                     per_px[3].sum() - per_px[2].sum()], rtol=1e-10)
    tr = tables["carbon_transitions"]
    for period, grp in tr.groupby("period"):
        np.testing.assert_allclose(grp["change_t"].sum(), rec.set_index("period").loc[period, "net_change_t"],
                                   rtol=1e-10)
    assert tr["area_ha"].gt(0).all() and {"from_name", "to_name"} <= set(tr.columns)
    assert total.attrs["units"]["stock_t"] == "t" and tr.attrs["units"]["change_t"] == "t"


def test_storage_tables_without_uncertainty():
    lulc = cube(np.full((2, 4, 4), 7, np.uint8))
    total = storage_tables(lulc, example_pools(), pool_cv=None)["carbon_stock_total"]
    assert not [c for c in total.columns if c.startswith("stock_p")]
    assert isinstance(total, pd.DataFrame) and len(total) == 2


def test_a_pools_file_edited_in_place_changes_the_stage_fingerprint(tmp_path):
    """The stage reads the CSV the parameter names: its content, not only its name, decides reuse."""
    import yaml

    from cubeeco.io.grid import Grid
    from cubeeco.pipeline.config import load_config
    from cubeeco.pipeline.run import _fingerprint

    pools = tmp_path / "pools.csv"
    example_pools().to_csv(pools, index=False)
    (tmp_path / "mines.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    cfg = {"zones": {"mines": "mines.geojson"}, "name": "p", "store": "run.zarr", "steps": ["carbon_storage"], "source": str(tmp_path),
           "grid": {"epsg": 32649, "resolution": 30.0, "bounds": [399990.0, 4347600.0, 402870.0, 4350000.0]},
           "params": {"carbon_storage": {"pools": "pools.csv"}}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    config = load_config(tmp_path / "run.yaml")
    grid = Grid.snapped(32649, 30.0, cfg["grid"]["bounds"])

    def fp():
        return _fingerprint(config, "carbon_storage", {"mining_lulc": "x"}, grid)

    first = fp()
    assert fp() == first
    edited = example_pools()
    edited.loc[0, "c_soil"] += 1.0
    edited.to_csv(pools, index=False)
    assert fp() != first
    # a stage without file parameters keeps its fingerprint as before (no "files" key)
    assert _fingerprint(config, "landscape", {"mining_lulc": "x"}, grid) == _fingerprint(
        config, "landscape", {"mining_lulc": "x"}, grid)


def test_a_missing_pools_file_is_refused_before_anything_runs(tmp_path):
    import yaml

    from cubeeco.pipeline.config import ConfigError, load_config

    (tmp_path / "mines.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    cfg = {"name": "p", "store": "run.zarr", "steps": ["carbon_storage"], "source": str(tmp_path),
           "zones": {"mines": "mines.geojson"},
           "grid": {"epsg": 32649, "resolution": 30.0, "bounds": [399990.0, 4347600.0, 402870.0, 4350000.0]},
           "params": {"carbon_storage": {"pools": "no-such-pools.csv"}}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"params\.carbon_storage\.pools.*no-such-pools\.csv"):
        load_config(tmp_path / "run.yaml")
