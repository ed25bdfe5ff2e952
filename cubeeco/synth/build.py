"""``synthesize``: write a whole synthetic coal base (COGs, Zarr, GeoJSON, STAC)."""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..io.cog import write_cog
from .config import SynthConfig
from .landsat import (
    OLI,
    SR_KEYS,
    SR_OFFSET,
    SR_SCALE,
    ST_OFFSET,
    ST_SCALE,
    Scene,
    scene_layers,
    schedule,
)
from .landscape import Landscape
from .products import write_climate, write_dem, write_lulc, write_mines, write_modis, write_truth
from .stac import COG, collection, item, lonlat_footprint, write_catalog

COMPLETE_MARKER = "synth.json"


@dataclass
class SynthResult:
    root: Path
    catalog: Path
    config: SynthConfig
    seconds: float
    n_items: int


def _landsat_item(landscape: Landscape, scene: Scene, root: Path) -> dict:
    cfg, grid, sensor = landscape.config, landscape.grid, scene.sensor
    layers = scene_layers(landscape, scene)
    dn = layers.dn()
    iid = scene.item_id(cfg.wrs_path_row)
    sdir = root / "landsat" / iid
    assets = {}
    for key, band in sensor.bands.items():
        array = dn["thermal"] if key == sensor.thermal_key else dn[key]
        nodata = 1 if key == "qa_pixel" else 0
        path = write_cog(sdir / f"{iid}_{band}.TIF", array, crs=grid.crs, transform=grid.transform, nodata=nodata)
        if key in SR_KEYS:
            rb = {"data_type": "uint16", "nodata": 0, "scale": SR_SCALE, "offset": SR_OFFSET, "unit": "1"}
            roles, title = ["data", "reflectance"], f"{band} surface reflectance"
        elif key == sensor.thermal_key:
            rb = {"data_type": "uint16", "nodata": 0, "scale": ST_SCALE, "offset": ST_OFFSET, "unit": "kelvin"}
            roles, title = ["data", "temperature"], "surface temperature"
        else:
            rb = {"data_type": "uint16", "nodata": 1, "unit": "bit index"}
            roles, title = ["cloud", "cloud-shadow", "snow-ice", "water-mask"], "Pixel quality assessment"
        assets[key] = {"href": str(path.resolve()), "type": COG, "roles": roles, "title": title,
                       "raster:bands": [rb], "eo:bands": [{"name": band, **({"common_name": key} if key in SR_KEYS else {})}]}
    geometry, bbox = lonlat_footprint(grid)
    date = scene.date
    props = {
        "datetime": f"{date:%Y-%m-%d}T03:{10 + scene.index % 40:02d}:00Z",
        "platform": sensor.platform,
        "instruments": ["oli", "tirs"] if sensor is OLI else [sensor.instrument],
        "eo:cloud_cover": layers.cloud_cover,
        "landsat:cloud_cover_land": layers.cloud_cover,
        "landsat:collection_category": "T1",
        "landsat:collection_number": "02",
        "landsat:correction": "L2SP",
        "landsat:wrs_type": "2",
        "landsat:wrs_path": f"{cfg.wrs_path_row[0]:03d}",
        "landsat:wrs_row": f"{cfg.wrs_path_row[1]:03d}",
        "landsat:scene_id": f"{sensor.code[:2]}{sensor.code[3]}{cfg.wrs_path_row[0]:03d}{cfg.wrs_path_row[1]:03d}{date:%Y%j}LGN00",
        "view:sun_elevation": 60.0,
        "proj:epsg": grid.epsg,
        "proj:shape": list(grid.shape),
        "proj:transform": list(grid.transform)[:6],
        "cubeeco:off_season": scene.off_season,
    }
    return item(iid, "landsat-c2-l2", geometry, bbox, props, assets,
                extensions=("eo", "proj", "raster", "view", "landsat"))


