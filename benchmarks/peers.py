"""Peer implementations of cubeeco's trend kernels, in one table for tests and benchmarks.

``PEERS[kernel][peer]`` is a callable.  Two kinds of kernel entries:

* series kernels (``sen_slope``, ``sen_ci``, ``mann_kendall``, ``hamed_rao``,
  ``yue_wang``, ``kendall_tau``, ``ols``): ``f(y, t) -> dict`` for one 1-D series,
  outputs named as cubeeco names them.  The ``"cubeeco"`` entry is the reference
  point the tests compare every other peer against.  Peers that cannot skip NaN or
  that use index time (pymannkendall) get NaN-free series on integer years from the
  tests; see docs/trend.md "Differences from peers".
* cube kernels (``sen_mk_cube``): ``f(Y, t) -> dict of arrays`` for a block of pixels
  ``Y`` of shape (pixels, n), computing the Sen slope and Mann–Kendall S, Var(S),
  Z, p.  These feed benchmarks/bench_trend.py.

Peer packages are imported lazily, inside the callables.
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # norm.ppf(0.975)

# flavours of random test series: what the peers must agree on (tests and accuracy_trend.py)
SERIES_KINDS = ("noise", "trend", "ties", "runs", "offset")


def random_series(rng, n: int, kind: str) -> np.ndarray:
    """One random float64 series of n values (no NaN) of a given flavour."""
    if kind == "noise":
        return rng.normal(size=n) * rng.choice([0.01, 1.0, 100.0])
    if kind == "trend":
        return rng.normal(size=n) + rng.normal() * np.arange(n) * 0.2
    if kind == "ties":  # integer-valued: many ties, exact detrended ties too
        return np.round(rng.normal(size=n) * rng.choice([0.5, 2.0, 5.0]) + 0.3 * rng.normal() * np.arange(n))
    if kind == "runs":  # constant runs
        return np.repeat(rng.normal(size=n), rng.integers(1, 5, size=n))[:n]
    if kind == "offset":  # huge offset, small noise
        return 1e6 + rng.normal(size=n) * 0.01
    raise ValueError(kind)
_TREND_WORDS = {"increasing": 1, "decreasing": -1, "no trend": 0}


# ----------------------------------------------------------------------------------
# series peers
# ----------------------------------------------------------------------------------


def _cubeeco_sen(y, t):
    from cubeeco.kernels import trend as kt

    slope, intercept, _, _ = kt.sen(np.asarray(y), t)
    return {"slope": float(slope), "intercept": float(intercept)}


def _cubeeco_sen_ci(y, t, alpha=0.05):
    from scipy.special import ndtri

    from cubeeco.kernels import trend as kt

    slope, intercept, low, high = kt.sen(np.asarray(y), t, float(ndtri(1 - alpha / 2)))
    return {"slope": float(slope), "intercept": float(intercept), "slope_low": float(low), "slope_high": float(high)}


def _cubeeco_mk(method):
    def f(y, t, alpha=0.05):
        from scipy.special import ndtri

        from cubeeco.kernels import trend as kt

        s, var_s, z, p, tau, trend = kt.mann_kendall(np.asarray(y), t, float(ndtri(1 - alpha / 2)), kt.METHODS[method])
        return {"s": float(s), "var_s": float(var_s), "z": float(z), "p": float(p), "tau": float(tau), "trend": int(trend)}

    f.__name__ = f"cubeeco_mk_{method}"
    return f


def _cubeeco_ols(y, t):
    from cubeeco.kernels import trend as kt

    slope, intercept, r2 = kt.ols(np.asarray(y), t)
    return {"slope": float(slope), "intercept": float(intercept), "r2": float(r2)}


def _pmk_result(r):
    return {
        "s": float(r.s), "var_s": float(r.var_s), "z": float(r.z), "p": float(r.p), "tau": float(r.Tau),
        "trend": _TREND_WORDS[r.trend],
    }  # fmt: skip


def _pmk(test_name):
    def f(y, t=None, alpha=0.05):
        # pymannkendall: index time 0..n-1; drops NaN for the test (not for the slope)
        import pymannkendall as pmk

        return _pmk_result(getattr(pmk, test_name)(np.asarray(y, dtype=np.float64), alpha=alpha))

    f.__name__ = f"pymannkendall_{test_name}"
    return f


def _pmk_sen(y, t=None):
    import pymannkendall as pmk

    r = pmk.sens_slope(np.asarray(y, dtype=np.float64))
    return {"slope": float(r.slope), "intercept": float(r.intercept)}


def _scipy_theilslopes(y, t, alpha=0.05):
    from scipy.stats import theilslopes

    r = theilslopes(np.asarray(y, dtype=np.float64), np.asarray(t, dtype=np.float64), 1 - alpha, method="separate")
    return {"slope": float(r.slope), "intercept": float(r.intercept),
            "slope_low": float(r.low_slope), "slope_high": float(r.high_slope)}  # fmt: skip


def _scipy_kendalltau(y, t):
    # tau-b; equals S / (n(n-1)/2) only without ties
    from scipy.stats import kendalltau

    return {"tau": float(kendalltau(np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)).statistic)}


def _cubeeco_tau(y, t):
    return {"tau": _cubeeco_mk("original")(y, t)["tau"]}


def _scipy_linregress(y, t):
    from scipy.stats import linregress

    r = linregress(np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return {"slope": float(r.slope), "intercept": float(r.intercept), "r2": float(r.rvalue) ** 2}


def _reference(name):
    def f(y, t, **kw):
        from tests.reference import trend_ref

        return getattr(trend_ref, name)(y, t, **kw)

    f.__name__ = f"reference_{name}"
    return f


def _ref_mk(method):
    def f(y, t, alpha=0.05):
        from tests.reference import trend_ref

        return trend_ref.mann_kendall(y, t, alpha=alpha, method=method)

    f.__name__ = f"reference_mk_{method}"
    return f


# ----------------------------------------------------------------------------------
# cube peers: Y (pixels, n) float32 -> dict(slope, s, var_s, z, p)
# ----------------------------------------------------------------------------------


def cube_cubeeco(Y, t):
    """cubeeco's headline kernel, single-threaded on numpy."""
    from cubeeco.kernels import trend as kt

    slope, s, var_s, z, p = kt.sen_mk(Y, t)
    return {"slope": slope, "s": s, "var_s": var_s, "z": z, "p": p}


