"""deploy/gateway against a real dask-gateway-server (local backend) on 127.0.0.1.

The server runs deploy/gateway/gateway_config.py (cubeeco.testing.gateway.start_gateway);
deploy/gateway/run_on_gateway.py creates a cluster through it, scales to 2 workers, runs a
dask sum and a cubeeco kernel on them, and shuts the cluster down. Without dask-gateway the
tests skip (fail when $CI is set); install with ``scripts/install-test-deps.sh``.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cubeeco.testing import gateway as gateway_mod

ROOT = Path(__file__).resolve().parents[1]
RUN_ON_GATEWAY = ROOT / "deploy" / "gateway" / "run_on_gateway.py"
CONFIG = ROOT / "deploy" / "gateway" / "gateway_config.py"


def _pythonpath() -> str:
    """This source tree first, so every subprocess imports the cubeeco under test."""
    return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory):
    try:
        server = gateway_mod.start_gateway(tmp_path_factory.mktemp("gateway"),
                                           env={"PYTHONPATH": _pythonpath()})
    except gateway_mod.GatewayUnavailable as err:
        if _in_ci():
            pytest.fail(f"dask-gateway unavailable in CI: {err}", pytrace=False)
        pytest.skip(f"dask-gateway unavailable: {err}")
    with server:
        yield server


@pytest.fixture(autouse=True)
def _finalise_gateways_after_each_test():
    yield
    _collect_leaked_gateways()


def _collect_leaked_gateways():
    """Finalise unclosed dask_gateway.Gateway objects now, in this thread.

    A GatewayCluster whose start failed (and ``cubeeco.cluster.connect``'s Gateway) leaves a
    Gateway that is never closed. If the garbage collector later finalises it on another
    Gateway's event-loop thread, its close() joins its own loop thread for up to 10 s, and a
    Gateway being created meanwhile fails with ``assert loop is not None`` (distributed's
    LoopRunner gives up after 10 s); finalised in the middle of an import it can even break
    CPython 3.11.7's compiler ("SystemError: AST constructor recursion depth mismatch").
    Collecting here runs those finalisers at a harmless point.
    """
    gc.collect()


def _no_clusters_left(server, timeout=30):
    """The server's view: every cluster stopped (shutdown is asynchronous on the server)."""
    deadline = time.monotonic() + timeout
    with server.gateway() as gw:
        while time.monotonic() < deadline:
            if not gw.list_clusters():
                return True
            time.sleep(0.5)
        return False


def test_config_requires_a_password(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DASK_GATEWAY_PASSWORD"}
    proc = subprocess.run([sys.executable, "-m", "dask_gateway_server", "-f", str(CONFIG)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    if "No module named dask_gateway_server" in proc.stderr:
        pytest.skip("dask-gateway-server not installed")
    assert proc.returncode != 0
    assert "set DASK_GATEWAY_PASSWORD" in proc.stdout + proc.stderr


def test_wrong_password_and_out_of_range_options_are_rejected(gateway_server):
    import aiohttp

    with gateway_server.gateway(password="wrong") as bad:
        with pytest.raises(aiohttp.ClientResponseError) as err:
            bad.list_clusters()
        assert err.value.status == 401
    with gateway_server.gateway() as gw:
        assert gw.list_clusters() == []
        with pytest.raises(ValueError, match="worker_cores must be <= 4"):
            gw.new_cluster(worker_cores=99)
    _collect_leaked_gateways()


@pytest.mark.slow
def test_run_on_gateway_script_runs_dask_and_a_cubeeco_kernel(gateway_server, tmp_path):
    out = tmp_path / "summary.json"
    env = dict(os.environ, **gateway_server.client_env, PYTHONPATH=_pythonpath())
    proc = subprocess.run(
        [sys.executable, str(RUN_ON_GATEWAY), "--workers", "2",
         "--hook", "cubeeco.testing.gateway:nanmedian_hook", "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{gateway_server.log_tail()}"
    assert "Exception ignored" not in proc.stderr, proc.stderr
    summary = json.loads(out.read_text())
    assert summary["workers"] == 2 and summary["worker_threads"] == [1, 1]
    assert summary["sum"] == summary["sum_expected"]
    assert summary["scheduler"].startswith(f"gateway://127.0.0.1:{gateway_server.address.rsplit(':', 1)[1]}/")
    hook = summary["hook"]
    assert hook["max_abs_diff"] == 0.0 and hook["nan_agree"]
    assert hook["workers_used"] == 2, hook  # the kernel ran on both gateway workers
    assert hook["cubeeco_on_workers"] == [str(ROOT / "cubeeco")]  # the code under test
    assert summary["clusters_left"] == []
    assert _no_clusters_left(gateway_server)


@pytest.mark.slow
# cubeeco.cluster.connect leaves the closed Gateway of its GatewayCluster to __del__, which
# closes it again and raises (dask-gateway 2026.3 + distributed 2026.8); harmless.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_pipeline_cluster_kind_gateway_connects(gateway_server):
    """cubeeco.cluster.connect (the `cluster: {kind: gateway}` config) against the real server."""
    cluster_mod = pytest.importorskip("cubeeco.cluster")
    config_mod = pytest.importorskip("cubeeco.pipeline.config")
    cfg = config_mod.ClusterConfig(
        kind="gateway", address=gateway_server.address, n_workers=1,
        gateway={"username": gateway_server.username, "password": gateway_server.password,
                 "worker_cores": 1, "worker_memory": 1.0},
    )
    with cluster_mod.connect(cfg) as client:
        assert client.submit(sum, [1, 2, 3]).result() == 6
        assert len(client.scheduler_info()["workers"]) >= 1
    _collect_leaked_gateways()
    assert _no_clusters_left(gateway_server)
