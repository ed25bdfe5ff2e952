"""MOD17A3HGF annual NPP on its own sinusoidal 500 m grid (no resampling).

:func:`cubeeco.io.cube.open_npp` warps MODIS onto the analysis grid by nearest
neighbour.  The scale transformation of study 002 (seed 002, Eq. 1) works per native
500 m cell, so here the cells are kept exactly: :func:`open_npp_native` reads the window
of the global MODIS grid that covers the analysis grid, from the items' own
``proj:wkt2`` / ``proj:transform`` / ``proj:shape`` (rasterio windows; stackstac warps only
to EPSG-coded grids and the MODIS sinusoid has no EPSG code).  Tiles of a year are placed
side by side on the one global pixel grid they share; nothing is interpolated.

Decoding is :func:`~cubeeco.io.cube.open_npp`'s: DN x scale (``raster:bands``, 0.0001
kg C m-2 yr-1) x 1000 -> g C m-2 yr-1, and DN > 32700 (fill and class codes: water,
barren, urban, ...) -> NaN.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import dask
import dask.array as dsa
import numpy as np
import xarray as xr
from affine import Affine

from . import items as meta
from .cube import (
    MODIS_PRODUCTS,
    NPP_ASSET,
    NPP_FILL,
    NPP_SCALE,
    NPP_VALID_MAX,
    _as_dicts,
    _single_asset,
)
from .grid import Grid


@dataclass(frozen=True)
class NativeWindow:
    """A window of a native raster grid: CRS (WKT), north-up transform, (rows, cols)."""

    crs_wkt: str
    transform: tuple
    shape: tuple

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform)

    @property
    def x(self) -> np.ndarray:
        a, _, c = self.transform[:3]
        return c + (np.arange(self.shape[1]) + 0.5) * a

    @property
    def y(self) -> np.ndarray:
        _, _, _, _, e, f = self.transform[:6]
        return f + (np.arange(self.shape[0]) + 0.5) * e


def _year_of(d: dict) -> int:
    p = d["properties"]
    when = p.get("start_datetime") or p.get("datetime")
    if not when:
        raise ValueError(f"MODIS item {d['id']} has neither datetime nor start_datetime; its year is unknown.")
    return int(str(when)[:4])


def _native_footprints(dicts: list[dict]):
    fps = {}
    for d in dicts:
        fp = meta.footprint(d, NPP_ASSET)
        if fp is None or fp.transform is None or fp.shape is None:
            raise ValueError(f"MODIS item {d['id']} has no native grid (proj:transform, proj:shape and "
                             f"proj:wkt2 / proj:projjson); open_npp_native needs them (open_npp resamples "
                             f"instead).")
        t = fp.transform
        if t.b != 0 or t.d != 0 or t.e >= 0:
            raise ValueError(f"MODIS item {d['id']} has a rotated or south-up transform {tuple(t)[:6]}; only "
                             f"north-up native grids are supported.")
        fps[d["id"]] = fp
    return fps


def native_window(items, grid: Grid, *, pad: int = 1) -> NativeWindow:
    """The window of the items' (shared) MODIS pixel grid covering ``grid``, ``pad`` cells wider.

    The grid's bounds are transformed with densified edges; the pad catches the curvature
    the densification misses (a cell with no 30 m pixel in it is harmless downstream).
    """
    from rasterio.warp import transform_bounds

    dicts = _as_dicts(items)
    fps = _native_footprints(dicts)
    ref = next(iter(fps.values()))
    t0 = ref.transform
    for iid, fp in fps.items():
        if not fp.crs.equals(ref.crs):
            raise ValueError(f"MODIS items are in different CRSs ({ref.crs.name} vs {fp.crs.name} for {iid}).")
        t = fp.transform
        off = ((t.c - t0.c) / t0.a, (t.f - t0.f) / t0.e)
        if abs(t.a - t0.a) > 1e-9 * abs(t0.a) or abs(t.e - t0.e) > 1e-9 * abs(t0.e) or \
                any(abs(o - round(o)) > 1e-6 for o in off):
            raise ValueError(f"MODIS item {iid} is not on the pixel grid of the others (transform {tuple(t)[:6]} "
                             f"vs {tuple(t0)[:6]}); load such items separately.")
    minx, miny, maxx, maxy = transform_bounds(grid.crs, ref.crs, *grid.bounds, densify_pts=21)
    c0 = math.floor((minx - t0.c) / t0.a) - pad
    c1 = math.ceil((maxx - t0.c) / t0.a) + pad
    r0 = math.floor((maxy - t0.f) / t0.e) - pad
    r1 = math.ceil((miny - t0.f) / t0.e) + pad
    transform = (t0.a, 0.0, t0.c + c0 * t0.a, 0.0, t0.e, t0.f + r0 * t0.e)
    return NativeWindow(ref.crs.to_wkt(), transform, (r1 - r0, c1 - c0))


class _TileMismatch(ValueError):
    """A MODIS file whose transform is not its item's (raised as is, the href redacted)."""


