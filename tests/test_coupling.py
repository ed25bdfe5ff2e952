"""Entropy weights, integrated landscape index, coupling coordination (study 004, Chang et al. 2024)."""

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cubeeco.ops.coupling import (
    GRADES,
    coupling_coordination,
    coupling_table,
    entropy_weights,
    integrated_landscape_index,
    minmax,
)

YEARS = [2007, 2012, 2017, 2022]
# study 004 Table 6 (landscape level) -- the six indices combined into L
TABLE6 = pd.DataFrame({
    "NP": [1201, 914, 799, 973],
    "PD": [11.5427, 8.7838, 7.6787, 9.3513],
    "LSI": [29.4067, 24.0708, 18.7016, 18.8844],
    "COHESION": [99.815, 99.8181, 99.8482, 99.827],
    "SHDI": [1.0438, 1.2991, 1.2545, 1.1915],
    "SHEI": [0.4533, 0.5642, 0.5448, 0.5409],
}, index=pd.Index(YEARS, name="year"))
TABLE6_OTHER = {"LPI": [61.5239, 58.4038, 67.547, 63.566], "ED": [110.3715, 89.4442, 68.3803, 69.0999],
                "CONTAG": [71.8, 67.11, 69.1255, 68.2566], "AI": [94.5461, 95.6247, 96.6805, 96.6447]}
STUDY_WEIGHTS = {"NP": 0.173, "PD": 0.172, "LSI": 0.227, "COHESION": 0.193, "SHDI": 0.117, "SHEI": 0.118}
STUDY_L = np.array([0.614, 0.519, 0.449, 0.506])
STUDY_D = np.array([0.887, 0.720, 0.849, 0.867])
# Table 5 carbon storage (t) of grassland, forest and the total; Table 3 densities (t/hm2, 4 pools)
GRASS_T = np.array([1_054_702.225, 985_016.439, 1_093_350.701, 1_035_534.678])
FOREST_T = np.array([175_270.118, 89_611.791, 193_469.153, 283_060.378])
TOTAL_T = pd.Series([1_599_521.216, 1_508_479.392, 1_475_119.258, 1_519_061.249], index=YEARS)
GRASS_DENSITY = 1.67 + 8.66 + 144.64 + 0.17
FOREST_DENSITY = 36.69 + 14.68 + 144.64 + 3.67
STUDY_FG_AREA_KM2 = np.array([76.76, 67.98, 80.16, 80.92])  # §4.2


def forest_grass_km2():
    return pd.Series((GRASS_T / GRASS_DENSITY + FOREST_T / FOREST_DENSITY) / 100.0, index=YEARS)


# ------------------------------------------------------------------ plain references
def ref_entropy(table, directions, shift):
    """Loop-by-loop entropy weights, straight from the formulas."""
    x = np.asarray(table, dtype=float)
    n, m = x.shape
    d = []
    for j in range(m):
        col = x[:, j]
        lo, hi = min(col), max(col)
        z = [0.5 if hi == lo else ((v - lo) if directions[j] > 0 else (hi - v)) / (hi - lo) for v in col]
        z = [v + shift for v in z]
        s = sum(z)
        e = 0.0
        for v in z:
            p = v / s if s > 0 else 0.0
            if p > 0:
                e -= p * math.log(p)
        e = e / math.log(n) if s > 0 and hi > lo else 1.0
        d.append(1.0 - min(e, 1.0))
    if sum(d) == 0:
        return None
    return np.array(d) / sum(d)


def ref_coupling(s, f, c, w=(1 / 3, 1 / 3, 1 / 3)):
    C = (s * f * c / ((s + f + c) / 3) ** 3) ** (1 / 3)
    T = w[0] * s + w[1] * f + w[2] * c
    return C, T, math.sqrt(C * T)


# ------------------------------------------------------------------ minmax
def test_minmax_directions_and_series():
    s = pd.Series([3.0, 1.0, np.nan, 5.0], index=list("abcd"), name="v")
    pos = minmax(s)
    assert isinstance(pos, pd.Series) and list(pos.index) == list("abcd") and pos.name == "v"
    np.testing.assert_allclose(pos.to_numpy(), [0.5, 0.0, np.nan, 1.0])
    np.testing.assert_allclose(minmax(s.to_numpy(), direction="negative"), [0.5, 1.0, np.nan, 0.0])
    np.testing.assert_allclose(minmax([2.0, 4.0], bounds=(0, 8)), [0.25, 0.5])


