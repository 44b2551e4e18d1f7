"""A node knows the identity of the log it read: the last event consumed per partition and
the topic id are stored with the offsets, and a log replaced under them (a broker restarted
empty or with a lost disk and refilled, a topic deleted and recreated) stops that site with
a clear error instead of being read on as the old one; meanwhile the node's write path
refuses commands for its own stopped site (503), and other sites go on.

On both brokers: the Apache Kafka tests skip with one line where Java or Maven is missing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping

import aiohttp
import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

from engine.dev.brokers import BrokerKind, EmbeddedKafka
from engine.errors import LogReplacedError, LogWentBackwardsError
from engine.log.identity import Absent, Found, Mark, Undecodable, check_marks, check_topic
from engine.log.kafka import KafkaSettings
from engine.log.reader import read_log_offsets
from engine.log.records import DEFAULT_PARTITIONS, topic_for
from engine.log.writer import SiteLogWriter
from engine.node.config import NodeConfig, NodeRole
from engine.node.node import Node
from engine.node.projector import Projector
from engine.node.site_status import SiteState
from engine.node.tokens import make_token
from engine.poller import simulation
from engine.web import NodeServer
from projections.model import InMemoryProjection
from projections.pools import DEFAULT_OBSERVER, DEFAULT_POOLS
from projections.postgres import PostgresSink
from projections.rows import OffsetRow
from projections.state import Changes
from projections.tables import OFFSETS, POOL_LEASES
from schemas.codec import Codec
from schemas.configuration import HostDefined
from schemas.event import Event
from tests.support.brokers import test_broker
from tests.support.kafka_proxy import KafkaProxy
from tests.support.retention import KEEP_ALL

PARTITIONS = list(range(DEFAULT_PARTITIONS))


def traffic(site: str) -> simulation.Traffic:
    return simulation.Traffic(sites=(site,), hosts_per_site=40)


async def produce(settings: KafkaSettings, site: str, events: list[Event]) -> None:
    async with SiteLogWriter(site, settings) as writer:
        await writer.append_many(events)


async def ends(settings: KafkaSettings, site: str) -> dict[int, int]:
    offsets = await read_log_offsets(settings, topic_for(site), PARTITIONS)
    return {p: bounds.end for p, bounds in offsets.items()}


def offset_rows(dsn: str, schema: str, site: str) -> list[OffsetRow]:
    with PostgresSink.connect(dsn, schema) as sink:
        return sorted(row for row in sink.load_offset_rows() if row.site == site)


def site_digest(dsn: str, schema: str, site: str) -> str:
    with PostgresSink.connect(dsn, schema) as sink:
        return sink.digest({site}, since=0)


async def project(dsn: str, schema: str, sites: Mapping[str, KafkaSettings]) -> Projector:
    """Run a projector until it caught up (a failed site counts as done), then stop it."""
    projector = Projector(dsn, sites, schema=schema)
    await projector.start()
    try:
        assert await projector.wait_caught_up(60)
    finally:
        await projector.stop()
    return projector


def assert_marks_name_the_last_events(rows: list[OffsetRow], events: list[Event]) -> None:
    """Each row's mark is the event at next_offset - 1 (no dead letters here), read with a
    topic id (both brokers give one)."""
    ids = {e.event_id for e in events}
    assert len(rows) == DEFAULT_PARTITIONS
    for row in rows:
        assert row.last_event_offset == row.next_offset - 1
        assert row.last_event_id in ids
        assert row.topic_id is not None and row.topic_id != bytes(16)


# The check itself, for every log.


marks_st = st.dictionaries(
    st.integers(0, 3),
    st.builds(Mark, st.integers(0, 50), st.binary(min_size=16, max_size=16)),
)


@st.composite
def logs(draw: st.DrawFn) -> tuple[dict[int, Mark], dict[int, Found]]:
    """Marks, and what a log holds at their offsets: the same event, another one, a record
    that is no event, a log that ends before the mark or starts after it, or no answer."""
    marks = draw(marks_st)
    found: dict[int, Found] = {}
    for partition, mark in marks.items():
        kind = draw(st.sampled_from(["same", "other", "undecodable", "ended", "deleted", "none"]))
        if kind == "same":
            found[partition] = mark.event_id
        elif kind == "other":
            other = draw(st.binary(min_size=16, max_size=16))
            found[partition] = (
                other if other != mark.event_id else bytes([other[0] ^ 1]) + other[1:]
            )
        elif kind == "undecodable":
            found[partition] = Undecodable("bad-magic")
        elif kind == "ended":
            found[partition] = Absent(0, draw(st.integers(0, mark.offset)))
        elif kind == "deleted":
            found[partition] = Absent(mark.offset + 1, mark.offset + draw(st.integers(1, 9)))
    return marks, found


@given(logs())
def test_the_check_accepts_exactly_the_logs_holding_the_marked_events(
    log: tuple[dict[int, Mark], dict[int, Found]],
) -> None:
    marks, found = log
    replaced = [
        p
        for p, m in marks.items()
        if isinstance(found.get(p), bytes | Undecodable) and found[p] != m.event_id
    ]
    ended = [
        p for p, m in marks.items() if isinstance(a := found.get(p), Absent) and m.offset >= a.end
    ]
    if not replaced and not ended:
        check_marks("paris", marks, found)
        return
    with pytest.raises((LogReplacedError, LogWentBackwardsError)) as err:
        check_marks("paris", marks, found)
    first = min(replaced + ended)  # partitions are checked in order
    assert f"site paris partition {first}:" in str(err.value)
    assert isinstance(err.value, LogReplacedError) == (first in replaced)
    assert not err.value.retriable
    if isinstance(err.value, LogReplacedError):
        assert f"offset {marks[first].offset}" in str(err.value)
        assert str(uuid.UUID(bytes=marks[first].event_id)) in str(err.value)


@given(st.one_of(st.none(), st.binary(min_size=16, max_size=16)), st.data())
def test_topic_ids_differ_only_when_both_are_known(
    stored: bytes | None, data: st.DataObject
) -> None:
    found = data.draw(st.one_of(st.none(), st.just(stored), st.binary(min_size=16, max_size=16)))
    if stored is None or found is None or stored == found:
        check_topic("paris", stored, found)
    else:
        with pytest.raises(LogReplacedError, match="site paris: the topic's id is"):
            check_topic("paris", stored, found)


# Storage: the identity is written with the offsets, and older schemas get its columns.


rows_st = st.lists(
    st.builds(
        OffsetRow,
        st.sampled_from(["paris", "lyon"]),
        st.integers(0, 3),
        st.integers(0, 2**40),
        st.one_of(st.none(), st.integers(0, 2**50)),
        st.one_of(st.none(), st.integers(0, 2**40)),
        st.one_of(st.none(), st.binary(min_size=16, max_size=16)),
        st.one_of(st.none(), st.binary(min_size=16, max_size=16)),
    ),
    max_size=6,
    unique_by=lambda row: (row.site, row.partition),
)


def test_the_identity_rows_round_trip(sink_factory: object) -> None:
    """Whatever the offset rows hold, PostgreSQL gives them back as they were written."""
    sink: PostgresSink = sink_factory()  # type: ignore[operator]

    @settings(max_examples=40, deadline=None)
    @given(rows_st)
    def round_trip(rows: list[OffsetRow]) -> None:
        with sink.conn.transaction():
            sink.conn.execute(sql.SQL("TRUNCATE {}.offsets").format(sql.Identifier(sink.schema)))
        changes = Changes()
        for row in rows:
            changes.put(OFFSETS, (row.site, row.partition), row)
        sink.write(changes)
        assert sorted(sink.load_offset_rows()) == sorted(rows)
        assert sink.load_offsets() == {
            site: {r.partition: r.next_offset for r in rows if r.site == site}
            for site in {r.site for r in rows}
        }

    round_trip()


def test_an_older_schema_gets_the_identity_columns_on_start(pg_dsn: str, pg_schema: str) -> None:
    with PostgresSink.connect(pg_dsn, pg_schema) as sink:
        sink.create_tables()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # the offsets as they were
        for column in ("last_event_offset", "last_event_id", "topic_id"):
            conn.execute(
                sql.SQL("ALTER TABLE {}.offsets DROP COLUMN {}").format(
                    sql.Identifier(pg_schema), sql.Identifier(column)
                )
            )
        conn.execute(
            sql.SQL("INSERT INTO {}.offsets VALUES ('paris', 0, 7, NULL)").format(
                sql.Identifier(pg_schema)
            )
        )
    with PostgresSink.connect(pg_dsn, pg_schema) as sink:
        sink.create_tables()  # what a node does on start
        assert sink.load_offset_rows() == [OffsetRow("paris", 0, 7, None)]
        sink.create_tables()  # and again: nothing more to add
        assert sink.load_offsets() == {"paris": {0: 7}}


# Logs replaced under a node: on both brokers.


async def delete_topic(settings: KafkaSettings, topic: str) -> None:
    """Delete ``topic`` and wait (bounded) until the brokers no longer list it."""
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        await admin.delete_topics([topic])
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            if topic not in await admin.list_topics():
                return
            assert asyncio.get_running_loop().time() < deadline, f"{topic} is still listed"
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


def forget(dsn: str, schema: str, columns: tuple[str, ...]) -> None:
    """Clear some of the stored identity, so that the rest of it alone must tell."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {}.offsets SET {}").format(
                sql.Identifier(schema),
                sql.SQL(", ").join(sql.SQL("{} = NULL").format(sql.Identifier(c)) for c in columns),
            )
        )


