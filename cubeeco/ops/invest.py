"""Carbon storage from land cover: InVEST's Carbon model, and what goes beyond it (study 004).

``invest_carbon`` reproduces natcap.invest's Carbon Storage and Sequestration model
(>= 3.15, per-pixel outputs in t/ha): each of the four pools (``c_above``, ``c_below``,
``c_soil``, ``c_dead``, t/ha) is mapped to the pixels as float32 and the pools are summed
in that order in float32, so per-pixel values are bit-identical to InVEST's; totals (t)
are Σ pixel value (float64) × pixel area / 10⁴, InVEST's summary formula.

Beyond it: ``carbon_stock_series`` (stock of every year of a cube, by zone and class),
``carbon_transitions`` (change attributed to from-class -> to-class transitions and zones,
with a reconciliation that closes), densities per zone (a zone x class table or a
density raster) and ``carbon_uncertainty`` (Monte-Carlo ranges from per-pool sd columns).
Every aggregation is one lazy pass of :func:`cubeeco.ops.reduce.grouped_moments`.
See docs/carbon-storage.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..kernels import invest as K
from ._checks import require_dataarray
from .reduce import finalize_moments, grouped_moments

POOLS = ("c_above", "c_below", "c_soil", "c_dead")
DENSITY_UNITS = "t ha-1"  # tonnes of carbon (Mg C) per hectare, InVEST's unit
STOCK_UNITS = "t"
AREA_UNITS = "ha"
EXAMPLE_TABLE = Path(__file__).resolve().parents[1] / "data" / "invest_carbon_study004.csv"
_ABSENT = ("raise", "nodata")


# ------------------------------------------------------------------ the pools table
@dataclass(frozen=True)
class PoolTable:
    """A validated pools table: sorted codes (and zone ids), per-row densities."""

    frame: pd.DataFrame
    codes: np.ndarray  # sorted unique lucodes (int64)
    zone_ids: np.ndarray | None  # sorted zone ids of a zone x class table, else None
    density32: np.ndarray  # (rows,) float32, InVEST's float32 pool sum; rows = zone-major
    density64: np.ndarray  # (rows,) float64 sum of the pools
    pools64: np.ndarray  # (rows, 4)
    sd64: np.ndarray | None  # (rows, 4) per-pool standard deviations, or None

    @property
    def n_classes(self) -> int:
        return self.codes.size

    @property
    def n_zones(self) -> int:
        return 1 if self.zone_ids is None else self.zone_ids.size


def read_pools(pools) -> PoolTable:
    """Validate an InVEST biophysical (carbon pools) table: a DataFrame or a CSV path.

    Columns: ``lucode`` (integer), ``c_above``, ``c_below``, ``c_soil``, ``c_dead`` (t/ha);
    optional ``lulc_name``, ``zone`` (integer: densities per zone and class; every zone
    needs every class) and ``<pool>_sd`` (standard deviations for :func:`carbon_uncertainty`).
    """
    if isinstance(pools, PoolTable):
        return pools
    if isinstance(pools, (str, Path)):
        path = Path(pools)
        if not path.is_file():
            raise ValueError(f"pools: no such CSV file {str(path)!r}.")
        df = pd.read_csv(path)
    elif isinstance(pools, pd.DataFrame):
        df = pools.copy()
    else:
        raise TypeError(f"pools must be a pandas DataFrame or a CSV path, got {type(pools).__name__}.")
    df.columns = [str(c).strip().lower() for c in df.columns]  # InVEST reads headers case-insensitively
    missing = [c for c in ("lucode", *POOLS) if c not in df.columns]
    if missing:
        raise ValueError(f"pools table lacks the column(s) {missing}; InVEST's carbon pools table has "
                         f"lucode, c_above, c_below, c_soil, c_dead (t/ha).")
    if len(df) == 0:
        raise ValueError("pools table has no rows.")
    keys = ["zone", "lucode"] if "zone" in df.columns else ["lucode"]
    for k in keys:
        col = df[k]
        if col.isna().any() or not np.all(np.asarray(col, dtype=np.float64) == np.round(np.asarray(col, dtype=np.float64))):
            raise ValueError(f"pools column {k!r} must hold integers with no blanks, got {list(col)}.")
        df[k] = col.astype(np.int64)
    sd_cols = [f"{p}_sd" for p in POOLS]
    has_sd = any(c in df.columns for c in sd_cols)
    if has_sd and not all(c in df.columns for c in sd_cols):
        raise ValueError(f"pools table has some but not all of {sd_cols}; give all four (0 for a certain pool).")
    for c in list(POOLS) + (sd_cols if has_sd else []):
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().any() or not np.all(np.isfinite(v)):
            raise ValueError(f"pools column {c!r} must be finite numbers, got {list(df[c])}.")
        if (v < 0).any():
            raise ValueError(f"pools column {c!r} has negative values {list(v[v < 0])}; densities and their "
                             f"standard deviations are >= 0 t/ha.")
        df[c] = v.astype(np.float64)
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        raise ValueError(f"pools table repeats {keys} {df.loc[dup, keys].drop_duplicates().values.tolist()}.")
    df = df.sort_values(keys).reset_index(drop=True)
    codes = np.unique(df["lucode"].to_numpy())
    zone_ids = None
    if "zone" in df.columns:
        zone_ids = np.unique(df["zone"].to_numpy())
        if len(df) != zone_ids.size * codes.size:
            raise ValueError(f"a zone x class pools table needs a row for every (zone, lucode): {zone_ids.size} "
                             f"zones x {codes.size} classes, got {len(df)} rows.")
    p64 = df[list(POOLS)].to_numpy(np.float64)
    p32 = p64.astype(np.float32)
    # InVEST writes each pool as a float32 raster and sums them in this order in float32
    d32 = ((p32[:, 0] + p32[:, 1]) + p32[:, 2]) + p32[:, 3]
    sd = df[sd_cols].to_numpy(np.float64) if has_sd else None
    return PoolTable(df, codes, zone_ids, d32.astype(np.float32), p64.sum(axis=1), p64, sd)


def example_pools() -> pd.DataFrame:
    """Study 004 (Haerwusu) Table 3 densities as an InVEST carbon pools table (t/ha).

    The study gives no class codes; 1-10 follow the order of its Table 3.
    """
    return pd.read_csv(EXAMPLE_TABLE)


# ------------------------------------------------------------------ inputs
def _lulc(lulc, name, nodata):
    require_dataarray(lulc, name)
    if lulc.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer class raster (LULC codes), got dtype {lulc.dtype}; keep "
                        f"class rasters integer with a nodata value instead of NaN.")
    for d in ("y", "x"):
        if d not in lulc.dims:
            raise ValueError(f"{name} needs spatial dims ('y', 'x'); it has {tuple(lulc.dims)}.")
    if nodata is None:
        nodata = lulc.attrs.get("nodata", lulc.attrs.get("_FillValue", lulc.encoding.get("_FillValue")))
    if nodata is None:
        return lulc, 0, False
    try:
        nd = float(nodata)
    except (TypeError, ValueError):
        raise TypeError(f"nodata of {name} must be an integer, got {nodata!r}.") from None
    if not np.isfinite(nd) or nd != round(nd):
        # an integer raster cannot hold a NaN / fractional nodata: no pixel is nodata
        return lulc, 0, False
    return lulc, int(nd), True


def _check_absent(absent):
    if absent not in _ABSENT:
        raise ValueError(f"absent must be one of {_ABSENT}, got {absent!r}.")


def _class_block(lulc, *, codes, nodata, has_nodata, absent, name):
    idx = K.code_index(lulc, codes, nodata, has_nodata)
    bad = idx == K.ABSENT_INDEX
    if bad.any():
        if absent == "raise":
            missing = np.unique(lulc[bad]).tolist()
            raise ValueError(f"{name} has LULC codes {missing} that are not in the pools table's lucode column "
                             f"(it has {codes.tolist()}); add them to the table, or pass absent='nodata' to map "
                             f"them to nodata.")
        idx[bad] = K.NODATA_INDEX
    return idx


def _class_index(lulc, pools: PoolTable, nodata, has_nodata, absent, name):
    """int32 row of each pixel's class in the table (-1: nodata or allowed absent); lazy."""
    return xr.apply_ufunc(
        _class_block, lulc, dask="parallelized", output_dtypes=[np.int32], keep_attrs="drop",
        kwargs=dict(codes=pools.codes, nodata=nodata, has_nodata=has_nodata, absent=absent, name=name))


