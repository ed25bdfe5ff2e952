"""A user's own raster (GeoTIFF / COG) read onto the analysis grid.

* :func:`open_raster` -- one band of a GeoTIFF, warped lazily onto a :class:`~cubeeco.io.grid.Grid`
  by nearest neighbour (categorical and year rasters must not be blended), with its nodata;
* :func:`check_raster` -- the cheap metadata checks, for a run configuration's checks.

The warp is a GDAL ``WarpedVRT`` read through rioxarray in grid-sized tiles: nothing is read
until the tiles are computed, and each dask task reads only its own window (rioxarray reopens
the VRT from its parameters in each worker, so the graph pickles to distributed workers).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .grid import Grid


def _open(path) -> tuple[Path, object]:
    import rasterio

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"raster {path} does not exist; give the path of a GeoTIFF / COG.")
    try:
        return path, rasterio.open(path)
    except rasterio.errors.RasterioIOError as err:
        raise ValueError(f"raster {path} cannot be read as a raster (GeoTIFF / COG): {err}") from None


def check_raster(path, *, band: int = 1) -> None:
    """Raise ``ValueError`` if ``path`` is not a readable raster with ``band`` and a CRS."""
    path, src = _open(path)
    with src:
        if not 1 <= band <= src.count:
            raise ValueError(f"raster {path} has {src.count} band(s); band {band} does not exist.")
        if src.crs is None:
            raise ValueError(f"raster {path} has no CRS; set one (e.g. gdal_edit.py -a_srs EPSG:32649 FILE) "
                             f"so it can be placed on the grid.")


def _default_nodata(dtype: np.dtype):
    # outside the source there must be *some* nodata: NaN for floats, else the dtype's extreme
    # (255 / 65535 / -32768 / ...), GDAL's usual choices, never a plausible value
    if dtype.kind == "f":
        return np.nan
    info = np.iinfo(dtype)
    return info.max if dtype.kind == "u" else info.min


def open_raster(path, *, grid: Grid, band: int = 1, nodata=None, chunksize: int = 512,
                name: str | None = None) -> xr.DataArray:
    """One band of a GeoTIFF / COG on ``grid`` by nearest neighbour, lazily.

    Parameters
    ----------
    path : str or Path
        The raster file; any CRS and resolution (it is warped onto ``grid``).
    grid : Grid
        The analysis grid.
    band : int
        The band to read (1-based).
    nodata : number, optional
        The file's nodata when it declares none (a file's own nodata wins).  Without either,
        pixels outside the file get NaN (floats) or the dtype's extreme (255 for uint8,
        -32768 for int16, ...), which becomes the result's nodata.
    chunksize : int
        Spatial tile (the runner's ``chunks``).
    name : str, optional
        The result's name (default: the file's stem).

    Returns
    -------
    xarray.DataArray
        (y, x) on ``grid`` with the file's dtype, ``y``/``x`` exactly the grid's pixel
        centres, nodata in ``attrs["_FillValue"]`` / ``attrs["nodata"]`` (and ``rio.nodata``).
        A band with a scale or offset is decoded to float64 (NaN = nodata).
    """
    import rioxarray
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a cubeeco Grid, got {type(grid).__name__}.")
    if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
        raise ValueError(f"chunksize must be a positive integer, got {chunksize!r}.")
    check_raster(path, band=band)
    path, src = _open(path)
    with src:
        dtype = np.dtype(src.dtypes[band - 1])
        own = src.nodatavals[band - 1]
        fill = own if own is not None else (nodata if nodata is not None else _default_nodata(dtype))
        scale, offset = src.scales[band - 1], src.offsets[band - 1]
        left, bottom, right, top = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
        gx0, gy0, gx1, gy1 = grid.bounds
        if right <= gx0 or left >= gx1 or top <= gy0 or bottom >= gy1:
            raise ValueError(f"raster {path} (bounds {tuple(round(b, 3) for b in src.bounds)} in {src.crs}) "
                             f"does not overlap the grid {grid.to_dict()}.")
        height, width = grid.shape
        with WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=width, height=height,
                       resampling=Resampling.nearest, src_nodata=fill, nodata=fill) as vrt:
            da = rioxarray.open_rasterio(vrt, chunks={"band": 1, "y": chunksize, "x": chunksize},
                                         mask_and_scale=False)
    da = da.sel(band=band, drop=True) if da.sizes["band"] > 1 else da.isel(band=0, drop=True)
    da = da.drop_vars([c for c in da.coords if c not in ("y", "x")])
    # the VRT's pixel centres are the grid's up to float noise; take the grid's exactly so the
    # result aligns with every other group of the run
    da = da.assign_coords(y=grid.y, x=grid.x)
    attrs = {"source": str(path), "resampling": "nearest"}
    if (scale, offset) != (1.0, 0.0):
        raw = da.where(da != fill) if not (isinstance(fill, float) and np.isnan(fill)) else da
        da = raw.astype(np.float64) * scale + offset
        fill = np.nan
        attrs.update(scale_factor_applied=scale, add_offset_applied=offset)
    da.attrs = {**attrs, "_FillValue": fill, "nodata": fill}
    da.encoding = {}
    da = da.rename(name or path.stem)
    return da.rio.write_crs(grid.crs).rio.write_nodata(fill, encoded=False)


__all__ = ["check_raster", "open_raster"]
