"""Progress bars for dask work: the distributed dashboard's bar when a client is
active, dask's local ProgressBar otherwise."""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def progress(label: str, enabled: bool = True):
    if not enabled:
        yield
        return
    try:
        from distributed import get_client

        get_client()
        has_client = True
    except (ImportError, ValueError):
        has_client = False
    print(f"[cubeeco] {label}", file=sys.stderr, flush=True)
    if has_client:
        yield   # distributed's futures report on the dashboard; the CLI prints stage timings
        return
    from dask.diagnostics import ProgressBar

    with ProgressBar(minimum=1.0, dt=0.5, out=sys.stderr):
        yield
