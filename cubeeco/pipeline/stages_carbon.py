"""Stages of the carbon workflows (studies 001, 002, 003): the MODIS NPP scale
transformation with kriged NPP_bg and VCS (study 002 Eqs. 1-2), VCS accounting per mine
with the carbon value (Eqs. 3-5, study 003), CASA NPP from monthly composites and kriged or
gridded climate (study 001) and the Pingshuo tables.

Thin wrappers: the science lives in ``cubeeco/ops`` (scale, krige, vcs, carbon_value,
casa, validate) and ``cubeeco/workflows`` (monthly, npp_tables). Registered when
:mod:`cubeeco.pipeline.stages` is imported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .stages import Outputs, Param, number, one_of, stage, text
from .years import _on_years, _year_list, _years_of  # noqa: F401  (shared with the other study stages)

_MODELS = ("spherical", "exponential", "gaussian", "linear", "power")


def _bool(value, run):
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type(value).__name__} ({value!r}).")


def _name_or_null(value, run):
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"expected a column name or null, got {type(value).__name__} ({value!r}).")


def vegetated_mask(state: xr.DataArray) -> xr.DataArray:
    """Eq. 1's mask from the disturbance state: 0 destroyed, 1 otherwise (never-vegetated land is
    not destroyed: it keeps its share of the cell's NPP), NaN where a pixel has no observation."""
    return xr.where(state >= 0, (state != 0).astype("float32"), np.float32(np.nan)).astype("float32")


# ------------------------------------------------------------------ MODIS NPP at 30 m (study 002)
def _modis_native(ctx, product):
    from ..io.modis import open_npp_native
    from ..io.search import search

    when = f"{ctx.years[0]}/{ctx.years[1]}" if ctx.years else None
    items = search("modis-17A3HGF-061", source=ctx.source, bbox=list(ctx.grid.lonlat_bounds()), datetime=when)
    ctx.record_items(items)
    return open_npp_native(items, grid=ctx.grid, product=product)


def _scale_inputs(ctx, product, weights):
    """The native MODIS NPP, Eq. 1's mask and covariate for the stage (:func:`scale_inputs`)."""
    ndvi = ctx.open("max_ndvi")["ndvi"] if weights in ("ndvi", "regression") else None
    return scale_inputs(_modis_native(ctx, product), ctx.open("disturbance")["state"], ndvi, weights)


def scale_inputs(native, state, ndvi, weights):
    """The native MODIS NPP, Eq. 1's mask (weighted by NDVI for ``weights: ndvi``) and, for
    ``weights: regression``, the covariate (annual max NDVI), on the common years."""
    years = [y for y in _years_of(native) if y in set(_years_of(state))]
    if not years:
        from .config import ConfigError

        raise ConfigError(f"steps: scaled_npp: the MODIS NPP years {list(_years_of(native))} and the "
                          f"disturbance years {list(_years_of(state))} do not overlap.")
    native = _on_years(native, years)
    mask = _on_years(vegetated_mask(state), years)
    covariate = None
    if weights in ("ndvi", "regression"):
        ndvi = _on_years(ndvi, years)
        if weights == "ndvi":
            mask = mask * ndvi_weights(ndvi)
        else:
            covariate = ndvi.astype("float32").assign_coords(time=native.time.values)
    return native, mask.assign_coords(time=native.time.values), covariate


def ndvi_weights(ndvi: xr.DataArray, floor: float = 0.05) -> xr.DataArray:
    """Sub-cell weights of Eq. 1 from the annual maximum NDVI: a vegetated 30 m pixel's share of
    its 500 m cell's vegetated NPP follows its greenness (floored so bare-but-undisturbed land
    keeps a little; a pixel without NDVI that year gets the floor)."""
    return ndvi.clip(min=floor, max=1.0).fillna(floor).astype("float32")


