"""Polygon coverage of raster cells and weighted quantiles: the zonal-statistics kernels.

Coordinates here are *pixel* coordinates of one window: ``u`` = column, ``v`` = row,
cell (r, c) is the unit square [c, c+1] x [r, r+1].  The ops layer maps world
coordinates onto them once per window, so the kernels never see a CRS.

Coverage fraction (exactextract's definition: the area of cell ∩ polygon over the cell
area) is computed exactly, edge by edge, with Green's theorem instead of clipping the
polygon against every cell.  For f(u) = clamp(u, c, c+1) - c and g(v) the indicator of
[r, r+1], ∮ f(u) g(v) dv over the positively oriented boundary equals the area of the
polygon inside cell (r, c).  So each edge, cut at the row lines and the column lines it
crosses, adds

* (mean u of the piece - c) · Δv to the one cell the piece lies in, and
* Δv to every cell of that row to its left (f = 1 there),

the second through a per-row "full" accumulator summed from the right afterwards (the
accumulation-buffer trick of exact-area font rasterizers).  Work per polygon is the
number of (edge, row/column crossing) pieces plus one pass over its bounding box in
the window — no per-cell geometry.  Holes and multipolygons need no special case: each
ring is oriented by the sign of its shoelace area (exterior +, hole -), so contributions
of a hole subtract.  Overlapping parts of an invalid polygon would add up; fractions are
clipped to [0, 1].

Centre coverage uses the same per-row accumulator with the winding number of the cell
centres: an edge crossing the centre line v = r + 0.5 at u adds its direction to all
centres left of u (half-open in v, so a vertex on the centre line counts once).

Outputs are allocated by the caller (helpers compile without the NRT, see ``_gufunc``).
"""

from __future__ import annotations

import math

import numpy as np

from ._gufunc import jit

# Fractions within this of 0 or 1 are float noise of the accumulation (each of the
# row's edges adds and subtracts ~1e-16); exactextract reports exact 0 / 1 there.
FRACTION_EPS = 1e-12


@jit
def _ring_orientation(u, v, a, b):
    """+1 if ring u[a:b], v[a:b] (closed) is counter-clockwise in (u, v) axes, -1 if
    clockwise, 0 if it has no area.  Shoelace about the first vertex (small terms)."""
    u0 = u[a]
    v0 = v[a]
    s = 0.0
    for i in range(a, b - 1):
        s += (u[i] - u0) * (v[i + 1] - v0) - (u[i + 1] - u0) * (v[i] - v0)
    if s > 0.0:
        return 1.0
    if s < 0.0:
        return -1.0
    return 0.0


@jit
def _edge_fraction(u0, v0, u1, v1, d, r0, c0, nr, nc, cover, full):
    """Add edge (u0, v0) -> (u1, v1) with orientation factor ``d`` to the accumulators of
    the window rows r0..r0+nr-1, columns c0..c0+nc-1 (``cover`` (nr, nc), ``full`` (nr, nc+1),
    ``full[i, j]`` = add to every column < j of row i)."""
    if v0 == v1:
        return  # horizontal: dv = 0
    if v1 < v0:  # integrate upward in v; the orientation flips the sign
        u0, v0, u1, v1 = u1, v1, u0, v0
        d = -d
    slope = (u1 - u0) / (v1 - v0)
    rlo = max(int(math.floor(v0)), r0)
    rhi = min(int(math.ceil(v1)), r0 + nr)  # exclusive
    for r in range(rlo, rhi):
        va = max(v0, float(r))
        vb = min(v1, float(r + 1))
        if vb <= va:
            continue
        ua = u0 if va == v0 else u0 + (va - v0) * slope
        ub = u1 if vb == v1 else u0 + (vb - v0) * slope
        dv = (vb - va) * d
        i = r - r0
        ulo = min(ua, ub)
        uhi = max(ua, ub)
        du = uhi - ulo
        if du == 0.0:  # vertical piece: one column
            k = int(math.floor(ulo))
            if k >= c0 + nc:
                full[i, nc] += dv
            elif k >= c0:
                cover[i, k - c0] += (ulo - k) * dv
                full[i, k - c0] += dv
            continue
        # the part right of the window covers every window column fully
        if uhi > c0 + nc:
            a = max(ulo, float(c0 + nc))
            full[i, nc] += dv * ((uhi - a) / du)
        klo = max(int(math.floor(ulo)), c0)
        khi = min(int(math.floor(uhi)), c0 + nc - 1)
        for k in range(klo, khi + 1):
            a = max(ulo, float(k))
            b = min(uhi, float(k + 1))
            if b <= a:
                continue
            dvp = dv * ((b - a) / du)
            cover[i, k - c0] += (0.5 * (a + b) - k) * dvp
            full[i, k - c0] += dvp


@jit
def _edge_center(u0, v0, u1, v1, d, r0, c0, nr, nc, full):
    """Winding contribution of one edge to the cell centres (see module docstring)."""
    if v0 == v1:
        return
    if v1 < v0:
        u0, v0, u1, v1 = u1, v1, u0, v0
        d = -d
    slope = (u1 - u0) / (v1 - v0)
    # rows whose centre r + 0.5 lies in [v0, v1)
    rlo = max(int(math.ceil(v0 - 0.5)), r0)
    rhi = min(int(math.ceil(v1 - 0.5)), r0 + nr)  # exclusive
    for r in range(rlo, rhi):
        vc = r + 0.5
        uc = u0 + (vc - v0) * slope
        # centres c + 0.5 < uc get +d
        j = int(math.ceil(uc - 0.5)) - c0
        if j > nc:
            j = nc
        if j > 0:
            full[r - r0, j] += d


