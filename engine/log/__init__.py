"""Site logs over aiokafka: connection settings and error translation (``kafka``), the
values logs hold (``records``), appending (``writer``), replaying (``reader``), exact log
bounds and time seeks, checked against what the brokers return (``offsets``), and
reading a log directly for an operator (``inspection``).

aiokafka's exceptions stop in this package: callers see sitelog's errors.
"""

from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader, read_log_offsets
from engine.log.records import (
    DEFAULT_PARTITIONS,
    Appended,
    DeadLetter,
    PartitionOffsets,
    ReadBatch,
    topic_for,
)
from engine.log.writer import SiteLogWriter

__all__ = [
    "DEFAULT_PARTITIONS",
    "Appended",
    "DeadLetter",
    "KafkaSettings",
    "PartitionOffsets",
    "ReadBatch",
    "SiteLogReader",
    "SiteLogWriter",
    "read_log_offsets",
    "topic_for",
]