def _scale_stats(ctx, product, weights, min_share, min_points, variogram, default_bg, max_samples, clip_negative):
    """The reduce phase: per year and 500 m cell, the pixel counts, NPP_b, the kriged NPP_bg and
    (``weights: regression``) the per-year NPP ~ NDVI fit with the cells' weight sums."""
    from ..ops.scale import scale_reduce

    native, vegetated, covariate = _scale_inputs(ctx, product, weights)
    return scale_reduce(native, vegetated, min_share=min_share, min_points=min_points, default_bg=default_bg,
                        model=variogram, max_samples=max_samples, covariate=covariate, clip_negative=clip_negative)


@stage("scaled_npp", inputs=("disturbance", "max_ndvi"), output="raster+table", reduce=_scale_stats, version="3",
       params={
    "product": Param("terra", one_of(("terra", "aqua")), "MOD17A3HGF (terra) or MYD17A3HGF (aqua)"),
    "weights": Param("uniform", one_of(("uniform", "ndvi", "regression")),
                     "how a cell's vegetated NPP is shared: evenly (study 002's Eq. 1), by max NDVI, or by "
                     "max(a + b·NDVI, 1) with a, b fitted per year over the cells (docs/scale.md)"),
    "min_share": Param(0.95, number(0, 1, open_lo=True), "share of a 500 m cell on the grid for it to be "
                                                          "an NPP_bg sample"),
    "min_points": Param(3, number(3, integer=True), "NPP_bg samples a year needs for kriging (fewer: their mean)"),
    "variogram": Param("spherical", one_of(_MODELS), "the variogram model of the NPP_bg kriging"),
    "default_bg": Param(None, number(0, optional=True), "NPP_bg of a year without samples (null: the median "
                                                        "of the other years' samples, else 0)"),
    "max_samples": Param(500, number(3, integer=True, optional=True),
                         "at most this many NPP_bg samples a year (random, seeded per year); null: all"),
    "clip_negative": Param(False, _bool, "set a negative Eq. 1 NPP_a (NPP_bg·(S - S_veg) > NPP_b·S) to 0; "
                                         "counted per year in npp_bg_samples either way"),
})
def scaled_npp_stage(ctx, product, weights, min_share, min_points, variogram, default_bg, max_samples,
                     clip_negative):
    """MOD17A3HGF NPP redistributed onto the vegetated 30 m pixels of each sinusoidal cell with a
    kriged NPP_bg (study 002 Eq. 1), and VCS = NPP × 2.2 × 1.63 (Eq. 2)."""
    from ..ops.scale import background_table, scale_transform, vcs, weights_table

    native, vegetated, covariate = _scale_inputs(ctx, product, weights)
    ds = scale_transform(native, vegetated, reduced=ctx.reduced, covariate=covariate)
    table = background_table(ctx.reduced)
    table.attrs.setdefault("description", "NPP_bg per year: wholly destroyed 500 m cells sampled and the rule "
                                          "used; vegetated pixels with a negative Eq. 1 NPP_a (n_negative, "
                                          "negative_t_c) and how many were clipped to 0 (clipped)")
    tables = {"npp_bg_samples": table}
    if "weights_rule" in ctx.reduced:
        fit = weights_table(ctx.reduced)
        fit.attrs["description"] = "sub-cell weights per year: NPP ~ a + b·max NDVI over the 500 m cells"
        tables["subcell_weights"] = fit
    raster = xr.Dataset({k: ds[k] for k in ("npp", "npp_bg", "npp_b", "modis_cell") if k in ds})
    raster["vcs"] = vcs(raster["npp"])
    raster.attrs = {k: v for k, v in native.attrs.items() if k.startswith("provenance:")}
    # MOD17's relative error per cell (reduce phase), for the VCSD standard errors of vcs_accounting
    raster.attrs.update({k: float(ctx.reduced.attrs[k]) for k in ("npp_b_error_annual", "npp_b_error_cell")
                         if k in ctx.reduced.attrs})
    return Outputs(raster=raster, tables={**tables})


# ------------------------------------------------------------------ VCS accounting (study 002, 003)
def _price_unit(value, run):
    from ..ops.carbon_value import parse_price_unit

    try:
        parse_price_unit(value)
    except (ValueError, TypeError) as err:
        raise ValueError(str(err)) from None


