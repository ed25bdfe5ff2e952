"""Stages used by the table / reduce-phase tests (registered by ``register()``).

``scaled`` reads the annual NDVI, reduces it once to its whole-area min and max (``reduce``)
and writes NDVI rescaled to [0, 1] region by region; every call of its reduce step appends
a line to ``$CUBEECO_TEST_REDUCE_LOG`` so a test counts them across processes.
``ndvi_table`` is a table-only stage, ``scaled_table`` a raster+table stage.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import xarray as xr

from cubeeco.pipeline.stages import STAGES, Outputs, stage

NAMES = ("scaled", "ndvi_table", "scaled_table", "bad_table", "clash_table", "dup_a", "dup_b", "texts")


def _ndvi_minmax(ctx, k):
    log = os.environ.get("CUBEECO_TEST_REDUCE_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
    ndvi = ctx.open("annual")["ndvi"]
    return xr.Dataset({"lo": ndvi.min() * k, "hi": ndvi.max() * k}).assign_attrs(units="1")


def _slow(block, seconds):
    time.sleep(seconds)
    return block


def register():
    @stage("scaled", inputs=("annual",), reduce=_ndvi_minmax, params={"sleep": 0.0, "k": 1.0, "fail": False})
    def scaled(ctx, sleep, k, fail):
        """NDVI rescaled to [0, 1] by its whole-area min and max (times k)."""
        if fail:
            raise RuntimeError("planned failure after the reduction")
        ndvi = ctx.open("annual")["ndvi"] * k
        lo, hi = float(ctx.reduced["lo"]), float(ctx.reduced["hi"])
        out = (ndvi - lo) / (hi - lo)
        if sleep:
            out = out.copy(data=out.data.map_blocks(_slow, sleep, dtype=out.dtype))
        return xr.Dataset({"scaled": out.assign_attrs(units="1")})

    @stage("ndvi_table", inputs=("annual",), output="table")
    def ndvi_table(ctx):
        """Mean NDVI per year."""
        ndvi = ctx.open("annual")["ndvi"]
        mean = ndvi.mean(("y", "x")).compute()
        df = pd.DataFrame({"year": mean.time.dt.year.values, "ndvi_mean": mean.values,
                           "label": [f"y{y}" for y in mean.time.dt.year.values]})
        df.attrs["units"] = {"year": "year", "ndvi_mean": "1"}
        df.attrs["description"] = "whole-area mean NDVI"
        return df

    @stage("scaled_table", inputs=("annual",), output="raster+table")
    def scaled_table(ctx):
        """A raster and two tables."""
        ndvi = ctx.open("annual")["ndvi"]
        counts = pd.DataFrame({"n": [int(ndvi.notnull().sum())]})
        first = pd.DataFrame({"value": np.float64(ndvi.isel(time=0, y=0, x=0).values)[None]})
        return Outputs(raster=xr.Dataset({"ndvi0": ndvi.isel(time=0, drop=True)}),
                       tables={"counts": counts, "first_value": first})

    @stage("bad_table", output="table")
    def bad_table(ctx):
        """Declares a table, returns a raster."""
        return xr.Dataset()

    @stage("clash_table", inputs=("annual",), output="raster+table")
    def clash_table(ctx):
        """A table named like its raster's variable."""
        ndvi = ctx.open("annual")["ndvi"]
        return Outputs(raster=xr.Dataset({"ndvi0": ndvi.isel(time=0, drop=True)}),
                       tables={"ndvi0": pd.DataFrame({"n": [1]})})

    @stage("dup_a", output="table")
    def dup_a(ctx):
        """A table named summary."""
        return {"summary": pd.DataFrame({"who": ["a"]})}

    @stage("dup_b", output="table")
    def dup_b(ctx):
        """Another table named summary."""
        return {"summary": pd.DataFrame({"who": ["b"]})}

    @stage("texts", output="table", params={"name": "texts"})
    def texts(ctx, name):
        """Text with missing values; the table's name is a parameter."""
        return {name: pd.DataFrame({"label": ["x", None, np.nan, ""], "v": [1.0, 2.0, np.nan, 4.0]})}

    return NAMES


def unregister():
    for name in NAMES:
        STAGES.pop(name, None)