def test_a_topic_deleted_and_recreated_is_not_taken_for_the_old_log(
    contract_kafka: KafkaSettings, pg_dsn: str, pg_schema: str, site: str
) -> None:
    """The topic id is what tells: the stored marks are cleared (as after a rebuild)."""
    first = list(simulation.events(300, traffic(site), seed=1))
    asyncio.run(produce(contract_kafka, site, first))
    asyncio.run(project(pg_dsn, pg_schema, {site: contract_kafka}))
    assert_marks_name_the_last_events(offset_rows(pg_dsn, pg_schema, site), first)
    forget(pg_dsn, pg_schema, ("last_event_offset", "last_event_id"))
    stored = offset_rows(pg_dsn, pg_schema, site)
    digest = site_digest(pg_dsn, pg_schema, site)

    asyncio.run(delete_topic(contract_kafka, topic_for(site)))
    asyncio.run(produce(contract_kafka, site, list(simulation.events(600, traffic(site), seed=2))))
    projector = asyncio.run(project(pg_dsn, pg_schema, {site: contract_kafka}))

    status = projector.status[site]
    assert status.state is SiteState.FAILED and status.events == 0
    assert status.error is not None
    assert f"site {site}: the topic's id is" in status.error and "was replaced" in status.error
    assert offset_rows(pg_dsn, pg_schema, site) == stored  # nothing of the new log
    assert site_digest(pg_dsn, pg_schema, site) == digest