def _zone_block(zones, *, zone_ids):
    idx = K.code_index(zones, zone_ids)
    idx[idx < 0] = -1
    return idx


def _zones(zones, like, pools: PoolTable, zone_ids):
    """(zone index raster (-1: outside), sorted zone ids) or (None, None)."""
    if zones is None:
        if pools.zone_ids is not None:
            raise ValueError("the pools table has a 'zone' column (densities per zone); pass zones= (a raster "
                             "of zone ids).")
        return None, None
    require_dataarray(zones, "zones")
    if zones.dtype.kind not in "iu":
        raise TypeError(f"zones must be an integer raster of zone ids, got dtype {zones.dtype}.")
    extra = [d for d in zones.dims if d not in like.dims]
    if extra:
        raise ValueError(f"zones has dims {extra} that the LULC raster lacks.")
    if pools.zone_ids is not None:
        ids = pools.zone_ids
        if zone_ids is not None and not np.array_equal(np.unique(np.asarray(zone_ids, np.int64)), ids):
            raise ValueError("zone_ids differ from the zones of the pools table; give one or the other.")
    elif zone_ids is not None:
        ids = np.unique(np.asarray(zone_ids, dtype=np.int64))
    elif zones.chunks is None:
        ids = np.unique(zones.values)
        ids = ids[ids >= 0].astype(np.int64)  # negative ids: outside every zone
    else:
        raise ValueError("zones is dask-backed: pass zone_ids= (the zone ids to report) so that nothing is "
                         "computed to find them.")
    if ids.size == 0:
        raise ValueError("no zone ids: zones has no non-negative id.")
    zi = xr.apply_ufunc(_zone_block, zones, dask="parallelized", output_dtypes=[np.int32], keep_attrs="drop",
                        kwargs=dict(zone_ids=ids))
    return zi, ids


