"""Where a catalog keeps its monthly climate: a gridded Zarr (a collection asset, as
TerraClimate is served) and station records (an item with a points file and a monthly CSV).

* :func:`climate_grid_href` -- the collection's Zarr asset;
* :func:`read_stations` -- the stations as points (GeoDataFrame) and their monthly records
  (DataFrame: ``station_id``, ``time``, one column per variable);
* :func:`to_casa_units` -- a monthly climate variable in the units CASA takes (degC,
  mm month-1, MJ m-2 month-1), from the units its ``attrs["units"]`` names.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .items import as_item_dicts
from .search import _resolve, read_catalog, search


def _collection(source, collection: str) -> dict:
    kind, where = _resolve(source)
    if kind == "local":
        collections, _ = read_catalog(Path(where))
        if collection not in collections:
            raise ValueError(f"the catalog {where} has no collection {collection!r}; it has {sorted(collections)}.")
        return collections[collection]
    from pystac_client import Client

    return Client.open(str(where)).get_collection(collection).to_dict()


def climate_grid_href(source, collection: str = "synthetic-climate", asset: str = "zarr") -> str:
    """The href of the collection's gridded monthly climate (a Zarr store)."""
    coll = _collection(source, collection)
    assets = coll.get("assets") or {}
    if asset not in assets:
        raise ValueError(f"collection {collection!r} has no {asset!r} asset (it has {sorted(assets)}); "
                         f"give the gridded climate's asset key.")
    return assets[asset]["href"]


def read_stations(source, collection: str = "synthetic-climate", *, bbox=None, points_asset: str = "stations",
                  records_asset: str = "monthly"):
    """(points GeoDataFrame with ``station_id``, monthly records DataFrame) of the collection."""
    import geopandas as gpd

    items = as_item_dicts(search(collection, source=source, bbox=bbox))
    items = [i for i in items if points_asset in (i.get("assets") or {})]
    if not items:
        raise ValueError(f"collection {collection!r} has no item with a {points_asset!r} asset (station points).")
    points, records = [], []
    for it in items:
        assets = it["assets"]
        if records_asset not in assets:
            raise ValueError(f"item {it['id']!r} has stations but no {records_asset!r} asset (monthly records).")
        points.append(gpd.read_file(assets[points_asset]["href"]))
        records.append(pd.read_csv(assets[records_asset]["href"], parse_dates=["time"]))
    pts = pd.concat(points, ignore_index=True)
    return gpd.GeoDataFrame(pts, geometry="geometry", crs=points[0].crs), pd.concat(records, ignore_index=True)


# ------------------------------------------------------------------ units
CASA_UNITS = {"temperature": "degC", "precipitation": "mm month-1", "solar": "MJ m-2 month-1"}

_CELSIUS = {"degc", "°c", "℃", "c", "celsius", "deg_c", "degree_c", "degrees_c", "degree_celsius",
            "degrees_celsius", "deg c", "degree c", "degrees c"}
_KELVIN = {"k", "kelvin", "degk", "deg_k"}
_TIME = {"s": "s", "sec": "s", "second": "s", "seconds": "s", "h": "h", "hr": "h", "hour": "h", "hours": "h",
         "d": "day", "day": "day", "days": "day", "month": "month", "months": "month", "mon": "month"}
