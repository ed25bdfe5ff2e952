"""The stage registry: adding a stage is one decorated function.

A stage declares the groups it reads (``inputs``), its parameters with defaults, a
``version``, what it produces (``output``) and, optionally, a global reduction it needs
first (``reduce``) and the zone layers it reads (``zones``, e.g. the mine polygons):

* ``output="raster"`` (default): the stage returns a lazy Dataset on the run's grid,
  which the runner writes as the Zarr group of the same name, region by region;
* ``output="table"``: it returns a pandas DataFrame (the table named after the stage) or
  a dict of them; they are stored in the stage's group and exported as CSV
  (:mod:`cubeeco.io.tables`);
* ``output="raster+table"``: it returns :class:`Outputs` (a raster and tables).

``reduce(ctx, **params) -> xr.Dataset`` is a global reduction over the whole area (min
and max, percentiles, a covariance matrix, per-class bounds): the runner computes it once,
stores it as the group ``<stage>.reduced`` with its own fingerprint, and hands it to the
stage as ``ctx.reduced`` (in memory), so the per-region pass never recomputes it and a
resumed run reads it back.

A parameter is declared as a plain default (``"alpha": 0.05``: any value of the
default's type is accepted) or as a :class:`Param` with a checker, so that a run
configuration is checked before anything is computed (:func:`check_params`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import xarray as xr


@dataclass(frozen=True)
class Param:
    """A stage parameter: its default and a checker.

    ``check(value, run)`` raises ``ValueError`` with the reason (``"expected a number
    in (0, 1), got 'abc'"``) when ``value`` is unusable; ``run`` is the RunConfig, for
    checks that depend on other stages (the trend stage's ``variable``).
    """

    default: Any
    check: Callable[[Any, Any], None] | None = None
    help: str = ""                  # one line for the docs
    file: bool = False              # a path (relative to the config): its content joins the fingerprint


OUTPUT_KINDS = ("raster", "table", "raster+table")


@dataclass(frozen=True)
class Stage:
    name: str
    func: Callable
    inputs: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)     # name -> default
    version: str = "1"
    description: str = ""
    specs: dict = field(default_factory=dict)      # name -> Param
    check: Callable | None = None                  # check(params, run): needs across stages
    output: str = "raster"                         # one of OUTPUT_KINDS
    reduce: Callable | None = None                 # reduce(ctx, **params) -> xr.Dataset, run once
    zones: tuple[str, ...] = ()                    # zone layers read (ctx.zones(name))

    @property
    def makes_raster(self) -> bool:
        return "raster" in self.output

    @property
    def makes_tables(self) -> bool:
        return "table" in self.output


@dataclass
class Outputs:
    """What a ``raster+table`` stage returns: a Dataset on the grid and {name: DataFrame}."""

    raster: xr.Dataset | None = None
    tables: dict = field(default_factory=dict)


STAGES: dict[str, Stage] = {}

REDUCED = ".reduced"    # the group of a stage's global reduction: "<stage>.reduced"


def stage(name: str, *, inputs=(), params=None, version: str = "1", check=None, output: str = "raster",
          reduce=None, zones=()):
    """Register ``func(ctx, **params)`` as the stage ``name`` (see the module docstring).

    ``params`` maps a name to a default or to a :class:`Param`; ``check(params, run)``
    (optional) raises ``ValueError`` when the run cannot give the stage what it needs.
    """
    if output not in OUTPUT_KINDS:
        raise ValueError(f"stage {name!r}: output must be one of {OUTPUT_KINDS}, got {output!r}.")
    if not name.isidentifier():
        raise ValueError(f"stage name {name!r} must be an identifier (letters, digits, '_').")

    def register(func):
        specs = {k: v if isinstance(v, Param) else Param(v, _like(v)) for k, v in (params or {}).items()}
        STAGES[name] = Stage(name, func, tuple(inputs), {k: p.default for k, p in specs.items()}, version,
                             (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "",
                             specs, check, output, reduce, tuple(zones))
        return func

    return register


# -- parameter checkers: each returns check(value, run), raising ValueError(reason) -----------
def _show(value) -> str:
    return f"{type(value).__name__} ({value!r})"


def _like(default):
    """The checker of a parameter declared by its default only: same type (None: anything)."""
    if default is None:
        return None
    if isinstance(default, bool):
        return boolean()
    if isinstance(default, (int, float)):
        return number(integer=isinstance(default, int))
    kind = type(default)

    def check(value, run):
        if not isinstance(value, kind):
            raise ValueError(f"expected {kind.__name__} (like the default {default!r}), got {_show(value)}.")

    return check


def boolean():
    def check(value, run):
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_show(value)}.")

    return check


def number(lo=None, hi=None, *, integer=False, open_lo=False, open_hi=False, optional=False):
    """A finite number (an int if ``integer``) in [lo, hi] (open ends if asked); None if ``optional``."""
    what = "an integer" if integer else "a number"
    if lo is not None and hi is not None:
        what += f" in {'(' if open_lo else '['}{lo}, {hi}{')' if open_hi else ']'}"
    elif lo is not None:
        what += f" {'>' if open_lo else '>='} {lo}"
    elif hi is not None:
        what += f" {'<' if open_hi else '<='} {hi}"

    def check(value, run):
        if value is None and optional:
            return
        ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
        ok = ok and math.isfinite(value)
        if ok and lo is not None:
            ok = value > lo if open_lo else value >= lo
        if ok and hi is not None:
            ok = value < hi if open_hi else value <= hi
        if not ok:
            raise ValueError(f"expected {what}{' or null' if optional else ''}, got {_show(value)}.")

    return check


def one_of(choices):
    """One of ``choices`` (a tuple, or a function of the run returning one)."""

    def check(value, run):
        allowed = choices(run) if callable(choices) else choices
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {list(allowed)}.")

    return check


def names(choices, *, empty=True):
    """A list of distinct names, each one of ``choices`` (a tuple, or a function of the run)."""

    def check(value, run):
        allowed = choices(run) if callable(choices) else choices
        if not isinstance(value, list):
            raise ValueError(f"expected a list of names from {list(allowed)}, got {_show(value)}.")
        bad = [v for v in value if v not in allowed]
        if bad:
            raise ValueError(f"unknown name(s) {bad}; choose from {list(allowed)}.")
        if len(set(value)) != len(value):
            raise ValueError(f"names repeat in {value}.")
        if not value and not empty:
            raise ValueError(f"list at least one of {list(allowed)}.")

    return check


def text():
    """A non-empty string."""

    def check(value, run):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a non-empty string, got {_show(value)}.")

    return check


def months():
    def check(value, run):
        ok = isinstance(value, list) and value and all(
            isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in value)
        if not ok or len(set(value)) != len(value):
            raise ValueError(f"expected a list of distinct month numbers 1-12 (e.g. [6, 7, 8, 9]), "
                             f"got {_show(value)}.")

    return check


def check_params(run) -> None:
    """Check every parameter of every stage the run executes (given or default), the ones
    given for other stages, and what each stage needs from the others; raise
    ``ConfigError`` naming the key path."""
    from .config import ConfigError

    order = execution_order(run.steps, external=set(run.inputs))
    for name in [*order, *(s for s in run.params if s not in order)]:
        if name in run.inputs:
            continue
        st, given, runs = STAGES[name], run.params.get(name, {}), name in order
        values = run.step_params(name)
        for key, spec in st.specs.items():
            if spec.check is None or not (runs or key in given):
                continue
            where = f"params.{name}.{key}" + ("" if key in given else f" (default {spec.default!r})")
            try:
                spec.check(values[key], run)
            except ValueError as err:
                raise ConfigError(f"{where}: {err}") from None
        if runs and st.check is not None:
            try:
                st.check(values, run)
            except ValueError as err:
                raise ConfigError(str(err)) from None


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


# -- what the annual stage makes, for the checks of the stages that read it -------------
ANNUAL_BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22", "lwir", "clear_count")


def _index_names(run):
    from ..ops.indices import INDEX_NAMES

    return INDEX_NAMES


def _npp_resampling(value, run) -> None:
    from ..io.cube import check_npp_resampling

    check_npp_resampling(value)


def annual_variables(run) -> tuple[str, ...] | None:
    """The variables the run's annual group will hold; None when it comes from ``inputs:``
    (then the stage that reads it checks, before computing)."""
    if "annual" in run.inputs:
        return None
    return (*ANNUAL_BANDS, *(run.step_params("annual")["indices"] or ()))


def _annual_variable(value, run):
    known = annual_variables(run)
    if known is not None and value not in known:
        raise ValueError(f"{value!r} is not a variable of the annual stage; choose one of {list(known)} "
                         f"(an index must also be listed in params.annual.indices).")


def _reads_annual_ndvi(stage_name: str):
    def check(params, run):
        known = annual_variables(run)
        if known is not None and "ndvi" not in known:
            raise ValueError(f"steps: {stage_name} reads ndvi from the annual stage, which does not make "
                             f"it; add ndvi to params.annual.indices.")

    return check


def _annual_var(ctx, variable: str, where: str) -> xr.DataArray:
    """A variable of the annual group (lazy), or a ConfigError naming ``where`` and what it has."""
    from .config import ConfigError

    annual = ctx.open("annual")
    if variable not in annual.data_vars:
        raise ConfigError(f"{where}: the annual group of {ctx.store_of('annual')} has no {variable!r}; "
                          f"it has {sorted(map(str, annual.data_vars))}.")
    return annual[variable]


# -- built-in stages ------------------------------------------------------------------
@stage("annual", params={
    "method": Param("median", one_of(("median", "max_ndvi"))),
    "months": Param([6, 7, 8, 9], months()),
    "max_cloud": Param(None, number(0, 100, optional=True), "keep scenes with eo:cloud_cover <= this"),
    "indices": Param(["ndvi", "wet", "ndbsi", "lst"], names(_index_names)),
    "unreadable": Param("raise", one_of(("raise", "skip")),
                        "an asset file that cannot be read: fail naming it, or skip its scene"),
})
def annual_stage(ctx, method, months, max_cloud, indices, unreadable) -> xr.Dataset:
    """Annual growing-season composites of Landsat C2 L2, with spectral indices."""
    from ..workflows.annual import build_annual_cube

    annual, items = build_annual_cube(source=ctx.source, grid=ctx.grid, years=ctx.years, method=method,
                                      months=months, max_cloud=max_cloud, chunksize=ctx.chunks,
                                      unreadable=unreadable)
    ctx.record_items(items)
    if indices:
        from ..ops.indices import spectral_indices

        annual = annual.merge(spectral_indices(annual, names=tuple(indices)))
    return annual


@stage("ndvi_trend", inputs=("annual",), params={
    "variable": Param("ndvi", _annual_variable, "a variable of the annual group"),
    "alpha": Param(0.05, number(0, 1, open_lo=True, open_hi=True), "significance level"),
})
def trend_stage(ctx, variable, alpha) -> xr.Dataset:
    """Theil-Sen slope, Mann-Kendall test and OLS of an annual variable."""
    from ..ops.trend import trend

    return trend(_annual_var(ctx, variable, "params.ndvi_trend.variable"), dim="time", alpha=alpha)


@stage("max_ndvi", params={
    "months": Param([7, 8, 9], months(), "the months whose maximum NDVI is taken (study 002: July-September)"),
    "max_cloud": Param(None, number(0, 100, optional=True), "keep scenes with eo:cloud_cover <= this"),
    "unreadable": Param("raise", one_of(("raise", "skip")),
                        "an asset file that cannot be read: fail naming it, or skip its scene"),
}, version="1")
def max_ndvi_stage(ctx, months, max_cloud, unreadable) -> xr.Dataset:
    """Annual maximum growing-season NDVI (study 002: July-September), for vegetation disturbance."""
    from ..ops.indices import spectral_indices
    from ..workflows.annual import build_annual_cube

    annual, items = build_annual_cube(source=ctx.source, grid=ctx.grid, years=ctx.years, method="max_ndvi",
                                      months=months, max_cloud=max_cloud, chunksize=ctx.chunks,
                                      unreadable=unreadable)
    ctx.record_items(items)
    ndvi = spectral_indices(annual, names=("ndvi",))["ndvi"]
    ndvi.attrs.update(long_name=f"annual maximum NDVI of months {months}", cell_methods="time: maximum")
    return xr.Dataset({"ndvi": ndvi, "clear_count": annual["clear_count"]}, attrs=_provenance_attrs(ndvi))


def _year_raster_path(value, run) -> None:
    """A disturbance stage raster parameter: null, or a readable single-band GeoTIFF with a CRS."""
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected null or the path of a GeoTIFF / COG of years, got {_show(value)}.")
    from ..io.rasters import check_raster

    try:
        check_raster(run.path(value))
    except FileNotFoundError:
        raise ValueError(f"expected null or the path of a GeoTIFF / COG of years, got {value!r} "
                         f"({run.path(value)} does not exist).") from None


def _disturbance_check(params, run) -> None:
    window, persistence = params.get("window"), params.get("persistence", 2)
    if window is not None and window < persistence:
        raise ValueError(f"params.disturbance.window ({window}) must be >= persistence ({persistence}).")
    if params.get("restoration_raster") is not None and params.get("raster") is None:
        raise ValueError("params.disturbance.restoration_raster needs params.disturbance.raster (the "
                         "destruction years): restorations without destructions are dropped.")


@stage("disturbance", inputs=("max_ndvi",), version="2", check=_disturbance_check, params={
    "threshold": Param(0.2, number(-1, 1), "NDVI α: at or above vegetated, below bare (study 002)"),
    "persistence": Param(2, number(1, integer=True), "years against the state that confirm a change"),
    "window": Param(None, number(1, integer=True, optional=True),
                    "of how many years from the first one (null: persistence, i.e. in a row)"),
    "ends": Param("accept", one_of(("accept", "confirm")),
                  "a change too close to the last year to be confirmed: accept it (study 002) or drop it"),
    "dating": Param("threshold", one_of(("threshold", "break")),
                    "date a change at its first year across α (study 002), or move it one year back when that "
                    "year lies nearer the new state's NDVI level (the least-squares break; docs/disturbance.md)"),
    "raster": Param(None, _year_raster_path, "a GeoTIFF / COG of destruction years (T_D) to use instead of "
                                              "detecting them from max NDVI; null: detect", file=True),
    "restoration_raster": Param(None, _year_raster_path, "a GeoTIFF / COG of restoration years (T_R), with "
                                                          "raster; null: no restorations", file=True),
})
def disturbance_stage(ctx, threshold, persistence, window, ends, dating, raster, restoration_raster) -> xr.Dataset:
    """Vegetation destruction and restoration, every cycle, and the state of each pixel per year
    (study 002), from the annual maximum July-September NDVI or the user's year rasters."""
    from ..ops.disturbance import disturbance_from_raster, vegetation_disturbance

    ndvi = ctx.open("max_ndvi")["ndvi"]
    if raster is None:
        return vegetation_disturbance(ndvi, threshold=threshold, persistence=persistence, window=window,
                                      ends=ends, dating=dating, dim="time")
    from ..io.rasters import open_raster

    # read onto the run's grid by nearest neighbour; the state axis takes max_ndvi's years
    td = open_raster(ctx.config.path(raster), grid=ctx.grid, chunksize=ctx.chunks, name="destruction_year")
    tr = None if restoration_raster is None else open_raster(
        ctx.config.path(restoration_raster), grid=ctx.grid, chunksize=ctx.chunks, name="restoration_year")
    ds = disturbance_from_raster(td, tr, ndvi["time"], dim="time")
    return ds.assign_attrs(destruction_raster=str(raster),
                           restoration_raster="" if restoration_raster is None else str(restoration_raster))


@stage("modis_npp", version="2", params={
    "resampling": Param("nearest", _npp_resampling,
                        "nearest only: other resamplings blend MOD17 fill and class codes into NPP"),
    "product": Param("terra", one_of(("terra", "aqua")), "MOD17A3HGF (terra) or MYD17A3HGF (aqua)"),
})
def modis_npp_stage(ctx, resampling, product) -> xr.Dataset:
    """MOD17A3HGF annual NPP on the grid by nearest neighbour: a view of the product. Carbon
    accounting uses the scaled_npp stage (study 002 Eq. 1), not this."""
    from ..io.cube import open_npp
    from ..io.search import search

    when = f"{ctx.years[0]}/{ctx.years[1]}" if ctx.years else None
    items = search("modis-17A3HGF-061", source=ctx.source, bbox=list(ctx.grid.lonlat_bounds()), datetime=when)
    ctx.record_items(items)
    npp = open_npp(items, grid=ctx.grid, product=product, resampling=resampling, chunksize=ctx.chunks)
    return xr.Dataset({"npp": npp}, attrs=_provenance_attrs(npp))


@stage("land_cover", params={
    "collection": Param("synthetic-clcd", text(), "the land-cover collection, e.g. io-lulc-annual-v02"),
    "asset": Param("data", text(), "its class-raster asset: data (io-lulc, CLCD), map (esa-worldcover)"),
})
def land_cover_stage(ctx, collection, asset) -> xr.Dataset:
    """Annual land-cover classes on the grid (nearest neighbour)."""
    from ..io.cube import open_land_cover
    from ..io.search import search

    when = f"{ctx.years[0]}/{ctx.years[1]}" if ctx.years else None
    items = search(collection, source=ctx.source, bbox=list(ctx.grid.lonlat_bounds()), datetime=when)
    ctx.record_items(items)
    lc = open_land_cover(items, grid=ctx.grid, asset=asset, chunksize=ctx.chunks)
    return lc.to_dataset().assign_attrs(_provenance_attrs(lc))


@stage("mine_stats", inputs=("annual", "disturbance", "scaled_npp"), output="table", zones=("mines",), version="2",
       check=_reads_annual_ndvi("mine_stats"), params={
           "id_column": Param(None, None, "the mines' identifying column (default: name, mine_id or id)"),
           "coverage": Param("fraction", one_of(("fraction", "center")),
                             "pixel weights: covered fraction (exactextract) or cell centre inside"),
       })
def mine_stats_stage(ctx, id_column, coverage):
    """Per-mine tables: area, NDVI, detected opening and restoration, NPP and VCS (study 002 Eq. 1
    and 2, at 30 m) by year."""
    from ..workflows.mines import mine_tables

    return mine_tables(_annual_var(ctx, "ndvi", "steps: mine_stats"), ctx.open("disturbance"),
                       ctx.open("scaled_npp"), ctx.zones("mines"), id_column=id_column, coverage=coverage)


def _provenance_attrs(da: xr.DataArray) -> dict:
    """The loader's ``provenance:*`` attrs (missing assets, skipped scenes), for the group."""
    return {k: v for k, v in da.attrs.items() if k.startswith("provenance:")}


# the study workflows' stages register themselves on import
from . import (
    stages_carbon,  # noqa: E402,F401
    stages_ecology,  # noqa: E402,F401
    stages_landscape,  # noqa: E402,F401
)
