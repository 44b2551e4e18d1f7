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
  ``KEY::VALUE`` fields; see ``HOST_PERFDATA_TEMPLATE`` and ``SERVICE_PERFDATA_TEMPLATE``).

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
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

SERVICE_STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
HOST_STATES = ("UP", "DOWN", "UNREACHABLE")

HOST_PERFDATA_TEMPLATE = "\\t".join(
    (
        "DATATYPE::HOSTPERFDATA",
        "TIMET::$TIMET$",
        "HOSTNAME::$HOSTNAME$",
        "HOSTPERFDATA::$HOSTPERFDATA$",
        "HOSTCHECKCOMMAND::$HOSTCHECKCOMMAND$",
        "HOSTSTATE::$HOSTSTATE$",
        "HOSTSTATETYPE::$HOSTSTATETYPE$",
        "HOSTOUTPUT::$HOSTOUTPUT$",
    )
)
SERVICE_PERFDATA_TEMPLATE = "\\t".join(
    (
        "DATATYPE::SERVICEPERFDATA",
        "TIMET::$TIMET$",
        "HOSTNAME::$HOSTNAME$",
        "SERVICEDESC::$SERVICEDESC$",
        "SERVICEPERFDATA::$SERVICEPERFDATA$",
        "SERVICECHECKCOMMAND::$SERVICECHECKCOMMAND$",
        "HOSTSTATE::$HOSTSTATE$",
        "HOSTSTATETYPE::$HOSTSTATETYPE$",
        "SERVICESTATE::$SERVICESTATE$",
        "SERVICESTATETYPE::$SERVICESTATETYPE$",
        "SERVICEOUTPUT::$SERVICEOUTPUT$",
    )
)

# The OCSP/OCHP scripts. Values come from environment macros and are only ever
# expanded inside double quotes, never parsed by the shell.
OCSP_SCRIPT = """#!/bin/sh
# OCSP command: one PROCESS_SERVICE_CHECK_RESULT line per service check result.
line="[$NAGIOS_TIMET] PROCESS_SERVICE_CHECK_RESULT;$NAGIOS_HOSTNAME;$NAGIOS_SERVICEDESC"
line="$line;$NAGIOS_SERVICESTATEID;$NAGIOS_SERVICEOUTPUT"
if [ -n "$NAGIOS_SERVICEPERFDATA" ]; then line="$line|$NAGIOS_SERVICEPERFDATA"; fi
printf '%s\\n' "$line" >> {target}
"""
OCHP_SCRIPT = """#!/bin/sh
# OCHP command: one PROCESS_HOST_CHECK_RESULT line per host check result.
line="[$NAGIOS_TIMET] PROCESS_HOST_CHECK_RESULT;$NAGIOS_HOSTNAME"
line="$line;$NAGIOS_HOSTSTATEID;$NAGIOS_HOSTOUTPUT"
if [ -n "$NAGIOS_HOSTPERFDATA" ]; then line="$line|$NAGIOS_HOSTPERFDATA"; fi
printf '%s\\n' "$line" >> {target}
"""
CHECK_SCRIPT = """#!/bin/sh
cat {output_file}
exit {state}
"""

# Characters that survive, unquoted, a Nagios object config value, a Nagios command
# line and a shell word. Paths written into the config must consist of these.
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+-]+")
_SAFE_HOST = re.compile(r"[A-Za-z0-9_.-]+")
_SAFE_SERVICE = re.compile(r"[A-Za-z0-9_./:-]+(?: [A-Za-z0-9_./:-]+)*")

STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def nagios_binary() -> str | None:
    """The Nagios 4 core binary (``/usr/sbin/nagios4`` on Debian), or None."""
    search = os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"))
    return shutil.which("nagios4", path=search)


