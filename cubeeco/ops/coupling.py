"""Entropy weights, integrated landscape index and coupling coordination (study 004, Chang et al. 2024).

Table-level functions (a handful of years x a handful of indicators): plain numpy / pandas, no
kernels. Formulas, conventions and what of the study reproduces are in docs/coupling.md.

* :func:`minmax` -- extreme-difference normalisation (Eqs. 9-11), benefit or cost type.
* :func:`entropy_weights` -- the entropy weight method on a (samples x indicators) table.
* :func:`integrated_landscape_index` -- L = sum_k w_k L'_k (Eqs. 8-9) per year.
* :func:`coupling_coordination` -- C, T, D (Eqs. 5-7) and a 10-level grade.
* :func:`coupling_table` -- Eqs. 8-11 then 5-7 from raw per-year inputs.

>>> import pandas as pd
>>> L = pd.Series([0.6, 0.5, 0.45, 0.5], index=[2007, 2012, 2017, 2022])
>>> F = pd.Series([0.7, 0.1, 0.9, 1.0], index=L.index)
>>> Ca = pd.Series([1.0, 0.3, 0.1, 0.4], index=L.index)
>>> out = coupling_coordination(L, F, Ca)
>>> out["D"].round(3).tolist()
[0.865, 0.497, 0.586, 0.765]
>>> out["grade"].tolist()
['good coordination', 'on the verge of disorder', 'barely coordinated', 'intermediate coordination']
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

# the six indices the study combines into L (seed 004 §3.3.1)
STUDY_METRICS = ("NP", "PD", "LSI", "COHESION", "SHDI", "SHEI")

# Common 10-level ladder for D in steps of 0.1 (lower bound inclusive; 1.0 is in the top class).
# Widely used in the coupling-coordination literature; study 004 itself uses other words.
GRADES = (
    (0.1, "extreme disorder"),
    (0.2, "serious disorder"),
    (0.3, "moderate disorder"),
    (0.4, "mild disorder"),
    (0.5, "on the verge of disorder"),
    (0.6, "barely coordinated"),
    (0.7, "primary coordination"),
    (0.8, "intermediate coordination"),
    (0.9, "good coordination"),
    (1.0, "quality coordination"),
)

_DIRECTIONS = ("positive", "negative")
_LONG_NAMES = {
    "L": "integrated landscape pattern index",
    "F": "normalised forest and grassland area",
    "Ca": "normalised ecosystem carbon storage",
    "C": "coupling degree",
    "T": "comprehensive evaluation index",
    "D": "coupling coordination degree",
    "grade": "coupling coordination grade",
}


# ------------------------------------------------------------------ checks
def _direction(value, name="direction"):
    if value not in _DIRECTIONS:
        raise ValueError(f"{name} must be 'positive' (benefit: larger is better) or 'negative' (cost: "
                         f"smaller is better), got {value!r}.")
    return value


def _float_vector(values, name):
    """1-D float64 numpy array of ``values`` (Series / array / list), with a clear error."""
    if isinstance(values, pd.DataFrame):
        raise TypeError(f"{name} must be one column (Series or 1-D array), got a DataFrame; "
                        f"normalise columns one by one or use entropy_weights / integrated_landscape_index.")
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}.")
    if np.isinf(arr).any():
        raise ValueError(f"{name} holds infinite values; replace them (NaN marks a missing value).")
    return arr


def _numeric_table(table, name="table"):
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas.DataFrame (rows: years or samples, columns: indicators), "
                        f"got {type(table).__name__}.")
    bad = [c for c in table.columns if table[c].dtype.kind not in "biuf"]
    if bad:
        raise TypeError(f"{name} columns {bad} are not numeric.")
    return table


def _directions_for(columns, directions):
    """Mapping column -> 'positive' / 'negative' from None, a str, a dict or a sequence."""
    cols = list(columns)
    if directions is None:
        return dict.fromkeys(cols, "positive")
    if isinstance(directions, str):
        return dict.fromkeys(cols, _direction(directions, "directions"))
    if isinstance(directions, Mapping):
        unknown = [k for k in directions if k not in cols]
        if unknown:
            raise ValueError(f"directions names {unknown}, which are not among the indicators {cols}.")
        return {c: _direction(directions.get(c, "positive"), f"directions[{c!r}]") for c in cols}
    seq = list(directions)
    if len(seq) != len(cols):
        raise ValueError(f"directions has {len(seq)} entries but there are {len(cols)} indicators {cols}; "
                         f"pass one per indicator or a dict.")
    return {c: _direction(d, f"directions[{c!r}]") for c, d in zip(cols, seq)}


# ------------------------------------------------------------------ normalisation
def minmax(values, *, direction="positive", bounds=None, constant=0.5):
    """Extreme-difference (min-max) normalisation to [0, 1] (seed 004 Eqs. 9-11).

    ``positive`` (benefit type): (x - min) / (max - min); ``negative`` (cost type):
    (max - x) / (max - min).

    Parameters
    ----------
    values : Series or 1-D array-like
        NaN is missing: it is ignored for min / max and stays NaN.
    direction : {"positive", "negative"}
    bounds : (min, max), optional
        Use these instead of the data's own extremes -- study 004's device to keep 0 out of the
        coupling model (e.g. the 2006 and 2023 forest-grassland areas as min and max). Every value
        must lie inside them.
    constant : float
        Result for a column whose min equals max (no spread, nothing to rank): every valid value
        becomes ``constant`` (default 0.5, the middle of the scale) and a warning is issued.

    Returns
    -------
    Series (same index and name) for a Series, else a float64 ndarray.
    """
    _direction(direction)
    arr = _float_vector(values, "values")
    c = float(constant)
    if not 0.0 <= c <= 1.0:
        raise ValueError(f"constant must lie in [0, 1], got {constant!r}.")
    valid = ~np.isnan(arr)
    if bounds is None:
        if not valid.any():
            raise ValueError("values are all NaN; there is nothing to normalise.")
        lo, hi = float(arr[valid].min()), float(arr[valid].max())
    else:
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise TypeError(f"bounds must be a pair of numbers (min, max), got {bounds!r}.") from None
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo:
            raise ValueError(f"bounds must be finite with min <= max, got {bounds!r}.")
        outside = valid & ((arr < lo) | (arr > hi))
        if outside.any():
            raise ValueError(f"values {arr[outside].tolist()} lie outside bounds ({lo}, {hi}); widen the bounds "
                             f"or leave bounds=None to use the data's own extremes.")
    if hi == lo:
        warnings.warn(f"min equals max ({lo}): the indicator does not vary, every value is set to "
                      f"constant={c}.", UserWarning, stacklevel=2)
        out = np.where(valid, c, np.nan)
    elif direction == "positive":
        out = (arr - lo) / (hi - lo)
    else:
        out = (hi - arr) / (hi - lo)
    if isinstance(values, pd.Series):
        return pd.Series(out, index=values.index, name=values.name)
    return out


def _normalised(table, directions, bounds=None, constant=0.5):
    dirs = _directions_for(table.columns, directions)
    bounds = {} if bounds is None else dict(bounds)
    unknown = [k for k in bounds if k not in table.columns]
    if unknown:
        raise ValueError(f"bounds names {unknown}, which are not among the indicators {list(table.columns)}.")
    cols, flat = {}, []
    for c in table.columns:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cols[c] = minmax(table[c], direction=dirs[c], bounds=bounds.get(c), constant=constant)
        if caught:
            flat.append(c)
    if flat:  # one warning naming every flat indicator instead of one per column
        warnings.warn(f"indicators {flat} do not vary; normalised to constant={constant} (entropy weight 0).",
                      UserWarning, stacklevel=3)
    return pd.DataFrame(cols, index=table.index), dirs


# ------------------------------------------------------------------ entropy weights
def _entropy_core(z, n):
    """1 - e_j and e_j of the non-negative (n x m) array z (p_ij = z_ij / sum_i z_ij, 0 ln 0 = 0)."""
    col = z.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = z / col
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    e = -plogp.sum(axis=0) / math.log(n)
    # a column with one value throughout (incl. all zero) carries no information: e = 1 exactly,
    # not 1 - rounding noise, which would hand it all the weight when nothing else varies
    e = np.where((col > 0) & (np.ptp(z, axis=0) > 0), e, 1.0)
    e = np.minimum(e, 1.0)  # rounding can put a uniform column a hair above 1
    d = 1.0 - e
    if d.sum() <= 0:
        raise ValueError("no indicator varies across the rows, so the entropy weights are undefined (0/0).")
    return d, e


def entropy_weights(table, *, directions=None, shift=0.0, normalize=True, bounds=None):
    """Entropy weight of each indicator (column) of a (samples x indicators) table.

    x'_ij: min-max normalised column j (``normalize=True``, by ``directions``), plus ``shift``;
    p_ij = x'_ij / sum_i x'_ij; e_j = -(1 / ln n) sum_i p_ij ln p_ij with 0 ln 0 = 0;
    w_j = (1 - e_j) / sum_j (1 - e_j).

    Parameters
    ----------
    table : DataFrame
        Rows: years (or samples), n >= 2; columns: indicators. No NaN (drop or fill rows first).
    directions : None, "positive", "negative", dict or sequence
        Benefit / cost type per column (default: all positive).
    shift : float, default 0.0
        Added to the normalised values before p is formed. 0 with the exact 0 ln 0 = 0 rule is the
        default; 1e-4 or 0.01 (common in the literature, to avoid ln 0) changes the weights a
        little (docs/coupling.md shows by how much for study 004).
    normalize : bool
        False: use the values as they are (they must be >= 0).
    bounds : dict column -> (min, max), optional
        External extremes for :func:`minmax`.

    Returns
    -------
    Series
        Weights (sum 1) indexed by indicator; ``attrs["entropy"]`` holds e_j. An indicator that
        does not vary has e_j = 1 and weight 0.
    """
    _numeric_table(table)
    if table.shape[1] == 0:
        raise ValueError("table has no indicator columns.")
    n = table.shape[0]
    if n < 2:
        raise ValueError(f"table has {n} row(s); the entropy weight method needs at least 2 (ln n > 0).")
    if table.isna().to_numpy().any():
        bad = table.columns[table.isna().any()].tolist()
        raise ValueError(f"table has missing values in {bad}; drop or fill those rows first.")
    s = float(shift)
    if not (np.isfinite(s) and s >= 0):
        raise ValueError(f"shift must be a finite number >= 0, got {shift!r}.")
    if normalize:
        x, _ = _normalised(table, directions, bounds)
        z = x.to_numpy(np.float64)
    else:
        if directions is not None or bounds is not None:
            raise ValueError("directions and bounds apply to the normalisation; pass normalize=True to use them.")
        z = table.to_numpy(np.float64)
        if np.isinf(z).any():
            raise ValueError("table holds infinite values.")
        if (z < 0).any():
            raise ValueError("with normalize=False every value must be >= 0 (p_ij are shares of the column sum).")
    d, e = _entropy_core(z + s, n)
    w = pd.Series(d / d.sum(), index=table.columns, name="weight")
    w.attrs.update(units="1", long_name="entropy weight",
                   entropy={str(k): float(v) for k, v in zip(table.columns, e)}, shift=s)
    return w


# ------------------------------------------------------------------ integrated landscape index
def _year_table(table, metrics):
    """Wide DataFrame indexed by year with the metric columns, from the accepted layouts."""
    if isinstance(table, Mapping):
        rows = {}
        for year, part in table.items():
            if isinstance(part, pd.DataFrame):
                if len(part) != 1:
                    raise ValueError(f"table[{year!r}] has {len(part)} rows; pass the landscape-level output "
                                     f"(one row) of landscape_metrics for each year.")
                part = part.iloc[0]
            if not isinstance(part, pd.Series):
                raise TypeError(f"table[{year!r}] must be a one-row DataFrame or a Series, got "
                                f"{type(part).__name__}.")
            rows[year] = part
        wide = pd.DataFrame(rows).T
    elif isinstance(table, pd.DataFrame):
        wide = table
        if {"year", "metric", "value"} <= set(wide.columns):  # tidy: one row per (year, metric)
            wide = wide.pivot(index="year", columns="metric", values="value")
        elif "year" in wide.columns:
            wide = wide.set_index("year")
        elif "year" in (wide.index.names or []) and wide.index.nlevels > 1:
            others = [nm for nm in wide.index.names if nm != "year"]
            if "level" in others:  # pd.concat of landscape_metrics tables: keep the landscape row
                lv = wide.index.get_level_values("level")
                if (lv != "landscape").any():
                    raise ValueError("table has class-level rows; pass landscape-level metrics "
                                     "(landscape_metrics(..., level='landscape')).")
            wide = wide.droplevel(others)
    else:
        raise TypeError(f"table must be a DataFrame or a dict year -> landscape_metrics table, got "
                        f"{type(table).__name__}.")
    if not wide.index.is_unique:
        raise ValueError(f"table has repeated years {wide.index[wide.index.duplicated()].tolist()}; one row "
                         f"per year is needed.")
    missing = [m for m in metrics if m not in wide.columns]
    if missing:
        raise ValueError(f"table has no column(s) {missing}; it has {list(wide.columns)}.")
    out = wide[list(metrics)].apply(pd.to_numeric, errors="raise").astype(np.float64)
    out.index.name = "year"
    return out.sort_index()


def integrated_landscape_index(table, metrics=STUDY_METRICS, directions=None, *, weights=None, shift=0.0,
                               bounds=None):
    """Integrated landscape pattern index L per year (seed 004 Eqs. 8-9).

    Each metric is min-max normalised across the years (Eq. 9, by ``directions``), weighted by its
    entropy weight (or by ``weights``) and summed: L_k = sum_i w_i L'_ki (Eq. 8).

    Parameters
    ----------
    table : DataFrame or dict
        Landscape-level metrics of several years, in any of these layouts: a DataFrame indexed by
        year with one column per metric; a DataFrame with a ``year`` column; a tidy DataFrame with
        ``year``, ``metric``, ``value`` columns; ``pd.concat({year: landscape_metrics(...)},
        names=["year"])`` (index levels ``year``, ``level``); or a dict year -> the one-row output
        of :func:`cubeeco.ops.landscape.landscape_metrics`.
    metrics : sequence of str
        Columns combined (default: the study's NP, PD, LSI, COHESION, SHDI, SHEI).
    directions : None, str, dict or sequence
        Benefit / cost type per metric (default: all "positive", Eq. 9 as printed).
    weights : dict / Series / sequence, optional
        Use these weights (e.g. the study's) instead of the entropy weights; they must sum to 1.
    shift, bounds
        Passed to :func:`entropy_weights` / :func:`minmax`.

    Returns
    -------
    DataFrame
        Indexed by year: the normalised metrics and ``L``. ``attrs``: ``weights`` (dict),
        ``entropy`` (dict, entropy weights only), ``directions``, ``units``, ``long_name``.
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ValueError("metrics is empty; name at least one landscape metric.")
    wide = _year_table(table, metrics)
    if wide.isna().to_numpy().any():
        bad = wide.columns[wide.isna().any()].tolist()
        raise ValueError(f"metrics {bad} are missing (NaN) in some year; L needs every metric in every year.")
    norm, dirs = _normalised(wide, directions, bounds)
    attrs = {}
    if weights is None:
        # weights from the same normalised values L is built from (Eq. 9), so they agree by construction
        w = entropy_weights(norm, shift=shift, normalize=False)
        attrs["entropy"] = dict(w.attrs["entropy"])
    else:
        w = _given_weights(weights, metrics)
    out = norm.copy()
    out["L"] = norm.to_numpy() @ w.to_numpy()
    out.attrs.update(attrs)
    out.attrs.update(
        weights={str(k): float(v) for k, v in w.items()}, directions=dirs, shift=float(shift),
        units=dict.fromkeys(out.columns, "1"),
        long_name={**{m: f"min-max normalised {m}" for m in metrics}, "L": _LONG_NAMES["L"]},
        source="seed 004 (Chang et al. 2024) Eqs. 8-9; entropy weight method",
    )
    return out


def _given_weights(weights, metrics):
    if isinstance(weights, Mapping):
        missing = [m for m in metrics if m not in weights]
        if missing:
            raise ValueError(f"weights has no entry for {missing}.")
        vals = [weights[m] for m in metrics]
    else:
        vals = list(weights)
        if len(vals) != len(metrics):
            raise ValueError(f"weights has {len(vals)} entries for {len(metrics)} metrics {metrics}.")
    w = np.asarray(vals, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights must be finite and >= 0, got {vals}.")
    if abs(w.sum() - 1.0) > 1e-3:  # published weights are rounded to 3 decimals
        raise ValueError(f"weights must sum to 1 (within 1e-3), they sum to {w.sum():.6g}.")
    return pd.Series(w, index=metrics, name="weight")


# ------------------------------------------------------------------ coupling coordination
def _grade_labels(d, grades):
    uppers = np.array([g[0] for g in grades], dtype=np.float64)
    labels = [g[1] for g in grades]
    # class k holds [upper_{k-1}, upper_k); the top class also holds its upper bound (D = 1).
    # Rounded to 10 decimals first so that a D of 0.9 computed as 0.8999999999999999 grades as 0.9.
    idx = np.searchsorted(uppers, np.round(d, 10), side="right")
    idx = np.minimum(idx, len(labels) - 1)
    cat = pd.Categorical.from_codes(np.where(np.isnan(d), -1, idx), categories=labels, ordered=True)
    return cat


def _check_grades(grades):
    if grades is None:
        return GRADES
    gs = [tuple(g) for g in grades]
    if not gs or any(len(g) != 2 for g in gs):
        raise ValueError("grades must be a sequence of (upper_bound, label) pairs.")
    ups = [float(g[0]) for g in gs]
    if any(b <= a for a, b in zip(ups, ups[1:])) or ups[-1] < 1.0:
        raise ValueError(f"grades upper bounds must increase and the last must be >= 1, got {ups}.")
    if len({g[1] for g in gs}) != len(gs):
        raise ValueError("grades labels must be distinct.")
    return tuple((u, str(g[1])) for u, g in zip(ups, gs))


def coupling_coordination(L, F, Ca, *, weights=(1 / 3, 1 / 3, 1 / 3), grades=None):
    """Coupling degree C, comprehensive index T and coupling coordination degree D (seed 004 Eqs. 5-7).

    C = [L F Ca / ((L + F + Ca) / 3)^3]^(1/3)  (geometric mean / arithmetic mean, in [0, 1]),
    T = alpha L + beta F + gamma Ca,  D = sqrt(C T).

    Parameters
    ----------
    L, F, Ca : Series or 1-D array-like, same length
        Normalised subsystem scores in [0, 1] per year (Series are aligned on their index, which
        must hold the same labels). NaN is missing and gives NaN.
    weights : (alpha, beta, gamma)
        Non-negative, sum 1 (study 004: 1/3 each).
    grades : sequence of (upper_bound, label), optional
        Ladder for D; default :data:`GRADES` (10 levels of 0.1).

    Returns
    -------
    DataFrame with columns L, F, Ca, C, T, D (float) and grade (ordered categorical).
    Where L = F = Ca = 0, C is 0/0 and NaN while D = 0 (C T <= T = 0).
    """
    a = np.asarray(weights, dtype=np.float64)
    if a.shape != (3,) or not np.isfinite(a).all() or (a < 0).any() or abs(a.sum() - 1.0) > 1e-9:
        raise ValueError(f"weights must be three numbers >= 0 that sum to 1 (alpha, beta, gamma), got {weights!r}.")
    gr = _check_grades(grades)
    series = {"L": L, "F": F, "Ca": Ca}
    index = None
    for name, s in series.items():
        if isinstance(s, pd.Series):
            if index is None:
                index = s.index
            elif not (len(s.index) == len(index) and set(s.index) == set(index)):
                raise ValueError(f"{name} is indexed by {s.index.tolist()} but another input by {index.tolist()}; "
                                 f"pass the same years.")
    cols = {}
    for name, s in series.items():
        if isinstance(s, pd.Series) and index is not None:
            s = s.reindex(index)
        v = _float_vector(s, name)
        cols[name] = v
    lens = {k: len(v) for k, v in cols.items()}
    if len(set(lens.values())) != 1:
        raise ValueError(f"L, F and Ca must have the same length, got {lens}.")
    for name, v in cols.items():
        bad = ~np.isnan(v) & ((v < 0) | (v > 1))
        if bad.any():
            raise ValueError(f"{name} has values outside [0, 1] ({v[bad].tolist()}); normalise it first (minmax).")
    lv, f, ca = cols["L"], cols["F"], cols["Ca"]
    mean = (lv + f + ca) / 3.0
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.cbrt(lv) * np.cbrt(f) * np.cbrt(ca) / mean  # root first: the product underflows for tiny scores
    c = np.minimum(c, 1.0)  # AM-GM: C <= 1; rounding can overshoot by an ulp
    t = a[0] * lv + a[1] * f + a[2] * ca
    d = np.sqrt(np.where(t == 0, 0.0, c * t))
    out = pd.DataFrame({"L": lv, "F": f, "Ca": ca, "C": c, "T": t, "D": d},
                       index=index if index is not None else pd.RangeIndex(len(lv)))
    out["grade"] = _grade_labels(d, gr)
    out.attrs.update(units={k: "1" for k in ("L", "F", "Ca", "C", "T", "D")}, long_name=dict(_LONG_NAMES),
                     weights=tuple(float(x) for x in a), grades=[list(g) for g in gr],
                     source="seed 004 (Chang et al. 2024) Eqs. 5-7")
    return out


def _per_year(values, name, years):
    if isinstance(values, Mapping):
        values = pd.Series(values)
    if not isinstance(values, pd.Series):
        raise TypeError(f"{name} must be a Series or dict indexed by year, got {type(values).__name__}.")
    if not values.index.is_unique:
        raise ValueError(f"{name} has repeated years.")
    missing = [y for y in years if y not in values.index]
    extra = [y for y in values.index if y not in set(years)]
    if missing or extra:
        raise ValueError(f"{name} must have the years of the landscape table {list(years)}; missing {missing}, "
                         f"extra {extra}.")
    return values.reindex(years).astype(np.float64)


def coupling_table(landscape_table, forest_grass_area, carbon_storage, *, metrics=STUDY_METRICS,
                   directions=None, landscape_weights=None, shift=0.0, area_bounds=None, carbon_bounds=None,
                   weights=(1 / 3, 1 / 3, 1 / 3), grades=None):
    """Eqs. 8-11 then 5-7 of seed 004 from raw per-year inputs.

    Parameters
    ----------
    landscape_table
        Landscape-level metrics per year (any layout of :func:`integrated_landscape_index`).
    forest_grass_area, carbon_storage : Series or dict indexed by year
        Forest + grassland area (any area unit) and total ecosystem carbon storage (t), one value
        per year of ``landscape_table``.
    area_bounds, carbon_bounds : (min, max), optional
        External extremes for Eqs. 10-11 (the study's way to avoid 0; see docs/coupling.md).
        Default: the extremes over the years given, which sets F or Ca to 0 in some year and
        therefore C = 0 there.
    directions, landscape_weights, shift, metrics
        As in :func:`integrated_landscape_index`; ``weights`` and ``grades`` as in
        :func:`coupling_coordination`.

    Returns
    -------
    DataFrame indexed by year: forest_grass_area, carbon_storage, L, F, Ca, C, T, D, grade;
    ``attrs["landscape_weights"]`` holds the weights of L.
    """
    li = integrated_landscape_index(landscape_table, metrics, directions, weights=landscape_weights, shift=shift)
    years = list(li.index)
    area = _per_year(forest_grass_area, "forest_grass_area", years)
    carbon = _per_year(carbon_storage, "carbon_storage", years)
    F = minmax(area, bounds=area_bounds)
    Ca = minmax(carbon, bounds=carbon_bounds)
    cc = coupling_coordination(li["L"], F, Ca, weights=weights, grades=grades)
    out = pd.concat([area.rename("forest_grass_area"), carbon.rename("carbon_storage"), cc], axis=1)
    out.index.name = "year"
    units = dict(cc.attrs["units"], forest_grass_area=getattr(forest_grass_area, "attrs", {}).get("units", "as given"),
                 carbon_storage=getattr(carbon_storage, "attrs", {}).get("units", "t"))
    out.attrs.update(cc.attrs)
    out.attrs.update(units=units, landscape_weights=li.attrs["weights"],
                     long_name=dict(cc.attrs["long_name"], forest_grass_area="forest and grassland area",
                                    carbon_storage="ecosystem carbon storage"),
                     area_bounds=area_bounds, carbon_bounds=carbon_bounds,
                     source="seed 004 (Chang et al. 2024) Eqs. 5-11")
    return out


__all__ = ["GRADES", "STUDY_METRICS", "coupling_coordination", "coupling_table", "entropy_weights",
           "integrated_landscape_index", "minmax"]
