"""Zarr round trips keep values, coordinates, CRS and attributes; GDAL reads them."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
import xarray as xr

import cubeeco
from cubeeco.io.composite import annual_composite
from cubeeco.io.cube import open_cube
from cubeeco.io.lock import store_lock
from cubeeco.io.provenance import provenance
from cubeeco.io.store import (
    IncompleteGroupError,
    is_complete,
    list_groups,
    open_store,
    read_provenance,
    write_store,
)


@pytest.fixture(scope="module")
def annual(tiny_base, tiny_config):
    items = cubeeco.search("landsat-c2-l2", source=tiny_base.root)
    return annual_composite(open_cube(items, grid=tiny_config.grid, chunksize=32)), items


def test_round_trip(tmp_path, annual):
    ds, items = annual
    store = tmp_path / "run.zarr"
    write_store(ds, store, "annual", provenance=provenance(items=items, config={"method": "median"}), chunks=48)
    back = open_store(store, "annual")
    assert list_groups(store) == ["annual"]
    expected = ds.compute()
    for name in expected.data_vars:
        np.testing.assert_array_equal(back[name].values, expected[name].values)
        assert back[name].dtype == expected[name].dtype
        assert back[name].attrs["units"] == expected[name].attrs["units"]
    np.testing.assert_array_equal(back.x.values, expected.x.values)
    np.testing.assert_array_equal(back.y.values, expected.y.values)
    np.testing.assert_array_equal(back.time.values, expected.time.values)
    assert back.rio.crs.to_epsg() == 32649
    assert back.rio.transform() == ds.rio.transform()
    # whole time axis in one chunk, spatial tiles
    assert back.red.chunks[0] == (ds.sizes["time"],)
    import zarr

    assert zarr.open_array(str(store / "annual" / "red"), mode="r").chunks == (ds.sizes["time"], 48, 48)
    prov = read_provenance(store, "annual")
    assert prov["config"] == {"method": "median"}
    assert prov["stac_item_ids"] == sorted(i.id for i in items)
    assert prov["versions"]["cubeeco"] == cubeeco.__version__
    assert back.attrs["composite_method"] == "median"


def test_incomplete_group_is_refused(tmp_path, annual):
    ds, _ = annual
    store = tmp_path / "half.zarr"
    with store_lock(store):
        write_store(ds.isel(time=[0]), store, "annual", compute=False)   # metadata only, no marker
    assert not is_complete(store, "annual")
    with pytest.raises(IncompleteGroupError, match="incomplete"):
        open_store(store, "annual")
    with pytest.raises(FileNotFoundError):
        open_store(tmp_path / "none.zarr")


@pytest.mark.skipif(shutil.which("gdalinfo") is None and not os.environ.get("CI"),
                    reason="GDAL command-line tools not installed (scripts/install-test-deps.sh)")
def test_gdal_reads_arrays_with_crs_and_geotransform(tmp_path, annual):
    ds, _ = annual
    store = tmp_path / "gdal.zarr"
    write_store(ds, store, "annual")
    out = subprocess.run(["gdalinfo", "-json", f'ZARR:"{store}/annual":/red:0'],
                         capture_output=True, text=True, check=True).stdout
    import json

    info = json.loads(out)
    assert info["size"] == [ds.sizes["x"], ds.sizes["y"]]
    assert "UTM zone 49N" in info["coordinateSystem"]["wkt"]
    gt = info["geoTransform"]
    assert gt[0] == pytest.approx(ds.x.values[0] - 15) and gt[3] == pytest.approx(ds.y.values[0] + 15)
    assert gt[1] == pytest.approx(30) and gt[5] == pytest.approx(-30)


def test_xarray_open_zarr_directly(tmp_path, annual):
    ds, _ = annual
    store = tmp_path / "plain.zarr"
    write_store(ds, store, "annual")
    plain = xr.open_zarr(store, group="annual")
    assert set(ds.data_vars) <= set(plain.data_vars)


def test_results_derived_from_a_store_write_anywhere(tmp_path, annual):
    # a stored group's v2 codecs must not follow its coordinates into derived results:
    # a plain to_zarr into a new (Zarr v3 by default) store has to work
    write_store(annual[0], tmp_path / "a.zarr", "annual")
    stored = cubeeco.open_store(tmp_path / "a.zarr", "annual")
    ndvi = cubeeco.indices.ndvi(stored.red, stored.nir08)
    result = cubeeco.sen_mann_kendall(ndvi)
    result.to_zarr(tmp_path / "result.zarr", consolidated=False)
    back = xr.open_zarr(tmp_path / "result.zarr", consolidated=False)
    np.testing.assert_array_equal(back.slope.values, result.slope.values)


def test_killed_right_after_the_completion_marker_still_opens(tmp_path, annual, monkeypatch):
    # fault injection: the second consolidation inside mark_complete "dies"; the group was
    # written with consolidated=False (as the pipeline writes it), so only mark_complete's
    # first consolidation can have made it visible to consolidated readers
    import zarr

    import cubeeco.io.store as store_mod

    ds = store_mod.prepare(annual[0].isel(time=[0, 1]), chunks=48)
    path = tmp_path / "s.zarr"
    ds.to_zarr(path, group="g", mode="w", consolidated=False, zarr_format=2,
               encoding=store_mod.encoding_for(ds))
    calls = []
    real = zarr.consolidate_metadata

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(zarr, "consolidate_metadata", dying)
    with pytest.raises(KeyboardInterrupt):
        store_mod.mark_complete(path, "g")
    monkeypatch.undo()
    assert store_mod.is_complete(path, "g")
    back = cubeeco.open_store(path, "g")
    np.testing.assert_array_equal(back.red.values, ds.red.values)


def test_compute_false_needs_the_store_lock(tmp_path, annual):
    ds, _ = annual
    store = tmp_path / "s.zarr"
    with pytest.raises(ValueError, match="compute=False.*store_lock"):
        write_store(ds.isel(time=[0]), store, "annual", compute=False)
    assert not store.exists()


def test_a_trailing_slash_in_the_store_path_stages_beside_the_store(tmp_path, annual):
    ds, _ = annual
    write_store(ds.isel(time=[0]), str(tmp_path / "s.zarr") + "/", "g")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]
    assert sorted(p.name for p in (tmp_path / "s.zarr").iterdir()
                  if not p.name.startswith(".")) == ["g"]
    assert is_complete(str(tmp_path / "s.zarr") + "/", "g")
    assert open_store(str(tmp_path / "s.zarr") + "/", "g").sizes["time"] == 1


@pytest.mark.parametrize("group", ["annual.old", "annual.commit"])
def test_group_names_that_collide_with_staging_names_are_refused(tmp_path, annual, group):
    ds, _ = annual
    with pytest.raises(ValueError, match=group.replace(".", r"\.")):
        write_store(ds.isel(time=[0]), tmp_path / "s.zarr", group)
