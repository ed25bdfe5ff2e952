#!/usr/bin/env python
"""Run dask work on a dask-gateway cluster: connect, create a cluster, scale, compute, shut down.

    DASK_GATEWAY_PASSWORD=secret python deploy/gateway/run_on_gateway.py \\
        --address http://127.0.0.1:8000 --workers 2 \\
        --hook cubeeco.testing.gateway:nanmedian_hook --json result.json

Always computes a small dask array sum as a smoke test; ``--hook module:function`` then calls
``function(client)`` with the cluster's ``distributed.Client`` and records what it returns
(anything JSON-serialisable), e.g. a cubeeco workflow. The cluster is shut down even when
the work fails. Prints (and with ``--json`` writes) a JSON summary with timings.

For whole pipeline runs, use ``cubeeco run config.yaml`` with ``cluster: {kind: gateway,
address: ..., gateway: {password: ...}}`` instead; this script is the minimal, standalone
check that a gateway serves working clusters (docs/deploy-gateway.md).

Options fall back to the environment: DASK_GATEWAY_ADDRESS, DASK_GATEWAY_USER (default: the
current OS user, which the local backend runs the processes as) and DASK_GATEWAY_PASSWORD.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import json
import os
import sys
import time


def _load_hook(spec: str):
    module, _, name = spec.partition(":")
    if not module or not name:
        raise SystemExit(f"--hook must look like package.module:function, got {spec!r}")
    return getattr(importlib.import_module(module), name)


def _closed_for_good(gateway, already_closed: bool = False) -> None:
    """Close a ``dask_gateway.Gateway`` and turn later ``close()`` calls into no-ops.

    With dask-gateway 2026.3 and distributed 2026.8, ``Gateway.__del__`` calls close() again
    after an explicit close, and that second call raises "Accessing the loop property while
    the loop is not running" (printed as "Exception ignored in ... Gateway.__del__"). The same
    goes for the Gateway inside each GatewayCluster, which ``shutdown()`` closes.
    """
    if not already_closed:
        gateway.close()
    gateway.close = lambda: None


def run(address: str, username: str, password: str | None, workers: int = 2,
        worker_cores: int = 1, worker_memory: float = 1.0, hook=None, timeout: float = 120) -> dict:
    """Create a gateway cluster, run the smoke test and ``hook(client)``, shut it down."""
    import dask.array as da
    from dask_gateway import BasicAuth, Gateway

    t0 = time.perf_counter()
    summary: dict = {"address": address, "user": username, "workers_requested": workers}
    gateway = Gateway(address, auth=BasicAuth(username, password))
    try:
        cluster = gateway.new_cluster(worker_cores=worker_cores, worker_memory=worker_memory)
        summary["cluster"] = cluster.name
        summary["cluster_start_s"] = round(time.perf_counter() - t0, 2)
        try:
            cluster.scale(workers)
            with cluster.get_client() as client:
                client.wait_for_workers(workers, timeout=timeout)
                summary["workers_up_s"] = round(time.perf_counter() - t0, 2)
                info = client.scheduler_info()["workers"]
                summary["workers"] = len(info)
                summary["worker_threads"] = sorted(w["nthreads"] for w in info.values())
                summary["scheduler"] = client.scheduler.address
                n = 1_000_000
                summary["sum"] = int(da.arange(n, chunks=n // 10).sum().compute())
                summary["sum_expected"] = n * (n - 1) // 2
                if hook is not None:
                    t1 = time.perf_counter()
                    summary["hook"] = hook(client)
                    summary["hook_s"] = round(time.perf_counter() - t1, 2)
        finally:
            cluster.shutdown()  # also closes the cluster's own Gateway
            _closed_for_good(cluster.gateway, already_closed=True)
        summary["clusters_left"] = [c.name for c in gateway.list_clusters()]
    finally:
        _closed_for_good(gateway)
    summary["total_s"] = round(time.perf_counter() - t0, 2)
    return summary


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--address", default=env("DASK_GATEWAY_ADDRESS"),
                   help="gateway URL, e.g. http://127.0.0.1:8000 (env DASK_GATEWAY_ADDRESS)")
    p.add_argument("--username", default=env("DASK_GATEWAY_USER") or getpass.getuser())
    p.add_argument("--password-env", default="DASK_GATEWAY_PASSWORD",
                   help="environment variable holding the password (not on the command line)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--worker-cores", type=int, default=1)
    p.add_argument("--worker-memory", type=float, default=1.0, help="GiB per worker")
    p.add_argument("--hook", help="package.module:function called with the dask Client")
    p.add_argument("--timeout", type=float, default=120, help="seconds to wait for the workers")
    p.add_argument("--json", help="also write the summary to this file")
    args = p.parse_args(argv)
    if not args.address:
        p.error("--address (or DASK_GATEWAY_ADDRESS) is required")
    hook = _load_hook(args.hook) if args.hook else None
    summary = run(args.address, args.username, env(args.password_env), workers=args.workers,
                  worker_cores=args.worker_cores, worker_memory=args.worker_memory, hook=hook,
                  timeout=args.timeout)
    text = json.dumps(summary, indent=1, default=str)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    ok = summary["sum"] == summary["sum_expected"] and not summary["clusters_left"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
