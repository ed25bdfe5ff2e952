"""Every user mistake gets one line naming the input and the fix, a non-zero exit, no
traceback (one with --debug), and nothing left behind that looks complete.

Most cases call ``cubeeco.cli.main`` in-process (one import for all of them); the
subprocess tests check the same contract through a real ``python -m cubeeco.cli``.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import yaml

from cubeeco.cli import main
from cubeeco.io.store import is_complete

GRID = {"epsg": 32649, "resolution": 30.0, "bounds": [399990.0, 4347600.0, 402870.0, 4350000.0]}


def fails(capsys, *args) -> str:
    """Run the CLI in-process; assert the user-error contract; return the one line."""
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cubeeco {args[0]}: error: ") and "Traceback" not in err
    return lines[0]


def cubeeco(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cubeeco.cli", *map(str, args)], capture_output=True,
                          text=True, **kwargs)


# -- search -------------------------------------------------------------------------------
@pytest.mark.parametrize("args, names", [
    (["--max-items", "-1"], ["--max-items -1", ">= 1"]),
    (["--max-items", "0"], ["--max-items 0"]),
    (["--max-cloud", "-5"], ["--max-cloud", "between 0 and 100"]),
    (["--max-cloud", "150"], ["--max-cloud"]),
    (["--bbox", "110", "40", "112", "39"], ["--bbox", "south 40 is north of north 39"]),
    (["--bbox", "112.5", "39", "110.5", "40"], ["--bbox", "west 112.5 is east of east 110.5"]),
    (["--bbox", "nan", "39", "110", "40"], ["--bbox", "NaN"]),
    (["--bbox", "500000", "4300000", "510000", "4310000"], ["--bbox", "outside [-180, 180]"]),
    (["--bbox", "110", "-95", "111", "40"], ["--bbox", "outside [-90, 90]"]),
    (["--datetime", "2015/2010"], ["--datetime", "ends before it starts"]),
    (["--datetime", "20x5"], ["--datetime", "'20x5'"]),
])
def test_search_arguments(capsys, tiny_base, args, names):
    line = fails(capsys, "search", "landsat-c2-l2", "--source", tiny_base.root, *args)
    for name in names:
        assert name in line
    assert "max_cloud" not in line and "max_items" not in line and "None" not in line


def test_unknown_collection(capsys, tiny_base):
    line = fails(capsys, "search", "landsat-c2-l3", "--source", tiny_base.root)
    assert "landsat-c2-l3" in line and "landsat-c2-l2" in line   # what it has


def test_source_that_is_not_a_catalog(capsys, tiny_base, tmp_path):
    # a file where a folder or catalog.json is expected: JSON that is no catalog, and not JSON
    line = fails(capsys, "search", "landsat-c2-l2", "--source", tiny_base.root / "synth.json")
    assert "--source" in line and "synth.json is not a STAC catalog" in line
    text = tmp_path / "notes.txt"
    text.write_text("not a catalog")
    line = fails(capsys, "search", "landsat-c2-l2", "--source", text)
    assert str(text) in line and "catalog.json" in line
    # a folder without a catalog, and a path that does not exist
    line = fails(capsys, "search", "landsat-c2-l2", "--source", tmp_path)
    assert str(tmp_path) in line and "catalog.json" in line
    line = fails(capsys, "search", "landsat-c2-l2", "--source", tmp_path / "nope")
    assert "nope" in line


def test_item_without_datetime(capsys, tiny_base, tmp_path):
    shutil.copytree(tiny_base.root / "stac", tmp_path / "stac")
    items = tmp_path / "stac" / "landsat-c2-l2" / "items.ndjson"
    lines = items.read_text().splitlines()
    first = json.loads(lines[0])
    del first["properties"]["datetime"]
    items.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    line = fails(capsys, "search", "landsat-c2-l2", "--source", tmp_path)
    assert first["id"] in line and "datetime" in line
    line = fails(capsys, "cube", "--source", tmp_path, "--out", tmp_path / "c.zarr", "-q")
    assert first["id"] in line and not (tmp_path / "c.zarr").exists()


class _FakeSite(http.server.BaseHTTPRequestHandler):
    """A web server that is no STAC API: an HTML page, JSON that is not STAC, and 404s."""

    def do_GET(self):
        if self.path.startswith("/html"):
            body, kind, status = b"<html><body>a web page</body></html>", "text/html", 200
        elif self.path.startswith("/json"):
            body, kind, status = b'{"hello": "world"}', "application/json", 200
        else:
            body, kind, status = b"not found", "text/plain", 404
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def fake_site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("path, names", [
    ("/html", ["did not return JSON"]),
    ("/json", ["not STAC"]),
    ("/missing", ["HTTP 404"]),
])
def test_url_that_is_not_a_stac_api(capsys, fake_site, path, names):
    line = fails(capsys, "search", "landsat-c2-l2", "--source", fake_site + path)
    assert fake_site + path in line
    for name in names:
        assert name in line


def test_unreachable_url(capsys):
    url = f"http://127.0.0.1:{_free_port()}/stac?token=s3cret"
    line = fails(capsys, "search", "landsat-c2-l2", "--source", url)
    assert "cannot reach" in line and "127.0.0.1" in line
    assert "s3cret" not in line                              # credentials never printed


# -- cube ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args, names", [
    (["--years", "2010", "2005"], ["--years 2010 2005", "--years 2005 2010"]),
    (["--months", "13"], ["--months 13", "1-12"]),
    (["--months", "0", "6"], ["--months 0 6"]),
    (["--bounds", "402870", "4350000", "399990", "4347600"], ["--bounds", "MAXX > MINX"]),
    (["--bounds", "399990", "4347600", "nan", "4350000"], ["--bounds", "finite"]),
    (["--bounds", "399990", "4347600", "402880", "4350000"], ["--bounds", "whole number", "--resolution 30"]),
    (["--bounds", *map(str, GRID["bounds"]), "--resolution", "0"], ["--resolution 0"]),
    (["--bounds", *map(str, GRID["bounds"]), "--epsg", "1"], ["--epsg 1"]),
    (["--max-cloud", "-5"], ["--max-cloud", "between 0 and 100"]),
    (["--group", "a/b"], ["--group"]),
])
def test_cube_arguments(capsys, tiny_base, tmp_path, args, names):
    out = tmp_path / "cube.zarr"
    line = fails(capsys, "cube", "--source", tiny_base.root, "--out", out, "-q", *args)
    for name in names:
        assert name in line
    assert "grid=" not in line and "max_cloud" not in line
    assert not out.exists()                                   # nothing left behind


def test_cube_without_bounds_speaks_of_options(capsys, tiny_base, tmp_path):
    """Items without projection metadata need an explicit grid: the CLI says --bounds, not grid=."""
    shutil.copytree(tiny_base.root / "stac", tmp_path / "stac")
    items = tmp_path / "stac" / "landsat-c2-l2" / "items.ndjson"
    stripped = []
    for text in items.read_text().splitlines():
        item = json.loads(text)
        for where in (item["properties"], *item["assets"].values()):
            for key in [k for k in where if k.startswith("proj:")]:
                del where[key]
        stripped.append(json.dumps(item))
    items.write_text("\n".join(stripped) + "\n")
    line = fails(capsys, "cube", "--source", tmp_path, "--out", tmp_path / "c.zarr", "-q")
    assert "--bounds MINX MINY MAXX MAXY" in line and "grid=" not in line
    assert not is_complete(tmp_path / "c.zarr", "annual")


def test_cube_from_a_stac_api_without_bounds_speaks_of_options(capsys, tmp_path):
    """No grid and a STAC API: refused before searching (it would ask for the whole collection)."""
    line = fails(capsys, "cube", "--source", "http://127.0.0.1:9/stac?token=s3cr3t", "--out", tmp_path / "c.zarr",
                 "-q")
    assert "every landsat-c2-l2 scene" in line and "--bounds MINX MINY MAXX MAXY" in line
    assert "grid=" not in line and "s3cr3t" not in line
    assert not (tmp_path / "c.zarr").exists()


def test_output_paths(capsys, tiny_base, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("precious")
    # a file where a folder (a Zarr store) is expected
    line = fails(capsys, "cube", "--source", tiny_base.root, "--out", a_file, "-q")
    assert f"--out {a_file} is a file" in line
    line = fails(capsys, "cube", "--source", tiny_base.root, "--out", a_file / "c.zarr", "-q")
    assert f"{a_file} is a file, not a folder" in line
    line = fails(capsys, "synth", "--preset", "tiny", "--out", a_file, "-q")
    assert "--out" in line and a_file.read_text() == "precious"
    line = fails(capsys, "demo", "--out", a_file, "-q")
    assert "--out" in line and a_file.read_text() == "precious"


def test_synth_arguments(capsys, tmp_path):
    line = fails(capsys, "synth", "--preset", "tiny", "--years", "2014", "2009", "--out", tmp_path / "s")
    assert "--years 2014 2009" in line
    line = fails(capsys, "synth", "--preset", "tiny", "--size", "8", "8", "--out", tmp_path / "s")
    assert "--size 8 8" in line and "width_px" not in line
    line = fails(capsys, "synth", "--preset", "atlantis", "--out", tmp_path / "s")
    assert "atlantis" in line
    assert not (tmp_path / "s").exists()


# -- run: the config --------------------------------------------------------------------------
def _run_config(tmp_path: Path, base_root: Path, **changes) -> Path:
    cfg = {"name": "bad", "store": "out/run.zarr", "steps": ["ndvi_trend"], "source": str(base_root),
           "grid": dict(GRID), "chunks": 32, "cluster": {"kind": "threads"}}
    for key, value in changes.items():
        *parents, last = key.split(".")
        where = cfg
        for p in parents:
            where = where.setdefault(p, {})
        where[last] = value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("changes, names", [
    ({"store": ""}, ["store:"]),
    ({"name": 5}, ["name: expected str"]),
    ({"name": ""}, ["name:"]),
    ({"steps": "annual"}, ["steps: expected list"]),
    ({"steps": []}, ["steps:"]),
    ({"steps": ["annual", "rsei_magic"]}, ["steps: unknown step", "rsei_magic"]),
    ({"source": ""}, ["source:"]),
    ({"years": [2010, 2005]}, ["years:", "2010 is after the last 2005"]),
    ({"years": [2010]}, ["years:"]),
    ({"years": ["2005", 2010]}, ["years:"]),
    ({"params.annual.max_cloud": "abc"}, ["params.annual.max_cloud", "'abc'"]),
    ({"params.annual.max_cloud": -5}, ["params.annual.max_cloud", "[0, 100]"]),
    ({"params.annual.months": [13]}, ["params.annual.months"]),
    ({"params.annual.months": 6}, ["params.annual.months"]),
    ({"params.annual.method": "mean"}, ["params.annual.method", "'mean'", "max_ndvi"]),
    ({"params.annual.indices": ["ndvi", "rsei"]}, ["params.annual.indices", "rsei"]),
    ({"params.annual.metod": "median"}, ["params.annual: unknown parameter", "metod"]),
    ({"params.ndvi_trend.variable": "nope"}, ["params.ndvi_trend.variable", "'nope'", "ndvi"]),
    ({"params.ndvi_trend.variable": "wet", "params.annual.indices": ["ndvi"]},
     ["params.ndvi_trend.variable", "params.annual.indices"]),
    ({"params.annual.indices": []}, ["params.ndvi_trend.variable (default 'ndvi')"]),
    ({"params.ndvi_trend.alpha": 1.5}, ["params.ndvi_trend.alpha", "(0, 1)"]),
    ({"steps": ["annual"], "params.ndvi_trend.alpha": 0}, ["params.ndvi_trend.alpha"]),
    ({"params.ndvi_trend.alpha": "0.05"}, ["params.ndvi_trend.alpha"]),
    ({"steps": ["disturbance"], "params.disturbance.persistence": 0}, ["params.disturbance.persistence"]),
    ({"steps": ["disturbance"], "params.disturbance.threshold": True}, ["params.disturbance.threshold"]),
    ({"steps": ["ndvi_trend", "mine_stats"], "params.annual.indices": ["wet"], "params.ndvi_trend.variable": "wet"},
     ["mine_stats", "params.annual.indices"]),
    ({"steps": ["disturbance"], "params.disturbance.ends": "maybe"}, ["params.disturbance.ends", "confirm"]),
    ({"steps": ["disturbance"], "params.disturbance.persistence": 3, "params.disturbance.window": 2},
     ["params.disturbance.window", ">= persistence"]),
    ({"steps": ["vcs_accounting"], "params.vcs_accounting.sigma_annual": 2}, ["params.vcs_accounting.sigma_annual",
                                                                               "auto"]),
    ({"steps": ["scaled_npp"], "params.scaled_npp.min_points": 1}, ["params.scaled_npp.min_points", ">= 3"]),
    ({"steps": ["vcs_accounting"], "params.vcs_accounting.price_unit": "yuan"},
     ["params.vcs_accounting.price_unit", "yuan/t CO2"]),
    ({"steps": ["vcs_accounting"], "params.vcs_accounting.include_destruction_year": "false"},
     ["params.vcs_accounting.include_destruction_year", "true or false"]),
    ({"steps": ["casa"], "params.casa.climate": "satellite"}, ["params.casa.climate", "stations"]),
    ({"steps": ["casa"], "years": [2009, 2014], "params.monthly_ndvi.years": [1990]},
     ["params.monthly_ndvi.years", "run's years"]),
    ({"steps": ["modis_npp"], "params.modis_npp.resampling": "fancy"}, ["params.modis_npp.resampling"]),
    ({"steps": ["modis_npp"], "params.modis_npp.resampling": "bilinear"},
     ["params.modis_npp.resampling", "'bilinear'", "class codes", "'nearest'", "aggregate"]),
    ({"grid": None}, ["grid: required unless synth:", "grid: {epsg, resolution, bounds}"]),
    ({"steps": ["modis_npp"], "params.modis_npp.product": "MOD"}, ["params.modis_npp.product", "terra"]),
    ({"params.annual.unreadable": "ignore"}, ["params.annual.unreadable", "skip"]),
    ({"steps": ["land_cover"], "params.land_cover.collection": ""}, ["params.land_cover.collection"]),
    ({"steps": ["land_cover"], "params.land_cover.asset": 3}, ["params.land_cover.asset"]),
    ({"params.nope": {}}, ["params.nope"]),
    ({"grid.bounds": [402870.0, 4347600.0, 399990.0, 4350000.0]}, ["grid.bounds", "maxx > minx"]),
    ({"grid.bounds": [399990.0, 4347600.0, 402880.0, 4350000.0]}, ["grid.bounds", "whole number"]),
    ({"grid.bounds": [399990.0, 4347600.0, 402870.0]}, ["grid.bounds"]),
    ({"grid.bounds": [399990.0, 4347600.0, float("nan"), 4350000.0]}, ["grid.bounds", "finite"]),
    ({"grid.resolution": 0}, ["grid.resolution"]),
    ({"grid.resolution": "30m"}, ["grid.resolution"]),
    ({"grid.epsg": 1}, ["grid.epsg", "not an EPSG code"]),
    ({"grid.epsg": "32649"}, ["grid.epsg: expected int"]),
    ({"cluster.n_workers": 0}, ["cluster.n_workers"]),
    ({"cluster.n_workers": "two"}, ["cluster.n_workers: expected int"]),
    ({"cluster.memory_limit": "lots"}, ["cluster.memory_limit", "'lots'"]),
    ({"cluster.kind": "cloud"}, ["cluster.kind", "'cloud'"]),
    ({"synth": {"preset": "atlantis"}}, ["synth.preset", "atlantis"]),
    ({"synth": {"preset": "tiny", "overrides": {"widht_px": 40}}}, ["synth.overrides.widht_px"]),
    ({"synth": {"preset": "tiny", "out": ""}}, ["synth.out"]),
    ({"inputs.annual": ""}, ["inputs.annual"]),
    ({"colour": "red"}, ["colour: unknown key"]),
])
def test_run_config_is_checked_before_anything_is_computed(capsys, tiny_base, tmp_path, changes, names):
    line = fails(capsys, "run", _run_config(tmp_path, tiny_base.root, **changes), "-q")
    for name in names:
        assert name in line
    assert not (tmp_path / "out").exists()                    # no store, no log, nothing


@pytest.mark.parametrize("text, names", [
    ("name: a\nstore: s.zarr\nsteps: [annual]\nstore: t.zarr\n", ["line 4: duplicate key 'store'", "line 2"]),
    ("name: a\nstore: s.zarr\nsteps: [annual]\nparams: {annual: {max_cloud: 10, max_cloud: 20}}\n",
     ["duplicate key 'max_cloud'"]),
    ("name: a\nsteps: [annual\n", ["not valid YAML"]),
    ("- name: a\n", ["config: expected a mapping"]),
])
def test_run_config_file(capsys, tmp_path, text, names):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    line = fails(capsys, "run", path)
    assert str(path) in line or "config:" in line
    for name in names:
        assert name in line


def test_run_config_path(capsys, tmp_path):
    (tmp_path / "coal.yaml").write_text("name: a\n")
    line = fails(capsys, "run", tmp_path)                     # a folder where a file is expected
    assert f"{tmp_path} is a folder" in line and "coal.yaml" in line
    line = fails(capsys, "run", tmp_path / "missing.yaml")
    assert "missing.yaml does not exist" in line
    line = fails(capsys, "run", tmp_path / "coal.yaml", "--scheduler", "localhost")
    assert "--scheduler 'localhost'" in line


def test_trend_variable_missing_from_an_external_annual_group(capsys, tiny_base, tmp_path):
    """An ``inputs:`` group is only known when read: checked before the trend is computed."""
    import numpy as np
    import xarray as xr

    from cubeeco.io.grid import Grid
    from cubeeco.io.store import write_store

    grid = Grid(32649, 30.0, (399990.0, 4349040.0, 400950.0, 4350000.0))
    t = np.array([f"{y}-01-01" for y in range(2010, 2014)], dtype="datetime64[ns]")
    ds = xr.Dataset({"ndvi": (("time", "y", "x"), np.zeros((4, 32, 32), np.float32))},
                    coords={"time": t, "y": grid.y, "x": grid.x})
    write_store(ds, tmp_path / "cube.zarr", "annual", chunks=32)
    path = _run_config(tmp_path, tiny_base.root, **{"inputs.annual": str(tmp_path / "cube.zarr"),
                                                     "params.ndvi_trend.variable": "wet",
                                                     "grid.bounds": list(grid.bounds)})
    line = fails(capsys, "run", path, "-q")
    assert "params.ndvi_trend.variable" in line and "'wet'" in line and "['ndvi']" in line
    assert not is_complete(tmp_path / "out" / "run.zarr", "ndvi_trend")


def test_every_stage_parameter_is_documented():
    from cubeeco.pipeline.stages import STAGES

    doc = (Path(__file__).parents[1] / "docs" / "pipeline.md").read_text()
    for st in STAGES.values():
        for name in st.params:
            assert f"| `{name}` |" in doc, f"params.{st.name}.{name}: add it to docs/pipeline.md's reference"


# -- the error path itself --------------------------------------------------------------------
def test_debug_shows_the_traceback(tiny_base, tmp_path):
    args = ("search", "landsat-c2-l2", "--source", tiny_base.root, "--max-cloud", "-5")
    plain = cubeeco(*args)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [
        "cubeeco search: error: --max-cloud is a cloud-cover percentage and must be between 0 and 100, "
        "got -5.0."]
    for debug in (cubeeco("--debug", *args), cubeeco(*args, "--debug")):
        assert debug.returncode == 2
        assert "Traceback (most recent call last)" in debug.stderr
        assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()


def test_internal_errors_say_they_are_bugs(capsys):
    from cubeeco.cli import _report

    try:
        {}["datetime"]
    except KeyError as err:
        bug = err
    assert _report(bug, "search", debug=False) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "cubeeco search: internal error (a bug; please report it with the output of --debug): "
        "KeyError: 'datetime'"]
    assert _report(bug, "search", debug=True) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_permission_errors(tiny_base):
    """A folder the user may not write to, before any work (cube) and during it (run)."""
    user = [] if os.geteuid() != 0 else ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if user and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop privileges")
    root = Path(tempfile.mkdtemp(prefix="cubeeco-perm-"))
    try:
        root.chmod(0o755)
        shutil.copytree(tiny_base.root / "stac", root / "base" / "stac")
        readonly = root / "readonly"
        readonly.mkdir(mode=0o555)
        readonly.chmod(0o555)
        cfg = root / "run.yaml"
        cfg.write_text(yaml.safe_dump({"name": "p", "store": str(readonly / "run.zarr"),
                                       "steps": ["annual"], "source": str(root / "base"), "grid": GRID,
                                       "cluster": {"kind": "threads"}}))
        env = {**os.environ, "HOME": str(root)}
        for args, expected in [
            (["cube", "--source", root / "base", "--out", readonly / "c.zarr", "-q"],
             f"cubeeco cube: error: --out {readonly / 'c.zarr'}: no permission to write in {readonly}; "
             f"choose a folder you can write to."),
            (["run", cfg, "-q"], f"cubeeco run: error: no permission to use {readonly}"),
        ]:
            proc = subprocess.run([*user, sys.executable, "-m", "cubeeco.cli", *map(str, args)],
                                  capture_output=True, text=True, env=env, cwd=root)
            assert proc.returncode == 2, proc.stderr
            assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
            assert proc.stderr.startswith(expected), proc.stderr
        assert list(readonly.iterdir()) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)