def _collections(landscape: Landscape, climate_assets: dict) -> list[dict]:
    cfg = landscape.config
    _, bbox = lonlat_footprint(landscape.grid)
    y0, y1 = cfg.years
    span = [f"{y0}-01-01T00:00:00Z", f"{y1}-12-31T23:59:59Z"]
    band_asset = {"type": COG, "roles": ["data"]}
    landsat_assets = {k: band_asset for k in (*SR_KEYS, "lwir", "lwir11", "qa_pixel")}
    return [
        collection("landsat-c2-l2", "Landsat Collection 2 Level-2 (synthetic)",
                   "Synthetic Landsat 5/7/8 Collection 2 Level-2 surface reflectance and temperature, "
                   "encoded like the real collection.", bbox, span, item_assets=landsat_assets,
                   summaries={"platform": ["landsat-5", "landsat-7", "landsat-8"]}, keywords=("landsat",)),
        collection("modis-17A3HGF-061", "MODIS Net Primary Production Yearly (synthetic)",
                   "Synthetic MOD17A3HGF v061 annual NPP at 500 m, sinusoidal projection.", bbox,
                   [f"{max(y0, 2001)}-01-01T00:00:00Z", span[1]], keywords=("modis", "npp")),
        collection("synthetic-clcd", "Annual land cover (CLCD-like, synthetic)",
                   "Synthetic 30 m annual land cover with CLCD classes.", bbox, span, keywords=("land cover",)),
        collection("synthetic-dem", "Elevation (synthetic)", "Synthetic 30 m DEM.", bbox, span),
        collection("synthetic-climate", "Monthly climate (synthetic)",
                   "Synthetic monthly climate grid (Zarr) and station records.", bbox, span, assets=climate_assets),
        collection("synthetic-mines", "Mine boundaries (synthetic)", "Open-pit mine polygons with opening "
                   "and restoration years.", bbox, span),
    ]


def synthesize(config: SynthConfig, out: str | Path, *, progress: bool = True, overwrite: bool = False,
               threads: int = 2) -> SynthResult:
    """Write the synthetic coal base for ``config`` under ``out``.

    The marker file ``synth.json`` is written last: a folder without it is an
    incomplete run and is rebuilt from scratch.
    """
    out = Path(out)
    marker = out / COMPLETE_MARKER
    if marker.exists() and not overwrite:
        meta = json.loads(marker.read_text())
        if meta.get("config") == config.to_dict():
            return SynthResult(out, out / "stac" / "catalog.json", config, 0.0, meta["n_items"])
        raise FileExistsError(f"{out} holds a synthetic coal base with another configuration; "
                              f"choose another folder or pass overwrite=True (--overwrite).")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    landscape = Landscape(config)
    scenes = schedule(landscape)
    bar = tqdm(total=len(scenes) + 5, desc="synth", unit="step", disable=not progress)
    with ThreadPoolExecutor(max(threads, 1)) as pool:
        landsat_items = []
        for it in pool.map(lambda s: _landsat_item(landscape, s, out), scenes):
            landsat_items.append(it)
            bar.update()
    items = {"landsat-c2-l2": landsat_items}
    items["modis-17A3HGF-061"] = write_modis(landscape, out) if config.modis else []
    bar.update()
    items["synthetic-clcd"] = write_lulc(landscape, out)
    items["synthetic-dem"] = write_dem(landscape, out)
    bar.update()
    climate_assets, items["synthetic-climate"] = write_climate(landscape, out)
    bar.update()
    items["synthetic-mines"] = write_mines(landscape, out)
    write_truth(landscape, out)
    bar.update()
    catalog = write_catalog(out / "stac", _collections(landscape, climate_assets), items)
    bar.update()
    bar.close()
    seconds = time.perf_counter() - t0
    n_items = sum(len(v) for v in items.values())
    from .. import __version__

    marker.write_text(json.dumps({"config": config.to_dict(), "n_items": n_items, "seconds": round(seconds, 2),
                                  "cubeeco_version": __version__}, indent=1))
    return SynthResult(out, catalog, config, seconds, n_items)