@dataclass(frozen=True)
class Check:
    """One host check (``service`` None) or service check with a fixed result.

    ``state`` is the plugin's exit code (0..3); see the module docstring for how
    Nagios turns a host check's exit code into UP/DOWN. ``output`` is the one-line
    plugin output, ``perfdata`` the text after ``|`` ("" for none).
    """

    host: str
    service: str | None
    state: int
    output: str
    perfdata: str = ""

    def __post_init__(self) -> None:
        if not _SAFE_HOST.fullmatch(self.host):
            raise ValueError(f"host name {self.host!r} must match {_SAFE_HOST.pattern}")
        if self.service is not None and not _SAFE_SERVICE.fullmatch(self.service):
            raise ValueError(f"service {self.service!r} must match {_SAFE_SERVICE.pattern}")
        if self.state not in (0, 1, 2, 3):
            raise ValueError(f"state {self.state} is not a plugin exit code 0..3")
        for name, text in (("output", self.output), ("perfdata", self.perfdata)):
            if any(c in text for c in "\n\r\t|"):
                raise ValueError(f"{name} {text!r} must be one line without tab or '|'")
            if text != text.strip():
                raise ValueError(f"{name} {text!r} must not start or end with blanks")
        if not self.output:
            raise ValueError("output must not be empty")

    @property
    def is_host(self) -> bool:
        return self.service is None

    @property
    def plugin_output(self) -> str:
        """What the check prints: ``OUTPUT`` or ``OUTPUT|PERFDATA``."""
        return f"{self.output}|{self.perfdata}" if self.perfdata else self.output

    @property
    def reported_output(self) -> str:
        """``$SERVICEOUTPUT$``/``$HOSTOUTPUT$``: Nagios 4 turns each ``;`` into ``:``."""
        return self.output.replace(";", ":")

    @property
    def state_id(self) -> int:
        """``$SERVICESTATEID$`` or ``$HOSTSTATEID$`` Nagios reports for this result."""
        if self.is_host:
            return 0 if self.state in (0, 1) else 1
        return self.state

    @property
    def state_name(self) -> str:
        """``$SERVICESTATE$`` (OK...UNKNOWN) or ``$HOSTSTATE$`` (UP/DOWN)."""
        return (HOST_STATES if self.is_host else SERVICE_STATES)[self.state_id]

    @property
    def ocsp_line(self) -> str:
        """The expected OCSP/OCHP line without its leading ``[TIMET] ``."""
        if self.service is None:
            head = f"PROCESS_HOST_CHECK_RESULT;{self.host}"
        else:
            head = f"PROCESS_SERVICE_CHECK_RESULT;{self.host};{self.service}"
        perfdata = f"|{self.perfdata}" if self.perfdata else ""
        return f"{head};{self.state_id};{self.reported_output}{perfdata}"


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


