"""The planted truth of a synthetic coal base.

A landscape is a handful of smooth random fields (land cover, vegetation cover,
greening rate, elevation) plus mines whose pits and dumps advance strip by strip from
known years, and whose dumps are (for two mines in three) restored stage by stage.
Everything a sensor would see in a given year is a deterministic function of it,
so the truth (destruction / restoration years, true NDVI, true NPP) is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from affine import Affine
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

MODIS_FIRST_YEAR = 2001   # MOD17A3HGF v061 starts in 2001

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


def MONTH_DAYS(year: int) -> list[int]:
    """Days in each month of ``year``."""
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def smooth_noise(rng: np.random.Generator, shape, scale_px: float) -> np.ndarray:
    """Zero-mean, unit-variance random field with features about ``scale_px`` wide."""
    ny, nx = shape
    step = max(scale_px, 1.0)
    coarse = rng.standard_normal((int(ny / step) + 4, int(nx / step) + 4))
    field = ndimage.zoom(coarse, step, order=3, prefilter=False)[:ny, :nx]
    field = field - field.mean()
    return (field / (field.std() or 1.0)).astype(np.float32)


# Mines sit on vegetated steppe: the pre-mining cover under a footprint is raised to at
# least this (true peak NDVI >= 0.27 even in the driest year), so every planted
# destruction is a vegetated -> bare change a detector can see (docs/synthetic.md).
# study 002 Eq. 2 (SCIENCE.md section 7): VCS = NPP x 2.2 x 1.63, g CO2 m-2 yr-1
NPP_TO_VCS = 2.2 * 1.63

MINE_COVER_FLOOR = 0.22
MINE_FLOOR_RAMP_PX = 5.0       # the floor fades out over 150 m outside a footprint (no hard edge)
# the dividing values of the truth flag ``target``: vegetated before, bare in the destruction year
TARGET_VEGETATED_NDVI, TARGET_BARE_NDVI = 0.25, 0.2
# A restored stage regrows towards its own cover (0.33 +- 0.05 in space) from 0.05; this floor
# keeps its first restored year at cover >= 0.107, true peak NDVI >= 0.208 over spoil, so every
# planted restoration year is a bare -> vegetated change (>= TARGET_BARE_NDVI) a detector can see
# (issue 12: below ~0.205 the first year stayed bare and a perfect detector said T_R + 1).
RESTORED_COVER_MIN = 0.25


@dataclass
class Strip:
    """One stage of a mine: a band across its long axis opened (pit, dump) in ``year``."""

    zone: int                     # 1 pit, 2 dump
    u0: float                     # band limits along the long axis (metres from the centre)
    u1: float
    year: int
    restoration_year: int | None  # dump stages only


@dataclass
class Mine:
    mine_id: int
    name: str
    pit: Polygon          # UTM metres
    dump: Polygon
    open_year: int                 # the first stage
    restoration_year: int | None   # the first restored dump stage; pits stay open
    centre: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0             # degrees, counter-clockwise: the long axis
    width: float = 0.0
    split: float = 0.0             # pit | dump boundary along the long axis (from the centre)
    strips: list[Strip] = field(default_factory=list)

    @property
    def footprint(self) -> Polygon:
        return self.pit.union(self.dump)

    @property
    def last_open_year(self) -> int:
        return max((s.year for s in self.strips), default=self.open_year)

    def strip_polygon(self, strip: Strip) -> Polygon:
        cx, cy = self.centre
        return affinity.rotate(box(cx + strip.u0, cy - self.width / 2, cx + strip.u1, cy + self.width / 2),
                               self.angle, origin=(cx, cy))

    def along_axis(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Position (metres) of points along the long axis, from the centre."""
        a = np.deg2rad(self.angle)
        return (x - self.centre[0]) * np.cos(a) + (y - self.centre[1]) * np.sin(a)


