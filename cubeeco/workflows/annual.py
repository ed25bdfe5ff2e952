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
    bbox: Sequence[float] | None = None,
    years: tuple[int, int] | None = None,
    method: str = "median",
    months: Sequence[int] = (6, 7, 8, 9),
    max_cloud: float | None = None,
    chunksize: int = 512,
    unreadable: str = "raise",
) -> tuple[xr.Dataset, list]:
    """Annual growing-season composites for ``grid`` (lazy) and the STAC items used.

    Both corrections are searched: L2SR scenes (no surface temperature) add their
    reflectance to the composites and leave ``lwir`` to the L2SP scenes; over an
    L2SR-only area ``lwir`` (and LST) is NaN, with a warning and the count in the
    ``provenance:missing_assets`` attr. ``unreadable``: ``"raise"`` (default) or
    ``"skip"``, as for :func:`cubeeco.io.cube.open_cube`.

    The search covers ``grid`` (its lon/lat bounds), else ``bbox`` (west, south, east,
    north in degrees; the grid is then the found scenes' native one). With neither, a
    STAC API (a URL or an endpoint name) is refused: it would be asked for every scene
    of the collection. A local catalog is searched whole and the grid taken from its items.
    """
    if grid is not None:
        bbox = list(grid.lonlat_bounds())
    elif bbox is None and _is_api(source):
        from ..redact import redact

        raise ValueError(f"no analysis grid: the search would ask {redact(str(source))} for every "
                         f"landsat-c2-l2 scene; pass grid= to search only its area (or, from Python, the "
                         f"bbox argument: west, south, east, north in degrees).")
    when = f"{years[0]}-01-01/{years[1]}-12-31" if years else None
    items = search("landsat-c2-l2", source=source, bbox=None if bbox is None else list(bbox), datetime=when,
                   max_cloud=max_cloud)
    cube = open_cube(items, grid=grid, chunksize=chunksize, unreadable=unreadable)
    annual = annual_composite(cube, method=method, months=months)
    return annual, list(items)


def _is_api(source) -> bool:
    """Whether ``source`` names a STAC API (an http(s) URL or a known endpoint), not a catalog file."""
    from ..io.search import ENDPOINTS

    s = str(source) if source is not None else ""
    return s in ENDPOINTS or s.startswith(("http://", "https://"))