def test_a_log_replaced_and_refilled_while_the_node_was_away_stops_only_its_site(
    kafka: KafkaSettings, pg_dsn: str, pg_schema: str, site: str
) -> None:
    """The record at each stored mark is what tells: the stored topic ids are cleared (as
    a broker that gives none leaves them), so the marks alone must. On the switch's broker:
    the topic recreated above and the lost disk below are the same on Apache Kafka.

    The node's own site is the healthy one: a command about a host of the stopped site is
    appended to the own log, and goes on."""
    healthy, lost = f"{site}h", f"{site}l"
    with test_broker() as broker:
        lost_kafka = KafkaSettings(broker.bootstrap_servers, connect_timeout=15.0)
        sites = {healthy: kafka, lost: lost_kafka}
        first = list(simulation.events(300, traffic(lost), seed=1))
        asyncio.run(produce(lost_kafka, lost, first))
        asyncio.run(produce(kafka, healthy, list(simulation.events(100, traffic(healthy)))))
        asyncio.run(project(pg_dsn, pg_schema, sites))
        assert_marks_name_the_last_events(offset_rows(pg_dsn, pg_schema, lost), first)
        forget(pg_dsn, pg_schema, ("topic_id",))
        stored = offset_rows(pg_dsn, pg_schema, lost)
        digest = site_digest(pg_dsn, pg_schema, lost)

        broker.restart(wipe=True)  # Tansu's memory, Apache Kafka's log directory: gone
        asyncio.run(produce(lost_kafka, lost, list(simulation.events(900, traffic(lost), seed=2))))
        refilled = asyncio.run(ends(lost_kafka, lost))
        assert all(refilled[r.partition] > r.next_offset for r in stored)  # past every offset
        later = list(simulation.events(150, traffic(healthy), seed=3))
        asyncio.run(produce(kafka, healthy, later))
        node = Node(
            NodeConfig(
                name="node-1",
                role=NodeRole.CENTRAL,
                site=healthy,
                dsn=pg_dsn,
                schema=pg_schema,
                listen="127.0.0.1:0",
                sites=sites,
                lease_request_period=3600.0,
                retention=KEEP_ALL,  # the simulation's results are dated 2023
            )
        )
        command = asyncio.run(_command_about_the_stopped_site(node, lost))

    status = node.status[lost]
    assert status.state is SiteState.FAILED and status.events == 0
    assert status.error is not None and f"site {lost} partition " in status.error
    assert " consumed there; the log was replaced" in status.error
    assert node.status[healthy].events == len(later) + 1  # the other site went on
    assert offset_rows(pg_dsn, pg_schema, lost) == stored  # nothing of the new log
    model = InMemoryProjection()
    model.apply_batch(first)
    assert digest == model.digest({lost}, since=0)
    model.apply_batch([command])
    assert site_digest(pg_dsn, pg_schema, lost) == model.digest({lost}, since=0)


