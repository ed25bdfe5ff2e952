"""VCS accounting per pixel (seed 002 Eqs. 3-5): undisturbed state, direct and potential changes.

Pure numba over numpy; no xarray.  Every gufunc takes one pixel's annual VCS series ``v``
(core dimension last, float32 or float64, NaN missing), its years ``years`` (float64,
strictly increasing; gaps allowed, e.g. 2012 missing in study 002) and the pixel's
destruction / restoration years ``td`` / ``tr`` (int64, ``-1`` = none).

Time steps of the events
    The step of T_D is the first step whose year is >= T_D, so a destruction in a year
    missing from the axis counts in the next observed year (study 002, Fig. 2a: 2012
    counted as 2013).  The same rule places T_R.  "The previous year" of a direct change
    is the previous step on the axis.

Fit window (Eqs. 3-4)
    Eq. 3 regresses VCS on the year over t = first .. T_D and Eq. 4 predicts T_D + 1 ..
    last (clipped at 0: VCS is never negative).  ``include_td = 1`` is that literal reading (T_D in the fit, predictions from
    the step after T_D); ``include_td = 0`` fits first .. T_D - 1 and predicts from T_D
    on.  NaN values in the window are skipped; 1 to ``min_years`` - 1 valid values: too
    few for a trend, the prediction is their mean (``FLAG_MEAN``; dropping these pixels
    would leave their loss out of VCSD: a mine opened in 2003 has two MODIS years before);
    none: no prediction (``FLAG_SHORT``).

Flags (``flag`` output, int8)
    ``FLAG_UNDISTURBED`` 0: T_D = -1 (the undisturbed series is the observed one);
    ``FLAG_FITTED`` 1; ``FLAG_SHORT`` 2: no undisturbed year (destroyed in the first year) --
    predictions and potential changes NaN, direct changes and event steps still reported;
    ``FLAG_INVALID`` 3: T_D or T_R off the time axis, T_R without T_D, or T_R not after T_D
    -- every output NaN / -1; ``FLAG_MEAN`` 4: the mean of too few years (see above).

Every cycle
    :func:`accounting` books one cycle: destroyed from T_D, restored from T_R on.
    :func:`accounting_states` takes the pixel's yearly disturbance state as well and books each
    year after the first T_D by its state (a second destruction is destroyed area again, with
    its own direct decrease); the fit and the cohorts stay on the first T_D / T_R.
"""

from __future__ import annotations

import numpy as np

from ._gufunc import jit, lazy_gufunc

FLAG_UNDISTURBED, FLAG_FITTED, FLAG_SHORT, FLAG_INVALID, FLAG_MEAN = 0, 1, 2, 3, 4
NONE = -1


@jit
def _event_step(years, year):
    """Step of an event year: first step with years[i] >= year; -2 if off the axis, -1 if none."""
    if year == NONE:
        return -1
    n = years.shape[0]
    if n == 0 or year < years[0] or year > years[n - 1]:
        return -2
    for i in range(n):
        if years[i] >= year:
            return i
    return -2


@jit
def _steps(years, td, tr):
    """(step of T_D, step of T_R, valid) with the consistency rules of the module doc."""
    d = _event_step(years, td)
    r = _event_step(years, tr)
    if d == -2 or r == -2:
        return -1, -1, False
    if r >= 0 and (d < 0 or tr <= td or r <= d):
        return -1, -1, False
    return d, r, True


@jit
def _ols(v, years, stop):
    """OLS of v on years over steps [0, stop), NaN skipped: (n, slope, mean year, mean v).

    Centred sums (Σ(t - t̄)(v - v̄) / Σ(t - t̄)²): Eq. 3's raw-sum form cancels badly at
    years ~2000 (n Σt² and (Σt)² agree to ~7 digits).
    """
    n = 0
    st = 0.0
    sv = 0.0
    for i in range(stop):
        x = np.float64(v[i])
        if np.isfinite(x):
            n += 1
            st += years[i]
            sv += x
    if n == 0:
        return 0, np.nan, np.nan, np.nan
    tm = st / n
    vm = sv / n
    sxy = 0.0
    sxx = 0.0
    for i in range(stop):
        x = np.float64(v[i])
        if np.isfinite(x):
            dt = years[i] - tm
            sxy += dt * (x - vm)
            sxx += dt * dt
    slope = sxy / sxx if sxx > 0.0 else np.nan
    return n, slope, tm, vm


