"""Shendong-sized trend run: time, peak worker memory, a lost worker, a killed client.

    python benchmarks/bench_scale.py --out /tmp/cubeeco-scale          # 4521 x 4521 px x 22 years
    python benchmarks/bench_scale.py --out /tmp/s --side 256 --smoke   # seconds; the smoke test

The input is an annual NDVI cube synthesized straight into Zarr (made once, reused):
the ``shendong`` synth preset's planted peak-season NDVI (133 mines opening and being
restored, regional greening) for 2001-2022, plus N(0, 0.015) observation noise and
8 % NaN gaps standing in for cloud residue, float32, 1024-px chunks, whole time axis
per chunk.  Then, printing one Markdown table:

1. ``cubeeco.sen_mann_kendall`` on the threaded scheduler, Zarr in, results in memory
   (issue 3's whole-Shendong figure, measured rather than extrapolated);
2. ``cubeeco run`` of the ``ndvi_trend`` stage (15 outputs) on a LocalCluster of
   worker processes with a memory limit each, memory sampled by dask's own
   diagnostics (``MemorySampler`` for the cluster, the scheduler's per-worker
   metrics for each worker's peak);
3. the same with one worker SIGKILLed when 40 % of the regions are written: the
   extra wall time and the task executions beyond the uninterrupted run;
4. ``cubeeco run`` as a separate process, SIGKILLed at 50 % of the regions and
   started again: the restart's time against an uninterrupted process run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOISE = 0.015
GAP_FRACTION = 0.08


def make_cube(path: Path, side: int, years: tuple[int, int], chunks: int, seed: int = 7) -> dict:
    """The annual NDVI cube at ``path``/annual (skipped when already complete)."""
    import xarray as xr

    from cubeeco.io.store import is_complete, write_store
    from cubeeco.synth import preset
    from cubeeco.synth.landscape import Landscape

    cfg = preset("shendong", width_px=side, height_px=side, years=years)
    if is_complete(path, "annual"):
        return {"seconds": 0.0, "reused": True, "grid": cfg.grid}
    t0 = time.perf_counter()
    land = Landscape(cfg)
    year_list = cfg.year_list
    cube = np.empty((len(year_list), side, side), np.float32)
    for i, year in enumerate(year_list):
        rng = np.random.default_rng([seed, year])
        ndvi = land.ndvi(year) + rng.normal(0, NOISE, (side, side)).astype(np.float32)
        ndvi[rng.random((side, side)) < GAP_FRACTION] = np.nan
        cube[i] = ndvi
    del land
    grid = cfg.grid
    time_coord = np.array([f"{y}-01-01" for y in year_list], dtype="datetime64[ns]")
    da = xr.DataArray(cube, dims=("time", "y", "x"), coords={"time": time_coord, "y": grid.y, "x": grid.x},
                      name="ndvi", attrs={"units": "1", "long_name": "annual peak-season NDVI"})
    ds = da.to_dataset()
    ds.attrs.update(grid.to_dict())
    ds.attrs["description"] = (f"synthetic: shendong preset planted NDVI {year_list[0]}-{year_list[-1]}, "
                               f"+N(0, {NOISE}) noise, {GAP_FRACTION:.0%} NaN gaps (bench_scale.py)")
    write_store(ds.chunk({"time": -1, "y": chunks, "x": chunks}), path, "annual", chunks=chunks)
    return {"seconds": time.perf_counter() - t0, "reused": False, "grid": grid}


def _du(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**30


class WorkerPeaks:
    """Peak process memory of each worker, from the scheduler's metrics (polled)."""

    def __init__(self, client, every: float = 0.25):
        self.client, self.every, self.peaks = client, every, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            try:
                for addr, w in self.client.scheduler_info(n_workers=-1)["workers"].items():
                    self.peaks[addr] = max(self.peaks.get(addr, 0), w["metrics"]["memory"])
            except Exception:  # noqa: BLE001  (a worker restarting between polls)
                pass
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _config(out: Path, cube: Path, grid, store: str, chunks: int, region_chunks: int, workers: int,
            memory_limit: str) -> dict:
    return {"name": "bench-scale", "store": store, "steps": ["ndvi_trend"],
            "inputs": {"annual": str(cube)},
            "grid": {"epsg": grid.epsg, "resolution": grid.resolution, "bounds": list(grid.bounds)},
            "chunks": chunks, "region_chunks": region_chunks,
            "cluster": {"kind": "local", "n_workers": workers, "threads_per_worker": 1,
                        "memory_limit": memory_limit, "performance_report": True}}


def _regions_done(store: Path) -> int:
    d = Path(str(store) + ".progress") / "ndvi_trend"
    return len(list(d.glob("r*_*"))) if d.exists() else 0