def _stages(rng, lo: float, hi: float, n: int, outward: int) -> list[tuple[float, float]]:
    """``n`` bands of random widths covering [lo, hi], ordered from the split outward
    (``outward`` +1: from ``lo`` up, -1: from ``hi`` down)."""
    w = rng.uniform(0.7, 1.3, n)
    edges = np.concatenate([[0.0], np.cumsum(w) / w.sum()]) * (hi - lo)
    if outward > 0:
        return [(lo + edges[i], lo + edges[i + 1]) for i in range(n)]
    return [(hi - edges[i + 1], hi - edges[i]) for i in range(n)]


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

        # the random fields in their historical order; what depends on the land cover is
        # derived after the mines, which turn the land under them into steppe
        fv_noise = smooth_noise(rng, shape, 1.5)
        greening_noise = smooth_noise(rng, shape, n / 6)
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
        # clipped after the draw, so the random stream (and all that follows) is unchanged
        self.restored_cover = np.maximum(0.33 + 0.05 * smooth_noise(rng, shape, 3),
                                         RESTORED_COVER_MIN).astype(np.float32)
        self._rasterize_mines()

        # mines sit on vegetated steppe: barren patches under a footprint are grassland
        # (placement already refused water and the town), and the cover there is at least
        # MINE_COVER_FLOOR, fading out outside so no footprint shows before it opens
        in_mine = self.mine_id > 0
        lulc[in_mine & ~np.isin(lulc, [CROPLAND, FOREST, SHRUB, GRASSLAND])] = GRASSLAND
        cover = np.zeros(256, np.float32)
        for cls, value in VEGETATED_COVER.items():
            cover[cls] = value
        fv = cover[lulc] + 0.05 * texture * (lulc == GRASSLAND) + 0.02 * fv_noise
        if in_mine.any():
            dist = ndimage.distance_transform_edt(~in_mine)
            weight = np.clip(1 - dist / MINE_FLOOR_RAMP_PX, 0, 1)
            fv = np.maximum(fv, MINE_COVER_FLOOR * weight)
        self.fv_base = np.clip(fv, 0.0, 0.9).astype(np.float32)
        greenable = np.isin(lulc, [CROPLAND, FOREST, SHRUB, GRASSLAND])
        self.greening_rate = (
            config.greening_per_year * np.clip(1 + 0.5 * greening_noise, 0, 2) * greenable
        ).astype(np.float32)
        self.background = np.where(lulc == WATER, OPEN_WATER, np.where(lulc == IMPERVIOUS, URBAN, LOESS)).astype(np.uint8)

    def _rasterize_mines(self) -> None:
        """Per-pixel mine id, zone and the years of the strip each pixel centre lies in."""
        shape, t = self.grid.shape, self.grid.transform
        for mine in self.mines:
            mask = rasterize([(mine.footprint, 1)], out_shape=shape, transform=t, dtype="uint8").astype(bool)
            rows, cols = np.nonzero(mask)
            u = mine.along_axis(self.grid.x[cols], self.grid.y[rows])
            self.mine_id[rows, cols] = mine.mine_id
            # the pit and dump strips partition the footprint's long axis: each pixel
            # takes the strip its centre lies in (the last strip beyond the edges)
            for zone in (1, 2):
                strips = [s for s in mine.strips if s.zone == zone]
                lower = np.array([s.u0 for s in strips])
                order = np.argsort(lower)
                idx = np.clip(np.searchsorted(lower[order], u, side="right") - 1, 0, len(strips) - 1)
                pick = np.array(order)[idx]
                sel = (u < mine.split) if zone == 1 else (u >= mine.split)
                r, c, k = rows[sel], cols[sel], pick[sel]
                self.zone[r, c] = zone
                self.destruction_year[r, c] = np.array([strips[i].year for i in k], np.int16)
                self.restoration_year[r, c] = np.array([strips[i].restoration_year or 0 for i in k], np.int16)

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
            if not self._on_steppe(outline):
                continue
            split = cx - length / 2 + length * rng.uniform(0.4, 0.6)
            pit = affinity.rotate(box(cx - length / 2, cy - width / 2, split, cy + width / 2), angle, origin=(cx, cy))
            dump = affinity.rotate(box(split, cy - width / 2, cx + length / 2, cy + width / 2), angle, origin=(cx, cy))
            first = y0 + 2
            if cfg.modis:  # five MOD17A3HGF years (from 2001) before a mine opens: the undisturbed
                first = max(first, MODIS_FIRST_YEAR + 5)  # regression of study 002 Eqs. 3-4 needs them
            open_year = int(rng.integers(first, max(first + 1, y0 + int(0.55 * (y1 - y0)) + 1)))
            lag = int(rng.integers(4, 9))          # dump stage -> its restoration, years
            restores = len(mines) % 3 != 2
            mine_id = len(mines) + 1
            mine = Mine(mine_id, f"Mine {mine_id:03d}", pit, dump, open_year, None, (cx, cy), angle, width,
                        split - cx)
            mine.strips = self._strips(mine, length, lag if restores else None)
            restored = [s.restoration_year for s in mine.strips if s.restoration_year]
            mine.restoration_year = min(restored) if restored else None
            mines.append(mine)
        return mines

    def _on_steppe(self, outline: Polygon) -> bool:
        """A mine may sit on vegetated land only: no water or town within 90 m of it, and at
        most a fifth of it on barren sand (which becomes grassland under it)."""
        t = self.grid.transform
        minx, miny, maxx, maxy = outline.buffer(90).bounds
        c0, r0 = (int(np.floor(v)) for v in ~t @ (minx, maxy))
        c1, r1 = (int(np.ceil(v)) for v in ~t @ (maxx, miny))
        ny, nx = self.grid.shape
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, nx), min(r1, ny)
        if c1 <= c0 or r1 <= r0:
            return False
        window = t @ Affine.translation(c0, r0)
        lulc = self.lulc_base[r0:r1, c0:c1]
        near = rasterize([(outline.buffer(90), 1)], out_shape=lulc.shape, transform=window, dtype="uint8") > 0
        inside = rasterize([(outline, 1)], out_shape=lulc.shape, transform=window, dtype="uint8") > 0
        if np.isin(lulc[near], [WATER, IMPERVIOUS]).any():
            return False
        return not inside.any() or float((lulc[inside] == BARREN).mean()) <= 0.2

    def _strips(self, mine: Mine, length: float, lag: int | None) -> list[Strip]:
        """The pit advances away from the dump in bands across the long axis, a few a
        year over several years; the dump grows outward in step; a restoring mine
        restores each dump stage ``lag`` years after it was dumped. Every stage opens
        by the second-last year, so each destruction is seen bare at least twice."""
        y1 = self.config.years[1]
        rng = np.random.default_rng([self.config.seed, 11, mine.mine_id])
        lo, hi = self.config.mine_advance_years
        n_years = int(min(rng.integers(lo, hi + 1), max(y1 - 1 - mine.open_year + 1, 1)))
        per_year_pit, per_year_dump = int(rng.integers(2, 4)), int(rng.integers(1, 3))
        strips = []
        for zone, per_year, (lo, hi), outward in ((1, per_year_pit, (-length / 2, mine.split), -1),
                                                  (2, per_year_dump, (mine.split, length / 2), 1)):
            for i, (u0, u1) in enumerate(_stages(rng, lo, hi, n_years * per_year, outward)):
                year = mine.open_year + i // per_year
                restored = year + lag if (zone == 2 and lag is not None and year + lag <= y1 - 1) else None
                strips.append(Strip(zone, float(u0), float(u1), year, restored))
        return strips

    # -- per-year truth ------------------------------------------------------
    def cover(self, year: int, undisturbed: bool = False) -> np.ndarray:
        """Peak-season fractional vegetation cover in ``year`` (``undisturbed``: as if no
        mine had ever opened)."""
        y0 = self.config.years[0]
        fv = self.fv_base + self.greening_rate * (year - y0) + 0.05 * self.precip_anomaly[year] * (self.fv_base > 0.03)
        if not undisturbed:
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

    def npp(self, year: int, undisturbed: bool = False) -> np.ndarray:
        """True annual NPP, gC m-2 yr-1 (0 on water); ``undisturbed``: with the cover the
        pixel would have had if never mined."""
        npp = (15 + 560 * self.cover(year, undisturbed)) * (1 + 0.3 * self.precip_anomaly[year])
        if not undisturbed:  # destroyed land fixes no carbon (study 002 sets its NPP to 0)
            npp = np.where(self.destroyed(year), 0.0, npp)
        return np.where(self.lulc_base == WATER, 0.0, npp).astype(np.float32)

    def destroyed(self, year: int) -> np.ndarray:
        """Pixels destroyed by mining and not (yet) restored in ``year``."""
        d = (self.destruction_year > 0) & (self.destruction_year <= year)
        return d & ~((self.restoration_year > 0) & (self.restoration_year <= year))

    def modis_background(self, year: int) -> np.ndarray:
        """The NPP MOD17 reads over destroyed land (g C m-2 yr-1) although it fixes none: its
        500 m land-cover and FPAR inputs lag the mine front. This is the NPP_bg study 002
        samples from wholly destroyed cells and removes by Eq. 1: a smooth field of about
        40 g C m-2 yr-1 (25-55), scaled by the year's rain like the vegetation."""
        ny, nx = self.grid.shape
        yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
        phase = 2 * np.pi * (xx / max(nx, 1) + 0.5 * yy / max(ny, 1))
        return ((40 + 15 * np.sin(phase)) * (1 + 0.3 * self.precip_anomaly[year])).astype(np.float32)

    def vcs(self, year: int, undisturbed: bool = False) -> np.ndarray:
        """True vegetation carbon sequestration, g CO2 m-2 yr-1: NPP x 2.2 x 1.63 (study 002 Eq. 2)."""
        return (self.npp(year, undisturbed) * np.float32(NPP_TO_VCS)).astype(np.float32)

    def month_phenology(self, year: int) -> np.ndarray:
        """Mean green share of peak cover (``landsat.phenology``) over each month's days (12)."""
        from .landsat import phenology  # landsat imports this module

        start = np.cumsum([0, *MONTH_DAYS(year)])
        return np.array([np.mean([phenology(d) for d in np.arange(start[m] + 1, start[m + 1] + 1, dtype=float)])
                         for m in range(12)])

    def month_weights(self, year: int) -> np.ndarray:
        """Share of a year's NPP in each month (12, summing to one): the month's mean
        phenology (green share of peak cover) where the month's mean air temperature is
        above 0 degC, nothing in freezing months."""
        start = np.cumsum([0, *MONTH_DAYS(year)])
        phen = self.month_phenology(year)
        w = np.zeros(12)
        for m in range(12):
            if self.air_temperature(year, start[m] + 15.0) > 0:
                w[m] = phen[m]
        return w / w.sum()

    def monthly_ndvi(self, year: int, rows: slice | None = None) -> np.ndarray:
        """True monthly NDVI (12, ny, nx), float32: the noise-free NDVI of
        :meth:`reflectance` at each month's mean phenology (:meth:`month_phenology`), as
        a scene of that stage would show it without noise, clouds or snow. ``rows``: only
        those grid rows (the CASA truth is made a block of rows at a time)."""
        rows = slice(None) if rows is None else rows
        fv = self.cover(year)[rows]
        bg = BACKGROUNDS[self.surface(year)[rows]]
        water = self.lulc_base[rows] == WATER
        out = np.empty((12, *fv.shape), np.float32)
        for m, phen in enumerate(self.month_phenology(year)):
            f = fv * np.float32(phen)
            # the red and NIR bands of reflectance(year, phen), same float32 arithmetic
            red = f * VEGETATION[2] + (1 - f) * bg[..., 2]
            nir = f * VEGETATION[3] + (1 - f) * bg[..., 3]
            red[water], nir[water] = BACKGROUNDS[OPEN_WATER][2], BACKGROUNDS[OPEN_WATER][3]
            out[m] = (nir - red) / (nir + red)
        return out

    def npp_monthly(self, year: int) -> np.ndarray:
        """True monthly NPP (12, ny, nx), gC m-2 month-1: the annual NPP spread over the
        months by :meth:`month_weights` (sums to :meth:`npp` of the year)."""
        return (self.npp(year)[None] * self.month_weights(year)[:, None, None].astype(np.float32)).astype(np.float32)

    def target(self) -> np.ndarray:
        """1 where a planted destruction is detectable: true peak NDVI >= 0.25 the year
        before and < 0.2 in the destruction year, opened by the second-last year."""
        out = np.zeros(self.grid.shape, np.uint8)
        y0, y1 = self.config.years
        for d in np.unique(self.destruction_year[self.destruction_year > 0]):
            d = int(d)
            if d - 1 < y0 or d > y1 - 1:
                continue
            sel = self.destruction_year == d
            ok = (self.ndvi(d - 1) >= TARGET_VEGETATED_NDVI) & (self.ndvi(d) < TARGET_BARE_NDVI)
            out[sel & ok] = 1
        return out

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
