"""Report sections of the ecological-quality stages (cubeeco/pipeline/stages_ecology.py):
RSEI, its trend maps, their field significance, the EG index, the RSEI x EG overlay and
the Geodetector.

Like :mod:`cubeeco.report.builtin`: a variable or table the group lacks skips its panel;
maps read overviews only (:func:`~cubeeco.report.page.overview`).
"""

from __future__ import annotations

import re

import numpy as np

from .page import overview
from .sections import section

# significance classes of rsei_trend: sign of the Sen slope x number of levels its MK p passes
TREND_COLOURS = {-3: "#a50026", -2: "#d73027", -1: "#fdae61", 0: "#e8e8e8", 1: "#a6d96a", 2: "#1a9850",
                 3: "#006837"}
TREND_LABELS = {-3: "decrease p<0.01", -2: "decrease p<0.05", -1: "decrease p<0.1", 0: "not significant",
                1: "increase p<0.1", 2: "increase p<0.05", 3: "increase p<0.01"}
# RSEI x EG overlay: tens the EG level, units the RSEI level (a 3 x 3 bivariate palette)
OVERLAY_COLOURS = {11: "#e8e8e8", 12: "#ace4e4", 13: "#5ac8c8", 21: "#dfb0d6", 22: "#a5add3", 23: "#5698b9",
                   31: "#be64ac", 32: "#8c62aa", 33: "#3b4994"}


def _years(da) -> list[int]:
    return [int(v) for v in da["time"].dt.year.values] if "time" in da.coords else []


def _table(page, group, name, columns=()):
    """The table ``name`` of ``group`` or None (absent, or lacking one of ``columns``)."""
    from ..io.tables import open_table, tables_of

    if name not in tables_of(page.store, group):
        return None
    df = open_table(page.store, name)
    return df if all(c in df.columns for c in columns) else None


def _year_column(values) -> np.ndarray:
    import pandas as pd

    values = pd.Series(values)
    if values.dtype.kind in "iuf":
        return values.to_numpy()
    return pd.to_datetime(values).dt.year.to_numpy()


def _codes(values) -> list[int]:
    """flag_values as ints, also when stored as a string such as ``"[11 12 13]"``."""
    if values is None:
        return []
    if isinstance(values, str):
        return [int(v) for v in re.findall(r"-?\d+", values)]
    return [int(v) for v in np.atleast_1d(values)]


def _flag_legend(da) -> dict[int, str]:
    """{code: label} from the ``legend`` attr ({code: label}) or flag_values / flag_meanings."""
    legend = da.attrs.get("legend")
    if isinstance(legend, dict) and legend:
        try:
            return {int(k): str(v) for k, v in legend.items()}
        except (TypeError, ValueError):
            pass
    codes, meanings = _codes(da.attrs.get("flag_values")), str(da.attrs.get("flag_meanings") or "").split()
    if codes and len(codes) == len(meanings):
        return {c: m.replace("_", " ") for c, m in zip(codes, meanings)}
    return {}


