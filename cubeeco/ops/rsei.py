"""RSEI (seed 000 §3.1, SCIENCE.md §2): global PCA basis, per-pixel index, grades, transitions.

The RSEI is a global reduction followed by an elementwise map:

* :func:`rsei_basis` -- the global part, run once (a stage's reduce phase) and stored:
  per year (or pooled over all years) the normalisation bounds of NDVI, WET, NDBSI and LST,
  the covariance of the min-max normalised indices over all valid pixels, its
  eigen-decomposition (PC1 loadings, eigenvalues, contribution rate) and the range of the
  PC1 score.  Passes over the input (each reads every input chunk once): 1 bounds
  (``grouped_moments``; with ``clip`` the three passes of ``grouped_quantiles``),
  2 covariance (``covariance``), 3 PC1 score range (``projection_range``) -- 3 passes, 5
  with ``clip``.  Lazy for dask input (the passes are chained in the graph); with
  ``compute=True`` each pass is computed on its own (see docs/rsei.md: memory).
* :func:`rsei` -- the per-pixel PC1 score ``rsei0`` and ``rsei`` = its min-max stretch,
  one numba kernel through ``apply_kernel``; lazy, and no compute when ``basis`` is given.
* :func:`rsei_table` (Table 5), :func:`water_mask`, :func:`rsei_grades`,
  :func:`grade_areas` and :func:`transition_matrix` (Tables 6-7 and the grade transitions).

Orientation rule: every principal component is flipped so that its NDVI loading is positive
(WET decides when the NDVI loading is exactly 0); ``flipped`` records whether PC1 was
negated relative to numpy's ``eigh``, and ``ndvi_wet_agree`` whether PC1's WET loading then
has the same sign as its NDVI loading (the study expects it: both are "good" indices).
"""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import xarray as xr

from ..kernels import rsei as K
from ._apply import apply_kernel, float_dtype
from .reduce import (
    covariance,
    grouped_moments,
    grouped_quantiles,
    grouped_stat,
    merge_covariance,
    projection_range,
)

INDICES = ("ndvi", "wet", "ndbsi", "lst")
INDEX_LABELS = ("NDVI", "WET", "NDBSI", "LST")
GRADE_EDGES = (0.2, 0.4, 0.6, 0.8)
# the study's names (seed 000 §4.1: worst [0, 0.2], poor, moderate, good, excellent (0.8, 1])
GRADE_NAMES = ("Worst", "Poor", "Moderate", "Good", "Excellent")
ORIENTATION = ("each component flipped so that its NDVI loading is > 0 (WET decides when the NDVI "
               "loading is 0)")


# ------------------------------------------------------------------ inputs
def _inputs(ndvi, wet, ndbsi, lst, mask, dim):
    arrays = (ndvi, wet, ndbsi, lst)
    for name, a in zip(INDICES, arrays):
        if not isinstance(a, xr.DataArray):
            raise TypeError(f"{name} must be a DataArray, got {type(a).__name__}.")
        if a.dims != ndvi.dims or a.shape != ndvi.shape:
            raise ValueError(f"{name} has dims {dict(a.sizes)}; ndvi {dict(ndvi.sizes)}: the four indices must match.")
    squeeze = dim not in ndvi.dims
    if squeeze:
        arrays = tuple(a.expand_dims({dim: [0]}) for a in arrays)
        if mask is not None and dim in mask.dims:
            raise ValueError(f"mask has dim {dim!r} that the indices lack.")
    spatial = tuple(d for d in arrays[0].dims if d != dim)
    stack = xr.concat([a.drop_attrs().rename(None) for a in arrays], dim=pd.Index(list(INDICES), name="index"),
                      coords="minimal", compat="override", join="override")
    if mask is not None:
        if not isinstance(mask, xr.DataArray) or mask.dtype != bool:
            raise TypeError("mask must be a bool DataArray (True = use the pixel).")
        extra = [d for d in mask.dims if d not in stack.dims or d == "index"]
        if extra:
            raise ValueError(f"mask has dims {extra} that the indices lack.")
    return arrays, stack, spatial, squeeze


def _valid_labels(stack, mask):
    """0 where every index is finite (and mask is True), -1 elsewhere: one group of valid pixels."""
    ok = np.isfinite(stack).all("index")
    if mask is not None:
        ok = ok & mask
    return xr.where(ok, np.int8(0), np.int8(-1)).astype(np.int8)


