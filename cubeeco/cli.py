"""The ``cubeeco`` command line: synth, search, cube, demo, run, report.

Every failure takes one path (:func:`_report`): a user error (a bad option, a bad
config, a file that is missing or in the way, a STAC source that cannot be searched)
prints ``cubeeco <command>: error: <one line>`` and exits 2; anything else is a bug and
exits 1 with one line that says so. ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import math
import os
import re
import sys
import time
from pathlib import Path

# the option each library argument is given by, per command, so that a library error
# speaks of what the user typed (``max_cloud`` -> ``--max-cloud``, ``grid=`` -> ``--bounds``)
_OPTIONS = {
    "search": {"collections": "COLLECTION", "source": "--source", "bbox": "--bbox", "datetime": "--datetime",
               "max_cloud": "--max-cloud", "platforms": "--platform", "max_items": "--max-items"},
    "cube": {"source": "--source", "grid": "--bounds MINX MINY MAXX MAXY (with --epsg)", "years": "--years",
             "datetime": "--years", "bbox": "--bounds", "method": "--method", "months": "--months",
             "max_cloud": "--max-cloud"},
    "synth": {"years": "--years", "seed": "--seed", "width_px": "--size", "height_px": "--size"},
    "run": {"grid": "grid: {epsg, resolution, bounds} in the config", "source": "source:",
            "max_cloud": "params.annual.max_cloud", "months": "params.annual.months",
            "method": "params.annual.method", "years": "years:"},
}


class UsageError(ValueError):
    """A bad command-line input; the message names the option and the fix."""


# -- checks of the command line, made before any work ---------------------------------------
def _check_years(years, option="--years"):
    if years and years[0] > years[1]:
        raise UsageError(f"{option} {years[0]} {years[1]}: the first year is after the last; "
                         f"give {option} FIRST LAST, e.g. {option} {years[1]} {years[0]}.")


def _check_out(path: Path, option="--out"):
    """The output path can be written: not a file where a folder goes, in a folder we may write."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file; give the path of a folder (a new one, or one "
                         f"cubeeco wrote before).")
    parent = path if path.is_dir() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: {parent} is a file, not a folder; give a path inside a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: no permission to write in {parent}; choose a folder you "
                         f"can write to.")


def _check_source(source):
    """A --source file must be a STAC catalog: the catalog reader takes any JSON it is given."""
    path = Path(source) if source else None
    if path is None or not path.is_file() or path.stat().st_size > 10_000_000:
        return
    try:
        kind = json.loads(path.read_text()).get("type")
    except (ValueError, AttributeError):
        return   # not JSON, or not an object: the search says so, naming the file
    if kind not in ("Catalog", "Collection"):
        what = f"its type is {kind!r}" if kind else "it has no type"
        raise UsageError(f"--source {path} is not a STAC catalog ({what}); give the "
                         f"catalog.json that `cubeeco synth` writes, its folder, a STAC API URL, or "
                         f"planetary-computer / earth-search.")


def _num(value: float) -> str:
    return f"{value:.10g}"


def _check_grid(args):
    if args.resolution <= 0 or not math.isfinite(args.resolution):
        raise UsageError(f"--resolution {_num(args.resolution)}: give a positive pixel size in metres (e.g. 30).")
    if args.bounds is None:
        return
    minx, miny, maxx, maxy = args.bounds
    if not all(map(math.isfinite, args.bounds)):
        raise UsageError(f"--bounds {' '.join(map(_num, args.bounds))}: give four finite numbers "
                         f"MINX MINY MAXX MAXY in the units of --epsg {args.epsg}.")
    if not (maxx > minx and maxy > miny):
        fixed = (min(minx, maxx), min(miny, maxy), max(minx, maxx), max(miny, maxy))
        raise UsageError(f"--bounds {' '.join(map(_num, args.bounds))}: give MINX MINY MAXX MAXY with "
                         f"MAXX > MINX and MAXY > MINY, e.g. --bounds {' '.join(map(_num, fixed))}.")
    r = args.resolution
    for name, span in (("width", maxx - minx), ("height", maxy - miny)):
        if abs(span / r - round(span / r)) > 1e-6:
            raise UsageError(f"--bounds: the {name} {_num(span)} is not a whole number of --resolution "
                             f"{_num(r)} pixels; move MAXX/MAXY to a multiple of {_num(r)} from MINX/MINY.")
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_epsg(args.epsg)
    except CRSError:
        raise UsageError(f"--epsg {args.epsg} is not an EPSG code (e.g. 32649 for UTM zone 49N).") from None


