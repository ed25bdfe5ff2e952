"""Exact patch counts (NP), largest patch (LPI) and Σ p·√a (COHESION) of every rectangular moving window.

The window is its own landscape (the raster clipped to the window: a patch that leaves the
window and comes back counts twice).  Relabelling every window costs its area per pixel,
O(R²); this module does it in O(R) per pixel with the separator ("two-stack") trick:

* for one row of window centres the window's rows are a fixed band of H <= 2R_y + 1 rows;
* separator columns s are W = 2R_x + 1 apart, so every window [j - R_x, j + R_x] holds exactly
  one of them, and splits into a left piece [j - R_x, s] and a right piece [s + 1, j + R_x];
* the left pieces of the W windows around s are nested: grow them from column s leftwards
  with a union-find (additions only), recording after every column the number of
  components, the largest one (a running max is exact: components only grow) and, per
  seam run, its component and that component's size; the right pieces likewise, growing
  from s + 1 rightwards;
* a window is then NP = NP_left + NP_right - (merges across the seam) and LPI from the
  largest of each piece and of the merged seam components: a union-find over the seam
  components, joined where same-class runs of columns s and s + 1 touch (sides; corners
  too for the 8-neighbour rule).
* COHESION (optional, ``scale > 0``) needs Σ p·√a over the window's patches: every piece
  component also keeps its like adjacencies (perimeter = 4 a − 2 like; a run brings its
  own vertical ones, side-by-side cells of two joined runs the horizontal ones) and the
  piece keeps Σ p·√a, updated on every merge; at the seam a merged patch has
  area = sum of the parts and perimeter = sum of the parts − 2 × the seam edges they share,
  and its term replaces its parts'.  The terms are fixed-point integers
  (:func:`patch_term`, :func:`term_scale`), so the sum is exact and order-free: it does not
  depend on where the separators fall, i.e. on the chunking.

The union-find nodes are the vertical runs of one class in each column of the band (a run
is one piece of a patch already), not cells: on a land-cover map a 67-row band column has a
handful of runs, so the work per pixel follows the patchiness, O(R) at worst (salt and
pepper).  The runs are made once per row of centres by a row-major sweep.

Cells outside the raster behave as nodata (nodata is no patch and joins nothing), which is
exactly the window clipped at the raster's (block's) edges.  Integer counts only, so the
result equals a per-window labelling exactly and does not depend on the chunking.
Scratch comes from :func:`rect_patches` (``_nrt=False`` helpers never allocate).
"""

from __future__ import annotations

import math

import numpy as np

from ._gufunc import jit


@jit
def _find(parent, i):
    # path halving: every visited node points to its grandparent
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@jit
def _merge(parent, size, a, b):
    """Join the sets of a and b (union by size); the joined size, or 0 if already one set."""
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra == rb:
        return 0
    if size[ra] < size[rb]:
        ra, rb = rb, ra
    parent[rb] = ra
    size[ra] += size[rb]
    return size[ra]


def term_scale(window_cells: int) -> float:
    """Fixed-point scale 2^k for Σ perimeter·√area (COHESION) of windows of up to ``window_cells`` cells.

    Every patch's p·√a is rounded to an integer multiple of 2^-k and summed as int64: an
    exact, order-free sum, so the window's value does not depend on how its patches were
    grouped (separator position, i.e. the chunking).  Σ p√a <= 4 N^1.5 must fit in 2^62.
    """
    bound = 4.0 * max(int(window_cells), 1) ** 1.5
    k = min(52, int(math.floor(62 - math.log2(bound))))
    if k < 20:
        raise ValueError(f"a window of {window_cells} cells is too large for an exact COHESION sum "
                         f"(at most 2^26 cells, e.g. 8191 x 8191).")
    return float(2.0 ** k)


@jit
def patch_term(a, like, scale):
    """Fixed-point perimeter·√area of a patch of ``a`` cells with ``like`` inner 4-adjacencies."""
    return np.int64((4 * a - 2 * like) * math.sqrt(a) * scale + 0.5)


