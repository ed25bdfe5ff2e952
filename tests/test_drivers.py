"""Pearson table, VIF screening, OLS regression and pixel samples (study 004 §2.3.3, Tables 7-9)."""

import warnings

import dask
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.outliers_influence import variance_inflation_factor

from cubeeco.ops.drivers import (
    durbin_watson,
    pearson_table,
    regression,
    sample_points,
    vif,
    vif_screen,
)
from cubeeco.testing.laziness import raise_if_dask_computes


def _table(n=120, seed=0, nan=0.0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"dem": rng.normal(1200, 80, n), "mat": rng.normal(7, 1, n), "savi": rng.uniform(0, 0.6, n)})
    df["ndvi"] = 1.5 * df["savi"] + rng.normal(0, 0.01, n)   # nearly collinear with savi
    df["gndvi"] = df["ndvi"] * 0.8 + rng.normal(0, 0.05, n)
    df["carbon"] = 100 + 200 * df["savi"] + 0.03 * df["dem"] - 40 * df["mat"] + rng.normal(0, 20, n)
    if nan:
        for c in df.columns:
            df.loc[rng.random(n) < nan, c] = np.nan
    return df


def _sm_vif(x):
    X = sm.add_constant(x.to_numpy(), has_constant="add")
    return np.array([variance_inflation_factor(X, j + 1) for j in range(x.shape[1])])


# ------------------------------------------------------------------ Pearson
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0.0, 0.1, 0.3]))
def test_pearson_equals_scipy_pairwise(seed, nan):
    df = _table(40, seed, nan)
    out = pearson_table(df, "carbon")
    assert list(out.index) == ["dem", "mat", "savi", "ndvi", "gndvi"]
    for c in out.index:
        ok = df[c].notna() & df["carbon"].notna()
        assert out.loc[c, "n"] == ok.sum()
        r, p = stats.pearsonr(df.loc[ok, c], df.loc[ok, "carbon"])
        np.testing.assert_allclose([out.loc[c, "r"], out.loc[c, "p"]], [r, p], rtol=1e-9, atol=1e-14)
    assert set(out["sig"]) <= {"", "*", "**"}


def test_pearson_edges():
    df = _table(30)
    df["flat"] = 3.0
    df["few"] = np.nan
    df.loc[:1, "few"] = [1.0, 2.0]
    with pytest.warns(RuntimeWarning, match="flat"):
        out = pearson_table(df, "carbon", ["savi", "flat", "few"])
    assert np.isnan(out.loc["flat", "r"]) and np.isnan(out.loc["few", "p"]) and out.loc["few", "n"] == 2
    p = out.loc["savi", "p"]
    assert out.loc["savi", "sig"] == ("**" if p < 0.01 else "*" if p < 0.05 else "")
    assert out.loc["flat", "sig"] == "" and out.attrs["units"]["r"] == "1"
    exact = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [2.0, 4.0, 6.0, 8.0]})
    assert pearson_table(exact, "y").loc["x", ["r", "p"]].tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="constant"):
        pearson_table(df.assign(carbon=1.0), "carbon")
    with pytest.raises(ValueError, match="not a column"):
        pearson_table(df, "soc")
    with pytest.raises(ValueError, match="not columns"):
        pearson_table(df, "carbon", ["zzz"])
    with pytest.raises(TypeError, match="not numeric"):
        pearson_table(df.assign(lulc="forest"), "carbon")
    with pytest.raises(TypeError, match="DataFrame"):
        pearson_table(df.to_numpy(), "carbon")


# ------------------------------------------------------------------ VIF
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_vif_equals_statsmodels(seed):
    df = _table(60, seed).drop(columns="carbon")
    np.testing.assert_allclose(vif(df).to_numpy(), _sm_vif(df), rtol=1e-7)
    np.testing.assert_allclose(vif(df[["dem"]]).to_numpy(), [1.0])


def test_vif_nan_collinear_constant():
    df = _table(50, 1, nan=0.1).drop(columns="carbon")
    got = vif(df)
    np.testing.assert_allclose(got.to_numpy(), _sm_vif(df.dropna()), rtol=1e-7)
    assert got.attrs["n"] == len(df.dropna())
    exact = df.dropna().assign(twice=lambda d: 2 * d["dem"] - d["mat"])
    v = vif(exact)
    assert np.isinf(v["twice"]) and np.isinf(v["dem"]) and np.isfinite(v["savi"])
    with pytest.raises(ValueError, match="constant"):
        vif(df.assign(k=5.0))
    with pytest.raises(ValueError, match="more rows"):
        vif(df.dropna().iloc[:3])