def _density(ci, zi, pools, dtype):
    """Per-pixel density (t/ha) from the class (and zone) index; NaN where undefined."""
    table = pools.density32 if dtype == np.float32 else pools.density64
    if pools.zone_ids is not None:
        row = xr.where((ci >= 0) & (zi >= 0), zi * pools.n_classes + ci, -1).astype(np.int32)
    else:
        row = ci
    return xr.apply_ufunc(_gather_block, row, dask="parallelized", output_dtypes=[table.dtype],
                          keep_attrs="drop", kwargs=dict(table=table))


def _gather_block(row, *, table):
    return K.gather(row, table)


def _raster_density(ci, density, name):
    require_dataarray(density, name)
    if density.dtype.kind != "f":
        raise TypeError(f"{name} must be a float raster of carbon density (t/ha), got dtype {density.dtype}.")
    extra = [d for d in density.dims if d not in ci.dims]
    if extra:
        raise ValueError(f"{name} has dims {extra} that the LULC raster lacks.")
    u = density.attrs.get("units")
    if u is not None and str(u).replace(" ", "").replace("/", " ").lower() not in ("tha-1", "t ha", "mgha-1",
                                                                                     "mg ha", "tc ha-1", "tcha-1"):
        raise ValueError(f"{name} has units {u!r}; carbon density rasters must be in t/ha ('t ha-1').")
    return xr.where(ci >= 0, density, np.nan).astype(density.dtype)


def _geographic(da) -> bool:
    names = {str(n).lower() for n in da.dims}
    if names & {"lat", "lon", "latitude", "longitude"}:
        return True
    for d in ("x", "y"):
        if d in da.coords and "degree" in str(da[d].attrs.get("units", "")).lower():
            return True
    try:
        import rioxarray  # noqa: F401

        crs = da.rio.crs
    except Exception:  # noqa: BLE001  (no or unreadable grid mapping: metres assumed)
        crs = None
    return crs is not None and bool(crs.is_geographic)


