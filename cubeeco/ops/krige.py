"""Ordinary kriging of point samples onto a raster grid (seed 002: NPP_bg; seed 004: semivariograms).

The kriging itself is pykrige's :class:`pykrige.ok.OrdinaryKriging` (a maintained peer; it is
not reimplemented here).  This module adds what a raster engine needs around it:

* points given as an (n, 2) array in the grid's CRS or as a GeoDataFrame (reprojected);
  geographic CRSs are refused, since pykrige's euclidean distances in degrees are wrong;
* the variogram fitted once, eagerly, on the (small) point set, and its parameters kept in
  the attrs so that a run can be reproduced by passing them back;
* the estimate evaluated lazily per (y, x) chunk of a dask-backed ``like`` -- the kriging
  matrix is inverted once per process and reused by every block and batch, with pykrige's
  operations, so one chunk and many chunks give the same numbers -- in bounded batches of
  target points (pykrige's vectorised backend holds an (n_targets, n_points + 1) matrix);
* a value-only evaluation by dual weights (:meth:`KrigingModel.predict`, ``variance=False``)
  for many targets, e.g. the 500 m cell centres of the NPP_bg background (seed 002).

>>> import numpy as np, xarray as xr
>>> like = xr.DataArray(np.zeros((2, 3)), dims=("y", "x"), coords={"y": [15.0, 5.0], "x": [5.0, 15.0, 25.0]})
>>> pts = np.array([[0.0, 0.0], [30.0, 0.0], [0.0, 20.0], [30.0, 20.0]])
>>> out = krige(pts, np.array([1.0, 2.0, 3.0, 4.0]), like, model="linear", variogram_parameters={"slope": 1.0, "nugget": 0.0})
>>> out.value.dims, out.attrs["model"]
(('y', 'x'), 'linear')
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import dask.array as dsa
import numpy as np
import xarray as xr

from ._checks import require_dataarray

# pykrige's parameter order per model (pykrige.core._make_variogram_parameter_list)
PARAMETER_NAMES = {
    "linear": ("slope", "nugget"),
    "power": ("scale", "exponent", "nugget"),
    "gaussian": ("psill", "range", "nugget"),
    "spherical": ("psill", "range", "nugget"),
    "exponential": ("psill", "range", "nugget"),
    "hole-effect": ("psill", "range", "nugget"),
}
MODELS = tuple(PARAMETER_NAMES)
MIN_POINTS = 3
# target points per pykrige call: keeps its (targets, points + 1) float64 temporaries near
# 16 MiB each whatever the chunk size
_BATCH_CELLS = 2**21


# ------------------------------------------------------------------ CRS helpers
def crs_of(obj):
    """The pyproj CRS of a DataArray (rioxarray grid mapping, ``attrs["crs"]`` or a
    ``spatial_ref`` coordinate's ``crs_wkt`` / ``spatial_ref``), or None."""
    from pyproj import CRS

    try:
        import rioxarray  # noqa: F401  (registers .rio)

        crs = obj.rio.crs
    except Exception:  # noqa: BLE001  (no or unreadable grid mapping)
        crs = None
    if crs is not None:
        return CRS.from_user_input(crs.to_wkt())
    candidates = [obj.attrs.get("crs")]
    if "spatial_ref" in obj.coords:
        a = obj.coords["spatial_ref"].attrs
        candidates += [a.get("crs_wkt"), a.get("spatial_ref")]
    for c in candidates:
        if c:
            return CRS.from_user_input(c)
    return None


def require_projected(crs, name: str) -> None:
    if crs is not None and crs.is_geographic:
        raise ValueError(f"{name} is in a geographic CRS ({crs.name}, {crs.to_string()}); kriging distances in "
                         f"degrees are wrong. Reproject onto a projected grid (e.g. UTM) first.")


def _points_xy(points, like_crs) -> np.ndarray:
    """(n, 2) float64 x, y in ``like``'s CRS."""
    if hasattr(points, "geometry") and hasattr(points, "crs"):   # a GeoDataFrame / GeoSeries
        geom = points.geometry
        kinds = set(geom.geom_type.dropna().unique())
        if kinds - {"Point"}:
            raise ValueError(f"points must be Point geometries, got {sorted(kinds)}; use e.g. .centroid first.")
        if points.crs is None:
            raise ValueError("points (a GeoDataFrame) has no CRS; set it with points.set_crs(...).")
        if like_crs is None:
            raise ValueError("like has no CRS, so GeoDataFrame points cannot be placed on it; write one with "
                             "like.rio.write_crs(...) or pass points as an (n, 2) array in like's coordinates.")
        if not points.crs.equals(like_crs):
            geom = geom.to_crs(like_crs)
        xy = np.column_stack([geom.x.to_numpy(np.float64), geom.y.to_numpy(np.float64)])
    else:
        try:
            xy = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"points must be an (n, 2) array of x, y or a GeoDataFrame of points, "
                            f"got {type(points).__name__}.") from None
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"points must have shape (n, 2) (x, y per row), got {xy.shape}.")
    if not np.all(np.isfinite(xy)):
        raise ValueError(f"points hold {int((~np.isfinite(xy)).any(axis=1).sum())} row(s) with NaN or inf "
                         f"coordinates; drop them first.")
    return xy


