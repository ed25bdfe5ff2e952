"""``synthesize``: write a whole synthetic coal base (COGs, Zarr, GeoJSON, STAC)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..io.cog import write_cog
from ..io.lock import store_lock
from .climate import write_climate
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
from .landsat_stac import AUX, QA_BITFIELDS, SCI_DOI, eo_band, extra_assets
from .landscape import Landscape
from .products import write_dem, write_lulc, write_mines, write_modis, write_truth
from .stac import COG, collection, item, lonlat_footprint, write_catalog

COMPLETE_MARKER = "synth.json"
OWNER_MARKER = ".cubeeco-synth"    # written first: the folder is ours to rebuild
# what synthesize wrote before synth.json listed its entries (a legacy base)
LEGACY_ENTRIES = ("stac", "landsat", "modis", "lulc", "dem", "climate", "vectors", "truth",
                  COMPLETE_MARKER)


def _our_marker(out: Path) -> dict | None:
    """``out/synth.json`` when it is cubeeco's (parses, has ``config`` and ``n_items``);
    a file of that name that is not, is the user's."""
    try:
        meta = json.loads((out / COMPLETE_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and {"config", "n_items"} <= meta.keys() else None


@dataclass
class SynthResult:
    root: Path
    catalog: Path
    config: SynthConfig
    seconds: float
    n_items: int


def _landsat_item(landscape: Landscape, scene: Scene, root: Path) -> dict:
    """One scene's COGs and its STAC item, in the real collection's shape (DATA.md):
    eo:bands with common names, raster:bands, classification:bitfields on qa_pixel, the
    extra assets of landsat_stac, no thermal assets for L2SR scenes."""
    cfg, grid, sensor = landscape.config, landscape.grid, scene.sensor
    layers = scene_layers(landscape, scene)
    dn = layers.dn()
    iid = scene.item_id(cfg.wrs_path_row)
    sdir = root / "landsat" / iid
    correction = scene.correction
    assets = {}
    for key, band in sensor.bands.items():
        if key == sensor.thermal_key and correction != "L2SP":
            continue     # L2SR: reflectance only
        array = dn["thermal"] if key == sensor.thermal_key else dn[key]
        nodata = 1 if key == "qa_pixel" else 0
        path = write_cog(sdir / f"{iid}_{band}.TIF", array, crs=grid.crs, transform=grid.transform, nodata=nodata)
        extra = {}
        if key in SR_KEYS:
            rb = {"data_type": "uint16", "nodata": 0, "scale": SR_SCALE, "offset": SR_OFFSET, "unit": "1"}
            roles, title = ["data", "reflectance"], f"{band} surface reflectance"
            extra["eo:bands"] = [eo_band(sensor.code, key)]
        elif key == sensor.thermal_key:
            rb = {"data_type": "uint16", "nodata": 0, "scale": ST_SCALE, "offset": ST_OFFSET, "unit": "kelvin"}
            roles, title = ["data", "temperature"], "surface temperature"
            extra["eo:bands"] = [eo_band(sensor.code, key)]
        else:
            rb = {"data_type": "uint16", "nodata": 1, "unit": "bit index"}
            roles, title = ["cloud", "cloud-shadow", "snow-ice", "water-mask"], "Pixel quality assessment"
            extra["classification:bitfields"] = QA_BITFIELDS
        assets[key] = {"href": str(path.resolve()), "type": COG, "roles": roles, "title": title,
                       "raster:bands": [{**rb, "spatial_resolution": 30}], **extra}
    date = scene.date
    # a plausible sun for ~39 N at 10:30 local time: high in summer, low in winter
    season = float(np.cos(2 * np.pi * (scene.doy - 172) / 365.25))
    sun = (round(140.0 - 25.0 * season, 2), round(50.0 + 23.0 * season, 2))
    assets.update(extra_assets(root, grid, scene, iid, sdir, dn, correction, sun))
    geometry, bbox = lonlat_footprint(grid)
    props = {
        "datetime": f"{date:%Y-%m-%d}T03:{10 + scene.index % 40:02d}:00Z",
        "created": f"{date + dt.timedelta(days=400):%Y-%m-%d}T12:00:00Z",
        "platform": sensor.platform,
        "instruments": ["oli", "tirs"] if sensor is OLI else [sensor.instrument],
        "gsd": 30,
        "sci:doi": SCI_DOI[sensor.code],
        "eo:cloud_cover": layers.cloud_cover,
        "landsat:cloud_cover_land": layers.cloud_cover,
        "landsat:collection_category": "T1",
        "landsat:collection_number": "02",
        "landsat:correction": correction,
        "landsat:wrs_type": "2",
        "landsat:wrs_path": f"{cfg.wrs_path_row[0]:03d}",
        "landsat:wrs_row": f"{cfg.wrs_path_row[1]:03d}",
        "landsat:scene_id": f"{sensor.code[:2]}{sensor.code[3]}{cfg.wrs_path_row[0]:03d}{cfg.wrs_path_row[1]:03d}{date:%Y%j}LGN00",
        "view:off_nadir": 0,
        "view:sun_azimuth": sun[0],
        "view:sun_elevation": sun[1],
        "proj:epsg": grid.epsg,
        "proj:shape": list(grid.shape),
        "proj:transform": list(grid.transform)[:6],
        "cubeeco:off_season": scene.off_season,
        "cubeeco:monthly": scene.monthly,
    }
    return item(iid, "landsat-c2-l2", geometry, bbox, props, assets,
                extensions=("eo", "proj", "raster", "view", "landsat", "classification", "scientific"))


def _collections(landscape: Landscape, climate_assets: dict) -> list[dict]:
    cfg = landscape.config
    _, bbox = lonlat_footprint(landscape.grid)
    y0, y1 = cfg.years
    span = [f"{y0}-01-01T00:00:00Z", f"{y1}-12-31T23:59:59Z"]
    band_asset = {"type": COG, "roles": ["data"]}
    landsat_assets = {k: band_asset for k in (*SR_KEYS, "coastal", "lwir", "lwir11", "qa_pixel", "qa_radsat",
                                              "qa_aerosol", "cloud_qa", *AUX)}
    return [
        collection("landsat-c2-l2", "Landsat Collection 2 Level-2 (synthetic)",
                   "Synthetic Landsat 5/7/8 Collection 2 Level-2 surface reflectance and temperature, "
                   "encoded like the real collection.", bbox, span, item_assets=landsat_assets,
                   summaries={"platform": ["landsat-5", "landsat-7", "landsat-8"]}, keywords=("landsat",)),
        collection("modis-17A3HGF-061", "MODIS Net Primary Production Yearly (synthetic)",
                   "Synthetic MOD17A3HGF (Terra) and MYD17A3HGF (Aqua) v061 annual NPP at 500 m, "
                   "sinusoidal projection; told apart by the id prefix (platform is empty, as on "
                   "the Planetary Computer).", bbox,
                   [f"{max(y0, 2001)}-01-01T00:00:00Z", span[1]], keywords=("modis", "npp")),
        collection("synthetic-clcd", "Annual land cover (CLCD-like, synthetic)",
                   "Synthetic 30 m annual land cover with CLCD classes.", bbox, span, keywords=("land cover",)),
        collection("synthetic-dem", "Elevation (synthetic)", "Synthetic 30 m DEM.", bbox, span),
        collection("synthetic-climate", "Monthly climate (synthetic)",
                   "Synthetic monthly climate grid (Zarr) and station records.", bbox, span, assets=climate_assets),
        collection("synthetic-mines", "Mine boundaries (synthetic)", "Open-pit mine polygons with opening "
                   "and restoration years.", bbox, span),
    ]


def _claim(out: Path) -> list[str]:
    """Mark ``out`` as ours, deleting only what an earlier synthesize wrote there; returns
    the names of the other entries found there (kept)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file; the synthetic coal base needs a folder: "
                              f"choose another --out.")
    meta = _our_marker(out) if out.is_dir() else None
    owned = (out / OWNER_MARKER).exists() or meta is not None
    if out.is_dir() and not owned and any(out.iterdir()):
        raise FileExistsError(f"{out} is a non-empty folder that cubeeco did not create; synth "
                              f"writes only into a new or empty folder (or one it made): choose "
                              f"another folder, e.g. {out / 'synthetic-base'}.")
    kept: list[str] = []
    if owned:
        done, owner = out / COMPLETE_MARKER, out / OWNER_MARKER
        # a finished base lists what it wrote (a legacy one: the fixed names synthesize
        # wrote then); an interrupted one lists what it found and kept (files the user put
        # beside a base), everything else in it is ours
        if meta is not None:
            entries = meta.get("entries")
            if not isinstance(entries, list):
                entries = list(LEGACY_ENTRIES)
        else:
            entries = None
        try:
            kept = json.loads(owner.read_text()).get("kept", []) if owner.exists() else []
        except (ValueError, AttributeError):
            kept = []
        if meta is not None:
            done.unlink(missing_ok=True)   # from here on the folder is an interrupted base
        elif done.exists():
            kept = [*kept, COMPLETE_MARKER]   # a synth.json that is not ours is the user's
        for p in out.iterdir():
            ours = entries is None or p.name in entries
            if p.name == OWNER_MARKER or p.name in kept or not ours:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        kept = sorted(p.name for p in out.iterdir() if p.name != OWNER_MARKER)
    out.mkdir(parents=True, exist_ok=True)
    (out / OWNER_MARKER).write_text(json.dumps({"written_by": "cubeeco synthesize", "kept": kept}))
    return kept


def synthesize(config: SynthConfig, out: str | Path, *, progress: bool = True, overwrite: bool = False,
               threads: int = 2) -> SynthResult:
    """Write the synthetic coal base for ``config`` under ``out``.

    ``out`` must be new, empty, or a folder this function made: the ownership marker
    ``.cubeeco-synth`` is written first, the completion marker ``synth.json`` last. A
    folder with the ownership marker but no ``synth.json`` is an interrupted run and is
    rebuilt; a non-empty folder without either is refused (it may hold the user's files).
    """
    out = Path(out)
    # two synthesize calls on one folder: the second waits for nothing, it is refused
    with store_lock(out.absolute()):
        return _synthesize(config, out, progress=progress, overwrite=overwrite, threads=threads)


def _synthesize(config: SynthConfig, out: Path, *, progress: bool, overwrite: bool,
                threads: int) -> SynthResult:
    marker = out / COMPLETE_MARKER
    meta = _our_marker(out)
    if meta is not None and not overwrite:
        if meta.get("config") == config.to_dict():
            return SynthResult(out, out / "stac" / "catalog.json", config, 0.0, meta["n_items"])
        raise FileExistsError(f"{out} holds a synthetic coal base with another configuration; "
                              f"choose another folder or pass overwrite=True (--overwrite).")
    kept = _claim(out)
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

    entries = sorted(p.name for p in out.iterdir()
                     if p.name not in (OWNER_MARKER, COMPLETE_MARKER, *kept))
    marker.write_text(json.dumps({"config": config.to_dict(), "n_items": n_items,
                                  "seconds": round(seconds, 2), "cubeeco_version": __version__,
                                  "entries": entries}, indent=1))
    return SynthResult(out, catalog, config, seconds, n_items)
