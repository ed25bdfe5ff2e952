"""benchmarks/bench_vcs.py (VCS accounting chain + CASA) runs at tiny size; no timing asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_vcs_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_vcs.py"), "--smoke", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((tmp_path / "bench_vcs_256.json").read_text())
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_vcs import PARTS

    assert set(summary["parts"]) == set(PARTS)
    for name, part in summary["parts"].items():
        assert part["seconds"] > 0 and part["rss_gib"] > 0 and part["compile_s"] > 0, (name, part)
    # the chain ran end to end: a row per mine, NPP_bg from real samples, CASA classes found
    extra = {k: v for p in summary["parts"].values() for k, v in p.items()}
    assert extra["n_mines_in_table"] == summary["n_mines"]
    assert extra["npp_bg_samples_max"] > 0 and "kriging" in extra["npp_bg_rules"]
    assert extra["classes_with_values"] >= 3
    assert "A (VCS chain) total" in out.stdout and "B (CASA) total" in out.stdout
