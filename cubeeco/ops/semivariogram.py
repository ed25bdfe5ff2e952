"""Empirical semivariograms of 2-D maps, model fits, and the moving-window radius choice (study 004).

Study 004 (Chang et al. 2024, Haerwusu) computes moving-window landscape metric maps at radii
30-250 m, the semivariogram γ(h) = 1/(2N(h)) Σ [Z(x_i) − Z(x_i + h)]² (its Eq. 3) of each
map in GS+, and picks the radius at which the nugget/sill ratio "tended to be stable" (50 m).

* :func:`semivariogram` -- γ(h) of a (y, x) map from a reproducible random sample of its
  valid pixels (all pairs of the sample, gstools' Matheron estimator);
* :func:`fit_semivariogram` -- spherical / exponential / Gaussian model with a nugget
  (gstools ``CovModel.fit_variogram``): nugget, partial and total sill, range, nugget/sill, r²;
* :func:`choose_window` -- the two above for every radius × metric, and the chosen radius.

Definitions, the sampling and the radius rule: docs/window-choice.md.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from ._checks import require_dataarray

MODELS = ("spherical", "exponential", "gaussian")
DEFAULT_METRICS = ("SHEI", "PD", "AI", "LSI")  # study 004's four
STUDY_RADII = (30.0, 50.0, 100.0, 150.0, 200.0, 250.0)  # study 004 §2.2.4, metres
DEFAULT_BINS = 20
DEFAULT_SAMPLE = 4000
# candidates drawn per wanted point, so that maps with nodata still yield `sample` valid points
_OVERSAMPLE = 4
RULE = ("smallest radius r_k (not the last) from which every later step r_j -> r_j+1 changes the "
        "nugget/sill ratio of every metric by at most `tolerance` (absolute)")


# ------------------------------------------------------------------ arguments
def _check_map(da, name="da"):
    require_dataarray(da, name)
    if da.ndim != 2 or set(da.dims) != {"y", "x"}:
        raise ValueError(f"{name} must be a 2-D (y, x) map; it has dimensions {tuple(da.dims)}. "
                         f"Select one layer first (e.g. {name}.isel(time=0)).")
    if da.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {da.dtype}.")
    try:
        import rioxarray  # noqa: F401

        crs = da.rio.crs
    except Exception:  # noqa: BLE001  (an unreadable grid mapping is "no CRS": metres assumed)
        crs = None
    if crs is not None and crs.is_geographic:
        raise ValueError(f"{name} is on a geographic CRS (degrees); lags must be metres. Reproject onto a "
                         f"projected analysis grid first.")
    for d in ("y", "x"):
        if d not in da.coords:
            raise ValueError(f"{name} has no {d!r} coordinate; semivariogram lags are measured from the "
                             f"pixel-centre coordinates (metres).")
    return da.transpose("y", "x")


def _sample_size(sample):
    if sample is None:
        return None
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)):
        raise TypeError(f"sample must be an integer number of pixels or None (all valid pixels), "
                        f"got {type(sample).__name__}.")
    if sample < 2:
        raise ValueError(f"sample must be at least 2 pixels, got {sample}.")
    return int(sample)


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative integer, got {seed!r}.")
    return int(seed)


def _extent_diagonal(da):
    ys = np.asarray(da["y"].values, dtype=np.float64)
    xs = np.asarray(da["x"].values, dtype=np.float64)
    return math.hypot(float(np.ptp(ys)) if ys.size else 0.0, float(np.ptp(xs)) if xs.size else 0.0)


def _edges(bins, max_lag, diagonal):
    """Bin edges in metres; bins are [lo, hi) as in gstools."""
    if bins is not None and not isinstance(bins, (int, np.integer)):
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)):
            raise ValueError("bins must be a number of bins or a 1-D sequence of at least 2 finite bin edges (m).")
        if edges[0] < 0 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins edges must be >= 0 and strictly increasing (metres).")
        if max_lag is not None:
            raise ValueError("pass either bin edges in bins= or max_lag=, not both.")
        return edges
    n = DEFAULT_BINS if bins is None else int(bins)
    if isinstance(bins, bool) or n < 1:
        raise ValueError(f"bins must be a positive number of bins, got {bins!r}.")
    if max_lag is None:
        # gstools' standard_bins default: a third of the extent's diagonal
        max_lag = diagonal / 3.0
        if not max_lag > 0:
            raise ValueError("the map is a single pixel: it has no lags. Pass a larger map.")
    else:
        try:
            max_lag = float(max_lag)
        except (TypeError, ValueError):
            raise TypeError(f"max_lag must be a number of metres, got {type(max_lag).__name__}.") from None
        if not math.isfinite(max_lag) or max_lag <= 0:
            raise ValueError(f"max_lag must be a positive, finite distance in metres, got {max_lag!r}.")
    return np.linspace(0.0, max_lag, n + 1)


# ------------------------------------------------------------------ sampling
def _gather(maps, iy, ix):
    """Values of every map at pixels (iy, ix), in one dask pass when any map is lazy."""
    import dask
    import dask.array as dsa

    lazy = [isinstance(m.data, dsa.Array) for m in maps]
    parts = [m.data.vindex[iy, ix] if z else np.asarray(m.data)[iy, ix] for m, z in zip(maps, lazy)]
    if any(lazy):
        # the metric maps of one moving-window Dataset share their blocks: compute them together
        parts = list(dask.compute(*parts))
    return [np.asarray(p, dtype=np.float64) for p in parts]


def _sampled_points(maps, sample, seed):
    """Reproducible random sample of the valid pixels of each map (same grid).

    Candidates are a uniform draw without replacement of ``_OVERSAMPLE * sample`` pixel
    indices (numpy ``default_rng(seed).choice``); each map keeps its first ``sample`` valid
    (finite) candidates in draw order, which is a uniform random subset of its valid pixels.
    Too few valid candidates: draw again with 4x as many, up to all pixels.  ``sample=None``
    keeps every valid pixel.  Returns, per map, (row index, column index, values) and the
    number of candidates looked at.
    """
    ny, nx = maps[0].shape
    n = ny * nx
    m = n if sample is None else min(n, _OVERSAMPLE * sample)
    while True:
        if m >= n:
            idx = np.arange(n, dtype=np.int64)
        else:
            idx = np.random.default_rng(seed).choice(n, size=m, replace=False)
        iy, ix = np.divmod(idx, nx)
        values = _gather(maps, iy, ix)
        out = []
        short = False
        for v in values:
            keep = np.flatnonzero(np.isfinite(v))
            if sample is not None:
                short |= keep.size < sample
                keep = keep[:sample]
            out.append((iy[keep], ix[keep], v[keep]))
        if not short or m >= n:
            return out, m
        m = min(n, m * _OVERSAMPLE)


def _estimate(ys, xs, z, edges, estimator):
    import gstools as gs

    if z.size < 2:
        k = edges.size - 1
        return np.full(k, np.nan), np.zeros(k, np.int64)
    _, gamma, counts = gs.vario_estimate((xs, ys), z, edges, return_counts=True, estimator=estimator)
    counts = np.asarray(counts, dtype=np.int64)
    gamma = np.where(counts > 0, np.asarray(gamma, dtype=np.float64), np.nan)  # an empty bin has no estimate
    return gamma, counts


def _squared(u):
    """Units of γ: the map's units squared ("m/ha" -> "(m/ha)2"; dimensionless stays "1")."""
    if u is None:
        return None
    u = str(u).strip()
    if u in ("", "1", "-"):
        return "1"
    return f"({u})2" if any(c in u for c in " /*") else f"{u}2"


