"""No lost data: cubeeco deletes only what it created, a failing command never destroys a
good result, a foreign folder never becomes a store, and one process writes a store at a time.

Everything here is real: Zarr stores on disk, `cubeeco` processes, SIGKILL. Faults inside a
process are injected by making one step (a rename, a consolidation, a region's marker) raise
where a killed process would stop.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rioxarray  # noqa: F401  (.rio on the test layers)
import xarray as xr
import yaml
import zarr

import cubeeco.io.store as store_mod
from cubeeco.io.lock import StoreLockedError, lock_path, store_lock
from cubeeco.io.store import (
    IncompleteGroupError,
    is_complete,
    list_groups,
    mark_complete,
    open_store,
    staging_root,
    write_store,
)
from cubeeco.pipeline.config import load_config
from cubeeco.pipeline.run import FINGERPRINT, run
from cubeeco.synth import SynthConfig, synthesize

SMALL = dict(width_px=64, height_px=48, years=(2012, 2014), n_mines=1, n_stations=1, modis=False)


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "cubeeco.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def _snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes (what must stay as it was)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _user_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("field notes, not a copy anywhere")
    (path / "plots").mkdir()
    (path / "plots" / "site1.csv").write_text("x,y\n1,2\n")
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """64 x 48 px, three years: four regions of 32 x 32 px per stage."""
    return synthesize(SynthConfig(**SMALL), tmp_path_factory.mktemp("base"), progress=False)


def _config(folder: Path, base_root: Path, **extra) -> Path:
    grid = SynthConfig(**SMALL).grid
    cfg = {"name": "small", "store": "run.zarr", "steps": ["annual"], "source": str(base_root),
           "grid": {"epsg": grid.epsg, "resolution": grid.resolution, "bounds": list(grid.bounds)},
           "params": {"annual": {"indices": []}}, "chunks": 32, "region_chunks": 1,
           "cluster": {"kind": "threads"}, **extra}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _arrays(store: Path, group: str) -> dict:
    g = zarr.open_group(str(store), path=group, mode="r", use_consolidated=False)
    return {name: arr[...] for name, arr in g.arrays()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)


def _layer(value: float, *, fail: bool = False) -> xr.Dataset:
    """A 2 x 64 x 64 float32 group whose values are all ``value``; with ``fail`` its last
    chunk raises when computed, as a read of a vanished input file would."""
    data = da.full((2, 64, 64), value, chunks=(2, 32, 32), dtype="float32")
    if fail:
        def read(block, block_info=None):
            if block_info[0]["chunk-location"] == (0, 1, 1):
                raise OSError("input file vanished: /data/LC08_B4.TIF")
            return block

        data = data.map_blocks(read, dtype="float32")
    ds = xr.Dataset({"v": (("time", "y", "x"), data, {"units": "1"})},
                    coords={"time": np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[ns]"),
                            "y": 4350000.0 - 30.0 * np.arange(64) - 15, "x": 400000.0 + 30.0 * np.arange(64) + 15})
    return ds.rio.write_crs(32649)


# -- cubeeco synth / demo delete only what they created ------------------------------------------

def test_synth_refuses_a_folder_with_user_files(tmp_path):
    folder = _user_folder(tmp_path / "fieldwork")
    before = _snapshot(folder)
    proc = _cli("synth", "--preset", "tiny", "--out", folder, "-q")
    assert proc.returncode == 2, proc.stderr
    assert str(folder) in proc.stderr and "did not create" in proc.stderr and "Traceback" not in proc.stderr
    assert _snapshot(folder) == before


def test_synth_out_dot_in_a_config_keeps_the_config_folder(tmp_path):
    folder = tmp_path / "project"
    cfg = _config(folder, folder, synth={"preset": "tiny", "out": "."})
    cfg_text = yaml.safe_load(cfg.read_text())
    cfg_text.pop("source")
    cfg_text.pop("grid")
    cfg.write_text(yaml.safe_dump(cfg_text))
    (folder / "analysis.py").write_text("# the user's script\n")
    before = _snapshot(folder)
    proc = _cli("run", cfg, "-q")
    assert proc.returncode == 2, proc.stderr
    assert "did not create" in proc.stderr
    assert _snapshot(folder) == before


def test_synth_rebuilds_only_what_it_wrote(tmp_path, monkeypatch):
    small = dict(width_px=32, height_px=32, years=(2012, 2013), n_mines=1, n_stations=1, modis=False)
    out = tmp_path / "base"
    first = synthesize(SynthConfig(**small), out, progress=False)
    (out / "notes.txt").write_text("mine")
    # a changed configuration needs --overwrite; the user's file beside the base stays
    with pytest.raises(FileExistsError, match="another configuration"):
        synthesize(SynthConfig(**small, seed=2), out, progress=False)
    second = synthesize(SynthConfig(**small, seed=2), out, progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "synth.json").read_text())["config"] == second.config.to_dict() != first.config.to_dict()
    assert "notes.txt" not in json.loads((out / "synth.json").read_text())["entries"]

    # killed before the catalog: an interrupted base (ours) is rebuilt, the user's file kept
    import cubeeco.synth.build as build

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(build, "write_catalog", killed)
    with pytest.raises(KeyboardInterrupt):
        synthesize(SynthConfig(**small, seed=3), out, progress=False, overwrite=True)
    monkeypatch.undo()
    assert not (out / "synth.json").exists() and (out / ".cubeeco-synth").exists()
    third = synthesize(SynthConfig(**small, seed=3), out, progress=False)
    assert third.n_items == first.n_items and (out / "notes.txt").read_text() == "mine"

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        synthesize(SynthConfig(**small), tmp_path / "a-file", progress=False)


def test_demo_refuses_a_folder_with_user_files(tmp_path):
    from cubeeco.workflows.demo import run_demo

    folder = _user_folder(tmp_path / "thesis")
    before = _snapshot(folder)
    with pytest.raises(FileExistsError, match="did not create"):
        run_demo(folder, preset_name="tiny", progress=False)
    assert _snapshot(folder) == before


# -- a failing command never destroys a good result ----------------------------------------------

def test_a_failed_write_keeps_the_previous_group(tmp_path):
    store = tmp_path / "s.zarr"
    write_store(_layer(1.0), store, "annual")
    write_store(_layer(5.0), store, "other")
    with pytest.raises(OSError, match="vanished"):
        write_store(_layer(2.0, fail=True), store, "annual")
    back = open_store(store, "annual")
    assert float(back.v.min()) == float(back.v.max()) == 1.0
    assert list_groups(store) == ["annual", "other"]
    assert xr.open_zarr(store, group="annual").v.shape == (2, 64, 64)   # plain consolidated readers too
    assert not staging_root(store).exists() and not lock_path(store).exists()
    # and the next good write replaces it
    write_store(_layer(3.0), store, "annual")
    assert float(open_store(store, "annual").v.max()) == 3.0
    assert float(open_store(store, "other").v.max()) == 5.0


def _relocated_copy(base, dest: Path) -> Path:
    """A copy of a synthetic base whose items point at the copy's own files."""
    shutil.copytree(base.root, dest)
    for ndjson in (dest / "stac").rglob("items.ndjson"):
        ndjson.write_text(ndjson.read_text().replace(str(Path(base.root).resolve()), str(dest.resolve())))
    return dest


