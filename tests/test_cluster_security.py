"""Nobody else gets in: what the dask clusters of ``cubeeco.cluster.connect`` listen on, and
who they let in.

Real schedulers, workers and nannies (processes), real TLS handshakes; no mocks. The SLURM
end-to-end version (workers as SLURM jobs, an outsider refused) is in test_deploy_slurm.py.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from cubeeco import cluster as cluster_mod
from cubeeco.pipeline.config import ClusterConfig, ConfigError, parse_config

distributed = pytest.importorskip("distributed")
from distributed import Client  # noqa: E402
from distributed.security import Security  # noqa: E402

pytestmark = pytest.mark.timeout(300)


# --------------------------------------------------------------------------------------
# helpers (also used by test_deploy_slurm.py)
# --------------------------------------------------------------------------------------

def listening(pid: int) -> set[tuple[str, int]]:
    """(ip, port) of every listening inet socket of process ``pid``."""
    return {(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections("inet")
            if c.status == psutil.CONN_LISTEN}


def _raw_tls_without_certificate(host: str, port: int) -> str:
    """A TLS client that presents no certificate: the scheduler must end the session."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw) as tls:
                # TLS 1.3: the server checks the client certificate after the handshake
                tls.sendall(b"\0" * 64)
                data = tls.recv(1024)
        except (ssl.SSLError, ConnectionError, TimeoutError) as err:
            return f"{type(err).__name__}: {err}"
    if data:
        raise AssertionError(f"tls:// without a certificate got an answer: {data[:40]!r}")
    return "connection closed"


def outsider_attempts(address: str) -> dict[str, str]:
    """Try the scheduler at ``address`` without the run's credentials: plain tcp, TLS with
    other certificates, TLS with none. Each must be refused; returns what each one saw."""
    host, port = address.split("://", 1)[1].rsplit(":", 1)
    seen = {}
    attempts = {"tcp": ("tcp://" + f"{host}:{port}", None),
                "tls, other credentials": (f"tls://{host}:{port}", Security.temporary())}
    for name, (addr, security) in attempts.items():
        try:
            with Client(addr, security=security, timeout="5s") as intruder:
                pid = intruder.submit(os.getpid).result(timeout=10)
        except OSError as err:  # CommClosedError, FatalCommClosedError, connect timeouts
            seen[name] = f"{type(err).__name__}: {err}"
        else:
            raise AssertionError(f"{name} client got in and ran code (pid {pid}) at {address}")
    seen["tls, no certificate"] = _raw_tls_without_certificate(host, int(port))
    return seen


def _pem_files(folder: Path, mode: int = 0o600) -> dict[str, str]:
    """CA, certificate and key files of a fresh self-signed credential (what a site hands out)."""
    sec = Security.temporary()
    cfg = sec.get_tls_config_for_role("client")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key in ("ca_file", "cert", "key"):
        path = folder / f"{key}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(cfg[key])
        os.chmod(path, mode)
        paths[key] = str(path)
    return paths


# --------------------------------------------------------------------------------------
# kind: local
# --------------------------------------------------------------------------------------

def test_local_cluster_listens_on_loopback_only():
    """Scheduler, nannies (this process), worker processes and the dashboard: 127.0.0.1 only."""
    import bokeh  # noqa: F401  (a declared dependency: without it distributed starts no dashboard)
    before = listening(os.getpid())
    cfg = ClusterConfig(kind="local", n_workers=2, threads_per_worker=1, memory_limit="1GiB")
    with cluster_mod.connect(cfg) as client:
        assert client.submit(sum, [1, 2, 3]).result() == 6
        ours = listening(os.getpid()) - before
        workers = client.run(os.getpid)
        for pid in workers.values():
            ours |= listening(pid)
        dashboard = client.scheduler_info()["services"]["dashboard"]
        # the dashboard really runs (bokeh is a dependency) and answers on loopback
        with urllib.request.urlopen(f"http://127.0.0.1:{dashboard}/status", timeout=30) as r:
            assert r.status == 200
    assert len(workers) == 2
    assert ("127.0.0.1", dashboard) in ours
    assert ours and {ip for ip, _ in ours} == {"127.0.0.1"}, sorted(ours)