def _table(gamma, counts, edges, attrs):
    df = pd.DataFrame({"lag": (edges[:-1] + edges[1:]) / 2.0, "lag_lo": edges[:-1], "lag_hi": edges[1:],
                       "gamma": gamma, "pairs": counts})
    df.attrs.update(attrs)
    return df


def _variogram_tables(maps, *, bins, max_lag, sample, seed, estimator):
    if estimator not in ("matheron", "cressie"):
        raise ValueError(f"estimator must be 'matheron' (study 004 Eq. 3) or 'cressie', got {estimator!r}.")
    sample = _sample_size(sample)
    seed = _seed(seed)
    edges = _edges(bins, max_lag, _extent_diagonal(maps[0]))
    points, n_candidates = _sampled_points(maps, sample, seed)
    ys = np.asarray(maps[0]["y"].values, dtype=np.float64)
    xs = np.asarray(maps[0]["x"].values, dtype=np.float64)
    out = []
    for da, (iy, ix, z) in zip(maps, points):
        gamma, counts = _estimate(ys[iy], xs[ix], z, edges, estimator)
        attrs = {"units": {"lag": "m", "lag_lo": "m", "lag_hi": "m", "pairs": "1",
                           "gamma": _squared(da.attrs.get("units"))},
                 "long_name": f"empirical semivariogram of {da.name or 'the map'}",
                 "variable": da.name, "estimator": estimator, "n_points": int(z.size),
                 "n_candidates": int(n_candidates), "n_pixels": int(da.size), "sample": sample, "seed": seed,
                 "max_lag_m": float(edges[-1]), "lag": "bin centre; bins [lag_lo, lag_hi)",
                 "source": "study 004 Eq. 3 (gstools vario_estimate, all pairs of the sampled pixels)"}
        out.append(_table(gamma, counts, edges, attrs))
    return out


