"""STAC search: any STAC API by URL or name, or the embedded local catalog.

The embedded catalog (what ``cubeeco synth`` writes: ``catalog.json`` with one
``items.ndjson`` per collection) is searched in-process with the same semantics
as a STAC API item search (bbox / intersects, datetime intervals, ``query``), so
a run gives the same items offline and against a server loaded with them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pystac
from shapely.geometry import box, shape

log = logging.getLogger(__name__)

ENDPOINTS = {
    "planetary-computer": "https://planetarycomputer.microsoft.com/api/stac/v1",
    "earth-search": "https://earth-search.aws.element84.com/v1",
}
_OPS = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "in": lambda a, b: a in b,
}


def default_catalog() -> Path:
    """Where the embedded default (the synthetic demo coal base) lives.

    ``$CUBEECO_DATA`` if set, else ``~/.cache/cubeeco/synthetic-demo``; read at call
    time, never at import.
    """
    root = os.environ.get("CUBEECO_DATA") or Path.home() / ".cache" / "cubeeco" / "synthetic-demo"
    return Path(root) / "stac" / "catalog.json"


def search(
    collections: str | Sequence[str],
    *,
    source: str | os.PathLike | None = None,
    bbox: Sequence[float] | None = None,
    intersects: dict | None = None,
    datetime: str | Sequence | None = None,
    max_cloud: float | None = None,
    platforms: Iterable[str] | None = None,
    query: dict | None = None,
    filter: dict | None = None,
    max_items: int | None = None,
    page_size: int = 100,
    timeout: float = 60.0,
    max_retries: int = 5,
) -> pystac.ItemCollection:
    """Search a STAC source; items come back sorted by (datetime, id).

    Parameters
    ----------
    collections : str or list of str
        Collection ids, e.g. ``"landsat-c2-l2"``.
    source : None, path, URL or name
        ``None`` or ``"embedded"``: the embedded synthetic catalog; a path to a local
        ``catalog.json`` (or its folder); an ``http(s)`` STAC API URL; or a name from
        ``ENDPOINTS`` (``"planetary-computer"`` signs asset URLs with the
        ``planetary-computer`` package, ``"earth-search"``).
    bbox, intersects : lon/lat bounding box, or a GeoJSON geometry.
    datetime : ``"2005"``, ``"2000-06-01/2010-09-30"``, ``"2005/.."`` or a (start, end) pair.
    max_cloud : keep items with ``eo:cloud_cover <= max_cloud``.
    platforms : keep items whose ``platform`` is one of these.
    query : STAC query-extension dict, e.g. ``{"landsat:correction": {"eq": "L2SP"}}``.
    filter : CQL2-JSON filter (STAC APIs only).
    """
    if isinstance(collections, str):
        collections = [collections]
    if bbox is not None and intersects is not None:
        raise ValueError("give bbox or intersects, not both.")
    if bbox is not None and len(bbox) != 4:
        raise ValueError(f"bbox must be (west, south, east, north) in degrees, got {bbox!r}.")
    query = dict(query or {})
    if max_cloud is not None:
        query["eo:cloud_cover"] = {**query.get("eo:cloud_cover", {}), "lte": float(max_cloud)}
    if platforms is not None:
        query["platform"] = {"in": sorted(platforms)}
    kind, where = _resolve(source)
    if kind == "api" and (filter is not None or _needs_cql2(query)):
        # pgstac servers reject `in` in `query`, and `query` together with CQL2: say it all in CQL2
        clauses = [filter] if filter is not None else []
        clauses += _query_to_cql2(query)
        filter = clauses[0] if len(clauses) == 1 else {"op": "and", "args": clauses}
        query = {}
    if kind == "local":
        if filter is not None:
            raise ValueError("the embedded catalog supports `query`, not CQL2 `filter`; use query= instead.")
        items = _search_local(where, collections, bbox, intersects, datetime, query)
        items = items[:max_items] if max_items is not None else items
    else:
        items = _search_api(where, source, collections, bbox, intersects, datetime, query, filter,
                            max_items, page_size, timeout, max_retries)
    items.sort(key=lambda it: (_item_start(it.get("properties", {})), it["id"]))
    return pystac.ItemCollection(items, clone_items=False)


_CQL2_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "in": "in"}


def _needs_cql2(query: dict) -> bool:
    return any(isinstance(c, dict) and "in" in c for c in query.values())


def _conditions(query: dict):
    """(property, operator, value) triples of a query-extension dict; bare values mean eq."""
    for key, conditions in query.items():
        if not isinstance(conditions, dict):
            conditions = {"eq": conditions}
        for op, target in conditions.items():
            if op not in _OPS:
                raise ValueError(f"query operator {op!r} on {key!r} is not supported; use one of {sorted(_OPS)}.")
            yield key, op, target


def _query_to_cql2(query: dict) -> list[dict]:
    """The query-extension dict as CQL2-JSON clauses (same meaning)."""
    return [{"op": _CQL2_OPS[op], "args": [{"property": key}, target]} for key, op, target in _conditions(query)]


def _resolve(source) -> tuple[str, str | Path]:
    if source is None or source == "embedded":
        path = default_catalog()
        if not path.exists():
            raise FileNotFoundError(
                f"the embedded catalog {path} does not exist yet; create it with `cubeeco synth` "
                f"(or `cubeeco demo`), or set CUBEECO_DATA to a synthetic coal base folder.")
        return "local", path
    s = str(source)
    if s in ENDPOINTS:
        return "api", ENDPOINTS[s]
    if s.startswith(("http://", "https://")):
        return "api", s.rstrip("/")
    path = Path(s)
    if path.is_dir():
        path = path / "catalog.json" if (path / "catalog.json").exists() else path / "stac" / "catalog.json"
    if not path.exists():
        raise FileNotFoundError(
            f"STAC source {source!r} is neither a known endpoint ({', '.join(ENDPOINTS)}), "
            f"an http(s) URL, nor an existing catalog.json.")
    return "local", path


# -- embedded catalog --------------------------------------------------------------
def read_catalog(path: Path) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Collections and their item dicts from a local catalog written by ``cubeeco synth``."""
    path = Path(path)
    root = json.loads(path.read_text())
    collections, items = {}, {}
    for link in root.get("links", []):
        if link.get("rel") != "child":
            continue
        cpath = (path.parent / link["href"]).resolve()
        coll = json.loads(cpath.read_text())
        collections[coll["id"]] = coll
        ipath = cpath.parent / "items.ndjson"
        items[coll["id"]] = [json.loads(line) for line in ipath.read_text().splitlines() if line.strip()] \
            if ipath.exists() else []
    return collections, items


