"""Vegetation destruction and restoration cycles from annual max NDVI (seed 002, Auto-VDR style).

Pure numba over numpy; no xarray.  One gufunc, :func:`vegetation_cycles`, follows a
pixel's series of annual maximum growing-season NDVI through every
destruction -> restoration -> destruction ... cycle.

Rules (study 002, Methods; SCIENCE.md section 7)
    A valid year is vegetated when NDVI >= alpha (ties vegetated) and bare below; NaN
    years are skipped: they neither break nor extend a run.  A pixel starts
    *not vegetated* and becomes *vegetated* at its first vegetated observation (no
    confirmation: that is the state destruction is measured against).  From vegetated,
    a bare observation starts a destruction (T_D, its year) when at least
    ``persistence`` of the ``window`` valid observations from it are bare; from
    destroyed, a vegetated one starts a restoration (T_R) the same way.  With
    ``window == persistence`` that is ``persistence`` consecutive observations; a wider
    window lets one noisy year inside it pass (a dark pit whose annual maximum of a few
    noisy scenes reaches alpha).  A window cut short by the last valid observation needs
    all of what is left (up to ``persistence``) when ``accept_end`` is set (nothing
    contradicts it; study 002 counts destructions in its last year) and the full
    ``persistence`` otherwise.

Break refinement (``refine``)
    The threshold dates a change to the first observation on the new side of alpha.  A
    dark fresh pit whose annual maximum of a few noisy scenes still reaches alpha in its
    first year is then dated a year late.  With ``refine`` the valid observation just
    before a confirmed change joins the new state when it lies nearer the new level (mean
    of the ``window`` valid values from the change) than the old one (mean of up to
    ``window`` valid values of the old state before it): the least-squares date of a
    two-level step, one year back at most, never before the old state's first year.

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
def _confirmed(ndvi, i, threshold, phase, persistence, window, accept_end):
    """Is the observation against ``phase`` at index ``i`` the start of a change? At least
    ``persistence`` of the ``window`` valid observations from ``i`` must be against it; a
    window cut short by the series' end needs ``min(persistence, what is left)`` of them when
    ``accept_end`` (study 002 counts its last year) and ``persistence`` otherwise."""
    seen = 0
    against = 0
    for j in range(i, ndvi.shape[0]):
        if np.isnan(ndvi[j]):
            continue
        seen += 1
        if (ndvi[j] < threshold) == (phase == STATE_VEGETATED):
            against += 1
        if seen == window:
            break
    need = persistence
    if accept_end and seen < window:
        need = min(persistence, seen)
    return against >= need


@jit
def _level(ndvi, start, stop, step, count):
    """Mean of up to ``count`` valid values from ``start`` towards ``stop`` (exclusive) by ``step``."""
    total = 0.0
    seen = 0
    k = start
    while k != stop and seen < count:
        if not np.isnan(ndvi[k]):
            total += ndvi[k]
            seen += 1
        k += step
    return total / seen if seen else np.nan


@jit
def _break_back(ndvi, i, prev, phase_start, window):
    """The break refinement: does the valid observation ``prev`` just before a change confirmed
    at ``i`` belong to the new state?  It does when it lies nearer the new level (mean of the
    ``window`` valid values from ``i``) than the old one (mean of up to ``window`` valid values
    of the old state before ``prev``): the least-squares break of a two-level step."""
    if prev <= phase_start:       # the old state has no observation before prev to set its level
        return False
    old = _level(ndvi, prev - 1, phase_start - 1, -1, window)
    new = _level(ndvi, i, ndvi.shape[0], 1, window)
    return abs(ndvi[prev] - new) < abs(ndvi[prev] - old)


@jit
def _cycles(ndvi, years, threshold, persistence, window, accept_end, refine, fill,
            td_first, tr_first, td_last, tr_last, n_d, n_r, state):
    n = ndvi.shape[0]
    phase = STATE_NOT_VEGETATED
    first_valid = -1
    prev = -1            # the last valid observation before i
    phase_start = -1     # where the current vegetated / destroyed state began
    nd = nr = 0
    i_td_first = i_tr_first = i_td_last = i_tr_last = -1
    for i in range(n):
        v = ndvi[i]
        if np.isnan(v):
            state[i] = phase  # a NaN year belongs to the state of the last valid year
            continue
        if first_valid < 0:
            first_valid = i
        bare = v < threshold
        if phase == STATE_NOT_VEGETATED:
            if not bare:
                phase = STATE_VEGETATED  # the first vegetated observation needs no confirmation
                phase_start = i
        elif bare == (phase == STATE_VEGETATED) and \
                _confirmed(ndvi, i, threshold, phase, persistence, window, accept_end):
            at = i
            if refine and _break_back(ndvi, i, prev, phase_start, window):
                at = prev
            phase = STATE_DESTROYED if phase == STATE_VEGETATED else STATE_VEGETATED
            _set_state(state, at, i, phase)
            phase_start = at
            if phase == STATE_DESTROYED:
                nd += 1
                i_td_last = at
                if i_td_first < 0:
                    i_td_first = at
            else:
                nr += 1
                i_tr_last = at
                if i_tr_first < 0:
                    i_tr_first = at
        state[i] = phase
        prev = i
    if first_valid < 0:
        _set_state(state, 0, n, STATE_NODATA)
        n_d[0] = fill
        n_r[0] = fill
        td_first[0] = tr_first[0] = td_last[0] = tr_last[0] = fill
        return
    _set_state(state, 0, first_valid, state[first_valid])  # NaN years before the first valid one
    n_d[0] = nd
    n_r[0] = nr
    td_first[0] = years[i_td_first] if i_td_first >= 0 else fill
    tr_first[0] = years[i_tr_first] if i_tr_first >= 0 else fill
    td_last[0] = years[i_td_last] if i_td_last >= 0 else fill
    tr_last[0] = years[i_tr_last] if i_tr_last >= 0 else fill


_OUTS = "int32[:], int32[:], int32[:], int32[:], int16[:], int16[:], int8[:]"


@lazy_gufunc(
    [
        f"void(float32[:], int64[:], float64, int64, int64, int64, int64, int64, {_OUTS})",
        f"void(float64[:], int64[:], float64, int64, int64, int64, int64, int64, {_OUTS})",
    ],
    "(t),(t),(),(),(),(),(),()->(),(),(),(),(),(),(t)",
    split_on=0,
)
def vegetation_cycles(ndvi, years, threshold, persistence, window, accept_end, refine, fill,
                      destruction, restoration, last_destruction, last_restoration,
                      n_destructions, n_restorations, state):
    """Every destruction/restoration cycle of one pixel's annual max-NDVI series.

    Inputs: NDVI series, its years (int64), alpha, ``persistence`` (>= 1) of ``window``
    (>= persistence) valid observations that confirm a change, ``accept_end`` (1: a window
    cut short by the series' end needs only what is left, 0: the full ``persistence``),
    ``refine`` (1: the break refinement of the module docstring) and ``fill``.  Outputs: first T_D, first T_R (after the first T_D), last T_D, last T_R
    (``fill`` where none), the number of destructions and restorations (``fill`` for a
    pixel without valid observations) and the state per year (module docstring).
    """
    _cycles(ndvi, years, threshold, persistence, window, accept_end, refine, fill,
            destruction, restoration, last_destruction, last_restoration,
            n_destructions, n_restorations, state)
