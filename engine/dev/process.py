"""Lifecycle of one child process owned by an embedded service.

A :class:`ChildProcess` is spawned in its own session (so its process group id
is its pid), writes its output to a log file, and is stopped only through its
own pid, its process group and its descendants: never by name. Everything
running is kept in a module-level registry that an ``atexit`` hook empties, so a
failing test or an interpreter exiting on an exception leaves nothing behind.

Failures the caller can expect (child exiting early, port never opening) surface
as :class:`engine.errors.EmbeddedServiceError` with one line that names the child
and quotes the tail of its log.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from engine.errors import EmbeddedServiceError

__all__ = ["ChildProcess", "RunAs", "Stoppable", "free_port", "log_tail", "port_accepts"]
__all__ += ["describe_exit", "register_for_exit", "run_to_completion", "unregister_for_exit"]

logger = logging.getLogger(__name__)

_POLL_INTERVAL = 0.02
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STRAGGLER_GRACE = 5.0


class Stoppable(Protocol):
    """Anything the exit hook can stop: a child process or a service owning one."""

    def stop(self) -> None: ...


# The only module state: what is running, so atexit can stop it. Services register
# themselves (not just their child) so that exit also removes their temporary dirs.
_registry_lock = threading.Lock()
_live: dict[int, Stoppable] = {}
_registry_owner_pid = os.getpid()


def register_for_exit(obj: Stoppable) -> None:
    """Have ``obj.stop()`` called at interpreter exit unless it unregisters first."""
    with _registry_lock:
        _live[id(obj)] = obj


def unregister_for_exit(obj: Stoppable) -> None:
    """Forget ``obj`` (it stopped); unknown objects are ignored."""
    with _registry_lock:
        _live.pop(id(obj), None)


def service_directory(given: Path | None, made: Path | None, prefix: str, what: str) -> Path:
    """Where a service keeps its files: ``given`` (created if missing), else the temporary
    directory it ``made`` before, else a new one; EmbeddedServiceError in one line naming
    ``what`` when it cannot be had."""
    try:
        if given is not None:
            given.mkdir(parents=True, exist_ok=True)
            return given
        return made if made is not None else Path(tempfile.mkdtemp(prefix=prefix))
    except OSError as exc:
        raise EmbeddedServiceError(
            f"could not create the {what}: {exc.strerror or exc} "
            f"({exc.filename or given or tempfile.gettempdir()})"
        ) from exc


class RunAs(NamedTuple):
    """An unprivileged account a child switches to before exec (used when we are root)."""

    name: str
    uid: int
    gid: int


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` right now."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 5, max_chars: int = 600) -> str:
    """The last non-empty lines of a log joined on one line, for error messages."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 8192))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"its log is unreadable ({exc.strerror or exc})"
    data = _ANSI_ESCAPE.sub("", data)
    text = " | ".join([line.strip() for line in data.splitlines() if line.strip()][-lines:])
    if len(text) > max_chars:
        text = "..." + text[-max_chars:]
    return f"last log lines: {text}" if text else "its log is empty"