# ------------------------------------------------------------------ the global part
def _pca(cov):
    """(..., F, F) covariance -> eigenvalues (..., F) descending, vectors (..., F, F) [index, component]
    oriented by the NDVI (then WET) loading, PC1 flipped flag (...); NaN where cov is not finite."""
    cov = np.asarray(cov, dtype=np.float64)
    lead = cov.shape[:-2]
    f = cov.shape[-1]
    flat = cov.reshape(-1, f, f)
    vals = np.full((flat.shape[0], f), np.nan)
    vecs = np.full((flat.shape[0], f, f), np.nan)
    flipped = np.zeros(flat.shape[0], dtype=bool)
    for i, c in enumerate(flat):
        if not np.all(np.isfinite(c)):
            continue
        w, v = np.linalg.eigh(c)
        order = np.argsort(w)[::-1]
        w, v = w[order], v[:, order]
        key = np.where(v[0] != 0, v[0], v[1])
        sign = np.where(key < 0, -1.0, 1.0)
        flipped[i] = sign[0] < 0
        vals[i], vecs[i] = w, v * sign
    return vals.reshape(*lead, f), vecs.reshape(*lead, f, f), flipped.reshape(lead)


def rsei_basis(ndvi, wet, ndbsi, lst, *, mask=None, pooled: bool = False, clip=None, dim: str = "time",
               compute: bool = False, split_every=None) -> xr.Dataset:
    """The global part of the RSEI: normalisation bounds, PCA and the PC1 score range.

    ndvi, wet, ndbsi, lst
        DataArrays of one shape, (dim, y, x) (or (y, x): one year), numpy or dask backed.
    mask
        Optional bool DataArray over a subset of their dims (e.g. :func:`water_mask`):
        True = use the pixel.  Valid pixels: all four indices finite and mask True.
    pooled
        False: one basis per step of ``dim`` (per year, the study's choice: I_min / I_max
        "in a certain year").  True: one basis over all years pooled (bounds, covariance
        and PC1 range over every valid pixel of every year): RSEI values comparable across
        years.
    clip
        None: bounds are the min and max over valid pixels.  ``(p_lo, p_hi)`` in percent, e.g.
        ``(1, 99)``: exact percentiles (``np.percentile``'s linear method, via
        ``grouped_quantiles``); normalised values are clipped to [0, 1].
    compute
        False (default): lazy for dask input.  True: each pass computed in turn (bounded memory:
        every pass reads each input chunk once and keeps none), a numpy-backed result.

    Returns a Dataset over ``group`` = ``dim`` (per year) or ``pooled`` (length 1) x
    ``component`` (pc1..pc4) x ``index`` (ndvi, wet, ndbsi, lst): ``lo``, ``hi`` (bounds),
    ``count``, ``mean`` (mean normalised index), ``cov`` (sample covariance, ddof 1),
    ``eigenvalue``, ``contribution`` (eigenvalue share, fraction), ``loading`` (eigenvectors,
    oriented), ``flipped``, ``ndvi_wet_agree``, ``rsei0_min``, ``rsei0_max``; and per step of
    ``dim`` whatever the mode: ``n_valid``, ``norm_mean`` (mean normalised index) and
    ``rsei_mean`` (mean RSEI, exact: the PC1 score is linear in the normalised indices).
    """
    arrays, stack, spatial, squeeze = _inputs(ndvi, wet, ndbsi, lst, mask, dim)
    if clip is not None:
        clip = tuple(float(c) for c in clip)
        if len(clip) != 2 or not 0 <= clip[0] < clip[1] <= 100:
            raise ValueError(f"clip must be (p_lo, p_hi) with 0 <= p_lo < p_hi <= 100, got {clip!r}.")
    gdim = "pooled" if pooled else dim
    bdims = (dim, *spatial) if pooled else spatial

    def done(*xs):
        return dask.compute(*xs) if compute else xs

    # pass 1: bounds
    labels = _valid_labels(stack, mask)
    if clip is None:
        m = grouped_moments(stack, labels, 1, dims=bdims, split_every=split_every).isel(group=0, drop=True)
        lo, hi = m.sel(moment="min", drop=True), m.sel(moment="max", drop=True)
    else:
        q = grouped_quantiles(stack, labels, 1, [clip[0] / 100, clip[1] / 100], dims=bdims,
                              split_every=split_every).isel(group=0, drop=True)
        lo, hi = q.isel(quantile=0, drop=True), q.isel(quantile=1, drop=True)
    lo, hi = done(lo, hi)
    # pass 2: per-year covariance of the normalised indices (pooled: merged over the years)
    cov_y = covariance(stack, "index", dims=spatial, mask=mask, bounds=(lo, hi), split_every=split_every)
    (cov_y,) = done(cov_y)
    cov_g = merge_covariance(cov_y, dim).expand_dims(pooled=["all"]) if pooled else cov_y
    vals, vecs, flipped = xr.apply_ufunc(
        _pca, cov_g["cov"], input_core_dims=[["index", "index2"]],
        output_core_dims=[["component"], ["index", "component"], []], dask="parallelized",
        output_dtypes=[np.float64, np.float64, bool], dask_gufunc_kwargs={"output_sizes": {"component": 4}},
    )
    comps = [f"pc{i + 1}" for i in range(4)]
    vals = vals.assign_coords(component=comps)
    vecs = vecs.assign_coords(component=comps).transpose(gdim, "component", "index")
    w1 = vecs.isel(component=0, drop=True)
    # pass 3: range of the PC1 score (per year; pooled: over all years)
    w_for_years = w1.isel(pooled=0, drop=True) if pooled else w1
    rng = projection_range(stack, "index", w_for_years, dims=spatial, mask=mask, bounds=(lo, hi),
                           split_every=split_every)
    (rng,) = done(rng)
    smin, smax = rng.sel(bound="min", drop=True), rng.sel(bound="max", drop=True)
    if pooled:
        smin = smin.min(dim).expand_dims(pooled=["all"])
        smax = smax.max(dim).expand_dims(pooled=["all"])
        lo_g, hi_g = lo.expand_dims(pooled=["all"]), hi.expand_dims(pooled=["all"])
    else:
        lo_g, hi_g = lo, hi
    total = vals.sum("component")
    ds = xr.Dataset({
        "lo": lo_g.transpose(gdim, "index"), "hi": hi_g.transpose(gdim, "index"),
        "count": cov_g["count"], "mean": cov_g["mean"].transpose(gdim, "index"),
        "cov": cov_g["cov"].transpose(gdim, "index", "index2"),
        "eigenvalue": vals.transpose(gdim, "component"),
        "contribution": (vals / total.where(total > 0)).transpose(gdim, "component"),
        "loading": vecs, "flipped": flipped,
        "ndvi_wet_agree": np.sign(w1.sel(index="ndvi")) == np.sign(w1.sel(index="wet")),
        "rsei0_min": smin, "rsei0_max": smax,
    })
    ds = ds.drop_vars([c for c in ("moment", "quantile", "group", "bound") if c in ds.coords])
    # per year, whatever the mode: valid pixels, mean normalised index, mean RSEI (linear in the means)
    b = ds.isel(pooled=0, drop=True) if pooled else ds
    score_mean = (b["loading"].isel(component=0, drop=True) * cov_y["mean"]).sum("index")
    rs_mean = (score_mean - b["rsei0_min"]) / (b["rsei0_max"] - b["rsei0_min"])
    ds["n_valid"] = cov_y["count"]
    ds["norm_mean"] = cov_y["mean"].transpose(dim, "index")
    ds["rsei_mean"] = rs_mean.where(cov_y["count"] > 0)
    for v in ("lo", "hi", "rsei0_min", "rsei0_max"):
        ds[v].attrs["units"] = "index units" if v in ("lo", "hi") else "1"
    for v in ("mean", "norm_mean", "rsei_mean", "contribution", "loading", "cov", "eigenvalue"):
        ds[v].attrs["units"] = "1"
    ds.attrs.update({
        "pooled": int(pooled), "clip": "none" if clip is None else f"{clip[0]:g},{clip[1]:g}",
        "group_dim": gdim, "dim": dim, "squeezed": int(squeeze), "orientation": ORIENTATION, "ddof": 1,
        "passes": 5 if clip is not None else 3,
        "method": "seed 000 Eqs. 12-13: min-max normalised NDVI, WET, NDBSI, LST; PCA of their covariance; "
                  "RSEI = (PC1 - min) / (max - min)",
    })
    if compute:
        ds = ds.compute()
    return ds