class NagiosEngine:
    """A Nagios 4 process running ``checks`` in ``workdir``; a context manager."""

    def __init__(self, workdir: Path, checks: Sequence[Check]) -> None:
        self.workdir = Path(workdir).resolve()
        self.checks = list(checks)
        if not _SAFE_PATH.fullmatch(str(self.workdir)):
            raise ValueError(f"workdir {self.workdir} must match {_SAFE_PATH.pattern}")
        keys = [(c.host, c.service) for c in self.checks]
        if len(set(keys)) != len(keys):
            raise ValueError("each (host, service) may have one check only")
        hosts = {c.host for c in self.checks if c.is_host}
        if missing := {c.host for c in self.checks} - hosts:
            raise ValueError(f"services on hosts without a host check: {sorted(missing)}")
        if all(c.is_host for c in self.checks):
            raise ValueError("Nagios refuses to start without at least one service")
        self._process: subprocess.Popen[bytes] | None = None

    # -- paths ------------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.workdir / "nagios.cfg"

    @property
    def objects_file(self) -> Path:
        return self.workdir / "objects.cfg"

    @property
    def log_file(self) -> Path:
        return self.workdir / "nagios.log"

    @property
    def output_file(self) -> Path:
        """Nagios's own stdout and stderr."""
        return self.workdir / "nagios.out"

    @property
    def command_file(self) -> Path:
        """The external command FIFO Nagios creates (``check_external_commands=1``)."""
        return self.workdir / "nagios.cmd"

    @property
    def ocsp_file(self) -> Path:
        return self.workdir / "ocsp.cmd"

    @property
    def host_perfdata_file(self) -> Path:
        return self.workdir / "host-perfdata"

    @property
    def service_perfdata_file(self) -> Path:
        return self.workdir / "service-perfdata"

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
            raise FileNotFoundError("nagios4 is not installed (tests/install_nagios.sh)")
        if self._process is not None:
            raise RuntimeError("Nagios is already running")
        self._write_files()
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

    # -- configuration ----------------------------------------------------------------

    def _write_files(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A previous run's results and FIFO would pass for this run's.
        for stale in (
            self.ocsp_file,
            self.host_perfdata_file,
            self.service_perfdata_file,
            self.command_file,
            self.log_file,
        ):
            stale.unlink(missing_ok=True)
        for sub in ("checks", "checkresults"):
            (self.workdir / sub).mkdir(exist_ok=True)
        for name, text in (("ocsp.sh", OCSP_SCRIPT), ("ochp.sh", OCHP_SCRIPT)):
            _write_script(self.workdir / name, text.format(target=self.ocsp_file))
        for number, check in enumerate(self.checks):
            output_file = self.workdir / "checks" / f"{number}.out"
            output_file.write_text(check.plugin_output + "\n")
            script = CHECK_SCRIPT.format(output_file=output_file, state=check.state)
            _write_script(self.workdir / "checks" / f"{number}.sh", script)
        self.objects_file.write_text(self._objects_config())
        self.config_file.write_text(self._main_config())

    def _main_config(self) -> str:
        w = self.workdir
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        settings = {
            "log_file": w / "nagios.log",
            "cfg_file": self.objects_file,
            "object_cache_file": w / "objects.cache",
            "precached_object_file": w / "objects.precache",
            "status_file": w / "status.dat",
            "status_update_interval": 5,
            "state_retention_file": w / "retention.dat",
            "retain_state_information": 0,
            "use_retained_program_state": 0,
            "use_retained_scheduling_info": 0,
            "lock_file": w / "nagios.lock",
            "temp_file": w / "nagios.tmp",
            "temp_path": w,
            "check_result_path": w / "checkresults",
            "query_socket": w / "nagios.qh",
            "check_external_commands": 1,
            "command_file": self.command_file,
            "debug_file": w / "nagios.debug",
            "debug_level": 0,
            "log_archive_path": w,
            "log_rotation_method": "n",
            "use_syslog": 0,
            "nagios_user": user,
            "nagios_group": group,
            "check_for_updates": 0,
            "bare_update_check": 0,
            "daemon_dumps_core": 0,
            "interval_length": 1,
            "check_result_reaper_frequency": 1,
            "max_check_result_reaper_time": 2,
            "service_inter_check_delay_method": "n",
            "host_inter_check_delay_method": "n",
            "max_service_check_spread": 1,
            "max_host_check_spread": 1,
            "service_interleave_factor": 1,
            "auto_reschedule_checks": 0,
            "service_check_timeout": 10,
            "host_check_timeout": 10,
            "ocsp_timeout": 5,
            "ochp_timeout": 5,
            "perfdata_timeout": 5,
            "execute_service_checks": 1,
            "execute_host_checks": 1,
            "enable_notifications": 0,
            "enable_event_handlers": 0,
            "enable_flap_detection": 0,
            "check_service_freshness": 0,
            "check_host_freshness": 0,
            "enable_environment_macros": 1,
            "obsess_over_services": 1,
            "obsess_over_hosts": 1,
            "ocsp_command": "ocsp",
            "ochp_command": "ochp",
            "process_performance_data": 1,
            "host_perfdata_file": self.host_perfdata_file,
            "service_perfdata_file": self.service_perfdata_file,
            "host_perfdata_file_template": HOST_PERFDATA_TEMPLATE,
            "service_perfdata_file_template": SERVICE_PERFDATA_TEMPLATE,
            "host_perfdata_file_mode": "a",
            "service_perfdata_file_mode": "a",
            "log_initial_states": 1,
            "log_passive_checks": 1,
            "log_external_commands": 1,
            "date_format": "iso8601",
        }
        lines = ["# Generated by tests/nagios_engine.py"]
        lines += [f"{key}={value}" for key, value in settings.items()]
        return "\n".join(lines) + "\n"

    def _objects_config(self) -> str:
        w = self.workdir
        always = {day: "00:00-24:00" for day in _WEEKDAYS}
        blocks = [
            _define("command", command_name="ocsp", command_line=w / "ocsp.sh"),
            _define("command", command_name="ochp", command_line=w / "ochp.sh"),
            _define("command", command_name="noop", command_line="/bin/true"),
            _define("timeperiod", timeperiod_name="always", alias="always", **always),
            # Nagios insists on a contact; notifications are off everywhere.
            _define(
                "contact",
                contact_name="nobody",
                host_notifications_enabled=0,
                service_notifications_enabled=0,
                host_notification_period="always",
                service_notification_period="always",
                host_notification_options="n",
                service_notification_options="n",
                host_notification_commands="noop",
                service_notification_commands="noop",
            ),
        ]
        for number, check in enumerate(self.checks):
            command = f"check_{number}"
            blocks.append(
                _define(
                    "command",
                    command_name=command,
                    command_line=w / "checks" / f"{number}.sh",
                )
            )
            common: dict[str, object] = {
                "check_command": command,
                "check_period": "always",
                "notification_period": "always",
                "contacts": "nobody",
                "max_check_attempts": 1,
                "check_interval": 1,
                "retry_interval": 1,
                "active_checks_enabled": 1,
                "obsess": 1,
                "process_perf_data": 1,
                "notifications_enabled": 0,
                "event_handler_enabled": 0,
                "flap_detection_enabled": 0,
            }
            if check.service is None:
                # Start the host in the state its check will report, so that a service
                # result that comes before the host's first check already carries the
                # right $HOSTSTATE$.
                initial = "o" if check.state_id == 0 else "d"
                blocks.append(
                    _define(
                        "host",
                        host_name=check.host,
                        address="127.0.0.1",
                        initial_state=initial,
                        **common,
                    )
                )
            else:
                blocks.append(
                    _define(
                        "service",
                        host_name=check.host,
                        service_description=check.service,
                        **common,
                    )
                )
        return "\n".join(blocks)


def _define(kind: str, **attributes: object) -> str:
    body = "".join(f"    {key} {value}\n" for key, value in attributes.items())
    return f"define {kind} {{\n{body}}}\n"


def _write_script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


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
