"""The aiokafka adapter: connection settings (TLS, SASL), bounded start-up, topic creation.

aiokafka's exceptions stop here: callers see :class:`BrokerUnavailableError` or
:class:`LogError` with one line naming the site and the brokers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.transaction import InitProducerIdRequest

from engine.errors import BrokerUnavailableError, ConfigError, LogError

log = logging.getLogger(__name__)

T = TypeVar("T")

_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach one site's Kafka cluster. Passed through to every aiokafka client."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    client_id: str = "sitelog"
    #: Seconds to reach the brokers (start-up, topic creation) before giving up.
    connect_timeout: float = 10.0
    #: Seconds a produce request may wait for its acknowledgement.
    request_timeout: float = 30.0
    #: Replication factor of topics sitelog creates (-1: the broker's default).
    replication_factor: int = 1

    def __post_init__(self) -> None:
        if not self.bootstrap_servers.strip():
            raise ConfigError("kafka bootstrap_servers is empty")
        if self.security_protocol not in _SECURITY_PROTOCOLS:
            raise ConfigError(
                f"kafka security_protocol {self.security_protocol!r} is not one of "
                + ", ".join(_SECURITY_PROTOCOLS)
            )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments common to aiokafka's producer, consumer and admin client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "client_id": self.client_id,
            "request_timeout_ms": int(self.request_timeout * 1000),
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            kwargs["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile,
                certfile=self.ssl_certfile,
                keyfile=self.ssl_keyfile,
                password=self.ssl_password,
            )
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs


async def bounded(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    """Await a broker operation, turning a hang or an aiokafka error into one clear error.

    ``asyncio.timeout``, not ``wait_for``: in Python 3.11 ``wait_for`` returns the result
    when a cancellation races the completion, and the cancelled task runs on.
    """
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except (TimeoutError, KafkaTimeoutError):
        raise BrokerUnavailableError(f"{what}: no answer within {seconds:g}s") from None
    except KafkaConnectionError:
        raise BrokerUnavailableError(f"{what}: brokers unreachable") from None
    except KafkaError as exc:
        raise LogError(f"{what}: {type(exc).__name__}: {exc}", retriable=exc.retriable) from None


async def ensure_topic(settings: KafkaSettings, topic: str, partitions: int) -> None:
    """Create ``topic`` with ``partitions`` partitions unless it already exists."""
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    what = f"creating topic {topic} on {settings.bootstrap_servers}"
    try:
        await bounded(admin.start(), settings.connect_timeout, what)
        await _create_topic(admin, settings, topic, partitions, what)
    finally:
        await admin.close()


async def _create_topic(
    admin: AIOKafkaAdminClient, settings: KafkaSettings, topic: str, partitions: int, what: str
) -> None:
    response = await bounded(
        admin.create_topics(
            [NewTopic(topic, partitions, settings.replication_factor)],
            timeout_ms=int(settings.connect_timeout * 1000),
        ),
        settings.connect_timeout,
        what,
    )
    for _topic, code, message in response.topic_errors:
        if code not in (0, TopicAlreadyExistsError.errno):
            raise LogError(f"{what}: error {code}: {message}")
        if code == 0:
            log.info("created topic %s with %d partitions", topic, partitions)


async def topic_partitions(
    settings: KafkaSettings, topic: str, seconds: float, *, create: int | None = None
) -> list[int]:
    """The partitions of ``topic``, asked of the brokers by name, waiting (at most
    ``seconds``) for a topic just created to list them; ``create``: first create the
    topic with that many partitions unless it exists (one admin connection for both).

    By name, not from a consumer's metadata: a consumer not yet assigned asks Metadata for
    no topic at all, which Apache Kafka answers with none (Tansu with every topic).
    """
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    what = f"reading the partitions of {topic} on {settings.bootstrap_servers}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    creating = f"creating topic {topic} on {settings.bootstrap_servers}"
    try:
        await bounded(admin.start(), settings.connect_timeout, what if create is None else creating)
        if create is not None:
            await _create_topic(admin, settings, topic, create, creating)
        while True:
            described = await bounded(admin.describe_topics([topic]), seconds, what)
            found = sorted(
                p["partition"]
                for t in described
                if t["topic"] == topic and t["error_code"] == 0
                for p in t["partitions"]
            )
            if found:
                return found
            if loop.time() > deadline:
                raise LogError(f"topic {topic} has no partitions after {seconds:g}s")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


async def grants_idempotence(settings: KafkaSettings, what: str) -> bool:
    """Whether the brokers give producer ids (InitProducerId), which idempotent producers
    need: asked once, the answer decides how a writer produces.

    Apache Kafka grants them (after its transaction coordinator has loaded: a retriable
    error meanwhile, asked again within ``connect_timeout``); the embedded Tansu refuses
    with an unknown server error. A broker that refuses is no failure: events carry their
    id, and the projection drops a record written twice. Unreachable brokers are the same
    error as for connecting, named by ``what``.
    """
    client = AIOKafkaClient(**settings.client_kwargs())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.connect_timeout
    try:
        await bounded(client.bootstrap(), settings.connect_timeout, what)
        while True:
            node = client.get_random_node()
            answer = await bounded(
                client.send(node, InitProducerIdRequest(None, 60_000)),
                settings.request_timeout,
                what,
            )
            error = kafka_errors.for_code(answer.error_code)
            if error is kafka_errors.NoError:
                return True
            if not error.retriable or loop.time() > deadline:
                log.debug("%s: %s", what, error.__name__)
                return False
            await asyncio.sleep(0.1)
    finally:
        await client.close()
