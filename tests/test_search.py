"""The embedded search matches a plain-Python filter over the catalog's items."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely.geometry import box, shape

import cubeeco
from cubeeco.io.search import parse_interval, read_catalog


def _reference(base, collection, *, bbox=None, start=None, end=None, max_cloud=None, platforms=None):
    out = []
    for d in read_catalog(base.catalog)[1][collection]:
        p = d["properties"]
        when = p.get("datetime") or p["start_datetime"]
        t0 = dt.datetime.fromisoformat((p.get("start_datetime") or when).replace("Z", "+00:00"))
        t1 = dt.datetime.fromisoformat((p.get("end_datetime") or when).replace("Z", "+00:00"))
        if bbox and not shape(d["geometry"]).intersects(box(*bbox)):
            continue
        if (start and t1 < start) or (end and t0 > end):
            continue
        if max_cloud is not None and not (p.get("eo:cloud_cover") is not None and p["eo:cloud_cover"] <= max_cloud):
            continue
        if platforms and p.get("platform") not in platforms:
            continue
        out.append(d["id"])
    return sorted(out)


def _utc(*args):
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("kwargs, ref", [
    ({}, {}),
    ({"datetime": "2012"}, {"start": _utc(2012, 1, 1), "end": _utc(2012, 12, 31, 23, 59, 59)}),
    ({"datetime": "2010-06-01/2013-08-31"}, {"start": _utc(2010, 6, 1), "end": _utc(2013, 8, 31, 23, 59, 59)}),
    ({"datetime": "2013/.."}, {"start": _utc(2013, 1, 1)}),
    ({"max_cloud": 10}, {"max_cloud": 10}),
    ({"platforms": ["landsat-5", "landsat-7"]}, {"platforms": ["landsat-5", "landsat-7"]}),
    ({"max_cloud": 0, "platforms": ["landsat-8"], "datetime": "2014"},
     {"max_cloud": 0, "platforms": ["landsat-8"], "start": _utc(2014, 1, 1), "end": _utc(2014, 12, 31, 23, 59, 59)}),
])
def test_embedded_filters_match_reference(tiny_base, kwargs, ref):
    got = cubeeco.search("landsat-c2-l2", source=tiny_base.root, **kwargs)
    expected = _reference(tiny_base, "landsat-c2-l2", **ref)
    assert sorted(i.id for i in got) == expected
    assert expected or kwargs.get("max_cloud") == 0


def test_bbox_outside_and_inside(tiny_base, tiny_config):
    west, south, east, north = tiny_config.grid.lonlat_bounds()
    inside = cubeeco.search("landsat-c2-l2", source=tiny_base.root, bbox=[west, south, west + 0.001, south + 0.001])
    outside = cubeeco.search("landsat-c2-l2", source=tiny_base.root, bbox=[west - 1, south - 1, west - 0.5, south - 0.5])
    assert len(inside) == len(read_catalog(tiny_base.catalog)[1]["landsat-c2-l2"])
    assert len(outside) == 0


def test_results_sorted_by_time_then_id(tiny_base):
    items = cubeeco.search("landsat-c2-l2", source=tiny_base.root)
    keys = [(i.properties["datetime"], i.id) for i in items]
    assert keys == sorted(keys)


def test_modis_start_end_intersection(tiny_base):
    got = cubeeco.search("modis-17A3HGF-061", source=tiny_base.root, datetime="2012-06-15")
    # Terra (MOD) and, where the catalog has them, Aqua (MYD) items of 2012 only
    assert "MOD17A3HGF.A2012" in [i.id[:16] for i in got]
    assert {i.id[:16] for i in got} <= {"MOD17A3HGF.A2012", "MYD17A3HGF.A2012"}


def test_parse_interval():
    assert parse_interval("2005") == (_utc(2005, 1, 1), _utc(2005, 12, 31, 23, 59, 59))
    assert parse_interval("2005-02") == (_utc(2005, 2, 1), _utc(2005, 2, 28, 23, 59, 59))
    assert parse_interval("../2001-01-01") == (None, _utc(2001, 1, 1, 23, 59, 59))
    with pytest.raises(ValueError, match="interval"):
        parse_interval("2001/2002/2003")


def test_clear_errors(tiny_base, tmp_path):
    with pytest.raises(ValueError, match="not in"):
        cubeeco.search("sentinel-2-l2a", source=tiny_base.root)
    with pytest.raises(FileNotFoundError, match="neither a known endpoint"):
        cubeeco.search("landsat-c2-l2", source=tmp_path / "nothing")
    with pytest.raises(ValueError, match="query"):
        cubeeco.search("landsat-c2-l2", source=tiny_base.root, filter={"op": "=", "args": []})
    with pytest.raises(ValueError, match="bbox"):
        cubeeco.search("landsat-c2-l2", source=tiny_base.root, bbox=[1, 2, 3])


def test_intersects_and_default_embedded_source(tiny_base, tiny_config, monkeypatch):
    west, south, east, north = tiny_config.grid.lonlat_bounds()
    poly = {"type": "Polygon", "coordinates": [[[west, south], [west + 0.002, south], [west, south + 0.002], [west, south]]]}
    got = cubeeco.search("synthetic-clcd", source=tiny_base.root, intersects=poly)
    assert len(got) == len(tiny_config.year_list)
    monkeypatch.setenv("CUBEECO_DATA", str(tiny_base.root))
    assert _ids_of(cubeeco.search("synthetic-dem")) == ["dem"]
    monkeypatch.setenv("CUBEECO_DATA", str(tiny_base.root / "nowhere"))
    with pytest.raises(FileNotFoundError, match="cubeeco synth"):
        cubeeco.search("synthetic-dem")


def _ids_of(items):
    return [i.id for i in items]


def test_grid_from_items_covers_the_scenes(tiny_base, tiny_config):
    from cubeeco.io.cube import grid_from_items

    grid = grid_from_items(cubeeco.search("landsat-c2-l2", source=tiny_base.root))
    assert grid == tiny_config.grid


# -- bad inputs: one clear line naming the argument and the fix ----------------------------------
import json  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import urllib.parse  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

from cubeeco.io.search import SearchArgumentError, StacSourceError, StacSourceNotFound  # noqa: E402


@pytest.mark.parametrize("kwargs, argument, message", [
    ({"bbox": [110.5, 39.5, 111.0, 39.0]}, "bbox",
     "bbox south 39.5 is north of north 39; give (west, south, east, north), e.g. [110.5, 39, 111, 39.5]."),
    ({"bbox": [110.5, 39.0, 110.0, 39.5]}, "bbox",
     "bbox west 110.5 is east of east 110: read as crossing the antimeridian it would span 359.5 degrees "
     "of longitude; give (west, south, east, north) with west < east, e.g. [110, 39, 110.5, 39.5]."),
    ({"bbox": [-200, 39.0, 110.0, 39.5]}, "bbox",
     "bbox west longitude -200 is outside [-180, 180]; give degrees (west, south, east, north) in WGS84 "
     "lon/lat, not projected metres."),
    ({"bbox": [518685, 4390215, 526365, 4397895]}, "bbox",
     "bbox west longitude 518685 is outside [-180, 180]; give degrees (west, south, east, north) in WGS84 "
     "lon/lat, not projected metres."),
    ({"bbox": [110.0, -91, 110.5, 39.5]}, "bbox",
     "bbox south latitude -91 is outside [-90, 90]; give degrees (west, south, east, north) in WGS84 "
     "lon/lat, not projected metres."),
    ({"bbox": [110.0, float("nan"), 110.5, 39.5]}, "bbox",
     "bbox [110.0, nan, 110.5, 39.5] has a NaN or infinite value; give four finite degrees "
     "(west, south, east, north)."),
    ({"bbox": [1, 2, 3]}, "bbox", "bbox must be (west, south, east, north) in degrees, got [1, 2, 3]."),
    ({"bbox": ["a", 2, 3, 4]}, "bbox", "bbox must hold four numbers (degrees), got ['a', 2, 3, 4]."),
    ({"datetime": "2013/2010"}, "datetime",
     "datetime '2013/2010' ends before it starts (2013-01-01 > 2010-12-31); give 'start/end' with "
     "start <= end."),
    ({"datetime": "2005-13"}, "datetime",
     "datetime '2005-13' is not a date or a 'start/end' interval; give e.g. '2005', '2005-06-01', "
     "'2000-06-01/2010-09-30', '2005/..' or ISO 8601 date-times."),
    ({"datetime": "2001/2002/2003"}, "datetime",
     "datetime '2001/2002/2003' is not a date or a 'start/end' interval; give e.g. '2005', '2005-06-01', "
     "'2000-06-01/2010-09-30', '2005/..' or ISO 8601 date-times."),
    ({"max_cloud": -5}, "max_cloud",
     "max_cloud is a cloud-cover percentage and must be between 0 and 100, got -5."),
    ({"max_cloud": 101}, "max_cloud",
     "max_cloud is a cloud-cover percentage and must be between 0 and 100, got 101."),
    ({"max_cloud": float("nan")}, "max_cloud",
     "max_cloud is a cloud-cover percentage and must be between 0 and 100, got nan."),
    ({"max_cloud": "abc"}, "max_cloud",
     "max_cloud is a cloud-cover percentage and must be between 0 and 100, got 'abc'."),
    ({"max_items": -1}, "max_items", "max_items must be a whole number >= 1 or None (no limit), got -1."),
    ({"max_items": 0}, "max_items", "max_items must be a whole number >= 1 or None (no limit), got 0."),
    ({"max_items": 2.5}, "max_items", "max_items must be a whole number >= 1 or None (no limit), got 2.5."),
    ({"page_size": 0}, "page_size", "page_size must be a whole number >= 1, got 0."),
    ({"platforms": []}, "platforms",
     "platforms must be one or more platform names such as 'landsat-8', got []."),
    ({"query": {"eo:cloud_cover": {"like": 3}}}, "query",
     "query operator 'like' on 'eo:cloud_cover' is not supported; use one of "
     "['eq', 'gt', 'gte', 'in', 'lt', 'lte', 'neq']."),
    ({"intersects": {"type": "Polygon"}}, "intersects", None),
])
def test_bad_arguments_are_one_clear_line(tiny_base, kwargs, argument, message):
    with pytest.raises(SearchArgumentError) as err:
        cubeeco.search("landsat-c2-l2", source=tiny_base.root, **kwargs)
    assert err.value.argument == argument
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)
    if message is not None:
        assert str(err.value) == message
    assert str(err.value).startswith(argument)
    cli = "--" + argument.replace("_", "-")
    assert err.value.message_for(cli).startswith(cli)


def test_message_for_names_the_cli_option(tiny_base):
    with pytest.raises(SearchArgumentError) as err:
        cubeeco.search("landsat-c2-l2", source=tiny_base.root, max_cloud=-5)
    assert err.value.message_for("--max-cloud") == \
        "--max-cloud is a cloud-cover percentage and must be between 0 and 100, got -5."
    with pytest.raises(SearchArgumentError) as err:
        cubeeco.search([], source=tiny_base.root)
    assert err.value.argument == "collections"


def test_max_items_takes_the_first_in_time_order(tiny_base):
    every = cubeeco.search("landsat-c2-l2", source=tiny_base.root)
    assert [i.id for i in cubeeco.search("landsat-c2-l2", source=tiny_base.root, max_items=1)] == [every[0].id]
    assert len(cubeeco.search("landsat-c2-l2", source=tiny_base.root, max_items=len(every) + 5)) == len(every)


def test_platforms_as_one_string(tiny_base):
    one = cubeeco.search("landsat-c2-l2", source=tiny_base.root, platforms="landsat-8")
    assert [i.id for i in one] == [i.id for i in cubeeco.search(
        "landsat-c2-l2", source=tiny_base.root, platforms=["landsat-8"])]
    assert one and all(i.properties["platform"] == "landsat-8" for i in one)


def _write_catalog(root, items, collection="test-coll"):
    """A local catalog in the layout `cubeeco synth` writes: catalog.json, <coll>/collection.json,
    <coll>/items.ndjson."""
    (root / collection).mkdir(parents=True)
    (root / "catalog.json").write_text(json.dumps({
        "type": "Catalog", "id": "t", "stac_version": "1.0.0", "description": "t",
        "links": [{"rel": "child", "href": f"./{collection}/collection.json"}]}))
    (root / collection / "collection.json").write_text(json.dumps({"type": "Collection", "id": collection}))
    (root / collection / "items.ndjson").write_text("\n".join(json.dumps(i) for i in items))
    return root


def _feature(item_id, west, south, east, north, **props):
    if west > east:     # across the antimeridian: a MultiPolygon of its two sides
        geometry = {"type": "MultiPolygon", "coordinates": [
            [[[west, south], [180, south], [180, north], [west, north], [west, south]]],
            [[[-180, south], [east, south], [east, north], [-180, north], [-180, south]]]]}
    else:
        geometry = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                                        [west, north], [west, south]]]}
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "test-coll",
            "bbox": [west, south, east, north], "geometry": geometry,
            "properties": {"datetime": "2020-01-01T00:00:00Z", **props}, "assets": {}, "links": []}


def test_antimeridian_bbox_is_accepted(tmp_path):
    base = _write_catalog(tmp_path, [
        _feature("fiji", 177.0, -19.0, -178.0, -16.0),       # crosses the antimeridian
        _feature("samoa", -173.0, -15.0, -171.0, -13.0),     # just east of it
        _feature("shendong", 110.0, 39.0, 111.0, 40.0),
    ])
    got = cubeeco.search("test-coll", source=base, bbox=[170.0, -20.0, -170.0, -10.0])
    assert sorted(i.id for i in got) == ["fiji", "samoa"]
    assert [i.id for i in cubeeco.search("test-coll", source=base, bbox=[179.0, -18.0, 179.5, -17.0])] == ["fiji"]


def test_item_without_datetime_is_a_clear_error(tmp_path):
    bad = _feature("no-time", 110.0, 39.0, 111.0, 40.0)
    bad["properties"] = {"start_datetime": "2020-01-01T00:00:00Z"}     # no datetime, no end
    base = _write_catalog(tmp_path, [_feature("ok", 110.0, 39.0, 111.0, 40.0), bad])
    with pytest.raises(StacSourceError) as err:
        cubeeco.search("test-coll", source=base)
    assert str(err.value) == (
        f"STAC item 'no-time' (collection 'test-coll') in {base / 'catalog.json'} has no datetime and no "
        f"start_datetime/end_datetime pair; fix the item (STAC requires one) or remove it from the catalog.")
    assert err.value.argument == "source"


def test_missing_local_source(tmp_path):
    with pytest.raises(StacSourceNotFound) as err:
        cubeeco.search("landsat-c2-l2", source=tmp_path / "nothing")
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ValueError)
    with pytest.raises(StacSourceNotFound, match="is empty"):
        cubeeco.search("landsat-c2-l2", source="")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "catalog.json").write_text("<html>not json</html>")
    with pytest.raises(StacSourceError, match=r"STAC catalog .*broken/catalog.json cannot be read \(JSONDecodeError"):
        cubeeco.search("landsat-c2-l2", source=tmp_path / "broken")


# -- STAC API sources that are not what they should be: real HTTP servers on 127.0.0.1 ---------------
def _root(url):
    return {"type": "Catalog", "id": "fake", "stac_version": "1.0.0", "description": "fake",
            "conformsTo": ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search"],
            "links": [{"rel": "self", "href": url}, {"rel": "root", "href": url},
                      {"rel": "search", "href": f"{url}/search", "method": "POST", "type": "application/geo+json"}]}


class _Answers(BaseHTTPRequestHandler):
    """/html: a web page; /json: JSON that is not STAC; /missing: 404; /api: a STAC API root whose
    /search answers items without a datetime; /htmlsearch: a root whose /search is a web page."""

    def _send(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(self):
        base = f"http://{self.headers['Host']}"
        path = self.path.split("?")[0].rstrip("/")
        if path == "/html":
            return self._send(200, "<!doctype html><html><body>Welcome</body></html>", "text/html")
        if path == "/json":
            return self._send(200, {"hello": "world"})
        if path in ("/api", "/htmlsearch"):
            return self._send(200, _root(base + path))
        if path == "/htmlsearch/search":
            return self._send(200, "<html>maintenance</html>", "text/html")
        if path == "/api/search":
            item = _feature("timeless", 110.0, 39.0, 111.0, 40.0)
            item["properties"] = {"datetime": None}
            return self._send(200, {"type": "FeatureCollection", "features": [item], "links": []})
        return self._send(404, {"detail": "Not Found"})

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def _serve(handler):
    """A loopback HTTP server for ``handler`` in a thread: yields its root URL, then stops."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def answers():
    yield from _serve(_Answers)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _source_error(source, **kwargs) -> StacSourceError:
    with pytest.raises(StacSourceError) as err:
        cubeeco.search("landsat-c2-l2", source=source, timeout=5, max_retries=1, **kwargs)
    assert err.value.argument == "source" and "\n" not in str(err.value)
    return err.value


