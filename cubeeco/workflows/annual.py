"""The annual cube: search -> lazy Landsat cube -> growing-season composites."""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from ..io.composite import annual_composite
from ..io.cube import open_cube
from ..io.grid import Grid
from ..io.search import search


def build_annual_cube(
    *,
    source=None,
    grid: Grid | None = None,
    years: tuple[int, int] | None = None,
    method: str = "median",
    months: Sequence[int] = (6, 7, 8, 9),
    max_cloud: float | None = None,
    chunksize: int = 512,
) -> tuple[xr.Dataset, list]:
    """Annual growing-season composites for ``grid`` (lazy) and the STAC items used."""
    bbox = list(grid.lonlat_bounds()) if grid is not None else None
    when = f"{years[0]}-01-01/{years[1]}-12-31" if years else None
    items = search("landsat-c2-l2", source=source, bbox=bbox, datetime=when, max_cloud=max_cloud,
                   query={"landsat:correction": {"eq": "L2SP"}})
    cube = open_cube(items, grid=grid, chunksize=chunksize)
    annual = annual_composite(cube, method=method, months=months)
    return annual, list(items)
