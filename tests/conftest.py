"""Shared fixtures: a real Kafka-protocol broker and a real PostgreSQL for the whole session.

``SITELOG_TEST_BOOTSTRAP`` / ``SITELOG_TEST_DSN`` point at existing services; otherwise
the broker ``SITELOG_TEST_BROKER`` names (``tests.support.brokers``: Tansu by default, or
Apache Kafka) and PostgreSQL are started once and stopped by their pid at the end (also
when tests fail). ``contract_kafka`` (and ``contract_kind``) runs a test on both brokers,
each started once per session, lazily. When a service cannot be had, its tests are skipped,
except with ``CI=true``, where they fail: CI must prove the real thing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser

from engine.dev import EmbeddedPostgres
from engine.dev.brokers import BrokerKind
from engine.errors import EmbeddedServiceError
from engine.log.kafka import KafkaSettings
from projections.postgres import PostgresSink
from tests.support.api_deployment import Deployment, start_deployment
from tests.support.brokers import CONTRACT_BROKERS, TEST_BROKER, test_broker
from tests.support.browser import chromium
from tests.support.services import unavailable


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real Kafka-protocol broker."""
    if given := os.environ.get("SITELOG_TEST_BOOTSTRAP"):
        yield given
        return
    yield from _session_broker(None)


def _session_broker(kind: BrokerKind | None) -> Iterator[str]:
    broker = test_broker(kind)
    try:
        broker.start()
    except EmbeddedServiceError as exc:
        broker.stop()
        unavailable(f"Kafka broker ({kind or TEST_BROKER})", exc)
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def tansu_bootstrap(bootstrap: str) -> Iterator[str]:
    """Bootstrap servers of Tansu (the session broker when it is Tansu)."""
    if TEST_BROKER is BrokerKind.TANSU or os.environ.get("SITELOG_TEST_BOOTSTRAP"):
        yield bootstrap
        return
    yield from _session_broker(BrokerKind.TANSU)


@pytest.fixture(scope="session")
def apache_kafka_bootstrap(bootstrap: str) -> Iterator[str]:
    """Bootstrap servers of Apache Kafka (the session broker when it is Apache Kafka)."""
    if TEST_BROKER is BrokerKind.KAFKA and not os.environ.get("SITELOG_TEST_BOOTSTRAP"):
        yield bootstrap
        return
    yield from _session_broker(BrokerKind.KAFKA)


@pytest.fixture(params=[kind.value for kind in CONTRACT_BROKERS])
def contract_kind(request: pytest.FixtureRequest) -> BrokerKind:
    """The broker of a broker contract test, which runs once on each (ids ``tansu``,
    ``kafka``): for a test that also starts brokers of its own (``test_broker(kind)``)."""
    return BrokerKind(request.param)


@pytest.fixture
def contract_kafka(contract_kind: BrokerKind, request: pytest.FixtureRequest) -> KafkaSettings:
    """Settings for a broker contract test: the session broker of ``contract_kind``."""
    fixture = "tansu_bootstrap" if contract_kind is BrokerKind.TANSU else "apache_kafka_bootstrap"
    return KafkaSettings(request.getfixturevalue(fixture), connect_timeout=15.0)


@pytest.fixture(scope="session")
def kafka(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap, connect_timeout=15.0)


@pytest.fixture
def site() -> str:
    """A site name of its own for each test, so tests never share a log."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedPostgres | str]:
    """A real PostgreSQL: the DSN in SITELOG_TEST_DSN, or an embedded server."""
    if given := os.environ.get("SITELOG_TEST_DSN"):
        yield given
        return
    try:
        server = EmbeddedPostgres()
        server.start()
    except EmbeddedServiceError as exc:
        unavailable("PostgreSQL", exc)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_dsn(postgres_server: EmbeddedPostgres | str) -> str:
    """A DSN of a database the tests may fill; tests isolate themselves by schema."""
    if isinstance(postgres_server, str):
        return postgres_server
    return postgres_server.create_database("sitelog_test")


@pytest.fixture
def pg_schema() -> str:
    """A schema name of its own for each test."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def deployment(pg_dsn: str) -> AsyncIterator[Deployment]:
    """A central and a paris node with their APIs (``tests.support.api_deployment``), per module."""
    async with start_deployment(pg_dsn) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def own_deployment(pg_dsn: str) -> AsyncIterator[Deployment]:
    """A deployment for one test alone: for a test that changes what others rely on
    (a builtin pool switched to manual cannot be switched back)."""
    async with start_deployment(pg_dsn) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP client session per test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def sink_factory(pg_dsn: str) -> Iterator[object]:
    """Makes PostgreSQL sinks, each in a fresh schema dropped after the test."""
    sinks: list[PostgresSink] = []

    def make() -> PostgresSink:
        sink = PostgresSink.connect(pg_dsn, f"t_{uuid.uuid4().hex[:12]}")
        sink.create_tables()
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        with sink.conn.transaction():
            sink.conn.execute(f'DROP SCHEMA "{sink.schema}" CASCADE')
        sink.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, driven by Playwright, for every browser test of the session (each
    test opens contexts of its own: fresh cookies and storage)."""
    async with chromium() as running:
        yield running
