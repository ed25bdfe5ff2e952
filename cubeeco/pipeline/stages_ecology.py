"""Stages of the ecological-quality workflow (study 000, Ningdong): terrain, RSEI, its
trend maps with field significance and change points, the EG index and the RSEI x EG
overlay, the Geodetector and the per-mine tables.

Each stage is a thin wrapper: the science lives in ``cubeeco/ops`` (rsei, eg, significance,
changepoint, series, geodetector, terrain, zonal); a stage names its inputs, parameters,
global reduction and tables. Registered when :mod:`cubeeco.pipeline.stages` is imported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .stages import Outputs, Param, number, one_of, stage, text


def _years(da) -> np.ndarray:
    return np.asarray(da.time.dt.year.values)


def _periods(value, run):
    ok = isinstance(value, list) and value and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(y, int) and not isinstance(y, bool) for y in p)
        and p[0] < p[1] for p in value)
    if not ok:
        raise ValueError(f"expected a list of [first, last] year pairs (e.g. [[2000, 2012], [2012, 2024]]), "
                         f"got {value!r}.")


def _levels(value, run):
    if not (isinstance(value, list) and value and all(isinstance(v, float) and 0 < v < 1 for v in value)):
        raise ValueError(f"expected a list of significance levels in (0, 1), e.g. [0.1, 0.05, 0.01], got {value!r}.")


# ------------------------------------------------------------------ terrain
@stage("terrain", params={
    "collection": Param("synthetic-dem", text(), "the DEM collection, e.g. cop-dem-glo-30"),
    "asset": Param("data", text(), "its elevation asset"),
})
def terrain_stage(ctx, collection, asset) -> xr.Dataset:
    """Elevation, slope and aspect (Horn) on the grid, for the Geodetector's factors."""
    from ..io.cube import open_dem
    from ..io.search import search
    from ..ops.terrain import slope_aspect

    items = search(collection, source=ctx.source, bbox=list(ctx.grid.lonlat_bounds()))
    ctx.record_items(items)
    dem = open_dem(items, grid=ctx.grid, asset=asset, chunksize=ctx.chunks)
    return xr.merge([dem, slope_aspect(dem)]).assign_attrs(
        {k: v for k, v in dem.attrs.items() if k.startswith("provenance:")})


# ------------------------------------------------------------------ RSEI
def _clip(value, run):
    if value is None:
        return
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
            and 0 <= value[0] < value[1] <= 100):
        raise ValueError(f"expected [low, high] percentiles with 0 <= low < high <= 100 (e.g. [1, 99]) or null, "
                         f"got {value!r}.")


def _rsei_inputs(ctx, water_threshold):
    from ..ops.indices import mndwi
    from ..ops.rsei import water_mask
    from .stages import _annual_var

    names = ("ndvi", "wet", "ndbsi", "lst")
    arrays = [_annual_var(ctx, n, "steps: rsei (params.annual.indices must list ndvi, wet, ndbsi, lst)")
              for n in names]
    mask = None
    if water_threshold is not None:
        annual = ctx.open("annual")
        mask = water_mask(mndwi(annual["green"], annual["swir16"]), threshold=water_threshold)
    return arrays, mask


def _rsei_basis(ctx, pooled, clip, water_threshold):
    """The reduce phase: bounds, covariance and PCA over the whole area (once)."""
    from ..ops.rsei import rsei_basis

    arrays, mask = _rsei_inputs(ctx, water_threshold)
    # pass by pass (each reads the inputs once and keeps none): memory bounded by a chunk
    return rsei_basis(*arrays, mask=mask, pooled=pooled, clip=None if clip is None else tuple(clip), compute=True)


