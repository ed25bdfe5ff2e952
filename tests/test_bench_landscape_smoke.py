"""Run benchmarks/bench_landscape.py once at tiny size so it never rots (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_landscape_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_landscape.py"), "--smoke", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    for row in ("| mw |", "| mw_relabel |", "| pylandstats |", "| lm_many |", "| lm_one |"):
        assert row in text, row
    # the checks the benchmark makes must hold even at tiny size
    assert "NP equal: True" in text and "many chunks == one chunk: True" in text, text
    res = json.loads((tmp_path / "bench_landscape_192.json").read_text())["parts"]
    assert res["pylandstats"]["np_max_abs_diff"] == 0.0
    assert res["pylandstats"]["ed_max_rel_diff"] < 1e-12
    assert res["lm_many"]["chunks"] > 1 and res["lm_one"]["chunks"] == 1
