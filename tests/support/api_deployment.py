"""A small deployment for the API tests: one broker, a central node and a paris remote
node, each with its HTTP API, tokens, and a known monitoring picture.

Sites paris and lyon each have hosts with three services; results are appended to
each site's log as a poller would, and the expected latest result of every subject
is kept here, so tests compare what the API answers with what was produced.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from engine.log.kafka import KafkaSettings
from engine.log.reader import read_log_offsets
from engine.log.records import DEFAULT_PARTITIONS
from engine.log.writer import SiteLogWriter
from engine.node.config import NodeConfig, NodeRole
from engine.node.node import Node
from engine.node.tokens import ApiToken, make_token
from engine.web import NodeServer
from projections.pools import DEFAULT_OBSERVER, DEFAULT_POOLS
from projections.quorum import pool_names
from projections.retention import DEFAULT_RETENTION, RetentionPolicy
from projections.tables import POOL_LEASES
from schemas.configuration import HostDefined, ServiceDefined, SiteDefined
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import HostCheckResult, ServiceCheckResult
from schemas.types import HostState, ServiceState, StateType, now_us
from tests.support.brokers import test_broker

SITES = ("central", "paris", "lyon")
HOSTS = {"paris": 12, "lyon": 8}
SERVICES = ("cpu", "disk", "http")
SERVICE_STATES = (
    ServiceState.OK,
    ServiceState.WARNING,
    ServiceState.CRITICAL,
    ServiceState.UNKNOWN,
)

Subject = tuple[str, str]  # (host, service); service '' for a host


def host_names(site: str) -> list[str]:
    return [f"{site[0]}-{i:03d}" for i in range(HOSTS[site])]


def site_of(host: str) -> str:
    return {"p": "paris", "l": "lyon"}[host[0]]


def groups_of(host: str) -> tuple[str, ...]:
    return ("web",) if int(host[2:]) % 2 == 0 else ("db",)


@dataclass
class Deployment:
    kafka: KafkaSettings
    central: Node
    paris: Node
    urls: dict[str, str]
    secrets: dict[str, str]
    #: The latest result produced for every subject.
    latest: dict[Subject, HostCheckResult | ServiceCheckResult] = field(default_factory=dict)
    clock: HybridLogicalClock = field(default_factory=HybridLogicalClock)
    writers: dict[str, SiteLogWriter] = field(default_factory=dict)

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[token]}"}

    async def get(
        self,
        session: aiohttp.ClientSession,
        node: str,
        path: str,
        token: str = "reader",
        **query: Any,
    ) -> tuple[int, Any]:
        async with session.get(
            self.urls[node] + path, params=query, headers=self.headers(token)
        ) as response:
            return response.status, await response.json()

    async def post(
        self,
        session: aiohttp.ClientSession,
        node: str,
        path: str,
        body: Any,
        token: str = "operator",
        **query: Any,
    ) -> tuple[int, Any]:
        async with session.post(
            self.urls[node] + path, json=body, params=query, headers=self.headers(token)
        ) as response:
            return response.status, await response.json()

    async def produce_results(self, round_: int, hosts: list[str] | None = None) -> None:
        """One result per subject (hosts and services), states varying with ``round_``."""
        by_site: dict[str, list[Event]] = {}
        now = now_us()
        for site in HOSTS:
            for index, host in enumerate(host_names(site)):
                if hosts is not None and host not in hosts:
                    continue
                payloads: list[HostCheckResult | ServiceCheckResult] = [
                    HostCheckResult(
                        host_name=host,
                        state=HostState.DOWN if (index + round_) % 5 == 0 else HostState.UP,
                        state_type=StateType.HARD,
                        attempt=1,
                        max_attempts=3,
                        output=f"PING round {round_}",
                        check_time=now,
                        poller=f"poller-{site}",
                    )
                ]
                for s_index, service in enumerate(SERVICES):
                    state = SERVICE_STATES[(index + s_index + round_) % 4]
                    payloads.append(
                        ServiceCheckResult(
                            host_name=host,
                            service_description=service,
                            state=state,
                            state_type=StateType.HARD if index % 3 else StateType.SOFT,
                            attempt=1,
                            max_attempts=3,
                            output=f"{service.upper()} {state.name} round {round_}",
                            perfdata=f"value={index + s_index + round_};80;90;0;100",
                            check_time=now,
                            poller=f"poller-{site}",
                        )
                    )
                for payload in payloads:
                    self.latest[(host, payload.service_description or "")] = payload
                    by_site.setdefault(site, []).append(
                        Event.create(payload, site=site, origin=f"poller-{site}", clock=self.clock)
                    )
        for site, events in by_site.items():
            await self.writers[site].append_many(events)

    async def wait_projected(self, timeout: float = 30.0) -> None:
        """Until both nodes hold everything in every log they follow."""
        for node in (self.central, self.paris):
            for site in node.config.followed:
                offsets = await read_log_offsets(
                    self.kafka, f"sitelog.{site}", list(range(DEFAULT_PARTITIONS))
                )
                for partition, bounds in offsets.items():
                    if bounds.end > 0:
                        assert await node.projector.wait_for(
                            site, partition, bounds.end - 1, timeout
                        )

    async def log_ends(self) -> dict[str, int]:
        """Records in each site log (to prove a refused command appended nothing)."""
        ends = {}
        for site in SITES:
            offsets = await read_log_offsets(
                self.kafka, f"sitelog.{site}", list(range(DEFAULT_PARTITIONS))
            )
            ends[site] = sum(o.end for o in offsets.values())
        return ends


def _tokens(
    specs: dict[str, tuple[list[str], list[str] | None]],
) -> tuple[dict[str, str], tuple[ApiToken, ...]]:
    secrets, tokens = {}, []
    for name, (scopes, sites) in specs.items():
        secret, token = make_token(name, scopes, sites)
        secrets[name] = secret
        tokens.append(token)
    return secrets, tuple(tokens)


@asynccontextmanager
async def start_deployment(
    pg_dsn: str, feed_capacity: int = 100_000, retention: RetentionPolicy = DEFAULT_RETENTION
) -> AsyncIterator[Deployment]:
    tag = uuid.uuid4().hex[:8]
    with test_broker() as broker:
        kafka = KafkaSettings(broker.bootstrap_servers)
        central_secrets, central_tokens = _tokens(
            {
                "reader": (["read"], None),
                "operator": (["read", "operate"], None),
                "admin": (["read", "operate", "admin"], None),
                "paris-operator": (["read", "operate"], ["paris"]),
                "limited-admin": (["read", "operate", "admin"], ["paris"]),
            }
        )
        paris_secrets, paris_tokens = _tokens(
            {
                "paris-reader": (["read"], None),
                "paris-local": (["read", "operate"], None),
                "paris-admin": (["read", "operate", "admin"], None),
            }
        )
        central = Node(
            NodeConfig(
                name="central-1",
                role=NodeRole.CENTRAL,
                site="central",
                dsn=pg_dsn,
                schema=f"api_c_{tag}",
                listen="127.0.0.1:0",
                sites={s: kafka for s in SITES},
                tokens=central_tokens,
                retention=retention,
                # One default observer lease at start, none during the tests.
                lease_request_period=3600.0,
            )
        )
        paris = Node(
            NodeConfig(
                name="paris-1",
                role=NodeRole.REMOTE,
                site="paris",
                dsn=pg_dsn,
                schema=f"api_p_{tag}",
                listen="127.0.0.1:0",
                sites={s: kafka for s in ("central", "paris")},
                tokens=paris_tokens,
                retention=retention,
            )
        )
        async with AsyncExitStack() as stack:
            for node in (central, paris):
                await stack.enter_async_context(node)
            central_api = await stack.enter_async_context(
                NodeServer(central, feed_capacity=feed_capacity)
            )
            paris_api = await stack.enter_async_context(
                NodeServer(paris, feed_capacity=feed_capacity)
            )
            d = Deployment(
                kafka,
                central,
                paris,
                {"central": central_api.url, "paris": paris_api.url},
                {**central_secrets, **paris_secrets},
            )
            for site in HOSTS:
                d.writers[site] = await stack.enter_async_context(SiteLogWriter(site, kafka))
            await _configure(d)
            await d.produce_results(0)
            await d.wait_projected()
            # Central initialised: the default pools and the default observer's first lease.
            assert await central.projector.wait_until(
                lambda: (
                    len(pool_names(central.projector.state)) == len(DEFAULT_POOLS)
                    and all(
                        (p, DEFAULT_OBSERVER) in central.projector.state.rows(POOL_LEASES)
                        for p in DEFAULT_POOLS
                    )
                ),
                30,
            )
            await d.wait_projected()
            yield d


async def _configure(d: Deployment) -> None:
    payloads: list[Any] = [SiteDefined(site_name=s) for s in SITES]
    for site in HOSTS:
        for host in host_names(site):
            payloads.append(HostDefined(host_name=host, site_name=site, groups=groups_of(host)))
            payloads += [
                ServiceDefined(host_name=host, service_description=s, groups=(s,)) for s in SERVICES
            ]
    await d.central.write_path.configure_many(payloads)
