"""Writing Cloud-Optimized GeoTIFFs (GDAL's COG driver)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio


def write_cog(path: Path, array: np.ndarray, *, crs, transform, nodata=None, predictor: int | None = None) -> Path:
    """Write a 2-D array as a single-band COG (deflate, 256 px tiles, overviews).

    Written to a temporary name and renamed, so a crash never leaves a truncated
    file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    if predictor is None:
        predictor = 3 if array.dtype.kind == "f" else 2
    profile = dict(driver="COG", width=array.shape[1], height=array.shape[0], count=1,
                   dtype=array.dtype.name, crs=crs, transform=transform, nodata=nodata,
                   compress="DEFLATE", predictor=predictor, blocksize=256, overview_resampling="nearest")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(array, 1)
    os.replace(tmp, path)
    return path
