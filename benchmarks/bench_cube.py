"""Cube-building benchmark: synthesis time, annual-cube throughput, graph size at coal-base scale.

    python benchmarks/bench_cube.py                 # demo preset (500 x 500 px, 25 years)
    python benchmarks/bench_cube.py --preset tiny   # smoke size

Prints a Markdown table. Throughput is pixel-years of the annual cube written to Zarr
per second of wall time (search + stackstac reads of every scene's 8 COGs + QA masking
+ median composite + Zarr write), on the local threaded scheduler with all cores.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import dask


def graph_size_at_scale(preset_name: str = "shendong", chunksize: int = 512) -> dict:
    """Tasks in the lazy annual-cube graph for a coal-base-sized grid (nothing is read)."""
    from types import SimpleNamespace

    from cubeeco.io.composite import annual_composite
    from cubeeco.io.cube import open_cube
    from cubeeco.synth import preset
    from cubeeco.synth.landsat import schedule
    from cubeeco.synth.stac import item

    cfg = preset(preset_name)
    grid = cfg.grid
    scenes = schedule(SimpleNamespace(config=cfg))   # acquisition plan only: no pixels made
    items = []
    for s in scenes:
        sensor = s.sensor
        assets = {k: {"href": f"/nonexistent/{s.index}_{k}.tif", "type": "image/tiff"} for k in sensor.bands}
        props = {"datetime": f"{s.date:%Y-%m-%d}T03:00:00Z", "platform": sensor.platform, "proj:epsg": grid.epsg}
        items.append(item(s.item_id(cfg.wrs_path_row), "landsat-c2-l2", None, list(grid.lonlat_bounds()), props, assets))
    t0 = time.perf_counter()
    annual = annual_composite(open_cube(copy.deepcopy(items), grid=grid, chunksize=chunksize))
    seconds = time.perf_counter() - t0
    n_tasks = len(dict(annual.__dask_graph__()))
    return {"grid": f"{grid.shape[0]} x {grid.shape[1]} px", "scenes": len(items), "years": len(cfg.year_list),
            "tasks": n_tasks, "graph_build_s": round(seconds, 2)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--preset", default="demo")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--no-scale", action="store_true", help="skip the coal-base graph-size count")
    args = p.parse_args(argv)

    from cubeeco.io.store import write_store
    from cubeeco.synth import preset, synthesize
    from cubeeco.workflows.annual import build_annual_cube

    work = args.workdir or Path(tempfile.mkdtemp(prefix="cubeeco-bench-"))
    cfg = preset(args.preset)
    t0 = time.perf_counter()
    synthesize(cfg, work / "data", progress=False, overwrite=True)
    synth_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    annual, items = build_annual_cube(source=work / "data", grid=cfg.grid)
    with dask.config.set(scheduler="threads"):
        write_store(annual, work / "bench.zarr", "annual")
    cube_s = time.perf_counter() - t0
    pixel_years = annual.sizes["time"] * annual.sizes["y"] * annual.sizes["x"]
    scene_pixels = len(items) * cfg.width_px * cfg.height_px

    print("| preset | pixels | years | scenes | synth s | cube s | pixel-years/s | scene-pixels/s |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.preset} | {cfg.width_px * cfg.height_px:,} | {len(cfg.year_list)} | {len(items)} | {synth_s:.1f} | "
          f"{cube_s:.1f} | {pixel_years / cube_s:,.0f} | {scene_pixels / cube_s:,.0f} |")
    if not args.no_scale:
        g = graph_size_at_scale()
        print()
        print("| coal-base lazy graph | scenes | years | dask tasks | build s |")
        print("|---|---|---|---|---|")
        print(f"| {g['grid']} | {g['scenes']} | {g['years']} | {g['tasks']:,} | {g['graph_build_s']} |")


if __name__ == "__main__":
    main()
