"""Drivers of carbon density: Pearson table, VIF screening, OLS regression, pixel samples (study 004).

Study 004 (Chang et al. 2024, §2.3.3, Tables 7-9) correlates carbon density with terrain, climate,
vegetation-index and landscape-metric factors at sample points, screens the predictors by the
variance inflation factor (drop the largest until all are below 10, stricter 5) and fits an OLS
model reported as R², adjusted R², coefficients with standard error, t, p, VIF and Durbin-Watson.
Table-level code (numpy / scipy / statsmodels); :func:`sample_points` is the only function that
reads rasters. Conventions in docs/coupling.md.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
>>> df["c"] = df["a"] + 0.01 * rng.normal(size=200)       # nearly a copy of a
>>> df["y"] = 2 * df["a"] - df["b"] + rng.normal(size=200)
>>> vif_screen(df[["a", "b", "c"]]).kept
['b', 'c']
>>> res = regression(df, "y", ["a", "b", "c"])
>>> res.dropped
['a']
>>> list(res.coefficients.index)
['const', 'b', 'c']
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as _st

from ._checks import require_one_grid
from .geodetector import _nodata  # the integer-layer nodata rule the Geodetector sampler uses


# ------------------------------------------------------------------ checks
def _frame(df, name="df"):
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas.DataFrame, got {type(df).__name__}.")
    return df


def _columns(df, columns, exclude=(), name="columns"):
    if columns is None:
        cols = [c for c in df.columns if c not in exclude]
    else:
        cols = [columns] if isinstance(columns, str) else list(columns)
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{name} {missing} are not columns of the table; it has {list(df.columns)}.")
        clash = [c for c in cols if c in exclude]
        if clash:
            raise ValueError(f"{name} must not include the target {clash}.")
    if not cols:
        raise ValueError(f"{name} is empty; name at least one factor column.")
    if len(set(cols)) != len(cols):
        raise ValueError(f"{name} has repeated names {cols}.")
    bad = [c for c in cols if df[c].dtype.kind not in "biuf"]
    if bad:
        raise TypeError(f"{name} {bad} are not numeric; encode categorical factors first.")
    return cols


def _target(df, target):
    if target not in df.columns:
        raise ValueError(f"target {target!r} is not a column of the table; it has {list(df.columns)}.")
    if df[target].dtype.kind not in "biuf":
        raise TypeError(f"target {target!r} is not numeric (dtype {df[target].dtype}).")


def _clean(df, cols):
    """Rows of ``cols`` with no NaN (listwise), as float64; inf is an error."""
    x = df[cols].astype(np.float64)
    if np.isinf(x.to_numpy()).any():
        raise ValueError(f"columns {[c for c in cols if np.isinf(x[c]).any()]} hold infinite values.")
    return x.dropna()


def _require_varying(x, what):
    flat = [c for c in x.columns if x[c].nunique() <= 1]
    if flat:
        raise ValueError(f"{what} {flat} are constant over the rows used; a constant column has no variance "
                         f"(it duplicates the intercept). Drop it.")


# ------------------------------------------------------------------ Pearson
def pearson_table(df, target, columns=None):
    """Pearson r of ``target`` with each factor, two-sided p and n (seed 004 Eq. 4, Table 7).

    NaNs are dropped pairwise (each factor uses the rows where it and the target are valid).
    p is the two-sided t test with n - 2 degrees of freedom (equals ``scipy.stats.pearsonr``).
    A factor with fewer than 3 valid pairs, or constant over them (a RuntimeWarning names it),
    gets r = p = NaN; a constant target is an error.

    Returns
    -------
    DataFrame indexed by factor: r, p, n, sig ("**" p < 0.01, "*" p < 0.05, "" otherwise).
    """
    _frame(df)
    _target(df, target)
    cols = _columns(df, columns, exclude=(target,))
    y_all = df[target].astype(np.float64)
    if y_all.nunique(dropna=True) <= 1:
        raise ValueError(f"target {target!r} is constant (or empty); correlations are undefined.")
    rows, flat = {}, []
    for c in cols:  # one vectorised pass per factor; there are tens of factors, not millions
        x = df[c].astype(np.float64).to_numpy()
        y = y_all.to_numpy()
        ok = np.isfinite(x) & np.isfinite(y)
        n = int(ok.sum())
        r = p = np.nan
        if n >= 3:
            xv, yv = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
            den = np.sqrt((xv * xv).sum() * (yv * yv).sum())
            if den == 0:
                flat.append(c)
            else:
                r = float(np.clip((xv * yv).sum() / den, -1.0, 1.0))
                dof = n - 2
                if abs(r) == 1.0:
                    p = 0.0
                else:
                    t = r * np.sqrt(dof / (1.0 - r * r))
                    p = float(2.0 * _st.t.sf(abs(t), dof))
        rows[c] = (r, p, n)
    if flat:
        warnings.warn(f"factors {flat} are constant over their valid pairs; their r and p are NaN.", RuntimeWarning,
                      stacklevel=2)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["r", "p", "n"])
    out.index.name = "factor"
    out["n"] = out["n"].astype(np.int64)
    out["sig"] = np.where(out["p"] < 0.01, "**", np.where(out["p"] < 0.05, "*", ""))
    out.attrs.update(target=target, units={"r": "1", "p": "1", "n": "1"},
                     long_name={"r": "Pearson correlation coefficient", "p": "two-sided p-value",
                                "n": "number of valid pairs"},
                     source="seed 004 (Chang et al. 2024) Eq. 4, Table 7")
    return out


# ------------------------------------------------------------------ VIF
def _vif_values(x):
    """VIF_j = 1 / (1 - R²_j), R²_j of x_j on the other columns plus an intercept (centred)."""
    a = x - x.mean(axis=0)  # centring = including the intercept in every auxiliary regression
    k = a.shape[1]
    out = np.empty(k)
    for j in range(k):  # k auxiliary least-squares fits, k = number of predictors
        yj = a[:, j]
        sst = yj @ yj
        if k == 1:
            out[j] = 1.0
            continue
        others = np.delete(a, j, axis=1)
        coef, *_ = np.linalg.lstsq(others, yj, rcond=None)
        res = yj - others @ coef
        ssr = res @ res
        # relative tolerance: an exact linear combination leaves only rounding noise
        out[j] = np.inf if ssr <= 1e-12 * sst else sst / ssr
    return out


def vif(df):
    """Variance inflation factor of every column of a predictor table.

    Equals ``statsmodels.stats.outliers_influence.variance_inflation_factor`` on the table with
    a constant column added (the intercept is not reported). Rows with a NaN are dropped
    (listwise). An exact linear combination gives ``inf``; a constant column is an error.

    Returns
    -------
    Series ``VIF`` indexed by column.
    """
    _frame(df)
    cols = _columns(df, list(df.columns))
    x = _clean(df, cols)
    if len(x) <= len(cols):
        raise ValueError(f"{len(x)} complete rows for {len(cols)} predictors; VIF needs more rows than predictors.")
    _require_varying(x, "columns")
    out = pd.Series(_vif_values(x.to_numpy()), index=cols, name="VIF")
    out.attrs.update(units="1", long_name="variance inflation factor", n=len(x))
    return out


class VIFScreen(NamedTuple):
    """Result of :func:`vif_screen`."""

    kept: list
    dropped: list
    vif: pd.Series
    steps: pd.DataFrame


def vif_screen(df, threshold=5.0):
    """Drop the predictor with the largest VIF until every VIF is below ``threshold`` (study 004 §2.3.3).

    The study's rule: until all VIF < 10, with the stricter < 5 (the default). Ties (e.g. two
    ``inf``) drop the column that comes first in the table. Rows with a NaN in any column are
    dropped once, before screening, so every step uses the same rows.

    Returns
    -------
    VIFScreen(kept, dropped, vif, steps)
        ``kept``: remaining columns in table order; ``dropped``: columns in drop order;
        ``vif``: the final VIFs; ``steps``: one row per drop (column, VIF when dropped).
    """
    _frame(df)
    t = float(threshold)
    if not t > 1.0:
        raise ValueError(f"threshold must be > 1 (a VIF is >= 1), got {threshold!r}.")
    cols = _columns(df, list(df.columns))
    x = _clean(df, cols)
    if len(x) <= len(cols):
        raise ValueError(f"{len(x)} complete rows for {len(cols)} predictors; VIF needs more rows than predictors.")
    _require_varying(x, "columns")
    kept, dropped, steps = list(cols), [], []
    while True:
        v = _vif_values(x[kept].to_numpy())
        j = int(np.argmax(v))  # first of the largest
        if v[j] < t or len(kept) == 1:
            break
        steps.append((kept[j], float(v[j])))
        dropped.append(kept.pop(j))
    final = pd.Series(v, index=kept, name="VIF")
    steps_df = pd.DataFrame(steps, columns=["dropped", "VIF"])
    return VIFScreen(kept, dropped, final, steps_df)


# ------------------------------------------------------------------ regression
@dataclass
class RegressionResult:
    """OLS fit laid out like study 004 Tables 8-9.

    ``coefficients``: index ``const`` + predictors; columns B, std_err, beta (standardised),
    t, p, VIF. ``model``: one row with n, k, R2, adj_R2, F, p_F, durbin_watson, df_model,
    df_resid. ``dropped``: predictors removed by the VIF screen, in order. ``fit``: the
    statsmodels results object.
    """

    coefficients: pd.DataFrame
    model: pd.DataFrame
    dropped: list = field(default_factory=list)
    fit: object = None

    def to_tables(self) -> dict[str, pd.DataFrame]:
        return {"coefficients": self.coefficients, "model": self.model}


def durbin_watson(residuals):
    """sum (e_t - e_{t-1})² / sum e_t², in the order given."""
    e = np.asarray(residuals, dtype=np.float64)
    return float(np.sum(np.diff(e) ** 2) / np.sum(e * e))


def regression(df, target, columns=None, *, vif_threshold=5.0):
    """Multiple OLS regression of ``target`` on ``columns`` after VIF screening (study 004 Tables 8-9).

    Rows with a NaN in the target or any listed column are dropped (listwise) first. With
    ``vif_threshold`` (default 5; the study also names 10; ``None`` skips it) the predictors are
    screened by :func:`vif_screen` and the model is fitted on the kept ones. Durbin-Watson is
    computed on the residuals in row order (it tests first-order autocorrelation along that
    order, not heteroscedasticity as the study writes).

    Returns
    -------
    RegressionResult
    """
    import statsmodels.api as sm

    _frame(df)
    _target(df, target)
    cols = _columns(df, columns, exclude=(target,))
    data = _clean(df, [target, *cols])
    _require_varying(data[[target]], "target")
    _require_varying(data[cols], "columns")
    dropped = []
    if vif_threshold is not None:
        scr = vif_screen(data[cols], threshold=vif_threshold)
        cols, dropped = scr.kept, scr.dropped
    n, k = len(data), len(cols)
    if n <= k + 1:
        raise ValueError(f"{n} complete rows for {k} predictors and an intercept; OLS needs n > k + 1.")
    X = sm.add_constant(data[cols], has_constant="add")
    if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
        raise ValueError(f"predictors {cols} are linearly dependent; screen them (vif_threshold=5) or drop one.")
    y = data[target]
    fit = sm.OLS(y, X).fit()
    v = pd.Series(_vif_values(data[cols].to_numpy()), index=cols)
    sd = data[cols].std(ddof=1) / y.std(ddof=1)
    coef = pd.DataFrame({
        "B": fit.params, "std_err": fit.bse,
        "beta": pd.concat([pd.Series({"const": np.nan}), fit.params[cols] * sd]),
        "t": fit.tvalues, "p": fit.pvalues,
        "VIF": pd.concat([pd.Series({"const": np.nan}), v]),
    })
    coef.index.name = "term"
    model = pd.DataFrame([{
        "n": n, "k": k, "R2": fit.rsquared, "adj_R2": fit.rsquared_adj, "F": fit.fvalue, "p_F": fit.f_pvalue,
        "durbin_watson": durbin_watson(fit.resid.to_numpy()), "df_model": fit.df_model, "df_resid": fit.df_resid,
    }], index=pd.Index([target], name="target"))
    coef.attrs.update(units={"B": f"units of {target} per unit of predictor", "beta": "1", "t": "1", "p": "1",
                             "VIF": "1"},
                      long_name={"B": "unstandardised coefficient", "std_err": "standard error",
                                 "beta": "standardised coefficient", "t": "t statistic", "p": "two-sided p-value",
                                 "VIF": "variance inflation factor"},
                      source="seed 004 (Chang et al. 2024) Tables 8-9")
    model.attrs.update(units=dict.fromkeys(model.columns, "1"),
                       long_name={"R2": "coefficient of determination", "adj_R2": "adjusted R²",
                                  "F": "F statistic", "p_F": "p-value of F", "durbin_watson": "Durbin-Watson"},
                       dropped=list(dropped), vif_threshold=vif_threshold)
    return RegressionResult(coef, model, list(dropped), fit)


# ------------------------------------------------------------------ pixel samples
def _splitmix64(z):
    """Counter-based hash (splitmix64 finaliser): the random key of a pixel from its global index."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))



