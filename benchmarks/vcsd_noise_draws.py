"""How much of the demo's per-mine VCSD error is MOD17's retrieval noise: the run's own chain
(scaled_npp -> vcs_accounting, its parameters and detected years) re-run on the base's
noise-free MOD17 (``truth/mod17_noise_free.zarr``) times fresh draws of the synthetic's
retrieval noise, 1 + N(0, sigma) per cell and year, against Eqs. 3-5 on the planted VCS with
the planted years (the demo's ``vcsd_*`` reference).

    python benchmarks/vcsd_noise_draws.py cubeeco-demo --draws 100 --out /tmp/vcsd_draws.csv

Prints per mine the noise-free error, the mean, the spread and the share of draws within 5 %,
and the share of draws with every mine within 5 %.  ~4 s a draw on the demo preset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr


def planted_vcsd(data: Path, years) -> tuple[pd.Series, xr.DataArray, int]:
    from cubeeco.ops.vcs import vcs_accounting

    truth = xr.open_zarr(data / "truth" / "truth.zarr")
    vcs = truth["vcs_true"].isel(time=np.isin(truth.time.dt.year.values, years)).chunk({"time": -1})
    td = truth["destruction_year"].where(truth["destruction_year"] > 0, -1).astype("int32")
    tr = truth["restoration_year"].where(truth["restoration_year"] > 0, -1).astype("int32")
    zones = truth["mine_id"].astype("int32")
    n = int(zones.max())
    return pd.Series(vcs_accounting(vcs, td, tr, zones=zones, n_zones=n).by_zone["VCSD_Gg"]), zones, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("demo", type=Path, help="a `cubeeco demo --out` folder (its store and data)")
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--sigma", type=float, default=0.04, help="relative retrieval noise (the base plants 0.04)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", type=Path, help="CSV of every draw's error per mine (%%)")
    args = ap.parse_args(argv)

    from cubeeco.io.store import open_store
    from cubeeco.workflows.demo import noise_free_chain

    store, data = args.demo / "cubeeco.zarr", args.demo / "data"
    chain = noise_free_chain(store, data)
    if chain is None:
        print(f"{args.demo}: no noise-free MOD17 truth or no complete scaled_npp / vcs_accounting "
              f"(Terra) run there.", file=sys.stderr)
        return 2
    years = open_store(store, "scaled_npp").time.dt.year.values
    planted, zones, n = planted_vcsd(data, years)
    names = dict(zip(planted.index, [f"Mine {i:03d}" for i in planted.index]))
    rows = []
    for k in range(args.draws + 1):
        factor = 1.0 if k == 0 else 1 + np.random.default_rng([args.seed, k]).normal(0, args.sigma, chain.clean.shape)
        got = chain.vcsd(chain.clean * factor, zones, n)
        rows.append({"draw": k, **{names[i]: 100 * (got[i] - planted[i]) / planted[i] for i in planted.index}})
        print(f"draw {k:3d}" + ("  (noise-free)" if k == 0 else "") + "  "
              + "  ".join(f"{v:+6.2f}" for key, v in rows[-1].items() if key != "draw"), flush=True)
    table = pd.DataFrame(rows).set_index("draw")
    draws = table.drop(index=0)
    summary = pd.DataFrame({"planted_Gg": planted.rename(index=names), "noise_free_%": table.loc[0],
                            "mean_%": draws.mean(), "sd_%": draws.std(ddof=1),
                            "mean_se_%": draws.std(ddof=1) / np.sqrt(len(draws)),
                            "within_5%": (draws.abs() <= 5).mean()})
    print(summary.round(3).to_string())
    print(f"draws with every mine within 5 %: {(draws.abs() <= 5).all(axis=1).mean():.2f} of {len(draws)}")
    if args.out:
        table.to_csv(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
