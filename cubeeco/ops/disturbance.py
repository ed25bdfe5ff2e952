"""Vegetation disturbance: destruction and restoration cycles per pixel (seed 002, Methods).

* :func:`vegetation_disturbance` -- every destruction (T_D) and restoration (T_R) of a
  pixel from its annual maximum July-September NDVI and the vegetated/bare threshold
  alpha (Auto-VDR style), plus the yearly state mask that Eq. 1 (scale transformation)
  and the VCS accounting use;
* :func:`disturbance_from_raster` -- the same Dataset from a user-supplied disturbance
  raster (one destruction and restoration year per pixel).

State codes (``state``, int8): 1 vegetated / undisturbed, 0 destroyed, 2 not vegetated
(never vegetated so far: not a detection target), -1 no valid observation.

>>> import numpy as np, xarray as xr
>>> ndvi = xr.DataArray(np.array([.6, .6, .1, .1, .7, .7, .1]), dims="time",
...                     coords={"time": np.arange(2016, 2023)})
>>> ds = vegetation_disturbance(ndvi, threshold=0.2)
>>> int(ds.destruction_year), int(ds.restoration_year), int(ds.last_destruction_year)
(2018, 2020, 2022)
>>> ds.state.values.tolist()
[1, 1, 0, 0, 1, 1, 0]
>>> int(vegetation_disturbance(ndvi, threshold=0.2, ends="confirm").n_destructions)
1
"""

from __future__ import annotations

import numbers

import numpy as np
import xarray as xr

from ..kernels import disturbance as K
from ._apply import apply_kernel, float_dtype
from ._checks import finite_scalar, require_dataarray, require_dim, require_whole_core_dim

ENDS = {"accept": 1, "confirm": 0}
DATING = {"threshold": 0, "break": 1}
STATE_FLAGS = {
    "flag_values": np.array([K.STATE_NODATA, K.STATE_DESTROYED, K.STATE_VEGETATED, K.STATE_NOT_VEGETATED],
                            dtype=np.int8),
    "flag_meanings": "no_valid_observation destroyed vegetated_or_undisturbed not_vegetated",
}
_INT16 = np.iinfo(np.int16)

_YEAR_VARS = {
    "destruction_year": "first year of vegetation destruction (T_D)",
    "restoration_year": "first year of vegetation restoration after the first destruction (T_R)",
    "last_destruction_year": "last year of vegetation destruction",
    "last_restoration_year": "last year of vegetation restoration",
}
_COUNT_VARS = {
    "n_destructions": "number of vegetation destructions",
    "n_restorations": "number of vegetation restorations",
}


# ------------------------------------------------------------------ checks
def _years(coord, name: str) -> np.ndarray:
    """Calendar years (int64) of a time axis given as datetimes or integer years."""
    values = np.asarray(coord)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}.")
    if np.issubdtype(values.dtype, np.datetime64):
        years = values.astype("datetime64[Y]").astype(np.int64) + 1970
    elif values.dtype == object and values.size and hasattr(values[0], "year"):  # cftime
        years = np.array([v.year for v in values], dtype=np.int64)
    elif values.dtype.kind in "iu" or (values.dtype.kind == "f" and np.all(np.mod(values, 1) == 0)):
        years = values.astype(np.int64)
    else:
        raise TypeError(f"{name} must hold datetimes or integer years, got dtype {values.dtype}.")
    if years.size > 1 and np.any(np.diff(years) <= 0):
        # first/last and run order assume one observation per year in time order
        raise ValueError(f"{name} must be strictly increasing, one entry per year, got {years.tolist()}; "
                         "sort with .sortby() and composite to one value per year first.")
    return years


def _fill(fill_value, years) -> int:
    if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Integral):
        raise TypeError(f"fill_value must be an integer, got {fill_value!r}.")
    fill_value = int(fill_value)
    if not _INT16.min <= fill_value <= _INT16.max:
        raise ValueError(f"fill_value must fit int16 (the counts' dtype), got {fill_value}.")
    if fill_value in set(years.tolist()):
        raise ValueError(f"fill_value {fill_value} is one of the years; pick a value that is not a year (e.g. -1).")
    return fill_value


def _attrs(fill_value: int) -> dict:
    return {"year": {"units": "year", "nodata": fill_value, "comment": f"{fill_value} = none"},
            "count": {"units": "1", "nodata": fill_value,
                      "comment": f"{fill_value} = pixel without valid observations"}}


