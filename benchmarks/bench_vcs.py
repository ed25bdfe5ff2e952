"""The VCS accounting chain (study 002) and CASA (study 001) on a Shendong-sized grid.

    python benchmarks/bench_vcs.py --out /tmp/vcs                 # 4521 x 4521 px, 22 years, 133 mines
    python benchmarks/bench_vcs.py --out /tmp/vcs --scale 0.25    # 1130 x 1130 px (a quarter of the side)
    python benchmarks/bench_vcs.py --out /tmp/v --smoke           # 256 px, 6 years, seconds

Inputs (made once with numpy/dask, no Landsat scenes, reused): on a UTM 30 m grid, the annual
max NDVI cube (smooth field + noise, 3 % NaN, mine rectangles bare from their destruction year,
half of them vegetated again from a restoration year), a native MODIS NPP cube on the
sinusoidal 463.3 m cells covering the grid (as :func:`cubeeco.io.modis.open_npp_native` returns
it; wholly destroyed cells have a low NPP: the NPP_bg samples), and for CASA one year of monthly
NDVI, temperature, precipitation, solar radiation and a land-cover raster; all float32 in Zarr
with 512-px chunks (the time / month axis whole).  Mines keep their size on every grid (1-3 km);
their number scales with the area (133 on the full grid).

Each part runs in its own subprocess (dask threads x ``--cores``; peak memory = its VmHWM) and
writes what the pipeline's stage would store, so the next part reads it from Zarr:

A. VCS accounting chain
  1. ``disturbance``: vegetation_disturbance(max NDVI) -> Zarr;
  2. ``scale_reduce``: the reduce -- scale_reduce(native NPP, vegetated_mask(state)) (cell table
     and NPP_bg kriged per year at the 500 m cell centres); with the older API
     modis_cell_stats (and NPP_bg kriged per 30 m pixel in the next part);
  3. ``scale_vcs``: scale_transform(..., reduced= / stats=) + vcs() -> Zarr;
  4. ``accounting``: zone_labels(mines) + vcs_accounting(..., state=) -> per-mine table;
  5. ``vcsd_se``: vcs_changes + vcsd_standard_error -> VCSD standard error per mine;
  floor ``floor_a``: one np.nanmean over the NDVI cube (dask): reads every value once.
B. CASA, one year
  6. ``casa_params``: casa_parameters (exact per-class percentiles) -- the reduce;
  7. ``casa_npp``: casa_npp (12 months) + annual_npp -> Zarr;
  floor ``floor_b``: one np.nanmean over the 4 monthly input stacks.

JIT compile: each child first runs its part on a 64-px copy of the inputs (timed apart, not
included).  ``--smoke`` runs each chain in one process (the two side by side) to keep the JIT
cost down: its numbers only show that everything runs.  Results: a table on stdout and ``bench_vcs_<side>.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _subprocess import run_child  # noqa: E402

SIDE = 4521
RES = 30.0
EPSG = 32649                      # UTM 49N: Shendong (~110 E, 39 N)
X0, Y0 = 380_000.0, 4_330_000.0   # lower-left corner
N_MINES = 133
CHUNK = 512
GAPS = 0.03
CASA_YEAR_OFFSET = -1             # CASA models the last year
LATITUDE = 39.2
PARTS_A = ("floor_a", "disturbance", "scale_reduce", "scale_vcs", "accounting", "vcsd_se")
PARTS_B = ("floor_b", "casa_params", "casa_npp")
PARTS = PARTS_A + PARTS_B


# ------------------------------------------------------------------ inputs
def _mines(side: int, seed: int = 1):
    """(n, 6) int array of rows r0, r1, cols c0, c1, destruction year index, restoration index (-1)."""
    n = max(4, int(round(N_MINES * (side / SIDE) ** 2)))
    k = int(np.ceil(np.sqrt(n)))
    cell = side // k
    rng = np.random.default_rng(seed)
    hi = max(8, min(100, int(cell * 0.8)))
    lo = min(33, hi - 4)
    out = []
    for i in range(n):
        r, c = divmod(i, k)
        h, w = rng.integers(lo, hi + 1, size=2)
        r0 = r * cell + int(rng.integers(0, cell - h + 1))
        c0 = c * cell + int(rng.integers(0, cell - w + 1))
        out.append([r0, r0 + h, c0, c0 + w])
    return np.asarray(out, np.int64)


def _events(n_mines: int, n_years: int, seed: int = 2):
    rng = np.random.default_rng(seed)
    td = rng.integers(min(2, n_years - 3), max(min(2, n_years - 3) + 1, n_years - 3), size=n_mines)
    tr = td + rng.integers(3, 8, size=n_mines)
    restored = (rng.random(n_mines) < 0.5) & (tr <= n_years - 2)
    return td, np.where(restored, tr, -1)


def _base(yy, xx):
    """Smooth vegetation field in [0.15, 0.65] on absolute metres (independent of the grid size)."""
    u, v = (xx - X0) / 40_000.0, (yy - Y0) / 30_000.0
    f = 0.42 + 0.16 * np.sin(2 * np.pi * u) * np.cos(2 * np.pi * v) + 0.07 * np.cos(5.3 * u + 3.1 * v)
    return f.astype(np.float32)


def _coords(side):
    ys = Y0 + side * RES - RES * (np.arange(side) + 0.5)
    xs = X0 + RES * (np.arange(side) + 0.5)
    return ys, xs


def _mine_mask(mines, sl_y, sl_x):
    """Per-pixel mine index (-1 none) of a block."""
    m = np.full((sl_y.stop - sl_y.start, sl_x.stop - sl_x.start), -1, np.int32)
    for i, (r0, r1, c0, c1) in enumerate(mines):
        a, b = max(r0, sl_y.start), min(r1, sl_y.stop)
        c, d = max(c0, sl_x.start), min(c1, sl_x.stop)
        if a < b and c < d:
            m[a - sl_y.start:b - sl_y.start, c - sl_x.start:d - sl_x.start] = i
    return m


def _block_rng(kind: int, iy: int, ix: int):
    return np.random.default_rng([kind, iy, ix])


def _ndvi_block(block_info=None, *, ys, xs, mines, td, tr, n_years):
    loc = block_info[None]["array-location"]
    sl_y, sl_x = slice(*loc[1]), slice(*loc[2])
    iy, ix = block_info[None]["chunk-location"][1:]
    rng = _block_rng(0, iy, ix)
    base = _base(ys[sl_y][:, None], xs[sl_x][None, :])
    base = np.where(base < 0.24, np.float32(0.12), base)     # never-vegetated sand
    t = np.arange(n_years, dtype=np.float32)[:, None, None]
    out = base[None] + 0.004 * t + rng.normal(0, 0.03, (n_years, *base.shape)).astype(np.float32)
    mine = _mine_mask(mines, sl_y, sl_x)
    if (mine >= 0).any():
        d = np.where(mine >= 0, td[np.maximum(mine, 0)], 10_000)[None]
        r = np.where(mine >= 0, tr[np.maximum(mine, 0)], -1)[None]
        r = np.where(r < 0, 10_000, r)
        bare = (t >= d) & (t < r)
        out = np.where(bare, np.float32(0.06) + 0.2 * (out - base[None]), out)
        out = np.where(t >= r, np.float32(0.33) + (out - base[None]), out)
    out[rng.random(out.shape) < GAPS] = np.nan
    return out.astype(np.float32)


def _season(m):
    return np.exp(-(((m - 7.3) / 2.3) ** 2)).astype(np.float32)


def _land_cover(base, mine):
    lc = np.select([base > 0.56, base > 0.48, base > 0.36, base > 0.26], [2, 1, 4, 3], 7).astype(np.int16)
    lc[(base > 0.40) & (base < 0.405)] = 5          # a few water lines
    lc[(base > 0.30) & (base < 0.303)] = 8          # and built-up strips
    lc[mine >= 0] = 7
    return lc


def _casa_block(block_info=None, *, ys, xs, mines, var):
    loc = block_info[None]["array-location"]
    sl_y, sl_x = slice(*loc[1]), slice(*loc[2])
    iy, ix = block_info[None]["chunk-location"][1:]
    rng = _block_rng(1 + var, iy, ix)
    base = _base(ys[sl_y][:, None], xs[sl_x][None, :])
    m = np.arange(1, 13, dtype=np.float32)[:, None, None]
    shape = (12, *base.shape)
    if var == 0:    # NDVI
        mine = _mine_mask(mines, sl_y, sl_x)
        b = np.where(mine >= 0, np.float32(0.08), base)[None]
        out = 0.08 + (b - 0.05) * _season(m) + rng.normal(0, 0.02, shape).astype(np.float32)
        out[rng.random(shape) < 0.02] = np.nan
    elif var == 1:  # temperature, degC
        out = 8.0 - 16.0 * np.cos(2 * np.pi * (m - 0.5) / 12) + 2.0 * (base[None] - 0.4) + \
            rng.normal(0, 0.1, shape).astype(np.float32)
    elif var == 2:  # precipitation, mm month-1
        out = 4.0 + 110.0 * _season(m) * (0.8 + base[None]) + rng.gamma(2.0, 1.0, shape).astype(np.float32)
    else:           # solar, MJ m-2 month-1
        out = 260.0 + 380.0 * np.sin(np.pi * (m - 0.5) / 12) + rng.normal(0, 5.0, shape).astype(np.float32)
    return np.broadcast_to(out, shape).astype(np.float32)


def _native_npp(side, years, mines, td, tr):
    """The MODIS-like native NPP DataArray over the grid (as open_npp_native returns it)."""
    import rioxarray  # noqa: F401
    import xarray as xr
    from pyproj import Transformer

    from cubeeco.io.grid import Grid
    from cubeeco.synth.products import MODIS_SINU, modis_grid

    grid = Grid(EPSG, RES, (X0, Y0, X0 + side * RES, Y0 + side * RES))
    transform, (rows, cols), _ = modis_grid(grid)
    a, c, e, f = transform.a, transform.c, transform.e, transform.f
    cx = c + (np.arange(cols) + 0.5) * a
    cy = f + (np.arange(rows) + 0.5) * e
    gx, gy = np.meshgrid(cx, cy)
    ux, uy = Transformer.from_crs(MODIS_SINU, f"EPSG:{EPSG}", always_xy=True).transform(gx, gy)
    base = _base(uy, ux)
    col = np.floor((ux - X0) / RES).astype(np.int64)
    row = np.floor((Y0 + side * RES - uy) / RES).astype(np.int64)
    rng = np.random.default_rng(3)
    npp = np.empty((len(years), rows, cols), np.float32)
    which = np.full((rows, cols), -1)
    for i, (r0, r1, c0, c1) in enumerate(mines):
        which[(row >= r0) & (row < r1) & (col >= c0) & (col < c1)] = i
    for t in range(len(years)):
        v = 900.0 * base - 80.0 + 4.0 * t + rng.normal(0, 15.0, base.shape)
        w = which >= 0
        d, r = td[np.maximum(which, 0)], tr[np.maximum(which, 0)]
        bare = w & (t >= d) & ((r < 0) | (t < r))
        v = np.where(bare, 60.0 + 25.0 * base + rng.normal(0, 8.0, base.shape), v)
        v[rng.random(base.shape) < 0.01] = np.nan          # fill / class codes
        npp[t] = v
    from pyproj import CRS

    wkt = CRS.from_user_input(MODIS_SINU).to_wkt()
    time_ = np.array([np.datetime64(f"{y}-01-01", "ns") for y in years])
    da = xr.DataArray(npp, dims=("time", "y", "x"), coords={"time": time_, "y": cy, "x": cx}, name="npp")
    da = da.rio.write_crs(wkt)
    da.attrs = {"units": "g C m-2 yr-1", "long_name": "MODIS annual net primary production (native 500 m cells)",
                "source_scale": "0.0001 kg C m-2 yr-1", "modis_product": "MOD17A3HGF (terra)", "crs": wkt,
                "transform": [a, 0.0, c, 0.0, e, f], "resampling": "none (native grid)",
                "provenance:skipped_items": ""}
    return da


def make_inputs(out: Path, side: int, n_years: int) -> dict:
    import dask
    import dask.array as dsa
    import rioxarray  # noqa: F401
    import xarray as xr

    tag = f"{side}_{n_years}"
    root = out / f"vcs_{tag}"
    done = root / "inputs.json"
    if done.exists():
        return json.loads(done.read_text())
    if root.exists():
        if not (root / ".bench_vcs").exists():   # only ever delete a half-made input folder of ours
            raise FileExistsError(f"{root} exists and was not made by bench_vcs.py; choose another --out.")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / ".bench_vcs").touch()
    t0 = time.perf_counter()
    ys, xs = _coords(side)
    years = list(range(2022 - n_years + 1, 2023))
    mines = _mines(side)
    td, tr = _events(len(mines), n_years)
    crs = f"EPSG:{EPSG}"
    with dask.config.set(scheduler="threads"):
        nd = dsa.map_blocks(_ndvi_block, dtype=np.float32, chunks=((n_years,), _split(side), _split(side)),
                            ys=ys, xs=xs, mines=mines, td=td, tr=tr, n_years=n_years)
        time_ = np.array([np.datetime64(f"{y}-07-01", "ns") for y in years])
        ndvi = xr.DataArray(nd, dims=("time", "y", "x"), coords={"time": time_, "y": ys, "x": xs}, name="ndvi",
                            attrs={"units": "1", "long_name": "annual maximum July-September NDVI"})
        ndvi.rio.write_crs(crs).to_dataset().to_zarr(root / "ndvi.zarr", mode="w", zarr_format=2, consolidated=True)
        m = {}
        for k, name in enumerate(("ndvi", "temperature", "precipitation", "solar")):
            m[name] = (("month", "y", "x"), dsa.map_blocks(_casa_block, dtype=np.float32,
                                                        chunks=((12,), _split(side), _split(side)),
                                                        ys=ys, xs=xs, mines=mines, var=k))
        mine_px = dsa.map_blocks(lambda block_info=None: _mine_mask(
            mines, slice(*block_info[None]["array-location"][0]), slice(*block_info[None]["array-location"][1])),
            dtype=np.int32, chunks=(_split(side), _split(side)))
        lc = dsa.map_blocks(_land_cover, dsa.map_blocks(_base_block, dtype=np.float32, chunks=mine_px.chunks, ys=ys,
                                                        xs=xs), mine_px, dtype=np.int16)
        casa = xr.Dataset({**m, "land_cover": (("y", "x"), lc)},
                          coords={"month": np.arange(1, 13), "y": ys, "x": xs})
        casa["temperature"].attrs = {"units": "degC"}
        casa["precipitation"].attrs = {"units": "mm month-1"}
        casa["solar"].attrs = {"units": "MJ m-2 month-1"}
        casa.rio.write_crs(crs).to_zarr(root / "casa.zarr", mode="w", zarr_format=2, consolidated=True)
    native = _native_npp(side, years, mines, td, tr)
    native.to_dataset().to_zarr(root / "native.zarr", mode="w", zarr_format=2, consolidated=True)
    info = {"root": str(root), "side": side, "years": years, "n_mines": int(len(mines)),
            "mines": mines.tolist(), "native_shape": list(native.shape[1:]), "seconds": time.perf_counter() - t0}
    done.write_text(json.dumps(info))
    return info


def _split(n):
    return tuple([CHUNK] * (n // CHUNK) + ([n % CHUNK] if n % CHUNK else []))


def _base_block(block_info=None, *, ys, xs):
    loc = block_info[None]["array-location"]
    return _base(ys[slice(*loc[0])][:, None], xs[slice(*loc[1])][None, :])


# ------------------------------------------------------------------ parts
def _rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _open(info, name):
    import rioxarray  # noqa: F401
    import xarray as xr

    ds = xr.open_zarr(Path(info["root"]) / name)
    return ds


def _native(info):
    ds = _open(info, "native.zarr")
    da = ds["npp"]
    return da.rio.write_crs(da.attrs["crs"])


def _write(ds, path):
    for v in ds.variables.values():
        v.encoding = {}
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)


def _reduced_api() -> bool:
    """True where scale_transform takes ``reduced=`` (scale_reduce: NPP_bg at the cell centres)."""
    import inspect

    from cubeeco.ops import scale as S

    return "reduced" in inspect.signature(S.scale_transform).parameters


def _part(info, what) -> dict:
    """Run one part on ``info``'s inputs (reading the earlier parts' outputs); a small dict of results."""
    import dask
    import dask.array as dsa
    import xarray as xr

    from cubeeco.ops import scale as S
    from cubeeco.ops.casa import annual_npp, casa_npp, casa_parameters
    from cubeeco.ops.disturbance import vegetation_disturbance
    from cubeeco.ops.vcs import vcs_accounting
    from cubeeco.pipeline.stages_carbon import vegetated_mask

    _REDUCED_API = _reduced_api()  # noqa: N806
    root = Path(info["root"])
    crs = f"EPSG:{EPSG}"
    res: dict = {"api": "scale_reduce" if _REDUCED_API else "modis_cell_stats"}
    if what == "floor_a":
        float(dsa.nanmean(_open(info, "ndvi.zarr")["ndvi"].data).compute())
    elif what == "disturbance":
        ndvi = _open(info, "ndvi.zarr")["ndvi"]
        # the demo's settings: 2 of 3 years, break dating (older runs: 2 in a row, threshold dating)
        ds = vegetation_disturbance(ndvi, threshold=0.2, persistence=2, window=3, dating="break")
        _write(ds.rio.write_crs(crs), root / "disturbance.zarr")
    elif what == "scale_reduce":
        state = _open(info, "disturbance.zarr")["state"].rio.write_crs(crs)
        veg = vegetated_mask(state).rio.write_crs(crs)
        if _REDUCED_API:   # scale_reduce: cell stats + NPP_bg per year at the cell centres
            kw = {} if info.get("max_samples") is None else {"max_samples": info["max_samples"]}
            stats = S.scale_reduce(_native(info), veg, **kw)
        else:              # modis_cell_stats only (NPP_bg kriged per 30 m pixel in scale_vcs)
            stats = S.modis_cell_stats(_native(info), veg)
        stats.to_zarr(root / "cell_stats.zarr", mode="w", zarr_format=2)
        dz = (stats["n_pixels"] > 0) & (stats["n_known"] == stats["n_pixels"]) & (stats["n_vegetated"] == 0)
        res["wholly_destroyed_cells_per_year_max"] = int(dz.sum("cell").max())
    elif what == "scale_vcs":
        state = _open(info, "disturbance.zarr")["state"].rio.write_crs(crs)
        veg = vegetated_mask(state).rio.write_crs(crs)
        stats = xr.open_zarr(root / "cell_stats.zarr").load()
        if _REDUCED_API:
            ds = S.scale_transform(_native(info), veg, reduced=stats)
        else:
            ds = S.scale_transform(_native(info), veg, stats=stats, max_samples=info.get("max_samples"))
        raster = xr.Dataset({k: ds[k] for k in ("npp", "npp_bg", "npp_b", "modis_cell")})
        raster["vcs"] = S.vcs(raster["npp"])
        _write(raster.rio.write_crs(crs), root / "scaled.zarr")
        table = S.background_table(stats if _REDUCED_API else ds)
        res["npp_bg_rules"] = sorted(set(table["rule"].astype(str)))
        res["npp_bg_samples_max"] = int(table["n_samples"].max())
    elif what == "accounting":
        scaled = _open(info, "scaled.zarr")
        dist = _open(info, "disturbance.zarr")
        v = scaled["vcs"].rio.write_crs(crs)
        labels, ids = _mine_labels(info, v, crs)
        acc = vcs_accounting(v, dist["destruction_year"], dist["restoration_year"], state=dist["state"],
                             zones=labels, n_zones=len(ids))
        by_mine = acc.by_zone
        by_mine.to_csv(root / "vcs_by_mine.csv")
        res["n_mines_in_table"] = int(len(by_mine))
        res["vcsd_total_Gg"] = float(acc.totals["VCSD_Gg"])
    elif what == "vcsd_se":
        from cubeeco.ops.vcs import vcs_changes
        from cubeeco.ops.vcs_uncertainty import vcsd_standard_error

        scaled = _open(info, "scaled.zarr")
        dist = _open(info, "disturbance.zarr")
        v = scaled["vcs"].rio.write_crs(crs)
        labels, ids = _mine_labels(info, v, crs)
        changes = vcs_changes(v, dist["destruction_year"], dist["restoration_year"], state=dist["state"])
        se = vcsd_standard_error(changes, v, scaled["npp"], scaled["npp_b"], scaled["modis_cell"], labels,
                                 len(ids), sigma_e=0.04, sigma_u=0.05)
        res["vcsd_se_median_Gg"] = float(se["VCSD_se_Gg"].median())
    elif what == "floor_b":
        ds = _open(info, "casa.zarr")
        stack = dsa.stack([ds[k].data for k in ("ndvi", "temperature", "precipitation", "solar")])
        float(dsa.nanmean(stack).compute())
    elif what == "casa_params":
        ds = _open(info, "casa.zarr")
        p = casa_parameters(ds["ndvi"], ds["land_cover"].astype(np.int16)).compute()
        p.to_zarr(root / "casa_params.zarr", mode="w", zarr_format=2)
        res["classes_with_values"] = int((p["n_values"] > 0).sum())
    elif what == "casa_npp":
        ds = _open(info, "casa.zarr")
        params = xr.open_zarr(root / "casa_params.zarr").load()
        npp = casa_npp(ds["ndvi"], ds["temperature"], ds["precipitation"], ds["solar"],
                       ds["land_cover"].astype(np.int16), params=params, latitude=LATITUDE)
        out = xr.Dataset({"npp": annual_npp(npp, dim="month"), "npp_monthly": npp.rename("npp_monthly")})
        _write(out.rio.write_crs(crs), root / "casa_npp.zarr")
    else:
        raise ValueError(f"unknown part {what!r}")
    del dask
    return res


def _mine_labels(info, like, crs):
    """The benchmark's box mines as zone labels on the grid of ``like``."""
    import geopandas as gpd
    import shapely

    from cubeeco.ops.zonal import zone_labels

    ys, _ = _coords(info["side"])
    top = ys[0] + RES / 2
    boxes = [shapely.box(X0 + c0 * RES, top - r1 * RES, X0 + c1 * RES, top - r0 * RES)
             for r0, r1, c0, c1 in info["mines"]]
    mines = gpd.GeoDataFrame({"mine_id": [f"m{i:03d}" for i in range(len(boxes))]}, geometry=boxes, crs=crs)
    return zone_labels(mines, like.isel(time=0, drop=True), id_column="mine_id")


