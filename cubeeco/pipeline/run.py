"""Run a validated config: stages in dependency order, each written region by region.

Resumability: a stage's group is created (metadata and coordinates) before any
data, then every region (``region_chunks`` x ``region_chunks`` Zarr chunks) is
computed and written on its own; a marker file for the region is written only after
its write returned.  A killed run therefore re-computes exactly the regions without
a marker (a half-written chunk never has one), and a stage whose group is complete
with the same fingerprint (stage version, parameters, grid, inputs) is skipped.

A stage is written into its staged group (``<store>.staging/<group>``, see
:mod:`cubeeco.io.store`) and replaces the store's group only once complete, so a re-run
with a new fingerprint keeps the previous complete group readable until the new one is
done. One run at a time holds the store (``<store>.lock``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr
import zarr
from tqdm.auto import tqdm

from .._signals import sigterm_unwinds
from ..io.grid import Grid
from ..io.lock import store_lock
from ..io.provenance import provenance
from ..io.store import (
    COMPLETE,
    check_target,
    discard_staged,
    encoding_for,
    is_complete,
    mark_complete,
    open_store,
    prepare,
    stage,
    staged_path,
)
from ..io.tables import (
    check_table_names,
    check_tables,
    export_csv,
    prune_csv,
    tables_of,
    write_tables,
)
from ..redact import redact, redact_obj
from .config import RunConfig
from .stages import REDUCED, STAGES, Outputs, execution_order

log = logging.getLogger(__name__)
FINGERPRINT = "cubeeco:fingerprint"


@dataclass
class Context:
    """What a stage sees: the grid, the data source, and the groups already written."""

    config: RunConfig
    grid: Grid
    source: object
    store: Path
    items: list = field(default_factory=list)
    reduced: xr.Dataset | None = None    # the stage's global reduction, computed once (in memory)
    client: object = None                 # the run's distributed Client, or None (threads)
    stage: str = ""                       # the stage this context serves

    @property
    def years(self):
        return tuple(self.config.years) if self.config.years else None

    @property
    def chunks(self) -> int:
        return self.config.chunks

    def open(self, group: str) -> xr.Dataset:
        """A stored group, lazily, with the grid's CRS (a group written without one gets it)."""
        ds = open_store(self.store_of(group), group)
        if {"y", "x"} <= set(ds.dims) and ds.rio.crs is None:
            ds = ds.rio.write_crs(self.grid.crs)
        return ds

    def store_of(self, group: str) -> Path:
        """The run's store, or the external store the config names for ``group``."""
        where = self.config.inputs.get(group)
        return self.config.path(where) if where else self.store

    def record_items(self, items) -> None:
        self.items.extend(items)

    def zones(self, name: str):
        """The zone layer ``name`` (``zones:`` in the config) as a GeoDataFrame in the grid's CRS."""
        import geopandas as gpd

        from .config import ConfigError

        if self.stage and name not in STAGES[self.stage].zones:
            # an undeclared layer would not be in the stage's fingerprint
            raise ValueError(f"stage {self.stage!r} reads the zone layer {name!r} but does not declare "
                             f"it: add zones=({name!r},) to its @stage(...).")
        path = self.config.zone_paths().get(name)
        if path is None or not path.exists():
            raise ConfigError(f"zones.{name}: {path or 'not configured'} does not exist; give the "
                              f"path of a vector file.")
        return gpd.read_file(path).to_crs(self.grid.crs)


@dataclass
class StageReport:
    stage: str
    action: str              # computed | resumed | skipped | external
    seconds: float
    regions: int
    regions_already_done: int
    tables: list = field(default_factory=list)   # the tables it wrote
    reduce: bool | None = None                   # its global reduction: computed (True), read back (False)


