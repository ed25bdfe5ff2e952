"""Significance classes and FDR adjustment (BH/BY) against scipy, numpy == dask."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rioxarray  # noqa: F401
import scipy.stats as ss
import shapely
import xarray as xr

from cubeeco.ops.significance import (
    DEFAULT_BUCKET_SIZE,
    fdr_adjust,
    share_significant,
    significance_classes,
)
from cubeeco.ops.trend import NODATA_INT8
from cubeeco.testing.laziness import raise_if_dask_computes


def _p(seed=0, shape=(40, 50), nan_frac=0.1, decimals=None):
    rng = np.random.default_rng(seed)
    p = rng.random(shape) ** 3
    p[rng.random(shape) < nan_frac] = np.nan
    if decimals is not None:  # many ties
        p = np.round(p, decimals)
    return xr.DataArray(p, dims=("y", "x"), coords={"y": 1000.0 - 30 * np.arange(shape[0]) - 15,
                                                      "x": 30 * np.arange(shape[1]) + 15.0})


def _ref(p, method):
    v = np.asarray(p, dtype=np.float64)
    ok = np.isfinite(v)
    out = np.full(v.shape, np.nan)
    out[ok] = ss.false_discovery_control(v[ok], method=method)
    return out


@pytest.mark.parametrize("method", ["bh", "by"])
@pytest.mark.parametrize("decimals", [None, 2, 3])
@pytest.mark.parametrize("bucket_size", [DEFAULT_BUCKET_SIZE, 97])
def test_fdr_matches_scipy_numpy_and_dask(method, decimals, bucket_size):
    p = _p(seed=3, decimals=decimals)
    ref = _ref(p.values, method)
    q = fdr_adjust(p, method)
    np.testing.assert_array_equal(q.values, ref)
    with raise_if_dask_computes():
        qd = fdr_adjust(p.chunk(y=7, x=13), method, bucket_size=bucket_size)
    assert qd.chunks is not None and qd.chunks == p.chunk(y=7, x=13).chunks
    np.testing.assert_array_equal(qd.values, ref)
    assert q.dims == p.dims and q.attrs["fdr_method"] == method


def test_fdr_edge_cases():
    # all NaN, one value, exact 0 and 1, all tied
    for arr in ([np.nan, np.nan], [0.3], [0.0, 1.0, 1.0, 0.0, 0.5], [0.2] * 6, [-0.0, 0.5, 0.0]):
        p = xr.DataArray(np.array(arr, dtype=float).reshape(1, -1), dims=("y", "x"))
        for m in ("bh", "by"):
            np.testing.assert_array_equal(fdr_adjust(p, m).values, _ref(p.values, m))
            for bs in (DEFAULT_BUCKET_SIZE, 1):
                np.testing.assert_array_equal(fdr_adjust(p.chunk(x=1), m, bucket_size=bs).values, _ref(p.values, m))


def test_fdr_float32_and_families():
    p = _p(seed=5).astype(np.float32)
    stack = xr.concat([p, p[::-1].values * 0.5 + 0 * p], dim="layer").transpose("y", "layer", "x")
    q = fdr_adjust(stack, "bh")
    qd = fdr_adjust(stack.chunk(y=10, x=25), "bh", bucket_size=300).compute()
    assert q.dims == stack.dims
    for i in range(2):
        ref = _ref(stack.isel(layer=i).values.astype(np.float64), "bh")
        np.testing.assert_array_equal(q.isel(layer=i).values, ref)
        np.testing.assert_array_equal(qd.isel(layer=i).values, ref)


def test_fdr_rejects_bad_input():
    p = _p()
    with pytest.raises(ValueError, match="method"):
        fdr_adjust(p, "holm")
    with pytest.raises(ValueError, match="no dimension"):
        fdr_adjust(p, dims=("lat",))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fdr_adjust(p + 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):  # dask: when computed
        fdr_adjust((p - 0.5).chunk(y=10)).compute()


def test_significance_classes():
    p = xr.DataArray([0.5, 0.09, 0.05, 0.011, 0.001, 0.001, np.nan, 0.001, 0.2], dims="x")
    slope = xr.DataArray([1.0, -1.0, 2.0, -3.0, 4.0, 0.0, 1.0, np.nan, -1.0], dims="x")
    c = significance_classes(p, slope)
    assert c.dtype == np.int8
    assert c.values.tolist() == [0, -1, 2, -2, 3, 0, NODATA_INT8, NODATA_INT8, 0]
    assert c.attrs["flag_values"] == [-3, -2, -1, 0, 1, 2, 3]
    assert c.attrs["flag_meanings"].split()[0] == "decrease_p_le_0.01"
    cd = significance_classes(p.chunk(x=4), slope.chunk(x=4))
    assert cd.chunks is not None
    np.testing.assert_array_equal(cd.values, c.values)
    with pytest.raises(ValueError):
        significance_classes(p, slope, levels=(0.05, 1.5))


def test_share_significant_total_and_zones():
    p = _p(seed=1, shape=(20, 20)).rio.write_crs("EPSG:32649")
    q = fdr_adjust(p)
    total = share_significant(q, 0.05)
    v = q.values[np.isfinite(q.values)]
    assert total == pytest.approx((v <= 0.05).mean())
    assert share_significant(q.chunk(y=5), 0.05) == pytest.approx(total)
    x0, y1 = 0.0, 1000.0
    zones = gpd.GeoDataFrame({"name": ["left", "all"]},
                             geometry=[shapely.box(x0, y1 - 600, x0 + 300, y1), shapely.box(x0, y1 - 600, x0 + 600, y1)],
                             crs="EPSG:32649")
    df = share_significant(q, 0.05, zones, id_column="name")
    assert df.attrs["total"] == pytest.approx(total)
    assert df["name"].tolist() == ["left", "all"]
    # zone "left": rows 0..19, cols 0..9 (centre coverage), the full grid is 600 m x 600 m
    sub = q.values[:, :10]
    assert df["share"].iloc[0] == pytest.approx((sub[np.isfinite(sub)] <= 0.05).mean())
    assert df["share"].iloc[1] == pytest.approx(total)
    dff = share_significant(q, 0.05, zones, id_column="name", coverage="fraction")
    np.testing.assert_allclose(dff["share"], df["share"])  # zones follow pixel edges
