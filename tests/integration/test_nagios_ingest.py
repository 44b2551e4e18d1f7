"""A real Nagios 4 feeds ``sitelog ingest``; the projection holds what Nagios reported.

Nagios runs a few hosts and services whose checks return chosen states, outputs and
perfdata (``tests.support.nagios_engine``). Its OCSP/OCHP commands write external command
lines that one ``sitelog ingest --follow`` reads as they come; its host and service
perfdata files go through another ``sitelog ingest`` into a second site. Each site
is then projected into PostgreSQL with ``sitelog project``, and the states, outputs,
perfdata and perfdata points must equal what Nagios reported.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import orjson
import psycopg
import pytest

from engine.log.kafka import KafkaSettings
from engine.poller.spool import pending_records
from tests.support.cli import running, sitelog, stop
from tests.support.nagios_config import Check
from tests.support.nagios_engine import NagiosEngine, nagios_binary
from tests.support.services import unavailable


@pytest.fixture(autouse=True)
def nagios_installed() -> None:
    """Skip without Nagios 4 (fail with CI=true: ``make test`` installs it)."""
    if nagios_binary() is None:
        unavailable("Nagios 4", "nagios4 is not installed (tests/support/install_debian.sh)")


CHECKS = [
    Check(
        "web1",
        None,
        0,
        "PING OK - Packet loss = 0%, RTA = 0.05 ms",
        "rta=0.050ms;3000;5000;0 pl=0%;80;100;0",
    ),
    Check("db1", None, 2, "PING CRITICAL - Packet loss = 100%"),
    Check(
        "web1", "HTTP", 0, "HTTP OK: HTTP/1.1 200 OK - 512 bytes", "time=0.001s;;;0 size=512B;;;0"
    ),
    Check(
        "web1",
        "Disk /var",
        1,
        "DISK WARNING - free space: /var 12 MB (12%)",
        "'/var'=12MB;80;90;0;100",
    ),
    Check("db1", "Postgres", 2, "CRITICAL - connection refused; retried 3 times"),
    Check("db1", "Backup", 3, "UNKNOWN - no backup catalog", "age=0s;;;0"),
]


def _projected(pg_dsn: str, schema: str, site: str, kafka: KafkaSettings) -> None:
    done = sitelog(
        "project",
        *("--dsn", pg_dsn, "--schema", schema, "--site", f"{site}={kafka.bootstrap_servers}"),
        *("--until-caught-up", "--timeout", "60"),
        timeout=90,
    )
    assert done.returncode == 0, done.stderr


def _assert_projection_matches(pg_dsn: str, schema: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            f"SELECT host_name, service_description, state, output, perfdata, state_type "
            f"FROM {schema}.states"
        ).fetchall()
        labels = conn.execute(
            f"SELECT host_name, service_description, label FROM {schema}.perfdata_metrics"
        ).fetchall()
    projected = {
        (h, s): (state, output, perfdata, st) for h, s, state, output, perfdata, st in rows
    }
    reported = {
        (c.host, c.service or ""): (c.state_id, c.reported_output, c.perfdata, 1) for c in CHECKS
    }
    assert projected == reported
    expected_labels = {
        (c.host, c.service or "", metric.split("=")[0].strip("'"))
        for c in CHECKS
        for metric in c.perfdata.split()
    }
    assert set(labels) == expected_labels


def test_nagios_results_through_ocsp_and_perfdata_files_are_projected_as_reported(
    kafka: KafkaSettings, pg_dsn: str, tmp_path: Path
) -> None:
    ocsp_site, perfdata_site = (
        f"n{os.getpid()}o{int(time.time())}",
        f"n{os.getpid()}p{int(time.time())}",
    )
    with NagiosEngine(tmp_path / "nagios", CHECKS) as nagios:
        nagios.ocsp_file.touch()
        spool = tmp_path / "ocsp-spool"
        with running(
            *("ingest", "--follow", "--site", ocsp_site, "--bootstrap", kafka.bootstrap_servers),
            *("--spool", str(spool), "--origin", "nagios-1", str(nagios.ocsp_file)),
            stderr=subprocess.PIPE,
            text=True,
        ) as follower:
            nagios.wait_for_results(timeout=60)
            size = nagios.ocsp_file.stat().st_size
            deadline = time.monotonic() + 30
            while not _sent_up_to(spool, size) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _sent_up_to(spool, size), "the OCSP lines were not all sent"
            report = stop(follower)
            assert follower.returncode == 0, report
            assert "rejected 0 lines" in report
        for path in (nagios.host_perfdata_file, nagios.service_perfdata_file):
            done = sitelog(
                "ingest",
                *("--site", perfdata_site, "--bootstrap", kafka.bootstrap_servers),
                *("--spool", str(tmp_path / f"spool-{path.name}"), str(path)),
            )
            assert done.returncode == 0, done.stderr
    for site in (ocsp_site, perfdata_site):
        _projected(pg_dsn, site, site, kafka)
        _assert_projection_matches(pg_dsn, site)


def _sent_up_to(spool: Path, size: int) -> bool:
    """The follower read the file up to byte ``size`` and the brokers hold all it accepted."""
    try:
        position = orjson.loads((spool / "ingest-state.json").read_bytes())["position"]
    except (FileNotFoundError, orjson.JSONDecodeError):
        return False
    return position["offset"] >= size and not pending_records(spool)