@jit
def coverage(u, v, ring_offsets, ring_sign, poly_rings, poly_window, n_cols, center,
             cover, full, out_poly, out_pix, out_w):
    """Sparse coverage of the cells of one window by many polygons.

    u, v            float64 vertex coordinates in window pixel coordinates, rings closed
    ring_offsets    int64 (n_rings + 1,): ring k is vertices ring_offsets[k]:ring_offsets[k+1]
    ring_sign       float64 (n_rings,): +1 exterior ring, -1 hole
    poly_rings      int64 (n_poly + 1,): polygon p owns rings poly_rings[p]:poly_rings[p+1]
    poly_window     int64 (n_poly, 4): row0, row1, col0, col1 (exclusive) of the polygon's
                    bounding box clipped to the window; empty -> skipped
    n_cols          columns of the window (pixel index = row * n_cols + col)
    center          False: coverage fraction; True: 1 where the cell centre is inside
    cover, full     float64 scratch, at least (max rows) x (max cols + 1) of any polygon
    out_*           outputs sized Σ bbox cells: polygon (local index), pixel, weight
    Returns the number of outputs written.
    """
    n = 0
    for p in range(poly_rings.shape[0] - 1):
        r0 = poly_window[p, 0]
        r1 = poly_window[p, 1]
        c0 = poly_window[p, 2]
        c1 = poly_window[p, 3]
        nr = r1 - r0
        nc = c1 - c0
        if nr <= 0 or nc <= 0:
            continue
        for i in range(nr):
            for j in range(nc + 1):
                full[i, j] = 0.0
                if j < nc:
                    cover[i, j] = 0.0
        for k in range(poly_rings[p], poly_rings[p + 1]):
            a = ring_offsets[k]
            b = ring_offsets[k + 1]
            o = _ring_orientation(u, v, a, b)
            if o == 0.0:
                continue
            d = o * ring_sign[k]
            for e in range(a, b - 1):
                if center:
                    _edge_center(u[e], v[e], u[e + 1], v[e + 1], d, r0, c0, nr, nc, full)
                else:
                    _edge_fraction(u[e], v[e], u[e + 1], v[e + 1], d, r0, c0, nr, nc, cover, full)
        for i in range(nr):
            acc = full[i, nc]
            for j in range(nc - 1, -1, -1):
                w = acc if center else cover[i, j] + acc
                acc += full[i, j]
                if center:
                    w = 1.0 if w > 0.5 else 0.0
                elif w > 1.0 - FRACTION_EPS:
                    w = 1.0
                if w > FRACTION_EPS:
                    out_poly[n] = p
                    out_pix[n] = (r0 + i) * n_cols + (c0 + j)
                    out_w[n] = w
                    n += 1
    return n


@jit
def weighted_quantiles(starts, values, weights, qs, out):
    """exactextract's weighted quantiles of sorted runs.

    Group g's values are ``values[starts[g]:starts[g+1]]``, sorted ascending, with positive
    ``weights``.  Equal values are merged first (their weights summed), giving n distinct
    values x_i with weights w_i and running sums C_i; with

        s_0 = 0,  s_i = i·w_i + (n - 1)·C_{i-1}   (i = 1..n-1),

    quantile q is x_i where s_i first reaches q·s_{n-1}, linearly interpolated between
    (s_{i-1}, x_{i-1}) and (s_i, x_i) (exactextract's ``WeightedQuantiles``; with equal
    weights it is the usual type-7 quantile).  ``out`` (n_groups, n_q), NaN for an empty
    group.  ``values`` and ``weights`` are overwritten (ties merged in place).
    """
    n_q = qs.shape[0]
    for g in range(starts.shape[0] - 1):
        a = starts[g]
        b = starts[g + 1]
        if b <= a:
            for q in range(n_q):
                out[g, q] = np.nan
            continue
        # merge ties in place: values[a:a+m], weights[a:a+m]
        m = 0
        for i in range(a, b):
            if m > 0 and values[i] == values[a + m - 1]:
                weights[a + m - 1] += weights[i]
            else:
                values[a + m] = values[i]
                weights[a + m] = weights[i]
                m += 1
        # s_i overwrites weights as we go (C_{i-1} is carried in ``cum``)
        cum = 0.0
        for i in range(m):
            w = weights[a + i]
            s = 0.0 if i == 0 else i * w + (m - 1) * cum
            cum += w
            weights[a + i] = s
        total = weights[a + m - 1]
        for q in range(n_q):
            want = qs[q] * total
            # first i with s_i >= want (s is non-decreasing)
            lo = 0
            hi = m
            while lo < hi:
                mid = (lo + hi) // 2
                if weights[a + mid] < want:
                    lo = mid + 1
                else:
                    hi = mid
            if lo >= m:
                out[g, q] = values[a + m - 1]
            elif lo == 0:
                out[g, q] = values[a]
            else:
                sl = weights[a + lo - 1]
                sr = weights[a + lo]
                xl = values[a + lo - 1]
                xr = values[a + lo]
                out[g, q] = xl + (want - sl) * (xr - xl) / (sr - sl)
