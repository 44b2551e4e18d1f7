"""Which Kafka-protocol broker the tests run on, and the broker contract's two brokers.

``SITELOG_TEST_BROKER=tansu|kafka`` (default ``tansu``, so a machine with only Python
passes) chooses the broker of every test that starts one: :func:`test_broker` builds it.
The broker contract tests run on both brokers whatever the switch says
(:data:`CONTRACT_BROKERS`, the ``contract_kafka`` fixture of ``tests/conftest.py``).
Apache Kafka needs Java and Maven: without them its tests skip with one line, and fail
under ``CI=true``.
"""

from __future__ import annotations

import os

import pytest

from engine.dev import ApacheKafka, EmbeddedBroker
from engine.dev.brokers import BrokerKind, EmbeddedKafka
from tests.support.services import require_program

__all__ = ["CONTRACT_BROKERS", "TEST_BROKER", "require_kafka_tools", "test_broker"]


def _chosen() -> BrokerKind:
    text = os.environ.get("SITELOG_TEST_BROKER", "tansu")
    try:
        return BrokerKind.parse(text)
    except ValueError as exc:
        raise pytest.UsageError(f"SITELOG_TEST_BROKER: {exc}") from None


#: The broker of the tests that start one of their own.
TEST_BROKER = _chosen()

#: The brokers the broker contract tests run on, in ``make test`` and ``make test-kafka``.
CONTRACT_BROKERS = (BrokerKind.TANSU, BrokerKind.KAFKA)


def require_kafka_tools() -> None:
    """Skip (fail under CI=true) where Apache Kafka cannot run: no Java or no Maven."""
    require_program("java", "Apache Kafka runs on the JVM")
    require_program("mvn", "Apache Kafka's jars are fetched with Maven")


def test_broker(kind: BrokerKind | str | None = None, **options: object) -> EmbeddedKafka:
    """An unstarted broker of ``kind`` (default: the switch's) on a free port.

    ``options`` go to the broker's constructor where it knows them (``port``; Apache
    Kafka's ``properties``...). Tansu keeps its logs in memory, Apache Kafka on disk:
    a test that needs a restarted broker to be empty says ``restart(wipe=True)``.
    """
    chosen = BrokerKind.parse(kind) if kind is not None else TEST_BROKER
    if chosen is BrokerKind.KAFKA:
        require_kafka_tools()
        return ApacheKafka(**options)  # type: ignore[arg-type]
    return EmbeddedBroker(**options)  # type: ignore[arg-type]


# pytest would take a module-level function named test_* for a test.
test_broker.__test__ = False  # type: ignore[attr-defined]