# ------------------------------------------------------------------ public
def semivariogram(da, *, bins=None, max_lag=None, sample=DEFAULT_SAMPLE, seed=0, estimator="matheron"):
    """Empirical semivariogram γ(h) of a 2-D map (study 004 Eq. 3).

    γ(h_k) = 1/(2 N_k) Σ (Z(x_i) − Z(x_j))² over the N_k pairs of sampled valid pixels whose
    centre distance lies in bin k, [lag_lo, lag_hi).  Every pair of the sample counts once.

    Parameters
    ----------
    da : xarray.DataArray
        (y, x) map on a projected grid (metre coordinates), numpy or dask backed; NaN is missing.
    bins : int or sequence of float, optional
        Number of equal bins on [0, max_lag] (default 20), or the bin edges in metres.
    max_lag : float, optional
        Largest lag in metres (default: a third of the map's diagonal, gstools' default).
    sample : int or None
        Number of valid pixels sampled (default 4000: 8 million pairs); None uses all
        valid pixels (exact, O(n²) pairs: small maps only).  Sampling: docs/window-choice.md.
    seed : int
        Seed of the sample (numpy ``default_rng``); the same seed gives the same pixels for any
        chunking.
    estimator : {"matheron", "cressie"}
        Matheron's method of moments is Eq. 3; Cressie-Hawkins is the robust variant.

    Returns
    -------
    pandas.DataFrame
        Columns ``lag`` (bin centre, m), ``lag_lo``, ``lag_hi`` (m), ``gamma`` (units² of
        ``da``; NaN in an empty bin) and ``pairs``; the sample and units in ``attrs``.
        Only the sampled pixels of a dask map are computed.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> z = xr.DataArray(np.add.outer(np.arange(4.0), np.zeros(4)), dims=("y", "x"),
    ...                  coords={"y": np.arange(4) * 30.0, "x": np.arange(4) * 30.0})
    >>> semivariogram(z, bins=[0, 35, 65], sample=None)[["lag", "gamma", "pairs"]].round(3)
        lag  gamma  pairs
    0  17.5  0.250     24
    1  50.0  0.735     34
    """
    da = _check_map(da)
    return _variogram_tables([da], bins=bins, max_lag=max_lag, sample=sample, seed=seed, estimator=estimator)[0]


def _model_class(name):
    import gstools as gs

    return {"spherical": gs.Spherical, "exponential": gs.Exponential, "gaussian": gs.Gaussian}[name]


def _nan_fit(model, n_bins, reason):
    return {"model": model, "nugget": math.nan, "partial_sill": math.nan, "sill": math.nan, "range": math.nan,
            "len_scale": math.nan, "nugget_sill": math.nan, "r2": math.nan, "n_bins": n_bins, "converged": False,
            "note": reason}