@jit
def _undisturbed(v, years, td, tr, min_years, include_td, und):
    """Fill ``und``; return (d step, r step, first predicted step, n, slope, intercept, flag)."""
    nt = v.shape[0]
    d, r, ok = _steps(years, td, tr)
    if not ok:
        for i in range(nt):
            und[i] = np.nan
        return -1, -1, nt, 0, np.nan, np.nan, FLAG_INVALID
    if d < 0:
        for i in range(nt):
            und[i] = v[i]
        return -1, r, nt, 0, np.nan, np.nan, FLAG_UNDISTURBED
    stop = d + 1 if include_td else d  # first step not in the fit = first predicted step
    n, slope, tm, vm = _ols(v, years, stop)
    for i in range(stop):
        und[i] = v[i]  # before the prediction starts the pixel is in its undisturbed state
    if n == 0:
        for i in range(stop, nt):
            und[i] = np.nan
        return d, r, stop, n, np.nan, np.nan, FLAG_SHORT
    if n < min_years or not np.isfinite(slope):
        for i in range(stop, nt):
            und[i] = vm  # too few years for a trend: their mean
        return d, r, stop, n, 0.0, vm, FLAG_MEAN
    for i in range(stop, nt):
        # = a·year + b (Eq. 4), evaluated centred; never below 0: vegetation does not emit
        # through photosynthesis, and a fit dragged down by a late-detected destruction year
        # would otherwise book an ever-growing "gain" on destroyed land
        p = vm + slope * (years[i] - tm)
        und[i] = p if p > 0.0 else 0.0
    return d, r, stop, n, slope, vm - slope * tm, FLAG_FITTED


_SIG_FIT = "void({f}[:], float64[:], int64, int64, int64, {f}[:], float64[:], float64[:], int32[:], int8[:])"


@lazy_gufunc([_SIG_FIT.format(f="float32"), _SIG_FIT.format(f="float64")],
             "(t),(t),(),(),()->(t),(),(),(),()", split_on=0)
def undisturbed_fit(v, years, td, min_years, include_td, und, slope, intercept, n_fit, flag):
    """Undisturbed-state VCS of one pixel (Eqs. 3-4): observed before the prediction starts,
    a·year + b after; also a, b (year-0 intercept), the number of years fitted and the flag."""
    _, _, _, n, a, b, f = _undisturbed(v, years, td, NONE, min_years, include_td, und)
    slope[0] = a
    intercept[0] = b
    n_fit[0] = n
    flag[0] = f


@jit
def _start(v, years, td, tr, min_years, include_td,
           und, dec, inc, cdes, cres, slope, intercept, n_fit, flag, d_step, r_step):
    """The accounting kernels' common start: the undisturbed fit, its scalars written and the
    change series cleared to NaN; returns (d step, r step, first predicted step, flag)."""
    d, r, p0, n, a, b, f = _undisturbed(v, years, td, tr, min_years, include_td, und)
    slope[0] = a
    intercept[0] = b
    n_fit[0] = n
    flag[0] = f
    d_step[0] = d
    r_step[0] = r
    for i in range(v.shape[0]):
        dec[i] = np.nan
        inc[i] = np.nan
        cdes[i] = np.nan
        cres[i] = np.nan
    return d, r, p0, f


_SIG_ACC = ("void({f}[:], float64[:], int64, int64, int64, int64, "
            "{f}[:], {f}[:], {f}[:], {f}[:], {f}[:], float64[:], float64[:], int32[:], int8[:], int32[:], int32[:])")


@lazy_gufunc([_SIG_ACC.format(f="float32"), _SIG_ACC.format(f="float64")],
             "(t),(t),(),(),(),()->(t),(t),(t),(t),(t),(),(),(),(),(),()", split_on=0)