def _dataset(outs: dict, fill_value: int, dim: str, method_attrs: dict) -> xr.Dataset:
    a = _attrs(fill_value)
    for k, long_name in _YEAR_VARS.items():
        outs[k].attrs.update({**a["year"], "long_name": long_name})
    for k, long_name in _COUNT_VARS.items():
        outs[k].attrs.update({**a["count"], "long_name": long_name})
    outs["state"].attrs.update({
        "units": "1", "long_name": "vegetation disturbance state per year", **STATE_FLAGS,
        "comment": "1 vegetated/undisturbed (or restored), 0 destroyed (T_D to the year before the next "
                   "T_R), 2 not vegetated and not destroyed (before the first vegetated year), "
                   "-1 no valid observation",
    })
    ds = xr.Dataset({k: outs[k] for k in (*_YEAR_VARS, *_COUNT_VARS, "state")})
    return ds.assign_attrs(source="seed 002 (Xu et al. 2024), vegetation disturbance", core_dim=dim,
                           **method_attrs)


# ------------------------------------------------------------------ from NDVI
def vegetation_disturbance(max_ndvi, *, threshold: float = 0.2, persistence: int = 2, window: int | None = None,
                           dim: str = "time", ends: str = "accept", dating: str = "threshold",
                           fill_value: int = -1) -> xr.Dataset:
    """Every vegetation destruction and restoration of each pixel (seed 002, Auto-VDR style).

    Parameters
    ----------
    max_ndvi : xarray.DataArray
        Annual maximum growing-season (July-September) NDVI, float, along ``dim`` with
        a datetime or integer-year coordinate, one value per year in time order; the
        whole of ``dim`` in one chunk, any other dims and chunks.  NaN years are
        skipped: they neither break nor extend a run.
    threshold : float
        alpha: a year is vegetated when NDVI >= alpha, bare below.
    persistence : int
        Valid observations (>= 1) against the current state that confirm a change.
    window : int, optional
        Of how many valid observations, counted from the first one against the state
        (>= ``persistence``; default ``persistence``: consecutive observations).  E.g.
        ``persistence=2, window=3``: two of three, so one noisy year neither delays a
        destruction nor fakes a restoration on a dark pit (docs/disturbance.md).
    dim : str
        The time dimension.
    ends : {"accept", "confirm"}
        A change whose run is shorter than ``persistence`` because it reaches the last
        valid observation: accepted (``"accept"``, as study 002 counts its last year)
        or not reported (``"confirm"``).  ``"accept"`` catches every recent change at
        the price of false alarms from a single bad last year; ``"confirm"`` has the
        false-alarm rate of the whole series but is blind to the last
        ``persistence - 1`` years.
    dating : {"threshold", "break"}
        ``"threshold"``: a change is dated to its first observation on the new side of
        alpha (study 002).  ``"break"``: the observation just before it joins the change
        when it lies nearer the new state's level than the old one's (the least-squares
        date of the step; one year back at most): a fresh dark pit whose noisy maximum
        still reaches alpha is not dated a year late (docs/disturbance.md).
    fill_value : int
        Years and counts where there is none (int16 range, not a year).

    Returns
    -------
    xarray.Dataset
        ``destruction_year``, ``restoration_year`` (first T_D, first T_R after it),
        ``last_destruction_year``, ``last_restoration_year`` (int32, ``fill_value``
        where none), ``n_destructions``, ``n_restorations`` (int16; ``fill_value`` for
        pixels without valid observations) and ``state`` (int8 along ``dim``: 1
        vegetated/undisturbed, 0 destroyed, 2 not vegetated, -1 no valid observation).

    A destruction starts at a bare observation after the pixel was vegetated (once
    suffices) when ``persistence`` of the ``window`` valid observations from it are bare,
    and is dated to it; a restoration the same with vegetated observations after a
    destruction; all cycles are followed.  A pixel bare
    in every valid year is never destroyed (state 2 throughout).
    """
    require_dataarray(max_ndvi, "max_ndvi")
    if max_ndvi.dtype.kind != "f":
        raise TypeError(f"max_ndvi must be a float array (NaN = missing year), got dtype {max_ndvi.dtype}; "
                        "cast with .astype('float32').")
    require_dim(max_ndvi, dim, "max_ndvi")
    require_whole_core_dim(max_ndvi, dim, "max_ndvi")
    if isinstance(threshold, bool):
        raise TypeError("threshold must be a number (the NDVI alpha), got a bool.")
    threshold = finite_scalar(threshold, "threshold")
    if isinstance(persistence, bool) or not isinstance(persistence, numbers.Integral) or persistence < 1:
        raise ValueError(f"persistence must be an integer >= 1, got {persistence!r}.")
    if window is None:
        window = persistence
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < persistence:
        raise ValueError(f"window must be an integer >= persistence ({persistence}), got {window!r}.")
    if ends not in ENDS:
        raise ValueError(f"ends must be one of {sorted(ENDS)}, got {ends!r}.")
    if dating not in DATING:
        raise ValueError(f"dating must be one of {sorted(DATING)}, got {dating!r}.")
    if dim not in max_ndvi.coords:
        raise ValueError(f"max_ndvi needs a {dim!r} coordinate (datetimes or integer years) to name the years.")
    years = _years(max_ndvi[dim].values, f"the {dim!r} coordinate of max_ndvi")
    fill_value = _fill(fill_value, years)

    dt = float_dtype(max_ndvi)
    names = [*_YEAR_VARS, *_COUNT_VARS, "state"]
    outs = apply_kernel(
        K.vegetation_cycles, max_ndvi.astype(dt), xr.DataArray(years, dims=dim), threshold, int(persistence),
        int(window), ENDS[ends], DATING[dating], fill_value,
        input_core_dims=[[dim], [dim], [], [], [], [], [], []],
        output_core_dims=[[], [], [], [], [], [], [dim]],
        output_dtypes=[np.int32] * 4 + [np.int16] * 2 + [np.int8],
        names=names,
    )
    outs = dict(zip(names, outs))
    # apply_ufunc moves the core dim last; give state the input's dim order back (lazy)
    outs["state"] = outs["state"].transpose(*max_ndvi.dims)
    return _dataset(outs, fill_value, dim, {"threshold": threshold, "persistence": int(persistence),
                                            "window": int(window), "ends": ends, "dating": dating})