def _pixel_area(lulc, pixel_area, name):
    """(scalar ha or None, per-pixel ha DataArray or None); refuses geographic grids."""
    if isinstance(pixel_area, xr.DataArray):
        if pixel_area.dtype.kind not in "fiu":
            raise TypeError(f"pixel_area must be numeric (m²), got dtype {pixel_area.dtype}.")
        extra = [d for d in pixel_area.dims if d not in lulc.dims]
        if extra:
            raise ValueError(f"pixel_area has dims {extra} that {name} lacks.")
        return None, pixel_area.astype(np.float64) / 1e4
    if _geographic(lulc):
        raise ValueError(f"{name} is on a geographic CRS (degrees): a pixel is not a fixed area there, so areas "
                         f"and carbon totals cannot be summed. Reproject to a projected (metre) grid, or pass "
                         f"pixel_area= as a DataArray of per-pixel areas in m².")
    if pixel_area is None:
        steps = []
        for d in ("y", "x"):
            if d not in lulc.coords or lulc.sizes[d] < 2:
                raise ValueError(f"cannot read the pixel size of {name}: {d!r} needs a coordinate with at least "
                                 f"2 values; pass pixel_area= in m².")
            s = np.diff(np.asarray(lulc[d].values, dtype=np.float64))
            if s[0] == 0 or not np.allclose(s, s[0], rtol=1e-9, atol=0.0):
                raise ValueError(f"the {d!r} coordinate of {name} is not regularly spaced; pass pixel_area= in m².")
            steps.append(abs(float(s[0])))
        return steps[0] * steps[1] / 1e4, None
    try:
        a = float(pixel_area)
    except (TypeError, ValueError):
        raise TypeError(f"pixel_area must be a number (m²) or a DataArray, got {type(pixel_area).__name__}.") from None
    if not np.isfinite(a) or a <= 0:
        raise ValueError(f"pixel_area must be a positive number of m², got {pixel_area!r}.")
    return a / 1e4, None


def _sums(values, labels, n_groups, area, dims=("y", "x")):
    """(Σ value·area, Σ area) per group (t, ha when value is t/ha): one lazy pass.

    NaN values are skipped (nodata pixels carry neither carbon nor area).
    """
    scalar, weights = area
    m = grouped_moments(values.astype(np.float64), labels, n_groups, dims=dims, weights=weights)
    s = finalize_moments(m, "sum")
    a = finalize_moments(m, "weight")
    if scalar is not None:
        # one multiplication after the sum, as InVEST does (Σ value × pixel area / 10⁴)
        s = s * scalar
        a = a * scalar
    return s, a


def _attrs(da, units, long_name, **extra):
    da.attrs = {"units": units, "long_name": long_name, **extra}
    return da


