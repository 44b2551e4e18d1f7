"""A network partition between central and paris is just lag: both sides keep working, and
after the link returns both nodes agree on paris, equal to a clean replay of both logs.

Each test has two brokers of its own (``tests.support.brokers``, started side by side).
The partition and its catch-up are the broker contract: that test runs on both Tansu and
Apache Kafka; the killed remote node runs on the switch's broker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from engine.dev import EmbeddedPostgres
from engine.dev.brokers import BrokerKind, start_all
from engine.dev.process import free_port
from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader, read_log_offsets
from engine.log.writer import SiteLogWriter
from engine.node.config import NodeConfig, NodeRole
from engine.node.node import Node
from engine.node.tokens import make_token
from engine.poller import simulation
from projections.errors import DatabaseError
from projections.model import InMemoryProjection
from projections.postgres import PostgresSink
from schemas.configuration import HostDefined
from schemas.event import Event
from schemas.types import now_us
from tests.support.brokers import CONTRACT_BROKERS, test_broker
from tests.support.kafka_proxy import KafkaProxy
from tests.support.retention import KEEP_ALL, KEEP_ALL_TOML

SITELOG = str(Path(sys.executable).with_name("sitelog"))
HOSTS = [f"paris-host-{i:04d}" for i in range(10)]
PARTITIONS = [0, 1, 2, 3]


def database(server: EmbeddedPostgres | str, name: str) -> str:
    """A database of its own when the server is ours; the given one (schemas differ) if not."""
    return server if isinstance(server, str) else server.create_database(name)


def node_config(
    name: str, role: NodeRole, site: str, dsn: str, sites: dict[str, str]
) -> NodeConfig:
    return NodeConfig(
        name=name,
        role=role,
        site=site,
        dsn=dsn,
        schema=f"s_{uuid.uuid4().hex[:8]}",
        listen="127.0.0.1:0",
        sites={s: KafkaSettings(b, connect_timeout=3.0) for s, b in sites.items()},
        retention=KEEP_ALL,  # the simulation's results are dated 2023
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


@dataclass
class Deployment:
    """Two sites on two brokers; each side reaches the other's broker through a proxy."""

    central_boot: str
    paris_boot: str
    to_paris: KafkaProxy
    to_central: KafkaProxy
    central: Node
    paris: NodeConfig


@contextmanager
def deployment(
    postgres_server: EmbeddedPostgres | str, kind: BrokerKind | None = None
) -> Iterator[Deployment]:
    """Central's and paris's brokers (of ``kind``, default the switch's), each side's proxy
    to the other's, and the nodes' configurations."""
    tag = uuid.uuid4().hex[:6]
    central_broker, paris_broker = test_broker(kind), test_broker(kind)
    with ExitStack() as stack:
        stack.callback(paris_broker.stop)
        stack.callback(central_broker.stop)
        start_all([central_broker, paris_broker])  # a JVM takes seconds: start both at once
        c_boot, p_boot = central_broker.bootstrap_servers, paris_broker.bootstrap_servers
        to_paris = stack.enter_context(KafkaProxy(p_boot))
        to_central = stack.enter_context(KafkaProxy(c_boot))
        central = node_config(
            "central-1",
            NodeRole.CENTRAL,
            "central",
            database(postgres_server, f"central_{tag}"),
            {"central": c_boot, "paris": to_paris.address},
        )
        paris = node_config(
            "paris-1",
            NodeRole.REMOTE,
            "paris",
            database(postgres_server, f"paris_{tag}"),
            {"central": to_central.address, "paris": p_boot},
        )
        yield Deployment(c_boot, p_boot, to_paris, to_central, Node(central), paris)


def clean_paris_digest(d: Deployment) -> str:
    """The paris digest of a clean replay of both logs."""
    clean = InMemoryProjection()
    clean.apply_batch(asyncio.run(read_log(d.central_boot, "central")))
    clean.apply_batch(asyncio.run(read_log(d.paris_boot, "paris")))
    return clean.digest({"paris"}, since=0)


def paris_digests(*configs: NodeConfig) -> list[str]:
    digests = []
    for config in configs:
        sink = PostgresSink.connect(config.dsn, config.schema)
        try:
            digests.append(sink.digest({"paris"}, since=0))
        finally:
            sink.close()
    return digests


@pytest.mark.parametrize("kind", CONTRACT_BROKERS)
def test_partition_is_lag_and_recovery_is_catch_up(
    postgres_server: EmbeddedPostgres | str, kind: BrokerKind
) -> None:
    with deployment(postgres_server, kind) as d:
        c_boot, p_boot, to_paris, to_central = (
            d.central_boot,
            d.paris_boot,
            d.to_paris,
            d.to_central,
        )
        central, paris = d.central, Node(d.paris)
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
                await wp_paris.command("acknowledge", host=HOSTS[1], author="paris-op", sticky=True)
                await wp_paris.command(
                    "schedule-downtime",
                    host=HOSTS[2],
                    author="paris-op",
                    start_time=start,
                    end_time=start + 3_600_000_000,
                )
                await wp_paris.command(
                    "add-comment", host=HOSTS[3], author="paris-op", text="disk replaced"
                )
                await wp_central.command(
                    "acknowledge", host=HOSTS[1], author="central-op", comment="mine"
                )
                await wp_central.command(
                    "schedule-downtime",
                    host=HOSTS[1],
                    service="Load",
                    author="central-op",
                    start_time=start,
                    end_time=start + 60_000_000,
                )
                await wp_central.command(
                    "remove-acknowledgement", host=HOSTS[2], author="central-op"
                )
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

        clean = clean_paris_digest(d)
    assert paris_digests(central.config, paris.config) == [clean] * 2


