"""Geodetector against the ``geodetector`` package (0.2.0) given the same strata, and the study's tables."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cubeeco.ops import geodetector as GD
from cubeeco.ops.geodetector import discretize, geodetector, sample_pixels

gdpkg = pytest.importorskip("geodetector")
mapclassify = pytest.importorskip("mapclassify")

DATA = Path(__file__).parent / "data" / "ningdong_mines_tables10_13.csv"
PKG_TYPES = {0: "nonlinear weaken", 1: "univariate weaken", 2: "bivariate enhance", 3: "independent",
             4: "nonlinear enhance"}
YEARS = range(2019, 2025)


# ------------------------------------------------------------------ helpers
def _codes(res, data, f):
    """Per-observation stratum codes that cubeeco used for factor ``f``."""
    e = res.breaks[f]
    if e is None:
        return pd.factorize(data[f], sort=True)[0]
    return GD._classify(data[f].to_numpy(dtype=float), e)


def _package(res, data, y, factors):
    """Run the package on cubeeco's strata, passed as strings so that it uses them as they are."""
    strata = pd.DataFrame({f: _codes(res, data, f).astype(str) for f in factors})
    strata[y] = data[y].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gdpkg.GeoDetector(factors=list(factors), target=y).fit(strata)


def _assert_equal_package(res, gd, factors, p_atol=1e-10):
    # factor detector
    qv = gd.q_values_.set_index("variable")
    fac = res.factor.set_index("factor")
    for f in factors:
        np.testing.assert_allclose(fac.loc[f, "q"], qv.loc[f, "q_value"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fac.loc[f, "p"], qv.loc[f, "p_value"], rtol=1e-6, atol=p_atol)
    # interaction detector
    for _, r in res.interaction.iterrows():
        np.testing.assert_allclose(r.q_12, gd.interaction_q_.loc[r.factor_1, r.factor_2], rtol=1e-10, atol=1e-12)
        assert r.interaction == PKG_TYPES[int(gd.interaction_type_.loc[r.factor_1, r.factor_2])]
    # risk detector
    for f in factors:
        theirs = gd.risk_result_[f]
        ours = res.risk[res.risk.factor == f]
        assert len(ours) == len(theirs)
        if len(ours) == 0:
            continue
        m = ours.merge(theirs, on=["stratum_1", "stratum_2"], suffixes=("", "_pkg"))
        assert len(m) == len(ours)
        np.testing.assert_allclose(m["t"], m["t_stat"], rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(m["p"], m["p_value"], rtol=1e-7, atol=1e-14, equal_nan=True)
        assert (m["significant"] == m["significant_pkg"]).all()
    # ecological detector
    eco = res.ecological.merge(gd.ecological_result_, on=["factor_1", "factor_2"])
    assert len(eco) == len(res.ecological)
    np.testing.assert_allclose(eco["F"], eco["f_stat"], rtol=1e-10)
    np.testing.assert_allclose(eco["p"], eco["p_value"], rtol=1e-9, atol=1e-14)
    assert (eco["significant_x"] == eco["significant_y"]).all()


def _random_frame(n=400, seed=3):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "a": rng.normal(size=n),
        "b": rng.gamma(2.0, size=n),
        "lu": rng.integers(0, 5, n),                                          # integer classes
        "soil": pd.Categorical(rng.choice(["loess", "sand", "rock"], n)),      # categorical
    })
    df["y"] = (df.a + 0.4 * df.lu + (df.soil == "sand") * 0.8
               + rng.normal(size=n) * np.where(df.b > 2, 1.0, 0.3))
    return df


# ------------------------------------------------------------------ peer comparison
@pytest.mark.parametrize("method", ["quantile", "natural", "equal"])
def test_random_data_equals_package(method):
    df = _random_frame()
    factors = ["a", "b", "lu", "soil"]
    res = geodetector("y", factors, data=df, discretize=method, k=5)
    assert res.factor.set_index("factor").loc[["lu", "soil"], "method"].eq("categorical").all()
    _assert_equal_package(res, _package(res, df, "y", factors), factors)


