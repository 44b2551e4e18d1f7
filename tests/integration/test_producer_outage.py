"""A broker outage while a poller produces: nothing accepted is lost, even across a kill.

``sitelog produce`` runs as a real process behind a TCP proxy that the test cuts.
During the cut the producer is killed (SIGKILL) and started again on the same spool.
When the link returns, the log must hold every accepted result, each host's in the
order the poller produced them. A broker contract test: it runs on both brokers, Tansu and
Apache Kafka (``contract_kafka``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from subprocess import Popen

import orjson

from engine.log.kafka import KafkaSettings
from engine.poller.spool import pending_records
from schemas.codec import Codec
from schemas.types import event_id_str, new_event_id
from tests.support.cli import read_log, running
from tests.support.kafka_proxy import KafkaProxy

RESULTS = 50_000
HOSTS = 200
CODEC = Codec()


def _lines() -> tuple[list[bytes], list[tuple[str, str]]]:
    """JSON lines of check results, and (host, event id) of each in production order."""
    lines, produced = [], []
    for i in range(RESULTS):
        host = f"host-{i % HOSTS:03d}"
        event_id = event_id_str(new_event_id())
        line = {
            "type": "ServiceCheckResult",
            "event_id": event_id,
            "payload": {
                "host_name": host,
                "service_description": "Load",
                "state": "OK",
                "state_type": "HARD",
                "attempt": 1,
                "max_attempts": 3,
                "output": f"OK - result {i}",
                "perfdata": f"load1={i % 7}.00;5;10;0;",
                "check_time": 1_700_000_000_000_000 + i,
            },
        }
        lines.append(orjson.dumps(line) + b"\n")
        produced.append((host, event_id))
    return lines, produced


def _producer(site: str, bootstrap: str, spool: Path) -> AbstractContextManager[Popen[bytes]]:
    return running(
        *("produce", "--site", site, "--bootstrap", bootstrap, "--spool", str(spool)),
        *("--connect-timeout", "2", "--drain-timeout", "120"),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.2)


def _spooled(spool: Path, event_id: str) -> bool:
    """Whether the spool holds ``event_id`` not yet acknowledged: it was accepted."""
    records = pending_records(spool)
    return bool(records) and event_id_str(CODEC.decode(records[-1][1]).event_id) == event_id


def test_a_cut_and_a_killed_producer_lose_nothing_and_keep_host_order(
    contract_kafka: KafkaSettings, site: str, tmp_path: Path
) -> None:
    kafka = contract_kafka
    lines, produced = _lines()
    spool = tmp_path / "spool"
    first, cut_at, kill_at = 10_000, 10_000, 30_000
    with KafkaProxy(kafka.bootstrap_servers) as proxy:
        with _producer(site, proxy.address, spool) as before:
            assert before.stdin is not None
            before.stdin.writelines(lines[:first])
            before.stdin.flush()
            _wait(lambda: spool.exists() and not pending_records(spool), "the first lines are sent")
            proxy.cut()
            before.stdin.writelines(lines[cut_at:kill_at])
            before.stdin.flush()
            _wait(lambda: _spooled(spool, produced[kill_at - 1][1]), "the outage lines are spooled")
            os.killpg(before.pid, signal.SIGKILL)
            before.wait(10)
        with _producer(site, proxy.address, spool) as after:
            assert after.stdin is not None
            after.stdin.writelines(lines[kill_at:])
            after.stdin.close()
            _wait(lambda: _spooled(spool, produced[-1][1]), "the last lines are spooled")
            assert after.poll() is None, "the producer must wait for the brokers"
            proxy.restore()
            after.wait(120)
            assert after.stderr is not None
            report = after.stderr.read().decode()
            assert after.returncode == 0, report
            assert "reachable again" in report and "from a previous run" in report

    logged = read_log(kafka, site, RESULTS, bound=60)
    first_seen: dict[str, int] = {}
    for index, event in enumerate(logged):
        first_seen.setdefault(event_id_str(event.event_id), index)
    assert set(first_seen) == {event_id for _, event_id in produced}
    for host in {host for host, _ in produced[:HOSTS]}:
        mine = [event_id for h, event_id in produced if h == host]
        assert sorted(mine, key=first_seen.__getitem__) == mine, f"{host} out of order"