_SECONDS = {"s": 1.0, "h": 3600.0, "day": 86400.0}
# amount per unit area -> its factor to mm (precipitation) or to MJ m-2 (solar)
_AMOUNTS = {
    "precipitation": {(("mm", 1),): 1.0, (("kg", 1), ("m", -2)): 1.0, (("m", 1),): 1000.0},
    "solar": {(("MJ", 1), ("m", -2)): 1.0, (("kJ", 1), ("m", -2)): 1e-3, (("J", 1), ("m", -2)): 1e-6},
}
_POWER = (("W", 1), ("m", -2))   # W m-2 = J m-2 s-1
# amounts without a time base that are refused: their usual per-day meaning differs from the
# monthly convention (ERA5's monthly means of "m" and "J m-2" are per day)
_NO_BARE = {(("m", 1),), (("J", 1), ("m", -2)), (("kJ", 1), ("m", -2))}
_ACCEPTED = {
    "temperature": "degC (°C, C, celsius) or K",
    "precipitation": "a monthly amount (mm, mm month-1, mm/month, kg m-2 month-1, m month-1) or a rate "
                     "(mm day-1, mm h-1, mm s-1, kg m-2 s-1, kg m-2 day-1, m day-1)",
    "solar": "a monthly amount (MJ m-2 month-1, MJ m-2, kJ m-2 month-1, J m-2 month-1) or a rate "
             "(W m-2, MJ m-2 day-1, kJ m-2 day-1, J m-2 day-1, J m-2 s-1)",
}


def _terms(units: str):
    """'kg m-2 s-1', 'W/m^2', 'mm/month', 'MJ·m**-2·d-1' -> sorted ((unit, power), ...) or None."""
    text = units.replace("²", "2").replace("**", "").replace("^", "").replace("·", " ").replace("*", " ")
    out: dict[str, int] = {}
    for k, part in enumerate(text.split("/")):
        tokens = part.split()
        if not tokens:
            return None
        for tok in tokens:
            m = re.fullmatch(r"([A-Za-z]+)(-?\d+)?", tok)
            if m is None:
                return None
            unit, power = m.group(1), int(m.group(2) or 1)
            unit = _TIME.get(unit.lower(), unit)
            if k:   # everything after a "/" divides
                power = -power
            out[unit] = out.get(unit, 0) + power
    return tuple(sorted((u, p) for u, p in out.items() if p))


def _per_time(terms):
    """(amount terms, time unit or None) when ``terms`` is an amount per one time unit."""
    times = [(u, p) for u, p in terms if u in ("s", "h", "day", "month")]
    if not times:
        return terms, None
    if len(times) > 1 or times[0][1] != -1:
        return None, None
    return tuple(t for t in terms if t != times[0]), times[0][0]


def _days_in_month(da, dim: str, year):
    """Days of each step of ``dim``: from its datetimes, or months 1-12 of ``year`` (non-leap if None)."""
    if dim not in da.coords:
        raise ValueError(f"converting a rate to a monthly amount needs a {dim!r} coordinate (datetimes, "
                         f"or months 1-12) to count the days of each month.")
    coord = da[dim]
    if np.issubdtype(coord.dtype, np.datetime64) or coord.dtype == object:
        return coord.dt.days_in_month.astype(np.float64).drop_vars(
            [c for c in coord.coords if c != dim])
    months = np.asarray(coord.values)
    if months.dtype.kind not in "iu" or months.min() < 1 or months.max() > 12:
        raise ValueError(f"the {dim!r} coordinate must hold datetimes or months 1-12 to count the days "
                         f"of each month, got {months.tolist()[:12]}.")
    leap = year is not None and pd.Timestamp(int(year), 1, 1).is_leap_year
    days = pd.Series(pd.to_datetime([f"{2000 if leap else 2001}-{m:02d}-01" for m in months])).dt.days_in_month
    return xr.DataArray(days.to_numpy(np.float64), dims=dim, coords={dim: coord.values})