def test_unreachable_url():
    port = _free_port()
    err = _source_error(f"http://127.0.0.1:{port}/api")
    assert str(err) == (f"cannot reach STAC source http://127.0.0.1:{port}/api (Connection refused); check "
                        f"the URL and the network, or search a local catalog.json instead.")


def test_url_returning_html(answers):
    assert str(_source_error(f"{answers}/html")) == (
        f"STAC source {answers}/html did not return JSON when its root was read (a web page, not a STAC "
        f"API?); give a STAC API root such as https://planetarycomputer.microsoft.com/api/stac/v1, or one "
        f"of planetary-computer, earth-search.")


def test_url_returning_non_stac_json(answers):
    assert str(_source_error(f"{answers}/json")).startswith(
        f"STAC source {answers}/json returned JSON that is not STAC when its root was read (ClientTypeError: ")


def test_url_returning_404(answers):
    assert str(_source_error(f"{answers}/missing")) == (
        f"STAC source {answers}/missing answered HTTP 404 (not found) when its root was read; check the URL: "
        f"give a STAC API root such as https://planetarycomputer.microsoft.com/api/stac/v1, or one of "
        f"planetary-computer, earth-search.")


def test_search_answering_html(answers):
    assert "did not return JSON when items were searched" in str(_source_error(f"{answers}/htmlsearch"))


