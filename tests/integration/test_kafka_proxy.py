"""The test proxy itself, on both brokers: clients behind it stay behind it, and a cut really
cuts them off (what the partition and health tests rely on)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.client import AIOKafkaClient

from engine.errors import BrokerUnavailableError
from engine.log.kafka import KafkaSettings
from engine.log.reader import read_log_offsets
from engine.log.writer import SiteLogWriter
from schemas.hlc import HybridLogicalClock
from tests.support.kafka_proxy import KafkaProxy
from tests.support.scenarios import numbered_check as check


def test_a_client_behind_the_proxy_is_cut_off_and_comes_back(contract_kafka: KafkaSettings) -> None:
    clock = HybridLogicalClock()
    site = f"p{uuid.uuid4().hex[:12]}"
    with KafkaProxy(contract_kafka.bootstrap_servers) as proxy:
        direct = KafkaSettings(contract_kafka.bootstrap_servers, connect_timeout=3)
        behind = KafkaSettings(proxy.address, connect_timeout=3)

        async def write(settings: KafkaSettings, count: int) -> None:
            async with SiteLogWriter(site, settings) as writer:
                await writer.append_many([check("web", i, clock, site) for i in range(count)])

        async def end(settings: KafkaSettings) -> int:
            return sum(
                o.end
                for o in (
                    await read_log_offsets(settings, f"sitelog.{site}", [0, 1, 2, 3])
                ).values()
            )

        async def advertised(settings: KafkaSettings) -> set[tuple[str, int]]:
            client = AIOKafkaClient(**settings.client_kwargs())
            try:
                await client.bootstrap()
                return {(b.host, b.port) for b in client.cluster.brokers()}
            finally:
                await client.close()

        # Metadata through the proxy names the proxy: the client never learns the broker.
        assert asyncio.run(advertised(behind)) == {("127.0.0.1", proxy.port)}
        assert ("127.0.0.1", proxy.port) not in asyncio.run(advertised(direct))
        asyncio.run(write(behind, 10))
        assert asyncio.run(end(behind)) == 10
        proxy.cut()
        with pytest.raises(BrokerUnavailableError):
            asyncio.run(write(behind, 1))
        asyncio.run(write(direct, 5))  # the site itself keeps working
        assert asyncio.run(end(direct)) == 15
        proxy.restore()
        assert asyncio.run(end(behind)) == 15
