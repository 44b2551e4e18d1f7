"""``sitelog replay`` against a running remote node: verify, and time travel with --until.

The module has a broker of its own (``tests.support.brokers``; the central log is shared
by name), each test a paris remote node running in this process; the replay tool runs as
a real ``sitelog`` process on the node's TOML file, as an administrator would run it.
Replaying up to an instant and from an offset or a time are the broker contract: they
run on both brokers, Tansu and Apache Kafka (``contract_kind``, ``contract_kafka``).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from io import BytesIO
from pathlib import Path

import psycopg
import pytest
from fastavro import schemaless_writer
from psycopg import sql

from engine.dev.brokers import BrokerKind
from engine.log.kafka import KafkaSettings
from engine.log.reader import read_log_offsets
from engine.log.writer import SiteLogWriter
from engine.node.config import NodeConfig, NodeRole
from engine.node.node import Node
from engine.poller import simulation
from engine.recovery.dead_letters import Retried, retry
from engine.recovery.replay import drop_schema
from projections.errors import ProjectionReplacedError
from projections.postgres import PostgresSink
from projections.retention import RetentionPolicy
from projections.rows import OffsetRow
from projections.state import Changes
from projections.tables import OFFSETS, PERFDATA_5M, PERFDATA_POINTS
from schemas.codec import MAGIC, Codec, event_to_record
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import ServiceCheckResult
from schemas.registry import SchemaRegistry, WriterSchema, load_current_schema
from schemas.types import ServiceState, StateType, now_us
from tests.support.brokers import test_broker
from tests.support.cli import sitelog
from tests.support.retention import KEEP_ALL, KEEP_ALL_TOML
from tests.support.scenarios import numbered_check

PARTITIONS = range(4)


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with test_broker() as embedded:
        yield embedded.bootstrap_servers


@pytest.fixture
def own_broker(contract_kind: BrokerKind) -> Iterator[str]:
    """A broker for one test alone, of each kind: for a test whose answer depends on every
    event in the logs (other tests' simulated results are dated up to a minute ahead of the
    clock)."""
    with test_broker(contract_kind) as embedded:
        yield embedded.bootstrap_servers


def _config(bootstrap: str, dsn: str) -> NodeConfig:
    return NodeConfig(
        name="paris-1",
        role=NodeRole.REMOTE,
        site="paris",
        dsn=dsn,
        schema=f"r_{uuid.uuid4().hex[:8]}",
        listen="127.0.0.1:0",
        sites={s: KafkaSettings(bootstrap, connect_timeout=5.0) for s in ("central", "paris")},
        retention=KEEP_ALL,  # the simulation's results are dated 2023
    )


def _toml(config: NodeConfig, path: Path, retention: str = KEEP_ALL_TOML) -> Path:
    bootstrap = config.sites["paris"].bootstrap_servers
    path.write_text(
        f'[node]\nname = "{config.name}"\nrole = "remote"\nsite = "paris"\n'
        f'[database]\ndsn = "{config.dsn}"\nschema = "{config.schema}"\n'
        f'[sites.central]\nbootstrap_servers = "{bootstrap}"\n'
        f'[sites.paris]\nbootstrap_servers = "{bootstrap}"\n' + retention
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
    with PostgresSink.connect(dsn, schema) as sink:
        return sink.digest(since=0)


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
    own_broker: str, pg_dsn: str, tmp_path: Path
) -> None:
    broker = own_broker
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


def _central(bootstrap: str, dsn: str) -> NodeConfig:
    return NodeConfig(
        name="central-1",
        role=NodeRole.CENTRAL,
        site="central",
        dsn=dsn,
        schema=f"c_{uuid.uuid4().hex[:8]}",
        listen="127.0.0.1:0",
        sites={s: KafkaSettings(bootstrap, connect_timeout=5.0) for s in ("central", "paris")},
        retention=KEEP_ALL,
    )


def _paris_digest(config: NodeConfig) -> str:
    with PostgresSink.connect(config.dsn, config.schema) as sink:
        return sink.digest(["paris"], since=0)


def test_a_lost_database_is_rebuilt_with_swap_and_agrees_with_central(
    broker: str, pg_dsn: str, tmp_path: Path
) -> None:
    paris, central = _config(broker, pg_dsn), _central(broker, pg_dsn)
    toml = _toml(paris, tmp_path / "node.toml")

    def marks() -> set[tuple[str, int, int, int | None, bytes | None]]:
        """Where the projection is in each partition, and the last event it consumed there."""
        with PostgresSink.connect(paris.dsn, paris.schema) as sink:
            return {
                (r.site, r.partition, r.next_offset, r.last_event_offset, r.last_event_id)
                for r in sink.load_offset_rows()
            }

    async def scenario() -> tuple[str, str, str]:
        await _append(broker, 800, start=now_us() - 3_600_000_000, seed=4)
        async with _node(central) as central_node:
            async with Node(paris) as paris_node:
                await _projected(paris_node, broker)
            before, marked = _paris_digest(paris), marks()
            drop_schema(paris.dsn, paris.schema)  # the remote server's database is lost
            done = await asyncio.to_thread(
                sitelog, "replay", "--config", str(toml), "--swap", timeout=120
            )
            assert done.returncode == 0, done.stderr
            # The rebuild names the last event of each partition as the node did, so the
            # node checks the log it resumes on (engine.log.identity). (Central's log has
            # moved on meanwhile: the central node renews its pool leases.)
            rebuilt_marks = marks()
            assert {m for m in rebuilt_marks if m[0] == "paris"} == {
                m for m in marked if m[0] == "paris"
            }
            assert all(m[3] == m[2] - 1 and m[4] is not None for m in rebuilt_marks if m[2])
            async with _node(paris) as paris_node:
                await _projected(paris_node, broker)
                await _projected(central_node, broker)
                return before, _paris_digest(paris), _paris_digest(central)

    before, rebuilt, at_central = asyncio.run(scenario())
    assert rebuilt == at_central == before


def test_swap_under_a_running_node_repairs_it_and_the_node_carries_on(
    broker: str, pg_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paris, central = _config(broker, pg_dsn), _central(broker, pg_dsn)
    toml = _toml(paris, tmp_path / "node.toml")

    async def scenario() -> tuple[str, str]:
        await _append(broker, 500, start=now_us() - 3_600_000_000, seed=5)
        async with _node(central) as central_node, _node(paris) as paris_node:
            await _projected(paris_node, broker)
            with psycopg.connect(paris.dsn) as conn:  # a projection damaged behind its node
                conn.execute(
                    sql.SQL("DELETE FROM {}.states WHERE host_name LIKE 'paris-host-000%%'").format(
                        sql.Identifier(paris.schema)
                    )
                )
            done = await asyncio.to_thread(
                sitelog, "replay", "--config", str(toml), "--swap", timeout=120
            )
            assert done.returncode == 0, done.stderr
            assert "replaced the live projection" in done.stderr
            # New results after the swap: the node's next write finds the projection
            # replaced, loads it back and goes on from the rebuilt offsets.
            await _append(broker, 300, start=now_us(), seed=6)
            await _projected(paris_node, broker)
            await _projected(central_node, broker)
            return _paris_digest(paris), _paris_digest(central)

    with caplog.at_level(logging.WARNING, logger="engine.node.projector"):
        repaired, at_central = asyncio.run(scenario())
    assert repaired == at_central
    assert any("was replaced: loading it back" in r.getMessage() for r in caplog.records)


def test_a_write_after_a_replacement_is_refused_whole(pg_dsn: str) -> None:
    live, source = f"w_{uuid.uuid4().hex[:8]}", f"w_{uuid.uuid4().hex[:8]}"
    writer, other = PostgresSink.connect(pg_dsn, live), PostgresSink.connect(pg_dsn, source)
    try:
        writer.create_tables()
        other.create_tables()
        assert writer.load_generation() == 0
        changes = Changes()
        changes.put(OFFSETS, ("paris", 0), OffsetRow("paris", 0, 7, None))
        writer.write(changes)
        replacer = PostgresSink.connect(pg_dsn, live)
        assert replacer.replace_with(source) == 1
        replacer.close()
        with pytest.raises(ProjectionReplacedError):
            writer.write(changes)
        assert writer.load_offsets() == {}  # the source's (empty) offsets, nothing refused
        assert writer.load_generation() == 1
        writer.write(changes)
        assert writer.load_offsets() == {"paris": {0: 7}}
    finally:
        writer.close()
        other.close()
        drop_schema(pg_dsn, live)
        drop_schema(pg_dsn, source)


def _future_schema() -> WriterSchema:
    """The current schema as a newer sitelog might write it: one more field, with a default."""
    schema = copy.deepcopy(load_current_schema())
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    result = next(
        b for b in payload["type"] if isinstance(b, dict) and b["name"] == "ServiceCheckResult"
    )
    result["fields"].append({"name": "check_source", "type": "string", "default": ""})
    return WriterSchema.from_json(schema)


def _future_record(future: WriterSchema) -> tuple[bytes, bytes]:
    payload = ServiceCheckResult(
        host_name="paris-future",
        service_description="HTTP",
        state=ServiceState.CRITICAL,
        state_type=StateType.HARD,
        attempt=1,
        max_attempts=1,
        output="written by a newer sitelog",
        check_time=now_us(),
    )
    event = Event.create(payload, site="paris", origin="poller-next", clock=HybridLogicalClock())
    record = event_to_record(event)
    record["payload"][1]["check_source"] = "agent"
    body = BytesIO()
    schemaless_writer(body, future.parsed, record)
    return event.key.encode(), MAGIC + future.fingerprint + body.getvalue()


def test_dead_letters_are_listed_and_an_upgrade_reprocesses_them_under_a_running_node(
    broker: str, pg_dsn: str, tmp_path: Path
) -> None:
    paris = _config(broker, pg_dsn)
    toml = _toml(paris, tmp_path / "node.toml")
    future = _future_schema()

    async def scenario() -> tuple[str, int, Retried, str]:
        await _append(broker, 200, start=now_us() - 3_600_000_000, seed=7)
        async with SiteLogWriter("paris", KafkaSettings(broker)) as writer:
            key, value = _future_record(future)
            await writer.acknowledged([await writer.send_raw(key, value)])
            await writer.acknowledged([await writer.send_raw(b"paris-x", b"not avro at all")])
        async with _node(paris) as node:
            await _projected(node, broker)
            listed = await asyncio.to_thread(sitelog, "dead-letters", "--config", str(toml))
            upgraded = Codec(SchemaRegistry.default())
            upgraded.registry.register(future)
            result = await asyncio.to_thread(
                retry, paris.dsn, paris.schema, codec=upgraded, accept=None
            )
            await _append(broker, 100, start=now_us(), seed=8)  # the node carries on
            await _projected(node, broker)
            with psycopg.connect(paris.dsn) as conn:
                row = conn.execute(
                    sql.SQL("SELECT output FROM {}.states WHERE host_name = 'paris-future'").format(
                        sql.Identifier(paris.schema)
                    )
                ).fetchone()
            left = await asyncio.to_thread(sitelog, "dead-letters", "--config", str(toml))
        return listed.stdout, listed.returncode, result, f"{row[0] if row else None}|{left.stdout}"

    listed, status, result, after = asyncio.run(scenario())
    assert status == 1 and "2 dead letters" in listed
    assert "unknown-fingerprint" in listed and "bad-magic" in listed
    assert len(result.reprocessed) == 1 and result.reprocessed[0].reason == "unknown-fingerprint"
    assert [letter.reason for letter, _ in result.still_dead] == ["bad-magic"]
    output, left = after.split("|", 1)
    assert output == "written by a newer sitelog"
    assert "1 dead letters" in left and "bad-magic" in left


def test_from_an_offset_or_a_time_keeps_only_what_follows(
    contract_kind: BrokerKind, contract_kafka: KafkaSettings, pg_dsn: str, tmp_path: Path
) -> None:
    # The session broker of each kind: whatever else is in its logs comes before the
    # offset and the time asked for.
    broker = contract_kafka.bootstrap_servers
    config = _config(broker, pg_dsn)
    toml = _toml(config, tmp_path / "node.toml")
    asyncio.run(_append(broker, 300, start=now_us() - 3_600_000_000, seed=9))

    def states(schema: str) -> int:
        with psycopg.connect(pg_dsn) as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.states").format(sql.Identifier(schema))
            ).fetchone()
        return int(row[0]) if row else -1

    everything = sitelog("replay", "--config", str(toml), "--into", f"{config.schema}_all")
    beyond = sitelog(
        "replay", "--config", str(toml), "--from", "1000000", "--into", f"{config.schema}_o"
    )
    future = sitelog(
        "replay",
        "--config",
        str(toml),
        "--from",
        "2100-01-01T00:00:00Z",
        "--into",
        f"{config.schema}_t",
    )
    for done in (everything, beyond, future):
        assert done.returncode == 0, done.stderr
    assert states(f"{config.schema}_all") > 0
    assert "from 0 records" in beyond.stderr and states(f"{config.schema}_o") == 0
    assert states(f"{config.schema}_t") == 0
    # Apache Kafka answers offsets_for_times truly: the replay starts past the log's end.
    # Tansu does not: the replay reads the logs from their start and keeps none of it.
    seeks = contract_kind is BrokerKind.KAFKA
    assert ("from 0 records" in future.stderr) is seeks, future.stderr


def test_an_unreachable_database_is_one_line_and_exit_2(broker: str, tmp_path: Path) -> None:
    config = _config(broker, "postgresql://nobody@127.0.0.1:1/lost")
    toml = _toml(config, tmp_path / "node.toml")
    for command in (("replay", "--verify"), ("dead-letters",)):
        done = sitelog(command[0], "--config", str(toml), *command[1:])
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            done.stderr.strip().splitlines()[0]
        ] and done.stderr.startswith("sitelog: error: PostgreSQL at 127.0.0.1:1/lost:")


DAY = 86_400_000_000


def test_a_rebuild_keeps_each_table_within_its_window_and_says_so(
    broker: str, pg_dsn: str, tmp_path: Path
) -> None:
    # A result every 6 hours for 20 days; raw points kept 8 days, the 5-minute tier 10.
    policy = RetentionPolicy(points=8 * DAY, tier_5m=10 * DAY)
    config = dataclasses.replace(_config(broker, pg_dsn), retention=policy)
    toml = _toml(config, tmp_path / "node.toml", '[retention]\npoints = "8d"\ntier_5m = "10d"\n')
    now = now_us()
    host = f"kept-{uuid.uuid4().hex[:6]}"
    checks = [now - 20 * DAY + i * DAY // 4 for i in range(80)]
    events = [numbered_check(host, i, _clock_at(at), "paris", at) for i, at in enumerate(checks)]

    async def scenario() -> str:
        async with SiteLogWriter("paris", KafkaSettings(broker)) as writer:
            await writer.append_many(events)
        async with _node(config) as node:
            await _projected(node, broker)
            verified = await asyncio.to_thread(sitelog, "replay", "--config", str(toml), "--verify")
            assert verified.returncode == 0, verified.stdout + verified.stderr
            return verified.stderr

    said = asyncio.run(scenario())
    assert "perfdata_points: rebuilt from" in said and "(retention 8d)" in said
    target = f"{config.schema}_kept"
    done = sitelog("replay", "--config", str(toml), "--into", target, timeout=120)
    assert done.returncode == 0, done.stderr
    points_from = policy.kept_from(PERFDATA_POINTS, now)
    tier_from = policy.kept_from(PERFDATA_5M, now)
    assert points_from is not None and tier_from is not None
    try:
        with psycopg.connect(pg_dsn) as conn:
            rows = {
                table: conn.execute(
                    sql.SQL(
                        "SELECT min({t}), count(*) FROM {s}.{n} JOIN {s}.perfdata_metrics m"
                        " USING (metric_id) WHERE m.host_name = %s"
                    ).format(
                        t=sql.Identifier(time),
                        s=sql.Identifier(target),
                        n=sql.Identifier(table),
                    ),
                    (host,),
                ).fetchone()
                for table, time in (
                    ("perfdata_points", "check_time"),
                    ("perfdata_5m", "bucket_start"),
                    ("perfdata_1h", "bucket_start"),
                )
            }
    finally:
        drop_schema(pg_dsn, target)
    # Raw points and the 5-minute tier from their horizons on; the hourly tier has the
    # buckets of the points kept (an older point is kept nowhere, as in the live sink).
    assert rows["perfdata_points"] == (
        min(t for t in checks if t >= points_from),
        len([t for t in checks if t >= points_from]),
    )
    kept = [t for t in checks if t >= points_from]
    fives, hours = rows["perfdata_5m"], rows["perfdata_1h"]
    assert fives is not None and hours is not None
    assert fives[1] == len([t for t in kept if t - t % 300_000_000 >= tier_from])
    assert hours[1] == len(kept)
    # Back to 15 days ago: no raw point then, and the command says so.
    past = sitelog(
        "replay", "--config", str(toml), "--until", str(now - 15 * DAY), "--into", target
    )
    drop_schema(pg_dsn, target)
    assert past.returncode == 0, past.stderr
    assert "perfdata_points: nothing before --until" in past.stderr
    assert "perfdata_1h: rebuilt from" in past.stderr


def _clock_at(instant: int) -> HybridLogicalClock:
    """A clock whose wall reads ``instant``: the result is stamped when it was checked."""
    return HybridLogicalClock(wall_ms=lambda: instant // 1000)