def _fingerprint(config: RunConfig, name: str, inputs: dict, grid: Grid, *, part: str = "stage") -> str:
    params = config.step_params(name) if part == "stage" else reduce_params(name, config.step_params(name))
    payload = {"stage": name, "version": STAGES[name].version, "params": params, "part": part,
               "grid": grid.to_dict(), "years": config.years,
               # a token in the source URL expires and changes; the data it reaches does not
               "source": redact(str(config.source)),
               "chunks": config.chunks, "inputs": inputs, "zones": _zones_digest(config, name)}
    files = _files_digest(config, name)
    if files:  # only stages with file parameters: every other fingerprint stays as it was
        payload["files"] = files
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def reduce_params(name: str, params: dict) -> dict:
    """The parameters a stage's reduce step takes (by its signature): only they decide
    whether a stored reduction still holds (a per-region option does not)."""
    import inspect

    sig = inspect.signature(STAGES[name].reduce)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return params
    return {k: v for k, v in params.items() if k in sig.parameters}


def _zones_digest(config: RunConfig, name: str) -> dict:
    """The content of the zone files a stage reads (an edited mine boundary changes its result)."""
    out = {}
    for zone in STAGES[name].zones:
        digest = hashlib.sha256()
        for f in _layer_files(config.zone_paths()[zone]):
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
        out[zone] = digest.hexdigest()[:16]
    return out


def _files_digest(config: RunConfig, name: str) -> dict:
    """The content of the files a stage's parameters name (a pools table edited in place
    changes the result, not the parameter)."""
    out = {}
    params = config.step_params(name)
    for key, spec in STAGES[name].specs.items():
        value = params.get(key)
        if spec.file and isinstance(value, str) and config.path(value).is_file():
            out[key] = hashlib.sha256(config.path(value).read_bytes()).hexdigest()[:16]
    return out


def _layer_files(path: Path) -> list[Path]:
    """Every file a vector layer is made of: a shapefile's .dbf, .prj, ... beside its .shp,
    a folder's (FileGDB) files."""
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.is_file())
    if not path.exists():
        return []
    if path.suffix.lower() == ".shp":
        return sorted(f for f in path.parent.glob(path.stem + ".*") if f.is_file())
    return [path]


def _group_fingerprint(store: Path, group: str | None) -> str | None:
    try:
        g = zarr.open_group(str(store), path=group or "", mode="r", use_consolidated=False)
        return g.attrs.get(FINGERPRINT)
    except Exception:  # noqa: BLE001  (absent or unreadable group: nothing to reuse)
        return None


def _external_fingerprint(config: RunConfig, name: str) -> str:
    """Fingerprint of a group taken from another store (``inputs:``), which must be complete."""
    from .config import ConfigError

    where = config.path(config.inputs[name])
    if not is_complete(where, name):
        raise ConfigError(f"inputs.{name}: {where} has no complete '{name}' group "
                          f"(a group is complete once its writer marked it so).")
    # a group a cubeeco run wrote is identified by its own fingerprint; any other by its
    # attributes and the newest file in it (rewriting the group changes that)
    own = _group_fingerprint(where, name)
    attrs = dict(zarr.open_group(str(where), path=name, mode="r", use_consolidated=False).attrs)
    newest = None
    if own is None:
        newest = max((f.stat().st_mtime_ns for f in (where / name).rglob("*") if f.is_file()), default=0)
    payload = {"path": str(where.resolve()), "fingerprint": own, "attrs": attrs, "newest_file": newest}
    return "external:" + hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def region_slices(shape: tuple[int, int], chunk: int, per_region: int):
    """(name, y slice, x slice) of each unit of resumption on a (ny, nx) grid."""
    step = chunk * per_region
    ny, nx = shape
    for y0 in range(0, ny, step):
        for x0 in range(0, nx, step):
            yield f"r{y0 // step:04d}_{x0 // step:04d}", slice(y0, min(y0 + step, ny)), slice(x0, min(x0 + step, nx))


