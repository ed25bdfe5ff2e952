"""The Pingshuo tables (study 001, Fu et al. 2022): what mining and reclamation did to NPP.

From an annual NPP cube, the land cover, the disturbance of each pixel and the mine
polygons, for a list of analysis years (the study's 2006, 2010, 2016, 2020):

* ``npp_mine`` (Table 2): mean NPP of each mine in each year;
* ``npp_change_classes`` (Table 1): area and share of the NPP change between consecutive
  analysis years in the study's classes < -10, -10~0, 0, 0~10, 10~30, > 30;
* ``npp_land_use`` (Table 3): mean NPP and area by land-use type, with reclaimed land
  (restored pixels, by their land-cover class) and unreclaimed (destroyed) land apart;
* ``npp_mining_change`` (Table 4): new mining and newly reclaimed area between analysis
  years and the change of mean NPP inside the mines;
* ``npp_rings`` (§3.5, Fig. 7): mean NPP in 200 m rings out to 1 km outside the mines'
  boundaries, and its change from the ring inside.

Study 001 reports NPP in g C m-2 month-1: the tables give the year's mean monthly NPP
(annual NPP / 12) in that unit, so they read like the study's.  Areas are in ha (hm², as
the study) from the grid's pixel area.  Every aggregation is one lazy pass (grouped moments,
a bincount, zonal statistics with fractional coverage).
"""

from __future__ import annotations

import dask.array as dsa
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from ..kernels import groupby as GB
from ..ops.reduce import grouped_moments
from ..ops.zonal import rings, zonal_stats

MONTHLY = "g C m-2 month-1"
# study 001 Table 1: NPP change classes, g C m-2 month-1 ("0" is no change at all)
CHANGE_CLASSES = ("< -10", "-10~0", "0", "0~10", "10~30", "> 30")
CLCD_NAMES = {1: "cropland", 2: "forest", 3: "shrubland", 4: "grassland", 5: "water", 6: "snow/ice",
              7: "barren", 8: "impervious", 9: "wetland"}
UNDISTURBED, RECLAIMED, DESTROYED = 0, 1, 2
_N_CLASSES = 16        # land-cover codes 0..15 per status block


def _pixel_area_ha(da: xr.DataArray) -> float:
    dx, dy = abs(float(da.x[1] - da.x[0])), abs(float(da.y[1] - da.y[0]))
    return dx * dy / 1e4


def _year_index(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.time.dt.year.values if np.issubdtype(da.time.dtype, np.datetime64) else da.time.values)


def _select_years(da: xr.DataArray, years) -> xr.DataArray:
    have = _year_index(da)
    years = list(have) if years is None else [int(y) for y in years]
    missing = [y for y in years if y not in have]
    if missing:
        raise ValueError(f"{da.name or 'the array'} has no year(s) {missing}; it has {list(have)}.")
    return da.isel(time=[int(np.flatnonzero(have == y)[0]) for y in years])


def monthly_mean_npp(npp: xr.DataArray) -> xr.DataArray:
    """Annual NPP (g C m-2 yr-1) as the year's mean monthly NPP (g C m-2 month-1, study 001)."""
    units = str(npp.attrs.get("units", "g C m-2 yr-1")).replace(" ", "")
    if units in ("gCm-2month-1",):
        return npp
    if units not in ("gCm-2yr-1", "gCm-2a-1"):
        raise ValueError(f"npp has units {npp.attrs.get('units')!r}; expected g C m-2 yr-1.")
    return (npp / 12.0).assign_attrs({**npp.attrs, "units": MONTHLY,
                                      "long_name": "mean monthly NPP (annual / 12)"})


def change_class_codes(delta):
    """Study 001 Table 1 class of an NPP change (0..5 in CHANGE_CLASSES order); -1 where NaN."""
    d = np.asarray(delta, dtype=np.float64)
    out = np.select([d < -10, d < 0, d == 0, d <= 10, d <= 30, d > 30], [0, 1, 2, 3, 4, 5], -1)
    return out.astype(np.int64)


