"""A real one-node SLURM cluster on 127.0.0.1 for tests: munged + slurmctld + slurmd.

``start_slurm(workdir)`` writes a private ``slurm.conf`` (from :data:`SLURM_CONF_TEMPLATE`,
the same text as ``deploy/slurm/slurm-test.conf``), creates a munge key, starts ``munged``
on its own socket, then ``slurmctld`` and ``slurmd`` in the foreground as child processes,
and waits until ``sinfo`` reports the node idle. Everything (state, spool, logs, pid files,
the munge socket and key) lives in ``workdir``; the daemons listen on free ports on
127.0.0.1. The returned :class:`LocalSlurm` is a context manager; ``.env`` is the
environment for SLURM client commands (``SLURM_CONF`` set), ``.sbatch()`` submits a script,
``.wait_job()`` waits for a job to finish, ``.job_history()`` parses the job completion
log, ``.stop()`` cancels all jobs and stops the daemons.

Needs the Debian 12 packages ``slurmctld``, ``slurmd``, ``slurm-client`` and ``munge``
(Slurm 22.05, which has no ``auth/slurm``: munge is required) and root (``SlurmUser=root``):
run ``scripts/install-test-deps.sh``. When they are missing, :class:`SlurmUnavailable`
(a ``RuntimeError``) is raised with that hint.

The configuration is for tests only: up to 4 jobs may share a core (partition
``OverSubscribe=FORCE:4``), so a batch job and its worker jobs fit on 2 CPUs; there is no slurmdbd
(``sacct`` does not work), finished jobs go to ``jobcomp.log`` (``JobCompType=jobcomp/filetxt``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = [
    "SLURM_CONF_TEMPLATE",
    "LocalSlurm",
    "SlurmError",
    "SlurmUnavailable",
    "find_slurm_binaries",
    "render_slurm_conf",
    "start_slurm",
]

INSTALL_HINT = (
    "install SLURM and munge with `bash scripts/install-test-deps.sh` (as root; Debian 12 "
    "packages slurmctld slurmd slurm-client munge)"
)

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "sinfo", "squeue", "scancel", "scontrol")
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"]
)
_UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes; munge appends ".lock"

#: Text of deploy/slurm/slurm-test.conf (kept identical by tests/test_deploy_slurm.py).
SLURM_CONF_TEMPLATE = """# Private one-node SLURM cluster on 127.0.0.1, for tests and local trials of the deploy/slurm
# scripts. NOT a production configuration (no accounting database, root daemons, CPUs shared).
#
# This is a string.Template: cubeeco.testing.slurm.start_slurm() fills in the placeholders
# (a copy of this text is embedded in that module; a test keeps the two identical).
# Slurm 22.05 (Debian 12 slurmctld/slurmd/slurm-client) with munge for authentication.
ClusterName=cubeeco-test
SlurmctldHost=${nodename}(127.0.0.1)
SlurmctldPort=${ctld_port}
SlurmdPort=${slurmd_port}
SlurmUser=root
SlurmdUser=root

# Authentication: a private munged (own key and socket in the work directory).
AuthType=auth/munge
AuthInfo=socket=${munge_socket}
CredType=cred/munge

# No cgroups needed: process tracking by /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SwitchType=switch/none
MpiDefault=none
PlugStackConfig=${workdir}/plugstack.conf

# Scheduling: cores and memory are consumable, but the partition lets up to 4 jobs share a
# core (OverSubscribe=FORCE:4), so the batch "client" job and its dask-jobqueue worker jobs
# all run on a 2-CPU machine.
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
Waittime=0

# No slurmdbd: finished jobs are appended to a text file instead (sacct is unavailable).
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=${workdir}/jobcomp.log

# State, spool, logs and pid files all live in the work directory.
StateSaveLocation=${workdir}/state
SlurmdSpoolDir=${workdir}/spool
SlurmctldLogFile=${workdir}/slurmctld.log
SlurmdLogFile=${workdir}/slurmd.log
SlurmctldPidFile=${workdir}/slurmctld.pid
SlurmdPidFile=${workdir}/slurmd.pid
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true

NodeName=${nodename} NodeAddr=127.0.0.1 NodeHostname=${nodename} CPUs=${cpus} RealMemory=${memory_mb} State=UNKNOWN
PartitionName=debug Nodes=${nodename} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""


class SlurmError(RuntimeError):
    """The local SLURM cluster failed to start or a job failed."""


class SlurmUnavailable(SlurmError):
    """SLURM or munge is not installed, or we are not root."""


