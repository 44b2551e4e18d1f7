"""A node's PostgreSQL stopped under load, then started again: seen, waited out, recovered.

A real ``sitelog node`` process (central, following two sites) projects what a poller
simulator writes while a test operator acknowledges and comments through the node's
API. The node's own PostgreSQL (embedded, its data directory kept) is stopped by its
pid in the middle. Meanwhile ``/healthz`` must answer 503 naming the database,
``/metrics`` must say ``sitelog_database_up 0``, reads must answer 503
``database-unavailable`` in one line, and commands must still be appended (the write
path needs the log, not the database). Once PostgreSQL is back the node resumes by
itself; when the load stops and the node caught up, ``sitelog replay --verify`` must
find the live projection equal to a clean rebuild from the logs (so no history or audit
row was lost or doubled), and every accepted command must be in the audit trail once.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg import sql

from engine.dev import EmbeddedPostgres
from engine.dev.brokers import EmbeddedKafka
from engine.dev.process import free_port
from engine.log.kafka import KafkaSettings
from engine.log.writer import SiteLogWriter
from engine.node.projector import Projector
from engine.node.site_status import DatabaseState
from engine.node.tokens import make_token
from engine.poller import simulation
from projections.errors import DatabaseError
from schemas.types import event_id_str
from tests.support.brokers import test_broker
from tests.support.cli import running, sitelog, stop

pytestmark = pytest.mark.slow

OPERATOR = "test-operator"  # the simulator's operators have other names


@pytest.fixture
def broker() -> Iterator[EmbeddedKafka]:
    """A broker of this test's own: the replay at the end reads every log from its start."""
    server = test_broker()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres() -> Iterator[EmbeddedPostgres]:
    """The node's PostgreSQL; its data directory outlives a stop, as a real server's does."""
    # Not under tmp_path: when we are root, PostgreSQL runs as `postgres`, which must reach it.
    home = Path(tempfile.mkdtemp(prefix="sitelog-pgdata-"))
    home.chmod(0o755)
    server = EmbeddedPostgres(data_dir=home / "data")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def write_config(path: Path, dsn: str, bootstrap: str, listen: str, token: str) -> None:
    sites = "".join(
        f'[sites.{name}]\nbootstrap_servers = "{bootstrap}"\nconnect_timeout = 10\n\n'
        for name in ("central", "paris")
    )
    path.write_text(
        '[node]\nname = "central-1"\nrole = "central"\nsite = "central"\n\n'
        f'[database]\ndsn = "{dsn}"\nschema = "sitelog"\n\n{sites}'
        f'[api]\nlisten = "{listen}"\n\n{token}'
    )


