"""Vegetation destruction and restoration cycles from annual max NDVI (seed 002, Auto-VDR style).

Pure numba over numpy; no xarray.  One gufunc, :func:`vegetation_cycles`, follows a
pixel's series of annual maximum growing-season NDVI through every
destruction -> restoration -> destruction ... cycle.

Rules (study 002, Methods; SCIENCE.md section 7)
    A valid year is vegetated when NDVI >= alpha (ties vegetated) and bare below; NaN
    years are skipped: they neither break nor extend a run.  A pixel starts
    *not vegetated* and becomes *vegetated* at its first vegetated observation (no
    confirmation: that is the state destruction is measured against).  From vegetated,
    ``persistence`` consecutive bare observations confirm a destruction dated to the
    first of them (T_D); from destroyed, ``persistence`` consecutive vegetated ones
    confirm a restoration (T_R).  A run still open at the last valid observation is
    accepted when ``accept_end`` is set (nothing contradicts it; study 002 counts
    destructions in its last year) and dropped otherwise.

State per year (int8)
    ``STATE_VEGETATED`` 1 from the first vegetated year up to the year before T_D, and
    from each T_R on; ``STATE_DESTROYED`` 0 from each T_D up to the year before the
    next T_R; ``STATE_NOT_VEGETATED`` 2 before the first vegetated year (every year of
    a pixel that is never vegetated: not a detection target); ``STATE_NODATA`` -1 in
    every year of a pixel without any valid observation.  A NaN year takes the state
    of the last valid year before it (a change is dated to its first valid year, as
    study 002 moves 2012 disturbances to 2013); NaN years before the first valid year
    take that year's state.
"""

from __future__ import annotations

import numpy as np

from ._gufunc import jit, lazy_gufunc

STATE_NODATA = -1
STATE_DESTROYED = 0
STATE_VEGETATED = 1
STATE_NOT_VEGETATED = 2


@jit
def _set_state(state, start, stop, value):
    for k in range(start, stop):
        state[k] = value


@jit
def _change(state, start, stop, phase, events):
    """Confirm the change that starts at ``start``: flip the phase over [start, stop), count it
    and keep its date as the first / last destruction or restoration (indices)."""
    nd, nr, td_first, tr_first, td_last, tr_last = events
    phase = STATE_DESTROYED if phase == STATE_VEGETATED else STATE_VEGETATED
    _set_state(state, start, stop, phase)
    if phase == STATE_DESTROYED:
        nd += 1
        td_last = start
        if td_first < 0:
            td_first = start
    else:
        nr += 1
        tr_last = start
        if tr_first < 0:
            tr_first = start
    return phase, (nd, nr, td_first, tr_first, td_last, tr_last)


@jit
def _cycles(ndvi, years, threshold, persistence, accept_end, fill,
            td_first, tr_first, td_last, tr_last, n_d, n_r, state):
    n = ndvi.shape[0]
    phase = STATE_NOT_VEGETATED
    run = 0  # length of the current run of observations opposite to ``phase``
    start = -1  # index of the run's first observation (the date of the change)
    first_valid = -1
    events = (0, 0, -1, -1, -1, -1)  # destructions, restorations, first T_D, first T_R, last T_D, last T_R
    for i in range(n):
        v = ndvi[i]
        if np.isnan(v):
            # a NaN year belongs to the phase of the last valid year; if a run that
            # spans it is confirmed later, the overwrite below moves it along
            state[i] = phase
            continue
        if first_valid < 0:
            first_valid = i
        bare = v < threshold
        if phase == STATE_NOT_VEGETATED:
            if not bare:
                phase = STATE_VEGETATED
        elif bare == (phase == STATE_VEGETATED):  # an observation against the phase
            if run == 0:
                start = i
            run += 1
        else:
            run = 0
        state[i] = phase
        if run >= persistence:
            # the run's years (and NaN years inside it) were written with the old phase
            phase, events = _change(state, start, i + 1, phase, events)
            run = 0
    if run > 0 and accept_end:
        # the open run reaches the last valid observation: accepted, trailing NaN years too
        phase, events = _change(state, start, n, phase, events)
    nd, nr, i_td_first, i_tr_first, i_td_last, i_tr_last = events
    if first_valid < 0:
        _set_state(state, 0, n, STATE_NODATA)
        n_d[0] = fill
        n_r[0] = fill
    else:
        # the first valid year never starts a run, so its state is final here
        _set_state(state, 0, first_valid, state[first_valid])
        n_d[0] = nd
        n_r[0] = nr
    td_first[0] = years[i_td_first] if i_td_first >= 0 else fill
    tr_first[0] = years[i_tr_first] if i_tr_first >= 0 else fill
    td_last[0] = years[i_td_last] if i_td_last >= 0 else fill
    tr_last[0] = years[i_tr_last] if i_tr_last >= 0 else fill


_OUTS = "int32[:], int32[:], int32[:], int32[:], int16[:], int16[:], int8[:]"


@lazy_gufunc(
    [
        f"void(float32[:], int64[:], float64, int64, int64, int64, {_OUTS})",
        f"void(float64[:], int64[:], float64, int64, int64, int64, {_OUTS})",
    ],
    "(t),(t),(),(),(),()->(),(),(),(),(),(),(t)",
    split_on=0,
)
def vegetation_cycles(ndvi, years, threshold, persistence, accept_end, fill,
                      destruction, restoration, last_destruction, last_restoration,
                      n_destructions, n_restorations, state):
    """Every destruction/restoration cycle of one pixel's annual max-NDVI series.

    Inputs: NDVI series, its years (int64), alpha, ``persistence`` (>= 1),
    ``accept_end`` (1: an open run at the series end is accepted, 0: dropped) and
    ``fill``.  Outputs: first T_D, first T_R (after the first T_D), last T_D, last T_R
    (``fill`` where none), the number of destructions and restorations (``fill`` for a
    pixel without valid observations) and the state per year (module docstring).
    """
    _cycles(ndvi, years, threshold, persistence, accept_end, fill,
            destruction, restoration, last_destruction, last_restoration,
            n_destructions, n_restorations, state)
