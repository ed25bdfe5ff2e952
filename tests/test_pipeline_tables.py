"""Stages that produce tables, raster+table stages, and a reduce phase that runs once.

The stages come from ``tests/_table_stages.py``; the reduce step of ``scaled`` logs each
call to a file, so the killed-and-resumed test counts calls across processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import cubeeco
from cubeeco.io.store import is_complete, open_store, staged_path
from cubeeco.io.tables import csv_path, list_tables
from cubeeco.pipeline.config import load_config
from cubeeco.pipeline.run import run

from . import _table_stages

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def stages():
    _table_stages.register()
    yield
    _table_stages.unregister()


@pytest.fixture(scope="module")
def small_base(tmp_path_factory):
    """Three years, 64 x 48 px: six regions of 16 x 16 px per raster stage."""
    from cubeeco.synth import SynthConfig, synthesize

    cfg = SynthConfig(width_px=64, height_px=48, years=(2012, 2014), n_mines=1, n_stations=1, modis=False)
    return synthesize(cfg, tmp_path_factory.mktemp("tables_base"), progress=False)


def _config(tmp_path: Path, base, steps, **extra) -> Path:
    b = base.config.grid.bounds
    cfg = {"name": "tables", "store": "run.zarr", "steps": steps, "source": str(base.root),
           "grid": {"epsg": 32649, "resolution": 30.0, "bounds": list(b)},
           "params": {"annual": {"indices": ["ndvi"]}}, "chunks": 16, "region_chunks": 1,
           "cluster": {"kind": "threads"}, **extra}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_a_table_stage_round_trips_through_the_store_and_csv(small_base, tmp_path):
    cfg = _config(tmp_path, small_base, ["ndvi_table"])
    store = tmp_path / "run.zarr"
    reports = {r.stage: r for r in run(load_config(cfg), progress=False)}
    assert reports["ndvi_table"].action == "computed" and reports["ndvi_table"].tables == ["ndvi_table"]
    df = cubeeco.open_table(store, "ndvi_table")
    annual = open_store(store, "annual")["ndvi"]
    np.testing.assert_allclose(df["ndvi_mean"], annual.mean(("y", "x")).values)
    assert df["year"].tolist() == [2012, 2013, 2014]
    assert df["label"].tolist() == ["y2012", "y2013", "y2014"]
    assert df.attrs["units"] == {"year": "year", "ndvi_mean": "1"}
    assert df.attrs["stage"] == "ndvi_table" and df.attrs["description"] == "whole-area mean NDVI"
    assert list_tables(store) == ["ndvi_table"]
    exported = pd.read_csv(csv_path(store, "ndvi_table"))
    assert list(exported.columns) == ["year [year]", "ndvi_mean [1]", "label"]
    np.testing.assert_allclose(exported["ndvi_mean [1]"], df["ndvi_mean"])
    # a second run skips it; the CSV is there again after it was deleted
    csv_path(store, "ndvi_table").unlink()
    again = {r.stage: r for r in run(load_config(cfg), progress=False)}
    assert again["ndvi_table"].action == "skipped"
    assert csv_path(store, "ndvi_table").exists()


def test_a_raster_and_table_stage_writes_both_into_its_group(small_base, tmp_path):
    cfg = _config(tmp_path, small_base, ["scaled_table"])
    store = tmp_path / "run.zarr"
    run(load_config(cfg), progress=False)
    ds = open_store(store, "scaled_table")
    annual = open_store(store, "annual")
    np.testing.assert_array_equal(ds["ndvi0"].values, annual["ndvi"].isel(time=0).values)
    assert cubeeco.open_table(store, "counts")["n"].item() == int(annual["ndvi"].notnull().sum())
    assert cubeeco.open_table(store, "first_value")["value"].item() == pytest.approx(
        float(annual["ndvi"].isel(time=0, y=0, x=0)), nan_ok=True)
    assert sorted(list_tables(store)) == ["counts", "first_value"]


def test_a_stage_returning_the_wrong_kind_fails_and_leaves_nothing_complete(small_base, tmp_path):
    cfg = _config(tmp_path, small_base, ["bad_table"])
    with pytest.raises(TypeError, match="declares output 'table' but returned a Dataset"):
        run(load_config(cfg), progress=False)
    assert not is_complete(tmp_path / "run.zarr", "bad_table")


def test_open_table_names_the_tables_a_store_holds(small_base, tmp_path):
    cfg = _config(tmp_path, small_base, ["ndvi_table"])
    run(load_config(cfg), progress=False)
    with pytest.raises(FileNotFoundError, match=r"no complete table 'nope' \(tables: ndvi_table\)"):
        cubeeco.open_table(tmp_path / "run.zarr", "nope")
    with pytest.raises(FileNotFoundError, match="no Zarr store"):
        cubeeco.open_table(tmp_path / "missing.zarr", "ndvi_table")


def test_the_reduce_phase_is_stored_and_read_by_the_per_region_pass(small_base, tmp_path, monkeypatch):
    log = tmp_path / "reduce.log"
    monkeypatch.setenv("CUBEECO_TEST_REDUCE_LOG", str(log))
    cfg = _config(tmp_path, small_base, ["scaled"])
    store = tmp_path / "run.zarr"
    reports = {r.stage: r for r in run(load_config(cfg), progress=False)}
    assert reports["scaled"].reduce is True
    reduced = open_store(store, "scaled.reduced")
    ndvi = open_store(store, "annual")["ndvi"]
    assert float(reduced["lo"]) == float(ndvi.min()) and float(reduced["hi"]) == float(ndvi.max())
    expected = (ndvi - float(ndvi.min())) / (float(ndvi.max()) - float(ndvi.min()))
    np.testing.assert_allclose(open_store(store, "scaled")["scaled"].values, expected.values, rtol=1e-6)
    assert len(log.read_text().split()) == 1
    # a new parameter of the per-region pass only (the reduce step does not take it): the
    # stage is recomputed, its stored reduction read back
    cfg2 = _config(tmp_path, small_base, ["scaled"], params={"annual": {"indices": ["ndvi"]},
                                                             "scaled": {"sleep": 0.001}})
    reports = {r.stage: r for r in run(load_config(cfg2), progress=False)}
    assert reports["scaled"].action == "computed" and reports["scaled"].reduce is False
    assert len(log.read_text().split()) == 1
    # new input data (annual with other indices): the reduction is recomputed
    cfg3 = _config(tmp_path, small_base, ["scaled"], params={"annual": {"indices": ["ndvi", "wet"]}})
    reports = {r.stage: r for r in run(load_config(cfg3), progress=False)}
    assert reports["scaled"].reduce is True and len(log.read_text().split()) == 2


def _cli_run(cfg: Path, *args: str) -> list[str]:
    """``cubeeco run CFG ARGS`` in a new process that knows the test stages."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from tests._table_stages import register; "
            "register(); from cubeeco.cli import main; sys.exit(main(['run', *sys.argv[2:]]))")
    return [sys.executable, "-c", code, str(REPO), str(cfg), "-q", *args]


