"""Geodetector (Wang & Xu 2017): factor, interaction, risk and ecological detectors.

Plain numpy/scipy/pandas: every per-stratum quantity is one ``np.bincount`` over integer
stratum codes, so the cost is a few passes over the observations per factor (and per pair
of factors for the interaction detector), never a Python loop over observations.

* :func:`geodetector` -- all four detectors on a table (``data=`` a DataFrame, ``y`` and
  ``factors`` column names) or on lazy 2-D DataArrays on one grid (pixels drawn with
  :func:`sample_pixels`).
* :func:`sample_pixels` -- a random sample of the pixels where every layer is valid, drawn
  chunk by chunk (two passes over the graph: a count per chunk, then the picked pixels).
* :func:`discretize` -- the class edges of one continuous factor ("quantile", "equal",
  "natural", "geometric").

Definitions (the q statistic, its non-central F test, the interaction rules, the risk t
tests, the ecological F test, the singleton rule and how each equals the ``geodetector``
package) are in docs/geodetector.md.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"x1": rng.normal(size=200), "lu": rng.integers(0, 3, 200)})
>>> df["y"] = df["x1"] + df["lu"] + rng.normal(scale=0.5, size=200)
>>> res = geodetector("y", ["x1", "lu"], data=df, k=4)
>>> res.factor[["factor", "n_strata"]].to_dict("list")
{'factor': ['x1', 'lu'], 'n_strata': [4, 3]}
>>> res.interaction["interaction"].tolist()
['nonlinear enhance']
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as _st

from ._checks import require_one_grid

METHODS = ("quantile", "equal", "natural", "geometric")
INTERACTION_TYPES = (
    "nonlinear weaken",    # q12 < min(q1, q2)
    "univariate weaken",   # min <= q12 <= max
    "bivariate enhance",   # max < q12 < q1 + q2
    "independent",         # q12 == q1 + q2 (within INDEPENDENT_ATOL)
    "nonlinear enhance",   # q12 > q1 + q2
)
# |q12 - (q1 + q2)| below this counts as "independent" (the geodetector package uses 1e-10)
INDEPENDENT_ATOL = 1e-10
# Fisher-Jenks is O(k n^2): above this many values the breaks are computed on a seeded sample
NATURAL_MAX_N = 10_000
# integer factors with at most min(MAX_LEVELS, sqrt(N)) distinct values are strata as they are
MAX_LEVELS = 20


# ------------------------------------------------------------------ discretisation
def discretize(x, method: str = "quantile", k: int = 5, *, seed: int = 0) -> np.ndarray:
    """Class edges ``[min, b1, ..., max]`` of a continuous factor.

    Classes are right-closed intervals ``(e[i], e[i+1]]``; the first one also holds the
    minimum (mapclassify's convention: ``np.digitize(x, e[1:-1], right=True)``).

    * ``"quantile"`` -- ``mapclassify.Quantiles`` (percentiles at 100/k, 200/k, ...; repeated
      edges from ties collapse, so fewer than k classes may result);
    * ``"equal"`` -- ``mapclassify.EqualInterval`` (k intervals of width (max - min) / k);
    * ``"natural"`` -- ``mapclassify.FisherJenks`` (exact optimal Jenks natural breaks; on more
      than :data:`NATURAL_MAX_N` values, on a seeded random sample of that size plus min and max);
    * ``"geometric"`` -- geometric interval: edges ``a * r**i`` with ``r = (max/min)**(1/k)`` for
      positive data; data with ``min <= 0`` are shifted by ``1 - min`` first (so the shifted
      minimum is 1) and the edges shifted back.

    ``k`` is capped at the number of distinct values.
    """
    import mapclassify

    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("discretize: no finite values to classify.")
    if method not in METHODS:
        raise ValueError(f"unknown discretization {method!r}; expected one of {METHODS} or user breaks=.")
    k = _positive_int(k, "k")
    lo, hi = float(x.min()), float(x.max())
    k = min(k, int(np.unique(x).size))
    if k < 2:
        return np.array([lo, hi])
    if method == "geometric":
        shift = 0.0 if lo > 0 else 1.0 - lo
        a, b = lo + shift, hi + shift
        edges = a * (b / a) ** (np.arange(k + 1) / k) - shift
        edges[0], edges[-1] = lo, hi  # exact ends (the power may round)
        return edges
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # mapclassify: "not enough unique values"
        if method == "quantile":
            bins = mapclassify.Quantiles(x, k=k).bins
        elif method == "equal":
            bins = mapclassify.EqualInterval(x, k=k).bins
        else:
            xs = x
            if x.size > NATURAL_MAX_N:
                rng = np.random.default_rng(seed)
                xs = np.concatenate([rng.choice(x, NATURAL_MAX_N - 2, replace=False), [lo, hi]])
            bins = np.asarray(mapclassify.FisherJenks(xs, k=k).bins, dtype=np.float64)
            bins[-1] = hi
    return np.concatenate([[lo], np.asarray(bins, dtype=np.float64)])


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _classify(x, edges):
    """Class index of each value; -1 outside [edges[0], edges[-1]] or not finite."""
    codes = np.digitize(x, edges[1:-1], right=True)
    bad = ~np.isfinite(x) | (x < edges[0]) | (x > edges[-1])
    codes[bad] = -1
    return codes


def _interval_labels(edges):
    out = []
    for i in range(len(edges) - 1):
        left = "[" if i == 0 else "("
        out.append(f"{left}{edges[i]:.6g}, {edges[i + 1]:.6g}]")
    return out


def _is_categorical(col: pd.Series, n: int) -> bool:
    dt = col.dtype
    if isinstance(dt, pd.CategoricalDtype) or dt.kind in "OUSb" or pd.api.types.is_string_dtype(dt):
        return True
    if dt.kind in "iu":
        return col.nunique() <= min(MAX_LEVELS, int(math.sqrt(n)))
    return False


@dataclass
class _Strata:
    codes: np.ndarray       # int, 0..m-1 per observation
    labels: list            # label of each code
    lower: np.ndarray       # class lower edge (NaN for categorical)
    upper: np.ndarray
    method: str
    k: int | None
    edges: np.ndarray | None


def _strata(name, col, n, method, k, user_breaks, categorical, seed):
    if user_breaks is not None:
        edges = np.asarray(user_breaks, dtype=np.float64).ravel()
        if edges.size < 2 or not np.all(np.diff(edges) > 0) or np.isnan(edges).any():
            raise ValueError(f"breaks[{name!r}] must be at least two strictly increasing edges, got {user_breaks!r}.")
        x = col.to_numpy(dtype=np.float64)
        return _Strata(_classify(x, edges), _interval_labels(edges), edges[:-1], edges[1:], "user",
                       edges.size - 1, edges)
    if categorical or _is_categorical(col, n):
        codes, levels = pd.factorize(col, sort=True)
        return _Strata(codes.astype(np.int64), [str(v) for v in levels], np.full(len(levels), np.nan),
                       np.full(len(levels), np.nan), "categorical", None, None)
    if col.dtype.kind not in "fiu":
        raise TypeError(f"factor {name!r} has dtype {col.dtype}; numeric factors are discretized, others "
                        f"must be categorical.")
    x = col.to_numpy(dtype=np.float64)
    edges = discretize(x, method, k, seed=seed)
    return _Strata(_classify(x, edges), _interval_labels(edges), edges[:-1], edges[1:], method,
                   int(k), edges)


# ------------------------------------------------------------------ statistics
def _q_and_p(y, codes, drop_singletons):
    """q, p (non-central F), number of strata used, number of observations used.

    Follows geodetector 0.2.0 ``q_statistic`` / ``q_significance_test`` (and R GD/gdverse):
    fewer than two strata -> q = 0, p = 1; SST = 0 -> q = NaN, p = 1; q clipped to [0, 1];
    lambda = (sum mu_h^2 - (sum sqrt(N_h) mu_h)^2 / N) / sigma^2 (population variance).
    """
    counts = np.bincount(codes)
    keep = counts >= (2 if drop_singletons else 1)
    if drop_singletons and not keep[counts > 0].all():
        sel = keep[codes]
        y, codes = y[sel], codes[sel]
    L = int(keep.sum())
    N = int(y.size)
    if L < 2:
        return 0.0, 1.0, L, N
    n_h = counts[keep].astype(np.float64)
    mu = np.bincount(codes, weights=y, minlength=counts.size)[keep] / n_h
    mean_full = np.zeros(counts.size)
    mean_full[keep] = mu
    sst = float(np.sum((y - y.mean()) ** 2))
    if sst == 0:
        return math.nan, 1.0, L, N
    ssw = float(np.sum((y - mean_full[codes]) ** 2))
    q = min(1.0, max(0.0, 1.0 - ssw / sst))
    if q <= 0:
        return q, 1.0, L, N
    if q >= 1 or N == L:
        return q, 0.0, L, N
    lam = (np.sum(mu * mu) - np.sum(np.sqrt(n_h) * mu) ** 2 / N) / (sst / N)
    v1, v2 = L - 1, N - L
    F = v2 * q / (v1 * (1.0 - q))
    p = float(_st.ncf.sf(F, v1, v2, max(float(lam), 0.0)))
    return q, p, L, N


def _interaction_type(q1, q2, q12):
    if not (np.isfinite(q1) and np.isfinite(q2) and np.isfinite(q12)):
        return None
    if q12 < min(q1, q2):
        return INTERACTION_TYPES[0]
    if q12 <= max(q1, q2):
        return INTERACTION_TYPES[1]
    if abs(q12 - (q1 + q2)) < INDEPENDENT_ATOL:
        return INTERACTION_TYPES[3]
    if q12 < q1 + q2:
        return INTERACTION_TYPES[2]
    return INTERACTION_TYPES[4]


def _stratum_moments(y, codes, m):
    n = np.bincount(codes, minlength=m).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(codes, weights=y, minlength=m) / n
        dev = y - mean[codes]
        var = np.bincount(codes, weights=dev * dev, minlength=m) / (n - 1)
    var[n < 2] = np.nan
    return n, mean, var


def _welch(n, mean, var, alpha):
    """Welch t tests between every pair of strata with >= 2 observations (scipy's ttest_ind)."""
    ok = np.flatnonzero(n >= 2)
    i, j = np.triu_indices(ok.size, k=1)
    i, j = ok[i], ok[j]
    a, b = var[i] / n[i], var[j] / n[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        se2 = a + b
        t = (mean[i] - mean[j]) / np.sqrt(se2)
        df = se2 * se2 / (a * a / (n[i] - 1) + b * b / (n[j] - 1))
        p = 2.0 * _st.t.sf(np.abs(t), df)
    # scipy: zero variance in both strata -> df = NaN, so t = +-inf or NaN, p = NaN
    return i, j, t, df, p, p < alpha


def _ecological(q1, q2, N, alpha):
    """F = (1 - q1) / (1 - q2), two-tailed, df = (N - 1, N - 1) (geodetector 0.2.0)."""
    if not (np.isfinite(q1) and np.isfinite(q2)):
        return math.nan, math.nan, False
    num, den = 1.0 - q1, 1.0 - q2
    if abs(den) < 1e-12 and abs(num) < 1e-12:
        F, p = 1.0, 1.0
    elif abs(den) < 1e-12:
        F, p = math.inf, 0.0
    elif abs(num) < 1e-12:
        F, p = 0.0, 0.0
    else:
        F = num / den
        p = 2.0 * (_st.f.sf(F, N - 1, N - 1) if F >= 1 else _st.f.cdf(F, N - 1, N - 1))
        p = min(float(p), 1.0)
    return float(F), float(p), bool(p < alpha)


# ------------------------------------------------------------------ result
_UNITS = {
    "factor": {"q": "1", "p": "1", "n_strata": "count", "n": "count"},
    "interaction": {"q_1": "1", "q_2": "1", "q_12": "1", "p_12": "1", "n_strata_12": "count"},
    "risk": {"mean_1": "units of y", "mean_2": "units of y", "t": "1", "df": "1", "p": "1"},
    "strata": {"n": "count", "mean": "units of y", "std": "units of y"},
    "ecological": {"F": "1", "p": "1"},
}
_DESCRIPTIONS = {
    "factor": "Factor detector: q = 1 - SSW/SST per factor, p from the non-central F test (Wang et al. 2016).",
    "interaction": "Interaction detector: q of the overlaid strata of each pair of factors and the interaction "
                   "type (Wang & Xu 2017).",
    "risk": "Risk detector: Welch two-sample t tests between every pair of strata of a factor "
            "(strata with >= 2 observations).",
    "strata": "Strata of each factor: class interval or level, observations and mean/std of y.",
    "ecological": "Ecological detector: F = (1 - q1)/(1 - q2), two-tailed, df = (N-1, N-1).",
    "breaks": "Class edges used for each discretized factor.",
}


@dataclass
class GeodetectorResult:
    """Tables of the four detectors (see docs/geodetector.md for every column)."""

    factor: pd.DataFrame
    interaction: pd.DataFrame
    risk: pd.DataFrame
    strata: pd.DataFrame
    ecological: pd.DataFrame
    breaks: dict = field(default_factory=dict)
    n: int = 0
    alpha: float = 0.05
    drop_singletons: bool = True

    def to_tables(self) -> dict[str, pd.DataFrame]:
        """``{name: DataFrame}`` for a pipeline table stage; ``attrs`` carry units and a description."""
        rows = [{"factor": f, "edge": i, "value": float(v)} for f, e in self.breaks.items() if e is not None
                for i, v in enumerate(e)]
        breaks = pd.DataFrame(rows, columns=["factor", "edge", "value"])
        out = {}
        for name, df in (("factor", self.factor), ("interaction", self.interaction), ("risk", self.risk),
                         ("strata", self.strata), ("ecological", self.ecological), ("breaks", breaks)):
            df = df.copy()
            df.attrs = {"units": _UNITS.get(name, {}), "description": _DESCRIPTIONS[name],
                        "n": int(self.n), "alpha": float(self.alpha), "drop_singletons": bool(self.drop_singletons)}
            out[f"geodetector_{name}"] = df
        return out


# ------------------------------------------------------------------ pixels
def sample_pixels(arrays: dict, n: int | None = None, seed: int = 0, mask=None, *,
                  coords: bool = True) -> pd.DataFrame:
    """Pixels of 2-D DataArrays on one grid where every layer is valid, as a DataFrame.

    Valid: finite for float layers; for integer layers, not equal to ``attrs["nodata"]`` or
    ``attrs["_FillValue"]`` when present; and ``mask`` (a boolean DataArray) true. ``n`` pixels are
    drawn uniformly without replacement among the valid ones with ``numpy.random.default_rng(seed)``
    (``None``: all of them). Two passes over the (dask) graph: a count of valid pixels per chunk,
    then, per chunk that holds picked pixels, the picked values only -- nothing is loaded whole.
    Rows come in chunk order, row-major inside a chunk. With ``coords=True`` the pixel-centre
    coordinates are added as columns named after the dimensions (e.g. ``y``, ``x``).
    """
    import dask
    import dask.array as dsa

    if not isinstance(arrays, dict) or not arrays:
        raise TypeError("arrays must be a non-empty dict name -> 2-D DataArray.")
    items = list(arrays.items())
    ref = items[0][1]
    require_one_grid(items + ([("mask", mask)] if mask is not None else []))
    if coords:
        clash = [d for d in ref.dims if d in arrays]
        if clash:
            raise ValueError(f"array names {clash} clash with the coordinate columns; rename them or pass "
                             f"coords=False.")
    if n is not None:
        n = _positive_int(n, "n")
    chunks = None
    for _, da in items:
        if da.chunks is not None:
            chunks = da.data.chunks
            break
    if chunks is None:
        chunks = tuple(min(s, 2048) for s in ref.shape)

    def _dask(da):
        data = da.data if isinstance(da.data, dsa.Array) else dsa.from_array(np.asarray(da.data), chunks=chunks)
        return data

    layers = [_dask(da) for _, da in items]
    nodata = [_nodata(da) for _, da in items]
    extra = [_dask(mask)] if mask is not None else []
    _, blocks = dsa.core.unify_chunks(*[a for b in [(x, "ij") for x in layers + extra] for a in b])
    layers = list(blocks[: len(layers)])
    mask_arr = blocks[len(layers)] if mask is not None else None
    args = layers + ([mask_arr] if mask_arr is not None else [])
    has_mask = mask_arr is not None

    # pass 1: valid pixels per chunk
    counts = dsa.map_blocks(_count_block, *args, has_mask=has_mask, nodata=nodata, dtype=np.int64,
                            chunks=tuple((1,) * len(c) for c in layers[0].chunks)).compute()
    flat = counts.ravel()
    total = int(flat.sum())
    if total == 0:
        raise ValueError("no pixel is valid in every layer (finite, not nodata, inside mask).")
    if n is None or n >= total:
        if n is not None and n > total:
            warnings.warn(f"n={n} exceeds the {total} valid pixels; all of them are used.", stacklevel=2)
        picks = None
    else:
        picks = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
    starts = np.concatenate([[0], np.cumsum(flat)])

    # pass 2: the picked pixels of each chunk
    delayed = [a.to_delayed() for a in args]
    row0 = np.concatenate([[0], np.cumsum(layers[0].chunks[0])])
    col0 = np.concatenate([[0], np.cumsum(layers[0].chunks[1])])
    tasks = []
    nbx = len(layers[0].chunks[1])
    for b in range(flat.size):
        if flat[b] == 0:
            continue
        if picks is None:
            local = None
        else:
            lo, hi = np.searchsorted(picks, [starts[b], starts[b + 1]])
            if lo == hi:
                continue
            local = picks[lo:hi] - starts[b]
        bi, bj = divmod(b, nbx)
        tasks.append(dask.delayed(_pick_block)(local, int(row0[bi]), int(col0[bj]), has_mask, nodata,
                                               *[d[bi, bj] for d in delayed]))
    parts = dask.compute(*tasks)
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    out = {}
    if coords:
        for d, idx in zip(ref.dims, (rows, cols)):
            out[d] = ref[d].values[idx] if d in ref.coords else idx
    for k_, (name, _) in enumerate(items):
        out[name] = np.concatenate([p[2][k_] for p in parts])
    df = pd.DataFrame(out)
    df.attrs["n_valid"] = total
    return df


def _nodata(da):
    if da.dtype.kind in "iub":
        for key in ("nodata", "_FillValue"):
            v = da.attrs.get(key, da.encoding.get(key))
            if v is not None:
                return v
    return None


def _valid_block(blocks, has_mask, nodata):
    layers = blocks[:-1] if has_mask else blocks
    ok = np.asarray(blocks[-1], dtype=bool).copy() if has_mask else np.ones(np.shape(blocks[0]), dtype=bool)
    for b, nd in zip(layers, nodata):
        b = np.asarray(b)
        if b.dtype.kind == "f" or b.dtype.kind == "c":
            ok &= np.isfinite(b)
        if nd is not None:
            ok &= b != nd
    return ok


def _count_block(*blocks, has_mask, nodata):
    return np.array([[int(_valid_block(blocks, has_mask, nodata).sum())]], dtype=np.int64)


def _pick_block(local, r0, c0, has_mask, nodata, *blocks):
    ok = _valid_block(blocks, has_mask, nodata)
    pos = np.flatnonzero(ok)
    if local is not None:
        pos = pos[local]
    r, c = np.divmod(pos, ok.shape[1])
    layers = blocks[:-1] if has_mask else blocks
    return r + r0, c + c0, [np.asarray(b).ravel()[pos] for b in layers]


# ------------------------------------------------------------------ the detector
def geodetector(y, factors, *, data=None, discretize="quantile", k=5, breaks=None, sample=None, seed=0,
                drop_singletons=True, categorical=None, alpha=0.05) -> GeodetectorResult:
    """Factor, interaction, risk and ecological detectors of Geodetector.

    Parameters
    ----------
    y, factors
        With ``data`` (a DataFrame): the response column name and a list of factor column names.
        Without: ``y`` a 2-D DataArray and ``factors`` a dict name -> 2-D DataArray on the same grid;
        the pixels valid in every layer are used (``sample``: that many drawn at random with ``seed``,
        :func:`sample_pixels`).
    discretize : {"quantile", "equal", "natural", "geometric"} or dict name -> method
        Method for the continuous factors (see :func:`discretize`).
    k : int or dict name -> int
        Number of classes per continuous factor (capped at its number of distinct values).
    breaks : dict name -> edges, optional
        User class edges ``[e0, ..., em]`` (classes ``[e0, e1], (e1, e2], ...``); observations
        outside ``[e0, em]`` are excluded from the whole analysis, with a warning.
    drop_singletons : bool
        True (default): strata of one observation are dropped before q and its p are computed,
        as the ``geodetector`` package does. False keeps them (the textbook formula).
    categorical : list of names, optional
        Factors used as strata as they are, whatever their dtype. Otherwise categorical,
        object, string and bool columns, and integer columns with at most
        ``min(20, sqrt(N))`` distinct values, are strata as they are; other numeric factors
        are discretized.
    alpha : float
        Significance level of the risk and ecological detectors (and of ``significant`` in
        the factor table).

    Observations with a missing y or factor value are dropped first (one common set for all
    detectors).
    """
    if data is None:
        if not isinstance(y, xr.DataArray) or not isinstance(factors, dict):
            raise TypeError("without data=, y must be a DataArray and factors a dict name -> DataArray; with "
                            "data= a DataFrame, pass column names.")
        yname = y.name if isinstance(y.name, str) and y.name not in factors else "__y__"
        data = sample_pixels({yname: y, **factors}, n=sample, seed=seed, coords=False)
        y, factors = yname, list(factors)
    else:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
        if isinstance(factors, str):
            factors = [factors]
        factors = list(factors)
        missing = [c for c in [y, *factors] if c not in data.columns]
        if missing:
            raise ValueError(f"columns {missing} are not in data; its columns are {list(data.columns)}.")
        if sample is not None and _positive_int(sample, "sample") < len(data):
            data = data.sample(n=sample, random_state=seed)
    if not factors:
        raise ValueError("factors is empty; pass at least one factor.")
    if len(set(factors)) != len(factors) or y in factors:
        raise ValueError("factors must be distinct and must not include y.")
    breaks = dict(breaks or {})
    unknown = [b for b in breaks if b not in factors]
    if unknown:
        raise ValueError(f"breaks names {unknown} that are not factors {factors}.")
    categorical = set(categorical or ())
    methods = discretize if isinstance(discretize, dict) else {f: discretize for f in factors}
    ks = k if isinstance(k, dict) else {f: k for f in factors}

    df = data[[y, *factors]]
    yv = pd.to_numeric(df[y], errors="raise").to_numpy(dtype=np.float64)
    ok = np.isfinite(yv) & df[factors].notna().all(axis=1).to_numpy()
    for f in factors:
        if df[f].dtype.kind == "f":
            ok &= np.isfinite(df[f].to_numpy())
    df, yv = df[ok], yv[ok]
    N = int(yv.size)
    if N < 3:
        raise ValueError(f"only {N} complete observations; Geodetector needs at least 3.")

    strata = {}
    for f in factors:
        m = methods.get(f, "quantile")
        strata[f] = _strata(f, df[f], N, m, ks.get(f, 5), breaks.get(f), f in categorical, seed)
    outside = np.zeros(N, dtype=bool)
    for f in factors:
        outside |= strata[f].codes < 0
    if outside.any():
        warnings.warn(f"{int(outside.sum())} observations fall outside the user breaks and are excluded.",
                      stacklevel=2)
        yv = yv[~outside]
        for s in strata.values():
            s.codes = s.codes[~outside]
        N = int(yv.size)
        if N < 3:
            raise ValueError(f"only {N} observations remain inside the user breaks.")

    # factor detector
    frows, q = [], {}
    for f in factors:
        s = strata[f]
        qf, pf, L, n_used = _q_and_p(yv, s.codes, drop_singletons)
        q[f] = qf
        frows.append({"factor": f, "q": qf, "p": pf, "significant": bool(pf < alpha), "n_strata": L,
                      "n": n_used, "method": s.method, "k": s.k})
    factor_df = pd.DataFrame(frows)
    factor_df["k"] = factor_df["k"].astype("Int64")

    # interaction detector
    irows = []
    for a in range(len(factors)):
        for b in range(a + 1, len(factors)):
            f1, f2 = factors[a], factors[b]
            c1, c2 = strata[f1].codes, strata[f2].codes
            _, comb = np.unique(c1 * (int(c2.max()) + 1) + c2, return_inverse=True)
            q12, p12, L12, _ = _q_and_p(yv, comb.ravel(), drop_singletons)
            irows.append({"factor_1": f1, "factor_2": f2, "q_1": q[f1], "q_2": q[f2], "q_12": q12, "p_12": p12,
                          "n_strata_12": L12, "interaction": _interaction_type(q[f1], q[f2], q12)})
    inter_df = pd.DataFrame(irows, columns=["factor_1", "factor_2", "q_1", "q_2", "q_12", "p_12", "n_strata_12",
                                            "interaction"])

    # strata table and risk detector
    srows, rparts = [], []
    for f in factors:
        s = strata[f]
        m = len(s.labels)
        n_h, mean, var = _stratum_moments(yv, s.codes, m)
        used = n_h >= (2 if drop_singletons else 1)
        present = np.flatnonzero(n_h > 0)
        srows.append(pd.DataFrame({"factor": f, "stratum": present, "label": [s.labels[i] for i in present],
                                   "lower": s.lower[present], "upper": s.upper[present],
                                   "n": n_h[present].astype(np.int64), "mean": mean[present],
                                   "std": np.sqrt(var[present]), "used": used[present]}))
        i, j, t, dfree, p, sig = _welch(n_h, mean, var, alpha)
        rparts.append(pd.DataFrame({"factor": f, "stratum_1": i, "stratum_2": j,
                                    "label_1": [s.labels[v] for v in i], "label_2": [s.labels[v] for v in j],
                                    "n_1": n_h[i].astype(np.int64), "n_2": n_h[j].astype(np.int64),
                                    "mean_1": mean[i], "mean_2": mean[j], "t": t, "df": dfree, "p": p,
                                    "significant": sig}))
    strata_df = pd.concat(srows, ignore_index=True)
    risk_df = pd.concat(rparts, ignore_index=True)

    # ecological detector
    erows = []
    for a in range(len(factors)):
        for b in range(a + 1, len(factors)):
            f1, f2 = factors[a], factors[b]
            F, p, sig = _ecological(q[f1], q[f2], N, alpha)
            erows.append({"factor_1": f1, "factor_2": f2, "F": F, "p": p, "significant": sig})
    eco_df = pd.DataFrame(erows, columns=["factor_1", "factor_2", "F", "p", "significant"])

    return GeodetectorResult(factor=factor_df, interaction=inter_df, risk=risk_df, strata=strata_df,
                             ecological=eco_df, breaks={f: strata[f].edges for f in factors}, n=N,
                             alpha=float(alpha), drop_singletons=bool(drop_singletons))
