"""The run configuration: a YAML file validated into frozen dataclasses.

Unknown keys, duplicate keys, wrong types and unusable values (``grid:``, ``years:``,
every stage's ``params:``, see ``stages.check_params``) are rejected with a message
naming the key path (``cluster.n_workers: expected int, got str``), before anything
is computed.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CLUSTER_KINDS = ("threads", "local", "scheduler", "slurm", "pbs", "gateway")


class ConfigError(ValueError):
    """The run configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class ClusterConfig:
    kind: str = "local"                 # threads | local | scheduler | slurm | pbs | gateway
    n_workers: int = 2                  # local workers, or jobqueue jobs / gateway workers
    threads_per_worker: int = 1
    memory_limit: str = "4GiB"          # per worker
    address: str | None = None          # scheduler or gateway address
    jobqueue: dict = field(default_factory=dict)   # passed to dask-jobqueue's SLURMCluster / PBSCluster
    gateway: dict = field(default_factory=dict)    # auth / cluster options for dask-gateway
    tls: dict = field(default_factory=dict)        # {ca_file, cert, key} or {enabled: bool}; cubeeco/cluster.py
    performance_report: bool = True

    def __post_init__(self):
        if self.kind not in CLUSTER_KINDS:
            raise ConfigError(f"cluster.kind: {self.kind!r} is not one of {CLUSTER_KINDS}.")
        if self.kind in ("scheduler", "gateway") and not self.address:
            raise ConfigError(f"cluster.address: required for cluster.kind {self.kind!r} (e.g. tcp://127.0.0.1:8786).")
        for key in ("n_workers", "threads_per_worker"):
            if getattr(self, key) < 1:
                raise ConfigError(f"cluster.{key}: must be at least 1, got {getattr(self, key)}.")
        _check_memory(self.memory_limit, "cluster.memory_limit")
        from ..cluster import tls_config_problem

        if problem := tls_config_problem(self.kind, self.tls):
            raise ConfigError(problem)


@dataclass(frozen=True)
class GridConfig:
    epsg: int
    resolution: float
    bounds: list

    def __post_init__(self):     # grid.epsg is looked up last (RunConfig), after the cheap checks
        if not (math.isfinite(self.resolution) and self.resolution > 0):
            raise ConfigError(f"grid.resolution: expected a positive number of metres (e.g. 30), "
                              f"got {self.resolution!r}.")
        b = self.bounds
        if len(b) != 4 or not all(_is_number(v) and math.isfinite(v) for v in b):
            raise ConfigError(f"grid.bounds: expected [minx, miny, maxx, maxy], four finite numbers "
                              f"in the units of grid.epsg, got {b!r}.")
        if not (b[2] > b[0] and b[3] > b[1]):
            raise ConfigError(f"grid.bounds: expected [minx, miny, maxx, maxy] with maxx > minx and "
                              f"maxy > miny, got {b!r}.")
        for name, span in (("width", b[2] - b[0]), ("height", b[3] - b[1])):
            cells = span / self.resolution
            if abs(cells - round(cells)) > 1e-6:
                raise ConfigError(f"grid.bounds: the {name} {span:g} is not a whole number of "
                                  f"grid.resolution {self.resolution:g} pixels; move maxx/maxy to a "
                                  f"multiple of {self.resolution:g} from minx/miny.")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_epsg(epsg: int, where: str) -> None:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_epsg(epsg)
    except CRSError:
        raise ConfigError(f"{where}: {epsg} is not an EPSG code (e.g. 32649 for UTM zone 49N).") from None


def _check_memory(value: str, where: str) -> None:
    from dask.utils import parse_bytes

    try:
        ok = value == "auto" or parse_bytes(value) > 0
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise ConfigError(f"{where}: {value!r} is not an amount of memory; write e.g. 4GiB or 500MB.")