def test_cube_failing_on_a_broken_input_keeps_the_previous_group(base, tmp_path):
    store = tmp_path / "cube.zarr"
    good = _cli("cube", "--source", base.root, "--out", store, "-q")
    assert good.returncode == 0, good.stderr
    before = _arrays(store, "annual")
    broken = _relocated_copy(base, tmp_path / "broken")
    red = sorted((broken / "landsat").rglob("*_B4.TIF"))[-1]
    red.write_bytes(red.read_bytes()[:2000])          # a truncated download
    proc = _cli("cube", "--source", broken, "--out", store, "-q")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert is_complete(store, "annual")
    assert _same(_arrays(store, "annual"), before)
    assert open_store(store, "annual").red.shape == before["red"].shape
    assert not staging_root(store).exists()


def _count_steps(monkeypatch, limit: int | None, calls: list):
    """Make the k-th rename / consolidation / deletion of a commit raise (a kill there).

    Only the store module's own calls count: zarr renames files in its I/O thread, and an
    exception there would hang zarr rather than stop the writer."""
    real = {"replace": os.replace, "rmtree": shutil.rmtree, "consolidate": zarr.consolidate_metadata}

    def step(name):
        def wrapped(*args, **kwargs):
            if sys._getframe(1).f_globals.get("__name__") != store_mod.__name__:
                return real[name](*args, **kwargs)
            calls.append(name)
            if limit is not None and len(calls) == limit:
                raise KeyboardInterrupt(f"killed at step {limit} ({name})")
            return real[name](*args, **kwargs)
        return wrapped

    monkeypatch.setattr(os, "replace", step("replace"))
    monkeypatch.setattr(shutil, "rmtree", step("rmtree"))
    monkeypatch.setattr(zarr, "consolidate_metadata", step("consolidate"))


