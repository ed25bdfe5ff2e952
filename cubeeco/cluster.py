"""Where dask work runs: threads, a LocalCluster, an existing scheduler, SLURM/PBS
(dask-jobqueue) or dask-gateway — chosen by the run config's ``cluster`` section.

Who can connect (docs/deploy-slurm.md, "Who can connect"):

- ``local``: scheduler, workers, nannies and every dashboard listen on 127.0.0.1 only.
  ``cluster.tls: {enabled: true}`` adds per-run TLS (other accounts on a shared machine can
  reach 127.0.0.1; TLS costs about 2x on transfer-heavy graphs, hence off by default).
- ``slurm`` / ``pbs``: the scheduler must be reachable from the compute nodes, so it speaks
  TLS with per-run credentials (``Security.temporary()``) unless ``cluster.tls`` gives site
  certificate files or ``enabled: false``. The workers' copies of the temporary key live in a
  private (0700) folder on a filesystem the compute nodes share, removed when the run ends
  (SIGTERM too); the worker job scripts carry only the paths. Dashboards on 127.0.0.1.
- ``scheduler``: a ``tls://`` address needs ``cluster.tls: {ca_file, cert, key}`` (or the
  ``distributed.comm.tls`` dask configuration).
- ``gateway``: dask-gateway's own authentication and TLS.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

from ._signals import sigterm_unwinds

log = logging.getLogger(__name__)

__all__ = ["TLS_KEYS", "connect", "jobqueue_cluster", "tls_config_problem"]

TLS_FILE_KEYS = ("ca_file", "cert", "key")
TLS_KEYS = ("enabled", *TLS_FILE_KEYS)
#: dashboards (scheduler and workers) listen on loopback; reach them with an ssh tunnel
LOOPBACK_DASHBOARD = "127.0.0.1:0"
JOBQUEUE_DASHBOARD = "127.0.0.1:8787"   # a busy port falls back to a free one (with a warning)
TLS_DIR_PREFIX = ".cubeeco-tls-"


def tls_config_problem(kind: str, tls: dict) -> str | None:
    """Why ``cluster.tls`` is wrong for this cluster kind (a sentence naming the key), or None.

    ``tls`` may hold ``enabled`` (bool) and the PEM file paths ``ca_file``, ``cert`` and
    ``key`` (all three or none). Called by the config's validation, before anything runs.
    """
    if not isinstance(tls, dict):
        return f"cluster.tls: expected a mapping ({{ca_file, cert, key}} or {{enabled: ...}}), got {tls!r}."
    unknown = sorted(set(tls) - set(TLS_KEYS))
    if unknown:
        return f"cluster.tls.{unknown[0]}: unknown key; known keys here: {list(TLS_KEYS)}."
    if "enabled" in tls and not isinstance(tls["enabled"], bool):
        return f"cluster.tls.enabled: expected true or false, got {tls['enabled']!r}."
    for key in TLS_FILE_KEYS:
        if key in tls and not (isinstance(tls[key], str) and tls[key].strip()):
            return f"cluster.tls.{key}: expected the path of a PEM file, got {tls[key]!r}."
    given = [k for k in TLS_FILE_KEYS if k in tls]
    if given and len(given) < len(TLS_FILE_KEYS):
        missing = [k for k in TLS_FILE_KEYS if k not in tls]
        return f"cluster.tls: give all of ca_file, cert and key (missing {missing})."
    if given and tls.get("enabled") is False:
        return "cluster.tls: enabled is false but certificate files are given; remove one or the other."
    if tls and kind == "threads":
        return "cluster.tls: not used with cluster.kind 'threads' (nothing listens); remove it."
    if tls and kind == "gateway":
        return ("cluster.tls: not used with cluster.kind 'gateway' (dask-gateway has its own "
                "authentication and TLS; see cluster.gateway); remove it.")
    if kind == "scheduler" and "enabled" in tls:
        return ("cluster.tls.enabled: not used with cluster.kind 'scheduler' (the address says "
                "tls:// or tcp://); give ca_file, cert and key for a tls:// scheduler.")
    return None


def _resolve(path: str, base_dir) -> str:
    p = Path(os.path.expandvars(path)).expanduser()
    if not p.is_absolute():
        p = Path(base_dir or os.getcwd()) / p
    return str(p)


def _tls_paths(tls: dict, base_dir) -> dict[str, str]:
    paths = {k: _resolve(tls[k], base_dir) for k in TLS_FILE_KEYS}
    for key, path in paths.items():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"cluster.tls.{key}: {path} is not a file.")
    key_mode = os.stat(paths["key"]).st_mode
    if key_mode & 0o077:   # like ssh with a private key: refuse, do not just warn
        raise PermissionError(
            f"cluster.tls.key: {paths['key']} can be read by other users "
            f"(mode {stat.filemode(key_mode)}); make it private: chmod 600 {paths['key']}"
        )
    return paths


def _security_from_files(tls: dict, base_dir):
    """A ``Security`` for every role (scheduler, worker, client) from the cluster.tls files."""
    from distributed.security import Security

    paths = _tls_paths(tls, base_dir)
    cert, key = paths["cert"], paths["key"]
    return Security(tls_ca_file=paths["ca_file"], tls_scheduler_cert=cert, tls_scheduler_key=key,
                    tls_worker_cert=cert, tls_worker_key=key, tls_client_cert=cert,
                    tls_client_key=key, require_encryption=True)


def _temporary_security():
    from distributed.security import Security

    try:
        return Security.temporary()
    except ImportError as err:
        raise ImportError("TLS with per-run credentials needs the cryptography package: "
                          "pip install cryptography (or set cluster.tls: {enabled: false})") from err


def _private_dir(parent: str) -> Path:
    """A new 0700 folder in ``parent`` for the workers' copies of the per-run credentials."""
    parent_path = Path(parent)
    if not parent_path.is_dir():
        raise FileNotFoundError(
            f"cluster.jobqueue.shared_temp_directory: {parent} is not a folder (it must be on a "
            "filesystem the compute nodes share)."
        )
    path = Path(tempfile.mkdtemp(prefix=TLS_DIR_PREFIX, dir=parent_path))
    mode = path.stat().st_mode
    if mode & 0o077:  # a filesystem that ignores the mode mkdtemp asked for
        shutil.rmtree(path, ignore_errors=True)
        raise PermissionError(f"{path} was created {stat.filemode(mode)}, not private (0700); "
                              "choose another cluster.jobqueue.shared_temp_directory")
    return path


