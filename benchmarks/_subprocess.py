"""Run one part of a benchmark in its own process, so its peak memory is its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# one thread per library: the benchmark's own dask threads are the parallelism
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "GDAL_NUM_THREADS": "1"}


def run_child(script: str, what: str, info: dict, *args: str) -> dict:
    """``python SCRIPT --child WHAT --info JSON ARGS``; the JSON on its last stdout line."""
    cmd = [sys.executable, script, "--child", what, "--info", json.dumps(info), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **SINGLE_THREADED}, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
