"""Thin xarray wrappers over the kernels: apply_ufunc(dask="parallelized"), units and attrs."""