# ------------------------------------------------------------------ from a raster
YEAR_RANGE = (1900, 2200)   # a year raster's plausible values; anything else is a code or nodata


def _raster_nodata(da) -> list:
    """Every nodata the raster declares: rioxarray's, the CF attrs and the encoding."""
    found = []
    try:
        found.append(da.rio.nodata)          # only when rioxarray is imported (registers .rio)
    except (AttributeError, ValueError, TypeError):
        # no .rio, or rioxarray cannot cast a NaN fill to an integer dtype: the attrs below hold it
        pass
    for where in (da.attrs, da.encoding):
        for key in ("_FillValue", "nodata", "missing_value"):
            found.append(where.get(key))
    out = []
    for v in found:
        for x in np.atleast_1d(np.asarray(v, dtype=object)) if v is not None else ():
            if x is None or isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Number):
                continue
            x = float(x)
            if not np.isnan(x) and x not in out:
                out.append(x)
    return out


def _check_years(block, what: str, fill_value: int, lo: int, hi: int):
    # plain numpy on one block: the values that are neither none (NaN, fill_value) nor a plausible year
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(block) & (block != fill_value) & ((block < lo) | (block > hi))
    if bad.any():
        values = np.unique(block[bad])
        shown = ", ".join(f"{v:g}" for v in values[:10]) + (", ..." if values.size > 10 else "")
        raise ValueError(f"{what} holds {int(bad.sum())} value(s) that are not years ({lo}..{hi}): [{shown}]; "
                         f"set its nodata (e.g. da.rio.write_nodata(0), or the GeoTIFF's nodata) or mask them.")
    return block


def _year_raster(da, name: str, fill_value: int, valid_years=YEAR_RANGE) -> xr.DataArray:
    require_dataarray(da, name)
    if da.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integer years (or float with NaN = none), got dtype {da.dtype}.")
    nodata = _raster_nodata(da)
    # float64 holds every year and every int32 code exactly; NaN marks none until the cast
    values = da.astype(np.float64)
    if nodata:
        # the raster's own "none" (0, -9999, 255 of a uint8 year offset, ...)
        values = values.where(~values.isin(nodata))
    # NaN, infinities and non-integral values cannot be years: none
    values = values.where(np.isfinite(values) & (values == np.floor(values)))
    lo, hi = valid_years
    source = da.attrs.get("source")
    # the file it came from (cubeeco.io.rasters.open_raster records it), so the message names it
    shown = f"{name} ({source})" if isinstance(source, str) and source else name
    # "what", not "name": map_blocks takes name= for itself
    args = dict(what=shown, fill_value=fill_value, lo=lo, hi=hi)
    if values.chunks is None:
        _check_years(values.values, **args)
    else:
        # dask: checked in each block as it is computed (checking now would compute the raster)
        values = values.copy(data=values.data.map_blocks(_check_years, dtype=np.float64, **args))
    return values.fillna(fill_value).astype(np.int32)


