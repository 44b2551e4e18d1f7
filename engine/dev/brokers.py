"""Which embedded broker to run: Tansu (in memory, Python-only machines) or Apache Kafka.

The one place that maps a broker's name to its service class, for ``sitelog demo
--kafka`` and the test suite's ``SITELOG_TEST_BROKER`` switch. Both services have the
same surface (``start``/``stop``/``restart``, ``port``, ``bootstrap_servers``, ``pid``,
``log_path``, context manager).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum

from engine.dev.apache_kafka import ApacheKafka
from engine.dev.kafka_jars import kafka_classpath
from engine.dev.tansu import EmbeddedBroker

__all__ = ["BrokerKind", "EmbeddedKafka", "embedded_broker", "start_all"]

#: Either embedded broker.
EmbeddedKafka = EmbeddedBroker | ApacheKafka


class BrokerKind(StrEnum):
    TANSU = "tansu"
    KAFKA = "kafka"

    @classmethod
    def parse(cls, text: str) -> BrokerKind:
        """``tansu``, or ``kafka`` (also spelt ``apache``, as ``sitelog demo --kafka apache``)."""
        name = text.strip().lower()
        if name == "apache":
            return cls.KAFKA
        try:
            return cls(name)
        except ValueError:
            raise ValueError(f"unknown broker {text!r}: tansu, kafka or apache") from None


def embedded_broker(kind: BrokerKind | str) -> EmbeddedKafka:
    """An unstarted embedded broker of ``kind`` on a free port."""
    if BrokerKind.parse(kind) is BrokerKind.KAFKA:
        return ApacheKafka()
    return EmbeddedBroker()


def start_all(brokers: Iterable[EmbeddedKafka]) -> None:
    """Start brokers side by side (a JVM takes seconds to start); raises the first failure.

    The caller stops them all, started or not (``stop()`` is idempotent). Apache Kafka's
    jars are fetched once, before any start, rather than by each thread in turn.
    """
    brokers = list(brokers)
    if any(isinstance(broker, ApacheKafka) for broker in brokers):
        kafka_classpath()
    with ThreadPoolExecutor(max_workers=max(1, len(brokers))) as pool:
        for future in [pool.submit(broker.start) for broker in brokers]:
            future.result()
