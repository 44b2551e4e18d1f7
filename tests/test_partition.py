"""A network partition between central and paris is just lag: both sides keep working, and
after the link returns both nodes agree on paris, equal to a clean replay of both logs."""

from __future__ import annotations

import asyncio
import time
import uuid

from engine import simulation
from engine.config import NodeConfig
from engine.embedded import EmbeddedBroker, EmbeddedPostgres
from engine.kafka import KafkaSettings
from engine.node import Node
from engine.site_log import SiteLogWriter
from engine.site_log_reader import SiteLogReader, read_log_offsets
from projections.model import InMemoryProjection
from projections.postgres import PostgresSink
from schemas.configuration import HostDefined
from schemas.event import Event
from schemas.types import now_us
from tests.kafka_proxy import KafkaProxy

HOSTS = [f"paris-host-{i:04d}" for i in range(10)]
PARTITIONS = [0, 1, 2, 3]


def database(server: EmbeddedPostgres | str, name: str) -> str:
    """A database of its own when the server is ours; the given one (schemas differ) if not."""
    return server if isinstance(server, str) else server.create_database(name)


def node_config(name: str, role: str, site: str, dsn: str, sites: dict[str, str]) -> NodeConfig:
    return NodeConfig(
        name=name,
        role=role,
        site=site,
        dsn=dsn,
        schema=f"s_{uuid.uuid4().hex[:8]}",
        listen="127.0.0.1:0",
        sites={s: KafkaSettings(b, connect_timeout=3.0) for s, b in sites.items()},
    )


async def log_ends(bootstrap: str, site: str) -> dict[int, int]:
    offsets = await read_log_offsets(KafkaSettings(bootstrap), f"sitelog.{site}", PARTITIONS)
    return {p: o.end for p, o in offsets.items()}


async def wait_projected(node: Node, ends: dict[str, dict[int, int]], bound: float) -> None:
    for site, partitions in ends.items():
        for partition, end in partitions.items():
            if end:
                assert await node.projector.wait_for(site, partition, end - 1, bound), (
                    f"{node.config.name} did not project {site}/{partition} up to {end}"
                )


async def read_log(bootstrap: str, site: str) -> list[Event]:
    ends = await log_ends(bootstrap, site)
    events: list[Event] = []
    async with SiteLogReader(site, KafkaSettings(bootstrap)) as reader:
        await reader.assign()
        while reader.positions != ends:
            for batch in await reader.read(timeout=0.5):
                events.extend(e for _, e in batch.events)
    return events


def test_partition_is_lag_and_recovery_is_catch_up(postgres_server: EmbeddedPostgres | str) -> None:
    tag = uuid.uuid4().hex[:6]
    with (
        EmbeddedBroker() as central_broker,
        EmbeddedBroker() as paris_broker,
        KafkaProxy(paris_broker.bootstrap_servers) as to_paris,
        KafkaProxy(central_broker.bootstrap_servers) as to_central,
    ):
        c_boot, p_boot = central_broker.bootstrap_servers, paris_broker.bootstrap_servers
        central = Node(
            node_config(
                "central-1",
                "central",
                "central",
                database(postgres_server, f"central_{tag}"),
                {"central": c_boot, "paris": to_paris.address},
            )
        )
        paris = Node(
            node_config(
                "paris-1",
                "remote",
                "paris",
                database(postgres_server, f"paris_{tag}"),
                {"central": to_central.address, "paris": p_boot},
            )
        )
        traffic = simulation.Traffic(sites=("paris",), hosts_per_site=len(HOSTS))

        async def scenario() -> float:
            async with central, paris, SiteLogWriter("paris", KafkaSettings(p_boot)) as poller:
                for host in HOSTS:
                    await central.write_path.configure(
                        HostDefined(host_name=host, site_name="paris")
                    )
                results = list(simulation.events(5000, traffic, seed=3))
                await poller.append_many(results[:2000])
                ends = {
                    "central": await log_ends(c_boot, "central"),
                    "paris": await log_ends(p_boot, "paris"),
                }
                await wait_projected(central, ends, 60)
                await wait_projected(paris, ends, 60)

                to_paris.cut()
                to_central.cut()
                await poller.append_many(results[2000:])  # the site keeps monitoring
                start = now_us()
                wp_paris, wp_central = paris.write_path, central.write_path
                await wp_paris.acknowledge(HOSTS[1], author="paris-op", sticky=True)
                await wp_paris.schedule_downtime(
                    HOSTS[2], author="paris-op", start_time=start, end_time=start + 3_600_000_000
                )
                await wp_paris.add_comment(HOSTS[3], author="paris-op", text="disk replaced")
                await wp_central.acknowledge(HOSTS[1], author="central-op", comment="mine")
                await wp_central.schedule_downtime(
                    HOSTS[1],
                    "Load",
                    author="central-op",
                    start_time=start,
                    end_time=start + 60_000_000,
                )
                await wp_central.remove_acknowledgement(HOSTS[2], author="central-op")
                deadline = time.monotonic() + 30
                while central.status["paris"].state != "disconnected":
                    assert time.monotonic() < deadline, "central never noticed the cut"
                    await asyncio.sleep(0.1)
                assert paris.status["paris"].state == "running"  # its own site is fine

                to_paris.restore()
                to_central.restore()
                restored = time.monotonic()
                ends = {
                    "central": await log_ends(c_boot, "central"),
                    "paris": await log_ends(p_boot, "paris"),
                }
                await wait_projected(central, ends, 120)
                await wait_projected(paris, ends, 120)
                return time.monotonic() - restored

        catch_up = asyncio.run(scenario())
        print(f"catch-up after the partition: {catch_up:.2f}s")

        clean = InMemoryProjection()
        clean.apply_batch(asyncio.run(read_log(c_boot, "central")))
        clean.apply_batch(asyncio.run(read_log(p_boot, "paris")))
    digests = []
    for node in (central, paris):
        sink = PostgresSink.connect(node.config.dsn, node.config.schema)
        try:
            digests.append(sink.digest({"paris"}))
        finally:
            sink.close()
    assert digests == [clean.digest({"paris"})] * 2
