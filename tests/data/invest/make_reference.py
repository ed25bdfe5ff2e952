"""Make the natcap.invest Carbon reference outputs that tests/test_invest.py checks against.

Run once, outside the project's environment, with a Python that has natcap.invest (>= 3.15:
per-pixel outputs in t/ha) and the GDAL bindings::

    /usr/bin/python3 -m venv --system-site-packages /tmp/iv2     # Debian's python3-gdal 3.6.2
    # + libgdal-dev, cython<3.1, setuptools>=77, numpy==1.24.2 (what the GDAL bindings were built on),
    # pip install --no-build-isolation pygeoprocessing==2.4.9 natcap.invest==3.17.1
    /tmp/iv2/bin/python tests/data/invest/make_reference.py

For each case it writes random LULC GeoTIFFs (with nodata) and a carbon pools CSV, runs
``natcap.invest.carbon.execute`` and saves, under tests/data/invest/<case>/:
``lulc_bas.npy`` / ``lulc_alt.npy`` (the inputs), ``pools.csv``, ``c_storage_bas.npy`` /
``c_storage_alt.npy`` / ``c_change_bas_alt.npy`` (InVEST's rasters, float32, its nodata -1
kept), and ``totals.json``: the totals InVEST reports (its report's ``%.2f`` numbers, and the
same sums unrounded, by InVEST's own ``_accumulate_totals`` x pixel area / 10000).
GeoTIFFs are written with GDAL (osgeo), the library InVEST itself reads them with.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import natcap.invest
import numpy as np
import pandas as pd
from natcap.invest import carbon
from osgeo import gdal, osr

HERE = Path(__file__).resolve().parent


def write_tif(path, arr, nodata, pixel, epsg=32649, origin=(500000.0, 4400000.0)):
    dtype = {np.dtype("int16"): gdal.GDT_Int16, np.dtype("uint8"): gdal.GDT_Byte,
             np.dtype("int32"): gdal.GDT_Int32}[arr.dtype]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[1], arr.shape[0], 1, dtype)
    ds.SetGeoTransform((origin[0], pixel[0], 0.0, origin[1], 0.0, -pixel[1]))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    band.WriteArray(arr)
    band.SetNoDataValue(nodata)
    ds.FlushCache()
    ds = None


def read_tif(path):
    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    return band.ReadAsArray(), band.GetNoDataValue()


def random_lulc(rng, shape, codes, nodata, p_nodata, dtype):
    arr = rng.choice(np.asarray(codes), size=shape).astype(dtype)
    arr[rng.random(shape) < p_nodata] = nodata
    return arr


CASES = {
    # study 004 Table 3 densities, 10 m pixels (the study's grid), int16 codes, nodata -1
    "study004_10m": dict(shape=(37, 53), pixel=(10.0, 10.0), dtype="int16", nodata=-1, p_nodata=0.1,
                         pools=str(HERE.parents[2] / "cubeeco" / "data" / "invest_carbon_study004.csv"),
                         alt=True, seed=4),
    # random densities with many decimals (float32 rounding shows), uint8 codes, nodata 255, 30 m
    "random_30m": dict(shape=(64, 48), pixel=(30.0, 30.0), dtype="uint8", nodata=255, p_nodata=0.2,
                       pools=None, alt=True, seed=13),
    # non-square pixels, baseline only, int32 codes incl. 0, nodata -9999
    "baseline_only": dict(shape=(25, 31), pixel=(30.0, 25.0), dtype="int32", nodata=-9999, p_nodata=0.05,
                          pools=None, alt=False, seed=99),
}


def random_pools(rng, codes):
    return pd.DataFrame({
        "lucode": codes,
        "lulc_name": [f"class {c}" for c in codes],
        "c_above": rng.uniform(0, 120, len(codes)).round(6),
        "c_below": rng.uniform(0, 40, len(codes)).round(6),
        "c_soil": rng.uniform(0, 300, len(codes)).round(6),
        "c_dead": rng.uniform(0, 15, len(codes)).round(6),
    })


def main():
    for name, c in CASES.items():
        rng = np.random.default_rng(c["seed"])
        out = HERE / name
        out.mkdir(exist_ok=True)
        if c["pools"] is None:
            codes = [0, 1, 2, 5, 7, 11, 42] if c["dtype"] == "int32" else [1, 2, 3, 4, 6, 9, 10, 12]
            pools = random_pools(rng, codes)
        else:
            pools = pd.read_csv(c["pools"])
            codes = list(pools["lucode"])
        pools.to_csv(out / "pools.csv", index=False)
        work = Path(tempfile.mkdtemp(prefix=f"invest_{name}_"))
        bas = random_lulc(rng, c["shape"], codes, c["nodata"], c["p_nodata"], c["dtype"])
        np.save(out / "lulc_bas.npy", bas)
        write_tif(work / "lulc_bas.tif", bas, c["nodata"], c["pixel"])
        args = {"workspace_dir": str(work / "ws"), "results_suffix": "", "lulc_bas_path": str(work / "lulc_bas.tif"),
                "carbon_pools_path": str(out / "pools.csv"), "calc_sequestration": c["alt"],
                "do_valuation": False, "n_workers": -1}
        if c["alt"]:
            alt = random_lulc(rng, c["shape"], codes, c["nodata"], c["p_nodata"], c["dtype"])
            np.save(out / "lulc_alt.npy", alt)
            write_tif(work / "lulc_alt.tif", alt, c["nodata"], c["pixel"])
            args["lulc_alt_path"] = str(work / "lulc_alt.tif")
        carbon.execute(args)
        ws = work / "ws"
        rasters = ["c_storage_bas"] + (["c_storage_alt", "c_change_bas_alt"] if c["alt"] else [])
        totals = {"natcap_invest_version": natcap.invest.__version__, "pixel_size_m": list(c["pixel"]),
                  "lulc_nodata": c["nodata"], "units": "t (Mg C)", "exact": {}, "report_2dp": {}}
        area = abs(c["pixel"][0] * c["pixel"][1])
        for r in rasters:
            arr, nd = read_tif(ws / f"{r}.tif")
            np.save(out / f"{r}.npy", arr)
            totals["carbon_nodata"] = nd
            totals["exact"][r] = carbon._accumulate_totals(str(ws / f"{r}.tif")) * area / 10000
        report = next(ws.glob("report*.html")).read_text()
        for desc, val in re.findall(r'data-summary-stat="([^"]+)">([-0-9.]+)<', report):
            totals["report_2dp"][desc] = float(val)
        (out / "totals.json").write_text(json.dumps(totals, indent=2) + "\n")
        shutil.rmtree(work)
        print(name, totals["exact"])


if __name__ == "__main__":
    main()