# ------------------------------------------------------------------ the per-pixel part
def _basis_for_pixels(basis):
    return basis.isel(pooled=0, drop=True) if "pooled" in basis.dims else basis


def rsei(ndvi, wet, ndbsi, lst, *, mask=None, pooled: bool = False, clip=None, basis=None, dim: str = "time",
         split_every=None) -> xr.Dataset:
    """Per-pixel RSEI (lazy): ``rsei0`` = PC1 score of the normalised indices, ``rsei`` in [0, 1].

    ``basis``: a :func:`rsei_basis` result (e.g. computed once by the reduce phase and read
    back); None: computed here, lazily, with ``mask`` / ``pooled`` / ``clip``.  With a basis
    given, nothing is computed and the graph is one elementwise pass over the inputs.
    The Dataset also carries ``pc1_loading`` (group, index) and ``pc1_contribution`` (group)
    (``group`` = ``dim`` per year, absent when pooled); when the basis is numpy-backed
    they are in attrs too.  NaN where an index is missing or the mask is False.
    """
    arrays, _, _, squeeze = _inputs(ndvi, wet, ndbsi, lst, mask, dim)
    if basis is None:
        basis = rsei_basis(ndvi, wet, ndbsi, lst, mask=mask, pooled=pooled, clip=clip, dim=dim,
                           split_every=split_every)
    b = _basis_for_pixels(basis)
    if squeeze and dim in b.dims:
        b = b.isel({dim: 0}, drop=True)
        arrays = (ndvi, wet, ndbsi, lst)
    b = b[["lo", "hi", "loading", "contribution", "rsei0_min", "rsei0_max"]]
    if any(v.chunks is not None for v in b.data_vars.values()):
        b = xr.Dataset({k: v.chunk({d: -1 for d in ("index", "component") if d in v.dims})
                        for k, v in b.data_vars.items()})
    w1 = b["loading"].isel(component=0, drop=True)
    use = True if mask is None else mask
    out_dt = float_dtype(*arrays)
    rsei0, r = apply_kernel(
        K.rsei_pixel, *arrays, use, b["lo"], b["hi"], w1, b["rsei0_min"], b["rsei0_max"],
        input_core_dims=[[], [], [], [], [], ["index"], ["index"], ["index"], [], []],
        output_core_dims=[[], []], output_dtypes=[out_dt, out_dt],
        attrs=[{"units": "1", "long_name": "PC1 score of the normalised indices (RSEI0)"},
               {"units": "1", "long_name": "remote sensing ecological index", "method": "seed 000 Eq. 13"}],
        names=["rsei0", "rsei"],
    )
    ds = xr.Dataset({"rsei0": rsei0.transpose(*ndvi.dims), "rsei": r.transpose(*ndvi.dims),
                     "pc1_loading": w1, "pc1_contribution": b["contribution"].isel(component=0, drop=True)})
    ds["pc1_loading"].attrs["units"] = "1"
    ds["pc1_contribution"].attrs["units"] = "1"
    ds.attrs.update({k: basis.attrs[k] for k in ("pooled", "clip", "orientation") if k in basis.attrs})
    if w1.chunks is None and b["contribution"].chunks is None:
        ds.attrs["pc1_loadings"] = np.asarray(w1.values).round(8).tolist()
        ds.attrs["pc1_contribution"] = np.asarray(ds["pc1_contribution"].values).round(8).tolist()
        ds.attrs["indices"] = list(INDICES)
    return ds


