"""A pool member meets a fault retrying cannot fix (central's log went backwards): it stops
for good and says why, instead of retrying forever while renewing its leases."""

from __future__ import annotations

import asyncio
from functools import partial

from engine.errors import LogReplacedError, LogWentBackwardsError
from engine.log.kafka import KafkaSettings
from engine.log.writer import SiteLogWriter
from engine.member.agent import MemberSettings, PoolMember
from projections.tables import POOL_SERVERS
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.pools import ServerRegistered
from schemas.types import ServerRole
from tests.support.brokers import test_broker


def registrations(count: int, clock: HybridLogicalClock) -> list[Event]:
    return [
        Event.create(
            ServerRegistered(server_name=f"gw-{i}", role=ServerRole.GATEWAY),
            site="central",
            origin="test",
            clock=clock,
        )
        for i in range(count)
    ]


def test_a_member_whose_log_went_backwards_stops_and_says_why() -> None:
    clock = HybridLogicalClock()
    # Its own broker: restarting it with its logs wiped is how central's log is lost.
    with test_broker() as broker:
        settings = KafkaSettings(broker.bootstrap_servers, connect_timeout=10.0)

        async def write(count: int) -> None:
            async with SiteLogWriter("central", settings) as writer:
                await writer.append_many(registrations(count, clock))

        async def scenario() -> PoolMember:
            await write(50)
            member = PoolMember(
                MemberSettings(
                    server="ms-1",
                    kafka=settings,
                    role=ServerRole.MANAGEMENT_SERVER,
                    lease_request_period=1.0,
                    network_latency=0.5,
                )
            )
            await member.start()
            try:
                assert member.state.get(POOL_SERVERS, ("gw-49",)) is not None  # it read all
                await asyncio.to_thread(partial(broker.restart, wipe=True))
                await write(5)  # the new log is shorter than what the member read
                await asyncio.wait_for(member.failed.wait(), 60)
            finally:
                await member.stop(give_back=False)
            return member

        member = asyncio.run(scenario())
    # Gone backwards, or replaced (engine.log.identity: a wiped Apache Kafka's new topic id).
    assert isinstance(member.failure, LogWentBackwardsError | LogReplacedError)
    assert "the log went backwards" in str(member.failure) or "the log was replaced" in str(
        member.failure
    )
