"""The ``cubeeco`` command line: synth, search, cube, demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path


def _cmd_synth(args) -> int:
    from .synth import preset, synthesize

    overrides = {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.years:
        overrides["years"] = tuple(args.years)
    if args.size:
        overrides["width_px"], overrides["height_px"] = args.size
    config = preset(args.preset, **overrides)
    result = synthesize(config, args.out, progress=not args.quiet, overwrite=args.overwrite)
    print(json.dumps({"root": str(result.root), "catalog": str(result.catalog), "items": result.n_items,
                      "seconds": round(result.seconds, 2), "pixels": config.width_px * config.height_px}))
    return 0


def _cmd_search(args) -> int:
    from .io.search import search

    items = search(args.collection, source=args.source, bbox=args.bbox, datetime=args.datetime,
                   max_cloud=args.max_cloud, platforms=args.platform, max_items=args.max_items)
    if args.json:
        print(json.dumps(items.to_dict(transform_hrefs=False)))
        return 0
    print(f"{'id':<45} {'datetime':<22} {'platform':<10} cloud")
    for it in items:
        p = it.properties
        when = str(p.get("datetime") or p.get("start_datetime"))[:19]
        print(f"{it.id:<45} {when:<22} {str(p.get('platform', '')):<10} {p.get('eo:cloud_cover', '')}")
    print(f"{len(items)} item(s)", file=sys.stderr)
    return 0


def _cmd_cube(args) -> int:
    from .io.grid import Grid
    from .io.provenance import provenance
    from .io.store import write_store
    from .progress import progress
    from .workflows.annual import build_annual_cube

    grid = Grid(args.epsg, args.resolution, tuple(args.bounds)) if args.bounds else None
    t0 = time.perf_counter()
    annual, items = build_annual_cube(source=args.source, grid=grid, years=tuple(args.years) if args.years else None,
                                      method=args.method, months=args.months, max_cloud=args.max_cloud)
    with progress(f"writing annual cube to {args.out}", not args.quiet):
        write_store(annual, args.out, args.group, provenance=provenance(items=items, config=vars(args)))
    seconds = time.perf_counter() - t0
    n = annual.sizes["time"] * annual.sizes["y"] * annual.sizes["x"]
    print(json.dumps({"store": str(args.out), "group": args.group, "pixel_years": n, "seconds": round(seconds, 2),
                      "pixel_years_per_second": round(n / seconds)}))
    return 0


def _cmd_demo(args) -> int:
    from .workflows.demo import run_demo

    summary = run_demo(args.out, preset_name=args.preset, progress=not args.quiet)
    print(json.dumps(summary, indent=1))
    return 0


def _cmd_run(args) -> int:
    import dataclasses

    from .pipeline.config import load_config
    from .pipeline.run import run

    config = load_config(args.config)
    if args.scheduler:
        config = dataclasses.replace(config, cluster=dataclasses.replace(config.cluster, kind="scheduler",
                                                                         address=args.scheduler))
    reports = run(config, progress=not args.quiet)
    for r in reports:
        print(json.dumps(r.__dict__))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cubeeco", description="Raster-cube ecology of mining regions.")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write a synthetic coal base (COGs + STAC + truth)")
    s.add_argument("--preset", default="demo", help="demo (15 x 15 km), tiny, or shendong")
    s.add_argument("--out", type=Path, default=None, help="output folder (default: the embedded catalog location)")
    s.add_argument("--seed", type=int)
    s.add_argument("--years", type=int, nargs=2, metavar=("FIRST", "LAST"))
    s.add_argument("--size", type=int, nargs=2, metavar=("WIDTH_PX", "HEIGHT_PX"))
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_synth)

    s = sub.add_parser("search", help="search a STAC source (embedded catalog, URL or endpoint name)")
    s.add_argument("collection", nargs="+")
    s.add_argument("--source", default=None, help="catalog path, STAC API URL, planetary-computer, earth-search")
    s.add_argument("--bbox", type=float, nargs=4, metavar=("W", "S", "E", "N"))
    s.add_argument("--datetime")
    s.add_argument("--max-cloud", type=float)
    s.add_argument("--platform", action="append")
    s.add_argument("--max-items", type=int)
    s.add_argument("--json", action="store_true", help="print the items as a GeoJSON FeatureCollection")
    s.set_defaults(func=_cmd_search)

    s = sub.add_parser("cube", help="build the annual growing-season cube and write it to Zarr")
    s.add_argument("--source", default=None)
    s.add_argument("--out", type=Path, required=True, help="Zarr store")
    s.add_argument("--group", default="annual")
    s.add_argument("--years", type=int, nargs=2, metavar=("FIRST", "LAST"))
    s.add_argument("--bounds", type=float, nargs=4, metavar=("MINX", "MINY", "MAXX", "MAXY"))
    s.add_argument("--epsg", type=int, default=32649)
    s.add_argument("--resolution", type=float, default=30.0)
    s.add_argument("--method", choices=("median", "max_ndvi"), default="median")
    s.add_argument("--months", type=int, nargs="+", default=[6, 7, 8, 9])
    s.add_argument("--max-cloud", type=float)
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_cube)

    s = sub.add_parser("run", help="run a pipeline config (YAML): stages -> Zarr groups, resumable")
    s.add_argument("config", type=Path)
    s.add_argument("--scheduler", help="use an existing dask scheduler, e.g. tcp://127.0.0.1:8786")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("demo", help="synthesize, build the annual cube, run every analysis, write store + report")
    s.add_argument("--out", type=Path, default=Path("cubeeco-demo"))
    s.add_argument("--preset", default="demo")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose and getattr(args, "command", None) == "run":
        # distributed logs every scheduler/nanny start and stop at INFO (it sets its logger
        # levels when imported): the progress bars and the run log say what a user needs;
        # -v brings them back
        import distributed  # noqa: F401

        logging.getLogger("distributed").setLevel(logging.WARNING)
    if getattr(args, "command", None) == "synth" and args.out is None:
        from .io.search import default_catalog

        args.out = default_catalog().parent.parent
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, RuntimeError, ImportError) as err:
        print(f"cubeeco {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cubeeco: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