@stage("rsei", inputs=("annual",), output="raster+table", reduce=_rsei_basis, params={
    "pooled": Param(False, None, "one PCA for all years (comparable years) instead of one per year"),
    "clip": Param(None, _clip, "percentiles the indices are clipped to before min-max, e.g. [1, 99]"),
    "water_threshold": Param(0.0, number(-1, 1, optional=True), "MNDWI above which a pixel is water "
                                                                  "(masked before RSEI); null: no mask"),
    "transitions": Param(None, None, "[[from, to], ...] years of the grade transition matrices "
                                     "(default: first and last year)"),
})
def rsei_stage(ctx, pooled, clip, water_threshold, transitions):
    """RSEI per year (study 000): PC1 of the normalised NDVI, WET, NDBSI and LST over the whole area,
    its five grades, the Table 5 summary, grade areas and transition matrices."""
    from ..ops.rsei import grade_areas, rsei, rsei_grades, rsei_table, transition_matrix

    arrays, mask = _rsei_inputs(ctx, water_threshold)
    ds = rsei(*arrays, mask=mask, basis=ctx.reduced)
    grades = rsei_grades(ds["rsei"])
    years = _years(ds["rsei"])
    pairs = transitions or [[int(years[0]), int(years[-1])]]
    tables = {"rsei_pca": rsei_table(ctx.reduced, ds), "rsei_grade_areas": grade_areas(grades)}
    for a, b in pairs:
        m = transition_matrix(grades, a, b)
        m.columns = [" ".join(str(c) for c in col if str(c)) for col in m.columns]
        m = m.reset_index().rename(columns={m.index.name or "index": "from_grade"})
        m.attrs.update(units={c: ("km2" if "area" in c else "%") for c in m.columns if c != "from_grade"},
                       description=f"RSEI grade transitions {a} -> {b}: area and percent of the from-grade")
        tables[f"rsei_transitions_{a}_{b}"] = m
    tables["rsei_pca"].attrs.setdefault("description", "per year: PC1 contribution, loadings, mean "
                                                       "normalised indices and RSEI (Table 5)")
    tables["rsei_grade_areas"].attrs.setdefault("description", "area and share of each RSEI grade per year")
    raster = xr.Dataset({"rsei": ds["rsei"], "rsei_grade": grades})
    return Outputs(raster=raster, tables=tables)


# ------------------------------------------------------------------ trend maps of RSEI
def _in_period(da, first, last):
    years = _years(da)
    return da.isel(time=(years >= first) & (years <= last))


@stage("rsei_trend", inputs=("rsei", "disturbance"), params={
    "periods": Param([[2000, 2012], [2012, 2024], [2000, 2024]], _periods,
                     "the periods of the trend maps (clipped to the run's years; periods under 3 years skipped)"),
    "levels": Param([0.10, 0.05, 0.01], _levels, "significance levels of the trend classes"),
})
def rsei_trend_stage(ctx, periods, levels) -> xr.Dataset:
    """RSEI trend maps per period (Sen slope, MK Z and p, significance classes), Pettitt change
    points, and trends split at each pixel's detected mine opening."""
    from ..ops.changepoint import pettitt, split_trend
    from ..ops.significance import significance_classes
    from ..ops.trend import sen_mann_kendall

    rsei = ctx.open("rsei")["rsei"]
    out = {}
    for tag, part in _period_parts(rsei, periods):
        sm = sen_mann_kendall(part, dim="time")
        out.update({f"slope_{tag}": sm["slope"], f"z_{tag}": sm["z"], f"p_{tag}": sm["p"],
                    f"class_{tag}": significance_classes(sm["p"], sm["slope"], levels=tuple(levels))})
    cp = pettitt(rsei, dim="time")
    out.update({"pettitt_year": cp["first_year_after"], "pettitt_p": cp["p"]})
    opened = ctx.open("disturbance")["destruction_year"]
    split = split_trend(rsei, opened.where(opened > 0), dim="time")
    out.update({f"{v}_split": split[v] for v in split.data_vars})
    return xr.Dataset(out).assign_attrs(periods=[t for t, _ in _period_parts(rsei, periods)])


def _period_parts(rsei, periods):
    for first, last in periods:
        part = _in_period(rsei, first, last)
        if part.sizes["time"] >= 3:
            yield f"{_years(part)[0]}_{_years(part)[-1]}", part


