"""Per-pixel trends of annual cubes: Theil–Sen, Mann–Kendall (and variants), OLS.

xarray in, xarray out; numpy- or dask-backed input; lazy for dask input (nothing is
computed here); coordinates other than the time axis are kept.  The time axis must
sit in one chunk (``da.chunk(time=-1)``); a split axis raises ``ValueError``.

Time is measured in decimal years: datetime64 stamps become
``year + (day_of_year - 1 + fraction_of_day) / days_in_year`` (1 January 00:00 gives
the integer year), numeric coordinates (integer years) are used as they are.  Stamps
must be finite and strictly increasing; irregular spacing and gaps are fine.

Missing values (NaN, ±inf) are skipped; Sen slope and Mann–Kendall need 3 valid
values, OLS 2.  Float outputs have the input's float dtype (float32 in, float32 out;
integers become float64, or float32 up to 16 bits) although everything is computed in
float64, except the intercepts (at t = 0, i.e. year 0), which are always float64; ``trend`` and ``significance`` are int8 with ``NODATA_INT8`` (-128) where the
test is undefined; ``n_valid`` is int32.  See docs/trend.md.

>>> import numpy as np, xarray as xr, cubeeco
>>> years = np.arange(2000, 2010)
>>> da = xr.DataArray(0.5 + 0.01 * (years - 2000.0), dims="time", coords={"time": years})
>>> float(cubeeco.sen_slope(da).round(6))
0.01
>>> int(cubeeco.mann_kendall(da)["trend"])
1
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..kernels import trend as kt
from ._apply import apply_kernel, float_dtype
from ._checks import require_dataarray, require_dim, require_float

__all__ = [
    "NODATA_INT8",
    "decimal_years",
    "mann_kendall",
    "ols_predict",
    "ols_trend",
    "sen_slope",
    "trend",
]

NODATA_INT8 = kt.NODATA_INT8

_TREND_FLAGS = {
    "flag_values": [-1, 0, 1],
    "flag_meanings": "decreasing no_trend increasing",
    "nodata": NODATA_INT8,
}
_SIGNIFICANCE_FLAGS = {
    "flag_values": [0, 1, 2, 3],
    "flag_meanings": "not_significant abs_z_ge_1.645 abs_z_ge_1.96 abs_z_ge_2.576",
    "nodata": NODATA_INT8,
}


# ----------------------------------------------------------------------------------
# time axis and argument checks
# ----------------------------------------------------------------------------------


def decimal_years(values) -> np.ndarray:
    """Time stamps as float64 decimal years.

    datetime64: ``year + (day_of_year - 1 + fraction_of_day) / days_in_year``, so
    1 January 00:00 is exactly the integer year.  cftime objects: the same through
    xarray's ``.dt`` accessor.  Numbers are returned as float64 unchanged.

    >>> decimal_years(np.array(["2001-01-01", "2001-07-02T12:00"], dtype="datetime64[ns]")).tolist()
    [2001.0, 2001.5]
    """
    v = np.asarray(values)
    if np.issubdtype(v.dtype, np.datetime64):
        ns = v.astype("datetime64[ns]")
        year = ns.astype("datetime64[Y]")
        start = year.astype("datetime64[ns]")
        length = (year + 1).astype("datetime64[ns]") - start
        with np.errstate(invalid="ignore"):
            frac = (ns - start) / length  # NaT -> NaN
        return (year.astype(np.int64) + 1970).astype(np.float64) + frac
    if v.dtype.kind in "iuf":
        return v.astype(np.float64)
    if v.dtype == object:  # cftime
        t = xr.DataArray(v, dims="t").dt
        seconds = t.hour * 3600.0 + t.minute * 60.0 + t.second + t.microsecond * 1e-6
        return (t.year + (t.dayofyear - 1 + seconds / 86400.0) / t.days_in_year).values.astype(np.float64)
    raise TypeError(f"time stamps must be datetime64, cftime or numeric years, got dtype {v.dtype}.")


def _time_axis(da: xr.DataArray, dim: str) -> tuple[np.ndarray, str]:
    """(decimal years along dim, unit string for the slope's ``yr-1``)."""
    if dim in da.coords:
        t = decimal_years(da[dim].values)
        per = "yr-1"
    else:
        t = np.arange(da.sizes[dim], dtype=np.float64)
        per = "step-1"
    if not np.all(np.isfinite(t)):
        raise ValueError(f"the {dim!r} coordinate holds missing (NaT/NaN) time stamps; drop them first.")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        raise ValueError(
            f"the {dim!r} coordinate must be strictly increasing (Mann–Kendall is defined by "
            f"time order); call da.sortby({dim!r}) and drop duplicate time stamps."
        )
    return t, per


def _prepare(da, dim: str, name: str = "da"):
    require_dataarray(da, name)
    require_dim(da, dim, name)
    require_float(da, name)
    if da.dtype.kind == "c":
        raise TypeError(f"{name} must be real-valued, got dtype {da.dtype}.")
    dt = float_dtype(da)
    if da.dtype != dt:
        da = da.astype(dt)
    t, per = _time_axis(da, dim)
    return da, xr.DataArray(t, dims=(dim,)), dt, per


def _z_crit(alpha) -> float:
    from scipy.special import ndtri  # same quantile function as scipy.stats.norm.ppf

    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)):
        raise TypeError(f"alpha must be a number in (0, 1), got {alpha!r}.")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1) (e.g. 0.05 for a 95 % level), got {alpha!r}.")
    return float(ndtri(1.0 - float(alpha) / 2.0))


