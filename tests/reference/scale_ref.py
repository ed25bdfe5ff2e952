"""Plain numpy references for cubeeco.kernels.scale."""

from __future__ import annotations

import numpy as np


def downscale_pixel(npp_b, npp_bg, s, s_veg, vegetated):
    """Eq. 1 of seed 002 for one pixel."""
    if np.isnan(vegetated) or np.isnan(npp_b) or np.isnan(s):
        return np.nan
    if vegetated <= 0:
        return 0.0
    if s_veg == 0:
        return np.nan
    bg_term = npp_bg * (s - s_veg) if s != s_veg else 0.0
    return (npp_b * s - bg_term) / s_veg


def scale_transform(npp_b, vegetated, npp_bg, cells):
    """Eq. 1 cell by cell with np.unique: arrays (..., y, x), cells (y, x)."""
    npp_b = np.asarray(npp_b, dtype=np.float64)
    lead = npp_b.shape[:-2]
    veg = np.broadcast_to(np.asarray(vegetated, dtype=np.float64), npp_b.shape)
    bg = np.broadcast_to(np.asarray(npp_bg, dtype=np.float64), npp_b.shape)
    out = np.full(npp_b.shape, np.nan)
    for idx in np.ndindex(*lead):
        b2, v2, g2, o2 = npp_b[idx], veg[idx], bg[idx], out[idx]
        for c in np.unique(cells):
            if c < 0:
                continue
            in_cell = cells == c
            valid = in_cell & ~np.isnan(v2) & ~np.isnan(b2)
            s = valid.sum()
            vegd = valid & (v2 > 0)
            destroyed = valid & ~(v2 > 0)
            s_veg = vegd.sum()
            b_mean = b2[valid].mean() if s else np.nan
            bg_mean = g2[destroyed].mean() if destroyed.any() else 0.0
            for pos in zip(*np.nonzero(valid)):
                o2[pos] = downscale_pixel(b_mean, bg_mean, float(s), float(s_veg), v2[pos])
    return out


def disturbance_years(ndvi, years, threshold, persistence, fill=-1):
    """T_D and T_R of one series: scan the valid years for runs of `persistence`."""
    obs = [(y, v) for y, v in zip(years, ndvi) if not np.isnan(v)]
    bare = [v < threshold for _, v in obs]
    yrs = [y for y, _ in obs]
    td_i = None
    for i in range(len(obs)):
        if any(not b for b in bare[:i]) and all(bare[i:i + persistence]) and len(bare[i:i + persistence]) == persistence:
            td_i = i
            break
    if td_i is None:
        return fill, fill
    # the restoration search starts after the confirming bare run
    start = td_i + persistence
    while start < len(obs) and bare[start]:
        start += 1
    for j in range(start, len(obs)):
        run = bare[j:j + persistence]
        if len(run) == persistence and not any(run):
            return yrs[td_i], yrs[j]
    return yrs[td_i], fill