def describe_exit(code: int | None) -> str:
    """``Popen.returncode`` in words, for messages."""
    if code is None:
        return "is still running"
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class ChildProcess:
    """One child: spawn, wait for its port, stop by pid, process group and descendants.

    ``cwd`` defaults to the log's directory, which we own: a service account we switch
    to (``run_as``) may be unable to enter our own working directory.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        run_as: RunAs | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.stop_signal = stop_signal
        self._env = dict(env) if env is not None else None
        self._cwd = cwd if cwd is not None else log_path.parent
        self._run_as = run_as
        self._popen: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        """Pid of the child (also its process group id); raises if it was never started."""
        if self._popen is None:
            raise EmbeddedServiceError(f"{self.name} was never started")
        return self._popen.pid

    @property
    def running(self) -> bool:
        """Whether the child was started and not stopped yet (it may have crashed)."""
        return self._popen is not None and self._popen.returncode is None

    def start(self) -> None:
        """Spawn the child in a new session; its output is appended to ``log_path``."""
        run_as = self._run_as
        # Root's supplementary groups must not leak into the service account.
        identity: dict[str, Any] = {}
        if run_as is not None:
            identity = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        with self._lock:
            if self.running:
                raise EmbeddedServiceError(f"{self.name} is already running (pid {self.pid})")
            try:
                with self.log_path.open("ab") as log:
                    self._popen = subprocess.Popen(
                        self.argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=self._env,
                        cwd=self._cwd,
                        start_new_session=True,
                        **identity,
                    )
            except OSError as exc:
                who = f" as user {run_as.name}" if run_as is not None else ""
                raise EmbeddedServiceError(
                    f"could not start {self.name} ({self.argv[0]}){who}: {exc.strerror or exc}"
                ) from exc
            register_for_exit(self)
        logger.debug("started %s pid %d: %s", self.name, self._popen.pid, " ".join(self.argv))

    def exit_code(self) -> int | None:
        """Exit status like ``Popen.returncode`` (negative: signal), None while running.

        Does not reap the child, so its pid and process group stay reserved until stop().
        """
        popen = self._popen
        if popen is None or popen.returncode is not None:
            return None if popen is None else popen.returncode
        try:
            status = os.waitid(os.P_PID, popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped behind our back; Popen.poll() also says 0
            return 0
        if status is None:
            return None
        return status.si_status if status.si_code == os.CLD_EXITED else -status.si_status

    def has_exited(self) -> bool:
        """Whether the child has exited (or never started); see :meth:`exit_code`."""
        return self._popen is None or self.exit_code() is not None

    def wait_for_port(self, port: int, deadline: float) -> None:
        """Block until 127.0.0.1:``port`` accepts connections (``deadline``: monotonic).

        Raises EmbeddedServiceError if the child exits first or time runs out; the
        caller decides whether to stop the child.
        """
        while True:
            if self.has_exited():
                raise EmbeddedServiceError(
                    f"{self.name} ({self.argv[0]}) {describe_exit(self.exit_code())} before "
                    f"127.0.0.1:{port} accepted connections; {log_tail(self.log_path)}"
                )
            if port_accepts(port):
                return
            if time.monotonic() >= deadline:
                raise EmbeddedServiceError(
                    f"{self.name} (pid {self.pid}) did not accept connections on "
                    f"127.0.0.1:{port} in time; {log_tail(self.log_path)}"
                )
            time.sleep(_POLL_INTERVAL)

    def stop(self, sig: signal.Signals | None = None, timeout: float = 10.0) -> None:
        """Send ``sig`` (default ``stop_signal``), wait up to ``timeout`` s, then SIGKILL
        the process group and every descendant. Idempotent; quiet if already gone.
        """
        with self._lock:
            popen = self._popen
            if popen is None or popen.returncode is not None:
                return
            try:
                self._terminate(popen, sig or self.stop_signal, timeout)
            finally:
                unregister_for_exit(self)

    def _terminate(self, popen: subprocess.Popen[bytes], sig: signal.Signals, wait: float) -> None:
        pid = popen.pid
        if not self.has_exited():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while not self.has_exited() and time.monotonic() < deadline:
                time.sleep(_POLL_INTERVAL)
        stragglers: list[int] = []
        if not self.has_exited():
            logger.warning(
                "%s (pid %d) outlived %s by %.1fs; killing", self.name, pid, sig.name, wait
            )
            # Children that called setsid() (every PostgreSQL backend does) escape the group
            # kill and, once the leader dies, are reparented beyond recognition: list them
            # now, with the leader frozen so that it cannot fork new ones meanwhile.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
            stragglers = _descendants(pid)
        # The leader is at worst an unreaped zombie here, which keeps pgid == pid reserved
        # for our group: killing the group cannot hit an unrelated process.
        for kill, target in [(os.killpg, pid)] + [(os.kill, p) for p in stragglers]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(target, signal.SIGKILL)
        popen.wait()
        # SIGKILL is asynchronous: return once the stragglers are dead (zombies of init
        # count), so that their ports and files are released too.
        deadline = time.monotonic() + _STRAGGLER_GRACE
        while any(map(_is_alive, stragglers)) and time.monotonic() < deadline:
            time.sleep(_POLL_INTERVAL)
        logger.debug("stopped %s pid %d: %s", self.name, pid, describe_exit(popen.returncode))


def _stat_fields(pid: int | str) -> list[bytes]:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, ...); [] if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # The command name is parenthesised and may itself contain spaces or ')'.
            return handle.read().rsplit(b")", 1)[-1].split()
    except OSError:
        return []


def _is_alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] != b"Z"


def _descendants(pid: int) -> list[int]:
    """Pids descending from ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in filter(str.isdigit, os.listdir("/proc")):
            fields = _stat_fields(entry)
            if len(fields) > 1:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    pending = [pid]
    while pending:
        kids = children.get(pending.pop(), [])
        found += kids
        pending += kids
    return found


def run_to_completion(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    run_as: RunAs | None = None,
) -> None:
    """Run a short-lived command (e.g. ``initdb``) to completion within ``timeout`` s.

    Raises EmbeddedServiceError, quoting its log, if it fails or overruns (then it is
    killed with its whole process group).
    """
    child = ChildProcess(name, argv, log_path, env=env, run_as=run_as)
    child.start()
    deadline = time.monotonic() + timeout
    try:
        while not child.has_exited() and time.monotonic() < deadline:
            time.sleep(_POLL_INTERVAL)
        code = child.exit_code()
    finally:
        child.stop(timeout=1.0)
    if code is None:
        raise EmbeddedServiceError(
            f"{name} ({argv[0]}) did not finish within {timeout:.0f}s; {log_tail(log_path)}"
        )
    if code != 0:
        raise EmbeddedServiceError(
            f"{name} ({argv[0]}) {describe_exit(code)}; {log_tail(log_path)}"
        )


def _stop_everything() -> None:
    # A forked copy of this interpreter inherits the registry but not the children.
    if os.getpid() != _registry_owner_pid:
        return
    with _registry_lock:
        # Newest first, like unwinding nested `with` blocks; stops are idempotent anyway.
        live = list(reversed(_live.values()))
    for obj in live:
        try:
            obj.stop()
        except Exception:  # atexit must try every object even if one fails
            logger.exception("could not stop %r at exit", obj)


atexit.register(_stop_everything)
