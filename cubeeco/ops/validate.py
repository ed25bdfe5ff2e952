"""Validation of a modelled raster against field points (study 001 §3.1, Eq. 8).

Study 001 checks CASA NPP against NPP converted from the above-ground biomass of 45 field
plots: the model value is read at each plot's coordinates and Pearson's r (Eq. 8), R² and
its p-value are reported (R² = 0.700, p < 0.01, n = 45).  :func:`sample_points` reads a
raster at points (nearest pixel); :func:`validate` computes the statistics.

>>> validate([1.0, 2.0, 3.0, 4.0], [1.1, 1.9, 3.2, 3.9])["n"]
4
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ._checks import require_dataarray

STATISTICS = ("n", "r", "r2", "p_value", "rmse", "bias", "mae")


def _values(obj, name: str) -> np.ndarray:
    if isinstance(obj, xr.DataArray):
        obj = obj.values  # the sample of a few points, not a raster: validate is eager by design
    try:
        arr = np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numbers (array, list, Series or DataArray), got {type(obj).__name__}.") from None
    return arr.ravel()


def validate(predicted, observed, *, min_points: int = 3) -> dict:
    """Agreement of ``predicted`` (model) with ``observed`` (field) values, pair by pair.

    Pairs where either is NaN are left out.  Returns a dict: ``n`` (pairs used), ``r``
    (Pearson, seed 001 Eq. 8), ``r2`` (= r²), ``p_value`` (two-sided, of r,
    ``scipy.stats.pearsonr``), ``rmse`` = sqrt(mean((pred - obs)²)), ``bias`` =
    mean(pred - obs), ``mae`` = mean(|pred - obs|).  r, r2 and p are NaN when either
    side is constant.  Fewer than ``min_points`` pairs (3) is a ValueError.
    """
    from scipy import stats

    pred = _values(predicted, "predicted")
    obs = _values(observed, "observed")
    if pred.shape != obs.shape:
        raise ValueError(f"predicted and observed must pair up: {pred.size} vs {obs.size} values.")
    ok = np.isfinite(pred) & np.isfinite(obs)
    n = int(ok.sum())
    if n < max(int(min_points), 2):
        raise ValueError(f"only {n} pair(s) with both values finite; validation needs at least "
                         f"{max(int(min_points), 2)} (min_points).")
    p, o = pred[ok], obs[ok]
    d = p - o
    if np.ptp(p) == 0 or np.ptp(o) == 0:
        r = pv = np.nan  # correlation undefined for a constant sample
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NearConstantInputWarning: the value is still returned
            res = stats.pearsonr(p, o)
        r, pv = float(res.statistic), float(res.pvalue)
    return {"n": n, "r": r, "r2": r * r, "p_value": pv, "rmse": float(np.sqrt(np.mean(d * d))),
            "bias": float(np.mean(d)), "mae": float(np.mean(np.abs(d)))}


def _points_xy(points, da):
    """(x, y) arrays of ``points`` (GeoDataFrame of points or an (n, 2) array in the grid CRS)."""
    if hasattr(points, "geometry") and hasattr(points, "crs"):
        geom = points.geometry
        if not (geom.geom_type == "Point").all():
            raise ValueError("points must be Point geometries (take .centroid of polygons first).")
        crs = _raster_crs(da)
        if points.crs is not None and crs is not None and not points.crs.equals(crs):
            raise ValueError(f"points are in {points.crs.to_string()} but the raster in {crs.to_string()}; "
                             f"reproject them with points.to_crs({crs.to_string()!r}).")
        return np.asarray(geom.x, dtype=np.float64), np.asarray(geom.y, dtype=np.float64)
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must be a GeoDataFrame or an (n, 2) array of x, y in the grid CRS, "
                         f"got shape {arr.shape}.")
    return arr[:, 0], arr[:, 1]


def _raster_crs(da):
    try:
        import rioxarray  # noqa: F401

        return da.rio.crs
    except Exception:  # no spatial_ref / rioxarray: nothing to compare against
        return None


def _nearest(coord: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest index into the 1-d ``coord`` of each value, and whether it lies on the grid."""
    if coord.size == 0:
        raise ValueError("the raster has an empty spatial dimension.")
    step = np.abs(np.diff(coord)).min() if coord.size > 1 else 0.0
    order = np.argsort(coord)
    c = coord[order]
    pos = np.clip(np.searchsorted(c, values), 1, max(c.size - 1, 1)) if c.size > 1 else np.zeros(values.size, int)
    if c.size > 1:
        left = pos - 1
        pos = np.where(np.abs(values - c[left]) <= np.abs(values - c[pos]), left, pos)
    idx = order[pos]
    # a point more than half a pixel outside the grid gets NaN, not the edge pixel's value
    inside = np.isfinite(values) & (np.abs(values - coord[idx]) <= step / 2.0 + 1e-9 * max(step, 1.0))
    return idx, inside


def sample_points(da, points, *, x: str = "x", y: str = "y") -> xr.DataArray:
    """Values of ``da`` at ``points``: the pixel whose centre is nearest each point.

    ``points``: a GeoDataFrame of Point geometries (its CRS must equal the raster's, when
    both are known) or an (n, 2) array of x, y in the grid CRS.  Returns a DataArray with
    dimension ``point`` in place of (``y``, ``x``) (other dimensions kept), coordinates
    ``point_x``/``point_y`` (the points) and ``x``/``y`` (the pixel centres); NaN for a
    point more than half a pixel outside the grid.  Lazy for dask input.
    """
    require_dataarray(da, "da")
    for d in (x, y):
        if d not in da.dims:
            raise ValueError(f"da has no dimension {d!r}; its dimensions are {tuple(da.dims)}. Pass x= / y=.")
    px, py = _points_xy(points, da)
    ix, okx = _nearest(np.asarray(da[x].values, dtype=np.float64), px)
    iy, oky = _nearest(np.asarray(da[y].values, dtype=np.float64), py)
    inside = xr.DataArray(okx & oky, dims="point")
    out = da.isel({x: xr.DataArray(ix, dims="point"), y: xr.DataArray(iy, dims="point")})
    if not bool(inside.all()):
        out = out.where(inside)
    out = out.assign_coords(point_x=("point", px), point_y=("point", py))
    if hasattr(points, "index") and hasattr(points, "geometry"):
        out = out.assign_coords(point=np.asarray(points.index))
    out.attrs = {**da.attrs, "sampling": "nearest pixel centre"}
    return out


__all__ = ["STATISTICS", "sample_points", "validate"]