async def until(
    condition: Callable[[], Awaitable[bool]], bound: float, what: str, step: float = 0.2
) -> float:
    """Seconds until ``condition()`` held; fails the test after ``bound`` seconds."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > bound:
            pytest.fail(f"not within {bound:g}s: {what}")
        await asyncio.sleep(step)
    return time.monotonic() - started


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str, secret: str) -> None:
        self.session, self.url = session, url
        self.headers = {"Authorization": f"Bearer {secret}"}

    async def get(self, path: str, **query: str) -> tuple[int, Any]:
        async with self.session.get(self.url + path, params=query, headers=self.headers) as r:
            return r.status, await r.json()

    async def text(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.url + path) as r:
            return r.status, await r.text()

    async def post(self, command: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self.session.post(
            f"{self.url}/api/v1/commands/{command}", json=body, headers=self.headers
        ) as r:
            return r.status, await r.json()


async def operate(api: Api, hosts: list[str], accepted: list[str], stop: asyncio.Event) -> None:
    """An operator acting on hosts in turn, with or without the database."""
    turn = 0
    while not stop.is_set():
        host = hosts[turn % len(hosts)]
        command = "acknowledge" if turn % 2 == 0 else "add-comment"
        body = {"host": host, "author": OPERATOR, "comment": f"turn {turn}"}
        if command == "add-comment":
            body = {"host": host, "author": OPERATOR, "text": f"turn {turn}"}
        status, answer = await api.post(command, body)
        assert status == 202, answer
        accepted.extend(item["event_id"] for item in answer["events"])
        turn += 1
        await asyncio.sleep(0.05)


def audit_ids(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_id FROM sitelog.audit_log WHERE author = %s", (OPERATOR,)
        ).fetchall()
    return [event_id_str(bytes(r[0])) for r in rows]


def test_node_waits_out_its_database_and_loses_nothing(
    tmp_path: Path, broker: EmbeddedKafka, postgres: EmbeddedPostgres
) -> None:
    dsn = postgres.create_database("sitelog")
    secret, token = make_token("ops", ["read", "operate"])
    table = f'[api.tokens.ops]\nsha256 = "{token.sha256}"\nscopes = ["read", "operate"]\n'
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "central.toml"
    write_config(config, dsn, broker.bootstrap_servers, listen, table)
    log = (tmp_path / "node.log").open("w+")
    poller = [
        "simulate", "--site", "paris", "--bootstrap", broker.bootstrap_servers,
        "--hosts", "40", "--services", "5", "--rate", "400", "--operator-rate", "0.02",
    ]  # fmt: skip
    with (
        running("node", "--config", str(config), "--status-every", "1", stderr=log) as node,
        running(*poller, stderr=subprocess.DEVNULL) as simulator,
    ):
        figures = asyncio.run(
            scenario(f"http://{listen}", secret, postgres, lambda: stop(simulator), dsn)
        )
        stop(node)
    log.seek(0)
    node_log = log.read()
    print(
        f"database down {figures['down']:.1f}s; node resumed {figures['resumed']:.2f}s after "
        f"PostgreSQL was back; /healthz meanwhile: {figures['healthz']}"
    )
    assert "PostgreSQL unavailable" in node_log, node_log[-2000:]
    assert "Traceback" not in node_log, node_log[-4000:]

    # The live projection equals a clean rebuild from the logs, table by table.
    verified = sitelog("replay", "--config", str(config), "--verify", timeout=300)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Every command the API accepted is in the audit trail exactly once.
    ids = audit_ids(dsn)
    assert sorted(ids) == sorted(figures["accepted"])


async def scenario(
    url: str,
    secret: str,
    postgres: EmbeddedPostgres,
    stop_poller: Callable[[], object],
    dsn: str,
) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        api = Api(session, url, secret)

        async def healthy() -> bool:
            try:
                return (await api.text("/healthz"))[0] == 200
            except aiohttp.ClientError:
                return False

        await until(healthy, 60, "the node serves /healthz")

        async def hosts_known() -> bool:
            status, body = await api.get("/api/v1/hosts", limit="20")
            return status == 200 and len(body["items"]) >= 10

        await until(hosts_known, 60, "the node projected the poller's hosts")
        _, body = await api.get("/api/v1/hosts", limit="20")
        hosts = [item["host"] for item in body["items"]]
        accepted: list[str] = []
        done = asyncio.Event()
        operator = asyncio.create_task(operate(api, hosts, accepted, done))
        await asyncio.sleep(2)

        # PostgreSQL goes away (stopped by its pid), under load.
        down_at = time.monotonic()
        await asyncio.to_thread(postgres.stop)
        answers: list[tuple[int, Any]] = []

        async def failing() -> bool:
            answers.append(await api.get("/healthz"))
            return answers[-1][0] == 503

        await until(failing, 30, "/healthz answers 503 while PostgreSQL is down")
        healthz = answers[-1][1]
        assert healthz["database"] == "unavailable", healthz
        assert any(c.startswith("database unavailable") for c in healthz["causes"]), healthz
        status, metrics = await api.text("/metrics")
        assert status == 200 and "\nsitelog_database_up 0.0\n" in metrics
        status, body = await api.get("/api/v1/services")
        assert status == 503 and body["error"]["code"] == "database-unavailable", body
        assert "\n" not in body["error"]["message"]
        commands_before = len(accepted)
        await asyncio.sleep(4)  # the poller and the operator go on meanwhile
        assert len(accepted) > commands_before, "commands are appended without the database"

        await asyncio.to_thread(postgres.start)
        back_at = time.monotonic()
        resumed = await until(healthy, 90, "/healthz answers 200 once PostgreSQL is back")

        await asyncio.sleep(2)  # load goes on after the outage too
        done.set()
        await operator
        await asyncio.to_thread(stop_poller)

        last: dict[str, Any] = {}

        async def caught_up() -> bool:
            status, body = await api.get("/api/v1/replication")
            last["replication"] = body
            if status != 200 or any(s["lag"] != 0 for s in body["sites"]):
                return False
            last["audited"] = len(await asyncio.to_thread(audit_ids, dsn))
            return bool(last["audited"] == len(accepted))

        try:
            await until(caught_up, 120, "the node caught up after the outage", step=0.5)
        finally:
            print(f"accepted {len(accepted)} commands; last: {last}")
        status, metrics = await api.text("/metrics")
        assert "\nsitelog_database_up 1.0\n" in metrics
        assert "\nsitelog_database_outages_total 1.0\n" in metrics
        return {
            "down": back_at - down_at,
            "resumed": resumed,
            "healthz": {"status": healthz["status"], "causes": healthz["causes"]},
            "accepted": accepted,
        }


def test_an_error_retrying_cannot_fix_stops_the_projector_and_says_so(
    kafka: KafkaSettings, site: str, pg_dsn: str
) -> None:
    """A write PostgreSQL refuses for good (a column gone) is not retried forever: the
    projector stops, its status says why, and the positions stay where they were."""
    traffic = simulation.Traffic(sites=(site,), hosts_per_site=5, services_per_host=2)
    events = list(simulation.events(400, traffic))
    schema = f"refused_{site}"

    async def scenario() -> tuple[Projector, int]:
        async with SiteLogWriter(site, kafka) as writer:
            await writer.append_many(events[:200])
            projector = Projector(pg_dsn, {site: kafka}, schema=schema)
            await projector.start()
            try:
                assert await projector.wait_caught_up(30)
                held = sum(projector.status[site].committed.values())
                with psycopg.connect(pg_dsn, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("ALTER TABLE {}.states DROP COLUMN poller").format(
                            sql.Identifier(schema)
                        )
                    )
                last = max(await writer.append_many(events[200:]), key=lambda a: a.offset)
                with pytest.raises(DatabaseError, match=f"writing a batch to {schema}"):
                    await projector.wait_for(site, last.partition, last.offset, 30)
            finally:
                await projector.stop()
        return projector, held

    projector, held = asyncio.run(scenario())
    assert projector.database.state is DatabaseState.FAILED
    assert projector.database.error is not None and "poller" in projector.database.error
    assert sum(projector.status[site].committed.values()) == held  # nothing skipped
