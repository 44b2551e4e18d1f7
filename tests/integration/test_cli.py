"""The ``sitelog`` console script, run as a user would run it (a subprocess)."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

from engine.log.kafka import KafkaSettings
from engine.poller.spool import pending_records
from schemas.monitoring import ServiceCheckResult
from tests.support.cli import read_log, sitelog


def test_help_lists_the_commands() -> None:
    result = sitelog("--help")
    assert result.returncode == 0
    assert "produce" in result.stdout
    produce_help = sitelog("produce", "--help")
    assert produce_help.returncode == 0
    assert "--site" in produce_help.stdout


GOOD_LINE = (
    '{"type": "ServiceCheckResult", "payload": {"host_name": "web01", '
    '"service_description": "HTTP", "state": "CRITICAL", "state_type": "HARD", '
    '"attempt": 3, "max_attempts": 3, "output": "refused %d", "check_time": 1}}'
)


def test_unreachable_broker_keeps_the_events_in_the_spool_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spool = tmp_path / "spool"
    started = time.monotonic()
    result = sitelog(
        "produce",
        "--site",
        "paris",
        "--bootstrap",
        f"127.0.0.1:{port}",
        "--connect-timeout",
        "1",
        "--drain-timeout",
        "2",
        "--spool",
        str(spool),
        stdin=GOOD_LINE % 1 + "\n" + GOOD_LINE % 2 + "\n",
        timeout=30,
    )
    assert time.monotonic() - started < 20
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert f"brokers 127.0.0.1:{port} did not take them all: 2 wait in spool {spool}" in last
    assert len(pending_records(spool)) == 2


def test_bad_site_name_and_missing_file_are_user_errors() -> None:
    bad_site = sitelog("produce", "--site", "Paris!", "--bootstrap", "127.0.0.1:9")
    assert bad_site.returncode == 2
    assert "invalid site name 'Paris!'" in bad_site.stderr
    missing = sitelog("produce", "--site", "paris", "--bootstrap", "127.0.0.1:9", "/nonexistent")
    assert missing.returncode == 2
    assert "cannot read /nonexistent" in missing.stderr
    assert "Traceback" not in bad_site.stderr + missing.stderr


def test_produce_appends_good_lines_and_reports_bad_ones_by_number(
    kafka: KafkaSettings, site: str, tmp_path: Path
) -> None:
    good = GOOD_LINE
    lines = [good % 1, "{not json", good % 2, '{"type": "Nope", "payload": {}}', "", good % 3]
    result = sitelog(
        "produce",
        "--site",
        site,
        "--bootstrap",
        kafka.bootstrap_servers,
        "--spool",
        str(tmp_path / "spool"),
        stdin="\n".join(lines) + "\n",
    )
    assert result.returncode == 1, result.stderr
    assert "line 2: not valid JSON" in result.stderr
    assert "line 4: unknown event type 'Nope'" in result.stderr
    assert "accepted 3 events" in result.stderr and "3 acknowledged" in result.stderr
    assert "rejected 2 lines" in result.stderr
    assert pending_records(tmp_path / "spool") == []

    events = read_log(kafka, site, 3)
    outputs = [e.payload.output for e in events if isinstance(e.payload, ServiceCheckResult)]
    assert outputs == ["refused 1", "refused 2", "refused 3"]
    assert {e.site for e in events} == {site} and {e.origin for e in events} == {"sitelog-produce"}


def test_simulate_appends_the_results_it_was_asked_for(kafka: KafkaSettings, site: str) -> None:
    result = sitelog(
        "simulate",
        "--site",
        site,
        "--bootstrap",
        kafka.bootstrap_servers,
        "--hosts",
        "5",
        "--services",
        "2",
        "--rate",
        "400",
        "--count",
        "120",
        "--operator-rate",
        "0",
    )
    assert result.returncode == 0, result.stderr
    assert f"simulated 120 results into sitelog.{site}" in result.stderr

    events = read_log(kafka, site, 120)
    assert len(events) == 120
    assert {e.payload.host_name for e in events} == {f"{site}-host-{i:04d}" for i in range(5)}  # type: ignore[attr-defined]
    assert all(e.site == site and e.target_site == site for e in events)


def test_simulate_spreads_over_several_sites_at_an_interval_without_perfdata(
    kafka: KafkaSettings,
) -> None:
    sites = [f"s{uuid.uuid4().hex[:8]}", f"s{uuid.uuid4().hex[:8]}"]
    result = sitelog(
        "simulate",
        *("--site", sites[0], "--site", sites[1]),
        *("--bootstrap", kafka.bootstrap_servers, "--hosts", "3", "--services", "1"),
        *("--interval", "0.05", "--count", "48", "--operator-rate", "0", "--no-perfdata"),
    )
    assert result.returncode == 0, result.stderr
    assert f"simulated 48 results into sitelog.{sites[0]}, sitelog.{sites[1]}" in result.stderr

    for site in sites:
        events = read_log(kafka, site, 24)
        assert len(events) == 24
        assert {e.site for e in events} == {site}
        assert all(e.payload.perfdata == "" for e in events)  # type: ignore[attr-defined]
