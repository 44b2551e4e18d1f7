"""Development aids: the embedded services (a Tansu broker, an Apache Kafka broker, a
PostgreSQL server) used by the tests and ``sitelog demo``, and the demo itself.

Each embedded service is a child process we own and stop by its pid; see :mod:`.process`.
"""

from __future__ import annotations

from engine.dev.apache_kafka import ApacheKafka
from engine.dev.kafka_jars import find_java_and_maven, kafka_classpath
from engine.dev.postgres import EmbeddedPostgres, find_postgres_bindir
from engine.dev.tansu import EmbeddedBroker, find_tansu_binary

__all__ = ["ApacheKafka", "EmbeddedBroker", "EmbeddedPostgres", "find_java_and_maven"]
__all__ += ["find_postgres_bindir", "find_tansu_binary", "kafka_classpath"]
