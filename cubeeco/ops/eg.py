"""Ecological grade (EG) index and its overlay with RSEI (seed 000 §3.2, §4.3, §5.1; SCIENCE.md §4).

Eq. 14 of the study, for a region (or window) i and land-use types j:

    EG_i = Σ_j EG_ij · A_ij / Σ_j A_ij

with the grade EG_ij of type j (:data:`EG_GRADES`, Table 3: 1 best ... 7 worst) and A_ij
its area.  EG_i is a negative indicator; the study normalises it and inverts it so that
higher is better (§4.3, Tables 8-9).  Normalised over the grade range [G_lo, G_hi]
(SCIENCE.md §4; default the table's min and max, 1 and 7):

    eg_i = (G_hi - EG_i) / (G_hi - G_lo)        in [0, 1], 1 = best

* :func:`eg_index` -- one value per region per year (Tables 8-9): per-class pixel counts
  by one grouped count per year (:func:`cubeeco.ops.reduce.grouped_stat`), or per polygon
  the coverage-weighted mean grade by :func:`cubeeco.zonal_stats`;
* :func:`eg_moving_window` -- the same per pixel over a circular (or square) window of a
  radius in metres, lazy by ``map_overlap`` on the numba kernel
  :func:`cubeeco.kernels.eg.eg_window`;
* :func:`rsei_eg_overlay` -- the weighted overlay of Fig. 15: RSEI and EG each in three
  levels, code = 10·EG_level + RSEI_level (11 ... 33; 0 nodata);
* :func:`overlay_areas` -- area and share of each overlay code per year (one grouped count).

Pixels whose class has no grade (nodata, a code missing from the grade table, e.g. CLCD
6 snow / ice) are left out of both sums of Eq. 14: they are not land of a graded type.
Definitions, the table and the codes: docs/eg.md.
"""

from __future__ import annotations

import math

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

from ..kernels import eg as K
from ._checks import require_dataarray
from .reduce import grouped_stat

# CLCD class codes (cubeeco.synth.landscape.CLCD_CLASSES, cubeeco.ops.casa.CLCD_EPS_MAX)
# -> ecological grade of seed 000 Table 3.  CLCD 6 (snow / ice) has no grade in the study.
EG_GRADES: dict[int, float] = {
    5: 1,  # water body
    9: 1,  # wetland
    2: 2,  # forest
    3: 3,  # shrubland
    4: 4,  # grassland
    1: 5,  # cultivated land (CLCD cropland)
    8: 6,  # construction land (CLCD impervious)
    7: 7,  # barren land (incl. mine pits and dumps)
}

LEVEL_NAMES = {1: "low", 2: "medium", 3: "high"}
OVERLAY_CODES = tuple(10 * a + b for a in (1, 2, 3) for b in (1, 2, 3))
_TENS = ("eg", "rsei")


# ------------------------------------------------------------------ arguments
def _grade_table(grades, grade_range):
    table = dict(EG_GRADES if grades is None else grades)
    if not table:
        raise ValueError("grades is empty; pass {class code: grade}, e.g. cubeeco.ops.eg.EG_GRADES.")
    out = {}
    for code, g in table.items():
        if isinstance(code, bool) or not float(code).is_integer() or int(code) < 0:
            raise ValueError(f"grades keys must be non-negative integer class codes, got {code!r}.")
        g = float(g)
        if not math.isfinite(g):
            raise ValueError(f"grade of class {code} must be finite, got {g}.")
        out[int(code)] = g
    if max(out) > 65535:
        raise ValueError(f"class codes above 65535 are not supported (got {max(out)}).")
    if grade_range is None:
        lo, hi = min(out.values()), max(out.values())
    else:
        lo, hi = (float(v) for v in grade_range)
    return out, lo, hi


def _check_range(lo, hi, normalize):
    if normalize and not hi > lo:
        raise ValueError(f"normalising needs a grade range with high > low, got ({lo}, {hi}); pass grade_range= "
                         f"or normalize=False.")