def _screen_by_hand(x, threshold):
    kept, dropped = list(x.columns), []
    while len(kept) > 1:
        v = _sm_vif(x[kept])
        j = int(np.argmax(v))
        if v[j] < threshold:
            break
        dropped.append(kept.pop(j))
    return kept, dropped


@pytest.mark.parametrize("threshold", [5.0, 10.0, 1.5])
def test_vif_screen_matches_a_loop_over_statsmodels(threshold):
    df = _table(80, 3).drop(columns="carbon")
    df["ndvi2"] = df["ndvi"] + 1e-3 * np.random.default_rng(9).normal(size=len(df))
    res = vif_screen(df, threshold=threshold)
    kept, dropped = _screen_by_hand(df, threshold)
    assert res.kept == kept and res.dropped == dropped and list(res.steps["dropped"]) == dropped
    assert (res.vif < threshold).all() or len(res.kept) == 1
    assert (res.steps["VIF"] >= threshold).all()
    if threshold == 5.0:
        assert set(dropped) >= {"ndvi"} and {"dem", "mat"} <= set(kept)
    with pytest.raises(ValueError, match="threshold"):
        vif_screen(df, threshold=1.0)


# ------------------------------------------------------------------ regression
def test_regression_equals_statsmodels_and_tables_8_9_layout():
    df = _table(150, 4, nan=0.05)
    res = regression(df, "carbon", ["savi", "gndvi", "dem", "mat"], vif_threshold=None)
    data = df[["carbon", "savi", "gndvi", "dem", "mat"]].dropna()
    fit = sm.OLS(data["carbon"], sm.add_constant(data[["savi", "gndvi", "dem", "mat"]])).fit()
    c = res.coefficients
    assert list(c.index) == ["const", "savi", "gndvi", "dem", "mat"]
    assert list(c.columns) == ["B", "std_err", "beta", "t", "p", "VIF"]
    for col, ref in (("B", fit.params), ("std_err", fit.bse), ("t", fit.tvalues), ("p", fit.pvalues)):
        np.testing.assert_allclose(c[col].to_numpy(), ref.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(c["VIF"].iloc[1:].to_numpy(), _sm_vif(data[["savi", "gndvi", "dem", "mat"]]),
                               rtol=1e-7)
    beta = fit.params.iloc[1:] * data.iloc[:, 1:].std() / data["carbon"].std()
    np.testing.assert_allclose(c["beta"].iloc[1:].to_numpy(), beta.to_numpy(), rtol=1e-9)
    m = res.model.iloc[0]
    np.testing.assert_allclose([m["R2"], m["adj_R2"], m["F"], m["p_F"]],
                               [fit.rsquared, fit.rsquared_adj, fit.fvalue, fit.f_pvalue], rtol=1e-9)
    e = (data["carbon"] - fit.fittedvalues).to_numpy()
    dw = sum((e[t] - e[t - 1]) ** 2 for t in range(1, len(e))) / sum(v * v for v in e)
    assert m["durbin_watson"] == pytest.approx(dw, rel=1e-12) and durbin_watson(e) == pytest.approx(dw)
    assert m["n"] == len(data) and m["k"] == 4
    assert set(res.to_tables()) == {"coefficients", "model"}


def test_regression_vif_screen_and_errors():
    df = _table(150, 5)
    res = regression(df, "carbon", vif_threshold=5.0)
    assert "ndvi" in res.dropped and "ndvi" not in res.coefficients.index
    assert res.dropped == vif_screen(df.drop(columns="carbon")).dropped
    assert (res.coefficients["VIF"].dropna() < 5).all()
    assert res.model.attrs["dropped"] == res.dropped
    with pytest.raises(ValueError, match="linearly dependent"):
        regression(df.assign(sum_=df["dem"] + df["mat"]), "carbon", ["dem", "mat", "sum_"], vif_threshold=None)
    with pytest.raises(ValueError, match="constant"):
        regression(df.assign(k=1.0), "carbon", ["dem", "k"])
    with pytest.raises(ValueError, match="constant"):
        regression(df.assign(carbon=2.0), "carbon", ["dem"])
    with pytest.raises(ValueError, match="n > k"):
        regression(df.iloc[:3], "carbon", ["dem", "mat"], vif_threshold=None)
    with pytest.raises(ValueError, match="target"):
        regression(df, "carbon", ["carbon", "dem"])


# ------------------------------------------------------------------ pixel samples
def _rasters(ny=37, nx=29, seed=0):
    rng = np.random.default_rng(seed)
    y = 4_400_000.0 - 30.0 * np.arange(ny) - 15
    x = 500_000.0 + 30.0 * np.arange(nx) + 15
    a = rng.normal(size=(ny, nx)).astype(np.float32)
    a[rng.random((ny, nx)) < 0.2] = np.nan
    b = rng.integers(1, 6, (ny, nx)).astype(np.int16)
    b[rng.random((ny, nx)) < 0.1] = -1
    ds = xr.Dataset({"carbon": (("y", "x"), a), "lulc": (("y", "x"), b, {"nodata": -1})}, coords={"y": y, "x": x})
    ds["spatial_ref"] = xr.DataArray(0)
    return ds


def _reference_valid(ds, mask=None):
    a, b = ds["carbon"].values, ds["lulc"].values
    ok = np.isfinite(a) & (b != -1)
    if mask is not None:
        ok &= mask.values
    return ok


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 40), st.integers(3, 30), st.integers(1, 400), st.integers(0, 2**32))
def test_sample_points_independent_of_chunking(cy, cx, n, seed):
    ds = _rasters()
    whole = sample_points(ds, n=n, seed=seed)
    with dask.config.set(scheduler="synchronous"):
        tiled = sample_points(ds.chunk(y=cy, x=cx), n=n, seed=seed)
    pd.testing.assert_frame_equal(whole, tiled)
    ok = _reference_valid(ds)
    assert len(whole) == min(n, ok.sum()) and whole.attrs["n_valid"] == ok.sum()
    # every row is a valid pixel and carries that pixel's values
    iy = np.searchsorted(-ds["y"].values, -whole["y"].to_numpy())
    ix = np.searchsorted(ds["x"].values, whole["x"].to_numpy())
    assert ok[iy, ix].all() and not whole.duplicated(["x", "y"]).any()
    np.testing.assert_array_equal(whole["carbon"].to_numpy(), ds["carbon"].values[iy, ix])
    np.testing.assert_array_equal(whole["lulc"].to_numpy(), ds["lulc"].values[iy, ix])
    assert list(whole.columns) == ["x", "y", "carbon", "lulc"]