def npp_change_classes(npp_m: xr.DataArray) -> pd.DataFrame:
    """Area (ha) and share (%) of each NPP-change class between consecutive years (Table 1)."""
    years = _year_index(npp_m)
    area = _pixel_area_ha(npp_m)
    rows, counts = [], []
    for a, b in zip(range(len(years) - 1), range(1, len(years))):
        delta = npp_m.isel(time=b) - npp_m.isel(time=a)
        data = delta.data if isinstance(delta.data, dsa.Array) else dsa.from_array(delta.values)
        codes = data.map_blocks(change_class_codes, dtype=np.int64)
        counts.append(dsa.bincount(codes.ravel() + 1, minlength=len(CHANGE_CLASSES) + 1))
        rows.append(f"{years[a]}-{years[b]}")
    counts = dsa.compute(*counts) if counts else []
    out = []
    for period, c in zip(rows, counts):
        valid = c[1:].sum()
        for k, name in enumerate(CHANGE_CLASSES):
            out.append({"period": period, "change_class": name, "area_ha": c[k + 1] * area,
                        "share_pct": 100.0 * c[k + 1] / valid if valid else np.nan})
    df = pd.DataFrame(out, columns=["period", "change_class", "area_ha", "share_pct"])
    df.attrs["units"] = {"area_ha": "ha", "share_pct": "%"}
    df.attrs["description"] = ("area of each NPP-change class between consecutive analysis years "
                               f"(study 001 Table 1; change in {MONTHLY})")
    return df


def _reclaimed(state, destruction_year, year: int):
    # vegetated again after a destruction: restored (in any later cycle too)
    return (state == 1) & (destruction_year > 0) & (destruction_year < year)


def land_use_status(land_cover, state, destruction_year, year: int):
    """Group label per pixel in ``year``: the land-cover class when undisturbed, 16 + class
    when reclaimed (vegetated again after a destruction), 32 when destroyed (unreclaimed);
    -1 nodata."""
    lc = land_cover.astype(np.int64)
    restored = _reclaimed(state, destruction_year, year)
    label = xr.where(state == 0, DESTROYED * _N_CLASSES,
                     xr.where(restored, RECLAIMED * _N_CLASSES + lc, lc))
    return xr.where((lc > 0) & (lc < _N_CLASSES), label, -1).astype(np.int64)


def npp_land_use(npp_m, land_cover, state, destruction_year) -> pd.DataFrame:
    """Mean NPP and area by land-use type per year, reclaimed and destroyed land apart (Table 3)."""
    years = _year_index(npp_m)
    n_groups = 3 * _N_CLASSES
    tables = []
    for k, year in enumerate(years):
        labels = land_use_status(land_cover.isel(time=k, drop=True), state.isel(time=k, drop=True),
                                 destruction_year, int(year))
        tables.append(grouped_moments(npp_m.isel(time=k, drop=True), labels, n_groups, dims=("y", "x")).data)
    tables = dsa.compute(*tables) if isinstance(tables[0], dsa.Array) else tables
    area = _pixel_area_ha(npp_m)
    out = []
    for year, t in zip(years, tables):
        t = np.asarray(t)
        for g in range(n_groups):
            n = t[GB.N, g]
            if n == 0:
                continue
            status, code = divmod(g, _N_CLASSES)
            name = CLCD_NAMES.get(code, f"class {code}")
            land_use = {UNDISTURBED: name, RECLAIMED: f"reclaimed {name}", DESTROYED: "unreclaimed (destroyed)"}[status]
            out.append({"year": int(year), "land_use": land_use, "npp_mean": t[GB.MEAN, g], "area_ha": n * area})
    df = pd.DataFrame(out, columns=["year", "land_use", "npp_mean", "area_ha"])
    df.attrs["units"] = {"year": "year", "npp_mean": MONTHLY, "area_ha": "ha"}
    df.attrs["description"] = "mean NPP and area by land-use type; reclaimed and destroyed land apart (study 001 Table 3)"
    return df


def npp_mine(npp_m, mines: gpd.GeoDataFrame, id_column: str, coverage: str = "fraction") -> pd.DataFrame:
    """Mean NPP of each mine in each year (Table 2)."""
    df = zonal_stats(npp_m, mines[[id_column, "geometry"]], stats=("mean",), coverage=coverage, id_column=id_column)
    df["year"] = _years_of_column(df.pop("time"))
    df = df.rename(columns={"mean": "npp_mean"})[[id_column, "year", "npp_mean"]]
    df.attrs["units"] = {"year": "year", "npp_mean": MONTHLY}
    df.attrs["description"] = "coverage-weighted mean NPP of each mine per analysis year (study 001 Table 2)"
    return df


def _years_of_column(col: pd.Series) -> pd.Series:
    return pd.to_datetime(col).dt.year if not np.issubdtype(col.dtype, np.integer) else col


