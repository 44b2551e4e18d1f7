"""engine.dev.ApacheKafka against the real Apache Kafka 4 jars (no mocks): ready means
ApiVersions and Metadata answer, site logs round-trip with exact log ends, records stay on
disk across a restart, ``stop()`` leaves no process and no port, and a missing ``java``
is one line. Skipped (failed under CI=true) where Java or Maven is missing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.dev import ApacheKafka
from engine.dev.apache_kafka import metadata_lists_broker
from engine.dev.process import free_port, port_accepts
from engine.dev.tansu import api_versions_ok
from engine.errors import EmbeddedServiceError
from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader, read_log_offsets
from engine.log.records import Appended, PartitionOffsets, topic_for
from engine.log.writer import SiteLogWriter
from schemas.codec import Codec
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from tests.support.scenarios import numbered_check
from tests.support.services import require_program

pytestmark = pytest.mark.timeout(300)

REPO_ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 4


@pytest.fixture(scope="module")
def apache_kafka() -> Iterator[ApacheKafka]:
    require_program("java", "Apache Kafka runs on the JVM")
    require_program("mvn", "Apache Kafka's jars are fetched with Maven")
    broker = ApacheKafka()
    broker.start()  # Java and Maven are here: a broker that does not start is a failure
    try:
        yield broker
    finally:
        broker.stop()


def settings(broker: ApacheKafka) -> KafkaSettings:
    return KafkaSettings(broker.bootstrap_servers, connect_timeout=15.0)


def some_events(site: str, count: int) -> list[Event]:
    clock = HybridLogicalClock()
    return [numbered_check(f"host-{i % 20:02d}", i, clock, site) for i in range(count)]


async def append(kafka: KafkaSettings, site: str, events: list[Event]) -> list[Appended]:
    async with SiteLogWriter(site, kafka, partitions=PARTITIONS) as writer:
        return await writer.append_many(events)


async def read_back(kafka: KafkaSettings, site: str, count: int) -> dict[tuple[int, int], Event]:
    """Every record of the site's log, by (partition, offset), within a bound.

    A plain aiokafka consumer assigned the partitions: independent of the code under test.
    """
    codec, topic = Codec(), topic_for(site)
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), auto_offset_reset="earliest")
    got: dict[tuple[int, int], Event] = {}
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(got) < count:
            assert loop.time() < deadline, f"read {len(got)} of {count} records in 30s"
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                got.update({(tp.partition, r.offset): codec.decode(r.value) for r in records})
    finally:
        await consumer.stop()
    return got


def offsets(kafka: KafkaSettings, site: str) -> dict[int, PartitionOffsets]:
    return asyncio.run(read_log_offsets(kafka, topic_for(site), range(PARTITIONS)))


def test_ready_means_it_answers_api_versions_and_lists_itself_in_metadata(
    apache_kafka: ApacheKafka,
) -> None:
    assert api_versions_ok(apache_kafka.port, 2.0)
    assert metadata_lists_broker(apache_kafka.port, 2.0)
    # The probe is not merely "something answers": a port nobody serves fails it.
    assert not metadata_lists_broker(free_port(), 1.0)
    cmdline = Path(f"/proc/{apache_kafka.pid}/cmdline").read_bytes().split(b"\0")
    assert b"kafka.Kafka" in cmdline and b"-Xmx256m" in cmdline


def test_events_round_trip_and_log_ends_are_exact(apache_kafka: ApacheKafka) -> None:
    kafka, site = settings(apache_kafka), f"k{uuid.uuid4().hex[:12]}"
    sent = some_events(site, 100)
    positions = asyncio.run(append(kafka, site, sent))
    per_partition = Counter(p.partition for p in positions)
    assert sum(per_partition.values()) == 100 and len(per_partition) > 1
    # Offsets are dense from 0 in each partition, and the log end is exactly the count.
    for partition, count in per_partition.items():
        assert sorted(p.offset for p in positions if p.partition == partition) == list(range(count))
    assert offsets(kafka, site) == {
        p: PartitionOffsets(0, per_partition.get(p, 0)) for p in range(PARTITIONS)
    }
    got = asyncio.run(read_back(kafka, site, 100))
    assert got == {(p.partition, p.offset): e for p, e in zip(positions, sent, strict=True)}


def test_site_log_reader_finds_the_partitions_of_a_topic(apache_kafka: ApacheKafka) -> None:
    site = f"k{uuid.uuid4().hex[:12]}"
    kafka = KafkaSettings(apache_kafka.bootstrap_servers, connect_timeout=5.0)
    asyncio.run(append(kafka, site, some_events(site, 4)))

    async def partitions() -> list[int]:
        async with SiteLogReader(site, kafka, partitions=PARTITIONS) as reader:
            return reader.partitions

    assert asyncio.run(partitions()) == list(range(PARTITIONS))


def test_records_survive_a_restart_on_the_same_port(apache_kafka: ApacheKafka) -> None:
    kafka, site = settings(apache_kafka), f"k{uuid.uuid4().hex[:12]}"
    sent = some_events(site, 40)
    positions = asyncio.run(append(kafka, site, sent))
    before, pid = offsets(kafka, site), apache_kafka.pid
    port, data_dir = apache_kafka.port, apache_kafka.data_dir

    apache_kafka.restart()

    assert apache_kafka.pid != pid and apache_kafka.port == port
    assert apache_kafka.data_dir == data_dir
    assert offsets(kafka, site) == before  # on disk: unlike Tansu, nothing went backwards
    got = asyncio.run(read_back(kafka, site, 40))
    assert got == {(p.partition, p.offset): e for p, e in zip(positions, sent, strict=True)}
    # And the log goes on from its old ends.
    more = asyncio.run(append(kafka, site, some_events(site, 8)))
    assert all(p.offset >= before[p.partition].end for p in more)


def test_stop_leaves_no_process_no_port_and_no_files() -> None:
    require_program("java", "Apache Kafka runs on the JVM")
    require_program("mvn", "Apache Kafka's jars are fetched with Maven")
    broker = ApacheKafka().start()
    pid, home = broker.pid, broker.home
    assert home is not None and (home / "data" / "meta.properties").is_file()
    broker.stop()
    with pytest.raises(ProcessLookupError):  # reaped: not even a zombie is left
        os.kill(pid, 0)
    assert not port_accepts(broker.port) and not port_accepts(broker.controller_port)
    assert not home.exists()
    broker.stop()  # idempotent
    with pytest.raises(EmbeddedServiceError, match="is not running"):
        _ = broker.pid


def test_a_broker_that_exits_early_is_one_line_quoting_its_log() -> None:
    require_program("java", "Apache Kafka runs on the JVM")
    require_program("mvn", "Apache Kafka's jars are fetched with Maven")
    # A socket bound to the controller port but not listening: the service's "port in use"
    # check (a connect) passes, and Kafka's own bind fails, as when another program takes
    # the port between our check and the JVM's start.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        broker = ApacheKafka(controller_port=squatter.getsockname()[1])
        with pytest.raises(EmbeddedServiceError) as caught:
            broker.start()
    message = str(caught.value)
    assert "\n" not in message and message.startswith("Apache Kafka")
    assert "exited with code" in message and "last log lines:" in message
    assert broker.home is None  # stopped, its temporary directory removed


def run_without_java(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter whose PATH holds only this venv's bin (no java,
    no mvn) and no JAVA_HOME: what a machine without Java looks like to the service."""
    clean = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    clean |= {"PATH": str(Path(sys.executable).parent), **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


ONE_LINE = """
import sys
from engine.errors import EmbeddedServiceError
try:
    {call}
except EmbeddedServiceError as exc:
    print(exc)
    sys.exit(3)
"""


def test_missing_java_is_one_line() -> None:
    done = run_without_java(
        ONE_LINE.format(call="__import__('engine.dev').dev.ApacheKafka().start()")
    )
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("java not found"), done.stdout
    # And a java given explicitly that is not there.
    with pytest.raises(EmbeddedServiceError, match=r"java given as /nonexistent/java") as caught:
        ApacheKafka(java="/nonexistent/java").start()
    assert "\n" not in str(caught.value)


def test_missing_maven_with_no_cache_is_one_line(tmp_path: Path) -> None:
    done = run_without_java(
        ONE_LINE.format(call="__import__('engine.dev').dev.kafka_classpath()"),
        SITELOG_KAFKA_CACHE=str(tmp_path / "cache"),
    )
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mvn not found"), done.stdout
    assert not (tmp_path / "cache").exists()


def test_the_writer_is_idempotent_where_the_brokers_grant_producer_ids(
    apache_kafka: ApacheKafka, tansu_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Detected, not assumed: Apache Kafka grants producer ids, the embedded Tansu does not;
    the writer says at start which way it produces, and appends either way."""
    caplog.set_level(logging.INFO, logger="engine.log.writer")

    async def mode(settings: KafkaSettings) -> bool | None:
        site = f"k{uuid.uuid4().hex[:12]}"
        async with SiteLogWriter(site, settings, partitions=PARTITIONS) as writer:
            appended = await writer.append_many(some_events(site, 8))
            assert len(appended) == 8
            return writer.idempotent

    assert asyncio.run(mode(settings(apache_kafka))) is True
    assert asyncio.run(mode(KafkaSettings(tansu_bootstrap, connect_timeout=15.0))) is False
    said = [r.getMessage() for r in caplog.records if r.name == "engine.log.writer"]
    assert any(m.endswith("idempotent (the brokers grant producer ids)") for m in said), said
    assert any("at least once (the brokers give no producer id" in m for m in said), said
