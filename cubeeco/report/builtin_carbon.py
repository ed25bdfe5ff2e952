"""Report sections of the carbon workflows (studies 001, 002, 003): CASA NPP, the MODIS NPP
scale transformation, VCS accounting per mine and the Pingshuo tables."""

from __future__ import annotations

import numpy as np

from .builtin import _at_year, _regional, _year_index
from .sections import section


def _tables(page, group):
    from ..io.tables import open_table, tables_of

    return {name: open_table(page.store, name) for name in tables_of(page.store, group)}


def _monthly_quality(page):
    """The monthly composites' quality flags (time, month, y, x), or None without that group."""
    from ..io.store import is_complete

    if not is_complete(page.store, "monthly_ndvi"):
        return None
    q = page.var("monthly_ndvi", "quality")
    return q if q is not None and "time" in q.dims else None


def _series(df, key, x, y):
    return {str(k): (g[x].to_numpy(), g[y].to_numpy()) for k, g in df.groupby(key)}


@section("casa", title="CASA net primary production (study 001)", order=52)
def casa_section(page, group):
    ds = page.open(group)
    years = _year_index(ds)
    npp = page.var(group, "npp")
    if npp is not None and years:
        page.map("Annual NPP by CASA", [(f"NPP {y}", _at_year(npp, i), {"cmap": "YlGn"})
                                        for i, y in enumerate(years[-2:], start=max(len(years) - 2, 0))])
    monthly = page.var(group, "npp_monthly")
    if monthly is not None and years:
        mean = monthly.isel(time=-1).mean(("y", "x"))
        page.chart(f"Regional mean monthly NPP, {years[-1]}", {"NPP": (np.arange(1, 13), np.asarray(mean.values))},
                   xlabel="month", ylabel=str(monthly.attrs.get("units", "")))
    quality = _monthly_quality(page)
    if quality is not None:
        from ..ops.casa import QUALITY_FLAGS
        from .page import overview

        q = np.asarray(overview(quality.isel(time=-1), page.summary_px).values)
        shares = {label: 100 * float(np.mean(q == code)) for code, label in QUALITY_FLAGS.items()}
        page.text("Monthly NDVI of the last modelled year (coarse overview): "
                  + ", ".join(f"{k} {v:.1f} %" for k, v in shares.items() if v > 0)
                  + " of pixel-months; a month without a clear observation is filled or NaN, never 0.")
    tables = _tables(page, group)
    if "casa_parameters" in tables:
        page.table(tables["casa_parameters"], caption="Per-vegetation-type NDVI/SR bounds (5th/95th "
                   "percentiles over the area) and ε_max")


@section("scaled_npp", title="MODIS NPP at 30 m and vegetation carbon sequestration (study 002)", order=54)
def scaled_npp_section(page, group):
    ds = page.open(group)
    years = _year_index(ds)
    panels = []
    for name, label, cmap in (("npp", "NPP_a (Eq. 1)", "YlGn"), ("vcs", "VCS (Eq. 2)", "YlGn"),
                              ("npp_bg", "NPP_bg (kriged)", "magma")):
        da = page.var(group, name)
        if da is not None:
            panels.append((f"{label} {years[-1]}", _at_year(da, -1), {"cmap": cmap}))
    if panels:
        page.map("MOD17A3HGF NPP redistributed onto the vegetated 30 m pixels, last year", panels)
    vcs = page.var(group, "vcs")
    if vcs is not None:
        page.chart("Regional mean VCS", _regional(page, vcs, "VCS"), xlabel="year",
                   ylabel=str(vcs.attrs.get("units", "")))
    tables = _tables(page, group)
    if "npp_bg_samples" in tables:
        page.table(tables["npp_bg_samples"], caption="NPP_bg per year: wholly destroyed 500 m cells sampled "
                   "and the rule used")


@section("vcs_accounting", title="Carbon lost to mining and regained by restoration (study 002 Eqs. 3-5)",
         order=56)
def vcs_accounting_section(page, group):
    tables = _tables(page, group)
    series = tables.get("vcs_annual")
    if series is not None:
        x = series["year"].to_numpy()
        pairs = [("destroyed and restored area", ("destroyed_area_km2", "restored_area_km2"), "km²"),
                 ("direct decrease and increase of VCS", ("direct_decrease_Gg", "direct_increase_Gg"), "Gg CO₂"),
                 ("potential changes C_destroy and C_restore", ("C_destroy_Gg", "C_restore_Gg"), "Gg CO₂"),
                 ("R_V and R_VCS", ("R_V", "R_VCS"), "1")]
        for k, (title, cols, unit) in enumerate(pairs):
            have = {c: (x, series[c].to_numpy()) for c in cols if c in series}
            if have:
                page.chart(f"Fig. 2{'abcd'[k]}: {title}", have, xlabel="year", ylabel=unit)
    mines = tables.get("vcs_mines")
    if mines is not None:
        if "VCSD_se_Gg" in mines and len(mines):
            _vcsd_bars(page, mines)
        page.table(mines, caption="VCSD per mine (Eq. 5, Gg CO₂) with its standard error and carbon value")
    for name in ("vcs_totals", "vcs_cohorts"):
        if name in tables:
            page.table(tables[name], caption=tables[name].attrs.get("description", name))


def _vcsd_bars(page, mines, most: int = 40):
    """VCSD per mine with ±2 standard errors (MOD17's retrieval error), the largest ``most``."""
    import matplotlib.pyplot as plt

    top = mines.sort_values("VCSD_Gg", ascending=False).head(most)
    fig, ax = plt.subplots(figsize=(min(2 + 0.35 * len(top), 12), 3.4))
    ax.bar(np.arange(len(top)), top["VCSD_Gg"], yerr=2 * top["VCSD_se_Gg"], color="#8c510a", capsize=3)
    ax.set_xticks(np.arange(len(top)), top["mine"].astype(str), rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("VCSD (Gg CO₂)")
    fig.tight_layout()
    page.figure(fig, "VCSD per mine, ±2 standard errors",
                caption=f"VCSD per mine (Eq. 5), the {len(top)} largest, with ±2 first-order standard errors "
                        "from MOD17's retrieval error through Eq. 1 and Eqs. 3-4 (dating errors not included)")


@section("npp_tables", title="NPP of the mines, by land use, by change class and around the mines (study 001)",
         order=58)
def npp_tables_section(page, group):
    tables = _tables(page, group)
    mine = tables.get("npp_mine")
    if mine is not None:
        key = next(c for c in mine.columns if c not in ("year", "npp_mean"))
        page.chart("Mean NPP of each mine (Table 2)", _series(mine, key, "year", "npp_mean"), xlabel="year",
                   ylabel="g C m⁻² month⁻¹")
    rings = tables.get("npp_rings")
    if rings is not None:
        page.chart("NPP in 200 m rings outside the mines (Fig. 7)", _series(rings, "year", "outer_m", "npp_mean"),
                   xlabel="outer edge of the ring (m)", ylabel="g C m⁻² month⁻¹")
    for name, caption in (("npp_change_classes", "Area of NPP change classes (Table 1)"),
                          ("npp_land_use", "NPP by land-use type, reclaimed and unreclaimed land apart (Table 3)"),
                          ("npp_mining_change", "New mining and reclaimed area and the NPP change (Table 4)")):
        if name in tables:
            page.table(tables[name], caption=caption)
