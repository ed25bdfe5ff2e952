"""``cubeeco demo``: the built-in pipeline config on the synthetic coal base, scored against its truth.

The chain itself is a config (``cubeeco/workflows/configs/demo.yaml``, copied into the
demo folder as ``demo.yaml``): synthesize -> annual cube -> indices -> NDVI trend ->
disturbance years -> MODIS NPP and VCS -> land cover -> per-mine tables -> report. What
is demo-specific lives here: the scores against the planted truth, and their section of
the report.
"""

from __future__ import annotations

import json
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from ..io.store import open_store
from ..redact import redact_obj

DEMO_MARKER = ".cubeeco-demo"   # written first: the folder holds a demo cubeeco may rewrite


def demo_config_text() -> str:
    """The built-in demo config (YAML)."""
    return files("cubeeco.workflows").joinpath("configs/demo.yaml").read_text()


def _legacy_demo(out: Path) -> bool:
    """A demo folder written before the marker existed: only the demo's own entries."""
    own = {"data", "figures", "report.md", "summary.json", "cubeeco.zarr"}
    names = {p.name for p in out.iterdir()}
    return (out / "data" / "synth.json").exists() and all(
        n in own or n.startswith("cubeeco.zarr.") for n in names)


def _claim(out: Path) -> None:
    """``out`` must be new, empty, or an earlier demo's folder: the demo rewrites its own
    files (demo.yaml, report.html, summary.json, the store), never a user's."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file; the demo needs a folder: choose another --out.")
    ours = ((out / DEMO_MARKER).exists() or _legacy_demo(out)) if out.is_dir() else True
    if not ours and any(out.iterdir()):
        raise FileExistsError(f"{out} is a non-empty folder that cubeeco demo did not create; "
                              f"choose a new or empty folder (e.g. --out {out / 'cubeeco-demo'}).")
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).touch()


def study004_years(span) -> list[int]:
    """Study 004's analysis years (2007, 2012, 2017, 2022) when ``span`` covers them, else four
    years spread evenly over ``span`` (first and last included)."""
    first, last = int(span[0]), int(span[1])
    if first <= 2007 and last >= 2022:
        return [2007, 2012, 2017, 2022]
    return sorted({int(round(first + k * (last - first) / 3)) for k in range(4)})


def demo_config(out: Path, preset_name: str = "demo"):
    """The demo's RunConfig, its YAML written to ``out/demo.yaml`` (the preset substituted)."""
    from ..pipeline.config import load_config
    from ..synth.config import preset

    data = yaml.safe_load(demo_config_text())
    data["synth"]["preset"] = preset_name
    # CASA needs scenes through the year: the preset's monthly years (else its last year)
    base = preset(preset_name)
    data["params"]["monthly_ndvi"]["years"] = [int(y) for y in base.monthly_years] or [int(base.years[1])]
    # study 004's years where the preset covers them, else four years spread over the preset's
    study = study004_years(base.years)
    for name, key in (("carbon_storage", "transition_years"), ("landscape", "years"), ("carbon_contribution", "years")):
        data["params"][name][key] = study
    data["params"]["landscape_windows"]["year"] = study[-1]
    path = out / "demo.yaml"
    header = "".join(line + "\n" for line in demo_config_text().splitlines() if line.startswith("#"))
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return load_config(path)


def run_demo(out, *, preset_name: str = "demo", progress: bool = True) -> dict:
    """Run the demo config in ``out``, score it against the planted truth; returns a summary."""
    from ..pipeline.api import write_run_report
    from ..pipeline.run import run

    out = Path(out)
    _claim(out)
    t_start = time.perf_counter()
    config = demo_config(out, preset_name)
    reports = run(config, progress=progress)
    store = config.path(config.store)
    t0 = time.perf_counter()
    scores = score_against_truth(store, config.path(config.synth.out))
    stages = {r.stage: r.seconds for r in reports}
    summary = {"store": str(store), "report": str(config.report_path()),
               "tables": str(Path(str(store) + ".tables")), "scores": scores, "stages": stages}
    write_run_report(config, extra_sections=[_scores_section(scores, config.path(config.synth.out))],
                     summary={"preset": preset_name, **scores})
    stages["score_and_report"] = round(time.perf_counter() - t0, 2)
    summary["seconds"] = round(time.perf_counter() - t_start, 1)
    (out / "summary.json").write_text(json.dumps(redact_obj(summary), indent=1))
    return summary


