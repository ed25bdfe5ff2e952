"""Stages of the carbon-storage and landscape-pattern workflow (study 004, Haerwusu): the
land-cover cube in the study's mining classes, InVEST carbon per pixel and year with its
tables, FRAGSTATS landscape metrics per year, moving-window metric maps with the window
chosen by semivariograms, the coupling coordination of landscape, forest/grassland and
carbon, the contribution ratio K_l by distance from the mines, and the drivers of carbon
density (Pearson + VIF-screened regression).

Thin wrappers: the science lives in ``cubeeco/ops`` (invest, landscape, moving_window,
semivariogram, coupling, contribution, drivers) and ``cubeeco/workflows/carbon_storage.py``.
Registered when :mod:`cubeeco.pipeline.stages` is imported. Workflow page: docs/carbon-landscape.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .stages import Outputs, Param, boolean, names, number, one_of, stage, text
from .years import _on_years, _year_list, _years_of

STUDY004_YEARS = (2007, 2012, 2017, 2022)


def _pools_value(value, run):
    if isinstance(value, str) and value.strip():
        if value == "study004":
            return
        if not run.path(value).is_file():
            raise ValueError(f"expected 'study004' or the path of a pools CSV, got {value!r} "
                             f"({run.path(value)} does not exist).")
        from ..ops.invest import read_pools

        read_pools(pd.read_csv(run.path(value)))   # its columns and codes, before anything runs
        return
    raise ValueError(f"expected 'study004' or the path of a pools CSV (lucode, c_above, c_below, c_soil, "
                     f"c_dead in t/ha), got {type(value).__name__} ({value!r}).")


def _pools(ctx, pools, lulc) -> pd.DataFrame:
    from ..ops.invest import read_pools
    from ..workflows.carbon_storage import study004_pools
    from .config import ConfigError

    table = study004_pools() if pools == "study004" else pd.read_csv(ctx.config.path(pools))
    codes = set(read_pools(table).codes.tolist())
    made = set(int(c) for c in lulc.attrs.get("flag_values", []))
    if made - codes:   # refused here, not inside a dask task
        raise ConfigError(f"params.carbon_storage.pools: the table has no row for the LULC code(s) "
                          f"{sorted(made - codes)} that mining_lulc makes; add them.")
    return table


def _analysis_years(ctx, da, years) -> list[int]:
    """The years asked for (all the group's years when null), checked against the group."""
    have = _years_of(da).tolist()
    if not years:
        return have
    _on_years(da, years, f"params.{ctx.stage}.years: the mining_lulc group")
    return [int(y) for y in years]


# ------------------------------------------------------------------ land cover in study 004's classes
@stage("mining_lulc", inputs=("land_cover", "disturbance"), version="2", params={
    "from_disturbance": Param(True, boolean(), "mining land and reclaimed dumps from the disturbance state "
                                           "(false: the land-cover classes mapped only)"),
})
def mining_lulc_stage(ctx, from_disturbance) -> xr.Dataset:
    """Land cover per year in study 004's classes: CLCD mapped to Table 3, destroyed pixels as
    mining land, vegetated-again pixels as reclaimed dumps (from the disturbance state)."""
    from ..workflows.carbon_storage import mining_land_cover

    lc = ctx.open("land_cover")["land_cover"]
    state = ctx.open("disturbance")["state"]
    years = [y for y in _years_of(lc).tolist() if y in set(_years_of(state).tolist())]
    if not years:
        from .config import ConfigError

        raise ConfigError(f"steps: mining_lulc: the land_cover years {_years_of(lc).tolist()} and the "
                          f"disturbance years {_years_of(state).tolist()} do not overlap.")
    lc = _on_years(lc, years, "the land_cover group")
    st = _on_years(state, years, "the disturbance group").assign_coords(time=lc.time.values)
    out = mining_land_cover(lc, st if from_disturbance else None)
    return xr.Dataset({"lulc": out})


# ------------------------------------------------------------------ InVEST carbon (study 004 §2.3.1)
@stage("carbon_storage", inputs=("mining_lulc",), output="raster+table", zones=("mines",), version="1", params={
    "pools": Param("study004", _pools_value, "carbon pools table: 'study004' (Table 3, t/ha) or a CSV path "
                                             "with InVEST's columns", file=True),
    "transition_years": Param(None, _year_list, "years between which the change is attributed to "
                                                "transitions (default: the first and last)"),
    "pool_cv": Param(0.1, number(0, optional=True), "coefficient of variation of each pool density for the "
                                                    "Monte-Carlo range when the table has no *_sd columns"),
    "draws": Param(1000, number(10, integer=True), "Monte-Carlo draws"),
    "id_column": Param(None, None, "the mines' identifying column (default: name, mine_id or id)"),
})
def carbon_storage_stage(ctx, pools, transition_years, pool_cv, draws, id_column):
    """InVEST carbon storage per pixel and year (t/ha) and the stock tables: by year and class
    (study 004 Table 5), by mine, by transition with its reconciliation, Monte-Carlo ranges."""
    from ..ops.invest import invest_carbon
    from ..ops.zonal import zone_labels
    from ..workflows.carbon_storage import storage_tables
    from ..workflows.mines import ID, _ids

    lulc = ctx.open("mining_lulc")["lulc"]
    table = _pools(ctx, pools, lulc)
    if transition_years:
        _on_years(lulc, transition_years, "params.carbon_storage.transition_years: the mining_lulc group")
    maps = [invest_carbon(lulc.isel(time=k, drop=True), table, nodata=0)["c_storage"]
            for k in range(lulc.sizes["time"])]
    c = xr.concat(maps, dim="time", coords="minimal", compat="override").assign_coords(time=lulc.time.values)
    c.attrs = {**maps[0].attrs}
    mines = _ids(ctx.zones("mines"), id_column)
    labels, _ = zone_labels(mines, lulc.isel(time=0, drop=True), id_column=ID)
    ids = mines[ID].tolist()
    tables = storage_tables(lulc, table, zones=labels.where(labels > 0, -1), zone_ids=np.arange(1, len(ids) + 1),
                            transition_years=transition_years, pool_cv=pool_cv, draws=draws)
    if "carbon_stock_mines" in tables:
        t = tables["carbon_stock_mines"]
        attrs = t.attrs
        t.insert(0, "mine", [ids[int(z) - 1] for z in t.pop("zone")])
        t.attrs = attrs
    return Outputs(raster=xr.Dataset({"c_storage": c}), tables=tables)


# ------------------------------------------------------------------ FRAGSTATS metrics per year (study 004 Table 6)
def _level_names(level):
    from ..ops.landscape import CLASS_LEVEL, LANDSCAPE_LEVEL

    return names(LANDSCAPE_LEVEL if level == "landscape" else CLASS_LEVEL, empty=False)


def _int_list(value, run):
    if not (isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"expected a list of integer class codes (e.g. [4, 9, 10]), got {value!r}.")


def _name_list(value, run):
    if not (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
        raise ValueError(f"expected a list of names, got {value!r}.")


@stage("landscape", inputs=("mining_lulc",), output="table", version="1", params={
    "years": Param(list(STUDY004_YEARS), _year_list, "the years to compute (null: every year)"),
    "neighbours": Param(8, one_of((8, 4)), "patch rule: 8 (FRAGSTATS' default) or 4 neighbours"),
    "count_boundary": Param(False, boolean(), "count edges at nodata and the raster's edge in TE/ED"),
    "metrics": Param(None, lambda v, run: v is None or _level_names("landscape")(v, run),
                     "landscape-level metrics (null: all)"),
    "class_metrics": Param(None, lambda v, run: v is None or _level_names("class")(v, run),
                           "class-level metrics (null: all)"),
})
def landscape_stage(ctx, years, neighbours, count_boundary, metrics, class_metrics):
    """FRAGSTATS landscape- and class-level metrics of each analysis year (patches labelled
    across chunks: the values do not depend on the chunking)."""
    import dask

    from ..ops.landscape import landscape_metrics

    lulc = ctx.open("mining_lulc")["lulc"]
    ys = _analysis_years(ctx, lulc, years)
    lazy = []
    for y in ys:   # both levels of every year in one compute: the patch labelling is shared
        da = _on_years(lulc, [y]).isel(time=0, drop=True)
        lazy += [landscape_metrics(da, m, level=lv, neighbours=neighbours, count_boundary=count_boundary, nodata=0,
                                   compute=False) for m, lv in ((metrics, "landscape"), (class_metrics, "class"))]
    done = dask.compute(*lazy)
    rows, cls = [], []
    for k, y in enumerate(ys):
        land, c = done[2 * k], done[2 * k + 1]
        units, cunits = land.attrs.get("units", {}), c.attrs.get("units", {})
        rows.append(land.reset_index(drop=True).assign(year=y))
        cls.append(c.rename_axis("lucode").reset_index().assign(year=y))
    land = pd.concat(rows, ignore_index=True)
    land = land[["year", *[c for c in land.columns if c != "year"]]]
    land.attrs = {"units": units, "description": f"landscape-level FRAGSTATS metrics ({neighbours} neighbours)"}
    cl = pd.concat(cls, ignore_index=True)
    cl = cl[["year", *[c for c in cl.columns if c != "year"]]]
    cl.attrs = {"units": cunits, "description": f"class-level FRAGSTATS metrics ({neighbours} neighbours)"}
    return {"landscape_metrics": land, "class_metrics": cl}


# ------------------------------------------------------------------ moving windows and their radius (study 004 §2.2.4)
def _radii_list(value, run):
    if not (isinstance(value, list) and value and all(isinstance(r, (int, float)) and not isinstance(r, bool)
                                                     and r > 0 for r in value) and len(set(value)) == len(value)):
        raise ValueError(f"expected a list of distinct radii in metres > 0 (e.g. [90, 150, 300]), got {value!r}.")


def _window_metrics(value, run):
    from ..ops.moving_window import WINDOW_METRICS

    names(WINDOW_METRICS, empty=False)(value, run)


def _window_year(ctx, year) -> int:
    lulc = ctx.open("mining_lulc")["lulc"]
    return int(year) if year is not None else int(_years_of(lulc)[-1])


def _window_lulc(ctx, year) -> xr.DataArray:
    lulc = ctx.open("mining_lulc")["lulc"]
    da = _on_years(lulc, [year], f"params.{ctx.stage}.year: the mining_lulc group").isel(time=0, drop=True)
    return da.assign_attrs(nodata=0)


def _centre_crop(da, side):
    if side is None:
        return da
    ny, nx = da.sizes["y"], da.sizes["x"]
    y0, x0 = max((ny - side) // 2, 0), max((nx - side) // 2, 0)
    return da.isel(y=slice(y0, y0 + side), x=slice(x0, x0 + side))


def _window_choice(ctx, year, radius, choice_metrics, radii, shape, choice_extent, tolerance):
    """The reduce phase: semivariograms of the metric maps at every candidate radius, fitted,
    and the radius at which the nugget/sill ratios stop changing (study 004 with GS+); nothing
    to choose when ``radius`` is given."""
    from ..ops.semivariogram import choose_window

    if radius is not None:
        return xr.Dataset({"radius_m": ("row", [float(radius)])},
                          attrs={"chosen_radius_m": float(radius), "stable": True, "rule": "given",
                                 "columns": ["radius_m"]})
    lulc = _centre_crop(_window_lulc(ctx, _window_year(ctx, year)), choice_extent)
    table = choose_window(lulc, metrics=tuple(choice_metrics), radii=tuple(float(r) for r in radii), shape=shape,
                          tolerance=tolerance, nodata=0)
    attrs = {k: v for k, v in table.attrs.items() if k in ("chosen_radius_m", "stable", "rule", "tolerance")}
    ds = xr.Dataset.from_dataframe(table.reset_index(drop=True).rename_axis("row"))
    for c in ds.data_vars:   # text columns as fixed strings: Zarr stores them as such
        if ds[c].dtype == object:
            ds[c] = ds[c].astype(str)
    ds.attrs = {k: (bool(v) if isinstance(v, (bool, np.bool_)) else v) for k, v in attrs.items()}
    ds.attrs["columns"] = [str(c) for c in table.columns]   # a Dataset does not keep the column order
    # the empirical semivariograms at the chosen radius, for the report (study 004 used GS+ plots)
    from ..ops.moving_window import moving_window
    from ..ops.semivariogram import semivariogram

    chosen = float(table.attrs["chosen_radius_m"])
    maps = moving_window(lulc, metrics=tuple(choice_metrics), radius=chosen, shape=shape, nodata=0)
    curves = []
    for m in choice_metrics:
        sv = semivariogram(maps[m], sample=4000, seed=0)[["lag", "gamma", "pairs"]].assign(metric=m)
        curves.append(sv)
    curves = pd.concat(curves, ignore_index=True)
    for c in ("lag", "gamma", "pairs"):
        ds[f"sv_{c}"] = ("sv_row", curves[c].to_numpy(np.float64))
    ds["sv_metric"] = ("sv_row", np.array([str(m) for m in curves["metric"]], dtype="U16"))
    return ds


@stage("landscape_windows", inputs=("mining_lulc",), output="raster+table", reduce=_window_choice, version="2",
       params={
    "year": Param(None, number(1900, 2100, integer=True, optional=True), "the year mapped (default: the last)"),
    "metrics": Param(["NP", "PD", "ED", "LPI", "LSI", "SHDI", "SHEI", "COHESION", "CONTAG", "AI"], _window_metrics,
                     "metric maps to write (study 004 Fig. 8's ten)"),
    "radius": Param(None, number(0, open_lo=True, optional=True),
                    "window radius in metres (null: chosen by the semivariograms)"),
    "choice_metrics": Param(["SHEI", "PD", "AI", "LSI"], _window_metrics,
                            "metrics whose semivariograms choose the radius (study 004's four)"),
    "radii": Param([90, 150, 300, 450, 600, 900], _radii_list, "candidate radii in metres"),
    "shape": Param("square", one_of(("square", "circle")), "window shape (square: exact O(R) patch counting)"),
    "choice_extent": Param(2048, number(64, integer=True, optional=True),
                           "side in pixels of the central square the radius is chosen on (null: the whole grid)"),
    "tolerance": Param(0.05, number(0, open_lo=True), "largest change of the nugget/sill ratio that counts as stable"),
})
def landscape_windows_stage(ctx, year, metrics, radius, choice_metrics, radii, shape, choice_extent, tolerance):
    """Moving-window landscape metric maps of one year, at a given radius or the one the
    semivariograms choose (study 004 Fig. 8), with the semivariogram table."""
    from ..ops.moving_window import moving_window

    year = _window_year(ctx, year)
    rows = ctx.reduced[[v for v in ctx.reduced.data_vars if "row" in ctx.reduced[v].dims]]
    table = rows.to_dataframe().reset_index(drop=True)
    table = table[[c for c in ctx.reduced.attrs.get("columns", table.columns) if c in table.columns]]
    tables = {}
    if "sv_lag" in ctx.reduced:
        sv = pd.DataFrame({"metric": [str(v) for v in ctx.reduced["sv_metric"].values],
                           **{c: ctx.reduced[f"sv_{c}"].values for c in ("lag", "gamma", "pairs")}})
        sv.attrs = {"units": {"lag": "m", "gamma": "metric units squared"},
                    "description": f"empirical semivariograms of the metric maps at the chosen radius ({year})"}
        tables["semivariograms"] = sv
    chosen = float(ctx.reduced.attrs["chosen_radius_m"])
    r = float(radius) if radius is not None else chosen
    maps = moving_window(_window_lulc(ctx, year), metrics=tuple(metrics), radius=r, shape=shape, nodata=0)
    maps = maps.map(lambda v: v.astype("float32"), keep_attrs=True)   # half the store; counts exact below 2**24
    maps.attrs = {**maps.attrs, "year": year, "radius_m": r, "chosen_radius_m": chosen,
                  "radius_rule": "given" if radius is not None else str(ctx.reduced.attrs.get("rule", ""))}
    table.attrs = {"units": {"radius_m": "m", "range_m": "m", "len_scale_m": "m"},
                   "description": f"semivariogram fits of the metric maps per radius ({year}); chosen radius "
                                  f"{chosen:g} m (stable: {ctx.reduced.attrs.get('stable')})"}
    return Outputs(raster=maps, tables={"window_choice": table, **tables})


# ------------------------------------------------------------------ contribution ratio K_l (study 004 Eq. 12)
@stage("carbon_contribution", inputs=("carbon_storage", "mining_lulc"), output="table", zones=("mines",),
       version="1", params={
    "years": Param(list(STUDY004_YEARS), _year_list, "the years (null: every year)"),
    "width": Param(1000.0, number(0, open_lo=True), "band width in metres (study 004: 1 km)"),
    "n": Param(5, number(1, integer=True), "number of bands"),
    "mining": Param("polygons", one_of(("classes", "polygons")),
                    "the mining landscape: the mine polygons, or the mining classes of each year "
                    "(polygonised per year: for a mine or a small base)"),
    "mining_classes": Param([4, 9, 10], _int_list, "LULC codes of the mining landscape (mining land and dumps)"),
})
def carbon_contribution_stage(ctx, years, width, n, mining, mining_classes):
    """K_l: the mining landscape's carbon density over that of everything within l km of it, per
    1 km band and year (study 004 Eq. 12)."""
    from ..ops.contribution import contribution_ratio

    c = ctx.open("carbon_storage")["c_storage"]
    ys = _analysis_years(ctx, c, years)
    c = _on_years(c, ys, "the carbon_storage group")
    if mining == "polygons":
        mines = ctx.zones("mines")
    else:
        lulc = _on_years(ctx.open("mining_lulc")["lulc"], ys, "the mining_lulc group")
        mines = lulc.isin([int(k) for k in mining_classes]).assign_coords(time=c.time.values)
    table = contribution_ratio(c, mines, width=width, n=n)
    if "time" in table:
        table.insert(0, "year", pd.to_datetime(table.pop("time")).dt.year)
    table.attrs.setdefault("description", f"K_l (Eq. 12) in {n} bands of {width:g} m around the mining landscape")
    return {"contribution": table}


# ------------------------------------------------------------------ coupling coordination (study 004 Eqs. 5-11)
def _directions(value, run):
    if value is None:
        return
    if not isinstance(value, dict) or any(v not in ("positive", "negative") for v in value.values()):
        raise ValueError(f"expected a mapping metric -> positive | negative, or null, got {value!r}.")


def _metric_list(value, run):
    from ..ops.landscape import LANDSCAPE_LEVEL

    names(LANDSCAPE_LEVEL, empty=False)(value, run)


def _index_names(value, run):
    from ..ops.indices import INDEX_NAMES

    names(INDEX_NAMES, empty=False)(value, run)


def _pair(value, run):
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                 for v in value) and value[0] < value[1]):
        raise ValueError(f"expected [min, max] with min < max, got {value!r}.")


@stage("coupling", inputs=("landscape", "carbon_storage"), output="table", version="1", params={
    "metrics": Param(["NP", "PD", "LSI", "COHESION", "SHDI", "SHEI"], _metric_list,
                     "landscape-level metrics of the integrated landscape index (study 004's six)"),
    "directions": Param(None, _directions, "metric -> positive | negative for the min-max of Eq. 9 "
                                           "(null: all positive, as the study)"),
    "bounds": Param("series", one_of(("series", "analysis")),
                    "extremes of F and Ca (Eqs. 10-11): over every year of the cube, or the analysis years only"),
    "shift": Param(0.0, number(0, 1), "added to the normalised metrics before the entropy weights"),
    "area_bounds": Param(None, lambda v, run: v is None or _pair(v, run), "[min, max] forest/grassland area (km2) "
                                                                         "for Eq. 10, e.g. from years outside the cube"),
    "carbon_bounds": Param(None, lambda v, run: v is None or _pair(v, run), "[min, max] carbon storage (t) for Eq. 11"),
})
def coupling_stage(ctx, metrics, directions, bounds, shift, area_bounds, carbon_bounds):
    """Entropy weights, integrated landscape index L, normalised forest/grassland area F and carbon Ca,
    coupling C, composite T and coordination D per analysis year (study 004 Eqs. 5-11)."""
    from ..io.tables import open_table
    from ..ops.coupling import coupling_table

    land = open_table(ctx.store_of("landscape"), "landscape_metrics").set_index("year")
    total = open_table(ctx.store_of("carbon_storage"), "carbon_stock_total").set_index("year")
    years = [y for y in land.index if y in total.index]
    if len(years) < 2:
        from .config import ConfigError

        raise ConfigError(f"steps: coupling: needs at least two years with both landscape metrics and carbon "
                          f"storage; has {years}.")
    area = total["forest_grass_ha"] / 100.0          # km²
    carbon = total["stock_t"]
    ab = cb = None
    if bounds == "series":   # the cube's whole series: no analysis year is forced to 0 unless it is an extreme
        ab, cb = (float(area.min()), float(area.max())), (float(carbon.min()), float(carbon.max()))
    ab = tuple(area_bounds) if area_bounds is not None else ab
    cb = tuple(carbon_bounds) if carbon_bounds is not None else cb
    out = coupling_table(land.loc[years], area.loc[years], carbon.loc[years], metrics=tuple(metrics),
                         directions=directions, shift=shift, area_bounds=ab, carbon_bounds=cb)
    weights = pd.DataFrame({"metric": list(out.attrs["landscape_weights"].keys()),
                            "weight": list(out.attrs["landscape_weights"].values())})
    weights.attrs = {"units": {"weight": "1"}, "description": "entropy weights of the integrated landscape index"}
    units = {**out.attrs.get("units", {}), "forest_grass_area": "km2", "carbon_storage": "t"}
    table = out.reset_index()
    table.attrs = {"units": units, "description": "coupling coordination of landscape pattern (L), forest and "
                   f"grassland area (F) and carbon storage (Ca); F and Ca extremes over the {bounds}"}
    return {"coupling": table, "coupling_weights": weights}


# ------------------------------------------------------------------ drivers of carbon density (study 004 Tables 7-9)
@stage("carbon_drivers", inputs=("carbon_storage", "annual", "terrain", "landscape_windows"), output="table",
       version="1", params={
    "year": Param(None, number(1900, 2100, integer=True, optional=True), "the year (default: the windows' year)"),
    "indices": Param(["ndvi", "evi", "savi", "rvi", "dvi", "gndvi"], lambda v, run: _index_names(v, run),
                     "vegetation indices computed from the annual bands (study 004 Table 1)"),
    "terrain": Param(["elevation", "slope"], _name_list, "terrain variables of the terrain stage"),
    "climate": Param("synthetic-climate", lambda v, run: v is None or text()(v, run),
                     "collection of the gridded monthly climate for MAT and MAP (null: no climate factors)"),
    "sample": Param(2000, number(30, integer=True), "pixels sampled (reproducible, independent of chunking)"),
    "seed": Param(0, number(0, integer=True), "sampling seed"),
    "vif": Param(5.0, number(1, open_lo=True), "VIF threshold of the screening (study 004: 10, stricter 5)"),
})
def carbon_drivers_stage(ctx, year, indices, terrain, climate, sample, seed, vif):
    """Pearson correlations of carbon density with vegetation indices, terrain, climate and landscape
    metrics (Table 7) and VIF-screened regressions without and with the landscape metrics (Tables 8-9)."""
    from ..ops.drivers import pearson_table, regression, sample_points
    from ..ops.indices import spectral_indices
    from .config import ConfigError

    windows = ctx.open("landscape_windows")
    mapped = windows.attrs.get("year")
    if mapped is None:
        raise ConfigError("steps: carbon_drivers: the landscape_windows group does not say its year; rerun it.")
    if year is not None and int(year) != int(mapped):
        raise ConfigError(f"params.carbon_drivers.year: {year} is not the year of the moving-window maps "
                          f"({mapped}); set params.landscape_windows.year to {year} or drop this key.")
    year = int(mapped)
    carbon = _on_years(ctx.open("carbon_storage")["c_storage"], [year], "the carbon_storage group").isel(time=0, drop=True)
    annual = _on_years(ctx.open("annual"), [year], "the annual group").isel(time=0, drop=True)
    veg = spectral_indices(annual, names=tuple(indices))
    topo = ctx.open("terrain")
    missing = [t for t in terrain if t not in topo]
    if missing:
        raise ConfigError(f"params.carbon_drivers.terrain: the terrain group has no {missing}; it has "
                          f"{sorted(topo.data_vars)}.")
    clim = {}
    if climate is not None:   # study 004's MAT and MAP of the year, resampled onto the grid (bilinear)
        from ..io.climate import climate_grid_href
        from ..workflows.monthly import monthly_climate

        monthly = monthly_climate(climate_grid_href(ctx.source, climate), year=year, grid=ctx.grid,
                                  chunksize=ctx.chunks)
        clim = {"MAT": monthly["temperature"].mean("month").assign_attrs(units="degC"),
                "MAP": monthly["precipitation"].sum("month").assign_attrs(units="mm yr-1")}
    layers = {"carbon_density": carbon, **{k.upper(): veg[k] for k in indices},
              **{t: topo[t] for t in terrain}, **clim,
              **{m: windows[m] for m in windows.data_vars if {"y", "x"} == set(windows[m].dims)}}
    layers = {k: v.drop_vars([c for c in v.coords if c not in ("y", "x")]) for k, v in layers.items()}
    points = sample_points(layers, n=sample, seed=seed)
    factors = [k for k in layers if k != "carbon_density"]
    pearson = pearson_table(points, "carbon_density", factors).reset_index()
    pearson.attrs = {"description": f"Pearson r of carbon density with each factor, {len(points)} pixels of {year}"}
    landscape = [m for m in windows.data_vars if m in factors]
    models, coefs = [], []
    for name, cols in (("model 1: vegetation, terrain, climate", [f for f in factors if f not in landscape]),
                       ("model 2: with landscape metrics", factors)):
        fit = regression(points, "carbon_density", cols, vif_threshold=vif)
        m = fit.model.assign(model=name, dropped=", ".join(fit.dropped))
        models.append(m)
        coefs.append(fit.coefficients.reset_index().assign(model=name))
    model_table = pd.concat(models, ignore_index=True)
    model_table = model_table[["model", *[c for c in model_table.columns if c != "model"]]]
    model_table.attrs = {"description": f"OLS of carbon density (t/ha) after VIF screening (< {vif:g}), {year}"}
    coef_table = pd.concat(coefs, ignore_index=True)
    coef_table = coef_table[["model", *[c for c in coef_table.columns if c != "model"]]]
    coef_table.attrs = {"description": "coefficients, standard errors, t, p and VIF of the kept predictors"}
    return {"drivers_pearson": pearson, "drivers_models": model_table, "drivers_coefficients": coef_table}


__all__ = ["STUDY004_YEARS"]
