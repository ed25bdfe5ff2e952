"""Contribution ratio K_l of the landscape ecological function by distance from the mine (study 004 Eq. 12).

    K_l = (C_mine / S_mine) / ((C_mine + Σ_{l'<=l} C_l') / S_l) × 100 %

C_mine, S_mine: carbon storage (t) and area (ha) of the mining landscape (the union of the
mine polygons, or of the pixels of a mining mask); C_l': carbon storage of distance band l'
(the points ((l'-1)·width, l'·width] from the mining landscape); S_l: the area within l·width
of it, mine included (S_mine + Σ_{l'<=l} S_l').  K_l is thus the mine's mean carbon density
over the mean density of everything within l km, in per cent.

Bands are :func:`cubeeco.ops.zonal.distance_bands`; sums and areas are coverage-weighted
:func:`cubeeco.ops.zonal.zonal_stats` (exactextract's definition), so no rasterising of the
bands happens here.  Conventions: docs/window-choice.md.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from ._checks import require_dataarray

DENSITY_UNITS = ("t ha-1", "t/ha", "Mg ha-1", "Mg/ha", "t ha**-1", "Mg C ha-1", "t C ha-1")
UNITS = {"C_mine": "t", "S_mine": "ha", "C_band": "t", "S_band": "ha", "C_within": "t", "S_within": "ha",
         "density_mine": "t ha-1", "density_within": "t ha-1", "density_band": "t ha-1", "K_l": "%",
         "K_band": "%", "band_area_ha": "ha", "covered_fraction": "1", "inner_m": "m", "outer_m": "m"}
LONG_NAMES = {
    "C_mine": "carbon storage of the mining landscape",
    "S_mine": "valid area of the mining landscape",
    "C_band": "carbon storage of the distance band",
    "S_band": "valid area of the distance band",
    "C_within": "carbon storage within outer_m of the mining landscape, mine included",
    "S_within": "valid area within outer_m of the mining landscape, mine included",
    "K_l": "contribution ratio of the landscape ecological function (study 004 Eq. 12)",
    "K_band": "mine density over the band's own density (ring reading, not Eq. 12)",
    "band_area_ha": "geometric area of the band polygon",
    "covered_fraction": "S_band / band_area_ha: the part of the band with carbon values on the raster",
}


# ------------------------------------------------------------------ arguments
def _check_storage(c_storage):
    require_dataarray(c_storage, "c_storage")
    if c_storage.dtype.kind not in "fiu":
        raise TypeError(f"c_storage must be numeric carbon density (t/ha), got dtype {c_storage.dtype}.")
    if "y" not in c_storage.dims or "x" not in c_storage.dims or c_storage.ndim not in (2, 3):
        raise ValueError(f"c_storage must be (y, x) or (time, y, x) carbon density in t/ha; it has dimensions "
                         f"{tuple(c_storage.dims)}.")
    u = c_storage.attrs.get("units")
    if u is not None and str(u).strip() not in DENSITY_UNITS:
        raise ValueError(f"c_storage has units {u!r}; contribution_ratio needs carbon density in t/ha "
                         f"('t ha-1', e.g. invest_carbon(...)['c_storage']). Divide stocks per pixel by the "
                         f"pixel area in ha first.")
    other = [d for d in c_storage.dims if d not in ("y", "x")]
    layer = other[0] if other else None
    return (c_storage.transpose(layer, "y", "x") if layer else c_storage.transpose("y", "x")), layer


def _pixel_ha(c_storage, pixel_area):
    from .zonal import _axis, _raster_crs

    crs = _raster_crs(c_storage)
    if not crs.is_projected:
        raise ValueError(f"c_storage is on a geographic CRS ({crs.name!r}); distance bands and areas need a "
                         f"projected grid in metres. Reproject onto the analysis grid first.")
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    if pixel_area is not None:
        try:
            a = float(pixel_area)
        except (TypeError, ValueError):
            raise TypeError(f"pixel_area must be a number of m² per pixel, got {type(pixel_area).__name__}.") from None
        if not math.isfinite(a) or a <= 0:
            raise ValueError(f"pixel_area must be a positive number of m² per pixel, got {pixel_area!r}.")
        return a / 1e4, crs, unit
    _, dx = _axis(c_storage, "x")
    _, dy = _axis(c_storage, "y")
    return abs(dx * dy) * unit * unit / 1e4, crs, unit


def _mask_polygons(mask2d, c_storage, crs):
    """The mining pixels of a (y, x) boolean array as one (Multi)Polygon of pixel squares."""
    import shapely
    from affine import Affine
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.features import shapes

    from .zonal import _axis

    x0, dx = _axis(c_storage, "x")
    y0, dy = _axis(c_storage, "y")
    if not mask2d.any():
        return None
    t = Affine(dx, 0.0, x0, 0.0, dy, y0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        polys = [shapely.geometry.shape(g) for g, _ in shapes(mask2d.astype(np.uint8), mask=mask2d, transform=t)]
    return shapely.union_all(polys)


def _mines(mines, c_storage, layer, crs):
    """A list of mining-landscape geometries (one, or one per layer of a 3-D mask) in the raster's CRS."""
    import geopandas as gpd
    import shapely

    if isinstance(mines, xr.DataArray):
        if mines.dtype != bool:
            raise TypeError(f"mines as a raster must be a boolean mask of the mining landscape, got dtype "
                            f"{mines.dtype}; build one with e.g. lulc.isin(mining_codes).")
        if "y" not in mines.dims or "x" not in mines.dims or mines.ndim not in (2, 3):
            raise ValueError(f"the mines mask must be (y, x) or ({layer or 'time'}, y, x); it has dimensions "
                             f"{tuple(mines.dims)}.")
        for d in ("y", "x"):
            if mines.sizes[d] != c_storage.sizes[d] or (d in mines.coords and not np.allclose(
                    mines[d].values, c_storage[d].values)):
                raise ValueError(f"the mines mask and c_storage are not on the same grid along {d!r}; "
                                 f"reproject the mask onto c_storage's grid.")
        extra = [d for d in mines.dims if d not in ("y", "x")]
        if extra:
            if layer is None or extra[0] != layer or mines.sizes[layer] != c_storage.sizes[layer]:
                raise ValueError(f"a 3-D mines mask needs the same leading dimension as c_storage "
                                 f"({layer!r}, {c_storage.sizes.get(layer)} steps); it has {extra[0]!r} "
                                 f"with {mines.sizes[extra[0]]}.")
            arr = mines.transpose(layer, "y", "x")
        else:
            arr = mines.transpose("y", "x")
        # the mask becomes polygons when the graph is built (like zones): load it once
        values = np.asarray(arr.values, dtype=bool)
        if values.ndim == 2:
            return [_mask_polygons(values, c_storage, crs)]
        return [_mask_polygons(v, c_storage, crs) for v in values]
    if isinstance(mines, gpd.GeoSeries):
        mines = mines.to_frame("geometry")
    if not isinstance(mines, gpd.GeoDataFrame):
        raise TypeError(f"mines must be a GeoDataFrame of mine polygons or a boolean DataArray mask, "
                        f"got {type(mines).__name__}.")
    if len(mines) == 0:
        raise ValueError("mines is empty: contribution_ratio needs at least one mine polygon.")
    if mines.crs is None:
        raise ValueError("mines has no CRS; set it with mines.set_crs(...).")
    geoms = np.asarray(mines.to_crs(crs).geometry.values, dtype=object)
    if shapely.is_missing(geoms).any():
        raise ValueError("mines has rows without a geometry.")
    bad = ~np.isin(shapely.get_type_id(geoms), (3, 6))
    if bad.any():
        raise ValueError(f"mines must hold Polygon or MultiPolygon geometries; found "
                         f"{sorted({g.geom_type for g in geoms[bad]})}.")
    return [shapely.union_all(geoms)]