def _regions_done(store: Path, group: str) -> int:
    return len(list((Path(str(store) + ".progress") / group).glob("r*_*")))


def test_a_finished_reduction_is_not_recomputed_by_a_killed_and_resumed_run(small_base, tmp_path):
    """The run is killed (SIGKILL) while the per-region pass of ``scaled`` writes; the
    resumed run reads the stored reduction (its reduce step ran once in all) and computes
    only the regions left."""
    log = tmp_path / "reduce.log"
    params = {"annual": {"indices": ["ndvi"]}, "scaled": {"sleep": 0.4}}
    cfg = _config(tmp_path, small_base, ["scaled"], params=params)
    store = tmp_path / "run.zarr"
    env = {**os.environ, "CUBEECO_TEST_REDUCE_LOG": str(log)}
    proc = subprocess.Popen(_cli_run(cfg), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while proc.poll() is None and _regions_done(store, "scaled") < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the reduction is staged beside the store until its stage is complete
    assert staged_path(store, "scaled.reduced").is_dir() and not is_complete(store, "scaled")
    assert not is_complete(store, "scaled.reduced")
    assert len(log.read_text().split()) == 1
    os.environ["CUBEECO_TEST_REDUCE_LOG"] = str(log)
    try:
        reports = {r.stage: r for r in run(load_config(cfg), progress=False)}
    finally:
        del os.environ["CUBEECO_TEST_REDUCE_LOG"]
    assert reports["scaled"].reduce is False, "the resumed run recomputed the reduction"
    assert reports["scaled"].action == "resumed" and reports["scaled"].regions_already_done >= 2
    assert len(log.read_text().split()) == 1
    assert is_complete(store, "scaled.reduced")
    ndvi = open_store(store, "annual")["ndvi"]
    expected = (ndvi - float(ndvi.min())) / (float(ndvi.max()) - float(ndvi.min()))
    np.testing.assert_allclose(open_store(store, "scaled")["scaled"].values, expected.values, rtol=1e-6)


def test_cubeeco_run_writes_the_report_beside_the_store_unless_told_not_to(small_base, tmp_path):
    cfg = _config(tmp_path, small_base, ["ndvi_table"])
    done = subprocess.run(_cli_run(cfg), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = tmp_path / "report.html"
    assert f'"report": "{report}"' in done.stdout
    html = report.read_text()
    assert 'name="generator" content="cubeeco' in html and "ndvi_table" in html
    report.unlink()
    done = subprocess.run(_cli_run(cfg, "--no-report"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and not report.exists()
    # the Python entry point: a dict config, paths relative to the working directory
    config = yaml.safe_load(cfg.read_text())
    config["store"] = str(tmp_path / "run.zarr")
    config["report"] = str(tmp_path / "elsewhere.html")
    reports = cubeeco.run(config, progress=False)
    assert [r.action for r in reports] == ["skipped", "skipped"] and (tmp_path / "elsewhere.html").exists()


def test_a_table_may_not_replace_a_variable_of_its_raster_nor_another_stages_table(small_base, tmp_path):
    store = tmp_path / "run.zarr"
    with pytest.raises(ValueError, match=r"table name\(s\) \['ndvi0'\] are also variables"):
        run(load_config(_config(tmp_path, small_base, ["clash_table"])), progress=False)
    assert not is_complete(store, "clash_table")
    run(load_config(_config(tmp_path, small_base, ["dup_a"])), progress=False)
    with pytest.raises(ValueError, match=r"table\(s\) \['summary'\] already exist .* stage 'dup_a'"):
        run(load_config(_config(tmp_path, small_base, ["dup_b"])), progress=False)
    assert cubeeco.open_table(store, "summary")["who"].tolist() == ["a"]


def test_text_columns_keep_their_missing_values_and_stale_csvs_go(small_base, tmp_path):
    store = tmp_path / "run.zarr"
    run(load_config(_config(tmp_path, small_base, ["texts"])), progress=False)
    df = cubeeco.open_table(store, "texts")
    assert df["label"].tolist() == ["x", None, None, ""]
    assert np.isnan(df["v"][2])
    assert csv_path(store, "texts").exists()
    # the stage now names its table otherwise: the old CSV is gone with the old table
    run(load_config(_config(tmp_path, small_base, ["texts"], params={"texts": {"name": "renamed"}})),
        progress=False)
    assert list_tables(store) == ["renamed"]
    assert csv_path(store, "renamed").exists() and not csv_path(store, "texts").exists()


def test_a_failing_stage_leaves_the_previous_reduction_beside_the_previous_stage(small_base, tmp_path):
    """The new reduction is staged, committed only with its stage: a run whose per-region
    pass fails keeps the stored pair consistent, and the next run reads the staged one back."""
    store = tmp_path / "run.zarr"

    def params(**p):
        return {"annual": {"indices": ["ndvi"]}, "scaled": p}

    run(load_config(_config(tmp_path, small_base, ["scaled"], params=params(k=1.0))), progress=False)
    lo1 = float(open_store(store, "scaled.reduced")["lo"])
    with pytest.raises(RuntimeError, match="planned failure"):
        run(load_config(_config(tmp_path, small_base, ["scaled"], params=params(k=2.0, fail=True))),
            progress=False)
    assert float(open_store(store, "scaled.reduced")["lo"]) == lo1      # the stored pair is intact
    again = {r.stage: r for r in run(load_config(_config(tmp_path, small_base, ["scaled"],
                                                          params=params(k=1.0))), progress=False)}
    assert again["scaled"].action == "skipped" and float(open_store(store, "scaled.reduced")["lo"]) == lo1
    done = {r.stage: r for r in run(load_config(_config(tmp_path, small_base, ["scaled"],
                                                         params=params(k=2.0))), progress=False)}
    assert done["scaled"].reduce is False          # the staged reduction of the failed run, read back
    assert float(open_store(store, "scaled.reduced")["lo"]) == pytest.approx(2 * lo1)


def test_zone_layers_are_fingerprinted_whole_and_must_be_declared(small_base, tmp_path):
    import geopandas as gpd

    from cubeeco.pipeline.run import Context, _zones_digest
    from cubeeco.pipeline.stages import STAGES, stage

    mines = gpd.read_file(small_base.root / "vectors" / "mines.geojson")
    shp = tmp_path / "zones" / "mines.shp"
    shp.parent.mkdir()
    mines.to_file(shp)

    @stage("zoned", output="table", zones=("mines",))
    def zoned(ctx):
        """Reads its declared zones."""
        return pd.DataFrame({"n": [len(ctx.zones("mines"))]})

    try:
        config = load_config(_config(tmp_path, small_base, ["zoned"], zones={"mines": str(shp)}))
        before = _zones_digest(config, "zoned")
        mines.assign(name=[f"renamed {i}" for i in range(len(mines))]).to_file(shp)   # only the .dbf changes
        assert _zones_digest(config, "zoned") != before
        ctx = Context(config, small_base.config.grid, None, tmp_path / "run.zarr", stage="annual")
        with pytest.raises(ValueError, match="does not declare it"):
            ctx.zones("mines")
        from cubeeco.pipeline.config import ConfigError

        with pytest.raises(ConfigError, match="zones.mines: .* does not exist"):
            load_config(_config(tmp_path, small_base, ["zoned"], zones={"mines": "nowhere.geojson"}))
    finally:
        STAGES.pop("zoned", None)

