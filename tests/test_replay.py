"""``sitelog replay`` against a running remote node: verify, and time travel with --until.

Each test has its own broker (the central log is shared by name) and a paris remote
node running in this process; the replay tool runs as a real ``sitelog`` process on
the node's TOML file, as an administrator would run it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from engine import simulation
from engine.config import NodeConfig
from engine.embedded import EmbeddedBroker
from engine.kafka import KafkaSettings
from engine.node import Node
from engine.site_log import SiteLogWriter
from engine.site_log_reader import read_log_offsets
from projections.postgres import PostgresSink
from schemas.types import now_us
from tests.cli import sitelog

PARTITIONS = range(4)


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with EmbeddedBroker() as embedded:
        yield embedded.bootstrap_servers


def _config(bootstrap: str, dsn: str) -> NodeConfig:
    return NodeConfig(
        name="paris-1",
        role="remote",
        site="paris",
        dsn=dsn,
        schema=f"r_{uuid.uuid4().hex[:8]}",
        listen="127.0.0.1:0",
        sites={s: KafkaSettings(bootstrap, connect_timeout=5.0) for s in ("central", "paris")},
    )


def _toml(config: NodeConfig, path: Path) -> Path:
    bootstrap = config.sites["paris"].bootstrap_servers
    path.write_text(
        f'[node]\nname = "{config.name}"\nrole = "remote"\nsite = "paris"\n'
        f'[database]\ndsn = "{config.dsn}"\nschema = "{config.schema}"\n'
        f'[sites.central]\nbootstrap_servers = "{bootstrap}"\n'
        f'[sites.paris]\nbootstrap_servers = "{bootstrap}"\n'
    )
    return path


async def _append(bootstrap: str, count: int, *, start: int, seed: int) -> None:
    """Paris results and operator actions, plus lyon ones the paris node must not keep."""
    traffic = simulation.Traffic(
        sites=("paris", "lyon"), hosts_per_site=10, operator_rate=0.05, interval_us=10_000_000
    )
    events = list(simulation.events(count, traffic, seed=seed, start=start))
    async with SiteLogWriter("paris", KafkaSettings(bootstrap)) as writer:
        await writer.append_many(e for e in events if e.site == "paris")
    async with SiteLogWriter("central", KafkaSettings(bootstrap)) as writer:
        # lyon's results as if relayed through central: outside paris's subset.
        await writer.append_many(e for e in events if e.site == "lyon")


async def _projected(node: Node, bootstrap: str) -> None:
    for site in ("central", "paris"):
        offsets = await read_log_offsets(KafkaSettings(bootstrap), f"sitelog.{site}", PARTITIONS)
        for partition, bounds in offsets.items():
            if bounds.end:
                assert await node.projector.wait_for(site, partition, bounds.end - 1, 60)


@asynccontextmanager
async def _node(config: NodeConfig) -> AsyncIterator[Node]:
    async with Node(config) as node:
        yield node
    with psycopg.connect(config.dsn) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(config.schema))
        )


def _digest(dsn: str, schema: str) -> str:
    sink = PostgresSink.connect(dsn, schema)
    try:
        return sink.digest()
    finally:
        sink.close()


def test_verify_matches_a_healthy_projection_and_names_an_altered_subject(
    broker: str, pg_dsn: str, tmp_path: Path
) -> None:
    config = _config(broker, pg_dsn)
    toml = _toml(config, tmp_path / "node.toml")

    async def scenario() -> tuple[str, str]:
        await _append(broker, 600, start=now_us() - 3_600_000_000, seed=1)
        async with _node(config) as node:
            await _projected(node, broker)
            healthy = await asyncio.to_thread(sitelog, "replay", "--config", str(toml), "--verify")
            with psycopg.connect(config.dsn) as conn:
                host, service = conn.execute(
                    sql.SQL(
                        "SELECT host_name, service_description FROM {}.states "
                        "WHERE service_description <> '' ORDER BY 1, 2 LIMIT 1"
                    ).format(sql.Identifier(config.schema))
                ).fetchone() or ("", "")
                conn.execute(
                    sql.SQL(
                        "UPDATE {}.states SET output = 'tampered' "
                        "WHERE host_name = %s AND service_description = %s"
                    ).format(sql.Identifier(config.schema)),
                    (host, service),
                )
            altered = await asyncio.to_thread(sitelog, "replay", "--config", str(toml), "--verify")
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert "matches the logs" in healthy.stdout
        assert altered.returncode == 1, altered.stdout + altered.stderr
        return altered.stdout, f"{host}/{service} (states)"

    report, subject = asyncio.run(scenario())
    assert "differs from the logs" in report and "1 differing subjects" in report
    assert f"  {subject}" in report.splitlines()


def test_until_builds_the_state_the_live_node_had_at_that_instant(
    broker: str, pg_dsn: str, tmp_path: Path
) -> None:
    config = _config(broker, pg_dsn)
    toml = _toml(config, tmp_path / "node.toml")

    async def scenario() -> tuple[str, int]:
        await _append(broker, 400, start=now_us() - 3_600_000_000, seed=2)
        async with _node(config) as node:
            await _projected(node, broker)
            at_t = _digest(config.dsn, config.schema)
            instant = now_us()
            await _append(broker, 400, start=now_us() + 1_000_000, seed=3)
            await _projected(node, broker)
            assert _digest(config.dsn, config.schema) != at_t, "phase 2 changed nothing"
        return at_t, instant

    at_t, instant = asyncio.run(scenario())
    target = f"{config.schema}_then"
    done = sitelog(
        "replay", "--config", str(toml), "--until", str(instant), "--into", target, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"rebuilt {target}" in done.stderr
    assert _digest(pg_dsn, target) == at_t


def test_replay_refuses_the_live_schema_and_an_existing_target(
    broker: str, pg_dsn: str, tmp_path: Path
) -> None:
    config = _config(broker, pg_dsn)
    toml = _toml(config, tmp_path / "node.toml")
    live = sitelog("replay", "--config", str(toml), "--into", config.schema)
    assert live.returncode == 2 and "cannot go into the live schema" in live.stderr
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(f"{config.schema}_x")))
    taken = sitelog("replay", "--config", str(toml), "--into", f"{config.schema}_x")
    assert taken.returncode == 2 and "exists" in taken.stderr
    bad_time = sitelog("replay", "--config", str(toml), "--until", "yesterday")
    assert bad_time.returncode == 2 and "--until 'yesterday'" in bad_time.stderr
    assert "Traceback" not in live.stderr + taken.stderr + bad_time.stderr
