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
import math
import numbers
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pystac
from shapely.geometry import box, shape

from ..redact import redact

log = logging.getLogger(__name__)


class SearchError(ValueError):
    """A search input the user has to fix; ``argument`` names the Python argument at fault.

    Front ends that call the argument something else (the CLI's ``--max-cloud``) say
    ``err.message_for("--max-cloud")``; ``str(err)`` speaks of the Python argument.
    """

    def __init__(self, argument: str, message: str, *, subject: str | None = None):
        self.argument = argument
        self._subject = argument if subject is None else subject
        self._message = message
        super().__init__(self.message_for(self._subject))

    def message_for(self, name: str) -> str:
        """The message with the argument called ``name``."""
        return self._message.replace("{arg}", name)


class SearchArgumentError(SearchError):
    """A search argument out of its domain (bbox, datetime, max_cloud, max_items ...)."""


class StacSourceError(SearchError):
    """The STAC source cannot be searched: unreachable, not STAC, HTTP error, or bad items."""

    def __init__(self, message: str):
        super().__init__("source", redact(message))


class StacSourceNotFound(StacSourceError, FileNotFoundError):
    """A local catalog path that does not exist."""

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
        ``ENDPOINTS`` (``"planetary-computer"``, ``"earth-search"``). Asset hrefs come back
        unsigned; `cubeeco.io.remote.prepare_assets` makes them readable when a cube is loaded.
    bbox, intersects : a (west, south, east, north) box in WGS84 degrees, or a GeoJSON geometry.
        Longitudes lie in [-180, 180], latitudes in [-90, 90], south <= north; west > east is a
        box across the antimeridian (STAC API spec), accepted when it spans at most 180 degrees
        of longitude, so that a swapped west/east is an error, not a search round the globe.
    datetime : ``"2005"``, ``"2000-06-01/2010-09-30"``, ``"2005/.."`` or a (start, end) pair.
    max_cloud : keep items with ``eo:cloud_cover <= max_cloud``.
    platforms : keep items whose ``platform`` is one of these.
    query : STAC query-extension dict, e.g. ``{"landsat:correction": {"eq": "L2SP"}}``.
    filter : CQL2-JSON filter (STAC APIs only; an API that does not conform to the filter
        extension is an error, since cubeeco cannot apply CQL2 itself).
    max_items : at most this many items (the first in (datetime, id) order), >= 1; None: all.

    ``max_cloud``, ``platforms`` and ``query`` mean the same for every source: items from a
    STAC API are checked again here, so a server without the query or filter extension
    (which ignores them) gives the same items as the embedded catalog. With ``max_items``,
    pages are asked for until that many items pass (an API without the sort extension is
    read to the end, then sorted here).
    page_size : items per page asked of a STAC API, >= 1.

    Raises
    ------
    SearchArgumentError
        An argument out of its domain; ``err.argument`` names it (e.g. ``"max_cloud"``).
    StacSourceError
        The source cannot be searched (unreachable, HTTP error, not STAC, an item without a
        time); ``err.argument == "source"``. Messages never carry URL credentials.
    """
    collections = _check_collections(collections)
    bbox = _check_bbox(bbox, intersects)
    if intersects is not None:
        _check_intersects(intersects)
    parse_interval(datetime)                      # a clear error now, not from the server later
    max_items = _check_count("max_items", max_items, allow_none=True)
    page_size = _check_count("page_size", page_size)
    query = dict(query or {})
    if max_cloud is not None:
        query["eo:cloud_cover"] = {**query.get("eo:cloud_cover", {}), "lte": _check_cloud(max_cloud)}
    if platforms is not None:
        query["platform"] = {"in": sorted(_check_platforms(platforms))}
    list(_conditions(query))                      # a bad operator is an error before any request
    kind, where = _resolve(source)
    if kind == "local":
        if filter is not None:
            raise SearchArgumentError(
                "filter", "the embedded catalog supports `query`, not CQL2 `filter`; use query= instead.")
        items = _search_local(where, collections, bbox, intersects, datetime, query)
    else:
        items = _search_api(where, collections, bbox, intersects, datetime, query, filter,
                            max_items, page_size, timeout, max_retries)
    items.sort(key=lambda it: (_item_start(it.get("properties", {})), it["id"]))
    if max_items is not None:
        items = items[:max_items]
    return pystac.ItemCollection(items, clone_items=False)


# -- argument checks: each names the argument, what is wrong, and the fix --------------
def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_collections(collections) -> list[str]:
    if isinstance(collections, str):
        collections = [collections]
    collections = list(collections or [])
    if not collections or not all(isinstance(c, str) and c for c in collections):
        raise SearchArgumentError(
            "collections", f"{{arg}} must be one or more collection ids such as 'landsat-c2-l2', "
            f"got {collections!r}.")
    return collections


def _check_bbox(bbox, intersects):
    """The bbox as four floats (west, south, east, north) in degrees, or None.

    ``south > north`` is always an error. ``west > east`` is a box that crosses the
    antimeridian (STAC API spec); it is accepted when the box so described spans at most
    180 degrees of longitude, which tells a real antimeridian box (Fiji: 177 .. -178) from
    a swapped one (110.5 .. 110.0 would wrap round the globe over 359.5 degrees).
    """
    if bbox is None:
        return None
    if intersects is not None:
        raise SearchArgumentError("bbox", "give {arg} or an intersects geometry, not both.")
    if isinstance(bbox, (str, bytes)) or not hasattr(bbox, "__len__") or len(bbox) != 4:
        raise SearchArgumentError(
            "bbox", f"{{arg}} must be (west, south, east, north) in degrees, got {bbox!r}.")
    if not all(_is_number(v) for v in bbox):
        raise SearchArgumentError("bbox", f"{{arg}} must hold four numbers (degrees), got {list(bbox)!r}.")
    west, south, east, north = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise SearchArgumentError(
            "bbox", f"{{arg}} {[west, south, east, north]} has a NaN or infinite value; give four "
                    f"finite degrees (west, south, east, north).")
    for name, v in (("west", west), ("east", east)):
        if not -180 <= v <= 180:
            raise SearchArgumentError(
                "bbox", f"{{arg}} {name} longitude {v:g} is outside [-180, 180]; give degrees "
                        f"(west, south, east, north) in WGS84 lon/lat, not projected metres.")
    for name, v in (("south", south), ("north", north)):
        if not -90 <= v <= 90:
            raise SearchArgumentError(
                "bbox", f"{{arg}} {name} latitude {v:g} is outside [-90, 90]; give degrees "
                        f"(west, south, east, north) in WGS84 lon/lat, not projected metres.")
    if south > north:
        raise SearchArgumentError(
            "bbox", f"{{arg}} south {south:g} is north of north {north:g}; give "
                    f"(west, south, east, north), e.g. [{west:g}, {north:g}, {east:g}, {south:g}].")
    if west > east and (180 - west) + (east + 180) > 180:
        raise SearchArgumentError(
            "bbox", f"{{arg}} west {west:g} is east of east {east:g}: read as crossing the "
                    f"antimeridian it would span {(180 - west) + (east + 180):g} degrees of longitude; "
                    f"give (west, south, east, north) with west < east, e.g. "
                    f"[{east:g}, {south:g}, {west:g}, {north:g}].")
    return [west, south, east, north]


def _check_intersects(intersects) -> None:
    try:
        geom = shape(intersects)
    except Exception as err:
        raise SearchArgumentError(
            "intersects", f"{{arg}} is not a GeoJSON geometry ({type(err).__name__}: {err}); give a "
                          f"dict such as {{'type': 'Polygon', 'coordinates': [...]}}.") from None
    if geom.is_empty:
        raise SearchArgumentError("intersects", "{arg} is an empty geometry; give the area to search.")


def _check_count(name: str, value, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        none = " or None (no limit)" if allow_none else ""
        raise SearchArgumentError(name, f"{{arg}} must be a whole number >= 1{none}, got {value!r}.")
    return int(value)


def _check_cloud(max_cloud) -> float:
    if not _is_number(max_cloud) or not 0 <= float(max_cloud) <= 100:
        raise SearchArgumentError(
            "max_cloud", f"{{arg}} is a cloud-cover percentage and must be between 0 and 100, "
                         f"got {max_cloud!r}.")
    return float(max_cloud)


def _check_platforms(platforms) -> list[str]:
    platforms = [platforms] if isinstance(platforms, str) else list(platforms)
    if not platforms or not all(isinstance(p, str) and p for p in platforms):
        raise SearchArgumentError(
            "platforms", f"{{arg}} must be one or more platform names such as 'landsat-8', "
                         f"got {platforms!r}.")
    return platforms


_CQL2_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "in": "in"}


def _needs_cql2(query: dict) -> bool:
    return any(isinstance(c, dict) and "in" in c for c in query.values())


def _conditions(query: dict):
    """(property, operator, value) triples of a query-extension dict; bare values mean eq."""
    if not isinstance(query, dict):
        raise SearchArgumentError(
            "query", f"{{arg}} must be a dict such as {{'eo:cloud_cover': {{'lte': 20}}}}, got {query!r}.")
    for key, conditions in query.items():
        if not isinstance(conditions, dict):
            conditions = {"eq": conditions}
        for op, target in conditions.items():
            if op not in _OPS:
                raise SearchArgumentError(
                    "query", f"{{arg}} operator {op!r} on {key!r} is not supported; use one of {sorted(_OPS)}.")
            yield key, op, target


def _query_to_cql2(query: dict) -> list[dict]:
    """The query-extension dict as CQL2-JSON clauses (same meaning)."""
    return [{"op": _CQL2_OPS[op], "args": [{"property": key}, target]} for key, op, target in _conditions(query)]


def _resolve(source) -> tuple[str, str | Path]:
    if source is None or source == "embedded":
        path = default_catalog()
        if not path.exists():
            raise StacSourceNotFound(
                f"the embedded catalog {path} does not exist yet; create it with `cubeeco synth` "
                f"(or `cubeeco demo`), or set CUBEECO_DATA to a synthetic coal base folder.")
        return "local", path
    s = str(source)
    if not s.strip():
        raise StacSourceNotFound(
            f"STAC source {source!r} is empty; give a catalog path, an http(s) STAC API URL, "
            f"or one of {', '.join(ENDPOINTS)}.")
    if s in ENDPOINTS:
        return "api", ENDPOINTS[s]
    if s.startswith(("http://", "https://")):
        return "api", s.rstrip("/")
    path = Path(s)
    if path.is_dir():
        path = path / "catalog.json" if (path / "catalog.json").exists() else path / "stac" / "catalog.json"
    if not path.exists():
        raise StacSourceNotFound(
            f"STAC source {s!r} is neither a known endpoint ({', '.join(ENDPOINTS)}), "
            f"an http(s) URL, nor an existing catalog.json.")
    return "local", path


# -- embedded catalog --------------------------------------------------------------
def read_catalog(path: Path) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Collections and their item dicts from a local catalog written by ``cubeeco synth``."""
    path = Path(path)
    try:
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
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as err:
        raise StacSourceError(
            f"STAC catalog {path} cannot be read ({type(err).__name__}: {err}); give a catalog.json "
            f"written by `cubeeco synth` or a STAC API URL.") from None
    return collections, items


