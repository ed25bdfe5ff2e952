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
            n_p, big, sum_p, sum_ps = 0, 0, 0.0, 0.0
            for c in cl:
                lab, k = ndimage.label(w == c, structure=struct)
                n_p += k
                big = max(big, np.bincount(lab.ravel())[1:].max())
                pad = np.pad(lab, 1)
                for q in range(1, k + 1):
                    cell = pad == q
                    # perimeter: sides of the patch's cells facing a cell outside the patch
                    per = sum(np.count_nonzero(cell & ~np.roll(cell, sh, ax)) for sh in (1, -1) for ax in (0, 1))
                    sum_p += per
                    sum_ps += per * math.sqrt(np.count_nonzero(cell))
            g = np.zeros((cl.size, cl.size))
            for x1, x2 in ((w[:, :-1], w[:, 1:]), (w[:-1], w[1:])):
                ok = (x1 > 0) & (x2 > 0)
                np.add.at(g, (np.searchsorted(cl, x1[ok]), np.searchsorted(cl, x2[ok])), 1)
            g = g + g.T
            edges = (g.sum() - np.trace(g)) / 2
            area = nv * CS * CS
            shdi = -np.sum(p * np.log(p))
            like = np.diag(g) / 2  # single count per class
            max_like = 2 * cnt - (np.array([math.isqrt(4 * int(x) - 1) for x in cnt]) + 1)  # Harary-Harborth
            o = {"NP": n_p, "PD": n_p / area * 1e6, "LPI": 100 * big / nv, "TE": edges * CS,
                 "ED": edges * CS / area * 1e4, "SHDI": shdi, "SHEI": shdi / math.log(cl.size) if cl.size > 1 else 0.0,
                 "SIDI": 1 - np.sum(p ** 2), "PR": cl.size,
                 "PLADJ": 100 * np.trace(g) / g.sum() if g.sum() > 0 else np.nan, "CONTAG": np.nan,
                 "LSI": 0.25 * (4 * nv - 2 * like.sum() - edges) / math.sqrt(nv),
                 "AI": 100 * np.sum(np.where(max_like > 0, p * like / np.where(max_like > 0, max_like, 1), 0)),
                 "COHESION": 100 * (1 - sum_p / sum_ps) / (1 - 1 / math.sqrt(nv)) if nv > 1 else np.nan}
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
        moving_window(da, ["IJI"], 10.0)
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


# ------------------------------------------------------------------ square windows: incremental NP / LPI
def _brute_patches(cls, ry, rx, eight):
    """NP and largest patch of every (2ry+1) x (2rx+1) window, clipped at the edges (scipy labels)."""
    n, m = cls.shape
    struct = np.ones((3, 3)) if eight else None
    n_p = np.zeros((n, m), np.int64)
    big = np.zeros((n, m), np.int64)
    for i in range(n):
        for j in range(m):
            if cls[i, j] < 0:
                continue
            w = cls[max(0, i - ry): i + ry + 1, max(0, j - rx): j + rx + 1]
            for c in np.unique(w[w >= 0]):
                lab, k = ndimage.label(w == c, structure=struct)
                n_p[i, j] += k
                big[i, j] = max(big[i, j], np.bincount(lab.ravel())[1:].max())
    return n_p, big


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 12), m=st.integers(1, 12), ry=st.integers(0, 7),
       rx=st.integers(0, 7), k=st.integers(1, 4), p_nodata=st.sampled_from([0.0, 0.2, 0.6, 1.0]),
       eight=st.booleans())
def test_rect_patches_equal_per_window_labels(seed, n, m, ry, rx, k, p_nodata, eight):
    from cubeeco.kernels.window_patches import rect_patches

    rng = np.random.default_rng(seed)
    cls = rng.integers(0, k, (n, m)).astype(np.int32)  # k = 1: one class, ties everywhere
    cls[rng.random((n, m)) < p_nodata] = -1
    got = rect_patches(cls, ry, rx, eight)
    ref = _brute_patches(cls, ry, rx, eight)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