# ------------------------------------------------------------------ InVEST Carbon
def invest_carbon(lulc, pools, *, lulc_future=None, nodata=None, absent="raise", pixel_area=None,
                  dtype=np.float32):
    """Carbon storage per pixel (t/ha) and in total (t), as natcap.invest's Carbon model.

    Parameters
    ----------
    lulc : DataArray (y, x) of integer LULC codes, numpy or dask backed; nodata from
        ``nodata=`` or its ``nodata`` / ``_FillValue`` attribute.
    pools : DataFrame or CSV path, InVEST's carbon pools table (see :func:`read_pools`).
    lulc_future : optional second LULC raster (InVEST's "alternate" scenario).
    absent : "raise" (default): a code missing from the table raises ValueError naming the
        codes (when the result is computed, the check runs per chunk); "nodata": such pixels
        are nodata.
    pixel_area : m² per pixel (default: from the x / y coordinates; geographic CRSs are
        refused) or a DataArray of per-pixel areas in m².
    dtype : float32 (default, InVEST's bit-identical per-pixel values) or float64 (exact
        table densities).

    Returns
    -------
    Dataset with ``c_storage`` (y, x; t/ha, NaN = nodata), ``total_storage`` (t),
    ``storage_by_class`` (t) and ``area_by_class`` (ha) on a ``lucode`` dim; with
    ``lulc_future`` also ``c_storage_future``, ``c_change`` (future - baseline, t/ha),
    ``total_storage_future`` and ``total_change`` (t, the sequestration). Lazy for dask input.
    """
    _check_absent(absent)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}.")
    p = read_pools(pools)
    if p.zone_ids is not None:
        raise ValueError("invest_carbon takes a per-class table (InVEST's); for densities per zone use "
                         "carbon_stock_series / carbon_transitions with zones=.")
    lulc, nd, has = _lulc(lulc, "lulc", nodata)
    area = _pixel_area(lulc, pixel_area, "lulc")
    ci = _class_index(lulc, p, nd, has, absent, "lulc")
    c = _density(ci, None, p, dtype)
    layers_v, layers_l = [c], [ci]
    if lulc_future is not None:
        lf, ndf, hasf = _lulc(lulc_future, "lulc_future", nodata if nodata is not None else (nd if has else None))
        if dict(lf.sizes) != dict(lulc.sizes):
            raise ValueError(f"lulc_future has sizes {dict(lf.sizes)}, lulc {dict(lulc.sizes)}; they must align.")
        cif = _class_index(lf, p, ndf, hasf, absent, "lulc_future")
        cf = _density(cif, None, p, dtype)
        change = (cf - c).astype(dtype)  # NaN where either date is nodata, like InVEST's c_change
        # change is attributed to the baseline class; a pixel counts where both dates are valid
        layers_v += [cf, change]
        layers_l += [cif, xr.where(change.notnull(), ci, -1).astype(np.int32)]
    scen = ["baseline", "future", "change"][: len(layers_v)]
    values = xr.concat(layers_v, dim="scenario", coords="minimal", compat="override", join="override")
    labels = xr.concat(layers_l, dim="scenario", coords="minimal", compat="override", join="override")
    s, a = _sums(values, labels, p.n_classes, area)
    s = s.rename(group="lucode").assign_coords(lucode=p.codes, scenario=scen)
    a = a.rename(group="lucode").assign_coords(lucode=p.codes, scenario=scen)
    out = xr.Dataset()
    src = "natcap.invest Carbon definition (>= 3.15: per-pixel t/ha); study 004 Eqs. 1-2"
    out["c_storage"] = _attrs(c, DENSITY_UNITS, "carbon storage density (4 pools)", source=src)
    out["storage_by_class"] = _attrs(s.sel(scenario="baseline", drop=True), STOCK_UNITS, "carbon storage by class")
    out["area_by_class"] = _attrs(a.sel(scenario="baseline", drop=True), AREA_UNITS, "valid area by class")
    out["total_storage"] = _attrs(s.sel(scenario="baseline", drop=True).sum("lucode"), STOCK_UNITS,
                                  "total carbon storage")
    if lulc_future is not None:
        out["c_storage_future"] = _attrs(cf, DENSITY_UNITS, "carbon storage density, future LULC", source=src)
        out["c_change"] = _attrs(change, DENSITY_UNITS, "change in carbon storage density (future - baseline)",
                                 source=src)
        out["storage_by_class_future"] = _attrs(s.sel(scenario="future", drop=True), STOCK_UNITS,
                                                "carbon storage by class, future LULC")
        out["area_by_class_future"] = _attrs(a.sel(scenario="future", drop=True), AREA_UNITS,
                                             "valid area by class, future LULC")
        out["total_storage_future"] = _attrs(s.sel(scenario="future", drop=True).sum("lucode"), STOCK_UNITS,
                                             "total carbon storage, future LULC")
        out["total_change"] = _attrs(s.sel(scenario="change", drop=True).sum("lucode"), STOCK_UNITS,
                                     "carbon sequestration (sum of c_change where both dates are valid)")
    out["lulc_name"] = ("lucode", _names(p))
    out.attrs.update({"pools": ",".join(POOLS), "density_dtype": str(dtype),
                      "nodata_rule": "NaN where LULC is nodata" + (" or absent from the table" if absent == "nodata" else "")})
    return out


def _names(p: PoolTable):
    if "lulc_name" not in p.frame.columns:
        return np.array([str(c) for c in p.codes], dtype=object)
    first = p.frame.drop_duplicates("lucode").set_index("lucode")["lulc_name"]
    return np.array([str(first.get(c, c)) for c in p.codes], dtype=object)


# ------------------------------------------------------------------ beyond InVEST
def _resolve_density(ci, zi, pools, dtype, name="pools"):
    """(per-pixel density, PoolTable or None) from a table or a density raster."""
    if isinstance(pools, xr.DataArray):
        return _raster_density(ci, pools, name), None
    p = pools if isinstance(pools, PoolTable) else read_pools(pools)
    return _density(ci, zi, p, dtype), p