# ------------------------------------------------------------------ arguments
def _check_model(model) -> str:
    if not isinstance(model, str) or model not in PARAMETER_NAMES:
        raise ValueError(f"model must be one of pykrige's variogram models {list(MODELS)}, got {model!r}.")
    return model


def _fixed_parameters(model, psill, range_, nugget, variogram_parameters):
    """pykrige's parameter list, or None to let pykrige fit the variogram."""
    given = {"psill": psill, "range": range_, "nugget": nugget}
    named = [k for k, v in given.items() if v is not None]
    if variogram_parameters is not None:
        if named:
            raise ValueError(f"pass either psill/range/nugget or variogram_parameters=, not both (got {named}).")
        if not isinstance(variogram_parameters, dict):
            raise TypeError(f"variogram_parameters must be a dict of {PARAMETER_NAMES[model]}, "
                            f"got {type(variogram_parameters).__name__}.")
        need = PARAMETER_NAMES[model]
        missing = [k for k in need if k not in variogram_parameters]
        extra = [k for k in variogram_parameters if k not in need]
        if missing or extra:
            raise ValueError(f"variogram_parameters for model {model!r} needs exactly {list(need)}; "
                             f"missing {missing}, unexpected {extra}.")
        params = [variogram_parameters[k] for k in need]
    elif not named:
        return None
    elif len(named) < 3:
        missing = [k for k, v in given.items() if v is None]
        raise ValueError(f"give all of psill, range and nugget (then they are used as is) or none (then pykrige "
                         f"fits them); got {named}, missing {missing}.")
    elif model in ("linear", "power"):
        raise ValueError(f"psill/range/nugget do not describe the {model!r} model; pass "
                         f"variogram_parameters={{{', '.join(repr(k) + ': ...' for k in PARAMETER_NAMES[model])}}}.")
    else:
        params = [psill, range_, nugget]
    out = []
    for name, v in zip(PARAMETER_NAMES[model], params):
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"variogram parameter {name} must be a number, got {v!r}.") from None
        if not np.isfinite(f) or f < 0:
            raise ValueError(f"variogram parameter {name} must be finite and >= 0, got {v!r}.")
        out.append(f)
    return out


def _values_table(values, n, dim):
    """(n, k) float64 values, the k slice labels (or None), units."""
    units = None
    labels = None
    if isinstance(values, xr.DataArray):
        units = values.attrs.get("units")
        if dim is None:
            if values.ndim != 1:
                raise ValueError(f"values is a DataArray with dims {values.dims}; without dim= it must be 1-D "
                                 f"(one value per point). Pass dim= to krige each slice.")
            table = np.asarray(values.values, dtype=np.float64)[:, None]
        else:
            if values.ndim != 2 or dim not in values.dims:
                raise ValueError(f"values must have dims ('point', {dim!r}) with dim={dim!r}, got {values.dims}.")
            pdim = next(d for d in values.dims if d != dim)
            # small point table: loaded to fit the variograms (the grid side stays lazy)
            table = np.asarray(values.transpose(pdim, dim).values, dtype=np.float64)
            labels = values[dim].values if dim in values.coords else np.arange(values.sizes[dim])
    else:
        try:
            table = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"values must be numeric (an array or DataArray), got {type(values).__name__}.") from None
        if dim is None:
            if table.ndim != 1:
                raise ValueError(f"values must be 1-D (one per point) without dim=, got shape {table.shape}.")
            table = table[:, None]
        else:
            if table.ndim != 2:
                raise ValueError(f"values must be an (n, k) array with dim={dim!r}, got shape {table.shape}.")
            labels = np.arange(table.shape[1])
    if table.shape[0] != n:
        raise ValueError(f"values has {table.shape[0]} point(s) but points has {n}.")
    return table, labels, units


