"""TLS and SASL_SSL SCRAM-SHA-256 on Apache Kafka, for real: every client gets in, and
every refusal is one line naming its cause.

Two brokers for the module (``engine.dev.ApacheKafka(security=...)``): one TLS only
(listener ``SSL``), one SASL_SSL with a SCRAM-SHA-256 user created at format time; each
has a certificate for 127.0.0.1 signed by a CA made with ``openssl`` when it first
starts. A site log makes the round trip on each; a remote node follows central over TLS
and its own site over SASL_SSL, from a TOML file written with the documented keys (the
password from the environment), and ``sitelog replay`` verifies it; ``sitelog
produce``, ``sitelog ingest`` and ``sitelog log`` connect with their TLS and SASL
options. A wrong CA, a wrong password, plaintext on the TLS port and a client without
SASL on the SASL port each give exit 2 and one line; a node given a wrong password keeps
serving and fails that site in ``/healthz``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import psycopg
import pytest
from psycopg import sql

from engine.dev import ApacheKafka
from engine.dev.kafka_security import SCRAM_MECHANISM, KafkaSecurity
from engine.dev.tls import make_ca
from engine.errors import BrokerRefusedError, EmbeddedServiceError
from engine.log.kafka import KafkaSettings, ensure_topic
from engine.log.reader import read_log_offsets
from engine.log.records import DEFAULT_PARTITIONS
from engine.log.writer import SiteLogWriter
from engine.node import config as node_config
from engine.node.node import Node
from engine.node.site_status import SiteState
from engine.poller import simulation
from engine.web import NodeServer
from schemas.event import Event
from schemas.monitoring import ServiceCheckResult
from schemas.types import now_us
from tests.support.brokers import require_kafka_tools
from tests.support.cli import read_log, read_log_async, sitelog
from tests.support.services import unavailable

USER, PASSWORD = "poller", "s3cret-pw"
PASSWORD_ENV = "SITELOG_SITES_PARIS_SASL_PASSWORD"
GOOD_LINE = (
    '{"type": "ServiceCheckResult", "payload": {"host_name": "web01", '
    '"service_description": "HTTP", "state": "CRITICAL", "state_type": "HARD", '
    '"attempt": 3, "max_attempts": 3, "output": "secured %d", "check_time": 1}}'
)


@dataclasses.dataclass(frozen=True)
class Brokers:
    tls: ApacheKafka
    sasl: ApacheKafka


@pytest.fixture(scope="module")
def brokers() -> Iterator[Brokers]:
    """A TLS-only and a SASL_SSL broker, started side by side, stopped by their pids."""
    require_kafka_tools()
    pair = Brokers(
        ApacheKafka(security=KafkaSecurity()),
        ApacheKafka(security=KafkaSecurity(users={USER: PASSWORD})),
    )
    try:
        with ThreadPoolExecutor(2) as pool:
            for started in [pool.submit(broker.start) for broker in (pair.tls, pair.sasl)]:
                started.result()
    except EmbeddedServiceError as exc:
        pair.tls.stop()
        pair.sasl.stop()
        unavailable("Apache Kafka with TLS", exc)
    try:
        yield pair
    finally:
        pair.tls.stop()
        pair.sasl.stop()


@pytest.fixture(scope="module")
def foreign_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that signed neither broker's certificate."""
    return make_ca(tmp_path_factory.mktemp("foreign-ca"), "someone else's CA").certificate


def _events(site: str, count: int, seed: int) -> list[Event]:
    traffic = simulation.Traffic(sites=(site,), hosts_per_site=5, interval_us=1_000_000)
    return list(simulation.events(count, traffic, seed=seed, start=now_us()))


async def _round_trip(settings: KafkaSettings, site: str) -> tuple[bool | None, list[Event]]:
    sent = _events(site, 20, seed=7)
    async with SiteLogWriter(site, settings) as writer:
        await writer.append_many(sent)
        idempotent = writer.idempotent
    got = await read_log_async(settings, site, len(sent))
    assert sorted(e.event_id for e in got) == sorted(e.event_id for e in sent)
    return idempotent, got


@pytest.mark.parametrize("listener", ["tls", "sasl"])
def test_a_site_log_makes_the_round_trip(brokers: Brokers, site: str, listener: str) -> None:
    broker: ApacheKafka = getattr(brokers, listener)
    settings = broker.client_settings(connect_timeout=15.0)
    assert settings.security_protocol == ("SSL" if listener == "tls" else "SASL_SSL")
    idempotent, got = asyncio.run(_round_trip(settings, site))
    # Producer ids are granted over the secured listener too: an idempotent writer.
    assert idempotent is True
    assert {e.site for e in got} == {site}


