"""Declarative, resumable runs: validation, skipping, kill-and-restart, real dask processes."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr

from cubeeco.pipeline.config import ConfigError, load_config, parse_config
from cubeeco.pipeline.run import run

STEPS = ["annual", "land_cover"]


@pytest.fixture(scope="module")
def small_base(tmp_path_factory):
    """Three years (ETM+ and OLI), 64 x 48 px: four regions of 32 x 32 px per stage."""
    from cubeeco.synth import SynthConfig, synthesize

    cfg = SynthConfig(width_px=64, height_px=48, years=(2012, 2014), n_mines=1, n_stations=1, modis=False)
    return synthesize(cfg, tmp_path_factory.mktemp("small-base"), progress=False)


def _config(tmp_path: Path, base_root: Path, **extra) -> Path:
    cfg = {"name": "small", "store": "run.zarr", "steps": STEPS, "source": str(base_root),
           "grid": {"epsg": 32649, "resolution": 30.0, "bounds": [399990.0, 4348560.0, 401910.0, 4350000.0]},
           "params": {"annual": {"indices": []}}, "chunks": 32, "region_chunks": 1,
           "cluster": {"kind": "threads"}, **extra}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _arrays(store: Path) -> dict:
    root = zarr.open_group(str(store), mode="r", use_consolidated=False)
    out = {}
    for gname, group in root.groups():
        for aname, arr in group.arrays():
            out[f"{gname}/{aname}"] = arr[...]
    return out


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)


@pytest.fixture(scope="module")
def reference(small_base, tmp_path_factory):
    """An uninterrupted run on the threaded scheduler."""
    tmp = tmp_path_factory.mktemp("reference")
    config = load_config(_config(tmp, small_base.root))
    reports = run(config, progress=False)
    assert [r.action for r in reports] == ["computed", "computed"]
    return tmp / "run.zarr", _arrays(tmp / "run.zarr")


def test_rerun_skips_and_a_changed_parameter_recomputes(reference, small_base, tmp_path):
    store, _ = reference
    config = load_config(_config(store.parent, small_base.root))
    assert [r.action for r in run(config, progress=False)] == ["skipped", "skipped"]
    changed = load_config(_config(store.parent, small_base.root, params={"annual": {"indices": [], "method": "max_ndvi"}}))
    reports = {r.stage: r.action for r in run(changed, progress=False)}
    assert reports == {"annual": "computed", "land_cover": "skipped"}
    run(config, progress=False)   # back to the reference parameters for the other tests


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "store": "s", "steps": ["annual"], "grid": {"epsg": 1, "resolution": 30.0, "bounds": [0, 0, 30, 30]},
      "colour": "red"}, "colour: unknown key"),
    ({"name": "x", "store": "s", "steps": ["annual"], "grid": {"epsg": 1, "resolution": 30.0, "bounds": [0, 0, 30, 30]},
      "cluster": {"n_workers": "two"}}, "cluster.n_workers: expected int"),
    ({"name": "x", "store": "s", "steps": ["rsei_magic"], "grid": {"epsg": 1, "resolution": 30.0, "bounds": [0, 0, 30, 30]}},
     "unknown step"),
    ({"name": "x", "store": "s", "steps": ["annual"], "grid": {"epsg": 1, "resolution": 30.0, "bounds": [0, 0, 30, 30]},
      "params": {"annual": {"metod": "median"}}}, "params.annual: unknown parameter"),
    ({"name": "x", "steps": ["annual"]}, "missing required key"),
    ({"name": "x", "store": "s", "steps": ["annual"], "cluster": {"kind": "scheduler"},
      "grid": {"epsg": 1, "resolution": 30.0, "bounds": [0, 0, 30, 30]}}, "cluster.address"),
    ({"name": "x", "store": "s", "steps": ["annual"], "grid": {"epsg": 1, "resolution": "30m", "bounds": [0, 0, 30, 30]}},
     "grid.resolution: expected float"),
])
def test_invalid_configs_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_cli_rejects_bad_config_with_exit_code(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstore: s\nsteps: [annual]\nworkers: 3\n")
    proc = subprocess.run([sys.executable, "-m", "cubeeco.cli", "run", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "workers: unknown key" in proc.stderr


def _write_annual_ndvi(store: Path, seed: int):
    """An 'annual' group holding only NDVI, as another tool or run would leave it."""
    import xarray as xr

    from cubeeco.io.grid import Grid
    from cubeeco.io.store import write_store

    grid = Grid(32649, 30.0, (399990.0, 4348800.0, 401190.0, 4350000.0))  # 40 x 40 px
    rng = np.random.default_rng(seed)
    t = np.array([f"{y}-01-01" for y in range(2010, 2018)], dtype="datetime64[ns]")
    ndvi = (0.3 + 0.01 * np.arange(8)[:, None, None] + rng.normal(0, 0.02, (8, 40, 40))).astype(np.float32)
    ds = xr.Dataset({"ndvi": (("time", "y", "x"), ndvi, {"units": "1"})},
                    coords={"time": t, "y": grid.y, "x": grid.x})
    write_store(ds, store, "annual", chunks=16)
    return grid, ds.ndvi


def test_inputs_take_a_stage_group_from_another_store(tmp_path):
    import cubeeco

    ext = tmp_path / "cube.zarr"
    grid, ndvi = _write_annual_ndvi(ext, seed=1)
    cfg = {"name": "ext", "store": "trend.zarr", "steps": ["ndvi_trend"], "inputs": {"annual": str(ext)},
           "grid": {"epsg": 32649, "resolution": 30.0, "bounds": list(grid.bounds)}, "chunks": 16,
           "cluster": {"kind": "threads"}}
    config = parse_config(cfg, base_dir=tmp_path)
    assert [(r.stage, r.action) for r in run(config, progress=False)] == [
        ("annual", "external"), ("ndvi_trend", "computed")]
    got = cubeeco.open_store(tmp_path / "trend.zarr", "ndvi_trend").load()
    expected = cubeeco.trend(ndvi).compute()
    np.testing.assert_array_equal(got.slope.values, expected.slope.values)
    np.testing.assert_array_equal(got.p.values, expected.p.values)
    assert not (tmp_path / "trend.zarr" / "annual").exists()    # read in place, never copied
    assert [r.action for r in run(config, progress=False)] == ["external", "skipped"]
    time.sleep(0.01)
    _write_annual_ndvi(ext, seed=2)                               # the input changed: recompute
    assert [r.action for r in run(config, progress=False)] == ["external", "computed"]
    # a store without a complete group is refused, naming the key
    with pytest.raises(ConfigError, match="inputs.annual"):
        run(parse_config({**cfg, "inputs": {"annual": str(tmp_path / "missing.zarr")}}, base_dir=tmp_path),
            progress=False)
    from cubeeco.pipeline.stages import execution_order

    # what an external stage needs is not pulled in
    assert execution_order(["ndvi_trend"], external={"ndvi_trend"}) == ["ndvi_trend"]
    assert execution_order(["ndvi_trend"]) == ["annual", "ndvi_trend"]
    with pytest.raises(ConfigError, match="inputs.nope: no such stage"):
        parse_config({**cfg, "inputs": {"nope": "x.zarr"}})


def _markers(store: Path) -> int:
    return len(list(Path(str(store) + ".progress").glob("*/r*_*")))


def test_client_killed_at_random_points_resumes_to_identical_store(reference, small_base, tmp_path):
    _, expected = reference
    cfg = _config(tmp_path, small_base.root)
    store = tmp_path / "run.zarr"
    rng = random.Random(7)
    resumed_regions = 0
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "cubeeco.cli", "run", str(cfg), "-q"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        target = rng.randint(1 + attempt, 2 + attempt)   # regions written before the kill (of 4 + 4)
        deadline = time.time() + 120
        while proc.poll() is None and _markers(store) < target and time.time() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    reports = run(load_config(cfg), progress=False)
    resumed_regions = sum(r.regions_already_done for r in reports)
    skipped = [r.stage for r in reports if r.action == "skipped"]
    assert resumed_regions > 0 or skipped, "the restart recomputed everything"
    assert _same(_arrays(store), expected)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def dask_processes(tmp_path):
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--dashboard-address", ":0"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for i in range(2):
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                       "--memory-limit", "2GiB", "--name", f"w{i}", "--no-dashboard"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    yield address, procs
    for p in procs:
        p.kill()
        p.wait()


def test_real_scheduler_and_workers_give_the_same_store(reference, small_base, tmp_path, dask_processes):
    _, expected = reference
    address, _ = dask_processes
    cfg = _config(tmp_path, small_base.root, cluster={"kind": "scheduler", "address": address})
    reports = run(load_config(cfg), progress=False)
    assert [r.action for r in reports] == ["computed", "computed"]
    assert _same(_arrays(tmp_path / "run.zarr"), expected)
    assert (tmp_path / "run.zarr.performance.html").exists()
    assert (tmp_path / "run.zarr.log.jsonl").read_text().count('"computed"') == 2


def test_worker_killed_mid_run_costs_time_not_data(reference, small_base, tmp_path, dask_processes):
    _, expected = reference
    address, procs = dask_processes
    cfg = _config(tmp_path, small_base.root, cluster={"kind": "scheduler", "address": address})
    store = tmp_path / "run.zarr"
    import threading

    from distributed import Client

    killed_at = []

    def kill_one_worker():
        # kill worker w0 while it is computing tasks of the run (region markers alone can
        # all land within one poll on a fast machine, and a kill after the run tests nothing)
        with Client(address, timeout="30s", set_as_default=False) as watcher:
            w0 = next(a for a, w in watcher.scheduler_info()["workers"].items() if w["name"] == "w0")
            deadline = time.time() + 120
            while time.time() < deadline and not watcher.processing().get(w0):
                time.sleep(0.02)
            procs[1].send_signal(signal.SIGKILL)
            killed_at.append(time.time())

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    run(load_config(cfg), progress=False)
    finished_at = time.time()
    killer.join()
    procs[1].wait(timeout=30)
    assert killed_at and killed_at[0] < finished_at, "the worker was not killed during the run"
    assert _same(_arrays(store), expected)


def test_loader_warnings_reach_the_run_log(tiny_base, tmp_path):
    """The tiny base mixes L2SR scenes (no thermal asset) in: the run says so in its log."""
    cfg = {"name": "warned", "store": "run.zarr", "steps": ["annual"], "source": str(tiny_base.root),
           "grid": tiny_base.config.grid.to_dict(), "chunks": 32, "region_chunks": 2,
           "params": {"annual": {"indices": []}}, "cluster": {"kind": "threads"}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.warns(UserWarning, match="lwir"):
        run(load_config(path), progress=False)
    import json

    events = [json.loads(line) for line in (tmp_path / "run.zarr.log.jsonl").read_text().splitlines()]
    warned = [e for e in events if e.get("event") == "warning" and e.get("stage") == "annual"]
    assert warned and warned[0]["category"] == "MissingDataWarning" and "lwir" in warned[0]["message"], events


def test_a_raster_stage_returning_off_grid_variables_fails_naming_them(small_base, tmp_path, monkeypatch):
    """Variables without y/x used to be dropped (stored as all-NaN or not at all) and the group
    marked complete; now the run fails naming them, and nothing complete is left behind."""
    import xarray as xr

    from cubeeco.io.store import is_complete
    from cubeeco.pipeline.stages import STAGES, Stage

    def loadings_stage(ctx):
        grid = ctx.grid
        raster = xr.DataArray(np.zeros(grid.shape, np.float32), dims=("y", "x"),
                              coords={"y": grid.y, "x": grid.x})
        return xr.Dataset({"score": raster, "loading": ("pc", np.ones(4, np.float32))})

    def table_stage(ctx):
        import pandas as pd

        return pd.DataFrame({"mine": [1, 2], "area": [1.0, 2.0]})

    monkeypatch.setitem(STAGES, "loadings", Stage("loadings", loadings_stage))
    monkeypatch.setitem(STAGES, "table", Stage("table", table_stage))
    for step, message in (("loadings", r"variable\(s\) \['loading'\] without the grid"),
                          ("table", "returned a DataFrame")):
        cfg = _config(tmp_path, small_base.root, steps=[step], params={})
        with pytest.raises(TypeError, match=message):
            run(load_config(cfg), progress=False)
        assert not is_complete(tmp_path / "run.zarr", step)