def cube_pymannkendall(Y, t):
    """pymannkendall.original_test pixel by pixel (it reports the Sen slope too)."""
    import pymannkendall as pmk

    out = {k: np.full(len(Y), np.nan) for k in ("slope", "s", "var_s", "z", "p")}
    for i, y in enumerate(Y):
        y = np.asarray(y, dtype=np.float64)
        if np.sum(np.isfinite(y)) < 3:
            continue
        r = pmk.original_test(y)
        out["slope"][i], out["s"][i], out["var_s"][i], out["z"][i], out["p"][i] = r.slope, r.s, r.var_s, r.z, r.p
    return out


def _scipy_pixel(y, t):
    from scipy.stats import kendalltau, theilslopes

    ok = np.isfinite(y)
    if ok.sum() < 3:
        return np.nan, np.nan
    slope = theilslopes(y[ok], t[ok]).slope
    p = kendalltau(t[ok], y[ok]).pvalue
    return slope, p


def cube_scipy(Y, t):
    """scipy.stats.theilslopes + kendalltau through xarray.apply_ufunc(vectorize=True).

    Not the same test statistic (kendalltau: tau-b, exact p for small n without
    ties), but the same per-pixel work, the way xarray users commonly write it.
    """
    import xarray as xr

    da = xr.DataArray(np.asarray(Y, dtype=np.float64), dims=("pixel", "time"))
    slope, p = xr.apply_ufunc(
        _scipy_pixel, da, xr.DataArray(t, dims="time"),
        input_core_dims=[["time"], ["time"]], output_core_dims=[[], []], vectorize=True,
    )  # fmt: skip
    return {"slope": slope.values, "p": p.values}


