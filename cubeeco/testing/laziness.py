"""Prove that an API call builds a graph and computes nothing.

A scheduler that counts (and by default refuses) compute calls is stronger than
checking the return type: it catches a hidden ``.values`` or ``np.asarray``.
"""

from __future__ import annotations

import contextlib

import dask


class CountingScheduler:
    """A dask scheduler that counts calls and raises past ``max_computes``."""

    def __init__(self, max_computes: int = 0):
        self.total_computes = 0
        self.max_computes = max_computes

    def __call__(self, dsk, keys, **kwargs):
        self.total_computes += 1
        if self.total_computes > self.max_computes:
            raise RuntimeError(
                f"dask computed {self.total_computes} time(s); at most {self.max_computes} allowed"
            )
        return dask.get(dsk, keys, **kwargs)


@contextlib.contextmanager
def raise_if_dask_computes(max_computes: int = 0):
    """Context manager: any dask compute inside raises ``RuntimeError``."""
    scheduler = CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler


def assert_lazy(func, *args, **kwargs):
    """Call ``func`` under :func:`raise_if_dask_computes` and return its result."""
    with raise_if_dask_computes():
        return func(*args, **kwargs)