def carbon_stock_series(lulc_cube, pools, zones=None, *, dim="time", nodata=None, absent="raise",
                        pixel_area=None, zone_ids=None, codes=None, dtype=np.float64):
    """Carbon stock (t) of every step of a land-cover cube, by zone and class: one lazy pass.

    Parameters
    ----------
    lulc_cube : DataArray (dim, y, x) of integer LULC codes (nodata as in :func:`invest_carbon`).
    pools : per-class or zone x class table (DataFrame / CSV, see :func:`read_pools`), or a
        density raster (t/ha) over the cube's dims or (y, x).
    zones : optional integer raster of zone ids (e.g. mines) over (y, x) or the cube's dims;
        pixels with an id not reported (e.g. negative) fall outside every zone and are left out.
    zone_ids : the zone ids to report (needed when ``zones`` is dask-backed and the table
        has no ``zone`` column).
    codes : class codes when ``pools`` is a raster (default: from nothing -- required then).

    Returns
    -------
    Dataset on (dim, [zone,] lucode): ``stock`` (t), ``area`` (ha), and ``total`` (dim; t).
    """
    _check_absent(absent)
    lulc, nd, has = _lulc(lulc_cube, "lulc_cube", nodata)
    if dim not in lulc.dims:
        raise ValueError(f"lulc_cube has no dimension {dim!r}; its dims are {tuple(lulc.dims)}. Pass dim=.")
    area = _pixel_area(lulc, pixel_area, "lulc_cube")
    table = _class_table(pools, codes)
    ci = _class_index(lulc, table, nd, has, absent, "lulc_cube")
    zi, ids = _zones(zones, lulc, table, zone_ids)
    c, _ = _resolve_density(ci, zi, pools if isinstance(pools, xr.DataArray) else table, np.dtype(dtype))
    nk = table.n_classes
    if zi is None:
        lab, ng = ci, nk
    else:
        lab = xr.where((ci >= 0) & (zi >= 0), zi * nk + ci, -1).astype(np.int32)
        ng = ids.size * nk
    s, a = _sums(c, lab, ng, area, dims=("y", "x"))
    s, a = (_split_groups(v, ids, table.codes) for v in (s, a))
    out = xr.Dataset()
    out["stock"] = _attrs(s, STOCK_UNITS, "carbon stock by class")
    out["area"] = _attrs(a, AREA_UNITS, "valid area by class")
    tot = s.sum([d for d in s.dims if d != dim])
    out["total"] = _attrs(tot, STOCK_UNITS, "total carbon stock")
    return out


def _class_table(pools, codes):
    if isinstance(pools, xr.DataArray):
        if codes is None:
            raise ValueError("pools is a density raster: pass codes= (the valid LULC codes) so that nodata and "
                             "absent codes are recognised.")
        c = np.unique(np.asarray(codes, dtype=np.int64))
        z = np.zeros((c.size, 4))
        return PoolTable(pd.DataFrame({"lucode": c}), c, None, z[:, 0].astype(np.float32), z[:, 0], z, None)
    return read_pools(pools)


def _split_groups(v, ids, codes):
    """(…, group) -> (…, [zone,] lucode)."""
    if ids is None:
        return v.rename(group="lucode").assign_coords(lucode=codes)
    lead = [d for d in v.dims if d != "group"]
    data = v.data.reshape(*[v.sizes[d] for d in lead], ids.size, codes.size)
    coords = {d: v[d] for d in lead if d in v.coords}
    return xr.DataArray(data, dims=(*lead, "zone", "lucode"), coords={**coords, "zone": ids, "lucode": codes})