@pytest.mark.parametrize("existing", [True, False], ids=["replaced-group", "new-group"])
def test_a_replacement_killed_at_every_step_leaves_the_old_or_the_new_group(tmp_path, monkeypatch,
                                                                             existing):
    def prepared(path):
        write_store(_layer(1.0), path, "annual" if existing else "other")
        with store_lock(path):
            write_store(_layer(2.0), path, "annual", compute=False).compute()   # staged, not committed
        return path

    calls: list = []
    store = prepared(tmp_path / "count.zarr")
    _count_steps(monkeypatch, None, calls)
    mark_complete(store, "annual")
    monkeypatch.undo()
    n = len(calls)
    assert n >= (4 if existing else 2), calls
    for k in range(1, n + 1):
        store = prepared(tmp_path / f"k{k}.zarr")
        calls = []
        _count_steps(monkeypatch, k, calls)
        with pytest.raises(KeyboardInterrupt):
            mark_complete(store, "annual")
        monkeypatch.undo()
        # the next cubeeco call finishes or ignores the replacement: a complete group, old or new
        if not existing and not is_complete(store, "annual"):
            assert list_groups(store) == ["other"], (k, calls)    # the new group never arrived
            continue
        assert is_complete(store, "annual"), (k, calls)
        values = open_store(store, "annual").v.values      # in the consolidated metadata too
        assert values.min() == values.max() and values.max() in (1.0, 2.0), (k, calls)
        assert xr.open_zarr(store, group="annual").v.values.max() == values.max()
        assert list_groups(store) == (["annual"] if existing else ["annual", "other"])
        assert not staging_root(store).exists() or values.max() == 1.0, (k, calls)


WRITER = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_no_data_loss import _layer
from cubeeco.io.store import write_store
v = 0
while True:
    v += 1
    write_store(_layer(float(v)), sys.argv[1], "annual", chunks=16)
    print(v, flush=True)