def _error_or_auto(value, run):
    ok = value == "auto" or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and np.isfinite(value) and 0 <= value <= 1)
    if not ok:
        raise ValueError(f"expected auto or a relative error in [0, 1] (e.g. 0.05), got {value!r}.")


def _npp_b_errors(scaled, sigma_annual, sigma_cell):
    """The relative MOD17 errors to propagate: given, or (auto) scaled_npp's estimate; the
    persistent part is 0 where it could not be estimated (no regression weights)."""
    def pick(given, key, fallback):
        if given != "auto":
            return float(given)
        value = float(scaled.attrs.get(key, np.nan))
        return value if np.isfinite(value) else fallback

    return pick(sigma_annual, "npp_b_error_annual", np.nan), pick(sigma_cell, "npp_b_error_cell", 0.0)


@stage("vcs_accounting", inputs=("scaled_npp", "disturbance"), output="table", zones=("mines",), version="3",
       params={
           "min_years": Param(3, number(2, integer=True), "undisturbed years a pixel needs for its regression"),
           "include_destruction_year": Param(False, _bool, "fit the undisturbed regression through T_D "
                                                            "(Eq. 3 as printed) instead of the years before it"),
           "price": Param(56.0, number(0), "carbon price (study 003 quotes 56 yuan per t)"),
           "price_unit": Param("yuan/t C", _price_unit, "what the price is per: e.g. yuan/t C, USD/t CO2"),
           "route": Param("study002", one_of(("study002", "stoichiometric")),
                          "CO2 -> C for a per-t-C price: study 002's 2.2 x 1.63 (as VCS was made) or 44/12"),
           "id_column": Param(None, _name_or_null, "the mines' identifying column (default: name, mine_id or id)"),
           "sigma_annual": Param("auto", _error_or_auto, "MOD17's relative error per cell and year for the VCSD "
                                                         "standard error; auto: scaled_npp's estimate"),
           "sigma_cell": Param("auto", _error_or_auto, "MOD17's lasting relative error per cell; auto: "
                                                       "scaled_npp's estimate (0 without regression weights)"),
       })