def test_local_cluster_tls_opt_in_refuses_outsiders():
    cfg = ClusterConfig(kind="local", n_workers=1, memory_limit="1GiB", tls={"enabled": True})
    with cluster_mod.connect(cfg) as client:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert client.submit(sum, [1, 2]).result() == 3
        seen = outsider_attempts(address)
        assert client.submit(sum, [3, 4]).result() == 7   # the run goes on
    assert "TLS certificate does not match" in seen["tls, other credentials"], seen


# --------------------------------------------------------------------------------------
# kind: slurm / pbs (the cluster object and its job script; workers need a batch system)
# --------------------------------------------------------------------------------------

def _tls_paths_in(script: str) -> dict[str, str]:
    words = script.split()
    return {flag: words[words.index(flag) + 1]
            for flag in ("--tls-ca-file", "--tls-cert", "--tls-key") if flag in words}


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_jobqueue_cluster_uses_per_run_tls_in_a_private_folder(kind, tmp_path, monkeypatch):
    """TLS by default; the key is never in the job script, its file is 0600 in a 0700 folder
    of the shared directory, removed when the run ends; an outsider is refused."""
    pytest.importorskip("dask_jobqueue")
    monkeypatch.chdir(tmp_path)  # the default shared directory: the working directory
    cfg = ClusterConfig(kind=kind, n_workers=1, memory_limit="1GiB",
                        jobqueue={"interface": "lo", "walltime": "00:10:00"})
    with cluster_mod.jobqueue_cluster(cfg) as cluster:
        script = cluster.job_script()
        address = cluster.scheduler_address
        paths = _tls_paths_in(script)
        folders = {Path(p).parent for p in paths.values()}
        modes = {p: stat.S_IMODE(os.stat(p).st_mode) for p in paths.values()}
        folder_mode = stat.S_IMODE(os.stat(next(iter(folders))).st_mode)
        listeners = listening(os.getpid())
        seen = outsider_attempts(address)
    assert address.startswith("tls://127.0.0.1:")
    assert "--protocol tls://" in script
    assert "PRIVATE KEY" not in script and "BEGIN CERTIFICATE" not in script
    assert set(paths) == {"--tls-ca-file", "--tls-cert", "--tls-key"}, script
    assert len(folders) == 1
    (folder,) = folders
    assert folder.parent == tmp_path and folder.name.startswith(cluster_mod.TLS_DIR_PREFIX)
    assert folder_mode == 0o700
    assert set(modes.values()) == {0o600}, modes
    assert "--dashboard-address 127.0.0.1:0" in script   # worker dashboards on loopback
    assert all(ip == "127.0.0.1" for ip, _ in listeners), listeners   # scheduler and dashboard
    assert not folder.exists(), "the per-run credentials outlived the run"
    assert "TLS certificate does not match" in seen["tls, other credentials"], seen


def test_jobqueue_cluster_shared_temp_directory_and_site_files(tmp_path):
    pytest.importorskip("dask_jobqueue")
    shared = tmp_path / "shared"
    shared.mkdir()
    cfg = ClusterConfig(kind="slurm", jobqueue={"interface": "lo",
                                                "shared_temp_directory": str(shared)})
    with cluster_mod.jobqueue_cluster(cfg) as cluster:
        (folder,) = {Path(p).parent for p in _tls_paths_in(cluster.job_script()).values()}
        assert folder.parent == shared
    assert list(shared.iterdir()) == []

    files = _pem_files(tmp_path / "site")
    cfg = ClusterConfig(kind="pbs", tls={"ca_file": "site/ca_file.pem", "cert": "site/cert.pem",
                                         "key": "site/key.pem"}, jobqueue={"interface": "lo"})
    with cluster_mod.jobqueue_cluster(cfg, base_dir=tmp_path) as cluster:
        script = cluster.job_script()
        assert cluster.scheduler_address.startswith("tls://")
    assert _tls_paths_in(script) == {"--tls-ca-file": files["ca_file"],
                                     "--tls-cert": files["cert"], "--tls-key": files["key"]}