@jit
def _band_runs(cls, r0, h, rs, re, rc, nr):
    """Vertical runs of one class in every column of the band rows r0 .. r0+h-1.

    Run k of column c covers band rows rs[c, k] <= t < re[c, k], class rc[c, k]; nr[c] runs.
    Row-major sweep (the raster's memory order): a cell extends its column's last run when
    the cell above has the same class.
    """
    m = cls.shape[1]
    for c in range(m):
        nr[c] = 0
    for t in range(h):
        for c in range(m):
            v = cls[r0 + t, c]
            if v < 0:
                continue
            if t > 0 and cls[r0 + t - 1, c] == v:
                re[c, nr[c] - 1] = t + 1
            else:
                k = nr[c]
                rs[c, k] = t
                re[c, k] = t + 1
                rc[c, k] = v
                nr[c] = k + 1


@jit
def _grow(rs, re, rc, nr, m, h, seam, step, width, x, parent, size, like, stamp, first, tick, want_t, scale,
          out_np, out_max, out_t, out_root, out_size, out_like):
    """Grow a piece column by column from ``seam`` (step -1: leftwards, +1: rightwards).

    Nodes are the vertical runs (node e * h + k: run k of the e-th column).  After the e-th
    column record in row e of the outputs: components, largest component (cells) and, per
    seam run k, its component as the first seam run that belongs to it and that component's
    size.  With ``want_t`` also Σ patch_term over the components (``out_t``) and each seam
    component's inner like adjacencies (``out_like``; perimeter = 4 size - 2 like).
    """
    n_p = 0
    big = 0
    tsum = 0
    lk = 0
    for e in range(width):
        c = seam + step * e
        if c >= 0 and c < m:
            base = e * h
            for k in range(nr[c]):
                q = base + k
                parent[q] = q
                a = re[c, k] - rs[c, k]
                size[q] = a
                n_p += 1
                if a > big:
                    big = a
                if want_t:
                    like[q] = a - 1  # the run's own vertical adjacencies
                    tsum += patch_term(a, a - 1, scale)
            pc = c - step
            if e > 0 and pc >= 0 and pc < m:
                # runs of the previous column that touch a run of this one (sorted sweep)
                b0 = 0
                nb = nr[pc]
                pbase = base - h
                for k in range(nr[c]):
                    s1 = rs[c, k]
                    e1 = re[c, k]
                    v = rc[c, k]
                    while b0 < nb and re[pc, b0] + x <= s1:
                        b0 += 1
                    b = b0
                    while b < nb and rs[pc, b] < e1 + x:
                        if rc[pc, b] == v:
                            if want_t:
                                # side-by-side cells of the two runs: like adjacencies (0 for a
                                # corner-only touch under the 8 rule)
                                ov = min(e1, re[pc, b]) - max(s1, rs[pc, b])
                                if ov < 0:
                                    ov = 0
                                ra = _find(parent, base + k)
                                rb = _find(parent, pbase + b)
                                tsum -= patch_term(size[ra], like[ra], scale)
                                if ra != rb:
                                    tsum -= patch_term(size[rb], like[rb], scale)
                                    lk = like[ra] + like[rb] + ov
                                else:
                                    lk = like[ra] + ov
                            sz = _merge(parent, size, base + k, pbase + b)
                            if sz > 0:
                                n_p -= 1
                                if sz > big:
                                    big = sz
                            if want_t:
                                r = _find(parent, base + k)
                                like[r] = lk
                                tsum += patch_term(size[r], lk, scale)
                        b += 1
        out_np[e] = n_p
        out_max[e] = big
        out_t[e] = tsum
        if seam < 0 or seam >= m:
            continue
        # seam components: canonical id = first seam run of the component (a stamp per
        # record instead of clearing a per-node table)
        tick[0] += 1
        t = tick[0]
        for k in range(nr[seam]):
            root = _find(parent, k)
            if stamp[root] != t:
                stamp[root] = t
                first[root] = k
            out_root[e, k] = first[root]
            out_size[e, k] = size[root]
            if want_t:
                out_like[e, k] = like[root]


