"""The stage registry: adding a stage is one decorated function.

A stage declares the groups it reads (``inputs``), its parameters with defaults and
a ``version``; it returns a lazy Dataset on the run's grid, which the runner writes
as the Zarr group of the same name, region by region.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import xarray as xr


@dataclass(frozen=True)
class Stage:
    name: str
    func: Callable
    inputs: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)
    version: str = "1"
    description: str = ""


STAGES: dict[str, Stage] = {}


def stage(name: str, *, inputs=(), params=None, version: str = "1"):
    """Register ``func(ctx, **params) -> xr.Dataset`` as the stage ``name``."""

    def register(func):
        STAGES[name] = Stage(name, func, tuple(inputs), dict(params or {}), version,
                             (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "")
        return func

    return register


def execution_order(steps, external=()) -> list[str]:
    """Steps plus the stages they need, inputs first (stable, depth-first).

    A stage in ``external`` is read from elsewhere, so what it needs is not pulled in.
    """
    order: list[str] = []

    def visit(name, chain=()):
        if name in chain:
            raise ValueError(f"stage dependency cycle: {' -> '.join((*chain, name))}")
        if name in order:
            return
        if name not in external:
            for dep in STAGES[name].inputs:
                visit(dep, (*chain, name))
        order.append(name)

    for s in steps:
        visit(s)
    return order


# -- built-in stages ------------------------------------------------------------------
@stage("annual", params={"method": "median", "months": [6, 7, 8, 9], "max_cloud": None,
                         "indices": ["ndvi", "wet", "ndbsi", "lst"]})
def annual_stage(ctx, method, months, max_cloud, indices) -> xr.Dataset:
    """Annual growing-season composites of Landsat C2 L2, with spectral indices."""
    from ..workflows.annual import build_annual_cube

    annual, items = build_annual_cube(source=ctx.source, grid=ctx.grid, years=ctx.years, method=method,
                                      months=months, max_cloud=max_cloud, chunksize=ctx.chunks)
    ctx.record_items(items)
    if indices:
        from ..ops.indices import spectral_indices

        annual = annual.merge(spectral_indices(annual, names=tuple(indices)))
    return annual


@stage("ndvi_trend", inputs=("annual",), params={"variable": "ndvi", "alpha": 0.05})
def trend_stage(ctx, variable, alpha) -> xr.Dataset:
    """Theil-Sen slope, Mann-Kendall test and OLS of an annual variable."""
    from ..ops.trend import trend

    return trend(ctx.open("annual")[variable], dim="time", alpha=alpha)


@stage("disturbance", inputs=("annual",), params={"threshold": 0.2, "persistence": 2})
def disturbance_stage(ctx, threshold, persistence) -> xr.Dataset:
    """Vegetation destruction and restoration years from annual NDVI."""
    from ..ops.scale import destruction_restoration_years

    return destruction_restoration_years(ctx.open("annual")["ndvi"], threshold=threshold,
                                         persistence=persistence, dim="time")


@stage("modis_npp", params={"resampling": "nearest"})
def modis_npp_stage(ctx, resampling) -> xr.Dataset:
    """MOD17A3HGF annual NPP on the grid, and vegetation carbon sequestration (VCS)."""
    from ..io.cube import open_npp
    from ..io.search import search
    from ..ops.scale import vcs

    when = f"{ctx.years[0]}/{ctx.years[1]}" if ctx.years else None
    items = search("modis-17A3HGF-061", source=ctx.source, bbox=list(ctx.grid.lonlat_bounds()), datetime=when)
    ctx.record_items(items)
    npp = open_npp(items, grid=ctx.grid, resampling=resampling, chunksize=ctx.chunks)
    return xr.Dataset({"npp": npp, "vcs": vcs(npp)})


@stage("land_cover")
def land_cover_stage(ctx) -> xr.Dataset:
    """Annual land-cover classes on the grid (nearest neighbour)."""
    from ..io.cube import open_land_cover
    from ..io.search import search

    when = f"{ctx.years[0]}/{ctx.years[1]}" if ctx.years else None
    items = search("synthetic-clcd", source=ctx.source, bbox=list(ctx.grid.lonlat_bounds()), datetime=when)
    ctx.record_items(items)
    return open_land_cover(items, grid=ctx.grid, chunksize=ctx.chunks).to_dataset()