def test_jobqueue_cluster_without_tls_only_when_asked(tmp_path, caplog):
    pytest.importorskip("dask_jobqueue")
    cfg = ClusterConfig(kind="slurm", tls={"enabled": False}, jobqueue={"interface": "lo"})
    with caplog.at_level(logging.WARNING, logger="cubeeco.cluster"), \
            cluster_mod.jobqueue_cluster(cfg) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        assert "--tls-key" not in cluster.job_script()
    assert "can run code as you" in caplog.text

    for jobqueue, match in [({"security": True}, "cluster.jobqueue.security: set TLS with cluster.tls"),
                            ({"protocol": "tcp://"}, "cluster.jobqueue.protocol")]:
        with pytest.raises(ValueError, match=match), \
                cluster_mod.jobqueue_cluster(ClusterConfig(kind="slurm", jobqueue=jobqueue)):
            pass
    with pytest.raises(FileNotFoundError, match="shared_temp_directory: .* is not a folder"), \
            cluster_mod.jobqueue_cluster(ClusterConfig(
                kind="slurm", jobqueue={"shared_temp_directory": str(tmp_path / "nope")})):
        pass


# --------------------------------------------------------------------------------------
# kind: scheduler (an existing scheduler with TLS)
# --------------------------------------------------------------------------------------

@pytest.fixture
def tls_scheduler(tmp_path):
    """A real `dask scheduler` + `dask worker` (processes) on 127.0.0.1 with site TLS files."""
    files = _pem_files(tmp_path / "certs")
    tls_args = ["--tls-ca-file", files["ca_file"], "--tls-cert", files["cert"],
                "--tls-key", files["key"]]
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--protocol", "tls", "--dashboard-address", "127.0.0.1:0",
         "--scheduler-file", str(sched_file), *tls_args],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "scheduler.log", "w"))]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            if procs[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "scheduler.log").read_text())
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written in one go, but let it land
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
             str(sched_file), "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
             "--memory-limit", "1GiB", *tls_args],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "worker.log", "w")))
        import json

        yield json.loads(sched_file.read_text())["address"], files
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def test_existing_tls_scheduler_with_config_files(tls_scheduler, tmp_path):
    address, files = tls_scheduler
    assert address.startswith("tls://127.0.0.1:")
    rel = {k: os.path.relpath(v, tmp_path) for k, v in files.items()}  # relative to base_dir
    cfg = ClusterConfig(kind="scheduler", address=address, tls=rel)
    with cluster_mod.connect(cfg, base_dir=tmp_path) as client:
        client.wait_for_workers(1, timeout=60)
        assert client.submit(sum, [1, 2, 3]).result() == 6
    seen = outsider_attempts(address)
    assert "TLS certificate does not match" in seen["tls, other credentials"], seen

    with pytest.raises(ValueError, match=r"needs TLS credentials; give cluster.tls"), \
            cluster_mod.connect(ClusterConfig(kind="scheduler", address=address)):
        pass
    plain = "tcp://" + address.split("://")[1]
    with pytest.raises(ValueError, match="is not a tls:// address but cluster.tls is given"), \
            cluster_mod.connect(ClusterConfig(kind="scheduler", address=plain, tls=files)):
        pass
    os.chmod(files["key"], 0o644)
    with pytest.raises(PermissionError, match="can be read by other users.*chmod 600"), \
            cluster_mod.connect(ClusterConfig(kind="scheduler", address=address, tls=files)):
        pass
    missing = dict(files, cert=str(tmp_path / "nope.pem"))
    with pytest.raises(FileNotFoundError, match="cluster.tls.cert: .*nope.pem is not a file"), \
            cluster_mod.connect(ClusterConfig(kind="scheduler", address=address, tls=missing)):
        pass