def _units(da: xr.DataArray, per: str) -> dict:
    u = da.attrs.get("units")
    return {"units": f"{u} {per}"} if u not in (None, "") else {}


def _value_units(da: xr.DataArray) -> dict:
    u = da.attrs.get("units")
    return {"units": u} if u not in (None, "") else {}


def _name(da: xr.DataArray) -> str:
    return str(da.name) if da.name is not None else "values"


# ----------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------


def sen_slope(da: xr.DataArray, dim: str = "time", *, alpha: float | None = None) -> xr.DataArray:
    """Theil–Sen slope per pixel: the exact median of (y_j - y_i) / (t_j - t_i), i < j.

    Parameters
    ----------
    da : DataArray
        Values with a time axis ``dim`` (numpy or dask; the axis in one chunk).
    dim : str
        Time dimension; its coordinate is datetime64 or numeric years.
    alpha : float, optional
        If given, the slope's confidence bounds at level 1 - alpha (Sen 1968, as
        ``scipy.stats.theilslopes``) are attached as coordinates ``slope_low`` and
        ``slope_high``.

    Returns
    -------
    DataArray ``slope`` in units of ``da`` per year (NaN with < 3 valid values).

    >>> import numpy as np, xarray as xr
    >>> t = xr.date_range("2000-01-01", periods=5, freq="YS")
    >>> da = xr.DataArray([1.0, 2.0, 3.5, 4.0, np.nan], dims="time", coords={"time": t})
    >>> float(sen_slope(da))
    1.0
    """
    da, t, dt, per = _prepare(da, dim)
    z_crit = np.nan if alpha is None else _z_crit(alpha)
    slope, _, low, high = apply_kernel(
        kt.sen,
        da,
        t,
        z_crit,
        input_core_dims=[[dim], [dim], []],
        output_core_dims=[[], [], [], []],
        output_dtypes=[dt, np.dtype(np.float64), dt, dt],
    )
    attrs = {"long_name": f"Theil–Sen slope of {_name(da)}", **_units(da, per)}
    slope = slope.rename("slope").assign_attrs(attrs)
    if alpha is not None:
        bound_attrs = {**_units(da, per), "alpha": float(alpha)}
        slope = slope.assign_coords(
            slope_low=low.assign_attrs(long_name=f"lower {100 * (1 - alpha):g} % bound of the Sen slope", **bound_attrs),
            slope_high=high.assign_attrs(long_name=f"upper {100 * (1 - alpha):g} % bound of the Sen slope", **bound_attrs),
        )
    return slope