def _parse_instant(value, end: bool) -> dt.datetime | None:
    if value is None or value in ("..", ""):
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.date):
        value = value.isoformat()
    s = str(value).replace("Z", "+00:00")
    if len(s) == 4:                      # "2005": the whole year, as pystac-client expands it
        return dt.datetime(int(s), 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc) if end else \
            dt.datetime(int(s), 1, 1, tzinfo=dt.timezone.utc)
    if len(s) == 7:                      # "2005-06"
        y, m = map(int, s.split("-"))
        if end:
            nxt = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=dt.timezone.utc)
            return nxt - dt.timedelta(seconds=1)
        return dt.datetime(y, m, 1, tzinfo=dt.timezone.utc)
    if len(s) == 10:                     # "2005-06-01"
        d = dt.datetime.fromisoformat(s).replace(tzinfo=dt.timezone.utc)
        return d + dt.timedelta(days=1) - dt.timedelta(seconds=1) if end else d
    d = dt.datetime.fromisoformat(s)
    return d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)


def parse_interval(value) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A STAC datetime argument as an inclusive (start, end) pair (None = open)."""
    if value is None:
        return None, None
    if isinstance(value, str):
        parts = value.split("/")
        if len(parts) == 1:
            return _parse_instant(parts[0], False), _parse_instant(parts[0], True)
        if len(parts) != 2:
            raise ValueError(f"datetime {value!r} is not an instant or a 'start/end' interval.")
        return _parse_instant(parts[0], False), _parse_instant(parts[1], True)
    if isinstance(value, (dt.date, dt.datetime)):
        return _parse_instant(value, False), _parse_instant(value, True)
    start, end = value
    return _parse_instant(start, False), _parse_instant(end, True)


def _item_start(props: dict) -> str:
    return props.get("datetime") or props.get("start_datetime") or ""


def _item_interval(props: dict):
    if props.get("start_datetime") and props.get("end_datetime"):
        return _parse_instant(props["start_datetime"], False), _parse_instant(props["end_datetime"], False)
    d = _parse_instant(props["datetime"], False)
    return d, d


def _matches_query(props: dict, query: dict) -> bool:
    return all(_OPS[op](props.get(key), target) for key, op, target in _conditions(query))


def _search_local(path, collections, bbox, intersects, datetime, query) -> list[dict]:
    known, items = read_catalog(path)
    missing = [c for c in collections if c not in known]
    if missing:
        raise ValueError(f"collection(s) {missing} are not in {path}; it has {sorted(known)}.")
    area = box(*bbox) if bbox is not None else shape(intersects) if intersects is not None else None
    start, end = parse_interval(datetime)
    out = []
    for cid in collections:
        for it in items[cid]:
            props = it["properties"]
            if area is not None and not shape(it["geometry"]).intersects(area):
                continue
            i0, i1 = _item_interval(props)
            if (start is not None and i1 < start) or (end is not None and i0 > end):
                continue
            if query and not _matches_query(props, query):
                continue
            out.append(it)
    return out


# -- STAC APIs -------------------------------------------------------------------
def _search_api(url, source, collections, bbox, intersects, datetime, query, filter, max_items,
                page_size, timeout, max_retries) -> list[dict]:
    from pystac_client import Client
    from pystac_client.stac_api_io import StacApiIO

    modifier = None
    if source == "planetary-computer" or "planetarycomputer" in url:
        try:
            import planetary_computer
        except ImportError as err:
            raise ImportError("searching the Planetary Computer needs its URL signer: "
                              "pip install planetary-computer") from err
        modifier = planetary_computer.sign_inplace
    client = Client.open(url, modifier=modifier, stac_io=StacApiIO(timeout=timeout, max_retries=max_retries))
    # servers advertise sort as item-search v1.1.0, which pystac-client 0.9 does not recognise
    client.add_conforms_to("SORT")
    kwargs = dict(collections=list(collections), bbox=bbox, intersects=intersects, datetime=datetime,
                  limit=page_size, max_items=max_items,
                  sortby=[{"field": "properties.datetime", "direction": "asc"}, {"field": "id", "direction": "asc"}])
    if query:
        kwargs["query"] = query
    if filter is not None:
        kwargs["filter"] = filter
        kwargs["filter_lang"] = "cql2-json"
    log.info("STAC search %s %s", url, {k: v for k, v in kwargs.items() if v is not None})
    return [it.to_dict(transform_hrefs=False) for it in client.search(**kwargs).items()]
