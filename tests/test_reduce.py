"""Grouped reductions: kernels vs the numpy reference, chunk invariance, exact quantiles, laziness."""

from __future__ import annotations

import warnings

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeeco.kernels import groupby as K
from cubeeco.ops import reduce as RD
from cubeeco.testing.laziness import raise_if_dask_computes
from tests.reference import groupby_ref as R


def _inputs(seed, n=600, n_layers=3, n_groups=6, ties=True):
    rng = np.random.default_rng(seed)
    labels = rng.integers(-2, n_groups + 2, n)  # negative and out-of-range labels: no group
    labels[labels == 3] = 2  # group 3 stays empty
    values = rng.normal(size=(n_layers, n))
    if ties:
        values = np.round(values, 1)
    values[rng.random(values.shape) < 0.2] = np.nan
    values[1, labels == 4] = np.nan  # all-NaN group in one layer
    weights = rng.uniform(0, 2, n)
    weights[rng.random(n) < 0.1] = 0.0
    return labels, values, weights, n_groups


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moments_and_stats_match_reference(weighted, dtype):
    labels, values, weights, ng = _inputs(0)
    values = values.astype(dtype)
    w = weights if weighted else None
    got = K.group_moments(labels, values, ng, w)
    want = R.group_moments(labels, values, ng, w)
    assert got.shape == (3, K.N_MOMENTS, ng) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)
    for stat in K.STATS:
        for ddof in (0, 1):
            np.testing.assert_allclose(K.finalize(got, stat, ddof), R.group_stat(labels, values, ng, stat, w, ddof),
                                       rtol=1e-11, atol=1e-12, equal_nan=True, err_msg=stat)
    assert (K.finalize(got, "count")[:, 3] == 0).all() and np.isnan(K.finalize(got, "mean")[:, 3]).all()
    if not weighted:
        s, c = R.bincount_sums(labels, values[0], ng)
        np.testing.assert_array_equal(K.finalize(got, "count")[0], c)
        np.testing.assert_allclose(K.finalize(got, "sum")[0], s, rtol=1e-6)
    one = K.group_moments(labels, values[2], ng, w)  # 1-D values: one layer
    np.testing.assert_array_equal(one, got[2:3])


def test_merge_is_exact_union_and_empty_is_identity():
    labels, values, weights, ng = _inputs(1)
    whole = K.group_moments(labels, values, ng, weights)
    cut = [0, 7, 250, 251, 600]
    parts = [K.group_moments(labels[a:b], values[:, a:b], ng, weights[a:b]) for a, b in zip(cut[:-1], cut[1:])]
    merged = parts[0]
    for p in parts[1:]:
        merged = K.merge_moments(merged, p)
    np.testing.assert_allclose(merged, whole, rtol=1e-12, atol=1e-12, equal_nan=True)
    e = K.empty_moments(3, ng)
    np.testing.assert_array_equal(K.merge_moments(e, whole), whole)
    np.testing.assert_array_equal(K.merge_moments(whole, e), whole)


def test_histogram_and_select_match_reference():
    labels, values, _, ng = _inputs(2, ties=False)
    m = K.group_moments(labels, values, ng)
    lo, hi = K.finalize(m, "min"), K.finalize(m, "max")
    for nbins in (1, 3, 16):
        h = K.group_histogram(labels, values, ng, lo, hi, nbins)
        edges = K.bin_edges(lo, hi, nbins)
        np.testing.assert_array_equal(h, R.group_histogram(labels, values, ng, edges))
        np.testing.assert_array_equal(h.sum(-1), K.finalize(m, "count"))  # hi lands in the last bin
    gi, li, v = K.group_select(labels, values, ng, -0.3, 0.4)
    ok = (labels >= 0) & (labels < ng)
    want = sorted((g, lyr, x) for lyr in range(3) for g, x in zip(labels[ok], values[lyr, ok]) if -0.3 <= x <= 0.4)
    assert sorted(zip(gi.tolist(), li.tolist(), v.tolist())) == want
    assert K.group_select(labels, values, ng, np.nan, np.nan)[0].size == 0


def _cube(seed, ties):
    labels, values, weights, ng = _inputs(seed, n=20 * 24, ties=ties)
    v = xr.DataArray(values.reshape(3, 20, 24), dims=("time", "y", "x"), coords={"time": [2000, 2001, 2002]})
    lab = xr.DataArray(labels.reshape(20, 24), dims=("y", "x"))
    w = xr.DataArray(weights.reshape(20, 24), dims=("y", "x"))
    return v, lab, w, ng


chunkings = st.fixed_dictionaries({"time": st.integers(1, 3), "y": st.integers(1, 20), "x": st.integers(1, 24)})