def _kill_when(fraction: float, total: int, store: Path, kill, alive=lambda: True,
               poll: float = 0.1) -> threading.Thread:
    def watch():
        while _regions_done(store) < max(1, int(fraction * total)):
            if not alive():   # the run ended (or failed) first: nothing to kill
                return
            time.sleep(poll)
        kill()

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    return th


def pipeline_in_process(out: Path, conf: dict, kill_worker_at: float | None = None) -> dict:
    """One run of the trend stage through an in-process LocalCluster client."""
    from distributed import Client, LocalCluster
    from distributed.diagnostics import MemorySampler

    from cubeeco.pipeline.config import parse_config
    from cubeeco.pipeline.run import run

    cfg = parse_config(conf, base_dir=out)
    store = cfg.path(cfg.store)
    _remove_run(store)
    c = cfg.cluster
    ms = MemorySampler()
    with LocalCluster(n_workers=c.n_workers, threads_per_worker=c.threads_per_worker,
                      memory_limit=c.memory_limit, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        from distributed import get_task_stream

        pids = client.run(os.getpid)
        killer = None
        finished = threading.Event()   # stops the watcher once the run returned (no stale pid kill)
        if kill_worker_at is not None:
            victim = sorted(pids.values())[0]
            total = _n_regions(cfg)
            killer = _kill_when(kill_worker_at, total, store, lambda: os.kill(victim, signal.SIGKILL),
                                alive=lambda: not finished.is_set())
        t0 = time.perf_counter()
        with WorkerPeaks(client) as peaks, ms.sample("cluster", measure="process", interval=0.25), \
                get_task_stream(client) as ts:
            reports = run(cfg, client=client, progress=False)
        finished.set()
        seconds = time.perf_counter() - t0
        if killer is not None:
            killer.join(timeout=1)
        executed = len(ts.data)
        restarted = sorted(client.run(os.getpid).values()) != sorted(pids.values())
    cluster_peak = float(ms.to_pandas()["cluster"].max()) if len(ms.samples["cluster"]) else float("nan")
    return {"seconds": seconds, "worker_peak": max(peaks.peaks.values(), default=0),
            "worker_peaks": dict(peaks.peaks), "cluster_peak": cluster_peak, "tasks": executed,
            "reports": [r.__dict__ for r in reports], "worker_replaced": restarted}


def _n_regions(cfg) -> int:
    from cubeeco.io.grid import Grid
    from cubeeco.pipeline.run import region_slices

    shape = Grid(cfg.grid.epsg, cfg.grid.resolution, tuple(cfg.grid.bounds)).shape
    return len(list(region_slices(shape, cfg.chunks, cfg.region_chunks)))


def pipeline_process(out: Path, conf: dict, name: str, kill_at: float | None = None) -> dict:
    """``cubeeco run`` as its own process (it starts its own LocalCluster)."""
    import yaml

    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(conf))
    store = out / conf["store"]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cubeeco.cli", "run", str(path)], cwd=out,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if kill_at is not None:
        from cubeeco.pipeline.config import parse_config

        total = _n_regions(parse_config(conf, base_dir=out))
        # the whole process group: the client and the LocalCluster it started
        _kill_when(kill_at, total, store, lambda: os.killpg(proc.pid, signal.SIGKILL),
                   alive=lambda: proc.poll() is None).join()
    _, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if kill_at is None and proc.returncode != 0:
        raise RuntimeError(f"cubeeco run failed:\n{err[-2000:]}")
    log = [json.loads(line) for line in open(str(store) + ".log.jsonl")] if kill_at is None else []
    return {"seconds": seconds, "returncode": proc.returncode, "log": log[-1:] if log else [],
            "regions_done_at_kill": _regions_done(store) if kill_at is not None else None}


