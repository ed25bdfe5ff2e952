"""The synthetic items through a real STAC API server (stac-fastapi-pgstac on PostgreSQL + PostGIS).

The server is started on 127.0.0.1 by the test set-up and loaded with the tiny
synthetic coal base; cubeeco's pystac-client searches must return exactly what the
embedded catalog returns, across pages, and the cubes built from both must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

import cubeeco
from cubeeco.io.composite import annual_composite
from cubeeco.io.cube import open_cube, open_npp
from cubeeco.io.search import read_catalog

pytestmark = pytest.mark.stacapi


@pytest.fixture(scope="module")
def api_url(tiny_base, stac_api):
    collections, items = read_catalog(tiny_base.catalog)
    stac_api.load(list(collections.values()), [it for cid in collections for it in items[cid]], clear=True)
    return stac_api.url


def _ids(items):
    return [i.id for i in items]


@pytest.mark.parametrize("kwargs", [
    {},
    {"datetime": "2012"},
    {"datetime": "2010-06-01/2013-08-31"},
    {"max_cloud": 10},
    {"platforms": ["landsat-5", "landsat-7"]},
    {"max_cloud": 0, "platforms": ["landsat-8"], "datetime": "2013/.."},
])
def test_api_equals_embedded(api_url, tiny_base, kwargs):
    # a small page size forces pystac-client through several pages
    got = cubeeco.search("landsat-c2-l2", source=api_url, page_size=5, **kwargs)
    want = cubeeco.search("landsat-c2-l2", source=tiny_base.root, **kwargs)
    assert _ids(got) == _ids(want)
    assert len(want) > 0 or kwargs.get("max_cloud") == 0


def test_api_bbox(api_url, tiny_base, tiny_config):
    west, south, east, north = tiny_config.grid.lonlat_bounds()
    assert len(cubeeco.search("landsat-c2-l2", source=api_url, bbox=[west - 1, south - 1, west - 0.5, south - 0.5])) == 0
    inside = cubeeco.search("landsat-c2-l2", source=api_url, bbox=[west, south, west + 0.01, south + 0.01])
    assert _ids(inside) == _ids(cubeeco.search("landsat-c2-l2", source=tiny_base.root))


def test_api_modis_intervals_and_cql2(api_url, tiny_base):
    got = cubeeco.search("modis-17A3HGF-061", source=api_url, datetime="2012-06-15")
    # Terra and Aqua, one item each per year (told apart by the id prefix)
    assert [i.id[:16] for i in got] == ["MOD17A3HGF.A2012", "MYD17A3HGF.A2012"]
    cql = {"op": "=", "args": [{"property": "platform"}, "landsat-8"]}
    via_filter = cubeeco.search("landsat-c2-l2", source=api_url, filter=cql)
    assert _ids(via_filter) == _ids(cubeeco.search("landsat-c2-l2", source=tiny_base.root, platforms=["landsat-8"]))


def test_cube_from_api_equals_cube_from_embedded(api_url, tiny_base, tiny_config):
    grid = tiny_config.grid
    a = annual_composite(open_cube(cubeeco.search("landsat-c2-l2", source=api_url), grid=grid)).compute()
    b = annual_composite(open_cube(cubeeco.search("landsat-c2-l2", source=tiny_base.root), grid=grid)).compute()
    for name in b.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)
    na = open_npp(cubeeco.search("modis-17A3HGF-061", source=api_url), grid=grid).compute()
    nb = open_npp(cubeeco.search("modis-17A3HGF-061", source=tiny_base.root), grid=grid).compute()
    np.testing.assert_array_equal(na.values, nb.values)
