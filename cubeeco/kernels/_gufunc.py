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
processes race (numba issue 10128: segfaults with cached gufuncs).

Helpers compile without the NRT (``_nrt=False``): kernels never allocate (scratch
comes from the caller), and without the NRT a slice of a scratch buffer is a plain
view with no reference counting, which otherwise costs a call per view per pixel.
An allocation in a helper then fails to compile instead of costing time per pixel.
"""

from __future__ import annotations

import importlib
import threading

import numpy as np
from numba import guvectorize, njit

JIT_OPTIONS = {"nogil": True, "cache": False, "error_model": "numpy", "_nrt": False}
GUFUNC_OPTIONS = {"nopython": True, "cache": False}

# float32 before float64: numba dispatches to the first compatible signature,
# so float32 input stays float32 instead of being upcast.
FLOAT_TYPES = ("float32", "float64")


def gufunc(signatures, layout: str, **overrides):
    """Decorator: compile now as a cpu gufunc with the project's policy (see ``lazy_gufunc``)."""
    return guvectorize(signatures, layout, target="cpu", **{**GUFUNC_OPTIONS, **overrides})


class LazyKernel:
    """Base of the lazily compiled kernels: pickled by reference, compiled on first use.

    numba pickles a compiled ufunc by value and recompiles it when unpickling, so on a
    distributed cluster every task would pay the compile (measured: an annual composite
    100 s on 2 worker processes vs 3 s on threads).  Pickled as (module, name), a worker
    imports the module once and reuses what it compiled.

    The kernel object itself is what ops pass to ``apply_kernel``:

    * ``__dask_tokenize__`` is (module, qualname), so two builds of one op get the same
      dask keys, and tokenizing never compiles;
    * calls run with floating-point warnings off: numba may evaluate both branches of a
      zero-denominator guard (and ordered comparisons with NaN set the "invalid" flag),
      so the FP status flags can be set although the kernel returns NaN as intended;
      numpy would turn them into RuntimeWarnings.
    """

    def __init__(self, func):
        self.py_func = func
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__
        self.__doc__ = func.__doc__
        self._compiled = None
        self._lock = threading.Lock()

    def _build(self):
        raise NotImplementedError

    @property
    def is_compiled(self) -> bool:
        return self._compiled is not None

    def compile(self):
        """Compile now (every signature); returns the numba ufunc."""
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = self._build()
        return self._compiled

    def __call__(self, *args, **kwargs):
        with np.errstate(all="ignore"):
            return self.compile()(*args, **kwargs)

    def __getattr__(self, name):
        # ufunc attributes (nin, nout, signature, types, ...) of the compiled kernel
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.compile(), name)

    def __reduce__(self):
        return _load_attr, (self.__module__, self.__qualname__)

    def __dask_tokenize__(self):
        # deterministic and compile-free: dask would otherwise tokenize by pickling
        # (or by id), and two builds of one op would not share their graph keys
        return ("cubeeco.kernel", type(self).__name__, self.__module__, self.__qualname__)

    def __repr__(self):
        return f"<{type(self).__name__} {self.__module__}.{self.__qualname__}>"


class LazyGufunc(LazyKernel):
    """A module-level gufunc compiled on its first call, not at import.

    Compiling eagerly makes importing a kernel module cost every kernel's compile
    time (seconds each for the trend kernels), in the client and again in every
    worker process.  Pickles by reference (module + name), so a worker that
    unpickles a task imports the module and compiles only what it runs.
    """

    def __init__(self, func, signatures, layout: str, *, split_on: int | None = None, **overrides):
        super().__init__(func)
        self.signatures = list(signatures)
        self.layout = layout
        self.split_on = split_on
        self.overrides = overrides
        self._per_type: dict[int, object] = {}

    def _build(self):
        return gufunc(self.signatures, self.layout, **self.overrides)(self.py_func)

    @property
    def is_compiled(self) -> bool:
        return self._compiled is not None or bool(self._per_type)

    def _for_dtype(self, arg):
        # signatures[i] is the FLOAT_TYPES[i] variant: take the first that holds the
        # argument's dtype safely (numpy's rule for a multi-signature ufunc), and
        # compile only that one (half the first-call time of a two-signature gufunc)
        dt = arg.dtype if hasattr(arg, "dtype") else np.asarray(arg).dtype
        i = next((k for k, ft in enumerate(FLOAT_TYPES) if np.can_cast(dt, ft)), len(FLOAT_TYPES) - 1)
        g = self._per_type.get(i)
        if g is None:
            with self._lock:
                g = self._per_type.get(i)
                if g is None:
                    g = gufunc([self.signatures[i]], self.layout, **self.overrides)(self.py_func)
                    self._per_type[i] = g
        return g

    def __call__(self, *args, **kwargs):
        with np.errstate(all="ignore"):
            if self._compiled is None and self.split_on is not None:
                return self._for_dtype(args[self.split_on])(*args, **kwargs)
            return self.compile()(*args, **kwargs)

    def __repr__(self):
        state = "compiled" if self.is_compiled else "not compiled yet"
        return f"<LazyGufunc {self.__module__}.{self.__qualname__} {self.layout} ({state})>"


def _load_attr(module: str, qualname: str):
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def lazy_gufunc(signatures, layout: str, *, split_on: int | None = None, **overrides):
    """Like :func:`gufunc`, but compiles on the first call (see :class:`LazyGufunc`).

    With ``split_on=i`` the signatures must be one per entry of ``FLOAT_TYPES`` (in
    that order) and each call compiles only the variant that argument ``i`` needs.
    """
    return lambda func: LazyGufunc(func, signatures, layout, split_on=split_on, **overrides)


def jit(func=None, **overrides):
    """``numba.njit`` with the project's policy, for the helpers gufuncs call."""
    options = {**JIT_OPTIONS, **overrides}
    if func is None:
        return lambda f: njit(**options)(f)
    return njit(**options)(func)
