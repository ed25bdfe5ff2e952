"""Per-mine zonal means over a Shendong-sized annual cube: cubeeco vs exactextract vs rasterstats.

    python benchmarks/bench_zonal.py --out /tmp/zonal               # 4521 x 4521 px x 22 years
    python benchmarks/bench_zonal.py --out /tmp/zonal --scale 0.1   # 1430 x 1430 px, ~1 min
    python benchmarks/bench_zonal.py --out /tmp/z --smoke           # seconds

The input (made once, reused): a synthetic float32 cube, 22 years of N(0.5, 0.1) plus a
smooth regional field, 8 % NaN gaps, on the Shendong grid (30 m, EPSG:32649), written as

* a tiled GeoTIFF (512-px tiles, uncompressed, one band per year) -- what exactextract
  and rasterstats read, and
* a Zarr store (time=-1 x 512 x 512 chunks, the pipeline's default `chunks: 512`) -- how cubeeco's annual cubes are stored,

and 133 mine-like polygons (rotated, jagged rectangles 1-3.2 km long, as the synth's
mines, 48 vertices each; a few with a hole, a few as two-part multipolygons).

Each tool runs in its own subprocess, so peak memory is that process's peak RSS (VmHWM):

1. ``cubeeco.zonal_stats(mean)`` on the Zarr cube, dask threads x ``--cores``;
2. the same on the GeoTIFF (rioxarray, 512-px chunks on its 512-px tiles, all bands per chunk);
3. ``exactextract.exact_extract(tif, zones, ["mean"])``, single process, all bands;
4. ``rasterstats.zonal_stats`` per band (it reads one band per call), on ``--rs-bands``
   bands and extrapolated to all years; it uses the cell-centre rule, not coverage.

cubeeco's times include its JIT compile (a warm-up call on a tiny raster is timed
separately and reported).  The means of cubeeco and exactextract are compared.
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

SIDE = 4521  # 20.4 M px at 30 m: the Shendong coal base
RES = 30.0
X0, Y0 = 380_000.0, 4_380_000.0
CRS = "EPSG:32649"
N_MINES = 133
GAPS = 0.08


def make_inputs(out: Path, side: int, years: int, seed: int = 4) -> dict:
    """GeoTIFF, Zarr and zones under ``out`` (skipped when present)."""
    import geopandas as gpd
    import rasterio
    import rioxarray
    import shapely
    from rasterio.transform import from_origin

    out.mkdir(parents=True, exist_ok=True)
    tif, zarr, zones_path = out / f"cube_{side}_{years}.tif", out / f"cube_{side}_{years}.zarr", out / f"mines_{side}.gpkg"
    done = out / f"inputs_{side}_{years}.json"
    if done.exists():
        return json.loads(done.read_text())
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    regional = (0.1 * np.sin(6 * xx) * np.cos(4 * yy)).astype(np.float32)
    del yy, xx
    profile = {"driver": "GTiff", "width": side, "height": side, "count": years, "dtype": "float32", "crs": CRS,
               "transform": from_origin(X0, Y0 + side * RES, RES, RES), "nodata": np.nan, "tiled": True,
               "blockxsize": 512, "blockysize": 512, "interleave": "band", "BIGTIFF": "IF_SAFER"}
    with rasterio.open(tif, "w", **profile) as dst:
        for b in range(years):
            band = regional + rng.normal(0.5 + 0.005 * b, 0.1, (side, side)).astype(np.float32)
            band[rng.random((side, side)) < GAPS] = np.nan
            dst.write(band, b + 1)
    da = rioxarray.open_rasterio(tif, chunks={"band": -1, "y": 512, "x": 512}).rename(band="time")
    da = da.assign_coords(time=np.arange(2001, 2001 + years)).rename("ndvi")
    da.attrs = {"units": "1"}
    da.to_dataset().to_zarr(zarr, mode="w", zarr_format=2, consolidated=True)
    # mines: rotated jagged rectangles as in cubeeco.synth.landscape, a 1 km margin inside the grid
    span = side * RES
    geoms = []
    small = span < 60_000  # a small grid: smaller mines and gaps, so that 133 fit
    gap = 300.0 if not small else 0.002 * span
    while len(geoms) < N_MINES:
        length = rng.uniform(1000, 3200) if not small else rng.uniform(0.01, 0.04) * span
        width = length * rng.uniform(0.45, 0.7)
        cx = X0 + rng.uniform(length, span - length)
        cy = Y0 + rng.uniform(length, span - length)
        t = np.linspace(0, 1, 13)[:-1]
        edge = np.concatenate([np.c_[t, 0 * t], np.c_[1 + 0 * t, t], np.c_[1 - t, 1 + 0 * t], np.c_[0 * t, 1 - t]])
        pts = (edge - 0.5) * (length, width) + rng.normal(0, 0.01 * width, edge.shape)
        g = shapely.Polygon(pts + (cx, cy))
        g = shapely.affinity.rotate(g, rng.uniform(-40, 40), origin=(cx, cy))
        if not g.is_valid:  # the jitter folded an edge: draw again
            continue
        if any(g.buffer(gap).intersects(h) for h in geoms):
            continue
        if len(geoms) % 10 == 3:
            g = g.difference(shapely.Point(cx, cy).buffer(0.15 * width))
        elif len(geoms) % 10 == 7:
            g = shapely.MultiPolygon([g, shapely.Point(cx + length, cy).buffer(0.2 * width)])
        geoms.append(shapely.make_valid(g))
    gpd.GeoDataFrame({"mine": [f"Mine {i + 1:03d}" for i in range(N_MINES)]}, geometry=geoms, crs=CRS).to_file(
        zones_path)
    info = {"tif": str(tif), "zarr": str(zarr), "zones": str(zones_path), "side": side, "years": years,
            "seconds": time.perf_counter() - t0,
            "tif_gib": tif.stat().st_size / 2**30}
    done.write_text(json.dumps(info))
    return info


# ------------------------------------------------------------------ one tool per process
def _rss_gib() -> float:
    """Peak resident memory of this process (VmHWM).  Not ``ru_maxrss``: Linux carries that
    over exec from the parent (which made the inputs), so every child would report its size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB -> GiB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_cubeeco(info, source, cores):
    import dask
    import geopandas as gpd
    import rioxarray
    import shapely
    import xarray as xr

    import cubeeco.ops.zonal as Z

    t0 = time.perf_counter()  # JIT compile: a 4 x 4 raster
    tiny = xr.DataArray(np.zeros((4, 4), np.float32), dims=("y", "x"),
                        coords={"y": [3.5, 2.5, 1.5, 0.5], "x": [0.5, 1.5, 2.5, 3.5]}).rio.write_crs(CRS)
    Z.zonal_stats(tiny, gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2, 2)], crs=CRS), stats="mean")
    compile_s = time.perf_counter() - t0
    zones = gpd.read_file(info["zones"])
    t0 = time.perf_counter()
    if source == "zarr":
        da = xr.open_zarr(info["zarr"])["ndvi"]
        da = da.rio.write_crs(CRS)
    else:
        da = rioxarray.open_rasterio(info["tif"], chunks={"band": -1, "y": 512, "x": 512}).rename(band="time")
    with dask.config.set(scheduler="threads", num_workers=cores):
        df = Z.zonal_stats(da, zones, stats=("mean",), id_column="mine")
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "compile_s": compile_s, "rss_gib": _rss_gib(),
            "mean": df["mean"].to_numpy().reshape(len(zones), -1).tolist(), "chunks": str(da.data.chunksize)}