def test_user_breaks_equal_package():
    df = _random_frame(seed=8)
    factors = ["a", "b", "lu"]
    edges = {"a": [-10, -1, 0, 0.5, 10], "b": [0, 1, 2, 3, 5, 100]}
    res = geodetector("y", factors, data=df, breaks=edges)
    for f, e in edges.items():
        np.testing.assert_array_equal(res.breaks[f], e)
        codes = _codes(res, df, f)
        x = df[f].to_numpy()
        for i in range(len(e) - 1):   # classes (e_i, e_i+1], the first closed
            inside = (x > e[i]) & (x <= e[i + 1]) if i else (x >= e[0]) & (x <= e[1])
            assert np.array_equal(codes == i, inside)
    assert res.factor.set_index("factor").loc["a", "method"] == "user"
    _assert_equal_package(res, _package(res, df, "y", factors), factors)


def test_package_native_quantile_on_raw_table():
    """Both discretize the raw numbers themselves (quantile, mapclassify) -> same results."""
    df = _random_frame(n=300, seed=11)[["y", "a", "b"]]
    res = geodetector("y", ["a", "b"], data=df, k=5)
    gd = gdpkg.GeoDetector(factors=["a", "b"], target="y", n_strata=5).fit(df)
    _assert_equal_package(res, gd, ["a", "b"])


# ------------------------------------------------------------------ study tables 10-13
@pytest.fixture(scope="module")
def mines():
    df = pd.read_csv(DATA)
    assert df.shape == (22, 23)
    return df


def _year_frame(mines, year):
    return pd.DataFrame({
        "Y": mines[f"rsei_{year}"], "X1": mines[f"temperature_{year}"], "X2": mines[f"precipitation_{year}"],
        "X3": mines["coal_production"], "X4": mines["elevation"], "X5": mines["slope"], "X6": mines["aspect"]})


FACTORS = ["X1", "X2", "X3", "X4", "X5", "X6"]


def test_tables_fixture_matches_seed_text(mines):
    # spot checks against the seed text (Tables 10-13)
    row = mines.set_index("mine")
    assert row.loc["Wei'er", "rsei_2020"] == 0.562
    assert row.loc["Maliantai", "elevation"] == 1250.939
    assert row.loc["Xinqiao", "precipitation_2021"] == 356.137
    assert row.loc["Yin Xing No. 1", "temperature_2024"] == 22.166
    assert row.loc["Yangchangwan", "coal_production"] == 1200


@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize("method,k", [("quantile", 4), ("quantile", 5), ("natural", 5), ("equal", 4)])
def test_tables_equal_package_same_strata(mines, year, method, k):
    df = _year_frame(mines, year)
    res = geodetector("Y", FACTORS, data=df, discretize=method, k=k)
    assert res.n == 22
    _assert_equal_package(res, _package(res, df, "Y", FACTORS), FACTORS)