@jit
def _join(nl, nrr, n_pairs, pa, pb, pov, el, er, l_np, l_max, l_t, l_root, l_size, l_like, r_np, r_max, r_t,
          r_root, r_size, r_like, want_t, scale, sp, acc, accl):
    """NP, largest patch and Σ patch_term of the window of left extent el and right extent er (-1: none)."""
    n_p = l_np[el]
    big = l_max[el]
    tsum = l_t[el]
    if er < 0:
        return n_p, big, tsum
    n_p += r_np[er]
    tsum += r_t[er]
    if r_max[er] > big:
        big = r_max[er]
    if n_pairs == 0:
        return n_p, big, tsum
    for t in range(nl + nrr):
        sp[t] = t
    merges = 0
    for p in range(n_pairs):
        a = _find(sp, l_root[el, pa[p]])
        b = _find(sp, nl + r_root[er, pb[p]])
        if a != b:
            sp[b] = a
            merges += 1
    if merges == 0:
        return n_p, big, tsum
    for t in range(nl + nrr):
        acc[t] = 0
        accl[t] = 0
    # every seam component's term is replaced by its merged group's (exact integers: a
    # group of one gives back what it took)
    for k in range(nl):
        if l_root[el, k] == k:
            g = _find(sp, k)
            acc[g] += l_size[el, k]
            if want_t:
                accl[g] += l_like[el, k]
                tsum -= patch_term(l_size[el, k], l_like[el, k], scale)
    for k in range(nrr):
        if r_root[er, k] == k:
            g = _find(sp, nl + k)
            acc[g] += r_size[er, k]
            if want_t:
                accl[g] += r_like[er, k]
                tsum -= patch_term(r_size[er, k], r_like[er, k], scale)
    if want_t:
        # like adjacencies across the seam: perimeter of the merged patch = sum of the
        # parts - 2 x the seam edges they share
        for p in range(n_pairs):
            accl[_find(sp, l_root[el, pa[p]])] += pov[p]
    for t in range(nl + nrr):
        if acc[t] > big:
            big = acc[t]
        if want_t and acc[t] > 0 and _find(sp, t) == t:
            tsum += patch_term(acc[t], accl[t], scale)
    return n_p - merges, big, tsum


@jit
def row_patches(cls, i, ry, rx, eight, rs, re, rc, nr, parent, size, like, stamp, first, tick, want_t, scale,
                l_np, l_max, l_t, l_root, l_size, l_like, r_np, r_max, r_t, r_root, r_size, r_like, pa, pb, pov,
                sp, acc, accl, out_np, out_big, out_t):
    """NP, largest patch (cells) and Σ patch_term of the (2ry+1) x (2rx+1) windows centred on row i.

    Fills ``out_np[j]``, ``out_big[j]`` (and ``out_t[j]`` with ``want_t``) for every column j
    whose centre is valid (others are left as they were).
    """
    n, m = cls.shape
    r0 = max(0, i - ry)
    h = min(n, i + ry + 1) - r0
    w = 2 * rx + 1
    x = 1 if eight else 0
    _band_runs(cls, r0, h, rs, re, rc, nr)
    s = rx  # windows j in [s - rx, s + rx] all contain the separator s
    while s - rx < m:
        j0 = s - rx
        j1 = min(m, s + rx + 1)
        any_valid = False
        for j in range(j0, j1):
            if cls[i, j] >= 0:
                any_valid = True
                break
        if any_valid:
            _grow(rs, re, rc, nr, m, h, s, -1, w, x, parent, size, like, stamp, first, tick, want_t, scale,
                  l_np, l_max, l_t, l_root, l_size, l_like)
            n_pairs = 0
            nl = nr[s] if s < m else 0
            nrr = nr[s + 1] if s + 1 < m else 0
            if rx > 0:
                _grow(rs, re, rc, nr, m, h, s + 1, 1, w - 1, x, parent, size, like, stamp, first, tick, want_t,
                      scale, r_np, r_max, r_t, r_root, r_size, r_like)
                # seam runs that touch across the seam (the same sweep as in _grow)
                b0 = 0
                for k in range(nl):
                    s1 = rs[s, k]
                    e1 = re[s, k]
                    v = rc[s, k]
                    while b0 < nrr and re[s + 1, b0] + x <= s1:
                        b0 += 1
                    b = b0
                    while b < nrr and rs[s + 1, b] < e1 + x:
                        if rc[s + 1, b] == v:
                            pa[n_pairs] = k
                            pb[n_pairs] = b
                            ov = min(e1, re[s + 1, b]) - max(s1, rs[s + 1, b])
                            pov[n_pairs] = ov if ov > 0 else 0
                            n_pairs += 1
                        b += 1
            for j in range(j0, j1):
                if cls[i, j] < 0:
                    continue
                # left piece [j - rx, s]: extent s - j + rx; right piece [s + 1, j + rx]
                n_p, big, tsum = _join(nl, nrr, n_pairs, pa, pb, pov, s - j + rx, j + rx - s - 1, l_np, l_max, l_t,
                                       l_root, l_size, l_like, r_np, r_max, r_t, r_root, r_size, r_like, want_t,
                                       scale, sp, acc, accl)
                out_np[j] = n_p
                out_big[j] = big
                out_t[j] = tsum
        s += w