def rsei_table(basis: xr.Dataset, rsei_ds: xr.Dataset) -> pd.DataFrame:
    """Table 5 of seed 000 per year: mean RSEI, mean normalised indices, PC1 contribution (%), loadings.

    The mean RSEI is a reduction of ``rsei_ds["rsei"]`` (``grouped_stat``, one pass, computed
    here with the basis in one ``dask.compute``); the mean normalised indices, pixel counts
    and PC1 figures come from the basis (pass 2's means).
    """
    dim = basis.attrs.get("dim", "time")
    r = rsei_ds["rsei"]
    if dim not in r.dims:
        r = r.expand_dims({dim: basis[dim].values})
    spatial = tuple(d for d in r.dims if d != dim)
    labels = xr.zeros_like(r.isel({dim: 0}, drop=True), dtype=np.int8)
    mean_rsei = grouped_stat(r, labels, 1, "mean", dims=spatial).isel(group=0, drop=True)
    b = basis[["loading", "contribution", "flipped"]]
    if "pooled" in b.dims:
        b = b.isel(pooled=0, drop=True).expand_dims({dim: basis[dim].values})
    pc1 = b["loading"].isel(component=0, drop=True)
    mean_rsei, norm_mean, contrib, pc1, n_valid, flipped = dask.compute(
        mean_rsei, basis["norm_mean"], b["contribution"].isel(component=0, drop=True), pc1, basis["n_valid"],
        b["flipped"])
    df = pd.DataFrame(index=pd.Index(np.asarray(basis[dim].values), name=dim))
    df["RSEI"] = np.asarray(mean_rsei.transpose(dim).values)
    for name, label in zip(INDICES, INDEX_LABELS):
        df[label] = np.asarray(norm_mean.sel(index=name).values)
    df["Percentage (%)"] = 100.0 * np.asarray(contrib.values)
    for name, label in zip(INDICES, INDEX_LABELS):
        df[f"PC1 {label}"] = np.asarray(pc1.sel(index=name).values)
    df["pixels"] = np.asarray(n_valid.values).astype(np.int64)
    df["flipped"] = np.asarray(flipped.values).astype(bool)
    units = {"RSEI": "1", **{label: "1 (normalised)" for label in INDEX_LABELS}, "Percentage (%)": "%",
             **{f"PC1 {label}": "1" for label in INDEX_LABELS}, "pixels": "count", "flipped": "bool"}
    df.attrs["units"] = units
    df.attrs["pooled"] = bool(basis.attrs.get("pooled", 0))
    df.attrs["clip"] = basis.attrs.get("clip", "none")
    return df