@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize("method", ["quantile", "natural"])
def test_tables_equal_package_native(mines, year, method):
    """The package discretizes the raw table itself (22 mines, 5 classes): identical results."""
    df = _year_frame(mines, year)
    res = geodetector("Y", FACTORS, data=df, discretize=method, k=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gd = gdpkg.GeoDetector(factors=FACTORS, target="Y", discretize_method=method, n_strata=5).fit(df)
    _assert_equal_package(res, gd, FACTORS)


# ------------------------------------------------------------------ discretisation
def test_discretize_methods_match_mapclassify():
    x = np.random.default_rng(2).lognormal(size=500)
    for method, cls in (("quantile", mapclassify.Quantiles), ("equal", mapclassify.EqualInterval),
                        ("natural", mapclassify.FisherJenks)):
        e = discretize(x, method, 5)
        np.testing.assert_allclose(e[1:], cls(x, k=5).bins, rtol=1e-12)
        assert e[0] == x.min() and e[-1] == x.max()
    g = discretize(x, "geometric", 5)
    assert g.size == 6 and g[0] == x.min() and g[-1] == x.max()
    ratio = g[1:] / g[:-1]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)
    # data with min <= 0: shifted so that the minimum is 1, ratios constant after the shift
    z = np.random.default_rng(3).normal(size=200)
    gz = discretize(z, "geometric", 4) + (1 - z.min())
    np.testing.assert_allclose(gz[1:] / gz[:-1], (gz[-1] / gz[0]) ** 0.25, rtol=1e-9)
    # ties: quantile collapses to fewer classes; k capped at distinct values
    assert discretize(np.r_[np.zeros(50), np.arange(10)], "quantile", 5).size <= 6
    assert discretize(np.array([1.0, 2.0, 2.0, 1.0]), "equal", 5).size == 3
    with pytest.raises(ValueError, match="unknown discretization"):
        discretize(x, "jenks", 5)


