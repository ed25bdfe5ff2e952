"""Per-mine tables: what each mine did to NDVI and NPP, and when it opened and was restored.

Every number is a zonal statistic with fractional pixel coverage
(:func:`cubeeco.zonal_stats`, exactextract's definition) over the mine polygons, so a
mine smaller than a few pixels is still weighed correctly. Three tables:

* ``mine_summary``: one row per mine: its attributes from the zone file, area, NDVI in the
  first and last year, the detected opening (destruction) and restoration years (median
  over the mine's pixels that have one), the last year's MODIS NPP;
* ``mine_series``: one row per mine and year: mean NDVI, NPP and VCS;
* ``regional_series``: one row per year for the area inside all mines and outside them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from ..ops.zonal import zonal_stats

ID = "mine"


def _ids(mines: gpd.GeoDataFrame, id_column: str | None) -> gpd.GeoDataFrame:
    """The mines with one identifying column ``mine`` (``id_column``, else name, else row number)."""
    mines = mines.reset_index(drop=True)
    col = id_column or next((c for c in ("name", "mine_id", "id") if c in mines.columns), None)
    if col is not None and col not in mines.columns:
        raise ValueError(f"the mines have no column {col!r}; columns: {list(mines.columns)}.")
    ids = mines[col].astype(str) if col else pd.Series([f"mine {i + 1}" for i in range(len(mines))])
    if ids.duplicated().any():
        raise ValueError(f"mine ids repeat in column {col!r}: {sorted(ids[ids.duplicated()].unique())}.")
    return mines.assign(**{ID: ids.values})


def _per_year(da: xr.DataArray, zones, stat: str, name: str, coverage: str) -> pd.DataFrame:
    df = zonal_stats(da, zones, stats=(stat,), coverage=coverage, id_column=ID)
    df = df.rename(columns={stat: name})
    df["year"] = pd.to_datetime(df.pop("time")).dt.year
    return df[[ID, "year", name]]


def mine_tables(ndvi: xr.DataArray, disturbance: xr.Dataset | None, npp: xr.Dataset | None,
                mines: gpd.GeoDataFrame, *, id_column: str | None = None,
                coverage: str = "fraction") -> dict[str, pd.DataFrame]:
    """The three mine tables (see the module docstring); inputs lazy, on one grid."""
    mines = _ids(mines, id_column)
    zones = mines[[ID, "geometry"]]
    years = ndvi.time.dt.year.values
    series = _per_year(ndvi, zones, "mean", "ndvi_mean", coverage)
    units = {"year": "year", "ndvi_mean": "1", "area_km2": "km2"}
    if npp is not None:
        for var in ("npp", "vcs"):
            if var in npp:
                part = _per_year(npp[var], zones, "mean", f"{var}_mean", coverage)
                series = series.merge(part, on=[ID, "year"], how="left")
                units[f"{var}_mean"] = npp[var].attrs.get("units", "")

    area = zonal_stats(ndvi.isel(time=0, drop=True), zones, stats=("area",), coverage=coverage,
                       id_column=ID).rename(columns={"area": "area_km2"})
    attrs = mines.drop(columns="geometry")
    # the zone file's own columns keep their values; a name the table computes gets "_zones"
    computed = {"area_km2", "opened_detected", "restored_detected", "npp_last_year",
                f"ndvi_{years[0]}", f"ndvi_{years[-1]}"}
    attrs = attrs.rename(columns={c: f"{c}_zones" for c in attrs.columns if c in computed})
    summary = attrs.merge(area, on=ID)
    first, last = series[series.year == years[0]], series[series.year == years[-1]]
    summary = summary.merge(first[[ID, "ndvi_mean"]].rename(columns={"ndvi_mean": f"ndvi_{years[0]}"}), on=ID)
    summary = summary.merge(last[[ID, "ndvi_mean"]].rename(columns={"ndvi_mean": f"ndvi_{years[-1]}"}), on=ID)
    units.update({f"ndvi_{years[0]}": "1", f"ndvi_{years[-1]}": "1"})
    if disturbance is not None:
        for var, col in (("destruction_year", "opened_detected"), ("restoration_year", "restored_detected")):
            if var in disturbance:
                years_da = disturbance[var]
                had = years_da.where(years_da > 0).astype(np.float64)
                med = zonal_stats(had, zones, stats=("median",), coverage=coverage, id_column=ID)
                summary = summary.merge(med.rename(columns={"median": col}), on=ID)
                units[col] = "year"
    if npp is not None and "npp" in npp:
        npp_last = series.dropna(subset=["npp_mean"]).groupby(ID)["npp_mean"].last()
        summary["npp_last_year"] = summary[ID].map(npp_last)
        units["npp_last_year"] = npp["npp"].attrs.get("units", "")

    inside = shapely.union_all(zones.geometry.values)
    box = shapely.box(*_bounds(ndvi))
    regions = gpd.GeoDataFrame({ID: ["inside mines", "outside mines"]},
                               geometry=[inside, box.difference(inside)], crs=zones.crs)
    regional = _per_year(ndvi, regions, "mean", "ndvi_mean", coverage)
    if npp is not None and "npp" in npp:
        regional = regional.merge(_per_year(npp["npp"], regions, "mean", "npp_mean", coverage),
                                  on=[ID, "year"], how="left")
    regional = regional.rename(columns={ID: "region"})

    out = {"mine_summary": summary, "mine_series": series, "regional_series": regional}
    descriptions = {"mine_summary": "per mine: area, NDVI first/last year, detected opening and restoration",
                    "mine_series": "per mine and year: coverage-weighted mean NDVI, NPP, VCS",
                    "regional_series": "per year: mean NDVI and NPP inside all mines and outside them"}
    for name, df in out.items():
        df.attrs["units"] = {c: u for c, u in units.items() if c in df.columns}
        df.attrs["description"] = descriptions[name]
    return out


def _bounds(da: xr.DataArray) -> tuple[float, float, float, float]:
    x, y = da.x.values, da.y.values
    dx, dy = abs(float(x[1] - x[0])), abs(float(y[1] - y[0]))
    return (float(x.min()) - dx / 2, float(y.min()) - dy / 2, float(x.max()) + dx / 2, float(y.max()) + dy / 2)
