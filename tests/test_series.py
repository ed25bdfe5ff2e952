"""Regional-series fits: Sen/MK, quadratic, segmented OLS, exact hinge fit (vs pwlf), Table 5."""

from __future__ import annotations

import numpy as np
import pytest

from cubeeco.ops.series import piecewise_linear_fit, quadratic_fit, segmented_ols, series_trend
from tests.reference import trend_ref

# seed 000, Table 5: regional mean RSEI 2000-2024 (3 decimals as printed)
TABLE5_YEARS = np.arange(2000, 2025)
TABLE5_RSEI = np.array([0.372, 0.412, 0.328, 0.319, 0.328, 0.372, 0.358, 0.383, 0.382, 0.316, 0.286, 0.279,
                        0.308, 0.345, 0.413, 0.231, 0.288, 0.417, 0.391, 0.385, 0.456, 0.372, 0.511, 0.429,
                        0.428])


def test_series_trend_matches_reference():
    rng = np.random.default_rng(0)
    t = np.arange(2000, 2020)
    y = rng.normal(size=20) + 0.05 * np.arange(20)
    y[3] = np.nan
    got = series_trend(t, y)
    mk = trend_ref.mann_kendall(y, t)
    assert got["n"] == 19
    assert got["slope"] == pytest.approx(trend_ref.sen(y, t)["slope"], rel=1e-12)
    for k in ("s", "var_s", "z", "p"):
        assert got[k] == pytest.approx(mk[k], rel=1e-12)


def test_quadratic_fit_exact_parabola():
    t = np.arange(1990, 2010, dtype=float)
    y = 0.3 - 0.01 * (t - 2001.5) + 0.002 * (t - 2001.5) ** 2
    f = quadratic_fit(t, y)
    assert f["r2"] == pytest.approx(1.0)
    assert f["vertex_year"] == pytest.approx(2001.5 + 0.01 / 0.004, abs=1e-8)
    c0, c1, c2 = f["coefficients"]
    assert c2 == pytest.approx(0.002, rel=1e-9)
    np.testing.assert_allclose(c0 + c1 * t + c2 * t**2, y, atol=1e-7)


def test_segmented_ols_matches_polyfit():
    t, y = TABLE5_YEARS, TABLE5_RSEI
    s = segmented_ols(t, y, 2012)
    assert (s["n_before"], s["n_after"]) == (13, 12)
    assert s["slope_before"] == pytest.approx(np.polyfit(t[:13], y[:13], 1)[0], rel=1e-10)
    assert s["slope_after"] == pytest.approx(np.polyfit(t[13:], y[13:], 1)[0], rel=1e-10)
    s2 = segmented_ols(t, y, 2012, include_at="after")
    assert (s2["n_before"], s2["n_after"]) == (12, 13)


@pytest.mark.parametrize("seed", range(6))
def test_piecewise_linear_fit_recovers_and_matches_pwlf(seed):
    import pwlf

    rng = np.random.default_rng(seed)
    t = np.arange(2000, 2025, dtype=float)
    bp = rng.uniform(2005, 2019)
    y = 0.4 - 0.01 * (t - 2000) + 0.025 * np.maximum(0, t - bp) + rng.normal(scale=0.01, size=t.size)
    f = piecewise_linear_fit(t, y)
    assert abs(f["breakpoint"] - bp) < 1.5
    m = pwlf.PiecewiseLinFit(t, y)
    m.fit(2, seed=seed)  # differential evolution over the breakpoint
    sse_pwlf = float(np.sum((m.predict(t) - y) ** 2))
    # ours is the global optimum: never worse than pwlf's stochastic search, and close to it
    assert f["sse"] <= sse_pwlf * (1 + 1e-12)
    assert f["breakpoint"] == pytest.approx(m.fit_breaks[1], abs=0.05)
    np.testing.assert_allclose(f["slopes"], m.slopes, rtol=0.02, atol=2e-4)
    # the same model: pwlf at our breakpoint gives our SSE, slopes and R²
    m.fit_with_breaks([t[0], f["breakpoint"], t[-1]])
    assert float(np.sum((m.predict(t) - y) ** 2)) == pytest.approx(f["sse"], rel=1e-9)
    np.testing.assert_allclose(f["slopes"], m.slopes, rtol=1e-9, atol=1e-12)
    assert f["r2"] == pytest.approx(m.r_squared(), abs=1e-10)


def test_piecewise_linear_fit_exact_hinge_and_args():
    t = np.arange(2000, 2021, dtype=float)
    y = 1.0 + 0.5 * (t - 2000) - 1.5 * np.maximum(0, t - 2008.3)
    f = piecewise_linear_fit(t, y)
    assert f["breakpoint"] == pytest.approx(2008.3, abs=1e-6)
    np.testing.assert_allclose(f["slopes"], (0.5, -1.0), atol=1e-8)
    assert f["r2"] == pytest.approx(1.0)
    with pytest.raises(NotImplementedError):
        piecewise_linear_fit(t, y, n_segments=3)
    with pytest.raises(ValueError):
        piecewise_linear_fit(t[:3], y[:3])


def test_table5_rsei_series():
    """Seed 000 Fig. 8 from the Table 5 numbers (docs/trend-analysis.md)."""
    t, y = TABLE5_YEARS, TABLE5_RSEI
    q = quadratic_fit(t, y)
    assert q["r2"] == pytest.approx(0.41, abs=0.005)  # study: R² = 0.41
    # study: vertex 2012.3; the Table 5 parabola has its vertex at 2009.5 (documented)
    assert q["vertex_year"] == pytest.approx(2009.54, abs=0.01)
    s = segmented_ols(t, y, 2012)
    # study: -0.00605 and 0.01239 (2000-2012, 2013-2024); Table 5 is rounded to 3 decimals
    assert s["slope_before"] == pytest.approx(-0.00608, abs=1e-5)
    assert s["slope_after"] == pytest.approx(0.01241, abs=1e-5)
    assert abs(s["slope_before"] - -0.00605) < 1.2e-4  # within the worst-case rounding effect
    assert abs(s["slope_after"] - 0.01239) < 1.3e-4
    # with the 2015 value the text quotes (0.23165) the second slope is the study's
    y2 = y.copy()
    y2[15] = 0.23165
    assert segmented_ols(t, y2, 2012)["slope_after"] == pytest.approx(0.01239, abs=5e-7)
    assert abs(s["r_before"]) == pytest.approx(0.579, abs=0.001)
    assert s["r_after"] == pytest.approx(0.599, abs=0.001)
    # the best continuous hinge puts the break at 2015, not 2012
    h = piecewise_linear_fit(t, y)
    assert h["breakpoint"] == pytest.approx(2015.0, abs=1e-6)
    np.testing.assert_allclose(h["slopes"], (-0.003333, 0.017313), atol=1e-6)
    st = series_trend(t, y)
    assert st["slope"] > 0 and st["p"] > 0.05  # no significant monotonic trend over 2000-2024