def cube_xarray_mannkendall(Y, t):
    """xarrayMannKendall.Mann_Kendall_test with method="theilslopes".

    Run with scheduler="synchronous": the class keeps the current pixel in instance
    attributes (self.y, self.n, ...) shared by every dask task, so it is not
    thread-safe.  Its p is the original Mann–Kendall p (ties detected after rounding
    to 5 decimals); its "trend" is the slope.
    """
    import xarray as xr
    from xarrayMannKendall import Mann_Kendall_test

    n_px = len(Y)
    nx = int(math.ceil(math.sqrt(n_px)))
    ny = int(math.ceil(n_px / nx))
    cube = np.full((ny * nx, Y.shape[1]), np.nan)
    cube[:n_px] = Y
    da = xr.DataArray(
        cube.reshape(ny, nx, -1).transpose(2, 0, 1), dims=("time", "y", "x"),
        coords={"time": t, "y": np.arange(ny), "x": np.arange(nx)},
    ).chunk({"time": -1})  # fmt: skip
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = Mann_Kendall_test(da, "time", alpha=0.05, method="theilslopes").compute(scheduler="synchronous")
    # output dims (y, x) or (x, y) depending on the package's ordering: bring to (y, x)
    slope = ds["trend"].transpose("y", "x").values.reshape(-1)[:n_px]
    p = ds["p"].transpose("y", "x").values.reshape(-1)[:n_px]
    return {"slope": slope, "p": p}


def cube_numpy(Y, t, batch=20_000):
    """Vectorised numpy: all pairs at once per batch of pixels (memory ~ 2 kB/pixel)."""
    from scipy.special import erfc

    Y = np.asarray(Y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    n = Y.shape[1]
    i, j = np.triu_indices(n, 1)
    out = {k: np.empty(len(Y)) for k in ("slope", "s", "var_s", "z", "p")}
    for a in range(0, len(Y), batch):
        y = Y[a : a + batch]
        d = y[:, j] - y[:, i]
        ok = np.isfinite(y)
        nv = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.nanmedian(d / (t[j] - t[i]), axis=1)
            s = np.nansum(np.sign(d), axis=1)
            eq = (y[:, :, None] == y[:, None, :]).sum(axis=2)  # NaN never equal
            tie = np.where(ok, (eq - 1) * (2 * eq + 5), 0).sum(axis=1)
            var = (nv * (nv - 1) * (2 * nv + 5) - tie) / 18.0
            z = np.where(s > 0, (s - 1) / np.sqrt(var), np.where(s < 0, (s + 1) / np.sqrt(var), 0.0))
        few = nv < 3
        for k, v in (("slope", slope), ("s", s), ("var_s", var), ("z", z), ("p", erfc(np.abs(z) / np.sqrt(2)))):
            out[k][a : a + batch] = np.where(few, np.nan, v)
    return out


PEERS: dict[str, dict] = {
    "sen_slope": {
        "cubeeco": _cubeeco_sen,
        "pymannkendall": _pmk_sen,
        "scipy": _scipy_theilslopes,
        "reference": _reference("sen"),
    },
    "sen_ci": {
        "cubeeco": _cubeeco_sen_ci,
        "scipy": _scipy_theilslopes,
        "reference": lambda y, t, alpha=0.05: _reference("sen")(y, t, alpha=alpha),
    },
    "mann_kendall": {
        "cubeeco": _cubeeco_mk("original"),
        "pymannkendall": _pmk("original_test"),
        "reference": _ref_mk("original"),
    },
    "hamed_rao": {
        "cubeeco": _cubeeco_mk("hamed_rao"),
        "pymannkendall": _pmk("hamed_rao_modification_test"),
        "reference": _ref_mk("hamed_rao"),
    },
    "yue_wang": {
        "cubeeco": _cubeeco_mk("yue_wang"),
        "pymannkendall": _pmk("yue_wang_modification_test"),
        "reference": _ref_mk("yue_wang"),
    },
    "kendall_tau": {
        "cubeeco": _cubeeco_tau,
        "scipy": _scipy_kendalltau,
    },
    "ols": {
        "cubeeco": _cubeeco_ols,
        "scipy": _scipy_linregress,
        "reference": _reference("ols"),
    },
    "sen_mk_cube": {
        "cubeeco": cube_cubeeco,
        "pymannkendall": cube_pymannkendall,
        "xarrayMannKendall": cube_xarray_mannkendall,
        "scipy": cube_scipy,
        "numpy": cube_numpy,
    },
}
