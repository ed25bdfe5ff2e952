"""Carbon storage of a coal base over time (study 004, Haerwusu): the land-cover cube recoded
to the study's mining classes, InVEST carbon per pixel and year, and the tables around it.

Study 004 classifies its own LULC with mining land, reclaimed and unreclaimed dumps; a
CLCD-like annual product has none of those. :func:`mining_land_cover` makes them from the
disturbance stage (study 002's detector): a pixel destroyed in a year is *mining land* that
year, a pixel vegetated again after a destruction is a *reclaimed dump*, and every other
pixel takes its CLCD class mapped onto study 004's Table 3 classes (:data:`CLCD_TO_STUDY004`).

:func:`storage_tables` turns the per-pixel storage into the tables a user of InVEST asks for
and InVEST does not give: the stock of every year by class and by mine, the change between
analysis years attributed to from-class -> to-class transitions with its reconciliation, and
a Monte-Carlo range of each year's total.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

# CLCD class -> study 004 Table 3 class (cubeeco/data/invest_carbon_study004.csv). Study 004
# has no shrub, bare, snow or wetland class: shrub takes forest's densities (woody cover),
# snow/ice and wetland take water's, natural bare land gets its own code 11 (not mining land:
# it is no part of the mining landscape of K_l) with mining land's densities (soil carbon only).
CLCD_TO_STUDY004 = {1: 5,   # cropland -> Cropland
                    2: 8,   # forest -> Forest
                    3: 8,   # shrub -> Forest
                    4: 7,   # grassland -> Grassland
                    5: 2,   # water -> Water body
                    6: 2,   # snow/ice -> Water body
                    7: 11,  # barren -> bare land (code 11, mining land's densities)
                    8: 6,   # impervious -> Residential land
                    9: 2}   # wetland -> Water body
MINING_LAND, RECLAIMED_DUMP, BARE_LAND = 4, 9, 11
STUDY004_NAMES = {1: "transportation land", 2: "water body", 3: "industrial land", 4: "mining land",
                  5: "cropland", 6: "residential land", 7: "grassland", 8: "forest", 9: "reclaimed dump",
                  10: "unreclaimed dump", 11: "bare land"}
FOREST_GRASS = (7, 8)   # study 004's "forest and grassland area" (F of Eq. 10)


def study004_pools() -> pd.DataFrame:
    """Study 004 Table 3 (t/ha) plus code 11, natural bare land, with mining land's densities
    (the study has no such class; :data:`CLCD_TO_STUDY004`)."""
    from ..ops.invest import example_pools

    table = example_pools()
    bare = table[table["lucode"] == MINING_LAND].assign(lucode=BARE_LAND, lulc_name="Bare land (mining land's densities)")
    return pd.concat([table, bare], ignore_index=True)


def mining_land_cover(land_cover: xr.DataArray, state: xr.DataArray | None = None, *,
                      mapping: dict | None = None, mined: int = MINING_LAND,
                      reclaimed: int = RECLAIMED_DUMP) -> xr.DataArray:
    """Study 004's classes per year from land cover and the disturbance ``state``.

    ``land_cover`` (time, y, x): class codes, 0 = nodata; ``mapping`` maps each of its codes
    to an output code (default :data:`CLCD_TO_STUDY004`; a code not in it is nodata). With
    ``state`` (the disturbance stage's per-year state: 1 vegetated, 0 destroyed, 2 never
    vegetated, -1 no data), a destroyed pixel becomes ``mined`` that year and a vegetated one
    after its first destruction becomes ``reclaimed``. Lazy; uint8, 0 = nodata.
    """
    mapping = CLCD_TO_STUDY004 if mapping is None else {int(k): int(v) for k, v in mapping.items()}
    if not mapping or any(not 0 < v < 256 for v in mapping.values()):
        raise ValueError(f"mapping must send classes to codes 1..255 (0 is nodata), got {mapping}.")
    lut = np.zeros(256, np.uint8)
    for k, v in mapping.items():
        if not 0 <= k < 256:
            raise ValueError(f"mapping: land-cover code {k} is outside 0..255.")
        lut[k] = v
    lc = land_cover.fillna(0).astype(np.int64).clip(0, 255)
    out = xr.apply_ufunc(lut.__getitem__, lc, dask="parallelized", output_dtypes=[np.uint8])
    if state is not None:
        if dict(state.sizes) != dict(land_cover.sizes):
            raise ValueError(f"state has sizes {dict(state.sizes)}, land_cover {dict(land_cover.sizes)}; "
                             "give both on the same years and grid.")
        state = state.assign_coords(time=land_cover.time.values)
        destroyed = state == 0
        # destroyed in this or an earlier year (cumulative along time, lazy)
        ever = destroyed.astype(np.int8).cumsum("time") > 0
        out = xr.where(destroyed & (out > 0), np.uint8(mined), out)
        out = xr.where(ever & ~destroyed & (state == 1) & (out > 0), np.uint8(reclaimed), out)
    out = out.astype(np.uint8)
    out.attrs = {"long_name": "land use / land cover, study 004 classes", "units": "1", "nodata": 0,
                 "flag_values": sorted(set(mapping.values()) | ({mined, reclaimed} if state is not None else set())),
                 "source": "CLCD classes mapped to study 004 Table 3; mining land and reclaimed dumps from "
                           "the disturbance state (study 002)"}
    return out


def _years(da) -> np.ndarray:
    t = da["time"]
    return np.asarray(t.dt.year.values if np.issubdtype(t.dtype, np.datetime64) else t.values, dtype=int)


def _long(da: xr.DataArray, name: str, names: dict | None = None) -> pd.DataFrame:
    df = da.to_dataframe(name).reset_index()
    if "time" in df:
        df.insert(0, "year", pd.to_datetime(df.pop("time")).dt.year if np.issubdtype(df["time"].dtype, np.datetime64)
                  else df.pop("time"))
    if names is not None and "lucode" in df:
        df.insert(df.columns.get_loc("lucode") + 1, "class", df["lucode"].map(names).fillna(""))
    return df


def storage_tables(lulc: xr.DataArray, pools, *, zones=None, zone_ids=None, transition_years=None,
                   pool_cv: float | None = 0.1, draws: int = 1000, seed: int = 0,
                   names: dict | None = None) -> dict[str, pd.DataFrame]:
    """Tables of a carbon-storage run: ``carbon_stock`` (year x class: area ha, stock t),
    ``carbon_stock_total`` (year: t, Mt, mean density t/ha, with the Monte-Carlo range),
    ``carbon_stock_mines`` (mine x year, when ``zones`` is given), ``carbon_transitions``
    (between consecutive ``transition_years``: from-class -> to-class areas and changes) and
    ``carbon_reconciliation`` (per period: stock(t1) - stock(t0) = sum of the transitions).

    ``pools``: a pools table (DataFrame or path; :func:`cubeeco.read_pools`). Without ``*_sd``
    columns, ``pool_cv`` (coefficient of variation of every pool density) gives the Monte-Carlo
    spread; None: no uncertainty columns.
    """
    from ..ops.invest import carbon_stock_series, carbon_transitions, carbon_uncertainty, read_pools

    names = STUDY004_NAMES if names is None else names
    table = read_pools(pools).frame.copy()
    years = _years(lulc)
    series = carbon_stock_series(lulc, table, nodata=0).compute()
    stock = _long(series["stock"], "stock_t", names)
    stock["area_ha"] = _long(series["area"], "area_ha")["area_ha"].to_numpy()
    stock.attrs = {"units": {"stock_t": "t", "area_ha": "ha"},
                   "description": "carbon stock per year and class (study 004 Table 5; InVEST carbon, t)"}
    total = pd.DataFrame({"year": years, "stock_t": series["total"].values})
    area = series["area"].sum("lucode").values
    total["stock_Mt"] = total["stock_t"] / 1e6
    total["area_ha"] = area
    total["mean_density_t_ha"] = total["stock_t"] / np.where(area > 0, area, np.nan)
    fg = series["area"].sel(lucode=[c for c in FOREST_GRASS if c in series.lucode.values]).sum("lucode").values
    total["forest_grass_ha"] = fg
    units = {"stock_t": "t", "stock_Mt": "Mt", "area_ha": "ha", "mean_density_t_ha": "t/ha", "forest_grass_ha": "ha"}
    if pool_cv is not None or any(c.endswith("_sd") for c in table.columns):
        if not any(c.endswith("_sd") for c in table.columns):
            for p in ("c_above", "c_below", "c_soil", "c_dead"):
                table[f"{p}_sd"] = float(pool_cv) * table[p]
        mc = carbon_uncertainty(lulc, table, n=draws, seed=seed, nodata=0)["total_percentile"].compute()
        for q in mc["percentile"].values:
            col = f"stock_p{q:g}_t".replace(".", "_")
            total[col] = mc.sel(percentile=q).values
            units[col] = "t"
    total.attrs = {"units": units, "description": "total carbon stock per year with its Monte-Carlo range "
                   f"({draws} draws, pool densities ~ N(mean, sd), seed {seed})"}
    out = {"carbon_stock": stock, "carbon_stock_total": total}
    if zones is not None:
        by = carbon_stock_series(lulc, table[[c for c in table.columns if not c.endswith("_sd")]], zones,
                                 zone_ids=zone_ids, nodata=0).compute()
        mines = by["stock"].sum("lucode").to_dataframe("stock_t").reset_index()
        mines["area_ha"] = by["area"].sum("lucode").to_dataframe("a")["a"].to_numpy()
        mines["year"] = _years(by.stock)[np.searchsorted(by.time.values, mines.pop("time").values)]
        mines = mines[["zone", "year", "stock_t", "area_ha"]]
        mines.attrs = {"units": {"stock_t": "t", "area_ha": "ha"}, "description": "carbon stock per mine and year"}
        out["carbon_stock_mines"] = mines
    tyears = sorted({int(y) for y in (transition_years or [years[0], years[-1]])})
    trans, recon = [], []
    for t0, t1 in zip(tyears[:-1], tyears[1:]):
        a = lulc.isel(time=int(np.flatnonzero(years == t0)[0]), drop=True)
        b = lulc.isel(time=int(np.flatnonzero(years == t1)[0]), drop=True)
        tr = carbon_transitions(a, b, table, nodata=0).compute()
        df = tr[["stock_t0", "stock_t1", "change", "area"]].to_dataframe().reset_index()
        df = df[df["area"] > 0]
        df.insert(0, "period", f"{t0}-{t1}")
        for side in ("from_class", "to_class"):
            df.insert(df.columns.get_loc(side) + 1, side.replace("class", "name"),
                      df[side].map({**names, -1: "nodata"}).fillna(""))
        trans.append(df.rename(columns={"stock_t0": "stock_t0_t", "stock_t1": "stock_t1_t", "change": "change_t",
                                        "area": "area_ha"}))
        recon.append({"period": f"{t0}-{t1}", "total_t0_t": float(tr["total_t0"]), "total_t1_t": float(tr["total_t1"]),
                      "net_change_t": float(tr["net_change"]), "sum_of_transitions_t": float(tr["sum_of_transitions"]),
                      "residual_t": float(tr["residual"])})
    transitions = pd.concat(trans, ignore_index=True) if trans else pd.DataFrame()
    transitions.attrs = {"units": {c: ("ha" if c == "area_ha" else "t") for c in transitions.columns if c.endswith(("_t", "_ha"))},
                         "description": "carbon change by from-class -> to-class transition between analysis years"}
    reconciliation = pd.DataFrame(recon)
    reconciliation.attrs = {"units": {c: "t" for c in reconciliation.columns if c.endswith("_t")},
                            "description": "stock(t1) - stock(t0) = sum of the transitions (residual: rounding only)"}
    out["carbon_transitions"] = transitions
    out["carbon_reconciliation"] = reconciliation
    return out


__all__ = ["CLCD_TO_STUDY004", "FOREST_GRASS", "STUDY004_NAMES", "mining_land_cover", "storage_tables", "study004_pools"]