"""


def test_a_writer_killed_at_random_points_leaves_a_complete_group(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(Path(__file__).parent)))
    store = tmp_path / "s.zarr"
    rng = random.Random(3)
    seen = 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(store)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        proc.stdout.readline()                 # one version is in place
        time.sleep(rng.uniform(0.0, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # the killed writer may have left its lock and a half-made replacement
        values = open_store(store, "annual").v.values
        assert values.min() == values.max() >= 1.0
        assert xr.open_zarr(store, group="annual").v.values.max() == values.max()
        seen += 1
    assert seen == 4


# -- a folder that is not a Zarr store never becomes one -----------------------------------------

def test_a_folder_that_is_not_a_zarr_store_is_never_written(base, tmp_path):
    folder = _user_folder(tmp_path / "results")
    before = _snapshot(folder)
    with pytest.raises(FileExistsError, match="not a Zarr store"):
        write_store(_layer(1.0), folder, "annual")
    proc = _cli("cube", "--source", base.root, "--out", folder, "-q")
    assert proc.returncode == 2 and "not a Zarr store" in proc.stderr, proc.stderr
    cfg = _config(tmp_path / "cfg", base.root, store=str(folder))
    with pytest.raises(FileExistsError, match="not a Zarr store"):
        run(load_config(cfg), progress=False)
    assert _snapshot(folder) == before
    assert not staging_root(folder).exists() and not Path(str(folder) + ".progress").exists()
    (tmp_path / "file.zarr").write_text("not a folder")
    with pytest.raises(FileExistsError, match="is a file"):
        write_store(_layer(1.0), tmp_path / "file.zarr", "annual")
    # cubeeco's own staging folder name, taken by something else, is not used either
    _user_folder(tmp_path / "x.zarr.staging")
    with pytest.raises(FileExistsError, match="not made by cubeeco"):
        write_store(_layer(1.0), tmp_path / "x.zarr", "annual")
    assert (tmp_path / "x.zarr.staging" / "notes.txt").exists()


# -- the pipeline keeps the previous group until the new one is complete -------------------------

def test_a_rerun_with_new_parameters_keeps_the_old_group_until_the_new_one_is_done(base, tmp_path,
                                                                                  monkeypatch):
    import cubeeco.pipeline.run as run_mod

    cfg = _config(tmp_path, base.root)
    store = tmp_path / "run.zarr"
    assert [r.action for r in run(load_config(cfg), progress=False)] == ["computed"]
    old = _arrays(store, "annual")
    old_fp = zarr.open_group(str(store), path="annual", mode="r").attrs[FINGERPRINT]

    changed = _config(tmp_path, base.root, params={"annual": {"indices": [], "method": "max_ndvi"}})
    real_mark = run_mod._Progress.mark
    marks = []

    def killed_after_two(self, region):
        if len(marks) == 2:
            raise KeyboardInterrupt("killed")
        marks.append(region)
        real_mark(self, region)

    monkeypatch.setattr(run_mod._Progress, "mark", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        run(load_config(changed), progress=False)
    monkeypatch.undo()
    # half-way through the new version: the old group is complete, unchanged, readable
    assert is_complete(store, "annual")
    assert zarr.open_group(str(store), path="annual", mode="r").attrs[FINGERPRINT] == old_fp
    assert _same(_arrays(store, "annual"), old)
    assert open_store(store, "annual").red.shape == old["red"].shape
    # the restart resumes the new version region by region, then replaces the old one
    [report] = run(load_config(changed), progress=False)
    assert report.action == "resumed" and report.regions_already_done == 2
    new = _arrays(store, "annual")
    assert not _same(new, old)
    assert zarr.open_group(str(store), path="annual", mode="r").attrs[FINGERPRINT] != old_fp
    assert not staging_root(store).exists() and not Path(str(store) + ".progress").exists()
    assert not lock_path(store).exists()


def test_the_progress_folder_is_cleared_only_when_it_is_ours(base, tmp_path):
    cfg = _config(tmp_path, base.root)
    progress = tmp_path / "run.zarr.progress" / "annual"
    progress.mkdir(parents=True)
    (progress / "my-notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="did not write"):
        run(load_config(cfg), progress=False)
    assert (progress / "my-notes.txt").read_text() == "mine"


# -- one writer per store --------------------------------------------------------------------------

HOLDER = """
import sys, time
from cubeeco.io.lock import store_lock
with store_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_run_refuses_while_another_holds_the_store_and_takes_over_a_dead_ones_lock(base, tmp_path):
    cfg = _config(tmp_path, base.root)
    store = tmp_path / "run.zarr"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = _cli("run", cfg, "-q")
        assert proc.returncode == 2, proc.stderr
        assert str(store) in proc.stderr and f"pid {holder.pid}" in proc.stderr, proc.stderr
        assert "in use by another cubeeco process" in proc.stderr and "Traceback" not in proc.stderr
        assert not store.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert lock_path(store).exists()          # a killed holder leaves its lock behind
    proc = _cli("run", cfg, "-q")
    assert proc.returncode == 0, proc.stderr
    assert is_complete(store, "annual") and not lock_path(store).exists()
    events = [json.loads(line) for line in Path(str(store) + ".log.jsonl").read_text().splitlines()]
    takeovers = [e for e in events if e.get("event") == "warning" and e.get("stage") == "lock"]
    assert len(takeovers) == 1 and "taking over the stale lock" in takeovers[0]["message"], events


