"""``sitelog demo``: a whole deployment on this machine, from the embedded services.

One broker per site (central, paris, lyon): Tansu, or Apache Kafka with ``--kafka apache``;
one PostgreSQL server with a database per node, a central node and two remote nodes, a
poller simulator per remote site producing check results with perfdata for a few hundred
hosts, and three pool member agents (management servers ms-1 to ms-3) renewing their
leases in the default pools central creates, and running the network devices of a
"Network" pool. Every node
serves its HTTP API; the demo makes a read token and an operate token (valid on every
node) and prints them with the URLs. Configuration (sites, pollers, hosts, services,
servers, pools) is authored on central and reaches the remote nodes by catch-up, as
in production.
Every few seconds it prints what each node holds, by site: central sees both remote
sites, each remote only its own. Ctrl-C stops everything, by pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from typing import TextIO

from engine.dev import EmbeddedPostgres
from engine.dev.brokers import BrokerKind, embedded_broker, start_all
from engine.dev.kafka_jars import KAFKA_VERSION
from engine.log.kafka import KafkaSettings
from engine.log.writer import SiteLogWriter
from engine.member.agent import MemberSettings, PoolMember
from engine.node.config import NodeConfig, NodeRole
from engine.node.node import Node
from engine.node.tokens import ApiToken, make_token
from engine.poller import simulation
from engine.web import NodeServer
from projections.postgres import PostgresSink
from projections.quorum import statuses
from schemas.configuration import HostDefined, PollerDefined, ServiceDefined, SiteDefined
from schemas.payload import Payload
from schemas.pools import PoolDefined, PoolMemberAdded, PoolTargetAssigned, ServerRegistered
from schemas.types import MICROS_PER_SECOND, ServerRole, TargetKind, now_us

REMOTES = ("paris", "lyon")
SITES = ("central", *REMOTES)
POOL = "Network"
MEMBERS = ("ms-1", "ms-2", "ms-3")
DEVICES = 12  # network devices the pool runs
LEASE_PERIOD = 5.0  # seconds between lease renewals


class Demo:
    def __init__(
        self,
        *,
        hosts_per_site: int = 150,
        services_per_host: int = 3,
        rate: float = 100.0,
        kafka: BrokerKind = BrokerKind.TANSU,
        out: TextIO = sys.stdout,
    ) -> None:
        self.traffic = simulation.Traffic(
            sites=REMOTES, hosts_per_site=hosts_per_site, services_per_host=services_per_host
        )
        self.rate = rate  # check results per second and site
        self.kafka = kafka
        self.out = out
        self.nodes: list[Node] = []
        self.apis: list[NodeServer] = []
        self.read_secret, read = make_token("demo-reader", ["read"])
        self.operate_secret, operate = make_token("demo-operator", ["read", "operate"])
        self.tokens: tuple[ApiToken, ...] = (read, operate)

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    async def run(self, duration: float | None, report_every: float, stop: asyncio.Event) -> None:
        started = time.monotonic()
        with ExitStack() as services:
            brokers = {site: embedded_broker(self.kafka) for site in SITES}
            for broker in brokers.values():
                services.callback(broker.stop)
            # Side by side: an Apache Kafka JVM takes seconds to start.
            await asyncio.to_thread(start_all, brokers.values())
            postgres = services.enter_context(EmbeddedPostgres())
            boot = {site: b.bootstrap_servers for site, b in brokers.items()}
            self.nodes = [self._node("central-1", NodeRole.CENTRAL, "central", postgres, boot)]
            self.nodes += [
                self._node(f"{s}-1", NodeRole.REMOTE, s, postgres, boot) for s in REMOTES
            ]
            self._describe(boot, postgres)
            tasks: list[asyncio.Task[None]] = []
            async with contextlib.AsyncExitStack() as running:
                for node in self.nodes:
                    await running.enter_async_context(node)
                for node in self.nodes:
                    self.apis.append(await running.enter_async_context(NodeServer(node)))
                self._describe_api()
                await self._configure()
                tasks = [asyncio.create_task(self._poller(site, boot[site])) for site in REMOTES]
                for member in MEMBERS:
                    await running.enter_async_context(self._member(member, boot["central"]))
                try:
                    await self._report(started, duration, report_every, stop)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        self.say("sitelog demo: stopped; brokers and PostgreSQL are gone")

    def _node(
        self, name: str, role: NodeRole, site: str, postgres: EmbeddedPostgres, boot: dict[str, str]
    ) -> Node:
        followed = SITES if role is NodeRole.CENTRAL else ("central", site)
        config = NodeConfig(
            name=name,
            role=role,
            site=site,
            dsn=postgres.create_database(f"node_{site}"),
            schema="sitelog",
            listen="127.0.0.1:0",
            sites={s: KafkaSettings(boot[s]) for s in followed},
            tokens=self.tokens,
            lease_request_period=LEASE_PERIOD,
            network_latency=LEASE_PERIOD / 10,
        )
        return Node(config, max_batch_events=5000)

    def _member(self, server: str, central_boot: str) -> PoolMember:
        return PoolMember(
            MemberSettings(
                server=server,
                kafka=KafkaSettings(central_boot),
                lease_request_period=LEASE_PERIOD,
                network_latency=LEASE_PERIOD / 10,
            )
        )

    def _describe(self, boot: dict[str, str], postgres: EmbeddedPostgres) -> None:
        self.say("sitelog demo: a whole deployment on this machine")
        kind = f"Apache Kafka {KAFKA_VERSION}" if self.kafka is BrokerKind.KAFKA else "Tansu"
        for site, address in boot.items():
            self.say(f"  broker {site:<8} {address}   (log sitelog.{site}, {kind})")
        self.say(f"  postgres        {postgres.dsn}")
        for node in self.nodes:
            c = node.config
            self.say(
                f"  node {c.name:<10} {c.role:<7} follows {', '.join(sorted(c.followed))};"
                f" database {c.dsn}"
            )
        t = self.traffic
        self.say(
            f"  pollers         {', '.join(REMOTES)}: {t.hosts_per_site} hosts x "
            f"{t.services_per_host} services each, {self.rate:g} results/s per site"
        )
        self.say(
            f"  pools           default pools and {POOL!r} ({DEVICES} network devices): "
            f"members {', '.join(MEMBERS)} renewing leases every {LEASE_PERIOD:g}s"
        )

    def _describe_api(self) -> None:
        for api in self.apis:
            self.say(f"  api {api.node.config.name:<11} {api.url}/api/v1/")
        for api in self.apis:
            self.say(
                f"  console {api.node.config.name:<7} {api.url}/  (sign in with a token below)"
            )
        self.say(f"  read token      {self.read_secret}")
        self.say(f"  operate token   {self.operate_secret}")
        central = self.apis[0].url
        self.say(
            f'  try: curl -H "Authorization: Bearer {self.read_secret}" '
            f"'{central}/api/v1/services?state=CRITICAL&limit=5'"
        )

    async def _configure(self) -> None:
        central = self.nodes[0].write_path
        await central.configure_many([SiteDefined(site_name=site) for site in SITES])
        services = simulation.SERVICES[: self.traffic.services_per_host]
        for site in REMOTES:
            definitions: list[Payload] = [
                PollerDefined(poller_name=f"poller-{site}", site_name=site)
            ]
            for host in simulation.host_names(self.traffic, site):
                definitions.append(
                    HostDefined(host_name=host, site_name=site, poller_name=f"poller-{site}")
                )
                definitions += [
                    ServiceDefined(host_name=host, service_description=service)
                    for service in services
                ]
            await central.configure_many(definitions)
        # The management servers join the automatic default pools; a manual pool of
        # their own runs network devices.
        await central.configure_many(
            [
                *(
                    ServerRegistered(server_name=m, role=ServerRole.MANAGEMENT_SERVER)
                    for m in MEMBERS
                ),
                PoolDefined(pool_name=POOL, description="network devices"),
                *(PoolMemberAdded(pool_name=POOL, server_name=m) for m in MEMBERS),
                *(
                    PoolTargetAssigned(
                        pool_name=POOL,
                        target_name=f"switch-{i:02d}",
                        kind=TargetKind.NETWORK_DEVICE,
                    )
                    for i in range(DEVICES)
                ),
            ]
        )

    async def _poller(self, site: str, bootstrap: str) -> None:
        traffic = simulation.Traffic(
            sites=(site,),
            hosts_per_site=self.traffic.hosts_per_site,
            services_per_host=self.traffic.services_per_host,
            interval_us=int(self._subjects() / self.rate * MICROS_PER_SECOND),
        )
        results = simulation.events(10**12, traffic, seed=hash(site) % 1000, start=now_us())
        async with SiteLogWriter(site, KafkaSettings(bootstrap)) as poller:
            while True:
                tick = time.monotonic()
                batch = [next(results) for _ in range(max(1, int(self.rate / 2)))]
                await poller.append_many(batch)
                await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - tick)))

    def _subjects(self) -> int:
        return self.traffic.hosts_per_site * (1 + self.traffic.services_per_host)

    def _holdings(self) -> dict[str, dict[str, tuple[int, int]]]:
        held = {}
        for node in self.nodes:
            sink = PostgresSink.connect(node.config.dsn, node.config.schema)
            try:
                held[node.config.name] = sink.subjects_by_site()
            finally:
                sink.close()
        return held

    def _ready(self, held: dict[str, dict[str, tuple[int, int]]]) -> bool:
        expected: dict[str, Callable[[str], bool]] = {
            "central-1": lambda s: s in REMOTES,
            **{f"{s}-1": (lambda own: lambda x: x == own)(s) for s in REMOTES},
        }
        return all(
            held[name]
            and set(filter(wanted, held[name])) == set(held[name])
            and all(wanted(s) is False or s in held[name] for s in REMOTES)
            for name, wanted in expected.items()
        )

    async def _report(
        self, started: float, duration: float | None, every: float, stop: asyncio.Event
    ) -> None:
        ready = False
        while not stop.is_set():
            held = await asyncio.to_thread(self._holdings)
            if not ready and self._ready(held):
                ready = True
                self.say(f"ready in {time.monotonic() - started:.1f}s")
            stamp = time.strftime("%H:%M:%S")
            for node in self.nodes:
                sites = " | ".join(
                    f"{s}: {h} hosts {v} services"
                    for s, (h, v) in sorted(held[node.config.name].items())
                )
                lags = [status.lag for status in node.status.values()]
                lag = "unknown" if None in lags else sum(x for x in lags if x is not None)
                self.say(f"[{stamp}] {node.config.name:<10} {sites or 'nothing yet'} | lag {lag}")
            for pool in statuses(self.nodes[0].projector.state, now_us()):
                runs = Counter(owner for owner in pool.owners.values() if owner)
                self.say(
                    f"[{stamp}] pool {pool.pool_name!r}: {pool.available_votes}/{pool.vote_count} "
                    f"votes up (quorum {pool.quorum})"
                    + (f" | {pool.reason}" if pool.reason else "")
                    + "".join(f" | {m} runs {n}" for m, n in sorted(runs.items()))
                )
            if duration is not None and time.monotonic() - started > duration:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
