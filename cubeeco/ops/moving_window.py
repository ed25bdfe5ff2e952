"""Moving-window landscape metric maps (FRAGSTATS' moving window; seed 004 §2.2.4, SCIENCE.md §9).

Each pixel gets the landscape-level metric of its window: the pixels within ``radius``
metres of it (``shape="circle"``: centre distance; ``"square"``: |dy|, |dx| <= radius),
clipped at the raster's edges.  The window is its own landscape: the raster clipped to
the window, so a patch that leaves the window and comes back counts twice (FRAGSTATS'
and landscapemetrics' definition).  NaN where the centre pixel is nodata.

Chunk by chunk with a halo of R pixels (``dask.array.overlap``, no padding at the
raster's edges), so one chunk and many give identical maps.  The numba kernel
(:func:`cubeeco.kernels.landscape.window_metrics`) slides the window along each row and
updates class counts and adjacency counts incrementally (LSI and AI come from those too).
NP / PD / LPI / COHESION: square windows use the exact O(R)-per-pixel separator algorithm of
:mod:`cubeeco.kernels.window_patches`; circles label each window's patches (cost: the
window's area per pixel).  Definitions: docs/landscape-metrics.md.
"""

from __future__ import annotations

import math

import dask.array as dsa
import numpy as np
import xarray as xr

from ..kernels import landscape as K
from ..kernels.eg import window_half_widths
from .landscape import (
    LONG_NAMES,
    UNITS,
    _cell_size,
    _codes,
    _grid,
    _neighbours,
    _nodata_value,
    local_classes,
)

WINDOW_METRICS = K.WINDOW_METRICS


def _metrics(metrics):
    if isinstance(metrics, str):
        metrics = [metrics]
    if metrics is None or len(metrics) == 0:
        raise ValueError(f"metrics must name at least one of {list(WINDOW_METRICS)}.")
    out = [str(x).upper() for x in metrics]
    bad = [x for x in out if x not in WINDOW_METRICS]
    if bad:
        raise ValueError(f"unknown moving-window metric(s) {bad}; choose from {list(WINDOW_METRICS)}.")
    return list(dict.fromkeys(out))


def _block(block, nodata, half, names, cell_size, eight, relabel=False):
    uniq, cls = local_classes(_codes(block, nodata))
    return K.window_metrics(cls, uniq.size, half, names, cell_size, eight, relabel=relabel)


def _trimmed(block, *, nodata, half, names, cell_size, eight, relabel, ry, rx, block_info=None):
    # boundary="none" pads nothing at the raster's edges: trim the halo only where it exists
    loc = block_info[0]["chunk-location"]
    nb = block_info[0]["num-chunks"]
    out = _block(block, nodata, half, names, cell_size, eight, relabel)
    n, m = block.shape
    top = ry if loc[0] > 0 else 0
    bottom = n - (ry if loc[0] < nb[0] - 1 else 0)
    left = rx if loc[1] > 0 else 0
    right = m - (rx if loc[1] < nb[1] - 1 else 0)
    return out[:, top:bottom, left:right]


def _trimmed_chunks(g, ry, rx):
    """Chunks of the trimmed result: the overlapped chunks minus the halo they got."""
    out = []
    for ax, r in ((0, ry), (1, rx)):
        c = list(g.chunks[ax])
        if len(c) > 1:
            c = [x - (r if k > 0 else 0) - (r if k < len(c) - 1 else 0) for k, x in enumerate(c)]
        out.append(tuple(c))
    return tuple(out)


def moving_window(lulc, metrics=("SHDI", "ED", "NP"), radius=None, *, shape="square", cell_size=None,
                  neighbours=8, nodata=None, _relabel=False):
    """Landscape metrics in a window around every pixel, as a lazy Dataset of maps.

    Parameters
    ----------
    lulc : xarray.DataArray
        2-D (y, x) class codes, numpy or dask backed (any chunking).
    metrics : sequence of str
        Any of ``WINDOW_METRICS``: NP, PD (per 100 ha), LPI (%), ED (m/ha), TE (m), SHDI,
        SHEI, SIDI, PR, CONTAG (%), PLADJ (%), LSI, AI (%), COHESION (%); FRAGSTATS
        landscape-level definitions of the window-clipped raster (TE / ED / PLADJ: edges
        between two classes only; LSI and COHESION's perimeters include the window's
        boundary and nodata, as ``landscape_metrics``).
    radius : float
        Window radius in metres (R = floor(radius / cell size) pixels).
    shape : {"square", "circle"}
    cell_size : float, optional
        Cell side in metres (default: the coordinates' step; square cells only).
    neighbours : {8, 4}
        Patch rule for NP, PD and LPI.
    nodata : number, optional
        Code of missing cells (default ``lulc.attrs["nodata"]`` / ``_FillValue``; NaN always).
    _relabel : bool
        Private (benchmarks, tests): label every window's patches even for square windows
        (the O(R²) path); the maps are identical.

    Returns
    -------
    xarray.Dataset
        One float64 map per metric, lazy for dask input, with units and the window in attrs.
    """
    _grid(lulc)
    names = _metrics(metrics)
    if shape not in ("square", "circle"):
        raise ValueError(f"shape must be 'square' or 'circle', got {shape!r}.")
    if radius is None:
        raise TypeError("radius is required: the window radius in metres.")
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        raise TypeError(f"radius must be a number of metres, got {type(radius).__name__}.") from None
    if not math.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a finite distance >= 0 in metres, got {radius}.")
    eight = _neighbours(neighbours)
    cs = _cell_size(lulc, cell_size)
    nd = _nodata_value(lulc, nodata)
    half = window_half_widths(radius, cs, cs, shape)
    ry, rx = (half.size - 1) // 2, int(half.max())
    data = lulc.data
    kw = {"nodata": nd, "half": half, "names": names, "cell_size": cs, "eight": eight, "relabel": bool(_relabel)}
    if isinstance(data, dsa.Array):
        # dask's overlap merges a chunk thinner than the halo with its neighbour itself
        # (ensure_minimum_chunksize); map_blocks then sees the chunks overlap chose;
        # a halo wider than the raster is the whole raster
        dy, dx = min(ry, max(data.shape[0] - 1, 0)), min(rx, max(data.shape[1] - 1, 0))
        g = data if data.numblocks == (1, 1) else dsa.overlap.overlap(data, depth={0: dy, 1: dx}, boundary="none")
        out = g.map_blocks(_trimmed, **kw, ry=dy, rx=dx, new_axis=0, chunks=((len(names),),) + _trimmed_chunks(g, dy, dx),
                           dtype=np.float64, meta=np.empty((0, 0, 0), np.float64))
    else:
        out = _block(np.asarray(data), **kw)
    window_attrs = {"radius_m": radius, "window": shape, "window_pixels": int((2 * half + 1).sum()),
                    "neighbours": 8 if eight else 4, "cell_size_m": cs,
                    "source": "FRAGSTATS moving window, window-clipped landscape; seed 004 §2.2.4"}
    coords = {k: v for k, v in lulc.coords.items() if set(v.dims) <= set(lulc.dims)}
    ds = xr.Dataset()
    for q, name in enumerate(names):
        ds[name] = xr.DataArray(out[q], dims=lulc.dims, coords=coords,
                                attrs={"units": UNITS[name], "long_name": f"{LONG_NAMES[name]} in a {shape} window "
                                       f"of {radius:g} m", **window_attrs})
    ds.attrs = window_attrs
    return ds


__all__ = ["WINDOW_METRICS", "moving_window"]