# --------------------------------------------------------------------------------------
# the config section
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("cluster, match", [
    ({"kind": "slurm", "tls": {"enabled": "yes"}}, r"cluster.tls.enabled: expected true or false"),
    ({"kind": "slurm", "tls": {"ca": "x"}}, r"cluster.tls.ca: unknown key"),
    ({"kind": "slurm", "tls": {"cert": "c.pem", "key": "k.pem"}}, r"missing \['ca_file'\]"),
    ({"kind": "slurm", "tls": {"ca_file": "", "cert": "c", "key": "k"}}, r"cluster.tls.ca_file: expected the path"),
    ({"kind": "pbs", "tls": {"enabled": False, "ca_file": "a", "cert": "c", "key": "k"}},
     r"enabled is false but certificate files"),
    ({"kind": "gateway", "address": "http://127.0.0.1:1", "tls": {"enabled": True}},
     r"dask-gateway has its own authentication"),
    ({"kind": "threads", "tls": {"enabled": True}}, r"not used with cluster.kind 'threads'"),
    ({"kind": "scheduler", "address": "tls://h:1", "tls": {"enabled": True}},
     r"cluster.tls.enabled: not used with cluster.kind 'scheduler'"),
    ({"kind": "local", "tls": ["ca.pem"]}, r"cluster.tls: expected dict"),
])
def test_cluster_tls_config_errors_name_the_key(cluster, match):
    data = {"name": "t", "store": "t.zarr", "steps": ["annual"],
            "grid": {"epsg": 32649, "resolution": 30.0, "bounds": [0.0, 0.0, 960.0, 960.0]},
            "cluster": cluster}
    with pytest.raises(ConfigError, match=match):
        parse_config(data)


def test_jobqueue_cluster_keeps_the_dask_config_options(tmp_path, monkeypatch):
    """The loopback dashboards are added to, not put in place of, the site's dask config."""
    pytest.importorskip("dask_jobqueue")
    import dask

    monkeypatch.chdir(tmp_path)
    with dask.config.set({"jobqueue.slurm.worker-extra-args": ["--lifetime", "55m"],
                          "jobqueue.slurm.scheduler-options": {"idle_timeout": "1h"}}), \
            cluster_mod.jobqueue_cluster(ClusterConfig(kind="slurm",
                                                       jobqueue={"interface": "lo"})) as cluster:
        script = cluster.job_script()
        assert cluster.scheduler.idle_timeout == 3600
        dashboard = cluster.scheduler.services["dashboard"]
    assert "--lifetime 55m" in script and "--dashboard-address 127.0.0.1:0" in script
    assert dashboard.address == "127.0.0.1"


SIGTERM_RUN = """
import sys, time
from cubeeco.cluster import jobqueue_cluster
from cubeeco.pipeline.config import ClusterConfig

with jobqueue_cluster(ClusterConfig(kind="slurm", jobqueue={"interface": "lo"})) as cluster:
    print(cluster.job_script(), flush=True)
    print("READY", flush=True)
    time.sleep(120)
"""


def test_sigterm_removes_the_per_run_credentials(tmp_path):
    """scancel and the walltime end the client job with SIGTERM: the credentials still go."""
    pytest.importorskip("dask_jobqueue")
    import signal

    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_RUN], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1])))
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == "READY":
                break
        paths = _tls_paths_in("".join(lines))
        assert paths, "".join(lines) + proc.stderr.read()
        folder = Path(paths["--tls-key"]).parent
        assert folder.is_dir()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not folder.exists(), "SIGTERM left the per-run credentials behind"
