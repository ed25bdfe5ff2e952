"""A real dask-gateway server on 127.0.0.1 for tests: dask-gateway-server, local backend.

``start_gateway(workdir)`` runs ``python -m dask_gateway_server -f deploy/gateway/gateway_config.py``
as a child process with the public address (HTTP API + scheduler proxy) on a free loopback
port, a random shared password (``SimpleAuthenticator``) and the cluster working
directories inside ``workdir``, and waits until ``/api/health`` answers. The returned
:class:`GatewayServer` is a context manager; ``.address`` is the URL for
``dask_gateway.Gateway``, ``.auth()`` a matching ``BasicAuth``, ``.stop()`` ends the server
(and with it any clusters it still runs).

Backend: ``LocalBackend`` (the default) starts each cluster's scheduler and workers as
local processes *as the OS user named at login*. The helper logs in as the current user,
so this works as root and as an ordinary user; other user names need OS accounts and a
root gateway. ``backend="unsafe-local"`` (``UnsafeLocalBackend``) ignores the name.

Needs ``dask-gateway`` and ``dask-gateway-server[local]`` (pip): run
``scripts/install-test-deps.sh``; when missing, :class:`GatewayUnavailable` (a
``RuntimeError``) is raised with that hint. The configuration file is the one in the
source tree's ``deploy/gateway/``; pass ``config_file=`` when running from elsewhere.
"""

from __future__ import annotations

import getpass
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = [
    "DEFAULT_CONFIG",
    "GatewayError",
    "GatewayServer",
    "GatewayUnavailable",
    "nanmedian_hook",
    "start_gateway",
]

INSTALL_HINT = (
    "install dask-gateway and dask-gateway-server[local] with "
    "`bash scripts/install-test-deps.sh` (or pip install dask-gateway 'dask-gateway-server[local]')"
)
#: deploy/gateway/gateway_config.py of the source tree this package was imported from
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "gateway" / "gateway_config.py"


class GatewayError(RuntimeError):
    """The gateway server failed to start."""