def to_casa_units(da, variable: str, *, dim: str = "time", year: int | None = None,
                  name: str | None = None) -> xr.DataArray:
    """A monthly climate variable in the units CASA takes, from its ``attrs["units"]``.

    Parameters
    ----------
    da : xarray.DataArray
        Monthly values along ``dim`` (one step per month), with ``attrs["units"]``.
    variable : {"temperature", "precipitation", "solar"}
        What ``da`` is: mean air temperature -> degC; precipitation -> mm month-1;
        total solar radiation -> MJ m-2 month-1 (seed 001, Eqs. 1-7).
    dim : str
        The month axis: datetimes (leap Februaries counted), or months 1-12 (of ``year``,
        else of a non-leap year); needed only to turn a rate into a monthly amount.
    name : str, optional
        The variable's name in messages (default ``da.name``).

    Units: temperature degC (°C, C, celsius, ...) or K (-273.15).  Precipitation a
    monthly amount -- ``mm`` (the monthly-climatology convention: with monthly data a bare
    ``mm`` is the month's total, as TerraClimate and CRU write it), ``mm month-1``,
    ``mm/month``, ``kg m-2 month-1``, ``m month-1`` -- or a rate multiplied by the
    seconds / hours / days of each month (``kg m-2 s-1``, ``mm day-1``, ``mm h-1``,
    ``m day-1``).  Solar radiation ``MJ m-2 month-1`` (or ``MJ m-2``), kJ / J per month, or
    a rate: ``W m-2`` (x seconds in the month / 1e6), ``MJ m-2 day-1`` (x days), kJ / J per
    day.  A bare ``m`` or ``J m-2`` (per day in ERA5's monthly means) and any other or
    missing unit raise ``ValueError`` listing the accepted ones.  Lazy in, lazy out;
    float32 stays float32.
    """
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"expected an xarray.DataArray, got {type(da).__name__}.")
    if variable not in CASA_UNITS:
        raise ValueError(f"variable must be one of {sorted(CASA_UNITS)}, got {variable!r}.")
    label = name or da.name
    what = f"climate variable {label!r} ({variable})" if label else f"the climate {variable}"
    units = da.attrs.get("units")
    accepted = f"accepted: {_ACCEPTED[variable]}"
    if not isinstance(units, str) or not units.strip():
        raise ValueError(f"{what} has no units attribute; set attrs['units'] ({accepted}).")
    units = units.strip()
    if da.dtype.kind not in "f":
        if da.dtype.kind not in "iu":
            raise TypeError(f"{what} must be numeric, got dtype {da.dtype}.")
        da = da.astype(np.float32)
    dt = da.dtype
    target = CASA_UNITS[variable]

    def done(out, how):
        out = out.astype(dt)
        out.attrs = {**da.attrs, "units": target}
        if how:
            out.attrs["units_converted_from"] = f"{units} ({how})"
        return out

    if variable == "temperature":
        key = " ".join(units.lower().split())
        if key in _CELSIUS:
            return done(da, "")
        if key in _KELVIN:
            return done(da - 273.15, "- 273.15")
        raise ValueError(f"{what} has units {units!r}; {accepted}.")

    terms = _terms(units)
    amount, per = _per_time(terms) if terms else (None, None)
    table = _AMOUNTS[variable]
    if amount == _POWER and variable == "solar" and per is None:
        amount, per, factor = (("J", 1), ("m", -2)), "s", 1e-6    # W m-2 = J m-2 s-1
    elif amount in table and not (per is None and amount in _NO_BARE):
        factor = table[amount]
    else:
        hint = (f"; a bare {units!r} has no time base (ERA5's monthly means are per day: write "
                f"'{units} day-1', or '{units} month-1' for monthly totals)" if terms in _NO_BARE else "")
        raise ValueError(f"{what} has units {units!r}{hint}; {accepted}.")
    if per in (None, "month"):
        how = "" if factor == 1.0 else f"x {factor:g}"
        if per is None:   # the monthly convention, recorded: a bare amount is the month's total
            how = "read as the month's total" + (f", {how}" if how else "")
        return done(da * factor if factor != 1.0 else da, how)
    steps = _days_in_month(da, dim, year) * (86400.0 / _SECONDS[per])   # seconds, hours or days in each month
    how = f"x {'days' if per == 'day' else 'hours' if per == 'h' else 'seconds'} in the month" + \
          ("" if factor == 1.0 else f" x {factor:g}")
    return done(da * (steps * factor).astype(dt), how)