def test_rect_patches_edge_cases():
    from cubeeco.kernels.window_patches import rect_patches

    # a ring: one patch in a window that holds it all, two where the window cuts both sides
    # off (the patch leaves the window and comes back: it counts twice)
    ring = np.full((5, 7), -1, np.int32)
    ring[0, :] = ring[-1, :] = ring[:, 0] = ring[:, -1] = 0
    ring[2, 3] = 1                                 # a dot of another class in the middle
    n_p, big = rect_patches(ring, 2, 1)
    assert n_p[2, 3] == 3 and big[2, 3] == 3      # columns 2..4: top bar, bottom bar, dot
    assert n_p[2, 0] == 1 and big[2, 0] == 5 + 2  # columns 0..1: a C shape
    assert rect_patches(ring, 4, 6)[0][0, 0] == 2
    # diagonal chain: one patch with the 8 rule, one per cell with the 4 rule
    diag = np.where(np.eye(6, dtype=bool), 1, 0).astype(np.int32)
    # 8 rule: the chain + the 0s (the two triangles touch by corners across the chain)
    assert rect_patches(diag, 6, 6, True)[0][0, 0] == 1 + 1
    assert rect_patches(diag, 6, 6, False)[0][0, 0] == 6 + 2
    # empty and all-nodata blocks, and a 1-pixel window
    assert rect_patches(np.empty((0, 3), np.int32), 1, 1)[0].shape == (0, 3)
    assert (rect_patches(np.full((3, 4), -1, np.int32), 1, 1)[0] == 0).all()
    assert (rect_patches(np.zeros((3, 4), np.int32), 0, 0)[1] == 1).all()
    with pytest.raises(ValueError, match="radii"):
        rect_patches(diag, -1, 2)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), cy=st.integers(2, 12), cx=st.integers(2, 14),
       radius=st.sampled_from([0.0, 10.0, 30.0, 60.0, 500.0]), eight=st.booleans())
def test_square_incremental_equals_relabel(seed, cy, cx, radius, eight):
    # the O(R) path against the per-window labelling path, one chunk and many; radius 500 m
    # is larger than the raster (every window is clipped on all sides)
    a = _raster((12, 14), seed=seed, n_classes=3, p_nodata=0.2)
    kw = {"shape": "square", "nodata": 0, "neighbours": 8 if eight else 4}
    names = ["NP", "PD", "LPI", "COHESION"]
    ref = moving_window(_da(a), names, radius, _relabel=True, **kw)
    one = moving_window(_da(a), names, radius, **kw)
    many = moving_window(_da(a).chunk({"y": cy, "x": cx}), names, radius, **kw).compute()
    for k in names:
        np.testing.assert_array_equal(one[k].values, ref[k].values, err_msg=k)
        np.testing.assert_array_equal(many[k].values, ref[k].values, err_msg=k)


# ------------------------------------------------------------------ LSI, AI, COHESION = landscape_metrics of the clipped window
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 9), m=st.integers(1, 9), k=st.integers(1, 4),
       radius=st.sampled_from([0.0, 10.0, 20.0, 30.0, 200.0]), shape=st.sampled_from(["square", "circle"]),
       eight=st.booleans(), cy=st.integers(1, 9), cx=st.integers(1, 9), p_nodata=st.sampled_from([0.0, 0.3]))
def test_lsi_ai_cohesion_equal_landscape_metrics_of_clipped_window(seed, n, m, k, radius, shape, eight, cy, cx,
                                                                   p_nodata):
    # the definition itself: landscape_metrics(level="landscape") of the raster clipped to
    # each window (cells outside it made nodata); k = 1: one class, ties everywhere
    from cubeeco.ops.landscape import landscape_metrics

    a = _raster((n, m), seed=seed, n_classes=k, p_nodata=p_nodata)
    names = ["LSI", "AI", "COHESION"]
    kw = {"shape": shape, "neighbours": 8 if eight else 4, "nodata": 0, "cell_size": CS}  # CS: 1 x 1 rasters
    got = moving_window(_da(a).chunk({"y": cy, "x": cx}), names, radius, **kw).compute()
    half = window_half_widths(radius, CS, CS, shape)
    r = (half.size - 1) // 2
    for i in range(n):
        for j in range(m):
            if a[i, j] == 0:
                assert all(np.isnan(got[x].values[i, j]) for x in names)
                continue
            mask = np.zeros((n, m), bool)
            for t, h in enumerate(half):
                if 0 <= i + t - r < n:
                    mask[i + t - r, max(0, j - h): j + h + 1] = True
            ref = landscape_metrics(_da(np.where(mask, a, 0)), names, neighbours=8 if eight else 4, nodata=0,
                                     cell_size=CS)
            for x in names:
                np.testing.assert_allclose(got[x].values[i, j], ref[x].iloc[0], rtol=1e-11, atol=1e-11,
                                           err_msg=f"{x} at {(i, j)}")