def test_natural_large_sample_is_seeded():
    x = np.random.default_rng(4).normal(size=GD.NATURAL_MAX_N + 500)
    a, b = discretize(x, "natural", 4, seed=1), discretize(x, "natural", 4, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a[0] == x.min() and a[-1] == x.max()


def test_breaks_outside_excluded_with_warning():
    df = _random_frame(seed=5)
    with pytest.warns(UserWarning, match="outside the user breaks"):
        res = geodetector("y", ["a", "lu"], data=df, breaks={"a": [-1, 0, 1]})
    assert res.n == int(((df.a >= -1) & (df.a <= 1)).sum())
    with pytest.raises(ValueError, match="strictly increasing"):
        geodetector("y", ["a"], data=df, breaks={"a": [1, 0]})


# ------------------------------------------------------------------ singletons, rules
def test_drop_singletons_both_ways():
    rng = np.random.default_rng(6)
    x = np.r_[np.repeat([0, 1, 2], 10), 3]          # stratum 3 has one observation
    y = x * 0.5 + rng.normal(size=x.size)
    y[-1] = 9.0
    df = pd.DataFrame({"y": y, "x": pd.Categorical(x)})
    kept = geodetector("y", ["x"], data=df, drop_singletons=False).factor.iloc[0]
    dropped = geodetector("y", ["x"], data=df).factor.iloc[0]
    # textbook q over all strata
    grp = pd.Series(y).groupby(x)
    q_text = 1 - (grp.count() * grp.var(ddof=0)).sum() / (y.size * y.var())
    np.testing.assert_allclose(kept.q, q_text, rtol=1e-12)
    assert kept.n_strata == 4 and kept.n == 31
    # the package drops the singleton
    np.testing.assert_allclose(dropped.q, gdpkg.q_statistic(y, x), rtol=1e-12)
    np.testing.assert_allclose(dropped.p, gdpkg._stats.q_significance_test(y, x), rtol=1e-8)
    assert dropped.n_strata == 3 and dropped.n == 30
    assert kept.q != pytest.approx(dropped.q)


def test_interaction_rules():
    t = GD._interaction_type
    assert t(0.3, 0.5, 0.2) == "nonlinear weaken"
    assert t(0.3, 0.5, 0.4) == "univariate weaken"
    assert t(0.3, 0.5, 0.5) == "univariate weaken"
    assert t(0.3, 0.5, 0.7) == "bivariate enhance"
    assert t(0.3, 0.5, 0.8) == "independent"
    assert t(0.3, 0.5, 0.9) == "nonlinear enhance"
    assert t(np.nan, 0.5, 0.9) is None


def test_result_tables_and_strata():
    df = _random_frame(seed=9)
    res = geodetector("y", ["a", "lu"], data=df, k=4)
    tabs = res.to_tables()
    assert set(tabs) == {f"geodetector_{n}" for n in ("factor", "interaction", "risk", "strata", "ecological",
                                                       "breaks")}
    for t in tabs.values():
        assert "description" in t.attrs and "units" in t.attrs
    assert tabs["geodetector_breaks"].query("factor == 'a'")["value"].tolist() == list(res.breaks["a"])
    st = res.strata[res.strata.factor == "lu"].set_index("label")
    means = df.groupby("lu")["y"].mean()
    np.testing.assert_allclose(st.loc[[str(v) for v in means.index], "mean"], means.to_numpy())
    assert res.breaks["lu"] is None


def test_errors():
    df = _random_frame(n=50)
    with pytest.raises(ValueError, match="not in data"):
        geodetector("y", ["nope"], data=df)
    with pytest.raises(TypeError, match="DataArray"):
        geodetector("y", ["a"])
    with pytest.raises(ValueError, match="breaks names"):
        geodetector("y", ["a"], data=df, breaks={"b": [0, 1]})


# ------------------------------------------------------------------ rasters
def _grid(seed=0, shape=(60, 50), chunks=(16, 20)):
    rng = np.random.default_rng(seed)
    ys = 4_000_000 - 30.0 * np.arange(shape[0]) - 15
    xs = 500_000 + 30.0 * np.arange(shape[1]) + 15
    a = rng.normal(size=shape)
    lu = rng.integers(1, 6, shape).astype(np.int16)
    lu[:3, :3] = 255
    y = a + 0.3 * lu + rng.normal(scale=0.5, size=shape)
    y[10:12, 10:30] = np.nan
    mk = lambda v, **at: xr.DataArray(v, dims=("y", "x"), coords={"y": ys, "x": xs}, attrs=at).chunk(  # noqa: E731
        dict(zip(("y", "x"), chunks)))
    return mk(y), {"a": mk(a), "lu": mk(lu, nodata=255)}


def test_sample_pixels_all_and_random():
    y, f = _grid()
    full = sample_pixels({"rsei": y, **f})
    valid = np.isfinite(y.values) & (f["lu"].values != 255)
    assert len(full) == valid.sum() == full.attrs["n_valid"]
    s1 = sample_pixels({"rsei": y, **f}, n=200, seed=4)
    s2 = sample_pixels({"rsei": y, **f}, n=200, seed=4)
    pd.testing.assert_frame_equal(s1, s2)
    assert len(s1) == 200 and not s1.duplicated(["y", "x"]).any()
    # values are those at the sampled coordinates
    pick = y.sel(y=xr.DataArray(s1.y), x=xr.DataArray(s1.x)).values
    np.testing.assert_array_equal(pick, s1.rsei.to_numpy())
    assert s1.rsei.notna().all() and (s1.lu != 255).all()
    # numpy-backed input gives the same sample as chunked input with the same chunks
    s3 = sample_pixels({"rsei": y.compute().chunk({"y": 16, "x": 20}), **f}, n=200, seed=4)
    pd.testing.assert_frame_equal(s1, s3)
    # mask
    mask = xr.zeros_like(f["a"], dtype=bool)
    mask[:20] = True
    sm = sample_pixels({"rsei": y, **f}, mask=mask)
    assert len(sm) == (valid & mask.values).sum()
    with pytest.raises(ValueError, match="one grid"):
        sample_pixels({"rsei": y, "b": f["a"].isel(y=slice(1, None))})


def test_geodetector_on_rasters_equals_table():
    y, f = _grid(seed=1)
    res = geodetector(y, f)
    tab = sample_pixels({"Y": y, **f}, coords=False)
    ref = geodetector("Y", ["a", "lu"], data=tab)
    pd.testing.assert_frame_equal(res.factor, ref.factor)
    pd.testing.assert_frame_equal(res.interaction, ref.interaction)
    assert res.factor.set_index("factor").loc["lu", "method"] == "categorical"
    sub = geodetector(y, f, sample=500, seed=2)
    assert sub.n == 500
