"""QA_PIXEL masking and scale/offset for Landsat Collection 2 Level-2."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .items import BandInfo

SR_SCALE, SR_OFFSET = np.float32(2.75e-05), np.float32(-0.2)
ST_SCALE, ST_OFFSET = np.float32(0.00341802), np.float32(149.0)
SR_VALID = (1, 65455)
# the Collection 2 constants (DATA.md), used where an asset has no raster:bands
SR_BAND = BandInfo(scale=float(SR_SCALE), offset=float(SR_OFFSET), nodata=0, dtype="uint16")
ST_BAND = BandInfo(scale=float(ST_SCALE), offset=float(ST_OFFSET), nodata=0, dtype="uint16")
QA_BAND = BandInfo(nodata=1, dtype="uint16")

QA_BITS = {"fill": 0, "dilated_cloud": 1, "cirrus": 2, "cloud": 3, "cloud_shadow": 4, "snow": 5,
           "clear": 6, "water": 7}
# the usual clear-pixel mask: bits 0-5 all zero (DATA.md); water (bit 7) is kept
DEFAULT_MASK = ("fill", "dilated_cloud", "cirrus", "cloud", "cloud_shadow", "snow")


def qa_mask_value(flags=DEFAULT_MASK) -> int:
    """The bit mask for QA_PIXEL flags that make a pixel unusable."""
    unknown = [f for f in flags if f not in QA_BITS]
    if unknown:
        raise ValueError(f"unknown QA_PIXEL flag(s) {unknown}; known: {sorted(QA_BITS)}.")
    return sum(1 << QA_BITS[f] for f in flags)


def clear_mask(qa: xr.DataArray, flags=DEFAULT_MASK) -> xr.DataArray:
    """True where QA_PIXEL marks a usable observation (0 is stackstac's fill: unusable)."""
    return ((qa & qa_mask_value(flags)) == 0) & (qa != 0)


def _f32(v):
    return v.astype(np.float32) if isinstance(v, xr.DataArray) else np.float32(v)


def _valid(dn: xr.DataArray, nodata, fill, valid=None):
    """Where ``dn`` is data: not ``nodata`` (None: no such value), not stackstac's ``fill``
    (NaN for float stacks), and ``valid`` (a condition already computed) -- each test only
    when it can exclude something, since each is a task per chunk."""
    tests = [valid] if valid is not None else []
    if nodata is not None and not (np.isscalar(nodata) and np.isnan(nodata)):
        tests.append(dn != nodata)
    if dn.dtype.kind == "f":
        tests.append(dn.notnull())
    elif fill is not None and not (np.isscalar(fill) and np.isnan(fill)):
        tests.append(dn != fill)
    ok = tests[0]
    for t in tests[1:]:
        ok = ok & t
    return ok


def reflectance(dn: xr.DataArray, *, scale=SR_SCALE, offset=SR_OFFSET, nodata=None, fill=0) -> xr.DataArray:
    """Surface reflectance from uint16 DN: DN x scale + offset (2.75e-5, -0.2 unless the
    item's ``raster:bands`` say otherwise), NaN at ``nodata``, stackstac's ``fill`` and
    outside the valid DN range 1..65455. Scale, offset and nodata may be per-scene arrays."""
    in_range = (dn >= SR_VALID[0]) & (dn <= SR_VALID[1])     # excludes fill 0 already
    valid = _valid(dn, nodata, None if fill == 0 else fill, in_range)
    return xr.where(valid, dn.astype(np.float32) * _f32(scale) + _f32(offset),
                    np.float32(np.nan)).astype(np.float32)


def surface_temperature(dn: xr.DataArray, *, scale=ST_SCALE, offset=ST_OFFSET, nodata=None,
                        fill=0) -> xr.DataArray:
    """Surface temperature in kelvin from uint16 DN: DN x scale + offset (0.00341802, 149
    unless ``raster:bands`` say otherwise), NaN at ``nodata``, 0 and stackstac's ``fill``."""
    valid = _valid(dn, nodata, None if fill == 0 else fill, dn > 0)
    return xr.where(valid, dn.astype(np.float32) * _f32(scale) + _f32(offset),
                    np.float32(np.nan)).astype(np.float32)
