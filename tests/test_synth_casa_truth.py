"""The CASA-like truth of the synthetic coal base (issue 12 item 7): ``npp_casa_true`` is the
CASA model (study 001) run on the true monthly NDVI, the noise-free climate and the true
land cover, with bounds from the true NDVI; checked here against independent hand-made
inputs and bounds at single pixels, and for block invariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import Transformer

from cubeeco.ops.casa import casa_npp
from cubeeco.synth import Landscape, SynthConfig, products
from cubeeco.synth.climate import (
    MONTHLY_SHARE,
    P_PER_DEG_LAT,
    P_PER_DEG_LON,
    S_DAILY_AMPLITUDE,
    S_DAILY_MEAN,
    T_PER_DEG_LAT,
    climate_axes,
    climate_dataset,
    climate_fields,
)
from cubeeco.synth.landscape import MONTH_DAYS, WATER

CFG = SynthConfig(width_px=48, height_px=40, years=(2012, 2014), n_mines=1, n_stations=1, modis=False,
                  monthly_years=(2013, 2014), origin=(399_975.0, 4_350_015.0))


@pytest.fixture(scope="module")
def landscape():
    return Landscape(CFG)


@pytest.fixture(scope="module")
def truth(landscape, tmp_path_factory):
    root = tmp_path_factory.mktemp("casa-truth")
    path = products.write_truth(landscape, root)
    return xr.open_zarr(path).load(), pd.read_csv(root / "truth" / "casa_parameters_true.csv")


def _hand_bounds(landscape):
    """5th / 95th NDVI percentiles per class over every pixel-month of the monthly years,
    barren / impervious full cover from grassland (the casa stage's defaults), by numpy."""
    nd = np.concatenate([landscape.monthly_ndvi(y).reshape(12, -1) for y in CFG.monthly_years], axis=1)
    lc = np.concatenate([np.tile(landscape.land_cover(y).ravel(), (12, 1)) for y in CFG.monthly_years], axis=1)
    out = {}
    for c in np.unique(lc):
        v = nd[lc == c].astype(np.float64)
        out[int(c)] = [np.percentile(v, 5), np.percentile(v, 95)]
    for dst in (7, 8):
        if dst in out and 4 in out and out[4][1] > out[dst][0]:
            out[dst][1] = out[4][1]
    return out


def _hand_inputs(landscape, year, iy, ix):
    """One pixel's true monthly inputs, from the landscape and the climate constants."""
    grid = landscape.grid
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(grid.x[ix], grid.y[iy])
    lon_axis, lat_axis = climate_axes(landscape)
    phen = landscape.month_phenology(year)
    ndvi = []
    for p in phen:
        r = landscape.reflectance(year, float(p))[:, iy, ix].astype(np.float64)
        ndvi.append((r[3] - r[2]) / (r[3] + r[2]))
    start = np.cumsum([0, *MONTH_DAYS(year)])
    doy = start[:12] + 15
    t = np.array([landscape.air_temperature(year, float(d)) for d in doy]) + T_PER_DEG_LAT * (lat - lat_axis.mean())
    p = (landscape.annual_precipitation(year) * MONTHLY_SHARE
         * (1 + P_PER_DEG_LON * (lon - lon_axis.mean()) + P_PER_DEG_LAT * (lat - lat_axis.mean())))
    s = (S_DAILY_MEAN + S_DAILY_AMPLITUDE * np.cos(2 * np.pi * (doy - 172) / 365.25)) * np.array(MONTH_DAYS(year)[:12])
    return np.array(ndvi), t, p, s, int(landscape.land_cover(year)[iy, ix])


def test_variables_units_and_coords(truth):
    ds, _ = truth
    npp = ds["npp_casa_true"]
    assert npp.dims == ("month", "y", "x") and npp.dtype == np.float32
    assert npp.attrs["units"] == "g C m-2 month-1"
    np.testing.assert_array_equal(npp["month"].values, ds["npp_monthly_true"]["month"].values)
    assert list(pd.DatetimeIndex(npp["month"].values).year) == [2013] * 12 + [2014] * 12
    annual = ds["npp_casa_annual_true"]
    assert annual.dims == ("time_casa", "y", "x") and annual.attrs["units"] == "g C m-2 yr-1"
    assert list(annual["time_casa"].dt.year.values) == [2013, 2014]
    summed = npp.values.reshape(2, 12, *npp.shape[1:]).sum(axis=1, dtype=np.float64)
    np.testing.assert_allclose(annual.values, summed, rtol=1e-5, atol=1e-3)


def test_finite_nonnegative_on_land_zero_on_water_and_cold(truth, landscape):
    npp = truth[0]["npp_casa_true"].values.reshape(2, 12, *landscape.grid.shape)
    for k, year in enumerate(CFG.monthly_years):
        water = landscape.land_cover(year) == WATER
        assert water.any() and (~water).any()
        land = npp[k][:, ~water]
        assert np.isfinite(land).all() and (land >= 0).all()
        assert (npp[k][:, water] == 0).all()
        assert land.sum(axis=0).mean() > 50                          # a productive summer
        temp = products.true_casa_inputs(landscape, year)["temperature"].values
        assert (npp[k][temp <= -10] == 0).all()                      # T_eps1 = 0 at <= -10 degC
        start = np.cumsum([0, *MONTH_DAYS(year)])
        cold = [m for m in range(12) if landscape.air_temperature(year, start[m] + 15.0) <= 0]
        warm = [m for m in range(12) if m not in cold]
        assert len(cold) >= 2
        # freezing months: dormant cover, little light use: near 0 next to the summer
        assert npp[k][cold].max() < 0.05 * npp[k][warm].max()
        assert npp[k][cold].mean() < 1.0


def test_bounds_are_the_true_ndvi_percentiles(truth, landscape):
    table = truth[1].set_index("veg_type")
    for c, (lo, hi) in _hand_bounds(landscape).items():
        np.testing.assert_allclose(table.loc[c, ["ndvi_min", "ndvi_max"]].to_numpy(float), [lo, hi], rtol=1e-6)


@pytest.mark.parametrize("year", CFG.monthly_years)
def test_single_pixels_equal_casa_npp_on_hand_made_inputs(truth, landscape, year):
    ds = truth[0]
    bounds = _hand_bounds(landscape)
    table = truth[1].set_index("veg_type")
    months = np.flatnonzero(pd.DatetimeIndex(ds["month"].values).year == year)
    lat = float(np.mean(landscape.grid.lonlat_bounds()[1::2]))
    lc = landscape.land_cover(year)
    picks = [tuple(np.argwhere(lc == c)[0]) for c in np.unique(lc)]          # one pixel of each class
    if (landscape.mine_id > 0).any():
        picks.append(tuple(np.argwhere(landscape.mine_id > 0)[0]))
    for iy, ix in picks:
        ndvi, t, p, s, c = _hand_inputs(landscape, year, iy, ix)
        lo, hi = bounds[c]
        params = {c: {"ndvi_min": lo, "ndvi_max": hi, "sr_min": (1 + lo) / (1 - lo), "sr_max": (1 + hi) / (1 - hi),
                      "eps_max": float(table.loc[c, "eps_max"])}}
        da = [xr.DataArray(v.astype(np.float32), dims="month") for v in (ndvi, t, p, s)]
        want = casa_npp(*da, xr.DataArray(np.int16(c)), params=params, water_stress="zhou_zhang",
                        latitude=lat).values
        got = ds["npp_casa_true"].values[months, iy, ix]
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-3, err_msg=f"pixel {(iy, ix)} class {c}")


