"""The real STAC API server used by the tests answers searches correctly.

60 synthetic items (48 Landsat-like scenes, 12 MODIS-like annual tiles) are loaded into the
session's stac-fastapi-pgstac server; every search made through pystac-client must return
exactly the ids that a plain-Python filter over the same item dicts selects.
"""

from __future__ import annotations

import json
import random
import urllib.request
from datetime import datetime, timedelta, timezone

import pystac_client
import pytest
from pystac_client.conformance import ConformanceClasses

pytestmark = pytest.mark.stacapi

LANDSAT = "landsat-c2-l2"
MODIS = "modis-17A3HGF-061"

# (name, lon, lat): scene centres, far enough apart that 1.8° x 1.6° footprints of
# different places never overlap, except Shendong/Haerwusu (0.5° apart) which do
PLACES = [("shendong", 110.2, 39.3), ("haerwusu", 110.7, 39.7), ("ningdong", 106.5, 38.0),
          ("xilinhot", 116.0, 43.9)]  # fmt: skip
HALF_W, HALF_H = 0.9, 0.8

SINUSOIDAL_WKT2 = 'PROJCRS["MODIS Sinusoidal",BASEGEOGCRS["User",DATUM["World Geodetic Survey 1984",ELLIPSOID["Sphere",6371007.181,0]]]]'


def _box(lon, lat, hw=HALF_W, hh=HALF_H):
    bbox = [round(lon - hw, 6), round(lat - hh, 6), round(lon + hw, 6), round(lat + hh, 6)]
    w, s, e, n = bbox
    return bbox, {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _platform(t: datetime, rng: random.Random) -> str:
    choices = []
    if t.year < 2012:
        choices.append("landsat-5")
    if t.year >= 2000:
        choices.append("landsat-7")
    if t.year >= 2013:
        choices.append("landsat-8")
    return rng.choice(choices)


def landsat_items() -> list[dict]:
    rng = random.Random(20240611)
    items = []
    for k in range(48):
        name, lon, lat = PLACES[k % len(PLACES)]
        t = datetime(2000, 1, 1, 3, 0, tzinfo=timezone.utc) + timedelta(days=rng.randrange(0, 23 * 365))
        t = t.replace(microsecond=0) + timedelta(seconds=rng.randrange(0, 3600))
        if k in (13, 14):  # same acquisition time, two places: sortby must break the tie by id
            t = datetime(2015, 7, 4, 3, 21, 5, tzinfo=timezone.utc)
        platform = _platform(t, rng)
        sensor = {"landsat-5": "LT05", "landsat-7": "LE07", "landsat-8": "LC08"}[platform]
        iid = f"{sensor}_L2SP_{125 + k % 4:03d}0{32 + k % 3:02d}_{t:%Y%m%d}_{k:02d}_02_T1"
        cloud = -1.0 if k == 7 else round(rng.uniform(0, 90) if k % 3 else rng.uniform(0, 30), 2)
        bbox, geom = _box(lon + rng.uniform(-0.05, 0.05), lat + rng.uniform(-0.05, 0.05))
        red = "SR_B4" if platform == "landsat-8" else "SR_B3"
        items.append({
            "type": "Feature",
            "stac_version": "1.0.0",
            "stac_extensions": [
                "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
                "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            ],
            "id": iid,
            "collection": LANDSAT,
            "bbox": bbox,
            "geometry": geom,
            "properties": {
                "datetime": _iso(t),
                "platform": platform,
                "instruments": ["oli", "tirs"] if platform == "landsat-8" else ["tm" if platform == "landsat-5" else "etm+"],
                "eo:cloud_cover": cloud,
                "landsat:correction": "L2SP",
                "proj:epsg": 32649 if lon < 114 else 32650,
                "proj:shape": [7801, 7681],
                "place": name,
            },
            "assets": {
                "red": {"href": f"/data/landsat/{iid}/{iid}_{red}.TIF",
                        "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"]},
                "qa_pixel": {"href": f"/data/landsat/{iid}/{iid}_QA_PIXEL.TIF",
                             "type": "image/tiff; application=geotiff", "roles": ["cloud"]},
            },
            "links": [],
        })  # fmt: skip
    return items


def modis_items() -> list[dict]:
    items = []
    for year in range(2001, 2007):
        for tile, (lon, lat) in (("h26v04", (105.0, 45.0)), ("h27v05", (118.0, 35.0))):
            bbox, geom = _box(lon, lat, 5.0, 5.0)
            platform = "terra" if year % 2 else "aqua"
            iid = f"{'MOD' if platform == 'terra' else 'MYD'}17A3HGF.A{year}001.{tile}.061"
            items.append({
                "type": "Feature",
                "stac_version": "1.0.0",
                "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json"],
                "id": iid,
                "collection": MODIS,
                "bbox": bbox,
                "geometry": geom,
                "properties": {
                    "datetime": None,
                    "start_datetime": f"{year}-01-01T00:00:00Z",
                    "end_datetime": f"{year}-12-31T23:59:59Z",
                    "platform": platform,
                    "proj:epsg": None,
                    "proj:wkt2": SINUSOIDAL_WKT2,
                },
                "assets": {"Npp_500m": {"href": f"/data/modis/{iid}.Npp_500m.tif", "roles": ["data"]}},
                "links": [],
            })  # fmt: skip
    return items


