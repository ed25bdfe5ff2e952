"""STAC item dicts as the loader needs them: projection in any of its forms, band
metadata, asset footprints on the analysis grid, readability checks.

Real catalogs write an asset's native CRS as ``proj:epsg`` (projection v1.x),
``proj:code`` (v2, also non-EPSG codes such as ``OGC:CRS84``; pystac >= 1.12 migrates
every item it reads to it), ``proj:wkt2`` or ``proj:projjson``, on the item or on each
asset. stackstac 0.5.1 reads only ``proj:epsg``, and without it falls back to the
item's lon/lat ``bbox`` (which fails for antimeridian tiles). So :func:`for_stackstac`
hands stackstac one form that works for every CRS: each asset gets the grid's
``proj:epsg`` and a ``proj:bbox`` = its footprint clipped to the grid, computed here
with pyproj. stackstac uses these only to skip assets outside the grid; GDAL reads
each file with the CRS written in it.
"""

from __future__ import annotations

import copy
import functools
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pystac
from affine import Affine
from pyproj import CRS, Transformer

CRS_KEYS = ("proj:code", "proj:epsg", "proj:wkt2", "proj:projjson")
GEOMETRY_KEYS = ("proj:transform", "proj:shape", "proj:bbox")
# codes pyproj knows but cannot turn into an EPSG number (axis order is lon/lat either way,
# and every transform here is always_xy)
EPSG_ALIASES = {"OGC:CRS84": 4326, "urn:ogc:def:crs:OGC:1.3:CRS84": 4326}
UNREADABLE = ("raise", "skip")


class MissingDataWarning(UserWarning):
    """Scenes or assets left out of a cube (missing asset, unreadable file)."""


def as_item_dicts(items) -> list[dict]:
    """Deep copies of ``items`` (pystac Items, an ItemCollection or dicts) as dicts.

    Items with only a ``start_datetime`` / ``end_datetime`` range (MODIS, land cover
    with ``datetime: null``) get ``datetime`` = the start, which stackstac needs.
    """
    if isinstance(items, pystac.ItemCollection):
        items = list(items)
    out = []
    for it in items:
        d = it.to_dict(transform_hrefs=False) if isinstance(it, pystac.Item) else copy.deepcopy(it)
        props = d.setdefault("properties", {})
        if not props.get("datetime"):
            if not props.get("start_datetime"):
                raise ValueError(f"STAC item {d.get('id')!r} has neither datetime nor start_datetime; "
                                 f"fix the item or leave it out.")
            props["datetime"] = props["start_datetime"]
        out.append(d)
    if not out:
        raise ValueError("no STAC items given: the search matched nothing (check collection, bbox and datetime).")
    return out


def collection_of(items: list[dict]) -> str:
    ids = sorted({str(d.get("collection") or "?") for d in items})
    return ", ".join(ids)


# -- projection ---------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _parse_crs(kind: str, text: str) -> CRS:
    if kind == "proj:epsg":
        return CRS.from_epsg(int(text))
    if kind == "proj:projjson":
        return CRS.from_json(text)
    return CRS.from_user_input(text)   # proj:code ("EPSG:32649", "OGC:CRS84") or proj:wkt2


def crs_of(fields: dict) -> CRS | None:
    """The CRS given by projection fields (any of ``CRS_KEYS``), or None."""
    for key in CRS_KEYS:
        value = fields.get(key)
        if value is None or value == "":
            continue
        text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
        try:
            return _parse_crs(key, text)
        except Exception as err:  # noqa: BLE001  (pyproj raises several types)
            raise ValueError(f"{key} = {text[:80]!r} is not a CRS pyproj understands: {err}") from err
    return None


def epsg_of(crs: CRS) -> int | None:
    """The EPSG number of ``crs`` (OGC:CRS84 counts as 4326), or None (e.g. MODIS sinusoidal)."""
    srs = crs.srs.strip()
    if srs in EPSG_ALIASES:
        return EPSG_ALIASES[srs]
    code = crs.to_epsg()
    if code is None and crs.to_authority() == ("OGC", "CRS84"):
        return 4326
    return code