def test_sample_points_all_mask_seed_and_errors():
    ds = _rasters()
    top = np.broadcast_to(np.arange(ds.sizes["y"])[:, None] < 10, ds["carbon"].shape)
    mask = xr.DataArray(top, dims=("y", "x"), coords={"y": ds.y, "x": ds.x})
    everything = sample_points({"carbon": ds["carbon"], "lulc": ds["lulc"]}, n=None)
    assert len(everything) == _reference_valid(ds).sum()
    inside = sample_points(ds, n=None, mask=mask)
    assert len(inside) == _reference_valid(ds, mask).sum() and (inside["y"] >= ds.y.values[9]).all()
    a, b = sample_points(ds, n=50, seed=1), sample_points(ds, n=50, seed=2)
    assert not a[["x", "y"]].equals(b[["x", "y"]])
    pd.testing.assert_frame_equal(a, sample_points(ds, n=50, seed=1))
    # uniform over valid pixels: the mean row index of large samples sits near the valid pixels' mean
    ok = _reference_valid(ds)
    big = sample_points(ds, n=400, seed=3)
    rows = np.searchsorted(-ds["y"].values, -big["y"].to_numpy())
    assert abs(rows.mean() - np.nonzero(ok)[0].mean()) < 2.0
    # dask in: one pass over the graph (a single compute), and the same rows as numpy in
    with raise_if_dask_computes(max_computes=1):
        once = sample_points(ds.chunk(y=10, x=10), n=50, seed=1)
    pd.testing.assert_frame_equal(once, a)
    with pytest.raises(ValueError, match="one grid"):
        sample_points({"a": ds["carbon"], "b": ds["carbon"].isel(x=slice(0, 5))})
    with pytest.raises(ValueError, match="2-D"):
        sample_points({"a": ds["carbon"].expand_dims(t=2)})
    with pytest.raises(ValueError, match="clash"):
        sample_points({"x": ds["carbon"]})
    with pytest.raises(ValueError, match="positive integer"):
        sample_points(ds, n=0)
    with pytest.raises(TypeError, match="boolean"):
        sample_points(ds, mask=ds["carbon"])
    with pytest.raises(ValueError, match="no pixel is valid"):
        sample_points({"a": ds["carbon"] * np.nan})
    with pytest.raises(TypeError, match="Dataset or a dict"):
        sample_points([ds["carbon"]])


def test_sample_points_then_regression_end_to_end():
    ds = _rasters(60, 50)
    rng = np.random.default_rng(7)
    ds["savi"] = (("y", "x"), rng.uniform(0, 0.6, (60, 50)))
    ds["carbon"] = ds["carbon"] * 10 + 200 * ds["savi"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray warnings on the normal path
        pts = sample_points(ds.chunk(y=16, x=16), n=500, seed=0)
        res = regression(pts, "carbon", ["savi"])
    assert res.model["R2"].iloc[0] > 0.3 and res.coefficients.loc["savi", "p"] < 1e-6