def accounting(v, years, td, tr, min_years, include_td,
               und, dec, inc, cdes, cres, slope, intercept, n_fit, flag, d_step, r_step):
    """Per-pixel, per-year accounting (study 002), all in VCS units (g CO2 m-2 yr-1):

    * ``und``  undisturbed-state series (see :func:`undisturbed_fit`);
    * ``dec``  direct decrease VCS(T_D - 1) - VCS(T_D) at the step of T_D, NaN elsewhere
      (NaN too when T_D is the first step: no previous year);
    * ``inc``  direct increase VCS(T_R) - VCS(T_R - 1) at the step of T_R, NaN elsewhere;
    * ``cdes`` potential change VCS_t - VCS_undisturbed,t while destroyed and not yet
      restored, from the first predicted step; NaN elsewhere;
    * ``cres`` the same from the step of T_R on; NaN elsewhere.

    Scalars: slope a, intercept b, years fitted, flag, and the steps of T_D / T_R (-1 none).
    """
    nt = v.shape[0]
    d, r, p0, f = _start(v, years, td, tr, min_years, include_td,
                         und, dec, inc, cdes, cres, slope, intercept, n_fit, flag, d_step, r_step)
    if d < 0:
        return
    if d >= 1:
        dec[d] = np.float64(v[d - 1]) - np.float64(v[d])
    if r >= 1:
        inc[r] = np.float64(v[r]) - np.float64(v[r - 1])
    if f != FLAG_FITTED and f != FLAG_MEAN:
        return
    for i in range(p0, nt):
        gap = np.float64(v[i]) - np.float64(und[i])
        if r >= 0 and i >= r:
            cres[i] = gap
        else:
            cdes[i] = gap


# ------------------------------------------------------------------ every cycle (state series)
EVENT_NONE, EVENT_DESTROYED, EVENT_RESTORED = 0, 1, 2
STATE_NODATA, STATE_DESTROYED, STATE_VEGETATED, STATE_NOT_VEGETATED = -1, 0, 1, 2  # as kernels.disturbance


@jit
def _first_events_from_state(state, years):
    """(T_D, T_R) years of the first destruction / restoration in the window, read from the state.

    Used only when the event years say "none in the window" (a pixel destroyed and restored
    before the first VCS year): a state 0 in the first step is a destruction before the window
    (destroyed from the first year, as :func:`cubeeco.ops.vcs.vcs_changes` clips such T_D);
    later, a 1 -> 0 step (2 / -1 years in between do not break the phase).
    """
    nt = state.shape[0]
    phase = -1
    d = -1
    r = -1
    for i in range(nt):
        s = state[i]
        if d < 0:
            if s == STATE_DESTROYED and (i == 0 or phase == STATE_VEGETATED):
                d = i
            elif s == STATE_VEGETATED:
                phase = STATE_VEGETATED
        elif s == STATE_VEGETATED:
            r = i
            break
    td = np.int64(years[d]) if d >= 0 else NONE
    tr = np.int64(years[r]) if r >= 0 else NONE
    return td, tr


_SIG_ACS = ("void({f}[:], float64[:], int8[:], int64, int64, int64, int64, "
            "{f}[:], {f}[:], {f}[:], {f}[:], {f}[:], int8[:], "
            "float64[:], float64[:], int32[:], int8[:], int32[:], int32[:])")


@lazy_gufunc([_SIG_ACS.format(f="float32"), _SIG_ACS.format(f="float64")],
             "(t),(t),(t),(),(),(),()->(t),(t),(t),(t),(t),(t),(),(),(),(),(),()", split_on=0)
def accounting_states(v, years, state, td, tr, min_years, include_td,
                      und, dec, inc, cdes, cres, event, slope, intercept, n_fit, flag, d_step, r_step):
    """:func:`accounting` that books every destruction / restoration cycle by the yearly state.

    ``state`` (int8, per step; codes of :mod:`cubeeco.kernels.disturbance`: 1 vegetated /
    restored, 0 destroyed, 2 not vegetated, -1 no data) takes over the booking after the
    first T_D; the fit (Eqs. 3-4), the flags and the cohort steps ``d_step`` / ``r_step`` still
    come from the first T_D / T_R (``td`` / ``tr``):

    * ``dec`` at the step of T_D (as :func:`accounting`) and at every later step whose state
      is 0 while the last 0/1 state before it was 1; ``inc`` at every step whose state is 1
      while the last 0/1 state before it was 0; both against the previous step;
    * ``cdes`` / ``cres`` = VCS - undisturbed in the predicted steps whose state is 0 / 1;
      steps with state 2 or -1 (or NaN VCS) book nothing;
    * ``event``: 1 destruction, 2 restoration, 0 none, per step (areas of every cycle).

    When ``td`` and ``tr`` are both -1 the first events are read from the state (see
    :func:`_first_events_from_state`): a pixel restored before the window and destroyed again
    inside it is booked from its in-window destruction on.  With the single-cycle state that
    T_D / T_R imply, every output equals :func:`accounting`'s.
    """
    nt = v.shape[0]
    if td == NONE and tr == NONE:
        td, tr = _first_events_from_state(state, years)
    d, r, p0, f = _start(v, years, td, tr, min_years, include_td,
                         und, dec, inc, cdes, cres, slope, intercept, n_fit, flag, d_step, r_step)
    for i in range(nt):
        event[i] = EVENT_NONE
    if d < 0:
        return
    # the first destruction is T_D's step whatever its state says (it dates the fit)
    event[d] = EVENT_DESTROYED
    if d >= 1:
        dec[d] = np.float64(v[d - 1]) - np.float64(v[d])
    phase = STATE_DESTROYED
    for i in range(d + 1, nt):
        s = state[i]
        if s == STATE_DESTROYED and phase == STATE_VEGETATED:
            event[i] = EVENT_DESTROYED
            dec[i] = np.float64(v[i - 1]) - np.float64(v[i])
            phase = STATE_DESTROYED
        elif s == STATE_VEGETATED and phase == STATE_DESTROYED:
            event[i] = EVENT_RESTORED
            inc[i] = np.float64(v[i]) - np.float64(v[i - 1])
            phase = STATE_VEGETATED
    if f != FLAG_FITTED and f != FLAG_MEAN:
        return
    for i in range(p0, nt):
        s = state[i]
        if s == STATE_DESTROYED:
            cdes[i] = np.float64(v[i]) - np.float64(und[i])
        elif s == STATE_VEGETATED:
            cres[i] = np.float64(v[i]) - np.float64(und[i])


