"""deploy/slurm on a real one-node SLURM cluster (munged + slurmctld + slurmd on 127.0.0.1).

The batch script deploy/slurm/cubeeco.sbatch is submitted with ``sbatch``; its command
(``CUBEECO_COMMAND``, default ``cubeeco run "$CONFIG"``) is here a small dask program that
uses dask-jobqueue's SLURMCluster, so the dask workers are SLURM jobs of their own.
Without SLURM/munge the real-cluster tests skip (fail when $CI is set); install them with
``scripts/install-test-deps.sh``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from cubeeco.testing import slurm as slurm_mod

ROOT = Path(__file__).resolve().parents[1]
SBATCH = ROOT / "deploy" / "slurm" / "cubeeco.sbatch"
PBS = ROOT / "deploy" / "pbs" / "cubeeco.pbs"
TEMPLATE = ROOT / "deploy" / "slurm" / "slurm-test.conf"


def _pythonpath() -> str:
    """This source tree first, so jobs (and the `cubeeco` script) import the cubeeco under test."""
    return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    try:
        cluster = slurm_mod.start_slurm(tmp_path_factory.mktemp("slurm"))
    except slurm_mod.SlurmUnavailable as err:
        if _in_ci():
            pytest.fail(f"SLURM unavailable in CI: {err}", pytrace=False)
        pytest.skip(f"SLURM unavailable: {err}")
    with cluster:
        yield cluster


# --------------------------------------------------------------------------------------
# Static checks (no SLURM needed)
# --------------------------------------------------------------------------------------


def test_conf_template_file_matches_module():
    assert TEMPLATE.read_text() == slurm_mod.SLURM_CONF_TEMPLATE


def test_rendered_conf_is_private_to_loopback_and_workdir(tmp_path):
    text = slurm_mod.render_slurm_conf(
        nodename="n1", ctld_port=7001, slurmd_port=7002, munge_socket=tmp_path / "m.sock",
        workdir=tmp_path, cpus=2, memory_mb=1000,
    )
    conf = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
                and not line.startswith(("NodeName", "PartitionName")))
    assert conf["SlurmctldHost"] == "n1(127.0.0.1)"
    assert conf["ProctrackType"] == "proctrack/linuxproc" and conf["TaskPlugin"] == "task/none"
    for key in ("StateSaveLocation", "SlurmdSpoolDir", "SlurmctldLogFile", "SlurmdLogFile",
                "SlurmctldPidFile", "SlurmdPidFile", "JobCompLoc"):
        assert conf[key].startswith(str(tmp_path)), key
    assert "NodeAddr=127.0.0.1" in text and "CPUs=2 RealMemory=1000" in text
    with pytest.raises(KeyError):  # every placeholder must be given
        slurm_mod.render_slurm_conf(nodename="n1")


def test_missing_binaries_raise_with_install_hint(monkeypatch):
    monkeypatch.setattr(slurm_mod.shutil, "which", lambda name, path=None: None)
    with pytest.raises(slurm_mod.SlurmUnavailable, match="install-test-deps.sh"):
        slurm_mod.start_slurm("/nonexistent-never-created")
    assert issubclass(slurm_mod.SlurmUnavailable, RuntimeError)


@pytest.mark.parametrize("script", [SBATCH, PBS], ids=["sbatch", "pbs"])
def test_batch_scripts_parse_and_default_to_cubeeco_run(script, tmp_path):
    """`bash -n` accepts the scripts, and by default they run `cubeeco run "$CONFIG"`."""
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "cubeeco"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done > "$ARGS_OUT"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUBEECO_", "CONFIG", "PBS_"))}
    env.update(PATH=f"{fake_bin}{os.pathsep}{env['PATH']}", ARGS_OUT=str(tmp_path / "args"))
    config = "my runs/run 1.yaml"  # spaces survive the quoting
    if script == SBATCH:
        argv = ["bash", str(script), config]
    else:  # qsub has no script arguments: CONFIG comes through the environment (qsub -v)
        argv, env["CONFIG"], env["PBS_O_WORKDIR"] = ["bash", str(script)], config, str(tmp_path)
    proc = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "args").read_text().splitlines() == ["run", config]
    # and a failing command's status is the job's status
    env["CUBEECO_COMMAND"] = "exit 3"
    assert subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True).returncode == 3


# --------------------------------------------------------------------------------------
# The real cluster
# --------------------------------------------------------------------------------------

CLIENT = textwrap.dedent(
    """
    import json, os, sys, time

    import dask.array as da
    import psutil
    import yaml

    from cubeeco.cluster import connect
    from cubeeco.pipeline.config import ClusterConfig


    def listening(procs):
        return sorted({(c.laddr.ip, c.laddr.port) for p in procs for c in p.net_connections("inet")
                       if c.status == psutil.CONN_LISTEN})


    def worker_and_nanny_listening():
        import psutil
        me = psutil.Process()
        return listening([me, me.parent()])


    cfg = yaml.safe_load(open(os.environ["CONFIG"]))
    t0 = time.time()
    # the pipeline's own code path: cluster.kind slurm (TLS with per-run credentials by default)
    cluster_cfg = ClusterConfig(
        kind="slurm", n_workers=cfg["n_workers"], threads_per_worker=1, memory_limit="1GiB",
        performance_report=False,
        jobqueue={"queue": cfg["queue"], "walltime": "00:10:00", "job_name": "cubeeco-worker",
                  "interface": "lo", "python": sys.executable,
                  "log_directory": cfg["log_directory"], "death_timeout": 60},
    )
    with connect(cluster_cfg) as client:
        cluster = client.cluster
        client.wait_for_workers(cfg["n_workers"], timeout=90)
        started = time.time() - t0
        x = da.arange(cfg["n"], chunks=cfg["n"] // 8)
        total = int((x * 2).sum().compute())
        worker_jobs = client.run(lambda: os.environ.get("SLURM_JOB_ID"))
        script = cluster.job_script()
        words = script.split()
        tls_files = {flag: words[words.index(flag) + 1]
                     for flag in ("--tls-ca-file", "--tls-cert", "--tls-key")}
        tls_dir = os.path.dirname(tls_files["--tls-key"])
        # an outsider (the test, without this run's credentials) tries the scheduler now
        tmp = cfg["scheduler_file"] + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"address": cluster.scheduler_address}, f)
        os.replace(tmp, cfg["scheduler_file"])
        deadline = time.time() + 120
        while not os.path.exists(cfg["outsider_done"]) and time.time() < deadline:
            time.sleep(0.2)
        result = {
            "total": total,
            "total_after_outsiders": int((x + 1).sum().compute()),
            "scheduler": cluster.scheduler_address,
            "client_job": os.environ.get("SLURM_JOB_ID"),
            "worker_jobs": sorted(worker_jobs.values()),
            "submitted_jobs": sorted(str(j.job_id) for j in cluster.workers.values()),
            "workers_up_seconds": round(started, 2),
            "job_script": script,
            "tls_dir": tls_dir,
            "tls_dir_mode": oct(os.stat(tls_dir).st_mode & 0o777),
            "tls_file_modes": sorted({oct(os.stat(p).st_mode & 0o777) for p in tls_files.values()}),
            "scheduler_listening": listening([psutil.Process()]),
            "dashboard_port": client.scheduler_info()["services"]["dashboard"],
            "workers_listening": sorted(client.run(worker_and_nanny_listening).values()),
        }
    result["tls_dir_left"] = os.path.exists(tls_dir)
    with open(cfg["result"], "w") as f:
        json.dump(result, f)
    """
)


def _outsider_attempts(address: str) -> dict[str, str]:
    from tests.test_cluster_security import outsider_attempts

    return outsider_attempts(address)


@pytest.mark.slow
def test_sbatch_client_job_runs_dask_jobqueue_workers_as_slurm_jobs(slurm, tmp_path):
    """The client job (cubeeco.cluster.connect, kind slurm) gets 2 worker jobs over TLS with
    per-run credentials; while it runs, this test process (an outsider) is refused."""
    pytest.importorskip("dask_jobqueue")
    assert slurm.node_state() == "idle"
    client_py = tmp_path / "client.py"
    client_py.write_text(CLIENT)
    n = 1_000_000
    config = tmp_path / "run.yaml"
    scheduler_file, outsider_done = tmp_path / "scheduler.json", tmp_path / "outsider.done"
    config.write_text(yaml.safe_dump({
        "queue": slurm.partition, "n_workers": 2, "n": n,
        "log_directory": str(tmp_path / "worker-logs"), "result": str(tmp_path / "result.json"),
        "scheduler_file": str(scheduler_file), "outsider_done": str(outsider_done),
    }))
    out = tmp_path / "client-%j.out"
    job = slurm.sbatch(
        SBATCH, str(config),
        env={"CUBEECO_COMMAND": f'"{sys.executable}" {client_py}', "PYTHONPATH": _pythonpath()},
        options=(f"--chdir={tmp_path}", f"--output={out}", "--mem=1G", "--time=00:05:00"),
    )
    log = Path(str(out).replace("%j", str(job)))
    try:
        deadline = time.monotonic() + 150
        while not scheduler_file.exists():
            state = slurm.job_state(job)
            if state not in ("PENDING", "RUNNING", "CONFIGURING") or time.monotonic() > deadline:
                text = log.read_text() if log.exists() else "(no job output)"
                pytest.fail(f"client job {job} {state} before its scheduler was up\n{text}")
            time.sleep(0.3)
        address = json.loads(scheduler_file.read_text())["address"]
        seen = _outsider_attempts(address)   # raises if any outsider gets in
    finally:
        outsider_done.touch()
    state = slurm.wait_job(job, timeout=150)
    log_text = log.read_text() if log.exists() else "(no job output)"
    assert state == "COMPLETED", f"client job {job}: {state}\n{log_text}\n{slurm._log_tail()}"
    assert f"[cubeeco.sbatch] job {job}" in log_text and "exit status 0" in log_text

    result = json.loads((tmp_path / "result.json").read_text())
    assert result["total"] == n * (n - 1)
    assert result["total_after_outsiders"] == n * (n + 1) // 2   # the run was not disturbed
    assert result["client_job"] == str(job)
    # nobody else gets in: TLS with this run's credentials; outsiders were refused
    assert result["scheduler"] == address and address.startswith("tls://127.0.0.1:")
    assert "TLS certificate does not match" in seen["tls, other credentials"], seen
    assert set(seen) == {"tcp", "tls, other credentials", "tls, no certificate"}
    script = result["job_script"]
    assert "--protocol tls://" in script and "--tls-key" in script
    assert "PRIVATE KEY" not in script   # the worker job script carries paths, not keys
    assert Path(result["tls_dir"]).parent == tmp_path   # the job's (shared) working directory
    assert result["tls_dir_mode"] == "0o700" and result["tls_file_modes"] == ["0o600"]
    assert not result["tls_dir_left"], "per-run credentials left behind"
    # scheduler, dashboard, workers and nannies: loopback only (here the interface is lo;
    # a 0.0.0.0 listener would be reachable on every interface of a compute node)
    assert ["127.0.0.1", result["dashboard_port"]] in result["scheduler_listening"]
    assert {ip for ip, _ in result["scheduler_listening"]} == {"127.0.0.1"}, result
    assert len(result["workers_listening"]) == 2
    for listeners in result["workers_listening"]:
        assert listeners and {ip for ip, _ in listeners} == {"127.0.0.1"}, listeners
    # each worker ran inside its own SLURM job, the jobs dask-jobqueue submitted
    assert len(result["worker_jobs"]) == 2 and len(set(result["worker_jobs"])) == 2
    assert result["worker_jobs"] == result["submitted_jobs"]
    assert str(job) not in result["worker_jobs"]
    assert "#SBATCH -p debug" in script

    # SLURM's own record: the job completion log lists the client and both worker jobs
    history = {j["JobId"]: j for j in slurm.job_history()}
    assert history[str(job)]["JobState"] == "COMPLETED"
    assert history[str(job)]["Name"] == "cubeeco"
    for wid in result["worker_jobs"]:
        assert history[wid]["Name"] == "cubeeco-worker"
        # SLURMCluster.close() scancels the workers (some exit on their own first)
        assert history[wid]["JobState"] in ("CANCELLED", "COMPLETED"), history[wid]
    squeue = slurm.run("squeue", "-h", "-o", "%i").stdout.split()
    assert not set(squeue) & set(result["worker_jobs"]), "worker jobs outlived the client"


@pytest.mark.slow
def test_default_sbatch_command_runs_the_pipeline_with_slurm_workers(slurm, tiny_base, tmp_path):
    """`sbatch cubeeco.sbatch run.yaml` -> `cubeeco run` with cluster.kind slurm, twice.

    The second submission finds every stage in the store and skips it (resumable runs).
    Most of the time is numba compiling the kernels in each fresh worker process.
    """
    pytest.importorskip("dask_jobqueue")
    pytest.importorskip("cubeeco.pipeline.run")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "name": "tiny", "store": "run.zarr", "steps": ["annual", "land_cover"],
        "source": str(tiny_base.root),
        "grid": {"epsg": 32649, "resolution": 30.0,
                 "bounds": [399990.0, 4347600.0, 402870.0, 4350000.0]},
        "params": {"annual": {"indices": []}}, "chunks": 32, "region_chunks": 1,
        "cluster": {
            "kind": "slurm", "n_workers": 2, "threads_per_worker": 1, "memory_limit": "1GiB",
            "performance_report": False,
            "jobqueue": {"queue": slurm.partition, "walltime": "00:15:00", "interface": "lo",
                         "python": sys.executable, "job_name": "cubeeco-worker",
                         "log_directory": str(tmp_path / "worker-logs")},
        },
    }))

    def submit() -> tuple[int, list[dict]]:
        job = slurm.sbatch(
            SBATCH, str(config),
            env={"CUBEECO_COMMAND": "", "PYTHONPATH": _pythonpath()},  # "": the default command
            options=(f"--chdir={tmp_path}", f"--output={tmp_path}/client-%j.out", "--mem=2G",
                     "--time=00:15:00"),
        )
        state = slurm.wait_job(job, timeout=540)
        text = (tmp_path / f"client-{job}.out").read_text()
        assert state == "COMPLETED", f"client job {job}: {state}\n{text[-4000:]}"
        assert 'running: cubeeco run "$CONFIG"' in text
        reports = [json.loads(line) for line in text.splitlines() if line.startswith('{"stage"')]
        return job, reports

    job, first = submit()
    assert [(r["stage"], r["action"]) for r in first] == [("annual", "computed"),
                                                          ("land_cover", "computed")]
    assert {"annual", "land_cover"} <= {p.name for p in (tmp_path / "run.zarr").iterdir()}
    workers = [j for j in slurm.job_history() if j["Name"] == "cubeeco-worker"
               and int(j["JobId"]) > job]
    assert len(workers) == 2, slurm.job_history()
    # the default is TLS with per-run credentials, removed when the run ends
    worker_logs = "".join(p.read_text() for p in (tmp_path / "worker-logs").glob("*"))
    assert "Registered to:" in worker_logs and "tls://127.0.0.1:" in worker_logs, worker_logs
    assert not list(tmp_path.glob(".cubeeco-tls-*"))
    _, second = submit()
    assert [r["action"] for r in second] == ["skipped", "skipped"], second