def carbon_transitions(lulc_t0, lulc_t1, pools, zones=None, *, nodata=None, absent="raise", pixel_area=None,
                       zone_ids=None, codes=None, dtype=np.float64):
    """Carbon change (t) attributed to from-class -> to-class transitions and to zones, reconciled.

    ``pools``: a per-class or zone x class table, or a pair ``(density_t0, density_t1)`` of
    density rasters (t/ha; then ``codes=`` is needed). A pixel that is nodata (or, with
    ``absent="nodata"``, of an absent class) at one date is in the ``nodata`` row / column
    (code -1 on ``from_class`` / ``to_class``), so the transitions add up to the whole change
    of the stock. Pixels outside every zone are left out when ``zones`` is given.

    Returns
    -------
    Dataset with, on ([zone,] from_class, to_class): ``stock_t0``, ``stock_t1``, ``change``
    (t) and ``area`` (ha, pixels valid at either date); and the reconciliation on ([zone]):
    ``total_t0``, ``total_t1``, ``net_change`` (= total_t1 - total_t0), ``sum_of_transitions``
    and ``residual`` (net_change - sum_of_transitions; float rounding only).
    """
    _check_absent(absent)
    l0, nd0, has0 = _lulc(lulc_t0, "lulc_t0", nodata)
    l1, nd1, has1 = _lulc(lulc_t1, "lulc_t1", nodata if nodata is not None else (nd0 if has0 else None))
    if dict(l0.sizes) != dict(l1.sizes):
        raise ValueError(f"lulc_t1 has sizes {dict(l1.sizes)}, lulc_t0 {dict(l0.sizes)}; they must align.")
    area = _pixel_area(l0, pixel_area, "lulc_t0")
    pair = isinstance(pools, (tuple, list))
    if pair and len(pools) != 2:
        raise ValueError("pools as rasters must be a pair (density_t0, density_t1).")
    table = _class_table(pools[0] if pair else pools, codes)
    ci0 = _class_index(l0, table, nd0, has0, absent, "lulc_t0")
    ci1 = _class_index(l1, table, nd1, has1, absent, "lulc_t1")
    zi, ids = _zones(zones, l0, table, zone_ids)
    if pair:
        c0, c1 = _raster_density(ci0, pools[0], "pools[0]"), _raster_density(ci1, pools[1], "pools[1]")
    else:
        c0, c1 = _density(ci0, zi, table, np.dtype(dtype)), _density(ci1, zi, table, np.dtype(dtype))
    nk = table.n_classes
    k1 = nk + 1  # the last row / column: nodata at that date
    f = xr.where(c0.notnull(), ci0, nk)
    t = xr.where(c1.notnull(), ci1, nk)
    lab = f * k1 + t
    lab = xr.where(lab == nk * k1 + nk, -1, lab)  # nodata at both dates: in no group
    nz = 1
    if zi is not None:
        lab = xr.where((zi >= 0) & (lab >= 0), zi * (k1 * k1) + lab, -1)
        nz = ids.size
    lab = lab.astype(np.int32)
    # area: any pixel valid at either date (a value that is never NaN inside a group)
    one = xr.ones_like(c0, dtype=np.float64)
    vals = xr.concat([c0.astype(np.float64), c1.astype(np.float64), one], dim="layer", coords="minimal",
                     compat="override", join="override")
    s, a = _sums(vals, lab, nz * k1 * k1, area)
    codes_n = np.append(table.codes, -1)
    lead = ["zone"] if zi is not None else []

    def split(v):
        data = v.data.reshape(nz, k1, k1) if zi is not None else v.data.reshape(k1, k1)
        coords = {"from_class": codes_n, "to_class": codes_n}
        if zi is not None:
            coords["zone"] = ids
        return xr.DataArray(data, dims=(*lead, "from_class", "to_class"), coords=coords)

    s0, s1, ar = split(s.isel(layer=0)), split(s.isel(layer=1)), split(a.isel(layer=2))
    out = xr.Dataset()
    out["stock_t0"] = _attrs(s0, STOCK_UNITS, "carbon stock at t0 of the pixels of each transition")
    out["stock_t1"] = _attrs(s1, STOCK_UNITS, "carbon stock at t1 of the pixels of each transition")
    out["change"] = _attrs(s1 - s0, STOCK_UNITS, "carbon change by transition (t1 - t0)")
    out["area"] = _attrs(ar, AREA_UNITS, "area of each transition (code -1: nodata at that date)")
    tr = ["from_class", "to_class"]
    out["total_t0"] = _attrs(s0.sum(tr), STOCK_UNITS, "carbon stock at t0")
    out["total_t1"] = _attrs(s1.sum(tr), STOCK_UNITS, "carbon stock at t1")
    out["net_change"] = _attrs(out["total_t1"] - out["total_t0"], STOCK_UNITS, "stock(t1) - stock(t0)")
    out["sum_of_transitions"] = _attrs(out["change"].sum(tr), STOCK_UNITS, "sum of the transitions' changes")
    out["residual"] = _attrs(out["net_change"] - out["sum_of_transitions"], STOCK_UNITS,
                             "reconciliation residual (float rounding only)")
    return out


