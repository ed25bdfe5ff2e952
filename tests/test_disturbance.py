"""Vegetation disturbance cycles (seed 002, Auto-VDR style): kernel, op, user raster."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeeco.kernels import disturbance as K
from cubeeco.ops import disturbance as D
from cubeeco.ops import scale as S
from cubeeco.testing.laziness import raise_if_dask_computes

NAN = np.nan
FILL = -1


# ---------------------------------------------------------------- plain reference
def reference(series, years, alpha, persistence, ends, fill=FILL, window=None, refine=False):
    """The rules written as a look-ahead over the valid observations, in plain Python.

    Returns (first T_D, first T_R, last T_D, last T_R, n_D, n_R, state list).
    """
    x = np.asarray(series, dtype=np.float64)
    n = x.size
    valid = [i for i in range(n) if not np.isnan(x[i])]
    if not valid:
        return fill, fill, fill, fill, fill, fill, [-1] * n
    bare = [bool(x[i] < alpha) for i in valid]
    m = len(valid)
    vstate = [None] * m
    events = []  # (year, "D" or "R")
    width = persistence if window is None else window
    vals = [float(x[i]) for i in valid]
    phase, k, start = 2, 0, -1      # start: the valid position where the current state began
    while k < m:
        if phase == 2:
            if not bare[k]:
                phase, start = 1, k
            vstate[k] = phase
            k += 1
            continue
        against = bare[k] if phase == 1 else not bare[k]
        if against:
            ahead = [bare[j] if phase == 1 else not bare[j] for j in range(k, min(k + width, m))]
            # a window cut short by the end: all that is left (up to persistence) with "accept"
            need = min(persistence, len(ahead)) if (len(ahead) < width and ends == "accept") else persistence
            if sum(ahead) >= need:
                at = k
                if refine and k - 1 > start:   # the step's least-squares date: one back if nearer the new level
                    old = np.mean(vals[max(start, k - 1 - width):k - 1])
                    new = np.mean(vals[k:k + width])
                    if abs(vals[k - 1] - new) < abs(vals[k - 1] - old):
                        at = k - 1
                phase = 0 if phase == 1 else 1
                for j in range(at, k):
                    vstate[j] = phase
                start = at
                events.append((int(years[valid[at]]), "D" if phase == 0 else "R"))
        vstate[k] = phase
        k += 1
    state = []
    for i in range(n):
        before = [j for j in range(m) if valid[j] <= i]
        state.append(vstate[before[-1]] if before else vstate[0])
    d = [y for y, e in events if e == "D"]
    r = [y for y, e in events if e == "R"]
    return (d[0] if d else fill, r[0] if r else fill, d[-1] if d else fill, r[-1] if r else fill,
            len(d), len(r), state)


def run_kernel(series, years, alpha=0.2, persistence=2, ends="accept", fill=FILL, window=None, refine=False):
    outs = K.vegetation_cycles(np.asarray(series), np.asarray(years, dtype=np.int64), alpha, persistence,
                               persistence if window is None else window, D.ENDS[ends], int(refine), fill)
    return (*(int(o) for o in outs[:6]), outs[6].tolist())


# ---------------------------------------------------------------- hand examples
Y = np.arange(2013, 2023)  # 10 years ending in 2022, the last year of study 002


@pytest.mark.parametrize("series, ends, want", [
    # destroyed in the last year: accepted (study 002 counts 2022) or refused
    ([.5] * 9 + [.1], "accept", (2022, FILL, 2022, FILL, 1, 0, [1] * 9 + [0])),
    ([.5] * 9 + [.1], "confirm", (FILL, FILL, FILL, FILL, 0, 0, [1] * 10)),
    # two full cycles, the second restoration in the last year (accepted only)
    ([.5, .1, .1, .6, .6, .1, .1, .1, .5, .5], "confirm",
     (2014, 2016, 2018, 2021, 2, 2, [1, 0, 0, 1, 1, 0, 0, 0, 1, 1])),
    ([.5, .1, .1, .6, .6, .1, .1, .1, .1, .5], "accept",
     (2014, 2016, 2018, 2022, 2, 2, [1, 0, 0, 1, 1, 0, 0, 0, 0, 1])),
    ([.5, .1, .1, .6, .6, .1, .1, .1, .1, .5], "confirm",
     (2014, 2016, 2018, 2016, 2, 1, [1, 0, 0, 1, 1, 0, 0, 0, 0, 0])),
    # never vegetated: not a detection target
    ([.1] * 10, "accept", (FILL, FILL, FILL, FILL, 0, 0, [2] * 10)),
    ([NAN, .1, NAN, .1, .0, .1, .1, .1, .1, NAN], "accept", (FILL, FILL, FILL, FILL, 0, 0, [2] * 10)),
    # no valid observation
    ([NAN] * 10, "accept", (FILL,) * 6 + ([-1] * 10,)),
    # leading bare years are "not vegetated" (2), then the pixel is vegetated and destroyed
    ([.1, .1, .5, .5, .1, .1, .5, .5, .5, .5], "confirm", (2017, 2019, 2017, 2019, 1, 1,
                                                          [2, 2, 1, 1, 0, 0, 1, 1, 1, 1])),
    # a one-year dip is not persistent; a missing year (like 2012 in seed 002) neither breaks
    # nor extends a run, and belongs to the state before it
    ([.5, .1, .5, NAN, .1, NAN, .1, .5, NAN, .5], "confirm", (2017, 2020, 2017, 2020, 1, 1,
                                                             [1, 1, 1, 1, 0, 0, 0, 1, 1, 1])),
    # leading NaN years take the first valid year's state; trailing ones the last
    ([NAN, NAN, .5, .5, .1, .1, NAN, NAN, NAN, NAN], "confirm", (2017, FILL, 2017, FILL, 1, 0,
                                                                [1, 1, 1, 1, 0, 0, 0, 0, 0, 0])),
    # an open run followed only by NaN years is accepted, NaN years included
    ([.5, .5, .5, .5, .5, .5, .5, .1, NAN, NAN], "accept", (2020, FILL, 2020, FILL, 1, 0, [1] * 7 + [0] * 3)),
    # ties: NDVI == alpha is vegetated
    ([.25, .25, .1, .1, .25, .25, .25, .25, .25, .25], "confirm", (2015, 2017, 2015, 2017, 1, 1,
                                                                  [1, 1, 0, 0, 1, 1, 1, 1, 1, 1])),
])
def test_hand_examples(series, ends, want):
    alpha = 0.25 if 0.25 in series else 0.2
    for dtype in (np.float32, np.float64):
        got = run_kernel(np.array(series, dtype=dtype), Y, alpha=alpha, ends=ends)
        assert got == want, (series, ends, dtype)
    assert reference(series, Y, alpha, 2, ends) == want


def test_persistence_one_and_three():
    s = [.5, .1, .5, .1, .1, .5, .5, .1, .1, .1]
    # persistence 1: every flip is a change, and "accept" == "confirm"
    for ends in D.ENDS:
        assert run_kernel(s, Y, persistence=1, ends=ends) == (
            2014, 2015, 2020, 2018, 3, 2, [1, 0, 1, 0, 0, 1, 1, 0, 0, 0])
        assert reference(s, Y, 0.2, 1, ends) == run_kernel(s, Y, persistence=1, ends=ends)
    assert run_kernel(s, Y, persistence=3, ends="confirm")[:6] == (2020, FILL, 2020, FILL, 1, 0)
    assert run_kernel(s, Y, persistence=20, ends="confirm")[:6] == (FILL, FILL, FILL, FILL, 0, 0)
    # the open run that reaches the end is accepted however short (earlier ones were broken)
    assert run_kernel(s, Y, persistence=20, ends="accept")[:6] == (2020, FILL, 2020, FILL, 1, 0)


def test_short_series():
    assert run_kernel(np.zeros(0), np.zeros(0), ends="accept") == (FILL,) * 6 + ([],)
    assert run_kernel([.5], [2000]) == (FILL, FILL, FILL, FILL, 0, 0, [1])
    assert run_kernel([.1], [2000]) == (FILL, FILL, FILL, FILL, 0, 0, [2])
    assert run_kernel([.5, .1], [2000, 2001], ends="accept")[:5] == (2001, FILL, 2001, FILL, 1)
    assert run_kernel([.5, .1], [2000, 2001], ends="confirm")[4] == 0
    assert run_kernel([.5, -np.inf, -np.inf, np.inf], [1, 2, 3, 4], persistence=1)[:6] == (2, 4, 2, 4, 1, 1)


# ---------------------------------------------------------------- property: kernel == reference
_ALPHAS = [0.2, 0.25, 0.0, -0.1, 0.5]


@st.composite
def _batch(draw):
    alpha = draw(st.sampled_from(_ALPHAS))
    t = draw(st.integers(0, 14))
    n = draw(st.integers(1, 6))
    value = st.one_of(
        st.sampled_from([NAN, alpha, alpha - 0.01, alpha + 0.01, 0.0, 0.9, -0.2]),  # NaN gaps, exact ties
        st.floats(-1.0, 1.0, allow_nan=False),
    )
    x = draw(st.lists(st.lists(value, min_size=t, max_size=t), min_size=n, max_size=n))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    arr = np.array(x, dtype=dtype).reshape(n, t)
    persistence = draw(st.integers(1, 4))
    return (arr, alpha, persistence, draw(st.sampled_from(sorted(D.ENDS))), persistence + draw(st.integers(0, 2)),
            draw(st.booleans()))


@settings(max_examples=80, deadline=None)
@given(_batch(), st.integers(1990, 2010))
def test_kernel_matches_reference(batch, y0):
    x, alpha, persistence, ends, window, refine = batch
    years = np.arange(y0, y0 + x.shape[1], dtype=np.int64)
    outs = K.vegetation_cycles(x, years, alpha, persistence, window, D.ENDS[ends], int(refine), FILL)
    assert [o.dtype for o in outs] == [np.int32] * 4 + [np.int16] * 2 + [np.int8]
    for i in range(x.shape[0]):
        # the reference takes the kernel's dtype's values (the levels compare float32 sums)
        want = reference(x[i].astype(np.float64), years, alpha, persistence, ends, window=window, refine=refine)
        got = (*(int(o[i]) for o in outs[:6]), outs[6][i].tolist())
        assert got == want, (x[i].tolist(), alpha, persistence, ends, window, refine)


def test_break_dating_moves_a_late_dark_pit_back_one_year():
    """A fresh pit whose noisy maximum still reaches alpha in its first year (0.21): the threshold
    dates it a year late, the break joins that year to the bare level; a dry year that stays near
    the vegetated level (0.30) is not pulled into the destruction."""
    years = np.arange(2000, 2008)
    pit = [.36, .35, .37, .21, .13, .12, .14, .13]
    assert run_kernel(pit, years, persistence=2, window=3)[0] == 2004
    got = run_kernel(pit, years, persistence=2, window=3, refine=True)
    assert got[0] == 2003 and got[6] == [1, 1, 1, 0, 0, 0, 0, 0]
    dry = [.36, .35, .37, .30, .13, .12, .14, .13]
    assert run_kernel(dry, years, persistence=2, window=3, refine=True)[0] == 2004
    # restoration the same way; never before the state's first year; NaN years follow the moved state
    cycle = [.36, .35, .05, .05, .05, .19, .30, .30]
    assert run_kernel(cycle, years, refine=True)[1] == 2005 and run_kernel(cycle, years)[1] == 2006
    first = [.21, .13, .12, .13, .12, .12, .12, .12]
    assert run_kernel(first, years, refine=True)[0] == 2001     # no old level before 2000
    gap = [.36, .35, .37, .21, NAN, .13, .12, .14]
    got = run_kernel(gap, years, persistence=2, window=3, refine=True)
    assert got[0] == 2003 and got[6] == [1, 1, 1, 0, 0, 0, 0, 0]


def test_dating_is_checked_and_recorded():
    ndvi = _cube(t=5)
    with pytest.raises(ValueError, match="dating must be one of"):
        D.vegetation_disturbance(ndvi, dating="lsq")
    assert D.vegetation_disturbance(ndvi, dating="break").attrs["dating"] == "break"
    assert D.vegetation_disturbance(ndvi).attrs["dating"] == "threshold"


def test_two_of_three_lets_one_noisy_year_pass():
    """A fresh pit whose annual maximum crosses alpha once: consecutive years (2 of 2) date the
    destruction two years late; 2 of 3 dates it to its first bare year."""
    x = [.6, .6, .1, .25, .1, .1, .1, .1, .1, .1]
    years = np.arange(2013, 2023)
    assert run_kernel(x, years, persistence=2)[:6] == (2017, FILL, 2017, FILL, 1, 0)
    loose = run_kernel(x, years, persistence=2, window=3)
    assert loose[:6] == (2015, FILL, 2015, FILL, 1, 0)
    assert loose[6] == [1, 1] + [0] * 8
    # a real restoration is still seen, dated to its first vegetated year
    assert run_kernel([.6, .1, .1, .1, .3, .1, .35, .4], np.arange(8), persistence=2, window=3)[:2] == (1, 4)


def test_window_must_not_be_shorter_than_persistence():
    ndvi = xr.DataArray(np.array([.6, .1, .1]), dims="time", coords={"time": [2020, 2021, 2022]})
    with pytest.raises(ValueError, match="window must be an integer >= persistence"):
        D.vegetation_disturbance(ndvi, persistence=3, window=2)
    assert D.vegetation_disturbance(ndvi, persistence=2, window=3).attrs["window"] == 3
    assert D.vegetation_disturbance(ndvi).attrs["window"] == 2


# ---------------------------------------------------------------- the xarray op
def _cube(seed=3, t=11, ny=6, nx=7, dtype=np.float32, datetimes=True):
    rng = np.random.default_rng(seed)
    x = rng.choice([0.05, 0.15, 0.2, 0.45, 0.7, NAN], size=(t, ny, nx), p=[.25, .1, .1, .2, .25, .1]).astype(dtype)
    x[:, 0, 0] = NAN  # a pixel without data
    x[:, 0, 1] = 0.1  # a never-vegetated pixel
    time = (np.array([f"{2012 + i}-08-01" for i in range(t)], dtype="datetime64[ns]") if datetimes
            else np.arange(2012, 2012 + t))
    return xr.DataArray(x, dims=("time", "y", "x"), name="max_ndvi",
                        coords={"time": time, "y": np.arange(ny) * 30.0, "x": np.arange(nx) * 30.0})


@pytest.mark.parametrize("ends", sorted(D.ENDS))
def test_op_eager_matches_reference_and_chunks(ends):
    da = _cube()
    eager = D.vegetation_disturbance(da, threshold=0.2, persistence=2, ends=ends)
    assert eager.state.dims == ("time", "y", "x") and eager.state.dtype == np.int8
    assert eager.destruction_year.dims == ("y", "x") and eager.destruction_year.dtype == np.int32
    assert eager.n_destructions.dtype == np.int16
    np.testing.assert_array_equal(eager.time.values, da.time.values)
    for v in eager.data_vars.values():
        assert "units" in v.attrs and "long_name" in v.attrs
    assert eager.destruction_year.attrs["units"] == "year" and eager.state.attrs["units"] == "1"
    assert eager.attrs["ends"] == ends and eager.attrs["threshold"] == 0.2
    years = np.arange(2012, 2023)
    x = da.values
    for iy, ix in [(0, 0), (0, 1), (2, 3), (5, 6), (4, 1)]:
        want = reference(x[:, iy, ix], years, 0.2, 2, ends)
        got = tuple(int(eager[k][iy, ix]) for k in list(eager.data_vars)[:6])
        assert got + (eager.state[:, iy, ix].values.tolist(),) == want
    assert eager.state[:, 0, 0].values.tolist() == [-1] * 11 and int(eager.n_destructions[0, 0]) == FILL
    assert eager.state[:, 0, 1].values.tolist() == [2] * 11 and int(eager.n_destructions[0, 1]) == 0
    for chunks in ({"y": 2}, {"y": 4, "x": 3}, {"x": 1}):
        with raise_if_dask_computes():
            lazy = D.vegetation_disturbance(da.chunk(chunks), threshold=0.2, ends=ends)
        assert lazy.state.chunks is not None
        computed = lazy.compute()
        for k in lazy.data_vars:
            assert lazy[k].dtype == computed[k].dtype
        xr.testing.assert_identical(computed, eager)


def test_op_float64_transposed_and_integer_years():
    da = _cube(seed=8, dtype=np.float64)
    ref = D.vegetation_disturbance(da)
    t = D.vegetation_disturbance(da.transpose("y", "time", "x"))
    assert t.state.dims == ("y", "time", "x")
    xr.testing.assert_identical(t.transpose("time", "y", "x"), ref)
    ints = D.vegetation_disturbance(da.assign_coords(time=np.arange(2012, 2023)))
    xr.testing.assert_equal(ints.drop_vars("time"), ref.drop_vars("time"))
    f16 = D.vegetation_disturbance(da.astype(np.float16), threshold=0.25)
    assert f16.state.dtype == np.int8


def test_first_cycle_matches_old_destruction_restoration_years():
    da = _cube(seed=11, t=12, ny=20, nx=25)
    for persistence in (1, 2, 3):
        old = S.destruction_restoration_years(da, threshold=0.2, persistence=persistence)
        conf = D.vegetation_disturbance(da, threshold=0.2, persistence=persistence, ends="confirm")
        acc = D.vegetation_disturbance(da, threshold=0.2, persistence=persistence, ends="accept")
        # "confirm" is the old rule for the first cycle, everywhere
        np.testing.assert_array_equal(conf.destruction_year, old.destruction_year)
        np.testing.assert_array_equal(conf.restoration_year, old.restoration_year)
        # "accept" agrees wherever the old one confirmed a change
        od, orr = old.destruction_year.values, old.restoration_year.values
        np.testing.assert_array_equal(acc.destruction_year.values[od != FILL], od[od != FILL])
        np.testing.assert_array_equal(acc.restoration_year.values[orr != FILL], orr[orr != FILL])
        assert (acc.n_destructions.values >= conf.n_destructions.values).all()
    assert (conf.n_destructions.values > 1).any()  # the data do have second cycles


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"threshold": np.nan}, ValueError, "threshold must be finite"),
    ({"threshold": "alpha"}, TypeError, "threshold must be a number"),
    ({"threshold": True}, TypeError, "threshold"),
    ({"persistence": 0}, ValueError, "persistence"),
    ({"persistence": 2.5}, ValueError, "persistence"),
    ({"persistence": True}, ValueError, "persistence"),
    ({"ends": "drop"}, ValueError, "ends must be one of"),
    ({"dim": "year"}, ValueError, "no dimension 'year'"),
    ({"fill_value": 2015}, ValueError, "one of the years"),
    ({"fill_value": 10 ** 6}, ValueError, "int16"),
    ({"fill_value": -1.0}, TypeError, "fill_value"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        D.vegetation_disturbance(_cube(t=5), **kwargs)


def test_bad_inputs():
    da = _cube(t=5)
    with pytest.raises(TypeError, match="DataArray"):
        D.vegetation_disturbance(da.values)
    with pytest.raises(TypeError, match="float"):
        D.vegetation_disturbance((da > 0.2).astype(np.int16))
    with pytest.raises(ValueError, match="split into"):
        D.vegetation_disturbance(da.chunk(time=2))
    with pytest.raises(ValueError, match="coordinate"):
        D.vegetation_disturbance(da.drop_vars("time"))
    with pytest.raises(ValueError, match="strictly increasing"):
        D.vegetation_disturbance(da.isel(time=[0, 2, 1, 3, 4]))
    with pytest.raises(TypeError, match="datetimes or integer years"):
        D.vegetation_disturbance(da.assign_coords(time=np.linspace(2000, 2001, 5)))


# ---------------------------------------------------------------- user raster
def test_raster_hand_cases_and_laziness():
    td = xr.DataArray(np.array([[2015, -1, 2013], [2016, 2018, -1]], dtype=np.int32), dims=("y", "x"))
    tr = xr.DataArray(np.array([[2018, -1, -1], [2014, 2018, 2017]], dtype=np.int32), dims=("y", "x"))
    years = np.arange(2013, 2021)
    ds = D.disturbance_from_raster(td, tr, years)
    assert ds.state.dims == ("time", "y", "x") and ds.state.dtype == np.int8
    assert ds.state[:, 0, 0].values.tolist() == [1, 1, 0, 0, 0, 1, 1, 1]
    assert ds.state[:, 0, 1].values.tolist() == [1] * 8  # undisturbed
    assert ds.state[:, 0, 2].values.tolist() == [0] * 8  # destroyed in the first year, never restored
    # a restoration not after its destruction, or without one, is dropped
    assert ds.state[:, 1, 0].values.tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert ds.state[:, 1, 1].values.tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert ds.restoration_year.values.tolist() == [[2018, -1, -1], [-1, -1, -1]]
    assert ds.n_destructions.values.tolist() == [[1, 0, 1], [1, 1, 0]]
    assert ds.n_restorations.dtype == np.int16 and int(ds.n_restorations.sum()) == 1
    xr.testing.assert_equal(ds.last_destruction_year, ds.destruction_year.rename("last_destruction_year"))
    for v in ds.data_vars.values():
        assert "units" in v.attrs and "long_name" in v.attrs
    with raise_if_dask_computes():
        lazy = D.disturbance_from_raster(td.chunk(x=1), tr.chunk(x=1), xr.DataArray(years, dims="time"))
    assert lazy.state.chunks is not None
    xr.testing.assert_identical(lazy.compute(), ds)
    # float rasters with NaN = none; no restorations at all
    f = D.disturbance_from_raster(td.where(td > 0).astype(np.float32), None, years)
    assert f.destruction_year.dtype == np.int32 and f.destruction_year.values.tolist()[0][1] == -1
    assert int(f.n_restorations.sum()) == 0


def test_raster_matches_ndvi_rule_for_single_cycles():
    da = _cube(seed=21, t=10, ny=12, nx=12)
    vd = D.vegetation_disturbance(da, ends="confirm")
    ds = D.disturbance_from_raster(vd.destruction_year, vd.restoration_year, da.time)
    np.testing.assert_array_equal(ds.time.values, da.time.values)
    single = ((vd.n_destructions <= 1) & (vd.n_restorations <= 1)).values
    assert single.sum() > 20
    comparable = single[None] & (vd.state.values <= 1) & (vd.state.values >= 0)
    np.testing.assert_array_equal(ds.state.values[comparable], vd.state.values[comparable])
    # years without a vegetated observation yet (2) or without data (-1) count as undisturbed here
    assert (ds.state.values[single[None] & ~comparable] == 1).all()


def test_raster_bad_inputs():
    td = xr.DataArray(np.array([[2015, -1]]), dims=("y", "x"))
    with pytest.raises(TypeError, match="years is required"):
        D.disturbance_from_raster(td, None)
    with pytest.raises(ValueError, match="share one grid"):
        D.disturbance_from_raster(td, td.T, np.arange(2010, 2020))
    with pytest.raises(TypeError, match="destruction_year"):
        D.disturbance_from_raster(td.astype(str), None, np.arange(2010, 2020))
    with pytest.raises(ValueError, match="strictly increasing"):
        D.disturbance_from_raster(td, None, [2012, 2011])
    with pytest.raises(ValueError, match="already has"):
        D.disturbance_from_raster(td.expand_dims(time=2), None, [2011, 2012])


def test_perfect_detector_recovers_the_planted_years():
    """Issue 12: the synthetic truth is what this detector reports from perfect data. On the demo
    preset's noise-free peak NDVI (study 002's alpha 0.2, persistence 2) every planted destruction
    and restoration year is found exactly, so what the demo misses comes from its observations
    (noise on dark pits, the 2012 SLC-off gaps), not from the truth or the rules."""
    from cubeeco.synth import Landscape, preset

    ls = Landscape(preset("demo"))
    ndvi = xr.DataArray(np.stack([ls.ndvi(int(y)) for y in ls.years]), dims=("time", "y", "x"),
                        coords={"time": ls.years})
    ds = D.vegetation_disturbance(ndvi, threshold=0.2, persistence=2)
    td, tr = ls.destruction_year, ls.restoration_year
    mined, restored = td > 0, tr > 0
    assert mined.sum() > 10_000 and restored.sum() > 3_000
    np.testing.assert_array_equal(ds.destruction_year.values[mined], td[mined])
    np.testing.assert_array_equal(ds.restoration_year.values[restored], tr[restored])
    # pits stay bare and dumps are restored once: one cycle at most on every mined pixel
    assert (ds.n_destructions.values[mined] == 1).all()
    assert (ds.n_restorations.values[mined] == restored[mined]).all()
