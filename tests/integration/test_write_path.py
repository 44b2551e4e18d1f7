"""The write path between a central node and a paris remote node, on their own broker.

Commands append events (never rows) to the node's own site log; the remote node keeps
only its subset and refuses what is outside it; both end with the same paris digest.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from engine.errors import CentralOnlyError, UnknownSubjectError
from engine.log.kafka import KafkaSettings
from engine.log.reader import read_log_offsets
from engine.log.writer import SiteLogWriter
from engine.node.config import NodeRole
from engine.node.projector import Projector
from engine.node.write_path import WritePath
from projections.postgres import PostgresSink
from projections.tables import CONFIG_HOSTS, DOWNTIMES
from schemas.configuration import HostDefined
from schemas.errors import InvalidEventError
from schemas.types import now_us
from tests.support.brokers import test_broker


async def log_end(settings: KafkaSettings, site: str) -> int:
    offsets = await read_log_offsets(settings, f"sitelog.{site}", [0, 1, 2, 3])
    return sum(o.end for o in offsets.values())


def test_commands_flow_through_logs_and_respect_the_remote_subset(pg_dsn: str) -> None:
    tag = uuid.uuid4().hex[:8]
    with test_broker() as broker:
        kafka = KafkaSettings(broker.bootstrap_servers)

        async def scenario() -> tuple[str, str]:
            central = Projector(
                pg_dsn, {"central": kafka, "paris": kafka, "lyon": kafka}, schema=f"c_{tag}"
            )
            remote = Projector(
                pg_dsn,
                {"central": kafka, "paris": kafka},
                schema=f"p_{tag}",
                accept=lambda e: e.target_site == "paris",
            )
            async with SiteLogWriter("central", kafka) as cw, SiteLogWriter("paris", kafka) as pw:
                await central.start()
                await remote.start()
                on_central = WritePath(
                    origin="central-1",
                    role=NodeRole.CENTRAL,
                    site="central",
                    writer=cw,
                    state=lambda: central.state,
                )
                on_paris = WritePath(
                    origin="paris-1",
                    role=NodeRole.REMOTE,
                    site="paris",
                    writer=pw,
                    state=lambda: remote.state,
                )
                try:
                    _, web = await on_central.configure(
                        HostDefined(host_name="web-p1", site_name="paris")
                    )
                    _, db = await on_central.configure(
                        HostDefined(host_name="db-l1", site_name="lyon")
                    )
                    for where in (web, db):
                        assert await central.wait_for("central", where.partition, where.offset, 30)
                        assert await remote.wait_for("central", where.partition, where.offset, 30)
                    assert remote.state.get(CONFIG_HOSTS, ("db-l1",)) is None  # not its subset

                    event, where = await on_paris.command(
                        "acknowledge", host="web-p1", author="alice"
                    )
                    assert (event.site, event.target_site, event.origin) == (
                        "paris",
                        "paris",
                        "paris-1",
                    )
                    assert where.offset >= 0

                    paris_end = await log_end(kafka, "paris")
                    with pytest.raises(UnknownSubjectError, match="unknown host 'db-l1'"):
                        await on_paris.command("acknowledge", host="db-l1", author="alice")
                    with pytest.raises(CentralOnlyError):
                        await on_paris.configure(HostDefined(host_name="x", site_name="paris"))
                    moment = now_us()
                    with pytest.raises(InvalidEventError, match="'end_time': must be after"):
                        await on_paris.command(
                            "schedule-downtime",
                            host="web-p1",
                            author="bob",
                            start_time=moment,
                            end_time=moment,
                        )
                    assert await log_end(kafka, "paris") == paris_end  # refusals append nothing

                    event, acked = await on_central.command(
                        "acknowledge", host="db-l1", author="carol"
                    )
                    assert (event.site, event.target_site) == ("central", "lyon")
                    start = now_us()
                    event, scheduled = await on_central.command(
                        "schedule-downtime",
                        host="web-p1",
                        author="carol",
                        start_time=start,
                        end_time=start + 10**9,
                    )
                    assert event.target_site == "paris"
                    assert await remote.wait_for(
                        "central", scheduled.partition, scheduled.offset, 30
                    )
                    downtime_id = event.payload.downtime_id  # type: ignore[attr-defined]
                    _, cancel = await on_paris.command(
                        "cancel-downtime", downtime_id=downtime_id, author="alice"
                    )
                    assert await central.wait_for("paris", cancel.partition, cancel.offset, 30)
                    assert await central.wait_for("central", acked.partition, acked.offset, 30)
                    # The downtime and its cancellation may sit in different partitions of
                    # central's log: wait for both, or the digests compare a race.
                    assert await central.wait_for(
                        "central", scheduled.partition, scheduled.offset, 30
                    )
                    assert await remote.wait_for("paris", cancel.partition, cancel.offset, 30)
                    cancelled = central.state.rows(DOWNTIMES)[(downtime_id,)]
                    assert cancelled.cancelled_version is not None
                finally:
                    await central.stop()
                    await remote.stop()
            return f"c_{tag}", f"p_{tag}"

        central_schema, remote_schema = asyncio.run(scenario())
    digests = {}
    for schema in (central_schema, remote_schema):
        sink = PostgresSink.connect(pg_dsn, schema)
        try:
            digests[schema] = (sink.digest({"paris"}, since=0), sink.digest({"lyon"}, since=0))
        finally:
            sink.close()
    assert digests[central_schema][0] == digests[remote_schema][0]  # they agree on paris
    assert digests[central_schema][1] != digests[remote_schema][1]  # only central has lyon
