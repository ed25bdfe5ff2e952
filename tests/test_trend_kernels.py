"""Trend kernels against their peers (benchmarks/peers.py), a plain reference, and invariants."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.peers import PEERS, SERIES_KINDS, random_series
from cubeeco.kernels import trend as kt
from tests.reference import trend_ref

Z95 = 1.959963984540054
YEARS0 = 2000.0


def _series(rng, n, kind, dtype):
    """One random series of a given flavour (no NaN)."""
    return random_series(rng, n, kind).astype(dtype)


KINDS = SERIES_KINDS


def _cases(seed, count, n_min=3, n_max=60):
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(n_min, n_max + 1))
        dtype = (np.float64, np.float32)[i % 2]
        kind = KINDS[i % len(KINDS)]
        yield _series(rng, n, kind, dtype), YEARS0 + np.arange(n, dtype=np.float64), kind, dtype


def _close(a, b, rtol, atol=0.0):
    if np.isnan(a) and np.isnan(b):
        return True
    return abs(a - b) <= atol + rtol * abs(b)


def _ftol(dtype, rtol64):
    # cubeeco stores float32 input's statistics as float32 (computed in float64)
    return rtol64 if dtype == np.float64 else 1e-6


# ----------------------------------------------------------------------------------
# peers: pymannkendall, scipy.stats (NaN-free series on integer years)
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["mann_kendall", "hamed_rao", "yue_wang"])
def test_mann_kendall_family_matches_pymannkendall(kernel):
    ours, peer = PEERS[kernel]["cubeeco"], PEERS[kernel]["pymannkendall"]
    worst = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pymannkendall: sqrt of a negative variance
        for y, t, kind, dtype in _cases(10, 400):
            a, b = ours(y, t), peer(y)
            assert a["s"] == b["s"], (kind, y)
            tol = _ftol(dtype, 1e-9)
            if kernel == "yue_wang" and kind == "offset":
                # ACF of a detrended 1e6 + 0.01 * noise series: centring cancels ~10
                # digits, in pymannkendall as in cubeeco (different summation order)
                tol = max(tol, 1e-5)
            if kernel == "mann_kendall":
                assert a["var_s"] == pytest.approx(b["var_s"], rel=1e-15 if dtype == np.float64 else 1e-7)
            else:
                assert _close(a["var_s"], b["var_s"], tol), (kind, a, b)
            for k in ("z", "tau"):
                assert _close(a[k], b[k], tol), (k, kind, a, b)
            # pymannkendall's p = 2(1 - Phi(|z|)) cancels below ~1e-16 absolute; ours uses erfc
            assert _close(a["p"], b["p"], tol, atol=1e-15), (kind, a, b)
            if np.isfinite(b["z"]):
                assert a["trend"] == b["trend"], (kind, a, b)
            else:
                assert a["trend"] == kt.NODATA_INT8
            for k in ("z", "p"):
                if dtype == np.float64 and kind != "offset" and np.isfinite(b[k]) and b[k] > 1e-6:
                    worst[k] = max(worst.get(k, 0.0), abs(a[k] - b[k]) / abs(b[k]))
    print(kernel, "max relative difference vs pymannkendall", worst)


def test_sen_slope_matches_pymannkendall_and_scipy():
    ours = PEERS["sen_slope"]["cubeeco"]
    worst = 0.0
    for y, t, kind, dtype in _cases(11, 500):
        a = ours(y, t)
        tol = _ftol(dtype, 1e-12)
        scale = max(1.0, float(np.max(np.abs(y - np.median(y)))))
        p = PEERS["sen_slope"]["pymannkendall"](y)
        s = PEERS["sen_slope"]["scipy"](y, t)
        assert _close(a["slope"], p["slope"], tol, atol=1e-12 * scale), (kind, a, p)
        assert _close(a["slope"], s["slope"], tol, atol=1e-12 * scale), (kind, a, s)
        # pymannkendall's intercept is at index 0 = year 2000; ours at t = 0 (float64 always)
        icpt_t0 = p["intercept"] - p["slope"] * YEARS0
        assert _close(a["intercept"], icpt_t0, 1e-9, atol=1e-9 * scale * YEARS0), (kind, a, p)
        assert _close(a["intercept"], s["intercept"], 1e-11, atol=1e-11 * scale * YEARS0), (kind, a, s)
        if dtype == np.float64:
            worst = max(worst, abs(a["slope"] - s["slope"]), abs(a["slope"] - p["slope"]))
    print("sen slope max abs difference vs scipy", worst)


def test_sen_confidence_bounds_match_scipy_theilslopes():
    ours, peer = PEERS["sen_ci"]["cubeeco"], PEERS["sen_ci"]["scipy"]
    for alpha in (0.05, 0.1, 0.01):
        for y, t, kind, dtype in _cases(12, 400):
            a, b = ours(y, t, alpha), peer(y, t, alpha)
            tol = _ftol(dtype, 1e-12)
            for k in ("slope_low", "slope_high"):
                assert _close(a[k], b[k], tol, atol=1e-12), (alpha, k, kind, a, b)


def test_irregular_time_matches_scipy_theilslopes():
    rng = np.random.default_rng(13)
    for _ in range(500):
        n = int(rng.integers(3, 40))
        t = np.sort(rng.choice(np.arange(1984.0, 2030.0, 0.25), size=n, replace=False))
        y = rng.normal(size=n) + 0.1 * (t - 2000)
        a = PEERS["sen_ci"]["cubeeco"](y, t)
        b = PEERS["sen_ci"]["scipy"](y, t)
        for k in ("slope", "slope_low", "slope_high"):
            assert _close(a[k], b[k], 1e-12, atol=1e-14), (k, a, b)
        assert _close(a["intercept"], b["intercept"], 1e-9, atol=1e-9), (a, b)
        ref = trend_ref.mann_kendall(y, t)
        mk = PEERS["mann_kendall"]["cubeeco"](y, t)
        assert mk["s"] == ref["s"] and mk["var_s"] == ref["var_s"]


def test_tau_matches_scipy_without_ties_and_ols_matches_linregress():
    worst = {}
    for y, t, kind, dtype in _cases(14, 1000, n_min=3):
        if kind in ("noise", "trend", "offset") and len(np.unique(y)) == len(y):
            a = PEERS["kendall_tau"]["cubeeco"](y, t)["tau"]
            b = PEERS["kendall_tau"]["scipy"](y, t)["tau"]
            assert _close(a, b, _ftol(dtype, 1e-12), atol=1e-15)
        a = PEERS["ols"]["cubeeco"](y, t)
        b = PEERS["ols"]["scipy"](y, t)
        tol = _ftol(dtype, 1e-9)
        scale = float(np.std(y)) + 1e-300
        assert _close(a["slope"], b["slope"], tol, atol=1e-12 * scale), (kind, a, b)
        assert _close(a["intercept"], b["intercept"], tol, atol=1e-9 * scale * YEARS0), (kind, a, b)
        if np.std(y) > 0:
            assert _close(a["r2"], b["r2"], max(tol, 1e-9), atol=1e-12), (kind, a, b)
        if dtype == np.float64:
            worst["slope"] = max(worst.get("slope", 0), abs(a["slope"] - b["slope"]) / (abs(b["slope"]) + 1e-300))
    print("ols max relative slope difference vs scipy", worst)


# ----------------------------------------------------------------------------------
# NaN gaps: against the plain reference (the peers cannot skip NaN the same way)
# ----------------------------------------------------------------------------------


def _with_gaps(rng, y, frac):
    y = y.copy()
    y[rng.random(len(y)) < frac] = np.nan
    return y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_trend_all_with_gaps_matches_reference(dtype):
    rng = np.random.default_rng(20)
    rows = []
    n = 24
    t = YEARS0 + np.arange(n, dtype=np.float64)
    for i in range(600):
        y = _series(rng, n, KINDS[i % len(KINDS)], np.float64)
        y = _with_gaps(rng, y, rng.choice([0.0, 0.1, 0.4, 0.9]))
        rows.append(y.astype(dtype))
    Y = np.array(rows)
    outs = dict(zip(kt.TREND_OUTPUTS, kt.trend_all(Y, t)))
    for name in ("trend", "significance"):
        assert outs[name].dtype == np.int8
    assert outs["n_valid"].dtype == np.int32
    assert outs["slope"].dtype == dtype
    tol = _ftol(dtype, 1e-12)
    for i, y in enumerate(Y):
        ref = trend_ref.trend(y, t)
        for k, v in ref.items():
            got = outs[k][i]
            if k in ("trend", "significance", "n_valid"):
                assert got == v, (i, k, got, v)
            elif k in ("s",):
                assert (np.isnan(got) and np.isnan(v)) or got == v, (i, k)
            else:
                scale = 1.0 if "intercept" not in k else 1e3
                assert _close(float(got), float(v), max(tol, 1e-10), atol=1e-12 * scale), (i, k, got, v)


@pytest.mark.parametrize("method", ["original", "hamed_rao", "yue_wang"])
def test_mann_kendall_with_gaps_matches_reference(method):
    rng = np.random.default_rng(21)
    n = 30
    t = YEARS0 + np.arange(n, dtype=np.float64)
    Y = np.array([_with_gaps(rng, _series(rng, n, KINDS[i % 5], np.float64), 0.2) for i in range(300)])
    got = dict(zip(("s", "var_s", "z", "p", "tau", "trend"), kt.mann_kendall(Y, t, Z95, kt.METHODS[method])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i, y in enumerate(Y):
            ref = trend_ref.mann_kendall(y, t, method=method)
            assert got["s"][i] == ref["s"]
            # offset series (1e6 + 0.01 noise): the ACF's centring cancels ~10 digits
            tol = 1e-5 if (method == "yue_wang" and KINDS[i % 5] == "offset") else 1e-9
            if tol == 1e-9:
                assert got["trend"][i] == ref["trend"]
            for k in ("var_s", "z", "p", "tau"):
                assert _close(got[k][i], ref[k], tol, atol=1e-15), (i, k, got[k][i], ref[k])


def test_ols_predict_matches_reference():
    rng = np.random.default_rng(22)
    n = 22
    t = YEARS0 + np.arange(n, dtype=np.float64)
    Y = np.array([_with_gaps(rng, _series(rng, n, "trend", np.float64), 0.15) for _ in range(200)])
    ends = rng.choice(np.r_[t, np.nan, np.inf, 1990.0], size=len(Y))
    t_out = np.array([2005.0, 2021.0, 2030.5])
    got = kt.ols_predict(Y, t, ends, t_out)
    assert got.shape == (len(Y), 3)
    for i, y in enumerate(Y):
        ref = trend_ref.ols_predict(y, t, ends[i], t_out)
        for a, b in zip(got[i], ref):
            assert _close(a, b, 1e-9, atol=1e-9), (i, ends[i], got[i], ref)


# ----------------------------------------------------------------------------------
# adversarial arrays
# ----------------------------------------------------------------------------------


def _trend_dict(y, t):
    return {k: v[()] for k, v in zip(kt.TREND_OUTPUTS, kt.trend_all(np.asarray(y), np.asarray(t, float)))}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_short_series_give_nan(n, dtype):
    out = _trend_dict(np.arange(n, dtype=dtype), YEARS0 + np.arange(n))
    for k in ("slope", "intercept", "slope_low", "slope_high", "s", "var_s", "z", "p", "tau"):
        assert np.isnan(out[k]), k
    assert out["trend"] == kt.NODATA_INT8 and out["significance"] == kt.NODATA_INT8
    assert out["n_valid"] == n
    if n == 2:  # OLS needs only two values
        assert out["ols_slope"] == pytest.approx(1.0)
    else:
        assert np.isnan(out["ols_slope"])


def test_all_nan_and_mostly_nan():
    t = YEARS0 + np.arange(10)
    out = _trend_dict(np.full(10, np.nan), t)
    assert np.isnan(out["slope"]) and out["n_valid"] == 0 and out["trend"] == kt.NODATA_INT8
    y = np.full(10, np.nan)
    y[[2, 5, 9]] = [1.0, 2.0, 4.0]
    out = _trend_dict(y, t)
    assert out["n_valid"] == 3 and out["s"] == 3
    assert out["slope"] == pytest.approx(np.median([1 / 3, 3 / 7, 2 / 4]))


def test_constant_series():
    t = YEARS0 + np.arange(12)
    out = _trend_dict(np.full(12, 0.25), t)
    assert out["slope"] == 0 and out["s"] == 0 and out["var_s"] == 0
    assert out["z"] == 0 and out["p"] == 1 and out["trend"] == 0 and out["significance"] == 0
    assert out["slope_low"] == 0 and out["slope_high"] == 0
    assert out["ols_slope"] == 0 and np.isnan(out["ols_r2"])  # R² 0/0 -> NaN


def test_infinities_are_missing():
    t = YEARS0 + np.arange(8)
    y = np.array([1.0, np.inf, 2.0, -np.inf, 3.5, np.nan, 4.0, 6.0])
    clean = y.copy()
    clean[~np.isfinite(clean)] = np.nan
    a, b = _trend_dict(y, t), _trend_dict(clean, t)
    for k in a:
        assert a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])), k
    assert a["n_valid"] == 5


def test_huge_offset_keeps_precision():
    rng = np.random.default_rng(3)
    t = YEARS0 + np.arange(22)
    base = rng.normal(size=22) * 0.01 + 0.002 * np.arange(22)
    a = _trend_dict(base, t)
    b = _trend_dict(base + 1e6, t)
    assert b["slope"] == pytest.approx(a["slope"], rel=1e-6)
    assert b["ols_slope"] == pytest.approx(a["ols_slope"], rel=1e-6)
    assert b["ols_r2"] == pytest.approx(a["ols_r2"], rel=1e-6)
    assert a["s"] == b["s"]


def test_scratch_too_small_gives_nan_not_a_crash():
    # a direct gufunc call with a short scratch must not write past it: all NaN instead
    y = np.random.default_rng(0).normal(size=(2, 10))
    short = np.empty(kt.scratch_size(10) - 1)
    for out in kt.sen_mk_gufunc(y, np.arange(10.0), Z95, short):
        assert np.isnan(out).all()
    res = dict(zip(kt.TREND_OUTPUTS, kt.trend_gufunc(y, np.arange(10.0), Z95, short)))
    assert (res["n_valid"] == kt.SCRATCH_TOO_SMALL).all()
    assert np.isnan(res["slope"]).all() and (res["trend"] == kt.NODATA_INT8).all()
    # the right size works
    assert np.isfinite(kt.sen_mk_gufunc(y, np.arange(10.0), Z95, kt.new_scratch(10))[0]).all()


def test_lazy_gufunc_pickles_by_reference():
    import pickle

    from dask.base import tokenize

    from cubeeco.kernels._gufunc import LazyGufunc

    assert pickle.loads(pickle.dumps(kt.trend_gufunc)) is kt.trend_gufunc
    assert pickle.loads(pickle.dumps(kt.trend_all)) is kt.trend_all
    gufuncs = [v for v in vars(kt).values() if isinstance(v, LazyGufunc)]
    assert len(gufuncs) >= 6
    for g in gufuncs:
        blob = pickle.dumps(g)
        assert len(blob) < 200 and pickle.loads(blob) is g  # module + qualname only
        assert tokenize(g) == tokenize(pickle.loads(blob))  # deterministic dask token
    assert len({tokenize(g) for g in gufuncs}) == len(gufuncs)


def test_tokenizing_a_lazy_gufunc_compiles_nothing():
    from dask.base import tokenize

    from cubeeco.kernels._gufunc import lazy_gufunc

    def double(x, out):
        out[0] = 2.0 * x[0]

    g = lazy_gufunc(["void(float64[:], float64[:])"], "(n)->()")(double)
    h = lazy_gufunc(["void(float64[:], float64[:])"], "(n)->()")(double)
    assert tokenize(g) == tokenize(h)
    assert not g.is_compiled
    assert g(np.array([[1.0], [2.0]])).tolist() == [2.0, 4.0] and g.is_compiled


def test_select2_against_sort():
    rng = np.random.default_rng(5)
    for trial in range(300):
        m = int(rng.integers(1, 400))
        if trial % 3 == 0:
            x = rng.integers(0, rng.integers(1, 6), size=m).astype(float)  # heavy ties
        else:
            x = rng.standard_cauchy(size=m)
        srt = np.sort(x)
        work = np.empty(m + 8)
        piv = np.empty(64)
        for k1 in sorted({0, m - 1, (m - 1) // 2, int(rng.integers(0, m))}):
            for k2 in {k1, min(k1 + 1, m - 1)}:
                v1, v2 = kt._select2(x, m, k1, k2, work, piv)
                assert (v1, v2) == (srt[k1], srt[k2]), (trial, m, k1, k2)


def test_counting_selection_against_sort():
    """_rank_sum (the counting fast path) is exact or gives up; _select_sum is always exact."""
    rng = np.random.default_rng(12)
    answered = tried = 0
    for trial in range(400):
        m = int(rng.integers(29, 400))
        kind = trial % 4
        if kind == 0:
            x = rng.integers(0, rng.integers(1, 6), size=m).astype(float)  # heavy ties
        elif kind == 1:
            x = rng.standard_cauchy(size=m)
            x[rng.random(m) < 0.05] = np.inf * rng.choice([-1, 1])  # overflowed slopes
        else:
            x = rng.standard_cauchy(size=m) * 10.0 ** rng.integers(-6, 6)
        srt = np.sort(x)
        work = np.empty(m + 8)
        piv = np.empty(2 * kt._KMAX)
        for k1 in sorted({(m - 1) // 2, int(rng.integers(0, m)), int(rng.integers(0, m))}):
            for k2 in {k1, min(k1 + 1, m - 1)}:
                want = srt[k1] if k1 == k2 else srt[k1] + srt[k2]
                fast = kt._rank_sum(x, m, k1, k2, piv)
                if kind >= 2 and k1 == (m - 1) // 2 and k2 == m // 2:
                    tried += 1
                    answered += not np.isnan(fast)
                if not np.isnan(fast):
                    assert fast == want, (trial, m, k1, k2)
                got = kt._select_sum(x, m, k1, k2, work, piv)
                assert got == want or (np.isnan(got) and np.isnan(want)), (trial, m, k1, k2)
    # the fast path must answer most medians of continuous data, or it is dead weight
    # (it gives up when the median lies outside the 7 sample pivots: ~2 % of draws)
    assert answered > 0.85 * tried, (answered, tried)


def test_s_from_slope_signs_survives_underflow_and_ties():
    """The Sen kernels read S off the slope signs; a slope that underflowed to 0 is no tie."""
    tiny = 5e-324  # the smallest subnormal: tiny / 3 rounds to 0
    t = np.arange(30.0) * 3.0
    cases = {
        "underflow": np.tile([0.0, tiny, 0.0, tiny, 2 * tiny], 6),
        "underflow, no real ties": np.arange(30) * tiny,
        "ties": np.round(np.sin(np.arange(30.0)), 1),
        "no ties": np.sin(np.arange(30.0)),
    }
    for name, y in cases.items():
        s_exact, var_exact = kt.mann_kendall(y[None, :], t)[:2]  # the sign loop, no slopes
        _, s, var_s, _, _ = kt.sen_mk(y[None, :], t)
        full = dict(zip(kt.TREND_OUTPUTS, kt.trend_all(y[None, :], t)))
        for got_s, got_var in ((s, var_s), (full["s"], full["var_s"])):
            assert got_s[0] == s_exact[0], name
            assert got_var[0] == var_exact[0], name
    assert (np.arange(30) * tiny / 3.0 == 0).sum() > 1  # the case does underflow


def test_headline_kernel_agrees_with_trend_kernel():
    rng = np.random.default_rng(6)
    Y = rng.normal(size=(500, 22)).astype(np.float32)
    Y[rng.random(Y.shape) < 0.1] = np.nan
    t = YEARS0 + np.arange(22)
    slope, s, var_s, z, p = kt.sen_mk(Y, t)
    full = dict(zip(kt.TREND_OUTPUTS, kt.trend_all(Y, t)))
    for k, v in dict(slope=slope, s=s, var_s=var_s, z=z, p=p).items():
        np.testing.assert_array_equal(v, full[k])
        assert v.dtype == np.float32
    mk = dict(zip(("s", "var_s", "z", "p", "tau", "trend"), kt.mann_kendall(Y, t)))
    for k in mk:
        np.testing.assert_array_equal(mk[k], full[k])


# ----------------------------------------------------------------------------------
# invariants (hypothesis)
# ----------------------------------------------------------------------------------

_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def int_series(draw, min_size=3, max_size=30):
    n = draw(st.integers(min_size, max_size))
    vals = draw(st.lists(st.integers(-50, 50), min_size=n, max_size=n))
    gaps = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    y = np.array(vals, dtype=np.float64)
    y[np.array(gaps) & (np.arange(n) % 3 == 0)] = np.nan
    return y


@_settings
@given(
    a=st.floats(-1e3, 1e3),
    b=st.floats(-10, 10),
    n=st.integers(3, 40),
    start=st.integers(1950, 2030),
)
def test_linear_series_recovers_slope(a, b, n, start):
    t = start + np.arange(n, dtype=np.float64)
    y = a + b * t
    out = _trend_dict(y, t)
    scale = abs(a) + abs(b) * (start + n)
    assert out["slope"] == pytest.approx(b, rel=1e-9, abs=1e-12 * scale)
    assert out["ols_slope"] == pytest.approx(b, rel=1e-9, abs=1e-12 * scale)


@_settings
@given(y=int_series(), c=st.integers(-10**6, 10**6))
def test_adding_a_constant_changes_nothing(y, c):
    t = YEARS0 + np.arange(len(y))
    a, b = _trend_dict(y, t), _trend_dict(y + c, t)
    for k in ("slope", "slope_low", "slope_high", "s", "var_s", "z", "p", "tau", "trend", "n_valid", "significance"):
        assert a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])), k


@_settings
@given(y=int_series())
def test_negating_flips_signs(y):
    t = YEARS0 + np.arange(len(y))
    a, b = _trend_dict(y, t), _trend_dict(-y, t)
    for k in ("slope", "s", "z", "tau", "ols_slope"):
        assert a[k] == -b[k] or (np.isnan(a[k]) and np.isnan(b[k])), k
    assert a["slope_low"] == -b["slope_high"] or np.isnan(a["slope_low"])
    if a["trend"] != kt.NODATA_INT8:
        assert a["trend"] == -b["trend"]
    for k in ("var_s", "p", "significance", "n_valid"):
        assert a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])), k


@_settings
@given(seed=st.integers(0, 2**32 - 1), n_px=st.integers(1, 40))
def test_permuting_pixels_permutes_outputs(seed, n_px):
    rng = np.random.default_rng(seed)
    Y = np.round(rng.normal(size=(n_px, 15)) * 3)
    Y[rng.random(Y.shape) < 0.2] = np.nan
    t = YEARS0 + np.arange(15)
    perm = rng.permutation(n_px)
    a = kt.trend_all(Y, t)
    b = kt.trend_all(Y[perm], t)
    for x, z in zip(a, b):
        np.testing.assert_array_equal(x[perm], z)


def test_p_value_is_accurate_in_the_tail():
    # S = 1770 at n = 60: p ~ 1e-29, where 2 * (1 - Phi) would be 0
    t = YEARS0 + np.arange(60)
    out = _trend_dict(np.arange(60.0), t)
    z = (1770 - 1) / math.sqrt(60 * 59 * 125 / 18)
    assert out["z"] == pytest.approx(z, rel=1e-14)
    assert out["p"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    assert out["p"] > 0


def test_sample_sorting_network_sorts_every_zero_one_input():
    # 0-1 principle: a comparator network that sorts all 2^7 binary inputs sorts everything
    import itertools

    piv = np.empty(2 * kt._KMAX)
    for bits in itertools.product([0.0, 1.0], repeat=7):
        buf = np.repeat(np.array(bits), 3)  # m = 21: step 1.5 picks positions 1, 4, ..., 19
        kt._sample_sorted(buf, 21, 7, piv)
        picked = buf[[int((2 * p + 1) * 1.5) for p in range(7)]]
        np.testing.assert_array_equal(piv[:7], np.sort(picked))
    # k other than 7 still ranks by counting, ties included
    buf = np.array([3.0, 1.0, 2.0, 1.0, 5.0, 1.0, 0.0, 2.0, 9.0])
    kt._sample_sorted(buf, 9, 3, piv)
    np.testing.assert_array_equal(piv[:3], np.sort(buf[[1, 4, 7]]))