def score_against_truth(store: Path, data: Path) -> dict:
    """How well the run recovers what the synthetic base planted.

    * NDVI trend: Pearson r and mean bias of the Sen slope against the planted trend,
      outside mines and water (NDVI of water is noise around a negative mean);
    * disturbance (study 002): share of the planted destroyed pixels (truth ``target``)
      whose detected destruction year is within one year of the planted one, the same for
      the restored pixels and their restoration year, and the false-alarm rate outside mines;
    * VCSD per mine (study 002 Eq. 5): the largest relative error against the planted VCSD;
    * CASA NPP (study 001): Pearson r, R² and RMSE against the planted NPP at 45 random
      "field" points per modelled year, as the study validated against 45 plots.
    """
    truth = xr.open_zarr(data / "truth" / "truth.zarr")
    slope = open_store(store, "ndvi_trend")["slope"].values
    true_slope = truth["ndvi_trend_true"].values
    true_d = truth["destruction_year"].values
    mined = true_d > 0
    target = truth["target"].values > 0 if "target" in truth else mined
    water = truth["lulc_base"].values == 5
    ok = np.isfinite(slope) & ~mined & ~water
    dist = open_store(store, "disturbance")
    detected = dist["destruction_year"].values
    hit = np.abs(detected[target].astype(int) - true_d[target]) <= 1
    scores = {"ndvi_trend_pearson_r": round(float(np.corrcoef(slope[ok], true_slope[ok])[0, 1]), 4),
              "ndvi_trend_bias": round(float(np.mean(slope[ok] - true_slope[ok])), 6),
              "destruction_year_within_1yr": round(float(hit.mean()), 4),
              "destruction_false_alarm_rate": round(float(np.mean(detected[~mined] > 0)), 5)}
    true_r = truth["restoration_year"].values
    restored = target & (true_r > 0)
    if restored.any():
        got = dist["restoration_year"].values[restored].astype(int)
        scores["restoration_year_within_1yr"] = round(float(np.mean(np.abs(got - true_r[restored]) <= 1)), 4)
    scores.update(_vcsd_scores(store, data))
    scores.update(_casa_scores(store, truth))
    scores.update(_storage_scores(store, truth))
    return scores


def _storage_scores(store: Path, truth: xr.Dataset) -> dict:
    """Study 004's carbon stock per year against the stock of the planted land cover (the truth
    classes, destroyed pixels as mining land, restored ones as reclaimed dumps), same pools: the
    largest relative error over the years. Empty without a carbon_storage stage."""
    from ..io.store import is_complete
    from ..io.tables import open_table
    from ..ops.invest import carbon_stock_series
    from ..synth.landscape import BARREN, GRASSLAND
    from .carbon_storage import mining_land_cover, study004_pools

    if not is_complete(store, "carbon_storage"):
        return {}
    got = open_table(store, "carbon_stock_total").set_index("year")["stock_t"]
    base = truth["lulc_base"].values
    d, r = truth["destruction_year"].values, truth["restoration_year"].values
    lcs, states = [], []
    for y in got.index:
        destroyed = (d > 0) & (d <= y) & ~((r > 0) & (r <= y))
        lc = np.where((d > 0) & (d <= y), BARREN, base)
        lc = np.where((r > 0) & (r + 2 <= y), GRASSLAND, lc)   # the synthetic land cover's rule
        lcs.append(lc)
        states.append(np.where(destroyed, np.int8(0), np.int8(1)))
    coords = {"time": np.array([f"{y}-01-01" for y in got.index], "datetime64[ns]"), "y": truth.y, "x": truth.x}
    lulc = mining_land_cover(xr.DataArray(np.stack(lcs).astype(np.uint8), dims=("time", "y", "x"), coords=coords),
                             xr.DataArray(np.stack(states).astype(np.int8), dims=("time", "y", "x"), coords=coords))
    want = carbon_stock_series(lulc, study004_pools(), nodata=0)["total"].values   # the demo's pools
    rel = (got.to_numpy() - want) / want
    return {"carbon_stock_max_relative_error": round(float(np.abs(rel).max()), 4)}


