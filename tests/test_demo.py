"""``cubeeco demo`` is the built-in pipeline config: same scores as the hand-wired demo had,
tables as table stages, CSV beside the store, one report.html."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

import cubeeco
from cubeeco.workflows.demo import demo_config_text, run_demo

# the scores of the demo before it became a config (cubeeco d961bcb, preset tiny): the
# config runs the same stages with the same parameters, so they must not move
TINY_SCORES = {"ndvi_trend_pearson_r": 0.4082, "ndvi_trend_bias": -0.000818,
               "destruction_year_within_1yr": 0.8428, "destruction_false_alarm_rate": 0.00886}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "cubeeco-demo"
    return out, run_demo(out, preset_name="tiny", progress=False)


def test_the_demo_config_gives_the_scores_of_the_hand_wired_demo(demo):
    _, summary = demo
    assert summary["scores"] == TINY_SCORES


def test_the_demo_writes_its_config_store_tables_and_report(demo):
    out, summary = demo
    config = yaml.safe_load((out / "demo.yaml").read_text())
    assert config["steps"] == yaml.safe_load(demo_config_text())["steps"]
    assert config["synth"]["preset"] == "tiny"
    store = out / "cubeeco.zarr"
    assert {"mine_series", "mine_summary", "regional_series", "rsei_pca", "geodetector_factor",
            "mine_rsei"} <= set(cubeeco.list_tables(store))
    mines = cubeeco.open_table(store, "mine_summary")
    assert list(mines["mine"]) == ["Mine 001", "Mine 002"]
    # the coverage-weighted area of a mine polygon is its own area (the zone file says it too)
    assert mines["area_km2"].tolist() == pytest.approx(mines["area_km2_zones"].tolist(), abs=1e-3)
    assert mines.attrs["units"]["area_km2"] == "km2"
    assert (mines["opened_detected"] - mines["open_year"]).abs().max() <= 1
    series = pd.read_csv(out / "cubeeco.zarr.tables" / "mine_series.csv")
    assert {"mine", "year [year]", "ndvi_mean [1]", "npp_mean [g C m-2 yr-1]"} <= set(series.columns)
    html = (out / "report.html").read_text()
    for heading in ("Scores against the planted truth", "Mines", "NDVI trend", "Tables"):
        assert heading in html
    assert "section failed" not in html
    assert summary["report"] == str(out / "report.html")


def test_a_second_demo_in_the_same_folder_skips_every_stage(demo):
    out, first = demo
    again = run_demo(out, preset_name="tiny", progress=False)
    assert again["scores"] == first["scores"]
    log = [line for line in (out / "cubeeco.zarr.log.jsonl").read_text().splitlines() if '"skipped"' in line]
    assert len(log) >= 14


def test_the_readme_usage_runs_on_the_demo_folder(demo, tmp_path, monkeypatch):
    """README's Python example, as written (top-level names only), on the demo's output."""
    import re
    from pathlib import Path

    out, _ = demo
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"## Using it\s+```python\n(.*?)```", readme, re.S).group(1)
    assert "from cubeeco." not in code and "import cubeeco." not in code, "README uses internal modules"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cubeeco-demo").symlink_to(out)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert len(scope["per_mine"]) == 2 * scope["annual"].sizes["time"]
    assert len(scope["by_ring"]) == 2 * 5 and scope["by_ring"]["mean"].notna().all()
    assert scope["trend"]["slope"].dims == ("y", "x")


# -- the ecological-quality workflow (study 000) that the demo config runs ------------------

ECO_TABLES = ("rsei_pca", "rsei_grade_areas", "rsei_trend_areas", "rsei_field_significance", "rsei_series_fits",
              "eg_index", "rsei_eg_areas", "mine_rsei", "geodetector_factor", "geodetector_interaction",
              "geodetector_risk", "geodetector_ecological")


def test_the_ecology_stages_write_their_tables_and_sections(demo):
    from cubeeco.io.store import open_store

    out, _ = demo
    store = out / "cubeeco.zarr"
    tables = set(cubeeco.list_tables(store))
    for name in ECO_TABLES:
        assert name in tables, name
        assert (out / "cubeeco.zarr.tables" / f"{name}.csv").exists()
    rsei = open_store(store, "rsei")["rsei"]
    assert float(rsei.min()) >= 0 and float(rsei.max()) <= 1
    html = (out / "report.html").read_text()
    for title in ("Geodetector", "rsei_pca"):
        assert title in html


def test_the_rsei_stage_equals_the_ops_called_directly(demo):
    import numpy as np

    from cubeeco.io.store import open_store
    from cubeeco.ops.indices import mndwi
    from cubeeco.ops.rsei import rsei, rsei_basis, water_mask

    out, _ = demo
    store = out / "cubeeco.zarr"
    annual = open_store(store, "annual")
    mask = water_mask(mndwi(annual["green"], annual["swir16"]), threshold=0.0)
    args = [annual[n] for n in ("ndvi", "wet", "ndbsi", "lst")]
    direct = rsei(*args, mask=mask, basis=rsei_basis(*args, mask=mask, compute=True))
    np.testing.assert_allclose(open_store(store, "rsei")["rsei"].values, direct["rsei"].values, atol=1e-6)
    assert len(cubeeco.open_table(store, "rsei_pca")) == annual.sizes["time"]


def test_per_mine_ecology_tables_name_the_mines_and_the_geodetector_its_factors(demo):
    from cubeeco.io.store import open_store

    out, _ = demo
    store = out / "cubeeco.zarr"
    field = cubeeco.open_table(store, "rsei_field_significance")
    assert {"whole area", "Mine 001", "Mine 002"} <= set(field["zone"])
    assert len(cubeeco.open_table(store, "mine_rsei")) == 2 * open_store(store, "annual").sizes["time"]
    factor = cubeeco.open_table(store, "geodetector_factor")
    assert list(factor["factor"]) == ["elevation", "slope", "aspect", "distance_to_mine"]
    assert ((factor["q"] >= 0) & (factor["q"] <= 1)).all()
    # mining lowers NDVI and so RSEI: the distance to the nearest mine explains most
    assert factor.set_index("factor")["q"].idxmax() == "distance_to_mine"
