"""The analysis grid: one CRS, resolution and bounds per run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from affine import Affine


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid. ``bounds`` = (minx, miny, maxx, maxy) in CRS units.

    Bounds must be whole multiples of ``resolution`` apart so that every run on the
    same grid lines its pixels up exactly (no half-pixel snapping surprises).

    The CRS is an EPSG code on purpose: stackstac 0.5.1 warps only to EPSG-coded
    output grids, and the stores' CF grid mapping is written from it. Inputs in CRSs
    without one (MODIS sinusoidal, WKT2/PROJJSON-only items) are reprojected onto it.
    """

    epsg: int
    resolution: float
    bounds: tuple[float, float, float, float]

    def __post_init__(self):
        minx, miny, maxx, maxy = self.bounds
        if not (maxx > minx and maxy > miny):
            raise ValueError(f"Grid bounds must be (minx, miny, maxx, maxy) with max > min, got {self.bounds}.")
        if self.resolution <= 0:
            raise ValueError(f"Grid resolution must be positive, got {self.resolution}.")
        for name, span in (("width", maxx - minx), ("height", maxy - miny)):
            cells = span / self.resolution
            if abs(cells - round(cells)) > 1e-6:
                raise ValueError(
                    f"Grid {name} {span} is not a whole number of {self.resolution} m pixels; "
                    f"adjust bounds (e.g. with Grid.snapped)."
                )
        object.__setattr__(self, "bounds", tuple(float(b) for b in self.bounds))

    @classmethod
    def snapped(cls, epsg: int, resolution: float, bounds, anchor=(0.0, 0.0)) -> Grid:
        """The smallest grid covering ``bounds`` whose pixel corners sit at ``anchor`` modulo
        ``resolution`` (default: multiples of ``resolution``).

        USGS Collection 2 corners sit at 15 m mod 30 m, so a grid for Landsat scenes
        snaps with ``anchor=(15, 15)``; ``grid_from_items`` finds the anchor itself.
        """
        minx, miny, maxx, maxy = bounds
        r = resolution
        ax, ay = (float(a) % r for a in anchor)

        def down(v, a):   # tolerate float noise: 518685.0000001 stays on its pixel edge
            k = (v - a) / r
            return a + (round(k) if abs(k - round(k)) < 1e-6 else math.floor(k)) * r

        def up(v, a):
            k = (v - a) / r
            return a + (round(k) if abs(k - round(k)) < 1e-6 else math.ceil(k)) * r

        return cls(epsg, r, (down(minx, ax), down(miny, ay), up(maxx, ax), up(maxy, ay)))

    @property
    def shape(self) -> tuple[int, int]:
        minx, miny, maxx, maxy = self.bounds
        return (round((maxy - miny) / self.resolution), round((maxx - minx) / self.resolution))

    @property
    def transform(self) -> Affine:
        return Affine(self.resolution, 0.0, self.bounds[0], 0.0, -self.resolution, self.bounds[3])

    @property
    def x(self) -> np.ndarray:
        """Pixel-centre x coordinates."""
        return self.bounds[0] + (np.arange(self.shape[1]) + 0.5) * self.resolution

    @property
    def y(self) -> np.ndarray:
        """Pixel-centre y coordinates, north to south."""
        return self.bounds[3] - (np.arange(self.shape[0]) + 0.5) * self.resolution

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"

    @property
    def pixel_area_m2(self) -> float:
        return self.resolution**2

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """Bounds in WGS84 (densified edges), for STAC bbox searches."""
        from rasterio.warp import transform_bounds

        return tuple(transform_bounds(self.crs, "EPSG:4326", *self.bounds, densify_pts=21))

    def to_dict(self) -> dict:
        return {**asdict(self), "bounds": list(self.bounds)}

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        unknown = set(d) - {"epsg", "resolution", "bounds"}
        if unknown:
            raise ValueError(f"grid: unknown key(s) {sorted(unknown)}; expected epsg, resolution, bounds.")
        return cls(int(d["epsg"]), float(d["resolution"]), tuple(d["bounds"]))
