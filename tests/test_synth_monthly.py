"""Monthly years: one more scene in every month outside June-September, with winter snow
and cloudy months, flagged as Collection 2 flags them; the June-September scenes (and so
the annual composites) stay exactly as without them; monthly truth NPP adds up."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

import cubeeco
from cubeeco.io.cube import open_cube
from cubeeco.synth import Landscape, SynthConfig, synthesize
from cubeeco.synth.landsat import (
    _GREEN_SEASON_MAX,
    CLEAR,
    PHENOLOGY_DORMANT,
    SNOW,
    SNOW_CONF,
    _green_season,
    qa_values,
    scene_layers,
    schedule,
    snow_share,
)

PLAIN = SynthConfig(width_px=40, height_px=36, years=(2012, 2013), n_mines=1, n_stations=1, modis=False,
                    off_season_scenes=1)
MONTHLY = dataclasses.replace(PLAIN, monthly_years=(2012, 2013))


@pytest.fixture(scope="module")
def landscape():
    return Landscape(MONTHLY)


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("monthly")
    return synthesize(PLAIN, root / "plain", progress=False), synthesize(MONTHLY, root / "monthly", progress=False)


def test_monthly_scenes_come_after_the_others_and_change_none(landscape):
    plain, monthly = schedule(Landscape(PLAIN)), schedule(landscape)
    assert monthly[:len(plain)] == plain
    extra = monthly[len(plain):]
    assert all(s.monthly and s.off_season for s in extra)
    for year in MONTHLY.monthly_years:
        months = sorted(s.date.month for s in extra if s.year == year)
        assert months == [1, 2, 3, 4, 5, 10, 11, 12]
        assert any(s.cloudy for s in extra if s.year == year)
        dates = [s.date for s in monthly if s.year == year]
        assert len(set(dates)) == len(dates)                 # item ids stay unique
    # a June-September scene is the same array whether or not the year is monthly
    for s in plain[:4]:
        a, b = scene_layers(Landscape(PLAIN), s), scene_layers(landscape, s)
        np.testing.assert_array_equal(a.qa, b.qa)
        np.testing.assert_array_equal(a.reflectance, b.reflectance)


def test_winter_scenes_carry_flagged_snow(landscape):
    seen = {"winter": 0, "summer": 0}
    for s in schedule(landscape):
        layers = scene_layers(landscape, s)
        qa, refl = layers.qa, layers.reflectance
        snow = ((qa >> SNOW) & 1) == 1
        if s.date.month in (12, 1, 2):
            seen["winter"] += 1
            assert snow_share(landscape, s) > 0.1 and snow.mean() > 0.02, s   # less where clouds, SLC-off
        if 4 <= s.date.month <= 10:
            seen["summer"] += 1
            assert not snow.any(), s
        if not snow.any():
            continue
        # as USGS flags it: snow bit, high snow confidence, "clear" (not cloud) still set
        v = qa_values(s.sensor)["snow"]
        assert set(np.unique(qa[snow]).tolist()) == {v}
        assert v in (30048, 13664)
        assert ((qa[snow] >> SNOW_CONF) & 3 == 3).all() and ((qa[snow] >> CLEAR) & 1 == 1).all()
        ndvi = (refl[3] - refl[2]) / (refl[3] + refl[2])
        ndsi = (refl[1] - refl[4]) / (refl[1] + refl[4])
        assert np.nanmax(ndvi[snow]) < 0.1 and np.nanmin(ndsi[snow]) > 0.6
        assert np.nanmin(refl[:3, snow]) > 0.4
        assert 0 <= layers.cloud_cover <= 100
    assert seen["winter"] >= 4 and seen["summer"] >= 4


def test_reflectance_through_the_year_follows_the_phenology(landscape):
    veg = (landscape.lulc_base != 5) & (landscape.mine_id == 0)
    by_month = {}
    for s in schedule(landscape):
        if s.year != 2013:
            continue
        layers = scene_layers(landscape, s)
        clear = (layers.qa & 0b111111) == 0
        r = layers.reflectance
        ndvi = (r[3] - r[2]) / (r[3] + r[2])
        by_month.setdefault(s.date.month, []).append(np.nanmean(ndvi[clear & veg]))
    means = {m: np.mean(v) for m, v in by_month.items()}
    assert means[8] > means[5] > means[3] and means[8] > means[10]


def test_cube_masks_snow_and_the_annual_composite_is_unchanged(bases):
    from cubeeco.workflows.annual import build_annual_cube

    plain, monthly = bases
    items = cubeeco.search("landsat-c2-l2", source=monthly.root)
    assert len(items) == len(cubeeco.search("landsat-c2-l2", source=plain.root)) + 16
    cube = open_cube(items, grid=MONTHLY.grid).compute()
    for t, it in enumerate(items):
        with rasterio.open(it.assets["qa_pixel"].href) as src:
            qa = src.read(1)
        snow = ((qa >> SNOW) & 1) == 1
        assert not cube.clear.values[t][snow].any()
        assert np.isnan(cube.red.values[t][snow]).all()
    # some month has no clear observation at some pixel (clouds, SLC-off, snow)
    months = cube.time.dt.month.values
    assert any((~cube.clear.values[months == m].any(0)).any() for m in (1, 2, 12, 11))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, _ = build_annual_cube(source=plain.root, chunksize=64)
        b, _ = build_annual_cube(source=monthly.root, chunksize=64)
        a, b = a.compute(), b.compute()
    for name in ("red", "nir08", "swir16"):
        np.testing.assert_array_equal(a[name].values, b[name].values)


def _reference_weights(landscape, year):
    days = pd.date_range(f"{year}-01-01", f"{year}-12-31", freq="D")
    doy = days.dayofyear.values.astype(float)
    pheno = PHENOLOGY_DORMANT + (1 - PHENOLOGY_DORMANT) * _green_season(doy) / _GREEN_SEASON_MAX
    w = pd.Series(pheno, index=days.month).groupby(level=0).mean().values
    mid = pd.to_datetime([f"{year}-{m:02d}-15" for m in range(1, 13)]).dayofyear.values
    warm = np.array([landscape.air_temperature(year, float(d)) > 0 for d in mid])
    return w * warm / (w * warm).sum()


def test_monthly_npp_truth(bases, landscape):
    _, monthly = bases
    truth = xr.open_zarr(monthly.root / "truth" / "truth.zarr").load()
    m = truth.npp_monthly_true
    assert m.dims == ("month", "y", "x") and m.attrs["units"] == "g C m-2 month-1"
    assert m.sizes["month"] == 24
    for year in MONTHLY.monthly_years:
        sel = m.sel(month=str(year))
        np.testing.assert_allclose(sel.sum("month").values, truth.npp_true.sel(time=str(year)).values[0],
                                   rtol=1e-5, atol=1e-3)
        w = _reference_weights(landscape, year)
        np.testing.assert_allclose(landscape.month_weights(year), w, rtol=1e-12)
        assert w[0] == 0 and w[11] == 0 and w[7] == w.max()          # frozen January, August peak
        np.testing.assert_allclose(sel.values, truth.npp_true.sel(time=str(year)).values[0][None]
                                   * w[:, None, None], rtol=1e-5, atol=1e-4)
    # no monthly years, no monthly truth
    plain, _ = bases
    assert "npp_monthly_true" not in xr.open_zarr(plain.root / "truth" / "truth.zarr")


def test_monthly_base_is_deterministic(tmp_path, bases):
    _, monthly = bases
    again = synthesize(MONTHLY, tmp_path / "again", progress=False)
    a = xr.open_zarr(monthly.root / "truth" / "truth.zarr").load()
    b = xr.open_zarr(again.root / "truth" / "truth.zarr").load()
    xr.testing.assert_identical(a, b)
    for x, y in zip(cubeeco.search("landsat-c2-l2", source=monthly.root),
                    cubeeco.search("landsat-c2-l2", source=again.root)):
        with rasterio.open(x.assets["qa_pixel"].href) as s1, rasterio.open(y.assets["qa_pixel"].href) as s2:
            np.testing.assert_array_equal(s1.read(1), s2.read(1))