def _fit_one(name, lag, gamma, pairs, weights):
    """One model fit by weighted least squares; NaNs (converged False) when it cannot be fitted."""
    n_bins = int(lag.size)
    if n_bins < 4:
        return _nan_fit(name, n_bins, "fewer than 4 non-empty bins")
    if not np.ptp(gamma) > 0:
        return _nan_fit(name, n_bins, "constant semivariogram (no spatial structure to fit)")
    model = _model_class(name)(dim=2)
    # squared residuals weighted by N(h): gstools takes sigma = 1 / weight, so pass sqrt(N)
    w = None if weights is None else np.sqrt(pairs / pairs.mean())
    top = float(gamma.max())
    guess = {"var": max(top - float(gamma.min()), top * 0.5), "nugget": float(gamma.min()) * 0.5,
             "len_scale": float(lag.max()) / 3.0}
    model.set_arg_bounds(var=[0.0, 10.0 * top + 1e-300], nugget=[0.0, top + 1e-300],
                         len_scale=[1e-9 * float(lag.max()), 10.0 * float(lag.max())])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, _, r2 = model.fit_variogram(lag, gamma, nugget=True, weights=w, loss="linear",
                                           init_guess=guess, return_r2=True, max_eval=20000)
    except (RuntimeError, ValueError) as err:
        return _nan_fit(name, n_bins, f"fit failed: {err}")
    nugget, psill = float(model.nugget), float(model.var)
    sill = nugget + psill
    # the spherical model reaches its sill at len_scale; the others only approach it: their
    # practical range is where γ reaches nugget + 95 % of the partial sill (exponential: ~3 ℓ)
    rng = float(model.len_scale) if name == "spherical" else float(model.percentile_scale(0.95))
    return {"model": name, "nugget": nugget, "partial_sill": psill, "sill": sill, "range": rng,
            "len_scale": float(model.len_scale), "nugget_sill": nugget / sill if sill > 0 else math.nan,
            "r2": float(r2), "n_bins": n_bins, "converged": True, "note": ""}


def fit_semivariogram(table_or_da, model="spherical", *, weights="pairs", **semivariogram_kwargs):
    """Fit a nugget + spherical / exponential / Gaussian model to an empirical semivariogram.

    Parameters
    ----------
    table_or_da : pandas.DataFrame or xarray.DataArray
        The output of :func:`semivariogram` (columns ``lag``, ``gamma``, ``pairs``), or a map,
        whose semivariogram is computed first with ``semivariogram_kwargs``.
    model : {"spherical", "exponential", "gaussian", "best"}
        gstools' models (range parameter ``len_scale``).  "best" fits all three and keeps the
        highest r².
    weights : {"pairs", None}
        "pairs": weighted least squares with weight N(h) per bin; None: ordinary least squares.

    Returns
    -------
    dict
        ``model``, ``nugget`` (C0), ``partial_sill`` (C), ``sill`` (C0 + C), all in units² of
        the map; ``range`` (m: spherical ``len_scale``, else the practical range where γ reaches
        95 % of the partial sill above the nugget), ``len_scale`` (m), ``nugget_sill``
        (C0 / (C0 + C)), ``r2`` (1 − SS_res / SS_tot over the bins, unweighted), ``n_bins``,
        ``converged`` and ``note`` (why a fit gave NaNs), and ``units``.
    """
    if isinstance(table_or_da, xr.DataArray):
        table = semivariogram(table_or_da, **semivariogram_kwargs)
    elif isinstance(table_or_da, pd.DataFrame):
        if semivariogram_kwargs:
            raise TypeError(f"semivariogram options {sorted(semivariogram_kwargs)} only apply to a map; "
                            f"the table is already computed.")
        table = table_or_da
    else:
        raise TypeError(f"table_or_da must be a semivariogram DataFrame or a DataArray map, "
                        f"got {type(table_or_da).__name__}.")
    missing = [c for c in ("lag", "gamma", "pairs") if c not in table.columns]
    if missing:
        raise ValueError(f"the semivariogram table lacks the column(s) {missing}; pass the output of semivariogram().")
    if model not in (*MODELS, "best"):
        raise ValueError(f"model must be one of {(*MODELS, 'best')}, got {model!r}.")
    if weights not in ("pairs", None):
        raise ValueError(f"weights must be 'pairs' or None, got {weights!r}.")
    lag = table["lag"].to_numpy(np.float64)
    gamma = table["gamma"].to_numpy(np.float64)
    pairs = table["pairs"].to_numpy(np.float64)
    ok = np.isfinite(gamma) & (pairs > 0) & np.isfinite(lag)
    lag, gamma, pairs = lag[ok], gamma[ok], pairs[ok]
    fits = [_fit_one(m, lag, gamma, pairs, weights) for m in (MODELS if model == "best" else (model,))]
    good = [f for f in fits if f["converged"]]
    out = max(good, key=lambda f: f["r2"]) if good else fits[0]
    if not out["converged"]:
        warnings.warn(f"semivariogram fit gave no result: {out['note']}.", RuntimeWarning, stacklevel=2)
    g_units = table.attrs.get("units", {}).get("gamma") if isinstance(table.attrs.get("units"), dict) else None
    out["units"] = {"nugget": g_units, "partial_sill": g_units, "sill": g_units, "range": "m", "len_scale": "m",
                    "nugget_sill": "1", "r2": "1"}
    return out