def mann_kendall(
    da: xr.DataArray,
    dim: str = "time",
    *,
    alpha: float = 0.05,
    method: str = "original",
    lag: int | None = None,
) -> xr.Dataset:
    """Mann–Kendall trend test per pixel.

    Parameters
    ----------
    da : DataArray
        Values with a time axis ``dim`` (numpy or dask; the axis in one chunk).
    alpha : float
        Significance level of ``trend`` (two-sided).
    method : {"original", "hamed_rao", "yue_wang"}
        ``"hamed_rao"`` and ``"yue_wang"`` correct Var(S) for autocorrelation
        (Hamed & Rao 1998; Yue & Wang 2004) exactly as pymannkendall's
        ``hamed_rao_modification_test`` / ``yue_wang_modification_test``.
    lag : int, optional
        Modified tests only: use autocorrelation lags 1..lag (default: all).

    Returns
    -------
    Dataset with ``s``, ``var_s``, ``z``, ``p`` (two-sided), ``tau`` (S / (n(n-1)/2)),
    ``trend`` (int8 -1/0/1; -128 where undefined).

    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(np.arange(10.0), dims="time", coords={"time": np.arange(2000, 2010)})
    >>> ds = mann_kendall(da)
    >>> int(ds.s), float(ds.tau), int(ds.trend)
    (45, 1.0, 1)
    """
    if method not in kt.METHODS:
        raise ValueError(f"method must be one of {sorted(kt.METHODS)}, got {method!r}.")
    if lag is not None and (isinstance(lag, bool) or not isinstance(lag, (int, np.integer)) or lag < 1):
        raise ValueError(f"lag must be a positive integer or None (all lags), got {lag!r}.")
    if lag is not None and method == "original":
        raise ValueError("lag only applies to method='hamed_rao' or 'yue_wang'.")
    da, t, dt, _ = _prepare(da, dim)
    z_crit = _z_crit(alpha)
    names = ("s", "var_s", "z", "p", "tau", "trend")
    outs = apply_kernel(
        kt.mann_kendall,
        da,
        t,
        z_crit,
        kt.METHODS[method],
        0 if lag is None else int(lag),
        input_core_dims=[[dim], [dim], [], [], []],
        output_core_dims=[[]] * 6,
        output_dtypes=[dt] * 5 + [np.dtype(np.int8)],
    )
    ds = _results(da, dict(zip(names, outs)), alpha=alpha, method=f"Mann-Kendall ({method})")
    if lag is not None:
        ds.attrs["lag"] = int(lag)
    return ds


def sen_mann_kendall(da: xr.DataArray, dim: str = "time", *, alpha: float = 0.05) -> xr.Dataset:
    """Sen slope and the original Mann–Kendall test in one pass: the fast path.

    One kernel computes every pair once for both (cubeeco's headline benchmark);
    use :func:`trend` for the confidence bounds, tau, OLS and the classes too.

    Returns
    -------
    Dataset with ``slope`` (units of ``da`` per year), ``s``, ``var_s``, ``z`` and
    ``p`` (two-sided), as :func:`sen_slope` and :func:`mann_kendall` give them.

    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(np.arange(10.0), dims="time", coords={"time": np.arange(2000, 2010)})
    >>> ds = sen_mann_kendall(da)
    >>> float(ds.slope), int(ds.s)
    (1.0, 45)
    """
    da, t, dt, per = _prepare(da, dim)
    names = ("slope", "s", "var_s", "z", "p")
    outs = apply_kernel(kt.sen_mk, da, t, _z_crit(alpha), input_core_dims=[[dim], [dim], []],
                        output_core_dims=[[]] * 5, output_dtypes=[dt] * 5)  # fmt: skip
    return _results(da, dict(zip(names, outs)), per=per, alpha=alpha,
                    method="Theil-Sen slope and Mann-Kendall (original)")


def trend(da: xr.DataArray, dim: str = "time", *, alpha: float = 0.05) -> xr.Dataset:
    """Sen slope with confidence bounds, Mann–Kendall test and OLS, in one pass per pixel.

    Returns
    -------
    Dataset with ``slope``, ``intercept`` (median(y) - slope * median(t), at t = 0),
    ``slope_low``/``slope_high`` (level 1 - alpha), ``s``, ``var_s``, ``z``, ``p``,
    ``tau``, ``trend`` (int8 -1/0/1 at alpha), ``ols_slope``, ``ols_intercept``,
    ``ols_r2``, ``n_valid`` (int32) and ``significance`` (int8: 0..3 for |Z| below
    1.645, >= 1.645, >= 1.96, >= 2.576).

    >>> import numpy as np, xarray as xr
    >>> years = np.arange(2000, 2022)
    >>> da = xr.DataArray(2.0 * (years - 2000.0), dims="time", coords={"time": years})
    >>> ds = trend(da)
    >>> float(ds.slope), float(ds.ols_slope), int(ds.significance), int(ds.n_valid)
    (2.0, 2.0, 3, 22)
    """
    da, t, dt, per = _prepare(da, dim)
    z_crit = _z_crit(alpha)
    i8, i32 = np.dtype(np.int8), np.dtype(np.int32)
    f8 = np.dtype(np.float64)
    # s var_s z p trend tau slope intercept low high ols_slope ols_intercept ols_r2 significance n_valid
    dtypes = [dt] * 4 + [i8] + [dt] * 2 + [f8] + [dt] * 3 + [f8, dt] + [i8, i32]
    outs = apply_kernel(
        kt.trend_all,
        da,
        t,
        z_crit,
        input_core_dims=[[dim], [dim], []],
        output_core_dims=[[]] * len(kt.TREND_OUTPUTS),
        output_dtypes=dtypes,
    )
    got = dict(zip(kt.TREND_OUTPUTS, outs))
    order = (
        "slope", "intercept", "slope_low", "slope_high", "s", "var_s", "z", "p", "tau", "trend",
        "ols_slope", "ols_intercept", "ols_r2", "n_valid", "significance",
    )  # fmt: skip
    return _results(da, {n: got[n] for n in order}, per=per, alpha=alpha,
                    method="Theil-Sen + Mann-Kendall (original) + OLS", min_valid_ols=kt.MIN_VALID_OLS)