class _Progress:
    """Region markers in ``<store>.progress/<group>/`` (outside the Zarr hierarchy)."""

    def __init__(self, store: Path, group: str, fingerprint: str):
        self.dir = Path(str(store) + ".progress") / group
        self.fingerprint = fingerprint

    def _check_ours(self):
        """The folder holds only what a tracker writes; anything else is not ours to delete."""
        if self.dir.parent.exists() and not self.dir.parent.is_dir():
            raise FileExistsError(f"{self.dir.parent} is a file; cubeeco keeps a run's progress "
                                  f"there: move it away.")
        if not self.dir.is_dir():
            if self.dir.exists():
                raise FileExistsError(f"{self.dir} is a file, not cubeeco's progress folder: "
                                      f"move it away.")
            return
        foreign = [p.name for p in self.dir.iterdir()
                   if not (p.is_file() and (p.name in ("fingerprint", "fingerprint.tmp")
                                            or p.name.startswith("r") and "_" in p.name))]
        if foreign:
            raise FileExistsError(f"{self.dir} holds files cubeeco did not write "
                                  f"({', '.join(sorted(foreign)[:5])}); move them away.")

    def reset(self):
        self._check_ours()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self._atomic_write(self.dir / "fingerprint", self.fingerprint)

    def valid(self) -> bool:
        f = self.dir / "fingerprint"
        return f.exists() and f.read_text() == self.fingerprint

    def done(self) -> set[str]:
        return {p.name for p in self.dir.glob("r*_*")} if self.dir.exists() else set()

    def mark(self, region: str):
        self._atomic_write(self.dir / region, "")

    def clear(self):
        self._check_ours()
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.dir.parent.rmdir()   # only if no other stage is in progress

    @staticmethod
    def _atomic_write(path: Path, text: str):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


def _check_raster_result(ds, group: str) -> None:
    """A raster stage returns a Dataset whose every variable lies on the grid (``y``, ``x``):
    anything else would be written as all-NaN or not at all, and the group marked complete."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"stage {group!r} returned a {type(ds).__name__}; a raster stage returns an "
                        f"xarray Dataset on the run's grid (dims y, x).")
    if not {"y", "x"} <= set(ds.dims):
        raise TypeError(f"stage {group!r} returned a Dataset without the grid dimensions y and x "
                        f"(dims {sorted(map(str, ds.dims))}); a raster stage returns data on the run's grid.")
    off_grid = sorted(str(v) for v in ds.data_vars if not {"y", "x"} <= set(ds[v].dims))
    if off_grid:
        raise TypeError(f"stage {group!r} returned variable(s) {off_grid} without the grid "
                        f"dimensions y and x; a raster stage writes only variables on the grid "
                        f"(put tables and per-class values in attrs or a table stage).")


def write_resumable(ds: xr.Dataset, store: Path, group: str, *, fingerprint: str, chunks: int,
                    region_chunks: int, attrs: dict, client=None, progress: bool = True,
                    tables: dict | None = None, crs=None) -> tuple[int, int]:
    """Write ``ds`` as ``store/group`` region by region; returns (regions, already done).

    The regions go into the staged group, which replaces ``store/group`` once complete;
    ``tables`` ({name: DataFrame}) are written into it last, before it is committed.
    """
    _check_raster_result(ds, group)
    ds = prepare(ds, chunks=chunks, crs=crs)
    ds.attrs.update(redact_obj(attrs))
    ds.attrs[FINGERPRINT] = fingerprint
    ds.attrs[COMPLETE] = False
    tracker = _Progress(store, group, fingerprint)
    staged = staged_path(store, group)
    target, where = stage(store, group)
    resuming = _group_fingerprint(staged, None) == fingerprint and tracker.valid()
    if not resuming:
        ds.to_zarr(target, group=where, mode="w", compute=False, consolidated=False, zarr_format=2,
                   encoding=encoding_for(ds))
        tracker.reset()
    done = tracker.done()
    spatial = [v for v in ds.data_vars if {"y", "x"} <= set(ds[v].dims)]
    data = ds[spatial].drop_vars([c for c in ds.coords if not {"y", "x"} & set(ds[c].dims)])
    data = data.drop_vars([c for c in data.coords if c not in ("y", "x")] , errors="ignore")
    for v in data.variables.values():
        v.attrs = {}
        v.encoding = {}
    regions = list(region_slices((ds.sizes["y"], ds.sizes["x"]), chunks, region_chunks))
    todo = [r for r in regions if r[0] not in done]
    bar = tqdm(total=len(regions), initial=len(regions) - len(todo), desc=group, unit="region",
               disable=not progress)
    writes = {name: data.isel(y=ys, x=xs).to_zarr(target, group=where, region={"y": ys, "x": xs},
                                                     compute=False, consolidated=False, zarr_format=2)
              for name, ys, xs in todo}
    if client is not None:
        from distributed import as_completed

        futures = {client.compute(w, retries=2): name for name, w in writes.items()}
        for fut in as_completed(futures):
            fut.result()
            tracker.mark(futures[fut])
            bar.update()
    else:
        import dask

        for name, w in writes.items():
            dask.compute(w)
            tracker.mark(name)
            bar.update()
    bar.close()
    if tables:
        write_tables(target, where, tables)
    mark_complete(store, group)
    tracker.clear()
    return len(regions), len(regions) - len(todo)


def write_table_group(store: Path, group: str, tables: dict, *, fingerprint: str, attrs: dict) -> None:
    """Write a table-only stage's group (staged, then committed): no regions, one unit."""
    target, where = stage(store, group)
    g = zarr.open_group(str(target), path=where, mode="w", zarr_format=2)
    g.attrs.update({**redact_obj(attrs), FINGERPRINT: fingerprint, COMPLETE: False})
    write_tables(target, where, tables)
    mark_complete(store, group)


