"""Where dask work runs: threads, a LocalCluster, an existing scheduler, SLURM/PBS
(dask-jobqueue) or dask-gateway — chosen by the run config's ``cluster`` section."""

from __future__ import annotations

import contextlib
import logging

log = logging.getLogger(__name__)


@contextlib.contextmanager
def connect(cfg):
    """Yield a ``distributed.Client`` (or ``None`` for the threaded scheduler)."""
    kind = cfg.kind
    if kind == "threads":
        yield None
        return
    from distributed import Client, LocalCluster

    if kind == "local":
        # worker processes (numba kernels release the GIL, but I/O and Python glue do not),
        # each with its own memory limit; bound to loopback only
        with LocalCluster(n_workers=cfg.n_workers, threads_per_worker=cfg.threads_per_worker,
                          memory_limit=cfg.memory_limit, processes=True, host="127.0.0.1",
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            log.info("LocalCluster %s (%d workers x %d threads, %s each)", cluster.scheduler_address,
                     cfg.n_workers, cfg.threads_per_worker, cfg.memory_limit)
            yield client
        return
    if kind == "scheduler":
        with Client(cfg.address, timeout="30s") as client:
            yield client
        return
    if kind in ("slurm", "pbs"):
        try:
            import dask_jobqueue
        except ImportError as err:
            raise ImportError("cluster.kind slurm/pbs needs dask-jobqueue: pip install dask-jobqueue") from err
        cls = dask_jobqueue.SLURMCluster if kind == "slurm" else dask_jobqueue.PBSCluster
        options = {"cores": cfg.threads_per_worker, "processes": 1, "memory": cfg.memory_limit, **cfg.jobqueue}
        with cls(**options) as cluster, Client(cluster) as client:
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