@stage("rsei_significance", inputs=("rsei", "rsei_trend"), output="raster+table", zones=("mines",), params={
    "fdr": Param("bh", one_of(("bh", "by")), "field significance: Benjamini-Hochberg or -Yekutieli"),
    "alpha": Param(0.05, number(0, 1, open_lo=True, open_hi=True), "level of the field significance"),
})
def rsei_significance_stage(ctx, fdr, alpha):
    """Field significance of the RSEI trends (FDR q maps, share of area still significant, in
    total and per mine), trend-class areas, the regional series and its fits."""
    from ..ops.reduce import grouped_stat
    from ..ops.series import piecewise_linear_fit, quadratic_fit, series_trend
    from ..ops.significance import fdr_adjust, share_significant

    trend = ctx.open("rsei_trend")
    mines = ctx.zones("mines")
    km2 = ctx.grid.pixel_area_m2 / 1e6
    q_maps, area_rows, field_rows = {}, [], []
    for tag in trend.attrs.get("periods", []):
        p, classes = trend[f"p_{tag}"], trend[f"class_{tag}"]
        q = fdr_adjust(p, method=fdr)
        q_maps[f"q_{tag}"] = q.astype(np.float32).assign_attrs(
            units="1", long_name=f"{fdr.upper()}-adjusted q of the MK trend {tag}")
        # classes -3..3 -> groups 0..6 (nodata -128 falls outside)
        counts = grouped_stat(xr.ones_like(classes, dtype=np.float32), classes.astype(np.int64) + 3, 7,
                              "count", dims=("y", "x")).values
        area_rows += [{"period": tag, "class": c - 3, "area_km2": float(counts[c]) * km2}
                      for c in range(7) if counts[c]]
        shares = share_significant(q, alpha=alpha, zones=mines, id_column=_id_column(mines))
        field_rows.append({"period": tag, "zone": "whole area", "share_p": float((p < alpha).where(p.notnull()).mean()),
                           "share_q": float(shares.attrs["total"])})
        zone_col = _id_column(mines) or "zone"
        field_rows += [{"period": tag, "zone": str(r[zone_col]), "share_p": np.nan, "share_q": float(r["share"])}
                       for _, r in shares.iterrows()]
    rsei = ctx.open("rsei")["rsei"]
    years = _years(rsei)
    mean = rsei.mean(("y", "x")).compute().values
    ok = np.isfinite(mean)
    fits = {"sen_mk": series_trend(years[ok], mean[ok]), "quadratic": quadratic_fit(years[ok], mean[ok])}
    if ok.sum() >= 5:
        fits["piecewise"] = piecewise_linear_fit(years[ok], mean[ok])
    fit_rows = [{"fit": name, "term": term, "value": value} for name, res in fits.items()
                for k, v in res.items() for term, value in _terms(k, v)]
    tables = {
        "rsei_trend_areas": pd.DataFrame(area_rows, columns=["period", "class", "area_km2"]),
        "rsei_field_significance": pd.DataFrame(field_rows, columns=["period", "zone", "share_p", "share_q"]),
        "rsei_regional_series": pd.DataFrame({"year": years, "rsei_mean": mean}),
        "rsei_series_fits": pd.DataFrame(fit_rows, columns=["fit", "term", "value"]),
    }
    tables["rsei_trend_areas"].attrs.update(units={"area_km2": "km2"}, description=(
        "area per trend class (sign of the Sen slope x number of levels its MK p passes)"))
    tables["rsei_field_significance"].attrs.update(units={"share_p": "1", "share_q": "1"}, description=(
        f"share of the area significant at {alpha} before (p) and after {fdr.upper()} correction (q)"))
    tables["rsei_regional_series"].attrs.update(units={"year": "year", "rsei_mean": "1"},
                                                description="regional mean RSEI per year")
    tables["rsei_series_fits"].attrs.update(description="Sen/MK trend, quadratic and continuous two-segment "
                                                        "fits of the regional mean RSEI")
    return Outputs(raster=xr.Dataset(q_maps) if q_maps else None, tables=tables)