_INSTANT_FORMS = "'2005', '2005-06', '2005-06-01', or an ISO 8601 date-time"


def _parse_instant(value, end: bool) -> dt.datetime | None:
    if value is None or value in ("..", ""):
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.date):
        value = value.isoformat()
    s = str(value).strip().replace("Z", "+00:00")
    try:
        if re.fullmatch(r"\d{4}", s):            # "2005": the whole year, as pystac-client expands it
            return dt.datetime(int(s), 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc) if end else \
                dt.datetime(int(s), 1, 1, tzinfo=dt.timezone.utc)
        if re.fullmatch(r"\d{4}-\d{2}", s):      # "2005-06"
            y, m = map(int, s.split("-"))
            if end:
                nxt = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=dt.timezone.utc)
                return nxt - dt.timedelta(seconds=1)
            return dt.datetime(y, m, 1, tzinfo=dt.timezone.utc)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):  # "2005-06-01"
            d = dt.datetime.fromisoformat(s).replace(tzinfo=dt.timezone.utc)
            return d + dt.timedelta(days=1) - dt.timedelta(seconds=1) if end else d
        d = dt.datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{value!r} is not a date: give {_INSTANT_FORMS}") from None
    return d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)


def parse_interval(value) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A STAC datetime argument as an inclusive (start, end) pair (None = open).

    Raises `SearchArgumentError` (argument ``datetime``) for what is not a date, an
    instant or a ``start/end`` interval, and for an interval that ends before it starts.
    """
    if value is None:
        return None, None
    try:
        if isinstance(value, str):
            parts = value.split("/")
            if len(parts) > 2:
                raise ValueError("it is not an instant or a 'start/end' interval")
            first, last = parts if len(parts) == 2 else (parts[0], parts[0])
            if len(parts) == 1 and first.strip() in ("", ".."):
                raise ValueError("it is empty")
        elif isinstance(value, (dt.date, dt.datetime)):
            first = last = value
        elif isinstance(value, Sequence) and len(value) == 2:
            first, last = value
        else:
            raise ValueError("it is not an instant or a 'start/end' interval")
        start, end = _parse_instant(first, False), _parse_instant(last, True)
    except (ValueError, TypeError):
        raise SearchArgumentError(
            "datetime", f"{{arg}} {value!r} is not a date or a 'start/end' interval; give e.g. '2005', "
                        f"'2005-06-01', '2000-06-01/2010-09-30', '2005/..' or ISO 8601 date-times.") from None
    if start is not None and end is not None and start > end:
        raise SearchArgumentError(
            "datetime", f"{{arg}} {value!r} ends before it starts ({start:%Y-%m-%d} > "
                        f"{end:%Y-%m-%d}); give 'start/end' with start <= end.")
    return start, end


def _item_start(props: dict) -> str:
    return props.get("datetime") or props.get("start_datetime") or ""


def check_item_times(item: dict, where) -> None:
    """A clear error for an item that has neither ``datetime`` nor a start/end pair."""
    props = item.get("properties") or {}
    if props.get("datetime") or (props.get("start_datetime") and props.get("end_datetime")):
        for key in ("datetime", "start_datetime", "end_datetime"):
            if props.get(key):
                try:
                    _parse_instant(props[key], False)
                except ValueError as err:
                    raise StacSourceError(
                        f"STAC item {item.get('id')!r} in {where} has an unreadable {key} "
                        f"({err}); fix the item.") from None
        return
    raise StacSourceError(
        f"STAC item {item.get('id')!r} (collection {item.get('collection')!r}) in {where} has no "
        f"datetime and no start_datetime/end_datetime pair; fix the item (STAC requires one) or "
        f"remove it from the catalog.")


def _item_interval(props: dict):
    if props.get("start_datetime") and props.get("end_datetime"):
        return _parse_instant(props["start_datetime"], False), _parse_instant(props["end_datetime"], False)
    d = _parse_instant(props["datetime"], False)
    return d, d


def _matches_query(props: dict, query: dict) -> bool:
    return all(_OPS[op](props.get(key), target) for key, op, target in _conditions(query))


def _search_area(bbox, intersects):
    if bbox is not None:
        west, south, east, north = bbox
        if west > east:                   # crosses the antimeridian: the two sides of it
            return box(west, south, 180, north).union(box(-180, south, east, north))
        return box(west, south, east, north)
    return shape(intersects) if intersects is not None else None


def _search_local(path, collections, bbox, intersects, datetime, query) -> list[dict]:
    known, items = read_catalog(path)
    missing = [c for c in collections if c not in known]
    if missing:
        raise SearchArgumentError(
            "collections", f"collection(s) {missing} are not in {path}; it has {sorted(known)}.")
    area = _search_area(bbox, intersects)
    start, end = parse_interval(datetime)
    out = []
    for cid in collections:
        for it in items[cid]:
            check_item_times(it, path)
            props = it["properties"]
            # an item with a null geometry has no footprint and never matches a spatial query
            # (STAC item spec), as a STAC API answers
            if area is not None and (not it.get("geometry") or not shape(it["geometry"]).intersects(area)):
                continue
            i0, i1 = _item_interval(props)
            if (start is not None and i1 < start) or (end is not None and i0 > end):
                continue
            if query and not _matches_query(props, query):
                continue
            out.append(it)
    return out


# -- STAC APIs -------------------------------------------------------------------
_ROOT_HINT = f"a STAC API root such as {ENDPOINTS['planetary-computer']}, or one of {', '.join(ENDPOINTS)}"


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unreachable_reason(text: str) -> str:
    for pattern in (r"\[Errno -?\d+\] ([^'\")\]]+)", r"(Read timed out|timed out|Connection refused|"
                    r"Name or service not known|certificate verify failed|Connection reset by peer)"):
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip()
    return _one_line(text, 100)


def _source_error(url: str, err: Exception, what: str) -> StacSourceError:
    """The one-line error for a STAC API that failed while ``what`` (the root, a search)."""
    from pystac_client.exceptions import APIError

    where = f"STAC source {url}"
    status = getattr(err, "status_code", None)
    if isinstance(err, APIError) and status is None:
        return StacSourceError(
            f"cannot reach {where} ({_unreachable_reason(str(err))}); check the URL and the network, "
            f"or search a local catalog.json instead.")
    if isinstance(err, APIError) and status == 404:
        return StacSourceError(
            f"{where} answered HTTP 404 (not found) when {what}; check the URL: give {_ROOT_HINT}.")
    if isinstance(err, APIError) and status in (401, 403):
        return StacSourceError(
            f"{where} answered HTTP {status} (not allowed) when {what}; check the credentials it needs.")
    if isinstance(err, APIError):
        return StacSourceError(
            f"{where} answered HTTP {status} when {what}: {_one_line(err)}; check the URL and the "
            f"search arguments, or retry later if the server is failing.")
    if isinstance(err, json.JSONDecodeError):
        return StacSourceError(
            f"{where} did not return JSON when {what} (a web page, not a STAC API?); give {_ROOT_HINT}.")
    if isinstance(err, NotImplementedError):
        return StacSourceError(
            f"{where} is a STAC catalog without item search (/search); give {_ROOT_HINT}, or the "
            f"path of a local catalog.json.")
    return StacSourceError(
        f"{where} returned JSON that is not STAC when {what} ({type(err).__name__}: {_one_line(err)}); "
        f"give {_ROOT_HINT}.")


def _capabilities(client) -> set[str] | None:
    """The item-search extensions a STAC API says it conforms to ("sort", "query",
    "filter"), or None when it lists no conformance classes at all (unknown)."""
    if not client.has_conforms_to():
        return None
    caps = set()
    for uri in client.get_conforms_to():
        uri = str(uri).rstrip("/")
        for ext in ("sort", "query", "filter"):
            if uri.endswith(f"#{ext}") or (ext == "filter" and uri.endswith("/conf/filter")):
                caps.add(ext)
    return caps


def _search_api(url, collections, bbox, intersects, datetime, query, filter, max_items,
                page_size, timeout, max_retries) -> list[dict]:
    """Item dicts from a STAC API, filtered here by ``query`` too (a server without the
    query/filter extension ignores it). Asset hrefs come back as the server gives them:
    Planetary Computer hrefs are signed when they are read (`cubeeco.io.remote`), so no token
    is ever stored with the items."""
    from pystac_client import Client
    from pystac_client.stac_api_io import StacApiIO

    if not _is_number(timeout) or not timeout > 0:
        raise SearchArgumentError("timeout", f"{{arg}} must be a number of seconds > 0, got {timeout!r}.")
    if isinstance(max_retries, bool) or not isinstance(max_retries, numbers.Integral) or max_retries < 0:
        raise SearchArgumentError("max_retries", f"{{arg}} must be a whole number >= 0, got {max_retries!r}.")
    try:
        client = Client.open(url, stac_io=StacApiIO(timeout=timeout, max_retries=max_retries))
    except Exception as err:    # every way a root can be wrong: one line naming the URL and the fix
        raise _source_error(url, err, "its root was read") from None
    caps = _capabilities(client)
    known = caps if caps is not None else {"sort", "query", "filter"}     # unknown: ask for all
    if filter is not None and "filter" not in known:
        raise SearchArgumentError(
            "filter", f"STAC source {redact(url)} does not conform to the filter extension (CQL2), "
                      f"so it would ignore {{arg}}; use query=, max_cloud= or platforms= instead "
                      f"(cubeeco applies those itself).")
    kwargs = dict(collections=list(collections), bbox=bbox, intersects=intersects, datetime=datetime,
                  limit=page_size)
    if "sort" in known:
        # servers advertise sort as item-search v1.1.0, which pystac-client 0.9 does not recognise
        client.add_conforms_to("SORT")
        kwargs["sortby"] = [{"field": "properties.datetime", "direction": "asc"},
                            {"field": "id", "direction": "asc"}]
    if filter is not None or (query and "filter" in known and (_needs_cql2(query) or "query" not in known)):
        # pgstac servers reject `in` in `query`, and `query` together with CQL2: say it all in CQL2
        clauses = ([filter] if filter is not None else []) + _query_to_cql2(query)
        kwargs["filter"] = clauses[0] if len(clauses) == 1 else {"op": "and", "args": clauses}
        kwargs["filter_lang"] = "cql2-json"
    elif query and "query" in known:
        kwargs["query"] = query
    # the server's own order can be trusted to stop early only when it said it sorts
    stop_at = max_items if caps is not None and "sort" in caps else None
    log.info("STAC search %s %s", redact(url), redact(str({k: v for k, v in kwargs.items() if v is not None})))
    out = []
    try:
        for d in client.search(**kwargs).items_as_dicts():
            check_item_times(d, redact(url))
            if query and not _matches_query(d.get("properties") or {}, query):
                continue        # a server without the extension ignored it: the same result anyway
            # the same conversion as ItemSearch.items() (projection v2 migration included)
            out.append(pystac.Item.from_dict(d, root=client, preserve_dict=False).to_dict(transform_hrefs=False))
            if stop_at is not None and len(out) >= stop_at:
                break           # pages come in (datetime, id) order: no need to read further
    except (StacSourceError, SearchArgumentError):
        raise
    except Exception as err:
        raise _source_error(url, err, "items were searched") from None
    return out
