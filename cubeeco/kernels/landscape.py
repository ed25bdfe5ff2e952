"""Landscape-pattern kernels (FRAGSTATS metrics, seed 004 Table 2): pure numba on numpy arrays.

Two families, both on a raster of *local class indices* ``cls`` (int32, 0 .. L-1, and -1
for nodata) that the ops layer makes from the class codes:

* :func:`block_patches` -- one block of a (possibly chunked) raster: patch labels by a
  union-find in one raster scan (4- or 8-neighbour rule), per-patch area and like
  adjacencies, and the double-count 4-neighbour adjacency matrix of the block.  The ops
  layer merges blocks with :func:`union_pairs` / :func:`find_roots` (patches that touch
  across block edges), so the metrics do not depend on the chunking.
* :func:`window_metrics` -- moving-window metric maps.  Class counts, like / unlike
  adjacencies and the class-pair adjacency matrix are updated incrementally while the
  window slides along a row (the entering column is added, the leaving one removed:
  2(2R+1) cell and pair updates per pixel instead of the window's area); patch counts
  (NP, PD), the largest patch (LPI) and Σ perimeter·√area (COHESION) of the window-clipped
  raster come, for square
  (rectangular) windows, from :mod:`cubeeco.kernels.window_patches` (exact, O(R) per pixel:
  growing pieces on either side of separator columns, joined at the seam); for circles
  from a labelling of each window (a union-find over its cells, O(R²) per pixel).

Windows are given as 2R+1 row half-widths (``cubeeco.kernels.eg.window_half_widths``),
clipped at the block's edges (the raster's edges for a ``map_overlap`` block with
``boundary="none"``).

Helpers never allocate (``_nrt=False``, see ``_gufunc``): the Python wrappers here size and
allocate the scratch once per block.
"""

from __future__ import annotations

import math

import numpy as np

from ._gufunc import jit
from .window_patches import _find, patch_term, rect_patches, term_scale  # _find: the one union-find

# rows of the window_metrics output, in this order
WINDOW_METRICS = ("NP", "PD", "LPI", "ED", "TE", "SHDI", "SHEI", "SIDI", "PR", "CONTAG", "PLADJ", "LSI", "AI",
                  "COHESION")


def max_like(n):
    """Largest number of like adjacencies (single count) of n cells of one class: FRAGSTATS' max g_ii (AI).

    n = s² + r (s = ⌊√n⌋): 2s(s−1) for r = 0, 2s(s−1) + 2r − 1 for r <= s, else 2s(s−1) + 2r − 2
    (the cells packed as a square plus a partial row).  Integer arithmetic (no float √).
    """
    n = np.asarray(n, np.int64)
    s = np.array([math.isqrt(int(v)) for v in n.ravel()], np.int64).reshape(n.shape)
    r = n - s * s
    base = 2 * s * (s - 1)
    return np.where(r == 0, base, np.where(r <= s, base + 2 * r - 1, base + 2 * r - 2))


# ------------------------------------------------------------------ union-find
@jit
def _union(parent, a, b):
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra != rb:
        # the smaller index becomes the root: roots are then the first cell in scan order
        if ra < rb:
            parent[rb] = ra
        else:
            parent[ra] = rb


@jit
def _union_pairs(parent, a, b):
    for k in range(a.shape[0]):
        _union(parent, a[k], b[k])


def union_pairs(parent, a, b):
    """Merge the sets of ``a[k]`` and ``b[k]`` for every k (in place on ``parent``, int64)."""
    _union_pairs(parent, np.ascontiguousarray(a, np.int64), np.ascontiguousarray(b, np.int64))


@jit
def _find_roots(parent, out):
    for i in range(parent.shape[0]):
        out[i] = _find(parent, i)


def find_roots(parent):
    """The root of every element of a union-find ``parent`` array (int64)."""
    out = np.empty(parent.shape[0], np.int64)
    _find_roots(parent, out)
    return out


