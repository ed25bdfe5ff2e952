"""Where a catalog keeps its monthly climate: a gridded Zarr (a collection asset, as
TerraClimate is served) and station records (an item with a points file and a monthly CSV).

* :func:`climate_grid_href` -- the collection's Zarr asset;
* :func:`read_stations` -- the stations as points (GeoDataFrame) and their monthly records
  (DataFrame: ``station_id``, ``time``, one column per variable).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .items import as_item_dicts
from .search import _resolve, read_catalog, search


def _collection(source, collection: str) -> dict:
    kind, where = _resolve(source)
    if kind == "local":
        collections, _ = read_catalog(Path(where))
        if collection not in collections:
            raise ValueError(f"the catalog {where} has no collection {collection!r}; it has {sorted(collections)}.")
        return collections[collection]
    from pystac_client import Client

    return Client.open(str(where)).get_collection(collection).to_dict()


def climate_grid_href(source, collection: str = "synthetic-climate", asset: str = "zarr") -> str:
    """The href of the collection's gridded monthly climate (a Zarr store)."""
    coll = _collection(source, collection)
    assets = coll.get("assets") or {}
    if asset not in assets:
        raise ValueError(f"collection {collection!r} has no {asset!r} asset (it has {sorted(assets)}); "
                         f"give the gridded climate's asset key.")
    return assets[asset]["href"]


def read_stations(source, collection: str = "synthetic-climate", *, bbox=None, points_asset: str = "stations",
                  records_asset: str = "monthly"):
    """(points GeoDataFrame with ``station_id``, monthly records DataFrame) of the collection."""
    import geopandas as gpd

    items = as_item_dicts(search(collection, source=source, bbox=bbox))
    items = [i for i in items if points_asset in (i.get("assets") or {})]
    if not items:
        raise ValueError(f"collection {collection!r} has no item with a {points_asset!r} asset (station points).")
    points, records = [], []
    for it in items:
        assets = it["assets"]
        if records_asset not in assets:
            raise ValueError(f"item {it['id']!r} has stations but no {records_asset!r} asset (monthly records).")
        points.append(gpd.read_file(assets[points_asset]["href"]))
        records.append(pd.read_csv(assets[records_asset]["href"], parse_dates=["time"]))
    pts = pd.concat(points, ignore_index=True)
    return gpd.GeoDataFrame(pts, geometry="geometry", crs=points[0].crs), pd.concat(records, ignore_index=True)
