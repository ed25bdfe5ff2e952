"""Year helpers shared by the study stages: a years parameter's checker and a group's
calendar years (no stage imports here, so every stage module may import it)."""

from __future__ import annotations

import numpy as np
import xarray as xr


def _year_list(value, run):
    if value is None:
        return
    if not (isinstance(value, list) and value and all(isinstance(y, int) and not isinstance(y, bool) for y in value)
            and len(set(value)) == len(value)):
        raise ValueError(f"expected a list of distinct years (e.g. [2006, 2010, 2016, 2020]) or null, got {value!r}.")
    if run.years and any(not run.years[0] <= y <= run.years[1] for y in value):
        raise ValueError(f"years {value} must lie in the run's years {list(run.years)}.")


def _years_of(da) -> np.ndarray:
    t = da["time"]
    return np.asarray(t.dt.year.values if np.issubdtype(t.dtype, np.datetime64) else t.values, dtype=int)


def _on_years(da, years, what: str = "the group") -> xr.DataArray:
    """``da`` at ``years`` (in that order), by calendar year; a ConfigError naming missing years."""
    have = _years_of(da)
    missing = [int(y) for y in years if y not in set(have.tolist())]
    if missing:
        from .config import ConfigError

        raise ConfigError(f"{what} has no year(s) {missing}; it has {have.tolist()}.")
    return da.isel(time=[int(np.flatnonzero(have == y)[0]) for y in years])
