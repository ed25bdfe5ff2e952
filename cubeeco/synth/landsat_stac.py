"""The STAC shape of a synthetic Landsat C2 L2 item, as the real ones have it (DATA.md).

Real items carry ~25 assets, most of which a cube never reads: ``coastal`` (OLI),
``qa_radsat``, ``qa_aerosol`` (OLI) or ``cloud_qa`` (TM/ETM+), the surface-temperature
intermediates (``atran cdist drad urad trad emis emsd``, L2SP only), MTL files and a
thumbnail. The synthetic items carry them too, so the loader is tested against them.
The per-pixel-constant rasters are written once per sensor and grid (``landsat/_constant``)
and shared by the items: their values never matter to an analysis, their presence does.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from ..io.cog import write_cog
from .stac import COG

# eo:bands per sensor: asset key -> (band name, common_name, centre wavelength um, FWHM um)
EO_BANDS = {
    "LT05": {"blue": ("TM_B1", "blue", 0.49, 0.07), "green": ("TM_B2", "green", 0.56, 0.08),
             "red": ("TM_B3", "red", 0.66, 0.06), "nir08": ("TM_B4", "nir08", 0.83, 0.14),
             "swir16": ("TM_B5", "swir16", 1.65, 0.2), "swir22": ("TM_B7", "swir22", 2.22, 0.27),
             "lwir": ("TM_B6", "lwir", 11.45, 2.1)},
    "LE07": {"blue": ("ETM_B1", "blue", 0.48, 0.07), "green": ("ETM_B2", "green", 0.56, 0.08),
             "red": ("ETM_B3", "red", 0.66, 0.06), "nir08": ("ETM_B4", "nir08", 0.84, 0.13),
             "swir16": ("ETM_B5", "swir16", 1.65, 0.2), "swir22": ("ETM_B7", "swir22", 2.2, 0.26),
             "lwir": ("ETM_B6", "lwir", 11.34, 2.05)},
    "LC08": {"coastal": ("OLI_B1", "coastal", 0.44, 0.02), "blue": ("OLI_B2", "blue", 0.48, 0.06),
             "green": ("OLI_B3", "green", 0.56, 0.06), "red": ("OLI_B4", "red", 0.65, 0.04),
             "nir08": ("OLI_B5", "nir08", 0.87, 0.03), "swir16": ("OLI_B6", "swir16", 1.61, 0.09),
             "swir22": ("OLI_B7", "swir22", 2.2, 0.19), "lwir11": ("TIRS_B10", "lwir11", 10.9, 0.59)},
}
SCI_DOI = {"LT05": "10.5066/P9IAXOVV", "LE07": "10.5066/P9C7I13B", "LC08": "10.5066/P9OGBGM6"}

# QA_PIXEL bit fields (classification extension), as on the real qa_pixel asset
_CONF = [{"name": n, "value": v, "description": f"{n.replace('_', ' ')} confidence"}
         for v, n in enumerate(("not_set", "low", "medium", "high"))]
QA_BITFIELDS = [
    {"name": name, "offset": bit, "length": 1, "description": desc,
     "classes": [{"name": f"not_{name}", "value": 0, "description": f"{desc} not set"},
                 {"name": name, "value": 1, "description": f"{desc} set"}]}
    for bit, name, desc in ((0, "fill", "image or fill data"), (1, "dilated_cloud", "dilated cloud"),
                            (2, "cirrus", "cirrus (OLI only)"), (3, "cloud", "cloud"),
                            (4, "cloud_shadow", "cloud shadow"), (5, "snow", "snow"),
                            (6, "clear", "clear of clouds and shadows"), (7, "water", "water"))
] + [{"name": f"{name}_confidence", "offset": bit, "length": 2, "description": f"{name} confidence",
      "classes": _CONF} for bit, name in ((8, "cloud"), (10, "cloud_shadow"), (12, "snow"), (14, "cirrus"))]

# constant auxiliary rasters: key -> (file band, dtype, value, scale, nodata, title, L2SP only)
AUX = {
    "qa_radsat": ("QA_RADSAT", "uint16", 0, None, None, "Radiometric saturation and terrain occlusion QA", False),
    "atran": ("ST_ATRAN", "int16", 8500, 0.0001, -9999, "Atmospheric transmittance", True),
    "cdist": ("ST_CDIST", "int16", 5000, 0.01, -9999, "Distance to nearest cloud (km)", True),
    "drad": ("ST_DRAD", "int16", 1200, 0.001, -9999, "Downwelled radiance", True),
    "urad": ("ST_URAD", "int16", 2200, 0.001, -9999, "Upwelled radiance", True),
    "trad": ("ST_TRAD", "int16", 9000, 0.001, -9999, "Thermal radiance", True),
    "emis": ("ST_EMIS", "int16", 9700, 0.0001, -9999, "Emissivity", True),
    "emsd": ("ST_EMSD", "int16", 100, 0.0001, -9999, "Emissivity standard deviation", True),
}
AEROSOL = {"LC08": ("qa_aerosol", "SR_QA_AEROSOL", "Aerosol quality assessment"),
           "LT05": ("cloud_qa", "SR_CLOUD_QA", "Cloud quality assessment"),
           "LE07": ("cloud_qa", "SR_CLOUD_QA", "Cloud quality assessment")}


def eo_band(sensor_code: str, key: str) -> dict:
    name, common, centre, fwhm = EO_BANDS[sensor_code][key]
    return {"name": name, "common_name": common, "center_wavelength": centre, "full_width_half_max": fwhm}


_CONSTANT_LOCK = threading.Lock()   # synthesize writes scenes from a thread pool


def _constant(root: Path, grid, code: str, band: str, dtype: str, value, nodata) -> Path:
    path = root / "landsat" / "_constant" / f"{code}_{band}.TIF"
    with _CONSTANT_LOCK:    # written once per base, by the first scene that needs it
        if not path.exists():
            write_cog(path, np.full(grid.shape, value, dtype), crs=grid.crs, transform=grid.transform,
                      nodata=nodata)
    return path


def extra_assets(root: Path, grid, scene, iid: str, sdir: Path, dn: dict, correction: str,
                 sun: tuple[float, float]) -> dict:
    """The assets a cube does not read: coastal, QA extras, ST intermediates, MTL, thumbnail."""
    code = scene.sensor.code
    out = {}
    if code == "LC08":   # coastal aerosol: darker than blue, planted from it
        coastal = np.where(dn["blue"] > 0, np.clip(dn["blue"].astype(np.int32) - 600, 1, 65455), 0)
        path = write_cog(sdir / f"{iid}_SR_B1.TIF", coastal.astype(np.uint16), crs=grid.crs,
                         transform=grid.transform, nodata=0)
        out["coastal"] = {"href": str(path.resolve()), "type": COG, "roles": ["data", "reflectance"],
                          "title": "Coastal/Aerosol Band (B1)", "eo:bands": [eo_band(code, "coastal")],
                          "raster:bands": [{"data_type": "uint16", "nodata": 0, "scale": 2.75e-05,
                                            "offset": -0.2, "unit": "1", "spatial_resolution": 30}]}
    key, band, title = AEROSOL[code]
    path = _constant(root, grid, code, band, "uint8", 2 if code == "LC08" else 0, 1)
    out[key] = {"href": str(path.resolve()), "type": COG, "roles": ["data-mask"], "title": title,
                "raster:bands": [{"data_type": "uint8", "nodata": 1, "unit": "bit index"}]}
    for key, (band, dtype, value, scale, nodata, title, st_only) in AUX.items():
        if st_only and correction != "L2SP":
            continue
        path = _constant(root, grid, code, band, dtype, value, nodata)
        rb = {"data_type": dtype, **({"nodata": nodata} if nodata is not None else {}),
              **({"scale": scale} if scale else {})}
        out[key] = {"href": str(path.resolve()), "type": COG, "title": title,
                    "roles": ["saturation"] if key == "qa_radsat" else ["data"], "raster:bands": [rb]}
    meta = {"LANDSAT_PRODUCT_ID": iid, "DATE_ACQUIRED": f"{scene.date:%Y-%m-%d}", "PROCESSING_LEVEL": correction,
            "SUN_AZIMUTH": sun[0], "SUN_ELEVATION": sun[1], "SPACECRAFT_ID": scene.sensor.platform.upper()}
    (sdir / f"{iid}_MTL.json").write_text(json.dumps({"LANDSAT_METADATA_FILE": {"PRODUCT_CONTENTS": meta}}))
    (sdir / f"{iid}_MTL.txt").write_text("GROUP = LANDSAT_METADATA_FILE\n" + "".join(
        f"  {k} = {json.dumps(v)}\n" for k, v in meta.items()) + "END_GROUP = LANDSAT_METADATA_FILE\nEND\n")
    (sdir / f"{iid}_MTL.xml").write_text("<LANDSAT_METADATA_FILE><PRODUCT_CONTENTS>" + "".join(
        f"<{k}>{v}</{k}>" for k, v in meta.items()) + "</PRODUCT_CONTENTS></LANDSAT_METADATA_FILE>\n")
    for key, ext, mime, title in (("mtl.json", "json", "application/json", "Product Metadata File (json)"),
                                  ("mtl.txt", "txt", "text/plain", "Product Metadata File"),
                                  ("mtl.xml", "xml", "application/xml", "Product Metadata File (xml)")):
        out[key] = {"href": str((sdir / f"{iid}_MTL.{ext}").resolve()), "type": mime, "roles": ["metadata"],
                    "title": title}
    red = dn["red"][::8, ::8]
    thumb = np.clip((red.astype(np.float32) - 7273) / 40, 0, 255).astype(np.uint8)
    tpath = sdir / f"{iid}_thumb_small.png"
    # georeferenced only to keep rasterio quiet (warning filters are not thread-safe); the
    # .aux.xml sidecar that GDAL writes for it is removed: real thumbnails are plain images
    with rasterio.open(tpath, "w", driver="PNG", width=thumb.shape[1], height=thumb.shape[0], count=1,
                       dtype="uint8", crs=grid.crs, transform=grid.transform @ Affine.scale(8)) as dst:
        dst.write(thumb, 1)
    for aux in tpath.parent.glob(tpath.name + ".aux.xml"):
        aux.unlink()
    out["thumbnail"] = {"href": str(tpath.resolve()), "type": "image/png", "roles": ["thumbnail"],
                        "title": "Thumbnail image"}
    return out