def test_two_runs_at_once_leave_one_complete_store(base, tmp_path):
    cfg = _config(tmp_path, base.root)
    store = tmp_path / "run.zarr"
    procs = [subprocess.Popen([sys.executable, "-m", "cubeeco.cli", "run", str(cfg), "-q"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for rc, err in results:
        assert rc == 0 or (rc == 2 and "in use by another cubeeco process" in err), err
    assert any(rc == 0 for rc, _ in results)
    assert is_complete(store, "annual")
    assert open_store(store, "annual").red.shape[1:] == (48, 64)
    assert not lock_path(store).exists() and not staging_root(store).exists()


def test_locks_that_cannot_be_checked_or_belong_to_a_reused_pid(tmp_path):
    import socket

    store = tmp_path / "s.zarr"
    path = lock_path(store)
    path.write_text(json.dumps({"pid": 4242, "host": "compute-node-17", "started": "2026-01-01T00:00:00+00:00",
                                "command": "cubeeco run big.yaml"}))
    with pytest.raises(StoreLockedError, match="compute-node-17.*delete .*s.zarr.lock"):
        with store_lock(store):
            pass
    # this host, a live pid, but a process younger than the lock's: the pid was reused
    path.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "process_start": 1.0,
                                "started": "2026-01-01T00:00:00+00:00"}))
    with store_lock(store):
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with store_lock(store):               # re-entrant within a process
            pass
        assert path.exists()
    assert not path.exists()


def test_an_incomplete_group_is_named_as_such(tmp_path):
    store = tmp_path / "s.zarr"
    write_store(_layer(1.0), store, "other")
    with store_lock(store):
        write_store(_layer(1.0), store, "annual", compute=False)
    with pytest.raises(IncompleteGroupError, match="incomplete"):
        open_store(store, "annual")
    with pytest.raises(FileNotFoundError, match="no group 'nope'"):
        open_store(store, "nope")
    assert store_mod.is_complete(store, "other")


# -- locks of holders that cannot be checked from here: heartbeat and stale period ----------------

def _foreign_lock(path: Path, *, age_s: float, **fields) -> dict:
    record = {"pid": 4242, "host": "other-node-3", "started": "2026-01-01T00:00:00+00:00",
              "command": "cubeeco run big.yaml", "token": "theirs", **fields}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    old = time.time() - age_s
    os.utime(path, (old, old))
    return record