def _radii(radii):
    try:
        r = np.asarray(radii, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError("radii must be a sequence of window radii in metres.") from None
    if r.size < 2:
        raise ValueError(f"radii must hold at least 2 window radii (metres) to compare, got {r.tolist()}.")
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"radii must be finite distances >= 0 in metres, got {r.tolist()}.")
    if np.unique(r).size != r.size:
        raise ValueError(f"radii lists a radius twice: {list(r)}.")
    return np.sort(r)


def _choose(table, radii, tolerance):
    """Chosen radius, whether the rule was met, the metrics used; adds ``change_to_next``."""
    wide = table.pivot(index="radius_m", columns="metric", values="nugget_sill").reindex(radii)
    usable = [m for m in wide.columns if np.all(np.isfinite(wide[m].to_numpy()))]
    if not usable:
        raise ValueError("no metric gave a fitted semivariogram at every radius (all nugget/sill ratios NaN); "
                         "see the 'note' column of the table, e.g. use larger maps or other metrics.")
    dropped = sorted(set(wide.columns) - set(usable))
    if dropped:
        warnings.warn(f"metrics {dropped} have no nugget/sill ratio at some radius and are left out of the "
                      f"radius rule.", RuntimeWarning, stacklevel=3)
    change = wide.diff().shift(-1).abs()  # |ratio(r_k+1) - ratio(r_k)|, NaN at the last radius
    table["change_to_next"] = [change.loc[r, m] for r, m in zip(table["radius_m"], table["metric"])]
    step = change[usable].max(axis=1).to_numpy()[:-1]  # the worst metric at each step
    ok = step <= tolerance
    # stable from k on: every later step within the tolerance
    stable_from = np.flip(np.logical_and.accumulate(np.flip(ok)))
    if stable_from.any():
        return float(radii[int(np.argmax(stable_from))]), True, usable
    warnings.warn(f"the nugget/sill ratio does not settle within tolerance={tolerance} over radii "
                  f"{[float(x) for x in radii]}; choosing the radius whose next step changes it least. Try larger radii "
                  f"or a larger tolerance.", RuntimeWarning, stacklevel=3)
    return float(radii[int(np.nanargmin(step))]), False, usable


