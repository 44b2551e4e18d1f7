"""Smoke test of ``tests.support.nagios_engine``: a real Nagios 4 writes OCSP lines and perfdata.

Skipped where Nagios 4 is not installed (``tests/support/install_debian.sh`` installs it).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.nagios_config import Check
from tests.support.nagios_engine import NagiosEngine, nagios_binary, strip_timet
from tests.support.services import unavailable

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def nagios_installed() -> None:
    """Skip without Nagios 4 (fail with CI=true: ``make test`` installs it)."""
    if nagios_binary() is None:
        unavailable("Nagios 4", "nagios4 is not installed (tests/support/install_debian.sh)")


WEB_UP = Check(
    "web1",
    None,
    0,
    "PING OK - Packet loss = 0%, RTA = 0.05 ms",
    "rta=0.050ms;3000;5000;0 pl=0%;80;100;0",
)
DB_DOWN = Check("db1", None, 2, "PING CRITICAL - Packet loss = 100%")
HTTP_OK = Check(
    "web1", "HTTP", 0, "HTTP OK: HTTP/1.1 200 OK - 512 bytes", "time=0.001s;;;0 size=512B;;;0"
)
DISK_WARNING = Check(
    "web1",
    "Disk /var",
    1,
    "DISK WARNING - free space: /var 12 MB (12%)",
    "'/var'=12MB;80;90;0;100 load1=0.5;5;10;0;",
)
PG_CRITICAL = Check("db1", "Postgres", 2, "CRITICAL - connection refused; retried 3 times")
CHECKS = [WEB_UP, DB_DOWN, HTTP_OK, DISK_WARNING, PG_CRITICAL]

# Written out by hand: the host exit code 2 becomes DOWN (state id 1), and Nagios turns
# the ';' in plugin output (not in perfdata) into ':'.
EXPECTED_OCSP = {
    WEB_UP: "PROCESS_HOST_CHECK_RESULT;web1;0;PING OK - Packet loss = 0%, RTA = 0.05 ms"
    "|rta=0.050ms;3000;5000;0 pl=0%;80;100;0",
    DB_DOWN: "PROCESS_HOST_CHECK_RESULT;db1;1;PING CRITICAL - Packet loss = 100%",
    HTTP_OK: "PROCESS_SERVICE_CHECK_RESULT;web1;HTTP;0;HTTP OK: HTTP/1.1 200 OK - 512 bytes"
    "|time=0.001s;;;0 size=512B;;;0",
    DISK_WARNING: "PROCESS_SERVICE_CHECK_RESULT;web1;Disk /var;1"
    ";DISK WARNING - free space: /var 12 MB (12%)|'/var'=12MB;80;90;0;100 load1=0.5;5;10;0;",
    PG_CRITICAL: "PROCESS_SERVICE_CHECK_RESULT;db1;Postgres;2"
    ";CRITICAL - connection refused: retried 3 times",
}
EXPECTED_HOST_PERFDATA = {
    WEB_UP: {
        "DATATYPE": "HOSTPERFDATA",
        "HOSTNAME": "web1",
        "HOSTPERFDATA": "rta=0.050ms;3000;5000;0 pl=0%;80;100;0",
        "HOSTCHECKCOMMAND": "check_0",
        "HOSTSTATE": "UP",
        "HOSTSTATETYPE": "HARD",
        "HOSTOUTPUT": "PING OK - Packet loss = 0%, RTA = 0.05 ms",
    },
    DB_DOWN: {
        "DATATYPE": "HOSTPERFDATA",
        "HOSTNAME": "db1",
        "HOSTPERFDATA": "",
        "HOSTCHECKCOMMAND": "check_1",
        "HOSTSTATE": "DOWN",
        "HOSTSTATETYPE": "HARD",
        "HOSTOUTPUT": "PING CRITICAL - Packet loss = 100%",
    },
}
EXPECTED_SERVICE_PERFDATA = {
    HTTP_OK: {
        "DATATYPE": "SERVICEPERFDATA",
        "HOSTNAME": "web1",
        "SERVICEDESC": "HTTP",
        "SERVICEPERFDATA": "time=0.001s;;;0 size=512B;;;0",
        "SERVICECHECKCOMMAND": "check_2",
        "HOSTSTATE": "UP",
        "HOSTSTATETYPE": "HARD",
        "SERVICESTATE": "OK",
        "SERVICESTATETYPE": "HARD",
        "SERVICEOUTPUT": "HTTP OK: HTTP/1.1 200 OK - 512 bytes",
    },
    DISK_WARNING: {
        "DATATYPE": "SERVICEPERFDATA",
        "HOSTNAME": "web1",
        "SERVICEDESC": "Disk /var",
        "SERVICEPERFDATA": "'/var'=12MB;80;90;0;100 load1=0.5;5;10;0;",
        "SERVICECHECKCOMMAND": "check_3",
        "HOSTSTATE": "UP",
        "HOSTSTATETYPE": "HARD",
        "SERVICESTATE": "WARNING",
        "SERVICESTATETYPE": "HARD",
        "SERVICEOUTPUT": "DISK WARNING - free space: /var 12 MB (12%)",
    },
    PG_CRITICAL: {
        "DATATYPE": "SERVICEPERFDATA",
        "HOSTNAME": "db1",
        "SERVICEDESC": "Postgres",
        "SERVICEPERFDATA": "",
        "SERVICECHECKCOMMAND": "check_4",
        "HOSTSTATE": "DOWN",
        "HOSTSTATETYPE": "HARD",
        "SERVICESTATE": "CRITICAL",
        "SERVICESTATETYPE": "HARD",
        "SERVICEOUTPUT": "CRITICAL - connection refused: retried 3 times",
    },
}


def test_nagios_reports_chosen_results(tmp_path: Path) -> None:
    started = int(time.time())
    with NagiosEngine(tmp_path / "nagios", CHECKS) as engine:
        engine.wait_for_results(timeout=20)
        pid = engine.pid
    finished = int(time.time()) + 1
    assert pid is not None and not Path(f"/proc/{pid}").exists()

    # Every line for a check is that check's expected line; each check has at least one.
    by_command: dict[str, int] = {}
    for line in engine.ocsp_lines():
        timet, command = strip_timet(line)
        assert started <= timet <= finished, line
        by_command[command] = by_command.get(command, 0) + 1
    assert set(by_command) == set(EXPECTED_OCSP.values())
    for check, expected in EXPECTED_OCSP.items():
        assert check.ocsp_line == expected

    host_records = engine.host_perfdata()
    service_records = engine.service_perfdata()
    assert {r["HOSTNAME"] for r in host_records} == {"web1", "db1"}
    assert {(r["HOSTNAME"], r["SERVICEDESC"]) for r in service_records} == {
        ("web1", "HTTP"),
        ("web1", "Disk /var"),
        ("db1", "Postgres"),
    }
    for record in host_records + service_records:
        assert started <= int(record.pop("TIMET")) <= finished
    for check, expected_record in EXPECTED_HOST_PERFDATA.items():
        records = [r for r in host_records if r["HOSTNAME"] == check.host]
        assert all(r == expected_record for r in records), records
        assert check.state_name == expected_record["HOSTSTATE"]
    for check, expected_record in EXPECTED_SERVICE_PERFDATA.items():
        records = [
            r
            for r in service_records
            if (r["HOSTNAME"], r["SERVICEDESC"]) == (check.host, check.service)
        ]
        assert all(r == expected_record for r in records), records
        assert check.state_name == expected_record["SERVICESTATE"]


def test_nagios_is_stopped_when_the_body_raises(tmp_path: Path) -> None:
    engine = NagiosEngine(tmp_path / "nagios", [DB_DOWN, PG_CRITICAL])
    with pytest.raises(RuntimeError, match="boom"), engine:
        pid = engine.pid
        assert engine.command_file.is_fifo()  # ready on enter
        raise RuntimeError("boom")
    assert pid is not None and not Path(f"/proc/{pid}").exists()