def run_exactextract(info, cores):
    import geopandas as gpd
    from exactextract import exact_extract

    zones = gpd.read_file(info["zones"])
    t0 = time.perf_counter()
    ee = exact_extract(info["tif"], zones, ["mean"], output="pandas")
    seconds = time.perf_counter() - t0
    cols = [f"band_{b + 1}_mean" for b in range(info["years"])] if info["years"] > 1 else ["mean"]
    return {"seconds": seconds, "rss_gib": _rss_gib(), "mean": ee[cols].to_numpy(float).tolist()}


def run_rasterstats(info, bands):
    import geopandas as gpd
    from rasterstats import zonal_stats

    zones = gpd.read_file(info["zones"])
    t0 = time.perf_counter()
    for b in range(1, bands + 1):
        zonal_stats(zones, info["tif"], band=b, stats=["mean"], nodata=np.nan)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "bands": bands, "rss_gib": _rss_gib()}


def _child(tool: str, info: dict, args) -> dict:
    return run_child(__file__, tool, info, "--cores", str(args.cores), "--rs-bands", str(args.rs_bands))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("/tmp/cubeeco-zonal"))
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the 20.4 M pixels (side x sqrt)")
    p.add_argument("--years", type=int, default=22)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--rs-bands", type=int, default=2, help="bands rasterstats runs on (extrapolated)")
    p.add_argument("--smoke", action="store_true", help="tiny: 256 px x 3 years")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--info", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        info = json.loads(args.info)
        res = {"cubeeco-zarr": lambda: run_cubeeco(info, "zarr", args.cores),
               "cubeeco-tif": lambda: run_cubeeco(info, "tif", args.cores),
               "exactextract": lambda: run_exactextract(info, args.cores),
               "rasterstats": lambda: run_rasterstats(info, min(args.rs_bands, info["years"]))}[args.child]()
        print(json.dumps(res))
        return
    side = 256 if args.smoke else int(round(SIDE * args.scale ** 0.5))
    years = 3 if args.smoke else args.years
    info = make_inputs(args.out, side, years)
    results = {tool: _child(tool, info, args) for tool in ("cubeeco-zarr", "cubeeco-tif", "exactextract",
                                                           "rasterstats")}
    n_px = side * side
    ee_mean = np.asarray(results["exactextract"]["mean"])
    ce_mean = np.asarray(results["cubeeco-zarr"]["mean"])
    diff = np.nanmax(np.abs(ce_mean - ee_mean) / np.abs(ee_mean))
    rs = results["rasterstats"]
    rs_total = rs["seconds"] * years / rs["bands"]
    print(f"### Zonal means, {N_MINES} mine polygons: {side} x {side} = {n_px / 1e6:.1f} M px x {years} years, "
          f"float32, {GAPS:.0%} NaN\n")
    print(f"cores: {args.cores}, GeoTIFF {info['tif_gib']:.2f} GiB (tiled 512, uncompressed), inputs made in "
          f"{info['seconds']:.0f} s (reused: later runs)\n")
    print("| tool | wall time | peak memory (RSS) | vs cubeeco (Zarr) | notes |")
    print("|---|---:|---:|---:|---|")
    base = results["cubeeco-zarr"]["seconds"]
    rows = [
        (f"**cubeeco.zonal_stats (Zarr), dask threads x{args.cores}**", results["cubeeco-zarr"],
         f"coverage fraction, chunks {results['cubeeco-zarr']['chunks']}; JIT compile "
         f"{results['cubeeco-zarr']['compile_s']:.1f} s not included"),
        (f"cubeeco.zonal_stats (GeoTIFF via rioxarray), dask threads x{args.cores}", results["cubeeco-tif"],
         "same input file as the peers"),
        ("exactextract.exact_extract, all bands", results["exactextract"], "coverage fraction, one process"),
    ]
    for name, r, note in rows:
        print(f"| {name} | {r['seconds']:.1f} s | {r['rss_gib']:.2f} GiB | {r['seconds'] / base:.2f}x | {note} |")
    print(f"| rasterstats.zonal_stats, band by band | {rs_total:.1f} s | {rs['rss_gib']:.2f} GiB | "
          f"{rs_total / base:.2f}x | cell centres; {rs['bands']} of {years} bands, extrapolated |")
    print(f"\nlargest relative difference of the means, cubeeco vs exactextract: {diff:.1e}")


if __name__ == "__main__":
    main()
