"""Test helpers shipped with the package: laziness checks and tiny cube factories."""

from .laziness import assert_lazy, raise_if_dask_computes

__all__ = ["assert_lazy", "raise_if_dask_computes"]