async def _command_about_the_stopped_site(node: Node, stopped: str) -> Event:
    async with node:
        assert await node.projector.wait_caught_up(60)  # the stopped site counts as done
        event, where = await node.write_path.configure(
            HostDefined(host_name="web-9", site_name=stopped)
        )
        assert await node.projector.wait_for(node.config.site, where.partition, where.offset, 30)
    return event


async def refill_to(settings: KafkaSettings, site: str, counts: Mapping[int, int]) -> None:
    """Write ``counts[p]`` new events into each partition ``p``: a log as long as the old one."""
    events = iter(simulation.events(sum(counts.values()), traffic(site), seed=7))
    codec = Codec()
    async with SiteLogWriter(site, settings) as writer:
        pending = [
            await writer.producer.send(
                writer.topic, codec.encode(event := next(events)), event.key.encode(), partition=p
            )
            for p, count in counts.items()
            for _ in range(count)
        ]
        await writer.acknowledged(pending)


def test_a_log_replaced_by_one_as_long_is_caught_by_the_probe(
    pg_dsn: str, pg_schema: str, site: str
) -> None:
    """The new log ends exactly at the stored offsets, so the reader fetches nothing from it
    and nothing looks backwards: the probe's check is what stops the site."""
    with test_broker() as broker, KafkaProxy(broker.bootstrap_servers) as proxy:
        direct = KafkaSettings(broker.bootstrap_servers, connect_timeout=15.0)
        projector = Projector(
            pg_dsn, {site: KafkaSettings(proxy.address, connect_timeout=15.0)}, schema=pg_schema
        )

        async def scenario() -> tuple[dict[int, int], int]:
            await produce(direct, site, list(simulation.events(200, traffic(site), seed=1)))
            await projector.start()
            try:
                assert await projector.wait_caught_up(30)
                status = projector.status[site]
                committed, events = dict(status.committed), status.events
                proxy.cut()
                await asyncio.to_thread(broker.restart, wipe=True)
                await refill_to(direct, site, committed)
                assert await ends(direct, site) == committed
                proxy.restore()
                assert await projector.wait_until(lambda: status.state is SiteState.FAILED, 30)
                assert status.committed == committed and status.events == events
            finally:
                await projector.stop()
            return committed, events

        asyncio.run(scenario())
    status = projector.status[site]
    assert status.error is not None and f"site {site} partition " in status.error
    assert " consumed there; the log was replaced" in status.error


