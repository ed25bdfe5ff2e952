"""RSEI for one year over a Shendong-sized grid: cubeeco.rsei_basis + cubeeco.rsei vs a np.nanmean floor.

    python benchmarks/bench_rsei.py --out /tmp/rsei                # 4521 x 4521 px, 4 float32 indices
    python benchmarks/bench_rsei.py --out /tmp/rsei --scale 0.1    # 1430 x 1430 px
    python benchmarks/bench_rsei.py --out /tmp/r --smoke           # 256 px, seconds

Input (made once, reused): NDVI, WET, NDBSI and LST for one year, correlated through a shared
smooth field plus noise, 5 % NaN, float32, written to one Zarr store with 512-px chunks.
Each measurement runs in its own subprocess (dask threads x ``--cores``), so peak memory is
that process's VmHWM:

1. ``basis``: ``rsei_basis(..., compute=True)`` -- the global part, 3 passes (bounds,
   covariance, PC1 range), each its own compute;
2. ``rsei``: ``rsei(..., basis=...)`` computed to memory -- one elementwise pass;
3. ``basis+rsei``: both, as a user without a stored basis runs them;
4. ``lazy``: ``rsei(...)`` without a basis, one compute of the whole graph (dask keeps the
   input chunks between the passes);
5. ``floor``: one ``np.nanmean`` over the 4-index stack (dask, same chunks): reads every value once.

JIT compile (a warm-up on a tiny cube) is timed separately and not included.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _subprocess import run_child  # noqa: E402

SIDE = 4521
RES = 30.0
X0, Y0 = 380_000.0, 4_380_000.0
GAPS = 0.05
NAMES = ("ndvi", "wet", "ndbsi", "lst")


def make_inputs(out: Path, side: int, seed: int = 0) -> dict:
    import xarray as xr

    out.mkdir(parents=True, exist_ok=True)
    zarr = out / f"rsei_{side}.zarr"
    done = out / f"rsei_{side}.json"
    if done.exists():
        return json.loads(done.read_text())
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    field = (np.sin(7 * xx) * np.cos(5 * yy)).astype(np.float32)
    del yy, xx
    coords = {"y": Y0 + side * RES - RES * (np.arange(side) + 0.5), "x": X0 + RES * (np.arange(side) + 0.5)}
    gaps = rng.random((side, side)) < GAPS
    params = {"ndvi": (0.35, 0.12, 0.05), "wet": (-0.05, 0.04, 0.02), "ndbsi": (0.1, -0.06, 0.03),
              "lst": (32.0, -4.0, 1.5)}
    ds = xr.Dataset(coords=coords)
    for k, (m, a, s) in params.items():
        v = (m + a * field + rng.normal(0, s, (side, side))).astype(np.float32)
        v[gaps] = np.nan
        ds[k] = (("y", "x"), v)
    ds.chunk({"y": 512, "x": 512}).to_zarr(zarr, mode="w", zarr_format=2, consolidated=True)
    info = {"zarr": str(zarr), "side": side, "seconds": time.perf_counter() - t0}
    done.write_text(json.dumps(info))
    return info


def _rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def run(info, what, cores):
    import dask
    import xarray as xr

    from cubeeco.ops import rsei as R

    t0 = time.perf_counter()
    tiny = [xr.DataArray(np.random.default_rng(i).random((8, 8)).astype(np.float32), dims=("y", "x"))
            for i in range(4)]
    R.rsei(*tiny, basis=R.rsei_basis(*tiny, compute=True))["rsei"].load()
    compile_s = time.perf_counter() - t0
    ds = xr.open_zarr(info["zarr"])
    arrays = [ds[k] for k in NAMES]
    res = {"compile_s": compile_s}
    with dask.config.set(scheduler="threads", num_workers=cores):
        if what in ("rsei", "basis", "basis+rsei"):
            basis = None
            if what == "rsei":
                basis = R.rsei_basis(*arrays, compute=True)  # untimed: the stored reduce-phase result
            t0 = time.perf_counter()
            if basis is None:
                basis = R.rsei_basis(*arrays, compute=True)
            if what != "basis":
                out = R.rsei(*arrays, basis=basis)["rsei"].compute()
                res["rsei_mean"] = float(np.nanmean(out.values))
            res["seconds"] = time.perf_counter() - t0
            res["pc1_contribution"] = float(basis["contribution"].isel(component=0).values.ravel()[0])
        elif what == "lazy":
            t0 = time.perf_counter()
            out = R.rsei(*arrays)["rsei"].compute()
            res["seconds"] = time.perf_counter() - t0
            res["rsei_mean"] = float(np.nanmean(out.values))
        elif what == "floor":
            stack = xr.concat(arrays, dim="index").data
            t0 = time.perf_counter()
            float(np.nanmean(stack).compute())  # dask's nanmean: chunk sums + counts, one read
            res["seconds"] = time.perf_counter() - t0
    res["rss_gib"] = _rss_gib()
    return res


def _child(what, info, cores):
    return run_child(__file__, what, info, "--cores", str(cores))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("/tmp/cubeeco-rsei"))
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the 20.4 M pixels")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--smoke", action="store_true", help="tiny: 256 x 256 px")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--info", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(run(json.loads(args.info), args.child, args.cores)))
        return
    side = 256 if args.smoke else int(round(SIDE * args.scale ** 0.5))
    info = make_inputs(args.out, side)
    whats = ("floor", "basis", "rsei", "basis+rsei", "lazy")
    res = {w: _child(w, info, args.cores) for w in whats}
    floor = res["floor"]["seconds"]
    n = side * side
    print(f"### RSEI, one year: {side} x {side} = {n / 1e6:.1f} M px x 4 float32 indices, {GAPS:.0%} NaN, "
          f"Zarr 512-px chunks\n")
    print(f"cores: {args.cores} (dask threads), inputs made in {info['seconds']:.0f} s (reused later)\n")
    print("| run | wall time | peak memory (RSS) | vs np.nanmean floor | notes |")
    print("|---|---:|---:|---:|---|")
    notes = {
        "floor": "np.nanmean of the 4-index stack (dask): reads every value once",
        "basis": "rsei_basis(compute=True): 3 passes (bounds, covariance, PC1 range)",
        "rsei": "rsei(basis=...) to memory: one elementwise pass (basis precomputed, untimed)",
        "basis+rsei": "both: 4 reads of the input",
        "lazy": "rsei() without a basis, one compute of the chained graph",
    }
    for w in whats:
        r = res[w]
        print(f"| {w} | {r['seconds']:.2f} s | {r['rss_gib']:.2f} GiB | {r['seconds'] / floor:.2f}x | {notes[w]} |")
    print(f"\nJIT compile (tiny cube): {res['basis']['compile_s']:.1f} s, not included; PC1 contribution "
          f"{res['basis']['pc1_contribution']:.1%}; mean RSEI {res['basis+rsei']['rsei_mean']:.4f} "
          f"(lazy: {res['lazy']['rsei_mean']:.4f})")


if __name__ == "__main__":
    main()