def _read_year(entries, window: NativeWindow, scale: float, gdal_env, reader_kwargs) -> np.ndarray:
    """One year's float32 NPP (g C m-2 yr-1) on ``window``: the tiles' parts placed, fill -> NaN.

    The URL opened may be signed (a SAS token): any failure to open or read is re-raised
    as :class:`~cubeeco.io.remote.RemoteReadError` with the href redacted and the original
    exception dropped (its message and traceback would carry the signed URL).
    """
    import rasterio
    from rasterio.windows import Window

    from ..redact import redact
    from .remote import RemoteReadError, _redact_library_logs, _root_cause, signed_href

    _redact_library_logs()          # GDAL / rasterio log lines in this (worker) process too
    rows, cols = window.shape
    dn = np.full((rows, cols), NPP_FILL, dtype=np.int32)
    wt = window.affine
    env = gdal_env.open if gdal_env is not None else contextlib.nullcontext()
    for href, tile in entries:
        tt = Affine(*tile)
        # integer offsets of the tile's first pixel in the window (checked when the graph was built)
        col = round((tt.c - wt.c) / wt.a)
        row = round((tt.f - wt.f) / wt.e)
        try:
            with env, rasterio.open(signed_href(href, reader_kwargs)) as src:
                st = src.transform
                if abs(st.c - tt.c) > 1e-6 * abs(wt.a) or abs(st.f - tt.f) > 1e-6 * abs(wt.a):
                    raise _TileMismatch(redact(f"MODIS file {href} has transform {tuple(st)[:6]}, not its "
                                               f"item's {tuple(tt)[:6]}."))
                r0, c0 = max(0, -row), max(0, -col)              # first tile pixel inside the window
                r1, c1 = min(src.height, rows - row), min(src.width, cols - col)
                if r1 <= r0 or c1 <= c0:
                    continue
                part = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0)).astype(np.int32)
        except (_TileMismatch, RemoteReadError):
            raise
        except Exception as err:  # noqa: BLE001  (rasterio / GDAL / signing: all carry the URL)
            raise RemoteReadError(f"cannot read MODIS file {href} ({_root_cause(err)})") from None
        dst = dn[row + r0:row + r1, col + c0:col + c1]
        # the first tile with a valid value wins (tiles do not overlap in the MODIS grid)
        take = (dst > NPP_VALID_MAX) & (part <= NPP_VALID_MAX)
        dst[take] = part[take]
    out = np.where(dn <= NPP_VALID_MAX, dn.astype(np.float32) * np.float32(scale), np.float32(np.nan))
    return out.astype(np.float32)


