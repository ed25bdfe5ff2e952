"""Report sections of the carbon-storage and landscape-pattern workflow (study 004): the LULC
in the study's classes, carbon storage maps and change (Figs. 6-7), the stock tables, the
landscape metrics per year (Table 6), metric maps and semivariograms, the coupling series,
K_l by distance band and the drivers of carbon density (Tables 7-9)."""

from __future__ import annotations

import numpy as np

from .builtin import _at_year, _year_index
from .builtin_carbon import _series, _tables
from .sections import section

STUDY004 = {1: ("transportation land", "#7f7f7f"), 2: ("water body", "#3a78d0"), 3: ("industrial land", "#9c27b0"),
            4: ("mining land", "#3b2f2f"), 5: ("cropland", "#f2d16b"), 6: ("residential land", "#d0312d"),
            7: ("grassland", "#c8e27a"), 8: ("forest", "#2e7d32"), 9: ("reclaimed dump", "#66c2a5"),
            10: ("unreclaimed dump", "#b39a7a"), 11: ("bare land", "#e6d5b8")}


def _near(years, wanted):
    return [years.index(y) for y in wanted if y in years]


@section("mining_lulc", title="Land use in study 004's mining classes", order=60)
def mining_lulc_section(page, group):
    lulc = page.var(group, "lulc")
    years = _year_index(lulc) if lulc is not None else []
    if not years:
        return
    idx = sorted({0, len(years) // 2, len(years) - 1})
    page.map("LULC with mining land and reclaimed dumps (Fig. 3)",
             [(f"LULC {years[i]}", _at_year(lulc, i), {"categories": STUDY004}) for i in idx])


@section("carbon_storage", title="Carbon storage, InVEST model (study 004 Figs. 6-7, Table 5)", order=62)
def carbon_storage_section(page, group):
    c = page.var(group, "c_storage")
    years = _year_index(c) if c is not None else []
    tables = _tables(page, group)
    if years:
        idx = sorted({0, len(years) // 2, len(years) - 1})
        page.map("Carbon storage per pixel (Fig. 6)",
                 [(f"{years[i]}", _at_year(c, i), {"cmap": "YlGn"}) for i in idx])
        from .page import overview

        change = (c.isel(time=-1) - c.isel(time=0)).assign_attrs(units=c.attrs.get("units", "t/ha"))
        small = np.abs(np.asarray(overview(change, page.max_px).values))   # the colour limit from the overview
        lim = float(np.nanmax(small)) if np.isfinite(small).any() else 0.0
        page.map(f"Carbon storage change {years[0]}-{years[-1]} (Fig. 7)",
                 [("change", change, {"cmap": "RdYlGn", "vmin": -lim or -1, "vmax": lim or 1})])
    total = tables.get("carbon_stock_total")
    if total is not None:
        x = total["year"].to_numpy()
        series = {"total": (x, total["stock_Mt"].to_numpy())}
        lo = [c for c in total.columns if c.startswith("stock_p2")]
        hi = [c for c in total.columns if c.startswith("stock_p97")]
        if lo and hi:
            series["2.5th percentile"] = (x, total[lo[0]].to_numpy() / 1e6)
            series["97.5th percentile"] = (x, total[hi[0]].to_numpy() / 1e6)
        page.chart("Total carbon stock per year (Monte-Carlo range)", series, xlabel="year", ylabel="Mt")
    stock = tables.get("carbon_stock")
    if stock is not None and "class" in stock:
        page.chart("Carbon stock by class", _series(stock, "class", "year", "stock_t"), xlabel="year", ylabel="t")
    mines = tables.get("carbon_stock_mines")
    if mines is not None:
        page.chart("Carbon stock of each mine", _series(mines, "mine", "year", "stock_t"), xlabel="year", ylabel="t")
    for name, caption in (("carbon_reconciliation", "Reconciliation: stock(t1) - stock(t0) = the sum of the "
                                                     "transitions"),
                          ("carbon_transitions", "Carbon change by transition (from-class -> to-class)")):
        if name in tables:
            df = tables[name]
            if name == "carbon_transitions" and len(df) > 40:
                df = df.reindex(df["change_t"].abs().sort_values(ascending=False).index).head(40)
                caption += " (the 40 largest by |change|; all in the CSV)"
            page.table(df, caption=caption)


@section("landscape", title="Landscape pattern metrics (FRAGSTATS definitions, study 004 Table 6)", order=64)
def landscape_section(page, group):
    tables = _tables(page, group)
    land = tables.get("landscape_metrics")
    if land is not None:
        x = land["year"].to_numpy()
        for title, cols in (("Fragmentation: NP, PD, ED, LSI", ("NP", "PD", "ED", "LSI")),
                            ("Diversity: SHDI, SHEI", ("SHDI", "SHEI")),
                            ("Aggregation: LPI, COHESION, CONTAG, AI", ("LPI", "COHESION", "CONTAG", "AI"))):
            # one axis for metrics of different units: each relative to its first year
            have = {c: (x, land[c].to_numpy() / land[c].to_numpy()[0]) for c in cols
                    if c in land and np.isfinite(land[c].to_numpy()[0]) and land[c].to_numpy()[0] != 0}
            if have:
                page.chart(title, have, xlabel="year", ylabel=f"relative to {int(x[0])}")
        page.table(land, caption="Landscape-level metrics per year")
    cl = tables.get("class_metrics")
    if cl is not None:
        page.table(cl, caption="Class-level metrics per year")


@section("landscape_windows", title="Moving-window landscape metrics and the window radius (study 004 Fig. 8)",
         order=66)
def landscape_windows_section(page, group):
    ds = page.open(group)
    maps = [m for m in ds.data_vars if {"y", "x"} <= set(ds[m].dims)]
    if maps:
        page.map(f"Metric maps of {ds.attrs.get('year', '')}, {ds.attrs.get('radius_m', 0):g} m window",
                 [(m, page.var(group, m), {"cmap": "viridis"}) for m in maps])
    tables = _tables(page, group)
    choice = tables.get("window_choice")
    sv = tables.get("semivariograms")
    if sv is not None and choice is not None:
        # each metric's γ(h) over its fitted sill at the chosen radius: one axis for all metrics
        chosen = choice[choice["chosen"].astype(bool)].set_index("metric")["sill"]
        series = {m: (g["lag"].to_numpy(), g["gamma"].to_numpy() / float(chosen.get(m, np.nan)))
                  for m, g in sv.groupby("metric") if m in chosen and float(chosen[m]) > 0}
        if series:
            page.chart(f"Semivariograms at the chosen radius ({ds.attrs.get('chosen_radius_m', 0):g} m), γ(h) / sill",
                       series, xlabel="lag (m)", ylabel="γ / sill")
    if choice is not None:
        page.chart("Nugget/sill ratio of each metric map per window radius (the radius is chosen where it "
                   "stabilises)", _series(choice, "metric", "radius_m", "nugget_sill"), xlabel="radius (m)",
                   ylabel="nugget / sill")
        page.chart("Fitted range of each metric map per window radius", _series(choice, "metric", "radius_m", "range_m"),
                   xlabel="radius (m)", ylabel="m")
        page.table(choice, caption=choice.attrs.get("description", "semivariogram fits per radius"))


@section("coupling", title="Coupling coordination of landscape, forest/grassland and carbon (study 004 Eqs. 5-11)",
         order=68)
def coupling_section(page, group):
    tables = _tables(page, group)
    cc = tables.get("coupling")
    if cc is not None:
        x = cc["year"].to_numpy()
        page.chart("L, F, Ca and the coupling coordination D", {c: (x, cc[c].to_numpy()) for c in ("L", "F", "Ca", "C", "D")
                                                                if c in cc}, xlabel="year", ylabel="1")
        page.table(cc, caption=cc.attrs.get("description", ""))
    if "coupling_weights" in tables:
        page.table(tables["coupling_weights"], caption="Entropy weights of the integrated landscape index (Eq. 8)")


@section("carbon_contribution", title="Contribution ratio K_l by distance from the mining landscape (study 004 Eq. 12)",
         order=70)
def carbon_contribution_section(page, group):
    k = _tables(page, group).get("contribution")
    if k is not None:
        key = "year" if "year" in k else "band"
        page.chart("K_l per distance band", _series(k, key, "outer_m", "K_l") if key == "year" else
                   {"K_l": (k["outer_m"].to_numpy(), k["K_l"].to_numpy())}, xlabel="outer edge of the band (m)",
                   ylabel="%")
        page.table(k, caption=k.attrs.get("description", ""))


@section("carbon_drivers", title="Drivers of carbon density (study 004 Tables 7-9)", order=72)
def carbon_drivers_section(page, group):
    tables = _tables(page, group)
    for name, caption in (("drivers_pearson", "Pearson correlation of carbon density with each factor (Table 7)"),
                          ("drivers_models", "VIF-screened OLS models: R², adjusted R², F, Durbin-Watson (Tables 8-9)"),
                          ("drivers_coefficients", "Coefficients of the kept predictors")):
        if name in tables:
            page.table(tables[name], caption=caption)