def ols_trend(da: xr.DataArray, dim: str = "time") -> xr.Dataset:
    """Ordinary least squares of the values on time, per pixel (seed 002 Eq. 3).

    Returns
    -------
    Dataset with ``slope`` (per year), ``intercept`` (at t = 0) and ``r2``
    (NaN with < 2 valid values; ``r2`` NaN for a constant series).

    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray([1.0, 2.0, 4.0], dims="time", coords={"time": [2000, 2001, 2002]})
    >>> float(ols_trend(da).slope)
    1.5
    """
    da, t, dt, per = _prepare(da, dim)
    outs = apply_kernel(
        kt.ols, da, t, input_core_dims=[[dim], [dim]], output_core_dims=[[]] * 3,
        output_dtypes=[dt, np.dtype(np.float64), dt],
    )
    ds = xr.Dataset(dict(zip(("slope", "intercept", "r2"), outs)))
    ds["slope"].attrs.update(long_name=f"OLS slope of {_name(da)}", **_units(da, per))
    ds["intercept"].attrs.update(long_name=f"OLS intercept of {_name(da)} at t = 0", **_value_units(da))
    ds["r2"].attrs.update(long_name="coefficient of determination of the OLS fit", units="1")
    ds.attrs.update(method="OLS", min_valid=kt.MIN_VALID_OLS, time_units="decimal years")
    return ds


def ols_predict(da: xr.DataArray, t_fit_end, dim: str = "time", *, at=None) -> xr.DataArray:
    """Per-pixel OLS fitted on the years up to ``t_fit_end``, evaluated at ``at``.

    The "undisturbed" trajectory of carbon accounting (SCIENCE.md §7, Eqs. 3-4):
    fit first year .. destruction year, predict the later years.

    Parameters
    ----------
    da : DataArray
        Values with a time axis ``dim``.
    t_fit_end : float, datetime64 or DataArray
        Last time stamp of the fit window (inclusive), per pixel or one for all, in
        decimal years or as datetimes.  NaN gives NaN; ``np.inf`` fits every year.
    at : array-like, optional
        Time stamps to predict at (years or datetimes); default ``da``'s own.

    Returns
    -------
    DataArray with the dims of ``da`` (``dim`` holding ``at``), NaN where the fit
    window holds fewer than 2 valid values.

    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray([1.0, 2.0, 3.0, 0.0], dims="time", coords={"time": [2000, 2001, 2002, 2003]})
    >>> ols_predict(da, 2002).values.tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    da, t, dt, _ = _prepare(da, dim)
    if at is None:
        at_vals = t.values
        at_coord = da[dim].values if dim in da.coords else None
    else:
        at_coord = np.atleast_1d(np.asarray(at))
        at_vals = decimal_years(at_coord)
    if isinstance(t_fit_end, xr.DataArray):
        if dim in t_fit_end.dims:
            raise ValueError(f"t_fit_end must not have the time dimension {dim!r}.")
        end = t_fit_end
        if np.issubdtype(end.dtype, np.datetime64) or end.dtype == object:
            end = _decimal_years_lazy(end)
        else:
            end = end.astype(np.float64)
        da, end = _match_chunks(da, end, dim)
    else:
        end = float(decimal_years(np.asarray(t_fit_end))[()])
    out_dim = "__cubeeco_at__"
    pred = apply_kernel(
        kt.ols_predict,
        da,
        t,
        end,
        xr.DataArray(at_vals, dims=(out_dim,)),
        input_core_dims=[[dim], [dim], [], [out_dim]],
        output_core_dims=[[out_dim]],
        output_dtypes=[dt],
        output_sizes={out_dim: len(at_vals)},
    )
    pred = pred.rename({out_dim: dim})
    if at_coord is not None:
        pred = pred.assign_coords({dim: at_coord})
    pred = pred.transpose(*[d for d in da.dims if d in pred.dims], ...)
    return pred.rename(da.name).assign_attrs(
        long_name=f"OLS prediction of {_name(da)} from the years up to t_fit_end", **_value_units(da)
    )


def _match_chunks(da: xr.DataArray, end: xr.DataArray, dim: str):
    """Give the per-pixel fit-end raster the cube's spatial chunks (or the cube the
    raster's, time in one chunk): dask refuses unequal chunks along broadcast dims.
    Only the small 2-D raster, or the cube's spatial axes, are rechunked, never time."""
    if da.chunks is not None:
        return da, end.chunk({d: da.chunksizes[d] for d in end.dims if d in da.chunksizes})
    if end.chunks is not None:
        shared = {d: end.chunksizes[d] for d in end.dims if d in da.dims}
        return da.chunk({**shared, dim: -1}), end
    return da, end