def _terms(key, value):
    """(term, number) rows of one fit result: a tuple (coefficients, slopes) gives key_0, key_1, ..."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return [(f"{key}_{i}", _number(v)) for i, v in enumerate(value)]
    return [(key, _number(value))]


def _number(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


# ------------------------------------------------------------------ EG index and the RSEI x EG overlay
@stage("eg", inputs=("land_cover",), output="raster+table", zones=("mines",), params={
    "radius": Param(990.0, number(0, open_lo=True), "moving-window radius (m, circular)"),
})
def eg_stage(ctx, radius):
    """EG index of land use (study 000 Eq. 14): per year for the whole area and per mine, and as a
    normalised moving-window map (1 = best grade)."""
    from ..ops.eg import eg_index, eg_moving_window

    lulc = ctx.open("land_cover")["land_cover"]
    window = eg_moving_window(lulc, radius).rename("eg").assign_attrs(
        units="1", long_name=f"EG index over a {radius:g} m circular window (normalised, 1 = best)")
    whole = eg_index(lulc)
    per_mine = eg_index(lulc, zones=ctx.zones("mines"), id_column=_id_column(ctx.zones("mines")))
    table = pd.concat([whole, per_mine], ignore_index=True)
    table["region"] = table["region"].astype(str)
    table.attrs.update(units={"eg": "1", "eg_raw": "grade", "area_km2": "km2", "year": "year"},
                       description="EG index per year: the whole area and each mine (Tables 8-9)")
    return Outputs(raster=xr.Dataset({"eg": window}), tables={"eg_index": table})


def _id_column(mines):
    return next((c for c in ("name", "mine_id", "id") if c in mines.columns), None)


@stage("rsei_eg", inputs=("rsei", "eg"), output="raster+table", params={})
def rsei_eg_stage(ctx):
    """RSEI x EG overlay (codes 11..33: tens the EG level, units the RSEI level; Figs. 13, 15)."""
    from ..ops.eg import overlay_areas, rsei_eg_overlay

    rsei, eg = ctx.open("rsei")["rsei"], ctx.open("eg")["eg"]
    common = np.intersect1d(rsei.time.values, eg.time.values)
    if common.size == 0:
        raise ValueError("rsei_eg: the rsei and eg groups share no year (land cover and Landsat years differ).")
    codes = rsei_eg_overlay(rsei.sel(time=common), eg.sel(time=common)).rename("rsei_eg")
    areas = overlay_areas(codes)
    areas.attrs.update(units={"area_km2": "km2", "share": "1", "year": "year"},
                       description="area and share of each RSEI x EG overlay code per year")
    return Outputs(raster=xr.Dataset({"rsei_eg": codes}), tables={"rsei_eg_areas": areas})


# ------------------------------------------------------------------ per-mine tables
@stage("mine_rsei", inputs=("rsei", "annual"), output="table", zones=("mines",), params={
    "coverage": Param("fraction", one_of(("fraction", "center")), "pixel weights of the zonal means"),
})
def mine_rsei_stage(ctx, coverage):
    """Per mine and year: mean RSEI and its four components (Tables 10-13 of study 000)."""
    from ..ops.zonal import zonal_stats

    mines = ctx.zones("mines")
    ids = _id_column(mines)
    layers = {"rsei": ctx.open("rsei")["rsei"]}
    annual = ctx.open("annual")
    layers.update({n: annual[n] for n in ("ndvi", "wet", "ndbsi", "lst") if n in annual})
    table = None
    for name, da in layers.items():
        df = zonal_stats(da, mines, stats=("mean",), coverage=coverage, id_column=ids)
        df = df.rename(columns={"mean": name})
        df["year"] = pd.to_datetime(df.pop("time")).dt.year
        table = df if table is None else table.merge(df, on=[ids or "zone", "year"])
    table.attrs.update(units={"year": "year", **{n: da.attrs.get("units", "1") for n, da in layers.items()}},
                       description="coverage-weighted mean RSEI, NDVI, WET, NDBSI and LST per mine and year")
    return {"mine_rsei": table}


# ------------------------------------------------------------------ Geodetector
@stage("geodetector", inputs=("rsei", "terrain"), output="table", zones=("mines",), params={
    "year": Param(None, number(1900, 2200, integer=True, optional=True), "the RSEI year (default: the last)"),
    "discretize": Param("quantile", one_of(("quantile", "equal", "natural", "geometric")),
                        "how numeric factors become strata"),
    "k": Param(5, number(2, 20, integer=True), "classes per numeric factor"),
    "sample": Param(20000, number(100, integer=True, optional=True), "pixels sampled (null: all)"),
    "seed": Param(0, number(0, integer=True), "the sample's random seed"),
})
def geodetector_stage(ctx, year, discretize, k, sample, seed):
    """Geodetector of RSEI: factor, interaction, risk and ecological detectors over sampled pixels
    (factors: elevation, slope, aspect, distance to the nearest mine)."""
    from ..ops.geodetector import geodetector
    from ..ops.terrain import distance_to

    rsei = ctx.open("rsei")["rsei"]
    rsei = rsei.isel(time=-1) if year is None else rsei.sel(time=str(year)).squeeze("time", drop=True)
    terrain = ctx.open("terrain")
    factors = {"elevation": terrain["elevation"], "slope": terrain["slope"], "aspect": terrain["aspect"],
               "distance_to_mine": distance_to(ctx.zones("mines"), rsei)}
    result = geodetector(rsei.drop_vars("time", errors="ignore"), factors, discretize=discretize, k=k,
                         sample=sample, seed=seed)
    return result.to_tables()