def find_slurm_binaries() -> dict[str, str]:
    """Paths of the SLURM/munge daemons and client commands; SlurmUnavailable if any is missing."""
    found, missing = {}, []
    for name in DAEMONS + CLIENTS:
        path = shutil.which(name, path=_SEARCH_PATH)
        if path is None:
            missing.append(name)
        else:
            found[name] = path
    if missing:
        raise SlurmUnavailable(f"missing SLURM/munge programs {missing}: {INSTALL_HINT}")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb(margin_fraction: float = 0.1, margin_min_mb: int = 512) -> int:
    """MemTotal from /proc/meminfo in MiB, minus a margin (slurmd drains a node that over-reports)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) // 1024
                break
        else:  # pragma: no cover
            raise SlurmError("no MemTotal in /proc/meminfo")
    return max(256, total - max(margin_min_mb, int(total * margin_fraction)))


def _searchable_by_all(path: Path) -> bool:
    """True if every directory from / down to ``path`` has the execute bit for others."""
    for d in [path, *path.parents]:
        if not os.stat(d).st_mode & 0o001:
            return False
    return True


def render_slurm_conf(template: str | None = None, **values) -> str:
    """Fill the ``${...}`` fields of the slurm.conf template (default :data:`SLURM_CONF_TEMPLATE`)."""
    return string.Template(template or SLURM_CONF_TEMPLATE).substitute(values)


class LocalSlurm:
    """A running private SLURM cluster; use as a context manager or call :meth:`stop`."""

    def __init__(self, workdir: Path, conf: Path, nodename: str, bins: dict[str, str]):
        self.workdir = workdir
        self.conf = conf
        self.nodename = nodename
        self.partition = "debug"
        self.bins = bins
        self.jobcomp_log = workdir / "jobcomp.log"
        self.slurmctld_log = workdir / "slurmctld.log"
        self.slurmd_log = workdir / "slurmd.log"
        self.env = dict(os.environ, SLURM_CONF=str(conf))
        # SLURM's directories go after the caller's PATH, so jobs keep the caller's `python`
        self.env["PATH"] = os.pathsep.join(
            dict.fromkeys([os.environ.get("PATH", ""), *(str(Path(p).parent) for p in bins.values())])
        )
        self.procs: dict[str, subprocess.Popen] = {}
        self._cleanup_dirs: list[Path] = []
        self.start_seconds: float | None = None

    # -- client commands -----------------------------------------------------------------
    def run(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a SLURM client command (``sinfo``, ``squeue``, ...) against this cluster."""
        proc = subprocess.run(
            [self.bins.get(args[0], args[0]), *args[1:]],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise SlurmError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def sbatch(self, script: str | os.PathLike, *args: str, env: dict | None = None,
               options: tuple[str, ...] = ()) -> int:
        """Submit a batch script; returns the job id. ``env`` is added to the job's environment."""
        full_env = dict(self.env, **(env or {}))
        proc = subprocess.run(
            [self.bins["sbatch"], "--parsable", *options, str(script), *args],
            env=full_env, capture_output=True, text=True, timeout=30,
        )
        if proc.returncode != 0:
            raise SlurmError(f"sbatch {script} failed: {proc.stderr.strip()}")
        return int(proc.stdout.strip().split(";")[0])

    def job_state(self, job_id: int) -> str | None:
        """The job's state (PENDING, RUNNING, COMPLETED, FAILED, ...), None if unknown."""
        proc = self.run("scontrol", "-o", "show", "job", str(job_id), check=False)
        for field in proc.stdout.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        return None

    def wait_job(self, job_id: int, timeout: float = 120) -> str:
        """Wait until the job has left PENDING/RUNNING/COMPLETING; return its final state."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state not in (None, "PENDING", "RUNNING", "COMPLETING", "CONFIGURING"):
                return state
            self._check_alive()
            time.sleep(0.5)
        raise SlurmError(f"job {job_id} still {state} after {timeout} s")

    def job_history(self) -> list[dict[str, str]]:
        """Finished jobs from the jobcomp/filetxt log: one dict per job (JobId, Name, JobState, ...)."""
        if not self.jobcomp_log.exists():
            return []
        jobs = []
        for line in self.jobcomp_log.read_text().splitlines():
            fields = {}
            for token in line.split():
                if "=" in token:
                    key, value = token.split("=", 1)
                    fields[key] = value
            if fields:
                jobs.append(fields)
        return jobs

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-N", "-n", self.nodename, "-o", "%t").stdout.strip()

    # -- lifecycle ------------------------------------------------------------------------
    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise SlurmError(f"{name} exited with {proc.returncode}; {self._log_tail()}")

    def _log_tail(self, n: int = 15) -> str:
        parts = []
        for log in (self.workdir / "munged.log", self.slurmctld_log, self.slurmd_log):
            if log.exists():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-n:])
                parts.append(f"--- {log} ---\n{tail}")
        return "\n".join(parts) or "(no logs)"

    def stop(self, timeout: float = 15) -> None:
        """Cancel all jobs, wait for them to end, then stop slurmd, slurmctld and munged."""
        if not self.procs:
            return
        if all(p.poll() is None for p in self.procs.values()):
            self.run("scancel", "--full", "--user", "root", check=False)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                out = self.run("squeue", "-h", "-o", "%i", check=False).stdout.strip()
                if not out:
                    break
                time.sleep(0.3)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        for d in self._cleanup_dirs:
            shutil.rmtree(d, ignore_errors=True)

    def __enter__(self) -> LocalSlurm:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LocalSlurm node={self.nodename} conf={self.conf}>"


def start_slurm(
    workdir: str | os.PathLike,
    *,
    cpus: int | None = None,
    memory_mb: int | None = None,
    timeout: float = 60,
) -> LocalSlurm:
    """Start munged, slurmctld and slurmd for a private one-node cluster; see the module docs.

    ``cpus`` defaults to ``os.cpu_count()`` and ``memory_mb`` to MemTotal minus 10 % (at
    least 512 MiB). Returns once the node is idle; raises :class:`SlurmUnavailable` when
    the programs are missing or we are not root, :class:`SlurmError` when start-up fails
    (the message carries the daemons' log tails).
    """
    bins = find_slurm_binaries()
    if os.geteuid() != 0:
        raise SlurmUnavailable("the test SLURM cluster runs its daemons as root (SlurmUser=root)")
    t0 = time.monotonic()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (workdir / sub).mkdir(exist_ok=True)
    (workdir / "plugstack.conf").write_text("")
    nodename = socket.gethostname().split(".")[0]

    # munge: the socket path must fit in sun_path, and munged insists that every directory
    # above the socket is searchable by all (pytest's /tmp/pytest-of-root is 0700); otherwise
    # fall back to a short directory directly under /tmp.
    munge_dir = workdir / "munge"
    cleanup = []
    if len(str(munge_dir / "munge.socket.lock")) > _UNIX_SOCKET_MAX or not _searchable_by_all(
        workdir
    ):
        munge_dir = Path(tempfile.mkdtemp(prefix="cubeeco-munge-", dir="/tmp"))
        cleanup.append(munge_dir)
    munge_dir.mkdir(exist_ok=True)
    os.chmod(munge_dir, 0o755)  # munged: socket dir must be o+x, not g/o-writable
    key = munge_dir / "munge.key"
    if not key.exists():
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
    munge_socket = munge_dir / "munge.socket"

    conf = workdir / "slurm.conf"
    conf.write_text(
        render_slurm_conf(
            nodename=nodename,
            ctld_port=_free_port(),
            slurmd_port=_free_port(),
            munge_socket=munge_socket,
            workdir=workdir,
            cpus=cpus or os.cpu_count() or 1,
            memory_mb=memory_mb or _memory_mb(),
        )
    )
    slurm = LocalSlurm(workdir, conf, nodename, bins)
    slurm._cleanup_dirs = cleanup

    def spawn(name: str, args: list[str]) -> None:
        log = open(workdir / f"{name}.stdout", "ab")
        slurm.procs[name] = subprocess.Popen(
            [bins[name], *args], env=slurm.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()

    try:
        spawn("munged", [
            "--foreground", f"--socket={munge_socket}", f"--key-file={key}",
            f"--log-file={workdir / 'munged.log'}", f"--pid-file={munge_dir / 'munged.pid'}",
            f"--seed-file={munge_dir / 'munged.seed'}",
        ])
        _wait_for(lambda: munge_socket.exists(), slurm, 10, "munged socket")
        spawn("slurmctld", ["-D", "-i", "-f", str(conf)])
        _wait_for(lambda: slurm.run("sinfo", "-h", check=False).returncode == 0, slurm,
                  timeout, "slurmctld to answer sinfo")
        spawn("slurmd", ["-D", "-f", str(conf), "-N", nodename])
        _wait_for(lambda: slurm.node_state() == "idle", slurm, timeout, "node to become idle")
    except BaseException:
        slurm.stop()
        raise
    slurm.start_seconds = time.monotonic() - t0
    return slurm


def _wait_for(predicate, slurm: LocalSlurm, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        slurm._check_alive()
        try:
            if predicate():
                return
        except (SlurmError, subprocess.TimeoutExpired):
            pass
        time.sleep(0.2)
    raise SlurmError(f"timed out after {timeout} s waiting for {what}; {slurm._log_tail()}")