# ------------------------------------------------------------------ VCSD sensitivity (delta method)
_SIG_SENS = ("void({f}[:], float64[:], {f}[:], {f}[:], {f}[:], int64, int64, int64, float64[:])")


@lazy_gufunc([_SIG_SENS.format(f="float32"), _SIG_SENS.format(f="float64")],
             "(t),(t),(t),(t),(t),(),(),()->(t)", split_on=0)
def vcsd_sensitivity(v, years, cdes, cres, und, d_step, flag, include_td, sens):
    """dP/dv_s of one pixel's VCSD contribution P = -Σ_t (cdes_t + cres_t) (NaN terms 0).

    Inputs are an :func:`accounting` (or :func:`accounting_states`) result for the series
    ``v``: ``cdes`` / ``cres`` / ``und`` per step, the step of T_D ``d_step``, the ``flag`` and
    the fit-window option ``include_td``.  P is linear in v away from the clip at 0, so:

    * every booked step t (cdes_t or cres_t finite) enters with its own VCS: -1 at s = t;
    * its prediction und_t, if not clipped (und_t > 0) and ``FLAG_FITTED``, is an OLS value
      over the fit window (steps < d_step + include_td with finite v): +1/n +
      (year_t - t̄)(year_s - t̄)/Sxx at each fit step s; for ``FLAG_MEAN`` (the mean, never
      clipped) +1/n;
    * any other flag books nothing: 0 everywhere.

    Output ``sens`` float64 (t): the derivative, per step s (0 at NaN v).  At a prediction
    exactly on the clip the one-sided derivative of the clipped branch (0) is taken.
    """
    nt = v.shape[0]
    for i in range(nt):
        sens[i] = 0.0
    if flag != FLAG_FITTED and flag != FLAG_MEAN:
        return
    stop = d_step + include_td
    if stop > nt:
        stop = nt
    # the fit window: its size and centred moments, as _ols sees them
    n = 0
    st = 0.0
    for i in range(stop):
        if np.isfinite(np.float64(v[i])):
            n += 1
            st += years[i]
    if n == 0:
        return
    tm = st / n
    sxx = 0.0
    for i in range(stop):
        if np.isfinite(np.float64(v[i])):
            dt = years[i] - tm
            sxx += dt * dt
    fitted = flag == FLAG_FITTED and sxx > 0.0
    # Σ over the booked, unclipped predictions of d und_t / d v_s = G/n + H·(year_s - t̄)/Sxx
    g = 0.0
    h = 0.0
    for i in range(nt):
        if not (np.isfinite(np.float64(cdes[i])) or np.isfinite(np.float64(cres[i]))):
            continue
        sens[i] -= 1.0
        if fitted:
            if np.float64(und[i]) > 0.0:
                g += 1.0
                h += years[i] - tm
        else:
            g += 1.0
    if g == 0.0:
        return
    for i in range(stop):
        if np.isfinite(np.float64(v[i])):
            s = g / n
            if fitted:
                s += h * (years[i] - tm) / sxx
            sens[i] += s