@section("rsei", title="Remote sensing ecological index (RSEI)", order=80)
def rsei_section(page, group):
    rsei = page.var(group, "rsei")
    if rsei is not None:
        years = _years(rsei)
        idx = list(dict.fromkeys([0, len(years) // 2, len(years) - 1])) if years else []
        kw = {"cmap": "RdYlGn", "vmin": 0, "vmax": 1}
        panels = [(f"RSEI {years[i]}", rsei.isel(time=i), kw) for i in idx] if idx else [("RSEI", rsei, kw)]
        page.map("RSEI: first, middle and last year", panels)
    grades = _table(page, group, "rsei_grade_areas", ("time", "grade", "share_pct"))
    if grades is not None and len(grades):
        grades = grades.assign(year=_year_column(grades["time"]))
        series = {}
        for g, part in grades.sort_values("year").groupby("grade", sort=True):
            name = str(part["name"].iloc[0]) if "name" in part else f"grade {g}"
            series[f"{g} {name}"] = (part["year"].to_numpy(), part["share_pct"].to_numpy(dtype="float64"))
        page.chart("Share of the area in each RSEI grade", series, xlabel="year", ylabel="% of the area")
    pca = _table(page, group, "rsei_pca")
    if pca is not None:
        if "time" in pca:
            units = pca.attrs.get("units")
            pca = pca.assign(time=_year_column(pca["time"])).rename(columns={"time": "year"})
            if units:
                pca.attrs["units"] = {("year" if k == "time" else k): v for k, v in dict(units).items()}
        page.table(pca, caption="RSEI per year: PC1 contribution and loadings, mean normalised indices")


def _trend_legend(da) -> dict:
    labels = dict(TREND_LABELS)
    flags = _flag_legend(da)
    for code, text in flags.items():
        if code in labels:
            labels[code] = text.replace(" p le ", " p≤").replace(" p lt ", " p<")
    return {c: (labels[c], TREND_COLOURS[c]) for c in sorted(TREND_COLOURS)}


@section("rsei_trend", title="RSEI trend", order=81)
def rsei_trend_section(page, group):
    ds = page.open(group)
    periods = [str(p) for p in (ds.attrs.get("periods") or [])]
    if not periods:   # older groups: the periods from the variable names
        periods = [n[len("class_"):] for n in ds.data_vars if str(n).startswith("class_")]
    panels = []
    for tag in periods:
        da = page.var(group, f"class_{tag}")
        if da is not None:
            nodata = da.attrs.get("nodata", -128)
            panels.append((f"RSEI trend {tag.replace('_', '–')}", da.where(da != nodata),
                           {"categories": _trend_legend(da)}))
    if panels:
        page.map("Significance classes of the RSEI trend (Sen slope, Mann–Kendall p)", panels)
    year, p = page.var(group, "pettitt_year"), page.var(group, "pettitt_p")
    if year is not None:
        year = year.where(year > 0).assign_attrs(units="year")
        cp = [("Pettitt change year", year, {"cmap": "viridis"})]
        if p is not None and bool((overview(p, page.summary_px) < 0.05).any()):
            cp.append(("Change year where Pettitt p < 0.05", year.where(p < 0.05), {"cmap": "viridis"}))
        page.map("Change point of the RSEI series (first year after the change)", cp,
                 caption="Pettitt test per pixel; pixels without a change point are blank.")


def _terms(fits, fit) -> dict[str, float]:
    part = fits[fits["fit"] == fit]
    return {str(t): float(v) for t, v in zip(part["term"], part["value"]) if np.isfinite(float(v))}


def _first(terms, *names):
    return next((terms[n] for n in names if n in terms), None)


def _fit_lines(fits, years) -> dict:
    """The quadratic and piecewise fits of ``rsei_series_fits`` over ``years``; a fit whose
    terms are missing (or NaN) is left out."""
    lines = {}
    t = np.linspace(float(min(years)), float(max(years)), 200)
    q = _terms(fits, "quadratic")
    c = [_first(q, f"c{i}", f"coefficients_{i}", f"coefficient_{i}") for i in range(3)]
    if all(v is not None for v in c):
        lines["quadratic fit"] = (t, c[0] + c[1] * t + c[2] * t ** 2)
    pw = _terms(fits, "piecewise")
    bp = pw.get("breakpoint")
    s1 = _first(pw, "slope_1", "slopes_0", "slope_before", "slope1")
    s2 = _first(pw, "slope_2", "slopes_1", "slope_after", "slope2")
    at = pw.get("value_at_breakpoint")
    if at is None and bp is not None and s1 is not None and "intercept" in pw:
        at = pw["intercept"] + s1 * bp          # intercept: the first segment's value at year 0
    if None not in (bp, s1, s2, at):
        lines["piecewise fit"] = (t, at + np.where(t <= bp, s1, s2) * (t - bp))
    return lines


@section("rsei_significance", title="Field significance of the RSEI trends", order=82)
def rsei_significance_section(page, group):
    ds = page.open(group)
    panels = [(f"q {str(n)[2:].replace('_', '–')}", ds[n], {"cmap": "viridis_r", "vmin": 0, "vmax": 1})
              for n in ds.data_vars if str(n).startswith("q_")]
    if panels:
        page.map("FDR-adjusted q of the RSEI trends", panels)
    field = _table(page, group, "rsei_field_significance")
    if field is not None:
        page.table(field, caption="Share of the area with a significant trend before (p) and after "
                                  "the false-discovery-rate correction (q)")
    series = _table(page, group, "rsei_regional_series", ("year", "rsei_mean"))
    if series is not None and len(series):
        years = series["year"].to_numpy(dtype="float64")
        lines = {"regional mean RSEI": (years, series["rsei_mean"].to_numpy(dtype="float64"))}
        fits = _table(page, group, "rsei_series_fits", ("fit", "term", "value"))
        drawn = _fit_lines(fits, years) if fits is not None else {}
        lines.update(drawn)
        missing = [n for n in ("quadratic fit", "piecewise fit") if n not in drawn]
        page.chart("Regional mean RSEI and its fits", lines, xlabel="year", ylabel="RSEI",
                   caption="Regional mean RSEI per year" + (
                       f"; not drawn (terms missing in rsei_series_fits): {', '.join(missing)}." if missing
                       else ", with the quadratic and the continuous two-segment fits."))


@section("eg", title="Ecological grade (EG) of land use", order=83)
def eg_section(page, group):
    eg = page.var(group, "eg")
    if eg is not None:
        years = _years(eg)
        last = eg.isel(time=-1) if "time" in eg.dims else eg
        page.map("EG index over a moving window, last year", [
            (f"EG {years[-1]}" if years else "EG", last, {"cmap": "RdYlGn", "vmin": 0, "vmax": 1})],
            caption="Normalised EG index over the circular window (1 = best grade).")
    table = _table(page, group, "eg_index", ("year", "region", "eg"))
    if table is not None and len(table):
        table = table.sort_values("year")
        series = {}
        whole = table[table["region"] == "study_area"]
        if len(whole):
            series["study area"] = (whole["year"].to_numpy(), whole["eg"].to_numpy(dtype="float64"))
        others = [r for r in dict.fromkeys(table["region"]) if r != "study_area"]
        if len(others) <= 8:     # a few mines: one line each
            for r in others:
                part = table[table["region"] == r]
                series[str(r)] = (part["year"].to_numpy(), part["eg"].to_numpy(dtype="float64"))
        page.chart("EG index per year", series, xlabel="year", ylabel="EG (normalised)")


@section("rsei_eg", title="RSEI x EG overlay", order=84)
def rsei_eg_section(page, group):
    da = page.var(group, "rsei_eg")
    if da is None:
        return
    years = _years(da)
    last = da.isel(time=-1) if "time" in da.dims else da
    legend = _flag_legend(da) or {c: f"EG {c // 10}, RSEI {c % 10}" for c in OVERLAY_COLOURS}
    categories = {c: (label, OVERLAY_COLOURS[c]) if c in OVERLAY_COLOURS else label
                  for c, label in sorted(legend.items())}
    page.map("RSEI x EG overlay, last year", [
        (f"RSEI x EG {years[-1]}" if years else "RSEI x EG", last, {"categories": categories})],
        caption="Code = 10 x EG level + RSEI level (1 low, 2 medium, 3 high).")


@section("geodetector", title="Geodetector", order=85)
def geodetector_section(page, group):
    from .page import _plt

    factor = _table(page, group, "geodetector_factor", ("factor", "q"))
    if factor is not None and len(factor):
        plt = _plt()
        fig, ax = plt.subplots(figsize=(7.5, 3.2))
        sig = factor["significant"].astype(bool).to_numpy() if "significant" in factor else np.ones(len(factor), bool)
        ax.bar(factor["factor"].astype(str), factor["q"].astype(float),
               color=np.where(sig, "#2e7d32", "#b0b0b0"))
        ax.set_ylabel("q")
        ax.set_title("Factor detector: q of each factor (grey: not significant)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        page.figure(fig, title="Geodetector factor detector")
    inter = _table(page, group, "geodetector_interaction", ("factor_1", "factor_2", "q_12"))
    if inter is not None and len(inter):
        names = list(dict.fromkeys([*inter["factor_1"].astype(str), *inter["factor_2"].astype(str)]))
        m = np.full((len(names), len(names)), np.nan)
        for a, b, q in zip(inter["factor_1"].astype(str), inter["factor_2"].astype(str), inter["q_12"]):
            m[names.index(a), names.index(b)] = m[names.index(b), names.index(a)] = float(q)
        if factor is not None:      # the diagonal: each factor alone
            for f, q in zip(factor["factor"].astype(str), factor["q"]):
                if f in names:
                    m[names.index(f), names.index(f)] = float(q)
        plt = _plt()
        fig, ax = plt.subplots(figsize=(5.5, 4.6))
        im = ax.imshow(m, cmap="YlOrRd", vmin=0)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        for i in range(len(names)):
            for j in range(len(names)):
                if np.isfinite(m[i, j]):
                    dark = m[i, j] > 0.6 * np.nanmax(m)
                    ax.text(j, i, f"{m[i, j]:.3f}", ha="center", va="center", fontsize=7,
                            color="white" if dark else "black")
        fig.colorbar(im, ax=ax, shrink=0.8, label="q")
        ax.set_title("Interaction detector: q(X1 ∩ X2) (diagonal: q of the factor)", fontsize=10)
        fig.tight_layout()
        page.figure(fig, title="Geodetector interaction detector")