def _check_args(args) -> None:
    if args.command == "synth":
        _check_years(args.years)
        if args.size and min(args.size) < 32:
            raise UsageError(f"--size {args.size[0]} {args.size[1]}: a synthetic base is at least 32 x 32 "
                             f"pixels; give --size WIDTH_PX HEIGHT_PX of 32 or more.")
        _check_out(args.out)
    elif args.command == "search":
        if args.max_items is not None and args.max_items < 1:
            raise UsageError(f"--max-items {args.max_items}: give a whole number >= 1, or leave "
                             f"--max-items out for every matching item.")
        _check_source(args.source)
    elif args.command == "cube":
        _check_years(args.years)
        bad = [m for m in args.months if not 1 <= m <= 12]
        if bad or len(set(args.months)) != len(args.months):
            raise UsageError(f"--months {' '.join(map(str, args.months))}: give distinct month numbers "
                             f"1-12, e.g. --months 6 7 8 9.")
        if not args.group.strip() or "/" in args.group:
            raise UsageError(f"--group {args.group!r}: give a group name without '/', e.g. --group annual.")
        _check_grid(args)
        _check_source(args.source)
        _check_out(args.out)
    elif args.command == "demo":
        _check_out(args.out)
    elif args.command == "run" and args.scheduler and not re.match(r"^[a-z]+://[^/\s]+:\d+$", args.scheduler):
        raise UsageError(f"--scheduler {args.scheduler!r}: give a scheduler address such as "
                         f"tcp://127.0.0.1:8786.")


# -- one path for every failure -----------------------------------------------------------
_USER_ERRORS = (("cubeeco.io.store", "IncompleteGroupError"), ("cubeeco.io.lock", "StoreLockedError"),
                ("pystac_client.exceptions", "APIError"))


def _user_error_types() -> tuple[type, ...]:
    """What a user can cause and fix (ValueError covers ConfigError and the search errors);
    anything else is a bug. Imported only when something failed."""
    import importlib

    kinds = [ValueError, OSError, ImportError]
    for module, name in _USER_ERRORS:
        try:
            kinds.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(kinds)


_ERRNO_TEXT = {
    errno.EACCES: "no permission to use {f}; choose a path you can write to, or fix its permissions",
    errno.EPERM: "no permission to use {f}; choose a path you can write to, or fix its permissions",
    errno.EROFS: "{f} is on a read-only file system; choose a path you can write to",
    errno.EISDIR: "{f} is a folder where a file was expected; give the path of a file",
    errno.ENOTDIR: "{f}: part of this path is a file where a folder was expected",
    errno.ENOENT: "{f} does not exist; check the path",
    errno.EEXIST: "{f} exists and is in the way; choose another path or move it away",
    errno.ENOSPC: "no space left on the device that holds {f}; free some space or choose another path",
}


def _message(err: BaseException, command: str) -> str:
    """The error in one line, in the command line's words."""
    options = _OPTIONS.get(command, {})
    argument = getattr(err, "argument", None)
    if argument and hasattr(err, "message_for"):
        text = err.message_for(options.get(argument, argument))
    elif isinstance(err, OSError) and err.filename is not None and err.errno in _ERRNO_TEXT:
        text = _ERRNO_TEXT[err.errno].format(f=err.filename) + "."
    elif isinstance(err, ImportError) and err.name and "No module named" in str(err):
        text = f"{err}; install the package that provides {err.name.split('.')[0]!r} in this environment"
    else:
        text = str(err) or type(err).__name__
    for arg, option in options.items():   # "pass grid= explicitly" -> "pass --bounds ... explicitly"
        text = re.sub(rf"(?<![\w-]){arg}=", option, text)
    from .redact import redact

    return redact(" ".join(text.split()))