@settings(max_examples=12, deadline=None)
@given(chunks=chunkings, seed=st.integers(0, 2**16), split_every=st.sampled_from([None, 2, 3]))
def test_one_chunk_equals_many_chunks_equals_numpy(chunks, seed, split_every):
    v, lab, w, ng = _cube(seed, ties=True)
    want = R.group_moments(lab.values.ravel(), v.values.reshape(3, -1), ng, w.values.ravel())
    eager = RD.grouped_moments(v, lab, ng, weights=w)
    assert eager.dims == ("time", "moment", "group")
    np.testing.assert_allclose(eager.values, want, rtol=1e-12, atol=1e-12, equal_nan=True)
    with raise_if_dask_computes():
        lazy = RD.grouped_moments(v.chunk(chunks), lab.chunk({"y": chunks["y"]}), ng, weights=w,
                                  split_every=split_every)
        mean = RD.grouped_stat(v.chunk(chunks), lab, ng, "mean", weights=w.chunk({"x": chunks["x"]}))
    assert isinstance(lazy.data, dsa.Array)
    np.testing.assert_allclose(lazy.values, want, rtol=1e-11, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(mean.values, K.finalize(want, "mean"), rtol=1e-11, equal_nan=True)


QS = [0.0, 0.05, 0.25, 0.5, 0.9, 0.95, 1.0]


@settings(max_examples=12, deadline=None)
@given(chunks=chunkings, seed=st.integers(0, 2**16), ties=st.booleans(), nbins=st.sampled_from([None, 1, 2, 5]))
def test_quantiles_exactly_nanquantile(chunks, seed, ties, nbins):
    v, lab, _, ng = _cube(seed, ties)
    want = R.group_quantiles(lab.values.ravel(), v.values.reshape(3, -1), ng, QS)  # (time, q, group)
    eager = RD.grouped_quantiles(v, lab, ng, QS, nbins=nbins)
    assert eager.dims == ("time", "quantile", "group")
    np.testing.assert_array_equal(eager.values, want)
    with raise_if_dask_computes():
        lazy = RD.grouped_quantiles(v.chunk(chunks), lab.chunk({"y": chunks["y"]}), ng, QS, nbins=nbins)
    np.testing.assert_array_equal(lazy.values, want)


def test_quantiles_edge_cases_and_all_dims():
    lab = np.array([0, 0, 0, 1, 2, 2, 2, 2, 3, -1, 9])
    vals = np.array([1.0, 1.0, 1.0, 7.0, np.nan, 2.0, 2.0, 5.0, np.nan, 100.0, 100.0])
    got = RD.grouped_quantiles(vals, lab, 5, [0, 0.3, 0.5, 1])  # plain numpy in, numpy out
    assert isinstance(got, np.ndarray) and got.shape == (4, 5)
    for g in range(5):
        x = vals[lab == g]
        if np.isnan(x).all():
            assert np.isnan(got[:, g]).all()  # all-NaN and empty groups
        else:
            np.testing.assert_array_equal(got[:, g], np.nanquantile(x, [0, 0.3, 0.5, 1]))
    assert got[0, 1] == got[3, 1] == 7.0  # one value
    v, lab2, _, ng = _cube(5, ties=True)
    every = RD.grouped_quantiles(v.chunk({"time": 1, "y": 7}), lab2, ng, 0.37, dims=...)
    assert every.dims == ("group",)
    want = R.group_quantiles(np.tile(lab2.values.ravel(), 3), v.values.ravel(), ng, 0.37)[0, 0]
    np.testing.assert_array_equal(every.values, want)
    with pytest.raises(ValueError, match="q must be"):
        RD.grouped_quantiles(vals, lab, 5, 1.5)


def test_per_layer_labels_and_dask_arrays():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(4, 30, 10))
    labels = rng.integers(0, 3, (4, 30, 10))  # one label raster per layer
    want = np.stack([R.group_moments(labels[i].ravel(), values[i].ravel(), 3)[0] for i in range(4)])
    got = RD.grouped_moments(dsa.from_array(values, chunks=(3, 7, 4)), dsa.from_array(labels, chunks=(3, 7, 4)), 3,
                             dims=(1, 2))
    assert isinstance(got, dsa.Array)
    np.testing.assert_allclose(got.compute(), want, rtol=1e-12, equal_nan=True)
    q = RD.grouped_quantiles(values, labels, 3, [0.1, 0.8], dims=(1, 2))
    for i in range(4):
        for g in range(3):
            np.testing.assert_array_equal(q[i, :, g], np.quantile(values[i][labels[i] == g], [0.1, 0.8]))


def test_errors_and_casa_bin_width_deprecated():
    v, lab, _, ng = _cube(0, ties=True)
    with pytest.raises(TypeError, match="integer"):
        RD.grouped_moments(v, lab.astype(float), ng)
    with pytest.raises(ValueError, match="not dims"):
        RD.grouped_moments(v, lab, ng, dims=("band",))
    with pytest.raises(ValueError, match="unknown statistic"):
        RD.grouped_stat(v, lab, ng, "median")
    from cubeeco.ops import casa as C

    ndvi = (v.clip(-1, 1) * 0.4 + 0.3).rename({"time": "month"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C.casa_parameters(ndvi, lab.clip(1, 4))
    with pytest.warns(DeprecationWarning, match="bin_width"):
        C.casa_parameters(ndvi, lab.clip(1, 4), bin_width=1e-4)