class GatewayUnavailable(GatewayError):
    """dask-gateway / dask-gateway-server are not installed, or the config file is missing."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayServer:
    """A running dask-gateway server; use as a context manager or call :meth:`stop`."""

    def __init__(self, proc: subprocess.Popen, address: str, username: str, password: str,
                 log: Path, env: dict[str, str]):
        self.proc = proc
        self.address = address
        self.username = username
        self.password = password
        self.log = log
        #: environment that points deploy/gateway/run_on_gateway.py at this server
        self.client_env = {
            "DASK_GATEWAY_ADDRESS": address,
            "DASK_GATEWAY_USER": username,
            "DASK_GATEWAY_PASSWORD": password,
        }
        self.server_env = env
        self.start_seconds: float | None = None

    def auth(self):
        from dask_gateway import BasicAuth

        return BasicAuth(self.username, self.password)

    def gateway(self, password: str | None = None):
        """A ``dask_gateway.Gateway`` client for this server (close it, or use ``with``).

        Its ``close()`` is idempotent: with dask-gateway 2026.3 and distributed 2026.8 the
        stock ``Gateway.__del__`` closes again after an explicit close and prints
        "Exception ignored ... Accessing the loop property while the loop is not running".
        ``password`` overrides the server's (to test rejection).
        """
        from dask_gateway import BasicAuth

        auth = BasicAuth(self.username, self.password if password is None else password)
        return _idempotent_gateway_class()(self.address, auth=auth)

    def log_tail(self, n: int = 30) -> str:
        if not self.log.exists():
            return "(no gateway log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the server (it stops its clusters first), SIGKILL after ``timeout``."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def __enter__(self) -> GatewayServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<GatewayServer {self.address} user={self.username}>"


_GATEWAY_CLASS = None


def _idempotent_gateway_class():
    global _GATEWAY_CLASS
    if _GATEWAY_CLASS is None:
        from dask_gateway import Gateway

        class _Gateway(Gateway):
            _closed = False

            def close(self):
                if not self._closed:
                    self._closed = True
                    return super().close()

        _GATEWAY_CLASS = _Gateway
    return _GATEWAY_CLASS


def start_gateway(
    workdir: str | os.PathLike,
    *,
    config_file: str | os.PathLike | None = None,
    password: str | None = None,
    backend: str = "local",
    max_workers: int = 4,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> GatewayServer:
    """Start dask-gateway-server on a free 127.0.0.1 port; see the module docs.

    ``env`` adds to the server's environment; of it, PATH, PYTHONPATH, VIRTUAL_ENV, LANG,
    LC_ALL, NUMBA_CACHE_DIR and CUBEECO_DATA reach the schedulers and workers (the config's
    ``inherited_environment``), e.g. ``env={"PYTHONPATH": source_tree}``.
    """
    for module in ("dask_gateway", "dask_gateway_server", "dask_gateway_server.backends.local"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise GatewayUnavailable(f"cannot import {module}: {INSTALL_HINT}")
    config = Path(config_file) if config_file else DEFAULT_CONFIG
    if not config.is_file():
        raise GatewayUnavailable(f"gateway config file {config} not found; pass config_file=")
    t0 = time.monotonic()
    workdir = Path(workdir).resolve()
    clusters = workdir / "clusters"
    clusters.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    password = password or secrets.token_urlsafe(16)
    extra_env = env
    env = dict(
        os.environ,
        CUBEECO_GATEWAY_ADDRESS=f"127.0.0.1:{port}",
        CUBEECO_GATEWAY_API_ADDRESS=f"127.0.0.1:{_free_port()}",
        CUBEECO_GATEWAY_BACKEND=backend,
        CUBEECO_GATEWAY_CLUSTERS_DIR=str(clusters),
        CUBEECO_GATEWAY_MAX_WORKERS=str(max_workers),
        DASK_GATEWAY_PASSWORD=password,
    )
    env.update(extra_env or {})
    log = workdir / "gateway.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dask_gateway_server", "-f", str(config)],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    server = GatewayServer(proc, f"http://127.0.0.1:{port}", getpass.getuser(), password, log, env)
    health = f"{server.address}/api/health"
    deadline = time.monotonic() + timeout
    try:
        while True:
            if proc.poll() is not None:
                raise GatewayError(f"dask-gateway-server exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(health, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise GatewayError(f"gateway not healthy after {timeout} s:\n{server.log_tail()}")
            time.sleep(0.2)
    except BaseException:
        server.stop()
        raise
    server.start_seconds = time.monotonic() - t0
    return server


def _cubeeco_dir() -> str:
    import cubeeco

    return str(Path(cubeeco.__file__).parent)


def nanmedian_hook(client) -> dict:
    """A cubeeco kernel on the cluster: ``cubeeco.kernels.composite.nanmedian`` (a numba
    gufunc) over a dask cube with NaNs, checked against ``numpy.nanmedian``.

    Used as ``run_on_gateway.py --hook cubeeco.testing.gateway:nanmedian_hook``.
    """
    import dask.array as da
    import numpy as np
    from distributed import get_task_stream

    from cubeeco.kernels.composite import nanmedian

    rng = np.random.default_rng(42)
    cube = rng.random((64, 64, 9), dtype=np.float32)
    cube[rng.random(cube.shape) < 0.2] = np.nan
    lazy = da.from_array(cube, chunks=(16, 16, -1))
    median = da.map_blocks(nanmedian, lazy, drop_axis=2, dtype=np.float32)
    with get_task_stream(client) as stream:
        on_cluster = client.compute(median).result()
    expected = np.nanmedian(cube, axis=-1)
    ran_on = {t["worker"] for t in stream.data}
    return {
        "shape": list(on_cluster.shape),
        "chunks": median.npartitions,
        "max_abs_diff": float(np.nanmax(np.abs(on_cluster - expected))),
        "nan_agree": bool(np.array_equal(np.isnan(on_cluster), np.isnan(expected))),
        "workers_used": len(ran_on),
        "workers": len(client.scheduler_info()["workers"]),
        "cubeeco_on_workers": sorted(set(client.run(_cubeeco_dir).values())),
    }