def test_api_item_without_datetime(answers):
    assert str(_source_error(f"{answers}/api")) == (
        f"STAC item 'timeless' (collection 'test-coll') in {answers}/api has no datetime and no "
        f"start_datetime/end_datetime pair; fix the item (STAC requires one) or remove it from the catalog.")


def test_credentials_never_in_messages(answers):
    port = _free_port()
    for source in (f"http://alice:s3cr3tpw@127.0.0.1:{port}/api?token=tok123456", f"{answers}/missing?sig=tok123456",
                   f"{answers}/html?token=tok123456"):
        message = str(_source_error(source))
        assert "tok123456" not in message and "s3cr3tpw" not in message and "REDACTED" in message


def test_bad_arguments_fail_before_any_request(answers):
    port = _free_port()     # nothing listens: an argument error must come first
    with pytest.raises(SearchArgumentError, match="max_items"):
        cubeeco.search("landsat-c2-l2", source=f"http://127.0.0.1:{port}", max_items=-1)
    with pytest.raises(SearchArgumentError, match="timeout"):
        cubeeco.search("landsat-c2-l2", source=f"http://127.0.0.1:{port}", timeout=0)


# -- a STAC API that ignores what it does not support: results checked locally -----------------------
_LAX_ITEMS = [
    _feature(f"scene-{i}", 110.0, 39.0, 111.0, 40.0, datetime=f"2015-0{i + 1}-01T00:00:00Z",
             platform=("landsat-5", "landsat-7", "landsat-8")[i % 3], **{"eo:cloud_cover": 10.0 * i},
             **{"landsat:correction": "L2SP" if i % 2 else "L2SR"})
    for i in range(8)
]