def run(info, what, cores, warmup):
    import dask

    with dask.config.set(scheduler="threads", num_workers=cores):
        t0 = time.perf_counter()
        for part in _needs(what):   # the warm-up copy needs the earlier parts' outputs too
            if not (Path(warmup["root"]) / "done" / part).exists():
                _part(warmup, part)
                (Path(warmup["root"]) / "done").mkdir(exist_ok=True)
                (Path(warmup["root"]) / "done" / part).touch()
        _part(warmup, what)
        (Path(warmup["root"]) / "done").mkdir(exist_ok=True)
        (Path(warmup["root"]) / "done" / what).touch()
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = _part(info, what)
        res["seconds"] = time.perf_counter() - t0
    res["compile_s"] = compile_s
    res["rss_gib"] = _rss_gib()
    return res


def _needs(what):
    order = {"disturbance": (), "scale_reduce": ("disturbance",), "scale_vcs": ("disturbance", "scale_reduce"),
             "accounting": ("disturbance", "scale_reduce", "scale_vcs"),
             "vcsd_se": ("disturbance", "scale_reduce", "scale_vcs"), "casa_npp": ("casa_params",)}
    return order.get(what, ())


NOTES = {
    "floor_a": "np.nanmean of the NDVI cube (dask): reads every value once",
    "disturbance": "vegetation_disturbance -> Zarr (state int8 cube + 6 rasters)",
    "scale_reduce": "the reduce: scale_reduce (cell table + NPP_bg kriged at the cell centres) or, older "
                    "API, modis_cell_stats",
    "scale_vcs": "scale_transform(reduced= / stats=) + vcs() -> Zarr (5 arrays)",
    "accounting": "zone_labels(mines) + vcs_accounting (every cycle, state=) -> per-mine table",
    "vcsd_se": "vcs_changes + vcsd_standard_error: VCSD standard error per mine (one pass)",
    "floor_b": "np.nanmean of the 4 monthly stacks: reads every value once",
    "casa_params": "casa_parameters: exact per-class 5th / 95th percentiles (3 passes)",
    "casa_npp": "casa_npp (12 months) + annual_npp -> Zarr (annual + monthly)",
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("/tmp/cubeeco-vcs"))
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the grid's side (4521 px)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--smoke", action="store_true", help="tiny: 256 x 256 px, 6 years")
    p.add_argument("--max-samples", type=int, default=None,
                   help="scaled_npp's max_samples: NPP_bg samples kriged per year (default: all, as the pipeline)")
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset (in order)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--info", help=argparse.SUPPRESS)
    p.add_argument("--warmup", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        info, warmup = json.loads(args.info), json.loads(args.warmup)
        print(json.dumps({w: run(info, w, args.cores, warmup) for w in args.child.split(",")}))
        return
    side = 256 if args.smoke else int(round(SIDE * args.scale))
    n_years = 6 if args.smoke else 22
    t_all = time.perf_counter()
    info = {**make_inputs(args.out, side, n_years), "max_samples": args.max_samples}
    warmup = make_inputs(args.out, 64, n_years)
    path = args.out / f"bench_vcs_{side}.json"
    whats = [w for w in args.parts.split(",") if w]
    res = {}

    def child(parts):
        got = run_child(__file__, ",".join(parts), info, "--cores", str(args.cores), "--warmup", json.dumps(warmup))
        res.update(got)
        for w, r in got.items():
            print(f"# {w}: {r['seconds']:.1f} s, {r['rss_gib']:.2f} GiB", file=sys.stderr, flush=True)
        path.write_text(json.dumps({"side": side, "partial": True, "parts": dict(res)}, indent=1))

    if args.smoke:
        # the JIT compile dominates a smoke run: one process per chain (shared kernels compile once),
        # the two side by side -- smoke timings and memory are not measurements
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(child, [w for w in whats if w in g]) for g in (PARTS_A, PARTS_B)]:
                f.result()
    else:
        for w in whats:
            child([w])
    n = side * side
    print(f"### VCS chain and CASA: {side} x {side} = {n / 1e6:.1f} M px at 30 m, {n_years} years, "
          f"{info['n_mines']} mines, MODIS window {info['native_shape'][0]} x {info['native_shape'][1]} cells, "
          f"Zarr {CHUNK}-px chunks\n")
    print(f"cores: {args.cores} (dask threads), inputs made in {info['seconds']:.0f} s (reused later), "
          f"NPP_bg max_samples: {args.max_samples or 'all'}\n")
    print("| part | wall time | peak memory (RSS) | vs floor | JIT warm-up | notes |")
    print("|---|---:|---:|---:|---:|---|")
    for w in whats:
        r = res[w]
        floor = res.get("floor_a" if w in PARTS_A else "floor_b", {}).get("seconds")
        ratio = f"{r['seconds'] / floor:.2f}x" if floor else "-"
        print(f"| {w} | {r['seconds']:.2f} s | {r['rss_gib']:.2f} GiB | {ratio} | {r['compile_s']:.1f} s | "
              f"{NOTES[w]} |")
    for name, group, floor_key in (("A (VCS chain)", PARTS_A[1:], "floor_a"), ("B (CASA)", PARTS_B[1:], "floor_b")):
        if all(g in res for g in group):
            tot = sum(res[g]["seconds"] for g in group)
            peak = max(res[g]["rss_gib"] for g in group)
            ratio = f"{tot / res[floor_key]['seconds']:.2f}x" if floor_key in res else "-"
            print(f"| **{name} total** | {tot:.2f} s | {peak:.2f} GiB | {ratio} | | sum of the parts; peak = max |")
    extra = {k: v for w in whats for k, v in res[w].items() if k not in ("seconds", "rss_gib", "compile_s")}
    print(f"\n{json.dumps(extra)}")
    summary = {"side": side, "n_years": n_years, "n_mines": info["n_mines"], "cores": args.cores,
               "native_shape": info["native_shape"], "inputs_s": info["seconds"], "parts": res,
               "max_samples": args.max_samples,
               "total_s": time.perf_counter() - t_all}
    path.write_text(json.dumps(summary, indent=1))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