def _valid_years(valid_years) -> tuple[int, int]:
    try:
        lo, hi = valid_years
    except (TypeError, ValueError):
        raise TypeError(f"valid_years must be (first, last) years, got {valid_years!r}.") from None
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"valid_years must be two integer years, got {valid_years!r}.")
    if lo > hi:
        raise ValueError(f"valid_years must be (first, last) with first <= last, got {valid_years!r}.")
    return int(lo), int(hi)


def disturbance_from_raster(destruction_year, restoration_year=None, years=None, *, fill_value: int = -1,
                            dim: str = "time", valid_years=YEAR_RANGE) -> xr.Dataset:
    """The :func:`vegetation_disturbance` Dataset from a user's disturbance raster (one cycle).

    Parameters
    ----------
    destruction_year, restoration_year : xarray.DataArray
        Year of destruction T_D and of restoration T_R per pixel (integers, or floats
        with NaN), ``fill_value`` (or NaN) where none; same dims.  ``restoration_year``
        may be None (no restorations).  A restoration without a destruction or not
        after it is dropped (the pixel stays as the destruction says).
    years : array-like or xarray.DataArray
        The years of the ``state`` axis (integer years or datetimes, increasing); their
        values become the ``dim`` coordinate (pass ``ndvi[dim]`` to match a cube).
    fill_value : int
        The rasters' "none" value, and the output's.
    dim : str
        Name of the ``state`` axis.
    valid_years : (int, int)
        The plausible years (default 1900..2200).

    None in the rasters: NaN, ``fill_value``, and every nodata the raster declares
    (``da.rio.nodata``, ``attrs`` or ``encoding`` ``_FillValue`` / ``nodata`` /
    ``missing_value``: a GeoTIFF's 0, -9999 or 255).  Any other value outside
    ``valid_years`` raises ``ValueError`` naming the raster and the values (for dask
    input when the block holding them is computed).

    State: 1 before T_D and from T_R on, 0 from T_D to the year before T_R, 1 in every
    year of a pixel without T_D (the raster lists disturbances only, so state 2 and -1
    do not occur).  Counts are 0 or 1, last years equal the first ones.
    """
    if years is None:
        raise TypeError("years is required: the years (or datetimes) of the state axis.")
    coord = years.values if isinstance(years, xr.DataArray) else np.asarray(years)
    yrs = _years(coord, "years")
    fill_value = _fill(fill_value, yrs)
    valid_years = _valid_years(valid_years)
    td = _year_raster(destruction_year, "destruction_year", fill_value, valid_years)
    if dim in td.dims:
        raise ValueError(f"destruction_year already has a {dim!r} dimension; pass one year per pixel.")
    if restoration_year is None:
        tr = xr.full_like(td, fill_value)
    else:
        tr = _year_raster(restoration_year, "restoration_year", fill_value, valid_years)
        if tr.dims != td.dims or tr.shape != td.shape:
            raise ValueError(f"restoration_year has dims {dict(tr.sizes)} but destruction_year has "
                             f"{dict(td.sizes)}; they must share one grid.")
    has_d = td != fill_value
    has_r = has_d & (tr != fill_value) & (tr > td)
    tr = tr.where(has_r, fill_value).astype(np.int32)
    t = xr.DataArray(yrs.astype(np.int32), dims=dim, coords={dim: coord})
    destroyed = has_d & (t >= td) & ~(has_r & (t >= tr))
    state = xr.where(destroyed, np.int8(K.STATE_DESTROYED), np.int8(K.STATE_VEGETATED)).astype(np.int8)
    state = state.transpose(dim, *td.dims)
    n_d = has_d.astype(np.int16)
    n_r = has_r.astype(np.int16)
    outs = {"destruction_year": td, "restoration_year": tr, "last_destruction_year": td.copy(),
            "last_restoration_year": tr.copy(), "n_destructions": n_d, "n_restorations": n_r, "state": state}
    outs = {k: v.rename(k) for k, v in outs.items()}
    for v in outs.values():
        v.attrs.clear()
    return _dataset(outs, fill_value, dim, {"method": "user-supplied disturbance raster (single cycle)"})