def npp_mining_change(npp_m, state, destruction_year, mines: gpd.GeoDataFrame,
                      coverage: str = "fraction") -> pd.DataFrame:
    """New mining area, newly reclaimed area and the change of mean NPP in the mines (Table 4)."""
    years = _year_index(npp_m)
    area = _pixel_area_ha(npp_m)
    sums = []
    for a, b in zip(range(len(years) - 1), range(1, len(years))):
        s0, s1 = state.isel(time=a, drop=True), state.isel(time=b, drop=True)
        new_mining = ((s1 == 0) & (s0 == 1)).sum()   # vegetated then destroyed (nodata, bare land: not mining)
        newly_reclaimed = (_reclaimed(s1, destruction_year, int(years[b]))
                           & ~_reclaimed(s0, destruction_year, int(years[a]))).sum()
        sums.append((new_mining.data, newly_reclaimed.data))
    sums = dsa.compute(*sums)
    union = gpd.GeoDataFrame({"zone": ["all mines"]}, geometry=[shapely.union_all(mines.geometry.values)],
                             crs=mines.crs)
    means = zonal_stats(npp_m, union, stats=("mean",), coverage=coverage, id_column="zone")["mean"].to_numpy()
    out = [{"period": f"{years[a]}-{years[a + 1]}", "new_mining_ha": float(m) * area,
            "new_reclaimed_ha": float(r) * area, "npp_change": means[a + 1] - means[a]}
           for a, (m, r) in enumerate(sums)]
    df = pd.DataFrame(out, columns=["period", "new_mining_ha", "new_reclaimed_ha", "npp_change"])
    df.attrs["units"] = {"new_mining_ha": "ha", "new_reclaimed_ha": "ha", "npp_change": MONTHLY}
    df.attrs["description"] = ("new mining (destroyed) and newly reclaimed area between analysis years, and the "
                               "change of mean NPP inside the mines (study 001 Table 4)")
    return df


def npp_rings(npp_m, mines: gpd.GeoDataFrame, *, width: float = 200.0, n: int = 5,
              coverage: str = "fraction") -> pd.DataFrame:
    """Mean NPP in ``n`` rings of ``width`` m outside the mines' joint boundary, per year (§3.5)."""
    union = gpd.GeoDataFrame({"zone": ["all mines"]}, geometry=[shapely.union_all(mines.geometry.values)],
                             crs=mines.crs)
    bands = rings(union, width=width, n=n, id_column="zone")
    bands = bands.assign(band=[f"{int(a)}-{int(b)} m" for a, b in zip(bands.inner_m, bands.outer_m)])
    df = zonal_stats(npp_m, bands[["band", "geometry"]], stats=("mean",), coverage=coverage, id_column="band")
    df["year"] = _years_of_column(df.pop("time"))
    meta = bands.set_index("band")
    df["ring"] = df["band"].map(meta["ring"]).astype(int)
    df["inner_m"], df["outer_m"] = df["band"].map(meta["inner_m"]), df["band"].map(meta["outer_m"])
    df = df.rename(columns={"mean": "npp_mean"}).sort_values(["year", "ring"]).reset_index(drop=True)
    df["npp_change_from_inner"] = df.groupby("year")["npp_mean"].diff()
    df = df[["year", "ring", "inner_m", "outer_m", "npp_mean", "npp_change_from_inner"]]
    df.attrs["units"] = {"year": "year", "inner_m": "m", "outer_m": "m", "npp_mean": MONTHLY,
                         "npp_change_from_inner": MONTHLY}
    df.attrs["description"] = (f"mean NPP in {int(width)} m rings out to {int(width * n)} m outside the mines' "
                               "boundary, and its change from the ring inside (study 001 §3.5, Fig. 7)")
    return df


def npp_tables(npp, land_cover, disturbance: xr.Dataset, mines: gpd.GeoDataFrame, *, years=None,
               id_column: str = "mine", coverage: str = "fraction", ring_width: float = 200.0,
               n_rings: int = 5) -> dict[str, pd.DataFrame]:
    """The five Pingshuo tables (module docstring) for the analysis ``years`` (default all).

    ``npp`` (time, y, x) annual NPP in g C m-2 yr-1; ``land_cover`` (time, y, x) classes;
    ``disturbance`` the disturbance group (``state`` per year: 1 vegetated, 0 destroyed;
    ``destruction_year``, the first); a pixel vegetated again after its first destruction
    counts as reclaimed;
    ``mines`` polygons in the grid's CRS with ``id_column``.
    """
    npp_m = monthly_mean_npp(_select_years(npp, years))
    sel = _year_index(npp_m)
    lc = _select_years(land_cover, sel)
    state = _select_years(disturbance["state"], sel)
    destruction = disturbance["destruction_year"]
    out = {
        "npp_mine": npp_mine(npp_m, mines, id_column, coverage),
        "npp_change_classes": npp_change_classes(npp_m),
        "npp_land_use": npp_land_use(npp_m, lc, state, destruction),
        "npp_mining_change": npp_mining_change(npp_m, state, destruction, mines, coverage),
        "npp_rings": npp_rings(npp_m, mines, width=ring_width, n=n_rings, coverage=coverage),
    }
    return out
