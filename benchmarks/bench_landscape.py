"""Landscape metrics (study 004) on a Shendong-sized land-cover raster: moving windows and whole-raster tables.

    python benchmarks/bench_landscape.py --out /tmp/land                # 4521 x 4521 px (20.4 M), 30 m
    python benchmarks/bench_landscape.py --out /tmp/land --scale 0.5    # 2260 x 2260 px
    python benchmarks/bench_landscape.py --out /tmp/l --smoke           # 192 px, radius 150 m, seconds

Input (made once with numpy, reused): a categorical raster on a UTM 30 m grid with CLCD-like
classes (1 cropland, 2 forest, 3 shrub, 4 grassland, 5 water, 7 barren, 8 impervious; 0 nodata):
two smooth random fields (features ~600 m and ~120 m) cut at class shares, 2 % salt-and-pepper
classification noise, 1-3 km rectangular mines (barren) and nodata outside a clipped corner;
int8 in Zarr, 512-px chunks.

Parts, each in its own process (dask threads x ``--cores``; peak memory = its VmHWM):

A. ``mw``: ``moving_window(lulc, ["SHDI", "ED", "NP"], 1000 m, shape="square")`` -> Zarr
   (R = 33 px, 67 x 67 windows; NP by the O(R) separator algorithm);
   ``mw_relabel``: the same three maps on a crop of ``--crop`` x ``--crop`` centres (+ halo),
   numpy, one thread, with the O(R) path and with the old per-window relabelling
   (``_relabel=True``): time per pixel, extrapolated to the raster on ``--cores`` cores;
   ``pylandstats``: the peer, one ``pylandstats.Landscape`` per window for ``--windows`` random
   centres (NP, ED, SHDI), time per window extrapolated to one window per pixel; NP and ED are
   checked against the cubeeco maps at those centres (pylandstats' SHDI uses other shares:
   docs/landscape-metrics.md).
B. ``lm_many`` / ``lm_one``: ``landscape_metrics`` (every landscape-level metric) of the whole
   raster in 512-px chunks and in one chunk: time, memory, and the two tables must be equal.

JIT compile: each child first runs its part on a 64-px copy (timed apart).  Results: a markdown
table on stdout, ``bench_landscape_<side>.json`` and ``.md`` under ``--out``.
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
X0, Y0 = 380_000.0, 4_330_000.0   # UTM 49N, Shendong
CHUNK = 512
RADIUS = 1000.0
METRICS = ["SHDI", "ED", "NP"]
N_MINES = 133
# class codes and their area shares (cut points of the smooth field)
CLASSES = np.array([1, 4, 3, 2, 8, 5], np.int8)
SHARES = np.array([0.34, 0.36, 0.12, 0.08, 0.05, 0.05])
PARTS = ("mw", "mw_relabel", "pylandstats", "lm_many", "lm_one")


# ------------------------------------------------------------------ input
def _smooth(rng, side, scale_px):
    from scipy import ndimage

    k = int(np.ceil(side / scale_px)) + 3
    coarse = rng.standard_normal((k, k)).astype(np.float32)
    f = ndimage.zoom(coarse, scale_px, order=1, prefilter=False)[:side, :side]
    return (f - f.mean()) / f.std()


def make_lulc(side: int, seed: int = 4) -> np.ndarray:
    """The synthetic land-cover raster (int8, 0 nodata)."""
    rng = np.random.default_rng(seed)
    f = _smooth(rng, side, 20.0) + 0.45 * _smooth(rng, side, 4.0)
    cuts = np.quantile(f[:: max(1, side // 512), :: max(1, side // 512)], np.cumsum(SHARES)[:-1])
    lulc = CLASSES[np.searchsorted(cuts, f)]
    del f
    noise = rng.random((side, side), np.float32) < 0.02
    lulc[noise] = rng.choice(CLASSES, int(noise.sum()))
    n_mines = max(2, int(round(N_MINES * (side / SIDE) ** 2)))
    size = rng.integers(33, 100, (n_mines, 2))            # 1-3 km
    r0 = rng.integers(0, max(1, side - 100), n_mines)
    c0 = rng.integers(0, max(1, side - 100), n_mines)
    for (h, w), r, c in zip(size, r0, c0):
        lulc[r:r + h, c:c + w] = 7
    yy, xx = np.ogrid[:side, :side]
    lulc[(yy + xx) < side // 6] = 0                        # the region's outline clips a corner
    return lulc


def make_inputs(out: Path, side: int, chunk: int = CHUNK) -> dict:
    import xarray as xr

    path = out / f"lulc_{side}_{chunk}.zarr"
    info = {"root": str(out), "side": side, "zarr": str(path), "chunk": chunk}
    if (path / ".done").exists():
        return {**info, **json.loads((path / ".done").read_text())}
    t0 = time.perf_counter()
    a = make_lulc(side)
    ys = Y0 + side * RES - RES * (np.arange(side) + 0.5)
    xs = X0 + RES * (np.arange(side) + 0.5)
    da = xr.DataArray(a, dims=("y", "x"), coords={"y": ys, "x": xs}, name="lulc",
                      attrs={"nodata": 0, "long_name": "land cover (CLCD codes)", "units": "1"})
    da.chunk(chunk).to_dataset().to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    meta = {"seconds": time.perf_counter() - t0, "nodata_share": float((a == 0).mean())}
    (path / ".done").write_text(json.dumps(meta))
    return {**info, **meta}


# ------------------------------------------------------------------ parts
def _rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _lulc(info):
    import xarray as xr

    return xr.open_zarr(info["zarr"])["lulc"]


def _centres(lulc_np, k, seed=7):
    rng = np.random.default_rng(seed)
    iy, ix = np.nonzero(lulc_np)
    pick = rng.choice(iy.size, min(k, iy.size), replace=False)
    return iy[pick], ix[pick]


def _part(info, what, args) -> dict:
    from cubeeco.ops.landscape import landscape_metrics
    from cubeeco.ops.moving_window import moving_window

    lulc = _lulc(info)
    radius = args["radius"]
    n_px = lulc.size
    if what == "mw":
        ds = moving_window(lulc, METRICS, radius, shape="square", nodata=0)
        for v in ds.variables.values():
            v.encoding = {}
        ds.to_zarr(Path(info["root"]) / f"mw_{info['side']}.zarr", mode="w", zarr_format=2, consolidated=True)
        return {"mpx_s": n_px / 1e6, "window_px": ds.attrs["window_pixels"]}
    if what == "mw_relabel":
        a = lulc.values
        r = int(radius // RES)
        c = min(args["crop"], a.shape[0])
        y0 = max(0, (a.shape[0] - c) // 2 - r)
        crop = lulc.isel(y=slice(y0, y0 + c + 2 * r), x=slice(y0, y0 + c + 2 * r)).load()
        inner = (slice(r, r + c), slice(r, r + c)) if crop.shape[0] >= c + 2 * r else (slice(None),) * 2
        out = {}
        maps = {}
        for key, relabel in (("incremental", False), ("relabel", True)):
            t0 = time.perf_counter()
            ds = moving_window(crop, METRICS, radius, shape="square", nodata=0, _relabel=relabel)
            maps[key] = ds.NP.values
            out[f"{key}_s"] = time.perf_counter() - t0
            out[f"{key}_us_px"] = out[f"{key}_s"] / crop.size * 1e6
        out["np_equal"] = bool(np.array_equal(maps["incremental"][inner], maps["relabel"][inner], equal_nan=True))
        out["crop_px"] = int(crop.size)
        out["relabel_full_s"] = out["relabel_us_px"] * 1e-6 * n_px / args["cores"]
        out["speedup"] = out["relabel_s"] / out["incremental_s"]
        return out
    if what == "pylandstats":
        import pylandstats as pls
        import xarray as xr

        a = lulc.values
        r = int(radius // RES)
        iy, ix = _centres(a, args["windows"])
        t0 = time.perf_counter()
        got = []
        for i, j in zip(iy, ix):
            w = a[max(0, i - r): i + r + 1, max(0, j - r): j + r + 1]
            ls = pls.Landscape(w, res=(RES, RES), nodata=0, neighborhood_rule="8")
            got.append((ls.number_of_patches(), ls.edge_density(count_boundary=False),
                        ls.shannon_diversity_index()))
        dt = time.perf_counter() - t0
        got = np.asarray(got, np.float64)
        out = {"windows": int(iy.size), "ms_window": dt / iy.size * 1e3,
               "full_s": dt / iy.size * n_px / args["cores"]}
        mw = Path(info["root"]) / f"mw_{info['side']}.zarr"
        if mw.exists():
            ds = xr.open_zarr(mw)
            yi, xi = xr.DataArray(iy, dims="k"), xr.DataArray(ix, dims="k")
            out["np_max_abs_diff"] = float(np.abs(ds.NP.isel(y=yi, x=xi).values - got[:, 0]).max())
            out["ed_max_rel_diff"] = float(np.nanmax(np.abs(ds.ED.isel(y=yi, x=xi).values - got[:, 1])
                                                     / np.maximum(np.abs(got[:, 1]), 1e-300)))
            # pylandstats gives NaN for a one-class window (cubeeco: 0, FRAGSTATS' value)
            out["shdi_max_abs_diff"] = float(np.nanmax(np.abs(ds.SHDI.isel(y=yi, x=xi).values - got[:, 2]),
                                                       initial=0.0))
            out["shdi_peer_nan"] = int(np.isnan(got[:, 2]).sum())
        return out
    if what in ("lm_many", "lm_one"):
        da = lulc if what == "lm_many" else lulc.chunk({"y": -1, "x": -1})
        t = landscape_metrics(da, nodata=0)
        return {"chunks": int(np.prod(da.data.numblocks)), "table": {k: float(v) for k, v in t.iloc[0].items()}}
    raise ValueError(f"unknown part {what!r}")


def run(info, what, cores, warmup, args):
    import dask

    # numpy-only parts run in one thread (peer and relabel per-pixel costs); dask parts on `cores`
    with dask.config.set(scheduler="threads", num_workers=cores):
        t0 = time.perf_counter()
        _part(warmup, what, {**args, "radius": min(args["radius"], 150.0), "windows": 3, "crop": 16})
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = _part(info, what, args)
        res["seconds"] = time.perf_counter() - t0
    if what == "mw":
        res["mpx_s"] = res["mpx_s"] / res["seconds"]
    res["compile_s"] = compile_s
    res["rss_gib"] = _rss_gib()
    return res


def _table(side, info, args, res) -> str:
    n = side * side
    r = int(args["radius"] // RES)
    lines = [f"### Landscape metrics: {side} x {side} = {n / 1e6:.1f} M px at 30 m, square window radius "
             f"{args['radius']:g} m (R = {r} px, {(2 * r + 1) ** 2} px), Zarr {info['chunk']}-px chunks\n",
             f"cores: {args['cores']} (dask threads), nodata {100 * info['nodata_share']:.1f} %, "
             f"input made in {info['seconds']:.0f} s (reused)\n",
             "| part | wall time | peak memory (RSS) | JIT warm-up | notes |", "|---|---:|---:|---:|---|"]
    notes = {}
    if "mw" in res:
        m = res["mw"]
        notes["mw"] = f"moving_window SHDI + ED + NP -> Zarr; {m['mpx_s']:.2f} M px/s"
    if "mw_relabel" in res:
        m = res["mw_relabel"]
        notes["mw_relabel"] = (f"{m['crop_px']:,} px crop, 1 thread: O(R) path {m['incremental_us_px']:.2f} µs/px, "
                               f"per-window relabel {m['relabel_us_px']:.2f} µs/px ({m['speedup']:.1f}x slower); "
                               f"relabel on the raster: ~{m['relabel_full_s'] / 60:.0f} min on {args['cores']} "
                               f"cores (extrapolated); NP equal: {m['np_equal']}")
    if "pylandstats" in res:
        m = res["pylandstats"]
        chk = ""
        if "np_max_abs_diff" in m:
            chk = (f"; vs cubeeco: NP max |diff| {m['np_max_abs_diff']:g}, ED max rel diff "
                   f"{m['ed_max_rel_diff']:.1e}, SHDI max |diff| {m['shdi_max_abs_diff']:.1e} "
                   f"({m['shdi_peer_nan']} one-class windows NaN in pylandstats)")
        notes["pylandstats"] = (f"{m['windows']} windows, {m['ms_window']:.1f} ms/window: one window per pixel "
                                f"~{m['full_s'] / 3600:.1f} h on {args['cores']} cores (extrapolated){chk}")
    for w in ("lm_many", "lm_one"):
        if w in res:
            notes[w] = f"landscape_metrics (all landscape-level metrics), {res[w]['chunks']} chunk(s)"
    for w in PARTS:
        if w in res:
            lines.append(f"| {w} | {res[w]['seconds']:.2f} s | {res[w]['rss_gib']:.2f} GiB | "
                         f"{res[w]['compile_s']:.1f} s | {notes[w]} |")
    if "lm_many" in res and "lm_one" in res:
        a, b = res["lm_many"]["table"], res["lm_one"]["table"]
        same = all((a[k] == b[k]) or (np.isnan(a[k]) and np.isnan(b[k])) for k in a)
        lines.append(f"\nlandscape_metrics many chunks == one chunk: {same} "
                     f"(NP {a['NP']:.0f}, ED {a['ED']:.3f} m/ha, SHDI {a['SHDI']:.4f})")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("/tmp/cubeeco-landscape"))
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the grid's side (4521 px)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--radius", type=float, default=RADIUS, help="window radius, metres")
    p.add_argument("--windows", type=int, default=200, help="pylandstats: windows timed")
    p.add_argument("--crop", type=int, default=128, help="mw_relabel: centres per side of the crop")
    p.add_argument("--smoke", action="store_true", help="tiny: 192 px, radius 150 m, 10 windows")
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset (in order)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--info", help=argparse.SUPPRESS)
    p.add_argument("--warmup", help=argparse.SUPPRESS)
    p.add_argument("--args", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        info, warmup, a = json.loads(args.info), json.loads(args.warmup), json.loads(args.args)
        print(json.dumps({w: run(info, w, a["cores"], warmup, a) for w in args.child.split(",")}))
        return
    side = 192 if args.smoke else int(round(SIDE * args.scale))
    a = {"cores": args.cores, "radius": 150.0 if args.smoke else args.radius,
         "windows": 10 if args.smoke else args.windows, "crop": 24 if args.smoke else args.crop}
    args.out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    # smoke: chunks small enough that the raster has several
    info = make_inputs(args.out, side, 64 if args.smoke else CHUNK)
    warmup = make_inputs(args.out, 64, 32)
    whats = [w for w in args.parts.split(",") if w]
    bad = [w for w in whats if w not in PARTS]
    if bad:
        raise SystemExit(f"unknown part(s) {bad}; choose from {list(PARTS)}")
    res = {}
    extra = ("--warmup", json.dumps(warmup), "--args", json.dumps(a))
    if args.smoke:
        # the JIT compile dominates a smoke run: one process for every part
        res.update(run_child(__file__, ",".join(whats), info, *extra))
    else:
        for w in whats:
            res.update(run_child(__file__, w, info, *extra))
            print(f"# {w}: {res[w]['seconds']:.1f} s, {res[w]['rss_gib']:.2f} GiB", file=sys.stderr, flush=True)
    text = _table(side, info, a, res)
    print(text)
    summary = {"side": side, **a, "input": info, "parts": res, "total_s": time.perf_counter() - t_all}
    (args.out / f"bench_landscape_{side}.json").write_text(json.dumps(summary, indent=1))
    (args.out / f"bench_landscape_{side}.md").write_text(text + "\n")
    print(f"\nresults: {args.out / f'bench_landscape_{side}.json'}")


if __name__ == "__main__":
    main()
