"""Moving-window metric maps: brute force per window, both shapes, one chunk or many, lazy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from cubeeco.kernels.eg import window_half_widths
from cubeeco.ops.moving_window import WINDOW_METRICS, moving_window
from cubeeco.testing import raise_if_dask_computes

CS = 10.0


def _raster(shape, seed, n_classes=4, p_nodata=0.1):
    rng = np.random.default_rng(seed)
    a = rng.integers(1, n_classes + 1, shape)
    a[rng.random(shape) < p_nodata] = 0
    return a.astype(np.int16)


def _da(a):
    n, m = a.shape
    return xr.DataArray(a, dims=("y", "x"), coords={"y": -CS * np.arange(n), "x": CS * np.arange(m)})


def _brute(a, radius, shape, eight):
    """Every window from scratch: mask, scipy labels, explicit pair counts (plain numpy)."""
    half = window_half_widths(radius, CS, CS, shape)
    n, m = a.shape
    r = (half.size - 1) // 2
    out = {k: np.full((n, m), np.nan) for k in WINDOW_METRICS}
    struct = np.ones((3, 3)) if eight else None
    for i in range(n):
        for j in range(m):
            if a[i, j] == 0:
                continue
            mask = np.zeros((n, m), bool)
            for t, h in enumerate(half):
                if 0 <= i + t - r < n:
                    mask[i + t - r, max(0, j - h): j + h + 1] = True
            w = np.where(mask, a, 0)
            nv = np.count_nonzero(w)
            cl, cnt = np.unique(w[w > 0], return_counts=True)
            p = cnt / nv
            n_p, big = 0, 0
            for c in cl:
                lab, k = ndimage.label(w == c, structure=struct)
                n_p += k
                big = max(big, np.bincount(lab.ravel())[1:].max())
            g = np.zeros((cl.size, cl.size))
            for x1, x2 in ((w[:, :-1], w[:, 1:]), (w[:-1], w[1:])):
                ok = (x1 > 0) & (x2 > 0)
                np.add.at(g, (np.searchsorted(cl, x1[ok]), np.searchsorted(cl, x2[ok])), 1)
            g = g + g.T
            edges = (g.sum() - np.trace(g)) / 2
            area = nv * CS * CS
            shdi = -np.sum(p * np.log(p))
            o = {"NP": n_p, "PD": n_p / area * 1e6, "LPI": 100 * big / nv, "TE": edges * CS,
                 "ED": edges * CS / area * 1e4, "SHDI": shdi, "SHEI": shdi / math.log(cl.size) if cl.size > 1 else 0.0,
                 "SIDI": 1 - np.sum(p ** 2), "PR": cl.size,
                 "PLADJ": 100 * np.trace(g) / g.sum() if g.sum() > 0 else np.nan, "CONTAG": np.nan}
            if cl.size >= 2:
                gi = g.sum(1, keepdims=True)
                x = np.where(gi > 0, p[:, None] * g / np.where(gi > 0, gi, 1), 0)
                s = np.sum(np.where(x > 0, x * np.log(np.where(x > 0, x, 1)), 0))
                o["CONTAG"] = 100 * (1 + s / (2 * math.log(cl.size)))
            for k, v in o.items():
                out[k][i, j] = v
    return out


@pytest.mark.parametrize("shape", ["square", "circle"])
@pytest.mark.parametrize("eight", [True, False])
@pytest.mark.parametrize("radius", [0.0, 15.0, 32.0])
def test_equals_brute_force_one_chunk_and_many(shape, eight, radius):
    a = _raster((13, 16), seed=int(radius) + eight)
    ref = _brute(a, radius, shape, eight)
    kw = {"shape": shape, "neighbours": 8 if eight else 4, "nodata": 0}
    one = moving_window(_da(a), WINDOW_METRICS, radius, **kw).compute()
    many = moving_window(_da(a).chunk({"y": 4, "x": 5}), WINDOW_METRICS, radius, **kw).compute()
    for k in WINDOW_METRICS:
        np.testing.assert_allclose(one[k].values, ref[k], rtol=1e-12, atol=1e-12, err_msg=k)
        np.testing.assert_array_equal(one[k].values, many[k].values, err_msg=k)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), cy=st.integers(1, 12), cx=st.integers(1, 14),
       radius=st.sampled_from([10.0, 20.0, 30.0]), shape=st.sampled_from(["square", "circle"]))
def test_identical_across_chunkings(seed, cy, cx, radius, shape):
    a = _raster((12, 14), seed=seed, n_classes=3)
    kw = {"shape": shape, "nodata": 0}
    one = moving_window(_da(a), WINDOW_METRICS, radius, **kw)
    many = moving_window(_da(a).chunk({"y": cy, "x": cx}), WINDOW_METRICS, radius, **kw).compute()
    for k in WINDOW_METRICS:
        np.testing.assert_array_equal(one[k].values, many[k].values, err_msg=k)


def test_lazy_units_and_coords():
    a = _raster((20, 20), seed=1)
    da = _da(a).chunk(8)
    with raise_if_dask_computes():
        ds = moving_window(da, ["SHDI", "ED", "NP", "CONTAG"], 20.0, shape="circle", nodata=0)
    assert list(ds.data_vars) == ["SHDI", "ED", "NP", "CONTAG"]
    assert ds.ED.attrs["units"] == "m/ha" and ds.NP.attrs["units"] == "1" and ds.CONTAG.attrs["units"] == "%"
    assert ds.attrs["radius_m"] == 20.0 and ds.attrs["window"] == "circle"
    assert ds.SHDI.chunks == da.chunks
    assert ds.SHDI.dtype == ds.SHDI.compute().dtype == np.float64
    xr.testing.assert_equal(ds.x, da.x)
    assert np.isnan(ds.SHDI.values[a == 0]).all()


def test_single_pixel_window():
    a = _raster((5, 6), seed=3)
    ds = moving_window(_da(a), ["NP", "SHDI", "ED", "PR", "LPI"], 0.0, nodata=0)
    v = a > 0
    assert (ds.NP.values[v] == 1).all() and (ds.SHDI.values[v] == 0).all() and (ds.ED.values[v] == 0).all()
    assert (ds.LPI.values[v] == 100).all() and (ds.PR.values[v] == 1).all()


def test_bad_input():
    da = _da(_raster((6, 6), seed=0))
    with pytest.raises(ValueError, match="unknown moving-window metric"):
        moving_window(da, ["AI"], 10.0)
    with pytest.raises(ValueError, match="shape"):
        moving_window(da, ["SHDI"], 10.0, shape="hexagon")
    with pytest.raises(ValueError, match="radius"):
        moving_window(da, ["SHDI"], -5.0)
    with pytest.raises(TypeError, match="radius"):
        moving_window(da, ["SHDI"], "far")
    with pytest.raises(ValueError, match="at least one"):
        moving_window(da, [], 10.0)
    with pytest.raises(ValueError, match="2-D"):
        moving_window(da.expand_dims(t=2), ["SHDI"], 10.0)