def _lut(table):
    lut = np.full(max(table) + 1, np.nan)
    for code, g in table.items():
        lut[code] = g
    return lut


def _nodata(lulc, nodata):
    if nodata is None:
        nodata = lulc.attrs.get("nodata", lulc.attrs.get("_FillValue"))
    if nodata is None:
        return None
    nodata = float(nodata)
    return None if math.isnan(nodata) else nodata


def _lookup(codes, lut, nodata):
    """Grade of every pixel (float64, NaN: nodata, not an integer code, or no grade)."""
    codes = np.asarray(codes)
    if codes.dtype.kind == "f":
        ok = np.isfinite(codes) & (codes == np.floor(codes))
        idx = np.where(ok, codes, -1.0)
    else:
        ok = np.ones(codes.shape, bool)
        idx = codes
    ok &= (idx >= 0) & (idx < lut.size)
    if nodata is not None:
        ok &= codes != nodata
    return np.where(ok, lut[np.where(ok, idx, 0).astype(np.intp)], np.nan)


def _labels(lulc, n_groups, nodata):
    """Integer class codes for the grouped count; -1 for nodata and non-integer / NaN values."""
    return xr.apply_ufunc(_label_block, lulc, kwargs={"n_groups": n_groups, "nodata": nodata},
                          dask="parallelized", output_dtypes=[np.int32])


def _label_block(a, n_groups, nodata):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        ok = np.isfinite(a) & (a == np.floor(a)) & (a >= 0) & (a < n_groups)
    else:
        ok = (a >= 0) & (a < n_groups)
    if nodata is not None:
        ok &= a != nodata
    return np.where(ok, a, -1).astype(np.int32)


def _grid_dims(da, dims, name):
    dims = tuple(dims)
    if len(dims) != 2:
        raise ValueError(f"dims must name the two grid dimensions, e.g. ('y', 'x'); got {dims!r}.")
    missing = [d for d in dims if d not in da.dims]
    if missing:
        raise ValueError(f"{name} has no dimension(s) {missing}; its dimensions are {tuple(da.dims)}.")
    other = [d for d in da.dims if d not in dims]
    if len(other) > 1:
        raise ValueError(f"{name} must be {dims} or (year or time, *{dims}); it has the extra dimensions "
                         f"{tuple(other)}. Select or stack them first.")
    return dims, (other[0] if other else None)


def _years(da, layer_dim):
    """The year of each layer (int), or of the 2-D raster (its scalar time / year coordinate, else None)."""
    if layer_dim is None:
        for c in ("year", "time"):
            if c in da.coords and da[c].ndim == 0:
                v = da[c].values
                return [int(pd.Timestamp(v).year) if np.issubdtype(np.asarray(v).dtype, np.datetime64) else int(v)]
        return [None]
    if layer_dim not in da.coords:
        return list(range(da.sizes[layer_dim]))
    v = np.asarray(da[layer_dim].values)
    if np.issubdtype(v.dtype, np.datetime64):
        return [int(y) for y in pd.DatetimeIndex(v).year]
    if v.dtype.kind in "iu" or (v.dtype.kind == "f" and np.all(v == np.floor(v))):
        return [int(y) for y in v]
    return list(v)


def _step(da, dim):
    if dim not in da.coords or da.sizes[dim] < 2:
        try:
            import rioxarray  # noqa: F401

            res = da.rio.resolution()
            return abs(float(res[0] if dim == da.rio.x_dim else res[1]))
        except Exception:  # noqa: BLE001  (no transform to read a one-pixel axis from)
            raise ValueError(f"cannot tell the pixel size along {dim!r}: give it a regular coordinate of pixel "
                             f"centres (in metres) or a transform.") from None
    c = np.asarray(da[dim].values, dtype=np.float64)
    step = np.diff(c)
    if step[0] == 0 or not np.allclose(step, step[0], rtol=1e-6, atol=0.0):
        raise ValueError(f"the {dim!r} coordinate is not regularly spaced; reproject onto the analysis grid first.")
    return abs(float(step[0]))


