"""Per-pixel compositing along a dimension (xarray wrappers of :mod:`cubeeco.kernels.composite`).

Both reduce ``dim`` (which must be one chunk: rechunk once where the annual cube is
made, never here) and return lazily for dask input, in the values' dtype.  NaN is
missing.  :func:`cubeeco.io.composite.annual_composite` builds the growing-season
composites on these.
"""

from __future__ import annotations

import xarray as xr

from ..kernels import composite as K
from ._apply import apply_kernel
from ._checks import require_dataarray, require_dim


def median_valid(da: xr.DataArray, dim: str = "time") -> xr.DataArray:
    """Median of the non-NaN values along ``dim`` (NaN where there is none)."""
    require_dataarray(da, "da")
    require_dim(da, dim, "da")
    return apply_kernel(K.nanmedian, da, input_core_dims=[[dim]], output_dtypes=[da.dtype])


def at_max_score(score: xr.DataArray, values: xr.DataArray, dim: str = "time") -> xr.DataArray:
    """``values`` where ``score`` is largest along ``dim`` (first such; NaN scores skipped)."""
    require_dataarray(score, "score")
    require_dataarray(values, "values")
    require_dim(score, dim, "score")
    require_dim(values, dim, "values")
    return apply_kernel(K.take_at_max, score, values, input_core_dims=[[dim], [dim]],
                        output_dtypes=[values.dtype])


__all__ = ["at_max_score", "median_valid"]
