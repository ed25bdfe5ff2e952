# dask-gateway-server configuration for cubeeco on one machine (local process backend).
#
#   DASK_GATEWAY_PASSWORD=secret dask-gateway-server -f deploy/gateway/gateway_config.py
#
# dask-gateway-server executes this file with `c` (its traitlets config) in scope. Every
# setting can be overridden from the environment, which is how
# cubeeco.testing.gateway.start_gateway() runs it on free loopback ports in the tests:
#
#   CUBEECO_GATEWAY_ADDRESS       public address: HTTP API + scheduler proxy (127.0.0.1:8000)
#   CUBEECO_GATEWAY_API_ADDRESS   private API server, only for the proxy (127.0.0.1:0 = any)
#   DASK_GATEWAY_PASSWORD         shared password of the simple (Basic) authenticator (required)
#   CUBEECO_GATEWAY_BACKEND       local (default) | unsafe-local
#   CUBEECO_GATEWAY_CLUSTERS_DIR  working directories of the clusters (default: a temp dir each)
#   CUBEECO_GATEWAY_MAX_WORKERS   per-cluster worker limit (default 4)
#   CUBEECO_GATEWAY_KEEP_LOGS     if set, keep each cluster's working directory (its logs/)
#   CUBEECO_GATEWAY_TIMEOUT       seconds for cluster/worker start and heartbeat timeouts (120)
#
# Backends:
#   local         dask_gateway_server.backends.local.LocalBackend (with a bug fix, below): the
#                 scheduler and workers are local processes run *as the OS user whose name the
#                 client logged in with* (setuid), so the gateway must run as root and every
#                 user needs an OS account that can run this Python. Logging in as the
#                 gateway's own user also works without root (the tests log in as root).
#   unsafe-local  UnsafeLocalBackend: every cluster runs as the gateway's user, whatever name
#                 was given. Testing only.
#
# SimpleAuthenticator checks one shared password and trusts the user name: for a workstation
# or a test, not for a shared service (use JupyterHub or Kerberos authentication there). For
# Kubernetes use the dask-gateway Helm chart instead of this file (docs/deploy-gateway.md).
import os
import sys

from dask_gateway_server.backends.local import LocalBackend
from dask_gateway_server.options import Float, Integer, Options

c = get_config()  # noqa: F821  (traitlets injects get_config into config files)
_env = os.environ.get

# The proxy is the public face: one port for the HTTP API and the TLS scheduler routes.
c.Proxy.address = _env("CUBEECO_GATEWAY_ADDRESS", "127.0.0.1:8000")
c.Gateway.address = _env("CUBEECO_GATEWAY_API_ADDRESS", "127.0.0.1:0")
c.Gateway.log_level = _env("CUBEECO_GATEWAY_LOG_LEVEL", "INFO")

c.Gateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
if not _env("DASK_GATEWAY_PASSWORD"):
    raise SystemExit("gateway_config.py: set DASK_GATEWAY_PASSWORD (the shared password)")
c.SimpleAuthenticator.password = _env("DASK_GATEWAY_PASSWORD")


class FixedLocalBackend(LocalBackend):
    """LocalBackend with its working-directory permissions fixed.

    dask-gateway-server (2026.3.0 and its main branch) builds the list of paths to chown
    with ``paths.extend(cert_path)``, which adds the *characters* of the TLS file paths:
    ``set_file_permissions`` then chowns "/" to the cluster's user and fails on "t"
    (FileNotFoundError), so no cluster starts. Drop the characters and add the two files.
    """

    def set_file_permissions(self, paths, username):
        dirs = [p for p in paths if len(p) > 1]
        super().set_file_permissions([*dirs, *self._get_tls_paths(dirs[0])], username)

    def cleanup_working_directory(self, workdir):
        if _env("CUBEECO_GATEWAY_KEEP_LOGS"):  # keep scheduler/worker logs for debugging
            return
        super().cleanup_working_directory(workdir)


_backends = {
    "local": FixedLocalBackend,
    "unsafe-local": "dask_gateway_server.backends.local.UnsafeLocalBackend",
}
_backend = _env("CUBEECO_GATEWAY_BACKEND", "local")
if _backend not in _backends:
    raise SystemExit(f"gateway_config.py: CUBEECO_GATEWAY_BACKEND must be one of {sorted(_backends)}")
c.DaskGateway.backend_class = _backends[_backend]
if _env("CUBEECO_GATEWAY_CLUSTERS_DIR"):
    c.LocalBackend.clusters_directory = _env("CUBEECO_GATEWAY_CLUSTERS_DIR")
# Liveness: the default heartbeat timeout (30 s) kills clusters whose scheduler is merely slow
# (seen on a loaded 2-core CI machine while workers compile numba kernels); be patient.
_patience = float(_env("CUBEECO_GATEWAY_TIMEOUT", "120"))
c.LocalBackend.cluster_heartbeat_timeout = _patience
c.LocalBackend.cluster_start_timeout = _patience
c.LocalBackend.worker_start_timeout = _patience
# Scheduler and workers need cubeeco, dask and dask-gateway: run them with this Python.
# (The defaults, `dask-scheduler` / `dask-worker`, are gone from current distributed.)
c.LocalClusterConfig.scheduler_cmd = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
c.LocalClusterConfig.worker_cmd = [sys.executable, "-m", "distributed.cli.dask_worker"]
c.LocalBackend.inherited_environment = [
    "PATH", "PYTHONPATH", "VIRTUAL_ENV", "CONDA_DEFAULT_ENV", "LANG", "LC_ALL",
    "NUMBA_CACHE_DIR", "CUBEECO_DATA",
]

# Resources per cluster; users may pick cores/memory per worker within these bounds:
#   gateway.new_cluster(worker_cores=1, worker_memory=2)
c.LocalClusterConfig.scheduler_cores = 1
c.LocalClusterConfig.scheduler_memory = "1 G"
c.LocalClusterConfig.cluster_max_workers = int(_env("CUBEECO_GATEWAY_MAX_WORKERS", "4"))
c.LocalClusterConfig.idle_timeout = 3600  # (seconds; shut forgotten clusters down)
c.Backend.cluster_options = Options(
    Integer("worker_cores", default=1, min=1, max=4, label="Worker cores"),
    Float("worker_memory", default=1, min=0.5, max=8, label="Worker memory (GiB)"),
    handler=lambda options: {
        "worker_cores": options.worker_cores,
        "worker_memory": int(options.worker_memory * 2**30),
    },
)