def _node_toml(path: Path, brokers: Brokers, dsn: str, schema: str) -> Path:
    """A remote paris node's file with the keys engine/node/config.py documents: central
    over TLS, paris over SASL_SSL SCRAM-SHA-256; the password is not in the file."""
    path.write_text(
        '[node]\nname = "paris-1"\nrole = "remote"\nsite = "paris"\n'
        f'[database]\ndsn = "{dsn}"\nschema = "{schema}"\n'
        "[sites.central]\n"
        f'bootstrap_servers = "{brokers.tls.bootstrap_servers}"\n'
        'security_protocol = "SSL"\n'
        f'ssl_cafile = "{brokers.tls.ca_file}"\n'
        "[sites.paris]\n"
        f'bootstrap_servers = "{brokers.sasl.bootstrap_servers}"\n'
        'security_protocol = "SASL_SSL"\n'
        f'ssl_cafile = "{brokers.sasl.ca_file}"\n'
        f'sasl_mechanism = "{SCRAM_MECHANISM}"\n'
        f'sasl_username = "{USER}"\n'
    )
    return path


def _drop(dsn: str, *schemas: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def _projected(node: Node, site: str, settings: KafkaSettings) -> None:
    partitions = node.status[site].partitions or tuple(range(DEFAULT_PARTITIONS))
    offsets = await read_log_offsets(settings, f"sitelog.{site}", partitions)
    for partition, bounds in offsets.items():
        if bounds.end:
            assert await node.projector.wait_for(site, partition, bounds.end - 1, 60), site


def test_a_node_and_replay_connect_with_the_documented_settings(
    brokers: Brokers, pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = f"s_{uuid.uuid4().hex[:10]}"
    toml = _node_toml(tmp_path / "node.toml", brokers, pg_dsn, schema)
    config = node_config.load(toml, env={PASSWORD_ENV: PASSWORD})
    assert config.sites["paris"].sasl_password == PASSWORD

    async def scenario() -> None:
        async with Node(config) as node:
            # The node's own writer appends to paris over SASL_SSL; central over TLS.
            await node.writer.ensure_started()
            await node.writer.append_many(_events("paris", 15, seed=3))
            async with SiteLogWriter("central", config.sites["central"]) as central:
                await central.append_many(_events("lyon", 5, seed=4))
            for site in ("central", "paris"):
                await _projected(node, site, config.sites[site])
            assert all(s.state is SiteState.RUNNING for s in node.status.values())
            assert node.status["paris"].events == 15

    try:
        asyncio.run(scenario())
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        verified = sitelog("replay", "--config", str(toml), "--verify")
        assert verified.returncode == 0, verified.stderr
        assert f"live projection {schema} matches the logs" in verified.stdout
    finally:
        _drop(pg_dsn, schema, f"{schema}_verify")


def _security_args(broker: ApacheKafka) -> list[str]:
    args = ["--security-protocol", broker.client_settings().security_protocol]
    args += ["--ssl-cafile", str(broker.ca_file)]
    if broker.security is not None and broker.security.users:
        args += ["--sasl-mechanism", SCRAM_MECHANISM, "--sasl-username", USER]
    return args


def test_produce_ingest_and_log_connect_with_their_options(
    brokers: Brokers, site: str, tmp_path: Path
) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    sasl = brokers.sasl
    produced = sitelog(
        "produce",
        *("--site", site, "--bootstrap", sasl.bootstrap_servers, *_security_args(sasl)),
        *("--sasl-password-file", str(password_file), "--spool", str(tmp_path / "p")),
        stdin="".join(GOOD_LINE % n + "\n" for n in range(3)),
    )
    assert produced.returncode == 0, produced.stderr
    assert "accepted 3 events" in produced.stderr and "3 acknowledged" in produced.stderr
    lines = tmp_path / "results.txt"
    lines.write_text(
        "".join(f"[1700000000] PROCESS_SERVICE_CHECK_RESULT;web{n};HTTP;2;down\n" for n in (1, 2))
    )
    tls = brokers.tls
    ingested = sitelog(
        "ingest",
        *("--site", site, "--bootstrap", tls.bootstrap_servers, *_security_args(tls)),
        *("--spool", str(tmp_path / "i"), str(lines)),
    )
    assert ingested.returncode == 0, ingested.stderr
    assert "accepted 2 events" in ingested.stderr

    on_sasl = read_log(sasl.client_settings(), site, 3)
    assert sorted(_outputs(on_sasl)) == ["secured 0", "secured 1", "secured 2"]
    on_tls = read_log(tls.client_settings(), site, 2)
    assert _outputs(on_tls) == ["down", "down"]
    inspected = sitelog(
        "log", "verify", "--site", site, "--bootstrap", tls.bootstrap_servers, *_security_args(tls)
    )
    assert inspected.returncode == 0, inspected.stderr


def _outputs(events: list[Event]) -> list[str]:
    return [e.payload.output for e in events if isinstance(e.payload, ServiceCheckResult)]


REFUSALS = {
    "wrong CA": ("tls", "TLS certificate verify failed"),
    "wrong password": ("sasl", "SASL authentication failed as 'poller' (SCRAM-SHA-256)"),
    "plaintext on the TLS port": ("tls", "may expect TLS (it completes a TLS handshake)"),
    "no SASL on the SASL port": ("sasl", "may expect SASL authentication"),
}


def _refused_args(case: str, broker: ApacheKafka, foreign_ca: Path) -> list[str]:
    if case == "wrong CA":
        return ["--security-protocol", "SSL", "--ssl-cafile", str(foreign_ca)]
    if case == "plaintext on the TLS port":
        return []
    if case == "no SASL on the SASL port":
        return ["--security-protocol", "SSL", "--ssl-cafile", str(broker.ca_file)]
    return _security_args(broker)


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_client_gets_one_line_and_exit_2(
    brokers: Brokers,
    foreign_ca: Path,
    site: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    listener, cause = REFUSALS[case]
    broker: ApacheKafka = getattr(brokers, listener)
    monkeypatch.setenv("SITELOG_KAFKA_SASL_PASSWORD", "not-the-password")
    done = sitelog(
        "produce",
        *("--site", site, "--bootstrap", broker.bootstrap_servers, "--spool", str(tmp_path)),
        *_refused_args(case, broker, foreign_ca),
        stdin=GOOD_LINE % 1 + "\n",
        timeout=60,
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("sitelog: error:")]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert cause in errors[0] and broker.bootstrap_servers in errors[0], errors[0]


def test_replay_with_a_wrong_password_is_one_line_and_exit_2(
    brokers: Brokers, pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = f"s_{uuid.uuid4().hex[:10]}"
    toml = _node_toml(tmp_path / "node.toml", brokers, pg_dsn, schema)
    # Central's log exists, as it does wherever a node ran: the replay reads it first.
    asyncio.run(ensure_topic(brokers.tls.client_settings(), "sitelog.central", DEFAULT_PARTITIONS))
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    try:
        done = sitelog("replay", "--config", str(toml), "--into", f"{schema}_x")
    finally:
        _drop(pg_dsn, f"{schema}_x")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("sitelog: error: ") and "Traceback" not in done.stderr
    assert "SASL authentication failed as 'poller'" in done.stderr, done.stderr


def test_a_node_refused_by_its_site_keeps_serving_and_fails_that_site(
    brokers: Brokers, pg_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    schema = f"s_{uuid.uuid4().hex[:10]}"
    toml = _node_toml(tmp_path / "node.toml", brokers, pg_dsn, schema)
    config = node_config.load(toml, env={PASSWORD_ENV: "not-the-password"})

    async def scenario() -> tuple[int, dict[str, object]]:
        async with Node(config) as node, NodeServer(node) as api:
            failed = await node.projector.wait_until(
                lambda: node.status["paris"].state is SiteState.FAILED, 30
            )
            assert failed, node.status["paris"]
            # Refused for good: central (TLS, right CA) runs on.
            assert node.status["central"].state is not SiteState.FAILED
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{api.url}/healthz") as response,
            ):
                return response.status, await response.json()

    caplog.set_level(logging.ERROR)
    try:
        status, health = asyncio.run(scenario())
    finally:
        _drop(pg_dsn, schema)
    assert status == 503
    causes = health["causes"]
    assert isinstance(causes, list) and len(causes) == 1
    assert causes[0].startswith("site paris failed: ")
    assert "SASL authentication failed as 'poller'" in causes[0]
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("site paris stopped" in m and "SASL authentication failed" in m for m in logged)
    assert any("own site log refuses this node" in m for m in logged)


def test_a_refusal_is_not_retriable(brokers: Brokers, foreign_ca: Path, site: str) -> None:
    wrong = dataclasses.replace(brokers.tls.client_settings(), ssl_cafile=str(foreign_ca))
    with pytest.raises(BrokerRefusedError, match="TLS certificate verify failed") as caught:
        asyncio.run(SiteLogWriter(site, wrong).start())
    assert caught.value.retriable is False


def test_tls_on_a_plaintext_listener_is_named(brokers: Brokers, site: str) -> None:
    # The controller listener is Apache Kafka's plaintext: it drops a TLS ClientHello (a
    # "request" hundreds of MB long) and answers ApiVersions in the clear.
    tls = brokers.tls.client_settings(connect_timeout=5.0)
    plaintext_port = f"127.0.0.1:{brokers.tls.controller_port}"
    wrong = dataclasses.replace(tls, bootstrap_servers=plaintext_port)
    with pytest.raises(BrokerRefusedError, match="speaks plaintext Kafka, not TLS"):
        asyncio.run(SiteLogWriter(site, wrong).start())