# ------------------------------------------------------------------ kriging
def _build(x, y, z, model, params, nlags, exact_values):
    from pykrige.ok import OrdinaryKriging

    # a dict, never a list: pykrige reads a list as [full sill, range, nugget] but reports
    # (and we store) the partial sill
    vp = None if params is None else dict(zip(PARAMETER_NAMES[model], params))
    return OrdinaryKriging(x, y, z, variogram_model=model, variogram_parameters=vp, nlags=nlags,
                           exact_values=exact_values)


@dataclass(frozen=True, eq=False)
class KrigingModel:
    """One fitted ordinary-kriging system: the valid points and the fixed variogram.

    Small and free of pykrige objects, so it rides in a dask graph.  The kriging matrix is
    built by pykrige and inverted **once** per process (cached, never pickled); every batch
    of targets then costs one (n + 1) x batch product, with the same operations in the same
    order as pykrige's vectorised backend, so every block gives pykrige's numbers.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    model: str
    parameters: tuple
    nlags: int = 6
    exact_values: bool = True

    @property
    def n_points(self) -> int:
        return int(self.z.size)

    @property
    def parameter_dict(self) -> dict:
        return dict(zip(PARAMETER_NAMES[self.model], self.parameters))

    def pykrige(self):
        """The equivalent :class:`pykrige.ok.OrdinaryKriging` (variogram fixed)."""
        return _build(self.x, self.y, self.z, self.model, list(self.parameters), self.nlags, self.exact_values)

    def __getstate__(self):
        # the cached system ((n + 1)^2 floats) is rebuilt where the model lands
        return {k: v for k, v in self.__dict__.items() if k != "_system"}

    def __setstate__(self, state):
        for k, v in state.items():
            object.__setattr__(self, k, v)

    def _solved(self):
        """(pykrige object, inverse kriging matrix, dual weights), built once."""
        cached = self.__dict__.get("_system")
        if cached is None:
            import scipy.linalg

            ok = self.pykrige()
            n = self.n_points
            a_inv = scipy.linalg.inv(ok._get_kriging_matrix(n))    # pykrige inverts this same matrix
            # dual form: value(x0) = b(x0) . (A^-T [z, 0]); O(n) per target instead of O(n^2)
            dual = a_inv.T @ np.concatenate([ok.Z, [0.0]])
            cached = (ok, a_inv, dual)
            object.__setattr__(self, "_system", cached)
        return cached

    def _rhs(self, ok, gx, gy):
        """pykrige's right-hand sides b (npt, n + 1) for targets gx, gy (its own steps)."""
        from pykrige.core import _adjust_for_anisotropy
        from scipy.spatial.distance import cdist

        n = self.n_points
        px, py = _adjust_for_anisotropy(np.vstack((gx, gy)).T, [ok.XCENTER, ok.YCENTER],
                                        [ok.anisotropy_scaling], [ok.anisotropy_angle]).T
        data = np.column_stack([ok.X_ADJUSTED, ok.Y_ADJUSTED])
        bd = cdist(np.column_stack([px, py]), data, "euclidean")
        b = np.zeros((gx.size, n + 1))
        b[:, :n] = -ok.variogram_function(ok.variogram_model_parameters, bd)
        if self.exact_values:
            b[:, :n][np.absolute(bd) <= ok.eps] = 0.0
        b[:, n] = 1.0
        return b

    def predict(self, x, y, *, variance: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Kriged value and variance (float64) at the points (x, y), in bounded batches.

        ``variance=False`` skips the variance and uses the dual weights (one dot product
        per target; equal to pykrige up to rounding, ~1e-12 relative); with the variance the
        weights are solved per target exactly as pykrige does.
        """
        ok, a_inv, dual = self._solved()
        gx = np.asarray(x, dtype=np.float64).ravel()
        gy = np.asarray(y, dtype=np.float64).ravel()
        n = self.n_points
        value = np.empty(gx.size, dtype=np.float64)
        var = np.empty(gx.size, dtype=np.float64) if variance else None
        step = max(1, _BATCH_CELLS // (n + 1))
        for s in range(0, gx.size, step):
            b = self._rhs(ok, gx[s:s + step], gy[s:s + step])
            if variance:
                w = np.dot(a_inv, b.T).T                    # pykrige's order of operations
                value[s:s + step] = np.sum(w[:, :n] * ok.Z, axis=1)
                var[s:s + step] = np.sum(w * -b, axis=1)
            else:
                value[s:s + step] = b @ dual
        return value, var

    def grid(self, ys, xs, *, variance: bool = True) -> np.ndarray:
        """(2, len(ys), len(xs)) value and variance at the pixel centres ys x xs
        ((1, ...) value only with ``variance=False``)."""
        ys, xs = np.asarray(ys, dtype=np.float64), np.asarray(xs, dtype=np.float64)
        gx = np.broadcast_to(xs[None, :], (ys.size, xs.size))
        gy = np.broadcast_to(ys[:, None], (ys.size, xs.size))
        v, s = self.predict(gx, gy, variance=variance)
        parts = [v, s] if variance else [v]
        return np.stack(parts).reshape(len(parts), ys.size, xs.size)


def fit_variogram(xy, z, *, model: str = "spherical", parameters=None, nlags: int = 6,
                  exact_values: bool = True, label=None) -> KrigingModel:
    """A :class:`KrigingModel` for points ``xy`` (n, 2) and values ``z`` (NaN dropped).

    ``parameters``: pykrige's list for ``model`` (see ``PARAMETER_NAMES``), or None to let
    pykrige fit the variogram (least squares on ``nlags`` lag bins).  Fewer than 3 valid
    points, or a constant field to fit, is a ValueError.
    """
    model = _check_model(model)
    xy = np.asarray(xy, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    ok_rows = np.isfinite(z)
    n = int(ok_rows.sum())
    where = "" if label is None else f" in slice {label!r}"
    if n < MIN_POINTS:
        raise ValueError(f"kriging needs at least {MIN_POINTS} points with a finite value{where}; got {n} "
                         f"(of {z.size}, the rest NaN).")
    x, y, zz = xy[ok_rows, 0].copy(), xy[ok_rows, 1].copy(), z[ok_rows].copy()
    if parameters is None and np.ptp(zz) == 0:
        raise ValueError(f"all {n} values{where} are equal ({zz[0]!r}): a variogram cannot be fitted to a "
                         f"constant field; pass psill/range/nugget, or use the constant itself.")
    ok = _build(x, y, zz, model, parameters, int(nlags), bool(exact_values))
    fitted = tuple(float(v) for v in ok.variogram_model_parameters)
    return KrigingModel(x, y, zz, model, fitted, int(nlags), bool(exact_values))


def _krige_block(ys, xs, *, spec):
    return spec.grid(ys, xs)


def _surface(spec, ycoord, xcoord, ychunks, xchunks):
    if ychunks is None:
        return spec.grid(ycoord, xcoord)
    ys = dsa.from_array(ycoord, chunks=(ychunks,))
    xs = dsa.from_array(xcoord, chunks=(xchunks,))
    return outer_blockwise(_krige_block, "vyx", ys, "y", xs, "x", new_axes={"v": 2}, dtype=np.float64,
                           spec=spec, concatenate=True)


def outer_blockwise(*args, **kwargs):
    """``dask.array.blockwise`` for an output that is the outer product of 1-D coordinate
    chunks: many more blocks than any input by design, so dask's PerformanceWarning
    about the growth in chunk count says nothing here."""
    import warnings

    from dask.array.core import PerformanceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)
        return dsa.blockwise(*args, **kwargs)


def krige(points, values, like, *, model: str = "spherical", psill=None, range=None, nugget=None,  # noqa: A002
          variogram_parameters: dict | None = None, dim: str | None = None, nlags: int = 6,
          exact_values: bool = True) -> xr.Dataset:
    """Ordinary kriging of point values onto the pixel centres of ``like`` (pykrige).

    Parameters
    ----------
    points
        (n, 2) array of projected x, y in ``like``'s CRS, or a GeoDataFrame of points
        (reprojected to ``like``'s CRS; ``like`` must then carry one).
    values
        n values (array or DataArray; its ``units`` are kept), or with ``dim`` an (n, k)
        array / DataArray over ("point", ``dim``): each slice is kriged on its own, with its
        own fitted variogram.  NaN values are dropped (per slice); fewer than 3 valid
        points is a ValueError.
    like
        DataArray with ``y`` / ``x`` pixel-centre coordinates (the target grid), in a
        projected CRS (a geographic one is refused).  Dask-backed: the result is lazy,
        one task per (y, x) chunk.
    model
        pykrige variogram model: spherical, exponential, gaussian, hole-effect, linear, power.
    psill, range, nugget
        All None: fitted by pykrige (least squares on ``nlags`` lag bins).  All given:
        used as is.  Only for the psill/range/nugget models; for linear and power pass
        ``variogram_parameters={"slope": .., "nugget": ..}`` / ``{"scale", "exponent", "nugget"}``.
    exact_values
        pykrige's option: the estimate honours the data at a data point.

    Returns
    -------
    Dataset with float64 ``value`` and ``variance`` (kriging variance, units squared) over
    ([dim,] y, x).  Attrs: ``model`` and the (fitted) parameters by pykrige's names (lists
    per slice with ``dim``), ``n_points``, ``nlags`` -- pass them back to reproduce a run.
    """
    model = _check_model(model)
    require_dataarray(like, "like")
    for d in ("y", "x"):
        if d not in like.dims or d not in like.coords:
            raise ValueError(f"like must have a {d!r} dimension with pixel-centre coordinates; it has "
                             f"dims {tuple(like.dims)}.")
    like_crs = crs_of(like)
    require_projected(like_crs, "like")
    xy = _points_xy(points, like_crs)
    params = _fixed_parameters(model, psill, range, nugget, variogram_parameters)
    if isinstance(nlags, bool) or int(nlags) != nlags or nlags < 1:
        raise ValueError(f"nlags must be an integer >= 1, got {nlags!r}.")
    table, labels, units = _values_table(values, xy.shape[0], dim)

    ycoord = np.asarray(like["y"].values, dtype=np.float64)
    xcoord = np.asarray(like["x"].values, dtype=np.float64)
    if like.chunks is not None:
        ychunks, xchunks = like.chunksizes["y"], like.chunksizes["x"]
    else:
        ychunks = xchunks = None
    specs = [fit_variogram(xy, table[:, j], model=model, parameters=params, nlags=int(nlags),
                           exact_values=exact_values, label=None if labels is None else labels[j])
             for j in np.arange(table.shape[1])]
    surfaces = [_surface(s, ycoord, xcoord, ychunks, xchunks) for s in specs]
    stack = dsa.stack if ychunks is not None else np.stack
    data = stack(surfaces, axis=1)          # (2, k, y, x)

    coords = {k: c for k, c in like.coords.items() if set(c.dims) <= {"y", "x"}}
    dims = ("y", "x") if dim is None else (dim, "y", "x")
    if dim is None:
        value, variance = data[0, 0], data[1, 0]
    else:
        value, variance = data[0], data[1]
        coords[dim] = labels
    vattrs = {"long_name": "ordinary kriging estimate"}
    sattrs = {"long_name": "ordinary kriging variance"}
    if units is not None:
        vattrs["units"] = units
        sattrs["units"] = f"({units})2"
    else:
        vattrs["units"] = sattrs["units"] = "1"
    names = PARAMETER_NAMES[model]
    per = [s.parameter_dict for s in specs]
    attrs = {"model": model, "nlags": int(nlags), "exact_values": int(bool(exact_values)),
             "method": "pykrige.ok.OrdinaryKriging", "variogram": "given" if params is not None else "fitted"}
    for k in names:
        attrs[k] = per[0][k] if dim is None else [p[k] for p in per]
    attrs["n_points"] = specs[0].n_points if dim is None else [s.n_points for s in specs]
    attrs["variogram_parameters"] = json.dumps(per[0] if dim is None else per)
    ds = xr.Dataset({"value": (dims, value, vattrs), "variance": (dims, variance, sattrs)}, coords=coords,
                    attrs=attrs)
    return ds
