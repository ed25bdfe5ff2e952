"""The synthetic MOD17 cell value is the area mean over the cell's exact ground footprint
(cubeeco.synth.products.modis_footprint / to_modis), checked against shapely polygon areas."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import box

from cubeeco.io.grid import Grid
from cubeeco.synth.products import MODIS_SINU, modis_footprint, modis_grid, to_modis

# Shendong-like: UTM 49N near 110 deg E, 39 deg N, where the sinusoidal cells are strongly sheared
GRID = Grid(32649, 30.0, (600_000.0, 4_300_000.0, 600_000.0 + 30 * 90, 4_300_000.0 + 30 * 70))


def _cell_polygons(grid):
    """Each MODIS cell of the window as a ground polygon (densified edges) clipped to the grid."""
    transform, shape, _ = modis_grid(grid)
    to_utm = Transformer.from_crs(MODIS_SINU, grid.crs, always_xy=True)
    extent = box(*grid.bounds)
    polys = {}
    for r in range(shape[0]):
        for c in range(shape[1]):
            x0, y0 = transform.c + c * transform.a, transform.f + r * transform.e
            cell = shapely.segmentize(box(x0, y0 + transform.e, x0 + transform.a, y0), 5.0)
            ground = shapely.transform(cell, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
            part = ground.intersection(extent)
            if part.area > 0:
                polys[(r, c)] = part
    return transform, shape, polys


def test_footprint_shares_each_pixel_once():
    transform, shape, _ = modis_grid(GRID)
    share = modis_footprint(GRID, transform, shape)
    assert share.shape == (shape[0] * shape[1], GRID.shape[0] * GRID.shape[1])
    np.testing.assert_allclose(np.asarray(share.sum(axis=0)).ravel(), 1.0, atol=1e-6)


@pytest.mark.parametrize("edge", [(31, None), (None, 23), (57, 41)])
def test_cell_value_is_the_area_share_of_a_pixel_aligned_region(edge):
    """A region of whole pixels (cols < c0, rows >= r0): its mean over a cell is the share of the
    cell's (clipped) ground polygon inside the region's rectangle, to the sub-point resolution."""
    col0, row0 = edge
    ny, nx = GRID.shape
    rows, cols = np.mgrid[0:ny, 0:nx]
    inside = np.ones(GRID.shape, bool)
    minx, miny, maxx, maxy = GRID.bounds
    rect = [minx, miny, maxx, maxy]
    if col0 is not None:
        inside &= cols < col0
        rect[2] = minx + 30 * col0
    if row0 is not None:
        inside &= rows >= row0
        rect[3] = maxy - 30 * row0
    got = to_modis(SimpleNamespace(grid=GRID), inside.astype(np.float32), *modis_grid(GRID)[:2])
    _, _, polys = _cell_polygons(GRID)
    errors = []
    for (r, c), poly in polys.items():
        if poly.area < 4 * 900:     # slivers of a few pixels: sub-point quantisation dominates
            continue
        errors.append(got[r, c] - poly.intersection(box(*rect)).area / poly.area)
    errors = np.abs(errors)
    assert len(errors) > 20
    assert errors.max() < 0.02 and errors.mean() < 2e-3


def test_cell_value_of_a_ramp_is_its_footprint_centroid():
    """The mean of the easting over a cell is the easting of the cell's ground centroid: the
    footprint is the sheared parallelogram, not a strip (rasterio's average warp gave < 1/4 width)."""
    ny, nx = GRID.shape
    xs = np.broadcast_to(GRID.x.astype(np.float64), (ny, nx)) - GRID.bounds[0]
    x2 = xs ** 2
    land = SimpleNamespace(grid=GRID)
    transform, shape, polys = _cell_polygons(GRID)
    mean_x = to_modis(land, xs.astype(np.float32), transform, shape)
    mean_x2 = to_modis(land, x2.astype(np.float32), transform, shape)
    checked = 0
    for (r, c), poly in polys.items():
        cell_area = abs(transform.a * transform.e) * 0.9   # ground area ~ sinusoidal area here
        if poly.area < cell_area:                          # whole cells only
            continue
        checked += 1
        assert mean_x[r, c] == pytest.approx(poly.centroid.x - GRID.bounds[0], abs=3.0)  # pixel-centre values
        # spread across the cell: a parallelogram 463 m wide leaning ~50 deg is wider than 463/sqrt(12)
        spread = np.sqrt(mean_x2[r, c] - float(mean_x[r, c]) ** 2)
        assert spread > 463.3 / np.sqrt(12)
    assert checked >= 2


def test_nan_pixels_are_left_out_of_the_mean():
    ny, nx = GRID.shape
    v = np.full(GRID.shape, 100.0, np.float32)
    v[:, : nx // 2] = np.nan
    got = to_modis(SimpleNamespace(grid=GRID), v, *modis_grid(GRID)[:2])
    finite = np.isfinite(got)
    assert finite.any() and (~finite).any()
    np.testing.assert_allclose(got[finite], 100.0, rtol=1e-6)


def test_the_base_keeps_its_mod17_before_the_retrieval_noise(tmp_path):
    """truth/mod17_noise_free.zarr holds the Terra NPP the items carry, before their 4 % noise
    and DN rounding: the items / noise-free ratio has mean 1 and spread 0.04; fills match."""
    import rasterio
    import xarray as xr

    from cubeeco.synth import SynthConfig, synthesize

    cfg = SynthConfig(width_px=120, height_px=100, years=(2012, 2014), n_mines=1, n_stations=1,
                      scenes_per_season=1, cloudy_scenes_per_year=0)
    base = synthesize(cfg, tmp_path / "base", progress=False)
    clean = xr.open_zarr(base.root / "truth" / "mod17_noise_free.zarr")["npp"]
    assert clean.attrs["units"] == "g C m-2 yr-1" and list(clean.time.dt.year.values) == [2012, 2013, 2014]
    ratios = []
    for k, year in enumerate((2012, 2013, 2014)):
        with rasterio.open(next((base.root / "modis").glob(f"MOD17A3HGF.A{year}*.Npp_500m.tif"))) as src:
            dn = src.read(1)
        np.testing.assert_allclose(clean.x.values[0] - src.transform.c, src.transform.a / 2, atol=1e-6)
        npp = np.where(dn > 32700, np.nan, dn * 0.1)     # int16 x 0.0001 kg C m-2 -> g C m-2
        v = clean.isel(time=k).values
        np.testing.assert_array_equal(np.isnan(npp), np.isnan(v))
        ok = np.isfinite(v) & (v > 50)
        ratios.append(npp[ok] / v[ok])
    r = np.concatenate(ratios)
    assert r.size > 20
    assert abs(r.mean() - 1) < 0.02 and 0.025 < r.std() < 0.055