# ------------------------------------------------------------------ per mining landscape
def _zones(union, crs, width, n):
    """GeoDataFrame: row 0 the mining landscape, rows 1..n its distance bands (raster CRS)."""
    import geopandas as gpd

    from .zonal import distance_bands

    bands = distance_bands(gpd.GeoDataFrame(geometry=[union], crs=crs), width=width, n=n, dissolve=True)
    bands = bands.to_crs(crs)
    mine = gpd.GeoDataFrame({"band": [0], "inner_m": [0.0], "outer_m": [0.0]}, geometry=[union], crs=crs)
    return pd.concat([mine, bands], ignore_index=True).set_geometry("geometry").set_crs(crs, allow_override=True)


def _assemble(tables, meta):
    """Final table from the zonal tables (band 0 = mine) of each mining landscape."""
    rows = []
    for k, (tab, zones_area) in enumerate(tables):
        layer_values = meta["layer_values"][k]
        if tab is None:  # no mining pixel in this layer
            for lv in layer_values:
                for band in range(1, meta["n"] + 1):
                    rows.append({meta["layer"]: lv, "band": band, "inner_m": (band - 1) * meta["width"],
                                 "outer_m": band * meta["width"]})
            continue
        if meta["layer"] is None:
            tab = tab.assign(**{"__layer": 0})
            layer_col = "__layer"
        else:
            layer_col = meta["layer"]
        for lv, g in tab.groupby(layer_col, sort=False):
            g = g.sort_values("zone")
            c = g["sum"].to_numpy() * meta["pixel_ha"]
            s = g["count"].to_numpy() * meta["pixel_ha"]
            for band in range(1, meta["n"] + 1):
                rows.append({meta["layer"]: lv, "band": band, "inner_m": (band - 1) * meta["width"],
                             "outer_m": band * meta["width"], "C_mine": c[0], "S_mine": s[0],
                             "C_band": c[band], "S_band": s[band],
                             "C_within": c[:band + 1].sum(), "S_within": s[:band + 1].sum(),
                             "band_area_ha": zones_area[band]})
    df = pd.DataFrame(rows)
    if meta["layer"] is None:
        df = df.drop(columns=[None])
    for col in ("C_mine", "S_mine", "C_band", "S_band", "C_within", "S_within", "band_area_ha"):
        if col not in df:
            df[col] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        df["density_mine"] = df["C_mine"] / df["S_mine"].where(df["S_mine"] > 0)
        df["density_within"] = df["C_within"] / df["S_within"].where(df["S_within"] > 0)
        df["density_band"] = df["C_band"] / df["S_band"].where(df["S_band"] > 0)
        df["K_l"] = 100.0 * df["density_mine"] / df["density_within"].where(df["density_within"] != 0)
        df["K_band"] = 100.0 * df["density_mine"] / df["density_band"].where(df["density_band"] != 0)
        df["covered_fraction"] = df["S_band"] / df["band_area_ha"].where(df["band_area_ha"] > 0)
    df = df.reset_index(drop=True)
    df.attrs.update({"units": {k: v for k, v in UNITS.items() if k in df.columns},
                     "long_name": {k: v for k, v in LONG_NAMES.items() if k in df.columns},
                     "width_m": meta["width"], "n": meta["n"], "pixel_area_ha": meta["pixel_ha"],
                     "mines": meta["mines"], "coverage": meta["coverage"],
                     "convention": "S_within = S_mine + sum of band areas out to outer_m (mine included); "
                                   "areas count pixels with a carbon value (coverage-weighted)",
                     "source": "study 004 Eq. 12"})
    return df


