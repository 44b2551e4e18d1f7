"""A real Nagios 4 engine in a temporary directory, for tests.

This module is responsible for one thing: letting a test run the real Nagios 4 core
(Debian package ``nagios4-core``, binary ``/usr/sbin/nagios4``) on a handful of hosts
and services whose checks return chosen states, outputs and perfdata, and collecting
what Nagios writes for a distributed-monitoring consumer:

* OCSP/OCHP lines in ``workdir/ocsp.cmd``, in the external command format::

      [TIMET] PROCESS_SERVICE_CHECK_RESULT;HOST;SERVICE;STATEID;OUTPUT|PERFDATA
      [TIMET] PROCESS_HOST_CHECK_RESULT;HOST;STATEID;OUTPUT|PERFDATA

  ``|PERFDATA`` is left out when the check returned no perfdata, as a plugin would.
* host and service perfdata files in the pnp4nagios template format (tab-separated
  ``KEY::VALUE`` fields; templates in ``tests.support.nagios_config``).

Everything Nagios reads or writes (config, log, status, retention, lock, check results,
query socket, external command FIFO) is inside ``workdir``. Nagios runs in the
foreground as a child process in a session of its own and is stopped by its pid (and
the leftovers of its session, by pid) on exit, also when the body raised.

How the quoting problems are avoided: neither a check's output nor its perfdata ever
goes through a shell parser or a Nagios command line.

* Each check is a generated script ``workdir/checks/N.sh`` that ``cat``s a data file
  holding the exact plugin output line and exits with the chosen code; its Nagios
  command line is the bare script path, which Nagios executes without a shell.
* The OCSP/OCHP commands are the bare paths of two generated scripts that read the
  macros from the environment (``enable_environment_macros=1``: ``$NAGIOS_TIMET``,
  ``$NAGIOS_SERVICEOUTPUT``, ...) and write them with ``printf '%s\\n'``, so a ``'``,
  ``"``, ``$``, ``;`` or backquote in an output or a perfdata label arrives verbatim.
* ``illegal_macro_output_chars`` is left unset, so Nagios strips nothing from output
  macros (it logs a harmless warning about it at start-up).

Nagios 4 semantics worth knowing when choosing ``Check.state``:

* Service plugin exit codes 0..3 are OK, WARNING, CRITICAL, UNKNOWN, and
  ``$SERVICESTATEID$`` is the same number.
* Host plugin exit codes are *not* host states: 0 is UP, 1 (WARNING) is also UP (with
  ``use_aggressive_host_checking=0``, the default), 2 and 3 are DOWN (UNREACHABLE only
  for a host whose parents are all down; these hosts have no parents). The OCHP line
  carries ``$HOSTSTATEID$``: 0 UP, 1 DOWN, 2 UNREACHABLE. ``Check.state_id`` gives the
  number Nagios will report, ``Check.state_name`` the ``$HOSTSTATE$``/``$SERVICESTATE$``
  word.
* ``max_check_attempts 1``: every state is HARD at once, and each host starts in the
  state its check reports (``initial_state``), so even a service result that comes
  before the host's first check carries the right ``$HOSTSTATE$``.
* The plugin output's first line up to the first ``|`` is ``$SERVICEOUTPUT$``; further
  lines would be long output, which the OCSP line does not carry, so ``Check`` accepts
  single-line output without ``|`` only.
* Nagios 4 replaces every ``;`` in plugin *output* with ``:`` (in the log, the macros and
  so the OCSP lines and perfdata files; ``Check.reported_output``), so the external
  command's last field never holds a ``;`` from the output. Perfdata keeps its ``;``.
  Quotes, ``$``, backquotes and backslashes (even a literal backslash-n) pass through
  unchanged.

Running as root: Nagios 4.4 drops privileges to ``nagios_user``/``nagios_group`` when
started as root. The config names the current user and group (``root``/``root`` when
running as root, which Debian's Nagios 4.4.6 accepts), so no file in ``workdir`` needs a
chown and a ``workdir`` under a private ``/tmp/pytest-of-root`` works as is.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.nagios_config import Check, NagiosFiles

STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def nagios_binary() -> str | None:
    """The Nagios 4 core binary (``/usr/sbin/nagios4`` on Debian), or None."""
    search = os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"))
    return shutil.which("nagios4", path=search)


def parse_perfdata_line(line: str) -> dict[str, str]:
    """A perfdata file line as ``{"DATATYPE": ..., "HOSTNAME": ..., ...}``."""
    fields = (field.partition("::") for field in line.rstrip("\n").split("\t"))
    return {key: value for key, _, value in fields}


def strip_timet(line: str) -> tuple[int, str]:
    """Split ``[TIMET] COMMAND;...`` into the timestamp and the command."""
    match = re.fullmatch(r"\[(\d+)\] (.*)", line.rstrip("\n"))
    if match is None:
        raise ValueError(f"not an external command line: {line!r}")
    return int(match.group(1)), match.group(2)


class NagiosEngine(NagiosFiles):
    """A Nagios 4 process running ``checks`` in ``workdir``; a context manager."""

    def __init__(self, workdir: Path, checks: Sequence[Check]) -> None:
        super().__init__(workdir, checks)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # -- life cycle -------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Write the config, verify it (``nagios4 -v``), start Nagios, wait until it runs.

        Nagios is ready once it has created the external command FIFO ``command_file``.
        """
        binary = nagios_binary()
        if binary is None:
            raise FileNotFoundError("nagios4 is not installed (tests/support/install_debian.sh)")
        if self._process is not None:
            raise RuntimeError("Nagios is already running")
        self.write_files()
        verify = subprocess.run(
            [binary, "-v", str(self.config_file)],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if verify.returncode != 0:
            raise RuntimeError(f"nagios4 -v rejected the config:\n{verify.stdout}{verify.stderr}")
        with self.output_file.open("wb") as out:
            self._process = subprocess.Popen(
                [binary, str(self.config_file)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_ready(STARTUP_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, timeout: float) -> None:
        """Wait for the external command FIFO: Nagios has read its config and runs."""
        deadline = time.monotonic() + timeout
        while not self.command_file.is_fifo():
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"Nagios exited at start-up\n{self.diagnostics()}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"Nagios not ready after {timeout}s\n{self.diagnostics()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop Nagios: SIGTERM, SIGKILL after ``STOP_TIMEOUT``; then its leftovers."""
        process, self._process = self._process, None
        if process is None:
            return
        session = process.pid  # start_new_session: the session id is Nagios's pid
        if process.poll() is None:
            # Nagios stops and reaps its workers itself on SIGTERM.
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
        # Nagios's workers run each command in a process group of its own; whatever
        # is still alive in Nagios's session is ours to end. (Workers that exit after
        # Nagios are reaped by init: they may show as <defunct> for a few seconds.)
        for pid in _session_members(session):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # -- results ----------------------------------------------------------------------

    def ocsp_lines(self) -> list[str]:
        """The lines the OCSP/OCHP commands wrote so far."""
        return _read_lines(self.ocsp_file)

    def host_perfdata(self) -> list[dict[str, str]]:
        return [parse_perfdata_line(line) for line in _read_lines(self.host_perfdata_file)]

    def service_perfdata(self) -> list[dict[str, str]]:
        return [parse_perfdata_line(line) for line in _read_lines(self.service_perfdata_file)]

    def missing_results(self) -> list[str]:
        """The checks not yet seen in the OCSP file or in their perfdata file."""
        ocsp_seen: set[tuple[str, str | None]] = set()
        for line in self.ocsp_lines():
            fields = strip_timet(line)[1].split(";")
            if fields[0] == "PROCESS_HOST_CHECK_RESULT":
                ocsp_seen.add((fields[1], None))
            elif fields[0] == "PROCESS_SERVICE_CHECK_RESULT":
                ocsp_seen.add((fields[1], fields[2]))
        perf_seen: set[tuple[str, str | None]]
        perf_seen = {(r.get("HOSTNAME", ""), None) for r in self.host_perfdata()}
        perf_seen |= {
            (r.get("HOSTNAME", ""), r.get("SERVICEDESC")) for r in self.service_perfdata()
        }
        missing = []
        for check in self.checks:
            key = (check.host, check.service)
            name = check.host if check.service is None else f"{check.host};{check.service}"
            if key not in ocsp_seen:
                missing.append(f"{name} (OCSP)")
            if key not in perf_seen:
                missing.append(f"{name} (perfdata)")
        return missing

    def wait_for_results(self, timeout: float) -> None:
        """Wait until every check is in the OCSP file and in its perfdata file."""
        deadline = time.monotonic() + timeout
        while True:
            missing = self.missing_results()
            if not missing:
                return
            process = self._process
            if process is None or process.poll() is not None:
                raise RuntimeError(
                    f"Nagios is not running; missing {missing}\n{self.diagnostics()}"
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"after {timeout}s Nagios has not reported {missing}\n{self.diagnostics()}"
                )
            time.sleep(0.2)

    def diagnostics(self, lines: int = 30) -> str:
        """The tails of nagios.log and of Nagios's stdout/stderr."""
        parts = []
        for path in (self.log_file, self.output_file):
            tail = "\n".join(_read_lines(path, complete=False)[-lines:])
            parts.append(f"--- tail of {path}:\n{tail}")
        return "\n".join(parts)


def _read_lines(path: Path, *, complete: bool = True) -> list[str]:
    """The lines of ``path`` ([] if missing); with ``complete``, not a half-written last one."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    lines = text.splitlines()
    if complete and lines and not text.endswith("\n"):
        lines.pop()
    return lines


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _session_members(session: int) -> list[int]:
    """Pids of the live processes in session ``session`` (Linux ``/proc``; else none)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parens.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 3 and int(fields[3]) == session and fields[0] != "Z":
            members.append(int(entry.name))
    return members