def sen_mk_threads(cube: Path, workers: int) -> dict:
    import cubeeco

    ds = cubeeco.open_store(cube, "annual")
    cubeeco.sen_mann_kendall(ds.ndvi[:, :8, :8]).compute()  # JIT compile is not throughput
    t0 = time.perf_counter()
    res = cubeeco.sen_mann_kendall(ds.ndvi).compute(scheduler="threads", num_workers=workers)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "pixels": ds.ndvi.sizes["y"] * ds.ndvi.sizes["x"],
            "finite": float(np.isfinite(res.slope.values).mean()), "bytes": ds.ndvi.nbytes}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("cubeeco-scale"))
    p.add_argument("--side", type=int, default=None, help="pixels per side (default: the Shendong grid, 4521)")
    p.add_argument("--years", type=int, nargs=2, default=(2001, 2022))
    p.add_argument("--chunks", type=int, default=1024, help="spatial chunk of the input cube and the outputs")
    p.add_argument("--region-chunks", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory-limit", default="4GiB")
    p.add_argument("--smoke", action="store_true", help="tiny: side 256, chunks 64")
    args = p.parse_args(argv)
    if args.smoke:
        args.side = args.side or 256
        args.chunks = 64
    from cubeeco.synth.config import PRESETS

    side = args.side or PRESETS["shendong"].width_px
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cube = out / "annual.zarr"

    made = make_cube(cube, side, tuple(args.years), args.chunks)
    conf = _config(out, cube, made["grid"], "trend.zarr", args.chunks, args.region_chunks, args.workers,
                   args.memory_limit)
    threads = sen_mk_threads(cube, args.workers)
    plain = pipeline_in_process(out, conf)
    lost = pipeline_in_process(out, conf, kill_worker_at=0.4)
    for store in ("trend-full.zarr", "trend-process.zarr"):
        _remove_run(out / store)
    full_p = pipeline_process(out, {**conf, "store": "trend-full.zarr"}, "full")
    conf_p = {**conf, "store": "trend-process.zarr"}
    killed = pipeline_process(out, conf_p, "killed", kill_at=0.5)
    restart = pipeline_process(out, conf_p, "restart")

    gib = 2**30
    n_px = side * side
    n_years = args.years[1] - args.years[0] + 1
    made_note = " (reused)" if made["reused"] else f", made in {made['seconds']:.0f} s"
    print(f"## Shendong-sized trend run: {side} x {side} = {n_px / 1e6:.1f} M px x {n_years} years\n")
    print(f"cores: {os.cpu_count()}, workers: {args.workers} processes x 1 thread, memory limit "
          f"{args.memory_limit} each, chunks {args.chunks} px, input {threads['bytes'] / gib:.2f} GiB in memory "
          f"({_du(cube):.2f} GiB of Zarr on disk){made_note}\n")
    print("| run | wall time | peak worker memory | notes |")
    print("|---|---:|---:|---|")
    print(f"| `cubeeco.sen_mann_kendall`, Zarr -> memory, threads x{args.workers} | {threads['seconds']:.1f} s | "
          f"(one process) | {n_px / threads['seconds'] / 1e6:.2f} M px/s |")
    print(f"| `cubeeco run` ndvi_trend (15 outputs -> Zarr), LocalCluster | {plain['seconds']:.1f} s | "
          f"{plain['worker_peak'] / gib:.2f} GiB | cluster peak {plain['cluster_peak'] / gib:.2f} GiB "
          f"(MemorySampler); {plain['tasks']} task executions |")
    print(f"| same, one worker SIGKILLed at 40 % of regions | {lost['seconds']:.1f} s | "
          f"{lost['worker_peak'] / gib:.2f} GiB | +{lost['seconds'] - plain['seconds']:.1f} s, "
          f"+{lost['tasks'] - plain['tasks']} task executions; worker replaced: {lost['worker_replaced']} |")
    print(f"| `cubeeco run` as a process, uninterrupted | {full_p['seconds']:.1f} s | | includes cluster start "
          f"and JIT compile in each worker |")
    print(f"| same, SIGKILLed at 50 % of regions | {killed['seconds']:.1f} s | | "
          f"{killed['regions_done_at_kill']} regions done when killed |")
    rl = restart["log"][0] if restart["log"] else {}
    print(f"| restart of the killed run | {restart['seconds']:.1f} s | | {rl.get('regions_already_done')} of "
          f"{rl.get('regions')} regions skipped; saves {full_p['seconds'] - restart['seconds']:.1f} s "
          f"against the uninterrupted run |")
    identical = (_same_store(out / "trend-full.zarr", out / "trend.zarr")
                 and _same_store(out / "trend-full.zarr", out / "trend-process.zarr"))
    print(f"\nstores of the uninterrupted run, the run with a lost worker and the killed-and-restarted run "
          f"identical: {identical}")
    return {"threads": threads, "plain": plain, "lost": lost, "full": full_p, "killed": killed,
            "restart": restart, "identical": identical}


def _remove_run(store: Path):
    import shutil

    for suffix in ("", ".progress", ".staging", ".lock", ".log.jsonl", ".performance.html"):
        q = Path(f"{store}{suffix}")
        shutil.rmtree(q, ignore_errors=True) if q.is_dir() else q.unlink(missing_ok=True)


def _same_store(a: Path, b: Path) -> bool:
    import xarray as xr

    from cubeeco.io.store import open_store

    da, db = open_store(a, "ndvi_trend"), open_store(b, "ndvi_trend")
    try:
        xr.testing.assert_equal(da.drop_attrs(), db.drop_attrs())
        return True
    except AssertionError:
        return False


if __name__ == "__main__":
    main()