def proj_fields(item: dict, key: str) -> dict:
    """Projection fields of asset ``key``: the asset's own where it has them, else the item's.

    A CRS given on the asset replaces the item's whole CRS (never mix an item
    ``proj:epsg`` with an asset ``proj:wkt2``); transform, shape and bbox likewise one by one.
    """
    props, asset = item.get("properties", {}), item["assets"][key]
    src = asset if any(asset.get(k) not in (None, "") for k in CRS_KEYS) else props
    fields = {k: src.get(k) for k in CRS_KEYS}
    for k in GEOMETRY_KEYS:
        fields[k] = asset.get(k, props.get(k))
    return fields


def _bbox_2d(bbox) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of a STAC bbox or ``proj:bbox``; a 3-D one is
    [minx, miny, minz, maxx, maxy, maxz]."""
    b = list(bbox)
    return tuple(float(b[i]) for i in ((0, 1, 3, 4) if len(b) == 6 else (0, 1, 2, 3)))


@dataclass(frozen=True)
class Footprint:
    """Where an asset's pixels lie: bounds in ``crs``; ``transform``/``shape`` when known."""

    crs: CRS
    bounds: tuple[float, float, float, float]
    transform: Affine | None = None
    shape: tuple[int, int] | None = None


def footprint(item: dict, key: str) -> Footprint | None:
    """The native footprint of asset ``key``; the lon/lat ``bbox`` when no projection is given."""
    f = proj_fields(item, key)
    crs = crs_of(f)
    if crs is not None and f["proj:transform"] is not None and f["proj:shape"] is not None:
        t = Affine(*list(f["proj:transform"])[:6])
        h, w = (int(v) for v in f["proj:shape"])
        xs, ys = zip(*(t @ (c, r) for c, r in ((0, 0), (w, 0), (0, h), (w, h))))
        return Footprint(crs, (min(xs), min(ys), max(xs), max(ys)), t, (h, w))
    if crs is not None and f["proj:bbox"] is not None:
        return Footprint(crs, _bbox_2d(f["proj:bbox"]))
    bbox = item.get("bbox")
    if bbox is None:
        return None
    west, south, east, north = _bbox_2d(bbox)
    if west > east:            # crosses the antimeridian: take the whole band of latitudes
        west, east = -180.0, 180.0
    return Footprint(CRS.from_epsg(4326), (max(west, -180.0), max(south, -90.0), min(east, 180.0), min(north, 90.0)))


@functools.lru_cache(maxsize=256)
def _transformer(src: CRS, dst: CRS) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _to(src: CRS, dst: CRS, bounds) -> tuple[float, float, float, float] | None:
    if src == dst:
        return tuple(bounds)
    try:
        out = _transformer(src, dst).transform_bounds(*bounds, densify_pts=21)
    except Exception:  # noqa: BLE001  (pyproj ProjError: outside the projection's domain)
        return None
    return out if np.all(np.isfinite(out)) else None


@functools.lru_cache(maxsize=4096)
def _on_grid(fp: Footprint, grid_crs: CRS, grid_bounds: tuple) -> tuple | None:
    # Transform the (small, well-behaved) grid into the asset's CRS and intersect there:
    # the other way round, a global or antimeridian tile reprojects to inf/NaN in UTM.
    g = _to(grid_crs, fp.crs, grid_bounds)
    if g is None:
        return grid_bounds     # cannot tell: keep the asset, reading outside it gives fill
    ix0, iy0 = max(g[0], fp.bounds[0]), max(g[1], fp.bounds[1])
    ix1, iy1 = min(g[2], fp.bounds[2]), min(g[3], fp.bounds[3])
    if ix0 >= ix1 or iy0 >= iy1:
        return None
    back = _to(fp.crs, grid_crs, (ix0, iy0, ix1, iy1))
    if back is None:
        return grid_bounds
    b = (max(back[0], grid_bounds[0]), max(back[1], grid_bounds[1]),
         min(back[2], grid_bounds[2]), min(back[3], grid_bounds[3]))
    return b if b[0] < b[2] and b[1] < b[3] else None


def bbox_on_grid(fp: Footprint | None, grid) -> tuple | None:
    """The part of a footprint inside ``grid``, in the grid's CRS; None when outside."""
    if fp is None:
        return tuple(grid.bounds)
    return _on_grid(fp, CRS.from_epsg(grid.epsg), tuple(grid.bounds))


