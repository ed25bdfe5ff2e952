"""The synthetic climate: a regional climatology of the Ordos / Loess Plateau coal bases,
gridded as monthly mean temperature, precipitation and solar radiation, plus stations.

The annual numbers come from the source studies (../shared/seeds, see docs/synthetic.md):

- mean annual temperature 4.8-8.5 degC: Pingshuo 4.8-7.8 (seed 001 §2.1), Haerwusu
  5.3-8.2 (seed 004 §2.1), Ningdong 5.9-8.5 (seed 000 §2.1), Shendong 7.36 (seed 002,
  "Study area");
- annual precipitation 260-450 mm, concentrated in July-September: Ningdong 260 (seed 000
  §2.1), Shendong 386.82 (seed 002), Haerwusu 399.0 (seed 004), Pingshuo 450 (seed 001);
- annual global solar radiation: the studies give none; the region lies in zone II of
  China's five solar-resource zones (5,852-6,680 MJ m-2 yr-1: southern Inner Mongolia,
  north-western Shanxi, southern Ningxia), and we take 6,000.

Each calendar year's anomalies are drawn from (seed, year) alone, so a year's climate is
the same whatever the run length or the extent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .config import SynthConfig
from .stac import item, lonlat_footprint

# Temperature, degC. 7.0 in the reference year sits inside every study's range (seed 002:
# 7.36 for Shendong); REFERENCE_YEAR is the middle of the studies' 2000-2024 Landsat span
# (seed 000), so a year's temperature does not depend on when the run starts.
T_MEAN = 7.0
REFERENCE_YEAR = 2012
# Annual harmonic (coldest in mid-January) and a second harmonic that sharpens the winter
# trough: January -10.2, July 21.8 degC. The studies give annual means only (and Ningdong's
# extremes, -29.4 / 38.3 degC, seed 000 §2.1); this is the continental-monsoon cycle of the
# region's stations, January about -10 and July about 22 degC.
T_AMPLITUDE, T_SECOND = 16.0, -1.2
T_ANOMALY_SD, T_ANOMALY_MAX = 0.5, 1.0  # degC; clipped so no year leaves 4.8-8.5 degC
T_PER_DEG_LAT = -0.8  # colder to the north (no study gives a gradient)

# Precipitation, mm yr-1: 355 is the middle of the studies' 260-450 mm; a year's anomaly
# (a fraction, sd 0.12) is clipped to +-0.22 so every year stays in 277-433 mm.
P_MEAN = 355.0
P_ANOMALY_SD, P_ANOMALY_MAX = 0.12, 0.22
# Wetter to the south (seed 000 §4.4: southern Ningdong wetter than the drier north) and to
# the east, as a fraction of the annual total per degree.
P_PER_DEG_LAT, P_PER_DEG_LON = -0.2, 0.1
P_NOISE_SD = 0.15  # lognormal, per cell and month, mean one
# Monthly shares: 0.8 % in each month plus a wet season centred on mid-July to mid-August
# that puts about 65 % of the year into July-September (seed 000 §2.1: "predominantly
# concentrated in the summer months from July to September").
_WET = np.exp(-(((np.arange(1, 13) - 7.5) / 2.0) ** 2))
MONTHLY_SHARE = 0.008 + (1 - 12 * 0.008) * _WET / _WET.sum()

# Daily global radiation, MJ m-2 d-1: 16.4 on average (16.4 x 365.25 = 5,990 MJ m-2 yr-1,
# solar zone II, see above), 23.3 at the June solstice and 9.5 in December.
S_DAILY_MEAN, S_DAILY_AMPLITUDE = 16.4, 6.9
S_NOISE_SD = 0.03


class RegionalClimate:
    """The regional climate of one :class:`SynthConfig`: a function of seed and year only."""

    def __init__(self, config: SynthConfig):
        self.config = config
        self.grid = config.grid
        self._anomalies: dict[int, tuple[float, float]] = {}

    def anomalies(self, year: int) -> tuple[float, float]:
        """(temperature degC, precipitation fraction) anomaly of a calendar year."""
        year = int(year)
        if year not in self._anomalies:
            rng = np.random.default_rng([self.config.seed, 7, year])
            dt, dp = rng.normal(0.0, (T_ANOMALY_SD, P_ANOMALY_SD))
            self._anomalies[year] = (
                float(np.clip(dt, -T_ANOMALY_MAX, T_ANOMALY_MAX)),
                float(np.clip(dp, -P_ANOMALY_MAX, P_ANOMALY_MAX)),
            )
        return self._anomalies[year]

    def temp_anomaly(self, year: int) -> float:
        return self.anomalies(year)[0]

    def precip_anomaly(self, year: int) -> float:
        return self.anomalies(year)[1]

    def annual_precipitation(self, year: int) -> float:
        """Regional annual precipitation (mm) of ``year``."""
        return P_MEAN * (1 + self.precip_anomaly(year))

    def air_temperature(self, year: int, doy: float) -> float:
        """Regional near-surface air temperature (degC) on day-of-year ``doy``."""
        phase = 2 * np.pi * (doy - 15) / 365.25
        seasonal = T_MEAN - T_AMPLITUDE * np.cos(phase) + T_SECOND * np.cos(2 * phase)
        trend = self.config.warming_per_year * (year - REFERENCE_YEAR)
        return float(seasonal + trend + self.temp_anomaly(year))


def climate_axes(landscape, resolution_deg: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) cell centres of the climate grid: ``resolution_deg`` steps covering the
    extent with two cells of padding, latitude north to south."""
    lon0, lat0, lon1, lat1 = landscape.grid.lonlat_bounds()
    pad = 2 * resolution_deg
    res = resolution_deg
    lon = np.arange(np.floor((lon0 - pad) / res), np.ceil((lon1 + pad) / res) + 1) * res
    lat = np.arange(np.ceil((lat1 + pad) / res), np.floor((lat0 - pad) / res) - 1, -1) * res
    return lon, lat


