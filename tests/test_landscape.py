"""FRAGSTATS landscape metrics: pylandstats, a plain numpy reference, hand counts, chunk invariance."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import xarray as xr
from dask.delayed import Delayed
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from cubeeco.ops.landscape import CLASS_LEVEL, LANDSCAPE_LEVEL, UNITS, landscape_metrics
from cubeeco.testing import raise_if_dask_computes

CS = 30.0


def _raster(shape=(40, 50), n_classes=5, p_nodata=0.05, seed=0, nodata=0, smooth=True):
    rng = np.random.default_rng(seed)
    a = rng.integers(1, n_classes + 1, shape)
    if smooth:  # larger patches than white noise, so patches cross chunk edges
        a = np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)[: shape[0], : shape[1]]
        flip = rng.random(shape) < 0.3
        a = np.where(flip, rng.integers(1, n_classes + 1, shape), a)
    a[rng.random(shape) < p_nodata] = nodata
    return a.astype(np.int32)


def _da(a, cs=CS):
    n, m = a.shape
    return xr.DataArray(a, dims=("y", "x"), coords={"y": 1000.0 - cs * np.arange(n), "x": cs * np.arange(m)})


# ------------------------------------------------------------------ independent reference
def _reference(a, nodata, eight, count_boundary, cs=CS):
    """Plain numpy / scipy: per-class ndimage.label, padded-diff perimeters, explicit pair counts."""
    valid = a != nodata
    classes = np.unique(a[valid])
    m = classes.size
    n_all = valid.sum()
    area = n_all * cs * cs
    struct = np.ones((3, 3)) if eight else None
    pad = np.pad(np.where(valid, a, -1), 1, constant_values=-2)  # -1 nodata, -2 outside
    # double-count adjacency between classes, and sides to nodata / outside
    g = np.zeros((m, m))
    other = np.zeros(m)
    for q, c in enumerate(classes):
        core = pad[1:-1, 1:-1] == c
        for nb in (pad[:-2, 1:-1], pad[2:, 1:-1], pad[1:-1, :-2], pad[1:-1, 2:]):
            for q2, c2 in enumerate(classes):
                g[q, q2] += np.sum(core & (nb == c2))
            other[q] += np.sum(core & (nb < 0))
    patches = []  # (class index, area cells, perimeter sides)
    for q, c in enumerate(classes):
        lab, k = ndimage.label(a == c, structure=struct)
        for p in range(1, k + 1):
            mask = np.pad(lab == p, 1)
            per = np.sum(mask[1:] != mask[:-1]) + np.sum(mask[:, 1:] != mask[:, :-1])
            patches.append((q, mask.sum(), per))
    pc = np.array([p[0] for p in patches])
    pa = np.array([p[1] for p in patches], float)
    pp = np.array([p[2] for p in patches], float)
    n_i = np.array([np.sum(a == c) for c in classes], float)
    unlike = g.sum(1) - np.diag(g)
    estar = unlike + other
    P = n_i / n_all

    def min_e(n):
        s = math.floor(math.sqrt(n))
        return 4 * s if n == s * s else (4 * s + 2 if n <= s * (s + 1) else 4 * s + 4)

    def max_g(n):
        s = math.floor(math.sqrt(n))
        r = n - s * s
        return 2 * s * (s - 1) + (0 if r == 0 else (2 * r - 1 if r <= s else 2 * r - 2))

    z = n_all
    cls_rows = {}
    for q, c in enumerate(classes):
        sel = pc == q
        te = (estar[q] if count_boundary else unlike[q]) * cs
        mg = max_g(n_i[q])
        e = np.array([g[q, k] for k in range(m) if k != q])
        if m >= 3 and e.sum() > 0:
            f = e[e > 0] / e.sum()
            iji = -100 * np.sum(f * np.log(f)) / math.log(m - 1)
        else:
            iji = np.nan
        den = 4 * n_i[q] if count_boundary else g[q].sum()
        cls_rows[c] = {
            "CA": n_i[q] * cs * cs / 1e4, "PLAND": 100 * P[q], "NP": sel.sum(), "PD": sel.sum() / area * 1e6,
            "LPI": 100 * pa[sel].max() / n_all, "TE": te, "ED": te / area * 1e4, "LSI": estar[q] / min_e(n_i[q]),
            "MESH": np.sum((pa[sel] * cs * cs) ** 2) / area / 1e4,
            "DIVISION": 1 - np.sum((pa[sel] / n_all) ** 2),
            "COHESION": 100 * (1 - pp[sel].sum() / np.sum(pp[sel] * np.sqrt(pa[sel]))) / (1 - 1 / math.sqrt(z)),
            "AI": 100 * (g[q, q] / 2) / mg if mg > 0 else np.nan,
            "PLADJ": 100 * g[q, q] / den if den > 0 else np.nan, "IJI": iji,
        }
    between = unlike.sum() / 2
    e_star = between + other.sum()
    te = (e_star if count_boundary else between) * cs
    contag = np.nan
    if m >= 2:
        s = 0.0
        for q in range(m):
            for k in range(m):
                if g[q, k] > 0:
                    x = P[q] * g[q, k] / g[q].sum()
                    s += x * math.log(x)
        contag = 100 * (1 + s / (2 * math.log(m)))
    iu = [g[q, k] for q in range(m) for k in range(q + 1, m)]
    iu = np.array(iu)
    iji = (-100 * np.sum((iu[iu > 0] / between) * np.log(iu[iu > 0] / between)) / math.log(m * (m - 1) / 2)
           if m >= 3 else np.nan)
    ai_terms = [P[q] * (g[q, q] / 2) / max_g(n_i[q]) for q in range(m) if max_g(n_i[q]) > 0]
    shdi = -np.sum(P * np.log(P))
    land = {
        "TA": area / 1e4, "NP": len(patches), "PD": len(patches) / area * 1e6, "LPI": 100 * pa.max() / n_all,
        "TE": te, "ED": te / area * 1e4, "LSI": 0.25 * e_star / math.sqrt(n_all), "SHDI": shdi,
        "SHEI": shdi / math.log(m) if m > 1 else 0.0, "SIDI": 1 - np.sum(P ** 2), "PR": m,
        "MESH": np.sum((pa * cs * cs) ** 2) / area / 1e4, "DIVISION": 1 - np.sum((pa / n_all) ** 2),
        "COHESION": 100 * (1 - pp.sum() / np.sum(pp * np.sqrt(pa))) / (1 - 1 / math.sqrt(z)), "CONTAG": contag,
        "AI": 100 * sum(ai_terms),
        "PLADJ": 100 * np.trace(g) / ((4 * n_i).sum() if count_boundary else g.sum()), "IJI": iji,
    }
    return land, cls_rows


@pytest.mark.parametrize("eight", [True, False])
@pytest.mark.parametrize("count_boundary", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_equals_numpy_reference_all_metrics(eight, count_boundary, seed):
    a = _raster(seed=seed, n_classes=4 + seed)
    kw = {"neighbours": 8 if eight else 4, "count_boundary": count_boundary, "nodata": 0}
    land, cls = _reference(a, 0, eight, count_boundary)
    got = landscape_metrics(_da(a), **kw)
    for k in LANDSCAPE_LEVEL:
        np.testing.assert_allclose(got[k].iloc[0], land[k], rtol=1e-12, err_msg=k)
    gc = landscape_metrics(_da(a), level="class", **kw)
    for c, row in cls.items():
        for k in CLASS_LEVEL:
            np.testing.assert_allclose(gc.loc[c, k], row[k], rtol=1e-12, err_msg=f"class {c} {k}")


# ------------------------------------------------------------------ pylandstats
@pytest.mark.parametrize("rule", ["8", "4"])
@pytest.mark.parametrize("seed", [3, 4])
def test_equals_pylandstats(rule, seed):
    pls = pytest.importorskip("pylandstats")
    a = _raster(seed=seed, n_classes=6)
    ls = pls.Landscape(a, res=(CS, CS), nodata=0, neighborhood_rule=rule)
    kw = {"neighbours": int(rule), "nodata": 0}
    L = landscape_metrics(_da(a), **kw).iloc[0]
    Lb = landscape_metrics(_da(a), count_boundary=True, **kw).iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = {"NP": ls.number_of_patches(), "PD": ls.patch_density(), "LPI": ls.largest_patch_index(),
               "TE": ls.total_edge(), "ED": ls.edge_density(), "MESH": ls.effective_mesh_size(),
               "TA": ls.total_area()}
        for k, v in ref.items():
            np.testing.assert_allclose(L[k], v, rtol=1e-12, err_msg=k)
        np.testing.assert_allclose(Lb["TE"], ls.total_edge(count_boundary=True), rtol=1e-12)
        np.testing.assert_allclose(Lb["ED"], ls.edge_density(count_boundary=True), rtol=1e-12)
        C = landscape_metrics(_da(a), level="class", **kw)
        Cb = landscape_metrics(_da(a), level="class", count_boundary=True, **kw)
        for c in ls.classes:
            pairs = {"NP": ls.number_of_patches(class_val=c), "PD": ls.patch_density(class_val=c),
                     "LPI": ls.largest_patch_index(class_val=c), "TE": ls.total_edge(class_val=c),
                     "ED": ls.edge_density(class_val=c), "LSI": ls.landscape_shape_index(class_val=c),
                     "MESH": ls.effective_mesh_size(class_val=c), "CA": ls.total_area(class_val=c),
                     "PLAND": ls.proportion_of_landscape(c)}
            for k, v in pairs.items():
                np.testing.assert_allclose(C.loc[c, k], v, rtol=1e-12, err_msg=f"class {c} {k}")
            np.testing.assert_allclose(Cb.loc[c, "TE"], ls.total_edge(class_val=c, count_boundary=True), rtol=1e-12)


def test_landscape_lsi_equals_pylandstats_on_square_landscape():
    # pylandstats divides by the most compact perimeter (4 sqrt(A) only for a square number of
    # cells); FRAGSTATS' landscape LSI is 0.25 E*/sqrt(A): equal on an n x n raster, no nodata
    pls = pytest.importorskip("pylandstats")
    a = _raster(shape=(30, 30), p_nodata=0.0, seed=5)
    ls = pls.Landscape(a, res=(CS, CS), nodata=0)
    np.testing.assert_allclose(landscape_metrics(_da(a)).LSI.iloc[0], ls.landscape_shape_index(), rtol=1e-12)


# ------------------------------------------------------------------ hand counts
def test_hand_counts_two_by_two():
    a = np.array([[1, 1], [2, 2]])
    L = landscape_metrics(_da(a, 10.0)).iloc[0]
    # P = (1/2, 1/2); like pairs: one per class (double count 2), unlike: 2 vertical pairs
    assert L.NP == 2 and L.PR == 2
    assert L.TE == 20.0 and L.TA == 4 * 100 / 1e4
    np.testing.assert_allclose(L.SHDI, math.log(2))
    np.testing.assert_allclose(L.SHEI, 1.0)
    np.testing.assert_allclose(L.SIDI, 0.5)
    np.testing.assert_allclose(L.CONTAG, 0.0, atol=1e-12)  # every P_i g_ik / g_i = 1/4
    np.testing.assert_allclose(L.PLADJ, 50.0)
    np.testing.assert_allclose(L.AI, 100.0)  # 2 cells: at most 1 like pair, and it has it
    np.testing.assert_allclose(L.LSI, 0.25 * (8 + 2) / 2)  # boundary 8 sides + 2 inner edges
    assert np.isnan(L.IJI)  # needs three classes
    np.testing.assert_allclose(L.DIVISION, 1 - 2 * 0.25)
    np.testing.assert_allclose(L.MESH, 2 * 200.0 ** 2 / 400.0 / 1e4)
    np.testing.assert_allclose(L.LPI, 50.0)
    # COHESION: perimeters 6 and 6, areas 2 and 2, Z = 4
    np.testing.assert_allclose(L.COHESION, 100 * (1 - 12 / (12 * math.sqrt(2))) / (1 - 1 / 2))


def test_hand_counts_iji_three_classes():
    a = np.array([[1, 2, 3]])
    L = landscape_metrics(_da(a, 10.0)).iloc[0]
    # edges 1-2 and 2-3 (one each), of 3 possible pair types
    np.testing.assert_allclose(L.IJI, 100 * math.log(2) / math.log(3))
    C = landscape_metrics(_da(a, 10.0), level="class")
    np.testing.assert_allclose(C.loc[2, "IJI"], 100.0)  # equally adjacent to both others
    np.testing.assert_allclose(C.loc[1, "IJI"], 0.0)
    assert np.isnan(C.loc[1, "AI"])  # one cell: no like adjacency possible


def test_patch_rule_diagonal():
    a = np.array([[1, 2], [2, 1]])
    assert landscape_metrics(_da(a), ["NP"], neighbours=8).NP.iloc[0] == 2
    assert landscape_metrics(_da(a), ["NP"], neighbours=4).NP.iloc[0] == 4


# ------------------------------------------------------------------ chunks
def test_patches_joined_across_chunks():
    # one U-shaped patch and a diagonal chain that cross every chunk corner
    a = np.full((12, 12), 2)
    a[1:11, 1] = 1
    a[10, 1:11] = 1
    a[1:11, 10] = 1
    for k in range(12):
        a[k, k] = 3
    a[np.arange(11), np.arange(1, 12)] = 4
    ref = landscape_metrics(_da(a), level="class")
    for chunks in ({"y": 3, "x": 4}, {"y": 1, "x": 12}, {"y": 5, "x": 1}, {"y": 2, "x": 2}):
        got = landscape_metrics(_da(a).chunk(chunks), level="class")
        assert got.equals(ref), chunks
    for c in (1, 2, 3, 4):
        assert ref.loc[c, "NP"] == ndimage.label(a == c, structure=np.ones((3, 3)))[1]
    assert ref.loc[3, "NP"] == 1 and ref.loc[4, "NP"] == 1  # diagonal chains: one patch each (8 rule)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cy=st.integers(1, 15), cx=st.integers(1, 17), eight=st.booleans(),
       count_boundary=st.booleans(), level=st.sampled_from(["landscape", "class"]))
def test_identical_across_chunkings(seed, cy, cx, eight, count_boundary, level):
    a = _raster(shape=(15, 17), n_classes=4, p_nodata=0.1, seed=seed)
    kw = {"level": level, "neighbours": 8 if eight else 4, "count_boundary": count_boundary, "nodata": 0}
    one = landscape_metrics(_da(a), **kw)
    many = landscape_metrics(_da(a).chunk({"y": cy, "x": cx}), **kw)
    assert one.index.equals(many.index)
    np.testing.assert_array_equal(one.values, many.values)  # bit-identical, NaN included


def test_lazy_and_float_nan_input():
    a = _raster(shape=(20, 24), seed=7).astype(np.float32)
    a[a == 0] = np.nan
    da = _da(a).chunk(7)
    with raise_if_dask_computes():
        res = landscape_metrics(da, level="class", compute=False)
    assert isinstance(res, Delayed)
    got = res.compute()
    ref = landscape_metrics(_da(np.nan_to_num(a).astype(np.int32)), level="class", nodata=0)
    assert got.equals(ref)
    assert got.attrs["units"] == {k: UNITS[k] for k in CLASS_LEVEL}
    assert got.attrs["neighbours"] == 8 and got.attrs["count_boundary"] is False


def test_nodata_from_attrs():
    a = _raster(shape=(10, 12), seed=2, nodata=255)
    da = _da(a)
    da.attrs["nodata"] = 255
    assert landscape_metrics(da).equals(landscape_metrics(_da(a), nodata=255))
    assert 255 not in landscape_metrics(da, level="class").index


# ------------------------------------------------------------------ bad input
def test_bad_input():
    da = _da(_raster(shape=(6, 6)))
    with pytest.raises(ValueError, match="level"):
        landscape_metrics(da, level="patch")
    with pytest.raises(ValueError, match="only at level='landscape'"):
        landscape_metrics(da, ["SHDI"], level="class")
    with pytest.raises(ValueError, match="unknown"):
        landscape_metrics(da, ["FOO"])
    with pytest.raises(ValueError, match="neighbours"):
        landscape_metrics(da, neighbours=6)
    with pytest.raises(ValueError, match="2-D"):
        landscape_metrics(da.expand_dims(time=2))
    with pytest.raises(TypeError, match="xarray.DataArray"):
        landscape_metrics(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="integer class codes"):
        landscape_metrics(da.astype(str))
    rect = da.assign_coords(x=da.x * 2)
    with pytest.raises(ValueError, match="square cells"):
        landscape_metrics(rect)
    with pytest.raises(ValueError, match="cell_size"):
        landscape_metrics(da, cell_size=-1)
    with pytest.raises(ValueError, match="non-integer"):
        landscape_metrics(da.astype(float) + 0.5)
    with pytest.raises(TypeError, match="count_boundary"):
        landscape_metrics(da, count_boundary="yes")