def open_npp_native(items, *, grid: Grid, product: str = "terra", unreadable: str = "raise") -> xr.DataArray:
    """MOD17A3HGF annual NPP on its native sinusoidal cells over ``grid``: (time, y, x), lazy.

    ``y`` / ``x`` are the cell centres in the items' CRS (written as the grid mapping and in
    ``attrs["crs"]``, the window's exact affine in ``attrs["transform"]``); one dask chunk
    per year (a coal base is a few hundred cells across).  float32 g C m-2 yr-1, NaN for
    fill / class codes and outside every tile.  ``product`` as in
    :func:`cubeeco.io.cube.open_npp`; ``unreadable="skip"`` leaves out items whose file
    cannot be opened (checked now), ``"raise"`` fails in the read task with a
    :class:`~cubeeco.io.remote.RemoteReadError` naming the href (credentials redacted).
    """
    import rioxarray  # noqa: F401  (registers .rio)

    from .cube import _check_unreadable
    from .remote import prepare_assets, signed_href

    if product not in MODIS_PRODUCTS:
        raise ValueError(f"product must be one of {sorted(MODIS_PRODUCTS)} (Terra MOD / Aqua MYD), got {product!r}.")
    _check_unreadable(unreadable)
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a cubeeco Grid, got {type(grid).__name__}.")
    dicts = _as_dicts(items)
    prefix = MODIS_PRODUCTS[product]
    chosen = [d for d in dicts if str(d["id"]).upper().startswith(prefix)]
    if not chosen:
        seen = sorted({str(d["id"])[:3] for d in dicts})
        raise ValueError(f"no {product} items (id prefix {prefix}) among the {len(dicts)} MODIS item(s) "
                         f"(id prefixes {seen}); choose product= accordingly.")
    chosen, _missing = _single_asset(chosen, NPP_ASSET, "MODIS")
    window = native_window(chosen, grid)
    fps = _native_footprints(chosen)
    info = {d["id"]: meta.band_info(d, NPP_ASSET, meta.BandInfo(scale=NPP_SCALE, dtype="int16")) for d in chosen}
    scales = {v.scale for v in info.values()}
    if len(scales) != 1:
        raise ValueError(f"MODIS items carry different Npp_500m scales {sorted(scales)}; load them separately.")
    scale = scales.pop() * 1000.0          # kg C m-2 -> g C m-2

    ready, kwargs = prepare_assets(chosen)
    skipped = []
    if unreadable == "skip":
        bad = meta.unreadable_assets(ready, [NPP_ASSET], kwargs.get("gdal_env"),
                                     sign=lambda href: signed_href(href, kwargs))
        for iid, problems in bad.items():
            meta.warn(f"MODIS item {iid} skipped: unreadable {problems[0][1]} ({problems[0][2]})")
            skipped.append(iid)
        ready = [d for d in ready if d["id"] not in bad]
    # only tiles that reach the window are read
    wb = (window.transform[2], window.transform[5] + window.shape[0] * window.transform[4],
          window.transform[2] + window.shape[1] * window.transform[0], window.transform[5])
    by_year: dict[int, list] = {}
    for d in ready:
        fp = fps[d["id"]]
        b = fp.bounds
        if b[0] >= wb[2] or b[2] <= wb[0] or b[1] >= wb[3] or b[3] <= wb[1]:
            continue
        by_year.setdefault(_year_of(d), []).append((d["assets"][NPP_ASSET]["href"], tuple(fp.transform)[:6]))
    if not by_year:
        raise ValueError(f"no {product} MODIS item reaches the grid (EPSG:{grid.epsg}, bounds {list(grid.bounds)})"
                         + (f"; unreadable: {skipped}" if skipped else "") + ".")
    years = sorted(by_year)
    reader_kwargs = {k: v for k, v in kwargs.items() if k == "reader"}
    layers = [dsa.from_delayed(dask.delayed(_read_year, pure=True)(sorted(by_year[y]), window, scale,
                                                                   kwargs.get("gdal_env"), reader_kwargs),
                               shape=window.shape, dtype=np.float32) for y in years]
    data = dsa.stack(layers)
    time = np.array([np.datetime64(f"{y}-01-01", "ns") for y in years])
    npp = xr.DataArray(data, dims=("time", "y", "x"), coords={"time": time, "y": window.y, "x": window.x},
                       name="npp")
    npp = npp.rio.write_crs(window.crs_wkt)
    npp.attrs = {"units": "g C m-2 yr-1", "long_name": "MODIS annual net primary production (native 500 m cells)",
                 "source_scale": "0.0001 kg C m-2 yr-1", "modis_product": f"{prefix}17A3HGF ({product})",
                 "crs": window.crs_wkt, "transform": list(window.transform), "resampling": "none (native grid)",
                 "provenance:skipped_items": ",".join(skipped)}
    return npp


def native_window_of(da: xr.DataArray) -> NativeWindow:
    """The :class:`NativeWindow` of a DataArray from :func:`open_npp_native` (or any north-up
    array with regular ``y`` / ``x`` cell-centre coordinates and a CRS)."""
    from ..ops.krige import crs_of

    crs = crs_of(da)
    if crs is None:
        raise ValueError("the native NPP array has no CRS (grid mapping or attrs['crs']); write one with "
                         ".rio.write_crs(...).")
    rows, cols = da.sizes["y"], da.sizes["x"]
    if "transform" in da.attrs:
        t = tuple(float(v) for v in list(da.attrs["transform"])[:6])
    else:
        x, y = np.asarray(da["x"].values, np.float64), np.asarray(da["y"].values, np.float64)
        if x.size < 2 or y.size < 2:
            raise ValueError("the native NPP array needs attrs['transform'] when it is one cell wide or high.")
        a, e = (x[-1] - x[0]) / (x.size - 1), (y[-1] - y[0]) / (y.size - 1)
        if not (np.allclose(np.diff(x), a, rtol=1e-9, atol=0) and np.allclose(np.diff(y), e, rtol=1e-9, atol=0)):
            raise ValueError("the native NPP array's x / y coordinates are not regularly spaced.")
        if e >= 0 or a <= 0:
            raise ValueError("the native NPP array must be north-up: x increasing, y decreasing.")
        t = (a, 0.0, x[0] - a / 2, 0.0, e, y[0] - e / 2)
    return NativeWindow(crs.to_wkt(), t, (rows, cols))