class _LaxApi(BaseHTTPRequestHandler):
    """A STAC API that ignores `query`, `filter` and `sortby` (answers every item in reverse
    time order, a page at a time). ``/plain`` says it conforms to core and item search only;
    ``/sorted`` claims sort, query and filter, sorts, but still ignores query and filter."""

    pages: list[str] = []

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(self):
        base = f"http://{self.headers['Host']}"
        path, _, qs = self.path.partition("?")
        kind = path.strip("/").split("/")[0]
        root = f"{base}/{kind}"
        if path.rstrip("/") == f"/{kind}":
            body = _root(root)
            body["conformsTo"] = list(body["conformsTo"])
            if kind == "sorted":
                body["conformsTo"] += [f"https://api.stacspec.org/v1.0.0/item-search#{e}" for e in
                                       ("sort", "query", "filter")]
            return self._send(200, body)
        if path.rstrip("/") != f"/{kind}/search":
            return self._send(404, {"detail": "Not Found"})
        args = dict(urllib.parse.parse_qsl(qs))
        length = int(self.headers.get("Content-Length") or 0)
        post = json.loads(self.rfile.read(length)) if length else {}
        limit, offset = int(post.get("limit", args.get("limit", 10))), int(args.get("offset", 0))
        items = sorted(_LAX_ITEMS, key=lambda it: it["properties"]["datetime"], reverse=kind != "sorted")
        _LaxApi.pages.append(self.path)
        links = []
        if offset + limit < len(items):
            links.append({"rel": "next", "method": "GET", "type": "application/geo+json",
                          "href": f"{root}/search?offset={offset + limit}&limit={limit}"})
        self._send(200, {"type": "FeatureCollection", "features": items[offset:offset + limit], "links": links})

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def lax_api():
    yield from _serve(_LaxApi)


