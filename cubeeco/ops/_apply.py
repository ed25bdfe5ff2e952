"""The one call site of ``xarray.apply_ufunc`` for cubeeco's kernels.

Every op goes through :func:`apply_kernel` so the policy is in one place:
``dask="parallelized"`` (never the per-pixel ``vectorize`` option), declared output dtypes and
sizes, a whole-core-dimension check instead of a silent rechunk, and attrs set
on the outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ._checks import require_whole_core_dim


def float_dtype(*arrays) -> np.dtype:
    """float32 if every input is float32 (or narrower), else float64."""
    dt = np.result_type(*[a.dtype for a in arrays])
    return np.dtype(np.float32) if dt == np.float32 or dt.itemsize <= 2 else np.dtype(np.float64)


def apply_kernel(
    kernel,
    *args,
    input_core_dims: Sequence[Sequence[str]] | None = None,
    output_core_dims: Sequence[Sequence[str]] = ((),),
    output_dtypes: Sequence[np.dtype] | None = None,
    output_sizes: dict | None = None,
    kwargs: dict | None = None,
    attrs: Sequence[dict] | None = None,
    names: Sequence[str] | None = None,
):
    """Apply a numba gufunc over xarray/dask inputs; return one DataArray or a tuple.

    Scalars among ``args`` pass straight through to the kernel.
    """
    if input_core_dims is None:
        input_core_dims = [[] for _ in args]
    for a, dims in zip(args, input_core_dims):
        if isinstance(a, xr.DataArray):
            for d in dims:
                require_whole_core_dim(a, d, getattr(a, "name", None) or "input")
    n_out = len(output_core_dims)
    if output_dtypes is None:
        dt = float_dtype(*[a for a in args if hasattr(a, "dtype")])
        output_dtypes = [dt] * n_out
    result = xr.apply_ufunc(
        kernel,
        *args,
        input_core_dims=input_core_dims,
        output_core_dims=output_core_dims,
        dask="parallelized",
        output_dtypes=list(output_dtypes),
        dask_gufunc_kwargs={"output_sizes": output_sizes or {}, "allow_rechunk": False},
        kwargs=kwargs or {},
        keep_attrs="drop",
    )
    outs = result if isinstance(result, tuple) else (result,)
    outs = tuple(_keep_coord_attrs(o.astype(dt, copy=False), args) for o, dt in zip(outs, output_dtypes))
    if attrs is not None:
        for o, a in zip(outs, attrs):
            o.attrs.update(a)
    if names is not None:
        outs = tuple(o.rename(n) for o, n in zip(outs, names))
    return outs if n_out > 1 else outs[0]


def _keep_coord_attrs(out: xr.DataArray, args) -> xr.DataArray:
    """Coordinates keep their attributes (``keep_attrs="drop"`` is meant for the data's):
    without them ``spatial_ref`` is empty and the result has lost its CRS."""
    for a in args:
        if isinstance(a, xr.DataArray):
            for name, coord in a.coords.items():
                if name in out.coords and coord.attrs and not out.coords[name].attrs:
                    # a copy: the output may share the coordinate object with another input
                    out = out.assign_coords({name: out.coords[name].copy()})
                    out.coords[name].attrs.update(coord.attrs)
    return out
