"""Run every benchmark script once at tiny size so they never rot (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str, timeout: int = 600) -> str:
    """Run benchmarks/<name> with args; its stdout, after asserting it exited 0."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_bench_trend_smoke():
    text = run_script("bench_trend.py", "--smoke")
    for row in ("pymannkendall", "xarrayMannKendall", "scipy", "numpy", "cubeeco.sen_mann_kendall (Sen + MK), dask",
                "cubeeco.trend", "floor", "JIT compile"):  # fmt: skip
        assert row in text, row


def test_accuracy_trend_smoke():
    text = run_script("accuracy_trend.py", "--smoke")
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    got = {(r[1].strip(), r[2].strip(), r[3].strip()): float(r[5]) for r in rows[1:]}
    # every peer is compared, and exact outputs are exact (S is an integer count)
    peers = {peer for _, peer, _ in got}
    assert {"pymannkendall", "scipy", "reference (NaN gaps, irregular time)"} <= peers, peers
    assert got[("sen_mk (headline, n = 22)", "pymannkendall", "s")] == 0.0
    assert got[("sen_mk (headline, n = 22)", "pymannkendall", "slope")] == 0.0
    assert got[("mann_kendall", "pymannkendall", "var_s")] == 0.0


def test_bench_scale_smoke(tmp_path):
    # tiny grid, but every part runs: cube into Zarr, threads, LocalCluster with memory
    # sampling, a SIGKILLed worker, a SIGKILLed `cubeeco run` process and its restart
    text = run_script("bench_scale.py", "--smoke", "--side", "128", "--out", str(tmp_path), timeout=900)
    for row in ("sen_mann_kendall", "LocalCluster", "SIGKILLed at 40 %", "restart of the killed run"):
        assert row in text, row
    assert "identical: True" in text


def test_bench_zonal_smoke(tmp_path):
    text = run_script("bench_zonal.py", "--smoke", "--out", str(tmp_path))
    for row in ("cubeeco.zonal_stats (Zarr)", "exactextract.exact_extract", "rasterstats.zonal_stats"):
        assert row in text, row
    diff = float(text.split("cubeeco vs exactextract:")[1].split()[0])
    assert diff < 1e-6, text


def test_bench_rsei_smoke(tmp_path):
    text = run_script("bench_rsei.py", "--smoke", "--out", str(tmp_path))
    assert "np.nanmean" in text and "rsei" in text, text
