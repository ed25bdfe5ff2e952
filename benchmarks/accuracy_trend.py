"""Agreement of cubeeco's trend kernels with each peer: the largest differences, as a table.

    python benchmarks/accuracy_trend.py --series 1000      # ~1 min
    python benchmarks/accuracy_trend.py --smoke

Random float64 series (n = 3 ... 60) of five flavours — plain noise at three scales, trends,
integer values with many ties, constant runs, a 1e6 offset — on annual time stamps and without
NaN, which every peer accepts (pymannkendall uses index time; it equals annual time). The plain
reference (tests/reference/trend_ref.py) is also compared on series with NaN gaps and irregular
time stamps, which the peers cannot take.  Each row: the largest relative difference
|cubeeco - peer| / |peer| of one output over all series (0 means identical).  p is compared where
p > 1e-6 (below, pymannkendall's 2(1 - Phi) loses relative accuracy; cubeeco uses erfc); Yue-Wang
on the 1e6-offset flavour is shown apart (centring cancels ~10 digits in every code); tau
against scipy's tau-b only on the tie-free flavours (docs/trend.md, "Differences from peers").
The tests assert tolerances; this script shows the figures.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.peers import PEERS, SERIES_KINDS, random_series  # noqa: E402

TIE_FREE = ("noise", "trend", "offset")
# kernel -> outputs compared; every non-cubeeco peer of PEERS[kernel] is compared on them
OUTPUTS = {
    "sen_slope": ("slope",),
    "sen_ci": ("slope_low", "slope_high"),
    "mann_kendall": ("s", "var_s", "z", "p", "tau"),
    "hamed_rao": ("s", "var_s", "z", "p"),
    "yue_wang": ("s", "var_s", "z", "p"),
    "kendall_tau": ("tau",),
    "ols": ("slope", "intercept", "r2"),
}


def rel_diff(a: float, b: float) -> float:
    if np.isnan(a) and np.isnan(b):
        return 0.0
    if np.isnan(a) or np.isnan(b):
        return np.inf
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(b), 1e-300)


def compare(series, peers_of, skip=lambda kernel, peer, kind, out, ref: False):
    """{(kernel, peer, output): [max rel diff, series compared]} over (y, t, kind) series."""
    worst: dict[tuple, list] = {}
    for y, t, kind in series:
        for kernel, outs in OUTPUTS.items():
            peers = peers_of(kernel)
            if not peers:
                continue
            ours = PEERS[kernel]["cubeeco"](y, t)
            for peer_name, peer in peers.items():
                theirs = peer(y, t)
                for out in outs:
                    if out not in theirs or skip(kernel, peer_name, kind, out, theirs[out]):
                        continue
                    # Yue-Wang centres the series: on a 1e6 offset both codes lose ~10 digits
                    label = peer_name + (", 1e6 offset" if kernel == "yue_wang" and kind == "offset" else "")
                    row = worst.setdefault((kernel, label, out), [0.0, 0])
                    row[0] = max(row[0], rel_diff(ours[out], theirs[out]))
                    row[1] += 1
    return worst


def skip_rule(kernel, peer, kind, out, ref):
    if out == "p" and not ref > 1e-6:
        return True
    return out == "tau" and peer == "scipy" and kind not in TIE_FREE


def compare_headline(rng, count: int, n: int = 22):
    """The headline block kernel (cubeeco.sen_mann_kendall's) against the pymannkendall loop."""
    Y = np.stack([random_series(rng, n, SERIES_KINDS[i % len(SERIES_KINDS)]) for i in range(count)])
    t = 2000.0 + np.arange(n)
    ours = PEERS["sen_mk_cube"]["cubeeco"](Y, t)
    theirs = PEERS["sen_mk_cube"]["pymannkendall"](Y, t)
    rows = {}
    for out in ("slope", "s", "var_s", "z", "p"):
        keep = theirs["p"] > 1e-6 if out == "p" else np.ones(count, bool)
        worst = max((rel_diff(a, b) for a, b in zip(ours[out][keep], theirs[out][keep])), default=0.0)
        rows[("sen_mk (headline, n = 22)", "pymannkendall", out)] = [worst, int(keep.sum())]
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", type=int, default=1000, help="series per comparison set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="25 series")
    args = p.parse_args(argv)
    if args.smoke:
        args.series = 25

    rng = np.random.default_rng(args.seed)
    clean, gappy = [], []
    for i in range(args.series):
        kind = SERIES_KINDS[i % len(SERIES_KINDS)]
        n = int(rng.integers(3, 61))
        y = random_series(rng, n, kind)
        clean.append((y, 2000.0 + np.arange(n), kind))
        t = np.cumsum(rng.uniform(0.2, 2.0, size=n)) + 2000.0
        yg = y.copy()
        yg[rng.random(n) < 0.15] = np.nan
        gappy.append((yg, t, kind))

    def external(kernel):
        return {k: v for k, v in PEERS[kernel].items() if k not in ("cubeeco", "reference")}

    def reference(kernel):
        return {k: v for k, v in PEERS[kernel].items() if k == "reference"}

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        rows = compare(clean, external, skip_rule)
        rows_ref = compare(gappy, reference, skip_rule)
        rows.update(compare_headline(rng, args.series))

    print(f"## Trend kernels against their peers: largest relative difference, {args.series} series per set\n")
    print("| kernel | peer | output | series | max relative difference |")
    print("|---|---|---|---:|---:|")
    for label, table in (("", rows), (" (NaN gaps, irregular time)", rows_ref)):
        for (kernel, peer, out), (worst, count) in sorted(table.items()):
            print(f"| {kernel} | {peer}{label} | {out} | {count} | {worst:.2g} |")
    return rows, rows_ref


if __name__ == "__main__":
    main()