def _decimal_years_lazy(da: xr.DataArray) -> xr.DataArray:
    """Datetimes -> decimal years elementwise, lazily for dask (NaT -> NaN)."""
    d = da.dt
    seconds = d.hour * 3600.0 + d.minute * 60.0 + d.second + d.microsecond * 1e-6
    return (d.year + (d.dayofyear - 1 + seconds / 86400.0) / d.days_in_year).astype(np.float64)


# ----------------------------------------------------------------------------------
# output metadata
# ----------------------------------------------------------------------------------


def _results(da: xr.DataArray, outputs: dict, *, alpha: float, per: str = "yr-1", **attrs) -> xr.Dataset:
    """The Dataset of a trend op: each output with its attributes, the shared run attributes."""
    ds = xr.Dataset(outputs)
    for n in outputs:
        ds[n].attrs.update(_ATTRS[n](da, per=per, alpha=alpha))
    ds.attrs.update(alpha=float(alpha), min_valid=kt.MIN_VALID_MK, time_units="decimal years", **attrs)
    return ds


def _a(**fixed):
    """Attribute maker: units "slope" -> da's units per year, "value" -> da's units."""

    def make(da, per="yr-1", alpha=None):
        out = {k: (list(v) if isinstance(v, list) else v) for k, v in fixed.items()}
        level = f"{100 * (1 - (0.05 if alpha is None else alpha)):g}"
        out["long_name"] = out["long_name"].format(name=_name(da), level=level)
        units = out.pop("units", None)
        if units == "slope":
            out.update(_units(da, per))
        elif units == "value":
            out.update(_value_units(da))
        elif units is not None:
            out["units"] = units
        return out

    return make


_ATTRS = {
    "slope": _a(long_name="Theil–Sen slope of {name}", units="slope"),
    "intercept": _a(long_name="Theil–Sen intercept of {name} at t = 0", units="value"),
    "slope_low": _a(long_name="lower {level} % confidence bound of the Sen slope", units="slope"),
    "slope_high": _a(long_name="upper {level} % confidence bound of the Sen slope", units="slope"),
    "s": _a(long_name="Mann–Kendall S statistic", units="1"),
    "var_s": _a(long_name="variance of S (tie-corrected)", units="1"),
    "z": _a(long_name="Mann–Kendall standardized statistic Z", units="1"),
    "p": _a(long_name="two-sided p-value of the Mann–Kendall test", units="1"),
    "tau": _a(long_name="Kendall's tau (S / (n(n-1)/2))", units="1"),
    "trend": _a(long_name="Mann–Kendall trend at alpha", **_TREND_FLAGS),
    "ols_slope": _a(long_name="OLS slope of {name}", units="slope"),
    "ols_intercept": _a(long_name="OLS intercept of {name} at t = 0", units="value"),
    "ols_r2": _a(long_name="coefficient of determination of the OLS fit", units="1"),
    "n_valid": _a(long_name="number of valid (finite) values", units="1"),
    "significance": _a(long_name="significance class of |Z|", **_SIGNIFICANCE_FLAGS),
}
