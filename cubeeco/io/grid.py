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
    def snapped(cls, epsg: int, resolution: float, bounds) -> Grid:
        """The smallest grid aligned to multiples of ``resolution`` that covers ``bounds``."""
        minx, miny, maxx, maxy = bounds
        r = resolution
        return cls(epsg, r, (math.floor(minx / r) * r, math.floor(miny / r) * r,
                             math.ceil(maxx / r) * r, math.ceil(maxy / r) * r))

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