def contribution_ratio(c_storage, mines, *, width=1000, n=5, pixel_area=None, coverage="fraction", compute=True):
    """Contribution ratio K_l per distance band around the mining landscape (study 004 Eq. 12).

    Parameters
    ----------
    c_storage : xarray.DataArray
        Carbon density in t/ha (e.g. ``invest_carbon(...)["c_storage"]``), (y, x) or with a
        leading time dimension, numpy or dask backed, on a projected grid with a CRS.  NaN is
        missing: it carries neither carbon nor area.
    mines : geopandas.GeoDataFrame or xarray.DataArray
        The mining landscape: mine polygons (their union is used, the same for every year), or a
        boolean mask on c_storage's grid, (y, x) or (time, y, x) for a mining landscape that
        changes every year (e.g. ``lulc.isin(mining_codes)``; its pixels become polygons, loaded
        once when the graph is built).
    width, n : float, int
        Band width in metres (default 1 km, as the study) and number of bands.
    pixel_area : float, optional
        m² per pixel (default ``|dx·dy|`` of the coordinates, in metres).
    coverage : {"fraction", "center"}
        Pixel weight in a band or mine polygon (``zonal_stats``; the exact fraction by default).
    compute : bool
        False returns a ``dask.delayed`` of the table (nothing computed for dask input).

    Returns
    -------
    pandas.DataFrame
        One row per (time ×) band: ``band`` (1..n), ``inner_m``, ``outer_m``, ``C_mine`` (t),
        ``S_mine`` (ha), ``C_band``, ``S_band``, ``C_within`` = C_mine + Σ_{l'<=l} C_l',
        ``S_within`` = S_mine + Σ_{l'<=l} S_l', densities (t/ha), ``K_l`` (%, Eq. 12),
        ``K_band`` (%, the mine over band l alone), ``band_area_ha`` (the band polygon's area)
        and ``covered_fraction``; units in ``attrs["units"]``.

    Examples
    --------
    >>> import numpy as np, xarray as xr, geopandas as gpd, shapely, rioxarray
    >>> xy = np.arange(50) * 100.0 + 50.0
    >>> c = xr.DataArray(np.full((50, 50), 40.0), dims=("y", "x"), coords={"y": xy[::-1], "x": xy},
    ...                  attrs={"units": "t ha-1"}).rio.write_crs("EPSG:32649")
    >>> c[20:30, 20:30] = 10.0  # the mine: 1 km x 1 km at 10 t/ha
    >>> mine = gpd.GeoDataFrame(geometry=[shapely.box(2000, 2000, 3000, 3000)], crs="EPSG:32649")
    >>> contribution_ratio(c, mine, width=1000, n=2)[["band", "S_within", "K_l"]].round(2)
       band  S_within    K_l
    0     1    813.65  27.54
    1     2   2154.62  25.90
    """
    import dask

    from .zonal import COVERAGES, _count, _positive, zonal_stats

    if coverage not in COVERAGES:
        raise ValueError(f"coverage must be one of {COVERAGES}, got {coverage!r}.")
    width = _positive(width, "width")
    n = _count(n, "n")
    c_storage, layer = _check_storage(c_storage)
    pixel_ha, crs, unit = _pixel_ha(c_storage, pixel_area)
    unions = _mines(mines, c_storage, layer, crs)
    layer_values = (np.asarray(c_storage[layer].values) if layer in c_storage.coords
                    else np.arange(c_storage.sizes[layer])) if layer else np.array([0])
    parts, groups = [], []
    for k, union in enumerate(unions):
        # one mining landscape for all layers (polygons, 2-D mask), or one per layer (3-D mask)
        da = c_storage if len(unions) == 1 else c_storage.isel({layer: k})
        lv = layer_values if len(unions) == 1 else layer_values[k:k + 1]
        groups.append(lv)
        if union is None or union.is_empty:
            warnings.warn(f"no mining pixel in {layer}={lv[0]!r}: its K_l rows are NaN.", RuntimeWarning,
                          stacklevel=2)
            parts.append((None, None))
            continue
        zones = _zones(union, crs, width, n)
        area = zones.geometry.area.to_numpy() * unit * unit / 1e4
        tab = zonal_stats(da, zones, stats=("sum", "count"), coverage=coverage, compute=False)
        if len(unions) > 1 and layer:
            tab = dask.delayed(_tag, pure=True)(tab, layer, lv[0])
        parts.append((tab, area))
    meta = {"layer": layer, "layer_values": groups, "n": n, "width": width, "pixel_ha": pixel_ha,
            "coverage": coverage, "mines": "mask" if isinstance(mines, xr.DataArray) else "polygons (union)"}
    result = dask.delayed(_assemble, pure=True)(parts, meta)
    return result.compute() if compute else result


def _tag(tab, layer, value):
    return tab.assign(**{layer: value})


__all__ = ["contribution_ratio"]