def test_minmax_constant_rule_and_errors():
    with pytest.warns(UserWarning, match="does not vary"):
        np.testing.assert_array_equal(minmax([2.0, 2.0, np.nan]), [0.5, 0.5, np.nan])
    with pytest.warns(UserWarning):
        assert minmax([7.0], constant=1.0).tolist() == [1.0]
    with pytest.raises(ValueError, match="direction"):
        minmax([1, 2], direction="up")
    with pytest.raises(ValueError, match="outside bounds"):
        minmax([1, 9], bounds=(0, 5))
    with pytest.raises(ValueError, match="infinite"):
        minmax([1, np.inf])
    with pytest.raises(ValueError, match="all NaN"):
        minmax([np.nan, np.nan])
    with pytest.raises(TypeError, match="numeric"):
        minmax(["a", "b"])
    with pytest.raises(TypeError, match="DataFrame"):
        minmax(TABLE6)


# ------------------------------------------------------------------ entropy weights
tables = arrays(np.float64, st.tuples(st.integers(2, 8), st.integers(1, 5)),
                elements=st.sampled_from([0.0, 1.0, 2.5, 3.0, 10.0, 1e6, -4.0]))  # small set: many ties


@settings(max_examples=40, deadline=None)
@given(tables, st.sampled_from([0.0, 1e-4, 0.01, 1.0]), st.data())
def test_entropy_weights_equal_reference(x, shift, data):
    dirs = data.draw(st.lists(st.sampled_from([1, -1]), min_size=x.shape[1], max_size=x.shape[1]))
    df = pd.DataFrame(x, columns=[f"c{j}" for j in range(x.shape[1])])
    names = {1: "positive", -1: "negative"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flat = all(np.ptp(x, axis=0) == 0)
        ref = ref_entropy(x, dirs, shift)
        if ref is None:
            with pytest.raises(ValueError, match="undefined"):
                entropy_weights(df, directions=[names[d] for d in dirs], shift=shift)
            return
        assert not flat
        w = entropy_weights(df, directions=[names[d] for d in dirs], shift=shift)
    np.testing.assert_allclose(w.to_numpy(), ref, rtol=1e-12, atol=1e-12)
    assert abs(w.sum() - 1.0) < 1e-12 and (w >= 0).all()
    # invariances: row order; a positive affine change of a column
    perm = data.draw(st.permutations(range(x.shape[0])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        w2 = entropy_weights(df.iloc[list(perm)] * 3.0 + 7.0, directions=[names[d] for d in dirs], shift=shift)
    np.testing.assert_allclose(w2.to_numpy(), w.to_numpy(), rtol=1e-9, atol=1e-12)


def test_entropy_weights_edges():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "flat": [4.0, 4.0, 4.0]})
    with pytest.warns(UserWarning, match="flat"):
        w = entropy_weights(df)
    assert w["flat"] == 0.0 and w["a"] == 1.0 and w.attrs["entropy"]["flat"] == 1.0
    # exact 0 ln 0 = 0 against the 1e-4 shift: close, not equal
    w0 = entropy_weights(TABLE6)
    w4 = entropy_weights(TABLE6, shift=1e-4)
    assert np.abs(w0 - w4).max() < 1e-3 and not np.allclose(w0, w4, atol=1e-9, rtol=0)
    raw = entropy_weights(TABLE6, normalize=False)
    assert raw["COHESION"] < 1e-5  # COHESION barely moves: raw shares carry almost no information
    with pytest.raises(ValueError, match="at least 2"):
        entropy_weights(df.iloc[:1])
    with pytest.raises(ValueError, match="missing"):
        entropy_weights(df.assign(a=[1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="undefined"), pytest.warns(UserWarning):
        entropy_weights(df[["flat"]].assign(g=[1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        entropy_weights(df.assign(a=[-1.0, 0, 1]), normalize=False)
    with pytest.raises(ValueError, match="shift"):
        entropy_weights(df, shift=-1)
    with pytest.raises(ValueError, match="directions"):
        entropy_weights(df, directions=["positive"])
    with pytest.raises(ValueError, match="not among"):
        entropy_weights(df, directions={"zz": "negative"})
    with pytest.raises(TypeError, match="DataFrame"):
        entropy_weights(df.to_numpy())


# ------------------------------------------------------------------ integrated landscape index
def _landscape_rows():
    full = TABLE6.assign(**TABLE6_OTHER)
    return {y: pd.DataFrame([full.loc[y]], index=pd.Index(["landscape"], name="level")) for y in YEARS}


def test_integrated_landscape_index_layouts_agree():
    base = integrated_landscape_index(TABLE6)
    rows = _landscape_rows()
    concat = pd.concat(rows, names=["year"])  # as users stack landscape_metrics outputs
    long = TABLE6.reset_index()               # year column
    tidy = TABLE6.reset_index().melt(id_vars="year", var_name="metric", value_name="value")
    shuffled = TABLE6.iloc[[2, 0, 3, 1]]
    for layout in (rows, concat, long, tidy, shuffled):
        got = integrated_landscape_index(layout)
        pd.testing.assert_frame_equal(got, base, check_names=False, check_like=False)
    assert list(base.index) == YEARS and base.attrs["units"]["L"] == "1"
    # L is Eq. 8 with the weights in attrs
    w = pd.Series(base.attrs["weights"])
    np.testing.assert_allclose(base["L"], base[list(w.index)].to_numpy() @ w.to_numpy())
    with pytest.raises(ValueError, match="class-level"):
        integrated_landscape_index(pd.concat({2007: pd.DataFrame({"NP": [1, 2]}, index=pd.Index([1, 2], name="level"))},
                                             names=["year"]), metrics=["NP"])
    with pytest.raises(ValueError, match="no column"):
        integrated_landscape_index(TABLE6[["NP", "PD"]])
    with pytest.raises(ValueError, match="repeated years"):
        integrated_landscape_index(pd.concat([TABLE6, TABLE6]))
    with pytest.raises(ValueError, match="NaN"):
        integrated_landscape_index(TABLE6.assign(NP=[1.0, np.nan, 2.0, 3.0]))
    with pytest.raises(ValueError, match="sum to 1"):
        integrated_landscape_index(TABLE6, weights=[0.5] * 6)


def test_study_004_entropy_weights_rank_like_the_study_but_do_not_match():
    w = integrated_landscape_index(TABLE6).attrs["weights"]
    ref = ref_entropy(TABLE6.to_numpy(), [1] * 6, 0.0)
    np.testing.assert_allclose(list(w.values()), ref, rtol=1e-12)
    # our weights (Eq. 9 over the four years, all indices positive, 0 ln 0 = 0)
    np.testing.assert_allclose(list(w.values()), [0.1543, 0.1543, 0.2520, 0.2200, 0.1130, 0.1063], atol=5e-4)
    # the study's ordering of the groups holds: LSI > COHESION > NP ~ PD > SHDI ~ SHEI ...
    assert w["LSI"] > w["COHESION"] > max(w["NP"], w["PD"]) > max(w["SHDI"], w["SHEI"])
    # ... but no direction set and no usual shift gives the printed weights (best max |diff| 0.021)
    best = min(np.abs(ref_entropy(TABLE6.to_numpy(), d, s) - np.array(list(STUDY_WEIGHTS.values()))).max()
               for d in itertools.product([1, -1], repeat=6) for s in (0.0, 1e-4, 0.01, 0.1))
    assert best > 0.02


def test_study_004_L_is_not_reachable_with_min_max_over_the_four_years():
    # 2007 is an extreme year of every one of the six indices, so each normalised 2007 value is 0 or 1
    # whatever the direction; L_2007 is then a subset sum of the weights, and none equals 0.614
    out = integrated_landscape_index(TABLE6, weights=STUDY_WEIGHTS)
    assert set(out.loc[2007, list(STUDY_WEIGHTS)].tolist()) <= {0.0, 1.0}
    ws = list(STUDY_WEIGHTS.values())
    sums = [sum(c) for r in range(7) for c in itertools.combinations(ws, r)]
    assert min(abs(s - STUDY_L[0]) for s in sums) > 0.01
    best = min(np.abs(integrated_landscape_index(TABLE6, directions=d, weights=STUDY_WEIGHTS)["L"] - STUDY_L).max()
               for d in itertools.product(["positive", "negative"], repeat=6))
    assert best > 0.05


# ------------------------------------------------------------------ coupling coordination
# 0 or >= 1e-6: the naive reference's ((L+F+Ca)/3)**3 underflows for tinier values (the code does not)
unit = st.one_of(st.just(0.0), st.just(1.0), st.floats(1e-6, 1.0))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(unit, unit, unit), min_size=1, max_size=6),
       st.sampled_from([(1 / 3, 1 / 3, 1 / 3), (0.5, 0.25, 0.25), (0.0, 0.0, 1.0)]))
def test_coupling_equals_reference(rows, w):
    s, f, c = (np.array(v) for v in zip(*rows))
    out = coupling_coordination(s, f, c, weights=w)
    for i, (a, b, g) in enumerate(rows):
        if a + b + g == 0:
            assert np.isnan(out["C"].iloc[i]) and out["D"].iloc[i] == 0.0
            continue
        C, T, D = ref_coupling(a, b, g, w)
        np.testing.assert_allclose([out["C"].iloc[i], out["T"].iloc[i], out["D"].iloc[i]], [C, T, D],
                                   rtol=1e-10, atol=1e-12)
    assert ((out["C"] <= 1) | out["C"].isna()).all()
    assert str(out["grade"].dtype) == "category" and out["grade"].cat.ordered


def test_coupling_properties_grades_errors():
    out = coupling_coordination([0.4, 0.0, 1.0], [0.4, 0.5, 1.0], [0.4, 0.5, 1.0])
    np.testing.assert_allclose(out["C"], [1.0, 0.0, 1.0])  # equal scores couple fully; a zero kills C
    np.testing.assert_allclose(out["D"], [math.sqrt(0.4), 0.0, 1.0])
    tiny = coupling_coordination([1e-200], [1e-200], [1e-200])  # GM / AM form: no underflow to 0/0
    assert tiny["C"].iloc[0] == pytest.approx(1.0)
    assert out["grade"].tolist() == ["primary coordination", "extreme disorder", "quality coordination"]
    # boundaries: lower bound inclusive
    L = np.array([0.1, 0.5, 0.9, 0.0999]) ** 2
    g = coupling_coordination(L, L, L)["grade"].tolist()  # C = 1, so D = sqrt(T) = the value before squaring
    assert g == ["serious disorder", "barely coordinated", "quality coordination", "extreme disorder"]
    assert [x[1] for x in GRADES][0] == "extreme disorder" and len(GRADES) == 10
    custom = coupling_coordination([0.1], [0.1], [0.1], grades=[(0.5, "low"), (1.0, "high")])
    assert custom["grade"].tolist() == ["low"]
    s = pd.Series([0.5, 0.6], index=[2012, 2007])
    aligned = coupling_coordination(s, s.iloc[::-1], s)
    assert list(aligned.index) == [2012, 2007]
    np.testing.assert_allclose(aligned["C"], [1.0, 1.0])
    nan = coupling_coordination([np.nan], [0.5], [0.5])
    assert np.isnan(nan["D"].iloc[0]) and pd.isna(nan["grade"].iloc[0])
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        coupling_coordination([1.2], [0.5], [0.5])
    with pytest.raises(ValueError, match="sum to 1"):
        coupling_coordination([0.2], [0.5], [0.5], weights=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="same length"):
        coupling_coordination([0.2, 0.3], [0.5], [0.5])
    with pytest.raises(ValueError, match="same years"):
        coupling_coordination(s, pd.Series([0.1, 0.2], index=[1, 2]), s)
    with pytest.raises(ValueError, match="increase"):
        coupling_coordination([0.2], [0.5], [0.5], grades=[(0.5, "a"), (0.4, "b")])


# ------------------------------------------------------------------ the study's inputs
def test_study_004_forest_grass_area_from_tables_5_and_3():
    np.testing.assert_allclose(forest_grass_km2().to_numpy(), STUDY_FG_AREA_KM2, atol=0.006)


def test_study_004_plain_min_max_gives_zero_coupling_in_two_years():
    out = coupling_table(TABLE6, forest_grass_km2(), TOTAL_T)
    assert out.loc[2012, "F"] == 0.0 and out.loc[2017, "Ca"] == 0.0  # 2012: least forest+grass; 2017: least carbon
    assert out.loc[2012, "C"] == 0.0 and out.loc[2017, "C"] == 0.0
    assert out.loc[2012, "D"] == 0.0 and out.loc[2017, "D"] == 0.0  # the study reports 0.720 and 0.849
    np.testing.assert_allclose(out["L"], [0.561, 0.455, 0.401, 0.367], atol=5e-4)  # docs/coupling.md
    np.testing.assert_allclose(out["D"], [0.851, 0.0, 0.0, 0.711], atol=5e-4)
    # same with the study's own L: the zeros come from F and Ca, not from L
    Ls = pd.Series(STUDY_L, index=YEARS)
    cc = coupling_coordination(Ls, minmax(forest_grass_km2()), minmax(TOTAL_T))
    np.testing.assert_allclose(cc["D"], [0.8641, 0.0, 0.0, 0.7509], atol=5e-4)
    assert np.abs(cc["D"].to_numpy() - STUDY_D).max() > 0.7
    # external bounds (the study's device; its 2006 / 2023 values are not published) keep C > 0
    wide = coupling_table(TABLE6, forest_grass_km2(), TOTAL_T, area_bounds=(60.0, 85.0),
                          carbon_bounds=(1.4e6, 1.65e6))
    assert (wide["C"] > 0).all() and (wide["D"] > 0).all()
    assert out.attrs["units"]["D"] == "1" and out.attrs["units"]["carbon_storage"] == "t"
    with pytest.raises(ValueError, match="missing"):
        coupling_table(TABLE6, forest_grass_km2().iloc[:3], TOTAL_T)
    with pytest.raises(TypeError, match="Series or dict"):
        coupling_table(TABLE6, forest_grass_km2().to_numpy(), TOTAL_T)


def test_docs_examples_run():
    import re
    from pathlib import Path
    text = (Path(__file__).parents[1] / "docs" / "coupling.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "docs/coupling.md", "exec"), {})