def write_config(path: Path, config: NodeConfig, api: str = "", token: str = "") -> None:
    """The node's TOML file; ``api``/``token``: its API's listen address and one token."""
    sites = "".join(
        f'[sites.{name}]\nbootstrap_servers = "{settings.bootstrap_servers}"\n'
        f"connect_timeout = {settings.connect_timeout}\n\n"
        for name, settings in config.sites.items()
    )
    path.write_text(
        f'[node]\nname = "{config.name}"\nrole = "{config.role}"\nsite = "{config.site}"\n\n'
        f'[database]\ndsn = "{config.dsn}"\nschema = "{config.schema}"\n\n{sites}'
        + KEEP_ALL_TOML
        + (f'[api]\nlisten = "{api}"\n\n' if api else "")
        + token
    )


def committed(config: NodeConfig) -> dict[str, dict[int, int]]:
    sink = PostgresSink.connect(config.dsn, config.schema)
    try:
        return sink.load_offsets()
    except DatabaseError as exc:  # not created yet
        if "does not exist" not in str(exc):
            raise
        return {}
    finally:
        sink.close()


def wait_committed(config: NodeConfig, ends: dict[str, dict[int, int]], bound: float) -> None:
    deadline = time.monotonic() + bound
    while True:
        stored = committed(config)
        if all(
            stored.get(site, {}).get(p, 0) >= end
            for site, parts in ends.items()
            for p, end in parts.items()
        ):
            return
        assert time.monotonic() < deadline, f"{config.name} stored {stored}, expected {ends}"
        time.sleep(0.1)


def test_a_remote_node_killed_during_the_partition_recovers_the_same(
    postgres_server: EmbeddedPostgres | str, tmp_path: Path
) -> None:
    with deployment(postgres_server) as d:
        c_boot, p_boot, to_paris, to_central = (
            d.central_boot,
            d.paris_boot,
            d.to_paris,
            d.to_central,
        )
        central, remote = d.central, d.paris
        config_file = tmp_path / "paris.toml"
        api = f"127.0.0.1:{free_port()}"
        secret, token = make_token("paris-op", ["read", "operate"])
        write_config(
            config_file,
            remote,
            api,
            f'[api.tokens."paris-op"]\nsha256 = "{token.sha256}"\nscopes = ["read", "operate"]\n',
        )
        command = [SITELOG, "node", "--config", str(config_file), "--status-every", "0"]
        traffic = simulation.Traffic(sites=("paris",), hosts_per_site=len(HOSTS))
        results = list(simulation.events(5000, traffic, seed=4))
        children: list[subprocess.Popen[bytes]] = []

        def start_remote() -> None:
            children.append(
                subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
            )

        async def ends_now() -> dict[str, dict[int, int]]:
            return {
                "central": await log_ends(c_boot, "central"),
                "paris": await log_ends(p_boot, "paris"),
            }

        async def phase_one() -> dict[str, dict[int, int]]:
            async with SiteLogWriter("paris", KafkaSettings(p_boot)) as poller:
                for host in HOSTS:
                    await central.write_path.configure(
                        HostDefined(host_name=host, site_name="paris")
                    )
                await poller.append_many(results[:2000])
            return await ends_now()

        async def during_cut() -> dict[str, dict[int, int]]:
            async with (
                SiteLogWriter("paris", KafkaSettings(p_boot)) as poller,
                aiohttp.ClientSession(
                    f"http://{api}", headers={"Authorization": f"Bearer {secret}"}
                ) as operator,
            ):
                start = now_us()
                await poller.append_many(results[2000:3500])
                # Paris operators act through their node's API, cut off from central; their
                # writes are projected by their own node at once (read-your-writes).
                for command, body in [
                    ("acknowledge", {"host": HOSTS[1], "sticky": True}),
                    (
                        "schedule-downtime",
                        {"host": HOSTS[2], "start_time": start, "end_time": start + 3_600_000_000},
                    ),
                ]:
                    async with operator.post(
                        f"/api/v1/commands/{command}", json=body, params={"wait": "projected"}
                    ) as response:
                        answer = await response.json()
                        assert response.status == 202, answer
                        assert answer["projected"] is True
                await central.write_path.command("acknowledge", host=HOSTS[1], author="central-op")
                await central.write_path.command(
                    "add-comment", host=HOSTS[2], author="central-op", text="hi"
                )
                await poller.append_many(results[3500:])
            return await ends_now()

        try:
            start_remote()
            loop = asyncio.new_event_loop()
            loop.run_until_complete(central.start())
            try:
                ends = loop.run_until_complete(phase_one())
                loop.run_until_complete(wait_projected(central, ends, 60))
                wait_committed(remote, ends, 60)

                to_paris.cut()
                to_central.cut()
                ends = loop.run_until_complete(during_cut())
                os.killpg(children[-1].pid, signal.SIGKILL)  # killed during the cut
                children[-1].wait(timeout=30)
                start_remote()
                # Cut off from central, the restarted node still projects its own site.
                wait_committed(remote, {"paris": ends["paris"]}, 60)

                to_paris.restore()
                to_central.restore()
                restored = time.monotonic()
                loop.run_until_complete(wait_projected(central, ends, 120))
                wait_committed(remote, ends, 120)
                print(
                    f"catch-up after the partition and a killed remote: "
                    f"{time.monotonic() - restored:.2f}s"
                )
            finally:
                loop.run_until_complete(central.stop())
                loop.close()
        finally:
            for child in children:
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGTERM)
                    child.wait(timeout=30)

        clean = clean_paris_digest(d)
    assert paris_digests(central.config, remote) == [clean] * 2