def _check_private(cluster, tls_dir: Path) -> None:
    """The files dask-jobqueue wrote for the workers: only the owner may read them."""
    for key in TLS_FILE_KEYS:
        handle = getattr(cluster, f"_job_{key}", None)
        if handle is None:
            continue
        mode = os.stat(handle.name).st_mode
        if Path(handle.name).parent != tls_dir or mode & 0o077:
            raise PermissionError(f"worker credential {handle.name} is {stat.filemode(mode)} "
                                  f"outside or in {tls_dir}; expected 0600 inside it")


def _remove_credentials(cluster, tls_dir: Path | None) -> None:
    for key in TLS_FILE_KEYS:
        handle = getattr(cluster, f"_job_{key}", None) if cluster is not None else None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()   # a NamedTemporaryFile: closing deletes it
    if tls_dir is not None:
        shutil.rmtree(tls_dir, ignore_errors=True)


@contextlib.contextmanager
def jobqueue_cluster(cfg, *, base_dir=None):
    """The dask-jobqueue ``SLURMCluster`` / ``PBSCluster`` for ``cfg`` (kind slurm or pbs), not
    yet scaled, with TLS on by default (see the module docs); closed and its per-run
    credentials removed on exit.

    ``cfg.jobqueue`` goes to the cluster class; ``jobqueue.shared_temp_directory`` (default:
    the dask config ``jobqueue.<kind>.shared-temp-directory``, else the working directory)
    is where the private credential folder is made: it must be shared with the compute nodes.
    """
    try:
        import dask_jobqueue
    except ImportError as err:
        raise ImportError("cluster.kind slurm/pbs needs dask-jobqueue: pip install dask-jobqueue") from err
    import dask

    kind = cfg.kind
    cls = dask_jobqueue.SLURMCluster if kind == "slurm" else dask_jobqueue.PBSCluster
    tls = dict(cfg.tls)
    options = {"cores": cfg.threads_per_worker, "processes": 1, "memory": cfg.memory_limit,
               **cfg.jobqueue}
    if "security" in options:
        raise ValueError("cluster.jobqueue.security: set TLS with cluster.tls instead "
                         "(per-run credentials by default, or {ca_file, cert, key}).")
    use_tls = tls.get("enabled", True)
    protocol = options.get("protocol")
    if use_tls and protocol not in (None, "tls://", "tls"):
        raise ValueError(f"cluster.jobqueue.protocol: {protocol!r} with TLS on; remove it, or "
                         "set cluster.tls: {enabled: false} to run without TLS.")
    # dask-jobqueue's default dashboard listens on every interface: loopback unless asked.
    # Start from the dask config's values, which passing the options would otherwise replace.
    scheduler_options = dict(options.get("scheduler_options")
                             or dask.config.get(f"jobqueue.{kind}.scheduler-options", None) or {})
    scheduler_options.setdefault("dashboard_address", JOBQUEUE_DASHBOARD)
    options["scheduler_options"] = scheduler_options
    # worker dashboards (dask-worker defaults to all interfaces): loopback, like the scheduler's
    extra = list(options.get("worker_extra_args")
                 or dask.config.get(f"jobqueue.{kind}.worker-extra-args", None) or [])
    if not any(a.startswith(("--dashboard-address", "--no-dashboard")) for a in extra):
        extra += ["--dashboard-address", LOOPBACK_DASHBOARD]
    options["worker_extra_args"] = extra

    tls_dir = None
    shared = options.pop("shared_temp_directory", None) or dask.config.get(
        f"jobqueue.{kind}.shared-temp-directory", None)
    if not use_tls:
        log.warning("cluster.tls.enabled is false: anyone who can reach the scheduler on the "
                    "cluster network can run code as you")
    elif any(k in tls for k in TLS_FILE_KEYS):
        options.update(security=_security_from_files(tls, base_dir), protocol="tls://")
    else:
        security = _temporary_security()
        parent = os.path.expanduser(os.path.expandvars(shared)) if shared else os.getcwd()
        tls_dir = _private_dir(parent)
        options.update(security=security, protocol="tls://", shared_temp_directory=str(tls_dir))
    cluster = None
    try:
        with sigterm_unwinds(), cls(**options) as cluster:
            if tls_dir is not None:
                _check_private(cluster, tls_dir)
            log.info("%s scheduler %s (dashboard %s)", cls.__name__, cluster.scheduler_address,
                     cluster.dashboard_link)
            yield cluster
    finally:
        _remove_credentials(cluster, tls_dir)