def _vcsd_scores(store: Path, data: Path) -> dict:
    """VCSD per mine against two planted references (study 002 Eq. 5):

    * ``vcsd_*``: Eqs. 3-5 applied to the planted VCS with the planted destruction and
      restoration years over the run's MODIS years -- what a perfect detection and a perfect
      Eq. 1 would give, so the score measures the chain, not the method;
    * ``vcsd_counterfactual_*``: the planted exact counterfactual (the VCS each pixel would
      have had if never mined, ``truth/vcsd_per_mine.csv``), which also measures how far the
      regression of Eqs. 3-4 extrapolates from the years before destruction;
    * ``vcsd_detected_years_max_relative_error``: Eqs. 3-5 on the planted VCS with the
      *detected* years against the same with the planted years -- the share of the error
      that dating alone costs (noise on dark pits, SLC-off gaps: docs/synthetic.md), booked
      cycle by cycle from the detected state as the pipeline books it;
    * ``vcsd_max_error_in_se``: the largest |error| per mine in units of that mine's
      ``VCSD_se_Gg`` (MOD17's retrieval error alone, so dating and Eq. 1 biases show as > 2);
    * ``vcsd_noise_free_max_relative_error``: the run's own chain (its detected state, its
      scaled_npp and vcs_accounting parameters, kriged NPP_bg) on the MOD17 the base wrote
      *before* retrieval noise (``truth/mod17_noise_free.zarr``), against the planted value:
      the error of the method, without what MOD17's noise costs.
    """
    import pandas as pd

    from ..io.tables import list_tables, open_table
    from ..ops.vcs import vcs_accounting

    if "vcs_mines" not in list_tables(store):
        return {}
    table = open_table(store, "vcs_mines").set_index("mine")
    got = table["VCSD_Gg"]
    truth = xr.open_zarr(data / "truth" / "truth.zarr")
    years = open_store(store, "scaled_npp").time.dt.year.values
    vcs = truth["vcs_true"].isel(time=np.isin(truth.time.dt.year.values, years)).chunk({"time": -1})
    td = truth["destruction_year"].where(truth["destruction_year"] > 0, -1).astype("int32")
    tr = truth["restoration_year"].where(truth["restoration_year"] > 0, -1).astype("int32")
    mines = pd.read_csv(data / "truth" / "vcsd_per_mine.csv")
    names = dict(zip(mines["mine_id"], mines["name"]))
    acc = vcs_accounting(vcs, td, tr, zones=truth["mine_id"].astype("int32"), n_zones=int(max(names)))
    planted = acc.by_zone["VCSD_Gg"].rename(index=names)
    missing = sorted(set(planted.index) - set(got.index))
    if missing:
        raise ValueError(f"the run's vcs_mines table lacks the planted mine(s) {missing}.")
    got = got.reindex(planted.index)
    rel = (got - planted) / planted
    se = table["VCSD_se_Gg"].reindex(planted.index) if "VCSD_se_Gg" in table else None
    counter = mines.set_index("name")["vcsd_gg_co2"]
    rel_c = (got.reindex(counter.index) - counter) / counter
    dist = open_store(store, "disturbance")
    dd, dr = (td.copy(data=dist[v].fillna(-1).where(dist[v] > 0, -1).astype("int32").values)
              for v in ("destruction_year", "restoration_year"))
    dated = vcs_accounting(vcs, dd, dr, state=dist["state"], zones=truth["mine_id"].astype("int32"),
                           n_zones=int(max(names))).by_zone["VCSD_Gg"].rename(index=names)
    rel_d = (dated - planted) / planted
    out = {} if se is None else {
        # the largest error in units of the mine's own standard error (MOD17's retrieval error only)
        "vcsd_max_error_in_se": round(float(((got - planted).abs() / se).max()), 2)}
    noise_free = _noise_free_vcsd(store, data, truth["mine_id"].astype("int32"), int(max(names)))
    if noise_free is not None:
        rel_n = (noise_free.rename(index=names) - planted) / planted
        out["vcsd_noise_free_max_relative_error"] = round(float(rel_n.abs().max()), 4)
    return {**out, "vcsd_detected_years_max_relative_error": round(float(rel_d.abs().max()), 4),
            "vcsd_max_relative_error": round(float(rel.abs().max()), 4),
            "vcsd_total_relative_error": round(float((got.sum() - planted.sum()) / planted.sum()), 4),
            "vcsd_counterfactual_max_relative_error": round(float(rel_c.abs().max()), 4),
            "vcsd_counterfactual_total_relative_error": round(float((got.sum() - counter.sum()) / counter.sum()), 4)}