@pytest.mark.parametrize("kind", ["plain", "sorted"])
@pytest.mark.parametrize("kwargs", [
    {"platforms": ["landsat-8"]},
    {"max_cloud": 30},
    {"max_cloud": 50, "platforms": ["landsat-5", "landsat-7"]},
    {"query": {"landsat:correction": {"eq": "L2SP"}}},
    {"query": {"landsat:correction": "L2SR"}, "max_cloud": 60, "max_items": 2},
    {"platforms": "landsat-7", "max_items": 1},
    {"max_items": 3},
])
def test_api_ignoring_filters_gives_the_embedded_result(lax_api, tmp_path, kind, kwargs):
    """A server that ignores `query`/`filter` (pystac-client only warns) gives the items the
    embedded catalog gives: cubeeco checks them itself, sorts them and applies max_items."""
    expected = [i.id for i in cubeeco.search("test-coll", source=_write_catalog(tmp_path, _LAX_ITEMS), **kwargs)]
    got = cubeeco.search("test-coll", source=f"{lax_api}/{kind}", page_size=2, timeout=5, max_retries=0, **kwargs)
    assert [i.id for i in got] == expected
    assert expected and len(expected) < len(_LAX_ITEMS)


def test_max_items_reads_pages_until_enough_pass(lax_api):
    """With max_items, a server that sorts is read only until that many items pass the local
    check; one that does not sort is read to the end (the first in time order may be last)."""
    _LaxApi.pages.clear()
    got = cubeeco.search("test-coll", source=f"{lax_api}/sorted", platforms=["landsat-5"], max_items=1,
                         page_size=2, timeout=5, max_retries=0)
    assert [i.id for i in got] == ["scene-0"] and len(_LaxApi.pages) == 1
    _LaxApi.pages.clear()
    got = cubeeco.search("test-coll", source=f"{lax_api}/sorted", platforms=["landsat-8"], max_items=2,
                         page_size=2, timeout=5, max_retries=0)
    assert [i.id for i in got] == ["scene-2", "scene-5"] and len(_LaxApi.pages) == 3
    _LaxApi.pages.clear()
    got = cubeeco.search("test-coll", source=f"{lax_api}/plain", max_items=1, page_size=2, timeout=5,
                         max_retries=0)
    assert [i.id for i in got] == ["scene-0"] and len(_LaxApi.pages) == 4


