"""Landsat Collection 2 Level-2-like scenes drawn from a :class:`Landscape`.

Asset keys, DN encoding (uint16, scale/offset), nodata and QA_PIXEL bits follow the
real ``landsat-c2-l2`` collection (see shared DATA.md): TM until 2011, ETM+ with
SLC-off stripes in 2012, OLI from 2013.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .landscape import MONTH_DAYS, Landscape, smooth_noise

SR_SCALE, SR_OFFSET = 2.75e-05, -0.2
ST_SCALE, ST_OFFSET = 0.00341802, 149.0

# QA_PIXEL bits (Collection 2)
FILL, DILATED, CIRRUS, CLOUD, SHADOW, SNOW, CLEAR, WATER_BIT = 0, 1, 2, 3, 4, 5, 6, 7
CLOUD_CONF, SHADOW_CONF, SNOW_CONF, CIRRUS_CONF = 8, 10, 12, 14


@dataclass(frozen=True)
class Sensor:
    code: str            # LT05 / LE07 / LC08
    platform: str
    instrument: str
    bands: dict          # asset key -> file band name
    thermal_key: str     # lwir (TM/ETM+) or lwir11 (OLI)


TM = Sensor("LT05", "landsat-5", "tm",
            {"blue": "SR_B1", "green": "SR_B2", "red": "SR_B3", "nir08": "SR_B4",
             "swir16": "SR_B5", "swir22": "SR_B7", "lwir": "ST_B6", "qa_pixel": "QA_PIXEL"}, "lwir")
ETM = Sensor("LE07", "landsat-7", "etm+",
             {"blue": "SR_B1", "green": "SR_B2", "red": "SR_B3", "nir08": "SR_B4",
              "swir16": "SR_B5", "swir22": "SR_B7", "lwir": "ST_B6", "qa_pixel": "QA_PIXEL"}, "lwir")
OLI = Sensor("LC08", "landsat-8", "oli",
             {"blue": "SR_B2", "green": "SR_B3", "red": "SR_B4", "nir08": "SR_B5",
              "swir16": "SR_B6", "swir22": "SR_B7", "lwir11": "ST_B10", "qa_pixel": "QA_PIXEL"}, "lwir11")
SR_KEYS = ("blue", "green", "red", "nir08", "swir16", "swir22")


def sensor_for_year(year: int) -> Sensor:
    """TM until 2011, ETM+ (SLC-off) in 2012, OLI from 2013 (as the issue's coal base)."""
    return TM if year <= 2011 else ETM if year == 2012 else OLI


@dataclass(frozen=True)
class Scene:
    index: int
    year: int
    doy: int
    cloudy: bool
    off_season: bool
    edge: bool            # part of the extent lies outside the scene footprint
    monthly: bool = False  # one of a monthly year's extra Jan-May / Oct-Dec acquisitions

    @property
    def date(self) -> dt.date:
        return dt.date(self.year, 1, 1) + dt.timedelta(days=self.doy - 1)

    @property
    def sensor(self) -> Sensor:
        return sensor_for_year(self.year)

    @property
    def correction(self) -> str:
        """``L2SR`` (reflectance only, no surface-temperature assets) for every seventh
        scene, as USGS delivers where ST cannot be made; ``L2SP`` otherwise."""
        return "L2SR" if self.index % 7 == 5 else "L2SP"

    def item_id(self, path_row) -> str:
        p, r = path_row
        processed = (self.date + dt.timedelta(days=400)).strftime("%Y%m%d")
        return f"{self.sensor.code}_{self.correction}_{p:03d}{r:03d}_{self.date:%Y%m%d}_{processed}_02_T1"


# the months a monthly year adds (the June-September scenes are the season's own)
MONTHLY_MONTHS = (1, 2, 3, 4, 5, 10, 11, 12)
MONTHLY_CLOUDY_SHARE = 0.35     # chance that a monthly scene is cloudy (at least one a year)


def _monthly_scenes(cfg, year: int, taken: set[int]) -> list[tuple[int, bool]]:
    """(doy, cloudy) of a monthly year's extra scenes: one around mid-month in each month
    outside June-September, never on the day of another scene of that year. Drawn from
    (seed, 10, year) alone, so the other scenes and their random streams stay as they were."""
    rng = np.random.default_rng([cfg.seed, 10, year])
    start = np.cumsum([0, *MONTH_DAYS(year)])
    out = []
    for m in MONTHLY_MONTHS:
        doy = int(start[m - 1] + 15 + rng.integers(-5, 6))
        while doy in taken:
            doy += 1
        taken.add(doy)
        out.append((doy, bool(rng.random() < MONTHLY_CLOUDY_SHARE)))
    if not any(c for _, c in out):
        k = int(rng.integers(len(out)))
        out[k] = (out[k][0], True)
    return out


def schedule(landscape: Landscape) -> list[Scene]:
    """Acquisition dates: evenly spread June-September with jitter, plus off-season extras,
    plus (``monthly_years``) one scene in each other month, listed after all the others so
    that every earlier scene keeps its index (and so its noise, edge and L2SR draws)."""
    cfg = landscape.config
    rng = np.random.default_rng([cfg.seed, 1])
    scenes: list[Scene] = []
    for year in cfg.year_list:
        k = cfg.scenes_per_season
        doys = np.linspace(166, 258, k + 2)[1:-1] if k > 1 else np.array([220.0])
        doys = (doys + rng.integers(-6, 7, k)).astype(int)
        cloudy = set(rng.choice(k, cfg.cloudy_scenes_per_year, replace=False).tolist())
        for j, doy in enumerate(doys):
            scenes.append(Scene(len(scenes), year, int(doy), j in cloudy, False, False))
        for _ in range(cfg.off_season_scenes):
            doy = int(rng.choice([105, 290]) + rng.integers(-5, 6))
            scenes.append(Scene(len(scenes), year, doy, False, True, False))
    for year in getattr(cfg, "monthly_years", ()):
        taken = {s.doy for s in scenes if s.year == year}
        for doy, cloudy in _monthly_scenes(cfg, year, taken):
            scenes.append(Scene(len(scenes), year, doy, cloudy, True, False, True))
    # every fifth scene sits at the edge of its WRS footprint
    return [Scene(s.index, s.year, s.doy, s.cloudy, s.off_season, s.index % 5 == 3, s.monthly) for s in scenes]


# Double-logistic green-cover cycle (the form of Beck et al. 2006, as TIMESAT fits it):
# half-way green-up on 14 June, half-way senescence on 2 October, flat-topped around a
# peak in early August, dormant from November to March.
PHENOLOGY_GREEN_UP_DOY, PHENOLOGY_GREEN_UP_DAYS = 165.0, 12.0
PHENOLOGY_SENESCENCE_DOY, PHENOLOGY_SENESCENCE_DAYS = 275.0, 11.0
PHENOLOGY_DORMANT = 0.10        # green share left in the dormant season (shrubs, evergreens)


def _green_season(doy):
    rise = 1 / (1 + np.exp(-(doy - PHENOLOGY_GREEN_UP_DOY) / PHENOLOGY_GREEN_UP_DAYS))
    fall = 1 / (1 + np.exp((doy - PHENOLOGY_SENESCENCE_DOY) / PHENOLOGY_SENESCENCE_DAYS))
    return rise * fall


_GREEN_SEASON_MAX = float(_green_season(np.arange(1.0, 366.0, 0.25)).max())


def phenology(doy: float) -> float:
    """Share of peak green vegetation cover on a day of year: dormant in winter, peak in August.

    The semi-arid steppe of the studies greens up with the rains (seed 000 §2.1: precipitation
    concentrated in July-September) and is dormant in winter: about 0.11 in mid-April,
    0.58 in mid-June, 0.95 in mid-July, 1 on 8 August, 0.85 in mid-September, 0.32 in
    mid-October and 0.10-0.12 from November to March.
    """
    season = float(_green_season(float(doy))) / _GREEN_SEASON_MAX
    return PHENOLOGY_DORMANT + (1 - PHENOLOGY_DORMANT) * season


def _bits(*pairs) -> int:
    return sum(value << bit for bit, value in pairs)


def qa_values(sensor: Sensor) -> dict:
    cirrus_low = [(CIRRUS_CONF, 1)] if sensor is OLI else []
    low = [(CLOUD_CONF, 1), (SHADOW_CONF, 1), (SNOW_CONF, 1), *cirrus_low]
    return {
        "clear": _bits((CLEAR, 1), *low),
        "water": _bits((CLEAR, 1), (WATER_BIT, 1), *low),
        "cloud": _bits((DILATED, 1), (CLOUD, 1), (CLOUD_CONF, 3), (SHADOW_CONF, 1), (SNOW_CONF, 1), *cirrus_low),
        "dilated": _bits((DILATED, 1), (CLOUD_CONF, 2), (SHADOW_CONF, 1), (SNOW_CONF, 1), *cirrus_low),
        "shadow": _bits((SHADOW, 1), (CLOUD_CONF, 1), (SHADOW_CONF, 3), (SNOW_CONF, 1), *cirrus_low),
        # as USGS flags snow: snow bit, high snow confidence, and still "clear" (bit 6 means
        # only "not cloud or dilated cloud"): 30048 for OLI, 13664 for TM/ETM+
        "snow": _bits((SNOW, 1), (CLEAR, 1), (CLOUD_CONF, 1), (SHADOW_CONF, 1), (SNOW_CONF, 3), *cirrus_low),
        "fill": 1,
    }


SNOW_SPECTRUM = np.array([1.0, 0.98, 0.95, 0.86, 0.12, 0.08], np.float32)   # relative to blue
SNOW_BELOW_DEGC = 1.0       # scenes colder than this (regional air temperature) carry snow


def snow_share(landscape: Landscape, scene: Scene) -> float:
    """Share of the land under snow in a scene: none above 1 degC air temperature, up to
    60 % in the coldest weeks, scaled by a draw per scene (dry winters, sporadic snow)."""
    t_air = landscape.air_temperature(scene.year, scene.doy)
    if t_air >= SNOW_BELOW_DEGC:
        return 0.0
    scale = np.random.default_rng([landscape.config.seed, 13, scene.index]).uniform(0.4, 1.0)
    return float(np.clip(0.05 * (SNOW_BELOW_DEGC - t_air), 0.0, 0.6) * scale)


def snow_mask(landscape: Landscape, scene: Scene) -> np.ndarray:
    """Where a scene shows snow: the highest-lying (plus a smooth random field) share
    :func:`snow_share` of the land; never on open water."""
    ny, nx = landscape.grid.shape
    share = snow_share(landscape, scene)
    if share <= 0:
        return np.zeros((ny, nx), bool)
    rng = np.random.default_rng([landscape.config.seed, 14, scene.index])
    field = smooth_noise(rng, (ny, nx), max(min(ny, nx) / 8, 3)) + (landscape.dem - landscape.dem.mean()) / (
        landscape.dem.std() or 1.0)
    land = landscape.lulc_base != 5
    return land & (field > np.quantile(field[land], 1 - share))


@dataclass
class SceneLayers:
    """What one scene contains: planted physical values and the encoded DNs."""

    reflectance: np.ndarray     # (6, ny, nx) float32, planted surface reflectance (NaN = fill)
    kelvin: np.ndarray          # (ny, nx) float32, planted surface temperature (NaN = fill)
    qa: np.ndarray              # (ny, nx) uint16 QA_PIXEL
    cloud_cover: float          # percent of the scene flagged cloud / dilated / shadow (not snow)

    def dn(self) -> dict:
        """Encode as the real collection does: uint16 DN, 0 = nodata."""
        out = {}
        for i, key in enumerate(SR_KEYS):
            v = np.rint((self.reflectance[i] - SR_OFFSET) / SR_SCALE)
            out[key] = np.where(np.isnan(v), 0, np.clip(v, 1, 65455)).astype(np.uint16)
        t = np.rint((self.kelvin - ST_OFFSET) / ST_SCALE)
        out["thermal"] = np.where(np.isnan(t), 0, np.clip(t, 1, 65535)).astype(np.uint16)
        out["qa_pixel"] = self.qa
        return out


def scene_layers(landscape: Landscape, scene: Scene) -> SceneLayers:
    """Deterministically draw one scene (same landscape + scene -> same arrays)."""
    cfg = landscape.config
    rng = np.random.default_rng([cfg.seed, 2, scene.index])
    ny, nx = landscape.grid.shape
    refl = landscape.reflectance(scene.year, phenology(scene.doy))
    refl += rng.normal(0.0, 0.004, refl.shape).astype(np.float32)
    kelvin = landscape.surface_temperature(scene.year, scene.doy)
    kelvin += rng.normal(0.0, 0.4, kelvin.shape).astype(np.float32)
    qa_v = qa_values(scene.sensor)
    qa = np.where(landscape.lulc_base == 5, qa_v["water"], qa_v["clear"]).astype(np.uint16)

    snow = snow_mask(landscape, scene)
    if snow.any():
        # fresh-to-old snow: bright in the visible, less in the NIR, dark in the SWIR
        # (NDVI about -0.05, NDSI about 0.8), a little fainter where vegetation sticks out
        srng = np.random.default_rng([cfg.seed, 12, scene.index])
        bright = (0.78 - 0.25 * landscape.cover(scene.year) + srng.normal(0, 0.03, (ny, nx))).astype(np.float32)
        refl[:, snow] = bright[snow][None] * SNOW_SPECTRUM[:, None]
        kelvin[snow] = np.minimum(kelvin[snow], 273.15) - 2.0
        qa[snow] = qa_v["snow"]

    if scene.cloudy:
        field = smooth_noise(rng, (ny, nx), max(min(ny, nx) / 10, 3))
        cloud = field > np.quantile(field, 1 - rng.uniform(0.1, 0.45))
        dilated = ndimage.binary_dilation(cloud, iterations=3) & ~cloud
        shift = (int(rng.integers(4, 12)), int(rng.integers(4, 12)))
        shadow = np.roll(cloud, shift, axis=(0, 1)) & ~cloud & ~dilated
        brightness = (0.45 + 0.05 * field).astype(np.float32)
        refl[:, cloud] = np.minimum(brightness[cloud], 0.9)[None] * np.array(
            [1.0, 1.0, 1.0, 0.95, 0.7, 0.55], np.float32)[:, None]
        kelvin[cloud] = 255.0 + 5 * field[cloud]
        refl[:, shadow] *= 0.35
        kelvin[shadow] -= 3.0
        qa[dilated] = qa_v["dilated"]
        qa[shadow] = qa_v["shadow"]
        qa[cloud] = qa_v["cloud"]

    fill = np.zeros((ny, nx), bool)
    yy, xx = np.mgrid[0:ny, 0:nx]
    if scene.edge:   # the scene's slanted footprint edge crosses one corner
        fill |= (xx / nx + (ny - 1 - yy) / ny) < 0.35
    if scene.sensor.code == "LE07" and scene.date >= dt.date(2003, 5, 31):
        # SLC-off: wedge-shaped gaps, widest at the scene edges, narrow near the centre
        period = 34
        width = 1 + 12 * np.abs(xx - nx / 2) / max(nx, 1)
        fill |= ((yy + 0.12 * xx) % period) < width
    refl[:, fill] = np.nan
    kelvin[fill] = np.nan
    qa[fill] = qa_v["fill"]
    flagged = np.isin(qa, [qa_v["cloud"], qa_v["dilated"], qa_v["shadow"]])
    valid = ~fill
    cloud_cover = float(100.0 * flagged[valid].mean()) if valid.any() else 0.0
    return SceneLayers(refl, kelvin, qa, round(cloud_cover, 2))