def choose_window(lulc, metrics=DEFAULT_METRICS, radii=STUDY_RADII, *, shape="square", model="spherical",
                  tolerance=0.05, weights="pairs", bins=None, max_lag=None, sample=DEFAULT_SAMPLE, seed=0,
                  cell_size=None, neighbours=8, nodata=None):
    """Moving-window radius at which the metric maps' spatial structure stabilises (study 004 §2.2.4).

    For every radius: :func:`cubeeco.ops.moving_window.moving_window` maps of ``metrics``,
    then :func:`semivariogram` (the same sampled pixels and bins at every radius) and
    :func:`fit_semivariogram` of each map.

    Rule (study 004 picked 50 m where "the Nugget/sill ratio tended to be stable"): the
    smallest radius r_k, short of the last, from which every later step r_j → r_j+1 changes
    the nugget/sill ratio of every metric by at most ``tolerance``.  When no radius meets it, the
    radius whose next step changes the ratio least, with a warning (``attrs["stable"]`` False).

    Parameters
    ----------
    lulc : xarray.DataArray
        2-D (y, x) class raster (see ``moving_window``), numpy or dask backed.
    metrics : sequence of str
        Moving-window metrics (default study 004's SHEI, PD, AI, LSI).
    radii : sequence of float
        Window radii in metres (default the study's 30, 50, 100, 150, 200, 250).
    shape, cell_size, neighbours, nodata
        Passed to ``moving_window``.
    model, weights
        Passed to :func:`fit_semivariogram` (``model="best"`` allowed).
    tolerance : float
        Largest absolute change of the nugget/sill ratio (0..1) that counts as stable.
    bins, max_lag, sample, seed
        Passed to :func:`semivariogram`.

    Returns
    -------
    pandas.DataFrame
        One row per radius × metric: ``radius_m``, ``metric``, the fit (``model``, ``nugget``,
        ``partial_sill``, ``sill``, ``range_m``, ``len_scale_m``, ``nugget_sill``, ``r2``,
        ``n_bins``, ``converged``, ``note``), ``n_points``, ``change_to_next`` and ``chosen``;
        ``attrs``: ``chosen_radius_m``, ``stable``, ``rule``, ``tolerance``, ``metrics_used``, ``units``.
    """
    from .moving_window import _metrics, moving_window

    names = _metrics(metrics)
    r = _radii(radii)
    tol = float(tolerance)
    if not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tolerance must be a finite, non-negative change of the nugget/sill ratio, got {tolerance!r}.")
    rows = []
    for radius in r:
        ds = moving_window(lulc, names, radius, shape=shape, cell_size=cell_size, neighbours=neighbours,
                           nodata=nodata)
        maps = [_check_map(ds[m], m) for m in names]
        tables = _variogram_tables(maps, bins=bins, max_lag=max_lag, sample=sample, seed=seed,
                                   estimator="matheron")
        for name, tab in zip(names, tables):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a failed fit is a NaN row with a note
                fit = fit_semivariogram(tab, model, weights=weights)
            rows.append({"radius_m": float(radius), "metric": name, "model": fit["model"], "nugget": fit["nugget"],
                         "partial_sill": fit["partial_sill"], "sill": fit["sill"], "range_m": fit["range"],
                         "len_scale_m": fit["len_scale"], "nugget_sill": fit["nugget_sill"], "r2": fit["r2"],
                         "n_bins": fit["n_bins"], "converged": fit["converged"], "note": fit["note"],
                         "n_points": tab.attrs["n_points"]})
    table = pd.DataFrame(rows)
    chosen, stable, used = _choose(table, r, tol)
    table["chosen"] = table["radius_m"] == chosen
    table.attrs.update({"chosen_radius_m": chosen, "stable": stable, "rule": RULE, "tolerance": tol,
                        "metrics_used": used, "window": shape, "sample": sample, "seed": seed,
                        "units": {"radius_m": "m", "range_m": "m", "len_scale_m": "m", "nugget_sill": "1",
                                  "r2": "1", "nugget": "metric units squared", "sill": "metric units squared",
                                  "partial_sill": "metric units squared", "change_to_next": "1"},
                        "source": "study 004 §2.2.4 (moving window radius by nugget/sill stability), Eq. 3"})
    return table


__all__ = ["DEFAULT_METRICS", "MODELS", "STUDY_RADII", "choose_window", "fit_semivariogram", "semivariogram"]