def _projected_or_none(da):
    """False if the raster has a geographic CRS (steps in degrees), else True (metres assumed)."""
    try:
        import rioxarray  # noqa: F401

        crs = da.rio.crs
    except Exception:  # noqa: BLE001  (an unreadable grid mapping is "no CRS")
        crs = None
    return crs is None or bool(crs.is_projected)


def _pixel_km2(da, dims, strict):
    if not _projected_or_none(da):
        if strict:
            raise ValueError("areas need a projected CRS in metres; the raster's CRS is geographic.")
        return math.nan
    try:
        return _step(da, dims[0]) * _step(da, dims[1]) / 1e6
    except ValueError:
        if strict:
            raise
        return math.nan


def _normalise(eg_raw, lo, hi, normalize):
    return (hi - eg_raw) / (hi - lo) if normalize else eg_raw


# ------------------------------------------------------------------ EG index per region
def eg_index(lulc, *, grades=None, zones=None, dims=("y", "x"), nodata=None, grade_range=None,
             normalize=True, id_column=None, coverage="fraction"):
    """EG index (seed 000 Eq. 14) per region per year, normalised and inverted (Tables 8-9).

    Parameters
    ----------
    lulc : xarray.DataArray
        Class raster (y, x) or (year | time, y, x), integer (``nodata`` from the argument,
        else ``attrs["nodata"]`` / ``_FillValue``) or float (NaN missing), numpy or dask.
    grades : dict, optional
        {class code: grade}; default :data:`EG_GRADES` (CLCD codes, Table 3).  Codes absent
        from it (and nodata) count in neither sum of Eq. 14.
    zones : GeoDataFrame or path, optional
        Polygons: one row per polygon per year, A_ij as coverage-weighted areas
        (:func:`cubeeco.zonal_stats`, ``coverage`` and ``id_column`` passed on; the raster
        needs a CRS).  None: the whole raster is one region, ``"study_area"``.
    grade_range : (low, high), optional
        Range for the normalisation; default the grade table's (1, 7).
    normalize : bool
        True: ``eg = (high - EG) / (high - low)`` (1 best); False: ``eg`` is Eq. 14's EG.

    Returns
    -------
    pandas.DataFrame
        Columns ``year``, ``region``, ``eg``, ``eg_raw`` (Eq. 14), ``area_km2`` (graded area,
        NaN if the pixel size is unknown).  Computes (the result is a small table).
    """
    require_dataarray(lulc, "lulc")
    if lulc.dtype.kind not in "iuf":
        raise TypeError(f"lulc must be a class raster (integer, or float with NaN), got dtype {lulc.dtype}.")
    table, lo, hi = _grade_table(grades, grade_range)
    _check_range(lo, hi, normalize)
    dims, layer_dim = _grid_dims(lulc, dims, "lulc")
    nd = _nodata(lulc, nodata)
    lut = _lut(table)
    years = _years(lulc, layer_dim)
    attrs = {"grades": dict(table), "grade_range": (lo, hi), "normalized": bool(normalize),
             "definition": "eg = (high - EG) / (high - low), EG = sum(G_j A_j) / sum(A_j) over graded classes"
             if normalize else "EG = sum(G_j A_j) / sum(A_j) over graded classes"}
    if zones is not None:
        return _eg_zonal(lulc, zones, dims, layer_dim, years, lut, nd, lo, hi, normalize, id_column, coverage,
                         attrs)
    labels = _labels(lulc, lut.size, nd)
    ones = xr.ones_like(labels, dtype=np.float32)
    counts = grouped_stat(ones, labels, lut.size, "count", dims=dims)  # (layer?, group)
    (counts,) = dask.compute(counts)
    c = np.asarray(counts.values, dtype=np.float64).reshape(-1, lut.size)
    graded = ~np.isnan(lut)
    n_graded = c[:, graded].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = (c[:, graded] * lut[graded]).sum(axis=1) / n_graded
    raw = np.where(n_graded > 0, raw, np.nan)
    px = _pixel_km2(lulc, dims, strict=False)
    df = pd.DataFrame({"year": years, "region": "study_area", "eg": _normalise(raw, lo, hi, normalize),
                       "eg_raw": raw, "area_km2": n_graded * px})
    df.attrs.update(attrs)
    return df