def _block_pick(r0, c0, ncols, salt, n, nodata, has_mask, *blocks):
    """The ``n`` valid pixels of one block with the smallest keys: (key, flat index, values...)."""
    layers = blocks[:-1] if has_mask else blocks
    ok = np.asarray(blocks[-1], dtype=bool).copy() if has_mask else np.ones(np.shape(blocks[0]), dtype=bool)
    for b, nd in zip(layers, nodata):
        b = np.asarray(b)
        if b.dtype.kind in "fc":
            ok &= np.isfinite(b)
        if nd is not None:
            ok &= b != nd
    r, c = np.nonzero(ok)
    count = r.size
    flat = (r + r0).astype(np.uint64) * np.uint64(ncols) + (c + c0).astype(np.uint64)
    key = _splitmix64(flat ^ salt)
    if n is not None and key.size > n:
        sel = np.argpartition(key, n - 1)[:n]  # only n rows per block ever leave the worker
        r, c, flat, key = r[sel], c[sel], flat[sel], key[sel]
    return key, flat, [np.asarray(b)[r, c] for b in layers], count


def sample_points(data, n=10_000, seed=0, mask=None):
    """A reproducible random sample of pixels of 2-D rasters on one grid, as a table.

    Valid pixels: finite in every float layer, not ``attrs["nodata"]`` / ``_FillValue`` in integer
    layers, and ``mask`` true. Every pixel gets a pseudo-random key computed from its global
    (row, column) index and ``seed``; the ``n`` valid pixels with the smallest keys are kept --
    a uniform sample without replacement that does not depend on the chunking (one chunk and
    many give the same rows). Each block returns at most ``n`` candidates, so only the sample
    travels; every block is read once (one pass over the graph).

    Parameters
    ----------
    data : xarray.Dataset or dict name -> 2-D DataArray
        Numpy- or dask-backed, same dims / shape / coordinates. 0-d variables of a Dataset (e.g.
        ``spatial_ref``) are ignored.
    n : int or None
        Sample size; ``None`` keeps every valid pixel. Fewer valid pixels than ``n``: all of them.
    seed : int
    mask : boolean DataArray, optional

    Returns
    -------
    DataFrame with columns x, y (pixel-centre coordinates of the second / first dimension, or
    indices without coordinates) and one column per raster, rows in row-major pixel order;
    ``attrs["n_valid"]`` is the number of valid pixels.
    """
    import dask
    import dask.array as dsa

    if isinstance(data, xr.Dataset):
        arrays = {str(k): v for k, v in data.data_vars.items() if v.ndim > 0}
    elif isinstance(data, dict):
        arrays = dict(data)
    else:
        raise TypeError(f"data must be an xarray.Dataset or a dict name -> 2-D DataArray, got {type(data).__name__}.")
    if not arrays:
        raise ValueError("data holds no raster.")
    clash = [k for k in arrays if k in ("x", "y")]
    if clash:
        raise ValueError(f"raster names {clash} clash with the coordinate columns x, y; rename them.")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer or None, got {n!r}.")
        n = int(n)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}.")
    names = list(arrays)
    ref = arrays[names[0]]
    layers = list(arrays.items()) + ([("mask", mask)] if mask is not None else [])
    require_one_grid(layers)
    if mask is not None and mask.dtype != bool:
        raise TypeError(f"mask must be boolean, got dtype {mask.dtype}.")

    chunks = next((da.data.chunks for _, da in layers if isinstance(da.data, dsa.Array)), None)
    if chunks is None:
        chunks = tuple((s,) for s in ref.shape)  # numpy in: one block
    arrs = [da.data if isinstance(da.data, dsa.Array) else dsa.from_array(np.asarray(da.data), chunks=chunks)
            for _, da in layers]
    _, arrs = dsa.core.unify_chunks(*[a for x in arrs for a in (x, "ij")])
    nodata = [_nodata(da) for _, da in arrays.items()]
    has_mask = mask is not None
    salt = _splitmix64(np.uint64(seed % (1 << 64)) ^ np.uint64(0x5DEECE66D))[()]
    ncols = ref.shape[1]
    row0 = np.concatenate([[0], np.cumsum(arrs[0].chunks[0])])
    col0 = np.concatenate([[0], np.cumsum(arrs[0].chunks[1])])
    delayed = [a.to_delayed() for a in arrs]
    tasks = [dask.delayed(_block_pick, pure=True)(int(row0[i]), int(col0[j]), ncols, salt, n, nodata, has_mask,
                                                  *[d[i, j] for d in delayed])
             for i in range(len(row0) - 1) for j in range(len(col0) - 1)]
    parts = dask.compute(*tasks)
    total = int(sum(p[3] for p in parts))
    if total == 0:
        raise ValueError("no pixel is valid in every raster (finite, not nodata, inside mask).")
    key = np.concatenate([p[0] for p in parts])
    flat = np.concatenate([p[1] for p in parts])
    vals = [np.concatenate([p[2][k] for p in parts]) for k in range(len(names))]
    if n is not None and key.size > n:
        sel = np.argpartition(key, n - 1)[:n]
        flat, vals = flat[sel], [v[sel] for v in vals]
    order = np.argsort(flat, kind="stable")
    flat = flat[order]
    rows, cols = np.divmod(flat.astype(np.int64), ncols)
    ydim, xdim = ref.dims
    out = {
        "x": ref[xdim].values[cols] if xdim in ref.coords else cols,
        "y": ref[ydim].values[rows] if ydim in ref.coords else rows,
    }
    for k, name in enumerate(names):
        out[name] = vals[k][order]
    df = pd.DataFrame(out)
    df.attrs.update(n_valid=total, seed=int(seed), n_requested=n, dims=(ydim, xdim),
                    units={name: da.attrs.get("units", "") for name, da in arrays.items()})
    return df


__all__ = ["RegressionResult", "VIFScreen", "durbin_watson", "pearson_table", "regression", "sample_points",
           "vif", "vif_screen"]