# A broker that lost its disk under a running node, and the node's write path meanwhile.


def test_a_broker_that_lost_its_disk_stops_the_own_site_and_its_commands(
    kafka: KafkaSettings, pg_dsn: str, pg_schema: str, site: str
) -> None:
    """Central's own log is on Apache Kafka, reached through a proxy: cut while the broker
    is wiped and refilled, so the node's connected reader meets the new log at its old
    position when the link comes back (aiokafka reconnects on its own)."""
    secret, token = make_token("operator", ["read", "operate", "admin"])
    with test_broker(BrokerKind.KAFKA) as broker, KafkaProxy(broker.bootstrap_servers) as proxy:
        direct = KafkaSettings(broker.bootstrap_servers, connect_timeout=15.0)
        node = Node(
            NodeConfig(
                name="central-1",
                role=NodeRole.CENTRAL,
                site="central",
                dsn=pg_dsn,
                schema=pg_schema,
                listen="127.0.0.1:0",
                sites={"central": KafkaSettings(proxy.address, connect_timeout=15.0), site: kafka},
                tokens=(token,),
                lease_request_period=3600.0,
                retention=KEEP_ALL,
            )
        )
        asyncio.run(_lose_the_disk(node, broker, direct, proxy, site, secret))


async def _lose_the_disk(
    node: Node,
    broker: EmbeddedKafka,
    direct: KafkaSettings,
    proxy: KafkaProxy,
    site: str,
    secret: str,
) -> None:
    headers = {"Authorization": f"Bearer {secret}"}
    async with node, NodeServer(node) as server, aiohttp.ClientSession() as http:
        _, where = await node.write_path.configure(HostDefined(host_name="web-1", site_name=site))
        assert await node.projector.wait_for("central", where.partition, where.offset, 30)

        # Central has written what it writes at start: the default pools and their first lease.
        def leased() -> bool:
            leases = node.projector.state.rows(POOL_LEASES)
            return all((pool, DEFAULT_OBSERVER) in leases for pool in DEFAULT_POOLS)

        assert await node.projector.wait_until(leased, 30)
        await produce(direct, "central", list(simulation.events(200, traffic("central"))))
        for partition, end in (await ends(direct, "central")).items():
            assert await node.projector.wait_for("central", partition, end - 1, 30)
        central = node.status["central"]
        committed, events = dict(central.committed), central.events

        proxy.cut()
        await asyncio.to_thread(broker.restart, wipe=True)
        await produce(direct, "central", list(simulation.events(900, traffic("central"), seed=2)))
        refilled = await ends(direct, "central")
        assert all(refilled[p] > offset for p, offset in committed.items())
        proxy.restore()
        assert await node.projector.wait_until(lambda: central.state is SiteState.FAILED, 30)

        assert central.error is not None and "the log was replaced" in central.error
        async with http.get(server.url + "/healthz") as response:
            assert response.status == 503
            health = await response.json()
        assert health["sites"] == {"central": "failed", site: "running"}
        assert health["causes"] == [f"site central failed: {central.error}"]

        # Other sites go on.
        results = list(simulation.events(50, traffic(site), seed=4))
        await produce(node.config.sites[site], site, results)
        assert await node.projector.wait_until(lambda: node.status[site].events == len(results), 30)

        # Commands for the stopped own site: refused, nothing appended.
        before = await ends(direct, "central")
        body = {"host": "web-1", "text": "after the loss"}
        async with http.post(
            server.url + "/api/v1/commands/add-comment", json=body, headers=headers
        ) as response:
            assert response.status == 503
            error = (await response.json())["error"]
        assert error["code"] == "site-stopped"
        assert (
            error["message"]
            == f"site central is stopped on this node, nothing appended: {central.error}"
        )
        assert await ends(direct, "central") == before

        # Nothing of the new log was projected, nothing twice.
        assert central.committed == committed and central.events == events
