"""Argument checks that fail early with a sentence naming the argument and the fix."""

from __future__ import annotations

import numpy as np
import xarray as xr


def require_dataarray(obj, name: str) -> xr.DataArray:
    if not isinstance(obj, xr.DataArray):
        raise TypeError(f"{name} must be an xarray.DataArray, got {type(obj).__name__}.")
    return obj


def require_dim(da: xr.DataArray, dim: str, name: str = "da") -> None:
    if dim not in da.dims:
        raise ValueError(
            f"{name} has no dimension {dim!r}; its dimensions are {tuple(da.dims)}. "
            f"Pass dim= with the name of the time axis."
        )


def require_whole_core_dim(da: xr.DataArray, dim: str, name: str = "da") -> None:
    """Temporal kernels need the whole series in one chunk; never rechunk silently."""
    chunks = da.chunksizes.get(dim) if da.chunks is not None else None
    if chunks is not None and len(chunks) > 1:
        raise ValueError(
            f"{name} is split into {len(chunks)} chunks along {dim!r}; per-pixel temporal "
            f"kernels need the whole axis in one chunk. Call {name}.chunk({{{dim!r}: -1}}) "
            f"(ideally once, when the annual cube is written)."
        )


def require_float(da: xr.DataArray, name: str = "da") -> None:
    if da.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, got dtype {da.dtype}.")


def finite_scalar(value, name: str) -> float:
    """``value`` as a finite float, or a TypeError / ValueError naming ``name``."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.") from None
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return out


def require_one_grid(layers) -> None:
    """``layers``: (name, DataArray) pairs that must be 2-D rasters on one grid (same dims, shape
    and coordinates as the first); a TypeError / ValueError naming the layer that is not."""
    ref_name, ref = layers[0]
    for name, da in layers:
        if not isinstance(da, xr.DataArray):
            raise TypeError(f"{name!r} must be an xarray.DataArray, got {type(da).__name__}.")
        if da.ndim != 2:
            raise ValueError(f"{name!r} must be 2-D (y, x); it has dimensions {tuple(da.dims)}. Select one "
                             f"time step or band first.")
        if da.dims != ref.dims or da.shape != ref.shape:
            raise ValueError(f"{name!r} is {dict(da.sizes)} but {ref_name!r} is {dict(ref.sizes)}; put all "
                             f"rasters on one grid first.")
        for d in ref.dims:
            if d in ref.coords and d in da.coords and not np.array_equal(ref[d].values, da[d].values):
                raise ValueError(f"{name!r} and {ref_name!r} have different {d!r} coordinates; put them on one "
                                 f"grid first.")
