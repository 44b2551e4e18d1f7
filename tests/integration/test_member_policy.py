"""A pool member meets a fault retrying cannot fix (central's log went backwards): it stops
for good and says why, instead of retrying forever while renewing its leases."""

from __future__ import annotations

import asyncio

from engine.dev import EmbeddedBroker
from engine.errors import LogWentBackwardsError
from engine.log.kafka import KafkaSettings
from engine.log.writer import SiteLogWriter
from engine.member.agent import MemberSettings, PoolMember
from projections.tables import POOL_SERVERS
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.pools import ServerRegistered
from schemas.types import ServerRole


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
    # Its own broker: restarting it (memory storage) is how central's log is lost.
    with EmbeddedBroker() as broker:
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
                await asyncio.to_thread(broker.restart)
                await write(5)  # the new log is shorter than what the member read
                await asyncio.wait_for(member.failed.wait(), 60)
            finally:
                await member.stop(give_back=False)
            return member

        member = asyncio.run(scenario())
    assert isinstance(member.failure, LogWentBackwardsError)
    assert "the log went backwards" in str(member.failure)
