"""The HTML report (cubeeco/report/): one self-contained page per store, checked as text
and, where Chromium is installed, loaded headless (no console errors, maps visible)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
import zarr

from cubeeco.io.provenance import provenance
from cubeeco.io.store import write_store
from cubeeco.report import GENERATOR, Page, ReportWarning, is_cubeeco_report, section, write_report
from cubeeco.report.sections import SECTIONS

SECRET = "S3CRETtok3n"
PASSWORD = "hunter2pw"
NY, NX, YEARS = 48, 64, list(range(2015, 2021))


def _coords():
    x = 500_000.0 + 15 + 30 * np.arange(NX)
    y = 4_300_000.0 - 15 - 30 * np.arange(NY)
    time = pd.to_datetime([f"{yr}-07-01" for yr in YEARS])
    return x, y, time


def _ds(variables: dict) -> xr.Dataset:
    x, y, time = _coords()
    out = {}
    for name, (values, attrs) in variables.items():
        dims = ("time", "y", "x") if values.ndim == 3 else ("y", "x")
        out[name] = xr.DataArray(values, dims=dims, attrs=attrs)
    coords = {"x": x, "y": y}
    if any(v[0].ndim == 3 for v in variables.values()):
        coords["time"] = time
    return xr.Dataset(out, coords=coords).rio.write_crs("EPSG:32649")


def _groups():
    rng = np.random.default_rng(0)
    nt = len(YEARS)
    yy, xx = np.mgrid[0:NY, 0:NX]
    mine = (yy > 10) & (yy < 30) & (xx > 20) & (xx < 45)
    base = 0.2 + 0.5 * xx / NX
    ndvi = np.stack([base + 0.01 * t - 0.25 * mine * (t >= 3) for t in range(nt)]).astype("float32")
    ndvi += rng.normal(0, 0.01, ndvi.shape).astype("float32")
    annual = _ds({"ndvi": (ndvi, {"long_name": "NDVI", "units": "1"}),
                  "wet": (ndvi * 0.3 - 0.1, {"units": "1"}),
                  "red": (0.3 - ndvi * 0.2, {"units": "1"})})
    slope = (0.01 - 0.05 * mine + rng.normal(0, 0.002, (NY, NX))).astype("float32")
    p = np.where(mine, 0.001, 0.4).astype("float32")
    flag = np.where(mine, -1, np.where(xx > 50, 1, 0)).astype("int8")
    trend = _ds({"slope": (slope, {"units": "1 yr-1"}), "p": (p, {"units": "1"}),
                 "trend": (flag, {"flag_values": [-1, 0, 1], "nodata": -128})})
    trend.attrs["alpha"] = 0.05
    dy = np.where(mine, 2018, -1).astype("int32")
    disturbance = _ds({"destruction_year": (dy, {"nodata": -1}),
                       "restoration_year": (np.full((NY, NX), -1, "int32"), {"nodata": -1})})
    npp = np.stack([300 + 50 * base - 150 * mine + t for t in range(nt)]).astype("float32")
    modis = _ds({"npp": (npp, {"units": "g C m-2 yr-1"}), "vcs": (npp * 1.63, {"units": "g CO2 m-2 yr-1"})})
    lc = np.stack([np.where(mine & (t >= 3), 7, np.where(xx < 30, 1, 2)) for t in range(nt)]).astype("uint8")
    lc[:, :3, :] = 5
    land = _ds({"land_cover": (lc, {"long_name": "land cover class", "nodata": 0})})
    other = _ds({"foo_index": (rng.random((NY, NX)).astype("float32"), {"units": "kg m-2", "long_name": "foo"})})
    return {"annual": annual, "ndvi_trend": trend, "disturbance": disturbance, "modis_npp": modis,
            "land_cover": land, "zz_custom_stage": other}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    store = root / "run.zarr"
    for name, ds in _groups().items():
        write_store(ds, store, name, chunks=32,
                    provenance=provenance(config={"run": "t", "stage": name, "params": {"alpha": 0.05}}))
    write_store(_groups()["zz_custom_stage"], store, "half_written", chunks=32)
    zarr.open_group(str(store), path="half_written", mode="a", use_consolidated=False).attrs[
        "cubeeco:complete"] = False
    # credentials that slipped past every writer: the report still redacts them
    g = zarr.open_group(str(store), path="annual", mode="a", use_consolidated=False)
    g.attrs["provenance:source"] = f"https://stac.example.com/api/search?token={SECRET}&bbox=1,2,3,4"
    zarr.consolidate_metadata(str(store))
    log = [{"time": "2024-01-01T00:00:00", "run": "t", "stage": n, "action": "computed", "seconds": 1.5,
            "regions": 4, "regions_already_done": 0} for n in _groups()]
    log.append({"time": "2024-01-01T00:00:01", "event": "warning", "stage": "annual",
                "message": f"asset https://user:{PASSWORD}@data.example.com/a.tif skipped"})
    (root / "run.zarr.log.jsonl").write_text("\n".join(json.dumps(r) for r in log) + "\nnot json\n")
    return store


@pytest.fixture(scope="module")
def boundaries():
    import geopandas as gpd
    from shapely.geometry import box

    x, y, _ = _coords()
    zone = box(x[21], y[29], x[44], y[11])
    return gpd.GeoDataFrame({"name": ["mine A"]}, geometry=[zone], crs="EPSG:32649").to_crs(4326)


@pytest.fixture(scope="module")
def report(store, boundaries):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReportWarning)
        path = write_report(store, boundaries=boundaries, summary={"pixels": NX * NY, "note": "tiny"})
    return path


def test_self_contained(report, store):
    assert report == store.parent / "report.html"
    text = report.read_text()
    assert f'<meta name="generator" content="{GENERATOR}">' in text
    assert is_cubeeco_report(report)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "<script" not in text.lower()
    imgs = re.findall(r"<img\b[^>]*>", text)
    assert len(imgs) >= 8
    for tag in imgs:
        src = re.search(r'src="([^"]*)"', tag).group(1)
        assert src.startswith("data:image/png;base64,"), tag[:80]
    assert not list(store.parent.glob(".report.html.*"))     # no temporary file left


def test_sections_and_provenance(report):
    text = report.read_text()
    for anchor in ("provenance", "group-annual", "group-ndvi_trend", "group-disturbance", "group-modis_npp",
                   "group-land_cover", "group-zz_custom_stage"):
        assert f'id="{anchor}"' in text, anchor
    for title in ("Annual composites", "NDVI trend", "Land cover", "MODIS NPP"):
        assert title in text
    # sections by order, then the group without one
    order = [text.index(f'id="group-{g}"') for g in ("annual", "ndvi_trend", "disturbance", "modis_npp",
                                                     "land_cover", "zz_custom_stage")]
    assert order == sorted(order)
    # the group without a section: its variables summarised
    custom = text[text.index('id="group-zz_custom_stage"'):]
    assert "foo_index" in custom and "kg m-2" in custom
    # provenance: groups, run log stages and warnings, the incomplete group named, not shown
    assert "Run provenance" in text and "Run log: stages" in text and "computed" in text
    assert "half_written" in text and 'id="group-half_written"' not in text
    assert "unreadable line" in text
    assert "Summary" in text and "tiny" in text
    assert "cropland" in text or "Area of each land-cover class" in text
    assert "section failed" not in text


def test_redacted(report):
    text = report.read_text()
    assert SECRET not in text and PASSWORD not in text
    assert "token=REDACTED" in text and "REDACTED@data.example.com" in text


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("small") / "s.zarr"
    write_store(_groups()["zz_custom_stage"], store, "zz_custom_stage", chunks=32)
    return store


def test_refuses_foreign_file(report, small_store, tmp_path):
    foreign = tmp_path / "report.html"
    foreign.write_text("<html><body>my own notes</body></html>")
    with pytest.raises(FileExistsError, match=re.escape(str(foreign))):
        write_report(small_store, foreign)
    assert foreign.read_text() == "<html><body>my own notes</body></html>"
    (tmp_path / "folder.html").mkdir()
    with pytest.raises(FileExistsError, match="is a folder"):
        write_report(small_store, tmp_path / "folder.html")
    # a page cubeeco wrote is replaced
    ours = tmp_path / "ours.html"
    shutil.copy(report, ours)
    assert write_report(small_store, ours) == ours
    assert is_cubeeco_report(ours) and "foo_index" in ours.read_text() and "NDVI" not in ours.read_text()


def test_failing_section_is_shown(store, tmp_path, monkeypatch):
    def broken(page, group):
        page.text("before the failure")
        raise RuntimeError("the trend section broke")

    def extra_bad(page):
        raise ValueError(f"extra broke at https://x.example.com/?sig={SECRET}")

    def extra_good(page: Page):
        page.heading("Scores against the truth")
        page.table(pd.DataFrame([{"r": 0.93}]), caption="scores")

    monkeypatch.setitem(SECTIONS, "ndvi_trend", SECTIONS["ndvi_trend"])
    section("ndvi_trend", title="NDVI trend", order=30)(broken)
    with pytest.warns(ReportWarning) as caught:
        path = write_report(store, tmp_path / "r.html", extra_sections=[extra_bad, extra_good])
    messages = [str(w.message) for w in caught]
    assert any("the trend section broke" in m for m in messages)
    assert any("extra_bad" in m and SECRET not in m for m in messages)
    text = path.read_text()
    assert "section failed: RuntimeError: the trend section broke" in text
    assert "section failed: ValueError: extra broke" in text and SECRET not in text
    assert "Scores against the truth" in text and "0.93" in text
    assert 'id="group-land_cover"' in text    # the sections after it still ran


def test_failed_write_keeps_previous(report, small_store, tmp_path, monkeypatch):
    path = tmp_path / "keep.html"
    shutil.copy(report, path)
    before = path.read_text()

    import cubeeco.report.build as build

    def boom(*a, **k):
        raise RuntimeError("render failed")

    monkeypatch.setattr(build, "_document", boom)
    with pytest.raises(RuntimeError):
        write_report(small_store, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.html"]


def test_not_a_store(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Zarr store"):
        write_report(tmp_path / "missing.zarr")


def test_missing_variable_skips_panel(tmp_path):
    store = tmp_path / "s.zarr"
    ds = _groups()["annual"][["red"]]          # no ndvi: no NDVI map, no index chart
    write_store(ds, store, "annual", chunks=32)
    text = write_report(store).read_text()
    assert "section failed" not in text and 'id="group-annual"' in text and "red" in text


def test_map_reads_an_overview_only():
    """A large raster is sliced to at most max_px on a side before anything loads."""
    import dask.array as dsa

    from cubeeco.report.page import _map_array

    big = xr.DataArray(dsa.zeros((20_000, 16_000), chunks=4_000, dtype="float32"), dims=("y", "x"),
                       coords={"y": np.arange(20_000)[::-1] * 30.0, "x": np.arange(16_000) * 30.0})
    small = _map_array(big, 800)
    assert max(small.shape) <= 800 and small.shape[0] > 700


def test_table_format():
    page = Page("unused.zarr")
    df = pd.DataFrame({"name": ["a", "b"], "area": [1234.5678, float("nan")], "year": [2015, 2020]})
    df.attrs["units"] = {"area": "km²"}
    page.table(df, caption="areas", csv_href="t/areas.csv")
    out = page.render()
    assert "1235" in out and "km²" in out and 'href="t/areas.csv"' in out and "2015" in out and "–" in out


def test_cli_report(small_store, tmp_path, capsys):
    from cubeeco.cli import main

    out = tmp_path / "cli.html"
    assert main(["report", str(small_store), "--out", str(out), "--title", "Shendong run"]) == 0
    assert is_cubeeco_report(out) and "<title>Shendong run</title>" in out.read_text()
    assert json.loads(capsys.readouterr().out) == {"report": str(out)}
    foreign = tmp_path / "foreign.html"
    foreign.write_text("hello")
    assert main(["report", str(small_store), "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert "cubeeco report: error:" in err and str(foreign) in err and foreign.read_text() == "hello"
    assert main(["report", str(tmp_path / "nothing.zarr")]) == 2
    assert "no Zarr store" in capsys.readouterr().err


# -- tables (cubeeco.io.tables) ------------------------------------------------------------
def test_tables_listed(tmp_path):
    """The store's tables: listed under their stage, shown with units, linked to their CSV."""
    tables = pytest.importorskip("cubeeco.io.tables")

    store = tmp_path / "t.zarr"
    write_store(_groups()["zz_custom_stage"], store, "zz_custom_stage", chunks=32)
    df = pd.DataFrame({"zone": ["mine A", "mine B"], "area": [1.5, 2.25], "opened": [2003, 2011]})
    df.attrs.update(units={"area": "km²", "opened": "year"}, description="zone areas")
    tables.write_tables(store, "zz_custom_stage", {"zone_areas": df})
    tables.export_csv(store)
    assert tables.list_tables(store) == ["zone_areas"]
    text = write_report(store).read_text()
    group = text[text.index('id="group-zz_custom_stage"'):text.index('id="tables"')]
    assert 'href="#table-zone_areas"' in group and "zone areas" in group
    shown = text[text.index('id="tables"'):]
    assert 'id="table-zone_areas"' in shown and "mine B" in shown and "km²" in shown and "2011" in shown
    assert 'href="t.zarr.tables/zone_areas.csv"' in shown
    assert (tmp_path / "t.zarr.tables" / "zone_areas.csv").is_file()