def _noise_free_vcsd(store: Path, data: Path, zones: xr.DataArray, n_zones: int):
    """VCSD per zone from the run's chain on the noise-free Terra MOD17 of the truth; None when
    the base has none, the run used Aqua, or a stage is missing."""
    chain = noise_free_chain(store, data)
    return None if chain is None else chain.vcsd(chain.clean, zones, n_zones)


class _Chain:
    """The run's scaled_npp -> vcs_accounting chain, to re-run on other MOD17 values."""

    def __init__(self, store, data, native, clean, params, accounting):
        self.store, self.data, self.native, self.clean = store, data, native, clean
        self.params, self.accounting = params, accounting

    def vcsd(self, values: np.ndarray, zones: xr.DataArray, n_zones: int):
        """VCSD per zone (Gg CO2, indexed 1..n_zones) with ``values`` (the native window's
        cells, g C m-2 yr-1) as MOD17; the loader's fills stay NaN."""
        import pandas as pd

        from ..ops.scale import scale_reduce, scale_transform, vcs
        from ..ops.vcs import vcs_accounting
        from ..pipeline.stages_carbon import scale_inputs

        p, q = self.params, self.accounting
        native = self.native.copy(data=np.where(np.isfinite(self.native.values), values, np.nan).astype(np.float32))
        dist = open_store(self.store, "disturbance")
        ndvi = open_store(self.store, "max_ndvi")["ndvi"] if p.get("weights") in ("ndvi", "regression") else None
        native, vegetated, covariate = scale_inputs(native, dist["state"], ndvi, p.get("weights", "uniform"))
        reduced = scale_reduce(native, vegetated, min_share=p["min_share"], min_points=p["min_points"],
                               default_bg=p["default_bg"], model=p["variogram"], max_samples=p["max_samples"],
                               covariate=covariate, clip_negative=p["clip_negative"])
        npp = scale_transform(native, vegetated, reduced=reduced, covariate=covariate)["npp"]
        times = open_store(self.store, "scaled_npp").time.values
        series = vcs(npp).assign_coords(time=times).chunk({"time": -1})
        acc = vcs_accounting(series, dist["destruction_year"], dist["restoration_year"], state=dist["state"],
                             zones=zones, n_zones=n_zones, min_years=q.get("min_years", 3),
                             include_destruction_year=q.get("include_destruction_year", False))
        return pd.Series(acc.by_zone["VCSD_Gg"])


def noise_free_chain(store: Path, data: Path):
    """The run's chain with the base's noise-free Terra MOD17 (``chain.clean``, on the loader's
    native window), or None (no ``truth/mod17_noise_free.zarr``, an Aqua run, a stage missing).
    benchmarks/vcsd_noise_draws.py re-runs it on fresh noise draws."""
    import json

    from ..io.modis import open_npp_native
    from ..io.search import search
    from ..io.store import is_complete
    from ..synth.config import SynthConfig

    store, data = Path(store), Path(data)
    path = data / "truth" / "mod17_noise_free.zarr"
    if not (path.exists() and all(is_complete(store, g) for g in ("scaled_npp", "vcs_accounting", "max_ndvi"))):
        return None
    p = json.loads(open_store(store, "scaled_npp").attrs["provenance:config"])["params"]
    acc_attrs = open_store(store, "vcs_accounting").attrs
    q = json.loads(acc_attrs["provenance:config"])["params"] if "provenance:config" in acc_attrs else {}
    if p.get("product", "terra") != "terra":
        return None
    grid = SynthConfig.from_dict(json.loads((data / "synth.json").read_text())["config"]).grid
    years = open_store(store, "scaled_npp").time.dt.year.values
    native = open_npp_native(search("modis-17A3HGF-061", source=data), grid=grid, product="terra")
    native = native.isel(time=np.isin(native.time.dt.year.values, years)).load()
    clean = xr.open_zarr(path)["npp"].load()
    # the same cells (centres from the same MODIS grid)
    clean = clean.reindex(y=native.y, x=native.x, method="nearest", tolerance=1.0).sel(time=native.time)
    return _Chain(store, data, native, clean.values, p, q)


