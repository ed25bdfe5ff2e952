"""The command line: real subprocesses, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def cubeeco(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "cubeeco.cli", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def test_synth_search_cube(tmp_path):
    out = tmp_path / "base"
    info = json.loads(cubeeco("synth", "--preset", "tiny", "--size", "48", "40", "--years", "2012", "2013",
                              "--out", out, "-q").stdout)
    assert info["pixels"] == 48 * 40 and (out / "synth.json").exists()
    listing = cubeeco("search", "landsat-c2-l2", "--source", out, "--platform", "landsat-8").stdout
    assert listing.count("LC08_") == 4 and "LE07_" not in listing
    geojson = json.loads(cubeeco("search", "landsat-c2-l2", "--source", out, "--datetime", "2012", "--json").stdout)
    assert {f["properties"]["platform"] for f in geojson["features"]} == {"landsat-7"}
    result = json.loads(cubeeco("cube", "--source", out, "--out", tmp_path / "c.zarr", "-q").stdout)
    assert result["pixel_years"] == 2 * 48 * 40
    import xarray as xr

    assert xr.open_zarr(tmp_path / "c.zarr", group="annual").sizes["time"] == 2


@pytest.mark.parametrize("args, message", [
    (("synth", "--preset", "atlantis", "--out", "x"), "unknown synth preset"),
    (("search", "landsat-c2-l2", "--source", "/nonexistent/catalog"), "neither a known endpoint"),
    (("cube", "--source", "/nonexistent", "--out", "y.zarr"), "neither a known endpoint"),
    (("cube", "--out", "y.zarr", "--bounds", "30", "0", "0", "30"), "--bounds 30 0 0 30: give MINX MINY MAXX MAXY"),
    (("search", "landsat-c2-l2", "--max-items", "-1"), "--max-items -1: give a whole number >= 1"),
    (("run", "/nonexistent/run.yaml"), "config file /nonexistent/run.yaml does not exist"),
])
def test_errors_exit_nonzero_with_a_message(tmp_path, args, message):
    proc = cubeeco(*args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_flag_before_or_after_the_command(where):
    args = ["cube", "--out", "y.zarr", "--years", "2010", "2005"]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    proc = cubeeco(*args, check=False)
    assert proc.returncode == 2 and "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("cubeeco cube: error: --years 2010 2005")


def test_bad_arguments_exit_nonzero():
    proc = cubeeco("search", check=False)
    assert proc.returncode == 2 and "usage" in proc.stderr
