"""Report sections of the built-in stages (cubeeco/pipeline/stages.py).

Each is short and forgiving: a variable the group lacks skips its panel; anything else
that goes wrong becomes a "section failed" paragraph (cubeeco/report/build.py).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .page import masked, overview
from .sections import section

# known class legends: {code: (label, colour)}
CLCD = {1: ("cropland", "#f2d16b"), 2: ("forest", "#2e7d32"), 3: ("shrub", "#8dbb55"),
        4: ("grassland", "#c8e27a"), 5: ("water", "#3a78d0"), 6: ("snow/ice", "#dff2fb"),
        7: ("barren", "#b39a7a"), 8: ("impervious", "#d0312d"), 9: ("wetland", "#5fbfb3")}
IO_LULC = {1: ("water", "#419bdf"), 2: ("trees", "#397d49"), 4: ("flooded vegetation", "#7a87c6"),
           5: ("crops", "#e49635"), 7: ("built area", "#c4281b"), 8: ("bare ground", "#a59b8f"),
           9: ("snow/ice", "#a8ebff"), 10: ("clouds", "#616161"), 11: ("rangeland", "#e3e2c3")}
WORLDCOVER = {10: ("tree cover", "#006400"), 20: ("shrubland", "#ffbb22"), 30: ("grassland", "#ffff4c"),
              40: ("cropland", "#f096ff"), 50: ("built-up", "#fa0000"), 60: ("bare / sparse", "#b4b4b4"),
              70: ("snow and ice", "#f0f0f0"), 80: ("water", "#0064c8"), 90: ("herbaceous wetland", "#0096a0"),
              95: ("mangroves", "#00cf75"), 100: ("moss and lichen", "#fae6a0")}
TREND_CLASSES = {-1: ("decreasing", "#c0392b"), 0: ("no significant trend", "#e8e8e8"),
                 1: ("increasing", "#1e8449")}


def _year_index(da):
    return [int(v) for v in da["time"].dt.year.values] if "time" in da.coords else []


def _at_year(da, i: int):
    return da.isel(time=i) if "time" in da.dims else da


def _regional(page, da, label: str) -> dict:
    """Mean series of ``da`` over an overview, inside / outside the zones when there are some."""
    ov = masked(overview(da, page.max_px)).load()
    inside = page.zone_mask(ov)
    if inside is None or not inside.any() or inside.all():
        return {label: ov.mean(("y", "x"))}
    m = np.broadcast_to(inside, ov.shape[-2:])
    return {f"{label}, inside zones": ov.where(m).mean(("y", "x")),
            f"{label}, outside zones": ov.where(~m).mean(("y", "x"))}


def _robust_abs(da, q: float = 98) -> float:
    v = np.asarray(masked(overview(da, 256)).values, dtype="float64")
    v = np.abs(v[np.isfinite(v)])
    return float(np.percentile(v, q)) if v.size and np.percentile(v, q) > 0 else 1.0


@section("annual", title="Annual composites", order=10)
def annual_section(page, group):
    ds = page.open(group)
    ndvi = page.var(group, "ndvi")
    years = _year_index(ds)
    if years:
        page.text(f"{len(years)} growing-season composites, {years[0]}–{years[-1]}; "
                  f"{ds.sizes.get('x', 0)} × {ds.sizes.get('y', 0)} pixels.")
    if ndvi is not None and years:
        kw = {"cmap": "YlGn", "vmin": 0, "vmax": 0.8}
        page.map("Growing-season NDVI, first and last year", [
            (f"NDVI {years[0]}", _at_year(ndvi, 0), kw), (f"NDVI {years[-1]}", _at_year(ndvi, -1), kw)])
    series = {}
    for name in ("ndvi", "wet", "ndbsi"):
        da = page.var(group, name)
        if da is not None and "time" in da.dims:
            series.update(_regional(page, da, name.upper()))
    if series:
        page.chart("Regional mean of the spectral indices", series, xlabel="year", ylabel="index",
                   caption="Mean over a coarse overview of the grid (inside / outside the zones when "
                           "zone outlines are given).")
    lst = page.var(group, "lst")
    if lst is not None and "time" in lst.dims:
        page.chart("Regional mean land-surface temperature", _regional(page, lst, "LST"), xlabel="year",
                   ylabel=str(lst.attrs.get("units", "")))


@section("ndvi_trend", title="NDVI trend", order=30)
def trend_section(page, group):
    ds = page.open(group)
    slope, flag, p = page.var(group, "slope"), page.var(group, "trend"), page.var(group, "p")
    alpha = ds.attrs.get("alpha", 0.05)
    panels = []
    if slope is not None:
        lim = _robust_abs(slope)
        panels.append(("Theil–Sen slope", slope, {"cmap": "RdYlGn", "vmin": -lim, "vmax": lim}))
    if flag is not None:
        sig = flag.where(flag != flag.attrs.get("nodata", -128))
        panels.append((f"Mann–Kendall trend (p < {alpha:g})", sig, {"categories": TREND_CLASSES}))
    elif p is not None and slope is not None:
        sig = np.sign(slope).where(p < alpha, 0)
        panels.append((f"Significant trend (p < {alpha:g})", sig, {"categories": TREND_CLASSES}))
    if panels:
        page.map("NDVI trend", panels)
    if flag is not None:
        import pandas as pd

        v = np.asarray(overview(flag, page.summary_px).values)
        valid = v[np.isin(v, (-1, 0, 1))]
        if valid.size:
            df = pd.DataFrame([{"trend": TREND_CLASSES[k][0], "share": 100 * float(np.mean(valid == k))}
                               for k in (-1, 0, 1)])
            df.attrs["units"] = {"share": "% of pixels"}
            page.table(df, caption=f"Mann–Kendall trend at alpha {alpha:g} (coarse overview)")


@section("disturbance", title="Vegetation destruction and restoration", order=40)
def disturbance_section(page, group):
    panels = []
    for name, label in (("destruction_year", "Destruction year"), ("restoration_year", "Restoration year")):
        da = page.var(group, name)
        if da is not None:
            panels.append((label, da.where(da > 0).assign_attrs(units="year"), {"cmap": "viridis"}))
    if panels:
        page.map("Years of persistent vegetation destruction and restoration", panels)
    d = page.var(group, "destruction_year")
    if d is not None:
        v = np.asarray(overview(d, page.summary_px).values)
        page.text(f"Pixels with a destruction year: {100 * float(np.mean(v > 0)):.2f} % of the grid "
                  f"(coarse overview).")


@section("modis_npp", title="MODIS NPP and carbon sequestration", order=50)
def npp_section(page, group):
    ds = page.open(group)
    years = _year_index(ds)
    panels = []
    for name, label in (("npp", "NPP"), ("vcs", "VCS")):
        da = page.var(group, name)
        if da is not None:
            panels.append((f"{label} {years[-1]}" if years else label, _at_year(da, -1), {"cmap": "YlGn"}))
    if panels:
        page.map("Net primary production and vegetation carbon sequestration, last year", panels)
    for name, label in (("npp", "NPP"), ("vcs", "VCS")):
        da = page.var(group, name)
        if da is not None and "time" in da.dims:
            page.chart(f"Regional mean {label}", _regional(page, da, label), xlabel="year",
                       ylabel=str(da.attrs.get("units", "")))


def class_legend(page, group, da) -> dict:
    """{code: (label, colour)}: from the variable's flag attributes, else the collection
    named in the group's provenance, else CLCD (the synthetic base's classes)."""
    values, meanings = da.attrs.get("flag_values"), da.attrs.get("flag_meanings")
    if values is not None and meanings:
        names = str(meanings).split()
        if len(names) == len(list(values)):
            return {int(v): n.replace("_", " ") for v, n in zip(values, names)}
    from ..io.store import read_provenance

    try:
        config = read_provenance(page.store, group).get("config") or {}
        collection = str((config.get("params") or {}).get("collection", "")) if isinstance(config, dict) else ""
    except Exception:  # noqa: BLE001
        collection = ""
    if collection.startswith("io-lulc"):
        return IO_LULC
    if "worldcover" in collection:
        return WORLDCOVER
    return CLCD


@section("land_cover", title="Land cover", order=60)
def land_cover_section(page, group):
    import pandas as pd

    lc = page.var(group, "land_cover")
    if lc is None:
        names = list(page.open(group).data_vars)
        if not names:
            return
        lc = page.open(group)[names[0]]
    years = _year_index(lc)
    legend = class_legend(page, group, lc)
    nodata = lc.attrs.get("nodata", lc.attrs.get("_FillValue", 0))
    panels = [(f"Land cover {years[0]}" if years else "Land cover", _at_year(lc, 0), {"categories": legend})]
    if len(years) > 1:
        panels.append((f"Land cover {years[-1]}", _at_year(lc, -1), {"categories": legend}))
    page.map("Land-cover classes, first and last year", panels)
    # exact class areas: one grouped count over the class raster, chunk by chunk
    from ..ops.reduce import grouped_stat

    first, last = _at_year(lc, 0), _at_year(lc, -1)
    seen = np.unique(np.asarray(overview(first, page.summary_px).values, dtype="float64"))
    observed = {int(v) for v in seen if np.isfinite(v)}
    if nodata is not None:
        observed.discard(int(nodata))
    codes = sorted(set(legend) | observed)
    codes = [c for c in codes if c >= 0]
    both = xr.concat([first, last], dim="_year").astype(np.int64)
    per_class = grouped_stat(xr.ones_like(both, dtype=np.float32), both, max(codes, default=0) + 1, "count",
                             dims=("y", "x")).values
    counts = [(per_class[0, c], per_class[1, c]) for c in codes]
    x, y = lc["x"].values, lc["y"].values
    km2 = (abs(float(x[1] - x[0])) if x.size > 1 else 0) * (abs(float(y[1] - y[0])) if y.size > 1 else 0) / 1e6
    rows = []
    for c, (a, b) in zip(codes, counts):
        a, b = int(a), int(b)
        if a or b:
            label = legend.get(c, f"class {c}")
            label = label[0] if isinstance(label, (tuple, list)) else label
            rows.append({"class": f"{c} {label}", f"area {years[0] if years else ''}".strip(): a * km2,
                         f"area {years[-1] if years else ''}".strip(): b * km2, "change": (b - a) * km2})
    if rows:
        df = pd.DataFrame(rows)
        df.attrs["units"] = {c: "km²" for c in df.columns if c != "class"}
        page.table(df, caption="Area of each land-cover class")


@section("mine_stats", title="Mines", order=70)
def mine_section(page, group):
    """Per-mine NDVI and NPP through the years, and inside vs outside the mines."""
    from ..io.tables import open_table, tables_of

    names = tables_of(page.store, group)
    if "mine_series" in names:
        series = open_table(page.store, "mine_series")
        page.chart("Mean NDVI of each mine", {m: (g["year"].to_numpy(), g["ndvi_mean"].to_numpy())
                                              for m, g in series.groupby("mine")},
                   xlabel="year", ylabel="NDVI", caption="Coverage-weighted mean over each mine polygon.")
    if "regional_series" in names:
        regional = open_table(page.store, "regional_series")
        for col, label in (("ndvi_mean", "NDVI"), ("npp_mean", "NPP (g C m⁻² yr⁻¹)")):
            if col in regional:
                page.chart(f"{label} inside and outside the mines",
                           {r: (g["year"].to_numpy(), g[col].to_numpy()) for r, g in regional.groupby("region")},
                           xlabel="year", ylabel=label)
    if "mine_summary" in names:
        page.table(open_table(page.store, "mine_summary"), caption="Mines: area, NDVI, detected opening "
                   "and restoration (median year over the mine's pixels), last year's NPP")
