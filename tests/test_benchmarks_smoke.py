"""Run every benchmark script once at tiny size so they never rot (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_trend_smoke():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_trend.py"), "--smoke"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    for row in ("pymannkendall", "xarrayMannKendall", "scipy", "numpy", "cubeeco.sen_mann_kendall (Sen + MK), dask",
                "cubeeco.trend", "floor", "JIT compile"):  # fmt: skip
        assert row in text, row
