"""A real STAC API server on 127.0.0.1 for tests: stac-fastapi-pgstac on a private PostgreSQL.

``start_stac_api(collections, items, workdir)`` creates a throw-away PostgreSQL cluster
(``initdb`` into ``workdir``, its own port, fsync off), installs pgstac in it
(``pypgstac migrate``), loads the given STAC collection and item dicts, and starts
``uvicorn stac_fastapi.pgstac.app:create_app`` on a free port. The returned
:class:`StacApiServer` is a context manager; ``.url`` is the API root, ``.load()`` adds
more collections and items, ``.clear()`` empties the catalog, ``.stop()`` shuts
everything down.

Needs the PostgreSQL server binaries and PostGIS (Debian: ``postgresql-15``,
``postgresql-15-postgis-3``, ``postgresql-contrib``) and the Python packages
``stac-fastapi-pgstac``, ``pypgstac[psycopg]`` and ``uvicorn``: run
``scripts/install-test-deps.sh``. When they are missing, :class:`StacApiUnavailable`
is raised (a ``RuntimeError``).

Item dicts are loaded exactly as given: they are not read through pystac (pystac >= 1.12
would rewrite ``proj:epsg`` to ``proj:code``). Asset hrefs may be local file paths.
"""

from __future__ import annotations

import atexit
import copy
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["StacApiError", "StacApiServer", "StacApiUnavailable", "find_pg_bindir", "start_stac_api"]

INSTALL_HINT = "install the test dependencies with `bash scripts/install-test-deps.sh` (as root)"

