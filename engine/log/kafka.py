"""The aiokafka adapter: bounded start-up, topic creation; the connection settings (TLS,
SASL) are :class:`KafkaSettings` (``engine.log.kafka_settings``, re-exported here).

aiokafka's exceptions stop here: callers see :class:`BrokerUnavailableError` (retriable:
brokers come back), :class:`BrokerRefusedError` (not retriable: the TLS certificate, the
SASL credentials or the security protocol must change) or :class:`LogError`, in one line
naming the site log, the brokers and the cause.

aiokafka's bootstrap keeps the cause of a failed connection to itself (it logs it and
raises "Unable to bootstrap"), so :func:`bounded` given the ``settings`` connects once
more to each bootstrap server, directly, to name it (``engine.log.kafka_faults``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.conn import collect_hosts
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
)
from aiokafka.protocol.transaction import InitProducerIdRequest

from engine.errors import BrokerUnavailableError, LogError
from engine.log.kafka_faults import metadata_once, translated, why_unreachable
from engine.log.kafka_settings import KafkaSettings, reason

__all__ = [
    "KafkaSettings",
    "bounded",
    "ensure_topic",
    "grants_idempotence",
    "listed_broker_ports",
    "topic_partitions",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


async def bounded(
    awaitable: Awaitable[T], seconds: float, what: str, *, settings: KafkaSettings | None = None
) -> T:
    """Await a broker operation, turning a hang or an aiokafka error into one clear error.

    ``settings``: those of the client being started; when it cannot bootstrap, the
    error names the cause (``kafka_faults.why_unreachable``), not "brokers unreachable".

    ``asyncio.timeout``, not ``wait_for``: in Python 3.11 ``wait_for`` returns the result
    when a cancellation races the completion, and the cancelled task runs on.
    """
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except (TimeoutError, KafkaTimeoutError):
        raise BrokerUnavailableError(f"{what}: no answer within {seconds:g}s") from None
    except KafkaConnectionError:
        if settings is None:
            raise BrokerUnavailableError(f"{what}: brokers unreachable") from None
        raise await why_unreachable(settings, what) from None
    except KafkaError as exc:
        raise translated(exc, what) from None


async def ensure_topic(settings: KafkaSettings, topic: str, partitions: int) -> None:
    """Create ``topic`` with ``partitions`` partitions unless it already exists; refuse
    (not retriable) an existing topic with fewer: somebody else made it, such as a broker
    creating topics on Metadata requests (``auto.create.topics.enable``, on by default)
    after it lost its disk, with its default of one partition."""
    found = await topic_partitions(settings, topic, settings.connect_timeout, create=partitions)
    if len(found) < partitions:
        raise LogError(
            f"topic {topic} on {settings.bootstrap_servers} has {len(found)} partition(s) where "
            f"sitelog creates {partitions}: it was created by something else (a broker with "
            "auto.create.topics.enable?); delete it or recreate it with its partitions",
            retriable=False,
        )


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
        await bounded(
            admin.start(),
            settings.connect_timeout,
            what if create is None else creating,
            settings=settings,
        )
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
                # Brokers do not create sitelog's topics (auto.create.topics.enable=false).
                missing = any(
                    t["topic"] == topic
                    and t["error_code"] == kafka_errors.UnknownTopicOrPartitionError.errno
                    for t in described
                )
                raise LogError(
                    f"topic {topic} does not exist on {settings.bootstrap_servers} "
                    "(no node or producer of that site has written to it yet?)"
                    if missing
                    else f"topic {topic} has no partitions after {seconds:g}s"
                )
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
        await bounded(client.bootstrap(), settings.connect_timeout, what, settings=settings)
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


async def listed_broker_ports(settings: KafkaSettings, seconds: float) -> list[int]:
    """The ports of the brokers that the first bootstrap server lists in Metadata, asked
    over one connection (TLS and SASL as ``settings`` say) within ``seconds``: a KRaft
    broker lists itself once registered and unfenced. BrokerUnavailableError if it does
    not answer."""
    host, port, _family = collect_hosts(settings.bootstrap_servers, randomize=False)[0]
    try:
        metadata = await metadata_once(settings, host, port, seconds)
    except (OSError, TimeoutError, KafkaError) as exc:
        raise BrokerUnavailableError(
            f"asking {host}:{port} for its brokers: {reason(exc)}"
        ) from None
    return [broker[2] for broker in metadata.brokers]