def test_climate_fields_are_what_the_grid_is_sampled_from(landscape):
    grid = climate_dataset(landscape)
    lon, lat = np.meshgrid(grid.lon.values, grid.lat.values)
    times = pd.DatetimeIndex(grid.time.values)
    f = climate_fields(landscape, times, lon, lat)
    dt = grid["tmean"].values - f["tmean"]
    assert abs(dt.mean()) < 0.02 and 0.27 < dt.std() < 0.33           # N(0, 0.3) per cell
    ratio = grid["prcp"].values / f["prcp"]
    assert abs(ratio.mean() - 1) < 0.02                                # mean-one lognormal
    np.testing.assert_allclose(grid["srad"].values / f["srad"], 1, atol=0.15)


def test_one_block_equals_many(landscape, truth, monkeypatch):
    monkeypatch.setattr(products, "CASA_BLOCK_PX", 48 * 7)            # 6 blocks of rows, the last short
    assert len(products._row_blocks(landscape.grid.shape)) == 6
    monthly, params = products._casa_truth(landscape)
    assert len(monthly.chunks[1]) == 6
    np.testing.assert_allclose(monthly.compute(), truth[0]["npp_casa_true"].values, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(params["ndvi_min"].values, truth[1]["ndvi_min"].to_numpy(float), rtol=1e-6)


def test_no_monthly_years_no_casa_truth(tmp_path):
    import dataclasses

    cfg = dataclasses.replace(CFG, monthly_years=())
    ds = xr.open_zarr(products.write_truth(Landscape(cfg), tmp_path))
    assert "npp_casa_true" not in ds and "npp_casa_annual_true" not in ds
    with pytest.raises(ValueError, match="monthly_years"):
        products.true_casa_parameters(Landscape(cfg))