def _eg_zonal(lulc, zones, dims, layer_dim, years, lut, nd, lo, hi, normalize, id_column, coverage, attrs):
    from .zonal import zonal_stats

    if dims != ("y", "x"):
        raise ValueError(f"eg_index with zones needs the grid dims ('y', 'x') (zonal_stats), got {dims!r}.")
    grade = _grade_da(lulc, lut, nd)
    if layer_dim is not None and layer_dim not in grade.coords:
        grade = grade.assign_coords({layer_dim: np.arange(grade.sizes[layer_dim])})
    df = zonal_stats(grade, zones, stats=("mean", "count"), coverage=coverage, id_column=id_column)
    id_name = id_column or "zone"
    n_layers = 1 if layer_dim is None else grade.sizes[layer_dim]
    n_poly = len(df) // n_layers
    raw = df["mean"].to_numpy(dtype=np.float64)
    px = _pixel_km2(lulc, dims, strict=False)
    out = pd.DataFrame({"year": np.tile(np.asarray(years, dtype=object), n_poly) if years != [None]
                        else [None] * len(df),
                        "region": df[id_name].to_numpy(), "eg": _normalise(raw, lo, hi, normalize), "eg_raw": raw,
                        "area_km2": df["count"].to_numpy(dtype=np.float64) * px})
    if all(isinstance(y, (int, np.integer)) for y in out["year"]):
        out["year"] = out["year"].astype(np.int64)
    if years != [None]:  # year-major like the whole-area table; zones keep their order within a year
        out = out.sort_values("year", kind="stable", ignore_index=True)
    out.attrs.update(attrs)
    out.attrs["coverage"] = coverage
    return out


def grade_raster(lulc, *, grades=None, nodata=None):
    """Per-pixel ecological grade (float32, NaN: nodata or a class without a grade); lazy for dask."""
    require_dataarray(lulc, "lulc")
    table, _, _ = _grade_table(grades, None)
    return _grade_da(lulc, _lut(table), _nodata(lulc, nodata))


def _grade_da(lulc, lut, nd):
    out = xr.apply_ufunc(_lookup32, lulc, kwargs={"lut": lut, "nodata": nd}, dask="parallelized",
                         output_dtypes=[np.float32])
    out.attrs = {"long_name": "ecological grade (seed 000 Table 3)", "units": "1"}
    return out.rename("grade")


def _lookup32(a, lut, nodata):
    return _lookup(a, lut, nodata).astype(np.float32)


# ------------------------------------------------------------------ moving window
def _window_block(block, *, lut, nodata, half, lo, hi, normalize, out_dtype):
    grade = _lookup(block, lut, nodata)
    n, m = grade.shape[-2:]
    out = np.empty(grade.shape, np.float64)
    if grade.size:
        scratch = np.empty((2, n, m + 1), np.float64)
        K.eg_window(grade, half, float(lo), float(hi), bool(normalize), scratch, out=out)
    return out.astype(out_dtype, copy=False)


