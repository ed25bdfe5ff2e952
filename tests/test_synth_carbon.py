"""The planted mines advance strip by strip over vegetated steppe, and the carbon truth
(NPP / VCS with and without mining, VCSD per mine) adds up."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cubeeco.synth import Landscape, SynthConfig
from cubeeco.synth.landscape import CROPLAND, FOREST, GRASSLAND, SHRUB

# 16 years, 3 mines: strips, staged restoration and never-restored mines in one small field
LONG = SynthConfig(width_px=140, height_px=120, years=(2000, 2015), n_mines=3, n_stations=1, seed=3,
                   modis=False)


@pytest.fixture(scope="module")
def long_landscape():
    return Landscape(LONG)


@pytest.fixture(scope="module")
def landscapes(tiny_landscape, long_landscape):
    # a larger span of placements: the demo-sized mines (length 1-3.2 km) on a 12.6 km field
    wide = Landscape(SynthConfig(width_px=420, height_px=420, years=(2000, 2012), n_mines=5, seed=11,
                                 modis=False))
    return [tiny_landscape, long_landscape, wide]


def test_every_destroyed_pixel_was_vegetated_and_turns_bare(landscapes):
    for ls in landscapes:
        dy = ls.destruction_year
        years = ls.config.year_list
        assert (dy > 0).sum() > 100
        assert set(np.unique(ls.lulc_base[dy > 0])) <= {CROPLAND, FOREST, SHRUB, GRASSLAND}
        for d in np.unique(dy[dy > 0]):
            d = int(d)
            assert years[0] < d <= years[-1] - 1          # a year before, two bare years after
            sel = dy == d
            assert ls.ndvi(d - 1)[sel].min() >= 0.25
            assert ls.ndvi(d)[sel].max() < 0.2
        np.testing.assert_array_equal(ls.target(), (dy > 0).astype(np.uint8))
        assert ((ls.mine_id > 0) == (dy > 0)).all()


def test_pits_advance_away_from_the_dump_and_dumps_restore_in_stages(landscapes):
    n_restored = 0
    for ls in landscapes:
        rows, cols = np.nonzero(ls.mine_id)
        for mine in ls.mines:
            sel = ls.mine_id[rows, cols] == mine.mine_id
            r, c = rows[sel], cols[sel]
            u = mine.along_axis(ls.grid.x[c], ls.grid.y[r])
            dy, ry, zone = ls.destruction_year[r, c], ls.restoration_year[r, c], ls.zone[r, c]
            years = np.unique(dy)
            # successive years from the first, several of them
            assert years[0] == mine.open_year and np.array_equal(years, np.arange(years[0], years[-1] + 1))
            assert len(years) >= 2 and years[-1] == mine.last_open_year
            for z, away in ((1, mine.split - u), (2, u - mine.split)):
                k = zone == z
                assert k.any()
                order = np.argsort(away[k], kind="stable")
                assert (np.diff(dy[k][order].astype(int)) >= 0).all()     # farther from the split: later
            pit = zone == 1
            assert (ry[pit] == 0).all()                                   # pits stay open
            restored = (zone == 2) & (ry > 0)
            if mine.restoration_year is None:
                assert not restored.any()
                continue
            n_restored += 1
            lag = np.unique(ry[restored] - dy[restored])
            assert lag.size == 1 and 4 <= lag[0] <= 8                      # 4-8 years after dumping
            assert ry[restored].min() == mine.restoration_year
            assert np.unique(ry[restored]).size >= 2                       # in stages
            assert ry[restored].max() <= ls.config.years[1] - 1
    assert n_restored >= 1


def test_stage_polygons_match_the_rasterized_years(long_landscape):
    from rasterio.features import rasterize

    ls = long_landscape
    for mine in ls.mines:
        burnt = rasterize([(mine.strip_polygon(s), s.year) for s in mine.strips], out_shape=ls.grid.shape,
                          transform=ls.grid.transform, dtype="int16")
        inside = ls.mine_id == mine.mine_id
        agree = (burnt[inside] == ls.destruction_year[inside]).mean()
        assert agree > 0.97        # only pixel centres on a shared strip edge may differ
        assert mine.footprint.area == pytest.approx(sum(mine.strip_polygon(s).area for s in mine.strips))


def _reference_vcsd(truth: xr.Dataset) -> dict[int, float]:
    """Plain numpy from the stored truth: -sum (VCS - VCS undisturbed) x 900 m2 / 1e9 over
    each pixel's years from destruction on."""
    years = truth.time.dt.year.values[:, None, None]
    dy = truth.destruction_year.values[None]
    on = (dy > 0) & (years >= dy)
    diff = truth.vcs_true.values.astype(np.float64) - truth.vcs_undisturbed_true.values
    ids = truth.mine_id.values
    return {int(m): float(-np.where(on, diff, 0).sum(0)[ids == m].sum() * 900 / 1e9)
            for m in np.unique(ids[ids > 0])}


