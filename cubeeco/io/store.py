"""Zarr stores: one store per run, one group per stage, consolidated metadata.

Arrays are chunked for per-pixel temporal kernels (the whole time axis, a spatial
tile), written in Zarr format 2 with Blosc/zstd so that GDAL's Zarr driver reads
them too (each array carries ``_CRS`` for GDAL and ``grid_mapping`` for CF).
A group is complete only when its ``cubeeco:complete`` attribute is true; it is
set last, after every chunk is on disk.

A failing writer never destroys a good result: a group is written beside the store, in
``<store>.staging/<group>``, and replaces the store's group only once it is complete
(:func:`commit`): a ``<group>.commit`` marker is left in the staging folder, the old
group is moved aside, the new one moved in, the store's metadata consolidated again, the
old one and the marker deleted. A process killed between two of these steps leaves the old
or the new complete group; the next cubeeco call on the store (:func:`recover`, run by
every reader and writer here) finishes the replacement (a marker left behind: consolidate).
Only one process writes a store at a time (``<store>.lock``, :mod:`cubeeco.io.lock`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import xarray as xr
import zarr
from numcodecs import Blosc

from ..redact import redact_obj
from .lock import holds_lock, is_locked_by_other, store_lock

COMPLETE = "cubeeco:complete"
_ROOT = "_root"                       # staged name of a store written at its root (group=None)
_STAGING_MARK = ".cubeeco-staging"    # says a ``<store>.staging`` folder is ours
_OLD, _COMMIT = ".old", ".commit"     # staged suffixes: a group moved aside, a swap under way


class IncompleteGroupError(RuntimeError):
    """A group exists but its writer never finished."""


def _group_path(store, group: str | None) -> Path:
    return Path(store) / group if group else Path(store)


def is_zarr_store(path) -> bool:
    path = Path(path)
    return (path / ".zgroup").is_file() or (path / "zarr.json").is_file()


def check_target(store) -> None:
    """Refuse to turn anything but a Zarr store (or a new or empty folder) into one."""
    store = Path(store)
    if store.exists() and not store.is_dir():
        raise FileExistsError(f"{store} is a file, not a Zarr store; choose a folder path for "
                              f"the store.")
    if (store / "zarr.json").is_file() and not (store / ".zgroup").is_file():
        raise FileExistsError(f"{store} is a Zarr v3 store; cubeeco writes Zarr v2 stores "
                              f"(GDAL reads them): choose another path.")
    if store.is_dir() and not is_zarr_store(store) and any(store.iterdir()):
        raise FileExistsError(f"{store} is a non-empty folder that is not a Zarr store; cubeeco "
                              f"never writes into it. Choose a new path (e.g. "
                              f"{store / 'cubeeco.zarr'}).")


def staging_root(store) -> Path:
    return Path(os.fspath(Path(store)) + ".staging")   # Path() drops a trailing "/"


def staged_path(store, group: str | None) -> Path:
    """Where the next version of ``store/group`` is written until it is complete."""
    name = group.strip("/") if group else None
    if name is not None and ("/" in name or name == _ROOT or name.endswith((_OLD, _COMMIT))):
        raise ValueError(f"group {group!r}: a stored group is one name without '/', not "
                         f"{_ROOT!r} and not ending in {_OLD!r} or {_COMMIT!r} (cubeeco's "
                         f"staging names); choose another group name.")
    return staging_root(store) / (name or _ROOT)


def _open_staging(store) -> Path:
    root = staging_root(store)
    if root.exists() and not (root / _STAGING_MARK).exists():
        raise FileExistsError(f"{root} exists and was not made by cubeeco; move it away (cubeeco "
                              f"stages new groups of {store} there).")
    root.mkdir(parents=True, exist_ok=True)
    (root / _STAGING_MARK).touch()
    return root


def _attrs_complete(path: Path) -> bool:
    try:
        return bool(json.loads((path / ".zattrs").read_text()).get(COMPLETE, False))
    except (OSError, ValueError):
        return False


def is_complete(store, group: str | None = None) -> bool:
    store = Path(store)
    recover(store)
    try:
        g = zarr.open_group(str(store), path=group or "", mode="r", use_consolidated=False)
        attrs = g.attrs
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, KeyError, ValueError):
        return False
    return bool(attrs.get(COMPLETE, False))


def _sanitize_attrs(attrs: dict) -> None:
    """Zarr attributes must be JSON, and never carry a credential (query tokens, keys)."""
    for k, v in list(attrs.items()):
        if not isinstance(v, (str, int, float, bool, list, dict)):
            v = v.item() if isinstance(v, np.generic) else str(v)
        attrs[k] = redact_obj(v)


def prepare(ds: xr.Dataset, *, chunks: int = 512, crs=None) -> xr.Dataset:
    """Chunk (time whole, spatial tiles), add CF grid mapping and GDAL's ``_CRS``.

    ``crs``: the grid's CRS, used when ``ds`` lost its own on the way (an operation that
    drops coordinate attributes empties ``spatial_ref``)."""
    import rioxarray  # noqa: F401

    chunk_map = {d: (-1 if d not in ("y", "x") else min(chunks, ds.sizes[d])) for d in ds.dims}
    ds = ds.chunk(chunk_map)
    on_grid = {"y", "x"} <= set(ds.dims)
    crs = (ds.rio.crs or crs) if on_grid else None
    if crs is not None:
        from pyproj import CRS

        crs = CRS.from_user_input(crs)
        ds = ds.rio.write_crs(crs)
        wkt = crs.to_wkt()
        for var in ds.data_vars.values():
            if {"y", "x"} <= set(var.dims):
                var.attrs["grid_mapping"] = "spatial_ref"
                var.attrs["_CRS"] = {"wkt": wkt}
    if "x" in ds.coords and "y" in ds.coords:    # a global reduction's result has no grid
        ds["x"].attrs.update({"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"})
        ds["y"].attrs.update({"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"})
    ds.attrs.setdefault("Conventions", "CF-1.8")
    for attrs in [ds.attrs, *(v.attrs for v in ds.variables.values())]:
        _sanitize_attrs(attrs)
    return ds


def write_store(ds: xr.Dataset, store, group: str | None = None, *, provenance: dict | None = None,
                chunks: int = 512, compute: bool = True):
    """Write ``ds`` as ``store/group``; mark the group complete only after all data landed.

    The group is written beside the store and replaces an existing ``store/group`` only
    once complete, so a write that fails (a missing input, a killed process) leaves the
    previous group as it was. A non-empty folder that is not a Zarr store is refused.

    Returns the dask delayed object when ``compute=False`` (the group then replaces the
    old one when :func:`mark_complete` is called); the caller must then hold
    ``store_lock(store)`` until it has called :func:`mark_complete`.
    """
    store = Path(store)
    if not compute and not holds_lock(store):
        raise ValueError(f"write_store(..., compute=False) writes {store} after it returns: hold "
                         f"cubeeco.io.lock.store_lock({str(store)!r}) around the write and "
                         f"mark_complete, or pass compute=True.")
    check_target(store)
    ds = prepare(ds, chunks=chunks)
    if provenance:
        ds.attrs.update(provenance)
        _sanitize_attrs(ds.attrs)
    ds.attrs[COMPLETE] = False
    with store_lock(store):
        recover(store)
        target, where = stage(store, group)
        try:
            delayed = ds.to_zarr(target, group=where, mode="w", consolidated=False, zarr_format=2,
                                 encoding=encoding_for(ds), compute=compute)
        except Exception:
            discard_staged(store, group)   # the old group, if any, was never touched
            raise
        if compute:
            mark_complete(store, group)
            return None
    return delayed


def stage(store, group: str | None) -> tuple[Path, str | None]:
    """(store, group) arguments for ``to_zarr`` that write the staged version of ``store/group``."""
    path = staged_path(store, group)
    _open_staging(store)
    return (path.parent, path.name) if group else (path, None)


def encoding_for(ds: xr.Dataset) -> dict:
    """Blosc/zstd with bit-shuffle for every variable; NaN fill for floats."""
    compressor = Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE)
    encoding = {name: {"compressors": (compressor,)} for name in ds.data_vars}
    for name, var in ds.data_vars.items():
        if var.dtype.kind == "f":
            encoding[name]["_FillValue"] = np.nan
    return encoding


def mark_complete(store, group: str | None = None) -> None:
    """Set the completion marker, then (for a staged group) put it in place of the old one.

    In place (a group written directly into the store): consolidated metadata first, so a
    process killed right after the marker never leaves a complete group that consolidated
    readers cannot see.
    """
    store = Path(store)
    staged = staged_path(store, group)
    if staged.is_dir():
        with store_lock(store):
            g = zarr.open_group(str(staged), mode="a", use_consolidated=False)
            g.attrs[COMPLETE] = True     # from here on the staged group is committed
            commit(store, group)
        return
    zarr.consolidate_metadata(str(store))
    g = zarr.open_group(str(store), path=group or "", mode="a", use_consolidated=False)
    g.attrs[COMPLETE] = True
    zarr.consolidate_metadata(str(store))   # refreshes the marker in .zmetadata too


def commit(store, group: str | None) -> None:
    """Replace ``store/group`` with its complete staged version.

    Every step leaves a state :func:`recover` finishes: the staged group is complete
    before the first step, a ``<group>.commit`` marker is written before the swap (so a
    new group moved in but not yet in the consolidated metadata is seen), and the old
    group and the marker are deleted only after the new one is in place and the metadata
    consolidated.
    """
    store = Path(store)
    staged, target = staged_path(store, group), _group_path(store, group)
    old = staged.with_name(staged.name + _OLD)
    marker = staged.with_name(staged.name + _COMMIT)
    if group is None:
        zarr.consolidate_metadata(str(staged))   # a whole store moves in consolidated
    if old.exists():
        shutil.rmtree(old)                       # left by an earlier commit, after its swap
    if group is not None and not is_zarr_store(store):
        zarr.open_group(str(store), mode="a", zarr_format=2)   # a new (or empty) store's root
    marker.touch()
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    if group is not None:
        zarr.consolidate_metadata(str(store))
    shutil.rmtree(old, ignore_errors=True)
    marker.unlink(missing_ok=True)
    _tidy_staging(store)


def discard_staged(store, group: str | None) -> None:
    """Delete an unfinished staged version of ``store/group`` (ours by construction)."""
    store = Path(store)
    staged = staged_path(store, group)
    if staged.exists() and not _attrs_complete(staged):
        shutil.rmtree(staged)
    _tidy_staging(store)


def _tidy_staging(store) -> None:
    root = staging_root(store)
    if not root.is_dir() or not (root / _STAGING_MARK).exists():
        return
    if any(p.is_dir() or p.name.endswith(_COMMIT) for p in root.iterdir()):
        return     # a staged group, or a replacement recover() has still to finish
    for f in root.iterdir():    # .zgroup / .zattrs of the staging root, our marker
        f.unlink()
    with contextlib.suppress(OSError):
        root.rmdir()


def recover(store) -> None:
    """Finish a replacement a killed process left half done (a complete staged group, or an
    old group moved aside, a swap's marker); does nothing while another live process holds
    the store."""
    store = Path(store)
    root = staging_root(store)
    if not (root / _STAGING_MARK).exists():
        return
    pending = [p for p in root.iterdir()
               if (p.is_dir() and (p.name.endswith(_OLD) or _attrs_complete(p)))
               or (p.is_file() and p.name.endswith(_COMMIT))]
    if not pending or is_locked_by_other(store):
        return
    try:
        with store_lock(store):
            for p in pending:
                if p.is_dir() and not p.name.endswith(_OLD) and _attrs_complete(p):
                    commit(store, None if p.name == _ROOT else p.name)
            for p in pending:
                # the new group is in place (or the old one still is): consolidate, then
                # the old one and the marker go
                if p.exists() and p.name.endswith((_OLD, _COMMIT)):
                    if p.name not in (_ROOT + _OLD, _ROOT + _COMMIT):
                        zarr.consolidate_metadata(str(store))
                    if p.is_dir():
                        shutil.rmtree(p)
                    else:
                        p.unlink(missing_ok=True)
            _tidy_staging(store)
    except (OSError, RuntimeError):
        return    # a read-only store, or the writer came back: readers still see a complete group


def open_store(store, group: str | None = None, *, require_complete: bool = True) -> xr.Dataset:
    """Open a stored group lazily; refuse a group whose writer never finished."""
    store = Path(store)
    if not Path(store).exists() and not staged_path(store, group).exists():
        raise FileNotFoundError(f"no Zarr store at {store}.")
    if require_complete and not is_complete(store, group):
        if group and Path(store).exists() and not _group_path(store, group).exists() \
                and not staged_path(store, group).exists():
            raise FileNotFoundError(f"{store} has no group '{group}' "
                                    f"(groups: {', '.join(list_groups(store)) or 'none'}).")
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
    store = Path(store)
    recover(store)
    root = zarr.open_group(str(store), mode="r")
    return sorted(name for name, _ in root.groups())


def read_provenance(store, group: str | None = None) -> dict:
    store = Path(store)
    recover(store)
    attrs = dict(zarr.open_group(str(store), path=group or "", mode="r").attrs)
    out = {}
    for k, v in attrs.items():
        if k.startswith("provenance:"):
            try:
                out[k.split(":", 1)[1]] = json.loads(v)
            except (TypeError, ValueError):
                out[k.split(":", 1)[1]] = v
    return out
