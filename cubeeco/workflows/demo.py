"""``cubeeco demo``: the whole chain on the synthetic coal base, scored against its truth.

synthesize -> annual cube (Zarr) -> indices -> NDVI trend (Sen + Mann-Kendall) ->
disturbance years -> MODIS NPP and VCS -> land cover -> report with maps and tables.
Every stage writes one group of one Zarr store; the report compares results with
the planted truth so a reader sees at once whether the engine recovers it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import xarray as xr

from ..io.cube import open_land_cover, open_npp
from ..io.provenance import provenance
from ..io.search import search
from ..io.store import open_store, write_store
from ..progress import progress as progress_bar
from ..redact import redact_obj
from ..synth import preset, synthesize
from .annual import build_annual_cube
from .report import map_figure, markdown_table, series_figure, write_markdown


class _Timer:
    def __init__(self):
        self.stages: dict[str, float] = {}

    def stage(self, name):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.stages[name] = round(time.perf_counter() - self.t0, 2)

        return _Ctx()


DEMO_MARKER = ".cubeeco-demo"   # written first: the folder holds a demo cubeeco may rewrite


def _legacy_demo(out: Path) -> bool:
    """A demo folder written before the marker existed: only the demo's own entries."""
    own = {"data", "figures", "report.md", "summary.json", "cubeeco.zarr"}
    names = {p.name for p in out.iterdir()}
    return (out / "data" / "synth.json").exists() and all(
        n in own or n.startswith("cubeeco.zarr.") for n in names)


