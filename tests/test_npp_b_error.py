"""npp_b_error: MOD17's relative error per cell, year-to-year and persistent, recovered from a
planted one (cubeeco.ops.scale.npp_b_error)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from cubeeco.ops.scale import WEIGHT_RULES, npp_b_error


def _stats(sigma_e, sigma_u, *, regression=True, n_cells=400, n_years=20, seed=0, destroyed=0):
    rng = np.random.default_rng(seed)
    # a cell's greenness lasts (its cover), with a little change from year to year
    x = rng.uniform(0.25, 0.6, n_cells)[None] + rng.normal(0, 0.005, (n_years, n_cells))
    a, b = rng.uniform(-120, -90, n_years), rng.uniform(800, 900, n_years)
    pred = a[:, None] + b[:, None] * x
    u = rng.normal(0, sigma_u, n_cells)
    e = rng.normal(0, sigma_e, (n_years, n_cells))
    npp_b = pred * np.exp(u[None] + e)
    known = np.full((n_years, n_cells), 230, np.int32)
    veg = known.copy()
    veg[:, :destroyed] -= 50                   # these cells are not wholly vegetated: left out
    npp_b[:, :destroyed] *= 3.0
    ds = xr.Dataset({"n_known": (("time", "cell"), known), "n_vegetated": (("time", "cell"), veg),
                     "npp_b": (("time", "cell"), npp_b.astype(np.float32)),
                     "share": ("cell", np.ones(n_cells))})
    if regression:
        ds = ds.assign(weights_intercept=("time", a), weights_slope=("time", b),
                       covariate_mean=(("time", "cell"), x),
                       weights_rule=("time", np.full(n_years, WEIGHT_RULES.index("regression"), np.int8)))
        ds.attrs["weights"] = "regression"
    return ds


@pytest.mark.parametrize("sigma_e, sigma_u", [(0.04, 0.06), (0.08, 0.0), (0.02, 0.1)])
def test_the_planted_errors_are_recovered_with_the_regression(sigma_e, sigma_u):
    got = npp_b_error(_stats(sigma_e, sigma_u, destroyed=30))
    assert got["npp_b_error_cells"] == 370
    assert got["npp_b_error_annual"] == pytest.approx(sigma_e, rel=0.1)
    assert got["npp_b_error_cell"] == pytest.approx(sigma_u, abs=0.012)


def test_without_a_covariate_only_the_annual_part_is_estimated():
    got = npp_b_error(_stats(0.05, 0.08, regression=False))
    assert got["npp_b_error_annual"] == pytest.approx(0.05, rel=0.12)
    assert np.isnan(got["npp_b_error_cell"])


def test_too_few_cells_or_years_give_nan():
    got = npp_b_error(_stats(0.05, 0.05, n_cells=8))
    assert np.isnan(got["npp_b_error_annual"]) and got["npp_b_error_cells"] == 8
    assert np.isnan(npp_b_error(_stats(0.05, 0.05, n_years=2))["npp_b_error_annual"])


def test_a_few_outlying_cells_do_not_move_the_estimate():
    ds = _stats(0.04, 0.05, seed=3)
    b = ds["npp_b"].values.copy()
    b[:, :8] *= np.random.default_rng(1).uniform(2, 6, (b.shape[0], 8))   # 2 % of cells far off the line
    got = npp_b_error(ds.assign(npp_b=(("time", "cell"), b)))
    assert got["npp_b_error_annual"] == pytest.approx(0.04, rel=0.15)
