"""The ecological-quality workflow (study 000) as pipeline stages on the tiny synthetic base:
every stage runs, its tables agree with the ops called directly, a rerun skips everything."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import cubeeco
from cubeeco.io.store import open_store
from cubeeco.pipeline.config import load_config
from cubeeco.pipeline.run import run

STEPS = ["annual", "disturbance", "land_cover", "terrain", "rsei", "rsei_trend", "rsei_significance",
         "eg", "rsei_eg", "mine_rsei", "geodetector"]


@pytest.fixture(scope="module")
def eco(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eco")
    cfg = {"name": "eco", "synth": {"preset": "tiny", "out": "data"}, "store": "eco.zarr", "steps": STEPS,
           "params": {"annual": {"indices": ["ndvi", "wet", "ndbsi", "lst"]}, "geodetector": {"sample": 3000}},
           "cluster": {"kind": "threads"}}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    reports = cubeeco.run(path, progress=False)
    return folder, path, reports


def test_every_stage_runs_and_writes_its_tables(eco):
    folder, _, reports = eco
    assert [r.stage for r in reports] == STEPS and {r.action for r in reports} == {"computed"}
    store = folder / "eco.zarr"
    tables = set(cubeeco.list_tables(store))
    for name in ("rsei_pca", "rsei_grade_areas", "rsei_trend_areas", "rsei_field_significance",
                 "rsei_series_fits", "eg_index", "rsei_eg_areas", "mine_rsei", "geodetector_factor",
                 "geodetector_interaction", "geodetector_risk", "geodetector_ecological"):
        assert name in tables, name
        assert (store.parent / "eco.zarr.tables" / f"{name}.csv").exists()
    rsei = open_store(store, "rsei")["rsei"]
    assert float(rsei.min()) >= 0 and float(rsei.max()) <= 1
    html = (folder / "report.html").read_text()
    assert "section failed" not in html and "rsei_pca" in html


def test_the_rsei_stage_equals_the_ops_called_directly(eco):
    from cubeeco.ops.indices import mndwi
    from cubeeco.ops.rsei import rsei, rsei_basis, water_mask

    folder, _, _ = eco
    store = folder / "eco.zarr"
    annual = open_store(store, "annual")
    mask = water_mask(mndwi(annual["green"], annual["swir16"]), threshold=0.0)
    args = [annual[n] for n in ("ndvi", "wet", "ndbsi", "lst")]
    direct = rsei(*args, mask=mask, basis=rsei_basis(*args, mask=mask, compute=True))
    np.testing.assert_allclose(open_store(store, "rsei")["rsei"].values, direct["rsei"].values, atol=1e-6)
    pca = cubeeco.open_table(store, "rsei_pca")
    assert len(pca) == annual.sizes["time"]


def test_per_mine_tables_name_the_mines_and_the_geodetector_its_factors(eco):
    folder, _, _ = eco
    store = folder / "eco.zarr"
    field = cubeeco.open_table(store, "rsei_field_significance")
    assert {"whole area", "Mine 001", "Mine 002"} <= set(field["zone"])
    mine = cubeeco.open_table(store, "mine_rsei")
    assert len(mine) == 2 * open_store(store, "annual").sizes["time"]
    factor = cubeeco.open_table(store, "geodetector_factor")
    assert list(factor["factor"]) == ["elevation", "slope", "aspect", "distance_to_mine"]
    assert ((factor["q"] >= 0) & (factor["q"] <= 1)).all()
    # mines lower NDVI and so RSEI: distance to the nearest mine explains most
    assert factor.set_index("factor")["q"].idxmax() == "distance_to_mine"


def test_a_rerun_skips_every_stage_and_reads_the_stored_reduction(eco):
    _, path, _ = eco
    again = run(load_config(path), progress=False)
    assert {r.action for r in again} == {"skipped"}
