"""One place for the compile policy of every kernel.

Kernels are module-level numba gufuncs so that they pickle to distributed workers
(a gufunc made at call time or in a closure does not).  They compile for
``target="cpu"``: parallelism comes from dask chunks, and numba's own threading
inside dask worker threads oversubscribes cores and can abort the process.
cpu gufuncs release the GIL while they loop, so dask's threads run them in parallel.

Hot loops live in ``@jit`` helpers that the gufunc body calls: ``guvectorize`` does
not take ``error_model``, and ``error_model="numpy"`` lets divisions vectorise
instead of checking every denominator for zero (about 4x on pair loops).
``cache=False`` everywhere: concurrent on-disk caches written by many worker
processes race.
"""

from __future__ import annotations

from numba import guvectorize, njit

JIT_OPTIONS = {"nogil": True, "cache": False, "error_model": "numpy"}
GUFUNC_OPTIONS = {"nopython": True, "cache": False}

# float32 before float64: numba dispatches to the first compatible signature,
# so float32 input stays float32 instead of being upcast.
FLOAT_TYPES = ("float32", "float64")


def gufunc(signatures, layout: str, **overrides):
    """Decorator: compile a function as a cpu gufunc with the project's policy."""
    return guvectorize(signatures, layout, target="cpu", **{**GUFUNC_OPTIONS, **overrides})


def jit(func=None, **overrides):
    """``numba.njit`` with the project's policy, for the helpers gufuncs call."""
    options = {**JIT_OPTIONS, **overrides}
    if func is None:
        return lambda f: njit(**options)(f)
    return njit(**options)(func)
