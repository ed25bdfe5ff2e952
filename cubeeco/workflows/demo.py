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


def demo_config(out: Path, preset_name: str = "demo"):
    """The demo's RunConfig, its YAML written to ``out/demo.yaml`` (the preset substituted)."""
    from ..pipeline.config import load_config

    data = yaml.safe_load(demo_config_text())
    data["synth"]["preset"] = preset_name
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
    * disturbance: share of mined pixels whose detected destruction year is within one
      year of the planted one, and the false-alarm rate outside mines.
    """
    truth = xr.open_zarr(data / "truth" / "truth.zarr")
    slope = open_store(store, "ndvi_trend")["slope"].values
    true_slope = truth["ndvi_trend_true"].values
    true_d = truth["destruction_year"].values
    mined = true_d > 0
    water = truth["lulc_base"].values == 5
    ok = np.isfinite(slope) & ~mined & ~water
    detected = open_store(store, "disturbance")["destruction_year"].values
    hit = np.abs(detected[mined].astype(int) - true_d[mined]) <= 1
    return {"ndvi_trend_pearson_r": round(float(np.corrcoef(slope[ok], true_slope[ok])[0, 1]), 4),
            "ndvi_trend_bias": round(float(np.mean(slope[ok] - true_slope[ok])), 6),
            "destruction_year_within_1yr": round(float(hit.mean()), 4),
            "destruction_false_alarm_rate": round(float(np.mean(detected[~mined] > 0)), 5)}


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