def eg_moving_window(lulc, radius, *, grades=None, shape="circle", dims=("y", "x"), nodata=None,
                     grade_range=None, normalize=True, dtype=np.float32):
    """Per-pixel EG index (Eq. 14) over a window of ``radius`` metres, normalised and inverted.

    ``shape="circle"`` (default): the pixels whose centres lie within ``radius`` of the
    centre pixel's centre; ``"square"``: the (2R+1)² pixels with R = floor(radius / pixel
    size) per axis.  Every pixel has the same area, so A_ij is a pixel count.  Windows are
    clipped at the raster's edges (only the pixels inside count); a pixel whose own class
    has no grade (nodata, or absent from ``grades``) is NaN, and so is a window without any
    graded pixel.  Lazy on dask by ``map_overlap`` with depth = R pixels along each grid
    dim and no padding at the edges; the result does not depend on the chunking.
    Returns a ``dtype`` DataArray like ``lulc`` (name ``eg``).
    """
    require_dataarray(lulc, "lulc")
    if lulc.dtype.kind not in "iuf":
        raise TypeError(f"lulc must be a class raster (integer, or float with NaN), got dtype {lulc.dtype}.")
    if shape not in ("circle", "square"):
        raise ValueError(f"shape must be 'circle' or 'square', got {shape!r}.")
    radius = float(radius)
    if not math.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a finite distance >= 0 in metres, got {radius}.")
    if not _projected_or_none(lulc):
        raise ValueError("eg_moving_window needs a projected CRS (radius in metres); the raster's CRS is geographic.")
    table, lo, hi = _grade_table(grades, grade_range)
    _check_range(lo, hi, normalize)
    dims, layer_dim = _grid_dims(lulc, dims, "lulc")
    nd = _nodata(lulc, nodata)
    lut = _lut(table)
    sy, sx = _step(lulc, dims[0]), _step(lulc, dims[1])
    half = K.window_half_widths(radius, sy, sx, shape)
    ry, rx = (half.size - 1) // 2, int(half.max())
    order = ((layer_dim,) if layer_dim else ()) + dims
    da = lulc.transpose(*order)
    kw = {"lut": lut, "nodata": nd, "half": half, "lo": lo, "hi": hi, "normalize": normalize,
          "out_dtype": np.dtype(dtype)}
    data = da.data
    if isinstance(data, dsa.Array):
        depth = {data.ndim - 2: ry, data.ndim - 1: rx}
        if layer_dim:
            depth[0] = 0
        out = data.map_overlap(_window_block, depth=depth, boundary="none", trim=True, dtype=np.dtype(dtype),
                               meta=np.empty((0,) * data.ndim, np.dtype(dtype)), **kw)
    else:
        out = _window_block(np.asarray(data), **kw)
    res = xr.DataArray(out, dims=order, coords=da.coords, name="eg").transpose(*lulc.dims)
    res.attrs = {"long_name": "EG index, normalised and inverted (1 best)" if normalize else "EG index (Eq. 14)",
                 "units": "1", "radius_m": radius, "window": shape, "window_pixels": int((2 * half + 1).sum()),
                 "grade_range": (lo, hi), "normalized": int(bool(normalize))}
    return res


# ------------------------------------------------------------------ RSEI x EG overlay
def _edges(edges, name):
    e = tuple(float(v) for v in edges)
    if len(e) != 2 or not all(math.isfinite(v) for v in e) or not e[0] < e[1]:
        raise ValueError(f"{name} must be two finite increasing breaks (low|medium, medium|high), got {edges!r}.")
    return e


def _level(da, e):
    return 1 + (da > e[0]).astype(np.int8) + (da > e[1]).astype(np.int8)