def _compute(obj, client):
    """Compute on the run's cluster (or the threaded scheduler)."""
    return client.compute(obj, retries=2).result() if client is not None else obj.compute()


_READY = "cubeeco:reduce_ready"    # a staged reduction, computed whole, waiting for its stage


def run_reduce(config: RunConfig, name: str, ctx: Context, fingerprint: str, client, log_path: Path) -> tuple[xr.Dataset, bool]:
    """The stage's global reduction, computed once over the whole area; returns (result, computed).

    It is read back when stored with this fingerprint: in the store (``<stage>.reduced``),
    or staged by a run that was killed before its stage was complete. A new one is staged
    (``<store>.staging/<stage>.reduced``) and committed by :func:`commit_reduce` only once
    the stage itself is, so a run that fails leaves the previous reduction beside the
    previous stage, never a new reduction beside an old stage.
    """
    group = name + REDUCED
    if is_complete(ctx.store, group) and _group_fingerprint(ctx.store, group) == fingerprint:
        return open_store(ctx.store, group).load(), False
    staged = staged_path(ctx.store, group)
    if _staged_reduction(staged, fingerprint):
        return xr.open_zarr(staged, consolidated=False).load(), False
    with _warnings_to_log(log_path, group):
        result = STAGES[name].reduce(ctx, **reduce_params(name, config.step_params(name)))
    if not isinstance(result, xr.Dataset):
        raise TypeError(f"the reduce step of stage {name!r} returned a {type(result).__name__}; it "
                        f"returns an xarray Dataset (small: bounds, percentiles, a matrix).")
    result = prepare(_compute(result, client))
    result.attrs.update(provenance(config={"run": config.name, "stage": name, "reduce": True}))
    result.attrs.update({FINGERPRINT: fingerprint, COMPLETE: False})
    target, where = stage(ctx.store, group)
    result.to_zarr(target, group=where, mode="w", consolidated=False, zarr_format=2,
                   encoding=encoding_for(result))
    zarr.open_group(str(staged), mode="a", use_consolidated=False).attrs[_READY] = True
    return xr.open_zarr(staged, consolidated=False).load(), True


def _staged_reduction(staged: Path, fingerprint: str) -> bool:
    try:
        attrs = zarr.open_group(str(staged), mode="r", use_consolidated=False).attrs
    except Exception:  # noqa: BLE001  (none staged)
        return False
    return attrs.get(FINGERPRINT) == fingerprint and bool(attrs.get(_READY))


