"""Per-pixel change points and split trends of annual cubes.

* :func:`pettitt` -- the Pettitt (1979) change-point test along the time axis
  (numba gufunc :func:`cubeeco.kernels.changepoint.pettitt`);
* :func:`split_trend` -- Sen slope and Mann–Kendall Z/p before and after a split year,
  scalar or per pixel (e.g. a mine's opening year from the disturbance stage), by
  masking each segment and calling :func:`cubeeco.ops.trend.sen_mann_kendall`.

xarray in, xarray out; numpy or dask; lazy for dask input; the time axis in one chunk.
Time stamps are decimal years as in :mod:`cubeeco.ops.trend`.  See docs/trend-analysis.md.

>>> import numpy as np, xarray as xr
>>> years = np.arange(2000, 2012)
>>> da = xr.DataArray(np.where(years < 2005, 0.6, 0.1), dims="time", coords={"time": years})
>>> ds = pettitt(da)
>>> int(ds.change_year), int(ds.first_year_after), float(ds.k)
(2004, 2005, 35.0)
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..kernels import changepoint as kc
from ._apply import apply_kernel
from .trend import _match_chunks, _prepare, decimal_years, sen_mann_kendall

__all__ = ["CHANGE_YEAR_NODATA", "pettitt", "split_trend"]

# change_year / first_year_after where there is no change point
CHANGE_YEAR_NODATA = 0


def _year(t: xr.DataArray) -> xr.DataArray:
    """Decimal-year stamps -> int32 calendar year (floor); NaN -> CHANGE_YEAR_NODATA."""
    return xr.where(np.isfinite(t), np.floor(t), CHANGE_YEAR_NODATA).astype(np.int32)


def pettitt(da: xr.DataArray, dim: str = "time") -> xr.Dataset:
    """Pettitt change-point test per pixel.

    Missing values (NaN, ±inf) are skipped; the test runs on the n valid values of
    each pixel (at least 3).

    Returns
    -------
    Dataset with

    * ``change_year`` (int32): calendar year of the valid time stamp at argmax |U_k|,
      the **last year of the first segment** (Pettitt's τ; pyhomogeneity's ``cp``);
    * ``first_year_after`` (int32): the next valid year, where the new regime starts
      (for an abrupt loss, the disturbance year);
    * ``change_time`` (float64): the decimal-year stamp behind ``change_year``;
    * ``k``: K = max_k |U_k|; ``p``: 2·exp(−6K²/(n³+n²)) capped at 1 (approximate,
      conservative for small n); ``n_valid`` (int32).

    Undefined (fewer than 3 valid values): years 0 (``CHANGE_YEAR_NODATA``), k and p
    NaN.  A constant series (K = 0): years 0, k 0, p 1.
    """
    da, t, dt, _ = _prepare(da, dim)
    f8 = np.dtype(np.float64)
    t_change, t_after, k, p, n_valid = apply_kernel(
        kc.pettitt,
        da,
        t,
        input_core_dims=[[dim], [dim]],
        output_core_dims=[[]] * 5,
        output_dtypes=[f8, f8, dt, dt, np.dtype(np.int32)],
    )
    name = str(da.name) if da.name is not None else "values"
    nodata = {"nodata": CHANGE_YEAR_NODATA}
    ds = xr.Dataset(
        {
            "change_year": _year(t_change).assign_attrs(
                long_name=f"Pettitt change year of {name} (last year of the first segment)", **nodata),
            "first_year_after": _year(t_after).assign_attrs(
                long_name="first valid year after the change point", **nodata),
            "change_time": t_change.assign_attrs(long_name="decimal-year stamp of the change point",
                                                 units="decimal years"),
            "k": k.assign_attrs(long_name="Pettitt K = max |U_k|", units="1"),
            "p": p.assign_attrs(long_name="approximate p-value 2 exp(-6K^2/(n^3+n^2)), capped at 1",
                                units="1"),
            "n_valid": n_valid.assign_attrs(long_name="number of valid (finite) values", units="1"),
        }
    )
    ds.attrs.update(method="Pettitt (1979)", min_valid=kc.MIN_VALID, time_units="decimal years")
    return ds


def _split_at(at, da: xr.DataArray, dim: str):
    """``at`` as float64 decimal years: a float, or a DataArray matched to da's chunks."""
    if isinstance(at, xr.DataArray):
        if dim in at.dims:
            raise ValueError(f"at must not have the time dimension {dim!r}.")
        if np.issubdtype(at.dtype, np.datetime64):
            from .trend import _decimal_years_lazy

            at = _decimal_years_lazy(at)
        else:
            at = at.astype(np.float64)
        return _match_chunks(da, at, dim)
    return da, float(decimal_years(np.asarray(at))[()])


def split_trend(da: xr.DataArray, at, dim: str = "time", *, alpha: float = 0.05) -> xr.Dataset:
    """Sen slope and Mann–Kendall Z, p before and after a split year.

    Parameters
    ----------
    da : DataArray
        Values with a time axis ``dim`` (numpy or dask; the axis in one chunk).
    at : float, datetime64 or DataArray
        Split stamp, one for all pixels or per pixel (no time dim), in (decimal) years
        or datetimes.  ``before`` holds the stamps t < at, ``after`` the stamps t >= at
        (so ``at`` = a mine's opening year puts the opening in the second segment).
        NaN gives NaN in both segments; mask "never" codes first (e.g. the
        disturbance stage's 0: ``at.where(at > 0)``).
    alpha : float
        Passed to :func:`cubeeco.ops.trend.sen_mann_kendall`.

    Returns
    -------
    Dataset ``slope_before``, ``z_before``, ``p_before``, ``slope_after``, ``z_after``,
    ``p_after`` (NaN where a segment has fewer than 3 valid values), with the
    attributes of :func:`sen_mann_kendall`'s outputs.

    >>> import numpy as np, xarray as xr
    >>> years = np.arange(2000, 2010)
    >>> da = xr.DataArray(np.r_[np.arange(5.0), 10 - 2 * np.arange(5.0)], dims="time", coords={"time": years})
    >>> ds = split_trend(da, 2005)
    >>> float(ds.slope_before), float(ds.slope_after)
    (1.0, -2.0)
    """
    da_p, t, _, _ = _prepare(da, dim)
    da_p, at_v = _split_at(at, da_p, dim)
    out = {}
    for seg, mask in (("before", t < at_v), ("after", t >= at_v)):
        ds = sen_mann_kendall(da_p.where(mask), dim, alpha=alpha)
        for v in ("slope", "z", "p"):
            out[f"{v}_{seg}"] = ds[v].assign_attrs({**ds[v].attrs, "segment": f"t {'<' if seg == 'before' else '>='} at"})
    res = xr.Dataset(out)
    res.attrs.update(method="Theil-Sen slope and Mann-Kendall (original), per segment", alpha=float(alpha),
                     time_units="decimal years")
    if not isinstance(at_v, xr.DataArray):
        res.attrs["at"] = at_v
    return res
