"""QA_PIXEL masking and scale/offset for Landsat Collection 2 Level-2."""

from __future__ import annotations

import numpy as np
import xarray as xr

SR_SCALE, SR_OFFSET = np.float32(2.75e-05), np.float32(-0.2)
ST_SCALE, ST_OFFSET = np.float32(0.00341802), np.float32(149.0)
SR_VALID = (1, 65455)

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


def reflectance(dn: xr.DataArray) -> xr.DataArray:
    """Surface reflectance from uint16 DN: DN x 2.75e-5 - 0.2, NaN outside 1..65455."""
    valid = (dn >= SR_VALID[0]) & (dn <= SR_VALID[1])
    return xr.where(valid, dn.astype(np.float32) * SR_SCALE + SR_OFFSET, np.float32(np.nan))


def surface_temperature(dn: xr.DataArray) -> xr.DataArray:
    """Surface temperature in kelvin from uint16 DN: DN x 0.00341802 + 149, NaN where 0."""
    return xr.where(dn > 0, dn.astype(np.float32) * ST_SCALE + ST_OFFSET, np.float32(np.nan))
