"""The synthetic coal base looks like the real collections and is deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import xarray as xr

from cubeeco.io.search import read_catalog
from cubeeco.synth import SynthConfig, preset, synthesize
from cubeeco.synth.landsat import OLI, TM, qa_values

CLOUDY_BITS = (1 << 1) | (1 << 3) | (1 << 4)


def _items(base, collection):
    return read_catalog(base.catalog)[1][collection]


def test_catalog_holds_every_product(tiny_base):
    collections, items = read_catalog(tiny_base.catalog)
    assert set(collections) == {"landsat-c2-l2", "modis-17A3HGF-061", "synthetic-clcd", "synthetic-dem",
                                "synthetic-climate", "synthetic-mines"}
    cfg = tiny_base.config
    n_landsat = (len(cfg.year_list) * (cfg.scenes_per_season + cfg.off_season_scenes)
                 + 8 * len(cfg.monthly_years))
    assert len(items["landsat-c2-l2"]) == n_landsat
    # Terra (MOD) and Aqua (MYD) items in one collection, as on the Planetary Computer
    assert len(items["modis-17A3HGF-061"]) == 2 * len([y for y in cfg.year_list if y >= 2001])
    assert len(items["synthetic-clcd"]) == len(cfg.year_list)
    for cid, coll in collections.items():
        pystac.Collection.from_dict(coll)
        for d in items[cid]:
            it = pystac.Item.from_dict(d)
            assert it.collection_id == cid
            for asset in d["assets"].values():
                assert Path(asset["href"]).is_absolute() and Path(asset["href"]).exists()


def test_landsat_items_mirror_the_real_collection(tiny_base):
    for d in _items(tiny_base, "landsat-c2-l2"):
        year = int(d["properties"]["datetime"][:4])
        sensor = TM if year <= 2011 else OLI if year >= 2013 else None
        platform = d["properties"]["platform"]
        assert platform == {2012: "landsat-7"}.get(year, sensor.platform if sensor else None)
        assert d["id"][:4] == {"landsat-5": "LT05", "landsat-7": "LE07", "landsat-8": "LC08"}[platform]
        thermal = "lwir11" if platform == "landsat-8" else "lwir"
        # the cube's assets, among the others real items carry (tests/test_real_items.py);
        # L2SR scenes have no thermal asset
        l2sp = d["properties"]["landsat:correction"] == "L2SP"
        assert {"blue", "green", "red", "nir08", "swir16", "swir22", "qa_pixel"} <= set(d["assets"])
        assert (thermal in d["assets"]) == l2sp
        red = d["assets"]["red"]["raster:bands"][0]
        assert (red["scale"], red["offset"], red["nodata"], red["data_type"]) == (2.75e-05, -0.2, 0, "uint16")
        if l2sp:
            st = d["assets"][thermal]["raster:bands"][0]
            assert (st["scale"], st["offset"]) == (0.00341802, 149.0)
        assert d["properties"]["proj:epsg"] == 32649
        assert d["properties"]["landsat:correction"] in ("L2SP", "L2SR")
        with rasterio.open(d["assets"]["red"]["href"]) as src:
            assert src.dtypes[0] == "uint16" and src.crs.to_epsg() == 32649
            assert src.profile.get("tiled") or src.block_shapes[0][0] < src.height


def test_qa_pixel_flags_clouds_and_slc_off(tiny_base):
    seen_cloud = seen_slc = False
    for d in _items(tiny_base, "landsat-c2-l2"):
        with rasterio.open(d["assets"]["qa_pixel"]["href"]) as src:
            qa = src.read(1)
        flagged = ((qa & CLOUDY_BITS) != 0) & (qa != 1)
        valid = qa != 1
        cover = 100 * flagged[valid].mean()
        assert cover == pytest.approx(d["properties"]["eo:cloud_cover"], abs=0.01)
        seen_cloud |= cover > 5
        if d["properties"]["platform"] == "landsat-7":
            # SLC-off stripes: fill (QA = 1) in many separate rows
            assert (qa == 1).any(axis=1).sum() > qa.shape[0] // 3
            seen_slc = True
        clear_values = set(np.unique(qa[(qa & 0b111111) == 0]).tolist())
        expected = qa_values(OLI if d["properties"]["platform"] == "landsat-8" else TM)
        assert clear_values <= {expected["clear"], expected["water"]}
    assert seen_cloud and seen_slc


def test_modis_npp_is_sinusoidal_int16_from_2001(tiny_base):
    items = _items(tiny_base, "modis-17A3HGF-061")
    assert min(int(d["properties"]["start_datetime"][:4]) for d in items) == max(2001, tiny_base.config.years[0])
    with rasterio.open(items[0]["assets"]["Npp_500m"]["href"]) as src:
        assert src.dtypes[0] == "int16"
        assert "Sinusoidal" in src.crs.to_wkt() or "sinu" in src.crs.to_proj4()
        assert src.res[0] == pytest.approx(463.3127, abs=1e-3)
        dn = src.read(1)
    valid = dn[dn <= 32700]
    assert valid.size and 50 <= valid.mean() * 0.1 <= 600     # g C m-2 yr-1, grassland range


def test_truth_matches_mine_polygons(tiny_base):
    truth = xr.open_zarr(tiny_base.root / "truth" / "truth.zarr")
    mines = json.loads((tiny_base.root / "vectors" / "mines.geojson").read_text())["features"]
    assert len(mines) == tiny_base.config.n_mines
    dy, ry = truth.destruction_year.values, truth.restoration_year.values
    for f in mines:
        props = f["properties"]
        inside = truth.mine_id.values == props["mine_id"]
        assert inside.sum() > 20
        # the pit advances strip by strip: the first strips open in open_year, later ones
        # in the following years; every pixel of the footprint is opened at some point
        years = set(np.unique(dy[inside]).tolist())
        assert min(years) == props["open_year"] and 0 not in years and len(years) >= 2
        first_restored = ry[inside & (ry > 0)]
        assert props["restoration_year"] == (int(first_restored.min()) if first_restored.size else None)
        assert props["area_km2"] == pytest.approx(inside.sum() * 900 / 1e6, rel=0.1)
    assert set(np.unique(truth.mine_id.values[dy > 0])) == {f["properties"]["mine_id"] for f in mines}
    # mined pixels lose their vegetation in their own strip's year
    nd = truth.ndvi_true.values
    years = truth.time.dt.year.values
    for d in np.unique(dy[dy > 0]):
        strip = dy == d
        k = int(np.flatnonzero(years == d)[0])
        assert nd[k - 1][strip].mean() - nd[k][strip].mean() > 0.1


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    cfg = SynthConfig(width_px=40, height_px=36, years=(2012, 2013), n_mines=1, n_stations=1, modis=False)
    a = synthesize(cfg, tmp_path / "a", progress=False)
    b = synthesize(cfg, tmp_path / "b", progress=False)
    c = synthesize(SynthConfig(**{**cfg.__dict__, "seed": 7}), tmp_path / "c", progress=False)

    def arrays(base):
        return [rasterio.open(d["assets"]["nir08"]["href"]).read(1) for d in _items(base, "landsat-c2-l2")]

    assert all(np.array_equal(x, y) for x, y in zip(arrays(a), arrays(b)))
    assert not all(np.array_equal(x, y) for x, y in zip(arrays(a), arrays(c)))
    # an existing complete folder is reused, one with another config is refused
    assert synthesize(cfg, tmp_path / "a", progress=False).seconds == 0.0
    with pytest.raises(FileExistsError, match="another configuration"):
        synthesize(SynthConfig(**{**cfg.__dict__, "seed": 8}), tmp_path / "a", progress=False)


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="unknown synth preset"):
        preset("nowhere")
    with pytest.raises(ValueError, match="years"):
        SynthConfig(years=(2010, 2001))
    with pytest.raises(ValueError, match="15 m modulo 30 m"):
        SynthConfig(origin=(400_000.0, 4_350_001.0))
    with pytest.raises(ValueError, match="15 m modulo 30 m"):     # C2 corners are never at 30k
        SynthConfig(origin=(399_990.0, 4_350_000.0))
    with pytest.raises(ValueError, match="unknown key"):
        SynthConfig.from_dict({"sead": 1})


def test_shendong_preset_is_shendong_sized():
    cfg = preset("shendong")
    area_km2 = cfg.width_px * cfg.height_px * 900 / 1e6
    assert area_km2 == pytest.approx(18_393.7, rel=1e-3)
    assert cfg.n_mines == 133