def test_cql2_filter_on_an_api_without_the_filter_extension(lax_api):
    with pytest.raises(SearchArgumentError, match=r"does not conform to the filter extension.*ignore filter") as err:
        cubeeco.search("test-coll", source=f"{lax_api}/plain", timeout=5, max_retries=0,
                       filter={"op": "=", "args": [{"property": "platform"}, "landsat-8"]})
    assert err.value.argument == "filter"


def test_local_items_without_geometry_never_match_a_bbox(tmp_path):
    """STAC: a null geometry has no footprint; the embedded search skips it, as an API would."""
    from cubeeco.io.search import search
    from cubeeco.synth.stac import collection, item, write_catalog

    with_geom = item("a", "c", {"type": "Point", "coordinates": [110.2, 39.2]}, [110.2, 39.2, 110.2, 39.2],
                     {"datetime": "2010-07-01T00:00:00Z"}, {})
    without = item("b", "c", None, [110.2, 39.2, 110.2, 39.2], {"datetime": "2010-07-01T00:00:00Z"}, {})
    without["geometry"] = None
    without.pop("bbox")
    write_catalog(tmp_path, [collection("c", "c", "c", [110, 39, 111, 40], ["2010-01-01T00:00:00Z", None])],
                  {"c": [with_geom, without]})
    assert [it.id for it in search("c", source=tmp_path, bbox=[110, 39, 111, 40])] == ["a"]
    assert sorted(it.id for it in search("c", source=tmp_path)) == ["a", "b"]
