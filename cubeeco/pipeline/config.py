"""The run configuration: a YAML file validated into frozen dataclasses.

Unknown keys and wrong types are rejected with a message naming the key path
(``cluster.n_workers: expected int, got str``), before anything is computed.
"""

from __future__ import annotations

import dataclasses
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
    performance_report: bool = True

    def __post_init__(self):
        if self.kind not in CLUSTER_KINDS:
            raise ConfigError(f"cluster.kind: {self.kind!r} is not one of {CLUSTER_KINDS}.")
        if self.kind in ("scheduler", "gateway") and not self.address:
            raise ConfigError(f"cluster.address: required for cluster.kind {self.kind!r} (e.g. tcp://127.0.0.1:8786).")
        if self.n_workers < 1 or self.threads_per_worker < 1:
            raise ConfigError("cluster.n_workers and cluster.threads_per_worker must be at least 1.")


@dataclass(frozen=True)
class GridConfig:
    epsg: int
    resolution: float
    bounds: list


@dataclass(frozen=True)
class SynthSection:
    preset: str = "demo"
    out: str = "data"                   # relative to the config file's folder
    overrides: dict = field(default_factory=dict)


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
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    chunks: int = 512                   # spatial chunk of every stored array
    region_chunks: int = 2              # regions are region_chunks x region_chunks chunks
    base_dir: str = "."                 # set from the config file location

    def __post_init__(self):
        from .stages import STAGES

        if not self.steps:
            raise ConfigError("steps: list at least one step.")
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
            if not isinstance(where, str):
                raise ConfigError(f"inputs.{name}: expected the path of a Zarr store, got {where!r}.")
        if self.years is not None and (len(self.years) != 2 or self.years[0] > self.years[1]):
            raise ConfigError(f"years: expected [first, last], got {self.years}.")
        if self.chunks < 16 or self.region_chunks < 1:
            raise ConfigError("chunks must be >= 16 and region_chunks >= 1.")
        if self.source is None and self.synth is None and self.grid is None:
            raise ConfigError("give a grid (or a synth section) so the run knows its analysis grid.")

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
    config = _build(RunConfig, data)
    return dataclasses.replace(config, base_dir=str(Path(base_dir).resolve()))


def load_config(path: str | Path) -> RunConfig:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    return parse_config(data or {}, base_dir=path.parent)
