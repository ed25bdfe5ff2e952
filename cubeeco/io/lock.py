"""One writer per store: ``<store>.lock``, created with ``O_CREAT | O_EXCL``.

Why a lock file and not ``fcntl``/``flock``: exclusive creation is atomic on local file
systems, NFSv3+ and the parallel file systems of HPC sites (Lustre, GPFS), while POSIX
locks need a lock daemon on NFS and are refused on Lustre mounted without ``-o flock``.
The file says who holds the store (pid, host, boot id, start time, command), so the
second process can name it. A lock whose process is gone is detected and taken over when
the holder ran on this host (the pid is not alive, is a zombie, or now belongs to a younger
process). A holder on another host (or in another pid namespace, or a container that shares
this hostname but not this kernel: another boot id) cannot be checked from here; instead
the holder refreshes the lock file's mtime every :data:`HEARTBEAT_S` seconds from a daemon
thread, and a lock not refreshed for :func:`stale_after` seconds (10 minutes;
``CUBEECO_LOCK_STALE_S``), measured on the lock's file-system clock, is stale and taken
over with a warning naming the old holder (a pod OOM-killed, a SLURM job requeued on
another node). An empty or unreadable lock file older than 60 s is stale as well.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

from ..redact import redact

# a take-over lasts microseconds; a guard file this old was left by a killed taker
_GUARD_STALE_S = 30.0
_held: dict[str, int] = {}   # locks this process holds (re-entrant: run -> write_store)
HEARTBEAT_S = 30.0           # how often a holder refreshes its lock file's mtime
STALE_S = 600.0              # a lock not refreshed for this long is stale (CUBEECO_LOCK_STALE_S)
UNREADABLE_STALE_S = 60.0    # an empty / unreadable lock file this old is stale


def stale_after() -> float:
    """Seconds without a heartbeat after which a lock that cannot be checked is stale."""
    try:
        return float(os.environ.get("CUBEECO_LOCK_STALE_S", STALE_S))
    except ValueError:
        return STALE_S


def _heartbeat_interval() -> float:
    return max(0.05, min(HEARTBEAT_S, stale_after() / 4))


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


class StoreLockedError(RuntimeError):
    """Another live process writes to the store."""


def lock_path(store) -> Path:
    return Path(os.fspath(Path(store)) + ".lock")   # Path() drops a trailing "/"


def _fs_now(path: Path) -> float:
    """The clock of the file system that holds ``path`` (a probe file's mtime): a lock's
    mtime is set by the file server, whose clock may differ from this host's."""
    probe = path.with_name(f"{path.name}.probe-{uuid.uuid4().hex[:12]}")
    try:
        probe.touch()
        try:
            return probe.stat().st_mtime
        finally:
            probe.unlink()
    except OSError:
        return time.time()


def _age(path: Path) -> float | None:
    """Seconds since ``path`` was last modified, on its file system's clock (None: gone)."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    return _fs_now(path) - mtime


def _checkable(holder: dict) -> bool:
    """Whether the holder's pid can be checked from here (same host, kernel, pid namespace)."""
    if holder.get("host") != socket.gethostname():
        return False
    for key, here in (("boot_id", _boot_id()), ("pid_ns", _pid_namespace())):
        if holder.get(key) is not None and here is not None and holder[key] != here:
            return False
    return True


def _process_start(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:  # noqa: BLE001  (psutil absent or the process is gone: unknown)
        return None


def _alive(holder: dict, path: Path | None = None) -> bool:
    """Whether the lock's holder may still run. A holder that cannot be checked from here
    is alive while its heartbeat keeps the lock file (``path``) fresh."""
    if not _checkable(holder):
        if path is None:
            return True
        age = _age(path)
        return age is None or age <= stale_after()
    pid = int(holder.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's live process
        return True
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = holder.get("process_start")
        # the pid was reused by a process started after the holder
        if started is not None and abs(proc.create_time() - float(started)) > 1.0:
            return False
    except Exception:  # noqa: BLE001  (psutil absent or the process just ended)
        pass
    return True


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None   # being written right now, or damaged


def describe(holder: dict) -> str:
    return (f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
            + (f": {holder['command']}" if holder.get("command") else ""))


def _create(path: Path, record: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    return True


def _take_over(path: Path, stale: dict | None, *, min_age: float | None = None) -> None:
    """Remove a dead holder's lock; a guard file makes sure only one process does it, so
    two processes that both saw the same dead holder can never both remove a fresh lock
    (``min_age``: the lock must also still be that old, i.e. not refreshed meanwhile)."""
    guard = path.with_name(path.name + ".takeover")
    with contextlib.suppress(FileNotFoundError):
        if time.time() - guard.stat().st_mtime > _GUARD_STALE_S:
            guard.unlink()
    if not _create(guard, {"pid": os.getpid(), "host": socket.gethostname()}):
        time.sleep(0.05)   # another process is taking over: look again
        return
    try:
        age = _age(path) if min_age is not None else None
        # still the dead holder's lock, not a fresh (or refreshed) one
        if _read(path) == stale and (min_age is None or (age is not None and age > min_age)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    finally:
        guard.unlink()


def _acquire(store, path: Path, token: str) -> None:
    record = {"pid": os.getpid(), "host": socket.gethostname(), "token": token,
              "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "process_start": _process_start(os.getpid()), "boot_id": _boot_id(),
              "pid_ns": _pid_namespace(),
              "command": redact(" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))[:300]}
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + 5.0
    while True:
        if _create(path, record):
            return
        holder = _read(path)
        if holder is None or holder == {}:
            # a lock being written this instant (or removed): look again shortly; a lock
            # file that stays unreadable is damaged: stale once old, else named in the error
            age = _age(path) if holder is None else None
            if age is not None and age > UNREADABLE_STALE_S:
                warnings.warn(f"{store}: taking over the unreadable lock {path} (not modified "
                              f"for {age:.0f} s).", RuntimeWarning, stacklevel=4)
                _take_over(path, None, min_age=UNREADABLE_STALE_S)
                continue
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise StoreLockedError(f"{store} is locked by {path}, which cannot be read; if no "
                                   f"cubeeco process uses the store, delete {path}.")
        if _alive(holder, path):
            elsewhere = not _checkable(holder)
            hint = (f"if that process is gone, delete {path} (or wait: a lock not refreshed "
                    f"for {stale_after():.0f} s is taken over)" if elsewhere
                    else "wait for it to finish or stop it")
            raise StoreLockedError(f"{store} is in use by another cubeeco process "
                                   f"({describe(holder)}); {hint}.")
        checkable = _checkable(holder)
        warnings.warn(f"{store}: taking over the stale lock {path} of {describe(holder)} ("
                      + ("that process is gone" if checkable else
                         f"not refreshed for over {stale_after():.0f} s") + ").",
                      RuntimeWarning, stacklevel=4)
        _take_over(path, holder, min_age=None if checkable else stale_after())
        if time.monotonic() > deadline:
            raise StoreLockedError(f"{store}: could not take over the stale lock {path}; "
                                   f"delete it.")


@contextlib.contextmanager
def store_lock(store):
    """Hold ``<store>.lock`` for the block (re-entrant within one process)."""
    path = lock_path(store)
    key = str(path.absolute())
    if key in _held:
        _held[key] += 1
        try:
            yield path
        finally:
            _held[key] -= 1
        return
    token = uuid.uuid4().hex
    _acquire(store, path, token)
    _held[key] = 1
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, token, stop), daemon=True,
                            name=f"cubeeco-lock-heartbeat {path.name}")
    beat.start()
    try:
        yield path
    finally:
        stop.set()
        beat.join(timeout=5)
        del _held[key]
        # remove only our own lock (never one another process took over meanwhile)
        if (_read(path) or {}).get("token") == token:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _heartbeat(path: Path, token: str, stop: threading.Event) -> None:
    """Refresh the lock's mtime while it is ours, so that other hosts see a live holder."""
    while not stop.wait(_heartbeat_interval()):
        if (_read(path) or {}).get("token") != token:
            return      # taken over (this process was thought dead): never touch theirs
        with contextlib.suppress(OSError):
            os.utime(path)


def holds_lock(store) -> bool:
    """Whether this process holds the store's lock."""
    return str(lock_path(store).absolute()) in _held


def is_locked_by_other(store) -> bool:
    """Whether a live process other than this one holds the store's lock."""
    path = lock_path(store)
    if str(path.absolute()) in _held:
        return False
    holder = _read(path)
    if holder == {}:
        return False
    return holder is None or _alive(holder, path)