def for_stackstac(items: list[dict], assets, grid) -> list[dict]:
    """Item dicts holding only ``assets``, each with ``proj:epsg`` = the grid's and
    ``proj:bbox`` = its footprint on the grid (assets outside the grid are left out)."""
    out = []
    for d in items:
        new = {}
        for key in assets:
            if key not in d["assets"]:
                continue
            b = bbox_on_grid(footprint(d, key), grid)
            if b is None:
                continue
            a = {k: v for k, v in d["assets"][key].items() if not k.startswith("proj:")}
            a.update({"proj:epsg": int(grid.epsg), "proj:bbox": [float(v) for v in b]})
            new[key] = a
        props = {k: v for k, v in d["properties"].items() if not k.startswith("proj:")}
        out.append({**d, "properties": props, "assets": new})
    return out


# -- band metadata --------------------------------------------------------------------
@dataclass(frozen=True)
class BandInfo:
    """How to decode an asset's DNs: value = DN x scale + offset, ``nodata`` is missing."""

    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None
    dtype: str | None = None


def _number(v):
    if isinstance(v, str) and v.lower().lstrip("+-") in ("nan", "inf"):
        return float(v)         # raster:bands allows "nan", "inf", "-inf" as nodata
    return v


def band_info(item: dict, key: str, default: BandInfo) -> BandInfo:
    """``raster:bands`` (raster v1; or STAC 1.1 ``bands`` / asset fields) of asset ``key``,
    each missing field taken from ``default`` (e.g. the Collection 2 constants)."""
    asset = item["assets"][key]
    sources = [(asset.get("raster:bands") or [{}])[0], (asset.get("bands") or [{}])[0], asset]

    def get(*names, fallback):
        for src in sources:
            for n in names:
                if isinstance(src, dict) and src.get(n) is not None:
                    return _number(src[n])
        return fallback

    return BandInfo(scale=float(get("scale", "raster:scale", fallback=default.scale)),
                    offset=float(get("offset", "raster:offset", fallback=default.offset)),
                    nodata=get("nodata", fallback=default.nodata),
                    dtype=get("data_type", fallback=default.dtype))


# -- readability ----------------------------------------------------------------------
def check_readable(href: str, gdal_env=None) -> str | None:
    """None if GDAL can open ``href`` and decode its last full-resolution block, else why not.

    Opening reads the header; the last block sits at the end of a COG, so a truncated
    file fails here rather than in the middle of a compute.
    """
    import contextlib

    import rasterio
    from rasterio.windows import Window

    env = gdal_env.open if gdal_env is not None else contextlib.nullcontext()
    try:
        with env, rasterio.open(href) as src:
            bh, bw = src.block_shapes[0]
            row, col = (src.height - 1) // bh * bh, (src.width - 1) // bw * bw
            src.read(1, window=Window(col, row, min(bw, src.width - col), min(bh, src.height - row)))
    except Exception as err:  # noqa: BLE001  (any failure means unreadable)
        return f"{type(err).__name__}: {err}"
    return None


def unreadable_assets(items: list[dict], assets, gdal_env=None, sign=None, threads: int = 8) -> dict[str, list]:
    """{item id: [(asset key, href, reason), ...]} for every asset that cannot be read.

    ``sign(href)`` gives the URL to open now (a signed blob URL); the href reported is
    the unsigned one. Threads: remote checks are one round trip each, GDAL releases
    the GIL while it waits on the network during reads.
    """
    jobs = [(d["id"], k, d["assets"][k]["href"]) for d in items for k in assets if k in d["assets"]]

    def check(job):
        try:
            url = sign(job[2]) if sign is not None else job[2]
        except Exception as err:  # noqa: BLE001  (a token that cannot be had: unreadable)
            return f"{type(err).__name__}: {err}"
        return check_readable(url, gdal_env)

    with ThreadPoolExecutor(max(1, min(threads, len(jobs) or 1))) as pool:
        reasons = list(pool.map(check, jobs))
    bad: dict[str, list] = {}
    for (iid, key, href), why in zip(jobs, reasons):
        if why is not None:
            bad.setdefault(iid, []).append((key, href, why))
    return bad


def warn(message: str) -> None:
    from ..redact import redact

    warnings.warn(redact(message), MissingDataWarning, stacklevel=3)
