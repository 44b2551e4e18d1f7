"""The projector against the real broker and PostgreSQL: end to end, dead letters, a log that
went backwards, and a projector killed with SIGKILL over and over while it consumes.

The broker contract (consume, commit, resume from the committed offsets after a clean stop
and after SIGKILL) runs on both brokers, Tansu and Apache Kafka (``contract_kafka``).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from engine.log.kafka import KafkaSettings
from engine.log.writer import SiteLogWriter
from engine.node.projector import Projector
from engine.poller import simulation
from projections.errors import DatabaseError
from projections.model import InMemoryProjection
from projections.postgres import PostgresSink
from projections.tables import STATE_HISTORY
from schemas.event import Event
from tests.support.brokers import test_broker

SITELOG = str(Path(sys.executable).with_name("sitelog"))


def unique_sites(count: int = 3) -> tuple[str, ...]:
    tag = uuid.uuid4().hex[:8]
    return tuple(f"{name}{tag}" for name in ("paris", "lyon", "nice")[:count])


async def produce(
    settings: KafkaSettings, events: Iterable[Event], garbage: dict[str, list[bytes]] | None = None
) -> None:
    by_site: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_site[event.site].append(event)
    for site, site_events in by_site.items():
        async with SiteLogWriter(site, settings) as writer:
            pending = [await writer.send(e) for e in site_events]
            for raw in (garbage or {}).get(site, []):
                pending.append(await writer.send_raw(b"web", raw))
            await writer.acknowledged(pending)


def sink_digest(dsn: str, schema: str) -> tuple[str, dict[str, list[tuple[object, ...]]]]:
    sink = PostgresSink.connect(dsn, schema)
    try:
        rows = sink.read_rows()
        return sink.digest(since=0), rows
    finally:
        sink.close()


def test_projector_end_to_end_with_dead_letters(
    contract_kafka: KafkaSettings, pg_dsn: str, pg_schema: str
) -> None:
    sites, kafka = unique_sites(), contract_kafka
    events = list(simulation.events(6000, simulation.Traffic(sites=sites, hosts_per_site=20)))
    garbage = {sites[0]: [b"not avro", b"\xc3\x01" + b"\x00" * 8 + b"x"]}
    asyncio.run(produce(kafka, events, garbage))
    model = InMemoryProjection()
    model.apply_batch(events)

    async def project() -> Projector:
        projector = Projector(
            pg_dsn, dict.fromkeys(sites, kafka), schema=pg_schema, max_batch_events=1000
        )
        await projector.start()
        try:
            assert await projector.wait_caught_up(60)
        finally:
            await projector.stop()
        return projector

    projector = asyncio.run(project())
    digest, _ = sink_digest(pg_dsn, pg_schema)
    assert digest == model.digest(since=0)
    assert sum(s.events for s in projector.status.values()) == len(events)
    assert projector.status[sites[0]].dead_letters == 2
    sink = PostgresSink.connect(pg_dsn, pg_schema)
    try:
        letters = sink.conn.execute(
            f'SELECT site, reason FROM "{pg_schema}".dead_letters ORDER BY record_offset'
        ).fetchall()
    finally:
        sink.close()
    assert letters == [(sites[0], "bad-magic"), (sites[0], "unknown-fingerprint")]

    # A second start reads nothing again: everything committed stays committed.
    again = asyncio.run(project())
    assert sum(s.events for s in again.status.values()) == 0
    assert sink_digest(pg_dsn, pg_schema)[0] == digest


def test_a_log_that_went_backwards_stops_its_site_and_touches_nothing(
    kafka: KafkaSettings, pg_dsn: str, pg_schema: str
) -> None:
    healthy, lost = unique_sites(2)
    traffic = simulation.Traffic(sites=(healthy, lost), hosts_per_site=10)
    first = list(simulation.events(2000, traffic, seed=1))
    with test_broker() as lost_broker:
        lost_settings = KafkaSettings(lost_broker.bootstrap_servers)
        sites = {healthy: kafka, lost: lost_settings}

        async def produce_split(events: list[Event]) -> None:
            await produce(kafka, [e for e in events if e.site == healthy])
            await produce(lost_settings, [e for e in events if e.site == lost])

        async def project(wait: float) -> Projector:
            projector = Projector(pg_dsn, sites, schema=pg_schema)
            await projector.start()
            try:
                await projector.wait_caught_up(wait)
            finally:
                await projector.stop()
            return projector

        asyncio.run(produce_split(first))
        asyncio.run(project(60))
        before, _ = sink_digest(pg_dsn, pg_schema)
        before_lost = PostgresSink.connect(pg_dsn, pg_schema)
        stored = before_lost.load_offsets()
        marks = [row for row in before_lost.load_offset_rows() if row.site == lost]
        before_lost.close()
        assert marks and all(row.last_event_id is not None for row in marks)

        lost_broker.restart(wipe=True)  # the site's log is gone
        # Later in simulated time too: a result at a check time already seen is the same
        # measurement (no new point), and an older version moves no register.
        after = max(e.event_time for e in first) + 1
        later = list(simulation.events(400, traffic, seed=2, start=after))
        asyncio.run(produce_split([e for e in later if e.site == lost][:50]))
        asyncio.run(produce(kafka, [e for e in later if e.site == healthy]))

        projector = asyncio.run(project(30))
    status = projector.status[lost]
    assert status.state == "failed"
    # The lost log is seen to have gone backwards (it ends before what was consumed) or to
    # have been replaced (engine.log.identity: a wiped Apache Kafka makes the topic anew,
    # with another id).
    assert status.error is not None and lost in status.error
    assert "the log went backwards" in status.error or "the log was replaced" in status.error
    assert projector.status[healthy].state == "stopped"  # it ran to the end, then stopped
    assert projector.status[healthy].events == len([e for e in later if e.site == healthy])
    sink = PostgresSink.connect(pg_dsn, pg_schema)
    try:
        assert sink.load_offsets()[lost] == stored[lost]
        assert [row for row in sink.load_offset_rows() if row.site == lost] == marks
        lost_rows = sink.digest({lost}, since=0)
    finally:
        sink.close()
    model = InMemoryProjection()
    model.apply_batch([e for e in first if e.site == lost])
    assert lost_rows == model.digest({lost}, since=0)
    assert before != sink_digest(pg_dsn, pg_schema)[0]  # the healthy site moved on


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_and_applies_nothing_twice(
    contract_kafka: KafkaSettings, pg_dsn: str, pg_schema: str
) -> None:
    sites, kafka = unique_sites(), contract_kafka
    events = list(simulation.events(100_000, simulation.Traffic(sites=sites)))
    asyncio.run(produce(kafka, events))
    command = [
        SITELOG,
        "project",
        "--dsn",
        pg_dsn,
        "--schema",
        pg_schema,
        "--batch-events",
        "3000",
        *[arg for site in sites for arg in ("--site", f"{site}={kafka.bootstrap_servers}")],
    ]
    rnd = random.Random(int(os.environ.get("SITELOG_CRASH_SEED", "7")))
    progress = [0]
    for _ in range(5):
        child = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
        try:
            # Kill while it consumes: once it committed something more, at a random moment.
            wait_until(lambda: committed(pg_dsn, pg_schema) > progress[-1], bound=60)
            time.sleep(rnd.uniform(0.0, 1.5))
        finally:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        progress.append(committed(pg_dsn, pg_schema))
    assert progress[-1] < len(events), "the kills came too late to interrupt anything"
    started = time.monotonic()
    final = subprocess.run(
        [*command, "--until-caught-up", "--timeout", "300"],
        capture_output=True,
        text=True,
        timeout=330,
    )
    assert final.returncode == 0, final.stderr
    print(f"committed after each kill: {progress}; catch-up took {time.monotonic() - started:.1f}s")

    model = InMemoryProjection()
    model.apply_batch(events)
    digest, rows = sink_digest(pg_dsn, pg_schema)
    assert digest == model.digest(since=0)
    history_ids = [row[0] for row in rows[STATE_HISTORY.name]]
    assert len(history_ids) == len(set(history_ids)) == len(model.rows()[STATE_HISTORY.name])
    assert committed(pg_dsn, pg_schema) == len(events)


def wait_until(condition: Callable[[], bool], bound: float) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {bound}s"
        time.sleep(0.05)


def committed(dsn: str, schema: str) -> int:
    """Events committed so far: the sum of stored next offsets (one record per event)."""
    sink = PostgresSink.connect(dsn, schema)
    try:
        return sum(sum(parts.values()) for parts in sink.load_offsets().values())
    except DatabaseError as exc:  # the projector has not created its tables yet
        if "does not exist" not in str(exc):
            raise
        return 0
    finally:
        sink.close()
