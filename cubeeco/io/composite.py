"""Annual growing-season composites of a Landsat cube (one time step per year)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..ops.composite import at_max_score, median_valid
from ..ops.indices import ndvi

METHODS = ("median", "max_ndvi")
THERMAL = "lwir"      # NaN in L2SR scenes


def annual_composite(
    cube: xr.Dataset,
    *,
    method: str = "median",
    months: Sequence[int] = (6, 7, 8, 9),
) -> xr.Dataset:
    """Composite each year's clear observations within ``months`` into one layer.

    ``median``: per-band median of clear observations; ``max_ndvi``: every band from
    the observation with the highest NDVI, except ``lwir``, taken from the highest-NDVI
    observation that has one (L2SR scenes carry no surface temperature).  ``clear_count`` (uint8) counts the clear
    observations used.  The result's ``time`` is 1 January of each year.  Lazy: the
    only rechunk merges one year's scenes along time, where the annual cube is made.
    The per-pixel work is :mod:`cubeeco.ops.composite` (kernels in
    :mod:`cubeeco.kernels.composite`); the NDVI score is :func:`cubeeco.ops.indices.ndvi`.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    bad = [m for m in months if not 1 <= int(m) <= 12]
    if bad or not months:
        raise ValueError(f"months must be month numbers 1-12, got {list(months)}.")
    in_season = cube.time.dt.month.isin(list(months))
    cube = cube.sel(time=in_season)
    if cube.sizes["time"] == 0:
        raise ValueError(f"no observations fall in months {list(months)}.")
    bands = [v for v in cube.data_vars if v != "clear" and cube[v].dtype.kind == "f"]
    years = np.unique(cube.time.dt.year.values)
    layers = []
    for year in years:
        sub = cube.isel(time=np.flatnonzero(cube.time.dt.year.values == year)).chunk(time=-1)
        out = xr.Dataset()
        if method == "max_ndvi":
            score = ndvi(sub["red"], sub["nir08"])  # NaN where NIR + RED == 0: never the max
        for b in bands:
            if method == "median":
                out[b] = median_valid(sub[b], "time")
            else:
                # lwir: at the max NDVI among observations that have one (L2SR scenes have no
                # thermal band; the year's best NDVI may be one of them)
                s = score.where(sub[b].notnull()) if b == THERMAL else score
                out[b] = at_max_score(s, sub[b], "time")
            out[b].attrs = sub[b].attrs
        out["clear_count"] = sub["clear"].sum("time").astype(np.uint8).assign_attrs(
            long_name="clear observations in the composite", units="1")
        layers.append(out.expand_dims(time=[pd.Timestamp(int(year), 1, 1)]))
    result = xr.concat(layers, dim="time", combine_attrs="drop_conflicts")
    result.attrs.update(cube.attrs)
    result.attrs.update({"composite_method": method, "composite_months": ",".join(map(str, months))})
    result.time.attrs.update({"long_name": "composite year (1 January)"})
    return result