@dataclass(frozen=True)
class SynthSection:
    preset: str = "demo"
    out: str = "data"                   # relative to the config file's folder
    overrides: dict = field(default_factory=dict)

    def __post_init__(self):
        from ..synth.config import PRESETS, SynthConfig

        if not self.out.strip():
            raise ConfigError("synth.out: expected a folder for the synthetic base (e.g. data), got ''.")
        if self.preset not in PRESETS:
            raise ConfigError(f"synth.preset: {self.preset!r} is not one of {sorted(PRESETS)}.")
        known = {f.name for f in dataclasses.fields(SynthConfig)}
        unknown = sorted(set(self.overrides) - known)
        if unknown:
            raise ConfigError(f"synth.overrides.{unknown[0]}: unknown key; known keys here: {sorted(known)}.")
        try:
            dataclasses.replace(PRESETS[self.preset], **self.overrides)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"synth.overrides: {err}") from None


@dataclass(frozen=True)
class RunConfig:
    name: str
    store: str                          # Zarr store (relative to the config file's folder)
    steps: list
    source: str | None = None           # None: the synth section's catalog, or the embedded default
    synth: SynthSection | None = None
    grid: GridConfig | None = None
    years: list | None = None
    params: dict = field(default_factory=dict)     # step name -> parameters
    inputs: dict = field(default_factory=dict)     # stage name -> a Zarr store already holding that group
    zones: dict = field(default_factory=dict)      # zone layer name -> vector file (e.g. mines: mines.geojson)
    report: str | None = None           # the HTML report; None: report.html beside the store
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    chunks: int = 512                   # spatial chunk of every stored array
    region_chunks: int = 2              # regions are region_chunks x region_chunks chunks
    base_dir: str = "."                 # set from the config file location

    def __post_init__(self):
        from .stages import STAGES, check_params

        if not self.name.strip():
            raise ConfigError("name: expected a non-empty name for the run, got ''.")
        if not self.store.strip():
            raise ConfigError("store: expected the path of the run's Zarr store (e.g. out/run.zarr), got ''.")
        if self.source is not None and not self.source.strip():
            raise ConfigError("source: expected a catalog path, a STAC API URL or an endpoint name "
                              "(or leave source out), got ''.")
        if not self.steps:
            raise ConfigError("steps: list at least one step.")
        if not all(isinstance(s, str) for s in self.steps):
            raise ConfigError(f"steps: expected a list of step names, got {self.steps!r}.")
        unknown = [s for s in self.steps if s not in STAGES]
        if unknown:
            raise ConfigError(f"steps: unknown step(s) {unknown}; known steps: {sorted(STAGES)}.")
        for step, p in self.params.items():
            if step not in STAGES:
                raise ConfigError(f"params.{step}: no such step; known steps: {sorted(STAGES)}.")
            if not isinstance(p, dict):
                raise ConfigError(f"params.{step}: expected a mapping of parameters.")
            bad = set(p) - set(STAGES[step].params)
            if bad:
                raise ConfigError(f"params.{step}: unknown parameter(s) {sorted(bad)}; "
                                  f"known: {sorted(STAGES[step].params)}.")
        for name, where in self.inputs.items():
            if name not in STAGES:
                raise ConfigError(f"inputs.{name}: no such stage; known stages: {sorted(STAGES)}.")
            if not isinstance(where, str) or not where.strip():
                raise ConfigError(f"inputs.{name}: expected the path of a Zarr store, got {where!r}.")
        for name, where in self.zones.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ConfigError(f"zones.{name}: a zone layer name is an identifier (e.g. mines).")
            if not isinstance(where, str) or not where.strip():
                raise ConfigError(f"zones.{name}: expected the path of a vector file (GeoJSON, "
                                  f"GeoPackage, shapefile), got {where!r}.")
        if self.report is not None and not self.report.strip():
            raise ConfigError("report: expected the path of the HTML report (or leave report out), got ''.")
        if self.years is not None and (len(self.years) != 2 or not all(
                isinstance(y, int) and not isinstance(y, bool) for y in self.years)):
            raise ConfigError(f"years: expected [first, last], two whole years (e.g. [2000, 2024]), "
                              f"got {self.years!r}.")
        if self.years is not None and self.years[0] > self.years[1]:
            raise ConfigError(f"years: the first year {self.years[0]} is after the last {self.years[1]}; "
                              f"write [first, last].")
        if self.chunks < 16 or self.region_chunks < 1:
            raise ConfigError("chunks must be >= 16 and region_chunks >= 1.")
        if self.synth is None and self.grid is None:
            # source: alone gives no grid (the stages need one), and searching a whole collection is no way to get one
            raise ConfigError("grid: required unless synth: is given (the run needs its analysis grid); add "
                              "grid: {epsg, resolution, bounds}, e.g. grid: {epsg: 32649, resolution: 30, "
                              "bounds: [minx, miny, maxx, maxy]}.")
        check_params(self)
        self._check_zones()
        if self.grid is not None:
            _check_epsg(self.grid.epsg, "grid.epsg")

    def _check_zones(self) -> None:
        from .stages import STAGES, execution_order

        for name, where in self.zones.items():
            path = self.path(where)
            if not path.exists():
                raise ConfigError(f"zones.{name}: {path} does not exist; give the path of a vector file "
                                  f"(GeoJSON, GeoPackage, shapefile).")

        for name in execution_order(self.steps, external=set(self.inputs)):
            if name in self.inputs:
                continue
            for zone in STAGES[name].zones:
                if zone not in self.zone_paths():
                    raise ConfigError(f"zones.{zone}: the stage {name} reads the zone layer {zone!r}; "
                                      f"add zones: {{{zone}: path/to/{zone}.geojson}}.")

    def zone_paths(self) -> dict[str, Path]:
        """Zone layer name -> file; a synthetic base brings its mines."""
        out = {}
        if self.synth is not None:
            out["mines"] = self.path(self.synth.out) / "vectors" / "mines.geojson"
        out.update({k: self.path(v) for k, v in self.zones.items()})
        return out

    def report_path(self) -> Path:
        return self.path(self.report) if self.report else self.path(self.store).parent / "report.html"

    def path(self, p: str) -> Path:
        p = Path(p).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    def step_params(self, step: str) -> dict:
        from .stages import STAGES

        return {**STAGES[step].params, **self.params.get(step, {})}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("base_dir")
        return d


