"""Trend kernels: Theil–Sen slope, Mann–Kendall (original, Hamed–Rao, Yue–Wang), OLS.

Pure numba over numpy; no xarray.  Every gufunc takes the series ``y`` (core
dimension last, float32 or float64) and its time stamps ``t`` (float64, decimal
years, strictly increasing, irregular spacing allowed).

Missing values
    A value is used when both ``y`` and ``t`` are finite: NaN *and* ±inf are
    missing.  Sen slope and the Mann–Kendall family need at least
    ``MIN_VALID_MK = 3`` valid values, OLS at least ``MIN_VALID_OLS = 2``;
    below that every float output is NaN, ``trend``/``significance`` are
    ``NODATA_INT8`` and ``n_valid`` still reports the count.

Arithmetic
    Values are widened to float64 before any difference, so pair slopes are
    float64 whatever the input; outputs are stored in the input's float dtype,
    except intercepts, always float64: they are extrapolated to t = 0 (year 0),
    where float32 would keep only ~1e-5 of an NDVI unit at year 2000.

Scratch memory
    The Sen kernels need ``n(n-1)/2`` pair slopes per pixel.  Allocating them
    inside a gufunc body would allocate once per pixel (about 10-15 % of the
    run time at n = 22), so the gufuncs take a float64 ``scratch`` vector as an
    input; numpy broadcasts it, so one buffer serves every pixel of a call.
    Call the wrappers (:func:`sen_mk`, :func:`trend_all`, ...): they allocate one
    buffer per call, which makes them safe under dask's threads (each task is
    its own call).  Never share one scratch buffer between concurrent calls.
"""

from __future__ import annotations

import math

import numpy as np

from ._gufunc import FLOAT_TYPES, jit, lazy_gufunc

MIN_VALID_MK = 3
MIN_VALID_OLS = 2
NODATA_INT8 = -128
# n_valid of a direct gufunc call given a scratch shorter than scratch_size(n): all outputs NaN
SCRATCH_TOO_SMALL = -1

# pivots sampled per selection round, and the size below which survivors are
# insertion-sorted; tuned in the full sen_mk kernel at n = 22 (231 slopes: 7 pivots
# beat 5, 9, 11, 15 and 19, since sorting the sample costs k^2)
_KMAX = 7  # the sorting network and _count_le_pivots are written out for 7
_SMALL = 8
_SQRT1_2 = 0.7071067811865476
# |Z| thresholds of the significance classes 1..3 (seed 000: 90 %, 95 %, 99 %)
SIGNIFICANCE_Z = (1.645, 1.96, 2.576)

METHODS = {"original": 0, "hamed_rao": 1, "yue_wang": 2}


@jit(inline="always")
def _scratch_len(n):
    # yy, tt (doubled, 2n each) | slopes | work (n(n-1)/2 each) | pivots and their
    # counts (2K) | detrended, ranks (n each) | 8 spare
    return 6 * n + n * (n - 1) + 2 * _KMAX + 8


def scratch_size(n: int) -> int:
    """Length of the float64 scratch vector the Sen kernels need for series of length n."""
    return int(_scratch_len(n))


def new_scratch(n: int) -> np.ndarray:
    return np.empty(scratch_size(n), dtype=np.float64)


# ----------------------------------------------------------------------------------
# jitted helpers
# ----------------------------------------------------------------------------------


@jit(inline="always")
def _compact(y, t, yy, tt):
    """Finite (y, t) pairs into yy[:nv], tt[:nv], repeated in yy[nv:2nv] (circular layout)."""
    nv = 0
    for k in range(y.shape[0]):
        yk = np.float64(y[k])
        tk = t[k]
        # branch-free: always write, advance only on a valid pair
        yy[nv] = yk
        tt[nv] = tk
        nv += np.isfinite(yk) & np.isfinite(tk)
    for k in range(nv):
        yy[nv + k] = yy[k]
        tt[nv + k] = tt[k]
    return nv