# ------------------------------------------------------------------ masks, grades, areas, transitions
def water_mask(mndwi: xr.DataArray, threshold: float = 0.0) -> xr.DataArray:
    """True where land (MNDWI <= threshold), False on water and where MNDWI is missing (lazy)."""
    out = (mndwi <= threshold).rename("land")
    out.attrs = {"long_name": "land mask (MNDWI <= threshold)", "threshold": float(threshold), "units": "1"}
    return out


def rsei_grades(rsei: xr.DataArray, edges=GRADE_EDGES) -> xr.DataArray:
    """int8 grade 1..5 (Worst, Poor, Moderate, Good, Excellent; right-closed at ``edges``), 0 = nodata.

    Grade = 1 + #(edges < value), the edges rounded to the data's float type first (so a
    float32 RSEI of exactly 0.2 is grade 1, as the study's [0, 0.2] intends).  Lazy.
    """
    if isinstance(rsei, xr.Dataset):
        rsei = rsei["rsei"]
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size != 4 or np.any(np.diff(e) <= 0):
        raise ValueError(f"edges must be 4 increasing values, got {edges!r}.")
    # compare in the data's precision: float32 RSEI 0.2 is grade 1 although float32(0.2) > 0.2
    e_cmp = e.astype(rsei.dtype).astype(np.float64) if rsei.dtype.kind == "f" else e
    out = apply_kernel(K.grade, rsei, xr.DataArray(e_cmp, dims=("edge",)), input_core_dims=[[], ["edge"]],
                       output_dtypes=[np.int8], attrs=[{
                           "long_name": "RSEI grade", "flag_values": [1, 2, 3, 4, 5],
                           "flag_meanings": " ".join(n.lower() for n in GRADE_NAMES), "_FillValue_meaning": "0 nodata",
                           "edges": e.tolist(), "units": "1"}], names=["grade"])
    return out


def _pixel_km2(da, pixel_km2, x, y):
    if pixel_km2 is not None:
        return float(pixel_km2)
    if x not in da.coords or y not in da.coords or da.sizes[x] < 2 or da.sizes[y] < 2:
        raise ValueError(f"pixel_km2 is needed: no regular {y!r}/{x!r} coordinates (metres) to derive it from.")
    dx = float(abs(da[x].values[1] - da[x].values[0]))
    dy = float(abs(da[y].values[1] - da[y].values[0]))
    return dx * dy / 1e6