def _claim(out: Path) -> None:
    """``out`` must be new, empty, or an earlier demo's folder: the demo rewrites its own
    files (report.md, figures/, summary.json, the store), never a user's."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file; the demo needs a folder: choose another --out.")
    ours = ((out / DEMO_MARKER).exists() or _legacy_demo(out)) if out.is_dir() else True
    if not ours and any(out.iterdir()):
        raise FileExistsError(f"{out} is a non-empty folder that cubeeco demo did not create; "
                              f"choose a new or empty folder (e.g. --out {out / 'cubeeco-demo'}).")
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).touch()


def run_demo(out, *, preset_name: str = "demo", progress: bool = True) -> dict:
    """Run every analysis on the synthetic coal base; returns a summary dict."""
    import cubeeco

    from ..ops.indices import spectral_indices

    out = Path(out)
    _claim(out)
    data, store = out / "data", out / "cubeeco.zarr"
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    timer = _Timer()
    t_start = time.perf_counter()

    with timer.stage("synthesize"):
        synth = synthesize(preset(preset_name), data, progress=progress)
    config, grid = synth.config, synth.config.grid

    with timer.stage("annual_cube"):
        annual, items = build_annual_cube(source=data, grid=grid)
        annual = annual.merge(spectral_indices(annual, names=("ndvi", "wet", "ndbsi", "lst")))
        with progress_bar("annual cube -> Zarr", progress):
            write_store(annual, store, "annual", provenance=provenance(items=items, config=config.to_dict()))
        annual = open_store(store, "annual")

    with timer.stage("ndvi_trend"):
        trend = cubeeco.trend(annual["ndvi"], dim="time")
        with progress_bar("NDVI trend (Sen + Mann-Kendall) -> Zarr", progress):
            write_store(trend, store, "ndvi_trend", provenance=provenance(config={"input": "annual/ndvi"}))
        trend = open_store(store, "ndvi_trend")

    with timer.stage("disturbance"):
        dist = cubeeco.destruction_restoration_years(annual["ndvi"], threshold=0.2, dim="time")
        with progress_bar("disturbance years -> Zarr", progress):
            write_store(dist, store, "disturbance", provenance=provenance(config={"threshold": 0.2}))
        dist = open_store(store, "disturbance")

    with timer.stage("modis_npp"):
        modis_items = search("modis-17A3HGF-061", source=data, bbox=list(grid.lonlat_bounds()))
        npp = open_npp(modis_items, grid=grid)
        npp_ds = xr.Dataset({"npp": npp, "vcs": cubeeco.vcs(npp)})
        with progress_bar("MODIS NPP and VCS -> Zarr", progress):
            write_store(npp_ds, store, "modis_npp", provenance=provenance(items=modis_items))
        npp_ds = open_store(store, "modis_npp")

    with timer.stage("land_cover"):
        lc_items = search("synthetic-clcd", source=data)
        lc = open_land_cover(lc_items, grid=grid)
        write_store(lc.to_dataset(), store, "land_cover", provenance=provenance(items=lc_items))

    with timer.stage("report"):
        scores = _write_report(out, data, annual, trend, dist, npp_ds, config, figs, timer)

    summary = {"store": str(store), "report": str(out / "report.md"), "seconds": round(time.perf_counter() - t_start, 1),
               "stages": timer.stages, "scores": scores}
    (out / "summary.json").write_text(json.dumps(redact_obj(summary), indent=1))
    return summary


def _write_report(out, data, annual, trend, dist, npp_ds, config, figs, timer) -> dict:
    import geopandas as gpd

    truth = xr.open_zarr(data / "truth" / "truth.zarr")
    mines = gpd.read_file(data / "vectors" / "mines.geojson").to_crs(config.grid.crs)
    years = annual.time.dt.year.values
    ndvi = annual["ndvi"].load()
    slope = trend["slope"].load()
    true_slope = truth["ndvi_trend_true"].load()
    mined = truth["destruction_year"].values > 0

    water = truth["lulc_base"].values == 5    # NDVI of water is noise around a negative mean
    ok = np.isfinite(slope.values) & ~mined & ~water
    r_trend = float(np.corrcoef(slope.values[ok], true_slope.values[ok])[0, 1])
    bias = float(np.mean(slope.values[ok] - true_slope.values[ok]))
    detected = dist["destruction_year"].values
    true_d = truth["destruction_year"].values
    hit = np.abs(detected[mined].astype(int) - true_d[mined]) <= 1
    false_alarm = float(np.mean(detected[~mined] > 0))
    scores = {"ndvi_trend_pearson_r": round(r_trend, 4), "ndvi_trend_bias": round(bias, 6),
              "destruction_year_within_1yr": round(float(hit.mean()), 4),
              "destruction_false_alarm_rate": round(false_alarm, 5)}

    last, first = int(years[-1]), int(years[0])
    map_figure(figs / "ndvi.png", [
        (f"NDVI {first}", ndvi.sel(time=str(first)).squeeze(), {"cmap": "YlGn", "vmin": 0, "vmax": 0.7}),
        (f"NDVI {last}", ndvi.sel(time=str(last)).squeeze(), {"cmap": "YlGn", "vmin": 0, "vmax": 0.7}),
    ], mines, "Growing-season median NDVI")
    sig = trend["trend"].where(trend["p"] < 0.05, 0)
    map_figure(figs / "trend.png", [
        ("Sen slope of NDVI (yr⁻¹)", slope, {"cmap": "RdYlGn", "vmin": -0.02, "vmax": 0.02}),
        ("Planted NDVI trend (yr⁻¹)", true_slope, {"cmap": "RdYlGn", "vmin": -0.02, "vmax": 0.02}),
        ("Mann–Kendall trend (p < 0.05)", sig.assign_attrs(units="−1 / 0 / +1"), {"cmap": "RdYlGn", "vmin": -1, "vmax": 1}),
    ], mines, "NDVI trend")
    dy = dist["destruction_year"].where(dist["destruction_year"] > 0)
    map_figure(figs / "disturbance.png", [
        ("Detected destruction year", dy.assign_attrs(units="year"), {"cmap": "viridis"}),
        ("Planted destruction year", truth["destruction_year"].where(truth["destruction_year"] > 0).assign_attrs(units="year"), {"cmap": "viridis"}),
    ], mines, "Vegetation destruction by mining")

    rows = []
    mine_id = truth["mine_id"].values
    npp_vals = npp_ds["npp"].load()
    for _, m in mines.iterrows():
        inside = mine_id == m["mine_id"]
        det = detected[inside]
        det = det[det > 0]
        rows.append({
            "mine": m["name"], "area km²": round(float(inside.sum()) * 900 / 1e6, 2),
            "opened (planted)": int(m["open_year"]),
            "opened (detected, median)": int(np.median(det)) if det.size else "-",
            "restored (planted)": int(m["restoration_year"]) if m["restoration_year"] == m["restoration_year"] and m["restoration_year"] else "-",
            f"NDVI {first}": round(float(np.nanmean(ndvi.values[0][inside])), 3),
            f"NDVI {last}": round(float(np.nanmean(ndvi.values[-1][inside])), 3),
            f"MODIS NPP {int(npp_vals.time.dt.year[-1])} (gC m⁻²)": round(float(np.nanmean(npp_vals.values[-1][inside])), 1),
        })
    regional = {"NDVI outside mines": (years, [float(np.nanmean(v[~mined])) for v in ndvi.values]),
                "NDVI inside mines": (years, [float(np.nanmean(v[mined])) for v in ndvi.values])}
    series_figure(figs / "ndvi_series.png", regional, "NDVI", "Mean growing-season NDVI")
    npp_years = npp_vals.time.dt.year.values
    series_figure(figs / "npp_series.png", {
        "MODIS NPP, outside mines": (npp_years, [float(np.nanmean(v[~mined])) for v in npp_vals.values]),
        "MODIS NPP, inside mines": (npp_years, [float(np.nanmean(v[mined])) for v in npp_vals.values]),
        "planted NPP, inside mines": (truth.time.dt.year.values, [float(v[mined].mean()) for v in truth["npp_true"].values]),
    }, "g C m⁻² yr⁻¹", "Annual net primary production")

    lines = [
        "# cubeeco demo report — synthetic coal base", "",
        f"Extent {config.width_px} × {config.height_px} pixels at 30 m "
        f"({config.width_px * config.height_px * 900 / 1e6:.0f} km²), years {first}–{last}, "
        f"{len(mines)} open-pit mines. Store: `cubeeco.zarr` (groups annual, ndvi_trend, disturbance, modis_npp, land_cover).",
        "", "## Scores against the planted truth", "", markdown_table([scores]),
        "## Stage timings (s)", "", markdown_table([timer.stages]),
        "## Mines", "", markdown_table(rows),
        "## Maps", "", "![NDVI](figures/ndvi.png)", "", "![trend](figures/trend.png)", "",
        "![disturbance](figures/disturbance.png)", "", "## Time series", "",
        "![NDVI series](figures/ndvi_series.png)", "", "![NPP series](figures/npp_series.png)", "",
    ]
    write_markdown(out / "report.md", lines)
    return scores