@jit
def _rect_patches(cls, ry, rx, eight, rs, re, rc, nr, parent, size, like, stamp, first, tick, want_t, scale,
                  l_np, l_max, l_t, l_root, l_size, l_like, r_np, r_max, r_t, r_root, r_size, r_like, pa, pb, pov,
                  sp, acc, accl, out_np, out_big, out_t):
    for i in range(cls.shape[0]):
        row_patches(cls, i, ry, rx, eight, rs, re, rc, nr, parent, size, like, stamp, first, tick, want_t, scale,
                    l_np, l_max, l_t, l_root, l_size, l_like, r_np, r_max, r_t, r_root, r_size, r_like, pa, pb,
                    pov, sp, acc, accl, out_np[i], out_big[i], out_t[i])


def rect_patches(cls, ry: int, rx: int, eight: bool = True, *, scale: float = 0.0):
    """NP and largest patch (cells) of the (2ry+1) x (2rx+1) window around every cell.

    ``cls``: local class indices (int32, -1 nodata); windows are clipped at the array's
    edges.  Returns two int64 (n, m) arrays, 0 where the centre cell is nodata.  With
    ``scale > 0`` (see :func:`term_scale`) a third: Σ over the window's patches of
    ``patch_term`` (perimeter·√area in units of 1/scale, perimeters in cell sides, the
    window's boundary included) for COHESION.
    """
    cls = np.ascontiguousarray(cls, np.int32)
    ry, rx = int(ry), int(rx)
    if ry < 0 or rx < 0:
        raise ValueError(f"window radii must be >= 0 pixels, got ry={ry}, rx={rx}.")
    scale = float(scale)
    if not math.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number >= 0 (0: no COHESION sums), got {scale}.")
    want_t = scale > 0
    n, m = cls.shape
    h, w = 2 * ry + 1, 2 * rx + 1
    nodes = h * w
    i64 = np.int64
    out_np = np.zeros((n, m), i64)
    out_big = np.zeros((n, m), i64)
    out_t = np.zeros((n, m), i64)
    if n and m:
        hl = h if want_t else 1
        _rect_patches(cls, ry, rx, bool(eight), np.empty((m, h), i64), np.empty((m, h), i64),
                      np.empty((m, h), np.int32), np.zeros(m, i64), np.empty(nodes, i64), np.empty(nodes, i64),
                      np.empty(nodes, i64), np.full(nodes, -1, i64), np.empty(nodes, i64), np.zeros(1, i64),
                      want_t, scale,
                      np.empty(w, i64), np.empty(w, i64), np.empty(w, i64), np.empty((w, h), i64),
                      np.empty((w, h), i64), np.empty((w, hl), i64),
                      np.empty(w, i64), np.empty(w, i64), np.empty(w, i64), np.empty((w, h), i64),
                      np.empty((w, h), i64), np.empty((w, hl), i64),
                      np.empty(2 * h, i64), np.empty(2 * h, i64), np.empty(2 * h, i64),
                      np.empty(2 * h, i64), np.empty(2 * h, i64), np.empty(2 * h, i64),
                      out_np, out_big, out_t)
    return (out_np, out_big, out_t) if want_t else (out_np, out_big)


__all__ = ["patch_term", "rect_patches", "row_patches", "term_scale"]