# Settings for a disposable test cluster: no durability, small footprint.
_PG_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 64MB
log_min_messages = warning
"""

_DB_NAME = "pgstac"
_DB_USER = "stac"
_SOCKET_NAME_ROOM = len("/.s.PGSQL.65535.lock")  # socket paths are limited to 107 bytes


class StacApiError(RuntimeError):
    """The server could not be started or a load failed."""


class StacApiUnavailable(StacApiError):
    """The machine lacks what the server needs (PostgreSQL, PostGIS, Python packages)."""


def find_pg_bindir() -> Path:
    """Directory with ``initdb``, ``pg_ctl`` and ``postgres``.

    ``$PG_BINDIR`` if set, else the newest ``/usr/lib/postgresql/*/bin`` (Debian), else
    wherever ``initdb`` is on ``PATH``. Raises :class:`StacApiUnavailable` if none.
    """
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += [Path(p) for p in debian]
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    for bindir in candidates:
        if all((bindir / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise StacApiUnavailable(f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}")


def _version_key(path: str) -> tuple[int, ...]:
    name = Path(path).parent.name
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def _check_requirements(bindir: Path) -> None:
    """Fail early, with the install hint, when PostGIS or the Python packages are missing."""
    sharedir = _pg_sharedir(bindir)
    if sharedir is not None and not (sharedir / "extension" / "postgis.control").is_file():
        raise StacApiUnavailable(f"PostGIS is not installed for {bindir}: {INSTALL_HINT}")
    import importlib.util

    for module in ("stac_fastapi.pgstac", "pypgstac", "psycopg", "psycopg_pool", "uvicorn"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise StacApiUnavailable(f"Python module {module!r} is missing: {INSTALL_HINT}")


def _pg_sharedir(bindir: Path) -> Path | None:
    pg_config = bindir / "pg_config"
    if not pg_config.is_file():
        return None
    out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True)
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(lines[-n:])


class _Postgres:
    """A private PostgreSQL cluster in ``base``, run as the ``postgres`` user when we are root."""

    def __init__(self, bindir: Path, base: Path, port: int):
        self.bindir = bindir
        self.base = base
        self.port = port
        self.datadir = base / "data"
        self.logfile = base / "postgres.log"
        self.password = secrets.token_hex(16)
        self.running = False
        # initdb refuses to run as root: run the server as the `postgres` OS user instead
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise StacApiUnavailable("running as root needs `runuser` to start PostgreSQL as `postgres`")
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise StacApiUnavailable(f"running as root needs a `postgres` OS user: {INSTALL_HINT}") from None
            self._as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def dsn(self) -> str:
        return f"postgresql://{_DB_USER}:{self.password}@127.0.0.1:{self.port}/{_DB_NAME}"

    def _run(self, exe: str, *args: str) -> subprocess.CompletedProcess:
        cmd = [*self._as_user, str(self.bindir / exe), *args]
        out = subprocess.run(cmd, cwd=self.base, capture_output=True, text=True)
        if out.returncode != 0:
            raise StacApiError(
                f"{exe} failed ({out.returncode}): {' '.join(cmd)}\n{out.stdout}\n{out.stderr}\n"
                f"postgres log:\n{_tail(self.logfile)}"
            )
        return out

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_user:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        os.chmod(self.base, 0o700)
        os.chmod(pwfile, 0o600)
        # superuser `stac` with a password for TCP; trust only on the private unix socket
        self._run(
            "initdb", "-D", str(self.datadir), "-U", _DB_USER, f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256", "--auth-local=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        pwfile.unlink()
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write(_PG_CONF.format(port=self.port, socket_dir=self.base))
        self._run("pg_ctl", "start", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60")
        self.running = True
        import psycopg

        admin = f"postgresql://{_DB_USER}:{self.password}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {_DB_NAME}")

    def stop(self) -> None:
        if self.running:
            self.running = False
            self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "60")


def _private_base(workdir: Path) -> tuple[Path, bool]:
    """Folder for the cluster: ``workdir/postgres`` if the ``postgres`` user can reach it.

    pytest's temporary folders are ``0700`` (root only) and unix socket paths are limited
    to 107 bytes; otherwise fall back to a fresh ``/tmp/cubeeco-pg-*`` folder, removed on
    stop. Returns (folder, whether to remove it).
    """
    base = (workdir / "postgres").resolve()
    short_enough = len(str(base)) + _SOCKET_NAME_ROOM < 100
    if short_enough and (os.geteuid() != 0 or _reachable_by_postgres(base.parent)):
        return base, False
    return Path(tempfile.mkdtemp(prefix="cubeeco-pg-")), True


def _reachable_by_postgres(folder: Path) -> bool:
    """Whether the ``postgres`` user can traverse ``folder`` (and so every folder above it)."""
    cmd = ["runuser", "-u", "postgres", "--", "test", "-x", str(folder)]
    return subprocess.run(cmd, capture_output=True).returncode == 0


class StacApiServer:
    """A running stac-fastapi-pgstac server; use as a context manager or call :meth:`stop`.

    Attributes: ``url`` (API root, ``http://127.0.0.1:PORT``), ``dsn`` (the pgstac database),
    ``workdir`` (logs: ``uvicorn.log``, ``postgres.log`` under the cluster folder),
    ``timings`` (seconds per start-up step and per load).
    """

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.api_port = port or free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.timings: dict[str, float] = {}
        self.api_log = self.workdir / "uvicorn.log"
        self._proc: subprocess.Popen | None = None
        self._pg: _Postgres | None = None
        self._remove_base = False

    @property
    def dsn(self) -> str:
        assert self._pg is not None
        return self._pg.dsn

    # -- start-up -------------------------------------------------------------------------

    def _start(self) -> None:
        bindir = find_pg_bindir()
        _check_requirements(bindir)
        atexit.register(self.stop)  # safety net if the caller never stops us; stop() is idempotent
        t0 = time.perf_counter()
        base, self._remove_base = _private_base(self.workdir)
        self._pg = _Postgres(bindir, base, free_port())
        self._pg.start()
        t1 = time.perf_counter()
        self.timings["postgres"] = t1 - t0
        with _pgstac_db(self.dsn) as db:
            from pypgstac.migrate import Migrate

            Migrate(db).run_migration()
        t2 = time.perf_counter()
        self.timings["migrate"] = t2 - t1
        self._start_api()
        self.timings["api"] = time.perf_counter() - t2

    def _start_api(self, timeout: float = 60.0) -> None:
        pg = self._pg
        assert pg is not None
        env = dict(os.environ)
        env.update(
            PGUSER=_DB_USER, PGPASSWORD=pg.password, PGHOST="127.0.0.1",
            PGPORT=str(pg.port), PGDATABASE=_DB_NAME,
            DB_MIN_CONN_SIZE="1", DB_MAX_CONN_SIZE="5",
            STAC_FASTAPI_TITLE="cubeeco test STAC API", STAC_FASTAPI_LANDING_ID="cubeeco-test",
            STAC_FASTAPI_DESCRIPTION="stac-fastapi-pgstac started by cubeeco.testing.stacapi",
            STAC_FASTAPI_VERSION="test",
        )  # fmt: skip
        env.pop("ENABLED_EXTENSIONS", None)  # all search extensions: query, sort, filter, fields
        cmd = [
            sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.api_port), "--log-level", "info",
        ]  # fmt: skip
        # cwd=workdir: the settings classes also read a `.env` in the working directory
        with open(self.api_log, "ab") as log:
            self._proc = subprocess.Popen(
                cmd, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise StacApiError(
                    f"the STAC API exited with code {self._proc.returncode} while starting "
                    f"({' '.join(cmd)}); log tail:\n{_tail(self.api_log)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/collections", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise StacApiError(
                    f"the STAC API at {self.url} did not answer GET /collections within "
                    f"{timeout:.0f} s; log tail:\n{_tail(self.api_log)}"
                )
            time.sleep(0.1)

    # -- data -----------------------------------------------------------------------------

    def load(self, collections: list[dict], items: list[dict], *, clear: bool = False) -> None:
        """Upsert collections, then items (dicts, used as given; each item needs ``collection``).

        ``clear=True`` first removes every collection and item already loaded.
        """
        from pypgstac.load import Loader, Methods

        missing = sorted({str(i.get("id")) for i in items if not i.get("collection")})
        if missing:
            raise ValueError(f"items without a 'collection' field: {missing[:5]}")
        t0 = time.perf_counter()
        with _pgstac_db(self.dsn) as db:
            if clear:
                _clear(db)
            loader = Loader(db)
            # deep copies: the caller's dicts stay untouched
            if collections:
                loader.load_collections(iter(copy.deepcopy(collections)), Methods.upsert)
            if items:
                loader.load_items(iter(copy.deepcopy(items)), Methods.upsert)
        self.timings["load"] = self.timings.get("load", 0.0) + time.perf_counter() - t0

    def clear(self) -> None:
        """Remove every collection and item."""
        with _pgstac_db(self.dsn) as db:
            _clear(db)

    # -- shutdown -------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the API, then PostgreSQL; remove the fallback cluster folder, if one was used."""
        errors = []
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._pg is not None:
            try:
                self._pg.stop()
            except StacApiError as err:
                errors.append(err)
            if self._remove_base and not self._pg.running:
                shutil.rmtree(self._pg.base, ignore_errors=True)
            self._pg = None
        if errors:
            raise errors[0]

    def __enter__(self) -> StacApiServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"StacApiServer(url={self.url!r})"


class _pgstac_db:
    """A pypgstac ``PgstacDB`` on its own one-connection pool, closed on exit."""

    def __init__(self, dsn: str):
        self.dsn = dsn

    def __enter__(self):
        from psycopg_pool import ConnectionPool
        from pypgstac.db import PgstacDB

        self.pool = ConnectionPool(self.dsn, min_size=1, max_size=1, open=True)
        self.db = PgstacDB(pool=self.pool)
        self.db.connect()
        return self.db

    def __exit__(self, *exc) -> None:
        self.db.disconnect()
        self.pool.close()


def _clear(db) -> None:
    conn = db.connect()
    conn.execute("DELETE FROM pgstac.items")
    conn.execute("DELETE FROM pgstac.collections")


def start_stac_api(
    collections: list[dict], items: list[dict], workdir: Path, port: int | None = None
) -> StacApiServer:
    """Start PostgreSQL + pgstac + stac-fastapi-pgstac on 127.0.0.1 and load the given dicts.

    ``workdir`` holds the cluster and the logs; ``port`` is the API port (a free one if None).
    Raises :class:`StacApiUnavailable` when PostgreSQL/PostGIS or the Python packages are
    missing, :class:`StacApiError` when start-up fails (the message has the log tail).
    """
    server = StacApiServer(Path(workdir), port)
    try:
        server._start()
        if collections or items:
            server.load(collections, items)
    except BaseException:
        server.stop()
        raise
    return server
