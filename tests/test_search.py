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
    assert [i.id[:16] for i in got] == ["MOD17A3HGF.A2012"]


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