def vcs_accounting_stage(ctx, min_years, include_destruction_year, price, price_unit, route, id_column,
                         sigma_annual, sigma_cell):
    """Direct and potential VCS changes, R_V, R_VCS and VCSD per year, per mine and per
    destruction / restoration cohort (study 002 Eqs. 3-5), with the carbon value (study 003)."""
    from ..ops.carbon_value import add_carbon_value
    from ..ops.vcs import vcs_accounting, vcs_changes
    from ..ops.vcs_uncertainty import vcsd_standard_error
    from ..ops.zonal import zone_labels
    from ..workflows.mines import ID, _ids

    scaled = ctx.open("scaled_npp")
    dist = ctx.open("disturbance")
    mines = _ids(ctx.zones("mines"), id_column)
    labels, ids = zone_labels(mines, scaled["vcs"].isel(time=0, drop=True), id_column=ID)
    # the per-year state books every destruction / restoration cycle, not only the first one
    changes = vcs_changes(scaled["vcs"], dist["destruction_year"], dist["restoration_year"], state=dist["state"],
                          min_years=min_years, include_destruction_year=include_destruction_year)
    acc = vcs_accounting(scaled["vcs"], dist["destruction_year"], dist["restoration_year"], state=dist["state"],
                         zones=labels, n_zones=len(ids), min_years=min_years,
                         include_destruction_year=include_destruction_year, changes=changes)
    tables = acc.tables()
    value = {"price": price, "price_unit": price_unit, "route": route}
    amounts = ("direct_decrease_Gg", "direct_increase_Gg", "C_destroy_Gg", "C_restore_Gg", "VCSD_Gg")
    by_zone = add_carbon_value(tables.pop("vcs_by_zone"), columns=amounts, **value)
    sigma_e, sigma_u = _npp_b_errors(scaled, sigma_annual, sigma_cell)
    if np.isfinite(sigma_e):
        # first-order error of VCSD from MOD17's retrieval error through Eq. 1 and Eqs. 3-4
        se = vcsd_standard_error(changes, scaled["vcs"], scaled["npp"], scaled["npp_b"], scaled["modis_cell"],
                                 labels, len(ids), sigma_e=sigma_e, sigma_u=sigma_u)
        attrs = dict(by_zone.attrs)
        by_zone = by_zone.join(se)          # both indexed by zone 1..n
        by_zone.attrs = {**attrs, "units": {**attrs.get("units", {}), **se.attrs["units"]},
                         "description": f"per mine: areas, direct changes, VCSD (Eq. 5), its first-order standard "
                                        f"error from MOD17's relative error of {sigma_e:.1%} a year and {sigma_u:.1%} "
                                        f"lasting per cell (VCSD_se_Gg; docs/vcs.md) and its carbon value"}
    tables["vcs_mines"] = _name_zones(by_zone, ids)
    tables["vcs_annual_by_mine"] = _name_zones(tables.pop("vcs_annual_by_zone"), ids)
    totals = acc.totals
    units = totals.attrs.get("units", {})
    rows = pd.DataFrame({"quantity": totals.index, "value": totals.to_numpy(dtype=float),
                         "units": [units.get(k, "") for k in totals.index]})
    gg = rows["units"] == "Gg CO2"
    amount = pd.DataFrame({"amount": rows.loc[gg, "value"].to_numpy()})
    amount.attrs["units"] = {"amount": "Gg CO2"}
    priced = add_carbon_value(amount, columns=("amount",), **value)
    rows.loc[gg, "carbon_value"] = priced["amount_value"].to_numpy()
    rows.attrs = {"units": {"carbon_value": priced.attrs["units"].get("amount_value", "")},
                  "description": f"whole-area totals of the VCS accounting (study 002), valued at {price:g} "
                                 f"{price_unit} (study 003)"}
    tables["vcs_totals"] = rows
    for name, desc in (("vcs_annual", "per year (study 002 Fig. 2 a-d): areas, direct and potential changes, "
                                      "C_ddper, C_diper, R_V, R_VCS"),
                       ("vcs_mines", "per mine: areas, direct changes, VCSD (Eq. 5), its standard error from "
                                     "MOD17's retrieval error (VCSD_se_Gg) and its carbon value"),
                       ("vcs_annual_by_mine", "per mine and year: the annual columns"),
                       ("vcs_cohorts", "potential changes per year of the pixels destroyed or restored in each "
                                       "cohort year")):
        tables[name].attrs.setdefault("description", desc)
    return tables


def _name_zones(df: pd.DataFrame, ids) -> pd.DataFrame:
    """Zone labels 1..n -> the mines' ids, as the first column ``mine``."""
    attrs = dict(df.attrs)
    df = df.reset_index()
    key = next(c for c in ("zone", "index", "label") if c in df.columns)
    df.insert(0, "mine", [ids[int(z) - 1] if 0 < int(z) <= len(ids) else f"zone {z}" for z in df[key]])
    df = df.drop(columns=key)
    df.attrs = attrs
    return df


# ------------------------------------------------------------------ Pingshuo tables (study 001)
@stage("npp_tables", inputs=("casa", "land_cover", "disturbance"), output="table", zones=("mines",), version="1",
       params={
           "years": Param(None, _year_list, "analysis years (default: every CASA year)"),
           "ring_width": Param(200.0, number(0, open_lo=True), "width of the rings outside the mines (m)"),
           "n_rings": Param(5, number(1, integer=True), "number of rings (study 001: 5 x 200 m = 1 km)"),
           "coverage": Param("fraction", one_of(("fraction", "center")), "pixel weights in the zonal means"),
           "id_column": Param(None, None, "the mines' identifying column (default: name, mine_id or id)"),
       })
def npp_tables_stage(ctx, years, ring_width, n_rings, coverage, id_column):
    """Study 001's tables: NPP per mine, change classes, by land use (reclaimed apart), mining and
    reclamation areas, 200 m rings to 1 km."""
    from ..workflows.mines import ID, _ids
    from ..workflows.npp_tables import npp_tables

    npp = ctx.open("casa")["npp"]
    return npp_tables(npp, ctx.open("land_cover")["land_cover"], ctx.open("disturbance"),
                      _ids(ctx.zones("mines"), id_column), years=years, id_column=ID, coverage=coverage,
                      ring_width=ring_width, n_rings=n_rings)