def carbon_uncertainty(lulc, pools, zones=None, *, n=1000, seed=0, percentiles=(2.5, 50.0, 97.5), nodata=None,
                       absent="raise", pixel_area=None, zone_ids=None):
    """Monte-Carlo range of the total stock from per-pool standard deviations (``*_sd`` columns).

    Each draw takes every pool density of every table row (class, or zone x class) from a
    normal distribution N(mean, sd) truncated at 0 (a density is never negative), the same
    value for all pixels of that row (InVEST's old uncertainty convention: a class's density
    is one uncertain number, not independent pixel noise). The areas come from one lazy pass;
    the draws are a small (draw x row) table, so ``n`` costs nothing per pixel.

    ``lulc`` may carry extra leading dims (e.g. time): they are kept.

    Returns
    -------
    Dataset: ``total`` (t, mean densities), ``total_draws`` (…, draw; t) and
    ``total_percentile`` (…, percentile; t); attrs n, seed.
    """
    _check_absent(absent)
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1 draw, got {n}.")
    q = np.asarray(percentiles, dtype=np.float64)
    if q.ndim != 1 or np.any((q < 0) | (q > 100)):
        raise ValueError(f"percentiles must be numbers in [0, 100], got {percentiles!r}.")
    p = read_pools(pools)
    if p.sd64 is None:
        raise ValueError(f"pools table has no uncertainty columns; add {[f'{x}_sd' for x in POOLS]} (t/ha).")
    lulc, nd, has = _lulc(lulc, "lulc", nodata)
    area = _pixel_area(lulc, pixel_area, "lulc")
    ci = _class_index(lulc, p, nd, has, absent, "lulc")
    zi, ids = _zones(zones, lulc, p, zone_ids)
    nk = p.n_classes
    if p.zone_ids is not None:
        lab, ng = xr.where((ci >= 0) & (zi >= 0), zi * nk + ci, -1).astype(np.int32), p.n_zones * nk
        rows = np.arange(ng)
    elif zi is not None:
        lab, ng = xr.where((ci >= 0) & (zi >= 0), zi * nk + ci, -1).astype(np.int32), ids.size * nk
        rows = np.tile(np.arange(nk), ids.size)  # every zone uses the class rows
    else:
        lab, ng, rows = ci, nk, np.arange(nk)
    one = xr.where(ci >= 0, 1.0, np.nan)
    _, a = _sums(one, lab, ng, area)  # ha per group
    rng = np.random.default_rng(seed)
    mean, sd = p.pools64, p.sd64
    draws = np.clip(rng.normal(mean[None], sd[None], size=(n, *mean.shape)), 0.0, None).sum(axis=2)  # (n, rows)
    dens = xr.DataArray(draws[:, rows], dims=("draw", "group"))
    tot_draws = (a * dens).sum("group")
    base = (a * xr.DataArray(p.density64[rows], dims="group")).sum("group")
    pct = tot_draws.chunk({"draw": -1}) if tot_draws.chunks is not None else tot_draws
    pct = pct.quantile(q / 100.0, dim="draw").rename(quantile="percentile").assign_coords(percentile=q)
    out = xr.Dataset()
    out["total"] = _attrs(base, STOCK_UNITS, "total carbon stock (mean densities)")
    out["total_draws"] = _attrs(tot_draws, STOCK_UNITS, "total carbon stock, Monte-Carlo draws")
    out["total_percentile"] = _attrs(pct, STOCK_UNITS, "percentiles of the Monte-Carlo total")
    out.attrs.update({"n": n, "seed": int(seed), "distribution": "normal(mean, sd) per pool and table row, "
                      "truncated at 0"})
    return out
