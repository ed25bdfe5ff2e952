"""The planted truth of a synthetic coal base.

A landscape is a handful of smooth random fields (land cover, vegetation cover,
greening rate, elevation) plus mines that open and are restored in known years.
Everything a sensor would see in a given year is a deterministic function of it,
so the truth (destruction / restoration years, true NDVI, true NPP) is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rasterio.features import rasterize
from scipy import ndimage
from shapely import affinity
from shapely.geometry import Polygon, box

from .climate import RegionalClimate
from .config import SynthConfig

# CLCD (China Land Cover Dataset) classes; 0 is nodata
CLCD_CLASSES = {1: "cropland", 2: "forest", 3: "shrub", 4: "grassland", 5: "water",
                6: "snow/ice", 7: "barren", 8: "impervious", 9: "wetland"}
CROPLAND, FOREST, SHRUB, GRASSLAND, WATER, BARREN, IMPERVIOUS = 1, 2, 3, 4, 5, 7, 8

# Background (non-vegetation) surfaces a pixel mixes with
LOESS, COAL, URBAN, OPEN_WATER = 0, 1, 2, 3

# Surface reflectance spectra, bands: blue, green, red, nir08, swir16, swir22
BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22")
VEGETATION = np.array([0.030, 0.060, 0.040, 0.350, 0.180, 0.090], np.float32)
BACKGROUNDS = np.array([
    [0.100, 0.140, 0.180, 0.240, 0.300, 0.260],   # loess / sandy soil / spoil
    [0.050, 0.060, 0.070, 0.090, 0.110, 0.100],   # coal, open pit
    [0.090, 0.100, 0.110, 0.150, 0.180, 0.160],   # built-up
    [0.050, 0.060, 0.040, 0.020, 0.010, 0.005],   # water
], np.float32)

VEGETATED_COVER = {CROPLAND: 0.45, FOREST: 0.65, SHRUB: 0.35, GRASSLAND: 0.22,
                   WATER: 0.0, BARREN: 0.05, IMPERVIOUS: 0.08}


def smooth_noise(rng: np.random.Generator, shape, scale_px: float) -> np.ndarray:
    """Zero-mean, unit-variance random field with features about ``scale_px`` wide."""
    ny, nx = shape
    step = max(scale_px, 1.0)
    coarse = rng.standard_normal((int(ny / step) + 4, int(nx / step) + 4))
    field = ndimage.zoom(coarse, step, order=3, prefilter=False)[:ny, :nx]
    field = field - field.mean()
    return (field / (field.std() or 1.0)).astype(np.float32)


@dataclass
class Mine:
    mine_id: int
    name: str
    pit: Polygon          # UTM metres
    dump: Polygon
    open_year: int
    restoration_year: int | None   # dumps only; pits stay open

    @property
    def footprint(self) -> Polygon:
        return self.pit.union(self.dump)


class Landscape:
    """Deterministic truth for one :class:`SynthConfig`."""

    def __init__(self, config: SynthConfig):
        self.config = config
        self.grid = config.grid
        rng = np.random.default_rng([config.seed, 0])
        shape = self.grid.shape
        ny, nx = shape
        n = min(ny, nx)

        texture = smooth_noise(rng, shape, max(n / 12, 4)) + 0.5 * smooth_noise(rng, shape, max(n / 50, 2))
        yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
        river_y = ny * 0.72 + ny * 0.08 * np.sin(2 * np.pi * xx / (nx * 0.8) + rng.uniform(0, 6))
        river_dist = np.abs(yy - river_y)
        town_c = rng.uniform(0.15, 0.85, 2) * (ny, nx)
        town = np.hypot(yy - town_c[0], xx - town_c[1]) < max(n * 0.04, 2)

        lulc = np.full(shape, GRASSLAND, np.uint8)
        lulc[texture > 0.8] = SHRUB
        lulc[texture > 1.4] = FOREST
        lulc[(river_dist < n * 0.07) & (texture > -0.6)] = CROPLAND
        lulc[texture < -1.5] = BARREN
        lulc[town] = IMPERVIOUS
        lulc[river_dist < max(n * 0.008, 1.5)] = WATER
        self.lulc_base = lulc

        cover = np.zeros(256, np.float32)
        for cls, value in VEGETATED_COVER.items():
            cover[cls] = value
        fv = cover[lulc] + 0.05 * texture * (lulc == GRASSLAND) + 0.02 * smooth_noise(rng, shape, 1.5)
        self.fv_base = np.clip(fv, 0.0, 0.9).astype(np.float32)
        greenable = np.isin(lulc, [CROPLAND, FOREST, SHRUB, GRASSLAND])
        self.greening_rate = (
            config.greening_per_year * np.clip(1 + 0.5 * smooth_noise(rng, shape, n / 6), 0, 2) * greenable
        ).astype(np.float32)

        self.background = np.where(lulc == WATER, OPEN_WATER, np.where(lulc == IMPERVIOUS, URBAN, LOESS)).astype(np.uint8)
        self.dem = (1150 + 150 * smooth_noise(rng, shape, n / 4) + 30 * smooth_noise(rng, shape, n / 30)
                    - 40 * np.exp(-river_dist / (n * 0.05))).astype(np.float32)

        years = np.array(config.year_list)
        self.years = years
        # The climate of a year depends on (seed, year) alone (see climate.py); this draw of
        # the former per-run anomalies only keeps the random stream, and so the mines, as before.
        rng.standard_normal(2 * years.size)
        self.climate = RegionalClimate(config)
        self.precip_anomaly = {int(y): self.climate.precip_anomaly(y) for y in years}
        self.temp_anomaly = {int(y): self.climate.temp_anomaly(y) for y in years}

        self.mines = self._place_mines(rng)
        self.mine_id = np.zeros(shape, np.int16)
        self.zone = np.zeros(shape, np.uint8)          # 1 pit, 2 dump
        self.destruction_year = np.zeros(shape, np.int16)
        self.restoration_year = np.zeros(shape, np.int16)
        self.restored_cover = (0.33 + 0.05 * smooth_noise(rng, shape, 3)).astype(np.float32)
        t = self.grid.transform
        for mine in self.mines:
            for zone, poly in ((2, mine.dump), (1, mine.pit)):
                mask = rasterize([(poly, 1)], out_shape=shape, transform=t, dtype="uint8").astype(bool)
                self.mine_id[mask] = mine.mine_id
                self.zone[mask] = zone
                self.destruction_year[mask] = mine.open_year
                if zone == 2 and mine.restoration_year is not None:
                    self.restoration_year[mask] = mine.restoration_year

    # -- mines -------------------------------------------------------------
    def _place_mines(self, rng) -> list[Mine]:
        cfg, (minx, miny, maxx, maxy) = self.config, self.grid.bounds
        span = min(maxx - minx, maxy - miny)
        y0, y1 = cfg.years
        mines: list[Mine] = []
        attempts = 0
        while len(mines) < cfg.n_mines and attempts < cfg.n_mines * 200:
            attempts += 1
            length = rng.uniform(1000, 3200) if span > 12_000 else rng.uniform(0.15, 0.3) * span
            width = length * rng.uniform(0.45, 0.7)
            cx = rng.uniform(minx + length, maxx - length)
            cy = rng.uniform(miny + length, maxy - length)
            angle = rng.uniform(-40, 40)
            outline = affinity.rotate(box(cx - length / 2, cy - width / 2, cx + length / 2, cy + width / 2),
                                      angle, origin=(cx, cy))
            if any(outline.buffer(300).intersects(m.footprint) for m in mines):
                continue
            split = cx - length / 2 + length * rng.uniform(0.4, 0.6)
            pit = affinity.rotate(box(cx - length / 2, cy - width / 2, split, cy + width / 2), angle, origin=(cx, cy))
            dump = affinity.rotate(box(split, cy - width / 2, cx + length / 2, cy + width / 2), angle, origin=(cx, cy))
            open_year = int(rng.integers(y0 + 2, max(y0 + 3, y0 + int(0.55 * (y1 - y0)) + 1)))
            restore = open_year + int(rng.integers(4, 9))
            restoration_year = restore if (restore <= y1 - 1 and len(mines) % 3 != 2) else None
            mine_id = len(mines) + 1
            mines.append(Mine(mine_id, f"Mine {mine_id:03d}", pit, dump, open_year, restoration_year))
        return mines

    # -- per-year truth ------------------------------------------------------
    def cover(self, year: int) -> np.ndarray:
        """Peak-season fractional vegetation cover in ``year``."""
        y0 = self.config.years[0]
        fv = self.fv_base + self.greening_rate * (year - y0) + 0.05 * self.precip_anomaly[year] * (self.fv_base > 0.03)
        destroyed = (self.destruction_year > 0) & (self.destruction_year <= year)
        fv = np.where(destroyed, np.where(self.zone == 1, 0.0, 0.02), fv)
        restored = (self.restoration_year > 0) & (self.restoration_year <= year)
        age = np.maximum(year - self.restoration_year + 1, 0)
        regrowth = 0.05 + (self.restored_cover - 0.05) * (1 - np.exp(-age / 3.0))
        fv = np.where(restored, regrowth, fv)
        return np.clip(fv, 0.0, 0.95).astype(np.float32)

    def surface(self, year: int) -> np.ndarray:
        """Background surface class in ``year`` (open pits expose coal)."""
        destroyed = (self.destruction_year > 0) & (self.destruction_year <= year)
        return np.where(destroyed & (self.zone == 1), COAL, self.background).astype(np.uint8)

    def reflectance(self, year: int, phenology: float = 1.0) -> np.ndarray:
        """Noise-free surface reflectance, shape (6, ny, nx), for a given season stage."""
        fv = (self.cover(year) * phenology)[None]
        bg = BACKGROUNDS[self.surface(year)].transpose(2, 0, 1)
        refl = fv * VEGETATION[:, None, None] + (1 - fv) * bg
        water = self.lulc_base == WATER
        refl[:, water] = BACKGROUNDS[OPEN_WATER][:, None]
        return refl.astype(np.float32)

    def ndvi(self, year: int) -> np.ndarray:
        """True peak-season NDVI (noise-free, cloud-free)."""
        r = self.reflectance(year)
        return ((r[3] - r[2]) / (r[3] + r[2])).astype(np.float32)

    def land_cover(self, year: int) -> np.ndarray:
        """CLCD-like classes in ``year``: mines are barren until restored dumps green up."""
        lc = self.lulc_base.copy()
        destroyed = (self.destruction_year > 0) & (self.destruction_year <= year)
        lc[destroyed] = BARREN
        greened = (self.restoration_year > 0) & (self.restoration_year + 2 <= year)
        lc[greened] = GRASSLAND
        return lc

    def npp(self, year: int) -> np.ndarray:
        """True annual NPP, gC m-2 yr-1 (0 on water)."""
        npp = (15 + 560 * self.cover(year)) * (1 + 0.3 * self.precip_anomaly[year])
        return np.where(self.lulc_base == WATER, 0.0, npp).astype(np.float32)

    def air_temperature(self, year: int, doy: float) -> float:
        """Regional near-surface air temperature (degC) on day-of-year ``doy`` (climate.py)."""
        return self.climate.air_temperature(year, doy)

    def annual_precipitation(self, year: int) -> float:
        """Regional annual precipitation (mm) in ``year`` (climate.py)."""
        return self.climate.annual_precipitation(year)

    def surface_temperature(self, year: int, doy: float) -> np.ndarray:
        """Clear-sky land surface temperature (kelvin) on ``doy``."""
        fv = self.cover(year)
        lst = self.air_temperature(year, doy) + 14 * (1 - fv) + 6 * (self.surface(year) == COAL)
        lst = np.where(self.lulc_base == WATER, self.air_temperature(year, doy) - 4, lst)
        return (lst + 273.15).astype(np.float32)

    def ndvi_trend(self) -> np.ndarray:
        """OLS slope (per year) of the true peak NDVI over all years."""
        years = self.years.astype(np.float64)
        stack = np.stack([self.ndvi(int(y)) for y in years]).astype(np.float64)
        tc = years - years.mean()
        return ((tc[:, None, None] * (stack - stack.mean(0))).sum(0) / (tc**2).sum()).astype(np.float32)