def commit_reduce(config: RunConfig, name: str, fingerprint: str, ctx: Context, client, log_path: Path) -> None:
    """Put the stage's staged reduction in the store once the stage is complete; a stored
    reduction that does not belong to the stored stage (a run killed between the two
    commits) is made again."""
    group = name + REDUCED
    if is_complete(ctx.store, group) and _group_fingerprint(ctx.store, group) == fingerprint:
        return
    if not _staged_reduction(staged_path(ctx.store, group), fingerprint):
        run_reduce(config, name, ctx, fingerprint, client, log_path)
    mark_complete(ctx.store, group)


def _check_table_names(store: Path, name: str, tables: dict, ds) -> None:
    """A table name is one table in the store, and never a variable of its stage's raster."""
    if ds is not None:
        clash = sorted(set(tables) & {str(v) for v in ds.variables})
        if clash:
            raise ValueError(f"stage {name!r}: table name(s) {clash} are also variables or coordinates "
                             f"of its raster; name the tables differently.")
    check_table_names(store, name, tables)


def _split_outputs(result, st, name: str):
    """(raster Dataset or None, tables dict) from what the stage returned, as it declared."""
    if st.output == "raster+table":
        if not isinstance(result, Outputs):
            raise TypeError(f"stage {name!r} declares output 'raster+table' but returned a "
                            f"{type(result).__name__}; return cubeeco.pipeline.stages.Outputs(raster=, tables=).")
        return result.raster, check_tables(result.tables, name)
    if st.output == "table":
        if isinstance(result, xr.Dataset):
            raise TypeError(f"stage {name!r} declares output 'table' but returned a Dataset; return a "
                            f"pandas DataFrame (or a dict of them), or declare output='raster+table'.")
        return None, check_tables(result, name)
    if isinstance(result, pd.DataFrame):
        raise TypeError(f"stage {name!r} returned a DataFrame but declares output 'raster'; declare "
                        f"output='table' to store it as a table.")
    return result, {}


def resolve_grid_and_source(config: RunConfig, progress: bool) -> tuple[Grid, object]:
    source = config.source
    grid = Grid(config.grid.epsg, config.grid.resolution, tuple(config.grid.bounds)) if config.grid else None
    if config.synth is not None:
        from ..synth import preset, synthesize

        synth_cfg = preset(config.synth.preset, **config.synth.overrides)
        result = synthesize(synth_cfg, config.path(config.synth.out), progress=progress)
        source = source or str(result.root)
        grid = grid or synth_cfg.grid
    if source is not None and not str(source).startswith(("http://", "https://")) and str(source) not in (
            "embedded", "planetary-computer", "earth-search"):
        source = str(config.path(source))
    return grid, source


def _log_event(log_path: Path, **record) -> None:
    record = redact_obj({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record})
    with open(log_path, "a") as f:
        f.write(json.dumps(record, default=lambda v: redact(str(v))) + "\n")


@contextlib.contextmanager
def _performance_report(path: Path, log_path: Path):
    """dask's performance report around the run; a report that cannot be made (bokeh
    missing, a scheduler that refuses) is a warning in the log, never a failed run."""
    try:
        from distributed import performance_report

        report = performance_report(filename=str(path))
        report.__enter__()
    except Exception as err:  # noqa: BLE001  (diagnostics only)
        log.warning("no performance report: %s", err)
        _log_event(log_path, event="warning", message=f"no performance report: {err}")
        yield
        return
    try:
        yield
    finally:
        try:
            report.__exit__(None, None, None)
        except Exception as err:  # noqa: BLE001  (diagnostics only)
            log.warning("performance report %s not written: %s", path, err)
            _log_event(log_path, event="warning", message=f"performance report not written: {err}")