# ------------------------------------------------------------------ CASA NPP (study 001)
def _casa_years(ctx, years) -> list[int]:
    if years:
        return [int(y) for y in years]
    if not ctx.years:
        from .config import ConfigError

        raise ConfigError("params.casa.years: give the years to model (the run has no years: range).")
    return [int(ctx.years[1])]


def _station_climate(ctx, year, like, collection, variogram):
    """Monthly station climate of ``year`` kriged onto the grid (study 001: ordinary kriging)."""
    from ..io.climate import read_stations
    from ..ops.krige import krige
    from ..workflows.monthly import CLIMATE_VARIABLES
    from .config import ConfigError

    points, records = read_stations(ctx.source, collection, bbox=list(ctx.grid.lonlat_bounds()))
    need = {"station_id", "time", *CLIMATE_VARIABLES.values()}
    if not need <= set(records.columns) or "station_id" not in points.columns:
        raise ConfigError(f"params.casa.climate: the station records of {collection!r} need the columns "
                          f"{sorted(need)} (and the points a station_id); they have {sorted(records.columns)}.")
    records = records[records["time"].dt.year == year]
    twice = records.assign(_month=records["time"].dt.month).duplicated(["station_id", "_month"]).sum()
    if twice:
        raise ConfigError(f"params.casa.climate: {twice} station-month record(s) of {year} repeat in {collection!r}.")
    out = {}
    for name, column in CLIMATE_VARIABLES.items():
        table = records.pivot_table(index="station_id", columns=records["time"].dt.month, values=column)
        table = table.reindex(index=points["station_id"], columns=range(1, 13))
        if table.isna().all().any():
            raise ConfigError(f"params.casa.climate: the stations of {collection!r} have no {column!r} for some "
                              f"month of {year}.")
        k = krige(points, table.to_numpy(np.float64), like, model=variogram, dim="month")["value"]
        k = k.assign_coords(month=np.arange(1, 13)).astype(np.float32)
        k = k.chunk({"month": -1}) if k.chunks is not None else k
        out[name] = k.clip(min=0) if name != "temperature" else k
    units = {"temperature": "degC", "precipitation": "mm month-1", "solar": "MJ m-2 month-1"}
    return xr.Dataset({k: v.assign_attrs(units=units[k], method=f"ordinary kriging ({variogram}) of stations")
                       for k, v in out.items()})


@stage("monthly_ndvi", output="raster", version="1", params={
    "years": Param(None, _year_list, "the years to composite (need scenes through the year; default: the last)"),
    "composite": Param("max", one_of(("max", "median")), "monthly NDVI composite"),
    "fill": Param("interpolate", one_of(("interpolate", "none")),
                  "a month without a clear observation: interpolated between months (flagged), or left NaN"),
    "ends": Param("cyclic", one_of(("cyclic", "hold")),
                  "months before the first / after the last clear one: across the year's end, or held"),
    "max_cloud": Param(None, number(0, 100, optional=True), "keep scenes with eo:cloud_cover <= this"),
})
def monthly_ndvi_stage(ctx, years, composite, fill, ends, max_cloud) -> xr.Dataset:
    """Monthly NDVI composites of the CASA years, gaps filled and flagged (quality, clear counts)."""
    from ..workflows.monthly import monthly_ndvi

    parts, times = [], []
    for year in _casa_years(ctx, years):
        nd, items = monthly_ndvi(year=year, source=ctx.source, grid=ctx.grid, method=composite, fill=fill,
                                 ends=ends, max_cloud=max_cloud, chunksize=ctx.chunks)
        ctx.record_items(items)
        parts.append(nd)
        times.append(np.datetime64(f"{year}-01-01", "ns"))
    time = xr.DataArray(times, dims="time", name="time")
    out = xr.concat(parts, dim=time, coords="minimal", compat="override")
    return out.transpose("time", "month", "y", "x")


