"""The files of a Nagios 4 test engine: the checks it runs, and its generated configuration.

``NagiosFiles`` knows where everything lives in a workdir and writes the main
configuration, the object definitions, the check scripts and the OCSP/OCHP scripts;
``tests.support.nagios_engine.NagiosEngine`` runs Nagios on them. The quoting rules and the
Nagios semantics behind these choices are in ``tests.support.nagios_engine``'s docstring.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


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


class NagiosFiles:
    """Paths in ``workdir`` and the configuration that runs ``checks`` there."""

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

    # -- configuration ----------------------------------------------------------------

    def write_files(self) -> None:
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