@contextlib.contextmanager
def _warnings_to_log(log_path: Path, stage: str):
    """Warnings raised while a stage builds its graph (a band some scenes lack, a skipped
    scene) go to the run log as well as to the user."""
    import warnings

    from ..redact import redact

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        _log_event(log_path, event="warning", stage=stage, category=w.category.__name__,
                   message=redact(str(w.message)))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _run_stage(config, name, fp, inputs, grid, source, store, client, log_path, progress, t0) -> StageReport:
    st = STAGES[name]
    ctx = Context(config, grid, source, store, client=client, stage=name)
    reduce_computed = None
    if st.reduce is not None:
        # its own fingerprint: the stage's (same parameters, grid, inputs), marked as the reduction
        fp_reduce = _fingerprint(config, name, inputs, grid, part="reduce")
        ctx.reduced, reduce_computed = run_reduce(config, name, ctx, fp_reduce, client, log_path)
    with _warnings_to_log(log_path, name):
        result = st.func(ctx, **config.step_params(name))
    ds, tables = _split_outputs(result, st, name)
    _check_table_names(store, name, tables, ds)
    attrs = provenance(items=ctx.items, config={"run": config.name, "stage": name,
                                                  "params": config.step_params(name)})
    if ds is not None:
        n, before = write_resumable(ds, store, name, fingerprint=fp, chunks=config.chunks,
                                    region_chunks=config.region_chunks, attrs=attrs, client=client,
                                    progress=progress, tables=tables, crs=grid.crs)
    else:
        write_table_group(store, name, tables, fingerprint=fp, attrs=attrs)
        _Progress(store, name, fp).clear()    # a raster version of the stage, killed, left some
        n, before = 0, 0
    if st.reduce is not None:
        commit_reduce(config, name, fp_reduce, ctx, client, log_path)
    return StageReport(name, "resumed" if before else "computed", round(time.perf_counter() - t0, 2), n,
                       before, tables=sorted(tables), reduce=reduce_computed)


def run(config: RunConfig, *, client=None, progress: bool = True) -> list[StageReport]:
    """Run every step of ``config`` (and the stages they need); skip finished ones."""
    from ..cluster import connect

    store = config.path(config.store)
    check_target(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    log_path = Path(str(store) + ".log.jsonl")
    reports: list[StageReport] = []
    with contextlib.ExitStack() as stack:
        # SIGTERM (kill, a pod deletion, a walltime) unwinds: the lock is released, staging
        # stays consistent
        stack.enter_context(sigterm_unwinds())
        # before anything is computed: a second run on the store refuses, naming the first
        with _warnings_to_log(log_path, "lock"):    # a stale lock taken over says so in the log
            stack.enter_context(store_lock(store))
        grid, source = resolve_grid_and_source(config, progress)
        if client is None:
            client = stack.enter_context(connect(config.cluster, base_dir=config.base_dir))
        if client is not None and config.cluster.performance_report:
            stack.enter_context(_performance_report(Path(str(store) + ".performance.html"), log_path))
        fingerprints: dict[str, str] = {}
        for name in execution_order(config.steps, external=set(config.inputs)):
            t0 = time.perf_counter()
            inputs = {} if name in config.inputs else {i: fingerprints[i] for i in STAGES[name].inputs}
            if name in config.inputs:
                fp = _external_fingerprint(config, name)
            else:
                fp = _fingerprint(config, name, inputs, grid)
            fingerprints[name] = fp
            if name in config.inputs:
                report = StageReport(name, "external", 0.0, 0, 0)
            elif is_complete(store, name) and _group_fingerprint(store, name) == fp:
                report = StageReport(name, "skipped", 0.0, 0, 0)
                # a half-written version for other parameters is no longer wanted
                if _group_fingerprint(staged_path(store, name), None) not in (None, fp):
                    discard_staged(store, name)
                _Progress(store, name, fp).clear()
                if STAGES[name].reduce is not None:
                    ctx = Context(config, grid, source, store, client=client, stage=name)
                    commit_reduce(config, name, _fingerprint(config, name, inputs, grid, part="reduce"),
                                  ctx, client, log_path)
            else:
                report = _run_stage(config, name, fp, inputs, grid, source, store, client, log_path, progress, t0)
            if STAGES[name].makes_tables and name not in config.inputs:
                export_csv(store, tables_of(store, name))     # CSV beside the store, also when skipped
            reports.append(report)
            _log_event(log_path, run=config.name, **report.__dict__)
            log.info("stage %s: %s in %.1f s", name, report.action, report.seconds)
        prune_csv(store)      # a table the store no longer holds has no CSV either
    return reports