def test_a_lock_from_another_host_is_taken_over_once_its_heartbeat_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("CUBEECO_LOCK_STALE_S", "600")
    store = tmp_path / "s.zarr"
    path = lock_path(store)
    _foreign_lock(path, age_s=30)                   # refreshed 30 s ago: a live holder
    with pytest.raises(StoreLockedError, match="other-node-3"):
        with store_lock(store):
            pass
    assert json.loads(path.read_text())["token"] == "theirs"
    _foreign_lock(path, age_s=3600)                 # a pod OOM-killed an hour ago
    with pytest.warns(RuntimeWarning, match="stale lock .*pid 4242 on other-node-3"):
        with store_lock(store):
            mine = json.loads(path.read_text())
            assert mine["pid"] == os.getpid() and mine["token"] != "theirs"
            assert mine["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert not path.exists()
    write_store(_layer(1.0), store, "annual")       # and the store is usable again


def test_same_hostname_but_another_boot_id_is_not_checked_by_pid(tmp_path):
    import socket

    store = tmp_path / "s.zarr"
    path = lock_path(store)
    # a container on another node with this hostname; pid 1 is alive here, but is not the holder
    _foreign_lock(path, age_s=5, host=socket.gethostname(), pid=1, boot_id="another-kernel")
    with pytest.raises(StoreLockedError, match="in use by another cubeeco process"):
        with store_lock(store):
            pass
    # the same hostname and boot id, a dead pid: taken over at once
    _foreign_lock(path, age_s=5, host=socket.gethostname(), pid=2 ** 22 + 7,
                  boot_id=Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with pytest.warns(RuntimeWarning, match="stale lock"):
        with store_lock(store):
            pass


def test_an_unreadable_lock_is_stale_after_a_minute(tmp_path):
    store = tmp_path / "s.zarr"
    path = lock_path(store)
    path.write_text("")
    with pytest.raises(StoreLockedError, match="cannot be read"):
        with store_lock(store):
            pass
    old = time.time() - 120
    os.utime(path, (old, old))
    with pytest.warns(RuntimeWarning, match="unreadable lock"):
        with store_lock(store):
            assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()


FOREIGN_HOLDER = """
import socket, sys, time
socket.gethostname = lambda: "other-node-9"        # a holder this host cannot check by pid
from cubeeco.io.lock import store_lock
with store_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_live_holders_heartbeat_keeps_its_lock_fresh(tmp_path, monkeypatch):
    store = tmp_path / "s.zarr"
    env = {**os.environ, "CUBEECO_LOCK_STALE_S": "2"}
    holder = subprocess.Popen([sys.executable, "-c", FOREIGN_HOLDER, str(store)], stdout=subprocess.PIPE,
                              text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        old = time.time() - 3600
        os.utime(lock_path(store), (old, old))      # as if it had not beaten for an hour...
        time.sleep(1.5)                             # ...until its next heartbeat (every 0.5 s)
        monkeypatch.setenv("CUBEECO_LOCK_STALE_S", "2")
        for _ in range(3):                          # longer than the stale period: still refused
            with pytest.raises(StoreLockedError, match="other-node-9"):
                with store_lock(store):
                    pass
            time.sleep(1.0)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert json.loads(lock_path(store).read_text())["host"] == "other-node-9"


# -- SIGTERM unwinds a run --------------------------------------------------------------------------

SLOW_RUN = """
import sys, time
import cubeeco.pipeline.run as run_mod
real = run_mod._Progress.mark
def slow(self, region):
    real(self, region)
    print("region", flush=True)
    time.sleep(120)
run_mod._Progress.mark = slow
from cubeeco.cli import main
sys.exit(main(["run", sys.argv[1], "-q"]))
"""


def test_sigterm_mid_run_releases_the_lock_and_keeps_the_previous_group(base, tmp_path):
    cfg = _config(tmp_path, base.root)
    store = tmp_path / "run.zarr"
    run(load_config(cfg), progress=False)
    before = _arrays(store, "annual")
    changed = _config(tmp_path, base.root, params={"annual": {"indices": [], "method": "max_ndvi"}})
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(changed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "region", proc.stderr.read()
        assert lock_path(store).exists()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 143, proc.stderr.read()
    assert not lock_path(store).exists()
    assert is_complete(store, "annual") and _same(_arrays(store, "annual"), before)
    assert open_store(store, "annual").red.shape == before["red"].shape
    # the staged half of the new version resumes
    [report] = run(load_config(changed), progress=False)
    assert report.action == "resumed" and report.regions_already_done == 1


# -- synthesize --overwrite deletes only a base it made; one synthesize per folder -----------------

def test_a_user_file_named_synth_json_does_not_make_a_folder_ours(tmp_path):
    small = dict(width_px=32, height_px=32, years=(2012, 2013), n_mines=1, n_stations=1, modis=False)
    folder = _user_folder(tmp_path / "mine")
    (folder / "synth.json").write_text('{"experiment": "my own synthesis settings"}')
    before = _snapshot(folder)
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="did not create"):
            synthesize(SynthConfig(**small), folder, progress=False, overwrite=overwrite)
        assert _snapshot(folder) == before


def test_overwriting_a_legacy_base_deletes_only_what_synthesize_wrote(tmp_path):
    small = dict(width_px=32, height_px=32, years=(2012, 2013), n_mines=1, n_stations=1, modis=False)
    out = tmp_path / "base"
    first = synthesize(SynthConfig(**small), out, progress=False)
    meta = json.loads((out / "synth.json").read_text())
    del meta["entries"]                                 # as the older synthesize wrote it
    (out / "synth.json").write_text(json.dumps(meta))
    (out / ".cubeeco-synth").unlink()
    (out / "notes.txt").write_text("mine")
    (out / "analysis").mkdir()
    (out / "analysis" / "fit.py").write_text("# mine")
    second = synthesize(SynthConfig(**small, seed=2), out, progress=False, overwrite=True)
    assert second.n_items == first.n_items
    assert (out / "notes.txt").read_text() == "mine" and (out / "analysis" / "fit.py").read_text() == "# mine"


def test_two_synthesize_calls_on_one_folder_do_not_race(tmp_path):
    out = tmp_path / "base"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out.absolute())], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            synthesize(SynthConfig(**SMALL), out, progress=False)
        assert not out.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