def climate_fields(landscape, times, lon, lat, *, resolution_deg: float = 0.05) -> dict[str, np.ndarray]:
    """The noise-free monthly climate the grid is sampled from, at points ``lon``, ``lat``.

    ``times``: month starts (a pandas DatetimeIndex); ``lon``, ``lat``: degrees, arrays of
    one (broadcastable) spatial shape S, e.g. a climate grid's axes as (1, n) and (m, 1) or
    the 30 m pixels' coordinates. Returns ``tmean`` (degC), ``prcp`` (mm month-1, >= 0) and
    ``srad`` (MJ m-2 month-1), float64 of shape (len(times), *S): the regional series of
    the month's middle (day 15) plus the linear latitude / longitude gradients about the
    centre of the climate grid of ``resolution_deg``. :func:`climate_dataset` adds the
    per-cell noise to exactly these values; the CASA truth (products.py) uses them as is.
    """
    times = pd.DatetimeIndex(times)
    lon_axis, lat_axis = climate_axes(landscape, resolution_deg)
    lon, lat = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    month = times.month.values
    doy = times.dayofyear.values + 14  # mid-month
    yr = times.year.values
    lead = (slice(None),) + (None,) * lat.ndim
    lat_c = (lat - lat_axis.mean())[None]
    lon_c = (lon - lon_axis.mean())[None]

    regional_t = np.array([landscape.air_temperature(int(y), float(d)) for y, d in zip(yr, doy)])
    tmean = regional_t[lead] + T_PER_DEG_LAT * lat_c

    # each year's total is split over its own twelve months (shares sum to one), so the
    # annual precipitation never depends on the number of years
    annual_p = np.array([landscape.annual_precipitation(int(y)) for y in yr])
    spatial = 1 + P_PER_DEG_LON * lon_c + P_PER_DEG_LAT * lat_c
    prcp = (annual_p * MONTHLY_SHARE[month - 1])[lead] * spatial

    daily = S_DAILY_MEAN + S_DAILY_AMPLITUDE * np.cos(2 * np.pi * (doy - 172) / 365.25)
    srad = np.broadcast_to((daily * times.days_in_month.values)[lead], (times.size, *lat.shape))
    return {"tmean": tmean, "prcp": prcp, "srad": srad}