def grade_areas(grades: xr.DataArray, *, dim: str = "time", pixel_km2: float | None = None, x: str = "x",
                y: str = "y") -> pd.DataFrame:
    """Area (km²) and share (% of graded pixels) per grade per year: one ``grouped_stat`` count.

    ``pixel_km2`` None: |dx·dy| / 1e6 from the ``x`` / ``y`` coordinates (metres).
    Returns a long DataFrame: ``dim``, ``grade`` (1..5), ``name``, ``pixels``, ``area_km2``, ``share_pct``.
    """
    px = _pixel_km2(grades, pixel_km2, x, y)
    g = grades if dim in grades.dims else grades.expand_dims({dim: [0]})
    spatial = tuple(d for d in g.dims if d != dim)
    labels = (g.astype(np.int16) - 1).astype(np.int8)
    counts = grouped_stat(g, labels, 5, "count", dims=spatial).transpose(dim, "group")
    c = np.asarray(counts.values)
    total = c.sum(axis=1, keepdims=True)
    share = np.where(total > 0, 100.0 * c / np.where(total > 0, total, 1), np.nan)
    years = np.asarray(g[dim].values) if dim in g.coords else np.arange(g.sizes[dim])
    df = pd.DataFrame({
        dim: np.repeat(years, 5), "grade": np.tile(np.arange(1, 6), len(years)),
        "name": np.tile(GRADE_NAMES, len(years)), "pixels": c.ravel().astype(np.int64),
        "area_km2": c.ravel() * px, "share_pct": share.ravel(),
    })
    df.attrs["units"] = {"pixels": "count", "area_km2": "km2", "share_pct": "%"}
    df.attrs["pixel_km2"] = px
    return df


def _select_year(da, dim, year):
    idx = da.indexes.get(dim)
    if idx is not None and isinstance(idx, pd.DatetimeIndex) and isinstance(year, (int, np.integer)):
        hit = np.flatnonzero(idx.year == int(year))
        if hit.size != 1:
            raise KeyError(f"year {year} matches {hit.size} steps of {dim!r}.")
        return da.isel({dim: int(hit[0])}, drop=True)
    return da.sel({dim: year}, drop=True)


def transition_matrix(grades: xr.DataArray, year_from, year_to, *, dim: str = "time",
                      pixel_km2: float | None = None, x: str = "x", y: str = "y") -> pd.DataFrame:
    """Grade-to-grade transition areas between two years: one grouped count of a pair label.

    label = 6·(g_from − 1) + g_to for graded from-pixels (g_to = 0: no grade in ``year_to``),
    so the 5 × 5 matrix of the study plus a "No data" column, and every row sums to the
    from-year's area of that grade.  Columns: (``area_km2``, to-grade) and (``percent``,
    to-grade) -- percent of the from-grade's area -- and ``("total", "area_km2")``; rows:
    from-grade names.  ``year_from`` / ``year_to``: labels of ``dim`` (an int year also
    matches a datetime coordinate).
    """
    px = _pixel_km2(grades, pixel_km2, x, y)
    g0 = _select_year(grades, dim, year_from).astype(np.int16)
    g1 = _select_year(grades, dim, year_to).astype(np.int16)
    label = xr.where(g0 > 0, 6 * (g0 - 1) + g1, -1).astype(np.int8)
    counts = grouped_stat(g0, label, 30, "count", dims=tuple(g0.dims))
    c = np.asarray(counts.values).reshape(5, 6)
    area = c * px
    row = area.sum(axis=1, keepdims=True)
    pct = np.where(row > 0, 100.0 * area / np.where(row > 0, row, 1.0), np.nan)
    to_names = [*GRADE_NAMES, "No data"]
    cols = pd.MultiIndex.from_tuples([("area_km2", n) for n in to_names] + [("percent", n) for n in to_names]
                                     + [("total", "area_km2")])
    df = pd.DataFrame(np.concatenate([area, pct, row], axis=1), columns=cols,
                      index=pd.Index(list(GRADE_NAMES), name=f"from {year_from} \\ to {year_to}"))
    df.attrs["units"] = {"area_km2": "km2", "percent": "% of the from-grade's area", "total": "km2"}
    df.attrs["pixel_km2"] = px
    return df


__all__ = ["GRADE_EDGES", "GRADE_NAMES", "INDICES", "grade_areas", "rsei", "rsei_basis", "rsei_grades",
           "rsei_table", "transition_matrix", "water_mask"]