def collection(cid: str, items: list[dict]) -> dict:
    times = [i["properties"].get("datetime") or i["properties"]["start_datetime"] for i in items]
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": cid,
        "description": f"synthetic {cid} for the STAC API server tests",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[min(times), None]]},
        },
        "links": [],
    }


ITEMS = {LANDSAT: landsat_items(), MODIS: modis_items()}
COLLECTIONS = [collection(cid, its) for cid, its in ITEMS.items()]
ALL_ITEMS = [i for its in ITEMS.values() for i in its]


# ---- the independent reference: plain Python over the item dicts ------------------------


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _span(item: dict) -> tuple[datetime, datetime]:
    p = item["properties"]
    if p.get("start_datetime") and p.get("end_datetime"):
        return _t(p["start_datetime"]), _t(p["end_datetime"])
    return _t(p["datetime"]), _t(p["datetime"])


def ref_ids(collection_id, bbox=None, start=None, end=None, pred=None) -> set[str]:
    out = set()
    for item in ITEMS[collection_id]:
        if bbox is not None:
            w, s, e, n = item["bbox"]
            if not (w <= bbox[2] and e >= bbox[0] and s <= bbox[3] and n >= bbox[1]):
                continue
        lo, hi = _span(item)
        if start is not None and hi < _t(start):
            continue
        if end is not None and lo > _t(end):
            continue
        if pred is not None and not pred(item["properties"]):
            continue
        out.add(item["id"])
    return out


# ---- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_url(stac_api):
    stac_api.load(COLLECTIONS, ALL_ITEMS, clear=True)
    return stac_api.url


@pytest.fixture(scope="module")
def client(api_url):
    c = pystac_client.Client.open(api_url)
    # stac-fastapi-pgstac 7.2 advertises `https://api.stacspec.org/v1.1.0/item-search#sort`;
    # pystac-client 0.9 only matches v1.0.* and would warn DoesNotConformTo("SORT") (it still
    # sends `sortby`)
    c.add_conforms_to("SORT")
    return c


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def _ids(search) -> set[str]:
    ids = [d["id"] for d in search.items_as_dicts()]
    assert len(ids) == len(set(ids)), "duplicate items across pages"
    return set(ids)


# ---- tests ------------------------------------------------------------------------------


def test_fixture_data_is_what_the_tests_assume():
    assert len(ALL_ITEMS) == 60
    assert len({i["id"] for i in ALL_ITEMS}) == 60
    assert {i["properties"]["platform"] for i in ITEMS[LANDSAT]} == {"landsat-5", "landsat-7", "landsat-8"}


def test_conformance_advertises_search_extensions(api_url):
    conforms = _get_json(f"{api_url}/conformance")["conformsTo"]
    for suffix in ("/item-search", "/item-search#filter", "/item-search#query",
                   "/item-search#sort", "/conf/cql2-json", "/conf/cql2-text"):  # fmt: skip
        assert any(c.endswith(suffix) for c in conforms), (suffix, conforms)
    # pystac-client recognises these by its own patterns (v1.0.*) ...
    fresh = pystac_client.Client.open(api_url)
    for cls in ("ITEM_SEARCH", "FILTER", "QUERY"):
        assert fresh.conforms_to(getattr(ConformanceClasses, cls)), cls
    # ... but sort is advertised as v1.1.0: the `client` fixture adds it (see there)
    assert any(c.startswith("https://api.stacspec.org/v1.1.0/") and c.endswith("#sort") for c in conforms)


def test_all_items_loaded(client):
    for cid, items in ITEMS.items():
        assert _ids(client.search(collections=[cid], limit=100)) == {i["id"] for i in items}


BBOX_DATETIME_CASES = [
    # (bbox, start, end): each selects some but not all items
    ([110.0, 39.0, 110.3, 39.4], None, None),  # Shendong and the overlapping Haerwusu footprints
    ([106.0, 37.5, 107.0, 38.5], "2005-01-01T00:00:00Z", "2014-12-31T23:59:59Z"),
    ([100.0, 30.0, 120.0, 45.0], "2013-04-11T00:00:00Z", "2018-06-30T00:00:00Z"),
    ([111.4, 40.35, 111.6, 40.6], None, "2010-12-31T23:59:59Z"),  # only Haerwusu's NE corner
    ([106.0, 37.5, 107.0, 38.5], "2015-07-04T03:21:05Z", "2015-07-04T03:21:05Z"),  # tie instant
]


@pytest.mark.parametrize(("bbox", "start", "end"), BBOX_DATETIME_CASES)
def test_bbox_datetime_search(client, bbox, start, end):
    want = ref_ids(LANDSAT, bbox=bbox, start=start, end=end)
    assert 0 < len(want) < len(ITEMS[LANDSAT])
    dt = f"{start or '..'}/{end or '..'}" if (start or end) else None
    got = _ids(client.search(collections=[LANDSAT], bbox=bbox, datetime=dt, limit=7))
    assert got == want