def rsei_eg_overlay(rsei, eg, *, rsei_edges=(1 / 3, 2 / 3), eg_edges=(1 / 3, 2 / 3), tens="eg"):
    """Weighted overlay of RSEI and EG (seed 000 Fig. 15): int8 codes 11 ... 33, 0 nodata.

    Each index is reclassified into three levels, right-closed: level 1 for v <= e1, 2 for
    e1 < v <= e2, 3 for v > e2 (``*_edges`` = (e1, e2); both indices in [0, 1], higher
    better, EG as from :func:`eg_moving_window`).  Code = 10·EG_level + 1·RSEI_level
    ("EG×10", "RSEI×1" in the study; ``tens="rsei"`` swaps the digits), 0 where either
    is NaN.  33: both high (HH, best), 11: both low (LL, poorest).  ``rsei`` and ``eg`` must
    share their coordinates (exact alignment); they broadcast against each other.
    """
    require_dataarray(rsei, "rsei")
    require_dataarray(eg, "eg")
    for name, da in (("rsei", rsei), ("eg", eg)):
        if da.dtype.kind != "f":
            raise TypeError(f"{name} must be a float raster (NaN missing), got dtype {da.dtype}.")
    if tens not in _TENS:
        raise ValueError(f"tens must be one of {_TENS}, got {tens!r}.")
    re_, ee = _edges(rsei_edges, "rsei_edges"), _edges(eg_edges, "eg_edges")
    try:
        rsei, eg = xr.align(rsei, eg, join="exact")
    except ValueError as err:
        raise ValueError(f"rsei and eg must be on the same grid (same coordinates): {err}") from None
    rsei, eg = xr.broadcast(rsei, eg)
    lr, le = _level(rsei, re_), _level(eg, ee)
    first, second = (le, lr) if tens == "eg" else (lr, le)
    code = (10 * first + second).astype(np.int8)
    code = xr.where(rsei.notnull() & eg.notnull(), code, np.int8(0)).astype(np.int8)
    code = code.transpose(*rsei.dims).rename("overlay")
    a, b = ("EG", "RSEI") if tens == "eg" else ("RSEI", "EG")
    legend = {str(c): f"{a} {LEVEL_NAMES[c // 10]}, {b} {LEVEL_NAMES[c % 10]}" for c in OVERLAY_CODES}
    code.attrs = {
        "long_name": f"RSEI x EG overlay code (10 x {a} level + {b} level)",
        "nodata": 0, "tens": tens, "rsei_edges": re_, "eg_edges": ee,
        "flag_values": np.array(OVERLAY_CODES, dtype=np.int8),
        "flag_meanings": " ".join(f"{a.lower()}_{LEVEL_NAMES[c // 10]}_{b.lower()}_{LEVEL_NAMES[c % 10]}"
                                  for c in OVERLAY_CODES),
        "legend": legend,
    }
    return code


def overlay_areas(codes, *, dims=("y", "x")):
    """Area (km²) and share of each overlay code 11 ... 33 per year, by one grouped count.

    ``share`` is the code's area over the area of all coded pixels (codes != 0) of that
    year.  Columns ``year``, ``code``, ``eg_level``, ``rsei_level``, ``pixels``,
    ``area_km2``, ``share``; every one of the nine codes appears for every year.
    Needs the pixel size (regular x / y coordinates in metres).  Computes.
    """
    require_dataarray(codes, "codes")
    if codes.dtype.kind not in "iu":
        raise TypeError(f"codes must be an integer raster (rsei_eg_overlay), got dtype {codes.dtype}.")
    dims, layer_dim = _grid_dims(codes, dims, "codes")
    tens = codes.attrs.get("tens", "eg")
    px = _pixel_km2(codes, dims, strict=True)
    labels = codes.astype(np.int16) if codes.dtype.itemsize < 2 or codes.dtype.kind == "u" else codes
    ones = xr.ones_like(codes, dtype=np.float32)
    counts = grouped_stat(ones, labels, 34, "count", dims=dims)
    (counts,) = dask.compute(counts)
    c = np.asarray(counts.values, dtype=np.float64).reshape(-1, 34)
    sel = np.array(OVERLAY_CODES)
    cc = c[:, sel]
    total = cc.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, cc / total, np.nan)
    years = _years(codes, layer_dim)
    first, second = sel // 10, sel % 10
    eg_lvl, rs_lvl = (first, second) if tens == "eg" else (second, first)
    n = len(years)
    df = pd.DataFrame({
        "year": np.repeat(np.asarray(years, dtype=object), sel.size),
        "code": np.tile(sel, n), "eg_level": np.tile(eg_lvl, n), "rsei_level": np.tile(rs_lvl, n),
        "pixels": cc.reshape(-1).astype(np.int64), "area_km2": cc.reshape(-1) * px, "share": share.reshape(-1)})
    if all(isinstance(y, (int, np.integer)) for y in years):
        df["year"] = df["year"].astype(np.int64)
    df.attrs["units"] = {"area_km2": "km2", "share": "1"}
    df.attrs["nodata_pixels"] = [int(v) for v in c[:, 0]]
    return df


__all__ = ["EG_GRADES", "LEVEL_NAMES", "OVERLAY_CODES", "eg_index", "eg_moving_window", "grade_raster",
           "overlay_areas", "rsei_eg_overlay"]
