"""The synthetic climate keeps the studies' annual climatology whatever the run length and preset.

Targets (cubeeco/synth/climate.py, docs/synthetic.md): annual precipitation 260-450 mm (seeds
000, 001, 002, 004 §2.1), mean annual temperature 4.8-8.5 degC (same), annual global
radiation in China's solar zone II, 5,852-6,680 MJ m-2; green cover dormant in winter and
peaking in August.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from cubeeco.synth import Landscape, preset
from cubeeco.synth.climate import RegionalClimate, climate_dataset
from cubeeco.synth.landsat import phenology, scene_layers, schedule

P_RANGE = (260.0, 450.0)  # mm yr-1
T_RANGE = (4.8, 8.5)  # degC, annual mean
JANUARY, JULY = (-13.0, -7.0), (19.0, 25.0)
S_RANGE = (5852.0, 6680.0)  # MJ m-2 yr-1

RUNS = {
    "1 year": (2013, 2013),
    "3 years": (2012, 2014),
    "6 years": (2009, 2014),
    "25 years": (2000, 2024),
}


def _climate(preset_name: str, years: tuple[int, int]) -> xr.Dataset:
    cfg = preset(preset_name, years=years)
    if preset_name == "shendong":
        # the whole Shendong extent (20 M pixels at 30 m): its climate without the 30 m fields
        return climate_dataset(RegionalClimate(cfg))
    return climate_dataset(Landscape(cfg))


def _annual(ds: xr.Dataset) -> xr.Dataset:
    """Per-year area means: total precipitation and radiation, mean temperature."""
    area = ds.mean(("lat", "lon"))
    by_year = area.groupby("time.year")
    return xr.Dataset(
        {"prcp": by_year.sum().prcp, "srad": by_year.sum().srad, "tmean": by_year.mean().tmean}
    )


@pytest.mark.parametrize("preset_name", ["tiny", "demo", "shendong"])
@pytest.mark.parametrize("run", list(RUNS))
def test_annual_climatology_in_the_studies_range(preset_name, run):
    ds = _climate(preset_name, RUNS[run])
    annual = _annual(ds)
    assert annual.sizes["year"] == RUNS[run][1] - RUNS[run][0] + 1
    for var, (lo, hi) in (("prcp", P_RANGE), ("tmean", T_RANGE), ("srad", S_RANGE)):
        values = annual[var].values
        assert ((values >= lo) & (values <= hi)).all(), (var, values)
    area = ds.mean(("lat", "lon"))
    jan = area.tmean.where(area.time.dt.month == 1, drop=True).values
    jul = area.tmean.where(area.time.dt.month == 7, drop=True).values
    assert ((jan >= JANUARY[0]) & (jan <= JANUARY[1])).all(), jan
    assert ((jul >= JULY[0]) & (jul <= JULY[1])).all(), jul
    # seed 000 §2.1: precipitation "predominantly concentrated in the summer months from July
    # to September"
    summer = area.prcp.where(area.time.dt.month.isin([7, 8, 9])).groupby("time.year").sum()
    assert (summer / annual.prcp > 0.55).all()
    # a dormant, dry, dark winter
    dec = area.where(area.time.dt.month == 12, drop=True)
    assert (dec.prcp < 10).all() and (dec.srad < 400).all() and (dec.tmean < -3).all()


def test_a_years_climate_does_not_depend_on_run_length_or_extent():
    short = Landscape(preset("tiny", years=(2013, 2013)))
    long = Landscape(preset("tiny", years=(2000, 2024)))
    other_extent = RegionalClimate(preset("tiny", years=(2013, 2020), width_px=300, height_px=200))
    for source in (long, other_extent):
        assert source.annual_precipitation(2013) == short.annual_precipitation(2013)
        assert source.air_temperature(2013, 200.0) == short.air_temperature(2013, 200.0)
    assert short.precip_anomaly[2013] == long.precip_anomaly[2013]


def test_shendong_cut_down_landscape_has_the_shendong_climate():
    cfg = preset("shendong")
    cut = Landscape(preset("shendong", width_px=64, height_px=64, n_mines=2))
    regional = RegionalClimate(cfg)
    for year in cfg.year_list:
        assert cut.annual_precipitation(year) == regional.annual_precipitation(year)
        assert cut.air_temperature(year, 15.0) == regional.air_temperature(year, 15.0)
    annual = _annual(climate_dataset(cut))
    assert annual.prcp.min() >= P_RANGE[0] and annual.prcp.max() <= P_RANGE[1]


def test_warming_trend_and_interannual_variability():
    ds = _climate("demo", (2000, 2024))
    annual = _annual(ds)
    years = annual.year.values
    slope = np.polyfit(years, annual.tmean.values, 1)[0]
    assert 0.0 < slope < 0.08  # warming_per_year = 0.03 degC yr-1
    assert annual.prcp.std() > 20  # dry and wet years, not one number
    assert np.ptp(annual.tmean.values) > 0.5


def test_written_climate_store_matches(tiny_base):
    ds = xr.open_zarr(tiny_base.root / "climate" / "monthly.zarr").load()
    annual = _annual(ds)
    assert ((annual.prcp >= P_RANGE[0]) & (annual.prcp <= P_RANGE[1])).all()
    assert ((annual.tmean >= T_RANGE[0]) & (annual.tmean <= T_RANGE[1])).all()
    assert ((annual.srad >= S_RANGE[0]) & (annual.srad <= S_RANGE[1])).all()


def test_phenology_is_dormant_in_winter_and_peaks_in_august():
    doys = np.arange(1, 366)
    share = np.array([phenology(d) for d in doys])
    assert share.max() == pytest.approx(1.0, abs=1e-3)
    assert 213 <= doys[share.argmax()] <= 243  # August
    assert share[:60].max() < 0.15 and share[335:].max() < 0.15  # January-February, December
    assert phenology(105) < 0.3 and phenology(290) < 0.5  # mid-April, mid-October: well below peak
    # the June-September compositing window sees most of the peak, mid-season nearly all of it
    assert phenology(166) > 0.45 and min(phenology(d) for d in range(195, 245)) > 0.9


def test_off_season_scenes_are_browner(tiny_landscape):
    scenes = schedule(tiny_landscape)
    vegetated = tiny_landscape.cover(tiny_landscape.config.years[0]) > 0.3

    def mean_ndvi(scene):
        r = scene_layers(tiny_landscape, scene).reflectance
        ndvi = (r[3] - r[2]) / (r[3] + r[2])
        return float(np.nanmean(ndvi[vegetated]))

    for year in tiny_landscape.config.year_list[:2]:
        season = [s for s in scenes if s.year == year and not s.off_season and not s.cloudy]
        off = [s for s in scenes if s.year == year and s.off_season]
        assert off and season
        assert max(mean_ndvi(s) for s in off) < min(mean_ndvi(s) for s in season) - 0.1