# ------------------------------------------------------------------ patches of one block
@jit
def _block_patches(cls, eight, parent, labels, p_cls, p_area, p_like, adj):
    n, m = cls.shape
    # pass 1: provisional sets over cell indices; a valid cell joins its already-seen
    # neighbours of the same class (W, N, and NW, NE for the 8-neighbour rule)
    for i in range(n):
        for j in range(m):
            k = i * m + j
            parent[k] = k
            c = cls[i, j]
            if c < 0:
                continue
            if j > 0 and cls[i, j - 1] == c:
                _union(parent, k, k - 1)
            if i > 0:
                if cls[i - 1, j] == c:
                    _union(parent, k, k - m)
                if eight:
                    if j > 0 and cls[i - 1, j - 1] == c:
                        _union(parent, k, k - m - 1)
                    if j + 1 < m and cls[i - 1, j + 1] == c:
                        _union(parent, k, k - m + 1)
    # pass 2: compact labels 1..P in scan order (a root precedes its members), stats
    n_p = 0
    for i in range(n):
        for j in range(m):
            k = i * m + j
            c = cls[i, j]
            if c < 0:
                labels[i, j] = 0
                continue
            r = _find(parent, k)
            if r == k:
                n_p += 1
                labels[i, j] = n_p
                p_cls[n_p] = c
                p_area[n_p] = 0
                p_like[n_p] = 0
            else:
                labels[i, j] = labels[r // m, r % m]
            lab = labels[i, j]
            p_area[lab] += 1
    # adjacency: every 4-neighbour pair inside the block once, recorded both ways
    # (FRAGSTATS' double count); like pairs also per patch; nodata is index L
    nd = adj.shape[0] - 1
    for i in range(n):
        for j in range(m):
            c = cls[i, j]
            a = c if c >= 0 else nd
            if j + 1 < m:
                d = cls[i, j + 1]
                b = d if d >= 0 else nd
                adj[a, b] += 1
                adj[b, a] += 1
                if c >= 0 and d == c:
                    p_like[labels[i, j]] += 1
            if i + 1 < n:
                d = cls[i + 1, j]
                b = d if d >= 0 else nd
                adj[a, b] += 1
                adj[b, a] += 1
                if c >= 0 and d == c:
                    p_like[labels[i, j]] += 1
    return n_p


def block_patches(cls, n_classes: int, eight: bool):
    """Patches and adjacencies of one block of local class indices (``-1`` nodata).

    Returns ``(labels, p_cls, p_area, p_like, adj)``: labels (int64, 0 for nodata, patches
    1..P in scan order); per patch (index p-1) its class index, area in cells and like
    adjacencies (4-neighbour pairs of its own cells, counted once); and ``adj``, the
    (L+1, L+1) double-count 4-neighbour adjacency matrix of the block (index L: nodata).
    """
    cls = np.ascontiguousarray(cls, np.int32)
    n, m = cls.shape
    size = n * m
    parent = np.empty(size, np.int64)
    labels = np.empty((n, m), np.int64)
    p_cls = np.empty(size + 1, np.int64)
    p_area = np.empty(size + 1, np.int64)
    p_like = np.empty(size + 1, np.int64)
    adj = np.zeros((n_classes + 1, n_classes + 1), np.int64)
    n_p = _block_patches(cls, bool(eight), parent, labels, p_cls, p_area, p_like, adj) if size else 0
    return labels, p_cls[1:n_p + 1].copy(), p_area[1:n_p + 1].copy(), p_like[1:n_p + 1].copy(), adj


# ------------------------------------------------------------------ moving windows
@jit
def _add_cell(c, w, counts, state):
    # state: 0 valid cells, 2 Σ n², 3 classes present (integers: exact in float64, so
    # the result does not depend on where the slide started, i.e. on the chunking)
    a = counts[c]
    counts[c] = a + w
    state[0] += w
    state[2] += (a + w) * (a + w) - a * a
    if a == 0 and w > 0:
        state[3] += 1
    elif a + w == 0:
        state[3] -= 1


@jit
def _add_pair(c, d, w, pairs, state, use_pairs):
    # one 4-neighbour pair of window cells; state 4: unlike pairs (edges), 5: like pairs
    if c < 0 or d < 0:
        return
    if c == d:
        state[5] += w
    else:
        state[4] += w
    if use_pairs:
        pairs[c, d] += w
        pairs[d, c] += w


@jit
def _window_patches(cls, i, j, half, eight, parent, size, cell_like, p_like, want_t, scale):
    """Patches of the window-clipped raster: their number, the largest (cells) and, with
    ``want_t``, Σ patch_term (fixed-point perimeter·√area, for COHESION)."""
    n, m = cls.shape
    k = half.shape[0]
    r = (k - 1) // 2
    wd = size.shape[0] // k  # scratch row stride: 2 rx + 1
    rx = (wd - 1) // 2
    for t in range(k):
        h = half[t]
        ii = i + t - r
        if h < 0 or ii < 0 or ii >= n:
            continue
        for dx in range(-h, h + 1):
            jj = j + dx
            if jj < 0 or jj >= m:
                continue
            c = cls[ii, jj]
            q = t * wd + dx + rx
            parent[q] = q
            size[q] = 0
            p_like[q] = 0
            cell_like[q] = 0
            if c < 0:
                continue
            # neighbours already visited: W in this row; N (NW, NE) in the row above,
            # if they are inside the window and the block
            if dx > -h and jj > 0 and cls[ii, jj - 1] == c:
                _union(parent, q, q - 1)
                cell_like[q] += 1
            if t > 0 and ii > 0 and half[t - 1] >= 0:
                hp = half[t - 1]
                for e in range(-1, 2):
                    if e != 0 and not eight:
                        continue
                    de = dx + e
                    je = jj + e
                    if de < -hp or de > hp or je < 0 or je >= m:
                        continue
                    if cls[ii - 1, je] == c:
                        _union(parent, q, q - wd + e)
                        if e == 0:
                            cell_like[q] += 1
    n_patches = 0
    largest = 0
    tsum = 0
    for t in range(k):
        h = half[t]
        ii = i + t - r
        if h < 0 or ii < 0 or ii >= n:
            continue
        for dx in range(-h, h + 1):
            jj = j + dx
            if jj < 0 or jj >= m or cls[ii, jj] < 0:
                continue
            q = t * wd + dx + rx
            root = _find(parent, q)
            if root == q:
                n_patches += 1
            size[root] += 1
            p_like[root] += cell_like[q]
            if size[root] > largest:
                largest = size[root]
    if want_t:
        # in the window's own cell order: the same integers whatever the block
        for t in range(k):
            h = half[t]
            ii = i + t - r
            if h < 0 or ii < 0 or ii >= n:
                continue
            for dx in range(-h, h + 1):
                jj = j + dx
                if jj < 0 or jj >= m or cls[ii, jj] < 0:
                    continue
                q = t * wd + dx + rx
                if parent[q] == q:
                    tsum += patch_term(size[q], p_like[q], scale)
    return n_patches, largest, tsum


@jit
def _slide_row(cls, i, j, half, w, counts, pairs, state, use_pairs):
    """Add (w=1) or remove (w=-1) the window's leftmost column at centre (i, j)."""
    n, m = cls.shape
    k = half.shape[0]
    r = (k - 1) // 2
    for t in range(k):
        h = half[t]
        ii = i + t - r
        if h < 0 or ii < 0 or ii >= n:
            continue
        jj = j - h
        if jj >= 0 and jj < m:
            c = cls[ii, jj]
            if c >= 0:
                _add_cell(c, w, counts, state)
            # the horizontal pair (jj, jj+1) is inside the window iff h > 0
            if h > 0 and jj + 1 < m:
                _add_pair(c, cls[ii, jj + 1], w, pairs, state, use_pairs)
        # vertical pair with the next window row, in the columns both rows cover
        if t + 1 < k and ii + 1 < n and half[t + 1] >= 0:
            hv = min(h, half[t + 1])
            jv = j - hv
            if jv >= 0 and jv < m:
                _add_pair(cls[ii, jv], cls[ii + 1, jv], w, pairs, state, use_pairs)


@jit
def _slide_right(cls, i, j, half, w, counts, pairs, state, use_pairs):
    """Add (w=1) or remove (w=-1) the window's rightmost column at centre (i, j)."""
    n, m = cls.shape
    k = half.shape[0]
    r = (k - 1) // 2
    for t in range(k):
        h = half[t]
        ii = i + t - r
        if h < 0 or ii < 0 or ii >= n:
            continue
        jj = j + h
        if jj >= 0 and jj < m:
            c = cls[ii, jj]
            if c >= 0:
                _add_cell(c, w, counts, state)
            if h > 0 and jj - 1 >= 0:
                _add_pair(cls[ii, jj - 1], c, w, pairs, state, use_pairs)
        if t + 1 < k and ii + 1 < n and half[t + 1] >= 0:
            hv = min(h, half[t + 1])
            jv = j + hv
            if jv >= 0 and jv < m:
                _add_pair(cls[ii, jv], cls[ii + 1, jv], w, pairs, state, use_pairs)


@jit
def _window_fill(cls, i, j, half, counts, pairs, state, use_pairs):
    """The full window at centre (i, j), from empty state (first pixel of a row)."""
    n, m = cls.shape
    k = half.shape[0]
    r = (k - 1) // 2
    for t in range(k):
        h = half[t]
        ii = i + t - r
        if h < 0 or ii < 0 or ii >= n:
            continue
        hv = min(h, half[t + 1]) if t + 1 < k else -1
        for dx in range(-h, h + 1):
            jj = j + dx
            if jj < 0 or jj >= m:
                continue
            c = cls[ii, jj]
            if c >= 0:
                _add_cell(c, 1, counts, state)
            if dx < h and jj + 1 < m:
                _add_pair(c, cls[ii, jj + 1], 1, pairs, state, use_pairs)
            if hv >= 0 and dx >= -hv and dx <= hv and ii + 1 < n:
                _add_pair(c, cls[ii + 1, jj], 1, pairs, state, use_pairs)


@jit
def _window_metrics(cls, half, eight, want, cell_size, xlogx, maxlike, scale, counts, pairs, state, parent, size,
                    cell_like, p_like, pre, pre_np, pre_big, pre_t, out):
    n, m = cls.shape
    n_cls = counts.shape[0]
    use_pairs = want[9] or want[10] or want[12]
    want_t = want[13]
    use_labels = want[0] or want[1] or want[2] or want_t
    cell_area = cell_size * cell_size
    for i in range(n):
        for c in range(n_cls):
            counts[c] = 0
            if use_pairs:
                for d in range(n_cls):
                    pairs[c, d] = 0
        for s in range(state.shape[0]):
            state[s] = 0
        for j in range(m):
            if j == 0:
                _window_fill(cls, i, j, half, counts, pairs, state, use_pairs)
            else:
                # slide one column right: drop the leftmost column of the old window,
                # take in the rightmost column of the new one
                _slide_row(cls, i, j - 1, half, -1, counts, pairs, state, use_pairs)
                _slide_right(cls, i, j, half, 1, counts, pairs, state, use_pairs)
            nv = state[0]
            if cls[i, j] < 0 or nv <= 0:
                for q in range(out.shape[0]):
                    out[q, i, j] = np.nan
                continue
            area = nv * cell_area  # m²
            tsum = 0
            if use_labels:
                if pre:
                    # rectangular window: counted for the whole block beforehand (window_patches)
                    n_p = pre_np[i, j]
                    largest = pre_big[i, j]
                    if want_t:
                        tsum = pre_t[i, j]
                else:
                    n_p, largest, tsum = _window_patches(cls, i, j, half, eight, parent, size, cell_like, p_like,
                                                         want_t, scale)
                out[0, i, j] = n_p
                out[1, i, j] = n_p / area * 1.0e6  # per 100 ha
                out[2, i, j] = 100.0 * largest / nv
            te = state[4] * cell_size
            out[3, i, j] = te / area * 1.0e4  # m/ha
            out[4, i, j] = te
            # Σ n ln n summed afresh (K terms): a running float sum would carry rounding
            # that depends on where the row's slide began, i.e. on the chunking
            sx = 0.0
            for c in range(n_cls):
                sx += xlogx[counts[c]]
            shdi = math.log(nv) - sx / nv
            if shdi < 0.0:
                shdi = 0.0  # rounding of Σ n ln n when one class fills the window
            out[5, i, j] = shdi
            pr = state[3]
            out[6, i, j] = shdi / math.log(pr) if pr > 1 else 0.0
            out[7, i, j] = 1.0 - state[2] / (nv * nv)
            out[8, i, j] = pr
            if want[9]:
                if pr < 2:
                    out[9, i, j] = np.nan
                else:
                    s = 0.0
                    for c in range(n_cls):
                        if counts[c] == 0:
                            continue
                        gi = 0
                        for d in range(n_cls):
                            gi += pairs[c, d]
                        if gi == 0:
                            continue
                        p_i = counts[c] / nv
                        for d in range(n_cls):
                            g = pairs[c, d]
                            if g > 0:
                                x = p_i * g / gi
                                s += x * math.log(x)
                    out[9, i, j] = 100.0 * (1.0 + s / (2.0 * math.log(pr)))
            if want[10]:
                tot = state[4] + state[5]
                out[10, i, j] = 100.0 * state[5] / tot if tot > 0 else np.nan
            # E*: every side of the window's valid cells not shared with a like cell, once
            # (window boundary and nodata included, as FRAGSTATS' landscape LSI)
            e_star = 4.0 * nv - 2.0 * state[5] - state[4]
            out[11, i, j] = 0.25 * e_star / math.sqrt(nv)
            if want[12]:
                # Σ_i P_i g_ii / max g_ii over the classes in code order (as landscape_metrics);
                # a one-cell class (max g_ii = 0) adds nothing
                s = 0.0
                for c in range(n_cls):
                    a = counts[c]
                    if a > 0 and maxlike[a] > 0:
                        s += (a / nv) * (0.5 * pairs[c, c] / maxlike[a])
                out[12, i, j] = 100.0 * s
            if want_t:
                # Σ p_ij = 4 Z − 2 (like pairs): the patches' perimeters, boundary included
                sum_ps = tsum / scale
                if nv > 1 and sum_ps > 0:
                    sum_p = 4.0 * nv - 2.0 * state[5]
                    out[13, i, j] = 100.0 * (1.0 - sum_p / sum_ps) / (1.0 - 1.0 / math.sqrt(nv))
                else:
                    out[13, i, j] = np.nan


def window_metrics(cls, n_classes: int, half, metrics, cell_size: float, eight: bool = True, *,
                   relabel: bool = False):
    """Moving-window metric maps of one block of local class indices (``-1`` nodata).

    ``half``: 2R+1 row half-widths (pixels); ``metrics``: names from
    :data:`WINDOW_METRICS`; returns a float64 array (len(metrics), n, m), NaN where the
    centre pixel is nodata.  Every window is its own landscape: the raster clipped to the
    window (cells outside it do not exist for that window).

    NP / PD / LPI / COHESION of a rectangular window (all half-widths equal: ``shape="square"``) come
    from the O(R)-per-pixel separator algorithm (:mod:`cubeeco.kernels.window_patches`);
    other shapes, or ``relabel=True`` (the reference / benchmark path), label every
    window's cells (O(R²) per pixel).  Both give the same integers.
    """
    cls = np.ascontiguousarray(cls, np.int32)
    half = np.ascontiguousarray(half, np.int64)
    n, m = cls.shape
    want = np.array([name in metrics for name in WINDOW_METRICS], np.bool_)
    k = half.shape[0]
    rx = int(half.max()) if k else 0
    wcells = k * (2 * rx + 1)
    nmax = wcells + 1
    xlogx = np.zeros(nmax + 1, np.float64)
    xs = np.arange(1, nmax + 1, dtype=np.float64)
    xlogx[1:] = xs * np.log(xs)
    counts = np.zeros(max(n_classes, 1), np.int64)
    pairs = np.zeros((max(n_classes, 1),) * 2 if want[9] or want[10] or want[12] else (1, 1), np.int64)
    maxlike = max_like(np.arange(nmax + 1)) if want[12] else np.zeros(1, np.int64)
    scale = term_scale(wcells) if want[13] else 1.0
    state = np.zeros(6, np.float64)
    parent = np.empty(wcells, np.int64)
    size = np.empty(wcells, np.int64)
    cell_like = np.empty(wcells, np.int64)
    p_like = np.empty(wcells, np.int64)
    full = np.empty((len(WINDOW_METRICS), n, m), np.float64)
    pre = bool(k and (want[0] or want[1] or want[2] or want[13]) and not relabel and (half == rx).all())
    pre_np = pre_big = pre_t = np.zeros((1, 1), np.int64)
    if pre and n and m:
        if want[13]:
            pre_np, pre_big, pre_t = rect_patches(cls, (k - 1) // 2, rx, eight, scale=scale)
        else:
            pre_np, pre_big = rect_patches(cls, (k - 1) // 2, rx, eight)
    if n and m:
        _window_metrics(cls, half, bool(eight), want, float(cell_size), xlogx, maxlike, scale, counts, pairs, state,
                        parent, size, cell_like, p_like, pre, pre_np, pre_big, pre_t, full)
    return full[[WINDOW_METRICS.index(name) for name in metrics]]


__all__ = ["WINDOW_METRICS", "block_patches", "find_roots", "max_like", "union_pairs", "window_metrics"]