def climate_dataset(landscape, resolution_deg: float = 0.05) -> xr.Dataset:
    """Monthly mean temperature, precipitation and solar radiation on a lon/lat grid.

    ``landscape``: a :class:`~cubeeco.synth.landscape.Landscape` or a :class:`RegionalClimate`
    (anything with ``config``, ``grid``, ``air_temperature`` and ``annual_precipitation``);
    the latter gives the climate of an extent without building its 30 m fields.
    The values are :func:`climate_fields` at the cell centres plus per-cell noise.
    """
    cfg = landscape.config
    lon, lat = climate_axes(landscape, resolution_deg)
    times = pd.date_range(f"{cfg.years[0]}-01-01", f"{cfg.years[1]}-12-01", freq="MS")
    rng = np.random.default_rng([cfg.seed, 5])
    shape = (times.size, lat.size, lon.size)
    fields = climate_fields(landscape, times, lon[None, :], lat[:, None], resolution_deg=resolution_deg)
    # the noise is drawn in the order it always was (temperature, precipitation, radiation),
    # so the grid stays byte-identical
    tmean = fields["tmean"] + rng.normal(0, 0.3, shape)
    noise = rng.lognormal(-0.5 * P_NOISE_SD**2, P_NOISE_SD, shape)
    prcp = fields["prcp"] * noise
    srad = fields["srad"] * (1 + rng.normal(0, S_NOISE_SD, shape))
    dims = ("time", "lat", "lon")
    ds = xr.Dataset(
        {
            "tmean": (
                dims,
                tmean.astype(np.float32),
                {
                    "units": "degC",
                    "standard_name": "air_temperature",
                    "long_name": "monthly mean air temperature",
                },
            ),
            "prcp": (
                dims,
                np.maximum(prcp, 0).astype(np.float32),
                {"units": "mm month-1", "long_name": "monthly precipitation"},
            ),
            "srad": (
                dims,
                srad.astype(np.float32),
                {"units": "MJ m-2 month-1", "long_name": "monthly total solar radiation"},
            ),
        },
        coords={
            "time": times,
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={
            "title": "cubeeco synthetic monthly climate",
            "crs": "EPSG:4326",
            "Conventions": "CF-1.8",
        },
    )
    return ds


def write_climate(landscape, root: Path) -> tuple[dict, list[dict]]:
    """Climate grid as a Zarr collection asset, stations as GeoJSON + monthly CSV."""
    cfg = landscape.config
    ds = climate_dataset(landscape)
    zpath = root / "climate" / "monthly.zarr"
    ds.to_zarr(zpath, mode="w", consolidated=True, zarr_format=2)
    rng = np.random.default_rng([cfg.seed, 6])
    lon0, lat0, lon1, lat1 = landscape.grid.lonlat_bounds()
    st_lon = rng.uniform(lon0, lon1, cfg.n_stations)
    st_lat = rng.uniform(lat0, lat1, cfg.n_stations)
    rows, features = [], []
    for k in range(cfg.n_stations):
        sid = f"ST{k + 1:02d}"
        near = ds.interp(lon=st_lon[k], lat=st_lat[k])
        for t in range(ds.sizes["time"]):
            rows.append(
                {
                    "station_id": sid,
                    "time": str(ds.time.values[t])[:10],
                    "tmean": round(float(near.tmean[t]) + rng.normal(0, 0.2), 2),
                    "prcp": round(max(float(near.prcp[t]) * rng.lognormal(0, 0.1), 0.0), 1),
                    "srad": round(float(near.srad[t]) * (1 + rng.normal(0, 0.02)), 1),
                }
            )
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [st_lon[k], st_lat[k]]},
                "properties": {"station_id": sid, "name": f"Station {sid}"},
            }
        )
    sdir = root / "climate"
    pd.DataFrame(rows).to_csv(sdir / "stations_monthly.csv", index=False)
    (sdir / "stations.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    geometry, bbox = lonlat_footprint(landscape.grid)
    start, end = f"{cfg.years[0]}-01-01T00:00:00Z", f"{cfg.years[1]}-12-31T23:59:59Z"
    station_item = item(
        "climate-stations",
        "synthetic-climate",
        geometry,
        bbox,
        {"datetime": None, "start_datetime": start, "end_datetime": end},
        {
            "stations": {
                "href": str((sdir / "stations.geojson").resolve()),
                "type": "application/geo+json",
                "roles": ["data"],
            },
            "monthly": {
                "href": str((sdir / "stations_monthly.csv").resolve()),
                "type": "text/csv",
                "roles": ["data"],
            },
        },
        extensions=(),
    )
    zarr_asset = {
        "zarr": {
            "href": str(zpath.resolve()),
            "type": "application/vnd+zarr",
            "roles": ["data"],
            "title": "Monthly climate grid (tmean degC, prcp mm, srad MJ m-2)",
            "xarray:open_kwargs": {"consolidated": True},
        }
    }
    return zarr_asset, [station_item]


__all__ = ["RegionalClimate", "climate_axes", "climate_dataset", "climate_fields", "write_climate"]