def test_ecology_sections(tmp_path):
    """The RSEI trend and significance sections (cubeeco/report/builtin_ecology.py) on fake groups."""
    from cubeeco.io.tables import write_tables

    store = tmp_path / "eco.zarr"
    rng = np.random.default_rng(1)
    classes = rng.integers(-3, 4, (NY, NX)).astype("int8")
    classes[0] = -128
    year = np.where(rng.random((NY, NX)) < 0.5, 0, 2018).astype("int32")
    trend = _ds({"class_2015_2020": (classes, {"nodata": -128}), "pettitt_year": (year, {"nodata": 0}),
                 "pettitt_p": (rng.random((NY, NX)).astype("float32"), {"units": "1"})})
    write_store(trend.assign_attrs(periods=["2015_2020"]), store, "rsei_trend", chunks=32)
    write_store(_ds({"q_2015_2020": (rng.random((NY, NX)).astype("float32"), {"units": "1"})}), store,
                "rsei_significance", chunks=32)
    fits = pd.DataFrame({"fit": ["quadratic"] * 3 + ["piecewise"] * 4,
                         "term": ["c0", "c1", "c2", "breakpoint", "slope_1", "slope_2", "value_at_breakpoint"],
                         "value": [0.3, 0.0, 0.0, 2017.5, 0.01, -0.01, 0.32]})
    write_tables(store, "rsei_significance", {
        "rsei_regional_series": pd.DataFrame({"year": YEARS, "rsei_mean": np.linspace(0.3, 0.35, len(YEARS))}),
        "rsei_series_fits": fits})
    text = write_report(store).read_text()
    assert "section failed" not in text and "not drawn" not in text
    for title in ("RSEI trend", "Field significance of the RSEI trends", "Regional mean RSEI and its fits"):
        assert title in text
    trend_part = text[text.index('id="group-rsei_trend"'):text.index('id="group-rsei_significance"')]
    assert trend_part.count("data:image/png;base64,") == 2      # class map, Pettitt map