def _scheduler_security(cfg, base_dir):
    """The client's ``Security`` for an existing scheduler at ``cfg.address``, or None."""
    import dask

    tls = dict(cfg.tls)
    is_tls = cfg.address.startswith("tls://")
    if tls and not is_tls:
        raise ValueError(f"cluster.address: {cfg.address} is not a tls:// address but cluster.tls "
                         "is given; use tls://host:port (or remove cluster.tls).")
    if tls:
        from distributed.security import Security

        paths = _tls_paths(tls, base_dir)
        return Security(tls_ca_file=paths["ca_file"], tls_client_cert=paths["cert"],
                        tls_client_key=paths["key"], require_encryption=True)
    if is_tls and not dask.config.get("distributed.comm.tls.client.cert", None):
        raise ValueError(f"cluster.address: {cfg.address} needs TLS credentials; give "
                         "cluster.tls: {ca_file, cert, key} (the files for this scheduler).")
    return None   # tcp://, or TLS from the dask configuration (Client reads it)


@contextlib.contextmanager
def connect(cfg, *, base_dir=None):
    """Yield a ``distributed.Client`` (or ``None`` for the threaded scheduler).

    ``base_dir``: the folder relative ``cluster.tls`` paths are taken from (the run config's
    folder; default the working directory).
    """
    kind = cfg.kind
    if kind == "threads":
        yield None
        return
    from distributed import Client, LocalCluster

    if kind == "local":
        # worker processes (numba kernels release the GIL, but I/O and Python glue do not),
        # each with its own memory limit; scheduler, workers and dashboards on loopback only
        tls = dict(cfg.tls)
        security = {}
        if any(k in tls for k in TLS_FILE_KEYS):
            security = {"security": _security_from_files(tls, base_dir), "protocol": "tls://"}
        elif tls.get("enabled"):
            security = {"security": _temporary_security(), "protocol": "tls://"}
        with LocalCluster(n_workers=cfg.n_workers, threads_per_worker=cfg.threads_per_worker,
                          memory_limit=cfg.memory_limit, processes=True, host="127.0.0.1",
                          dashboard_address=LOOPBACK_DASHBOARD,
                          worker_dashboard_address=LOOPBACK_DASHBOARD,
                          **security) as cluster, Client(cluster) as client:
            log.info("LocalCluster %s (%d workers x %d threads, %s each), dashboard %s",
                     cluster.scheduler_address, cfg.n_workers, cfg.threads_per_worker,
                     cfg.memory_limit, cluster.dashboard_link)
            yield client
        return
    if kind == "scheduler":
        security = _scheduler_security(cfg, base_dir)
        with Client(cfg.address, timeout="30s", security=security) as client:
            yield client
        return
    if kind in ("slurm", "pbs"):
        with jobqueue_cluster(cfg, base_dir=base_dir) as cluster, Client(cluster) as client:
            cluster.scale(jobs=cfg.n_workers)
            client.wait_for_workers(1, timeout=600)
            yield client
        return
    if kind == "gateway":
        try:
            from dask_gateway import BasicAuth, Gateway
        except ImportError as err:
            raise ImportError("cluster.kind gateway needs dask-gateway: pip install dask-gateway") from err
        import getpass

        opts = dict(cfg.gateway)
        # the local backend runs workers as the login user: default to the current account
        username = opts.pop("username", getpass.getuser())
        auth = BasicAuth(username, opts.pop("password")) if "password" in opts else None
        gateway = Gateway(cfg.address, auth=auth)
        try:
            cluster = gateway.new_cluster(**opts)
            try:
                cluster.scale(cfg.n_workers)
                with cluster.get_client() as client:
                    client.wait_for_workers(1, timeout=300)
                    yield client
            finally:
                cluster.shutdown()
        finally:
            gateway.close()   # an unclosed Gateway stalls another gateway's event loop when collected
        return
    raise ValueError(f"unknown cluster kind {kind!r}")