def test_carbon_truth_in_the_store(tiny_base, tiny_landscape):
    truth = xr.open_zarr(tiny_base.root / "truth" / "truth.zarr").load()
    for name, var in truth.data_vars.items():
        assert "units" in var.attrs and "long_name" in var.attrs, name
    assert truth.vcs_true.attrs["units"] == "g CO2 m-2 yr-1"
    assert truth.npp_undisturbed_true.attrs["units"] == "g C m-2 yr-1"
    npp, und = truth.npp_true.values, truth.npp_undisturbed_true.values
    np.testing.assert_allclose(truth.vcs_true.values, npp * 2.2 * 1.63, rtol=1e-6)
    np.testing.assert_allclose(truth.vcs_undisturbed_true.values, und * 2.2 * 1.63, rtol=1e-6)
    years = truth.time.dt.year.values[:, None, None]
    dy = truth.destruction_year.values[None]
    mined = (dy > 0) & (years >= dy)
    np.testing.assert_array_equal(npp[~np.broadcast_to(mined, npp.shape)],
                                  und[~np.broadcast_to(mined, und.shape)])
    assert (und - npp)[np.broadcast_to(mined, npp.shape)].min() > 50     # steppe NPP lost on bare ground
    for k, y in enumerate(tiny_landscape.config.year_list):
        np.testing.assert_array_equal(npp[k], tiny_landscape.npp(y))
    np.testing.assert_array_equal(truth.target.values, (truth.destruction_year.values > 0).astype(np.uint8))


def test_vcsd_per_mine_table(tiny_base):
    truth = xr.open_zarr(tiny_base.root / "truth" / "truth.zarr").load()
    table = pd.read_csv(tiny_base.root / "truth" / "vcsd_per_mine.csv")
    meta = json.loads((tiny_base.root / "truth" / "vcsd_per_mine.json").read_text())
    assert meta["units"]["vcsd_gg_co2"] == "Gg CO2"
    mines = json.loads((tiny_base.root / "vectors" / "mines.geojson").read_text())["features"]
    assert table["mine_id"].tolist() == [f["properties"]["mine_id"] for f in mines]
    assert table["name"].tolist() == [f["properties"]["name"] for f in mines]
    want = _reference_vcsd(truth)
    for row in table.itertuples():
        assert row.vcsd_gg_co2 == pytest.approx(want[row.mine_id], rel=1e-9)
        assert row.vcsd_gg_co2 > 0          # unrestored mines lose their sink
        assert row.destroyed_km2 == pytest.approx(row.area_km2)


def test_restoration_gives_part_of_the_sink_back(long_landscape):
    from cubeeco.synth.products import vcsd_per_mine

    ls = long_landscape
    table = vcsd_per_mine(ls).set_index("mine_id")
    for mine in ls.mines:
        inside = ls.mine_id == mine.mine_id
        y = ls.config.years[1]
        gap = ls.npp(y, undisturbed=True)[inside] - ls.npp(y)[inside]
        restored = ls.restoration_year[inside] > 0
        if restored.any():     # regrown dumps (cover ~0.33) beat the steppe they replaced
            assert gap[restored].mean() < gap[~restored].mean()
        assert table.loc[mine.mine_id, "vcsd_gg_co2"] > 0
        assert table.loc[mine.mine_id, "restored_km2"] == pytest.approx(restored.sum() * 900 / 1e6)


def test_mines_can_open_in_one_year():
    ls = Landscape(SynthConfig(**{**LONG.__dict__, "mine_advance_years": (1, 1)}))
    for mine in ls.mines:
        inside = ls.mine_id == mine.mine_id
        assert set(np.unique(ls.destruction_year[inside])) == {mine.open_year}
        restored = np.unique(ls.restoration_year[inside & (ls.zone == 2)])
        assert set(restored) == ({mine.restoration_year} if mine.restoration_year else {0})
    assert Landscape(LONG).mines[0].footprint.equals(ls.mines[0].footprint)
    for bad in [(0, 2), (3, 2), (1.5, 2), 3, (1, 2, 3)]:
        with pytest.raises(ValueError, match="mine_advance_years"):
            SynthConfig(mine_advance_years=bad)
    cfg = SynthConfig(mine_advance_years=[2, 4])
    assert SynthConfig.from_dict(cfg.to_dict()) == cfg


def test_bad_monthly_years_are_rejected():
    with pytest.raises(ValueError, match="within years"):
        SynthConfig(years=(2010, 2012), monthly_years=(2013,))
    with pytest.raises(ValueError, match="distinct"):
        SynthConfig(years=(2010, 2012), monthly_years=(2011, 2011))
    with pytest.raises(ValueError, match="whole years"):
        SynthConfig(years=(2010, 2012), monthly_years=2011)
    with pytest.raises(ValueError, match="whole years"):
        SynthConfig(years=(2010, 2012), monthly_years=(2011.5,))
    assert SynthConfig(years=(2010, 2012), monthly_years=[2012, 2010]).monthly_years == (2010, 2012)