def _check(value, annotation, where: str):
    """Validate ``value`` against a (simple) type annotation; build nested dataclasses."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check(value, inner[0], where)
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, where)
    expected = origin or annotation
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {expected.__name__}, got bool.")
    if not isinstance(value, expected):
        raise ConfigError(f"{where}: expected {expected.__name__}, got {type(value).__name__} ({value!r}).")
    return value


def _build(cls, data, where: str = ""):
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields) - {"base_dir"}
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{prefix}{sorted(unknown)[0]}: unknown key; known keys here: {sorted(set(fields) - {'base_dir'})}.")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _check(value, hints[name], f"{where}.{name}" if where else name)
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where or 'config'}: missing required key(s) {missing}.")
    return cls(**kwargs)


def parse_config(data: dict, base_dir: str | Path = ".") -> RunConfig:
    # base_dir goes in with the rest: the checks (a pools file named in params) resolve paths against it
    if isinstance(data, dict):
        data = {**data, "base_dir": str(Path(base_dir).resolve())}
    return _build(RunConfig, data)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in a mapping is an error
    (PyYAML keeps the last silently, so a typo'd override would go unnoticed)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":   # `<<: *defaults` may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise ConfigError(f"line {line}: duplicate key {key!r} (first given on line "
                                      f"{seen[key]}); keep one of them.")
            except TypeError:          # an unhashable key: PyYAML's own error says so
                break
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> RunConfig:
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.y*ml"))
        hint = f" (it holds {', '.join(found)})" if found else ""
        raise ConfigError(f"{path} is a folder; give the path of a YAML config file{hint}.")
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist.")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text (YAML) file.") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path} is not valid YAML: {where}{err.problem or err}"
                          f"{f' ({err.context})' if err.context else ''}.") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(err).split())}") from None
    return parse_config(data or {}, base_dir=path.parent)
