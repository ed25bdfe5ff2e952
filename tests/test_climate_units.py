"""Climate units for CASA (issue 12): monthly amounts pass, rates become monthly amounts with the
days / seconds of each month (leap Februaries counted), K becomes degC, and a missing or unknown
unit is refused with the accepted ones listed (cubeeco.io.climate.to_casa_units)."""

from __future__ import annotations

import calendar

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeeco.io.climate import CASA_UNITS, to_casa_units
from cubeeco.testing.laziness import raise_if_dask_computes


def _monthly(year=2012, values=None, units=None, dtype=np.float32, **attrs):
    t = np.array([f"{year}-{m:02d}-01" for m in range(1, 13)], dtype="datetime64[ns]")
    v = np.arange(1, 13, dtype=dtype) if values is None else np.asarray(values, dtype=dtype)
    da = xr.DataArray(v, dims="time", coords={"time": t}, name="x", attrs=attrs)
    if units is not None:
        da.attrs["units"] = units
    return da


def _days(year):
    return np.array([calendar.monthrange(year, m)[1] for m in range(1, 13)], dtype=np.float64)


PRECIP = [
    # (units, factor per month as a function of the days in it)
    ("mm", lambda d: 1.0), ("mm month-1", lambda d: 1.0), ("mm/month", lambda d: 1.0),
    ("kg m-2 month-1", lambda d: 1.0), ("kg m-2", lambda d: 1.0), ("m month-1", lambda d: 1000.0),
    ("mm day-1", lambda d: d), ("mm/d", lambda d: d), ("mm d-1", lambda d: d), ("kg m-2 day-1", lambda d: d),
    ("m day-1", lambda d: 1000.0 * d), ("mm h-1", lambda d: 24.0 * d),
    ("kg m-2 s-1", lambda d: 86400.0 * d), ("kg/m2/s", lambda d: 86400.0 * d),
    ("kg m^-2 s^-1", lambda d: 86400.0 * d), ("kg·m**-2·s-1", lambda d: 86400.0 * d), ("mm s-1", lambda d: 86400.0 * d),
]
SOLAR = [
    ("MJ m-2 month-1", lambda d: 1.0), ("MJ m-2", lambda d: 1.0), ("MJ/m2/month", lambda d: 1.0),
    ("kJ m-2 month-1", lambda d: 1e-3), ("MJ m-2 day-1", lambda d: d), ("kJ m-2 day-1", lambda d: d * 1e-3),
    ("J m-2 day-1", lambda d: d * 1e-6), ("W m-2", lambda d: d * 86400.0 / 1e6), ("W/m^2", lambda d: d * 0.0864),
    ("W/m²", lambda d: d * 0.0864), ("J m-2 s-1", lambda d: d * 0.0864),
]


@pytest.mark.parametrize(("variable", "units", "factor"), [("precipitation", *p) for p in PRECIP]
                         + [("solar", *s) for s in SOLAR])
def test_amounts_and_rates(variable, units, factor):
    for year in (2012, 2013):   # a leap and a common February
        da = _monthly(year, units=units, long_name="keep me")
        got = to_casa_units(da, variable)
        expected = np.arange(1, 13) * factor(_days(year))
        np.testing.assert_allclose(got.values, expected, rtol=1e-6)
        assert got.dtype == np.float32 and got.attrs["units"] == CASA_UNITS[variable]
        assert got.attrs["long_name"] == "keep me"
        assert got.dims == ("time",) and (got.time == da.time).all()


def test_the_monthly_convention_is_recorded():
    assert "month's total" in to_casa_units(_monthly(units="mm"), "precipitation").attrs["units_converted_from"]
    rate = to_casa_units(_monthly(units="W m-2"), "solar")
    assert rate.attrs["units_converted_from"].startswith("W m-2 (x seconds in the month")
    assert "units_converted_from" not in to_casa_units(_monthly(units="mm month-1"), "precipitation").attrs


@pytest.mark.parametrize(("units", "offset"), [("degC", 0), ("°C", 0), ("C", 0), ("celsius", 0),
                                               ("degree_Celsius", 0), ("K", -273.15), ("kelvin", -273.15)])
def test_temperature(units, offset):
    da = _monthly(values=np.linspace(260, 300, 12), units=units, dtype=np.float64)
    got = to_casa_units(da, "temperature")
    np.testing.assert_allclose(got.values, np.linspace(260, 300, 12) + offset)
    assert got.attrs["units"] == "degC" and got.dtype == np.float64


