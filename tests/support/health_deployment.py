"""A central and a paris node whose link can be cut: for the console's health tests.

One broker holds both site logs. Central reads paris's log through a
:class:`~tests.support.kafka_proxy.KafkaProxy` (``to_paris``) and paris reads central's
through another (``to_central``); each node reads its own site directly. Cutting both
proxies is a WAN cut between the sites: each side keeps its own site and loses the
other's. The proxied sites keep the default ``KafkaSettings`` (``connect_timeout`` 10 s),
so the tests see how fast a node notices a cut out of the box.

:func:`pool_world` gives an API deployment (``tests.support.api_deployment``) a pool
worth looking at: members with and without a lease, and a root certificate some lack.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp

from engine.log.kafka import KafkaSettings
from engine.log.reader import read_log_offsets
from engine.log.records import DEFAULT_PARTITIONS
from engine.log.writer import SiteLogWriter
from engine.node.config import NodeConfig, NodeRole
from engine.node.node import Node
from engine.node.tokens import make_token
from engine.poller import simulation
from engine.web import NodeServer
from projections.pools import DEFAULT_POOLS
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.pools import Lease, TrustAnchorsReported
from schemas.types import MICROS_PER_SECOND, now_us
from tests.support.api_deployment import Deployment
from tests.support.brokers import test_broker
from tests.support.kafka_proxy import KafkaProxy

__all__ = ["DEVICES", "SERVERS", "CutDeployment", "cut_deployment", "pool_world"]


@dataclass
class CutDeployment:
    kafka: KafkaSettings
    to_paris: KafkaProxy
    to_central: KafkaProxy
    central: Node
    paris: Node
    urls: dict[str, str]
    #: Token secrets: "central-reader" on central, "paris-reader" on paris.
    secrets: dict[str, str]
    writer: SiteLogWriter
    rounds: int = 0

    def cut(self) -> None:
        self.to_paris.cut()
        self.to_central.cut()

    def restore(self) -> None:
        self.to_paris.restore()
        self.to_central.restore()

    async def append_paris(self, count: int) -> None:
        """``count`` check results appended to paris's log, as its pollers would."""
        self.rounds += 1
        traffic = simulation.Traffic(sites=("paris",), hosts_per_site=5)
        await self.writer.append_many(list(simulation.events(count, traffic, seed=self.rounds)))

    async def wait_projected(self, timeout: float) -> None:
        """Until both nodes hold everything in both logs (the links must be up)."""
        for node in (self.central, self.paris):
            for site in ("central", "paris"):
                offsets = await read_log_offsets(
                    self.kafka, f"sitelog.{site}", list(range(DEFAULT_PARTITIONS))
                )
                for partition, bounds in offsets.items():
                    if bounds.end > 0:
                        assert await node.projector.wait_for(
                            site, partition, bounds.end - 1, timeout
                        ), f"{node.config.name} did not project {site}/{partition}"


@asynccontextmanager
async def cut_deployment(pg_dsn: str) -> AsyncIterator[CutDeployment]:
    tag = uuid.uuid4().hex[:8]
    central_secret, central_token = make_token("central-reader", ["read"])
    paris_secret, paris_token = make_token("paris-reader", ["read"])
    with test_broker() as broker:
        kafka = KafkaSettings(broker.bootstrap_servers)
        with (
            KafkaProxy(broker.bootstrap_servers) as to_paris,
            KafkaProxy(broker.bootstrap_servers) as to_central,
        ):
            central = Node(
                NodeConfig(
                    name="central-1",
                    role=NodeRole.CENTRAL,
                    site="central",
                    dsn=pg_dsn,
                    schema=f"health_c_{tag}",
                    listen="127.0.0.1:0",
                    sites={"central": kafka, "paris": KafkaSettings(to_paris.address)},
                    tokens=(central_token,),
                    lease_request_period=3600.0,
                )
            )
            paris = Node(
                NodeConfig(
                    name="paris-1",
                    role=NodeRole.REMOTE,
                    site="paris",
                    dsn=pg_dsn,
                    schema=f"health_p_{tag}",
                    listen="127.0.0.1:0",
                    sites={"central": KafkaSettings(to_central.address), "paris": kafka},
                    tokens=(paris_token,),
                )
            )
            async with AsyncExitStack() as stack:
                for node in (central, paris):
                    await stack.enter_async_context(node)
                central_api = await stack.enter_async_context(NodeServer(central))
                paris_api = await stack.enter_async_context(NodeServer(paris))
                writer = await stack.enter_async_context(SiteLogWriter("paris", kafka))
                d = CutDeployment(
                    kafka,
                    to_paris,
                    to_central,
                    central,
                    paris,
                    {"central": central_api.url, "paris": paris_api.url},
                    {"central-reader": central_secret, "paris-reader": paris_secret},
                    writer,
                )
                await d.append_paris(200)
                await d.wait_projected(60)
                yield d


SERVERS = ("ms-1", "ms-2", "ms-3")
DEVICES = [f"switch-{i:02d}" for i in range(12)]


async def pool_world(deployment: Deployment) -> None:
    """A manual pool of three servers: ms-1 and ms-2 hold leases (in the built-in pools
    too, which take every management server in), ms-3 none; the devices were signed by
    root ab12, which only ms-1 trusts."""
    pool = {"pool_name": "Network"}
    items = [
        *({"type": "ServerRegistered", "payload": {"server_name": s, "role": "MANAGEMENT_SERVER"}}
          for s in SERVERS),
        {"type": "PoolDefined", "payload": {**pool, "description": "network devices"}},
        *({"type": "PoolMemberAdded", "payload": {**pool, "server_name": s}} for s in SERVERS),
        *({"type": "PoolTargetAssigned",
           "payload": {**pool, "target_name": t, "kind": "NETWORK_DEVICE", "signing_root": "ab12"}}
          for t in DEVICES),
    ]  # fmt: skip
    async with (
        aiohttp.ClientSession(headers=deployment.headers("admin")) as http,
        http.post(
            deployment.urls["central"] + "/api/v1/configuration?wait=projected",
            json={"events": items},
        ) as answer,
    ):
        assert answer.status == 202, await answer.text()
    clock, now = HybridLogicalClock(), now_us()
    payloads: list[Lease | TrustAnchorsReported] = [
        TrustAnchorsReported(server_name="ms-1", fingerprints=("ab12",)),
        *(
            Lease(
                pool_name=pool_name,
                server_name=s,
                lease_request_period=3600 * MICROS_PER_SECOND,
                network_latency=MICROS_PER_SECOND,
            )
            for pool_name in ("Network", *DEFAULT_POOLS)
            for s in SERVERS[:2]
        ),
    ]
    events = [
        Event.create(p, site="central", origin="ms-1", clock=clock, event_time=now)
        for p in payloads
    ]
    async with SiteLogWriter("central", deployment.kafka) as writer:
        await writer.append_many(events)
    await deployment.wait_projected()