@jit
def _pair_signs(yy, nv):
    """(S, number of tied pairs) over all pairs, for the test without slopes.

    Pairs are enumerated by circular lag: (i, i+k mod nv) for k = 1 .. nv//2 holds
    every unordered pair once (lag nv/2 only for i < nv/2 when nv is even).  The
    inner loops then run ~nv times instead of the triangle's nv-1-i: at n = 22 the
    triangle's short rows rarely reach LLVM's vector path, the circular rows do.
    A wrapped pair (i+k >= nv) has its later value first, so its sign counts
    negatively (a select inside the one loop per lag: two loops per lag cost 13 %
    more at n = 22).
    """
    s = 0
    zeros = 0
    for k in range(1, nv // 2 + 1):
        cnt = nv if 2 * k < nv else nv // 2
        split = nv - k
        acc = 0
        tied = 0
        for i in range(cnt):
            d = yy[i + k] - yy[i]
            sign = (d > 0) - (d < 0)
            acc += sign if i < split else -sign
            tied += d == 0
        s += acc
        zeros += tied
    return s, zeros


@jit(inline="always")
def _pair_slopes(yy, tt, nv, slopes):
    """Every pair slope dy/dt into slopes[:m], pairs by circular lag as in _pair_signs
    (a slope is symmetric, so wrapped pairs need no care); returns m."""
    m = 0
    for k in range(1, nv // 2 + 1):
        cnt = nv if 2 * k < nv else nv // 2
        for i in range(cnt):
            slopes[m + i] = (yy[i + k] - yy[i]) / (tt[i + k] - tt[i])
        m += cnt
    return m


# inlined: as a call it made sen_mk 14 % slower; inlining costs ~3 s of first-call compile
@jit(inline="always")
def _slopes_s_var(yy, tt, nv, slopes):
    """Pair slopes into slopes[:m]; (m, S, Var(S)) read off their signs.

    sign(y_later - y_earlier) = sign(dy/dt), the wrapped pairs negating dy and dt
    together, so S = #(slope > 0) - #(slope < 0): one vectorised counting pass
    instead of sign bookkeeping in the pair loop (9 % of sen_mk at n = 22).  A zero
    slope is a tie unless dy/dt underflowed (|dy| near 1e-308) or two time stamps
    coincide; the tied pairs counted from the values, which Var(S) needs anyway,
    tell them apart, and the exact sign loop recounts S then.
    """
    m = _pair_slopes(yy, tt, nv, slopes)
    pos = 0
    neg = 0
    for q in range(m):
        x = slopes[q]
        pos += x > 0
        neg += x < 0
    zeros = m - pos - neg
    s = pos - neg
    tie = 0
    if zeros > 0:
        tie, tied = _ties(yy, nv)
        if tied != zeros:
            s = _pair_signs(yy, nv)[0]
    return m, s, _var_from_ties(nv, tie)


@jit(inline="always")
def _var_from_ties(nv, tie):
    """Var(S) of n values whose tie groups give tie = Σ t_p (t_p - 1)(2 t_p + 5)."""
    return (nv * (nv - 1) * (2 * nv + 5) - tie) / 18.0


@jit
def _var_s(yy, nv, zeros):
    # the O(n^2) tie count only runs when some pair difference was zero
    return _var_from_ties(nv, _ties(yy, nv)[0] if zeros > 0 else 0)


@jit
def _ties(yy, nv):
    """(Σ t_p (t_p - 1)(2 t_p + 5) over tie groups, number of tied pairs), from the
    count c of equal values at each value: Σ (c-1)(2c+5) and Σ (c-1) / 2."""
    tie = 0
    dup = 0
    for i in range(nv):
        yi = yy[i]
        c = 0
        for j in range(nv):
            c += yy[j] == yi
        tie += (c - 1) * (2 * c + 5)
        dup += c - 1
    return tie, dup // 2


@jit(inline="always")
def _count_lt(buf, m, v):
    c = 0
    for q in range(m):
        c += buf[q] < v
    return c


@jit(inline="always")
def _count_le(buf, m, v):
    c = 0
    for q in range(m):
        c += buf[q] <= v
    return c


@jit(inline="always")
def _insertion_sort(buf, m):
    for p in range(1, m):
        x = buf[p]
        q = p
        while q > 0 and buf[q - 1] > x:
            buf[q] = buf[q - 1]
            q -= 1
        buf[q] = x


@jit(inline="always")
def _ce(a, b):
    """Compare-exchange of a sorting network: (min, max), without a branch."""
    return min(a, b), max(a, b)


@jit(inline="always")
def _sample_sorted(buf, m, k, piv):
    """k evenly spaced elements of buf[:m], sorted into piv[:k] (uses piv[k:2k])."""
    # a float step, not an integer division per sample: 64-bit idiv made this
    # sampler the most expensive part of the whole selection
    step = m / (2.0 * k)
    if k == 7:
        # the usual case (k = _KMAX): a 16-comparator sorting network on values held in
        # registers, 9 % of the whole sen_mk kernel faster than ranking by counting
        a0, a1, a2, a3 = buf[int(step)], buf[int(3 * step)], buf[int(5 * step)], buf[int(7 * step)]
        a4, a5, a6 = buf[int(9 * step)], buf[int(11 * step)], buf[int(13 * step)]
        a0, a6 = _ce(a0, a6)
        a2, a3 = _ce(a2, a3)
        a4, a5 = _ce(a4, a5)
        a0, a2 = _ce(a0, a2)
        a1, a4 = _ce(a1, a4)
        a3, a6 = _ce(a3, a6)
        a0, a1 = _ce(a0, a1)
        a2, a5 = _ce(a2, a5)
        a3, a4 = _ce(a3, a4)
        a1, a2 = _ce(a1, a2)
        a4, a6 = _ce(a4, a6)
        a2, a3 = _ce(a2, a3)
        a4, a5 = _ce(a4, a5)
        a1, a2 = _ce(a1, a2)
        a3, a4 = _ce(a3, a4)
        a5, a6 = _ce(a5, a6)
        piv[0], piv[1], piv[2], piv[3], piv[4], piv[5], piv[6] = a0, a1, a2, a3, a4, a5, a6
        return
    smp = piv[k : 2 * k]
    for p in range(k):
        smp[p] = buf[int((2 * p + 1) * step)]
    # rank by counting (ties broken by position): loops without branches
    for p in range(k):
        x = smp[p]
        r = 0
        for q in range(p):
            r += smp[q] <= x
        for q in range(p + 1, k):
            r += smp[q] < x
        piv[r] = x


@jit(inline="never")
def _select2(src, m, k1, k2, work, piv):
    """Values of rank k1 and k2 (0-based, ascending, k1 <= k2 <= k1 + 1) in src[:m].

    Sort-free selection: sort a small sample as pivots, find by counting the two
    pivots that bracket the wanted ranks, keep the values strictly between them
    (ties at the lower pivot are resolved by one extra count), repeat on the
    survivors, and insertion-sort the last few.  ``src`` is left untouched (so
    several ranks can be selected from one slope buffer); ``work`` holds >= m
    values and ``piv`` >= 2 * _KMAX.  Every count is a branch-free loop that
    vectorises; at n = 22 this is 3-4x quicker than quickselect.
    """
    buf = src
    if m <= _SMALL:
        for q in range(m):
            work[q] = src[q]
        _insertion_sort(work, m)
        return work[k1], work[k2]
    for _round in range(64):
        k = _KMAX if m > 4 * _KMAX else (m // 4) | 1
        _sample_sorted(buf, m, k, piv)
        # a: last pivot with #(< pivot) <= k1;  b: first pivot with #(< pivot) > k2
        lo = -1
        hi = k
        lt_hi = m
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            c = _count_lt(buf, m, piv[mid])
            if c <= k1:
                lo = mid
            else:
                hi = mid
                lt_hi = c
        a = lo
        b = hi
        lt_b = lt_hi
        while b < k and lt_b <= k2:
            b += 1
            lt_b = _count_lt(buf, m, piv[b]) if b < k else m
        if a >= 0:
            va = piv[a]
            le_a = _count_le(buf, m, va)
            if k2 < le_a:  # both ranks hold the pivot value (ties)
                return va, va
            if k1 < le_a:  # k2 == le_a: the smallest value above va
                vb = np.inf
                for q in range(m):
                    x = buf[q]
                    vb = x if (x > va) & (x < vb) else vb
                return va, vb
            lov = va
            off = le_a
        else:
            if b >= k:  # every pivot equals the value of rank k2 = k1 + 1
                vb = piv[0]
                va = -np.inf
                for q in range(m):
                    x = buf[q]
                    va = x if (x < vb) & (x > va) else va
                return va, vb
            lov = -np.inf
            off = 0
        hiv = piv[b] if b < k else np.inf
        # an open end keeps infinite values (x > -inf would drop a wanted -inf)
        no_lo = a < 0
        no_hi = b >= k
        c = 0
        for q in range(m):
            x = buf[q]
            work[c] = x
            c += ((x > lov) | no_lo) & ((x < hiv) | no_hi)
        buf = work
        m = c
        k1 -= off
        k2 -= off
        if m <= _SMALL:
            break
    _insertion_sort(work, m)
    return work[k1], work[k2]


@jit
def _count_le_pivots(buf, m, piv):
    """#(buf <= piv[j]) for the 7 sorted pivots, in one pass, into piv[7:14]."""
    p0, p1, p2, p3, p4, p5, p6 = piv[0], piv[1], piv[2], piv[3], piv[4], piv[5], piv[6]
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = 0
    for q in range(m):
        x = buf[q]
        c0 += x <= p0
        c1 += x <= p1
        c2 += x <= p2
        c3 += x <= p3
        c4 += x <= p4
        c5 += x <= p5
        c6 += x <= p6
    piv[7], piv[8], piv[9], piv[10], piv[11], piv[12], piv[13] = c0, c1, c2, c3, c4, c5, c6


@jit
def _count_le2(buf, m, g1, g2):
    c1 = 0
    c2 = 0
    for q in range(m):
        x = buf[q]
        c1 += x <= g1
        c2 += x <= g2
    return c1, c2


# reassociation lets the sum vectorise; it is still exact, since at most two
# terms are non-zero (so the result is their one correctly rounded sum)
@jit(fastmath={"reassoc"})
def _sum_in(buf, m, lo, hi):
    """Sum of the values in (lo, hi]."""
    s = 0.0
    for q in range(m):
        x = buf[q]
        s += x if (x > lo) & (x <= hi) else 0.0
    return s


@jit
def _bracket(g, c, k, lo_g, lo_c, hi_g, hi_c):
    """Fold the probe count c = #(x <= g) into the bracket of rank k: the largest
    threshold with count <= k (lo) and the smallest with count > k (hi)."""
    up = (c <= k) & (g > lo_g)
    lo_g = g if up else lo_g
    lo_c = c if up else lo_c
    up = (c > k) & (g < hi_g)
    hi_g = g if up else hi_g
    hi_c = c if up else hi_c
    return lo_g, lo_c, hi_g, hi_c


@jit(inline="never")
def _rank_sum(src, m, k1, k2, piv):
    """Sum of the values of rank k1..k2 (k2 - k1 in {0, 1}) in src[:m] by counting only,
    or NaN where it gives up (ties, values outside the pivots, no isolation in time).

    Finds thresholds a < d with #(x <= a) = k1 and #(x <= d) = k2 + 1: then (a, d]
    holds exactly the wanted values and one pass sums them.  The 7 sorted sample
    pivots are counted in one pass; then each pass counts two guesses, interpolated
    between the nearest thresholds known on each side of the two targets.  Count
    passes vectorise; unlike _select2 nothing is copied (its compaction pass cost
    more than the counting), and at n = 22 this is ~20 % quicker.
    """
    _sample_sorted(src, m, _KMAX, piv)
    _count_le_pivots(src, m, piv)
    na = 0
    nd = 0
    for j in range(_KMAX):
        na += piv[_KMAX + j] <= k1
        nd += piv[_KMAX + j] <= k2
    if (na == 0) | (nd == _KMAX):
        return np.nan
    # (a, b) brackets rank k1: a the largest threshold with count <= k1, b the smallest
    # with count > k1; (c, d) the same for k2
    ag, ac = piv[na - 1], int(piv[_KMAX + na - 1])
    bg, bc = piv[na], int(piv[_KMAX + na])
    cg, cc = piv[nd - 1], int(piv[_KMAX + nd - 1])
    dg, dc = piv[nd], int(piv[_KMAX + nd])
    for _pass in range(8):
        lo_done = ac == k1
        hi_done = dc == k2 + 1
        if lo_done & hi_done:
            return _sum_in(src, m, ag, dg)
        g_lo = ag + (bg - ag) * ((k1 - ac) / (bc - ac))
        g_hi = cg + (dg - cg) * ((k2 + 1 - cc) / (dc - cc))
        g_lo = g_hi if lo_done else g_lo
        g_hi = g_lo if hi_done else g_hi
        if not ((g_lo > ag) & (g_lo < dg) & (g_hi > ag) & (g_hi < dg)):
            return np.nan  # no room left between thresholds (ties) or non-finite values
        c_lo, c_hi = _count_le2(src, m, g_lo, g_hi)
        ag, ac, bg, bc = _bracket(g_lo, c_lo, k1, ag, ac, bg, bc)
        ag, ac, bg, bc = _bracket(g_hi, c_hi, k1, ag, ac, bg, bc)
        cg, cc, dg, dc = _bracket(g_lo, c_lo, k2, cg, cc, dg, dc)
        cg, cc, dg, dc = _bracket(g_hi, c_hi, k2, cg, cc, dg, dc)
    return np.nan


@jit
def _select_sum(src, m, k1, k2, work, piv):
    """Sum of the values of rank k1 and k2 (k2 - k1 in {0, 1}; one value if equal)."""
    if m > 4 * _KMAX:
        s = _rank_sum(src, m, k1, k2, piv)
        if s == s:
            return s
    v1, v2 = _select2(src, m, k1, k2, work, piv)
    return v1 if k1 == k2 else v1 + v2


@jit
def _select(src, m, k, work, piv):
    """The value of rank k (0-based, ascending) in src[:m]."""
    return _select_sum(src, m, k, k, work, piv)


@jit
def _median(src, m, work, piv):
    k1 = (m - 1) // 2
    k2 = m // 2
    s = _select_sum(src, m, k1, k2, work, piv)
    return s if k1 == k2 else 0.5 * s


@jit
def _round_half_even(x):
    # numpy.round semantics, as scipy.stats.theilslopes uses for its CI ranks
    r = math.floor(x)
    d = x - r
    if d > 0.5:
        r += 1.0
    elif d == 0.5:
        r += r % 2.0
    return int(r)


@jit
def _z_p(s, var_s):
    """Z with continuity correction and two-sided p = erfc(|Z|/sqrt 2)."""
    if s > 0:
        z = (s - 1) / math.sqrt(var_s)
    elif s < 0:
        z = (s + 1) / math.sqrt(var_s)
    else:
        z = 0.0
    # erfc keeps full relative accuracy in the tail, where 2 * (1 - Phi(|z|)) cancels
    return z, math.erfc(abs(z) * _SQRT1_2)


@jit
def _trend_class(z, z_crit):
    if np.isnan(z):
        return NODATA_INT8
    if z > z_crit:
        return 1
    if z < -z_crit:
        return -1
    return 0


@jit
def _significance_class(z):
    if np.isnan(z):
        return NODATA_INT8
    a = abs(z)
    return (a >= SIGNIFICANCE_Z[0]) + (a >= SIGNIFICANCE_Z[1]) + (a >= SIGNIFICANCE_Z[2])


@jit(inline="always")
def _scratch_fits(sc, n):
    return sc.shape[0] >= _scratch_len(n)


@jit(inline="always")
def _views(sc, n):
    # no size check here: a raise in this helper costs ~50 ns per pixel (about 5 %
    # of sen_mk); the gufuncs test _scratch_fits first and give NaN instead
    n_pairs = n * (n - 1) // 2
    yy = sc[: 2 * n]
    tt = sc[2 * n : 4 * n]
    slopes = sc[4 * n : 4 * n + n_pairs]
    work = sc[4 * n + n_pairs : 4 * n + 2 * n_pairs]
    o = 4 * n + 2 * n_pairs
    piv = sc[o : o + 2 * _KMAX]
    aux = sc[o + 2 * _KMAX : o + 2 * _KMAX + 2 * n]
    return yy, tt, slopes, work, piv, aux


@jit
def _acf(x, nv, out, nlags):
    """Autocorrelation of x[:nv] at lags 0..nlags-1 (biased, divisor nv), into out."""
    mean = 0.0
    for i in range(nv):
        mean += x[i]
    mean /= nv
    for k in range(nlags):
        acc = 0.0
        for i in range(nv - k):
            acc += (x[i] - mean) * (x[i + k] - mean)
        out[k] = acc
    c0 = out[0]
    for k in range(nlags):
        out[k] = out[k] / c0


@jit
def _modified_var_factor(yy, tt, nv, slope, method, z_crit, max_lag, aux):
    """n/n* variance correction of Hamed & Rao (1998) or Yue & Wang (2004).

    As pymannkendall defines them: detrend with the Sen slope; Hamed–Rao takes the
    ACF of the (average) ranks of the detrended series and keeps the lags outside
    ±z/sqrt(n); Yue–Wang takes the ACF of the detrended series at every lag.  Lags
    1 .. max_lag (max_lag <= 0: all, nv - 1).
    """
    det = aux[:nv]
    acf = aux[nv : 2 * nv]
    # the constant shift is irrelevant in exact arithmetic, but ties among detrended
    # values are decided by rounding: (t - t0 + 1) reproduces pymannkendall's
    # x - slope * arange(1, n + 1) bit for bit on annual series
    t0 = tt[0] - 1.0
    for i in range(nv):
        det[i] = yy[i] - slope * (tt[i] - t0)
    nlags = nv if (max_lag <= 0 or max_lag + 1 > nv) else max_lag + 1
    if method == 1:
        # average ranks (scipy.stats.rankdata "average"), by counting
        for i in range(nv):
            xi = det[i]
            below = 0
            eq = 0
            for j in range(nv):
                below += det[j] < xi
                eq += det[j] == xi
            acf[i] = below + 0.5 * (eq + 1)
        for i in range(nv):
            det[i] = acf[i]
        _acf(det, nv, acf, nlags)
        bound = z_crit / math.sqrt(nv)
        sni = 0.0
        for i in range(1, nlags):
            r = acf[i]
            if not (r <= bound and r >= -bound):  # NaN (constant ranks) propagates, as in pymannkendall
                sni += (nv - i) * (nv - i - 1) * (nv - i - 2) * r
        return 1.0 + 2.0 / (nv * (nv - 1.0) * (nv - 2.0)) * sni
    _acf(det, nv, acf, nlags)
    sni = 0.0
    for i in range(1, nlags):
        sni += (1.0 - i / nv) * acf[i]
    return 1.0 + 2.0 * sni


@jit
def _ols_fit(y, t, t_end):
    """OLS of y on t over finite pairs with t <= t_end: (n, t_mean, y_mean, sxx, sxy, syy)."""
    n = 0
    sy = 0.0
    st = 0.0
    for k in range(y.shape[0]):
        yk = np.float64(y[k])
        tk = t[k]
        ok = np.isfinite(yk) & np.isfinite(tk) & (tk <= t_end)
        n += ok
        sy += yk if ok else 0.0
        st += tk if ok else 0.0
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan, np.nan
    ym = sy / n
    tm = st / n
    # centred second pass: exact for series offset by 1e6 where raw sums cancel
    sxx = 0.0
    sxy = 0.0
    syy = 0.0
    for k in range(y.shape[0]):
        yk = np.float64(y[k])
        tk = t[k]
        ok = np.isfinite(yk) & np.isfinite(tk) & (tk <= t_end)
        dt = tk - tm if ok else 0.0
        dy = yk - ym if ok else 0.0
        sxx += dt * dt
        sxy += dt * dy
        syy += dy * dy
    return n, tm, ym, sxx, sxy, syy


@jit
def _ols(y, t):
    n, tm, ym, sxx, sxy, syy = _ols_fit(y, t, np.inf)
    if n < MIN_VALID_OLS:
        return np.nan, np.nan, np.nan
    slope = sxy / sxx
    intercept = ym - slope * tm
    # vanishing denominator (constant y) -> NaN, as scipy.stats.linregress
    r2 = sxy * sxy / (sxx * syy) if syy > 0 else np.nan
    return slope, intercept, r2


@jit
def _ci_ranks(m, z_crit, var):
    # Sen (1968) eq. 2.6 as scipy.stats.theilslopes: C = z * sqrt(Var S),
    # lower rank round((N - C)/2) - 1, upper rank round((N + C)/2), clipped
    c = z_crit * math.sqrt(var)
    lo = _round_half_even((m - c) / 2.0) - 1
    hi = _round_half_even((m + c) / 2.0)
    lo = 0 if lo < 0 else lo
    hi = m - 1 if hi > m - 1 else hi
    lo = m - 1 if lo > m - 1 else lo
    hi = 0 if hi < 0 else hi
    return lo, hi


# ----------------------------------------------------------------------------------
# gufuncs
# ----------------------------------------------------------------------------------


def _sigs(inputs, outputs):
    """Signatures float32 first: 'F' stands for the value dtype."""
    return [
        "void(" + ", ".join(a.replace("F", ft) for a in (*inputs, *outputs)) + ")"
        for ft in FLOAT_TYPES
    ]


# the Sen and MK gufuncs take a block of series, (p, n): a loop over pixels inside one
# call costs ~30 ns per pixel less than numpy's gufunc loop building views per pixel
_SEN_IN = ("F[:,:]", "float64[:]", "float64", "float64[::1]")


# Per-pixel bodies are plain jit functions compiled without the NRT (see _gufunc.py):
# the scratch views they slice then cost no reference counting, which inside a gufunc
# body is a call per view per pixel (~10 % of sen_mk).  The gufuncs only unpack.


@jit(inline="never")
def _valid_series(y, t, scratch):
    """Views of the scratch, and the number of finite (y, t) pairs compacted into yy, tt."""
    yy, tt, slopes, work, piv, aux = _views(scratch, y.shape[0])
    nv = _compact(y, t, yy, tt) if _scratch_fits(scratch, y.shape[0]) else SCRATCH_TOO_SMALL
    return nv, yy, tt, slopes, work, piv, aux


@jit(inline="never")
def _sen_mk_pixel(y, t, scratch):
    nv, yy, tt, slopes, work, piv, aux = _valid_series(y, t, scratch)
    if nv < MIN_VALID_MK:
        return np.nan, np.nan, np.nan, np.nan, np.nan
    m, si, var = _slopes_s_var(yy, tt, nv, slopes)
    b = _median(slopes, m, work, piv)
    zz, pp = _z_p(si, var)
    return b, si, var, zz, pp


@jit(inline="never")
def _sen_mk_rows(y, t, scratch, slope, s, var_s, z, p):
    for i in range(y.shape[0]):
        slope[i], s[i], var_s[i], z[i], p[i] = _sen_mk_pixel(y[i], t, scratch)


@lazy_gufunc(_sigs(_SEN_IN, ["F[:]"] * 5), "(p,n),(n),(),(k)->(p),(p),(p),(p),(p)", split_on=0)
def sen_mk_gufunc(y, t, z_crit, scratch, slope, s, var_s, z, p):
    """Headline kernel: Sen slope and Mann–Kendall S, Var(S), Z, p in one pass."""
    _sen_mk_rows(y, t, scratch, slope, s, var_s, z, p)


@jit(inline="never")
def _sen_pixel(y, t, z_crit, scratch):
    nv, yy, tt, slopes, work, piv, aux = _valid_series(y, t, scratch)
    if nv < MIN_VALID_MK:
        return np.nan, np.nan, np.nan, np.nan
    m, si, var = _slopes_s_var(yy, tt, nv, slopes)
    b = _median(slopes, m, work, piv)
    intercept = _median(yy, nv, work, piv) - b * _median(tt, nv, work, piv)
    if np.isnan(z_crit):
        return b, intercept, np.nan, np.nan
    lo, hi = _ci_ranks(m, z_crit, var)
    return b, intercept, _select(slopes, m, lo, work, piv), _select(slopes, m, hi, work, piv)


@jit(inline="never")
def _sen_rows(y, t, z_crit, scratch, slope, intercept, low, high):
    for i in range(y.shape[0]):
        slope[i], intercept[i], low[i], high[i] = _sen_pixel(y[i], t, z_crit, scratch)


@lazy_gufunc(
    _sigs(_SEN_IN, ["F[:]", "float64[:]", "F[:]", "F[:]"]),
    "(p,n),(n),(),(k)->(p),(p),(p),(p)",
    split_on=0,
)
def sen_gufunc(y, t, z_crit, scratch, slope, intercept, low, high):
    """Sen slope, intercept (median(y) - slope * median(t)) and CI bounds at z_crit.

    ``z_crit`` NaN skips the bounds (NaN outputs) and their two extra selections.
    """
    _sen_rows(y, t, z_crit, scratch, slope, intercept, low, high)


@jit(inline="never")
def _mk_pixel(y, t, z_crit, method, max_lag, scratch):
    nv, yy, tt, slopes, work, piv, aux = _valid_series(y, t, scratch)
    if nv < MIN_VALID_MK:
        return np.nan, np.nan, np.nan, np.nan, np.nan, NODATA_INT8
    m = nv * (nv - 1) // 2
    if method == 0:
        si, zeros = _pair_signs(yy, nv)
        var = _var_s(yy, nv, zeros)
    else:
        m, si, var = _slopes_s_var(yy, tt, nv, slopes)
        b = _median(slopes, m, work, piv)
        var *= _modified_var_factor(yy, tt, nv, b, method, z_crit, max_lag, aux)
    zz, pp = _z_p(si, var)
    return si, var, zz, pp, si / m, _trend_class(zz, z_crit)


@jit(inline="never")
def _mk_rows(y, t, z_crit, method, max_lag, scratch, s, var_s, z, p, tau, trend):
    for i in range(y.shape[0]):
        s[i], var_s[i], z[i], p[i], tau[i], trend[i] = _mk_pixel(y[i], t, z_crit, method, max_lag, scratch)


@lazy_gufunc(
    _sigs(("F[:,:]", "float64[:]", "float64", "int64", "int64", "float64[::1]"), ["F[:]"] * 5 + ["int8[:]"]),
    "(p,n),(n),(),(),(),(k)->(p),(p),(p),(p),(p),(p)",
    split_on=0,
)
def mk_gufunc(y, t, z_crit, method, max_lag, scratch, s, var_s, z, p, tau, trend):
    """Mann–Kendall test: method 0 original, 1 Hamed–Rao (1998), 2 Yue–Wang (2004).

    ``max_lag`` <= 0 uses every lag (pymannkendall's ``lag=None``).  The original
    test does not compute pair slopes; the modified tests need the Sen slope to
    detrend.
    """
    _mk_rows(y, t, z_crit, method, max_lag, scratch, s, var_s, z, p, tau, trend)


@jit(inline="never")
def _trend_pixel(y, t, z_crit, scratch):
    """The 15 outputs of trend_gufunc, in TREND_OUTPUTS order."""
    nv, yy, tt, slopes, work, piv, aux = _valid_series(y, t, scratch)
    b_ols, a_ols, r2 = _ols(y, t)
    if nv < MIN_VALID_MK:
        nan = np.nan
        return nan, nan, nan, nan, NODATA_INT8, nan, nan, nan, nan, nan, b_ols, a_ols, r2, NODATA_INT8, nv
    m, si, var = _slopes_s_var(yy, tt, nv, slopes)
    zz, pp = _z_p(si, var)
    b = _median(slopes, m, work, piv)
    intercept = _median(yy, nv, work, piv) - b * _median(tt, nv, work, piv)
    lo, hi = _ci_ranks(m, z_crit, var)
    low = _select(slopes, m, lo, work, piv)
    high = _select(slopes, m, hi, work, piv)
    return (si * 1.0, var, zz, pp, _trend_class(zz, z_crit), si / m, b, intercept, low, high,
            b_ols, a_ols, r2, _significance_class(zz), nv)  # fmt: skip


@jit(inline="never")
def _trend_rows(
    y, t, z_crit, scratch,
    s, var_s, z, p, trend, tau, slope, intercept, low, high,
    ols_slope, ols_intercept, ols_r2, significance, n_valid,
):  # fmt: skip
    for i in range(y.shape[0]):
        (
            s[i], var_s[i], z[i], p[i], trend[i], tau[i], slope[i], intercept[i], low[i], high[i],
            ols_slope[i], ols_intercept[i], ols_r2[i], significance[i], n_valid[i],
        ) = _trend_pixel(y[i], t, z_crit, scratch)  # fmt: skip


@lazy_gufunc(
    _sigs(
        _SEN_IN,
        # s var_s z p | trend | tau slope | intercept | low high ols_slope | ols_intercept | ols_r2
        ["F[:]"] * 4 + ["int8[:]"] + ["F[:]"] * 2 + ["float64[:]"] + ["F[:]"] * 3 + ["float64[:]", "F[:]"]
        + ["int8[:]", "int32[:]"],  # significance n_valid
    ),
    "(p,n),(n),(),(k)->" + ",".join(["(p)"] * 15),
    split_on=0,
)
def trend_gufunc(
    y, t, z_crit, scratch,
    s, var_s, z, p, trend, tau, slope, intercept, low, high,
    ols_slope, ols_intercept, ols_r2, significance, n_valid,
):  # fmt: skip
    """Everything `cubeeco.trend` reports, in one pass over each pixel."""
    _trend_rows(y, t, z_crit, scratch, s, var_s, z, p, trend, tau, slope, intercept, low, high,
                ols_slope, ols_intercept, ols_r2, significance, n_valid)  # fmt: skip


@lazy_gufunc(_sigs(("F[:]", "float64[:]"), ["F[:]", "float64[:]", "F[:]"]), "(n),(n)->(),(),()", split_on=0)
def ols_gufunc(y, t, slope, intercept, r2):
    """OLS slope, intercept (at t = 0) and R² over the finite (t, y) pairs."""
    b, a, r = _ols(y, t)
    slope[0] = b
    intercept[0] = a
    r2[0] = r


@lazy_gufunc(_sigs(("F[:]", "float64[:]", "float64", "float64[:]"), ["F[:]"]), "(n),(n),(),(m)->(m)", split_on=0)
def ols_predict_gufunc(y, t, t_fit_end, t_out, out):
    """OLS fitted on the values with t <= t_fit_end, evaluated at t_out.

    The undisturbed state of carbon accounting (SCIENCE.md §7, Eqs. 3-4): fit the
    years up to the destruction year, predict the later ones.  Fewer than 2 values
    in the fit window (or t_fit_end NaN) gives NaN; pass +inf to fit every year.
    """
    n, tm, ym, sxx, sxy, syy = _ols_fit(y, t, t_fit_end)
    if n < MIN_VALID_OLS or not sxx > 0:
        for k in range(t_out.shape[0]):
            out[k] = np.nan
        return
    b = sxy / sxx
    for k in range(t_out.shape[0]):
        out[k] = ym + b * (t_out[k] - tm)


# ----------------------------------------------------------------------------------
# wrappers: one scratch buffer per call (safe under dask threads), float64 time
# ----------------------------------------------------------------------------------


def _time(t):
    return np.ascontiguousarray(t, dtype=np.float64)


def _quiet(kernel, *args):
    # NaN is a normal input: numba evaluates both sides of branch-free selects, so
    # the FP "invalid" flag is raised on NaN pixels and numpy would turn it into a
    # RuntimeWarning per call.  errstate is a context variable: safe under threads.
    with np.errstate(all="ignore"):
        return kernel(*args)


def _over_rows(kernel, y, t, *args):
    """Call a (p, n) block kernel on y of shape (..., n): one series is a block of one."""
    y = np.asarray(y)
    single = y.ndim == 1
    outs = _quiet(kernel, y[None] if single else y, _time(t), *args, new_scratch(y.shape[-1]))
    return tuple(o[0] for o in outs) if single else outs


def sen_mk(y, t, z_crit=1.959963984540054):
    """(slope, s, var_s, z, p) along the last axis of ``y``."""
    return _over_rows(sen_mk_gufunc, y, t, z_crit)


def sen(y, t, z_crit=math.nan):
    """(slope, intercept, low, high) along the last axis; z_crit NaN skips the bounds."""
    return _over_rows(sen_gufunc, y, t, z_crit)


def mann_kendall(y, t, z_crit=1.959963984540054, method=0, max_lag=0):
    """(s, var_s, z, p, tau, trend) along the last axis; method 0/1/2 (see METHODS)."""
    return _over_rows(mk_gufunc, y, t, z_crit, method, max_lag)


def trend_all(y, t, z_crit=1.959963984540054):
    """The 15 outputs of :func:`trend_gufunc`, in its order (see TREND_OUTPUTS)."""
    return _over_rows(trend_gufunc, y, t, z_crit)


def ols(y, t):
    """(slope, intercept, r2) along the last axis."""
    return _quiet(ols_gufunc, y, _time(t))


def ols_predict(y, t, t_fit_end, t_out):
    """Per-pixel OLS on t <= t_fit_end, predicted at t_out (new last axis, len(t_out))."""
    return _quiet(ols_predict_gufunc, y, _time(t), t_fit_end, _time(t_out))


TREND_OUTPUTS = (
    "s", "var_s", "z", "p", "trend", "tau", "slope", "intercept", "slope_low", "slope_high",
    "ols_slope", "ols_intercept", "ols_r2", "significance", "n_valid",
)  # fmt: skip