@pytest.mark.parametrize(("variable", "units", "match"), [
    ("precipitation", None, "has no units attribute"),
    ("precipitation", "  ", "has no units attribute"),
    ("precipitation", "furlong", "has units 'furlong'"),
    ("precipitation", "mm s-2", "has units 'mm s-2'"),
    ("precipitation", "mm day-1 month-1", "has units"),
    ("precipitation", "m", "bare 'm' has no time base"),
    ("precipitation", "W m-2", "has units 'W m-2'"),
    ("solar", "J m-2", "bare 'J m-2' has no time base"),
    ("solar", "W m-2 month-1", "has units"),
    ("solar", "W m²", "has units"),
    ("solar", "mm", "has units 'mm'"),
    ("temperature", "degF", "has units 'degF'"),
    ("temperature", "mm", "has units 'mm'"),
])
def test_missing_or_unknown_units_are_refused(variable, units, match):
    with pytest.raises(ValueError, match=match) as err:
        to_casa_units(_monthly(units=units), variable, name="prcp")
    assert "accepted:" in str(err.value) and "'prcp'" in str(err.value)


def test_bad_arguments_and_month_axes():
    with pytest.raises(ValueError, match="variable must be one of"):
        to_casa_units(_monthly(units="mm"), "rain")
    with pytest.raises(TypeError, match="DataArray"):
        to_casa_units(np.ones(12), "precipitation")
    with pytest.raises(TypeError, match="numeric"):
        to_casa_units(_monthly(units="mm").astype(bool), "precipitation")
    # integer input becomes float32
    assert to_casa_units(_monthly(units="mm", dtype=np.int16), "precipitation").dtype == np.float32
    # a month axis 1-12: a common year, or the year given
    by_month = _monthly(units="mm day-1").swap_dims(time="month").drop_vars("time")
    by_month = by_month.assign_coords(month=np.arange(1, 13))
    np.testing.assert_allclose(to_casa_units(by_month, "precipitation", dim="month").values,
                               np.arange(1, 13) * _days(2013))
    np.testing.assert_allclose(to_casa_units(by_month, "precipitation", dim="month", year=2012).values,
                               np.arange(1, 13) * _days(2012))
    with pytest.raises(ValueError, match="needs a 'time' coordinate"):
        to_casa_units(by_month, "precipitation")
    with pytest.raises(ValueError, match="months 1-12"):
        to_casa_units(by_month.assign_coords(month=np.arange(12)), "precipitation", dim="month")
    # amounts need no month axis at all
    bare = xr.DataArray(np.ones((2, 2), np.float32), dims=("y", "x"), attrs={"units": "mm"})
    assert to_casa_units(bare, "precipitation").attrs["units"] == "mm month-1"


def test_lazy_and_gridded():
    rng = np.random.default_rng(0)
    t = np.array([f"2016-{m:02d}-01" for m in range(1, 13)], dtype="datetime64[ns]")
    da = xr.DataArray(rng.random((12, 4, 5)).astype(np.float32), dims=("time", "y", "x"),
                      coords={"time": t}, attrs={"units": "kg m-2 s-1"})
    with raise_if_dask_computes():
        lazy = to_casa_units(da.chunk(time=-1, y=2, x=2), "precipitation")
    assert lazy.chunks is not None and lazy.dtype == lazy.compute().dtype == np.float32
    expected = da.values * (86400.0 * _days(2016))[:, None, None]
    np.testing.assert_allclose(lazy.values, expected, rtol=1e-6)
    xr.testing.assert_identical(lazy.compute(), to_casa_units(da, "precipitation"))


@settings(max_examples=30, deadline=None)
@given(year=st.integers(1901, 2199), start=st.integers(1, 12), n=st.integers(1, 24))
def test_rates_use_each_steps_own_month(year, start, n):
    # any run of months (across years, leap or not) against the calendar module
    months = [(year + (start - 1 + k) // 12, (start - 1 + k) % 12 + 1) for k in range(n)]
    t = np.array([f"{y:04d}-{m:02d}-15" for y, m in months], dtype="datetime64[ns]")
    da = xr.DataArray(np.ones(n), dims="time", coords={"time": t}, attrs={"units": "MJ m-2 day-1"})
    got = to_casa_units(da, "solar")
    np.testing.assert_array_equal(got.values, [calendar.monthrange(y, m)[1] for y, m in months])
