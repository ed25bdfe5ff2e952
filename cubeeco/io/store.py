"""Zarr stores: one store per run, one group per stage, consolidated metadata.

Arrays are chunked for per-pixel temporal kernels (the whole time axis, a spatial
tile), written in Zarr format 2 with Blosc/zstd so that GDAL's Zarr driver reads
them too (each array carries ``_CRS`` for GDAL and ``grid_mapping`` for CF).
A group is complete only when its ``cubeeco:complete`` attribute is true; it is
set last, after every chunk is on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr
import zarr
from numcodecs import Blosc

COMPLETE = "cubeeco:complete"


class IncompleteGroupError(RuntimeError):
    """A group exists but its writer never finished."""


def _group_path(store, group: str | None) -> Path:
    return Path(store) / group if group else Path(store)


def is_complete(store, group: str | None = None) -> bool:
    try:
        attrs = zarr.open_group(str(store), path=group or "", mode="r", use_consolidated=False).attrs
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, KeyError, ValueError):
        return False
    return bool(attrs.get(COMPLETE, False))


def prepare(ds: xr.Dataset, *, chunks: int = 512) -> xr.Dataset:
    """Chunk (time whole, spatial tiles), add CF grid mapping and GDAL's ``_CRS``."""
    import rioxarray  # noqa: F401

    chunk_map = {d: (-1 if d not in ("y", "x") else min(chunks, ds.sizes[d])) for d in ds.dims}
    ds = ds.chunk(chunk_map)
    crs = ds.rio.crs
    if crs is not None:
        ds = ds.rio.write_crs(crs)
        wkt = crs.to_wkt()
        for var in ds.data_vars.values():
            if {"y", "x"} <= set(var.dims):
                var.attrs["grid_mapping"] = "spatial_ref"
                var.attrs["_CRS"] = {"wkt": wkt}
    ds["x"].attrs.update({"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"})
    ds["y"].attrs.update({"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"})
    ds.attrs.setdefault("Conventions", "CF-1.8")
    for attrs in [ds.attrs, *(v.attrs for v in ds.variables.values())]:
        for k, v in list(attrs.items()):   # Zarr attrs must be JSON
            if not isinstance(v, (str, int, float, bool, list, dict)):
                attrs[k] = v.item() if isinstance(v, np.generic) else str(v)
    return ds


def write_store(ds: xr.Dataset, store, group: str | None = None, *, provenance: dict | None = None,
                chunks: int = 512, compute: bool = True):
    """Write ``ds`` as ``store/group``; mark the group complete only after all data landed.

    Returns the dask delayed object when ``compute=False`` (the marker is then set by
    :func:`mark_complete`).
    """
    ds = prepare(ds, chunks=chunks)
    if provenance:
        ds.attrs.update(provenance)
    ds.attrs[COMPLETE] = False
    delayed = ds.to_zarr(store, group=group, mode="w", consolidated=True, zarr_format=2,
                         encoding=encoding_for(ds), compute=compute)
    if compute:
        mark_complete(store, group)
        return None
    return delayed


def encoding_for(ds: xr.Dataset) -> dict:
    """Blosc/zstd with bit-shuffle for every variable; NaN fill for floats."""
    compressor = Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE)
    encoding = {name: {"compressors": (compressor,)} for name in ds.data_vars}
    for name, var in ds.data_vars.items():
        if var.dtype.kind == "f":
            encoding[name]["_FillValue"] = np.nan
    return encoding


def mark_complete(store, group: str | None = None) -> None:
    """Set the completion marker: consolidated metadata first, so a process killed right
    after the marker never leaves a complete group that consolidated readers cannot see."""
    zarr.consolidate_metadata(str(store))
    g = zarr.open_group(str(store), path=group or "", mode="a", use_consolidated=False)
    g.attrs[COMPLETE] = True
    zarr.consolidate_metadata(str(store))   # refreshes the marker in .zmetadata too


def open_store(store, group: str | None = None, *, require_complete: bool = True) -> xr.Dataset:
    """Open a stored group lazily; refuse a group whose writer never finished."""
    if not Path(store).exists():
        raise FileNotFoundError(f"no Zarr store at {store}.")
    if require_complete and not is_complete(store, group):
        raise IncompleteGroupError(
            f"{store}{'/' + group if group else ''} is incomplete (its writer did not finish); "
            f"re-run the stage that writes it.")
    import rioxarray  # noqa: F401  (registers .rio on the result)

    ds = xr.open_zarr(store, group=group, consolidated=True, decode_coords="all")
    for var in ds.data_vars.values():
        var.attrs.pop("_CRS", None)
    # the storage encoding (Zarr v2 Blosc codecs, chunks) would follow the coordinates into
    # anything derived from them, and a plain to_zarr of a result into a new (v3) store or
    # netCDF then fails on the foreign codec: results are written with their own encoding
    return ds.drop_encoding()


def list_groups(store) -> list[str]:
    root = zarr.open_group(str(store), mode="r")
    return sorted(name for name, _ in root.groups())


def read_provenance(store, group: str | None = None) -> dict:
    attrs = dict(zarr.open_group(str(store), path=group or "", mode="r").attrs)
    out = {}
    for k, v in attrs.items():
        if k.startswith("provenance:"):
            try:
                out[k.split(":", 1)[1]] = json.loads(v)
            except (TypeError, ValueError):
                out[k.split(":", 1)[1]] = v
    return out