def test_bbox_with_no_items(client):
    assert _ids(client.search(collections=[LANDSAT], bbox=[0.0, 0.0, 1.0, 1.0])) == set()


@pytest.mark.parametrize(("op", "value", "pred"), [
    ("lt", 20, lambda p: p["eo:cloud_cover"] < 20),
    ("gte", 50, lambda p: p["eo:cloud_cover"] >= 50),
])  # fmt: skip
def test_query_cloud_cover(client, op, value, pred):
    want = ref_ids(LANDSAT, pred=pred)
    assert 0 < len(want) < len(ITEMS[LANDSAT])
    got = _ids(client.search(collections=[LANDSAT], query={"eo:cloud_cover": {op: value}}))
    assert got == want


CQL2_CASES = [
    ({"op": "=", "args": [{"property": "platform"}, "landsat-7"]},
     lambda p: p["platform"] == "landsat-7"),
    ({"op": "in", "args": [{"property": "platform"}, ["landsat-5", "landsat-8"]]},
     lambda p: p["platform"] in ("landsat-5", "landsat-8")),
    ({"op": "and", "args": [
        {"op": "<>", "args": [{"property": "platform"}, "landsat-5"]},
        {"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]},
        {"op": "s_intersects", "args": [{"property": "geometry"},
                                        {"type": "Polygon", "coordinates": [[[105, 36], [112, 36], [112, 42], [105, 42], [105, 36]]]}]},
    ]}, lambda p: p["platform"] != "landsat-5" and p["eo:cloud_cover"] < 30 and p["place"] != "xilinhot"),
]  # fmt: skip


@pytest.mark.parametrize(("cql", "pred"), CQL2_CASES)
def test_cql2_json_filter(client, cql, pred):
    want = ref_ids(LANDSAT, pred=pred)
    assert 0 < len(want) < len(ITEMS[LANDSAT])
    got = _ids(client.search(collections=[LANDSAT], filter=cql, filter_lang="cql2-json", limit=10))
    assert got == want


def test_cql2_text_filter_by_get(client):
    want = ref_ids(LANDSAT, pred=lambda p: p["platform"] == "landsat-8")
    search = client.search(method="GET", collections=[LANDSAT], filter="platform = 'landsat-8'",
                           filter_lang="cql2-text")  # fmt: skip
    assert _ids(search) == want


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_paging_with_sortby_is_complete_and_ordered(client, direction):
    sortby = [{"field": "properties.datetime", "direction": direction},
              {"field": "id", "direction": direction}]  # fmt: skip
    search = client.search(collections=[LANDSAT], limit=5, sortby=sortby)
    pages = [[d["id"] for d in page["features"]] for page in search.pages_as_dicts()]
    want = sorted(ITEMS[LANDSAT], key=lambda i: (_t(i["properties"]["datetime"]), i["id"]),
                  reverse=direction == "desc")  # fmt: skip
    assert [len(p) for p in pages] == [5] * 9 + [3]
    assert [i for p in pages for i in p] == [i["id"] for i in want]


@pytest.mark.parametrize(("dt", "start", "end"), [
    ("2003-06-15T00:00:00Z", "2003-06-15T00:00:00Z", "2003-06-15T00:00:00Z"),
    ("2003-12-31T12:00:00Z/2004-01-10T00:00:00Z", "2003-12-31T12:00:00Z", "2004-01-10T00:00:00Z"),
    ("../2001-12-31T00:00:00Z", None, "2001-12-31T00:00:00Z"),
    ("2005-03-01T00:00:00Z/..", "2005-03-01T00:00:00Z", None),
])  # fmt: skip
def test_modis_start_end_datetime_intersect(client, dt, start, end):
    want = ref_ids(MODIS, start=start, end=end)
    assert 0 < len(want) < len(ITEMS[MODIS])
    assert _ids(client.search(collections=[MODIS], datetime=dt)) == want


def test_modis_platform_filter_and_bbox(client):
    want = ref_ids(MODIS, bbox=[100.0, 40.0, 101.0, 41.0], pred=lambda p: p["platform"] == "terra")
    assert len(want) == 3
    cql = {"op": "=", "args": [{"property": "platform"}, "terra"]}
    assert _ids(client.search(collections=[MODIS], bbox=[100.0, 40.0, 101.0, 41.0], filter=cql)) == want


def test_items_come_back_as_loaded(api_url):
    """Local file hrefs and `proj:epsg` survive (read the raw JSON: pystac would rewrite it)."""
    for item in (ITEMS[LANDSAT][0], ITEMS[MODIS][0]):
        got = _get_json(f"{api_url}/collections/{item['collection']}/items/{item['id']}")
        assert {k: a["href"] for k, a in got["assets"].items()} == {k: a["href"] for k, a in item["assets"].items()}
        for key, value in item["properties"].items():
            if key.endswith("datetime") and value is not None:
                assert _t(got["properties"][key]) == _t(value)
            else:
                assert got["properties"].get(key) == value, key
        assert got["bbox"] == pytest.approx(item["bbox"])