def test_max_like_is_landscape_rule():
    # one definition of FRAGSTATS' max g_ii for the window AI and the whole-raster AI
    from cubeeco.kernels.landscape import max_like
    from cubeeco.ops.landscape import _max_like

    n = np.arange(0, 5000)
    np.testing.assert_array_equal(max_like(n), _max_like(n).astype(np.int64))
    assert list(max_like([1, 2, 3, 4, 5, 6, 9])) == [0, 1, 2, 4, 5, 7, 12]


def test_lsi_ai_cohesion_hand_values():
    # 2 x 3 window of one class (square, R = 1 around the centre column, one row raster):
    # E* = 2·(2+3) = 10 sides, Z = 6; like = 7, max g_ii(6) = 7; one patch p = 10, a = 6
    a = np.ones((2, 3), np.int16)
    ds = moving_window(_da(a), ["LSI", "AI", "COHESION"], 10.0, nodata=0)
    assert ds.LSI.values[0, 1] == pytest.approx(0.25 * 10 / math.sqrt(6))
    assert ds.AI.values[0, 1] == pytest.approx(100.0)
    assert ds.COHESION.values[0, 1] == pytest.approx(100 * (1 - 10 / (10 * math.sqrt(6))) / (1 - 1 / math.sqrt(6)))
    # checkerboard: no like adjacencies, every patch one cell (4 rule): AI = 0, COHESION = 0
    cb = (np.indices((4, 4)).sum(0) % 2 + 1).astype(np.int16)
    ds = moving_window(_da(cb), ["AI", "COHESION", "LSI"], 10.0, nodata=0, neighbours=4)
    assert (ds.AI.values == 0).all()
    np.testing.assert_allclose(ds.COHESION.values, 0.0, atol=1e-12)
    assert ds.LSI.values[1, 1] == pytest.approx(0.25 * (12 + 12) / 3)  # 12 boundary sides + 12 inner edges
    # a one-cell window: COHESION undefined (Z = 1), AI 0 (a one-cell class), LSI 1
    one = moving_window(_da(cb), ["AI", "COHESION", "LSI"], 0.0, nodata=0)
    assert np.isnan(one.COHESION.values).all() and (one.AI.values == 0).all() and (one.LSI.values == 1).all()
    assert one.LSI.attrs["units"] == "1" and one.AI.attrs["units"] == "%" and one.COHESION.attrs["units"] == "%"


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 10), m=st.integers(1, 10), ry=st.integers(0, 6),
       rx=st.integers(0, 6), k=st.integers(1, 4), p_nodata=st.sampled_from([0.0, 0.2, 0.6]), eight=st.booleans())
def test_rect_patch_terms_equal_per_window_labels(seed, n, m, ry, rx, k, p_nodata, eight):
    # Σ perimeter·√area of the window's patches from the separator path (merged across
    # the seam) against a scipy labelling of each window
    from cubeeco.kernels.window_patches import patch_term, rect_patches, term_scale

    rng = np.random.default_rng(seed)
    cls = rng.integers(0, k, (n, m)).astype(np.int32)
    cls[rng.random((n, m)) < p_nodata] = -1
    scale = term_scale((2 * ry + 1) * (2 * rx + 1))
    got = rect_patches(cls, ry, rx, eight, scale=scale)[2]
    struct = np.ones((3, 3)) if eight else None
    for i in range(n):
        for j in range(m):
            if cls[i, j] < 0:
                continue
            w = cls[max(0, i - ry): i + ry + 1, max(0, j - rx): j + rx + 1]
            ref = 0
            for c in np.unique(w[w >= 0]):
                lab, kk = ndimage.label(w == c, structure=struct)
                for q in range(1, kk + 1):
                    cell = np.pad(lab == q, 1)
                    a = int(cell.sum())
                    like = int((cell[1:] & cell[:-1]).sum() + (cell[:, 1:] & cell[:, :-1]).sum())
                    ref += patch_term(a, like, scale)
            assert got[i, j] == ref, (i, j)


def test_cohesion_scale_bad_input():
    from cubeeco.kernels.window_patches import rect_patches, term_scale

    assert term_scale(67 * 67) == 2.0 ** 41
    with pytest.raises(ValueError, match="too large"):
        term_scale(2 ** 27)
    with pytest.raises(ValueError, match="scale"):
        rect_patches(np.zeros((3, 3), np.int32), 1, 1, scale=-1.0)