def _casa_scores(store: Path, truth: xr.Dataset) -> dict:
    """The casa stage's NPP at 45 seeded random pixels a year against the CASA-like truth
    ``npp_casa_true`` (the same model on the true inputs, docs/synthetic.md): annual sums
    (``casa_npp_*``) and the monthly values (``casa_npp_monthly_r2``). A truth written before
    it existed is scored, annually only, against ``npp_true`` (not a CASA model)."""
    from ..io.store import is_complete
    from ..ops.validate import validate

    if not is_complete(store, "casa"):
        return {}
    ds = open_store(store, "casa")
    casa = ds["npp"]
    years = casa.time.dt.year.values
    planted = "npp_casa_true" in truth
    # the years the truth can score: its monthly years (CASA-like truth), else all its years
    t_years = truth["month"].dt.year.values if planted else truth.time.dt.year.values
    rng = np.random.default_rng(0)
    pred, obs, pred_m, obs_m = [], [], [], []
    ny, nx = casa.sizes["y"], casa.sizes["x"]
    for k, year in enumerate(years):
        if year not in t_years:
            continue
        iy, ix = rng.integers(0, ny, 45), rng.integers(0, nx, 45)
        at = {"y": xr.DataArray(iy, dims="point"), "x": xr.DataArray(ix, dims="point")}  # pointwise
        pred.append(casa.isel(time=k, **at).values)
        if not planted:
            obs.append(truth["npp_true"].sel(time=truth.time[t_years == year][0]).isel(**at).values)
            continue
        months = np.flatnonzero(t_years == year)
        true_m = truth["npp_casa_true"].isel(month=months, **at).transpose("month", "point").values
        obs.append(true_m.sum(axis=0))       # = npp_casa_annual_true of the year
        if "npp_monthly" in ds and len(months) == 12:
            pred_m.append(ds["npp_monthly"].isel(time=k, **at).transpose("month", "point").values.ravel())
            obs_m.append(true_m.ravel())
    if not pred:
        return {}
    v = validate(np.concatenate(pred), np.concatenate(obs))
    out = {"casa_npp_pearson_r": round(float(v["r"]), 4), "casa_npp_r2": round(float(v["r2"]), 4),
           "casa_npp_rmse": round(float(v["rmse"]), 2), "casa_npp_points": int(v["n"])}
    if pred_m:
        out["casa_npp_monthly_r2"] = round(float(validate(np.concatenate(pred_m), np.concatenate(obs_m))["r2"]), 4)
    return out


def _scores_section(scores: dict, data: Path):
    """The report section that compares the run with the planted truth."""

    def section(page):
        import pandas as pd

        truth = xr.open_zarr(data / "truth" / "truth.zarr")
        page.heading("Scores against the planted truth")
        page.text("The synthetic coal base plants NDVI trends and mine openings; these scores say "
                  "how well the run recovers them (cubeeco.workflows.demo.score_against_truth).")
        page.table(pd.DataFrame([scores]), caption="scores")
        trend = page.open("ndvi_trend")
        page.map("NDVI trend: estimated and planted", [
            ("Sen slope of NDVI (yr⁻¹)", trend["slope"], {"cmap": "RdYlGn", "vmin": -0.02, "vmax": 0.02}),
            ("Planted NDVI trend (yr⁻¹)", truth["ndvi_trend_true"].assign_attrs(units="yr-1"),
             {"cmap": "RdYlGn", "vmin": -0.02, "vmax": 0.02}),
        ])
        detected = page.open("disturbance")["destruction_year"]
        planted = truth["destruction_year"]
        page.map("Vegetation destruction year: detected and planted", [
            ("Detected", detected.where(detected > 0).assign_attrs(units="year"), {"cmap": "viridis"}),
            ("Planted", planted.where(planted > 0).assign_attrs(units="year"), {"cmap": "viridis"}),
        ])

    section.title = "Scores against the planted truth"
    return section
