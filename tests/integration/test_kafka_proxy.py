"""The test proxy itself: clients behind it stay behind it, and a cut really cuts them off."""

from __future__ import annotations

import asyncio

import pytest

from engine.dev import EmbeddedBroker
from engine.errors import BrokerUnavailableError
from engine.log.kafka import KafkaSettings
from engine.log.reader import read_log_offsets
from engine.log.writer import SiteLogWriter
from schemas.hlc import HybridLogicalClock
from tests.support.kafka_proxy import KafkaProxy
from tests.support.scenarios import numbered_check as check


def test_a_client_behind_the_proxy_is_cut_off_and_comes_back() -> None:
    clock = HybridLogicalClock()
    with EmbeddedBroker() as broker, KafkaProxy(broker.bootstrap_servers) as proxy:
        direct = KafkaSettings(broker.bootstrap_servers, connect_timeout=3)
        behind = KafkaSettings(proxy.address, connect_timeout=3)

        async def write(settings: KafkaSettings, count: int) -> None:
            async with SiteLogWriter("paris", settings) as writer:
                await writer.append_many([check("web", i, clock, "paris") for i in range(count)])

        async def end(settings: KafkaSettings) -> int:
            return sum(
                o.end
                for o in (await read_log_offsets(settings, "sitelog.paris", [0, 1, 2, 3])).values()
            )

        asyncio.run(write(behind, 10))
        assert asyncio.run(end(behind)) == 10
        proxy.cut()
        with pytest.raises(BrokerUnavailableError):
            asyncio.run(write(behind, 1))
        asyncio.run(write(direct, 5))  # the site itself keeps working
        assert asyncio.run(end(direct)) == 15
        proxy.restore()
        assert asyncio.run(end(behind)) == 15
