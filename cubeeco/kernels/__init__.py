"""Pure numba kernels: gufuncs and jitted helpers over numpy arrays.

Nothing here knows xarray, dask or files.  One module per family.
"""