def _report(err: BaseException, command: str, debug: bool) -> int:
    if debug:
        import traceback

        from .redact import redact

        print(redact("".join(traceback.format_exception(err))), end="", file=sys.stderr)
    if isinstance(err, _user_error_types()):
        print(f"cubeeco {command}: error: {_message(err, command)}", file=sys.stderr)
        return 2
    print(f"cubeeco {command}: internal error (a bug; please report it with the output of --debug): "
          f"{type(err).__name__}: {_message(err, command)}", file=sys.stderr)
    return 1


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

    from .pipeline.api import run
    from .pipeline.config import load_config

    config = load_config(args.config)
    if args.scheduler:
        config = dataclasses.replace(config, cluster=dataclasses.replace(config.cluster, kind="scheduler",
                                                                         address=args.scheduler))
    reports = run(config, progress=not args.quiet, report=not args.no_report)
    for r in reports:
        print(json.dumps(r.__dict__))
    if not args.no_report:
        print(json.dumps({"report": str(config.report_path())}))
    return 0


def _cmd_report(args) -> int:
    from .report import write_report

    path = write_report(args.store, args.out, title=args.title, boundaries=args.boundaries)
    print(json.dumps({"report": str(path)}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cubeeco", description="Raster-cube ecology of mining regions.")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    p.add_argument("--debug", action="store_true", help="on an error, show the traceback too")
    # --debug is also accepted after the command; SUPPRESS keeps the subparser from resetting it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an error, show the traceback too")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", parents=[common], help="write a synthetic coal base (COGs + STAC + truth)")
    s.add_argument("--preset", default="demo", help="demo (15 x 15 km), tiny, or shendong")
    s.add_argument("--out", type=Path, default=None, help="output folder (default: the embedded catalog location)")
    s.add_argument("--seed", type=int)
    s.add_argument("--years", type=int, nargs=2, metavar=("FIRST", "LAST"))
    s.add_argument("--size", type=int, nargs=2, metavar=("WIDTH_PX", "HEIGHT_PX"))
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_synth)

    s = sub.add_parser("search", parents=[common], help="search a STAC source (embedded catalog, URL or endpoint name)")
    s.add_argument("collection", nargs="+")
    s.add_argument("--source", default=None, help="catalog path, STAC API URL, planetary-computer, earth-search")
    s.add_argument("--bbox", type=float, nargs=4, metavar=("W", "S", "E", "N"))
    s.add_argument("--datetime")
    s.add_argument("--max-cloud", type=float)
    s.add_argument("--platform", action="append")
    s.add_argument("--max-items", type=int)
    s.add_argument("--json", action="store_true", help="print the items as a GeoJSON FeatureCollection")
    s.set_defaults(func=_cmd_search)

    s = sub.add_parser("cube", parents=[common], help="build the annual growing-season cube and write it to Zarr")
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

    s = sub.add_parser("run", parents=[common], help="run a pipeline config (YAML): stages -> Zarr groups, resumable")
    s.add_argument("config", type=Path)
    s.add_argument("--scheduler", help="use an existing dask scheduler, e.g. tcp://127.0.0.1:8786")
    s.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("demo", parents=[common], help="synthesize, build the annual cube, run every analysis, write store + report")
    s.add_argument("--out", type=Path, default=Path("cubeeco-demo"))
    s.add_argument("--preset", default="demo")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser("report", parents=[common], help="write the HTML report of a store (report.html beside it)")
    s.add_argument("store", type=Path, help="Zarr store a run wrote")
    s.add_argument("--out", type=Path, default=None, help="report file (default: report.html beside the store)")
    s.add_argument("--boundaries", type=Path, default=None,
                   help="zone outlines to draw on the maps (any file geopandas reads, e.g. GeoJSON)")
    s.add_argument("--title", default=None, help="the page's title")
    s.set_defaults(func=_cmd_report)
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
    if not args.verbose:
        # urllib3 warns about every retry of an unreachable STAC API: the error says it once
        logging.getLogger("urllib3").setLevel(logging.ERROR)
    if getattr(args, "command", None) == "synth" and args.out is None:
        from .io.search import default_catalog

        args.out = default_catalog().parent.parent
    try:
        _check_args(args)
        return args.func(args)
    except KeyboardInterrupt:
        print("cubeeco: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (one path for every failure: _report)
        return _report(err, args.command, args.debug)


if __name__ == "__main__":
    sys.exit(main())