# -- headless Chromium ---------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                    "(scripts/install-test-deps.sh installs Debian's chromium)")


def _load(page, shot, size="1280,2400"):
    """Load ``page`` headless; returns the console messages Chromium logged."""
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr",
         "--v=0", f"--screenshot={shot}", f"--window-size={size}", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    # this Chromium logs every console message as INFO:CONSOLE whatever its level; the
    # report has no script, so any console message (an error, a blocked load) is a fault
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@needs_chromium
def test_console_check_can_fail(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><p>x</p><script>throw new Error("deliberate x")</script></body></html>')
    console = _load(bad, tmp_path / "bad.png", "400,300")
    assert any("Uncaught" in line and "deliberate x" in line for line in console), console


@needs_chromium
def test_chromium_renders_report(report, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    console = _load(report, shot)
    assert console == []
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (2400, 1280)
    # colourful (saturated) pixels: maps and charts, not a blank or text-only page
    saturation = img.max(axis=2) - img.min(axis=2)
    colourful = saturation > 60
    assert colourful.mean() > 0.05, colourful.mean()
    # many distinct colours (colormaps), in the upper part where the first maps are
    top = img[:1600][colourful[:1600]]
    assert len({tuple(c) for c in top[:: max(1, len(top) // 20000)]}) > 50