def _casa_inputs(ctx, climate, climate_collection, variogram):
    """Per year: monthly NDVI, monthly climate and the land-cover classes, aligned."""
    from ..io.climate import climate_grid_href
    from ..workflows.monthly import monthly_climate

    monthly = ctx.open("monthly_ndvi")
    lc_all = ctx.open("land_cover")["land_cover"]
    years = _years_of(monthly).tolist()
    lcs = _on_years(lc_all, years, "the land_cover group")
    out = []
    for k, year in enumerate(years):
        ndvi = monthly["ndvi"].isel(time=k, drop=True)
        lc = lcs.isel(time=k, drop=True)
        if climate == "stations":
            clim = _station_climate(ctx, year, lc, climate_collection, variogram)
        else:
            href = climate_grid_href(ctx.source, climate_collection)
            clim = monthly_climate(href, year=year, grid=ctx.grid, chunksize=ctx.chunks)
        veg = lc.astype(np.int16).drop_vars([c for c in lc.coords if c not in ("y", "x")])
        out.append((year, ndvi, clim, veg))
    return out


def _casa_bounds(ctx):
    """The reduce phase: per-vegetation-type NDVI / SR bounds (5th / 95th percentiles) over every
    pixel-month of the modelled years, and ε_max (study 001 Eqs. 4-5); from the stored monthly
    composites and land cover (three passes over them)."""
    from ..ops.casa import casa_parameters

    ndvi = ctx.open("monthly_ndvi")["ndvi"]
    veg = _on_years(ctx.open("land_cover")["land_cover"], _years_of(ndvi).tolist(), "the land_cover group")
    veg = veg.astype(np.int16).assign_coords(time=ndvi.time.values)
    return casa_parameters(ndvi, veg).compute()


@stage("casa", inputs=("monthly_ndvi", "land_cover"), output="raster+table", reduce=_casa_bounds, version="1",
       params={
           "climate": Param("grid", one_of(("grid", "stations")),
                            "gridded monthly climate resampled (bilinear), or stations kriged (study 001)"),
           "climate_collection": Param("synthetic-climate", text(), "the collection with the climate grid / stations"),
           "variogram": Param("linear", one_of(_MODELS), "variogram model of the station kriging (fitted)"),
           "water_stress": Param("zhou_zhang", one_of(("zhou_zhang", "ratio")),
                                 "W_ε: Zhou-Zhang EET with Thornthwaite PET (study 001), or 0.5 + 0.5 min(P, PET)/PET"),
       })
def casa_stage(ctx, climate, climate_collection, variogram, water_stress):
    """CASA NPP per month and year (study 001 Eqs. 1-7): monthly NDVI composites, kriged or gridded
    climate, land cover, per-type bounds over the area."""
    from ..ops.casa import annual_npp, casa_npp

    inputs = _casa_inputs(ctx, climate, climate_collection, variogram)
    lat = float(np.mean(ctx.grid.lonlat_bounds()[1::2]))
    monthly, times = [], []
    for year, ndvi, clim, veg in inputs:
        npp = casa_npp(ndvi, clim["temperature"], clim["precipitation"], clim["solar"], veg,
                       params=ctx.reduced, water_stress=water_stress, latitude=lat)
        monthly.append(npp.transpose("month", "y", "x"))
        times.append(np.datetime64(f"{year}-01-01", "ns"))
    time = xr.DataArray(times, dims="time", name="time")
    npp_monthly = xr.concat(monthly, dim=time, coords="minimal", compat="override").assign_attrs(monthly[0].attrs)
    raster = xr.Dataset({"npp": annual_npp(npp_monthly, dim="month"),
                         "npp_monthly": npp_monthly.rename("npp_monthly")})
    params = ctx.reduced.to_dataframe().reset_index()
    params.attrs = {"units": {c: ctx.reduced[c].attrs.get("units", "") for c in ctx.reduced.data_vars},
                    "description": "per vegetation type: NDVI / SR bounds (5th / 95th percentiles) and ε_max"}
    return Outputs(raster=raster, tables={"casa_parameters": params})
